//! Model client overhead: a cached request (disk cache hit, no network) and
//! an uncached request against a zero-latency fake server with 8 requests in
//! flight at once (reported per request). Targets: < 1 ms and < 2 ms.
//!
//! With `redis-server` on PATH, a team's Redis too (started on a loopback
//! port): the same uncached request with circuits and a team budget in
//! Redis (the round trips a request adds; target < 2 ms per review), and a
//! second process failing over on a circuit the first opened (target: no
//! call to the dead model, well within 1 s).
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

/// redis-server on a free loopback port, killed on drop.
struct Redis {
    child: std::process::Child,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<Redis> {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let redis = Redis {
        child,
        url: format!("redis://127.0.0.1:{port}/"),
    };
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("Ready to accept connections"))
        .then_some(redis)
}

fn config_client(toml: &str) -> Client {
    let cfg = ConfigBuilder::new()
        .with_toml_str(toml, Origin::Default)
        .expect("bench config parses")
        .build()
        .expect("bench config is valid")
        .config;
    Client::new(&cfg).expect("client")
}

fn team_benches(c: &mut Criterion) {
    let Some(redis) = start_redis() else {
        eprintln!("redis-server not on PATH: team benches skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(FakeOpenAi::start());
    fake.set_default(
        "bench-model",
        Behaviour::answer("{\"findings\": []}").with_usage(800, 60),
    );
    fake.set_default("dead", Behaviour::unavailable(None));
    let base = &fake.base_url;
    // No response cache, so that each request reaches the model: the only
    // difference between the two clients is the team's state in Redis.
    let models = "[models.bench-model]\ninput_per_mtok = 0.27\noutput_per_mtok = 1.1\n\
                  [models.dead]\nfallback = \"bench-model\"\n";
    let local = config_client(&format!(
        "[llm]\nbase_url = \"{base}\"\nbreaker_threshold = 1\nmax_attempts = 1\n{models}[cache]\nenabled = false\n"
    ));
    let team_toml = format!(
        "[llm]\nbase_url = \"{base}\"\nbreaker_threshold = 1\nmax_attempts = 1\nbreaker_cooldown_s = 3600\n{models}\
         [cache]\nenabled = false\nredis_url = \"{}\"\n[team]\nbudget_usd_per_day = 1000000.0\n\
         redis_timeout_ms = 1000\n",
        redis.url
    );
    let team = config_client(&team_toml);
    let diff = "diff --git a/src/a.rs b/src/a.rs\n+let x = 1;\n".repeat(40);
    for (name, client) in [
        ("llm_uncached_request_local_state", &local),
        ("llm_uncached_request_team_state_in_redis", &team),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(client.chat(request(&diff), CancellationToken::new(), None))
                    .expect("answer")
            })
        });
    }
    let stats = team.stats();
    let shared = stats.team.expect("team stats");
    eprintln!(
        "team state: {} Redis round trips for {} requests ({:.2} a request); Redis {}",
        shared.redis_round_trips,
        stats.requests,
        shared.redis_round_trips as f64 / stats.requests.max(1) as f64,
        shared.redis
    );

    // One Redis round trip on its own, to read the above per trip.
    let mut conn = rt
        .block_on(
            redis::Client::open(redis.url.as_str())
                .expect("redis url")
                .get_multiplexed_async_connection(),
        )
        .expect("redis connection");
    c.bench_function("redis_round_trip_ping", |b| {
        b.iter(|| {
            rt.block_on(redis::cmd("PING").query_async::<String>(&mut conn))
                .expect("PONG")
        })
    });

    // Process A opens the team's circuit of `dead`; a fresh process B then
    // fails over on its first request without calling it.
    let opener = config_client(&team_toml);
    let ask_dead = || ChatRequest::new("dead", vec![Message::user("x".to_string())]);
    rt.block_on(opener.chat(ask_dead(), CancellationToken::new(), None))
        .expect("failed over");
    let dead_calls = fake.count("dead");
    c.bench_function("llm_second_process_fails_over_on_the_team_circuit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = config_client(&team_toml);
                let start = Instant::now();
                let resp = rt
                    .block_on(fresh.chat(ask_dead(), CancellationToken::new(), None))
                    .expect("failed over");
                total += start.elapsed();
                assert_eq!(resp.model, "bench-model");
            }
            total
        })
    });
    assert_eq!(
        fake.count("dead"),
        dead_calls,
        "no process called the dead model again"
    );
}

criterion_group!(llm, benches, team_benches);
criterion_main!(llm);
