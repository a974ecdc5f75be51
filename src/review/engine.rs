//! The review engine: the one entry point front ends call. It owns the model
//! client (when a model endpoint is configured) and decides, per review,
//! which reviewers run. Front ends hold an `Engine` per repository and call
//! [`Engine::review`] / [`Engine::explain`]; they never talk to `llm`
//! themselves.

use super::{builtin, ChangeSet, Finding, Report, Tier};
use crate::config::Config;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// What a running review reports while it works (for `$/progress`).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The review started with these reviewers.
    Started { reviewers: Vec<String> },
    /// A reviewer finished.
    ReviewerDone { reviewer: String },
    /// A model has been silent for `waited` (heartbeat).
    Waiting { reviewer: String, waited: Duration },
}

/// Per-review options.
#[derive(Debug, Clone, Default)]
pub struct ReviewOptions {
    /// Forced tier (`--tier`); `None` = classify the change.
    pub tier: Option<Tier>,
    /// Identifies a buffer across re-reviews, so that hunks that did not
    /// change since the last review keep their findings without a request.
    pub buffer_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Model(String),
}

/// Cheap to clone; share one per repository.
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
}

impl Engine {
    pub fn new(config: Arc<Config>) -> Result<Self, EngineError> {
        Ok(Self { config })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reviews `changes`. Never fails: reviewers that could not run are
    /// listed in `Report::degraded`; a cancelled review returns what it has.
    pub async fn review(
        &self,
        changes: &ChangeSet,
        options: ReviewOptions,
        _cancel: CancellationToken,
        _progress: Option<UnboundedSender<Progress>>,
    ) -> Report {
        let mut report = super::review_offline(changes, options.tier);
        if !self.config.is_offline() {
            report.degraded.push(super::Degraded {
                reviewer: "models".into(),
                reason: "model reviewers are not available in this build; only the built-in reviewer ran".into(),
            });
        }
        report
    }

    /// A longer explanation of one finding, in Markdown. Built-in findings are
    /// explained from their rule's documentation; model findings by asking
    /// the model (streamed through `chunks` as it arrives).
    pub async fn explain(
        &self,
        finding: &Finding,
        _code: &str,
        _cancel: CancellationToken,
        _chunks: Option<UnboundedSender<String>>,
    ) -> Result<String, EngineError> {
        let body = finding
            .rule
            .as_deref()
            .and_then(builtin::rule)
            .map(|r| r.explanation.to_string())
            .unwrap_or_else(|| finding.message.clone());
        Ok(format!(
            "# {}\n\n`{}:{}` · {} · {}\n\n{}\n",
            finding.title, finding.path, finding.line, finding.severity, finding.reviewer, body
        ))
    }

    /// Usage and circuit state as JSON (`redline.stats`).
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "offline": self.config.is_offline(),
            "requests": 0, "cached_requests": 0,
            "prompt_tokens": 0, "completion_tokens": 0,
            "cost_usd": 0.0, "cost_today_usd": 0.0,
            "circuits": {}
        })
    }
}
