//! Numbers a team can watch, per model and endpoint: requests sent, errors
//! by class, latency and time to first token (p50/p95/p99 over the last
//! [`WINDOW`] requests, plus sum and count), cache hits and misses, tokens
//! and cost. Rendered as JSON for `redline.stats` and `check`, and in the
//! Prometheus text exposition format for node_exporter's textfile collector.
//!
//! Label values are model keys and endpoint names from the configuration,
//! escaped as the format requires; never a URL, a prompt or a key.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latencies kept per series for the quantiles.
pub const WINDOW: usize = 1024;

#[derive(Debug, Default)]
struct Samples {
    recent: VecDeque<f64>,
    sum: f64,
    count: u64,
}

impl Samples {
    fn add(&mut self, seconds: f64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(seconds);
        self.sum += seconds;
        self.count += 1;
    }

    fn quantiles(&self) -> Quantiles {
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| -> Option<f64> {
            if sorted.is_empty() {
                return None;
            }
            // Nearest rank.
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
        };
        let ms = |v: Option<f64>| v.map(|s| (s * 1e6).round() / 1e3);
        Quantiles {
            p50_ms: ms(at(0.5)),
            p95_ms: ms(at(0.95)),
            p99_ms: ms(at(0.99)),
            count: self.count,
        }
    }
}

/// Quantiles in milliseconds (`None` before the first sample).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Default)]
struct Series {
    requests: u64,
    errors: BTreeMap<String, u64>,
    latency: Samples,
    first_token: Samples,
    cache_hits: u64,
    cache_misses: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: f64,
}

/// One model at one endpoint, as `redline.stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStats {
    pub model: String,
    pub endpoint: String,
    /// HTTP requests sent (failed ones included).
    pub requests: u64,
    /// Error class (`HTTP 503`, `request timeout`, `circuit open`, …) -> count.
    pub errors: BTreeMap<String, u64>,
    pub latency: Quantiles,
    pub time_to_first_token: Quantiles,
    /// Hits / (hits + misses); `None` before the first lookup.
    pub cache_hit_rate: Option<f64>,
    pub cache_hits: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    /// This series' tokens (prompt + completion) and cost averaged over the
    /// client's model reviews; `None` before the first review ends.
    pub tokens_per_review: Option<f64>,
    pub cost_usd_per_review: Option<f64>,
}

/// Every series of one client.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
    reviews: std::sync::atomic::AtomicU64,
}

impl Metrics {
    fn with(&self, model: &str, endpoint: &str, f: impl FnOnce(&mut Series)) {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key = (model.to_string(), endpoint.to_string());
        f(all.entry(key).or_default());
    }

    /// A request answered: its whole duration and its time to first token.
    pub fn answered(&self, model: &str, endpoint: &str, took: Duration, first: Option<Duration>) {
        self.with(model, endpoint, |s| {
            s.requests += 1;
            s.latency.add(took.as_secs_f64());
            if let Some(f) = first {
                s.first_token.add(f.as_secs_f64());
            }
        });
    }

    /// A request sent that failed, by error class.
    pub fn failed(&self, model: &str, endpoint: &str, class: &str) {
        self.with(model, endpoint, |s| {
            s.requests += 1;
            *s.errors.entry(class.to_string()).or_default() += 1;
        });
    }

    /// A request refused before sending (circuit open, budget): an error
    /// by class, no request.
    pub fn refused(&self, model: &str, endpoint: &str, class: &str) {
        self.with(model, endpoint, |s| {
            *s.errors.entry(class.to_string()).or_default() += 1;
        });
    }

    pub fn cache_lookup(&self, model: &str, endpoint: &str, hit: bool) {
        self.with(model, endpoint, |s| {
            if hit {
                s.cache_hits += 1;
            } else {
                s.cache_misses += 1;
            }
        });
    }

    pub fn spent(&self, model: &str, endpoint: &str, prompt: u64, completion: u64, usd: f64) {
        self.with(model, endpoint, |s| {
            s.prompt_tokens += prompt;
            s.completion_tokens += completion;
            s.cost_usd += usd;
        });
    }

    /// A model review ended (whatever it cost): the denominator of the
    /// per-review numbers.
    pub fn review_done(&self) {
        self.reviews
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Model reviews ended so far.
    pub fn reviews(&self) -> u64 {
        self.reviews.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Vec<SeriesStats> {
        let reviews = self.reviews();
        let per_review = |v: f64| (reviews > 0).then(|| v / reviews as f64);
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|((model, endpoint), s)| {
                let lookups = s.cache_hits + s.cache_misses;
                SeriesStats {
                    model: model.clone(),
                    endpoint: endpoint.clone(),
                    requests: s.requests,
                    errors: s.errors.clone(),
                    latency: s.latency.quantiles(),
                    time_to_first_token: s.first_token.quantiles(),
                    cache_hit_rate: (lookups > 0).then(|| s.cache_hits as f64 / lookups as f64),
                    cache_hits: s.cache_hits,
                    prompt_tokens: s.prompt_tokens,
                    completion_tokens: s.completion_tokens,
                    cost_usd: s.cost_usd,
                    tokens_per_review: per_review((s.prompt_tokens + s.completion_tokens) as f64),
                    cost_usd_per_review: per_review(s.cost_usd),
                }
            })
            .collect()
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self, team: Option<&super::TeamStats>) -> String {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP redline_reviews_total Model reviews ended (the denominator of per-review tokens and cost).\n# TYPE redline_reviews_total counter\nredline_reviews_total {}",
            self.reviews()
        );
        let labels = |m: &str, e: &str| format!("model=\"{}\",endpoint=\"{}\"", esc(m), esc(e));
        let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn FnMut(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            rows(&mut out);
        };
        family(
            "redline_llm_requests_total",
            "counter",
            "HTTP requests sent to a model at an endpoint, failed ones included.",
            &mut |o| {
                for ((m, e), s) in all.iter() {
                    let _ = writeln!(
                        o,
                        "redline_llm_requests_total{{{}}} {}",
                        labels(m, e),
                        s.requests
                    );
                }
            },
        );
        family(
            "redline_llm_errors_total",
            "counter",
            "Failed or refused requests by error class.",
            &mut |o| {
                for ((m, e), s) in all.iter() {
                    for (class, n) in &s.errors {
                        let _ = writeln!(
                            o,
                            "redline_llm_errors_total{{{},class=\"{}\"}} {n}",
                            labels(m, e),
                            esc(class)
                        );
                    }
                }
            },
        );
        for (name, help, pick) in [
            (
                "redline_llm_request_duration_seconds",
                "Whole duration of answered requests (quantiles over the last 1024).",
                (|s: &Series| &s.latency) as fn(&Series) -> &Samples,
            ),
            (
                "redline_llm_time_to_first_token_seconds",
                "Time to the first streamed token (quantiles over the last 1024).",
                |s: &Series| &s.first_token,
            ),
        ] {
            family(name, "summary", help, &mut |o| {
                for ((m, e), s) in all.iter() {
                    let samples = pick(s);
                    let q = samples.quantiles();
                    for (label, v) in [("0.5", q.p50_ms), ("0.95", q.p95_ms), ("0.99", q.p99_ms)] {
                        if let Some(ms) = v {
                            let _ = writeln!(
                                o,
                                "{name}{{{},quantile=\"{label}\"}} {}",
                                labels(m, e),
                                ms / 1e3
                            );
                        }
                    }
                    let _ = writeln!(o, "{name}_sum{{{}}} {}", labels(m, e), samples.sum);
                    let _ = writeln!(o, "{name}_count{{{}}} {}", labels(m, e), samples.count);
                }
            });
        }
        family(
            "redline_llm_cache_lookups_total",
            "counter",
            "Response cache lookups by result (hit or miss).",
            &mut |o| {
                for ((m, e), s) in all.iter() {
                    for (result, n) in [("hit", s.cache_hits), ("miss", s.cache_misses)] {
                        let _ = writeln!(
                            o,
                            "redline_llm_cache_lookups_total{{{},result=\"{result}\"}} {n}",
                            labels(m, e)
                        );
                    }
                }
            },
        );
        family(
            "redline_llm_tokens_total",
            "counter",
            "Tokens billed, by kind (prompt or completion).",
            &mut |o| {
                for ((m, e), s) in all.iter() {
                    for (kind, n) in [
                        ("prompt", s.prompt_tokens),
                        ("completion", s.completion_tokens),
                    ] {
                        let _ = writeln!(
                            o,
                            "redline_llm_tokens_total{{{},kind=\"{kind}\"}} {n}",
                            labels(m, e)
                        );
                    }
                }
            },
        );
        family(
            "redline_llm_cost_usd_total",
            "counter",
            "Dollars spent at the configured prices.",
            &mut |o| {
                for ((m, e), s) in all.iter() {
                    let _ = writeln!(
                        o,
                        "redline_llm_cost_usd_total{{{}}} {}",
                        labels(m, e),
                        s.cost_usd
                    );
                }
            },
        );
        if let Some(team) = team {
            family(
                "redline_team_redis_up",
                "gauge",
                "1 while the team's Redis answers, 0 while this process runs on local state.",
                &mut |o| {
                    let _ = writeln!(o, "redline_team_redis_up {}", u8::from(team.redis == "up"));
                },
            );
            if let Some(spent) = team.spent_today_usd {
                family(
                    "redline_team_spent_today_usd",
                    "gauge",
                    "The team's spend today (UTC) as last read from Redis.",
                    &mut |o| {
                        let _ = writeln!(o, "redline_team_spent_today_usd {spent}");
                    },
                );
            }
        }
        out
    }
}

/// A label value as the exposition format wants it.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `text` to `path` atomically (temporary file and rename), so a
/// collector never reads half a file.
pub fn write_textfile(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_over_the_recent_window() {
        let m = Metrics::default();
        for ms in 1..=100 {
            m.answered("fast", "llm", Duration::from_millis(ms), None);
        }
        let s = &m.snapshot()[0];
        assert_eq!(s.latency.p50_ms, Some(50.0));
        assert_eq!(s.latency.p95_ms, Some(95.0));
        assert_eq!(s.latency.p99_ms, Some(99.0));
        assert_eq!(s.time_to_first_token.p50_ms, None);
        assert_eq!(s.requests, 100);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
