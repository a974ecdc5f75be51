//! The finding model of SPEC §3 and the report a review produces. A finding
//! is what a reviewer said about lines of the *new* text; its fingerprint
//! identifies the issue independently of where the lines currently are.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Suggestion,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Suggestion => "suggestion",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Lenient parse for model output ("error", "high" and friends).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "error" | "high" | "blocker" => Some(Severity::Critical),
            "warning" | "warn" | "medium" | "major" => Some(Severity::Warning),
            "suggestion" | "info" | "low" | "minor" | "nit" | "note" => Some(Severity::Suggestion),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Repository-relative, `/`-separated.
    pub path: String,
    /// 1-based lines of the new text, inclusive.
    pub line: u32,
    pub end_line: u32,
    /// 1-based character column on `line` where the issue starts.
    pub column: u32,
    /// 1-based character column on `end_line` just past the issue, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    pub severity: Severity,
    pub reviewer: String,
    /// The built-in rule that fired, for built-in findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub title: String,
    pub message: String,
    pub fingerprint: String,
    /// Replacement text for lines `line..=end_line`.
    pub fix: Option<String>,
}

/// A stable id: the file, the reviewer, the title and the trimmed text of
/// the lines the finding points at. It does not contain line numbers, so a
/// finding that moves keeps its fingerprint; `occurrence` separates identical
/// findings on identical lines.
pub fn fingerprint(path: &str, reviewer: &str, title: &str, code: &str, occurrence: u32) -> String {
    let mut h = Sha256::new();
    for part in [path, reviewer, title] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for line in code.lines() {
        h.update(line.trim().as_bytes());
        h.update([b'\n']);
    }
    h.update(occurrence.to_le_bytes());
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    ApprovedWithComments,
    MinorIssues,
    SignificantConcerns,
}

impl Verdict {
    /// The verdict implied by findings alone (the coordinator may refine it,
    /// but never below what a critical finding implies).
    pub fn from_findings(findings: &[Finding]) -> Self {
        match findings.iter().map(|f| f.severity).max() {
            None => Verdict::Approved,
            Some(Severity::Suggestion) => Verdict::ApprovedWithComments,
            Some(Severity::Warning) => Verdict::MinorIssues,
            Some(Severity::Critical) => Verdict::SignificantConcerns,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::ApprovedWithComments => "approved_with_comments",
            Verdict::MinorIssues => "minor_issues",
            Verdict::SignificantConcerns => "significant_concerns",
        }
    }
}

/// Requests, tokens and money: owned by the model client (`llm` knows no
/// review types), re-exported here because a report carries it.
pub use crate::llm::Usage;

/// A reviewer that could not do its job, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Degraded {
    pub reviewer: String,
    pub reason: String,
}

/// A file the review deliberately did not look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// A file with more findings than `review.max_findings_per_file`: how many
/// were shown (the most severe) and how many more there were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    pub path: String,
    pub shown: u32,
    pub more: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub tier: super::Tier,
    pub findings: Vec<Finding>,
    pub usage: Usage,
    pub degraded: Vec<Degraded>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Model findings dropped: pointing outside the change, invented by the
    /// judge pass, or past a per-answer limit.
    #[serde(default)]
    pub dropped_findings: u32,
    /// Files whose findings were cut at `review.max_findings_per_file`.
    #[serde(default)]
    pub truncated: Vec<Truncated>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_indentation_but_not_content() {
        let a = fingerprint("a.rs", "builtin", "t", "    dbg!(x);", 0);
        let b = fingerprint("a.rs", "builtin", "t", "dbg!(x);", 0);
        let c = fingerprint("a.rs", "builtin", "t", "dbg!(y);", 0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn fingerprints_stay_what_stored_dismissals_were_keyed_by() {
        // The first 8 bytes of SHA-256 over path, reviewer and title (each
        // ended by NUL), the trimmed code lines and the occurrence, in hex:
        // dismissals saved by earlier versions must still match.
        let f = fingerprint(
            "src/app.py",
            "builtin",
            "Hard-coded secret",
            "  token = \"x\"\n",
            2,
        );
        assert_eq!(f, "40f3a7293dda749f");
    }
}
