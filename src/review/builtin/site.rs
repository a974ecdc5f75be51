//! Where a rule's match sits in a file, for the judgement a regex cannot
//! make: is it code, a comment or a string literal (through the syntax layer
//! when the language has a grammar, a cheap one-line quote-and-comment
//! scanner otherwise), and is output there intended (an entry point, a
//! write to a stream, a test, a script)? The file's new text is parsed at
//! most once, and only when a rule's pattern matched an added line: most
//! files of a review never pay for a parse. A tree the caller already has
//! (the language server's, edited with the buffer) is read instead.
//!
//! Knows nothing about diffs or findings; never reads anything but the text
//! it is given.

use crate::syntax::{Lang, Parsed, Region};
use globset::GlobSet;
use std::cell::OnceCell;

/// How comments are written in a file without a grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comments {
    /// `#` (shell, YAML, TOML, Makefile, Dockerfile, Perl, R, …).
    Hash,
    /// `//` and `/* */` (PHP, Kotlin, Swift, C#, CSS, …).
    Slash,
    /// `--` (SQL, Lua, Haskell).
    Dash,
    /// `;` (INI, Lisp, assembly).
    Semicolon,
    /// `%` (TeX, Erlang).
    Percent,
    /// `<!-- -->` (HTML, XML).
    Markup,
    /// Prose (Markdown, reStructuredText, text, changelogs): no code at all.
    Prose,
    /// An unknown kind of file: any common marker that opens a comment.
    Unknown,
}

impl Comments {
    pub(super) fn of(path: &str) -> Comments {
        let name = path.rsplit('/').next().unwrap_or(path);
        let upper = name.to_ascii_uppercase();
        let stem = upper.split('.').next().unwrap_or("");
        if matches!(
            stem,
            "CHANGELOG" | "CHANGES" | "NEWS" | "HISTORY" | "RELEASES" | "README" | "AUTHORS"
        ) && !name.contains('.')
        {
            return Comments::Prose;
        }
        if matches!(
            name,
            "Makefile" | "Dockerfile" | "Containerfile" | "CMakeLists.txt"
        ) || name.starts_with("Dockerfile.")
            || name.starts_with('.') && !name[1..].contains('.')
        {
            return Comments::Hash;
        }
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "md" | "markdown" | "mdx" | "rst" | "txt" | "adoc" | "asciidoc" | "org" | "textile"
            | "rdoc" => Comments::Prose,
            "sh" | "bash" | "zsh" | "fish" | "ksh" | "yaml" | "yml" | "toml" | "cfg" | "conf"
            | "properties" | "env" | "r" | "pl" | "pm" | "tcl" | "cmake" | "mk" | "tf" | "hcl"
            | "nix" | "ex" | "exs" | "cr" | "jl" | "ps1" | "py" | "pyi" | "pyw" | "rb" | "rake"
            | "gemspec" | "pyx" | "gitignore" | "dockerignore" | "awk" | "sed" | "bzl" | "star" => {
                Comments::Hash
            }
            "php" | "kt" | "kts" | "swift" | "scala" | "cs" | "dart" | "groovy" | "gradle"
            | "proto" | "zig" | "v" | "sol" | "css" | "scss" | "less" | "vue" | "svelte"
            | "json5" | "jsonc" | "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts"
            | "rs" | "go" | "java" | "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx"
            | "m" | "mm" | "fs" | "fsx" | "d" => Comments::Slash,
            "sql" | "lua" | "hs" | "elm" | "ada" | "adb" | "ads" => Comments::Dash,
            "ini" | "lisp" | "clj" | "cljs" | "el" | "scm" | "asm" | "s" => Comments::Semicolon,
            "tex" | "sty" | "erl" | "hrl" => Comments::Percent,
            "html" | "htm" | "xml" | "svg" | "xhtml" | "vm" => Comments::Markup,
            _ => Comments::Unknown,
        }
    }

    /// Whether a comment opens at byte `i` of `b`.
    fn opens_at(self, b: &[u8], i: usize) -> bool {
        let at = |s: &[u8]| b[i..].starts_with(s);
        let after_space = i == 0 || b[i - 1].is_ascii_whitespace();
        // `//` inside an unquoted URL (`https://…`) or a regular
        // expression's escaped slash (`/^\/\//`) opens nothing.
        let slashes = at(b"//") && (i == 0 || !matches!(b[i - 1], b':' | b'\\'));
        match self {
            Comments::Hash => b[i] == b'#' && after_space,
            Comments::Slash => slashes || at(b"/*"),
            Comments::Dash => at(b"--"),
            Comments::Semicolon => b[i] == b';' && after_space,
            Comments::Percent => b[i] == b'%' && (i == 0 || b[i - 1] != b'\\'),
            Comments::Markup => at(b"<!--"),
            Comments::Prose => false,
            Comments::Unknown => {
                (b[i] == b'#' && after_space) || slashes || at(b"/*") || at(b"<!--")
            }
        }
    }

    /// Whether the whole line is a comment by its first characters (a
    /// `/* … */` block's ` * ` continuation lines included).
    pub(super) fn leads(self, line: &str) -> bool {
        let t = line.trim_start();
        let b = t.as_bytes();
        if b.is_empty() {
            return false;
        }
        match self {
            Comments::Slash => t.starts_with('*') || self.opens_at(b, 0),
            Comments::Unknown => ["//", "#", "/*", "*", "--", ";", "<!--"]
                .iter()
                .any(|p| t.starts_with(p)),
            _ => self.opens_at(b, 0),
        }
    }

    /// The region byte `at` of `line` is in, from that one line: quotes and
    /// comment markers before it. A string or comment that opened on an
    /// earlier line is not seen (the syntax layer sees those).
    pub(super) fn region(self, line: &str, at: usize) -> Region {
        if self == Comments::Prose || self.leads(line) {
            return Region::Comment;
        }
        self.region_after_lead(line, at)
    }

    /// [`Comments::region`] without judging the line by its first
    /// characters alone: for a line known to be outside any block comment,
    /// where a leading `*` is a dereference, not a comment's continuation.
    fn region_after_lead(self, line: &str, at: usize) -> Region {
        let b = line.as_bytes();
        let mut quote: Option<u8> = None;
        let mut i = 0;
        while i < at.min(b.len()) {
            let c = b[i];
            match quote {
                Some(_) if c == b'\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if matches!(c, b'"' | b'\'' | b'`') => quote = Some(c),
                None if self.opens_at(b, i) => return Region::Comment,
                None => {}
            }
            i += 1;
        }
        if quote.is_some() {
            Region::String
        } else {
            Region::Code
        }
    }
}

/// One file's new text as the rules see it.
pub(super) struct Site<'a> {
    path: &'a str,
    text: &'a str,
    lines: &'a [&'a str],
    comments: Comments,
    lang: Option<Lang>,
    /// A parse of the whole text the caller already had.
    kept: Option<&'a Parsed>,
    parsed: OnceCell<Option<Parsed>>,
    /// Bytes of the text the parse covers (see [`Site::judge_through`]).
    parse_end: std::cell::Cell<usize>,
    /// Whether the whole file prints on purpose (see `prints_on_purpose`).
    script: OnceCell<bool>,
    /// Lints the file switches off for all of it (see [`file_lint_off`]).
    lint_off: OnceCell<String>,
    /// Byte ranges a construct that spans lines may cover (see
    /// [`Site::in_comment`]).
    spans: OnceCell<Vec<(usize, usize)>>,
}

/// The byte ranges of `text` that constructs of `lang` spanning lines may
/// cover, sorted: each runs from an opening delimiter to its closer (or the
/// end of the text). A Ruby file with a heredoc or `=begin` is one span.
fn spanning(lang: Lang, text: &str) -> Vec<(usize, usize)> {
    let pairs: &[(&str, &str)] = match lang {
        Lang::Python => &[("\"\"\"", "\"\"\""), ("'''", "'''")],
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx | Lang::Go => &[("/*", "*/"), ("`", "`")],
        Lang::Rust => &[("/*", "*/"), ("r#\"", "\"#"), ("r\"", "\"")],
        Lang::Java => &[("/*", "*/"), ("\"\"\"", "\"\"\"")],
        Lang::C | Lang::Cpp => &[("/*", "*/"), ("R\"", "\"")],
        Lang::Ruby => {
            let heredoc = ["=begin", "<<~", "<<-", "<<'", "<<\"", "%q", "%Q", "%w"]
                .iter()
                .any(|d| text.contains(d));
            return if heredoc {
                vec![(0, text.len())]
            } else {
                Vec::new()
            };
        }
    };
    // An opener that starts with a letter (`r"`, `R"`) must start a word;
    // a block comment's must not be quoted or commented out on its line
    // (`"src/**/*.rs"`, `// a /* b`).
    let next = |open: &str, mut from: usize| loop {
        let at = from + text[from..].find(open)?;
        let b = text.as_bytes();
        let skip = if open.as_bytes()[0].is_ascii_alphabetic() {
            at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_')
        } else if open == "/*" {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            Comments::Slash.region_after_lead(&text[line_start..], at - line_start) != Region::Code
        } else {
            false
        };
        if !skip {
            return Some(at);
        }
        from = at + 1;
    };
    // The next place of each opener, found again only once passed.
    let mut ahead: Vec<Option<usize>> = pairs.iter().map(|&(o, _)| next(o, 0)).collect();
    let mut spans = Vec::new();
    let mut from = 0;
    loop {
        for (slot, &(open, _)) in ahead.iter_mut().zip(pairs) {
            if slot.is_some_and(|at| at < from) {
                *slot = next(open, from);
            }
        }
        let Some((at, k)) = ahead
            .iter()
            .enumerate()
            .filter_map(|(k, a)| a.map(|a| (a, k)))
            .min()
        else {
            break;
        };
        let (open, close) = pairs[k];
        let body = at + open.len();
        let end = text[body..]
            .find(close)
            .map_or(text.len(), |i| body + i + close.len());
        // A string that opens and closes on one line, with no comment
        // marker or backslash inside (a raw string's `\` escapes nothing),
        // is read rightly by the line alone (a block comment never is:
        // what follows its end is code).
        let within_line = open != "/*" && {
            let inside = text.get(body..end - close.len()).unwrap_or("\n");
            !["\n", "\\", "//", "/*", "#"]
                .iter()
                .any(|m| inside.contains(m))
        };
        if !within_line {
            spans.push((at, end));
        }
        from = end;
    }
    spans
}

/// How far past the last line asked about a top-level line is looked for.
const PARSE_SEARCH_LINES: usize = 400;

/// A line that starts a new top-level item: text in the first column that
/// does not close a bracket or continue the block above (`else`, `elif`,
/// `except`, `finally`, `end`, a decorator's item).
fn starts_top_level(line: &str) -> bool {
    let Some(first) = line.chars().next() else {
        return false;
    };
    !first.is_whitespace()
        && !matches!(first, '}' | ')' | ']' | '#' | '@' | '/' | '*')
        && !["else", "elif", "except", "finally", "end", "catch"]
            .iter()
            .any(|w| line.starts_with(w))
}

impl<'a> Site<'a> {
    /// `lines` must be `crate::diff::lines(text)`: slices of `text`.
    pub(super) fn new(path: &'a str, text: &'a str, lines: &'a [&'a str]) -> Self {
        Self {
            path,
            text,
            lines,
            comments: Comments::of(path),
            lang: Lang::from_path(path),
            kept: None,
            parsed: OnceCell::new(),
            parse_end: std::cell::Cell::new(text.len()),
            script: OnceCell::new(),
            lint_off: OnceCell::new(),
            spans: OnceCell::new(),
        }
    }

    /// Reads `kept`, a parse of the whole text (see
    /// `FileChange::tree`), instead of parsing.
    pub(super) fn with_tree(mut self, kept: Option<&'a Parsed>) -> Self {
        self.kept = kept.filter(|p| Some(p.lang()) == self.lang);
        self
    }

    /// Rules will ask about line `index` at most: the parse may stop a few
    /// lines after it. Regions and the code around a line depend on what
    /// comes before it; most of a long file after the last finding is never
    /// read. Call before the first question.
    ///
    /// The cut is made before the next top-level line (one that starts in
    /// the first column and does not close a bracket or continue a block):
    /// a parse that stops between two items needs no error recovery, one
    /// that stops inside a function spends its time recovering. A prefix
    /// that does not parse cleanly is parsed again whole.
    pub(super) fn judge_through(&self, index: usize) {
        let next_top_level = (index + 1..self.lines.len().min(index + 1 + PARSE_SEARCH_LINES))
            .find(|&i| starts_top_level(self.lines[i]));
        if let Some(i) = next_top_level {
            self.parse_end.set(self.line_offset(i));
        }
    }

    pub(super) fn is_prose(&self) -> bool {
        self.comments == Comments::Prose
    }

    /// Byte offset of line `index` in the text. Lines are slices of the
    /// text, so their distance from its start is their offset.
    fn line_offset(&self, index: usize) -> usize {
        let line = self.lines[index];
        let offset = (line.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        debug_assert!(offset <= self.text.len(), "lines are slices of the text");
        offset.min(self.text.len())
    }

    fn parsed(&self) -> Option<&Parsed> {
        if let Some(kept) = self.kept {
            return Some(kept);
        }
        self.parsed
            .get_or_init(|| {
                let lang = self.lang?;
                let end = self.parse_end.get().min(self.text.len());
                let mut parsed = Parsed::parse(lang, self.text.get(..end).unwrap_or(self.text));
                // A cut that left something open (a string or a block that
                // a first-column line continues) changes what came before
                // it: then the whole text is parsed.
                if end < self.text.len() && parsed.as_ref().is_none_or(|p| p.has_errors()) {
                    parsed = Parsed::parse(lang, self.text);
                }
                if parsed.is_none() {
                    tracing::debug!(path = self.path, "parse gave up; plain-text rules");
                }
                parsed
            })
            .as_ref()
    }

    /// What kind of text byte `at` of line `index` is in.
    pub(super) fn region(&self, index: usize, at: usize) -> Region {
        match self.parsed() {
            Some(parsed) => parsed.region_at(self.line_offset(index) + at),
            None => self.comments.region(self.lines[index], at),
        }
    }

    /// Whether byte `at` of line `index` is in a comment (a Python
    /// docstring included). The line alone answers unless a construct that
    /// spans lines may touch it (a block comment, a docstring, a template or
    /// raw string, a heredoc): then the parse does, so most files with a
    /// secret-looking line in code are never parsed for it.
    pub(super) fn in_comment(&self, index: usize, at: usize) -> bool {
        // (A file without a grammar is read by its lines in any case.)
        if self.lang.is_some() && !self.may_span_lines(index) {
            return self.in_line_comment(index, at);
        }
        self.region(index, at) == Region::Comment
    }

    /// Whether byte `at` of line `index` is in a comment, by the line
    /// alone (a comment's line, or one after code).
    pub(super) fn in_line_comment(&self, index: usize, at: usize) -> bool {
        let line = self.lines[index];
        // Outside a block comment a leading `*` is a dereference.
        let lead = !line.trim_start().starts_with('*') && self.comments.leads(line);
        lead || self.comments.region_after_lead(line, at) == Region::Comment
    }

    /// Whether the file's language has strings spanning lines told by
    /// their delimiters alone (`"""`, `'''`, backquotes; a Rust or C
    /// file's `r"`/`R"` is in every other line).
    pub(super) fn may_hold_text(&self) -> bool {
        matches!(
            self.lang,
            Some(
                Lang::Python
                    | Lang::JavaScript
                    | Lang::TypeScript
                    | Lang::Tsx
                    | Lang::Go
                    | Lang::Java
            )
        )
    }

    /// Whether byte `at` of line `index` is inside a string or comment
    /// opened on a line above (a docstring, a template literal; not
    /// `"api_key" =>` in an array). The delimiters say whether it may be
    /// (a stray backquote in a minified bundle opens no string), the parse
    /// whether it is.
    pub(super) fn inside_text_block(&self, index: usize, at: usize) -> bool {
        let spans = self.spans();
        let start = self.line_offset(index);
        let i = spans.partition_point(|&(s, _)| s < start);
        if i == 0 || spans[i - 1].1 <= start + self.lines[index].len() {
            return false;
        }
        match self.region(index, at) {
            Region::Comment => true,
            // The line above's end (its line break) is in the string too.
            Region::String => {
                index > 0 && self.region(index - 1, self.lines[index - 1].len()) == Region::String
            }
            Region::Code => false,
        }
    }

    fn spans(&self) -> &[(usize, usize)] {
        self.spans
            .get_or_init(|| self.lang.map_or_else(Vec::new, |l| spanning(l, self.text)))
    }

    /// Whether line `index` overlaps a construct that may span lines, found
    /// by its delimiters alone (one inside a string widens the doubt, which
    /// costs a parse, never a wrong answer).
    fn may_span_lines(&self, index: usize) -> bool {
        let line = self.lines[index];
        // A Python string that is a statement of its own is a docstring.
        if self.lang == Some(Lang::Python)
            && line
                .trim_start()
                .trim_start_matches(|c: char| "rRbBuUfF".contains(c))
                .starts_with(['"', '\''])
        {
            return true;
        }
        let spans = self.spans();
        let start = self.line_offset(index);
        let end = start + line.len();
        // Spans are sorted and do not overlap: the last one starting
        // before the line's end is the only one that can reach into it.
        let i = spans.partition_point(|&(s, _)| s < end);
        i > 0 && spans[i - 1].1 >= start
    }

    /// The text of the call around byte `at` of line `index` (the rest of
    /// the line when the file has no tree).
    pub(super) fn call_text(&self, index: usize, at: usize) -> &'a str {
        self.enclosing_text(index, at, &["call", "call_expression"])
    }

    /// The text of the smallest syntax node of a kind in `kinds` around
    /// byte `at` of line `index`; the rest of the line when the file has no
    /// tree.
    fn enclosing_text(&self, index: usize, at: usize, kinds: &[&str]) -> &'a str {
        let offset = self.line_offset(index) + at;
        if let Some(parsed) = self.parsed() {
            if let Some((_, range)) = parsed
                .ancestors(offset)
                .into_iter()
                .find(|(k, _)| kinds.contains(k))
            {
                return self.text.get(range).unwrap_or("");
            }
        }
        self.lines[index].get(at..).unwrap_or("")
    }

    /// The whole macro call (or the rest of the line) around byte `at` of
    /// line `index` uses debug formatting: `{:?}`, `{x:#?}`, `{:>8?}`.
    pub(super) fn formats_for_debugging(&self, index: usize, at: usize) -> bool {
        let call = self.enclosing_text(index, at, &["macro_invocation"]);
        has_debug_placeholder(call)
    }

    /// Output at byte `at` of line `index` is what the code is for, not a
    /// debugging leftover: a path where printing is the point, a script
    /// (a `#!` line, a `__main__` guard, a Rust binary), an entry point or
    /// command (`main()` of a command-line program, `list_command`,
    /// `print_usage`), output behind a guard (`if verbose:`, `if
    /// __name__ == "__main__":`, `verbose && console.log(…)`), a write to a
    /// chosen stream (`print(…, file=…)`), a message for users (`Usage:`,
    /// `Warning:`, "deprecated"), a Rust `#[test]` whose point is to print.
    pub(super) fn intended_output(&self, index: usize, at: usize, output_paths: &GlobSet) -> bool {
        if output_paths.is_match(self.path)
            || self.prints_on_purpose()
            || self.exits_after(index)
            || self.expected_to_throw(index, at)
            || self.reports_a_failure(index, at)
        {
            return true;
        }
        let line = self.lines[index];
        let offset = self.line_offset(index) + at;
        let Some(parsed) = self.parsed() else {
            let call = line.get(at..).unwrap_or("");
            return (self.lang == Some(Lang::Python) && writes_to_stream(call))
                || prints_a_blank_line(call)
                || addresses_users(call)
                || says_a_sentence(call)
                || colours(call);
        };
        let mut first_call = true;
        for (kind, range) in parsed.ancestors(offset) {
            let node = self.text.get(range.clone()).unwrap_or("");
            let head = node.lines().next().unwrap_or("");
            match kind {
                "call" | "call_expression" | "macro_invocation" if first_call => {
                    first_call = false;
                    if (self.lang == Some(Lang::Python) && writes_to_stream(node))
                        || prints_a_blank_line(node)
                        || addresses_users(node)
                        || forwards_arguments(node)
                        || says_a_sentence(node)
                        || colours(node)
                    {
                        return true;
                    }
                }
                "if_statement" | "if_expression" if is_output_guard(head) => return true,
                // `verbose && console.log(…)`, `DEBUG and print(…)`
                "binary_expression" | "boolean_operator" => {
                    let before = node.get(..offset.saturating_sub(range.start)).unwrap_or("");
                    if is_output_guard(before) {
                        return true;
                    }
                }
                "function_definition"
                | "function_item"
                | "function_declaration"
                | "method_definition"
                | "generator_function_declaration" => {
                    let name = function_name(head);
                    if is_command_name(name) || (name == "main" && self.is_command_line_program()) {
                        return true;
                    }
                    if kind == "function_item" && self.marked_as_test(range.start) {
                        // A test that only prints (`fn print_hostname`) prints
                        // on purpose; otherwise a test's print is a leftover.
                        if node.matches(';').count() <= 1 {
                            return true;
                        }
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// The project's own linter was told to allow what rule `rule` reports
    /// on line `index`: `// eslint-disable-next-line no-console`, `# noqa:
    /// T201`, `#[allow(clippy::print_stdout)]`, a file-wide `/* eslint-disable
    /// no-console */`. Someone decided the line stays; a bare marker
    /// (`# noqa`, `// eslint-disable-line`) allows every rule.
    pub(super) fn linter_allows(&self, index: usize, rule: &str) -> bool {
        let names = linter_names(rule);
        if names.is_empty() {
            return false;
        }
        let own = self.lines[index];
        let above = index.checked_sub(1).map(|i| self.lines[i]).unwrap_or("");
        let off = self.lint_off.get_or_init(|| file_lint_off(self.text));
        LINE_MARKERS.iter().any(|m| marker_allows(own, m, names))
            || NEXT_LINE_MARKERS
                .iter()
                .any(|m| marker_allows(above, m, names))
            || off.split(' ').any(|w| w == "*" || names.contains(&w))
    }

    /// The output on line `index` is followed, in its block, by the
    /// program's exit (`sys.exit(1)`, `process.exit(1)`, `os.Exit(2)`):
    /// a message for the user who ran it, not a leftover.
    fn exits_after(&self, index: usize) -> bool {
        let indent = |l: &str| l.len() - l.trim_start().len();
        let Some(own) = self.lines.get(index).map(|l| indent(l)) else {
            return false;
        };
        for line in self.lines.iter().skip(index + 1).take(8) {
            let t = line.trim_start();
            if t.is_empty() {
                continue;
            }
            // The block ends; the program may still exit right after it
            // (`for p in paths: print(p)` then `sys.exit(1)`).
            let ends_block = indent(line) < own;
            if [
                "sys.exit(",
                "process.exit(",
                "os.Exit(",
                "std::process::exit(",
                "process::exit(",
                "raise SystemExit",
                "exit(",
            ]
            .iter()
            .any(|e| t.starts_with(e))
            {
                return true;
            }
            if ends_block {
                return false;
            }
        }
        false
    }

    /// An error handler tells its reader what failed: the output's first
    /// literal says "error" or "failed" and the line or the one above
    /// catches the error (`server.on('error', err => console.log('Server
    /// error', err))`, `catch (e) {`, `except OSError:`), outside tests.
    fn reports_a_failure(&self, index: usize, at: usize) -> bool {
        // A test's handler printing the error is a leftover like any print
        // in a test.
        if super::is_test_code(self.path) {
            return false;
        }
        let call = self.lines[index].get(at..).unwrap_or("");
        let Some(open) = call.find(['"', '\'', '`']) else {
            return false;
        };
        let quote = call[open..].chars().next().unwrap_or('"');
        let literal = call[open + 1..].split(quote).next().unwrap_or("");
        let says = literal.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "error" | "failed" | "failure"
            )
        });
        if !says {
            return false;
        }
        let above = self.lines[..index]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let own = self.lines[index].get(..at).unwrap_or("");
        [own, above].iter().any(|l| {
            l.contains("catch")
                || l.starts_with("except")
                || l.contains("'error'")
                || l.contains("\"error\"")
                || l.contains("if err != nil")
        })
    }

    /// A test evaluates the output's argument for the error it must raise:
    /// `t.throws(() => console.log(tpl\`{bad}\`))`, or `console.log(…)` then
    /// `t.fail()` in a `try` block. The print is only the vehicle.
    fn expected_to_throw(&self, index: usize, at: usize) -> bool {
        let line = self.lines[index];
        let before = line.get(..at).unwrap_or("");
        if ["throws(", "toThrow", "rejects(", "raises("]
            .iter()
            .any(|w| before.contains(w))
        {
            return true;
        }
        let next = self
            .lines
            .iter()
            .skip(index + 1)
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("");
        [
            "t.fail(",
            "assert.fail(",
            "expect.fail(",
            "fail(",
            "self.fail(",
            "pytest.fail(",
            "assert False",
            "throw new Error(",
        ]
        .iter()
        .any(|f| next.starts_with(f))
    }

    /// The whole file prints on purpose: a script, a test that checks its
    /// output or asserts nothing, a JavaScript command-line module. Judged
    /// once per file, however many prints it has.
    fn prints_on_purpose(&self) -> bool {
        *self.script.get_or_init(|| {
            self.is_script()
                || self.checks_its_output()
                || self.is_test_without_assertions()
                || matches!(
                    self.lang,
                    Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx)
                ) && self.is_command_line_program()
        })
    }

    /// A test that captures what is printed and checks it: output there is
    /// the thing under test (`vi.spyOn(console, 'log')`, `expect(console.log)`,
    /// pytest's `capsys`, `redirect_stdout`).
    fn checks_its_output(&self) -> bool {
        let markers: &[&str] = match self.lang {
            Some(Lang::Python) => &[
                "capsys",
                "capfd",
                "redirect_stdout",
                "redirect_stderr",
                // click's and typer's test runners capture a command's output.
                "CliRunner",
                "runner.invoke(",
            ],
            Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx) => &[
                "spyOn(console",
                "expect(console.",
                "console.log = ",
                "console.debug = ",
                "stubGlobal('console'",
                "stubGlobal(\"console\"",
                // A helper that runs a callback and hands back what it
                // logged (`checkUsage(() => …)` then `r.logs.should…`).
                "checkOutput(",
                "checkUsage(",
                "captureOutput(",
                "captureStdout(",
                "captureConsole(",
                "interceptStdout(",
                "mockConsole(",
                ".logs.should",
                ".logs).to",
            ],
            _ => &[],
        };
        markers.iter().any(|m| self.text.contains(m))
    }

    /// A test file that asserts nothing: a type test that only has to
    /// compile (`test/typescript/axios.ts`) or a smoke script whose output
    /// is its report.
    fn is_test_without_assertions(&self) -> bool {
        const ASSERTIONS: &[&str] = &[
            "assert",
            "expect(",
            "should",
            "t.is(",
            "t.true(",
            "t.false(",
            "t.deepEqual(",
            "t.throws",
            "t.like(",
            "t.snapshot(",
            "t.equal(",
            "t.ok(",
            "t.fail(",
            "raises(",
        ];
        matches!(
            self.lang,
            Some(Lang::Python | Lang::JavaScript | Lang::TypeScript | Lang::Tsx)
        ) && super::is_test_code(self.path)
            && !ASSERTIONS.iter().any(|a| self.text.contains(a))
    }

    /// The file is part of an example (an `examples/` or `example/` folder).
    pub(super) fn in_examples(&self) -> bool {
        self.path
            .split('/')
            .rev()
            .skip(1)
            .any(|d| d.eq_ignore_ascii_case("examples") || d.eq_ignore_ascii_case("example"))
    }

    /// The file uses a command-line parser or reads its arguments: its
    /// `main()` is an entry point.
    fn is_command_line_program(&self) -> bool {
        let markers: &[&str] = match self.lang {
            Some(Lang::Python) => &[
                "import argparse",
                "from argparse",
                "import click",
                "from click",
                "import typer",
                "from typer",
                "import fire",
                "import docopt",
                "from docopt",
                "import optparse",
                "sys.argv",
            ],
            Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx) => &[
                "process.argv",
                "'commander'",
                "\"commander\"",
                "'yargs",
                "\"yargs",
                "'meow'",
                "\"meow\"",
                "'minimist'",
                "\"minimist\"",
                "'cac'",
                "\"cac\"",
                "'mri'",
                "\"mri\"",
                "'sade'",
                "\"sade\"",
                "'@clack/prompts'",
                "\"@clack/prompts\"",
                "'prompts'",
                "\"prompts\"",
                "'inquirer'",
                "\"inquirer\"",
                "'enquirer'",
                "\"enquirer\"",
                "node:util').parseArgs",
                "parseArgs(",
            ],
            _ => &[],
        };
        markers.iter().any(|m| self.text.contains(m))
    }

    /// A Rust item at byte `start` carries a test attribute (`#[test]`,
    /// `#[cfg(test)]`, `#[tokio::test]`, `#[bench]`) on the lines above it.
    fn marked_as_test(&self, start: usize) -> bool {
        let before = &self.text[..start.min(self.text.len())];
        let mut lines = before.lines().rev();
        // The item's own line up to its start may hold an attribute too.
        let mut current = lines.next();
        while let Some(line) = current {
            let t = line.trim();
            if t.starts_with("#[") && (t.contains("test") || t.contains("bench")) {
                return true;
            }
            if !(t.is_empty() || t.starts_with("#[") || t.starts_with("//")) {
                return false;
            }
            current = lines.next();
        }
        false
    }

    /// A program whose job is its output: a `#!` line, a Python
    /// `if __name__ == "__main__":` at the top level, a JavaScript
    /// `require.main === module`, a Rust `fn main` at the top level.
    fn is_script(&self) -> bool {
        if self.text.starts_with("#!") {
            return true;
        }
        let top_level = |marker: &str| {
            self.text.starts_with(marker) || self.text.contains(&format!("\n{marker}"))
        };
        match self.lang {
            // A module whose top level ends the program (`sys.exit(…)`
            // in the first column) runs as a script.
            Some(Lang::Python) => {
                top_level("if __name__ ==")
                    || top_level("sys.exit(")
                    || top_level("raise SystemExit")
            }
            // So does a module that exports nothing and ends the program
            // (`process.exit(2)` after a failed check): a script run with
            // `node`, not a library (a CLI framework's `process.exit` sits
            // in a module that exports).
            Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx) => {
                self.text.contains("require.main === module")
                    || (self.text.contains("process.exit(")
                        && !top_level("export ")
                        && !self.text.contains("module.exports")
                        && !self.text.contains("exports."))
            }
            Some(Lang::Rust) => top_level("fn main(") || top_level("async fn main("),
            _ => false,
        }
    }
}

/// What linters call the debugging and dangerous-call rules, lower-cased as
/// their suppression comments name them (ESLint/Oxlint/Deno, Biome,
/// Ruff/flake8, Bandit, Pylint, Clippy, RuboCop).
fn linter_names(rule: &str) -> &'static [&'static str] {
    match rule {
        "debug-console-log" => &["no-console", "noconsole", "noconsolelog"],
        "debug-debugger-statement" => &["no-debugger", "nodebugger"],
        "debug-print" => &["t201", "t203"],
        "debug-breakpoint" => &["t100", "lint/debugger"],
        "debug-print-macro" => &["print_stdout", "print_stderr", "use_debug"],
        "debug-dbg-macro" => &["dbg_macro"],
        // Ruff/flake8-bandit, Bandit, Pylint and ESLint security rules.
        "danger-eval" => &["s307", "b307", "eval-used", "no-eval", "no-implied-eval"],
        "danger-exec" => &[
            "s102",
            "b102",
            "s605",
            "b605",
            "exec-used",
            "detect-child-process",
        ],
        "danger-shell-true" => &["s602", "s604", "b602", "b604"],
        "danger-pickle-loads" => &["s301", "b301"],
        "danger-sql-string" => &["s608", "b608"],
        _ => &[],
    }
}

/// Suppression markers that cover their own line.
const LINE_MARKERS: &[&str] = &[
    "eslint-disable-line",
    "oxlint-disable-line",
    "tslint:disable-line",
    "noqa",
    "nosec",
    "rubocop:disable",
];

/// Suppression markers that cover the line below them.
const NEXT_LINE_MARKERS: &[&str] = &[
    "eslint-disable-next-line",
    "oxlint-disable-next-line",
    "tslint:disable-next-line",
    "biome-ignore",
    "deno-lint-ignore",
];

/// `line` carries `marker` naming one of `names`, or naming no rule at all.
fn marker_allows(line: &str, marker: &str, names: &[&str]) -> bool {
    let lower = line.to_ascii_lowercase();
    let Some(at) = lower.find(marker) else {
        return false;
    };
    // `eslint-disable-line` is not `eslint-disable-line-foo`; `noqa` is a
    // word of its own.
    let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
    let rest = &lower[at + marker.len()..];
    if !before_ok || rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-') {
        return false;
    }
    // The rule list ends where the comment or its ` -- reason` does.
    let list = rest
        .split("*/")
        .next()
        .unwrap_or("")
        .split(" -- ")
        .next()
        .unwrap_or("")
        .trim_start_matches(':');
    let listed: Vec<&str> = list
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    listed.is_empty() || listed.iter().any(|w| names.iter().any(|n| w.ends_with(n)))
}

/// The lints `text` switches off for the whole file, space-separated (`*`
/// for all): `/* eslint-disable no-console */`, `/* eslint no-console: 0 */`,
/// `// deno-lint-ignore-file`, `# ruff: noqa: T201`, `# flake8: noqa`,
/// `#![allow(clippy::print_stdout)]` — and a Rust `#[allow(…)]` on an item,
/// which only code that prints on purpose carries.
fn file_lint_off(text: &str) -> String {
    let mut off = String::new();
    let mut add = |list: &str, blanket_if_empty: bool| {
        let words: Vec<&str> = list
            .split(|c: char| {
                c.is_whitespace()
                    || c == ','
                    || c == ':'
                    || c == '('
                    || c == ')'
                    || c == '"'
                    || c == '\''
            })
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() && blanket_if_empty {
            off.push_str(" *");
        }
        for w in words {
            off.push(' ');
            off.push_str(w);
        }
    };
    for line in text.lines() {
        let lower = line.trim().to_ascii_lowercase();
        let comment_body = lower
            .trim_start_matches(['/', '*', '#', ' '])
            .trim_end_matches(['/', '*', ' ']);
        for marker in [
            "eslint-disable",
            "oxlint-disable",
            "tslint:disable",
            "deno-lint-ignore-file",
            "biome-ignore-all",
        ] {
            if let Some(rest) = comment_body.strip_prefix(marker) {
                if rest.is_empty() || rest.starts_with(' ') {
                    add(rest.split(" -- ").next().unwrap_or(""), true);
                }
            }
        }
        if let Some(rest) = comment_body.strip_prefix("eslint ") {
            // `/* eslint no-console: "off" */`
            if rest.contains("off") || rest.contains(": 0") {
                add(rest, false);
            }
        }
        for marker in ["ruff: noqa", "flake8: noqa"] {
            if let Some(rest) = comment_body.strip_prefix(marker) {
                add(rest, true);
            }
        }
        if (lower.starts_with("#![allow(")
            || lower.starts_with("#[allow(")
            || lower.starts_with("#![expect(")
            || lower.starts_with("#[expect("))
            && lower.contains("clippy::")
        {
            add(&lower, false);
        }
    }
    off
}

/// A condition that makes output opt-in or marks an entry point: it
/// mentions verbosity or debugging (`if verbose:`, `if (DEBUG)`, `verbose
/// &&`), or it is a script's entry guard (`__name__`, `!module.parent`,
/// `require.main`).
fn is_output_guard(condition: &str) -> bool {
    let lower = condition.to_ascii_lowercase();
    [
        "verbose",
        "debug",
        "silent",
        "quiet",
        "__name__",
        "module.parent",
        "require.main",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// A function's name from its first line (`def name(`, `fn name(`,
/// `function name(`, a method `name(`).
fn function_name(head: &str) -> &str {
    let before_paren = head.split('(').next().unwrap_or("");
    before_paren
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .next()
        .unwrap_or("")
}

/// A function named for its output: a command handler (`list_command`,
/// `cmd_show`), a routine that prints (`print_usage`, `show_help`,
/// `dump_tree`, `display_results`, `usage`), or the program's own small
/// logger (`def log(msg)`, `function info(…)`, `warn`, `echo`).
fn is_command_name(name: &str) -> bool {
    let name = name.trim_start_matches('_').to_ascii_lowercase();
    if matches!(
        name.as_str(),
        "log" | "info" | "warn" | "warning" | "echo" | "say" | "note" | "status" | "notice"
    ) {
        return true;
    }
    ["_command", "_cmd", "usage", "_help"]
        .iter()
        .any(|s| name.ends_with(s))
        || [
            "cmd_", "command_", "print", "show", "display", "dump", "usage",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Output whose text is addressed to users: its first string says `Usage:`,
/// `Warning:`, `Error:`, that something is deprecated, or is a server's
/// start-up banner ("listening on port 3000").
fn addresses_users(call: &str) -> bool {
    let Some(open) = call.find(['"', '\'', '`']) else {
        return false;
    };
    let text = call[open..]
        .trim_start_matches(['"', '\'', '`'])
        .trim_start_matches(['\\', 'n', ' '])
        .to_ascii_lowercase();
    ["usage", "warning", "error", "deprecat"]
        .iter()
        .any(|w| text.starts_with(w))
        || [
            "deprecated",
            "listening on",
            "listening at",
            "started on",
            "running on",
            "running at",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// Output of nothing but a line break (`print()`, `console.log('')`,
/// `println!()`): spacing laid out for a reader; nobody debugs with it.
fn prints_a_blank_line(call: &str) -> bool {
    let Some(open) = call.find(['(', '[', '{']) else {
        return false;
    };
    // `console.trace()` prints where it was called from.
    if call[..open].ends_with("trace") {
        return false;
    }
    let args = call[open + 1..].trim_end().trim_end_matches(';');
    let args = args.strip_suffix([')', ']', '}']).unwrap_or(args).trim();
    let inner = args
        .strip_prefix(['"', '\'', '`'])
        .and_then(|a| a.strip_suffix(['"', '\'', '`']))
        .unwrap_or(args);
    (args.is_empty() || inner.len() < args.len()) && matches!(inner, "" | "\\n")
}

/// The output's literal text is a sentence for a reader (`'✓ Creating
/// build backup...'`, `f"Upload progress {n} of {total} bytes"`): three
/// words or more outside any interpolation. A debugging print shows values
/// with a label at most (`'data', data`, `f"x={x}"`, `'here'`).
fn says_a_sentence(call: &str) -> bool {
    let Some(open) = call.find('(') else {
        return false;
    };
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    // Interpolation depth inside the current string (`${…}`, `{…}`).
    let mut inner = 0usize;
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in call[open + 1..].chars() {
        let in_text = quote.is_some() && inner == 0;
        if in_text && c.is_alphabetic() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        match quote {
            Some(q) if inner == 0 => {
                if c == q && prev != '\\' {
                    quote = None;
                } else if c == '{' && (prev == '$' || q != '`') {
                    inner = 1;
                }
            }
            Some(_) => match c {
                '{' => inner += 1,
                '}' => inner -= 1,
                _ => {}
            },
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => break,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            },
        }
        prev = c;
    }
    words.push(word);
    words.retain(|w| w.chars().count() >= 2);
    // "got here", "reached the loop": a debugging trace, however worded.
    const TRACE: &[&str] = &[
        "here",
        "debug",
        "debugging",
        "reached",
        "xxx",
        "foo",
        "bar",
        "wtf",
    ];
    if words.iter().any(|w| TRACE.contains(&w.as_str())) {
        return false;
    }
    let words = words.len();
    // A progress line (`'✓ Running tests...'`, `'→ Copying files…'`) is
    // for a reader too.
    let literal = call[open + 1..]
        .trim_start()
        .trim_start_matches(['\'', '"', '`']);
    let status = literal.starts_with(['✓', '✔', '✗', '✖', '→', '•', '⚠', 'ℹ', '√', '×']);
    words >= 3 || words >= 2 && status || words >= 1 && literal_ends_in_ellipsis(call)
}

/// The call's last string ends in `...` or `…` (`f"Installing {req}..."`):
/// a line announcing what the program does next.
fn literal_ends_in_ellipsis(call: &str) -> bool {
    ["...'", "...\"", "...`", "…'", "…\"", "…`"]
        .iter()
        .any(|e| call.contains(e))
}

/// Output painted for a terminal (`chalk.green(…)`, `pc.bold(…)`,
/// `Fore.RED + …`, `colored(…)`, an ANSI escape): someone styled it for the
/// person reading it.
fn colours(call: &str) -> bool {
    [
        "chalk.",
        "chalk`",
        "kleur.",
        "colors.",
        "picocolors",
        "colorette",
        "pc.",
        "styleText(",
        "Fore.",
        "Style.",
        "colored(",
        "termcolor",
    ]
    .iter()
    .chain(super::ANSI_ESCAPES)
    .any(|m| call.contains(m))
}

/// A call that passes its caller's arguments on (`console.debug('[app]',
/// ...args)`): a logger's adapter, not a leftover.
fn forwards_arguments(call: &str) -> bool {
    let b = call.as_bytes();
    call.match_indices("...").any(|(i, _)| {
        let before = call[..i].trim_end();
        let after = b.get(i + 3).copied().unwrap_or(b' ');
        (before.ends_with('(') || before.ends_with(','))
            && (after.is_ascii_alphabetic() || after == b'_' || after == b'$')
    })
}

/// `print(…, file=…)`: output sent to a chosen stream (stderr, a file).
fn writes_to_stream(call: &str) -> bool {
    let b = call.as_bytes();
    call.match_indices("file").any(|(i, _)| {
        let before_ok = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        before_ok
            && call[i + 4..].trim_start().starts_with('=')
            && !call[i + 4..].trim_start().starts_with("==")
    })
}

/// A format string placeholder asking for `Debug`: `{:?}`, `{x:?}`,
/// `{:#?}`, `{0:>10?}`, `{:x?}`; `{{:?}}` is literal text.
fn has_debug_placeholder(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            if b.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            let Some(len) = b[i + 1..].iter().position(|&c| c == b'}') else {
                return false;
            };
            let inner = &text[i + 1..i + 1 + len];
            if let Some((_, spec)) = inner.split_once(':') {
                if spec.ends_with('?') && !spec.contains(['{', ' ', '"']) {
                    return true;
                }
            }
            i += len + 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_scanner_tells_code_strings_and_comments_apart() {
        let r = |c: Comments, line: &str, needle: &str| {
            c.region(line, line.find(needle).expect("needle"))
        };
        assert_eq!(r(Comments::Hash, "x=1 # TODO", "TODO"), Region::Comment);
        assert_eq!(r(Comments::Hash, "echo \"# TODO\"", "TODO"), Region::String);
        assert_eq!(r(Comments::Hash, "curl a#b TODO", "TODO"), Region::Code);
        assert_eq!(
            r(Comments::Slash, "$a = 'eval(x)';", "eval"),
            Region::String
        );
        assert_eq!(
            r(Comments::Slash, "eval($x); // eval", "eval"),
            Region::Code
        );
        assert_eq!(r(Comments::Slash, " * TODO later", "TODO"), Region::Comment);
        assert_eq!(
            r(Comments::Slash, "u = http://x TODO", "TODO"),
            Region::Code
        );
        assert_eq!(
            r(Comments::Dash, "select 1 -- TODO", "TODO"),
            Region::Comment
        );
        assert_eq!(r(Comments::Prose, "TODO: write", "TODO"), Region::Comment);
        assert_eq!(
            r(Comments::Slash, "s = \"a\\\"eval(\"", "eval"),
            Region::String
        );
    }

    #[test]
    fn files_are_told_by_their_names() {
        assert_eq!(Comments::of("CHANGELOG"), Comments::Prose);
        assert_eq!(Comments::of("docs/guide.md"), Comments::Prose);
        assert_eq!(Comments::of("deploy/Dockerfile"), Comments::Hash);
        assert_eq!(Comments::of("ci.yml"), Comments::Hash);
        assert_eq!(Comments::of("web/index.php"), Comments::Slash);
        assert_eq!(Comments::of("q.sql"), Comments::Dash);
        assert_eq!(Comments::of("x.unknownext"), Comments::Unknown);
    }

    #[test]
    fn a_parse_cut_after_the_lines_asked_about_answers_like_a_whole_parse() {
        let samples = [
            ("a.py", "def f(x):\n    s = \"\"\"doc\n# not a comment\n\"\"\"\n    print(x)  # TODO\n\nclass A:\n    def g(self):\n        return 'eval(1)'\n\nx = 1\n"),
            ("a.rs", "/// doc\nfn f() {\n    let s = \"a\n}\";\n    dbg!(s); // TODO\n}\n\n#[cfg(test)]\nmod t {\n    fn g() { let r = r#\"dbg!\"#; }\n}\nfn h() {}\n"),
        ];
        for (path, text) in samples {
            let lines = crate::diff::lines(text);
            let whole = Site::new(path, text, &lines);
            for last in 0..lines.len() {
                let cut = Site::new(path, text, &lines);
                cut.judge_through(last);
                for (index, line) in lines.iter().enumerate().take(last + 1) {
                    for at in 0..line.len() {
                        assert_eq!(
                            cut.region(index, at),
                            whole.region(index, at),
                            "{path}: line {index} byte {at} with the parse cut after line {last}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn debug_placeholders_are_found_and_escaped_braces_are_not() {
        for yes in [
            "{:?}",
            "x = {x:?}",
            "{:#?}",
            "{0:>10?}",
            "{:x?}",
            "a {} b {:?}",
        ] {
            assert!(has_debug_placeholder(yes), "{yes}");
        }
        for no in ["{}", "{x}", "{{:?}}", "{:>8}", "plain", "{"] {
            assert!(!has_debug_placeholder(no), "{no}");
        }
    }

    #[test]
    fn a_print_to_a_stream_is_told_from_a_bare_print() {
        assert!(writes_to_stream("print(x, file=sys.stderr)"));
        assert!(writes_to_stream("print(\n  x,\n  file = out,\n)"));
        assert!(!writes_to_stream("print(profile=1)"));
        assert!(!writes_to_stream("print(file == x)"));
        assert!(!writes_to_stream("print(x)"));
    }

    /// Rule ids the built-in reviewer reports on the added file.
    fn reported(path: &str, text: &str) -> Vec<String> {
        let change = crate::review::changes::FileChange::new_file(path, text.to_string());
        super::super::review_file(&change, false)
            .into_iter()
            .filter_map(|f| f.rule)
            .collect()
    }

    #[test]
    fn a_line_the_projects_linter_was_told_to_allow_is_not_a_leftover() {
        let allowed = [
            (
                "src/a.js",
                "// eslint-disable-next-line no-console\nconsole.log(x)\n",
            ),
            (
                "src/a.js",
                "console.log(x) // eslint-disable-line no-console\n",
            ),
            ("src/a.js", "console.log(x) // eslint-disable-line\n"),
            (
                "src/a.ts",
                "/* eslint-disable no-console */\nfunction f() {\n  console.log(x)\n}\n",
            ),
            (
                "src/a.js",
                "// eslint-disable-next-line no-debugger\ndebugger\n",
            ),
            (
                "src/a.ts",
                "// biome-ignore lint/suspicious/noConsole: CLI output\nconsole.log(x)\n",
            ),
            (
                "src/a.ts",
                "// deno-lint-ignore no-console\nconsole.log(x)\n",
            ),
            ("pkg/a.py", "def f(x):\n    print(x)  # noqa: T201\n"),
            ("pkg/a.py", "def f(x):\n    print(x)  # noqa\n"),
            ("pkg/a.py", "# ruff: noqa: T201\ndef f(x):\n    print(x)\n"),
            (
                "src/lib.rs",
                "#[allow(clippy::print_stdout)]\nfn f(x: u8) {\n    println!(\"{x:?}\");\n}\n",
            ),
            (
                "src/lib.rs",
                "#![allow(clippy::dbg_macro)]\nfn f(x: u8) {\n    dbg!(x);\n}\n",
            ),
            // Security linters: Ruff/Bandit codes, `# nosec`, ESLint.
            (
                "pkg/remote.py",
                "def run(code_obj, ns):\n    return eval(code_obj, ns)  # noqa: S307 - arbitrary code by design\n",
            ),
            (
                "pkg/cache.py",
                "def load(f):\n    return pickle.load(f)  # nosec B301\n",
            ),
            (
                "pkg/sh.py",
                "def sh(cmd):\n    subprocess.run(cmd, shell=True)  # nosec\n",
            ),
            (
                "src/a.js",
                "// eslint-disable-next-line no-eval\nconst f = eval(src)\n",
            ),
        ];
        for (path, text) in allowed {
            assert_eq!(reported(path, text), Vec::<String>::new(), "{text}");
        }
        // A marker for another rule allows nothing here.
        assert_eq!(
            reported(
                "pkg/remote.py",
                "def run(code_obj, ns):\n    return eval(code_obj, ns)  # noqa: S301\n"
            ),
            vec!["danger-eval".to_string()]
        );
        let other = [
            (
                "src/a.js",
                "// eslint-disable-next-line no-undef\nconsole.log(x)\n",
                "debug-console-log",
            ),
            (
                "src/a.js",
                "console.log(x) // eslint-disable-line-foo\n",
                "debug-console-log",
            ),
            (
                "src/a.js",
                "/* eslint-disable no-undef */\nconsole.log(x)\n",
                "debug-console-log",
            ),
            (
                "pkg/a.py",
                "def f(x):\n    print(x)  # noqa: E501\n",
                "debug-print",
            ),
            (
                "pkg/a.py",
                "def f(x):\n    print(x)  # noqanope\n",
                "debug-print",
            ),
            (
                "src/lib.rs",
                "#[allow(dead_code)]\nfn f(x: u8) {\n    dbg!(x);\n}\n",
                "debug-dbg-macro",
            ),
        ];
        for (path, text, rule) in other {
            assert_eq!(reported(path, text), vec![rule.to_string()], "{text}");
        }
    }

    #[test]
    fn a_logger_adapter_and_a_test_of_console_output_print_on_purpose() {
        assert!(forwards_arguments("console.debug('[app]', ...msg)"));
        assert!(forwards_arguments("console.log(...args)"));
        assert!(!forwards_arguments("console.log('Loading...')"));
        assert!(!forwards_arguments("console.log(x, 'a...b')"));
        assert_eq!(
            reported(
                "src/client.ts",
                "const logger = {\n  debug: (...msg) => console.debug('[app]', ...msg),\n}\n"
            ),
            Vec::<String>::new()
        );
        let spied = "test('forwards', () => {\n  vi.spyOn(console, 'error')\n  console.log('hi')\n  expect(console.error).not.toHaveBeenCalled()\n})\n";
        assert_eq!(
            reported("src/__tests__/forward.spec.ts", spied),
            Vec::<String>::new()
        );
        let plain = "test('adds', () => {\n  console.log(sum)\n  expect(sum).toBe(3)\n})\n";
        assert_eq!(
            reported("src/__tests__/sum.spec.ts", plain),
            vec!["debug-console-log".to_string()]
        );
        let captured = "def test_hello(capsys):\n    print(greet())\n    assert capsys.readouterr().out == 'hi\\n'\n";
        assert_eq!(
            reported("tests/test_hello.py", captured),
            Vec::<String>::new()
        );
    }

    #[test]
    fn playgrounds_and_demos_print_on_purpose() {
        let text = "const x = f()\nconsole.log(x)\n";
        for path in [
            "playground/hmr/hot.js",
            "packages/ui/demo/app.js",
            "demos/basic.ts",
        ] {
            assert_eq!(reported(path, text), Vec::<String>::new(), "{path}");
        }
        assert_eq!(
            reported("src/hot.js", text),
            vec!["debug-console-log".to_string()]
        );
    }

    #[test]
    fn a_call_named_inside_a_regular_expression_is_not_made() {
        let text = "const cmd = s.replace(/^npm exec (?:-- )?/, '')\nconst y = /eval\\(/.test(s)\n";
        assert_eq!(reported("src/cmd.ts", text), Vec::<String>::new());
        assert_eq!(
            reported("src/cmd.ts", "exec(cmd)\n"),
            vec!["danger-exec".to_string()]
        );
    }

    #[test]
    fn a_small_logger_and_output_before_an_exit_after_a_loop_are_intended() {
        let logger = "def log(msg):\n    print('[task] %s' % msg)\n";
        assert_eq!(reported("pkg/tasks.py", logger), Vec::<String>::new());
        let listing = "def complete(paths):\n    if paths:\n        for p in paths:\n            print(p)\n        sys.exit(1)\n";
        assert_eq!(reported("pkg/complete.py", listing), Vec::<String>::new());
        // A print whose block goes on to other work is still a leftover.
        let leftover =
            "def f(paths):\n    for p in paths:\n        print(p)\n    return len(paths)\n";
        assert_eq!(
            reported("pkg/complete.py", leftover),
            vec!["debug-print".to_string()]
        );
    }

    #[test]
    fn dangerous_calls_in_tests_run_the_tests_own_input() {
        let text = "def run(cmd):\n    subprocess.Popen(cmd.format(x), shell=True)\n";
        assert_eq!(
            reported("tests/functional/test_color.py", text),
            Vec::<String>::new()
        );
        assert_eq!(
            reported("pkg/run.py", text),
            vec!["danger-shell-true".to_string()]
        );
    }

    #[test]
    fn a_sentence_for_a_reader_is_output_and_a_labelled_value_is_debugging() {
        for yes in [
            "console.log('✓ Creating build backup...')",
            "console.log(`Upload progress ${loaded} of ${total} bytes`)",
            "print(f\"Processing {name} with {count} items\")",
            "print(\"Running locally since the keys are not set\")",
            "console.log('✓ Running tests')",
            "console.log(`Remove entry '${file}'...`)",
        ] {
            assert!(says_a_sentence(yes), "{yes}");
        }
        for no in [
            "console.log('data', data)",
            "console.log(`pipeline error: ${e}`)",
            "print(f\"{first_value=} {second_value=} {third=}\")",
            "console.log('onUploadProgress', loaded, '/', total)",
            "print('here')",
            "console.log('here...', x)",
            "print(\"got here in the handler\")",
        ] {
            assert!(!says_a_sentence(no), "{no}");
        }
        // One-letter words are not words: `'a b c'` says nothing.
        assert!(!says_a_sentence("print(x, 'a b c')"));
        assert_eq!(
            reported(
                "src/sync.js",
                "function sync() {\n  console.log('Syncing the local cache now')\n}\n"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            reported(
                "src/sync.js",
                "function sync(x) {\n  console.log('x', x)\n}\n"
            ),
            vec!["debug-console-log".to_string()]
        );
    }

    #[test]
    fn a_test_that_asserts_nothing_prints_on_purpose() {
        let types = "const h = new Headers()\nfor (const [k, v] of h) {\n  console.log(k, v)\n}\n";
        assert_eq!(
            reported("test/typescript/types.ts", types),
            Vec::<String>::new()
        );
        let asserting = format!("{types}assert.equal(h.size, 0)\n");
        assert_eq!(
            reported("test/typescript/types.ts", &asserting),
            vec!["debug-console-log".to_string()]
        );
    }

    #[test]
    fn build_tool_configuration_and_ci_scripts_are_tooling() {
        let print = "function f(x) {\n  console.log(x)\n}\n";
        for path in [
            "gulpfile.js",
            "karma.conf.js",
            "web/vite.config.ts",
            "sandbox/server.js",
        ] {
            assert_eq!(reported(path, print), Vec::<String>::new(), "{path}");
        }
        let exec = "const out = await exec(`git show-ref --tags ${tag}`)\n";
        assert_eq!(reported("bin/release.js", exec), Vec::<String>::new());
        assert_eq!(reported("scripts/release.js", exec), Vec::<String>::new());
        assert_eq!(
            reported("lib/git.js", exec),
            vec!["danger-exec".to_string()]
        );
    }

    #[test]
    fn a_function_named_for_something_else_does_not_take_a_credential() {
        let go =
            "func f() {\n\tpairs, _, err := parseKeyChords(\"every(2),every(0.5)\", \"\")\n}\n";
        assert_eq!(reported("src/options.go", go), Vec::<String>::new());
        let java =
            "class C {\n  void f() {\n    builder.setPassword(\"Xk9#mQ2$vL7pR4wZ\");\n  }\n}\n";
        assert_eq!(
            reported("src/C.java", java),
            vec!["secret-assignment".to_string()]
        );
    }

    #[test]
    fn a_declared_name_in_a_pages_script_is_code_not_a_setting() {
        let html = "<script type=\"module\">\n  const dotEnvWindows83ShortName = DOTENV83SHORTNAME\n</script>\n";
        assert_eq!(reported("root/index.html", html), Vec::<String>::new());
        let env = "DEPLOY_HOOK=q8Vb2LmX9cT4rZ7wK1pN6yHdJ3sF5gA0\n";
        assert_eq!(
            reported("deploy/app.env", env),
            vec!["secret-assignment".to_string()]
        );
    }

    #[test]
    fn a_terminal_escape_code_opening_a_value_is_not_a_token() {
        let py =
            "TEST_PREFIX_TOKEN_COLOR = '\\x1b[38;5;15m' if is_windows else '\\x1b[04m\\x1b[91m'\n";
        assert_eq!(reported("pkg/colors.py", py), Vec::<String>::new());
    }

    #[test]
    fn words_joined_by_dots_name_something_and_are_not_a_key() {
        let js = "var rules = [{token:\"string.quoted.single.source.rust\",regex:\"x\"}]\n";
        assert_eq!(reported("src/mode-rust.js", js), Vec::<String>::new());
        let yml = "api_key: q8Vb2LmX9cT4rZ7wK1pN6yHd\n";
        assert_eq!(
            reported("deploy/app.yml", yml),
            vec!["secret-assignment".to_string()]
        );
    }

    #[test]
    fn coloured_output_and_command_line_modules_speak_to_their_user() {
        let js = "function done(n) {\n  console.log(chalk.green(n))\n}\n";
        assert_eq!(reported("src/report.js", js), Vec::<String>::new());
        let py = "def done(n):\n    print(Fore.GREEN + str(n))\n";
        assert_eq!(reported("pkg/report.py", py), Vec::<String>::new());
        let cli = "import mri from 'mri'\nconst argv = mri(process.argv.slice(2))\nif (argv.help) {\n  console.log(helpText)\n}\n";
        assert_eq!(
            reported("packages/create-app/src/index.ts", cli),
            Vec::<String>::new()
        );
        let lib = "import { merge } from './merge'\nexport function f(x) {\n  console.log(x)\n  return merge(x)\n}\n";
        assert_eq!(
            reported("packages/core/src/index.ts", lib),
            vec!["debug-console-log".to_string()]
        );
    }

    #[test]
    fn vendored_code_reports_a_secrets_own_shape_only() {
        let named = "UNRESERVED_PAT = r\"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._!\\-~\"\n";
        assert_eq!(
            reported("src/pip/_vendor/urllib3/util/url.py", named),
            Vec::<String>::new()
        );
        let key = "GITHUB = \"ghp_R4nD0mT0k3nV4lu3Xq9Lm2Zt8Wc5Yb1Hs7Pk\"\n";
        let found = reported("src/pip/_vendor/lib/conf.py", key);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("secret-"), "{found:?}");
    }

    #[test]
    fn a_published_port_or_a_spliced_variable_is_not_a_cli_password() {
        let sh = "docker run -i --rm -p 127.0.0.1:8080:80 --user '\"${UID}\"':'\"${GID}\"' img\ndocker login -u me -p \"$(cat token)\"\n";
        assert_eq!(reported("ci/run.sh", sh), Vec::<String>::new());
        let leaked = "docker login -u deploy -p Xk9vR2qLm7wPz4Tb registry.example.com\n";
        assert_eq!(
            reported("ci/run.sh", leaked),
            vec!["secret-auth-header".to_string()]
        );
    }

    #[test]
    fn keyboard_shortcuts_and_type_checks_are_not_credentials() {
        let go = "func keys() keyMap {\n\treturn keyMap{\n\t\tprev: key.NewBinding(\n\t\t\tkey.WithKeys(\"shift+tab\"),\n\t\t\tkey.WithHelp(\"shift+tab\", \"prev\"),\n\t\t),\n\t}\n}\n";
        assert_eq!(reported("examples/split/main.go", go), Vec::<String>::new());
        let js = "function check({ passOnNoPatterns }) {\n  if (typeof passOnNoPatterns !== \"boolean\") {\n    throw new TypeError(\"bad\")\n  }\n}\n";
        assert_eq!(reported("lib/options.js", js), Vec::<String>::new());
        let compared = "function login(password) {\n  if (password === \"Xk9vR2qLm7wPz4Tb\") {\n    return true\n  }\n}\n";
        assert_eq!(
            reported("lib/login.js", compared),
            vec!["secret-assignment".to_string()]
        );
    }

    #[test]
    fn build_scripts_entry_modules_and_examples_show_their_output() {
        let make = "target.lint = () => {\n  const r = exec(`${ESLINT} --fix ${dir}`)\n}\n";
        assert_eq!(reported("Makefile.js", make), Vec::<String>::new());
        let action =
            "req = compute()\nprint(req, flush=True)\nproc = run(req)\nsys.exit(proc.returncode)\n";
        assert_eq!(reported("action/main.py", action), Vec::<String>::new());
        // An entry point is where outside input arrives.
        let entry = "def main():\n    eval(input())\n";
        assert_eq!(
            reported("app/main.py", entry),
            vec!["danger-eval".to_string()]
        );
        let progress = "def install(req):\n    print(f\"Installing {req}...\")\n";
        assert_eq!(reported("pkg/setup_env.py", progress), Vec::<String>::new());
        let example = "async fn handler(payload: Payload) {\n    dbg!(payload);\n}\n";
        assert_eq!(
            reported("examples/parse-body/src/main.rs", example),
            Vec::<String>::new()
        );
        assert_eq!(
            reported("src/handler.rs", example),
            vec!["debug-dbg-macro".to_string()]
        );
    }

    #[test]
    fn a_composed_cache_key_a_read_by_name_and_a_quiet_flag_are_not_findings() {
        let go = "var cases = []struct{ key string }{\n\t{\n\t\texpectedKey: \"http.github.com.foo.d3514ad1d4daedf9cc2825225070b49ebc8db47fa5177951b2a5b9994597570c\",\n\t},\n}\n";
        assert_eq!(reported("taskfile/node.go", go), Vec::<String>::new());
        let py = "def available():\n    keyring.get_password(\"python-poetry-check\", \"python-poetry\")\n";
        assert_eq!(
            reported("src/pkg/password_manager.py", py),
            Vec::<String>::new()
        );
        let js = "function serve(silent) {\n  if (!silent) {\n    console.debug(url)\n  }\n}\n";
        assert_eq!(reported("lib/server.js", js), Vec::<String>::new());
        // A token with a dot in it is still a token.
        let mapbox =
            "MAPBOX_TOKEN = \"pk.eyJ1IjoicmVkbGluZSIsImEiOiJja3Z4In0.Xq9Lm2Zt8Wc5Yb1Hs7Pk4R\"\n";
        assert_eq!(reported("src/map.py", mapbox).len(), 1);
    }

    #[test]
    fn a_command_invoked_through_a_cli_test_runner_prints_its_output() {
        let py = "from typer.testing import CliRunner\n\nrunner = CliRunner()\n\ndef test_force():\n    app = typer.Typer()\n\n    @app.command()\n    def cmd(force: bool = False):\n        print(\"Forcing\")\n\n    result = runner.invoke(app)\n    assert \"Forcing\" in result.output\n";
        assert_eq!(reported("tests/test_force.py", py), Vec::<String>::new());
    }

    /// Whether each alphanumeric byte of `text` is in a comment, by
    /// [`Site::in_comment`] and by the parse, and every place they differ.
    fn comment_disagreements(path: &str, text: &str) -> Vec<String> {
        let lines = crate::diff::lines(text);
        let site = Site::new(path, text, &lines);
        let mut out = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            for (at, c) in line.char_indices().filter(|(_, c)| c.is_alphanumeric()) {
                let cheap = site.in_comment(index, at);
                let tree = site.region(index, at) == Region::Comment;
                if cheap != tree {
                    out.push(format!(
                        "{path}:{}:{at} {c:?} in {line:?}: line says {cheap}",
                        index + 1
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn a_line_no_block_can_reach_is_judged_alone_and_agrees_with_the_parse() {
        let go = "package main\n\nfunc f(p *int, s *[]int) {\n\t*p = 1\n\t*s = append(*s, 2) // append token\n}\n";
        let js = "const re = /^\\/\\//;\nconst url = 'https://host/x'; // secret here\n/* block\n password = x\n*/\nconst t = `a\n// in a template\n`;\n";
        let py =
            "def f():\n    \"one-line docstring token\"\n    x = 1  # note\n    return \"a # b\"\n";
        let rs = "const GLOB: &str = \"src/**/*.rs\";\nfn f() {\n    let r = r\"raw // text\";\n}\n/// doc\nfn g() {}\n";
        for (path, text) in [("a.go", go), ("a.js", js), ("a.py", py), ("a.rs", rs)] {
            assert_eq!(comment_disagreements(path, text), Vec::<String>::new());
        }
        // Lines of a block comment and of a template are judged by the
        // parse; a quoted `/*` opens nothing; plain lines alone.
        let lines = crate::diff::lines(js);
        let site = Site::new("a.js", js, &lines);
        assert!(site.may_span_lines(3) && site.may_span_lines(6));
        assert!(!site.may_span_lines(0) && !site.may_span_lines(1));
        assert!(site.in_comment(3, 1) && !site.in_comment(6, 3) && site.in_comment(1, 38));
        let lines = crate::diff::lines(rs);
        let site = Site::new("a.rs", rs, &lines);
        assert!(!site.may_span_lines(0) && !site.may_span_lines(3));
    }

    /// Random files of each language's constructs that span lines or look
    /// like comments (block comments, templates, raw strings, docstrings,
    /// dereferences, quoted markers) in any order: the line alone and the
    /// parse agree on every letter.
    #[test]
    fn the_cheap_comment_check_agrees_with_the_parse_on_random_files() {
        use rand::{Rng, SeedableRng};
        let pools: [(&str, &[&str]); 5] = [
            (
                "a.rs",
                &[
                    "let a = 1; // note password here",
                    "/* block opens\n * inside the block token\nblock closes */ let b = 2;",
                    "let s = \"text // not a comment\";",
                    "let r = r\"raw // text\";",
                    "let q = r#\"a \"b\" c\"#; // note",
                    "let m = r#\"multi line\nraw // continues\"#;",
                    "*p = 3;",
                    "let glob = \"src/**/*.rs\"; let c = 4;",
                    "fn f() {}",
                    "/// doc comment key",
                ],
            ),
            (
                "a.go",
                &[
                    "x := 1 // note",
                    "*p = x",
                    "s := `raw starts\nraw // ends`",
                    "/* block\n*/ y := 2",
                    "u := \"https://host/p\"",
                    "w := `C:\\dir\\` // a path",
                    "func f() {}",
                ],
            ),
            (
                "a.js",
                &[
                    "let a = 1; // note",
                    "const t = `template\n// inside template`;",
                    "const re = /^\\/\\//;",
                    "/** doc\n * more doc\n */",
                    "x = \"a // b\";",
                    "  * 2;",
                    "const g = \"**/*.js\";",
                ],
            ),
            (
                "a.py",
                &[
                    "x = 1  # note",
                    "\"\"\"docstring opens\ninside the docstring key\ncloses\"\"\"",
                    "\"single line docstring\"",
                    "s = \"a # b\"",
                    "def f():",
                    "    pass",
                    "'''other quotes\n# not a comment'''",
                    "y = f'{x} # not'",
                ],
            ),
            (
                "A.java",
                &[
                    "int a = 1; // note",
                    "/* block\n * in block\n */",
                    "String s = \"\"\"\ntext // block\n\"\"\";",
                    "String g = \"/*\";",
                    "class A {}",
                ],
            ),
        ];
        let seed = std::env::var("REDLINE_PROPTEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_c0de_u64);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for case in 0..300 {
            let (path, pool) = pools[case % pools.len()];
            let n = rng.random_range(1..14);
            let text: String = (0..n)
                .map(|_| format!("{}\n", pool[rng.random_range(0..pool.len())]))
                .collect();
            let wrong = comment_disagreements(path, &text);
            assert!(
                wrong.is_empty(),
                "seed {seed}, case {case}:\n{text}\n{wrong:#?}"
            );
        }
    }
}
