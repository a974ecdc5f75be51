//! Server→client requests with a deadline. A client may never answer
//! (`window/showDocument`, `client/registerCapability`,
//! `window/workDoneProgress/create`, …), so nothing in the server awaits
//! one without a time limit, and a request handler never waits for one in
//! its own slot: the caller spawns the ask on a task and carries on with a
//! fallback when it times out. This module sends and times; it decides no
//! fallback.
//!
//! The deadline is `REDLINE_LSP_CLIENT_TIMEOUT_MS` (default 5,000 ms), a
//! knob for tests and slow clients. A request that waits for a person
//! (`window/showMessageRequest`, `workspace/applyEdit` with a preview)
//! would need a longer one; the server sends none of those today.

use std::sync::OnceLock;
use std::time::Duration;
use tower_lsp_server::ls_types::request::Request;
use tower_lsp_server::Client;

const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// Why a server→client request has no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    #[error("the client did not answer {method} within {} ms", .waited.as_millis())]
    TimedOut {
        method: &'static str,
        waited: Duration,
    },
    #[error("the client refused {method}: {error}")]
    Refused {
        method: &'static str,
        error: tower_lsp_server::jsonrpc::Error,
    },
}

/// How long the server waits for the client to answer one of its requests.
pub fn deadline() -> Duration {
    static DEADLINE: OnceLock<Duration> = OnceLock::new();
    *DEADLINE.get_or_init(|| {
        std::env::var("REDLINE_LSP_CLIENT_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_DEADLINE)
    })
}

/// Sends request `R` to the client and waits for its answer at most
/// [`deadline`].
pub async fn ask<R: Request>(client: &Client, params: R::Params) -> Result<R::Result, Unanswered> {
    let waited = deadline();
    match tokio::time::timeout(waited, client.send_request::<R>(params)).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(error)) => Err(Unanswered::Refused {
            method: R::METHOD,
            error,
        }),
        Err(_) => Err(Unanswered::TimedOut {
            method: R::METHOD,
            waited,
        }),
    }
}
