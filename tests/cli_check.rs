//! `redline check` end to end: the real binary in a temporary repository per
//! test. Covers what changes are reviewed, exit codes, bad input and the
//! report formats of SPEC §1 and §3.

#[path = "support/repo.rs"]
mod repo;

use repo::{joined, run, TestRepo};

fn aws_key() -> String {
    joined(&["AKIA", "Z7QW3RT5YU8IOP2L"])
}

// ---- what is reviewed -------------------------------------------------

#[test]
fn new_todo_is_a_suggestion_on_its_own_line() {
    let repo = TestRepo::with_commit(&[("src/main.py", "a = 1\nb = 2\n")]);
    repo.write("src/main.py", "a = 1\n# TODO: wire it up\nb = 2\n");
    let (code, stdout, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 0, "suggestions do not fail by default: {stderr}");
    assert!(
        stdout.contains("suggestion[todo-comment]: New TODO/FIXME"),
        "{stdout}"
    );
    assert!(stdout.contains("--> src/main.py:2:3"), "{stdout}");
    assert!(stdout.contains("2 | # TODO: wire it up"), "{stdout}");
}

#[test]
fn text_output_reads_like_a_compiler_error_with_a_caret_under_the_match() {
    let repo = TestRepo::with_commit(&[("app.js", "let a = 1;\n")]);
    repo.write("app.js", "let a = 1;\nif (a) { console.log(a); }\n");
    let (_, stdout, _) = repo.run_check(&["--offline"]);
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("suggestion[debug-console-log]"))
        .expect("header line");
    assert_eq!(lines[at + 1].trim_start(), "--> app.js:2:10");
    assert_eq!(lines[at + 3], "2 | if (a) { console.log(a); }");
    assert_eq!(lines[at + 4], "  |          ^^^^^^^^^^^^");
    assert!(
        stdout.contains("redline: 1 finding(s) (0 critical, 0 warning, 1 suggestion)"),
        "{stdout}"
    );
}

#[test]
fn findings_never_point_at_unchanged_lines() {
    let old = "# TODO: old promise\nconsole = 1\nprint(\"old debug\")\n";
    let repo = TestRepo::with_commit(&[("tool.py", old)]);
    repo.write("tool.py", format!("{old}print(\"new\")\n"));
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines(), vec![("debug-print".into(), 4)]);
}

#[test]
fn a_clean_tree_has_no_findings_and_exits_zero() {
    let repo = TestRepo::with_commit(&[("tool.py", "print(\"committed\")\n")]);
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["findings"], serde_json::json!([]));
    assert_eq!(run.json()["verdict"], "approved");
}

#[test]
fn repository_without_commits_treats_every_file_as_added() {
    let repo = TestRepo::new();
    repo.write("a.py", "x = 1\nbreakpoint()\n");
    repo.write("b.js", "debugger;\n");
    repo.git(&["add", "a.py"]);
    let run = repo.check_json(&["--offline"]);
    let mut found = run.rules_and_lines();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("debug-breakpoint".into(), 2),
            ("debug-debugger-statement".into(), 1)
        ]
    );
}

#[test]
fn untracked_file_is_reviewed_and_ignored_file_is_not() {
    let repo = TestRepo::with_commit(&[(".gitignore", "build/\n")]);
    repo.write("new.js", "console.log(1);\n");
    repo.write("build/out.js", "console.log(2);\n");
    let run = repo.check_json(&["--offline"]);
    let paths: Vec<_> = run.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    assert_eq!(paths, vec!["new.js"]);
}

#[test]
fn renamed_file_is_reported_under_its_new_name_and_only_for_its_edits() {
    let body: String = (1..=20).map(|i| format!("value_{i} = {i}\n")).collect();
    let old = format!("# TODO: pre-existing\n{body}");
    let repo = TestRepo::with_commit(&[("old_name.py", &old)]);
    repo.git(&["mv", "old_name.py", "new_name.py"]);
    repo.write("new_name.py", format!("{old}print(\"added\")\n"));
    let run = repo.check_json(&["--offline"]);
    let findings = run.json()["findings"].clone();
    assert_eq!(
        findings.as_array().expect("findings").len(),
        1,
        "{findings}"
    );
    assert_eq!(findings[0]["path"], "new_name.py");
    assert_eq!(findings[0]["line"], 22);
}

#[test]
fn unstaged_move_is_a_rename_too() {
    let body: String = (1..=20).map(|i| format!("value_{i} = {i}\n")).collect();
    let old = format!("# TODO: pre-existing\n{body}");
    let repo = TestRepo::with_commit(&[("a.py", &old)]);
    repo.remove("a.py");
    repo.write("b.py", &old);
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines(), vec![]);
}

#[test]
fn deleted_file_has_no_findings() {
    let repo = TestRepo::with_commit(&[("gone.py", "print(\"x\")\n"), ("kept.txt", "k\n")]);
    repo.remove("gone.py");
    let run = repo.check_json(&["--offline", "--fail-on", "suggestion"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.rules_and_lines(), vec![]);
}

#[test]
fn file_removed_from_the_index_but_kept_on_disk_is_still_reviewed() {
    let repo = TestRepo::with_commit(&[("conf.py", "x = 1\n")]);
    repo.write("conf.py", "x = 1\ny = eval(s)\n");
    repo.git(&["rm", "-q", "--cached", "conf.py"]);
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines(), vec![("danger-eval".into(), 2)]);
}

#[test]
fn staged_and_unstaged_changes_are_both_reviewed() {
    let repo = TestRepo::with_commit(&[("a.py", "a = 1\n"), ("b.py", "b = 1\n")]);
    repo.write("a.py", "a = 1\nprint(a)\n");
    repo.git(&["add", "a.py"]);
    repo.write("b.py", "b = 1\nprint(b)\n");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines().len(), 2, "{}", run.stdout);
}

#[test]
fn crlf_file_at_head_rewritten_with_lf_only_flags_the_new_line() {
    let repo = TestRepo::with_commit(&[("win.js", "let a = 1;\r\nconsole.log(a);\r\n")]);
    repo.write("win.js", "let a = 1;\nconsole.log(a);\nconsole.log(2);\n");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines(), vec![("debug-console-log".into(), 3)]);
}

#[test]
fn adding_a_final_newline_changes_nothing_reviewable() {
    let repo = TestRepo::with_commit(&[("a.py", "print(1)")]);
    repo.write("a.py", "print(1)\n");
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
}

#[test]
fn new_last_line_without_final_newline_is_reviewed() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write("a.py", "x = 1\nprint(x)");
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![("debug-print".into(), 2)]
    );
}

#[test]
fn invalid_utf8_is_reviewed_lossily_without_a_crash() {
    let repo = TestRepo::with_commit(&[("latin1.py", "x = 1\n")]);
    repo.write("latin1.py", b"x = 1\nname = \"caf\xe9\"\nprint(name)\n");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.rules_and_lines(), vec![("debug-print".into(), 3)]);
}

#[test]
fn column_counts_characters_after_non_bmp_text() {
    let repo = TestRepo::with_commit(&[("a.js", "\n")]);
    repo.write("a.js", "\nconst s = \"😀😀\"; console.log(s);\n");
    let report = repo.check_json(&["--offline"]).json();
    // `const s = "😀😀"; ` is 16 characters (but 18 UTF-16 units).
    assert_eq!(report["findings"][0]["column"], 17);
}

#[test]
fn file_with_nul_bytes_is_skipped_as_binary_with_a_note() {
    let repo = TestRepo::with_commit(&[("data.bin", "old\n")]);
    repo.write("data.bin", b"TODO\0\x01\x02 console.log(1)\n");
    repo.write("a.py", "print(1)\n");
    let run = repo.check_json(&["--offline"]);
    let report = run.json();
    assert_eq!(run.rules_and_lines(), vec![("debug-print".into(), 1)]);
    assert_eq!(report["skipped"][0]["path"], "data.bin");
    assert!(
        report["skipped"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("binary"),
        "{report}"
    );
    let text = repo.check(&["--offline"]);
    assert!(
        text.stdout.contains("note: skipped data.bin: binary"),
        "{}",
        text.stdout
    );
}

#[test]
fn deleted_binary_file_is_not_listed_as_skipped() {
    let repo = TestRepo::with_commit(&[("kept.txt", "k\n")]);
    repo.write("data.bin", b"\0\x01\x02 binary\n");
    repo.commit("binary");
    repo.remove("data.bin");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.json()["skipped"],
        serde_json::json!([]),
        "{}",
        run.stdout
    );
    let text = repo.check(&["--offline"]);
    assert!(!text.stdout.contains("skipped"), "{}", text.stdout);
}

#[test]
fn deleted_file_over_the_size_limit_is_not_listed_as_skipped() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nmax_file_bytes = 10\n")]);
    repo.write("big.txt", "x".repeat(100));
    repo.commit("big");
    repo.remove("big.txt");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(
        run.json()["skipped"],
        serde_json::json!([]),
        "{}",
        run.stdout
    );
}

#[test]
fn fifty_megabyte_file_is_skipped_over_the_size_limit_and_the_rest_reviewed() {
    let repo = TestRepo::with_commit(&[("small.py", "x = 1\n")]);
    let line = "console.log('a long generated line of text');\n";
    repo.write("huge.js", line.repeat(50 * 1024 * 1024 / line.len() + 1));
    repo.write("small.py", "x = 1\nprint(x)\n");
    let run = repo.check_json(&["--offline"]);
    let report = run.json();
    assert_eq!(run.rules_and_lines(), vec![("debug-print".into(), 2)]);
    assert_eq!(report["skipped"][0]["path"], "huge.js");
    assert!(
        report["skipped"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("max_file_bytes"),
        "{report}"
    );
}

#[test]
fn size_limit_comes_from_the_repository_config() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nmax_file_bytes = 10\n")]);
    repo.write("a.py", "print('more than ten bytes')\n");
    let report = repo.check_json(&["--offline"]).json();
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["skipped"][0]["path"], "a.py");
}

#[test]
fn excluded_paths_are_skipped_with_a_note() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nexclude = [\"vendor/**\"]\n")]);
    repo.write("vendor/lib.js", "console.log(1);\n");
    let report = repo.check_json(&["--offline"]).json();
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["skipped"][0]["path"], "vendor/lib.js");
}

// ---- where it runs and what it looks at --------------------------------

#[test]
fn running_from_a_subfolder_reviews_the_whole_repository_with_root_relative_paths() {
    let repo = TestRepo::with_commit(&[("src/deep/a.py", "x = 1\n"), ("b.py", "y = 1\n")]);
    repo.write("src/deep/a.py", "x = 1\nprint(x)\n");
    repo.write("b.py", "y = 1\nprint(y)\n");
    let out = run(repo.redline_in(
        &repo.path("src/deep"),
        &["check", "--offline", "--format", "json"],
    ));
    let mut paths: Vec<String> = out.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["b.py", "src/deep/a.py"]);
}

#[test]
fn paths_restrict_the_review_relative_to_the_current_folder() {
    let repo = TestRepo::with_commit(&[("src/a.py", "x = 1\n"), ("src/b.py", "y = 1\n")]);
    repo.write("src/a.py", "x = 1\nprint(x)\n");
    repo.write("src/b.py", "y = 1\nprint(y)\n");
    repo.write("other.py", "print(0)\n");
    let from_src = run(repo.redline_in(
        &repo.path("src"),
        &["check", "--offline", "--format", "json", "b.py"],
    ));
    assert_eq!(from_src.json()["findings"][0]["path"], "src/b.py");
    assert_eq!(
        from_src.json()["findings"].as_array().map(Vec::len),
        Some(1)
    );

    let folder = repo.check_json(&["--offline", "src"]);
    assert_eq!(folder.rules_and_lines().len(), 2, "{}", folder.stdout);
}

#[test]
fn a_path_with_glob_characters_means_that_file_only() {
    let repo = TestRepo::with_commit(&[("x.txt", "\n")]);
    repo.write("a[1].py", "print(1)\n");
    repo.write("a1.py", "print(2)\n");
    let report = repo.check_json(&["--offline", "a[1].py"]).json();
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["findings"][0]["path"], "a[1].py");
}

#[test]
fn a_deleted_file_can_be_named_on_the_command_line() {
    let repo = TestRepo::with_commit(&[("gone.py", "x = 1\n")]);
    repo.remove("gone.py");
    let run = repo.check(&["--offline", "gone.py"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn base_revision_includes_committed_changes_since_it() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write("a.py", "x = 1\nprint(x)\n");
    repo.commit("second");
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
    assert_eq!(
        repo.check_json(&["--offline", "--base", "HEAD~1"])
            .rules_and_lines(),
        vec![("debug-print".into(), 2)]
    );
}

#[test]
fn a_repository_given_as_path_is_found_from_outside_it() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write("a.py", "x = 1\nprint(x)\n");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let target = repo.root().join("a.py");
    let out = run(repo.redline_in(
        elsewhere.path(),
        &[
            "check",
            "--offline",
            "--format",
            "json",
            target.to_str().expect("utf-8 path"),
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["findings"][0]["path"], "a.py");
}

// ---- exit codes --------------------------------------------------------

fn repo_with(path: &str, line: &str) -> TestRepo {
    let repo = TestRepo::with_commit(&[(path, "\n")]);
    repo.write(path, format!("\n{line}\n"));
    repo
}

#[test]
fn critical_finding_exits_one_by_default() {
    let repo = repo_with("deploy.sh", &format!("KEY={}", aws_key()));
    let (code, stdout, _) = repo.run_check(&["--offline"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("critical[secret-aws-access-key]"),
        "{stdout}"
    );
}

#[test]
fn warning_exits_zero_by_default_and_one_with_fail_on_warning() {
    let repo = repo_with("a.py", "eval(s)");
    assert_eq!(repo.run_check(&["--offline"]).0, 0);
    assert_eq!(repo.run_check(&["--offline", "--fail-on", "warning"]).0, 1);
    assert_eq!(repo.run_check(&["--offline", "--fail-on", "critical"]).0, 0);
}

#[test]
fn suggestion_fails_only_with_fail_on_suggestion() {
    let repo = repo_with("a.py", "print(1)");
    assert_eq!(repo.run_check(&["--offline", "--fail-on", "warning"]).0, 0);
    assert_eq!(
        repo.run_check(&["--offline", "--fail-on", "suggestion"]).0,
        1
    );
}

#[test]
fn fail_on_never_exits_zero_even_with_a_leaked_key() {
    let repo = repo_with("deploy.sh", &format!("KEY={}", aws_key()));
    let run = repo.check_json(&["--offline", "--fail-on", "never"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["verdict"], "significant_concerns");
}

#[test]
fn unknown_flag_value_is_a_usage_error_with_exit_two() {
    let repo = TestRepo::with_commit(&[("a", "\n")]);
    let (code, stdout, stderr) = repo.run_check(&["--fail-on", "sometimes"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("sometimes"), "{stderr}");
    assert_eq!(repo.run_check(&["--format", "xml"]).0, 2);
}

// ---- bad input: one clear line, exit 2, no panic -----------------------

fn assert_one_clear_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("redline: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn outside_a_repository_is_exit_two_with_a_hint() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().expect("temp dir");
    let out = run(repo.redline_in(outside.path(), &["check"]));
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert_one_clear_error(&out.stderr, "not inside a git repository");
    assert!(out.stderr.contains("git init"), "{}", out.stderr);
}

#[test]
fn unknown_base_revision_is_exit_two_naming_it() {
    let repo = TestRepo::with_commit(&[("a", "\n")]);
    let (code, _, stderr) = repo.run_check(&["--base", "no-such-branch"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "unknown revision `no-such-branch`");
}

#[test]
fn base_other_than_head_in_a_repository_without_commits_is_unknown() {
    let repo = TestRepo::new();
    repo.write("a.py", "print(1)\n");
    let (code, _, stderr) = repo.run_check(&["--base", "HEAD~1"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "unknown revision");
}

#[test]
fn malformed_repository_config_is_exit_two_naming_file_and_line() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nidle_ms = \n")]);
    let (code, stdout, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_one_clear_error(&stderr, ".redline.toml:2:");
}

#[test]
fn unknown_config_key_is_exit_two_naming_the_key() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\ntriger = \"save\"\n")]);
    let (code, _, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "triger");
}

#[test]
fn wrongly_typed_config_value_is_exit_two() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nidle_ms = \"soon\"\n")]);
    let (code, _, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, ".redline.toml:2: `review.idle_ms`");
}

#[test]
fn missing_config_file_given_with_flag_is_exit_two() {
    let repo = TestRepo::with_commit(&[("a", "\n")]);
    let (code, _, stderr) = repo.run_check(&["--config", "nope.toml"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "nope.toml");
}

#[test]
fn config_flag_replaces_the_repository_file() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nexclude = [\"*.py\"]\n")]);
    repo.write("ci.toml", "[review]\nexclude = []\n");
    repo.write("a.py", "print(1)\n");
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
    assert_eq!(
        repo.check_json(&["--offline", "--config", "ci.toml"])
            .rules_and_lines(),
        vec![("debug-print".into(), 1)]
    );
}

#[test]
fn path_that_does_not_exist_is_exit_two() {
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    let (code, _, stderr) = repo.run_check(&["--offline", "typo.py"]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "typo.py does not exist");
}

#[test]
fn path_outside_the_repository_is_exit_two() {
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    let outside = tempfile::tempdir().expect("temp dir");
    let file = outside.path().join("x.py");
    std::fs::write(&file, "print(1)\n").expect("write");
    let (code, _, stderr) = repo.run_check(&["--offline", file.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert_one_clear_error(&stderr, "outside the repository");
}

#[test]
fn file_deleted_between_listing_and_reading_is_skipped_with_a_note() {
    use redline::git::Repo;
    use redline::review::ChangeSet;
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write("a.py", "x = 1\nprint(x)\n");
    repo.write("b.py", "print(2)\n");
    let git = Repo::discover(&repo.root()).expect("repository");
    let base = git.resolve_base("HEAD").expect("HEAD");
    let listed = git.changed_paths(&base, &[]).expect("listing");
    assert_eq!(listed.len(), 2);
    repo.remove("b.py");
    let set = ChangeSet::from_changed_paths(&git, &base, listed, &Default::default())
        .expect("reading does not fail");
    assert_eq!(set.files.len(), 1);
    assert_eq!(set.skipped[0].path, "b.py");
    assert!(
        set.skipped[0].reason.contains("deleted"),
        "{:?}",
        set.skipped
    );
}

// ---- report formats ----------------------------------------------------

#[test]
fn json_report_has_every_key_of_the_spec() {
    let repo = repo_with("a.py", "print(1)");
    let report = repo.check_json(&["--offline"]).json();
    for key in ["verdict", "tier", "findings", "usage", "degraded"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert_eq!(report["verdict"], "approved_with_comments");
    assert_eq!(report["tier"], "trivial");
    let finding = &report["findings"][0];
    for key in [
        "path",
        "line",
        "end_line",
        "column",
        "severity",
        "reviewer",
        "title",
        "message",
        "fingerprint",
        "fix",
    ] {
        assert!(finding.get(key).is_some(), "missing {key}: {finding}");
    }
    assert_eq!(finding["path"], "a.py");
    assert_eq!(finding["line"], 2);
    assert_eq!(finding["end_line"], 2);
    assert_eq!(finding["column"], 1);
    assert_eq!(finding["severity"], "suggestion");
    assert_eq!(finding["reviewer"], "builtin");
    assert!(finding["fingerprint"]
        .as_str()
        .is_some_and(|f| f.len() >= 8 && f.chars().all(|c| c.is_ascii_hexdigit())));
    for key in [
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cached_requests",
        "cost_usd",
    ] {
        assert!(report["usage"].get(key).is_some(), "usage.{key}");
    }
    assert!(report["degraded"].is_array());
}

#[test]
fn json_fix_is_null_when_there_is_no_fix() {
    let repo = repo_with("a.py", "# TODO: x");
    let report = repo.check_json(&["--offline"]).json();
    assert_eq!(report["findings"][0]["fix"], serde_json::Value::Null);
}

#[test]
fn verdict_follows_the_worst_finding() {
    assert_eq!(
        repo_with("a.py", "eval(x)")
            .check_json(&["--offline"])
            .json()["verdict"],
        "minor_issues"
    );
    assert_eq!(
        repo_with("a.py", &format!("k = \"{}\"", aws_key()))
            .check_json(&["--offline"])
            .json()["verdict"],
        "significant_concerns"
    );
}

#[test]
fn sarif_report_is_version_2_1_0_with_rules_and_located_results() {
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    repo.write("a.py", "\nprint(1)\neval(s)\n");
    let run = repo.check(&["--offline", "--format", "sarif"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"]
        .as_str()
        .is_some_and(|s| s.contains("sarif")));
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "redline");
    let rule_ids: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("rule id"))
        .collect();
    assert_eq!(rule_ids, vec!["danger-eval", "debug-print"]);
    let results = run0["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let print = results
        .iter()
        .find(|r| r["ruleId"] == "debug-print")
        .expect("print result");
    assert_eq!(print["level"], "note");
    let eval = results
        .iter()
        .find(|r| r["ruleId"] == "danger-eval")
        .expect("eval result");
    assert_eq!(eval["level"], "warning");
    let location = &eval["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "a.py");
    assert_eq!(location["region"]["startLine"], 3);
    assert_eq!(location["region"]["startColumn"], 1);
    assert!(eval["partialFingerprints"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    assert!(eval["message"]["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}

#[test]
fn fingerprint_stays_the_same_when_the_finding_moves_to_another_line() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write("a.py", "x = 1\n# TODO: cache this\n");
    let before = repo.check_json(&["--offline"]).json()["findings"][0].clone();
    repo.write("a.py", "x = 1\ny = 2\nz = 3\n# TODO: cache this\n");
    let after = repo.check_json(&["--offline"]).json()["findings"][0].clone();
    assert_eq!(before["line"], 2);
    assert_eq!(after["line"], 4);
    assert_eq!(before["fingerprint"], after["fingerprint"]);

    repo.write("a.py", "x = 1\n# TODO: cache that\n");
    let changed = repo.check_json(&["--offline"]).json()["findings"][0].clone();
    assert_ne!(before["fingerprint"], changed["fingerprint"]);
}

// ---- offline mode and configuration ------------------------------------

/// An endpoint nobody listens on: a request to it would fail at once.
const DEAD_ENDPOINT: &str = "http://127.0.0.1:9/v1";

#[test]
fn offline_flag_runs_only_the_builtin_reviewer_even_with_an_endpoint() {
    let repo = repo_with("a.py", "print(1)");
    let mut cmd = repo.redline(&["check", "--offline", "--format", "json"]);
    cmd.env("REDLINE_BASE_URL", DEAD_ENDPOINT);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["degraded"], serde_json::json!([]));
    assert_eq!(report["usage"]["requests"], 0);
    assert_eq!(report["findings"][0]["rule"], "debug-print");
}

#[test]
fn redline_offline_env_is_the_same_as_the_flag() {
    let repo = repo_with("a.py", "print(1)");
    let mut cmd = repo.redline(&["check", "--format", "json"]);
    cmd.env("REDLINE_BASE_URL", DEAD_ENDPOINT)
        .env("REDLINE_OFFLINE", "1");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["degraded"], serde_json::json!([]));
    assert_eq!(out.json()["usage"]["requests"], 0);
}

#[test]
fn no_endpoint_configured_means_builtin_reviewer_without_degradation() {
    let repo = repo_with("a.py", "print(1)");
    let report = repo.check_json(&[]).json();
    assert_eq!(report["degraded"], serde_json::json!([]));
    assert_eq!(report["findings"][0]["rule"], "debug-print");
}

#[test]
fn unreachable_endpoint_is_reported_as_degraded_not_silently_passed() {
    let repo = repo_with("a.py", "print(1)");
    let mut cmd = repo.redline(&["check"]);
    cmd.env("REDLINE_BASE_URL", DEAD_ENDPOINT)
        .env("REDLINE_MODEL", "m");
    let out = run(cmd);
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    assert!(out.stdout.contains("degraded"), "{}", out.stdout);
}

#[test]
fn config_command_shows_values_with_their_origin() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nidle_ms = 700\n")]);
    let mut cmd = repo.redline(&["config"]);
    cmd.env("REDLINE_MODEL", "tiny-model");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line_of = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} in {}", out.stdout))
            .to_string()
    };
    let idle = line_of("review.idle_ms");
    assert!(
        idle.contains("700") && idle.contains(".redline.toml"),
        "{idle}"
    );
    let model = line_of("llm.model");
    assert!(
        model.contains("tiny-model") && model.contains("env REDLINE_MODEL"),
        "{model}"
    );
    assert!(line_of("llm.timeout_s").contains("# default"));
    assert!(out.stdout.contains("offline"), "{}", out.stdout);
}

#[test]
fn config_command_never_prints_the_api_key() {
    let secret = joined(&["sk-secret", "-do-not-print-0123456789abcdef"]);
    let repo = TestRepo::with_commit(&[(
        ".redline.toml",
        "[llm]\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )]);
    let mut cmd = repo.redline(&["config"]);
    cmd.env("REDLINE_API_KEY", &secret);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("sk-secret"), "{}", out.stdout);
    assert!(!out.stderr.contains("sk-secret"), "{}", out.stderr);
    assert!(out.stdout.contains("REDLINE_API_KEY is set (redacted)"));
}

#[test]
fn config_command_redacts_credentials_inside_an_endpoint_url() {
    let repo = TestRepo::with_commit(&[("a", "\n")]);
    let mut cmd = repo.redline(&["config"]);
    cmd.env(
        "REDLINE_BASE_URL",
        "https://me:hunter2secret@llm.example/v1",
    );
    let out = run(cmd);
    assert!(!out.stdout.contains("hunter2secret"), "{}", out.stdout);
    assert!(out.stdout.contains("llm.example/v1"), "{}", out.stdout);
}

#[test]
fn check_never_prints_the_api_key() {
    let secret = joined(&["sk-secret", "-do-not-print-0123456789abcdef"]);
    let repo = repo_with("a.py", "print(1)");
    let mut cmd = repo.redline(&["check"]);
    cmd.env("REDLINE_API_KEY", &secret)
        .env("REDLINE_BASE_URL", DEAD_ENDPOINT)
        .env("REDLINE_LOG", "redline=trace");
    let out = run(cmd);
    assert!(!out.stdout.contains("sk-secret"));
    assert!(!out.stderr.contains("sk-secret"));
}

#[test]
fn user_config_file_is_a_layer_below_the_repository_file() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nidle_ms = 700\n")]);
    repo.write_user_config("[review]\nidle_ms = 300\ntrigger = \"idle\"\n");
    let out = run(repo.redline(&["config"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let trigger = out
        .stdout
        .lines()
        .find(|l| l.starts_with("review.trigger = "))
        .expect("trigger row");
    assert!(
        trigger.contains("\"idle\"") && trigger.contains("config.toml"),
        "{trigger}"
    );
    let idle = out
        .stdout
        .lines()
        .find(|l| l.starts_with("review.idle_ms = "))
        .expect("idle row");
    assert!(
        idle.contains("700") && idle.contains(".redline.toml"),
        "{idle}"
    );
}

#[test]
fn malformed_config_makes_config_command_exit_two() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[llm\n")]);
    let out = run(repo.redline(&["config"]));
    assert_eq!(out.code, 2);
    assert_one_clear_error(&out.stderr, ".redline.toml");
}

#[test]
fn file_removed_from_the_index_and_now_ignored_counts_as_deleted() {
    let repo = TestRepo::with_commit(&[("local.py", "x = 1\n")]);
    repo.write("local.py", "x = 1\nprint(x)\n");
    repo.write(".gitignore", "local.py\n");
    repo.git(&["rm", "-q", "--cached", "local.py"]);
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
}

#[test]
fn sarif_uri_of_a_path_with_spaces_is_percent_encoded() {
    let repo = TestRepo::with_commit(&[("x", "\n")]);
    repo.write("my dir/a b.py", "print(1)\n");
    let sarif = repo.check(&["--offline", "--format", "sarif"]).json();
    let location = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "my%20dir/a%20b.py");
}

#[test]
fn tier_flag_forces_the_tier_and_sensitive_paths_get_full_review() {
    let repo = repo_with("a.py", "print(1)");
    assert_eq!(repo.check_json(&["--offline"]).json()["tier"], "trivial");
    assert_eq!(
        repo.check_json(&["--offline", "--tier", "full"]).json()["tier"],
        "full"
    );
    let sensitive = repo_with("src/auth/login.py", "print(1)");
    assert_eq!(sensitive.check_json(&["--offline"]).json()["tier"], "full");
}

#[test]
fn config_command_works_outside_a_repository() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().expect("temp dir");
    let out = run(repo.redline_in(outside.path(), &["config"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("not inside a git repository"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("review.trigger = \"save\""));
}

#[test]
fn github_format_prints_one_workflow_annotation_per_finding() {
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    repo.write("a.py", "\nprint(1)\neval(s)\n");
    let run = repo.check(&["--offline", "--format", "github"]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("::notice file=a.py,line=2,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("::warning file=a.py,line=3,"),
        "{}",
        lines[1]
    );
}

#[test]
fn many_findings_in_one_file_each_quote_their_own_line() {
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    let body: String = (1..=30).map(|i| format!("print({i})\n")).collect();
    repo.write("a.py", format!("\n{body}"));
    let (_, stdout, _) = repo.run_check(&["--offline"]);
    for i in 1..=30 {
        assert!(
            stdout.contains(&format!("{} | print({i})\n", i + 1)),
            "line {} quoted",
            i + 1
        );
    }
}

#[test]
fn dot_in_a_subfolder_means_that_subfolder() {
    let repo = TestRepo::with_commit(&[("src/a.py", "\n"), ("b.py", "\n")]);
    repo.write("src/a.py", "\nprint(1)\n");
    repo.write("b.py", "\nprint(2)\n");
    let out = run(repo.redline_in(
        &repo.path("src"),
        &["check", "--offline", "--format", "json", "."],
    ));
    let findings = out.json()["findings"].clone();
    assert_eq!(findings.as_array().map(Vec::len), Some(1), "{findings}");
    assert_eq!(findings[0]["path"], "src/a.py");
}

#[cfg(unix)]
#[test]
fn changed_symlink_is_compared_by_its_target_without_a_crash() {
    let repo = TestRepo::with_commit(&[("real.py", "x = 1\n")]);
    std::os::unix::fs::symlink("real.py", repo.path("link.py")).expect("symlink");
    repo.commit("link");
    repo.remove("link.py");
    std::os::unix::fs::symlink("elsewhere.py", repo.path("link.py")).expect("symlink");
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.rules_and_lines(), vec![]);
}

#[test]
fn repository_of_a_file_not_yet_on_disk_is_found_with_its_relative_path() {
    use redline::git::Repo;
    let repo = TestRepo::with_commit(&[("a.py", "\n")]);
    let unsaved = repo.root().join("new/dir/buffer.rs");
    let git = Repo::discover(&unsaved).expect("found from the nearest folder");
    assert_eq!(git.root(), repo.root());
    assert_eq!(
        git.relative_path(&unsaved).as_deref(),
        Some("new/dir/buffer.rs")
    );
}

#[test]
fn help_lists_exit_codes_formats_and_environment() {
    let repo = TestRepo::with_commit(&[("a.py", "a = 1\n")]);
    let check = run(repo.redline_in(&repo.path(""), &["check", "--help"]));
    assert_eq!(check.code, 0);
    for needle in [
        "Exit codes:",
        "2  usage, configuration",
        "github",
        "--base <REV>",
    ] {
        assert!(check.stdout.contains(needle), "{needle}: {}", check.stdout);
    }
    let top = run(repo.redline_in(&repo.path(""), &["--help"]));
    for needle in [
        "REDLINE_BASE_URL",
        "REDLINE_API_KEY",
        "REDLINE_LOG",
        "redline init",
    ] {
        assert!(top.stdout.contains(needle), "{needle}: {}", top.stdout);
    }
}

#[test]
fn carets_stay_under_the_match_after_emoji_and_cjk_text() {
    let repo = TestRepo::with_commit(&[("a.js", "\n")]);
    repo.write("a.js", "\nconst s = \"😀漢\"; console.log(s);\n");
    let (_, stdout, _) = repo.run_check(&["--offline"]);
    // `const s = "😀漢"; ` is 16 characters but 18 terminal cells.
    assert!(
        stdout.contains(&format!(
            "2 | const s = \"😀漢\"; console.log(s);\n  | {}^^^^^^^^^^^^\n",
            " ".repeat(18)
        )),
        "{stdout}"
    );
}

#[test]
fn a_base_url_that_is_not_a_url_is_a_configuration_error() {
    let repo = TestRepo::with_commit(&[("a.py", "a = 1\n")]);
    repo.write("a.py", "a = 2\n");
    let mut cmd = repo.redline(&["check"]);
    cmd.env("REDLINE_BASE_URL", "localhost:11434/v1")
        .env("REDLINE_MODEL", "m");
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.starts_with(
            "redline: error: env REDLINE_BASE_URL: `llm.base_url`: found `localhost:11434/v1`, which is not an http(s) URL"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

// ---- repositories as they are: submodules, long lines, generated files ----

/// A repository whose `HEAD` has a submodule at `sub` (a second repository
/// with one commit).
fn repo_with_submodule() -> (TestRepo, TestRepo) {
    let upstream = TestRepo::with_commit(&[("lib.py", "x = 1\n")]);
    let repo = TestRepo::with_commit(&[("main.py", "a = 1\n")]);
    add_submodule(&repo, &upstream, "sub");
    repo.commit("add submodule");
    (repo, upstream)
}

fn add_submodule(repo: &TestRepo, upstream: &TestRepo, at: &str) {
    let url = upstream.root().to_string_lossy().into_owned();
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &url,
        at,
    ]);
}

/// Every `skipped` entry of a JSON report as `(path, reason)`.
fn skipped(run: &repo::Run) -> Vec<(String, String)> {
    run.json()["skipped"]
        .as_array()
        .expect("skipped is an array")
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn assert_skipped_as_submodule(run: &repo::Run, path: &str) {
    assert_eq!(run.code, 0, "exit {}: {}", run.code, run.stderr);
    let skipped = skipped(run);
    assert!(
        skipped
            .iter()
            .any(|(p, reason)| p == path && reason.starts_with("submodule")),
        "{path} not skipped as a submodule: {skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .all(|(_, reason)| reason.starts_with("submodule")),
        "{skipped:?}"
    );
}

#[test]
fn removed_submodule_is_skipped_with_a_note_not_a_repository_error() {
    let (repo, _upstream) = repo_with_submodule();
    repo.git(&["rm", "-q", "sub"]);
    let run = repo.check(&["--offline", "--format", "json"]);
    assert_skipped_as_submodule(&run, "sub");
}

#[test]
fn added_submodule_is_skipped_with_a_note() {
    let upstream = TestRepo::with_commit(&[("lib.py", "x = 1\n")]);
    let repo = TestRepo::with_commit(&[("main.py", "a = 1\n")]);
    add_submodule(&repo, &upstream, "vendor/lib");
    let run = repo.check(&["--offline", "--format", "json"]);
    assert_skipped_as_submodule(&run, "vendor/lib");
    let text = repo.check(&["--offline"]);
    assert!(
        text.stdout.contains("note: skipped vendor/lib: submodule"),
        "{}",
        text.stdout
    );
}

#[test]
fn submodule_moved_to_another_commit_is_skipped_with_a_note() {
    let (repo, upstream) = repo_with_submodule();
    upstream.write("lib.py", "x = 2\n");
    upstream.commit("two");
    TestRepo::git_in(&repo.path("sub"), &["pull", "-q", "origin", "main"]);
    repo.git(&["add", "sub"]);
    let run = repo.check(&["--offline", "--format", "json"]);
    assert_skipped_as_submodule(&run, "sub");
}

#[test]
fn moved_submodule_is_skipped_with_a_note() {
    let (repo, _upstream) = repo_with_submodule();
    repo.git(&["mv", "sub", "moved"]);
    let run = repo.check(&["--offline", "--format", "json"]);
    assert_skipped_as_submodule(&run, "moved");
}

#[test]
fn secret_on_a_line_over_four_thousand_bytes_is_still_found() {
    let repo = TestRepo::with_commit(&[("README.md", "x\n")]);
    let line = format!(
        "{{\"p\":\"{}\",\"k\":\"{}\"}}\n",
        "a".repeat(4000),
        aws_key()
    );
    repo.write("data.json", &line);
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.code, 1, "a leaked key fails the check: {}", run.stdout);
    assert_eq!(
        run.rules_and_lines(),
        vec![("secret-aws-access-key".into(), 1)]
    );
    assert!(
        !run.stdout.contains(&aws_key()),
        "the key is never printed in full"
    );
}

#[test]
fn only_secret_rules_run_on_a_minified_line() {
    let repo = TestRepo::with_commit(&[("README.md", "x\n")]);
    let line = format!("console.log(1);{}\n", "var a=1;".repeat(600));
    repo.write("bundle.js", &line);
    let run = repo.check_json(&["--offline", "--fail-on", "suggestion"]);
    assert_eq!(run.rules_and_lines(), vec![]);
}

#[test]
fn findings_per_file_are_capped_most_severe_first_with_a_note_of_how_many_more() {
    let repo = TestRepo::with_commit(&[("README.md", "x\n")]);
    let mut text: String = (0..120).map(|i| format!("console.log({i});\n")).collect();
    text.push_str(&format!("const key = \"{}\";\n", aws_key()));
    repo.write("gen.js", &text);
    repo.write("small.js", "console.log(1);\n");
    let run = repo.check_json(&["--offline"]);
    let report = run.json();
    let findings = report["findings"].as_array().expect("findings");
    let gen = findings.iter().filter(|f| f["path"] == "gen.js").count();
    assert_eq!(gen, 50);
    assert!(
        findings
            .iter()
            .any(|f| f["path"] == "gen.js" && f["rule"] == "secret-aws-access-key"),
        "the critical finding survives the cap"
    );
    assert_eq!(
        findings.iter().filter(|f| f["path"] == "small.js").count(),
        1
    );
    assert_eq!(
        report["truncated"],
        serde_json::json!([{"path": "gen.js", "shown": 50, "more": 71}])
    );
    assert_eq!(run.code, 1);
    let text = repo.check(&["--offline"]);
    assert!(
        text.stdout.contains("gen.js: 71 more finding(s) not shown"),
        "{}",
        text.stdout
    );
}

#[test]
fn every_credential_in_a_file_is_reported_past_the_per_file_cap() {
    let repo = TestRepo::with_commit(&[("README.md", "x\n")]);
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ234567";
    let mut text: String = (0..10).map(|i| format!("console.log({i});\n")).collect();
    for i in 0..60 {
        let tail = [ALPHABET[i % 30] as char, ALPHABET[i / 30 + 5] as char];
        let key = joined(&["AKIA", "Z7QW3RT5YU8IOP", &String::from_iter(tail)]);
        text.push_str(&format!("const key{i} = \"{key}\";\n"));
    }
    repo.write("keys.js", &text);
    let run = repo.check_json(&["--offline"]);
    let report = run.json();
    let findings = report["findings"].as_array().expect("findings");
    let keys = findings
        .iter()
        .filter(|f| f["rule"] == "secret-aws-access-key")
        .count();
    assert_eq!(keys, 60, "no credential is cut");
    assert_eq!(
        report["truncated"],
        serde_json::json!([{"path": "keys.js", "shown": 60, "more": 10}])
    );
}

#[test]
fn per_file_cap_comes_from_the_repository_config() {
    let repo = TestRepo::with_commit(&[(".redline.toml", "[review]\nmax_findings_per_file = 3\n")]);
    let text: String = (0..10).map(|i| format!("console.log({i});\n")).collect();
    repo.write("a.js", &text);
    let run = repo.check_json(&["--offline"]);
    assert_eq!(run.json()["findings"].as_array().map(Vec::len), Some(3));
    assert_eq!(run.json()["truncated"][0]["more"], 7);
}

#[test]
fn a_corrupted_head_is_one_line_naming_the_damage_not_an_unknown_revision() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    std::fs::write(repo.path(".git/HEAD"), "garbage\n").expect("corrupt HEAD");
    repo.write("a.py", "x = 2\n");
    let (code, stdout, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_one_clear_error(&stderr, "cannot read HEAD");
    assert!(stderr.contains("git status"), "{stderr}");
    assert!(!stderr.contains("unknown revision"), "{stderr}");
}

// ---- team dismissals ----------------------------------------------------

#[test]
fn a_team_dismissal_committed_with_the_repository_hides_the_finding_from_check() {
    let repo = TestRepo::with_commit(&[("tool.py", "a = 1\n")]);
    repo.write("tool.py", "a = 1\nprint(\"debug\")\n# TODO: later\n");
    let before = repo.check_json(&["--offline"]);
    let findings = before.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 2);
    let print = findings
        .iter()
        .find(|f| f["rule"] == "debug-print")
        .expect("the debug print is found");
    let fp = print["fingerprint"].as_str().unwrap();

    let out = run(repo.redline(&[
        "dismiss",
        "--team",
        fp,
        "--why",
        "the tool prints on purpose",
        "--path",
        "tool.py",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("commit it"), "{}", out.stdout);
    // Readable in a pull request: who, why, and the fingerprint.
    let file = std::fs::read_to_string(repo.path(".redline/dismissed.toml")).unwrap();
    assert!(file.contains("[[dismissed]]"), "{file}");
    assert!(file.contains(&format!("fingerprint = \"{fp}\"")), "{file}");
    assert!(file.contains("who = \"Test <test@example.com>\""), "{file}");
    assert!(
        file.contains("why = \"the tool prints on purpose\""),
        "{file}"
    );

    let after = repo.check_json(&["--offline"]);
    let json = after.json();
    assert_eq!(after.rules_and_lines(), vec![("todo-comment".into(), 3)]);
    assert_eq!(json["team_dismissed"], 1);
    let (_, text, _) = repo.run_check(&["--offline"]);
    assert!(
        text.contains("1 finding(s) dismissed by the team"),
        "{text}"
    );
}

#[test]
fn a_team_dismissal_without_a_reason_is_refused_and_writes_nothing() {
    let repo = TestRepo::with_commit(&[("tool.py", "a = 1\n")]);
    let out = run(repo.redline(&["dismiss", "--team", "0123456789abcdef"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--why"), "{}", out.stderr);
    assert!(!repo.path(".redline/dismissed.toml").exists());
}

#[test]
fn a_broken_team_dismissals_file_fails_check_with_its_name() {
    let repo = TestRepo::with_commit(&[("tool.py", "a = 1\n")]);
    repo.write("tool.py", "a = 1\nprint(\"debug\")\n");
    repo.write(
        ".redline/dismissed.toml",
        "[[dismissed]]\nfingerprint = \"0123\"\nwho = \"Bo\"\n",
    );
    let (code, _, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(".redline/dismissed.toml"), "{stderr}");
    assert!(stderr.contains("why"), "{stderr}");
}

#[test]
fn a_personal_dismissal_goes_to_the_git_folder_not_the_repository() {
    let repo = TestRepo::with_commit(&[("tool.py", "a = 1\n")]);
    let out = run(repo.redline(&["dismiss", "0123456789abcdef"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(repo.path(".git/redline/dismissed.json").exists());
    assert!(!repo.path(".redline/dismissed.toml").exists());
}
