//! Which endpoint serves a model that several endpoints offer (regions of a
//! provider, a gateway and the provider itself: `models.X.endpoints`).
//! Each (model, endpoint) keeps a health score in [0, 1] — a success moves
//! it half way to 1, a failure halves it — and a moving average (EWMA) of
//! its latency. A request goes to the healthy endpoint with the lowest
//! average; one request in [`EXPLORE_EVERY`] goes to another healthy one,
//! so that its average stays current. An endpoint whose score falls below
//! [`FLOOR`] is skipped until, after `probe_after`, one request probes it;
//! that probe's success lifts it back over the floor.
//!
//! With Redis, each outcome is also reported to the team and the team's
//! view is adopted at most once a second ([`super::team::SharedHealth`]).
//! Knows nothing of HTTP; every decision takes the instant as an argument.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Below this score an endpoint gets only probes.
pub const FLOOR: f64 = 0.3;
/// One request in this many explores another healthy endpoint.
pub const EXPLORE_EVERY: u64 = 20;
/// Weight of the newest latency in the moving average.
const EWMA_WEIGHT: f64 = 0.3;

#[derive(Debug, Clone, Copy)]
struct Health {
    score: f64,
    /// Milliseconds; `None` until the first answer.
    ewma_ms: Option<f64>,
    /// Below the floor: when the next probe may go.
    probe_at: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            score: 1.0,
            ewma_ms: None,
            probe_at: None,
        }
    }
}

/// The endpoints of one model and their health.
#[derive(Debug)]
pub struct Router {
    health: Mutex<Vec<Health>>,
    probe_after: Duration,
    picks: AtomicU64,
    /// When the team's view was last adopted.
    refreshed: Mutex<Option<Instant>>,
}

/// One endpoint's health, for stats.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EndpointHealth {
    pub score: f64,
    pub latency_ewma_ms: Option<f64>,
}

impl Router {
    pub fn new(endpoints: usize, probe_after: Duration) -> Self {
        Router {
            health: Mutex::new(vec![Health::default(); endpoints.max(1)]),
            probe_after,
            picks: AtomicU64::new(0),
            refreshed: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Health>> {
        // Every update is a whole-value assignment: a poisoned lock is usable.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of the endpoint to use now.
    pub fn pick(&self, now: Instant) -> usize {
        let mut all = self.lock();
        if all.len() == 1 {
            return 0;
        }
        // A sick endpoint whose probe is due gets this request.
        if let Some(i) = all
            .iter()
            .position(|h| h.score < FLOOR && h.probe_at.is_some_and(|t| now >= t))
        {
            all[i].probe_at = Some(now + self.probe_after);
            return i;
        }
        let healthy: Vec<usize> = (0..all.len()).filter(|&i| all[i].score >= FLOOR).collect();
        if healthy.is_empty() {
            // Nothing healthy: the least sick, rather than nothing.
            return (0..all.len())
                .max_by(|&a, &b| all[a].score.total_cmp(&all[b].score))
                .unwrap_or(0);
        }
        // Untried endpoints first (an average of 0), then the fastest.
        let by_latency = |i: &usize| all[*i].ewma_ms.unwrap_or(0.0);
        let best = healthy
            .iter()
            .copied()
            .min_by(|a, b| by_latency(a).total_cmp(&by_latency(b)))
            .unwrap_or(0);
        let n = self.picks.fetch_add(1, Ordering::Relaxed) + 1;
        if n % EXPLORE_EVERY == 0 && healthy.len() > 1 {
            let others: Vec<usize> = healthy.into_iter().filter(|&i| i != best).collect();
            return others[(n / EXPLORE_EVERY) as usize % others.len()];
        }
        best
    }

    pub fn success(&self, i: usize, latency: Duration) {
        let mut all = self.lock();
        let Some(h) = all.get_mut(i) else { return };
        h.score += (1.0 - h.score) / 2.0;
        let ms = latency.as_secs_f64() * 1e3;
        h.ewma_ms = Some(match h.ewma_ms {
            Some(avg) => EWMA_WEIGHT * ms + (1.0 - EWMA_WEIGHT) * avg,
            None => ms,
        });
        if h.score >= FLOOR {
            h.probe_at = None;
        }
    }

    pub fn failure(&self, i: usize, now: Instant) {
        let mut all = self.lock();
        let Some(h) = all.get_mut(i) else { return };
        h.score /= 2.0;
        if h.score < FLOOR && h.probe_at.is_none() {
            h.probe_at = Some(now + self.probe_after);
        }
    }

    /// True (and the clock restarts) when the team's view was last read
    /// `every` ago or never.
    pub fn refresh_due(&self, now: Instant, every: Duration) -> bool {
        let mut last = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now < t + every) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Takes the team's score and latency average for endpoint `i`.
    pub fn adopt(&self, i: usize, score: f64, ewma_ms: Option<f64>, now: Instant) {
        let mut all = self.lock();
        let Some(h) = all.get_mut(i) else { return };
        if !score.is_finite() {
            return;
        }
        h.score = score.clamp(0.0, 1.0);
        if let Some(ms) = ewma_ms.filter(|v| v.is_finite() && *v >= 0.0) {
            h.ewma_ms = Some(ms);
        }
        if h.score >= FLOOR {
            h.probe_at = None;
        } else if h.probe_at.is_none() {
            h.probe_at = Some(now + self.probe_after);
        }
    }

    pub fn health(&self) -> Vec<EndpointHealth> {
        self.lock()
            .iter()
            .map(|h| EndpointHealth {
                score: (h.score * 1000.0).round() / 1000.0,
                latency_ewma_ms: h.ewma_ms.map(|v| (v * 10.0).round() / 10.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_faster_endpoint_gets_all_but_the_exploring_share() {
        let r = Router::new(2, Duration::from_secs(5));
        let t = Instant::now();
        r.success(0, 100 * MS);
        r.success(1, 20 * MS);
        let to_fast = (0..100).filter(|_| r.pick(t) == 1).count();
        assert_eq!(to_fast, 95);
    }

    #[test]
    fn two_failures_put_an_endpoint_below_the_floor_until_its_probe() {
        let r = Router::new(2, Duration::from_secs(5));
        let t = Instant::now();
        r.success(0, 100 * MS);
        r.success(1, 20 * MS);
        r.failure(1, t);
        r.failure(1, t);
        assert!((0..30).all(|_| r.pick(t + MS) == 0));
        assert_eq!(r.pick(t + 5000 * MS), 1, "the probe");
        assert_eq!(r.pick(t + 5001 * MS), 0, "one probe");
        r.success(1, 20 * MS);
        assert_eq!(r.pick(t + 5002 * MS), 1, "back after the probe");
    }
}
