//! CPU time of the built-in reviewer per file, every line added (its worst
//! case: a new file). Two inputs: this repository's own Rust sources and
//! the secret corpus's labelled lines as one config file (every line
//! secret-looking, the prefilter's worst case). Issue 10 asks that the
//! secret rules cost no more per file than before they learnt 150+
//! providers.
//!
//! This repository's sources are a secret scanner's: their tests hold
//! hundreds of provider tokens and credential assignments, so they wake
//! far more checks than ordinary code. Ordinary code is a third input: the
//! sources of tokio, hyper, reqwest and clap_builder at the locked versions,
//! from Cargo's download folder (skipped when they are not there).
//! `REDLINE_BENCH_SRC` points the first input at another tree, and both
//! sides of a before/after comparison at the same files.
//!
//! `cargo bench --bench builtin -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion};
use redline::review::{builtin, FileChange};
use std::path::Path;

fn rust_sources(dir: &Path, out: &mut Vec<FileChange>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            out.push(FileChange::new_file(path.display().to_string(), text));
        }
    }
}

fn corpus_as_config() -> FileChange {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets/kingfisher.jsonl");
    let text: String = std::fs::read_to_string(path)
        .expect("corpus")
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("json");
            format!("{}\n", row["text"].as_str().expect("text"))
        })
        .collect();
    FileChange::new_file("settings.env", text)
}

/// Ordinary Rust: the sources of four dependencies at the versions
/// `Cargo.lock` pins, from Cargo's download folder (empty when it is
/// elsewhere or was cleaned).
fn dependency_sources() -> Vec<FileChange> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let registries: Vec<_> = std::fs::read_dir(cargo_home.join("registry/src"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let mut files = Vec::new();
    for name in ["tokio", "hyper", "reqwest", "clap_builder"] {
        let Some(version) = lock
            .split("[[package]]")
            .find(|p| p.contains(&format!("name = \"{name}\"\n")))
            .and_then(|p| p.split("version = \"").nth(1))
            .and_then(|v| v.split('"').next())
        else {
            continue;
        };
        if let Some(dir) = registries
            .iter()
            .map(|r| r.join(format!("{name}-{version}/src")))
            .find(|d| d.is_dir())
        {
            rust_sources(&dir, &mut files);
        }
    }
    files
}

/// Findings of every file of `files`, reviewed one by one.
fn findings(files: &[FileChange], only_secrets: bool) -> usize {
    files
        .iter()
        .map(|f| builtin::review_file(f, only_secrets).len())
        .sum()
}

/// Lines of `files`, to print beside the figures.
fn lines(files: &[FileChange]) -> usize {
    files.iter().map(|f| f.new_text.lines().count()).sum()
}

fn per_file(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // (See the module's comment for `REDLINE_BENCH_SRC`.)
    let src = std::env::var_os("REDLINE_BENCH_SRC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("src"));
    let mut files = Vec::new();
    rust_sources(&src, &mut files);
    println!("{} Rust files, {} lines", files.len(), lines(&files));
    let mut group = c.benchmark_group("builtin_review");
    group.bench_function("all_rules_per_rust_file", |b| {
        b.iter(|| std::hint::black_box(findings(&files, false)))
    });
    group.bench_function("secret_rules_per_rust_file", |b| {
        b.iter(|| std::hint::black_box(findings(&files, true)))
    });
    let deps = dependency_sources();
    if deps.is_empty() {
        println!(
            "no dependency sources in Cargo's registry: secret_rules_per_dependency_file skipped"
        );
    } else {
        println!("{} dependency files, {} lines", deps.len(), lines(&deps));
        group.bench_function("secret_rules_per_dependency_file", |b| {
            b.iter(|| std::hint::black_box(findings(&deps, true)))
        });
    }
    let secrets = corpus_as_config();
    group.bench_function("secret_rules_over_1800_secret_lines", |b| {
        b.iter(|| std::hint::black_box(builtin::review_file(&secrets, true).len()))
    });
    group.finish();
}

criterion_group!(benches, per_file);
criterion_main!(benches);
