//! The repository as redline sees it: where it is, what the base revision
//! holds, and which working-tree paths differ from it. Backed by libgit2
//! through `git2`. This module knows nothing about reviews or editors; it
//! hands out bytes and paths.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0} is not inside a git repository; run `git init` there or pass a path inside one")]
    NotARepository(PathBuf),
    #[error("unknown revision `{0}`; check it with `git rev-parse {0}` (fetch it first in CI)")]
    UnknownRevision(String),
    #[error("cannot read HEAD of the repository at {0}: {1}; it may be corrupted: run `git status` there to see what git says")]
    BrokenHead(PathBuf, String),
    #[error("the repository at {0} is bare; redline reviews a working tree")]
    Bare(PathBuf),
    #[error("git: {0}")]
    Other(#[from] git2::Error),
}

/// The revision a change is compared against. `tree` is `None` when the
/// repository has no commits yet: then every file is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub rev: String,
    pub commit: Option<git2::Oid>,
    pub tree: Option<git2::Oid>,
}

impl Base {
    /// A stable id for caching blobs: the commit, or "unborn".
    pub fn id(&self) -> String {
        self.commit
            .map(|c| c.to_string())
            .unwrap_or_else(|| "unborn".into())
    }
}

/// How a path differs from the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Renamed (possibly with edits) from the given repository-relative path.
    Renamed {
        from: String,
    },
    /// A new file that copies (possibly with edits) the given path, which
    /// still exists: git's copy detection, untracked files included.
    Copied {
        from: String,
    },
    Untracked,
    /// A submodule (gitlink) added, removed, moved or moved to another
    /// commit: another repository's history, not text to review.
    Submodule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedPath {
    /// Repository-relative, `/`-separated.
    pub path: String,
    pub kind: ChangeKind,
}

/// A discovered working-tree repository. `git2::Repository` is not `Sync`,
/// so it sits behind a mutex; every operation is short.
pub struct Repo {
    inner: Mutex<git2::Repository>,
    root: PathBuf,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("root", &self.root).finish()
    }
}

impl Repo {
    /// Finds the repository containing `path` (a file or folder).
    pub fn discover(path: &Path) -> Result<Self, GitError> {
        // A file, or a path that does not exist yet (a new buffer in a new
        // folder): start from the nearest existing folder above it.
        let start = path.ancestors().find(|p| p.is_dir()).unwrap_or(path);
        let repo = git2::Repository::discover(start).map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::NotARepository(path.to_path_buf()),
            _ => GitError::Other(e),
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Bare(path.to_path_buf()))?
            .to_path_buf();
        let root = root.canonicalize().unwrap_or(root);
        Ok(Self {
            inner: Mutex::new(repo),
            root,
        })
    }

    /// The working-tree root (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.git` folder (where redline keeps per-repository state).
    pub fn git_dir(&self) -> PathBuf {
        self.lock().path().to_path_buf()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, git2::Repository> {
        // A poisoned lock only means another thread panicked mid-read; the
        // repository handle itself holds no invariant we could break.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves `rev` to a base. `HEAD` in a repository without commits is
    /// the empty base; any other unresolvable revision is an error.
    pub fn resolve_base(&self, rev: &str) -> Result<Base, GitError> {
        let repo = self.lock();
        let resolved = repo
            .revparse_single(rev)
            .map(|object| object.peel_to_commit().map(|c| (c.id(), c.tree_id())));
        match resolved {
            Ok(Ok((commit, tree))) => Ok(Base {
                rev: rev.to_string(),
                commit: Some(commit),
                tree: Some(tree),
            }),
            Ok(Err(_)) => Err(GitError::UnknownRevision(rev.to_string())),
            Err(e) if rev == "HEAD" && repo.head().is_err() && is_unborn(&repo) => {
                tracing::debug!("HEAD is unborn ({e}); treating every file as added");
                Ok(Base {
                    rev: rev.to_string(),
                    commit: None,
                    tree: None,
                })
            }
            // HEAD always exists in a sound repository: failing to read it
            // is damage, not a typo.
            Err(e) if rev == "HEAD" => Err(GitError::BrokenHead(
                self.root.clone(),
                e.message().to_string(),
            )),
            Err(_) => Err(GitError::UnknownRevision(rev.to_string())),
        }
    }

    /// The bytes of `path` (repository-relative) at `base`, or `None` when the
    /// path does not exist there.
    pub fn base_blob(&self, base: &Base, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let Some(tree_id) = base.tree else {
            return Ok(None);
        };
        let repo = self.lock();
        let tree = repo.find_tree(tree_id)?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if entry.kind() == Some(git2::ObjectType::Commit) {
            // A submodule's commit lives in its own repository, not here.
            return Ok(None);
        }
        let content = match entry.to_object(&repo)?.into_blob() {
            Ok(blob) => Some(blob.content().to_vec()),
            // A folder or submodule at that path: nothing to diff against.
            Err(_) => None,
        };
        Ok(content)
    }

    /// Whether `path` (a file or a folder, repository-relative) exists at
    /// `base`, so that `check deleted.py` is told apart from a typo.
    pub fn exists_at_base(&self, base: &Base, path: &str) -> Result<bool, GitError> {
        let Some(tree_id) = base.tree else {
            return Ok(false);
        };
        let repo = self.lock();
        let tree = repo.find_tree(tree_id)?;
        let found = tree.get_path(Path::new(path)).is_ok();
        Ok(found)
    }

    /// Hands `visit` the path and bytes of each file at `base` whose path
    /// `wanted` accepts, skipping files over `max_file_bytes`, until `budget`
    /// bytes have been read (a huge repository is read in part, never
    /// whole) or `visit` returns `false`. Submodules are not entered.
    pub fn for_each_base_file(
        &self,
        base: &Base,
        wanted: impl Fn(&str) -> bool,
        max_file_bytes: u64,
        budget: u64,
        mut visit: impl FnMut(&str, &[u8]) -> bool,
    ) -> Result<(), GitError> {
        let Some(tree_id) = base.tree else {
            return Ok(());
        };
        let repo = self.lock();
        let tree = repo.find_tree(tree_id)?;
        let odb = repo.odb()?;
        let mut read = 0u64;
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Blob) {
                return git2::TreeWalkResult::Ok;
            }
            let Some(name) = entry.name() else {
                return git2::TreeWalkResult::Ok;
            };
            let path = format!("{dir}{name}");
            if !wanted(&path) {
                return git2::TreeWalkResult::Ok;
            }
            let size = match odb.read_header(entry.id()) {
                Ok((size, _)) => size as u64,
                Err(_) => return git2::TreeWalkResult::Ok,
            };
            if size > max_file_bytes {
                return git2::TreeWalkResult::Ok;
            }
            let Ok(blob) = repo.find_blob(entry.id()) else {
                return git2::TreeWalkResult::Ok;
            };
            read += size;
            if !visit(&path, blob.content()) || read > budget {
                return git2::TreeWalkResult::Abort;
            }
            git2::TreeWalkResult::Ok
        })
        .or_else(|e| match e.code() {
            // Abort is how the walk stops early; it is not a failure.
            git2::ErrorCode::User => Ok(()),
            _ => Err(e),
        })?;
        Ok(())
    }

    /// The earlier versions of `path`: its distinct contents in the first
    /// `commits` first-parent ancestors of `base` (the base's own version
    /// left out), newest first, at most `versions` of them and none over
    /// `max_file_bytes`. What a revert brings back was in one of them.
    pub fn earlier_versions(
        &self,
        base: &Base,
        path: &str,
        commits: usize,
        versions: usize,
        max_file_bytes: u64,
    ) -> Result<Vec<Vec<u8>>, GitError> {
        let Some(commit_id) = base.commit else {
            return Ok(Vec::new());
        };
        let repo = self.lock();
        let odb = repo.odb()?;
        let blob_at = |tree: &git2::Tree<'_>| {
            tree.get_path(Path::new(path))
                .ok()
                .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
                .map(|e| e.id())
        };
        let mut seen: std::collections::HashSet<git2::Oid> = std::collections::HashSet::new();
        let mut commit = repo.find_commit(commit_id)?;
        if let Some(own) = blob_at(&commit.tree()?) {
            seen.insert(own);
        }
        let mut out = Vec::new();
        for _ in 0..commits {
            let Ok(parent) = commit.parent(0) else { break };
            commit = parent;
            let Some(id) = blob_at(&commit.tree()?) else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            match odb.read_header(id) {
                Ok((size, _)) if size as u64 <= max_file_bytes => {}
                _ => continue,
            }
            out.push(repo.find_blob(id)?.content().to_vec());
            if out.len() >= versions {
                break;
            }
        }
        Ok(out)
    }

    /// Size in bytes of `path` at `base` without reading it, for size limits.
    pub fn base_blob_size(&self, base: &Base, path: &str) -> Result<Option<u64>, GitError> {
        let Some(tree_id) = base.tree else {
            return Ok(None);
        };
        let repo = self.lock();
        let tree = repo.find_tree(tree_id)?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let odb = repo.odb()?;
        match odb.read_header(entry.id()) {
            Ok((size, git2::ObjectType::Blob)) => Ok(Some(size as u64)),
            _ => Ok(None),
        }
    }

    /// Paths of the working tree (index and untracked files included) that
    /// differ from `base`, restricted to `pathspecs` when given
    /// (repository-relative). Ignored files are left out; renames are
    /// detected.
    pub fn changed_paths(
        &self,
        base: &Base,
        pathspecs: &[String],
    ) -> Result<Vec<ChangedPath>, GitError> {
        let repo = self.lock();
        let tree = base.tree.map(|id| repo.find_tree(id)).transpose()?;
        let mut opts = git2::DiffOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_typechange(true)
            .ignore_submodules(true)
            // The paths come from the command line (the shell already
            // expanded any glob): `a[1].py` means that file, not `a1.py`.
            .disable_pathspec_match(true)
            // redline decides what is binary itself, from the bytes it
            // reads; an untracked folder is listed without first checking
            // whether it holds only ignored files.
            .skip_binary_check(true)
            .enable_fast_untracked_dirs(true);
        for spec in pathspecs {
            opts.pathspec(spec);
        }
        let mut diff = repo.diff_tree_to_workdir_with_index(tree.as_ref(), Some(&mut opts))?;
        let mut find = git2::DiffFindOptions::new();
        find.renames(true).for_untracked(true);
        diff.find_similar(Some(&mut find))?;

        let mut out: Vec<ChangedPath> = diff.deltas().filter_map(changed_path).collect();
        // `ignore_submodules` also hides a submodule moved to another
        // commit in the index; tree→index compares the recorded commits
        // only (no walk into the submodule's working tree), so ask it.
        let mut gitlinks = git2::DiffOptions::new();
        gitlinks
            .ignore_submodules(false)
            .disable_pathspec_match(true);
        for spec in pathspecs {
            gitlinks.pathspec(spec);
        }
        let staged = repo.diff_tree_to_index(tree.as_ref(), None, Some(&mut gitlinks))?;
        for delta in staged.deltas() {
            let moved = delta.status() == git2::Delta::Modified
                && delta.new_file().mode() == git2::FileMode::Commit;
            let path = delta
                .new_file()
                .path()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if moved && !path.is_empty() && !out.iter().any(|c| c.path == path) {
                out.push(ChangedPath {
                    path,
                    kind: ChangeKind::Submodule,
                });
            }
        }
        // libgit2 merges tree→index with index→workdir and keeps only the
        // deletion when the index dropped a path (`git rm --cached`), even
        // though the file is still on disk. Such a file exists at the base
        // and in the working tree: it is a modification, unless it is now
        // ignored (then it is on its way out of the repository).
        for changed in &mut out {
            if changed.kind == ChangeKind::Deleted
                && self.root.join(&changed.path).is_file()
                && !repo.is_path_ignored(&changed.path).unwrap_or(false)
            {
                changed.kind = ChangeKind::Modified;
            }
        }
        if let Some(tree) = &tree {
            find_copies(&mut out, |opts| {
                opts.include_untracked(true)
                    .recurse_untracked_dirs(true)
                    .enable_fast_untracked_dirs(true);
                repo.diff_tree_to_workdir_with_index(Some(tree), Some(opts))
            })?;
        }
        Ok(merge_duplicates(out))
    }

    /// Paths whose staged content (the index) differs from `base`: exactly
    /// what the next commit will hold. Unstaged edits and untracked files
    /// are not part of it; renames are detected.
    pub fn staged_paths(
        &self,
        base: &Base,
        pathspecs: &[String],
    ) -> Result<Vec<ChangedPath>, GitError> {
        let repo = self.lock();
        let tree = base.tree.map(|id| repo.find_tree(id)).transpose()?;
        let mut opts = git2::DiffOptions::new();
        opts.include_typechange(true)
            .ignore_submodules(false)
            .disable_pathspec_match(true)
            .skip_binary_check(true);
        for spec in pathspecs {
            opts.pathspec(spec);
        }
        let mut diff = repo.diff_tree_to_index(tree.as_ref(), None, Some(&mut opts))?;
        let mut find = git2::DiffFindOptions::new();
        find.renames(true);
        diff.find_similar(Some(&mut find))?;
        let mut out: Vec<ChangedPath> = diff.deltas().filter_map(changed_path).collect();
        if let Some(tree) = &tree {
            find_copies(&mut out, |opts| {
                repo.diff_tree_to_index(Some(tree), None, Some(opts))
            })?;
        }
        Ok(merge_duplicates(out))
    }

    /// The staged bytes of `path` (repository-relative), or `None` when the
    /// index has no file there. `Err` with the blob's size when it is over
    /// `limit`, so that nothing large is read.
    pub fn index_blob(
        &self,
        path: &str,
        limit: u64,
    ) -> Result<Option<Result<Vec<u8>, u64>>, GitError> {
        let repo = self.lock();
        let index = repo.index()?;
        let Some(entry) = index.get_path(Path::new(path), 0) else {
            return Ok(None);
        };
        let odb = repo.odb()?;
        if let Ok((size, _)) = odb.read_header(entry.id) {
            if size as u64 > limit {
                return Ok(Some(Err(size as u64)));
            }
        }
        let blob = repo.find_blob(entry.id)?;
        Ok(Some(Ok(blob.content().to_vec())))
    }

    /// Repository-relative `/`-separated form of an absolute path inside the
    /// working tree, or `None` when it lies outside.
    pub fn relative_path(&self, path: &Path) -> Option<String> {
        // The file may not exist (a new, unsaved buffer, or a deleted file
        // named on the command line): resolve its nearest existing folder
        // and append the rest.
        let mut canonical = None;
        for ancestor in path.ancestors() {
            if let Ok(real) = ancestor.canonicalize() {
                let rest = path.strip_prefix(ancestor).ok()?;
                canonical = Some(real.join(rest));
                break;
            }
        }
        let canonical = canonical.unwrap_or_else(|| path.to_path_buf());
        let rel = canonical.strip_prefix(&self.root).ok()?;
        let s = rel.to_string_lossy().replace('\\', "/");
        (!s.is_empty()).then_some(s)
    }
}

/// What one delta of a diff means for a review; `None` for what is not a
/// change (unmodified, ignored, unreadable entries).
fn changed_path(delta: git2::DiffDelta<'_>) -> Option<ChangedPath> {
    let path_of = |f: git2::DiffFile<'_>| {
        f.path()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default()
    };
    let new_path = path_of(delta.new_file());
    tracing::debug!(status = ?delta.status(), path = %new_path, "changed path");
    let gitlink = |f: git2::DiffFile<'_>| f.mode() == git2::FileMode::Commit;
    let submodule = gitlink(delta.old_file()) || gitlink(delta.new_file());
    let kind = match delta.status() {
        git2::Delta::Added
        | git2::Delta::Untracked
        | git2::Delta::Deleted
        | git2::Delta::Renamed
        | git2::Delta::Copied
        | git2::Delta::Modified
        | git2::Delta::Typechange
            if submodule =>
        {
            ChangeKind::Submodule
        }
        git2::Delta::Added => ChangeKind::Added,
        git2::Delta::Untracked => ChangeKind::Untracked,
        git2::Delta::Deleted => ChangeKind::Deleted,
        git2::Delta::Renamed => ChangeKind::Renamed {
            from: path_of(delta.old_file()),
        },
        git2::Delta::Copied => ChangeKind::Copied {
            from: path_of(delta.old_file()),
        },
        git2::Delta::Modified | git2::Delta::Typechange => ChangeKind::Modified,
        _ => return None,
    };
    let gone = delta.status() == git2::Delta::Deleted;
    let path = if kind == ChangeKind::Deleted || (gone && kind == ChangeKind::Submodule) {
        path_of(delta.old_file())
    } else {
        new_path
    };
    (!path.is_empty()).then_some(ChangedPath { path, kind })
}

/// Sources tried per new file by copy detection (git's `diff.renameLimit`
/// default).
const COPY_SOURCE_LIMIT: usize = 1000;

/// Marks the added and untracked paths of `out` that copy (or took the
/// place of) a file of the base as [`ChangeKind::Copied`] (or `Renamed`),
/// so that a review diffs them against their
/// source. Needs a second diff that lists unmodified files (the sources
/// git's copy detection may pick), so it runs only when something was
/// added, and over the whole repository whatever the pathspecs.
fn find_copies<'r>(
    out: &mut [ChangedPath],
    diff: impl FnOnce(&mut git2::DiffOptions) -> Result<git2::Diff<'r>, git2::Error>,
) -> Result<(), GitError> {
    let added = |k: &ChangeKind| matches!(k, ChangeKind::Added | ChangeKind::Untracked);
    if !out.iter().any(|c| added(&c.kind)) {
        return Ok(());
    }
    let mut opts = git2::DiffOptions::new();
    opts.include_unmodified(true)
        .include_typechange(true)
        .ignore_submodules(true)
        .skip_binary_check(true);
    let mut diff = diff(&mut opts)?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true)
        .copies(true)
        .copies_from_unmodified(true)
        .for_untracked(true)
        .rename_limit(COPY_SOURCE_LIMIT);
    diff.find_similar(Some(&mut find))?;
    for delta in diff.deltas() {
        // This pass may pair a deletion with another new file than the
        // first did: either way the new file has a source.
        if !matches!(delta.status(), git2::Delta::Copied | git2::Delta::Renamed) {
            continue;
        }
        let path_of = |f: git2::DiffFile<'_>| {
            f.path()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default()
        };
        let (to, from) = (path_of(delta.new_file()), path_of(delta.old_file()));
        if let Some(changed) = out.iter_mut().find(|c| c.path == to && added(&c.kind)) {
            tracing::debug!(path = %to, from = %from, "copied");
            changed.kind = if delta.status() == git2::Delta::Renamed {
                ChangeKind::Renamed { from }
            } else {
                ChangeKind::Copied { from }
            };
        }
    }
    Ok(())
}

/// One entry per path. Should a path show up both as deleted and as added or
/// untracked, it exists at the base and in the working tree: a modification.
fn merge_duplicates(mut paths: Vec<ChangedPath>) -> Vec<ChangedPath> {
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out: Vec<ChangedPath> = Vec::with_capacity(paths.len());
    for changed in paths {
        match out.last_mut() {
            Some(last) if last.path == changed.path => {
                let gone = |k: &ChangeKind| *k == ChangeKind::Deleted;
                if gone(&last.kind) != gone(&changed.kind) {
                    last.kind = ChangeKind::Modified;
                }
            }
            _ => out.push(changed),
        }
    }
    out
}

fn is_unborn(repo: &git2::Repository) -> bool {
    match repo.head() {
        Err(e) => {
            e.code() == git2::ErrorCode::UnbornBranch || e.code() == git2::ErrorCode::NotFound
        }
        Ok(_) => false,
    }
}
