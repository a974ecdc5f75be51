#!/usr/bin/env python3
"""Build the sonar corpus from SonarSource/sonar-text's secret rules.

Source: the bare mirror made by `fetch github:SonarSource/sonar-text`. Each
rule in `sonar-text-plugin/src/main/resources/org/sonar/plugins/secrets/
configuration/*.yaml` carries `examples`, which the plugin's tests run: a
`text` (often several lines), `containsSecret: true|false`, and sometimes the
`fileName` it is scanned under.

containsSecret: true  -> secret; containsSecret: false -> benign.
Provider (the split key): the file's provider name, so that every rule of one
provider falls in the same half. Path: the example's `fileName`, else
`<rule id>.txt`.

The files include shared lists with a `${common/….yaml}` line, which is not
YAML; those lines are dropped before parsing (they only hold patterns).

Needs PyYAML. Usage: python3 build_sonar.py [git_dir]
"""
from __future__ import annotations

import re
import sys

import yaml

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "sonar"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/SonarSource+sonar-text/repo"
CONFIG = "sonar-text-plugin/src/main/resources/org/sonar/plugins/secrets/configuration/"
INCLUDE = re.compile(r"^\s*\$\{[^}]*\}\s*$", re.M)


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"SonarSource/sonar-text @ {commit}", file=sys.stderr)
    files = git(GIT_DIR, "ls-tree", "-r", "--name-only", commit).splitlines()
    records = []
    for p in sorted(files):
        if not (p.startswith(CONFIG) and p.endswith((".yaml", ".yml"))):
            continue
        spec = yaml.safe_load(INCLUDE.sub("", show(GIT_DIR, commit, p)))
        provider = spec["provider"]["metadata"]["name"]
        for rule in spec["provider"].get("rules") or []:
            for ex in rule.get("examples") or []:
                label = "secret" if ex["containsSecret"] else "benign"
                text = ex["text"].strip("\n")
                path = ex.get("fileName") or f"{rule['id']}.txt"
                records.append(record(label, SCANNER, provider, path, text))
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
