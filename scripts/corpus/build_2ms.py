#!/usr/bin/env python3
"""Build the 2ms corpus from Checkmarx/2ms' rule tests.

Source: the bare mirror made by `fetch github:Checkmarx/2ms`. Each rule in
`engine/rules/ruledefine/<rule>.go` has a `<rule>_test.go` whose table lists
`truePositives` (each must give a finding) and `falsePositives` (each must
give none), run through the rule alone.

truePositives -> secret, falsePositives -> benign; provider (the split key):
the test file's stem; path `fixture.cfg`, as the gitleaks builder writes.
Entries are read with the Go evaluator in gosrc.py (literals, constants,
`+`, fmt.Sprintf, strings.*); one it cannot evaluate is skipped and counted.
2ms took many rules from gitleaks, so run `fresh.py` on the output.

Usage: python3 build_2ms.py [git_dir]
"""
from __future__ import annotations

import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402
from gosrc import Env, ParseError, Parser, Unresolved, collect_decls, evaluate, tokenize  # noqa: E402

SCANNER = "2ms"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/Checkmarx+2ms/repo"
DIR = "engine/rules/ruledefine/"
LABELS = {"truePositives": "secret", "falsePositives": "benign"}


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"Checkmarx/2ms @ {commit}", file=sys.stderr)
    files = [p for p in git(GIT_DIR, "ls-tree", "-r", "--name-only", commit, DIR).splitlines()
             if p.endswith("_test.go")]
    records, skipped = [], 0
    for p in sorted(files):
        rule = p[len(DIR):-len("_test.go")]
        toks = tokenize(show(GIT_DIR, commit, p))
        env = Env()
        collect_decls(toks, 0, len(toks) - 1, env, toplevel=True)
        local = Env(env)
        collect_decls(toks, 0, len(toks) - 1, local, toplevel=False)
        for i, tok in enumerate(toks[:-2]):
            label = LABELS.get(tok.val) if tok.kind == "ident" else None
            if not label or toks[i + 1].val != ":":
                continue
            try:
                node = Parser(toks, i + 2).parse_expr()
            except (ParseError, IndexError):
                print(f"  skip {p}: {tok.val} table not parsed", file=sys.stderr)
                continue
            items = node[2] if node[0] == "comp" else []
            for _, item in items:
                try:
                    text = evaluate(item, local)
                except Unresolved as e:
                    skipped += 1
                    print(f"  skip {p}: {tok.val} entry not evaluated ({e})", file=sys.stderr)
                    continue
                if isinstance(text, str) and text.strip():
                    records.append(record(label, SCANNER, rule, "fixture.cfg", text))
    print(f"{len(records)} records, {skipped} entries not evaluated", file=sys.stderr)
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
