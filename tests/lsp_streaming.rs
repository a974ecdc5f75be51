//! Findings as the reviewers write them, through the real `redline lsp`
//! binary and a fake model whose streams the test holds mid-answer: a
//! finding is in the editor, marked provisional and with working code
//! actions, while its reviewer is still writing; the coordinator's verdict
//! replaces it without the diagnostic ever blinking; what it drops
//! vanishes; an edit mid-stream cancels the review and leaves nothing from
//! the old text. Every wait is for an event, never a sleep.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/lsp_client.rs"]
mod lsp_client;
#[path = "support/model_lsp.rs"]
mod model_lsp;

use fake_openai::{Behaviour, FakeOpenAi, Gate};
use lsp_client::{LspClient, TestRepo, TIMEOUT};
use model_lsp::{is_coordinator, start};
use serde_json::{json, Value};

const BASE_PY: &str = "def main():\n    return 1\n";

fn repo_with_models(fake: &FakeOpenAi) -> TestRepo {
    model_lsp::repo_with_models(fake, BASE_PY, 20, 30)
}

/// The general reviewer's answer in two pieces: the first completes the
/// finding "Result ignored" (with a fix), the second adds "Name the result".
fn reviewer_pieces() -> [String; 2] {
    let kept = json!({"path": "a.py", "line": 2, "severity": "warning",
        "title": "Result ignored", "message": "compute() can fail", "fix": "    _ = compute()"});
    let dropped = json!({"path": "a.py", "line": 2, "severity": "suggestion",
        "title": "Name the result", "message": "a name says what it is"});
    [
        format!("```json\n{{\"findings\": [{kept}, "),
        format!("{dropped}]}}\n```"),
    ]
}

/// The coordinator keeps finding 1 (the warning), re-graded and re-worded,
/// and drops finding 2.
fn verdict() -> String {
    json!({"verdict": "significant_concerns", "findings": [{"id": 1, "path": "a.py",
        "line": 2, "severity": "critical", "reviewer": "general",
        "title": "Result of compute() ignored", "message": "judged"}]})
    .to_string()
}

fn publications(client: &LspClient, uri: &str) -> Vec<Value> {
    client
        .seen
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri)
        .map(|m| m["params"].clone())
        .collect()
}

fn fingerprints(params: &Value) -> Vec<String> {
    params["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["data"]["fingerprint"].as_str().map(str::to_string))
        .collect()
}

fn has_provisional(params: &Value) -> bool {
    params["diagnostics"]
        .as_array()
        .is_some_and(|ds| ds.iter().any(|d| d["data"]["provisional"] == true))
}

fn mentions(params: &Value, text: &str) -> bool {
    params["diagnostics"].as_array().is_some_and(|ds| {
        ds.iter()
            .any(|d| d["message"].as_str().is_some_and(|m| m.contains(text)))
    })
}

/// Opens a.py as at HEAD, adds a line 2 (version 2) and asks for a review.
fn edit_and_review(client: &mut LspClient, uri: &str) {
    client.open(uri, "python", 1, BASE_PY);
    client.await_diagnostics(uri, 1);
    client.change(uri, 2, [1, 0, 1, 0], "    compute()\n");
    client.review_now(uri);
}

/// The reviewers stream `reviewer_pieces()` and hold after the first
/// finding until the returned gate opens; the coordinator answers
/// `verdict()` at once.
fn reviewer_held_after_its_first_finding(fake: &FakeOpenAi) -> Gate {
    let gate = Gate::new();
    let held = gate.clone();
    let [first, rest] = reviewer_pieces();
    let judged = verdict();
    fake.respond_with(move |r| {
        if is_coordinator(r) {
            Behaviour::answer(judged.clone())
        } else {
            Behaviour::in_pieces([first.clone(), rest.clone()]).hold_after(1, &held)
        }
    });
    gate
}

/// The first publication of `uri` at version 2 holding a provisional finding.
fn await_provisional(client: &mut LspClient, uri: &str) -> Value {
    client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri && p["version"] == 2 && has_provisional(p),
        TIMEOUT,
    )
}

#[test]
fn a_finding_is_shown_as_provisional_while_its_reviewer_is_still_writing() {
    let fake = FakeOpenAi::start_background();
    let gate = reviewer_held_after_its_first_finding(&fake);
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri);

    // The reviewer's stream is held after its first finding: whatever the
    // editor has now, it got before the answer ended.
    let early = await_provisional(&mut client, &uri);
    let diags = early["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(
        diags.len(),
        1,
        "only the finding already complete: {diags:?}"
    );
    let d = &diags[0];
    assert_eq!(d["code"], "general");
    assert_eq!(d["severity"], 2);
    assert_eq!(
        d["message"].as_str().and_then(|m| m.lines().next()),
        Some("Result ignored (provisional)")
    );
    assert_eq!(d["data"]["provisional"], true);
    assert_eq!(fake.total(), 1, "the coordinator is not asked yet");

    // Its code actions work already.
    let actions = client.code_actions(&uri, d);
    let titles: Vec<&str> = actions.iter().filter_map(|a| a["title"].as_str()).collect();
    assert!(
        titles.contains(&"Apply redline fix") && titles.contains(&"Dismiss redline finding"),
        "{titles:?}"
    );

    gate.open();
    let settled = client.await_notification(
        "textDocument/publishDiagnostics",
        |p| {
            p["uri"] == uri.as_str()
                && p["version"] == 2
                && !has_provisional(p)
                && mentions(p, "judged")
        },
        TIMEOUT,
    );
    let kept = settled["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(kept.len(), 1, "the dropped finding is gone: {kept:?}");
    assert_eq!(
        kept[0]["data"]["fingerprint"], d["data"]["fingerprint"],
        "same identity"
    );
    assert_eq!(kept[0]["range"], d["range"], "same place");
    assert_eq!(kept[0]["severity"], 1, "the coordinator's severity");
    assert!(kept[0]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Result of compute() ignored\n")));

    // No flicker: from its first showing to the verdict, every publication
    // holds the kept finding.
    let fp = d["data"]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    let all = publications(&client, &uri);
    let shown = all
        .iter()
        .position(|p| fingerprints(p).contains(&fp))
        .expect("shown");
    assert!(
        all[shown..].iter().all(|p| fingerprints(p).contains(&fp)),
        "the kept finding blinked: {all:?}"
    );

    // $/progress went by reviewers done: half (the reviewer) before the
    // coordinator answered, all at the end.
    client.await_notification(
        "$/progress",
        |p| p["value"]["kind"] == "report" && p["value"]["percentage"] == 100,
        TIMEOUT,
    );
    let half = client
        .seen
        .iter()
        .find(|m| m["method"] == "$/progress" && m["params"]["value"]["percentage"] == 50);
    let half = half.expect("a report at 50 %");
    assert!(
        half["params"]["value"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1/2 reviewers done") && m.contains("for coordinator")),
        "{half}"
    );
    client.shutdown();
}

#[test]
fn an_edit_mid_stream_moves_what_is_shown_and_the_cancelled_review_adds_nothing() {
    let fake = FakeOpenAi::start_background();
    let gate = reviewer_held_after_its_first_finding(&fake);
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri);
    let early = await_provisional(&mut client, &uri);
    assert_eq!(early["diagnostics"][0]["range"]["start"]["line"], 1);

    // A line typed above it: the review is cancelled, the finding moves.
    client.change(&uri, 3, [0, 0, 0, 0], "# note\n");
    let moved = client.await_diagnostics(&uri, 3);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["range"]["start"]["line"], 2);
    assert_eq!(moved[0]["data"]["provisional"], true);

    // The held stream may now end; nothing of it may land. A new review of
    // the new text finds nothing, and nothing of the old one stays.
    fake.respond_with(|_| Behaviour::answer(r#"{"findings": []}"#));
    gate.open();
    client.review_now(&uri);
    client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri.as_str() && p["version"] == 3 && p["diagnostics"] == json!([]),
        TIMEOUT,
    );
    let all = publications(&client, &uri);
    assert!(
        !all.iter().any(|p| mentions(p, "Name the result")),
        "the cancelled stream's later finding was shown: {all:?}"
    );
    let first_v3 = all.iter().position(|p| p["version"] == 3).expect("v3");
    assert!(
        all[first_v3..].iter().all(|p| p["version"] == 3),
        "a publication for the old text after the edit: {all:?}"
    );
    client.shutdown();
}

#[test]
fn a_dismissed_finding_is_not_shown_again_while_the_answers_stream() {
    let fake = FakeOpenAi::start_background();
    let [first, rest] = reviewer_pieces();
    fake.respond_with(move |r| {
        if is_coordinator(r) {
            Behaviour::answer(verdict())
        } else {
            Behaviour::in_pieces([first.clone(), rest.clone()])
        }
    });
    let repo = repo_with_models(&fake);
    let uri = repo.uri("a.py");
    let mut client = start(&repo);
    edit_and_review(&mut client, &uri);
    let settled = client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri.as_str() && p["version"] == 2 && mentions(p, "judged"),
        TIMEOUT,
    );
    let fp = settled["diagnostics"][0]["data"]["fingerprint"].clone();
    client
        .execute("redline.dismiss", json!([uri, [fp]]))
        .expect("dismissed");

    // Another line below: the hunk is reviewed again, the dismissed
    // finding's line (and so its fingerprint) is the same.
    client.change(&uri, 3, [2, 0, 2, 0], "    pass\n");
    client.review_now(&uri);
    client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri.as_str() && p["version"] == 3 && mentions(p, "Name the result"),
        TIMEOUT,
    );
    client.await_notification(
        "textDocument/publishDiagnostics",
        |p| p["uri"] == uri.as_str() && p["version"] == 3 && p["diagnostics"] == json!([]),
        TIMEOUT,
    );
    let fp = fp.as_str().expect("fingerprint").to_string();
    let shown: Vec<Value> = publications(&client, &uri)
        .into_iter()
        .filter(|p| p["version"] == 3 && fingerprints(p).contains(&fp))
        .collect();
    assert!(
        shown.is_empty(),
        "the dismissed finding came back: {shown:?}"
    );
    client.shutdown();
}
