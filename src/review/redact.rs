//! Detected secrets never leave as written. The built-in secret rules find a
//! key; from then on every text redline shows or sends — the code lines of
//! `check`'s text report, model prompts, model findings, Explain — carries
//! it masked: its first four and last two characters with `*` between,
//! the same number of characters, so that columns and carets still line up.
//!
//! Pure text functions: no I/O, no knowledge of front ends.

use super::builtin;
use super::changes::FileChange;
use super::finding::Finding;
use std::borrow::Cow;

/// Shortest secret shown with its first and last characters; shorter ones
/// are masked whole.
const SHOW_ENDS_FROM: usize = 12;

/// `AKIAZ7QW3RT5YU8IOP2L` → `AKIA**************2L`: recognisable, unusable,
/// and as many characters as the original.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < SHOW_ENDS_FROM {
        return "*".repeat(n);
    }
    secret
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i >= n - 2 { c } else { '*' })
        .collect()
}

/// The secrets found in some texts, ready to be masked wherever they occur.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Distinct values, longest first (so that a value containing another
    /// is masked whole).
    secrets: Vec<String>,
}

impl Redactor {
    /// The values of the secret findings among `findings`, read from the
    /// new text of their files (`text_of(path)`).
    pub fn from_findings<'a>(
        findings: impl IntoIterator<Item = &'a Finding>,
        text_of: impl Fn(&str) -> Option<&'a str>,
    ) -> Redactor {
        let mut secrets = Vec::new();
        for f in findings {
            if !f.rule.as_deref().is_some_and(builtin::is_secret_rule) {
                continue;
            }
            if let Some(text) = text_of(&f.path) {
                secrets.extend(values(f, text));
            }
        }
        Redactor::new(secrets)
    }

    /// Runs the built-in secret rules over `text` (as if every line were
    /// new) and collects what they find.
    pub fn scan(path: &str, text: &str) -> Redactor {
        let file = FileChange::new_file(path, text.to_string());
        let found = builtin::review_file(&file, true);
        Redactor::from_findings(&found, |_| Some(text))
    }

    fn new(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|s| !s.trim().is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret masked.
    pub fn scrub<'s>(&self, text: &'s str) -> Cow<'s, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), &mask(secret)));
            }
        }
        out
    }

    /// A copy of `file` whose new text has every known secret masked (for
    /// what is sent to a model).
    pub fn scrub_file(&self, file: &FileChange) -> Option<FileChange> {
        match self.scrub(&file.new_text) {
            Cow::Borrowed(_) => None,
            Cow::Owned(text) => {
                let mut masked = FileChange::new(
                    file.path.clone(),
                    file.kind.clone(),
                    file.old_text.clone(),
                    text,
                );
                masked.lossy = file.lossy;
                Some(masked)
            }
        }
    }
}

/// The text a secret finding points at: the span on its line, or, for a
/// block such as a private key, the lines between its first and last.
fn values(f: &Finding, text: &str) -> Vec<String> {
    let lines = crate::diff::lines(text);
    let line_at = |n: u32| lines.get((n as usize).checked_sub(1)?).copied();
    if f.rule.as_deref() == Some("secret-private-key") {
        return key_body(f, &lines);
    }
    if f.end_line > f.line {
        return (f.line + 1..f.end_line)
            .filter_map(line_at)
            .map(|l| l.trim().to_string())
            .filter(|l| l.chars().count() >= 8)
            .collect();
    }
    let Some(line) = line_at(f.line) else {
        return Vec::new();
    };
    let start = f.column.saturating_sub(1) as usize;
    let value: String = match f.end_column {
        Some(end) => line
            .chars()
            .skip(start)
            .take((end as usize).saturating_sub(start + 1))
            .collect(),
        None => line.chars().skip(start).collect(),
    };
    vec![value.trim().to_string()]
}

/// A private key's body: what follows its header on the same line (a key
/// pasted into a string with `\n` escapes) and the lines after it, up to
/// its END marker. The header and END lines stay readable.
fn key_body(f: &Finding, lines: &[&str]) -> Vec<String> {
    const MAX_BODY_LINES: usize = 200;
    let mut out = Vec::new();
    let Some(header) = lines.get((f.line as usize).saturating_sub(1)) else {
        return out;
    };
    let after: String = header
        .chars()
        .skip(f.end_column.map_or(0, |c| c.saturating_sub(1) as usize))
        .collect();
    let inline = after.split("-----END").next().unwrap_or("");
    let inline = inline.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    if inline.len() >= 16 {
        out.push(inline.to_string());
    }
    for line in lines.iter().skip(f.line as usize).take(MAX_BODY_LINES) {
        let body = line.trim();
        if body.contains("-----END") || body.starts_with("Private-MAC:") {
            break;
        }
        let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
        if body.contains(':') || body.is_empty() {
            // `Proc-Type:`, `Comment:`, `Private-Lines: 14`: the block goes on.
            continue;
        }
        if !body.chars().all(base64) {
            // Code again: the key ended without a marker.
            break;
        }
        if body.len() >= 8 {
            out.push(body.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        format!("AKIA{}", "Z7QW3RT5YU8IOP2L")
    }

    #[test]
    fn a_mask_keeps_four_and_two_characters_and_the_length() {
        assert_eq!(mask(&key()), "AKIA**************2L");
        assert_eq!(mask(&key()).chars().count(), key().chars().count());
        assert_eq!(mask("hunter2x"), "********");
    }

    #[test]
    fn a_scanned_secret_is_masked_wherever_it_is_quoted() {
        let text = format!("x = 1\nAWS = \"{}\"\n", key());
        let r = Redactor::scan("app.py", &text);
        assert!(!r.is_empty());
        let quoted = format!("The key {} is hard-coded; rotate {}", key(), key());
        let scrubbed = r.scrub(&quoted);
        assert!(!scrubbed.contains(&key()), "{scrubbed}");
        assert_eq!(scrubbed.matches("AKIA**************2L").count(), 2);
        assert_eq!(r.scrub("nothing here"), Cow::Borrowed("nothing here"));
    }

    #[test]
    fn a_private_key_block_is_masked_line_by_line_and_its_markers_stay() {
        let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0";
        let text = format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{body}\n{body}Q\n-----END RSA PRIVATE KEY-----\n"
        );
        let r = Redactor::scan("id_rsa.pem", &text);
        let scrubbed = r.scrub(&text);
        assert!(!scrubbed.contains(body), "{scrubbed}");
        assert!(scrubbed.contains("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(scrubbed.lines().count(), 4);
    }
}
