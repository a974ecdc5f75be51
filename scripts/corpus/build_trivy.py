#!/usr/bin/env python3
"""Build the trivy corpus from aquasecurity/trivy's secret scanner tests.

Source: the bare mirror made by `fetch github:aquasecurity/trivy`.
TestSecretScanner (pkg/fanal/secret/scanner_test.go) is a table of cases
{configPath, inputFilePath, want}; each scans one file of
pkg/fanal/secret/testdata/ and asserts the exact list of findings (RuleID,
StartLine, EndLine, Match with the secret masked by `*`, Code.Lines). The
table and the `wantFinding...` variables it names are Go code; they are read
by a small evaluator of the Go they use (string / int literals, `+`,
composite literals, filepath.Join, strings.Repeat, the test's own func
literals such as openAIFinding).

Which case is the truth for an input file:
 * the config is classified from its YAML keys: only `disable-allow-rules`
   -> builtin (skip-test.yaml); `rules` (+ `disable-allow-rules`) ->
   builtin+custom (config.yaml: the built-in rule set is unchanged, a custom
   rule is added); anything else (disable-rules, enable-builtin-rules,
   allow-rules, exclude-block, ...) -> modified.
 * a file tested by one case is used if that case is builtin or
   builtin+custom; a file tested by several is used only through its builtin
   case; otherwise it is skipped.
 * a file whose path an active built-in allow rule matches (e.g. `examples`
   on example-secret.txt) is never scanned: skipped.

Labels (lines after CR removal, as the test does; 1-based line numbers):
 * secret: the lines StartLine..EndLine of each finding of a built-in rule,
   joined with "\n"; a private-key finding that spans only the body of a PEM
   block is widened to its BEGIN/END lines. Findings of custom rules (rule1,
   multi-line-secret) are not used, and the lines they cover are not used as
   benign either. Each finding is checked first: its masked Match, and every
   Code.Lines entry, must equal the file line (or, for lines over 100 bytes,
   a window of it) with `*` standing for any byte; a mismatch is reported and
   the finding dropped.
 * benign: every other line of a used input that looks credential-like (a
   key/token/secret/password word with a value, an assignment of a long
   token-like value, a long letters-and-digits token, a built-in rule's
   keyword next to a token, or a PEM marker); blank lines, short prose and
   lines that are not valid UTF-8 are not used.
provider: the finding's RuleID for a secret; for a benign line the built-in
rule whose keyword (3+ characters) it holds (the longest keyword wins), else
the input file's stem. path: the input file's name.

Not used (each printed on stderr): inputs only tested with modified configs,
inputs a built-in allow rule skips by path, custom-rule findings and lines,
TestSecretScannerWithStreaming (inline synthetic inputs that test chunking,
not files) and testdata files no case names.

Usage: python3 build_trivy.py [git_dir]
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402
from gosrc import _decode_interp as decode_interp  # noqa: E402

SCANNER = "trivy"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/aquasecurity+trivy/repo"
PKG = "pkg/fanal/secret/"
TEST_FILE = PKG + "scanner_test.go"


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def show_bytes(commit: str, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", GIT_DIR, "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


# ---------------------------------------------------------------- Go evaluator

TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<lc>//[^\n]*)
| (?P<bc>/\*.*?\*/)
| (?P<raw>`[^`]*`)
| (?P<str>"(?:\\.|[^"\\\n])*")
| (?P<rune>'(?:\\.|[^'\\\n])+')
| (?P<num>\d+)
| (?P<id>[A-Za-z_]\w*)
| (?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|[-+*/%&|^<>=!(){}\[\],;:.])
""", re.S | re.X)


def tokenize(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            raise ValueError(f"cannot tokenize at {src[pos:pos + 40]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "lc", "bc"):
            continue
        out.append((kind, m.group()))
    return out


def go_unquote(lit: str) -> str:
    """A Go interpreted string literal's value (quotes included in `lit`)."""
    return decode_interp(lit[1:-1], lit[0])


class Opaque:
    """A value the evaluator does not compute (a category constant, a regex built
    with fmt.Sprintf, ...)."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


class Closure:
    def __init__(self, params: list[str], body: list[tuple[str, str]]):
        self.params, self.body = params, body


class Return(Exception):
    def __init__(self, value):
        self.value = value


class Parser:
    def __init__(self, toks: list[tuple[str, str]], env: dict):
        self.t, self.i, self.env = toks, 0, env

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "")

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, val: str) -> None:
        tok = self.next()
        if tok[1] != val:
            raise ValueError(f"expected {val!r}, got {tok[1]!r} near {self.context()}")

    def context(self) -> str:
        return " ".join(v for _, v in self.t[max(0, self.i - 8):self.i + 8])

    def skip_braces(self) -> int:
        """At '{': skip to after the matching '}'; returns the index after '{'."""
        self.expect("{")
        start, depth = self.i, 1
        while depth:
            v = self.next()[1]
            if v == "{":
                depth += 1
            elif v == "}":
                depth -= 1
            elif v == "":
                raise ValueError("unbalanced braces")
        return start

    # statements -----------------------------------------------------------
    def run_statements(self, stop_at_for: bool = True) -> None:
        while self.peek()[0] != "eof":
            k, v = self.peek()
            if v == "}":
                return
            if k == "id" and v == "for" and stop_at_for:
                return
            if k == "id" and v == "return":
                self.next()
                raise Return(self.expr())
            if k == "id" and self.peek(1)[1] == ":=":
                self.next()
                self.next()
                self.env[v] = self.expr()
                continue
            raise ValueError(f"unsupported statement near {self.context()}")

    # expressions ----------------------------------------------------------
    def expr(self):
        left = self.unary()
        while self.peek()[1] == "+":
            self.next()
            right = self.unary()
            if isinstance(left, str) and isinstance(right, str):
                left = left + right
            elif isinstance(left, int) and isinstance(right, int):
                left = left + right
            else:
                left = Opaque(f"{left!r}+{right!r}")
        return left

    def unary(self):
        if self.peek()[1] == "&":
            self.next()
        return self.primary()

    def parse_type(self) -> str:
        k, v = self.peek()
        if v == "[":
            self.next()
            self.expect("]")
            return "[]" + self.parse_type()
        if v == "struct":
            self.next()
            self.skip_braces()
            return "struct"
        if v == "*":
            self.next()
            return "*" + self.parse_type()
        name = self.next()[1]
        while self.peek()[1] == ".":
            self.next()
            name += "." + self.next()[1]
        return name

    def primary(self):
        k, v = self.peek()
        if k == "str":
            self.next()
            return go_unquote(v)
        if k == "raw":
            self.next()
            return v[1:-1]
        if k == "num":
            self.next()
            return int(v)
        if v == "(":
            self.next()
            val = self.expr()
            self.expect(")")
            return val
        if v == "[":
            typ = self.parse_type()
            return self.composite(typ)
        if v == "{":
            return self.composite(None)
        if k == "id" and v == "func":
            return self.func_literal()
        if k != "id":
            raise ValueError(f"unexpected {v!r} near {self.context()}")
        self.next()
        name = v
        while self.peek()[1] == "." and self.peek(1)[0] == "id":
            self.next()
            name += "." + self.next()[1]
        nxt = self.peek()[1]
        if nxt == "(":
            return self.call(name, self.args())
        if nxt == "{":
            return self.composite(name)
        if name in self.env:
            return self.env[name]
        if name in ("nil", "true", "false"):
            return {"nil": None, "true": True, "false": False}[name]
        return Opaque(name)

    def args(self) -> list:
        self.expect("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.expr())
            if self.peek()[1] == ",":
                self.next()
        self.expect(")")
        return out

    def call(self, name: str, args: list):
        if name == "filepath.Join" and all(isinstance(a, str) for a in args):
            return "/".join(args)
        if name == "strings.Repeat" and isinstance(args[0], str) and isinstance(args[1], int):
            return args[0] * args[1]
        if name in ("MustCompile", "MustCompileWithoutWordPrefix", "MustCompileWithBoundaries"):
            return ("regex", name, args[0])
        fn = self.env.get(name)
        if isinstance(fn, Closure):
            env = dict(self.env)
            env.update(zip(fn.params, args))
            sub = Parser(fn.body, env)
            try:
                sub.run_statements(stop_at_for=False)
            except Return as r:
                return r.value
            raise ValueError(f"func {name} returned nothing")
        return Opaque(f"{name}(...)")

    def func_literal(self) -> Closure:
        self.expect("func")
        self.expect("(")
        params, depth, cur = [], 0, []
        while True:
            k, v = self.next()
            if v == "(":
                depth += 1
            if v == ")":
                if depth == 0:
                    break
                depth -= 1
            if v == "," and depth == 0:
                params.append(cur)
                cur = []
            else:
                cur.append(v)
        if cur:
            params.append(cur)
        names = [p[0] for p in params if p]
        while self.peek()[1] != "{":       # result type
            self.next()
        start = self.skip_braces()
        return Closure(names, self.t[start:self.i - 1])

    def composite(self, typ):
        self.expect("{")
        keyed, items = {}, []
        while self.peek()[1] != "}":
            if self.peek()[0] == "id" and self.peek(1)[1] == ":":
                key = self.next()[1]
                self.next()
                keyed[key] = self.element()
            else:
                val = self.element()
                if self.peek()[1] == ":":
                    self.next()
                    keyed[val if isinstance(val, str) else repr(val)] = self.element()
                else:
                    items.append(val)
            if self.peek()[1] == ",":
                self.next()
        self.expect("}")
        if keyed:
            keyed["__type__"] = typ
            return keyed
        if typ is not None and not typ.startswith("[]"):
            return {"__type__": typ}
        return items

    def element(self):
        if self.peek()[1] == "{":
            return self.composite(None)
        return self.expr()


def find_tokens(toks, seq: list[str]) -> int:
    for i in range(len(toks) - len(seq) + 1):
        if all(toks[i + j][1] == s for j, s in enumerate(seq)):
            return i + len(seq)
    raise ValueError(f"{' '.join(seq)} not found")


def eval_var(src: str, name: str):
    """Value of `var name = <expr>` at the top level of a Go file."""
    toks = tokenize(src)
    p = Parser(toks, {})
    p.i = find_tokens(toks, ["var", name, "="])
    return p.expr()


def eval_test_tables(src: str) -> list[dict]:
    toks = tokenize(src)
    p = Parser(toks, {})
    p.i = find_tokens(toks, ["func", "TestSecretScanner", "(", "t", "*", "testing", ".", "T", ")", "{"])
    p.run_statements()
    return p.env["tests"]


# ---------------------------------------------------------------- configs

def parse_config(text: str) -> dict:
    """The few things the builder needs from a trivy secret config YAML."""
    top, rule_ids, lists, cur = [], [], {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z][\w-]*):\s*(.*)$", line)
        if m:
            cur = m.group(1)
            top.append(cur)
            lists[cur] = []
            continue
        m = re.match(r"^\s*-\s+id:\s*(\S+)", line)
        if m and cur == "rules":
            rule_ids.append(m.group(1))
            continue
        m = re.match(r"^\s*-\s+(\S+)\s*$", line)
        if m and cur:
            lists[cur].append(m.group(1))
    keys = set(top)
    if keys <= {"disable-allow-rules"}:
        kind = "builtin"
    elif "rules" in keys and keys <= {"rules", "disable-allow-rules"}:
        kind = "builtin+custom"
    else:
        kind = "modified (" + ", ".join(sorted(keys - {"rules", "disable-allow-rules"})) + ")"
    return {"kind": kind, "custom_ids": rule_ids,
            "disabled_allow": lists.get("disable-allow-rules", [])}


def go_regex(pat: str) -> re.Pattern:
    flags = 0
    if "(?i)" in pat:
        pat, flags = pat.replace("(?i)", ""), re.I
    return re.compile(pat, flags)


# ---------------------------------------------------------------- checks

def sanitize(line: bytes) -> bytes:
    """Go's sanitizeString: each run of invalid UTF-8 becomes one U+FFFD."""
    s = line.decode("utf-8", "replace")
    return re.sub("\ufffd+", "\ufffd", s).encode("utf-8")


def wild_eq(masked: bytes, seg: bytes) -> bool:
    return len(masked) == len(seg) and all(
        m == 0x2A or m == s for m, s in zip(masked, seg))


def masked_fits(masked: str, line: bytes) -> bool:
    """masked equals the line, or (line over 100 bytes) a window of it, with
    `*` standing for any byte."""
    mb, lb = masked.encode("utf-8"), sanitize(line)
    if wild_eq(mb, lb):
        return True
    if len(lb) > 100:
        return any(wild_eq(mb, lb[o:o + len(mb)]) for o in range(len(lb) - len(mb) + 1))
    return False


def check_finding(f: dict, lines: list[bytes]) -> str | None:
    """None if the finding's Match and Code.Lines fit the file, else why not."""
    a, b = f.get("StartLine"), f.get("EndLine")
    if not (isinstance(a, int) and isinstance(b, int) and 1 <= a <= b <= len(lines)):
        return f"lines {a}..{b} outside the file ({len(lines)} lines)"
    match = f.get("Match")
    if not isinstance(match, str):
        return f"Match not evaluated: {match!r}"
    if "*" not in match:
        return f"Match {match!r} masks nothing"
    if not masked_fits(match, lines[a - 1]):
        return f"Match {match!r} does not fit line {a}: {lines[a - 1][:120]!r}"
    code = f.get("Code")
    for cl in (code.get("Lines", []) if isinstance(code, dict) else []):
        n, content = cl.get("Number"), cl.get("Content")
        if not isinstance(n, int) or not isinstance(content, str):
            return f"Code.Lines entry not evaluated: {cl!r}"[:200]
        if not 1 <= n <= len(lines):
            return f"Code.Lines line {n} outside the file"
        if not masked_fits(content, lines[n - 1]):
            return f"Code.Lines line {n} {content[:80]!r} does not fit {lines[n - 1][:80]!r}"
        if bool(cl.get("IsCause")) != (a <= n <= b):
            return f"Code.Lines line {n} IsCause={cl.get('IsCause')} disagrees with {a}..{b}"
    return None


PEM_BEGIN = re.compile(r"^\s*-----\s*BEGIN[ A-Z0-9_-]*PRIVATE KEY( BLOCK)?\s*-----\s*$")
PEM_END = re.compile(r"^\s*-----\s*END[ A-Z0-9_-]*PRIVATE KEY( BLOCK)?\s*-----\s*$")


def widen_pem(a: int, b: int, lines: list[str]) -> tuple[int, int]:
    if a >= 2 and b < len(lines) and PEM_BEGIN.match(lines[a - 2]) and PEM_END.match(lines[b]):
        return a - 1, b + 1
    return a, b


CRED_WORD = re.compile(r"(?i)(key|token|secret|passw(or)?d|passphrase|pwd|credential|master)")
VALUE_CHAR = re.compile(r"[=:<>\"']")
ASSIGN_LONG = re.compile(r"[:=]\s*[\"'{<]?\s*[A-Za-z0-9+/=_.~-]{12,}")
TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=_.~-]{16,}")
PEM_MARK = re.compile(r"-----\s*(BEGIN|END)[ A-Z0-9_-]*PRIVATE KEY")


def tokenish(line: str) -> bool:
    """A 16+ character run of letters and digits (a long camelCase name is not one)."""
    return any(re.search(r"[0-9]", t) and re.search(r"[A-Za-z]", t)
               for t in TOKEN_RUN.findall(line))


def credential_like(line: str, keyword_rule) -> bool:
    s = line.strip()
    if not s:
        return False
    return bool(
        (CRED_WORD.search(s) and (VALUE_CHAR.search(s) or tokenish(s)))
        or ASSIGN_LONG.search(s)
        or tokenish(s)
        or (keyword_rule and TOKEN_RUN.search(s))
        or PEM_MARK.search(s))


# ---------------------------------------------------------------- main

def main() -> None:
    commit = head_commit(GIT_DIR)
    log(f"aquasecurity/trivy @ {commit}")
    files = set(git(GIT_DIR, "ls-tree", "-r", "--name-only", commit, PKG).splitlines())

    rules = eval_var(show(GIT_DIR, commit, PKG + "builtin-rules.go"), "builtinRules")
    builtin_ids = [r["ID"] for r in rules]
    keywords = sorted(((kw.lower(), r["ID"]) for r in rules for kw in r.get("Keywords", [])
                       if isinstance(kw, str)), key=lambda kv: -len(kv[0]))
    rule_path = {r["ID"]: r["Path"][2] for r in rules if isinstance(r.get("Path"), tuple)}
    allow_rules = eval_var(show(GIT_DIR, commit, PKG + "builtin-allow-rules.go"), "builtinAllowRules")
    allow_paths = {a["ID"]: go_regex(a["Path"][2]) for a in allow_rules
                   if isinstance(a.get("Path"), tuple)}
    log(f"  {len(builtin_ids)} built-in rules, {len(keywords)} keywords, "
        f"{len(allow_paths)} built-in path allow rules")

    def keyword_rule(line: str, min_len: int = 1):
        low = line.lower()
        for kw, rid in keywords:
            if len(kw) >= min_len and kw in low:
                return rid
        return None

    tests = eval_test_tables(show(GIT_DIR, commit, TEST_FILE))
    log(f"  TestSecretScanner: {len(tests)} cases")
    log("  skip TestSecretScannerWithStreaming: inline synthetic inputs testing chunk "
        "boundaries, not testdata files")

    by_input: dict[str, list[dict]] = {}
    for tc in tests:
        by_input.setdefault(tc["inputFilePath"], []).append(tc)
    configs = {}
    for tc in tests:
        cp = tc["configPath"]
        if cp not in configs:
            configs[cp] = parse_config(show(GIT_DIR, commit, PKG + cp))

    for p in sorted(files):
        rel = p[len(PKG):]
        if rel.startswith("testdata/") and not rel.endswith(".yaml") and rel not in by_input:
            log(f"  skip {rel}: no TestSecretScanner case scans it")

    records = []
    for inp in sorted(by_input):
        cases = by_input[inp]
        name = inp.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        kinds = [(tc, configs[tc["configPath"]]) for tc in cases]
        desc = ", ".join(f"{tc['configPath'].rsplit('/', 1)[-1]}={c['kind']}" for tc, c in kinds)
        if len(cases) > 1:
            chosen = [(tc, c) for tc, c in kinds if c["kind"] == "builtin"]
        else:
            chosen = [(tc, c) for tc, c in kinds if c["kind"] in ("builtin", "builtin+custom")]
        if not chosen:
            why = ("tested with several configs, none with built-in rules only"
                   if len(cases) > 1 else "its one case changes the built-in rules")
            log(f"  skip {name}: {why} [{desc}]")
            continue
        tc, cfg = chosen[0]
        if len(cases) > 1:
            log(f"  {name}: using case {tc['name']!r} ({tc['configPath']}) of {len(cases)} [{desc}]")
        path_allowed = [aid for aid, rx in allow_paths.items()
                        if aid not in cfg["disabled_allow"] and rx.search(inp)]
        if path_allowed:
            log(f"  skip {name}: never scanned, its path matches the built-in allow rule(s) "
                f"{path_allowed} (the test's empty result says nothing about its lines)")
            continue

        raw = show_bytes(commit, PKG + inp).replace(b"\r", b"")
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        blines = raw.split(b"\n")
        lines = [bl.decode("utf-8", "replace") for bl in blines]
        findings = tc["want"].get("Findings") if isinstance(tc["want"], dict) else None
        findings = findings or []

        covered: set[int] = set()
        n_s = n_b = 0
        for f in findings:
            rid = f.get("RuleID")
            a, b = f.get("StartLine"), f.get("EndLine")
            if isinstance(a, int) and isinstance(b, int):
                covered.update(range(a, b + 1))
            if rid in cfg["custom_ids"] or rid not in builtin_ids:
                log(f"  {name}: not used: finding of custom rule {rid!r} on lines {a}..{b} "
                    f"(those lines are not used as benign either)")
                continue
            bad = check_finding(f, blines)
            if bad:
                log(f"  {name}: DROP {rid} finding on lines {a}..{b}: {bad}")
                continue
            if rid == "private-key":
                wa, wb = widen_pem(a, b, lines)
                if (wa, wb) != (a, b):
                    log(f"  {name}: private-key finding {a}..{b} widened to its PEM block {wa}..{wb}")
                    covered.update(range(wa, wb + 1))
                    a, b = wa, wb
            span = blines[a - 1:b]
            try:
                text = "\n".join(bl.decode("utf-8") for bl in span)
            except UnicodeDecodeError:
                log(f"  {name}: DROP {rid} lines {a}..{b}: not valid UTF-8")
                continue
            records.append(record("secret", SCANNER, rid, name, text))
            n_s += 1

        for n, (bl, line) in enumerate(zip(blines, lines), 1):
            if n in covered or not line.strip():
                continue
            try:
                bl.decode("utf-8")
            except UnicodeDecodeError:
                log(f"  {name}: line {n} not used: not valid UTF-8")
                continue
            if not credential_like(line, keyword_rule(line)):
                continue
            # two-letter keywords (twilio's "SK") are too common to say what a
            # line resembles
            kr = keyword_rule(line, 3)
            if kr in rule_path and not go_regex(rule_path[kr]).search(inp):
                log(f"  {name}: note line {n}: rule {kr} only runs on paths matching "
                    f"{rule_path[kr]!r}; label kept (no finding at this path)")
            records.append(record("benign", SCANNER, kr or stem, name, line))
            n_b += 1
        log(f"  taking {name} ({tc['configPath'].rsplit('/', 1)[-1]}): "
            f"{n_s} secret / {n_b} benign")
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
