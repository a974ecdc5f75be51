//! Findings a user dismissed, remembered per repository by fingerprint in
//! `<git_dir>/redline/dismissed.json`. Front-end agnostic: the language
//! server writes it, any front end may read it. A dismissal counts only
//! once it is on disk: the list is written to a temporary file, synced and
//! renamed over the old one (a crash never leaves half a file), and memory
//! changes only after that, so a failed write can simply be retried.
//! Temporary files a killed writer left behind are removed at the next
//! start. A missing or unreadable file means "nothing dismissed".

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// Temporary files of a write in progress start with this.
const TEMP_PREFIX: &str = ".dismissed.";
const TEMP_SUFFIX: &str = ".tmp";
/// Older releases used `tempfile`'s default names.
const LEGACY_TEMP_PREFIX: &str = ".tmp";
/// A write takes milliseconds: a temporary file this old belongs to no
/// write in progress (another redline process on the same repository may
/// be writing a younger one).
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DismissError {
    #[error(
        "cannot save dismissed findings to {path}: {source}; nothing was dismissed. Check that the folder is writable, then dismiss again"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct OnDisk {
    version: u32,
    fingerprints: BTreeSet<String>,
}

/// The dismissed fingerprints of one repository.
#[derive(Debug)]
pub struct DismissedStore {
    path: PathBuf,
    set: RwLock<BTreeSet<String>>,
    /// One write at a time; readers are not blocked while it runs.
    writer: Mutex<()>,
}

impl DismissedStore {
    /// The store of the repository whose git folder is `git_dir`.
    pub fn open(git_dir: &Path) -> Self {
        let path = git_dir.join("redline").join("dismissed.json");
        if let Some(dir) = path.parent() {
            remove_leftovers(dir, LEFTOVER_AGE);
        }
        let set = read_file(&path).unwrap_or_default();
        Self {
            path,
            set: RwLock::new(set),
            writer: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.read().contains(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Adds fingerprints and saves the list; returns how many were new.
    /// On error nothing changed, in memory or on disk.
    pub fn dismiss<I, S>(&self, fingerprints: I) -> Result<usize, DismissError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.read().clone();
        let before = next.len();
        next.extend(fingerprints.into_iter().map(Into::into));
        let added = next.len() - before;
        if added == 0 {
            return Ok(0);
        }
        // Another process on this repository may have dismissed some since
        // this one read the file: keep theirs too.
        next.extend(read_file(&self.path).unwrap_or_default());
        self.save(&next)?;
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(added)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<String>> {
        // A poisoned lock only means a writer panicked; the set is still valid.
        self.set.read().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, set: &BTreeSet<String>) -> Result<(), DismissError> {
        let err = |source| DismissError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().expect("the store path has a folder");
        std::fs::create_dir_all(dir).map_err(err)?;
        let disk = OnDisk {
            version: 1,
            fingerprints: set.clone(),
        };
        let json = serde_json::to_vec_pretty(&disk).expect("a set of strings serialises");
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(err)?;
        tmp.write_all(&json).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&self.path).map_err(|e| err(e.error))?;
        // The rename itself is durable once the folder is synced (not
        // possible on every platform; the file's content already is).
        if let Ok(folder) = std::fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        remove_leftovers(dir, LEFTOVER_AGE);
        Ok(())
    }
}

/// The fingerprints in the file, `None` when it is missing or unreadable.
fn read_file(path: &Path) -> Option<BTreeSet<String>> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice::<OnDisk>(&bytes) {
        Ok(disk) => Some(disk.fingerprints),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring unreadable dismissed list: {e}");
            None
        }
    }
}

/// Removes temporary files of writes that never finished (the process was
/// killed between writing and renaming) older than `age`.
fn remove_leftovers(dir: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = (name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX))
            || name.starts_with(LEGACY_TEMP_PREFIX);
        let old = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if ours && old {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed an unfinished write")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), "cannot remove an unfinished write: {e}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dismissed_fingerprints_survive_reopening_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DismissedStore::open(dir.path());
        assert!(!store.contains("abc"));
        assert_eq!(store.dismiss(["abc", "def"]).expect("saved"), 2);
        assert_eq!(store.dismiss(["abc"]).expect("saved"), 0);
        let again = DismissedStore::open(dir.path());
        assert!(again.contains("abc") && again.contains("def"));
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn a_corrupt_file_means_nothing_dismissed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("redline")).expect("mkdir");
        std::fs::write(dir.path().join("redline/dismissed.json"), "{not json").expect("write");
        let store = DismissedStore::open(dir.path());
        assert!(store.is_empty());
        store.dismiss(["x"]).expect("overwrites the corrupt file");
        assert!(DismissedStore::open(dir.path()).contains("x"));
    }

    #[test]
    fn a_failed_write_changes_nothing_and_a_retry_saves() {
        let dir = tempfile::tempdir().expect("tempdir");
        // `redline` is a file, so its folder cannot be created.
        std::fs::write(dir.path().join("redline"), "in the way").expect("write");
        let store = DismissedStore::open(dir.path());
        assert!(store.dismiss(["abc"]).is_err());
        assert!(!store.contains("abc"), "memory unchanged");
        std::fs::remove_file(dir.path().join("redline")).expect("remove");
        assert_eq!(store.dismiss(["abc"]).expect("saved"), 1);
        assert!(DismissedStore::open(dir.path()).contains("abc"));
    }

    #[test]
    fn dismissals_of_another_process_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mine = DismissedStore::open(dir.path());
        let theirs = DismissedStore::open(dir.path());
        theirs.dismiss(["theirs"]).expect("saved");
        mine.dismiss(["mine"]).expect("saved");
        let again = DismissedStore::open(dir.path());
        assert!(again.contains("mine") && again.contains("theirs"));
    }

    #[test]
    fn old_leftovers_of_unfinished_writes_are_removed_young_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("redline");
        std::fs::create_dir_all(&folder).expect("mkdir");
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        for name in [".tmpAbC123", ".dismissed.xyz.tmp"] {
            let file = std::fs::File::create(folder.join(name)).expect("create");
            file.set_modified(hour_ago).expect("backdate");
        }
        std::fs::write(folder.join(".tmpYoung1"), "").expect("write");
        std::fs::write(folder.join("notes.txt"), "").expect("write");
        DismissedStore::open(dir.path());
        let mut left: Vec<String> = std::fs::read_dir(&folder)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".tmpYoung1", "notes.txt"]);
    }
}
