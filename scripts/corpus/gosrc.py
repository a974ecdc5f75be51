"""Tiny Go-source reader: tokenizer, expression parser and a constant evaluator.

Only what is needed to resolve trufflehog detector test tables: string/int/bool
literals, identifiers bound by const/var/:= , `+` concatenation, fmt.Sprintf,
a few strings.* helpers, []string{...} composite literals.  Anything else
raises Unresolved.
"""
import base64
import re
import unicodedata


class Unresolved(Exception):
    pass


class ParseError(Exception):
    pass


# ---------------------------------------------------------------- tokenizer
OPS = sorted("""<<= >>= &^= ... && || <- ++ -- == != <= >= := += -= *= /= %= &= |= ^= << >> &^
+ - * / % & | ^ < > = ! ( ) [ ] { } , ; . : ~""".split(), key=len, reverse=True)

_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
               "\\": 92, "'": 39, '"': 34}


class Tok:
    __slots__ = ("kind", "val", "pos", "end", "nl")

    def __init__(self, kind, val, pos, end, nl):
        self.kind, self.val, self.pos, self.end, self.nl = kind, val, pos, end, nl

    def __repr__(self):
        return f"Tok({self.kind},{self.val!r})"


def _is_letter(c):
    return c == "_" or c.isalpha() or unicodedata.category(c).startswith("L")


def _decode_interp(body, quote):
    """Decode the inside of a Go interpreted string / rune literal."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = body[i + 1]
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif e in "01234567":
            out.append(int(body[i + 1:i + 4], 8) & 0xFF)
            i += 4
        elif e == "u":
            out += chr(int(body[i + 2:i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        elif e == "U":
            out += chr(int(body[i + 2:i + 10], 16)).encode("utf-8", "surrogatepass")
            i += 10
        else:
            raise ParseError(f"bad escape \\{e}")
    return out.decode("utf-8", "replace")


def tokenize(src):
    toks = []
    i, n = 0, len(src)
    nl = False  # newline seen since previous token
    while i < n:
        c = src[i]
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            nl = True
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise ParseError("unterminated comment")
            if "\n" in src[i:j]:
                nl = True
            i = j + 2
            continue
        start = i
        if c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise ParseError("unterminated raw string")
            toks.append(Tok("str", src[i + 1:j].replace("\r", ""), start, j + 1, nl))
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                if src[j] == "\\":
                    j += 1
                elif src[j] == "\n":
                    raise ParseError("newline in string")
                j += 1
            toks.append(Tok("str", _decode_interp(src[i + 1:j], '"'), start, j + 1, nl))
            i = j + 1
        elif c == "'":
            j = i + 1
            while j < n and src[j] != "'":
                if src[j] == "\\":
                    j += 1
                j += 1
            s = _decode_interp(src[i + 1:j], "'")
            toks.append(Tok("rune", ord(s[0]) if s else 0, start, j + 1, nl))
            i = j + 1
        elif c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            m = re.compile(r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9]+)?i?").match(src, i)
            txt = m.group(0)
            try:
                val = int(txt.replace("_", ""), 0)
            except ValueError:
                try:
                    val = int(txt, 8) if re.fullmatch(r"0[0-7]+", txt) else float(txt.rstrip("i").replace("_", ""))
                except ValueError:
                    val = txt
            toks.append(Tok("num", val, start, m.end(), nl))
            i = m.end()
        elif _is_letter(c):
            j = i + 1
            while j < n and (_is_letter(src[j]) or src[j].isdigit()):
                j += 1
            toks.append(Tok("ident", src[i:j], start, j, nl))
            i = j
        else:
            for op in OPS:
                if src.startswith(op, i):
                    toks.append(Tok("op", op, start, i + len(op), nl))
                    i += len(op)
                    break
            else:
                raise ParseError(f"bad char {c!r} at {i}")
        nl = False
    toks.append(Tok("eof", None, n, n, True))
    return toks


# ---------------------------------------------------------------- AST + parser
# Nodes are tuples: ("lit", v) ("ident", name) ("sel", x, name) ("call", fn, args, ellipsis)
# ("bin", op, a, b) ("un", op, x) ("comp", type, elems) with elems [(key|None, node)]
# ("index", x, i) ("slice", x, lo, hi) ("type", text) ("func",) ("paren", x)

BINPREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
           "+": 4, "-": 4, "|": 4, "^": 4, "*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5,
           "&": 5, "&^": 5}


class Parser:
    def __init__(self, toks, i=0):
        self.t, self.i = toks, i

    def peek(self, k=0):
        return self.t[min(self.i + k, len(self.t) - 1)]

    def next(self):
        tok = self.t[self.i]
        self.i += 1
        return tok

    def at(self, val, k=0):
        tok = self.peek(k)
        return tok.kind in ("op", "ident") and tok.val == val

    def expect(self, val):
        tok = self.next()
        if tok.val != val or tok.kind not in ("op", "ident"):
            raise ParseError(f"expected {val!r}, got {tok!r}")
        return tok

    def skip_balanced(self):
        """at an opening bracket: skip to just after its match"""
        pairs = {"(": ")", "[": "]", "{": "}"}
        opener = self.next().val
        depth = [pairs[opener]]
        while depth:
            tok = self.next()
            if tok.kind == "eof":
                raise ParseError("unbalanced")
            if tok.kind == "op":
                if tok.val in pairs:
                    depth.append(pairs[tok.val])
                elif tok.val in (")", "]", "}"):
                    if tok.val != depth.pop():
                        raise ParseError("mismatched bracket")

    # --- types (only need to skip them; keep text for []string vs others)
    def parse_type(self):
        start = self.i
        tok = self.peek()
        if self.at("["):
            self.next()
            if not self.at("]"):
                if self.at("..."):
                    self.next()
                else:
                    self.parse_expr()
            self.expect("]")
            self.parse_type()
        elif self.at("*"):
            self.next()
            self.parse_type()
        elif self.at("map"):
            self.next()
            self.expect("[")
            self.parse_type()
            self.expect("]")
            self.parse_type()
        elif self.at("struct") or self.at("interface"):
            self.next()
            self.skip_balanced()
        elif self.at("func"):
            self.next()
            self.skip_balanced()
            if self.at("("):
                self.skip_balanced()
            elif self.peek().kind == "ident" or self.at("[") or self.at("*"):
                self.parse_type()
        elif self.at("chan"):
            self.next()
            self.parse_type()
        elif tok.kind == "ident":
            self.next()
            if self.at(".") and self.peek(1).kind == "ident":
                self.next()
                self.next()
            if self.at("["):  # generic instantiation
                self.skip_balanced()
        else:
            raise ParseError(f"bad type at {tok!r}")
        return ("type", " ".join(str(t.val) for t in self.t[start:self.i]))

    # --- expressions
    def parse_expr_list(self):
        xs = [self.parse_expr()]
        while self.at(","):
            self.next()
            xs.append(self.parse_expr())
        return xs

    def parse_expr(self, prec=1, no_comp=False):
        x = self.parse_unary(no_comp)
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.val in BINPREC and BINPREC[tok.val] >= prec and not tok.nl:
                op = self.next().val
                y = self.parse_expr(BINPREC[op] + 1, no_comp)
                x = ("bin", op, x, y)
            else:
                return x

    def parse_unary(self, no_comp=False):
        tok = self.peek()
        if tok.kind == "op" and tok.val in ("-", "+", "!", "^", "*", "&", "<-"):
            self.next()
            return ("un", tok.val, self.parse_unary(no_comp))
        return self.parse_primary(no_comp)

    def parse_primary(self, no_comp=False):
        tok = self.peek()
        if tok.kind in ("str", "num", "rune"):
            self.next()
            x = ("lit", tok.val)
        elif tok.kind == "ident" and tok.val == "func":
            self.next()
            self.skip_balanced()  # params
            while not self.at("{"):
                if self.at("("):
                    self.skip_balanced()
                else:
                    self.next()
            self.skip_balanced()
            x = ("func",)
        elif tok.kind == "ident" and tok.val in ("map", "struct", "chan", "interface"):
            x = self.parse_type()
        elif self.at("["):
            x = self.parse_type()
        elif tok.kind == "ident":
            self.next()
            x = ("ident", tok.val)
        elif self.at("("):
            self.next()
            x = ("paren", self.parse_expr())
            self.expect(")")
        elif self.at("{"):  # elided composite type inside a composite literal
            x = ("comp", None, self.parse_comp_body())
            return x
        else:
            raise ParseError(f"unexpected {tok!r}")
        while True:
            if self.peek().nl:  # Go inserts a semicolon here
                return x
            if self.at("."):
                self.next()
                if self.at("("):  # type assertion
                    self.skip_balanced()
                    x = ("func",)
                else:
                    x = ("sel", x, self.next().val)
            elif self.at("("):
                self.next()
                args, ell = [], False
                while not self.at(")"):
                    args.append(self.parse_expr())
                    if self.at("..."):
                        self.next()
                        ell = True
                    if self.at(","):
                        self.next()
                    elif not self.at(")"):
                        raise ParseError("bad call args")
                self.expect(")")
                x = ("call", x, args, ell)
            elif self.at("["):
                self.next()
                lo = hi = None
                if not self.at(":"):
                    lo = self.parse_expr()
                if self.at(":"):
                    self.next()
                    if not self.at("]"):
                        hi = self.parse_expr()
                    self.expect("]")
                    x = ("slice", x, lo, hi)
                else:
                    self.expect("]")
                    x = ("index", x, lo)
            elif self.at("{") and not no_comp and x[0] in ("type", "ident", "sel"):
                x = ("comp", x, self.parse_comp_body())
            else:
                return x

    def parse_comp_body(self):
        self.expect("{")
        elems = []
        while not self.at("}"):
            if self.at("{"):
                v = ("comp", None, self.parse_comp_body())
            else:
                v = self.parse_expr()
            key = None
            if self.at(":"):
                self.next()
                key = v
                if self.at("{"):
                    v = ("comp", None, self.parse_comp_body())
                else:
                    v = self.parse_expr()
            elems.append((key, v))
            if self.at(","):
                self.next()
            elif not self.at("}"):
                raise ParseError(f"bad composite literal at {self.peek()!r}")
        self.expect("}")
        return elems


# ---------------------------------------------------------------- evaluator
_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])")


def go_quote(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_sprintf(fmt, args):
    args = list(args)
    out, pos, ai = [], 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if width == "*" or prec == "*":
            raise Unresolved("* width")
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        if verb in "sv":
            if isinstance(a, bool):
                s = "true" if a else "false"
            elif isinstance(a, list):
                s = "[" + " ".join(map(str, a)) + "]"
            elif a is None:
                s = "<nil>" if verb == "v" else "%!s(<nil>)"
            else:
                s = str(a)
            if prec is not None:
                s = s[:int(prec)]
        elif verb == "d":
            if not isinstance(a, int) or isinstance(a, bool):
                raise Unresolved("%d of non-int")
            s = str(a)
        elif verb == "q":
            if not isinstance(a, str):
                raise Unresolved("%q of non-string")
            s = go_quote(a)
        elif verb in "xX" and isinstance(a, (str, int)) and not isinstance(a, bool):
            s = a.encode().hex() if isinstance(a, str) else format(a, "x")
            if verb == "X":
                s = s.upper()
        elif verb == "c" and isinstance(a, int):
            s = chr(a)
        else:
            raise Unresolved(f"verb %{verb}")
        if width:
            w = int(width)
            if "-" in flags:
                s = s.ljust(w)
            elif "0" in flags and verb in "dxX":
                s = s.rjust(w, "0")
            else:
                s = s.rjust(w)
        out.append(s)
    out.append(fmt[pos:])
    if ai < len(args):
        raise Unresolved("extra Sprintf args")
    return "".join(out)


def _as_str(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if not isinstance(v, str):
        raise Unresolved(f"not a string: {type(v).__name__}")
    return v


class Env:
    """Name -> AST with lazy evaluation; parent chain for scopes."""

    def __init__(self, parent=None):
        self.parent = parent
        self.binds = {}
        self.cache = {}
        self.busy = set()

    def bind(self, name, node):
        if name != "_" and name not in self.binds:  # first binding wins
            self.binds[name] = node

    def lookup(self, name):
        env = self
        while env is not None:
            if name in env.binds:
                if name in env.cache:
                    v = env.cache[name]
                    if isinstance(v, Unresolved):
                        raise v
                    return v
                if name in env.busy:
                    raise Unresolved(f"cyclic {name}")
                env.busy.add(name)
                try:
                    v = evaluate(env.binds[name], env)
                except Unresolved as e:
                    env.cache[name] = e
                    raise
                finally:
                    env.busy.discard(name)
                env.cache[name] = v
                return v
            env = env.parent
        raise Unresolved(f"unknown identifier {name}")


def _call(fn, args, env, ell):
    name = None
    if fn[0] == "sel" and fn[1][0] == "ident":
        name = f"{fn[1][1]}.{fn[2]}"
    elif fn[0] == "sel" and fn[1][0] == "sel" and fn[1][1][0] == "ident":
        name = f"{fn[1][1][1]}.{fn[1][2]}.{fn[2]}"
    elif fn[0] == "ident":
        name = fn[1]
    elif fn[0] == "type":
        name = fn[1]
    ev = lambda n: evaluate(n, env)
    if name in ("fmt.Sprintf",):
        vals = [ev(a) for a in args]
        if ell:
            vals = vals[:-1] + list(vals[-1])
        return go_sprintf(_as_str(vals[0]), vals[1:])
    if name == "fmt.Appendf":
        vals = [ev(a) for a in args[1:]]
        if ell:
            vals = vals[:-1] + list(vals[-1])
        prefix = ev(args[0])
        return (_as_str(prefix) if prefix is not None else "") + go_sprintf(_as_str(vals[0]), vals[1:])
    if name == "fmt.Sprint" and not ell:
        vals = [ev(a) for a in args]
        out = []
        for k, v in enumerate(vals):
            if k and not isinstance(v, str) and not isinstance(vals[k - 1], str):
                out.append(" ")
            out.append(go_sprintf("%v", [v]))
        return "".join(out)
    if name in ("string", "[ ] byte", "[ ] rune"):
        v = ev(args[0])
        if isinstance(v, int) and name == "string":
            return chr(v)
        if isinstance(v, list):
            return "".join(chr(c) if isinstance(c, int) else c for c in v)
        return _as_str(v)
    if name == "strings.Repeat":
        return _as_str(ev(args[0])) * ev(args[1])
    if name == "strings.Join":
        return _as_str(ev(args[1])).join(_as_str(x) for x in ev(args[0]))
    if name == "strings.ToUpper":
        return _as_str(ev(args[0])).upper()
    if name == "strings.ToLower":
        return _as_str(ev(args[0])).lower()
    if name == "strings.TrimSpace":
        return _as_str(ev(args[0])).strip(" \t\n\r\v\f")
    if name in ("strings.ReplaceAll", "strings.Replace"):
        s, old, new = (_as_str(ev(a)) for a in args[:3])
        cnt = ev(args[3]) if name == "strings.Replace" else -1
        return s.replace(old, new) if cnt < 0 else s.replace(old, new, cnt)
    if name == "base64.StdEncoding.EncodeToString":
        return base64.b64encode(_as_str(ev(args[0])).encode()).decode()
    if name == "base64.RawURLEncoding.EncodeToString":
        return base64.urlsafe_b64encode(_as_str(ev(args[0])).encode()).decode().rstrip("=")
    if name == "base64.URLEncoding.EncodeToString":
        return base64.urlsafe_b64encode(_as_str(ev(args[0])).encode()).decode()
    if name == "hex.EncodeToString":
        return _as_str(ev(args[0])).encode().hex()
    if name == "append":
        base = list(ev(args[0]) or [])
        rest = [ev(a) for a in args[1:]]
        if ell:
            rest = rest[:-1] + list(rest[-1])
        return base + rest
    if name == "len":
        return len(ev(args[0]))
    raise Unresolved(f"call {name or fn[0]}")


def evaluate(node, env):
    k = node[0]
    if k == "lit":
        return node[1]
    if k == "paren":
        return evaluate(node[1], env)
    if k == "ident":
        n = node[1]
        if n == "true":
            return True
        if n == "false":
            return False
        if n == "nil":
            return None
        return env.lookup(n)
    if k == "bin":
        op, a, b = node[1], evaluate(node[2], env), evaluate(node[3], env)
        if op == "+":
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(a, int) and isinstance(b, int):
                return a + b
        if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
            if op == "*":
                return a * b
            if op == "-":
                return a - b
        raise Unresolved(f"binary {op}")
    if k == "un" and node[1] == "-":
        v = evaluate(node[2], env)
        if isinstance(v, int):
            return -v
        raise Unresolved("unary -")
    if k == "call":
        return _call(node[1], node[2], env, node[3])
    if k == "comp":
        t = node[1]
        if t is None or (t[0] == "type" and t[1].startswith("[ ]")) or (t[0] == "type" and t[1].startswith("[ ...")):
            if any(key is not None for key, _ in node[2]):
                raise Unresolved("keyed slice literal")
            return [evaluate(v, env) for _, v in node[2]]
        raise Unresolved(f"composite {t}")
    if k == "index":
        x, i = evaluate(node[1], env), evaluate(node[2], env)
        if isinstance(x, (str, list)) and isinstance(i, int):
            return x[i] if isinstance(x, list) else x.encode()[i]
        raise Unresolved("index")
    if k == "slice":
        x = evaluate(node[1], env)
        lo = evaluate(node[2], env) if node[2] else None
        hi = evaluate(node[3], env) if node[3] else None
        if isinstance(x, str):
            return x.encode()[lo:hi].decode("utf-8", "replace")
        if isinstance(x, list):
            return x[lo:hi]
        raise Unresolved("slice")
    raise Unresolved(f"node {k}")


# ---------------------------------------------------------------- declarations
def collect_decls(toks, lo, hi, env, toplevel):
    """Bind const/var specs and := short declarations in toks[lo:hi] into env.
    At top level only const/var are considered and function bodies are skipped."""
    i = lo
    while i < hi:
        tok = toks[i]
        if toplevel and tok.kind == "ident" and tok.val == "func":
            # skip to body and over it
            j = i + 1
            p = Parser(toks, j)
            try:
                while not p.at("{"):
                    if p.at("(") or p.at("["):
                        p.skip_balanced()
                    else:
                        p.next()
                p.skip_balanced()
                i = p.i
            except ParseError:
                i += 1
            continue
        if tok.kind == "ident" and tok.val in ("const", "var") and (toplevel or True):
            p = Parser(toks, i + 1)
            try:
                if p.at("("):
                    p.next()
                    while not p.at(")"):
                        _spec(p, env)
                        if p.at(";"):
                            p.next()
                    p.next()
                else:
                    _spec(p, env)
                i = p.i
            except (ParseError, IndexError):
                i += 1
            continue
        if not toplevel and tok.kind == "ident" and toks[i + 1].val in (":=", ",") and toks[i + 1].kind == "op":
            # a, b := x, y   /   a := x
            names, j = [tok.val], i + 1
            ok = True
            while toks[j].kind == "op" and toks[j].val == ",":
                if toks[j + 1].kind != "ident":
                    ok = False
                    break
                names.append(toks[j + 1].val)
                j += 2
            if ok and toks[j].kind == "op" and toks[j].val == ":=" and not (toks[j + 1].kind == "ident" and toks[j + 1].val == "range"):
                p = Parser(toks, j + 1)
                try:
                    vals = p.parse_expr_list()
                    if len(vals) == len(names):
                        for nm, v in zip(names, vals):
                            env.bind(nm, v)
                    i = p.i
                    continue
                except (ParseError, IndexError):
                    pass
        i += 1


def _spec(p, env):
    names = [p.next().val]
    while p.at(","):
        p.next()
        names.append(p.next().val)
    if p.peek().nl or p.at(";") or p.at(")"):
        return  # `name` alone (iota continuation) or `var x T` on its own line
    if not p.at("="):
        # typed: name T = expr  /  name T
        p.parse_type()
    if p.at("=") and not p.peek().nl:
        p.next()
        vals = p.parse_expr_list()
        if len(vals) == len(names):
            for nm, v in zip(names, vals):
                env.bind(nm, v)
        else:
            raise ParseError("spec arity")
    # iota etc are ignored
