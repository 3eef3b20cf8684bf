"""DWARF's primitive encodings: LEB128 numbers and NUL-terminated strings."""

from __future__ import annotations

from collections.abc import Callable


class DwarfFormatError(Exception):
    """The DWARF uses a form or unit layout this reader does not understand."""


def uleb(d: bytes, p: int) -> tuple[int, int]:
    """Unsigned LEB128 at ``p``: (value, offset after it)."""
    b = d[p]
    p += 1
    if b < 0x80:
        return b, p
    r = b & 0x7F
    s = 7
    while True:
        b = d[p]
        p += 1
        r |= (b & 0x7F) << s
        if b < 0x80:
            return r, p
        s += 7


def sleb(d: bytes, p: int) -> tuple[int, int]:
    """Signed LEB128 at ``p``: (value, offset after it)."""
    r = 0
    s = 0
    while True:
        b = d[p]
        p += 1
        r |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            if b & 0x40:
                r -= 1 << s
            return r, p


def cstr(d: bytes, p: int) -> str:
    """The NUL-terminated UTF-8 string at ``p`` (to the end of ``d`` when unterminated)."""
    e = d.find(b"\0", p)
    if e < 0:
        e = len(d)
    return d[p:e].decode("utf-8", "replace")


def string_table(sec: bytes) -> Callable[[int], str]:
    """DW_FORM_strp lookup; an ASCII table (the rule) is decoded once and sliced by offset."""
    if not sec.isascii():
        return lambda off: cstr(sec, off)
    text = sec.decode("ascii") + "\0"
    find = text.find

    def strp(off: int) -> str:
        return text[off : find("\0", off)]

    return strp
