//! Findings a user dismissed, remembered per repository by fingerprint in
//! `<git_dir>/redline/dismissed.json`. Front-end agnostic: the language
//! server writes it, any front end may read it. Writes are atomic (a
//! temporary file renamed over the old one) so a crash never leaves half a
//! file; a missing or unreadable file means "nothing dismissed".

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum DismissError {
    #[error(
        "cannot save dismissed findings to {path}: {source}; check that the folder is writable"
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
}

impl DismissedStore {
    /// The store of the repository whose git folder is `git_dir`.
    pub fn open(git_dir: &Path) -> Self {
        let path = git_dir.join("redline").join("dismissed.json");
        let set = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(disk) => disk.fingerprints,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable dismissed list: {e}");
                    BTreeSet::new()
                }
            },
            Err(_) => BTreeSet::new(),
        };
        Self {
            path,
            set: RwLock::new(set),
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
    pub fn dismiss<I, S>(&self, fingerprints: I) -> Result<usize, DismissError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        let before = set.len();
        set.extend(fingerprints.into_iter().map(Into::into));
        let added = set.len() - before;
        if added > 0 {
            self.save(&set)?;
        }
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
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        tmp.write_all(&json).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&self.path).map_err(|e| err(e.error))?;
        Ok(())
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
}
