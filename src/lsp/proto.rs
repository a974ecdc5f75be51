//! Conversions between redline's model and LSP types, in one place: a
//! tracked finding becomes a `Diagnostic` (source `redline`, code = the
//! reviewer, `data` = what the code actions need), and a published
//! diagnostic becomes code actions without recomputing anything.

use super::text::{char_col, line_end_col, line_len_chars};
use super::tracking::Tracked;
use crate::diff::position::Encoding;
use crate::review::{Finding, Severity};
use ropey::Rope;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Command, Diagnostic, DiagnosticSeverity,
    NumberOrString, Position, PositionEncodingKind, Range, TextEdit, Uri, WorkspaceEdit,
};

pub const SOURCE: &str = "redline";
pub const CMD_REVIEW_NOW: &str = "redline.reviewNow";
pub const CMD_DISMISS: &str = "redline.dismiss";
pub const CMD_EXPLAIN: &str = "redline.explain";
pub const CMD_STATS: &str = "redline.stats";
pub const CMD_DISMISS_TEAM: &str = "redline.dismissForTeam";

pub const TITLE_DISMISS: &str = "Dismiss redline finding";
pub const TITLE_DISMISS_FILE: &str = "Dismiss all redline findings in this file";
pub const TITLE_DISMISS_TEAM: &str =
    "Dismiss redline finding for the team (.redline/dismissed.toml)";
pub const TITLE_EXPLAIN: &str = "Explain redline finding";
pub const TITLE_FIX: &str = "Apply redline fix";

/// What a published diagnostic carries in `data`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiagnosticData {
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Shown before the coordinator's verdict: it may still change or go.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

/// Ends the first line of a provisional finding's message, where every
/// editor shows it (VS Code's Problems panel and hover, Neovim's virtual
/// text, Helix's inline diagnostics).
pub const PROVISIONAL_MARK: &str = " (provisional)";

/// The absolute path of a `file:` URI; `None` for other schemes
/// (`untitled:`, `git:` …), which have no repository to diff against.
pub fn file_path(uri: &Uri) -> Option<std::path::PathBuf> {
    if !uri.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    let path = uri.to_file_path()?.into_owned();
    path.is_absolute().then_some(path)
}

/// Picks the position encoding: UTF-8 when the client offers it, else the
/// mandatory UTF-16.
pub fn negotiate_encoding(offered: Option<&[PositionEncodingKind]>) -> Encoding {
    match offered {
        Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

pub fn encoding_kind(enc: Encoding) -> PositionEncodingKind {
    match enc {
        Encoding::Utf8 => PositionEncodingKind::UTF8,
        Encoding::Utf16 => PositionEncodingKind::UTF16,
        Encoding::Utf32 => PositionEncodingKind::UTF32,
    }
}

pub fn severity(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Critical => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Suggestion => DiagnosticSeverity::INFORMATION,
    }
}

/// The diagnostic of a finding at its current place in `rope`.
pub fn diagnostic(t: &Tracked, rope: &Rope, enc: Encoding) -> Diagnostic {
    let f = &t.finding;
    let (line, end_line) = (t.line as usize, t.end_line as usize);
    let (start_col, end_col) = if t.exact {
        let start = char_col(rope, line, f.column.saturating_sub(1) as usize, enc);
        let end = match f.end_column {
            Some(c) => char_col(rope, end_line, c.saturating_sub(1) as usize, enc),
            None => line_end_col(rope, end_line, enc),
        };
        (start, end)
    } else {
        (
            first_non_blank_col(rope, line, enc),
            line_end_col(rope, end_line, enc),
        )
    };
    let start = Position::new(line as u32, start_col);
    let mut end = Position::new(end_line as u32, end_col);
    if end <= start {
        end = Position::new(line as u32, line_end_col(rope, line, enc));
    }
    Diagnostic {
        range: Range::new(start, end),
        severity: Some(severity(f.severity)),
        code: Some(NumberOrString::String(f.reviewer.clone())),
        source: Some(SOURCE.to_string()),
        message: t.message.clone(),
        data: Some(t.data.clone()),
        ..Default::default()
    }
}

/// The diagnostic message: the title (with the rule, for built-in
/// findings; with [`PROVISIONAL_MARK`] before the coordinator's verdict) on
/// the first line, as editors show it inline, then the body.
pub fn message(f: &Finding, provisional: bool) -> String {
    let mark = if provisional { PROVISIONAL_MARK } else { "" };
    match &f.rule {
        Some(rule) => format!("{} [{rule}]{mark}\n{}", f.title, f.message),
        None => format!("{}{mark}\n{}", f.title, f.message),
    }
}

/// The diagnostic's `data`: what the code actions need, and whether the
/// finding is provisional.
pub fn data(f: &Finding, provisional: bool) -> serde_json::Value {
    let data = DiagnosticData {
        fingerprint: f.fingerprint.clone(),
        rule: f.rule.clone(),
        fix: f.fix.clone(),
        provisional,
    };
    serde_json::to_value(data).expect("a struct of strings serialises")
}

fn first_non_blank_col(rope: &Rope, line: usize, enc: Encoding) -> u32 {
    if line >= rope.len_lines() {
        return 0;
    }
    let slice = rope.line(line);
    let len = line_len_chars(slice);
    let idx = slice
        .chars()
        .take(len)
        .position(|c| !c.is_whitespace())
        .unwrap_or(0);
    char_col(rope, line, idx, enc)
}

/// The redline data of a diagnostic the client sent back, if it is ours.
pub fn data_of(d: &Diagnostic) -> Option<DiagnosticData> {
    if d.source.as_deref() != Some(SOURCE) {
        return None;
    }
    serde_json::from_value(d.data.clone()?).ok()
}

/// Code actions for one redline diagnostic of `uri`. `current` is the
/// server's finding with the diagnostic's fingerprint, where the edits so
/// far have moved it: the fix edits its current lines (the client's copy of
/// the diagnostic may be a publication behind), and is offered only while
/// those lines are exactly the reviewed ones. `rope` gives the line ends.
pub fn actions_for(
    uri: &Uri,
    d: &Diagnostic,
    data: &DiagnosticData,
    current: Option<&Tracked>,
    rope: &Rope,
    enc: Encoding,
    in_repository: bool,
) -> Vec<CodeActionOrCommand> {
    let uri_arg = serde_json::Value::String(uri.as_str().to_string());
    let fp = serde_json::Value::String(data.fingerprint.clone());
    let mut out = Vec::new();
    let fixable = current.filter(|t| t.unedited && t.finding.fingerprint == data.fingerprint);
    if let Some((t, fix)) = fixable.and_then(|t| Some((t, t.finding.fix.as_ref()?))) {
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: TITLE_FIX.into(),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(fix_edit(uri, t.line, t.end_line, fix, rope, enc)),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    // Dismissals are kept in a repository: a buffer outside one is not offered them.
    if in_repository {
        out.push(command_action(
            TITLE_DISMISS,
            CMD_DISMISS,
            vec![uri_arg.clone(), serde_json::Value::Array(vec![fp.clone()])],
            d,
        ));
        out.push(command_action(
            TITLE_DISMISS_TEAM,
            CMD_DISMISS_TEAM,
            vec![uri_arg.clone(), fp.clone()],
            d,
        ));
    }
    out.push(command_action(
        TITLE_EXPLAIN,
        CMD_EXPLAIN,
        vec![uri_arg, fp],
        d,
    ));
    out
}

/// "Dismiss all redline findings in this file".
pub fn dismiss_file_action(uri: &Uri, fingerprints: Vec<String>) -> CodeActionOrCommand {
    let args = vec![
        serde_json::Value::String(uri.as_str().to_string()),
        serde_json::Value::Array(
            fingerprints
                .into_iter()
                .map(serde_json::Value::String)
                .collect(),
        ),
    ];
    CodeActionOrCommand::CodeAction(CodeAction {
        title: TITLE_DISMISS_FILE.into(),
        kind: Some(CodeActionKind::QUICKFIX),
        command: Some(Command::new(
            TITLE_DISMISS_FILE.into(),
            CMD_DISMISS.into(),
            Some(args),
        )),
        ..Default::default()
    })
}

fn command_action(
    title: &str,
    command: &str,
    args: Vec<serde_json::Value>,
    d: &Diagnostic,
) -> CodeActionOrCommand {
    CodeActionOrCommand::CodeAction(CodeAction {
        title: title.into(),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        command: Some(Command::new(title.into(), command.into(), Some(args))),
        ..Default::default()
    })
}

/// Replaces lines `line..=end_line` (0-based) with `fix`; an empty fix
/// deletes the lines including their line break.
pub fn fix_edit(
    uri: &Uri,
    line: u32,
    end_line: u32,
    fix: &str,
    rope: &Rope,
    enc: Encoding,
) -> WorkspaceEdit {
    let next = end_line as usize + 1;
    let (end, mut text) = if next < rope.len_lines() {
        (Position::new(next as u32, 0), fix.to_string())
    } else {
        // The last line has no break to take along.
        let end_col = line_end_col(rope, end_line as usize, enc);
        (
            Position::new(end_line, end_col),
            fix.trim_end_matches(['\n', '\r']).to_string(),
        )
    };
    if next < rope.len_lines() && !text.is_empty() && !text.ends_with(['\n', '\r']) {
        // The line break the replaced lines had (a CRLF file stays CRLF).
        let line = rope.line(end_line as usize);
        let content = line_len_chars(line);
        text.extend(line.chars().skip(content));
    }
    let mut changes = HashMap::new();
    changes.insert(
        uri.clone(),
        vec![TextEdit::new(Range::new(Position::new(line, 0), end), text)],
    );
    WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(line: u32, column: u32, end_column: Option<u32>, fix: Option<&str>) -> Tracked {
        Tracked::new(Finding {
            path: "a.js".into(),
            line,
            end_line: line,
            column,
            end_column,
            severity: Severity::Critical,
            reviewer: "security".into(),
            rule: None,
            title: "Title".into(),
            message: "Body".into(),
            fingerprint: "00ff".into(),
            fix: fix.map(String::from),
        })
    }

    fn uri() -> Uri {
        "file:///r/a.js".parse().expect("uri")
    }

    #[test]
    fn diagnostic_carries_source_code_severity_and_fingerprint() {
        let rope = Rope::from_str("let a = 1;\n");
        let d = diagnostic(&tracked(1, 5, Some(6), None), &rope, Encoding::Utf16);
        assert_eq!(d.source.as_deref(), Some("redline"));
        assert_eq!(d.code, Some(NumberOrString::String("security".into())));
        assert_eq!(d.severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(
            d.range,
            Range::new(Position::new(0, 4), Position::new(0, 5))
        );
        assert_eq!(d.message, "Title\nBody");
        assert_eq!(data_of(&d).map(|x| x.fingerprint), Some("00ff".into()));
    }

    #[test]
    fn a_finding_whose_lines_were_edited_covers_the_whole_line() {
        let rope = Rope::from_str("  let a = 1;\n");
        let mut t = tracked(1, 5, Some(6), None);
        t.exact = false;
        let d = diagnostic(&t, &rope, Encoding::Utf16);
        assert_eq!(
            d.range,
            Range::new(Position::new(0, 2), Position::new(0, 12))
        );
    }

    #[test]
    fn diagnostics_from_other_sources_get_no_actions() {
        let rope = Rope::from_str("x\n");
        let mut d = diagnostic(&tracked(1, 1, None, None), &rope, Encoding::Utf16);
        d.source = Some("eslint".into());
        assert!(data_of(&d).is_none());
    }

    #[test]
    fn fix_replaces_whole_lines_and_keeps_the_line_break() {
        let rope = Rope::from_str("a\nconsole.log(x)\nb\n");
        let edit = fix_edit(&uri(), 1, 1, "log(x)", &rope, Encoding::Utf16);
        let edits = &edit.changes.expect("changes")[&uri()];
        assert_eq!(
            edits[0],
            TextEdit::new(
                Range::new(Position::new(1, 0), Position::new(2, 0)),
                "log(x)\n".into()
            )
        );
    }

    #[test]
    fn fix_on_the_last_line_without_a_break_stays_on_it() {
        let rope = Rope::from_str("a\nconsole.log(😀)");
        let edit = fix_edit(&uri(), 1, 1, "", &rope, Encoding::Utf16);
        let edits = &edit.changes.expect("changes")[&uri()];
        assert_eq!(edits[0].range.end, Position::new(1, 15));
        assert_eq!(edits[0].new_text, "");
    }

    #[test]
    fn actions_offer_fix_only_when_the_finding_has_one() {
        let rope = Rope::from_str("x\n");
        let titles = |t: &Tracked| {
            let d = diagnostic(t, &rope, Encoding::Utf16);
            let data = data_of(&d).expect("ours");
            actions_for(&uri(), &d, &data, Some(t), &rope, Encoding::Utf16, true)
                .into_iter()
                .map(|a| match a {
                    CodeActionOrCommand::CodeAction(a) => a.title,
                    CodeActionOrCommand::Command(c) => c.title,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            titles(&tracked(1, 1, None, None)),
            [TITLE_DISMISS, TITLE_DISMISS_TEAM, TITLE_EXPLAIN]
        );
        let fixable = tracked(1, 1, None, Some(""));
        assert_eq!(
            titles(&fixable),
            [TITLE_FIX, TITLE_DISMISS, TITLE_DISMISS_TEAM, TITLE_EXPLAIN]
        );
        let mut edited = fixable;
        edited.unedited = false;
        assert_eq!(
            titles(&edited),
            [TITLE_DISMISS, TITLE_DISMISS_TEAM, TITLE_EXPLAIN],
            "no fix once its line was edited"
        );
    }

    #[test]
    fn utf8_is_chosen_only_when_offered() {
        assert_eq!(negotiate_encoding(None), Encoding::Utf16);
        let offered = [PositionEncodingKind::UTF16, PositionEncodingKind::UTF8];
        assert_eq!(negotiate_encoding(Some(&offered)), Encoding::Utf8);
    }
}
