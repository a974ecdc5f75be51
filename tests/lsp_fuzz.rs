//! Seeded stdio fuzzing of the real `redline lsp` binary: thousands of
//! malformed, truncated, mistyped and hostile messages, interleaved with
//! valid traffic. After every batch the server must still answer a
//! request; at the end a leaked key in a newly opened buffer must still be
//! flagged. `REDLINE_FUZZ_SEED=<u64>` replays a run (the seed is printed,
//! and shown when the test fails).

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo, TIMEOUT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const DEFAULT_SEED: u64 = 0x7265_646c_696e_6531;
const BATCHES: usize = 100;
const PER_BATCH: usize = 100;
const BASE_PY: &str = "def main():\n    return 1\n";

/// Error codes a malformed message may be answered with (-32800: a fuzzed
/// `$/cancelRequest` hit a request in flight).
const EXPECTED_CODES: [i64; 5] = [-32700, -32600, -32601, -32602, -32800];

/// Methods the server knows, to send with the wrong params.
const METHODS: [&str; 14] = [
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "textDocument/codeAction",
    "workspace/executeCommand",
    "workspace/didChangeWatchedFiles",
    "workspace/didChangeWorkspaceFolders",
    "initialize",
    "initialized",
    "$/cancelRequest",
    "$/setTrace",
    "textDocument/hover",
    "workspace/symbol",
];

const PIECES: [&str; 14] = [
    "\n", "\r\n", "\r", "😀", "漢字", "print(1)", "eval(x)", "    ", "# TODO", "\u{2028}", "\t",
    "x = '", "\u{202E}", "\0",
];

struct Fuzzer {
    rng: StdRng,
    uri: String,
    version: i64,
}

impl Fuzzer {
    fn text(&mut self) -> String {
        let n = self.rng.random_range(0..12);
        (0..n)
            .map(|_| PIECES[self.rng.random_range(0..PIECES.len())])
            .collect()
    }

    fn number(&mut self) -> Value {
        match self.rng.random_range(0..7) {
            0 => json!(-1),
            1 => json!(i64::MAX),
            2 => json!(u64::MAX),
            3 => json!(1e308),
            4 => json!(-0.5),
            5 => json!(i32::MAX),
            _ => json!(self.rng.random_range(0..60)),
        }
    }

    /// A random JSON value of any type, nested up to `depth`.
    fn value(&mut self, depth: u32) -> Value {
        let pick = self.rng.random_range(0..if depth == 0 { 5 } else { 7 });
        match pick {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => self.number(),
            3 => json!(self.text()),
            4 => json!(["uri", "textDocument", "range", "x"][self.rng.random_range(0..4)]),
            5 => (0..self.rng.random_range(0..4))
                .map(|_| self.value(depth - 1))
                .collect(),
            _ => {
                let keys = [
                    "uri",
                    "textDocument",
                    "version",
                    "range",
                    "text",
                    "command",
                    "arguments",
                    "contentChanges",
                    "start",
                    "line",
                    "character",
                    "id",
                    "changes",
                ];
                let mut object = serde_json::Map::new();
                for _ in 0..self.rng.random_range(0..5) {
                    let key = keys[self.rng.random_range(0..keys.len())];
                    object.insert(key.into(), self.value(depth - 1));
                }
                Value::Object(object)
            }
        }
    }

    fn position(&mut self) -> Value {
        if self.rng.random_bool(0.9) {
            json!({"line": self.rng.random_range(0..8), "character": self.rng.random_range(0..40)})
        } else {
            json!({"line": self.number(), "character": self.number()})
        }
    }

    /// A didChange of the fuzzed document that is valid JSON-RPC; its
    /// range may lie outside the text.
    fn edit(&mut self) -> Value {
        self.version += 1;
        let change = if self.rng.random_bool(0.2) {
            json!({"text": self.text()})
        } else {
            json!({"range": {"start": self.position(), "end": self.position()}, "text": self.text()})
        };
        json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [change]}})
    }

    /// Valid traffic mixed into the hostile one.
    fn valid(&mut self) -> Value {
        match self.rng.random_range(0..8) {
            6 => {
                let n = self.rng.random_range(0..5);
                let uri = self.uri.replace("a.py", &format!("f{n}.py"));
                json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                    "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": self.text()}}})
            }
            7 => {
                let n = self.rng.random_range(0..5);
                let uri = self.uri.replace("a.py", &format!("f{n}.py"));
                json!({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {
                    "textDocument": {"uri": uri}}})
            }
            0..=2 => self.edit(),
            3 => json!({"jsonrpc": "2.0", "id": format!("v-{}", self.rng.random::<u32>()),
                "method": "textDocument/codeAction", "params": {
                    "textDocument": {"uri": self.uri},
                    "range": {"start": self.position(), "end": self.position()},
                    "context": {"diagnostics": []}}}),
            4 => json!({"jsonrpc": "2.0", "id": format!("v-{}", self.rng.random::<u32>()),
                "method": "workspace/executeCommand",
                "params": {"command": "redline.reviewNow", "arguments": [self.uri]}}),
            _ => json!({"jsonrpc": "2.0", "id": self.rng.random_range(100_000..200_000),
                "result": self.value(2)}),
        }
    }

    /// One hostile message, as raw bytes; true when it may swallow the
    /// start of what follows (then a padding frame is sent after it).
    fn hostile(&mut self) -> (Vec<u8>, bool) {
        let frame = |body: &[u8]| {
            let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            out.extend_from_slice(body);
            out
        };
        match self.rng.random_range(0..16) {
            // Random bytes, unframed.
            0 => {
                let n = self.rng.random_range(1..200);
                ((0..n).map(|_| self.rng.random()).collect(), false)
            }
            // Random bytes in a sound frame.
            1 => {
                let n = self.rng.random_range(0..200);
                let body: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                (frame(&body), false)
            }
            // A frame whose length is a little longer or shorter than its body.
            2 => {
                let body = self.valid().to_string();
                let len = if self.rng.random_bool(0.5) {
                    body.len() + self.rng.random_range(1..30)
                } else {
                    body.len().saturating_sub(self.rng.random_range(1..30))
                };
                (
                    format!("Content-Length: {len}\r\n\r\n{body}").into_bytes(),
                    true,
                )
            }
            // Bad or odd headers.
            3 => {
                let body = self.valid().to_string();
                let header = match self.rng.random_range(0..9) {
                    0 => "Content-Length: abc".to_string(),
                    1 => "Content-Length: -12".to_string(),
                    2 => "Content-Length: 999999999999999".to_string(),
                    3 => format!("Content-Length: {}\r\nContent-Length: 3", body.len()),
                    4 => "Content-Type: application/vscode-jsonrpc".to_string(),
                    5 => format!("content-length: {}", body.len()),
                    6 => format!("Content-Length: {}\r\nX-Weird: 1", body.len()),
                    7 => "Content-Length: 0".to_string(),
                    _ => format!("Content-Length:{}", body.len()),
                };
                (format!("{header}\r\n\r\n{body}").into_bytes(), false)
            }
            // JSON that is not a request.
            4 => {
                let body = [
                    "[]",
                    "null",
                    "{}",
                    "5",
                    "\"x\"",
                    "true",
                    "[{\"jsonrpc\":\"2.0\"}]",
                    r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
                    r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#,
                    r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
                    r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"x"}"#,
                    r#"{"jsonrpc":"2.0","id":1e400,"method":"x"}"#,
                    r#"{"jsonrpc":"2.0","method":["x"]}"#,
                    r#"{"jsonrpc":"2.0","id":3,"method":"x","result":1}"#,
                    r#"{"jsonrpc":"2.0","id":3,"error":"no"}"#,
                    r#"{"jsonrpc":"2.0","method":"a","method":"b"}"#,
                ][self.rng.random_range(0..16)];
                (frame(body.as_bytes()), false)
            }
            // Known methods, wrong params, as requests and notifications.
            5..=7 => {
                let method = METHODS[self.rng.random_range(0..METHODS.len())];
                let mut msg = json!({"jsonrpc": "2.0", "method": method, "params": self.value(3)});
                if self.rng.random_bool(0.5) {
                    msg["id"] = json!(format!("h-{}", self.rng.random::<u32>()));
                }
                (frame(msg.to_string().as_bytes()), false)
            }
            // Commands with wrong arguments.
            8 => {
                let command = [
                    "redline.explain",
                    "redline.stats",
                    "redline.reviewNow",
                    "redline.unknown",
                    "",
                ][self.rng.random_range(0..5)];
                let msg = json!({"jsonrpc": "2.0", "id": self.rng.random_range(0..1000),
                    "method": "workspace/executeCommand",
                    "params": {"command": command, "arguments": self.value(2)}});
                (frame(msg.to_string().as_bytes()), false)
            }
            // Unknown methods, some of them long.
            9 => {
                let method = match self.rng.random_range(0..3) {
                    0 => format!("$/{}", self.text()),
                    1 => "x".repeat(self.rng.random_range(1..10_000)),
                    _ => format!("redline/{}", self.rng.random::<u64>()),
                };
                let mut msg = json!({"jsonrpc": "2.0", "method": method});
                if self.rng.random_bool(0.5) {
                    msg["id"] = json!(self.rng.random_range(0..1000));
                }
                (frame(msg.to_string().as_bytes()), false)
            }
            // Lone surrogate escapes in an edit, a URI and a method.
            10 => {
                let msg = self.edit().to_string();
                let lone = [
                    r"\ud83d",
                    r"\ude00",
                    r"\udbff\u0041",
                    r"\\ud83d",
                    r"\ud800\ud800",
                ][self.rng.random_range(0..5)];
                let body = match self.rng.random_range(0..3) {
                    0 => msg.replace(r#""text":""#, &format!(r#""text":"{lone}"#)),
                    1 => msg.replace("file://", &format!("file://{lone}")),
                    _ => msg.replace("didChange", &format!("didChange{lone}")),
                };
                (frame(body.as_bytes()), false)
            }
            // Deep nesting.
            11 => {
                let depth = self.rng.random_range(50..5_000);
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":7,"method":"textDocument/codeAction","params":{}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                (frame(body.as_bytes()), false)
            }
            // Huge and negative numbers where the server expects small ones.
            12 => {
                let mut msg = self.edit();
                msg["params"]["textDocument"]["version"] = self.number();
                msg["params"]["contentChanges"][0]["range"] = json!({"start": {"line": self.number(), "character": self.number()},
                           "end": {"line": self.number(), "character": self.number()}});
                (frame(msg.to_string().as_bytes()), false)
            }
            // A valid message with a few bytes flipped.
            13 | 14 => {
                let mut body = self.valid().to_string().into_bytes();
                for _ in 0..self.rng.random_range(1..4) {
                    let at = self.rng.random_range(0..body.len());
                    match self.rng.random_range(0..3) {
                        0 => body[at] = self.rng.random(),
                        1 => {
                            body.remove(at);
                        }
                        _ => body.insert(at, b"{}[]\",:\\"[self.rng.random_range(0..8)]),
                    }
                }
                (frame(&body), false)
            }
            // Notifications sent with an id.
            _ => {
                let mut msg = self.edit();
                msg["id"] = json!(self.rng.random_range(0..1000));
                (frame(msg.to_string().as_bytes()), false)
            }
        }
    }
}

#[test]
fn thousands_of_hostile_messages_never_stop_the_server() {
    let seed = std::env::var("REDLINE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("REDLINE_FUZZ_SEED={seed}");
    let repo = TestRepo::new(&[("a.py", BASE_PY), ("b.py", BASE_PY)]);
    let mut options = ClientOptions::folder(repo.root());
    options
        .env
        .push(("REDLINE_LSP_CLIENT_TIMEOUT_MS".into(), "1000".into()));
    // Every bad message is logged; thousands of lines would bury a failure.
    options
        .env
        .push(("REDLINE_LOG".into(), "redline=error".into()));
    let mut client = LspClient::start(options);
    let uri = repo.uri("a.py");
    client.open(&uri, "python", 1, BASE_PY);
    let mut fuzz = Fuzzer {
        rng: StdRng::seed_from_u64(seed),
        uri: uri.clone(),
        version: 1,
    };
    let padding = {
        let body = json!({"jsonrpc": "2.0", "method": "$/redline/fuzz-padding", "params": {"pad": "x".repeat(64)}}).to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    };
    for batch in 0..BATCHES {
        for _ in 0..PER_BATCH {
            if fuzz.rng.random_bool(0.3) {
                let valid = fuzz.valid().to_string();
                client.send_body(valid.as_bytes());
            }
            let (bytes, swallows) = fuzz.hostile();
            client.send_raw(&bytes);
            if swallows {
                client.send_raw(&padding);
            }
        }
        // Whatever came before, a sound request is answered.
        client.send_raw(&padding);
        let id = json!(format!("check-{batch}"));
        let check = json!({"jsonrpc": "2.0", "id": id, "method": "workspace/executeCommand",
            "params": {"command": "redline.stats", "arguments": []}});
        client.send_body(check.to_string().as_bytes());
        let answer = client.await_response(&id, TIMEOUT);
        assert!(
            answer["result"]["server"].is_object(),
            "seed {seed}, batch {batch}: {answer}"
        );
    }
    let codes: Vec<i64> = client
        .responses
        .iter()
        .filter_map(|r| r["error"]["code"].as_i64())
        .collect();
    assert!(
        codes.len() > BATCHES * PER_BATCH / 4,
        "seed {seed}: only {} errors",
        codes.len()
    );
    let unexpected: Vec<&i64> = codes
        .iter()
        .filter(|c| !EXPECTED_CODES.contains(c))
        .collect();
    assert!(unexpected.is_empty(), "seed {seed}: {unexpected:?}");
    let reviews = client.execute("redline.stats", json!([])).expect("stats");
    println!("{} error answers; {}", codes.len(), reviews["server"]);
    // Editor settings may have been fuzzed too: back to the defaults.
    client.notify("workspace/didChangeConfiguration", json!({"settings": {}}));
    let b = repo.uri("b.py");
    let key = ["AKIA", "Z7QW3RT5YU8IOP2L"].concat();
    client.open(
        &b,
        "python",
        1,
        &format!("def main():\n    aws = \"{key}\"\n    return 1\n"),
    );
    let diags = client.await_diagnostics(&b, 1);
    assert!(
        diags.iter().any(|d| d["range"]["start"]["line"] == 1),
        "seed {seed}: {diags:?}"
    );
    client.shutdown();
}
