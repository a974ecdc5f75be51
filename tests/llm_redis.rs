//! What a team shares through Redis — answers, circuits, spend — against a
//! real `redis-server` started on a free loopback port, with several
//! clients standing for several processes (each has its own breakers,
//! ledger and cache folder). Without the binary these tests fail with a
//! clear message, unless REDLINE_SKIP_REDIS=1.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/repo.rs"]
mod repo;

use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{Config, ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, Message};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tokio_util::sync::CancellationToken;

struct RedisServer {
    child: Child,
    url: String,
    port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts redis-server on a free port; `None` when skipping is allowed.
fn start_redis() -> Option<RedisServer> {
    start_redis_on(None)
}

/// Starts redis-server on `port` (a restart), else on a free port.
fn start_redis_on(port: Option<u16>) -> Option<RedisServer> {
    let binary = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    let Some(binary) = binary else {
        if std::env::var("REDLINE_SKIP_REDIS").as_deref() == Ok("1") {
            eprintln!("redis-server not found; skipped because REDLINE_SKIP_REDIS=1");
            return None;
        }
        panic!(
            "redis-server is not on PATH: install it (Debian: `apt-get install -y redis-server`) \
             or set REDLINE_SKIP_REDIS=1 to skip the Redis cache test"
        );
    };
    // The free port is found by binding port 0 and releasing it, so another
    // process (a parallel test's server) can take it before redis-server
    // binds it; redis-server then exits before it is ready, and we try
    // again on a fresh port.
    for _ in 0..5 {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let mut child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            port,
        };
        // Wait for the server to say it is ready (it exits on failure, which
        // ends the stream).
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("Ready to accept connections"));
        if ready {
            return Some(server);
        }
    }
    panic!("redis-server exited before it was ready, five times on fresh ports");
}

fn config(base: &str, redis_url: &str, dir: &std::path::Path) -> Config {
    let toml = format!(
        // A generous Redis timeout: tests run in parallel on busy machines.
        "[llm]\nbase_url = \"{base}\"\n[cache]\nredis_url = \"{redis_url}\"\ndir = \"{}\"\nttl_hours = 1\n[team]\nredis_timeout_ms = 500\n",
        dir.display()
    );
    ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config
}

#[tokio::test]
async fn a_team_shares_answers_through_redis() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("m", Behaviour::answer("shared answer"));
    let req = || ChatRequest::new("m", vec![Message::user("same diff")]);

    // Two machines: separate disk cache folders, one Redis.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = Client::new(&config(&fake.base_url, &redis.url, dir_a.path())).unwrap();
    let bob = Client::new(&config(&fake.base_url, &redis.url, dir_b.path())).unwrap();

    let first = alice
        .chat(req(), CancellationToken::new(), None)
        .await
        .unwrap();
    assert!(!first.cached);
    let second = bob
        .chat(req(), CancellationToken::new(), None)
        .await
        .unwrap();
    assert!(second.cached, "bob got alice's answer from Redis");
    assert_eq!(second.content, "shared answer");
    assert_eq!(fake.count("m"), 1);

    // The entry lives in Redis with an expiry, not on disk.
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("redline:v1:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 3600, "ttl {ttl}");
    assert!(!dir_a.path().join("responses").exists());
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_the_disk_cache_not_a_failure() {
    let fake = FakeOpenAi::start().await;
    fake.set_default("m", Behaviour::answer("still works"));
    // Port 1 (tcpmux) is closed on any test machine. A port found by
    // binding port 0 and releasing it could be taken by the redis-server of
    // the test running alongside, which would then answer from its cache.
    let port = 1;
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&config(
        &fake.base_url,
        &format!("redis://127.0.0.1:{port}/"),
        dir.path(),
    ))
    .unwrap();
    for round in 0..2 {
        let resp = client
            .chat(
                ChatRequest::new("m", vec![Message::user("x")]),
                CancellationToken::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(resp.content, "still works");
        assert_eq!(resp.cached, round == 1, "the disk cache stands in");
    }
    assert_eq!(fake.count("m"), 1);
    assert_eq!(client.stats().team.unwrap().redis, "down");
}

/// A team's config: `primary` (dead in these tests) fails over to
/// `steady`; both at the fake endpoint. `extra` is appended as is.
fn team_config(base: &str, redis_url: &str, dir: &std::path::Path, extra: &str) -> Config {
    let toml = format!(
        r#"[llm]
base_url = "{base}"
max_attempts = 3
breaker_threshold = 3
breaker_cooldown_s = 60
backoff_base_ms = 1
[models.primary]
input_per_mtok = 1.0
output_per_mtok = 1.0
fallback = "steady"
[models.steady]
input_per_mtok = 1.0
output_per_mtok = 1.0
[cache]
redis_url = "{redis_url}"
dir = "{}"
[team]
redis_timeout_ms = 200  # generous: tests run in parallel on busy machines
redis_retry_ms = 100
{extra}"#,
        dir.display()
    );
    ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config
}

/// One process of the team: a client with a cache folder of its own.
struct Process {
    client: Client,
    _dir: tempfile::TempDir,
}

fn process(base: &str, redis_url: &str, extra: &str) -> Process {
    let dir = tempfile::tempdir().unwrap();
    Process {
        client: Client::new(&team_config(base, redis_url, dir.path(), extra)).unwrap(),
        _dir: dir,
    }
}

/// A distinct prompt each time, so that no answer comes from the cache.
async fn review(
    p: &Process,
    model: &str,
    prompt: impl Into<String>,
) -> Result<redline::llm::ChatResponse, redline::llm::LlmError> {
    p.client
        .chat(
            ChatRequest::new(model, vec![Message::user(prompt)]),
            CancellationToken::new(),
            None,
        )
        .await
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits (polling Redis, bounded) until the team's open circuit has cooled
/// down: its `open` marker has expired.
async fn until_cooled_down(url: &str) {
    let mut conn = redis_conn(url).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let open: Vec<String> = redis::cmd("KEYS")
            .arg("redline:v1:circuit:*:open")
            .query_async(&mut conn)
            .await
            .unwrap();
        if open.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the circuit never cooled down"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn processes_after_the_first_fail_over_without_calling_the_dead_model() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::unavailable(None));
    fake.set_default("steady", Behaviour::answer("from steady"));

    // The issue's measurement: three runs one after another; each used to
    // make its own threshold of calls to the dead model (3 x 3 here).
    for run in 0..3 {
        let p = process(&fake.base_url, &redis.url, "");
        let resp = review(&p, "primary", format!("diff {run}")).await.unwrap();
        assert_eq!(resp.model, "steady");
        assert_eq!(p.client.stats().circuits["primary"], "open", "run {run}");
    }
    assert_eq!(fake.count("primary"), 3, "the threshold, once for the team");
    assert_eq!(fake.count("steady"), 3);

    // A process started after the opening makes no call to it either.
    let late = process(&fake.base_url, &redis.url, "");
    for i in 0..5 {
        review(&late, "primary", &format!("late {i}"))
            .await
            .unwrap();
    }
    assert_eq!(fake.count("primary"), 3);
}

#[tokio::test]
async fn concurrent_processes_stop_calling_a_dead_model_once_the_team_circuit_opens() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::unavailable(None));
    fake.set_default("steady", Behaviour::answer("from steady"));
    let team: Vec<Process> = (0..4)
        .map(|_| process(&fake.base_url, &redis.url, ""))
        .collect();
    for round in 0..3 {
        let reviews = team
            .iter()
            .enumerate()
            .map(|(i, p)| review(p, "primary", format!("round {round} process {i}")));
        for r in futures::future::join_all(reviews).await {
            assert_eq!(r.unwrap().model, "steady");
        }
    }
    // Each process stops as soon as the team's circuit is open: requests
    // already in flight when it opens are the only ones past the threshold
    // (at most one per other process), where 4 x 3 = 12 was the old cost.
    let calls = fake.count("primary");
    assert!(
        (3..=3 + 3).contains(&calls),
        "{calls} calls to the dead model"
    );
}

#[tokio::test]
async fn after_the_cooldown_the_whole_team_sends_exactly_one_probe() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::unavailable(None));
    fake.set_default("steady", Behaviour::answer("from steady"));
    let team: Vec<Process> = (0..5)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = team_config(&fake.base_url, &redis.url, dir.path(), "");
            cfg.llm.breaker_cooldown_s = 0.3;
            Process {
                client: Client::new(&cfg).unwrap(),
                _dir: dir,
            }
        })
        .collect();
    review(&team[0], "primary", "opens it").await.unwrap();
    assert_eq!(fake.count("primary"), 3);

    // The probe fails slowly, so that the others ask while it is in flight.
    until_cooled_down(&redis.url).await;
    fake.set_default(
        "primary",
        Behaviour::unavailable(None).after(std::time::Duration::from_millis(300)),
    );
    let reviews = team
        .iter()
        .enumerate()
        .map(|(i, p)| review(p, "primary", format!("after cooldown {i}")));
    for r in futures::future::join_all(reviews).await {
        assert_eq!(r.unwrap().model, "steady");
    }
    assert_eq!(fake.count("primary"), 4, "one probe for five processes");
    for p in &team {
        assert_eq!(p.client.stats().circuits["primary"], "open");
    }

    // Next cooldown: the probe succeeds and closes it for everyone.
    until_cooled_down(&redis.url).await;
    fake.set_default("primary", Behaviour::answer("primary is back"));
    let probe = review(&team[3], "primary", "probe again").await.unwrap();
    assert_eq!(probe.model, "primary");
    for (i, p) in team.iter().enumerate() {
        let r = review(p, "primary", format!("closed {i}")).await.unwrap();
        assert_eq!(r.model, "primary", "process {i} sees the closed circuit");
    }
    assert_eq!(fake.count("primary"), 5 + 5);
}

#[tokio::test]
async fn team_circuit_keys_are_namespaced_expire_and_hold_no_prompt() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::unavailable(None));
    fake.set_default("steady", Behaviour::answer("from steady"));
    let p = process(&fake.base_url, &redis.url, "");
    review(&p, "primary", "a very particular prompt")
        .await
        .unwrap();

    let mut conn = redis_conn(&redis.url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("redline:v1:circuit:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} expires by itself (pttl {ttl})");
        let value: String = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!value.contains("particular") && !key.contains("127.0.0.1"));
        assert!(!key.contains("particular"));
    }
}

/// Bounds a review: "nothing hangs" is a deadline, not a hope.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test]
async fn killing_redis_mid_run_loses_no_review_and_the_team_state_returns_with_it() {
    let Some(mut redis) = start_redis() else {
        return;
    };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::answer("an answer"));
    let p = process(&fake.base_url, &redis.url, "");
    within("a review with Redis", review(&p, "primary", "before"))
        .await
        .unwrap();
    let team = p.client.stats().team.expect("team stats with a redis_url");
    assert_eq!(team.redis, "up");
    assert!(team.redis_round_trips > 0);

    let port = redis.port;
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    for i in 0..5 {
        let r = within(
            "a review without Redis",
            review(&p, "primary", format!("down {i}")),
        )
        .await
        .unwrap();
        assert_eq!(r.content, "an answer");
    }
    assert_eq!(p.client.stats().team.unwrap().redis, "down");
    // The disk cache stood in for Redis: the same question is answered
    // from it.
    let again = within("a cached review", review(&p, "primary", "down 0"))
        .await
        .unwrap();
    assert!(again.cached, "served by the disk cache while Redis is down");
    assert_eq!(fake.count("primary"), 6);

    // Redis returns (same port): after redis_retry_ms the process uses it.
    let Some(back) = start_redis_on(Some(port)) else {
        return;
    };
    redis = back;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut i = 0;
    while p.client.stats().team.unwrap().redis != "up" {
        assert!(
            std::time::Instant::now() < deadline,
            "never went back to Redis"
        );
        within(
            "a review as Redis returns",
            review(&p, "primary", format!("back {i}")),
        )
        .await
        .unwrap();
        i += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut conn = redis_conn(&redis.url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("redline:v1:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "answers go to Redis again");
}

#[tokio::test]
async fn a_stopped_redis_holds_no_review_longer_than_its_timeout() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::answer("an answer"));
    let p = process(&fake.base_url, &redis.url, "");
    review(&p, "primary", "warm").await.unwrap();

    // SIGSTOP: the socket stays open and nothing answers — a slow Redis.
    let pid = redis.child.id().to_string();
    let stopped = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    assert!(stopped.success());
    let started = std::time::Instant::now();
    for i in 0..3 {
        within(
            "a review with a stopped Redis",
            review(&p, "primary", format!("slow {i}")),
        )
        .await
        .unwrap();
    }
    let took = started.elapsed();
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    // The first command waits its 200 ms timeout; then the process is on
    // local state and does not wait again.
    assert!(
        took < std::time::Duration::from_secs(2),
        "three reviews took {took:?}"
    );
    assert_eq!(p.client.stats().team.unwrap().redis, "down");
}

#[tokio::test]
async fn the_team_budget_holds_across_processes() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    // 400 tokens at $1 per million: $0.0004 a request.
    fake.set_default("steady", Behaviour::answer("ok").with_usage(300, 100));
    let extra = "budget_usd_per_day = 0.001\n";
    let (alice, bob) = (
        process(&fake.base_url, &redis.url, extra),
        process(&fake.base_url, &redis.url, extra),
    );
    review(&alice, "steady", "a1").await.unwrap();
    review(&bob, "steady", "b1").await.unwrap();
    review(&alice, "steady", "a2").await.unwrap();
    // $0.0012 spent by the team; each process spent less than the budget.
    for p in [&alice, &bob] {
        let err = review(p, "steady", "one more").await.unwrap_err();
        assert!(
            matches!(err, redline::llm::LlmError::TeamOverBudget { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("team.budget_usd_per_day"));
        assert!(p.client.over_budget());
        let team = p.client.stats().team.unwrap();
        assert_eq!(team.budget_usd_per_day, Some(0.001));
        assert!((team.spent_today_usd.unwrap() - 0.0012).abs() < 1e-9);
    }
    assert_eq!(fake.count("steady"), 3);

    // A process started later is held to it as well.
    let carol = process(&fake.base_url, &redis.url, extra);
    assert!(review(&carol, "steady", "c1").await.is_err());
    assert_eq!(fake.count("steady"), 3);
}

/// A repository with one changed line, whose reviewers ask `primary`
/// (failing over to `steady`) and share through `redis_url`.
fn team_repo(redis_url: &str, extra: &str) -> repo::TestRepo {
    let config = format!(
        r#"[llm]
max_attempts = 3
breaker_threshold = 3
breaker_cooldown_s = 60
backoff_base_ms = 1
[models.primary]
fallback = "steady"
[models.steady]
[reviewers]
general = "primary"
coordinator = "primary"
[cache]
redis_url = "{redis_url}"
[team]
redis_timeout_ms = 200
{extra}"#
    );
    repo::TestRepo::with_changed_app(&config)
}

async fn check(repo: &repo::TestRepo, base_url: &str, format: &str) -> std::process::Output {
    let mut cmd = repo.redline(&["check", "--format", format]);
    cmd.env("REDLINE_BASE_URL", base_url);
    tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("redline runs")
}

#[tokio::test]
async fn three_check_runs_against_a_dead_model_call_it_threshold_times_in_all() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_default("primary", Behaviour::unavailable(None));
    fake.set_default("steady", Behaviour::answer(r#"{"findings": []}"#));
    for run in 0..3 {
        // Each run its own checkout: no disk cache or spend file in common.
        let repo = team_repo(&redis.url, "");
        let out = check(&repo, &fake.base_url, "json").await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(
            report["degraded"].as_array().unwrap().is_empty(),
            "run {run}: {stdout}"
        );
        assert_eq!(report["team"]["redis"], "up", "{stdout}");
        assert_eq!(report["team"]["shared_circuits"], true);
    }
    // The issue measured 18 (6 per run); the team's circuit makes it the
    // threshold, once.
    assert_eq!(fake.count("primary"), 3);
    // Runs 2 and 3 get steady's answers from the Redis cache.
    assert!(fake.count("steady") >= 1);
}

#[tokio::test]
async fn check_reports_the_team_budget_in_json_and_text() {
    let Some(redis) = start_redis() else { return };
    let fake = FakeOpenAi::start().await;
    fake.set_fallback(Behaviour::answer(r#"{"findings": []}"#).with_usage(300, 100));
    let repo = team_repo(&redis.url, "budget_usd_per_day = 0.5\n");
    // Prices make each request cost $0.0004.
    let toml = std::fs::read_to_string(repo.path(".redline.toml")).unwrap();
    repo.write(
        ".redline.toml",
        toml.replace(
            "[models.primary]\n",
            "[models.primary]\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n",
        ),
    );
    let out = check(&repo, &fake.base_url, "json").await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["team"]["budget_usd_per_day"], 0.5);
    let spent = report["team"]["spent_today_usd"].as_f64().unwrap();
    let requests = report["usage"]["requests"].as_f64().unwrap();
    assert!(requests >= 1.0);
    assert!(
        (spent - requests * 0.0004).abs() < 1e-9,
        "{spent} for {requests} requests"
    );

    let out = check(&repo, &fake.base_url, "text").await;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("team:")).expect(&text);
    assert!(
        line.contains("shared through Redis") && line.contains("of $0.50"),
        "{line}"
    );
}

#[tokio::test]
async fn a_check_run_says_once_that_redis_is_unreachable() {
    let fake = FakeOpenAi::start().await;
    fake.set_fallback(Behaviour::answer(r#"{"findings": []}"#));
    // Port 1 is closed (see above): every Redis use in this run fails.
    let repo = team_repo("redis://127.0.0.1:1/", "");
    let out = check(&repo, &fake.base_url, "json").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("Redis unavailable").count(), 1, "{stderr}");
    assert!(!stderr.contains("127.0.0.1:1"), "no URL in logs: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["team"]["redis"], "down");
    assert!(report["degraded"].as_array().unwrap().is_empty());
    assert!(fake.count("primary") >= 1, "the review still ran");
}

#[tokio::test]
async fn a_process_started_after_an_endpoint_failed_for_the_team_avoids_it() {
    let Some(redis) = start_redis() else { return };
    let (near, far) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    let answer = |ms| Behaviour::answer("ok").after(std::time::Duration::from_millis(ms));
    near.set_default("m", answer(20));
    far.set_default("m", answer(100));
    let toml = format!(
        "[llm]\nbackoff_base_ms = 1\n[providers.far]\nbase_url = \"{}\"\n[providers.near]\nbase_url = \"{}\"\n\
         [models.m]\nendpoints = [\"near\", \"far\"]\n[cache]\nenabled = false\nredis_url = \"{}\"\n\
         [team]\nredis_timeout_ms = 200\n",
        far.base_url, near.base_url, redis.url
    );
    let client = || {
        let cfg = ConfigBuilder::new()
            .with_toml_str(&toml, Origin::Default)
            .unwrap()
            .build()
            .unwrap()
            .config;
        Client::new(&cfg).unwrap()
    };
    let first = client();
    for i in 0..5 {
        first
            .chat(
                ChatRequest::new("m", vec![Message::user(format!("warm {i}"))]),
                CancellationToken::new(),
                None,
            )
            .await
            .unwrap();
    }
    near.set_default("m", Behaviour::unavailable(None));
    first
        .chat(
            ChatRequest::new("m", vec![Message::user("fails over")]),
            CancellationToken::new(),
            None,
        )
        .await
        .unwrap();

    // The first process reports in the background: wait for the team's
    // view of the near endpoint to drop below the floor.
    let key = redline::llm::team::endpoint_key(&near.base_url, "m");
    let mut conn = redis_conn(&redis.url).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let score: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("s")
            .query_async(&mut conn)
            .await
            .unwrap();
        if score
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|s| s < 0.3)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the team never heard");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // On its own, a new process would try `near` first: listed first, and
    // no latency known.
    let second = client();
    let near0 = near.count("m");
    for i in 0..5 {
        let r = second
            .chat(
                ChatRequest::new("m", vec![Message::user(format!("second {i}"))]),
                CancellationToken::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.content, "ok");
    }
    assert_eq!(
        near.count("m"),
        near0,
        "the new process never tried the failing endpoint"
    );
}
