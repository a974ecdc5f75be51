//! The built-in rules' judgement, through the real binary: a rule fires on
//! what a change introduces, where it applies (code rules in code, task
//! markers in comments), and not on output that is the program's job.

#[path = "support/repo.rs"]
mod repo;

use repo::{joined, TestRepo};

/// `(rule, line)` of `check --offline` after `path` goes from `before`
/// (committed) to `after` (working tree).
fn findings(path: &str, before: &str, after: &str) -> Vec<(String, u64)> {
    let repo = TestRepo::with_commit(&[(path, before)]);
    repo.write(path, after);
    repo.check_json(&["--offline"]).rules_and_lines()
}

/// `(rule, line)` when `text` is a new file at `path`.
fn new_file(path: &str, text: &str) -> Vec<(String, u64)> {
    let repo = TestRepo::with_commit(&[("README.md", "# x\n")]);
    repo.write(path, text);
    repo.check_json(&["--offline"]).rules_and_lines()
}

fn rule(id: &str, line: u64) -> (String, u64) {
    (id.to_string(), line)
}

// Regions: code rules in code, task markers in comments.

#[test]
fn eval_inside_a_string_literal_is_text_not_a_call() {
    let payload = "const payload = \"<img src=x onerror=eval(alert(1))>\";\n";
    assert_eq!(new_file("test/xss.js", payload), vec![]);
    assert_eq!(new_file("lib/xss.py", "P = 'eval(1)'\n"), vec![]);
}

#[test]
fn a_method_named_exec_and_a_pickle_round_trip_run_nothing_dangerous() {
    let js = "class Runner {\n  async exec(t, run) {\n    return run(t);\n  }\n}\n";
    assert_eq!(new_file("lib/runner.js", js), vec![]);
    let py = "def exec(self, query):\n    return self.db.run(query)\n\ncopy = pickle.loads(pickle.dumps(request))\n";
    assert_eq!(new_file("lib/db.py", py), vec![]);
    // The calls themselves are still found.
    let calls = "out = exec(code)\nobj = pickle.loads(payload)\n";
    assert_eq!(
        new_file("lib/run.py", calls),
        vec![rule("danger-exec", 1), rule("danger-pickle-loads", 2)]
    );
}

#[test]
fn shell_true_on_a_constant_command_is_safe_and_on_built_input_is_not() {
    let py = "import subprocess\n\nsubprocess.run(\"make docs\", shell=True, check=True)\nsubprocess.check_call(\n    \"git status --short\",\n    shell=True,\n)\nsubprocess.run(f\"git log {ref}\", shell=True)\nsubprocess.run(\"rm -rf \" + path, shell=True)\n";
    assert_eq!(
        new_file("pkg/release.py", py),
        vec![rule("danger-shell-true", 8), rule("danger-shell-true", 9)]
    );
}

#[test]
fn eval_after_a_string_that_mentions_it_is_still_found() {
    let text = "const s = \"eval(x)\"; const v = eval(input);\n";
    assert_eq!(new_file("lib/a.js", text), vec![rule("danger-eval", 1)]);
}

#[test]
fn code_rules_do_not_fire_in_comments_or_multi_line_strings() {
    let text =
        "\"\"\"Usage:\n    print(x)\n    pickle.loads(data)\n\"\"\"\n# os.system(cmd)\nx = 1\n";
    assert_eq!(new_file("lib/m.py", text), vec![]);
}

#[test]
fn todo_counts_in_comments_and_docstrings_not_in_strings_or_names() {
    let text = "def f():\n    \"\"\"TODO: document\"\"\"\n    label = \"TODO\"\n    todo_items = []  # FIXME: cap the size\n";
    assert_eq!(
        new_file("lib/m.py", text),
        vec![rule("todo-comment", 2), rule("todo-comment", 4)]
    );
}

#[test]
fn todo_in_a_file_without_a_grammar_counts_only_in_its_comments() {
    let text = "name: build\n# TODO: pin the image\nrun: echo \"TODO list\"\n";
    assert_eq!(new_file("ci.yml", text), vec![rule("todo-comment", 2)]);
}

#[test]
fn in_a_changelog_only_a_task_marker_is_a_todo_never_a_placeholder() {
    let text =
        "## 1.2.0\n\n- TODO.\n- Added the TODO list view.\n\nTODO: write the upgrade notes\n";
    assert_eq!(
        findings("CHANGELOG.md", "# Changes\n", &format!("# Changes\n{text}")),
        vec![rule("todo-comment", 7)]
    );
}

#[test]
fn a_templates_instruction_to_its_reader_is_not_a_task() {
    let ci = "install:\n  # TODO modify this phase as you see fit\n  - cargo build\n  # TODO: drop this once 1.80 is the MSRV\n  - cargo test\n  # TODO: see if you can drop this\n";
    assert_eq!(
        new_file("appveyor.yml", ci),
        vec![rule("todo-comment", 4), rule("todo-comment", 6)]
    );
}

#[test]
fn todo_as_a_word_inside_a_sentence_is_not_a_task() {
    let go = "package rebase\n\n// is from a TODO file for an interactive rebase.\n// this is where my non-TODO commits begin\nfunc a() {} // TODO: split\n// but we only use one. (TODO)\n/* FIXME handle errors */\n";
    assert_eq!(
        new_file("pkg/rebase.go", go),
        vec![
            rule("todo-comment", 5),
            rule("todo-comment", 6),
            rule("todo-comment", 7)
        ]
    );
}

#[test]
fn a_todo_that_says_nothing_in_prose_is_a_placeholder() {
    let before = "# Changes\n\n* `Arg::empty_values`\n";
    let after = "# Changes\n\n* `Arg::empty_values` in favor of TODO:\n* TODO: link the new API\n";
    assert_eq!(
        findings("CHANGELOG.md", before, after),
        vec![rule("todo-comment", 4)]
    );
}

#[test]
fn a_task_copied_from_one_that_stays_in_the_file_is_not_new() {
    let before = "def test_exclude():\n    run()\n    # TODO: also check exclude during reloads\n";
    let after = format!(
        "{before}\n\ndef test_exclude_current():\n    run()\n    # TODO: also check exclude during reloads\n    # TODO: check the header too\n    # TODO\n"
    );
    assert_eq!(
        findings("tests/test_core.py", before, &after),
        vec![rule("todo-comment", 9), rule("todo-comment", 10)]
    );
}

#[test]
fn the_same_call_moved_into_another_statement_is_not_new() {
    let middle: String = (0..12)
        .map(|i| format!("\n\ndef f{i}():\n    return {i}\n"))
        .collect();
    let before = format!("import pickle\n\n\ndef read(fobj):\n    cache = pickle.load(fobj)\n    return cache\n{middle}");
    let after = format!("import pickle\n{middle}\n\ndef read_safely(fobj):\n    try:\n        data: dict = pickle.load(fobj)\n    except ValueError:\n        data = {{}}\n    return data\n\n\ndef other(blob):\n    return pickle.loads(blob)\n");
    let found = findings("pkg/cache.py", &before, &after);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "danger-pickle-loads");
    assert!(after
        .lines()
        .nth(found[0].1 as usize - 1)
        .is_some_and(|l| l.contains("loads(blob)")));
}

#[test]
fn a_note_turned_into_a_task_or_a_misspelt_marker_corrected_is_not_new() {
    let before = "function f() {\n  // remove once Node.js fixes the problem.\n  g();\n  // TOOD: find a way to bring this back\n  h();\n  // the cache is warm here\n  k();\n}\n";
    let after = "function f() {\n  // TODO: remove once Node.js fixes the problem.\n  g();\n  // TODO: find a way to bring this back\n  h();\n  // TODO: evict the cache on reload\n  k();\n}\n";
    assert_eq!(
        findings("lib/f.js", before, after),
        vec![rule("todo-comment", 6)]
    );
}

#[test]
fn a_task_kept_by_each_part_of_a_split_file_is_not_new() {
    let repo = TestRepo::with_commit(&[(
        "tests/test_all.py",
        "def test_a():\n    # TODO: when dropping Python 3.6, remove this branch\n    assert a()\n\n\ndef test_b():\n    assert b()\n",
    )]);
    repo.remove("tests/test_all.py");
    for part in ["a", "b", "c"] {
        repo.write(
            &format!("tests/test_part_{part}.py"),
            format!("def test_{part}():\n    # TODO: when dropping Python 3.6, remove this branch\n    assert {part}()\n"),
        );
    }
    repo.write(
        "tests/test_new.py",
        "def test_n():\n    # TODO: cover the new flag\n    assert n()\n",
    );
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("todo-comment", 2)]
    );
}

#[test]
fn a_task_pasted_with_its_code_from_a_file_the_change_leaves_alone_is_not_new() {
    let template = "jobs:\n  build:\n    steps:\n      - uses: actions/checkout@v4\n      # TODO: pin the toolchain once the next release is out\n      - run: make build\n";
    let repo = TestRepo::with_commit(&[
        (".github/workflows/ci.yml", template),
        ("README.md", "# x\n"),
    ]);
    // A new workflow made from the template keeps its task: not written here.
    let release: String = (0..12)
        .map(|i| format!("  publish{i}:\n    runs-on: ubuntu-latest\n"))
        .collect();
    repo.write(
        ".github/workflows/release.yml",
        format!("name: release\n{template}{release}"),
    );
    // The same words beside other code, and a task of its own, are new.
    repo.write(
        ".github/workflows/docs.yml",
        "jobs:\n  docs:\n    steps:\n      # TODO: pin the toolchain once the next release is out\n      - run: make docs\n      # TODO: publish the docs on tags only\n      - run: make publish\n",
    );
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("todo-comment", 4), rule("todo-comment", 6)]
    );
}

#[test]
fn a_dangerous_call_a_revert_brings_back_alone_is_not_new() {
    let with_call =
        "def restore(pickled_value):\n    value = pickle.loads(pickled_value)\n    return value\n";
    let repo = TestRepo::with_commit(&[("pkg/state.py", with_call)]);
    repo.write(
        "pkg/state.py",
        "def restore(pickled_value):\n    return None\n",
    );
    repo.commit("Revert the unpickling");
    repo.write("pkg/state.py", with_call);
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
}

#[test]
fn a_task_or_print_a_revert_brings_back_is_not_new() {
    let with_task = "def sync():\n    # TODO: retry when the server answers 503 with Retry-After\n    # TODO: remove\n    print(\"pushing\", len(pending_changes))\n    return push()\n";
    let repo = TestRepo::with_commit(&[("app/sync.py", with_task)]);
    repo.write("app/sync.py", "def sync():\n    return push()\n");
    repo.commit("resolve the tasks");
    // The revert restores the lines; a short leftover typed again is
    // reported, as is a task of its own.
    repo.write(
        "app/sync.py",
        format!("{with_task}\n\ndef pull():\n    # TODO: page through results beyond the first hundred\n    return fetch()\n"),
    );
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("todo-comment", 3), rule("todo-comment", 9)]
    );
}

// Intent: printing that is the program's job.

#[test]
fn print_to_a_stream_is_intended_output() {
    let text = "import sys\n\ndef warn(msg):\n    print(\"warning:\", msg, file=sys.stderr)\n    print(\n        msg,\n        file=sys.stderr,\n    )\n";
    assert_eq!(new_file("lib/util.py", text), vec![]);
}

#[test]
fn a_module_with_a_main_guard_is_a_script_and_prints_on_purpose() {
    let text = "def compute(x):\n    print(x)\n    return x\n\nif __name__ == \"__main__\":\n    print(compute(2))\n";
    assert_eq!(new_file("lib/calc.py", text), vec![]);
}

#[test]
fn a_node_script_that_exports_nothing_and_exits_prints_on_purpose() {
    let script = "import { program } from '../esm.mjs';\n\nfunction check(condition, explanation) {\n  if (!condition) {\n    console.log(`Failed assertion: ${explanation}`);\n    process.exit(2);\n  }\n}\n\nconsole.log('Checking program');\ncheck(typeof program === 'object', 'program is object');\nconsole.log('No problems');\n";
    assert_eq!(new_file("tests/esm-test.mjs", script), vec![]);
    // A library that exits on a fatal error still has its leftovers.
    let lib = "function fail(code) {\n  process.exit(code);\n}\n\nfunction parse(args) {\n  console.log(args);\n  return args.slice(2);\n}\n\nmodule.exports = { fail, parse };\n";
    assert_eq!(
        new_file("lib/command.js", lib),
        vec![rule("debug-console-log", 6)]
    );
}

#[test]
fn main_of_a_command_line_program_prints_on_purpose_and_its_helpers_do_not() {
    let cli = "import argparse\n\ndef parse(argv):\n    print(argv)\n    return argv\n\ndef main():\n    print(parse(None))\n";
    assert_eq!(new_file("lib/tool.py", cli), vec![rule("debug-print", 4)]);
    let library = "def main():\n    print(1)\n";
    assert_eq!(
        new_file("lib/core.py", library),
        vec![rule("debug-print", 2)]
    );
    let node = "#!/usr/bin/env node\nconsole.log(process.version);\n";
    assert_eq!(new_file("lib/cli.js", node), vec![]);
}

#[test]
fn a_message_printed_before_the_program_exits_is_for_its_user() {
    let py = "try:\n    from ._main import main\nexcept ImportError:\n    def main():\n        import sys\n\n        print(\n            \"The command line client could not run: \"\n            \"pip install 'tool[cli]'\"\n        )\n        sys.exit(1)\n\ndef load(path):\n    print(path)\n    return open(path)\n";
    assert_eq!(
        new_file("lib/__init__.py", py),
        vec![rule("debug-print", 14)]
    );
    let js = "function need(v) {\n  if (!v) {\n    console.log('missing value');\n    process.exit(2);\n  }\n}\n";
    assert_eq!(new_file("lib/need.js", js), vec![]);
}

#[test]
fn command_handlers_and_output_routines_print_on_purpose() {
    let text = "def list_command(args):\n    for name in args.names:\n        print(name)\n\ndef print_usage():\n    print(\"Usage: tool [options]\")\n\ndef load(path):\n    print(path)\n";
    assert_eq!(
        new_file("lib/sessions.py", text),
        vec![rule("debug-print", 9)]
    );
}

#[test]
fn output_behind_a_verbose_or_debug_guard_is_opt_in() {
    let py = "def load(path, verbose=False):\n    if verbose:\n        print(path)\n";
    assert_eq!(new_file("lib/load.py", py), vec![]);
    let js = "function boot(app, verbose) {\n  verbose && console.log('routes', app.routes);\n  if (!module.parent) console.log('listening');\n}\n";
    assert_eq!(new_file("lib/boot.js", js), vec![]);
}

#[test]
fn messages_for_users_are_not_debugging() {
    let js = "function verb(path) {\n  console.trace('passing an array to app.VERB() is deprecated');\n}\n";
    assert_eq!(new_file("lib/app.js", js), vec![]);
    let py = "def check(args):\n    print(\"Warning: --foo is ignored\")\n";
    assert_eq!(new_file("lib/check.py", py), vec![]);
    let banner = "server.listen(3000, () => {\n  console.log('listening on port 3000');\n});\n";
    assert_eq!(new_file("lib/server.js", banner), vec![]);
    let failure = "server.on('error', (err) => { console.log('Server error', err) })\nconsole.log('data', error)\ntry {\n  run()\n} catch (e) {\n  console.log('run failed:', e)\n}\nconsole.log(`pipeline error: ${e}`)\n";
    assert_eq!(
        new_file("lib/proxy.js", failure),
        vec![rule("debug-console-log", 2), rule("debug-console-log", 8)]
    );
    // In a test the same handler's print is a leftover like any other.
    let in_test = "server.on('error', (err) => { console.log('Server error', err) })\nassert.ok(server.listening)\n";
    assert_eq!(
        new_file("test/proxy.test.js", in_test),
        vec![rule("debug-console-log", 1)]
    );
}

#[test]
fn a_blank_line_printed_for_spacing_is_not_debugging() {
    let text =
        "function report(rows) {\n  console.log('');\n  console.log();\n  console.log(rows);\n}\n";
    assert_eq!(
        new_file("lib/report.js", text),
        vec![rule("debug-console-log", 4)]
    );
    let py = "def report(rows):\n    print()\n    print(\"\")\n    print(rows)\n";
    assert_eq!(new_file("lib/report.py", py), vec![rule("debug-print", 4)]);
}

#[test]
fn a_print_that_a_test_expects_to_throw_is_the_expression_under_test() {
    let text = "test('throws on a bad style', t => {\n  try {\n    console.log(ctx`{keyword(????) hi}`);\n    t.fail();\n  } catch (err) {\n    t.is(err.message, 'bad');\n  }\n  t.throws(() => console.log(ctx`{red hi!}}`));\n  console.log(ctx);\n});\n";
    assert_eq!(
        new_file("test/template.js", text),
        vec![rule("debug-console-log", 9)]
    );
}

#[test]
fn a_print_inside_a_helper_that_captures_the_output_is_the_output_under_test() {
    let test = "describe('getCompletion()', function () {\n  it('returns completions', function () {\n    var r = checkUsage(function () {\n      yargs().getCompletion([''], function (completions) {\n        completions.forEach(function (c) {\n          console.log(c)\n        })\n      })\n    })\n    r.logs.should.include('apple')\n  })\n})\n";
    assert_eq!(new_file("test/completion.js", test), vec![]);
}

#[test]
fn a_task_runners_file_prints_on_purpose() {
    for path in ["invokefile.py", "fabfile.py", "dodo.py"] {
        assert_eq!(new_file(path, "print(\"Building!\")\n"), vec![], "{path}");
    }
}

#[test]
fn a_print_left_in_a_test_is_still_a_leftover() {
    let text = "def test_get(http):\n    r = http('GET', '/')\n    print(r)\n    assert r.ok\n";
    assert_eq!(
        new_file("tests/test_get.py", text),
        vec![rule("debug-print", 3)]
    );
}

#[test]
fn a_rust_test_that_only_prints_prints_on_purpose() {
    let lib = "pub fn host() -> String { String::new() }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn print_host() {\n        println!(\"{:?}\", super::host());\n    }\n\n    #[test]\n    fn host_is_empty() {\n        let h = super::host();\n        println!(\"{:?}\", h);\n        assert!(h.is_empty());\n    }\n}\n";
    assert_eq!(
        new_file("src/lib.rs", lib),
        vec![rule("debug-print-macro", 13)]
    );
}

#[test]
fn examples_docs_scripts_and_benchmarks_print_on_purpose() {
    for path in [
        "examples/demo.js",
        "packages/ui/examples/demo.js",
        "scripts/release.js",
        "docs/contributors/fetch.js",
        "benchmarks/run.js",
        "docs_src/python_types/tutorial006.js",
        "tutorial/step1.js",
        "play.ts",
        "packages/core/playground.mjs",
    ] {
        assert_eq!(new_file(path, "console.log(result);\n"), vec![], "{path}");
    }
    assert_eq!(
        new_file("src/app.js", "console.log(result);\n"),
        vec![rule("debug-console-log", 1)]
    );
}

#[test]
fn output_paths_in_the_builtin_table_replace_the_default_list() {
    let repo = TestRepo::with_commit(&[("README.md", "# x\n")]);
    repo.write(".redline.toml", "[builtin]\noutput_paths = [\"demo/**\"]\n");
    repo.write("demo/a.js", "console.log(result);\n");
    repo.write("examples/b.js", "console.log(result);\n");
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("debug-console-log", 1)]
    );
    let shown = repo.redline(&["config"]).output().expect("config runs");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("builtin.output_paths") && shown.contains("demo/**"),
        "{shown}"
    );
}

#[test]
fn console_debug_and_trace_are_leftovers_and_console_error_is_not() {
    let text = "function f(x) {\n  console.debug(x);\n  console.trace();\n  console.error(\"failed\", x);\n  console.warn(\"deprecated\");\n}\n";
    assert_eq!(
        new_file("src/f.js", text),
        vec![rule("debug-console-log", 2), rule("debug-console-log", 3)]
    );
}

#[test]
fn println_of_a_debug_value_in_library_code_is_a_leftover() {
    let text = "pub fn f(x: &[u8]) -> usize {\n    println!(\"{:?}\", x);\n    eprintln!(\"len {len:#?}\", len = x.len());\n    println!(\"{} bytes\", x.len());\n    x.len()\n}\n";
    assert_eq!(
        new_file("src/parse.rs", text),
        vec![rule("debug-print-macro", 2), rule("debug-print-macro", 3)]
    );
}

#[test]
fn println_in_binaries_is_intended() {
    let main = "fn main() {\n    let args: Vec<String> = std::env::args().collect();\n    eprintln!(\"{:?}\", args);\n}\n";
    assert_eq!(new_file("src/main.rs", main), vec![]);
    assert_eq!(new_file("crates/gen/src/other.rs", main), vec![]);
}

// Generated files get the secret rules only.

#[test]
fn a_generated_bundle_gets_the_secret_rules_only() {
    let key = format!("api_key = \"{}\"", joined(&["q8Zr2Lm", "X9vTa7KpW"]));
    let text = format!("// @generated by webpack\nconsole.log(x); // TODO\nvar {key};\n");
    assert_eq!(
        new_file("static/app.js", &text),
        vec![rule("secret-assignment", 3)]
    );
}

#[test]
fn a_lock_file_names_packages_not_credentials_but_a_registry_password_counts() {
    let lock = "packages:\n\n  vite-plugin-x@1.0.0:\n    dependencies:\n      '@octokit/auth-token': 4.0.0(@octokit/core@5.0.0)(encoding@0.1.13)\n      keyv: 4.5.4(@keyv/redis@2.8.0)(@keyv/sqlite@3.6.6)\n      secretlint-rule: 8.1.0(typescript@5.3.3)(@types/node@20.10.5)\n";
    assert_eq!(new_file("pnpm-lock.yaml", lock), vec![]);
    let leaked = "\"x@1.0.0\":\n  resolved \"https://deploy:Xk9vR2qLm7wPz4Tb@registry.internal/x/-/x-1.0.0.tgz\"\n";
    assert_eq!(
        new_file("yarn.lock", leaked),
        vec![rule("secret-url-credentials", 2)]
    );
}

#[test]
fn build_output_and_test_fixtures_get_the_secret_rules_only() {
    let key = format!("api_key = \"{}\"", joined(&["q8Zr2Lm", "X9vTa7KpW"]));
    // An unminified bundle under dist/ is the build's, not the author's.
    let bundle = format!("function f(x) {{\n  console.log(x); // TODO\n  var {key};\n}}\n");
    assert_eq!(
        new_file("dist/lib.js", &bundle),
        vec![rule("secret-assignment", 3)]
    );
    // A fixture is a test's input: its prints and TODOs are data.
    let fixture = format!("print(x)  # TODO\n{key}\n");
    assert_eq!(
        new_file("tests/fixtures/sample.py", &fixture),
        vec![rule("secret-assignment", 2)]
    );
    // The same lines in the test itself are reported.
    assert_eq!(
        new_file(
            "tests/test_sample.py",
            "def test_a():\n    print(x)  # TODO\n    assert x\n"
        ),
        vec![rule("debug-print", 2), rule("todo-comment", 2)]
    );
}

// Only what the change introduces.

#[test]
fn a_reindented_or_reformatted_line_is_not_reported_again() {
    let before = "def f(x):\n    print(x)  # TODO: remove\n    return x\n";
    let after =
        "class A:\n    def f(self, x):\n        print( x )  # TODO: remove\n        return x\n";
    assert_eq!(findings("lib/a.py", before, after), vec![]);
}

#[test]
fn a_committed_secret_on_a_requoted_line_is_not_news_but_a_new_one_is() {
    let before = "Run it:\n\n    $ export SECRET_KEY='5f352379324c22463451387a0aec5d2f'\n";
    let requoted = "Run it:\n\n    $ export SECRET_KEY=\"5f352379324c22463451387a0aec5d2f\"\n";
    assert_eq!(findings("deploy.sh", before, requoted), vec![]);
    let rotated = "Run it:\n\n    $ export SECRET_KEY=\"9a1c4e7b20d3f86e5b7a9c0d1e2f3a4b\"\n";
    assert_eq!(
        findings("deploy.sh", before, rotated),
        vec![rule("secret-assignment", 3)]
    );
    // A private key's header is the same for every key: a new key that
    // replaces an old one is reported.
    let key = |body: &str| {
        format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n")
    };
    assert_eq!(
        findings(
            "deploy/id_rsa",
            &key("MIIEogIBAAKCAQEAqbKP9hmkPn0GnLjDep/pXMzD25QGxan4g/iSXvPlyYYdhQef"),
            &key("MIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumPzXu7hsDCGXlkPuYhxKvKe2")
        ),
        vec![rule("secret-private-key", 2)]
    );
}

#[test]
fn a_renamed_variable_does_not_make_its_line_new() {
    let before = "def f(user):\n    print(user)\n    return user\n";
    let after = "def f(account):\n    print(account)\n    return account\n";
    assert_eq!(findings("lib/a.py", before, after), vec![]);
}

#[test]
fn a_rewrapped_call_is_not_new_but_a_second_copy_is() {
    let before = "def f(a, b):\n    print(a, b)\n    return a\n";
    let rewrapped = "def f(a, b):\n    print(\n        a,\n        b,\n    )\n    return a\n";
    assert_eq!(findings("lib/a.py", before, rewrapped), vec![]);
    let doubled = "def f(a, b):\n    print(a, b)\n    return a\n\ndef g(a, b):\n    print(a, b)\n    return b\n";
    assert_eq!(
        findings("lib/a.py", before, doubled),
        vec![rule("debug-print", 6)]
    );
}

#[test]
fn a_block_moved_to_another_file_keeps_its_old_findings_to_itself() {
    let block = "def helper(x):\n    # TODO: cache this\n    print(x)\n    return eval(x)\n";
    let repo = TestRepo::with_commit(&[
        ("lib/a.py", &format!("import os\n\n{block}")),
        ("lib/b.py", "import sys\n"),
    ]);
    repo.write("lib/a.py", "import os\n");
    repo.write("lib/b.py", format!("import sys\n\n{block}"));
    assert_eq!(repo.check_json(&["--offline"]).rules_and_lines(), vec![]);
}

/// A module of 31 lines whose first line is an old TODO.
fn module_with_an_old_todo() -> String {
    let body: String = (0..30).map(|i| format!("x{i} = {i}\n")).collect();
    format!("# TODO: split this module\n{body}")
}

#[test]
fn an_untracked_copy_of_a_committed_file_reports_only_its_real_changes() {
    let source = module_with_an_old_todo();
    let repo = TestRepo::with_commit(&[("lib/a.py", &source)]);
    repo.write("lib/copy.py", format!("{source}# FIXME: new here\n"));
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("todo-comment", 32)]
    );
}

#[test]
fn a_renamed_file_beside_a_copy_reports_only_its_real_changes() {
    let source = module_with_an_old_todo();
    let repo = TestRepo::with_commit(&[("lib/a.py", &source), ("lib/b.py", &source)]);
    repo.write("lib/copy.py", format!("{source}# FIXME: new here\n"));
    repo.git(&["mv", "lib/b.py", "lib/moved.py"]);
    repo.write("lib/moved.py", format!("{source}# FIXME: and here\n"));
    assert_eq!(
        repo.check_json(&["--offline"]).rules_and_lines(),
        vec![rule("todo-comment", 32), rule("todo-comment", 32)]
    );
}

#[test]
fn a_copy_staged_in_the_index_is_diffed_against_its_source() {
    let source = module_with_an_old_todo();
    let repo = TestRepo::with_commit(&[("lib/a.py", &source)]);
    repo.write("lib/copy.py", format!("{source}# FIXME: new here\n"));
    repo.git(&["add", "lib/copy.py"]);
    assert_eq!(
        repo.check_json(&["--offline", "--staged"])
            .rules_and_lines(),
        vec![rule("todo-comment", 32)]
    );
}

#[test]
fn a_reworded_todo_or_a_print_given_a_guard_is_the_same_line_edited() {
    let before = "def f():\n    # TODO: refactor\n    x = 1\n";
    let after = "def f():\n    # TODO: refactor & simplify this method.\n    x = 1\n";
    assert_eq!(findings("lib/a.py", before, after), vec![]);
    let before = "app.get('/', h);\nconsole.log(req.vhost);\n";
    let after = "app.get('/', h);\nif (process.env.X) console.log(req.vhost);\n";
    assert_eq!(findings("lib/a.js", before, after), vec![]);
}

#[test]
fn a_task_marker_opening_a_string_is_a_todo() {
    let text = "@pytest.mark.skip(reason='TODO: fix #1006')\ndef test_a():\n    assert 1\n";
    assert_eq!(new_file("lib/t.py", text), vec![rule("todo-comment", 1)]);
}

#[test]
fn running_a_constant_command_is_not_injection() {
    let text = "import os\nos.system('python tests/tests.py')\nos.system('rm ' + path)\n";
    assert_eq!(new_file("lib/build.py", text), vec![rule("danger-exec", 3)]);
}

#[test]
fn a_task_moved_and_reworded_elsewhere_in_the_change_is_not_new() {
    let before = "class DownloadsTest:\n    # TODO: Actual download tests\n    def test_a(self):\n        pass\n";
    let after = "class DownloadUtilsTest:\n    def test_a(self):\n        pass\n\n\nclass DownloadTest:\n    # TODO: Download tests.\n    pass\n\n# TODO: handle redirects\n";
    assert_eq!(
        findings("tests/test_dl.py", before, after),
        vec![rule("todo-comment", 10)]
    );
}
