//! What the processes of a team share through Redis besides answers: each
//! model's circuit (per endpoint and model) and the team's daily spend.
//!
//! A circuit is three self-expiring keys under
//! `redline:v1:circuit:<hash of base URL and model name>:`:
//! `fails` (consecutive retryable failures), `open` (present while the
//! circuit is open; expires after the cooldown) and `tripped` (present from
//! the opening until a success closes it; once `open` has expired it means
//! half-open). After the cooldown one process wins the `probe` lease
//! (`SET NX PX`) and is the team's one probe; its result closes or reopens
//! the circuit for everyone. Each decision is one Lua script, so it is
//! atomic across processes. Expiries are Redis's, so clocks of machines do
//! not matter. Spend is integer micro-dollars under
//! `redline:v1:spend:<UTC day>`, added with `INCRBY`. The health of a
//! model's endpoints (score and latency average) is a hash per endpoint
//! and model, reported in the background and read at most once a second.
//!
//! Keys hold counters and markers only, never a prompt, an answer, a URL or
//! a key. Every call returns `None` when Redis is unavailable: the caller
//! then decides with its local breaker and ledger. This module knows
//! nothing of HTTP.

use super::breaker::{CircuitState, Permit};
use super::redis_link::RedisLink;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The Redis name of one (endpoint, model) circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitId(String);

impl CircuitId {
    pub fn new(base_url: &str, model_name: &str) -> Self {
        let mut h = Sha256::new();
        h.update(base_url.trim_end_matches('/').as_bytes());
        h.update([0]);
        h.update(model_name.as_bytes());
        let hex: String = h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        CircuitId(format!("redline:v1:circuit:{hex}"))
    }

    fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.0)
    }
}

/// `{code, wait_ms, dirty, spend}`: code 1 closed, 2 this caller is the
/// probe, 0 open or another process is probing (retry in `wait_ms`);
/// `dirty` 1 when failures are counted (a success must reset them);
/// `spend` today's team spend in micro-dollars when KEYS[5] (the spend key)
/// is given, else -1. One round trip for the circuit and the budget.
const ACQUIRE: &str = r"
local spend = -1
if KEYS[5] then spend = tonumber(redis.call('GET', KEYS[5]) or '0') end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then return {0, ttl, 0, spend} end
local dirty = redis.call('EXISTS', KEYS[4])
if redis.call('EXISTS', KEYS[2]) == 0 then return {1, 0, dirty, spend} end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return {2, 0, 1, spend} end
local lease = redis.call('PTTL', KEYS[3])
if lease < 0 then lease = 0 end
return {0, lease, 0, spend}
";

/// A success: closes the circuit (when `ARGV[1]` is 1) and adds `ARGV[2]`
/// micro-dollars to today's spend (KEYS[5], when given). Returns the spend
/// total, or -1.
const SUCCESS: &str = r"
if ARGV[1] == '1' then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) end
if KEYS[5] then
  local n = redis.call('INCRBY', KEYS[5], ARGV[2])
  redis.call('EXPIRE', KEYS[5], ARGV[3])
  return n
end
return -1
";

/// `{1}` the circuit is open or probing, `{0}` closed.
const CHECK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
return 0
";

/// A retryable failure. Returns 1 when the circuit is (now) open.
const FAILURE: &str = r"
local threshold, cooldown, probe, memory = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if probe == '1' then
  redis.call('SET', KEYS[2], '1', 'PX', cooldown)
  redis.call('SET', KEYS[3], '1', 'PX', memory)
  redis.call('DEL', KEYS[4], KEYS[1])
  return 1
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], memory)
if n >= threshold then
  redis.call('SET', KEYS[2], '1', 'PX', cooldown)
  redis.call('SET', KEYS[3], '1', 'PX', memory)
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// What [`SharedCircuits::try_acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub decision: Result<Permit, Duration>,
    /// Failures are counted or a probe runs: a success must clear them.
    pub dirty: bool,
}

/// How long a day's spend is kept in Redis.
const SPEND_KEEP_S: u64 = 3 * 86_400;

/// The circuits of a team, in Redis.
#[derive(Debug)]
pub struct SharedCircuits {
    link: Arc<RedisLink>,
    threshold: u32,
    cooldown: Duration,
    /// How long a probe may run before another process may probe.
    lease: Duration,
    /// How long an open circuit is remembered without any traffic.
    memory: Duration,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl SharedCircuits {
    pub fn new(link: Arc<RedisLink>, threshold: u32, cooldown: Duration, lease: Duration) -> Self {
        Self {
            link,
            threshold: threshold.max(1),
            cooldown,
            lease,
            memory: cooldown + Duration::from_secs(3600),
        }
    }

    fn script(&self, body: &str, id: &CircuitId, parts: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(body).arg(parts.len());
        for p in parts {
            cmd.arg(id.key(p));
        }
        cmd
    }

    /// Like [`super::breaker::Breaker::try_acquire`], for the whole team;
    /// reads the team's spend in the same round trip when `budget` is given.
    pub async fn try_acquire(
        &self,
        id: &CircuitId,
        budget: Option<&TeamBudget>,
    ) -> Option<Acquired> {
        let mut cmd = redis::cmd("EVAL");
        let day = utc_day();
        cmd.arg(ACQUIRE).arg(if budget.is_some() { 5 } else { 4 });
        for p in ["open", "tripped", "probe", "fails"] {
            cmd.arg(id.key(p));
        }
        if budget.is_some() {
            cmd.arg(TeamBudget::key(day));
        }
        cmd.arg(ms(self.lease));
        let (code, wait, dirty, spend): (i64, i64, i64, i64) = self.link.query(&cmd).await?;
        if let Some(b) = budget {
            b.remember(day, spend);
        }
        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
        Some(Acquired {
            decision: match code {
                1 => Ok(Permit::Normal),
                2 => Ok(Permit::Probe),
                _ => Err(wait),
            },
            dirty: dirty == 1,
        })
    }

    /// Re-checks a permit right before sending (see the local breaker).
    pub async fn still_allows(
        &self,
        id: &CircuitId,
        permit: Permit,
    ) -> Option<Result<(), Duration>> {
        if permit == Permit::Probe {
            return Some(Ok(()));
        }
        let cmd = self.script(CHECK, id, &["open", "tripped"]);
        let blocked: i64 = self.link.query(&cmd).await?;
        Some(if blocked == 1 {
            Err(Duration::ZERO)
        } else {
            Ok(())
        })
    }

    /// The model answered: the circuit closes for everyone (when `dirty`:
    /// failures were counted or a probe ran), and `spend` dollars are added
    /// to the team's day, in one round trip; none when there is nothing to
    /// say.
    pub async fn success(
        &self,
        id: &CircuitId,
        dirty: bool,
        spend: Option<(&TeamBudget, f64)>,
    ) -> Option<()> {
        let add = spend.map(|(_, usd)| micros(usd)).filter(|m| *m > 0);
        if !dirty && add.is_none() {
            return Some(());
        }
        let day = utc_day();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SUCCESS).arg(if add.is_some() { 5 } else { 4 });
        for p in ["fails", "open", "tripped", "probe"] {
            cmd.arg(id.key(p));
        }
        if add.is_some() {
            cmd.arg(TeamBudget::key(day));
        }
        cmd.arg(if dirty { "1" } else { "0" })
            .arg(add.unwrap_or(0))
            .arg(SPEND_KEEP_S);
        let total: i64 = self.link.query(&cmd).await?;
        if let Some((budget, _)) = spend.filter(|_| add.is_some()) {
            budget.remember(day, total);
        }
        Some(())
    }

    /// A retryable failure; `Some(true)` when the circuit is now open.
    pub async fn failure(&self, id: &CircuitId, permit: Permit) -> Option<bool> {
        let mut cmd = self.script(FAILURE, id, &["fails", "open", "tripped", "probe"]);
        cmd.arg(self.threshold)
            .arg(ms(self.cooldown))
            .arg(if permit == Permit::Probe { "1" } else { "0" })
            .arg(ms(self.memory));
        let opened: i64 = self.link.query(&cmd).await?;
        Some(opened == 1)
    }

    /// The probe ended saying nothing about the model: hand the lease back.
    pub async fn release(&self, id: &CircuitId, permit: Permit) {
        if permit == Permit::Probe {
            let cmd = redis::cmd("DEL").arg(id.key("probe")).clone();
            let _ = self.link.query::<i64>(&cmd).await;
        }
    }

    /// The circuit's state as the team sees it.
    pub async fn state(&self, id: &CircuitId) -> Option<CircuitState> {
        let cmd = redis::cmd("EXISTS").arg(id.key("open")).clone();
        let open: i64 = self.link.query(&cmd).await?;
        if open == 1 {
            return Some(CircuitState::Open);
        }
        let cmd = redis::cmd("EXISTS").arg(id.key("tripped")).clone();
        let tripped: i64 = self.link.query(&cmd).await?;
        Some(if tripped == 1 {
            CircuitState::HalfOpen
        } else {
            CircuitState::Closed
        })
    }
}

/// Dollars as integer micro-dollars, so that `INCRBY` adds exactly.
fn micros(usd: f64) -> i64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1_000_000.0).round().min(i64::MAX as f64) as i64
    } else {
        0
    }
}

fn utc_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

/// The team's spend today, counted in Redis.
#[derive(Debug)]
pub struct TeamBudget {
    link: Arc<RedisLink>,
    budget_usd: f64,
    /// The last total Redis told us, in micro-dollars, and its day.
    last_seen: AtomicU64,
    last_day: AtomicU64,
}

impl TeamBudget {
    pub fn new(link: Arc<RedisLink>, budget_usd: f64) -> Self {
        Self {
            link,
            budget_usd,
            last_seen: AtomicU64::new(0),
            last_day: AtomicU64::new(utc_day()),
        }
    }

    fn key(day: u64) -> String {
        format!("redline:v1:spend:{day}")
    }

    /// `Some((spent, budget))` when the spend last seen has reached the
    /// budget (no round trip).
    pub fn over_budget_as_seen(&self) -> Option<(f64, f64)> {
        let spent = self.spent_today();
        (spent >= self.budget_usd).then_some((spent, self.budget_usd))
    }

    fn remember(&self, day: u64, total_micros: i64) {
        self.last_day.store(day, Ordering::Relaxed);
        self.last_seen
            .store(u64::try_from(total_micros).unwrap_or(0), Ordering::Relaxed);
    }

    pub fn budget(&self) -> f64 {
        self.budget_usd
    }

    /// The team's spend today as last seen (no round trip).
    pub fn spent_today(&self) -> f64 {
        if self.last_day.load(Ordering::Relaxed) != utc_day() {
            return 0.0;
        }
        self.last_seen.load(Ordering::Relaxed) as f64 / 1_000_000.0
    }

    /// Adds `usd` to today's team spend.
    pub async fn record(&self, usd: f64) {
        let add = micros(usd);
        if add == 0 {
            return;
        }
        let day = utc_day();
        let mut cmd = redis::cmd("EVAL");
        // One round trip: add, keep for three days, return the total.
        cmd.arg("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[2]) return n")
            .arg(1)
            .arg(Self::key(day))
            .arg(add)
            .arg(SPEND_KEEP_S);
        if let Some(total) = self.link.query::<i64>(&cmd).await {
            self.remember(day, total);
        }
    }

    /// `Some(Some((spent, budget)))` when the team has spent its budget
    /// today; `None` when Redis cannot say.
    pub async fn over_budget(&self) -> Option<Option<(f64, f64)>> {
        let day = utc_day();
        let cmd = redis::cmd("GET").arg(Self::key(day)).clone();
        let total: Option<i64> = self.link.query(&cmd).await?;
        self.remember(day, total.unwrap_or(0));
        let spent = self.spent_today();
        Some((spent >= self.budget_usd).then_some((spent, self.budget_usd)))
    }
}

/// Moves one endpoint's shared health like [`super::routing::Router`] does
/// locally: KEYS[1] the endpoint's hash; ARGV success (1/0), latency ms,
/// keep ms.
const HEALTH: &str = r"
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '1')
local e = redis.call('HGET', KEYS[1], 'e')
if ARGV[1] == '1' then
  s = s + (1 - s) / 2
  if e then e = 0.3 * tonumber(ARGV[2]) + 0.7 * tonumber(e) else e = tonumber(ARGV[2]) end
  redis.call('HSET', KEYS[1], 'e', tostring(e))
else
  s = s / 2
end
redis.call('HSET', KEYS[1], 's', tostring(s))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// The health of the endpoints serving a model, shared by a team: each
/// (endpoint, model) is a hash `redline:v1:endpoint:<hash>` with its score
/// `s` and latency average `e` (ms), expiring an hour after its last use.
#[derive(Debug)]
pub struct SharedHealth {
    link: Arc<RedisLink>,
}

/// The Redis key of one endpoint of one model.
pub fn endpoint_key(base_url: &str, model_name: &str) -> String {
    let id = CircuitId::new(base_url, model_name);
    id.0.replacen(":circuit:", ":endpoint:", 1)
}

impl SharedHealth {
    pub fn new(link: Arc<RedisLink>) -> Self {
        Self { link }
    }

    /// `(score, latency average)` of each key, `None` for one never seen;
    /// `None` as a whole when Redis is unavailable.
    pub async fn load(&self, keys: &[String]) -> Option<Vec<Option<(f64, Option<f64>)>>> {
        let mut cmd = redis::cmd("EVAL");
        // One round trip for every endpoint of the model.
        cmd.arg(
            "local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HMGET', k, 's', 'e') end return out",
        )
        .arg(keys.len());
        for k in keys {
            cmd.arg(k);
        }
        let rows: Vec<(Option<String>, Option<String>)> = self.link.query(&cmd).await?;
        Some(
            rows.into_iter()
                .map(|(s, e)| {
                    let score = s?.parse::<f64>().ok()?;
                    Some((score, e.and_then(|e| e.parse::<f64>().ok())))
                })
                .collect(),
        )
    }

    /// Reports one outcome in the background: the request does not wait.
    pub fn report(&self, key: String, success: bool, latency: Duration) {
        let link = self.link.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(HEALTH)
                .arg(1)
                .arg(key)
                .arg(if success { "1" } else { "0" })
                .arg(latency.as_secs_f64() * 1e3)
                .arg(3_600_000u64);
            let _ = link.query::<i64>(&cmd).await;
        });
    }
}
