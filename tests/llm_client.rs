//! The model client against a scripted fake OpenAI-compatible server:
//! streaming, error classes, retries, breaker, failover, truncation, cache,
//! budget and cancellation, as a reviewer would notice them.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{Config, ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, LlmError, Message, StreamEvent, TimeoutPhase};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A config for `base` with fast clocks, the cache in `dir`, and `extra`
/// TOML merged over it.
fn config(base: &str, dir: &Path, extra: &str) -> Config {
    let base_layer = format!(
        r#"
[llm]
base_url = "{base}"
api_key_env = "REDLINE_TEST_UNSET_KEY"
backoff_base_ms = 10
heartbeat_s = 0.1
first_token_timeout_s = 5
timeout_s = 20
[cache]
dir = "{}"
[review]
budget_usd_per_day = 100.0
"#,
        dir.display()
    );
    ConfigBuilder::new()
        .with_toml_str(&base_layer, Origin::Default)
        .unwrap()
        .with_toml_str(extra, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config
}

const CHAIN: &str = r#"
[models.primary]
name = "primary-model"
fallback = "backup"
[models.backup]
name = "backup-model"
"#;

fn ask(model: &str, prompt: &str) -> ChatRequest {
    ChatRequest::new(
        model,
        vec![Message::system("You review code."), Message::user(prompt)],
    )
}

async fn chat(client: &Client, req: ChatRequest) -> Result<redline::llm::ChatResponse, LlmError> {
    client.chat(req, CancellationToken::new(), None).await
}

#[tokio::test]
async fn a_streamed_answer_comes_back_whole_with_usage_and_cost() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push(
        "m",
        Behaviour::answer("hello streaming world")
            .in_chunks(4, Duration::ZERO)
            .with_usage(1000, 200),
    );
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[models.fast]\nname = \"m\"\ninput_per_mtok = 1.0\noutput_per_mtok = 10.0\n",
    );
    let client = Client::new(&cfg).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let resp = client
        .chat(ask("fast", "hi"), CancellationToken::new(), Some(tx))
        .await
        .unwrap();
    assert_eq!(resp.content, "hello streaming world");
    assert_eq!(resp.model, "fast");
    assert!(!resp.cached);
    assert_eq!(resp.usage.requests, 1);
    assert_eq!(resp.usage.prompt_tokens, 1000);
    assert_eq!(resp.usage.completion_tokens, 200);
    assert!((resp.usage.cost_usd - 0.003).abs() < 1e-12);

    let req = &fake.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["stream_options"]["include_usage"], true);
    assert_eq!(req.body["messages"][0]["role"], "system");
    assert_eq!(req.body["max_tokens"], 4096);

    let mut deltas = String::new();
    let mut saw_first = false;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            StreamEvent::FirstToken { .. } => saw_first = true,
            StreamEvent::Delta(d) => deltas.push_str(&d),
            _ => {}
        }
    }
    assert!(saw_first);
    assert_eq!(deltas, "hello streaming world");

    let stats = client.stats();
    assert_eq!(stats.requests, 1);
    assert!((stats.cost_today_usd - 0.003).abs() < 1e-12);
    assert_eq!(stats.circuits["fast"], "closed");
}

#[tokio::test]
async fn a_model_name_without_a_models_table_is_asked_at_the_llm_endpoint() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("llama3", Behaviour::answer("ok"));
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let resp = chat(&client, ask("llama3", "x")).await.unwrap();
    assert_eq!(resp.content, "ok");
    assert_eq!(fake.requests()[0].model, "llama3");
}

#[tokio::test]
async fn a_primary_that_always_fails_is_cut_off_by_its_breaker_while_the_fallback_answers() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::unavailable(None));
    fake.set_default("backup-model", Behaviour::answer("from backup"));
    let extra = format!(
        "{CHAIN}\n[llm]\nmax_attempts = 2\nbreaker_threshold = 3\nbreaker_cooldown_s = 3600\n[cache]\nenabled = false\n"
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    for i in 0..20 {
        let resp = chat(&client, ask("primary", &format!("review {i}")))
            .await
            .unwrap();
        assert_eq!(resp.content, "from backup");
        assert_eq!(resp.model, "backup");
    }
    assert_eq!(
        fake.count("primary-model"),
        3,
        "the circuit opens after 3 failures"
    );
    assert_eq!(fake.count("backup-model"), 20);
    assert_eq!(client.stats().circuits["primary"], "open");
    assert_eq!(client.stats().circuits["backup"], "closed");
}

#[tokio::test]
async fn an_open_circuit_lets_one_probe_through_per_cooldown() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::unavailable(None));
    fake.set_default("backup-model", Behaviour::answer("from backup"));
    let cooldown = 0.2;
    let extra = format!(
        "{CHAIN}\n[llm]\nmax_attempts = 1\nbreaker_threshold = 2\nbreaker_cooldown_s = {cooldown}\n[cache]\nenabled = false\n"
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(1000) {
        let resp = chat(&client, ask("primary", &format!("review {i}")))
            .await
            .unwrap();
        assert_eq!(resp.model, "backup");
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let primary = fake.count("primary-model");
    let allowed = 2 + (elapsed / cooldown).floor() as usize;
    assert!(i > 20, "the loop made many requests ({i})");
    assert!(
        primary >= 3,
        "at least one probe after a cooldown, got {primary}"
    );
    assert!(
        primary <= allowed,
        "{primary} calls to the primary in {elapsed:.2} s; the breaker allows {allowed}"
    );
}

#[tokio::test]
async fn a_probe_that_succeeds_closes_the_circuit() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push("primary-model", Behaviour::unavailable(None));
    fake.set_default("primary-model", Behaviour::answer("primary is back"));
    let extra = format!(
        "{CHAIN}\n[llm]\nmax_attempts = 1\nbreaker_threshold = 1\nbreaker_cooldown_s = 0.05\n[cache]\nenabled = false\n"
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    assert_eq!(
        chat(&client, ask("primary", "a")).await.unwrap().model,
        "backup"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = chat(&client, ask("primary", "b")).await.unwrap();
        if resp.model == "primary" {
            break;
        }
        assert!(Instant::now() < deadline, "the primary was never probed");
        tokio::task::yield_now().await;
    }
    assert_eq!(client.stats().circuits["primary"], "closed");
}

#[tokio::test]
async fn a_hanging_primary_fails_over_after_the_first_token_timeout_not_the_whole_timeout() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::hang());
    fake.set_default("backup-model", Behaviour::answer("from backup"));
    let extra =
        format!("{CHAIN}\n[llm]\nmax_attempts = 1\nfirst_token_timeout_s = 0.3\ntimeout_s = 60\n");
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = Instant::now();
    let resp = client
        .chat(ask("primary", "x"), CancellationToken::new(), Some(tx))
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(resp.model, "backup");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let mut failover = None;
    let mut silent = 0;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            StreamEvent::Failover { from, to, reason } => failover = Some((from, to, reason)),
            StreamEvent::Silent { .. } => silent += 1,
            _ => {}
        }
    }
    let (from, to, reason) = failover.expect("a failover event");
    assert_eq!((from.as_str(), to.as_str()), ("primary", "backup"));
    assert!(reason.contains("first token"), "{reason}");
    assert!(silent >= 1, "heartbeats while the primary was silent");
}

#[tokio::test]
async fn a_slow_stream_sends_silence_heartbeats_and_still_completes() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push(
        "slow",
        Behaviour::answer("abc").in_chunks(3, Duration::from_millis(250)),
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let resp = client
        .chat(ask("slow", "x"), CancellationToken::new(), Some(tx))
        .await
        .unwrap();
    assert_eq!(resp.content, "abc");
    let mut silent = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let StreamEvent::Silent { waited, .. } = ev {
            silent.push(waited);
        }
    }
    assert!(silent.len() >= 3, "{silent:?}");
    assert!(
        silent.iter().all(|w| *w >= Duration::from_millis(90)),
        "{silent:?}"
    );
}

#[tokio::test]
async fn a_stream_that_stops_mid_answer_times_out_on_the_whole_request() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default(
        "m",
        Behaviour::answer("ab").in_chunks(2, Duration::from_secs(30)),
    );
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[llm]\nmax_attempts = 1\nfirst_token_timeout_s = 5\ntimeout_s = 0.5\n",
    );
    let client = Client::new(&cfg).unwrap();
    let err = chat(&client, ask("m", "x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Timeout {
                phase: TimeoutPhase::Whole,
                ..
            } | LlmError::Timeout {
                phase: TimeoutPhase::FirstToken,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn unauthorized_is_reported_without_retry_or_failover() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::unauthorized());
    let client = Client::new(&config(&fake.base_url, dir.path(), CHAIN)).unwrap();
    let err = chat(&client, ask("primary", "x")).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("REDLINE_TEST_UNSET_KEY"), "{err}");
    assert_eq!(fake.count("primary-model"), 1);
    assert_eq!(fake.count("backup-model"), 0);
    assert_eq!(client.stats().circuits["primary"], "closed");
}

#[tokio::test]
async fn a_context_overflow_is_reported_without_retry_or_failover() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::context_overflow());
    let client = Client::new(&config(&fake.base_url, dir.path(), CHAIN)).unwrap();
    let err = chat(&client, ask("primary", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::ContextOverflow { .. }), "{err}");
    assert!(err.to_string().contains("maximum context length"), "{err}");
    assert_eq!(fake.total(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_next_attempt() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push("m", Behaviour::too_many_requests(Some(1.0)));
    fake.push("m", Behaviour::answer("finally"));
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let resp = chat(&client, ask("m", "x")).await.unwrap();
    assert_eq!(resp.content, "finally");
    assert_eq!(resp.usage.requests, 2);
    let reqs = fake.requests();
    let gap = reqs[1].received - reqs[0].received;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_limit_fails_over_at_once() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::too_many_requests(Some(3600.0)));
    fake.set_default("backup-model", Behaviour::answer("from backup"));
    let client = Client::new(&config(&fake.base_url, dir.path(), CHAIN)).unwrap();
    let start = Instant::now();
    let resp = chat(&client, ask("primary", "x")).await.unwrap();
    assert_eq!(resp.model, "backup");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.count("primary-model"), 1);
}

#[tokio::test]
async fn dropped_streams_and_garbage_are_retried() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push("m", Behaviour::drop_mid_stream("half an ans"));
    fake.push("m", Behaviour::garbage());
    fake.push("m", Behaviour::answer("whole answer"));
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let resp = client
        .chat(ask("m", "x"), CancellationToken::new(), Some(tx))
        .await
        .unwrap();
    assert_eq!(resp.content, "whole answer");
    assert_eq!(fake.count("m"), 3);
    let started = std::iter::from_fn(|| rx.try_recv().ok())
        .filter(|e| matches!(e, StreamEvent::Started { .. }))
        .count();
    assert_eq!(started, 3, "each attempt starts afresh");
}

#[tokio::test]
async fn garbage_every_time_ends_as_an_unreadable_answer_error() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::garbage());
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let err = chat(&client, ask("m", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::Garbage { .. }), "{err}");
    assert_eq!(fake.count("m"), 3, "max_attempts defaults to 3");
}

#[tokio::test]
async fn a_length_cut_answer_is_retried_once_with_double_max_tokens() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push("m", Behaviour::length("{\"findings\": [{\"pa"));
    fake.push("m", Behaviour::answer("{\"findings\": []}"));
    let cfg = config(&fake.base_url, dir.path(), "[models.m]\nmax_tokens = 500\n");
    let client = Client::new(&cfg).unwrap();
    let resp = chat(&client, ask("m", "x")).await.unwrap();
    assert_eq!(resp.content, "{\"findings\": []}");
    let reqs = fake.requests();
    assert_eq!(reqs[0].max_tokens(), Some(500));
    assert_eq!(reqs[1].max_tokens(), Some(1000));
    assert_eq!(resp.usage.requests, 2);
}

#[tokio::test]
async fn an_answer_still_cut_after_the_retry_is_reported_truncated() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::length("partial"));
    let client = Client::new(&config(&fake.base_url, dir.path(), CHAIN)).unwrap();
    let err = chat(&client, ask("primary", "x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Truncated {
                max_tokens: 8192,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fake.count("primary-model"), 2);
    assert_eq!(
        fake.count("backup-model"),
        0,
        "truncation is not a failover"
    );
}

#[tokio::test]
async fn a_cache_hit_costs_no_request_and_survives_a_new_client() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::answer("cached answer").with_usage(100, 10));
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[models.m]\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n",
    );
    let client = Client::new(&cfg).unwrap();
    let first = chat(&client, ask("m", "same prompt")).await.unwrap();
    assert!(!first.cached);
    let second = chat(&client, ask("m", "same prompt")).await.unwrap();
    assert!(second.cached);
    assert_eq!(second.content, "cached answer");
    assert_eq!(second.usage.requests, 0);
    assert_eq!(second.usage.cached_requests, 1);
    assert_eq!(second.usage.cost_usd, 0.0);
    assert_eq!(fake.count("m"), 1);

    let fresh = Client::new(&cfg).unwrap();
    let third = chat(&fresh, ask("m", "same prompt")).await.unwrap();
    assert!(third.cached);
    assert_eq!(fake.count("m"), 1);
    let stats = fresh.stats();
    assert_eq!((stats.requests, stats.cached_requests), (0, 1));

    let other = chat(&fresh, ask("m", "another prompt")).await.unwrap();
    assert!(!other.cached);
    assert_eq!(fake.count("m"), 2);
}

#[tokio::test]
async fn over_budget_refuses_before_sending_a_request() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::answer("pricey").with_usage(1_000, 0));
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[models.m]\ninput_per_mtok = 2000.0\n[review]\nbudget_usd_per_day = 1.5\n",
    );
    let client = Client::new(&cfg).unwrap();
    assert!(!client.over_budget());
    chat(&client, ask("m", "one")).await.unwrap();
    assert!(client.over_budget());
    let err = chat(&client, ask("m", "two")).await.unwrap_err();
    assert!(matches!(err, LlmError::OverBudget { .. }), "{err}");
    assert!(err.to_string().contains("budget_usd_per_day"), "{err}");
    assert_eq!(fake.count("m"), 1);
    let stats = client.stats();
    assert_eq!(stats.budget_usd_per_day, Some(1.5));
    assert!((stats.cost_today_usd - 2.0).abs() < 1e-9);

    // Today's spend is remembered by the next process too.
    let again = Client::new(&cfg).unwrap();
    assert!(again.over_budget());
}

#[tokio::test]
async fn cancelling_aborts_the_request_in_flight_without_failover() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("primary-model", Behaviour::hang());
    let client = Client::new(&config(&fake.base_url, dir.path(), CHAIN)).unwrap();
    let cancel = CancellationToken::new();
    let call = tokio::spawn({
        let client = client.clone();
        let cancel = cancel.clone();
        async move { client.chat(ask("primary", "x"), cancel, None).await }
    });
    fake.wait_for_requests(1, Duration::from_secs(5)).await;
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .expect("cancel ends the call promptly")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, LlmError::Cancelled), "{err}");
    assert_eq!(fake.count("backup-model"), 0);
    assert_eq!(client.stats().circuits["primary"], "closed");
}

#[tokio::test]
async fn the_whole_chain_failing_names_every_model_tried() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_fallback(Behaviour::unavailable(None));
    let extra = format!("{CHAIN}\n[llm]\nmax_attempts = 1\n");
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    let err = chat(&client, ask("primary", "x")).await.unwrap_err();
    match &err {
        LlmError::ChainExhausted { tried, last } => {
            assert_eq!(tried, &["primary", "backup"]);
            assert!(matches!(**last, LlmError::Http { status: 503, .. }));
        }
        other => panic!("expected ChainExhausted, got {other}"),
    }
    assert!(err.to_string().contains("primary -> backup"), "{err}");
}

#[tokio::test]
async fn the_global_concurrency_limit_holds_requests_back() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::hang());
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[llm]\nmax_concurrency = 2\n[cache]\nenabled = false\n",
    );
    let client = Client::new(&cfg).unwrap();
    let cancel = CancellationToken::new();
    let calls: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { client.chat(ask("m", &format!("{i}")), cancel, None).await })
        })
        .collect();
    fake.wait_for_requests(2, Duration::from_secs(5)).await;
    // Give the other three every chance to slip through before checking.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.total(), 2);
    cancel.cancel();
    for c in calls {
        assert!(matches!(c.await.unwrap(), Err(LlmError::Cancelled)));
    }
}

#[tokio::test]
async fn a_server_that_ignores_streaming_and_sends_json_is_understood() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push(
        "m",
        Behaviour::answer("one piece")
            .with_usage(7, 3)
            .ignoring_stream(),
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), "")).unwrap();
    let resp = chat(&client, ask("m", "x")).await.unwrap();
    assert_eq!(resp.content, "one piece");
    assert_eq!(
        (resp.usage.prompt_tokens, resp.usage.completion_tokens),
        (7, 3)
    );
}

#[tokio::test]
async fn without_reported_usage_tokens_are_estimated_so_the_budget_still_counts() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push("m", Behaviour::answer("x".repeat(400)).without_usage());
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[models.m]\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n",
    );
    let client = Client::new(&cfg).unwrap();
    let resp = chat(&client, ask("m", &"y".repeat(4000))).await.unwrap();
    assert_eq!(resp.usage.completion_tokens, 100);
    assert!(resp.usage.prompt_tokens >= 1000);
    assert!(resp.usage.cost_usd > 0.0);
}

#[tokio::test]
async fn with_many_calls_in_flight_the_primary_gets_at_most_threshold_plus_those_in_flight() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default(
        "primary-model",
        Behaviour::unavailable(None).after(Duration::from_millis(5)),
    );
    fake.set_default("backup-model", Behaviour::answer("from backup"));
    let extra = format!(
        "{CHAIN}\n[llm]\nmax_attempts = 1\nbreaker_threshold = 3\nbreaker_cooldown_s = 3600\nmax_concurrency = 4\n[cache]\nenabled = false\n"
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    let calls = (0..40).map(|i| chat(&client, ask("primary", &format!("{i}"))));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().model, "backup");
    }
    let primary = fake.count("primary-model");
    assert!(
        (3..=3 + 4 - 1).contains(&primary),
        "{primary} calls to a primary whose circuit opens after 3"
    );
}

#[tokio::test]
async fn a_provider_rate_limit_holds_back_requests_over_the_minute_budget() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::answer("ok"));
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[llm]\nrequests_per_minute = 2\n[cache]\nenabled = false\n",
    );
    let client = Client::new(&cfg).unwrap();
    chat(&client, ask("m", "1")).await.unwrap();
    chat(&client, ask("m", "2")).await.unwrap();
    let cancel = CancellationToken::new();
    let third = tokio::spawn({
        let client = client.clone();
        let cancel = cancel.clone();
        async move { client.chat(ask("m", "3"), cancel, None).await }
    });
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.total(), 2, "the third request waits for the window");
    cancel.cancel();
    assert!(matches!(third.await.unwrap(), Err(LlmError::Cancelled)));
}

#[test]
fn the_fake_server_also_runs_on_its_own_thread_for_blocking_tests() {
    let fake = FakeOpenAi::start_background();
    fake.set_default("m", Behaviour::answer("from a background fake"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&fake.base_url, dir.path(), "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resp = rt
        .block_on(async {
            let client = Client::new(&cfg).unwrap();
            chat(&client, ask("m", "x")).await
        })
        .unwrap();
    assert_eq!(resp.content, "from a background fake");
    assert_eq!(
        fake.wait_for_requests_blocking(1, Duration::from_secs(5))
            .len(),
        1
    );
}

#[tokio::test]
async fn stats_serialise_with_the_fields_front_ends_show() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("m", Behaviour::answer("x").with_usage(10, 2));
    let client = Client::new(&config(&fake.base_url, dir.path(), "[models.m]\n")).unwrap();
    chat(&client, ask("m", "a")).await.unwrap();
    chat(&client, ask("m", "a")).await.unwrap();
    // Both asks were one review (the second a cache hit).
    client.review_done().await;
    let mut json = serde_json::to_value(client.stats()).unwrap();
    // Latencies vary: checked for shape, then left out of the comparison.
    let m = &mut json["models"][0];
    for clock in ["latency", "time_to_first_token"] {
        assert_eq!(m[clock]["count"], 1);
        for q in ["p50_ms", "p95_ms", "p99_ms"] {
            assert!(m[clock][q].as_f64().is_some_and(|ms| ms > 0.0), "{m}");
        }
        m[clock] = serde_json::Value::Null;
    }
    assert_eq!(
        json,
        serde_json::json!({
            "requests": 1, "cached_requests": 1, "prompt_tokens": 10,
            "completion_tokens": 2, "cost_usd": 0.0, "cost_today_usd": 0.0,
            "budget_usd_per_day": 100.0, "circuits": {"m": "closed"},
            "models": [{
                "model": "m", "endpoint": "llm", "requests": 1, "errors": {},
                "latency": null, "time_to_first_token": null,
                "cache_hit_rate": 0.5, "cache_hits": 1,
                "prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.0,
                "tokens_per_review": 12.0, "cost_usd_per_review": 0.0
            }]
        })
    );
}

#[tokio::test]
async fn an_unreachable_provider_fails_over_to_a_model_on_another_provider() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.set_default("live-model", Behaviour::answer("alive"));
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        r#"
[llm]
max_attempts = 2
[providers.dead]
base_url = "http://127.0.0.1:{closed_port}/v1"
[models.first]
name = "dead-model"
provider = "dead"
fallback = "second"
[models.second]
name = "live-model"
"#
    );
    let client = Client::new(&config(&fake.base_url, dir.path(), &extra)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let resp = client
        .chat(ask("first", "x"), CancellationToken::new(), Some(tx))
        .await
        .unwrap();
    assert_eq!(
        (resp.model.as_str(), resp.content.as_str()),
        ("second", "alive")
    );
    let reason = std::iter::from_fn(|| rx.try_recv().ok())
        .find_map(|e| match e {
            StreamEvent::Failover { reason, .. } => Some(reason),
            _ => None,
        })
        .expect("a failover event");
    assert!(reason.contains("cannot reach model `first`"), "{reason}");
}

#[tokio::test]
async fn an_absurd_reported_usage_is_bounded_by_the_request_and_does_not_exhaust_the_budget() {
    let fake = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let absurd = 1_000_000_000_000_000;
    fake.set_default("m", Behaviour::answer("ok").with_usage(absurd, absurd));
    let cfg = config(
        &fake.base_url,
        dir.path(),
        "[models.m]\ninput_per_mtok = 3.0\noutput_per_mtok = 15.0\nmax_tokens = 1000\n[review]\nbudget_usd_per_day = 5.0\n",
    );
    let client = Client::new(&cfg).unwrap();
    let prompt = "y".repeat(4000); // about 1,000 tokens
    let resp = chat(&client, ask("m", &prompt)).await.unwrap();
    assert_eq!(resp.content, "ok");
    assert!(
        resp.usage.prompt_tokens <= 8 * 1010 + 1024,
        "prompt tokens bounded by a multiple of the prompt's size: {}",
        resp.usage.prompt_tokens
    );
    assert_eq!(resp.usage.completion_tokens, 1000, "bounded by max_tokens");
    assert!(resp.usage.cost_usd < 0.05, "{}", resp.usage.cost_usd);
    assert!(
        !client.over_budget(),
        "reviews are not locked out for the day"
    );
    chat(&client, ask("m", "again")).await.unwrap();
    assert_eq!(fake.count("m"), 2);
}

#[tokio::test]
async fn an_unreadable_usage_is_ignored_and_the_answer_kept_without_a_retry() {
    for usage in [
        serde_json::json!({"prompt_tokens": -5, "completion_tokens": 3}),
        serde_json::json!({"prompt_tokens": "many", "completion_tokens": null}),
        serde_json::json!("lots"),
        serde_json::json!({"prompt_tokens": 1.5e300, "completion_tokens": {"n": 1}}),
    ] {
        let fake = FakeOpenAi::start().await;
        let dir = tempfile::tempdir().unwrap();
        fake.set_default(
            "m",
            Behaviour::answer("x".repeat(400)).with_raw_usage(usage.clone()),
        );
        let cfg = config(
            &fake.base_url,
            dir.path(),
            "[models.m]\ninput_per_mtok = 1.0\n",
        );
        let client = Client::new(&cfg).unwrap();
        let resp = chat(&client, ask("m", "review this"))
            .await
            .unwrap_or_else(|e| panic!("usage {usage} made the answer fail: {e}"));
        assert_eq!(resp.content, "x".repeat(400));
        assert_eq!(fake.count("m"), 1, "usage {usage}: no retry");
        assert_eq!(resp.usage.completion_tokens, 100, "estimated instead");
    }
}

/// One model at two endpoints: `near` answers in 20 ms, `far` (listed
/// first) in 100 ms.
async fn two_endpoints() -> (FakeOpenAi, FakeOpenAi, Client) {
    let (near, far) = (FakeOpenAi::start().await, FakeOpenAi::start().await);
    let answer = |ms| Behaviour::answer("ok").after(Duration::from_millis(ms));
    near.set_default("m", answer(20));
    far.set_default("m", answer(100));
    let toml = format!(
        "[llm]\nbackoff_base_ms = 1\n[providers.far]\nbase_url = \"{}\"\n[providers.near]\nbase_url = \"{}\"\n\
         [models.m]\nendpoints = [\"far\", \"near\"]\n[cache]\nenabled = false\n",
        far.base_url, near.base_url
    );
    let cfg = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config;
    (near, far, Client::new(&cfg).unwrap())
}

#[tokio::test]
async fn most_requests_go_to_the_faster_of_two_endpoints_after_warm_up() {
    let (near, far, client) = two_endpoints().await;
    for i in 0..10 {
        chat(&client, ask("m", &format!("warm {i}"))).await.unwrap();
    }
    let (near0, far0) = (near.count("m"), far.count("m"));
    for i in 0..40 {
        chat(&client, ask("m", &format!("measured {i}")))
            .await
            .unwrap();
    }
    let to_near = near.count("m") - near0;
    let to_far = far.count("m") - far0;
    eprintln!("after warm-up: {to_near} of 40 requests to the fast endpoint");
    assert_eq!(to_near + to_far, 40);
    assert!(to_near >= 36, "{to_near} of 40 to the fast endpoint");
    assert!(to_far >= 1, "the slow one is still sampled");
    let stats = serde_json::to_value(client.stats()).unwrap();
    let health = &stats["endpoints"]["m"];
    assert_eq!(health[1]["endpoint"], "near");
    assert!(
        health[1]["latency_ewma_ms"].as_f64() < health[0]["latency_ewma_ms"].as_f64(),
        "{health}"
    );
}

#[tokio::test]
async fn traffic_leaves_a_failing_endpoint_within_three_requests() {
    let (near, far, client) = two_endpoints().await;
    for i in 0..10 {
        chat(&client, ask("m", &format!("warm {i}"))).await.unwrap();
    }
    near.set_default("m", Behaviour::unavailable(None));
    let near0 = near.count("m");
    let resp = chat(&client, ask("m", "the fast one fails")).await.unwrap();
    assert_eq!(resp.content, "ok", "answered by the other endpoint");
    let failed = near.count("m") - near0;
    eprintln!("{failed} request(s) to the failing endpoint before traffic moved");
    assert!(
        (1..=3).contains(&failed),
        "{failed} requests to the failing endpoint"
    );
    let far0 = far.count("m");
    for i in 0..10 {
        chat(&client, ask("m", &format!("after {i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        near.count("m") - near0,
        failed,
        "skipped below the health floor"
    );
    assert_eq!(far.count("m") - far0, 10);
}
