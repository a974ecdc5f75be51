//! End-to-end: the real `redline lsp` binary over stdio, driven like an
//! editor drives it. Reviews use the built-in offline reviewer.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use serde_json::{json, Value};

const BASE_PY: &str = "def main():\n    return 1\n";
/// `BASE_PY` with a debug print added on line 2 (one built-in finding).
const WITH_PRINT: &str = "def main():\n    print(1)\n    return 1\n";

/// An edit of `BASE_PY` that adds a print and a TODO: two findings.
const PRINT_AND_TODO: &str = "def main():\n    print(1)\n    # TODO later\n    return 1\n";

fn started(repo: &TestRepo) -> LspClient {
    LspClient::start(ClientOptions::folder(repo.root()))
}

/// Opens `a.py` (as at HEAD), waits for the open review, then edits it to
/// `text` as version 2 without saving and reviews; returns the diagnostics.
fn edit_and_review(client: &mut LspClient, uri: &str, text: &str) -> Vec<Value> {
    client.open(uri, "python", 1, BASE_PY);
    assert!(client.await_diagnostics(uri, 1).is_empty());
    client.change(uri, 2, [0, 0, 2, 0], text);
    client.review_now(uri);
    client.await_diagnostics(uri, 2)
}

fn titles(actions: &[Value]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn stat(client: &mut LspClient, key: &str) -> u64 {
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    stats["server"][key].as_u64().expect("counter")
}

#[test]
fn unsaved_edit_is_reviewed_and_published_with_its_version() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let uri = repo.uri("a.py");
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["source"], "redline");
    assert_eq!(d["code"], "builtin");
    assert_eq!(d["severity"], 3, "suggestion → Information");
    assert_eq!(d["range"]["start"], json!({"line": 1, "character": 4}));
    assert_eq!(d["range"]["end"], json!({"line": 1, "character": 10}));
    assert!(d["data"]["fingerprint"]
        .as_str()
        .is_some_and(|f| f.len() == 16));
    assert_eq!(
        std::fs::read_to_string(repo.path("a.py")).expect("read"),
        BASE_PY,
        "the file on disk was never saved"
    );
    // Progress was reported while the review ran.
    client.await_notification("$/progress", |p| p["value"]["kind"] == "end", TIMEOUT);
    client.shutdown();
}

#[test]
fn a_task_pasted_with_its_code_from_another_file_is_not_this_edits() {
    let helper =
        "def load(path):\n    # TODO: cache the parsed file between runs\n    return parse(path)\n";
    let repo = TestRepo::new(&[("a.py", BASE_PY), ("b.py", helper)]);
    let mut client = started(&repo);
    let uri = repo.uri("a.py");
    // The block pasted from b.py keeps b.py's task; the one typed is new.
    let pasted = format!("{BASE_PY}\n{helper}\ndef save(path):\n    # TODO: write atomically\n    return dump(path)\n");
    let diags = edit_and_review(&mut client, &uri, &pasted);
    let lines: Vec<u64> = diags
        .iter()
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(lines, vec![8], "{diags:?}");
    client.shutdown();
}

#[test]
fn warning_maps_to_warning_severity() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let uri = repo.uri("a.py");
    let diags = edit_and_review(&mut client, &uri, "def main():\n    return eval(x)\n");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["severity"], 2);
}

const JS_LINE: &str = "const s = \"😀漢字\"; console.log(s);\n";

#[test]
fn ranges_are_utf16_on_lines_with_emoji_and_cjk() {
    let repo = TestRepo::new(&[("a.js", "let x = 1;\n")]);
    let mut client = started(&repo);
    assert_eq!(
        client.init_result["capabilities"]["positionEncoding"],
        "utf-16"
    );
    let uri = repo.uri("a.js");
    client.open(&uri, "javascript", 1, &format!("let x = 1;\n{JS_LINE}"));
    let diags = client.await_diagnostics(&uri, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    // `const s = "` 11 units, 😀 2, 漢字 2, `"; ` 3.
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 1, "character": 18})
    );
    assert_eq!(
        diags[0]["range"]["end"],
        json!({"line": 1, "character": 30})
    );
}

#[test]
fn ranges_are_utf8_bytes_when_the_client_offers_utf8() {
    let repo = TestRepo::new(&[("a.js", "let x = 1;\n")]);
    let mut options = ClientOptions::folder(repo.root());
    options.utf8 = true;
    let mut client = LspClient::start(options);
    assert_eq!(
        client.init_result["capabilities"]["positionEncoding"],
        "utf-8"
    );
    let uri = repo.uri("a.js");
    client.open(&uri, "javascript", 1, &format!("let x = 1;\n{JS_LINE}"));
    let diags = client.await_diagnostics(&uri, 1);
    // 11 bytes, 😀 4, 漢字 6, `"; ` 3.
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 1, "character": 24})
    );
    // Edits are read in UTF-8 too: insert at byte 24 of line 1.
    client.change(&uri, 2, [1, 24, 1, 24], "x; ");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 2);
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 1, "character": 27})
    );
}

#[test]
fn line_separator_u2028_does_not_split_lines() {
    let repo = TestRepo::new(&[("a.js", "let x = 1;\n")]);
    let mut client = started(&repo);
    let uri = repo.uri("a.js");
    let text = "let x = 1;\nconst a = \"x\u{2028}y\"; console.log(a);\nlet y = 2;\n";
    client.open(&uri, "javascript", 1, text);
    let diags = client.await_diagnostics(&uri, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    // `const a = "x` 12, U+2028 1, `y"; ` 4.
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 1, "character": 17})
    );
    // An edit after the separator lands where the editor meant it.
    client.change(&uri, 2, [2, 0, 2, 0], "// TODO tidy\n");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 2);
    let lines: Vec<_> = diags
        .iter()
        .map(|d| d["range"]["start"]["line"].clone())
        .collect();
    assert_eq!(lines, vec![json!(1), json!(2)], "{diags:?}");
}

#[test]
fn findings_move_with_inserted_and_deleted_lines_without_a_new_review() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let uri = repo.uri("a.py");
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    assert_eq!(diags[0]["range"]["start"]["line"], 1);
    let reviews = stat(&mut client, "reviews_scheduled");

    client.change(&uri, 3, [0, 0, 0, 0], "import os\nimport sys\n");
    let diags = client.await_diagnostics(&uri, 3);
    assert_eq!(diags.len(), 1);
    assert_eq!(
        diags[0]["range"]["start"],
        json!({"line": 3, "character": 4})
    );

    client.change(&uri, 4, [0, 0, 1, 0], "");
    let diags = client.await_diagnostics(&uri, 4);
    assert_eq!(diags[0]["range"]["start"]["line"], 2);

    client.change(&uri, 5, [2, 0, 3, 0], "");
    let diags = client.await_diagnostics(&uri, 5);
    assert!(
        diags.is_empty(),
        "deleting its line removes the finding: {diags:?}"
    );
    assert_eq!(
        stat(&mut client, "reviews_scheduled"),
        reviews,
        "no review ran"
    );
}

#[test]
fn dismissed_finding_stays_dismissed_after_a_restart() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, PRINT_AND_TODO);
    assert_eq!(diags.len(), 2, "{diags:?}");
    let print = diags
        .iter()
        .find(|d| d["data"]["rule"] == "debug-print")
        .expect("print finding")
        .clone();
    let actions = client.code_actions(&uri, &print);
    let dismiss = actions
        .iter()
        .find(|a| a["title"] == "Dismiss redline finding")
        .expect("dismiss action");
    let cmd = &dismiss["command"];
    client
        .execute(
            cmd["command"].as_str().expect("command"),
            cmd["arguments"].clone(),
        )
        .expect("dismissed");
    let diags = client.await_diagnostics(&uri, 2);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0]["data"]["rule"], "todo-comment");
    assert!(repo.root().join(".git/redline/dismissed.json").is_file());
    client.shutdown();

    let mut client = started(&repo);
    client.open(&uri, "python", 7, PRINT_AND_TODO);
    let diags = client.await_diagnostics(&uri, 7);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["data"]["rule"], "todo-comment");
    client.shutdown();
}

#[test]
fn dismiss_all_in_file_clears_every_finding() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, PRINT_AND_TODO);
    let actions = client.code_actions(&uri, &diags[0]);
    assert_eq!(
        titles(&actions),
        [
            "Apply redline fix",
            "Dismiss redline finding",
            "Dismiss redline finding for the team (.redline/dismissed.toml)",
            "Explain redline finding",
            "Dismiss all redline findings in this file"
        ]
    );
    let all = &actions[4]["command"];
    client
        .execute(
            all["command"].as_str().expect("command"),
            all["arguments"].clone(),
        )
        .expect("dismissed");
    assert!(client.await_diagnostics(&uri, 2).is_empty());
}

#[test]
fn explain_opens_a_markdown_document() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    let actions = client.code_actions(&uri, &diags[0]);
    let explain = actions
        .iter()
        .find(|a| a["title"] == "Explain redline finding")
        .expect("explain action");
    let cmd = &explain["command"];
    let markdown = client
        .execute(
            cmd["command"].as_str().expect("command"),
            cmd["arguments"].clone(),
        )
        .expect("explained");
    assert!(
        markdown.as_str().is_some_and(|m| m.contains("logging")),
        "{markdown}"
    );
    let shown = client.await_server_request("window/showDocument", TIMEOUT);
    let doc_uri = shown["params"]["uri"].as_str().expect("uri");
    assert!(doc_uri.ends_with(".md"));
    let path = doc_uri.strip_prefix("file://").expect("file uri");
    let content = std::fs::read_to_string(path).expect("explanation file");
    assert!(content.contains("`print()` debugging left in code"));
    // The explanations' private folder goes with the server.
    let folder = std::path::Path::new(path).parent().expect("folder");
    client.shutdown();
    assert!(!folder.exists(), "{} left behind", folder.display());
}

#[test]
fn explain_falls_back_to_a_message_without_show_document() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.show_document = false;
    let mut client = LspClient::start(options);
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    let fp = diags[0]["data"]["fingerprint"].clone();
    client
        .execute("redline.explain", json!([uri, fp]))
        .expect("explained");
    client.await_notification(
        "window/showMessage",
        |p| p["message"].as_str().is_some_and(|m| m.contains("logging")),
        TIMEOUT,
    );
    client.shutdown();
}

#[test]
fn apply_fix_is_a_workspace_edit_deleting_the_line() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    let actions = client.code_actions(&uri, &diags[0]);
    let fix = actions
        .iter()
        .find(|a| a["title"] == "Apply redline fix")
        .expect("fix action");
    let edits = &fix["edit"]["changes"][&uri];
    assert_eq!(
        edits,
        &json!([{"range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}, "newText": ""}])
    );
    assert_eq!(
        std::fs::read_to_string(repo.path("a.py")).expect("read"),
        BASE_PY,
        "the server never writes the fix itself"
    );
    // The editor applies it; the finding goes with its line.
    client.change(&uri, 3, [1, 0, 2, 0], "");
    assert!(client.await_diagnostics(&uri, 3).is_empty());
}

#[test]
fn a_newer_edit_cancels_the_review_in_flight() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options
        .env
        .push(("REDLINE_LSP_REVIEW_DELAY_MS".into(), "300".into()));
    let mut client = LspClient::start(options);
    client.open(&uri, "python", 1, BASE_PY);
    client.change(&uri, 2, [1, 0, 1, 0], "    print(1)\n");
    client.review_now(&uri);
    client.change(&uri, 3, [1, 0, 2, 0], "    # TODO later\n");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 3);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0]["data"]["rule"], "todo-comment");
    let stale = client.seen.iter().any(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["version"] != json!(3)
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    assert!(!stale, "a superseded review published: {:?}", client.seen);
    assert!(stat(&mut client, "reviews_cancelled") >= 2);
}

#[test]
fn two_workspace_folders_keep_their_own_configuration() {
    let strict = TestRepo::new(&[("a.py", BASE_PY)]);
    let relaxed = TestRepo::new(&[
        ("a.py", BASE_PY),
        (".redline.toml", "[review]\nexclude = [\"*.py\"]\n"),
    ]);
    let mut options = ClientOptions::folder(strict.root());
    options.folders.push(relaxed.root().to_path_buf());
    let mut client = LspClient::start(options);
    let text = WITH_PRINT;
    let (s_uri, r_uri) = (strict.uri("a.py"), relaxed.uri("a.py"));
    let strict_diags = edit_and_review(&mut client, &s_uri, text);
    assert_eq!(strict_diags.len(), 1);
    assert!(edit_and_review(&mut client, &r_uri, text).is_empty());
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["workspaces"].as_object().map(|o| o.len()), Some(2));
    // Dismissals belong to one repository; stats can focus on a document's.
    let fp = strict_diags[0]["data"]["fingerprint"].clone();
    client
        .execute("redline.dismiss", json!([s_uri, [fp]]))
        .expect("dismissed");
    let focused = |client: &mut LspClient, uri: &str| {
        client
            .execute("redline.stats", json!([uri]))
            .expect("stats")["dismissed"]
            .clone()
    };
    assert_eq!(focused(&mut client, &s_uri), 1);
    assert_eq!(focused(&mut client, &r_uri), 0);
}

#[test]
fn did_close_clears_diagnostics() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    assert_eq!(edit_and_review(&mut client, &uri, WITH_PRINT).len(), 1);
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    let params = client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri && p["diagnostics"] == json!([]) && p["version"].is_null(),
        TIMEOUT,
    );
    assert_eq!(params["diagnostics"], json!([]));
}

#[test]
fn save_triggers_a_review_by_default() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    client.open(&uri, "python", 1, BASE_PY);
    client.await_diagnostics(&uri, 1);
    client.change(&uri, 2, [1, 0, 1, 0], "    print(1)\n");
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": uri}}),
    );
    assert_eq!(client.await_diagnostics(&uri, 2).len(), 1);
}

#[test]
fn a_bad_redline_toml_is_reported_and_defaults_still_review() {
    let repo = TestRepo::new(&[("a.py", BASE_PY), (".redline.toml", "[review\n")]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    client.await_notification(
        "window/showMessage",
        |p| {
            p["type"] == 1
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(".redline.toml"))
        },
        TIMEOUT,
    );
    let diags = edit_and_review(&mut client, &uri, WITH_PRINT);
    assert_eq!(diags.len(), 1);
}

#[test]
fn redline_toml_change_applies_without_restart_and_a_bad_one_keeps_the_old() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let text = WITH_PRINT;
    assert_eq!(edit_and_review(&mut client, &uri, text).len(), 1);
    assert!(
        client
            .server_requests
            .iter()
            .any(|r| r["method"] == "client/registerCapability"
                && r.to_string().contains("**/.redline.toml")),
        "the server watches .redline.toml: {:?}",
        client.server_requests
    );

    let config = repo.path(".redline.toml");
    std::fs::write(&config, "[review]\nexclude = [\"*.py\"]\n").expect("write config");
    let changed = json!({"changes": [{"uri": lsp_client::file_uri(&config), "type": 1}]});
    client.notify("workspace/didChangeWatchedFiles", changed.clone());
    client.change(&uri, 3, [0, 0, 0, 0], "");
    client.review_now(&uri);
    assert!(client.await_diagnostics(&uri, 3).is_empty(), "excluded now");

    std::fs::write(&config, "[review\n").expect("write bad config");
    client.notify("workspace/didChangeWatchedFiles", changed);
    client.await_notification(
        "window/showMessage",
        |p| {
            p["type"] == 1
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("keeping the previous"))
        },
        TIMEOUT,
    );
    client.change(&uri, 4, [0, 0, 0, 0], "");
    client.review_now(&uri);
    assert!(
        client.await_diagnostics(&uri, 4).is_empty(),
        "previous config kept"
    );
}

#[test]
fn editor_settings_change_applies_without_restart() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.initialization_options = json!({"review": {"exclude": ["*.py"]}});
    let mut client = LspClient::start(options);
    let text = WITH_PRINT;
    assert!(
        edit_and_review(&mut client, &uri, text).is_empty(),
        "initializationOptions apply"
    );
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"redline": {"review": {"exclude": []}}}}),
    );
    client.change(&uri, 3, [0, 0, 0, 0], "");
    client.review_now(&uri);
    assert_eq!(client.await_diagnostics(&uri, 3).len(), 1);
}

#[test]
fn requests_are_answered_while_a_review_runs() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options
        .env
        .push(("REDLINE_LSP_REVIEW_DELAY_MS".into(), "5000".into()));
    let mut client = LspClient::start(options);
    client.open(&uri, "python", 1, BASE_PY);
    client.review_now(&uri);
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    // Answered while both reviews (open + reviewNow) are still running.
    assert_eq!(stats["server"]["reviews_published"], 0);
    assert_eq!(stats["server"]["open_documents"], 1);
    assert_eq!(stats["offline"], true);
}

#[test]
fn review_now_of_a_document_that_is_not_open_is_an_error() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let err = client
        .execute("redline.reviewNow", json!([repo.uri("nope.py")]))
        .expect_err("not open");
    assert!(err["message"]
        .as_str()
        .is_some_and(|m| m.contains("not open")));
}

#[test]
fn idle_trigger_reviews_after_typing_stops() {
    let repo = TestRepo::new(&[
        ("a.py", BASE_PY),
        (
            ".redline.toml",
            "[review]\ntrigger = \"idle\"\nidle_ms = 50\n",
        ),
    ]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    client.open(&uri, "python", 1, BASE_PY);
    client.await_diagnostics(&uri, 1);
    client.change(&uri, 2, [1, 0, 1, 0], "    print(1)\n");
    // No save, no command: the idle timer reviews version 2.
    assert_eq!(client.await_diagnostics(&uri, 2).len(), 1);
}

#[test]
fn manual_trigger_reviews_only_on_the_command() {
    let repo = TestRepo::new(&[
        ("a.py", BASE_PY),
        (".redline.toml", "[review]\ntrigger = \"manual\"\n"),
    ]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    client.open(&uri, "python", 1, "def main():\n    print(1)\n");
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": uri}}),
    );
    assert_eq!(
        stat(&mut client, "reviews_scheduled"),
        0,
        "neither open nor save reviewed"
    );
    client.review_now(&uri);
    assert_eq!(client.await_diagnostics(&uri, 1).len(), 1);
}

#[test]
fn a_new_commit_becomes_the_base_of_the_next_review() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let text = WITH_PRINT;
    let mut client = started(&repo);
    assert_eq!(edit_and_review(&mut client, &uri, text).len(), 1);
    // Commit the buffer's text: the print line is no longer a change.
    std::fs::write(repo.path("a.py"), text).expect("write");
    let git = git2::Repository::open(repo.root()).expect("open repo");
    let mut index = git.index().expect("index");
    index.add_path(std::path::Path::new("a.py")).expect("add");
    index.write().expect("write index");
    let tree = git
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("t", "t@example.com").expect("sig");
    let parent = git.head().expect("head").peel_to_commit().expect("commit");
    git.commit(Some("HEAD"), &sig, &sig, "print", &tree, &[&parent])
        .expect("commit");
    client.change(&uri, 3, [0, 0, 0, 0], "");
    client.review_now(&uri);
    assert!(client.await_diagnostics(&uri, 3).is_empty());
}

#[test]
fn review_now_without_argument_reviews_every_open_document() {
    let repo = TestRepo::new(&[("a.py", BASE_PY), ("b.py", BASE_PY)]);
    let (a, b) = (repo.uri("a.py"), repo.uri("b.py"));
    let mut client = started(&repo);
    let text = WITH_PRINT;
    for uri in [&a, &b] {
        client.open(uri, "python", 1, BASE_PY);
        client.await_diagnostics(uri, 1);
        client.change(uri, 2, [0, 0, 2, 0], text);
    }
    let result = client
        .execute("redline.reviewNow", json!([]))
        .expect("scheduled");
    assert_eq!(result["scheduled"], 2);
    assert_eq!(client.await_diagnostics(&a, 2).len(), 1);
    assert_eq!(client.await_diagnostics(&b, 2).len(), 1);
}

#[test]
fn a_file_outside_every_folder_is_reviewed_in_its_own_repository() {
    let folder = TestRepo::new(&[("a.py", BASE_PY)]);
    let other = TestRepo::new(&[("b.py", BASE_PY)]);
    let uri = other.uri("b.py");
    let mut client = started(&folder);
    client.open(&uri, "python", 1, WITH_PRINT);
    assert_eq!(client.await_diagnostics(&uri, 1).len(), 1);
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["workspaces"].as_object().map(|o| o.len()), Some(2));
}

#[test]
fn an_untitled_buffer_is_checked_by_the_secret_rules_only() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let uri = "untitled:Untitled-1";
    client.open(uri, "python", 1, "print(1)\n");
    assert!(
        client.await_diagnostics(uri, 1).is_empty(),
        "nothing to diff against: no debug-print finding"
    );
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["server"]["open_documents"], 1);
    assert_eq!(stats["workspaces"].as_object().map(|o| o.len()), Some(1));
}

#[test]
fn an_unreachable_model_endpoint_is_reported_once() {
    let config = "[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nmax_attempts = 1\n[cache]\nenabled = false\n";
    let repo = TestRepo::new(&[("a.py", BASE_PY), (".redline.toml", config)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.env.push(("REDLINE_OFFLINE".into(), "0".into()));
    let mut client = LspClient::start(options);
    let text = WITH_PRINT;
    edit_and_review(&mut client, &uri, text);
    client.await_notification(
        "window/showMessage",
        |p| {
            p["type"] == 2
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("could not run"))
        },
        TIMEOUT,
    );
    client.change(&uri, 3, [0, 0, 0, 0], "");
    client.review_now(&uri);
    client.await_diagnostics(&uri, 3);
    let repeats = client
        .seen
        .iter()
        .filter(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 2)
        .count();
    assert_eq!(repeats, 1, "the same problem is shown once");
}

#[test]
fn a_team_dismissal_pulled_into_the_repository_hides_the_finding_at_the_next_review() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, PRINT_AND_TODO);
    assert_eq!(diags.len(), 2, "{diags:?}");
    let print = diags
        .iter()
        .find(|d| d["data"]["rule"] == "debug-print")
        .expect("print finding");
    let fp = print["data"]["fingerprint"].as_str().expect("fingerprint");

    // A teammate's judgement arrives with a pull: the file changes on disk.
    std::fs::create_dir_all(repo.root().join(".redline")).unwrap();
    std::fs::write(
        repo.root().join(".redline/dismissed.toml"),
        format!(
            "[[dismissed]]\nfingerprint = \"{fp}\"\nwho = \"Ada\"\nwhy = \"prints on purpose\"\n"
        ),
    )
    .unwrap();
    client.change(&uri, 3, [3, 0, 3, 0], "");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 3);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["data"]["rule"], "todo-comment");
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["team_dismissed"], 1, "{stats}");
    assert_eq!(stats["dismissed"], 0, "the personal store is untouched");
    client.shutdown();
}

#[test]
fn dismiss_for_the_team_from_the_editor_writes_who_and_why_to_the_committed_file() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let config = git2::Repository::open(repo.root())
        .unwrap()
        .config()
        .unwrap();
    let mut local = config.open_level(git2::ConfigLevel::Local).unwrap();
    local.set_str("user.name", "Ada Lovelace").unwrap();
    local.set_str("user.email", "ada@example.com").unwrap();
    let uri = repo.uri("a.py");
    let text = "def main():\n    # TODO later\n    # FIXME soon\n    return 1\n";
    let mut client = started(&repo);
    let diags = edit_and_review(&mut client, &uri, text);
    assert_eq!(diags.len(), 2, "{diags:?}");
    let todo = &diags[0];
    let actions = client.code_actions(&uri, todo);
    let team = actions
        .iter()
        .find(|a| a["title"] == "Dismiss redline finding for the team (.redline/dismissed.toml)")
        .unwrap_or_else(|| panic!("a team action among {actions:?}"));
    let command = &team["command"];
    let mut args = command["arguments"].as_array().unwrap().clone();
    args.push(json!("a tracked follow-up, see #12"));
    let answer = client
        .execute(command["command"].as_str().unwrap(), json!(args))
        .expect("dismissed for the team");
    assert_eq!(answer["dismissed"], 1);

    // Republished without it, and the file says who and why for the pull request.
    let diags = client.await_diagnostics(&uri, 2);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_ne!(diags[0]["data"]["fingerprint"], todo["data"]["fingerprint"]);
    let file = std::fs::read_to_string(repo.root().join(".redline/dismissed.toml")).unwrap();
    assert!(
        file.contains("who = \"Ada Lovelace <ada@example.com>\""),
        "{file}"
    );
    assert!(
        file.contains("why = \"a tracked follow-up, see #12\""),
        "{file}"
    );
    assert!(
        file.contains(todo["data"]["fingerprint"].as_str().unwrap()),
        "{file}"
    );
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(
        stats["dismissed"], 0,
        "the personal store is untouched: {stats}"
    );

    // A wrong shape changes nothing.
    let err = client
        .execute("redline.dismissForTeam", json!([uri, 5]))
        .expect_err("wrong shape");
    assert_eq!(err["code"], -32602, "{err}");
    client.shutdown();
}
