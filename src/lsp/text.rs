//! Open documents as ropes, and the conversions between LSP positions (in
//! the negotiated encoding) and rope character offsets. Lines break only at
//! `\n`, `\r\n` and `\r`, like LSP and `diff::lines` (ropey is built with
//! `cr_lines` and without `unicode_lines`, so U+2028 is not a break).
//! Positions past a line's end clamp to it; lines past the end clamp to the
//! end of the document. Knows nothing about findings or reviews.

use crate::diff::position::Encoding;
use ropey::{Rope, RopeSlice};

/// Number of characters of `line` without its terminator.
pub fn line_len_chars(line: RopeSlice<'_>) -> usize {
    let n = line.len_chars();
    if n == 0 {
        return 0;
    }
    match line.char(n - 1) {
        '\n' => {
            if n >= 2 && line.char(n - 2) == '\r' {
                n - 2
            } else {
                n - 1
            }
        }
        '\r' => n - 1,
        _ => n,
    }
}

/// The character offset of an LSP position.
pub fn position_to_char(rope: &Rope, line: u32, col: u32, enc: Encoding) -> usize {
    let line = line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let slice = rope.line(line);
    let len = line_len_chars(slice);
    let content = slice.slice(..len);
    let col = col as usize;
    let idx = match enc {
        Encoding::Utf8 => {
            if col >= content.len_bytes() {
                len
            } else {
                content.byte_to_char(col)
            }
        }
        Encoding::Utf16 => {
            if col >= content.len_utf16_cu() {
                len
            } else {
                content.utf16_cu_to_char(col)
            }
        }
        Encoding::Utf32 => col.min(len),
    };
    start + idx
}

/// The column, in `enc`, of character `char_idx` (0-based) on `line`,
/// clamped to the line's end.
pub fn char_col(rope: &Rope, line: usize, char_idx: usize, enc: Encoding) -> u32 {
    if line >= rope.len_lines() {
        return 0;
    }
    let slice = rope.line(line);
    let idx = char_idx.min(line_len_chars(slice));
    let col = match enc {
        Encoding::Utf8 => slice.char_to_byte(idx),
        Encoding::Utf16 => slice.char_to_utf16_cu(idx),
        Encoding::Utf32 => idx,
    };
    col as u32
}

/// Length of `line` in `enc` units, without its terminator.
pub fn line_end_col(rope: &Rope, line: usize, enc: Encoding) -> u32 {
    char_col(rope, line, usize::MAX, enc)
}

/// An edit in document coordinates: 0-based lines, columns in `enc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditRange {
    pub start_line: u32,
    pub start_col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

/// An applied edit in character offsets: `start..end` of the text before
/// it was replaced by `inserted` characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharEdit {
    pub start: usize,
    pub end: usize,
    pub inserted: usize,
}

/// The characters `range` covers in `rope`, clamped as [`apply_edit`]
/// clamps them (an end before the start is the start).
pub fn edit_span(rope: &Rope, range: EditRange, enc: Encoding) -> (usize, usize) {
    let start = position_to_char(rope, range.start_line, range.start_col, enc);
    let end = position_to_char(rope, range.end_line, range.end_col, enc).max(start);
    (start, end)
}

/// Replaces `range` (or everything, when `None`) with `text`. Returns the
/// edit in character offsets, `None` for a full replacement.
pub fn apply_edit(
    rope: &mut Rope,
    range: Option<EditRange>,
    text: &str,
    enc: Encoding,
) -> Option<CharEdit> {
    match range {
        None => {
            *rope = Rope::from_str(text);
            None
        }
        Some(r) => {
            let (start, end) = edit_span(rope, r, enc);
            rope.remove(start..end);
            rope.insert(start, text);
            Some(CharEdit {
                start,
                end,
                inserted: text.chars().count(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_emoji_as_two_units() {
        let rope = Rope::from_str("x\na😀b\n");
        assert_eq!(position_to_char(&rope, 1, 3, Encoding::Utf16), 2 + 2);
        assert_eq!(char_col(&rope, 1, 2, Encoding::Utf16), 3);
        assert_eq!(char_col(&rope, 1, 2, Encoding::Utf8), 5);
        assert_eq!(line_end_col(&rope, 1, Encoding::Utf16), 4);
    }

    #[test]
    fn line_separator_u2028_is_not_a_line_break() {
        let rope = Rope::from_str("a\u{2028}b\nc");
        assert_eq!(rope.len_lines(), 2);
        assert_eq!(position_to_char(&rope, 1, 0, Encoding::Utf16), 4);
    }

    #[test]
    fn positions_past_the_end_clamp() {
        let rope = Rope::from_str("ab\r\ncd");
        assert_eq!(position_to_char(&rope, 0, 99, Encoding::Utf16), 2);
        assert_eq!(position_to_char(&rope, 9, 0, Encoding::Utf16), 6);
        assert_eq!(line_end_col(&rope, 0, Encoding::Utf8), 2);
    }

    #[test]
    fn incremental_edit_replaces_the_range() {
        let mut rope = Rope::from_str("one\ntwo\nthree\n");
        let r = EditRange {
            start_line: 1,
            start_col: 0,
            end_line: 2,
            end_col: 0,
        };
        let edit = apply_edit(&mut rope, Some(r), "TWO\nand a half\n", Encoding::Utf16);
        assert_eq!(rope.to_string(), "one\nTWO\nand a half\nthree\n");
        let replaced = CharEdit {
            start: 4,
            end: 8,
            inserted: 15,
        };
        assert_eq!(edit, Some(replaced));
    }
}
