//! The engine while reviewers' answers stream, against the fake model:
//! each finding is reported as provisional before its reviewer is done,
//! checked and masked exactly as in the final report; the coordinator's
//! verdict keeps a finding's identity and place or drops it; a failed
//! coordinator leaves the streamed findings, deduplicated; and listening
//! costs no request and no token.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use fake_openai::{Behaviour, FakeOpenAi, RecordedRequest};
use redline::config::{ConfigBuilder, Origin};
use redline::git::ChangeKind;
use redline::review::{ChangeSet, Engine, FileChange, Finding, Progress, Report, ReviewOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn engine(base: &str) -> Engine {
    let toml = format!(
        r#"
[llm]
base_url = "{base}"
api_key_env = "REDLINE_TEST_UNSET_KEY"
max_attempts = 1
first_token_timeout_s = 5
timeout_s = 10
[models.fast]
name = "fast-model"
input_per_mtok = 1.0
output_per_mtok = 2.0
[reviewers]
default = "fast"
[cache]
enabled = false
[review]
budget_usd_per_day = 100.0
"#
    );
    let config = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .expect("config parses")
        .build()
        .expect("config is valid")
        .config;
    Engine::new(Arc::new(config)).expect("engine")
}

fn reviewer_of(r: &RecordedRequest) -> &'static str {
    let system = r.body["messages"][0]["content"].as_str().unwrap_or("");
    for (heading, name) in [
        ("# Quality reviewer", "quality"),
        ("# Documentation reviewer", "docs"),
        ("# Review coordinator", "coordinator"),
    ] {
        if system.starts_with(heading) {
            return name;
        }
    }
    "other"
}

/// A 300-line file with 30 lines changed from line 20 on: the lite tier
/// (quality and docs, then the coordinator).
fn lite_change() -> ChangeSet {
    let old: String = (1..=300).map(|i| format!("let v{i} = {i};\n")).collect();
    let mut new = old.clone();
    for i in 20..50 {
        new = new.replace(
            &format!("let v{i} = {i};\n"),
            &format!("let w{i} = {i} * 2;\n"),
        );
    }
    ChangeSet {
        files: vec![FileChange::new("src/a.rs", ChangeKind::Modified, old, new)],
        skipped: Vec::new(),
        origin: None,
    }
}

fn finding(line: u32, severity: &str, title: &str) -> Value {
    json!({"path": "src/a.rs", "line": line, "severity": severity, "title": title, "message": "m"})
}

/// Each answer streams in many small pieces.
fn streamed(findings: Vec<Value>) -> Behaviour {
    Behaviour::answer(json!({ "findings": findings }).to_string())
        .in_chunks(12, Duration::from_millis(2))
}

/// quality: a warning on line 22; docs: the same issue as a suggestion,
/// and a stale comment on line 40. The judge gets them sorted by severity:
/// 1 = quality's, 2 = docs' duplicate, 3 = the comment.
fn script(fake: &FakeOpenAi, coordinator: Behaviour) {
    fake.respond_with(move |r| match reviewer_of(r) {
        "quality" => streamed(vec![finding(22, "warning", "Value doubled twice")]),
        "docs" => streamed(vec![
            finding(22, "suggestion", "Value is doubled twice"),
            finding(40, "suggestion", "Stale comment"),
        ]),
        "coordinator" => coordinator.clone(),
        _ => Behaviour::answer(r#"{"findings": []}"#),
    });
}

fn judged() -> Behaviour {
    Behaviour::answer(
        json!({"verdict": "significant_concerns", "findings": [
            {"ids": [1, 2], "path": "src/a.rs", "line": 22, "severity": "critical",
             "reviewer": "quality", "title": "Doubling applied twice", "message": "merged"},
            {"id": 3, "path": "src/a.rs", "line": 40, "severity": "suggestion",
             "title": "Comment no longer true", "message": "reworded"},
        ]})
        .to_string(),
    )
}

async fn review_listening(engine: &Engine, changes: &ChangeSet) -> (Report, Vec<Progress>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = engine
        .review(
            changes,
            ReviewOptions::default(),
            CancellationToken::new(),
            Some(tx),
        )
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (report, events)
}

fn provisional(events: &[Progress]) -> Vec<Finding> {
    events
        .iter()
        .filter_map(|e| match e {
            Progress::Provisional { finding } => Some(finding.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn each_streamed_finding_is_reported_before_its_reviewer_is_done() {
    let fake = FakeOpenAi::start().await;
    script(&fake, judged());
    let (_, events) = review_listening(&engine(&fake.base_url), &lite_change()).await;
    let position = |pred: &dyn Fn(&Progress) -> bool| events.iter().position(pred);
    for (reviewer, title) in [
        ("quality", "Value doubled twice"),
        ("docs", "Value is doubled twice"),
        ("docs", "Stale comment"),
    ] {
        let shown =
            position(&|e| matches!(e, Progress::Provisional { finding } if finding.title == title))
                .unwrap_or_else(|| panic!("{title} reported: {events:?}"));
        let done =
            position(&|e| matches!(e, Progress::ReviewerDone { reviewer: r, .. } if r == reviewer))
                .expect("reviewer done");
        assert!(
            shown < done,
            "{title} after {reviewer} was done: {events:?}"
        );
    }
}

#[tokio::test]
async fn a_kept_finding_keeps_its_identity_and_place_and_a_merged_one_goes() {
    let fake = FakeOpenAi::start().await;
    script(&fake, judged());
    let (report, events) = review_listening(&engine(&fake.base_url), &lite_change()).await;
    let early = provisional(&events);
    assert_eq!(early.len(), 3, "{early:?}");
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);
    for kept in &report.findings {
        let first = early
            .iter()
            .find(|p| p.fingerprint == kept.fingerprint)
            .unwrap_or_else(|| panic!("{kept:?} was not shown while streaming"));
        assert_eq!(
            (
                &first.path,
                first.line,
                first.end_line,
                first.column,
                &first.reviewer
            ),
            (
                &kept.path,
                kept.line,
                kept.end_line,
                kept.column,
                &kept.reviewer
            )
        );
    }
    let merged = early
        .iter()
        .find(|p| p.title == "Value is doubled twice")
        .expect("docs' duplicate shown");
    assert!(report
        .findings
        .iter()
        .all(|f| f.fingerprint != merged.fingerprint));
    let titles: Vec<&str> = report.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Doubling applied twice", "Comment no longer true"]);
}

#[tokio::test]
async fn a_failed_coordinator_leaves_the_streamed_findings_deduplicated() {
    let fake = FakeOpenAi::start().await;
    script(&fake, Behaviour::unavailable(None));
    let (report, events) = review_listening(&engine(&fake.base_url), &lite_change()).await;
    let early = provisional(&events);
    let kept: Vec<(&str, u32)> = report
        .findings
        .iter()
        .map(|f| (f.reviewer.as_str(), f.line))
        .collect();
    assert_eq!(kept, [("quality", 22), ("docs", 40)]);
    for f in &report.findings {
        assert!(early.contains(f), "{f:?} differs from what was shown");
    }
    assert_eq!(report.degraded.len(), 1, "{:?}", report.degraded);
    assert_eq!(report.degraded[0].reviewer, "coordinator");
}

#[tokio::test]
async fn listening_to_the_stream_costs_no_request_and_no_token() {
    let quiet = FakeOpenAi::start().await;
    script(&quiet, judged());
    let silent_report = engine(&quiet.base_url)
        .review(
            &lite_change(),
            ReviewOptions::default(),
            CancellationToken::new(),
            None,
        )
        .await;
    let listened = FakeOpenAi::start().await;
    script(&listened, judged());
    let (report, _) = review_listening(&engine(&listened.base_url), &lite_change()).await;
    assert_eq!(quiet.total(), listened.total());
    assert_eq!(silent_report.usage, report.usage);
    assert_eq!(report.usage.requests, 3);
    let bodies = |f: &FakeOpenAi| {
        let mut b: Vec<String> = f.requests().iter().map(|r| r.body.to_string()).collect();
        b.sort();
        b
    };
    assert_eq!(
        bodies(&quiet),
        bodies(&listened),
        "the same requests, byte for byte"
    );
    assert_eq!(silent_report.findings, report.findings);
}

#[tokio::test]
async fn a_secret_a_model_quotes_is_masked_in_streamed_findings_as_in_final_ones() {
    let secret = "AKIAIOSFODNN7QWERTYU";
    let old = "fn main() {}\n".to_string();
    let new = format!("fn main() {{\n    let key = \"{secret}\";\n}}\n");
    let changes = ChangeSet {
        files: vec![FileChange::new("src/k.rs", ChangeKind::Modified, old, new)],
        skipped: Vec::new(),
        origin: None,
    };
    let fake = FakeOpenAi::start().await;
    let answer = json!({"findings": [{"path": "src/k.rs", "line": 2, "severity": "warning",
        "title": "Connection never closed", "message": format!("uses {secret} directly")}]})
    .to_string();
    fake.respond_with(move |r| {
        if reviewer_of(r) == "coordinator" {
            Behaviour::unavailable(None)
        } else {
            Behaviour::answer(answer.clone()).in_chunks(6, Duration::from_millis(1))
        }
    });
    let (report, events) = review_listening(&engine(&fake.base_url), &changes).await;
    let early = provisional(&events);
    assert_eq!(early.len(), 1, "{events:?}");
    assert!(!early[0].message.contains(secret), "{}", early[0].message);
    let last = report
        .findings
        .iter()
        .find(|f| f.fingerprint == early[0].fingerprint)
        .expect("kept");
    assert_eq!(last.message, early[0].message);
    let builtin = events.iter().find_map(|e| match e {
        Progress::Builtin { findings } => Some(findings.clone()),
        _ => None,
    });
    let builtin = builtin.expect("built-in findings reported early");
    assert!(builtin.iter().all(|b| report.findings.contains(b)));
    assert!(!builtin.is_empty(), "the key itself is a finding");
}

#[tokio::test]
async fn an_answer_that_breaks_off_keeps_its_complete_findings_and_says_so() {
    let fake = FakeOpenAi::start().await;
    let broken = r#"{"findings": [{"path": "src/a.rs", "line": 22, "title": "Value doubled twice"}, {"path": "src/a.rs", "li"#;
    fake.respond_with(move |r| match reviewer_of(r) {
        "quality" => Behaviour::answer(broken),
        // A judge that breaks off too: every finding is kept, deduplicated.
        "coordinator" => Behaviour::answer(r#"{"findings": [{"id": 1, "path": "src/a.rs""#),
        _ => Behaviour::answer(r#"{"findings": []}"#),
    });
    let (report, events) = review_listening(&engine(&fake.base_url), &lite_change()).await;
    let titles: Vec<&str> = report.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Value doubled twice"]);
    assert_eq!(provisional(&events), report.findings);
    let reasons: Vec<(&str, &str)> = report
        .degraded
        .iter()
        .map(|d| (d.reviewer.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, "quality");
    assert!(
        reasons[0]
            .1
            .contains("broke off its answer after 1 finding"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, "coordinator");
    assert!(reasons[1].1.contains("deduplicated locally"), "{reasons:?}");
}
