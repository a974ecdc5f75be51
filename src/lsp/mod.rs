//! The language-server front end (`redline lsp`): documents, handlers,
//! diagnostics and code actions over stdio. It converts between LSP and
//! redline's model at this edge and calls `review::Engine` for every
//! review; no protocol type travels below this module.
//!
//! - `text`: ropes and position encodings;
//! - `tracking`: moving published findings through edits;
//! - `tree`: each document's syntax tree, edited with the text;
//! - `proto`: findings to diagnostics, diagnostics to code actions;
//! - `workspace`: one repository's config, engine, base blobs, dismissals;
//! - `session`: documents, scheduling, publishing (the ordering rules);
//! - `commands`: `workspace/executeCommand` arguments, checked;
//! - `server`: the `LanguageServer` handlers;
//! - `ask`: server→client requests, each with a deadline;
//! - `transport`: stdio framing that survives bad input, and when to exit.

pub mod ask;
mod commands;
pub mod proto;
mod server;
pub mod session;
pub mod text;
pub mod tracking;
pub mod transport;
pub mod tree;
pub mod workspace;

use std::process::ExitCode;
use std::time::Duration;
use tower_lsp_server::LspService;

/// `exit` after `shutdown`, or the end of input after `shutdown`.
pub const EXIT_OK: u8 = 0;
/// `exit`, or the end of input, without `shutdown` first (LSP 3.17).
pub const EXIT_NO_SHUTDOWN: u8 = 1;
/// The transport broke (output closed, input unreadable, the server
/// stopped on its own) or could not start; stderr says why in one line.
pub const EXIT_BROKEN: u8 = 2;

/// Runs the server over stdio until the client exits or closes the input.
pub fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redline: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_BROKEN);
        }
    };
    let ending = runtime.block_on(async {
        let (service, socket) = LspService::new(server::Server::new);
        transport::serve(tokio::io::stdin(), tokio::io::stdout(), service, socket).await
    });
    match &ending {
        transport::Ending::Broken(why) => eprintln!("redline: lsp stopped: {why}"),
        transport::Ending::EndOfInput {
            after_shutdown: false,
        } => tracing::warn!("the client closed the input without `shutdown`"),
        _ => {}
    }
    // Reviews still running (a model call, a git read on the blocking
    // pool) must not keep the process alive once the session is over.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(ending.code())
}
