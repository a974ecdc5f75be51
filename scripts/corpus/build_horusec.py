#!/usr/bin/env python3
"""Build the horusec corpus from ZupIT/horusec's leaks rules.

Source: the bare mirror made by `fetch github:ZupIT/horusec`. The leaks
engine's tests (internal/services/engines/leaks/rules_test.go) scan each
`SampleVulnerableHSLEAKS<n>` of samples.go and expect a finding, and scan
each `SampleSafeHSLEAKS<n>` and expect none.

Vulnerable samples named by a test case with a finding -> secret, safe
samples -> benign, each the whole sample as one text (a few lines of YAML or
code). Provider (the split key): the rule, `HS-LEAKS-<n>`. Path: the test's
file name, `HS-LEAKS-<n>.test`.

Usage: python3 build_horusec.py [git_dir]
"""
from __future__ import annotations

import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import head_commit, record, show, write_split  # noqa: E402

SCANNER = "horusec"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/ZupIT+horusec/repo"
DIR = "internal/services/engines/leaks/"
CONST = re.compile(r"(Sample(Vulnerable|Safe)HSLEAKS(\d+))\s*=\s*`([^`]*)`")
CASE = re.compile(r"Src:\s*(\w+),.*?Findings:\s*\[\]engine\.Finding\{(.*?)\n\t\t\t\},", re.S)


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"ZupIT/horusec @ {commit}", file=sys.stderr)
    samples = show(GIT_DIR, commit, DIR + "samples.go")
    tests = show(GIT_DIR, commit, DIR + "rules_test.go")
    flagged = {m.group(1) for m in CASE.finditer(tests) if "CodeSample" in m.group(2)}
    records = []
    for m in CONST.finditer(samples):
        name, kind, n, body = m.groups()
        text = "\n".join(l for l in body.strip("\n").splitlines() if l.strip())
        rule = f"HS-LEAKS-{n}"
        if kind == "Safe":
            records.append(record("benign", SCANNER, rule, f"{rule}.test", text))
        elif name in flagged:
            records.append(record("secret", SCANNER, rule, f"{rule}.test", text))
        else:
            print(f"skipped {name}: no test expects a finding in it", file=sys.stderr)
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
