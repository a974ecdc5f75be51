//! Published findings that follow the text. Each edit the editor sends moves
//! the findings of that document: lines inserted or deleted above shift
//! them, an edit inside a finding's lines keeps it on the edited lines, and
//! deleting every line a finding points at removes it. This is plain,
//! synchronous arithmetic on line numbers (no review, no I/O), so it can run
//! inside `did_change` before the edit is applied to the rope.

use super::text::{line_end_col, position_to_char, EditRange};
use crate::diff::position::Encoding;
use crate::review::Finding;
use ropey::Rope;

/// A finding as currently placed in the buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub finding: Finding,
    /// 0-based first and last line in the current text.
    pub line: u32,
    pub end_line: u32,
    /// The finding's columns still describe the text: false once an edit
    /// touched its lines (then the whole lines are highlighted).
    pub exact: bool,
    /// The diagnostic's message and `data`, built once: republishing on
    /// every keystroke only recomputes ranges.
    pub message: String,
    pub data: serde_json::Value,
}

impl Tracked {
    pub fn new(finding: Finding) -> Self {
        Self {
            line: finding.line.saturating_sub(1),
            end_line: finding.end_line.max(finding.line).saturating_sub(1),
            message: super::proto::message(&finding),
            data: super::proto::data(&finding),
            finding,
            exact: true,
        }
    }
}

/// Moves `findings` through one edit of `before` (the text before the
/// edit). `range == None` is a full replacement: nothing can be followed,
/// so every finding is dropped. Returns whether anything changed.
pub fn move_through_edit(
    findings: &mut Vec<Tracked>,
    before: &Rope,
    range: Option<EditRange>,
    text: &str,
    enc: Encoding,
) -> bool {
    if findings.is_empty() {
        return false;
    }
    let Some(r) = range else {
        findings.clear();
        return true;
    };
    let inserted_breaks = super::text::count_line_breaks(text);
    let (sl, el) = (r.start_line, r.end_line.max(r.start_line));
    let delta = inserted_breaks as i64 - (el - sl) as i64;
    let blank_insert = text.chars().all(|c| c == '\n' || c == '\r');
    let start = (r.start_line, r.start_col);
    let end = (r.end_line, r.end_col).max(start);
    let content_removed = |line: u32| -> bool {
        let len = line_end_col(before, line as usize, enc);
        let breaks_too = end >= (line + 1, 0) || start < (line, 0);
        start <= (line, 0) && end >= (line, len) && (len > 0 || breaks_too)
    };
    // The line's text lies entirely after the edit (e.g. lines inserted at
    // its start): it moves by the whole delta.
    let after_edit = |line: u32| line > el || (line == el && r.end_col == 0);
    // ...and its columns are still right when nothing was put in front of
    // it on the same line.
    let starts_fresh =
        text.ends_with('\n') || text.ends_with('\r') || (text.is_empty() && r.start_col == 0);
    let untouched = |line: u32| line > el || (line == el && r.end_col == 0 && starts_fresh);
    let map = |line: u32| -> u32 {
        if line < sl {
            line
        } else if after_edit(line) {
            (line as i64 + delta).max(0) as u32
        } else {
            sl + (line - sl).min(inserted_breaks)
        }
    };
    let before_len = findings.len();
    let mut changed = false;
    findings.retain_mut(|t| {
        if t.end_line < sl {
            return true;
        }
        if t.line > el {
            if delta != 0 {
                t.line = (t.line as i64 + delta) as u32;
                t.end_line = (t.end_line as i64 + delta) as u32;
                changed = true;
            }
            return true;
        }
        if let Some(shift) = same_line_shift(t, before, r, text, inserted_breaks, enc) {
            if shift != 0 {
                let moved = move |c: u32| (c as i64 + shift).max(1) as u32;
                let column = moved(t.finding.column);
                t.finding.column = column;
                t.finding.end_column = t.finding.end_column.map(moved);
                changed = true;
            }
            return true;
        }
        if blank_insert && (t.line..=t.end_line).all(&content_removed) {
            return false;
        }
        let (a, b) = (map(t.line), map(t.end_line));
        let touched = !(untouched(t.line) && untouched(t.end_line));
        changed |= a != t.line || b != t.end_line || (touched && t.exact);
        t.line = a;
        t.end_line = b.max(a);
        t.exact &= !touched;
        true
    });
    changed || findings.len() != before_len
}

/// For an edit within one line that holds a one-line finding and lies
/// wholly before or after the finding's columns: how many characters the
/// finding moves right (`Some(0)` when the edit is after it). `None` when
/// the edit touches the finding's text or spans lines.
fn same_line_shift(
    t: &Tracked,
    before: &Rope,
    r: EditRange,
    text: &str,
    inserted_breaks: u32,
    enc: Encoding,
) -> Option<i64> {
    let line = r.start_line;
    if !t.exact
        || r.end_line != line
        || inserted_breaks != 0
        || t.line != line
        || t.end_line != line
    {
        return None;
    }
    let line_start = before.line_to_char(line as usize);
    let es = position_to_char(before, line, r.start_col, enc) - line_start;
    let ee = (position_to_char(before, line, r.end_col, enc) - line_start).max(es);
    let fs = t.finding.column.saturating_sub(1) as usize;
    if ee <= fs && !(es == ee && text.is_empty()) {
        return Some(text.chars().count() as i64 - (ee - es) as i64);
    }
    match t.finding.end_column {
        Some(end) if es >= end.saturating_sub(1) as usize => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Finding, Severity};

    fn finding(line: u32, end_line: u32) -> Tracked {
        Tracked::new(Finding {
            path: "a.py".into(),
            line,
            end_line,
            column: 1,
            end_column: Some(3),
            severity: Severity::Warning,
            reviewer: "builtin".into(),
            rule: None,
            title: "t".into(),
            message: "m".into(),
            fingerprint: format!("fp{line}"),
            fix: None,
        })
    }

    fn edit(sl: u32, sc: u32, el: u32, ec: u32) -> Option<EditRange> {
        Some(EditRange {
            start_line: sl,
            start_col: sc,
            end_line: el,
            end_col: ec,
        })
    }

    const TEXT: &str = "l0\nl1\nl2\nl3\nl4\n";

    #[test]
    fn finding_moves_down_when_lines_are_inserted_above() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(3, 3)]; // 0-based line 2
        move_through_edit(
            &mut f,
            &rope,
            edit(0, 0, 0, 0),
            "new\nnew\n",
            Encoding::Utf16,
        );
        assert_eq!((f[0].line, f[0].end_line, f[0].exact), (4, 4, true));
    }

    #[test]
    fn finding_moves_down_when_a_line_is_inserted_at_its_start() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(3, 3)];
        move_through_edit(&mut f, &rope, edit(2, 0, 2, 0), "x\n", Encoding::Utf16);
        assert_eq!((f[0].line, f[0].exact), (3, true));
    }

    #[test]
    fn finding_moves_up_when_lines_above_are_deleted() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(4, 4)]; // 0-based 3
        move_through_edit(&mut f, &rope, edit(0, 0, 2, 0), "", Encoding::Utf16);
        assert_eq!((f[0].line, f[0].exact), (1, true));
    }

    #[test]
    fn finding_disappears_when_its_line_is_deleted() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(3, 3), finding(5, 5)];
        move_through_edit(&mut f, &rope, edit(2, 0, 3, 0), "", Encoding::Utf16);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        // Deleting the last line from the end of the one before it.
        let rope = Rope::from_str("l0\nl1");
        let mut f = vec![finding(2, 2)];
        move_through_edit(&mut f, &rope, edit(0, 2, 1, 2), "", Encoding::Utf16);
        assert!(f.is_empty());
    }

    #[test]
    fn editing_inside_a_finding_keeps_it_on_the_edited_line() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(3, 3)]; // columns 1..3 of "l2"
        move_through_edit(&mut f, &rope, edit(2, 1, 2, 2), "XYZ", Encoding::Utf16);
        assert_eq!((f[0].line, f[0].exact), (2, false));
        let mut f = vec![finding(3, 3)];
        move_through_edit(
            &mut f,
            &rope,
            edit(2, 0, 3, 0),
            "replaced\n",
            Encoding::Utf16,
        );
        assert_eq!(f.len(), 1, "a replaced line is an edit, not a deletion");
        assert_eq!(f[0].line, 2);
    }

    #[test]
    fn typing_before_a_finding_on_its_line_shifts_its_columns() {
        let rope = Rope::from_str("ab😀cd\n");
        let mut f = vec![finding(1, 1)];
        f[0].finding.column = 4; // "c"
        f[0].finding.end_column = Some(5);
        // Insert "xy" after the emoji (UTF-16 column 4).
        move_through_edit(&mut f, &rope, edit(0, 4, 0, 4), "xy", Encoding::Utf16);
        assert_eq!(
            (f[0].finding.column, f[0].finding.end_column, f[0].exact),
            (6, Some(7), true)
        );
        // Typing after it changes nothing.
        let rope = Rope::from_str("ab😀xycd\n");
        move_through_edit(&mut f, &rope, edit(0, 8, 0, 8), "!", Encoding::Utf16);
        assert_eq!((f[0].finding.column, f[0].exact), (6, true));
    }

    #[test]
    fn partially_deleted_multi_line_finding_shrinks() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(2, 4)]; // 0-based 1..=3
        move_through_edit(&mut f, &rope, edit(2, 0, 3, 0), "", Encoding::Utf16);
        assert_eq!((f[0].line, f[0].end_line), (1, 2));
    }

    #[test]
    fn full_replacement_drops_findings() {
        let rope = Rope::from_str(TEXT);
        let mut f = vec![finding(1, 1)];
        assert!(move_through_edit(&mut f, &rope, None, "x", Encoding::Utf16));
        assert!(f.is_empty());
    }

    /// A small deterministic generator (no extra dependency).
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u32) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n.max(1) as u64) as u32
        }
    }

    #[test]
    fn untouched_findings_still_point_at_the_same_text_after_random_edits() {
        let pieces = ["", "a", "😀", "漢", "\n", "xy\n", "\r\n", "q\nr\n"];
        let mut rng = Lcg(7);
        for _ in 0..3000 {
            let lines: Vec<String> = (0..6)
                .map(|i| format!("l{i}{}", "😀漢x".repeat(rng.below(3) as usize)))
                .collect();
            let mut rope = Rope::from_str(&(lines.join("\n") + "\n"));
            let mut f: Vec<Tracked> = (1..=6)
                .map(|l| {
                    let mut t = finding(l, l);
                    t.finding.column = 2;
                    t.finding.end_column = Some(3);
                    t
                })
                .collect();
            let before = rope.clone();
            let sl = rng.below(6);
            let el = sl + rng.below(2);
            let sc = rng.below(8);
            let ec = if el == sl {
                sc + rng.below(4)
            } else {
                rng.below(8)
            };
            let text = pieces[rng.below(pieces.len() as u32) as usize];
            let range = edit(sl, sc, el, ec);
            move_through_edit(&mut f, &before, range, text, Encoding::Utf16);
            crate::lsp::text::apply_edit(&mut rope, range, text, Encoding::Utf16);
            for t in f.iter().filter(|t| t.exact) {
                let old_line = t.finding.fingerprint[2..].parse::<usize>().expect("line") - 1;
                let old = before.line(old_line).to_string();
                let new = rope.line(t.line as usize).to_string();
                let col = t.finding.column as usize - 1;
                let old_char = old.chars().nth(1);
                let new_char = new.chars().nth(col);
                assert_eq!(
                    old_char, new_char,
                    "edit {range:?} {text:?} moved finding of line {old_line} wrongly: {old:?} -> {new:?}"
                );
            }
        }
    }
}
