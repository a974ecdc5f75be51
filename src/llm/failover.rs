//! The failover chain and the attempt loop: for each model of the chain
//! (the requested one, then its `fallback`, and so on), look in the cache,
//! ask the model's breaker, then try up to `max_attempts` times with
//! exponential backoff and jitter (or the server's `Retry-After`). Retryable
//! failures count against the breaker and, once attempts or the circuit run
//! out, move on to the next model; anything else (401/403, context overflow,
//! cancellation, budget) ends the call at once with its reason.

use super::breaker::{CircuitState, Permit};
use super::cache::{self, Entry};
use super::cost::{cost_usd, estimate_tokens};
use super::team::{CircuitId, SharedCircuits};
use super::transport::{self, Attempt};
use super::{emit, ChatRequest, ChatResponse, Inner, LlmError, ModelSpec, StreamEvent, Usage};
use rand::Rng;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// The models to try for `key`, in order. A key that is not a `[models.*]`
/// table is taken as a model name at the `[llm]` endpoint.
fn resolve_chain(inner: &Inner, key: &str) -> Result<Vec<Arc<ModelSpec>>, LlmError> {
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(key.to_string());
    while let Some(k) = next.take() {
        if !seen.insert(k.clone()) {
            break; // a cycle in the config: the chain ends where it repeats
        }
        let spec = match inner.models.get(&k) {
            Some(s) => s.clone(),
            None if chain.is_empty() => Arc::new(ad_hoc(inner, &k)?),
            None => break,
        };
        next = spec.fallback.clone();
        chain.push(spec);
    }
    Ok(chain)
}

fn ad_hoc(inner: &Inner, name: &str) -> Result<ModelSpec, LlmError> {
    if name.is_empty() {
        return Err(LlmError::Config(
            "no model named; set [reviewers] or REDLINE_MODEL".into(),
        ));
    }
    let endpoint = inner.default_endpoint.clone().ok_or_else(|| {
        LlmError::Config(format!(
            "model `{name}` is not a [models.{name}] table and there is no [llm] base_url to ask it at; set REDLINE_BASE_URL or add the table"
        ))
    })?;
    Ok(ModelSpec {
        key: name.to_string(),
        name: name.to_string(),
        health_keys: vec![super::team::endpoint_key(&endpoint.base_url, name)],
        endpoints: vec![endpoint.clone()],
        router: super::routing::Router::new(1, inner.tuning.breaker_cooldown),
        endpoint: Some(endpoint),
        input_per_mtok: 0.0,
        output_per_mtok: 0.0,
        fallback: None,
        max_tokens: crate::config::ModelConfig::default().max_tokens,
        context_tokens: crate::config::ModelConfig::default().context_tokens,
    })
}

pub(crate) async fn chat(
    inner: &Inner,
    req: ChatRequest,
    cancel: &CancellationToken,
    events: Option<&UnboundedSender<StreamEvent>>,
) -> Result<ChatResponse, LlmError> {
    let chain = resolve_chain(inner, &req.model)?;
    let mut usage = Usage::default();
    let mut tried: Vec<String> = Vec::new();
    let mut last: Option<LlmError> = None;
    for spec in &chain {
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        if let (Some(from), Some(why)) = (tried.last(), &last) {
            tracing::info!(from = %from, to = %spec.key, reason = %why, "failing over");
            emit(
                events,
                StreamEvent::Failover {
                    from: from.clone(),
                    to: spec.key.clone(),
                    reason: why.to_string(),
                },
            );
        }
        tried.push(spec.key.clone());
        match try_model(inner, spec, &req, cancel, events, &mut usage).await {
            Ok(resp) => return Ok(resp),
            Err(e) if e.is_retryable() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    let last = last.expect("the chain has at least one model and each failed");
    if tried.len() == 1 {
        Err(last)
    } else {
        Err(LlmError::ChainExhausted {
            tried,
            last: Box::new(last),
        })
    }
}

/// A permit and whether the team's circuit in Redis granted it (else the
/// local breaker did, Redis being unavailable or circuits not shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    permit: Permit,
    shared: bool,
    /// The team's circuit had failures counted (a success clears them).
    dirty: bool,
    granted: Instant,
}

/// A permit granted this recently is not checked again with Redis before
/// sending (nothing queued it): the decision is one round trip old.
const RECHECK_AFTER: Duration = Duration::from_millis(5);

impl Ticket {
    fn fresh(&self) -> bool {
        self.granted.elapsed() < RECHECK_AFTER
    }

    /// After a failed attempt the next one checks again, however soon.
    fn stale(self) -> Ticket {
        Ticket {
            granted: self
                .granted
                .checked_sub(RECHECK_AFTER)
                .unwrap_or(self.granted),
            ..self
        }
    }
}

/// One model's circuit as this call sees it: the team's in Redis when
/// shared and reachable, else the local breaker. The local breaker hears
/// every outcome either way, so it is current when Redis goes away.
struct Gate<'a> {
    inner: &'a Inner,
    key: &'a str,
    local: Arc<super::Breaker>,
    shared: Option<(&'a SharedCircuits, CircuitId)>,
}

impl<'a> Gate<'a> {
    fn new(inner: &'a Inner, spec: &'a ModelSpec, base_url: &str) -> Self {
        Gate {
            inner,
            key: &spec.key,
            local: breaker_for(inner, &spec.key),
            shared: inner
                .shared_circuits
                .as_ref()
                .map(|c| (c, CircuitId::new(base_url, &spec.name))),
        }
    }

    fn seen(&self, state: CircuitState) {
        self.inner.shared_states.insert(self.key.to_string(), state);
    }

    fn open_error(&self, retry_in: Duration) -> LlmError {
        LlmError::CircuitOpen {
            model: self.key.to_string(),
            retry_in,
        }
    }

    async fn try_acquire(&self) -> Result<Ticket, LlmError> {
        let granted = Instant::now();
        if let Some((circuits, id)) = &self.shared {
            let budget = self.inner.team_budget.as_ref();
            if let Some(acquired) = circuits.try_acquire(id, budget).await {
                self.seen(match acquired.decision {
                    Ok(Permit::Normal) => CircuitState::Closed,
                    Ok(Permit::Probe) => CircuitState::HalfOpen,
                    Err(_) => CircuitState::Open,
                });
                return acquired
                    .decision
                    .map(|permit| Ticket {
                        permit,
                        shared: true,
                        dirty: acquired.dirty,
                        granted,
                    })
                    .map_err(|retry_in| self.open_error(retry_in));
            }
        }
        self.local
            .try_acquire()
            .map(|permit| Ticket {
                permit,
                shared: false,
                dirty: true,
                granted,
            })
            .map_err(|retry_in| self.open_error(retry_in))
    }

    async fn still_allows(&self, ticket: Ticket) -> Result<(), LlmError> {
        if ticket.shared && ticket.fresh() {
            return Ok(());
        }
        if let (true, Some((circuits, id))) = (ticket.shared, &self.shared) {
            if let Some(verdict) = circuits.still_allows(id, ticket.permit).await {
                return verdict.map_err(|retry_in| self.open_error(retry_in));
            }
            // Redis went away while queued: the local view decides, and a
            // team probe is not a local one.
            return self
                .local
                .still_allows(Permit::Normal)
                .map_err(|retry_in| self.open_error(retry_in));
        }
        self.local
            .still_allows(ticket.permit)
            .map_err(|retry_in| self.open_error(retry_in))
    }

    /// The model answered; `cost_usd` is added to the team's spend, in the
    /// same round trip when the circuit is shared.
    async fn success(&self, ticket: Ticket, cost_usd: f64) {
        self.local.success();
        let budget = self.inner.team_budget.as_ref();
        if let Some((circuits, id)) = &self.shared {
            let dirty = ticket.dirty || !ticket.shared;
            let spend = budget.map(|b| (b, cost_usd));
            if circuits.success(id, dirty, spend).await.is_some() {
                self.seen(CircuitState::Closed);
                return;
            }
        }
        if let Some(team) = budget {
            team.record(cost_usd).await;
        }
    }

    /// A retryable failure; true when the circuit is now open.
    async fn failure(&self, ticket: Ticket) -> bool {
        let opened_here = self.local.failure(ticket.permit);
        if let (true, Some((circuits, id))) = (ticket.shared, &self.shared) {
            if let Some(opened) = circuits.failure(id, ticket.permit).await {
                if opened {
                    self.seen(CircuitState::Open);
                }
                return opened;
            }
        }
        opened_here
    }

    async fn release(&self, ticket: Ticket) {
        match (ticket.shared, &self.shared) {
            (true, Some((circuits, id))) => circuits.release(id, ticket.permit).await,
            _ => self.local.release(ticket.permit),
        }
    }
}

fn breaker_for(inner: &Inner, key: &str) -> Arc<super::Breaker> {
    inner
        .breakers
        .entry(key.to_string())
        .or_insert_with(|| {
            Arc::new(super::Breaker::new(
                inner.tuning.breaker_threshold,
                inner.tuning.breaker_cooldown,
            ))
        })
        .clone()
}

/// Exponential backoff with jitter: a random delay in [d/2, d] where
/// d = base * 2^(attempt-1), capped.
fn backoff(inner: &Inner, attempt: u32) -> Duration {
    let t = &inner.tuning;
    let d = t
        .backoff_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(t.backoff_max);
    let half = d / 2;
    half + d
        .saturating_sub(half)
        .mul_f64(rand::rng().random_range(0.0..=1.0))
}

/// The larger `max_tokens` for a retry after `finish_reason: "length"`:
/// double, capped by what the context window leaves after the prompt.
fn larger_limit(spec: &ModelSpec, req: &ChatRequest, current: u32) -> Option<u32> {
    let prompt: u64 = req
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum();
    let room = u64::from(spec.context_tokens).saturating_sub(prompt);
    let bigger = u64::from(current).saturating_mul(2).min(room);
    (bigger > u64::from(current)).then(|| u32::try_from(bigger).unwrap_or(u32::MAX))
}

/// Tokens a prompt may be billed for, per token of the estimate (4 bytes a
/// token): a tokenizer at its worst takes one token per byte; twice that
/// plus a chat template's overhead is still an honest provider.
const PROMPT_TOKENS_PER_ESTIMATED: u64 = 8;
const PROMPT_TOKENS_OVERHEAD: u64 = 1024;

static USAGE_CLAMP_WARNED: AtomicBool = AtomicBool::new(false);

/// Usage as the provider reported it, bounded by what the request allowed:
/// a prompt cannot cost more than a generous multiple of its size, an
/// answer no more than `max_tokens`. A buggy or hostile gateway's 10^15
/// tokens must not become money spent and lock reviews out for the day.
/// Warns once per process when it clamps.
pub(crate) fn bounded_usage(
    model: &str,
    (prompt, completion): (u64, u64),
    estimated_prompt: u64,
    max_tokens: u64,
) -> (u64, u64) {
    let prompt_bound = estimated_prompt
        .saturating_mul(PROMPT_TOKENS_PER_ESTIMATED)
        .saturating_add(PROMPT_TOKENS_OVERHEAD);
    let completion_bound = max_tokens.max(1);
    let bounded = (prompt.min(prompt_bound), completion.min(completion_bound));
    if bounded != (prompt, completion) && !USAGE_CLAMP_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            model,
            reported_prompt = prompt,
            reported_completion = completion,
            prompt_bound,
            completion_bound,
            "model reported more tokens than the request allowed; counting the bound instead"
        );
    }
    bounded
}

async fn try_model(
    inner: &Inner,
    spec: &ModelSpec,
    req: &ChatRequest,
    cancel: &CancellationToken,
    events: Option<&UnboundedSender<StreamEvent>>,
    usage: &mut Usage,
) -> Result<ChatResponse, LlmError> {
    let endpoint = spec.endpoint.as_ref().ok_or_else(|| {
        LlmError::Config(format!(
            "model `{}` has no endpoint: set [llm] base_url (REDLINE_BASE_URL) or models.{}.provider",
            spec.key, spec.key
        ))
    })?;
    let requested_max = req.max_tokens.unwrap_or(spec.max_tokens).max(1);
    let key = cache::key(
        &endpoint.base_url,
        &spec.name,
        &req.messages,
        requested_max,
        req.temperature,
    );
    let hit = inner.cache.get(&key).await;
    if !matches!(inner.cache, cache::Cache::Off) {
        inner
            .metrics
            .cache_lookup(&spec.key, &endpoint.name, hit.is_some());
    }
    if let Some(hit) = hit {
        inner.cached_requests.fetch_add(1, Ordering::Relaxed);
        usage.cached_requests += 1;
        tracing::debug!(model = %spec.key, "answer served from cache");
        emit(
            events,
            StreamEvent::Started {
                model: spec.key.clone(),
            },
        );
        emit(events, StreamEvent::Delta(hit.content.clone()));
        return Ok(ChatResponse {
            content: hit.content,
            model: spec.key.clone(),
            usage: usage.clone(),
            cached: true,
            truncated: false,
        });
    }

    let gate = Gate::new(inner, spec, &endpoint.base_url);
    let mut ticket = gate.try_acquire().await.inspect_err(|e| {
        inner.metrics.refused(&spec.key, &endpoint.name, &e.short());
    })?;
    let permit = ticket.permit;
    let mut max_tokens = requested_max;
    let mut length_retried = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        adopt_team_health(inner, spec).await;
        let route = spec.router.pick(tokio::time::Instant::now());
        let via = spec.endpoints.get(route).unwrap_or(endpoint);
        let result = send_once(
            inner,
            spec,
            (route, via),
            &gate,
            ticket,
            req,
            max_tokens,
            cancel,
            events,
        )
        .await;
        let completion = match result {
            Ok(c) => c,
            // Held back until the circuit opened: nothing was sent.
            Err(e @ LlmError::CircuitOpen { .. }) => return Err(e),
            Err(e) => {
                if !matches!(
                    e,
                    LlmError::Cancelled
                        | LlmError::OverBudget { .. }
                        | LlmError::TeamOverBudget { .. }
                ) {
                    usage.requests += 1;
                    inner.ledger.record(&Usage {
                        requests: 1,
                        ..Usage::default()
                    });
                }
                if !e.is_retryable() {
                    gate.release(ticket).await;
                    return Err(e);
                }
                let opened = gate.failure(ticket).await;
                ticket = ticket.stale();
                tracing::debug!(model = %spec.key, attempt, error = %e, opened, "attempt failed");
                let wait = e.retry_after().unwrap_or_else(|| backoff(inner, attempt));
                if opened
                    || permit == Permit::Probe
                    || attempt >= inner.tuning.max_attempts
                    || wait > inner.tuning.retry_after_max
                {
                    return Err(e);
                }
                tokio::select! {
                    _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
        };
        let estimated_prompt: u64 = req
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum();
        let (prompt_tokens, completion_tokens) = match completion.usage {
            Some(reported) => {
                bounded_usage(&spec.key, reported, estimated_prompt, u64::from(max_tokens))
            }
            None => (estimated_prompt, estimate_tokens(&completion.content)),
        };
        let spent = Usage {
            requests: 1,
            prompt_tokens,
            completion_tokens,
            cached_requests: 0,
            cost_usd: cost_usd(
                prompt_tokens,
                completion_tokens,
                spec.input_per_mtok,
                spec.output_per_mtok,
            ),
        };
        inner.ledger.record(&spent);
        inner.metrics.spent(
            &spec.key,
            &endpoint.name,
            prompt_tokens,
            completion_tokens,
            spent.cost_usd,
        );
        gate.success(ticket, spent.cost_usd).await;
        usage.add(&spent);
        if completion.finish_reason.as_deref() == Some("length") {
            match larger_limit(spec, req, max_tokens) {
                Some(bigger) if !length_retried => {
                    tracing::debug!(model = %spec.key, from = max_tokens, to = bigger, "answer cut at max_tokens; retrying with a larger limit");
                    length_retried = true;
                    max_tokens = bigger;
                    attempt -= 1;
                    continue;
                }
                _ => {
                    return Err(LlmError::Truncated {
                        model: spec.key.clone(),
                        max_tokens,
                    })
                }
            }
        }
        inner
            .cache
            .put(
                &key,
                Entry {
                    created: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    model: spec.key.clone(),
                    content: completion.content.clone(),
                    prompt_tokens,
                    completion_tokens,
                },
            )
            .await;
        return Ok(ChatResponse {
            content: completion.content,
            model: spec.key.clone(),
            usage: usage.clone(),
            cached: false,
            truncated: false,
        });
    }
}

/// The checks right before sending: the budgets (this process's, the
/// team's) and the circuit, which may have opened while this call queued.
async fn admit(inner: &Inner, gate: &Gate<'_>, ticket: Ticket) -> Result<(), LlmError> {
    if let Some((spent, budget)) = inner.ledger.over_budget() {
        return Err(LlmError::OverBudget { spent, budget });
    }
    if let Some(team) = &inner.team_budget {
        // A fresh shared permit read the spend with it; else ask Redis.
        // Redis unavailable: the local budget above is all there is.
        let over = if ticket.shared && ticket.fresh() {
            Some(team.over_budget_as_seen())
        } else {
            team.over_budget().await
        };
        if let Some(Some((spent, budget))) = over {
            return Err(LlmError::TeamOverBudget { spent, budget });
        }
    }
    gate.still_allows(ticket).await
}

/// How often a process reads the team's endpoint health.
const TEAM_HEALTH_EVERY: Duration = Duration::from_secs(1);

/// For a model with several endpoints: takes the team's view of their
/// health, at most once a second (one round trip).
async fn adopt_team_health(inner: &Inner, spec: &ModelSpec) {
    let Some(shared) = inner.shared_health.as_ref() else {
        return;
    };
    let now = tokio::time::Instant::now();
    if spec.endpoints.len() < 2 || !spec.router.refresh_due(now, TEAM_HEALTH_EVERY) {
        return;
    }
    if let Some(rows) = shared.load(&spec.health_keys).await {
        for (i, row) in rows.into_iter().enumerate() {
            if let Some((score, ewma)) = row {
                spec.router.adopt(i, score, ewma, now);
            }
        }
    }
}

/// Tells the team how an endpoint did, in the background.
fn report_health(inner: &Inner, spec: &ModelSpec, route: usize, ok: bool, took: Duration) {
    if spec.endpoints.len() < 2 {
        return;
    }
    if let (Some(shared), Some(key)) = (&inner.shared_health, spec.health_keys.get(route)) {
        shared.report(key.clone(), ok, took);
    }
}

/// Waits for admission (budget, global concurrency, the provider's rate
/// limit), then makes one HTTP attempt.
#[allow(clippy::too_many_arguments)]
async fn send_once(
    inner: &Inner,
    spec: &ModelSpec,
    (route, endpoint): (usize, &transport::Endpoint),
    gate: &Gate<'_>,
    ticket: Ticket,
    req: &ChatRequest,
    max_tokens: u32,
    cancel: &CancellationToken,
    events: Option<&UnboundedSender<StreamEvent>>,
) -> Result<transport::Completion, LlmError> {
    let _slot = tokio::select! {
        _ = cancel.cancelled() => return Err(LlmError::Cancelled),
        slot = inner.concurrency.acquire() => slot.map_err(|_| LlmError::Cancelled)?,
    };
    if let Some(limiter) = &endpoint.limiter {
        if !limiter.acquire(cancel).await {
            return Err(LlmError::Cancelled);
        }
    }
    // Checked after the wait: the world may have changed while queued.
    admit(inner, gate, ticket).await.inspect_err(|e| {
        inner.metrics.refused(&spec.key, &endpoint.name, &e.short());
    })?;
    emit(
        events,
        StreamEvent::Started {
            model: spec.key.clone(),
        },
    );
    let attempt = Attempt {
        model_key: &spec.key,
        model_name: &spec.name,
        endpoint,
        messages: &req.messages,
        max_tokens,
        temperature: req.temperature,
    };
    let started = std::time::Instant::now();
    let result = transport::send(&inner.http, &attempt, inner.tuning.clocks, cancel, events).await;
    let took = started.elapsed();
    match &result {
        Ok(c) => {
            spec.router.success(route, took);
            report_health(inner, spec, route, true, took);
            inner
                .metrics
                .answered(&spec.key, &endpoint.name, took, c.first_token)
        }
        Err(LlmError::Cancelled) => {}
        Err(e) => {
            if e.is_retryable() {
                spec.router.failure(route, tokio::time::Instant::now());
                report_health(inner, spec, route, false, took);
            }
            inner.metrics.failed(&spec.key, &endpoint.name, &e.short())
        }
    }
    result
}
