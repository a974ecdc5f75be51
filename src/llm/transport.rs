//! One HTTP attempt against an OpenAI-compatible `/chat/completions`
//! endpoint: always streaming (SSE, `stream_options.include_usage`), with the
//! first-token, whole-request and silence-heartbeat clocks observed here.
//! Every outcome is classified into an [`LlmError`]; retrying, breakers and
//! failover live one level up. Wire types are lenient (unknown fields and odd
//! values tolerated) because gateways, Ollama and vLLM all differ a little.
//!
//! The API key is read from its environment variable for each attempt, sent
//! only to this endpoint's own base URL (redirects are refused by the HTTP
//! client), and never logged: it lives in [`ApiKey`], whose `Debug` is redacted.

use super::error::{LlmError, TimeoutPhase};
use super::{emit, Message, StreamEvent};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde::Deserialize;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// An OpenAI-compatible endpoint: the `[llm]` one or a `[providers.*]` one.
#[derive(Debug)]
pub struct Endpoint {
    /// `llm` or the provider's key, for messages.
    pub name: String,
    pub base_url: String,
    /// Name of the environment variable holding the key (not the key).
    pub api_key_env: String,
    pub limiter: Option<super::limit::RateLimiter>,
}

/// A bearer key. Its `Debug` never shows it.
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    pub fn from_env(var: &str) -> Option<ApiKey> {
        std::env::var(var)
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(ApiKey)
    }
}

/// Everything one attempt needs.
pub struct Attempt<'a> {
    pub model_key: &'a str,
    pub model_name: &'a str,
    pub endpoint: &'a Endpoint,
    pub messages: &'a [Message],
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub first_token: Duration,
    pub whole: Duration,
    pub heartbeat: Duration,
}

/// A finished answer as the provider sent it.
#[derive(Debug, Default)]
pub struct Completion {
    pub content: String,
    pub finish_reason: Option<String>,
    /// `(prompt_tokens, completion_tokens)` if the provider reported usage.
    pub usage: Option<(u64, u64)>,
    /// From sending the request to the first token (or the whole answer,
    /// from a server that does not stream).
    pub first_token: Option<Duration>,
}

// Optional fields are read leniently: a provider that sends a negative
// token count or a number where a string belongs has still answered; the
// field is ignored, the answer kept (no retry, no failover).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk {
    choices: Vec<Choice>,
    #[serde(deserialize_with = "lenient")]
    usage: Option<WireUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    #[serde(deserialize_with = "lenient")]
    delta: Option<Delta>,
    #[serde(deserialize_with = "lenient")]
    message: Option<Delta>,
    #[serde(deserialize_with = "lenient")]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Option<String>,
    #[serde(deserialize_with = "lenient")]
    reasoning_content: Option<String>,
    #[serde(deserialize_with = "lenient")]
    reasoning: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    #[serde(deserialize_with = "lenient")]
    prompt_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    completion_tokens: Option<u64>,
}

/// An optional field that is `None` when it does not have the expected
/// shape, instead of failing the whole chunk.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// The clocks of one attempt: cancellation, the first-token and whole
/// deadlines, and the silence heartbeat.
struct Watch<'a> {
    model: &'a str,
    cancel: &'a CancellationToken,
    events: Option<&'a UnboundedSender<StreamEvent>>,
    start: Instant,
    first_deadline: Option<Instant>,
    whole_deadline: Instant,
    heartbeat: Duration,
    last_activity: Instant,
    next_beat: Instant,
    first_at: Option<Duration>,
}

impl Watch<'_> {
    fn activity(&mut self) {
        self.last_activity = Instant::now();
        self.next_beat = self.last_activity + self.heartbeat;
    }

    fn first_token(&mut self) {
        if self.first_at.is_none() {
            self.first_at = Some(self.start.elapsed());
        }
        if self.first_deadline.take().is_some() {
            emit(
                self.events,
                StreamEvent::FirstToken {
                    model: self.model.to_string(),
                },
            );
        }
    }

    /// Runs `fut` until it finishes, the request is cancelled or a deadline
    /// passes; emits `Silent` heartbeats while nothing happens.
    async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, LlmError> {
        tokio::pin!(fut);
        loop {
            let (deadline, phase) = match self.first_deadline {
                Some(first) if first < self.whole_deadline => (first, TimeoutPhase::FirstToken),
                _ => (self.whole_deadline, TimeoutPhase::Whole),
            };
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(LlmError::Cancelled),
                out = &mut fut => return Ok(out),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(LlmError::Timeout {
                        model: self.model.to_string(),
                        phase,
                        waited: self.start.elapsed(),
                    });
                }
                _ = tokio::time::sleep_until(self.next_beat) => {
                    emit(self.events, StreamEvent::Silent {
                        model: self.model.to_string(),
                        waited: self.last_activity.elapsed(),
                    });
                    self.next_beat += self.heartbeat;
                }
            }
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

fn looks_like_context_overflow(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    [
        "context_length",
        "context length",
        "context window",
        "maximum context",
        "too many tokens",
        "prompt is too long",
        "reduce the length",
        "token limit",
    ]
    .iter()
    .any(|p| b.contains(p))
}

/// The provider's error message from a JSON error body, or the body itself,
/// shortened.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            e.get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())
                .map(str::to_string)
        });
    shorten(&from_json.unwrap_or_else(|| body.trim().to_string()), 200)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

fn classify_status(
    a: &Attempt<'_>,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> LlmError {
    let model = a.model_key.to_string();
    match status {
        401 | 403 => LlmError::Unauthorized {
            model,
            status,
            key_env: a.endpoint.api_key_env.clone(),
        },
        413 => LlmError::ContextOverflow {
            model,
            message: error_message(body),
        },
        400 if looks_like_context_overflow(body) => LlmError::ContextOverflow {
            model,
            message: error_message(body),
        },
        _ => LlmError::Http {
            model,
            status,
            retry_after,
            message: error_message(body),
        },
    }
}

fn classify_send_error(a: &Attempt<'_>, e: &reqwest::Error, waited: Duration) -> LlmError {
    let model = a.model_key;
    if e.is_builder() {
        // Most likely a key that is not a valid header value; the error
        // text does not include the value.
        LlmError::Config(format!(
            "cannot build the request to `{model}` at {}: {e}; check ${} and the base_url",
            a.endpoint.base_url, a.endpoint.api_key_env
        ))
    } else if e.is_connect() && e.is_timeout() {
        LlmError::Timeout {
            model: model.to_string(),
            phase: TimeoutPhase::Connect,
            waited,
        }
    } else {
        // The root cause ("connection refused", "dns error: …") and where,
        // rather than reqwest's whole chain of wrappers.
        LlmError::Connect {
            model: model.to_string(),
            message: format!("{} at {}", root_cause(e), a.endpoint.base_url),
        }
    }
}

/// The innermost error of a chain, starting lower-case: what a person
/// needs to read ("connection refused (os error 111)").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let text = inner.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// `<base_url>/chat/completions`, the path appended before any query string
/// (`https://host/openai/v1?api-version=2024-06-01` keeps its query).
fn completions_url(base_url: &str) -> String {
    match reqwest::Url::parse(base_url) {
        Ok(mut url) if !url.cannot_be_a_base() => {
            let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url.to_string()
        }
        _ => format!("{}/chat/completions", base_url.trim_end_matches('/')),
    }
}

/// Sends one streaming request and reads the answer to its end.
pub async fn send(
    http: &reqwest::Client,
    a: &Attempt<'_>,
    clocks: Clocks,
    cancel: &CancellationToken,
    events: Option<&UnboundedSender<StreamEvent>>,
) -> Result<Completion, LlmError> {
    let url = completions_url(&a.endpoint.base_url);
    let mut body = serde_json::json!({
        "model": a.model_name,
        "messages": a.messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": a.max_tokens,
    });
    if let Some(t) = a.temperature {
        body["temperature"] = serde_json::json!(t);
    }
    let mut request = http
        .post(&url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&body);
    if let Some(key) = ApiKey::from_env(&a.endpoint.api_key_env) {
        // bearer_auth marks the header sensitive, so it is never printed.
        request = request.bearer_auth(&key.0);
    }
    tracing::debug!(model = a.model_key, endpoint = %a.endpoint.name, max_tokens = a.max_tokens, "sending chat request");

    let start = Instant::now();
    let mut watch = Watch {
        model: a.model_key,
        cancel,
        events,
        start,
        first_deadline: Some(start + clocks.first_token),
        whole_deadline: start + clocks.whole,
        heartbeat: clocks.heartbeat,
        last_activity: start,
        next_beat: start + clocks.heartbeat,
        first_at: None,
    };
    let response = watch
        .guard(request.send())
        .await?
        .map_err(|e| classify_send_error(a, &e, start.elapsed()))?;
    let status = response.status();
    if !status.is_success() {
        let after = retry_after(response.headers());
        let text = watch.guard(response.text()).await?.unwrap_or_default();
        let err = classify_status(a, status.as_u16(), after, &text);
        tracing::debug!(
            model = a.model_key,
            status = status.as_u16(),
            "model request failed"
        );
        return Err(err);
    }
    let is_sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !is_sse {
        // The server ignored `stream: true` and answered in one piece.
        let bytes = watch
            .guard(response.bytes())
            .await?
            .map_err(|e| LlmError::Disconnected {
                model: a.model_key.to_string(),
                message: root_cause(&e),
            })?;
        watch.first_token();
        return parse_whole(a.model_key, &bytes, events).map(|mut c| {
            c.first_token = watch.first_at;
            c
        });
    }

    let mut stream = response.bytes_stream().eventsource();
    let mut out = Completion::default();
    let mut done = false;
    while let Some(next) = watch.guard(stream.next()).await? {
        watch.activity();
        let event = next.map_err(|e| match e {
            eventsource_stream::EventStreamError::Transport(e) => LlmError::Disconnected {
                model: a.model_key.to_string(),
                message: root_cause(&e),
            },
            other => LlmError::Garbage {
                model: a.model_key.to_string(),
                message: other.to_string(),
            },
        })?;
        let data = event.data.trim();
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| LlmError::Garbage {
            model: a.model_key.to_string(),
            message: format!("{e} in `{}`", shorten(data, 80)),
        })?;
        apply_chunk(a.model_key, chunk, &mut out, &mut watch)?;
    }
    if !done && out.finish_reason.is_none() {
        return Err(LlmError::Disconnected {
            model: a.model_key.to_string(),
            message: "the stream ended before the answer was finished".into(),
        });
    }
    tracing::debug!(model = a.model_key, chars = out.content.len(), finish = ?out.finish_reason, "model answered");
    out.first_token = watch.first_at;
    Ok(out)
}

fn apply_chunk(
    model: &str,
    chunk: Chunk,
    out: &mut Completion,
    watch: &mut Watch<'_>,
) -> Result<(), LlmError> {
    if let Some(err) = chunk.error {
        let status = err
            .get("code")
            .and_then(|c| c.as_u64())
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c >= 400)
            .unwrap_or(502);
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .map(|m| shorten(m, 200))
            .unwrap_or_else(|| shorten(&err.to_string(), 200));
        return Err(LlmError::Http {
            model: model.to_string(),
            status,
            retry_after: None,
            message,
        });
    }
    if let Some(WireUsage {
        prompt_tokens: Some(prompt),
        completion_tokens: Some(completion),
    }) = chunk.usage
    {
        out.usage = Some((prompt, completion));
    }
    for choice in chunk.choices {
        if let Some(d) = choice.delta.or(choice.message) {
            let thinking = d
                .reasoning_content
                .as_deref()
                .or(d.reasoning.as_deref())
                .is_some_and(|t| !t.is_empty());
            if let Some(text) = d.content.filter(|t| !t.is_empty()) {
                watch.first_token();
                emit(watch.events, StreamEvent::Delta(text.clone()));
                out.content.push_str(&text);
            } else if thinking {
                watch.first_token();
            }
        }
        if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
            watch.first_token();
            out.finish_reason = Some(reason);
        }
    }
    Ok(())
}

fn parse_whole(
    model: &str,
    bytes: &[u8],
    events: Option<&UnboundedSender<StreamEvent>>,
) -> Result<Completion, LlmError> {
    let chunk: Chunk = serde_json::from_slice(bytes).map_err(|e| LlmError::Garbage {
        model: model.to_string(),
        message: format!("{e} in `{}`", shorten(&String::from_utf8_lossy(bytes), 80)),
    })?;
    if chunk.choices.is_empty() && chunk.error.is_none() {
        return Err(LlmError::Garbage {
            model: model.to_string(),
            message: "no `choices` in the answer".into(),
        });
    }
    let mut out = Completion::default();
    let cancel = CancellationToken::new();
    let now = Instant::now();
    let mut watch = Watch {
        model,
        cancel: &cancel,
        events,
        start: now,
        first_deadline: None,
        whole_deadline: now,
        heartbeat: Duration::from_secs(1),
        last_activity: now,
        next_beat: now,
        first_at: None,
    };
    apply_chunk(model, chunk, &mut out, &mut watch)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(endpoint: &Endpoint) -> Attempt<'_> {
        Attempt {
            model_key: "fast",
            model_name: "m",
            endpoint,
            messages: &[],
            max_tokens: 10,
            temperature: None,
        }
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            name: "llm".into(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key_env: "SOME_KEY_VAR".into(),
            limiter: None,
        }
    }

    #[test]
    fn statuses_are_classified_by_what_the_caller_should_do() {
        let ep = endpoint();
        let a = attempt(&ep);
        let c = |status, body: &str| classify_status(&a, status, None, body);
        assert!(matches!(c(401, ""), LlmError::Unauthorized { .. }));
        assert!(matches!(c(403, ""), LlmError::Unauthorized { .. }));
        assert!(matches!(
            c(
                400,
                r#"{"error":{"message":"maximum context length is 8192 tokens"}}"#
            ),
            LlmError::ContextOverflow { .. }
        ));
        assert!(matches!(
            c(413, "too large"),
            LlmError::ContextOverflow { .. }
        ));
        let bad = c(400, r#"{"error":{"message":"unknown field foo"}}"#);
        assert!(!bad.is_retryable());
        assert!(bad.to_string().contains("unknown field foo"), "{bad}");
        for retryable in [408, 429, 500, 502, 503, 504] {
            assert!(c(retryable, "").is_retryable(), "{retryable}");
        }
    }

    #[test]
    fn retry_after_seconds_are_read_and_dates_ignored() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn an_api_key_never_shows_in_debug_output() {
        let key = ApiKey("sk-live-abcdef".into());
        assert!(!format!("{key:?}").contains("abcdef"));
    }

    #[test]
    fn lenient_chunks_accept_empty_finish_reasons_and_unknown_fields() {
        let chunk: Chunk = serde_json::from_str(
            r#"{"id":"x","choices":[{"delta":{"content":"hi","extra":1},"finish_reason":"","logprobs":null}],"system_fingerprint":null}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].finish_reason.as_deref(), Some(""));
        let ep = endpoint();
        let _ = attempt(&ep);
        let cancel = CancellationToken::new();
        let now = Instant::now();
        let mut watch = Watch {
            model: "m",
            cancel: &cancel,
            events: None,
            start: now,
            first_deadline: Some(now),
            whole_deadline: now,
            heartbeat: Duration::from_secs(1),
            last_activity: now,
            next_beat: now,
            first_at: None,
        };
        let mut out = Completion::default();
        apply_chunk("m", chunk, &mut out, &mut watch).unwrap();
        assert_eq!(out.content, "hi");
        assert_eq!(
            out.finish_reason, None,
            "an empty finish_reason is no finish"
        );
    }
}
