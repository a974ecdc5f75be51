#!/usr/bin/env python3
"""Build the earlybird corpus from americanexpress/earlybird (Go secret scanner).

Source: the bare mirror made by `fetch github:americanexpress/earlybird`.

Why earlybird: DevSkim (2 secret rules) and security-utilities (literal
examples only) together give fewer than 60 secrets. earlybird's tests hold
labelled hits, positive and negative, for its password/secret/key rules.

Taken, all read from the Go test sources / YAML rules at HEAD:
 1. pkg/scan/falsePositives_test.go  Test_findFalsePositive: Hit{Code, Filename,
    MatchValue|LineValue}, wantIsFP. wantIsFP=false -> secret, true -> benign.
    provider = the Hit's rule Code, path = the Hit's Filename. Only codes of
    the password-secret / key categories and 6008 (account token) are used
    (inclusivity 20014 is not a secret rule).
 2. pkg/scan/scan_test.go  Test_scanLine (wantIsHit), TestScanFiles (code 3001),
    Test_determineSeverity (code 3001, a hit) and pkg/api/api_test.go (the
    sample.py body scanned by the API test): hit -> secret, no hit -> benign.
    provider = the rule the case exercises (set by hand below, from the test).
 3. pkg/postprocess/*_test.go: labelled checks that run after a rule matched.
    provider = "postprocess/<Function>" for the checks shared by all
    `Postprocess: password` rules; "5002" (JWT rule) for IsValidJWT and "3084"
    (Basic-auth rule) for IsBasicAuthHeader, the only rules using them.
    Ignore/!isSecret -> benign, else secret. Values without any key context
    (a bare "fo", "$variable", "VeryStrong857#") are dropped: they are not
    lines a detector would see. PasswordWeak (weak vs strong, not secret vs
    benign), entropy, luhn, SSN and JKS tests are not used.
 4. config/rules/{password-secret,content}.yaml: each rule's `Example`
    (categories password-secret and key only) -> secret, provider = Code,
    path fixture.cfg. Examples that are placeholders or not credentials are
    dropped (EXAMPLE_DROPS below, with reasons).

Test cases whose label is plainly wrong for a secret detector are dropped
(TEST_DROPS, with reasons). Every drop is printed on stderr.

Usage: python3 build_earlybird.py [git_dir]
"""
from __future__ import annotations

import re
import sys

import yaml  # PyYAML (present in the Python 3.11 environment)

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _corpus_common import head_commit, record, show, write_split  # noqa: E402

SCANNER = "earlybird"
GIT_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/americanexpress+earlybird/repo"

GO_STR = r'(`[^`]*`|"(?:[^"\\\n]|\\.)*")'

# Test cases dropped: text -> (label it is dropped under, reason). Secret-
# labelled cases that are plainly not secrets, and benign-labelled cases whose
# label rests only on a heuristic that a plain reading contradicts.
TEST_DROPS = {
    'github.com/Mermade/oas-kit?sponsor=1","scripts":{"test":"mocha"},"browserify":{"transform":[["babelify",{"presets":["es2015"]}]]},"repository":{"url":"https://github.com/Mermade/oas-kit.git","type":"git"}':
        ("secret", "package.json fragment with a GitHub URL, no credential (test is named 'Skip the github Url')"),
    "'credentials' : 'same-origin'":
        ("secret", "Fetch API mode 'same-origin'; a finding only because the file is .java "
                   "(the same text in test.ts is kept as benign)"),
    '"INPUT_LABEL_GENERIC_PASSWORD": "xxxxxx"': ("secret", "placeholder value xxxxxx"),
    "INPUT_LABEL_GENERIC_PASSWORD= xxxxxxxx": ("secret", "placeholder value xxxxxxxx"),
    'INPUT_LABEL_GENERIC_PASSWORD= "xxxxxxxx"': ("secret", "placeholder value xxxxxxxx"),
    'logger.debug("Password is : generatePassword :data :" + data);':
        ("secret", "log statement, no credential value"),
    "password: VeryStrong$$\u306e\u78ba \u306e":
        ("benign", "strong ASCII password + CJK chars, benign only by the unicode heuristic"),
    '"password": "VeryStrong$$\u4f60\u597d"':
        ("benign", "strong ASCII password + CJK chars, benign only by the unicode heuristic"),
}

# Rule examples not used as secrets (example text -> reason).
_PH = "placeholder value (foobar / xxxx / test)"
_SHAPE = "A/a/0 shape template of the regex, not a key"
_BARE = "bare default-password word or phrase with no credential context"
EXAMPLE_DROPS = {
    '"password"': _BARE, '"changeme"': _BARE, "1q2w3e4r": _BARE, "kafka123": _BARE,
    "kafkae1": _BARE, "admin1": _BARE, "1qaz@WSX": _BARE, "letmein": _BARE,
    "Mapbox Secure Key": "a phrase, not a key",
    "heroku: 'A0AAA0AA-aAaa-AAAA-aaAA-Aa00AaAA0a0A'": _SHAPE,
    "github: 'aaaAaA0A0a00aAaA0a0aA0AAaaaAAa0Aa00'": _SHAPE,
    "facebook: 'a00000aa0aaa0aa0a00aa00a00000aaa0a000a0a0aaa0a0a0a00aa00a000aaa0'": _SHAPE,
    "twitter: '0aaAaA0AAAA0000a0a0A0a0aaa0AaAA0a0a'": _SHAPE,
}
PLACEHOLDER = re.compile(r"xxx|foobar|[\"']test[\"']", re.I)


def go_str(lit: str) -> str:
    if lit.startswith("`"):
        return lit[1:-1]
    body, out, i = lit[1:-1], [], 0
    esc = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'",
           "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c); i += 1; continue
        n = body[i + 1]
        if n in "uU":
            w = 4 if n == "u" else 8
            out.append(chr(int(body[i + 2:i + 2 + w], 16))); i += 2 + w
        elif n == "x":
            out.append(chr(int(body[i + 2:i + 4], 16))); i += 4
        else:
            out.append(esc[n]); i += 2
    return "".join(out)


def region(src: str, start: str, end: str | None) -> str:
    a = src.index(start)
    b = src.index(end, a) if end else len(src)
    return src[a:b]


def cases(src: str) -> list[str]:
    """Chunks of a table-driven test, one per `name:` field."""
    parts = re.split(r"\bname:\s*", src)
    return parts[1:]


def field(chunk: str, name: str) -> str | None:
    m = re.search(rf"\b{name}:\s*{GO_STR}", chunk)
    return go_str(m.group(1)) if m else None


def boolean(chunk: str, name: str) -> bool:
    return re.search(rf"\b{name}:\s*(true|false)", chunk).group(1) == "true"


def has_key_context(text: str) -> bool:
    return ":" in text or "=" in text or text.lstrip().startswith("<")


def main() -> None:
    commit = head_commit(GIT_DIR)
    print(f"americanexpress/earlybird @ {commit}", file=sys.stderr)
    out: list[dict] = []

    def add(label: str, provider: str, path: str, text: str, origin: str) -> None:
        text = text.strip()
        if text in TEST_DROPS and TEST_DROPS[text][0] == label:
            print(f"  drop [{origin}] {label} {text[:80]!r}: {TEST_DROPS[text][1]}", file=sys.stderr)
            return
        out.append(record(label, SCANNER, provider, path, text))

    # ---- rule codes by category
    rules = []
    for f in ("config/rules/password-secret.yaml", "config/rules/content.yaml"):
        rules += yaml.safe_load(show(GIT_DIR, commit, f))["rules"]
    secret_codes = {6008}
    for r in rules:
        code = r.get("Code", r.get("code"))
        if r.get("Category") in ("password-secret", "key"):
            secret_codes.add(code)

    # ---- 1. falsePositives_test.go
    src = show(GIT_DIR, commit, "pkg/scan/falsePositives_test.go")
    for ch in cases(src):
        m = re.search(r"\bCode:\s*(\d+)", ch)
        if not m:
            continue
        code = int(m.group(1))
        text = field(ch, "MatchValue")
        if text is None:
            text = field(ch, "LineValue")
        fname = field(ch, "Filename")
        label = "benign" if boolean(ch, "wantIsFP") else "secret"
        if code not in secret_codes:
            print(f"  skip [fp-test] code {code} (not a secret rule): {text!r}", file=sys.stderr)
            continue
        add(label, str(code), fname, text, "fp-test")

    # ---- 2. scan_test.go / api_test.go
    src = show(GIT_DIR, commit, "pkg/scan/scan_test.go")
    scanline_provider = {  # test name -> rule the case exercises
        "Find secret in line": "3057",
        "Find fall as a password": "1074",
        "Ignore fall in a sentence": "1074",
        "Find twitter API key as a password": "3068",
        "Ignore potential twitter API key separated by too many characters": "3068",
    }
    for ch in cases(region(src, "func Test_scanLine", "func Test_scanName")):
        name = go_str(re.match(GO_STR, ch).group(1))
        label = "secret" if boolean(ch, "wantIsHit") else "benign"
        add(label, scanline_provider[name], "fixture.cfg", field(ch, "LineValue"), "scanLine")
    r = region(src, "func TestScanFiles", "func Test_isExcludedFileType")
    add("secret", re.search(r"wantCode:\s*(\d+)", r).group(1), field(r, "Name"),
        field(r, "LineValue"), "ScanFiles")
    r = region(src, "func Test_determineSeverity", "func Test_determineScanFail")
    add("secret", "3001", "foo.js", field(cases(r)[0], "MatchValue"), "determineSeverity")
    api = show(GIT_DIR, commit, "pkg/api/api_test.go")
    m = re.search(r'CreateFormFile\("scan",\s*"([^"]+)"\).*?part\.Write\(\[\]byte\(' + GO_STR, api, re.S)
    add("secret", "3001", m.group(1), go_str(m.group(2)), "api")

    # ---- 3. postprocess tests
    def table(src_: str, provider: str, text_field: str, flag: str, bad_when: bool) -> None:
        for ch in cases(src_):
            text = field(ch, text_field)
            if text is None:
                continue
            label = "benign" if boolean(ch, flag) == bad_when else "secret"
            if not has_key_context(text):
                print(f"  drop [{provider}] bare value {text!r} ({label})", file=sys.stderr)
                continue
            add(label, provider, "fixture.cfg", text, provider)

    vp = show(GIT_DIR, commit, "pkg/postprocess/validatePassword_test.go")
    table(region(vp, "var tests", "func TestPasswordFalse"),
          "postprocess/PasswordFalse", "testPD", "wantIgnore", True)
    table(region(vp, "func TestSkipPasswordWithUnicode", "var testSkipHTMLEntitiesInPasswords"),
          "postprocess/SkipPasswordWithUnicode", "password", "wantIgnore", True)
    table(region(vp, "var testSkipHTMLEntitiesInPasswords", "func TestSkipHTMLEntitiesInPasswords"),
          "postprocess/SkipPasswordWithHTMLEntities", "testPD", "wantIgnore", True)
    sk = show(GIT_DIR, commit, "pkg/postprocess/skipSameKeyValue_test.go")
    table(sk, "postprocess/SkipSameKeyValue", "lineValue", "wantIgnore", True)

    for f, provider in (("jwt_test.go", "5002"), ("basicAuthHeader_test.go", "3084")):
        src = show(GIT_DIR, commit, f"pkg/postprocess/{f}")
        for m in re.finditer(r"\{\s*" + GO_STR + r",\s*" + GO_STR + r",\s*(true|false),?\s*\}", src):
            label = "secret" if m.group(3) == "true" else "benign"
            add(label, provider, "fixture.cfg", go_str(m.group(2)), provider)
    src = show(GIT_DIR, commit, "pkg/postprocess/pem_test.go")
    for m in re.finditer(r"\{\s*" + GO_STR + r",\s*\[\]byte(\(" + GO_STR + r"\)|\{[\d,\s]+\}),\s*(true|false),?\s*\}", src):
        arg = m.group(2)
        data = go_str(m.group(3)) if arg.startswith("(") else bytes(
            int(x) for x in re.findall(r"\d+", arg)).decode("utf-8")
        label = "secret" if m.group(4) == "true" else "benign"
        add(label, "postprocess/IsPrivatePem", "fixture.pem", data, "pem")

    # ---- 4. rule examples
    for r in rules:
        code = r.get("Code", r.get("code"))
        ex = r.get("Example", r.get('Example"'))  # rule 5002 spells the key 'Example"'
        if r.get("Category") not in ("password-secret", "key") or not ex:
            continue
        ex = str(ex).strip()
        reason = EXAMPLE_DROPS.get(ex) or (_PH if PLACEHOLDER.search(ex) else None)
        if reason:
            print(f"  drop [example {code}] {ex!r}: {reason}", file=sys.stderr)
            continue
        add("secret", str(code), "fixture.cfg", ex, f"example {code}")

    write_split(SCANNER, out)


if __name__ == "__main__":
    main()
