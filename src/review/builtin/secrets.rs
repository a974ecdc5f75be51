//! Finding credentials in one added line: provider token formats, private
//! keys (multi-line), JWTs, credentials in URLs, HTTP `Authorization`
//! headers and `curl -u`, and credentials assigned to a name that says what
//! they are, in any syntax people write them in (code, `.env`, shell, YAML,
//! TOML, INI, `.properties`, JSON, XML, Dockerfiles, manifests).
//!
//! One Aho–Corasick pass over the line finds the keywords (provider prefixes,
//! `password`, `token`, `-----BEGIN`…); only the checks those keywords call
//! for run, so a line of ordinary code costs one automaton scan. It decides
//! what is a secret and where it is; severity, suppression and findings are
//! the caller's (`mod.rs`). It never returns the secret's text, only offsets.

use super::providers::{Checksum, Provider, PROVIDERS};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use std::sync::{LazyLock, OnceLock};

/// One secret in a line: which rule, where (byte offsets), and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: &'static str,
    pub start: usize,
    pub end: usize,
    /// The provider's name when a provider format matched.
    pub provider: Option<&'static str>,
    /// The value has a live provider format (a prefix, or a valid checksum),
    /// so it is critical even in documentation.
    pub live: bool,
}

/// What a prefilter keyword calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Provider(u16),
    Assignment,
    /// `api`: an assignment check outside code only (in code, names
    /// without a credential word are rarely credentials, and the word is
    /// common).
    Context,
    /// A provider's name (`sumo`, `deepgram`): an assignment check in code
    /// too, where only the provider's own format takes the value
    /// (`SUMO_ACCESS_ID = "su…"`); elsewhere as [`Trigger::Context`].
    Named,
    PrivateKey,
    Jwt,
    Url,
    Header,
    Curl,
    /// `mnemonic`, `phrase`: a wallet's recovery phrase.
    Phrase,
    /// `mysql`, `keytool`, `openssl `, `zip `, `7z `: a tool that takes a
    /// password as an option of its own.
    Tool,
}

fn slot(t: Trigger) -> usize {
    match t {
        Trigger::Assignment | Trigger::Context | Trigger::Named | Trigger::Provider(_) => 0,
        Trigger::PrivateKey => 1,
        Trigger::Jwt => 2,
        Trigger::Url => 3,
        Trigger::Header => 4,
        Trigger::Curl => 5,
        Trigger::Phrase => 6,
        Trigger::Tool => 7,
    }
}

/// Formats whose keyword sits inside the token rather than at its start.
const MID_TOKEN: &[&str] = &[
    "azure-ad-client-secret",
    "mailchimp-key",
    "azure-identifiable-key",
    "azure-devops-pat",
    "azure-jqqj99-key",
    "terraform-cloud-token",
    "firebase-fcm-key",
    "openai-key",
    "asana-pat",
    "telegram-bot-token",
    "newrelic-license-key-nral",
    "maxmind-license-key",
    "facebook-app-token-named",
];

/// Words that make a name a credential's name (checked again, by segment,
/// in [`name_kind`]).
const ASSIGNMENT_WORDS: &[&str] = &[
    "pass", "pwd", "secret", "token", "key", "auth", "cred", "private", "_pat", "_pw", "psk",
];

/// Keywords are cut to their first few characters: the automaton is built
/// once per process (a one-shot `redline check` pays for it) and stays small
/// enough to live in cache; a long keyword's head still finds every line that
/// holds it, and one head can wake several checks.
const KEYWORD_HEAD: usize = 5;

static PREFILTER: LazyLock<(AhoCorasick, Vec<Vec<Trigger>>)> = LazyLock::new(|| {
    let mut heads: Vec<String> = Vec::new();
    let mut triggers: Vec<Vec<Trigger>> = Vec::new();
    let mut add = |word: &str, t: Trigger| {
        let head = word[..word.len().min(KEYWORD_HEAD)].to_ascii_lowercase();
        match heads.iter().position(|h| *h == head) {
            Some(i) if triggers[i].contains(&t) => {}
            Some(i) => triggers[i].push(t),
            None => {
                heads.push(head);
                triggers.push(vec![t]);
            }
        }
    };
    // A contextual format is the value of a name that mentions its
    // provider (`deepgram = …`, `sonar.login=…`): the provider's words wake
    // the assignment check as the credential words do.
    for (i, p) in PROVIDERS.iter().enumerate() {
        for k in p.keywords {
            if p.contextual {
                add(k, Trigger::Named);
            } else {
                add(k, Trigger::Provider(i as u16));
            }
        }
    }
    let fixed: &[(&str, Trigger)] = &[
        ("-----begin", Trigger::PrivateKey),
        ("---- begin ssh2", Trigger::PrivateKey),
        ("putty-user-key-file-", Trigger::PrivateKey),
        ("ls0tls1crudjti", Trigger::PrivateKey),
        ("<RSAKeyValue>", Trigger::PrivateKey),
        // `ConvertTo-SecureString '…' -AsPlainText`, `NetworkCredential(…)`.
        ("securestring", Trigger::Assignment),
        ("networkcredential", Trigger::Assignment),
        ("jwt.", Trigger::Assignment),
        ("createhmac", Trigger::Assignment),
        ("hmac.new", Trigger::Assignment),
        ("eyj", Trigger::Jwt),
        // `eyJ` in base64: a token stored encoded (a Kubernetes `data:`
        // value, an environment variable holding `base64(jwt)`).
        ("zxlk", Trigger::Jwt),
        ("://", Trigger::Url),
        ("authorization", Trigger::Header),
        ("bearer ", Trigger::Header),
        ("basic ", Trigger::Header),
        ("curl ", Trigger::Curl),
        // `-u user:pass` on a continuation line of a `curl \` command.
        (" -u ", Trigger::Curl),
        ("--user", Trigger::Curl),
        ("--proxy-user", Trigger::Curl),
        ("sshpass ", Trigger::Curl),
        ("mysql", Trigger::Tool),
        ("mariadb", Trigger::Tool),
        ("keytool", Trigger::Tool),
        ("storepass", Trigger::Tool),
        ("keypass", Trigger::Tool),
        ("openssl ", Trigger::Tool),
        ("zip ", Trigger::Tool),
        ("7z ", Trigger::Tool),
        // `login("admin", "…")` (see `credential_pair`).
        ("login", Trigger::Assignment),
    ];
    for (w, t) in fixed {
        add(w, *t);
    }
    for w in KEY_MARKS {
        add(w, Trigger::PrivateKey);
    }
    for w in ADMIN_WORDS {
        add(w, Trigger::Tool);
    }
    for w in ASSIGNMENT_WORDS {
        add(w, Trigger::Assignment);
    }
    // A wallet's recovery phrase (see `recovery_phrase`); not `seed` alone,
    // which random number generators use all over code.
    for w in ["mnemonic", "phrase"] {
        add(w, Trigger::Phrase);
    }
    add("api", Trigger::Context);
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&heads)
        .expect("prefilter keywords build an automaton");
    (ac, triggers)
});

/// Forces the keyword automata (see [`super::warm_up`]).
pub(super) fn warm_up() {
    LazyLock::force(&PREFILTER);
    LazyLock::force(&CONTEXT);
    LazyLock::force(&PLACEHOLDER_AC);
}

/// The contextual formats' provider words (`datadog`, `heroku`), to find
/// which of them a credential's name mentions in one pass.
static CONTEXT: LazyLock<(AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
    let mut words = Vec::new();
    let mut providers = Vec::new();
    for (i, p) in PROVIDERS.iter().enumerate().filter(|(_, p)| p.contextual) {
        for k in p.keywords {
            words.push(*k);
            providers.push(i);
        }
    }
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&words)
        .expect("provider words build an automaton");
    (ac, providers)
});

/// Where a provider's word counts in a name: where a word of the name
/// starts (`SUMO_KEY`, `sumoKey`), not inside another (`sumOfExposures`,
/// `rookTable`).
fn word_start(name: &[u8], at: usize) -> bool {
    at == 0
        || !name[at - 1].is_ascii_alphanumeric()
        || (name[at - 1].is_ascii_lowercase() && name[at].is_ascii_uppercase())
        || !name[at].is_ascii_alphanumeric()
}

/// A provider's word found at `start..end` of a name is one of its words:
/// it starts one, and no word of a camel-case name starts inside it
/// (`sumObj` does not say `sumo`).
fn whole_word(name: &[u8], start: usize, end: usize) -> bool {
    word_start(name, start)
        && !name[start..end]
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// The contextual providers a name mentions, in table order.
fn providers_named(name: &str) -> Vec<usize> {
    let (ac, providers) = &*CONTEXT;
    let b = name.as_bytes();
    let mut found: Vec<usize> = ac
        .find_overlapping_iter(name)
        .filter(|m| whole_word(b, m.start(), m.end()))
        .map(|m| providers[m.pattern().as_usize()])
        .collect();
    if found.len() > 1 {
        found.sort_unstable();
        found.dedup();
    }
    found
}

fn build(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .expect("built-in secret patterns are valid")
}

/// Each provider's regex, compiled the first time its keyword is seen: a
/// review that meets no Slack token never compiles the Slack pattern.
static PROVIDER_REGEX: LazyLock<Vec<OnceLock<Regex>>> =
    LazyLock::new(|| PROVIDERS.iter().map(|_| OnceLock::new()).collect());

pub(super) fn provider_regex(index: usize) -> &'static Regex {
    PROVIDER_REGEX[index].get_or_init(|| {
        let p = &PROVIDERS[index];
        if p.contextual {
            build(&format!("^(?:{})$", p.pattern))
        } else {
            build(&format!(
                r"(?:^|[^0-9A-Za-z_])({})(?:[^0-9A-Za-z_\-~]|$)",
                p.pattern
            ))
        }
    })
}

macro_rules! regex {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| build($pattern));
    };
}

regex!(
    PEM_HEADER,
    r"(-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----|PuTTY-User-Key-File-[23]: [a-z0-9-]+)"
);
regex!(
    PEM_BASE64,
    r"(LS0tLS1CRUdJTi[A-Za-z0-9+/]{4,80}?(?:UFJJVkFURSBLRV|BSSVZBVEUgS0VZ|QUklWQVRFIEtFW)[A-Za-z0-9+/=]{20,})"
);
regex!(BASE64_RUN, r"[A-Za-z0-9+/=]{20,}");
regex!(
    DISCORD_BOT_TOKEN,
    r"(?:^|[^A-Za-z0-9_.-])([MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40})(?:[^A-Za-z0-9_.-]|$)"
);
regex!(
    JWT,
    r"(?:^|[^A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,})"
);
regex!(
    ENCODED_JWT,
    r"(?:^|[^A-Za-z0-9+/_-])(ZXlK[A-Za-z0-9+/]{60,}={0,2})(?:[^A-Za-z0-9+/=_-]|$)"
);
regex!(
    URL_CREDENTIALS,
    r#"(?i)\b[a-z][a-z0-9+.-]{1,20}://([^\s:@/'"`<>{}$]{0,128}):([^\s@/'"`<>]{1,256})@[A-Za-z0-9_.\[\]:-]+"#
);
regex!(
    PREFIXED_TOKEN,
    r"(?:^|[^A-Za-z0-9_.-])(([a-z][a-z0-9]{1,11}(?:_[A-Za-z]{2,12}|[_-][a-z][a-z0-9]{0,5}){0,2}[_-]|[a-z][a-z0-9]{2,15}[A-Z][A-Za-z0-9]{2,15}[_-]|[A-Z][A-Z0-9]{1,7}[_-])([A-Za-z0-9](?:[A-Za-z0-9]|[_-][A-Za-z0-9]){19,150}))(?:[^A-Za-z0-9_+/=-]|$)"
);
regex!(
    URL_TOKEN_USER,
    r#"(?i)\bhttps?://([A-Za-z0-9_-]{20,128}):?@[A-Za-z0-9_.-]+"#
);
regex!(
    AUTH_HEADER,
    r#"(?i)(?:authorization|proxy-authorization)["']?\s*[:=,]\s*["'`]?\s*(?:basic|bearer|token|digest|apikey|api-key|api-token|ssws|oauth|key)\s+([A-Za-z0-9+/=._~-]{8,})"#
);
regex!(
    BARE_BEARER,
    r#"(?i)(?:^|[\s"'(`])bearer\s+([A-Za-z0-9+/=._~-]{16,})"#
);
regex!(
    CURL_USER,
    r#"(?:^|\s)(?:-u|--user|--proxy-user)(?:\s+|=)["']?([^\s:'"{}/#]{0,128})["']?:["']?([^\s'"]{3,256}|)"#
);
regex!(SSHPASS, r#"sshpass\s+-p\s*["']?([^\s'"]{4,})"#);
// Passwords on the command lines of tools that encrypt or sign:
// `keytool -storepass …`, `openssl … -passout pass:…`, `openssl enc -k …`,
// `zip -P …`, `7z a -p…`.
regex!(
    TOOL_PASSWORD,
    r#"(?:^|\s)(?:-(?:src|dest)?(?:store|key)pass\s+|-pass(?:in|out)?\s+pass:|-k\s+|-P\s+|-p)["']?([^\s'"$-][^\s'"]{3,255})"#
);
/// The commands and calls `ADMIN_PASSWORD` reads: prefilter keywords, and
/// checked whole before its regex runs (a keyword's 5-character head,
/// `ident`, is in every other line of some code).
const ADMIN_WORDS: &[&str] = &[
    "net use",
    "net user",
    "schtasks",
    "freerdp",
    "rdesktop",
    "smbclient",
    "redis-cli",
    "sqlplus",
    "ldap",
    "identified",
    "psk ",
    "htpasswd",
    "sqlcmd",
    "bcp ",
    "osql",
    "isql",
    "rabbitmqctl",
    "lftp",
    "--password-stdin",
    "sudo -s",
    "chpasswd",
    "passwd --stdin",
    "ssh-keygen",
    "nmcli",
    "--oauth2-bearer",
    "--auth",
    "http -a",
    "pdo(",
    "mysqli",
    "mysql_connect",
    "pymysql",
    "mysqldb",
    "getconnection(",
    "@tcp(",
    "@unix(",
    "oracle:thin",
];

/// The tools `TOOL_PASSWORD` and `MYSQL_PASSWORD` read.
const TOOL_WORDS: &[&str] = &[
    "mysql",
    "mariadb",
    "keytool",
    "storepass",
    "keypass",
    "openssl ",
    "zip ",
    "7z ",
];

fn words_gate(words: &'static [&'static str]) -> AhoCorasick {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(words)
        .expect("fixed keywords build an automaton")
}

static ADMIN_GATE: LazyLock<AhoCorasick> = LazyLock::new(|| words_gate(ADMIN_WORDS));
static TOOL_GATE: LazyLock<AhoCorasick> = LazyLock::new(|| words_gate(TOOL_WORDS));

// Administration commands with a password argument: Windows `net use …
// /user:…`, `net user NAME PASS`, `schtasks /rp`, RDP clients (`xfreerdp
// /p:`, `rdesktop -p`), `smbclient -U user%pass`, `redis-cli -a`, `sqlplus
// user/pass@db`, the OpenLDAP tools' `-w`, SQL's `IDENTIFIED BY '…'`,
// `ipsec.secrets`' `PSK "…"`, `htpasswd -b file user pass`, the SQL Server
// tools' `-P`, `rabbitmqctl add_user`, `lftp -u user,pass`, a password
// echoed into `sudo -S` or `docker login --password-stdin`, `ssh-keygen -N`,
// `nmcli … password`, `curl --oauth2-bearer`, HTTPie's `-a user:pass`, and
// database connections: the password after the address and the user in
// `new PDO(…)`, `mysqli_connect(…)`, `DriverManager.getConnection(…)`,
// `pymysql.connect(…)`, Go's MySQL DSN `user:pass@tcp(…)`, Oracle's
// `jdbc:oracle:thin:user/pass@…`. One group per form; `*` and `-` prompt.
regex!(
    ADMIN_PASSWORD,
    r#"(?i)(?:\bnet\s+use\s+\S+\s+/user:\S+\s+([^\s/*"'][^\s"']{3,255})|\bnet\s+use\s+\S+\s+([^\s/*"'][^\s"']{3,255})\s+/user:|\bnet\s+user\s+\S+\s+([^\s/*"'][^\s"']{3,255})|freerdp\b.*?\s/p:([^\s"']{4,255})|\s/rp\s+([^\s/*"'][^\s"']{3,255})|\brdesktop\b.*?\s-p\s+([^\s"'-][^\s"']{3,255})|\bsmbclient\b.*?\s(?:-U\s*|--user[=\s])[^\s%]+%([^\s"']{4,255})|\bredis-cli\b.*?\s(?:-a|--pass)\s+([^\s"'-][^\s"']{3,255})|\bsqlplus\s+(?:-\w+\s+)*[A-Za-z0-9_$#]+/([^@\s/"']{4,128})(?:@|\s|$)|\bldap\w+\b.*?\s-w\s+([^\s"'-][^\s"']{3,255})|\bidentified\s+by\s+(?:password\s+)?['"]([^'"]{4,255})['"]|(?:^|\s)PSK\s+"([^"]{4,255})"|\bhtpasswd\s+-\w*b\w*(?:\s+-\w+)*\s+\S+\s+\S+\s+([^\s"'-][^\s"']{3,255})|\b(?:sqlcmd|bcp|osql|isql)\b.*?\s-P\s*([^\s"'-][^\s"']{3,255})|\brabbitmqctl\s+(?:add_user|change_password)\s+\S+\s+([^\s"'-][^\s"']{3,255})|\blftp\b.*?\s-u\s+[^,\s]+,([^\s"']{4,255})|\becho\s+['"]?([^\s'"|$]{4,255})['"]?\s*\|\s*(?:sudo\s+-S|docker\s+login\b[^|]*--password-stdin|chpasswd|passwd\s+--stdin)|\bssh-keygen\b.*?\s-N\s+['"]?([^\s'"-][^\s'"]{3,255})|\bnmcli\b.*?\spassword\s+([^\s"'-][^\s"']{3,255})|--oauth2-bearer[=\s]+["']?([^\s"'$-][^\s"']{7,255})|\bhttps?\s+(?:\S+\s+)*?(?:-a|--auth)[=\s]+["']?[^\s:'"]*:([^\s'"$]{4,255})|(?:new\s+PDO|mysqli_connect|mysql_connect|new\s+mysqli|getConnection|pymysql\.connect|MySQLdb\.connect)\s*\(\s*["'][^"']*["']\s*,\s*["'][^"']*["']\s*,\s*["']([^"'$]{4,255})["']|["'][A-Za-z0-9_.-]+:([^@\s"'/]{4,128})@(?:tcp|unix)\(|jdbc:oracle:thin:[A-Za-z0-9_$#]+/([^@\s/"']{4,128})@)"#
);
// The MySQL clients take the password glued to `-p`: `mysql -uroot -pS3cret`.
regex!(MYSQL_PASSWORD, r#"(?:^|\s)-p["']?([^\s'"-][^\s'"]{3,255})"#);
regex!(
    CLI_PASSWORD,
    r#"(?:^|\s)(?:-p|--password)(?:\s+|=)["']?([^\s'"-][^\s'"]{3,255})"#
);
regex!(
    PLAIN_PASSWORD_CALL,
    r#"(?i)(?:ConvertTo-SecureString\s+(?:-String\s+)?["']([^"'$]{4,})["']\s+-AsPlainText|NetworkCredential(?:\]::new|)\s*\(\s*["'][^"']*["']\s*,\s*["']([^"'$]{4,})["']|\bjwt\.(?:encode|sign|verify|decode)\s*\(\s*[^,()]+,\s*["']([^"'$]{6,})["']|\bcreateHmac\s*\(\s*["'][^"']+["']\s*,\s*["']([^"'$]{6,})["']|\bhmac\.new\s*\(\s*b?["']([^"'$]{6,})["'])"#
);
regex!(
    HTML_PASSWORD_INPUT,
    r#"(?i)<input\b[^>]*\btype\s*=\s*["']?password\b[^>]*>"#
);
regex!(HTML_VALUE, r#"(?i)\bvalue\s*=\s*["']([^"']{4,})["']"#);
regex!(
    CREDENTIAL_PAIR,
    r#"(?i)(?:auth|login|credentials?|authenticate|authenticator|authentication|authenticationtoken)\s*(?:=\s*[(\[]|\()\s*["']([^"'\s]{1,128})["']\s*,\s*["']([^"']{4,256})["'](?:\.(?:toCharArray|getBytes|ToCharArray)\(\))?\s*[)\]]"#
);

/// The file kinds whose unquoted right-hand sides are expressions, not
/// literals.
const CODE_EXTS: &[&str] = &[
    "py", "pyw", "js", "jsx", "ts", "tsx", "mjs", "cjs", "rb", "go", "rs", "java", "kt", "kts",
    "scala", "cs", "php", "swift", "c", "cc", "cpp", "h", "hpp", "m", "dart", "lua", "pl", "r",
    "ex", "exs", "clj", "groovy", "vue", "svelte", "fs", "jl", "bicep", "mm", "cls", "trigger",
    "sol", "zig", "hs", "erl", "ml", "nim", "coffee", "elm",
];

pub(super) fn is_code(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    CODE_EXTS.iter().any(|e| e.eq_ignore_ascii_case(ext))
}

/// Scans line `index` of `lines` (the new text). Later lines are read for a
/// private key's body; the line above for a manifest's `name:`. `code`: the
/// file is source code, where a bare right-hand side is an expression.
/// Yet code's file holds text too, where `password: s3cr…` is a setting
/// written down, not an expression, and is read from there on as in a
/// configuration file: a comment (`text.in_comment(at)`, told by the line
/// alone), or a line inside a docstring or a string spanning lines
/// (`text.in_block(at)`, asked only of a line that holds a credential read
/// so, where `text.blocks` says the language has such strings). Asked only
/// of a line that names a credential (`at`: the first name) and holds none
/// as code.
pub fn scan(lines: &[&str], index: usize, code: bool, text: &TextCheck<'_>) -> Option<Hit> {
    let mut named = None;
    let found = match scan_line(lines, index, code, &mut named) {
        None if code => named.and_then(|at| {
            let comment = (text.in_comment)(at);
            if !comment && !text.blocks {
                return None;
            }
            scan_line(lines, index, false, &mut None)
                .filter(|h| h.start >= at && (comment || (text.in_block)(at)))
        }),
        found => found,
    };
    found.filter(|h| !asset_name(lines[index], h))
}

/// Where a line of a code file is text (see [`scan`]).
pub struct TextCheck<'a> {
    pub in_comment: &'a dyn Fn(usize) -> bool,
    pub blocks: bool,
    pub in_block: &'a dyn Fn(usize) -> bool,
}

/// A content hash in an asset's file name (`logo-f0eb1a…c6.png`,
/// `app.3f9c…e1.js`) has a secret's shape but names a file: a credential is
/// never followed by a file extension.
fn asset_name(line: &str, hit: &Hit) -> bool {
    const EXTS: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "js", "mjs", "cjs", "css",
        "map", "woff", "woff2", "ttf", "eot", "html", "htm", "wasm", "mp4", "webm", "pdf",
    ];
    let Some(after) = line.get(hit.end..).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let ext: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    hit.rule != "secret-private-key" && EXTS.contains(&ext.as_str())
}

/// `named`: set to where the first credential's word on the line starts.
fn scan_line(lines: &[&str], index: usize, code: bool, named: &mut Option<usize>) -> Option<Hit> {
    let line = lines[index];
    if !code {
        if let Some(h) = device_config(line)
            .or_else(|| xml_password_value(line))
            .or_else(|| xml_secret_text(line))
            .or_else(|| maven_cipher(line))
        {
            return Some(h);
        }
    }
    let (ac, triggers) = &*PREFILTER;
    let mut hit_providers: Vec<u16> = Vec::new();
    let mut flags = [false; 8];
    let bytes = line.as_bytes();
    let mut words: Vec<usize> = Vec::new();
    for m in ac.find_overlapping_iter(line) {
        for &t in &triggers[m.pattern().as_usize()] {
            match t {
                Trigger::Assignment => {
                    flags[slot(Trigger::Assignment)] = true;
                    words.push(m.start());
                }
                Trigger::Context if code => {}
                Trigger::Named | Trigger::Context => {
                    flags[slot(Trigger::Assignment)] = true;
                    words.push(m.start());
                }
                Trigger::Provider(i) => {
                    // A prefix counts where a token can start: `re_` in
                    // `store_all` or `st.` in `list.len()` is not `re_…`/`st.…`.
                    let starts_token = m.start() == 0
                        || !bytes[m.start() - 1].is_ascii_alphanumeric()
                        || !bytes[m.start()].is_ascii_alphanumeric()
                        || MID_TOKEN.contains(&PROVIDERS[i as usize].id);
                    if starts_token && !hit_providers.contains(&i) {
                        hit_providers.push(i);
                    }
                }
                t => flags[slot(t)] = true,
            }
        }
    }
    *named = words.iter().min().copied();
    // `-u user:pass` opening a continuation line of a `curl \` command
    // (the keyword ` -u ` needs the blank before it).
    let indent = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    if bytes[indent..].starts_with(b"-u ") {
        flags[slot(Trigger::Curl)] = true;
    }
    // `value: …` under its name (see `owner_name`), found once per line.
    let below = value_below_name(line);
    let manifest_value = flags.iter().all(|f| !f) && hit_providers.is_empty() && below.is_some();
    if hit_providers.is_empty() && flags.iter().all(|f| !f) && !manifest_value {
        return unnamed(lines, index, code);
    }
    let on = |t: Trigger| flags[slot(t)];
    if on(Trigger::PrivateKey) {
        if let Some(h) = private_key(lines, index) {
            return Some(h);
        }
    }
    // Table order: specific formats are listed before looser ones.
    if hit_providers.len() > 1 {
        hit_providers.sort_unstable();
    }
    for &i in &hit_providers {
        if let Some(h) = provider_token(line, i as usize) {
            return Some(h);
        }
    }
    if on(Trigger::Jwt) {
        if let Some(h) = jwt(line) {
            return Some(h);
        }
    }
    if on(Trigger::Url) {
        if let Some(h) = url_credentials(line, code) {
            return Some(h);
        }
    }
    if on(Trigger::Header) || on(Trigger::Curl) {
        if let Some(h) = header_or_cli(line) {
            return Some(h);
        }
    }
    if on(Trigger::Tool) {
        if let Some(h) = tool_password(line) {
            return Some(h);
        }
    }
    if on(Trigger::Assignment) || manifest_value {
        let above = index.checked_sub(1).map(|i| lines[i]);
        let owned = below
            .and_then(|rest| Some((owner_name(lines, index)?, rest)))
            .or_else(|| inline_pair(line));
        if let Some(h) = assignment(line, &words, above, owned, code) {
            return Some(h);
        }
    }
    if on(Trigger::Phrase) {
        if let Some(h) = recovery_phrase(line) {
            return Some(h);
        }
    }
    unnamed(lines, index, code)
}

/// The shapes found without a keyword on the line: prefixed tokens, lines
/// of password files, values below or beside a name elsewhere, lone tokens.
fn unnamed(lines: &[&str], index: usize, code: bool) -> Option<Hit> {
    let line = lines[index];
    prefixed_token(line, code)
        .or_else(|| pgpass_line(line, code))
        .or_else(|| discord_bot_token(line))
        .or_else(|| continued(lines, index, code))
        .or_else(|| unnamed_setting(line, code))
        .or_else(|| lone_token(lines, index, code))
        .or_else(|| kube_secret_data(lines, index, code))
}

/// A PostgreSQL password file's line, `host:port:database:user:password`
/// (`.pgpass`, `pgpass.conf`): a port or `*` second, a word or `*` third
/// and fourth.
fn pgpass_line(line: &str, code: bool) -> Option<Hit> {
    let t = line.trim_end();
    if code
        || memchr::memchr_iter(b':', t.as_bytes()).count() != 4
        || t.contains(char::is_whitespace)
    {
        return None;
    }
    let fields: Vec<&str> = t.split(':').collect();
    let port = fields[1] == "*"
        || (1..=5).contains(&fields[1].len()) && fields[1].bytes().all(|b| b.is_ascii_digit());
    let named = |f: &str| f == "*" || f.bytes().any(|b| b.is_ascii_alphabetic());
    if fields[0].is_empty()
        || !port
        || !named(fields[2])
        || !named(fields[3])
        || fields[4].is_empty()
    {
        return None;
    }
    let a = Assigned {
        kind: NameKind::Password,
        name: "pgpass",
        value: fields[4],
        start: t.len() - fields[4].len(),
        quoted: true,
    };
    judge(&a, code)
}

/// A value under `data:` in a Kubernetes `Secret` manifest: base64 of the
/// secret itself, whatever its key is called (`extra: YWRt…`, `ca.pem: …`,
/// or a block scalar below `.dockercfg: |`). Keys with a credential's name
/// are found as assignments already; this finds the others. Templated
/// values, short ones (`YmFyCg==`, "bar") and other kinds (`SopsSecret`,
/// `ExternalSecret`, whose data are encrypted or references) are not.
fn kube_secret_data(lines: &[&str], index: usize, code: bool) -> Option<Hit> {
    const MIN: usize = 12;
    let line = lines[index];
    // Manifests are not code, and a value under `data:` is indented.
    if code || line.len() < MIN || !line.starts_with([' ', '\t']) {
        return None;
    }
    let t = line.trim_start();
    if t.len() < MIN || t.starts_with('#') {
        return None;
    }
    let base64 = |v: &str| {
        let body = v.trim_end_matches('=');
        body.len() >= MIN
            && v.len() - body.len() <= 2
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    // `key: value` on the line, or a block scalar's line below `key: |`.
    let (value, key_line) = match t.split_once(": ") {
        // `tls.crt`, `ca.crt`, `tls.ca`: a certificate, which is public.
        Some((key, _)) if certificate_key(key) => return None,
        Some((key, v))
            if key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            (v.trim().trim_matches(['"', '\'']), index)
        }
        _ => {
            let above = lines[index.checked_sub(1)?].trim_end();
            if !(above.ends_with(": |") || above.ends_with(": >")) {
                return None;
            }
            (t.trim_end(), index - 1)
        }
    };
    if !base64(value) || placeholder(value) || public_pem_base64(value) {
        return None;
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let depth = indent(lines[key_line]);
    // The parent key is `data:`.
    let parent =
        lines[..key_line].iter().rev().take(200).find(|l| {
            !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) < depth
        })?;
    if parent.trim() != "data:" {
        return None;
    }
    // The document (between `---` lines) is a `Secret`.
    let within = |l: &&&str| l.trim_end() != "---";
    let kind_secret = |l: &&str| {
        let kind = l
            .trim()
            .strip_prefix("kind:")
            .map(|k| k.trim().trim_matches(['"', '\'']));
        kind.is_some_and(|k| k.eq_ignore_ascii_case("secret"))
    };
    let before = lines[..index].iter().rev().take(200).take_while(within);
    let after = lines[index..].iter().take(200).take_while(within);
    if !before.chain(after).any(kind_secret) {
        return None;
    }
    let start = line.len() - t.len() + t.find(value)?;
    Some(hit("secret-assignment", start, start + value.len()))
}

/// A Secret's key that names a certificate (`tls.crt`, `ca.crt`,
/// `tls.ca`, `ca-bundle.pem` aside: a `.pem` may hold a key).
fn certificate_key(key: &str) -> bool {
    let last = key.rsplit(['.', '-', '_']).next().unwrap_or(key);
    matches!(
        last.to_ascii_lowercase().as_str(),
        "crt" | "cert" | "ca" | "cacert" | "certificate"
    )
}

/// Network device configuration (Cisco IOS and the many CLIs that copy
/// it): `enable secret 5 $1$…`, `username admin password 0 …`,
/// `snmp-server community …`, `key-string …`, `pre-shared-key …`. Type 7
/// "encryption" is reversible and type 5/8/9 hashes are crackable, so every
/// form counts. Only lines that start with such a command are looked at.
fn device_config(line: &str) -> Option<Hit> {
    const STARTS: &[&str] = &[
        "enable ",
        "username ",
        "snmp-server ",
        "pac ",
        "key-string",
        "tacacs-server ",
        "radius-server ",
        "ip ospf ",
        "ntp authentication-key",
        "pre-shared-key",
        "crypto isakmp key",
        "wpa-psk ",
        "password ",
        "secret ",
    ];
    let t = line.trim_start();
    if !STARTS.iter().any(|s| t.starts_with(s)) {
        return None;
    }
    regex!(
        DEVICE,
        r"^\s*(?:enable\s+(?:password|secret)|username\s+\S+(?:\s+privilege\s+\d+)?\s+(?:password|secret)|snmp-server\s+community|pac\s+key|key-string|tacacs-server\s+key|radius-server\s+key|ip\s+ospf\s+(?:authentication|message-digest)-key(?:\s+\d+\s+md5)?|ntp\s+authentication-key\s+\d+\s+md5|pre-shared-key|crypto\s+isakmp\s+key|wpa-psk\s+ascii|password|secret)(?:\s+(?:level\s+\d+\s+)?[0-9])?\s+(\S{4,})"
    );
    let caps = DEVICE.captures(line.as_bytes())?;
    let m = caps.get(1)?;
    let value = &line[m.start()..m.end()];
    // `password 0 <password>`-style templates, `ssh-rsa`, and words that
    // continue the command rather than giving a value.
    let lower = value.to_ascii_lowercase();
    if placeholder(value)
        || matches!(
            lower.as_str(),
            "encryption" | "required" | "none" | "disable" | "enable" | "prompt" | "view"
        )
        // `password combination.`: a sentence that begins with the word.
        || prose_word(value)
        // `secret represents a secret that…` (a field's description): a
        // bare `password` or `secret` line is the command and its value,
        // not a sentence that goes on.
        || (t.starts_with("password ") || t.starts_with("secret "))
            && line[m.end()..].split_whitespace().count() >= 2
        // `password VARCHAR(255) NULL,`: a column in SQL.
        || sql_type(value)
        || value.starts_with(['<', '$', '{', '%'])
            && !value.starts_with("$1$")
            && !value.starts_with("$8$")
            && !value.starts_with("$9$")
    {
        return None;
    }
    Some(hit("secret-assignment", m.start(), m.end()))
}

/// A password element whose value is a nested `<Value>` (Windows
/// `unattend.xml`, `<AdministratorPassword><Value>…</Value>`). Windows
/// writes `*SENSITIVE*DATA*DELETED*` where it removed one.
fn xml_password_value(line: &str) -> Option<Hit> {
    if !line.contains("<Value>") && !line.contains("<value>") {
        return None;
    }
    regex!(
        XML_PASSWORD,
        r"(?i)<\w*password>\s*<value>([^<]{1,200})</value>"
    );
    let caps = XML_PASSWORD.captures(line.as_bytes())?;
    let m = caps.get(1)?;
    let value = line[m.start()..m.end()].trim();
    if value.is_empty() || placeholder(value) || value.contains("SENSITIVE*DATA") {
        return None;
    }
    Some(hit("secret-assignment", m.start(), m.end()))
}

/// `<secret>{AQAAABAAA q8Zr…}</secret>` (a Jenkins credential),
/// `<password>prod q8Zr…</password>`: an element named for a credential
/// whose text holds words beside a random token. (Text of one piece is an
/// assignment, judged as such.)
fn xml_secret_text(line: &str) -> Option<Hit> {
    if !line.contains("</") {
        return None;
    }
    regex!(
        XML_SECRET,
        r"(?i)<([a-z_]*(?:secret|password|passwd|token|apikey|api_key|passphrase)[a-z_]*)>([^<]{16,300})</([a-z_]+)>"
    );
    let caps = XML_SECRET.captures(line.as_bytes())?;
    let (open, text, close) = (caps.get(1)?, caps.get(2)?, caps.get(3)?);
    if !line[open.start()..open.end()].eq_ignore_ascii_case(&line[close.start()..close.end()]) {
        return None;
    }
    let text = &line[text.start()..text.end()];
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    if inner.split_whitespace().count() < 2 {
        return None;
    }
    let piece = inner.split_whitespace().find(|p| {
        p.len() >= 16 && strong_random(p) && !placeholder(p) && !reference(p) && !path_or_url(p)
    })?;
    let start = piece.as_ptr() as usize - line.as_ptr() as usize;
    Some(hit("secret-assignment", start, start + piece.len()))
}

/// Maven's encrypted passwords: `<password>{…}</password>` in
/// `settings.xml`, and the master password that decrypts them,
/// `<master>{…}</master>` in `settings-security.xml`, itself encrypted
/// with a key every copy of Maven knows. Anyone holding the file can
/// decrypt them (`{…}` is base64, a `}` in it escaped as `\}`).
fn maven_cipher(line: &str) -> Option<Hit> {
    if !line.contains(">{") {
        return None;
    }
    regex!(
        MAVEN_CIPHER,
        r"<(master|password|passphrase)>(\{[A-Za-z0-9+/=]{20,}\\?\})</(master|password|passphrase)>"
    );
    let caps = MAVEN_CIPHER.captures(line.as_bytes())?;
    let (open, value, close) = (caps.get(1)?, caps.get(2)?, caps.get(3)?);
    let body = &line[value.start() + 1..value.end() - 1];
    (line[open.start()..open.end()] == line[close.start()..close.end()]
        && strong_random(body.trim_end_matches(['=', '\\'])))
    .then(|| hit("secret-assignment", value.start(), value.end()))
}

/// `wordgsk_…` of the wrong length: a listed provider's prefix glued to the
/// end of a word, with a body that is not that provider's format, is a
/// look-alike made from its token, not a token. (With the format's body it
/// is the token, glued or not: `ourgithub_pat_11BDE…`.)
fn glued_prefix(token: &str) -> bool {
    let Some(sep) = token.find(['_', '-']) else {
        return false;
    };
    (1..sep.saturating_sub(1)).any(|k| {
        let rest = &token[k..];
        token.as_bytes()[..k].iter().all(u8::is_ascii_alphabetic)
            && listed_prefix(rest).is_some_and(|owners| !any_format(&owners, rest))
    })
}

/// A Discord bot token with no word around it: three dotted parts, the
/// first the bot's id (17 to 20 digits) in base64, which no other token
/// and no random string is.
fn discord_bot_token(line: &str) -> Option<Hit> {
    let bytes = line.as_bytes();
    // Cheap first: a dot after a run of 23 token characters.
    let id_then_dot = line.len() >= 59
        && memchr::memchr_iter(b'.', bytes).any(|at| {
            let token = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
            // Two ends of the run first: most dots end a short name.
            at >= 23
                && token(&bytes[at - 23])
                && token(&bytes[at - 12])
                && bytes[at - 23..at].iter().all(token)
        });
    if !id_then_dot {
        return None;
    }
    let m = DISCORD_BOT_TOKEN
        .captures_iter(bytes)
        .filter_map(|c| c.get(1))
        .find(|m| {
            let id = line[m.start()..m.end()].split('.').next().unwrap_or("");
            base64_bytes(id)
                .is_some_and(|b| (17..=20).contains(&b.len()) && b.iter().all(u8::is_ascii_digit))
        })?;
    Some(Hit {
        provider: Some("Discord bot token"),
        ..hit("secret-provider-token", m.start(), m.end())
    })
}

/// A configuration line that is nothing but one long random token (a key
/// pasted on its own, as `.env` templates and notes hold them): letters of
/// both cases and digits, 32 to 100 of them, outside a PEM block (whose
/// base64 lines look the same).
fn lone_token(lines: &[&str], index: usize, code: bool) -> Option<Hit> {
    let line = lines[index];
    if code || !mixed_random_run(line.as_bytes()) {
        return None;
    }
    let t = line.trim().trim_end_matches(',');
    let t = t.trim_matches(['"', '\'']);
    let n = t.len();
    if !(32..=100).contains(&n)
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || randomness(t) < 0.9
        || !strong_random(t)
        || public_client_id(t)
        || publishable(t)
        || glued_prefix(t)
        || encoded_file(t)
        // `tgp_v1_` and 32 where Together writes 43: a look-alike.
        || off_exact_format(t, t)
    {
        return None;
    }
    // A line of a base64 block cut at MIME's 76, PEM's 64 or a mailer's 72
    // characters (an email's attachment), its neighbour cut the same:
    // encoded data.
    let block_line = |l: &&str| {
        let l = l.trim();
        l.len() == n
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    };
    if n >= 60
        && n % 4 == 0
        && (index > 0 && block_line(&lines[index - 1])
            || lines.get(index + 1).is_some_and(block_line))
    {
        return None;
    }
    // A keyring's armoured blocks run to hundreds of lines.
    let in_pem = lines[index.saturating_sub(2000)..index]
        .iter()
        .rev()
        .find(|l| l.contains("-----BEGIN") || l.contains("-----END"))
        .is_some_and(|l| l.contains("-----BEGIN"));
    if in_pem {
        return None;
    }
    let start = line.find(t)?;
    Some(hit("secret-provider-token", start, start + n))
}

/// Names whose random values are digests or identifiers, not credentials.
const DIGEST_NAMES: &[&str] = &[
    "sha",
    "sha1",
    "sha256",
    "sha384",
    "sha512",
    "md5",
    "hash",
    "checksum",
    "digest",
    "integrity",
    "shasum",
    "sum",
    "crc",
    "etag",
    "commit",
    "rev",
    "revision",
    "ref",
    "tag",
    "version",
    "id",
    "ids",
    "uuid",
    "guid",
    "oid",
    "tree",
    "object",
    "blob",
    "build",
    "image",
    "fingerprint",
    "thumbprint",
    "signature",
    "sig",
    "nonce",
    "salt",
    "iv",
    "seed",
    "hmac",
    "url",
    "uri",
    "path",
    "file",
    "name",
    "label",
    "title",
    "slug",
    "handle",
    "user",
    "username",
    "email",
    "account",
    "tenant",
    "project",
    "client",
    "app",
    "application",
    "org",
    "team",
    "channel",
    "region",
    "zone",
    "bucket",
    "host",
    "domain",
    "node",
    "cluster",
    "namespace",
    "release",
    "snapshot",
    "resolved",
    "lock",
    "cache",
    "session",
    "trace",
    "span",
    "request",
    "message",
    "event",
    "order",
    "transaction",
    "txn",
    "block",
    "address",
    "wallet",
    "contract",
    "public",
    "pub",
    "pk",
    "anon",
    "publishable",
    "site",
    "measurement",
    "tracking",
    "analytics",
    "pixel",
];

/// A setting of a configuration file (not code) whose name says nothing
/// (`deepgram = …`, `fireworks: …`) but whose value is random and long the
/// way generated keys are: letters of both cases and digits, 24 or more
/// (hex, UUIDs and one-case values are too often digests and ids).
/// Name parts of anti-forgery values (a page hands them to every visitor):
/// not credentials, however random.
const ANTI_FORGERY: &[&str] = &[
    "csrf",
    "xsrf",
    "authenticity",
    "nonce",
    "csrftoken",
    "xsrftoken",
];

fn unnamed_setting(line: &str, code: bool) -> Option<Hit> {
    if code || !mixed_random_run(line.as_bytes()) {
        return None;
    }
    let t = line.trim_start();
    let t = t
        .strip_prefix("export ")
        .unwrap_or(t)
        .trim_start_matches(['-', ' ', '"', '\'']);
    let start = line.len() - t.len();
    let len = t
        .bytes()
        .take_while(|&b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        .count();
    if len == 0 {
        return None;
    }
    let name = &line[start..start + len];
    // `secure: "…"` (Travis CI, AppVeyor) holds a value encrypted for the
    // CI service: committing it is the point.
    let named = segments(name).iter().any(|s| {
        DIGEST_NAMES.contains(&s.as_str())
            || s.starts_with("sha")
            || ANTI_FORGERY.contains(&s.as_str())
            || matches!(s.as_str(), "secure" | "encrypted" | "ciphertext")
    });
    // `const fooBarWindows83ShortName = …` in an HTML page's script: a
    // declaration keyword, then a name, is code.
    let declares = matches!(
        name,
        "const"
            | "let"
            | "var"
            | "val"
            | "def"
            | "function"
            | "class"
            | "static"
            | "final"
            | "public"
            | "private"
            | "protected"
            | "type"
            | "interface"
            | "enum"
            | "struct"
    );
    // `b=…` and `bh=…` continuing a `DKIM-Signature:` or `ARC-Seal:`
    // header (an email's public signature): a format's one-letter tag
    // names no setting.
    let tag = name.len() == 1 || name == "bh";
    if named
        || declares
        || tag
        || certificate_key(name)
        || name.bytes().all(|b| b.is_ascii_digit())
        || disclaims_credential(name)
    {
        return None;
    }
    let op = operator(line, start, start + len)?;
    let (value, at, _) = read_value(line, op)?;
    let v = value.trim();
    let mixed =
        v.bytes().any(|b| b.is_ascii_uppercase()) && v.bytes().any(|b| b.is_ascii_lowercase());
    (v.len() >= 24
        && mixed
        && strong_random(v)
        && randomness(v) >= 0.85
        && !reference(v)
        && !path_or_url(v)
        && !public_document(v)
        && !public_client_id(v)
        && !off_strict_format(name, v)
        && !typed_in_character(v)
        && !off_listed_suffix(v)
        // `"latest_charge": "ch_3TUq5D2E…"`: an object's id.
        && !v.split_once('_').is_some_and(|(prefix, _)| object_id(prefix)))
    .then(|| hit("secret-assignment", at, at + value.len()))
}

/// Base64 of a document that is public by design, as signed bundles and
/// transparency logs carry them (`"rawBytes": "MIIHQDCCBsagAwIBAgIU…"`): a
/// DER certificate, a public key, an ECDSA signature, or JSON (`eyJ…`
/// without the dots of a token). A private key's DER (`MIIEvQIBADAN…`) is
/// none of these.
pub(super) fn public_document(v: &str) -> bool {
    let head = v.get(..v.len().min(40)).unwrap_or(v);
    // `a0 03 02 01 02` (a certificate's version) at each base64 alignment.
    let certificate = (v.starts_with("MII") || v.starts_with("MIG"))
        && ["oAMCAQI", "KADAgEC", "gAwIBAg"]
            .iter()
            .any(|m| head.contains(m));
    // SubjectPublicKeyInfo of RSA (`… 05 00 03 82`: a bit string follows),
    // P-256 and Ed25519.
    let public_key = head.contains("AQEFAAOC")
        || head.contains("AQEFAAOB")
        || v.starts_with("MFkwEwYHKoZIzj0CAQ")
        || v.starts_with("MCowBQYDK2Vw");
    // `30 44|45|46 02 20|21`: an ECDSA signature's two integers.
    let signature = ["MEQCI", "MEUCI", "MEYCI"].iter().any(|p| v.starts_with(p));
    let json = v.starts_with("eyJ") && !v.contains('.');
    certificate || public_key || signature || json || encoded_file(v)
}

/// An OAuth client's id in a provider's documented shape: public by
/// design (it travels in every authorization URL), unlike the client's
/// secret beside it. Salesforce calls it a connected app's consumer key:
/// `3MVG9` and some 80 letters, digits, `.` and `_`.
fn public_client_id(v: &str) -> bool {
    v.strip_prefix("3MVG9").is_some_and(|rest| {
        rest.len() >= 75
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
    })
}

/// A name with a credential's word that says it is something else:
/// `foreignKey`, `key_down_event`, `token_url`.
fn disclaims_credential(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ASSIGNMENT_WORDS.iter().any(|w| lower.contains(w)) && name_kind(name).is_none()
}

/// A run of 24 letters and digits holding both cases and a digit.
fn mixed_random_run(bytes: &[u8]) -> bool {
    let (mut len, mut upper, mut lower, mut digit) = (0usize, false, false, false);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            len += 1;
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
            digit |= b.is_ascii_digit();
            if len >= 24 && upper && lower && digit {
                return true;
            }
        } else {
            (len, upper, lower, digit) = (0, false, false, false);
        }
    }
    false
}

/// The cheap test before [`continued_value`]: the line above ends in `:` or
/// `=`, or an assignment is wrapped another way (see [`wrapped`]).
fn continued(lines: &[&str], index: usize, code: bool) -> Option<Hit> {
    let above = lines[index.checked_sub(1)?].trim_end();
    if let Some((head, at)) = wrapped(above, lines[index]) {
        return continued_value(head, lines[index], at, code);
    }
    if above.ends_with("</key>") {
        return plist_value(above, lines[index]);
    }
    // `<apiToken>` (an element), not `api_token: >` (a folded YAML block).
    if above.trim_start().starts_with('<') && above.ends_with('>') {
        return xml_element_text(lines, index, code);
    }
    let above = match above.as_bytes().last() {
        Some(b'|' | b'>' | b'-' | b'+') => without_block_indicator(above),
        _ => above,
    };
    // Prettier's wrapping of `process.env.API_KEY ||` over its fallback.
    let fallback = (above.ends_with("||") || above.ends_with("??"))
        && above.to_ascii_lowercase().contains("env");
    if !above.ends_with([':', '=']) && !fallback {
        return if code {
            None
        } else {
            announced_token(lines, index)
        };
    }
    let line = lines[index];
    if line.trim().is_empty() {
        return None;
    }
    let head = without_block_indicator(above);
    let head = head
        .strip_suffix(':')
        .or_else(|| head.strip_suffix('='))
        .or_else(|| head.strip_suffix("||"))
        .or_else(|| head.strip_suffix("??"))?;
    continued_value(head, line, line.len() - line.trim_start().len(), code)
}

/// An assignment wrapped so that the line above holds only its name: Java's
/// and C#'s `API_KEY` then `    = "…";`, Python's `API_KEY = (` then the
/// string, C++'s brace initialiser `ApiKey{` then the string. The text
/// before the operator, and where the value starts on `line`.
fn wrapped<'a>(above: &'a str, line: &str) -> Option<(&'a str, usize)> {
    let t = line.trim_start();
    let lead = line.len() - t.len();
    let name_ends = |s: &str| {
        s.as_bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    if let Some(rest) = t.strip_prefix('=') {
        // Not `==`, nor a setext heading's `=====`.
        if rest.starts_with(['=', '>', '~']) || !name_ends(above) {
            return None;
        }
        let value = rest.trim_start();
        return Some((above, line.len() - value.len()));
    }
    if !t.starts_with(['"', '\'', '`']) {
        return None;
    }
    if let Some(head) = above.strip_suffix('(') {
        let head = head.trim_end().strip_suffix('=')?;
        return (!head.ends_with(['=', '!', '<', '>'])).then_some((head, lead));
    }
    let head = above.strip_suffix('{')?;
    name_ends(head).then_some((head, lead))
}

/// A token alone on its line below a sentence that announces it, a blank
/// line between (setup logs and notes: Jenkins' "Please use the following
/// password to proceed to installation:", "Your new API token:").
fn announced_token(lines: &[&str], index: usize) -> Option<Hit> {
    if index < 2 || !lines[index - 1].trim().is_empty() || lines[index].trim().is_empty() {
        return None;
    }
    let intro = lines[index - 2].trim_end().strip_suffix(':')?;
    let lower = intro.to_ascii_lowercase();
    let says = ["password", "token", "api key", "secret"]
        .iter()
        .any(|w| lower.contains(w));
    if !says || intro.split_whitespace().count() < 3 {
        return None;
    }
    let line = lines[index];
    let v = line.trim();
    let generated = (16..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric())
        && v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && !wordy(v)
        && !placeholder(v)
        && randomness(v) >= 0.8;
    let start = line.len() - line.trim_start().len();
    generated.then(|| hit("secret-assignment", start, start + v.len()))
}

/// `password: |` or `token: >-` (a YAML block scalar, its value on the
/// lines below) read as `password:`.
fn without_block_indicator(line: &str) -> &str {
    let Some(head) = line.strip_suffix(['|', '>', '-', '+']) else {
        return line;
    };
    let head = head.trim_end_matches(['|', '>', '-', '+']);
    if head.ends_with(": ") {
        head.trim_end()
    } else {
        line
    }
}

/// An XML element written over three lines, `<apiToken>`, the value alone,
/// `</apiToken>`: judged as the value assigned to the element's name.
fn xml_element_text(lines: &[&str], index: usize, code: bool) -> Option<Hit> {
    let name = lines[index - 1]
        .trim()
        .strip_prefix('<')?
        .strip_suffix('>')?;
    let named = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    let closed = lines
        .get(index + 1)
        .and_then(|l| l.trim().strip_prefix("</"))
        .and_then(|l| l.strip_suffix('>'))
        == Some(name);
    let line = lines[index];
    let value = line.trim();
    if !named || !closed || value.is_empty() || value.contains('<') {
        return None;
    }
    let a = Assigned {
        kind: name_kind(name)?,
        name,
        value,
        start: line.len() - line.trim_start().len(),
        quoted: true,
    };
    judge(&a, code)
}

/// A property list's `<key>API_SECRET</key>` above `<string>…</string>`,
/// or a key/value list's above `<value>…</value>`.
fn plist_value(above: &str, line: &str) -> Option<Hit> {
    let name = above.trim().strip_prefix("<key>")?.strip_suffix("</key>")?;
    let kind = name_kind(name)?;
    let t = line.trim_start();
    // A plist's `<string>`, or the `<value>` of a key/value list.
    let (open, close) = [("<string>", "</string>"), ("<value>", "</value>")]
        .into_iter()
        .find(|(open, _)| t.starts_with(open))?;
    let inner = t[open.len()..].trim_end().strip_suffix(close)?;
    let start = line.len() - t.len() + open.len();
    let a = Assigned {
        kind,
        name,
        value: inner,
        start,
        quoted: true,
    };
    judge(&a, false)
}

/// A hit on the whole of `line` but its indentation and trailing blanks.
pub(super) fn whole_line_hit(rule: &'static str, line: &str) -> Hit {
    let start = line.len() - line.trim_start().len();
    hit(rule, start, line.trim_end().len().max(start))
}

fn hit(rule: &'static str, start: usize, end: usize) -> Hit {
    Hit {
        rule,
        start,
        end,
        provider: None,
        live: false,
    }
}

// ---------------------------------------------------------------- keys

fn private_key(lines: &[&str], index: usize) -> Option<Hit> {
    let line = lines[index];
    if let Some(c) = PEM_BASE64.captures(line.as_bytes()) {
        let m = c.get(1)?;
        return Some(Hit {
            live: true,
            ..hit("secret-private-key", m.start(), m.end())
        });
    }
    let Some(m) = PEM_HEADER.captures(line.as_bytes()).and_then(|c| c.get(1)) else {
        return bare_key_material(lines, index).or_else(|| xml_rsa_private(lines, index));
    };
    let putty = line[m.start()..].starts_with("PuTTY");
    // The body: on this line after an escaped newline (JSON, a string
    // literal), or on the next few lines (headers such as `Proc-Type:` and
    // string concatenation in between).
    let rest = &line[m.end()..];
    let mut body = body_run(rest);
    // A block closed on its own line (`-----BEGIN …-----\n${KEY}\n-----END …`)
    // is judged by what it holds: the lines below are not its body.
    if !body && !rest.contains("-----END") {
        for next in lines.iter().skip(index + 1).take(if putty { 8 } else { 4 }) {
            let t = next.trim();
            if putty && t.starts_with("Private-Lines:") {
                body = true;
                break;
            }
            if body_run(t) {
                body = true;
                break;
            }
        }
    }
    body.then(|| Hit {
        live: true,
        ..hit("secret-private-key", m.start(), m.end())
    })
}

/// Marks inside the first bytes of a private key's DER, in base64 at the
/// offsets they fall on: a version `0` then a modulus (PKCS#1 RSA, DSA:
/// `MIIEowIBAAK…`) or an algorithm (PKCS#8: `MIIEvQIBADAN…`,
/// `MIGHAgEAMBMG…`, Ed25519's `MC4CAQAw…`), a version `1` then the key
/// (SEC1 EC: `MHcCAQEEI…`, `MIGkAgEBBDA…`); and an OpenSSH key's blob
/// (`openssh-key-v1`).
const KEY_MARKS: &[&str] = &[
    "IBAAK",
    "IBADA",
    "AgEAM",
    "AgEBB",
    "CAQEE",
    "CAQAw",
    "b3BlbnNzaC1rZXktdjE",
];

/// A private key's DER (or OpenSSH blob) written as one base64 string, with
/// no PEM armour around it: `privateKey = "MIIEvQIBADANBgkqhkiG9w0BAQEF…"`.
/// The bytes must read as one: a structure whose declared length holds all
/// of them (a key cut to be joined with the next string is its head), a
/// version, then a key's next field.
fn bare_key_material(lines: &[&str], index: usize) -> Option<Hit> {
    let line = lines[index];
    let b = line.as_bytes();
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    for mark in KEY_MARKS {
        for (at, _) in line.match_indices(mark) {
            let start = b[..at].iter().rposition(|&c| !b64(c)).map_or(0, |i| i + 1);
            let mut end = at;
            while end < b.len() && b64(b[end]) {
                end += 1;
            }
            while end < b.len() && b[end] == b'=' {
                end += 1;
            }
            let run = &line[start..end];
            if run.len() < 64 || inside_armour(lines, index) {
                continue;
            }
            let Some(bytes) = base64_bytes(run) else {
                continue;
            };
            if bytes.starts_with(b"openssh-key-v1\0") || der_private_key(&bytes).unwrap_or(false) {
                return Some(Hit {
                    live: true,
                    ..hit("secret-private-key", start, end)
                });
            }
        }
    }
    None
}

/// Line `index` is a line of a PEM block's body (any block: its header
/// says what it holds, and the PEM rules read it).
fn inside_armour(lines: &[&str], index: usize) -> bool {
    for above in lines[index.saturating_sub(60)..index].iter().rev() {
        if above.contains("-----END") {
            return false;
        }
        if above.contains("-----BEGIN") {
            return true;
        }
    }
    false
}

/// `der` is (the head of) a private key's DER: PKCS#1 RSA, DSA, PKCS#8 or
/// SEC1 EC. `None` where the bytes end before the answer.
fn der_private_key(der: &[u8]) -> Option<bool> {
    // The tag, content length and content offset of the element at `at`.
    let element = |at: usize| -> Option<(u8, usize, usize)> {
        let tag = *der.get(at)?;
        let first = usize::from(*der.get(at + 1)?);
        if first < 0x80 {
            return Some((tag, first, at + 2));
        }
        let n = first - 0x80;
        if n == 0 || n > 3 {
            return None;
        }
        let len = der
            .get(at + 2..at + 2 + n)?
            .iter()
            .fold(0usize, |l, &b| l << 8 | usize::from(b));
        Some((tag, len, at + 2 + n))
    };
    let (tag, len, body) = element(0)?;
    if tag != 0x30 || der.len() > body + len {
        return Some(false);
    }
    let (tag, len, at) = element(body)?;
    let version = *der.get(at)?;
    if tag != 0x02 || len != 1 || version > 1 {
        return Some(false);
    }
    let (tag, len, at) = element(at + 1)?;
    Some(match (version, tag) {
        // PKCS#1 RSA's modulus, DSA's p.
        (0, 0x02) => len >= 64,
        // PKCS#8: the algorithm, then the key as an octet string.
        (_, 0x30) => element(at + len)?.0 == 0x04,
        // SEC1: the private scalar.
        (1, 0x04) => len >= 20,
        _ => false,
    })
}

/// .NET's XML form of an RSA key (`RSA.ToXmlString(true)`) holding its
/// private parts: `<RSAKeyValue>…<D>…</D>` on the line or the lines below.
fn xml_rsa_private(lines: &[&str], index: usize) -> Option<Hit> {
    let line = lines[index];
    let at = line.find("<RSAKeyValue>")?;
    let closed = line[at..].contains("</RSAKeyValue>");
    let below = if closed { 0 } else { 12 };
    let private = |text: &str| {
        ["<D>", "<P>", "<InverseQ>"].iter().any(|tag| {
            text.split(tag).nth(1).is_some_and(|v| {
                v.bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(c))
                    .count()
                    >= 20
            })
        })
    };
    let mut found = private(&line[at..]);
    for l in lines.iter().skip(index + 1).take(below) {
        found = found || private(l);
        if found || l.contains("</RSAKeyValue>") {
            break;
        }
    }
    found.then(|| Hit {
        live: true,
        ..hit("secret-private-key", at, at + "<RSAKeyValue>".len())
    })
}

/// Line `index` is key material inside a private key block whose header
/// stands above it (within 60 lines, no `-----END` between): the line a
/// rotated key changes when its header stays. The index of the header.
pub(super) fn private_key_body(lines: &[&str], index: usize) -> Option<usize> {
    let line = lines[index].trim();
    // Key material is base64 alone on its line: most lines stop here,
    // before any search.
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if line.len() < 16 || !line.as_bytes().iter().all(base64) || !body_run(line) {
        return None;
    }
    for at in (index.saturating_sub(60)..index).rev() {
        let above = lines[at];
        if above.contains("-----END") {
            return None;
        }
        if PEM_HEADER.is_match(above.as_bytes()) {
            return Some(at);
        }
    }
    None
}

/// Some base64 key material that is not a placeholder (`...`, `<key>`,
/// `xxxx`, `REDACTED`), before the block's end: what follows its `-----END`
/// on the line (`</key>` in XML) is not the key's.
fn body_run(text: &str) -> bool {
    let text = text.split("-----END").next().unwrap_or(text);
    let lower = text.to_ascii_lowercase();
    if ["...", "…", "<", "xxxx", "redacted", "your", "example"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return false;
    }
    // Key material is DER or an OpenSSH blob: binary. A body that decodes to
    // text (`YWJjZGVm…`, "abcdef…") was typed to stand in for one.
    BASE64_RUN.find_iter(text.as_bytes()).any(|m| {
        let run = &text[m.start()..m.end()];
        distinct(run) >= 12 && base64_text(run).is_none()
    })
}

// ----------------------------------------------------------- providers

/// Tokens the providers print in their own documentation as the example
/// (copied into countless READMEs and tutorials): public, never anyone's
/// credential. AWS's `…EXAMPLE` keys are caught as placeholders.
const DOCUMENTED_EXAMPLES: &[&str] = &[
    // Telegram Bot API, "Authorizing your bot".
    "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
    // Stripe's API reference, before per-account test keys.
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "pk_test_TYooMQauvdEDq54NiTphI7jx",
    // Google API keys in the Firebase SDKs' own sample and test
    // configurations (firebase-android-sdk), which scanners allow-list.
    "AIzaSyabcdefghijklmnopqrstuvwxyz1234567",
    "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
    "AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM",
    "AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU",
    "AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0",
    "AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A",
    "AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c",
    "AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
    "AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY",
    "AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
    "AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ",
    "AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g",
    "AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU",
    "AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw",
    "AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE",
    "AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY",
    // The storage emulators' well-known keys (Azurite and the Azure Storage
    // Emulator's `devstoreaccount1`, the Cosmos DB emulator), printed in
    // Microsoft's documentation: every local setup uses them.
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==",
    // The access and refresh tokens of RFC 6749's (OAuth 2.0) examples,
    // copied into countless tests and documents.
    "2YotnFZFEjr1zCsicMWpAA",
    "tGzv3JOkF0XG5Qx2TlKWIA",
    // The `ClearTextPassword` examples of NuGet's nuget.config reference.
    "33f!!lloppa",
    "hal+9ooo_da!sY",
];

fn provider_token(line: &str, index: usize) -> Option<Hit> {
    let p = &PROVIDERS[index];
    for caps in provider_regex(index).captures_iter(line.as_bytes()) {
        let Some(m) = caps.get(1) else { continue };
        let token = &line[m.start()..m.end()];
        if placeholder_token(p, token)
            || signed_for_another(p, token)
            || unnamed_grafana_json(p, token)
            || anothers_prefix(index, token)
        {
            continue;
        }
        let live = match p.checksum {
            Checksum::None => true,
            Checksum::Crc32Base62 => crc32_base62_ok(token),
        };
        return Some(Hit {
            rule: p.rule,
            start: m.start(),
            end: m.end(),
            provider: Some(p.name),
            live,
        });
    }
    None
}

/// A token that opens with another provider's longer prefix (`sk-ant-…`,
/// `sk-or-…` read by OpenAI's `sk-…`) is in that provider's namespace: it
/// is that provider's token or a look-alike, never this one's.
fn anothers_prefix(index: usize, token: &str) -> bool {
    let opens = |k: &str| {
        token
            .get(..k.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(k))
    };
    let mine = PROVIDERS[index]
        .keywords
        .iter()
        .filter(|k| opens(k))
        .map(|k| k.len())
        .max()
        .unwrap_or(0);
    listed_prefix(token).is_some_and(|owners| {
        !owners.contains(&index)
            && owners.iter().any(|&i| {
                PROVIDERS[i]
                    .keywords
                    .iter()
                    .any(|k| k.len() > mine && opens(k))
            })
            && !any_format(&owners, token)
    })
}

/// `token` is in the format of one of the providers `owners`.
fn any_format(owners: &[usize], token: &str) -> bool {
    owners
        .iter()
        .any(|&i| provider_regex(i).is_match(token.as_bytes()))
}

/// An Azure key read by the looser `JQQJ99` format that carries the
/// `AZDO` signature of a DevOps token: only the exact DevOps format (84
/// characters) makes it one; cut short it is a look-alike.
fn signed_for_another(p: &Provider, token: &str) -> bool {
    p.id == "azure-jqqj99-key" && token.get(70..).is_some_and(|tail| tail.contains("AZDO"))
}

/// Grafana's API keys are base64 JSON that names the key
/// (`{"k":"…","n":"backups","id":1}`). A Power BI report link's `r=…`
/// opens the same way (`{"k":"…","t":"…","c":5}`) and names none; a key
/// whose `k` reads as an example (`EXAMPLETEST…`) is one. A random body
/// decodes to no text and is judged by its format alone.
fn unnamed_grafana_json(p: &Provider, token: &str) -> bool {
    p.id == "grafana-api-key"
        && base64_text(token).is_some_and(|json| {
            let k = json
                .split_once(r#""k":""#)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map_or("", |(k, _)| k);
            !json.contains(r#""n":"#) || placeholder(k)
        })
}

/// A value that ends in the fixed tail of a listed format (New Relic's
/// `NRAL`, MaxMind's `_mmk`) without matching it: a made-up look-alike
/// (`a1b2c3…q7r8NRAL`, letters past `f` where New Relic writes hex).
fn off_listed_suffix(value: &str) -> bool {
    static SUFFIXED: LazyLock<Vec<(&'static str, usize)>> = LazyLock::new(|| {
        PROVIDERS
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.contextual)
            .filter_map(|(i, p)| {
                let (_, tail) = p.pattern.rsplit_once('}')?;
                let literal =
                    tail.len() >= 4 && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                literal.then_some((tail, i))
            })
            .collect()
    });
    SUFFIXED.iter().any(|&(tail, i)| {
        value.len() > tail.len() && value.ends_with(tail) && !any_case_match(i, value)
    })
}

/// The random part of a token is a placeholder or a word: `ghp_xxxx…`,
/// `AKIA…EXAMPLE`, `hf_requiredCharacteristicTypes…`; or the token is a
/// provider's documented example.
fn placeholder_token(p: &Provider, token: &str) -> bool {
    if DOCUMENTED_EXAMPLES.contains(&token) {
        return true;
    }
    let lower = token.to_ascii_lowercase();
    let prefix = p
        .keywords
        .iter()
        .filter(|k| lower.starts_with(*k))
        .map(|k| k.len())
        .max()
        .unwrap_or(0);
    let body = token[prefix..].to_string();
    let body = if p.id == "twitter-bearer-token" {
        body.trim_start_matches('A').to_string()
    } else {
        body
    };
    placeholder(&body) || (p.pattern_is_loose() && (wordy(&body) || randomness(&body) < 0.6))
}

impl Provider {
    /// Formats whose prefix is short or common enough that a word can take
    /// its shape (`test_…`, `key-…`, `pat…`): these also need a random body.
    fn pattern_is_loose(&self) -> bool {
        self.keywords.iter().all(|k| k.len() <= 5) || self.contextual
    }
}

/// GitHub (and npm) tokens end in the base62 CRC32 of what precedes it.
fn crc32_base62_ok(token: &str) -> bool {
    let Some((prefix, rest)) = token.split_once('_') else {
        return false;
    };
    if rest.len() != 36 {
        return false;
    }
    let (body, check) = rest.split_at(30);
    let _ = prefix;
    let mut n = crc32(body.as_bytes());
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(n % 62) as usize];
        n /= 62;
    }
    out == check.as_bytes()
}

pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

/// A token of an unlisted provider, shaped the way providers now make them:
/// a short prefix of up to three parts (`dub_`, `flp_`, `sk_car_`,
/// `CCDB1_`, `sk-or-v1-`) and a long random
/// body: letters of both cases and digits, or (longer) lower-case hex or
/// lower-case letters and digits.
fn prefixed_token(line: &str, code: bool) -> Option<Hit> {
    if !long_random_run(line.as_bytes()) {
        return None;
    }
    for caps in PREFIXED_TOKEN.captures_iter(line.as_bytes()) {
        let (m, prefix, body) = (caps.get(1)?, caps.get(2)?, caps.get(3)?);
        // `…/commit/4b00c4f#diff-e3bc37…`: a URL's fragment names an
        // anchor on the page.
        let anchor = line[..prefix.start()].ends_with('#');
        let prefix = &line[prefix.start()..prefix.end()];
        let body = &line[body.start()..body.end()];
        // `ops_eyJzaWdu…...`: a token cut short to show its shape.
        let cut = line[m.end()..].starts_with("...") || line[m.end()..].starts_with('…');
        // `https://…notion.site/API-BD80…`: a page's name in a URL's path.
        let in_path = line[..m.start()].ends_with('/') && line[..m.start()].contains("://");
        // `t.Run("test_genericParseTypeInt16s", …)`: a test's name;
        // `codecSelfer_containerMapValue1819 = 3`: a name in code, outside
        // any string.
        let quotes_before = line[..m.start()]
            .bytes()
            .filter(|b| matches!(b, b'"' | b'\'' | b'`'))
            .count();
        let identifier = code && quotes_before % 2 == 0 && !super::is_comment(line);
        let test_name = (identifier
            || ["test_", "tests_", "bench_", "benchmark_"]
                .iter()
                .any(|p| prefix.eq_ignore_ascii_case(p)))
            && camel_words(body);
        if random_body(body)
            && !test_name
            && !glued_prefix(&line[m.start()..m.end()])
            && !digest_prefix(prefix)
            && !object_id(prefix)
            && !named_digest(prefix, body)
            && !random_prefix(prefix)
            && !publishable(prefix)
            && !anchor
            && !cut
            && !in_path
            && !off_exact_format(&line[m.start()..m.end()], body)
        {
            return Some(hit("secret-provider-token", m.start(), m.end()));
        }
    }
    None
}

/// Public by design: Stripe's (and Clerk's) publishable keys,
/// `pk_live_…`/`pk_test_…`, ship in every checkout page's JavaScript;
/// Square's application ids (`sq0idp-…`) in every payment form.
fn publishable(token: &str) -> bool {
    ["pk_live_", "pk_test_", "sq0idp-"].iter().any(|p| {
        token
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// The listed providers whose own prefix `value` starts with
/// (`sntryu_…`, `dapi…`, `px-dep-…`): such a value is that provider's token
/// or nothing, so a value of another length or alphabet is a look-alike
/// (truncated, or typed in), not an unlisted provider's token. Prefixes of
/// four characters or more count, except those that are common words
/// (`live_`, `test_`, `api-`), which unlisted formats use too.
fn listed_prefix(value: &str) -> Option<Vec<usize>> {
    // By the prefix's first byte (lower case): most values meet a handful.
    static PREFIXES: LazyLock<Vec<Vec<(&'static str, usize)>>> = LazyLock::new(|| {
        let common = [
            "api", "live", "test", "sandbox", "key", "token", "secret", "auth", "user",
        ];
        let mut out = vec![Vec::new(); 256];
        for (i, p) in PROVIDERS.iter().enumerate() {
            for k in p.keywords.iter().filter(|k| k.len() >= 4) {
                let stem = k.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                // The keyword is where the pattern starts (`sntryu_`, or
                // `pat.` of `(?:pat|sat)\.`), or continues a literal start
                // (`px-` then `dep-`).
                let leads = literal_heads(p.pattern).iter().any(|literal| {
                    literal.starts_with(*k) || literal.len() >= 3 && k.starts_with(literal)
                });
                if !p.contextual && leads && !common.contains(&stem) {
                    out[usize::from(k.as_bytes()[0])].push((*k, i));
                }
            }
        }
        out
    });
    let head = value.as_bytes().first()?.to_ascii_lowercase();
    let found: Vec<usize> = PREFIXES[usize::from(head)]
        .iter()
        .filter(|(k, _)| {
            value
                .get(..k.len())
                .is_some_and(|v| v.eq_ignore_ascii_case(k))
        })
        .map(|&(_, i)| i)
        .collect();
    (!found.is_empty()).then_some(found)
}

/// The literal text a pattern starts with, lower-cased, one string for each
/// way its first alternation or small class reads (`bk(?:ua|ar|ct)_` gives
/// `bkua_`, `bkar_`, `bkct_`; `hv[sbr]\.` gives `hvs.`, `hvb.`, `hvr.`).
/// It ends where the pattern stops being literal.
fn literal_heads(pattern: &str) -> Vec<String> {
    let b = pattern.as_bytes();
    let mut heads = vec![String::new()];
    let mut i = 0;
    let literal = |c: u8| c.is_ascii_alphanumeric() || b"_-~".contains(&c);
    // At most one alternation or class is read: the heads stay few.
    let mut branched = false;
    while i < b.len() {
        let c = b[i];
        let choices: Vec<String> = if literal(c) {
            i += 1;
            vec![char::from(c).to_string()]
        } else if c == b'\\' && b.get(i + 1).is_some_and(|e| b".-_/".contains(e)) {
            i += 2;
            vec![char::from(b[i - 1]).to_string()]
        } else if !branched && (pattern[i..].starts_with("(?:") || c == b'[') {
            let (open, close, sep) = if c == b'[' {
                (1, b']', None)
            } else {
                (3, b')', Some(b'|'))
            };
            let Some(len) = b[i + open..].iter().position(|&x| x == close) else {
                break;
            };
            let inner = &pattern[i + open..i + open + len];
            let parts: Vec<String> = match sep {
                Some(_) => inner.split('|').map(str::to_string).collect(),
                None => inner.chars().map(String::from).collect(),
            };
            let plain = parts.len() <= 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(literal));
            // A repeated group or class is a token's body, not its prefix;
            // an optional one (`(?:sandbox_)?`) may be there or not.
            let after = b.get(i + open + len + 1).copied();
            if !plain || after.is_some_and(|x| b"{*+".contains(&x)) {
                break;
            }
            branched = true;
            i += open + len + 1;
            let mut parts = parts;
            if after == Some(b'?') {
                i += 1;
                parts.push(String::new());
            }
            parts
        } else {
            break;
        };
        heads = heads
            .iter()
            .flat_map(|h| choices.iter().map(move |c| format!("{h}{c}")))
            .collect();
    }
    heads.iter().map(|h| h.to_ascii_lowercase()).collect()
}

/// `u2vn3Lh6Kte2-…`, `g48QWZXPpNeQ-…`: letters and digits alternating in
/// what stands as the prefix (twice among letters of both cases), which is
/// then random itself (a key's fragment, an id cut at a `-` or `_`), where
/// providers pick a word or an abbreviation in one case (`dub_`, `sk_car_`,
/// `CCDB1_`, `acmePRIVATE-`).
fn random_prefix(prefix: &str) -> bool {
    let b = prefix.as_bytes();
    let switches = |among_letters: bool| {
        b.windows(2)
            .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
            .filter(|w| !among_letters || w.iter().all(u8::is_ascii_alphanumeric))
            .count()
    };
    let mixed_case = b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase);
    switches(false) >= 3 || switches(true) >= 2 && mixed_case
}

/// A token with the prefix of a listed format that is exact (a long
/// literal prefix such as `bedrock-api-key-`, or a fixed number of hex
/// digits such as Sentry's `sntryu_` and 64, not `{64,}`) but does not
/// match it: a look-alike, not an unlisted provider's token.
fn off_exact_format(token: &str, body: &str) -> bool {
    if cut_from_common_prefix(token) {
        return true;
    }
    let Some(owners) = listed_prefix(token) else {
        return false;
    };
    let hex_body = body.bytes().all(|b| b.is_ascii_hexdigit());
    let exact = |i: usize| {
        let p = &PROVIDERS[i];
        // The format fixes more than its prefix (`sntrys_eyJ…`: Sentry's
        // org tokens carry base64 JSON after the prefix).
        let head = p
            .pattern
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            .count();
        let long = p
            .keywords
            .iter()
            .any(|k| k.len() >= 12 || head >= k.len() + 2)
            || fixed_infix(&p.pattern[head..]);
        let hex = ["[a-f0-9]{", "[0-9a-f]{"].iter().any(|class| {
            p.pattern.split(class).skip(1).any(|rest| {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                n > 0 && rest[n..].starts_with('}')
            })
        });
        // Shorter than the format allows: cut short (`xai-` and 43 where
        // xAI writes 80). Longer may be the format's next version.
        long || hex && hex_body || token.len() < shortest_of(i)
    };
    owners.iter().all(|&i| exact(i)) && !any_format(&owners, token)
}

/// The pattern fixes a run of six letters or digits past its prefix, outside
/// any class or group (OpenAI's `T3BlbkFJ`): a value without it is no
/// version of the format.
fn fixed_infix(pattern: &str) -> bool {
    let (mut depth, mut class, mut counted, mut run) = (0usize, false, false, 0usize);
    for b in pattern.bytes() {
        match b {
            _ if class => class = b != b']',
            b'[' => class = true,
            b'{' => counted = true,
            b'}' => counted = false,
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ if counted => {}
            _ if depth == 0 && b.is_ascii_alphanumeric() => {
                run += 1;
                if run >= 6 {
                    return true;
                }
                continue;
            }
            _ => {}
        }
        run = 0;
    }
    false
}

/// A format that opens with a common word (`live_`, `api-`) is no listed
/// prefix (unlisted services use the word too), but one that goes on in
/// parts (`live_`, the channel's number, `_`, 30 characters: a Twitch
/// stream key) still marks its tokens: a value with every part but the last
/// one short is that token cut short (`live_126031192_IgvU…` of 25).
fn cut_from_common_prefix(token: &str) -> bool {
    static CUT: LazyLock<Vec<(usize, Regex)>> = LazyLock::new(|| {
        const COMMON: &[&str] = &["api", "live", "test", "sandbox", "key", "secret", "token"];
        PROVIDERS
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.contextual && p.pattern.matches('{').count() >= 2)
            .filter(|(_, p)| {
                let heads = literal_heads(p.pattern);
                p.keywords.iter().any(|k| {
                    let stem = k.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                    COMMON.contains(&stem) && heads.iter().any(|h| h.starts_with(*k))
                })
            })
            .filter_map(|(i, p)| {
                // The last counted part takes from one character up.
                let open = p.pattern.rfind('{')?;
                let close = open + p.pattern[open..].find('}')?;
                let counts = &p.pattern[open + 1..close];
                let most = counts.rsplit(',').next().unwrap_or(counts);
                let cut = format!(
                    "{}{{1,{most}}}{}",
                    &p.pattern[..open],
                    &p.pattern[close + 1..]
                );
                Some((i, build(&format!("(?i)^(?:{cut})$"))))
            })
            .collect()
    });
    CUT.iter()
        .any(|(i, cut)| cut.is_match(token.as_bytes()) && !any_case_match(*i, token))
}

/// The fewest characters a token of provider `i`'s format has (worked out
/// once per provider).
fn shortest_of(i: usize) -> usize {
    static SHORTEST: LazyLock<Vec<usize>> = LazyLock::new(|| {
        PROVIDERS
            .iter()
            .map(|p| shortest_match(p.pattern))
            .collect()
    });
    SHORTEST[i]
}

/// The fewest characters a match of `pattern` has (the simple regexes of
/// the provider table: literals, escapes, classes, groups, alternation and
/// counted repetition).
fn shortest_match(pattern: &str) -> usize {
    fn seq(b: &[u8], i: &mut usize) -> usize {
        // One alternative after another, up to `)` or the end: the shortest.
        let mut best = usize::MAX;
        let mut len = 0;
        while *i < b.len() && b[*i] != b')' {
            if b[*i] == b'|' {
                best = best.min(len);
                len = 0;
                *i += 1;
                continue;
            }
            let atom = match b[*i] {
                b'(' => {
                    *i += 1;
                    if b.get(*i) == Some(&b'?') {
                        // `(?:`, `(?i)`: skip the group's flags.
                        while *i < b.len() && !matches!(b[*i], b':' | b')') {
                            *i += 1;
                        }
                        if b.get(*i) == Some(&b')') {
                            *i += 1;
                            continue;
                        }
                        *i += 1;
                    }
                    let n = seq(b, i);
                    *i += 1;
                    n
                }
                b'[' => {
                    *i += 1;
                    while *i < b.len() && b[*i] != b']' {
                        *i += if b[*i] == b'\\' { 2 } else { 1 };
                    }
                    *i += 1;
                    1
                }
                b'\\' => {
                    *i += 2;
                    1
                }
                b'^' | b'$' => {
                    *i += 1;
                    0
                }
                _ => {
                    *i += 1;
                    1
                }
            };
            // Its repetition: the least count it allows.
            let times = match b.get(*i) {
                Some(b'?' | b'*') => {
                    *i += 1;
                    0
                }
                Some(b'+') => {
                    *i += 1;
                    1
                }
                Some(b'{') => {
                    let start = *i + 1;
                    while *i < b.len() && b[*i] != b'}' {
                        *i += 1;
                    }
                    let inner = std::str::from_utf8(&b[start..*i]).unwrap_or("1");
                    *i += 1;
                    inner
                        .split(',')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1)
                }
                _ => 1,
            };
            len += atom * times;
        }
        best.min(len)
    }
    seq(pattern.as_bytes(), &mut 0)
}

/// `value` carries a listed provider's prefix and matches none of the
/// formats that prefix belongs to, even read without regard to case (a
/// key quoted in lower case is still the key): `dapi…` with letters past
/// `f`, `sm_pat_` and ten characters.
fn off_listed_format(value: &str) -> bool {
    listed_prefix(value).is_some_and(|owners| !owners.iter().any(|&i| any_case_match(i, value)))
        || cut_from_common_prefix(value)
}

/// `value` is wholly of provider `i`'s format, read without regard to case.
fn any_case_match(i: usize, value: &str) -> bool {
    static ANY_CASE: LazyLock<Vec<OnceLock<Regex>>> =
        LazyLock::new(|| PROVIDERS.iter().map(|_| OnceLock::new()).collect());
    ANY_CASE[i]
        .get_or_init(|| build(&format!("(?i)^(?:{})$", PROVIDERS[i].pattern)))
        .is_match(value.as_bytes())
}

/// The random part of an unlisted token: mixed-case letters and digits
/// (20 or more; 32 if `_`/`-` split it), or one case of letters and digits
/// (32 or more), at the entropy a random string of that alphabet has.
fn random_body(body: &str) -> bool {
    let n = body.len();
    let upper = body.bytes().any(|b| b.is_ascii_uppercase());
    let lower = body.bytes().any(|b| b.is_ascii_lowercase());
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let mixed = upper && lower && digits >= 2;
    if mixed {
        // Separators inside (`…_0Js5…`, base64url) only in a long body.
        let separators = body.contains(['_', '-']);
        // `test_genericParseTypeInt16s`: a name in camel case.
        return (!separators || n >= 32) && strong_random(body) && randomness(body) >= 0.85;
    }
    // One case only: long enough that a word or an identifier cannot take
    // the shape, with digits and letters spread as in a random string. A
    // separator may only set off a short tail (`…cd81b_7de13efba5`): the
    // dashes of a UUID or of words mark an id.
    let (body, n) = match body.split_once(['_', '-']) {
        None => (body, n),
        Some((head, tail))
            if head.len() >= 24 && !tail.contains(['_', '-']) && tail.len() <= head.len() =>
        {
            (head, head.len())
        }
        Some(_) => return false,
    };
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let letters = n - digits;
    // A long body may come from a smaller alphabet (base32 without
    // look-alike letters scores lower against all 36).
    let bar = if n >= 40 { 0.8 } else { 0.85 };
    n >= 32
        && digits * 8 >= n
        && letters * 8 >= n
        && !wordy(body)
        && !placeholder(body)
        && randomness(body) >= bar
}

/// Words in camel case, digits between them aside: `genericParseTypeInt16s`.
/// A random body breaks into runs of one or two letters.
fn camel_words(body: &str) -> bool {
    let b = body.as_bytes();
    let (mut letters, mut in_words, mut words) = (0usize, 0usize, 0usize);
    let mut start = 0;
    for i in 1..=b.len() {
        let boundary = i == b.len()
            || !b[i].is_ascii_alphabetic()
            || b[i].is_ascii_uppercase() && b[i - 1].is_ascii_lowercase();
        if !boundary {
            continue;
        }
        let run = &body[start..i];
        if run.bytes().all(|c| c.is_ascii_alphabetic()) && !run.is_empty() {
            letters += run.len();
            let lower = run.to_ascii_lowercase();
            if run.len() >= 3 && word_like(&lower) {
                in_words += run.len();
                words += 1;
            }
        }
        start = if i < b.len() && !b[i].is_ascii_alphabetic() {
            i + 1
        } else {
            i
        };
    }
    words >= 2 && in_words * 10 >= letters * 8
}

/// `sha256-…`, `md5_…`, `commit-…`: a digest or an object id, not a token.
fn digest_prefix(prefix: &str) -> bool {
    let p = prefix.trim_end_matches(['_', '-']).to_ascii_lowercase();
    let head = p.split('_').next().unwrap_or("");
    [
        "sha", "sha1", "sha224", "sha256", "sha384", "sha512", "md5", "blake2b", "blake3", "hash",
        "digest", "checksum", "commit", "rev", "revision", "oid", "uuid", "guid", "id", "git",
        "sum", "crc", "etag", "object", "tree", "blob", "build", "version", "v", "diff",
        // A Content-Security-Policy's `'nonce-…'`: a page's one-time value.
        "nonce",
    ]
    .contains(&head)
}

/// The prefixes APIs give their objects' ids (Stripe's `pi_`, `cus_`,
/// `re_`; Anthropic's `msg_`, `toolu_`; OpenAI's `call_`, `chatcmpl-`;
/// EasyPost's `shp_`, `adr_`): an id in a response or a test, not a key.
fn object_id(prefix: &str) -> bool {
    const STRIPE: &[&str] = &[
        "pi", "pm", "pmc", "re", "ch", "cus", "card", "src", "evt", "txn", "acct", "prod", "price",
        "sub", "in", "ii", "il", "po", "tr", "seti", "ba", "py", "pyr", "si", "cbtxn", "ic", "ich",
        "cn", "dp", "du", "fee", "ipi", "iauth", "plink", "promo", "qt", "sched", "tmr", "trr",
        "we", "cpmt", "mbur",
    ];
    const AI_APIS: &[&str] = &[
        "msg", "toolu", "call", "chatcmpl", "resp", "run", "thread", "asst", "step", "batch",
        "file", "ftjob", "vs", "req", "compl", "cmpl", "gen",
    ];
    const COMMERCE: &[&str] = &[
        "shp", "adr", "ca", "es", "rate", "trk", "pl", "rp", "cstm", "prcl", "ord", "order", "inv",
        "item", "cart", "user", "usr", "ev", "event", "job", "task", "conv", "chat",
    ];
    let head = prefix.trim_end_matches(['_', '-']);
    [STRIPE, AI_APIS, COMMERCE]
        .iter()
        .any(|ids| ids.contains(&head))
}

/// `segment.trace_id`, `span_id`: the id of a record (a trace, a request,
/// an event), which a provider's word before it does not make a key.
/// (`sumologic_access_id`, `plaid_client_id` name halves of credentials.)
fn record_id(name: &str) -> bool {
    let segs = segments(name);
    let n = segs.len();
    n >= 2
        && matches!(segs[n - 1].as_str(), "id" | "ids")
        && matches!(
            segs[n - 2].as_str(),
            "trace"
                | "span"
                | "request"
                | "req"
                | "message"
                | "msg"
                | "event"
                | "order"
                | "transaction"
                | "txn"
                | "session"
                | "commit"
                | "build"
                | "run"
                | "job"
        )
}

/// `schedule-eeb46c93…` (40), `framework-5f3523…` (32): a word, a dash,
/// then a digest's worth of hex, is a name made unique by a hash (a lock's,
/// a cache entry's). Providers that spell a word set it off with `_`
/// (`rootly_` and 64), or use short abbreviations (`pul-`, `glptt-`).
fn named_digest(prefix: &str, body: &str) -> bool {
    let Some(word) = prefix.strip_suffix('-') else {
        return false;
    };
    word.len() >= 6
        && word.bytes().all(|b| b.is_ascii_lowercase())
        && word_like(word)
        && [32, 40, 64].contains(&body.len())
        && lower_hex(body)
}

/// Digits and `a`–`f` only: a digest or a key as hex in lower case.
fn lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// After some `_` or `-`, a run of letters and digits long enough to be a
/// token's random part (24 with an upper-case letter and a digit, or 32
/// with a digit): the cheap test that spares most lines the regex (it looks
/// only behind separators, found with `memchr`).
fn long_random_run(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(b'_', b'-', bytes).any(|at| {
        let run = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .take(32);
        let (mut len, mut upper, mut digit) = (0usize, false, false);
        for &b in run {
            len += 1;
            upper |= b.is_ascii_uppercase();
            digit |= b.is_ascii_digit();
        }
        digit && (len >= 32 || len >= 20 && upper)
    })
}

// ----------------------------------------------------- tokens and URLs

const JWT_IO_EXAMPLE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

fn jwt(line: &str) -> Option<Hit> {
    for caps in JWT.captures_iter(line.as_bytes()) {
        let m = caps.get(1)?;
        if issued_jwt(&line[m.start()..m.end()]) {
            return Some(hit("secret-jwt", m.start(), m.end()));
        }
    }
    // The same token stored in base64 (`ZXlK…` is `eyJ…` encoded): what a
    // Kubernetes `data:` value or a variable holding `base64(jwt)` carries.
    for caps in ENCODED_JWT.captures_iter(line.as_bytes()) {
        let m = caps.get(1)?;
        let Some(decoded) = base64_text(&line[m.start()..m.end()]) else {
            continue;
        };
        let found = JWT
            .captures(decoded.as_bytes())
            .and_then(|c| c.get(1))
            .is_some_and(|t| t.start() == 0 && issued_jwt(&decoded[t.start()..t.end()]));
        if found {
            return Some(hit("secret-jwt", m.start(), m.end()));
        }
    }
    None
}

/// Whether a JWT-shaped text is a token a server issued: not jwt.io's
/// documented example ("John Doe") whole (a token that only borrows its
/// signature carries a payload someone wrote), not a placeholder, and
/// headed by a JOSE header.
fn issued_jwt(token: &str) -> bool {
    token != JWT_IO_EXAMPLE && !placeholder(token) && jose_header(token)
}

/// A JSON Web Token's first part decodes to its JOSE header, a JSON object
/// holding one of the header parameters RFC 7515, 7516 and 7518 register
/// (`alg`, `typ`, `kid`, or `apu`, `x5t`, …); a token whose head does not
/// decode so is mangled (`eyJhbasdGciOiJIUadd…`) or cut, not one a server
/// issued.
fn jose_header(token: &str) -> bool {
    const PARAMETERS: &[&str] = &[
        "alg", "typ", "kid", "enc", "cty", "crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256",
        "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c", "b64", "ppt", "url", "nonce", "svt",
    ];
    let Some(head) = token.split('.').next().and_then(base64_bytes) else {
        return false;
    };
    let head = String::from_utf8_lossy(&head);
    let head = head.trim();
    head.starts_with('{')
        && head.ends_with('}')
        && PARAMETERS.iter().any(|p| {
            head.match_indices(p)
                .any(|(i, _)| head[..i].ends_with('"') && head[i + p.len()..].starts_with('"'))
        })
}

/// Whether a JSON Web Token found in a test or documentation could still
/// grant something: its payload is not a textbook example (jwt.io's "John
/// Doe", RFC 7519's `"iss":"joe"`, `"foo":"bar"`) and it has not expired.
pub(super) fn credible_jwt(token: &str) -> bool {
    let Some(payload) = token.split('.').nth(1).and_then(base64_bytes) else {
        return true;
    };
    let payload = String::from_utf8_lossy(&payload);
    let example = [
        "John Doe",
        "\"1234567890\"",
        "\"foo\":\"bar\"",
        "\"iss\":\"joe\"",
        "example.com",
        "example.org",
    ]
    .iter()
    .any(|e| payload.contains(e));
    !(example || expired(&payload) == Some(true))
}

/// Whether a token payload's `"exp"` (seconds since 1970) is in the past.
fn expired(payload: &str) -> Option<bool> {
    let at = payload.find("\"exp\":")? + 6;
    let digits: String = payload[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let exp: u64 = digits.parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(exp < now)
}

fn url_credentials(line: &str, code: bool) -> Option<Hit> {
    for caps in URL_CREDENTIALS.captures_iter(line.as_bytes()) {
        let (user, pass) = (caps.get(1)?, caps.get(2)?);
        let password = &line[pass.start()..pass.end()];
        let username = &line[user.start()..user.end()];
        if reference(password) || placeholder(password) || whole_word_placeholder(password) {
            continue;
        }
        if password.chars().count() < 3 || username.starts_with('%') {
            continue;
        }
        // `a%20secret`: prose spelled as a URL (a docstring's example of
        // percent-escaping), not a password anyone typed into one.
        if percent_decoded(password).contains(char::is_whitespace) {
            continue;
        }
        // A service's default account, the same word twice (`postgres:postgres`,
        // `guest:guest`): what its image documents, in every local setup.
        if username.eq_ignore_ascii_case(password) {
            continue;
        }
        // Oracle's demo account, in every SQLAlchemy and JDBC example.
        if username.eq_ignore_ascii_case("scott") && password.eq_ignore_ascii_case("tiger") {
            continue;
        }
        return Some(hit("secret-url-credentials", pass.start(), pass.end()));
    }
    // A token as the user part: `https://<token>@push.fury.io/…`.
    for caps in URL_TOKEN_USER.captures_iter(line.as_bytes()) {
        let user = caps.get(1)?;
        // A Sentry DSN (`https://<public key>@o1.ingest.sentry.io/5179260`)
        // only lets events in: Sentry documents it as safe to ship in an
        // app's code. (A deployment's settings still keep it private.)
        let host = line[user.end()..]
            .trim_start_matches('@')
            .split(['/', ':', '"', '\'', ' '])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        // Its shape: a 32-digit hex key, then the project's number last
        // (`http://894b…@localhost:8000/2` in a client's tests).
        let user_text = &line[user.start()..user.end()];
        let project = line[user.end()..]
            .split(['"', '\'', ' ', '`'])
            .next()
            .and_then(|url| url.rsplit_once('/'))
            .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        let dsn = user_text.len() == 32 && lower_hex(user_text) && project;
        if code && (host == "sentry.io" || host.ends_with(".sentry.io") || dsn) {
            continue;
        }
        if strong_random(user_text) {
            return Some(hit("secret-url-credentials", user.start(), user.end()));
        }
    }
    None
}

fn header_or_cli(line: &str) -> Option<Hit> {
    for re in [&*AUTH_HEADER, &*BARE_BEARER] {
        for caps in re.captures_iter(line.as_bytes()) {
            let m = caps.get(1)?;
            let value = &line[m.start()..m.end()];
            // `Basic Z2FyYmFnZQ==` ("garbage"): text that is no `user:password`
            // pair, a test of a malformed header.
            let basic = line[..m.start()]
                .trim_end()
                .to_ascii_lowercase()
                .ends_with("basic");
            let malformed = basic
                && base64_text(value.trim_matches(['"', '\''])).is_some_and(|t| !t.contains(':'));
            if reference(value) || placeholder(value) || wordy(value) || malformed {
                continue;
            }
            return Some(hit("secret-auth-header", m.start(), m.end()));
        }
    }
    for caps in CURL_USER.captures_iter(line.as_bytes()) {
        let m = caps.get(2)?;
        let value = &line[m.start()..m.end()];
        // `docker run -u 1000:1000` is a uid and a gid.
        let ids = value.bytes().all(|b| b.is_ascii_digit());
        // `xxx:yyy`: the password is what must not be a placeholder.
        let pass = value
            .trim_matches(['"', '\''])
            .split_once(':')
            .map_or(value, |(_, p)| p.trim_matches(['"', '\'']));
        if pass.is_empty() {
            // `curl -u sk_…:` (Stripe's style): a token as the user name,
            // no password; a short user name is only a user name.
            let user = caps.get(1)?;
            if strong_random(&line[user.start()..user.end()]) {
                return Some(hit("secret-auth-header", user.start(), user.end()));
            }
            continue;
        }
        if ids
            || reference(value)
            || placeholder(value)
            || whole_word_placeholder(value)
            || placeholder(pass)
            || pass.bytes().all(|b| b == pass.as_bytes()[0])
        {
            continue;
        }
        return Some(hit("secret-auth-header", m.start(), m.end()));
    }
    // `docker login -u me -p …`, `mysql -u root -p…`, `psexec … -u A -p …`:
    // a password option beside a user option.
    let lower = line.to_ascii_lowercase();
    let user_option = lower.contains(" -u ") || lower.contains("--user");
    if user_option {
        for caps in CLI_PASSWORD.captures_iter(line.as_bytes()) {
            let m = caps.get(1)?;
            let value = &line[m.start()..m.end()];
            // `docker run -p 127.0.0.1:8080:80` publishes a port; a value
            // spliced from variables (`'"${PORT}"'`) is not a literal.
            let port_mapping = value
                .trim_start_matches(['"', '\''])
                .starts_with(|c: char| c.is_ascii_digit())
                && value.contains(':');
            // `mkdir -p /tmp/go-cache` later on the line: a path.
            let path = value
                .trim_start_matches(['"', '\''])
                .starts_with(['/', '.', '~']);
            if reference(value)
                || placeholder(value)
                || whole_word_placeholder(value)
                || port_mapping
                || path
                || value.contains("${")
                || value.contains("$(")
            {
                continue;
            }
            return Some(hit("secret-auth-header", m.start(), m.end()));
        }
    }
    let caps = SSHPASS.captures(line.as_bytes())?;
    let m = caps.get(1)?;
    let value = &line[m.start()..m.end()];
    (!reference(value) && !placeholder(value))
        .then(|| hit("secret-auth-header", m.start(), m.end()))
}

/// A password given as an option to a tool that encrypts, signs or logs in
/// to a database (`keytool -storepass`, `openssl … -passout pass:`,
/// `zip -P`, `7z a -p…`, `mysql -uroot -p…`): which options carry one
/// depends on the tool.
fn tool_password(line: &str) -> Option<Hit> {
    let admin = ADMIN_GATE
        .is_match(line)
        .then(|| ADMIN_PASSWORD.captures_iter(line.as_bytes()));
    for caps in admin.into_iter().flatten() {
        let Some(m) = caps.iter().skip(1).flatten().next() else {
            continue;
        };
        let value = &line[m.start()..m.end()];
        if !reference(value)
            && !placeholder(value)
            && !whole_word_placeholder(value)
            && !value.starts_with(['$', '%'])
        {
            return Some(hit("secret-auth-header", m.start(), m.end()));
        }
    }
    if !TOOL_GATE.is_match(line) {
        return None;
    }
    let lower = line.to_ascii_lowercase();
    for caps in TOOL_PASSWORD.captures_iter(line.as_bytes()) {
        let (Some(all), Some(m)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        let option = line[all.start()..m.start()].trim();
        // `-k`, `-P` and `-p…` mean a password to openssl, zip and 7z only.
        let fits = match option.trim_end_matches(['"', '\'']) {
            "-k" => lower.contains("openssl "),
            "-P" => lower.contains("zip "),
            "-p" => lower.contains("7z "),
            _ => true,
        };
        let value = &line[m.start()..m.end()];
        if !fits || reference(value) || placeholder(value) || whole_word_placeholder(value) {
            continue;
        }
        return Some(hit("secret-auth-header", m.start(), m.end()));
    }
    if !lower.contains("mysql") && !lower.contains("mariadb") {
        return None;
    }
    for caps in MYSQL_PASSWORD.captures_iter(line.as_bytes()) {
        let m = caps.get(1)?;
        let value = &line[m.start()..m.end()];
        if reference(value) || placeholder(value) || whole_word_placeholder(value) {
            continue;
        }
        return Some(hit("secret-auth-header", m.start(), m.end()));
    }
    None
}

// ---------------------------------------------------------- assignments

/// What a name says its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    /// A password or passphrase: any non-placeholder literal is one.
    Password,
    /// A key, token or secret: the value must also look random.
    Secret,
    /// Only a provider's name (`deepgram = …`): only that provider's
    /// format counts.
    ContextOnly,
}

/// A value assigned to a credential's name: where it is and how it was
/// written.
struct Assigned<'a> {
    kind: NameKind,
    name: &'a str,
    value: &'a str,
    start: usize,
    quoted: bool,
}

fn assignment(
    line: &str,
    words: &[usize],
    above: Option<&str>,
    owned: Option<(&str, &str)>,
    code: bool,
) -> Option<Hit> {
    // `ConvertTo-SecureString '…' -AsPlainText`, `NetworkCredential("u", "p")`,
    // `jwt.sign(payload, '…')` (the signing secret, inline), an HMAC's key
    // (`crypto.createHmac('sha256', '…')`, Python's `hmac.new(b'…', …)`),
    // `<input type="password" value="…">`.
    let calls = line.contains("SecureString")
        || line.contains("NetworkCredential")
        || line.contains("jwt.")
        || line.contains("createHmac")
        || line.contains("hmac.new");
    if let Some(c) = calls
        .then(|| PLAIN_PASSWORD_CALL.captures(line.as_bytes()))
        .flatten()
    {
        if let Some(m) = (1..=5).find_map(|i| c.get(i)) {
            let v = &line[m.start()..m.end()];
            if !placeholder(v) && !whole_word_placeholder(v) {
                return Some(hit("secret-assignment", m.start(), m.end()));
            }
        }
    }
    let html = line.contains("<input") || line.contains("<INPUT");
    if let Some(input) = html
        .then(|| HTML_PASSWORD_INPUT.find(line.as_bytes()))
        .flatten()
    {
        let tag = &line[input.start()..input.end()];
        if let Some(c) = HTML_VALUE.captures(tag.as_bytes()) {
            let m = c.get(1)?;
            let v = &tag[m.start()..m.end()];
            if !placeholder(v) && !whole_word_placeholder(v) && !reference(v) {
                return Some(hit(
                    "secret-assignment",
                    input.start() + m.start(),
                    input.start() + m.end(),
                ));
            }
        }
    }
    credential_pair(line).or_else(|| {
        assignments(line, words, owned, code)
            .iter()
            .filter(|a| a.kind != NameKind::Password || !anonymous_login(line, above))
            .find_map(|a| judge(a, code))
    })
}

regex!(
    ANONYMOUS_USER,
    r#"(?i)(?:user|username|login|uid)["']?\s*(?:=|:|=>)\s*["']?anonymous\b"#
);

/// The user beside the password, on its line or the one above, is
/// `anonymous`: anonymous FTP and LDAP take any password (by convention an
/// e-mail address), so it guards nothing.
fn anonymous_login(line: &str, above: Option<&str>) -> bool {
    [Some(line), above].into_iter().flatten().any(|l| {
        l.as_bytes()
            .windows(9)
            .any(|w| w.eq_ignore_ascii_case(b"anonymous"))
            && ANONYMOUS_USER.is_match(l.as_bytes())
    })
}

/// A user name and a password side by side in a call that authenticates:
/// `auth=('admin', '…')` (requests), `HTTPBasicAuth("admin", "…")`,
/// `login("admin", "…")`, `UsernamePasswordCredentials("admin", "…")`,
/// Java's `PasswordAuthentication("admin", "…".toCharArray())`.
fn credential_pair(line: &str) -> Option<Hit> {
    // Two string literals side by side (`"…", "…"`): most lines are spared
    // the regex.
    let b = line.as_bytes();
    let quote = |c: &u8| matches!(c, b'"' | b'\'');
    let side_by_side = memchr::memchr_iter(b',', b).any(|i| {
        i > 0 && quote(&b[i - 1]) && b[i + 1..].iter().find(|c| **c != b' ').is_some_and(quote)
    });
    if !side_by_side {
        return None;
    }
    let caps = CREDENTIAL_PAIR.captures(line.as_bytes())?;
    let (user, pass) = (caps.get(1)?, caps.get(2)?);
    let (user, v) = (
        &line[user.start()..user.end()],
        &line[pass.start()..pass.end()],
    );
    let fake = reference(v)
        || placeholder(v)
        || whole_word_placeholder(v)
        || same_as_name(user, v)
        || env_name(v);
    (!fake).then(|| hit("secret-assignment", pass.start(), pass.end()))
}

/// A wallet's recovery phrase (BIP-39 mnemonic): 12, 15, 18, 21 or 24
/// lower-case words assigned to a name that says mnemonic or phrase
/// (`MNEMONIC="abandon … about"`, `seed_phrase: …`). Whoever reads it owns
/// the wallet, as with a private key.
fn recovery_phrase(line: &str) -> Option<Hit> {
    let lower = line.to_ascii_lowercase();
    let at = ["mnemonic", "phrase", "seed"]
        .iter()
        .filter_map(|w| lower.find(w))
        .min()?;
    let b = line.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
    let mut start = at;
    while start > 0 && is_name(b[start - 1]) {
        start -= 1;
    }
    let mut end = at;
    while end < b.len() && is_name(b[end]) {
        end += 1;
    }
    let op = operator(line, start, end)?;
    let mut from = op;
    while from < b.len() && matches!(b[from], b' ' | b'\t' | b'"' | b'\'' | b'`') {
        from += 1;
    }
    let run = b[from..]
        .iter()
        .take_while(|c| c.is_ascii_lowercase() || **c == b' ')
        .count();
    let phrase = line[from..from + run].trim_end();
    let words: Vec<&str> = phrase.split(' ').collect();
    let whole = b
        .get(from + phrase.len())
        .is_none_or(|c| !c.is_ascii_alphanumeric());
    (whole
        && matches!(words.len(), 12 | 15 | 18 | 21 | 24)
        && words.iter().all(|w| (3..=8).contains(&w.len())))
    .then(|| hit("secret-assignment", from, from + phrase.len()))
}

/// Names that say which provider's credential they hold, for providers that
/// document one exact format: the words the name must hold, and the rows of
/// the format. A value of another shape under such a name is not that
/// credential (a cut or made-up example: `AWS_SECRET_ACCESS_KEY` of 42 hex
/// digits, a Telegram token with a 4-digit bot id), so the generic shapes
/// do not take it either.
const STRICT_FORMATS: &[(&[&str], &[&str])] = &[
    // AWS: a secret access key is 40 base64 characters.
    (&["aws", "secret"], &["aws-secret-access-key"]),
    // Telegram: `<bot id>:<35 characters>`.
    (&["telegram"], &["telegram-bot-token"]),
    // Meraki: 40 lower-case hex digits.
    (&["meraki"], &["meraki-key"]),
    // Twitch: a stream key is `live_`, the channel's number, 30 characters.
    (&["twitch", "stream"], &["twitch-stream-key"]),
    // Sumo Logic: a 14-character access id (`su…`) and a 64-character key.
    (&["sumo"], &["sumologic-access-id", "sumologic-access-key"]),
    // Cloudflare: a key is the global API key (37 hex digits, or `cfk_…`),
    // an Origin CA key (`v1.0-…`), or an API token (40 characters).
    (
        &["cloudflare", "key"],
        &[
            "cloudflare-global-key",
            "cloudflare-global-key-cfk",
            "cloudflare-origin-ca-key",
            "cloudflare-api-token",
        ],
    ),
    // Jira and Confluence: a Cloud API token (24 characters, or `ATATT3…`)
    // or a Data Center personal access token (44 characters of base64).
    (&["jira", "token"], ATLASSIAN_TOKENS),
    (&["confluence", "token"], ATLASSIAN_TOKENS),
];

const ATLASSIAN_TOKENS: &[&str] = &[
    "atlassian-api-token-legacy",
    "atlassian-api-token",
    "atlassian-dc-pat",
];

/// The value is not of the one format the name's provider documents.
fn off_strict_format(name: &str, value: &str) -> bool {
    let segs = segments(name);
    STRICT_FORMATS.iter().any(|(words, ids)| {
        words.iter().all(|w| segs.iter().any(|s| s.starts_with(w)))
            && !ids.iter().any(|id| {
                PROVIDERS
                    .iter()
                    .position(|p| p.id == *id)
                    .is_some_and(|i| provider_regex(i).is_match(value.as_bytes()))
            })
    })
}

/// Whether an assigned value is a credential: the format of a provider the
/// name mentions decides first, then the value's own shape.
fn judge(a: &Assigned, code: bool) -> Option<Hit> {
    let end = a.start + a.value.len();
    for i in providers_named(a.name) {
        let p = &PROVIDERS[i];
        if provider_regex(i).is_match(a.value.as_bytes())
            && !placeholder_token(p, a.value)
            && !reference(a.value)
        {
            return Some(Hit {
                rule: p.rule,
                start: a.start,
                end,
                provider: Some(p.name),
                live: false,
            });
        }
    }
    let bare = a.value.trim_matches(['"', '\'', '\\']);
    // `fakeToken`, `invalid_password`, `nonMatchingToken`: the name says
    // the value is not a working credential (a test's wrong input).
    let declared_fake = segments(a.name).iter().any(|s| {
        matches!(
            s.to_ascii_lowercase().as_str(),
            "fake" | "dummy" | "mock" | "bogus" | "invalid" | "wrong" | "incorrect" | "bad" | "non"
        )
    });
    (!declared_fake
        && credential_value(a, code)
        && (a.kind == NameKind::Password || !typed_in_character(bare))
        && !off_strict_format(a.name, a.value)
        && !off_listed_format(bare)
        && !off_listed_suffix(bare))
    .then(|| hit("secret-assignment", a.start, end))
}

/// A value alone on its line (from `at`) under a name that ends the line
/// above, `head` (the line above up to its operator): `api_token:` then
/// `  'q8Zr…'` (YAML, a wrapped assignment).
fn continued_value(head: &str, line: &str, at: usize, code: bool) -> Option<Hit> {
    let head = head.trim_end().trim_end_matches(['"', '\'']);
    let name = head
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
        .next()?
        .trim_matches(['.', '-']);
    let kind = match name_kind(name) {
        Some(kind) => kind,
        None if contextual_name(name) => NameKind::ContextOnly,
        None => return None,
    };
    let (value, start, quoted) = read_value(line, at)?;
    // Nothing but the value (and a closing quote, bracket or comma) on the
    // line.
    let after = line[start + value.len()..].trim_end();
    let rest = after
        .trim_start_matches(['"', '\'', '`'])
        .trim_end_matches([',', ';', ')', '}']);
    if !rest.is_empty() || (!quoted && code) {
        return None;
    }
    // `snowflake.password=` above `jdbc.snowflake.url=`, `ApiKey=` above
    // `generateApiKeyMethodName=`: an empty setting, then the next
    // setting's name (base64's `=` padding ends no name made of words).
    if !quoted && value.ends_with(['=', ':']) {
        let next = value.trim_end_matches(['=', ':']);
        if value.contains('.') && identifier_chain(next) || identifier_of_words(next) {
            return None;
        }
    }
    judge(
        &Assigned {
            kind,
            name,
            value,
            start,
            quoted,
        },
        code,
    )
}

/// Every `name <op> value` in the line whose name is a credential's.
/// `owned` is the name of the block a `value:` or `default` line belongs
/// to (see [`owner_name`]) and what follows the line's operator.
fn assignments<'a>(
    line: &'a str,
    words: &[usize],
    owned: Option<(&'a str, &'a str)>,
    code: bool,
) -> Vec<Assigned<'a>> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    if let Some((name, rest)) = owned {
        if let Some(kind) = name_kind(name) {
            let offset = line.len() - rest.len();
            if let Some((value, start, quoted)) = read_value(line, offset) {
                out.push(Assigned {
                    kind,
                    name,
                    value,
                    start,
                    quoted,
                });
            }
        }
    }
    // Each credential word the prefilter saw, widened to the name around it.
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    let mut last_end = 0;
    for &at in words.iter().take(16) {
        if at < last_end {
            continue;
        }
        let mut start = at;
        while start > 0 && is_name(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at;
        while end < bytes.len() && is_name(bytes[end]) {
            end += 1;
        }
        last_end = end;
        let m = start..end;
        let raw = &line[m.start..m.end];
        // A Java system property: `-Dsonar.login=…` names `sonar.login`.
        let raw = match raw.strip_prefix("-D") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
            _ => raw,
        };
        let name = raw.trim_start_matches(['.', '-']);
        let name_start = m.end - name.len();
        let name = name.trim_end_matches(['.', '-']);
        // Java's `password.equals("…")`: compared with a literal, as by `==`
        // (`key.equals(Names.CODE)` compares with a constant).
        let (name, equals) = match name.rsplit_once('.') {
            Some((head, method))
                if EQUALS_METHODS.contains(&method)
                    && line[name_start + name.len()..]
                        .strip_prefix('(')
                        .is_some_and(|arg| arg.trim_start().starts_with(['"', '\''])) =>
            {
                (head, Some(name_start + name.len() + 1))
            }
            _ => (name, None),
        };
        let op_end = equals.or_else(|| operator(line, name_start, name_start + name.len()));
        // With no operator after the name, a literal may be compared with it
        // from its left (`"…" == password`).
        let yoda = op_end.is_none();
        let read = match op_end {
            Some(op_end) => read_value(line, op_end).map(|v| (v, op_end)),
            None => literal_compared_before(line, name_start)
                .map(|(value, start)| ((value, start, true), name_start)),
        };
        let Some(((value, start, quoted), op_end)) = read else {
            continue;
        };
        // `"Server=db;User Id=sa;Password=…;"` in code: a name inside a
        // string literal, its value text of the same string. Settings in a
        // string are `name=value` (a connection string, a DSN, a command's
        // flag); `name: value` there is a header or a label. Not a quoted
        // name, `{"password": read()}`, nor text with escapes (a protocol's
        // bytes).
        let inside = !yoda
            && !line[name_start + name.len()..].starts_with(['"', '\'', '`'])
            && (line[name_start + name.len()..op_end].trim() == "="
                // Spring's `@Value("${db.password:…}")`: a placeholder's default.
                || line[..name_start].ends_with("${"))
            && !value.contains('\\')
            && in_string_literal(&line[..name_start]);
        // `Debugln("Failed to parse username and password:", err)`: a label
        // inside a string, which the quote after it closes.
        if code && quoted && !yoda && !line[name_start + name.len()..].starts_with(['"', '\'', '`'])
        {
            let next = line[op_end..].trim_start().bytes().next();
            if next.is_some() && next == open_quote(&line[..name_start]) {
                continue;
            }
        }
        let quoted = quoted || code && inside;
        // In code a bare right-hand side is an expression (`key = map.get(k)`),
        // unless it is a number or stands as random on its own (a setting
        // pasted into code: `lookerToken = a5eeniwpqp5w9q85pp5h` names no
        // variable anyone writes): settled before the name is looked at.
        if code && !quoted && !value.bytes().all(|b| b.is_ascii_digit()) && !bare_literal(value) {
            continue;
        }
        let kind = match name_kind(name) {
            Some(kind) => kind,
            None if contextual_name(name) && !record_id(name) => NameKind::ContextOnly,
            // Docker's and npm's `"auth": "<base64 of user:password>"`; npm's
            // `_auth` holds nothing else, whatever it decodes to.
            None if name == "_auth" && !wordy(value)
                || name == "auth" && basic_credentials(value).is_some() =>
            {
                NameKind::Secret
            }
            None => continue,
        };
        let op = match (yoda, equals) {
            (false, None) => &line[name_start + name.len()..op_end],
            _ => "==",
        };
        if op.trim() == "(" && !credential_call(name) {
            continue;
        }
        // `$this->form->password('confirmation', $values)`: a literal first
        // argument followed by variables names a field. (Followed by another
        // literal it may be a user and a password: `Credentials("u", "p")`.)
        if op.trim() == "(" && quoted && {
            let after = line.get(start + value.len()..).unwrap_or("");
            let after = after.strip_prefix(['"', '\'', '`']).unwrap_or(after);
            after.trim_start().strip_prefix(',').is_some_and(|next| {
                !next.trim_start().starts_with(['"', '\'', '`']) && !next.trim().is_empty()
            })
        } {
            continue;
        }
        // `password('Ably Key', 'Enter your Ably key')`: a prompt's label,
        // words with a space, then more arguments (a user and a password
        // are handed in as single words).
        if op.trim() == "(" && quoted && value.contains(' ') && {
            let after = line.get(start + value.len()..).unwrap_or("");
            let after = after.strip_prefix(['"', '\'', '`']).unwrap_or(after);
            after.trim_start().starts_with(',')
        } {
            continue;
        }
        // `urn:k8s:secret:name:key1`: a part of a name whose parts are
        // joined by `:`, not a setting.
        // (`//registry/:_password=…` in `.npmrc` scopes a setting.)
        let before = &line.as_bytes()[..name_start];
        let after = &line.as_bytes()[name_start + name.len()..];
        if before.len() >= 2
            && before[before.len() - 1] == b':'
            && before[before.len() - 2].is_ascii_alphanumeric()
            && after.first() == Some(&b':')
            && after.get(1).is_some_and(u8::is_ascii_alphanumeric)
        {
            continue;
        }
        // `private OAuth2AuthorizationService service;`: an access modifier
        // and a type, not a name and its value.
        if code && name == "private" && op.trim().is_empty() {
            continue;
        }
        let compared = op.contains("==") || op.contains("!=");
        // `typeof passOnNoPatterns !== "boolean"` checks a type.
        if compared && line[..name_start].trim_end().ends_with("typeof") {
            continue;
        }
        // A property list's `<key>foldingStartMarker</key>` names the value
        // on the next line; it is not one.
        if name == "key" && line[..name_start].ends_with('<') {
            continue;
        }
        // `PubKey{ID: "123", Key: "CDjX…"}`: the key of a public-key value.
        if name.eq_ignore_ascii_case("key") && holds_public_key(&line[..name_start]) {
            continue;
        }
        // SQL's `FOREIGN KEY ("project_id")`, `PRIMARY KEY (id)`: a table's
        // key, named by the word before it.
        if name.eq_ignore_ascii_case("key") && lookup_key_before(&line[..name_start]) {
            continue;
        }
        out.push(Assigned {
            kind,
            name,
            value,
            start,
            quoted,
        });
    }
    out
}

/// The methods that compare a string with another (Java's, Kotlin's, C#'s).
const EQUALS_METHODS: &[&str] = &["equals", "equalsIgnoreCase", "contentEquals", "Equals"];

/// `if ("…" == password)`, `"…".equals(password)`, `'…' === $token`: a
/// literal compared with the name from its left (a Yoda condition): the
/// literal, and where it starts.
fn literal_compared_before(line: &str, name_start: usize) -> Option<(&str, usize)> {
    let before = line[..name_start].trim_end_matches(['$', '@']).trim_end();
    let literal = EQUALS_METHODS
        .iter()
        .find_map(|m| before.strip_suffix('(')?.strip_suffix(m)?.strip_suffix('.'))
        .or_else(|| {
            ["===", "!==", "==", "!="]
                .iter()
                .find_map(|op| before.strip_suffix(op))
                .map(str::trim_end)
        })?;
    let quote = literal.bytes().last().filter(|q| b"\"'`".contains(q))?;
    let body = &literal[..literal.len() - 1];
    let open = body.rfind(char::from(quote))?;
    let value = &body[open + 1..];
    (!value.is_empty()).then_some((value, open + 1))
}

/// The word before a bare `key` says what kind of lookup key it is
/// (`FOREIGN KEY`, `PRIMARY KEY`, `UNIQUE KEY`).
fn lookup_key_before(before: &str) -> bool {
    let Some(head) = before.strip_suffix(' ') else {
        return false;
    };
    let word = head.rsplit([' ', '\t', '(', ',']).next().unwrap_or("");
    LOOKUP_KEY.contains(&word.to_ascii_lowercase().as_str())
}

/// The text before a bare `key` names a public key's type or constructor:
/// `PubKey{`, `PublicKey(`, `public_key = dict(`.
fn holds_public_key(before: &str) -> bool {
    // The last 48 characters (counted as characters: a name in any script
    // is cut between two of them).
    let start = before.char_indices().rev().nth(47).map_or(0, |(i, _)| i);
    let tail = before[start..].to_ascii_lowercase();
    ["pubkey", "publickey", "public_key", "pub_key", "public-key"]
        .iter()
        .any(|w| tail.contains(w))
}

/// A call that gives a credential its value names the credential last:
/// `password("…")`, `setApiKey("…")`, `config.token('…')`; a method of a
/// credential's holder (`passwordEncoder.encode("admin1")`) may take it too.
/// A function named for something else does not: `parseKeyChords("every(2)")`.
fn credential_call(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    // `keyring.get_password("svc", "user")` reads one by its name.
    let reads = segments(last).first().is_some_and(|verb| {
        matches!(
            verb.as_str(),
            "get"
                | "read"
                | "load"
                | "fetch"
                | "find"
                | "lookup"
                | "delete"
                | "remove"
                | "del"
                | "has"
                | "contains"
                | "new"
                | "create"
                | "generate"
                | "derive"
                | "is"
                | "check"
                | "validate"
                | "verify"
                | "clear"
                | "reset"
                // `scorePassword("3bYW…")`: a password handed in to be judged.
                | "score"
                | "rate"
                | "estimate"
                | "evaluate"
                | "measure"
        )
    });
    if reads {
        return false;
    }
    // `password.encode("latin1")`, `token.startsWith("Bearer")`: a method of
    // the value itself, handed something else.
    const VALUE_METHODS: &[&str] = &[
        "encode",
        "decode",
        "strip",
        "lstrip",
        "rstrip",
        "trim",
        "lower",
        "upper",
        "format",
        "replace",
        "split",
        "join",
        "startswith",
        "endswith",
        "includes",
        "contains",
        "indexof",
        "match",
        "test",
        "compare",
        "concat",
        "slice",
        "substring",
        "substr",
        "padstart",
        "padend",
        "tostring",
        "hex",
        "update",
        "digest",
    ];
    if last.len() < name.len() && VALUE_METHODS.contains(&last.to_ascii_lowercase().as_str()) {
        return false;
    }
    if last.len() < name.len() {
        return true;
    }
    segments(last)
        .last()
        .is_some_and(|s| name_kind(s).is_some() || s.ends_with("password"))
}

/// A keyboard shortcut: modifiers and a key joined by `+` or `-`
/// (`shift+tab`, `ctrl+alt+delete`, `Cmd-Shift-P`).
fn keyboard_chord(v: &str) -> bool {
    const MODIFIERS: &[&str] = &[
        "ctrl",
        "control",
        "shift",
        "alt",
        "option",
        "opt",
        "cmd",
        "command",
        "meta",
        "super",
        "mod",
        "cmdorctrl",
        "commandorcontrol",
    ];
    let parts: Vec<&str> = v.split(['+', '-']).collect();
    parts.len() >= 2
        && parts.len() <= 5
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| MODIFIERS.contains(&p.to_ascii_lowercase().as_str()))
        && parts.last().is_some_and(|k| !k.is_empty() && k.len() <= 12)
}

/// What follows `value:` or `default =` at the start of `line`: a value
/// whose name is on the line above. Also an XML `<value>` element's text,
/// named by the element around it (Spring's `<property name="password">`
/// over `<value>…</value>`, .NET's `<setting name="Password" …>`), on its
/// line or the line above.
fn value_below_name(line: &str) -> Option<&str> {
    // Most lines: not `value` nor `default` (judged on bytes first: this
    // runs on every line).
    let indent = line
        .bytes()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    let t = line[indent..].trim_start_matches("- ");
    if t.starts_with('<') {
        let at = t.find("<value>").or_else(|| t.find("<Value>"))?;
        return Some(&t[at + "<value>".len()..]);
    }
    let quoted = t.strip_prefix('"');
    let t = quoted.unwrap_or(t);
    if !t.starts_with(['v', 'V', 'd', 'D']) {
        return None;
    }
    let key = t.bytes().take_while(u8::is_ascii_alphabetic).count();
    if !["value", "default", "defaultvalue"]
        .iter()
        .any(|k| t[..key].eq_ignore_ascii_case(k))
    {
        return None;
    }
    let rest = &t[key..];
    let rest = if quoted.is_some() {
        rest.strip_prefix('"')?
    } else {
        rest
    };
    // `value: …` (YAML, JSON), `default = …` (Terraform; not `==`).
    rest.strip_prefix(':').or_else(|| {
        rest.trim_start()
            .strip_prefix('=')
            .filter(|r| !r.starts_with('='))
    })
}

/// The name a `value:` or `default` line gives its value: the name on the
/// line above (`- name: DB_PASSWORD` then `value: …` in Kubernetes and
/// Compose), or the key of the block it sits in, the nearest line above
/// indented less (`ParentMasterPassword:` over its `Type:` and `Default:`
/// in a CloudFormation template, `"adminPassword": {` over its
/// `"defaultValue"` in an ARM template, `variable "db_password" {` over its
/// `default = …` in Terraform).
fn owner_name<'a>(lines: &[&'a str], index: usize) -> Option<&'a str> {
    // `<property name="password"><value>…`: the element on the line.
    if let Some(name) = xml_element_name(lines[index]) {
        return Some(name);
    }
    let above = lines[index.checked_sub(1)?];
    if let Some(name) = manifest_name(above) {
        return Some(name);
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let own = indent(lines[index]);
    let parent = lines[index.saturating_sub(10)..index]
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .find(|l| indent(l) < own)?;
    // `variable "db_password" {`, and a list item's `- name: DB_PASSWORD`
    // with other keys between it and its `value:`.
    if let Some(name) = manifest_name(parent) {
        return Some(name);
    }
    // `ParentMasterPassword:`, `"adminPassword": {`: a key opening a block.
    let key = parent
        .trim()
        .trim_end_matches('{')
        .trim_end()
        .strip_suffix(':')?
        .trim_start_matches("- ")
        .trim_matches(['"', '\'']);
    (!key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)))
    .then_some(key)
}

regex!(
    INLINE_PAIR,
    r#"(?i)(?:^|[^A-Za-z0-9_])["']?(?:name|key)["']?\s*[:=]\s*["']?([A-Za-z0-9_.\-]+)["']?\s*,\s*["']?value["']?\s*[:=]"#
);

/// A name and its value as two fields of one entry on one line:
/// `{"name": "DB_PASSWORD", "value": "…"}` (an ECS task definition, a
/// Kubernetes manifest in JSON), `{ name = "db_password", value = "…" }`
/// (Terraform), `{"key": "password", "value": "…"}` (key/value lists).
/// The name, and the line's rest from the value on.
fn inline_pair(line: &str) -> Option<(&str, &str)> {
    if !line.contains("alue") {
        return None;
    }
    let c = INLINE_PAIR.captures(line.as_bytes())?;
    let (name, all) = (c.get(1)?, c.get(0)?);
    Some((&line[name.start()..name.end()], &line[all.end()..]))
}

/// The name a manifest entry or a Terraform variable gives on its first
/// line: `- name: DB_PASSWORD`, `variable "db_password" {`.
fn manifest_name(line: &str) -> Option<&str> {
    if let Some(name) = xml_element_name(line) {
        return Some(name);
    }
    if let Some(rest) = line.trim_start().strip_prefix("variable ") {
        let rest = rest.trim_start().strip_prefix('"')?;
        return rest.split('"').next();
    }
    let t = line
        .trim_start()
        .trim_start_matches("- ")
        .trim_start_matches('{')
        .trim();
    // `name:` (Kubernetes, Compose), `Name:` (ECS in CloudFormation),
    // `key:` (key/value lists).
    let t = t.strip_prefix('"').unwrap_or(t);
    let word = t.bytes().take_while(u8::is_ascii_alphabetic).count();
    if !(t[..word].eq_ignore_ascii_case("name") || t[..word].eq_ignore_ascii_case("key")) {
        return None;
    }
    let rest = t[word..]
        .strip_prefix(':')
        .or_else(|| t[word..].strip_prefix("\":"))?
        .trim();
    Some(
        rest.trim_end_matches(',')
            .trim_matches(|c| c == '"' || c == '\''),
    )
}

/// The `name` (or `key`) attribute of the XML element that opens `line`
/// (`<property name="password">`, `<entry key="db.password">`), unless the
/// element is a `<value>` itself.
fn xml_element_name(line: &str) -> Option<&str> {
    let t = line.trim_start().strip_prefix('<')?;
    if !t.starts_with(|c: char| c.is_ascii_alphabetic()) || t.starts_with("value") {
        return None;
    }
    let tag = &t[..t.find('>')?];
    let (_, rest) = tag
        .split_once(" name=\"")
        .or_else(|| tag.split_once(" key=\""))?;
    rest.split('"').next().filter(|n| !n.is_empty())
}

/// The end of the operator after a name at `start..end`, if one follows:
/// `=`, `:`, `:=`, `=>`, `==`, `<name>`, `("…"` (a setter), and a space where
/// the syntax uses one (`--password x`, Dockerfile `ENV`, `.netrc`).
fn operator(line: &str, start: usize, end: usize) -> Option<usize> {
    let b = line.as_bytes();
    let before = line[..start].trim_end();
    let mut i = end;
    // Closing quotes and brackets of `"name"`, `['name']`, `[:name]`.
    while i < b.len() && matches!(b[i], b'"' | b'\'' | b']' | b'`' | b'\\') {
        i += 1;
    }
    let quoted_name = i > end;
    let spaced = i < b.len() && b[i].is_ascii_whitespace();
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let rest = &line[i..];
    // Make's `?=`, `::=`, `:::=`; PHP's `.=`; Ruby's `||=`, JavaScript's `??=`.
    for op in [":::=", "::=", "?=", ".=", "||=", "??="] {
        if rest.starts_with(op) {
            return Some(i + op.len());
        }
    }
    if rest.starts_with(":=") || rest.starts_with("=>") || rest.starts_with("===") {
        return Some(i + if rest.starts_with("===") { 3 } else { 2 });
    }
    if rest.starts_with("==") || rest.starts_with("!=") {
        return Some(
            i + if rest.starts_with("!==") || rest.starts_with("===") {
                3
            } else {
                2
            },
        );
    }
    if rest.starts_with('=') || rest.starts_with(':') {
        if rest.starts_with("::") {
            return None;
        }
        let after = i + 1;
        // `const KEY: &str = "…"`, `password: str = Field(…)`: skip a type.
        if rest.starts_with(':') {
            let tail = &line[after..];
            if let Some(eq) = tail.find('=') {
                let ty = tail[..eq].trim();
                let is_type = !ty.is_empty()
                    && !ty.starts_with(['"', '\''])
                    && ty
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "&<>[]:_ '|,.?".contains(c))
                    && !tail[eq..].starts_with("=>")
                    && !tail[eq..].starts_with("==")
                    // `key: dG9rOj…A=`: base64 padding, not `name: Type = value`.
                    && !tail[eq + 1..].trim().is_empty();
                if is_type {
                    return Some(after + eq + 1);
                }
            }
        }
        return Some(after);
    }
    // Go's `var apiToken string = "…"`, `const key Key = "…"`: skip the type.
    // Bicep's `param adminPassword string = '…'`.
    let declared =
        before.ends_with("var") || before.ends_with("const") || before.ends_with("param");
    if declared && spaced {
        let ty = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || b"_.[]*".contains(c))
            .count();
        let tail = rest[ty..].trim_start();
        if ty > 0 && tail.starts_with('=') && !tail.starts_with("==") {
            return Some(line.len() - tail.len() + 1);
        }
    }
    if before.ends_with('<') && rest.starts_with('>') {
        return Some(i + 1);
    }
    // `<Pass encoding="base64">…</Pass>` (FileZilla): an element with
    // attributes, its text the value.
    if before.ends_with('<') && spaced {
        if let Some(close) = rest.find('>') {
            let attrs = &rest[..close];
            let simple = !attrs.contains(['<', '/'])
                && attrs.matches('"').count() % 2 == 0
                && attrs.contains("=\"");
            if simple && rest[close + 1..].contains("</") {
                return Some(i + close + 1);
            }
        }
    }
    if rest.starts_with("(\"") || rest.starts_with("('") {
        return Some(i + 1);
    }
    // `os.environ.get("SECRET_KEY", "literal")`, `ENV.fetch("TOKEN", "…")`:
    // the default is a literal credential.
    // Android's `buildConfigField "String", "API_KEY", "\"…\""` and
    // `resValue "string", "api_key", "…"`.
    let android = line.contains("buildConfigField") || line.contains("resValue");
    if quoted_name && rest.starts_with(',') && (android || env_lookup(before) || setter(before)) {
        let arg = rest[1..].trim_start();
        return Some(line.len() - arg.len() + default_keyword(arg));
    }
    // Java's `Map.of("password", "…")`, `Map.entry(…)`, and C#'s collection
    // initializer `{ "AccountKey", "…" }`: a name and its value as a pair of
    // literals. (A brace also opens arrays of names, `{"password", "token"}`:
    // there only a value random on its own counts.)
    if quoted_name && rest.starts_with(',') {
        let opened = before.trim_end_matches(['"', '\'']).trim_end();
        let value = rest[1..].trim_start();
        let literal = value
            .strip_prefix(['"', '\''])
            .and_then(|v| v.split(['"', '\'']).next())
            .unwrap_or("");
        if map_builder(opened) || opened.ends_with('{') && strong_random(literal) {
            return Some(i + 1);
        }
    }
    // `process.env.API_KEY || "…"`, `ENV["TOKEN"] ?? "…"`, PHP's
    // `getenv('KEY') ?: '…'`: a setting read with a literal fallback.
    if let Some(op) = fallback_operator(before, &line[start..end], rest) {
        return Some(i + op);
    }
    // `<add key="ApiKey" value="…"/>`, `<Setting Name="ApiKey" Value="…"/>`,
    // `<entry key="api_key">…</entry>`.
    let attribute = |a: &str| {
        let b = before.as_bytes();
        b.len() >= a.len() && b[b.len() - a.len()..].eq_ignore_ascii_case(a.as_bytes())
    };
    if quoted_name && (attribute("key=\"") || attribute("name=\"")) {
        // Android's `<meta-data android:name="…API_KEY" android:value="…"/>`.
        let r = rest.trim_start();
        let r = r.strip_prefix("android:").unwrap_or(r);
        let value = r
            .as_bytes()
            .get(..6)
            .filter(|v| v.eq_ignore_ascii_case(b"value="));
        if value.is_some() {
            return Some(line.len() - r.len() + 6);
        }
        if let Some(text) = r.strip_prefix('>') {
            if text.contains("</") && !text.starts_with('<') {
                return Some(line.len() - text.len());
            }
        }
    }
    // SQL: `ALTER USER app WITH PASSWORD '…'`, `CREATE ROLE r LOGIN PASSWORD '…'`.
    let sql =
        spaced && rest.starts_with('\'') && line[start..end].eq_ignore_ascii_case("password") && {
            let upper_before = before.to_ascii_uppercase();
            [" USER ", " ROLE ", " LOGIN"]
                .iter()
                .any(|w| upper_before.contains(w))
        };
    if sql {
        return Some(i);
    }
    let whole = line.trim_start();
    // A flag's dash touches its name (`--password pw`, `-password pw`); a
    // dash and a space open a list item or a clause (`- Password fields`).
    let flag = &line[..start];
    let space_syntax = flag.ends_with("--")
        || flag.ends_with(" -")
        || whole.starts_with("ENV ")
        || whole.starts_with("ARG ")
        || line[start..end].eq_ignore_ascii_case("password")
            && (before.is_empty() || before.contains("login"))
            && !prose_word(rest);
    if spaced && space_syntax && !rest.is_empty() {
        return Some(i);
    }
    // `owlbot TOKEN 8a5d…`, `scaleway token 56bd…`, `shutterstock token -
    // '35rq…'` (a note's): a space (or `is`, or a dash) and a value random
    // enough to stand on its own; checked in `credential_value`.
    let word = rest
        .strip_prefix("is ")
        .or_else(|| rest.strip_prefix("- "))
        .unwrap_or(rest);
    // `The default password is 'blooberry'`: prose that quotes a password.
    let quoted_password = word.len() < rest.len()
        && word.starts_with(['"', '\''])
        && PASSWORD_WORDS.contains(&line[start..end].to_ascii_lowercase().as_str());
    (spaced
        && !word.is_empty()
        && (quoted_password
            || strong_random(
                word.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches(['"', '\'']),
            )))
    .then(|| line.len() - word.len())
}

/// `combination.`, `reset,`: a lower-case word closing a clause, so the
/// `password` before it opens a sentence, not a `.netrc` entry.
fn prose_word(rest: &str) -> bool {
    let word = rest.split_whitespace().next().unwrap_or("");
    word.strip_suffix(['.', ',', ';', ':', '!', '?'])
        .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `before` ends in a call that stores a value under a name:
/// `define('DB_PASSWORD', '…')` (PHP, WordPress), `config.set("api_key", …)`,
/// `map.put("token", …)`, `headers.add('X-Api-Key', …)`.
fn setter(before: &str) -> bool {
    let call = before
        .trim_end_matches(['"', '\''])
        .trim_end()
        .strip_suffix('(')
        .unwrap_or("")
        .trim_end();
    let name = call
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    // Gradle (Groovy) calls without parentheses: `property "sonar.login", "…"`.
    let groovy = before
        .trim_end_matches(['"', '\''])
        .strip_suffix(' ')
        .map(|b| b.trim_start().to_ascii_lowercase());
    if groovy.is_some_and(|g| matches!(g.as_str(), "property" | "systemproperty")) {
        return true;
    }
    matches!(
        name.as_str(),
        "define"
            | "set"
            | "put"
            | "add"
            | "store"
            | "insert"
            | "setdefault"
            | "setitem"
            | "property"
            | "setproperty"
            | "systemproperty"
    )
}

/// Whether the end of `before` lies inside a string literal: an odd number
/// of unescaped double quotes before it (or, with none, of single quotes).
fn in_string_literal(before: &str) -> bool {
    open_quote(before).is_some()
}

/// The quote of the string literal `before` leaves open, if any.
fn open_quote(before: &str) -> Option<u8> {
    let unescaped = |q: u8| {
        let b = before.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] == q && (i == 0 || b[i - 1] != b'\\'))
            .count()
    };
    match unescaped(b'"') {
        0 => (unescaped(b'\'') % 2 == 1).then_some(b'\''),
        n => (n % 2 == 1).then_some(b'"'),
    }
}

/// `Map.of(`, `ImmutableMap.of(`, `Map.entry(`, `Map.ofEntries(entry(`:
/// a call that builds a map from names and values.
fn map_builder(opened: &str) -> bool {
    let Some(call) = opened.strip_suffix('(') else {
        return false;
    };
    let path = call
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let (receiver, method) = path.rsplit_once('.').unwrap_or(("", &path));
    method == "entry" || receiver.ends_with("map") && matches!(method, "of" | "entry")
}

/// After a setting read from the environment (`process.env.API_KEY`, read
/// as one name, `ENV["TOKEN"]`, `getenv('KEY')`), the length of a fallback
/// operator (`||`, `??`, `?:`) whose right side is the default, if `rest`
/// opens with one.
fn fallback_operator(before: &str, name: &str, rest: &str) -> Option<usize> {
    // (`getenv('KEY')`: past the call's closing parenthesis.)
    let r = rest.strip_prefix(')').map_or(rest, str::trim_start);
    let op = ["||", "??", "?:"]
        .into_iter()
        .find(|op| r.starts_with(op))?;
    let lower = before.to_ascii_lowercase();
    let read = name.to_ascii_lowercase().contains("env.")
        || lower.ends_with("env.")
        || lower.ends_with("env[\"")
        || lower.ends_with("env['")
        || lower.ends_with("env(\"")
        || lower.ends_with("env('");
    read.then_some(rest.len() - r.len() + op.len())
}

/// `before` ends in a call that reads a setting by name with a default:
/// `get("`, `getenv('`, `GetEnvOrDefault("`, `ENV.fetch("`.
fn env_lookup(before: &str) -> bool {
    let Some(call) = before
        .strip_suffix("(\"")
        .or_else(|| before.strip_suffix("('"))
    else {
        return false;
    };
    // The call and what it is called on: django-environ's `env.str("…"`.
    let path = call
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = path.rsplit('.').next().unwrap_or("");
    name == "get"
        || name == "fetch"
        || path.contains("env")
        || name.contains("property")
        || name.contains("setting")
        || name.contains("config")
}

/// The length of a keyword that names a lookup's default, `default=` or
/// `fallback=` (python-decouple's `config("KEY", default="…")`), if `arg`
/// opens with one.
fn default_keyword(arg: &str) -> usize {
    let word = arg
        .bytes()
        .take_while(|b| b.is_ascii_alphabetic() || *b == b'_')
        .count();
    let keyword = ["default", "fallback", "default_value", "defaultvalue"]
        .iter()
        .any(|k| arg[..word].eq_ignore_ascii_case(k));
    if !keyword {
        return 0;
    }
    let after = arg[word..].trim_start();
    match after.strip_prefix(['=', ':']) {
        Some(value) if !after.starts_with("==") => arg.len() - value.len(),
        _ => 0,
    }
}

/// Random enough to be a credential without any syntax around it: long,
/// letters and digits mixed, high entropy for its alphabet, not words.
/// Whether the credential in a generic hit (an assignment's value, a URL's
/// `user:password`, a header's `Basic base64(user:password)` or token) looks
/// generated rather than typed as an example: at least 12 characters of
/// letters and digits, random, not words, not a placeholder.
pub(super) fn credible_example(hit: &str) -> bool {
    // `"areallysupersecretpassword235"`, `superpassword1234`: a person
    // spelling the word out while writing a fixture.
    let spelled = |v: &str| {
        let lower = v.to_ascii_lowercase();
        ["password", "passwd", "secret", "s3cr3t", "p@ss"]
            .iter()
            .any(|w| lower.contains(w))
    };
    let v = hit.trim_matches(|c| c == '"' || c == '\'' || c == ',' || c == ';');
    // `Basic dXNlcjpwYXNz` → `user:pass`.
    let decoded = basic_credentials(v.rsplit(' ').next().unwrap_or(v));
    let v = decoded.as_deref().unwrap_or(v);
    // `user:password@host` or `user:password` → the password.
    let v = v.rsplit_once('@').map_or(v, |(creds, _)| creds);
    let v = v.rsplit_once("://").map_or(v, |(_, rest)| rest);
    let v = v.split_once(':').map_or(v, |(_, pass)| pass);
    let decoded = percent_decoded(v);
    let v = decoded.as_str();
    v.len() >= 16
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_alphabetic())
        && !wordy(v)
        && !placeholder(v)
        && !typed_in_order(v)
        && !spelled(v)
        // `dGhlIHNhbXBsZSBub25jZQ==` is "the sample nonce": words, encoded.
        && !base64_text(v).is_some_and(|t| t.contains(' '))
        && randomness(v) >= 0.75
}

/// Eight characters or more that follow each other in the alphabet or on
/// the number row (`ABCDEFGHIJ…`, `12345678`): typed by a person writing an
/// example, never drawn at random.
fn typed_in_order(v: &str) -> bool {
    let b = v.as_bytes();
    let mut run = 1;
    for i in 1..b.len() {
        let next = b[i] == b[i - 1].wrapping_add(1) && b[i].is_ascii_alphanumeric();
        run = if next { run + 1 } else { 1 };
        if run >= 8 {
            return true;
        }
    }
    false
}

/// `v` with its `%XX` escapes decoded (lossily; a stray `%` stays).
fn percent_decoded(v: &str) -> String {
    if !v.contains('%') {
        return v.to_string();
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `user:password` from the base64 of HTTP Basic credentials.
fn basic_credentials(b64: &str) -> Option<String> {
    base64_text(b64).filter(|text| text.contains(':'))
}

/// The printable text a base64 value encodes, if it encodes text. One
/// line break at the end is dropped: `echo user:pass | base64` encodes it.
fn base64_text(b64: &str) -> Option<String> {
    let mut text = String::from_utf8(base64_bytes(b64)?).ok()?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text.chars()
        .all(|c| c.is_ascii_graphic() || c == ' ')
        .then_some(text)
}

/// The bytes a base64 value (standard or URL-safe alphabet, padded or not)
/// encodes.
fn base64_bytes(b64: &str) -> Option<Vec<u8>> {
    let body = b64.trim_end_matches('=');
    if body.len() < 4 || body.len() > 4096 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

/// A generated key with characters typed into it (`F7CTEQ0FK6?SPCSG…`,
/// `…tZB@oCxc…`, `…gSD%c^`, `=0UXRQ2DBF5r…`): letters and
/// digits, and one or two places holding characters that no key alphabet
/// holds (key alphabets add at most `-_./+=:~` to letters and digits, and
/// `=` does not open a value). A secret drawn from an alphabet with symbols has
/// them all along; symbols in one or two places of a long run of letters
/// and digits mark a look-alike, as scanners' test fixtures write them.
/// (Passwords are not judged so.) A `|` after a number or a qualified name
/// joins an id to its token (Laravel Sanctum's `49|07KJ…`, Convex's
/// `prod:name|eyJ…`).
fn typed_in_character(v: &str) -> bool {
    let b = v.as_bytes();
    let id_joint = |i: usize| {
        let head = &b[..i];
        !head.is_empty() && (head.iter().all(u8::is_ascii_digit) || head.contains(&b':'))
    };
    let stray = |i: usize, c: u8| {
        !(c.is_ascii_alphanumeric()
            || b"-_./+:~".contains(&c)
            || c == b'=' && i > 0
            || c == b'|' && id_joint(i))
    };
    // Places: strays at most one character apart are one place (`%c^`).
    let (mut odd, mut places, mut last) = (0usize, 0usize, None::<usize>);
    for (i, &c) in b.iter().enumerate() {
        if stray(i, c) {
            odd += 1;
            if last.is_none_or(|l| i - l > 2) {
                places += 1;
            }
            last = Some(i);
        }
    }
    let alnum = b.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    b.len() >= 16 && (1..=2).contains(&places) && odd <= 6 && alnum * 4 >= b.len() * 3
}

/// A bare word in code that can only be a pasted value: hex digits mixing
/// letters and digits (a digest, a key, a UUID), or random on its own and
/// not an identifier made of words (`sha256HashOfTheSecretKey2`).
fn bare_literal(v: &str) -> bool {
    if v.len() < 20 {
        return false;
    }
    let body = || v.bytes().filter(|&b| b != b'-');
    let hex = body().count() >= 20
        && body().all(|b| b.is_ascii_hexdigit())
        && body().any(|b| b.is_ascii_digit())
        && body().any(|b| b.is_ascii_alphabetic());
    (hex || strong_random(v) && !identifier_of_words(v)) && !typed_run(v)
}

/// Fourteen or more consecutive letters or digits in order
/// (`sk_abcdefghijklmnopqrstuvwxyz123`): typed by hand, not drawn at random.
fn typed_run(v: &str) -> bool {
    const MIN: usize = 14;
    let b = v.as_bytes();
    let mut run = 1;
    for w in b.windows(2) {
        let next = w[1] == w[0].wrapping_add(1)
            && (w[0].is_ascii_lowercase() && w[1].is_ascii_lowercase()
                || w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()
                || w[0].is_ascii_digit() && w[1].is_ascii_digit());
        run = if next { run + 1 } else { 1 };
        if run >= MIN {
            return true;
        }
    }
    false
}

/// `v` is an identifier whose camel-case or snake-case parts, digits aside,
/// read mostly as words.
fn identifier_of_words(v: &str) -> bool {
    let identifier = v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !identifier {
        return false;
    }
    let parts: Vec<String> = segments(v)
        .iter()
        .map(|s| s.chars().filter(|c| c.is_ascii_alphabetic()).collect())
        .collect();
    let letters: usize = parts.iter().map(String::len).sum();
    let in_words: usize = parts
        .iter()
        .filter(|p| p.len() >= 2 && word_like(p))
        .map(String::len)
        .sum();
    letters > 0 && in_words * 10 >= letters * 6
}

fn strong_random(v: &str) -> bool {
    let v = v.trim_matches(|c| c == '"' || c == '\'' || c == ',' || c == ';');
    v.len() >= 20
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_alphabetic())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+/=.".contains(c))
        && !wordy(v)
        && !placeholder(v)
        && randomness(v) >= 0.8
}

/// The literal after an operator: (value, start, quoted). Quoted strings
/// end at their closing quote; bare ones at whitespace or punctuation.
fn read_value(line: &str, from: usize) -> Option<(&str, usize, bool)> {
    let b = line.as_bytes();
    let mut i = from;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    // YAML's explicit tags: `password: !!str …`, `key: !!binary <base64>`.
    for tag in ["!!str ", "!!binary "] {
        if line[i..].starts_with(tag) {
            i += tag.len();
        }
    }
    // String prefixes: r"…", b'…', @"…", u"…"; f"…" is interpolation,
    // unless nothing is interpolated (`f"s3cr3t"`).
    let literal_f = |q: u8| {
        b[i] == b'f'
            && !b[i + 2..]
                .iter()
                .take_while(|&&c| c != q)
                .any(|&c| c == b'{')
    };
    if i + 1 < b.len()
        && matches!(b[i + 1], b'"' | b'\'')
        && (matches!(b[i], b'r' | b'b' | b'u' | b'@') || literal_f(b[i + 1]))
    {
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    if i + 1 < b.len() && b[i] == b'(' && matches!(b[i + 1], b'"' | b'\'') {
        i += 1;
    }
    // `\"value\"` inside a string literal (JSON in a string).
    if i + 1 < b.len() && b[i] == b'\\' && matches!(b[i + 1], b'"' | b'\'') {
        let q = &line[i..i + 2];
        let start = i + 2;
        let end = line[start..].find(q).map_or(line.len(), |e| start + e);
        return Some((&line[start..end], start, true));
    }
    let q = b[i];
    if matches!(q, b'"' | b'\'' | b'`') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j] != q {
            if b[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        let end = j.min(b.len());
        // `\"` inside JSON-in-a-string: the value is between escaped quotes.
        let value = line.get(start..end)?;
        let value = value.strip_suffix('\\').unwrap_or(value);
        let (value, start) = match value.strip_prefix("\\\"") {
            Some(v) => (v.split("\\\"").next().unwrap_or(v), start + 2),
            None => (value, start),
        };
        return Some((value, start, true));
    }
    let start = i;
    // A setting alone on its line (`.env`'s `SECRET_KEY=r&lv…+qq)=x-!…`,
    // `export TOKEN=…`, `password: …`) runs to the end of the line: there a
    // `&` or a `)` is the value's own. Elsewhere they end it (a URL's
    // `?token=…&v=1`, a call's `connect(password=…)`).
    // So are the brackets of a generated password (`m{{h}o)p${e]n…`).
    // (Read only when one of them comes up.)
    let alone = || {
        let head = line[..start].trim_start();
        let head = head.strip_prefix("export ").unwrap_or(head).trim_end();
        head.strip_suffix(['=', ':']).is_some_and(|name| {
            let name = name.trim_end();
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
    };
    let mut j = i;
    while j < b.len() && !b[j].is_ascii_whitespace() && !b",;\"'".contains(&b[j]) {
        // `"TOKEN=…\nDEBUG=true"`: an escaped line break inside a string
        // ends the value.
        if b[j] == b'\\' && matches!(b.get(j + 1), Some(b'n' | b'r' | b't')) {
            break;
        }
        let separator = match b[j] {
            b')' | b'}' | b']' | b'<' => !alone(),
            b'&' => !alone() || ends_query_value(&line[j + 1..]),
            _ => false,
        };
        if separator {
            break;
        }
        j += 1;
    }
    let value = line.get(start..j)?;
    (!value.is_empty()).then_some((value, start, false))
}

/// What follows a `&` in a bare value makes it a separator: the next
/// query parameter (`token=…&user=me`), an entity (`&amp;`), a shell's
/// `&&` or `&` before a space. Otherwise the `&` is the value's own.
fn ends_query_value(after: &str) -> bool {
    let name_len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']'))
        .count();
    let first = after.bytes().next();
    first.is_none_or(|c| c.is_ascii_whitespace() || c == b'&')
        || after.starts_with("amp;")
        || name_len > 0 && after[name_len..].starts_with('=')
}

/// Splits a name into lower-case words: `dbPassword` → `db`, `password`;
/// `API_KEY` → `api`, `key`.
fn segments(name: &str) -> Vec<String> {
    // On bytes: a non-ASCII character's bytes are separators, as the
    // character would be.
    let b = name.as_bytes();
    let mut out = Vec::new();
    let mut from = None;
    for i in 0..b.len() {
        let c = b[i];
        if !c.is_ascii_alphanumeric() {
            if let Some(f) = from.take() {
                out.push(name[f..i].to_ascii_lowercase());
            }
            continue;
        }
        // `OAuth2Authorization`: a digit ends a part as a lower-case letter does.
        let boundary = c.is_ascii_uppercase()
            && i > 0
            && (b[i - 1].is_ascii_lowercase()
                || b[i - 1].is_ascii_digit()
                || (b[i - 1].is_ascii_uppercase()
                    && b.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())));
        match from {
            Some(f) if boundary => {
                out.push(name[f..i].to_ascii_lowercase());
                from = Some(i);
            }
            Some(_) => {}
            None => from = Some(i),
        }
    }
    if let Some(f) = from {
        out.push(name[f..].to_ascii_lowercase());
    }
    out
}

const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "pass",
    "pw",
    "passwort",
    "pswd",
    // A Wi-Fi or IPsec pre-shared key (`psk="…"`, `wpa_psk=…`).
    "psk",
];
const SECRET_WORDS: &[&str] = &[
    "private",
    "secret",
    "secrets",
    "token",
    "key",
    "apikey",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "cred",
    "creds",
    "privatekey",
    "accesskey",
    "secretkey",
    "authtoken",
    "accesstoken",
    "apitoken",
    "clientsecret",
    "authkey",
    "pat",
    "signingkey",
    "masterkey",
];
/// A last word that makes the name describe something about a credential,
/// not hold one (`token_url`, `password_length`, `key_id`).
const NOT_A_VALUE: &[&str] = &[
    "event",
    "events",
    "listener",
    "callback",
    "binding",
    "bindings",
    "chars",
    "characters",
    "alphabet",
    "charset",
    "id",
    "ids",
    "name",
    "names",
    "type",
    "types",
    "length",
    "len",
    "size",
    "count",
    "file",
    "files",
    "path",
    "dir",
    "url",
    "uri",
    "endpoint",
    "env",
    "var",
    "field",
    "fields",
    "header",
    "prefix",
    "suffix",
    "format",
    "ttl",
    "timeout",
    "expiry",
    "expires",
    "expiration",
    "at",
    "hash",
    "hashed",
    "policy",
    "mode",
    "enabled",
    "disabled",
    "required",
    "regex",
    "pattern",
    "label",
    "placeholder",
    "hint",
    "min",
    "max",
    "version",
    "algorithm",
    "alg",
    "provider",
    "location",
    "ref",
    "reference",
    "arn",
    "mount",
    "rotation",
    "kind",
    "class",
    "index",
    "bits",
    "usage",
    "scope",
    "scopes",
    "param",
    "parameter",
    "method",
    "source",
    "template",
    "cache",
    "lifetime",
    "duration",
    // A measure of the credential's use: `TOKEN_THROTTLE_RATE = "1000/min"`.
    "rate",
    "interval",
    "period",
    "threshold",
    "delay",
    "retries",
    "attempts",
    "quota",
    "age",
    "window",
    "seconds",
    "secs",
    "minutes",
    "hours",
    "days",
    "validity",
    "limit",
    "generator",
    "filename",
    "store",
    "reset",
    "changed",
    "confirmation",
    "confirm",
    "strength",
    "input",
    "prompt",
    "error",
    "errors",
    "message",
    "button",
    "form",
    "visible",
    "valid",
    "validator",
    "validation",
    "manager",
    "service",
    "handler",
    "helper",
    "store",
    "rule",
    "rules",
    "set",
    "list",
    "map",
    "str",
    "bytes",
    "len",
    "encoding",
    "encrypted",
    "type",
    "dialog",
    "view",
    "text",
    "policy",
    "host",
    "port",
    "user",
    "username",
    "login",
    "email",
    "secretref",
    "keyref",
    "from",
    "ref",
];
/// Words before `key` that make it a lookup key, not a credential.
const LOOKUP_KEY: &[&str] = &[
    "schema",
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "idempotency",
    "unique",
    "composite",
    "map",
    "dict",
    "lookup",
    "object",
    "row",
    "column",
    "registry",
    "translation",
    "i18n",
    "message",
    "locale",
    "route",
    "hot",
    "shortcut",
    "keyboard",
    "public",
    "pub",
    "group",
    "react",
    "query",
    "bucket",
    "index",
    "config",
    "setting",
    "settings",
    "entry",
    "field",
    "json",
    "dictionary",
    "ssh",
    "gpg",
    "pgp",
    // `gpg --recv-keys C99B11DEB97541F0`: a key's public id.
    "recv",
    // `Sec-WebSocket-Key`: a handshake's nonce.
    "socket",
    "host",
    "product",
    "item",
    "node",
    "api_key_header",
    "parent",
    "child",
    "next",
    "prev",
];

fn name_kind(name: &str) -> Option<NameKind> {
    // `password2`, `static_password01`, `token_v2`: a counter after the
    // word does not change what the name holds.
    let mut segs = segments(name);
    for s in &mut segs {
        let word = s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if word > 0 {
            s.truncate(word);
        }
    }
    let last = segs.last()?;
    // `notAKey`, `not_a_secret`: the name says what the value is not.
    if segs.len() >= 2 && segs[0] == "not" {
        return None;
    }
    // `secret_id` (Vault AppRole) is a secret; `client_id` is not.
    let secret_id = last == "id" && segs.len() >= 2 && segs[segs.len() - 2] == "secret";
    if (NOT_A_VALUE.contains(&last.as_str()) && !secret_id)
        || segs.iter().any(|s| {
            // Public values, and anti-forgery tokens a page hands to every visitor.
            matches!(
                s.as_str(),
                "public"
                    | "pub"
                    | "csrf"
                    | "xsrf"
                    | "authenticity"
                    | "nonce"
                    | "csrftoken"
                    | "xsrftoken"
            )
            // `creation_token`, `idempotency_token` (AWS): a request's id
            // that makes a retry safe, not a credential.
            || matches!(s.as_str(), "creation" | "idempotency")
        })
    {
        return None;
    }
    // `rootpass`, `dbpass`, `storepass`: a holder's name run into `pass`,
    // but not an English word or a graphics pipeline's `subpass`.
    const NOT_PASS: &[&str] = &[
        "bypass",
        "compass",
        "encompass",
        "surpass",
        "trespass",
        "overpass",
        "underpass",
        "subpass",
        "multipass",
        "renderpass",
        "firstpass",
        "secondpass",
        "onepass",
        "twopass",
        "singlepass",
        "thirdpass",
        "finalpass",
        "nopass",
    ];
    // `hwScaleFilterFirstPass`: the word before `pass` makes it one of the
    // same words (a filter's first pass), written in camel case.
    let ordinal_pass = |i: usize| {
        segs[i] == "pass" && i > 0 && NOT_PASS.contains(&format!("{}pass", segs[i - 1]).as_str())
    };
    let password = segs.iter().enumerate().any(|(i, s)| {
        PASSWORD_WORDS.contains(&s.as_str()) && !ordinal_pass(i)
            || s.ends_with("password")
            || s.ends_with("passwords")
            || s.ends_with("passwd")
            || s.ends_with("pwd")
            || s.len() > 4 && s.ends_with("pass") && !NOT_PASS.contains(&s.as_str())
    });
    if password {
        return Some(NameKind::Password);
    }
    // `clarifai_api = …`, `deepgram-api: …`: a service's name and `api`
    // last name what the service is called with.
    if last == "api" && segs.len() >= 2 {
        return Some(NameKind::Secret);
    }
    let secret_at = segs.iter().position(|s| {
        // `openai-notiktoken`: OpenAI's tokenizer, a package's name.
        if s.ends_with("tiktoken") {
            return false;
        }
        SECRET_WORDS.contains(&s.as_str())
            || [
                "secret",
                "token",
                "apikey",
                "privatekey",
                "accesskey",
                "secretkey",
            ]
            .iter()
            .any(|w| s.ends_with(w))
    })?;
    let word = segs[secret_at].as_str();
    if matches!(word, "key" | "auth" | "pat")
        && (secret_at > 0 && LOOKUP_KEY.contains(&segs[secret_at - 1].as_str())
            || segs.len() == 1 && word != "key")
    {
        return None;
    }
    Some(NameKind::Secret)
}

fn contextual_name(name: &str) -> bool {
    let b = name.as_bytes();
    CONTEXT
        .0
        .find_overlapping_iter(name)
        .any(|m| whole_word(b, m.start(), m.end()))
}

fn credential_value(a: &Assigned, code: bool) -> bool {
    // A string holding a quoted string (`'"…"'`, `"\"…\""`): the inner one.
    let v = a.value.trim().trim_matches(['"', '\\']);
    let v = if a.quoted {
        v
    } else {
        v.trim_end_matches([',', ';'])
    };
    let n = v.chars().count();
    let min = match a.kind {
        NameKind::Password => 6,
        NameKind::Secret => 8,
        // Outside code only, and only a generated-looking value (below).
        NameKind::ContextOnly if code => return false,
        NameKind::ContextOnly => 24,
    };
    if n < min
        || n > 1000
        || encoded_file(v)
        || reference(v)
        || placeholder(v)
        // A placeholder in base64 (`ZHVtbXkgdGV4dA==`, "dummy text").
        || (v.len() % 4 == 0 || v.ends_with('='))
            && base64_text(v).is_some_and(|t| t.len() >= 4 && placeholder(&t))
        || whole_word_placeholder(v)
        || public_client_id(v)
    {
        return false;
    }
    // `"Пароль"`, `"Contraseña"`, `"Informationsb你好世界"`: a word of a
    // language (a form's label, a translation). Generated keys are ASCII,
    // and passwords typed by hand almost always are.
    if v.chars().any(|c| !c.is_ascii() && c.is_alphabetic()) {
        return false;
    }
    if !a.quoted && code {
        // A bare right-hand side in code is an expression (`self.password`,
        // `token_from(env)`), unless it is a number long enough to be a key
        // or a value random on its own (see `assignments`).
        if !v.chars().all(|c| c.is_ascii_digit()) && !bare_literal(v) {
            return false;
        }
    }
    if !a.quoted && (v.contains('.') && identifier_chain(v) || v.ends_with(':')) {
        return false;
    }
    // `value="'.csrf_token().'"`: the string is closed around code (PHP's
    // or JavaScript's concatenation), not a literal.
    if v.strip_prefix(['\'', '"'])
        .is_some_and(|t| t.trim_start().starts_with(['.', '+']))
        || v.strip_suffix(['\'', '"'])
            .is_some_and(|t| t.trim_end().ends_with(['.', '+']))
    {
        return false;
    }
    // `secret_key: "Optional[str]" = None`: a type, quoted as a forward
    // reference (Python) or in a doc.
    if type_expression(v) {
        return false;
    }
    // `tls.crt: LS0tLS1CRUdJTiBDRVJU…`: a certificate, or a header alone,
    // in base64.
    if public_pem_base64(v) {
        return false;
    }
    // `FfmpegSkipValidationKey = "FFmpeg:novalidation"`: a .NET setting's
    // path, sections in words joined by `:`, names where a value is kept.
    if a.kind == NameKind::Secret && setting_path(v) {
        return false;
    }
    // `"obj.aFunctionCall()"`: a call written in a string (a template's).
    if v.ends_with("()") && identifier_chain(v) {
        return false;
    }
    // `b[mapCtx.Start:len(b)]` (a template's code), `\w+|(?:u/\d+…` (a
    // pattern): an expression or a regular expression, not a literal.
    // (`m{{h}o)p${e]nob(…`, whose brackets cross, is a generated password.)
    let expression = !a.quoted && v.contains(['[', '(']) && !brackets_cross(v);
    let pattern = ["\\w", "\\d", "\\s", "(?:", "[0-9", "[a-z", "[A-Z"]
        .iter()
        .any(|m| v.contains(m));
    // `--mocha-test-pass-color: #00d6b2`: a colour.
    let colour = v.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if colour {
        return false;
    }
    // `Authorization: AWS4-HMAC-SHA256 Credential=…, Signature=…`: the
    // scheme of a signed request (its signature is good for one request).
    let algorithm = v.split('-').count() >= 2
        && v.split('-').any(|seg| {
            matches!(
                seg,
                "HMAC"
                    | "SHA1"
                    | "SHA256"
                    | "SHA384"
                    | "SHA512"
                    | "RSA"
                    | "ECDSA"
                    | "AWS4"
                    | "ED25519"
            )
        })
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if expression || pattern || algorithm {
        return false;
    }
    // `…Label:"Password:",rememberMeLabel:"…`: what was read lies between
    // two string literals (a name inside a string), not inside one.
    if v.starts_with([',', ';']) && v.ends_with(':') {
        return false;
    }
    // `"one_time_password": "Engangskode:"`: a form's label.
    let label = v.strip_suffix(':').is_some_and(|text| {
        text.starts_with(|c: char| c.is_uppercase())
            && text.chars().all(|c| c.is_alphabetic() || c == ' ')
    });
    if label {
        return false;
    }
    // `io.jsonwebtoken:jjwt-jackson-0.11.2`: an artifact and its version;
    // `"@nuxtjs/auth-next": "5.0.0-1667386184.dfbbb54"`: a package's.
    if versioned_artifact(v) || a.kind == NameKind::Secret && (numbered_name(v) || version_spec(v))
    {
        return false;
    }
    if path_or_url(v) || host_and_port(v) || v.contains(' ') && a.kind == NameKind::Secret {
        return false;
    }
    // `TOKEN_COLOR = '\x1b[04m\x1b[91m'`: terminal escape codes.
    // (Read before the quotes and backslashes were trimmed off.)
    if super::ANSI_ESCAPES.iter().any(|e| a.value.contains(e)) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    let names_itself = [
        "pass", "pwd", "secret", "token", "apikey", "api_key", "api-key",
    ]
    .iter()
    .any(|w| lower.contains(w))
        // `certSecret: tlssecret`: a secret's name, short, in lower case.
        && (wordy(v)
            || a.kind == NameKind::Secret
                && v.len() <= 12
                && v.bytes().all(|b| b.is_ascii_lowercase()));
    if names_itself || same_as_name(a.name, v) {
        return false;
    }
    // `clarifai_api` names a service, not a credential: only a value that
    // stands as random on its own is one (`slf4j-api:jar` is not).
    if segments(a.name).last().is_some_and(|s| s == "api") && !strong_random(v) {
        return false;
    }
    // `key.WithKeys("shift+tab")`, `keys: "ctrl+n"`: a keyboard shortcut.
    if keyboard_chord(v) {
        return false;
    }
    // `token: "string.quoted.single"` (an editor's scope name),
    // `api_key: "settings.api.key"` (a setting's path): lower-case words
    // joined by dots name something; a key is not spelled that way.
    let dotted_words = v.split('.').count() >= 2
        && v.split('.')
            .all(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    // `expectedKey: "http.github.com.foo.d3514ad1…"`: a name built from a
    // host, a path and a digest (a cache key), not a credential.
    let dotted_name = {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() >= 3
            && parts
                .iter()
                .filter(|p| {
                    p.len() >= 3
                        && p.bytes().all(|b| b.is_ascii_alphabetic())
                        && word_like(&p.to_ascii_lowercase())
                })
                .count()
                >= 2
    };
    if a.kind == NameKind::Secret && (dotted_words || dotted_name) {
        return false;
    }
    // A lone `key` is a map's or a cache's key far more often than a
    // credential's (`key := "uint16-slice"`): only a value random on its
    // own is a key there. (A name compared with a literal is judged as if
    // assigned: `header_key == b"content-length"` names a header, below;
    // `apikey == "m{{h}o)p…"` checks a hard-coded key.)
    let lone_key = code && segments(a.name) == ["key"];
    if a.kind == NameKind::Secret && lone_key && !strong_random(v) {
        return false;
    }
    // `token = 'block_begin'`, `SessionKey: "csrfToken"`, `challenge-123`:
    // a name in snake, kebab or camel case (a number at most after it)
    // names something; a generated key is not spelled in words.
    if a.kind == NameKind::Secret && (identifier_shaped(v) || program_name(v)) {
        return false;
    }
    // `PASSWORD = "SMTPSampler.password"`, `encryption-passwords=
    // "currentSharing.encryptionPasswords"`: a property's path names where
    // a password is kept; `"__jmeter.U_T__"`: an internal attribute's name.
    if a.quoted && (v.contains('.') && program_name(v) || dunder_name(v)) {
        return false;
    }
    // `password VARCHAR(255) NULL`: a column's type in SQL.
    if sql_type(v) {
        return false;
    }
    // `"2.5.29.37.0"` (an OID), `protobuf_key:"bytes,1,opt,name=key"` (a
    // struct tag's options): numbers and dots, or a list, are not a key.
    if a.kind == NameKind::Secret
        && (v.contains('.') && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            || options_list(v))
    {
        return false;
    }
    // `PASSWORD_MODIFY_OID = "1.3.6.1.4.1.4203.1.11.1"`: an OID names
    // something, whatever the name beside it.
    if v.matches('.').count() >= 3 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    match a.kind {
        NameKind::Password => v.split_whitespace().count() <= 2 && !env_name(v),
        NameKind::ContextOnly => one_case_key(v),
        NameKind::Secret => {
            if v.chars().all(|c| c.is_ascii_digit()) {
                return n >= 12 && randomness(v) >= 0.7;
            }
            // A long single token is a key even when an example writes it
            // with a small alphabet (`cbadefcbadefc12d…`): the bar falls
            // with length, for token-shaped values only.
            let token_shaped = n >= 24
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+/=".contains(&b))
                && v.bytes().filter(u8::is_ascii_digit).count() >= 2
                && v.bytes().filter(u8::is_ascii_alphabetic).count() >= 8;
            let bar = if token_shaped { 0.55 } else { 0.7 };
            !wordy(v) && !env_name(v) && randomness(v) >= bar
        }
    }
}

/// A generic type: `Optional[str]`, `Dict[str, Any]`, `List<String>`.
fn type_expression(v: &str) -> bool {
    let Some(open) = v.find(['[', '<']) else {
        return false;
    };
    let close = if v.as_bytes()[open] == b'[' { ']' } else { '>' };
    let (head, args) = (&v[..open], &v[open + 1..]);
    head.starts_with(|c: char| c.is_ascii_uppercase())
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        && args.ends_with(close)
        && args
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" ,._|[]<>".contains(&b))
}

/// Base64 of a PEM block that holds no private key: a certificate or a
/// public key (`LS0tLS1CRUdJTiBDRVJU…`), or a header with nothing under it.
fn public_pem_base64(v: &str) -> bool {
    if !v.starts_with("LS0tLS1CRUdJTi") {
        return false;
    }
    // (`get`: the value may hold other characters past the header.)
    let Some(text) = v.get(..v.len().min(64) / 4 * 4).and_then(base64_bytes) else {
        return false;
    };
    let text = String::from_utf8_lossy(&text);
    !text.contains("PRIVATE") || v.len() < 100
}

/// A configuration key's path in .NET's form: sections of letters joined by
/// `:`, the first capitalised, one of them a word (`Logging:LogLevel`,
/// `FFmpeg:novalidation`). A generated key has digits; `user:pass` pairs
/// are written in lower case.
fn setting_path(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphabetic()))
        && v.starts_with(|c: char| c.is_ascii_uppercase())
        && parts
            .iter()
            .any(|p| p.len() >= 5 && word_like(&p.to_ascii_lowercase()))
}

/// Abbreviations programmers spell without vowels.
const CONSONANT_WORDS: &[&str] = &[
    "csrf", "xsrf", "http", "https", "html", "json", "sql", "url", "xml", "jwt", "tcp", "udp",
    "smtp", "ftp", "sftp", "ldap", "tls", "ssl", "pgp", "gpg", "jdbc", "jms", "ntp", "xpath",
    "dns", "ssh", "rpc", "grpc", "css", "svg", "pdf", "png", "cdn", "cmd", "ctx", "src", "dst",
    "msg", "pkg", "lib", "std", "str", "cfg", "env", "tmp", "dir", "txt", "fn", "btn", "nth",
];

/// Words joined in snake, kebab or camel case, each of three letters or
/// more and spelled like a word, with at most a short number last: `block_begin`, `csrfToken`,
/// `demo_refresh_token_12345`, `challenge-123`.
fn identifier_shaped(v: &str) -> bool {
    let mut parts: Vec<&str> = v.split(['_', '-']).collect();
    if parts
        .last()
        .is_some_and(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        parts.pop();
    }
    let mut words = 0;
    for part in parts {
        let b = part.as_bytes();
        if b.is_empty() || !b.iter().all(u8::is_ascii_alphabetic) {
            return false;
        }
        // camelCase: an upper-case letter opens each word after the first.
        let mut start = 0;
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_uppercase() {
                let word = &b[start..i];
                let tail_lower = word[1..].iter().all(u8::is_ascii_lowercase);
                // Vowels at a word's rate (`script` has one in six).
                let vowels = word.iter().filter(|c| b"aeiouyAEIOUY".contains(c)).count();
                let lower = String::from_utf8_lossy(word).to_ascii_lowercase();
                let spelled = word.len() <= 14
                    && (vowels * 6 >= word.len() && vowels * 10 <= word.len() * 7
                        || CONSONANT_WORDS.contains(&lower.as_str()));
                if word.len() < 3 || !tail_lower || !spelled {
                    return false;
                }
                words += 1;
                start = i;
            }
        }
    }
    words >= 2
}

/// A name in a program, spelled in words: identifiers in snake, kebab,
/// camel or Pascal case, joined by dots (`project_id`, `autoLogin`,
/// `lastDay1`, `XPath.xpath`, `MailerModel.smtpPort`). Each word is spelled
/// (vowels at a word's rate), an acronym in capitals (`SMTP`, `DTD`), a
/// common two-letter word (`id`, `is`, `to`) or a part's leading letter
/// (`XPath`, `eTag`). At least two words; spelled words of four letters or
/// more hold half the letters, and short words are at most half the words.
/// A generated value breaks into unspelled runs and stray letters, or has
/// digits inside a word.
fn program_name(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 4
        || !b[0].is_ascii_alphabetic() && b[0] != b'_'
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(c))
        || v.split('.').any(str::is_empty)
    {
        return false;
    }
    let (mut words, mut short, mut long) = (0, 0, 0);
    let (mut letters, mut spelled_letters) = (0, 0);
    for part in v.split(['_', '-', '.']).filter(|p| !p.is_empty()) {
        // A short number may close a part (`lastDay1`, `v2`), not sit
        // inside it.
        let core = part.trim_end_matches(|c: char| c.is_ascii_digit());
        let p = core.as_bytes();
        if p.is_empty() && part.len() <= 2 {
            continue;
        }
        if p.is_empty() || part.len() - core.len() > 2 || !p.iter().all(u8::is_ascii_alphabetic) {
            return false;
        }
        let capitals = p.iter().all(u8::is_ascii_uppercase);
        letters += p.len();
        // Words start at a capital after a lower-case letter, or at the
        // last capital of a run followed by lower case (`SMTPSampler`).
        let mut start = 0;
        for i in 1..=p.len() {
            let boundary = i == p.len()
                || p[i].is_ascii_uppercase()
                    && (p[i - 1].is_ascii_lowercase()
                        || p.get(i + 1).is_some_and(u8::is_ascii_lowercase));
            if !boundary {
                continue;
            }
            let (word, first) = (&core[start..i], start == 0);
            start = i;
            words += 1;
            let acronym = word.bytes().all(|c| c.is_ascii_uppercase()) && word.len() <= 5;
            if word.len() <= 2 {
                // `XPath`, `eTag`; `project_id`, `isPublic`, `last_dl_type`.
                const SHORT: &[&str] = &[
                    "id", "is", "to", "of", "by", "on", "in", "at", "no", "up", "db", "ui", "io",
                    "os", "ip", "dl", "ok", "or", "if", "as", "do", "go", "js", "ts",
                ];
                let known = if word.len() == 1 {
                    first
                } else {
                    SHORT.contains(&word.to_ascii_lowercase().as_str())
                };
                if !known {
                    return false;
                }
                short += 1;
                continue;
            }
            let lower = word.to_ascii_lowercase();
            let vowels = lower.bytes().filter(|c| b"aeiouy".contains(c)).count();
            // `MARKUP_DTD`: a constant's name spells its words in capitals.
            let one_case = word[1..].bytes().all(|c| c.is_ascii_lowercase()) || capitals;
            // Vowels at a word's rate: one in six at least (`scroll`,
            // `strength`), four in five at most (`audio`).
            let spelled = one_case
                && lower.len() <= 20
                && (vowels * 6 >= lower.len() || vowels >= 1 && lower.len() <= 8)
                && vowels * 5 <= lower.len() * 4;
            if spelled && lower.len() >= 4 {
                long += 1;
                spelled_letters += word.len();
            } else if !spelled && !acronym && !CONSONANT_WORDS.contains(&lower.as_str()) {
                return false;
            }
        }
    }
    words >= 2 && long >= 1 && short * 2 <= words && spelled_letters * 2 >= letters
}

/// `bytes,1,opt,name=key,proto3`: three or more short options separated
/// by commas (a struct tag's, a flag's).
fn options_list(v: &str) -> bool {
    v.split(',').count() >= 3
        && v.split(',').all(|o| {
            !o.is_empty()
                && o.len() <= 16
                && o.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_=-".contains(&c))
        })
}

/// `__jmv_SAME_USER`, `__jmeter.K_DT__`: an internal name, marked by a
/// double underscore at its start.
fn dunder_name(v: &str) -> bool {
    v.len() > 4
        && v.starts_with("__")
        && v[2..].starts_with(|c: char| c.is_ascii_alphabetic())
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// `VARCHAR(255)`, `CHAR(60)`, `TEXT,`: a column's type in SQL.
fn sql_type(v: &str) -> bool {
    let v = v.trim_end_matches(',');
    let (ty, sizes) = match v.split_once('(') {
        Some((ty, rest)) => (ty, rest.strip_suffix(')').unwrap_or(rest)),
        None => (v, "0"),
    };
    !sizes.is_empty()
        && sizes
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b',' || c == b' ')
        && [
            "char",
            "varchar",
            "nvarchar",
            "varchar2",
            "binary",
            "varbinary",
            "text",
            "bytea",
            "blob",
            "string",
        ]
        .contains(&ty.to_ascii_lowercase().as_str())
}

/// A provider's setting (`nytimes: …`, `sendbird = …`) holding a key of a
/// shape its row does not list: letters of one case and digits, 24 to 128
/// of them, random for that alphabet. Hex is left out (commit and content
/// digests sit under such names: `sentry_release`, `heroku_slug_commit`);
/// both cases are [`unnamed_setting`]'s.
fn one_case_key(v: &str) -> bool {
    let b = v.as_bytes();
    let lower = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let upper = b
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.len() - digits;
    let past_hex = b
        .iter()
        .any(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit());
    (24..=128).contains(&b.len())
        && (lower || upper)
        && digits >= 3
        && letters >= 3
        && past_hex
        && !wordy(v)
        && randomness(v) >= 0.8
}

/// `cmp2-qat-1208358310`, `prod-eu-20240131`: short lower-case words and a
/// long number joined by dashes, the way resources, builds and vaults are
/// named; a generated credential is not spelled in parts like these.
fn numbered_name(v: &str) -> bool {
    let number = |p: &str| p.len() >= 6 && p.bytes().all(|b| b.is_ascii_digit());
    v.split('-').nth(2).is_some()
        && v.split('-').any(number)
        && v.split('-').all(|p| {
            number(p)
                || (1..=6).contains(&p.len())
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// `5.0.0-1667386184.dfbbb54`, `^9.0.2`, `~> 1.4`: a version or a range of
/// them (a dependency's, under a package named for a credential).
fn version_spec(v: &str) -> bool {
    let core = v.trim_start_matches(['^', '~', '>', '<', '=', ' ', 'v']);
    let mut parts = core.splitn(3, '.');
    let number = |p: Option<&str>| {
        p.is_some_and(|p| {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0 && (digits == p.len() || p[digits..].starts_with(['-', '+']))
        })
    };
    number(parts.next()) && number(parts.next())
}

/// `jjwt-jackson-0.11.2`, `left-pad@1.3.0`, `langchain==0.1.20`: a name,
/// then a dotted version.
fn versioned_artifact(v: &str) -> bool {
    // `langchain==0.1.20`: a Python requirement.
    let pinned = ["==", ">=", "<=", "~="]
        .iter()
        .find_map(|op| v.split_once(op));
    let (head, version) = match pinned {
        Some(pair) => pair,
        None => {
            let Some(cut) = v.rfind(['-', '@']) else {
                return false;
            };
            (&v[..cut], &v[cut + 1..])
        }
    };
    let dotted = version.split('.').count() >= 2
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    dotted
        && head.starts_with(|c: char| c.is_ascii_alphabetic())
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `API_KEY`, `GITHUB_TOKEN`: the name of a variable, not its value.
fn env_name(v: &str) -> bool {
    v.len() >= 3
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && v.contains('_')
        && {
            let lower = v.to_ascii_lowercase();
            wordy(&lower) || identifier_shaped(&lower)
        }
}

/// The value repeats the name (`token = "token"`, `API_KEY=api_key_value`).
fn same_as_name(name: &str, value: &str) -> bool {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    let (n, v) = (squash(name), squash(value));
    !v.is_empty() && (n.contains(&v) || v.contains(&n) && wordy(value))
}

/// `self.password`, `config.db.secret`: a path of identifiers, none of them
/// random (`s.ZC9Ecf4M5g9o34Q6RkzGsj0z` is a Vault token, not a path).
fn identifier_chain(v: &str) -> bool {
    v.split('.').all(|part| {
        // (`OAuth2ParameterNames` is words in camel case, not random.)
        let random = part.len() >= 16
            && part.chars().any(|c| c.is_ascii_digit())
            && !wordy(part)
            && !camel_words(part)
            && randomness(part) >= 0.8;
        let p = part.trim_end_matches("()");
        !random
            && !p.is_empty()
            && p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == ']')
    })
}

/// `127.0.0.1:1081`, `localhost:6379`: where a proxy or a server is, under
/// a name that says what it guards.
fn host_and_port(v: &str) -> bool {
    let Some((host, port)) = v.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let ipv4 = host.split('.').count() == 4
        && host
            .split('.')
            .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (ipv4 || host == "localhost")
}

fn path_or_url(v: &str) -> bool {
    // `/UwcS…5ak=`: base64 (a WireGuard key) may begin with `/`.
    let base64 = v.len() % 4 == 0 && v.ends_with('=') && strong_random(v);
    v.starts_with('/') && !base64
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("~/")
        || v.contains("://")
        || (v.len() > 2 && v.as_bytes()[1] == b':' && v.as_bytes()[2] == b'\\')
        || [
            ".pem", ".key", ".json", ".txt", ".p12", ".pfx", ".crt", ".yaml", ".yml", ".env",
            ".jks", ".gpg",
        ]
        .iter()
        .any(|e| v.to_ascii_lowercase().ends_with(e))
        || relative_path(v)
        || module_path(v)
}

/// `github.com/containous/go-http-auth`, `golang.org/x/net`: a host, then
/// a path, without a scheme (a Go module's or an image's name).
fn module_path(v: &str) -> bool {
    let Some((host, path)) = v.split_once('/') else {
        return false;
    };
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && (2..=6).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_lowercase())
        && !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// `cms/sites/passwords#edit`, `config/keys/prod`: two or more `/`
/// between words (a route, a relative path), where a base64 key has `/`
/// between random runs.
fn relative_path(v: &str) -> bool {
    // `controller#action` names a route whatever its words look like;
    // short parts are abbreviations (`cms/`, `api/`).
    let (v, route) = v
        .split_once('#')
        .map_or((v, false), |(path, _)| (path, true));
    let parts: Vec<&str> = v.split('/').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b"_-.".contains(&b))
                && (route || p.len() <= 4 || wordy(p))
        })
}

// ------------------------------------------------------- value judgement

/// An interpolation or a reference to where the secret really lives.
fn reference(v: &str) -> bool {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    // `@Microsoft.KeyVault(…)`, `@env.TOKEN`, `@{variables('k')}`: a
    // reference; `@skdsjdk0234!AB` is a password that opens with `@`.
    let at_reference = t.strip_prefix('@').is_some_and(|r| {
        r.contains(['(', '{'])
            || r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b))
    });
    // `m{{h}o)p${e]nob(…}}`: braces in a password, not a template.
    let braces = interpolation(t);
    t.starts_with(['$', '%', '{', '<', '(', '[', '!', '&', '*', '|', '>'])
        // `#{Shellwords.escape(ADMIN_PASSWORD)}`: Ruby's interpolation.
        || t.starts_with("#{")
        || at_reference
        // `urn:k8s:secret:name:key1`: a name in a namespace.
        || lower.starts_with("urn:")
        || t.ends_with('(')
        || braces.unwrap_or_else(|| t.ends_with('}') || t.contains("}}"))
        || [
            "%(",
            "%s",
            "$(",
            "process.env",
            "os.environ",
            "getenv",
            "env(",
            "env[",
            "env.",
            "secretkeyref",
            "vault:",
            "arn:aws:",
            "ref+",
            "sm://",
            "secrets.",
            "credentials(",
            "system.getenv",
            "<%",
            // SOPS ciphertext: `ENC[AES256_GCM,data:…,iv:…,tag:…]`.
            "enc[aes",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

/// A file's bytes in base64 (`data:` payloads, a HAR's response bodies,
/// an inlined image or font), known by the encoding of the format's magic
/// number: RIFF (WebP, WAV), PDF, PNG, GIF, JPEG, ZIP, gzip, XML, SVG,
/// WOFF. No generated key starts so but by a chance of one in millions.
fn encoded_file(v: &str) -> bool {
    const MAGIC: &[&str] = &[
        "UklGR",
        "JVBERi0",
        "iVBORw0KGgo",
        "R0lGOD",
        "/9j/",
        "UEsDB",
        "H4sI",
        "PD94bW",
        "PHN2Zy",
        "d09GR",
        "d09GMg",
    ];
    v.len() >= 64 && MAGIC.iter().any(|m| v.starts_with(m))
}

/// Whether an interpolation in `t` (`${NAME}`, `#{expr}`, `{{ expr }}`)
/// closes its brackets in order, as a template engine would read it
/// (`${DB_PASS:-x}`, `{{ lookup('env', 'X') }}`); `None` when `t` opens
/// none. A generated password may hold `${` or `{{` among its symbols.
fn interpolation(t: &str) -> Option<bool> {
    let b = t.as_bytes();
    let mut opened = false;
    for i in 0..b.len().saturating_sub(1) {
        let from = match &b[i..i + 2] {
            b"{{" => i,
            b"${" | b"#{" => i + 1,
            _ => continue,
        };
        opened = true;
        let mut stack = Vec::new();
        for (j, &c) in b.iter().enumerate().skip(from) {
            if matches!(c, b'{' | b'(' | b'[') {
                stack.push(c);
            } else if let Some(open) = opening(c) {
                if stack.pop() != Some(open) {
                    break;
                }
                if stack.is_empty() {
                    if j > i + 2 {
                        return Some(true);
                    }
                    break;
                }
            }
        }
    }
    opened.then_some(false)
}

/// Whether a closing bracket in `v` meets no opening one of its kind
/// (`h}o)p`): no expression of any language reads so.
fn brackets_cross(v: &str) -> bool {
    let mut stack = Vec::new();
    v.bytes().any(|c| {
        if matches!(c, b'{' | b'(' | b'[') {
            stack.push(c);
            return false;
        }
        opening(c).is_some_and(|open| stack.pop() != Some(open))
    })
}

/// The opening bracket that closing bracket `c` answers.
fn opening(c: u8) -> Option<u8> {
    match c {
        b'}' => Some(b'{'),
        b')' => Some(b'('),
        b']' => Some(b'['),
        _ => None,
    }
}

/// Words that make a value a placeholder wherever they stand in it.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "your_",
    "your-",
    "yourpass",
    "yourtoken",
    "yoursecret",
    "yourkey",
    "yourapi",
    "xxxx",
    "****",
    "…",
    "...",
    "dummy",
    "redacted",
    "notreal",
    "not_real",
    "not-real",
    "not_a_real",
    "0000000",
    "your ",
    "secret_value",
    "token_value",
    "lorem",
    "invalid",
];

// Short words that a long random token contains by chance ("qIMNULLj"):
// they count in a short value, or standing apart (`fake-key`).
const PLACEHOLDER_SHORT_WORDS: &[&str] = &[
    "fake",
    "mock",
    "null",
    "undefined",
    "sample",
    "todo",
    "fixme",
    "here",
    "insert",
    "replace",
    "enter",
    "dummy",
];

/// [`PLACEHOLDER_WORDS`] and [`PLACEHOLDER_SHORT_WORDS`], each found in one
/// pass whatever the case (`placeholder` runs on every value judged).
static PLACEHOLDER_AC: LazyLock<(AhoCorasick, AhoCorasick)> = LazyLock::new(|| {
    let build = |words: &[&str]| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(words)
            .expect("placeholder words build an automaton")
    };
    (build(PLACEHOLDER_WORDS), build(PLACEHOLDER_SHORT_WORDS))
});

/// Text people write in place of a real secret.
fn placeholder(v: &str) -> bool {
    if DOCUMENTED_EXAMPLES.contains(&v) {
        return true;
    }
    let (words, short_words) = &*PLACEHOLDER_AC;
    if words.is_match(v) || angle_bracketed(v) {
        return true;
    }
    // A short word counts in a short value, or standing apart (`fake-key`).
    let b = v.as_bytes();
    let edge = |c: Option<&u8>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    if short_words.find_overlapping_iter(v).any(|m| {
        v.len() < 20 || edge(m.start().checked_sub(1).map(|i| &b[i])) && edge(b.get(m.end()))
    }) {
        return true;
    }
    // One character repeated, or mostly one character.
    let n = v.chars().count().max(1);
    let mut counts = [0usize; 128];
    let mut top = 0;
    for c in v.chars() {
        if (c as u32) < 128 {
            counts[c as usize] += 1;
            top = top.max(counts[c as usize]);
        }
    }
    top * 2 > n && n >= 4 || periodic(v)
}

/// `<your-key>`, `key-<id>`, `<token`, `sk-<YOUR`: a slot to fill in. A
/// lone `>` among a generated password's symbols (`nob(ody[finds>-_$#`) is
/// not one, nor symbols between `<` and `>` (a WordPress salt's
/// `e]+<A?K>Vb%1*…`).
fn angle_bracketed(v: &str) -> bool {
    // Closed by `>`, or by the end of what was read (`sk-<YOUR API KEY>`
    // cut at its first space).
    let slot = |inside: &str| {
        let name = inside.split_once('>').map_or(inside, |(name, _)| name);
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-. ".contains(&b))
    };
    v.starts_with('<') || v.ends_with('>') || v.match_indices('<').any(|(i, _)| slot(&v[i + 1..]))
}

/// A short unit typed over and over (`123123123123…`, `abababab…`): a
/// filler, never what a generator gives.
fn periodic(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 12 && (2..=4).any(|p| (p..b.len()).all(|i| b[i] == b[i - p]))
}

fn whole_word_placeholder(v: &str) -> bool {
    let squashed: String = v
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "secret",
        "token",
        "apikey",
        "key",
        "test",
        "testing",
        "admin",
        "root",
        "user",
        "username",
        "default",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "empty",
        "string",
        "str",
        "value",
        "required",
        "optional",
        "hidden",
        "masked",
        "private",
        "public",
        "mypassword",
        "mysecret",
        "mytoken",
        "myapikey",
        "secretkey",
        "accesskey",
        "changeit",
        "pwd",
        "foo",
        "bar",
        "foobar",
        "baz",
        "qux",
        "apitoken",
        "authtoken",
        "bearer",
        "basic",
        "yourpassword",
        "mysecretpassword",
        // A fallback that says nothing was configured (`|| "not-set"`).
        "notset",
        "unset",
        "undefined",
        "missing",
        "unknown",
        "notconfigured",
        "notdefined",
    ];
    WORDS.contains(&squashed.as_str())
}

/// Made of words: `requiredCharacteristicTypes`, `access_token`,
/// `Authorization`. Random strings break into runs of one or two letters.
fn wordy(v: &str) -> bool {
    if v.chars().any(|c| c.is_ascii_digit())
        && v.chars().filter(|c| c.is_ascii_digit()).count() * 5 > v.len()
    {
        return false;
    }
    let segs = segments(v);
    let letters: usize = segs.iter().map(|s| s.len()).sum();
    if letters == 0 {
        return false;
    }
    let in_words: usize = segs
        .iter()
        .filter(|s| s.len() >= 3 && s.chars().all(|c| c.is_ascii_alphabetic()) && word_like(s))
        .map(|s| s.len())
        .sum();
    in_words * 10 >= letters * 8
}

/// A lower-case run that reads like a word: vowels at a word's rate, and
/// short enough (a 34-letter run is a token, not a word).
fn word_like(s: &str) -> bool {
    let vowels = s.chars().filter(|c| "aeiouy".contains(*c)).count();
    let ratio = vowels as f64 / s.len() as f64;
    s.len() <= 14 && (0.25..=0.7).contains(&ratio)
}

fn distinct(v: &str) -> usize {
    let mut seen = [false; 128];
    v.chars()
        .filter(|&c| (c as u32) < 128 && !std::mem::replace(&mut seen[c as usize], true))
        .count()
}

/// Shannon entropy of `v` relative to the most its length and alphabet
/// allow: 1.0 for a string that uses its alphabet as evenly as a random one
/// can, lower for `aaaab` or `abababab`. Judging against the value's own
/// alphabet lets a 32-digit hex key and a 20-character base64 one pass the
/// same bar.
pub(super) fn randomness(v: &str) -> f64 {
    // Separators (`-`, `:`, `.`, `_`) structure a key (`uuid:hex`); they do
    // not make its alphabet larger.
    let stripped: String = v.chars().filter(|c| !"-:._".contains(*c)).collect();
    let v = if stripped.len() * 5 >= v.len() * 4 {
        stripped.as_str()
    } else {
        v
    };
    let bytes = v.as_bytes();
    let n = bytes.len();
    if n < 2 {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    let (mut digit, mut lower, mut upper, mut other) = (false, false, false, false);
    let mut hex = true;
    for &b in bytes {
        match b {
            b'0'..=b'9' => digit = true,
            b'a'..=b'z' => {
                lower = true;
                hex &= b <= b'f';
            }
            b'A'..=b'Z' => {
                upper = true;
                hex &= b <= b'F';
            }
            _ => other = true,
        }
    }
    let alphabet: f64 = if other {
        70.0
    } else if hex && !(lower && upper) && (lower || upper) {
        16.0
    } else {
        [(digit, 10.0), (lower, 26.0), (upper, 26.0)]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, size)| size)
            .sum()
    };
    let best = (n as f64).log2().min(alphabet.log2());
    if best <= 0.0 {
        return 0.0;
    }
    h / best
}

#[cfg(test)]
mod tests {
    use super::super::review_file;
    use super::super::tests::secret_rules;
    use crate::review::FileChange;

    #[test]
    fn names_split_into_lower_case_words_at_case_changes_and_separators() {
        let words = |name: &str| super::segments(name);
        assert_eq!(words("dbPassword"), ["db", "password"]);
        assert_eq!(words("API_KEY"), ["api", "key"]);
        assert_eq!(words("HTTPServerKey2"), ["http", "server", "key2"]);
        assert_eq!(
            words("spring.datasource.password"),
            ["spring", "datasource", "password"]
        );
        // Other characters separate words, whatever their width.
        assert_eq!(words("clé_privéeToken"), ["cl", "priv", "e", "token"]);
        assert_eq!(words("🔑apiKey"), ["api", "key"]);
        assert!(words("__").is_empty());
    }

    #[test]
    fn a_gradle_property_call_assigns_a_providers_token() {
        assert_eq!(
            secret_rules(
                "build.gradle",
                "    property \"sonar.login\", \"826de5590c75919a8317fdface58206eebe7ebbc\""
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                "build.gradle",
                "systemProperty 'sonar.login', '826de5590c75919a8317fdface58206eebe7ebbc'"
            ),
            vec!["secret-provider-token"]
        );
        // The name of a setting read, not given.
        assert!(secret_rules("build.gradle", "property \"sonar.login\", sonarToken").is_empty());
    }

    #[test]
    fn curl_user_option_first_on_a_continuation_line_or_with_quoted_parts_is_found() {
        let continued = "curl -X POST https://api.example.com/oauth2/token \\\n-u oa2-client_zmNtW0Toqpz4AZnBLC:5uC5Y4Mcvdl5rB56rBmxnvB4DZgiIpcy";
        assert_eq!(
            secret_rules("run.sh", continued),
            vec!["secret-auth-header"]
        );
        assert_eq!(
            secret_rules(
                "run.sh",
                "curl -X POST --user \"apikey\":\"Zq8Lm2XvRt5Wk9Pq\" https://gateway.example.com/api"
            ),
            vec!["secret-auth-header"]
        );
        assert!(secret_rules("run.sh", "curl --user \"apikey\":\"$API_KEY\" https://x").is_empty());
        assert!(secret_rules("run.sh", "-u origin main").is_empty());
    }

    #[test]
    fn password_opening_a_sentence_is_not_a_netrc_entry() {
        for path in ["config.env", "router.cfg", ".netrc"] {
            let prose = "password combination.\n\nR5: Regulatory--21";
            assert!(secret_rules(path, prose).is_empty(), "{path}");
            let prose = "password reset, then log in again";
            assert!(secret_rules(path, prose).is_empty(), "{path}");
        }
        assert_eq!(
            secret_rules("router.cfg", "password Zq8Lm2Xv.Rt5"),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules(
                ".netrc",
                "machine api.example.com login me password Zq8Lm2XvRt5"
            ),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn anthropic_keys_are_named_in_their_documented_shape() {
        let body = "Clm512odot9WDD7itfUU9R880nefA1EtYZDbpE-C9b0XQEWpqFKf9DQUo03vOfXl16oSmyar1CLF1SzV3YzpZJ6bahcpL";
        assert_eq!(body.len(), 93);
        let named = |text: String| {
            let file = FileChange::new_file("a.env", format!("{text}\n"));
            review_file(&file, true)
                .iter()
                .any(|f| f.message.contains("Anthropic API key"))
        };
        assert!(named(format!("sk-ant-api03-{body}AA")));
        assert!(named(format!("sk-ant-admin01-{body}AA")));
        // Another tail is not Anthropic's key (it may still be some token).
        assert!(!named(format!("sk-ant-api03-{body}BB")));
    }

    #[test]
    fn a_truenas_key_in_a_json_rpc_login_call_is_found() {
        let key = "Lp22ov7halMBLUpG97Wg4y7fibQi3CW19VJiZcCu746zgCs0mdDdTCoOcpgEucgu";
        let call = format!(
            "{{\"msg\":\"method\", \"method\":\"auth.login_with_api_key\", \"params\":[\"8-{key}\"]}}"
        );
        assert_eq!(
            secret_rules("rpc.json", &call),
            vec!["secret-provider-token"]
        );
        // Elsewhere the shape alone is not TrueNAS's.
        let other = format!("{{\"method\":\"system.info\", \"params\":[\"8-{key}\"]}}");
        let file = FileChange::new_file("rpc.json", format!("{other}\n"));
        assert!(!review_file(&file, true)
            .iter()
            .any(|f| f.message.contains("TrueNAS")));
    }

    #[test]
    fn a_one_case_random_key_under_a_providers_name_is_found_in_configuration() {
        let line = "sendbird: zyxw9876vuts5432rqpo1098nmlk7654";
        assert_eq!(secret_rules("config.yml", line), vec!["secret-assignment"]);
        // In code the bare name is not read; hex under such a name is a
        // digest or an id; words and short values are not keys.
        assert!(secret_rules("app.py", "sendbird = 'zyxw9876vuts5432rqpo1098nmlk7654'").is_empty());
        for line in [
            "sentry_release: 3f2a9c0d4e5b6a7f8e9d0c1b2a3f4e5d6c7b8a90",
            "sendgrid: welcome-email-template-2024",
            "mailgun: k2x9",
        ] {
            assert!(secret_rules("config.yml", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_token_announced_by_the_sentence_above_it_is_found() {
        let log = "Jenkins initial setup is required.\nPlease use the following password to proceed to installation:\n\nbd9627decc6346d780b3b6ab6ea8fe1f\n\nThis may also be found at: /var/jenkins_home/secrets/initialAdminPassword";
        let found = review_file(&FileChange::new_file("setup.log", format!("{log}\n")), true);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 4);
        // A sentence about something else, or a word below it.
        for text in [
            "Build the following targets:\n\nbd9627decc6346d780b3b6ab6ea8fe1f",
            "Please use the following password to proceed:\n\nchangeme",
        ] {
            assert!(secret_rules("setup.log", text).is_empty(), "{text}");
        }
    }

    #[test]
    fn prose_that_quotes_a_password_is_a_credential() {
        for line in [
            "The default Password is 'blooberry'",
            "so ensure the password is \"centipede\" and press the On button",
        ] {
            assert_eq!(
                secret_rules("install.conf", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        for line in [
            "The password is 'changeme'",
            "the password is required",
            "the token is 'invalid'",
        ] {
            assert!(secret_rules("install.conf", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn an_unlisted_token_with_a_prefix_of_several_parts_is_found() {
        for line in [
            "client.init(\"zx-or-v1-0e6f44a47a05f1dad2ad7e88c4c1d6b77688157716fb1a5271146f7464951c96\")",
            "client.init(\"lsv9_pt_c5f02e2680224b76a06e169b365cd81b_7de13efba5\")",
        ] {
            assert_eq!(secret_rules("a.txt", line), vec!["secret-provider-token"], "{line}");
        }
        // Ids, names and digests keep their dashes or their prefix.
        for line in [
            "client.init(\"user-id-9da5da9c-4218-4c22-aed6-b5c8baebfff5\")",
            "client.init(\"registry-mirror-v2-service-account-reader\")",
            "client.init(\"sha256-v1-0e6f44a47a05f1dad2ad7e88c4c1d6b77688157716fb1a5271146f7464951c96\")",
        ] {
            assert!(secret_rules("a.txt", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_cut_devops_token_is_not_read_as_another_azure_key() {
        let body =
            "6RtqHqPc66Y6DYbkydbrrFJTYnRoA7r40ts7LWS2SkINSFsRABxhJQQJ99BFACAAAAALGcqjAAASAZDO3eq";
        assert!(secret_rules("a.txt", body).is_empty());
        assert_eq!(
            secret_rules("a.txt", &format!("{body}U")),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn a_value_with_a_listed_tail_but_not_its_format_is_a_look_alike() {
        for line in [
            "license_key: a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8NRAL",
            " --set global.licenseKey=a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8NRAL `",
        ] {
            assert!(secret_rules("values.yaml", line).is_empty(), "{line}");
        }
        assert_eq!(
            secret_rules(
                "values.yaml",
                "license_key: eu01xx8f3c2e9a7b6d5c4e3f2a1b0c9d8e7fNRAL"
            ),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn a_numbered_resource_name_under_a_keys_name_is_not_a_key() {
        for line in [
            "  keyVaultToStoreSecrets: cmp2-qat-1208358310",
            "secret_store: prod-eu-20240131",
        ] {
            assert!(secret_rules("deploy.yml", line).is_empty(), "{line}");
        }
        assert_eq!(
            secret_rules("deploy.yml", "api_secret: q8Zr-kx2T-1208358310-Lm9w"),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn passwords_given_to_administration_commands_are_found() {
        for (path, line) in [
            (
                "map.bat",
                "net use \\\\fs01\\share /user:CORP\\svc Xk9mQ2vTr7Lp",
            ),
            (
                "map.bat",
                "net use \\\\fs01\\share Xk9mQ2vTr7Lp /user:CORP\\svc",
            ),
            ("add.bat", "net user backupadmin Xk9mQ2vTr7Lp /add"),
            (
                "job.bat",
                "schtasks /create /tn job /tr run.bat /ru CORP\\svc /rp Xk9mQ2vTr7Lp",
            ),
            ("rdp.sh", "xfreerdp /u:admin /p:Xk9mQ2vTr7Lp /v:10.0.0.5"),
            ("rdp.sh", "rdesktop -u admin -p Xk9mQ2vTr7Lp 10.0.0.5"),
            ("smb.sh", "smbclient //server/share -U admin%Xk9mQ2vTr7Lp"),
            ("ping.sh", "redis-cli -h cache -a Xk9mQ2vTr7Lp ping"),
            ("db.sh", "sqlplus scott/Xk9mQ2vTr7Lp@orcl"),
            (
                "ldap.sh",
                "ldapsearch -x -D cn=admin,dc=example,dc=org -w Xk9mQ2vTr7Lp -b dc=org",
            ),
            (
                "schema.sql",
                "CREATE USER app IDENTIFIED BY 'Xk9mQ2vTr7Lp';",
            ),
            ("ipsec.secrets", ": PSK \"Xk9mQ2vTr7Lp\""),
            ("setup.sh", "htpasswd -b -c .htpasswd admin Xk9mQ2vTr7Lp"),
            (
                "db.sh",
                "sqlcmd -S db.example.com -U sa -P Xk9mQ2vTr7Lp -Q \"SELECT 1\"",
            ),
            ("db.sh", "mariadb -u root -pXk9mQ2vTr7Lp app"),
            ("mq.sh", "rabbitmqctl add_user admin Xk9mQ2vTr7Lp"),
            ("ftp.sh", "lftp -u uploader,Xk9mQ2vTr7Lp ftp.example.com"),
            (
                "ci.sh",
                "echo Xk9mQ2vTr7Lp | docker login -u deploy --password-stdin",
            ),
            ("ci.sh", "echo 'Xk9mQ2vTr7Lp' | sudo -S apt-get update"),
            ("keys.sh", "ssh-keygen -t ed25519 -N 'Xk9mQ2vTr7Lp' -f key"),
            (
                "wifi.sh",
                "nmcli dev wifi connect HomeNet password Xk9mQ2vTr7Lp",
            ),
        ] {
            assert_eq!(
                secret_rules(path, line),
                vec!["secret-auth-header"],
                "{line}"
            );
        }
        // Prompts, variables and placeholders are not passwords.
        for (path, line) in [
            ("map.bat", "net use \\\\fs01\\share /user:CORP\\svc *"),
            ("add.bat", "net user backupadmin %NEW_PASSWORD% /add"),
            ("add.bat", "net user backupadmin /delete"),
            ("rdp.sh", "rdesktop -u admin -p - 10.0.0.5"),
            ("ping.sh", "redis-cli -h cache -a \"$REDIS_PASSWORD\" ping"),
            (
                "ldap.sh",
                "ldapsearch -x -D cn=admin,dc=example,dc=org -W -b dc=org",
            ),
            ("schema.sql", "CREATE USER app IDENTIFIED BY 'changeme';"),
            (
                "ci.sh",
                "echo \"$REGISTRY_PASSWORD\" | docker login -u deploy --password-stdin",
            ),
            ("keys.sh", "ssh-keygen -t ed25519 -N '' -f key"),
            ("db.sh", "sqlcmd -S db.example.com -U sa -P $SA_PASSWORD"),
        ] {
            assert!(secret_rules(path, line).is_empty(), "{line}");
        }
    }

    #[test]
    fn an_sql_password_clause_and_short_password_names_are_credentials() {
        for (path, line) in [
            (
                "schema.sql",
                "ALTER USER app_user WITH PASSWORD 'Xk9mQ2vTr7Lp';",
            ),
            (
                "schema.sql",
                "CREATE ROLE reporter LOGIN PASSWORD 'Xk9mQ2vTr7Lp';",
            ),
            ("ldap.env", "LDAP_BIND_PW=Xk9mQ2vTr7Lp"),
            ("wpa_supplicant.conf", "  psk=\"Xk9mQ2vTr7Lp\""),
            (
                "wg0.conf",
                "PresharedKey = /UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=",
            ),
        ] {
            assert_eq!(
                secret_rules(path, line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        for (path, line) in [
            (
                "schema.sql",
                "COMMENT ON COLUMN users.password IS 'bcrypt hash';",
            ),
            ("schema.sql", "SELECT password 'x' FROM t;"),
            ("wg0.conf", "PresharedKey = /etc/wireguard/psk/peer1.key"),
        ] {
            assert!(secret_rules(path, line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_jwt_signing_secret_passed_inline_is_a_credential() {
        for line in [
            "token = jwt.encode(payload, 'Xk9mQ2vTr7Lp', algorithm='HS256')",
            "const t = jwt.sign({ id }, \"Xk9mQ2vTr7Lp\", { expiresIn: '1h' });",
        ] {
            assert_eq!(
                secret_rules("app.js", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        for line in [
            "const t = jwt.sign({ id }, process.env.JWT_SECRET);",
            "token = jwt.encode(payload, 'secret', algorithm='HS256')",
            "claims = jwt.decode(token, options={'verify_signature': False})",
        ] {
            assert!(secret_rules("app.js", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn credentials_in_xml_attributes_and_elements_with_attributes_are_found() {
        for (path, line) in [
            (
                "AndroidManifest.xml",
                "<meta-data android:name=\"com.example.API_KEY\" android:value=\"9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c\"/>",
            ),
            ("sitemanager.xml", "<Pass encoding=\"base64\">WGs5bVEydlRyN0xw</Pass>"),
            (
                "Client.cs",
                "var auth = new HttpBasicAuthenticator(\"api\", \"9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c\");",
            ),
        ] {
            assert_eq!(secret_rules(path, line), vec!["secret-assignment"], "{line}");
        }
        for (path, line) in [
            ("AndroidManifest.xml", "<meta-data android:name=\"com.example.API_KEY\" android:value=\"@string/api_key\"/>"),
            ("sitemanager.xml", "<Pass encoding=\"base64\" />"),
            ("Client.cs", "var auth = new HttpBasicAuthenticator(\"api\", apiKey);"),
        ] {
            assert!(secret_rules(path, line).is_empty(), "{line}");
        }
    }

    #[test]
    fn http_clients_given_a_token_or_a_password_are_found() {
        let token = "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c";
        for line in [
            format!("curl --oauth2-bearer {token} https://api.example.com"),
            "http -a admin:Xk9mQ2vTr7Lp https://api.example.com/items".to_string(),
            "http --auth admin:Xk9mQ2vTr7Lp https://api.example.com/items".to_string(),
            format!("curl -u {token}: https://api.example.com/v1/charges"),
            format!("fetch(url, {{ headers: {{ Authorization: `Bearer {token}` }} }})"),
        ] {
            assert_eq!(
                secret_rules("run.sh", &line),
                vec!["secret-auth-header"],
                "{line}"
            );
        }
        for line in [
            "curl --oauth2-bearer \"$TOKEN\" https://api.example.com",
            "http -a admin: https://api.example.com/items",
            "curl -u admin: https://api.example.com/v1/charges",
            "fetch(url, { headers: { Authorization: `Bearer ${token}` } })",
        ] {
            assert!(secret_rules("run.sh", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_password_given_to_a_database_connection_call_is_found() {
        for (path, line) in [
            (
                "db.php",
                "$pdo = new PDO('mysql:host=db;dbname=app', 'app', 'Xk9mQ2vTr7Lp');",
            ),
            (
                "db.php",
                "$conn = mysqli_connect('db', 'app', 'Xk9mQ2vTr7Lp', 'app');",
            ),
            (
                "Db.java",
                "DriverManager.getConnection(\"jdbc:mysql://db/app\", \"app\", \"Xk9mQ2vTr7Lp\");",
            ),
            (
                "db.py",
                "conn = pymysql.connect('db', 'app', 'Xk9mQ2vTr7Lp', 'app')",
            ),
            (
                "db.go",
                "db, err := sql.Open(\"mysql\", \"app:Xk9mQ2vTr7Lp@tcp(db:3306)/app\")",
            ),
            (
                "app.properties",
                "url = jdbc:oracle:thin:scott/Xk9mQ2vTr7Lp@db:1521/ORCL",
            ),
        ] {
            assert_eq!(
                secret_rules(path, line),
                vec!["secret-auth-header"],
                "{line}"
            );
        }
        for (path, line) in [
            ("db.php", "$pdo = new PDO($dsn, $user, $password);"),
            (
                "db.php",
                "$conn = mysqli_connect('db', 'app', getenv('DB_PASSWORD'), 'app');",
            ),
            (
                "Db.java",
                "DriverManager.getConnection(url, \"app\", password);",
            ),
            (
                "db.go",
                "db, err := sql.Open(\"mysql\", user+\":\"+pass+\"@tcp(db:3306)/app\")",
            ),
        ] {
            assert!(secret_rules(path, line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_random_token_among_words_in_an_xml_credential_element_is_found() {
        // A Jenkins credential: the value sits inside `{…}` beside a header.
        let jenkins = "<secret>{AQAAABAAA q8ZrT4vN2mXk9LpW3sYd7HbQ}</secret>";
        assert_eq!(
            secret_rules("credentials.xml", jenkins),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules(
                "config.xml",
                "<apiToken>prod 7dK2pQ9xLm4ZtR8vWb3N</apiToken>"
            ),
            vec!["secret-assignment"]
        );
        // Words only, a placeholder, or an element not named for a credential.
        assert!(secret_rules("config.xml", "<secret>{ the secret goes here }</secret>").is_empty());
        assert!(secret_rules(
            "config.xml",
            "<secret>{AQAAABAAA xxxxxxxxxxxxxxxxxxxxxxxx}</secret>"
        )
        .is_empty());
        assert!(secret_rules(
            "config.xml",
            "<id>{AQAAABAAA q8ZrT4vN2mXk9LpW3sYd7HbQ}</id>"
        )
        .is_empty());
    }

    #[test]
    fn a_prefix_the_format_spells_as_alternatives_is_judged_by_that_format() {
        // `bk(?:ua|ar|ct)_` and 40 hex digits; `(?:pat|sat)\.` and three parts.
        for line in [
            "buildkite_token = 'bkua_q7rk29zm51jtwe0jh12wcf27v05z023ly-mnop-xw81'",
            "harness_token = 'pat.Zq8Lm2XvRt5Wk9PqT4vN2m.83a1f0c2d94b57e6a1c3d5f7.Rt5Wk9PqT4vN2mXk9'",
        ] {
            assert!(secret_rules("settings.cfg", line).is_empty(), "{line}");
        }
        for line in [
            "buildkite_token = 'bkua_83a1f0c2d94b57e6a1c3d5f783a1f0c2d94b57e6'",
            "harness_token = 'pat.Zq8Lm2XvRt5Wk9PqT4vN2m.83a1f0c2d94b57e6a1c3d5f7.Rt5Wk9PqT4vN2mXk9LpW'",
        ] {
            assert_eq!(
                secret_rules("settings.cfg", line),
                vec!["secret-provider-token"],
                "{line}"
            );
        }
    }

    #[test]
    fn an_id_split_at_an_underscore_is_not_an_unlisted_prefix_and_token() {
        // What stands before the `_` mixes cases and digits: the id's own
        // random start, not a provider's word.
        for line in [
            "    \"playerId\": \"qwrtZ7Kdm_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCq\",",
            "ref: k48QWZXPpNeQ-Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCq",
        ] {
            assert!(secret_rules("data.json", line).is_empty(), "{line}");
        }
        // A provider's word, in one case or as words.
        for line in [
            "    \"ref\": \"qwrtz_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCq\",",
            "ref: acmePRIVATE-Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCq",
        ] {
            assert_eq!(
                secret_rules("data.json", line),
                vec!["secret-provider-token"],
                "{line}"
            );
        }
    }

    #[test]
    fn an_oauth_clients_public_id_is_not_a_credential_but_its_secret_is() {
        // A Salesforce connected app's consumer key (its OAuth client id).
        let id = "3MVG9Zq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3sYd7HbQa1.Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCqRt5Wk9PqT4v_N2m";
        for line in [
            format!("salesforce_key = \"{id}\""),
            format!("SALESFORCE_CONSUMER_KEY={id}"),
            id.to_string(),
        ] {
            assert!(secret_rules("settings.env", &line).is_empty(), "{line}");
        }
        let secret = "salesforce_secret = \"Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCqZq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3sYd7HbQ\"";
        assert_eq!(
            secret_rules("settings.env", secret),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_pem_header_in_base64_is_read_without_splitting_a_character() {
        // A certificate's header, then a character of several bytes across
        // the 64th byte, where the header is cut to be decoded.
        let cert = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJxRENDQVU2Z0F3SUJBZ0€€";
        assert!(!cert.is_char_boundary(64));
        assert!(!super::public_pem_base64(cert));
        assert!(super::public_pem_base64(
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJxRENDQVU2Z0F3SUJBZ0lVWU9z"
        ));
    }

    #[test]
    fn a_refresh_token_cut_short_after_its_prefix_is_a_look_alike() {
        let token = "5Aep861Zq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3sYd7HbQa1Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCqRt5Wk9PqT4v";
        assert!(secret_rules("a.env", &format!("SF_REFRESH_TOKEN={token}"))
            .contains(&"secret-provider-token".to_string()));
        assert!(secret_rules("a.env", "SF_REFRESH_TOKEN=5Aep86111Zq8").is_empty());
    }

    #[test]
    fn a_jira_token_is_one_of_atlassians_documented_formats() {
        // Data Center: base64 of a 12-digit id, `:` and 20 bytes.
        let pat = "NzQ1MjgxOTM2MDQyOqZ3kLm9XvRt5Wk9PqT4vN2mXk9L";
        assert_eq!(pat.len(), 44);
        for line in [
            format!("jira_token: {pat}"),
            "jira_token: Zq8Lm2XvRt5Wk9PqT4vN2mXk".to_string(),
            "CONFLUENCE_API_TOKEN=Zq8Lm2XvRt5Wk9PqT4vN2mXk".to_string(),
        ] {
            assert!(!secret_rules("a.yml", &line).is_empty(), "{line}");
        }
        // Not the id's digits up front, cut short, or run on.
        for line in [
            format!("jira_token: A{}", &pat[1..]),
            format!("jira_token: {}", &pat[..40]),
            format!("confluence_token: {pat}Qw=="),
        ] {
            assert!(secret_rules("a.yml", &line).is_empty(), "{line}");
        }
        // A password under Jira's name is judged as a password.
        assert!(!secret_rules("a.yml", "jira_password: Zq8Lm2XvRt5").is_empty());
    }

    #[test]
    fn the_password_of_an_anonymous_login_guards_nothing() {
        for (path, text) in [
            (
                "ftp.c",
                "conn->user = \"anonymous\";\nconn->password = \"mirror@\";",
            ),
            ("ftp.yml", "ftp_login: anonymous\nftp_password: Zq8Lm2XvRt5"),
            (
                "ftp.yml",
                "login(user=\"ANONYMOUS\", password=\"Zq8Lm2XvRt5\")",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
        for (path, text) in [
            (
                "ftp.c",
                "conn->user = \"mirror\";\nconn->password = \"mirror@\";",
            ),
            ("ftp.yml", "ftp_login: admin\nftp_password: Zq8Lm2XvRt5"),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
    }

    #[test]
    fn a_cloudflare_key_is_one_of_cloudflares_key_formats() {
        let global = "83a1f0c2d94b57e6a1c3d5f7e9b2d4f6a8c0e";
        assert_eq!(global.len(), 37);
        assert!(!secret_rules("a.env", &format!("CLOUDFLARE_API_KEY={global}")).is_empty());
        // Two hex digits too many, or cut short: not the global key.
        for line in [
            format!("CLOUDFLARE_API_KEY={global}b1"),
            format!("CLOUDFLARE_API_KEY={}", &global[..30]),
        ] {
            assert!(secret_rules("a.env", &line).is_empty(), "{line}");
        }
        // Tokens are not held to the key's formats.
        assert!(!secret_rules(
            "a.env",
            "CLOUDFLARE_TUNNEL_TOKEN=Zq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3sYd7HbQa1Vb7Qm2"
        )
        .is_empty());
    }

    #[test]
    fn a_token_of_parts_after_a_common_word_cut_short_is_a_look_alike() {
        // Twitch: `live_`, the channel's number, `_`, 30 characters.
        let full = "live_126031192_Zq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3s";
        assert_eq!(
            secret_rules("stream.env", &format!("key: {full}")),
            vec!["secret-provider-token"]
        );
        assert!(secret_rules("stream.env", &format!("key: {}", &full[..40])).is_empty());
        // Another service's `live_` token of one part is not held to it.
        assert!(
            !secret_rules("stream.env", "key: live_Zq8Lm2XvRt5Wk9PqT4vN2mXk9LpW3sYd7").is_empty()
        );
    }

    #[test]
    fn a_patterns_literal_start_reads_each_alternative() {
        assert_eq!(
            super::literal_heads(r"bk(?:ua|ar|ct)_[a-f0-9]{40}"),
            ["bkua_", "bkar_", "bkct_"]
        );
        assert_eq!(
            super::literal_heads(r"hv[sbr]\.[A-Za-z0-9]{24,}"),
            ["hvs.", "hvb.", "hvr."]
        );
        assert_eq!(
            super::literal_heads("(?:sandbox_)?sk_pr_[A-Za-z0-9]{1,64}"),
            ["sandbox_sk_pr_", "sk_pr_"]
        );
        // A repeated class is the body: nothing literal before it.
        assert_eq!(super::literal_heads("[A-Za-z0-9]{76}AZDO"), [""]);
    }

    #[test]
    fn a_token_shorter_than_its_providers_documented_length_is_a_look_alike() {
        // xAI writes `xai-` and 80 characters; 43 is a key cut short.
        let full = format!(
            "const k = \"xai-{}\";",
            &"W5zbfUkzlXedo7qD42AbBLlRSsyJrOW5zbfUkzlXeQ".repeat(2)[..80]
        );
        assert_eq!(
            secret_rules("src/app.js", &full),
            vec!["secret-provider-token"]
        );
        let cut = "const k = \"xai-W5zbfUkzlXedo7qD42AbBLlRSsyJrOW5zbfUkzlXe\";";
        assert!(secret_rules("src/app.js", cut).is_empty());
        // Postman's `PMAK-` and 24-34 characters, cut by a stray `?`.
        let pmak = "postman = 'PMAK-aMUVdak2ohpOeeJQVlb1G9EWB09?VQfbvH6YH8HpPRkXHPBg5qYvp9YGOhI'";
        assert!(secret_rules("settings.cfg", pmak).is_empty());
    }

    #[test]
    fn a_key_with_a_stray_symbol_typed_into_it_is_a_look_alike() {
        // The same key as written, then with a `?`, an `@`, a leading `=`
        // or a few symbols in one place typed into it.
        let key = "F7CTEQ0FK6Q8SPCSG24XMBULREVNG4AL3RTQK";
        assert_eq!(
            secret_rules("settings.cfg", &format!("vendor_api_key = '{key}'")),
            vec!["secret-assignment"]
        );
        for typed in [
            "F7CTEQ0FK6?SPCSG24XMBULREVNG4AL3RTQK",
            "rc6iLoUEFGGAWNLsuBJnmsh4tZB@oCxcDUmc45HIPcuiQvfUEuqo8wb9YrUd2LyB",
            "=0UXRQ2DBF5rEJ-qlJTgJvwGqUJ",
            "2xN7puShxzNf5fZleQthTg305l95D3gSD%c^",
            "I_Mn%^&*qlBCakI5vwkwFD4_zRUY",
        ] {
            let line = format!("vendor_api_key = '{typed}'");
            assert!(secret_rules("settings.cfg", &line).is_empty(), "{line}");
        }
        // Under a name that is no credential's, in a configuration file.
        let setting = "moderation = 'ZxuB8KrC1jO7tANvLp2D6oWF5Mq9yBaL3Hg'";
        assert_eq!(
            secret_rules("settings.cfg", setting),
            vec!["secret-assignment"]
        );
        let typed = "moderation = '=ZxuB8KrC1jO7tANvLp2D6oWF5Mq9yBaL3Hg'";
        assert!(secret_rules("settings.cfg", typed).is_empty());
        // Symbols throughout (a generated secret of a wider alphabet), an
        // id joined to its token by `|`, and a password: still credentials.
        for line in [
            "DJANGO_SECRET_KEY = 'wwf*2#86t64!fgh6yav$aoeuo@u2o@fy&*gg76q!&%6x_wbduad'",
            "api_token = '49|07KJzQmRfD2t8VbXc4NwLp6YhGs1AeUo3iTkMvZr'",
            "CONVEX_DEPLOY_KEY=prod:qualified-jaguar-123|eyJhbGciOiJIUzI1NiJ9Xk4pQ8",
            "db_password = 'Tr0ub4dor&3horsebattery'",
        ] {
            assert!(!secret_rules("settings.cfg", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn shortest_match_counts_literals_classes_groups_and_repetition() {
        assert_eq!(super::shortest_match("xai-[A-Za-z0-9]{80}"), 84);
        assert_eq!(
            super::shortest_match(r"pcsk_[A-Za-z0-9]{5,6}_[A-Za-z0-9]{63}"),
            74
        );
        assert_eq!(
            super::shortest_match(r"glpat-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?"),
            26
        );
        assert_eq!(super::shortest_match(r"(?:AKIA|AS)[A-Z0-9]{16}"), 18);
        assert_eq!(super::shortest_match(r"ya29\.[0-9A-Za-z_-]+"), 6);
    }

    #[test]
    fn a_value_that_says_it_is_invalid_is_a_placeholder() {
        assert!(secret_rules("settings.cfg", "deepseek.key = sk-abc123invalid").is_empty());
        assert!(secret_rules("settings.cfg", "api_key = \"invalid-key-format\"").is_empty());
    }

    #[test]
    fn checkout_uuid_keys_and_undashed_postman_keys_are_their_providers_tokens() {
        let checkout = "checkout_api_key: \"sk_test_14a67eEd-21Fd-B18d-2B8D-275697febE7D\"";
        assert_eq!(
            secret_rules("config.yaml", checkout),
            vec!["secret-provider-token"]
        );
        // A UUID cut short is not one.
        let cut = "checkout_api_key: \"sk_test_14a67eEd-21Fd-B18d-2B8D\"";
        assert!(secret_rules("config.yaml", cut).is_empty());
        let postman =
            "postman token = 'PMAK-aMUVdak2ohpOeeJQVlb1G9EWB09YVQfbvH6YH8HpPRkXHPBg5qYvp9YGOhI'";
        assert_eq!(
            secret_rules("settings.cfg", postman),
            vec!["secret-provider-token"]
        );
    }
}
