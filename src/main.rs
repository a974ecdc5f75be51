//! The `redline` binary: parses arguments, sets up logging to stderr, and
//! hands over to a front end. Nothing else lives here.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "redline",
    version,
    about = "Reviews code while it is being written",
    after_help = "\
Environment:
  REDLINE_BASE_URL   OpenAI-compatible endpoint (none: built-in offline reviewer)
  REDLINE_API_KEY    its bearer key (never printed or logged)
  REDLINE_MODEL      one model name for every reviewer
  REDLINE_OFFLINE=1  same as `check --offline`
  REDLINE_LOG        tracing filter, e.g. redline=debug (logs go to stderr)

`redline config` shows the effective configuration and where each value came
from; `redline init` writes a commented `.redline.toml`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the language server over stdio.
    Lsp,
    /// Review the working tree (or PATHs) against a base revision.
    #[command(after_help = "\
Exit codes:
  0  nothing at or above --fail-on
  1  findings at or above --fail-on
  2  usage, configuration or repository error (one line on stderr)")]
    Check(redline::cli::CheckArgs),
    /// Print the effective configuration and where each value came from.
    Config(redline::cli::ConfigArgs),
    /// Write a commented `.redline.toml` at the repository root (never overwrites).
    Init(redline::cli::InitArgs),
    /// Dismiss findings by fingerprint: for you, or with --team for everyone
    /// (in `.redline/dismissed.toml`, committed with the repository).
    Dismiss(redline::cli::DismissArgs),
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                redline::cli::EXIT_ERROR
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Lsp => redline::lsp::run(),
        Command::Check(args) => redline::cli::check(args),
        Command::Config(args) => redline::cli::show_config(args),
        Command::Init(args) => redline::cli::init(args),
        Command::Dismiss(args) => redline::cli::dismiss(args),
    }
}

/// Logs go to stderr (stdout belongs to JSON-RPC). By default only
/// warnings and errors, each as one line for people (`redline: warning:
/// …`); with `REDLINE_LOG` set, tracing's full records (time, level, target)
/// at the levels it asks for.
fn init_logging() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match tracing_subscriber::EnvFilter::try_from_env("REDLINE_LOG") {
        Ok(filter) => builder.with_env_filter(filter).init(),
        Err(_) => builder
            .with_env_filter(tracing_subscriber::EnvFilter::new("redline=warn"))
            .event_format(HumanLine)
            .init(),
    }
}

/// `redline: warning: Redis unavailable; this process uses its local …
/// (error: connection refused)`: the message, then its fields.
struct HumanLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for HumanLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "note",
            _ => "debug",
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        write!(writer, "redline: {level}: {}", fields.message)?;
        if !fields.rest.is_empty() {
            write!(writer, " ({})", fields.rest.join(", "))?;
        }
        writeln!(writer)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push(format!("{}: {value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push(format!("{}: {value}", field.name()));
        }
    }
}
