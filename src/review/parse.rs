//! Model output to findings. Parsing is lenient about the envelope (a
//! `` ```json `` fence, prose before or after, a bare array; read by
//! [`AnswerStream`], whole or as it streams) and strict about the
//! content: a finding must name a file of the change, point at lines that
//! exist in its new text, and touch the lines reviewers were shown (changed
//! lines plus their context). Anything else is dropped and counted, never
//! shown at a wrong place. Model text is hostile data: every string a
//! finding carries is made visible-safe ([`sanitize::visible`]) and bounded
//! here, where it enters the review layer, so every front end gets clean
//! text. Pure functions; no I/O.

use super::context::FileView;
use super::finding::{fingerprint, Finding, Severity, Verdict};
pub use super::incremental::AnswerStream;
use super::prompts::Reviewer;
use super::sanitize;
use crate::diff;
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;

/// Longest title kept (characters); longer ones are cut.
const MAX_TITLE_CHARS: usize = 200;

/// Longest message kept (characters).
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Longest fix kept (bytes); a longer one is dropped, not cut (half a fix
/// is broken code).
pub const MAX_FIX_BYTES: usize = 16 * 1024;

/// Lines a fix may have beyond the lines its finding replaces.
pub const FIX_SLACK_LINES: usize = 20;

/// Findings taken from one answer; the rest are counted, not kept.
pub const MAX_FINDINGS_PER_ANSWER: usize = 50;

/// `id`s a judged finding may name (a merge of more is not credible).
const MAX_IDS: usize = 16;

/// A finding as a model wrote it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFinding {
    pub path: String,
    pub line: i64,
    pub end_line: i64,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub fix: Option<String>,
    pub reviewer: Option<String>,
    /// The judge pass's reference to the findings it judged (`id`, or `ids`
    /// for a merge); empty from a specialist.
    pub ids: Vec<u32>,
}

/// What a model answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelAnswer {
    pub findings: Vec<RawFinding>,
    pub verdict: Option<Verdict>,
    /// Entries of the `findings` array that were not findings at all.
    pub malformed: u32,
    /// Findings past [`MAX_FINDINGS_PER_ANSWER`], not kept.
    pub over_limit: u32,
    /// Titles and messages cut to their limit, fixes dropped for size.
    pub cut_fields: u32,
    /// The answer broke off (ended or turned to non-JSON) inside its
    /// findings: the findings complete before that are kept.
    pub broken: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the answer held no JSON object with a `findings` list")]
    NoJson,
}

/// Reads a whole answer: the same reading as [`AnswerStream`] gives an
/// answer that streams (its module says what is accepted).
pub fn parse_answer(text: &str) -> Result<ModelAnswer, ParseError> {
    let mut stream = AnswerStream::new();
    stream.push(text);
    stream.finish()
}

pub(super) fn parse_verdict(s: &str) -> Option<Verdict> {
    match s
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
        .as_str()
    {
        "approved" => Some(Verdict::Approved),
        "approved_with_comments" => Some(Verdict::ApprovedWithComments),
        "minor_issues" => Some(Verdict::MinorIssues),
        "significant_concerns" => Some(Verdict::SignificantConcerns),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// At most `max` characters of `s`, with `…` when cut (counted in `cut`).
fn bounded(s: &str, max: usize, cut: &mut u32) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => {
            *cut = cut.saturating_add(1);
            format!("{}…", &s[..end])
        }
        None => s.to_string(),
    }
}

/// The finding ids a judged finding names: `"id": 3`, `"id": "3"` or
/// `"ids": [3, 4]`.
fn ids(map: &serde_json::Map<String, Value>) -> Vec<u32> {
    let one = |v: &Value| int(Some(v)).and_then(|n| u32::try_from(n).ok());
    let mut out: Vec<u32> = map.get("id").and_then(one).into_iter().collect();
    if let Some(list) = map.get("ids").and_then(Value::as_array) {
        out.extend(list.iter().take(MAX_IDS).filter_map(one));
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub(super) fn raw_finding(item: &Value, cut: &mut u32) -> Option<RawFinding> {
    let map = item.as_object()?;
    let path = text(map.get("path").or_else(|| map.get("file")))?.to_string();
    let line = int(map.get("line").or_else(|| map.get("start_line")))?;
    let end_line = int(map.get("end_line")).unwrap_or(line).max(line);
    let severity = map
        .get("severity")
        .and_then(Value::as_str)
        .and_then(Severity::parse_lenient)
        .unwrap_or(Severity::Suggestion);
    let title = text(map.get("title"))?;
    let title = title.lines().next().unwrap_or("").trim();
    let title = bounded(&sanitize::visible_line(title), MAX_TITLE_CHARS, cut);
    let message = match text(map.get("message").or_else(|| map.get("description"))) {
        Some(m) => bounded(&sanitize::visible(m), MAX_MESSAGE_CHARS, cut),
        None => title.clone(),
    };
    let fix = map
        .get("fix")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .and_then(|fix| {
            if fix.len() > MAX_FIX_BYTES {
                *cut = cut.saturating_add(1);
                return None;
            }
            Some(sanitize::visible(fix).into_owned())
        });
    let reviewer = text(map.get("reviewer")).map(str::to_string);
    Some(RawFinding {
        path,
        line,
        end_line,
        severity,
        title,
        message,
        fix,
        reviewer,
        ids: ids(map),
    })
}

/// Why a finding was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Absolute, `..`, or otherwise not a repository-relative path.
    OutsideRepository,
    /// A path that is not one of the files reviewers were shown.
    NotInChange,
    /// A line that does not exist in the new text.
    NoSuchLine,
    /// Lines far from anything the change touched.
    OutsideHunks,
}

/// What findings may point at: the files reviewers were shown, their new
/// text, and the lines each block showed (changed lines ± context).
#[derive(Debug, Default)]
pub struct Scope {
    files: HashMap<String, ScopeFile>,
}

#[derive(Debug)]
struct ScopeFile {
    lines: Vec<String>,
    shown: Vec<Range<u32>>,
}

impl Scope {
    /// `views` are the files sent; `new_texts` their current text by path.
    pub fn new<'a>(views: impl IntoIterator<Item = (&'a FileView, &'a str)>) -> Self {
        let mut files = HashMap::new();
        for (view, new_text) in views {
            files.insert(
                view.path.clone(),
                ScopeFile {
                    lines: diff::lines(new_text)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    shown: view.blocks.iter().map(|b| b.shown.clone()).collect(),
                },
            );
        }
        Scope { files }
    }

    fn resolve(&self, path: &str) -> Result<String, Dropped> {
        let path = path.trim().replace('\\', "/");
        if path.starts_with('/')
            || path.contains(':')
            || path.split('/').any(|c| c == "..")
            || path.chars().any(char::is_control)
        {
            return Err(Dropped::OutsideRepository);
        }
        let path = path.trim_start_matches("./").to_string();
        if self.files.contains_key(&path) {
            return Ok(path);
        }
        // `a/…` / `b/…` as in a unified diff header.
        for prefix in ["b/", "a/"] {
            if let Some(stripped) = path.strip_prefix(prefix) {
                if self.files.contains_key(stripped) {
                    return Ok(stripped.to_string());
                }
            }
        }
        Err(Dropped::NotInChange)
    }

    /// Turns a raw finding into a finding, or says why it is dropped.
    /// `reviewer` is who reported it (a coordinator's `reviewer` field, when
    /// it names a specialist, wins).
    pub fn validate(&self, raw: &RawFinding, reviewer: Reviewer) -> Result<Finding, Dropped> {
        let path = self.resolve(&raw.path)?;
        let file = &self.files[&path];
        let count = file.lines.len() as i64;
        if raw.line < 1 || raw.line > count.max(1) || (count == 0 && raw.line != 1) {
            return Err(Dropped::NoSuchLine);
        }
        let line = raw.line as u32;
        let end_line = raw.end_line.clamp(raw.line, count.max(1)) as u32;
        let touches = file
            .shown
            .iter()
            .any(|r| line < r.end.max(r.start + 1) && end_line >= r.start);
        if !touches {
            return Err(Dropped::OutsideHunks);
        }
        let reviewer = raw
            .reviewer
            .as_deref()
            .and_then(Reviewer::parse)
            .filter(|r| *r != Reviewer::Coordinator)
            .unwrap_or(reviewer);
        let first = file
            .lines
            .get(line as usize - 1)
            .map(String::as_str)
            .unwrap_or("");
        let column = first.chars().take_while(|c| c.is_whitespace()).count() as u32 + 1;
        Ok(Finding {
            path,
            line,
            end_line,
            column,
            end_column: None,
            severity: raw.severity,
            reviewer: reviewer.as_str().to_string(),
            rule: None,
            title: raw.title.clone(),
            message: raw.message.clone(),
            fingerprint: String::new(),
            fix: raw.fix.clone().filter(|fix| fix_fits(fix, line, end_line)),
        })
    }

    /// The text of `line..=end_line` of `path`'s new text.
    pub fn code(&self, path: &str, line: u32, end_line: u32) -> String {
        self.files
            .get(path)
            .map(|f| {
                f.lines
                    .iter()
                    .skip(line.saturating_sub(1) as usize)
                    .take((end_line + 1).saturating_sub(line) as usize)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

/// A fix replaces `line..=end_line`: one much longer than that is not a fix
/// for this finding (and would flood an editor's edit preview).
fn fix_fits(fix: &str, line: u32, end_line: u32) -> bool {
    let replaced = (end_line - line + 1) as usize;
    fix.lines().count() <= replaced + FIX_SLACK_LINES
}

/// Gives every model finding without one its fingerprint (path, reviewer,
/// title, code of its lines, and an occurrence counter for identical ones).
pub fn assign_fingerprints(findings: &mut [Finding], scope: &Scope) {
    let mut fingerprints = Fingerprinter::default();
    for f in findings.iter_mut() {
        fingerprints.assign(f, scope);
    }
}

/// Fingerprints findings one at a time, in the order of an answer: the
/// same findings in the same order get the same fingerprints whether they
/// arrive whole or streamed.
#[derive(Debug, Default)]
pub struct Fingerprinter {
    seen: HashMap<(String, String, String, String), u32>,
}

impl Fingerprinter {
    /// Gives `f` its fingerprint unless it has one.
    pub fn assign(&mut self, f: &mut Finding, scope: &Scope) {
        if !f.fingerprint.is_empty() {
            return;
        }
        let code = scope.code(&f.path, f.line, f.end_line);
        let n = self
            .seen
            .entry((
                f.path.clone(),
                f.reviewer.clone(),
                f.title.clone(),
                code.clone(),
            ))
            .or_insert(0);
        f.fingerprint = fingerprint(&f.path, &f.reviewer, &f.title, &code, *n);
        *n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::changes::FileChange;
    use crate::review::context::file_view;

    fn raw(path: &str, line: i64) -> RawFinding {
        RawFinding {
            path: path.into(),
            line,
            end_line: line,
            severity: Severity::Warning,
            title: "t".into(),
            message: "m".into(),
            fix: None,
            reviewer: None,
            ids: Vec::new(),
        }
    }

    #[test]
    fn json_is_found_in_fences_in_prose_and_bare() {
        let bare =
            r#"{"findings": [{"path": "a.rs", "line": 2, "severity": "high", "title": "x"}]}"#;
        let fenced = format!("Here you go:\n```json\n{bare}\n```\nHope it helps!");
        let prose = format!("Sure. {bare} That is all. {{not json}}");
        for text in [bare.to_string(), fenced, prose] {
            let a = parse_answer(&text).unwrap();
            assert_eq!(a.findings.len(), 1, "{text}");
            assert_eq!(a.findings[0].severity, Severity::Critical);
            assert_eq!(a.findings[0].end_line, 2);
        }
    }

    #[test]
    fn garbage_is_an_error_and_malformed_entries_are_counted() {
        assert_eq!(parse_answer("I think it is fine."), Err(ParseError::NoJson));
        assert_eq!(parse_answer("{\"findings\": 3}"), Err(ParseError::NoJson));
        let a = parse_answer(
            r#"{"findings": [1, {"path": "a"}, {"path": "a", "line": "4", "title": "ok"}]}"#,
        )
        .unwrap();
        assert_eq!(a.malformed, 2);
        assert_eq!(a.findings[0].line, 4);
    }

    #[test]
    fn pathological_answers_end_quickly_without_a_finding() {
        let braces = "{".repeat(100_000);
        assert!(parse_answer(&braces).is_err());
        let open_strings = "{\"a\": \"".repeat(20_000);
        assert!(parse_answer(&open_strings).is_err());
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse_answer(&deep).is_err());
        let huge = r#"{"findings": [{"path": "a", "line": 1e300, "title": "x"}, {"path": "a", "line": -5, "title": "y"}]}"#;
        let a = parse_answer(huge).unwrap();
        assert!(a.findings.iter().all(|f| f.line <= 0 || f.line == i64::MAX));
    }

    /// JSON-ish pieces random answers are made of.
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"findings\"",
        "\"path\"",
        "\"line\"",
        "\"end_line\"",
        "\"title\"",
        "\"src/a.rs\"",
        "\"../x\"",
        "-1",
        "0",
        "2",
        "99999999999999999999",
        "1.5",
        "null",
        "true",
        "\"critical\"",
        "```json\n",
        "```",
        "prose ",
        "\\",
        "\"",
        "é",
        "\u{2028}",
        " ",
        "\n",
        "[]",
    ];

    #[test]
    fn random_answers_never_panic_and_never_yield_a_finding_outside_the_scope() {
        use rand::{Rng, SeedableRng};
        let file = FileChange::new_file("src/a.rs", "a\nb\nc\n".into());
        let (scope, _) = scope_of(&file);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3000 {
            let n = rng.random_range(1..60);
            let text: String = (0..n)
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect();
            if let Ok(answer) = parse_answer(&text) {
                for raw in &answer.findings {
                    if let Ok(f) = scope.validate(raw, Reviewer::General) {
                        assert_eq!(f.path, "src/a.rs");
                        assert!((1..=3).contains(&f.line) && f.end_line <= 3, "{text}");
                    }
                }
            }
        }
    }

    /// A random JSON value of the kinds a broken or hostile model writes.
    fn hostile_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
        use rand::Rng;
        const STRINGS: &[&str] = &[
            "src/a.rs",
            "./src/a.rs",
            "../etc/passwd",
            "critical",
            "warning",
            "\u{1b}[2J\u{1b}]0;t\u{7}",
            "\u{1b}]8;;https://evil\u{1b}\\x\u{1b}]8;;\u{1b}\\",
            "a\rb\u{8}c\u{7f}\u{9b}31m",
            "\u{202e}abc\u{2066}\u{200f}\u{61c}",
            "line\nnext\ttab\r\n",
            "```json\n{\"findings\": []}\n```",
            "",
            "é😀\u{2028}",
        ];
        match rng.random_range(0..if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => serde_json::json!(rng.random_range(-5i64..40)),
            3 => [
                serde_json::json!(1e300),
                serde_json::json!(-1e300),
                serde_json::json!(1.5),
                serde_json::json!(u64::MAX),
                serde_json::json!(i64::MIN),
            ][rng.random_range(0..5)]
            .clone(),
            4 => Value::String(STRINGS[rng.random_range(0..STRINGS.len())].to_string()),
            5 => Value::String("\u{1b}x".repeat(rng.random_range(0..1500))),
            6 => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| hostile_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let keys = [
                    "path", "line", "end_line", "severity", "title", "message", "fix", "id", "ids",
                    "reviewer", "findings",
                ];
                let mut map = serde_json::Map::new();
                for _ in 0..rng.random_range(0..9) {
                    let key = keys[rng.random_range(0..keys.len())];
                    map.insert(key.into(), hostile_value(rng, depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    /// A finding-shaped object whose fields are random and often hostile.
    fn hostile_finding(rng: &mut rand::rngs::StdRng) -> Value {
        use rand::Rng;
        let mut f = serde_json::json!({"path": "src/a.rs", "line": rng.random_range(0..5),
            "title": "t", "message": "m"});
        for key in [
            "path", "line", "end_line", "severity", "title", "message", "fix", "id", "ids",
        ] {
            if rng.random_bool(0.4) {
                f[key] = hostile_value(rng, 1);
            }
        }
        if rng.random_bool(0.1) {
            f["message"] = Value::String("\u{1b}[2J".repeat(1200));
        }
        if rng.random_bool(0.1) {
            f["fix"] = Value::String("x\u{7}\n".repeat(rng.random_range(1..7_000)));
        }
        f
    }

    #[test]
    fn hostile_answers_never_panic_and_every_finding_is_bounded_and_visible() {
        use rand::{Rng, SeedableRng};
        let file = FileChange::new_file("src/a.rs", "a\nb\nc\n".into());
        let (scope, _) = scope_of(&file);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e37_79b9);
        for round in 0..800 {
            let n = if rng.random_bool(0.05) {
                rng.random_range(50..200)
            } else {
                rng.random_range(0..6)
            };
            let findings: Vec<Value> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.8) {
                        hostile_finding(&mut rng)
                    } else {
                        hostile_value(&mut rng, 1)
                    }
                })
                .collect();
            let mut text =
                serde_json::json!({"verdict": hostile_value(&mut rng, 2), "findings": findings})
                    .to_string();
            match rng.random_range(0..5) {
                0 => text = format!("Sure!\n```json\n{text}\n```\nand ```nested ```json\n{{}}```"),
                1 => text = format!("prose {{ [ {text} trailing {{"),
                2 => {
                    // Truncated mid-answer, at a character boundary.
                    let mut cut = rng.random_range(0..=text.len());
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                _ => {}
            }
            let Ok(answer) = parse_answer(&text) else {
                continue;
            };
            assert!(
                answer.findings.len() <= MAX_FINDINGS_PER_ANSWER,
                "round {round}"
            );
            for raw in &answer.findings {
                assert!(
                    sanitize::is_visible(&raw.title) && !raw.title.contains('\n'),
                    "round {round}: {:?}",
                    raw.title
                );
                assert!(raw.title.chars().count() <= MAX_TITLE_CHARS + 1);
                assert!(
                    sanitize::is_visible(&raw.message),
                    "round {round}: {:?}",
                    raw.message
                );
                assert!(raw.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
                if let Some(fix) = &raw.fix {
                    assert!(sanitize::is_visible(fix) && fix.len() <= MAX_FIX_BYTES * 3);
                }
                assert!(raw.ids.len() <= MAX_IDS + 1);
                if let Ok(f) = scope.validate(raw, Reviewer::General) {
                    assert_eq!(f.path, "src/a.rs");
                    assert!((1..=3).contains(&f.line) && f.line <= f.end_line && f.end_line <= 3);
                    if let Some(fix) = &f.fix {
                        assert!(fix.lines().count() <= 3 + FIX_SLACK_LINES);
                    }
                }
            }
        }
    }

    /// Random answers of every shape the other tests use: well-formed,
    /// fenced, in prose, truncated, hostile, or made of JSON-ish pieces.
    fn random_answer(rng: &mut rand::rngs::StdRng) -> String {
        use rand::Rng;
        if rng.random_bool(0.2) {
            return (0..rng.random_range(1..80))
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect();
        }
        let findings: Vec<Value> = (0..rng.random_range(0..8))
            .map(|_| {
                if rng.random_bool(0.8) {
                    hostile_finding(rng)
                } else {
                    hostile_value(rng, 1)
                }
            })
            .collect();
        let mut text = if rng.random_bool(0.2) {
            serde_json::to_string_pretty(&Value::Array(findings)).unwrap_or_default()
        } else {
            serde_json::json!({"verdict": "minor_issues", "findings": findings}).to_string()
        };
        match rng.random_range(0..6) {
            0 => text = format!("Sure!\n```json\n{text}\n```\nand ```json\n{{\"findings\": [{{\"path\": \"src/a.rs\", \"line\": 1, \"title\": \"later\"}}]}}```"),
            1 => text = format!("Lines [3, 4] and {{the loop}}: {text} trailing {{"),
            2 => {
                let mut cut = rng.random_range(0..=text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            3 => text = format!("{text}\n{text}"),
            _ => {}
        }
        text
    }

    #[test]
    fn any_split_of_an_answer_streams_to_exactly_the_whole_answer() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0013);
        for round in 0..1500 {
            let text = random_answer(&mut rng);
            let whole = parse_answer(&text);
            // Cut at random character boundaries: one piece, a few, or one
            // character at a time.
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let mut cuts: Vec<usize> = match rng.random_range(0..4) {
                0 => Vec::new(),
                1 => chars.iter().map(|(i, _)| *i).collect(),
                _ => (0..rng.random_range(1..12))
                    .filter_map(|_| chars.get(rng.random_range(0..chars.len().max(1))))
                    .map(|(i, _)| *i)
                    .collect(),
            };
            cuts.push(text.len());
            cuts.sort_unstable();
            cuts.dedup();
            let mut stream = AnswerStream::new();
            let mut early = Vec::new();
            let mut from = 0;
            for cut in cuts {
                early.extend(stream.push(&text[from..cut]));
                from = cut;
            }
            let streamed = stream.finish();
            assert_eq!(streamed, whole, "round {round}: {text:?}");
            // Nothing early that the whole answer does not hold, in its order.
            let all = whole.map(|a| a.findings).unwrap_or_default();
            assert!(early.len() <= all.len(), "round {round}: {text:?}");
            assert_eq!(early, all[..early.len()], "round {round}: {text:?}");
        }
    }

    #[test]
    fn each_finding_is_out_before_the_answer_ends() {
        let answer = serde_json::json!({"findings": [
            {"path": "src/a.rs", "line": 1, "title": "first"},
            {"path": "src/a.rs", "line": 2, "title": "second"},
        ], "verdict": "minor_issues"})
        .to_string();
        let first_closes = answer.find("}").expect("first object ends") + 1;
        let mut stream = AnswerStream::new();
        let early = stream.push(&answer[..first_closes]);
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].title, "first");
        let list_ends = answer.rfind(']').expect("the list ends");
        assert_eq!(stream.push(&answer[first_closes..list_ends]).len(), 1);
        assert_eq!(stream.finish().map(|a| a.findings.len()), Ok(2));
    }

    #[test]
    fn coordinator_verdict_is_read() {
        let a = parse_answer(r#"{"verdict": "minor_issues", "findings": []}"#).unwrap();
        assert_eq!(a.verdict, Some(Verdict::MinorIssues));
    }

    fn scope_of(file: &FileChange) -> (Scope, FileView) {
        let view = file_view(file);
        let scope = Scope::new([(&view, file.new_text.as_str())]);
        (scope, view)
    }

    #[test]
    fn findings_outside_the_change_are_dropped_with_a_reason() {
        let old: String = (1..=40).map(|i| format!("l{i}\n")).collect();
        let new = old.replace("l20\n", "changed\n");
        let file = FileChange::new("src/a.rs", crate::git::ChangeKind::Modified, old, new);
        let (scope, _) = scope_of(&file);
        let v = |r: RawFinding| scope.validate(&r, Reviewer::Quality);
        assert!(v(raw("src/a.rs", 20)).is_ok());
        assert!(v(raw("./src/a.rs", 21)).is_ok(), "context lines are fine");
        assert_eq!(v(raw("src/a.rs", 9999)), Err(Dropped::NoSuchLine));
        assert_eq!(v(raw("src/a.rs", 0)), Err(Dropped::NoSuchLine));
        assert_eq!(v(raw("src/a.rs", 2)), Err(Dropped::OutsideHunks));
        assert_eq!(
            v(raw("../../etc/passwd", 1)),
            Err(Dropped::OutsideRepository)
        );
        assert_eq!(v(raw("/etc/passwd", 1)), Err(Dropped::OutsideRepository));
        assert_eq!(v(raw("C:/x", 1)), Err(Dropped::OutsideRepository));
        assert_eq!(v(raw("src/b.rs", 20)), Err(Dropped::NotInChange));
    }

    #[test]
    fn end_line_past_the_file_is_clamped_and_column_skips_indentation() {
        let file = FileChange::new_file("a.py", "x = 1\n    y = 2\n".into());
        let (scope, _) = scope_of(&file);
        let mut r = raw("a.py", 2);
        r.end_line = 50;
        let f = scope.validate(&r, Reviewer::General).unwrap();
        assert_eq!((f.line, f.end_line, f.column), (2, 2, 5));
    }

    #[test]
    fn identical_findings_get_distinct_stable_fingerprints() {
        let file = FileChange::new_file("a.py", "x\nx\n".into());
        let (scope, _) = scope_of(&file);
        let mut fs = vec![
            scope.validate(&raw("a.py", 1), Reviewer::General).unwrap(),
            scope.validate(&raw("a.py", 2), Reviewer::General).unwrap(),
        ];
        assign_fingerprints(&mut fs, &scope);
        assert_ne!(fs[0].fingerprint, fs[1].fingerprint);
        assert_eq!(
            fs[0].fingerprint,
            fingerprint("a.py", "general", "t", "x", 0)
        );
    }
}
