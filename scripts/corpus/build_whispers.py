#!/usr/bin/env python3
"""Build labelled secret-scanner corpora (JSON Lines) from whispers' test fixtures.

whispers (Skyscanner/whispers) finds secrets as key/value pairs.  Its tests in
tests/unit/test_secrets.py run it over the files in tests/fixtures/:

* test_detection_by_value(src, count), with tests/configs/detection_by_value.yml:
  every reported value must contain "hardcoded" (or be numeric, or decode from
  base64 to something containing it).  `count` is the number of findings the
  fixture is meant to yield (the test takes it as a parameter but never
  asserts it; this script checks it).
* test_detection_by_key(src, expected), with the default config: the set of
  reported keys must equal `expected`.

The fixtures mark what is meant: "# Noncompliant" values contain "hardcoded",
"# Compliant" ones are placeholders, variables, decoys ("username: hardcoded").
This script runs whispers itself (imported from the given repository) on each
fixture those two tests name, the way the test does, and labels fixture lines:

* secret - a line whispers reports (the test's assertion holds for it);
  one entry per line, even when whispers reports two findings on it.
* benign - a line holding a key/value pair that whispers parses but does not
  report, and that looks like a credential: the key matches one of whispers'
  own key rules or a credential word, or the value contains "hardcoded".

text is the fixture line; a multi-line value (a private key) takes all its
lines, and when the key sits on an earlier line (a YAML list, an XML
<key>/<value> pair) that line is put first, joined with "\\n".
path is the fixture's path under tests/fixtures ("passwords.yml",
".aws/credentials", "beans.xml.dist"), since the file kind decides the parser.
source is "whispers:<fixture>:<line>"; provider is the whispers rule id for a
secret and "whispers" for a benign line.

Split: fnv1a64(fixture path under tests/fixtures, UTF-8) % 2 == 1 -> held-out.

Needs whispers' run-time packages: pyyaml lxml "astroid<3" jproperties luhn
Levenshtein beautifulsoup4 (a venv is fine: run this script with its python).

Usage:
    build_whispers.py WHISPERS_REPO [--tuning OUT.jsonl] [--heldout OUT.jsonl]
WHISPERS_REPO is a work tree or a (bare) git directory (read at --rev, HEAD).
"""
from __future__ import annotations

import argparse
import ast
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

FIXTURES = "tests/fixtures"
TEST_FILE = "tests/unit/test_secrets.py"
_OUT = os.environ.get("REDLINE_CORPUS_DIR", "/work/shared/corpus")
DEFAULT_TUNING = os.path.join(_OUT, "whispers.jsonl")
DEFAULT_HELDOUT = os.path.join(_OUT, "whispers-heldout.jsonl")
DEPS_HINT = 'pip install pyyaml lxml "astroid<3" jproperties luhn Levenshtein beautifulsoup4'

# Words that make a key look like it holds a credential (besides whispers' own key rules).
CRED_WORDS = re.compile(r"(?i)(pass|pwd|secret|token|key|auth|cred|private|session|cookie|cert|login|user"
                        r"|account|api|hash|salt|signature|webhook|jdbc|dsn|access)")
KEY_CONTEXT_LINES = 10


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def is_heldout(fixture: str) -> bool:
    return fnv1a64(fixture.encode("utf-8")) % 2 == 1


# --------------------------------------------------------------------------
# Repository and the tests' parameters
# --------------------------------------------------------------------------
def materialise(repo: str, rev: str, tmp: str) -> Path:
    """A work tree to import whispers from and to run it on."""
    if (Path(repo) / "whispers").is_dir() and (Path(repo) / FIXTURES).is_dir():
        return Path(repo).resolve()
    dest = Path(tmp) / "whispers"
    dest.mkdir()
    archive = subprocess.run(["git", "--git-dir", repo, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def repo_commit(repo: str, rev: str) -> str:
    if (Path(repo) / ".git").exists():
        args = ["git", "-C", repo, "rev-parse", "HEAD"]
    else:
        args = ["git", "--git-dir", repo, "rev-parse", rev]
    r = subprocess.run(args, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def test_parameters(test_src: str) -> dict:
    """Parametrize lists and config file of the two detection tests, read from the test source."""
    tree = ast.parse(test_src)
    out = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name not in ("test_detection_by_value",
                                                                       "test_detection_by_key"):
            continue
        params = None
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize":
                params = ast.literal_eval(dec.args[1])
        config = None
        for sub in (x for stmt in node.body for x in ast.walk(stmt)):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.endswith((".yml", ".yaml")):
                config = sub.value
        out[node.name] = {"params": params, "config": config}
    return out


# --------------------------------------------------------------------------
# Running whispers
# --------------------------------------------------------------------------
def load_whispers(root: Path):
    sys.path.insert(0, str(root))
    try:
        from whispers import core  # noqa: F401
        from whispers.cli import parse_args  # noqa: F401
        from whispers.plugins import WhisperPlugins  # noqa: F401
        from whispers.secrets import WhisperSecrets  # noqa: F401
        from whispers.utils import strip_string  # noqa: F401
    except ImportError as e:
        sys.exit(f"cannot import whispers from {root}: {e}\nInstall its run-time packages: {DEPS_HINT}")
    import whispers
    if Path(whispers.__file__).resolve().parent != (root / "whispers").resolve():
        sys.exit(f"imported whispers from {whispers.__file__}, not from {root}: uninstall the other copy")
    import logging
    logging.disable(logging.CRITICAL)
    return whispers


def run_fixture(root: Path, fixture: str, config_name: str | None):
    """Findings and parsed pairs for one fixture, as the test runs it."""
    from whispers import core
    from whispers.cli import parse_args
    from whispers.plugins import WhisperPlugins
    from whispers.secrets import WhisperSecrets

    src = f"{FIXTURES}/{fixture}"
    args = parse_args([src])
    if config_name:
        args.config = core.load_config(f"tests/configs/{config_name}")
    findings = list(core.run(args))
    secrets = WhisperSecrets(args)
    rules = secrets.rules
    pairs = []
    for ret in WhisperPlugins(src, rules).pairs():
        pairs.append((ret[0], ret[1]))
    return findings, pairs, rules


def rule_ids_for(rules, key, value, filepath: Path) -> list[str]:
    """Which whispers rules report this key/value (the findings carry only a message)."""
    ids = []
    saved = rules.ruleslist
    try:
        for rule_id in list(rules.rules):
            rules.ruleslist = [rule_id]
            if any(True for _ in rules.check(key, value, filepath, [])):
                ids.append(rule_id)
    finally:
        rules.ruleslist = saved
    return ids


def hardcoded_ok(value: str) -> bool:
    """The assertion of test_detection_by_value for one reported value."""
    if value.isnumeric():
        return True
    if "hardcoded" in value.lower():
        return True
    try:
        return b"hardcoded" in base64.b64decode(value)
    except Exception:
        return False


# --------------------------------------------------------------------------
# From findings and pairs to fixture lines
# --------------------------------------------------------------------------
def value_begins_with_line(value: str, line: str) -> bool:
    """A value that starts on this line and goes on below it (whitespace folded by the
    parser, an escaped line end); lines too short to tell (`[`, `{`) do not count."""
    ln = line.strip().rstrip("\\").strip().strip("\"'")
    if len(ln) < 8:
        return False
    return " ".join(value.split()).startswith(" ".join(ln.split()))


class FixtureText:
    def __init__(self, path: Path):
        self.lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.used: set[int] = set()  # 1-based line numbers already given to an entry

    def line(self, n: int) -> str:
        return self.lines[n - 1].rstrip("\r")

    def locate(self, key: str, value: str, avoid=None) -> int:
        """Line of a key/value pair, the way whispers' find_line_number looks for it:
        a line with both key and (first line of) value first, then one with the value."""
        first = value.split("\n")[0].strip()
        if not first:
            return 0
        with_value = 0
        for n in range(1, len(self.lines) + 1):
            if avoid and n in avoid:
                continue
            ln = self.line(n)
            if not ln.strip():
                continue
            if key and key in ln and first in ln:
                return n
            if (first in ln or value_begins_with_line(value, ln)) and not with_value:
                with_value = n
        return with_value

    def holds_value(self, n: int, value: str) -> bool:
        if not 0 < n <= len(self.lines):
            return False
        ln = self.line(n)
        return value.split("\n")[0].strip() in ln or value_begins_with_line(value, ln)

    def value_end(self, start: int, value: str) -> int:
        """Last line of a value starting at `start`: a private key spans lines, either
        with real newlines or with escaped line ends that the parser folded to spaces."""
        if len(value.split()) < 2:
            return start
        squash = lambda t: re.sub(r"[\s\\]", "", t)  # noqa: E731  (folded / escaped line ends)
        tail = squash(value)[-20:]
        joined = ""
        for n in range(start, min(len(self.lines), start + 400) + 1):
            joined += squash(self.line(n))
            if tail in joined:
                return n
        return start

    def key_line(self, start: int, key: str) -> int:
        """An earlier line holding the key when the value's own line does not: a key that
        opens a block (`key:`, `"key": [`, `<key>name</key>`), not another assignment."""
        if not key or key in self.line(start):
            return 0
        for n in range(start - 1, max(0, start - KEY_CONTEXT_LINES), -1):
            ln = self.line(n)
            if key in ln:
                st = ln.strip()
                if st.endswith((":", "[", "{", "(", "=", ": |", ": >", ': "\\')) or re.fullmatch(
                        r"<key>[^<]*</key>|<[^/!?][^<>]*>", st):
                    return n
                # the key given as the value of a `key`/`name` field: `- key: pro_password`
                if re.search(r"(?i)\b(key|name)\b[\"']?\s*[:=]\s*[\"']?" + re.escape(key) + r"\b", st):
                    return n
                return 0
        return 0

    def snippet(self, start: int, key: str, value: str) -> tuple[str, list[int]]:
        end = self.value_end(start, value)
        nums = list(range(start, end + 1))
        k = self.key_line(start, key)
        if k:
            nums = [k] + nums
        return "\n".join(self.line(n) for n in nums), nums


def normalise(key, value, strip_string):
    """The same clean-up whispers' detect_secrets applies before its checks."""
    key = strip_string(key) if key else ""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = strip_string(value)
    elif isinstance(value, int):
        value = str(value)
    else:
        return None
    return key, value


def key_rule_regexes(rules) -> list[re.Pattern]:
    """whispers' key rules that single out a kind of key (not the catch-all ones such as
    aws's `^(?!.*name)`, which matches nearly any key)."""
    out = []
    for rule in rules.rules.values():
        k = rule.get("key") if isinstance(rule, dict) else None
        if isinstance(k, dict) and k.get("regex") is not None:
            rx = k["regex"]
            if not any(rx.match(probe) for probe in ("x", "value", "enabled")):
                out.append(rx)
    return out


TOKENISH = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")


def looks_like_credential(key: str, value: str, key_regexes) -> bool:
    """A decoy worth keeping: a credential-ish key, a value that looks like a token, or a
    value with the fixtures' marker word that whispers rightly leaves alone."""
    if "hardcoded" in value.lower():
        return True
    if key and (CRED_WORDS.search(key) or any(rx.match(key) for rx in key_regexes)):
        return True
    for tok in TOKENISH.findall(value):
        if re.search(r"[0-9]", tok) and re.search(r"[A-Za-z]", tok):
            return True
    return False


def build(repo: str, tuning_out: str, heldout_out: str, rev: str = "HEAD") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = materialise(repo, rev, tmp)
        load_whispers(root)
        from whispers.utils import strip_string

        params = test_parameters((root / TEST_FILE).read_text(encoding="utf-8"))
        by_value = params["test_detection_by_value"]
        by_key = params["test_detection_by_key"]
        plan = [(src, "by_value", count) for src, count in by_value["params"]]
        plan += [(src, "by_key", expected) for src, expected in by_key["params"]
                 if src not in {p[0] for p in plan}]

        cwd = os.getcwd()
        os.chdir(root)  # the tests run from the repository root with relative paths
        try:
            rows, notes, per_fixture = [], [], {}
            dup_dropped = 0
            for fixture, kind, expectation in plan:
                config = by_value["config"] if kind == "by_value" else None
                findings, pairs, rules = run_fixture(root, fixture, config)
                fpath = Path(FIXTURES) / fixture
                text = FixtureText(fpath)

                # what the test asserts, checked here so a drift upstream is seen
                if kind == "by_value":
                    bad = [f.value for f in findings if not hardcoded_ok(f.value)]
                    if bad:
                        notes.append(f"{fixture}: reported values without 'hardcoded': {bad}")
                    if len(findings) != expectation:
                        notes.append(f"{fixture}: {len(findings)} findings, test parameter count={expectation}")
                else:
                    keys = {f.key for f in findings}
                    if keys != set(expectation):
                        notes.append(f"{fixture}: reported keys {sorted(keys)} != expected {sorted(expectation)}")

                # secrets: reported lines
                secret_lines: dict[int, dict] = {}
                for f in findings:
                    if f.key == "file":
                        continue  # a finding about the file name, not its text
                    # whispers' own line is kept when that line holds the value; its search can
                    # land on a wrong line (e.g. "[" for a JSON value), so look again otherwise
                    n = f.line if text.holds_value(f.line, f.value) else 0
                    n = n or text.locate(f.key, f.value, avoid=set(secret_lines)) or text.locate(f.key, f.value)
                    if not n:
                        notes.append(f"{fixture}: could not place finding {f.key}={f.value[:40]!r}")
                        continue
                    ids = rule_ids_for(rules, f.key, f.value, fpath)
                    entry = secret_lines.get(n)
                    if entry is None:
                        snippet, nums = text.snippet(n, f.key, f.value)
                        secret_lines[n] = {"text": snippet, "nums": nums, "rules": ids}
                    else:
                        entry["rules"] += [i for i in ids if i not in entry["rules"]]
                for n, e in secret_lines.items():
                    text.used.update(e["nums"])

                # benign: parsed, unreported, credential-looking pairs
                key_rx = key_rule_regexes(rules)
                benign_lines: dict[int, dict] = {}
                reported = {(f.key, f.value) for f in findings}
                for k, v in pairs:
                    kv = normalise(k, v, strip_string)
                    if kv is None:
                        continue
                    k, v = kv
                    if not v or (k, v) in reported:
                        continue
                    if not looks_like_credential(k, v, key_rx):
                        continue
                    n = text.locate(k, v, avoid=text.used)
                    if not n:
                        continue
                    snippet, nums = text.snippet(n, k, v)
                    if any(x in secret_lines for x in nums) or n in benign_lines:
                        continue
                    # the key line may be shared with a secret (e.g. a list with both); keep the value line only
                    if any(x in text.used for x in nums):
                        nums = [x for x in nums if x not in text.used]
                        if not nums or nums[0] != n:
                            continue
                        snippet = "\n".join(text.line(x) for x in nums)
                    benign_lines[n] = {"text": snippet, "nums": nums}
                    text.used.update(nums)

                count_s = count_b = 0
                seen_texts = set()
                for label, entries in (("secret", secret_lines), ("benign", benign_lines)):
                    for n in sorted(entries):
                        e = entries[n]
                        if not e["text"].strip():
                            continue
                        if (label, e["text"]) in seen_texts:  # e.g. the same attribute line repeated
                            dup_dropped += 1
                            continue
                        seen_texts.add((label, e["text"]))
                        provider = ",".join(e["rules"]) if label == "secret" else "whispers"
                        rows.append({"label": label, "source": f"whispers:{fixture}:{n}",
                                     "provider": provider or "whispers", "path": fixture, "text": e["text"],
                                     "_fixture": fixture})
                        if label == "secret":
                            count_s += 1
                        else:
                            count_b += 1
                per_fixture[fixture] = {"test": kind, "findings": len(findings), "secret_lines": count_s,
                                        "benign_lines": count_b, "heldout": is_heldout(fixture)}
        finally:
            os.chdir(cwd)

    outs = {"tuning": [], "heldout": []}
    for r in rows:
        outs["heldout" if is_heldout(r.pop("_fixture")) else "tuning"].append(r)
    for name, path in (("tuning", tuning_out), ("heldout", heldout_out)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for r in outs[name]:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    def counts(rs):
        return {"secret": sum(r["label"] == "secret" for r in rs), "benign": sum(r["label"] == "benign" for r in rs)}

    summary = {"commit": repo_commit(repo, rev), "fixtures": len(plan),
               "tuning": counts(outs["tuning"]), "heldout": counts(outs["heldout"]),
               "duplicate_lines_dropped": dup_dropped, "notes": notes, "per_fixture": per_fixture}
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", help="whispers work tree or git directory")
    ap.add_argument("--tuning", default=DEFAULT_TUNING, help=f"tuning half (default {DEFAULT_TUNING})")
    ap.add_argument("--heldout", default=DEFAULT_HELDOUT, help=f"held-out half (default {DEFAULT_HELDOUT})")
    ap.add_argument("--rev", default="HEAD", help="revision to read from a git directory (default HEAD)")
    ap.add_argument("--verbose", action="store_true", help="print per-fixture counts")
    a = ap.parse_args(argv)
    s = build(a.repo, a.tuning, a.heldout, a.rev)
    if not a.verbose:
        s.pop("per_fixture")
    print(json.dumps(s, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
