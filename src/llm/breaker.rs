//! A per-model circuit breaker with Hystrix semantics: closed until
//! `threshold` consecutive retryable failures, then open (fail fast) for
//! `cooldown`, then half-open: exactly one probe request goes through; its
//! success closes the circuit, its failure reopens it for another cooldown.
//! Every decision takes the current instant as an argument (`*_at`), so tests
//! drive the clock by hand; the plain methods pass `Instant::now()`. This
//! module knows nothing about HTTP.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cooldown is over; `probing` is true while the one probe runs.
    HalfOpen {
        probing: bool,
    },
}

/// What the breaker lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Circuit closed: go ahead.
    Normal,
    /// Circuit half-open and this caller is the one probe. It must report
    /// back with `success`, `failure` or `release`.
    Probe,
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-written
        // (every update is a single assignment), so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks to send a request. `Err(retry_in)` while the circuit is open or
    /// while another caller holds the half-open probe.
    pub fn try_acquire(&self) -> Result<Permit, Duration> {
        self.try_acquire_at(Instant::now())
    }

    pub fn try_acquire_at(&self, now: Instant) -> Result<Permit, Duration> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(Permit::Normal),
            Inner::Open { until } if now < until => Err(until - now),
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(Permit::Probe)
            }
            Inner::HalfOpen { probing: true } => Err(Duration::ZERO),
        }
    }

    /// Re-checks a permit right before sending: a caller admitted while the
    /// circuit was closed but held back (by the concurrency or rate limit)
    /// must not send once the circuit has opened meanwhile.
    pub fn still_allows(&self, permit: Permit) -> Result<(), Duration> {
        let now = Instant::now();
        match (&*self.lock(), permit) {
            (_, Permit::Probe) | (Inner::Closed { .. }, Permit::Normal) => Ok(()),
            (Inner::Open { until }, Permit::Normal) => Err(until.saturating_duration_since(now)),
            (Inner::HalfOpen { .. }, Permit::Normal) => Err(Duration::ZERO),
        }
    }

    /// The request answered: the model is healthy.
    pub fn success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// A retryable failure. Returns true when the circuit is now open.
    pub fn failure(&self, permit: Permit) -> bool {
        self.failure_at(permit, Instant::now())
    }

    pub fn failure_at(&self, permit: Permit, now: Instant) -> bool {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: now + self.cooldown,
        };
        match (&mut *inner, permit) {
            (_, Permit::Probe) => {
                *inner = open;
                true
            }
            (Inner::Closed { failures }, Permit::Normal) => {
                *failures += 1;
                if *failures >= self.threshold {
                    *inner = open;
                    true
                } else {
                    false
                }
            }
            // A request admitted before the circuit opened failed late: the
            // circuit is already open or probing; leave it be.
            (_, Permit::Normal) => true,
        }
    }

    /// The request ended in a way that says nothing about the model's health
    /// (cancelled, unauthorized, context overflow): a probe slot is handed
    /// back so the next caller can probe.
    pub fn release(&self, permit: Permit) {
        if permit == Permit::Probe {
            let mut inner = self.lock();
            if matches!(*inner, Inner::HalfOpen { probing: true }) {
                *inner = Inner::HalfOpen { probing: false };
            }
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state_at(Instant::now())
    }

    pub fn state_at(&self, now: Instant) -> CircuitState {
        match *self.lock() {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if now < until => CircuitState::Open,
            Inner::Open { .. } => CircuitState::HalfOpen,
            Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = Breaker::new(3, 10 * S);
        let t = Instant::now();
        for _ in 0..2 {
            let p = b.try_acquire_at(t).unwrap();
            assert!(!b.failure_at(p, t));
        }
        assert_eq!(b.state_at(t), CircuitState::Closed);
        let p = b.try_acquire_at(t).unwrap();
        assert!(b.failure_at(p, t));
        assert_eq!(b.state_at(t), CircuitState::Open);
        assert_eq!(b.try_acquire_at(t + S), Err(9 * S));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = Breaker::new(2, 10 * S);
        let t = Instant::now();
        let p = b.try_acquire_at(t).unwrap();
        b.failure_at(p, t);
        b.success();
        let p = b.try_acquire_at(t).unwrap();
        assert!(!b.failure_at(p, t));
        assert_eq!(b.state_at(t), CircuitState::Closed);
    }

    #[test]
    fn exactly_one_probe_after_cooldown_and_success_closes() {
        let b = Breaker::new(1, 10 * S);
        let t = Instant::now();
        let p = b.try_acquire_at(t).unwrap();
        b.failure_at(p, t);
        assert!(b.try_acquire_at(t + 9 * S).is_err(), "still cooling down");
        assert_eq!(b.state_at(t + 10 * S), CircuitState::HalfOpen);
        assert_eq!(b.try_acquire_at(t + 10 * S), Ok(Permit::Probe));
        assert!(b.try_acquire_at(t + 10 * S).is_err(), "only one probe");
        assert!(b.try_acquire_at(t + 100 * S).is_err(), "even much later");
        b.success();
        assert_eq!(b.state_at(t + 11 * S), CircuitState::Closed);
        assert_eq!(b.try_acquire_at(t + 11 * S), Ok(Permit::Normal));
    }

    #[test]
    fn failed_probe_reopens_for_a_full_cooldown() {
        let b = Breaker::new(1, 10 * S);
        let t = Instant::now();
        let p = b.try_acquire_at(t).unwrap();
        b.failure_at(p, t);
        let probe = b.try_acquire_at(t + 10 * S).unwrap();
        assert!(b.failure_at(probe, t + 10 * S));
        assert_eq!(b.state_at(t + 10 * S), CircuitState::Open);
        assert!(b.try_acquire_at(t + 19 * S).is_err());
        assert_eq!(b.try_acquire_at(t + 20 * S), Ok(Permit::Probe));
    }

    #[test]
    fn a_released_probe_lets_the_next_caller_probe() {
        let b = Breaker::new(1, S);
        let t = Instant::now();
        let p = b.try_acquire_at(t).unwrap();
        b.failure_at(p, t);
        let probe = b.try_acquire_at(t + S).unwrap();
        b.release(probe);
        assert_eq!(b.try_acquire_at(t + S), Ok(Permit::Probe));
    }

    #[test]
    fn a_permit_from_before_the_opening_no_longer_allows_sending() {
        let b = Breaker::new(1, 10 * S);
        let t = Instant::now();
        let waiting = b.try_acquire_at(t).unwrap();
        assert_eq!(b.still_allows(waiting), Ok(()));
        let p = b.try_acquire_at(t).unwrap();
        b.failure_at(p, Instant::now());
        assert!(b.still_allows(waiting).is_err());
    }

    #[test]
    fn a_late_failure_from_before_the_opening_does_not_extend_it() {
        let b = Breaker::new(1, 10 * S);
        let t = Instant::now();
        let early = b.try_acquire_at(t).unwrap();
        let late = b.try_acquire_at(t).unwrap();
        b.failure_at(early, t);
        b.failure_at(late, t + 5 * S);
        assert_eq!(b.try_acquire_at(t + 10 * S), Ok(Permit::Probe));
    }
}
