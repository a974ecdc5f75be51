//! What changed: the files of a review with their old and new text and
//! hunks. Built from the working tree (`redline check`) or from one editor
//! buffer (the language server). Decides, deliberately and with a note, what
//! is not reviewed: submodules, binary files, files over the size limit,
//! files that vanished while being read, excluded paths. A deleted file is
//! never such a note: it has no new text to review, so nothing is missed.

use super::finding::Skipped;
use crate::config::ReviewConfig;
use crate::diff::{self, Decoded, FileDiff};
use crate::git::{Base, ChangeKind, ChangedPath, GitError, Repo};
use crate::syntax::{Lang, Parsed, ParsedText};
use globset::{Glob, GlobSet, GlobSetBuilder};

/// One file of a review.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// Repository-relative, `/`-separated.
    pub path: String,
    pub kind: ChangeKind,
    pub old_text: String,
    pub new_text: String,
    pub diff: FileDiff,
    /// Invalid UTF-8 was replaced while decoding.
    pub lossy: bool,
    /// A syntax tree of `new_text` the caller already had (the language
    /// server keeps one per buffer), fingerprinted with the text.
    tree: Option<ParsedText>,
}

impl FileChange {
    /// Builds a change from old and new text, computing the diff.
    pub fn new(
        path: impl Into<String>,
        kind: ChangeKind,
        old_text: String,
        new_text: String,
    ) -> Self {
        let diff = diff::diff_texts(&old_text, &new_text);
        Self {
            path: path.into(),
            kind,
            old_text,
            new_text,
            diff,
            lossy: false,
            tree: None,
        }
    }

    /// Hands over a parse of `new_text`, so that the review reads it
    /// instead of parsing again. Refused (`false`) when it is of another
    /// language than the path's or of a text of another length; a text
    /// changed afterwards is caught by [`tree`](Self::tree).
    pub fn keep_tree(&mut self, parsed: Parsed) -> bool {
        if Lang::from_path(&self.path) != Some(parsed.lang()) {
            return false;
        }
        self.tree = ParsedText::new(parsed, &self.new_text);
        self.tree.is_some()
    }

    /// The kept parse of `new_text`, unless there is none or the text is
    /// no longer the one it was parsed from.
    pub fn tree(&self) -> Option<&Parsed> {
        self.tree.as_ref()?.of(&self.new_text)
    }

    /// A file that did not exist at the base: every line is added.
    pub fn new_file(path: impl Into<String>, text: String) -> Self {
        Self::new(path, ChangeKind::Added, String::new(), text)
    }
}

/// The files of one review and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    pub files: Vec<FileChange>,
    pub skipped: Vec<Skipped>,
    /// The repository and revision the files were compared against, when
    /// there is one to read again (what else the project held there).
    pub origin: Option<Origin>,
}

/// Where a change set's base can be read again.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The working-tree root of the repository.
    pub root: std::path::PathBuf,
    pub base: Base,
}

impl ChangeSet {
    /// Changed lines over all files (the measure for risk tiers).
    pub fn changed_lines(&self) -> u32 {
        self.files.iter().map(|f| f.diff.changed_line_count()).sum()
    }

    /// Collects the working tree's changes against `base`, restricted to
    /// `pathspecs` (repository-relative; empty = everything).
    pub fn from_worktree(
        repo: &Repo,
        base: &Base,
        pathspecs: &[String],
        config: &ReviewConfig,
    ) -> Result<Self, GitError> {
        let changed = repo.changed_paths(base, pathspecs)?;
        Self::from_changed_paths(repo, base, changed, config)
    }

    /// Collects the staged changes (the index) against `base`: what the
    /// next commit will hold, whatever the working tree says now.
    pub fn from_index(
        repo: &Repo,
        base: &Base,
        pathspecs: &[String],
        config: &ReviewConfig,
    ) -> Result<Self, GitError> {
        let changed = repo.staged_paths(base, pathspecs)?;
        Self::collect(repo, base, changed, config, NewSide::Index)
    }

    /// Reads old and new text of already listed paths. Split from
    /// [`from_worktree`](Self::from_worktree) because the working tree can
    /// change between listing and reading: a file gone by then is skipped
    /// with a note.
    pub fn from_changed_paths(
        repo: &Repo,
        base: &Base,
        changed_paths: Vec<ChangedPath>,
        config: &ReviewConfig,
    ) -> Result<Self, GitError> {
        Self::collect(repo, base, changed_paths, config, NewSide::WorkTree)
    }

    fn collect(
        repo: &Repo,
        base: &Base,
        changed_paths: Vec<ChangedPath>,
        config: &ReviewConfig,
        side: NewSide,
    ) -> Result<Self, GitError> {
        let exclude = globs(&config.exclude);
        let mut set = ChangeSet {
            origin: Some(Origin {
                root: repo.root().to_path_buf(),
                base: base.clone(),
            }),
            ..ChangeSet::default()
        };
        for changed in changed_paths {
            let deleted = changed.kind == ChangeKind::Deleted;
            if changed.kind == ChangeKind::Submodule {
                set.skip(&changed.path, SUBMODULE);
                continue;
            }
            if exclude.is_match(&changed.path) {
                if deleted {
                    continue;
                }
                set.skip(&changed.path, "excluded by review.exclude");
                continue;
            }
            let old_path = match &changed.kind {
                ChangeKind::Renamed { from } | ChangeKind::Copied { from } => from.clone(),
                ChangeKind::Added | ChangeKind::Untracked => String::new(),
                _ => changed.path.clone(),
            };
            let read = match side {
                _ if deleted => Ok(Vec::new()),
                NewSide::WorkTree => {
                    read_limited(&repo.root().join(&changed.path), config.max_file_bytes)
                }
                NewSide::Index => match repo.index_blob(&changed.path, config.max_file_bytes)? {
                    Some(Ok(bytes)) => Ok(bytes),
                    Some(Err(size)) => Err(too_large(size, config.max_file_bytes)),
                    None => Err("not in the index".into()),
                },
            };
            let new_bytes = match read {
                Ok(bytes) => Some(bytes),
                Err(reason) => {
                    set.skip(&changed.path, &reason);
                    None
                }
            };
            let Some(new_bytes) = new_bytes else { continue };
            let old_bytes = if old_path.is_empty() {
                Vec::new()
            } else {
                match repo.base_blob_size(base, &old_path)? {
                    // A deleted file has nothing left to review: no note.
                    Some(size) if size > config.max_file_bytes && deleted => continue,
                    Some(size) if size > config.max_file_bytes => {
                        set.skip(&changed.path, &too_large(size, config.max_file_bytes));
                        continue;
                    }
                    _ => repo.base_blob(base, &old_path)?.unwrap_or_default(),
                }
            };
            match Self::decode_pair(&changed.path, changed.kind.clone(), &old_bytes, &new_bytes) {
                Ok(file) => set.files.push(file),
                Err(_) if deleted => {}
                Err(reason) => set.skip(&changed.path, &reason),
            }
        }
        Ok(set)
    }

    /// One editor buffer against its base bytes (`None`: new file).
    pub fn from_buffer(
        path: &str,
        base: Option<&[u8]>,
        buffer: &str,
        config: &ReviewConfig,
    ) -> Self {
        let mut set = ChangeSet::default();
        if globs(&config.exclude).is_match(path) {
            set.skip(path, "excluded by review.exclude");
            return set;
        }
        if buffer.len() as u64 > config.max_file_bytes {
            set.skip(path, &too_large(buffer.len() as u64, config.max_file_bytes));
            return set;
        }
        let old = match base.map(diff::decode) {
            None => String::new(),
            Some(Decoded::Text { text, .. }) => text,
            Some(Decoded::Binary) => {
                set.skip(path, "binary at the base revision");
                return set;
            }
        };
        let kind = if base.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        set.files
            .push(FileChange::new(path, kind, old, buffer.to_string()));
        set
    }

    fn decode_pair(
        path: &str,
        kind: ChangeKind,
        old: &[u8],
        new: &[u8],
    ) -> Result<FileChange, String> {
        let (old, old_lossy) = match diff::decode(old) {
            Decoded::Text { text, lossy } => (text, lossy),
            Decoded::Binary => return Err("binary file (NUL bytes)".into()),
        };
        let (new, new_lossy) = match diff::decode(new) {
            Decoded::Text { text, lossy } => (text, lossy),
            Decoded::Binary => return Err("binary file (NUL bytes)".into()),
        };
        let mut file = FileChange::new(path, kind, old, new);
        file.lossy = old_lossy || new_lossy;
        Ok(file)
    }

    fn skip(&mut self, path: &str, reason: &str) {
        tracing::debug!(path, reason, "skipping file");
        self.skipped.push(Skipped {
            path: path.to_string(),
            reason: reason.to_string(),
        });
    }
}

/// Why a submodule change is listed under `skipped`.
const SUBMODULE: &str =
    "submodule: another repository's commit, not reviewed here; run redline in the submodule";

/// Where the new text of a change is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewSide {
    WorkTree,
    /// The index (`check --staged`).
    Index,
}

/// Reads a file unless it is over `limit`; a file deleted between listing
/// and reading, or unreadable, becomes a reason to skip.
fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| read_error(&e))?;
    if meta.file_type().is_symlink() {
        // Git stores the link target as the blob; compare like with like.
        let target = std::fs::read_link(path).map_err(|e| read_error(&e))?;
        return Ok(target.to_string_lossy().into_owned().into_bytes());
    }
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    std::fs::read(path).map_err(|e| read_error(&e))
}

fn read_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "deleted while the review was reading it".into()
    } else {
        format!("unreadable: {e}")
    }
}

fn too_large(size: u64, limit: u64) -> String {
    format!("{size} bytes, over the {limit}-byte limit (review.max_file_bytes)")
}

/// Compiles globs already validated by the config loader.
pub fn globs(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if let Ok(g) = Glob::new(p) {
            b.add(g);
        }
        // `vendor/**` should also match when written as `vendor/`.
        if let Some(dir) = p.strip_suffix('/') {
            if let Ok(g) = Glob::new(&format!("{dir}/**")) {
                b.add(g);
            }
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}
