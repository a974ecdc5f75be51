#!/usr/bin/env python3
"""Build the detect-secrets corpus from Yelp/detect-secrets (Python secret scanner).

Source: the bare mirror made by `fetch github:Yelp/detect-secrets`. The same
builder reads IBM/detect-secrets (`--scanner ibm-detect-secrets`), a fork on
the 0.x layout (tests/plugins/common/, no tests/filters/) with extra plugins;
what differs for it is listed under "IBM fork" below.

Taken, all read from the test sources at HEAD (parsed with `ast`, never run):
 1. tests/plugins/*_test.py: `pytest.mark.parametrize` tables of a line
    (`line` / `payload`) and `should_flag` -> secret / benign. Tables with
    only a line, whose test asserts a finding (slack, square_oauth), are
    secrets. Values are evaluated from literals, module constants, `+`, `*`,
    `%`, `str.format`, slices and simple f-strings; anything else (randint,
    textwrap helpers) is skipped and counted. provider = the plugin class the
    test file imports (AWSKeyDetector, ...); path fixture.txt.
 2. tests/plugins/keyword_test.py: the per-file-type tables (CONFIG / GOLANG /
    C / C++ / QUOTES_REQUIRED cases) as `parse_test_cases` maps them to file
    extensions; expected secret -> secret, None -> benign; path
    fixture.<ext> (fixture.txt for the scan_line case without a file name).
    A line secret for one file type and benign for another is dropped by the
    shared de-duplication (reported as a conflict). Cases benign only because
    the test passes keyword_exclude='.*fake.*' are dropped.
 3. tests/plugins/high_entropy_strings_test.py: the class-level (plugin,
    non_secret, secret) rows crossed with the line formats of test_basic and
    test_multiple_strings_same_line. The unquoted `{secret}` format (benign
    only because the plugin wants quotes; the same value quoted is a secret)
    is dropped.
 4. tests/plugins/private_key_test.py: the parametrized file contents (one
    finding each) -> multi-line secrets.
 5. tests/filters/heuristic_filter_test.py test_is_templated_secret: lines run
    through scan_line with KeywordDetector -> secret / benign.
 6. test_data files whose findings tests pin down under default plugin limits:
    files/file_with_secrets.py (1 finding, baseline_test / pre-commit),
    files/tmp/file_with_secrets.py (2 findings on one line),
    files/file_with_no_secrets.py, files/tmp/file_with_no_secrets.py,
    files/file_with_custom_secrets.py (no findings), config.env (audit_test),
    each_secret.py (secrets_collection_test: AWS + Base64 4.5, with and without
    filters: lines 4, 8, 9 reported; 1 never; 2 removed by the default
    is_likely_id_string filter). Lines allowlisted by a pragma comment are not
    used.

IBM fork (0.x layout), instead of the above where they differ:
 1. the plugin tables also come as `file_content, should_flag` (run through
    mock_file_object + analyze) and `token, payload, should_flag`; slack /
    square_oauth tables without a verdict are secrets as above. The file name
    the test scans sets the path: fixture.<ext> (test_npmrc: fixture.npmrc,
    its base64 `_auth` values are only decoded in .npmrc files), else
    fixture.txt. GheDetector's custom-host table (`test_analyze_line_non_`)
    is kept: its lines hold GitHub tokens in URLs.
 2. keyword_test.py: each parametrized `file_content` test of
    TestKeywordDetector; the verdict is its `assert len(output) == N` (N > 0
    -> secret, 0 -> benign), the text the `mock_file_object(...)` argument
    (with the body's `.replace` edits: the yaml / example negatives), the
    path fixture.<ext> of the file name passed to analyze (fixture.txt for
    'mock_filename'). Tests whose KeywordDetector gets options (automaton,
    keyword_exclude: negatives only under them) are skipped.
 3. high_entropy_strings_test.py: the HighEntropyStringsTest tables
    (`content_to_format` with `should_be_caught` / `expected_results`, or
    none: asserted no findings) crossed with each subclass's (plugin,
    non_secret, secret) from setup_method, at the default limits. Dropped:
    the unquoted `{secret}` format, lines allowlisted by a pragma comment,
    lines benign only via the test's exclude_lines_regex ('CanonicalUser').
    test_env_file (config.env line 1, limit 4.5) and test_yaml_file
    (config2.yaml line 2, hex limit 3) give secrets; test_ini_file /
    test_yaml_files (limit lowered to 3) are not used.
 4. private_key_test.py: the `test_analyze` contents, as above.
 5. / 6. not used: there is no tests/filters/, and the fork's core tests pin
    the test_data files differently (pre_commit_hook_test: 2 findings in
    file_with_no_secrets.py under --use-all-plugins).
 Skipped files: tests/plugins/common/ (filter helpers on bare values, plugin
 loading, YAML parser plumbing) and base_test.py.

Not used (printed on stderr): `content, expected_output` tables (helpers that
find a paired id/user name for verification), verification tests, the
IPPublicDetector (a public IP address is not a credential), filter helper
tests other than (5), transformer tests, config.ini / config.yaml (labels only
under a lowered Base64 limit or a single plugin; config.yaml's reported line 5
holds no hex string, so the locations cannot be tied to texts), config.md
(the finding's line is not asserted), short_files/ and sample.diff (file
listing / diff parsing tests). A benign line another plugin's test flags
is dropped (whole-scanner view). Secret-labelled lines whose value is a run of
8+ x/X (the usual redaction placeholder: 'AP6xxxxxxxxxx', 'SKxxxx...',
hooks.slack.com/services/Txxxxxxxx/...) are dropped.

Usage: python3 build_detect_secrets.py [git_dir] [--scanner NAME]
  NAME (default detect-secrets) is the record source prefix and the output
  file names: NAME.jsonl / NAME-heldout.jsonl.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "detect-secrets"  # set from --scanner in main()
GIT_DIR = "/work/.mirror/Yelp+detect-secrets/repo"  # set from the git_dir argument

PLACEHOLDER = re.compile(r"[xX]{8,}")
SKIP_PLUGIN_FILES = {
    "tests/plugins/base_test.py": "mock plugins (verification / filter plumbing)",
    "tests/plugins/ip_public_test.py": "IPPublicDetector: a public IP address is not a credential",
    # IBM fork (0.x layout)
    "tests/plugins/common/filters_test.py":
        "filter helpers (is_sequential_string / is_likely_id_string / is_potential_uuid) "
        "on bare values, not a scan verdict",
    "tests/plugins/common/initialize_test.py": "plugin loading from class names / settings",
    "tests/plugins/common/yaml_file_parser_test.py": "YAML parser plumbing (ignored lines, value format)",
}
LINE_ARGS = ("line", "payload", "file_content")
# Tests with a line-only table whose body asserts a finding.
ALL_FLAGGED = {"tests/plugins/slack_test.py", "tests/plugins/square_oauth_test.py"}


# IBM fork: the plugins' default limits (HighEntropyStringsPlugin default_options).
DEFAULT_LIMITS = {"base64_limit": 4.5, "hex_limit": 3}
PRAGMA = re.compile(r"pragma: ?(allow|white)list secret")
# IBM fork: test_data lines its high_entropy_strings_test pins at default limits.
LEGACY_HIGH_ENTROPY_FILES = [
    ("test_data/config.env", 1, "Base64HighEntropyString",
     "test_env_file: the one finding at limit 4.5"),
    ("test_data/config2.yaml", 2, "HexHighEntropyString",
     "test_yaml_file: the one finding at hex limit 3"),
]


class Unevaluable(Exception):
    pass


def ev(node: ast.AST, env: dict):
    """Evaluate the small subset of Python the test tables use."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [ev(e, env) for e in node.elts]
        return vals if isinstance(node, ast.List) else tuple(vals)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {ev(k, env): ev(v, env) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        return comprehension(node.elt, node.generators, env)
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise Unevaluable(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -ev(node.operand, env)
    if isinstance(node, ast.BinOp):
        a, b = ev(node.left, env), ev(node.right, env)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Mod) and isinstance(a, str):
            return a % b
        raise Unevaluable(ast.dump(node.op))
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(v.value)
            elif isinstance(v, ast.FormattedValue) and v.conversion == -1 and v.format_spec is None:
                parts.append(str(ev(v.value, env)))
            else:
                raise Unevaluable("f-string")
        return "".join(parts)
    if isinstance(node, ast.Subscript):
        base = ev(node.value, env)
        sl = node.slice
        if isinstance(sl, ast.Slice):
            return base[slice(*(ev(x, env) if x is not None else None
                                for x in (sl.lower, sl.upper, sl.step)))]
        return base[ev(sl, env)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "format":
        base = ev(node.func.value, env)
        if not isinstance(base, str):
            raise Unevaluable("format")
        args = [ev(a, env) for a in node.args]
        kwargs = {k.arg: ev(k.value, env) for k in node.keywords}
        return base.format(*args, **kwargs)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in ("get", "replace") and not node.keywords:
        base = ev(node.func.value, env)
        args = [ev(a, env) for a in node.args]
        if node.func.attr == "get" and isinstance(base, dict):
            return base.get(*args)
        if node.func.attr == "replace" and isinstance(base, str):
            return base.replace(*args)
        raise Unevaluable(node.func.attr)
    raise Unevaluable(type(node).__name__)


def comprehension(elt: ast.AST, generators: list, env: dict) -> list:
    """A generator expression / list comprehension over evaluable iterables."""
    if not generators:
        return [ev(elt, env)]
    gen, rest = generators[0], generators[1:]
    if gen.ifs or gen.is_async or not isinstance(gen.target, ast.Name):
        raise Unevaluable("comprehension")
    out = []
    for v in ev(gen.iter, env):
        out.extend(comprehension(elt, rest, {**env, gen.target.id: v}))
    return out


def module_env(tree: ast.Module) -> dict:
    env: dict = {}
    for st in tree.body:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                and isinstance(st.targets[0], ast.Name):
            try:
                env[st.targets[0].id] = ev(st.value, env)
            except Exception:  # noqa: BLE001 - anything not plain (randint, base64) is skipped
                pass
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) \
                and isinstance(st.value.func, ast.Attribute) and st.value.func.attr == "extend" \
                and isinstance(st.value.func.value, ast.Name) \
                and isinstance(env.get(st.value.func.value.id), list) and len(st.value.args) == 1:
            try:  # STANDARD_POSITIVES.extend(... + ...) (IBM fork keyword_test)
                env[st.value.func.value.id].extend(ev(st.value.args[0], env))
            except Exception:  # noqa: BLE001
                pass
    return env


def parametrize_calls(fn: ast.AST):
    for d in getattr(fn, "decorator_list", []):
        if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) \
                and d.func.attr == "parametrize" and len(d.args) >= 2:
            names = ast.literal_eval(d.args[0])
            if isinstance(names, str):
                names = names.split(",")
            names = [n.strip() for n in names]
            yield names, d.args[1]


def rows(node: ast.AST, env: dict, skipped: list) -> list:
    """Evaluate a parametrize value list row by row (bad rows skipped)."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        try:  # a module list or a generator expression (IBM fork keyword_test)
            vals = ev(node, env)
        except Exception:  # noqa: BLE001
            vals = None
        if not isinstance(vals, (list, tuple)):
            skipped.append(ast.unparse(node)[:80])
            return []
        return list(vals)
    out = []
    for elt in node.elts:
        try:
            out.append(ev(elt, env))
        except Unevaluable:
            skipped.append(ast.unparse(elt)[:80])
    return out


def plugin_name(tree: ast.Module) -> str | None:
    for st in tree.body:
        if isinstance(st, ast.ImportFrom) and (st.module or "").startswith("detect_secrets.plugins."):
            for a in st.names:
                if a.name[0].isupper():
                    return a.name
    return None


def fixture_path(fn: ast.AST, env: dict) -> str:
    """fixture.<ext> of the file name the test passes to analyze / analyze_line
    (fixture.txt when it has none, e.g. 'mock_filename')."""
    local = dict(env)
    for st in ast.walk(fn):
        if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                and isinstance(st.targets[0], ast.Name):
            try:
                local[st.targets[0].id] = ev(st.value, local)
            except Exception:  # noqa: BLE001 - plugin objects, mocks
                pass
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("analyze", "analyze_line")):
            continue
        arg = next((k.value for k in node.keywords if k.arg == "filename"), None)
        pos = {"analyze": 1, "analyze_line": 2}[node.func.attr]
        if arg is None and len(node.args) > pos:
            arg = node.args[pos]
        try:
            name = ev(arg, local) if arg is not None else None
        except Exception:  # noqa: BLE001
            name = None
        if isinstance(name, str):
            base = re.split(r"[\\/]", name)[-1]
            return f"fixture.{base.rsplit('.', 1)[1]}" if "." in base else "fixture.txt"
    return "fixture.txt"


def asserted_count(fn: ast.AST) -> int | None:
    """N in the test body's `assert len(...) == N` (N a literal)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Call) \
                and isinstance(node.test.left.func, ast.Name) and node.test.left.func.id == "len" \
                and isinstance(node.test.ops[0], ast.Eq) \
                and isinstance(node.test.comparators[0], ast.Constant):
            return node.test.comparators[0].value
    return None


def calls_to(fn: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id == name]


class Builder:
    def __init__(self, commit: str):
        self.commit = commit
        self.records: list[dict] = []
        self.counts: dict[str, list[int]] = {}

    def add(self, label: str, provider: str, path: str, text: str, where: str) -> None:
        if not text.strip():
            return
        if label == "secret" and PLACEHOLDER.search(text):
            print(f"  drop {where}: x-run placeholder {text[:80]!r}", file=sys.stderr)
            return
        self.records.append(record(label, SCANNER, provider, path, text))
        c = self.counts.setdefault(where, [0, 0])
        c[label == "benign"] += 1

    # 1. plain plugin tables
    def plugin_tables(self, path: str) -> None:
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        env = module_env(tree)
        provider = plugin_name(tree)
        skipped: list[str] = []
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for names, values in parametrize_calls(fn):
                line_arg = next((n for n in names if n in LINE_ARGS), None)
                if line_arg is None:
                    print(f"  skip {path}:{fn.name} table ({', '.join(names)}): "
                          "not a line/should_flag table", file=sys.stderr)
                    continue
                if "should_flag" not in names and path not in ALL_FLAGGED:
                    print(f"  skip {path}:{fn.name} table ({', '.join(names)}): "
                          "no should_flag and not a test asserting a finding", file=sys.stderr)
                    continue
                for row in rows(values, env, skipped):
                    row = row if isinstance(row, tuple) else (row,)
                    vals = dict(zip(names, row))
                    flag = bool(vals["should_flag"]) if "should_flag" in vals else True
                    self.add("secret" if flag else "benign", provider,
                             fixture_path(fn, {**env, **vals}), vals[line_arg], path)
        for s in skipped:
            print(f"  skip {path} row not evaluable: {s}", file=sys.stderr)

    # 2. keyword detector, per file type
    def keyword(self) -> None:
        path = "tests/plugins/keyword_test.py"
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        env = module_env(tree)
        print(f"  keyword_test: LONG_LINE not evaluable (randint): "
              f"{'LONG_LINE' not in env}", file=sys.stderr)
        tables: dict[str, list] = {}
        for st in tree.body:
            if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name) \
                    and st.targets[0].id.endswith("_TEST_CASES"):
                skipped: list[str] = []
                tables[st.targets[0].id] = rows(st.value, env, skipped)
                for s in skipped:
                    print(f"  skip {path} {st.targets[0].id} row: {s}", file=sys.stderr)
        mapping = None
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "parse_test_cases":
                mapping = [(ast.literal_eval(t.elts[0]), t.elts[1].id) for t in node.args[0].elts]
        assert mapping, "parse_test_cases mapping not found"
        for ext, table in mapping:
            fpath = f"fixture.{ext}" if ext else "fixture.txt"
            for line, expected in tables[table]:
                if expected is None and "fake" in line:
                    print(f"  drop keyword {ext} {line!r}: benign only via keyword_exclude='.*fake.*'",
                          file=sys.stderr)
                    continue
                self.add("secret" if expected else "benign", "KeywordDetector", fpath, line, path)

    # 2'. keyword detector, IBM fork: one parametrized test per file type
    def keyword_legacy(self) -> None:
        path = "tests/plugins/keyword_test.py"
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        env = module_env(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for names, values in parametrize_calls(fn):
                where = f"{path}:{fn.name}"
                detector = calls_to(fn, "KeywordDetector")
                content = calls_to(fn, "mock_file_object")
                count = asserted_count(fn)
                if "file_content" not in names or not content or count is None:
                    print(f"  skip {where} table ({', '.join(names)}): not a file_content "
                          "table with an asserted finding count", file=sys.stderr)
                    continue
                if any(c.args or c.keywords for c in detector):
                    print(f"  skip {where}: verdict only under "
                          f"{ast.unparse(detector[0])[:60]}", file=sys.stderr)
                    continue
                skipped: list[str] = []
                for row in rows(values, env, skipped):
                    row = row if isinstance(row, tuple) else (row,)
                    vals = {**env, **dict(zip(names, row))}
                    text = ev(content[0].args[0], vals)
                    text = text[:-1] if text.endswith("\n") else text
                    self.add("secret" if count else "benign", "KeywordDetector",
                             fixture_path(fn, vals), text, path)
                for s in skipped:
                    print(f"  skip {where} row not evaluable: {s}", file=sys.stderr)

    # 3. high entropy strings
    def high_entropy(self) -> None:
        path = "tests/plugins/high_entropy_strings_test.py"
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        env = module_env(tree)
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef)
                   and n.name == "TestHighEntropyString")
        (_, plugin_rows_node), = list(parametrize_calls(cls))
        plugin_rows = []
        for elt in plugin_rows_node.elts:
            plugin_rows.append((elt.elts[0].id, ev(elt.elts[1], env), ev(elt.elts[2], env)))
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            for names, values in parametrize_calls(fn):
                if "format" not in names:
                    continue
                for fmt, expect in rows(values, env, []):
                    for plugin, non_secret, secret in plugin_rows:
                        line = fmt.format(non_secret=non_secret, secret=secret)
                        flag = bool(expect)
                        if fmt == "{secret}":
                            print(f"  drop {plugin} unquoted {line[:60]!r}: benign only because "
                                  "the plugin wants quotes", file=sys.stderr)
                            continue
                        self.add("secret" if flag else "benign", plugin, "fixture.txt", line, path)

    # 3'. high entropy strings, IBM fork: base-class tables x subclass strings
    def high_entropy_legacy(self) -> None:
        path = "tests/plugins/high_entropy_strings_test.py"
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        env = module_env(tree)
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        base = next(c for c in classes if c.name == "HighEntropyStringsTest")
        tables = []  # (content_to_format, expected finding count)
        for fn in base.body:
            for names, values in parametrize_calls(fn):
                if names[0] != "content_to_format":
                    print(f"  skip {path}:{fn.name} table ({', '.join(names)}): "
                          "not a content_to_format table", file=sys.stderr)
                    continue
                for row in rows(values, env, []):
                    row = row if isinstance(row, tuple) else (row,)
                    tables.append((row[0], row[1] if len(row) > 1 else asserted_count(fn)))
        for cls in classes:
            if not any(isinstance(b, ast.Name) and b.id == base.name for b in cls.bases):
                continue
            setup = next(c for c in ast.walk(cls) if isinstance(c, ast.Call)
                         and isinstance(c.func, ast.Attribute) and c.func.attr == "setup")
            kw = {k.arg: k.value for k in setup.keywords}
            plugin = kw["logic"].func.id
            opts = {k.arg: ev(k.value, env) for k in kw["logic"].keywords}
            if any(opts[k] != v for k, v in DEFAULT_LIMITS.items() if k in opts):
                print(f"  skip {path}:{cls.name}: limit not the default ({opts})", file=sys.stderr)
                continue
            non_secret, secret = ev(kw["non_secret_string"], env), ev(kw["secret_string"], env)
            exclude = opts.get("exclude_lines_regex")
            for fmt, count in tables:
                line = fmt.format(non_secret=non_secret, secret=secret)
                if fmt == "{secret}":
                    why = "benign only because the plugin wants quotes"
                elif PRAGMA.search(line):
                    why = "allowlisted by a pragma comment"
                elif exclude and re.search(exclude, line):
                    why = f"benign only via exclude_lines_regex={exclude!r}"
                else:
                    self.add("secret" if count else "benign", plugin, "fixture.txt", line, path)
                    continue
                print(f"  drop {cls.name} {line[:60]!r}: {why}", file=sys.stderr)
        print(f"  skip {path}:test_ini_file / test_yaml_files: Base64 limit lowered to 3",
              file=sys.stderr)
        for fpath, n, provider, why in LEGACY_HIGH_ENTROPY_FILES:
            text = show(GIT_DIR, self.commit, fpath).split("\n")[n - 1].rstrip()
            print(f"  {fpath}:{n} -> secret ({why})", file=sys.stderr)
            self.add("secret", provider, fpath.rsplit("/", 1)[-1], text, path)

    def test_rows(self, path: str, test: str):
        """The rows of the parametrize tables of test function `test`."""
        tree = ast.parse(show(GIT_DIR, self.commit, path))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name == test:
                for _, values in parametrize_calls(fn):
                    yield from rows(values, {}, [])

    # 4. private key file contents
    def private_key(self) -> None:
        path = "tests/plugins/private_key_test.py"
        for test in ("test_basic", "test_analyze"):  # test_analyze: IBM fork
            for content in self.test_rows(path, test):
                self.add("secret", "PrivateKeyDetector", "fixture.txt", content, path)

    # 5. templated secrets (KeywordDetector through scan_line)
    def templated(self) -> None:
        path = "tests/filters/heuristic_filter_test.py"
        for line, result in self.test_rows(path, "test_is_templated_secret"):
            self.add("secret" if result else "benign", "KeywordDetector",
                     "fixture.txt", line, path)

    # 6. test_data files
    def test_data(self) -> None:
        # (file, line number, label, provider, why)
        spec = [
            ("test_data/files/file_with_secrets.py", 3, "secret", "Base64HighEntropyString",
             "baseline_test: 1 finding (line 4 is pragma-allowlisted)"),
            ("test_data/files/tmp/file_with_secrets.py", 3, "secret", "HexHighEntropyString",
             "baseline_test: 2 findings, both on this line"),
            ("test_data/files/file_with_no_secrets.py", 2, "benign", "Base64HighEntropyString",
             "baseline_test / pre-commit: no findings"),
            ("test_data/files/tmp/file_with_no_secrets.py", 3, "benign", "Base64HighEntropyString",
             "baseline_test: no findings"),
            ("test_data/files/file_with_custom_secrets.py", 2, "benign", "Base64HighEntropyString",
             "baseline_test: no findings"),
            ("test_data/files/file_with_custom_secrets.py", 3, "benign", "Base64HighEntropyString",
             "baseline_test: no findings"),
            ("test_data/files/file_with_custom_secrets.py", 4, "benign", "Base64HighEntropyString",
             "baseline_test: no findings"),
            ("test_data/config.env", 1, "secret", "Base64HighEntropyString",
             "audit_test: Base64HighEntropyString finds it"),
            ("test_data/each_secret.py", 4, "secret", "Base64HighEntropyString",
             "secrets_collection_test: the one finding after filters"),
            ("test_data/each_secret.py", 8, "secret", "AWSKeyDetector",
             "secrets_collection_test: reported without filters (5 findings)"),
            ("test_data/each_secret.py", 9, "secret", "AWSKeyDetector",
             "secrets_collection_test: reported without filters (5 findings)"),
            ("test_data/each_secret.py", 1, "benign", "Base64HighEntropyString",
             "secrets_collection_test: never reported (red_herring)"),
            ("test_data/each_secret.py", 2, "benign", "Base64HighEntropyString",
             "secrets_collection_test: removed by the default is_likely_id_string filter"),
        ]
        for fpath, n, label, provider, why in spec:
            text = show(GIT_DIR, self.commit, fpath).split("\n")[n - 1].rstrip()
            print(f"  {fpath}:{n} -> {label} ({why})", file=sys.stderr)
            self.add(label, provider, fpath.rsplit("/", 1)[-1], text, fpath)


def main() -> None:
    global GIT_DIR, SCANNER
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("git_dir", nargs="?", default=GIT_DIR)
    ap.add_argument("--scanner", default=SCANNER,
                    help="record source prefix and output file name (default %(default)s)")
    args = ap.parse_args()
    GIT_DIR, SCANNER = args.git_dir, args.scanner
    commit = head_commit(GIT_DIR)
    print(f"{SCANNER}: {GIT_DIR} @ {commit}", file=sys.stderr)
    b = Builder(commit)
    tests = [p for p in git(GIT_DIR, "ls-tree", "-r", "--name-only", commit, "tests/plugins/")
             .splitlines() if p.endswith("_test.py")]
    # detect-secrets 0.x layout (the IBM fork): tests/plugins/common/, no tests/filters/
    legacy = any(p.startswith("tests/plugins/common/") for p in tests)
    special = {
        "tests/plugins/keyword_test.py": b.keyword_legacy if legacy else b.keyword,
        "tests/plugins/high_entropy_strings_test.py":
            b.high_entropy_legacy if legacy else b.high_entropy,
        "tests/plugins/private_key_test.py": b.private_key,
    }
    for p in sorted(tests):
        if p in SKIP_PLUGIN_FILES:
            print(f"  skip {p}: {SKIP_PLUGIN_FILES[p]}", file=sys.stderr)
        elif p in special:
            special[p]()
        else:
            b.plugin_tables(p)
    if legacy:
        print("  skip templated secrets: no tests/filters/heuristic_filter_test.py in this "
              "layout", file=sys.stderr)
        print("  skip test_data files: the spec pins Yelp's core tests; the fork's differ "
              "(2 findings in file_with_no_secrets.py under --use-all-plugins)", file=sys.stderr)
    else:
        b.templated()
        b.test_data()
    for where, (s, n) in sorted(b.counts.items()):
        print(f"  taking {where}: {s} secret / {n} benign", file=sys.stderr)
    # Scored as a whole scanner, a look-alike another plugin's test flags is a
    # secret: drop the benign copy (e.g. GitLab's 'GitLab is not GitHub' case
    # holds a GitHub token). Same-plugin conflicts (a keyword line secret in
    # one file type, benign in another) are left to write_split.
    secret_by = {}
    for r in b.records:
        if r["label"] == "secret":
            secret_by.setdefault(r["text"], set()).add(r["provider"])
    kept = []
    for r in b.records:
        others = secret_by.get(r["text"], set()) - {r["provider"]}
        if r["label"] == "benign" and others:
            print(f"  drop benign {r['provider']} {r['text'][:60]!r}: a secret for "
                  f"{sorted(others)}", file=sys.stderr)
            continue
        kept.append(r)
    write_split(SCANNER, kept)


if __name__ == "__main__":
    main()
