//! `redline check` while the model reviewers' answers stream: on a terminal
//! (a real pseudo-terminal, through `script`) each finding is shown as it
//! arrives, with a progress line, before the whole report; with stderr not
//! a terminal nothing at all goes there and the report is the same whole,
//! sorted one.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/repo.rs"]
mod repo;

use fake_openai::{Behaviour, FakeOpenAi, Gate, RecordedRequest};
use repo::TestRepo;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_with_change() -> TestRepo {
    TestRepo::with_changed_app("[cache]\nenabled = false\n")
}

fn is_coordinator(r: &RecordedRequest) -> bool {
    r.body["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.starts_with("# Review coordinator"))
}

const FINDING: &str = r#"{"path": "src/app.py", "line": 15, "severity": "warning",
    "title": "Division by zero when count is 0", "message": "count can be 0."}"#;

/// The reviewer's answer streams its finding, then is held at `gate`; the
/// coordinator keeps the finding.
fn script_model(fake: &FakeOpenAi, gate: &Gate) {
    let gate = gate.clone();
    fake.respond_with(move |r| {
        if is_coordinator(r) {
            Behaviour::answer(format!(
                r#"{{"findings": [{}]}}"#,
                FINDING.replace("{\"path\"", "{\"id\": 1, \"path\"")
            ))
        } else {
            Behaviour::in_pieces([format!("{{\"findings\": [{FINDING}"), "]}".to_string()])
                .hold_after(1, &gate)
        }
    });
}

fn check_command(repo: &TestRepo, fake: &FakeOpenAi, args: &[&str]) -> Command {
    let mut cmd = repo.redline(args);
    cmd.env("REDLINE_BASE_URL", &fake.base_url)
        .env("REDLINE_MODEL", "m");
    cmd
}

#[test]
fn on_a_terminal_a_finding_shows_while_the_reviewer_writes_then_the_whole_report() {
    let fake = FakeOpenAi::start_background();
    let gate = Gate::new();
    script_model(&fake, &gate);
    let repo = repo_with_change();
    // The same command, run inside a pseudo-terminal.
    let inner = check_command(&repo, &fake, &["check"]);
    let mut cmd = Command::new("script");
    cmd.args([
        "-qefc",
        &format!("{} check", env!("CARGO_BIN_EXE_redline")),
        "/dev/null",
    ])
    .current_dir(repo.root())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    // A terminal that can redraw: indicatif draws nothing for a `dumb` one
    // or with NO_COLOR set.
    cmd.env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .env("COLUMNS", "200")
        .env("LINES", "50");
    let mut child = cmd.spawn().expect("script runs");
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Wait (by output, not time) until the finding is on the terminal while
    // the reviewer's answer is still held open.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("(provisional)") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.extend(bytes),
            Err(_) => panic!(
                "no provisional finding on the terminal: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    let early = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        early.contains(
            "warning[general] src/app.py:15:1 Division by zero when count is 0 (provisional)"
        ),
        "{early}"
    );
    assert!(early.contains("reviewers done"), "{early}");
    assert_eq!(fake.total(), 1, "the coordinator is not asked yet");
    gate.open();
    let status = child.wait().expect("redline ends");
    reader.join().expect("reader");
    seen.extend(rx.try_iter().flatten());
    let all = String::from_utf8_lossy(&seen).into_owned();
    assert_eq!(status.code(), Some(0), "{all}");
    let report = all.rfind("src/app.py:15:1\r\n").expect("the final report");
    assert!(
        all.find("(provisional)").is_some_and(|p| p < report),
        "{all}"
    );
    assert!(
        !all[report..].contains("(provisional)"),
        "the report holds only judged findings: {all}"
    );
}

#[test]
fn with_stderr_not_a_terminal_nothing_goes_there_and_the_report_is_whole() {
    let fake = FakeOpenAi::start_background();
    let gate = Gate::new();
    gate.open();
    script_model(&fake, &gate);
    let repo = repo_with_change();
    let out = check_command(&repo, &fake, &["check", "--format", "json"])
        .output()
        .expect("redline runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "stderr is not a terminal"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["usage"]["requests"], 2);
    let text = check_command(&repo, &fake, &["check"])
        .output()
        .expect("redline runs");
    assert!(text.stderr.is_empty());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(!stdout.contains("(provisional)"), "{stdout}");
    assert!(stdout.contains("--> src/app.py:15:1"), "{stdout}");
}
