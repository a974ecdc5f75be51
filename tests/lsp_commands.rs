//! Through the real binary: commands that check their arguments, dismissals
//! that count only once saved, and honest answers for buffers that cannot
//! be fully reviewed (a broken repository, `untitled:` and other non-file
//! URIs, files outside any repository).

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use serde_json::{json, Value};

const BASE_PY: &str = "def main():\n    return 1\n";
/// Two built-in findings: a debug print (line 1) and a TODO (line 2).
const TWO_FINDINGS: &str = "def main():\n    print(1)\n    # TODO later\n    return 1\n";

/// An AWS key id, built so that this file holds none.
fn aws_key() -> String {
    ["AKIA", "Z7QW3RT5YU8IOP2L"].concat()
}

fn started(repo: &TestRepo) -> LspClient {
    LspClient::start(ClientOptions::folder(repo.root()))
}

/// Opens `a.py` with `text` and waits for the review on open.
fn opened(client: &mut LspClient, uri: &str, text: &str) -> Vec<Value> {
    client.open(uri, "python", 1, text);
    client.await_diagnostics(uri, 1)
}

fn rules(diags: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = diags
        .iter()
        .map(|d| d["data"]["rule"].as_str().unwrap_or_default().to_string())
        .collect();
    out.sort();
    out
}

fn stats(client: &mut LspClient, uri: &str) -> Value {
    client
        .execute("redline.stats", json!([uri]))
        .expect("stats")
}

fn messages(client: &LspClient, kind: u64, needle: &str) -> usize {
    client
        .seen
        .iter()
        .filter(|m| {
            m["method"] == "window/showMessage"
                && m["params"]["type"] == kind
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|s| s.contains(needle))
        })
        .count()
}

// ----- commands that validate -----

#[test]
fn dismiss_with_a_number_instead_of_fingerprints_is_rejected_and_dismisses_nothing() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    assert_eq!(opened(&mut client, &uri, TWO_FINDINGS).len(), 2);
    let err = client
        .execute("redline.dismiss", json!([uri, 5]))
        .expect_err("wrong shape");
    assert_eq!(err["code"], -32602);
    let message = err["message"].as_str().expect("message");
    assert!(
        message.contains("[uri: string, fingerprint: string]"),
        "names the expected shape: {message}"
    );
    assert_eq!(stats(&mut client, &uri)["dismissed"], 0);
    assert!(!repo.root().join(".git/redline/dismissed.json").exists());
}

#[test]
fn every_command_rejects_wrong_argument_shapes_without_side_effects() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let diags = opened(&mut client, &uri, TWO_FINDINGS);
    let fp = diags[0]["data"]["fingerprint"].clone();
    let scheduled = stats(&mut client, &uri)["server"]["reviews_scheduled"].clone();
    for (command, args, shape) in [
        ("redline.reviewNow", json!([5]), "[uri: string]"),
        ("redline.reviewNow", json!([uri, uri]), "[uri: string]"),
        ("redline.reviewNow", json!([{"uri": uri}]), "[uri: string]"),
        (
            "redline.dismiss",
            json!([5, [fp]]),
            "fingerprints: string[]",
        ),
        (
            "redline.dismiss",
            json!([{"uri": uri}]),
            "fingerprints: string[]",
        ),
        (
            "redline.dismiss",
            json!([uri, [fp, 7]]),
            "fingerprints: string[]",
        ),
        (
            "redline.dismiss",
            json!([uri, fp, "extra"]),
            "fingerprints: string[]",
        ),
        (
            "redline.explain",
            json!([uri]),
            "[uri: string, fingerprint: string]",
        ),
        (
            "redline.explain",
            json!([uri, 5]),
            "[uri: string, fingerprint: string]",
        ),
        (
            "redline.explain",
            json!([uri, fp, 1]),
            "[uri: string, fingerprint: string]",
        ),
        ("redline.stats", json!([{}]), "[uri: string]"),
        ("redline.stats", json!([uri, 1]), "[uri: string]"),
    ] {
        let err = client
            .execute(command, args.clone())
            .expect_err("wrong shape");
        assert_eq!(err["code"], -32602, "{command} {args}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(command) && message.contains(shape),
            "{command} {args}: {message}"
        );
    }
    let after = stats(&mut client, &uri);
    assert_eq!(after["dismissed"], 0, "nothing dismissed");
    assert_eq!(
        after["server"]["reviews_scheduled"], scheduled,
        "nothing reviewed"
    );
    assert!(
        client
            .server_requests
            .iter()
            .all(|r| r["method"] != "window/showDocument"),
        "nothing explained"
    );
}

// ----- dismissals that are saved -----

#[test]
fn a_dismissal_that_cannot_be_saved_is_an_error_and_a_retry_after_the_fix_is_saved() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let uri = repo.uri("a.py");
    let store = repo.root().join(".git/redline");
    std::fs::write(&store, "a file where the folder belongs").expect("block the store");
    let mut client = started(&repo);
    let diags = opened(&mut client, &uri, TWO_FINDINGS);
    let print = diags
        .iter()
        .find(|d| d["data"]["rule"] == "debug-print")
        .expect("print finding");
    let args = json!([uri, [print["data"]["fingerprint"]]]);

    let err = client
        .execute("redline.dismiss", args.clone())
        .expect_err("not saved");
    assert_eq!(err["code"], -32603);
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot save dismissed findings")),
        "{err}"
    );
    client.await_notification(
        "window/showMessage",
        |p| {
            p["type"] == 1
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("cannot save dismissed findings"))
        },
        TIMEOUT,
    );
    assert_eq!(stats(&mut client, &uri)["dismissed"], 0);

    std::fs::remove_file(&store).expect("unblock the store");
    let done = client.execute("redline.dismiss", args).expect("saved");
    assert_eq!(done, json!({"dismissed": 1}));
    assert_eq!(rules(&client.await_diagnostics(&uri, 1)), ["todo-comment"]);
    client.shutdown();

    let mut client = started(&repo);
    assert_eq!(
        rules(&opened(&mut client, &uri, TWO_FINDINGS)),
        ["todo-comment"],
        "the dismissal survived the restart"
    );
}

#[test]
fn leftovers_of_an_interrupted_dismissal_are_removed_at_start() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let folder = repo.root().join(".git/redline");
    std::fs::create_dir_all(&folder).expect("mkdir");
    // What a SIGKILL between the temporary write and the rename leaves,
    // from an earlier session.
    let leftover = folder.join(".tmpAbC123");
    let file = std::fs::File::create(&leftover).expect("create");
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .expect("backdate");
    drop(file);
    let client = started(&repo);
    assert!(!leftover.exists(), "removed when the repository was opened");
    client.shutdown();
}

// ----- honest answers for what cannot be reviewed -----

#[test]
fn a_corrupted_head_is_reported_once_and_secrets_are_still_flagged() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    std::fs::write(repo.root().join(".git/HEAD"), "garbage\n").expect("corrupt HEAD");
    let uri = repo.uri("a.py");
    let mut client = started(&repo);
    let text = format!("def main():\n    print(1)\n    key = \"{}\"\n", aws_key());
    let diags = opened(&mut client, &uri, &text);
    assert_eq!(
        rules(&diags),
        ["secret-aws-access-key"],
        "secret rules only, every line added"
    );
    assert_eq!(diags[0]["range"]["start"]["line"], 2);
    client.await_notification(
        "window/showMessage",
        |p| {
            p["type"] == 2
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("cannot read the repository"))
        },
        TIMEOUT,
    );
    client.change(&uri, 2, [0, 0, 0, 0], "\n");
    client.review_now(&uri);
    // The finding moved with the edit, then the review published again.
    assert_eq!(rules(&client.await_diagnostics(&uri, 2)).len(), 1);
    assert_eq!(rules(&client.await_diagnostics(&uri, 2)).len(), 1);
    assert_eq!(
        messages(&client, 2, "cannot read the repository"),
        1,
        "reported once"
    );
}

#[test]
fn an_untitled_buffer_gets_the_secret_rules() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let uri = "untitled:Untitled-1";
    let text = format!("print(1)\naws = \"{}\"\n", aws_key());
    let diags = opened(&mut client, uri, &text);
    assert_eq!(rules(&diags), ["secret-aws-access-key"]);
    let result = client
        .execute("redline.reviewNow", json!([uri]))
        .expect("reviewNow");
    assert_eq!(result, json!({"scheduled": 1, "skipped": []}));
    assert_eq!(client.await_diagnostics(uri, 1).len(), 1);
}

#[test]
fn a_non_file_uri_is_not_reviewed_and_review_now_says_why() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let mut client = started(&repo);
    let git = "git:/r/a.py?%7B%22ref%22%3A%22HEAD%22%7D";
    let cell = "vscode-notebook-cell:/r/n.ipynb#W0sZmlsZQ%3D%3D";
    let text = format!("aws = \"{}\"\n", aws_key());
    client.open(git, "python", 1, &text);
    client.open(cell, "python", 1, &text);
    let result = client
        .execute("redline.reviewNow", json!([git]))
        .expect("reviewNow");
    assert_eq!(
        result,
        json!({"scheduled": 0, "skipped": [{"uri": git, "reason": "not a file: git scheme"}]})
    );
    let all = client
        .execute("redline.reviewNow", json!([]))
        .expect("reviewNow");
    assert_eq!(all["scheduled"], 0);
    let mut reasons: Vec<String> = all["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| s["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "not a file: git scheme",
            "not a file: vscode-notebook-cell scheme"
        ]
    );
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["server"]["reviews_scheduled"], 0);
}

#[test]
fn a_file_outside_any_repository_gets_the_secret_rules_and_one_message() {
    let repo = TestRepo::new(&[("a.py", BASE_PY)]);
    let outside = tempfile::tempdir().expect("tempdir");
    let mut client = started(&repo);
    let text = format!("print(1)\naws = \"{}\"\n", aws_key());
    for name in ["a.py", "b.py"] {
        let uri = lsp_client::file_uri(&outside.path().join(name));
        assert_eq!(
            rules(&opened(&mut client, &uri, &text)),
            ["secret-aws-access-key"],
            "{name}"
        );
    }
    client.await_notification(
        "window/showMessage",
        |p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("not in a git repository"))
        },
        TIMEOUT,
    );
    assert_eq!(
        messages(&client, 3, "not in a git repository"),
        1,
        "said once"
    );
}
