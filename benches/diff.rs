//! Line diff speed: `imara-diff` (Histogram, what redline uses) against
//! `similar` (Myers), on the case that matters (a big file with a few edits)
//! and on inputs that could stall a server (every line changed; a 50k-line
//! minified-looking file made of a few repeated tokens).
//!
//! `redline_diff_lines` is the product path (`redline::diff::diff_lines`:
//! common prefix/suffix trimmed, then Histogram, with a deadline-bounded
//! Myers for repetitive input); `imara_histogram` and `similar_myers` are
//! the two crates as they come.
//!
//! `cargo bench --bench diff -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use redline::diff::{diff_lines, diff_lines_similar, lines};
use std::hint::black_box;

/// imara-diff's Histogram on the whole input, nothing else: the crate as it
/// comes, for comparison with `similar` and with redline's own path.
fn imara_raw(old: &[&str], new: &[&str]) -> usize {
    use imara_diff::{Algorithm, Diff, Interner};
    let mut interner = Interner::new(old.len() + new.len());
    let before: Vec<_> = old.iter().map(|l| interner.intern(*l)).collect();
    let after: Vec<_> = new.iter().map(|l| interner.intern(*l)).collect();
    let mut diff = Diff::default();
    diff.compute_with(Algorithm::Histogram, &before, &after, interner.num_tokens());
    diff.count_additions() as usize
}

/// A deterministic pseudo-random sequence (no dependency, same every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// 10,000 lines of code-like text, and a copy with 10 scattered lines edited.
fn ten_edits_in_ten_thousand_lines() -> (String, String) {
    let old: Vec<String> = (0..10_000)
        .map(|i| match i % 7 {
            0 => format!("fn handler_{i}(req: &Request) -> Response {{"),
            1 => format!("    let value_{i} = req.param(\"k{i}\").unwrap_or_default();"),
            2 => "    }".to_string(),
            3 => String::new(),
            4 => format!("    // step {i}: validate the input"),
            5 => format!("    total += compute({i}, value_{});", i - 4),
            _ => "}".to_string(),
        })
        .collect();
    let mut new = old.clone();
    for k in 0..10 {
        let at = 500 + k * 997;
        new[at] = format!("    let edited_{k} = recompute({at});");
    }
    (old.join("\n") + "\n", new.join("\n") + "\n")
}

/// Every line differs between old and new.
fn every_line_changed() -> (String, String) {
    let old: String = (0..10_000).map(|i| format!("old line {i}\n")).collect();
    let new: String = (0..10_000).map(|i| format!("new line {i}\n")).collect();
    (old, new)
}

/// 50,000 short lines drawn from a few dozen tokens (what a minified bundle
/// split on `;` looks like), with 5% of them replaced at random.
fn minified_50k() -> (String, String) {
    const TOKENS: &[&str] = &[
        "a=b",
        "}",
        "{",
        "return a",
        "var e=0",
        "e++",
        "if(a)",
        "else",
        "t.push(e)",
        "n=t[e]",
        "o(n)",
        "i.x=1",
        "r=!0",
        "r=!1",
        "break",
        "case 1:",
        "case 2:",
        "default:",
        "function(e){",
        "})",
        "f(a,b)",
        "a+=b",
        "c=a*b",
        "d=c/2",
        "x",
        "y",
        "z",
    ];
    let mut rng = Lcg(42);
    let old: Vec<&str> = (0..50_000)
        .map(|_| TOKENS[rng.next() as usize % TOKENS.len()])
        .collect();
    let mut new = old.clone();
    for _ in 0..2_500 {
        let at = rng.next() as usize % new.len();
        new[at] = TOKENS[rng.next() as usize % TOKENS.len()];
    }
    (old.join("\n"), new.join("\n"))
}

fn bench_case(c: &mut Criterion, name: &str, (old, new): (String, String), samples: usize) {
    let old_lines = lines(&old);
    let new_lines = lines(&new);
    let imara = diff_lines(&old_lines, &new_lines);
    let myers = diff_lines_similar(&old_lines, &new_lines);
    println!(
        "{name}: {} old / {} new lines; redline {} hunks ({} changed), similar {} hunks ({} changed)",
        old_lines.len(),
        new_lines.len(),
        imara.hunks.len(),
        imara.changed_line_count(),
        myers.hunks.len(),
        myers.changed_line_count()
    );
    let mut group = c.benchmark_group(name);
    group.sample_size(samples);
    group.bench_function(BenchmarkId::new("redline_diff_lines", ""), |b| {
        b.iter(|| diff_lines(black_box(&old_lines), black_box(&new_lines)))
    });
    group.bench_function(BenchmarkId::new("imara_histogram", ""), |b| {
        b.iter(|| imara_raw(black_box(&old_lines), black_box(&new_lines)))
    });
    group.bench_function(BenchmarkId::new("similar_myers", ""), |b| {
        b.iter(|| diff_lines_similar(black_box(&old_lines), black_box(&new_lines)))
    });
    group.finish();
}

fn diff_benches(c: &mut Criterion) {
    bench_case(
        c,
        "10k_lines_10_edits",
        ten_edits_in_ten_thousand_lines(),
        100,
    );
    bench_case(c, "10k_lines_all_changed", every_line_changed(), 20);
    bench_case(c, "minified_50k_lines", minified_50k(), 10);

    // The whole path a buffer takes: split both texts into lines, then diff.
    let (old, new) = ten_edits_in_ten_thousand_lines();
    c.bench_function("10k_lines_10_edits/split_lines_both", |b| {
        b.iter(|| (lines(black_box(&old)).len(), lines(black_box(&new)).len()))
    });
    c.bench_function("10k_lines_10_edits/diff_texts_with_split", |b| {
        b.iter(|| redline::diff::diff_texts(black_box(&old), black_box(&new)))
    });
}

criterion_group!(benches, diff_benches);
criterion_main!(benches);
