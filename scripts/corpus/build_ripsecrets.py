#!/usr/bin/env python3
"""Build the ripsecrets corpus from sirwart/ripsecrets' test files.

Source: the bare mirror made by `fetch github:sirwart/ripsecrets`. Its tests
(src/lib.rs) assert that every line of `test/one_per_line/<kind>` holds a
secret, that every file of `test/one_per_file/` holds one, and that nothing
in `test/none` is reported.

one_per_line lines -> secret (provider: the file's name);
one_per_file files -> secret, the whole file as one text (provider: the file's name);
test/none lines    -> benign (provider: "none"; a line carrying an allowlist
pragma is kept: redline honours `pragma: allowlist secret` too).

Usage: python3 build_ripsecrets.py [git_dir]
"""
from __future__ import annotations

import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "ripsecrets"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/sirwart+ripsecrets/repo"


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"sirwart/ripsecrets @ {commit}", file=sys.stderr)
    files = git(GIT_DIR, "ls-tree", "-r", "--name-only", commit).splitlines()
    records = []
    for p in sorted(files):
        if not p.startswith("test/"):
            continue
        text = show(GIT_DIR, commit, p)
        kind = p.rsplit("/", 1)[-1]
        if p.startswith("test/one_per_line/"):
            for line in text.splitlines():
                if line.strip():
                    records.append(record("secret", SCANNER, kind, p, line))
        elif p.startswith("test/one_per_file/"):
            records.append(record("secret", SCANNER, kind, p, text.rstrip("\n")))
        elif p == "test/none":
            for line in text.splitlines():
                if line.strip():
                    records.append(record("benign", SCANNER, "none", p, line))
        else:
            print(f"skipped {p}: not named by the tests", file=sys.stderr)
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
