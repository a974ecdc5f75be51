#!/usr/bin/env python3
"""Build a labelled secret-scanner corpus from Nosey Parker's built-in rule fixtures.

Each rule YAML (crates/noseyparker/data/default/builtin/rules/*.yml) carries
  examples:           inputs the rule is asserted to match   -> label "secret"
  negative_examples:  inputs the rule is asserted NOT to match -> label "benign"
(both asserted by `noseyparker rules check`, cmd_rules_check.rs).

Note: a few rules carry an unknown key such as `non_examples`; serde ignores
unknown keys, so those texts are never checked by the scanner and are NOT
emitted (counted and reported on stderr instead).

Reads straight from the bare mirror with `git show`, no work tree needed.
Output: JSON Lines, one object per example:
  {"label", "source": "noseyparker:<rule id>", "provider": <rule id>,
   "path": "fixture.cfg", "text"}

Usage: build_np.py [--git-dir DIR] [--rev HEAD] [--out FILE]
"""
import argparse
import os
import collections
import json
import subprocess
import sys

import yaml

RULES_DIR = "crates/noseyparker/data/default/builtin/rules/"


def git(git_dir, *args):
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True,
                          capture_output=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", default="/work/.mirror/praetorian-inc+noseyparker/repo")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--rules-dir", default=RULES_DIR,
                    help="rule folder (titus, Nosey Parker's successor: pkg/rule/rules/)")
    ap.add_argument("--scanner", default="noseyparker", help="name in each record's source")
    ap.add_argument("--out", default=os.path.join(os.environ.get("REDLINE_CORPUS_DIR", "/work/shared/corpus"), "np.jsonl"))
    a = ap.parse_args()

    commit = git(a.git_dir, "rev-parse", a.rev).decode().strip()
    files = [f for f in git(a.git_dir, "ls-tree", "-r", "--name-only", commit, a.rules_dir)
             .decode().splitlines() if f.endswith((".yml", ".yaml"))]
    if not files:
        sys.exit(f"no rule files under {a.rules_dir} at {commit}")

    rows, seen = [], set()
    stats = collections.Counter()
    unknown_keys = collections.Counter()
    known = {"name", "id", "pattern", "description", "examples",
             "negative_examples", "references", "categories"}
    for f in sorted(files):
        doc = yaml.safe_load(git(a.git_dir, "show", f"{commit}:{f}"))
        for rule in (doc or {}).get("rules", []):
            rid = rule["id"]
            stats["rules"] += 1
            for k in set(rule) - known:
                n = len(rule[k]) if isinstance(rule[k], list) else 1
                unknown_keys[(rid, k)] += n
            for key, label in (("examples", "secret"), ("negative_examples", "benign")):
                for text in rule.get(key) or []:
                    if not isinstance(text, str):
                        stats["skipped_non_string"] += 1
                        continue
                    dk = (label, rid, text)
                    if dk in seen:
                        stats["dup_dropped"] += 1
                        continue
                    seen.add(dk)
                    rows.append({"label": label, "source": f"{a.scanner}:{rid}",
                                 "provider": rid, "path": "fixture.cfg", "text": text})
                    stats[label] += 1

    # the same text asserted both ways (by different rules) is worth knowing about
    by_text = collections.defaultdict(set)
    for r in rows:
        by_text[r["text"]].add(r["label"])
    stats["texts_with_both_labels"] = sum(1 for v in by_text.values() if len(v) == 2)

    # Scored as a whole scanner: a text one rule lists as a negative example
    # and another lists as an example is a secret to noseyparker.
    listed = {r["text"] for r in rows if r["label"] == "secret"}
    before = len(rows)
    rows = [r for r in rows if r["label"] == "secret" or r["text"] not in listed]
    stats["benign_listed_as_secret_dropped"] = before - len(rows)

    with open(a.out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    print(f"{a.scanner} {commit}: {len(files)} rule files -> {a.out}", file=sys.stderr)
    for k, v in sorted(stats.items()):
        print(f"  {k}: {v}", file=sys.stderr)
    for (rid, k), n in sorted(unknown_keys.items()):
        print(f"  not emitted: {rid} unknown key '{k}' ({n} item(s), not checked by scanner)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
