//! Language-server speed and memory:
//! - one incremental edit to a 10,000-line buffer, moving 100 published
//!   findings through it and rebuilding their diagnostics (< 100 µs);
//! - `redline.reviewNow` → `publishDiagnostics` on a 1,000-line buffer with
//!   the built-in reviewer, through the real binary over stdio (< 20 ms);
//! - a keystroke in a 1,000- and a 10,000-line Python or Rust buffer: the
//!   kept syntax tree edited and reparsed (what `didChange` does) against
//!   a fresh parse of the same text;
//! - resident memory of the server holding 500 open 1,000-line buffers
//!   (< 150 MB), read from /proc/<pid>/status and printed;
//! - streamed findings against a paced fake model (each answer streams in
//!   30 pieces, 30 ms apart): `redline.reviewNow` → the first model finding
//!   in the editor, against L, the time one reviewer needs for its whole
//!   answer (target <= 0.6 x L), and the whole review against 2L (target
//!   <= 1.3 x 2L); medians printed.
//!
//! `cargo bench --bench lsp -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/support/fake_openai.rs"]
mod fake_openai;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use criterion::{criterion_group, BatchSize, Criterion};
use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use redline::diff::position::Encoding;
use redline::lsp::proto;
use redline::lsp::text::EditRange;
use redline::lsp::tracking::{apply_change, Tracked};
use redline::lsp::tree::{DocTree, Reparse};
use redline::review::{Finding, Severity};
use redline::syntax::{Lang, Parsed};
use ropey::Rope;
use serde_json::json;

fn buffer(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            format!(
                "    value_{i} = compute(value_{}, \"some text\")  # line {i}\n",
                i / 2
            )
        })
        .collect()
}

fn findings(n: u32, every: u32) -> Vec<Tracked> {
    (0..n)
        .map(|i| {
            Tracked::new(Finding {
                path: "a.py".into(),
                line: 1 + i * every,
                end_line: 1 + i * every,
                column: 5,
                end_column: Some(12),
                severity: Severity::Warning,
                reviewer: "security".into(),
                rule: None,
                title: "title".into(),
                message: "message".into(),
                fingerprint: format!("{i:016x}"),
                fix: None,
            })
        })
        .collect()
}

fn edit_and_move(c: &mut Criterion) {
    let rope = Rope::from_str(&buffer(10_000));
    let tracked = findings(100, 100);
    let edit = Some(EditRange {
        start_line: 4_950,
        start_col: 4,
        end_line: 4_950,
        end_col: 4,
    });
    c.bench_function("edit 10k-line buffer + move 100 findings", |b| {
        b.iter_batched(
            || (rope.clone(), tracked.clone()),
            |(mut rope, mut tracked)| {
                apply_change(&mut rope, &mut tracked, edit, "x = 1\n", Encoding::Utf16);
                (rope, tracked)
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("build 100 diagnostics for republishing", |b| {
        b.iter(|| {
            tracked
                .iter()
                .map(|t| proto::diagnostic(t, &rope, Encoding::Utf16))
                .collect::<Vec<_>>()
        })
    });
}

/// About `lines` lines of ordinary code in the language of `name`.
fn source(name: &str, lines: usize) -> String {
    let python = |i: usize| {
        format!(
            "def function_{i}(a, b):\n    \"\"\"Doc of {i}.\"\"\"\n    value = compute(a, \"some text\")  # note\n    if value > b:\n        return [value, b]\n    return None\n\n"
        )
    };
    let rust = |i: usize| {
        format!(
            "fn function_{i}(a: u32, b: &str) -> Option<u32> {{\n    // note\n    let value = compute(a, \"some text\");\n    if value > 3 {{ return Some(value); }}\n    None\n}}\n\n"
        )
    };
    let item: &dyn Fn(usize) -> String = if name.ends_with(".rs") {
        &rust
    } else {
        &python
    };
    (0..lines / 7).map(item).collect()
}

/// One keystroke in the middle of a buffer, then the next one taking it
/// back (so that every iteration starts from the same text): the tree
/// follows each like `didChange` makes it, against a fresh parse.
fn keystroke_reparse(c: &mut Criterion) {
    for name in ["a.py", "a.rs"] {
        for lines in [1_000, 10_000] {
            let text = source(name, lines);
            let mut rope = Rope::from_str(&text);
            let mut tree = DocTree::for_name(name).expect("a grammar");
            assert_eq!(tree.reparse(&rope), Reparse::Fresh);
            // Inside `value` on a line in the middle of a function body.
            let line = (lines / 14) * 7 + 2;
            let col = if name.ends_with(".rs") { 10 } else { 6 };
            let at = EditRange {
                start_line: line as u32,
                start_col: col,
                end_line: line as u32,
                end_col: col,
            };
            let typed = EditRange {
                end_col: col + 1,
                ..at
            };
            let mut odd = false;
            c.bench_function(
                &format!("keystroke, {lines}-line {name}: tree edited + reparsed"),
                |b| {
                    b.iter(|| {
                        let (range, inserted) = if odd { (typed, "") } else { (at, "x") };
                        odd = !odd;
                        tree.follow(&rope, Some(range), inserted, Encoding::Utf16);
                        redline::lsp::text::apply_edit(
                            &mut rope,
                            Some(range),
                            inserted,
                            Encoding::Utf16,
                        );
                        assert_eq!(tree.reparse(&rope), Reparse::Incremental);
                    })
                },
            );
            let lang = Lang::from_path(name).expect("a grammar");
            c.bench_function(
                &format!("keystroke, {lines}-line {name}: fresh parse"),
                |b| {
                    b.iter(|| {
                        Parsed::parse_chunks(lang, rope.len_bytes(), |at| {
                            if at >= rope.len_bytes() {
                                return &[];
                            }
                            let (chunk, start, _, _) = rope.chunk_at_byte(at);
                            &chunk.as_bytes()[at - start..]
                        })
                        .expect("parses")
                    })
                },
            );
        }
    }
}

fn review_now_to_publish(c: &mut Criterion) {
    let repo = TestRepo::new(&[("a.py", &buffer(1_000)), ("b.py", &buffer(1_000))]);
    let mut options = ClientOptions::folder(repo.root());
    options.work_done_progress = false;
    let mut client = LspClient::start(options);
    let uri = repo.uri("a.py");
    // 1,000 lines, ten of them changed with findings.
    let mut text = buffer(1_000);
    for i in 0..10 {
        text.push_str(&format!("print(debug_{i})\n"));
    }
    client.open(&uri, "python", 1, &text);
    let first = client.await_diagnostics(&uri, 1);
    assert_eq!(first.len(), 10, "{first:?}");
    let mut version = 1;
    c.bench_function("reviewNow -> publishDiagnostics, 1,000-line buffer", |b| {
        b.iter(|| {
            version += 1;
            client.change(&uri, version, [0, 0, 0, 0], "");
            client.review_now(&uri);
            let d = client.await_diagnostics(&uri, version);
            assert_eq!(d.len(), 10);
        })
    });
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    let parses = &stats["server"]["parses"];
    assert_eq!(parses["fresh"], 1, "{parses}");
    eprintln!("edited buffer: {parses}");
    // The same buffer opened and never edited keeps no tree: each review
    // parses it.
    let unedited = repo.uri("b.py");
    client.open(&unedited, "python", 1, &text);
    client.await_diagnostics(&unedited, 1);
    c.bench_function(
        "reviewNow -> publishDiagnostics, 1,000-line buffer never edited (parsed per review)",
        |b| {
            b.iter(|| {
                client.review_now(&unedited);
                let d = client.await_diagnostics(&unedited, 1);
                assert_eq!(d.len(), 10);
            })
        },
    );
}

fn resident_memory_of_500_buffers() {
    let repo = TestRepo::new(&[("README", "x\n")]);
    let mut options = ClientOptions::folder(repo.root());
    options.work_done_progress = false;
    let mut client = LspClient::start(options);
    let before = vm_rss_kib(client.pid());
    let text = buffer(1_000);
    let uris: Vec<String> = (0..500)
        .map(|i| repo.uri(&format!("src/f{i}.py")))
        .collect();
    std::fs::create_dir_all(repo.path("src")).expect("mkdir");
    for uri in &uris {
        client.open(uri, "python", 1, &text);
    }
    for uri in &uris {
        client.await_diagnostics(uri, 1);
    }
    let stats = client.execute("redline.stats", json!([])).expect("stats");
    assert_eq!(stats["server"]["open_documents"], 500);
    let after = vm_rss_kib(client.pid());
    eprintln!(
        "resident memory with 500 open 1,000-line buffers: {:.1} MB (idle server: {:.1} MB; text held: {:.1} MB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (text.len() * 500) as f64 / 1_048_576.0
    );
    let _ = TIMEOUT;
}

/// First model finding and whole review through the real binary, with a
/// fake model whose answers stream at a human-visible pace.
fn streaming_first_finding() {
    use fake_openai::{Behaviour, FakeOpenAi};
    use std::time::{Duration, Instant};
    const PIECES: usize = 30;
    const PACE: Duration = Duration::from_millis(30);
    let fake = FakeOpenAi::start_background();
    let finding = |line: u32, title: &str| {
        json!({"path": "a.py", "line": line, "severity": "warning", "title": title,
            "message": "a message of about the length a model writes for a finding, which explains what goes wrong and when"})
    };
    let reviewer = json!({"findings": [finding(2, "Result ignored"), finding(2, "Name the result"),
        finding(2, "Unchecked call")]})
    .to_string();
    let mut kept = finding(2, "Result of compute() ignored");
    kept["id"] = json!(1);
    let judged = json!({"verdict": "minor_issues", "findings": [kept]}).to_string();
    fake.respond_with(move |r| {
        let coordinator = r.body["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.starts_with("# Review coordinator"));
        let text = if coordinator { &judged } else { &reviewer };
        Behaviour::answer(text.clone()).in_chunks(PIECES, PACE)
    });
    let config = format!(
        "[llm]\nbase_url = \"{}\"\napi_key_env = \"REDLINE_BENCH_UNSET\"\nheartbeat_s = 10\n\
         [models.fast]\nname = \"fast\"\n[reviewers]\ndefault = \"fast\"\n[cache]\nenabled = false\n",
        fake.base_url
    );
    let base = "def main():\n    return 1\n";
    let repo = TestRepo::new(&[("a.py", base), (".redline.toml", &config)]);
    let mut options = ClientOptions::folder(repo.root());
    options.work_done_progress = false;
    options.env.push(("REDLINE_OFFLINE".into(), "0".into()));
    let mut client = LspClient::start(options);
    let uri = repo.uri("a.py");
    client.open(&uri, "python", 1, base);
    client.await_diagnostics(&uri, 1);
    let provisional = |p: &serde_json::Value| {
        p["diagnostics"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["data"]["provisional"] == true))
    };
    let (mut first, mut whole, mut stream) = (Vec::new(), Vec::new(), Vec::new());
    let mut previous: Vec<serde_json::Value> = Vec::new();
    for run in 0..9i64 {
        let version = run + 2;
        // A new line each time: a changed hunk is always sent again.
        let line = format!("    compute({run})\n");
        let end = if run == 0 { 1 } else { 2 };
        client.change(&uri, version, [1, 0, end, 0], &line);
        let asked = fake.total();
        let t0 = Instant::now();
        client.review_now(&uri);
        client.await_notification(
            "textDocument/publishDiagnostics",
            |p| p["uri"] == uri.as_str() && p["version"] == version && provisional(p),
            TIMEOUT,
        );
        first.push(t0.elapsed());
        // The verdict: no provisional finding, and not the last run's
        // finding moved through the edit.
        let settled = client.await_notification(
            "textDocument/publishDiagnostics",
            |p| {
                p["uri"] == uri.as_str()
                    && p["version"] == version
                    && !provisional(p)
                    && p["diagnostics"].as_array().is_some_and(|d| {
                        !d.is_empty()
                            && d.iter()
                                .all(|d| !previous.contains(&d["data"]["fingerprint"]))
                    })
            },
            TIMEOUT,
        );
        whole.push(t0.elapsed());
        previous = settled["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d["data"]["fingerprint"].clone())
            .collect();
        // L: from the reviewer's request to the coordinator's, which is sent
        // as soon as the reviewer's answer has ended.
        let requests = fake.requests();
        let [reviewer, coordinator] = &requests[asked..] else {
            panic!("two requests per review, got {}", requests.len() - asked);
        };
        stream.push(coordinator.received - reviewer.received);
        client.forget_notifications();
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (first, whole, l) = (median(&mut first), median(&mut whole), median(&mut stream));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "streaming, trivial tier, answers of {PIECES} pieces {} ms apart (medians of 9):",
        PACE.as_millis()
    );
    println!("  one reviewer's whole answer L = {:.0} ms", ms(l));
    println!(
        "  first model finding in the editor: {:.0} ms = {:.2} x L (target <= 0.6)",
        ms(first),
        first.as_secs_f64() / l.as_secs_f64()
    );
    println!(
        "  whole review: {:.0} ms = {:.2} x 2L (target <= 1.3)",
        ms(whole),
        whole.as_secs_f64() / (2.0 * l.as_secs_f64())
    );
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

criterion_group!(
    benches,
    edit_and_move,
    keystroke_reparse,
    review_now_to_publish
);

fn main() {
    benches();
    resident_memory_of_500_buffers();
    streaming_first_finding();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
