#!/usr/bin/env python3
"""Build the semgrep corpus from semgrep/semgrep-rules (rule tests of its secret rules).

Source: the bare mirror made by `fetch github:semgrep/semgrep-rules`.

A semgrep rule `X.yaml` is tested on the files next to it named `X.<ext>`
(`X.txt`, `X.py`, `X.test.yaml`, `X.build.gradle`, ...; `X.fixed.*` are
autofix outputs and not used). A comment line holding only an annotation
marks the NEXT line (semgrep's own parser: the comment must be alone on its
line; `#`, `//`, `<!-- -->`, `/* */`, `(* *)`, `{/* */}`; several ids may be
comma-separated; `pro`/`deep` prefixes accepted):
    ruleid: / todoruleid:  -> secret   (must be reported / should be)
    ok:     / todook:      -> benign   (must not be reported / should not be)

Rules taken:
 * every rule under generic/secrets/ (security/ and gitleaks/);
 * language rules whose id or file name speaks of a hard-coded secret,
   password, credential, token or key (LANG_WORDS), minus those in
   EXCLUDED_RULES, which are about something else (weak hashing, JWT
   algorithm "none", missing @secure, secret expiry, ...), each with its reason.

Text: the annotated line, stripped. A private-key header line takes its block
(to the `-----END` line, or to the next blank line where the fixture has no
END: detected-private-key's pattern is the header plus the key line). A line
that opens a bracket it does not close takes the whole bracketed statement
(at most MAX_BLOCK lines) when it holds no literal (`s3 = boto3.resource(`,
`{` of an options object), and always for a benign line of a language rule
(`provider "aws" {`): a secret whose statement cannot be closed is skipped, a
benign one keeps its single line (so does a benign statement that would take
in a secret line of the same rule). Annotation lines inside a block are left
out of its text.

Drops, each counted on stderr:
 * a secret line of a language rule with no literal at all (the rule follows
   a variable or constant defined elsewhere: `jwt.sign(payload, secret)`,
   `ARG SECRET_TOKEN`): not a hard-coded secret a line-based scanner can see;
 * SECRET_DROPS: secret lines whose only literals are not the secret
   (`JWT.encode payload, nil, 'HS256'`), or markers with no credential;
 * BENIGN_DROPS: benign lines that are negatives only for a narrow rule but
   hard-code a credential themselves;
 * annotations naming a rule the paired yaml does not define, or a rule not
   taken; fixtures with no rule yaml of their name (gitleaks/slack-access-token.go,
   slack-web-hook.go: semgrep does not test them) are listed and skipped.

provider = the rule id for generic/secrets (`detected-slack-token`,
`generic-api-key`), `<language folder>.<rule id>` for the others
(`python.hardcoded-token`, `javascript.hardcoded-jwt-secret`).
path = the fixture's path in the repository. Split by provider
(`_corpus_common.write_split`): semgrep.jsonl / semgrep-heldout.jsonl.

Usage: python3 build_semgrep.py [git_dir]
"""
from __future__ import annotations

import collections
import os
import re
import sys
import textwrap

sys.path.insert(0, os.path.dirname(__file__))
from _corpus_common import git, head_commit, record, show, write_split  # noqa: E402

SCANNER = "semgrep"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/semgrep+semgrep-rules/repo"

MAX_BLOCK = 15        # lines of a bracketed statement
MAX_PEM = 200         # lines of a private-key block

LANG_WORDS = re.compile(
    r"hard-?cod|secret|passw|credential|token|api[-_]?key|detected-", re.I)

# Language rules matching LANG_WORDS that are not about a hard-coded credential.
EXCLUDED_RULES = {
    "hardcoded-eq-true-or-false": "correctness: `x == true`",
    "hardcoded-conditional": "correctness: constant condition",
    "hardcoded-tmp-path": "best practice: /tmp path",
    "avoid_hardcoded_config_TESTING": "flask TESTING flag, not a secret",
    "avoid_hardcoded_config_ENV": "flask ENV setting, not a secret",
    "avoid_hardcoded_config_DEBUG": "flask DEBUG flag, not a secret",
    "md5-used-as-password": "weak hashing of a password, no literal",
    "jwt-python-exposed-credentials": "password put into a JWT payload, no literal",
    "ruby-jwt-exposed-credentials": "password put into a JWT payload, no literal",
    "jwt-tokenvalidationparameters-no-expiry-validation": "JWT expiry validation",
    "unsigned-security-token": "unsigned token config",
    "django-no-csrf-token": "missing CSRF token in a template",
    "unvalidated-password": "password not validated before set_password",
    "use-none-for-password-default": "default password argument should be None",
    "password-empty-string": "set_password(\"\"): empty password, no secret literal",
    "hashids-with-django-secret": "SECRET_KEY used as a hashids salt, no literal",
    "hashids-with-flask-secret": "SECRET_KEY used as a hashids salt, no literal",
    "python-logger-credential-disclosure": "credential written to a log",
    "ldap-bind-without-password": "LDAP bind with no password",
    "balancer-readonly-reentrancy-getpooltokens": "solidity reentrancy",
    "compound-sweeptoken-not-restricted": "solidity access control",
    "gearbox-tokens-path-confusion": "solidity path confusion",
    "secure-parameter-for-secrets": "bicep parameter lacks @secure(); no value",
    "api-key-in-query-parameter": "OpenAPI design (API key in query string), no value",
    "aws-secretsmanager-secret-unencrypted": "secret resource lacks a KMS key",
    "azure-secret-content-type": "key vault secret lacks a content type",
    "azure-secret-expiration-date": "key vault secret lacks an expiry",
    "keyvault-ensure-secret-expires": "key vault secret lacks an expiry",
    "keyvault-content-type-for-secret": "key vault secret lacks a content type",
    "azure-scale-set-password": "VM scale set allows password auth; flags the resource block",
    "named-credentials-string-match": "Apex: use Named Credentials; flags an Authorization header built from variables",
    "named-credentials-constant-match": "Apex: use Named Credentials; flags an Authorization header built from variables",
}

# Secret-labelled texts dropped: (provider, substring of the text, reason).
SECRET_DROPS = [
    ("detected-google-gcm-service-account", '"type": "service_account"',
     "marker line of a service-account JSON, holds no credential"),
    ("detected-etc-shadow", "root::",
     "shadow entry whose password field is empty: a finding, not a secret"),
    ("python.jwt-python-hardcoded-secret", "secret_const, algorithm=",
     "key passed as a variable; the literals are the payload and 'HS256'"),
    ("python.jwt-python-hardcoded-secret", "}, secret, algorithm=",
     "key passed as a variable; the literals are the payload and 'HS256'"),
    ("ruby.ruby-jwt-hardcoded-secret", "JWT.encode payload, hmac_secret,",
     "key passed as a variable; the only literal is 'HS256'"),
    ("ruby.ruby-jwt-hardcoded-secret", "JWT.decode token, secret_const,",
     "key passed as a variable; the only literal is 'HS256'"),
    ("ruby.ruby-jwt-hardcoded-secret", "JWT.encode payload, nil,",
     "nil key (no secret); the only literal is 'HS256'"),
    ("javascript.hardcoded-passport-secret", "clientSecret: FACEBOOK_APP_SECRET",
     "secret passed as a variable; the only literal is a callback path"),
    ("javascript.hardcoded-hmac-key", "createHmac('sha256', rsa_key)",
     "key passed as a variable; the only literal is 'sha256'"),
    ("python.hardcoded-token", "aws_access_key_id=uhoh_key",
     "key passed as a variable; the literals are 's3', a region and an endpoint"),
    ("python.hardcoded-token", "aws_secret_access_key=uhoh_secret",
     "secret passed as a variable; the literals are 's3', a region and an endpoint"),
]

# Benign-labelled texts dropped: (provider, substring, reason).
BENIGN_DROPS = [
    ("python.hardcoded-password-default-argument", 'password = "this-is-probably-a-test"',
     "negative only because it is not a default argument; it hard-codes a password"),
]

ANN_RE = re.compile(r"^(ruleid|ok|todoruleid|todook):(.*)$")
ANN_HINT = re.compile(r"(ruleid|ok|todoruleid|todook):")
INLINE_ANN = re.compile(r"\S.*?(#|//|<!--|/\*)\s*(?:pro|deep)?(ruleid|todoruleid|todook):\s*[\w.-]+")
COMMENTS = [("{/*", "*/}"), ("#", None), ("//", None), ("<!--", "-->"),
            ("(*", "*)"), ("/*", "*/")]
PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)+"|\'(?:[^\'\\\n]|\\.)+\'|`[^`\n]+`')
# An unquoted value in a config-like file: `key: value`, `KEY=value`.
BARE_VALUE = re.compile(r"^\s*[\w.\-/ \[\]\"']+?\s*[:=]\s*(?![\s$<{(\[]|$)\S")
CONFIG_EXT = (".yaml", ".yml", ".tf", ".npmrc", ".env", ".properties", ".txt",
              ".dockerfile", ".cfg", ".ini", ".toml")
KIND_LABEL = {"ruleid": "secret", "todoruleid": "secret", "ok": "benign", "todook": "benign"}


def parse_annotation(line: str) -> tuple[str, list[str]] | None:
    """semgrep's annotation parser (Test_annotation.ml): comment alone on its line."""
    s = line.strip()
    if not ANN_HINT.search(s):
        return None
    for prefix, suffix in COMMENTS:
        if s.startswith(prefix):
            s = s[len(prefix):]
            if suffix and s.endswith(suffix):
                s = s[: -len(suffix)]
            s = s.strip()
            for eng in ("pro", "deep"):
                if s.startswith(eng) and ANN_RE.match(s[len(eng):]):
                    s = s[len(eng):]
            m = ANN_RE.match(s)
            if not m:
                return None
            ids = m.group(2).strip()
            if ids.startswith("deepok:"):
                ids = ids[len("deepok:"):]
            return m.group(1), [i.strip() for i in re.split(r"[ \t]*,[ \t]*", ids) if i.strip()]
    return None


def rule_ids(yaml_text: str) -> list[str]:
    """Top-level rule ids (`- id: X` items of the `rules:` list)."""
    ids = re.findall(r"^\s{0,4}-\s+id:\s*['\"]?([\w.\-]+)", yaml_text, re.M)
    return list(dict.fromkeys(ids))


def bracket_depth(line: str) -> int:
    """Opening minus closing brackets outside quoted strings."""
    depth, quote, esc = 0, None, False
    for ch in line:
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth


def has_literal(text: str, path: str) -> bool:
    if LITERAL.search(text):
        return True
    if path.lower().endswith(CONFIG_EXT) or "dockerfile" in path.lower():
        return any(BARE_VALUE.search(ln) for ln in text.split("\n"))
    return False


def join_block(lines: list[str]) -> str:
    body = [ln.rstrip() for ln in lines if parse_annotation(ln) is None]
    return textwrap.dedent("\n".join(body)).strip()


def pem_block(lines: list[str], i: int) -> tuple[str, list[int]] | None:
    out = []
    for j in range(i, min(len(lines), i + MAX_PEM)):
        if j > i and not lines[j].strip():
            break
        out.append(j)
        if "-----END" in lines[j]:
            break
    else:
        return None
    if len(out) < 2:
        return None
    return join_block([lines[j] for j in out]), out


def bracket_block(lines: list[str], i: int) -> tuple[str, list[int]] | None:
    depth = 0
    for j in range(i, min(len(lines), i + MAX_BLOCK)):
        if parse_annotation(lines[j]) is None:
            depth += bracket_depth(lines[j])
        if depth <= 0:
            return join_block(lines[i:j + 1]), list(range(i, j + 1))
    return None


def select_language_rules(files: list[str], commit: str, skipped: collections.Counter
                          ) -> dict[str, list[str]]:
    """rule yaml path -> ids taken, for rules outside generic/secrets."""
    out = {}
    for p in files:
        if p.startswith(("generic/secrets/", ".")) or not p.endswith((".yaml", ".yml")):
            continue
        base = os.path.basename(p)
        text = show(GIT_DIR, commit, p)
        if not re.search(r"^rules:", text, re.M):
            continue
        ids = rule_ids(text)
        take = []
        for rid in ids:
            if not (LANG_WORDS.search(rid) or LANG_WORDS.search(os.path.splitext(base)[0])):
                continue
            if rid in EXCLUDED_RULES:
                skipped[f"rule not taken: {rid} ({p}): {EXCLUDED_RULES[rid]}"] += 1
                continue
            take.append(rid)
        if take:
            out[p] = take
    return out


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"semgrep/semgrep-rules @ {commit}", file=sys.stderr)
    files = git(GIT_DIR, "ls-tree", "-r", "--name-only", commit).splitlines()
    skipped: collections.Counter = collections.Counter()

    rules: dict[str, tuple[list[str], bool]] = {}   # yaml -> (ids taken, generic/secrets?)
    for p in files:
        if p.startswith("generic/secrets/") and p.endswith((".yaml", ".yml")):
            rules[p] = (rule_ids(show(GIT_DIR, commit, p)), True)
    for p, ids in select_language_rules(files, commit, skipped).items():
        rules[p] = (ids, False)

    by_dir = collections.defaultdict(list)
    for f in files:
        by_dir[os.path.dirname(f)].append(f)

    records = []
    used_rules, no_fixture, no_annot = set(), [], []
    drop_hits = collections.Counter()
    for ypath in sorted(rules):
        ids, is_generic = rules[ypath]
        stem = os.path.basename(ypath).rsplit(".", 1)[0]
        fixtures = [f for f in by_dir[os.path.dirname(ypath)]
                    if os.path.basename(f).startswith(stem + ".") and f != ypath
                    and ".fixed." not in os.path.basename(f)]
        if not fixtures:
            no_fixture.append(ypath)
            continue
        lang = ypath.split("/", 1)[0]
        n_annot = 0
        for fx in sorted(fixtures):
            lines = [ln.rstrip("\r") for ln in show(GIT_DIR, commit, fx).split("\n")]
            anns = {i: parse_annotation(ln) for i, ln in enumerate(lines)}
            anns = {i: a for i, a in anns.items() if a}
            for i, ln in enumerate(lines):
                if i not in anns and INLINE_ANN.match(ln.strip()):
                    skipped["annotation after code on the same line (ambiguous)"] += 1
            # lines a secret annotation points at, per rule id
            secret_lines = collections.defaultdict(set)
            for i, (kind, aids) in anns.items():
                if KIND_LABEL[kind] == "secret":
                    for rid in aids:
                        secret_lines[rid].add(i + 1)
            for i, (kind, aids) in sorted(anns.items()):
                label = KIND_LABEL[kind]
                for rid in aids:
                    if rid not in ids:
                        all_ids = rule_ids(show(GIT_DIR, commit, ypath))
                        why = ("rule not taken" if rid in all_ids
                               else "names a rule the paired yaml does not define")
                        skipped[f"{label} annotation {why}: {rid} in {fx}"] += 1
                        continue
                    n_annot += 1
                    provider = rid if is_generic else f"{lang}.{rid}"
                    t = i + 1
                    if t >= len(lines) or not lines[t].strip():
                        skipped[f"{label}: annotation not followed by a line"] += 1
                        continue
                    if t in anns:
                        skipped[f"{label}: annotation followed by another annotation"] += 1
                        continue
                    line = lines[t]
                    span = [t]
                    if PEM_BEGIN.search(line):
                        blk = pem_block(lines, t)
                        if blk is None:
                            skipped[f"{label}: private-key block not delimited"] += 1
                            continue
                        text, span = blk
                    else:
                        text = line.strip()
                        lit = has_literal(text, fx)
                        if bracket_depth(line) > 0 and (
                                not lit or (label == "benign" and not is_generic)):
                            blk = bracket_block(lines, t)
                            if blk is not None and label == "benign" and any(
                                    s in secret_lines[rid] for s in blk[1][1:]):
                                skipped["benign: statement holds a secret line of the same "
                                        "rule, single line kept"] += 1
                            elif blk is not None:
                                text, span = blk
                            elif label == "secret":
                                skipped["secret: multi-line statement not closed within "
                                        f"{MAX_BLOCK} lines"] += 1
                                continue
                            else:
                                skipped["benign: statement not closed, single line kept"] += 1
                    if label == "secret" and not is_generic and not has_literal(text, fx):
                        skipped[f"secret: no literal on the flagged line/statement "
                                f"(value from a variable elsewhere) [{provider}]"] += 1
                        continue
                    drops = SECRET_DROPS if label == "secret" else BENIGN_DROPS
                    hit = next((d for d in drops if d[0] == provider and d[1] in text), None)
                    if hit:
                        drop_hits[hit] += 1
                        skipped[f"{label} dropped [{provider}]: {hit[2]}"] += 1
                        continue
                    if not text:
                        skipped[f"{label}: empty text"] += 1
                        continue
                    records.append(record(label, SCANNER, provider, fx, text))
                    used_rules.add((ypath, rid))
        if n_annot == 0:
            no_annot.append(ypath)

    for d in SECRET_DROPS + BENIGN_DROPS:
        if not drop_hits[d]:
            print(f"  WARNING: drop rule matched nothing: {d[:2]}", file=sys.stderr)
    n_s = sum(r["label"] == "secret" for r in records)
    print(f"rule files: {len(rules)} ({sum(g for _, g in rules.values())} generic/secrets); "
          f"rules used: {len(used_rules)}; records before dedup: {len(records)} "
          f"({n_s} secret / {len(records) - n_s} benign)", file=sys.stderr)
    for y in sorted(rules):
        if not rules[y][1]:
            print(f"  language rule taken: {y}: {rules[y][0]}", file=sys.stderr)
    paired = set()
    for ypath in rules:
        stem = os.path.basename(ypath).rsplit(".", 1)[0]
        paired.update(f for f in by_dir[os.path.dirname(ypath)]
                      if os.path.basename(f).startswith(stem + "."))
    for f in files:
        if f.startswith("generic/secrets/") and f not in paired:
            print(f"  fixture with no rule yaml of its name (not a semgrep test, skipped): {f}",
                  file=sys.stderr)
    for y in no_fixture:
        print(f"  rule without a test fixture: {y}", file=sys.stderr)
    for y in no_annot:
        print(f"  rule whose fixture has no annotation for it: {y}", file=sys.stderr)
    print("skipped:", file=sys.stderr)
    for k, n in sorted(skipped.items()):
        print(f"  {n:4d}  {k}", file=sys.stderr)
    write_split(SCANNER, records)


if __name__ == "__main__":
    main()
