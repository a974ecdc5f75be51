//! A per-model circuit breaker with Hystrix semantics: closed until
//! `threshold` consecutive retryable failures, then open (fail fast) for
//! `cooldown`, then half-open: exactly one probe request goes through; its
//! success closes the circuit, its failure reopens it for another cooldown.
//! Time comes from `tokio::time::Instant`, so tests drive it with
//! `tokio::time::pause`/`advance`. This module knows nothing about HTTP.

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
        let mut inner = self.lock();
        let now = Instant::now();
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

    /// The request answered: the model is healthy.
    pub fn success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// A retryable failure. Returns true when the circuit is now open.
    pub fn failure(&self, permit: Permit) -> bool {
        let mut inner = self.lock();
        let open = Inner::Open {
            until: Instant::now() + self.cooldown,
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
        match *self.lock() {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if Instant::now() < until => CircuitState::Open,
            Inner::Open { .. } => CircuitState::HalfOpen,
            Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_consecutive_failures() {
        let b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            let p = b.try_acquire().unwrap();
            assert!(!b.failure(p));
        }
        assert_eq!(b.state(), CircuitState::Closed);
        let p = b.try_acquire().unwrap();
        assert!(b.failure(p));
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_failure_count() {
        let b = Breaker::new(2, Duration::from_secs(10));
        let p = b.try_acquire().unwrap();
        b.failure(p);
        b.success();
        let p = b.try_acquire().unwrap();
        assert!(!b.failure(p));
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_one_probe_after_cooldown_and_success_closes() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let p = b.try_acquire().unwrap();
        b.failure(p);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(b.try_acquire().is_err(), "still cooling down");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.try_acquire(), Ok(Permit::Probe));
        assert!(b.try_acquire().is_err(), "only one probe at a time");
        assert!(b.try_acquire().is_err());
        b.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.try_acquire(), Ok(Permit::Normal));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_a_full_cooldown() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let p = b.try_acquire().unwrap();
        b.failure(p);
        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = b.try_acquire().unwrap();
        assert!(b.failure(probe));
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(b.try_acquire().is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.try_acquire(), Ok(Permit::Probe));
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_probe_lets_the_next_caller_probe() {
        let b = Breaker::new(1, Duration::from_secs(1));
        let p = b.try_acquire().unwrap();
        b.failure(p);
        tokio::time::advance(Duration::from_secs(1)).await;
        let probe = b.try_acquire().unwrap();
        b.release(probe);
        assert_eq!(b.try_acquire(), Ok(Permit::Probe));
    }
}
