"""Shared helpers for the corpus builders in this directory (Python 3.11, stdlib only).

Each builder reads a scanner's repository from the local mirror made by the
`fetch` tool (a bare git dir, read with `git show`), turns its labelled
fixtures into records, and calls `write_split`.

Record: {"label", "source", "provider", "path", "text"}.
Split:  fnv1a64(provider) % 2 == 1  -> <source>-heldout.jsonl, else <source>.jsonl
Dedup:  duplicate texts inside one output file are dropped (first kept); a text
        seen with both labels in one file is dropped entirely and reported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

# Where the corpora go: REDLINE_CORPUS_DIR, or the shared folder.
OUT_DIR = os.environ.get("REDLINE_CORPUS_DIR", "/work/shared/corpus")

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64(s: str) -> int:
    h = FNV_OFFSET
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def is_heldout(provider: str) -> bool:
    return fnv1a64(provider) % 2 == 1


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args],
        check=True, capture_output=True,
    ).stdout.decode("utf-8")


def show(git_dir: str, commit: str, path: str) -> str:
    text = git(git_dir, "show", f"{commit}:{path}")
    return text.lstrip("\ufeff")


def head_commit(git_dir: str) -> str:
    return git(git_dir, "rev-parse", "HEAD").strip()


def record(label: str, scanner: str, provider: str, path: str, text: str) -> dict:
    assert label in ("secret", "benign"), label
    return {
        "label": label,
        "source": f"{scanner}:{provider}",
        "provider": provider,
        "path": path,
        "text": text,
    }


def _dedup(records: list[dict]) -> tuple[list[dict], list[str], int]:
    labels: dict[str, set] = {}
    for r in records:
        labels.setdefault(r["text"], set()).add(r["label"])
    conflicts = sorted(t for t, ls in labels.items() if len(ls) > 1)
    seen: set[str] = set()
    out, dups = [], 0
    for r in records:
        t = r["text"]
        if t in conflicts:
            continue
        if t in seen:
            dups += 1
            continue
        seen.add(t)
        out.append(r)
    return out, conflicts, dups


def write_split(source: str, records: list[dict]) -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    for r in records:
        assert r["text"] and "\n" not in json.dumps(r, ensure_ascii=False)
    halves = {
        f"{source}.jsonl": [r for r in records if not is_heldout(r["provider"])],
        f"{source}-heldout.jsonl": [r for r in records if is_heldout(r["provider"])],
    }
    for name, recs in halves.items():
        recs, conflicts, dups = _dedup(recs)
        path = os.path.join(OUT_DIR, name)
        with open(path, "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        n_s = sum(r["label"] == "secret" for r in recs)
        n_b = sum(r["label"] == "benign" for r in recs)
        provs = sorted({r["provider"] for r in recs})
        print(f"{path}: {len(recs)} lines, {n_s} secret / {n_b} benign, "
              f"{dups} duplicate texts dropped, providers={provs}", file=sys.stderr)
        for c in conflicts:
            print(f"  dropped text with conflicting labels: {c!r}", file=sys.stderr)
