//! Admission control: a sliding-window requests-per-minute limiter for one
//! provider. (The global concurrency limit is a plain `tokio::sync::Semaphore`
//! owned by the client.) Waiting is cancellable; nothing here sends requests.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: usize,
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1) as usize,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request fits in the last minute's window, then
    /// books it. Returns false if cancelled while waiting.
    pub async fn acquire(&self, cancel: &CancellationToken) -> bool {
        loop {
            let wait_until = {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    sent.pop_front();
                }
                if sent.len() < self.per_minute {
                    sent.push_back(now);
                    return true;
                }
                *sent.front().expect("window is full, so not empty") + WINDOW
            };
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep_until(wait_until) => {}
            }
        }
    }
}

impl RateLimiter {
    /// Books a request at `now` if it fits; otherwise says when it will.
    pub fn try_book_at(&self, now: Instant) -> Result<(), Instant> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() < self.per_minute {
            sent.push_back(now);
            return Ok(());
        }
        Err(*sent.front().expect("window is full, so not empty") + WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_limit_waits_for_the_window_to_slide() {
        let limiter = RateLimiter::new(2);
        let t = Instant::now();
        assert_eq!(limiter.try_book_at(t), Ok(()));
        assert_eq!(limiter.try_book_at(t + Duration::from_secs(10)), Ok(()));
        assert_eq!(
            limiter.try_book_at(t + Duration::from_secs(20)),
            Err(t + WINDOW)
        );
        assert_eq!(limiter.try_book_at(t + WINDOW), Ok(()));
        assert!(limiter.try_book_at(t + WINDOW).is_err());
    }

    #[tokio::test]
    async fn waiting_ends_on_cancel() {
        let limiter = RateLimiter::new(1);
        let cancel = CancellationToken::new();
        assert!(limiter.acquire(&cancel).await);
        cancel.cancel();
        assert!(!limiter.acquire(&cancel).await);
    }
}
