//! The built-in offline reviewer: fast, deterministic rules over *added*
//! lines only. It is the default when no model endpoint is configured and
//! always runs beside the models for secrets, so a key in a diff is caught
//! even when every provider is down. Each rule documents itself; the LSP's
//! "Explain" action shows that documentation.

use super::changes::FileChange;
use super::finding::{fingerprint, Finding, Severity};
use regex::bytes::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

/// The reviewer name built-in findings carry.
pub const REVIEWER: &str = "builtin";

/// Lines longer than this (bytes) get the secret rules only.
const LONG_LINE_BYTES: usize = 4000;

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

/// What a rule checks beyond its regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    /// Capture group 1 must look like a real secret (entropy, no placeholder).
    SecretValue,
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
    /// Matches in comments still count (a secret in a comment still leaks).
    in_comments: bool,
    /// When the whole line is the offending statement, the fix deletes it.
    removable_line: bool,
    check: Check,
    pattern: &'static str,
}

const JS: &[&str] = &["js", "jsx", "ts", "tsx", "mjs", "cjs", "vue", "svelte"];
const PY: &[&str] = &["py", "pyw"];
const SCRIPT: &[&str] = &[
    "py", "pyw", "js", "jsx", "ts", "tsx", "mjs", "cjs", "rb", "php",
];

pub static RULES: &[Rule] = &[
    Rule {
        id: "secret-aws-access-key",
        severity: Severity::Critical,
        title: "AWS access key in source",
        message: "This looks like an AWS access key id. Remove it, rotate the key, and load credentials from the environment or a secret store.",
        explanation: "An AWS access key id (`AKIA…`/`ASIA…`) was added. Keys committed to a repository are harvested by scanners within minutes of a push. **Rotate the key now** (IAM console → Security credentials), remove it from the code, and read credentials from the environment, an instance role, or a secret manager.",
        langs: Langs::Any,
        in_comments: true,
        removable_line: false,
        check: Check::None,
        pattern: r"(?:^|[^A-Z0-9])((?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16})(?:[^A-Z0-9]|$)",
    },
    Rule {
        id: "secret-private-key",
        severity: Severity::Critical,
        title: "Private key block in source",
        message: "A PEM private key was added. Never commit private keys; load them from a file outside the repository or a secret store.",
        explanation: "A `-----BEGIN … PRIVATE KEY-----` block was added. Anyone with read access to the repository, its forks or its CI logs can impersonate the key's owner. Revoke and regenerate the key pair, and keep private keys out of version control (add the file to `.gitignore` and `review.never_send`).",
        langs: Langs::Any,
        in_comments: true,
        removable_line: false,
        check: Check::None,
        pattern: r"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)",
    },
    Rule {
        id: "secret-provider-token",
        severity: Severity::Critical,
        title: "API token with a known provider prefix",
        message: "This string has the shape of a provider API token (GitHub, OpenAI, Slack, Stripe, Google, GitLab…). Remove it and rotate it.",
        explanation: "The added text contains a token whose prefix identifies its provider (for example `ghp_`, `github_pat_`, `sk-`, `xoxb-`, `sk_live_`, `AIza`, `glpat-`). Providers and attackers scan public code for exactly these prefixes. Revoke the token at the provider, remove it, and read it from the environment at run time.",
        langs: Langs::Any,
        in_comments: true,
        removable_line: false,
        check: Check::None,
        pattern: r"(?:^|[^A-Za-z0-9_-])((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{50,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}|xox[abposr]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{24,}|rk_live_[A-Za-z0-9]{24,}|AIza[0-9A-Za-z_-]{35}|glpat-[0-9A-Za-z_-]{20,}|npm_[A-Za-z0-9]{36})",
    },
    Rule {
        id: "secret-assignment",
        severity: Severity::Critical,
        title: "Hard-coded credential",
        message: "A password, secret, token or API key is assigned a literal value. Read it from the environment or a secret store instead.",
        explanation: "A variable or key whose name says it holds a credential (`password`, `secret`, `token`, `api_key`, …) is assigned a literal with the randomness of a real secret. Committed credentials leak through clones, forks, CI logs and backups. Rotate the credential, then load it at run time (environment variable, secret manager, a file listed in `.gitignore`). Placeholders such as `changeme` or `${VAR}` are not flagged.",
        langs: Langs::Any,
        in_comments: true,
        removable_line: false,
        check: Check::SecretValue,
        pattern: r#"(?i)(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?key)[A-Za-z0-9_-]*["']?\s*(?::=|=>|=|:)\s*(?:[A-Za-z]+\()?\s*["']([^"'\s]{8,})["']"#,
    },
    Rule {
        id: "debug-dbg-macro",
        severity: Severity::Suggestion,
        title: "`dbg!` left in code",
        message: "`dbg!` prints to stderr and is meant for local debugging; remove it before committing.",
        explanation: "`dbg!` writes the file, line and value to stderr. It is a debugging aid that usually ends up as noise in production logs (and can print data that should stay private). Remove it, or replace it with a `tracing::debug!` event if the information is worth keeping.",
        langs: Langs::Only(&["rs"]),
        in_comments: false,
        removable_line: true,
        check: Check::None,
        pattern: r"(\bdbg!\s*\()",
    },
    Rule {
        id: "debug-console-log",
        severity: Severity::Suggestion,
        title: "`console.log` left in code",
        message: "`console.log` looks like a debugging leftover; remove it or use the project's logger.",
        explanation: "`console.log` calls added while debugging tend to ship: they clutter the browser console or server logs and can expose data. Remove it, or use the project's logging facility with an appropriate level.",
        langs: Langs::Only(JS),
        in_comments: false,
        removable_line: true,
        check: Check::None,
        pattern: r"(\bconsole\.(?:log|debug|trace|dir)\s*\()",
    },
    Rule {
        id: "debug-print",
        severity: Severity::Suggestion,
        title: "`print()` debugging left in code",
        message: "A bare `print(` call looks like debugging output; remove it or use `logging`.",
        explanation: "A `print()` statement on its own line in Python code is usually a debugging leftover. Use the `logging` module (which can be silenced and carries levels), or remove it. Command-line scripts whose job is to print are the exception: dismiss the finding there.",
        langs: Langs::Only(PY),
        in_comments: false,
        removable_line: true,
        check: Check::None,
        pattern: r"^\s*(print\s*\()",
    },
    Rule {
        id: "debug-debugger-statement",
        severity: Severity::Suggestion,
        title: "`debugger` statement left in code",
        message: "A `debugger` statement pauses execution whenever dev tools are open; remove it.",
        explanation: "`debugger;` stops execution in any browser or Node.js process with a debugger attached. It is never meant to be committed.",
        langs: Langs::Only(JS),
        in_comments: false,
        removable_line: true,
        check: Check::None,
        pattern: r"(?:^\s*|[;{]\s*)(\bdebugger\b)\s*;?\s*$",
    },
    Rule {
        id: "debug-breakpoint",
        severity: Severity::Suggestion,
        title: "Breakpoint left in code",
        message: "`breakpoint()` / `pdb.set_trace()` stops the program waiting for a debugger; remove it.",
        explanation: "`breakpoint()`, `pdb.set_trace()`, `ipdb.set_trace()` and `binding.pry` stop the program and wait for interactive input. In a server or CI job that means a hang.",
        langs: Langs::Only(&["py", "pyw", "rb"]),
        in_comments: false,
        removable_line: true,
        check: Check::None,
        pattern: r"(\bbreakpoint\s*\(\s*\)|\b(?:i?pdb|pudb)\.set_trace\s*\(|\bbinding\.pry\b)",
    },
    Rule {
        id: "danger-eval",
        severity: Severity::Warning,
        title: "`eval` of dynamic code",
        message: "`eval` runs arbitrary code; if any part of its input comes from outside, this is code injection.",
        explanation: "`eval` executes a string as code with the caller's privileges. When any part of that string can be influenced by a user, a file or the network, an attacker can run their own code. Parse the data instead (`JSON.parse`, `ast.literal_eval`, a lookup table).",
        langs: Langs::Only(SCRIPT),
        in_comments: false,
        removable_line: false,
        check: Check::None,
        pattern: r"(?:^|[^.\w$])(eval\s*\()",
    },
    Rule {
        id: "danger-exec",
        severity: Severity::Warning,
        title: "Dynamic code or shell execution",
        message: "`exec`/`os.system`/`child_process.exec` runs code or a shell command built at run time; make sure no outside input reaches it.",
        explanation: "Executing a string as code (`exec`) or handing it to a shell (`os.system`, `child_process.exec`, `execSync`) allows injection when the string contains outside input. Pass arguments as a list to a process API that does not invoke a shell (`subprocess.run([...])`, `execFile`).",
        langs: Langs::Only(SCRIPT),
        in_comments: false,
        removable_line: false,
        check: Check::None,
        pattern: r"((?:^|[^.\w$])exec\s*\(|\bos\.system\s*\(|\bchild_process\.exec(?:Sync)?\s*\(|\bexecSync\s*\()",
    },
    Rule {
        id: "danger-shell-true",
        severity: Severity::Warning,
        title: "`shell=True` in a subprocess call",
        message: "`shell=True` passes the command through a shell; any interpolated input becomes shell injection. Pass a list of arguments instead.",
        explanation: "With `shell=True`, `subprocess` runs the command through `/bin/sh`, so quotes, `;`, `$()` and backticks in any interpolated value are interpreted by the shell. Pass the command as a list (`subprocess.run([\"git\", \"log\", path])`) and leave `shell` at its default.",
        langs: Langs::Only(PY),
        in_comments: false,
        removable_line: false,
        check: Check::None,
        pattern: r"(\bshell\s*=\s*True\b)",
    },
    Rule {
        id: "danger-pickle-loads",
        severity: Severity::Warning,
        title: "Unpickling data",
        message: "`pickle.load(s)` executes code embedded in the data; never unpickle input you did not produce yourself.",
        explanation: "A pickle stream can contain instructions that run arbitrary code when loaded. Unpickling data from a request, a file a user can write, or a cache shared with others is remote code execution. Use JSON or another data-only format.",
        langs: Langs::Only(PY),
        in_comments: false,
        removable_line: false,
        check: Check::None,
        pattern: r"(\b(?:c?pickle|dill|joblib)\.loads?\s*\()",
    },
    Rule {
        id: "danger-sql-string",
        severity: Severity::Warning,
        title: "SQL built from strings",
        message: "This SQL statement is assembled by string formatting or concatenation; use bound parameters so input cannot change the query.",
        explanation: "Building SQL by concatenation, `%`, `.format`, f-strings, template literals or `format!` lets any interpolated value change the statement (SQL injection). Use the driver's placeholders (`?`, `$1`, `%s` passed as parameters) or a query builder.",
        langs: Langs::Any,
        in_comments: false,
        removable_line: false,
        check: Check::None,
        pattern: r#"(?i)((?:\bf|\bformat!\(\s*)?(?:"\s*(?:select\s[^"]*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^"]*(?:"\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^"]*")|'\s*(?:select\s[^']*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^']*(?:'\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^']*')|`\s*(?:select\s[^`]*\bfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\b[^`]*(?:`\s*(?:\+|%\s*[\w(]|\.format\s*\()|\$\{|\{[\w.]*\}[^`]*`)))"#,
    },
    Rule {
        id: "todo-comment",
        severity: Severity::Suggestion,
        title: "New TODO/FIXME",
        message: "A new TODO/FIXME was added; track it in an issue or resolve it before merging.",
        explanation: "New `TODO`/`FIXME` markers are promises that are easy to forget. Resolve it in this change, or open an issue and reference it (`TODO(#123)`) so the work is tracked.",
        langs: Langs::Any,
        in_comments: true,
        removable_line: false,
        check: Check::None,
        pattern: r"\b(TODO|FIXME)\b",
    },
];

/// Each rule's regex, compiled the first time a file it applies to is
/// reviewed. Patterns are ASCII-only (`\w`, `\b`, `\s`, `(?i)` mean their
/// ASCII forms) and match bytes: Unicode classes made compiling the rule set
/// cost ~12 ms per `redline check`, more than reading the repository.
static COMPILED: LazyLock<Vec<OnceLock<Regex>>> =
    LazyLock::new(|| RULES.iter().map(|_| OnceLock::new()).collect());

fn compiled(index: usize) -> &'static Regex {
    COMPILED[index].get_or_init(|| {
        RegexBuilder::new(RULES[index].pattern)
            .unicode(false)
            .build()
            .expect("built-in rule patterns are valid")
    })
}

/// Looks up a built-in rule by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Whether a finding's rule is one of the secret rules (these always run).
pub fn is_secret_rule(id: &str) -> bool {
    id.starts_with("secret-")
}

/// Reviews the added lines of one file. `only_secrets` restricts the run to
/// the secret rules (used beside model reviewers).
pub fn review_file(file: &FileChange, only_secrets: bool) -> Vec<Finding> {
    let lines = crate::diff::lines(&file.new_text);
    let mut findings = Vec::new();
    let mut seen: HashMap<(&str, &str), u32> = HashMap::new();
    for line_no in file.diff.added_lines() {
        let Some(text) = lines.get(line_no as usize - 1) else {
            continue;
        };
        // Minified or generated one-liners are noise for most rules, but a
        // key pasted into one still leaks: the secret rules scan every line.
        let long = text.len() > LONG_LINE_BYTES;
        let comment = is_comment(text);
        let mut secret_hit = false;
        for (index, rule) in RULES.iter().enumerate() {
            if ((only_secrets || long) && !is_secret_rule(rule.id))
                || !rule.langs.matches(&file.path)
                || (comment && !rule.in_comments)
                // One secret finding per line: the assignment rule and a
                // provider prefix often describe the same literal.
                || (secret_hit && is_secret_rule(rule.id))
            {
                continue;
            }
            let Some(caps) = compiled(index).captures(text.as_bytes()) else {
                continue;
            };
            let m = caps.get(1).unwrap_or_else(|| caps.get(0).expect("group 0"));
            let (start, end) = (floor_char(text, m.start()), floor_char(text, m.end()));
            if rule.check == Check::SecretValue && !looks_like_secret(&text[start..end]) {
                continue;
            }
            secret_hit |= is_secret_rule(rule.id);
            let column = text[..start].chars().count() as u32 + 1;
            let end_column = text[..end].chars().count() as u32 + 1;
            let key = (text.trim(), rule.id);
            let occurrence = seen.entry(key).or_insert(0);
            let fix = (rule.removable_line && is_whole_statement(text, start)).then(String::new);
            findings.push(Finding {
                path: file.path.clone(),
                line: line_no,
                end_line: line_no,
                column,
                end_column: Some(end_column),
                severity: rule.severity,
                reviewer: REVIEWER.to_string(),
                rule: Some(rule.id.to_string()),
                title: rule.title.to_string(),
                message: rule.message.to_string(),
                fingerprint: fingerprint(&file.path, REVIEWER, rule.id, text, *occurrence),
                fix,
            });
            *occurrence += 1;
        }
    }
    findings
}

/// The nearest char boundary at or before byte `i`. Byte patterns can in
/// principle stop inside a multi-byte character; columns count characters.
fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_comment(line: &str) -> bool {
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

/// A literal that is plausibly a real credential: long enough, random
/// enough, and not an obvious placeholder or interpolation.
fn looks_like_secret(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[
        "changeme",
        "change_me",
        "example",
        "placeholder",
        "your",
        "xxxx",
        "****",
        "dummy",
        "redacted",
        "password",
        "secret",
        "token",
        "sample",
        "test",
        "todo",
        "fake",
        "<",
        "${",
        "{{",
        "%(",
        "process.env",
        "os.environ",
    ];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return false;
    }
    value.chars().count() >= 8 && shannon_entropy(value) >= 3.0
}

fn shannon_entropy(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
        n += 1;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
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
        assert_eq!(
            rules(&added("a.py", "api_key = \"q8Zr2LmX9vTa7KpW\"\n")),
            vec!["secret-assignment"]
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
            rules(&added("a.js", "// AKIAIOSFODNN7EXAMPLQ\n")),
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
    }
}
