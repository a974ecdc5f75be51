//! Configuration errors through the real binary: each names where the value
//! was set (file and line, or environment variable), the dotted key, what was
//! found and what is allowed, in one line on stderr with exit code 2.

#[path = "support/repo.rs"]
mod repo;

use repo::TestRepo;

fn config_error(repo: &TestRepo, args: &[&str]) -> String {
    let run = repo.check(args);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    run.stderr
}

fn changed_repo(config: &str) -> TestRepo {
    let repo = TestRepo::with_commit(&[("a.py", "a = 1\n")]);
    repo.write("a.py", "a = 2\n");
    repo.write(".redline.toml", config);
    repo
}

#[test]
fn a_value_of_the_wrong_type_names_file_line_key_and_the_expected_type() {
    let repo = changed_repo("# team settings\n[review]\ntrigger = \"idle\"\nidle_ms = \"fast\"\n");
    let err = config_error(&repo, &["--offline"]);
    assert!(err.contains(".redline.toml:4: `review.idle_ms`"), "{err}");
    assert!(err.contains("string \"fast\", expected u64"), "{err}");
}

#[test]
fn an_unknown_choice_names_the_key_and_the_allowed_values() {
    let repo = changed_repo("[review]\ntrigger = \"sometimes\"\n");
    let err = config_error(&repo, &["--offline"]);
    assert!(err.contains(".redline.toml:2: `review.trigger`"), "{err}");
    assert!(err.contains("`sometimes`"), "{err}");
    assert!(err.contains("`save`") && err.contains("`manual`"), "{err}");
}

#[test]
fn a_misspelt_key_is_named_with_its_line() {
    let repo = changed_repo("[llm]\ntimeout_s = 5\nfirst_token_timout_s = 3\n");
    let err = config_error(&repo, &["--offline"]);
    assert!(
        err.contains(".redline.toml:3: `llm.first_token_timout_s`"),
        "{err}"
    );
    assert!(
        err.contains("first_token_timeout_s"),
        "lists the allowed keys: {err}"
    );
}

#[test]
fn a_bad_base_url_in_the_repository_file_blames_the_file_not_the_environment() {
    let repo = changed_repo("[llm]\nbase_url = \"localhost:11434/v1\"\nmodel = \"m\"\n");
    let err = config_error(&repo, &[]);
    assert!(err.contains(".redline.toml: `llm.base_url`"), "{err}");
    assert!(!err.contains("REDLINE_BASE_URL"), "{err}");
    assert!(err.contains("not an http(s) URL"), "{err}");
}

#[test]
fn a_toml_syntax_error_names_the_line_and_does_not_send_the_user_to_redline_config() {
    let repo = changed_repo("[review]\ntrigger = \"save\"\nidle_ms = 15 00\n");
    let err = config_error(&repo, &["--offline"]);
    assert!(err.contains(".redline.toml:3: not valid TOML"), "{err}");
    assert!(!err.contains("redline config"), "{err}");
}
