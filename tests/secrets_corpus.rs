//! The secret rules measured on public scanner fixtures (see
//! `tests/fixtures/secrets/build.py` for where each file comes from): recall
//! over labelled secrets, false alarms over labelled look-alikes, on a tuning
//! part and on a held-out part chosen by a hash of the provider (or, for the
//! real-code look-alikes, of the text). The rules were tuned on the tuning
//! part only; the targets are asserted on the held-out part.
//!
//! `cargo test --test secrets_corpus -- --nocapture` prints the figures;
//! `REDLINE_CORPUS_MISSES=tuning` (or `held-out`) also lists what was missed
//! or wrongly flagged in that part.
//!
//! `REDLINE_EXTRA_CORPUS=/work/shared/corpus/*.jsonl` (a path or a `*`
//! pattern, several separated by `:`) also measures corpora derived from
//! other scanners' fixtures, which are not in the repository (their
//! builders are: `scripts/corpus/README.md` says how to run them); each file is
//! reported on its own (`REDLINE_CORPUS_MISSES=<file stem>` lists its
//! misses), none is split or asserted on. A file whose stem ends in
//! `-heldout` is the held-out half of its source (split by its builder, as
//! here, by a hash of the provider or fixture): it is only ever counted,
//! never listed or read for tuning.

use redline::review::builtin;
use redline::review::FileChange;
use std::collections::BTreeMap;

const FILES: &[&str] = &["kingfisher.jsonl", "near-miss.jsonl", "code.jsonl"];

/// Issue 10 asks for 90% recall at most 5% false alarms; both hold on the
/// held-out part (90.2% recall, 0.7% false alarms: see the printed figures;
/// most of the tuning part's misses are client ids, public keys and
/// `…EXAMPLE` values the rules leave alone on purpose).
const RECALL_FLOOR: f64 = 0.90;

#[derive(Debug)]
struct Sample {
    secret: bool,
    source: String,
    file: &'static str,
    path: String,
    text: String,
    held_out: bool,
}

/// FNV-1a: stable across platforms and Rust versions (unlike `DefaultHasher`).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn load() -> Vec<Sample> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets");
    let mut samples = Vec::new();
    for file in FILES {
        let text = std::fs::read_to_string(dir.join(file)).expect("corpus file");
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("json line");
            let field = |k: &str| row[k].as_str().expect(k).to_string();
            let provider = field("provider");
            let text = field("text");
            let key = if provider == "code" { &text } else { &provider };
            samples.push(Sample {
                secret: field("label") == "secret",
                source: field("source"),
                file,
                path: field("path"),
                held_out: fnv1a(key) % 2 == 1,
                text,
            });
        }
    }
    samples
}

/// The first secret rule that reports something in `text` added as a new
/// file at `path`, if any (shown beside a false alarm, so that a list of
/// them says which rule to look at).
fn flagging_rule(path: &str, text: &str) -> Option<String> {
    let file = FileChange::new_file(path, format!("{text}\n"));
    builtin::review_file(&file, true)
        .into_iter()
        .filter_map(|f| f.rule)
        .find(|r| builtin::is_secret_rule(r))
}

#[derive(Default)]
struct Tally {
    secrets: usize,
    found: usize,
    benign: usize,
    alarms: usize,
}

impl Tally {
    fn recall(&self) -> f64 {
        self.found as f64 / self.secrets.max(1) as f64
    }
    fn false_alarms(&self) -> f64 {
        self.alarms as f64 / self.benign.max(1) as f64
    }
}

/// The files `REDLINE_EXTRA_CORPUS` names: paths or `dir/*.jsonl`
/// patterns separated by `:`.
fn extra_files() -> Vec<std::path::PathBuf> {
    let Ok(spec) = std::env::var("REDLINE_EXTRA_CORPUS") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in spec.split(':').filter(|p| !p.is_empty()) {
        let path = std::path::Path::new(part);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains('*') {
            out.push(path.to_path_buf());
            continue;
        }
        let matcher = globset::Glob::new(name)
            .expect("REDLINE_EXTRA_CORPUS pattern")
            .compile_matcher();
        let dir = path.parent().expect("pattern has a folder");
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .expect("REDLINE_EXTRA_CORPUS folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| matcher.is_match(n)))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// Figures for each extra corpus file, printed and not asserted on.
fn measure_extra_corpora(show: Option<&str>) {
    for file in extra_files() {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let text = std::fs::read_to_string(&file).expect("extra corpus file");
        let mut t = Tally::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).expect("json line");
            let field = |k: &str| row[k].as_str().expect(k).to_string();
            let (secret, text) = (field("label") == "secret", field("text"));
            let rule = flagging_rule(&field("path"), &text);
            let hit = rule.is_some();
            if secret {
                t.secrets += 1;
                t.found += usize::from(hit);
            } else {
                t.benign += 1;
                t.alarms += usize::from(hit);
            }
            if show == Some(stem.as_str()) && hit != secret {
                let what = if secret { "MISSED" } else { "FALSE ALARM" };
                let by = rule.map(|r| format!(" ({r})")).unwrap_or_default();
                println!("{what}{by} [{}] {text:?}", field("source"));
            }
        }
        println!(
            "   extra {stem:<17} recall {:>5.1}% ({}/{})  false alarms {:>5.1}% ({}/{})",
            100.0 * t.recall(),
            t.found,
            t.secrets,
            100.0 * t.false_alarms(),
            t.alarms,
            t.benign
        );
    }
}

#[test]
fn secret_rules_reach_the_targets_on_the_held_out_scanner_fixtures() {
    let samples = load();
    let show = std::env::var("REDLINE_CORPUS_MISSES").ok();
    let mut parts: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    for s in &samples {
        let part = if s.held_out { "held-out" } else { "tuning" };
        let rule = flagging_rule(&s.path, &s.text);
        let hit = rule.is_some();
        for key in [(part, "all"), (part, s.file)] {
            let t = parts.entry(key).or_default();
            if s.secret {
                t.secrets += 1;
                t.found += usize::from(hit);
            } else {
                t.benign += 1;
                t.alarms += usize::from(hit);
            }
        }
        if show.as_deref() == Some(part) && hit != s.secret {
            let what = if s.secret { "MISSED" } else { "FALSE ALARM" };
            let by = rule.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            println!("{what}{by} [{}] {:?}", s.source, s.text);
        }
    }
    for ((part, file), t) in &parts {
        println!(
            "{part:>8} {file:<17} recall {:>5.1}% ({}/{})  false alarms {:>5.1}% ({}/{})",
            100.0 * t.recall(),
            t.found,
            t.secrets,
            100.0 * t.false_alarms(),
            t.alarms,
            t.benign
        );
    }
    measure_extra_corpora(show.as_deref());
    let held = &parts[&("held-out", "all")];
    assert!(held.secrets > 500 && held.benign > 500, "corpus too small");
    assert!(
        held.recall() >= RECALL_FLOOR,
        "held-out recall {:.1}%",
        100.0 * held.recall()
    );
    assert!(
        held.false_alarms() <= 0.05,
        "held-out false alarms {:.1}%",
        100.0 * held.false_alarms()
    );
}
