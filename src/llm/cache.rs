//! The response cache: a finished answer keyed by a hash of the provider's
//! base URL, the model's name, the messages and the parameters. On disk by
//! default (one JSON file per entry, written atomically via a temporary file
//! and rename, expired after `ttl_hours`, oldest evicted past `max_mb`), or in
//! Redis when `cache.redis_url` is set so a team and its CI share answers.
//! A cache failure is logged and treated as a miss: it never fails a review;
//! while Redis is unreachable the disk cache stands in for it.
//! Nothing secret is stored: the key is a hash and entries hold only answers.

use super::redis_link::RedisLink;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is remembered about an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix seconds when it was stored.
    pub created: u64,
    /// The model key that answered.
    pub model: String,
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The hex sha256 key of one request.
pub fn key(
    base_url: &str,
    model_name: &str,
    messages: &[super::Message],
    max_tokens: u32,
    temperature: Option<f32>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"redline-cache-v1\0");
    h.update(base_url.trim_end_matches('/').as_bytes());
    h.update([0]);
    h.update(model_name.as_bytes());
    h.update([0]);
    for m in messages {
        h.update(m.role.as_str().as_bytes());
        h.update([0]);
        h.update((m.content.len() as u64).to_le_bytes());
        h.update(m.content.as_bytes());
    }
    h.update(max_tokens.to_le_bytes());
    match temperature {
        Some(t) => h.update(t.to_bits().to_le_bytes()),
        None => h.update([0xff]),
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone)]
pub enum Cache {
    Off,
    Disk(Arc<DiskCache>),
    Redis(Arc<RedisCache>),
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cache::Off => f.write_str("Cache::Off"),
            Cache::Disk(d) => write!(f, "Cache::Disk({})", d.dir.display()),
            // The URL may carry a password: never print it.
            Cache::Redis(_) => f.write_str("Cache::Redis(..)"),
        }
    }
}

impl Cache {
    /// `redis`: the process's link when `cache.redis_url` is set.
    pub fn from_config(
        c: &crate::config::CacheConfig,
        redis: Option<Arc<RedisLink>>,
    ) -> Result<Cache, String> {
        if !c.enabled {
            return Ok(Cache::Off);
        }
        let ttl = Duration::from_secs(c.ttl_hours.saturating_mul(3600));
        let disk = default_dir(c).map(|dir| {
            Arc::new(DiskCache::new(
                dir,
                ttl,
                c.max_mb.saturating_mul(1024 * 1024),
            ))
        });
        if let Some(link) = redis {
            return Ok(Cache::Redis(Arc::new(RedisCache::new(link, ttl, disk))));
        }
        let disk = disk.ok_or_else(|| {
            "no user cache directory; set cache.dir or cache.enabled = false".to_string()
        })?;
        Ok(Cache::Disk(disk))
    }

    pub async fn get(&self, key: &str) -> Option<Entry> {
        match self {
            Cache::Off => None,
            Cache::Disk(d) => {
                let d = d.clone();
                let key = key.to_string();
                tokio::task::spawn_blocking(move || d.get(&key))
                    .await
                    .ok()
                    .flatten()
            }
            Cache::Redis(r) => r.get(key).await,
        }
    }

    pub async fn put(&self, key: &str, entry: Entry) {
        match self {
            Cache::Off => {}
            Cache::Disk(d) => {
                let d = d.clone();
                let key = key.to_string();
                let _ = tokio::task::spawn_blocking(move || d.put(&key, &entry)).await;
            }
            Cache::Redis(r) => r.put(key, &entry).await,
        }
    }
}

/// `cache.dir`, or `<user cache dir>/redline`.
pub fn default_dir(c: &crate::config::CacheConfig) -> Option<PathBuf> {
    c.dir
        .clone()
        .or_else(|| dirs::cache_dir().map(|d| d.join("redline")))
}

#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    ttl: Duration,
    max_bytes: u64,
    /// Bytes on disk as far as we know; `None` until the first scan.
    size: Mutex<Option<u64>>,
}

impl DiskCache {
    pub fn new(dir: PathBuf, ttl: Duration, max_bytes: u64) -> Self {
        Self {
            dir: dir.join("responses"),
            ttl,
            max_bytes,
            size: Mutex::new(None),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        let shard = key.get(..2).unwrap_or("00");
        self.dir.join(shard).join(format!("{key}.json"))
    }

    fn expired(&self, e: &Entry) -> bool {
        now_secs().saturating_sub(e.created) >= self.ttl.as_secs()
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(e) if !self.expired(&e) => Some(e),
            _ => {
                // Expired or unreadable (e.g. written by an older version).
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    pub fn put(&self, key: &str, entry: &Entry) {
        if let Err(e) = self.try_put(key, entry) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write to the response cache");
        }
    }

    fn try_put(&self, key: &str, entry: &Entry) -> std::io::Result<()> {
        let path = self.path(key);
        let shard = path.parent().expect("entry paths have a shard folder");
        std::fs::create_dir_all(shard)?;
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        // Write then rename: a crash leaves either the old entry or the new
        // one, never half a file.
        let mut tmp = tempfile::NamedTempFile::new_in(shard)?;
        tmp.write_all(&bytes)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        let mut size = self.size.lock().unwrap_or_else(|p| p.into_inner());
        let total = match *size {
            Some(s) => s + bytes.len() as u64,
            None => scan(&self.dir).iter().map(|f| f.len).sum(),
        };
        *size = Some(if total > self.max_bytes {
            self.evict()
        } else {
            total
        });
        Ok(())
    }

    /// Removes expired entries, then the oldest until the cache is at most
    /// 90% of its bound. Returns the bytes left.
    fn evict(&self) -> u64 {
        let mut files = scan(&self.dir);
        files.sort_by_key(|f| f.modified);
        let mut total: u64 = files.iter().map(|f| f.len).sum();
        let target = self.max_bytes / 10 * 9;
        let cutoff = SystemTime::now()
            .checked_sub(self.ttl)
            .unwrap_or(UNIX_EPOCH);
        for f in files {
            if total <= target && f.modified > cutoff {
                continue;
            }
            if std::fs::remove_file(&f.path).is_ok() {
                total = total.saturating_sub(f.len);
            }
        }
        total
    }
}

struct CachedFile {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

fn scan(dir: &Path) -> Vec<CachedFile> {
    let mut out = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir) else {
        return out;
    };
    for shard in shards.flatten() {
        let Ok(entries) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(meta) = e.metadata() {
                if meta.is_file() {
                    out.push(CachedFile {
                        path: e.path(),
                        len: meta.len(),
                        modified: meta.modified().unwrap_or(UNIX_EPOCH),
                    });
                }
            }
        }
    }
    out
}

/// Redis: `SET redline:v1:<key> <json> EX <ttl>` over the process's
/// [`RedisLink`]. While Redis is unreachable the disk cache serves instead.
pub struct RedisCache {
    link: Arc<RedisLink>,
    ttl: Duration,
    fallback: Option<Arc<DiskCache>>,
}

impl RedisCache {
    pub fn new(link: Arc<RedisLink>, ttl: Duration, fallback: Option<Arc<DiskCache>>) -> Self {
        Self {
            link,
            ttl,
            fallback,
        }
    }

    async fn get(&self, key: &str) -> Option<Entry> {
        let cmd = redis::cmd("GET").arg(format!("redline:v1:{key}")).clone();
        match self.link.query::<Option<Vec<u8>>>(&cmd).await {
            Some(got) => serde_json::from_slice(&got?).ok(),
            None => {
                let d = self.fallback.clone()?;
                let key = key.to_string();
                tokio::task::spawn_blocking(move || d.get(&key))
                    .await
                    .ok()
                    .flatten()
            }
        }
    }

    async fn put(&self, key: &str, entry: &Entry) {
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        let cmd = redis::cmd("SET")
            .arg(format!("redline:v1:{key}"))
            .arg(bytes)
            .arg("EX")
            .arg(self.ttl.as_secs().max(1))
            .clone();
        if self.link.query::<()>(&cmd).await.is_none() {
            if let Some(d) = self.fallback.clone() {
                let key = key.to_string();
                let entry = entry.clone();
                let _ = tokio::task::spawn_blocking(move || d.put(&key, &entry)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(created: u64, content: &str) -> Entry {
        Entry {
            created,
            model: "m".into(),
            content: content.into(),
            prompt_tokens: 1,
            completion_tokens: 1,
        }
    }

    #[test]
    fn an_entry_written_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path().into(), Duration::from_secs(3600), 1 << 20);
        c.put("abcdef", &entry(now_secs(), "hello"));
        assert_eq!(c.get("abcdef").unwrap().content, "hello");
        assert!(c.get("abcdee").is_none());
    }

    #[test]
    fn an_expired_entry_is_a_miss_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path().into(), Duration::from_secs(3600), 1 << 20);
        c.put("abcdef", &entry(now_secs() - 7200, "old"));
        assert!(c.get("abcdef").is_none());
        assert!(!c.path("abcdef").exists());
    }

    #[test]
    fn the_cache_stays_within_its_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path().into(), Duration::from_secs(3600), 4096);
        let big = "x".repeat(500);
        for i in 0..40 {
            c.put(&format!("{i:04x}beef"), &entry(now_secs(), &big));
        }
        let total: u64 = scan(&c.dir).iter().map(|f| f.len).sum();
        assert!(total <= 4096, "{total} bytes on disk");
        assert!(c.get("0027beef").is_some(), "the newest entry is kept");
    }

    #[test]
    fn the_key_changes_with_every_input() {
        let msgs = vec![super::super::Message::user("hi")];
        let base = key("http://a/v1", "m", &msgs, 100, None);
        assert_eq!(base, key("http://a/v1/", "m", &msgs, 100, None));
        assert_ne!(base, key("http://b/v1", "m", &msgs, 100, None));
        assert_ne!(base, key("http://a/v1", "n", &msgs, 100, None));
        assert_ne!(base, key("http://a/v1", "m", &msgs, 101, None));
        assert_ne!(base, key("http://a/v1", "m", &msgs, 100, Some(0.0)));
        let other = vec![super::super::Message::user("ho")];
        assert_ne!(base, key("http://a/v1", "m", &other, 100, None));
    }
}
