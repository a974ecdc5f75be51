//! The stdio transport of `redline lsp`. It reads the client's frames
//! itself, answers what is malformed with the JSON-RPC error it is due
//! (-32700 for a bad frame or invalid JSON, -32600 for JSON that is not a
//! request) and hands only sound messages on to tower-lsp-server over an
//! in-memory duplex: tower-lsp's own framed reader ends the session at the
//! first bad message. A lone UTF-16 surrogate escape (`"\ud83d"`, half an
//! emoji as JavaScript's `JSON.stringify` writes it) becomes U+FFFD instead
//! of an error. The transport also decides when the process ends: on `exit`
//! or at end of input, never because a message was bad.
//!
//! It knows nothing of redline's handlers, must never drop or reorder a
//! sound message, and writes nothing but whole frames to its output.

use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::{ClientSocket, LanguageServer, LspService};

/// The largest message body accepted (a whole-file sync of a big file fits).
pub const MAX_BODY: usize = 64 << 20;
/// The longest header line accepted; real ones are under 100 bytes.
const MAX_HEADER_LINE: usize = 1024;
/// The longest header block accepted.
const MAX_HEADER_BLOCK: usize = 8 << 10;
/// What the reader looks for to find the next frame after garbage.
const HEADER_NAME: &[u8] = b"content-length";
/// How long output already produced may take to reach the client once the
/// session ends (the whole end must stay well within a second).
const FLUSH_GRACE: Duration = Duration::from_millis(300);

/// JSON-RPC error codes the transport answers with.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// One unit read from the client: a frame's body, or bytes that are not a
/// frame (to be answered with a parse error, then skipped).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Body(Vec<u8>),
    Malformed(String),
}

/// Reads LSP frames (`Content-Length` headers, an optional `Content-Type`,
/// a blank line, the body) and recovers after garbage by skipping to the
/// next `Content-Length` header.
pub struct FrameReader<R> {
    input: R,
    buf: Vec<u8>,
    /// The length of the body being read, once its headers were.
    body_len: Option<usize>,
    /// After bad bytes: skipping to the next header.
    resync: bool,
    eof: bool,
}

enum Headers {
    /// More bytes are needed.
    Partial,
    /// `consumed` bytes of headers announce a body of `len` bytes.
    Complete {
        consumed: usize,
        len: usize,
    },
    Invalid(String),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::new(),
            body_len: None,
            resync: false,
            eof: false,
        }
    }

    /// The next frame, or `None` at the end of input.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.parse() {
                return Ok(Some(frame));
            }
            if self.eof {
                return Ok(self.leftover());
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.input.read(&mut chunk).await?;
            if n == 0 {
                self.eof = true;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Puts bytes back in front of the input: the part of a broken body
    /// that starts with the next frame's headers (the body's declared
    /// length was too long and swallowed them).
    pub fn unread(&mut self, bytes: &[u8]) {
        self.buf.splice(0..0, bytes.iter().copied());
    }

    /// What is left at the end of input: an unfinished frame is reported.
    fn leftover(&mut self) -> Option<Frame> {
        let rest = std::mem::take(&mut self.buf);
        if let Some(len) = self.body_len.take() {
            return Some(Frame::Malformed(format!(
                "the input ended {} bytes into a message of {len} bytes",
                rest.len()
            )));
        }
        let blank = rest.iter().all(|b| b.is_ascii_whitespace());
        (!blank && !self.resync).then(|| Frame::Malformed("the input ended inside a header".into()))
    }

    fn parse(&mut self) -> Option<Frame> {
        if self.resync {
            match find_header(&self.buf, 0) {
                Some(at) => {
                    self.buf.drain(..at);
                    self.resync = false;
                }
                None => {
                    // Keep what could be the start of a header name.
                    let keep = HEADER_NAME.len() - 1;
                    if self.buf.len() > keep {
                        self.buf.drain(..self.buf.len() - keep);
                    }
                    return None;
                }
            }
        }
        if self.body_len.is_none() {
            let blank = self
                .buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            self.buf.drain(..blank);
            match parse_headers(&self.buf) {
                Headers::Partial => return None,
                Headers::Complete { consumed, len } => {
                    self.buf.drain(..consumed);
                    self.body_len = Some(len);
                }
                Headers::Invalid(reason) => {
                    // Skip past this header's start so that the search
                    // finds the next one, not the same bad one.
                    self.buf.drain(..1.min(self.buf.len()));
                    self.resync = true;
                    return Some(Frame::Malformed(reason));
                }
            }
        }
        let len = self.body_len?;
        if self.buf.len() < len {
            return None;
        }
        let rest = self.buf.split_off(len);
        let body = std::mem::replace(&mut self.buf, rest);
        self.body_len = None;
        Some(Frame::Body(body))
    }
}

/// Parses a header block at the start of `buf`.
fn parse_headers(buf: &[u8]) -> Headers {
    let mut pos = 0;
    let mut len = None;
    loop {
        let rest = &buf[pos..];
        let Some(eol) = memchr::memchr(b'\n', rest) else {
            if rest.len() > MAX_HEADER_LINE {
                return Headers::Invalid(format!(
                    "a header line longer than {MAX_HEADER_LINE} bytes"
                ));
            }
            // Garbage is recognised before its line ends (a line may
            // arrive up to its `\r`, its `\n` in the next read).
            let partial = rest.strip_suffix(b"\r").unwrap_or(rest);
            return match header_name_error(partial, false) {
                Some(reason) => Headers::Invalid(reason),
                None => Headers::Partial,
            };
        };
        let line = rest[..eol].strip_suffix(b"\r").unwrap_or(&rest[..eol]);
        pos += eol + 1;
        if line.is_empty() {
            return match len {
                Some(len) => Headers::Complete { consumed: pos, len },
                None => Headers::Invalid("a message without a Content-Length header".into()),
            };
        }
        if line.len() > MAX_HEADER_LINE || pos > MAX_HEADER_BLOCK {
            return Headers::Invalid(format!("headers longer than {MAX_HEADER_BLOCK} bytes"));
        }
        if let Some(reason) = header_name_error(line, true) {
            return Headers::Invalid(reason);
        }
        let colon = line.iter().position(|b| *b == b':').unwrap_or(line.len());
        let (name, value) = (&line[..colon], line.get(colon + 1..).unwrap_or_default());
        if !name.eq_ignore_ascii_case(HEADER_NAME) {
            // Content-Type (any charset spelling) and unknown headers are
            // accepted as they come: the body is read as UTF-8 JSON.
            continue;
        }
        let value = value.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Headers::Invalid(format!(
                "Content-Length is not a number: {:?}",
                shown(value)
            ));
        }
        let n = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n <= MAX_BODY);
        let Some(n) = n else {
            return Headers::Invalid(format!(
                "Content-Length {} is over the limit of {} MiB",
                shown(value),
                MAX_BODY >> 20
            ));
        };
        if len.is_some_and(|l| l != n) {
            return Headers::Invalid("two different Content-Length headers".into());
        }
        len = Some(n);
    }
}

/// Why `line` cannot be (the start of) a `Name: value` header line.
fn header_name_error(line: &[u8], complete: bool) -> Option<String> {
    let colon = line.iter().position(|b| *b == b':');
    let name = &line[..colon.unwrap_or(line.len())];
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if !name.iter().all(token) || (colon.is_some() && name.is_empty()) {
        return Some(format!("not a header line: {:?}", shown(line)));
    }
    if complete && colon.is_none() {
        return Some(format!("not a header line: {:?}", shown(line)));
    }
    None
}

/// The first `Content-Length` header name (any case) at or after `from`.
fn find_header(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + HEADER_NAME.len() <= buf.len() {
        let i = at + memchr::memchr2(b'C', b'c', &buf[at..])?;
        if buf
            .get(i..i + HEADER_NAME.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(HEADER_NAME))
        {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// A short, printable rendering of client bytes for an error message.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
    if bytes.len() > 40 {
        format!("{text}…")
    } else {
        text
    }
}

/// Rewrites every lone UTF-16 surrogate escape inside a JSON string
/// (`\ud83d` without its low half, or a low half alone) to `\uFFFD`, the
/// same length, so that serde_json reads it as U+FFFD instead of failing.
/// Paired escapes stay intact; an escaped backslash (`\\ud83d`) is text.
pub fn replace_lone_surrogates(body: &[u8]) -> Cow<'_, [u8]> {
    fn unit(body: &[u8], at: usize) -> Option<u16> {
        let hex = body.get(at..at + 6)?;
        if !hex.starts_with(b"\\u") {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let high = |u: u16| (0xD800..0xDC00).contains(&u);
    let low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        match (in_string, body[i]) {
            (false, b'"') | (true, b'"') => {
                in_string = !in_string;
                i += 1;
            }
            (true, b'\\') => match unit(body, i) {
                Some(u) if high(u) && unit(body, i + 6).is_some_and(low) => i += 12,
                Some(u) if high(u) || low(u) => {
                    out.get_or_insert_with(|| body.to_vec())[i..i + 6].copy_from_slice(b"\\uFFFD");
                    i += 6;
                }
                Some(_) => i += 6,
                // `\\`, `\"` and the other one-character escapes.
                None => i += 2,
            },
            _ => i += 1,
        }
    }
    match out {
        Some(fixed) => Cow::Owned(fixed),
        None => Cow::Borrowed(body),
    }
}

/// What tower-lsp's decoder makes of a message (its own `Message` type is
/// private): whatever parses here is safe to hand over.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // parsed only to see that it parses
enum Wire {
    Response(Response),
    Request(Request),
}

/// What to do with one frame's body.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A sound message, re-serialised for the server.
    Forward {
        bytes: Vec<u8>,
        /// The method of a request or notification.
        method: Option<String>,
    },
    /// Answer with this error; `resume_at` is where, inside the body, the
    /// next frame's headers start when the body swallowed them.
    Reject {
        id: Value,
        code: i64,
        message: String,
        resume_at: Option<usize>,
    },
    /// A response from the client that the server cannot route: logged
    /// and dropped (answering a response would start a loop).
    Drop(String),
}

impl Inbound {
    fn reject(id: Value, code: i64, message: impl Into<String>) -> Self {
        Self::Reject {
            id,
            code,
            message: message.into(),
            resume_at: None,
        }
    }
}

/// Checks one body: valid JSON, a JSON-RPC 2.0 object, a request,
/// notification or response the server can read.
pub fn classify(body: &[u8]) -> Inbound {
    if body.is_empty() {
        return Inbound::reject(Value::Null, PARSE_ERROR, "Parse error: an empty message");
    }
    let fixed = replace_lone_surrogates(body);
    let value: Value = match serde_json::from_slice(&fixed) {
        Ok(v) => v,
        Err(e) => {
            return Inbound::Reject {
                id: Value::Null,
                code: PARSE_ERROR,
                message: format!("Parse error: {e}"),
                resume_at: find_header(body, 1),
            }
        }
    };
    let Value::Object(object) = &value else {
        let kind = match &value {
            Value::Array(_) => "an array (batches are not part of LSP)",
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Object(_) => "an object",
        };
        return Inbound::reject(
            Value::Null,
            INVALID_REQUEST,
            format!("Invalid request: a message is a JSON object, not {kind}"),
        );
    };
    let raw_id = object.get("id");
    let id_ok = raw_id.is_none_or(|id| id.is_null() || id.is_string() || id.is_i64());
    let id = raw_id.filter(|_| id_ok).cloned().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Inbound::reject(
            id,
            INVALID_REQUEST,
            "Invalid request: \"jsonrpc\": \"2.0\" is missing",
        );
    }
    if !id_ok {
        return Inbound::reject(
            Value::Null,
            INVALID_REQUEST,
            "Invalid request: an id is an integer or a string",
        );
    }
    let is_response = object.contains_key("result") || object.contains_key("error");
    let method = match object.get("method") {
        Some(Value::String(m)) if is_response => {
            return Inbound::reject(
                id,
                INVALID_REQUEST,
                format!("Invalid request: {m:?} has both a method and a result or error"),
            )
        }
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => {
            return Inbound::reject(id, INVALID_REQUEST, "Invalid request: a method is a string")
        }
        None if is_response => None,
        None => {
            return Inbound::reject(id, INVALID_REQUEST, "Invalid request: no \"method\"");
        }
    };
    let Ok(bytes) = serde_json::to_vec(&value) else {
        return Inbound::reject(id, PARSE_ERROR, "Parse error: cannot re-encode the message");
    };
    match (serde_json::from_slice::<Wire>(&bytes), &method) {
        (Ok(Wire::Request(_)), Some(_)) => Inbound::Forward { bytes, method },
        (Ok(Wire::Response(_)), None) => Inbound::Forward { bytes, method },
        (_, Some(_)) => Inbound::reject(id, INVALID_REQUEST, "Invalid request"),
        (_, None) => Inbound::Drop(format!("an unreadable response (id {id})")),
    }
}

/// `Content-Length` framing of one body.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn error_frame(id: Value, code: i64, message: String) -> Vec<u8> {
    let response = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    framed(response.to_string().as_bytes())
}

/// A service whose handler panics answer the request with an internal
/// error (-32603) instead of taking the whole server down: tower-lsp polls
/// handlers inside its serve loop, so one panic would end every session.
pub struct Contained<S>(pub S);

impl<S> tower_service::Service<Request> for Contained<S>
where
    S: tower_service::Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Option<Response>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Option<Response>, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures::FutureExt;
        let id = request.id().cloned();
        let method = request.method().to_string();
        let handled = std::panic::AssertUnwindSafe(self.0.call(request)).catch_unwind();
        Box::pin(handled.map(move |outcome| {
            outcome.unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                // A panic message may quote buffer text: a bounded excerpt
                // goes to the log, none to the client.
                let why: String = why.chars().take(200).collect();
                tracing::error!("the {method} handler panicked: {why}");
                Ok(id.map(|id| {
                    let mut error = tower_lsp_server::jsonrpc::Error::internal_error();
                    error.message =
                        format!("redline failed on {method} (a bug; see its log)").into();
                    Response::from_error(id, error)
                }))
            })
        }))
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The client sent `exit`.
    Exit { after_shutdown: bool },
    /// The client closed the input.
    EndOfInput { after_shutdown: bool },
    /// The transport broke (the reason, in a sentence).
    Broken(String),
}

impl Ending {
    /// The process exit code (LSP 3.17: 0 only after `shutdown`).
    pub fn code(&self) -> u8 {
        match self {
            Self::Exit { after_shutdown } | Self::EndOfInput { after_shutdown } => {
                if *after_shutdown {
                    super::EXIT_OK
                } else {
                    super::EXIT_NO_SHUTDOWN
                }
            }
            Self::Broken(_) => super::EXIT_BROKEN,
        }
    }
}

/// Serves `service` over `input`/`output` until `exit`, the end of input
/// or a broken output.
pub async fn serve<S, I, O>(
    input: I,
    output: O,
    service: LspService<S>,
    socket: ClientSocket,
) -> Ending
where
    S: LanguageServer,
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (to_server, server_in) = tokio::io::duplex(64 << 10);
    let (server_out, from_server) = tokio::io::duplex(64 << 10);
    tokio::spawn(tower_lsp_server::Server::new(server_in, server_out, socket).serve(service));
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut writer = tokio::spawn(write_frames(output, out_rx));
    let mut pump = tokio::spawn(pump_server_output(from_server, out_tx.clone()));
    // Frames for the server go through a queue so that reading the client
    // (and seeing the end of its input) never waits for a busy server.
    let (in_tx, in_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let forwarder = tokio::spawn(forward_to_server(in_rx, to_server));

    let mut reader = FrameReader::new(input);
    let mut after_shutdown = false;
    let ending = loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            written = &mut writer => {
                break Ending::Broken(match written {
                    Ok(Err(e)) => format!("cannot write to the client: {e}"),
                    _ => "the output writer stopped".into(),
                });
            }
            _ = &mut pump => {
                break Ending::Broken("the language server stopped unexpectedly".into());
            }
        };
        let body = match frame {
            Ok(Some(Frame::Body(body))) => body,
            Ok(Some(Frame::Malformed(reason))) => {
                tracing::warn!("malformed input from the client: {reason}");
                let _ = out_tx
                    .send(error_frame(
                        Value::Null,
                        PARSE_ERROR,
                        format!("Parse error: {reason}"),
                    ))
                    .await;
                continue;
            }
            Ok(None) => break Ending::EndOfInput { after_shutdown },
            Err(e) => break Ending::Broken(format!("cannot read from the client: {e}")),
        };
        match classify(&body) {
            Inbound::Forward { bytes, method } => {
                let exit = method.as_deref() == Some("exit");
                after_shutdown |= method.as_deref() == Some("shutdown");
                let _ = in_tx.send(framed(&bytes));
                if exit {
                    break Ending::Exit { after_shutdown };
                }
            }
            Inbound::Reject {
                id,
                code,
                message,
                resume_at,
            } => {
                tracing::warn!("bad message from the client: {message}");
                if let Some(at) = resume_at {
                    reader.unread(&body[at..]);
                }
                let _ = out_tx.send(error_frame(id, code, message)).await;
            }
            Inbound::Drop(what) => tracing::warn!("dropped {what} from the client"),
        }
    };
    // Let what is already on its way reach the client, within bounds: a
    // handler still waiting for a model must not hold the process.
    drop(in_tx);
    drop(out_tx);
    if !matches!(ending, Ending::Broken(_)) {
        let _ = tokio::time::timeout(FLUSH_GRACE, async {
            let _ = forwarder.await;
            let _ = (&mut pump).await;
            let _ = (&mut writer).await;
        })
        .await;
    }
    ending
}

async fn forward_to_server(
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
    mut server: tokio::io::DuplexStream,
) {
    while let Some(frame) = frames.recv().await {
        if server.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = server.shutdown().await;
}

/// Copies the server's frames to the client's output queue, frame by
/// frame, so that the transport's own error answers interleave cleanly.
async fn pump_server_output(from_server: tokio::io::DuplexStream, out: mpsc::Sender<Vec<u8>>) {
    let mut frames = FrameReader::new(from_server);
    while let Ok(Some(frame)) = frames.next().await {
        match frame {
            Frame::Body(body) => {
                if out.send(framed(&body)).await.is_err() {
                    return;
                }
            }
            Frame::Malformed(reason) => tracing::error!("the server wrote a bad frame: {reason}"),
        }
    }
}

async fn write_frames<O: AsyncWrite + Unpin>(
    mut output: O,
    mut frames: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(frame) = frames.recv().await {
        output.write_all(&frame).await?;
        output.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames_of(input: &[u8]) -> Vec<Frame> {
        let mut reader = FrameReader::new(input);
        let mut out = Vec::new();
        while let Some(frame) = reader.next().await.expect("in-memory read") {
            out.push(frame);
        }
        out
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    #[tokio::test]
    async fn frames_with_a_content_type_header_are_read() {
        let input = format!(
            "Content-Length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n{PING}{}",
            PING.len(),
            frame(PING)
        );
        let frames = frames_of(input.as_bytes()).await;
        assert_eq!(
            frames,
            vec![Frame::Body(PING.into()), Frame::Body(PING.into())]
        );
    }

    /// The same bytes in any chunking give the same frames.
    #[tokio::test]
    async fn frames_split_across_reads_at_any_byte_are_read_whole() {
        let input = format!("{}\r\n{}", frame(PING), frame(PING));
        let whole = frames_of(input.as_bytes()).await;
        assert_eq!(
            whole,
            vec![Frame::Body(PING.into()), Frame::Body(PING.into())]
        );
        for cut in 1..input.len() {
            let (client, server) = tokio::io::duplex(1 << 16);
            let mut reader = FrameReader::new(server);
            let (a, b) = input.as_bytes().split_at(cut);
            let (a, b) = (a.to_vec(), b.to_vec());
            let writer = tokio::spawn(async move {
                let mut client = client;
                client.write_all(&a).await.expect("write");
                client.flush().await.expect("flush");
                tokio::task::yield_now().await;
                client.write_all(&b).await.expect("write");
            });
            let mut frames = Vec::new();
            while let Some(frame) = reader.next().await.expect("read") {
                frames.push(frame);
            }
            writer.await.expect("writer");
            assert_eq!(frames, whole, "cut at {cut}");
        }
    }

    /// A service whose every handler panics.
    struct Exploding;

    impl tower_service::Service<Request> for Exploding {
        type Response = Option<Response>;
        type Error = std::convert::Infallible;
        type Future = futures::future::BoxFuture<'static, Result<Option<Response>, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            Box::pin(async { panic!("handler bug") })
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_internal_error_and_the_service_goes_on() {
        use tower_service::Service;
        let mut service = Contained(Exploding);
        for _ in 0..2 {
            let request = Request::build("textDocument/codeAction").id(4).finish();
            let response = service.call(request).await.expect("infallible");
            let response = response.expect("a request is answered");
            assert_eq!(response.error().map(|e| e.code.code()), Some(-32603));
            assert!(response
                .error()
                .is_some_and(|e| e.message.contains("textDocument/codeAction")));
        }
        let notification = Request::build("textDocument/didChange").finish();
        let answer = service.call(notification).await.expect("infallible");
        assert!(answer.is_none(), "a notification gets no answer");
    }

    #[tokio::test]
    async fn a_bad_content_length_is_reported_and_the_next_frame_is_read() {
        for bad in ["abc", "-5", "", "99999999999999999999999", "1000000000"] {
            let input = format!("Content-Length: {bad}\r\n\r\n{PING}{}", frame(PING));
            let frames = frames_of(input.as_bytes()).await;
            assert!(
                matches!(frames[0], Frame::Malformed(_)),
                "{bad}: {frames:?}"
            );
            assert_eq!(frames[1..], [Frame::Body(PING.into())], "{bad}");
        }
    }

    #[tokio::test]
    async fn garbage_between_frames_is_reported_once_and_skipped() {
        let input = format!("{}hello world\r\n\x00\x01 junk{}", frame(PING), frame(PING));
        let frames = frames_of(input.as_bytes()).await;
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(matches!(frames[1], Frame::Malformed(_)));
        assert_eq!(frames[2], Frame::Body(PING.into()));
    }

    #[tokio::test]
    async fn a_header_block_without_content_length_is_reported() {
        let input = format!("Content-Type: x\r\n\r\n{PING}{}", frame(PING));
        let frames = frames_of(input.as_bytes()).await;
        assert!(
            matches!(&frames[0], Frame::Malformed(m) if m.contains("without a Content-Length"))
        );
        assert_eq!(frames[1..], [Frame::Body(PING.into())]);
    }

    #[tokio::test]
    async fn a_frame_cut_short_by_the_end_of_input_is_reported() {
        let input = format!("Content-Length: 100\r\n\r\n{PING}");
        let frames = frames_of(input.as_bytes()).await;
        assert!(matches!(&frames[..], [Frame::Malformed(m)] if m.contains("ended")));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let cases = [
            (r#"["a\ud83d"]"#, r#"["a\uFFFD"]"#),
            (r#"["\ude00x"]"#, r#"["\uFFFDx"]"#),
            (r#"["\ud83d\ude00"]"#, r#"["\ud83d\ude00"]"#),
            (r#"["\ud83d\ud83d\ude00"]"#, r#"["\uFFFD\ud83d\ude00"]"#),
            (r#"["\\ud83d"]"#, r#"["\\ud83d"]"#),
            (r#"["\\\ud83d"]"#, r#"["\\\uFFFD"]"#),
            (r#"["\"\ud83d"]"#, r#"["\"\uFFFD"]"#),
            (r#"["\u0041"]"#, r#"["\u0041"]"#),
        ];
        for (input, expected) in cases {
            let fixed = replace_lone_surrogates(input.as_bytes());
            assert_eq!(
                std::str::from_utf8(&fixed).expect("utf-8"),
                expected,
                "{input}"
            );
            serde_json::from_slice::<Value>(&fixed).expect("now valid JSON");
        }
        let text: Vec<String> =
            serde_json::from_slice(&replace_lone_surrogates(br#"["a\ud83d", "\ud83d\ude00"]"#))
                .expect("valid");
        assert_eq!(text, ["a\u{FFFD}", "😀"]);
    }

    fn code_and_id(inbound: Inbound) -> (i64, Value) {
        match inbound {
            Inbound::Reject { code, id, .. } => (code, id),
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn json_that_is_not_a_request_is_an_invalid_request() {
        for body in [
            "[]",
            "[1]",
            "null",
            "{}",
            "5",
            "\"x\"",
            r#"{"jsonrpc":"2.0"}"#,
        ] {
            assert_eq!(
                code_and_id(classify(body.as_bytes())),
                (INVALID_REQUEST, Value::Null),
                "{body}"
            );
        }
        let cases = [
            r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":7}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"x","result":1}"#,
        ];
        for body in cases {
            assert_eq!(
                code_and_id(classify(body.as_bytes())),
                (INVALID_REQUEST, json!(7)),
                "{body}"
            );
        }
        let bad_id = r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#;
        assert_eq!(
            code_and_id(classify(bad_id.as_bytes())),
            (INVALID_REQUEST, Value::Null)
        );
    }

    #[test]
    fn invalid_json_is_a_parse_error_and_finds_a_swallowed_frame() {
        assert_eq!(
            code_and_id(classify(b"hello world")),
            (PARSE_ERROR, Value::Null)
        );
        assert_eq!(code_and_id(classify(b"")), (PARSE_ERROR, Value::Null));
        let swallowed = format!("{{\"jsonrpc\":\"2.0\",{}", frame(PING));
        match classify(swallowed.as_bytes()) {
            Inbound::Reject {
                resume_at: Some(at),
                ..
            } => {
                assert_eq!(&swallowed[at..], frame(PING));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sound_messages_are_forwarded_with_their_method() {
        match classify(PING.as_bytes()) {
            Inbound::Forward { method, bytes } => {
                assert_eq!(method.as_deref(), Some("ping"));
                assert_eq!(
                    serde_json::from_slice::<Value>(&bytes).expect("json"),
                    serde_json::from_str::<Value>(PING).expect("json")
                );
            }
            other => panic!("{other:?}"),
        }
        let response = r#"{"jsonrpc":"2.0","id":3,"result":null}"#;
        assert!(matches!(
            classify(response.as_bytes()),
            Inbound::Forward { method: None, .. }
        ));
        let broken = r#"{"jsonrpc":"2.0","id":3,"error":"no"}"#;
        assert!(matches!(classify(broken.as_bytes()), Inbound::Drop(_)));
    }

    #[test]
    fn duplicate_keys_are_resolved_before_the_server_sees_them() {
        let body = r#"{"jsonrpc":"2.0","method":"a","method":"b","id":1}"#;
        match classify(body.as_bytes()) {
            Inbound::Forward { method, bytes } => {
                assert_eq!(method.as_deref(), Some("b"));
                serde_json::from_slice::<Request>(&bytes).expect("tower-lsp reads it");
            }
            other => panic!("{other:?}"),
        }
    }
}
