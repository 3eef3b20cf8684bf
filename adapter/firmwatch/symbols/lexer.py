"""Tokens of the watch-expression language (C expressions plus gdb's ``@``, ``::`` and ``,x``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .literals import FLOAT_RE, INT_RE, LiteralError, clip, parse_char_body, parse_float, parse_int


class LexError(Exception):
    def __init__(self, position: int, reason: str):
        super().__init__(reason)
        self.position = position
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "int", "float", "char", "string", "ident", "quoted" (a scope), "qname" (a name), "op", "end"
    text: str
    pos: int
    value: object = None  # int / float / bytes for literals; (value, suffix) for numbers


# Longest first so "->" wins over "-".
_OPS = (
    "<<=", ">>=", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "::",
    "+", "-", "*", "/", "%", "&", "|", "^", "~", "!", "<", ">",
    "(", ")", "[", "]", ".", ",", "@", "?", ":", "=",
)  # fmt: skip
_SCOPE_AFTER = re.compile(r"\s*::")
# Operators that would change the target: recognized only to refuse them clearly.
MUTATING = frozenset(("<<=", ">>=", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "="))


_IDENT_RE = re.compile(r"[\w$]+")
_OP_RE = re.compile("|".join(re.escape(op) for op in _OPS))


def tokenize(text: str) -> list[Token]:
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """Tokens as the parser asks for them: a parse that stops early (an error, too deep)
    never pays for lexing the rest of a long text. Ends with one "end" token."""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c.isalpha() or c == "_" or c == "$":
            j = _IDENT_RE.match(text, i).end()  # type: ignore[union-attr]
            yield Token("ident", text[i:j], i)
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = FLOAT_RE.match(text, i)
            if m:
                v, suffix = parse_float(m.group(0))
                yield Token("float", m.group(0), i, (v, suffix))
                i = m.end()
                continue
            m = INT_RE.match(text, i)
            if not m:
                j = i
                while j < n and (text[j].isalnum() or text[j] in "_.'"):
                    j += 1
                raise LexError(i, f"'{clip(text[i:j])}' is not a valid number")
            try:
                v, suffix = parse_int(m.group(0))
            except LiteralError as e:
                raise LexError(i, str(e)) from None
            yield Token("int", m.group(0), i, (v, suffix))
            i = m.end()
            continue
        if c == "'":
            j = _closing(text, i, "'")
            body = text[i + 1 : j]
            # 'file.c'::name names a scope; anything else in single quotes is a character.
            if _SCOPE_AFTER.match(text, j + 1):
                yield Token("quoted", body, i)
            elif len(body) > 1 and body[0] != "\\":
                yield Token("qname", body, i)  # gdb's quoting of a whole name: 'ns::T<int>::x'
            else:
                try:
                    yield Token("char", text[i : j + 1], i, parse_char_body(body))
                except LiteralError as e:
                    raise LexError(i, str(e)) from None
            i = j + 1
            continue
        if c == '"':
            j = _closing(text, i, '"')
            yield Token("string", text[i : j + 1], i, text[i + 1 : j])
            i = j + 1
            continue
        m = _OP_RE.match(text, i)
        if m is None:
            raise LexError(i, f"unexpected character '{c}'")
        op = m.group(0)
        if op in MUTATING:
            raise LexError(i, f"'{op}' would change the target: a watch only reads memory (use Set Value to write)")
        yield Token("op", op, i)
        i = m.end()
    yield Token("end", "", n)


def _closing(text: str, start: int, quote: str) -> int:
    j = start + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j
        j += 1
    raise LexError(start, f"unterminated {quote}...{quote} literal")
