//! A chaos run: 200 calls against a server that answers 30% of requests
//! with 503, hangs on 10% and sends garbage on 5%. Every call must end, with
//! an answer or a retryable error, within a bound, and nothing panics.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use fake_openai::{Behaviour, FakeOpenAi};
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use redline::config::{ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, Message};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_against_a_flaky_server_all_end_in_bounded_time() {
    let fake = FakeOpenAi::start().await;
    let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(0x5eed)));
    fake.respond_with(move |_| {
        let roll: f64 = rng.lock().unwrap().random_range(0.0..1.0);
        if roll < 0.30 {
            Behaviour::unavailable(None)
        } else if roll < 0.40 {
            Behaviour::hang()
        } else if roll < 0.45 {
            Behaviour::garbage()
        } else {
            Behaviour::answer("{\"findings\": []}").after(Duration::from_millis(2))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[llm]
base_url = "{}"
first_token_timeout_s = 0.5
timeout_s = 2.0
max_attempts = 2
backoff_base_ms = 5
backoff_max_s = 0.05
breaker_threshold = 4
breaker_cooldown_s = 0.2
max_concurrency = 8
[models.primary]
fallback = "backup"
[models.backup]
[cache]
dir = "{}"
"#,
        fake.base_url,
        dir.path().display()
    );
    let cfg = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config;
    let client = Client::new(&cfg).unwrap();

    // Worst case per call: 2 models x 2 attempts x 0.5 s first-token
    // timeout, plus backoff and queueing behind 8 slots on a loaded CI
    // machine.
    let bound = Duration::from_secs(8);
    let outcomes: Vec<_> = futures::stream::iter(0..200)
        .map(|i| {
            let client = client.clone();
            async move {
                let req = ChatRequest::new("primary", vec![Message::user(format!("review #{i}"))]);
                let start = Instant::now();
                let out =
                    tokio::time::timeout(bound, client.chat(req, CancellationToken::new(), None))
                        .await;
                (out, start.elapsed())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    assert_eq!(outcomes.len(), 200);
    let mut ok = 0;
    for (out, took) in &outcomes {
        match out {
            Err(_) => panic!("a call did not end within {bound:?}"),
            Ok(Ok(resp)) => {
                assert_eq!(resp.content, "{\"findings\": []}");
                ok += 1;
            }
            Ok(Err(e)) => assert!(e.is_retryable(), "unexpected error class: {e}"),
        }
        assert!(*took < bound);
    }
    assert!(
        // Open circuits fail calls fast by design, so the exact share
        // depends on timing; retries and failover must still rescue many.
        ok >= 50,
        "retries and failover should rescue a good share of calls, got {ok}"
    );
    let stats = client.stats();
    assert_eq!(stats.requests as usize, fake.total());
    assert!(
        fake.total() <= 200 * 4,
        "at most 2 attempts on each of 2 models"
    );
}
