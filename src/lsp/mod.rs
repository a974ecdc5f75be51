//! The language-server front end (`redline lsp`).

use std::process::ExitCode;

/// Runs the server over stdio until the client exits.
pub fn run() -> ExitCode {
    eprintln!("redline: the language server is not built yet");
    ExitCode::from(crate::cli::EXIT_ERROR)
}
