//! `redline init`: writes a commented `.redline.toml` at the repository
//! root. It asks nothing and never overwrites: an existing file is left as
//! it is and the command fails with exit code 2, saying so. The template
//! only documents; every value in it is commented out, so a fresh file
//! changes nothing until the user uncomments a line.

use super::{fail, CliError};
use crate::config::REPO_CONFIG_FILE;
use crate::git::Repo;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Print the template to stdout instead of writing the file.
    #[arg(long)]
    pub stdout: bool,
}

/// The template `redline init` writes. Lines starting with `## ` are prose;
/// lines starting with `# ` are settings that can be uncommented as they
/// are (a test uncomments all of them and loads the result).
pub const TEMPLATE: &str = r##"## redline configuration for this repository (see `redline config` for the
## effective values and where each came from). Every setting below is
## commented out: the value shown is the default or an example. Remove the
## leading "# " of a line to use it. Layers, later wins: built-in defaults,
## $XDG_CONFIG_HOME/redline/config.toml, this file, REDLINE_* environment
## variables, editor settings.
##
## With no endpoint configured redline runs its built-in offline reviewer
## (leaked secrets, debug leftovers, dangerous calls, new TODOs).

[llm]
## An OpenAI-compatible endpoint (Ollama, vLLM, a gateway, a provider).
## Also REDLINE_BASE_URL.
# base_url = "http://127.0.0.1:11434/v1"
## The NAME of the environment variable holding the bearer key. The key
## itself never goes in this file.
# api_key_env = "REDLINE_API_KEY"
## One model for every reviewer; overrides [reviewers]. Also REDLINE_MODEL.
# model = "qwen3-coder:30b"
## Seconds for a whole request, and to wait for the first streamed token.
# timeout_s = 60
# first_token_timeout_s = 15
# connect_timeout_s = 10
## Model requests in flight at once, and an optional rate limit.
# max_concurrency = 8
# requests_per_minute = 60
## Attempts per model for retryable failures (429, 5xx, timeouts), the
## first backoff (doubling per attempt, with jitter) and its ceiling. A
## Retry-After longer than retry_after_max_s fails over instead of waiting.
# max_attempts = 3
# backoff_base_ms = 500
# backoff_max_s = 10
# retry_after_max_s = 30
## Consecutive retryable failures that open a model's circuit, and how long
## it stays open before one probe request.
# breaker_threshold = 5
# breaker_cooldown_s = 30
## Seconds of model silence between "waiting for model… 12 s" progress
## heartbeats in the editor.
# heartbeat_s = 5

## Extra endpoints; a model names one with `provider = "..."`.
# [providers.cloud]
# base_url = "https://api.example.com/v1"
# api_key_env = "CLOUD_API_KEY"
# requests_per_minute = 120

## Models: the name at the provider, the price per million tokens (for the
## cost shown and the daily budget) and the failover chain: when a model
## keeps failing, its `fallback` is asked instead (fast -> steady -> end).
# [models.fast]
# name = "deepseek-v4-flash"
# input_per_mtok = 0.27
# output_per_mtok = 1.10
# fallback = "steady"
# max_tokens = 4096
# context_tokens = 128000
#
# [models.steady]
# name = "qwen3-coder:30b"
# provider = "cloud"
## Served by several providers (regions, a gateway and the provider)?
## `endpoints = ["cloud", "cloud-eu"]` instead of `provider`: each request
## goes to the healthiest, fastest of them.
# input_per_mtok = 0.0
# output_per_mtok = 0.0
#
# [models.strong]
# name = "claude-sonnet-5"
# input_per_mtok = 3.0
# output_per_mtok = 15.0
# fallback = "fast"

## Which model (a key of [models.*]) each reviewer uses. The trivial tier
## runs `general`; `coordinator` merges the others' findings.
# [reviewers]
# coordinator = "strong"
# security = "strong"
# performance = "fast"
# quality = "fast"
# docs = "fast"
# release = "fast"
# general = "fast"

[review]
## When the editor reviews: on "save", on "idle" after idle_ms without
## typing, or only on "manual" request (redline.reviewNow).
# trigger = "save"
# idle_ms = 1500
## Daily spending limit in US dollars; reviews stop at it until tomorrow.
# budget_usd_per_day = 5.0
## Globs never reviewed.
# exclude = ["**/*.lock", "vendor/**", "dist/**"]
## Globs whose content never leaves the machine (never in a prompt).
# never_send = [".env", ".env.*", "**/*.pem", "**/*.key", "**/secrets/**"]
## Files larger than this many bytes are skipped with a note.
# max_file_bytes = 1048576
## Findings shown per file, most severe first; the rest are counted (0: all).
# max_findings_per_file = 50
## Built-in reviewer only, no network. Also REDLINE_OFFLINE=1 or --offline.
# offline = false

[builtin]
## Built-in rules switched off everywhere (rule ids, a family such as
## "secret-*", or "*"); inline, `redline: allow` on the line or the line
## above silences one finding.
# disable = ["todo-comment"]
## Paths where printing is the point: the debug-output rules stay silent
## there. A value replaces the default list (see `redline config`).
# output_paths = ["**/examples/**", "**/scripts/**", "**/src/main.rs"]

# [builtin.disable_in]
## Path glob -> rules switched off there.
# "tests/fixtures/**" = ["secret-*"]

[cache]
## Model answers are cached by a hash of model + prompt.
# enabled = true
## Disk cache folder (default: the user cache directory).
# dir = ".redline/cache"
## Share the cache with a team through Redis instead of the disk.
# redis_url = "redis://127.0.0.1:6379/0"
# ttl_hours = 168
# max_mb = 200

## With cache.redis_url, a team also shares each model's circuit and,
## optionally, a daily budget; Redis down never stops a review.
# [team]
# shared_circuits = true
# budget_usd_per_day = 20.0
# redis_timeout_ms = 20
# redis_retry_ms = 2000

## The model client's numbers in the Prometheus text format, for
## node_exporter's textfile collector (also `check --metrics-file`).
# [metrics]
# textfile = "/var/lib/node_exporter/textfile/redline.prom"
"##;

/// `redline init`.
pub fn init(args: InitArgs) -> ExitCode {
    if args.stdout {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(TEMPLATE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            return fail(CliError::Usage(format!(
                "cannot read the current folder: {e}"
            )))
        }
    };
    match write_template(&cwd) {
        Ok(path) => {
            println!(
                "redline: wrote {}\nnext: uncomment what you need, check it with `redline config`, then run `redline check`",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Writes the template at the root of the repository containing `dir`.
/// Never replaces an existing file, even one created a moment ago.
pub fn write_template(dir: &Path) -> Result<PathBuf, CliError> {
    let repo = Repo::discover(dir)?;
    let path = repo.root().join(REPO_CONFIG_FILE);
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::Usage(format!(
                "{} already exists and was left unchanged; edit it, or delete it and run `redline init` again (`redline init --stdout` prints the template)",
                path.display()
            )))
        }
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot create {}: {e}; check the folder's permissions",
                path.display()
            )))
        }
    };
    file.write_all(TEMPLATE.as_bytes()).map_err(|e| {
        CliError::Usage(format!(
            "cannot write {}: {e}; check the disk and permissions",
            path.display()
        ))
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigBuilder, Origin, Trigger};

    /// The template with every `# setting` line uncommented.
    fn uncommented() -> String {
        TEMPLATE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(setting) if !l.starts_with("## ") => setting,
                _ if l == "#" => "",
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn template_as_written_loads_and_changes_nothing() {
        let loaded = ConfigBuilder::new()
            .with_toml_str(TEMPLATE, Origin::File(REPO_CONFIG_FILE.into()))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(loaded.config, crate::config::Config::default());
    }

    #[test]
    fn every_example_uncommented_loads_with_the_documented_values() {
        let text = uncommented();
        let loaded = ConfigBuilder::new()
            .with_toml_str(&text, Origin::File(REPO_CONFIG_FILE.into()))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .build()
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let c = loaded.config;
        assert_eq!(c.llm.base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert_eq!(c.models["fast"].fallback.as_deref(), Some("steady"));
        assert_eq!(c.models["steady"].provider.as_deref(), Some("cloud"));
        assert_eq!(c.reviewers["coordinator"], "strong");
        assert_eq!(c.review.trigger, Trigger::Save);
        assert_eq!(c.review.budget_usd_per_day, Some(5.0));
        assert_eq!(c.cache.ttl_hours, 168);
    }

    #[test]
    fn template_mentions_every_key_of_the_configuration() {
        let text = uncommented();
        let table: toml::Table = text.parse().unwrap();
        let full = toml::Value::try_from(crate::config::Config::default()).unwrap();
        for section in ["llm", "review", "cache", "team"] {
            let documented = table[section].as_table().unwrap();
            for key in full[section].as_table().unwrap().keys() {
                assert!(
                    documented.contains_key(key),
                    "{section}.{key} is missing from the init template"
                );
            }
        }
        for key in ["base_url", "api_key_env", "requests_per_minute"] {
            assert!(
                table["providers"]["cloud"].get(key).is_some(),
                "providers.cloud.{key}"
            );
        }
        let model_keys = toml::Value::try_from(crate::config::ModelConfig::default()).unwrap();
        let fast = table["models"]["fast"].as_table().unwrap();
        for key in model_keys.as_table().unwrap().keys() {
            if key != "provider" && key != "endpoints" {
                assert!(fast.contains_key(key), "models.fast.{key} is missing");
            }
        }
    }
}
