//! Findings a team has judged, committed with the repository in
//! `.redline/dismissed.toml`: one `[[dismissed]]` table per finding with its
//! fingerprint, who dismissed it and why (and, for the reader, its path and
//! title), so the decision is reviewed in the pull request that adds it.
//! `check` and the language server both honour it; personal dismissals stay
//! in `.git/redline/` (`dismissed.rs`).
//!
//! Appending keeps the file's existing text byte for byte (comments, order)
//! and writes through a temporary file and a rename. A missing file means
//! nothing dismissed; a file that does not parse is an error naming the
//! file and what is wrong, never silently ignored. Front-end agnostic.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the team's dismissals live, relative to the repository root.
pub const TEAM_DISMISSED_FILE: &str = ".redline/dismissed.toml";

const HEADER: &str = "\
# Findings this team has judged: redline check and the editors no longer
# report them. Add one with `redline dismiss --team FINGERPRINT --why \"...\"`
# (the fingerprint is in `redline check --format json`); personal
# dismissals stay in .git/redline/.
";

/// One judged finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamDismissal {
    pub fingerprint: String,
    pub who: String,
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    #[serde(default)]
    dismissed: Vec<TeamDismissal>,
}

#[derive(Debug, thiserror::Error)]
pub enum TeamDismissError {
    #[error("{path}: {message}; mend the file (each [[dismissed]] has fingerprint, who and why) or remove the entry")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}; nothing was dismissed. Check that the folder is writable, then dismiss again")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
}

/// The team's dismissals of one repository.
#[derive(Debug, Default)]
pub struct TeamDismissed {
    entries: Vec<TeamDismissal>,
    fingerprints: HashSet<String>,
}

impl TeamDismissed {
    /// Reads `<root>/.redline/dismissed.toml`; no file, nothing dismissed.
    pub fn load(root: &Path) -> Result<Self, TeamDismissError> {
        let path = root.join(TEAM_DISMISSED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(TeamDismissError::Read { path, source }),
        };
        let entries = parse(&path, &text)?;
        let fingerprints = entries.iter().map(|e| e.fingerprint.clone()).collect();
        Ok(Self {
            entries,
            fingerprints,
        })
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[TeamDismissal] {
        &self.entries
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<TeamDismissal>, TeamDismissError> {
    let invalid = |message: String| TeamDismissError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let disk: OnDisk = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    for (i, d) in disk.dismissed.iter().enumerate() {
        check_entry(d).map_err(|m| invalid(format!("[[dismissed]] number {}: {m}", i + 1)))?;
    }
    Ok(disk.dismissed)
}

fn check_entry(d: &TeamDismissal) -> Result<(), String> {
    let fp = d.fingerprint.trim();
    if fp.is_empty() || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "fingerprint `{}` is not a finding's fingerprint (hexadecimal, as in `redline check --format json`)",
            d.fingerprint
        ));
    }
    if d.who.trim().is_empty() {
        return Err("`who` is empty: say who judged the finding".into());
    }
    if d.why.trim().is_empty() {
        return Err("`why` is empty: say why the finding does not apply".into());
    }
    Ok(())
}

/// `Name <email>` from git's configuration of the repository at `root`.
pub fn git_identity(root: &Path) -> Option<String> {
    let config = git2::Repository::open(root).ok()?.config().ok()?;
    let name = config.get_string("user.name").ok()?;
    Some(match config.get_string("user.email") {
        Ok(email) => format!("{name} <{email}>"),
        Err(_) => name,
    })
}

/// Adds `new` to `<root>/.redline/dismissed.toml` (created when missing),
/// skipping fingerprints already there. Returns how many were added. On
/// error the file is as it was.
pub fn append(root: &Path, new: &[TeamDismissal]) -> Result<usize, TeamDismissError> {
    for d in new {
        check_entry(d).map_err(TeamDismissError::Refused)?;
    }
    let path = root.join(TEAM_DISMISSED_FILE);
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(TeamDismissError::Read { path, source }),
    };
    let known: HashSet<String> = parse(&path, &existing)?
        .into_iter()
        .map(|d| d.fingerprint)
        .collect();
    let mut text = if existing.is_empty() {
        HEADER.to_string()
    } else {
        existing.clone()
    };
    let mut added = HashSet::new();
    for d in new {
        if known.contains(&d.fingerprint) || !added.insert(d.fingerprint.clone()) {
            continue;
        }
        let block = toml::to_string(&OnDisk {
            dismissed: vec![d.clone()],
        })
        .map_err(|e| TeamDismissError::Refused(format!("cannot write this dismissal: {e}")))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&block);
    }
    if added.is_empty() {
        return Ok(0);
    }
    // What we write must read back: never leave the team a broken file.
    parse(&path, &text)?;
    let write_err = |source| TeamDismissError::Write {
        path: path.clone(),
        source,
    };
    let dir = path.parent().expect("the file has a folder");
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    tmp.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    Ok(added.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fp: &str, why: &str) -> TeamDismissal {
        TeamDismissal {
            fingerprint: fp.into(),
            who: "Ada <ada@example.com>".into(),
            why: why.into(),
            path: Some("src/app.py".into()),
            title: None,
        }
    }

    #[test]
    fn a_missing_file_dismisses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TeamDismissed::load(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn appended_dismissals_read_back_and_keep_the_existing_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".redline")).unwrap();
        let mine = "# our judged findings\n\n[[dismissed]]\nfingerprint = \"00aa\"\nwho = \"Bo\"\nwhy = \"fixture\"\n";
        std::fs::write(dir.path().join(TEAM_DISMISSED_FILE), mine).unwrap();
        let why = "a \"quoted\" reason\nover two lines ] [[dismissed]]";
        assert_eq!(append(dir.path(), &[entry("abc123", why)]).unwrap(), 1);
        assert_eq!(append(dir.path(), &[entry("abc123", "again")]).unwrap(), 0);
        let text = std::fs::read_to_string(dir.path().join(TEAM_DISMISSED_FILE)).unwrap();
        assert!(text.starts_with(mine), "{text}");
        let team = TeamDismissed::load(dir.path()).unwrap();
        assert!(team.contains("00aa") && team.contains("abc123"));
        assert_eq!(team.len(), 2);
        assert_eq!(team.entries()[1].why, why, "a reason cannot break the file");
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".redline")).unwrap();
        std::fs::write(
            dir.path().join(TEAM_DISMISSED_FILE),
            "[[dismissed]]\nfingerprint = \"abc\"\nwho = \"Bo\"\n",
        )
        .unwrap();
        let err = TeamDismissed::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("dismissed.toml") && err.contains("why"),
            "{err}"
        );
        let err = append(dir.path(), &[entry("def", "x")]).unwrap_err();
        assert!(matches!(err, TeamDismissError::Invalid { .. }));
    }

    #[test]
    fn a_dismissal_without_a_reason_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = append(dir.path(), &[entry("abc", "  ")]).unwrap_err();
        assert!(err.to_string().contains("why"), "{err}");
        let err = append(dir.path(), &[entry("not hex!", "x")]).unwrap_err();
        assert!(err.to_string().contains("fingerprint"), "{err}");
        assert!(!dir.path().join(TEAM_DISMISSED_FILE).exists());
    }
}
