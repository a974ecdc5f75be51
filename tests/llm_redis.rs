//! The Redis response cache against a real `redis-server` started on a free
//! loopback port. Without the binary this test fails with a clear message,
//! unless REDLINE_SKIP_REDIS=1.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{Config, ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, Message};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tokio_util::sync::CancellationToken;

struct RedisServer {
    child: Child,
    url: String,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts redis-server on a free port; `None` when skipping is allowed.
fn start_redis() -> Option<RedisServer> {
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
        "[llm]\nbase_url = \"{base}\"\n[cache]\nredis_url = \"{redis_url}\"\ndir = \"{}\"\nttl_hours = 1\n",
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
async fn an_unreachable_redis_is_a_cache_miss_not_a_failure() {
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
    for _ in 0..2 {
        let resp = client
            .chat(
                ChatRequest::new("m", vec![Message::user("x")]),
                CancellationToken::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(resp.content, "still works");
        assert!(!resp.cached);
    }
    assert_eq!(fake.count("m"), 2);
}
