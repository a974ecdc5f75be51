//! Reviews: from a [`ChangeSet`] to a [`Report`]. Owns the finding model,
//! risk tiers and the reviewers. Front ends call in here; this module never
//! knows which front end asked.

pub mod builtin;
pub mod changes;
pub mod context;
pub mod coordinator;
pub mod copied;
pub mod dismissed;
pub mod engine;
pub mod finding;
pub mod hunk_cache;
pub mod incremental;
pub mod noise;
pub mod parse;
pub mod prompts;
pub mod redact;
pub mod sanitize;
pub mod tally;
pub mod team_dismissed;
pub mod tier;

pub use changes::{ChangeSet, FileChange};
pub use dismissed::DismissedStore;
pub use engine::{Engine, EngineError, Progress, ReviewOptions};
pub use finding::{Degraded, Finding, Report, Severity, Skipped, Truncated, Usage, Verdict};
pub use tally::ReviewTally;
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

/// A credential the built-in secret rules found (never cut by a cap).
pub fn is_credential(f: &Finding) -> bool {
    f.reviewer == "builtin" && f.rule.as_deref().is_some_and(builtin::is_secret_rule)
}

/// Keeps at most `cap` findings per file (0: no limit), the most severe
/// first, so that a generated file cannot flood a report, an editor or
/// memory; says per file how many more there were. A credential the
/// built-in rules found is never cut (each is one to rotate, and a file of
/// them is exactly where a reader must see them all): it counts towards
/// the cap, and a file may show more than `cap` of them. Leaves the
/// findings sorted as [`sort_findings`] does.
pub fn cap_per_file(findings: &mut Vec<Finding>, cap: u32) -> Vec<Truncated> {
    let cap = cap as usize;
    let mut truncated = Vec::new();
    if cap == 0 {
        sort_findings(findings);
        return truncated;
    }
    findings.sort_by(|a, b| {
        (
            a.path.as_str(),
            !is_credential(a),
            std::cmp::Reverse(a.severity),
            a.line,
            a.column,
        )
            .cmp(&(
                b.path.as_str(),
                !is_credential(b),
                std::cmp::Reverse(b.severity),
                b.line,
                b.column,
            ))
    });
    // Per file: its path, the findings seen and those kept.
    let mut current: Option<(String, usize, usize)> = None;
    findings.retain(|f| {
        match &mut current {
            Some((path, seen, _)) if *path == f.path => *seen += 1,
            _ => {
                flush(&mut truncated, current.take());
                current = Some((f.path.clone(), 1, 0));
            }
        }
        let Some((_, _, kept)) = current.as_mut() else {
            return true;
        };
        let keep = *kept < cap || is_credential(f);
        *kept += usize::from(keep);
        keep
    });
    flush(&mut truncated, current);
    sort_findings(findings);
    truncated
}

fn flush(truncated: &mut Vec<Truncated>, file: Option<(String, usize, usize)>) {
    if let Some((path, seen, kept)) = file.filter(|(_, seen, kept)| seen > kept) {
        truncated.push(Truncated {
            path,
            shown: u32::try_from(kept).unwrap_or(u32::MAX),
            more: u32::try_from(seen - kept).unwrap_or(u32::MAX),
        });
    }
}

/// The built-in secret rules over every line of `text`, as if the whole file
/// were new: the review of a buffer with nothing to diff against (an
/// untitled buffer, a file outside any repository, a repository that cannot
/// be read). `path` picks the rules' languages; `config`'s exclusions and
/// size limit apply.
pub fn review_secrets_only(
    path: &str,
    text: &str,
    config: &crate::config::ReviewConfig,
) -> Vec<Finding> {
    let changes = ChangeSet::from_buffer(path, None, text, config);
    let mut findings: Vec<Finding> = changes
        .files
        .iter()
        .flat_map(|f| builtin::review_file(f, true))
        .collect();
    sort_findings(&mut findings);
    findings
}

/// The built-in reviewer's findings on `changes`, one list per file: what
/// the change introduces, less the tasks it copied with their code from
/// elsewhere in the project.
pub fn builtin_findings(changes: &ChangeSet, policy: &builtin::Policy) -> Vec<Vec<Finding>> {
    let mut per_file = builtin::review_files(&changes.files, policy);
    copied::drop_already_there(&mut per_file, changes);
    per_file
}

/// Runs the built-in reviewer over every file of `changes`, with the rules
/// `policy` (the `[builtin]` table) leaves on.
pub fn review_offline(changes: &ChangeSet, tier: Option<Tier>, policy: &builtin::Policy) -> Report {
    review_offline_capped(changes, tier, 0, policy)
}

/// [`review_offline`] keeping at most `cap` findings per file.
pub fn review_offline_capped(
    changes: &ChangeSet,
    tier: Option<Tier>,
    cap: u32,
    policy: &builtin::Policy,
) -> Report {
    let mut findings = Vec::new();
    let mut truncated = Vec::new();
    // Capped file by file, so a generated file's findings never pile up.
    for mut found in builtin_findings(changes, policy) {
        truncated.extend(cap_per_file(&mut found, cap));
        findings.extend(found);
    }
    sort_findings(&mut findings);
    Report {
        verdict: Verdict::from_findings(&findings),
        tier: tier.unwrap_or_else(|| Tier::classify(changes)),
        findings,
        usage: Usage::default(),
        degraded: Vec::new(),
        skipped: changes.skipped.clone(),
        dropped_findings: 0,
        truncated,
    }
}
