//! Every built-in rule through the real binary: one change that must fire it
//! (with the severity the issue asks for) and one near miss that must not.

#[path = "support/repo.rs"]
mod repo;

use repo::{joined, TestRepo};

/// The rules (and their lines) `redline check --offline` reports when `line`
/// is added as the second line of `path`.
fn rules_for_added_line(path: &str, line: &str) -> Vec<(String, u64)> {
    let repo = TestRepo::with_commit(&[(path, "first line\n")]);
    repo.write(path, format!("first line\n{line}\n"));
    repo.check_json(&["--offline"]).rules_and_lines()
}

fn severity_of(path: &str, line: &str, rule: &str) -> String {
    let repo = TestRepo::with_commit(&[(path, "first line\n")]);
    repo.write(path, format!("first line\n{line}\n"));
    let run = repo.check_json(&["--offline"]);
    let report = run.json();
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("{rule} did not fire: {}", run.stdout))
        .clone();
    finding["severity"].as_str().expect("severity").to_string()
}

fn fires(path: &str, line: &str, rule: &str) {
    assert_eq!(
        rules_for_added_line(path, line),
        vec![(rule.to_string(), 2)],
        "{rule} on {line:?} in {path}"
    );
}

fn silent(path: &str, line: &str) {
    assert_eq!(
        rules_for_added_line(path, line),
        vec![],
        "{line:?} in {path}"
    );
}

/// Rule ids covered below; kept in sync with the rule table by
/// `every_builtin_rule_has_an_end_to_end_case`.
const COVERED: &[&str] = &[
    "secret-aws-access-key",
    "secret-private-key",
    "secret-provider-token",
    "secret-assignment",
    "secret-jwt",
    "secret-url-credentials",
    "secret-auth-header",
    "debug-dbg-macro",
    "debug-print-macro",
    "debug-console-log",
    "debug-print",
    "debug-debugger-statement",
    "debug-breakpoint",
    "danger-eval",
    "danger-exec",
    "danger-shell-true",
    "danger-pickle-loads",
    "danger-sql-string",
    "todo-comment",
];

#[test]
fn every_builtin_rule_has_an_end_to_end_case() {
    let mut rules: Vec<&str> = redline::review::builtin::RULES
        .iter()
        .map(|r| r.id)
        .collect();
    let mut covered = COVERED.to_vec();
    rules.sort();
    covered.sort();
    assert_eq!(
        rules, covered,
        "add a positive and a negative case per rule"
    );
}

#[test]
fn aws_access_key_is_critical() {
    let line = format!("aws_id = {}", joined(&["AKIA", "Z7QW3RT5YU8IOP2L"]));
    fires("deploy.sh", &line, "secret-aws-access-key");
    assert_eq!(
        severity_of("deploy.sh", &line, "secret-aws-access-key"),
        "critical"
    );
}

#[test]
fn short_akia_word_is_not_an_aws_key() {
    silent("notes.txt", "the AKIA1234 prefix marks user keys");
}

#[test]
fn private_key_block_is_critical() {
    // The header, then the key's body on the following lines.
    let block = joined(&[
        "-----BEGIN RSA ",
        "PRIVATE KEY-----\n",
        "MIIEpAIBAAKCAQEAz8Xk2LmQ9vTn3Wp7Rc5Yb1Hd4Fg6Js0Ka2Nl8MoQ\n",
        "-----END RSA PRIVATE KEY-----",
    ]);
    fires("id_rsa.txt", &block, "secret-private-key");
    assert_eq!(
        severity_of("id_rsa.txt", &block, "secret-private-key"),
        "critical"
    );
}

#[test]
fn private_key_header_in_code_without_a_body_is_not_a_key() {
    silent(
        "pem.py",
        &format!(
            "if line.startswith(\"{}\"):",
            joined(&["-----BEGIN RSA ", "PRIVATE KEY-----"])
        ),
    );
}

#[test]
fn public_key_block_is_not_a_secret() {
    silent("id_rsa.pub.txt", "-----BEGIN PUBLIC KEY-----");
}

#[test]
fn github_token_with_its_prefix_is_critical() {
    let line = format!(
        "token: {}",
        joined(&["ghp_", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"])
    );
    fires("ci.yml", &line, "secret-provider-token");
    assert_eq!(
        severity_of("ci.yml", &line, "secret-provider-token"),
        "critical"
    );
}

#[test]
fn provider_prefix_on_a_short_word_is_not_a_token() {
    silent("notes.md", "see ghp_docs and sk-learn for details");
}

#[test]
fn api_key_assigned_a_random_literal_is_critical() {
    let line = format!("api_key = \"{}\"", joined(&["q8Zr2Lm", "X9vTa7KpW"]));
    fires("settings.py", &line, "secret-assignment");
    assert_eq!(
        severity_of("settings.py", &line, "secret-assignment"),
        "critical"
    );
}

#[test]
fn placeholder_password_is_not_a_credential() {
    silent("settings.py", "password = \"changeme123\"");
    silent("settings.py", "api_key = os.environ[\"API_KEY\"]");
}

#[test]
fn unquoted_dotenv_token_is_critical() {
    let line = format!("API_TOKEN={}", joined(&["q8Zr2Lm", "X9vTa7KpW3n"]));
    fires(".env.production", &line, "secret-assignment");
    assert_eq!(
        severity_of(
            "config.yml",
            &format!("api_token: {}", joined(&["q8Zr2Lm", "X9vTa7KpW3n"])),
            "secret-assignment"
        ),
        "critical"
    );
}

#[test]
fn documented_example_aws_key_and_x_placeholder_are_silent() {
    silent("README.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE");
    silent("ci.yml", "token: ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

#[test]
fn jwt_is_critical() {
    let line = format!(
        "SUPABASE_SERVICE_KEY={}",
        joined(&[
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
            "eyJyb2xlIjoic2VydmljZSIsImlhdCI6MTcwMDAwMDAwMH0.",
            "k9Qz7Lr2WmX4nT8vB1cY6pD3sF5gH0jK"
        ])
    );
    fires("app.env", &line, "secret-jwt");
    assert_eq!(severity_of("app.env", &line, "secret-jwt"), "critical");
}

#[test]
fn three_dotted_words_are_not_a_jwt() {
    silent(
        "app.js",
        "const path = \"eyJust.eyJoking.aroundHereToday\";",
    );
}

#[test]
fn password_inside_a_url_is_critical() {
    let line = format!(
        "DATABASE_URL=postgres://app:{}@db.internal:5432/prod",
        joined(&["Xk82", "mQp1z"])
    );
    fires("settings.cfg", &line, "secret-url-credentials");
    assert_eq!(
        severity_of("settings.cfg", &line, "secret-url-credentials"),
        "critical"
    );
}

#[test]
fn url_with_a_placeholder_password_is_fine() {
    silent(
        "settings.cfg",
        "DATABASE_URL=postgres://user:${DB_PASSWORD}@localhost/app",
    );
}

#[test]
fn literal_bearer_header_and_curl_user_are_critical() {
    let line = format!(
        "curl -H 'Authorization: Bearer {}' https://api.example.com",
        joined(&["8f2kQ9zL", "m3Xv7TnR4pWc"])
    );
    fires("deploy.sh", &line, "secret-auth-header");
    assert_eq!(
        severity_of("deploy.sh", &line, "secret-auth-header"),
        "critical"
    );
    fires(
        "deploy.sh",
        &format!("curl -u deploy:{} https://ci", joined(&["Qm82", "kLz9x"])),
        "secret-auth-header",
    );
}

#[test]
fn header_from_a_variable_is_fine() {
    silent(
        "deploy.sh",
        "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.example.com",
    );
}

#[test]
fn inline_allow_markers_silence_a_finding() {
    let key = format!("api_key = \"{}\"", joined(&["q8Zr2Lm", "X9vTa7KpW"]));
    silent("settings.py", &format!("{key}  # gitleaks:allow"));
    silent("settings.py", &format!("{key}  # pragma: allowlist secret"));
    silent("settings.py", &format!("{key}  # redline: allow"));
    let repo = TestRepo::with_commit(&[("settings.py", "first line\n")]);
    repo.write(
        "settings.py",
        format!("first line\n# redline: allow secret-assignment\n{key}\n"),
    );
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
}

#[test]
fn builtin_table_turns_rules_off_globally_and_per_path() {
    let key = format!("api_key = \"{}\"", joined(&["q8Zr2Lm", "X9vTa7KpW"]));
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n"), ("tests/fixtures/b.py", "x = 1\n")]);
    repo.write(
        ".redline.toml",
        "[builtin]\ndisable = [\"todo-comment\"]\n[builtin.disable_in]\n\"tests/fixtures/**\" = [\"secret-*\"]\n",
    );
    let text = format!("x = 1\n{key}  # TODO rotate\n");
    repo.write("a.py", &text);
    repo.write("tests/fixtures/b.py", &text);
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![("secret-assignment".to_string(), 2)]
    );
}

#[test]
fn builtin_table_naming_no_rule_is_a_configuration_error() {
    let repo = TestRepo::with_commit(&[("a.py", "x = 1\n")]);
    repo.write(".redline.toml", "[builtin]\ndisable = [\"todo-coment\"]\n");
    let (code, _, stderr) = repo.run_check(&["--offline"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("todo-coment"), "{stderr}");
}

#[test]
fn dbg_macro_in_rust_is_a_suggestion() {
    fires("src/lib.rs", "    dbg!(&value);", "debug-dbg-macro");
    assert_eq!(
        severity_of("src/lib.rs", "dbg!(x);", "debug-dbg-macro"),
        "suggestion"
    );
}

#[test]
fn debug_formatted_println_in_library_code_is_a_suggestion() {
    fires(
        "src/lib.rs",
        "    println!(\"{:?}\", value);",
        "debug-print-macro",
    );
    assert_eq!(
        severity_of(
            "src/lib.rs",
            "eprintln!(\"{value:#?}\");",
            "debug-print-macro"
        ),
        "suggestion"
    );
}

#[test]
fn println_with_display_formatting_is_not_debugging() {
    silent("src/lib.rs", "    println!(\"{} files\", n);");
}

#[test]
fn commented_out_dbg_macro_is_not_flagged() {
    silent("src/lib.rs", "// dbg!(&value);");
}

#[test]
fn console_log_in_javascript_is_a_suggestion() {
    fires("app.js", "console.log(user);", "debug-console-log");
    assert_eq!(
        severity_of("app.ts", "console.log(user);", "debug-console-log"),
        "suggestion"
    );
}

#[test]
fn project_logger_call_is_not_console_log() {
    silent("app.js", "logger.log(user);");
}

#[test]
fn bare_print_in_python_is_a_suggestion() {
    fires("tool.py", "print(\"got here\", x)", "debug-print");
    assert_eq!(
        severity_of("tool.py", "print(x)", "debug-print"),
        "suggestion"
    );
}

#[test]
fn a_function_named_printer_is_not_print_debugging() {
    silent("tool.py", "printer(x)");
}

#[test]
fn debugger_statement_is_a_suggestion() {
    fires("app.js", "  debugger;", "debug-debugger-statement");
    assert_eq!(
        severity_of("app.js", "debugger;", "debug-debugger-statement"),
        "suggestion"
    );
}

#[test]
fn a_variable_named_debugger_enabled_is_not_a_statement() {
    silent("app.js", "const debuggerEnabled = false;");
}

#[test]
fn python_breakpoint_is_a_suggestion() {
    fires("tool.py", "    breakpoint()", "debug-breakpoint");
    assert_eq!(
        severity_of("tool.py", "import pdb; pdb.set_trace()", "debug-breakpoint"),
        "suggestion"
    );
}

#[test]
fn a_function_that_sets_a_breakpoint_is_not_one() {
    silent("tool.py", "set_breakpoint(line)");
}

#[test]
fn eval_of_dynamic_code_is_a_warning() {
    fires("app.js", "const v = eval(input);", "danger-eval");
    assert_eq!(
        severity_of("tool.py", "v = eval(text)", "danger-eval"),
        "warning"
    );
}

#[test]
fn a_method_called_eval_is_not_eval() {
    silent("app.py", "result = model.eval(batch)");
}

#[test]
fn shell_command_execution_is_a_warning() {
    fires("tool.py", "os.system(\"rm -rf \" + path)", "danger-exec");
    assert_eq!(
        severity_of("tool.py", "exec(code)", "danger-exec"),
        "warning"
    );
}

#[test]
fn regex_exec_is_not_code_execution() {
    silent("app.js", "const m = pattern.exec(line);");
}

#[test]
fn shell_true_is_a_warning() {
    fires(
        "tool.py",
        "subprocess.run(cmd, shell=True, check=True)",
        "danger-shell-true",
    );
    assert_eq!(
        severity_of(
            "tool.py",
            "subprocess.call(c, shell=True)",
            "danger-shell-true"
        ),
        "warning"
    );
}

#[test]
fn shell_false_is_fine() {
    silent("tool.py", "subprocess.run([\"ls\", path], shell=False)");
}

#[test]
fn unpickling_is_a_warning() {
    fires(
        "worker.py",
        "job = pickle.loads(request.body)",
        "danger-pickle-loads",
    );
    assert_eq!(
        severity_of("worker.py", "pickle.load(f)", "danger-pickle-loads"),
        "warning"
    );
}

#[test]
fn json_loads_is_not_unpickling() {
    silent("worker.py", "job = json.loads(request.body)");
}

#[test]
fn sql_built_by_concatenation_is_a_warning() {
    fires(
        "db.js",
        "db.query(\"SELECT * FROM users WHERE name = '\" + name + \"'\");",
        "danger-sql-string",
    );
    assert_eq!(
        severity_of(
            "db.py",
            "q = f\"DELETE FROM jobs WHERE id = {job_id}\"",
            "danger-sql-string"
        ),
        "warning"
    );
}

#[test]
fn prose_that_mentions_select_and_from_is_not_sql() {
    silent(
        "ui.js",
        "alert(\"Please select a file from the list: \" + name);",
    );
}

#[test]
fn parameterised_sql_is_fine() {
    silent(
        "db.py",
        "cur.execute(\"SELECT * FROM users WHERE name = %s\", (name,))",
    );
}

#[test]
fn new_fixme_is_a_suggestion() {
    fires("lib.go", "// FIXME: handle the timeout", "todo-comment");
    assert_eq!(
        severity_of("lib.go", "// TODO(me): later", "todo-comment"),
        "suggestion"
    );
}

#[test]
fn words_that_contain_todo_are_not_todos() {
    silent("lib.go", "var TODOS = todoList()");
}
