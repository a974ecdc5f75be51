#!/usr/bin/env python3
"""Build the secretlint corpus from secretlint/secretlint (JS secret linter).

Source: the bare mirror made by `fetch github:secretlint/secretlint`.

Every rule package packages/@secretlint/secretlint-rule-*/ is tested by
snapshots only (its test/index.test.ts is the @secretlint/tester boilerplate):
test/snapshots/<case>/ holds an input file and output.json, the exact messages
the rule must report. output.json also carries the linted text
(`sourceContent`, `sourceContentType`), which is what is read here, so the
input file name (input.*, or options.ts's `inputFilePath`) never has to be
guessed; its name is taken from `filePath`.

Labels, per case:
 * messages non-empty: the lines each message spans (loc.start.line ..
   loc.end.line) are one secret record (a PEM block or a whole JSON key file
   is one multi-line text). Unreported lines of such inputs are NOT used: the
   rule may simply not cover them (e.g. `mysql --password=...` in ng.mysql).
 * messages empty: benign records, one per line that could hold a value
   (blank lines, comments and pure prose / punctuation lines are skipped); a
   BEGIN...END PEM block is kept together as one text.

provider = the rule package name (secretlint-rule-aws, ...).
path = the linted file's name (input.txt, input.json, .npmrc, package.json);
a bare `input` becomes `input.txt`.

Not used (each printed on stderr):
 * rules not about secrets or not line-level: no-homedir (paths), no-dotenv
   (file names), pattern (user-configured patterns), filter-comments
   (disable-comment handling, toy "SECRET A" rules), example (template rule),
   no-k8s-kind-secret (flags whole manifests; its ng snapshots expect no
   messages, so their lines cannot be labelled), internal-test-*;
   the preset-recommend / preset-canary snapshot folders are copies of the
   rule snapshots (import-tests.js), so the rule's own copy is read.
 * cases labelled only by test configuration: `.secretlintrc.json` `allows`
   (user allowlist) and `enableIDScanRule: false` (check switched off).
 * binary inputs (GCP .p12 files).
 * CASE_DROPS: secret labels a secret detector cannot share (identifiers,
   not credentials).
 * one-line secrets whose reported value holds a run of 8+ x/X (the usual
   redaction placeholder, e.g. hf_xxxx..., hooks.slack.com/services/TXXXXX/...).

Usage: python3 build_secretlint.py [git_dir]
"""
from __future__ import annotations

import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "secretlint"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/secretlint+secretlint/repo"
PKG = "packages/@secretlint/"

SKIP_RULES = {
    "secretlint-rule-no-homedir": "home-directory paths, not secrets",
    "secretlint-rule-no-dotenv": "flags .env file names, not contents",
    "secretlint-rule-pattern": "user-configured patterns (.secretlintrc.json per case)",
    "secretlint-rule-filter-comments": "tests disable-comments with toy 'THIS IS SECRET A' rules",
    "secretlint-rule-example": "template rule ('THIS IS SECRET.')",
    "secretlint-rule-no-k8s-kind-secret": "flags whole Kubernetes Secret manifests; its ng "
                                          "snapshots expect no messages, so lines cannot be labelled",
    "secretlint-rule-internal-test-cjs": "internal loader test, no snapshots",
    "secretlint-rule-internal-test-esm": "internal loader test, no snapshots",
    "secretlint-rule-preset-recommend": "snapshots are copies of the rules' own (import-tests.js)",
    "secretlint-rule-preset-canary": "snapshots are copies of the rules' own (import-tests.js)",
}

# (rule, case) -> reason
CASE_DROPS = {
    ("secretlint-rule-aws", "ng.AWS Account ID"):
        "AWS account ID (0000-0000-0000), an identifier reported only with enableIDScanRule",
    ("secretlint-rule-azure", "ng.ad_tenant_id"): "Azure AD tenant ID (a GUID), an identifier",
    ("secretlint-rule-azure", "ng.azure_client_id"): "Azure client ID (a GUID), an identifier",
}

PLACEHOLDER = re.compile(r"[xX]{8,}")
COMMENT = re.compile(r"^\s*(#|//|/\*|\*|<!--|;)")
# Something that could be (part of) a value: a digit, an assignment / URL /
# template character, or a dotted token (hvs.abc). Lines without any are prose
# ("THIS IS OK", "gXX is not GitHub Token prefix") or punctuation ("{").
VALUEISH = re.compile(r"[0-9_=:/@$\-+]|\w\.\w")


def path_for(file_path: str) -> str:
    name = file_path.rsplit("/", 1)[-1]
    return "input.txt" if name == "input" else name


def is_valueish(line: str) -> bool:
    s = line.strip()
    if not s or COMMENT.match(s):
        return False
    return bool(VALUEISH.search(s)) and len(s) >= 4


def benign_chunks(lines: list[str]) -> list[str]:
    """Lines of an input with no expected messages; PEM blocks kept whole."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"\s*-----BEGIN [A-Z0-9 ]+-----\s*$", line):
            j = i
            while j < len(lines) and not re.match(r"\s*-----END [A-Z0-9 ]+-----", lines[j]):
                j += 1
            out.append("\n".join(lines[i:j + 1]).rstrip("\n"))
            i = j + 1
            continue
        if is_valueish(line):
            out.append(line.rstrip())
        i += 1
    return out


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"secretlint/secretlint @ {commit}", file=sys.stderr)
    files = git(GIT_DIR, "ls-tree", "-r", "--name-only", commit, PKG).splitlines()
    rules = sorted({p[len(PKG):].split("/")[0] for p in files
                    if p[len(PKG):].startswith("secretlint-rule-")})
    fileset = set(files)
    records = []
    for rule in rules:
        if rule in SKIP_RULES:
            print(f"  skip rule {rule}: {SKIP_RULES[rule]}", file=sys.stderr)
            continue
        snap = f"{PKG}{rule}/test/snapshots/"
        cases = sorted({p[len(snap):].split("/")[0] for p in files
                        if p.startswith(snap) and p.endswith("/output.json")})
        if not cases:
            print(f"  skip rule {rule}: no snapshot cases", file=sys.stderr)
            continue
        n_s = n_b = 0
        for case in cases:
            cdir = snap + case + "/"
            if (rule, case) in CASE_DROPS:
                print(f"  skip {rule}/{case}: {CASE_DROPS[(rule, case)]}", file=sys.stderr)
                continue
            rc_path = cdir + ".secretlintrc.json"
            if rc_path in fileset:
                rc = show(GIT_DIR, commit, rc_path)
                if '"allows"' in rc or re.search(r'"enableIDScanRule"\s*:\s*false', rc):
                    print(f"  skip {rule}/{case}: label set by test config "
                          f"({' '.join(rc.split())[:120]})", file=sys.stderr)
                    continue
            out = json.loads(show(GIT_DIR, commit, cdir + "output.json"))
            if out.get("sourceContentType") != "text":
                print(f"  skip {rule}/{case}: {out.get('sourceContentType')} input", file=sys.stderr)
                continue
            path = path_for(out["filePath"])
            lines = out["sourceContent"].split("\n")
            msgs = out["messages"]
            if not msgs:
                for text in benign_chunks(lines):
                    records.append(record("benign", SCANNER, rule, path, text))
                    n_b += 1
                continue
            spans = sorted({(m["loc"]["start"]["line"], m["loc"]["end"]["line"]) for m in msgs})
            for a, b in spans:
                # a message ending at column 0 of line b does not cover line b
                end = b
                for m in msgs:
                    if (m["loc"]["start"]["line"], m["loc"]["end"]["line"]) == (a, b) \
                            and m["loc"]["end"]["column"] == 0 and b > a:
                        end = b - 1
                text = "\n".join(lines[a - 1:end]).strip("\n")
                if not text.strip():
                    continue
                # x-run check on the reported value itself (one line only: a
                # whole key file may hold "project_id": "xxxxxxxx" beside a key)
                vals = [out["sourceContent"][m["range"][0]:m["range"][1]] for m in msgs
                        if (m["loc"]["start"]["line"], m["loc"]["end"]["line"]) == (a, b)]
                if a == b and any(PLACEHOLDER.search(v) for v in vals):
                    print(f"  drop {rule}/{case} line {a}: x-run placeholder {text[:80]!r}",
                          file=sys.stderr)
                    continue
                records.append(record("secret", SCANNER, rule, path, text))
                n_s += 1
        print(f"  taking {rule}: {len(cases)} cases, {n_s} secret / {n_b} benign", file=sys.stderr)
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
