//! The stdio transport through the real binary: bad frames and bad JSON
//! are answered and the server goes on; the process exits as LSP 3.17
//! says; a client that never answers the server's requests does not wedge
//! it; a panicking review is contained.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const BASE_PY: &str = "def main():\n    return 1\n";
/// LSP 3.17 wants the process gone within a second of the end of its
/// input; the margin is for a loaded CI machine.
const EXIT_DEADLINE: Duration = Duration::from_secs(3);

fn started(repo: &TestRepo) -> LspClient {
    LspClient::start(ClientOptions::folder(repo.root()))
}

/// The server still answers a request: `redline.stats`.
fn assert_answers(client: &mut LspClient) {
    let stats = client
        .execute("redline.stats", json!([]))
        .expect("stats answered");
    assert!(stats["server"].is_object(), "{stats}");
}

/// Waits for the error answer (`id: null` unless given) with `code`.
fn await_error(client: &mut LspClient, id: Value, code: i64) -> Value {
    let response = client.await_response(&id, TIMEOUT);
    assert_eq!(response["error"]["code"], code, "{response}");
    response
}

/// Waits for a publication of `uri` at `version` with `n` diagnostics (an
/// edit republishes moved findings before the review lands).
fn await_review(client: &mut LspClient, uri: &str, version: i64, n: usize) -> Vec<Value> {
    let params = client.await_notification(
        "textDocument/publishDiagnostics",
        |p| {
            p["uri"] == uri
                && p["version"] == json!(version)
                && p["diagnostics"].as_array().is_some_and(|d| d.len() == n)
        },
        TIMEOUT,
    );
    params["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_frame_whose_body_is_not_json_is_a_parse_error_and_the_server_goes_on() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    client.send_raw(b"Content-Length: 11\r\n\r\nhello world");
    await_error(&mut client, Value::Null, -32700);
    assert_answers(&mut client);
    client.shutdown();
}

#[test]
fn a_bad_content_length_is_a_parse_error_and_the_next_frame_is_served() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let body = r#"{"jsonrpc":"2.0","method":"$/unknown"}"#;
    for header in [
        "Content-Length: abc".to_string(),
        "Content-Length: -5".to_string(),
        "Content-Length: 99999999999999".to_string(),
        "Content-Type: application/vscode-jsonrpc".to_string(),
        "hello world".to_string(),
    ] {
        client.send_raw(format!("{header}\r\n\r\n{body}").as_bytes());
        let error = await_error(&mut client, Value::Null, -32700);
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Parse error: ")),
            "{header}: {error}"
        );
        assert_answers(&mut client);
    }
    client.shutdown();
}

#[test]
fn json_that_is_not_a_request_is_an_invalid_request_and_the_server_goes_on() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    for body in [
        "[]",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"}]",
        "null",
        "{}",
        "42",
    ] {
        client.send_body(body.as_bytes());
        await_error(&mut client, Value::Null, -32600);
        assert_answers(&mut client);
    }
    // An id that can be read is answered with.
    client.send_body(br#"{"jsonrpc":"2.0","id":"x-9","method":7}"#);
    await_error(&mut client, json!("x-9"), -32600);
    client.send_body(br#"{"id":"x-10","method":"shutdown"}"#);
    await_error(&mut client, json!("x-10"), -32600);
    assert_answers(&mut client);
    client.shutdown();
}

#[test]
fn request_params_of_the_wrong_shape_are_invalid_params_and_the_server_goes_on() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let error = client
        .request("textDocument/codeAction", json!(5))
        .expect_err("rejected");
    assert_eq!(error["code"], -32602, "{error}");
    let error = client
        .request("workspace/executeCommand", json!({"command": 42}))
        .expect_err("rejected");
    assert_eq!(error["code"], -32602, "{error}");
    // A notification with wrong params is dropped; one with an id is not a
    // request.
    client.notify("textDocument/didChange", json!({"textDocument": 1}));
    client.send_body(br#"{"jsonrpc":"2.0","id":"n-1","method":"textDocument/didClose","params":{"textDocument":{"uri":"file:///x"}}}"#);
    await_error(&mut client, json!("n-1"), -32600);
    assert_answers(&mut client);
    client.shutdown();
}

/// `const s = "<lone>"; console.log(s);` sent with `\ud83d` as a raw
/// escape: the server reads U+FFFD (one UTF-16 unit) and the finding on
/// the rest of the line is where it belongs.
#[test]
fn a_lone_surrogate_in_an_edit_becomes_a_replacement_character() {
    let repo = TestRepo::new(&[("a.js", "let x = 1;\n")]);
    let mut client = started(&repo);
    let uri = repo.uri("a.js");
    client.open(&uri, "javascript", 1, "let x = 1;\n");
    assert!(client.await_diagnostics(&uri, 1).is_empty());
    for (version, escape, column) in [
        // `const s = "` is 11 units, then the string, then `"; ` 3.
        (2, r"\ud83d", 15),
        (3, r"\ude00\ud83d", 16),
        (4, r"\ud83d\ude00", 16),
        (5, r"\\ud83d", 20),
    ] {
        let change = json!({
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": "let x = 1;\nconst s = \"STRING\"; console.log(s);\n"}]
            }
        });
        let body = change.to_string().replace("STRING", escape);
        client.send_body(body.as_bytes());
        client.review_now(&uri);
        let diags = await_review(&mut client, &uri, version, 1);
        assert_eq!(
            diags[0]["range"]["start"],
            json!({"line": 1, "character": column}),
            "{escape}"
        );
    }
    let parse_errors = client
        .responses
        .iter()
        .filter(|r| r["error"]["code"] == -32700)
        .count();
    assert_eq!(parse_errors, 0, "{:?}", client.responses);
    client.shutdown();
}

#[test]
fn exit_without_shutdown_exits_with_code_1() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    client.notify("exit", Value::Null);
    let status = client.wait_for_exit(EXIT_DEADLINE).expect("exited");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn exit_after_shutdown_exits_with_code_0_even_if_the_input_stays_open() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    client.request("shutdown", Value::Null).expect("shutdown");
    client.notify("exit", Value::Null);
    let status = client.wait_for_exit(EXIT_DEADLINE).expect("exited");
    assert_eq!(status.code(), Some(0));
}

/// A client that never answers the server's requests, with reviews and
/// explanations in flight, then goes away: the process must not linger.
#[test]
fn closing_the_input_ends_the_server_with_work_pending_code_1_without_shutdown() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.answer_server_requests = false;
    options
        .env
        .push(("REDLINE_LSP_REVIEW_DELAY_MS".into(), "60000".into()));
    let mut client = LspClient::start(options);
    client.open(
        &uri,
        "python",
        1,
        "def main():\n    print(1)\n    return 1\n",
    );
    client.review_now(&uri);
    client.close_input();
    let status = client.wait_for_exit(EXIT_DEADLINE).expect("exited in time");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn closing_the_input_after_shutdown_exits_with_code_0() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    client.request("shutdown", Value::Null).expect("shutdown");
    client.close_input();
    let status = client.wait_for_exit(EXIT_DEADLINE).expect("exited in time");
    assert_eq!(status.code(), Some(0));
}

/// `window/showDocument` is never answered: four explanations used to
/// take every request slot of the server for good.
#[test]
fn a_client_that_never_answers_still_gets_answers_diagnostics_and_explanations() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.answer_server_requests = false;
    options
        .env
        .push(("REDLINE_LSP_CLIENT_TIMEOUT_MS".into(), "500".into()));
    let mut client = LspClient::start(options);
    client.open(
        &uri,
        "python",
        1,
        "def main():\n    print(1)\n    return 1\n",
    );
    let diags = client.await_diagnostics(&uri, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let fingerprint = diags[0]["data"]["fingerprint"].clone();
    for _ in 0..4 {
        let markdown = client
            .execute("redline.explain", json!([uri, fingerprint]))
            .expect("explained");
        assert!(markdown.as_str().is_some_and(|m| m.contains("logging")));
    }
    assert_answers(&mut client);
    client.change(&uri, 2, [1, 0, 1, 0], "    eval(x)\n");
    client.review_now(&uri);
    await_review(&mut client, &uri, 2, 2);
    // Unanswered in time, each explanation falls back to a message.
    for _ in 0..4 {
        client.await_notification(
            "window/showMessage",
            |p| p["message"].as_str().is_some_and(|m| m.contains("logging")),
            TIMEOUT,
        );
    }
    let asked = client
        .server_requests
        .iter()
        .filter(|r| r["method"] == "window/showDocument")
        .count();
    assert_eq!(asked, 4);
    client.shutdown();
}

#[test]
fn a_closed_output_ends_the_server_with_code_2_and_one_line_on_stderr() {
    let home = tempfile::tempdir().expect("temp home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_redline"))
        .arg("lsp")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env("REDLINE_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("stdin");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
    stdin.flush().expect("flush");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("exited");
    assert_eq!(status.code(), Some(2), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("lsp stopped"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("cannot write to the client"), "{stderr}");
}

#[test]
fn a_panicking_review_is_reported_once_and_the_next_review_works() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options
        .env
        .push(("REDLINE_TEST_PANIC_ON".into(), "EXPLODE".into()));
    let mut client = LspClient::start(options);
    client.open(&uri, "python", 1, "def main():\n    return 1  # EXPLODE\n");
    let crashed = |p: &Value| p["message"].as_str().is_some_and(|m| m.contains("crashed"));
    client.await_notification("window/showMessage", crashed, TIMEOUT);
    // A second crash is counted, not shown again.
    client.review_now(&uri);
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let stats = client.execute("redline.stats", json!([])).expect("stats");
        if stats["server"]["reviews_panicked"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats}");
    }
    client.change(&uri, 2, [1, 0, 2, 0], "    print(1)\n    return 1\n");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 2);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let shown = client
        .seen
        .iter()
        .filter(|m| m["method"] == "window/showMessage" && crashed(&m["params"]))
        .count();
    assert_eq!(shown, 1, "{:?}", client.seen);
    client.shutdown();
}
