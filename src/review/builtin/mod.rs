//! The built-in offline reviewer: fast, deterministic rules over *added*
//! lines only. It is the default when no model endpoint is configured and
//! always runs beside the models for secrets, so a key in a diff is caught
//! even when every provider is down. Each rule documents itself; the LSP's
//! "Explain" action shows that documentation.
//!
//! Secrets are found by `secrets` (one keyword pass per line, then only the
//! checks the keywords call for) from the formats in `providers`. This module
//! owns the rule table, severities, suppression (inline markers and the
//! `[builtin]` table of `.redline.toml`) and turning hits into findings. It
//! never puts a secret's text into a finding.

mod novelty;
mod providers;
mod secrets;
mod site;

use super::changes::FileChange;
use super::finding::{fingerprint, Finding, Severity};
use crate::config::BuiltinConfig;
use crate::syntax::Region;
use globset::{Glob, GlobMatcher, GlobSet};
use regex::bytes::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

pub use novelty::Baseline;
pub use providers::PROVIDERS;

/// The reviewer name built-in findings carry.
pub const REVIEWER: &str = "builtin";

/// Which files a rule looks at.
#[derive(Debug, Clone, Copy)]
enum Langs {
    Any,
    Only(&'static [&'static str]),
}

impl Langs {
    fn matches(self, path: &str) -> bool {
        match self {
            Langs::Any => true,
            Langs::Only(exts) => {
                let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
                exts.iter().any(|e| e.eq_ignore_ascii_case(ext))
            }
        }
    }
}

/// How a rule finds what it reports.
#[derive(Debug, Clone, Copy)]
enum Detect {
    /// A regex over the line; capture group 1 (else the match) is reported.
    Pattern(&'static str),
    /// The secret scanner (`secrets::scan`) reports under this rule's id.
    Secret,
}

/// One built-in rule.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub message: &'static str,
    /// Markdown shown by "Explain redline finding".
    pub explanation: &'static str,
    langs: Langs,
    /// Where in the text a match counts.
    place: Place,
    /// Printing: silent where output is intended (entry points, scripts,
    /// writes to a stream, tests, `[builtin] output_paths`).
    output: bool,
    /// Counts only when the call formats a value with `Debug` (`{:?}`).
    debug_format: bool,
    /// A call whose only argument is a plain string literal is safe (no
    /// outside input can reach `os.system("make docs")`).
    literal_is_safe: bool,
    /// When the whole line is the offending statement, the fix deletes it.
    removable_line: bool,
    detect: Detect,
}

/// Where in a file a rule's match counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Anywhere: a secret in a comment or a string still leaks.
    Anywhere,
    /// In code only: not in a comment, not inside a string literal.
    Code,
    /// In code or a string literal, not in a comment (SQL assembled from
    /// strings: the match is the string).
    NotComment,
    /// In a comment (a Python docstring counts). In prose files
    /// (Markdown, text, changelogs) only as a task marker: `TODO:`,
    /// `TODO(owner)`, `- [ ] TODO`; never a placeholder such as `TODO.`.
    Comment,
}

const JS: &[&str] = &["js", "jsx", "ts", "tsx", "mjs", "cjs", "vue", "svelte"];
const PY: &[&str] = &["py", "pyw"];
const SCRIPT: &[&str] = &[
    "py", "pyw", "js", "jsx", "ts", "tsx", "mjs", "cjs", "rb", "php",
];

const fn secret(
    id: &'static str,
    title: &'static str,
    message: &'static str,
    explanation: &'static str,
) -> Rule {
    Rule {
        id,
        severity: Severity::Critical,
        title,
        message,
        explanation,
        langs: Langs::Any,
        place: Place::Anywhere,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: false,
        detect: Detect::Secret,
    }
}

pub static RULES: &[Rule] = &[
    secret(
        "secret-aws-access-key",
        "AWS access key in source",
        "This looks like an AWS access key id. Remove it, rotate the key, and load credentials from the environment or a secret store.",
        "An AWS access key id (`AKIA…`/`ASIA…`) was added. Keys committed to a repository are harvested by scanners within minutes of a push. **Rotate the key now** (IAM console → Security credentials), remove it from the code, and read credentials from the environment, an instance role, or a secret manager. AWS's documented example key (`AKIAIOSFODNN7EXAMPLE`) and other `…EXAMPLE` values are not flagged.",
    ),
    secret(
        "secret-private-key",
        "Private key in source",
        "A private key was added. Never commit private keys; load them from a file outside the repository or a secret store.",
        "A private key was added: a PEM block (`-----BEGIN … PRIVATE KEY-----`: RSA, EC, DSA, PKCS#8, encrypted, OpenSSH, PGP), a PuTTY key file, or a base64-encoded PEM key. A header alone (a string constant that *checks* for one, or a block whose body is `...`) is not flagged. Anyone with read access to the repository, its forks or its CI logs can impersonate the key's owner. Revoke and regenerate the key pair, and keep private keys out of version control (add the file to `.gitignore` and `review.never_send`).",
    ),
    secret(
        "secret-provider-token",
        "API token with a known provider format",
        "This string has the format of a provider's API token. Remove it, revoke it at the provider, and read it from the environment at run time.",
        "The added text contains a value in the documented format of a provider's credential: a prefix that names the provider (`ghp_`, `github_pat_`, `glpat-`, `xoxb-`, `sk_live_`, `hf_`, `sntrys_`, `hvs.`, `AIza`, …) and the provider's alphabet and length, or a bare key of the provider's format assigned to a name that mentions it (`DATADOG_API_KEY=…`). Over 400 formats are known (the message names the provider), and tokens of unlisted services with a short prefix and a long random body. Providers and attackers scan public code for exactly these formats. Revoke the token at the provider, remove it, and read it from the environment at run time. Placeholders (`ghp_xxxx…`, `…EXAMPLE`) are not flagged.",
    ),
    secret(
        "secret-jwt",
        "JSON Web Token in source",
        "A signed JSON Web Token was added. Tokens grant access until they expire; remove it and obtain tokens at run time.",
        "A JSON Web Token (`eyJ….eyJ….…`) was added. A signed token is a bearer credential: whoever holds it is the subject until it expires, and many tokens (service-role keys, long-lived API tokens) never do. Remove it, revoke or rotate its signing key if it is long-lived, and obtain tokens at run time.",
    ),
    secret(
        "secret-url-credentials",
        "Credentials inside a URL",
        "This URL carries a username and password (`scheme://user:pass@host`). Move the password out of the URL into the environment or a secret store.",
        "A URL with embedded credentials (`https://user:pass@host`, `postgres://app:pw@db/prod`, `redis://:pw@cache`) was added. URLs are logged, shown in error messages and copied around, so the password travels with them. Build the URL at run time from a secret read from the environment, or use the client's separate password option. Placeholders (`user:password@`, `${PASSWORD}`) are not flagged.",
    ),
    secret(
        "secret-auth-header",
        "Credentials in an HTTP header or command line",
        "An `Authorization` header or a `curl -u user:pass` carries a literal credential. Read it from the environment instead.",
        "A literal credential is passed in an HTTP `Authorization: Basic/Bearer/Token …` header, to `curl -u`/`--user`, or to `sshpass -p`. Shell history, CI logs and the repository keep it. Use a variable (`-H \"Authorization: Bearer $TOKEN\"`, `curl -u \"$USER:$PASS\"`, `curl --netrc`) and keep the value in the environment or a secret store.",
    ),
    secret(
        "secret-assignment",
        "Hard-coded credential",
        "A password, secret, token or API key is assigned a literal value. Read it from the environment or a secret store instead.",
        "A variable or key whose name says it holds a credential (`password`, `secret`, `token`, `api_key`, …) is assigned a literal that looks like one, in any syntax: code, `.env`, shell `export`, YAML, TOML, INI, `.properties`, JSON, XML, Dockerfile `ENV`, Compose and Kubernetes `env:` lists. Committed credentials leak through clones, forks, CI logs and backups. Rotate the credential, then load it at run time (environment variable, secret manager, a file listed in `.gitignore`). Placeholders and references (`changeme`, `<your-key>`, `${VAR}`, `os.environ[…]`, all-`x` values) are not flagged; in documentation (`.md`, `.rst`, `.txt`, `docs/`) such values are a warning, not critical.",
    ),
    Rule {
        id: "debug-dbg-macro",
        severity: Severity::Suggestion,
        title: "`dbg!` left in code",
        message: "`dbg!` prints to stderr and is meant for local debugging; remove it before committing.",
        explanation: "`dbg!` writes the file, line and value to stderr. It is a debugging aid that usually ends up as noise in production logs (and can print data that should stay private). Remove it, or replace it with a `tracing::debug!` event if the information is worth keeping.",
        langs: Langs::Only(&["rs"]),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"(\bdbg!\s*\()"),
    },
    Rule {
        id: "debug-print-macro",
        severity: Severity::Suggestion,
        title: "`println!` of a `Debug` value left in code",
        message: "Printing a value with `{:?}` from library code looks like a debugging leftover; remove it or emit a `tracing` event.",
        explanation: "`println!`/`print!`/`eprintln!`/`eprint!` with a `Debug` placeholder (`{:?}`, `{x:#?}`) in library code is usually a debugging aid that was not removed: it writes to the output of every program that uses the library. Remove it, or emit a `tracing::debug!` event. Binaries (`src/main.rs`, `src/bin/`, a file with `fn main`), build scripts, examples, benches and tests print on purpose and are not flagged, nor is output formatted with `{}`.",
        langs: Langs::Only(&["rs"]),
        place: Place::Code,
        output: true,
        debug_format: true,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"\b(e?print(?:ln)?!)\s*[(\[{]"),
    },
    Rule {
        id: "debug-console-log",
        severity: Severity::Suggestion,
        title: "`console.log` left in code",
        message: "`console.log`/`debug`/`trace`/`dir` looks like a debugging leftover; remove it or use the project's logger.",
        explanation: "`console.log`, `console.debug`, `console.trace` and `console.dir` calls added while debugging tend to ship: they clutter the browser console or server logs and can expose data. Remove it, or use the project's logging facility with an appropriate level. `console.error`/`console.warn` (meant for users), scripts with a `#!` line or a command-line parser, `main()`, and paths where output is the point (`[builtin] output_paths`: examples, scripts, tests, …) are not flagged.",
        langs: Langs::Only(JS),
        place: Place::Code,
        output: true,
        debug_format: false,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"(\bconsole\.(?:log|debug|trace|dir)\s*\()"),
    },
    Rule {
        id: "debug-print",
        severity: Severity::Suggestion,
        title: "`print()` debugging left in code",
        message: "A bare `print(` call looks like debugging output; remove it or use `logging`.",
        explanation: "A `print()` statement on its own line in Python code is usually a debugging leftover. Use the `logging` module (which can be silenced and carries levels), or remove it. Output that is the point is not flagged: `print(..., file=...)`, code under `if __name__ == \"__main__\":` or in `main()`, scripts (a `#!` line, `argparse`/`click`/`typer`, `sys.argv`), and paths listed in `[builtin] output_paths` (examples, scripts, docs, benchmarks, … by default).",
        langs: Langs::Only(PY),
        place: Place::Code,
        output: true,
        debug_format: false,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"^\s*(print\s*\()"),
    },
    Rule {
        id: "debug-debugger-statement",
        severity: Severity::Suggestion,
        title: "`debugger` statement left in code",
        message: "A `debugger` statement pauses execution whenever dev tools are open; remove it.",
        explanation: "`debugger;` stops execution in any browser or Node.js process with a debugger attached. It is never meant to be committed.",
        langs: Langs::Only(JS),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"(?:^\s*|[;{]\s*)(\bdebugger\b)\s*;?\s*$"),
    },
    Rule {
        id: "debug-breakpoint",
        severity: Severity::Suggestion,
        title: "Breakpoint left in code",
        message: "`breakpoint()` / `pdb.set_trace()` stops the program waiting for a debugger; remove it.",
        explanation: "`breakpoint()`, `pdb.set_trace()`, `ipdb.set_trace()` and `binding.pry` stop the program and wait for interactive input. In a server or CI job that means a hang.",
        langs: Langs::Only(&["py", "pyw", "rb"]),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: true,
        detect: Detect::Pattern(r"(\bbreakpoint\s*\(\s*\)|\b(?:i?pdb|pudb)\.set_trace\s*\(|\bbinding\.pry\b)"),
    },
    Rule {
        id: "danger-eval",
        severity: Severity::Warning,
        title: "`eval` of dynamic code",
        message: "`eval` runs arbitrary code; if any part of its input comes from outside, this is code injection.",
        explanation: "`eval` executes a string as code with the caller's privileges. When any part of that string can be influenced by a user, a file or the network, an attacker can run their own code. Parse the data instead (`JSON.parse`, `ast.literal_eval`, a lookup table).",
        langs: Langs::Only(SCRIPT),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: true,
        removable_line: false,
        detect: Detect::Pattern(r"(?:^|[^.\w$])(eval\s*\()"),
    },
    Rule {
        id: "danger-exec",
        severity: Severity::Warning,
        title: "Dynamic code or shell execution",
        message: "`exec`/`os.system`/`child_process.exec` runs code or a shell command built at run time; make sure no outside input reaches it.",
        explanation: "Executing a string as code (`exec`) or handing it to a shell (`os.system`, `child_process.exec`, `execSync`) allows injection when the string contains outside input. Pass arguments as a list to a process API that does not invoke a shell (`subprocess.run([...])`, `execFile`).",
        langs: Langs::Only(SCRIPT),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: true,
        removable_line: false,
        detect: Detect::Pattern(r"((?:^|[^.\w$])exec\s*\(|\bos\.system\s*\(|\bchild_process\.exec(?:Sync)?\s*\(|\bexecSync\s*\()"),
    },
    Rule {
        id: "danger-shell-true",
        severity: Severity::Warning,
        title: "`shell=True` in a subprocess call",
        message: "`shell=True` passes the command through a shell; any interpolated input becomes shell injection. Pass a list of arguments instead.",
        explanation: "With `shell=True`, `subprocess` runs the command through `/bin/sh`, so quotes, `;`, `$()` and backticks in any interpolated value are interpreted by the shell. Pass the command as a list (`subprocess.run([\"git\", \"log\", path])`) and leave `shell` at its default.",
        langs: Langs::Only(PY),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: false,
        detect: Detect::Pattern(r"(\bshell\s*=\s*True\b)"),
    },
    Rule {
        id: "danger-pickle-loads",
        severity: Severity::Warning,
        title: "Unpickling data",
        message: "`pickle.load(s)` executes code embedded in the data; never unpickle input you did not produce yourself.",
        explanation: "A pickle stream can contain instructions that run arbitrary code when loaded. Unpickling data from a request, a file a user can write, or a cache shared with others is remote code execution. Use JSON or another data-only format.",
        langs: Langs::Only(PY),
        place: Place::Code,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: false,
        detect: Detect::Pattern(r"(\b(?:c?pickle|dill|joblib)\.loads?\s*\()"),
    },
    Rule {
        id: "danger-sql-string",
        severity: Severity::Warning,
        title: "SQL built from strings",
        message: "This SQL statement is assembled by string formatting or concatenation; use bound parameters so input cannot change the query.",
        explanation: "Building SQL by concatenation, `%`, `.format`, f-strings, template literals or `format!` lets any interpolated value change the statement (SQL injection). Use the driver's placeholders (`?`, `$1`, `%s` passed as parameters) or a query builder.",
        langs: Langs::Any,
        place: Place::NotComment,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: false,
        detect: Detect::Pattern(r#"(?i)((?:\bf|\bformat!\(\s*)?(?:"\s*(?:select\s[^"]*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^"]*(?:"\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^"]*")|'\s*(?:select\s[^']*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^']*(?:'\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^']*')|`\s*(?:select\s[^`]*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^`]*(?:`\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^`]*`)))"#),
    },
    Rule {
        id: "todo-comment",
        severity: Severity::Suggestion,
        title: "New TODO/FIXME",
        message: "A new TODO/FIXME was added; track it in an issue or resolve it before merging.",
        explanation: "New `TODO`/`FIXME` markers are promises that are easy to forget. Resolve it in this change, or open an issue and reference it (`TODO(#123)`) so the work is tracked. Only markers in comments (and Python docstrings) count, not the word in a string or a name; in prose (Markdown, text, changelogs) only a task marker (`TODO:`, `TODO(owner)`), not a placeholder such as `TODO.`.",
        langs: Langs::Any,
        place: Place::Comment,
        output: false,
        debug_format: false,
        literal_is_safe: false,
        removable_line: false,
        detect: Detect::Pattern(r"\b(TODO|FIXME)\b"),
    },
];

/// Each pattern rule's regex, compiled the first time a file it applies to
/// is reviewed. Patterns are ASCII-only (`\w`, `\b`, `\s`, `(?i)` mean their
/// ASCII forms) and match bytes: Unicode classes made compiling the rule set
/// cost ~12 ms per `redline check`, more than reading the repository.
static COMPILED: LazyLock<Vec<OnceLock<Regex>>> =
    LazyLock::new(|| RULES.iter().map(|_| OnceLock::new()).collect());

fn compiled(index: usize) -> Option<&'static Regex> {
    let Detect::Pattern(pattern) = RULES[index].detect else {
        return None;
    };
    Some(COMPILED[index].get_or_init(|| {
        RegexBuilder::new(pattern)
            .unicode(false)
            .build()
            .expect("built-in rule patterns are valid")
    }))
}

/// Looks up a built-in rule by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Whether a finding's rule is one of the secret rules (these always run).
pub fn is_secret_rule(id: &str) -> bool {
    id.starts_with("secret-")
}

/// Whether `pattern` (a rule id, `prefix-*`, or `*`) names rule `id`.
fn names_rule(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

/// Whether a `[builtin]` entry names at least one rule (for config errors).
pub fn names_any_rule(pattern: &str) -> bool {
    RULES.iter().any(|r| names_rule(pattern, r.id))
}

/// Which rules run where: the `[builtin]` table of the configuration.
#[derive(Debug)]
pub struct Policy {
    off: Vec<String>,
    off_in: Vec<(GlobMatcher, Vec<String>)>,
    output_paths: Vec<String>,
    /// Compiled the first time a printing rule matches: most reviews never
    /// need it, and `check` start-up is measured.
    output_globs: OnceLock<GlobSet>,
}

impl Default for Policy {
    /// Every rule on, the default output paths.
    fn default() -> Self {
        Policy::new(&BuiltinConfig::default())
    }
}

impl Policy {
    /// Builds the policy. Globs were validated when the configuration was
    /// loaded; one that still fails to compile is ignored.
    pub fn new(config: &BuiltinConfig) -> Self {
        let off_in = config
            .disable_in
            .iter()
            .filter_map(|(glob, rules)| {
                let m = Glob::new(glob).ok()?.compile_matcher();
                Some((m, rules.clone()))
            })
            .collect();
        Self {
            off: config.disable.clone(),
            off_in,
            output_paths: config.output_paths.clone(),
            output_globs: OnceLock::new(),
        }
    }

    /// Paths where printing is the point (`[builtin] output_paths`).
    fn output_paths(&self) -> &GlobSet {
        self.output_globs
            .get_or_init(|| super::changes::globs(&self.output_paths))
    }

    /// Whether rule `id` runs on `path` under this policy.
    pub fn runs(&self, id: &str, path: &str) -> bool {
        !self.off.iter().any(|p| names_rule(p, id))
            && !self
                .off_in
                .iter()
                .any(|(glob, rules)| glob.is_match(path) && rules.iter().any(|p| names_rule(p, id)))
    }
}

/// Markers that silence built-in findings on their line (or, alone in a
/// comment, on the next line): redline's own and those of the scanners
/// people already use.
const ALLOW_MARKERS: &[&str] = &[
    "redline: allow",
    "redline:allow",
    "gitleaks:allow",
    "pragma: allowlist secret",
    "pragma: allowlist nextline secret",
];

/// Whether `line` carries an allow marker that covers `rule`: a bare marker
/// covers every rule; `redline: allow rule-a, rule-b` only those named.
fn allows(line: &str, rule: &str) -> bool {
    // Every marker says `allow`: most lines are spared the rest.
    if !line
        .as_bytes()
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"allow"))
    {
        return false;
    }
    let lower = line.to_ascii_lowercase();
    ALLOW_MARKERS.iter().any(|m| {
        let Some(at) = lower.find(m) else {
            return false;
        };
        if !m.starts_with("redline") {
            return true;
        }
        let named: Vec<&str> = lower[at + m.len()..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .filter(|w| rule_id_shaped(w))
            .collect();
        named.is_empty() || named.iter().any(|p| names_rule(p, rule))
    })
}

fn rule_id_shaped(word: &str) -> bool {
    !word.is_empty() && (names_any_rule(word) || word == "*")
}

fn suppressed(lines: &[&str], index: usize, rule: &str) -> bool {
    allows(lines[index], rule)
        || index
            .checked_sub(1)
            .is_some_and(|i| is_comment(lines[i]) && allows(lines[i], rule))
}

/// Test code by the conventions of the common test runners: a `tests`/`test`/
/// `spec`/`__tests__` folder, or a file named `test_*.py`, `*_test.go`,
/// `*.test.ts`, `*.spec.js`, `*Test.java`, `*_spec.rb`, `conftest.py`.
fn is_test_code(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or("");
    let in_tests = parts.any(|d| {
        matches!(
            d.to_ascii_lowercase().as_str(),
            "tests" | "test" | "__tests__" | "spec" | "specs" | "testing"
        )
    });
    let stem = name.split('.').next().unwrap_or("");
    let file = name.to_ascii_lowercase();
    let lower_stem = stem.to_ascii_lowercase();
    in_tests
        || file.starts_with("test_")
        || lower_stem.ends_with("_test")
        || lower_stem.ends_with("_spec")
        || file.contains(".test.")
        || file.contains(".spec.")
        || file == "conftest.py"
        || stem.ends_with("Test")
}

/// ANSI escape sequences as source code spells them (`"\x1b[31m"`): text
/// styled for a terminal.
const ANSI_ESCAPES: &[&str] = &["\\x1b[", "\\u001b[", "\\033[", "\\e["];

/// Tooling that runs what its own author gives it: scripts, tools,
/// examples, demos, benchmarks, docs, `bin/` and CI folders, build scripts
/// and tool configuration. Entry points (`main.py`, `src/main.rs`) are not:
/// outside input arrives there.
fn runs_own_input(path: &str) -> bool {
    const DIRS: &[&str] = &[
        "scripts",
        "script",
        "tools",
        "tool",
        "bench",
        "benches",
        "benchmark",
        "benchmarks",
        "examples",
        "example",
        "demo",
        "demos",
        "playground",
        "playgrounds",
        "sandbox",
        "docs",
        "doc",
        "docs_src",
        "docs-src",
        "tutorial",
        "tutorials",
        "bin",
        "ci",
        ".github",
        ".circleci",
    ];
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or("").to_ascii_lowercase();
    const BUILD_SCRIPTS: &[&str] = &[
        "gulpfile.js",
        "gulpfile.mjs",
        "gulpfile.ts",
        "gruntfile.js",
        "makefile.js",
        "jakefile.js",
        "noxfile.py",
        "setup.py",
        "invokefile.py",
        "fabfile.py",
        "dodo.py",
    ];
    // A playground or demo file of its own (`play.ts` at the root).
    const SCRATCH: &[&str] = &[
        "play",
        "playground",
        "scratch",
        "sandbox",
        "demo",
        "example",
    ];
    let stem = file.split('.').next().unwrap_or("");
    parts.any(|d| DIRS.iter().any(|x| d.eq_ignore_ascii_case(x)))
        || BUILD_SCRIPTS.contains(&file.as_str())
        || SCRATCH.contains(&stem)
        || file.contains(".conf.")
        || file.contains(".config.")
}

/// Documentation: secret-shaped values there are usually examples, so only
/// a live provider format (or a private key) is critical.
fn is_documentation(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    // A `.txt` is a document when it is named as one (`README.txt`,
    // `CHANGES.txt`, `INSTALL.txt`) or sits with the docs; other text
    // files are notes, dumps and settings, where a credential is a leak.
    let stem = lower
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split('.')
        .next()
        .unwrap_or("");
    let doc_text = ext == "txt"
        && matches!(
            stem,
            "readme"
                | "changes"
                | "changelog"
                | "history"
                | "install"
                | "news"
                | "authors"
                | "contributing"
                | "license"
                | "copying"
                | "notice"
                | "faq"
                | "usage"
                | "tutorial"
                | "guide"
                | "index"
        );
    // A manual page: `man/syncthing-config.5`, `redline.1`.
    let man_page = ext.len() == 1 && ext.as_bytes()[0].is_ascii_digit() && ext != "0";
    doc_text
        || man_page
        || matches!(
            ext,
            "md" | "markdown"
                | "rst"
                | "adoc"
                | "asciidoc"
                | "mdx"
                | "rdoc"
                | "org"
                | "textile"
                | "pod"
                | "texi"
                | "texinfo"
        )
        || lower.starts_with("docs/")
        || lower.starts_with("xdocs/")
        || lower.contains("/xdocs/")
        || lower.starts_with("doc/")
        || lower.contains("/docs/")
        || lower.contains("/doc/")
}

/// A translation catalogue: the text a program shows, one language per
/// file (`locales/de.json`, `messages_fr.properties`, `values-ru/strings.xml`,
/// `.po`). `password: "Wachtwoord"` there is the label of a form's field.
fn is_translation(path: &str) -> bool {
    // ISO 639-1, less the codes that name other files as often (`sa.json`
    // for a service account, `ts`, `os`, `ml`, `io`, `se`, `st`, `co`).
    const LANGUAGES: &[&str] = &[
        "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg",
        "bh", "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "cr", "cs", "cu", "cv", "cy",
        "da", "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj",
        "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht",
        "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "is", "it", "iu", "ja", "jv", "ka",
        "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la",
        "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "mn", "mr", "ms",
        "mt", "my", "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj",
        "om", "or", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sc", "sd",
        "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "te",
        "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "tt", "tw", "ty", "ug", "uk", "ur", "uz",
        "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
    ];
    let lower = path.to_ascii_lowercase();
    let mut parts = lower.rsplit('/');
    let file = parts.next().unwrap_or("");
    // (`lang/` and `languages/` in code are as often a compiler's or an
    // editor's support for programming languages.)
    let code = secrets::is_code(path);
    let in_catalogue = parts.any(|d| {
        matches!(
            d,
            "locale"
                | "locales"
                | "i18n"
                | "l10n"
                | "translations"
                | "localization"
                | "localizations"
        ) || !code && matches!(d, "lang" | "langs" | "languages")
    });
    let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    // `de`, `pt-br`, `zh_hans`: a language, then a region or a script.
    let language = |s: &str| {
        let (lang, rest) = s.split_once(['-', '_']).unwrap_or((s, ""));
        LANGUAGES.contains(&lang)
            && rest.len() <= 4
            && rest.bytes().all(|b| b.is_ascii_alphabetic())
    };
    let bundle = ["messages", "strings", "labels", "i18n"].iter().any(|b| {
        stem.strip_prefix(b)
            .is_some_and(|r| r.is_empty() || r.strip_prefix('_').is_some_and(language))
    });
    in_catalogue
        || matches!(ext, "po" | "pot" | "xlf" | "xliff" | "arb" | "strings")
        || file == "strings.xml"
        || ext == "properties" && bundle
        || matches!(ext, "json" | "yml" | "yaml") && language(stem)
}

/// Values under one name this many times in one file's change are a table.
const TABLE_ROWS: usize = 4;

/// Drops the named-value secret findings of a table: code that assigns a
/// value under the same secret-sounding name four times and more in one
/// change (a test's table of cache keys, a list of sample records) holds
/// data. A leaked credential comes once or twice, under its own name.
/// `named` pairs the line of each such value with its name.
fn drop_value_tables(findings: &mut Vec<Finding>, named: &[(u32, String)]) {
    let mut rows: HashMap<&str, usize> = HashMap::new();
    for (_, name) in named {
        *rows.entry(name.as_str()).or_default() += 1;
    }
    let table: std::collections::HashSet<u32> = named
        .iter()
        .filter(|(_, name)| !name.is_empty() && rows[name.as_str()] >= TABLE_ROWS)
        .map(|(line, _)| *line)
        .collect();
    if !table.is_empty() {
        findings.retain(|f| {
            !(table.contains(&f.line) && f.rule.as_deref() == Some("secret-assignment"))
        });
    }
}

/// The name a value at byte `start` of `line` is assigned to: the last
/// identifier before it (`token` in `token: "…"`, `api_key` in
/// `self.api_key = "…"`), lower-cased; empty when there is none.
fn assigned_name(line: &str, start: usize) -> String {
    let before = &line[..floor_char(line, start)];
    let trimmed = before.trim_end_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | '=' | ':' | '>' | ',' | '(' | '[' | '{'
            )
    });
    trimmed
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Builds the secret rules' keyword automata now, so that a one-shot
/// `redline check` can do it on another thread while it reads the
/// repository (it is the largest start-up cost of the rules). Reviews that
/// start before it is done wait for it rather than build it twice.
pub fn warm_up() {
    secrets::warm_up();
}

/// Reviews the added lines of one file with every rule on. `only_secrets`
/// restricts the run to the secret rules (used beside model reviewers).
pub fn review_file(file: &FileChange, only_secrets: bool) -> Vec<Finding> {
    static ALL_ON: LazyLock<Policy> = LazyLock::new(Policy::default);
    review_file_with(file, only_secrets, &ALL_ON)
}

/// Reviews the added lines of one file under `policy`; what the file's own
/// removed lines held is not reported again (see [`review_files`] for a
/// whole change set, where a block may move between files).
pub fn review_file_with(file: &FileChange, only_secrets: bool, policy: &Policy) -> Vec<Finding> {
    let mut baseline = if only_secrets {
        Baseline::default()
    } else {
        Baseline::of(std::slice::from_ref(file))
    };
    review_file_in(file, only_secrets, policy, &mut baseline)
}

/// Reviews every file of a change set with every rule `policy` leaves on,
/// one list of findings per file. A construct that only moved from one file
/// to another, or was reformatted or renamed, is not reported.
pub fn review_files(files: &[FileChange], policy: &Policy) -> Vec<Vec<Finding>> {
    let mut baseline = Baseline::of(files);
    let pending = pending_side_by_side(files, policy, &baseline);
    files
        .iter()
        .zip(pending)
        .map(|(f, p)| finish(f, p, &mut baseline))
        .collect()
}

/// Files reviewed at once fewer than this are reviewed on the caller's
/// thread (a language-server review is one buffer).
const SIDE_BY_SIDE_FROM: usize = 8;

/// [`review_pending`] of each file, in order, spread over the machine's
/// cores when there are enough files (parsing dominates and each file
/// parses alone).
fn pending_side_by_side<'a>(
    files: &'a [FileChange],
    policy: &Policy,
    baseline: &Baseline,
) -> Vec<Pending<'a>> {
    let one = |f: &'a FileChange| review_pending(f, false, policy, baseline);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if files.len() < SIDE_BY_SIDE_FROM || threads < 2 {
        return files.iter().map(one).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                // A rule's panic is the caller's to contain, as on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Reviews the added lines of one file; `baseline` holds what the review's
/// changes removed (a hit it accounts for is not new).
pub fn review_file_in(
    file: &FileChange,
    only_secrets: bool,
    policy: &Policy,
    baseline: &mut Baseline,
) -> Vec<Finding> {
    let pending = review_pending(file, only_secrets, policy, baseline);
    finish(file, pending, baseline)
}

/// Everything of a file's review but the claims of the change's removed
/// lines: what files can do side by side (it reads `baseline` only).
fn review_pending<'a>(
    file: &'a FileChange,
    only_secrets: bool,
    policy: &Policy,
    baseline: &Baseline,
) -> Pending<'a> {
    let lines = crate::diff::lines(&file.new_text);
    let doc = is_documentation(&file.path);
    let tests = is_test_code(&file.path);
    let translations = is_translation(&file.path);
    let noise = super::noise::noise_reason(&file.path, &file.new_text);
    // A vendored library's own tests, fixtures and demos ship with it in
    // public: their sample keys and tokens are nobody's secret.
    let test_support = {
        let name = file.path.rsplit('/').next().unwrap_or("");
        let stem = name.split('.').next().unwrap_or("").to_ascii_lowercase();
        matches!(
            stem.as_str(),
            "testing" | "testutil" | "testutils" | "testhelpers" | "test_helpers"
        )
    };
    let vendored_samples = noise == Some("vendored code")
        && (tests
            || test_support
            || runs_own_input(&file.path)
            || super::noise::is_test_data(&file.path));
    let secrets_on = !vendored_samples
        && RULES
            .iter()
            .any(|r| matches!(r.detect, Detect::Secret) && policy.runs(r.id, &file.path));
    // Generated, bundled and vendored files get the secret rules only: a
    // leftover there is someone else's, a key is still a key. So do test
    // fixtures and data: they are inputs, not code under review.
    let only_secrets = only_secrets || noise.is_some() || super::noise::is_test_data(&file.path);
    // A lock file names packages (`js-tokens@4.0.0:`) above their digests:
    // there only what has a secret's own shape counts (a provider's token,
    // a key, credentials in a registry URL), never a value under a name.
    // So does vendored code: `UNRESERVED_PAT = r"ABC…"` in a vendored URL
    // parser is someone else's pattern, a key is still a key. (A bundle
    // keeps its named values: a build inlines the app's configuration.)
    let own_shape_only = matches!(noise, Some("lock file" | "vendored code"));
    let site = site::Site::new(&file.path, &file.new_text, &lines).with_tree(file.tree());
    let mut findings = Vec::new();
    let mut hits: Vec<novelty::Hit> = Vec::new();
    // (line index, rule index, the rule's matches on the line)
    let mut candidates: Vec<(usize, usize, Vec<std::ops::Range<usize>>)> = Vec::new();
    let mut seen: HashMap<(String, &'static str), u32> = HashMap::new();
    let mut push = |line_no: u32,
                    text: &str,
                    rule: &'static Rule,
                    start: usize,
                    end: usize,
                    severity: Severity,
                    message: String,
                    findings: &mut Vec<Finding>| {
        push_finding(
            file, &mut seen, line_no, text, rule, start, end, severity, message, findings,
        );
    };
    let code = secrets::is_code(&file.path);
    // Tests, scripts, tools and examples run input their own author gives
    // them: `shell=True` or `eval` there is not injection (bandit and
    // ruff's `S` rules are switched off for them the same way).
    let trusted_input = tests || runs_own_input(&file.path);
    // (line, name) of each value found under its name alone (no
    // provider's format) in code.
    let mut named_values: Vec<(u32, String)> = Vec::new();
    for line_no in file.diff.added_lines() {
        let index = line_no as usize - 1;
        let Some(text) = lines.get(index) else {
            continue;
        };
        // One secret finding per line: the scanner reports the strongest
        // evidence (a private key, then a provider format, …, then a name).
        // Secrets are looked for in lines of any length: a key pasted into a
        // minified bundle is still a key.
        if secrets_on {
            // A key rotated under an unchanged header: its first changed
            // line of key material.
            let rotated = || {
                let header = secrets::private_key_body(&lines, index)?;
                let first = !file.diff.is_added(line_no - 1)
                    || secrets::private_key_body(&lines, index - 1) != Some(header);
                (first && !file.diff.is_added(header as u32 + 1)).then(|| secrets::Hit {
                    live: true,
                    ..secrets::whole_line_hit("secret-private-key", text)
                })
            };
            let where_text = secrets::TextCheck {
                in_comment: &|at| site.in_line_comment(index, at),
                blocks: site.may_hold_text(),
                in_block: &|at| site.inside_text_block(index, at),
            };
            let found = secrets::scan(&lines, index, code, &where_text)
                .or_else(rotated)
                .filter(|hit| {
                    // Tests and documentation are full of toy credentials
                    // (`password="password123"`, `http://user:pass@localhost`):
                    // there a generic shape counts only with a value that looks
                    // generated. Provider formats, keys and tokens always count.
                    let generic = hit.provider.is_none()
                        && !hit.live
                        && matches!(
                            hit.rule,
                            "secret-assignment" | "secret-url-credentials" | "secret-auth-header"
                        );
                    // So are comments in code (`# e.g. https://user:pass@host`):
                    // a commented-out key is still a key, a toy one is not.
                    let named = hit.provider.is_none() && hit.rule == "secret-assignment";
                    // A test's or a page's sample token: an example payload
                    // (`"name": "John Doe"`) or one that has expired.
                    let sample_jwt = hit.rule == "secret-jwt"
                        && (doc || tests)
                        && !secrets::credible_jwt(
                            &text[floor_char(text, hit.start)..floor_char(text, hit.end)],
                        );
                    // Algolia DocSearch's `apiKey` beside its `indexName` is
                    // the search-only key every visitor's browser receives.
                    let search_only = named && {
                        let near = &lines[index.saturating_sub(6)..(index + 7).min(lines.len())];
                        near.iter().any(|l| {
                            let l = l.to_ascii_lowercase();
                            l.contains("indexname") || l.contains("docsearch")
                        })
                    };
                    // A password hash on a documentation page shows the
                    // format (`password: "$2b$12$…"` in a config guide); in a
                    // test it is the fixture a login is checked against.
                    let doc_hash = (doc || tests) && hit.provider == Some("bcrypt password hash");
                    // A translation's `password: "Wachtwoord"` is a label.
                    let label = translations && generic;
                    let dismissed =
                        own_shape_only && named || search_only || sample_jwt || doc_hash || label;
                    // (The value is judged before the place: a comment's
                    // region may need the file parsed.)
                    !dismissed
                        && !(generic
                            && (doc || tests || code)
                            && !secrets::credible_example(
                                &text[floor_char(text, hit.start)..floor_char(text, hit.end)],
                            )
                            && (doc || tests || code && site.in_comment(index, hit.start)))
                });
            // (A private key's hit is its `BEGIN` line, the same for
            // every key: never claimed.)
            let found = found.filter(|hit| {
                let value = &text[floor_char(text, hit.start)..floor_char(text, hit.end)];
                hit.rule == "secret-private-key" || !baseline.had_secret(value)
            });
            if let Some(hit) = found {
                if code && hit.provider.is_none() && !hit.live && hit.rule == "secret-assignment" {
                    // Counted whether reported or not (suppressed, off):
                    // a table is a table.
                    named_values.push((line_no, assigned_name(text, hit.start)));
                }
                if let Some(rule) = rule(hit.rule) {
                    if policy.runs(rule.id, &file.path) && !suppressed(&lines, index, rule.id) {
                        let severity = if doc && !hit.live {
                            Severity::Warning
                        } else {
                            rule.severity
                        };
                        let message = match hit.provider {
                            Some(name) => format!(
                                "This looks like {} {name}. Remove it, revoke it at the provider, and read it from the environment or a secret store at run time.",
                                article(name)
                            ),
                            None => rule.message.to_string(),
                        };
                        push(
                            line_no,
                            text,
                            rule,
                            hit.start,
                            hit.end,
                            severity,
                            message,
                            &mut findings,
                        );
                    }
                }
            }
        }
        // Minified or generated one-liners are noise and slow to scan.
        if only_secrets || text.len() > 4000 {
            continue;
        }
        for (index_rule, rule) in RULES.iter().enumerate() {
            if !rule.langs.matches(&file.path) {
                continue;
            }
            let Some(regex) = compiled(index_rule) else {
                continue;
            };
            if !policy.runs(rule.id, &file.path) || rule.id.starts_with("danger-") && trusted_input
            {
                continue;
            }
            let spans: Vec<std::ops::Range<usize>> = regex
                .captures_iter(text.as_bytes())
                .map(|caps| {
                    let m = caps.get(1).unwrap_or_else(|| caps.get(0).expect("group 0"));
                    m.start()..m.end()
                })
                .collect();
            if !spans.is_empty() {
                candidates.push((index, index_rule, spans));
            }
        }
    }
    // Judged once every candidate is known, so that the file is parsed
    // only as far as the last of them needs.
    if let Some(last) = candidates.iter().map(|c| c.0).max() {
        site.judge_through(last);
    }
    for (index, index_rule, spans) in candidates {
        let rule = &RULES[index_rule];
        let text = lines[index];
        // The first match that sits where the rule applies: `"eval(x)";
        // eval(y)` reports the call, not the text.
        let Some(span) = spans
            .into_iter()
            .find(|span| applies(rule, &site, index, text, span.clone(), policy))
        else {
            continue;
        };
        if suppressed(&lines, index, rule.id) {
            continue;
        }
        hits.push(novelty::Hit {
            rule: index_rule,
            line: index as u32 + 1,
            start: span.start,
            end: span.end,
        });
    }
    drop_value_tables(&mut findings, &named_values);
    Pending {
        lines,
        findings,
        hits,
        seen,
    }
}

/// What a file's review found before the change's removed lines are
/// consulted: its findings so far and the code rules' hits (see
/// [`finish`]).
struct Pending<'a> {
    /// The file's new text in lines.
    lines: Vec<&'a str>,
    findings: Vec<Finding>,
    hits: Vec<novelty::Hit>,
    seen: HashMap<(String, &'static str), u32>,
}

/// The hits of `pending` the change introduced (those a removed hit does
/// not claim) join its findings. Claims are taken in file order, so this
/// runs file after file.
fn finish(file: &FileChange, pending: Pending<'_>, baseline: &mut Baseline) -> Vec<Finding> {
    let Pending {
        lines,
        mut findings,
        hits,
        mut seen,
    } = pending;
    for hit in baseline.introduced(file, &lines, hits) {
        let rule = &RULES[hit.rule];
        push_finding(
            file,
            &mut seen,
            hit.line,
            lines[hit.line as usize - 1],
            rule,
            hit.start,
            hit.end,
            rule.severity,
            rule.message.to_string(),
            &mut findings,
        );
    }
    findings.sort_by_key(|f| f.line);
    findings
}

/// Adds a finding of `rule` on line `line_no` (`text`), its fingerprint
/// counting the same text's earlier findings of the rule in the file.
#[allow(clippy::too_many_arguments)]
fn push_finding(
    file: &FileChange,
    seen: &mut HashMap<(String, &'static str), u32>,
    line_no: u32,
    text: &str,
    rule: &'static Rule,
    start: usize,
    end: usize,
    severity: Severity,
    message: String,
    findings: &mut Vec<Finding>,
) {
    let (start, end) = (floor_char(text, start), floor_char(text, end));
    let column = text[..start].chars().count() as u32 + 1;
    let end_column = text[..end].chars().count() as u32 + 1;
    let key = (text.trim().to_string(), rule.id);
    let occurrence = seen.entry(key).or_insert(0);
    let fix = (rule.removable_line && is_whole_statement(text, start)).then(String::new);
    findings.push(Finding {
        path: file.path.clone(),
        line: line_no,
        end_line: line_no,
        column,
        end_column: Some(end_column),
        severity,
        reviewer: REVIEWER.to_string(),
        rule: Some(rule.id.to_string()),
        title: rule.title.to_string(),
        message,
        fingerprint: fingerprint(&file.path, REVIEWER, rule.id, text, *occurrence),
        fix,
    });
    *occurrence += 1;
}

/// Whether a match of `rule` at byte `at` of line `index` counts: it sits
/// in the region the rule is about, a print is not intended output, a
/// print macro formats with `{:?}`.
fn applies(
    rule: &Rule,
    site: &site::Site<'_>,
    index: usize,
    text: &str,
    span: std::ops::Range<usize>,
    policy: &Policy,
) -> bool {
    let at = span.start;
    let placed = match rule.place {
        Place::Anywhere => true,
        Place::Code => site.region(index, at) == Region::Code,
        Place::NotComment => site.region(index, at) != Region::Comment,
        Place::Comment if site.is_prose() => is_task_marker(text, at),
        Place::Comment => match site.region(index, at) {
            // `// is from a TODO file`, `non-TODO commits`: a word inside a
            // sentence, not a marker opening the comment.
            Region::Comment => {
                opens_comment(text, at) || is_task_marker(text, at) || bracketed(text, at, span.end)
            }
            // `@skip("TODO: fix #12")`: a task marker opening a string.
            Region::String => opens_string(text, at) && is_task_marker(text, at),
            Region::Code => false,
        },
    };
    if !placed {
        return false;
    }
    // `# TODO modify this phase as you see fit`, `// TODO: use your favorite
    // router`: a template's or a guide's instruction to its reader, not a
    // task its author left.
    let rest = text.get(span.end..).unwrap_or("");
    if rule.id == "todo-comment" && addresses_reader(rest) {
        return false;
    }
    let constant = rule.literal_is_safe && only_a_literal(rest)
        || rule.id == "danger-shell-true" && literal_command(site.call_text(index, at));
    // `pickle.loads(pickle.dumps(obj))` copies the program's own object: no
    // outside data is unpickled.
    let round_trip = rule.id == "danger-pickle-loads" && {
        let arg = rest.trim_start();
        ["pickle.dumps(", "cPickle.dumps(", "dill.dumps("]
            .iter()
            .any(|d| arg.starts_with(d))
    };
    // `async exec(t, run) {` or `def eval(self, …):` defines a method of
    // that name; it runs nothing.
    let definition = rule.id.starts_with("danger-") && defines(text, span.start);
    // `FROM cache_v${VERSION}`: a table named by the program's own constant.
    let constant_sql =
        rule.id == "danger-sql-string" && splices_only_constants(&text[span.start..]);
    if round_trip || definition || constant_sql {
        return false;
    }
    // An example shows what it does: `dbg!(payload)` in `examples/` is its
    // output.
    if rule.id == "debug-dbg-macro" && site.in_examples() {
        return false;
    }
    // `// eslint-disable-next-line no-console`, `# noqa: S307`, `# nosec`:
    // the project's linter was told this one stays.
    if (rule.id.starts_with("debug-") || rule.id.starts_with("danger-"))
        && site.linter_allows(index, rule.id)
    {
        return false;
    }
    let formats = !rule.debug_format || site.formats_for_debugging(index, at);
    let intended = rule.output && site.intended_output(index, at, policy.output_paths());
    !constant && formats && !intended
}

/// The name at byte `at` is being defined, not called: `def exec(`,
/// `function eval(`, or a method head (`async exec(t, run) {`) that opens
/// its body on the same line.
fn defines(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end();
    let last_word = before
        .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if matches!(last_word, "def" | "function" | "fn") {
        return true;
    }
    let modifiers_only = before.split_whitespace().all(|w| {
        matches!(
            w,
            "async" | "static" | "public" | "private" | "protected" | "override"
        )
    });
    let line = text.trim_end();
    modifiers_only && line.ends_with('{') && !line.contains('=')
}

/// A task's text speaks to whoever uses the template or the guide: "your
/// project", "as you see fit", "you may want to", "if you need to". ("See
/// if you can drop this" is the author's own task.)
fn addresses_reader(task: &str) -> bool {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        matches!(w.as_str(), "your" | "yours" | "yourself")
            || w == "you" && matches!(next, "may" | "might" | "want" | "need" | "see" | "wish")
    })
}

/// The marker from `at` to `end` stands in brackets of its own: `(TODO)`,
/// `[FIXME]`.
fn bracketed(text: &str, at: usize, end: usize) -> bool {
    text[..at].ends_with(['(', '[']) && text[end..].starts_with([')', ']'])
}

/// The word at byte `at` opens its comment's text: only comment markers,
/// blanks and punctuation (`//`, `#`, ` * `, `(`, `-`) stand before it on
/// the line, after the comment opens (`x = 1  # TODO: …`, `/* FIXME …`).
fn opens_comment(text: &str, at: usize) -> bool {
    let before = &text[..at];
    let comment = ["//", "#", "/*", "--", "<!--", ";", "\"\"\"", "'''"]
        .iter()
        .filter_map(|m| before.rfind(m).map(|i| i + m.len()))
        .max()
        .unwrap_or(0);
    before[comment..].chars().all(|c| {
        c.is_whitespace() || matches!(c, '*' | '/' | '!' | '(' | '[' | '-' | ':' | '#' | '>')
    }) && !before.ends_with('-')
}

/// What SQL text from its opening quote splices in (`${…}`, `{…}`, `" +
/// name`) are all the program's own constants, named in capitals
/// (`${VERSION}`, `{TABLE}`, `" + Schema.TABLE`): no outside input.
fn splices_only_constants(sql: &str) -> bool {
    let constant = |e: &str| {
        let e = e.trim();
        let last = e.rsplit('.').next().unwrap_or(e);
        !last.is_empty()
            && last.bytes().any(|b| b.is_ascii_uppercase())
            && last
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    let mut spliced = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        let inner = &rest[open + 1..];
        let Some(close) = inner.find('}') else {
            return false;
        };
        spliced.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    for (i, _) in sql.match_indices('+') {
        let operand = sql[i + 1..].trim_start();
        let len = operand
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(operand.len());
        spliced.push(&operand[..len]);
    }
    !spliced.is_empty() && spliced.into_iter().all(constant)
}

/// Byte `at` is the first character inside a quoted string.
fn opens_string(text: &str, at: usize) -> bool {
    at > 0 && matches!(text.as_bytes()[at - 1], b'"' | b'\'' | b'`')
}

/// `rest` (what follows a call's opening parenthesis) is one plain string
/// literal and the closing parenthesis: nothing computed, nothing
/// interpolated (`"make docs")`, not `f"rm {path}")` or `"rm " + path)`).
fn only_a_literal(rest: &str) -> bool {
    after_plain_literal(rest).is_some_and(|after| after.trim_start().starts_with(')'))
}

/// `subprocess.run("make docs", shell=True)`: the command, the call's first
/// argument, is one plain string literal, so no outside input reaches the
/// shell.
fn literal_command(call: &str) -> bool {
    let Some(open) = call.find('(') else {
        return false;
    };
    after_plain_literal(&call[open + 1..])
        .is_some_and(|after| after.trim_start().starts_with([',', ')']))
}

/// What follows the plain string literal that `rest` opens with (after
/// blanks), if it does: no prefix (`f"…"`), no `${…}` in a template.
fn after_plain_literal(rest: &str) -> Option<&str> {
    let rest = rest.trim_start();
    let quote = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let body = &rest[1..];
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '$' if quote == '`' => return None,
            c if c == quote => return Some(&body[i + 1..]),
            _ => {}
        }
    }
    None
}

/// A `TODO`/`FIXME` at byte `at` written as a task marker: followed by
/// `:`, or by an owner or issue in parentheses and `:` (`TODO(#12):`).
/// `TODO.`, "the TODO list", a bare `TODO` and a `TODO:` that says nothing
/// (`… in favor of TODO:` in a changelog) are placeholders and words, not
/// tasks.
fn is_task_marker(text: &str, at: usize) -> bool {
    let word_end = text[at..]
        .find(|c: char| !c.is_ascii_alphabetic())
        .map_or(text.len(), |i| at + i);
    let after = &text[word_end..];
    let said = if let Some(rest) = after.strip_prefix(':') {
        rest
    } else if after.starts_with('(') {
        match after.find(')') {
            Some(i) if after[i + 1..].starts_with(':') => &after[i + 2..],
            _ => return false,
        }
    } else {
        return false;
    };
    said.chars().any(|c| c.is_alphanumeric())
}

/// The nearest char boundary at or before byte `i`. Byte patterns can in
/// principle stop inside a multi-byte character; columns count characters.
fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(super) fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    ["//", "#", "/*", "*", "--", ";", "<!--"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// The match starts the line's only statement (so deleting the line is a
/// safe fix): nothing but whitespace before it, and the line ends the call.
fn is_whole_statement(line: &str, start: usize) -> bool {
    let before = &line[..start];
    let t = line.trim_end();
    before.trim().is_empty() && (t.ends_with(';') || t.ends_with(')') || t.ends_with("debugger"))
}

/// "a" or "an" before a provider's name, by how it is read out: "an AWS
/// key", "an npm token", "a GitHub token", "a Hugging Face token".
fn article(name: &str) -> &'static str {
    let first = name.split_whitespace().next().unwrap_or("");
    let initialism = first.len() > 1
        && first
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let vowel_sound = match first.chars().next() {
        Some(c) if initialism => "AEFHILMNORSX".contains(c),
        Some(c) => "aeiouAEIOU".contains(c) || first.eq_ignore_ascii_case("npm"),
        None => false,
    };
    if vowel_sound {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::changes::FileChange;

    fn added(path: &str, text: &str) -> Vec<Finding> {
        review_file(&FileChange::new_file(path, text.to_string()), false)
    }

    fn rules(findings: &[Finding]) -> Vec<&str> {
        findings.iter().filter_map(|f| f.rule.as_deref()).collect()
    }

    #[test]
    fn a_review_handed_the_kept_tree_parses_nothing_and_judges_alike() {
        let text = "def f(x):\n    s = \"print(x)\"\n    print(x)  # TODO: go\n    return s\n";
        let plain = FileChange::new_file("a.py", text.to_string());
        let before = crate::syntax::fresh_parses_on_this_thread();
        let parsed_here = review_file(&plain, false);
        assert!(crate::syntax::fresh_parses_on_this_thread() > before);

        let mut kept = plain.clone();
        assert!(kept.keep_tree(crate::syntax::Parsed::parse_path("a.py", text).expect("parses")));
        let before = crate::syntax::fresh_parses_on_this_thread();
        let with_tree = review_file(&kept, false);
        assert_eq!(crate::syntax::fresh_parses_on_this_thread(), before);
        assert_eq!(with_tree, parsed_here);
        // The print in code and the TODO in the comment; not the string.
        assert_eq!(rules(&with_tree), ["debug-print", "todo-comment"]);
        assert!(with_tree.iter().all(|f| f.line == 3));
    }

    /// Rule ids the secret rules report on `text` as a new file at `path`.
    pub(super) fn secret_rules(path: &str, text: &str) -> Vec<String> {
        review_file(&FileChange::new_file(path, format!("{text}\n")), true)
            .into_iter()
            .filter_map(|f| f.rule)
            .collect()
    }

    /// A deterministic value of a provider's sample spec (see
    /// `providers.rs`): `{a36}` 36 letters and digits, `{h32}` lower-case
    /// hex, `{uuid}`, and so on; everything else is literal.
    fn generate(spec: &str, seed: u64, fill: Option<char>, shrink: bool) -> String {
        let mut state = seed | 1;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut out = String::new();
        let mut rest = spec;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('}').expect("closed spec");
            let field = &rest[open + 1..close];
            rest = &rest[close + 1..];
            let (alphabet, count): (&str, usize) = if field == "uuid" {
                ("", 0)
            } else {
                let split = field.find(|c: char| c.is_ascii_digit()).expect("count");
                let n: usize = field[split..].parse().expect("count");
                let set = match &field[..split] {
                    "a" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                    "L" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    "l" => "abcdefghijklmnopqrstuvwxyz",
                    "U" => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                    "n" => "abcdefghijklmnopqrstuvwxyz0123456789",
                    "z" => "abcdefghijklmnopqrstuvwxyz234567",
                    "h" => "0123456789abcdef",
                    "d" => "0123456789",
                    "b" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    "w" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                    "age" => "qpzry9x8gf2tvdw0s3jn54khce6mua7l",
                    "zb" => "ybndrfg8ejkmcpqxot1uwisza345h769",
                    other => panic!("unknown sample alphabet {other}"),
                };
                (set, n)
            };
            let piece: String = if field == "uuid" {
                [8, 4, 4, 4, 12]
                    .iter()
                    .map(|&n| {
                        (0..n)
                            .map(|_| b"0123456789abcdef"[next(16)] as char)
                            .collect::<String>()
                    })
                    .collect::<Vec<_>>()
                    .join("-")
            } else {
                let set = if field.starts_with("age") {
                    alphabet.to_ascii_uppercase()
                } else {
                    alphabet.to_string()
                };
                let set = set.as_bytes();
                (0..count).map(|_| set[next(set.len())] as char).collect()
            };
            let piece = match fill {
                Some(c) => c.to_string().repeat(piece.len()),
                None if shrink => piece[..piece.len() / 2].to_string(),
                None => piece,
            };
            out.push_str(&piece);
        }
        out.push_str(rest);
        out
    }

    /// One row per provider: a generated value of its format is reported
    /// (under the provider's rule, naming the provider); the same value with
    /// its random parts halved, or replaced by `x`, is not.
    #[test]
    fn every_provider_format_has_a_positive_and_a_near_miss() {
        assert!(PROVIDERS.len() >= 150, "{} providers", PROVIDERS.len());
        let mut failures = Vec::new();
        for (i, p) in PROVIDERS.iter().enumerate() {
            let seed = 0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(0x1000_0000_01b3);
            let value = generate(p.sample, seed, None, false);
            let line = |v: &str| {
                if p.contextual {
                    format!(
                        "{}_API_KEY = \"{v}\"",
                        p.keywords[0]
                            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
                            .to_ascii_uppercase()
                    )
                } else if p
                    .keywords
                    .iter()
                    .any(|k| v.to_ascii_lowercase().contains(k))
                {
                    format!("const value = \"{v}\";")
                } else {
                    // Formats found only beside their provider's name.
                    format!("{}: \"{v}\"", p.keywords[0])
                }
            };
            let file = FileChange::new_file("src/app.js", format!("{}\n", line(&value)));
            let found = review_file(&file, true);
            let named = found
                .iter()
                .any(|f| f.rule.as_deref() == Some(p.rule) && f.message.contains(p.name));
            if !named {
                failures.push(format!(
                    "{}: {:?} gave {:?}",
                    p.id,
                    line(&value),
                    found
                        .iter()
                        .map(|f| (&f.rule, &f.message))
                        .collect::<Vec<_>>()
                ));
            }
            for near in [
                generate(p.sample, seed, None, true),
                generate(p.sample, seed, Some('x'), false),
            ] {
                let file = FileChange::new_file("src/app.js", format!("{}\n", line(&near)));
                let found = review_file(&file, true);
                if found
                    .iter()
                    .any(|f| f.message.contains(p.name) && f.rule.as_deref() == Some(p.rule))
                {
                    failures.push(format!("{}: near miss {:?} reported", p.id, line(&near)));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn provider_ids_are_unique_and_patterns_compile() {
        let mut ids: Vec<_> = PROVIDERS.iter().map(|p| p.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for i in 0..PROVIDERS.len() {
            secrets::provider_regex(i);
        }
    }

    #[test]
    fn github_token_checksum_decides_severity_in_documentation() {
        let body = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1";
        let mut n = secrets::crc32(body.as_bytes());
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut check = [b'0'; 6];
        for slot in check.iter_mut().rev() {
            *slot = alphabet[(n % 62) as usize];
            n /= 62;
        }
        let valid = format!("ghp_{body}{}", std::str::from_utf8(&check).expect("ascii"));
        let invalid = format!("ghp_{body}zzzzzz");
        let severity = |token: &str| {
            added("README.md", &format!("token: {token}\n"))
                .iter()
                .map(|f| f.severity)
                .next()
        };
        assert_eq!(severity(&valid), Some(Severity::Critical));
        assert_eq!(severity(&invalid), Some(Severity::Warning));
        assert_eq!(
            added("src/ci.rs", &format!("let t = \"{invalid}\";\n"))[0].severity,
            Severity::Critical
        );
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(secrets::crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn every_rule_pattern_compiles_and_ids_are_unique() {
        for index in 0..RULES.len() {
            compiled(index);
        }
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn low_entropy_or_placeholder_passwords_are_not_flagged() {
        assert!(added("a.py", "password = \"aaaaaaaaaa\"\n").is_empty());
        assert!(added("a.py", "password = \"changeme123\"\n").is_empty());
        assert!(added("a.py", "api_key = \"${API_KEY}\"\n").is_empty());
        assert!(added("a.py", "api_key = os.environ[\"API_KEY\"]\n").is_empty());
        assert!(added("a.py", "api_key = \"<your-api-key>\"\n").is_empty());
        assert!(added("a.env", "API_KEY=xxxxxxxxxxxxxxxxxxxx\n").is_empty());
        assert_eq!(
            rules(&added("a.py", "api_key = \"q8Zr2LmX9vTa7KpW\"\n")),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn documented_example_tokens_and_a_password_hash_in_a_guide_are_not_reported() {
        let guide = "Set `password: \"$2b$12$KIXQJwz6Yq9Zx8tW1mRp2OeGz5N3h7Lk0vQa9sTfB4cDdE2yHjW6u\"` in users.yml.\nThe token looks like `110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw`.\n";
        let found = added("docs/users.md", guide);
        assert!(found.is_empty(), "{found:?}");
        // The same hash in code, and a Telegram token of someone's, count.
        assert_eq!(
            rules(&added(
                "app/seed.py",
                "ADMIN_HASH = \"$2b$12$KIXQJwz6Yq9Zx8tW1mRp2OeGz5N3h7Lk0vQa9sTfB4cDdE2yHjW6u\"\n"
            )),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            rules(&added(
                "bot/config.py",
                "TOKEN = \"824309155:AAGk3Rt9qZxW2mPvL7nB4cY8sD1fH6jK0eQ\"\n"
            )),
            vec!["secret-provider-token"]
        );
        assert!(added(
            "bot/config.py",
            "TOKEN = \"110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\"\n"
        )
        .is_empty());
    }

    #[test]
    fn a_credential_in_a_json_string_ends_at_the_escaped_line_break() {
        let line = r#"{"config.ini": "HEROKU_TOKEN=de2d7f4a-2f49-4ab5-b613-ba1eaed51f6d\nBACKUP_ENABLED=true"}"#;
        let found = added("deploy/settings.json", &format!("{line}\n"));
        assert_eq!(rules(&found), vec!["secret-provider-token"], "{found:?}");
        // The value stops at `\n`: what follows is another setting.
        let shown = &found[0].message;
        assert!(!shown.contains("BACKUP_ENABLED"), "{shown}");
        // A path with a backslash is still not a credential.
        assert!(secret_rules(
            "deploy/settings.json",
            r#"{"config.ini": "TOKEN_FILE=C:\new\token.txt\nDEBUG=1"}"#
        )
        .is_empty());
    }

    #[test]
    fn a_random_value_pasted_bare_into_code_is_a_literal_but_an_expression_is_not() {
        // A setting pasted into code: no variable is named like that.
        for (path, line) in [
            (
                "app/settings.py",
                "atlassianToken = xpz6p8bes7huzmarx2zn072c\n",
            ),
            (
                "cmd/main.go",
                "zendeskToken = hu7o4h2b98ojpl5sdtow1drqgmxkg2vvzd3r6cxu\n",
            ),
            (
                "src/config.js",
                "sendbird_token: a4b071d724238122a7e4de15fb8b683711c91f86\n",
            ),
        ] {
            assert_eq!(secret_rules(path, line).len(), 1, "{path}: {line}");
        }
        // Expressions stay expressions: names, calls, fields, words.
        for line in [
            "api_token = DEFAULT_API_TOKEN_FOR_TESTS\n",
            "secret_key = settings.SECRET_KEY\n",
            "password = get_password_from_vault(name)\n",
            "auth_token = tokenFromEnvironmentOrConfigFile\n",
            "token = sha256HashOfTheSecretKey2\n",
            "secret_key = deadbeef\n",
            "api_key = abcdefabcdefabcdefabcdef\n",
            "secret_key = sk_abcdefghijklmnopqrstuvwxyz123\n",
        ] {
            assert!(secret_rules("app/settings.py", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn an_xml_element_written_over_three_lines_holds_its_value() {
        let twilio = "<config>\n  <twilioToken>\n    SK18ec0928a454ce95ae9e71296adc481e\n  </twilioToken>\n</config>\n";
        assert_eq!(
            rules(&added("conf/app.xml", twilio)),
            vec!["secret-assignment"]
        );
        let password = "<dbPassword>\n    q8Zr2LmX7vTn4KpW9sYd\n</dbPassword>\n";
        assert_eq!(
            rules(&added("conf/app.xml", password)),
            vec!["secret-assignment"]
        );
        // Not a credential's element, a placeholder, a reference, or an
        // element left open: nothing.
        for quiet in [
            "<description>\n    q8Zr2LmX7vTn4KpW9sYd\n</description>\n",
            "<apiToken>\n    your-api-token-here\n</apiToken>\n",
            "<apiToken>\n    ${API_TOKEN}\n</apiToken>\n",
            "<apiToken>\n    q8Zr2LmX7vTn4KpW9sYd\n<other/>\n",
        ] {
            assert!(added("conf/app.xml", quiet).is_empty(), "{quiet}");
        }
        // A folded YAML block ends its line with `>` too: still YAML.
        assert_eq!(
            secret_rules(
                "conf/app.yml",
                "api_token: >\n  q8Zr2LmX7vTn4KpW9sYd3HbQa1Vb\n"
            ),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn example_keys_published_in_sdks_and_docs_are_not_reported() {
        // A key from the Firebase SDKs' own sample configurations, and the
        // password of NuGet's nuget.config reference.
        assert!(secret_rules(
            "app/google-services.json",
            r#""current_key": "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs""#
        )
        .is_empty());
        assert!(secret_rules(
            "NuGet.Config",
            r#"<add key="ClearTextPassword" value="33f!!lloppa" />"#
        )
        .is_empty());
        // Anyone else's key of the same shapes is reported.
        assert_eq!(
            secret_rules(
                "app/google-services.json",
                r#""current_key": "AIzaSyC9x2Lq7VtR4mWn8KpZ3sYd6HfJ0bGcE1u""#
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                "NuGet.Config",
                r#"<add key="ClearTextPassword" value="q8Zr2!LmX7vTn4Kp" />"#
            ),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_token_with_a_fixed_head_past_its_prefix_but_without_it_is_a_look_alike() {
        // Sentry's org tokens carry base64 JSON (`eyJ…`) after `sntrys_`.
        let body = "omkELxwh1HHUyAzrXPCZ85xkVe9Lz1IytFoP9uB8Eanq2Ho5CUAWdkiUJPUtRW38vaLib2fNoycnKUbcfIcDRsXljZ";
        assert!(secret_rules(
            "ci.cfg",
            &format!(
                "sentry.org = {}{body}_AYrB3APXCumF4NjPGFmarmOhmC1sfnxEWR4cMGizNdJ",
                "sntrys_"
            )
        )
        .is_empty());
        let real = "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";
        assert_eq!(
            secret_rules("ci.cfg", &format!("sentry.org = {real}")),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn slack_legacy_workspace_tokens_need_a_letter_in_their_body() {
        assert_eq!(
            secret_rules("app.json", r#""refresh_token": "xoxr-6-rr0f4ylkxmxu""#),
            vec!["secret-provider-token"]
        );
        assert!(
            secret_rules("notes.txt", "slack token - 'xoxa-08532509747?07570405353c'").is_empty()
        );
    }

    #[test]
    fn a_constant_naming_another_and_oracles_demo_account_are_not_credentials() {
        assert!(secret_rules(
            "a.py",
            "REVISION_SCRIPT_TOKEN = \"REVISION_SCRIPT_FILENAME\""
        )
        .is_empty());
        assert!(secret_rules(
            "setup.cfg",
            "oracle=oracle+oracledb://scott:tiger@oracle23c/freepdb1"
        )
        .is_empty());
        assert_eq!(
            secret_rules(
                "setup.cfg",
                "oracle=oracle://scott:Xk29vLq7Tz@db.internal/xe"
            ),
            vec!["secret-url-credentials"]
        );
        assert_eq!(
            secret_rules(
                "a.py",
                "REVISION_SCRIPT_TOKEN = \"q8Zr2LmX9vTa7KpW3nB5cD1e\""
            ),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_value_whose_name_says_it_is_fake_is_not_a_credential() {
        for line in [
            "nonMatchingToken := \"elmv3ezs416op76rQx9Lm2Tz\"",
            "fake_api_key = \"q8Zr2LmX9vTa7KpW3nB5cD1e\"",
            "const invalidPassword = 'Tr0ub4dor&3x';",
        ] {
            assert!(secret_rules("a.go", line).is_empty(), "{line}");
        }
        // A provider's own format still counts, whatever the name says.
        assert_eq!(
            secret_rules("a.py", "fake_token = \"sk_live_4q8Zr2LmX9vTa7KpW3nB5cD1\""),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules("a.py", "api_key = \"q8Zr2LmX9vTa7KpW3nB5cD1e\""),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_methods_argument_and_a_diff_flag_are_not_credentials() {
        assert!(secret_rules(
            "requests/auth.py",
            "        password = password.encode(\"latin1\")"
        )
        .is_empty());
        assert!(secret_rules(
            "rakelib/ruby19.rake",
            "    sh %{diff -u #{Ruby19::SVN}/lib/rake.rb lib/rake.rb}"
        )
        .is_empty());
        // A literal assigned, and curl's user and password, still count.
        assert_eq!(
            secret_rules("a.py", "password = \"Tr0ub4dor&3x\".encode(\"latin1\")"),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules(
                "run.sh",
                "curl -u deploy:Zq8Lm2XvRt5Wk9Pq https://api.example.com"
            ),
            vec!["secret-auth-header"]
        );
    }

    #[test]
    fn a_table_of_values_under_one_name_in_code_is_data_and_distinct_credentials_are_not() {
        let values = [
            "q8Zr2LmX9vTa7KpW3nB5cD1e",
            "Hn4bT7qWz2XkP9sLmV3cR8dF",
            "Wm5rK2xQ8zTn4bLp7vC3hJ9d",
            "Zt6yN3pK9wQm2xVb8rL4cF7h",
        ];
        let table: String = values
            .iter()
            .map(|v| format!("  {{ name: 'case', token: '{v}' }},\n"))
            .collect();
        let found = added("src/cases.js", &format!("const CASES = [\n{table}];\n"));
        assert!(rules(&found).is_empty(), "{found:?}");
        // Three rows are not yet a table.
        let three: String = table.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            rules(&added(
                "src/cases.js",
                &format!("const CASES = [\n{three}];\n")
            )),
            vec!["secret-assignment"; 3]
        );
        // A settings module naming four credentials leaks four.
        let names = ["SECRET_KEY", "DB_PASSWORD", "MAIL_PASSWORD", "API_TOKEN"];
        let settings: String = names
            .iter()
            .zip(values)
            .map(|(n, v)| format!("{n} = \"{v}\"\n"))
            .collect();
        assert_eq!(
            rules(&added("app/settings.py", &settings)),
            vec!["secret-assignment"; 4]
        );
    }

    #[test]
    fn a_map_key_or_a_compared_key_name_is_not_a_credential() {
        for (path, text) in [
            ("a.go", "\tkey := \"uint16-slice\""),
            ("a.ts", "if (key === 'isStream') {"),
            (
                "a.ts",
                "if (a && (key === 'content-encoding' || key === 'content-length')) {",
            ),
            ("a.py", "    if header_key == b\"content-length\":"),
            (
                "tests/test_json.py",
                "TEST_PREFIX_TOKEN_COLOR = '\\x1b[04m\\x1b[91m'",
            ),
            (
                "a.js",
                "const TOKEN_STYLE = \"\\u001b[38;5;15m\\u001b[1m\";",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        // A random value still counts under a lone `key`, and a compared
        // password is a hard-coded one.
        assert_eq!(
            secret_rules("a.ts", "const key = 'q8Zr2LmX9vTa7KpW3nB5cD1e';"),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules("a.py", "if password == \"Tr0ub4dor&3x\":"),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_password_with_braces_is_no_template_and_a_template_is_no_password() {
        // A generated password may hold `${`, `{{` and brackets that close
        // nothing: it is reported quoted, bare in a setting, and compared.
        let pw = "Q7{w}e)p${r]Lm(zx[kd>-_$#t9}}";
        for (path, text) in [
            ("a.py", format!("api_key = \"{pw}\"")),
            ("a.yml", format!("apikey: {pw}")),
            (".env", format!("DB_PASSWORD={pw}")),
            ("a.js", format!("if (apikey == \"{pw}\") {{")),
            ("a.go", format!("if token != \"{pw}\" {{")),
            // A WordPress salt: symbols between `<` and `>` are no slot.
            (
                "wp-config.php",
                "define( 'AUTH_KEY', 'e]+<A?K>Vb%1*L-4U~o0[&Lk/+W5zB$Qpy1!w(!|k7h)O4a^X-N|6y..' );"
                    .to_string(),
            ),
        ] {
            assert_eq!(
                secret_rules(path, &text),
                vec!["secret-assignment"],
                "{path}: {text}"
            );
        }
        // Interpolations that close, slots to fill in, and an expression
        // in code are not.
        for (path, text) in [
            ("a.yml", "password: \"{{ vault_db_password }}\""),
            ("a.yml", "password: \"{{ lookup('env', 'DB_PASSWORD') }}\""),
            (".env", "API_KEY=${API_KEY:-dev-only}"),
            ("a.rb", "secret = \"#{ENV['APP_SECRET']}\""),
            ("a.sh", "token=\"pre-${TOKEN}-fix\""),
            ("a.yml", "password: <your-password-here>"),
            (".env", "API_KEY=sk-<YOUR API KEY>"),
            (
                "wp-config.php",
                "define( 'AUTH_KEY', 'put your unique phrase here' );",
            ),
            ("a.yml", "api_key: get_key(vault_path"),
            ("Foo.cls", "my_password = hope]nobody[finds>-_$#thisone"),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn a_credential_compared_with_a_literal_from_either_side_is_found() {
        let pw = "Xk82pqLm29!zQ";
        for (path, text) in [
            ("Login.java", format!("if (password.equals(\"{pw}\")) {{")),
            ("Login.java", format!("if (\"{pw}\".equals(password)) {{")),
            (
                "Login.kt",
                format!("if (apiToken.equalsIgnoreCase(\"{pw}\")) {{"),
            ),
            ("a.c", format!("if (\"{pw}\" == secret) {{")),
            ("a.php", format!("if ('{pw}' === $password) {{")),
            ("a.go", format!("if \"{pw}\" != apiKey {{")),
        ] {
            assert_eq!(
                secret_rules(path, &text),
                vec!["secret-assignment"],
                "{path}: {text}"
            );
        }
        // Compared with a variable, an empty string, a type or a scheme: no
        // credential is written down.
        for (path, text) in [
            ("Login.java", "if (password.equals(confirmation)) {"),
            ("Login.java", "if (\"\".equals(password)) {"),
            ("a.ts", "if (\"string\" === typeof password) {"),
            ("Auth.java", "if (tokenType.equalsIgnoreCase(\"Bearer\")) {"),
            ("a.js", "if (\"password\" == field.name) {"),
            (
                "Converter.java",
                "if (!key.equals(OAuth2ParameterNames.GRANT_TYPE) && !key.equals(OAuth2ParameterNames.CODE)) {",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn declarations_and_constants_with_versions_in_their_names_are_not_values() {
        // A digit inside a camel-case name (`OAuth2`) ends a word as a
        // lower-case letter does; an access modifier is not a name.
        for (path, text) in [
            (
                "A.java",
                "\tprivate OAuth2AuthorizationService authorizationService;",
            ),
            (
                "A.java",
                "\tprivate OAuth2AuthenticatedPrincipal defaultPrincipal() {",
            ),
            (
                "A.java",
                "\t\tOAuth2Authorization authorization = TestOAuth2Authorizations",
            ),
            (
                "A.kt",
                "        val authorizationRequest = OAuth2AuthorizationRequest",
            ),
            ("A.java", "\t\tkey = OAuth2ParameterNames.GRANT_TYPE;"),
            // A call that makes a key from an algorithm's name, a lookup by
            // key, an OID, and RFC 6749's example tokens.
            (
                "A.java",
                "\t\tthis(CipherUtils.newSecretKey(\"PBKDF2WithHmacSHA1\",",
            ),
            ("A.java", "if (claims.containsKey(\"x5t#S256\")) {"),
            (
                "A.java",
                "static final String PASSWORD_MODIFY_OID = \"1.3.6.1.4.1.4203.1.11.1\";",
            ),
            ("a.json", "  \"access_token\": \"2YotnFZFEjr1zCsicMWpAA\","),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        // Random values are still found, a dot in them or not.
        assert_eq!(
            secret_rules("a.py", "oauth2Token = \"q8Zr2LmX9vTa7KpW3nLm\""),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules("a.cfg", "passwd = vt552vCne.wSyn2UpzrW2X6j7BujDI"),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn setting_paths_prompts_hashed_names_and_concatenation_are_not_secrets() {
        for (path, text) in [
            // A .NET setting's path under a constant named `…Key`.
            (
                "ConfigurationExtensions.cs",
                "public const string FfmpegSkipValidationKey = \"FFmpeg:novalidation\";",
            ),
            // A filter's first pass, not a password.
            (
                "EncodingHelper.cs",
                "var hwScaleFilterFirstPass = \"vpp_rkrga=format=bgra:afbc=1\";",
            ),
            // A prompt's label, then its hint.
            (
                "Install.php",
                "$key = password('Ably Key', 'Enter your Ably key');",
            ),
            // A string closed around a call.
            (
                "helpers.php",
                "return new HtmlString('<input type=\"hidden\" name=\"_token\" value=\"'.csrf_token().'\">');",
            ),
            // A name made unique by a SHA-1.
            (
                "EventTest.php",
                "$id = 'framework'.DIRECTORY_SEPARATOR.'schedule-eeb46c93d45e928d62aaf684d727e213b7094822';",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        // The same shapes holding a credential are still found.
        for (path, text) in [
            ("a.cs", "public const string ApiKey = \"Xk82:pqLm29vT\";"),
            ("a.cs", "var dbPass = \"vpp7rkrga9Lz\";"),
            ("a.php", "$c = Credentials('admin', 'Xk82pqLm29');"),
            ("a.php", "$key = 'Xk82pqLm29vTa7KpW3nLm';"),
            (
                "a.txt",
                "token: rootly_7f1e8738d7d6b540bc52e1bc24c6e2c109dc44642f9e5d583be7e5d04f8bd282",
            ),
            (
                "a.txt",
                "x = 'acme-eeb46c93d45e928d62aaf684d727e213b7094822'",
            ),
        ] {
            assert!(!secret_rules(path, text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn object_ids_types_pins_test_dsns_and_certificates_are_not_secrets() {
        for (path, text) in [
            // The ids APIs give their objects (Stripe, Anthropic, OpenAI,
            // EasyPost), in tests and recorded responses.
            (
                "gateway_spec.rb",
                "let(:refund_id) { 're_3QXmL12ESifGlJez0GcOBHng' }",
            ),
            (
                "gateway_spec.rb",
                "let(:payment_intent_id) { 'pi_3QY1o72ESifGlJez06ZbKHjy' }",
            ),
            ("test_anthropic.py", "        id=\"msg_01XFDUDYJgAACzvnptvVoYEL\","),
            ("test_langchain.py", "    id=\"call_BbeyNhCKa6kYLYzrD40NGm3b\","),
            (
                "buy_shipment.yml",
                "string: '{\"id\":\"shp_cee0847ebff344afa39c7d106cc0c61f\",\"mode\":\"test\"}'",
            ),
            // A record's id under a provider's word.
            (
                "test_tracing.py",
                "assert segment.trace_id == \"771a43a4192642f0b136d5159a501700\"",
            ),
            // A type quoted as a forward reference.
            ("utils.py", "    secret_key: \"Optional[str]\" = None,"),
            // A pinned requirement under an environment named for tiktoken.
            (
                "tox.ini",
                "py3.9-langchain-notiktoken-v0.1.20: langchain==0.1.20",
            ),
            // A Sentry DSN (its public key and the project's number) in a
            // client's tests.
            (
                "test_client.py",
                "        \"http://894b7d594095440f8dfea9b300e6f572@localhost:8000/2\",",
            ),
            // Certificates, and a header alone, in a Secret's data.
            (
                "secret.yml",
                "apiVersion: v1\nkind: Secret\ndata:\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=\n  tls.key: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        let key = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ2V2WnpMMWdkQUZyODhoYjIKT0YvMk54QXBKQ3pHQ0VEZGZTcDZWUU8zMGh5aFJBTkNBQVFSV3oram42NUJ0T012ZHlIS2N2akJlQlNEWkgycgoxUlR3am1ZU2k5Ui96cEJudVE0RWlNbkNxZk1QV2lacUI0UWRiQWQwRTdvSDUwVnB1WjFQMDg3RwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==";
        // A token of an unlisted prefix, a Segment write key, a DSN with its
        // secret half and a private key in a Secret are still found.
        for (path, text) in [
            ("a.py", "x = \"zq_01XFDUDYJgAACzvnptvVoYEL\"".to_string()),
            (
                "a.py",
                "SEGMENT_WRITE_KEY = \"771a43a4192642f0b136d5159a501700\"".to_string(),
            ),
            (
                "a.py",
                "dsn = \"http://894b7d594095440f8dfea9b300e6f572:7f2b1c9d4e8a4b3c9d2e1f0a5b6c7d8e@localhost:8000/2\"".to_string(),
            ),
            (
                "secret.yml",
                format!("apiVersion: v1\nkind: Secret\ndata:\n  tls.key: {key}"),
            ),
        ] {
            assert!(!secret_rules(path, &text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn descriptions_module_paths_tokenizers_and_urns_are_not_secrets() {
        for (path, text) in [
            // A field's description in a CRD, which opens with `secret`.
            (
                "crd.yml",
                "        description: |-\n          secret represents a secret that should populate this volume.",
            ),
            // A Go module replaced by another.
            (
                "go.mod",
                "replace github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
            ),
            // An environment named for OpenAI's tokenizer.
            (
                "tox.ini",
                "openai-notiktoken: _TESTPATH=tests/integrations/openai",
            ),
            // A secret's name in a namespace.
            ("plugin.yml", "        secret: urn:k8s:secret:name:key1"),
            // A recorded response's ids (Stripe's charge and webhook).
            (
                "cassette.yml",
                "        \"latest_charge\": \"ch_3TUq5D2ESifGlJez1bUXXcLL\",",
            ),
            ("cassette.yml", "      \"id\": \"we_1TUq8w2ESifGlJezdHC8YApb\","),
            // Certificates under a Secret's data, and a secret's name.
            (
                "secret.yml",
                "kind: Secret\ndata:\n  tls.crt: VEVTVENFUlQxVEVTVENFUlQx\n  ca.crt: Q0ExLXNlY3JldEFCQ0RFRkdI",
            ),
            ("route.yml", "    certSecret: tlssecret"),
            // Ruby's interpolation in a command.
            (
                "template.rb",
                "rails_command \"db:seed ADMIN_PASSWORD=#{Shellwords.escape(ADMIN_PASSWORD)}\"",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        // Device commands and settings holding a credential are still found.
        for (path, text) in [
            ("router.conf", "secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0"),
            ("router.conf", "snmp-server community S3cretCommunity RW 99"),
            ("a.yml", "secret: Xk82pqLm29vTa7KpW3nL"),
            ("a.yml", "tiktoken_api_token: Xk82pqLm29vTa7KpW3nL"),
            (
                "secret.yml",
                "kind: Secret\ndata:\n  extra: WGs4MnBxTG0yOXZUYTdLcFczbkw=",
            ),
            ("a.py", "DevPfxPassword = \"thisismypassword\""),
        ] {
            assert!(!secret_rules(path, text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn encrypted_ci_values_anchors_and_escaped_prose_are_not_secrets() {
        let travis = "deploy:\n  api_key:\n    secure: \"RyFdh2lpDmaNhPar7ezsb18Xz+6XFM40y7cZCDRML+Sk+eYK1xtDNfEhDRJU5Qo1ReVsByds/QJTSXr2KmZPk3lXwG3SiN7UtrLUxCxFr6qrcM\"\n  auth_token:\n    secure: mWJ8ieZdGEgHf232fdMyzb9T1rKbkJivYbp/REMo8ax3X5vkQJDHhFjWeuWA3wIC";
        assert!(secret_rules(".travis.yml", travis).is_empty());
        assert!(secret_rules("appveyor.yml", travis).is_empty());
        let anchor = "// see https://github.com/nodejs/node/commit/4b00c4fafaa2ae8c41c1f78823c0feb810ae4723#diff-e3bc37430eb078ccbafe3aa3b570c91a";
        assert!(secret_rules("a.ts", anchor).is_empty());
        let docstring = "class URL:\n    \"\"\"\n    url = httpx.URL(\"HTTPS://jo%40email.com:a%20secret@m\u{fc}ller.de:1234/pa%20th\")\n    \"\"\"";
        assert!(secret_rules("a.py", docstring).is_empty());
        let test = "    assert str(new) == \"https://tom%40example.org:abc123%40%20%@example.org\"";
        assert!(secret_rules("tests/test_url.py", test).is_empty());
        // A password that only needs escaping is still one.
        assert_eq!(
            secret_rules(
                "a.py",
                "DB = \"postgres://app:Xk9%21vR2qLm7w@db.internal/app\""
            ),
            vec!["secret-url-credentials"]
        );
    }

    #[test]
    fn a_toy_credential_in_a_code_comment_is_an_example_a_generated_one_is_not() {
        assert!(
            secret_rules("a.ts", "// e.g. https://admin:hunter2pass@db.internal/app").is_empty()
        );
        assert_eq!(
            secret_rules("a.ts", "// const TOKEN = \"q8Zr7xK2mP4vN9wL3tY6bH1c\";"),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn credentials_are_found_in_every_assignment_syntax() {
        let value = "q8Zr2LmX9vTa7KpW3n";
        let cases = [
            ("settings.py", format!("API_TOKEN = \"{value}\"")),
            ("app.js", format!("const apiToken = '{value}';")),
            ("main.go", format!("apiToken := \"{value}\"")),
            ("main.go", format!("var apiToken string = \"{value}\"")),
            ("main.go", format!("const apiToken Token = \"{value}\"")),
            ("index.php", format!("$apiToken .= \"{value}\";")),
            ("wp-config.php", format!("define( 'AUTH_KEY', '{value}' );")),
            ("app.py", format!("config.set('api_token', '{value}')")),
            (
                "App.java",
                format!("props.put(\"api.token\", \"{value}\");"),
            ),
            (
                "app.config",
                format!("<Setting Name=\"ApiToken\" Value=\"{value}\" />"),
            ),
            (
                "beans.xml",
                format!("<entry key=\"api_token\">{value}</entry>"),
            ),
            (
                "Main.java",
                format!("private static final String API_TOKEN = \"{value}\";"),
            ),
            ("lib.rs", format!("const API_TOKEN: &str = \"{value}\";")),
            ("app.rb", format!("config[:api_token] = \"{value}\"")),
            ("app.rb", format!("ENV['API_TOKEN'] ||= '{value}'")),
            ("app.ts", format!("options.apiToken ??= '{value}';")),
            ("index.php", format!("'api_token' => '{value}',")),
            (".env", format!("API_TOKEN={value}")),
            ("deploy.sh", format!("export API_TOKEN={value}")),
            ("config.yml", format!("api_token: {value}")),
            // Base64 padding is not `name: Type = value`.
            ("config.yml", format!("api_token: {value}A=")),
            ("config.yaml", format!("  api_token: \"{value}\"")),
            ("Cargo.toml", format!("api_token = \"{value}\"")),
            ("app.ini", format!("api_token = {value}")),
            ("app.properties", format!("service.api.token={value}")),
            ("config.json", format!("  \"apiToken\": \"{value}\",")),
            (
                "web.config",
                format!("<add key=\"ApiToken\" value=\"{value}\" />"),
            ),
            ("pom.xml", format!("<apiToken>{value}</apiToken>")),
            ("Dockerfile", format!("ENV API_TOKEN={value}")),
            ("Dockerfile", format!("ENV API_TOKEN {value}")),
            ("docker-compose.yml", format!("      - API_TOKEN={value}")),
            ("run.sh", format!("tool --api-token {value}")),
        ];
        for (path, line) in cases {
            assert_eq!(
                secret_rules(path, &line),
                vec!["secret-assignment"],
                "{path}: {line}"
            );
        }
        let manifest = format!("env:\n  - name: DB_PASSWORD\n    value: \"{value}\"\n");
        let found = review_file(&FileChange::new_file("deploy.yaml", manifest), true);
        assert_eq!(rules(&found), vec!["secret-assignment"]);
        assert_eq!(found[0].line, 3);
    }

    #[test]
    fn weak_passwords_are_credentials_but_names_and_references_are_not() {
        assert_eq!(
            secret_rules("db.py", "db_password = \"hunter2hunter\""),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules("app.py", "secret_key = \"token-8f3k2m9q\""),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules("app.cfg", "password = open_sesame"),
            vec!["secret-assignment"]
        );
        for line in [
            "password = request.form['password']",
            "token = get_token(user)",
            "password_field = \"password_confirmation\"",
            "auth_type = \"oauth2\"",
            "TOKEN_URL = \"https://example.com/oauth/token\"",
            "api_key_header = \"X-Api-Key\"",
            "primary_key = \"user_id\"",
            "secret_key_path = \"/etc/app/secret.key\"",
            "password: ${DB_PASSWORD}",
            "password = None",
            "private_key_file = \"key.pem\"",
            "token: !vault |",
            "TOKEN_THROTTLE_RATE = \"1000/min\"",
            "password_max_age = \"90days\"",
        ] {
            assert!(secret_rules("app.py", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_text_file_is_documentation_only_when_named_or_kept_as_one() {
        let line = "db_password = Tr0ub4dor&3x";
        // Notes, dumps and settings in plain text: a password is a leak.
        for path in ["deploy/notes.txt", "server-settings.txt"] {
            assert_eq!(
                secret_rules(path, line),
                vec!["secret-assignment"],
                "{path}"
            );
        }
        // A document's example password (short, typed) is not reported.
        for path in ["README.txt", "CHANGES.txt", "docs/setup.txt"] {
            assert!(secret_rules(path, line).is_empty(), "{path}");
        }
    }

    #[test]
    fn translations_and_words_of_other_scripts_are_labels_not_credentials() {
        // A form's label in a translation catalogue, and a value written in
        // a language's own letters wherever it is.
        for (path, text) in [
            ("config/locales/fi.yml", "password: Salasana"),
            ("resources/lang/fi.php.yml", "password: Salasana"),
            ("src/locales/nl.ts", r#"password: "Wachtwoord","#),
            ("src/i18n/nl.json", r#""password": "Wachtwoord""#),
            ("web/de.json", r#""api_key": "API-Zugangsschlüssel""#),
            ("src/strings/cy.json", r#""LabelPassword": "Cyfrinair","#),
            ("src/strings/eu.json", r#""HeaderPassword": "Pasahitza","#),
            ("messages_es.properties", "login.password=Contrasena"),
            (
                "app/res/values-sv/strings.xml",
                r#"<string name="password">Losenord</string>"#,
            ),
            ("settings.yml", "password: Κωδικός"),
            ("labels.json", r#""password": "Пароль""#),
            ("app.cfg", "password = Informationsb你好世界"),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
        // The same words elsewhere are a weak password; a provider's key is
        // a key in any catalogue.
        for (path, text, rule) in [
            (
                "db.json",
                r#""password": "Wachtwoord""#,
                "secret-assignment",
            ),
            (
                "messages_prod.properties",
                "db.password=Wachtwoord",
                "secret-assignment",
            ),
            (
                "src/lang/server.py",
                r#"password = "Wachtwoord""#,
                "secret-assignment",
            ),
            (
                "config/locales/en.yml",
                "api_key: sk_live_51HxT2aKjd9s8fD7g6h5j4k3l2m1n0bVc",
                "secret-provider-token",
            ),
        ] {
            assert_eq!(secret_rules(path, text), vec![rule], "{path}: {text}");
        }
    }

    #[test]
    fn a_jwt_stored_in_base64_is_a_jwt() {
        // base64 of `eyJhbGciOiJIUzI1NiIs…`, as a Kubernetes `data:` value
        // or an environment variable holds it.
        let encoded = "ZXlKaGJHY2lPaUpJVXpJMU5pSXNJblI1Y0NJNklrcFhWQ0o5LmV5SnpkV0lpT2lKMUxUUTRNakVpTENKeWIyeGxJam9pWVdSdGFXNGlmUS5xM2tYOXZMbTJSN3RZcDRXblpzOEhkQ2ZKYjZHYUUxdUswb1Q1eE5jVndR";
        for text in [
            format!("SESSION_TOKEN={encoded}"),
            format!("data:\n  session: {encoded}"),
        ] {
            assert_eq!(secret_rules("app.cfg", &text), vec!["secret-jwt"], "{text}");
        }
        // Encoded, but not a token: a mangled head, and base64 of other
        // JSON that itself begins `eyJ` (a registry's auth file).
        let mangled = "ZXlKaGJhc2RHY2lPaUpJVWFkZE9pSklVekkxTmlJc0luUjVjQ0k2SWtwWFZDSjkuZXlKemRXSWlPaUoxTFRRNE1qRWlMQ0p5YjJ4bElqb2lZV1J0YVc0aWZRLnEza1g5dkxtMlI3dFlwNFduWnM4SGRDZkpiNkdhRTF1SzBvVDV4TmNWd1E=";
        let json = "ZXlKaGRYUm9jeUk2ZXlKb2RIUndjem92TDJWNFlXMXdiR1V2ZGpFdklqcDdmWDE5";
        for value in [mangled, json] {
            let text = format!("blob {value}");
            assert!(secret_rules("app.cfg", &text).is_empty(), "{text}");
        }
    }

    #[test]
    fn a_token_whose_head_is_no_jose_header_is_not_a_jwt() {
        let real = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQ4MjEiLCJyb2xlIjoiYWRtaW4ifQ.q3kX9vLm2R7tYp4WnZs8HdCfJb6GaE1uK0oT5xNcVwQ";
        assert_eq!(
            secret_rules("app.cfg", &format!("session {real}")),
            vec!["secret-jwt"]
        );
        // The same token with its head mangled, or cut short by a character.
        let mangled = real.replacen("eyJhbGci", "eyJhbasdGciOiJIUadd", 1);
        let cut = real.replacen("IkpXVCJ9.", "IkpXVCJ.", 1);
        for token in [mangled, cut] {
            assert!(
                secret_rules("app.cfg", &format!("session {token}")).is_empty(),
                "{token}"
            );
        }
    }

    #[test]
    fn jwt_url_credentials_and_auth_headers_are_found() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZSIsImlhdCI6MTcwMDAwMDAwMH0.k9Qz7Lr2WmX4nT8vB1cY6pD3sF5gH0jK";
        assert_eq!(
            secret_rules("a.js", &format!("const t = \"{jwt}\";")),
            vec!["secret-jwt"]
        );
        let example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        assert!(secret_rules("a.js", &format!("const t = \"{example}\";")).is_empty());
        let borrowed = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzZXJ2aWNlLXJvbGUiLCJpYXQiOjE1MTYyMzkwMjJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        assert_eq!(
            secret_rules("a.js", &format!("const t = \"{borrowed}\";")),
            vec!["secret-jwt"]
        );
        assert_eq!(
            secret_rules("a.py", "DB = \"postgres://app:Xk82mQp1z@db.internal/prod\""),
            vec!["secret-url-credentials"]
        );
        assert!(secret_rules("a.py", "DB = \"postgres://user:password@localhost/db\"").is_empty());
        assert!(secret_rules("a.py", "DB = \"postgres://app:${DB_PASSWORD}@db/prod\"").is_empty());
        assert_eq!(
            secret_rules(
                "a.sh",
                "curl -H 'Authorization: Bearer 8f2kQ9zLm3Xv7TnR4pWc' https://api"
            ),
            vec!["secret-auth-header"]
        );
        assert_eq!(
            secret_rules("a.sh", "curl -u deploy:Qm82kLz9x https://ci"),
            vec!["secret-auth-header"]
        );
        assert_eq!(
            secret_rules("a.sh", "curl --user deploy:Qm82kLz9x https://ci"),
            vec!["secret-auth-header"]
        );
        assert!(secret_rules(
            "a.sh",
            "curl -H \"Authorization: Bearer $TOKEN\" https://api"
        )
        .is_empty());
        assert!(secret_rules("a.sh", "curl -u \"$USER:$PASS\" https://ci").is_empty());
    }

    #[test]
    fn unlisted_prefixed_tokens_are_found_with_a_random_body_of_any_alphabet() {
        for token in [
            "zq_live_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1s",
            "acme_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
            "xyzt-k3m9q2v7x1c8b4n6z5p0r2t7w9y3u1e4",
            "ACMEPAT1_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1s",
            "acmePRIVATE-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
            "zqapi-AFNjXAgQdLYwZo2zJJUKLMIE4zrPYAks_0Js5FXKl8lcuj7cs",
            "zqdt-xY9kLmNpQrStUvWxYz01",
        ] {
            assert_eq!(
                secret_rules("settings.env", token),
                vec!["secret-provider-token"],
                "{token}"
            );
        }
        for line in [
            "sha256-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
            "commit_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            "fn parse_configuration_file_for_the_current_workspace_root()",
            "let q = build_abcdefghijklmnopqrstuvwxyz0123456789;",
            "zq_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "let v = parse_configuration_file_for_the_current_Workspace_root2_and_more;",
            "order_3fa85f64-5717-4562-b3fc-2c963f66afa6",
        ] {
            assert!(secret_rules("lib.rs", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn an_unlisted_token_shaped_like_a_fragment_or_a_page_name_is_not_reported() {
        // Cut short to show its shape, a page's name in a URL's path, a
        // random run standing as the prefix (a key's fragment), and a
        // listed exact prefix with the wrong number of hex digits.
        for line in [
            "export OP_SERVICE_ACCOUNT_TOKEN=ops_eyJzaWduSW5BZGRyZXNzIjoiaHR0cHM6...",
            "see https://acme.notion.site/API-BD80F56CDC1441E6BF6011AB6D852875",
            "Identity=USK@u2vn3Lh6Kte2-TgBSNKorbsKkuAt34ckoLmgx0ndXO0,AQACAAE",
            "sntryu_5a1fd54403f098beb040ebb75de25051738bea6a64e74e112ff4de829e22a78",
        ] {
            assert!(secret_rules("notes.env", line).is_empty(), "{line}");
        }
        // The same shapes whole, outside a path, with a word as prefix.
        for line in [
            "zq_live_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1s",
            "API-BD80F56CDC1441E6BF6011AB6D",
            "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",
        ] {
            assert_eq!(
                secret_rules("notes.env", line),
                vec!["secret-provider-token"],
                "{line}"
            );
        }
    }

    #[test]
    fn a_provider_prefix_counts_only_where_a_token_can_start() {
        // `sk_test_`/`test_` inside `task_test_`, a token running on past `~`.
        assert!(secret_rules(
            "main.go",
            "name := \"task_test_d7dmzxyzbvf8by74d0mxokjevgst16\" // a task's name"
        )
        .iter()
        .all(|r| r != "secret-provider-token"));
        let azure = "q8Q~3wIHjX9DT0yCNfQmr9oxmYrDZoQVLOdNg";
        assert!(secret_rules("a.cfg", &format!("id = 4~{azure}~yk0,AQ")).is_empty());
        assert_eq!(
            secret_rules("a.cfg", &format!("client: 4~{azure}")),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn a_value_with_a_listed_prefix_is_judged_by_that_format_alone() {
        // `dapi` then letters past `f`; `sm_pat_` then ten characters.
        for line in [
            "DATABRICKS_TOKEN=dapi123456789012345678a9bc01234defg5",
            "SETTLEMINT_TOKEN=sm_pat_p6xm4zctmj",
        ] {
            assert!(secret_rules("a.env", line).is_empty(), "{line}");
        }
        // The format, also when quoted in the other case.
        for line in [
            "DATABRICKS_TOKEN=dapi0123456789abcdef0123456789abcdef",
            "NEWRELIC_TOKEN=NRAK-qjk1np02c3638c50504vktxgauw",
        ] {
            assert!(!secret_rules("a.env", line).is_empty(), "{line}");
        }
        // A listed prefix glued to the end of a word, with a body that is
        // not its format (Groq's is 52 long): neither that provider's token
        // nor an unlisted one, alone on its line or not.
        let body = "aBcDeFgHiJkLmNoPqRsT1234567890abcdefghijklmnopqrs";
        for line in [format!("wordgsk_{body}"), format!("seed: wordgsk_{body}")] {
            assert!(secret_rules("a.env", &line).is_empty(), "{line}");
        }
        assert!(!secret_rules("a.env", &format!("seed: wordtok_{body}")).is_empty());
        // With the format's body it is the token, glued or not.
        let pat = "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";
        assert!(!secret_rules("a.env", &format!("our{pat}")).is_empty());
    }

    #[test]
    fn a_token_under_another_providers_longer_prefix_is_not_this_providers() {
        // OpenAI's `T3BlbkFJ` marker after Anthropic's or OpenRouter's prefix.
        let tail = "Zq8Lm2Xv9TaK7pW3nB5cT3BlbkFJQr4Ws8Ty1Ux6Vz0Ab3Cd";
        let says = |line: String| -> Vec<String> {
            review_file(&FileChange::new_file("a.env", format!("{line}\n")), true)
                .into_iter()
                .map(|f| f.message)
                .collect()
        };
        for head in ["sk-ant-", "sk-or-v1-"] {
            let said = says(format!("{head}{tail}"));
            assert!(
                said.iter().all(|m| !m.contains("OpenAI")),
                "{head}: {said:?}"
            );
        }
        let said = says(format!("sk-proj-{tail}"));
        assert!(said.len() == 1 && said[0].contains("OpenAI"), "{said:?}");
    }

    #[test]
    fn a_short_unit_typed_over_and_over_is_a_placeholder() {
        for line in [
            "GR134894112312312312312312312",
            "api_token = \"abababababababab\"",
        ] {
            assert!(secret_rules("a.env", line).is_empty(), "{line}");
        }
        assert!(!secret_rules("a.env", "GR1348941Zq8Lm2Xv9TaK7pW3nB5c").is_empty());
        assert!(!secret_rules("a.env", "api_token = \"ab7Kd9Qm2Xv4Lp8T\"").is_empty());
    }

    #[test]
    fn a_name_that_says_the_provider_holds_only_that_providers_format() {
        // Sumo Logic keys are 64 characters; a Twitch stream key is `live_…`.
        for line in [
            "SUMO_ACCESS_KEY: AbCeFG123",
            "TWITCH_STREAM_KEY = \"126031192_IgvUabrXbWSihj2ENnA59G1F8\"",
            // AWS: 40 characters, not 38.
            "aws_secret_key: OOzkR1+hF+1ABCsIFDJMEUtqmtnZ12345Q7Zx0",
        ] {
            assert!(secret_rules("a.yml", line).is_empty(), "{line}");
        }
        let key = "Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sVb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sAbCdEfGh";
        assert!(!secret_rules("a.yml", &format!("SUMO_ACCESS_KEY: {key}")).is_empty());
        assert!(!secret_rules(
            "a.yml",
            "aws_secret_key: OOzkR1+hF+1ABCsIFDJMEUtqmtnZ12345Q7Zx0Ab"
        )
        .is_empty());
    }

    #[test]
    fn curl_with_a_password_and_no_user_is_a_credential() {
        assert_eq!(
            secret_rules("run.sh", "curl -u \":d2LkV78zLx!t\" https://localhost:9200"),
            vec!["secret-auth-header"]
        );
        assert!(secret_rules("run.sh", "curl -u \":$PASSWORD\" https://localhost:9200").is_empty());
    }

    #[test]
    fn a_host_and_port_under_a_password_name_is_not_a_password() {
        for line in [
            "const SOCKS_PROXY_PASSWD_ONLY: &str = \"127.0.0.1:1081\";",
            "redis_password = \"localhost:6379\"",
        ] {
            assert!(secret_rules("a.rs", line).is_empty(), "{line}");
        }
        assert!(
            !secret_rules("a.rs", "const PROXY_PASSWD: &str = \"127.0.0.1:Zq8Lm2Xv\";").is_empty()
        );
    }

    #[test]
    fn a_route_to_a_controller_action_is_not_a_password() {
        let line = "put '/forgot-password' => \"cms/sites/passwords#update\", as: 'update'";
        assert!(secret_rules("routes.rb", line).is_empty());
        assert!(!secret_rules("a.env", "password=cms/Q8z7Lp#x2Vb").is_empty());
    }

    #[test]
    fn a_provider_name_alone_is_enough_context_for_its_own_format() {
        // No credential word in the name: the provider's format decides.
        assert_eq!(
            secret_rules(
                "app.cfg",
                "deepgram = 6c8ba06cb14a32d508948606d8b5d9c8f70e493b"
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                "sonar-project.properties",
                "sonar.login=5524bf449ca45fcace54698371466398321f3a82"
            ),
            vec!["secret-provider-token"]
        );
        assert!(secret_rules("app.cfg", "deepgram = nova-2-general").is_empty());
        assert!(secret_rules("app.cfg", "render = true").is_empty());
    }

    #[test]
    fn wallet_recovery_phrases_are_credentials_but_short_or_unnamed_phrases_are_not() {
        let words = "legal winner thank year wave sausage worth useful legal winner thank yellow";
        for (path, line) in [
            (".env", format!("MNEMONIC=\"{words}\"")),
            ("wallet.yml", format!("seed_phrase: {words}")),
            ("config.json", format!("  \"mnemonic\": \"{words}\",")),
        ] {
            assert_eq!(
                secret_rules(path, &line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        // Eleven words is not a BIP-39 length; a sentence is not a phrase
        // under a seed's name; `seed = 42` is a number.
        let eleven = "legal winner thank year wave sausage worth useful legal winner thank";
        assert!(secret_rules(".env", &format!("MNEMONIC=\"{eleven}\"")).is_empty());
        assert!(secret_rules("notes.cfg", &format!("greeting = \"{words}\"")).is_empty());
        assert!(secret_rules("train.cfg", "seed = 42").is_empty());
    }

    #[test]
    fn make_operators_env_defaults_and_dotted_tokens_are_assignments() {
        let value = "q8Zr2LmX9vTa7KpW3n";
        for (path, line) in [
            ("Makefile", format!("API_TOKEN ?= \"{value}\"")),
            ("Makefile", format!("API_TOKEN ::= \"{value}\"")),
            (
                "main.go",
                format!("t := GetEnvOrDefault(\"api_token\", \"{value}\")"),
            ),
            ("vault.yml", "token: s.ZC9Ecf4M5g9o34Q6RkzGsj0z".to_string()),
            (
                "build.gradle",
                format!("buildConfigField 'String', 'API_KEY', '\"{value}\"'"),
            ),
            (".env", format!("CONVEX_PAT={value}")),
        ] {
            assert_eq!(
                secret_rules(path, &line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        assert!(secret_rules("app.yml", "token: settings.auth.token").is_empty());
    }

    #[test]
    fn terraform_variable_defaults_and_powershell_plain_text_are_credentials() {
        let tf = "variable \"corp_okta_api_token\" {\n  default = \"004EWTpRQT_HJtG_nL-agxacgzYHjxPcF99kJsFzWg\"\n}\n";
        let found = review_file(&FileChange::new_file("main.tf", tf.to_string()), true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 2);
        let tf_region = "variable \"region\" {\n  default = \"eu-west-1\"\n}\n";
        assert!(review_file(
            &FileChange::new_file("main.tf", tf_region.to_string()),
            true
        )
        .is_empty());
        assert_eq!(
            secret_rules(
                "setup.ps1",
                "ConvertTo-SecureString 'MyS3cret!' -AsPlainText -Force"
            ),
            vec!["secret-assignment"]
        );
        assert!(secret_rules(
            "setup.ps1",
            "ConvertTo-SecureString $env:PASS -AsPlainText -Force"
        )
        .is_empty());
    }

    #[test]
    fn a_random_value_under_any_name_counts_in_configuration_not_in_code() {
        let line = "fireworks = Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE";
        assert_eq!(
            secret_rules("settings.cfg", line),
            vec!["secret-assignment"]
        );
        assert!(secret_rules("settings.py", line).is_empty());
        for line in [
            "checksum = \"Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE\"",
            "integrity: sha512-Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE",
            "rev = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\"",
            "instance = 3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "homepage = https://example.com/Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE",
        ] {
            assert!(secret_rules("Cargo.toml", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn signed_bundle_documents_key_ids_and_public_keys_are_not_credentials() {
        for line in [
            "\"rawBytes\": \"MIIHQDCCBsagAwIBAgIUPi1pnRp5v/L1ZiWE1m9h5mBFiC8wCgYIKoZIzj0EAwMwNzEVMBMGA1UEChMM\",",
            "\"signedEntryTimestamp\": \"MEUCIBnCAgBND2tf60dg5uvlw0EBbBRhFtMuP3YTRpIQj2hCAiEAmWSymilD/iY97X11tLGE=\"",
            "\"canonicalizedBody\": \"eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiZHNzZSIsInNwZWMiOnsiZW52ZWxvcGVIYXNo\"",
            "\"publicKey\": \"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt\"",
        ] {
            assert!(secret_rules("test/data/bundle.json", line).is_empty(), "{line}");
        }
        // A private key's DER is none of those documents.
        assert!(!secrets::public_document(
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4"
        ));
        let docs = "try running `sudo apt-key adv --keyserver keyserver.ubuntu.com:80 --recv-key C99B11DEB97541F0`.";
        assert!(secret_rules("docs/install.md", docs).is_empty());
        let go = "httpmock.JSONResponse(PubKey{ID: \"123\", Key: \"CDjXqf7AJBXWhMczcy+Fs7JlACEptgceysutztHaFQI=\"}))";
        assert!(secret_rules("pkg/set_test.go", go).is_empty());
        // The look-back counts characters, in any script.
        let wide = format!(
            "cfg := PubKey{{{}: 1, Key: \"CDjXqf7AJBXWhMczcy+Fs7JlACEptgceysutztHaFQI=\"}}",
            "Ж".repeat(22)
        );
        assert!(secret_rules("pkg/wide_test.go", &wide).is_empty());
        let go_secret =
            "cfg := Config{ID: \"123\", Key: \"CDjXqf7AJBXWhMczcy+Fs7JlACEptgceysutztHaFQI=\"}";
        assert_eq!(
            secret_rules("pkg/config.go", go_secret),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn names_nonces_malformed_headers_and_typed_examples_are_not_credentials() {
        for (path, line) in [
            // Names spelled in words under a token's name.
            ("jinja2/lexer.py", "    token = 'block_begin'"),
            ("middleware/csrf/config.go", "\tSessionKey:     \"csrfToken\","),
            ("tests/test_mw.py", "    challenge_token = \"challenge-123\""),
            (
                "examples/refresh.py",
                "    client(refresh_token=\"demo_refresh_token_12345\")",
            ),
            // A property list's key names the next value.
            ("ext/info.plist", "\t\t\t<key>85E26B4F-795C-4380-AA26-EF994D3F1220</key>"),
            ("ext/Jinja.tmLanguage", "\t<key>foldingStartMarker</key>"),
            // RFC 6455's sample nonce; a malformed Basic header in a test.
            (
                "tests/test_ws.py",
                "    \"Sec-WebSocket-Key\": \"dGhlIHNhbXBsZSBub25jZQ==\",",
            ),
            (
                "tests/test_req.py",
                "    headers=CIMultiDict({\"AUTHORIZATION\": \"Basic Z2FyYmFnZQ==\"}),",
            ),
            // Typed in order, or too short to be generated, in a test.
            (
                "extractors/extractors_test.go",
                "\tctx.Request().Header.Set(fiber.HeaderAuthorization, \"Bearer ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=\")",
            ),
            (
                "extractors/extractors_test.go",
                "\t{token: \"T0ken-._~+/=\", want: true},",
            ),
            // Prose in any documentation format; a path after `mkdir -p`.
            (
                "README.rdoc",
                "secret will change with every start of your application, you might want to",
            ),
            (
                "Makefile",
                "\t@docker run --rm --user $(docker_user) -v $(shell pwd):/project golang:1.22 /bin/sh -c \"mkdir -p /tmp/go-cache && make\"",
            ),
            // Colours under a name that says "pass".
            ("lib/browser.css", "  --mocha-test-pass-color: #00d6b2;"),
            (
                "lib/browser.css",
                "  --mocha-test-pass-shadow-color: rgba(0, 0, 0, 0.2);",
            ),
            // A signed request's scheme (AWS Signature Version 4).
            (
                "tests/data/test5026",
                "Authorization: AWS4-HMAC-SHA256 Credential=user/19700101/us-east-2/es/aws4_request, SignedHeaders=host;x-amz-date, Signature=5524f6f960590dc88a36551f11e407031a373e9e2caa3d3f7a3d9280cae367e2",
            ),
            // Code in a template, a spelling checker's pattern.
            (
                "internal/generator/vm.go.tmpl",
                "\tmapCtx.Slice.Items[mapCtx.Idx].Key = b[mapCtx.Start:len(b)]",
            ),
            (
                ".github/actions/spelling/candidate.patterns",
                "/docs\\.google\\.com/[a-z]+/(?:ccc\\?key=\\w+|(?:u/\\d+|d/(?:e/|)[0-9a-zA-Z_-]+/)?(?:edit\\?[-\\w=#.]*|/\\?[\\w=&]*|))",
            ),
            // An environment variable's name read through a helper.
            (
                "config/config.go",
                "\t\tToken:        stringFromEnv(\"CONSUL_TOKEN\", \"CONSUL_HTTP_TOKEN\"),",
            ),
            // A generated codec's identifier.
            (
                "client/keys.generated.go",
                "\tcodecSelfer_containerMapValue1819  = 3",
            ),
            // Unlisted "prefixes" before a camel-case name.
            (
                "ctx_test.go",
                "\tt.Run(\"test_genericParseTypeInt16s\", func(t *testing.T) {",
            ),
        ] {
            let found = secret_rules(path, line);
            assert!(found.is_empty(), "{path}: {line}: {found:?}");
        }
        // Generated values under the same names are still found.
        for (path, line) in [
            ("jinja2/config.py", "    token = 'q8ZrT2mXv9LpK4wN7cBd'"),
            (
                "src/client.go",
                "\tc.Header.Set(\"Authorization\", \"Basic YWRtaW46czNjcjN0UGFzcw==\")",
            ),
            (
                "tests/test_api.py",
                "    api_token = \"Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE\"",
            ),
        ] {
            assert!(!secret_rules(path, line).is_empty(), "{path}: {line}");
        }
    }

    #[test]
    fn sample_tokens_in_tests_and_docs_and_a_vendored_librarys_own_tests_are_not_reported() {
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        let sig = "TJVA95OrM7E2cBab30RMHrHDcEfxjoYZgeFONFh7HgQ";
        let john_doe = format!(
            "{header}.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWV9.{sig}"
        );
        let expired = format!("{header}.eyJzdWIiOiJzdmMtYmlsbGluZyIsImV4cCI6MTQ2MTk1NzEzNn0.{sig}");
        let live = format!("{header}.eyJzdWIiOiJzdmMtYmlsbGluZyIsInJvbGUiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.{sig}");
        let line = |t: &str| format!("    token := \"{t}\"");
        assert!(secret_rules("middleware/jwt_test.go", &line(&john_doe)).is_empty());
        assert!(secret_rules("docs/recipes/jwt.md", &line(&expired)).is_empty());
        for path in ["middleware/jwt_test.go", "docs/recipes/jwt.md"] {
            assert_eq!(
                secret_rules(path, &line(&live)),
                vec!["secret-jwt"],
                "{path}"
            );
        }
        // DocSearch's search-only key, shipped to every visitor.
        let docsearch = "  algolia: {\n    appId: 'BH4D9OD16A',\n    apiKey: '69dfc65b57ccba29ec34b68aa5b274ed',\n    indexName: 'echo',\n  },";
        assert!(secret_rules("website/.vitepress/config.ts", docsearch).is_empty());
        assert_eq!(
            secret_rules(
                "src/search.ts",
                "const apiKey = '69dfc65b57ccba29ec34b68aa5b274ed';"
            ),
            vec!["secret-assignment"]
        );
        // Outside tests and docs every token counts.
        assert_eq!(
            secret_rules("config/app.go", &line(&john_doe)),
            vec!["secret-jwt"]
        );
        let key = "var localhostKey = []byte(`-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----`)";
        assert!(secret_rules("vendor/github.com/x/httpdown/httpdown_test.go", key).is_empty());
        assert_eq!(
            secret_rules("internal/tls/keys.go", key),
            vec!["secret-private-key"]
        );
    }

    #[test]
    fn a_random_token_alone_on_a_configuration_line_is_found_outside_pem_blocks() {
        let token = "Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aEk5Tn";
        assert_eq!(
            secret_rules("notes.txt", token),
            vec!["secret-provider-token"]
        );
        assert!(secret_rules("lib.rs", &format!("    \"{token}\",")).is_empty());
        let cert = format!("-----BEGIN CERTIFICATE-----\n{token}\n-----END CERTIFICATE-----\n");
        assert!(review_file(&FileChange::new_file("ca.pem", cert), true).is_empty());
        assert!(secret_rules("notes.txt", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b").is_empty());
        // An email's attachment: lines of base64 cut at 76 characters (or
        // 72, or 64).
        let line = "vr34gfvQ1G9c9I37Rx6opOpVxnWgETC12euBAQYNlfqTzjjp1ntuzZq5kSEEOGf1yUbBIabSQk2w";
        assert_eq!(line.len(), 76);
        let mime = format!(
            "Content-Transfer-Encoding: base64\n\n{line}\n{}\n",
            line.to_ascii_lowercase()
        );
        assert!(secret_rules("tests/samples/mail/html.eml", &mime).is_empty());
        let short = &line[..72];
        let mime = format!("\n{}\n{short}\n", short.to_ascii_lowercase());
        assert!(secret_rules("tests/samples/mail/html.eml", &mime).is_empty());
        for alone in [line, short] {
            assert_eq!(
                secret_rules("notes.txt", alone),
                vec!["secret-provider-token"]
            );
        }
    }

    #[test]
    fn toy_credentials_in_tests_and_docs_are_not_findings_but_generated_ones_are() {
        for (path, line) in [
            (
                "tests/test_auth.py",
                "auth = DigestAuth(username=\"user\", password=\"password123\")",
            ),
            (
                "tests/test_auth.py",
                "headers = {\"Authorization\": \"Basic dXNlcm5hbWU6cGFzc3dvcmQ=\"}",
            ),
            (
                "test/redirects.ts",
                "const url = 'http://user:pass@localhost:8080/';",
            ),
            ("docs/tls.md", "passphrase: 'passphrase1'"),
            (
                "tests/test_api.py",
                "    \"password\": \"areallysupersecretpassword235\",",
            ),
        ] {
            let found = secret_rules(path, line);
            assert!(found.is_empty(), "{path}: {line}: {found:?}");
        }
        // A generated-looking value, a provider format or a key still counts there.
        assert_eq!(
            secret_rules("tests/test_api.py", "API_TOKEN = \"q8Zr2LmX9vTa7KpW3nQ4\""),
            vec!["secret-assignment"]
        );
        let basic = "Authorization: Basic YWRtaW46cThacjJMbVg5dlRhN0twVzNuUTQ=";
        assert_eq!(
            secret_rules("tests/api.test.js", basic),
            vec!["secret-auth-header"]
        );
        // Outside tests and docs a typed password is still a finding.
        assert_eq!(
            secret_rules("app/settings.py", "db_password = \"hunter2hunter2\""),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_providers_name_in_code_lets_its_own_format_take_the_value() {
        // Code, where a bare provider's name wakes no generic judgement:
        // the provider's exact format still takes a quoted value.
        for (path, text) in [
            ("sumo.go", "\tsumoAccessID := \"suGyI5imvADdvU\""),
            ("sumo.go", "SUMO_ACCESS_ID = \"suGyI5imvADdvU\""),
            (
                "speech.py",
                "deepgram_key = \"12e217f37eb173f0c8f1b7309f4207c7dca20186\"",
            ),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec!["secret-provider-token"],
                "{path}: {text}"
            );
        }
        // Off the format, or a value of another kind under the name.
        for (path, text) in [
            ("sumo.go", "\tsumoAccessID := \"suGyI5imvADdvUx\""),
            ("speech.py", "deepgram_model = \"nova-2-general-enhanced\""),
            (
                "speech.py",
                "DEEPGRAM_URL = \"https://api.deepgram.com/v1/listen\"",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{path}: {text}");
        }
    }

    #[test]
    fn slacks_webhook_urls_of_every_kind_are_found() {
        for url in [
            "https://hooks.slack.com/services/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",
            "https://hooks.slack.com/workflows/T01ABCD2EFG/A02BCDE3FGH/412345678901234567/aB3dE6gH9jK2mN5qR8tV1xY4",
            "https://hooks.slack.com/triggers/T01ABCD2EFG/4123456789012/1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
        ] {
            assert_eq!(
                secret_rules("deploy/.env", &format!("NOTIFY_URL={url}")),
                vec!["secret-provider-token"],
                "{url}"
            );
        }
        // A trigger's signature cut short is no URL that posts.
        let cut = "NOTIFY_URL=https://hooks.slack.com/triggers/T01ABCD2EFG/4123456789012/1a2b3c4d";
        assert!(secret_rules("deploy/.env", cut).is_empty());
    }

    #[test]
    fn a_files_bytes_in_base64_and_an_emails_signature_are_no_key() {
        // A HAR's response body: a WebP image, a PDF. The same run of
        // characters without the format's magic number is a key's.
        let body = "h5AAABXRUJQVlA4IBJAAABw+QCdASr0AZECPpFGnkwlo60iIfTJ4aASCWlu/FXKXiWcDfBDwP935Ag4XhuyAadAndT2i/5b8OPL3";
        for magic in ["UklGR", "JVBERi0xLjcKJb"] {
            let line = format!("          \"text\": \"{magic}{body}\",");
            assert!(secret_rules("e2e/api.har", &line).is_empty(), "{line}");
        }
        // An email's DKIM signature, continued on its own lines.
        let dkim = "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel;\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=QPaQKuzx2adfCr0S18KVgA5x01KXZknaaEpQW49Ock2ghScLAvv3ij8xfzUbZewCT";
        assert!(secret_rules("tests/samples/mail.eml", dkim).is_empty());
        let line = format!("          \"text\": \"Qx{body}\",");
        assert_eq!(
            secret_rules("e2e/api.har", &line),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn names_columns_and_labels_that_mention_a_credential_hold_none() {
        // Each of these was reported on a real project's tree.
        let keyring = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n{}9xNrTRpKw9t30SSnT7vOYfo2V6AS96IolEen7b3kclGBGua4c0xPsb0Z6yMe1hdQ\n-----END PGP PUBLIC KEY BLOCK-----",
            "mQINBFgTtKwBEADB6fOQ8sdz1aMjK7ufvwyv2QwpIrBUbvaqzTXTsyVcIRlcbYeE\n".repeat(120)
        );
        for (path, text) in [
            ("app/Schema/Sql/postgres.sql", "    ADD CONSTRAINT \"actions_project_id_fkey\" FOREIGN KEY (\"project_id\") REFERENCES \"public\".\"projects\"(\"id\") ON DELETE CASCADE;"),
            ("db/patch-proxy.sql", "    password VARCHAR(255) NULL,"),
            ("db/users.sql", "  password TEXT NOT NULL,"),
            ("src/XPathAssertion.java", "    private static final String XPATH_KEY = \"XPath.xpath\";"),
            ("src/SmtpSampler.java", "    public static final String PASSWORD = \"SMTPSampler.password\";"),
            ("src/MailerModel.java", "    private static final String PORT_KEY = \"MailerModel.smtpPort\";"),
            ("src/JMeterVariables.java", "    static final String VAR_IS_SAME_USER_KEY = \"__jmv_SAME_USER\";"),
            ("src/HTTPHC4Impl.java", "    private static final String JMETER_VARIABLE_USER_TOKEN = \"__jmeter.U_T__\";"),
            ("src/KeyStore.java", "        EXTENDED_KEY_USAGES.put(\"2.5.29.37.0\", \"Any purpose\");"),
            ("app/src/main/res/values/settings_keys.xml", "    <string name=\"last_download_type_audio_key\">last_dl_type_audio</string>"),
            ("src/theme/darcula_theme.xml", "    <style token=\"MARKUP_DTD\" fg=\"808080\"/>"),
            ("internal/gen/tokenset.pb.go", "\tTokens map[string]int64 `protobuf:\"bytes,1,rep,name=tokens,proto3\" protobuf_key:\"bytes,1,opt,name=key,proto3\"`"),
            ("lib/api/api_auth.go", "\t\tl.Debugln(\"Failed to parse username and password:\", err)"),
            ("gui/editDeviceModalView.html", "<share-template encryption-passwords=\"currentSharing.encryptionPasswords\" id=\"x\">"),
            ("templates/privacy.html", "<div data-w-zone-switch-key-value=\"isPublic\">"),
            ("src/mixins/socket.js", "        this.socket.token = \"autoLogin\";"),
            ("src/pages/EditMaintenance.vue", "    langKey: \"lastDay1\","),
            ("app/Template/user_creation/show.php", "<?= $this->form->password('confirmation', $values, $errors) ?>"),
            ("xdocs/changes_history.xml", "<li><bugzilla>50086</bugzilla> - Password fields not Hidden in JMS Publisher</li>"),
            ("test/backend-test/test-globalping.js", "    \"object-src 'none';script-src 'nonce-Eft2LKpM01f69RvQoV6QJA' 'strict-dynamic'\","),
            ("gradle/verification-keyring.keys", keyring.as_str()),
            ("src/App.viewport.ts", "export const SCROLL_TO_CONTENT_ANIMATION_KEY = \"animateScrollToContent\";"),
            ("res/xml/preferences_synchronization.xml", "        android:key=\"pref_synchronization_force_full_sync\""),
            ("frontend/package.json", "    \"@nuxtjs/auth-next\": \"5.0.0-1667386184.dfbbb54\","),
            ("frontend/lib/validators/password.ts", "  const best = scorePassword(\"3bYWcfYOwqxljqeOmQXTLlBwkrH6HV\");"),
            // A test's password hash is the fixture a login is checked against.
            ("lib/api/api_test.go", "\t\tPassword: \"$2a$10$IdIZTxTg/dCNuNEGlmLynOjqg4B1FvDKuIV5e0BB3pnWVHNb8.GSq\","),
            // A Sentry DSN in an app's code is public by design.
            ("excalidraw-app/sentry.ts", "    ? \"https://7bfc596a5bf945eda6b660d3015a5460@sentry.io/5179260\""),
        ] {
            assert_eq!(secret_rules(path, text), Vec::<String>::new(), "{path}: {text}");
        }
        // Credentials beside them still count.
        for (path, text) in [
            (
                "db/seed.sql",
                "ALTER USER app WITH PASSWORD 'Xk2mQ9vLr7TpW4zN';",
            ),
            (
                "src/Deploy.java",
                "    private static final String API_TOKEN = \"kq8ZrLmX9vTa7KpW3nQ4\";",
            ),
            (
                "config/app.cfg",
                "timezoneapi_token = 'SSVmFDNCFfOHKXQAEckx'",
            ),
            ("config/app.cfg", "discord_token: 274114804918719031"),
            (
                "src/Client.java",
                "    creds = new UsernamePasswordCredentials(\"deploy_user\", \"s3cr3tP4ss\");",
            ),
            ("scripts/backup.sh", "mysqladmin --password hunter2x status"),
            (
                "lib/auth_service.dart",
                "  const password = \"Guest!@123456\";",
            ),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec!["secret-assignment"],
                "{path}: {text}"
            );
        }
        assert_eq!(
            secret_rules("db/seed.sql", "INSERT INTO users VALUES ('admin', '$2y$10$GzDCeQl/GdH.pCZfz4fWdO3qmayutRCmxEIY9U9t1k9q9F89VNDCm');"),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                ".env",
                "SENTRY_DSN=https://7bfc596a5bf945eda6b660d3015a5460@sentry.io/5179260"
            ),
            vec!["secret-url-credentials"]
        );
        // A manual page is documentation: its sample key is a warning.
        let man = added(
            "man/syncthing-config.5",
            "<apikey>k1dnz1Dd0rzTBjjFFh7CXPnrF12C49B1</apikey>\n",
        );
        assert_eq!(rules(&man), vec!["secret-assignment"]);
        assert_eq!(man[0].severity, Severity::Warning);
    }

    #[test]
    fn network_device_passwords_and_unattend_xml_values_are_credentials() {
        for line in [
            "enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0",
            "username admin privilege 15 password 0 Tr0ub4dor-x9",
            "snmp-server community S3cretCommunity RW 99",
            " key-string 7 045802150C2E1D1C5A",
            "<AdministratorPassword><Value>Winter2024!Secure</Value><PlainText>true</PlainText></AdministratorPassword>",
        ] {
            assert_eq!(secret_rules("router.cfg", line), vec!["secret-assignment"], "{line}");
        }
        for line in [
            "enable password <password>",
            "service password-encryption",
            "username admin password 0 changeme",
            "<Password><Value>*SENSITIVE*DATA*DELETED*</Value></Password>",
        ] {
            assert!(secret_rules("router.cfg", line).is_empty(), "{line}");
        }
        // In code these words are calls and fields, not a device's configuration.
        assert!(secret_rules("cli.py", "    enable password prompt_for_it()").is_empty());
    }

    #[test]
    fn content_hashes_in_asset_names_and_anti_forgery_tokens_are_not_credentials() {
        let hash = "f0eb1acf0da84c06a50c5b2c59932001997786b176dec02bd16128ee9ea83628";
        for line in [
            format!("<img src=\"./assets/vipul-{hash}.png\" alt=\"\">"),
            format!("<script src=\"/static/app-{hash}.js\"></script>"),
            "<input type=\"hidden\" name=\"authenticity_token\" value=\"7SWa-Fo1_hsC6oovfBsJFLGPUl2EhkSWPbJhWANwgaJWBD\">".to_string(),
            "csrf-token=Mj2qykJO5rELyHgezQ69nzUX0i3OH67V7+V4eUrLfpuyOuxmiW9rhROG/Whikle15".to_string(),
            "XSRF_TOKEN = 'q8Zr2LmX9vTa7KpW3nQ4'".to_string(),
        ] {
            assert!(secret_rules("index.html", &line).is_empty(), "{line}");
        }
        // The same value named as a credential, or without the extension, still counts.
        assert_eq!(
            secret_rules("app.env", "API_TOKEN=q8Zr2LmX9vTa7KpW3nQ4"),
            vec!["secret-assignment"]
        );
        assert!(!secret_rules("notes.txt", &format!("pul-{}", &hash[..40])).is_empty());
    }

    #[test]
    fn a_value_off_the_one_format_its_provider_documents_is_not_that_credential() {
        // AWS secret keys are 40 characters; Telegram bot ids 5 to 16 digits.
        assert!(secret_rules(
            "a.env",
            "AWS_SECRET_ACCESS_KEY=ded7db27a4558e2ea9bbf0bf36ae0e8521618f366c"
        )
        .is_empty());
        assert!(secret_rules(
            "a.env",
            "telegram_api_token = \"1005:A8hx4p5jtxdoh_i5trkyoj7zz1nd2lt9v2s\""
        )
        .is_empty());
        assert!(secret_rules(
            "a.env",
            "meraki-api-key: acdeFf05b1a6d4c890237bf08c5e6e8d2b4d0f2e"
        )
        .is_empty());
        // The documented formats themselves, and other names, still count.
        assert_eq!(
            secret_rules(
                "a.env",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8Zr2LmX9"
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                "a.env",
                "TELEGRAM_TOKEN=78812:Arr45ho_hmuwjlm42t2dza_jv9x6mhlzdu9"
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules(
                "a.env",
                "API_SECRET=ded7db27a4558e2ea9bbf0bf36ae0e8521618f366c"
            ),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn names_that_say_what_a_key_is_for_and_artifact_versions_are_not_credentials() {
        for line in [
            "foreignKey=DXVAFaOBhZTzNMrktsSHdSaA2Yjx=f",
            "key_down_event=0UR6TSyTfsNrhM9rnEcSfTv6gQAwE1",
            "schemaKey = 'DOC_Vector_5_32'",
            "const validKeyChars = \"0123456789abcdefghijklmnopqrstuvwxyz_-.\"",
            "notes            = \"Maven - io.jsonwebtoken:jjwt-jackson-0.11.2\"",
            "sumObj = suGyI5imvADdvU",
            "get '/passwords/:id/edit' => \"cms/sites/passwords#edit\"",
            "usernameLabel:\"Username or email:\",passwordLabel:\"Password:\",rememberMeLabel:\"Remember me:\"",
        ] {
            assert!(secret_rules("config.env", line).is_empty(), "{line}");
        }
        // An empty setting is not given the next setting's name as its value.
        for file in [
            "snowflake.password=\njdbc.snowflake.url=\n",
            "ApiKey=\nVirtualgenerateApiKeySomeLongMethodName=\n",
        ] {
            assert!(
                review_file(&FileChange::new_file("app.properties", file.into()), true).is_empty(),
                "{file}"
            );
        }
        // Base64's padding is no setting's name.
        let padded = "api_key=\nQ2xpZW50U2VjcmV0OnE4WnIyTG1YOXZUYTdLcFc=\n";
        assert_eq!(
            rules(&review_file(
                &FileChange::new_file("app.properties", padded.into()),
                true
            )),
            vec!["secret-assignment"]
        );
        assert_eq!(
            secret_rules("config.env", "SUMO_ACCESS_ID=suGyI5imvADdvU"),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn a_value_on_the_line_below_its_name_is_an_assignment() {
        let yaml = "credentials:\n  api_token:\n    'q8Zr2LmX9vTa7KpW3n'\n";
        let found = review_file(&FileChange::new_file("app.yml", yaml.to_string()), true);
        assert_eq!(rules(&found), vec!["secret-assignment"]);
        assert_eq!(found[0].line, 3);
        let plist = "<dict>\n  <key>API_SECRET</key>\n  <string>q8Zr2LmX9vTa7KpW3n</string>\n";
        let found = review_file(&FileChange::new_file("Info.plist", plist.to_string()), true);
        assert_eq!(rules(&found), vec!["secret-assignment"]);
        assert_eq!(found[0].line, 3);
        // A key/value list's `<value>` under its `<key>`; not under a name
        // that holds no credential.
        let pairs = "<entry>\n  <key>db.password</key>\n  <value>Wq7rT2kd9z</value>\n";
        let found = review_file(
            &FileChange::new_file("settings.xml", pairs.to_string()),
            true,
        );
        assert_eq!(rules(&found), vec!["secret-assignment"]);
        assert_eq!(found[0].line, 3);
        let other = pairs.replace("db.password", "db.schema");
        assert!(review_file(&FileChange::new_file("settings.xml", other), true).is_empty());
        let nested = "api_token:\n  - name: primary\n";
        assert!(review_file(&FileChange::new_file("app.yml", nested.to_string()), true).is_empty());
    }

    #[test]
    fn a_template_parameters_default_is_its_value() {
        // CloudFormation (YAML, JSON), an ARM template and its parameters
        // file, Terraform: the value sits in a block the name opens.
        for (path, text, line) in [
            (
                "stack.yaml",
                "Parameters:\n  MasterPassword:\n    Description: 'Password'\n    Type: String\n    Default: 'asDjskjs73!'\n",
                5,
            ),
            (
                "stack.json",
                "{\n  \"MasterPassword\": {\n    \"Type\": \"String\",\n    \"Default\": \"asDjskjs73!\"\n  }\n}\n",
                4,
            ),
            (
                "azuredeploy.json",
                "\"adminPassword\": {\n  \"type\": \"securestring\",\n  \"defaultValue\": \"Zq8Lm2Xv9!TaK7\"\n}\n",
                3,
            ),
            (
                "azuredeploy.parameters.json",
                "\"adminPassword\": {\n  \"value\": \"Zq8Lm2Xv9!TaK7\"\n}\n",
                2,
            ),
            (
                "main.tf",
                "variable \"db_password\" {\n  type    = string\n  default = \"Zq8Lm2Xv9!TaK7\"\n}\n",
                3,
            ),
        ] {
            let found = review_file(&FileChange::new_file(path, text.into()), true);
            assert_eq!(rules(&found), vec!["secret-assignment"], "{path}");
            assert_eq!(found[0].line, line, "{path}");
        }
        // A list of key/value pairs (`- key: …` or ECS's `- Name: …`).
        for text in [
            "secrets:\n  - key: db.password\n    value: Zq8Lm2Xv9!TaK7\n",
            "Environment:\n  - Name: DB_PASSWORD\n    Value: Zq8Lm2Xv9!TaK7\n",
            "env:\n  - name: DB_PASSWORD\n    description: the database's\n    value: Zq8Lm2Xv9!TaK7\n",
        ] {
            let found = review_file(&FileChange::new_file("task.yaml", text.into()), true);
            assert_eq!(rules(&found), vec!["secret-assignment"], "{text}");
        }
        // A block that names no credential, a default that is a reference.
        for (path, text) in [
            (
                "stack.yaml",
                "  InstanceType:\n    Type: String\n    Default: 'Zq8Lm2Xv9TaK7pW3'\n",
            ),
            (
                "stack.yaml",
                "  MasterPassword:\n    Type: String\n    Default: '{{resolve:secretsmanager:db}}'\n",
            ),
        ] {
            assert!(
                review_file(&FileChange::new_file(path, text.into()), true).is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_requests_idempotency_token_and_a_forms_label_are_not_credentials() {
        for (path, line) in [
            ("main.tf", "  creation_token = \"my-product-efs-share\""),
            ("step.json", "\"IdempotencyToken\": \"q8Zr2LmX9vTa7KpW3n\","),
            ("messages.json", "\"one_time_password\": \"Engangskode:\","),
        ] {
            assert!(secret_rules(path, line).is_empty(), "{line}");
        }
        // A value that ends in a colon is not always a label.
        assert_eq!(
            secret_rules("config.json", "\"password\": \"q8Zr2Lm:\","),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn a_value_after_its_name_and_a_space_or_a_dash_stands_on_its_own() {
        for line in [
            "owlbot TOKEN 8a5d3f9c2b7e41d6a0c8",
            "shutterstock token - '35rqejvHx8E83LC82j65uBHEz8VRlWSw'",
            "api key - Zq8Lm2Xv9TaK7pW3nB5c",
        ] {
            assert_eq!(
                secret_rules("notes.txt", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        // A list of names and what they are for.
        for line in [
            "token - the token used to sign requests",
            "- password - 'see the vault'",
            "api_key - 1.2.3",
        ] {
            assert!(secret_rules("notes.txt", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn a_discord_bot_token_is_found_by_its_shape_alone() {
        // The first part is the bot's id, 17 to 20 digits, in base64.
        for (path, line) in [
            (
                "notes.cfg",
                "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
            ),
            (
                "bot.py",
                "client.run('Nzk5MjgxNDk0NDc2NDU1OTg3.YABS5g.2lmzECVlZv3vv6miVnUaKPQi2wI')",
            ),
        ] {
            assert_eq!(
                secret_rules(path, line),
                vec!["secret-provider-token"],
                "{line}"
            );
        }
        // Three dotted parts whose first is not an id in base64.
        let line = "x = 'MZ1yGvKTjE0rY0cV8i47CjAa.uRHQPq.Xb1Mk2nEhe-4iUcrGOuegj57zMC'";
        assert!(secret_rules("a.py", line).is_empty());
    }

    #[test]
    fn a_counter_after_a_credentials_word_keeps_the_name_a_credentials() {
        for line in [
            "static_password01 = \"Zq8Lm2Xv9!TaK7\";",
            "const apiKey2 = \"q8Zr2LmX9vTa7KpW3nB5\";",
        ] {
            assert_eq!(
                secret_rules("app.js", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        // A holder's name run into `pass`; not an English word.
        for line in [
            "rootpass = \"Zq8Lm2Xv9!TaK7\"",
            "storepass: \"Zq8Lm2Xv9!TaK7\"",
        ] {
            assert_eq!(
                secret_rules("vars.yml", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        assert!(secret_rules("vars.yml", "bypass: \"Zq8Lm2Xv9!TaK7\"").is_empty());
        // A call written in a string is code, under any name.
        assert!(secret_rules("app.js", "variable_password8 = \"obj.aFunctionCall()\";").is_empty());
    }

    #[test]
    fn password_files_placeholder_defaults_and_tagged_yaml_strings() {
        for (path, text) in [
            (".pgpass", "db.internal:5432:orders:app:Wq7rT2kd9zQ"),
            ("pgpass.conf", "*:*:*:postgres:Wq7rT2kd9zQ"),
            (
                "src/main/java/Db.java",
                r#"    @Value("${spring.datasource.password:Wq7rT2kd9zQ}")"#,
            ),
            ("app.yml", "password: !!str Wq7rT2kd9zQ"),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
        for (path, text) in [
            // Times, coordinates, a placeholder; a placeholder without a default.
            ("notes.txt", "2024:01:02:03:04"),
            ("deps.txt", "org.acme:lib:jar:sources:1.2.3"),
            (".pgpass", "db:5432:orders:app:changeme"),
            ("src/main/java/Db.java", r#"    @Value("${db.password}")"#),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn one_line_name_value_entries_echoed_base64_and_keys_in_xml() {
        for (path, text) in [
            // A name and its value as two fields of one entry.
            (
                "task-definition.json",
                r#"  "environment": [{"name": "DB_PASSWORD", "value": "Wq7rT2kd9zQ"}],"#,
            ),
            (
                "main.tf",
                r#"  env = [{ name = "DB_PASSWORD", value = "Wq7rT2kd9zQ" }]"#,
            ),
            ("deploy.yml", "  - {name: DB_PASSWORD, value: Wq7rT2kd9zQ}"),
            (
                "settings.json",
                r#"{"key": "smtp.password", "value": "Wq7rT2kd9zQ"}"#,
            ),
            // `echo admin:Wq7rT2kd9zQ | base64` keeps the line break.
            (
                ".docker/config.json",
                r#"      "auth": "YWRtaW46V3E3clQya2Q5elEK""#,
            ),
            // A private key on one line inside an XML element, its line
            // breaks escaped.
            (
                "keys.xml",
                r"<rsa>-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----</rsa>",
            ),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec![if text.contains("PRIVATE") {
                    "secret-private-key"
                } else {
                    "secret-assignment"
                }],
                "{text}"
            );
        }
        for (path, text) in [
            // A field bound to state, a label, an empty value, no credential.
            (
                "src/Form.jsx",
                "const fields = [{ name: \"password\", value: this.state.password }]",
            ),
            (
                "src/form.js",
                r#"const f = { key: "password", value: "Password" }"#,
            ),
            (
                "task-definition.json",
                r#"[{"name": "DB_PASSWORD", "value": ""}]"#,
            ),
            (
                "task-definition.json",
                r#"[{"name": "DB_HOST", "value": "Wq7rT2kd9zQ"}]"#,
            ),
            // The key's tail after its end is not key material.
            (
                "keys.xml",
                r"<rsa>-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----</rsa>",
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn a_private_key_as_bare_base64_der_or_xml_is_a_private_key() {
        // Keys made for this test with openssl: PKCS#1 RSA (cut, as a string
        // joined with the next), PKCS#8 Ed25519, SEC1 P-256, PKCS#8 P-384,
        // an OpenSSH blob, and .NET's XML with its private exponent.
        for (path, text) in [
            ("Keys.java", r#"static final String RSA = "MIICWwIBAAKBgQC2Q5R4QY7K1H7I10TI17DcSHfPc0KyRVNxjLC4E7fw1NFx1Pi5zU29dMDDbhX3L3T6" +"#),
            ("keys.ts", r#"const signer = "MC4CAQAwBQYDK2VwBCIEIAgKgXgAQqIDlM0yT1l/KmzZMJC1mwH/CezQ1PCvWaNg";"#),
            ("conf.yaml", "ec: MHcCAQEEIM1Qix174WW/qxbAYnopvXTGgvw21yfx8EUa3Fusyf0loAoGCCqGSM49AwEHoUQDQgAEQ0HwphC55BUxkA2fNJS6H38VIlIxRWOft6m55UAKvL1edlNUm78NnXxIJspnywuzMeUSULzD9lbLBe+nk+aRDw=="),
            ("a.py", r#"P384 = "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBjmzKbP6cLuWYNV6xkZuaR4YhjOwk99dzqW2tVKAYcacVpAqhoPFNn2ke1do24Qj+hZANiAAQGX6zMTev7mwyZD6j8Nr2Qb/Q8e4+M5tBU1FtZOrHQLrL1x8xhqds0ALty8LEXD275I3sAntZM0zJYU6JVoWZqxSYj2w1nCOKyEu8qruu8Gi2beJPezF6eeAEppCqJRLw=""#),
            ("deploy.sh", "echo b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDr8zQ4 | base64 -d"),
            ("Crypto.cs", "// <RSAKeyValue><Modulus>r2Xv9vSGWkaepsOR</Modulus><Exponent>AQAB</Exponent><D>PXFqRIqYXhuLDERKWb9zXIY7HXYXuqw4nsciIdpqTm6n</D></RSAKeyValue>"),
        ] {
            assert_eq!(secret_rules(path, text), vec!["secret-private-key"], "{text}");
        }
        // Not keys: a public key's DER (SPKI), a private key's head followed
        // by more than its declared length holds, XML with the public parts
        // only, and a PEM block whose body is a variable (the public key
        // below it is not its body).
        for (path, text) in [
            ("keys.ts", r#"const verifier = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXEr66FY1nBq/6dA4vTD/y36bpIZ62ZyHaeXJpwxXqOZYNhkbfkLkKG5Nyq7KQa8vH50IhCj8C6wCsJqCm38jnQ==";"#),
            ("keys.ts", r#"const blob = "MDECAQEEID5GoQgCK5hM2d4LeeB7W9HOlYHq/SQKfPFysNMGBjvJustSomeUnrelatedRandomBase64Data";"#),
            ("Crypto.cs", "// <RSAKeyValue><Modulus>r2Xv9vSGWkaepsORzul3KDo/bBv6vs/XzSZNTu5zTwZ3kf4b</Modulus><Exponent>AQAB</Exponent></RSAKeyValue>"),
            ("app.properties", "prop.privateKey=-----BEGIN PRIVATE KEY-----\\n${ENV_PRIVATE_KEY}\\n-----END PRIVATE KEY-----\nprop.publicKey=-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXEr66FY1nBq/6dA4vTD/y36bpIZ62ZyH\naeXJpwxXqOZYNhkbfkLkKG5Nyq7KQa8vH50IhCj8C6wCsJqCm38jnQ==\n-----END PUBLIC KEY-----"),
        ] {
            assert_eq!(secret_rules(path, text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn a_setting_written_in_a_string_or_comment_of_code_is_read_as_a_setting() {
        let key = "Xk9mQ2vLp7Rt2wQzT4hB";
        for (path, text) in [
            // A configuration held in a string that spans lines.
            (
                "app.py",
                format!("CONFIG = \"\"\"\n[database]\npassword = {key}\n\"\"\"\n"),
            ),
            (
                "main.go",
                format!("const cfg = `\ndatabase:\n  password: {key}\n`\n"),
            ),
            ("app.js", format!("const env = `\nAPI_TOKEN={key}\n`;\n")),
            // A commented-out setting with a generated value, on its own
            // line or after code.
            ("app.py", format!("# api_token: {key}\n")),
            ("app.py", format!("retries = 3  # password: {key}\n")),
        ] {
            assert_eq!(
                secret_rules(path, &text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
        // A bare name outside a string is an expression; a comment or
        // docstring that describes a credential holds none.
        for (path, text) in [
            ("app.py", "password = default_password\n".to_string()),
            // A key in an array literal that spans lines is code's string,
            // and what it maps to a constant.
            (
                "config.php",
                "$config = array(\n    \"secret_key\" => sk_abcdefghijklmnopqrstuvwxyz123,\n);\n"
                    .to_string(),
            ),
            ("app.py", "# password: must be at least 8 characters\n".to_string()),
            (
                "app.py",
                "def f(token):\n    \"\"\"Log in.\n\n    token: the auth token to use\n    \"\"\"\n"
                    .to_string(),
            ),
            (
                "app.js",
                "/**\n * @param {string} token - Token from login\n * apiKey: process.env.API_KEY\n */\n"
                    .to_string(),
            ),
        ] {
            assert!(secret_rules(path, &text).is_empty(), "{text}");
        }
    }

    #[test]
    fn an_assignment_wrapped_over_two_lines_is_read_as_one() {
        let key = "qYaZm3m8+Z2aYAiS3kdL9aK2sEwN1pZx7BqL0cVfR4tTy6uJh8GnM2sWq1Xz5Cv7Bn0Mk9Lp3Ko6Ji2Hu4Gy8Fw==";
        for (path, text, rule) in [
            // Java's and C#'s long constant, the operator opening the line.
            (
                "Azurite.java",
                format!("static final String ACCOUNT_KEY\n        = \"{key}\";"),
                "secret-assignment",
            ),
            (
                "Keys.hs",
                format!("apiKey\n  = \"{key}\""),
                "secret-assignment",
            ),
            // Python's parenthesised string, C++'s brace initialiser.
            (
                "settings.py",
                format!("API_TOKEN = (\n    \"{key}\"\n)"),
                "secret-assignment",
            ),
            (
                "azurite.cpp",
                format!("static const std::string AccountKey{{\n    \"{key}\"}};"),
                "secret-assignment",
            ),
            // Mattermost's incoming webhook: 26 characters of z-base-32.
            (
                "notify.sh",
                "curl -X POST https://chat.acme.io/hooks/tj4xmdnqpfbryx1gwkhge1ca9h".to_string(),
                "secret-provider-token",
            ),
        ] {
            assert_eq!(secret_rules(path, &text), vec![rule], "{text}");
        }
        // A comparison, a call's argument, a heading's underline and a
        // hook id outside z-base-32 (`l`, `v`, `0`, `2`) are none.
        for (path, text) in [
            ("auth.py", format!("if password\n        == \"{key}\":")),
            ("auth.py", format!("check_token(\n    \"{key}\")")),
            (
                "Auth.java",
                format!("String token\n    = lookup(\"{key}\");"),
            ),
            ("README.md", "Password\n========".to_string()),
            (
                "notify.sh",
                "curl -X POST https://chat.acme.io/hooks/lv02xmdnqpfbryx1gwkhge1ca9".to_string(),
            ),
        ] {
            assert!(secret_rules(path, &text).is_empty(), "{text}");
        }
    }

    #[test]
    fn a_settings_default_and_a_bare_value_run_as_users_write_them() {
        let key = "d&lvybzry1*k+qq)=x-!=0yd5l5#1gxzk!82@ru25*ntos3_9^";
        for (path, text) in [
            // django-environ, python-decouple: a lookup's literal default.
            (
                "settings.py",
                format!(r#"SECRET_KEY = env("SECRET_KEY", default="{key}")"#),
            ),
            (
                "settings.py",
                format!(r#"SECRET_KEY = env.str("SECRET_KEY", "{key}")"#),
            ),
            (
                "settings.py",
                format!(r#"SECRET_KEY = config('SECRET_KEY', default='{key}')"#),
            ),
            // A bare value alone on its line holds its `&` and `)`.
            (".env", format!("SECRET_KEY={key}")),
            ("deploy.sh", format!("export SECRET_KEY={key}")),
            // YAML's binary tag before the value.
            (
                "config.yaml",
                "signing_secret: !!binary MmIwMDA0MmY3NDgxYzdiMDU2YzRiNDEwZDI4ZjMzY2Y=".to_string(),
            ),
        ] {
            assert_eq!(
                secret_rules(path, &text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
        // In a URL's query a `&` still ends the value (`token=abc` is too
        // short to be one), and a name that disclaims a key names none.
        for (path, text) in [
            (
                "notes.txt",
                "see https://example.com/get?token=abc&V1=Rps15JICmtRVbFyS_95houlLbm6xIQ2L",
            ),
            (
                "keys.ts",
                r#"const notAKey = "MC4CAQEEIB3MimdtnJ1glMv31e/21PGW5e4jVggZx1MaFZUa8yvHjustSomeUnrelatedRandomData";"#,
            ),
        ] {
            assert_eq!(secret_rules(path, text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn a_jwt_headed_by_any_registered_jose_parameter_is_a_token() {
        // Headers holding `apu` or `x5t` alone, plain and stored in base64.
        for text in [
            "token: eyJhcHUiOiJUeDlxRzY5WmZvZGhSb3MifQ.eyJzdWIiOiJzdmMtZGVwbG95Iiwic2NvcGUiOiJyZXBvOndyaXRlIn0.Xq3vT0pL8mZr2Kd9sWbYc7NfHa4JeGu1Ri6OyPn5VtQ",
            "token: eyJ4NXQiOiJkR2hwY3lCcGN5QmgifQ.eyJzdWIiOiJzdmMtZGVwbG95Iiwic2NvcGUiOiJyZXBvOndyaXRlIn0.Xq3vT0pL8mZr2Kd9sWbYc7NfHa4JeGu1Ri6OyPn5VtQ",
            "ZXlKaGNIVWlPaUpVZURseFJ6WTVXbVp2WkdoU2IzTWlmUS5leUp6ZFdJaU9pSnpkbU10WkdWd2JHOTVJaXdpYzJOdmNHVWlPaUp5WlhCdk9uZHlhWFJsSW4wLlhxM3ZUMHBMOG1acjJLZDlzV2JZYzdOZkhhNEplR3UxUmk2T3lQbjVWdFE=",
        ] {
            assert_eq!(secret_rules("deploy.yml", text), vec!["secret-jwt"], "{text}");
        }
        // A header naming no JOSE parameter is some other dotted base64.
        for text in [
            "token: eyJuYW1lIjoid2lkZ2V0In0.eyJzdWIiOiJzdmMtZGVwbG95Iiwic2NvcGUiOiJyZXBvOndyaXRlIn0.Xq3vT0pL8mZr2Kd9sWbYc7NfHa4JeGu1Ri6OyPn5VtQ",
            "ZXlKdVlXMWxJam9pZDJsa1oyVjBJbjAuZXlKemRXSWlPaUp6ZG1NdFpHVndiRzk1SWl3aWMyTnZjR1VpT2lKeVpYQnZPbmR5YVhSbEluMC5YcTN2VDBwTDhtWnIyS2Q5c1diWWM3TmZIYTRKZUd1MVJpNk95UG41VnRR",
        ] {
            assert!(
                !secret_rules("deploy.yml", text).contains(&"secret-jwt".to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn formats_as_the_other_scanners_read_them_and_look_alikes_of_listed_prefixes() {
        for text in [
            // CircleCI's second part in lower-case letters and digits,
            // Render's keys of 28, Buildkite's cluster and agent tokens,
            // MailerSend and Pinterest tokens in their wider alphabets.
            "export CIRCLECI_TOKEN=CCIPAT_lZyPAuThWn2G908ssDT0g33e_t7qh0r5hrvsqzmuraqzduq6qco5onxgrtcn7y2z4",
            r#"var renderToken = "rnd_sdUoMe8eTC80ToiQdwixeORlNzE4""#,
            "BUILDKITE_CLUSTER_TOKEN=bkct_Wk2qP9xVt4LmZr7NcB3yHd8FsJ6gTa1QeUo5KpXi0vRnMb2CwYz9hEj4DfGs7LqAt3VxNr8Pw",
            "MAILERSEND_API_TOKEN=mlsn.nadd0pawnugw04e9niooz08tm6vsa2dhvbefl5u58m1zqzc2",
            "PINTEREST_ACCESS_TOKEN=pina_3QlVnT_MS4RTaOr5LU-3tsXHVc-lHn5ePdM7-l1A",
            r#"fullstory_api_token = "na1.esrej9ym7lmwkejpkzzp57zfzk420glz""#,
            // A Grafana key whose base64 holds `/` and `+`.
            "grafana_token = eyJrIjoiR/1za3IAuyOz93qCufyetYHJX9HMR1io67tqXU5jFNkHNbk7MX644p6hF0ZoiocTLM+vb+",
            "GRAFANA_API_KEY=eyJrIjoiSnp6N0N2WGJwZFJoYTB0OVpORW5uaGFaamwzWHo5WjQiLCJuIjoiYmFja3VwcyIsImlkIjoxfQ==",
            "tgp_v1_Tctm6OfOeNkwLIKkyxJxUHIqNKx2AvFr65tQRIOMgzY",
        ] {
            assert_eq!(
                secret_rules("settings.env", text),
                vec!["secret-provider-token"],
                "{text}"
            );
        }
        for text in [
            // Listed prefixes cut short: Together writes 43, PostHog 41 to 44.
            "tgp_v1_Tctm6OfOeNkwLIKkyxJxUHIqNKx2AvFr",
            "phc_Byg019Rta7CCWDC5b7fd6vh5eoMwwvrXBZtzf2ZN",
            // Square's application id ships in every payment form.
            "sq0idp-r34HdSnJVWaCesH3dnJrGA",
            // A Power BI report link and an example spelled in base64 JSON.
            "View results [here](https://heyo.powerbi.com/view?r=eyJrIjoiYTZjMTk3YjEtMzQ4Yi00NTI5LTg6ZDItNmUyMGRlOTkwMGRlIiwidCI5IjcyZjk4OGJmLTg3ZjEtNDFhZi02MWFiLTJkN2NkMDExZGI0NyIsImMiOjV9).",
            "eyJrIjoiRVhBTVBMRVRFU1RURVNURW5uaGFaamwzWHo5WjQiLCJuIjoiZXhhbXBsZSIsImlkIjoxfQ==",
        ] {
            assert!(secret_rules("settings.env", text).is_empty(), "{text}");
        }
    }

    #[test]
    fn hmac_keys_and_maven_ciphers_count_publishable_and_unmarked_openai_keys_do_not() {
        for (path, text, rule) in [
            (
                "src/sign.js",
                "const sig = crypto.createHmac('sha256', 'pa4qacea4VK9t9nGv7yZtwmj').update(body)",
                "secret-assignment",
            ),
            (
                "sign.py",
                r#"sig = hmac.new(b"q8Zr2LmX9vTa7KpW", msg, hashlib.sha256)"#,
                "secret-assignment",
            ),
            (
                ".m2/settings.xml",
                "      <password>{jSMOWnoPFgsHVpMvz5VrIt5kRbzGpI8u+9EF1iFQyJQ=}</password>",
                "secret-assignment",
            ),
            (
                ".m2/settings-security.xml",
                r"  <master>{vki9JTFmEYlTlCZixjz0jr5QxEXlZfWga65QZhsA9yV0uRfo2iNyfgZDnWpuYqNi\}</master>",
                "secret-assignment",
            ),
            (
                "notes.txt",
                "token=xoxb-23984754863-2348975623112",
                "secret-provider-token",
            ),
        ] {
            assert_eq!(secret_rules(path, text), vec![rule], "{text}");
        }
        for (path, text) in [
            // A key read from elsewhere; a template in Maven's braces.
            ("sign.py", "sig = hmac.new(key, msg, hashlib.sha256)"),
            (
                ".m2/settings.xml",
                "<password>{encryptedpasswordgoeshere}</password>",
            ),
            // Publishable keys ship in every checkout page.
            ("checkout.env", "pk_live_j5krY8XTgIcDaHDb3YrsAfCl"),
            // The storage emulators' keys, the same on every machine.
            (
                "appsettings.Development.json",
                r#""Storage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;""#,
            ),
            (
                "appsettings.Development.json",
                r#""CosmosKey": "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==""#,
            ),
            // A database image's default account, the same word twice.
            (
                "src/db.js",
                r#"const url = "postgres://postgres:postgres@localhost:5432/app";"#,
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
        // The secret key beside it still counts.
        assert_eq!(
            secret_rules("checkout.env", "sk_live_j5krY8XTgIcDaHDb3YrsAfCl"),
            vec!["secret-provider-token"]
        );
        // OpenAI's project keys carry `T3BlbkFJ`; without it, a look-alike.
        let body = "f5-UKZNwZTgzRb8ZucIrNqTs9oT6D1DMRv_0Zq3WY7G1J1O-wPsXwgv6WFxEn8XrZu2vvosfG7";
        let tail = "BYX7TPseHaYE6r3ljpCBurd6U6qpJeRk8UqQ1ORj5DFHReHaF6mstbOCirkkl9vsHWL";
        assert_eq!(
            secret_rules(".env", &format!("sk-proj-{body}T3BlbkFJ{tail}")),
            vec!["secret-provider-token"]
        );
        assert!(secret_rules(".env", &format!("sk-proj-{body}abcdefgh{tail}")).is_empty());
        // Key material is binary: a body that decodes to text stands in for one.
        let stand_in = "-----BEGIN PRIVATE KEY-----\nYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=\n-----END PRIVATE KEY-----\n";
        assert!(secret_rules("deploy/key.pem", stand_in).is_empty());
    }

    #[test]
    fn a_setting_inside_a_string_literal_in_code_is_a_literal() {
        for (path, text) in [
            (
                "src/Db.cs",
                r#"private const string Conn = "Server=db;User Id=sa;Password=Wq7rT2kd9zQ;";"#,
            ),
            (
                "src/db.py",
                r#"dsn = "host=db user=app password=Wq7rT2kd9zQ dbname=app""#,
            ),
            ("src/run.py", r#"args = ["--password=Wq7rT2kd9zQ"]"#),
        ] {
            assert_eq!(
                secret_rules(path, text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
        // Code around the name, a format, a header's bytes.
        for (path, text) in [
            ("src/a.py", r#"x = {"password": read_pw()}"#),
            ("src/a.py", r#"s = "password=" + pw"#),
            ("src/a.py", r#"log.info("password=%s", pw)"#),
            ("src/a.js", "const s = `token=${tok}&x=1`"),
            (
                "src/a.rs",
                r#"b"Access-Control-Allow-Credentials: hell\x01o\r\n";"#,
            ),
            ("src/a.rs", r#"let s = "Password: Wq7rT2kd9zQ";"#),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn environment_fallbacks_and_pairs_of_literals_are_assignments() {
        let key = "q8Zr2LmX9vTa7KpW3nQ4";
        for (path, text) in [
            (
                "src/a.ts",
                format!(r#"const token = process.env.API_KEY || "{key}""#),
            ),
            (
                "src/a.ts",
                format!(r#"const k = import.meta.env.VITE_API_KEY ?? "{key}";"#),
            ),
            // Prettier's wrapping of a long line.
            (
                "src/a.ts",
                format!("export const key =\n  process.env.API_KEY ||\n  \"{key}\";"),
            ),
            (
                "src/a.rb",
                format!(r#"token = ENV["API_TOKEN"] || "{key}""#),
            ),
            (
                "src/a.php",
                format!(r#"$key = getenv('API_KEY') ?: '{key}';"#),
            ),
            (
                "src/A.java",
                r#"var m = Map.of("password", "Wq7rT2kd9z");"#.to_string(),
            ),
            ("src/A.cs", format!(r#"    {{ "AccountKey", "{key}" }},"#)),
        ] {
            assert_eq!(
                secret_rules(path, &text),
                vec!["secret-assignment"],
                "{text}"
            );
        }
        for (path, text) in [
            (
                "src/a.ts",
                r#"const key = process.env.API_KEY || "changeme""#,
            ),
            (
                "src/a.ts",
                r#"const pw = process.env.DB_PASSWORD || "not-set""#,
            ),
            ("src/a.ts", r#"const key = process.env.API_KEY || """#),
            (
                "src/a.ts",
                "const key = process.env.API_KEY ||\n  defaultKey;",
            ),
            (
                "src/a.ts",
                r#"const on = flags.API_KEY || "Wq7rT2kd9zq8Zr2LmX9v""#,
            ),
            // Arrays of names, and lists that are no maps.
            (
                "src/A.cs",
                r#"var fields = new[] { "password", "username" };"#,
            ),
            (
                "src/A.java",
                r#"var names = List.of("password", "Wq7rT2kd9z");"#,
            ),
        ] {
            assert!(secret_rules(path, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn literal_f_strings_plural_password_names_and_curl_proxy_users() {
        // An f-string with nothing interpolated is a literal.
        for line in [
            "password = f\"Zq8Lm2Xv9!TaK7\"",
            "if password == f'Zq8Lm2Xv9!TaK7':",
        ] {
            assert_eq!(
                secret_rules("app.py", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        assert!(secret_rules("app.py", "password = f\"{prefix}Zq8Lm2Xv9!TaK7\"").is_empty());
        // A list of passwords holds passwords.
        assert_eq!(
            secret_rules("users.xml", "<db_passwords>Zq8Lm2Xv9!TaK7</db_passwords>"),
            vec!["secret-assignment"]
        );
        // curl's proxy credentials on a continuation line of the command.
        assert_eq!(
            secret_rules("get.sh", "  --proxy-user admin:Zq8Lm2Xv9TaK7 \\"),
            vec!["secret-auth-header"]
        );
    }

    #[test]
    fn an_xml_value_element_is_named_by_the_element_around_it() {
        let file = |text: &str| secret_rules("applicationContext.xml", text);
        for text in [
            // Spring, inline and below.
            "<property name=\"password\"><value>Zq8Lm2Xv9TaK7</value></property>",
            "<property name=\"password\">\n  <value>Zq8Lm2Xv9TaK7</value>\n</property>",
            // .NET application settings.
            "<setting name=\"Password\" serializeAs=\"String\">\n  <value>Zq8Lm2Xv9TaK7</value>\n</setting>",
        ] {
            assert_eq!(file(text), vec!["secret-assignment"], "{text}");
        }
        for text in [
            "<property name=\"username\"><value>Zq8Lm2Xv9TaK7</value></property>",
            "<property name=\"password\"><value>${env.DB_PASSWORD}</value></property>",
            "<setting name=\"Timeout\" serializeAs=\"String\">\n  <value>Zq8Lm2Xv9TaK7</value>",
            "<option><value>Zq8Lm2Xv9TaK7</value></option>",
        ] {
            assert!(file(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn bicep_parameters_and_passwords_opening_with_an_at_sign() {
        let line = "param adminPassword string = 'Zq8Lm2Xv9TaK7pW3n!'";
        assert_eq!(secret_rules("main.bicep", line), vec!["secret-assignment"]);
        // A parameter's name, bare, is a reference to it.
        assert!(secret_rules(
            "main.bicep",
            "  administratorLoginPassword: secureParameter"
        )
        .is_empty());
        assert_eq!(
            secret_rules("stack.yaml", "Password: \"@skdsjdk0234!AB\""),
            vec!["secret-assignment"]
        );
        for line in [
            "Password: \"@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/p)\"",
            "token: \"@env.API_TOKEN\"",
        ] {
            assert!(secret_rules("stack.yaml", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn curl_credentials_on_a_continuation_line_or_quoted_are_found() {
        for line in [
            "  -u developer:yqDVtkqPECriaLRi \\",
            "curl --user kevin:'pRf7vG2h1L8nQkW9' -X PATCH https://ci",
            "curl -H \"Authorization: Api-Token 22cb987851bc5659a29114c62e60c79a\" https://x",
            "mysqldump -uroot -pS3cr3tPassw0rd app > dump.sql",
        ] {
            assert_eq!(
                secret_rules("run.sh", line),
                vec!["secret-auth-header"],
                "{line}"
            );
        }
        // A uid and a gid, a branch, a placeholder password, no password.
        for line in [
            "docker run -u 1000:1000 image",
            "git push -u origin main",
            "curl --user \"xxx:yyy\"",
            "curl -u \"d2LkV78zLx:\" https://localhost:9200",
            "mysql -uroot -p$MYSQL_PASSWORD app",
            "mysql -uroot -p app",
        ] {
            assert!(secret_rules("run.sh", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn any_value_under_data_in_a_kubernetes_secret_is_a_credential() {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sa\ndata:\n  extra: YWRtaW46cGFzc3dvcmQ=\n  .dockercfg: |\n    eyJhdXRocyI6eyJodHRwczovL2V4YW1wbGUvdjEvIjp7fX19\n  short: YmFyCg==\n";
        let found = review_file(&FileChange::new_file("secret.yaml", secret.into()), true);
        assert_eq!(
            found.iter().map(|f| f.line).collect::<Vec<_>>(),
            vec![6, 8],
            "{found:?}"
        );
        // A ConfigMap's data, and SOPS ciphertext, are not secrets.
        let config = secret.replace("kind: Secret", "kind: ConfigMap");
        assert!(review_file(&FileChange::new_file("cm.yaml", config), true).is_empty());
        let sops = "stringData:\n  db-password: ENC[AES256_GCM,data:O+5l4g==,iv:c/dS4BCBMbnKsXYuzBuCuVQt8RV9bOv5HgdpL+iwmns=,type:str]\n";
        assert!(review_file(&FileChange::new_file("s.yaml", sops.into()), true).is_empty());
    }

    #[test]
    fn a_password_beside_its_user_in_an_authenticating_call_is_a_credential() {
        let value = "q8Zr2LmX9vTa7KpW3n";
        for line in [
            format!("r = requests.get(url, auth=('admin', '{value}'))"),
            format!("session.auth = HTTPBasicAuth(\"admin\", \"{value}\")"),
            format!("client.login(\"admin\", \"{value}\")"),
            format!("return new PasswordAuthentication(\"admin\", \"{value}\".toCharArray());"),
            format!("auth = new UsernamePasswordAuthenticationToken(\"admin\", \"{value}\");"),
        ] {
            assert_eq!(
                secret_rules("app.py", &line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        for line in [
            "client.login('user', 'password')",
            "r = requests.get(url, auth=(user, pw))",
            "client.login(\"admin\", \"${PASS}\")",
            "return new PasswordAuthentication(user, pass.toCharArray());",
        ] {
            assert!(secret_rules("app.py", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn docker_and_npm_auth_entries_holding_user_and_password_are_credentials() {
        // base64 of `admin:q8Zr2LmX9vTa7KpW`.
        let line = "      \"auth\": \"YWRtaW46cTh6cjJMbVg5dlRhN0twVw==\"";
        assert_eq!(secret_rules("config.json", line), vec!["secret-assignment"]);
        assert!(secret_rules("config.json", "  \"auth\": \"oauth2\"").is_empty());
        assert!(secret_rules("config.json", "  \"auth\": \"dHJ1ZQ==\"").is_empty());
        // A placeholder is one in base64 too ("dummy text data data data").
        assert!(secret_rules("a.env", "ANY_KEY = ZHVtbXkgdGV4dCBkYXRhIGRhdGEgZGF0YQ==").is_empty());
        assert_eq!(
            secret_rules("a.env", "ANY_KEY = cTh6cjJMbVg5dlRhN0twVzNuQjVjWnE4TG0y"),
            vec!["secret-assignment"]
        );
        // npm's `_auth` holds a credential whatever it decodes to.
        for line in [
            "_auth = stvtaW46YWRtaW4=",
            "//registry.example.com/:_auth=Zr2LmX9vTa7KpW3n",
        ] {
            assert_eq!(
                secret_rules(".npmrc", line),
                vec!["secret-assignment"],
                "{line}"
            );
        }
        for line in ["_auth=${NPM_AUTH}", "_auth = changeme", "_auth=required"] {
            assert!(secret_rules(".npmrc", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn vault_unseal_keys_are_found_as_vault_init_prints_them() {
        assert_eq!(
            secret_rules(
                "init.log",
                "Unseal Key 2: 0tZn+7QQCxphpHwTm7/dC3LpP5JGIbYl3PK8Sy81R+P2"
            ),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn passwords_given_to_signing_and_archiving_tools_are_credentials() {
        for line in [
            "keytool -genkey -alias app -storepass Zr2LmX9vTa7KpW3n",
            "openssl pkcs12 -export -in c.pem -passout pass:Zr2LmX9vTa7KpW3n",
            "openssl enc -aes-256-cbc -k Zr2LmX9vTa7KpW3n -in a",
            "zip -P Zr2LmX9vTa7KpW3n backup.zip db.sql",
        ] {
            assert_eq!(
                secret_rules("release.sh", line),
                vec!["secret-auth-header"],
                "{line}"
            );
        }
        // The same letters mean other things to other tools.
        for line in [
            "curl -k https://x",
            "ssh -p 2222 host",
            "unzip -P $ZIP_PASS a.zip",
        ] {
            assert!(secret_rules("release.sh", line).is_empty(), "{line}");
        }
    }

    #[test]
    fn attribute_names_after_multibyte_text_do_not_split_a_character() {
        // The bytes before `"api_token"` end inside `ключ`: no panic, no finding.
        assert!(secret_rules("a.xml", "<entry ключ=\"api_token\">x</entry>").is_empty());
    }

    #[test]
    fn a_yaml_block_scalar_under_a_credential_name_is_its_value() {
        let file = "db:\n  password: |-\n    Zr2LmX9vTa7KpW3n\n  description: >\n    the secret sauce of the api\n";
        let found = review_file(&FileChange::new_file("values.yaml", file.into()), true);
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn java_system_properties_name_what_follows_the_d() {
        assert_eq!(
            secret_rules(
                "build.sh",
                "mvn sonar:sonar -Dsonar.login=5524bf449ca45fcace54698371466398321f3a82"
            ),
            vec!["secret-provider-token"]
        );
        assert_eq!(
            secret_rules("run.sh", "java -Ddb.password=Zr2LmX9vTa7KpW3n -jar app.jar"),
            vec!["secret-assignment"]
        );
    }

    #[test]
    fn private_keys_need_a_body_on_the_following_lines() {
        let header = ["-----BEGIN RSA ", "PRIVATE KEY-----"].concat();
        let body = "MIIEpAIBAAKCAQEAz8Xk2LmQ9vTn3Wp7Rc5Yb1Hd4Fg6Js0Ka2Nl8Mo";
        let key = format!("{header}\n{body}\n{body}\n-----END RSA PRIVATE KEY-----\n");
        let found = review_file(&FileChange::new_file("id_rsa", key), true);
        assert_eq!(rules(&found), vec!["secret-private-key"]);
        assert_eq!(found[0].line, 1);
        let escaped = format!("{{\"key\": \"{header}\\n{body}\\n\"}}");
        assert_eq!(
            secret_rules("sa.json", &escaped),
            vec!["secret-private-key"]
        );
        for kind in ["OPENSSH ", "EC ", "", "ENCRYPTED ", "DSA ", "PGP "] {
            let block = if kind == "PGP " { " BLOCK" } else { "" };
            let text = format!("-----BEGIN {kind}PRIVATE KEY{block}-----\n\n{body}\n");
            assert_eq!(
                rules(&review_file(&FileChange::new_file("k.txt", text), true)),
                vec!["secret-private-key"],
                "{kind}"
            );
        }
        let putty = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: me\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5\nAAAAIA\nPrivate-Lines: 1\nAAAAIGq\n";
        assert_eq!(
            rules(&review_file(
                &FileChange::new_file("me.ppk", putty.into()),
                true
            )),
            vec!["secret-private-key"]
        );
        // A header in code that looks for keys, or a truncated example.
        assert!(secret_rules("pem.py", &format!("if line.startswith(\"{header}\"):")).is_empty());
        assert!(review_file(
            &FileChange::new_file("README.md", format!("{header}\nMIIE...\n")),
            true
        )
        .is_empty());
    }

    #[test]
    fn documented_examples_are_not_critical_in_documentation() {
        let found = added("docs/setup.rst", "SECRET_KEY = \"q8Zr2LmX9vTa7KpW3n\"\n");
        assert_eq!(rules(&found), vec!["secret-assignment"]);
        assert_eq!(found[0].severity, Severity::Warning);
        let found = added(
            "README.md",
            "export STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n",
        );
        assert_eq!(found[0].severity, Severity::Critical);
        // Generic shapes (an unlisted prefix, a random setting, a value
        // below its name) are warnings in documentation; placeholders are
        // nothing.
        for text in [
            "zq_live_Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1s\n",
            "fireworks = Vb7Qm2Xk9LpR4tWz8Nc3Yh6JdF1sQ0aE\n",
            "api_token:\n  'q8Zr2LmX9vTa7KpW3n'\n",
        ] {
            let found = added("docs/setup.md", text);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].severity, Severity::Warning, "{text}");
        }
        for text in [
            "zq_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
            "api_token:\n  '<your-api-token>'\n",
            "$2b$12$xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
        ] {
            assert!(added("docs/setup.md", text).is_empty(), "{text}");
        }
        assert!(added("README.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n").is_empty());
        assert!(added(
            "a.py",
            "TOKEN = \"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
        )
        .is_empty());
    }

    #[test]
    fn inline_markers_silence_findings_on_their_line_or_the_line_below() {
        let key = "api_key = \"q8Zr2LmX9vTa7KpW\"";
        for marker in [
            "# redline: allow",
            "# gitleaks:allow",
            "# pragma: allowlist secret",
            "# redline: allow secret-assignment",
        ] {
            assert!(
                added("a.py", &format!("{key}  {marker}\n")).is_empty(),
                "{marker}"
            );
            assert!(
                added("a.py", &format!("{marker}\n{key}\n")).is_empty(),
                "{marker} above"
            );
        }
        assert_eq!(
            rules(&added(
                "a.py",
                &format!("{key}  # redline: allow todo-comment\n")
            )),
            vec!["secret-assignment"]
        );
        assert_eq!(
            rules(&added("a.py", &format!("# redline: allow\n\n{key}\n"))),
            vec!["secret-assignment"]
        );
        assert!(added("a.js", "console.log(x); // redline: allow\n").is_empty());
    }

    #[test]
    fn builtin_table_switches_rules_off_globally_and_per_path() {
        let file = |path: &str| {
            FileChange::new_file(
                path,
                "console.log(x); // TODO\nconst api_key = \"q8Zr2LmX9vTa7KpW\";\n".to_string(),
            )
        };
        let config = BuiltinConfig {
            disable: vec!["todo-comment".into()],
            disable_in: [("legacy/**".to_string(), vec!["secret-*".to_string()])].into(),
            ..BuiltinConfig::default()
        };
        let policy = Policy::new(&config);
        assert_eq!(
            rules(&review_file_with(&file("src/app.js"), false, &policy)),
            vec!["debug-console-log", "secret-assignment"]
        );
        assert_eq!(
            rules(&review_file_with(&file("legacy/app.js"), false, &policy)),
            vec!["debug-console-log"]
        );
        assert!(
            names_any_rule("secret-*") && names_any_rule("*") && !names_any_rule("secrets-typo")
        );
    }

    #[test]
    fn secrets_are_found_on_lines_longer_than_4000_bytes() {
        let long = format!(
            "var a=\"{}\";var k=\"sk_live_4eC39HqLyjWDarjtT1zdp7dc\";console.log(a)\n",
            "x1".repeat(3000)
        );
        assert_eq!(
            rules(&added("bundle.js", &long)),
            vec!["secret-provider-token"]
        );
    }

    #[test]
    fn regex_exec_method_is_not_a_dangerous_exec() {
        assert!(added("a.js", "const m = re.exec(s);\n").is_empty());
        assert_eq!(rules(&added("a.py", "exec(code)\n")), vec!["danger-exec"]);
    }

    #[test]
    fn commented_out_debug_call_is_not_flagged_but_commented_key_is() {
        assert!(added("a.js", "// console.log(x)\n").is_empty());
        assert_eq!(
            rules(&added("a.js", "// AKIAZ7QW3RT5YU8IOP2L\n")),
            vec!["secret-aws-access-key"]
        );
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let f = added("a.js", "const é😀 = 1; console.log(x);\n");
        assert_eq!(f[0].column, 15);
    }

    #[test]
    fn sql_built_by_format_is_flagged_and_parameterised_sql_is_not() {
        assert_eq!(
            rules(&added(
                "a.py",
                "q = f\"SELECT * FROM users WHERE id = {uid}\"\n"
            )),
            vec!["danger-sql-string"]
        );
        assert_eq!(
            rules(&added(
                "a.js",
                "db.query(\"SELECT * FROM t WHERE id = \" + id)\n"
            )),
            vec!["danger-sql-string"]
        );
        assert!(added(
            "a.py",
            "cur.execute(\"SELECT * FROM t WHERE id = %s\", (uid,))\n"
        )
        .is_empty());
        // A table named by the program's own constant takes no input.
        for constant in [
            "db.prepare(`DELETE FROM cache_v${VERSION} WHERE url = ?`)\n",
            "db.prepare(\"SELECT COUNT(*) FROM \" + Schema.TABLE_NAME)\n",
        ] {
            assert!(added("a.js", constant).is_empty(), "{constant}");
        }
        assert_eq!(
            rules(&added(
                "a.js",
                "db.prepare(`DELETE FROM cache_v${VERSION} WHERE url = '${url}'`)\n"
            )),
            vec!["danger-sql-string"]
        );
    }

    #[test]
    fn a_task_marker_needs_a_colon_and_a_placeholder_is_not_one() {
        let at = |t: &str| is_task_marker(t, t.find("TODO").expect("TODO"));
        assert!(at("TODO: write it"));
        assert!(at("- TODO(#12): write it"));
        assert!(!at("TODO."));
        assert!(!at("the TODO list"));
        assert!(!at("TODO(later) maybe"));
    }

    #[test]
    fn only_a_plain_literal_argument_is_constant() {
        assert!(only_a_literal("'make docs')"));
        assert!(only_a_literal(" \"a \\\" b\" )"));
        assert!(!only_a_literal("'rm ' + path)"));
        assert!(!only_a_literal("f'rm {path}')"));
        assert!(!only_a_literal("`rm ${path}`)"));
        assert!(!only_a_literal("cmd)"));
        assert!(!only_a_literal("'unterminated"));
        assert!(literal_command("subprocess.run('make docs', shell=True)"));
        assert!(literal_command(
            "check_call(\n    \"git status\",\n    shell=True,\n)"
        ));
        assert!(!literal_command("run(f'git log {ref}', shell=True)"));
        assert!(!literal_command("run('rm ' + path, shell=True)"));
        assert!(!literal_command("run('rm %s' % path, shell=True)"));
        assert!(!literal_command("run(cmd, shell=True)"));
    }

    #[test]
    fn a_hit_on_a_moved_line_is_claimed_once_across_files() {
        let gone = FileChange::new(
            "a.py",
            crate::git::ChangeKind::Modified,
            "x = 1\nprint(x)\n".into(),
            "x = 1\n".into(),
        );
        let twice = FileChange::new(
            "b.py",
            crate::git::ChangeKind::Modified,
            "y = 2\n".into(),
            "y = 2\nprint(x)\nprint(x)\n".into(),
        );
        let found = review_files(&[gone, twice], &Policy::default());
        assert!(found[0].is_empty());
        assert_eq!(found[1].iter().map(|f| f.line).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn files_reviewed_side_by_side_claim_moved_lines_in_file_order_and_judge_alike() {
        // Enough files to be spread over threads: the removed print is
        // claimed by the first file that adds it back, whichever thread
        // reviewed which file, and each file is judged as on its own.
        let mut files = vec![FileChange::new(
            "a00.py",
            crate::git::ChangeKind::Modified,
            "x = 1\nprint(x)\n".into(),
            "x = 1\n".into(),
        )];
        for i in 1..(4 * SIDE_BY_SIDE_FROM) {
            let added = if i == 5 || i == 4 * SIDE_BY_SIDE_FROM - 1 {
                "print(x)\n"
            } else {
                "# TODO: drop\n"
            };
            files.push(FileChange::new(
                format!("a{i:02}.py"),
                crate::git::ChangeKind::Modified,
                "y = 2\n".into(),
                format!("y = 2\n{added}"),
            ));
        }
        let together = review_files(&files, &Policy::default());
        assert!(together[0].is_empty());
        assert!(together[5].is_empty(), "{:?}", together[5]);
        let last = &together[4 * SIDE_BY_SIDE_FROM - 1];
        assert_eq!(rules(last), vec!["debug-print"]);
        for (i, file) in files.iter().enumerate().skip(1) {
            if i != 5 && i != 4 * SIDE_BY_SIDE_FROM - 1 {
                assert_eq!(together[i], review_file(file, false), "{}", file.path);
            }
        }
    }

    #[test]
    fn provider_names_get_the_article_they_are_read_with() {
        for (name, a) in [
            ("AWS", "an"),
            ("SSH", "an"),
            ("GitHub", "a"),
            ("GCP", "a"),
            ("npm", "an"),
            ("OpenAI", "an"),
            ("Hugging Face", "a"),
        ] {
            assert_eq!(article(name), a, "{name}");
        }
    }
}
