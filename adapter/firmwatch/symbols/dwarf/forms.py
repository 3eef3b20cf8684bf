"""DW_FORM_*: the one table that says how every attribute value is encoded and what it means.

Every decoder in this package is driven by :data:`FORMS`: the generic decoder
(``reader.Reader.decode_generic``), the generated straight-line decoders and skippers
(``codegen``) and the line-table header reader (``lines``). A form missing here is a form
this reader does not understand, and each of them says so the same way.

A :class:`Form` has a *size* (bytes when fixed; ``ADDR``/``OFFSET``/``REF_ADDR`` when the
unit decides; else one of the variable-length encodings) and a *value* kind saying what
the bytes mean once read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .constants import SIZED_CONST_ATTRS
from .encoding import DwarfFormatError, cstr, sleb, uleb

# sizes a unit decides
ADDR = "addr"  # the unit's address size
OFFSET = "offset"  # 4 in 32-bit DWARF, 8 in 64-bit DWARF
REF_ADDR = "ref_addr"  # address-sized in DWARF 2, offset-sized later
# variable-length encodings
ULEB = "uleb"
SLEB = "sleb"
CSTRING = "cstring"
BLOCK = "block"  # ULEB length, then the bytes
BLOCK1 = "block1"
BLOCK2 = "block2"
BLOCK4 = "block4"
IMPLICIT = "implicit"  # no bytes: the value sits in the abbreviation
INDIRECT = "indirect"  # a ULEB form code, then a value of that form

# value kinds
DATA = "data"  # unsigned constant; (value, byte count) for DW_AT_const_value / discr_value
SDATA = "sdata"
UDATA = "udata"
REF = "ref"  # offset from the start of the unit
REF_SECTION = "ref_section"  # offset into .debug_info
ADDRESS = "address"
STRP = "strp"  # offset into .debug_str
LINE_STRP = "line_strp"  # offset into .debug_line_str
STRING = "string"  # inline
FLAG = "flag"
PRESENT = "present"
BYTES = "bytes"  # blocks, exprloc, data16
SEC_OFFSET = "sec_offset"
CONST = "const"  # implicit_const
STRX = "strx"  # index into .debug_str_offsets
ADDRX = "addrx"  # index into .debug_addr
SIG8 = "sig8"  # a type unit's signature: ("sig8", value)
LISTX = "listx"  # index of a location / range list
SUP = "sup"  # into a supplementary object file: ("alt", offset)
NESTED = "nested"  # DW_FORM_indirect


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    size: int | str
    value: str


FORMS: dict[int, Form] = {
    0x01: Form("addr", ADDR, ADDRESS),
    0x03: Form("block2", BLOCK2, BYTES),
    0x04: Form("block4", BLOCK4, BYTES),
    0x05: Form("data2", 2, DATA),
    0x06: Form("data4", 4, DATA),
    0x07: Form("data8", 8, DATA),
    0x08: Form("string", CSTRING, STRING),
    0x09: Form("block", BLOCK, BYTES),
    0x0A: Form("block1", BLOCK1, BYTES),
    0x0B: Form("data1", 1, DATA),
    0x0C: Form("flag", 1, FLAG),
    0x0D: Form("sdata", SLEB, SDATA),
    0x0E: Form("strp", OFFSET, STRP),
    0x0F: Form("udata", ULEB, UDATA),
    0x10: Form("ref_addr", REF_ADDR, REF_SECTION),
    0x11: Form("ref1", 1, REF),
    0x12: Form("ref2", 2, REF),
    0x13: Form("ref4", 4, REF),
    0x14: Form("ref8", 8, REF),
    0x15: Form("ref_udata", ULEB, REF),
    0x16: Form("indirect", INDIRECT, NESTED),
    0x17: Form("sec_offset", OFFSET, SEC_OFFSET),
    0x18: Form("exprloc", BLOCK, BYTES),
    0x19: Form("flag_present", 0, PRESENT),
    0x1A: Form("strx", ULEB, STRX),
    0x1B: Form("addrx", ULEB, ADDRX),
    0x1C: Form("ref_sup4", 4, SUP),
    0x1D: Form("strp_sup", OFFSET, SUP),
    0x1E: Form("data16", 16, BYTES),
    0x1F: Form("line_strp", OFFSET, LINE_STRP),
    0x20: Form("ref_sig8", 8, SIG8),
    0x21: Form("implicit_const", IMPLICIT, CONST),
    0x22: Form("loclistx", ULEB, LISTX),
    0x23: Form("rnglistx", ULEB, LISTX),
    0x24: Form("ref_sup8", 8, SUP),
    0x25: Form("strx1", 1, STRX),
    0x26: Form("strx2", 2, STRX),
    0x27: Form("strx3", 3, STRX),
    0x28: Form("strx4", 4, STRX),
    0x29: Form("addrx1", 1, ADDRX),
    0x2A: Form("addrx2", 2, ADDRX),
    0x2B: Form("addrx3", 3, ADDRX),
    0x2C: Form("addrx4", 4, ADDRX),
    0x1F01: Form("GNU_addr_index", ULEB, ADDRX),
    0x1F02: Form("GNU_str_index", ULEB, STRX),
    0x1F20: Form("GNU_ref_alt", OFFSET, SUP),
    0x1F21: Form("GNU_strp_alt", OFFSET, SUP),
}

FORM_implicit_const = 0x21
FORM_indirect = 0x16


def form(code: int, where: int) -> Form:
    """The table entry for ``code``; ``where`` (a DIE offset) names the culprit otherwise."""
    f = FORMS.get(code)
    if f is None:
        raise DwarfFormatError(f"DIE at 0x{where:x} uses unknown attribute form 0x{code:x}")
    return f


def fixed_size(f: Form, asz: int, osz: int, ver: int) -> int | None:
    """Bytes a value of ``f`` takes in a unit with these sizes; None when variable."""
    s = f.size
    if type(s) is int:
        return s
    if s == ADDR:
        return asz
    if s == OFFSET:
        return osz
    if s == REF_ADDR:
        return asz if ver == 2 else osz
    if s == IMPLICIT:
        return 0
    return None


def sized_const(at: int, f: Form) -> bool:
    """Values handed on as (raw, byte count): their signedness depends on the type."""
    return f.value == DATA and at in SIZED_CONST_ATTRS


@dataclass(slots=True)
class UnitForms:
    """What the generic decoder needs to know about the unit a value sits in."""

    address_size: int
    offset_size: int
    version: int
    offset: int  # of the unit: REF values are relative to it
    uint: Callable[[bytes, int, int], int]  # (data, position, byte count) -> unsigned int
    strp: Callable[[int], str]
    line_str: bytes
    strx: Callable[[int], Any]  # index -> string, or a deferred index (base not known yet)
    addrx: Callable[[int], Any]


def read_value(d: bytes, p: int, at: int, code: int, implicit: int, u: UnitForms, where: int) -> tuple[Any, int]:
    """Decode one attribute value of form ``code`` at ``p``: (value, position after it)."""
    f = form(code, where)
    if f.value == NESTED:
        code, p = uleb(d, p)
        return read_value(d, p, at, code, implicit, u, where)
    size = f.size
    n = fixed_size(f, u.address_size, u.offset_size, u.version)
    raw: Any
    if n is not None:
        if size == IMPLICIT:
            raw = implicit
        elif f.value == BYTES:  # data16
            raw = d[p : p + n]
        elif n:
            raw = u.uint(d, p, n)
        else:
            raw = True
        p += n
    elif size == ULEB:
        raw, p = uleb(d, p)
    elif size == SLEB:
        raw, p = sleb(d, p)
    elif size == CSTRING:
        e = d.find(b"\0", p)
        raw = d[p:e].decode("utf-8", "replace")
        p = e + 1
    else:  # blocks
        if size == BLOCK:
            k, p = uleb(d, p)
        elif size == BLOCK1:
            k = d[p]
            p += 1
        elif size == BLOCK2:
            k = u.uint(d, p, 2)
            p += 2
        else:
            k = u.uint(d, p, 4)
            p += 4
        raw = d[p : p + k]
        p += k
    kind = f.value
    if kind == DATA:
        return ((raw, n) if at in SIZED_CONST_ATTRS else raw), p
    if kind == REF:
        return raw + u.offset, p
    if kind == STRP:
        return u.strp(raw), p
    if kind == LINE_STRP:
        return cstr(u.line_str, raw), p
    if kind == FLAG:
        return raw != 0, p
    if kind == STRX:
        return u.strx(raw), p
    if kind == ADDRX:
        return u.addrx(raw), p
    if kind == SIG8:
        return ("sig8", raw), p
    if kind == SUP:
        return ("alt", raw), p
    return raw, p  # address, sec_offset, ref_section, sdata, udata, bytes, string, const, listx, present
