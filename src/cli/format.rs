//! Report renderers for `redline check`: text (like a compiler's errors),
//! JSON (SPEC §3), SARIF 2.1.0 (code scanning) and GitHub workflow
//! annotations. Pure functions from a report to a string.
//!
//! Text and annotations go to terminals and CI logs: every string in them
//! passes through [`sanitize::visible`] once more (the review layer already
//! cleaned model text; this is the last line of defence, for file names and
//! code lines too), so no escape sequence, control or bidi character reaches
//! the reader raw.

use crate::review::{sanitize, Finding, Report, Severity};
use serde_json::json;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

/// Source lines of the reviewed files, for quoting in text output.
pub type Sources = BTreeMap<String, String>;

struct Palette {
    on: bool,
}

impl Palette {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn severity(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Critical => "1;31",
            Severity::Warning => "1;33",
            Severity::Suggestion => "1;36",
        };
        self.paint(code, sev.as_str())
    }
}

pub fn text(report: &Report, sources: &Sources, color: bool) -> String {
    let p = Palette { on: color };
    let mut out = String::new();
    // Split each quoted file once, not once per finding.
    let mut split: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &report.findings {
        let code = line(f.rule.as_deref().unwrap_or(&f.reviewer));
        let _ = writeln!(
            out,
            "{}[{}]: {}",
            p.severity(f.severity),
            code,
            p.paint("1", &line(&f.title))
        );
        let gutter = f.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{pad}{} {}:{}:{}",
            p.paint("1;34", "-->"),
            line(&f.path),
            f.line,
            f.column
        );
        let source_lines = sources.get_key_value(&f.path).map(|(path, text)| {
            &*split
                .entry(path)
                .or_insert_with(|| crate::diff::lines(text))
        });
        if let Some(line) = source_lines
            .and_then(|lines| lines.get((f.line as usize).checked_sub(1)?))
            .map(|l| l.to_string())
        {
            let bar = p.paint("1;34", "|");
            let shown: String = sanitize::visible(&line).chars().take(200).collect();
            let _ = writeln!(out, "{pad} {bar}");
            let _ = writeln!(
                out,
                "{} {bar} {}",
                p.paint("1;34", &f.line.to_string()),
                shown
            );
            let start = f.column.saturating_sub(1) as usize;
            let chars = f
                .end_column
                .filter(|_| f.end_line == f.line)
                .map(|e| (e as usize).saturating_sub(f.column as usize).max(1))
                .unwrap_or_else(|| shown.chars().count().saturating_sub(start).max(1));
            // Pad and underline by terminal cells, so the carets stay under
            // the match after emoji or CJK text (two cells per character).
            let indent: String = shown
                .chars()
                .take(start)
                .map(|c| match c {
                    '\t' => "\t",
                    c => &"  "[..cells(c)],
                })
                .collect();
            let width: usize = shown.chars().skip(start).take(chars).map(cells).sum();
            let carets = "^".repeat(width.clamp(1, 200));
            let _ = writeln!(
                out,
                "{pad} {bar} {indent}{}",
                p.paint(caret_color(f.severity), &carets)
            );
        }
        let _ = writeln!(out, "{pad} = {}", sanitize::visible(&f.message));
        if f.reviewer != crate::review::builtin::REVIEWER {
            let _ = writeln!(out, "{pad} = reviewer: {}", line(&f.reviewer));
        }
        out.push('\n');
    }
    for s in &report.skipped {
        let _ = writeln!(
            out,
            "{}: skipped {}: {}",
            p.paint("2", "note"),
            line(&s.path),
            line(&s.reason)
        );
    }
    for t in &report.truncated {
        let _ = writeln!(
            out,
            "{}: {}: {} more finding(s) not shown; the {} most severe are (review.max_findings_per_file)",
            p.paint("2", "note"),
            line(&t.path),
            t.more,
            t.shown
        );
    }
    // One line per reason, naming every reviewer it stopped.
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for d in &report.degraded {
        match reasons.iter_mut().find(|(r, _)| *r == d.reason) {
            Some((_, who)) => who.push(&d.reviewer),
            None => reasons.push((&d.reason, vec![&d.reviewer])),
        }
    }
    for (reason, who) in reasons {
        let _ = writeln!(
            out,
            "{}: reviewer{} {} degraded: {}",
            p.paint("1;33", "warning"),
            if who.len() > 1 { "s" } else { "" },
            line(&who.join(", ")),
            line(reason)
        );
    }
    if report.dropped_findings > 0 {
        let _ = writeln!(
            out,
            "{}: {} model finding(s) dropped: outside the change, naming no reviewer finding (judge), or over a per-answer limit",
            p.paint("2", "note"),
            report.dropped_findings
        );
    }
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "redline: {} finding(s) ({} critical, {} warning, {} suggestion); verdict {}; tier {}",
        report.findings.len(),
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Suggestion),
        report.verdict.as_str(),
        report.tier.as_str(),
    );
    if report.usage.requests > 0 || report.usage.cached_requests > 0 {
        let u = &report.usage;
        let _ = writeln!(
            out,
            "usage: {} request(s) ({} cached), {} prompt + {} completion tokens, ${:.4}",
            u.requests, u.cached_requests, u.prompt_tokens, u.completion_tokens, u.cost_usd
        );
    }
    out
}

/// A note of the findings `.redline/dismissed.toml` hid (none: nothing).
pub fn team_dismissed_line(n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    format!(
        "{n} finding(s) dismissed by the team ({})\n",
        crate::review::team_dismissed::TEAM_DISMISSED_FILE
    )
}

/// The text report's last line when a team shares state through Redis:
/// whether Redis is reachable and the team's spend against its budget.
pub fn team_line(team: Option<&serde_json::Value>) -> String {
    let Some(team) = team else {
        return String::new();
    };
    let redis = team["redis"].as_str().unwrap_or("unknown");
    let mut line = match redis {
        "up" => "team: shared through Redis".to_string(),
        _ => "team: Redis unreachable; this run used local circuits, budget and cache".to_string(),
    };
    if let (Some(spent), Some(budget)) = (
        team["spent_today_usd"].as_f64(),
        team["budget_usd_per_day"].as_f64(),
    ) {
        line += &format!("; team spend today ${spent:.4} of ${budget:.2}");
    }
    line + "\n"
}

/// Terminal cells a character takes (2 for wide CJK and emoji, 0 for
/// combining marks), per Unicode's East Asian Width.
fn cells(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c)
        .unwrap_or(0)
        .min(2)
}

fn caret_color(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "1;31",
        Severity::Warning => "1;33",
        Severity::Suggestion => "1;36",
    }
}

/// The report as JSON, with `extra` top-level keys (`team`: what is shared
/// through Redis; `team_dismissed`: findings the team's file hid).
pub fn json(report: &Report, extra: &[(&str, serde_json::Value)]) -> String {
    let mut value = serde_json::to_value(report).expect("report serialises");
    for (key, v) in extra {
        value[*key] = v.clone();
    }
    // `rule`/`end_column` are extras; keep SPEC's keys always present.
    if let Some(findings) = value.get_mut("findings").and_then(|f| f.as_array_mut()) {
        for f in findings {
            if f.get("fix").is_none() {
                f["fix"] = serde_json::Value::Null;
            }
        }
    }
    serde_json::to_string_pretty(&value).expect("json")
}

pub fn sarif(report: &Report) -> String {
    let mut rules: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let results: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            let id = rule_id(f);
            rules.entry(id.clone()).or_insert_with(|| {
                let help = f
                    .rule
                    .as_deref()
                    .and_then(crate::review::builtin::rule)
                    .map(|r| r.explanation)
                    .unwrap_or(&f.message);
                json!({
                    "id": id,
                    "name": id,
                    "shortDescription": {"text": f.title},
                    "help": {"text": help, "markdown": help},
                    "defaultConfiguration": {"level": sarif_level(f.severity)},
                    "properties": {"tags": [f.reviewer]}
                })
            });
            let mut region = json!({
                "startLine": f.line,
                "startColumn": f.column,
                "endLine": f.end_line,
            });
            if let Some(end) = f.end_column {
                region["endColumn"] = json!(end);
            }
            json!({
                "ruleId": id,
                "level": sarif_level(f.severity),
                "message": {"text": format!("{}: {}", f.title, f.message)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri_path(&f.path), "uriBaseId": "%SRCROOT%"},
                        "region": region
                    }
                }],
                "partialFingerprints": {"redline/v1": f.fingerprint}
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "redline",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/redline-review/redline",
                "rules": rules.into_values().collect::<Vec<_>>()
            }},
            // Columns count Unicode scalar values, like `Finding::column`.
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"verdict": report.verdict.as_str(), "tier": report.tier.as_str()}
        }]
    });
    serde_json::to_string_pretty(&doc).expect("sarif")
}

/// GitHub Actions workflow commands: `::error file=…,line=…::message`.
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = match f.severity {
            Severity::Critical => "error",
            Severity::Warning => "warning",
            Severity::Suggestion => "notice",
        };
        let _ = writeln!(
            out,
            "::{level} file={},line={},endLine={},col={},title={}::{}",
            escape_property(&f.path),
            f.line,
            f.end_line,
            f.column,
            escape_property(&format!("redline {}: {}", rule_id(f), f.title)),
            escape_data(&f.message)
        );
    }
    for t in &report.truncated {
        let _ = writeln!(
            out,
            "::notice file={},title=redline::{}",
            escape_property(&t.path),
            escape_data(&format!(
                "{} more finding(s) in this file not shown; the {} most severe are (review.max_findings_per_file)",
                t.more, t.shown
            ))
        );
    }
    for d in &report.degraded {
        let _ = writeln!(
            out,
            "::warning title=redline degraded::{}",
            escape_data(&format!("{}: {}", d.reviewer, d.reason))
        );
    }
    out
}

fn rule_id(f: &Finding) -> String {
    match &f.rule {
        Some(rule) => rule.clone(),
        None => format!("{}/{}", f.reviewer, slug(&f.title)),
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}

/// A repository-relative path as a relative URI reference (SARIF wants
/// URIs): everything but unreserved characters and `/` percent-encoded.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn sarif_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Suggestion => "note",
    }
}

/// One-line text safe for a terminal.
fn line(s: &str) -> Cow<'_, str> {
    sanitize::visible_line(s)
}

/// Annotation data: made visible-safe, then escaped as the runner wants
/// (newlines survive as `%0A`).
fn escape_data(s: &str) -> String {
    sanitize::visible(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
