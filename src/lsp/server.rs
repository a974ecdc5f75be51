//! The protocol handlers: thin, each one translating LSP params into a
//! session call. Document notifications never await (see `session.rs` for
//! why); requests answer at once and leave long work to background tasks.

use super::ask;
use super::commands::{self, Command};
use super::proto::{self, CMD_DISMISS, CMD_DISMISS_TEAM, CMD_EXPLAIN, CMD_REVIEW_NOW, CMD_STATS};
use super::session::{ClientCaps, DismissFailure, Scheduled, Session};
use super::text::EditRange;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

pub struct Server {
    session: Arc<Session>,
    /// Configuration problems found while initializing, shown once the
    /// client is ready for messages.
    startup_problems: std::sync::Mutex<Vec<String>>,
    /// A private folder for explanation documents, removed on exit.
    explain_dir: std::sync::OnceLock<Option<tempfile::TempDir>>,
}

impl Server {
    pub fn new(client: Client) -> Self {
        Self {
            session: Session::new(client),
            startup_problems: std::sync::Mutex::new(Vec::new()),
            explain_dir: std::sync::OnceLock::new(),
        }
    }

    async fn show_problems(&self, problems: Vec<String>) {
        for p in problems {
            self.session
                .client
                .show_message(MessageType::ERROR, p)
                .await;
        }
    }

    fn doc_uri(args: &[serde_json::Value]) -> Result<Uri> {
        let s = args.first().and_then(|v| v.as_str()).ok_or_else(|| {
            Error::invalid_params("expected a document URI string as the first argument")
        })?;
        s.parse::<Uri>()
            .map_err(|_| Error::invalid_params(format!("not a URI: {s}")))
    }

    async fn explain(&self, args: &[serde_json::Value]) -> Result<Option<LSPAny>> {
        let uri = Self::doc_uri(args)?;
        let fingerprint = args.get(1).and_then(|v| v.as_str()).ok_or_else(|| {
            Error::invalid_params("expected a finding fingerprint as the second argument")
        })?;
        let found = self.session.docs.get(&uri).and_then(|doc| {
            let t = doc
                .findings
                .iter()
                .find(|t| t.finding.fingerprint == fingerprint)?;
            let code: String = (t.line..=t.end_line)
                .filter(|l| (*l as usize) < doc.rope.len_lines())
                .map(|l| doc.rope.line(l as usize).to_string())
                .collect();
            Some((t.finding.clone(), code, doc.workspace.clone()?))
        });
        let Some((finding, code, ws)) = found else {
            return Err(Error::invalid_params(
                "no such finding in this document (it may have been fixed or dismissed)",
            ));
        };
        // The model writes the explanation in a task that also shows it: a
        // slow model holds this request's slot for at most `explain_wait()`,
        // then the answer says it is on its way (the editors show the
        // document or message, not this answer).
        let (done, ready) = tokio::sync::oneshot::channel();
        let client = self.session.client.clone();
        let show_document = self.session.caps().show_document;
        let dir = self.explain_dir().map(|d| d.to_path_buf());
        tokio::spawn(async move {
            let explained = ws
                .engine()
                .explain(&finding, &code, CancellationToken::new(), None)
                .await;
            let markdown = match explained {
                Ok(markdown) => markdown,
                Err(e) => {
                    // Too late for the request's answer: say it as a message.
                    if let Err(Err(m)) = done.send(Err(format!("cannot explain: {e}"))) {
                        client
                            .show_message(MessageType::ERROR, format!("redline: {m}"))
                            .await;
                    }
                    return;
                }
            };
            let _ = done.send(Ok(markdown.clone()));
            let document = match (show_document, dir) {
                (true, Some(dir)) => explanation_file(&dir, &finding.fingerprint, &markdown),
                _ => None,
            };
            // Shown from this task: a client that never answers
            // `showDocument` must not hold a request slot (see `ask.rs`).
            let shown = match document {
                Some(uri) => {
                    let params = ShowDocumentParams {
                        uri,
                        external: Some(false),
                        take_focus: Some(true),
                        selection: None,
                    };
                    match ask::ask::<request::ShowDocument>(&client, params).await {
                        Ok(result) => result.success,
                        Err(e) => {
                            tracing::warn!("explanation shown as a message instead: {e}");
                            false
                        }
                    }
                }
                None => false,
            };
            if !shown {
                client.show_message(MessageType::INFO, markdown).await;
            }
        });
        match tokio::time::timeout(explain_wait(), ready).await {
            Ok(Ok(Ok(markdown))) => Ok(Some(serde_json::Value::String(markdown))),
            Ok(Ok(Err(message))) => Err(Error::invalid_params(message)),
            Ok(Err(_)) => Err(Error::internal_error()),
            Err(_) => Ok(Some(serde_json::Value::String(
                "The model is writing the explanation; it opens when it is ready.".into(),
            ))),
        }
    }

    /// The private folder explanations are written to, made on first use.
    fn explain_dir(&self) -> Option<&std::path::Path> {
        let dir = self.explain_dir.get_or_init(|| {
            tempfile::Builder::new()
                .prefix("redline-explain-")
                .tempdir()
                .ok()
        });
        dir.as_ref().map(|d| d.path())
    }
}

/// How long `redline.explain` waits for the model before answering that the
/// explanation is on its way (`REDLINE_LSP_EXPLAIN_WAIT_MS`, default 2 s).
fn explain_wait() -> std::time::Duration {
    let ms = std::env::var("REDLINE_LSP_EXPLAIN_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    std::time::Duration::from_millis(ms)
}

/// Writes an explanation into `dir`; its URI, if it could.
fn explanation_file(dir: &std::path::Path, fingerprint: &str, markdown: &str) -> Option<Uri> {
    let file = dir.join(format!("{fingerprint}.md"));
    std::fs::write(&file, markdown).ok()?;
    Uri::from_file_path(&file)
}

impl Server {
    /// `redline.reviewNow`: schedules the document (or every open one) and
    /// says which could not be reviewed, and why.
    fn review_now(&self, uri: Option<Uri>) -> Result<serde_json::Value> {
        let single = uri.is_some();
        let uris: Vec<Uri> = match uri {
            Some(uri) => vec![uri],
            None => self.session.docs.iter().map(|d| d.key().clone()).collect(),
        };
        let mut scheduled = 0;
        let mut skipped = Vec::new();
        for uri in uris {
            match self.session.schedule_review(&uri) {
                Scheduled::Started => scheduled += 1,
                Scheduled::NotOpen if single => {
                    return Err(Error::invalid_params(format!(
                        "{} is not open; open it first",
                        uri.as_str()
                    )))
                }
                // Closed meanwhile.
                Scheduled::NotOpen => {}
                Scheduled::Skipped(reason) => {
                    skipped.push(serde_json::json!({ "uri": uri.as_str(), "reason": reason }))
                }
            }
        }
        Ok(serde_json::json!({ "scheduled": scheduled, "skipped": skipped }))
    }

    /// Engine stats of the workspace of `uri` (else the first one) at the
    /// top level, every workspace under `workspaces`, server counters under
    /// `server`.
    fn stats(&self, uri: Option<Uri>) -> serde_json::Value {
        let c = &self.session.counters;
        let focus = uri
            .and_then(|u| self.session.docs.get(&u).and_then(|d| d.workspace.clone()))
            .map(|w| w.root.display().to_string());
        let workspaces: serde_json::Map<String, serde_json::Value> = self
            .session
            .workspaces()
            .iter()
            .map(|w| {
                let mut s = w.engine().stats();
                if let Some(o) = s.as_object_mut() {
                    o.insert("dismissed".into(), w.dismissed.len().into());
                    o.insert("team_dismissed".into(), w.team_dismissed().len().into());
                }
                (w.root.display().to_string(), s)
            })
            .collect();
        let mut out = focus
            .and_then(|root| workspaces.get(&root))
            .or_else(|| workspaces.values().next())
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "server".into(),
                serde_json::json!({
                    "open_documents": self.session.docs.len(),
                    "reviews_scheduled": c.reviews_scheduled.load(Ordering::Relaxed),
                    "reviews_started": c.reviews_started.load(Ordering::Relaxed),
                    "reviews_published": c.reviews_published.load(Ordering::Relaxed),
                    "reviews_cancelled": c.reviews_cancelled.load(Ordering::Relaxed),
                    "reviews_stale": c.reviews_stale.load(Ordering::Relaxed),
                    "reviews_panicked": c.reviews_panicked.load(Ordering::Relaxed),
                    "publications": c.diagnostics_published.load(Ordering::Relaxed),
                    "parses": {
                        "fresh": c.parses_fresh.load(Ordering::Relaxed),
                        "incremental": c.parses_incremental.load(Ordering::Relaxed),
                        "failed": c.parses_failed.load(Ordering::Relaxed),
                        "reviews_with_tree": c.reviews_with_tree.load(Ordering::Relaxed),
                        "trees_kept": c.trees_kept.load(Ordering::Relaxed),
                        "trees_let_go": c.trees_let_go.load(Ordering::Relaxed),
                        "max_kept_trees": super::session::MAX_KEPT_TREES,
                    },
                }),
            );
            o.insert("workspaces".into(), serde_json::Value::Object(workspaces));
        }
        out
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = &params.capabilities;
        let encoding = proto::negotiate_encoding(
            caps.general
                .as_ref()
                .and_then(|g| g.position_encodings.as_deref()),
        );
        let window = caps.window.as_ref();
        let client_caps = ClientCaps {
            encoding,
            work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
            show_document: window
                .and_then(|w| w.show_document.as_ref())
                .is_some_and(|s| s.support),
            watch_files_dynamically: caps
                .workspace
                .as_ref()
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|d| d.dynamic_registration)
                .unwrap_or(false),
        };
        let _ = self.session.caps.set(client_caps);
        if let Some(options) = params.initialization_options.filter(|v| !v.is_null()) {
            *self
                .session
                .settings
                .write()
                .unwrap_or_else(|p| p.into_inner()) = options;
        }
        #[allow(deprecated)]
        let folders: Vec<Uri> = match (&params.workspace_folders, &params.root_uri) {
            (Some(folders), _) if !folders.is_empty() => {
                folders.iter().map(|f| f.uri.clone()).collect()
            }
            (_, Some(root)) => vec![root.clone()],
            _ => Vec::new(),
        };
        let mut problems = Vec::new();
        for uri in folders {
            if let Some(path) = proto::file_path(&uri) {
                let (_, problem) = self.session.workspace_for(&path);
                problems.extend(problem);
            }
        }
        *self
            .startup_problems
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = problems;
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "redline".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(proto::encoding_kind(encoding)),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..Default::default()
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: [
                        CMD_REVIEW_NOW,
                        CMD_DISMISS,
                        CMD_DISMISS_TEAM,
                        CMD_EXPLAIN,
                        CMD_STATS,
                    ]
                    .map(String::from)
                    .to_vec(),
                    ..Default::default()
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                ..Default::default()
            },
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let problems = std::mem::take(
            &mut *self
                .startup_problems
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        self.show_problems(problems).await;
        if self.session.caps().watch_files_dynamically {
            let options = DidChangeWatchedFilesRegistrationOptions {
                watchers: vec![FileSystemWatcher {
                    glob_pattern: GlobPattern::String(format!(
                        "**/{}",
                        crate::config::REPO_CONFIG_FILE
                    )),
                    kind: None,
                }],
            };
            let registration = Registration {
                id: "redline-config-watcher".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(options).ok(),
            };
            // From a task: an unanswered registration must not hold a slot.
            let client = self.session.client.clone();
            tokio::spawn(async move {
                let params = RegistrationParams {
                    registrations: vec![registration],
                };
                if let Err(e) = ask::ask::<request::RegisterCapability>(&client, params).await {
                    tracing::warn!("could not watch {}: {e}", crate::config::REPO_CONFIG_FILE);
                }
            });
        }
    }

    async fn shutdown(&self) -> Result<()> {
        for doc in self.session.docs.iter() {
            if let Some(review) = &doc.review {
                review.cancel();
            }
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        self.session.open(d.uri, d.version, &d.text);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let d = params.text_document;
        let changes = params.content_changes.into_iter().map(|c| {
            let range = c.range.map(|r| EditRange {
                start_line: r.start.line,
                start_col: r.start.character,
                end_line: r.end.line,
                end_col: r.end.character,
            });
            (range, c.text)
        });
        self.session.change(&d.uri, d.version, changes);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        let is_config = proto::file_path(&uri).is_some_and(|p| {
            p.file_name()
                .is_some_and(|n| n == crate::config::REPO_CONFIG_FILE)
        });
        if is_config {
            let root = proto::file_path(&uri).and_then(|p| p.parent().map(|p| p.to_path_buf()));
            let problems = self.session.reload_config(root.as_deref());
            self.show_problems(problems).await;
        }
        self.session.saved(&uri);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.session.close(&params.text_document.uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        if params.settings.is_null() {
            return;
        }
        *self
            .session
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = params.settings;
        let problems = self.session.reload_config(None);
        self.show_problems(problems).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let mut problems = Vec::new();
        for change in params.changes {
            let Some(path) = proto::file_path(&change.uri) else {
                continue;
            };
            if path
                .file_name()
                .is_some_and(|n| n == crate::config::REPO_CONFIG_FILE)
            {
                if let Some(root) = path.parent() {
                    problems.extend(self.session.reload_config(Some(root)));
                }
            }
        }
        self.show_problems(problems).await;
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let mut problems = Vec::new();
        for folder in params.event.added {
            if let Some(path) = proto::file_path(&folder.uri) {
                problems.extend(self.session.workspace_for(&path).1);
            }
        }
        self.show_problems(problems).await;
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(doc) = self.session.docs.get(&uri) else {
            return Ok(None);
        };
        let enc = self.session.encoding();
        let mut actions = Vec::new();
        for d in &params.context.diagnostics {
            if let Some(data) = proto::data_of(d) {
                let current = doc
                    .findings
                    .iter()
                    .find(|t| t.finding.fingerprint == data.fingerprint);
                actions.extend(proto::actions_for(
                    &uri,
                    d,
                    &data,
                    current,
                    &doc.rope,
                    enc,
                    doc.workspace.is_some(),
                ));
            }
        }
        if !actions.is_empty() && doc.findings.len() > 1 && doc.workspace.is_some() {
            let all = doc
                .findings
                .iter()
                .map(|t| t.finding.fingerprint.clone())
                .collect();
            actions.push(proto::dismiss_file_action(&uri, all));
        }
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        // The shape is checked before anything runs: a wrong one changes
        // nothing.
        match commands::parse(&params.command, &params.arguments)? {
            Command::ReviewNow(uri) => self.review_now(uri).map(Some),
            Command::Dismiss { uri, fingerprints } => {
                match self.session.dismiss(&uri, fingerprints) {
                    Ok(n) => Ok(Some(serde_json::json!({ "dismissed": n }))),
                    Err(e) => {
                        self.session
                            .client
                            .show_message(MessageType::ERROR, format!("redline: {e}"))
                            .await;
                        Err(match e {
                            DismissFailure::Refused(m) => Error::invalid_params(m),
                            DismissFailure::Store(e) => Error {
                                code: ErrorCode::InternalError,
                                message: e.to_string().into(),
                                data: None,
                            },
                        })
                    }
                }
            }
            Command::DismissForTeam {
                uri,
                fingerprint,
                why,
            } => match self.session.dismiss_for_team(&uri, &fingerprint, why) {
                Ok(n) => Ok(Some(serde_json::json!({ "dismissed": n }))),
                Err(message) => {
                    self.session
                        .client
                        .show_message(MessageType::ERROR, format!("redline: {message}"))
                        .await;
                    Err(Error::invalid_params(message))
                }
            },
            Command::Explain { .. } => self.explain(&params.arguments).await,
            Command::Stats(uri) => Ok(Some(self.stats(uri))),
        }
    }
}
