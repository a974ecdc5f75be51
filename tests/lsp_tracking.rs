//! Findings that follow the text. A property test drives thousands of
//! seeded random edit sequences (`\r`, `\n`, `\r\n`, emoji, CJK, edits at
//! line ends and across lines, UTF-16 and UTF-8 columns) through the
//! tracking the server uses, against a model that knows where every
//! original character went; then the CR/LF cases of issue 9 through the
//! real binary.
//!
//! Reproduce a failing case: `REDLINE_TRACKING_SEED=<case seed>
//! REDLINE_TRACKING_CASES=1 cargo test --test lsp_tracking`.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redline::diff::position::Encoding;
use redline::lsp::proto;
use redline::lsp::text::EditRange;
use redline::lsp::tracking::{apply_change, Tracked};
use redline::review::{builtin, FileChange, Finding, Severity};
use ropey::Rope;
use serde_json::{json, Value};
use std::collections::HashMap;

const DEFAULT_SEED: u64 = 0x7265_646c_696e_6509;
const DEFAULT_CASES: u64 = 2000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A character of the model text: its original index, `None` when typed.
#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    id: Option<usize>,
}

/// The text as a list of characters that remember where they came from,
/// with its own line splitting and position conversion (LSP's rules,
/// written independently of `redline::lsp::text`).
struct Model {
    cells: Vec<Cell>,
}

/// One line: start, end of content, start of the next line.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

fn units(c: char, enc: Encoding) -> usize {
    match enc {
        Encoding::Utf8 => c.len_utf8(),
        Encoding::Utf16 => c.len_utf16(),
        Encoding::Utf32 => 1,
    }
}

impl Model {
    fn new(text: &str) -> Self {
        Self {
            cells: text
                .chars()
                .enumerate()
                .map(|(i, ch)| Cell { ch, id: Some(i) })
                .collect(),
        }
    }

    fn text(&self) -> String {
        self.cells.iter().map(|c| c.ch).collect()
    }

    fn lines(&self) -> Vec<Line> {
        let c = &self.cells;
        let mut out = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < c.len() {
            match c[i].ch {
                '\r' => {
                    let end = i;
                    i += 1;
                    if i < c.len() && c[i].ch == '\n' {
                        i += 1;
                    }
                    out.push(Line {
                        start,
                        end,
                        next: i,
                    });
                    start = i;
                }
                '\n' => {
                    out.push(Line {
                        start,
                        end: i,
                        next: i + 1,
                    });
                    i += 1;
                    start = i;
                }
                _ => i += 1,
            }
        }
        out.push(Line {
            start,
            end: c.len(),
            next: c.len(),
        });
        out
    }

    /// The character index of an LSP position; columns past the end clamp
    /// to the line's end, lines past the end to the end of the text.
    fn offset(&self, lines: &[Line], line: u32, col: u32, enc: Encoding) -> usize {
        let Some(l) = lines.get(line as usize) else {
            return self.cells.len();
        };
        let mut u = 0;
        for i in l.start..l.end {
            if u >= col as usize {
                return i;
            }
            u += units(self.cells[i].ch, enc);
        }
        l.end
    }

    /// Line index and 0-based character column of character index `p`.
    fn line_col(&self, lines: &[Line], p: usize) -> (usize, usize) {
        let line = lines
            .iter()
            .rposition(|l| l.start <= p)
            .expect("line 0 starts at 0");
        (line, p - lines[line].start)
    }

    fn column_units(&self, l: &Line, chars: usize, enc: Encoding) -> u32 {
        self.cells[l.start..l.start + chars]
            .iter()
            .map(|c| units(c.ch, enc))
            .sum::<usize>() as u32
    }
}

const FILLERS: [&str; 7] = [
    "x = 1",
    "漢字 = 2",
    "s = '😀'",
    "",
    "  ",
    "call()",
    "a😀漢b",
];
const PIECES: [&str; 11] = [
    "a", "😀", "漢", "\n", "\r", "\r\n", " ", "xy\n", "q\r", "\n\r", "z😀",
];
const TERMINATORS: [&str; 3] = ["\n", "\r\n", "\r"];

fn initial_text(rng: &mut StdRng) -> String {
    let lines = rng.random_range(3..10);
    let mut text = String::new();
    let mut marker = 0;
    for i in 0..lines {
        if rng.random_bool(0.45) {
            marker += 1;
            let indent = if rng.random_bool(0.5) { "    " } else { "" };
            text.push_str(&format!("{indent}print({marker})"));
        } else {
            text.push_str(FILLERS[rng.random_range(0..FILLERS.len())]);
        }
        if i + 1 < lines || rng.random_bool(0.5) {
            text.push_str(TERMINATORS[rng.random_range(0..TERMINATORS.len())]);
        }
    }
    text
}

/// A position on `line` at a character boundary, or past the line's end.
fn random_col(rng: &mut StdRng, model: &Model, l: &Line, enc: Encoding) -> u32 {
    let len = l.end - l.start;
    if rng.random_bool(0.05) {
        return model.column_units(l, len, enc) + rng.random_range(1..4);
    }
    let chars = match rng.random_range(0..4) {
        0 => 0,
        1 => len,
        _ => rng.random_range(0..=len),
    };
    model.column_units(l, chars, enc)
}

fn random_edit(rng: &mut StdRng, model: &Model, enc: Encoding) -> (EditRange, String) {
    let lines = model.lines();
    let sl = rng.random_range(0..lines.len());
    let sc = random_col(rng, model, &lines[sl], enc);
    let (el, ec) = match rng.random_range(0..10) {
        // An insertion.
        0..=3 => (sl, sc),
        // Within the line, to a later column.
        4..=6 => {
            let l = &lines[sl];
            let start_chars = model.offset(&lines, sl as u32, sc, enc) - l.start;
            let chars = rng.random_range(start_chars..=l.end - l.start);
            (sl, model.column_units(l, chars, enc))
        }
        // Across lines (rarely past the end of the text).
        7..=8 => {
            let el = (sl + rng.random_range(1..3)).min(lines.len() - 1);
            (el, random_col(rng, model, &lines[el], enc))
        }
        _ => (lines.len() + 1, 0),
    };
    let text: String = (0..rng.random_range(0..3))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect();
    let range = EditRange {
        start_line: sl as u32,
        start_col: sc,
        end_line: el as u32,
        end_col: ec,
    };
    (range, text)
}

/// What the model remembers of one original finding.
struct Expect {
    fingerprint: String,
    /// Original characters of the finding's span and of its whole lines.
    span: Vec<usize>,
    lines: Vec<usize>,
    has_end_column: bool,
    line_count: usize,
    /// The span's last character is on its last line (else the span ends
    /// at that line's start).
    ends_in_line: bool,
    fix: bool,
    /// Sticky: no edit ever touched the span / the lines.
    span_intact: bool,
    lines_intact: bool,
}

/// Whether the original characters `ids` still stand side by side.
fn contiguous(ids: &[usize], at: &HashMap<usize, usize>) -> Option<(usize, usize)> {
    let first = *at.get(ids.first()?)?;
    for (k, id) in ids.iter().enumerate() {
        if at.get(id) != Some(&(first + k)) {
            return None;
        }
    }
    Some((first, first + ids.len()))
}

fn expectations(model: &Model, findings: &[Finding]) -> Vec<Expect> {
    let lines = model.lines();
    findings
        .iter()
        .map(|f| {
            let (l, e) = (&lines[f.line as usize - 1], &lines[f.end_line as usize - 1]);
            let a = l.start + f.column as usize - 1;
            // Without an end column, a finding covers its whole lines,
            // the last one's line break included.
            let b = f.end_column.map_or(e.next, |c| e.start + c as usize - 1);
            Expect {
                fingerprint: f.fingerprint.clone(),
                span: (a..b).collect(),
                ends_in_line: b > e.start,
                lines: (l.start..e.end).collect(),
                has_end_column: f.end_column.is_some(),
                line_count: (f.end_line - f.line + 1) as usize,
                fix: f.fix.is_some(),
                span_intact: true,
                lines_intact: true,
            }
        })
        .collect()
}

/// Checks every tracked finding against the model after an edit.
fn check(
    model: &Model,
    rope: &Rope,
    tracked: &[Tracked],
    expect: &mut [Expect],
    enc: Encoding,
) -> Result<(), String> {
    let text = model.text();
    if *rope != text.as_str() {
        return Err(format!(
            "the rope holds {:?}, the editor {text:?}",
            rope.to_string()
        ));
    }
    let lines = model.lines();
    let at: HashMap<usize, usize> = model
        .cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((c.id?, i)))
        .collect();
    let uri: tower_lsp_server::ls_types::Uri = "file:///r/t.py".parse().expect("uri");
    for x in expect.iter_mut() {
        let span = contiguous(&x.span, &at);
        x.span_intact &= span.is_some();
        // Whole lines: starting a line, ending one's text, and as many as
        // were reviewed (a `\n` typed after a `\r` makes one break of two).
        let block = contiguous(&x.lines, &at).filter(|&(a, b)| {
            let (first, last) = (model.line_col(&lines, a).0, model.line_col(&lines, b).0);
            lines[first].start == a && lines[last].end == b && last - first == x.line_count - 1
        });
        x.lines_intact &= block.is_some();
        let t = tracked
            .iter()
            .find(|t| t.finding.fingerprint == x.fingerprint);
        let name = &x.fingerprint;
        match (x.span_intact, span, t) {
            (true, Some((a, b)), Some(t)) => {
                let (line, col) = model.line_col(&lines, a);
                let (end_line, end_col) = if x.ends_in_line {
                    let (line, col) = model.line_col(&lines, b - 1);
                    (line, col + 1)
                } else {
                    model.line_col(&lines, b)
                };
                let got = (t.exact, t.line as usize, t.finding.column as usize);
                if got != (true, line, col + 1) {
                    return Err(format!("{name}: untouched text is at line {line} column {} but tracked (exact, line, column) = {got:?}", col + 1));
                }
                if t.end_line as usize != end_line {
                    return Err(format!(
                        "{name}: ends on line {end_line}, tracked {}",
                        t.end_line
                    ));
                }
                if x.has_end_column && t.finding.end_column != Some(end_col as u32 + 1) {
                    return Err(format!(
                        "{name}: end column {} vs tracked {:?}",
                        end_col + 1,
                        t.finding.end_column
                    ));
                }
            }
            (true, _, None) => return Err(format!("{name}: untouched but no longer tracked")),
            (false, _, Some(t)) if t.exact => {
                return Err(format!(
                    "{name}: its text was edited but it still claims exact columns"
                ));
            }
            (false, _, Some(t)) => {
                if t.line > t.end_line || t.end_line as usize >= lines.len() {
                    return Err(format!(
                        "{name}: lines {}..={} outside the text",
                        t.line, t.end_line
                    ));
                }
                let blank = (t.line..=t.end_line).all(|l| {
                    let l = &lines[l as usize];
                    model.cells[l.start..l.end]
                        .iter()
                        .all(|c| c.ch.is_whitespace())
                });
                if blank && !x.lines_intact {
                    return Err(format!("{name}: left on blank lines"));
                }
            }
            _ => {}
        }
        let Some(t) = t else { continue };
        if t.unedited != x.lines_intact {
            return Err(format!(
                "{name}: unedited = {} but the model says {}",
                t.unedited, x.lines_intact
            ));
        }
        if x.lines_intact {
            let (a, b) = block.expect("intact lines were located");
            let (first, _) = model.line_col(&lines, a);
            let (last, _) = model.line_col(&lines, b);
            if (t.line as usize, t.end_line as usize) != (first, last) {
                return Err(format!(
                    "{name}: reviewed lines are {first}..={last}, tracked {}..={}",
                    t.line, t.end_line
                ));
            }
        }
        // The fix, as an editor would get it.
        let d = proto::diagnostic(t, rope, enc);
        let data = proto::data_of(&d).ok_or("a redline diagnostic")?;
        let actions = proto::actions_for(&uri, &d, &data, Some(t), rope, enc, true);
        let edit = actions.iter().find_map(|a| match a {
            tower_lsp_server::ls_types::CodeActionOrCommand::CodeAction(a)
                if a.title == proto::TITLE_FIX =>
            {
                let changes = a.edit.as_ref()?.changes.as_ref()?;
                changes.get(&uri)?.first().cloned()
            }
            _ => None,
        });
        match (edit, x.fix && x.lines_intact) {
            (Some(_), false) => return Err(format!("{name}: a fix is offered for edited lines")),
            (None, true) => return Err(format!("{name}: no fix offered for unedited lines")),
            (Some(edit), true) => {
                let r = edit.range;
                let from = model.offset(&lines, r.start.line, r.start.character, enc);
                let to = model.offset(&lines, r.end.line, r.end.character, enc);
                let (first, last) = (&lines[t.line as usize], &lines[t.end_line as usize]);
                let expected_to = if (t.end_line as usize) + 1 < lines.len() {
                    last.next
                } else {
                    last.end
                };
                if (from, to) != (first.start, expected_to) {
                    return Err(format!(
                        "{name}: the fix edits characters {from}..{to} ({:?}), its lines are {}..{expected_to}",
                        text.chars().skip(from).take(to.saturating_sub(from)).collect::<String>(),
                        first.start
                    ));
                }
            }
            (None, false) => {}
        }
    }
    Ok(())
}

/// A finding spanning two whole lines with a replacement fix, as models
/// write them (the built-in rules only flag single lines).
fn multi_line_finding(rng: &mut StdRng, model: &Model) -> Option<Finding> {
    let lines = model.lines();
    if lines.len() < 3 {
        return None;
    }
    let line = rng.random_range(1..lines.len() - 1) as u32;
    // Its span starts with text: a span starting with an empty line's
    // break has no column to check once a `\r` is typed before it.
    let first = &lines[line as usize - 1];
    if first.start == first.end {
        return None;
    }
    Some(Finding {
        path: "t.py".into(),
        line,
        end_line: line + 1,
        column: 1,
        end_column: None,
        severity: Severity::Warning,
        reviewer: "quality".into(),
        rule: None,
        title: "two lines".into(),
        message: "m".into(),
        fingerprint: "multi".into(),
        fix: Some("fixed".into()),
    })
}

fn run_case(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let enc = if rng.random_bool(0.7) {
        Encoding::Utf16
    } else {
        Encoding::Utf8
    };
    let text = initial_text(&mut rng);
    let mut model = Model::new(&text);
    let mut findings = builtin::review_file(&FileChange::new_file("t.py", text.clone()), false);
    findings.extend(multi_line_finding(&mut rng, &model));
    let mut expect = expectations(&model, &findings);
    let mut tracked: Vec<Tracked> = findings.into_iter().map(Tracked::new).collect();
    let mut rope = Rope::from_str(&text);
    let mut log = format!("{enc:?} {text:?}");
    for _ in 0..rng.random_range(1..8) {
        let (range, new) = random_edit(&mut rng, &model, enc);
        log.push_str(&format!("\n  edit {range:?} {new:?}"));
        let lines = model.lines();
        let s = model.offset(&lines, range.start_line, range.start_col, enc);
        let e = model
            .offset(&lines, range.end_line, range.end_col, enc)
            .max(s);
        model
            .cells
            .splice(s..e, new.chars().map(|ch| Cell { ch, id: None }));
        apply_change(&mut rope, &mut tracked, Some(range), &new, enc);
        if std::env::var_os("REDLINE_TRACKING_TRACE").is_some() {
            eprintln!("{:?} {new:?} -> {:?}", range, rope.to_string());
            for t in &tracked {
                eprintln!(
                    "  {} {}..={} col {}..{:?} exact {} unedited {}",
                    t.finding.fingerprint,
                    t.line,
                    t.end_line,
                    t.finding.column,
                    t.finding.end_column,
                    t.exact,
                    t.unedited
                );
            }
        }
        check(&model, &rope, &tracked, &mut expect, enc).map_err(|e| format!("{e}\n{log}"))?;
    }
    // A fresh review of the final text agrees with every finding whose
    // lines were left as reviewed: same fingerprint, same place.
    let fresh = builtin::review_file(&FileChange::new_file("t.py", model.text()), false);
    for x in expect
        .iter()
        .filter(|x| x.lines_intact && x.fingerprint != "multi")
    {
        let t = tracked
            .iter()
            .find(|t| t.finding.fingerprint == x.fingerprint)
            .ok_or_else(|| format!("{} lost\n{log}", x.fingerprint))?;
        let f = fresh
            .iter()
            .find(|f| f.fingerprint == x.fingerprint)
            .ok_or_else(|| format!("{}: a fresh review does not find it\n{log}", x.fingerprint))?;
        let tracked_at = (t.line + 1, t.finding.column, t.finding.end_column);
        if tracked_at != (f.line, f.column, f.end_column) {
            return Err(format!(
                "{}: tracked at {tracked_at:?}, a fresh review at {:?}\n{log}",
                x.fingerprint,
                (f.line, f.column, f.end_column)
            ));
        }
    }
    Ok(())
}

#[test]
fn tracked_findings_match_the_text_after_thousands_of_random_edit_sequences() {
    let seed = env_u64("REDLINE_TRACKING_SEED", DEFAULT_SEED);
    let cases = env_u64("REDLINE_TRACKING_CASES", DEFAULT_CASES);
    for case in 0..cases {
        let case_seed = seed.wrapping_add(case);
        if let Err(e) = run_case(case_seed) {
            panic!("case seed {case_seed}: {e}");
        }
    }
}

// ----- through the real binary -----

const BASE: &str = "import os\ndef main():\n    x = 1\n    important()\n";

/// Applies an LSP text edit (ASCII text, so UTF-16 columns are bytes).
fn apply_lsp_edit(text: &str, edit: &Value) -> String {
    let mut rope = Rope::from_str(text);
    let pos = |p: &Value, rope: &Rope| {
        let line = p["line"].as_u64().expect("line") as usize;
        if line >= rope.len_lines() {
            return rope.len_chars();
        }
        rope.line_to_char(line) + p["character"].as_u64().expect("character") as usize
    };
    let from = pos(&edit["range"]["start"], &rope);
    let to = pos(&edit["range"]["end"], &rope);
    rope.remove(from..to);
    rope.insert(from, edit["newText"].as_str().expect("newText"));
    rope.to_string()
}

fn lines_of(diags: &[Value]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = diags
        .iter()
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().expect("line"),
                d["data"]["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Opens `text`, checks the findings on lines 3-4, sends `change` (which
/// keeps the number of lines) and then a line inserted at the top, and
/// checks that the findings moved by that one line only and that "Apply
/// redline fix" of the print finding deletes only its line. `after` is the
/// text after `change`.
fn findings_stay_through(text: &str, change: ([u32; 4], &str), after: &str) {
    let repo = TestRepo::new(&[("a.py", BASE)]);
    let uri = repo.uri("a.py");
    let mut client = LspClient::start(ClientOptions::folder(repo.root()));
    client.open(&uri, "python", 1, text);
    let at = |line: u64| {
        vec![
            (line, "debug-print".to_string()),
            (line + 1, "todo-comment".to_string()),
        ]
    };
    assert_eq!(lines_of(&client.await_diagnostics(&uri, 1)), at(3));

    client.change(&uri, 2, change.0, change.1);
    // Nothing moved, so nothing is due for version 2; the next edit moves
    // everything down one line (publications leave in order).
    client.change(&uri, 3, [0, 0, 0, 0], "# top\n");
    let diags = client.await_diagnostics(&uri, 3);
    assert_eq!(lines_of(&diags), at(4));
    for p in client
        .seen
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == 2)
    {
        let diags = p["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(lines_of(&diags), at(3), "version 2 kept the line count");
    }
    let after = format!("# top\n{after}");

    let print = diags
        .iter()
        .find(|d| d["data"]["rule"] == "debug-print")
        .expect("print finding");
    let actions = client.code_actions(&uri, print);
    let fix = actions
        .iter()
        .find(|a| a["title"] == "Apply redline fix")
        .expect("fix offered: the print line is as reviewed");
    let edits = fix["edit"]["changes"][&uri].as_array().expect("edits");
    assert_eq!(edits.len(), 1);
    let fixed = apply_lsp_edit(&after, &edits[0]);
    assert_eq!(
        fixed,
        after.replace("    print(1)\n", ""),
        "only the print line goes"
    );
    assert!(fixed.contains("important()"));
    client.shutdown();
}

const WITH_FINDINGS: &str =
    "import os\ndef main():\n    x = 1\n    print(1)\n    # TODO later\n    important()\n";

#[test]
fn a_cr_typed_before_a_line_feed_leaves_findings_and_fixes_on_their_lines() {
    let after = WITH_FINDINGS.replacen('\n', "\r\n", 1);
    findings_stay_through(WITH_FINDINGS, ([0, 9, 0, 9], "\r"), &after);
}

#[test]
fn a_line_feed_typed_after_a_lone_cr_leaves_findings_and_fixes_on_their_lines() {
    let text = WITH_FINDINGS.replacen('\n', "\r", 1);
    let after = WITH_FINDINGS.replacen('\n', "\r\n", 1);
    findings_stay_through(&text, ([1, 0, 1, 0], "\n"), &after);
}

#[test]
fn no_fix_is_offered_once_the_finding_line_was_edited() {
    let repo = TestRepo::new(&[("a.py", BASE)]);
    let uri = repo.uri("a.py");
    let mut client = LspClient::start(ClientOptions::folder(repo.root()));
    client.open(&uri, "python", 1, WITH_FINDINGS);
    client.await_diagnostics(&uri, 1);
    // `print(1)` becomes `print(1); important()`: deleting the line now
    // would delete what the user just typed.
    client.change(&uri, 2, [3, 12, 3, 12], "; important()");
    let diags = client.await_diagnostics(&uri, 2);
    let print = diags
        .iter()
        .find(|d| d["data"]["rule"] == "debug-print")
        .expect("print finding still shown");
    assert_eq!(print["range"]["start"], json!({"line": 3, "character": 4}));
    let actions = client.code_actions(&uri, print);
    assert!(
        actions.iter().all(|a| a["title"] != "Apply redline fix"),
        "{actions:?}"
    );
    assert!(actions
        .iter()
        .any(|a| a["title"] == "Dismiss redline finding"));
}
