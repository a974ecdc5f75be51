//! Layered configuration: defaults < user file < `.redline.toml` < environment
//! < editor settings. Each layer is a TOML table merged key by key, and every
//! leaf remembers which layer set it, so `redline config` can say where a
//! value came from. API keys are never part of this structure: only the *name*
//! of the environment variable that holds one is, and the key is read at the
//! moment a request is made.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the per-repository configuration.
pub const REPO_CONFIG_FILE: &str = ".redline.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}; check the path and its permissions")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}{line}: not valid TOML: {message}; fix the syntax on that line")]
    Parse {
        path: PathBuf,
        /// `:N` when the line is known, else empty.
        line: String,
        message: String,
    },
    /// A key whose value has the wrong type or an unknown name: where it was
    /// set (file and line, environment variable or editor settings), the
    /// dotted key, what was found and what is allowed.
    #[error("{origin}: `{key}`: {message}")]
    Key {
        origin: String,
        key: String,
        message: String,
    },
    #[error("invalid config value from {origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub llm: LlmConfig,
    /// Extra OpenAI-compatible endpoints; a model names one with `provider`.
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelConfig>,
    /// Reviewer name -> key of `models`.
    pub reviewers: BTreeMap<String, String>,
    pub review: ReviewConfig,
    pub cache: CacheConfig,
    pub builtin: BuiltinConfig,
    pub team: TeamConfig,
    pub metrics: MetricsConfig,
}

/// The `[metrics]` table: where the Prometheus text export goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A file rewritten (atomically) after each model call, in the
    /// Prometheus text format, for node_exporter's textfile collector.
    /// `redline check --metrics-file` sets it for one run.
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The default provider's endpoint. `None` means offline.
    pub base_url: Option<String>,
    /// Name of the environment variable holding the bearer key.
    pub api_key_env: String,
    /// One model name for every reviewer (overrides `[reviewers]`).
    pub model: Option<String>,
    pub timeout_s: f64,
    pub first_token_timeout_s: f64,
    pub connect_timeout_s: f64,
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    /// Attempts per model for retryable failures (1 = no retry).
    pub max_attempts: u32,
    /// Consecutive retryable failures that open a model's circuit.
    pub breaker_threshold: u32,
    pub breaker_cooldown_s: f64,
    /// Seconds of silence between "waiting for model" heartbeats.
    pub heartbeat_s: f64,
    /// First retry delay; doubles per attempt (with jitter).
    pub backoff_base_ms: u64,
    /// Longest backoff between two attempts.
    pub backoff_max_s: f64,
    /// A `Retry-After` longer than this fails over instead of waiting.
    pub retry_after_max_s: f64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key_env: "REDLINE_API_KEY".into(),
            model: None,
            timeout_s: 60.0,
            first_token_timeout_s: 15.0,
            connect_timeout_s: 10.0,
            max_concurrency: 8,
            requests_per_minute: None,
            max_attempts: 3,
            breaker_threshold: 5,
            breaker_cooldown_s: 30.0,
            heartbeat_s: 5.0,
            backoff_base_ms: 500,
            backoff_max_s: 10.0,
            retry_after_max_s: 30.0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub requests_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The model's name at the provider.
    pub name: String,
    /// Key of `[providers.*]`; `None` = the `[llm]` endpoint.
    pub provider: Option<String>,
    /// Several `[providers.*]` keys serving this model (regions, a gateway
    /// and the provider): each request goes to the healthiest, fastest one.
    /// Overrides `provider`.
    pub endpoints: Vec<String>,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Key of the next model in the failover chain.
    pub fallback: Option<String>,
    pub max_tokens: u32,
    pub context_tokens: u32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            provider: None,
            endpoints: Vec::new(),
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
            fallback: None,
            max_tokens: 4096,
            context_tokens: 128_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    #[default]
    Save,
    Idle,
    Manual,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    pub trigger: Trigger,
    pub idle_ms: u64,
    pub budget_usd_per_day: Option<f64>,
    /// Globs (repository-relative) never reviewed.
    pub exclude: Vec<String>,
    /// Globs whose content never leaves the machine (never in a prompt).
    pub never_send: Vec<String>,
    /// Files larger than this are skipped with a note.
    pub max_file_bytes: u64,
    /// Findings shown per file, most severe first; the rest are counted
    /// under `truncated` (0: no limit).
    pub max_findings_per_file: u32,
    /// Built-in reviewer only, no network.
    pub offline: bool,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            trigger: Trigger::Save,
            idle_ms: 1500,
            budget_usd_per_day: Some(5.0),
            exclude: Vec::new(),
            never_send: vec![
                ".env".into(),
                ".env.*".into(),
                "**/*.pem".into(),
                "**/*.key".into(),
                "**/secrets/**".into(),
            ],
            max_file_bytes: 1024 * 1024,
            max_findings_per_file: 50,
            offline: false,
        }
    }
}

/// The `[builtin]` table: which built-in rules run where. Entries name a
/// rule id (`todo-comment`), a family (`secret-*`) or every rule (`*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinConfig {
    /// Rules that never run.
    pub disable: Vec<String>,
    /// Path glob (repository-relative) -> rules that do not run on it.
    pub disable_in: BTreeMap<String, Vec<String>>,
    /// Path globs where printing is the point (examples, scripts, tests,
    /// benchmarks, …): the debug-output rules (`debug-print`,
    /// `debug-console-log`, `debug-print-macro`) stay silent there. A value
    /// replaces the default list.
    pub output_paths: Vec<String>,
}

/// Where output is the point, by default: `**/` so that a folder counts at
/// any depth (a monorepo's `packages/x/examples/`). Tests are not on the
/// list: a test checks, it does not print, and on replayed history a
/// `print(x)` in a test was a leftover far more often than intended.
pub const DEFAULT_OUTPUT_PATHS: &[&str] = &[
    "**/examples/**",
    "**/example/**",
    "**/docs/**",
    "**/doc/**",
    "**/docs_src/**",
    "**/docs-src/**",
    "**/tutorial/**",
    "**/tutorials/**",
    "**/scripts/**",
    "**/script/**",
    "**/bin/**",
    "**/tools/**",
    "**/bench/**",
    "**/benchmark/**",
    "**/benches/**",
    "**/benchmarks/**",
    "**/playground/**",
    "**/playgrounds/**",
    "**/demo/**",
    "**/demos/**",
    "**/sandbox/**",
    "**/play.*",
    "**/playground.*",
    "**/scratch.*",
    "**/sandbox.*",
    "**/demo.*",
    "**/example.*",
    "**/.github/**",
    "**/gulpfile.*",
    "**/Makefile.js",
    "**/Jakefile.js",
    "**/Gruntfile.*",
    "**/*.conf.js",
    "**/*.config.js",
    "**/*.config.mjs",
    "**/*.config.cjs",
    "**/*.config.ts",
    "**/__main__.py",
    "**/setup.py",
    "**/noxfile.py",
    "**/invokefile.py",
    "**/fabfile.py",
    "**/dodo.py",
    "**/src/main.rs",
    "**/src/bin/**",
    "**/build.rs",
];

impl Default for BuiltinConfig {
    fn default() -> Self {
        Self {
            disable: Vec::new(),
            disable_in: BTreeMap::new(),
            output_paths: DEFAULT_OUTPUT_PATHS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Disk cache folder; `None` = the user cache directory.
    pub dir: Option<PathBuf>,
    /// When set, responses are cached in Redis instead of on disk.
    pub redis_url: Option<String>,
    pub ttl_hours: u64,
    pub max_mb: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            redis_url: None,
            ttl_hours: 24 * 7,
            max_mb: 200,
        }
    }
}

/// The `[team]` table: what the processes of a team share through Redis
/// (`cache.redis_url`). Without a Redis URL it has no effect.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TeamConfig {
    /// Keep each model's circuit (per endpoint and model) in Redis, so a
    /// circuit opened by one process is open for all.
    pub shared_circuits: bool,
    /// A daily budget for the whole team, counted in Redis per UTC day, on
    /// top of each process's `review.budget_usd_per_day`.
    pub budget_usd_per_day: Option<f64>,
    /// The longest any request waits on Redis (connect or command) before
    /// the process falls back to its local state.
    pub redis_timeout_ms: u64,
    /// How long a process keeps to its local state after Redis failed,
    /// before it tries Redis again.
    pub redis_retry_ms: u64,
}

impl Default for TeamConfig {
    fn default() -> Self {
        Self {
            shared_circuits: true,
            budget_usd_per_day: None,
            redis_timeout_ms: 20,
            redis_retry_ms: 2000,
        }
    }
}

impl Config {
    /// True when no model may be asked: `--offline`, `REDLINE_OFFLINE=1`, or
    /// no endpoint configured at all.
    pub fn is_offline(&self) -> bool {
        self.review.offline || (self.llm.base_url.is_none() && self.providers.is_empty())
    }
}

/// Where a value came from, for `redline config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(&'static str),
    Editor,
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::Editor => f.write_str("editor settings"),
            Origin::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// The effective configuration and the origin of every leaf that is not a
/// default.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub origins: BTreeMap<String, Origin>,
}

/// Builds a configuration layer by layer. Each `with_*` merges one layer over
/// what is there; `build` validates the result.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    merged: toml::Table,
    origins: BTreeMap<String, Origin>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    pub fn new() -> Self {
        Self {
            merged: toml::Table::new(),
            origins: BTreeMap::new(),
        }
    }

    /// Merges a TOML file if it exists; a missing file is not an error.
    pub fn with_file_if_exists(self, path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.with_toml_str(&text, Origin::File(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(self),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Merges a TOML file that must exist (`--config FILE`).
    pub fn with_file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.with_toml_str(&text, Origin::File(path.to_path_buf()))
    }

    pub fn with_toml_str(mut self, text: &str, origin: Origin) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let path = match &origin {
                Origin::File(p) => p.clone(),
                other => PathBuf::from(other.to_string()),
            };
            ConfigError::Parse {
                path,
                line: line_of(text, e.span()).map_or(String::new(), |n| format!(":{n}")),
                message: e.message().trim().to_string(),
            }
        })?;
        // Each layer is checked on its own (every field has a default), so a
        // wrong value is reported with its file, line and key rather than
        // after the merge, where only the key would be left.
        if let Ok(de) = toml::Deserializer::parse(text) {
            if let Err(e) = serde_path_to_error::deserialize::<_, Config>(de) {
                let line =
                    line_of(text, e.inner().span()).map_or(String::new(), |n| format!(":{n}"));
                return Err(ConfigError::Key {
                    origin: format!("{origin}{line}"),
                    key: e.path().to_string(),
                    message: e.inner().message().trim().to_string(),
                });
            }
        }
        merge(&mut self.merged, table, "", &origin, &mut self.origins);
        Ok(self)
    }

    /// Merges the `REDLINE_*` environment variables (see SPEC §2).
    pub fn with_env(self) -> Self {
        self.with_env_from(|k| std::env::var(k).ok())
    }

    /// Same as [`with_env`](Self::with_env) with an injectable lookup, for tests.
    pub fn with_env_from(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        let mut set = |key: &str, var: &'static str, value: toml::Value| {
            let (section, leaf) = key.split_once('.').expect("env keys are dotted");
            let table = self
                .merged
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = table {
                t.insert(leaf.to_string(), value);
            }
            self.origins.insert(key.to_string(), Origin::Env(var));
        };
        if let Some(url) = get("REDLINE_BASE_URL").filter(|v| !v.is_empty()) {
            set("llm.base_url", "REDLINE_BASE_URL", toml::Value::String(url));
        }
        if let Some(model) = get("REDLINE_MODEL").filter(|v| !v.is_empty()) {
            set("llm.model", "REDLINE_MODEL", toml::Value::String(model));
        }
        if let Some(v) = get("REDLINE_OFFLINE") {
            let on = matches!(v.trim(), "1" | "true" | "yes" | "on");
            set(
                "review.offline",
                "REDLINE_OFFLINE",
                toml::Value::Boolean(on),
            );
        }
        self
    }

    /// Merges editor settings (`initializationOptions` or
    /// `workspace/didChangeConfiguration`), shaped like `.redline.toml`.
    /// Nulls are ignored; a top-level `redline` key is unwrapped.
    pub fn with_json(mut self, value: &serde_json::Value, origin: Origin) -> Self {
        let value = value.get("redline").unwrap_or(value);
        if let Some(toml::Value::Table(table)) = json_to_toml(value) {
            merge(&mut self.merged, table, "", &origin, &mut self.origins);
        }
        self
    }

    /// Sets one dotted key from a command-line flag.
    pub fn with_flag(mut self, key: &str, value: toml::Value, flag: &'static str) -> Self {
        let mut table = toml::Table::new();
        let mut parts: Vec<&str> = key.split('.').collect();
        let leaf = parts.pop().expect("non-empty key");
        let mut inner = toml::Table::new();
        inner.insert(leaf.to_string(), value);
        let mut current = inner;
        while let Some(p) = parts.pop() {
            let mut t = toml::Table::new();
            t.insert(p.to_string(), toml::Value::Table(current));
            current = t;
        }
        table.extend(current);
        merge(
            &mut self.merged,
            table,
            "",
            &Origin::Flag(flag),
            &mut self.origins,
        );
        self
    }

    pub fn build(self) -> Result<LoadedConfig, ConfigError> {
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(
            self.merged.clone(),
        ))
        .map_err(|e: serde_path_to_error::Error<toml::de::Error>| {
            let key = e.path().to_string();
            ConfigError::Key {
                origin: self
                    .origins
                    .get(&key)
                    .map_or_else(|| describe_origins(&self.origins), |o| o.to_string()),
                key,
                message: e.inner().message().trim().to_string(),
            }
        })?;
        validate(&config, &self.origins)?;
        Ok(LoadedConfig {
            config,
            origins: self.origins,
        })
    }
}

/// The usual stack for a repository: defaults, user file, `.redline.toml` at
/// `repo_root` (or `explicit` instead of it), environment.
pub fn load(
    repo_root: Option<&Path>,
    explicit: Option<&Path>,
) -> Result<ConfigBuilder, ConfigError> {
    let mut builder = ConfigBuilder::new();
    if let Some(user) = user_config_path() {
        builder = builder.with_file_if_exists(&user)?;
    }
    match (explicit, repo_root) {
        (Some(file), _) => builder = builder.with_file(file)?,
        (None, Some(root)) => {
            builder = builder.with_file_if_exists(&root.join(REPO_CONFIG_FILE))?
        }
        (None, None) => {}
    }
    Ok(builder.with_env())
}

/// `$XDG_CONFIG_HOME/redline/config.toml` (or the platform equivalent).
pub fn user_config_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(dirs::config_dir)
        .map(|d| d.join("redline").join("config.toml"))
}

fn validate(config: &Config, origins: &BTreeMap<String, Origin>) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: "configuration".into(),
        message,
    };
    let urls = config
        .llm
        .base_url
        .iter()
        .map(|u| ("llm.base_url".to_string(), u))
        .chain(
            config
                .providers
                .iter()
                .map(|(k, p)| (format!("providers.{k}.base_url"), &p.base_url)),
        );
    for (key, url) in urls {
        let scheme_ok = ["http://", "https://"].iter().any(|s| {
            url.get(..s.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(s))
        });
        if !url.is_empty() && !scheme_ok {
            return Err(ConfigError::Key {
                origin: origins
                    .get(&key)
                    .map_or_else(|| "configuration".into(), |o| o.to_string()),
                message: format!(
                    "found `{}`, which is not an http(s) URL; set it to the endpoint, e.g. http://127.0.0.1:11434/v1",
                    redact_url_credentials(url)
                ),
                key,
            });
        }
    }
    for (key, model) in &config.models {
        if let Some(fb) = &model.fallback {
            if !config.models.contains_key(fb) {
                return Err(invalid(format!(
                    "models.{key}.fallback names `{fb}`, which is not a [models.{fb}] table"
                )));
            }
        }
        for p in &model.endpoints {
            if !config.providers.contains_key(p) {
                return Err(invalid(format!(
                    "models.{key}.endpoints names `{p}`, which is not a [providers.{p}] table"
                )));
            }
        }
        if let Some(p) = &model.provider {
            if !config.providers.contains_key(p) {
                return Err(invalid(format!(
                    "models.{key}.provider names `{p}`, which is not a [providers.{p}] table"
                )));
            }
        }
    }
    for (reviewer, model) in &config.reviewers {
        if !config.models.contains_key(model) {
            return Err(invalid(format!(
                "reviewers.{reviewer} names model `{model}`, which is not a [models.{model}] table"
            )));
        }
    }
    for glob in config
        .review
        .exclude
        .iter()
        .chain(&config.review.never_send)
    {
        globset::Glob::new(glob).map_err(|e| invalid(format!("bad glob `{glob}`: {e}")))?;
    }
    for glob in &config.builtin.output_paths {
        globset::Glob::new(glob)
            .map_err(|e| invalid(format!("builtin.output_paths: bad glob `{glob}`: {e}")))?;
    }
    for glob in config.builtin.disable_in.keys() {
        globset::Glob::new(glob)
            .map_err(|e| invalid(format!("builtin.disable_in: bad glob `{glob}`: {e}")))?;
    }
    for rule in config
        .builtin
        .disable
        .iter()
        .chain(config.builtin.disable_in.values().flatten())
    {
        if !crate::review::builtin::names_any_rule(rule) {
            return Err(invalid(format!(
                "[builtin] names `{rule}`, which is no built-in rule; use a rule id such as `todo-comment` or `secret-assignment` (see the README's built-in rules), a family such as `secret-*`, or `*`"
            )));
        }
    }
    if config.llm.max_concurrency == 0 {
        return Err(invalid("llm.max_concurrency must be at least 1".into()));
    }
    if let Some(b) = config.team.budget_usd_per_day {
        if !(b.is_finite() && b >= 0.0) {
            return Err(invalid(format!(
                "team.budget_usd_per_day must be a number of dollars >= 0, found {b}"
            )));
        }
    }
    Ok(())
}

fn merge(
    into: &mut toml::Table,
    from: toml::Table,
    prefix: &str,
    origin: &Origin,
    origins: &mut BTreeMap<String, Origin>,
) {
    for (key, value) in from {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                merge(existing, incoming, &path, origin, origins);
            }
            (_, toml::Value::Table(incoming)) => {
                let mut fresh = toml::Table::new();
                merge(&mut fresh, incoming, &path, origin, origins);
                into.insert(key, toml::Value::Table(fresh));
            }
            (_, value) => {
                origins.insert(path, origin.clone());
                into.insert(key, value);
            }
        }
    }
}

fn json_to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => return None,
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        J::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect(),
        ),
    })
}

fn describe_origins(origins: &BTreeMap<String, Origin>) -> String {
    let mut files: Vec<String> = origins
        .values()
        .map(|o| o.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if files.is_empty() {
        files.push("defaults".into());
    }
    files.join(", ")
}

/// The 1-based line of a byte span's start in `text`.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(
        text.as_bytes()[..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
    )
}

/// Flattens the effective configuration to `(dotted key, value, origin)`
/// rows for `redline config`.
pub fn describe(loaded: &LoadedConfig) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let value = toml::Value::try_from(&loaded.config).expect("config serialises");
    flatten(&value, "", &mut rows);
    rows.into_iter()
        .map(|(k, v)| {
            let origin = loaded
                .origins
                .get(&k)
                .map(|o| o.to_string())
                .unwrap_or_else(|| "default".into());
            (k, redact_url_credentials(&v), origin)
        })
        .collect()
}

/// `http://user:key@host/v1` → `http://***@host/v1`: a key pasted into an
/// endpoint URL is still a key, and `redline config` output gets shared.
pub fn redact_url_credentials(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &value[..scheme_end + 3], &rest[at..]),
        None => value.to_string(),
    }
}

fn flatten(value: &toml::Value, prefix: &str, rows: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) if !t.is_empty() || prefix.is_empty() => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &key, rows);
            }
        }
        other => rows.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_file_overrides_defaults_and_env_overrides_file() {
        let loaded = ConfigBuilder::new()
            .with_toml_str(
                "[llm]\nbase_url = \"http://a\"\ntimeout_s = 5\n",
                Origin::File(".redline.toml".into()),
            )
            .unwrap()
            .with_env_from(|k| (k == "REDLINE_BASE_URL").then(|| "http://b".to_string()))
            .build()
            .unwrap();
        assert_eq!(loaded.config.llm.base_url.as_deref(), Some("http://b"));
        assert_eq!(loaded.config.llm.timeout_s, 5.0);
        assert_eq!(
            loaded.origins["llm.base_url"],
            Origin::Env("REDLINE_BASE_URL")
        );
    }

    #[test]
    fn unknown_fallback_is_rejected_with_the_key_named() {
        let err = ConfigBuilder::new()
            .with_toml_str(
                "[models.fast]\nname = \"x\"\nfallback = \"nope\"\n",
                Origin::Default,
            )
            .unwrap()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("models.fast.fallback"), "{err}");
    }

    #[test]
    fn credentials_in_an_endpoint_url_are_redacted() {
        assert_eq!(
            redact_url_credentials("\"https://me:sk-abc@host/v1?x=1\""),
            "\"https://***@host/v1?x=1\""
        );
        assert_eq!(
            redact_url_credentials("\"http://127.0.0.1:11434/v1\""),
            "\"http://127.0.0.1:11434/v1\""
        );
    }

    #[test]
    fn editor_json_merges_and_nulls_are_ignored() {
        let loaded = ConfigBuilder::new()
            .with_json(
                &serde_json::json!({"redline": {"review": {"trigger": "idle", "idle_ms": null}}}),
                Origin::Editor,
            )
            .build()
            .unwrap();
        assert_eq!(loaded.config.review.trigger, Trigger::Idle);
        assert_eq!(loaded.config.review.idle_ms, 1500);
    }
}
