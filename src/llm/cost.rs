//! Money: tokens times the model's price table, running totals, and the
//! per-day spend that `review.budget_usd_per_day` limits. The day is the UTC
//! calendar day. When a state file is given, today's spend survives restarts
//! (so a CI job cannot run past the budget by starting fresh processes); the
//! file holds numbers only, never a prompt or a key.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Requests, tokens and money spent on calls to the model client (one review, or a whole process).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_requests: u64,
    pub cost_usd: f64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached_requests += other.cached_requests;
        self.cost_usd += other.cost_usd;
    }
}

/// Dollars for `prompt` input and `completion` output tokens at per-million prices.
pub fn cost_usd(prompt: u64, completion: u64, input_per_mtok: f64, output_per_mtok: f64) -> f64 {
    (prompt as f64 * input_per_mtok + completion as f64 * output_per_mtok) / 1_000_000.0
}

/// A rough token count for text whose usage the provider did not report.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DaySpend {
    day: u64,
    usd: f64,
}

#[derive(Debug)]
struct State {
    totals: Usage,
    today: DaySpend,
}

#[derive(Debug)]
pub struct Ledger {
    budget_per_day: Option<f64>,
    file: Option<PathBuf>,
    state: Mutex<State>,
}

impl Ledger {
    pub fn new(budget_per_day: Option<f64>, file: Option<PathBuf>) -> Self {
        let today = file
            .as_ref()
            .and_then(|f| read_spend(f.as_path()))
            .filter(|s| s.day == today())
            .unwrap_or(DaySpend {
                day: today(),
                usd: 0.0,
            });
        Self {
            budget_per_day,
            file,
            state: Mutex::new(State {
                totals: Usage::default(),
                today,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn budget(&self) -> Option<f64> {
        self.budget_per_day
    }

    /// Adds one call's usage to the totals (and its cost to today's spend).
    pub fn record(&self, usage: &Usage) {
        let mut st = self.lock();
        st.totals.add(usage);
        let day = today();
        if st.today.day != day {
            st.today = DaySpend { day, usd: 0.0 };
        }
        if usage.cost_usd > 0.0 {
            st.today.usd += usage.cost_usd;
            if let Some(file) = &self.file {
                // Another process may have spent too: add our delta to what
                // the file says rather than overwrite it with our view.
                let on_disk = read_spend(file)
                    .filter(|s| s.day == day)
                    .map(|s| s.usd)
                    .unwrap_or(0.0);
                let merged = DaySpend {
                    day,
                    usd: on_disk.max(st.today.usd - usage.cost_usd) + usage.cost_usd,
                };
                st.today.usd = merged.usd;
                if let Err(e) = write_spend(file, &merged) {
                    tracing::warn!(path = %file.display(), error = %e, "cannot save today's model spend");
                }
            }
        }
    }

    pub fn totals(&self) -> Usage {
        self.lock().totals.clone()
    }

    pub fn spent_today(&self) -> f64 {
        let st = self.lock();
        if st.today.day == today() {
            st.today.usd
        } else {
            0.0
        }
    }

    /// `Some((spent, budget))` when today's spend has reached the budget.
    pub fn over_budget(&self) -> Option<(f64, f64)> {
        let budget = self.budget_per_day?;
        let spent = self.spent_today();
        (spent >= budget).then_some((spent, budget))
    }
}

fn read_spend(path: &std::path::Path) -> Option<DaySpend> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_spend(path: &std::path::Path, spend: &DaySpend) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(spend).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(cost: f64) -> Usage {
        Usage {
            requests: 1,
            prompt_tokens: 10,
            completion_tokens: 5,
            cached_requests: 0,
            cost_usd: cost,
        }
    }

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        assert!((cost_usd(1_000_000, 500_000, 0.27, 1.10) - (0.27 + 0.55)).abs() < 1e-9);
    }

    #[test]
    fn over_budget_once_today_reaches_the_limit() {
        let ledger = Ledger::new(Some(1.0), None);
        ledger.record(&usage(0.6));
        assert!(ledger.over_budget().is_none());
        ledger.record(&usage(0.4));
        assert!(ledger.over_budget().is_some());
        assert_eq!(ledger.totals().requests, 2);
    }

    #[test]
    fn todays_spend_survives_a_new_ledger_on_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spend.json");
        Ledger::new(Some(1.0), Some(file.clone())).record(&usage(0.7));
        let again = Ledger::new(Some(1.0), Some(file.clone()));
        assert!((again.spent_today() - 0.7).abs() < 1e-9);
        again.record(&usage(0.3));
        assert!(again.over_budget().is_some());
    }
}
