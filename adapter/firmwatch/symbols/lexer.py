"""Tokens of the watch-expression language (C expressions plus gdb's ``@``, ``::`` and ``,x``)."""

from __future__ import annotations

from dataclasses import dataclass

from .literals import FLOAT_RE, INT_RE, LiteralError, parse_char_body, parse_float, parse_int


class LexError(Exception):
    def __init__(self, position: int, reason: str):
        super().__init__(reason)
        self.position = position
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "int", "float", "char", "string", "ident", "quoted", "op", "end"
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
# Operators that would change the target: recognized only to refuse them clearly.
MUTATING = frozenset(("<<=", ">>=", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "="))


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c.isalpha() or c == "_" or c == "$":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            out.append(Token("ident", text[i:j], i))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = FLOAT_RE.match(text, i)
            if m:
                v, suffix = parse_float(m.group(0))
                out.append(Token("float", m.group(0), i, (v, suffix)))
                i = m.end()
                continue
            m = INT_RE.match(text, i)
            if not m:
                j = i
                while j < n and (text[j].isalnum() or text[j] in "_.'"):
                    j += 1
                raise LexError(i, f"'{text[i:j]}' is not a valid number")
            try:
                v, suffix = parse_int(m.group(0))
            except LiteralError as e:
                raise LexError(i, str(e)) from None
            out.append(Token("int", m.group(0), i, (v, suffix)))
            i = m.end()
            continue
        if c == "'":
            j = _closing(text, i, "'")
            body = text[i + 1 : j]
            # 'file.c'::name names a scope; anything else in single quotes is a character.
            rest = text[j + 1 :].lstrip()
            if rest.startswith("::"):
                out.append(Token("quoted", body, i))
            else:
                try:
                    out.append(Token("char", text[i : j + 1], i, parse_char_body(body)))
                except LiteralError as e:
                    raise LexError(i, str(e)) from None
            i = j + 1
            continue
        if c == '"':
            j = _closing(text, i, '"')
            out.append(Token("string", text[i : j + 1], i, text[i + 1 : j]))
            i = j + 1
            continue
        for op in _OPS:
            if text.startswith(op, i):
                out.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise LexError(i, f"unexpected character '{c}'")
    out.append(Token("end", "", n))
    return out


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
