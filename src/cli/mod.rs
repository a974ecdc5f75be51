//! The command-line front end: `redline check`, `redline config`,
//! `redline init` and `redline dismiss`.
//! Parses nothing itself (clap does, in `main.rs`), calls `review`, renders
//! reports and maps them to exit codes (SPEC §1).

pub mod format;
pub mod init;
pub mod live;

pub use init::{init, InitArgs};

use crate::config::{self, ConfigError, LoadedConfig};
use crate::git::{Base, GitError, Repo};
use crate::review::{self, ChangeSet, Report, Severity, Tier};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code: nothing at or above `--fail-on`.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage, configuration or repository error.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Critical,
    Warning,
    Suggestion,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Suggestion => Some(Severity::Suggestion),
            FailOn::Never => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TierArg {
    Auto,
    Trivial,
    Lite,
    Full,
}

impl TierArg {
    pub fn forced(self) -> Option<Tier> {
        match self {
            TierArg::Auto => None,
            TierArg::Trivial => Some(Tier::Trivial),
            TierArg::Lite => Some(Tier::Lite),
            TierArg::Full => Some(Tier::Full),
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Files or folders to review (default: the whole working tree).
    pub paths: Vec<PathBuf>,
    /// Revision to compare against.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub base: String,
    /// Review the index (what the next commit will hold) instead of the
    /// working tree: unstaged edits and untracked files are left out.
    #[arg(long)]
    pub staged: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = format::Format::Text)]
    pub format: format::Format,
    /// Lowest severity that makes the command exit with 1.
    #[arg(long, value_enum, default_value_t = FailOn::Critical)]
    pub fail_on: FailOn,
    /// Risk tier (which reviewers run).
    #[arg(long, value_enum, default_value_t = TierArg::Auto)]
    pub tier: TierArg,
    /// Built-in reviewer only; no network.
    #[arg(long)]
    pub offline: bool,
    /// Configuration file to use instead of `.redline.toml`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the model client's numbers to FILE in the Prometheus text
    /// format (for node_exporter's textfile collector); overrides
    /// `metrics.textfile`.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DismissArgs {
    /// Fingerprints of the findings (`fingerprint` in `check --format json`).
    #[arg(required = true, value_name = "FINGERPRINT")]
    pub fingerprints: Vec<String>,
    /// Dismiss for the team: written to `.redline/dismissed.toml`, to be
    /// committed. Without it the dismissal is yours (`.git/redline/`).
    #[arg(long)]
    pub team: bool,
    /// Why the finding does not apply (required with --team).
    #[arg(long, value_name = "TEXT")]
    pub why: Option<String>,
    /// Who judged it (default: git's user.name <user.email>).
    #[arg(long, value_name = "NAME")]
    pub who: Option<String>,
    /// The finding's file, for the reader of the pull request.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// The finding's title, for the reader of the pull request.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file to use instead of `.redline.toml`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object (effective values, their origins, mode) for
    /// tools such as Neovim's `:checkhealth redline`.
    #[arg(long)]
    pub json: bool,
}

/// An error that ends the command with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
}

fn fail(err: CliError) -> ExitCode {
    eprintln!("redline: error: {err}");
    ExitCode::from(EXIT_ERROR)
}

/// `redline check`.
pub fn check(args: CheckArgs) -> ExitCode {
    match run_check(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(e),
    }
}

fn run_check(args: &CheckArgs) -> Result<u8, CliError> {
    // The rules' automata are built while the repository is read.
    std::thread::spawn(crate::review::builtin::warm_up);
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Usage(format!("cannot read the current folder: {e}")))?;
    let repo = discover(&cwd, &args.paths)?;
    let mut loaded = load_config(&repo, args.config.as_deref(), args.offline)?;
    if let Some(file) = &args.metrics_file {
        loaded.config.metrics.textfile = Some(cwd.join(file));
    }
    let base = repo.resolve_base(&args.base)?;
    let pathspecs = pathspecs(&repo, &base, &cwd, &args.paths)?;
    tracing::debug!(root = %repo.root().display(), base = %base.id(), "repository ready");
    let changes = if args.staged {
        ChangeSet::from_index(&repo, &base, &pathspecs, &loaded.config.review)?
    } else {
        ChangeSet::from_worktree(&repo, &base, &pathspecs, &loaded.config.review)?
    };
    tracing::debug!(
        files = changes.files.len(),
        skipped = changes.skipped.len(),
        "changes read"
    );
    let live = (!loaded.config.is_offline())
        .then(|| live::Live::on_terminal(args.format == format::Format::Text))
        .flatten();
    let (mut report, stats) = review_changes(&repo, &changes, &loaded, args.tier.forced(), live)?;
    let team = stats.get("team").cloned();
    let team_dismissed = review::team_dismissed::TeamDismissed::load(repo.root())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let before = report.findings.len();
    report
        .findings
        .retain(|f| !team_dismissed.contains(&f.fingerprint));
    let dismissed_by_team = before - report.findings.len();
    if dismissed_by_team > 0 {
        // A finding the team judged no longer holds the verdict up.
        report.verdict = review::Verdict::from_findings(&report.findings);
    }
    tracing::debug!(findings = report.findings.len(), "review done");

    let rendered = match args.format {
        format::Format::Text => {
            // The quoted code lines show a detected secret masked.
            let sources = changes
                .files
                .iter()
                .map(|f| {
                    let secrets = review::redact::Redactor::from_findings(
                        report.findings.iter().filter(|x| x.path == f.path),
                        |_| Some(f.new_text.as_str()),
                    );
                    (f.path.clone(), secrets.scrub(&f.new_text).into_owned())
                })
                .collect();
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            format::text(&report, &sources, color)
                + &format::team_dismissed_line(dismissed_by_team)
                + &format::team_line(team.as_ref())
        }
        format::Format::Json => {
            let mut extra = vec![("team_dismissed", serde_json::json!(dismissed_by_team))];
            if let Some(models) = stats.get("models") {
                extra.push(("models", models.clone()));
            }
            if let Some(team) = team {
                extra.push(("team", team));
            }
            format::json(&report, &extra) + "\n"
        }
        format::Format::Sarif => format::sarif(&report) + "\n",
        format::Format::Github => format::github(&report),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(rendered.as_bytes());
    let _ = stdout.flush();
    Ok(exit_code(&report, args.fail_on))
}

/// `redline dismiss`.
pub fn dismiss(args: DismissArgs) -> ExitCode {
    match run_dismiss(&args) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run_dismiss(args: &DismissArgs) -> Result<String, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Usage(format!("cannot read the current folder: {e}")))?;
    let repo = Repo::discover(&cwd)?;
    if !args.team {
        let store = review::dismissed::DismissedStore::open(&repo.git_dir());
        let added = store
            .dismiss(args.fingerprints.iter().cloned())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(format!(
            "redline: dismissed {added} finding(s) for you in {}",
            store.path().display()
        ));
    }
    let why = args
        .why
        .clone()
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| {
            CliError::Usage(
                "a team dismissal says why: add --why \"...\" (it is read in the pull request)"
                    .into(),
            )
        })?;
    let who = match &args.who {
        Some(w) => w.clone(),
        None => review::team_dismissed::git_identity(repo.root()).ok_or_else(|| {
            CliError::Usage(
                "who is dismissing? git has no user.name; add --who \"Name <email>\"".into(),
            )
        })?,
    };
    let entries: Vec<_> = args
        .fingerprints
        .iter()
        .map(|fp| review::team_dismissed::TeamDismissal {
            fingerprint: fp.trim().to_string(),
            who: who.clone(),
            why: why.clone(),
            path: args.path.clone(),
            title: args.title.clone(),
        })
        .collect();
    let added = review::team_dismissed::append(repo.root(), &entries)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(format!(
        "redline: dismissed {added} finding(s) for the team in {}; commit it so that CI and teammates stop seeing them",
        review::team_dismissed::TEAM_DISMISSED_FILE
    ))
}

/// The review the CLI runs, through the same engine as the editor, and the
/// engine's stats after it (`team`: what is shared through Redis; `models`:
/// the numbers per model and endpoint).
fn review_changes(
    repo: &Repo,
    changes: &ChangeSet,
    loaded: &LoadedConfig,
    tier: Option<Tier>,
    live: Option<live::Live>,
) -> Result<(Report, serde_json::Value), CliError> {
    let engine = review::Engine::new(std::sync::Arc::new(loaded.config.clone()))
        .map_err(|e| CliError::Usage(e.to_string()))?
        .with_repo_root(repo.root());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let options = review::ReviewOptions {
        tier,
        buffer_key: None,
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let report = runtime.block_on(async {
        match live {
            None => engine.review(changes, options, cancel, None).await,
            Some(live) => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let review = engine.review(changes, options, cancel, Some(tx));
                tokio::join!(review, live.follow(rx)).0
            }
        }
    });
    Ok((report, engine.stats()))
}

/// Exit code for a report under `--fail-on`.
pub fn exit_code(report: &Report, fail_on: FailOn) -> u8 {
    match fail_on.threshold() {
        Some(t) if report.findings.iter().any(|f| f.severity >= t) => EXIT_FINDINGS,
        _ => EXIT_OK,
    }
}

/// Loads the configuration for `repo`: defaults, user file, `.redline.toml`
/// (or `explicit`), environment, then `--offline`.
pub fn load_config(
    repo: &Repo,
    explicit: Option<&Path>,
    offline: bool,
) -> Result<LoadedConfig, ConfigError> {
    let mut builder = config::load(Some(repo.root()), explicit)?;
    if offline {
        builder = builder.with_flag("review.offline", toml::Value::Boolean(true), "--offline");
    }
    builder.build()
}

/// The repository of the current folder or, when that is not inside one,
/// of the first PATH (`redline check ~/src/app` from anywhere).
fn discover(cwd: &Path, paths: &[PathBuf]) -> Result<Repo, GitError> {
    match Repo::discover(cwd) {
        Err(GitError::NotARepository(_)) if !paths.is_empty() => {
            Repo::discover(&cwd.join(&paths[0])).map_err(|e| match e {
                GitError::NotARepository(_) => GitError::NotARepository(cwd.to_path_buf()),
                other => other,
            })
        }
        other => other,
    }
}

/// Repository-relative pathspecs for PATHs given relative to `cwd`. A path
/// that exists neither on disk nor at the base is a typo, not an empty
/// review.
fn pathspecs(
    repo: &Repo,
    base: &Base,
    cwd: &Path,
    paths: &[PathBuf],
) -> Result<Vec<String>, CliError> {
    let mut specs = Vec::with_capacity(paths.len());
    for p in paths {
        let abs = cwd.join(p);
        let outside = || {
            CliError::Usage(format!(
                "{} is outside the repository at {}; pass paths inside it",
                p.display(),
                repo.root().display()
            ))
        };
        if abs.exists() && abs.canonicalize().ok().as_deref() == Some(repo.root()) {
            // The whole repository: no restriction.
            return Ok(Vec::new());
        }
        let rel = repo.relative_path(&abs).ok_or_else(outside)?;
        if !abs.exists() && !repo.exists_at_base(base, &rel)? {
            return Err(CliError::Usage(format!(
                "{} does not exist in the working tree or at {}; check the path",
                p.display(),
                base.rev
            )));
        }
        specs.push(rel);
    }
    Ok(specs)
}

/// `redline config`: every effective value and where it came from.
pub fn show_config(args: ConfigArgs) -> ExitCode {
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            return fail(CliError::Usage(format!(
                "cannot read the current folder: {e}"
            )))
        }
    };
    let repo = Repo::discover(&cwd).ok();
    let loaded = config::load(repo.as_ref().map(|r| r.root()), args.config.as_deref())
        .and_then(|b| b.build());
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => return fail(e.into()),
    };
    let key_env = &loaded.config.llm.api_key_env;
    let key_set = std::env::var(key_env).is_ok_and(|v| !v.is_empty());
    if args.json {
        let report = serde_json::json!({
            "user_config": config::user_config_path(),
            "repository": repo.as_ref().map(|r| r.root()),
            "config": loaded.config,
            "origins": loaded
                .origins
                .iter()
                .map(|(k, o)| (k.clone(), o.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "api_key_env": key_env,
            "api_key_set": key_set,
            "offline": loaded.config.is_offline(),
        });
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{report}");
        let _ = stdout.flush();
        return ExitCode::SUCCESS;
    }
    let mut out = String::new();
    if let Some(user) = config::user_config_path() {
        out += &format!("# user config: {}\n", user.display());
    }
    match &repo {
        Some(r) => out += &format!("# repository: {}\n", r.root().display()),
        None => out += "# not inside a git repository: repository config not loaded\n",
    }
    let rows = config::describe(&loaded);
    let width = rows
        .iter()
        .map(|(k, v, _)| k.len() + v.len() + 3)
        .max()
        .unwrap_or(0)
        .min(70);
    for (key, value, origin) in rows {
        let kv = format!("{key} = {value}");
        out += &format!("{kv:width$}  # {origin}\n");
    }
    let key_state = if key_set { "set (redacted)" } else { "not set" };
    out += &format!("# api key: ${key_env} is {key_state}\n");
    out += &format!(
        "# mode: {}\n",
        if loaded.config.is_offline() {
            "offline (built-in reviewer only)"
        } else {
            "models"
        }
    );
    // `redline config | head` closes the pipe early; that is not a crash.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    ExitCode::SUCCESS
}
