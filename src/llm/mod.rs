//! The one model client every reviewer shares: OpenAI-compatible chat
//! completions over SSE ([`transport`]), a circuit breaker per model
//! ([`breaker`]), failover along each model's `fallback` chain ([`failover`]),
//! a response cache ([`cache`]), cost and the daily budget ([`cost`]), and
//! admission limits ([`limit`]). With `cache.redis_url` set, a team shares
//! circuits and spend through Redis ([`team`], over [`redis_link`]), and
//! each process falls back to its own state while Redis is unreachable.
//!
//! It owns no knowledge of reviews, findings or prompts: it takes messages
//! and returns text. It never logs, prints or stores an API key, and sends a
//! key only to its own provider's base URL.

pub mod breaker;
pub mod cache;
pub mod cost;
mod error;
mod failover;
pub mod limit;
pub mod metrics;
pub mod redis_link;
pub mod routing;
pub mod team;
pub mod transport;

pub use error::{LlmError, TimeoutPhase};

use crate::config::Config;
use breaker::Breaker;
pub use cost::Usage;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use transport::Endpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A key of `[models.*]`, or (when there is no such key) a model name at
    /// the `[llm]` endpoint.
    pub model: String,
    pub messages: Vec<Message>,
    /// `None`: the model's configured `max_tokens`.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

impl ChatRequest {
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            max_tokens: None,
            temperature: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    /// The model key that actually answered (after failover, a fallback).
    pub model: String,
    /// What this call cost, failed attempts and failovers included.
    pub usage: Usage,
    /// Served from the response cache: no request, no money.
    pub cached: bool,
    /// Always false from [`Client::chat`]: an answer still cut at
    /// `max_tokens` after the retry comes back as [`LlmError::Truncated`].
    pub truncated: bool,
}

/// Progress of one [`Client::chat`] call, for heartbeats and live output.
/// A retry or failover starts again with `Started`: a consumer that shows
/// `Delta`s should clear what it has when it sees `Started`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Started {
        model: String,
    },
    FirstToken {
        model: String,
    },
    Delta(String),
    /// Nothing arrived for `waited` (sent every `llm.heartbeat_s` of silence).
    Silent {
        model: String,
        waited: Duration,
    },
    Failover {
        from: String,
        to: String,
        reason: String,
    },
}

pub(crate) fn emit(events: Option<&UnboundedSender<StreamEvent>>, event: StreamEvent) {
    if let Some(tx) = events {
        let _ = tx.send(event);
    }
}

/// Totals since the client was made (today's spend may include earlier runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientStats {
    pub requests: u64,
    pub cached_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub cost_today_usd: f64,
    pub budget_usd_per_day: Option<f64>,
    /// Model key -> `closed` | `open` | `half_open` (the team's view while
    /// circuits are shared and Redis is up).
    pub circuits: BTreeMap<String, String>,
    /// Per model and endpoint: requests, errors by class, latency and time
    /// to first token quantiles, cache hit rate, tokens and cost.
    pub models: Vec<metrics::SeriesStats>,
    /// Models served by several endpoints: each endpoint's health score
    /// and latency average, in the order of `models.X.endpoints`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, Vec<EndpointStats>>,
    /// What is shared through Redis; `None` (absent) without `cache.redis_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamStats>,
}

/// One endpoint of a model served by several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStats {
    pub endpoint: String,
    #[serde(flatten)]
    pub health: routing::EndpointHealth,
}

/// The team side of [`ClientStats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamStats {
    /// `up`, or `down` while this process runs on its local state.
    pub redis: &'static str,
    pub shared_circuits: bool,
    /// `team.budget_usd_per_day`, when set.
    pub budget_usd_per_day: Option<f64>,
    /// The team's spend today as last read from Redis.
    pub spent_today_usd: Option<f64>,
    /// Commands Redis answered for this process.
    pub redis_round_trips: u64,
}

/// A model with its endpoint and prices resolved.
#[derive(Debug)]
pub(crate) struct ModelSpec {
    pub key: String,
    pub name: String,
    /// The first of `endpoints`: names the model's cache entries and circuit.
    pub endpoint: Option<Arc<Endpoint>>,
    /// Every endpoint serving the model (one, unless `endpoints` is set).
    pub endpoints: Vec<Arc<Endpoint>>,
    pub router: routing::Router,
    /// The team's Redis key of each endpoint's health (same order).
    pub health_keys: Vec<String>,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub fallback: Option<String>,
    pub max_tokens: u32,
    pub context_tokens: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub clocks: transport::Clocks,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_after_max: Duration,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub tuning: Tuning,
    pub models: BTreeMap<String, Arc<ModelSpec>>,
    pub default_endpoint: Option<Arc<Endpoint>>,
    pub breakers: DashMap<String, Arc<Breaker>>,
    pub concurrency: tokio::sync::Semaphore,
    pub cache: cache::Cache,
    pub ledger: cost::Ledger,
    pub cached_requests: AtomicU64,
    pub redis: Option<Arc<redis_link::RedisLink>>,
    pub shared_circuits: Option<team::SharedCircuits>,
    pub shared_health: Option<team::SharedHealth>,
    pub team_budget: Option<team::TeamBudget>,
    /// Model key -> the team's circuit state as last seen.
    pub shared_states: DashMap<String, breaker::CircuitState>,
    pub metrics: metrics::Metrics,
    /// `metrics.textfile`, and one writer at a time.
    pub metrics_file: Option<std::path::PathBuf>,
    pub metrics_writing: Arc<std::sync::Mutex<()>>,
}

/// The shared model client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("models", &self.inner.models.keys().collect::<Vec<_>>())
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

fn secs(s: f64, what: &str) -> Result<Duration, LlmError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| LlmError::Config(format!("{what} must be a non-negative number of seconds")))
}

impl Client {
    pub fn new(config: &Config) -> Result<Client, LlmError> {
        let llm = &config.llm;
        let tuning = Tuning {
            clocks: transport::Clocks {
                first_token: secs(llm.first_token_timeout_s, "llm.first_token_timeout_s")?,
                whole: secs(llm.timeout_s, "llm.timeout_s")?,
                heartbeat: secs(llm.heartbeat_s, "llm.heartbeat_s")?.max(Duration::from_millis(10)),
            },
            max_attempts: llm.max_attempts.max(1),
            backoff_base: Duration::from_millis(llm.backoff_base_ms),
            backoff_max: secs(llm.backoff_max_s, "llm.backoff_max_s")?,
            retry_after_max: secs(llm.retry_after_max_s, "llm.retry_after_max_s")?,
            breaker_threshold: llm.breaker_threshold.max(1),
            breaker_cooldown: secs(llm.breaker_cooldown_s, "llm.breaker_cooldown_s")?,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(secs(llm.connect_timeout_s, "llm.connect_timeout_s")?)
            // A redirect could carry the key to another host: refuse them.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("redline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;

        if let Some(url) = llm.base_url.as_deref().filter(|u| !u.is_empty()) {
            check_base_url("llm.base_url (REDLINE_BASE_URL)", url)?;
        }
        for (key, p) in &config.providers {
            if !p.base_url.is_empty() {
                check_base_url(&format!("providers.{key}.base_url"), &p.base_url)?;
            }
        }
        let default_endpoint = llm.base_url.as_ref().filter(|u| !u.is_empty()).map(|url| {
            Arc::new(Endpoint {
                name: "llm".into(),
                base_url: url.clone(),
                api_key_env: llm.api_key_env.clone(),
                limiter: llm.requests_per_minute.map(limit::RateLimiter::new),
            })
        });
        let mut providers = BTreeMap::new();
        for (key, p) in &config.providers {
            if p.base_url.is_empty() {
                return Err(LlmError::Config(format!(
                    "providers.{key}.base_url is empty; set it to the endpoint, e.g. https://host/v1"
                )));
            }
            providers.insert(
                key.clone(),
                Arc::new(Endpoint {
                    name: key.clone(),
                    base_url: p.base_url.clone(),
                    api_key_env: p
                        .api_key_env
                        .clone()
                        .unwrap_or_else(|| llm.api_key_env.clone()),
                    limiter: p.requests_per_minute.map(limit::RateLimiter::new),
                }),
            );
        }
        let mut models = BTreeMap::new();
        let breakers = DashMap::new();
        for (key, m) in &config.models {
            let mut endpoints = Vec::new();
            for p in &m.endpoints {
                endpoints.push(providers.get(p).cloned().ok_or_else(|| {
                    LlmError::Config(format!(
                        "models.{key}.endpoints names `{p}`, which is not a [providers.{p}] table"
                    ))
                })?);
            }
            let endpoint = match (&m.provider, endpoints.first()) {
                (_, Some(first)) => Some(first.clone()),
                (Some(p), None) => Some(providers.get(p).cloned().ok_or_else(|| {
                    LlmError::Config(format!(
                        "models.{key}.provider names `{p}`, which is not a [providers.{p}] table"
                    ))
                })?),
                (None, None) => default_endpoint.clone(),
            };
            if endpoints.is_empty() {
                endpoints.extend(endpoint.clone());
            }
            let name = if m.name.is_empty() { key } else { &m.name };
            models.insert(
                key.clone(),
                Arc::new(ModelSpec {
                    key: key.clone(),
                    name: name.clone(),
                    endpoint,
                    router: routing::Router::new(endpoints.len(), tuning.breaker_cooldown),
                    health_keys: endpoints
                        .iter()
                        .map(|e| team::endpoint_key(&e.base_url, name))
                        .collect(),
                    endpoints,
                    input_per_mtok: m.input_per_mtok,
                    output_per_mtok: m.output_per_mtok,
                    fallback: m.fallback.clone(),
                    max_tokens: m.max_tokens.max(1),
                    context_tokens: m.context_tokens,
                }),
            );
            breakers.insert(
                key.clone(),
                Arc::new(Breaker::new(
                    tuning.breaker_threshold,
                    tuning.breaker_cooldown,
                )),
            );
        }
        let redis = match config.cache.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(Arc::new(
                redis_link::RedisLink::new(
                    url,
                    Duration::from_millis(config.team.redis_timeout_ms),
                    Duration::from_millis(config.team.redis_retry_ms),
                )
                .map_err(LlmError::Config)?,
            )),
            None => None,
        };
        let shared_circuits = redis
            .as_ref()
            .filter(|_| config.team.shared_circuits)
            .map(|link| {
                team::SharedCircuits::new(
                    link.clone(),
                    tuning.breaker_threshold,
                    tuning.breaker_cooldown,
                    // A probe may take the whole request and a little queueing.
                    tuning.clocks.whole + Duration::from_secs(5),
                )
            });
        let shared_health = redis
            .as_ref()
            .filter(|_| config.team.shared_circuits)
            .map(|link| team::SharedHealth::new(link.clone()));
        let team_budget = redis
            .as_ref()
            .zip(config.team.budget_usd_per_day)
            .map(|(link, budget)| team::TeamBudget::new(link.clone(), budget));
        let cache =
            cache::Cache::from_config(&config.cache, redis.clone()).map_err(LlmError::Config)?;
        let spend_file = if config.cache.enabled {
            cache::default_dir(&config.cache).map(|d| d.join("spend.json"))
        } else {
            None
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                tuning,
                models,
                default_endpoint,
                breakers,
                concurrency: tokio::sync::Semaphore::new(llm.max_concurrency.max(1)),
                cache,
                ledger: cost::Ledger::new(config.review.budget_usd_per_day, spend_file),
                cached_requests: AtomicU64::new(0),
                redis,
                shared_circuits,
                shared_health,
                team_budget,
                shared_states: DashMap::new(),
                metrics: metrics::Metrics::default(),
                metrics_file: config.metrics.textfile.clone(),
                metrics_writing: Arc::new(std::sync::Mutex::new(())),
            }),
        })
    }

    /// Asks `req.model` (walking its fallback chain when its circuit is
    /// open or its retryable failures exhaust their attempts) and returns
    /// the whole answer. Progress goes to `events` when given. Cancelling
    /// `cancel` aborts the HTTP request in flight.
    pub async fn chat(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
        events: Option<UnboundedSender<StreamEvent>>,
    ) -> Result<ChatResponse, LlmError> {
        let result = failover::chat(&self.inner, req, &cancel, events.as_ref()).await;
        self.write_metrics().await;
        result
    }

    /// A model review ended: counted for the per-review numbers, and the
    /// metrics textfile rewritten.
    pub async fn review_done(&self) {
        self.inner.metrics.review_done();
        self.write_metrics().await;
    }

    /// The Prometheus text export of this client's numbers.
    pub fn prometheus(&self) -> String {
        self.inner.metrics.prometheus(self.stats().team.as_ref())
    }

    /// Rewrites `metrics.textfile`, when set. A failure is logged once per
    /// call and never fails a review.
    async fn write_metrics(&self) {
        let Some(path) = self.inner.metrics_file.clone() else {
            return;
        };
        let client = self.clone();
        let lock = self.inner.metrics_writing.clone();
        let _ = tokio::task::spawn_blocking(move || {
            // Rendered under the lock: the last file written is the newest.
            let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = metrics::write_textfile(&path, &client.prometheus()) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics textfile");
            }
        })
        .await;
    }

    pub fn stats(&self) -> ClientStats {
        let inner = &self.inner;
        let totals = inner.ledger.totals();
        let redis_up = inner.redis.as_ref().is_some_and(|l| l.is_up());
        let circuits = inner
            .breakers
            .iter()
            .map(|e| {
                let shared = inner
                    .shared_states
                    .get(e.key())
                    .filter(|_| redis_up && inner.shared_circuits.is_some())
                    .map(|s| *s.value());
                let state = shared.unwrap_or_else(|| e.value().state());
                (e.key().clone(), state.as_str().to_string())
            })
            .collect();
        let team = inner.redis.as_ref().map(|link| TeamStats {
            redis: if link.is_up() { "up" } else { "down" },
            shared_circuits: inner.shared_circuits.is_some(),
            budget_usd_per_day: inner.team_budget.as_ref().map(|b| b.budget()),
            spent_today_usd: inner.team_budget.as_ref().map(|b| b.spent_today()),
            redis_round_trips: link.round_trips(),
        });
        ClientStats {
            requests: totals.requests,
            cached_requests: inner.cached_requests.load(Ordering::Relaxed),
            prompt_tokens: totals.prompt_tokens,
            completion_tokens: totals.completion_tokens,
            cost_usd: totals.cost_usd,
            cost_today_usd: inner.ledger.spent_today(),
            budget_usd_per_day: inner.ledger.budget(),
            circuits,
            models: inner.metrics.snapshot(),
            endpoints: inner
                .models
                .values()
                .filter(|m| m.endpoints.len() > 1)
                .map(|m| {
                    let health = m.router.health();
                    let list = m
                        .endpoints
                        .iter()
                        .zip(health)
                        .map(|(e, health)| EndpointStats {
                            endpoint: e.name.clone(),
                            health,
                        })
                        .collect();
                    (m.key.clone(), list)
                })
                .collect(),
            team,
        }
    }

    /// True when today's spend has reached `review.budget_usd_per_day`, or
    /// the team's, as last seen, `team.budget_usd_per_day`.
    pub fn over_budget(&self) -> bool {
        self.inner.ledger.over_budget().is_some() || self.team_over_budget().is_some()
    }

    /// `Some((spent, budget))` when the team's spend, as last seen, has
    /// reached `team.budget_usd_per_day`.
    pub fn team_over_budget(&self) -> Option<(f64, f64)> {
        let b = self.inner.team_budget.as_ref()?;
        let spent = b.spent_today();
        (spent >= b.budget()).then_some((spent, b.budget()))
    }
}

/// An endpoint must be an http(s) URL; anything else is a configuration
/// error at startup, not a degraded review on every request.
fn check_base_url(what: &str, url: &str) -> Result<(), LlmError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        _ => Err(LlmError::Config(format!(
            "{what} is not an http(s) URL: {}; set it to the endpoint, e.g. http://127.0.0.1:11434/v1",
            crate::config::redact_url_credentials(url)
        ))),
    }
}
