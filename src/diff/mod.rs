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
    // SIMD searches for the breaks (2-3x faster than a byte loop on source
    // text); files without a `\r` anywhere, the usual case, look for `\n`
    // only.
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 32 + 1);
    let mut start = 0;
    if memchr::memchr(b'\r', bytes).is_none() {
        for i in memchr::memchr_iter(b'\n', bytes) {
            out.push(&text[start..i]);
            start = i + 1;
        }
    } else {
        // The `\n` of a `\r\n` pair ends no line of its own.
        let mut pair_lf = usize::MAX;
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            if !(i == pair_lf && bytes[i] == b'\n') {
                out.push(&text[start..i]);
                if bytes[i] == b'\r' {
                    pair_lf = i + 1;
                }
            }
            start = i + 1;
        }
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

/// Lines a token must occur more often than for imara-diff's Histogram to
/// give up on it (its `MAX_CHAIN_LEN`) and fall back to an unbounded Myers.
const HISTOGRAM_CHAIN_LIMIT: u32 = 63;

/// Below this many lines (after trimming the common prefix and suffix) any
/// algorithm is fast enough, whatever the input looks like.
const SMALL_REGION_LINES: usize = 2_000;

/// How long the fallback diff of a pathological input may search for a
/// minimal edit script before it settles for a coarser (still correct) one.
const PATHOLOGICAL_DEADLINE: std::time::Duration = std::time::Duration::from_millis(250);

/// Diffs pre-split lines (see [`lines`]).
///
/// The common prefix and suffix are matched first (exact, and it leaves the
/// algorithms only the edited region). Then imara-diff's Histogram runs: the
/// fastest on real edits (see `benches/diff.rs`). Histogram degrades to an
/// unbounded Myers search when most lines are a handful of repeated tokens
/// (a minified bundle split on `;`), which took seconds on 50,000 lines; such
/// input goes to `similar`'s Myers with a deadline instead, so that a buffer
/// can never stall a review.
pub fn diff_lines(old: &[&str], new: &[&str]) -> FileDiff {
    use imara_diff::{Algorithm, Diff, Interner};
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];
    let offset = prefix as u32 + 1;
    if old_mid.is_empty() && new_mid.is_empty() {
        return FileDiff::default();
    }

    let mut interner = Interner::new(old_mid.len() + new_mid.len());
    let before: Vec<_> = old_mid.iter().map(|l| interner.intern(*l)).collect();
    let after: Vec<_> = new_mid.iter().map(|l| interner.intern(*l)).collect();

    if is_repetitive(&before, &after, interner.num_tokens()) {
        let before: Vec<u32> = before.into_iter().map(u32::from).collect();
        let after: Vec<u32> = after.into_iter().map(u32::from).collect();
        let deadline = std::time::Instant::now() + PATHOLOGICAL_DEADLINE;
        let ops = similar::capture_diff_slices_deadline(
            similar::Algorithm::Myers,
            &before,
            &after,
            Some(deadline),
        );
        return hunks_from_ops(&ops, offset);
    }

    let mut diff = Diff::default();
    diff.compute_with(Algorithm::Histogram, &before, &after, interner.num_tokens());
    let hunks = diff
        .hunks()
        .map(|h| Hunk {
            old: h.before.start + offset..h.before.end + offset,
            new: h.after.start + offset..h.after.end + offset,
        })
        .collect();
    FileDiff { hunks }
}

/// Whether most of a large region is made of tokens too frequent for the
/// Histogram algorithm to anchor on. Both sides count: a small old file
/// against a huge repetitive new one is just as slow.
fn is_repetitive(
    before: &[imara_diff::Token],
    after: &[imara_diff::Token],
    num_tokens: u32,
) -> bool {
    let total = before.len() + after.len();
    if total <= SMALL_REGION_LINES {
        return false;
    }
    let mut counts = vec![0u32; num_tokens as usize];
    for t in before.iter().chain(after) {
        counts[u32::from(*t) as usize] += 1;
    }
    let hot = before
        .iter()
        .chain(after)
        .filter(|t| counts[u32::from(**t) as usize] > HISTOGRAM_CHAIN_LIMIT)
        .count();
    hot * 2 > total
}

/// The same diff computed with `similar` (Myers) on the lines themselves,
/// kept for the benchmark that chose between the two crates.
pub fn diff_lines_similar(old: &[&str], new: &[&str]) -> FileDiff {
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, old, new);
    hunks_from_ops(&ops, 1)
}

/// Merges `similar`'s adjacent operations into hunks; `offset` is the
/// 1-based line number of the first element of the diffed slices.
fn hunks_from_ops(ops: &[similar::DiffOp], offset: u32) -> FileDiff {
    let mut hunks: Vec<Hunk> = Vec::new();
    for op in ops {
        let (tag, o, n) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        let old = o.start as u32 + offset..o.end as u32 + offset;
        let new = n.start as u32 + offset..n.end as u32 + offset;
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
        assert_eq!(lines("\n"), vec![""]);
        assert_eq!(lines("\r"), vec![""]);
        assert_eq!(lines("\r\n"), vec![""]);
        assert_eq!(lines("a\r"), vec!["a"]);
        assert_eq!(lines("a\rb\r"), vec!["a", "b"]);
        assert_eq!(lines("a\r\r\nb"), vec!["a", "", "b"]);
        assert_eq!(lines("\n\nx"), vec!["", "", "x"]);
    }

    /// The LSP definition, one byte at a time: the reference `lines` must
    /// agree with.
    fn lines_reference(text: &str) -> Vec<&str> {
        let (bytes, mut out, mut start, mut i) = (text.as_bytes(), Vec::new(), 0, 0);
        while i < bytes.len() {
            if bytes[i] == b'\n' || bytes[i] == b'\r' {
                out.push(&text[start..i]);
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            i += 1;
        }
        if start < text.len() {
            out.push(&text[start..]);
        }
        out
    }

    #[test]
    fn lines_agree_with_the_reference_on_every_short_mix_of_breaks() {
        let alphabet = ['a', '\r', '\n'];
        for len in 0..=8u32 {
            for mut n in 0..3usize.pow(len) {
                let mut text = String::new();
                for _ in 0..len {
                    text.push(alphabet[n % 3]);
                    n /= 3;
                }
                assert_eq!(lines(&text), lines_reference(&text), "{text:?}");
            }
        }
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
    fn edits_at_both_ends_and_in_the_middle_are_numbered_by_new_lines() {
        let old: Vec<String> = (0..50).map(|i| format!("l{i}")).collect();
        let mut new = old.clone();
        new[0] = "first".into();
        new.insert(25, "inserted".into());
        new.pop();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let d = diff_lines(&old, &new);
        assert_eq!(
            d.hunks,
            vec![
                Hunk {
                    old: 1..2,
                    new: 1..2
                },
                Hunk {
                    old: 26..26,
                    new: 26..27
                },
                Hunk {
                    old: 50..51,
                    new: 51..51
                },
            ]
        );
        assert_eq!(d, diff_lines_similar(&old, &new));
    }

    #[test]
    fn repetitive_input_takes_the_bounded_path_and_still_marks_every_edit() {
        // 30,000 lines drawn from five tokens: Histogram cannot anchor here.
        let tokens = ["a", "b", "c", "}", "{"];
        let old: Vec<&str> = (0..30_000usize)
            .map(|i| tokens[(i * 7 + i / 3) % 5])
            .collect();
        let mut new = old.clone();
        for at in [10usize, 9_000, 29_990] {
            new[at] = "edited";
        }
        let d = diff_lines(&old, &new);
        for at in [10u32, 9_000, 29_990] {
            assert!(d.is_added(at + 1), "line {} is marked", at + 1);
        }
        // Whatever the deadline leaves coarse, unchanged lines outside the
        // edited region are never marked.
        assert!(!d.is_added(1) && !d.is_added(30_000));
    }

    #[test]
    fn small_old_file_against_a_huge_repetitive_new_one_takes_the_bounded_path() {
        let tokens = ["a", "b", "c", "}", "{", "x=1", "y=2"];
        let old: Vec<&str> = (0..500usize).map(|i| tokens[(i * 5 + i / 7) % 7]).collect();
        let new: Vec<&str> = (0..40_000usize)
            .map(|i| tokens[(i * 3 + i / 11) % 7])
            .collect();
        let d = diff_lines(&old, &new);
        // At most the 500 old lines can be matched; the speed of this path
        // is measured in `benches/diff.rs`.
        assert!(d.added_lines().count() >= 40_000 - 500);
        assert!(d.added_lines().all(|l| (1..=40_000).contains(&l)));
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
