//! What can go wrong when asking a model, classified once, here. The class
//! decides everything downstream: whether to retry, whether the failure
//! counts against the model's circuit, whether to walk the fallback chain.
//! Messages name the cause and what to do about it; they never contain a key.

use std::time::Duration;

/// Which deadline expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// TCP/TLS connection (`llm.connect_timeout_s`).
    Connect,
    /// No token arrived within `llm.first_token_timeout_s`.
    FirstToken,
    /// The whole request took longer than `llm.timeout_s`.
    Whole,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting (llm.connect_timeout_s)",
            TimeoutPhase::FirstToken => "the first token (llm.first_token_timeout_s)",
            TimeoutPhase::Whole => "the whole answer (llm.timeout_s)",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("model `{model}` rejected the API key (HTTP {status}); check the key in ${key_env}")]
    Unauthorized {
        model: String,
        status: u16,
        key_env: String,
    },
    #[error("model `{model}` cannot take a prompt this long: {message}; review a smaller change or use a model with a larger context")]
    ContextOverflow { model: String, message: String },
    #[error("request cancelled")]
    Cancelled,
    #[error("model `{model}` timed out waiting for {phase} after {:.1} s", waited.as_secs_f64())]
    Timeout {
        model: String,
        phase: TimeoutPhase,
        waited: Duration,
    },
    #[error("model `{model}` answered HTTP {status}{}{}", retry_after.map(|d| format!(" (retry after {:.1} s)", d.as_secs_f64())).unwrap_or_default(), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        model: String,
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("cannot reach model `{model}`: {message}; check the endpoint's base_url and that the server is running")]
    Connect { model: String, message: String },
    #[error("model `{model}` closed the stream before finishing: {message}")]
    Disconnected { model: String, message: String },
    #[error("model `{model}` sent an unreadable answer: {message}")]
    Garbage { model: String, message: String },
    #[error("model `{model}` stopped at max_tokens={max_tokens} (finish_reason \"length\") even after a retry with a larger limit; the answer is incomplete")]
    Truncated { model: String, max_tokens: u32 },
    #[error("model `{model}` was not asked: it failed repeatedly just before (circuit open; it is tried again in {:.0} s)", retry_in.as_secs_f64())]
    CircuitOpen { model: String, retry_in: Duration },
    #[error("every model in the failover chain failed ({}); last error: {last}", tried.join(" -> "))]
    ChainExhausted {
        tried: Vec<String>,
        last: Box<LlmError>,
    },
    #[error("daily budget of ${budget:.2} reached (spent ${spent:.2} today); raise review.budget_usd_per_day or wait until tomorrow (UTC)")]
    OverBudget { spent: f64, budget: f64 },
    #[error("the team's daily budget of ${budget:.2} reached (spent ${spent:.2} today by the team); raise team.budget_usd_per_day or wait until tomorrow (UTC)")]
    TeamOverBudget { spent: f64, budget: f64 },
    #[error("model configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Retryable failures are retried with backoff, count against the
    /// model's circuit and, once attempts run out, fail over.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout { .. }
            | LlmError::Connect { .. }
            | LlmError::Disconnected { .. }
            | LlmError::Garbage { .. }
            | LlmError::CircuitOpen { .. } => true,
            LlmError::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            LlmError::ChainExhausted { last, .. } => last.is_retryable(),
            LlmError::Unauthorized { .. }
            | LlmError::ContextOverflow { .. }
            | LlmError::Cancelled
            | LlmError::Truncated { .. }
            | LlmError::OverBudget { .. }
            | LlmError::TeamOverBudget { .. }
            | LlmError::Config(_) => false,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label for stats and events ("503", "timeout", ...).
    pub fn short(&self) -> String {
        match self {
            LlmError::Unauthorized { status, .. } => format!("HTTP {status}"),
            LlmError::ContextOverflow { .. } => "context overflow".into(),
            LlmError::Cancelled => "cancelled".into(),
            LlmError::Timeout { phase, .. } => match phase {
                TimeoutPhase::Connect => "connect timeout".into(),
                TimeoutPhase::FirstToken => "no first token in time".into(),
                TimeoutPhase::Whole => "request timeout".into(),
            },
            LlmError::Http { status, .. } => format!("HTTP {status}"),
            LlmError::Connect { .. } => "connection failed".into(),
            LlmError::Disconnected { .. } => "stream dropped".into(),
            LlmError::Garbage { .. } => "unreadable answer".into(),
            LlmError::Truncated { .. } => "truncated".into(),
            LlmError::CircuitOpen { .. } => "circuit open".into(),
            LlmError::ChainExhausted { .. } => "chain exhausted".into(),
            LlmError::OverBudget { .. } | LlmError::TeamOverBudget { .. } => "over budget".into(),
            LlmError::Config(_) => "configuration".into(),
        }
    }
}
