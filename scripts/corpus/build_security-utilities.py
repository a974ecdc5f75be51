#!/usr/bin/env python3
"""Build the security-utilities corpus from microsoft/security-utilities.

Source: the bare mirror made by `fetch github:microsoft/security-utilities`,
files src/Microsoft.Security.Utilities.Core/**/*.cs.

For every class whose Id starts with "SEC" (secret-detection patterns; the
DAT101/* data classifiers for GUIDs, IPs and numbers are left out), the bodies
of GenerateTruePositiveExamples / GenerateFalsePositiveExamples are read, and
each `yield return X;` / `return new[] { X, ... };` whose X is a C# string
literal is kept: plain "..", verbatim @"..", or interpolated $".." whose holes
are only `const string` fields of the same file. Anything built at run time
(RandomBase64, Guid.NewGuid, RNG, IdentifiableSecrets.Generate*, loops over
signatures, base.Generate...) is skipped and listed on stderr.

True positive -> secret, false positive -> benign. path is 'fixture.cfg'
(none of these patterns is language-specific).

Usage: python3 build_security-utilities.py [git_dir]
"""
from __future__ import annotations

import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "security-utilities"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/microsoft+security-utilities/repo"
ROOT = "src/Microsoft.Security.Utilities.Core/"


# ---------------------------------------------------------------- C# lexing
def skip_string(src: str, i: int) -> int:
    """src[i] starts a string/char literal (with optional $/@ prefixes); return index after it."""
    j = i
    interp = verbatim = False
    while src[j] in "$@":
        interp |= src[j] == "$"
        verbatim |= src[j] == "@"
        j += 1
    quote = src[j]
    j += 1
    depth = 0
    while True:
        c = src[j]
        if depth:
            if c in "\"'":
                j = skip_string(src, j)
                continue
            depth += c == "{"
            depth -= c == "}"
            j += 1
            continue
        if interp and c == "{":
            if src[j + 1] == "{":
                j += 2
                continue
            depth = 1
            j += 1
            continue
        if verbatim and c == quote and src[j + 1:j + 2] == quote:
            j += 2
            continue
        if not verbatim and c == "\\":
            j += 2
            continue
        if c == quote:
            return j + 1
        j += 1


def scan(src: str, i: int, stop: str) -> int:
    """Advance from i to the first top-level char in `stop`, skipping strings,
    comments and nested brackets."""
    depth = 0
    while i < len(src):
        c = src[i]
        if src.startswith("//", i):
            i = src.index("\n", i)
            continue
        if src.startswith("/*", i):
            i = src.index("*/", i) + 2
            continue
        if c == '"' or c == "'" or (c in "$@" and re.match(r"[$@]{1,2}\"", src[i:i + 3])):
            i = skip_string(src, i)
            continue
        if depth == 0 and c in stop:
            return i
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    raise ValueError("unbalanced source")


ESC = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
       "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def eval_literal(expr: str, consts: dict[str, str]) -> str | None:
    """Value of a C# string literal expression, or None if it is not one."""
    expr = expr.strip()
    m = re.fullmatch(r'([$@]{0,2})"(.*)"', expr, re.S)
    if not m:
        return None
    if skip_string(expr + "  ", 0) != len(expr):
        return None  # e.g. "a" + "b": more than one literal
    prefix, body = m.groups()
    interp, verbatim = "$" in prefix, "@" in prefix
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if verbatim and c == '"':
            out.append('"'); i += 2; continue
        if not verbatim and c == "\\":
            n = body[i + 1]
            if n == "u":
                out.append(chr(int(body[i + 2:i + 6], 16))); i += 6; continue
            if n == "x":
                h = re.match(r"[0-9a-fA-F]{1,4}", body[i + 2:]).group(0)
                out.append(chr(int(h, 16))); i += 2 + len(h); continue
            out.append(ESC[n]); i += 2; continue
        if interp and c in "{}":
            if body[i + 1:i + 2] == c:
                out.append(c); i += 2; continue
            end = body.index("}", i)
            name = body[i + 1:end].strip()
            if name not in consts:
                return None  # run-time value (random, Guid, ...)
            out.append(consts[name]); i = end + 1; continue
        out.append(c); i += 1
    return "".join(out)


def method_bodies(src: str, name: str) -> list[str]:
    bodies = []
    for m in re.finditer(rf"\b{name}\s*\(\s*\)\s*\{{", src):
        start = m.end()
        end = scan(src, start, "}")
        bodies.append(src[start:end])
    return bodies


def returned_exprs(body: str) -> list[str]:
    exprs = []
    for m in re.finditer(r"\b(yield\s+return|return)\b", body):
        i = m.end()
        end = scan(body, i, ";")
        e = body[i:end].strip()
        arr = re.fullmatch(r"new\s*(?:string)?\s*\[\s*\]\s*\{(.*)\}", e, re.S)
        if arr:
            inner, j, parts = arr.group(1), 0, []
            while j < len(inner):
                try:
                    k = scan(inner, j, ",")
                except ValueError:
                    k = len(inner)
                parts.append(inner[j:k]); j = k + 1
            exprs += [p.strip() for p in parts if p.strip()]
        else:
            exprs.append(e)
    return exprs


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"microsoft/security-utilities @ {commit}", file=sys.stderr)
    files = [p for p in git(GIT_DIR, "ls-tree", "-r", "--name-only", commit).splitlines()
             if p.startswith(ROOT) and p.endswith(".cs")]
    records = []
    for p in sorted(files):
        src = show(GIT_DIR, commit, p)
        if "Examples()" not in src:
            continue
        mid = re.search(r'\bId\s*=\s*"([^"]+)"', src)
        if not mid or not mid.group(1).startswith("SEC"):
            continue
        rid = mid.group(1)
        consts = {}
        for m in re.finditer(r"\bconst\s+string\s+(\w+)\s*=\s*", src):
            end = scan(src, m.end(), ";")
            v = eval_literal(src[m.end():end], {})
            if v is not None:
                consts[m.group(1)] = v
        for meth, label in (("GenerateTruePositiveExamples", "secret"),
                            ("GenerateFalsePositiveExamples", "benign")):
            for body in method_bodies(src, meth):
                for e in returned_exprs(body):
                    v = eval_literal(e, consts)
                    if v is None:
                        print(f"  skip {rid} {label}: {' '.join(e.split())[:110]}", file=sys.stderr)
                        continue
                    print(f"  take {rid} {label}: {v[:110]}", file=sys.stderr)
                    records.append(record(label, SCANNER, rid, "fixture.cfg", v))
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
