//! The syntax tree of an open document, kept in step with its rope: parsed
//! once (the session does it at the document's first edit), then every
//! edit of the editor is told to
//! the tree (bytes and points of the text before the edit, computed from
//! the rope and the negotiated position encoding) and the tree is reparsed
//! once per `didChange`, reusing every subtree the edits did not touch. A
//! full replacement, or a parse that gave up, drops the tree; the next
//! change parses afresh. Reviews take a clone of the tree under the same
//! lock as the rope, so the two always match.
//!
//! Owns no text and knows nothing about reviews or findings. A document in
//! a language without a grammar has no tree at all.

use super::text::{edit_span, EditRange};
use crate::diff::position::Encoding;
use crate::syntax::{EditedTree, Lang, Parsed, TextEdit};
use ropey::Rope;

/// One document's tree and where it stands against the rope.
pub struct DocTree {
    lang: Lang,
    state: State,
}

enum State {
    /// The parse of the rope's current text.
    Ready(Parsed),
    /// Told about edits since the last parse; reparse before use.
    Edited(EditedTree),
    /// No tree worth editing (never parsed, replaced, or the parse gave
    /// up): the next reparse starts afresh.
    Dropped,
}

/// What a reparse did (counted in `redline.stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reparse {
    /// Nothing changed since the last parse.
    Unchanged,
    /// Parsed from nothing.
    Fresh,
    /// The old tree, edited, reparsed.
    Incremental,
    /// The parse ran out of time: no tree until the next change.
    Failed,
}

impl DocTree {
    /// A tree for the document named `name` (a path or an untitled name),
    /// when its language has a grammar; parsed by the first
    /// [`reparse`](Self::reparse).
    pub fn for_name(name: &str) -> Option<DocTree> {
        Some(DocTree {
            lang: Lang::from_path(name)?,
            state: State::Dropped,
        })
    }

    /// The parse of the rope's current text, if there is one and it is up
    /// to date.
    pub fn current(&self) -> Option<&Parsed> {
        match &self.state {
            State::Ready(parsed) => Some(parsed),
            _ => None,
        }
    }

    /// Tells the tree about one change of the editor, before it is applied
    /// to `before` (the rope as it is now). `None` replaces everything:
    /// nothing of the old tree can be reused.
    pub fn follow(
        &mut self,
        before: &Rope,
        range: Option<EditRange>,
        inserted: &str,
        enc: Encoding,
    ) {
        let Some(range) = range else {
            self.state = State::Dropped;
            return;
        };
        self.state = match std::mem::replace(&mut self.state, State::Dropped) {
            State::Ready(parsed) => {
                State::Edited(parsed.edit_tree(&byte_edit(before, range, inserted, enc)))
            }
            State::Edited(edited) => {
                State::Edited(edited.edit_tree(&byte_edit(before, range, inserted, enc)))
            }
            State::Dropped => State::Dropped,
        };
    }

    /// Brings the tree up to `rope`, the text once every followed change
    /// was applied: incrementally from the edited tree, afresh when there
    /// is none.
    pub fn reparse(&mut self, rope: &Rope) -> Reparse {
        let chunks = |at: usize| chunk_at(rope, at);
        let (state, outcome) = match std::mem::replace(&mut self.state, State::Dropped) {
            State::Ready(parsed) => (State::Ready(parsed), Reparse::Unchanged),
            State::Edited(edited) => match edited.reparse(chunks) {
                Some(parsed) => (State::Ready(parsed), Reparse::Incremental),
                None => (State::Dropped, Reparse::Failed),
            },
            State::Dropped => match Parsed::parse_chunks(self.lang, rope.len_bytes(), chunks) {
                Some(parsed) => (State::Ready(parsed), Reparse::Fresh),
                None => (State::Dropped, Reparse::Failed),
            },
        };
        if outcome == Reparse::Failed {
            tracing::debug!(
                lang = self.lang.name(),
                "parse gave up; plain text until the next change"
            );
        }
        self.state = state;
        outcome
    }
}

/// The text of `rope` from byte `at` to the end of its chunk (empty at the
/// end): tree-sitter reads the rope in place, without a copy.
fn chunk_at(rope: &Rope, at: usize) -> &[u8] {
    if at >= rope.len_bytes() {
        return &[];
    }
    let (chunk, start, _, _) = rope.chunk_at_byte(at);
    chunk.as_bytes().get(at - start..).unwrap_or_default()
}

/// The edit `range` ← `inserted` of `before`, in tree-sitter's coordinates.
fn byte_edit(before: &Rope, range: EditRange, inserted: &str, enc: Encoding) -> TextEdit {
    let (start, end) = edit_span(before, range, enc);
    let (start, end) = (before.char_to_byte(start), before.char_to_byte(end));
    let (start_point, end_point) = points(before, start, end);
    TextEdit::new(start..end, start_point, end_point, inserted)
}

/// The (row, byte column) points of bytes `a <= b` of `rope`, in one pass.
/// Rows count `\n` only, as tree-sitter does (ropey, built with
/// `cr_lines`, also breaks lines at a lone `\r`, so its line index cannot
/// be used).
fn points(rope: &Rope, a: usize, b: usize) -> ((usize, usize), (usize, usize)) {
    let mut seen = Lines::default();
    let mut offset = 0;
    let mut start = None;
    for chunk in rope.chunks() {
        let bytes = chunk.as_bytes();
        let chunk_end = offset + bytes.len();
        let mut from = 0;
        if start.is_none() && a <= chunk_end {
            seen.scan(&bytes[..a - offset], offset);
            start = Some(seen.point(a));
            from = a - offset;
        }
        if let Some(start) = start {
            if b <= chunk_end {
                seen.scan(&bytes[from..b - offset], offset + from);
                return (start, seen.point(b));
            }
        }
        seen.scan(&bytes[from..], offset + from);
        offset = chunk_end;
    }
    // Only an empty rope gets here.
    let end = seen.point(b);
    (start.unwrap_or(end), end)
}

/// Lines seen so far by [`points`].
#[derive(Default)]
struct Lines {
    row: usize,
    line_start: usize,
}

impl Lines {
    /// Takes in `bytes`, which sit at byte `at` of the text.
    fn scan(&mut self, bytes: &[u8], at: usize) {
        // A plain count vectorises; newlines are dense in source.
        self.row += bytes.iter().filter(|&&c| c == b'\n').count();
        if let Some(i) = memchr::memrchr(b'\n', bytes) {
            self.line_start = at + i + 1;
        }
    }

    fn point(&self, offset: usize) -> (usize, usize) {
        (self.row, offset.saturating_sub(self.line_start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsp::text::{apply_edit, char_col};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Applies one `didChange` the way the session does: each change told
    /// to the tree before the rope takes it, one reparse at the end.
    fn did_change(
        tree: &mut DocTree,
        rope: &mut Rope,
        changes: &[(Option<EditRange>, String)],
        enc: Encoding,
    ) -> Reparse {
        for (range, text) in changes {
            tree.follow(rope, *range, text, enc);
            apply_edit(rope, *range, text, enc);
        }
        tree.reparse(rope)
    }

    /// A budget no parse these tests need can outrun, even on a loaded
    /// machine (only the test of running out of time sets a short one).
    const GENEROUS_MICROS: u64 = 60_000_000;

    fn opened(name: &str, text: &str) -> (DocTree, Rope) {
        crate::syntax::set_parse_budget_on_this_thread(GENEROUS_MICROS);
        let rope = Rope::from_str(text);
        let mut tree = DocTree::for_name(name).expect("a grammar");
        assert_eq!(tree.reparse(&rope), Reparse::Fresh);
        (tree, rope)
    }

    fn fresh_outline(lang: Lang, rope: &Rope) -> String {
        Parsed::parse(lang, &rope.to_string())
            .expect("parses")
            .outline()
    }

    const DOCS: &[(&str, &str)] = &[
        (
            "a.py",
            "import os\n\ndef main(x):\n    s = \"print(x) 😀\"\n    # TODO: é\n    if x:\n        return [x, 漢]\n\nclass A:\n    '''doc'''\n    pass\n",
        ),
        (
            "a.rs",
            "use std::fmt;\r\n\r\nfn main() {\r\n    let s = \"dbg!(x) 😀\";\r\n    // TODO é\r\n    if s.is_empty() { println!(\"{s:?}\"); }\r\n}\r\n\r\nimpl fmt::Debug for A {}\r\n",
        ),
        (
            "a.js",
            "const f = async (req) => {\n  const t = `${req.x} 😀`;\n  /* eval(1) */\n  return [1, 2];\n};\nclass B { m() { console.log('漢'); } }\n",
        ),
        (
            "a.go",
            "package main\r\n\r\nimport \"fmt\"\r\n\r\nfunc main() {\r\n\tx := \"😀\" // é\r\n\tfmt.Println(x)\r\n}\r\n",
        ),
        (
            "a.ts",
            "interface P { x: number }\nexport function g(p: P): string {\n  return `${p.x}😀`; // 漢\n}\n",
        ),
        (
            "a.rb",
            "class User\r\n  def greet(name)\r\n    puts \"#{name} 😀\" # é\r\n  end\r\nend\r\n",
        ),
    ];

    const PIECES: &[&str] = &[
        "",
        "x",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "'",
        "`",
        "#",
        "//",
        "/*",
        "*/",
        ":",
        ";",
        " ",
        "    ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "é",
        "😀",
        "漢",
        "\u{2028}",
        "def f():\n",
        "fn g() {\n",
        "if x {\n",
        "return 1\n",
        "print(x)",
        "// TODO\n",
        "# c\r\n",
        "=> ",
        "end\n",
    ];

    /// A random position of `rope` in `enc`: mostly inside lines, sometimes
    /// past a line's end or past the last line (clients do send those).
    fn position(rng: &mut StdRng, rope: &Rope, enc: Encoding) -> (u32, u32) {
        let lines = rope.len_lines();
        let line = rng.random_range(0..lines + 1);
        if line >= lines || rng.random_ratio(1, 20) {
            return (line as u32, rng.random_range(0..4));
        }
        let len = crate::lsp::text::line_len_chars(rope.line(line));
        let char_idx = rng.random_range(0..len + 2);
        (line as u32, char_col(rope, line, char_idx, enc))
    }

    fn random_change(rng: &mut StdRng, rope: &Rope, enc: Encoding) -> (Option<EditRange>, String) {
        let inserted: String = (0..rng.random_range(0..4))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect();
        if rng.random_ratio(1, 60) {
            return (
                None,
                format!("{inserted}{}", rope.slice(rope.len_chars() / 2..)),
            );
        }
        let a = position(rng, rope, enc);
        // Inserts, short deletes and multi-line replaces.
        let b = match rng.random_range(0..3) {
            0 => a,
            1 => (a.0, a.1 + rng.random_range(0..6)),
            _ => position(rng, rope, enc),
        };
        let (s, e) = if a <= b { (a, b) } else { (b, a) };
        let range = EditRange {
            start_line: s.0,
            start_col: s.1,
            end_line: e.0,
            end_col: e.1,
        };
        (Some(range), inserted)
    }

    #[test]
    fn edit_points_count_rows_at_line_feeds_only_across_rope_chunks() {
        // Long enough for many rope chunks; lone `\r` and U+2028 are no rows.
        let text: String = (0..4000)
            .map(|i| match i % 5 {
                0 => "a😀b\r\n",
                1 => "漢字\n",
                2 => "lone\rcr\n",
                3 => "x\u{2028}y\n",
                _ => "\n",
            })
            .collect();
        let rope = Rope::from_str(&text);
        assert!(rope.chunks().count() > 4, "the text spans chunks");
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let a = bounds[rng.random_range(0..bounds.len())];
            let b = bounds[rng.random_range(0..bounds.len())];
            let (a, b) = (a.min(b), a.max(b));
            let expected = TextEdit::replace(&text, a..b, "");
            assert_eq!(
                points(&rope, a, b),
                (expected.start, expected.old_end),
                "bytes {a}..{b}"
            );
        }
        assert_eq!(points(&Rope::new(), 0, 0), ((0, 0), (0, 0)));
    }

    #[test]
    fn a_full_replacement_parses_afresh_and_keystrokes_reuse_the_tree() {
        let (mut tree, mut rope) = opened("a.py", "def f(x):\n    return x\n");
        let enc = Encoding::Utf16;
        for (i, ch) in "    print(x)\n".chars().enumerate() {
            let at = EditRange {
                start_line: 2,
                start_col: i as u32,
                end_line: 2,
                end_col: i as u32,
            };
            let change = [(Some(at), ch.to_string())];
            assert_eq!(
                did_change(&mut tree, &mut rope, &change, enc),
                Reparse::Incremental
            );
        }
        assert_eq!(tree.reparse(&rope), Reparse::Unchanged);
        assert!(tree.current().expect("a tree").outline().contains("call"));
        let whole = [(None, "x = 1\n".to_string())];
        assert_eq!(
            did_change(&mut tree, &mut rope, &whole, enc),
            Reparse::Fresh
        );
        assert_eq!(
            tree.current().expect("a tree").outline(),
            fresh_outline(Lang::Python, &rope)
        );
        assert!(DocTree::for_name("notes.md").is_none());
    }

    #[test]
    fn a_parse_out_of_time_drops_the_tree_and_the_next_edit_parses_afresh() {
        let text: String = (0..3_000)
            .map(|i| format!("def f{i}(a):\n    return [a, {i}]\n"))
            .collect();
        let (mut tree, mut rope) = opened("a.py", &text);
        let enc = Encoding::Utf16;
        let at = EditRange {
            start_line: 1,
            start_col: 4,
            end_line: 1,
            end_col: 4,
        };
        crate::syntax::set_parse_budget_on_this_thread(1);
        let typed = [(Some(at), "x".to_string())];
        let outcome = did_change(&mut tree, &mut rope, &typed, enc);
        crate::syntax::set_parse_budget_on_this_thread(GENEROUS_MICROS);
        assert_eq!(outcome, Reparse::Failed);
        assert!(tree.current().is_none(), "no tree: plain text meanwhile");

        assert_eq!(
            did_change(&mut tree, &mut rope, &typed, enc),
            Reparse::Fresh
        );
        assert_eq!(
            tree.current().expect("a tree").outline(),
            fresh_outline(Lang::Python, &rope)
        );
    }

    #[test]
    fn a_tree_edited_through_random_lsp_changes_equals_a_fresh_parse_of_the_rope() {
        let seed = std::env::var("REDLINE_PROPTEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x1ac_5eed_u64);
        let mut rng = StdRng::seed_from_u64(seed);
        for case in 0..120 {
            let (name, text) = DOCS[case % DOCS.len()];
            let enc = if case % 3 == 0 {
                Encoding::Utf8
            } else {
                Encoding::Utf16
            };
            let lang = Lang::from_path(name).expect("a grammar");
            let (mut tree, mut rope) = opened(name, text);
            for step in 0..10 {
                // What a review took before this change must not move.
                let held = tree.current().cloned().expect("a tree");
                let held_outline = held.outline();
                // Each change of one notification is in the coordinates of
                // the text the earlier ones left.
                let mut probe = rope.clone();
                let changes: Vec<_> = (0..rng.random_range(1..4))
                    .map(|_| {
                        let change = random_change(&mut rng, &probe, enc);
                        apply_edit(&mut probe, change.0, &change.1, enc);
                        change
                    })
                    .collect();
                let outcome = did_change(&mut tree, &mut rope, &changes, enc);
                let full = changes.iter().any(|c| c.0.is_none());
                assert_eq!(
                    outcome,
                    if full {
                        Reparse::Fresh
                    } else {
                        Reparse::Incremental
                    },
                    "seed {seed}, case {case}, step {step}"
                );
                let current = tree.current().expect("a tree");
                assert_eq!(current.text_len(), rope.len_bytes());
                let edited = current.outline();
                assert_eq!(
                    edited,
                    fresh_outline(lang, &rope),
                    "seed {seed}, case {case} ({name}), step {step}: after {changes:?} the text is {:?}",
                    rope.to_string()
                );
                assert_eq!(held.outline(), held_outline, "a held tree moved");
            }
        }
    }
}
