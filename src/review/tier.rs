//! Risk tiers: how much reviewing a change deserves, from its size and the
//! paths it touches (SPEC §3).

use super::changes::ChangeSet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Trivial,
    Lite,
    Full,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Trivial => "trivial",
            Tier::Lite => "lite",
            Tier::Full => "full",
        }
    }

    /// The tier a change deserves: `trivial` up to 10 changed lines, `lite`
    /// up to 100, `full` beyond, and always `full` for sensitive paths.
    pub fn classify(changes: &ChangeSet) -> Tier {
        if changes.files.iter().any(|f| is_sensitive(&f.path)) {
            return Tier::Full;
        }
        match changes.changed_lines() {
            0..=10 => Tier::Trivial,
            11..=100 => Tier::Lite,
            _ => Tier::Full,
        }
    }
}

/// Paths that always get every reviewer.
pub fn is_sensitive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let in_dir = |d: &str| lower.starts_with(&format!("{d}/")) || lower.contains(&format!("/{d}/"));
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    in_dir("auth")
        || in_dir("crypto")
        || in_dir("security")
        || file.contains("secret")
        || file.contains("token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths_match_folders_and_names() {
        assert!(is_sensitive("src/auth/login.rs"));
        assert!(is_sensitive("auth/x.py"));
        assert!(is_sensitive("lib/token_store.go"));
        assert!(!is_sensitive("src/author.rs"));
    }
}
