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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_request_over_the_limit_waits_for_the_window_to_slide() {
        let limiter = RateLimiter::new(2);
        let cancel = CancellationToken::new();
        let start = Instant::now();
        assert!(limiter.acquire(&cancel).await);
        assert!(limiter.acquire(&cancel).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(limiter.acquire(&cancel).await);
        assert!(start.elapsed() >= WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_on_cancel() {
        let limiter = RateLimiter::new(1);
        let cancel = CancellationToken::new();
        assert!(limiter.acquire(&cancel).await);
        cancel.cancel();
        assert!(!limiter.acquire(&cancel).await);
    }
}
