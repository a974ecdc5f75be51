//! `redline check --staged` and the pre-commit hook: the index against the
//! base, exactly what the next commit will hold. A secret that is staged is
//! found even when the working tree no longer has it; unstaged edits and
//! untracked files are not reviewed. The hook manifest is checked and run by
//! the real `pre-commit` from PyPI (`scripts/test` installs it).

#[path = "support/repo.rs"]
mod repo;

use repo::{run, Run, TestRepo};
use std::process::Command;

/// An AWS-shaped key, assembled so that this file holds no key-like literal.
fn key() -> String {
    format!("AKIA{}", "Z7QW3RT5YU8IOP2L")
}

fn secret_rules(run: &Run) -> Vec<(String, String)> {
    run.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .filter(|(_, rule)| rule.starts_with("secret"))
        .collect()
}

#[test]
fn a_staged_secret_is_found_though_the_working_tree_no_longer_has_it() {
    let repo = TestRepo::with_commit(&[("app.py", "x = 1\n")]);
    repo.write("app.py", format!("x = 1\nAWS = \"{}\"\n", key()));
    repo.git(&["add", "app.py"]);
    repo.write("app.py", "x = 1\nAWS = os.environ['AWS']\n");

    let staged = repo.check_json(&["--staged", "--offline"]);
    assert_eq!(staged.code, 1, "{}{}", staged.stdout, staged.stderr);
    assert_eq!(secret_rules(&staged).len(), 1, "{}", staged.stdout);
    assert_eq!(secret_rules(&staged)[0].0, "app.py");

    let worktree = repo.check_json(&["--offline"]);
    assert!(secret_rules(&worktree).is_empty(), "{}", worktree.stdout);
}

#[test]
fn unstaged_edits_and_untracked_files_are_not_part_of_a_staged_review() {
    let repo = TestRepo::with_commit(&[("app.py", "x = 1\n")]);
    repo.write("app.py", "x = 2\n");
    repo.git(&["add", "app.py"]);
    repo.write("app.py", format!("x = 2\nAWS = \"{}\"\n", key()));
    repo.write("new.py", format!("AWS = \"{}\"\n", key()));

    let staged = repo.check_json(&["--staged", "--offline"]);
    assert_eq!(staged.code, 0, "{}{}", staged.stdout, staged.stderr);
    assert!(secret_rules(&staged).is_empty(), "{}", staged.stdout);

    let worktree = repo.check_json(&["--offline"]);
    assert_eq!(secret_rules(&worktree).len(), 2, "{}", worktree.stdout);
}

#[test]
fn a_staged_new_file_in_a_repository_without_commits_is_reviewed() {
    let repo = TestRepo::new();
    repo.write("conf.py", format!("AWS = \"{}\"\n", key()));
    repo.git(&["add", "conf.py"]);
    let staged = repo.check_json(&["--staged", "--offline"]);
    assert_eq!(
        secret_rules(&staged),
        vec![("conf.py".to_string(), "secret-aws-access-key".to_string())]
    );
}

fn pre_commit() -> Command {
    let found = Command::new("pre-commit").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "`pre-commit` is not on PATH; run ./scripts/test (it installs it) or `pip install pre-commit`"
    );
    Command::new("pre-commit")
}

#[test]
fn pre_commit_accepts_the_hooks_manifest() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/.pre-commit-hooks.yaml");
    let out = pre_commit()
        .args(["validate-manifest", manifest])
        .output()
        .expect("pre-commit runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The manifest's hook, run by the real pre-commit as a local hook against
/// the binary under test (the published hook has pre-commit build redline
/// with cargo, which would take minutes here).
#[test]
fn the_hook_blocks_a_commit_with_a_staged_secret_and_lets_a_clean_one_through() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.pre-commit-hooks.yaml"
    ))
    .expect("manifest");
    let entry = manifest
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("entry: redline check --staged --offline")
        })
        .map(|rest| format!("check --staged --offline{rest}"))
        .expect("the redline-offline hook runs `redline check --staged --offline`");
    let bin = env!("CARGO_BIN_EXE_redline");

    let repo = TestRepo::with_commit(&[("app.py", "x = 1\n")]);
    repo.write(
        ".pre-commit-config.yaml",
        format!(
            "repos:\n- repo: local\n  hooks:\n  - id: redline-offline\n    name: redline (offline)\n    entry: {bin} {entry}\n    language: system\n    pass_filenames: false\n    always_run: true\n    require_serial: true\n"
        ),
    );
    repo.git(&["add", ".pre-commit-config.yaml"]);
    repo.git(&["commit", "-q", "-m", "hooks"]);
    let home = tempfile::tempdir().expect("pre-commit home");
    let commit = || {
        let mut cmd = pre_commit();
        cmd.args(["run", "--hook-stage", "pre-commit"])
            .current_dir(repo.root())
            .env("PRE_COMMIT_HOME", home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("NO_COLOR", "1")
            .env_remove("REDLINE_BASE_URL");
        run(cmd)
    };

    // Staged secret, clean working tree: blocked, and the key is not echoed.
    repo.write("app.py", format!("x = 1\nAWS = \"{}\"\n", key()));
    repo.git(&["add", "app.py"]);
    repo.write("app.py", "x = 1\n");
    let blocked = commit();
    assert_ne!(blocked.code, 0, "{}{}", blocked.stdout, blocked.stderr);
    assert!(
        blocked.stdout.contains("secret-aws-access-key"),
        "{}",
        blocked.stdout
    );
    assert!(
        !blocked.stdout.contains(&key()),
        "the key is echoed: {}",
        blocked.stdout
    );

    // The secret only in the working tree, a clean change staged: passes.
    repo.write("app.py", "x = 2\n");
    repo.git(&["add", "app.py"]);
    repo.write("app.py", format!("x = 2\nAWS = \"{}\"\n", key()));
    let passed = commit();
    assert_eq!(passed.code, 0, "{}{}", passed.stdout, passed.stderr);
}
