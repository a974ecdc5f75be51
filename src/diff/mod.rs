//! Text in, hunks out. Decodes bytes into reviewable text (lossy, never a
//! crash), splits it into lines the way LSP counts them, and diffs new text
//! against old into hunks numbered by lines of the new text.
//!
//! Lines are compared without their terminators, so a file that a checkout
//! turned from LF into CRLF (or back) does not look changed on every line.
//! Nothing here knows about git, findings or editors.

pub mod position;

use std::ops::Range;

/// Bytes scanned for a NUL when deciding that a file is binary (git's rule).
const BINARY_SNIFF_BYTES: usize = 8000;

/// Decoded file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Text {
        text: String,
        /// Invalid UTF-8 was replaced with U+FFFD.
        lossy: bool,
    },
    Binary,
}

/// Decodes file bytes: binary when a NUL appears in the first 8000 bytes,
/// otherwise UTF-8 with invalid sequences replaced (a UTF-8 BOM is dropped).
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Decoded::Binary;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Decoded::Text {
            text: s.to_string(),
            lossy: false,
        },
        Err(_) => Decoded::Text {
            text: String::from_utf8_lossy(bytes).into_owned(),
            lossy: true,
        },
    }
}

/// Splits text into lines the way LSP does (`\n`, `\r\n`, `\r`), without
/// terminators. A trailing terminator does not start an extra line.
pub fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 32 + 1);
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// A changed region. Line numbers are 1-based; `new` is the range of lines of
/// the new text that were added or replaced (empty for a pure deletion, then
/// `new.start` is the line the deletion sits before).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hunk {
    pub old: Range<u32>,
    pub new: Range<u32>,
}

impl Hunk {
    /// Lines of the new text this hunk added or replaced (1-based).
    pub fn added_lines(&self) -> Range<u32> {
        self.new.clone()
    }
}

/// The difference between two versions of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDiff {
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// Whether 1-based `line` of the new text was added or changed.
    pub fn is_added(&self, line: u32) -> bool {
        // Hunks are sorted by new line; binary search keeps this O(log n).
        let idx = self.hunks.partition_point(|h| h.new.end <= line);
        self.hunks.get(idx).is_some_and(|h| h.new.contains(&line))
    }

    /// Number of added or changed lines plus deleted lines, the measure used
    /// for risk tiers.
    pub fn changed_line_count(&self) -> u32 {
        self.hunks
            .iter()
            .map(|h| (h.new.end - h.new.start).max(h.old.end - h.old.start))
            .sum()
    }

    /// Every added or changed line, ascending.
    pub fn added_lines(&self) -> impl Iterator<Item = u32> + '_ {
        self.hunks.iter().flat_map(|h| h.new.clone())
    }
}

/// Diffs `new` against `old` line by line (Histogram, via `imara-diff`).
pub fn diff_texts(old: &str, new: &str) -> FileDiff {
    diff_lines(&lines(old), &lines(new))
}

/// Diffs pre-split lines (see [`lines`]).
pub fn diff_lines(old: &[&str], new: &[&str]) -> FileDiff {
    use imara_diff::{Algorithm, Diff, Interner};
    let mut interner = Interner::new(old.len() + new.len());
    let before: Vec<_> = old.iter().map(|l| interner.intern(*l)).collect();
    let after: Vec<_> = new.iter().map(|l| interner.intern(*l)).collect();
    let mut diff = Diff::default();
    diff.compute_with(Algorithm::Histogram, &before, &after, interner.num_tokens());
    let hunks = diff
        .hunks()
        .map(|h| Hunk {
            old: h.before.start + 1..h.before.end + 1,
            new: h.after.start + 1..h.after.end + 1,
        })
        .collect();
    FileDiff { hunks }
}

/// The same diff computed with `similar` (Myers), kept for the benchmark
/// that chose between the two crates.
pub fn diff_lines_similar(old: &[&str], new: &[&str]) -> FileDiff {
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, old, new);
    let mut hunks: Vec<Hunk> = Vec::new();
    for op in ops {
        let (tag, o, n) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        let old = o.start as u32 + 1..o.end as u32 + 1;
        let new = n.start as u32 + 1..n.end as u32 + 1;
        match hunks.last_mut() {
            Some(last) if last.old.end == old.start && last.new.end == new.start => {
                last.old.end = old.end;
                last.new.end = new.end;
            }
            _ => hunks.push(Hunk { old, new }),
        }
    }
    FileDiff { hunks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_lsp_line_breaks_only() {
        assert_eq!(lines("a\nb\r\nc\rd"), vec!["a", "b", "c", "d"]);
        assert_eq!(lines("a\n"), vec!["a"]);
        assert_eq!(lines("a\n\n"), vec!["a", ""]);
        assert_eq!(lines("a\u{2028}b"), vec!["a\u{2028}b"]);
        assert!(lines("").is_empty());
    }

    #[test]
    fn crlf_working_copy_of_lf_file_has_no_hunks() {
        let d = diff_texts("a\nb\nc\n", "a\r\nb\r\nc\r\n");
        assert!(d.hunks.is_empty());
    }

    #[test]
    fn changed_line_is_reported_by_its_new_line_number() {
        let d = diff_texts("a\nb\nc\n", "a\nx\ny\nc\n");
        assert_eq!(
            d.hunks,
            vec![Hunk {
                old: 2..3,
                new: 2..4
            }]
        );
        assert!(d.is_added(2) && d.is_added(3));
        assert!(!d.is_added(1) && !d.is_added(4));
    }

    #[test]
    fn missing_final_newline_is_not_a_change_of_the_last_line() {
        let d = diff_texts("a\nb\n", "a\nb");
        assert!(d.hunks.is_empty());
    }

    #[test]
    fn similar_and_imara_agree_on_a_simple_edit() {
        let old = lines("a\nb\nc\nd\n");
        let new = lines("a\nB\nc\nd\ne\n");
        assert_eq!(diff_lines(&old, &new), diff_lines_similar(&old, &new));
    }

    #[test]
    fn nul_bytes_mean_binary_and_invalid_utf8_is_lossy() {
        assert_eq!(decode(b"ab\0c"), Decoded::Binary);
        assert_eq!(
            decode(b"ok \xff\n"),
            Decoded::Text {
                text: "ok \u{fffd}\n".into(),
                lossy: true
            }
        );
    }
}
