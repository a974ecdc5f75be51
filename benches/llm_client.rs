//! Model client overhead: a cached request (disk cache hit, no network) and
//! an uncached request against a zero-latency fake server with 8 requests in
//! flight at once (reported per request). Targets: < 1 ms and < 2 ms.
//!
//! cargo bench --bench llm_client -- --warm-up-time 1 --measurement-time 3

#[path = "../tests/support/fake_openai.rs"]
mod fake_openai;

use criterion::{criterion_group, criterion_main, Criterion};
use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, Message};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn client(base: &str, dir: &std::path::Path, cache: bool) -> Client {
    let toml = format!(
        "[llm]\nbase_url = \"{base}\"\nmax_concurrency = 8\n[cache]\nenabled = {cache}\ndir = \"{}\"\n",
        dir.display()
    );
    let cfg = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .expect("bench config parses")
        .build()
        .expect("bench config is valid")
        .config;
    Client::new(&cfg).expect("client")
}

fn request(prompt: &str) -> ChatRequest {
    ChatRequest::new(
        "bench-model",
        vec![
            Message::system("You are a code reviewer. Answer with JSON findings."),
            Message::user(prompt.to_string()),
        ],
    )
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeOpenAi::start());
    fake.set_default(
        "bench-model",
        Behaviour::answer(r#"{"findings": [{"path": "src/a.rs", "line": 1, "severity": "warning", "title": "t", "message": "m"}]}"#)
            .with_usage(800, 60),
    );
    let dir = tempfile::tempdir().expect("tempdir");

    let cached = client(&fake.base_url, dir.path(), true);
    let diff = "diff --git a/src/a.rs b/src/a.rs\n+let x = 1;\n".repeat(40);
    rt.block_on(cached.chat(request(&diff), CancellationToken::new(), None))
        .expect("warm the cache");
    c.bench_function("llm_cached_request", |b| {
        b.iter(|| {
            let resp = rt
                .block_on(cached.chat(request(&diff), CancellationToken::new(), None))
                .expect("cached answer");
            assert!(resp.cached);
        })
    });

    let uncached = client(&fake.base_url, dir.path(), false);
    c.bench_function("llm_uncached_request_8_concurrent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let calls = (0..8)
                        .map(|_| uncached.chat(request(&diff), CancellationToken::new(), None));
                    for r in futures::future::join_all(calls).await {
                        r.expect("uncached answer");
                    }
                    total += start.elapsed() / 8;
                }
                total
            })
        })
    });
}

criterion_group!(llm, benches);
criterion_main!(llm);
