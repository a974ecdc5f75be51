//! A small JSON-RPC client that drives the real `redline lsp` binary over
//! stdio, for end-to-end tests. A reader thread parses frames into a
//! channel; the test side answers server→client requests itself
//! (`workDoneProgress/create`, `registerCapability`, `showDocument`,
//! `workspace/configuration`) and buffers notifications until a test waits
//! for one. No sleeps: every wait is for a message, with a timeout.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How the test client presents itself in `initialize`.
#[derive(Clone)]
pub struct ClientOptions {
    pub folders: Vec<PathBuf>,
    pub utf8: bool,
    pub show_document: bool,
    pub work_done_progress: bool,
    pub watch_files: bool,
    pub initialization_options: Value,
    /// Extra environment for the server process.
    pub env: Vec<(String, String)>,
    /// False: a client that never answers the server's requests (they are
    /// still recorded in `server_requests`).
    pub answer_server_requests: bool,
}

impl ClientOptions {
    pub fn folder(path: &Path) -> Self {
        Self {
            folders: vec![path.to_path_buf()],
            utf8: false,
            show_document: true,
            work_done_progress: true,
            watch_files: true,
            initialization_options: Value::Null,
            env: Vec::new(),
            answer_server_requests: true,
        }
    }
}

pub struct LspClient {
    child: Child,
    /// `None` once the test closed the server's input.
    stdin: Option<ChildStdin>,
    answer_server_requests: bool,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications not yet consumed by a wait.
    pending: VecDeque<Value>,
    /// Every notification seen, in order (for "never happened" assertions).
    pub seen: Vec<Value>,
    /// Requests the server sent us, in order.
    pub server_requests: Vec<Value>,
    /// Responses no request of ours was waiting for (answers to raw
    /// messages), in order.
    pub responses: Vec<Value>,
    /// The server's `initialize` result.
    pub init_result: Value,
    _home: tempfile::TempDir,
}

pub fn file_uri(path: &Path) -> String {
    let canonical = path
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.join(path.file_name().expect("file name")))
        .unwrap_or_else(|| path.to_path_buf());
    format!("file://{}", canonical.display())
}

impl LspClient {
    /// Spawns `redline lsp` and completes the initialize handshake.
    pub fn start(options: ClientOptions) -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redline"));
        cmd.arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("XDG_CONFIG_HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .env("HOME", home.path())
            .env_remove("REDLINE_BASE_URL")
            .env_remove("REDLINE_MODEL")
            .env("REDLINE_OFFLINE", "1");
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn redline lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(v) = header.strip_prefix("Content-Length: ") {
                        length = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let msg: Value = serde_json::from_slice(&body).expect("server sent JSON");
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        let mut client = Self {
            child,
            stdin: Some(stdin),
            answer_server_requests: options.answer_server_requests,
            rx,
            next_id: 0,
            pending: VecDeque::new(),
            seen: Vec::new(),
            server_requests: Vec::new(),
            responses: Vec::new(),
            init_result: Value::Null,
            _home: home,
        };
        let folders: Vec<Value> = options
            .folders
            .iter()
            .map(|f| {
                json!({"uri": format!("file://{}", f.canonicalize().expect("folder exists").display()),
                       "name": f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()})
            })
            .collect();
        let encodings = if options.utf8 {
            json!(["utf-8", "utf-16"])
        } else {
            json!(["utf-16"])
        };
        let result = client.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": folders.first().map(|f| f["uri"].clone()),
                "workspaceFolders": folders,
                "initializationOptions": options.initialization_options,
                "capabilities": {
                    "general": {"positionEncodings": encodings},
                    "window": {
                        "workDoneProgress": options.work_done_progress,
                        "showDocument": {"support": options.show_document}
                    },
                    "workspace": {
                        "didChangeWatchedFiles": {"dynamicRegistration": options.watch_files},
                        "workspaceFolders": true,
                        "configuration": false
                    },
                    "textDocument": {"publishDiagnostics": {"versionSupport": true}}
                }
            }),
        );
        client.init_result = result.expect("initialize succeeds");
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, msg: &Value) {
        let body = serde_json::to_vec(msg).expect("serialise");
        self.send_body(&body);
    }

    /// Sends `body` (any bytes) in one well-formed frame.
    pub fn send_body(&mut self, body: &[u8]) {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        self.send_raw(&frame);
    }

    /// Writes bytes as they are: broken frames, garbage.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("the server's input is open");
        stdin.write_all(bytes).expect("write");
        stdin.flush().expect("flush");
    }

    /// Closes the server's input (end of file), as a client that went away.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// The next id for a request of ours, for raw requests.
    pub fn next_request_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Waits for the response with `id` (to a raw request): the whole
    /// message.
    pub fn await_response(&mut self, id: &Value, timeout: Duration) -> Value {
        if let Some(pos) = self.responses.iter().position(|r| &r["id"] == id) {
            return self.responses.remove(pos);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let msg = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("no response with id {id} within {timeout:?}"));
            if msg.get("method").is_none() && &msg["id"] == id {
                return msg;
            }
            self.dispatch(msg);
        }
    }

    /// Waits for a request `method` from the server (answered or not, as
    /// the options say); returns it.
    pub fn await_server_request(&mut self, method: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.server_requests.iter().find(|r| r["method"] == method) {
                return r.clone();
            }
            let msg = self
                .recv_until(deadline)
                .unwrap_or_else(|| panic!("no {method} request within {timeout:?}"));
            self.dispatch(msg);
        }
    }

    /// Waits for the process to end, reading its output meanwhile; `None`
    /// if it still runs after `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Wakes on output, else polls the process state.
            match self.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(msg) => self.dispatch(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its response: `Ok(result)` or
    /// `Err(error object)`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.recv_until(deadline).unwrap_or_else(|| {
                panic!("no response to {method} within {TIMEOUT:?}");
            });
            if msg.get("method").is_none() && msg["id"] == json!(id) {
                return match msg.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(msg["result"].clone()),
                };
            }
            self.dispatch(msg);
        }
    }

    /// Receives one message, answering server requests on the way; `None`
    /// at the deadline.
    fn recv_until(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        }
    }

    /// Answers a server request, or buffers a notification.
    fn dispatch(&mut self, msg: Value) {
        match (msg.get("id"), msg.get("method").and_then(Value::as_str)) {
            (Some(_), Some(_)) if !self.answer_server_requests || self.stdin.is_none() => {
                self.server_requests.push(msg);
            }
            (Some(id), Some(method)) => {
                let result = match method {
                    "window/showDocument" => json!({"success": true}),
                    "workspace/configuration" => json!([]),
                    _ => Value::Null,
                };
                let id = id.clone();
                self.server_requests.push(msg);
                self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
            }
            (None, Some(_)) => {
                self.seen.push(msg.clone());
                self.pending.push_back(msg);
            }
            (Some(_), None) => self.responses.push(msg),
            _ => {}
        }
    }

    /// Waits for a notification `method` whose params satisfy `pred`,
    /// consuming it (and leaving others buffered).
    pub fn await_notification(
        &mut self,
        method: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        if let Some(pos) = self
            .pending
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.pending.remove(pos).expect("position exists")["params"].clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let Some(msg) = self.recv_until(deadline) else {
                panic!(
                    "no {method} matching the condition within {timeout:?}; notifications seen: {}",
                    serde_json::to_string_pretty(&self.seen).unwrap_or_default()
                );
            };
            let matches =
                msg.get("id").is_none() && msg["method"] == method && pred(&msg["params"]);
            if matches {
                self.seen.push(msg.clone());
                return msg["params"].clone();
            }
            self.dispatch(msg);
        }
    }

    /// Forgets the notifications received so far (`seen` and unconsumed
    /// ones): long runs would otherwise search an ever longer queue.
    pub fn forget_notifications(&mut self) {
        self.pending.clear();
        self.seen.clear();
    }

    /// Waits for the diagnostics of `uri` at `version`.
    pub fn await_diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let params = self.await_notification(
            "textDocument/publishDiagnostics",
            |p| p["uri"] == uri && p["version"] == json!(version),
            TIMEOUT,
        );
        params["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn open(&mut self, uri: &str, language: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}}),
        );
    }

    /// One incremental change: replace `[(sl, sc), (el, ec))` with `text`.
    pub fn change(&mut self, uri: &str, version: i64, range: [u32; 4], text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{
                    "range": {"start": {"line": range[0], "character": range[1]},
                              "end": {"line": range[2], "character": range[3]}},
                    "text": text
                }]
            }),
        );
    }

    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, Value> {
        self.request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": arguments}),
        )
    }

    pub fn review_now(&mut self, uri: &str) {
        self.execute("redline.reviewNow", json!([uri]))
            .expect("reviewNow accepted");
    }

    /// Asks for code actions on `diagnostic`.
    pub fn code_actions(&mut self, uri: &str, diagnostic: &Value) -> Vec<Value> {
        let result = self
            .request(
                "textDocument/codeAction",
                json!({
                    "textDocument": {"uri": uri},
                    "range": diagnostic["range"],
                    "context": {"diagnostics": [diagnostic]}
                }),
            )
            .expect("codeAction answered");
        result.as_array().cloned().unwrap_or_default()
    }

    /// Shuts the server down politely and waits for it to exit.
    pub fn shutdown(mut self) {
        self.request("shutdown", Value::Null)
            .expect("shutdown answered");
        self.notify("exit", Value::Null);
        let status = self
            .wait_for_exit(TIMEOUT)
            .expect("server exits after `exit`");
        assert!(status.success(), "server exited with {status}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A git repository in a temporary folder with files committed at HEAD.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

impl TestRepo {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("git init");
        let mut index = repo.index().expect("index");
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, text).expect("write");
            index.add_path(Path::new(path)).expect("git add");
        }
        index.write().expect("index write");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("find tree");
        let sig = git2::Signature::now("test", "test@example.com").expect("signature");
        repo.commit(Some("HEAD"), &sig, &sig, "base", &tree, &[])
            .expect("commit");
        Self { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn uri(&self, rel: &str) -> String {
        file_uri(&self.path(rel))
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}
