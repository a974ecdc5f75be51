#!/usr/bin/env python3
"""Keep what is new in a corpus and split it into tuning and held-out halves.

A scanner derived from another (betterleaks from gitleaks, titus from Nosey
Parker) repeats most of its parent's fixtures. Measured as they are, they
would count texts redline was already tuned on. This drops every record
whose text appears in any of the SEEN corpora, then writes the rest with
`write_split` (provider hash) as `<name>.jsonl` and `<name>-heldout.jsonl`.

Usage: fresh.py IN NAME SEEN.jsonl [SEEN.jsonl ...]
"""
import json
import sys

from _corpus_common import write_split


def main() -> None:
    src, name, *seen_files = sys.argv[1:]
    seen = set()
    for f in seen_files:
        with open(f, encoding="utf-8") as fh:
            seen.update(json.loads(line)["text"] for line in fh)
    with open(src, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    new = [r for r in rows if r["text"] not in seen]
    print(f"{src}: {len(rows)} records, {len(rows) - len(new)} already in {len(seen_files)} "
          f"corpora, {len(new)} new", file=sys.stderr)
    write_split(name, new)


if __name__ == "__main__":
    main()
