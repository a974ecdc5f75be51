//! What `redline check` shows on a terminal while a model review runs: a
//! progress line (reviewers at work, how long the slowest has been waited
//! for, the money spent so far) and, for the text format, each model
//! finding as a reviewer's answer completes it, marked provisional. All of
//! it goes to stderr and is cleared when the review ends, so the terminal
//! is left with exactly the final report; the report itself (every format)
//! is printed whole and sorted, as without a terminal. With stderr not a
//! terminal nothing is drawn at all, and the review is not even asked for
//! its progress.

use crate::review::{sanitize, Finding, Progress, ReviewTally};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Provisional findings listed at most; the rest are counted.
const MAX_LISTED: usize = 12;

/// The live display of one review.
pub struct Live {
    multi: MultiProgress,
    status: ProgressBar,
    /// List provisional findings (text format only).
    findings: bool,
}

impl Live {
    /// A live display when stderr is a terminal (`findings`: also list the
    /// findings as they arrive); `None` otherwise.
    pub fn on_terminal(findings: bool) -> Option<Live> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        status.set_message("starting the review");
        status.enable_steady_tick(Duration::from_millis(120));
        Some(Live {
            multi,
            status,
            findings,
        })
    }

    /// Shows the review's events until it ends, then clears the display.
    pub async fn follow(self, mut events: UnboundedReceiver<Progress>) {
        let mut tally = ReviewTally::new();
        let mut listed: Vec<ProgressBar> = Vec::new();
        let mut more: Option<ProgressBar> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { break };
                    tally.observe(&event, Instant::now());
                    if let (true, Progress::Provisional { finding }) = (self.findings, &event) {
                        if listed.len() < MAX_LISTED {
                            let line = self.multi.insert_before(&self.status, ProgressBar::new(0));
                            line.set_style(plain());
                            line.set_message(summary(finding));
                            listed.push(line);
                        } else {
                            let line = more.get_or_insert_with(|| {
                                let line = self.multi.insert_before(&self.status, ProgressBar::new(0));
                                line.set_style(plain());
                                line
                            });
                            line.set_message(format!(
                                "  … and {} more",
                                tally.provisional() - MAX_LISTED
                            ));
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            self.status.set_message(status_line(&tally, Instant::now()));
        }
        for line in listed.into_iter().chain(more) {
            line.finish_and_clear();
        }
        self.status.finish_and_clear();
        let _ = self.multi.clear();
    }
}

fn plain() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `reviewing: 1/3 reviewers done · waiting 4 s for quality, coordinator · $0.0012`
pub fn status_line(tally: &ReviewTally, now: Instant) -> String {
    if tally.total() == 0 {
        return "reviewing".into();
    }
    format!("reviewing: {} · ${:.4}", tally.line(now), tally.cost_usd())
}

/// One line for a provisional finding:
/// `  warning[quality] src/a.rs:22:5 Value doubled twice (provisional)`.
pub fn summary(f: &Finding) -> String {
    format!(
        "  {}[{}] {}:{}:{} {} (provisional)",
        f.severity,
        sanitize::visible_line(&f.reviewer),
        sanitize::visible_line(&f.path),
        f.line,
        f.column,
        sanitize::visible_line(&f.title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Severity, Usage};

    #[test]
    fn the_status_line_says_who_works_for_how_long_and_what_it_cost() {
        let t0 = Instant::now();
        let mut tally = ReviewTally::new();
        tally.observe(
            &Progress::Started {
                reviewers: vec!["quality".into(), "docs".into(), "coordinator".into()],
            },
            t0,
        );
        tally.observe(
            &Progress::ReviewerDone {
                reviewer: "docs".into(),
                usage: Usage {
                    cost_usd: 0.0012,
                    ..Usage::default()
                },
            },
            t0,
        );
        assert_eq!(
            status_line(&tally, t0 + Duration::from_secs(4)),
            "reviewing: 1/3 reviewers done · waiting 4 s for quality, coordinator · $0.0012"
        );
    }

    #[test]
    fn a_provisional_line_shows_no_control_characters() {
        let f = Finding {
            path: "src/a.rs".into(),
            line: 22,
            end_line: 22,
            column: 5,
            end_column: None,
            severity: Severity::Warning,
            reviewer: "quality".into(),
            rule: None,
            title: "Value\u{1b}[2J doubled".into(),
            message: String::new(),
            fingerprint: String::new(),
            fix: None,
        };
        let line = summary(&f);
        assert!(
            line.starts_with("  warning[quality] src/a.rs:22:5 Value"),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "{line}");
        assert!(line.ends_with("doubled (provisional)"));
    }
}
