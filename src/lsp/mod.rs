//! The language-server front end (`redline lsp`): documents, handlers,
//! diagnostics and code actions over stdio. It converts between LSP and
//! redline's model at this edge and calls `review::Engine` for every
//! review; no protocol type travels below this module.
//!
//! - `text`: ropes and position encodings;
//! - `tracking`: moving published findings through edits;
//! - `proto`: findings to diagnostics, diagnostics to code actions;
//! - `workspace`: one repository's config, engine, base blobs, dismissals;
//! - `session`: documents, scheduling, publishing (the ordering rules);
//! - `commands`: `workspace/executeCommand` arguments, checked;
//! - `server`: the `LanguageServer` handlers.

mod commands;
pub mod proto;
mod server;
pub mod session;
pub mod text;
pub mod tracking;
pub mod workspace;

use std::process::ExitCode;
use tower_lsp_server::{LspService, Server};

/// Runs the server over stdio until the client exits.
pub fn run() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redline: cannot start the async runtime: {e}");
            return ExitCode::from(crate::cli::EXIT_ERROR);
        }
    };
    runtime.block_on(async {
        let (service, socket) = LspService::new(server::Server::new);
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    ExitCode::SUCCESS
}
