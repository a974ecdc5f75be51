//! Review orchestration speed and size.
//!
//! - A full-tier review against a fake model of fixed latency L = 200 ms must
//!   finish within 1.3 × 2L: the five specialists in parallel (L), then the
//!   coordinator (L), with little overhead around them.
//! - Prompt tokens of that review, for a 100-line change: the shared context
//!   is sent once per reviewer at most; tokens per changed line.
//! - Streaming costs nothing: the same review with a listener for its
//!   provisional findings sends the same requests (byte for byte) and
//!   counts the same tokens.
//!
//! `cargo bench --bench review -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/support/fake_openai.rs"]
mod fake_openai;

use criterion::{criterion_group, criterion_main, Criterion};
use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{ConfigBuilder, Origin};
use redline::git::ChangeKind;
use redline::review::{ChangeSet, Engine, FileChange, ReviewOptions, Tier};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const LATENCY: Duration = Duration::from_millis(200);

/// A 400-line file of five 80-line functions, with 100 changed lines: a
/// hunk of 20 in the middle of each function, far from its signature.
fn hundred_line_change() -> ChangeSet {
    let text = |changed: bool| -> String {
        (0..5)
            .map(|f| {
                let mut body = format!("pub fn step_{f}(input: u32, scale: u32) -> u32 {{\n");
                for i in 1..=78 {
                    body += &if changed && (30..50).contains(&i) {
                        format!("    let value_{i} = compute_twice({i}) + offset;\n")
                    } else {
                        format!("    let value_{i} = compute({i});\n")
                    };
                }
                body + "}\n"
            })
            .collect()
    };
    let (old, new) = (text(false), text(true));
    let file = FileChange::new("src/lib.rs", ChangeKind::Modified, old, new);
    assert_eq!(file.diff.changed_line_count(), 100);
    ChangeSet {
        files: vec![file],
        skipped: Vec::new(),
        origin: None,
    }
}

fn engine(base: &str) -> Engine {
    let toml = format!(
        "[llm]\nbase_url = \"{base}\"\napi_key_env = \"REDLINE_BENCH_UNSET\"\nmax_concurrency = 8\n\
         [models.fast]\nname = \"fast\"\n[models.strong]\nname = \"strong\"\n\
         [reviewers]\ndefault = \"fast\"\ncoordinator = \"strong\"\n\
         [cache]\nenabled = false\n[review]\nbudget_usd_per_day = 1000000.0\n"
    );
    let config = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .expect("bench config")
        .build()
        .expect("valid bench config")
        .config;
    Engine::new(Arc::new(config)).expect("engine")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeOpenAi::start());
    let one = r#"{"verdict": "minor_issues", "findings": [{"id": 1, "path": "src/lib.rs", "line": 31, "end_line": 31,
        "severity": "warning", "reviewer": "quality", "title": "Offset added twice", "message": "m"}]}"#;
    fake.respond_with(move |_| Behaviour::answer(one).after(LATENCY));
    let engine = engine(&fake.base_url);
    let changes = hundred_line_change();
    let options = ReviewOptions {
        tier: Some(Tier::Full),
        buffer_key: None,
    };

    // Size: one review, counted from the requests the fake received.
    let started = Instant::now();
    let report =
        rt.block_on(engine.review(&changes, options.clone(), CancellationToken::new(), None));
    let once = started.elapsed();
    let requests = fake.requests();
    assert_eq!(requests.len(), 6, "five specialists and the coordinator");
    assert!(report.degraded.is_empty(), "{:?}", report.degraded);
    let tokens = |s: &str| s.chars().count().div_ceil(4);
    let user_of = |r: &fake_openai::RecordedRequest| {
        r.body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let system_of = |r: &fake_openai::RecordedRequest| {
        r.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let shared = tokens(&user_of(&requests[0]));
    let total: usize = requests
        .iter()
        .map(|r| tokens(&system_of(r)) + tokens(&user_of(r)))
        .sum();
    let systems: usize = requests.iter().map(|r| tokens(&system_of(r))).sum();
    let coordinator_extra = tokens(&user_of(&requests[5])) - shared;
    println!(
        "review/full tier, 100 changed lines, L = {} ms:",
        LATENCY.as_millis()
    );
    println!(
        "  one review: {:.0} ms (limit 1.3 x 2L = {:.0} ms)",
        once.as_secs_f64() * 1e3,
        2.6 * LATENCY.as_secs_f64() * 1e3
    );
    println!("  prompt tokens (chars/4): {total} over {} requests = system prompts {systems} + shared context {shared} x 6 + coordinator's findings {coordinator_extra}", requests.len());
    println!("  shared context per changed line: {:.1} tokens; whole review per changed line: {:.1} tokens", shared as f64 / 100.0, total as f64 / 100.0);
    println!(
        "  provider-reported prompt tokens (fake's estimate): {}",
        report.usage.prompt_tokens
    );
    assert_eq!(
        total,
        systems + shared * 6 + coordinator_extra,
        "shared context sent once per reviewer"
    );
    let first_user = user_of(&requests[0]);
    assert!(
        requests[..5].iter().all(|r| user_of(r) == first_user),
        "every specialist reads the same bytes (one shared context, cache-friendly)"
    );

    // The same review, listened to while it streams.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listened = rt.block_on(engine.review(
        &changes,
        options.clone(),
        CancellationToken::new(),
        Some(tx),
    ));
    let mut provisional = 0;
    while let Ok(e) = rx.try_recv() {
        provisional += usize::from(matches!(e, redline::review::Progress::Provisional { .. }));
    }
    let again = fake.requests();
    let bodies = |rs: &[fake_openai::RecordedRequest]| {
        let mut b: Vec<String> = rs.iter().map(|r| r.body.to_string()).collect();
        b.sort();
        b
    };
    assert_eq!(bodies(&requests), bodies(&again[requests.len()..]));
    assert_eq!(report.usage, listened.usage);
    println!(
        "  with a stream listener ({provisional} provisional findings): {} requests, {} prompt + {} completion tokens; without: {} requests, {} prompt + {} completion tokens",
        listened.usage.requests,
        listened.usage.prompt_tokens,
        listened.usage.completion_tokens,
        report.usage.requests,
        report.usage.prompt_tokens,
        report.usage.completion_tokens
    );

    let mut group = c.benchmark_group("review");
    group.sample_size(10);
    group.bench_function("full_tier_fake_latency_200ms", |b| {
        b.iter(|| {
            rt.block_on(engine.review(&changes, options.clone(), CancellationToken::new(), None))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
