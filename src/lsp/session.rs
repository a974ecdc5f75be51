//! The session: open documents, workspaces, negotiated capabilities and the
//! background work (reviews, publishing). Handlers in `server.rs` call in
//! here. Ordering rule: document notifications mutate the document map
//! synchronously and hand diagnostics to one publisher task over a channel,
//! so publications leave in the order the edits arrived, each stamped with
//! the version it was computed for. A review result is dropped unless the
//! document is still at the version it reviewed. A buffer with nothing to
//! diff against (untitled, outside any repository, in one that cannot be
//! read) still gets the built-in secret rules; one that cannot be reviewed
//! at all (a `git:` URI) is skipped with its reason.

use super::ask;
use super::proto;
use super::text::EditRange;
use super::tracking::{self, Tracked};
use super::tree::{DocTree, Reparse};
use super::workspace::{Workspace, WorkspaceError};
use crate::config::{Config, Trigger};
use crate::diff::position::Encoding;
use crate::git::GitError;
use crate::review::{self, ChangeSet, Progress, ReviewOptions};
use dashmap::DashMap;
use ropey::Rope;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_util::sync::CancellationToken;
use tower_lsp_server::ls_types::request::WorkDoneProgressCreate;
use tower_lsp_server::ls_types::{
    Diagnostic, MessageType, NumberOrString, ProgressToken, Uri, WorkDoneProgress,
    WorkDoneProgressBegin, WorkDoneProgressCreateParams, WorkDoneProgressEnd,
    WorkDoneProgressReport,
};
use tower_lsp_server::Client;

/// How a document can be reviewed, decided when it is opened.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// A file of a repository: diffed against `HEAD`, every reviewer.
    Repository,
    /// Nothing to diff against (an `untitled:` buffer, a file outside any
    /// repository or in one that cannot be read): the built-in secret
    /// rules over the whole text. `name` picks the rules' languages.
    SecretsOnly { name: String },
    /// Not reviewed at all, and why (e.g. a `git:` URI).
    Unreviewable(String),
}

/// What `schedule_review` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheduled {
    Started,
    NotOpen,
    /// Not reviewable, and why.
    Skipped(String),
}

/// Why a dismissal failed.
#[derive(Debug, thiserror::Error)]
pub enum DismissFailure {
    /// The request cannot work (no such document, no repository).
    #[error("{0}")]
    Refused(String),
    /// The store could not be written; nothing was dismissed.
    #[error(transparent)]
    Store(#[from] crate::review::dismissed::DismissError),
}

/// One open document.
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    /// Canonical file path, when the URI is a file.
    pub path: Option<PathBuf>,
    pub workspace: Option<Arc<Workspace>>,
    pub scope: Scope,
    /// Published findings, kept where the text moved them.
    pub findings: Vec<Tracked>,
    /// The review in flight, cancelled by a newer edit or review.
    pub review: Option<CancellationToken>,
    /// Bumped by every scheduled review; a result of an older one is stale.
    pub review_generation: u64,
    /// The syntax tree of `rope`, edited with it: what its reviews read.
    /// Kept for a repository file in a language with a grammar from its
    /// first edit on, while it is among the [`MAX_KEPT_TREES`] most
    /// recently edited documents.
    pub tree: Option<DocTree>,
    /// When the tree last followed an edit (the session's tree clock).
    pub tree_used: u64,
}

/// How many documents keep a syntax tree at most. A tree takes about
/// 1 KB per line, some 25 times its text: a server holding hundreds of
/// open buffers keeps trees only for those being edited. A document whose
/// tree was let go parses afresh at its next edit.
pub const MAX_KEPT_TREES: usize = 16;

/// What the client said it can do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCaps {
    pub encoding: Encoding,
    pub work_done_progress: bool,
    pub show_document: bool,
    pub watch_files_dynamically: bool,
}

/// Counters for `redline.stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub reviews_scheduled: AtomicU64,
    pub reviews_started: AtomicU64,
    pub reviews_published: AtomicU64,
    pub reviews_cancelled: AtomicU64,
    pub reviews_stale: AtomicU64,
    pub reviews_panicked: AtomicU64,
    pub diagnostics_published: AtomicU64,
    /// Syntax trees parsed from nothing (open, full replacement, after a
    /// parse that gave up).
    pub parses_fresh: AtomicU64,
    /// Syntax trees brought up to an edit by reparsing the old tree.
    pub parses_incremental: AtomicU64,
    /// Parses that ran out of time (the document is plain text until its
    /// next change).
    pub parses_failed: AtomicU64,
    /// Reviews handed the document's kept tree instead of parsing.
    pub reviews_with_tree: AtomicU64,
    /// Documents holding a syntax tree now.
    pub trees_kept: AtomicU64,
    /// Trees let go because more than [`MAX_KEPT_TREES`] were kept.
    pub trees_let_go: AtomicU64,
}

/// A diagnostics publication waiting for the publisher task.
struct Publication {
    uri: Uri,
    version: Option<i32>,
    diagnostics: Vec<Diagnostic>,
}

pub struct Session {
    pub client: Client,
    pub docs: DashMap<Uri, Document>,
    workspaces: RwLock<Vec<Arc<Workspace>>>,
    /// Editor settings (initializationOptions / didChangeConfiguration).
    pub settings: RwLock<serde_json::Value>,
    pub caps: OnceLock<ClientCaps>,
    pub counters: Counters,
    publish_tx: UnboundedSender<Publication>,
    panic_reported: AtomicBool,
    /// Degraded-reviewer messages already shown (workspace, reviewer, reason).
    degraded_reported: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Keys of the one-time notices already shown (no repository, a
    /// repository that cannot be read).
    notices: std::sync::Mutex<std::collections::HashSet<String>>,
    progress_seq: AtomicU64,
    /// Ticks at every edit a tree follows: which tree was used last.
    tree_clock: AtomicU64,
    /// Debug aid: makes every review wait this long first, like a slow
    /// model (`REDLINE_LSP_REVIEW_DELAY_MS`); used to test cancellation.
    review_delay: Option<Duration>,
    /// Test knob: a review of a buffer holding this text panics, like a
    /// bug in a reviewer (`REDLINE_TEST_PANIC_ON`); tests containment.
    panic_on: Option<String>,
}

impl Session {
    /// Creates the session and starts its publisher task (call inside the
    /// runtime).
    pub fn new(client: Client) -> Arc<Self> {
        let (publish_tx, mut publish_rx) = unbounded_channel::<Publication>();
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some(p) = publish_rx.recv().await {
                publisher
                    .publish_diagnostics(p.uri, p.diagnostics, p.version)
                    .await;
            }
        });
        let review_delay = std::env::var("REDLINE_LSP_REVIEW_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        Arc::new(Self {
            client,
            docs: DashMap::new(),
            workspaces: RwLock::new(Vec::new()),
            settings: RwLock::new(serde_json::Value::Object(Default::default())),
            caps: OnceLock::new(),
            counters: Counters::default(),
            publish_tx,
            panic_reported: AtomicBool::new(false),
            degraded_reported: Default::default(),
            notices: Default::default(),
            progress_seq: AtomicU64::new(0),
            tree_clock: AtomicU64::new(0),
            review_delay,
            panic_on: std::env::var("REDLINE_TEST_PANIC_ON")
                .ok()
                .filter(|m| !m.is_empty()),
        })
    }

    pub fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }

    pub fn encoding(&self) -> Encoding {
        self.caps().encoding
    }

    pub fn settings(&self) -> serde_json::Value {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn workspaces(&self) -> Vec<Arc<Workspace>> {
        self.workspaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The workspace of `path` (a folder or file): the innermost known
    /// working tree containing it, else its repository, opened now. Returns
    /// a configuration problem to show the user, if any.
    pub fn workspace_for(&self, path: &Path) -> (Option<Arc<Workspace>>, Option<String>) {
        match self.open_workspace(path) {
            Ok((ws, problem)) => (Some(ws), problem),
            Err(e) => {
                tracing::info!(path = %path.display(), "no repository review for this path: {e}");
                (None, None)
            }
        }
    }

    /// Like [`Self::workspace_for`], with the reason when there is none.
    fn open_workspace(
        &self,
        path: &Path,
    ) -> Result<(Arc<Workspace>, Option<String>), WorkspaceError> {
        let canonical = canonical(path);
        let known = self
            .workspaces()
            .into_iter()
            .filter(|w| w.contains(&canonical))
            .max_by_key(|w| w.root.as_os_str().len());
        if let Some(ws) = known {
            return Ok((ws, None));
        }
        let (ws, problem) = Workspace::open(&canonical, &self.settings())?;
        let mut all = self.workspaces.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = all.iter().find(|w| w.root == ws.root) {
            return Ok((existing.clone(), None));
        }
        tracing::info!(root = %ws.root.display(), "serving repository");
        let ws = Arc::new(ws);
        all.push(ws.clone());
        Ok((ws, problem.map(|e| e.to_string())))
    }

    /// How the document at `uri` (canonical `path` for a file) is reviewed,
    /// telling the user once why a file gets only the secret rules.
    fn scope_of(&self, uri: &Uri, path: Option<&Path>) -> (Option<Arc<Workspace>>, Scope) {
        let scheme = uri.scheme().as_str().to_ascii_lowercase();
        let Some(path) = path else {
            return match scheme.as_str() {
                "untitled" => (
                    None,
                    Scope::SecretsOnly {
                        name: uri.path().as_str().to_string(),
                    },
                ),
                "file" => (
                    None,
                    Scope::Unreviewable("not a local file path".to_string()),
                ),
                _ => (
                    None,
                    Scope::Unreviewable(format!("not a file: {scheme} scheme")),
                ),
            };
        };
        let secrets_only = Scope::SecretsOnly {
            name: path.to_string_lossy().into_owned(),
        };
        match self.open_workspace(path) {
            Ok((ws, problem)) => {
                if let Some(problem) = problem {
                    self.show_error(problem);
                }
                (Some(ws), Scope::Repository)
            }
            Err(WorkspaceError::Git(GitError::NotARepository(_))) => {
                self.notify_once(
                    "no-repository".into(),
                    MessageType::INFO,
                    format!(
                        "redline: {} is not in a git repository, so only the built-in secret rules check it (every line counts as added). Open it from a repository for full reviews.",
                        path.display()
                    ),
                );
                (None, secrets_only)
            }
            Err(e) => {
                let folder = path.parent().unwrap_or(path);
                self.notify_once(
                    format!("unreadable:{}", folder.display()),
                    MessageType::WARNING,
                    format!(
                        "redline: cannot read the repository of {} ({e}); only the built-in secret rules check it, with every line counted as added. Repair the repository (`git status` says what is wrong) for full reviews.",
                        path.display()
                    ),
                );
                (None, secrets_only)
            }
        }
    }

    /// Shows `message` unless a message with `key` was shown before.
    fn notify_once(&self, key: String, kind: MessageType, message: String) {
        let new = self
            .notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        if new {
            if kind == MessageType::INFO {
                tracing::info!("{message}");
            } else {
                tracing::warn!("{message}");
            }
            let client = self.client.clone();
            tokio::spawn(async move { client.show_message(kind, message).await });
        }
    }

    /// The configuration a document is reviewed with.
    fn config_of(doc: &Document) -> Arc<Config> {
        doc.workspace
            .as_ref()
            .map(|w| w.config())
            .unwrap_or_else(|| Arc::new(Config::default()))
    }

    /// Sends diagnostics to the publisher (in order with every other
    /// publication).
    fn publish(&self, uri: Uri, version: Option<i32>, diagnostics: Vec<Diagnostic>) {
        self.counters
            .diagnostics_published
            .fetch_add(1, Ordering::Relaxed);
        let _ = self.publish_tx.send(Publication {
            uri,
            version,
            diagnostics,
        });
    }

    /// Publishes a document's current findings (minus dismissed ones).
    fn publish_doc(&self, uri: &Uri, doc: &Document) {
        let enc = self.encoding();
        let diagnostics = doc
            .findings
            .iter()
            .map(|t| proto::diagnostic(t, &doc.rope, enc))
            .collect();
        self.publish(uri.clone(), Some(doc.version), diagnostics);
    }

    // ----- document notifications (no `.await` on purpose) -----

    pub fn open(self: &Arc<Self>, uri: Uri, version: i32, text: &str) {
        let path = proto::file_path(&uri).map(|p| canonical(&p));
        let (workspace, scope) = self.scope_of(&uri, path.as_deref());
        let doc = Document {
            rope: Rope::from_str(text),
            version,
            path,
            workspace,
            scope,
            findings: Vec::new(),
            review: None,
            review_generation: 0,
            // Parsed at the first edit: most open buffers are only read.
            tree: None,
            tree_used: 0,
        };
        let trigger = (!matches!(doc.scope, Scope::Unreviewable(_)))
            .then(|| Self::config_of(&doc).review.trigger);
        let replaced = self.docs.insert(uri.clone(), doc);
        // Reopened without a close: the old text's review must not land.
        if let Some(old) = replaced {
            self.forget_tree(&old);
            if let Some(review) = old.review {
                review.cancel();
            }
        }
        // An opened file with changes gets its diagnostics at once, like a
        // compiler's; `manual` means only the command reviews.
        if matches!(trigger, Some(Trigger::Save | Trigger::Idle)) {
            self.schedule_review(&uri);
        }
    }

    pub fn change(
        self: &Arc<Self>,
        uri: &Uri,
        version: i32,
        changes: impl IntoIterator<Item = (Option<EditRange>, String)>,
    ) {
        let enc = self.encoding();
        let Some(mut doc_guard) = self.docs.get_mut(uri) else {
            tracing::warn!(uri = uri.as_str(), "change for a document that is not open");
            return;
        };
        if version <= doc_guard.version {
            tracing::debug!(
                uri = uri.as_str(),
                version,
                "ignoring a change that is not newer"
            );
            return;
        }
        let doc = &mut *doc_guard;
        // Only repository reviews read the tree; a new one is parsed from
        // the text after this change.
        let new_tree = doc.tree.is_none() && doc.scope == Scope::Repository;
        if new_tree {
            doc.tree = doc
                .path
                .as_ref()
                .and_then(|p| DocTree::for_name(&p.to_string_lossy()));
        }
        let mut moved = false;
        for (range, text) in changes {
            if let Some(tree) = &mut doc.tree {
                tree.follow(&doc.rope, range, &text, enc);
            }
            moved |= tracking::apply_change(&mut doc.rope, &mut doc.findings, range, &text, enc);
        }
        // One reparse per notification, on the message loop: incremental,
        // it costs well under a millisecond (see benches/lsp.rs).
        if let Some(tree) = &mut doc.tree {
            self.count_parse(tree.reparse(&doc.rope));
            doc.tree_used = self.tree_clock.fetch_add(1, Ordering::Relaxed);
        }
        let kept_now = new_tree && doc.tree.is_some();
        doc.version = version;
        if let Some(review) = doc.review.take() {
            review.cancel();
        }
        if moved {
            self.publish_doc(uri, doc);
        }
        let idle = doc
            .workspace
            .as_ref()
            .map(|w| w.config())
            .filter(|c| c.review.trigger == Trigger::Idle)
            .map(|c| Duration::from_millis(c.review.idle_ms));
        if kept_now {
            let kept = self.counters.trees_kept.fetch_add(1, Ordering::Relaxed) + 1;
            if kept as usize > MAX_KEPT_TREES {
                drop(doc_guard);
                self.let_go_of_oldest_tree(uri);
            }
        }
        if let Some(idle) = idle {
            let session = self.clone();
            let uri = uri.clone();
            tokio::spawn(async move {
                tokio::time::sleep(idle).await;
                let still_idle = session.docs.get(&uri).is_some_and(|d| d.version == version);
                if still_idle {
                    session.schedule_review(&uri);
                }
            });
        }
    }

    fn count_parse(&self, outcome: Reparse) {
        let counter = match outcome {
            Reparse::Unchanged => return,
            Reparse::Fresh => &self.counters.parses_fresh,
            Reparse::Incremental => &self.counters.parses_incremental,
            Reparse::Failed => &self.counters.parses_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A document that is gone no longer counts as keeping a tree.
    fn forget_tree(&self, doc: &Document) {
        if doc.tree.is_some() {
            self.counters.trees_kept.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Drops the tree of the document edited longest ago (not `current`).
    fn let_go_of_oldest_tree(&self, current: &Uri) {
        let oldest = self
            .docs
            .iter()
            .filter(|d| d.tree.is_some() && d.key() != current)
            .min_by_key(|d| d.tree_used)
            .map(|d| d.key().clone());
        let Some(uri) = oldest else { return };
        if let Some(mut doc) = self.docs.get_mut(&uri) {
            if doc.tree.take().is_some() {
                self.counters.trees_kept.fetch_sub(1, Ordering::Relaxed);
                self.counters.trees_let_go.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn close(&self, uri: &Uri) {
        if let Some((_, doc)) = self.docs.remove(uri) {
            self.forget_tree(&doc);
            if let Some(review) = doc.review {
                review.cancel();
            }
            if let Some(ws) = &doc.workspace {
                // What the models saw of this buffer is no longer needed.
                ws.engine().forget_buffer(uri.as_str());
            }
        }
        self.publish(uri.clone(), None, Vec::new());
    }

    pub fn saved(self: &Arc<Self>, uri: &Uri) {
        let trigger = self
            .docs
            .get(uri)
            .map(|d| Self::config_of(&d).review.trigger);
        if trigger == Some(Trigger::Save) {
            self.schedule_review(uri);
        }
    }

    // ----- reviews -----

    /// Starts a review of the document's current text, cancelling the one
    /// in flight.
    pub fn schedule_review(self: &Arc<Self>, uri: &Uri) -> Scheduled {
        let Some(mut doc) = self.docs.get_mut(uri) else {
            return Scheduled::NotOpen;
        };
        let target = match (&doc.scope, doc.workspace.clone(), doc.path.clone()) {
            (Scope::Repository, Some(workspace), Some(path)) => {
                Target::Repository { workspace, path }
            }
            (Scope::SecretsOnly { name }, ..) => Target::SecretsOnly { name: name.clone() },
            (Scope::Unreviewable(reason), ..) => return Scheduled::Skipped(reason.clone()),
            (Scope::Repository, ..) => return Scheduled::Skipped("no repository".into()),
        };
        if let Some(old) = doc.review.take() {
            old.cancel();
        }
        let cancel = CancellationToken::new();
        doc.review = Some(cancel.clone());
        doc.review_generation += 1;
        self.counters
            .reviews_scheduled
            .fetch_add(1, Ordering::Relaxed);
        let job = ReviewJob {
            uri: uri.clone(),
            version: doc.version,
            generation: doc.review_generation,
            rope: doc.rope.clone(),
            // Taken under the same lock as the rope: the tree of that text.
            tree: doc.tree.as_ref().and_then(|t| t.current()).cloned(),
            target,
            cancel,
        };
        drop(doc);
        let session = self.clone();
        tokio::spawn(async move { session.run_review(job).await });
        Scheduled::Started
    }

    async fn run_review(self: Arc<Self>, job: ReviewJob) {
        self.counters
            .reviews_started
            .fetch_add(1, Ordering::Relaxed);
        let progress = self.start_progress(&job);
        let outcome = self.review_in_task(&job, progress.as_ref()).await;
        match outcome {
            Ok(Some(findings)) => self.land(&job, findings),
            Ok(None) => {
                self.counters
                    .reviews_cancelled
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(message) => {
                self.counters
                    .reviews_panicked
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(uri = job.uri.as_str(), "review failed: {message}");
                if !self.panic_reported.swap(true, Ordering::Relaxed) {
                    self.client
                        .show_message(
                            MessageType::ERROR,
                            format!("redline: a review crashed ({message}); the server keeps running. See the log for details."),
                        )
                        .await;
                }
            }
        }
        // Closing the channel ends the progress, after the counters moved.
        drop(progress);
    }

    /// Builds the change set and runs the engine in its own task, so that a
    /// panic is caught. `Ok(None)` = cancelled.
    async fn review_in_task(
        &self,
        job: &ReviewJob,
        progress: Option<&UnboundedSender<ProgressReport>>,
    ) -> Result<Option<Vec<crate::review::Finding>>, String> {
        if let Some(delay) = self.review_delay {
            tokio::select! {
                _ = job.cancel.cancelled() => return Ok(None),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let (ws, path) = match &job.target {
            Target::Repository { workspace, path } => (workspace.clone(), path.clone()),
            Target::SecretsOnly { name } => {
                let (name, rope) = (name.clone(), job.rope.clone());
                let review = Config::default().review;
                return tokio::task::spawn_blocking(move || {
                    review::review_secrets_only(&name, &rope.to_string(), &review)
                })
                .await
                .map(Some)
                .map_err(join_error);
            }
        };
        let rope = job.rope.clone();
        let tree = job.tree.clone();
        let config = ws.config();
        let engine = ws.engine();
        let prepared = tokio::task::spawn_blocking(move || -> Prepared {
            let Some(rel) = ws.repo.relative_path(&path) else {
                return Prepared::NotReviewed(format!(
                    "{} is outside {}",
                    path.display(),
                    ws.root.display()
                ));
            };
            let text = rope.to_string();
            match ws.base_blob(&rel) {
                Ok((head, blob)) => {
                    let mut changes = ChangeSet::from_buffer(
                        &rel,
                        blob.as_deref().map(Vec::as_slice),
                        &text,
                        &config.review,
                    );
                    // What else HEAD holds: a task pasted with its code
                    // from another file is not this edit's.
                    changes.origin = Some(crate::review::changes::Origin {
                        root: ws.root.clone(),
                        base: head,
                    });
                    let kept = match (tree, changes.files.first_mut()) {
                        (Some(tree), Some(file)) => file.keep_tree(tree),
                        _ => false,
                    };
                    Prepared::Changes { changes, kept }
                }
                // Nothing to diff against: the secret rules still run.
                Err(e) => Prepared::Unreadable {
                    problem: e.to_string(),
                    findings: review::review_secrets_only(&rel, &text, &config.review),
                },
            }
        })
        .await;
        let changes = match prepared {
            Ok(Prepared::Changes { changes, kept }) => {
                if kept {
                    self.counters
                        .reviews_with_tree
                        .fetch_add(1, Ordering::Relaxed);
                }
                changes
            }
            Ok(Prepared::NotReviewed(reason)) => {
                tracing::info!(uri = job.uri.as_str(), "not reviewed: {reason}");
                return Ok(Some(Vec::new()));
            }
            Ok(Prepared::Unreadable { problem, findings }) => {
                if let Target::Repository { workspace, .. } = &job.target {
                    self.notify_once(
                        format!("unreadable:{}", workspace.root.display()),
                        MessageType::WARNING,
                        format!(
                            "redline: cannot read the repository at {} ({problem}); only the built-in secret rules run, with every line counted as added. Repair the repository (`git status` says what is wrong) for full reviews.",
                            workspace.root.display()
                        ),
                    );
                }
                return Ok(Some(findings));
            }
            Err(e) => return Err(join_error(e)),
        };
        if job.cancel.is_cancelled() {
            return Ok(None);
        }
        let (tx, mut rx) = unbounded_channel::<Progress>();
        let options = ReviewOptions {
            tier: None,
            buffer_key: Some(job.uri.as_str().to_string()),
        };
        let cancel = job.cancel.clone();
        let explode = (self.panic_on.as_ref())
            .is_some_and(|marker| job.rope.to_string().contains(marker.as_str()));
        let handle = tokio::spawn(async move {
            if explode {
                panic!("REDLINE_TEST_PANIC_ON matched the buffer");
            }
            engine.review(&changes, options, cancel, Some(tx)).await
        });
        let mut tally = review::ReviewTally::new();
        // The waiting time moves on between events too.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { break };
                    match &event {
                        Progress::Provisional { finding } => {
                            self.show_early(job, std::slice::from_ref(finding), true)
                        }
                        Progress::Builtin { findings } => self.show_early(job, findings, false),
                        _ => {}
                    }
                    tally.observe(&event, std::time::Instant::now());
                }
                _ = tick.tick() => {
                    if tally.total() == 0 {
                        continue;
                    }
                }
            }
            if let Some(progress) = progress {
                let _ = progress.send(ProgressReport {
                    message: tally.line(std::time::Instant::now()),
                    percentage: Some(tally.percentage()),
                });
            }
        }
        let report = handle.await.map_err(join_error)?;
        if job.cancel.is_cancelled() {
            return Ok(None);
        }
        if let Target::Repository { workspace, .. } = &job.target {
            self.report_degraded(workspace, &report.degraded);
        }
        Ok(Some(report.findings))
    }

    /// Tells the user, once per workspace and reason, that a reviewer could
    /// not run (a missing key, an unreachable endpoint, the budget): the
    /// diagnostics alone would not show that the review was partial.
    fn report_degraded(&self, ws: &Workspace, degraded: &[crate::review::Degraded]) {
        // One message per distinct reason: a dead endpoint on a full review
        // fails five reviewers for the same cause, and that is one problem.
        let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
        for d in degraded {
            tracing::warn!(reviewer = d.reviewer, "degraded: {}", d.reason);
            match by_reason.iter_mut().find(|(reason, _)| *reason == d.reason) {
                Some((_, reviewers)) => reviewers.push(&d.reviewer),
                None => by_reason.push((&d.reason, vec![&d.reviewer])),
            }
        }
        for (reason, reviewers) in by_reason {
            let key = format!("{}\0{}", ws.root.display(), reason);
            let new = self
                .degraded_reported
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
            if new {
                let client = self.client.clone();
                let message = format!(
                    "redline: {} could not run: {}",
                    reviewers.join(", "),
                    reason
                );
                tokio::spawn(
                    async move { client.show_message(MessageType::WARNING, message).await },
                );
            }
        }
    }

    /// Shows findings of a review still running (the built-in ones, and
    /// model findings as the reviewers' answers stream, marked
    /// `provisional`) beside what the document already shows, unless the
    /// document moved on: a cancelled review never shows anything. They are
    /// tracked like any finding, so they move with edits and their code
    /// actions work; the finished review replaces them all. A finding
    /// already shown (same fingerprint) stays as it is.
    fn show_early(&self, job: &ReviewJob, findings: &[crate::review::Finding], provisional: bool) {
        let Some(mut doc) = self.docs.get_mut(&job.uri) else {
            return;
        };
        // Cancellation happens under this same lock, so this check holds.
        if job.cancel.is_cancelled()
            || doc.version != job.version
            || doc.review_generation != job.generation
        {
            return;
        }
        // Dismissed as a finished review's findings are: personal or team.
        let team = match &job.target {
            Target::Repository { workspace, .. } => Some(workspace.team_dismissed()),
            Target::SecretsOnly { .. } => None,
        };
        let dismissed = |fp: &str| match &job.target {
            Target::Repository { workspace, .. } => {
                workspace.dismissed.contains(fp) || team.as_ref().is_some_and(|t| t.contains(fp))
            }
            Target::SecretsOnly { .. } => false,
        };
        // No more than a final review may show (`review.max_findings_per_file`,
        // which never cuts a credential).
        let cap = match Self::config_of(&doc).review.max_findings_per_file {
            0 => usize::MAX,
            n => n as usize,
        };
        let mut added = false;
        for f in findings {
            if doc.findings.len() >= cap && !crate::review::is_credential(f) {
                continue;
            }
            let shown = doc
                .findings
                .iter()
                .any(|t| t.finding.fingerprint == f.fingerprint);
            if shown || dismissed(&f.fingerprint) {
                continue;
            }
            doc.findings.push(if provisional {
                Tracked::provisional(f.clone())
            } else {
                Tracked::new(f.clone())
            });
            added = true;
        }
        if added {
            self.publish_doc(&job.uri, &doc);
        }
    }

    /// Publishes a finished review unless the document moved on.
    fn land(&self, job: &ReviewJob, findings: Vec<crate::review::Finding>) {
        let Some(mut doc) = self.docs.get_mut(&job.uri) else {
            return;
        };
        // Cancellation happens under this same lock, so this check is final.
        if job.cancel.is_cancelled()
            || doc.version != job.version
            || doc.review_generation != job.generation
        {
            self.counters.reviews_stale.fetch_add(1, Ordering::Relaxed);
            return;
        }
        doc.review = None;
        let team = match &job.target {
            Target::Repository { workspace, .. } => Some(workspace.team_dismissed()),
            Target::SecretsOnly { .. } => None,
        };
        let dismissed = |fp: &str| match &job.target {
            Target::Repository { workspace, .. } => {
                workspace.dismissed.contains(fp) || team.as_ref().is_some_and(|t| t.contains(fp))
            }
            Target::SecretsOnly { .. } => false,
        };
        doc.findings = findings
            .into_iter()
            .filter(|f| !dismissed(&f.fingerprint))
            .map(Tracked::new)
            .collect();
        self.publish_doc(&job.uri, &doc);
        self.counters
            .reviews_published
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Dismisses fingerprints (`None`: every finding of the document) in
    /// the workspace of `uri` and republishes every open document of that
    /// workspace. Returns how many were new, once they are on disk.
    pub fn dismiss(
        &self,
        uri: &Uri,
        fingerprints: Option<Vec<String>>,
    ) -> Result<usize, DismissFailure> {
        let (ws, fingerprints) = {
            let doc = self.docs.get(uri).ok_or_else(|| {
                DismissFailure::Refused(format!("{} is not open; open it first", uri.as_str()))
            })?;
            let ws = doc.workspace.clone().ok_or_else(|| {
                DismissFailure::Refused(format!(
                    "{} is not in a git repository; dismissals are kept in the repository's .git/redline",
                    uri.as_str()
                ))
            })?;
            let fingerprints = fingerprints.unwrap_or_else(|| {
                doc.findings
                    .iter()
                    .map(|t| t.finding.fingerprint.clone())
                    .collect()
            });
            (ws, fingerprints)
        };
        let added = ws.dismissed.dismiss(fingerprints)?;
        self.drop_findings(&ws, |fp| ws.dismissed.contains(fp));
        Ok(added)
    }

    /// Dismisses one finding for the team: appended to the repository's
    /// `.redline/dismissed.toml` (who from git's `user.name`/`user.email`,
    /// why as given or a note that it was dismissed in the editor) and
    /// removed from every open document of that workspace. Returns how many
    /// entries were new (0 when the team had already dismissed it).
    pub fn dismiss_for_team(
        &self,
        uri: &Uri,
        fingerprint: &str,
        why: Option<String>,
    ) -> Result<usize, String> {
        use crate::review::team_dismissed::{self, TeamDismissal};
        let (ws, path, title) = {
            let doc = self
                .docs
                .get(uri)
                .ok_or_else(|| format!("{} is not open; open it first", uri.as_str()))?;
            let ws = doc.workspace.clone().ok_or_else(|| {
                format!(
                    "{} is not in a git repository; team dismissals are kept in the repository's {}",
                    uri.as_str(),
                    team_dismissed::TEAM_DISMISSED_FILE
                )
            })?;
            let finding = doc
                .findings
                .iter()
                .find(|t| t.finding.fingerprint == fingerprint)
                .map(|t| (t.finding.path.clone(), t.finding.title.clone()));
            (
                ws,
                finding.as_ref().map(|f| f.0.clone()),
                finding.map(|f| f.1),
            )
        };
        let who = team_dismissed::git_identity(&ws.root).ok_or_else(|| {
            "who is dismissing? git has no user.name here; set it (git config user.name \"…\") or use `redline dismiss --team --who`".to_string()
        })?;
        let entry = TeamDismissal {
            fingerprint: fingerprint.to_string(),
            who,
            why: why.unwrap_or_else(|| {
                "dismissed in the editor; the reason is for the pull request to say".into()
            }),
            path,
            title,
        };
        let added = team_dismissed::append(&ws.root, &[entry]).map_err(|e| e.to_string())?;
        let team = ws.team_dismissed();
        self.drop_findings(&ws, |fp| team.contains(fp));
        Ok(added)
    }

    /// Removes the findings `dismissed` names from every open document of
    /// workspace `ws`, republishing the documents that lost one.
    fn drop_findings(&self, ws: &Arc<Workspace>, dismissed: impl Fn(&str) -> bool) {
        for mut entry in self.docs.iter_mut() {
            let same = entry.workspace.as_ref().is_some_and(|w| Arc::ptr_eq(w, ws));
            if !same {
                continue;
            }
            let before = entry.findings.len();
            entry
                .findings
                .retain(|t| !dismissed(&t.finding.fingerprint));
            if entry.findings.len() != before {
                self.publish_doc(entry.key(), &entry);
            }
        }
    }

    /// Re-reads the configuration of every workspace (or those whose root
    /// holds `only`), reporting errors and keeping the previous config.
    pub fn reload_config(&self, only: Option<&Path>) -> Vec<String> {
        let settings = self.settings();
        let mut problems = Vec::new();
        for ws in self.workspaces() {
            if only.is_some_and(|root| canonical(root) != ws.root) {
                continue;
            }
            if let Err(e) = ws.reload(&settings) {
                problems.push(format!("redline: {e}; keeping the previous configuration"));
            } else {
                tracing::info!(root = %ws.root.display(), "configuration reloaded");
            }
        }
        problems
    }

    pub fn show_error(&self, message: String) {
        let client = self.client.clone();
        tokio::spawn(async move { client.show_message(MessageType::ERROR, message).await });
    }

    // ----- progress -----

    /// Reports a review in `$/progress` from a task of its own, so that the
    /// review never waits for the client to acknowledge the token. Messages
    /// sent on the returned channel become reports; dropping it ends the
    /// progress.
    fn start_progress(
        self: &Arc<Self>,
        job: &ReviewJob,
    ) -> Option<UnboundedSender<ProgressReport>> {
        if !self.caps().work_done_progress {
            return None;
        }
        let (tx, mut rx) = unbounded_channel::<ProgressReport>();
        let n = self.progress_seq.fetch_add(1, Ordering::Relaxed);
        let token = NumberOrString::String(format!("redline/review/{n}"));
        let file = job.target.file_name();
        let session = self.clone();
        tokio::spawn(async move {
            // Without an answer in time the review goes on unreported.
            let create = WorkDoneProgressCreateParams {
                token: token.clone(),
            };
            if let Err(e) = ask::ask::<WorkDoneProgressCreate>(&session.client, create).await {
                tracing::debug!("no progress for this review: {e}");
                return;
            }
            let begin = WorkDoneProgressBegin {
                title: "redline".into(),
                message: Some(format!("reviewing {file}")),
                cancellable: Some(false),
                percentage: Some(0),
            };
            session
                .send_progress(token.clone(), WorkDoneProgress::Begin(begin))
                .await;
            while let Some(report) = rx.recv().await {
                session.send_progress_report(&token, report).await;
            }
            session.send_progress_end(token).await;
        });
        Some(tx)
    }

    async fn send_progress_report(&self, token: &ProgressToken, report: ProgressReport) {
        self.send_progress(
            token.clone(),
            WorkDoneProgress::Report(WorkDoneProgressReport {
                message: Some(report.message),
                percentage: report.percentage,
                ..Default::default()
            }),
        )
        .await;
    }

    async fn send_progress_end(&self, token: ProgressToken) {
        self.send_progress(
            token,
            WorkDoneProgress::End(WorkDoneProgressEnd { message: None }),
        )
        .await;
    }

    async fn send_progress(&self, token: ProgressToken, value: WorkDoneProgress) {
        use tower_lsp_server::ls_types::{notification, ProgressParams, ProgressParamsValue};
        self.client
            .send_notification::<notification::Progress>(ProgressParams {
                token,
                value: ProgressParamsValue::WorkDone(value),
            })
            .await;
    }
}

/// What a review reads.
enum Target {
    Repository {
        workspace: Arc<Workspace>,
        path: PathBuf,
    },
    SecretsOnly {
        name: String,
    },
}

impl Target {
    fn file_name(&self) -> String {
        let full = match self {
            Target::Repository { path, .. } => path.to_string_lossy(),
            Target::SecretsOnly { name } => name.as_str().into(),
        };
        full.rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// A repository review's input, read off the message loop.
enum Prepared {
    /// `kept`: the file was handed the document's syntax tree.
    Changes {
        changes: ChangeSet,
        kept: bool,
    },
    NotReviewed(String),
    /// The repository could not be read: the secret rules' findings.
    Unreadable {
        problem: String,
        findings: Vec<crate::review::Finding>,
    },
}

struct ReviewJob {
    uri: Uri,
    version: i32,
    generation: u64,
    rope: Rope,
    /// The syntax tree of `rope`, when the document keeps one.
    tree: Option<crate::syntax::Parsed>,
    target: Target,
    cancel: CancellationToken,
}

/// One `$/progress` report of a review.
struct ProgressReport {
    message: String,
    /// Reviewers done out of all.
    percentage: Option<u32>,
}

fn join_error(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        let payload = e.into_panic();
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    } else {
        e.to_string()
    }
}

/// Canonical form of a path that may not exist yet (an unsaved new file).
pub fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .ok()
        .or_else(|| {
            let parent = path.parent()?.canonicalize().ok()?;
            Some(parent.join(path.file_name()?))
        })
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_review_task_is_reported_with_its_message() {
        let err = tokio::spawn(async { panic!("reviewer exploded") })
            .await
            .expect_err("the task panicked");
        assert_eq!(join_error(err), "reviewer exploded");
    }

    #[test]
    fn heartbeat_says_how_long_the_model_has_been_silent() {
        let now = std::time::Instant::now();
        let mut tally = review::ReviewTally::new();
        tally.observe(
            &Progress::Started {
                reviewers: vec!["security".into(), "coordinator".into()],
            },
            now,
        );
        tally.observe(
            &Progress::Waiting {
                reviewer: "security".into(),
                waited: Duration::from_secs(12),
            },
            now,
        );
        assert!(tally
            .line(now)
            .starts_with("waiting for model… 12 s (security)"));
    }
}
