#!/usr/bin/env python3
"""Build labelled secret-scanner corpora from trufflehog detector pattern tests.

Source: pkg/detectors/**/<x>_test.go (unit tests only; files with the
`//go:build detectors` / integration tag are skipped).  In every Test* function
that calls FromData, each `[]struct{...}{...}` table with a string input field
(`input` or `data`) and a label field is read:

  want []string          non-empty -> "secret", empty/nil/absent -> "benign"
  expectedPairs []string same
  shouldMatch bool       true -> secret, false -> benign
  wantMatched/wantCount  true / >0 -> secret, else benign

Cases with `skip: true`, or with `useFoundEndpoint` false (the result depends on
a configured, non-default endpoint) are skipped.  Inputs are resolved with a
small Go evaluator (gosrc.py): literals, const/var/:= bindings in function,
file and package scope, `+`, fmt.Sprintf, strings.* helpers.  Cases whose
input or label can't be resolved are skipped and counted.

provider = first folder under pkg/detectors (versions such as gitlab/v2 and
sub-detectors such as aws/session_keys share the provider, so they land in the
same split).  Split: fnv1a64(provider) % 2 == 1 -> held-out.
Exact duplicates (same label, provider, text) are dropped.

Usage: build_th.py [--git-dir DIR] [--rev HEAD] [--out F] [--heldout F] [-v]
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gosrc import (Env, Parser, ParseError, Unresolved, collect_decls,  # noqa: E402
                   evaluate, tokenize)

DET = "pkg/detectors/"
INPUT_FIELDS = ("input", "data")


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def git(git_dir, *args):
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True,
                          capture_output=True).stdout


def is_integration(path, src):
    head = src[:2000]
    return ("integration" in os.path.basename(path) or "integeration" in path
            or "integreation" in path or "//go:build detectors" in head
            or "// +build detectors" in head)


def struct_fields(toks, lo, hi):
    """Field names/types of `struct { ... }` whose braces are toks[lo] .. toks[hi]."""
    lines, cur = [], []
    for t in toks[lo + 1:hi]:
        if (t.nl or (t.kind == "op" and t.val == ";")) and cur:
            lines.append(cur)
            cur = []
        if not (t.kind == "op" and t.val == ";"):
            cur.append(t)
    if cur:
        lines.append(cur)
    fields = []
    for ln in lines:
        if ln[-1].kind == "str":  # struct tag
            ln = ln[:-1]
        if len(ln) == 1:
            fields.append((ln[0].val, ln[0].val))
            continue
        names, k = [ln[0].val], 1
        while k + 1 < len(ln) and ln[k].val == "," and ln[k].kind == "op":
            names.append(ln[k + 1].val)
            k += 2
        typ = " ".join(str(t.val) for t in ln[k:])
        for n in names:
            fields.append((n, typ))
    return fields


def find_funcs(toks):
    """Yield (name, body_lo, body_hi) for top-level `func TestX(...)` (no receiver)."""
    i, depth = 0, 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "op" and t.val in "({[":
            depth += 1
        elif t.kind == "op" and t.val in ")}]":
            depth -= 1
        elif depth == 0 and t.kind == "ident" and t.val == "func" and toks[i + 1].kind == "ident":
            name = toks[i + 1].val
            p = Parser(toks, i + 2)
            try:
                while not p.at("{"):
                    if p.at("(") or p.at("["):
                        p.skip_balanced()
                    else:
                        p.next()
                lo = p.i
                p.skip_balanced()
                yield name, lo, p.i - 1
                i = p.i
                continue
            except ParseError:
                pass
        i += 1


def find_tables(toks, lo, hi):
    """Yield (fields, elems) for each `[]struct{...}{...}` in toks[lo:hi]."""
    i = lo
    while i < hi:
        if (toks[i].val == "[" and toks[i + 1].val == "]" and toks[i + 2].val == "struct"
                and toks[i + 3].val == "{"):
            p = Parser(toks, i + 3)
            p.skip_balanced()
            s_hi = p.i - 1
            if p.at("{"):
                fields = struct_fields(toks, i + 3, s_hi)
                try:
                    elems = p.parse_comp_body()
                    yield fields, elems
                    i = p.i
                    continue
                except ParseError as e:
                    yield fields, e
        i += 1


def truthy(v):
    return bool(v) and v is not None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", default="/work/.mirror/trufflesecurity+trufflehog/repo")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--out", default=os.path.join(os.environ.get("REDLINE_CORPUS_DIR", "/work/shared/corpus"), "th.jsonl"))
    ap.add_argument("--heldout", default=os.path.join(os.environ.get("REDLINE_CORPUS_DIR", "/work/shared/corpus"), "th-heldout.jsonl"))
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    commit = git(a.git_dir, "rev-parse", a.rev).decode().strip()
    all_files = [f for f in git(a.git_dir, "ls-tree", "-r", "--name-only", commit, DET)
                 .decode().splitlines() if f.endswith(".go")]
    by_dir = collections.defaultdict(list)
    for f in all_files:
        by_dir[os.path.dirname(f)].append(f)

    stats = collections.Counter()
    skipped = collections.Counter()
    skipped_examples = collections.defaultdict(list)
    ignored_tables = collections.Counter()
    rows = []

    def skip(reason, where):
        skipped[reason] += 1
        if len(skipped_examples[reason]) < 8:
            skipped_examples[reason].append(where)

    for d in sorted(by_dir):
        rel = d[len(DET):]
        if not rel:  # pkg/detectors itself: shared helpers, no detector
            continue
        provider = rel.split("/")[0]
        srcs, toks_of = {}, {}
        for f in by_dir[d]:
            srcs[f] = git(a.git_dir, "show", f"{commit}:{f}").decode("utf-8", "replace")
        tests = [f for f in by_dir[d] if f.endswith("_test.go") and not is_integration(f, srcs[f])]
        if not tests:
            continue
        pkg_env = Env()
        # test files first so their package-level names win (they're unique in Go anyway)
        for f in sorted(by_dir[d], key=lambda f: (not f.endswith("_test.go"), f)):
            if f.endswith("_test.go") and is_integration(f, srcs[f]):
                continue
            try:
                toks_of[f] = tokenize(srcs[f])
            except ParseError as e:
                print(f"  tokenize failed {f}: {e}", file=sys.stderr)
                continue
            collect_decls(toks_of[f], 0, len(toks_of[f]) - 1, pkg_env, toplevel=True)

        for f in sorted(tests):
            toks = toks_of.get(f)
            if toks is None:
                continue
            for fname, lo, hi in find_funcs(toks):
                if not fname.startswith("Test"):
                    continue
                body_vals = {t.val for t in toks[lo:hi] if t.kind == "ident"}
                if "FromData" not in body_vals:
                    continue
                fenv = Env(pkg_env)
                collect_decls(toks, lo + 1, hi, fenv, toplevel=False)
                for fields, elems in find_tables(toks, lo, hi):
                    names = [n for n, _ in fields]
                    ftype = dict(fields)
                    inp = next((n for n in INPUT_FIELDS if ftype.get(n) == "string"), None)
                    lab = None
                    for cand, typ in (("want", "[ ]"), ("expectedPairs", "[ ]"),
                                      ("shouldMatch", "bool"), ("wantMatched", "bool"),
                                      ("wantCount", "int")):
                        if ftype.get(cand, "").startswith(typ) and "Result" not in ftype[cand]:
                            lab = cand
                            break
                    if inp is None or lab is None:
                        ignored_tables[f"{rel}:{fname} fields={names}"] += 1
                        continue
                    if isinstance(elems, ParseError):
                        stats["tables_parse_error"] += 1
                        skip("table parse error", f"{rel}:{fname}: {elems}")
                        continue
                    stats["tables"] += 1
                    stats["tables_non_Pattern_func"] += "Pattern" not in fname
                    for k, (_, el) in enumerate(elems):
                        stats["cases"] += 1
                        where = f"{rel}/{fname}#{k}"
                        if el[0] != "comp":
                            skip("case not a literal", where)
                            continue
                        vals = {}
                        for pos, (key, node) in enumerate(el[2]):
                            if key is None:
                                if pos < len(names):
                                    vals[names[pos]] = node
                            elif key[0] == "ident":
                                vals[key[1]] = node
                        try:
                            cname = evaluate(vals["name"], fenv) if "name" in vals else f"case{k}"
                        except Unresolved:
                            cname = f"case{k}"
                        where = f"{rel}/{fname}/{cname}"
                        try:
                            if "skip" in vals and truthy(evaluate(vals["skip"], fenv)):
                                skip("skip: true (t.Skip)", where)
                                continue
                            if "useFoundEndpoint" in ftype and not truthy(
                                    evaluate(vals["useFoundEndpoint"], fenv) if "useFoundEndpoint" in vals else False):
                                skip("non-default endpoint config (useFoundEndpoint=false)", where)
                                continue
                            if "skipUnverified" in vals and truthy(evaluate(vals["skipUnverified"], fenv)):
                                skip("non-default feature flag (skipUnverified=true)", where)
                                continue
                        except Unresolved as e:
                            skip(f"unresolved config: {e}", where)
                            continue
                        # label
                        node = vals.get(lab)
                        try:
                            if node is None:
                                positive = False
                            elif node[0] == "comp":
                                positive = len(node[2]) > 0
                            else:
                                v = evaluate(node, fenv)
                                positive = (v > 0) if lab == "wantCount" else truthy(v)
                            if lab == "wantCount" and "wantMatched" in vals:
                                positive = positive or truthy(evaluate(vals["wantMatched"], fenv))
                        except Unresolved as e:
                            skip("unresolved label field", f"{where}: {e}")
                            continue
                        if inp not in vals:
                            skip("no input", where)
                            continue
                        try:
                            text = evaluate(vals[inp], fenv)
                        except Unresolved as e:
                            skip("unresolved input", f"{where}: {e}")
                            continue
                        if isinstance(text, (bytes, bytearray)):
                            text = text.decode("utf-8", "replace")
                        if not isinstance(text, str):
                            skip("input not a string", where)
                            continue
                        if text == "":
                            skip("empty input", where)
                            continue
                        if positive and node is not None and node[0] == "comp" and lab in ("want", "expectedPairs"):
                            # diagnostic: some 8+ char run of each wanted value should be in the text
                            try:
                                wants = [evaluate(v, fenv) for _, v in node[2]]
                                flat = []
                                for w in wants:
                                    flat.extend(w if isinstance(w, list) else [w])
                                for w in flat:
                                    # wanted values are often concatenations (id+secret, id:secret):
                                    # accept if its head or tail (12 chars) occurs in the text
                                    w = str(w)
                                    if len(w) >= 12 and not (w[:12] in text or w[-12:] in text):
                                        stats["diag_want_not_in_text"] += 1
                                        if a.verbose:
                                            print(f"  diag: want {str(w)[:60]!r} not in text of {where}", file=sys.stderr)
                                        break
                                stats["diag_want_checked"] += 1
                            except Unresolved:
                                stats["diag_want_unresolved"] += 1
                        rows.append({"label": "secret" if positive else "benign",
                                     "source": f"trufflehog:{where}",
                                     "provider": provider, "path": "fixture.cfg", "text": text})

    # dedupe
    seen, out_rows = set(), []
    for r in rows:
        key = (r["label"], r["provider"], r["text"])
        if key in seen:
            stats["dup_dropped"] += 1
            continue
        seen.add(key)
        out_rows.append(r)
    both = collections.defaultdict(set)
    for r in out_rows:
        both[(r["provider"], r["text"])].add(r["label"])
    stats["texts_both_labels_same_provider"] = sum(len(v) == 2 for v in both.values())

    split = {"tuning": [], "heldout": []}
    for r in out_rows:
        split["heldout" if fnv1a64(r["provider"]) % 2 == 1 else "tuning"].append(r)
    for name, path in (("tuning", a.out), ("heldout", a.heldout)):
        with open(path, "w", encoding="utf-8") as fh:
            for r in split[name]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        c = collections.Counter(r["label"] for r in split[name])
        provs = {r["provider"] for r in split[name]}
        print(f"{name}: {path}: secret={c['secret']} benign={c['benign']} providers={len(provs)}",
              file=sys.stderr)

    print(f"trufflehog {commit}", file=sys.stderr)
    for k, v in sorted(stats.items()):
        print(f"  {k}: {v}", file=sys.stderr)
    print(f"  skipped cases: {sum(skipped.values())}", file=sys.stderr)
    for k, v in skipped.most_common():
        print(f"    {v:4d}  {k}", file=sys.stderr)
        if a.verbose:
            for w in skipped_examples[k]:
                print(f"            {w}", file=sys.stderr)
    if a.verbose:
        print(f"  ignored tables (no string input + label field) in FromData tests: {len(ignored_tables)}",
              file=sys.stderr)
        for k in sorted(ignored_tables):
            print(f"    {k}", file=sys.stderr)


if __name__ == "__main__":
    main()
