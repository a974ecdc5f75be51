//! The syntax layer: tree-sitter parses of source files, for the two
//! questions a review asks of code. *What encloses this line?* (the function
//! or class around a hunk, so that a model reviewer sees its signature) and
//! *what kind of text is this byte in?* (code, comment or string literal, so
//! that a rule about code does not fire inside a string and a rule about
//! comments does not fire in code).
//!
//! Knows nothing about diffs, reviews or editors. A file in a language it
//! does not know, or text the parser gives up on, gets `None`: callers fall
//! back to plain text. Parsing is bounded in time so a pathological file
//! cannot stall a review.

use std::ops::Range;
use tree_sitter::{InputEdit, Node, Parser, Point, Tree};

/// Longest a parse may take before the file is treated as plain text.
pub(crate) const PARSE_BUDGET_MICROS: u64 = 200_000;

/// Longest signature shown as a scope's header, in lines.
const MAX_HEADER_LINES: u32 = 8;

/// The languages with a grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Rust,
    Go,
    Java,
    C,
    Cpp,
    Ruby,
}

impl Lang {
    /// The language of a path, by its extension (or a well-known name).
    pub fn from_path(path: &str) -> Option<Lang> {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name {
            "Rakefile" | "Gemfile" | "Guardfile" | "Vagrantfile" => return Some(Lang::Ruby),
            "SConstruct" | "SConscript" => return Some(Lang::Python),
            _ => {}
        }
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "py" | "pyi" | "pyw" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "rs" => Lang::Rust,
            "go" => Lang::Go,
            "java" => Lang::Java,
            "c" | "h" => Lang::C,
            "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "tcc" => {
                Lang::Cpp
            }
            "rb" | "rake" | "gemspec" | "ru" => Lang::Ruby,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::Rust => "rust",
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::C => "c",
            Lang::Cpp => "cpp",
            Lang::Ruby => "ruby",
        }
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::C => tree_sitter_c::LANGUAGE.into(),
            Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
        }
    }
}

/// What kind of text a byte is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Code,
    Comment,
    /// A string or character literal (not the code inside an interpolation).
    String,
}

/// What a scope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// A function, method, constructor, closure or lambda.
    Function,
    /// A class, struct, impl, trait, interface, module or namespace.
    Type,
}

/// A function or type around some lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The grammar's node kind, e.g. `function_definition`.
    pub node_kind: &'static str,
    pub name: Option<String>,
    /// Every line of the scope (1-based, end exclusive).
    pub lines: Range<u32>,
    /// Its signature: from its first line to the line its body opens on
    /// (1-based, end exclusive, at most [`MAX_HEADER_LINES`]).
    pub header: Range<u32>,
}

/// A parsed file. Holds the tree, not the text: every query takes the text
/// the tree was parsed from. Cloning is cheap (the tree is reference
/// counted, and editing a clone copies only what the edit touches).
#[derive(Clone)]
pub struct Parsed {
    lang: Lang,
    tree: Tree,
    /// Bytes of the text parsed: a tree offered for a text of another
    /// length is of other text.
    text_len: usize,
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed").field("lang", &self.lang).finish()
    }
}

fn parser_for(lang: Lang) -> Option<Parser> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    Some(parser)
}

thread_local! {
    /// This thread's parsers, one a language, each free between parses:
    /// making a parser and giving it its grammar costs about as much as
    /// parsing a few hundred lines.
    static PARSERS: std::cell::RefCell<Vec<(Lang, Parser)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `parse` with a parser for `lang` (this thread's, or a new one),
/// bounded in time; the parser is reset and kept for the next parse.
/// `None` when the language has no grammar.
fn with_parser<T>(lang: Lang, parse: impl FnOnce(&mut Parser) -> T) -> Option<T> {
    let kept = PARSERS.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(l, _)| *l == lang)?;
        Some(p.swap_remove(i).1)
    });
    let mut parser = match kept {
        Some(parser) => parser,
        None => parser_for(lang)?,
    };
    #[allow(deprecated)] // the progress-callback replacement needs a closure per call
    parser.set_timeout_micros(parse_budget_micros());
    let out = parse(&mut parser);
    // A parse that ran out of time would otherwise resume on the next call.
    parser.reset();
    PARSERS.with(|p| p.borrow_mut().push((lang, parser)));
    Some(out)
}

impl Parsed {
    /// Parses `text`; `None` when the parse ran out of time.
    pub fn parse(lang: Lang, text: &str) -> Option<Parsed> {
        count_fresh_parse();
        let tree = with_parser(lang, |p| p.parse(text, None))??;
        Some(Parsed {
            lang,
            tree,
            text_len: text.len(),
        })
    }

    /// Parses a text of `len` bytes held in pieces (a rope):
    /// `chunk_at(offset)` returns the text from byte `offset` on, as much
    /// as is at hand, and an empty slice at the end. `None` when the parse
    /// ran out of time.
    pub fn parse_chunks<'t>(
        lang: Lang,
        len: usize,
        mut chunk_at: impl FnMut(usize) -> &'t [u8],
    ) -> Option<Parsed> {
        count_fresh_parse();
        let tree = with_parser(lang, |p| {
            p.parse_with_options(&mut |at, _| chunk_at(at), None, None)
        })??;
        Some(Parsed {
            lang,
            tree,
            text_len: len,
        })
    }

    /// Tells the tree about an edit, without reparsing yet: several edits
    /// (one `didChange` may carry many) are folded in before one reparse.
    pub fn edit_tree(self, edit: &TextEdit) -> EditedTree {
        EditedTree {
            lang: self.lang,
            tree: self.tree,
            text_len: self.text_len,
        }
        .edit_tree(edit)
    }

    /// Parses `text` as the language of `path`, if it has one.
    pub fn parse_path(path: &str, text: &str) -> Option<Parsed> {
        Parsed::parse(Lang::from_path(path)?, text)
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Length in bytes of the text this is the parse of.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// Applies one edit to the tree and reparses `new_text` incrementally,
    /// reusing the unchanged parts of the old tree. Byte offsets and points
    /// (row, byte column) are those of the texts before and after the edit.
    /// On a timeout the tree is parsed afresh; `false` if that fails too.
    pub fn edit(&mut self, edit: &TextEdit, new_text: &str) -> bool {
        self.tree.edit(&edit.to_input_edit());
        self.text_len = new_text.len();
        let old = &self.tree;
        let tree = with_parser(self.lang, |p| {
            p.parse(new_text, Some(old)).or_else(|| {
                p.reset();
                p.parse(new_text, None)
            })
        })
        .flatten();
        match tree {
            Some(tree) => {
                self.tree = tree;
                true
            }
            None => false,
        }
    }

    /// The tree as an S-expression (for tests: an incremental parse must
    /// equal a fresh one).
    pub fn sexp(&self) -> String {
        self.tree.root_node().to_sexp()
    }

    /// Every node with its byte range and points, one a line (for tests:
    /// an S-expression does not show positions, and an edit given wrong
    /// points leaves the kinds right and the rows wrong).
    pub fn outline(&self) -> String {
        let mut out = String::new();
        let mut cursor = self.tree.walk();
        let mut depth = 0usize;
        loop {
            let n = cursor.node();
            let (s, e) = (n.start_position(), n.end_position());
            out.push_str(&format!(
                "{:depth$}{} {:?} {}:{}-{}:{}\n",
                "",
                n.kind(),
                n.byte_range(),
                s.row,
                s.column,
                e.row,
                e.column
            ));
            if cursor.goto_first_child() {
                depth += 1;
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return out;
                }
                depth -= 1;
            }
        }
    }

    /// Whether the parser had to recover from errors somewhere.
    pub fn has_errors(&self) -> bool {
        self.tree.root_node().has_error()
    }

    /// What kind of text the byte at `offset` is in.
    pub fn region_at(&self, offset: usize) -> Region {
        let root = self.tree.root_node();
        let Some(mut node) = root.descendant_for_byte_range(offset, offset.saturating_add(1))
        else {
            return Region::Code;
        };
        loop {
            let kind = node.kind();
            if is_interpolation(kind) {
                return Region::Code;
            }
            if kind.contains("comment") {
                return Region::Comment;
            }
            if is_string(kind) {
                return self.string_region(node);
            }
            match node.parent() {
                Some(p) => node = p,
                None => return Region::Code,
            }
        }
    }

    /// A string literal is a string, except a Python docstring (a string
    /// that is a statement of its own): that is documentation, read like a
    /// comment.
    fn string_region(&self, mut node: Node<'_>) -> Region {
        if self.lang != Lang::Python {
            return Region::String;
        }
        while let Some(parent) = node.parent().filter(|p| is_string(p.kind())) {
            node = parent;
        }
        match node.parent() {
            // (One that follows something on its line is no docstring:
            // `"password": "…",` cut from a dict reads so when parsed alone.)
            Some(p)
                if p.kind() == "expression_statement"
                    && p.named_child_count() == 1
                    && p.prev_sibling()
                        .is_none_or(|s| s.end_position().row < p.start_position().row) =>
            {
                Region::Comment
            }
            _ => Region::String,
        }
    }

    /// The named nodes around byte `offset`, innermost first, as (grammar
    /// kind, byte range): what a caller needs to ask "is this inside a call
    /// with `file=`?" or "inside `if __name__ == ...`?" without holding the
    /// tree.
    pub fn ancestors(&self, offset: usize) -> Vec<(&'static str, Range<usize>)> {
        let root = self.tree.root_node();
        let Some(mut node) = root.named_descendant_for_byte_range(offset, offset.saturating_add(1))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            out.push((node.kind(), node.byte_range()));
            match node.parent() {
                Some(p) => node = p,
                None => return out,
            }
        }
    }

    /// The scopes around 1-based `line`, innermost first.
    pub fn scopes_at(&self, text: &str, line: u32) -> Vec<Scope> {
        let row = line.saturating_sub(1) as usize;
        let Some(start) = line_start(text, row) else {
            return Vec::new();
        };
        // The first non-blank byte of the line, so that indentation does not
        // land in the gap between two siblings.
        let line_text = &text[start..];
        let line_len = line_text.find('\n').unwrap_or(line_text.len());
        let indent = line_text[..line_len]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(0);
        let offset = start + indent;
        let root = self.tree.root_node();
        let Some(mut node) = root.descendant_for_byte_range(offset, offset) else {
            return Vec::new();
        };
        let mut scopes = Vec::new();
        loop {
            if node.parent().is_some() && node.is_named() {
                if let Some(kind) = scope_kind(node.kind()) {
                    scopes.push(self.scope(node, kind, text));
                }
            }
            match node.parent() {
                Some(p) => node = p,
                None => break,
            }
        }
        scopes
    }

    fn scope(&self, node: Node<'_>, kind: ScopeKind, text: &str) -> Scope {
        let first = node.start_position().row as u32 + 1;
        let last = node.end_position().row as u32 + 1;
        let header_end = match node.child_by_field_name("body") {
            Some(body) => {
                let body_row = body.start_position().row as u32 + 1;
                let opens_on_own_line = text
                    .as_bytes()
                    .get(body.start_byte())
                    .is_some_and(|b| matches!(b, b'{' | b':'));
                if body_row > first && !opens_on_own_line {
                    body_row - 1
                } else {
                    body_row
                }
            }
            None => first,
        };
        let header_end = header_end.clamp(first, first + MAX_HEADER_LINES - 1);
        Scope {
            kind,
            node_kind: node.kind(),
            name: name_of(node, text),
            lines: first..last + 1,
            header: first..header_end + 1,
        }
    }
}

/// A tree told about edits but not reparsed: its nodes sit where the edits
/// moved them, their kinds are stale. Good only for [`EditedTree::reparse`].
pub struct EditedTree {
    lang: Lang,
    tree: Tree,
    /// Bytes of the text once the edits are applied.
    text_len: usize,
}

impl EditedTree {
    /// Tells the tree about one more edit (coordinates of the text after
    /// the previous ones).
    pub fn edit_tree(mut self, edit: &TextEdit) -> EditedTree {
        self.tree.edit(&edit.to_input_edit());
        self.text_len = self.text_len + edit.new_end_byte - edit.old_end_byte;
        self
    }

    /// Reparses the edited text, reusing every subtree the edits did not
    /// touch. `chunk_at` as in [`Parsed::parse_chunks`]. `None` when the
    /// parse ran out of time: the caller drops the tree and parses afresh
    /// next time (a tree that failed once is not worth editing further).
    pub fn reparse<'t>(self, mut chunk_at: impl FnMut(usize) -> &'t [u8]) -> Option<Parsed> {
        let old = &self.tree;
        let tree = with_parser(self.lang, |p| {
            p.parse_with_options(&mut |at, _| chunk_at(at), Some(old), None)
        })??;
        Some(Parsed {
            lang: self.lang,
            tree,
            text_len: self.text_len,
        })
    }
}

/// A parse together with a fingerprint (length and hash) of the text it
/// is of, so that whoever holds it beside some text can tell whether the
/// tree belongs to that text: a tree of other text answers every question
/// about the wrong bytes.
#[derive(Clone)]
pub struct ParsedText {
    parsed: Parsed,
    text_len: usize,
    text_hash: u64,
}

impl ParsedText {
    /// Keeps `parsed` as the parse of `text` (the fingerprint is taken
    /// now); `None` when it cannot be: it is of a text of another length.
    pub fn new(parsed: Parsed, text: &str) -> Option<Self> {
        (parsed.text_len == text.len()).then(|| Self {
            parsed,
            text_len: text.len(),
            text_hash: text_hash(text),
        })
    }

    /// The parse, if it is of `text`.
    pub fn of(&self, text: &str) -> Option<&Parsed> {
        (text.len() == self.text_len && text_hash(text) == self.text_hash).then_some(&self.parsed)
    }
}

impl std::fmt::Debug for ParsedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedText")
            .field("lang", &self.parsed.lang)
            .field("text_len", &self.text_len)
            .finish()
    }
}

/// Two parses of the same text in the same language are the same parse.
impl PartialEq for ParsedText {
    fn eq(&self, other: &Self) -> bool {
        self.parsed.lang == other.parsed.lang
            && self.text_len == other.text_len
            && self.text_hash == other.text_hash
    }
}

fn text_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
thread_local! {
    static FRESH_PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static BUDGET_MICROS: std::cell::Cell<u64> = const { std::cell::Cell::new(PARSE_BUDGET_MICROS) };
}

fn parse_budget_micros() -> u64 {
    #[cfg(test)]
    return BUDGET_MICROS.with(|b| b.get());
    #[cfg(not(test))]
    PARSE_BUDGET_MICROS
}

/// Sets the parse budget on this thread (tests of what a parse that runs
/// out of time leaves).
#[cfg(test)]
pub(crate) fn set_parse_budget_on_this_thread(micros: u64) {
    BUDGET_MICROS.with(|b| b.set(micros));
}

/// Counts fresh (not incremental) parses on this thread, for tests that
/// a kept tree spares one.
fn count_fresh_parse() {
    #[cfg(test)]
    FRESH_PARSES.with(|n| n.set(n.get() + 1));
}

/// Fresh parses made on this thread so far.
#[cfg(test)]
pub(crate) fn fresh_parses_on_this_thread() -> usize {
    FRESH_PARSES.with(|n| n.get())
}

/// One edit, in the coordinates tree-sitter wants (bytes and rows/byte
/// columns of the texts before and after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextEdit {
    pub start_byte: usize,
    pub old_end_byte: usize,
    pub new_end_byte: usize,
    pub start: (usize, usize),
    pub old_end: (usize, usize),
    pub new_end: (usize, usize),
}

impl TextEdit {
    /// The edit that replaces `old_text[range]` with `inserted`.
    pub fn replace(old_text: &str, range: Range<usize>, inserted: &str) -> TextEdit {
        let point = |text: &str, offset: usize| {
            let before = &text.as_bytes()[..offset];
            let row = before.iter().filter(|&&b| b == b'\n').count();
            let col = offset
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
            (row, col)
        };
        TextEdit::new(
            range.clone(),
            point(old_text, range.start),
            point(old_text, range.end),
            inserted,
        )
    }

    /// The edit that replaces bytes `range` of the old text, which start at
    /// point `start` and end at `old_end`, with `inserted`. Rows count `\n`
    /// only (a lone `\r` does not start a row for tree-sitter); columns are
    /// bytes.
    pub fn new(
        range: Range<usize>,
        start: (usize, usize),
        old_end: (usize, usize),
        inserted: &str,
    ) -> TextEdit {
        let rows = memchr::memchr_iter(b'\n', inserted.as_bytes()).count();
        let new_end = match memchr::memrchr(b'\n', inserted.as_bytes()) {
            Some(i) => (start.0 + rows, inserted.len() - i - 1),
            None => (start.0, start.1 + inserted.len()),
        };
        TextEdit {
            start_byte: range.start,
            old_end_byte: range.end,
            new_end_byte: range.start + inserted.len(),
            start,
            old_end,
            new_end,
        }
    }

    fn to_input_edit(self) -> InputEdit {
        let p = |(row, column): (usize, usize)| Point { row, column };
        InputEdit {
            start_byte: self.start_byte,
            old_end_byte: self.old_end_byte,
            new_end_byte: self.new_end_byte,
            start_position: p(self.start),
            old_end_position: p(self.old_end),
            new_end_position: p(self.new_end),
        }
    }
}

fn line_start(text: &str, row: usize) -> Option<usize> {
    if row == 0 {
        return Some(0);
    }
    text.match_indices('\n').nth(row - 1).map(|(i, _)| i + 1)
}

fn scope_kind(kind: &str) -> Option<ScopeKind> {
    Some(match kind {
        "function_definition"
        | "function_declaration"
        | "function_expression"
        | "generator_function"
        | "generator_function_declaration"
        | "method_definition"
        | "arrow_function"
        | "function_item"
        | "closure_expression"
        | "method_declaration"
        | "func_literal"
        | "constructor_declaration"
        | "compact_constructor_declaration"
        | "lambda_expression"
        | "method"
        | "singleton_method" => ScopeKind::Function,
        "class_definition"
        | "class_declaration"
        | "abstract_class_declaration"
        | "class"
        | "impl_item"
        | "trait_item"
        | "mod_item"
        | "interface_declaration"
        | "enum_declaration"
        | "record_declaration"
        | "class_specifier"
        | "struct_specifier"
        | "namespace_definition"
        | "internal_module"
        | "module"
        | "singleton_class" => ScopeKind::Type,
        _ => return None,
    })
}

fn is_string(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "string_literal"
            | "raw_string_literal"
            | "interpreted_string_literal"
            | "template_string"
            | "string_content"
            | "string_fragment"
            | "concatenated_string"
            | "chained_string"
            | "heredoc_body"
            | "heredoc_content"
            | "char_literal"
            | "character_literal"
            | "string_array"
            | "bare_string"
            | "system_lib_string"
            | "multiline_string_fragment"
            | "regex"
            | "regex_pattern"
            | "regex_flags"
    )
}

fn is_interpolation(kind: &str) -> bool {
    matches!(
        kind,
        "interpolation" | "template_substitution" | "string_interpolation"
    )
}

/// A scope's name: its `name` field, the declarator of a C/C++ function,
/// the type of a Rust `impl`, or the variable an anonymous function is
/// assigned to.
fn name_of(node: Node<'_>, text: &str) -> Option<String> {
    let text_of = |n: Node<'_>| text.get(n.byte_range()).map(|s| s.trim().to_string());
    if let Some(name) = node.child_by_field_name("name") {
        return text_of(name);
    }
    if let Some(mut decl) = node.child_by_field_name("declarator") {
        // int *f(int a) -> pointer_declarator -> function_declarator -> identifier
        for _ in 0..8 {
            match decl.child_by_field_name("declarator") {
                Some(inner) => decl = inner,
                None => break,
            }
        }
        return text_of(decl);
    }
    if node.kind() == "impl_item" {
        let ty = node.child_by_field_name("type").and_then(text_of)?;
        return Some(match node.child_by_field_name("trait").and_then(text_of) {
            Some(tr) => format!("{tr} for {ty}"),
            None => ty,
        });
    }
    let parent = node.parent()?;
    if matches!(
        parent.kind(),
        "variable_declarator" | "pair" | "assignment_expression" | "short_var_declaration"
    ) {
        let target = parent
            .child_by_field_name("name")
            .or_else(|| parent.child_by_field_name("key"))
            .or_else(|| parent.child_by_field_name("left"))?;
        return text_of(target);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, name, lines, header) of each scope, innermost first.
    type ScopeRow = (ScopeKind, Option<String>, Range<u32>, Range<u32>);

    fn scopes(path: &str, text: &str, line: u32) -> Vec<ScopeRow> {
        let parsed = Parsed::parse_path(path, text).expect("parses");
        parsed
            .scopes_at(text, line)
            .into_iter()
            .map(|s| (s.kind, s.name, s.lines, s.header))
            .collect()
    }

    #[test]
    fn a_parse_out_of_time_leaves_the_threads_parser_ready_for_other_text() {
        let long: String = (0..3_000)
            .map(|i| format!("def f{i}(a):\n    return [a, {i}]\n"))
            .collect();
        set_parse_budget_on_this_thread(1);
        let timed_out = Parsed::parse(Lang::Python, &long);
        set_parse_budget_on_this_thread(PARSE_BUDGET_MICROS);
        assert!(timed_out.is_none(), "a 1 µs budget runs out");

        // The same parser, kept by this thread, now gets other text: it
        // must not resume the parse it gave up.
        let short = "class A:\n    x = 1\n";
        let reused = Parsed::parse(Lang::Python, short).expect("parses");
        let fresh =
            std::thread::spawn(move || Parsed::parse(Lang::Python, short).map(|p| p.sexp()))
                .join()
                .expect("thread");
        assert_eq!(Some(reused.sexp()), fresh);
        assert!(!reused.has_errors());
    }

    #[test]
    fn languages_are_known_by_extension_and_others_are_plain_text() {
        assert_eq!(Lang::from_path("src/a.py"), Some(Lang::Python));
        assert_eq!(Lang::from_path("web/App.TSX"), Some(Lang::Tsx));
        assert_eq!(Lang::from_path("include/x.hpp"), Some(Lang::Cpp));
        assert_eq!(Lang::from_path("Rakefile"), Some(Lang::Ruby));
        assert_eq!(Lang::from_path("README.md"), None);
        assert_eq!(Lang::from_path("Makefile"), None);
    }

    #[test]
    fn a_line_deep_in_a_python_method_is_inside_the_method_and_its_class() {
        let text = "import os\n\nclass Store:\n    def save(self, item,\n             force=False):\n        if not item:\n            return\n        x = 1\n        y = 2\n        os.remove(item)\n";
        let got = scopes("a.py", text, 10);
        assert_eq!(
            got,
            vec![
                (ScopeKind::Function, Some("save".into()), 4..11, 4..6),
                (ScopeKind::Type, Some("Store".into()), 3..11, 3..4),
            ]
        );
    }

    #[test]
    fn brace_languages_show_the_signature_through_the_opening_brace() {
        let rust = "impl Cache {\n    pub fn get(\n        &self,\n        key: &str,\n    ) -> Option<u32> {\n        let a = 1;\n        None\n    }\n}\n";
        let got = scopes("a.rs", rust, 7);
        assert_eq!(
            got[0],
            (ScopeKind::Function, Some("get".into()), 2..9, 2..6)
        );
        assert_eq!(got[1], (ScopeKind::Type, Some("Cache".into()), 1..10, 1..2));

        let c = "static int\nparse(const char *s)\n{\n    int n = 0;\n    return n;\n}\n";
        let got = scopes("a.c", c, 5);
        assert_eq!(
            got[0],
            (ScopeKind::Function, Some("parse".into()), 1..7, 1..4)
        );

        let go =
            "package m\n\nfunc (s *Server) Handle(w Writer) error {\n\tx := 1\n\treturn nil\n}\n";
        assert_eq!(scopes("a.go", go, 5)[0].1.as_deref(), Some("Handle"));

        let java = "class A {\n  public int run(int x) {\n    return x;\n  }\n}\n";
        assert_eq!(scopes("A.java", java, 3)[0].1.as_deref(), Some("run"));

        let ruby = "class User\n  def greet(name)\n    puts name\n  end\nend\n";
        let got = scopes("u.rb", ruby, 3);
        assert_eq!(got[0].1.as_deref(), Some("greet"));
        assert_eq!(got[1].1.as_deref(), Some("User"));
    }

    #[test]
    fn an_arrow_function_is_named_by_its_variable() {
        let js = "const handler = async (req, res) => {\n  const x = 1;\n  res.send(x);\n};\n";
        let got = scopes("a.js", js, 3);
        assert_eq!(got[0].1.as_deref(), Some("handler"));
        let tsx = "export function App(props: Props) {\n  return <div>{props.x}</div>;\n}\n";
        assert_eq!(scopes("a.tsx", tsx, 2)[0].1.as_deref(), Some("App"));
        let ts = "class Repo {\n  find(id: string): Item {\n    return this.items[id];\n  }\n}\n";
        assert_eq!(scopes("a.ts", ts, 3)[0].1.as_deref(), Some("find"));
    }

    #[test]
    fn top_level_code_has_no_scope() {
        assert!(scopes("a.py", "x = 1\nprint(x)\n", 2).is_empty());
    }

    fn region(path: &str, text: &str, needle: &str) -> Region {
        let parsed = Parsed::parse_path(path, text).expect("parses");
        parsed.region_at(text.find(needle).expect("needle"))
    }

    #[test]
    fn code_comments_and_strings_are_told_apart() {
        let py = "x = eval(a)  # TODO: eval here\ns = \"eval(payload)\"\nf = f\"{eval(b)}\"\n";
        assert_eq!(region("a.py", py, "eval(a)"), Region::Code);
        assert_eq!(region("a.py", py, "TODO"), Region::Comment);
        assert_eq!(region("a.py", py, "eval(payload)"), Region::String);
        assert_eq!(region("a.py", py, "eval(b)"), Region::Code);

        let js = "const t = `<img onerror=eval(1)>`; // eval\nconst u = `${eval(z)}`;\n";
        assert_eq!(region("a.js", js, "eval(1)"), Region::String);
        assert_eq!(region("a.js", js, "// eval"), Region::Comment);
        assert_eq!(region("a.js", js, "eval(z)"), Region::Code);

        let rs = "fn f() {\n    /* dbg!(x) */ let s = r#\"dbg!(y)\"#; dbg!(z);\n}\n";
        assert_eq!(region("a.rs", rs, "dbg!(x)"), Region::Comment);
        assert_eq!(region("a.rs", rs, "dbg!(y)"), Region::String);
        assert_eq!(region("a.rs", rs, "dbg!(z)"), Region::Code);

        let doc = "def f():\n    \"\"\"TODO: explain\"\"\"\n    s = \"TODO\"\n";
        assert_eq!(region("a.py", doc, "TODO: explain"), Region::Comment);
        assert_eq!(region("a.py", doc, "TODO\"\n"), Region::String);
        // A dict's entry cut from its dict: the value follows the key on
        // its line, so it is no docstring however the parse recovers.
        let entry = "    \"password\": \"TODO later\",\n";
        assert_eq!(region("a.py", entry, "TODO"), Region::String);

        let rb = "x = <<~SQL\n  select eval\nSQL\ny = \"#{eval(q)}\"\n";
        assert_eq!(region("a.rb", rb, "select eval"), Region::String);
        assert_eq!(region("a.rb", rb, "eval(q)"), Region::Code);
    }

    #[test]
    fn ancestors_run_from_the_innermost_node_to_the_file() {
        let py = "if __name__ == \"__main__\":\n    print(x, file=err)\n";
        let parsed = Parsed::parse_path("a.py", py).expect("parses");
        let kinds: Vec<&str> = parsed
            .ancestors(py.find("print").expect("print"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds.first(), Some(&"identifier"));
        assert!(kinds.contains(&"call") && kinds.contains(&"if_statement"));
        assert_eq!(kinds.last(), Some(&"module"));
    }

    /// A small seeded generator, so the property test needs no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn an_incremental_parse_after_random_edits_equals_a_fresh_parse() {
        let seed = std::env::var("REDLINE_PROPTEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_u64);
        let pieces = [
            "def f(x):\n",
            "    return x\n",
            "class A:\n",
            "  ",
            "\"s\"",
            "# c\n",
            "(",
            ")",
            ":",
            "\n",
            "é",
            "😀",
            "漢",
            "if x:\n",
            "'''doc'''\n",
            "\r\n",
            "x = 1\n",
        ];
        let mut rng = Lcg(seed);
        for case in 0..200 {
            let mut text = String::from("import os\n\ndef main():\n    print('hi')\n");
            let mut parsed = Parsed::parse(Lang::Python, &text).expect("parses");
            for _ in 0..8 {
                let bounds: Vec<usize> = (0..=text.len())
                    .filter(|&i| text.is_char_boundary(i))
                    .collect();
                let a = bounds[rng.below(bounds.len())];
                let b = bounds[rng.below(bounds.len())];
                let range = a.min(b)..a.max(b).min(a.min(b) + 12);
                let range = range.start
                    ..bounds
                        .iter()
                        .copied()
                        .filter(|&i| i <= range.end)
                        .max()
                        .unwrap_or(range.start);
                let inserted: String = (0..rng.below(3))
                    .map(|_| pieces[rng.below(pieces.len())])
                    .collect();
                let edit = TextEdit::replace(&text, range.clone(), &inserted);
                text.replace_range(range, &inserted);
                assert!(parsed.edit(&edit, &text));
                let fresh = Parsed::parse(Lang::Python, &text).expect("parses");
                assert_eq!(
                    parsed.sexp(),
                    fresh.sexp(),
                    "seed {seed}, case {case}: incremental parse differs for {text:?}"
                );
            }
        }
    }
}
