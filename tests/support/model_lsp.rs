//! The language server against the fake model: a repository configured for
//! one model serving every reviewer, and a client with model reviews on.
//! Shared by the LSP tests that need model findings.

use super::fake_openai::{FakeOpenAi, RecordedRequest};
use super::lsp_client::{ClientOptions, LspClient, TestRepo};

/// A repository whose `a.py` is `base` at HEAD and whose `.redline.toml`
/// sends every reviewer to the fake model `fast` (one attempt, no cache).
pub fn repo_with_models(
    fake: &FakeOpenAi,
    base: &str,
    first_token_timeout_s: u32,
    timeout_s: u32,
) -> TestRepo {
    let config = format!(
        r#"[llm]
base_url = "{}"
api_key_env = "REDLINE_TEST_UNSET_KEY"
max_attempts = 1
first_token_timeout_s = {first_token_timeout_s}
timeout_s = {timeout_s}
heartbeat_s = 0.05
[models.fast]
name = "fast-model"
[reviewers]
default = "fast"
coordinator = "fast"
[cache]
enabled = false
"#,
        fake.base_url
    );
    TestRepo::new(&[("a.py", base), (".redline.toml", &config)])
}

/// `redline lsp` on the repository, with model reviews on.
pub fn start(repo: &TestRepo) -> LspClient {
    let mut options = ClientOptions::folder(repo.root());
    options.env.push(("REDLINE_OFFLINE".into(), "0".into()));
    LspClient::start(options)
}

/// The request is the coordinator's judge pass.
pub fn is_coordinator(r: &RecordedRequest) -> bool {
    r.body["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.starts_with("# Review coordinator"))
}
