"""C literal spelling shared by the expression lexer, the value display and the write parser.

One place knows how C (and gdb) spell integers, floats, characters and string escapes, so
what the display prints is exactly what the write path and the compiler accept back.
"""

from __future__ import annotations

import math
import re
import struct

# An integer literal as C, gdb and firmware engineers write it: 0x1F, 0b1010, 0777, 42, with
# optional u/l suffixes and C23/C++14 digit separators (').
INT_RE = re.compile(
    r"(?P<body>0[xX][0-9a-fA-F](?:'?[0-9a-fA-F])*|0[bB][01](?:'?[01])*|[0-9](?:'?[0-9])*)"
    r"(?P<suffix>[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?(?![\w.])"
)
FLOAT_RE = re.compile(
    r"(?P<body>(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)"
    r"(?P<suffix>[fFlL])?(?![\w.])"
)

_SIMPLE_ESCAPES = {
    "n": 10,
    "t": 9,
    "r": 13,
    "a": 7,
    "b": 8,
    "f": 12,
    "v": 11,
    "e": 27,  # gdb accepts \e
    "\\": 92,
    "'": 39,
    '"': 34,
    "?": 63,
}
# How gdb prints control characters that have a short escape.
_DISPLAY_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 27: "\\033"}


class LiteralError(ValueError):
    """A malformed literal; the message is one sentence."""


def parse_int(text: str) -> tuple[int, str]:
    """``'0x1F'`` -> ``(31, '')``; returns the value and the (lower-case) suffix.

    A leading 0 means octal as in C; the sign is not part of a literal.
    """
    m = INT_RE.fullmatch(text)
    if not m:
        raise LiteralError(f"'{text}' is not an integer literal")
    body = m.group("body").replace("'", "")
    suffix = (m.group("suffix") or "").lower()
    _check_digits(body, text)
    if body[:2] in ("0x", "0X"):
        return int(body[2:], 16), suffix
    if body[:2] in ("0b", "0B"):
        return int(body[2:], 2), suffix
    if len(body) > 1 and body[0] == "0":
        if any(c in "89" for c in body):
            raise LiteralError(f"'{text}' is not a valid octal literal (a leading 0 means octal)")
        return int(body, 8), suffix
    return int(body), suffix


# Significant digits past which a literal exceeds 128 bits, per base: such a literal fits no
# C type, and converting thousands of decimal digits is slow (Python refuses past 4,300).
_MAX_DIGITS = {16: 32, 2: 128, 8: 43, 10: 39}


def _check_digits(body: str, text: str) -> None:
    if len(body) <= 40:
        return
    lead = body[:2].lower()
    base, digits = (16, body[2:]) if lead == "0x" else (2, body[2:]) if lead == "0b" else (
        (8, body[1:]) if body[0] == "0" else (10, body))
    significant = len(digits.lstrip("0"))
    if significant > _MAX_DIGITS[base]:
        raise LiteralError(f"{clip(text)} ({significant} digits) is too large for any integer type")


def clip(text: str, n: int = 24) -> str:
    """``text`` for an error message: long input is shortened, not echoed back whole."""
    return text if len(text) <= n else text[: n - 1] + "…"


def parse_float(text: str) -> tuple[float, str]:
    m = FLOAT_RE.fullmatch(text)
    if not m:
        raise LiteralError(f"'{text}' is not a floating-point literal")
    return float(m.group("body")), (m.group("suffix") or "").lower()


def parse_escape(text: str, i: int) -> tuple[int, int]:
    """Decode the escape starting at ``text[i] == '\\\\'``; returns (code, index after it)."""
    if i + 1 >= len(text):
        raise LiteralError("a backslash at the end of a literal escapes nothing")
    c = text[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c in "01234567":
        j = i + 1
        while j < len(text) and j < i + 4 and text[j] in "01234567":
            j += 1
        return int(text[i + 1 : j], 8), j
    if c == "x":
        j = i + 2
        while j < len(text) and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            raise LiteralError("'\\x' needs hex digits after it")
        return int(text[i + 2 : j], 16), j
    raise LiteralError(f"unknown escape '\\{c}'")


def parse_char_body(body: str) -> int:
    """The value of the text between the quotes of a character literal."""
    if not body:
        raise LiteralError("an empty character literal '' has no value")
    if body[0] == "\\":
        code, end = parse_escape(body, 0)
        if end != len(body):
            raise LiteralError(f"'{clip(body)}' holds more than one character")
        return code
    if len(body) != 1:
        raise LiteralError(f"'{clip(body)}' holds more than one character; use a string for text")
    return ord(body)


def parse_string_body(body: str) -> bytes:
    """The bytes of the text between the double quotes of a string literal (UTF-8 for non-ASCII)."""
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == "\\":
            code, i = parse_escape(body, i)
            out.append(code & 0xFF)
        else:
            out += body[i].encode()
            i += 1
    return bytes(out)


def escape_char(code: int, quote: str) -> str:
    """One character as gdb prints it inside ``quote`` ('\\'' or '"'): octal for non-printables."""
    if code in _DISPLAY_ESCAPES:
        return _DISPLAY_ESCAPES[code]
    if code == 92:
        return "\\\\"
    if code == ord(quote):
        return "\\" + quote
    if 0x20 <= code < 0x7F:
        return chr(code)
    if code > 0xFF:
        return f"\\x{code:x}"
    return f"\\{code:03o}"


def char_literal(code: int) -> str:
    return "'" + escape_char(code & 0xFFFFFFFF if code >= 0 else code & 0xFF, "'") + "'"


# -- floats ----------------------------------------------------------------------------------------
def format_float(value: float, size: int, raw_bits: int | None = None) -> str:
    """Shortest text that reads back as the same ``size``-byte float; NaNs keep their payload.

    NaN payloads are printed gdb-style (``nan(0x400000)``, ``-nan(0x…)``) because firmware
    sometimes stores flags in them and a write must be able to put the same bits back.
    """
    if math.isnan(value):
        if raw_bits is None:
            return "nan(0x8000000000000)" if size == 8 else "nan(0x400000)"
        mant_bits = {2: 10, 4: 23, 8: 52}.get(size, 52)
        mant = raw_bits & ((1 << mant_bits) - 1)
        sign = "-" if raw_bits >> (size * 8 - 1) & 1 else ""
        return f"{sign}nan(0x{mant:x})"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if size == 8 or size not in (2, 4):
        text = repr(value)
    else:
        fmt = "<e" if size == 2 else "<f"
        text = repr(value)
        for digits in range(1, 18):
            cand = f"{value:.{digits}g}"
            try:
                same = struct.unpack(fmt, struct.pack(fmt, float(cand)))[0] == value
            except OverflowError:  # rounded past the largest finite value
                same = False
            if same:
                text = repr(float(cand))  # "100.0", not "%g"'s "1e+02"
                break
    if text.endswith(".0"):
        text = text[:-2]
    return text


_NAN_RE = re.compile(r"(?P<sign>[+-]?)nan(?:\((?P<payload>0[xX][0-9a-fA-F]+|[0-9]+)\))?", re.IGNORECASE)


def parse_float_text(text: str) -> tuple[float, int | None, bool]:
    """A float as a user types it (or as :func:`format_float` prints it).

    Returns (value, nan_payload or None, negative) — the payload and sign matter only for NaN.
    Integers are accepted too (``5`` means 5.0).
    """
    t = text.strip()
    m = _NAN_RE.fullmatch(t)
    if m:
        payload = m.group("payload")
        return math.nan, (int(payload, 0) if payload else None), m.group("sign") == "-"
    low = t.lower()
    if low in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf, None, False
    if low in ("-inf", "-infinity"):
        return -math.inf, None, True
    neg = t.startswith("-")
    body = t[1:] if t[:1] in "+-" else t
    try:
        v, _ = parse_float(body)
    except LiteralError:
        try:
            iv, _ = parse_int(body)
        except LiteralError:
            raise LiteralError(f"'{text}' is not a number") from None
        v = float(iv)
    return (-v if neg else v), None, neg
