//! Published findings that follow the text. Each edit the editor sends is
//! applied to the rope first; the findings are then placed by the line
//! structure of the text *after* the edit, the breaks ropey (`cr_lines`)
//! and the client count: `\r`, `\n` and `\r\n`, including a pair formed
//! or split at the edit's boundary (a `\r` typed before a `\n` joins them
//! into one break; deleting what stood between a `\r` and a `\n` merges two
//! lines). Nothing counts breaks in the inserted text.
//!
//! A finding is a span of characters. While no edit touches the span, it is
//! followed exactly, columns included, wherever the text around it moves.
//! An edit inside it keeps it on the edited lines (then whole lines are
//! highlighted); deleting all of its text removes it, and so does leaving
//! only blank lines where it was. A fix replaces whole lines, so it is only
//! offered while the finding's lines are exactly the lines that were
//! reviewed. Plain synchronous arithmetic on ropes: no review, no I/O.

use super::text::{self, line_len_chars, CharEdit, EditRange};
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
    /// touched its span (then the whole lines are highlighted).
    pub exact: bool,
    /// Its lines hold exactly the text that was reviewed, as whole lines:
    /// only then can a fix replace them.
    pub unedited: bool,
    /// The diagnostic's message and `data`, built once: republishing on
    /// every keystroke only recomputes ranges.
    pub message: String,
    pub data: serde_json::Value,
    /// Shown while its review streams, before the coordinator judged it.
    pub provisional: bool,
}

impl Tracked {
    pub fn new(finding: Finding) -> Self {
        Self::placed(finding, false)
    }

    /// A finding a reviewer's streamed answer completed, not judged yet.
    pub fn provisional(finding: Finding) -> Self {
        Self::placed(finding, true)
    }

    fn placed(finding: Finding, provisional: bool) -> Self {
        Self {
            line: finding.line.saturating_sub(1),
            end_line: finding.end_line.max(finding.line).saturating_sub(1),
            message: super::proto::message(&finding, provisional),
            data: super::proto::data(&finding, provisional),
            finding,
            exact: true,
            unedited: true,
            provisional,
        }
    }
}

/// Applies one edit of the editor to `rope` and moves `findings` with it.
/// `range == None` is a full replacement: nothing can be followed, so every
/// finding is dropped. Returns whether any finding changed.
pub fn apply_change(
    rope: &mut Rope,
    findings: &mut Vec<Tracked>,
    range: Option<EditRange>,
    text: &str,
    enc: Encoding,
) -> bool {
    if findings.is_empty() {
        text::apply_edit(rope, range, text, enc);
        return false;
    }
    // Cheap: ropes share their nodes, the edit copies only the touched path.
    let before = rope.clone();
    let Some(edit) = text::apply_edit(rope, range, text, enc) else {
        findings.clear();
        return true;
    };
    let blank_insert = text.chars().all(|c| c == '\n' || c == '\r');
    move_through_edit(findings, &before, rope, edit, blank_insert)
}

/// Moves `findings` from `before` to `after`, the text once `edit` was
/// applied. `blank_insert`: the inserted text held only line breaks (or
/// nothing), so an edit covering a finding's text deleted it. Returns
/// whether anything changed.
pub fn move_through_edit(
    findings: &mut Vec<Tracked>,
    before: &Rope,
    after: &Rope,
    edit: CharEdit,
    blank_insert: bool,
) -> bool {
    let map = Mapping::new(before, after, edit);
    let count = findings.len();
    let mut changed = false;
    findings.retain_mut(|t| match place(t, &map, blank_insert) {
        Some(moved) => {
            changed |= moved;
            true
        }
        None => false,
    });
    changed || findings.len() != count
}

/// Where the characters of the old text are in the new one.
struct Mapping<'a> {
    before: &'a Rope,
    after: &'a Rope,
    edit: CharEdit,
    /// Line of the edit's start in the old text.
    first_line: usize,
    /// Line, in the new text, of the first character after the insertion.
    resume_line: usize,
    /// Old lines after this one only move, by the second number of lines:
    /// the edit changed no character or line break from their start on.
    shift_after: Option<(usize, i64)>,
}

impl<'a> Mapping<'a> {
    fn new(before: &'a Rope, after: &'a Rope, edit: CharEdit) -> Self {
        let resume = (edit.start + edit.inserted).min(after.len_chars());
        // The first line starting after the edit's end is still a line
        // start afterwards, and every break after it is unchanged: measure
        // how far it moved once, from the texts themselves.
        let next = before.char_to_line(edit.end.min(before.len_chars())) + 1;
        let shift_after = (next < before.len_lines()).then(|| {
            let old_start = before.line_to_char(next);
            let new_start = old_start - (edit.end - edit.start) + edit.inserted;
            let new_line = after.char_to_line(new_start.min(after.len_chars()));
            (next, new_line as i64 - next as i64)
        });
        Self {
            before,
            after,
            first_line: before.char_to_line(edit.start.min(before.len_chars())),
            resume_line: after.char_to_line(resume),
            shift_after,
            edit,
        }
    }

    /// The new offset of old offset `p`; `None` when the edit deleted it.
    /// Text inserted at `p` lands before it.
    fn offset(&self, p: usize) -> Option<usize> {
        let CharEdit {
            start,
            end,
            inserted,
        } = self.edit;
        if p < start {
            Some(p)
        } else if p >= end {
            Some(p - (end - start) + inserted)
        } else {
            None
        }
    }

    /// The new offset of old offset `p` as the end of a span: text inserted
    /// at `p` lands after it. `None` when the edit deleted what was before.
    fn end_offset(&self, p: usize) -> Option<usize> {
        let CharEdit {
            start,
            end,
            inserted,
        } = self.edit;
        if p <= start {
            Some(p)
        } else if p >= end {
            Some(p - (end - start) + inserted)
        } else {
            None
        }
    }

    /// Whether the edit changes old characters `a..b` (for an empty span:
    /// deletes the point `a`). Text inserted at either end does not.
    fn touches(&self, a: usize, b: usize) -> bool {
        let CharEdit {
            start,
            end,
            inserted,
        } = self.edit;
        if start == end {
            inserted > 0 && a < start && start < b
        } else {
            start < b && end > a
        }
    }

    /// The line, in the new text, of old offset `p` (as a span's start, or
    /// as its end with `end`). A deleted position keeps its distance from
    /// the edit's first line, within the lines the inserted text now covers.
    fn line_of(&self, p: usize, end: bool) -> usize {
        let moved = if end {
            self.end_offset(p)
        } else {
            self.offset(p)
        };
        let line = match moved {
            Some(q) => self.after.char_to_line(q.min(self.after.len_chars())),
            None => {
                let down = self.before.char_to_line(p) - self.first_line;
                (self.first_line + down).min(self.resume_line.max(self.first_line))
            }
        };
        line.min(self.after.len_lines() - 1)
    }
}

/// Character offsets of the start and the content end of `line`.
fn line_bounds(rope: &Rope, line: usize) -> (usize, usize) {
    let start = rope.line_to_char(line);
    (start, start + line_len_chars(rope.line(line)))
}

/// Moves one finding through the edit: `Some(changed)`, or `None` when it
/// is gone.
fn place(t: &mut Tracked, map: &Mapping<'_>, blank_insert: bool) -> Option<bool> {
    let (before, after) = (map.before, map.after);
    let last = before.len_lines() - 1;
    let (line, end_line) = (t.line as usize, t.end_line as usize);
    if line > last {
        return None;
    }
    let end_line = end_line.clamp(line, last);
    // Far from the edit (a line of margin on either side), nothing but the
    // line numbers can change: no rope lookups per finding.
    if end_line + 1 < map.first_line {
        return Some(false);
    }
    if let Some((from, delta)) = map.shift_after.filter(|&(from, _)| line > from) {
        debug_assert!(from as i64 + delta >= 0);
        t.line = (line as i64 + delta) as u32;
        t.end_line = (end_line as i64 + delta) as u32;
        return Some(delta != 0);
    }
    let (lines_start, _) = line_bounds(before, line);
    let (end_line_start, lines_end) = line_bounds(before, end_line);
    // Whole lines end after the last one's line break: joining the next
    // line onto a finding edits its lines.
    let lines_next = if end_line < last {
        before.line_to_char(end_line + 1)
    } else {
        before.len_chars()
    };
    // The span: the finding's characters while its columns hold, else its
    // whole lines.
    let (a, b) = if t.exact {
        let col = |c: u32| c.saturating_sub(1) as usize;
        let a = (lines_start + col(t.finding.column)).min(line_bounds(before, line).1);
        let b = match t.finding.end_column {
            Some(c) => (end_line_start + col(c)).min(lines_end),
            None => lines_next,
        };
        (a, b.max(a))
    } else {
        (lines_start, lines_next)
    };
    let CharEdit { start, end, .. } = map.edit;
    // An empty span's point deleted counts as touched too.
    let touched = map.touches(a, b) || map.offset(a).is_none();
    let erased = if a < b {
        start <= a && end >= b
    } else {
        // An empty span (an empty line): gone with its line.
        start <= lines_start
            && end >= lines_end
            && (lines_start < lines_end || start < lines_start || end > lines_end)
    };
    if blank_insert && erased {
        return None;
    }
    let first = map.line_of(a, false);
    // The last line is that of the span's last character; a span ending at
    // the very start of a line (or at the end of an empty last line) ends
    // on that line.
    let new_last = if b > a && b > end_line_start {
        map.line_of(b - 1, false)
    } else {
        map.line_of(b, true)
    }
    .max(first);
    if touched && (first..=new_last).all(|l| after.line(l).chars().all(char::is_whitespace)) {
        // Nothing but blank lines is left where the finding was.
        return None;
    }
    // Lines as reviewed are placed exactly, whatever happened next to them.
    let unchanged = lines_unchanged(map, line, end_line).filter(|_| t.unedited);
    let unedited = unchanged.is_some();
    let (first, new_last) = unchanged.unwrap_or((first, new_last));
    let (mut column, mut end_column) = (t.finding.column, t.finding.end_column);
    if let (true, Some(new_a)) = (t.exact && !touched, map.offset(a)) {
        // Saturating: a column is never worth a panic.
        column = new_a.saturating_sub(after.line_to_char(first)) as u32 + 1;
        if end_column.is_some() {
            let new_b = if b > a {
                map.end_offset(b).unwrap_or(new_a)
            } else {
                new_a
            };
            end_column = Some(new_b.saturating_sub(after.line_to_char(new_last)) as u32 + 1);
        }
    }
    let exact = t.exact && !touched;
    let (first, new_last) = (first as u32, new_last as u32);
    let changed = (first, new_last, exact, unedited, column, end_column)
        != (
            t.line,
            t.end_line,
            t.exact,
            t.unedited,
            t.finding.column,
            t.finding.end_column,
        );
    t.line = first;
    t.end_line = new_last;
    t.exact = exact;
    t.unedited = unedited;
    t.finding.column = column;
    t.finding.end_column = end_column;
    Some(changed)
}

/// Where old lines `line..=end_line` are after the edit, if they are still
/// whole lines holding exactly the same text (nothing joined before or
/// after).
fn lines_unchanged(map: &Mapping<'_>, line: usize, end_line: usize) -> Option<(usize, usize)> {
    let (start, _) = line_bounds(map.before, line);
    let (_, end) = line_bounds(map.before, end_line);
    if map.touches(start, end) {
        return None;
    }
    let after = map.after;
    let new_start = map.offset(start)?;
    let new_end = map.end_offset(end)?;
    let first = after.char_to_line(new_start.min(after.len_chars()));
    let last = after.char_to_line(new_end.min(after.len_chars()));
    let whole = last >= first
        && last - first == end_line - line
        && line_bounds(after, first).0 == new_start
        && line_bounds(after, last).1 == new_end;
    whole.then_some((first, last))
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

    /// Applies one edit to `text` with `findings` on it; returns the text.
    fn change(text: &str, f: &mut Vec<Tracked>, range: Option<EditRange>, new: &str) -> String {
        let mut rope = Rope::from_str(text);
        apply_change(&mut rope, f, range, new, Encoding::Utf16);
        rope.to_string()
    }

    const TEXT: &str = "l0\nl1\nl2\nl3\nl4\n";

    #[test]
    fn finding_moves_down_when_lines_are_inserted_above() {
        let mut f = vec![finding(3, 3)]; // 0-based line 2
        change(TEXT, &mut f, edit(0, 0, 0, 0), "new\nnew\n");
        assert_eq!((f[0].line, f[0].end_line, f[0].exact), (4, 4, true));
        assert!(f[0].unedited);
    }

    #[test]
    fn finding_moves_down_when_a_line_is_inserted_at_its_start() {
        let mut f = vec![finding(3, 3)];
        change(TEXT, &mut f, edit(2, 0, 2, 0), "x\n");
        assert_eq!((f[0].line, f[0].exact, f[0].unedited), (3, true, true));
    }

    #[test]
    fn finding_moves_up_when_lines_above_are_deleted() {
        let mut f = vec![finding(4, 4)]; // 0-based 3
        change(TEXT, &mut f, edit(0, 0, 2, 0), "");
        assert_eq!((f[0].line, f[0].exact), (1, true));
    }

    #[test]
    fn a_cr_typed_before_a_line_feed_joins_them_and_moves_nothing() {
        let text = "import os\nx\nprint(1)\nimportant()\n";
        let mut f = vec![finding(3, 3)];
        let after = change(text, &mut f, edit(0, 9, 0, 9), "\r");
        assert_eq!(after, "import os\r\nx\nprint(1)\nimportant()\n");
        assert_eq!((f[0].line, f[0].exact, f[0].unedited), (2, true, true));
    }

    #[test]
    fn a_line_feed_typed_after_a_lone_cr_joins_them_and_moves_nothing() {
        let text = "import os\rx\nprint(1)\nimportant()\n";
        let mut f = vec![finding(3, 3)];
        change(text, &mut f, edit(1, 0, 1, 0), "\n");
        assert_eq!((f[0].line, f[0].exact, f[0].unedited), (2, true, true));
    }

    #[test]
    fn deleting_what_stood_between_a_cr_and_a_line_feed_merges_the_breaks() {
        let text = "a\rX\nb\nprint(1)\n";
        let mut f = vec![finding(4, 4)];
        change(text, &mut f, edit(1, 0, 1, 1), "");
        assert_eq!((f[0].line, f[0].exact), (2, true));
    }

    #[test]
    fn text_typed_inside_a_crlf_splits_it_into_two_breaks() {
        // Replacing the CRLF with CR, text, LF: one break becomes two.
        let text = "a\r\nb\nprint(1)\n";
        let mut f = vec![finding(3, 3)];
        change(text, &mut f, edit(0, 1, 1, 0), "\rX\n");
        assert_eq!((f[0].line, f[0].exact), (3, true));
    }

    #[test]
    fn finding_disappears_when_its_line_is_deleted() {
        let mut f = vec![finding(3, 3), finding(5, 5)];
        change(TEXT, &mut f, edit(2, 0, 3, 0), "");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
        // Deleting the last line from the end of the one before it.
        let mut f = vec![finding(2, 2)];
        change("l0\nl1", &mut f, edit(0, 2, 1, 2), "");
        assert!(f.is_empty());
    }

    #[test]
    fn finding_disappears_when_its_text_is_deleted_and_only_blanks_remain() {
        let mut f = vec![finding(2, 2)];
        f[0].finding.end_column = Some(9);
        change("a\n    print(1)\nb\n", &mut f, edit(1, 4, 1, 12), "");
        assert!(f.is_empty());
    }

    #[test]
    fn editing_inside_a_finding_keeps_it_on_the_edited_line() {
        let mut f = vec![finding(3, 3)]; // columns 1..3 of "l2"
        change(TEXT, &mut f, edit(2, 1, 2, 2), "XYZ");
        assert_eq!((f[0].line, f[0].exact, f[0].unedited), (2, false, false));
        let mut f = vec![finding(3, 3)];
        change(TEXT, &mut f, edit(2, 0, 3, 0), "replaced\n");
        assert_eq!(f.len(), 1, "a replaced line is an edit, not a deletion");
        assert_eq!(f[0].line, 2);
    }

    #[test]
    fn typing_before_a_finding_on_its_line_shifts_its_columns() {
        let mut f = vec![finding(1, 1)];
        f[0].finding.column = 4; // "c"
        f[0].finding.end_column = Some(5);
        // Insert "xy" after the emoji (UTF-16 column 4).
        let text = change("ab😀cd\n", &mut f, edit(0, 4, 0, 4), "xy");
        assert_eq!(
            (f[0].finding.column, f[0].finding.end_column, f[0].exact),
            (6, Some(7), true)
        );
        assert!(!f[0].unedited, "the line is not the reviewed one any more");
        // Typing after it changes nothing.
        change(&text, &mut f, edit(0, 8, 0, 8), "!");
        assert_eq!((f[0].finding.column, f[0].exact), (6, true));
    }

    #[test]
    fn joining_a_finding_to_the_line_above_keeps_its_text_exact() {
        let mut f = vec![finding(2, 2)];
        change("ab\ncd\n", &mut f, edit(0, 2, 1, 0), "");
        assert_eq!((f[0].line, f[0].finding.column, f[0].exact), (0, 3, true));
        assert!(!f[0].unedited);
    }

    #[test]
    fn partially_deleted_multi_line_finding_shrinks() {
        let mut f = vec![finding(2, 4)]; // 0-based 1..=3
        change(TEXT, &mut f, edit(2, 0, 3, 0), "");
        assert_eq!((f[0].line, f[0].end_line), (1, 2));
    }

    #[test]
    fn full_replacement_drops_findings() {
        let mut f = vec![finding(1, 1)];
        let mut rope = Rope::from_str(TEXT);
        assert!(apply_change(&mut rope, &mut f, None, "x", Encoding::Utf16));
        assert!(f.is_empty());
    }
}
