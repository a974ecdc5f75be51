//! Reviews: from a [`ChangeSet`] to a [`Report`]. Owns the finding model,
//! risk tiers and the reviewers. Front ends call in here; this module never
//! knows which front end asked.

pub mod builtin;
pub mod changes;
pub mod context;
pub mod coordinator;
pub mod dismissed;
pub mod engine;
pub mod finding;
pub mod hunk_cache;
pub mod noise;
pub mod parse;
pub mod prompts;
pub mod sanitize;
pub mod tier;

pub use changes::{ChangeSet, FileChange};
pub use dismissed::DismissedStore;
pub use engine::{Engine, EngineError, Progress, ReviewOptions};
pub use finding::{Degraded, Finding, Report, Severity, Skipped, Usage, Verdict};
pub use tier::Tier;

/// Sorts findings the way people read them: by file, then line, then the
/// most severe first.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (
            a.path.as_str(),
            a.line,
            std::cmp::Reverse(a.severity),
            a.column,
        )
            .cmp(&(
                b.path.as_str(),
                b.line,
                std::cmp::Reverse(b.severity),
                b.column,
            ))
    });
}

/// Runs the built-in reviewer over every file of `changes`, with the rules
/// `policy` (the `[builtin]` table) leaves on.
pub fn review_offline(changes: &ChangeSet, tier: Option<Tier>, policy: &builtin::Policy) -> Report {
    let mut findings: Vec<Finding> = changes
        .files
        .iter()
        .flat_map(|f| builtin::review_file_with(f, false, policy))
        .collect();
    sort_findings(&mut findings);
    Report {
        verdict: Verdict::from_findings(&findings),
        tier: tier.unwrap_or_else(|| Tier::classify(changes)),
        findings,
        usage: Usage::default(),
        degraded: Vec::new(),
        skipped: changes.skipped.clone(),
        dropped_findings: 0,
    }
}
