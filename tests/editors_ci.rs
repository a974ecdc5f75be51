//! The editor and CI integrations, checked through the real binary and the
//! files users copy: SARIF that code scanning accepts (validated against the
//! SARIF 2.1.0 schema shipped in `tests/fixtures`, a copy of the schema from
//! the npm package `@microsoft/jest-sarif`), GitHub workflow annotations that
//! parse, the Helix snippet, the CI examples, and `redline init`.
//!
//! Schema and YAML checks use python3 with `jsonschema` and `PyYAML`
//! (`.ci/run` installs them when missing).

use redline::review::{Finding, Report, Severity, Tier, Usage, Verdict};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_redline");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A git repository with one commit, isolated from the user's configuration.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = Sandbox { dir };
        std::fs::create_dir_all(s.path().join("repo")).unwrap();
        s.git(&["init", "-q", "-b", "main"]);
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.repo())
            .env("HOME", self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.repo().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn commit_all(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "base"]);
    }

    /// A repository whose working tree adds lines that the built-in
    /// reviewer flags at every severity.
    fn with_findings() -> Self {
        let s = Sandbox::new();
        s.write("app/main.py", "def main():\n    return 1\n");
        s.commit_all();
        let key = ["AKIA", "Q3EGRIUTKBCPWX7Z"].concat();
        s.write(
            "app/main.py",
            &format!(
                "def main():\n    aws = \"{key}\"\n    print(\"debug\")\n    eval(input())\n    # TODO: remove\n    return 1\n"
            ),
        );
        s
    }

    fn redline(&self, args: &[&str]) -> Output {
        self.redline_in(&self.repo(), args)
    }

    fn redline_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(dir)
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("xdg"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("REDLINE_") {
                cmd.env_remove(k);
            }
        }
        cmd.output().expect("redline runs")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a python3 program with `input` on stdin; returns (success, output).
fn python(program: &str, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed (see .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("ModuleNotFoundError"),
        "python3 lacks a module; run `pip install jsonschema pyyaml`: {text}"
    );
    (out.status.success(), text)
}

const VALIDATE_SARIF: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(sys.stdin)
errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=str)
for e in errors:
    print(f"{list(e.absolute_path)}: {e.message}")
sys.exit(1 if errors else 0)
"#;

fn validate_sarif(sarif: &str) -> (bool, String) {
    let schema = root().join("tests/fixtures/sarif-schema-2.1.0.json");
    python(VALIDATE_SARIF, &[schema.to_str().unwrap()], sarif)
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let s = Sandbox::with_findings();
    let out = s.redline(&["check", "--offline", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let sarif = stdout(&out);
    let doc: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let levels: std::collections::BTreeSet<_> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.len() >= 3,
        "expected error, warning and note results: {levels:?}"
    );
    let (valid, errors) = validate_sarif(&sarif);
    assert!(valid, "SARIF does not validate:\n{errors}\n{sarif}");
    // Code scanning maps a relative URI to the file in the repository.
    for r in results {
        let location = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(location["uri"], "app/main.py");
        assert!(r["partialFingerprints"]
            .as_object()
            .is_some_and(|f| !f.is_empty()));
    }
}

#[test]
fn sarif_of_a_clean_change_still_validates() {
    let s = Sandbox::new();
    s.write("a.txt", "one\n");
    s.commit_all();
    s.write("a.txt", "one\ntwo\n");
    let out = s.redline(&["check", "--offline", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (valid, errors) = validate_sarif(&stdout(&out));
    assert!(valid, "{errors}");
}

#[test]
fn the_schema_check_rejects_sarif_code_scanning_would_reject() {
    let s = Sandbox::with_findings();
    let out = s.redline(&["check", "--offline", "--format", "sarif"]);
    let mut doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    doc["version"] = serde_json::json!("2.0.0");
    doc["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    let (valid, errors) = validate_sarif(&doc.to_string());
    assert!(!valid);
    assert!(
        errors.contains("version") && errors.contains("level"),
        "{errors}"
    );
}

fn finding(path: &str, message: &str, severity: Severity) -> Finding {
    Finding {
        path: path.into(),
        line: 3,
        end_line: 4,
        column: 5,
        end_column: None,
        severity,
        reviewer: "security".into(),
        rule: None,
        title: "Query: built, from input".into(),
        message: message.into(),
        fingerprint: "00ff00ff00ff00ff".into(),
        fix: None,
    }
}

/// One workflow command: `::level k=v,k=v::data`, per the Actions grammar.
struct Annotation {
    level: String,
    props: Vec<(String, String)>,
    data: String,
}

fn parse_annotation(line: &str) -> Option<Annotation> {
    let re = regex::Regex::new(
        r"^::(error|warning|notice)(?: ([A-Za-z]+=[^,:\r\n]*(?:,[A-Za-z]+=[^,:\r\n]*)*))?::([^\r\n]*)$",
    )
    .unwrap();
    let c = re.captures(line)?;
    let props = c
        .get(2)
        .map(|p| {
            p.as_str()
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), unescape(v))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Annotation {
        level: c[1].to_string(),
        props,
        data: unescape(&c[3]),
    })
}

fn unescape(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[test]
fn github_annotations_escape_newlines_colons_commas_and_percent() {
    let message = "Line one: 100% sure,\nline two, with :: colons\r\nend";
    let report = Report {
        verdict: Verdict::SignificantConcerns,
        tier: Tier::Full,
        findings: vec![
            finding("src/db,query:v2.rs", message, Severity::Critical),
            finding("b.rs", "plain", Severity::Warning),
            finding("c.rs", "minor", Severity::Suggestion),
        ],
        usage: Usage::default(),
        degraded: vec![redline::review::Degraded {
            reviewer: "docs".into(),
            reason: "timed out: after 60 s,\nretried".into(),
        }],
        skipped: vec![],
        dropped_findings: 0,
        truncated: vec![],
    };
    let text = redline::cli::format::github(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let parsed: Vec<Annotation> = lines
        .iter()
        .map(|l| parse_annotation(l).unwrap_or_else(|| panic!("does not parse: {l}")))
        .collect();

    let first = &parsed[0];
    assert_eq!(first.level, "error");
    assert_eq!(first.data, message);
    let prop = |a: &Annotation, k: &str| {
        a.props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {:?}", a.props))
    };
    assert_eq!(prop(first, "file"), "src/db,query:v2.rs");
    assert_eq!(prop(first, "line"), "3");
    assert_eq!(prop(first, "endLine"), "4");
    assert_eq!(prop(first, "col"), "5");
    assert!(prop(first, "title").contains("Query: built, from input"));
    assert_eq!(parsed[1].level, "warning");
    assert_eq!(parsed[2].level, "notice");
    assert_eq!(parsed[3].level, "warning");
    assert_eq!(parsed[3].data, "docs: timed out: after 60 s,\nretried");
}

#[test]
fn github_format_from_the_binary_is_all_workflow_commands() {
    let s = Sandbox::with_findings();
    let out = s.redline(&["check", "--offline", "--format", "github"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    for line in lines {
        let a = parse_annotation(line).unwrap_or_else(|| panic!("does not parse: {line}"));
        assert!(a
            .props
            .iter()
            .any(|(k, v)| k == "file" && v == "app/main.py"));
    }
}

#[test]
fn helix_snippet_adds_redline_beside_the_usual_server() {
    let text = std::fs::read_to_string(root().join("editors/helix/languages.toml")).unwrap();
    let doc: toml::Table = text.parse().expect("languages.toml is valid TOML");
    let server = &doc["language-server"]["redline"];
    // The keys Helix's `LanguageServerConfiguration` knows (helix-core
    // syntax/config.rs); anything else is a silent no-op or an error there.
    for key in server.as_table().unwrap().keys() {
        assert!(
            [
                "command",
                "args",
                "environment",
                "config",
                "timeout",
                "required-root-patterns"
            ]
            .contains(&key.as_str()),
            "Helix does not know language-server key `{key}`"
        );
    }
    assert_eq!(server["command"].as_str(), Some("redline"));
    assert_eq!(
        server["args"].as_array().unwrap(),
        &vec![toml::Value::String("lsp".into())]
    );
    if let Some(config) = server.get("config") {
        let json = serde_json::to_value(config).unwrap();
        redline::config::ConfigBuilder::new()
            .with_json(&json, redline::config::Origin::Editor)
            .build()
            .expect("the snippet's config is a valid redline configuration");
    }
    let languages = doc["language"].as_array().unwrap();
    let names: Vec<&str> = languages
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    for wanted in ["rust", "python", "typescript"] {
        assert!(names.contains(&wanted), "{wanted} missing: {names:?}");
    }
    for lang in languages {
        let servers: Vec<&str> = lang["language-servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(servers.last(), Some(&"redline"), "{lang}");
        assert!(
            servers.len() >= 2,
            "redline must be an extra server: {lang}"
        );
    }
}

const YAML_TO_JSON: &str = r#"
import json, sys, yaml
print(json.dumps(yaml.safe_load(sys.stdin), default=str))
"#;

/// Parses a CI file as YAML (through python3's PyYAML) into JSON.
fn load_yaml(rel: &str) -> (serde_json::Value, String) {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let (ok, out) = python(YAML_TO_JSON, &[], &text);
    assert!(ok, "{rel} is not valid YAML: {out}");
    (serde_json::from_str(&out).unwrap(), text)
}

/// Every `redline check ...` command of a CI file, as argument lists, with
/// the base revision replaced by `HEAD` and output redirection removed.
fn check_commands(script: &str, base_expr: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .filter_map(|l| l.split_once("redline check ").map(|(_, rest)| rest))
        .map(|rest| {
            let rest = rest.split('>').next().unwrap();
            assert!(
                rest.contains(base_expr),
                "no `--base {base_expr}` in: {rest}"
            );
            std::iter::once("check".to_string())
                .chain(
                    rest.replace(base_expr, "HEAD")
                        .split_whitespace()
                        .map(|a| a.trim_matches('"').to_string()),
                )
                .collect()
        })
        .collect()
}

/// Runs CI commands against a change with findings: none may be a usage
/// error, and each format must come out as that format.
fn run_ci_commands(commands: &[Vec<String>]) {
    let s = Sandbox::with_findings();
    for args in commands {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.push("--offline");
        let out = s.redline(&args);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{args:?}: {}",
            stderr(&out)
        );
        let text = stdout(&out);
        match args
            .iter()
            .position(|a| *a == "--format")
            .map(|i| args[i + 1])
        {
            Some("sarif") => assert!(validate_sarif(&text).0, "{args:?}"),
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            Some("github") => assert!(text.lines().all(|l| parse_annotation(l).is_some())),
            _ => assert!(text.contains("app/main.py:"), "{text}"),
        }
        if args.contains(&"never") {
            assert_eq!(code, Some(0), "--fail-on never must not fail: {args:?}");
        }
    }
}

#[test]
fn github_workflow_reviews_the_pull_request_diff_and_uploads_sarif() {
    let (doc, text) = load_yaml("editors/ci/github-workflow.yml");
    let steps = doc["jobs"]["review"]["steps"].as_array().unwrap();
    let checkout = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout"))
        })
        .expect("a checkout step");
    assert_eq!(checkout["with"]["fetch-depth"], 0);
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif"))
        })
        .expect("an upload-sarif step");
    assert_eq!(upload["with"]["sarif_file"], "redline.sarif");
    assert_eq!(
        doc["jobs"]["review"]["env"]["BASE_REF"],
        "origin/${{ github.base_ref }}"
    );
    assert_eq!(doc["permissions"]["security-events"], "write");

    let commands = check_commands(&text, "\"$BASE_REF\"");
    let formats: Vec<&str> = commands
        .iter()
        .filter_map(|c| {
            c.iter()
                .position(|a| a == "--format")
                .map(|i| c[i + 1].as_str())
        })
        .collect();
    assert_eq!(formats, ["sarif", "github"]);
    assert!(text.contains("--format sarif --fail-on never > redline.sarif"));
    run_ci_commands(&commands);
}

#[test]
fn gitlab_include_reviews_the_merge_request_diff_and_reports_code_quality() {
    let (doc, text) = load_yaml("editors/ci/gitlab-ci.yml");
    let job = &doc["redline"];
    assert_eq!(job["variables"]["GIT_DEPTH"], 0);
    assert_eq!(
        job["rules"][0]["if"],
        "$CI_PIPELINE_SOURCE == \"merge_request_event\""
    );
    assert_eq!(
        job["artifacts"]["reports"]["codequality"],
        "gl-code-quality-report.json"
    );
    let commands = check_commands(&text, "\"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"");
    assert_eq!(commands.len(), 3);
    run_ci_commands(&commands);

    // The Code Quality conversion, run on real output.
    let script = job["script"].as_array().unwrap();
    let jq_line = script
        .iter()
        .filter_map(|l| l.as_str())
        .find(|l| l.trim_start().starts_with("jq "))
        .expect("a jq conversion");
    let program = jq_line
        .trim_start()
        .strip_prefix("jq '")
        .and_then(|r| r.split_once("' redline.json"))
        .map(|(p, _)| p)
        .expect("jq '<program>' redline.json");
    let s = Sandbox::with_findings();
    let json = stdout(&s.redline(&["check", "--offline", "--format", "json"]));
    let out = {
        use std::io::Write;
        let mut child = Command::new("jq")
            .arg(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("jq is installed (see .ci/run)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(json.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issues = report.as_array().unwrap();
    assert!(issues.len() >= 3);
    for issue in issues {
        for key in ["description", "check_name", "fingerprint"] {
            assert!(
                issue[key].as_str().is_some_and(|v| !v.is_empty()),
                "{issue}"
            );
        }
        assert!(
            ["critical", "major", "minor"].contains(&issue["severity"].as_str().unwrap()),
            "{issue}"
        );
        assert_eq!(issue["location"]["path"], "app/main.py");
        assert!(issue["location"]["lines"]["begin"].as_u64().unwrap() >= 2);
    }
}

#[test]
fn init_writes_a_commented_config_that_redline_loads() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.repo().join("sub/dir")).unwrap();
    let out = s.redline_in(&s.repo().join("sub/dir"), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = s.repo().join(".redline.toml");
    let text = std::fs::read_to_string(&path).expect("written at the repository root");
    assert_eq!(text, redline::cli::init::TEMPLATE);
    assert!(stdout(&out).contains(".redline.toml"));

    let config = s.redline(&["config"]);
    assert_eq!(config.status.code(), Some(0), "{}", stderr(&config));
    assert!(stdout(&config).contains("review.trigger = \"save\""));
    // Uncommenting the endpoint is all it takes to use a model.
    std::fs::write(
        &path,
        text.replace(
            "# base_url = \"http://127.0.0.1:11434/v1\"",
            "base_url = \"http://127.0.0.1:11434/v1\"",
        ),
    )
    .unwrap();
    let config = s.redline(&["config"]);
    assert_eq!(config.status.code(), Some(0), "{}", stderr(&config));
    assert!(
        stdout(&config).contains("llm.base_url = \"http://127.0.0.1:11434/v1\""),
        "{}",
        stdout(&config)
    );
}

#[test]
fn init_never_overwrites_an_existing_config() {
    let s = Sandbox::new();
    s.write(".redline.toml", "[review]\ntrigger = \"manual\"\n");
    let out = s.redline(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert_eq!(
        std::fs::read_to_string(s.repo().join(".redline.toml")).unwrap(),
        "[review]\ntrigger = \"manual\"\n"
    );
}

#[test]
fn init_outside_a_repository_is_a_usage_error() {
    let s = Sandbox::new();
    let outside = s.path().join("plain");
    std::fs::create_dir_all(&outside).unwrap();
    let out = s.redline_in(&outside, &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!outside.join(".redline.toml").exists());
}

#[test]
fn init_stdout_prints_the_template_and_writes_nothing() {
    let s = Sandbox::new();
    let out = s.redline(&["init", "--stdout"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), redline::cli::init::TEMPLATE);
    assert!(!s.repo().join(".redline.toml").exists());
}
