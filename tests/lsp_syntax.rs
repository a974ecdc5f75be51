//! The syntax tree the server keeps for a buffer, through the real binary:
//! typed keystroke by keystroke (never saved), the tree is edited, not
//! parsed again, and the diagnostics follow what the edited text now is: a
//! `print(` inside a string that becomes code is reported, code wrapped into
//! a comment no longer is. `redline.stats` counts the parses, so the test
//! also sees that one fresh parse served every keystroke.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo};
use serde_json::{json, Value};

/// An editor typing into one buffer: one `didChange` per keystroke.
struct Typist {
    client: LspClient,
    uri: String,
    version: i64,
    utf8: bool,
    keystrokes: u64,
}

impl Typist {
    fn open(repo: &TestRepo, path: &str, language: &str, text: &str, utf8: bool) -> Self {
        let mut options = ClientOptions::folder(repo.root());
        options.utf8 = utf8;
        options.work_done_progress = false;
        let mut client = LspClient::start(options);
        let uri = repo.uri(path);
        client.open(&uri, language, 1, text);
        assert!(
            client.await_diagnostics(&uri, 1).is_empty(),
            "the text at HEAD has nothing to report"
        );
        Self {
            client,
            uri,
            version: 1,
            utf8,
            keystrokes: 0,
        }
    }

    /// Columns of `s` in the negotiated encoding.
    fn width(&self, s: &str) -> u32 {
        if self.utf8 {
            s.len() as u32
        } else {
            s.encode_utf16().count() as u32
        }
    }

    /// Types `text` at (`line`, `col`), one character per change.
    fn type_at(&mut self, line: u32, col: u32, text: &str) {
        let mut col = col;
        for ch in text.chars() {
            self.version += 1;
            self.keystrokes += 1;
            let s = ch.to_string();
            self.client
                .change(&self.uri, self.version, [line, col, line, col], &s);
            col += self.width(&s);
        }
    }

    /// Deletes `deleted` (the text just before (`line`, `col`)) with one
    /// backspace per character.
    fn backspace(&mut self, line: u32, col: u32, deleted: &str) {
        let mut col = col;
        for ch in deleted.chars().rev() {
            self.version += 1;
            self.keystrokes += 1;
            let from = col - self.width(&ch.to_string());
            self.client
                .change(&self.uri, self.version, [line, from, line, col], "");
            col = from;
        }
    }

    /// Reviews the buffer as it is now; (rule, line, start character) of
    /// each diagnostic.
    fn review(&mut self) -> Vec<(String, u64, u64)> {
        // An empty change first: findings moved by the last keystroke are
        // republished at its version, so the review gets a version of its
        // own to be awaited at.
        self.version += 1;
        self.keystrokes += 1;
        self.client
            .change(&self.uri, self.version, [0, 0, 0, 0], "");
        self.client.review_now(&self.uri);
        let diagnostics = self.client.await_diagnostics(&self.uri, self.version);
        diagnostics
            .iter()
            .map(|d| {
                (
                    rule_of(d["message"].as_str().unwrap_or_default()),
                    d["range"]["start"]["line"].as_u64().unwrap_or(u64::MAX),
                    d["range"]["start"]["character"]
                        .as_u64()
                        .unwrap_or(u64::MAX),
                )
            })
            .collect()
    }

    fn parses(&mut self) -> Value {
        let stats = self
            .client
            .execute("redline.stats", json!([]))
            .expect("stats");
        stats["server"]["parses"].clone()
    }
}

/// The built-in rule a diagnostic names in its title (`… [rule]`).
fn rule_of(message: &str) -> String {
    let title = message.lines().next().unwrap_or_default();
    title
        .rsplit_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default()
}

fn rules(found: &[(String, u64, u64)]) -> Vec<(&str, u64, u64)> {
    found.iter().map(|(r, l, c)| (r.as_str(), *l, *c)).collect()
}

#[test]
fn a_print_typed_out_of_a_string_is_reported_and_commented_out_is_not() {
    let head = "def main(x):\n    return x\n";
    let repo = TestRepo::new(&[("a.py", head)]);
    let mut editor = Typist::open(&repo, "a.py", "python", head, false);

    // Line 2 typed in: a print inside a string (with a non-BMP character
    // after it, two UTF-16 units): not a leftover.
    editor.type_at(1, 0, "    s = \"print(x)\"  # 😀\n");
    assert_eq!(rules(&editor.review()), [], "a print inside a string");

    // `s = "` and the closing quote deleted: now it is a call.
    editor.backspace(1, 17, "\"");
    editor.backspace(1, 9, "s = \"");
    assert_eq!(rules(&editor.review()), [("debug-print", 1, 4)]);

    // The line above grows a line: the print moves down with the text.
    editor.type_at(0, 12, "\n    y = 1");
    assert_eq!(rules(&editor.review()), [("debug-print", 2, 4)]);

    // Commented out: nothing to report again.
    editor.type_at(2, 4, "# ");
    assert_eq!(rules(&editor.review()), [], "a print inside a comment");

    // One fresh parse (at the first keystroke) served every keystroke;
    // every review after it read the kept tree.
    let parses = editor.parses();
    assert_eq!(parses["fresh"], 1, "{parses}");
    assert_eq!(parses["incremental"], editor.keystrokes - 1, "{parses}");
    assert_eq!(parses["failed"], 0, "{parses}");
    assert_eq!(parses["reviews_with_tree"], 4, "{parses}");
}

#[test]
fn a_crlf_rust_buffer_edited_in_utf8_columns_follows_the_edits() {
    let head = "fn main() {\r\n    let x = 1;\r\n}\r\n";
    let repo = TestRepo::new(&[("src/main.rs", head)]);
    let mut editor = Typist::open(&repo, "src/main.rs", "rust", head, true);

    // A commented-out dbg! (after a multi-byte string) is no leftover.
    editor.type_at(2, 0, "    let s = \"é漢😀\"; // dbg!(x);\r\n");
    assert_eq!(rules(&editor.review()), [], "a dbg! inside a comment");

    // The `// ` deleted: the dbg! is code now (columns are UTF-8 bytes).
    let comment_end = editor.width("    let s = \"é漢😀\"; // ");
    editor.backspace(2, comment_end, "// ");
    let code_at = u64::from(editor.width("    let s = \"é漢😀\"; "));
    assert_eq!(rules(&editor.review()), [("debug-dbg-macro", 2, code_at)]);

    // Wrapped into a block comment across lines: gone again.
    editor.type_at(3, 0, "*/");
    editor.type_at(2, 0, "/*");
    assert_eq!(rules(&editor.review()), [], "a dbg! inside /* */");

    let parses = editor.parses();
    assert_eq!(parses["fresh"], 1, "{parses}");
    assert_eq!(parses["incremental"], editor.keystrokes - 1, "{parses}");
}

#[test]
fn only_the_most_recently_edited_buffers_keep_a_tree() {
    let head = "def main():\n    return 1\n";
    let names: Vec<String> = (0..20).map(|i| format!("m{i}.py")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), head)).collect();
    let repo = TestRepo::new(&files);
    let mut options = ClientOptions::folder(repo.root());
    options.work_done_progress = false;
    let mut client = LspClient::start(options);
    let uris: Vec<String> = names.iter().map(|n| repo.uri(n)).collect();
    for uri in &uris {
        client.open(uri, "python", 1, head);
    }
    let parses = |client: &mut LspClient| {
        let stats = client.execute("redline.stats", json!([])).expect("stats");
        stats["server"]["parses"].clone()
    };
    // Opened and only read: no tree at all.
    assert_eq!(parses(&mut client)["trees_kept"], 0);
    let limit = parses(&mut client)["max_kept_trees"]
        .as_u64()
        .expect("a limit");
    assert!(limit < uris.len() as u64);

    for uri in &uris {
        client.change(uri, 2, [1, 4, 1, 4], "x");
    }
    let after_one_edit_each = parses(&mut client);
    assert_eq!(after_one_edit_each["trees_kept"], limit);
    assert_eq!(after_one_edit_each["fresh"], uris.len() as u64);
    assert_eq!(
        after_one_edit_each["trees_let_go"],
        uris.len() as u64 - limit
    );

    // The last one edited still has its tree; the first one parses afresh.
    client.change(&uris[uris.len() - 1], 3, [1, 5, 1, 5], "y");
    client.change(&uris[0], 3, [1, 5, 1, 5], "y");
    let now = parses(&mut client);
    assert_eq!(now["incremental"], 1, "{now}");
    assert_eq!(now["fresh"], uris.len() as u64 + 1, "{now}");
    assert_eq!(now["trees_kept"], limit, "{now}");

    // Closing a buffer lets its tree go.
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uris[0]}}),
    );
    assert_eq!(parses(&mut client)["trees_kept"], limit - 1);
}
