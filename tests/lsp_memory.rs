//! The server's memory does not grow with use: 50 rounds of opening 200
//! edited documents (each reviewed and published) and closing them again,
//! through the real binary, with the resident set read from
//! `/proc/<pid>/status` (Linux only).

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{ClientOptions, LspClient, TestRepo};
use serde_json::json;

const DOCS: usize = 200;
const ROUNDS: usize = 50;
/// Rounds before the baseline: allocator arenas, caches and the blocking
/// pool reach their working size first.
const WARM_UP: usize = 5;
/// Growth allowed between the baseline and the last round. A leak of one
/// document's rope, findings or review state per open would be ~9,000
/// documents' worth by then (tens of MB); allocator noise is a few MB.
const GROWTH_LIMIT_KB: u64 = 20 * 1024;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB")
}

#[test]
fn opening_and_closing_200_documents_50_times_does_not_grow_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: skipped");
        return;
    }
    let base = "def main():\n    return 1\n";
    let names: Vec<String> = (0..DOCS).map(|i| format!("m{i}.py")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), base)).collect();
    let repo = TestRepo::new(&files);
    let mut client = LspClient::start(ClientOptions::folder(repo.root()));
    let uris: Vec<String> = names.iter().map(|n| repo.uri(n)).collect();
    let mut samples = Vec::new();
    for round in 1..=ROUNDS {
        for (i, uri) in uris.iter().enumerate() {
            let text = format!("def main():\n    print({i}, {round})\n    return 1\n");
            client.open(uri, "python", round as i64, &text);
        }
        for uri in &uris {
            let diags = client.await_diagnostics(uri, round as i64);
            assert_eq!(diags.len(), 1, "{uri}: {diags:?}");
        }
        for uri in &uris {
            client.notify(
                "textDocument/didClose",
                json!({"textDocument": {"uri": uri}}),
            );
        }
        let stats = client.execute("redline.stats", json!([])).expect("stats");
        assert_eq!(stats["server"]["open_documents"], 0);
        client.forget_notifications();
        samples.push(rss_kb(client.pid()));
    }
    let baseline = samples[WARM_UP - 1];
    let last = samples[ROUNDS - 1];
    println!(
        "VmRSS after round {WARM_UP}: {baseline} kB, after round {ROUNDS}: {last} kB ({:+} kB); every round: {samples:?}",
        last as i64 - baseline as i64
    );
    assert!(
        last <= baseline + GROWTH_LIMIT_KB,
        "resident memory grew from {baseline} kB to {last} kB: {samples:?}"
    );
    client.shutdown();
}
