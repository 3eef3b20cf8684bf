"""Parse watch-expression text into a small syntax tree (no types resolved yet).

The grammar is C's expression grammar restricted to what reads memory without side
effects, plus gdb's ``'file.c'::name`` / ``func::name`` scopes, the ``@`` artificial array
(binding between shifts and ``+`` as in gdb) and a trailing ``,x``-style format suffix.
Whether ``(name)`` is a cast or a parenthesized expression depends on the program, so the
parser asks ``is_type``.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .lexer import LexError, Token, iter_tokens
from .literals import clip
from .names import needs_spelling_help

FORMATS = {"x": "x", "h": "x", "d": "d", "u": "u", "o": "o", "b": "b", "t": "b", "c": "c", "s": "s"}

# Words that can only start a type name.
TYPE_WORDS = frozenset(
    [
        "struct",
        "union",
        "enum",
        "class",
        "unsigned",
        "signed",
        "int",
        "char",
        "short",
        "long",
        "float",
        "double",
        "void",
        "_Bool",
        "bool",
        "const",
        "volatile",
    ]
)
_BASE_WORDS = frozenset(
    ["unsigned", "signed", "int", "char", "short", "long", "float", "double", "void", "_Bool", "bool"]
)


# Deepest nesting accepted (parentheses, prefix operators, casts, indexes, '?:', operator
# chains): far beyond any watch expression, and small enough that the recursive parser and
# the compiler's walker stay well inside Python's stack (see deep_enough).
MAX_DEPTH = 256


_deep_lock = threading.Lock()
_deep_users = 0
_deep_saved = 0


@contextmanager
def deep_enough() -> Iterator[None]:
    """Python stack for a MAX_DEPTH-deep expression: the recursive-descent parser and the
    compiler's walker take a few frames per level, more than the interpreter's default
    limit allows at 250 levels. Raised while any compile runs, restored after the last."""
    global _deep_users, _deep_saved
    with _deep_lock:
        if _deep_users == 0:
            _deep_saved = sys.getrecursionlimit()
            sys.setrecursionlimit(_deep_saved + MAX_DEPTH * 16)
        _deep_users += 1
    try:
        yield
    finally:
        with _deep_lock:
            _deep_users -= 1
            if _deep_users == 0:
                sys.setrecursionlimit(_deep_saved)


class ParseError(Exception):
    def __init__(self, position: int, reason: str):
        super().__init__(reason)
        self.position = position
        self.reason = reason


# -- syntax tree -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str  # as the user spelled it, scopes included: "'main.c'::x", "ns::x"


@dataclass(frozen=True, slots=True)
class IntLit(Node):
    value: int
    suffix: str


@dataclass(frozen=True, slots=True)
class FloatLit(Node):
    value: float
    suffix: str


@dataclass(frozen=True, slots=True)
class CharLit(Node):
    value: int


@dataclass(frozen=True, slots=True)
class StringLit(Node):
    body: str


@dataclass(frozen=True, slots=True)
class Member(Node):
    obj: Node
    name: str
    arrow: bool
    name_pos: int


@dataclass(frozen=True, slots=True)
class Index(Node):
    obj: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-", "+", "~", "!", "*", "&"
    operand: Node


@dataclass(frozen=True, slots=True)
class TypeSpec(Node):
    base: str  # "unsigned int", "struct foo", "uint16_t", "ns::T"
    pointers: tuple[tuple[str, ...], ...] = field(default=())  # qualifiers of each '*'
    qualifiers: tuple[str, ...] = ()  # on the base type


@dataclass(frozen=True, slots=True)
class Cast(Node):
    type: TypeSpec
    operand: Node


@dataclass(frozen=True, slots=True)
class SizeofType(Node):
    type: TypeSpec


@dataclass(frozen=True, slots=True)
class SizeofExpr(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class Parsed:
    tree: Node
    format: str | None  # normalized suffix letter
    body: str  # the text without the format suffix


# the fields of each node that hold sub-expressions
_CHILDREN: dict[type, tuple[str, ...]] = {
    Member: ("obj",),
    Index: ("obj", "index"),
    Unary: ("operand",),
    Cast: ("operand",),
    SizeofExpr: ("operand",),
    Binary: ("left", "right"),
    Conditional: ("cond", "then", "other"),
}

_BINARY_PRECEDENCE = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6,
    "!=": 6,
    "<": 7,
    ">": 7,
    "<=": 7,
    ">=": 7,
    "<<": 8,
    ">>": 8,
    "@": 9,
    "+": 10,
    "-": 10,
    "*": 11,
    "/": 11,
    "%": 11,
}


def parse(text: str, is_type: Callable[[str], bool], is_variable: Callable[[str], bool]) -> Parsed:
    p = _Parser(text, _Tokens(text), is_type, is_variable)
    try:
        parsed = p.parse_top()
    except LexError as e:
        raise ParseError(e.position, e.reason) from None
    _check_depth(parsed.tree)
    return parsed


class _Tokens:
    """The token list, lexed as far as the parser has looked."""

    __slots__ = ("_it", "_buf")

    def __init__(self, text: str) -> None:
        self._it = iter_tokens(text)
        self._buf: list[Token] = []

    def __getitem__(self, i: int) -> Token:
        buf = self._buf
        while len(buf) <= i:
            if buf and buf[-1].kind == "end":
                return buf[-1]
            buf.append(next(self._it))
        return buf[i]


_ANON = "(anonymous namespace)"
_COMPONENT = re.compile(
    r"\(anonymous namespace\)|operator\s*(?:\(\)|\[\]|new\b(?:\[\])?|delete\b(?:\[\])?|[-+*/%^&|~!=<>,]{1,3})"
    r"|[A-Za-z_$][\w$]*"
)
_MAX_NAME = 4096
_METHOD_QUALIFIERS = re.compile(r"(?:\s*(?:const\b|volatile\b|noexcept\b|&&|&))*")


def name_ends(text: str, i: int) -> list[int]:
    """End offsets of the qualified names that start at ``i``, shortest first: each
    ``::``-separated component is an identifier, ``(anonymous namespace)`` or an operator,
    optionally followed by balanced template arguments."""
    ends: list[int] = []
    n = min(len(text), i + _MAX_NAME)
    j = i
    while True:
        m = _COMPONENT.match(text, j, n)
        if m is None:
            break
        j = m.end()
        k = j
        while k < n and text[k] == " ":
            k += 1
        if k < n and text[k] == "<" and not m.group(0).startswith("operator"):
            e = _after_template_args(text, k, n)
            if e < 0:
                ends.append(j)
                break
            j = e
        ends.append(j)
        k = j
        while k < n and text[k] == " ":
            k += 1
        if k < n and text[k] == "(" and not m.group(0).startswith("("):  # a function's parameters: f(int)::x
            e = _after_parameters(text, k, n)
            if e > 0:
                e = _METHOD_QUALIFIERS.match(text, e).end()  # type: ignore[union-attr]  # f(int) const::x
                if text.startswith("::", e):
                    k = e
        if text.startswith("::", k):
            j = k + 2
            while j < n and text[j] == " ":
                j += 1
            continue
        break
    return ends


def _after_parameters(text: str, k: int, n: int) -> int:
    """The offset after the ')' closing the '(' at ``k``; -1 when it does not close."""
    depth = 0
    for j in range(k, n):
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        elif c in ";\"'?":
            return -1
    return -1


def _after_template_args(text: str, k: int, n: int) -> int:
    """The offset after the '>' closing the '<' at ``k``; -1 when it does not close."""
    depth = 0
    for j in range(k, n):
        c = text[j]
        if c in "<([":
            depth += 1
        elif c in ">)]":
            depth -= 1
            if depth == 0:
                return j + 1 if c == ">" else -1
        elif c in ";\"'?":
            return -1
    return -1


def _check_depth(tree: Node) -> None:
    """Refuse a tree deeper than MAX_DEPTH (long operator chains nest without recursing here)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(node.pos, _too_deep())
        for f in _CHILDREN.get(type(node), ()):
            stack.append((getattr(node, f), depth + 1))


def _too_deep() -> str:
    return (f"the expression nests more than {MAX_DEPTH} levels deep (parentheses, operators, casts or "
            "indexes); split it into simpler watches")


class _Parser:
    def __init__(
        self, text: str, toks: _Tokens, is_type: Callable[[str], bool], is_variable: Callable[[str], bool]
    ):
        self.text = text
        self.toks = toks
        self.i = 0
        self.is_type = is_type
        self.is_variable = is_variable
        self.depth = 0  # recursive entries into expression() and prefix unary(), now open

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[self.i + k]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect_op(self, op: str, opener: Token | None = None) -> Token:
        if not self.at_op(op):
            if opener is not None and self.tok.kind == "end":
                raise ParseError(opener.pos, f"unbalanced '{opener.text}': no matching '{op}'")
            raise ParseError(self.tok.pos, f"expected '{op}' but found {self.describe(self.tok)}")
        return self.next()

    @staticmethod
    def describe(t: Token) -> str:
        return "the end of the expression" if t.kind == "end" else f"'{clip(t.text)}'"

    # -- grammar ----------------------------------------------------------------------------------
    def parse_top(self) -> Parsed:
        if self.tok.kind == "end":
            raise ParseError(0, "the expression is empty")
        tree = self.expression()
        fmt = None
        body_end = self.tok.pos
        if self.at_op(","):
            comma = self.next()
            letter = self.tok
            if letter.kind != "ident" or letter.text.lower() not in FORMATS:
                raise ParseError(
                    letter.pos if letter.kind != "end" else comma.pos,
                    "a ',' must be followed by a format letter: x, h, d, u, o, b, c or s",
                )
            self.next()
            fmt = FORMATS[letter.text.lower()]
        if self.tok.kind != "end":
            t = self.tok
            if t.kind == "op" and t.text in ")]":
                raise ParseError(t.pos, f"unbalanced '{t.text}' with no matching opening bracket")
            raise ParseError(t.pos, f"unexpected {self.describe(t)} after a complete expression")
        return Parsed(tree, fmt, self.text[:body_end].strip())

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(pos, _too_deep())

    def expression(self) -> Node:
        self.enter(self.tok.pos)
        try:
            cond = self.binary(1)
            if self.at_op("?"):
                q = self.next()
                then = self.expression()
                self.expect_op(":")
                other = self.expression()
                return Conditional(q.pos, cond, then, other)
            return cond
        finally:
            self.depth -= 1

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        depth = self.depth
        try:
            while self.tok.kind == "op" and _BINARY_PRECEDENCE.get(self.tok.text, 0) >= min_prec:
                op = self.next()
                self.enter(op.pos)  # each operator of a chain nests the tree one level deeper
                prec = _BINARY_PRECEDENCE[op.text]
                if self.tok.kind == "end":
                    raise ParseError(op.pos, f"'{op.text}' needs an operand after it")
                right = self.binary(prec + 1)
                left = Binary(op.pos, op.text, left, right)
            return left
        finally:
            self.depth = depth

    def unary(self) -> Node:
        t = self.tok
        if (t.kind == "op" and t.text in ("-", "+", "~", "!", "*", "&")) or (
            t.kind == "ident" and t.text == "sizeof"
        ) or (t.kind == "op" and t.text == "(" and self.starts_type(1)):
            self.enter(t.pos)  # prefix operators, sizeof and casts recurse; a plain primary does not
            try:
                return self._unary()
            finally:
                self.depth -= 1
        return self._unary()

    def _unary(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.text in ("-", "+", "~", "!", "*", "&"):
            self.next()
            if self.tok.kind == "end":
                raise ParseError(t.pos, f"'{t.text}' needs an operand after it")
            return Unary(t.pos, t.text, self.unary())
        if t.kind == "ident" and t.text == "sizeof":
            self.next()
            if self.at_op("(") and self.starts_type(1):
                open_ = self.next()
                spec = self.type_name()
                self.expect_op(")", open_)
                return SizeofType(t.pos, spec)
            return SizeofExpr(t.pos, self.unary())
        if t.kind == "op" and t.text == "(" and self.starts_type(1):
            open_ = self.next()
            spec = self.type_name()
            self.expect_op(")", open_)
            if self.tok.kind == "end":
                raise ParseError(t.pos, f"the cast to '{_spell(spec)}' needs an operand after it")
            return Cast(t.pos, spec, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        depth = self.depth
        try:
            return self._postfix(node)
        finally:
            self.depth = depth

    def _postfix(self, node: Node) -> Node:
        while True:
            if self.at_op("[", ".", "->"):
                self.enter(self.tok.pos)  # each index or member nests the tree one level deeper
            if self.at_op("["):
                open_ = self.next()
                if self.at_op("]"):
                    raise ParseError(self.tok.pos, "'[]' needs an index inside")
                idx = self.expression()
                self.expect_op("]", open_)
                node = Index(open_.pos, node, idx)
            elif self.at_op(".", "->"):
                op = self.next()
                if self.tok.kind != "ident":
                    raise ParseError(
                        self.tok.pos,
                        f"'{op.text}' must be followed by a member name, not {self.describe(self.tok)}",
                    )
                name = self.next()
                node = Member(op.pos, node, name.text, op.text == "->", name.pos)
            elif self.at_op("("):
                raise ParseError(self.tok.pos, "function calls are not supported: a watch only reads memory")
            else:
                return node

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "int":
            self.next()
            v, suffix = t.value  # type: ignore[misc]
            return IntLit(t.pos, v, suffix)
        if t.kind == "float":
            self.next()
            v, suffix = t.value  # type: ignore[misc]
            return FloatLit(t.pos, v, suffix)
        if t.kind == "char":
            self.next()
            return CharLit(t.pos, t.value)  # type: ignore[arg-type]
        if t.kind == "string":
            self.next()
            return StringLit(t.pos, t.value)  # type: ignore[arg-type]
        if t.kind == "qname":
            if not self.is_variable(t.text) and not any(c in t.text for c in ":<("):
                raise ParseError(t.pos, f"'{clip(t.text)}' holds more than one character; use a string for text")
            self.next()
            return Name(t.pos, t.text)
        if t.kind in ("ident", "quoted") or (t.kind == "op" and t.text in ("(", "::")):
            long = self.spelled_name()
            if long is not None:
                return long
        if t.kind in ("ident", "quoted") or (t.kind == "op" and t.text == "::"):
            return Name(t.pos, self.qualified_name())
        if t.kind == "op" and t.text == "(":
            self.next()
            if self.at_op(")"):
                raise ParseError(self.tok.pos, "'()' is empty: put an expression inside")
            inner = self.expression()
            self.expect_op(")", t)
            return inner
        if t.kind == "end":
            raise ParseError(t.pos, "the expression ends where a value was expected")
        if t.kind == "op" and t.text in ")]":
            raise ParseError(t.pos, f"unbalanced '{t.text}' with no matching opening bracket")
        raise ParseError(t.pos, f"expected a value but found {self.describe(t)}")

    def spelled_name(self) -> Name | None:
        """A variable named with what C's grammar cannot read — template arguments, gdb's
        ``(anonymous namespace)``, an operator — when the program has it: the longest
        such prefix of the text here that names a variable. Comparisons stay comparisons
        (``a < b`` is a name only if the program has a variable spelled so)."""
        t = self.tok
        start = scan = t.pos
        if t.kind == "op" and t.text == "(" and not self.text.startswith(_ANON, start):
            return None
        if t.kind == "quoted":  # 'file.cc'::ns::(anonymous namespace)::x
            scan = self.text.index("::", self.text.index("'", start + 1)) + 2
            while scan < len(self.text) and self.text[scan] == " ":
                scan += 1
        for end in reversed(name_ends(self.text, scan)):
            cand = self.text[start:end]
            if needs_spelling_help(cand) and self.is_variable(cand):
                while self.tok.kind != "end" and self.tok.pos < end:
                    self.next()
                return Name(start, cand)
        return None

    def qualified_name(self) -> str:
        parts: list[str] = []
        t = self.tok
        if t.kind == "op" and t.text == "::":  # ::global
            self.next()
        elif t.kind == "quoted":
            self.next()
            parts.append(f"'{t.text}'")
            self.expect_op("::")
        if self.tok.kind != "ident":
            raise ParseError(self.tok.pos, f"expected a name but found {self.describe(self.tok)}")
        parts.append(self.next().text)
        while self.at_op("::") and self.peek().kind == "ident":
            self.next()
            parts.append(self.next().text)
        return "::".join(parts)

    # -- type names -------------------------------------------------------------------------------
    def starts_type(self, k: int) -> bool:
        """Does the token ``k`` ahead begin a type name (so '(' there opens a cast)?"""
        t = self.peek(k)
        if t.kind != "ident":
            return False
        if t.text in TYPE_WORDS:
            return True
        # Collect a possibly qualified name: ns::T
        j = k
        name = t.text
        while (
            self.peek(j + 1).kind == "op"
            and self.peek(j + 1).text == "::"
            and self.peek(j + 2).kind == "ident"
        ):
            name += "::" + self.peek(j + 2).text
            j += 2
        after = self.peek(j + 1)
        if not (after.kind == "op" and after.text in (")", "*")):
            return False
        if self.is_type(name) and not self.is_variable(name):
            return True
        # "(name *)" or "(name)x" cannot be an expression, so it is a cast to an unknown type:
        # saying so beats a confusing syntax error.
        if self.is_variable(name):
            return False
        while self.peek(j + 1).kind == "op" and self.peek(j + 1).text == "*":
            j += 1
        close, operand = self.peek(j + 1), self.peek(j + 2)
        if not (close.kind == "op" and close.text == ")"):
            return False
        return (
            j > k
            or operand.kind in ("ident", "int", "float", "char")
            or (operand.kind == "op" and operand.text in ("(", "&", "*"))
        )

    def type_name(self) -> TypeSpec:
        start = self.tok.pos
        quals: list[str] = []
        words: list[str] = []
        while self.tok.kind == "ident" and self.tok.text in ("const", "volatile"):
            quals.append(self.next().text)
        t = self.tok
        if t.kind == "ident" and t.text in ("struct", "union", "enum", "class"):
            self.next()
            if self.tok.kind != "ident":
                raise ParseError(self.tok.pos, f"'{t.text}' must be followed by a tag name")
            base = f"{t.text} {self.qualified_name()}"
        elif t.kind == "ident" and t.text in _BASE_WORDS:
            while self.tok.kind == "ident" and self.tok.text in _BASE_WORDS | {"const", "volatile"}:
                w = self.next().text
                (quals if w in ("const", "volatile") else words).append(w)
            base = " ".join(words)
        elif t.kind == "ident":
            base = self.qualified_name()
        else:
            raise ParseError(t.pos, f"expected a type name but found {self.describe(t)}")
        while self.tok.kind == "ident" and self.tok.text in ("const", "volatile"):
            quals.append(self.next().text)
        pointers: list[tuple[str, ...]] = []
        while self.at_op("*"):
            self.next()
            pq: list[str] = []
            while self.tok.kind == "ident" and self.tok.text in ("const", "volatile"):
                pq.append(self.next().text)
            pointers.append(tuple(pq))
        return TypeSpec(start, base, tuple(pointers), tuple(quals))


def _spell(spec: TypeSpec) -> str:
    return spec.base + (" " + "*" * len(spec.pointers) if spec.pointers else "")


def spell_type(spec: TypeSpec) -> str:
    return _spell(spec)
