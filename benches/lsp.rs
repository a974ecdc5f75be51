//! Language-server speed and memory:
//! - one incremental edit to a 10,000-line buffer, moving 100 published
//!   findings through it and rebuilding their diagnostics (< 100 µs);
//! - `redline.reviewNow` → `publishDiagnostics` on a 1,000-line buffer with
//!   the built-in reviewer, through the real binary over stdio (< 20 ms);
//! - resident memory of the server holding 500 open 1,000-line buffers
//!   (< 150 MB), read from /proc/<pid>/status and printed.
//!
//! `cargo bench --bench lsp -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use criterion::{criterion_group, BatchSize, Criterion};
use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use redline::diff::position::Encoding;
use redline::lsp::proto;
use redline::lsp::text::EditRange;
use redline::lsp::tracking::{apply_change, Tracked};
use redline::review::{Finding, Severity};
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

fn review_now_to_publish(c: &mut Criterion) {
    let repo = TestRepo::new(&[("a.py", &buffer(1_000))]);
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

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

criterion_group!(benches, edit_and_move, review_now_to_publish);

fn main() {
    benches();
    resident_memory_of_500_buffers();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
