#!/usr/bin/env python3
"""Build the DevSkim corpus from microsoft/DevSkim rules/default/**.json.

Source: the bare mirror made by `fetch github:microsoft/DevSkim`.
Rules taken: those whose name or tags speak of secrets,
credentials, passwords, tokens, API keys or private keys. "Hard-coded" alone
is not enough: DevSkim uses it for hard-coded TLS protocol versions and IV
sizes, which are not secrets. At the pinned commit only
rules/default/security/privacy/secrets.json qualifies (DS173237, DS117838).

must-match -> secret, must-not-match -> benign.
path: 'fixture.<ext>' when the rule is restricted (applies_to) to exactly one
language, else 'fixture.cfg'.

Usage: python3 build_devskim.py [git_dir]
"""
from __future__ import annotations

import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import head_commit, git, record, show, write_split  # noqa: E402

SCANNER = "devskim"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/microsoft+DevSkim/repo"

SECRET_WORDS = re.compile(
    r"secret|credential|password|passwd|token|api[ _-]?key|private[ _-]?key|"
    r"access[ _-]?key|Implementation\.Privacy\.Token", re.I)

LANG_EXT = {
    "csharp": "cs", "c": "c", "cpp": "cpp", "objective-c": "m", "java": "java",
    "javascript": "js", "typescript": "ts", "python": "py", "ruby": "rb",
    "php": "php", "go": "go", "rust": "rs", "swift": "swift", "kotlin": "kt",
    "powershell": "ps1", "shellscript": "sh", "sql": "sql", "vb": "vb",
    "yaml": "yaml", "json": "json", "xml": "xml", "cobol": "cbl",
}


def path_for(rule: dict) -> str:
    langs = rule.get("applies_to") or []
    if len(langs) == 1 and langs[0] in LANG_EXT:
        return f"fixture.{LANG_EXT[langs[0]]}"
    return "fixture.cfg"


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"microsoft/DevSkim @ {commit}", file=sys.stderr)
    files = [p for p in git(GIT_DIR, "ls-tree", "-r", "--name-only", commit).splitlines()
             if p.startswith("rules/default/") and p.endswith(".json")]
    records = []
    for p in sorted(files):
        for rule in json.loads(show(GIT_DIR, commit, p)):
            # name and tags only: descriptions mention e.g. the package
            # "Microsoft.IdentityModel.Tokens" (DS300005, vulnerable NuGet).
            about = " ".join([rule.get("name", ""), *rule.get("tags", [])])
            if not SECRET_WORDS.search(about):
                continue
            rid = rule["id"]
            print(f"  taking {rid} ({p}): {rule['name']} tags={rule.get('tags')} "
                  f"must-match={len(rule.get('must-match', []))} "
                  f"must-not-match={len(rule.get('must-not-match', []))}", file=sys.stderr)
            for label, key in (("secret", "must-match"), ("benign", "must-not-match")):
                for text in rule.get(key, []):
                    text = text.strip()
                    if text:
                        records.append(record(label, SCANNER, rid, path_for(rule), text))
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
