#!/usr/bin/env python3
"""Build a labelled secret-scanner corpus (JSON Lines) from gitleaks' or betterleaks' rule fixtures.

gitleaks keeps its detection tests next to each rule: every function in
cmd/generate/config/rules/*.go builds a `config.Rule`, a list of true positives
(`tps`) and a list of false positives (`fps`), and hands them to
`utils.Validate` (or `utils.ValidateWithPaths`, maps of path -> text), which
fails the config generator unless every tp is reported and no fp is.

Those lists are Go expressions: string literals, `+`, `append`,
`utils.GenerateSampleSecrets(...)` (one assignment line per language),
`secrets.NewSecret(regex)` (a random value drawn from a regex), `fmt.Sprintf`,
base64, a few loops.  Rather than pattern-match them, this script runs them:
it holds a small interpreter for the subset of Go those files use, runs each
rule function registered in cmd/generate/config/main.go, and records what
reaches `utils.Validate`.  The helpers in cmd/generate/config/utils/*.go are
interpreted from source too, so a change upstream changes the output.

Random values (`secrets.NewSecret`, `secrets.NewSecretWithEntropy`) are drawn
by a small regex generator over Python's regex parser, seeded per rule from
--seed and the rule function's name, so the output is deterministic.

betterleaks, a fork of gitleaks, keeps the same layout; go.mod's module path
tells the repository's own imports apart and names the source.  Its rules can
be composite: a rule marked SkipReport is only a component another rule
requires (an ID, a host, the other half of a key pair) and is never reported
by itself, so its tps are dropped (its fps stay benign).  The tps of a rule
with RequiredRules are kept: betterleaks validates them without the
requirement too.

Usage:
    build_gitleaks.py GITLEAKS_REPO OUT.jsonl [--seed N] [--rev REV] [--check]

GITLEAKS_REPO is a work tree or a (bare) git directory; with a git directory
the files are read at REV (default HEAD).

Each output line: {"label", "source", "provider", "path", "text"}.
label "secret" = a tp, "benign" = an fp; provider = the rule id;
source = "<scanner>:<rule id>" (scanner: "gitleaks", "betterleaks", the
module path's last element); path = "fixture.cfg", or the path key for
rules validated with paths.  Exact duplicate lines are written once.
"""
from __future__ import annotations

import argparse
import base64
import collections
import json
import math
import os
import random
import re
import subprocess
import sys
import zlib

import gosrc

try:  # Python 3.11+
    import re._parser as sre_parse  # type: ignore
    import re._constants as sre_c  # type: ignore
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse  # type: ignore
    import sre_constants as sre_c  # type: ignore

RULES_DIR = "cmd/generate/config/rules"
UTILS_DIR = "cmd/generate/config/utils"
MAIN_GO = "cmd/generate/config/main.go"
DEFAULT_PATH = "fixture.cfg"


# --------------------------------------------------------------------------
# Reading the repository
# --------------------------------------------------------------------------
class Repo:
    def __init__(self, root: str, rev: str = "HEAD"):
        self.root = root
        self.rev = rev
        self.worktree = os.path.isdir(os.path.join(root, RULES_DIR))
        if not self.worktree:
            subprocess.run(["git", "--git-dir", root, "rev-parse", "--verify", rev],
                           check=True, capture_output=True)

    def commit(self) -> str:
        args = ["git", "--git-dir", self.root] if not self.worktree else ["git", "-C", self.root]
        r = subprocess.run(args + ["rev-parse", self.rev if not self.worktree else "HEAD"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "unknown"

    def module(self) -> str:
        """go.mod's module path: the prefix of the repository's own imports."""
        m = re.search(r"^module\s+(\S+)", self.read("go.mod"), re.M)
        return m.group(1)

    def list(self, d: str) -> list[str]:
        if self.worktree:
            return sorted(f"{d}/{n}" for n in os.listdir(os.path.join(self.root, d)))
        out = subprocess.run(["git", "--git-dir", self.root, "ls-tree", "--name-only",
                              f"{self.rev}:{d}"], check=True, capture_output=True, text=True)
        return sorted(f"{d}/{n}" for n in out.stdout.split("\n") if n)

    def read(self, path: str) -> str:
        if self.worktree:
            with open(os.path.join(self.root, path), encoding="utf-8") as f:
                return f.read()
        out = subprocess.run(["git", "--git-dir", self.root, "show", f"{self.rev}:{path}"],
                             check=True, capture_output=True)
        return out.stdout.decode("utf-8")


# --------------------------------------------------------------------------
# Go tokenizer (with automatic semicolon insertion)
# --------------------------------------------------------------------------
class Tok:
    __slots__ = ("kind", "val", "line", "file")

    def __init__(self, kind, val, line, file):
        self.kind, self.val, self.line, self.file = kind, val, line, file

    def __repr__(self):
        return f"{self.kind}:{self.val!r}@{self.file}:{self.line}"


KEYWORDS = {"break", "case", "chan", "const", "continue", "default", "defer", "else",
            "fallthrough", "for", "func", "go", "goto", "if", "import", "interface",
            "map", "package", "range", "return", "select", "struct", "switch", "type", "var"}
OPERATORS = sorted("""&^= <<= >>= ... && || <- ++ -- == != <= >= := += -= *= /= %= &= |= ^= << >> &^
+ - * / % & | ^ < > = ! ( ) [ ] { } , ; . : ~""".split(), key=len, reverse=True)
SEMI_AFTER = {"ident", "int", "float", "string", "rune"}
SEMI_AFTER_KW = {"break", "continue", "fallthrough", "return"}
SEMI_AFTER_OP = {"++", "--", ")", "]", "}"}

def unquote_interpreted(body: str, where: str) -> str:
    """The text of a Go interpreted string literal's inside (gosrc's decoder)."""
    try:
        return gosrc._decode_interp(body, '"')
    except gosrc.ParseError as e:
        raise SyntaxError(f"{where}: {e}") from None


def tokenize(src: str, fname: str) -> list[Tok]:
    toks: list[Tok] = []
    i, line, n = 0, 1, len(src)

    def maybe_semi():
        if toks:
            t = toks[-1]
            if (t.kind in SEMI_AFTER or (t.kind == "kw" and t.val in SEMI_AFTER_KW)
                    or (t.kind == "op" and t.val in SEMI_AFTER_OP)):
                toks.append(Tok("op", ";", line, fname))

    while i < n:
        c = src[i]
        if c == "\n":
            maybe_semi()
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.index("*/", i + 2)
            chunk = src[i:j + 2]
            if "\n" in chunk:
                maybe_semi()
                line += chunk.count("\n")
            i = j + 2
        elif c == "`":
            j = src.index("`", i + 1)
            body = src[i + 1:j].replace("\r", "")
            toks.append(Tok("string", body, line, fname))
            line += src[i:j].count("\n")
            i = j + 1
        elif c == '"':
            j = i + 1
            while src[j] != '"':
                if src[j] == "\\":
                    j += 1
                if src[j] == "\n":
                    raise SyntaxError(f"{fname}:{line}: newline in string")
                j += 1
            toks.append(Tok("string", unquote_interpreted(src[i + 1:j], f"{fname}:{line}"), line, fname))
            i = j + 1
        elif c == "'":
            j = i + 1
            while src[j] != "'":
                if src[j] == "\\":
                    j += 1
                j += 1
            s = unquote_interpreted(src[i + 1:j].replace("\\'", "'"), f"{fname}:{line}")
            toks.append(Tok("rune", ord(s) if len(s) == 1 else s, line, fname))
            i = j + 1
        elif c.isalpha() or c == "_" or ord(c) > 127:
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_" or ord(src[j]) > 127):
                j += 1
            w = src[i:j]
            toks.append(Tok("kw" if w in KEYWORDS else "ident", w, line, fname))
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            m = re.match(r"0[xX][0-9a-fA-F_]+|[0-9_]*\.[0-9_]*(?:[eE][+-]?[0-9]+)?|[0-9_]+(?:[eE][+-]?[0-9]+)?", src[i:])
            w = m.group(0)
            if "." in w or ("e" in w.lower() and not w.lower().startswith("0x")):
                toks.append(Tok("float", float(w.replace("_", "")), line, fname))
            else:
                toks.append(Tok("int", int(w.replace("_", ""), 0), line, fname))
            i += len(w)
        else:
            for op in OPERATORS:
                if src.startswith(op, i):
                    toks.append(Tok("op", op, line, fname))
                    i += len(op)
                    break
            else:
                raise SyntaxError(f"{fname}:{line}: unexpected {c!r}")
    maybe_semi()
    toks.append(Tok("eof", None, line, fname))
    return toks


# --------------------------------------------------------------------------
# Go parser (the subset used by gitleaks' rule generator)
# --------------------------------------------------------------------------
class Unsupported(Exception):
    pass


class Parser:
    def __init__(self, toks: list[Tok]):
        self.t = toks
        self.p = 0
        self.no_lit = 0  # >0 inside for/if/switch headers: `x {` opens a block

    # helpers
    @property
    def cur(self) -> Tok:
        return self.t[self.p]

    def peek(self, k=1) -> Tok:
        return self.t[min(self.p + k, len(self.t) - 1)]

    def is_op(self, *vals) -> bool:
        return self.cur.kind == "op" and self.cur.val in vals

    def is_kw(self, *vals) -> bool:
        return self.cur.kind == "kw" and self.cur.val in vals

    def next(self) -> Tok:
        t = self.cur
        self.p += 1
        return t

    def expect_op(self, v) -> Tok:
        if not self.is_op(v):
            raise SyntaxError(f"expected {v!r}, got {self.cur!r}")
        return self.next()

    def expect_ident(self) -> str:
        if self.cur.kind != "ident":
            raise SyntaxError(f"expected identifier, got {self.cur!r}")
        return self.next().val

    def skip_semis(self):
        while self.is_op(";"):
            self.next()

    def skip_balanced(self):
        """Skip one balanced (...) / [...] / {...} group starting at the current token."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        stack = [pairs[self.next().val]]
        while stack:
            t = self.next()
            if t.kind == "op":
                if t.val in pairs:
                    stack.append(pairs[t.val])
                elif t.val == stack[-1]:
                    stack.pop()
            elif t.kind == "eof":
                raise SyntaxError("unbalanced brackets")

    # ---- file level
    def parse_file(self):
        """Returns (package, imports{alias: path}, funcs{name: node}, vars{name: expr})."""
        imports, funcs, gvars = {}, {}, {}
        self.skip_semis()
        if not self.is_kw("package"):
            raise SyntaxError("no package clause")
        self.next()
        pkg = self.expect_ident()
        self.skip_semis()
        while self.cur.kind != "eof":
            if self.is_kw("import"):
                self.next()
                specs = []
                if self.is_op("("):
                    self.next()
                    self.skip_semis()
                    while not self.is_op(")"):
                        specs.append(self._import_spec())
                        self.skip_semis()
                    self.next()
                else:
                    specs.append(self._import_spec())
                for alias, path in specs:
                    imports[alias] = path
            elif self.is_kw("func"):
                self.next()
                if self.is_op("("):  # method: skip receiver, record nothing
                    self.skip_balanced()
                    name = None
                    self.expect_ident()
                else:
                    name = self.expect_ident()
                if self.is_op("["):  # type parameters: values are untyped here
                    self.skip_balanced()
                params, variadic = self._signature()
                body = self.parse_block() if self.is_op("{") else None
                if name:
                    funcs[name] = ("func", name, params, variadic, body)
            elif self.is_kw("var", "const"):
                self.next()
                for names, _typ, exprs in self._var_specs():
                    for k, nm in enumerate(names):
                        gvars[nm] = exprs[k] if exprs else None
            elif self.is_kw("type"):
                self.next()
                if self.is_op("("):
                    self.skip_balanced()
                else:
                    self.expect_ident()
                    self.parse_type()
            else:
                raise SyntaxError(f"unexpected top-level token {self.cur!r}")
            self.skip_semis()
        return pkg, imports, funcs, gvars

    def _import_spec(self):
        alias = None
        if self.cur.kind == "ident" or self.is_op("."):
            alias = self.next().val
        path = self.next().val
        return alias or path.rsplit("/", 1)[-1], path

    def _signature(self):
        self.expect_op("(")
        params, variadic = [], False
        groups = []  # list of token groups split on commas
        depth, cur = 0, []
        while not (depth == 0 and self.is_op(")")):
            t = self.next()
            if t.kind == "op" and t.val in "([{":
                depth += 1
            elif t.kind == "op" and t.val in ")]}":
                depth -= 1
            if depth == 0 and t.kind == "op" and t.val == ",":
                groups.append(cur)
                cur = []
            else:
                cur.append(t)
        self.next()
        if cur:
            groups.append(cur)
        # `a, b string` -> each group starts with the name when any group has 2+ tokens
        named = any(len(g) > 1 and g[0].kind == "ident" and not (g[1].kind == "op" and g[1].val == ".")
                    for g in groups)
        if named:
            for g in groups:
                params.append(g[0].val)
                if any(t.kind == "op" and t.val == "..." for t in g):
                    variadic = True
        # results
        if self.is_op("("):
            self.skip_balanced()
        elif not self.is_op("{", ";"):
            self.parse_type()
        return params, variadic

    def _var_specs(self):
        specs = []
        if self.is_op("("):
            self.next()
            self.skip_semis()
            while not self.is_op(")"):
                specs.append(self._var_spec())
                self.skip_semis()
            self.next()
        else:
            specs.append(self._var_spec())
        return specs

    def _var_spec(self):
        names = [self.expect_ident()]
        while self.is_op(","):
            self.next()
            names.append(self.expect_ident())
        typ = None
        if not self.is_op("=", ";", ")"):
            typ = self.parse_type()
        exprs = None
        if self.is_op("="):
            self.next()
            exprs = self.parse_expr_list()
        return names, typ, exprs

    # ---- types
    def parse_type(self):
        if self.is_op("*"):
            self.next()
            return ("ptr", self.parse_type())
        if self.is_op("["):
            self.next()
            if self.is_op("]"):
                self.next()
                return ("slice", self.parse_type())
            if self.is_op("..."):
                self.next()
                n = None
            else:
                n = self.parse_expr()
            self.expect_op("]")
            return ("array", n, self.parse_type())
        if self.is_kw("map"):
            self.next()
            self.expect_op("[")
            k = self.parse_type()
            self.expect_op("]")
            return ("map", k, self.parse_type())
        if self.is_kw("func"):
            self.next()
            self._signature()
            return ("functype",)
        if self.is_kw("interface", "struct"):
            self.next()
            self.skip_balanced()
            return ("named", "interface{}")
        if self.cur.kind == "ident":
            name = self.next().val
            if self.is_op(".") and self.peek().kind == "ident":
                self.next()
                name = name + "." + self.next().val
            return ("named", name)
        raise SyntaxError(f"expected type, got {self.cur!r}")

    # ---- statements
    def parse_block(self):
        self.expect_op("{")
        saved, self.no_lit = self.no_lit, 0
        stmts = []
        self.skip_semis()
        while not self.is_op("}"):
            stmts.append(self.parse_stmt())
            self.skip_semis()
        self.next()
        self.no_lit = saved
        return ("block", stmts)

    def parse_stmt(self):
        t = self.cur
        line = (t.file, t.line)
        if self.is_kw("var", "const"):
            self.next()
            return ("var", self._var_specs(), line)
        if self.is_kw("return"):
            self.next()
            exprs = [] if self.is_op(";", "}") else self.parse_expr_list()
            return ("return", exprs, line)
        if self.is_kw("continue"):
            self.next()
            return ("continue",)
        if self.is_kw("break"):
            self.next()
            return ("break",)
        if self.is_kw("for"):
            return self.parse_for()
        if self.is_kw("if"):
            return self.parse_if()
        if self.is_op("{"):
            return self.parse_block()
        if self.is_kw("switch", "select", "go", "defer", "goto", "fallthrough"):
            raise Unsupported(f"statement {t.val} at {t.file}:{t.line}")
        return self.parse_simple_stmt()

    def parse_simple_stmt(self, allow_range=False):
        line = (self.cur.file, self.cur.line)
        if allow_range and self.is_kw("range"):
            self.next()
            return ("range", [], None, self.parse_expr(), line)
        lhs = self.parse_expr_list()
        if self.is_op(":=", "="):
            op = self.next().val
            if allow_range and self.is_kw("range"):
                self.next()
                return ("range", lhs, op, self.parse_expr(), line)
            rhs = self.parse_expr_list()
            return ("assign", op, lhs, rhs, line)
        if self.cur.kind == "op" and self.cur.val in ("+=", "-=", "*=", "|=", "&=", "<<=", ">>=", "/=", "%=", "^="):
            op = self.next().val
            rhs = self.parse_expr()
            return ("assign", op, lhs, [rhs], line)
        if self.is_op("++", "--"):
            op = self.next().val
            return ("assign", "+=" if op == "++" else "-=", lhs, [("int", 1)], line)
        if len(lhs) != 1:
            raise SyntaxError(f"bad statement at {line}")
        return ("expr", lhs[0], line)

    def parse_for(self):
        self.next()
        self.no_lit += 1
        init = cond = post = None
        rng = None
        if self.is_op("{"):
            pass
        else:
            first = None if self.is_op(";") else self.parse_simple_stmt(allow_range=True)
            if first and first[0] == "range":
                rng = first
            elif self.is_op(";"):
                self.next()
                init = first
                cond = None if self.is_op(";") else self.parse_expr()
                self.expect_op(";")
                post = None if self.is_op("{") else self.parse_simple_stmt()
            else:
                cond = first[1] if first and first[0] == "expr" else None
        self.no_lit -= 1
        body = self.parse_block()
        if rng:
            return ("forrange", rng, body)
        return ("for", init, cond, post, body)

    def parse_if(self):
        self.next()
        self.no_lit += 1
        init = None
        s = self.parse_simple_stmt()
        if self.is_op(";"):
            self.next()
            init = s
            cond = self.parse_expr()
        else:
            cond = s[1]
        self.no_lit -= 1
        body = self.parse_block()
        els = None
        if self.is_kw("else"):
            self.next()
            els = self.parse_if() if self.is_kw("if") else self.parse_block()
        return ("if", init, cond, body, els)

    # ---- expressions
    def parse_expr_list(self):
        out = [self.parse_expr()]
        while self.is_op(","):
            self.next()
            out.append(self.parse_expr())
        return out

    PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
            "+": 4, "-": 4, "|": 4, "^": 4, "*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5, "&": 5, "&^": 5}

    def parse_expr(self, min_prec=1):
        left = self.parse_unary()
        while self.cur.kind == "op" and self.PREC.get(self.cur.val, 0) >= min_prec:
            op = self.next().val
            right = self.parse_expr(self.PREC[op] + 1)
            left = ("bin", op, left, right)
        return left

    def parse_unary(self):
        if self.cur.kind == "op" and self.cur.val in ("&", "!", "-", "+", "^", "*", "<-"):
            op = self.next().val
            return ("unary", op, self.parse_unary())
        return self.parse_primary()

    def parse_primary(self):
        t = self.cur
        if t.kind in ("string", "int", "float", "rune"):
            self.next()
            x = ("lit", t.val)
        elif t.kind == "ident":
            self.next()
            x = ("ident", t.val)
        elif self.is_op("("):
            self.next()
            self.no_lit += 0
            saved, self.no_lit = self.no_lit, 0
            x = self.parse_expr()
            self.no_lit = saved
            self.expect_op(")")
        elif self.is_op("[") or self.is_kw("map"):
            typ = self.parse_type()
            if self.is_op("{"):
                x = ("complit", typ, self.parse_lit_value())
            elif self.is_op("("):
                x = ("type", typ)
            else:
                raise SyntaxError(f"bad type expression at {t!r}")
        elif self.is_kw("func"):
            self.next()
            params, variadic = self._signature()
            body = self.parse_block()
            x = ("funclit", params, variadic, body)
        elif self.is_kw("struct", "interface"):
            typ = self.parse_type()
            x = ("type", typ)
        else:
            raise SyntaxError(f"unexpected {t!r}")
        while True:
            if self.is_op("."):
                self.next()
                if self.is_op("("):  # type assertion
                    self.skip_balanced()
                    continue
                x = ("sel", x, self.expect_ident())
            elif self.is_op("("):
                self.next()
                saved, self.no_lit = self.no_lit, 0
                args, spread = [], False
                self.skip_semis()
                while not self.is_op(")"):
                    if self.is_op("[") or self.is_kw("map"):  # e.g. make([]string, 0)
                        typ = self.parse_type()
                        if self.is_op("{") or self.is_op("("):
                            self.p -= 0
                            # a composite literal / conversion as argument
                            if self.is_op("{"):
                                args.append(("complit", typ, self.parse_lit_value()))
                            else:
                                args.append(self._continue_primary(("type", typ)))
                        else:
                            args.append(("type", typ))
                    else:
                        args.append(self.parse_expr())
                    if self.is_op("..."):
                        self.next()
                        spread = True
                    if self.is_op(","):
                        self.next()
                    self.skip_semis()
                self.next()
                self.no_lit = saved
                x = ("call", x, args, spread)
            elif self.is_op("["):
                self.next()
                saved, self.no_lit = self.no_lit, 0
                lo = None if self.is_op(":") else self.parse_expr()
                if self.is_op(":"):
                    self.next()
                    hi = None if self.is_op("]") else self.parse_expr()
                    x = ("slice", x, lo, hi)
                else:
                    x = ("index", x, lo)
                self.no_lit = saved
                self.expect_op("]")
            elif self.is_op("{") and self.no_lit == 0 and x[0] in ("ident", "sel") and self._looks_like_type(x):
                x = ("complit", ("named", self._type_name(x)), self.parse_lit_value())
            else:
                return x

    def _continue_primary(self, x):
        # only calls are expected after a type used as an argument (conversions)
        if self.is_op("("):
            self.next()
            args = [self.parse_expr()]
            self.expect_op(")")
            return ("call", x, args, False)
        return x

    def _looks_like_type(self, x):
        return x[0] == "ident" or (x[0] == "sel" and x[1][0] == "ident")

    def _type_name(self, x):
        return x[1] if x[0] == "ident" else x[1][1] + "." + x[2]

    def parse_lit_value(self):
        self.expect_op("{")
        saved, self.no_lit = self.no_lit, 0
        elems = []
        self.skip_semis()
        while not self.is_op("}"):
            k = None
            v = self.parse_elem()
            if self.is_op(":"):
                self.next()
                k = v
                v = self.parse_elem()
            elems.append((k, v))
            if self.is_op(","):
                self.next()
            self.skip_semis()
        self.next()
        self.no_lit = saved
        return elems

    def parse_elem(self):
        if self.is_op("{"):
            return ("litvalue", self.parse_lit_value())
        return self.parse_expr()


# --------------------------------------------------------------------------
# Regex -> random matching string (for secrets.NewSecret)
# --------------------------------------------------------------------------
PRINTABLE = [chr(c) for c in range(0x21, 0x7F)]
CATEGORY_CHARS = {
    sre_c.CATEGORY_DIGIT: [chr(c) for c in range(48, 58)],
    sre_c.CATEGORY_WORD: [chr(c) for c in range(48, 58)] + [chr(c) for c in range(65, 91)]
    + ["_"] + [chr(c) for c in range(97, 123)],
    sre_c.CATEGORY_SPACE: [" ", "\t", "\n", "\r", "\f", "\v"],
}
CATEGORY_CHARS[sre_c.CATEGORY_NOT_DIGIT] = [c for c in PRINTABLE + [" "] if c not in CATEGORY_CHARS[sre_c.CATEGORY_DIGIT]]
CATEGORY_CHARS[sre_c.CATEGORY_NOT_WORD] = [c for c in PRINTABLE + [" "] if c not in CATEGORY_CHARS[sre_c.CATEGORY_WORD]]
CATEGORY_CHARS[sre_c.CATEGORY_NOT_SPACE] = PRINTABLE

POSIX_CLASSES = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7F", "blank": "\\t ",
                 "cntrl": "\\x00-\\x1F\\x7F", "digit": "0-9", "graph": "!-~", "lower": "a-z",
                 "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ",
                 "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}


def go_regex_to_python(rx: str) -> str:
    """Rewrite the bits of RE2 syntax Python's parser does not take."""
    rx = re.sub(r"\[:(\^?)([a-z]+):\]",
                lambda m: ("" if not m.group(1) else "") + POSIX_CLASSES[m.group(2)] if not m.group(1)
                else "\\x00-\\x7F", rx)  # negated POSIX classes inside [] are rare; widen them
    rx = rx.replace("\\z", "\\Z")
    # flag groups that are not at the very start are illegal in Python; they do not
    # matter for generation, so drop them (but keep a leading one).
    head = ""
    m = re.match(r"\(\?[a-zA-Z]+\)", rx)
    if m:
        head, rx = m.group(0), rx[m.end():]
    rx = re.sub(r"\(\?[imsU-]+\)", "", rx)
    head = head.replace("U", "")
    return (head if head != "(?)" else "") + rx


def go_regex_to_python_full(rx: str) -> str:
    """Best-effort RE2 -> Python translation for matching (not generation)."""
    rx = re.sub(r"\[:(\^?)([a-z]+):\]", lambda m: POSIX_CLASSES[m.group(2)], rx)
    rx = rx.replace("\\z", "\\Z")
    flags = ""
    m = re.match(r"\(\?([a-zA-Z]+)\)", rx)
    if m:
        flags, rx = m.group(1).replace("U", ""), rx[m.end():]
    # a flag group in the middle applies up to the end of its enclosing group:
    # turn it into a scoped group, which Python accepts
    while True:
        m = re.search(r"(?<!\\)\(\?([ims]+)\)", rx)
        if not m:
            break
        end, depth, j, in_class = len(rx), 0, m.end(), False
        while j < len(rx):
            ch = rx[j]
            if ch == "\\":
                j += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
                if rx[j + 1:j + 2] == "]":
                    j += 1
            elif ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    end = j
                    break
                depth -= 1
            elif ch == "|" and depth == 0:
                end = j
                break
            j += 1
        rx = rx[:m.start()] + "(?" + m.group(1) + ":" + rx[m.end():end] + ")" + rx[end:]
    return (f"(?{flags})" if flags else "") + rx


class RegexGen:
    """Draws one string matching a regex, the way lucasjones/reggen does with limit 1:
    bounded repeats take a uniform count in [min, max], unbounded ones at most
    `limit` more than their minimum."""

    def __init__(self, rng: random.Random, limit: int = 1):
        self.rng = rng
        self.limit = limit

    def generate(self, rx: str) -> str:
        py = go_regex_to_python(rx)
        tree = sre_parse.parse(py)
        groups: dict[int, str] = {}
        out = self._seq(tree, groups)
        if not re.fullmatch(py, out, re.DOTALL):
            raise ValueError(f"generated value {out!r} does not match {rx!r}")
        return out

    def _seq(self, items, groups) -> str:
        return "".join(self._item(op, av, groups) for op, av in items)

    def _class(self, items) -> list[str]:
        chars: set[str] = set()
        negate = False
        for op, av in items:
            if op is sre_c.NEGATE:
                negate = True
            elif op is sre_c.LITERAL:
                chars.add(chr(av))
            elif op is sre_c.RANGE:
                lo, hi = av
                chars.update(chr(c) for c in range(lo, min(hi, lo + 0x2FF) + 1))
            elif op is sre_c.CATEGORY:
                chars.update(CATEGORY_CHARS[av])
            else:
                raise ValueError(f"unsupported class item {op}")
        if negate:
            return [c for c in PRINTABLE if c not in chars]
        return sorted(chars)

    def _item(self, op, av, groups) -> str:
        r = self.rng
        if op is sre_c.LITERAL:
            return chr(av)
        if op is sre_c.NOT_LITERAL:
            return r.choice([c for c in PRINTABLE if c != chr(av)])
        if op is sre_c.ANY:
            return r.choice(PRINTABLE)
        if op is sre_c.IN:
            return r.choice(self._class(av))
        if op is sre_c.CATEGORY:
            return r.choice(CATEGORY_CHARS[av])
        if op is sre_c.BRANCH:
            return self._seq(r.choice(av[1]), groups)
        if op is sre_c.SUBPATTERN:
            gid, p = av[0], av[-1]
            s = self._seq(p, groups)
            if gid is not None:
                groups[gid] = s
            return s
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
            lo, hi, p = av
            if hi == sre_c.MAXREPEAT:
                hi = lo + self.limit
            return "".join(self._seq(p, groups) for _ in range(r.randint(lo, hi)))
        if op is sre_c.AT:
            return ""
        if op is sre_c.GROUPREF:
            return groups.get(av, "")
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            return ""
        raise ValueError(f"unsupported regex op {op}")


# --------------------------------------------------------------------------
# Interpreter
# --------------------------------------------------------------------------
class Opaque:
    """A value the corpus does not need (regexes, allowlists, ...)."""

    def __init__(self, what="?"):
        self.what = what

    def __repr__(self):
        return f"<opaque {self.what}>"


class GoRegex:
    """A rule regex, kept as its source text (used only by --check)."""

    def __init__(self, pattern):
        self.pattern = pattern

    def python(self):
        return re.compile(go_regex_to_python_full(self.pattern))

    def String(self):
        return self.pattern


class Struct:
    def __init__(self, typ, fields):
        self.typ, self.fields = typ, fields

    def __repr__(self):
        return f"<{self.typ} {self.fields.get('RuleID', '')}>"


class Ptr:
    def __init__(self, target):
        self.target = target


class Builtin:
    def __init__(self, fn, name):
        self.fn, self.name = fn, name

    def __repr__(self):
        return f"<builtin {self.name}>"


class GoFunc:
    def __init__(self, node, pkg):
        self.node, self.pkg = node, pkg

    @property
    def name(self):
        return self.node[1]


class Namespace:
    """A package or a builtin module: attribute lookup by name."""

    def __init__(self, name, attrs=None, fallback_opaque=False):
        self.name, self.attrs, self.fallback_opaque = name, attrs or {}, fallback_opaque

    def get(self, attr):
        if attr in self.attrs:
            return self.attrs[attr]
        if self.fallback_opaque:
            return Opaque(f"{self.name}.{attr}")
        raise NameError(f"{self.name}.{attr} is not known to the interpreter")


class ReturnSig(Exception):
    def __init__(self, vals):
        self.vals = vals


class BreakSig(Exception):
    pass


class ContinueSig(Exception):
    pass


class Env:
    def __init__(self, parent=None):
        self.vars, self.parent = {}, parent

    def lookup(self, name):
        e = self
        while e is not None:
            if name in e.vars:
                return e
            e = e.parent
        return None


class GoPackage:
    def __init__(self, name):
        self.name = name
        self.funcs: dict[str, GoFunc] = {}
        self.gvar_exprs: dict[str, object] = {}
        self.gvar_imports: dict[str, dict] = {}
        self.gvals: dict[str, object] = {}
        self.func_imports: dict[str, dict] = {}
        self.overrides: dict[str, object] = {}


class Interp:
    def __init__(self, seed: int, module: str):
        self.seed = seed
        self.module = module
        self.rng = random.Random(seed)
        self.gen = RegexGen(self.rng)
        self.packages: dict[str, GoPackage] = {}
        self.records: list[dict] = []  # one per Validate call
        self.current_rule_fn = None
        self.newsecret_calls = 0
        self.low_entropy_secrets: list[str] = []  # NewSecretWithEntropy gave up: regexes
        self.builtin_pkgs = self._builtin_packages()

    # ---- loading
    def load_package(self, pkgname: str, files: dict[str, str]):
        pkg = self.packages.setdefault(pkgname, GoPackage(pkgname))
        for fname, src in files.items():
            p = Parser(tokenize(src, fname))
            _pkg, imports, funcs, gvars = p.parse_file()
            for name, node in funcs.items():
                pkg.funcs[name] = GoFunc(node, pkg)
                pkg.func_imports[name] = imports
            for name, expr in gvars.items():
                pkg.gvar_exprs[name] = expr
                pkg.gvar_imports[name] = imports
        return pkg

    def reseed(self, name: str):
        self.rng.seed(self.seed * 1_000_003 + zlib.crc32(name.encode()))

    # ---- builtin packages
    def _builtin_packages(self):
        def sprintf(fmt, *args):
            return go_sprintf(fmt, list(args))

        def b64enc(fn):
            return Namespace("encoding", {"EncodeToString": Builtin(lambda b: fn(to_bytes(b)), "EncodeToString")})

        std = lambda b: base64.b64encode(b).decode()
        rawstd = lambda b: base64.b64encode(b).decode().rstrip("=")
        url = lambda b: base64.urlsafe_b64encode(b).decode()
        rawurl = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
        b64 = Namespace("base64", {"StdEncoding": b64enc(std), "RawStdEncoding": b64enc(rawstd),
                                   "URLEncoding": b64enc(url), "RawURLEncoding": b64enc(rawurl)})
        strings_ns = Namespace("strings", {
            "ToUpper": Builtin(lambda s: s.upper(), "ToUpper"),
            "ToLower": Builtin(lambda s: s.lower(), "ToLower"),
            "Repeat": Builtin(lambda s, n: s * n, "Repeat"),
            "Join": Builtin(lambda xs, sep: sep.join(xs), "Join"),
            "Contains": Builtin(lambda s, sub: sub in s, "Contains"),
            "TrimSpace": Builtin(lambda s: s.strip(" \t\r\n\v\f"), "TrimSpace"),
            "ReplaceAll": Builtin(lambda s, a, b: s.replace(a, b), "ReplaceAll"),
            "NewReplacer": Builtin(lambda *a: Replacer(list(a)), "NewReplacer"),
            "Builder": Opaque("strings.Builder"),
        })
        secrets_ns = Namespace("secrets", {
            "NewSecret": Builtin(self._new_secret, "NewSecret"),
            "NewSecretWithEntropy": Builtin(self._new_secret_with_entropy, "NewSecretWithEntropy"),
        })
        regexp_ns = Namespace("regexp", {"MustCompile": Builtin(GoRegex, "MustCompile")}, fallback_opaque=True)
        config_ns = Namespace("config", {}, fallback_opaque=True)
        return {
            "fmt": Namespace("fmt", {"Sprintf": Builtin(sprintf, "Sprintf")}),
            "strings": strings_ns,
            "strconv": Namespace("strconv", {"FormatInt": Builtin(format_int, "FormatInt")}),
            "encoding/base64": b64,
            "regexp": regexp_ns,
            "./cmd/generate/secrets": secrets_ns,
            "./regexp": regexp_ns,
            "./config": config_ns,
        }

    def _new_secret(self, rx):
        if not isinstance(rx, str):
            raise TypeError(f"NewSecret needs a string, got {rx!r}")
        self.newsecret_calls += 1
        return self.gen.generate(rx)

    def _new_secret_with_entropy(self, rx, min_entropy):
        """Up to 10 draws until one reaches the Shannon entropy; "" (Go's fallback) otherwise."""
        for _ in range(10):
            s = self._new_secret(rx)
            if shannon_entropy(s) >= min_entropy:
                return s
        self.low_entropy_secrets.append(rx)
        return ""

    def resolve_import(self, path: str):
        if path.startswith(self.module + "/"):  # the repository's own packages: "./<dir>"
            path = "./" + path[len(self.module) + 1:]
        if path in self.builtin_pkgs:
            return self.builtin_pkgs[path]
        if path == "./" + UTILS_DIR:
            return self.pkg_namespace("utils")
        if path == "./" + RULES_DIR:
            return self.pkg_namespace("rules")
        # anything else (logging, detect, base, ...) is not needed for values
        return Namespace(path, {}, fallback_opaque=True)

    def pkg_namespace(self, name):
        pkg = self.packages[name]
        interp = self

        class PkgNS(Namespace):
            def get(self_ns, attr):
                return interp.pkg_global(pkg, attr)
        return PkgNS(name)

    def pkg_global(self, pkg: GoPackage, name: str):
        if name in pkg.overrides:
            return pkg.overrides[name]
        if name in pkg.funcs:
            return pkg.funcs[name]
        if name in pkg.gvals:
            return pkg.gvals[name]
        if name in pkg.gvar_exprs:
            expr = pkg.gvar_exprs[name]
            env = Env()
            env.vars["__imports__"] = pkg.gvar_imports[name]
            env.vars["__pkg__"] = pkg
            val = None if expr is None else self.eval(expr, env)
            pkg.gvals[name] = val
            return val
        raise NameError(f"{pkg.name}.{name} undefined")

    # ---- calls
    def call(self, fn, args, where=""):
        if isinstance(fn, Builtin):
            return fn.fn(*args)
        if isinstance(fn, Opaque):
            return Opaque(f"{fn.what}()")
        if isinstance(fn, GoFunc):
            _, name, params, variadic, body = fn.node
            env = Env()
            env.vars["__imports__"] = fn.pkg.func_imports[name]
            env.vars["__pkg__"] = fn.pkg
            return self._invoke(params, variadic, body, args, env, name)
        if isinstance(fn, tuple) and fn[0] == "closure":
            _, params, variadic, body, cenv = fn
            return self._invoke(params, variadic, body, args, Env(cenv), "closure")
        raise TypeError(f"cannot call {fn!r} {where}")

    def _invoke(self, params, variadic, body, args, env, name):
        if variadic:
            fixed = len(params) - 1
            args = list(args[:fixed]) + [list(args[fixed:])]
        for pn, av in zip(params, args):
            env.vars[pn] = av
        try:
            self.exec_block(body, env)
        except ReturnSig as r:
            return r.vals[0] if len(r.vals) == 1 else (tuple(r.vals) if r.vals else None)
        return None

    # ---- statements
    def exec_block(self, block, env):
        for st in block[1]:
            self.exec_stmt(st, env)

    def exec_stmt(self, st, env):
        kind = st[0]
        if kind == "block":
            self.exec_block(st, Env(env))
        elif kind == "var":
            for names, typ, exprs in st[1]:
                if exprs is None:
                    for n in names:
                        env.vars[n] = zero_value(typ)
                else:
                    vals = self.eval_list(exprs, env, len(names))
                    for n, v in zip(names, vals):
                        env.vars[n] = v
        elif kind == "assign":
            self.exec_assign(st, env)
        elif kind == "expr":
            self.eval(st[1], env)
        elif kind == "return":
            raise ReturnSig(self.eval_list(st[1], env, None) if st[1] else [])
        elif kind == "continue":
            raise ContinueSig()
        elif kind == "break":
            raise BreakSig()
        elif kind == "if":
            _, init, cond, body, els = st
            e = Env(env)
            if init:
                self.exec_stmt(init, e)
            if truthy(self.eval(cond, e)):
                self.exec_block(body, Env(e))
            elif els is not None:
                self.exec_stmt(els, e)
        elif kind == "forrange":
            _, (_, lhs, op, expr, _line), body = st
            coll = self.eval(expr, env)
            if isinstance(coll, dict):
                items = list(coll.items())  # Go randomises; source order is used here
            elif isinstance(coll, (list, tuple)):
                items = list(enumerate(coll))
            elif isinstance(coll, str):
                items = list(enumerate(coll))
            elif isinstance(coll, int):
                items = [(i, None) for i in range(coll)]
            else:
                raise TypeError(f"range over {coll!r}")
            for k, v in items:
                e = Env(env)
                names = [x[1] if x[0] == "ident" else None for x in lhs]
                if len(names) >= 1 and names[0] not in (None, "_"):
                    e.vars[names[0]] = k
                if len(names) >= 2 and names[1] not in (None, "_"):
                    e.vars[names[1]] = v
                try:
                    self.exec_block(body, e)
                except ContinueSig:
                    continue
                except BreakSig:
                    break
        elif kind == "for":
            _, init, cond, post, body = st
            e = Env(env)
            if init:
                self.exec_stmt(init, e)
            guard = 0
            while cond is None or truthy(self.eval(cond, e)):
                guard += 1
                if guard > 100000:
                    raise RuntimeError("loop did not end")
                try:
                    self.exec_block(body, Env(e))
                except ContinueSig:
                    pass
                except BreakSig:
                    break
                if post:
                    self.exec_stmt(post, e)
        else:
            raise Unsupported(kind)

    def exec_assign(self, st, env):
        _, op, lhs, rhs, line = st
        if op in (":=", "="):
            vals = self.eval_list(rhs, env, len(lhs))
        else:
            cur = self.eval(lhs[0], env)
            v = self.eval(rhs[0], env)
            vals = [binop(op[:-1], cur, v)]
        for target, v in zip(lhs, vals):
            if target[0] == "ident":
                name = target[1]
                if name == "_":
                    continue
                if op == ":=":
                    env.vars[name] = v
                else:
                    holder = env.lookup(name)
                    if holder is None:
                        raise NameError(f"assignment to undeclared {name} at {line}")
                    holder.vars[name] = v
            elif target[0] == "sel":
                obj = self.eval(target[1], env)
                if isinstance(obj, Ptr):
                    obj = obj.target
                if isinstance(obj, Struct):
                    obj.fields[target[2]] = v
            elif target[0] == "index":
                obj = self.eval(target[1], env)
                obj[self.eval(target[2], env)] = v
            else:
                raise Unsupported(f"assign to {target[0]} at {line}")

    def eval_list(self, exprs, env, want):
        vals = [self.eval(x, env) for x in exprs]
        if want is not None and want > 1 and len(vals) == 1 and isinstance(vals[0], tuple):
            return list(vals[0])
        if want is not None and want > 1 and len(vals) == 1:
            return [vals[0]] + [Opaque("extra")] * (want - 1)
        return vals

    # ---- expressions
    def eval(self, x, env):
        k = x[0]
        if k == "lit":
            return x[1]
        if k == "ident":
            return self.lookup(x[1], env)
        if k == "sel":
            base = x[1]
            if base[0] == "ident":
                h = env.lookup(base[1])
                if h is None and base[1] not in self._pkg_of(env).funcs and base[1] not in self._pkg_of(env).gvar_exprs:
                    imports = self._imports_of(env)
                    if base[1] in imports:
                        return self.resolve_import(imports[base[1]]).get(x[2])
            obj = self.eval(base, env)
            return select(obj, x[2])
        if k == "call":
            return self.eval_call(x, env)
        if k == "bin":
            op = x[1]
            if op == "&&":
                return truthy(self.eval(x[2], env)) and truthy(self.eval(x[3], env))
            if op == "||":
                return truthy(self.eval(x[2], env)) or truthy(self.eval(x[3], env))
            return binop(op, self.eval(x[2], env), self.eval(x[3], env))
        if k == "unary":
            v = self.eval(x[2], env)
            if x[1] == "&":
                return v if isinstance(v, Struct) else Ptr(v)
            if x[1] == "!":
                return not truthy(v)
            if x[1] == "-":
                return -v
            if x[1] == "*":
                return v.target if isinstance(v, Ptr) else v
            return v
        if k == "complit":
            return self.eval_complit(x[1], x[2], env)
        if k == "index":
            obj = self.eval(x[1], env)
            idx = self.eval(x[2], env)
            if isinstance(obj, dict):
                return obj.get(idx, "")
            return obj[idx]
        if k == "slice":
            obj = self.eval(x[1], env)
            lo = 0 if x[2] is None else self.eval(x[2], env)
            hi = len(obj) if x[3] is None else self.eval(x[3], env)
            return obj[lo:hi]
        if k == "type":
            return ("typeval", x[1])
        if k == "funclit":
            return ("closure", x[1], x[2], x[3], env)
        raise Unsupported(k)

    def _imports_of(self, env):
        h = env.lookup("__imports__")
        return h.vars["__imports__"] if h else {}

    def _pkg_of(self, env) -> GoPackage:
        h = env.lookup("__pkg__")
        return h.vars["__pkg__"]

    def lookup(self, name, env):
        h = env.lookup(name)
        if h is not None:
            return h.vars[name]
        if name in ("true", "false"):
            return name == "true"
        if name == "nil":
            return None
        if name == "append":
            return Builtin(lambda s, *xs: list(s or []) + list(xs), "append")
        if name == "len":
            return Builtin(len, "len")
        if name == "make":
            return Builtin(lambda t, *a: {} if t[1][0] == "map" else [zero_value(t[1][1])] * (a[0] if a else 0), "make")
        if name in ("string",):
            return Builtin(lambda v: v.decode("utf-8", "surrogateescape") if isinstance(v, (bytes, bytearray)) else (chr(v) if isinstance(v, int) else v), "string")
        if name in ("byte", "rune", "int", "int64"):
            return Builtin(lambda v: v, name)
        pkg = self._pkg_of(env)
        try:
            return self.pkg_global(pkg, name)
        except NameError:
            imports = self._imports_of(env)
            if name in imports:
                return self.resolve_import(imports[name])
            raise

    def eval_call(self, x, env):
        _, fx, argx, spread = x
        # conversions: []byte(s), string(b)
        if fx[0] == "type":
            v = self.eval(argx[0], env)
            t = fx[1]
            if t == ("slice", ("named", "byte")):
                return to_bytes(v)
            if t == ("slice", ("named", "rune")):
                return [ord(c) for c in v]
            return v
        if fx[0] == "ident" and fx[1] == "make" and env.lookup("make") is None:
            t = argx[0]
            if t[0] == "type" and t[1][0] == "map":
                return {}
            n = self.eval(argx[1], env) if len(argx) > 1 else 0
            return [zero_value(t[1][1] if t[0] == "type" else None)] * n
        fn = self.eval(fx, env)
        args = [self.eval(a, env) for a in argx]
        if spread:
            last = args.pop()
            args.extend(list(last or []))
        return self.call(fn, args, where=str(fx))

    def eval_complit(self, typ, elems, env):
        # typ: ("slice", T) | ("array", n, T) | ("map", K, V) | ("named", name) | ("ptr", T)
        if typ[0] in ("slice", "array"):
            et = typ[-1]
            return [self._elem(et, v, env) for _k, v in elems]
        if typ[0] == "map":
            vt = typ[2]
            out = {}
            for k, v in elems:
                kk = self._elem(typ[1], k, env)
                out[kk] = self._elem(vt, v, env)
            return out
        if typ[0] == "ptr":
            return Ptr(self.eval_complit(typ[1], elems, env))
        if typ[0] == "named":
            fields = {}
            for k, v in elems:
                if k is not None and k[0] == "ident":
                    try:
                        fields[k[1]] = self._elem(None, v, env)
                    except (NameError, TypeError, ValueError, KeyError, Unsupported) as e:
                        if k[1] in ("RuleID", "Path"):
                            raise
                        fields[k[1]] = Opaque(f"{typ[1]}.{k[1]}: {e}")
                else:
                    fields[len(fields)] = self._elem(None, v, env)
            return Struct(typ[1], fields)
        raise Unsupported(f"composite literal of {typ}")

    def _elem(self, et, v, env):
        if v[0] == "litvalue":
            t = et
            while t is not None and t[0] == "ptr":
                t = t[1]
            if t is None:
                t = ("named", "?")
            return self.eval_complit(t, v[1], env)
        return self.eval(v, env)


class Replacer:
    """strings.NewReplacer: leftmost position first, earlier pairs win at a position."""

    def __init__(self, pairs):
        self.pairs = [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]

    def Replace(self, s):
        out, i = [], 0
        while i < len(s):
            for old, new in self.pairs:
                if old and s.startswith(old, i):
                    out.append(new)
                    i += len(old)
                    break
            else:
                out.append(s[i])
                i += 1
        return "".join(out)


def select(obj, attr):
    if isinstance(obj, Namespace):
        return obj.get(attr)
    if isinstance(obj, Ptr):
        obj = obj.target
    if isinstance(obj, Struct):
        if attr in obj.fields:
            return obj.fields[attr]
        return FIELD_ZEROS.get((obj.typ, attr), Opaque(f"{obj.typ}.{attr}"))
    if isinstance(obj, (Replacer, GoRegex)):
        return Builtin(getattr(obj, attr), attr)
    if isinstance(obj, Opaque) or obj is None:
        return Opaque(f"{obj!r}.{attr}")
    raise TypeError(f"cannot select {attr} on {obj!r}")


# Zero values of the unset struct fields rule code reads.
FIELD_ZEROS = {("config.Rule", "Entropy"): 0.0}


def to_bytes(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    raise TypeError(f"[]byte({v!r})")


def zero_value(typ):
    if typ is None:
        return None
    if typ[0] == "named":
        return {"string": "", "int": 0, "bool": False}.get(typ[1])
    if typ[0] == "slice":
        return []
    if typ[0] == "map":
        return {}
    return None


def truthy(v):
    if isinstance(v, Opaque):
        raise TypeError(f"condition on an opaque value {v!r}")
    return bool(v)


def binop(op, a, b):
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        if op == "+":
            raise TypeError(f"string built from an opaque value: {a!r} + {b!r}")
        return Opaque(op)
    if op == "+":
        if isinstance(a, (bytes, bytearray)) or isinstance(b, (bytes, bytearray)):
            raise TypeError("bytes + ...")
        return a + b
    ops = {"-": lambda: a - b, "*": lambda: a * b, "/": lambda: a // b if isinstance(a, int) else a / b,
           "%": lambda: a % b, "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,
           "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b, "|": lambda: a | b,
           "&": lambda: a & b, "^": lambda: a ^ b, "<<": lambda: a << b, ">>": lambda: a >> b}
    return ops[op]()


def format_int(n: int, base: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    m = abs(n)
    while True:
        m, d = divmod(m, base)
        out = digits[d] + out
        if m == 0:
            return ("-" if n < 0 else "") + out


def shannon_entropy(s: str) -> float:
    """Shannon entropy as betterleaks' secrets package computes it: rune counts over the byte length."""
    if not s:
        return 0.0
    n = len(s.encode("utf-8"))
    return -sum(c / n * math.log2(c / n) for c in collections.Counter(s).values())


def go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def go_sprintf(fmt: str, args: list) -> str:
    out, i, ai = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        m = re.match(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])", fmt[i:])
        if not m:
            raise ValueError(f"bad format {fmt!r}")
        verb = m.group(4)
        if verb == "%":
            out.append("%")
        else:
            a = args[ai]
            ai += 1
            if verb in ("s", "v"):
                s = a.decode("utf-8", "surrogateescape") if isinstance(a, (bytes, bytearray)) else str(a)
            elif verb == "d":
                s = str(int(a))
            elif verb == "q":
                s = go_quote(a)
            elif verb == "x":
                s = a.encode().hex() if isinstance(a, str) else (a.hex() if isinstance(a, bytes) else format(a, "x"))
            else:
                raise ValueError(f"unsupported verb %{verb}")
            width = int(m.group(2) or 0)
            if len(s) < width:
                s = (s.ljust(width) if "-" in m.group(1) else s.rjust(width, "0" if "0" in m.group(1) else " "))
            out.append(s)
        i += m.end()
    return "".join(out)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def registered_rules(main_src: str) -> list[str]:
    """Rule functions called as rules.X() in main.go (comments are dropped by the tokenizer)."""
    toks = tokenize(main_src, MAIN_GO)
    out = []
    for i in range(len(toks) - 3):
        if (toks[i].kind == "ident" and toks[i].val == "rules" and toks[i + 1].val == "."
                and toks[i + 2].kind == "ident" and toks[i + 3].val == "("):
            if toks[i + 2].val not in out:
                out.append(toks[i + 2].val)
    return out


def self_check(records):
    """Match each true positive against its rule regex with Python's `re`.

    Not gitleaks' own check (that needs Go: entropy, allowlists, keywords), but it
    catches a fixture this interpreter got wrong.  A rule whose regex Python
    cannot compile is counted and skipped."""
    out = {"tps_checked": 0, "tps_not_matched": [], "regex_not_compiled": []}
    for rec in records:
        r = rec["rule"]
        rx = r.fields.get("Regex") if isinstance(r, Struct) else None
        if rec["paths"] or not isinstance(rx, GoRegex):
            continue
        try:
            prx = rx.python()
        except re.error as e:
            out["regex_not_compiled"].append(f"{r.fields.get('RuleID')}: {e}")
            continue
        for tp in rec["tps"]:
            out["tps_checked"] += 1
            if not prx.search(tp):
                out["tps_not_matched"].append(f"{r.fields.get('RuleID')}: {tp[:120]!r}")
    return out


def build(repo_root: str, out_path: str, seed: int = 1, rev: str = "HEAD", verbose=True, check=False):
    repo = Repo(repo_root, rev)
    interp = Interp(seed, repo.module())
    utils_files = {p: repo.read(p) for p in repo.list(UTILS_DIR) if p.endswith(".go") and not p.endswith("_test.go")}
    rules_files = {p: repo.read(p) for p in repo.list(RULES_DIR) if p.endswith(".go") and not p.endswith("_test.go")}
    utils_pkg = interp.load_package("utils", utils_files)
    rules_pkg = interp.load_package("rules", rules_files)

    # Validation hooks: record what each rule asserts.
    def validate(r, tps, fps):
        interp.records.append({"fn": interp.current_rule_fn, "rule": r, "tps": tps or [], "fps": fps or [],
                               "paths": False})
        return r

    def validate_with_paths(r, tps, fps):
        interp.records.append({"fn": interp.current_rule_fn, "rule": r, "tps": tps or {}, "fps": fps or {},
                               "paths": True})
        return r

    utils_pkg.overrides["Validate"] = Builtin(validate, "Validate")
    utils_pkg.overrides["ValidateWithPaths"] = Builtin(validate_with_paths, "ValidateWithPaths")
    # The rule regexes are only kept for the --check self-test; the builders are
    # written with strings.Builder, so they are redone here from generate.go's consts.
    const = lambda n: interp.pkg_global(utils_pkg, n)

    def semi_generic(ids, rx, ci):
        idents = const("identifierPrefix") + "|".join(ids) + const("identifierSuffix")
        head = const("caseInsensitive") + idents if ci else (
            const("identifierCaseInsensitivePrefix") + idents + const("identifierCaseInsensitiveSuffix"))
        return GoRegex(head + const("operator") + const("secretPrefix") + rx + const("secretSuffix"))

    def unique_token(rx, ci):
        return GoRegex((const("caseInsensitive") if ci else "") + const("secretPrefixUnique") + rx
                       + const("secretSuffix"))

    utils_pkg.overrides["GenerateSemiGenericRegex"] = Builtin(semi_generic, "GenerateSemiGenericRegex")
    utils_pkg.overrides["GenerateUniqueTokenRegex"] = Builtin(unique_token, "GenerateUniqueTokenRegex")
    utils_pkg.overrides["MergeRegexps"] = Builtin(
        lambda *rs: GoRegex("|".join(r.pattern if isinstance(r, GoRegex) else "(?!)" for r in rs)), "MergeRegexps")

    # newPlausibleSecret loops on a stop-word trie; do the same thing directly.
    def plausible(rx):
        stop = [w.lower() for w in interp.pkg_global(rules_pkg, "DefaultStopWords")]
        for _ in range(100000):
            s = interp._new_secret(rx)
            if not re.search(r"[1-9]", s):
                continue
            low = s.lower()
            if any(w in low for w in stop):
                continue
            return s
        raise RuntimeError("no plausible secret found")

    if "newPlausibleSecret" in rules_pkg.funcs:
        rules_pkg.overrides["newPlausibleSecret"] = Builtin(plausible, "newPlausibleSecret")

    names = registered_rules(repo.read(MAIN_GO))
    defined_rule_fns = [n for n, f in rules_pkg.funcs.items() if n[:1].isupper()]
    unregistered = sorted(set(defined_rule_fns) - set(names))
    failures = []
    for name in names:
        fn = rules_pkg.funcs.get(name)
        if fn is None:
            failures.append((name, "not defined"))
            continue
        interp.current_rule_fn = name
        interp.reseed(name)
        before = len(interp.records)
        try:
            interp.call(fn, [])
        except Exception as e:  # report and go on: one odd rule must not sink the corpus
            del interp.records[before:]
            failures.append((name, f"{type(e).__name__}: {e}"))

    scanner = re.sub(r"/v[0-9]+$", "", interp.module).rsplit("/", 1)[-1]
    rows, seen = [], set()
    stats = {"dup_dropped": 0, "empty_dropped": 0, "rules": 0, "no_fixture_rules": [], "component_tps": {}}
    for rec in interp.records:
        r = rec["rule"]
        rule_id = r.fields.get("RuleID") if isinstance(r, Struct) else None
        if not isinstance(rule_id, str):
            failures.append((rec["fn"], "no RuleID"))
            continue
        stats["rules"] += 1
        # A component of a composite rule (SkipReport) is never reported by
        # itself: what it matches is not a secret the scanner reports.
        component = r.fields.get("SkipReport") is True
        emitted = 0
        for label, coll in (("secret", rec["tps"]), ("benign", rec["fps"])):
            if label == "secret" and component:
                stats["component_tps"][rule_id] = len(coll)
                continue
            if rec["paths"]:
                pairs = list(coll.items())
            else:
                pairs = [(DEFAULT_PATH, t) for t in coll]
            for path, text in pairs:
                if not isinstance(text, str):
                    failures.append((rec["fn"], f"non-string fixture {text!r}"))
                    continue
                if text == "":
                    stats["empty_dropped"] += 1
                    continue
                row = {"label": label, "source": f"{scanner}:{rule_id}", "provider": rule_id,
                       "path": path, "text": text}
                key = (label, rule_id, path, text)
                if key in seen:
                    stats["dup_dropped"] += 1
                    continue
                seen.add(key)
                rows.append(row)
                emitted += 1
        if emitted == 0 and not component:
            stats["no_fixture_rules"].append(rule_id)

    # Scored as a whole scanner: a text one rule lists as a look-alike and
    # another rule lists as a secret (same path) is a secret to the scanner.
    listed = {(r["path"], r["text"]) for r in rows if r["label"] == "secret"}
    before = len(rows)
    rows = [r for r in rows if r["label"] == "secret" or (r["path"], r["text"]) not in listed]
    stats["benign_listed_as_secret_dropped"] = before - len(rows)

    if check:
        summary_check = self_check(interp.records)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    secrets_ = [r for r in rows if r["label"] == "secret"]
    benign = [r for r in rows if r["label"] == "benign"]
    secret_texts = {r["text"] for r in secrets_}
    summary = {
        "module": interp.module,
        "commit": repo.commit(),
        "seed": seed,
        "rule_functions_registered": len(names),
        "rule_functions_unregistered_skipped": unregistered,
        "rules_with_records": stats["rules"],
        "secret": len(secrets_),
        "benign": len(benign),
        "benign_text_equal_to_a_secret_text": sum(1 for r in benign if r["text"] in secret_texts),
        "duplicates_dropped": stats["dup_dropped"],
        "empty_texts_dropped": stats["empty_dropped"],
        "rules_without_text_fixtures": stats["no_fixture_rules"],
        "component_rules_tps_dropped": stats["component_tps"],
        "newsecret_values_generated": interp.newsecret_calls,
        "newsecretwithentropy_gave_up": interp.low_entropy_secrets,
        "failures": failures,
    }
    if check:
        summary["check"] = summary_check
    if verbose:
        print(json.dumps(summary, indent=1), file=sys.stderr)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", help="gitleaks work tree or git directory")
    ap.add_argument("out", help="output .jsonl path")
    ap.add_argument("--seed", type=int, default=1, help="seed for secrets.NewSecret values (default 1)")
    ap.add_argument("--rev", default="HEAD", help="revision to read from a git directory (default HEAD)")
    ap.add_argument("--check", action="store_true",
                    help="also match every true positive against its rule regex with Python's re")
    a = ap.parse_args(argv)
    s = build(a.repo, a.out, a.seed, a.rev, check=a.check)
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
