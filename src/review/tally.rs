//! What a front end shows about a running review, folded from the engine's
//! [`Progress`] events: reviewers done out of all, who is still at work and
//! for how long, the money spent so far and the findings shown early. The
//! editor's `$/progress` and the terminal's progress line read the same
//! tally. Plain state and arithmetic; the caller gives the clock.

use super::engine::Progress;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct ReviewTally {
    /// Every reviewer of the review, the coordinator last.
    reviewers: Vec<String>,
    done: Vec<String>,
    /// When the specialists were asked.
    started: Option<Instant>,
    /// When the last specialist finished (the coordinator's turn).
    judging: Option<Instant>,
    cost_usd: f64,
    provisional: usize,
    /// The latest silence a model reported, and whose (until it is done).
    silent: Option<(String, Duration)>,
}

impl ReviewTally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event that happened at `now`.
    pub fn observe(&mut self, event: &Progress, now: Instant) {
        match event {
            Progress::Started { reviewers } => {
                self.reviewers = reviewers.clone();
                self.started = Some(now);
            }
            Progress::ReviewerDone { reviewer, usage } => {
                self.cost_usd += usage.cost_usd;
                if !self.done.contains(reviewer) {
                    self.done.push(reviewer.clone());
                }
                if self.silent.as_ref().is_some_and(|(r, _)| r == reviewer) {
                    self.silent = None;
                }
                if self.judging.is_none() && self.pending().len() == 1 {
                    self.judging = Some(now);
                }
            }
            Progress::Waiting { reviewer, waited } => {
                self.silent = Some((reviewer.clone(), *waited));
            }
            Progress::Provisional { .. } => self.provisional += 1,
            Progress::Builtin { .. } => {}
        }
    }

    pub fn total(&self) -> usize {
        self.reviewers.len()
    }

    pub fn done(&self) -> usize {
        self.done.len().min(self.total())
    }

    /// Reviewers done out of all, 0–100.
    pub fn percentage(&self) -> u32 {
        match self.total() {
            0 => 0,
            total => (self.done() * 100 / total) as u32,
        }
    }

    /// Reviewers still at work, in the order they were named.
    pub fn pending(&self) -> Vec<&str> {
        self.reviewers
            .iter()
            .filter(|r| !self.done.contains(r))
            .map(String::as_str)
            .collect()
    }

    /// How long the slowest reviewer still at work has been waited for:
    /// since the specialists were asked while any of them works, then
    /// since the coordinator's turn began.
    pub fn waiting(&self, now: Instant) -> Duration {
        let pending = self.pending();
        let coordinator_only = pending.len() == 1
            && self.reviewers.last().map(String::as_str) == pending.first().copied();
        let since = if coordinator_only {
            self.judging.or(self.started)
        } else {
            self.started
        };
        since
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default()
    }

    pub fn cost_usd(&self) -> f64 {
        self.cost_usd
    }

    /// Findings shown before the coordinator's verdict.
    pub fn provisional(&self) -> usize {
        self.provisional
    }

    /// One line for a progress report: `2/6 reviewers done · waiting 12 s
    /// for security, docs · 3 findings so far`; a model's silence leads it
    /// (`waiting for model… 12 s (security)`), the heartbeat users know.
    pub fn line(&self, now: Instant) -> String {
        let mut parts = Vec::new();
        if let Some((reviewer, waited)) = &self.silent {
            parts.push(format!(
                "waiting for model… {} s ({reviewer})",
                waited.as_secs()
            ));
        }
        parts.push(format!("{}/{} reviewers done", self.done(), self.total()));
        let pending = self.pending();
        if !pending.is_empty() {
            parts.push(format!(
                "waiting {} s for {}",
                self.waiting(now).as_secs(),
                pending.join(", ")
            ));
        }
        if self.provisional > 0 {
            parts.push(format!(
                "{} finding{} so far",
                self.provisional,
                if self.provisional == 1 { "" } else { "s" }
            ));
        }
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Usage;

    fn done(reviewer: &str, cost: f64) -> Progress {
        Progress::ReviewerDone {
            reviewer: reviewer.into(),
            usage: Usage {
                cost_usd: cost,
                ..Usage::default()
            },
        }
    }

    #[test]
    fn percentage_counts_reviewers_done_and_waiting_follows_the_slowest() {
        let t0 = Instant::now();
        let mut tally = ReviewTally::new();
        tally.observe(
            &Progress::Started {
                reviewers: vec!["security".into(), "docs".into(), "coordinator".into()],
            },
            t0,
        );
        assert_eq!(tally.percentage(), 0);
        tally.observe(&done("docs", 0.25), t0 + Duration::from_secs(3));
        assert_eq!(tally.percentage(), 33);
        assert_eq!(tally.pending(), ["security", "coordinator"]);
        assert_eq!(
            tally.waiting(t0 + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        tally.observe(&done("security", 0.5), t0 + Duration::from_secs(6));
        assert_eq!(tally.percentage(), 66);
        assert_eq!(
            tally.waiting(t0 + Duration::from_secs(8)),
            Duration::from_secs(2)
        );
        assert_eq!(
            tally.line(t0 + Duration::from_secs(8)),
            "2/3 reviewers done · waiting 2 s for coordinator"
        );
        tally.observe(&done("coordinator", 1.0), t0 + Duration::from_secs(9));
        assert_eq!(tally.percentage(), 100);
        assert!((tally.cost_usd() - 1.75).abs() < 1e-9);
    }

    #[test]
    fn a_silent_model_leads_the_line_until_it_is_done() {
        let t0 = Instant::now();
        let mut tally = ReviewTally::new();
        tally.observe(
            &Progress::Started {
                reviewers: vec!["general".into(), "coordinator".into()],
            },
            t0,
        );
        tally.observe(
            &Progress::Waiting {
                reviewer: "general".into(),
                waited: Duration::from_secs(12),
            },
            t0,
        );
        assert!(tally
            .line(t0)
            .starts_with("waiting for model… 12 s (general) · 0/2"));
        tally.observe(&done("general", 0.0), t0);
        assert!(tally.line(t0).starts_with("1/2 reviewers done"));
    }
}
