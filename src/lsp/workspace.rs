//! The repositories the server serves: one [`Workspace`] per git working
//! tree (a workspace folder, or the repository of a file opened outside
//! every folder), each with its own configuration, review engine, base-blob
//! cache and dismissed-findings stores (personal, and the team's committed
//! `.redline/dismissed.toml`, re-read when it changes). Configuration reloads swap the
//! engine atomically and keep the previous one when the new config is bad.
//! No protocol types here.

use crate::config::{self, Config, Origin};
use crate::git::{Base, Repo};
use crate::review::team_dismissed::{TeamDismissed, TEAM_DISMISSED_FILE};
use crate::review::{DismissedStore, Engine};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The base bytes of one path at one commit (`None`: not in the base).
type BaseBlob = Option<Arc<Vec<u8>>>;

/// Blobs kept per workspace before the cache is emptied (bounded memory).
const BASE_CACHE_ENTRIES: usize = 2048;

pub struct Workspace {
    pub root: PathBuf,
    pub repo: Repo,
    pub dismissed: DismissedStore,
    /// The team's dismissals and the modification time they were read at.
    team_dismissed: RwLock<(Option<std::time::SystemTime>, Arc<TeamDismissed>)>,
    current: RwLock<(Arc<Config>, Engine)>,
    base_cache: Mutex<HashMap<(String, String), BaseBlob>>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("root", &self.root)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Engine(#[from] crate::review::EngineError),
}

/// Builds the effective configuration of a repository with editor settings.
pub fn load_config(root: &Path, settings: &serde_json::Value) -> Result<Config, WorkspaceError> {
    let loaded = config::load(Some(root), None)?
        .with_json(settings, Origin::Editor)
        .build()?;
    Ok(loaded.config)
}

/// The team's dismissals; a file that does not parse is reported and
/// dismisses nothing (the user still gets reviews).
fn load_team_dismissed(root: &Path) -> TeamDismissed {
    TeamDismissed::load(root).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "team dismissals ignored");
        TeamDismissed::default()
    })
}

fn build_engine(config: Config, root: &Path) -> Result<(Arc<Config>, Engine), WorkspaceError> {
    let config = Arc::new(config);
    // The root is where AGENTS.md and .redline/prompts/ are read from.
    let engine = Engine::new(config.clone())?.with_repo_root(root);
    Ok((config, engine))
}

impl Workspace {
    /// Opens the repository containing `path`. A bad configuration is
    /// returned beside a workspace running on defaults, so that the user
    /// sees the error and still gets reviews.
    pub fn open(
        path: &Path,
        settings: &serde_json::Value,
    ) -> Result<(Self, Option<WorkspaceError>), WorkspaceError> {
        let repo = Repo::discover(path)?;
        let root = repo.root().to_path_buf();
        let (config, mut problem) = match load_config(&root, settings) {
            Ok(c) => (c, None),
            Err(e) => (Config::default(), Some(e)),
        };
        let (config, engine) = match build_engine(config, &root) {
            Ok(pair) => pair,
            Err(e) => {
                // A model setup that cannot work must not cost the user the
                // built-in reviewer: run offline and say why.
                problem = Some(e);
                let mut offline = Config::default();
                offline.review.offline = true;
                build_engine(offline, &root)?
            }
        };
        let dismissed = DismissedStore::open(&repo.git_dir());
        Ok((
            Self {
                team_dismissed: RwLock::new((None, Arc::new(load_team_dismissed(&root)))),
                root,
                repo,
                dismissed,
                current: RwLock::new((config, engine)),
                base_cache: Mutex::new(HashMap::new()),
            },
            problem,
        ))
    }

    /// The team's dismissals, re-read when the file changed on disk (a pull
    /// or a checkout brings teammates' judgements).
    pub fn team_dismissed(&self) -> Arc<TeamDismissed> {
        let modified = std::fs::metadata(self.root.join(TEAM_DISMISSED_FILE))
            .and_then(|m| m.modified())
            .ok();
        {
            let current = self
                .team_dismissed
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if current.0 == modified {
                return current.1.clone();
            }
        }
        let fresh = Arc::new(load_team_dismissed(&self.root));
        *self
            .team_dismissed
            .write()
            .unwrap_or_else(|p| p.into_inner()) = (modified, fresh.clone());
        fresh
    }

    pub fn config(&self) -> Arc<Config> {
        self.read().0.clone()
    }

    pub fn engine(&self) -> Engine {
        self.read().1.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<Config>, Engine)> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads `.redline.toml` and applies `settings`. On error the
    /// previous configuration stays in force.
    pub fn reload(&self, settings: &serde_json::Value) -> Result<(), WorkspaceError> {
        let (config, engine) = build_engine(load_config(&self.root, settings)?, &self.root)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (config, engine);
        Ok(())
    }

    /// The current HEAD and the bytes of `rel_path` there. HEAD is resolved
    /// on every call (cheap), so a commit or checkout is picked up at the
    /// next review; the blob itself is cached by (commit, path).
    pub fn base_blob(&self, rel_path: &str) -> Result<(Base, BaseBlob), WorkspaceError> {
        let base = self.repo.resolve_base("HEAD")?;
        let key = (base.id(), rel_path.to_string());
        if let Some(hit) = self.cache().get(&key).cloned() {
            return Ok((base, hit));
        }
        let blob = self.repo.base_blob(&base, rel_path)?.map(Arc::new);
        let mut cache = self.cache();
        if cache.len() >= BASE_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, blob.clone());
        Ok((base, blob))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), BaseBlob>> {
        self.base_cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `path` (absolute) lies inside this working tree.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }
}
