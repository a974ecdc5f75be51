//! The language server with model reviewers: the real `redline lsp` binary
//! against a scripted fake OpenAI-compatible endpoint. Model findings become
//! diagnostics with their reviewer and fix, a silent model shows a
//! heartbeat in `$/progress`, and a newer edit cancels a review whose
//! request is still hanging.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/lsp_client.rs"]
mod lsp_client;
#[path = "support/model_lsp.rs"]
mod model_lsp;

use fake_openai::{Behaviour, FakeOpenAi};
use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use model_lsp::{is_coordinator, start};
use serde_json::{json, Value};
use std::time::Duration;

const BASE_PY: &str = "def main():\n    return 1\n";

fn repo_with_models(fake: &FakeOpenAi) -> TestRepo {
    model_lsp::repo_with_models(fake, BASE_PY, 10, 20)
}

/// Opens a.py as at HEAD, then adds `line` as line 2 (version 2) and asks
/// for a review.
fn edit_and_review(client: &mut LspClient, uri: &str, line: &str) {
    client.open(uri, "python", 1, BASE_PY);
    client.await_diagnostics(uri, 1);
    client.change(uri, 2, [1, 0, 1, 0], line);
    client.review_now(uri);
}

/// Every reviewer reports one warning titled `title` on line 2 (with a
/// fix); the coordinator keeps it.
fn answer_with(fake: &FakeOpenAi, title: &str) {
    let finding = json!({"path": "a.py", "line": 2, "end_line": 2, "severity": "warning",
        "title": title, "message": "compute() can fail", "fix": "    _ = compute()"});
    let coordinated = {
        let mut f = finding.clone();
        f["reviewer"] = json!("general");
        f["id"] = json!(1);
        json!({"verdict": "minor_issues", "findings": [f]}).to_string()
    };
    let reviewed = json!({"findings": [finding]}).to_string();
    fake.respond_with(move |r| {
        Behaviour::answer(if is_coordinator(r) {
            coordinated.clone()
        } else {
            reviewed.clone()
        })
    });
}

#[test]
fn a_model_finding_becomes_a_diagnostic_with_its_reviewer_and_fix() {
    let fake = FakeOpenAi::start_background();
    answer_with(&fake, "Result ignored");
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri, "    compute()\n");
    let diags = client.await_diagnostics(&uri, 2);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "general");
    assert_eq!(d["severity"], 2);
    assert!(d["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Result ignored")));
    let actions = client.code_actions(&uri, d);
    let fix = actions
        .iter()
        .find(|a| a["title"] == "Apply redline fix")
        .expect("fix action");
    assert_eq!(
        fix["edit"]["changes"][&uri][0]["newText"],
        "    _ = compute()\n"
    );
    assert!(fake.total() >= 1, "the model was asked");
}

#[test]
fn a_silent_model_shows_a_heartbeat_in_progress() {
    let fake = FakeOpenAi::start_background();
    fake.set_fallback(Behaviour::answer(r#"{"findings": []}"#).after(Duration::from_millis(500)));
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri, "    compute()\n");
    let report = client.await_notification(
        "$/progress",
        |p| {
            p["value"]["kind"] == "report"
                && p["value"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("waiting for model…"))
        },
        TIMEOUT,
    );
    assert!(report["token"]
        .as_str()
        .is_some_and(|t| t.starts_with("redline/")));
    assert!(client.await_diagnostics(&uri, 2).is_empty());
}

#[test]
fn a_newer_edit_cancels_a_review_whose_model_hangs() {
    let fake = FakeOpenAi::start_background();
    fake.set_fallback(Behaviour::hang());
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri, "    compute()\n");
    fake.wait_for_requests_blocking(1, TIMEOUT);
    // The model hangs; the user types on and asks again.
    answer_with(&fake, "Unchecked result");
    client.change(&uri, 3, [1, 0, 2, 0], "    result = compute()\n");
    client.review_now(&uri);
    let diags = client.await_diagnostics(&uri, 3);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Unchecked result")));
    // The hung review (the second one, after the open) ends promptly.
    client.await_notification(
        "$/progress",
        |p| p["token"] == "redline/review/1" && p["value"]["kind"] == "end",
        TIMEOUT,
    );
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert!(
        stats["server"]["reviews_cancelled"].as_u64() >= Some(1),
        "{stats}"
    );
    let stale: Vec<&Value> = client
        .seen
        .iter()
        .filter(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == json!(2)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "the cancelled review published: {stale:?}"
    );
}

#[test]
fn explain_with_a_silent_model_answers_at_once_and_leaves_the_server_free() {
    let fake = FakeOpenAi::start_background();
    answer_with(&fake, "Result ignored");
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut options = ClientOptions::folder(repo.root());
    options.env.push(("REDLINE_OFFLINE".into(), "0".into()));
    options
        .env
        .push(("REDLINE_LSP_EXPLAIN_WAIT_MS".into(), "200".into()));
    let mut client = LspClient::start(options);
    edit_and_review(&mut client, &uri, "    compute()\n");
    let diags = client.await_diagnostics(&uri, 2);
    let fingerprint = diags[0]["data"]["fingerprint"].clone();
    assert!(fingerprint.is_string(), "{diags:?}");

    // From now on the model never answers: more explains than the server
    // has request slots.
    fake.respond_with(|_| Behaviour::hang());
    for _ in 0..6 {
        let answer = client
            .execute("redline.explain", json!([uri, fingerprint]))
            .expect("explain answers");
        assert_eq!(
            answer,
            json!("The model is writing the explanation; it opens when it is ready.")
        );
    }
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert!(stats.is_object(), "{stats}");
    client.shutdown();
}
