//! The API key is sent only to its own provider and never appears in logs
//! (even at trace level), error messages, `Debug` output, stats or the cache.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use fake_openai::{Behaviour, FakeOpenAi};
use redline::config::{ConfigBuilder, Origin};
use redline::llm::{ChatRequest, Client, LlmError, Message};
use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use tokio_util::sync::CancellationToken;

const ALPHA_KEY: &str = "sk-alpha-SECRET-4f9a1c";
const BETA_KEY: &str = "sk-beta-SECRET-77b20e";

fn set_keys() {
    static ONCE: Once = Once::new();
    // Set once, before any test reads them.
    ONCE.call_once(|| {
        std::env::set_var("REDLINE_TEST_ALPHA_KEY", ALPHA_KEY);
        std::env::set_var("REDLINE_TEST_BETA_KEY", BETA_KEY);
    });
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn two_providers(alpha: &FakeOpenAi, beta: &FakeOpenAi, cache_dir: &std::path::Path) -> Client {
    let toml = format!(
        r#"
[llm]
backoff_base_ms = 1
max_attempts = 2
breaker_threshold = 2
[providers.alpha]
base_url = "{}"
api_key_env = "REDLINE_TEST_ALPHA_KEY"
[providers.beta]
base_url = "{}"
api_key_env = "REDLINE_TEST_BETA_KEY"
[models.first]
name = "alpha-model"
provider = "alpha"
fallback = "second"
[models.second]
name = "beta-model"
provider = "beta"
[cache]
dir = "{}"
"#,
        alpha.base_url,
        beta.base_url,
        cache_dir.display()
    );
    let cfg = ConfigBuilder::new()
        .with_toml_str(&toml, Origin::Default)
        .unwrap()
        .build()
        .unwrap()
        .config;
    Client::new(&cfg).unwrap()
}

fn ask(prompt: &str) -> ChatRequest {
    ChatRequest::new("first", vec![Message::user(prompt)])
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn each_key_goes_only_to_its_own_provider_and_never_into_logs() {
    set_keys();
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let alpha = FakeOpenAi::start().await;
    let beta = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    alpha.set_default("alpha-model", Behaviour::unavailable(None));
    beta.set_default("beta-model", Behaviour::answer("from beta"));
    let client = two_providers(&alpha, &beta, dir.path());

    let resp = client
        .chat(ask("review this"), CancellationToken::new(), None)
        .await
        .unwrap();
    assert_eq!(resp.model, "second");
    // alpha's circuit is open now; the fallback's cached answer is read
    // back, so the cache path is exercised too.
    assert!(
        client
            .chat(ask("review this"), CancellationToken::new(), None)
            .await
            .unwrap()
            .cached
    );

    let to_alpha = alpha.requests();
    let to_beta = beta.requests();
    assert_eq!(to_alpha.len(), 2);
    assert_eq!(to_beta.len(), 1);
    for r in &to_alpha {
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {ALPHA_KEY}"))
        );
        assert!(!r.body.to_string().contains(ALPHA_KEY));
    }
    for r in &to_beta {
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {BETA_KEY}"))
        );
    }

    let logs = logs.text();
    assert!(
        logs.contains("failing over"),
        "logging was captured: {logs}"
    );
    for key in [ALPHA_KEY, BETA_KEY, "SECRET"] {
        assert!(!logs.contains(key), "a key leaked into the logs:\n{logs}");
        assert!(!format!("{client:?}").contains(key));
        assert!(!serde_json::to_string(&client.stats())
            .unwrap()
            .contains(key));
        for f in files_under(dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(key),
                "a key was written to {}",
                f.display()
            );
        }
    }
}

#[tokio::test]
async fn a_rejected_key_is_named_by_its_variable_never_by_its_value() {
    set_keys();
    let alpha = FakeOpenAi::start().await;
    let beta = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    alpha.set_default("alpha-model", Behaviour::unauthorized());
    let client = two_providers(&alpha, &beta, dir.path());
    let err = client
        .chat(ask("x"), CancellationToken::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unauthorized { .. }));
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("REDLINE_TEST_ALPHA_KEY"), "{shown}");
    assert!(!shown.contains(ALPHA_KEY), "{shown}");
    assert_eq!(beta.total(), 0, "no failover to the other provider on 401");
}
