//! A fake OpenAI-compatible server for tests and benches: a real HTTP server
//! (axum) on `127.0.0.1:0` that speaks `POST /v1/chat/completions`, streaming
//! (SSE, when the request says `"stream": true`) or plain JSON, and does
//! whatever each test scripts, per model.
//!
//! ```ignore
//! #[path = "support/fake_openai.rs"]   // from benches: "../tests/support/fake_openai.rs"
//! mod fake_openai;
//! use fake_openai::{Behaviour, FakeOpenAi};
//!
//! let fake = FakeOpenAi::start().await;            // fake.base_url ends with "/v1"
//! fake.set_default("fast", Behaviour::unavailable(None));      // every call: 503
//! fake.push("fast", Behaviour::answer("hi").with_usage(10, 2)); // next call only
//! fake.respond_with(|r| if r.prompt().contains("boom") { Behaviour::hang() }
//!                       else { Behaviour::answer("{\"findings\": []}") });
//! let reqs = fake.wait_for_requests(3, Duration::from_secs(5)).await;
//! assert_eq!(fake.count("fast"), 3);
//! ```
//!
//! How a request is answered, first match wins: the model's queue (`push`,
//! consumed in order), the closure (`respond_with`), the model's default
//! (`set_default`), the catch-all (`set_fallback`, initially
//! `answer("{\"findings\": []}")`).
//!
//! Behaviours: `answer` or `in_pieces` (with `.after(latency)`,
//! `.in_chunks(n, delay)`, `.hold_after(n, &gate)`,
//! `.with_usage(p, c)`, `.with_raw_usage(json)`, `.without_usage()`, `.finish(reason)`,
//! `.ignoring_stream()`), `length`
//! (finish_reason "length"), `status` / `too_many_requests` / `unavailable`
//! (with `Retry-After`), `unauthorized`, `context_overflow`, `hang` (never
//! answers until the server is dropped), `drop_mid_stream`, `garbage`.
//!
//! `start()` serves on the caller's tokio runtime. When the code under test
//! blocks a thread (a sync `#[test]`, or running the `redline` binary with
//! `std::process::Command`), use `FakeOpenAi::start_background()`, which
//! serves from its own thread, and `wait_for_requests_blocking`.
//!
//! Every request is recorded (path, model, JSON body, `Authorization`
//! header) before it is answered; `wait_for_requests` synchronises on that
//! without sleeping. Dropping the `FakeOpenAi` stops the server and releases
//! hanging requests.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    Answer {
        content: String,
        /// Delay before the response headers.
        latency: Duration,
        /// Streamed in this many content chunks...
        chunks: usize,
        /// ...with this pause before each.
        chunk_delay: Duration,
        /// `(prompt_tokens, completion_tokens)`; `None` = estimated from text.
        usage: Option<(u64, u64)>,
        /// Sent as `usage` verbatim instead (a broken or hostile gateway's).
        raw_usage: Option<serde_json::Value>,
        send_usage: bool,
        finish_reason: String,
        /// Answer with one JSON body even when asked to stream.
        ignore_stream: bool,
        /// Streamed in exactly these pieces (instead of `chunks` equal ones).
        pieces: Vec<String>,
        /// After this many pieces, waits until the gate opens.
        hold: Option<(usize, Gate)>,
    },
    Status {
        status: u16,
        retry_after: Option<String>,
        body: String,
        latency: Duration,
    },
    /// Accepts the request and never answers.
    Hang,
    /// Streams `partial`, then cuts the connection without finishing.
    DropMidStream { partial: String },
    /// 200 with an event stream whose data is not JSON.
    Garbage,
}

impl Behaviour {
    pub fn answer(content: impl Into<String>) -> Self {
        Behaviour::Answer {
            content: content.into(),
            latency: Duration::ZERO,
            chunks: 1,
            chunk_delay: Duration::ZERO,
            usage: None,
            raw_usage: None,
            send_usage: true,
            finish_reason: "stop".into(),
            ignore_stream: false,
            pieces: Vec::new(),
            hold: None,
        }
    }

    /// Streams exactly these pieces, in order (they make the content).
    pub fn in_pieces<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> Self {
        let pieces: Vec<String> = pieces.into_iter().map(Into::into).collect();
        let mut b = Self::answer(pieces.concat());
        if let Behaviour::Answer { pieces: p, .. } = &mut b {
            *p = pieces;
        }
        b
    }

    /// An answer cut at `max_tokens`: `finish_reason: "length"`.
    pub fn length(partial: impl Into<String>) -> Self {
        Self::answer(partial).finish("length")
    }

    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Behaviour::Status {
            status,
            retry_after: None,
            body: body.into(),
            latency: Duration::ZERO,
        }
    }

    /// 429 with an optional `Retry-After: <secs>`.
    pub fn too_many_requests(retry_after_s: Option<f64>) -> Self {
        Self::status(
            429,
            r#"{"error":{"message":"rate limited","type":"rate_limit"}}"#,
        )
        .retry_after(retry_after_s)
    }

    /// 503 with an optional `Retry-After: <secs>`.
    pub fn unavailable(retry_after_s: Option<f64>) -> Self {
        Self::status(
            503,
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        )
        .retry_after(retry_after_s)
    }

    pub fn unauthorized() -> Self {
        Self::status(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        )
    }

    pub fn context_overflow() -> Self {
        Self::status(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
        )
    }

    pub fn hang() -> Self {
        Behaviour::Hang
    }

    pub fn drop_mid_stream(partial: impl Into<String>) -> Self {
        Behaviour::DropMidStream {
            partial: partial.into(),
        }
    }

    pub fn garbage() -> Self {
        Behaviour::Garbage
    }

    /// Waits this long before answering (status behaviours too).
    pub fn after(mut self, delay: Duration) -> Self {
        match &mut self {
            Behaviour::Answer { latency, .. } | Behaviour::Status { latency, .. } => {
                *latency = delay
            }
            _ => {}
        }
        self
    }

    /// Streams the content in `n` chunks, pausing `delay` before each.
    pub fn in_chunks(mut self, n: usize, delay: Duration) -> Self {
        if let Behaviour::Answer {
            chunks,
            chunk_delay,
            ..
        } = &mut self
        {
            *chunks = n.max(1);
            *chunk_delay = delay;
        }
        self
    }

    /// Streams `n` pieces, then waits for `gate` to open before the rest:
    /// a test can look at what the client did mid-stream, by events.
    pub fn hold_after(mut self, n: usize, gate: &Gate) -> Self {
        if let Behaviour::Answer { hold, .. } = &mut self {
            *hold = Some((n, gate.clone()));
        }
        self
    }

    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let Behaviour::Answer { usage, .. } = &mut self {
            *usage = Some((prompt_tokens, completion_tokens));
        }
        self
    }

    /// Sends `usage` exactly as given (negative counts, wrong types...).
    pub fn with_raw_usage(mut self, value: serde_json::Value) -> Self {
        if let Behaviour::Answer { raw_usage, .. } = &mut self {
            *raw_usage = Some(value);
        }
        self
    }

    /// Sends no `usage` at all (some servers do not).
    pub fn without_usage(mut self) -> Self {
        if let Behaviour::Answer { send_usage, .. } = &mut self {
            *send_usage = false;
        }
        self
    }

    /// Answers with one `application/json` body even to a streaming
    /// request, as some servers do.
    pub fn ignoring_stream(mut self) -> Self {
        if let Behaviour::Answer { ignore_stream, .. } = &mut self {
            *ignore_stream = true;
        }
        self
    }

    pub fn finish(mut self, reason: &str) -> Self {
        if let Behaviour::Answer { finish_reason, .. } = &mut self {
            *finish_reason = reason.into();
        }
        self
    }

    pub fn retry_after(mut self, secs: Option<f64>) -> Self {
        if let Behaviour::Status { retry_after, .. } = &mut self {
            *retry_after = secs.map(|s| s.to_string());
        }
        self
    }
}

/// A gate a held stream waits at ([`Behaviour::hold_after`]); opening it
/// (from any thread) lets every stream held at it go on.
#[derive(Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn passed(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate(open: {})", *self.0.borrow())
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// The query string, without `?` (`None` when the URL had none).
    pub query: Option<String>,
    /// `body.model` (empty if the body had none).
    pub model: String,
    pub body: serde_json::Value,
    /// The raw `Authorization` header, e.g. `Bearer sk-...`.
    pub authorization: Option<String>,
    pub received: Instant,
}

impl RecordedRequest {
    /// All message contents joined by newlines.
    pub fn prompt(&self) -> String {
        self.body["messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    pub fn max_tokens(&self) -> Option<u64> {
        self.body["max_tokens"].as_u64()
    }

    pub fn is_stream(&self) -> bool {
        self.body["stream"].as_bool() == Some(true)
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> Behaviour + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    count: tokio::sync::watch::Sender<usize>,
    queues: Mutex<HashMap<String, VecDeque<Behaviour>>>,
    defaults: Mutex<HashMap<String, Behaviour>>,
    fallback: Mutex<Behaviour>,
    responder: Mutex<Option<Responder>>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn choose(&self, req: &RecordedRequest) -> Behaviour {
        if let Some(b) = lock(&self.queues)
            .get_mut(&req.model)
            .and_then(|q| q.pop_front())
        {
            return b;
        }
        let responder = lock(&self.responder).clone();
        if let Some(r) = responder {
            return r(req);
        }
        if let Some(b) = lock(&self.defaults).get(&req.model) {
            return b.clone();
        }
        lock(&self.fallback).clone()
    }
}

pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    /// `None` when serving from its own thread (`start_background`).
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl FakeOpenAi {
    /// Binds 127.0.0.1 on a free port and serves on the current runtime.
    pub async fn start() -> FakeOpenAi {
        let shared = Self::shared();
        let (addr, serve) = Self::bind(shared.clone()).await;
        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            addr,
            shared,
            server: Some(tokio::spawn(serve)),
        }
    }

    /// Like `start`, but serves from a thread of its own, so it needs no
    /// runtime and keeps answering while the test thread blocks.
    pub fn start_background() -> FakeOpenAi {
        let shared = Self::shared();
        let (tx, rx) = std::sync::mpsc::channel();
        let for_thread = shared.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for the fake server");
            rt.block_on(async move {
                let shutdown = for_thread.shutdown.clone();
                let (addr, serve) = Self::bind(for_thread).await;
                let _ = tx.send(addr);
                tokio::select! {
                    _ = serve => {}
                    _ = shutdown.cancelled() => {}
                }
            });
        });
        let addr = rx.recv().expect("the fake server thread started");
        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            addr,
            shared,
            server: None,
        }
    }

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            count: tokio::sync::watch::channel(0).0,
            queues: Mutex::new(HashMap::new()),
            defaults: Mutex::new(HashMap::new()),
            fallback: Mutex::new(Behaviour::answer(r#"{"findings": []}"#)),
            responder: Mutex::new(None),
            shutdown: CancellationToken::new(),
        })
    }

    async fn bind(
        shared: Arc<Shared>,
    ) -> (SocketAddr, impl std::future::Future<Output = ()> + Send) {
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake server");
        let addr = listener.local_addr().expect("bound address");
        // Without TCP_NODELAY the small SSE writes meet delayed ACKs and
        // every streamed answer stalls ~40 ms: not what a real server does.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        (addr, async move {
            let _ = axum::serve(listener, app).await;
        })
    }

    /// Answers the next request for `model` this way (a queue, in order).
    pub fn push(&self, model: &str, behaviour: Behaviour) -> &Self {
        lock(&self.shared.queues)
            .entry(model.to_string())
            .or_default()
            .push_back(behaviour);
        self
    }

    /// Answers every request for `model` this way once its queue is empty.
    pub fn set_default(&self, model: &str, behaviour: Behaviour) -> &Self {
        lock(&self.shared.defaults).insert(model.to_string(), behaviour);
        self
    }

    /// Answers requests for models with no queue entry and no default.
    pub fn set_fallback(&self, behaviour: Behaviour) -> &Self {
        *lock(&self.shared.fallback) = behaviour;
        self
    }

    /// Decides by the request itself (prompt, model, ...) when no queue
    /// entry applies; overrides `set_default`.
    pub fn respond_with(
        &self,
        f: impl Fn(&RecordedRequest) -> Behaviour + Send + Sync + 'static,
    ) -> &Self {
        *lock(&self.shared.responder) = Some(Arc::new(f));
        self
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Requests received for `model`.
    pub fn count(&self, model: &str) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.model == model)
            .count()
    }

    pub fn total(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Waits until at least `n` requests have arrived and returns them all;
    /// panics with a clear message after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let mut rx = self.shared.count.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await;
        if reached.is_err() {
            panic!(
                "fake server: expected {n} requests within {timeout:?}, got {}",
                self.total()
            );
        }
        self.requests()
    }

    /// `wait_for_requests` for code that is not async.
    pub fn wait_for_requests_blocking(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for waiting")
            .block_on(self.wait_for_requests(n, timeout))
    }
}

fn sse(value: serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn split_chunks(content: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(n.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn estimate(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

async fn pause(shared: &Shared, d: Duration) -> bool {
    if d.is_zero() {
        return true;
    }
    tokio::select! {
        _ = shared.shutdown.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let req = RecordedRequest {
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        model: json["model"].as_str().unwrap_or_default().to_string(),
        body: json,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        received: Instant::now(),
    };
    let behaviour = shared.choose(&req);
    lock(&shared.requests).push(req.clone());
    shared.count.send_modify(|c| *c += 1);
    if req.path != "/v1/chat/completions" {
        return plain(
            404,
            "application/json",
            r#"{"error":{"message":"not found"}}"#,
        );
    }
    respond(shared, &req, behaviour).await
}

fn plain(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(body.into())
        .expect("valid response")
}

async fn respond(shared: Arc<Shared>, req: &RecordedRequest, behaviour: Behaviour) -> Response {
    let model = req.model.clone();
    match behaviour {
        Behaviour::Hang => {
            shared.shutdown.cancelled().await;
            plain(503, "text/plain", "shutting down")
        }
        Behaviour::Status {
            status,
            retry_after,
            body,
            latency,
        } => {
            pause(&shared, latency).await;
            let mut r = plain(status, "application/json", body);
            if let Some(ra) = retry_after {
                r.headers_mut()
                    .insert("retry-after", ra.parse().expect("ascii header"));
            }
            r
        }
        Behaviour::Garbage => plain(
            200,
            "text/event-stream",
            "data: <html><body>502 Bad Gateway</body></html>\n\n",
        ),
        Behaviour::DropMidStream { partial } => {
            let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
            let _ = tx.unbounded_send(Ok(sse(serde_json::json!({
                "id": "fake", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": partial}, "finish_reason": null}]
            }))));
            tokio::spawn(async move {
                // Let the first chunk go out, then break the connection.
                tokio::task::yield_now().await;
                let _ = tx.unbounded_send(Err(std::io::Error::other("connection dropped")));
            });
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(rx))
                .expect("valid response")
        }
        Behaviour::Answer {
            content,
            latency,
            chunks,
            chunk_delay,
            usage,
            raw_usage,
            send_usage,
            finish_reason,
            ignore_stream,
            pieces,
            hold,
        } => {
            if !pause(&shared, latency).await {
                return plain(503, "text/plain", "shutting down");
            }
            let (p, c) = usage.unwrap_or_else(|| (estimate(&req.prompt()), estimate(&content)));
            let usage_json = raw_usage.unwrap_or_else(
                || serde_json::json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}),
            );
            if !req.is_stream() || ignore_stream {
                let mut body = serde_json::json!({
                    "id": "fake", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
                });
                if send_usage {
                    body["usage"] = usage_json;
                }
                return plain(200, "application/json", body.to_string());
            }
            let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
            let pieces = if pieces.is_empty() {
                split_chunks(&content, chunks)
            } else {
                pieces
            };
            tokio::spawn(async move {
                let count = pieces.len();
                for (i, piece) in pieces.into_iter().enumerate() {
                    if let Some((n, gate)) = &hold {
                        if i == *n {
                            tokio::select! {
                                _ = shared.shutdown.cancelled() => return,
                                _ = gate.passed() => {}
                            }
                        }
                    }
                    if !pause(&shared, chunk_delay).await {
                        return;
                    }
                    let chunk = sse(serde_json::json!({
                        "id": "fake", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]
                    }));
                    if tx.unbounded_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                if let Some((n, gate)) = &hold {
                    if *n >= count {
                        tokio::select! {
                            _ = shared.shutdown.cancelled() => return,
                            _ = gate.passed() => {}
                        }
                    }
                }
                let _ = tx.unbounded_send(Ok(sse(serde_json::json!({
                    "id": "fake", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]
                }))));
                if send_usage {
                    let _ = tx.unbounded_send(Ok(sse(serde_json::json!({
                        "id": "fake", "object": "chat.completion.chunk", "model": model,
                        "choices": [],
                        "usage": usage_json
                    }))));
                }
                let _ = tx.unbounded_send(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
            });
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(Body::from_stream(rx))
                .expect("valid response")
        }
    }
}
