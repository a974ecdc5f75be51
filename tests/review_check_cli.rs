//! `redline check` through the real binary with `REDLINE_BASE_URL` pointing
//! at the fake model server: the model reviewers' findings reach the JSON
//! report, and a failing model is reported, never silently passed.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/repo.rs"]
mod repo;

use fake_openai::{Behaviour, FakeOpenAi};
use repo::TestRepo;
use std::process::Output;

/// A repository with one committed file, then modified in the working tree.
fn repo_with_change() -> TestRepo {
    TestRepo::with_changed_app("[cache]\nenabled = false\n")
}

async fn check(repo: &TestRepo, fake: &FakeOpenAi, extra: &[&str]) -> Output {
    check_at(repo, &fake.base_url, extra).await
}

/// `redline check --format json EXTRA...` (EXTRA may choose another format).
async fn check_at(repo: &TestRepo, base_url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["check"];
    if !extra.contains(&"--format") {
        args.extend(["--format", "json"]);
    }
    args.extend_from_slice(extra);
    let mut cmd = repo.redline(&args);
    cmd.env("REDLINE_BASE_URL", base_url)
        .env("REDLINE_MODEL", "m");
    tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("redline runs")
}

fn system_prompt(r: &fake_openai::RecordedRequest) -> String {
    r.body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn check_publishes_model_findings_judged_by_the_coordinator() {
    let fake = FakeOpenAi::start().await;
    // One answer for all: the coordinator's names the finding it keeps.
    let finding = r#"{"findings": [{"id": 1, "path": "src/app.py", "line": 15, "end_line": 15,
        "severity": "warning", "title": "Division by zero when count is 0",
        "message": "count can be 0 for an empty batch.", "reviewer": "general"}]}"#;
    fake.respond_with(move |_| Behaviour::answer(finding));
    let repo = repo_with_change();
    let out = check(&repo, &fake, &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["tier"], "trivial");
    assert_eq!(report["verdict"], "minor_issues");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{stdout}");
    assert_eq!(findings[0]["reviewer"], "general");
    assert_eq!(findings[0]["line"], 15);
    assert_eq!(report["usage"]["requests"], 2);
    assert_eq!(report["degraded"].as_array().unwrap().len(), 0);

    let prompts: Vec<String> = fake.requests().iter().map(system_prompt).collect();
    assert!(prompts[0].starts_with("# General reviewer"));
    assert!(prompts[1].starts_with("# Review coordinator"));
    assert!(fake.requests()[0].prompt().contains("x15 = total / count"));
}

#[tokio::test]
async fn check_reports_a_failing_model_as_degraded_and_still_fails_on_a_leaked_key() {
    let fake = FakeOpenAi::start().await;
    fake.set_fallback(Behaviour::unavailable(None));
    let repo = repo_with_change();
    repo.write("src/keys.py", "AWS = \"AKIAIOSFODNN7QWERTYU\"\n");
    let elsewhere = tempfile::tempdir().unwrap();
    let config = elsewhere.path().join("fast.toml");
    std::fs::write(
        &config,
        "[llm]\nmax_attempts = 1\nbackoff_base_ms = 1\n[cache]\nenabled = false\n",
    )
    .unwrap();
    let out = check(&repo, &fake, &["--config", config.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The report says it once; no log line on stderr repeats it.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert!(report["degraded"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["reviewer"] == "general" && d["reason"].as_str().unwrap().contains("503")));
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "src/keys.py" && f["severity"] == "critical"));
}

#[tokio::test]
async fn check_keeps_the_query_of_a_base_url_after_the_completions_path() {
    // Azure-style endpoints carry `?api-version=…`: the path goes before it.
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|_| Behaviour::answer(r#"{"findings": []}"#));
    let repo = repo_with_change();
    let base_url = format!("{}/?api-version=2024-06-01", fake.base_url);
    let out = check_at(&repo, &base_url, &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["degraded"], serde_json::json!([]), "{stdout}");
    let requests = fake.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.query.as_deref(), Some("api-version=2024-06-01"));
    }
}

#[tokio::test]
async fn check_text_reports_usage_when_every_answer_came_from_the_cache() {
    let fake = FakeOpenAi::start().await;
    // One answer for all: the coordinator's names the finding it keeps.
    let finding = r#"{"findings": [{"id": 1, "path": "src/app.py", "line": 15, "end_line": 15,
        "severity": "warning", "title": "Division by zero when count is 0",
        "message": "count can be 0 for an empty batch."}]}"#;
    fake.respond_with(move |_| Behaviour::answer(finding).with_usage(100, 20));
    let repo = repo_with_change();
    let cache = tempfile::tempdir().unwrap();
    let config = cache.path().join("cached.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndir = {:?}\n",
            cache.path().join("c").to_str().unwrap()
        ),
    )
    .unwrap();
    let args = ["--format", "text", "--config", config.to_str().unwrap()];
    let first = check(&repo, &fake, &args).await;
    let first = String::from_utf8_lossy(&first.stdout);
    assert!(first.contains("usage: 2 request(s) (0 cached)"), "{first}");
    let second = check(&repo, &fake, &args).await;
    let second = String::from_utf8_lossy(&second.stdout);
    assert_eq!(fake.total(), 2, "the second run is answered by the cache");
    assert!(second.contains("warning[general]"), "{second}");
    assert!(
        second.contains("usage: 0 request(s) (2 cached)"),
        "{second}"
    );
}

/// Bytes a terminal acts on rather than shows: C0 controls but newline and
/// tab, DEL, C1 controls, and bidi controls.
fn terminal_hazards(output: &str) -> Vec<char> {
    output
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[tokio::test]
async fn hostile_model_text_reaches_text_and_github_output_only_as_visible_characters() {
    let fake = FakeOpenAi::start().await;
    let hostile = serde_json::json!({"findings": [{"id": 1, "path": "src/app.py", "line": 15,
        "severity": "warning",
        "title": "\u{1b}[2J\u{1b}[H\u{1b}]0;pwned\u{7}All good\u{202e}gpj.exe",
        "message": "click \u{1b}]8;;https://evil.example\u{1b}\\here\u{1b}]8;;\u{1b}\\ now\rOK\u{8}\u{8}\u{2066}x\u{9b}2J",
        "reviewer": "general"}]})
    .to_string();
    fake.respond_with(move |_| Behaviour::answer(hostile.clone()));
    let repo = repo_with_change();
    for format in ["text", "github"] {
        let out = check(&repo, &fake, &["--format", format]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{format}: {stdout}");
        assert!(
            terminal_hazards(&stdout).is_empty(),
            "{format} output holds {:?}:\n{stdout}",
            terminal_hazards(&stdout)
        );
        assert!(
            stdout.contains("␛[2J␛[H␛]0;pwned␇All good\\u{202e}gpj.exe"),
            "{format}: {stdout}"
        );
        assert!(
            stdout.contains("␛]8;;https://evil.example"),
            "{format}: {stdout}"
        );
    }
}

#[tokio::test]
async fn a_provider_error_body_with_escape_sequences_is_shown_made_visible() {
    let fake = FakeOpenAi::start().await;
    let body = "{\"error\":{\"message\":\"bad key \u{1b}[31mRED\u{1b}]0;title\u{7}\u{202e}\"}}";
    fake.set_fallback(Behaviour::status(400, body));
    let repo = repo_with_change();
    for format in ["text", "github"] {
        let out = check(&repo, &fake, &["--format", format]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("400"), "{format}: {stdout}");
        assert!(
            terminal_hazards(&stdout).is_empty(),
            "{format} output holds {:?}:\n{stdout}",
            terminal_hazards(&stdout)
        );
        assert!(stdout.contains("␛[31mRED"), "{format}: {stdout}");
    }
}

#[tokio::test]
async fn a_critical_finding_the_judge_invented_does_not_fail_ci() {
    let fake = FakeOpenAi::start().await;
    let specialist = r#"{"findings": [{"path": "src/app.py", "line": 15, "severity": "suggestion",
        "title": "Name the divisor", "message": "m"}]}"#;
    // Two lines from the real finding, escalated, credited to a reviewer
    // that never ran, and naming no finding it was given.
    let judge = r#"{"verdict": "significant_concerns", "findings": [
        {"id": 1, "path": "src/app.py", "line": 15, "severity": "suggestion", "title": "Name the divisor", "message": "m"},
        {"path": "src/app.py", "line": 17, "severity": "critical", "reviewer": "security",
         "title": "Remote code execution", "message": "made up"}]}"#;
    fake.respond_with(move |r| {
        let system = r.body["messages"][0]["content"].as_str().unwrap_or("");
        Behaviour::answer(if system.starts_with("# Review coordinator") {
            judge
        } else {
            specialist
        })
    });
    let repo = repo_with_change();
    let out = check(&repo, &fake, &["--fail-on", "critical"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let titles: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["Name the divisor"]);
    assert_eq!(report["dropped_findings"], 1);
}

/// Parses a Prometheus text export with the reference Python parser
/// (`prometheus_client`) and returns `{name: [[labels, value], ...]}` per
/// sample name.
fn parse_prometheus(path: &std::path::Path) -> serde_json::Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        out.setdefault(s.name, []).append([s.labels, s.value])
print(json.dumps(out))
"#;
    let run = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "the Prometheus parser rejected the export (install it with `pip install prometheus-client`; scripts/test does): {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("parser output is JSON")
}

fn sample(parsed: &serde_json::Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parsed[name].as_array()?.iter().find_map(|s| {
        let l = &s[0];
        labels
            .iter()
            .all(|(k, v)| l[*k] == *v)
            .then(|| s[1].as_f64())
            .flatten()
    })
}

#[tokio::test]
async fn check_exports_per_model_numbers_that_a_prometheus_parser_reads() {
    let fake = FakeOpenAi::start().await;
    // The first request fails with a 503 and is retried; then answers.
    fake.push("m", Behaviour::unavailable(None));
    fake.set_default(
        "m",
        Behaviour::answer(r#"{"findings": []}"#).with_usage(300, 100),
    );
    let repo = repo_with_change();
    repo.write(
        ".redline.toml",
        "[cache]\nenabled = false\n[llm]\nbackoff_base_ms = 1\n",
    );
    let metrics = repo.path("metrics/redline.prom");
    let out = check(&repo, &fake, &["--metrics-file", metrics.to_str().unwrap()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = report["models"]
        .as_array()
        .expect("models in the JSON report");
    assert_eq!(models.len(), 1, "{models:?}");
    let m = &models[0];
    assert_eq!(m["model"], "m");
    assert_eq!(m["endpoint"], "llm");
    let requests = m["requests"].as_u64().unwrap();
    assert_eq!(requests as usize, fake.count("m"));
    assert_eq!(m["errors"]["HTTP 503"], 1);
    assert!(m["latency"]["p95_ms"].as_f64().unwrap() > 0.0);
    assert!(m["time_to_first_token"]["p50_ms"].as_f64().is_some());
    // One review ran: its tokens and cost are this series' per-review numbers.
    let answered_requests = (requests - 1) as f64;
    assert_eq!(
        m["tokens_per_review"].as_f64(),
        Some(400.0 * answered_requests)
    );
    assert_eq!(m["cost_usd_per_review"], m["cost_usd"]);

    let parsed = parse_prometheus(&metrics);
    let at = [("model", "m"), ("endpoint", "llm")];
    assert_eq!(
        sample(&parsed, "redline_llm_requests_total", &at),
        Some(requests as f64)
    );
    assert_eq!(
        sample(
            &parsed,
            "redline_llm_errors_total",
            &[("model", "m"), ("class", "HTTP 503")]
        ),
        Some(1.0)
    );
    let answered = (requests - 1) as f64;
    assert_eq!(sample(&parsed, "redline_reviews_total", &[]), Some(1.0));
    assert_eq!(
        sample(&parsed, "redline_llm_tokens_total", &[("kind", "prompt")]),
        Some(300.0 * answered)
    );
    assert_eq!(
        sample(&parsed, "redline_llm_request_duration_seconds_count", &at),
        Some(answered)
    );
    let p99 = sample(
        &parsed,
        "redline_llm_request_duration_seconds",
        &[("model", "m"), ("quantile", "0.99")],
    )
    .expect("a p99");
    assert!(p99 > 0.0 && p99 < 60.0, "{p99}");
}
