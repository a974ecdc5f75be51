//! The noise filter: files no reviewer should spend tokens on (lock files,
//! vendored code, minified bundles, source maps, generated code). Database
//! migrations are never noise, whatever else they look like. Pure functions
//! of a path and its text; decides nothing about `never_send`, which is a
//! privacy rule, not a noise rule.

/// Lock files by exact file name.
const LOCK_FILES: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "bun.lock",
    "go.sum",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "pdm.lock",
    "Gemfile.lock",
    "composer.lock",
    "mix.lock",
    "pubspec.lock",
    "Podfile.lock",
    "Package.resolved",
    "flake.lock",
    "packages.lock.json",
    "gradle.lockfile",
    "deno.lock",
];

/// Folders holding other people's code.
const VENDORED_DIRS: &[&str] = &[
    "vendor",
    "_vendor",
    "vendored",
    "node_modules",
    "third_party",
    "third-party",
    "thirdparty",
    "3rdparty",
    "bower_components",
];

/// A line this long is a bundle, not something a person wrote.
const MINIFIED_LINE_CHARS: usize = 1000;

/// A minified line: at least this long, with under 1 space in 25 chars.
const DENSE_LINE_CHARS: usize = 300;
/// Dense lines among a file's first 50 that make it minified.
const DENSE_LINES: usize = 3;

fn is_dense(line: &str) -> bool {
    // Never fewer bytes than characters: most lines stop here.
    if line.len() < DENSE_LINE_CHARS {
        return false;
    }
    let chars = line.chars().count();
    chars >= DENSE_LINE_CHARS && line.chars().filter(|c| c.is_whitespace()).count() * 25 < chars
}

/// Lines scanned for an `@generated` marker.
const GENERATED_MARKER_LINES: usize = 5;

/// Why `path` is noise, or `None` when reviewers should see it.
pub fn noise_reason(path: &str, text: &str) -> Option<&'static str> {
    if is_migration(path) {
        return None;
    }
    let lower = path.to_ascii_lowercase();
    let file = path.rsplit('/').next().unwrap_or(path);
    if LOCK_FILES.contains(&file) {
        return Some("lock file");
    }
    let in_dir = |d: &str| lower.starts_with(&format!("{d}/")) || lower.contains(&format!("/{d}/"));
    if VENDORED_DIRS.iter().any(|d| in_dir(d)) {
        return Some("vendored code");
    }
    let lower_file = file.to_ascii_lowercase();
    if lower_file.ends_with(".map") {
        return Some("source map");
    }
    // A recorded change (an example diff, a patch applied to a
    // dependency): its lines are someone's code quoted, not written here.
    if lower_file.ends_with(".diff") || lower_file.ends_with(".patch") {
        return Some("patch file");
    }
    if generated_name(&lower_file) {
        return Some("generated code (by its file name)");
    }
    // A package's build output: scripts and styles under `dist/`.
    let built_asset = [".js", ".mjs", ".cjs", ".css", ".d.ts"]
        .iter()
        .any(|e| lower_file.ends_with(e));
    if built_asset && in_dir("dist") {
        return Some("build output (dist/)");
    }
    if [".min.js", ".min.css", ".min.mjs", ".bundle.js"]
        .iter()
        .any(|s| lower_file.ends_with(s))
    {
        return Some("minified asset");
    }
    if text
        .lines()
        .take(GENERATED_MARKER_LINES)
        .any(|l| l.contains("@generated") || (l.contains("DO NOT EDIT") && l.contains("generated")))
    {
        return Some("generated code (@generated)");
    }
    if text
        .lines()
        .take(50)
        .any(|l| l.chars().count() > MINIFIED_LINE_CHARS)
    {
        return Some("minified or bundled (very long lines)");
    }
    // Minified by hand or by an old tool (`prettify.js` checked in with a
    // website): lines of a few hundred characters with hardly a space.
    if text
        .lines()
        .take(50)
        .filter(|l| is_dense(l))
        .nth(DENSE_LINES - 1)
        .is_some()
    {
        return Some("minified (dense long lines)");
    }
    // A terminal's output recorded with its colour codes (a highlighter's
    // expected output, a CLI snapshot): bytes a program wrote, not code.
    if text
        .lines()
        .take(50)
        .filter(|l| l.contains("\u{1b}["))
        .nth(2)
        .is_some()
    {
        return Some("recorded terminal output");
    }
    None
}

/// Folders of test fixtures, recorded outputs and sample inputs: data a
/// test reads, not code under review (the built-in reviewer gives them its
/// secret rules only).
const TEST_DATA_DIRS: &[&str] = &[
    "fixtures",
    "fixture",
    "__fixtures__",
    "testdata",
    "test-data",
    "test_data",
    "testfiles",
    "__snapshots__",
    "snapshots",
    "golden",
    "goldens",
    "test-fixtures",
    "test_fixtures",
    "corpus",
];

/// Folders that hold data when a test folder holds them: `tests/data/`,
/// Maven's `src/test/resources/`, `spec/samples/`.
const DATA_UNDER_TESTS: &[&str] = &[
    "data",
    "resources",
    "samples",
    "sample",
    "inputs",
    "input",
    "assets",
    "expected",
    "outputs",
    "source",
    "sources",
    "cases",
    // A formatter's inputs and the output it must give (prettier's
    // `tests/format/`, rustfmt's `tests/target/`), a compiler's baselines.
    "format",
    "target",
    "baselines",
];

const TEST_DIRS: &[&str] = &["test", "tests", "spec", "specs", "__tests__"];

/// Whether `path` lies in a folder of test fixtures or data.
pub fn is_test_data(path: &str) -> bool {
    let dirs: Vec<&str> = path.split('/').rev().skip(1).collect();
    dirs.iter().enumerate().any(|(i, d)| {
        TEST_DATA_DIRS.iter().any(|t| d.eq_ignore_ascii_case(t))
            || DATA_UNDER_TESTS.iter().any(|t| d.eq_ignore_ascii_case(t))
                && dirs[i + 1..]
                    .iter()
                    .any(|up| TEST_DIRS.iter().any(|t| up.eq_ignore_ascii_case(t)))
    })
}

/// Generated source by the naming conventions of its generators (protobuf,
/// gRPC, Dart's build_runner, …), as GitHub's linguist lists them.
fn generated_name(file: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "_pb2.py",
        "_pb2_grpc.py",
        "_pb2.pyi",
        ".pb.go",
        ".pb.gw.go",
        ".pb.cc",
        ".pb.h",
        "_pb.js",
        "_pb.d.ts",
        "_grpc_pb.js",
        ".g.dart",
        ".freezed.dart",
        ".designer.cs",
        ".generated.cs",
        ".generated.ts",
        ".generated.js",
        // GitHub Agentic Workflows compile `x.md` to `x.lock.yml`.
        ".lock.yml",
    ];
    // The documentation concatenated for language models (llmstxt.org).
    const NAMES: &[&str] = &["llms.txt", "llms-full.txt", "llm.txt", "llms-small.txt"];
    SUFFIXES.iter().any(|s| file.ends_with(s)) || NAMES.contains(&file)
}

/// Database migrations: reviewed even when they look generated.
pub fn is_migration(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.starts_with("migrations/")
        || lower.contains("/migrations/")
        || lower.starts_with("migrate/")
        || lower.contains("/migrate/")
        || lower.contains("/db/migrate/")
        || lower.ends_with(".migration.sql")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_vendored_code_and_bundles_are_noise() {
        assert_eq!(noise_reason("Cargo.lock", ""), Some("lock file"));
        assert_eq!(noise_reason("web/package-lock.json", ""), Some("lock file"));
        assert_eq!(noise_reason("go.sum", ""), Some("lock file"));
        assert_eq!(noise_reason("vendor/x/y.go", ""), Some("vendored code"));
        assert_eq!(
            noise_reason("src/pip/_vendor/rich/console.py", ""),
            Some("vendored code")
        );
        assert_eq!(
            noise_reason("deps/3rdparty/zlib.c", ""),
            Some("vendored code")
        );
        assert_eq!(noise_reason("src/vendors.py", ""), None);
        assert_eq!(
            noise_reason("web/node_modules/a/index.js", ""),
            Some("vendored code")
        );
        assert_eq!(
            noise_reason("static/app.min.js", ""),
            Some("minified asset")
        );
        assert_eq!(noise_reason("static/app.js.map", ""), Some("source map"));
        assert_eq!(
            noise_reason("etc/examples/822-merge-conflict.diff", "+// TODO: x\n"),
            Some("patch file")
        );
        assert_eq!(
            noise_reason("patches/fix-build.patch", ""),
            Some("patch file")
        );
        // Three dense lines of a few hundred characters: minified by hand.
        let dense = "t))){s&&(G=G.replace(d,\"\\r\"));A.nodeValue=G;var L=A.ownerDocument,o=L.createElement(\"span\");".repeat(4);
        let script = format!("{dense}\n{dense}\n{dense}\n");
        assert_eq!(
            noise_reason("website/static/prettify.js", &script),
            Some("minified (dense long lines)")
        );
        // Long prose lines, and two dense lines, are not.
        let prose =
            "This paragraph runs long because Markdown lets it, and it has spaces. ".repeat(6);
        assert_eq!(
            noise_reason("README.md", &format!("{prose}\n{prose}\n{prose}\n")),
            None
        );
        assert_eq!(
            noise_reason("a.js", &format!("{dense}\n{dense}\nx\n")),
            None
        );
        let long = "x".repeat(5000);
        assert!(noise_reason("static/app.js", &long).is_some());
    }

    #[test]
    fn generated_marker_in_the_first_lines_is_noise_but_not_further_down() {
        assert!(noise_reason("src/pb.rs", "// @generated by protoc\nfn a() {}\n").is_some());
        let late = format!("{}// @generated\n", "fn a() {}\n".repeat(20));
        assert_eq!(noise_reason("src/pb.rs", &late), None);
    }

    #[test]
    fn build_output_and_generated_names_are_noise_but_sources_beside_them_are_not() {
        assert_eq!(
            noise_reason("dist/axios.js", "function a() {}\n"),
            Some("build output (dist/)")
        );
        assert!(noise_reason("packages/ui/dist/index.css", "a{}\n").is_some());
        assert_eq!(noise_reason("src/dist.js", "x\n"), None);
        assert_eq!(noise_reason("dist/README.md", "x\n"), None);
        assert!(noise_reason("api/v1/service.pb.go", "package v1\n").is_some());
        assert!(noise_reason("proto/user_pb2.py", "import x\n").is_some());
        assert_eq!(noise_reason("proto/user.py", "import x\n"), None);
    }

    #[test]
    fn fixture_and_test_data_folders_are_data() {
        assert!(is_test_data("tests/fixtures/app.py"));
        assert!(is_test_data("pkg/testdata/input.go"));
        assert!(is_test_data("src/__snapshots__/view.test.js.snap"));
        assert!(!is_test_data("src/fixtures.py"));
        assert!(!is_test_data("tests/test_app.py"));
        assert!(is_test_data("src/test/resources/app.properties"));
        assert!(is_test_data("tests/data/sample.py"));
        assert!(is_test_data("fuzz/corpus/parse/seed-1"));
        assert!(!is_test_data("src/data/model.py"));
        assert!(!is_test_data("app/resources/views.rb"));
        assert!(is_test_data("tests/syntax-tests/source/Verilog/div.v"));
        assert!(is_test_data("tests/cli/expected/help.txt"));
        assert!(!is_test_data("src/source/mod.rs"));
        assert!(is_test_data("tests/format/js/arrows/currying.js"));
        assert!(is_test_data("tests/target/issue-5012.rs"));
        assert!(!is_test_data("src/format/mod.rs"));
    }

    #[test]
    fn compiled_workflows_and_documentation_dumps_for_models_are_generated() {
        assert!(noise_reason(".github/workflows/triage.lock.yml", "on: push\n").is_some());
        assert!(noise_reason("llms-full.txt", "# Docs\n").is_some());
        assert_eq!(noise_reason(".github/workflows/ci.yml", "on: push\n"), None);
    }

    #[test]
    fn recorded_terminal_output_is_noise_and_one_escape_code_is_not() {
        let recorded = "\u{1b}[38;2;117;113;94m// a\u{1b}[0m\n\u{1b}[38;2;117;113;94m// TODO: b\u{1b}[0m\n\u{1b}[38;2;248;248;242mc\u{1b}[0m\n";
        assert_eq!(
            noise_reason("tests/highlighted/Verilog/div.v", recorded),
            Some("recorded terminal output")
        );
        let code = "RED = \"\u{1b}[31m\"\nRESET = \"\u{1b}[0m\"\nprint(RED + msg + RESET)\n";
        assert_eq!(noise_reason("pkg/colors.py", code), None);
    }

    #[test]
    fn migrations_are_never_noise() {
        assert_eq!(
            noise_reason("db/migrations/0001_init.sql", "-- @generated by tool\n"),
            None
        );
        assert_eq!(noise_reason("src/main.rs", "fn main() {}\n"), None);
        assert_eq!(noise_reason("src/authors.rs", ""), None);
    }
}
