//! The one Redis connection a process shares between the response cache,
//! the team's circuits and the team budget. Every command is bounded by
//! `team.redis_timeout_ms` (connecting too), so no request waits on Redis
//! longer than that. A failure marks Redis down for `team.redis_retry_ms`:
//! meanwhile every caller gets `None` at once and uses its local state. The
//! outage is logged once when it starts and once when it ends.
//!
//! It never logs the URL (it may hold a password) and knows nothing of what
//! the keys mean.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub struct RedisLink {
    client: redis::Client,
    timeout: Duration,
    retry: Duration,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    down_until: Mutex<Option<Instant>>,
    /// True from the first failure until Redis answers again (for the one
    /// "back" message and for stats).
    degraded: AtomicBool,
    round_trips: AtomicU64,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("timeout", &self.timeout)
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    pub fn new(url: &str, timeout: Duration, retry: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("cache.redis_url is not a valid Redis URL: {e}"))?;
        Ok(Self {
            client,
            timeout: timeout.max(Duration::from_millis(1)),
            retry,
            conn: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
            round_trips: AtomicU64::new(0),
        })
    }

    /// False while the process is on its local state after a Redis failure.
    pub fn is_up(&self) -> bool {
        !self.degraded.load(Ordering::Relaxed)
    }

    /// Commands answered by Redis since the start.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn resting(&self) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        down.is_some_and(|t| Instant::now() < t)
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        if self.resting() {
            return None;
        }
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        // Callers that queued behind a failed attempt do not each try again.
        if self.resting() {
            return None;
        }
        match tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
            .await
        {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                None
            }
            Err(_) => {
                self.mark_down("no connection within team.redis_timeout_ms");
                None
            }
        }
    }

    fn mark_down(&self, why: &str) {
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + self.retry);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %why,
                "Redis unavailable; this process uses its local circuits, budget and disk cache until it is back"
            );
        }
    }

    fn mark_up(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis reachable again; back to the team's shared state");
        }
    }

    /// Runs one command. `None` when Redis is down, slow or refused it; the
    /// caller then decides locally.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.round_trips.fetch_add(1, Ordering::Relaxed);
                self.mark_up();
                Some(v)
            }
            Ok(Err(e)) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                self.conn.lock().await.take();
                self.mark_down(&e.to_string());
                None
            }
            Ok(Err(e)) => {
                // Redis answered, with an error: a bug on our side or a
                // server that lacks a command. Redis itself is up.
                self.round_trips.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "Redis refused a command");
                None
            }
            Err(_) => {
                // The connection may be wedged (a stopped server): drop it.
                self.conn.lock().await.take();
                self.mark_down("no answer within team.redis_timeout_ms");
                None
            }
        }
    }
}
