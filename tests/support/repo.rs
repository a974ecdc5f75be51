//! A throwaway git repository for end-to-end tests of the `redline` binary.
//! Built with the `git` CLI (what users have), isolated from the machine's
//! own git and redline configuration so that tests see only what they set up.
#![allow(dead_code)] // each test binary uses a different part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The outcome of one `redline` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Self {
        Self {
            // A signal (a crash) has no code; -1 keeps it distinct from 0/1/2.
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The stdout parsed as JSON (`--format json|sarif`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// `(rule, line)` of every finding in a JSON report.
    pub fn rules_and_lines(&self) -> Vec<(String, u64)> {
        self.json()["findings"]
            .as_array()
            .expect("findings is an array")
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap_or_default().to_string(),
                    f["line"].as_u64().expect("line is a number"),
                )
            })
            .collect()
    }
}

/// A temporary repository with a working tree. Dropped with its folder.
pub struct TestRepo {
    dir: tempfile::TempDir,
    /// Holds `$HOME` and `$XDG_CONFIG_HOME` for every command.
    home: tempfile::TempDir,
}

impl TestRepo {
    /// `git init` with no commits yet.
    pub fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            home: tempfile::tempdir().expect("temp home"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.git(&["config", "user.name", "Test"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        repo
    }

    /// A repository whose `HEAD` holds `files` (`(path, content)`).
    pub fn with_commit(files: &[(&str, &str)]) -> Self {
        let repo = Self::new();
        for (path, content) in files {
            repo.write(path, content);
        }
        repo.commit("base");
        repo
    }

    /// A repository whose `HEAD` holds `src/app.py` (thirty assignments)
    /// and `.redline.toml` = `config`, with one line of `src/app.py`
    /// changed in the working tree (`x15 = total / count`).
    pub fn with_changed_app(config: &str) -> Self {
        let old: String = (1..=30).map(|i| format!("x{i} = {i}\n")).collect();
        let repo = Self::with_commit(&[("src/app.py", &old), (".redline.toml", config)]);
        repo.write(
            "src/app.py",
            old.replace("x15 = 15\n", "x15 = total / count\n"),
        );
        repo
    }

    /// The working-tree root (canonical).
    pub fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().expect("root exists")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The user configuration folder (`$XDG_CONFIG_HOME`) redline sees.
    pub fn xdg_config_home(&self) -> PathBuf {
        self.home.path().join("config")
    }

    /// Writes `$XDG_CONFIG_HOME/redline/config.toml`.
    pub fn write_user_config(&self, content: &str) {
        let dir = self.xdg_config_home().join("redline");
        std::fs::create_dir_all(&dir).expect("create config folder");
        std::fs::write(dir.join("config.toml"), content).expect("write user config");
    }

    /// Writes a file (creating folders), bytes exactly as given.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(&path, content).expect("write file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).expect("remove file");
    }

    /// Runs git in the repository; panics with its stderr when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        git_at(self.dir.path(), self.home.path(), args)
    }

    /// Runs git in `dir` (a submodule's folder, say), isolated like [`git`](Self::git).
    pub fn git_in(dir: &Path, args: &[&str]) -> String {
        git_at(dir, dir, args)
    }

    /// Stages everything and commits it.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// `redline ARGS` in the repository root, with a clean environment.
    pub fn redline(&self, args: &[&str]) -> Command {
        self.redline_in(self.dir.path(), args)
    }

    /// `redline ARGS` in `cwd` (which may be outside the repository).
    pub fn redline_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redline"));
        cmd.args(args)
            .current_dir(cwd)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.xdg_config_home())
            .env("XDG_CACHE_HOME", self.home.path().join(".cache"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("NO_COLOR", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REDLINE_") {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// `redline check ARGS` in the repository root.
    pub fn run_check(&self, args: &[&str]) -> (i32, String, String) {
        let run = self.check(args);
        (run.code, run.stdout, run.stderr)
    }

    /// `redline check ARGS` in the repository root, as a [`Run`].
    pub fn check(&self, args: &[&str]) -> Run {
        let mut full = vec!["check"];
        full.extend_from_slice(args);
        run(self.redline(&full))
    }

    /// `redline check --format json ARGS` (exit code 0 or 1 expected).
    pub fn check_json(&self, args: &[&str]) -> Run {
        let mut full = vec!["--format", "json"];
        full.extend_from_slice(args);
        let run = self.check(&full);
        assert!(
            run.code == 0 || run.code == 1,
            "check failed with {}: {}",
            run.code,
            run.stderr
        );
        run
    }
}

fn git_at(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", home)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_ALLOW_PROTOCOL", "file")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a prepared command to completion.
pub fn run(mut cmd: Command) -> Run {
    Run::from_output(cmd.output().expect("redline binary runs"))
}

/// A string assembled at run time, so that credential-shaped test inputs do
/// not sit literally in this repository (secret scanners would flag it).
pub fn joined(parts: &[&str]) -> String {
    parts.concat()
}
