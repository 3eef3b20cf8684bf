"""DWARF 2-5 -> variables and the :class:`TypeTable`.

pyelftools locates and decompresses the debug sections (``SHF_COMPRESSED`` and ``.zdebug``)
and parses the line-program headers; the DIEs themselves are decoded by the small reader
below. pyelftools builds a ``construct`` object per attribute, which made a cold index of a
20,000-global firmware ELF take many seconds; a flat loop over precompiled abbreviations is
an order of magnitude faster and is all we need (we never evaluate location lists or CFI).

Robustness rule: a DIE we cannot make sense of becomes an :class:`UnsupportedType` (for a
type) or is skipped (for a variable); weird DWARF never aborts the index.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from elftools.elf.elffile import ELFFile

from .cache import LazyList, decode_type
from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    Member,
    PointerType,
    Qualified,
    StructType,
    Type,
    Typedef,
    TypeId,
    TypeTable,
    UnsupportedType,
    Variant,
    VariantType,
    VoidType,
)

# -- DWARF constants we use (numbers from the DWARF 5 standard) ----------------------------
TAG_array_type = 0x01
TAG_class_type = 0x02
TAG_enumeration_type = 0x04
TAG_formal_parameter = 0x05
TAG_lexical_block = 0x0B
TAG_member = 0x0D
TAG_pointer_type = 0x0F
TAG_reference_type = 0x10
TAG_compile_unit = 0x11
TAG_structure_type = 0x13
TAG_subroutine_type = 0x15
TAG_typedef = 0x16
TAG_union_type = 0x17
TAG_unspecified_parameters = 0x18
TAG_variant = 0x19
TAG_inheritance = 0x1C
TAG_inlined_subroutine = 0x1D
TAG_ptr_to_member_type = 0x1F
TAG_subrange_type = 0x21
TAG_base_type = 0x24
TAG_const_type = 0x26
TAG_enumerator = 0x28
TAG_subprogram = 0x2E
TAG_variable = 0x34
TAG_volatile_type = 0x35
TAG_restrict_type = 0x37
TAG_namespace = 0x39
TAG_unspecified_type = 0x3B
TAG_partial_unit = 0x3C
TAG_rvalue_reference_type = 0x42
TAG_atomic_type = 0x47
TAG_variant_part = 0x33
TAG_template_type_param = 0x2F
TAG_template_value_param = 0x30

AT_sibling = 0x01
AT_location = 0x02
AT_name = 0x03
AT_byte_size = 0x0B
AT_bit_offset = 0x0C
AT_bit_size = 0x0D
AT_const_value = 0x1C
AT_lower_bound = 0x22
AT_producer = 0x25
AT_prototyped = 0x27
AT_upper_bound = 0x2F
AT_abstract_origin = 0x31
AT_count = 0x37
AT_data_member_location = 0x38
AT_decl_file = 0x3A
AT_decl_line = 0x3B
AT_declaration = 0x3C
AT_encoding = 0x3E
AT_external = 0x3F
AT_specification = 0x47
AT_type = 0x49
AT_language = 0x13
AT_stmt_list = 0x10
AT_discr = 0x15
AT_discr_value = 0x16
AT_linkage_name = 0x6E
AT_MIPS_linkage_name = 0x2007
AT_data_bit_offset = 0x6B
AT_str_offsets_base = 0x72
AT_addr_base = 0x73
AT_signature = 0x69
AT_GNU_addr_base = 0x2133

ATE_address = 0x1
ATE_boolean = 0x2
ATE_complex_float = 0x3
ATE_float = 0x4
ATE_signed = 0x5
ATE_signed_char = 0x6
ATE_unsigned = 0x7
ATE_unsigned_char = 0x8
ATE_UTF = 0x10

OP_addr = 0x03
OP_constu = 0x10
OP_consts = 0x11
OP_plus_uconst = 0x23
OP_addrx = 0xA1
OP_GNU_addr_index = 0xFB

_LANG_RUST = 0x1C
_LANG_CXX = {0x04, 0x1A, 0x21, 0x2B}
_LANG_C = {0x01, 0x02, 0x0C, 0x1D, 0x2C}


# Children of functions that are code-only: skipped while indexing (see parse_unit).
_CODE_TAGS = {0x2E, 0x0B, 0x1D}  # subprogram, lexical_block, inlined_subroutine
_CODE_ONLY_TAGS = {
    0x05,  # formal_parameter
    0x0A,  # label
    0x18,  # unspecified_parameters
    0x48,  # call_site
    0x49,  # call_site_parameter
    0x4109,  # GNU_call_site
    0x410A,  # GNU_call_site_parameter
    0x2F,  # template_type_parameter
    0x30,  # template_value_parameter
}


# Tags that never describe a type; every other DIE gets a TypeId reserved by the index pass,
# so ids stay fixed while types are materialized on demand (see LazyTypes).
_NOT_TYPE_TAGS = frozenset(
    {
        0x03, 0x05, 0x08, 0x0A, 0x0B, 0x0D, 0x11, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E,
        0x22, 0x23, 0x25, 0x27, 0x28, 0x2A, 0x2B, 0x2C, 0x2E, 0x2F, 0x30, 0x32, 0x33, 0x34,
        0x36, 0x39, 0x3A, 0x3C, 0x3D, 0x3F, 0x41, 0x48, 0x49, 0x4A,
        0x4107, 0x4108, 0x4109, 0x410A,
    }
)
# C aggregate types whose children the index pass steps over (read again when used).
_LAZY_CHILDREN_TAGS = frozenset({0x13, 0x17, 0x02, 0x04, 0x15})  # struct, union, class, enum, subroutine
_SKIP = object()  # parse stack marker: inside a subtree that is stepped over


def _gen_skipper(specs: list[tuple[int, int, int]], asz: int, osz: int, ver: int) -> Any:
    """Generated code that steps over one DIE's attributes (an int when their size is fixed)."""
    fixed = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8, 0x0C: 1, 0x19: 0,
             0x21: 0, 0x20: 8, 0x1E: 16, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2,
             0x2B: 3, 0x2C: 4}
    fixed[0x01] = asz
    fixed[0x0E] = osz
    fixed[0x1F] = osz
    fixed[0x17] = osz
    fixed[0x10] = asz if ver == 2 else osz
    n = 0
    lines = ["def skip(d, p):"]
    var = False
    for _at, form, _imp in specs:
        if form in fixed:
            n += fixed[form]
            continue
        var = True
        if n:
            lines.append(f" p += {n}")
            n = 0
        if form == 0x08:
            lines.append(" p = d.index(0, p) + 1")
        elif form in (0x18, 0x09):
            lines += [" k, p = uleb(d, p)", " p += k"]
        elif form == 0x0A:
            lines.append(" p += 1 + d[p]")
        elif form in (0x0D, 0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02):
            lines.append(" _, p = uleb(d, p)")
        else:
            return None
    if not var:
        return n
    if n:
        lines.append(f" p += {n}")
    lines.append(" return p")
    env: dict[str, Any] = {"uleb": _uleb}
    exec(compile("\n".join(lines), "<dwarf-skip>", "exec"), env)  # noqa: S102 - generated above
    return env["skip"]


class DwarfFormatError(Exception):
    """The DWARF uses a form or unit layout this reader does not understand."""


# -- the DIE reader ---------------------------------------------------------------------------
class Die:
    # full: children are all here. The index pass leaves the children of C aggregate types
    # unread (a "stub"); the builder re-reads the subtree when the type is first used.
    __slots__ = ("offset", "tag", "attrs", "children", "cu", "full")

    def __init__(self, offset: int, tag: int, attrs: dict[int, Any], cu: Unit) -> None:
        self.offset = offset
        self.tag = tag
        self.attrs = attrs
        self.children: list[Die] = []
        self.cu = cu
        self.full = True

    def get(self, at: int, default: Any = None) -> Any:
        return self.attrs.get(at, default)

    def __repr__(self) -> str:
        return f"Die(0x{self.offset:x}, tag=0x{self.tag:x}, {self.attrs})"


@dataclass
class Unit:
    offset: int
    version: int
    address_size: int
    offset_size: int
    top: Die | None = None
    language: int | None = None
    name: str = ""
    comp_dir: str = ""
    files: list[str] = field(default_factory=list)
    file_base: int = 1  # DWARF < 5 numbers files from 1, DWARF 5 from 0
    addr_base: int = 8  # DW_AT_addr_base: where this unit's entries in .debug_addr start
    str_base: int | None = None  # DW_AT_str_offsets_base
    abbr_off: int = 0
    first: int = 0  # offset of the top DIE
    end: int = 0


class _OnDemand(dict):  # type: ignore[type-arg]
    """code -> generated decoder, generated when an abbreviation is first met (most of a
    table's abbreviations are only stepped over, or never seen, by a given pass)."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[int], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, code: int) -> Any:
        fn = self[code] = self._make(code)
        return fn


class _Strx:
    """A string/address index whose base attribute comes later in the same (top) DIE."""

    __slots__ = ("index", "kind")

    def __init__(self, index: int, kind: str) -> None:
        self.index = index
        self.kind = kind


@dataclass
class _Sections:
    info: bytes
    abbrev: bytes
    str: bytes
    line_str: bytes
    str_offsets: bytes
    addr: bytes


def _uleb(d: bytes, p: int) -> tuple[int, int]:
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


def _sleb(d: bytes, p: int) -> tuple[int, int]:
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


def _cstr(d: bytes, p: int) -> str:
    e = d.find(b"\0", p)
    if e < 0:
        e = len(d)
    return d[p:e].decode("utf-8", "replace")


def _string_table(sec: bytes) -> Callable[[int], str]:
    """DW_FORM_strp lookup; an ASCII table (the rule) is decoded once and sliced by offset."""
    if not sec.isascii():
        return lambda off: _cstr(sec, off)
    text = sec.decode("ascii") + "\0"
    find = text.find

    def strp(off: int) -> str:
        return text[off : find("\0", off)]

    return strp


_DATA_FORMS = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8}  # data1, data2, data4, data8


class _Reader:
    def __init__(self, sec: _Sections, little: bool) -> None:
        self.s = sec
        self.bo = "<" if little else ">"
        self.u16 = struct.Struct(self.bo + "H").unpack_from
        self.u32 = struct.Struct(self.bo + "I").unpack_from
        self.u64 = struct.Struct(self.bo + "Q").unpack_from
        self._abbrev_cache: dict[int, dict[int, tuple[int, bool, list[tuple[int, int, int]]]]] = {}
        self._abbrev_by_bytes: dict[bytes, dict[int, tuple[int, bool, list[tuple[int, int, int]]]]] = {}
        self.abbrev_bounds: list[int] = []  # sorted offsets of the abbreviation tables in use
        self._fast_by_table: dict[tuple[int, int, int, int], dict[int, Any]] = {}
        self._fast_by_shape: dict[tuple[Any, ...], Any] = {}
        self._skip_by_table: dict[tuple[int, int, int, int], dict[int, Any]] = {}
        self.strp = _string_table(sec.str)
        self.line = b""  # .debug_line, for the units' file tables
        self._var_by_table: dict[tuple[int, int, int, int], dict[int, Any]] = {}
        self._var_by_shape: dict[tuple[Any, ...], Any] = {}
        self._skip_by_shape: dict[tuple[Any, ...], Any] = {}

    def _uint(self, d: bytes, p: int, n: int) -> int:
        if n == 4:
            return self.u32(d, p)[0]
        if n == 8:
            return self.u64(d, p)[0]
        if n == 2:
            return self.u16(d, p)[0]
        if n == 1:
            return d[p]
        return int.from_bytes(d[p : p + n], "little" if self.bo == "<" else "big")

    def abbrevs(self, off: int) -> dict[int, tuple[int, bool, list[tuple[int, int, int]]]]:
        cached = self._abbrev_cache.get(off)
        if cached is not None:
            return cached
        d = self.s.abbrev
        # Units compiled alike have byte-identical tables: the bytes up to the next table
        # (or the section end) identify one, so each distinct table is parsed once.
        bounds = self.abbrev_bounds
        i = bisect.bisect_right(bounds, off)
        span = d[off : bounds[i] if i < len(bounds) else len(d)]
        same = self._abbrev_by_bytes.get(span)
        if same is not None:
            self._abbrev_cache[off] = same
            return same
        p = off
        table: dict[int, tuple[int, bool, list[tuple[int, int, int]]]] = {}
        while p < len(d):
            code, p = _uleb(d, p)
            if code == 0:
                break
            tag, p = _uleb(d, p)
            children = d[p] != 0
            p += 1
            specs: list[tuple[int, int, int]] = []
            while True:
                at, p = _uleb(d, p)
                form, p = _uleb(d, p)
                implicit = 0
                if form == 0x21:  # DW_FORM_implicit_const carries its value here
                    implicit, p = _sleb(d, p)
                if at == 0 and form == 0:
                    break
                specs.append((at, form, implicit))
            table[code] = (tag, children, specs)
        self._abbrev_cache[off] = table
        self._abbrev_by_bytes[span] = table
        return table

    def units(self) -> list[tuple[Unit, int, int, int]]:
        """(unit, abbrev offset, first DIE offset, end offset) for every compile/partial unit."""
        d = self.s.info
        out = []
        p = 0
        while p + 11 <= len(d):
            start = p
            ulen = self.u32(d, p)[0]
            p += 4
            osz = 4
            if ulen == 0xFFFFFFFF:
                ulen = self.u64(d, p)[0]
                p += 8
                osz = 8
            end = p + ulen
            ver = self.u16(d, p)[0]
            p += 2
            ut = 1
            if ver >= 5:
                ut = d[p]
                asz = d[p + 1]
                p += 2
                abbr = self._uint(d, p, osz)
                p += osz
                if ut in (2, 6):
                    p += 8 + osz
                elif ut in (4, 5):
                    p += 8
            elif 2 <= ver <= 4:
                abbr = self._uint(d, p, osz)
                p += osz
                asz = d[p]
                p += 1
            else:
                raise DwarfFormatError(f"unsupported DWARF version {ver}")
            if ut in (1, 3) and end <= len(d):  # compile / partial units; type units are skipped
                out.append((Unit(start, ver, asz, osz, abbr_off=abbr, first=p, end=end), abbr, p, end))
            p = end
        self.abbrev_bounds = sorted({a for _u, a, _f, _e in out})
        return out

    def _fast_decoders(
        self,
        abbr_off: int,
        abbrevs: dict[int, tuple[int, bool, list[tuple[int, int, int]]]],
        asz: int,
        osz: int,
        ver: int,
    ) -> dict[int, Callable[[bytes, int, int], tuple[dict[int, Any], int]]]:
        """Straight-line decoders, one per abbreviation, generated once per distinct shape.

        Runs of fixed-size forms become a single ``struct.unpack_from``; that and the
        absence of per-attribute dispatch make DIE decoding several times faster than the
        generic loop, which remains for the rare forms (strx, addrx, indirect, ...).
        """
        key = (id(abbrevs), asz, osz, ver)  # units with byte-identical tables share one
        hit = self._fast_by_table.get(key)
        if hit is not None:
            return hit
        out = _OnDemand(lambda code: self._fast_one(abbrevs, code, asz, osz, ver))
        self._fast_by_table[key] = out
        return out

    def _fast_one(
        self, abbrevs: dict[int, tuple[int, bool, list[tuple[int, int, int]]]], code: int, asz: int, osz: int, ver: int
    ) -> Any:
        ab = abbrevs.get(code)
        if ab is None:
            return None
        specs = ab[2]
        shape = (tuple(specs), asz, osz, ver)
        if shape in self._fast_by_shape:
            return self._fast_by_shape[shape]
        fn = self._fast_by_shape[shape] = self._generate(specs, asz, osz, ver)
        return fn

    def _generate(
        self, specs: list[tuple[int, int, int]], asz: int, osz: int, ver: int
    ) -> Callable[[bytes, int, int], tuple[dict[int, Any], int]] | None:
        bo = self.bo
        fixed_code = {1: "B", 2: "H", 4: "I", 8: "Q"}
        lines = ["def decode(d, p, cu):", " a = {}"]
        run: list[tuple[int, str, str]] = []  # (attr, struct code, post-processing)
        env: dict[str, Any] = {"uleb": _uleb, "sleb": _sleb, "cstr": _cstr, "S": self.s, "strp": self.strp}
        nstruct = 0

        def flush() -> None:
            nonlocal nstruct
            if not run:
                return
            fmt = bo + "".join(c for _, c, _ in run)
            name = f"U{nstruct}"
            nstruct += 1
            env[name] = struct.Struct(fmt).unpack_from
            vs = [f"v{i}" for i in range(len(run))]
            lines.append(f" {', '.join(vs)}, = {name}(d, p)")
            lines.append(f" p += {struct.calcsize(fmt)}")
            for (at, _c, post), v in zip(run, vs):
                lines.append(f" a[{at}] = " + post.format(v=v))
            run.clear()

        for at, form, implicit in specs:
            if form in _DATA_FORMS:
                n = _DATA_FORMS[form]
                post = "({v}, " + str(n) + ")" if at in (AT_const_value, AT_discr_value) else "{v}"
                run.append((at, fixed_code[n], post))
            elif form in (0x11, 0x12, 0x13, 0x14):  # ref1/2/4/8
                run.append((at, fixed_code[{0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8}[form]], "{v} + cu"))
            elif form == 0x01 and asz in fixed_code:
                run.append((at, fixed_code[asz], "{v}"))
            elif form == 0x0E:
                run.append((at, fixed_code[osz], "strp({v})"))
            elif form == 0x1F:
                run.append((at, fixed_code[osz], "cstr(S.line_str, {v})"))
            elif form == 0x17:
                run.append((at, fixed_code[osz], "{v}"))
            elif form == 0x10:
                run.append((at, fixed_code[asz if ver == 2 else osz], "{v}"))
            elif form == 0x0C:
                run.append((at, "B", "{v} != 0"))
            elif form == 0x19:
                flush()
                lines.append(f" a[{at}] = True")
            elif form == 0x21:
                flush()
                lines.append(f" a[{at}] = {implicit!r}")
            else:
                flush()
                if form == 0x08:
                    lines += [" e = d.find(b'\\0', p)", f" a[{at}] = d[p:e].decode('utf-8', 'replace')", " p = e + 1"]
                elif form in (0x18, 0x09):
                    lines += [" n, p = uleb(d, p)", f" a[{at}] = d[p:p + n]", " p += n"]
                elif form == 0x0A:
                    lines += [" n = d[p]", f" a[{at}] = d[p + 1:p + 1 + n]", " p += 1 + n"]
                elif form == 0x0D:
                    lines.append(f" a[{at}], p = sleb(d, p)")
                elif form == 0x0F:
                    lines.append(f" a[{at}], p = uleb(d, p)")
                elif form == 0x15:
                    lines += [" v, p = uleb(d, p)", f" a[{at}] = v + cu"]
                else:
                    return None  # strx/addrx/indirect/...: the generic decoder handles them
        flush()
        lines.append(" return a, p")
        exec(compile("\n".join(lines), "<dwarf-abbrev>", "exec"), env)  # noqa: S102 - generated above
        return env["decode"]  # type: ignore[no-any-return]

    def _decode_generic(
        self,
        d: bytes,
        p: int,
        specs: list[tuple[int, int, int]],
        unit: Unit,
        str_base: int | None,
        addr_base: int | None,
        off: int,
    ) -> tuple[dict[int, Any], int]:
        asz = unit.address_size
        osz = unit.offset_size
        cu_off = unit.offset
        uint = self._uint
        str_sec = self.s.str
        line_str = self.s.line_str
        ver = unit.version
        attrs: dict[int, Any] = {}
        for at, form, implicit in specs:
            if form == 0x16:  # DW_FORM_indirect
                form, p = _uleb(d, p)
            if form in _DATA_FORMS:
                n = _DATA_FORMS[form]
                v: Any = uint(d, p, n)
                p += n
                if at in (AT_const_value, AT_discr_value):
                    v = (v, n)  # signedness depends on the type: decided by the consumer
            elif form == 0x13:  # ref4
                v = self.u32(d, p)[0] + cu_off
                p += 4
            elif form == 0x0E:  # strp
                v = _cstr(str_sec, uint(d, p, osz))
                p += osz
            elif form == 0x08:  # string
                e = d.find(b"\0", p)
                v = d[p:e].decode("utf-8", "replace")
                p = e + 1
            elif form == 0x19:  # flag_present
                v = True
            elif form == 0x0C:  # flag
                v = d[p] != 0
                p += 1
            elif form == 0x01:  # addr
                v = uint(d, p, asz)
                p += asz
            elif form == 0x18 or form == 0x09:  # exprloc, block
                n, p = _uleb(d, p)
                v = d[p : p + n]
                p += n
            elif form == 0x0A:  # block1
                n = d[p]
                v = d[p + 1 : p + 1 + n]
                p += 1 + n
            elif form == 0x03:  # block2
                n = self.u16(d, p)[0]
                v = d[p + 2 : p + 2 + n]
                p += 2 + n
            elif form == 0x04:  # block4
                n = self.u32(d, p)[0]
                v = d[p + 4 : p + 4 + n]
                p += 4 + n
            elif form == 0x0D:  # sdata
                v, p = _sleb(d, p)
            elif form == 0x0F:  # udata
                v, p = _uleb(d, p)
            elif form == 0x11:  # ref1
                v = d[p] + cu_off
                p += 1
            elif form == 0x12:  # ref2
                v = self.u16(d, p)[0] + cu_off
                p += 2
            elif form == 0x14:  # ref8
                v = self.u64(d, p)[0] + cu_off
                p += 8
            elif form == 0x15:  # ref_udata
                v, p = _uleb(d, p)
                v += cu_off
            elif form == 0x10:  # ref_addr: address-sized in DWARF 2, offset-sized later
                n = asz if ver == 2 else osz
                v = uint(d, p, n)
                p += n
            elif form == 0x17:  # sec_offset
                v = uint(d, p, osz)
                p += osz
            elif form == 0x1F:  # line_strp
                v = _cstr(line_str, uint(d, p, osz))
                p += osz
            elif form == 0x21:  # implicit_const
                v = implicit
            elif form in (0x1A, 0x25, 0x26, 0x27, 0x28, 0x1F02):  # strx*
                if form == 0x1A or form == 0x1F02:
                    idx, p = _uleb(d, p)
                else:
                    n = form - 0x24
                    idx = uint(d, p, n)
                    p += n
                if str_base is None:
                    v = _Strx(idx, "str")
                else:
                    v = self._strx(str_base, idx, osz)
            elif form in (0x1B, 0x29, 0x2A, 0x2B, 0x2C, 0x1F01):  # addrx*
                if form == 0x1B or form == 0x1F01:
                    idx, p = _uleb(d, p)
                else:
                    n = form - 0x28
                    idx = uint(d, p, n)
                    p += n
                if addr_base is None:
                    v = _Strx(idx, "addr")
                else:
                    v = self._addrx(addr_base, idx, asz)
            elif form == 0x20:  # ref_sig8: type units are not indexed
                v = ("sig8", self.u64(d, p)[0])
                p += 8
            elif form == 0x1E:  # data16
                v = d[p : p + 16]
                p += 16
            elif form in (0x22, 0x23):  # loclistx, rnglistx
                v, p = _uleb(d, p)
            elif form in (0x1C, 0x1D, 0x1F20, 0x1F21):  # ref_sup4, strp_sup, GNU alt forms
                v = ("alt", uint(d, p, 4 if form == 0x1C else osz))
                p += 4 if form == 0x1C else osz
            elif form == 0x24:  # ref_sup8
                v = ("alt", self.u64(d, p)[0])
                p += 8
            else:
                raise DwarfFormatError(f"DIE at 0x{off:x} uses unknown attribute form 0x{form:x}")
            attrs[at] = v
        return attrs, p

    def parse_unit(
        self,
        unit: Unit,
        abbr_off: int,
        p: int,
        end: int,
        die_map: dict[int, Die],
        reserve: list[int],
        memo: dict[int, int],
    ) -> None:
        """The index pass over one unit: DIE objects for what the variable list and the type
        names need, and in ``reserve`` the offset of every DIE that may become a type.

        In C units the children of aggregate types (members, enumerators, parameters) are
        only stepped over: they are read again, on demand, when the type is first used.
        """
        d = self.s.info
        abbrevs = self.abbrevs(abbr_off)
        asz = unit.address_size
        osz = unit.offset_size
        cu_off = unit.offset
        fast = self._fast_decoders(abbr_off, abbrevs, asz, osz, unit.version)
        skips = self._skippers(abbr_off, abbrevs, asz, osz, unit.version)
        vdecs = self._var_decoders(abbr_off, abbrevs, asz, osz, unit.version)
        not_type = _NOT_TYPE_TAGS
        lazy_tags = _LAZY_CHILDREN_TAGS
        stack: list[Any] = []
        str_base: int | None = None
        addr_base: int | None = None
        files: list[str] = []
        file_base = 1
        lazy = False
        skip = _SKIP
        # unnamed types (pointers, qualifiers, arrays, anonymous aggregates) need no name
        # registered: in C units they are only stepped over and read when used
        nameless = {
            c for c, (t, _ch, sp) in abbrevs.items() if t not in not_type and all(at != AT_name for at, _f, _i in sp)
        }
        top: Die | None = None
        while p < end:
            off = p
            code = d[p]
            if code < 0x80:
                p += 1
            else:
                code, p = _uleb(d, p)
            if code == 0:
                if stack:
                    stack.pop()
                if not stack and unit.top is not None:
                    break  # the top DIE's children ended: the rest is padding
                continue
            ab = abbrevs.get(code)
            if ab is None:
                raise DwarfFormatError(f"DIE at 0x{off:x} uses unknown abbreviation {code}")
            tag, has_children, specs = ab
            if stack:
                parent = stack[-1]
                if parent is top and lazy:
                    vd = vdecs.get(code)
                    if vd is not None:
                        name, addr, tref, fi, line, ext, linkage, p2 = vd(d, p, cu_off)
                        if name is not None and addr is not None:
                            # a plain C global: straight to its record
                            if tref is not None:
                                tid = memo.get(tref)
                                if tid is None:
                                    tid = -1 - tref  # a forward reference: resolved by the walk
                            else:
                                tid = None
                            file = None
                            if fi is not None:
                                fi -= file_base
                                if 0 <= fi < len(files):
                                    file = files[fi]
                            parent.children.append(
                                RawVariable(
                                    name,
                                    (),
                                    "global" if ext else "file",
                                    None,
                                    addr,
                                    tid,
                                    file,
                                    line,
                                    unit.name,
                                    linkage,
                                )
                            )
                            p = p2
                            continue
                    quiet = code in nameless
                else:
                    quiet = parent is skip
                if quiet:
                    if has_children and parent is not skip and tag in lazy_tags:
                        dec = fast[code]
                        if dec is not None:
                            attrs, p = dec(d, p, cu_off)
                            memo[off] = len(reserve)
                            reserve.append(off)
                            sib = attrs.get(AT_sibling)
                            if type(sib) is int and p <= sib <= end:
                                p = sib  # members are read when the type is used
                            else:
                                stack.append(skip)
                            continue
                    sk = skips[code]
                    if type(sk) is int:
                        p += sk
                    elif sk is not None:
                        p = sk(d, p)
                    else:
                        _, p = self._decode_generic(d, p, specs, unit, str_base, addr_base, off)
                    if tag not in not_type:
                        memo[off] = len(reserve)
                        reserve.append(off)
                    if has_children:
                        stack.append(skip)
                    continue
                dec = fast[code]
                if dec is not None:
                    attrs, p = dec(d, p, cu_off)
                else:
                    attrs, p = self._decode_generic(d, p, specs, unit, str_base, addr_base, off)
                if parent is None or (tag in _CODE_ONLY_TAGS and parent.tag in _CODE_TAGS):
                    # parameters, call sites, labels of functions (and all below them) can
                    # never hold a static variable or a type: decoded to move on, not kept
                    if has_children:
                        stack.append(None)
                    continue
                die = Die(off, tag, attrs, unit)
                die_map[off] = die
                parent.children.append(die)
                if tag not in not_type:
                    memo[off] = len(reserve)
                    reserve.append(off)
                    if lazy and has_children and tag in lazy_tags:
                        die.full = False
                        sib = attrs.get(AT_sibling)
                        if type(sib) is int and p <= sib <= end:
                            p = sib  # members are read when the type is used
                        else:
                            stack.append(skip)
                        continue
            elif unit.top is None:
                attrs, p = self._decode_generic(d, p, specs, unit, str_base, addr_base, off)
                die = Die(off, tag, attrs, unit)
                die_map[off] = die
                unit.top = die
                sb = attrs.get(AT_str_offsets_base)
                str_base = sb if isinstance(sb, int) else (8 if osz == 4 else 16)
                unit.str_base = str_base
                ab_ = attrs.get(AT_addr_base, attrs.get(AT_GNU_addr_base))
                addr_base = ab_ if isinstance(ab_, int) else 8
                unit.addr_base = addr_base
                for at, v in list(attrs.items()):
                    # string/address indexes seen before their base attribute
                    if isinstance(v, _Strx):
                        attrs[at] = (
                            self._strx(str_base, v.index, osz)
                            if v.kind == "str"
                            else self._addrx(addr_base, v.index, asz)
                        )
                lazy = attrs.get(AT_language) in _LANG_C
                top = die
                _unit_names(unit)
                self._line_table(unit)
                files = unit.files
                file_base = unit.file_base
            else:
                break  # a second root: malformed unit, keep what we have
            if has_children:
                stack.append(die)

    def _line_table(self, unit: Unit) -> None:
        """File names for DW_AT_decl_file, from the unit's line-program header."""
        assert unit.top is not None
        off = unit.top.attrs.get(AT_stmt_list)
        if not isinstance(off, int) or not self.line:
            return
        try:
            files, base = _line_header_files(self.line, off, self, unit)
        except (IndexError, struct.error, DwarfFormatError, ValueError):
            return  # decl files are a nicety: never fail the index for them
        unit.files = files
        unit.file_base = base

    def parse_subtree(self, unit: Unit, off: int, die_map: dict[int, Die]) -> Die | None:
        """The DIE at ``off`` with all its descendants (for a type used after the index pass)."""
        d = self.s.info
        abbrevs = self.abbrevs(unit.abbr_off)
        fast = self._fast_decoders(unit.abbr_off, abbrevs, unit.address_size, unit.offset_size, unit.version)
        cu_off = unit.offset
        stack: list[Die] = []
        root: Die | None = None
        p = off
        end = unit.end
        while p < end:
            doff = p
            code, p = _uleb(d, p)
            if code == 0:
                if stack:
                    stack.pop()
                if not stack:
                    break
                continue
            ab = abbrevs.get(code)
            if ab is None:
                raise DwarfFormatError(f"DIE at 0x{doff:x} uses unknown abbreviation {code}")
            tag, has_children, specs = ab
            dec = fast[code]
            if dec is not None:
                attrs, p = dec(d, p, cu_off)
            else:
                attrs, p = self._decode_generic(d, p, specs, unit, unit.str_base, unit.addr_base, doff)
            die = Die(doff, tag, attrs, unit)
            die_map[doff] = die
            if stack:
                stack[-1].children.append(die)
            else:
                root = die
            if has_children:
                stack.append(die)
            elif not stack:
                break
        return root

    def _var_decoders(
        self,
        abbr_off: int,
        abbrevs: dict[int, tuple[int, bool, list[tuple[int, int, int]]]],
        asz: int,
        osz: int,
        ver: int,
    ) -> dict[int, Any]:
        """Per variable abbreviation: generated code reading a plain global's DIE straight
        into a tuple (name, location, type ref, decl file, decl line, external, linkage name).
        Abbreviations with a specification, origin or declaration are left to the generic path."""
        key = (id(abbrevs), asz, osz, ver)  # units with byte-identical tables share one
        hit = self._var_by_table.get(key)
        if hit is not None:
            return hit
        out: dict[int, Any] = {}
        for code, (tag, _children, specs) in abbrevs.items():
            if tag != TAG_variable:
                continue
            shape = (tuple(specs), asz, osz, ver)
            if shape in self._var_by_shape:
                fn = self._var_by_shape[shape]
            else:
                fn = self._var_by_shape[shape] = self._gen_var(specs, asz, osz, ver)
            if fn is not None:
                out[code] = fn
        self._var_by_table[key] = out
        return out

    def _gen_var(self, specs: list[tuple[int, int, int]], asz: int, osz: int, ver: int) -> Any:
        codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
        data = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8}
        refs = {0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8}
        if asz not in codes:
            return None
        env: dict[str, Any] = {
            "uleb": _uleb,
            "cstr": _cstr,
            "S": self.s,
            "strp": self.strp,
            "A": struct.Struct(self.bo + codes[asz]).unpack_from,
        }
        lines = [
            "def vdec(d, p, cu):",
            " name = addr = tref = fi = line = linkage = None",
            " ext = False",
        ]
        # runs of fixed-size attributes are read by one struct.unpack_from
        run: list[tuple[str, str]] = []  # (struct code, statement using {v})

        def flush() -> None:
            if not run:
                return
            fmt = self.bo + "".join(c for c, _ in run)
            valued = [stmt for c, stmt in run if not c.endswith("x")]  # pad bytes give no value
            if valued:
                k = f"U{len(env)}"
                env[k] = struct.Struct(fmt).unpack_from
                vs = [f"v{i}" for i in range(len(valued))]
                lines.append(f" {', '.join(vs)}, = {k}(d, p)")
            lines.append(f" p += {struct.calcsize(fmt)}")
            for stmt, v in zip(valued, vs if valued else []):
                lines.append(" " + stmt.format(v=v))
            run.clear()

        targets = {AT_name: "name", AT_linkage_name: "linkage", AT_MIPS_linkage_name: "linkage"}
        for at, form, implicit in specs:
            if at in (AT_specification, AT_abstract_origin, AT_declaration):
                return None
            var = targets.get(at)
            if var is not None:
                if form == 0x0E:
                    run.append((codes[osz], f"{var} = strp({{v}})"))
                elif form == 0x1F:
                    run.append((codes[osz], f"{var} = cstr(S.line_str, {{v}})"))
                elif form == 0x08:
                    flush()
                    lines += [" e = d.find(b'\\0', p)", f" {var} = d[p:e].decode('utf-8', 'replace')", " p = e + 1"]
                else:
                    return None
            elif at == AT_location:
                flush()
                if form == 0x18 or form == 0x09:
                    lines += [" n = d[p]", " if n < 0x80:", "  p += 1", " else:", "  n, p = uleb(d, p)"]
                elif form == 0x0A:
                    lines += [" n = d[p]", " p += 1"]
                else:
                    return None
                # DW_OP_addr <address>: a static; anything else is left to the generic path
                lines += [f" if n == {1 + asz} and d[p] == 3:", "  addr = A(d, p + 1)[0]", " p += n"]
            elif at == AT_type:
                if form in refs:
                    run.append((codes[refs[form]], "tref = {v} + cu"))
                elif form == 0x15:
                    flush()
                    lines += [" tref, p = uleb(d, p)", " tref += cu"]
                else:
                    return None
            elif at in (AT_decl_file, AT_decl_line):
                var = "fi" if at == AT_decl_file else "line"
                if form in data:
                    run.append((codes[data[form]], f"{var} = {{v}}"))
                elif form == 0x0F:
                    flush()
                    lines.append(f" {var}, p = uleb(d, p)")
                elif form == 0x21:
                    lines.append(f" {var} = {implicit!r}")
                else:
                    return None
            elif at == AT_external:
                if form == 0x19:
                    lines.append(" ext = True")
                elif form == 0x0C:
                    run.append(("B", "ext = {v} != 0"))
                else:
                    return None
            else:
                sk = _gen_skipper([(at, form, implicit)], asz, osz, ver)
                if sk is None:
                    return None
                if type(sk) is int:
                    if sk:
                        run.append((f"{sk}x", ""))  # bytes stepped over
                else:
                    flush()
                    k = f"K{len(env)}"
                    env[k] = sk
                    lines.append(f" p = {k}(d, p)")
        flush()
        lines.append(" return name, addr, tref, fi, line, ext, linkage, p")
        src = "\n".join(lines)
        exec(compile(src, "<dwarf-variable>", "exec"), env)  # noqa: S102 - generated above
        return env["vdec"]

    def _skippers(
        self,
        abbr_off: int,
        abbrevs: dict[int, tuple[int, bool, list[tuple[int, int, int]]]],
        asz: int,
        osz: int,
        ver: int,
    ) -> dict[int, Any]:
        """Per abbreviation: its DIE's size when fixed (an int), else a function of (d, p) -> p
        (None: the generic decoder steps over it)."""
        key = (id(abbrevs), asz, osz, ver)  # units with byte-identical tables share one
        hit = self._skip_by_table.get(key)
        if hit is not None:
            return hit

        def make(code: int) -> Any:
            ab = abbrevs.get(code)
            if ab is None:
                return None
            shape = (tuple(ab[2]), asz, osz, ver)
            if shape in self._skip_by_shape:
                return self._skip_by_shape[shape]
            fn = self._skip_by_shape[shape] = _gen_skipper(ab[2], asz, osz, ver)
            return fn

        out = _OnDemand(make)
        self._skip_by_table[key] = out
        return out

    def _strx(self, base: int, idx: int, osz: int) -> str:
        try:
            return _cstr(self.s.str, self._uint(self.s.str_offsets, base + idx * osz, osz))
        except (struct.error, IndexError):
            return "?"

    def _addrx(self, base: int, idx: int, asz: int) -> int:
        try:
            return self._uint(self.s.addr, base + idx * asz, asz)
        except (struct.error, IndexError):
            return 0


# -- results -----------------------------------------------------------------------------------
@dataclass(slots=True)
class RawVariable:
    """A variable as found in DWARF, before names are disambiguated across the program."""

    name: str
    scope_parts: tuple[str, ...]  # namespaces / classes
    scope: str  # "global", "file", "function", "namespace", "class"
    function: str | None
    address: int | None  # None: declaration only (resolve through the symbol table)
    type: TypeId | None
    file: str | None
    line: int | None
    cu_name: str
    linkage_name: str | None
    tag: ClassVar[int] = TAG_variable  # walks over a unit's children treat it as that DIE


@dataclass
class DwarfResult:
    types: TypeTable
    variables: list[RawVariable]
    version: int | None
    language: str
    notes: list[str] = field(default_factory=list)
    sizeof: Callable[[TypeId | None], int | None] | None = None  # without building the type


def _section_bytes(dw: Any, attr: str) -> bytes:
    sec = getattr(dw, attr, None)
    if sec is None:
        return b""
    stm = sec.stream
    if hasattr(stm, "getvalue"):
        data = stm.getvalue()
        if len(data) > sec.size and sec.global_offset == 0:
            return data[: sec.size]
        return data
    stm.seek(0)
    return stm.read()


def _read_sections(elf: ELFFile) -> tuple[Any, _Sections] | None:
    if not elf.has_dwarf_info():
        return None
    dw = elf.get_dwarf_info(relocate_dwarf_sections=elf.header["e_type"] == "ET_REL")
    if dw.debug_info_sec is None:
        return None
    sections = _Sections(
        info=_section_bytes(dw, "debug_info_sec"),
        abbrev=_section_bytes(dw, "debug_abbrev_sec"),
        str=_section_bytes(dw, "debug_str_sec"),
        line_str=_section_bytes(dw, "debug_line_str_sec"),
        str_offsets=_section_bytes(dw, "debug_str_offsets_sec"),
        addr=_section_bytes(dw, "debug_addr_sec"),
    )
    return dw, sections


def read_dwarf(
    elf: ELFFile,
    word_size: int,
    little: bool,
    progress: Callable[[int, int], None] | None = None,
) -> DwarfResult | None:
    """Index every global/static variable and every named type; None when there is no DWARF.

    Like gdb's partial symbol tables, the index pass reads what the variable list and the
    type names need; a type itself is built from its DIEs when first used (:class:`LazyTypes`).
    """
    got = _read_sections(elf)
    if got is None:
        return None
    dw, sections = got
    reader = _Reader(sections, little)
    die_map: dict[int, Die] = {}
    units: list[Unit] = []
    notes: list[str] = []
    reserve: list[int] = []
    memo: dict[int, int] = {}
    reader.line = _section_bytes(dw, "debug_line_sec")
    raw_units = reader.units()
    total = len(sections.info) or 1
    for unit, abbr, first, end in raw_units:
        try:
            reader.parse_unit(unit, abbr, first, end, die_map, reserve, memo)
        except (DwarfFormatError, IndexError, struct.error, ValueError) as e:
            notes.append(f"compile unit at 0x{unit.offset:x}: {e}")
        if unit.top is not None:
            units.append(unit)
        if progress is not None:
            progress(end, total)
    builder = _Builder(die_map, word_size, little, reader, units, reserve, memo)
    variables: list[RawVariable] = []
    langs: set[str] = set()
    version: int | None = None
    for unit in units:
        top = unit.top
        assert top is not None
        version = max(version or 0, unit.version)
        lang = unit.language
        if lang == _LANG_RUST:
            langs.add("rust")
        elif lang in _LANG_CXX:
            langs.add("c++")
        elif lang in _LANG_C:
            langs.add("c")
        builder.walk_unit(unit, variables)
    notes.extend(builder.notes)
    language = langs.pop() if len(langs) == 1 else ("mixed" if langs else "c")
    return DwarfResult(builder.table, variables, version, language, notes, builder.sizeof)


def _unit_names(unit: Unit) -> None:
    assert unit.top is not None
    unit.language = unit.top.attrs.get(AT_language)
    name = unit.top.attrs.get(AT_name)
    unit.name = name if isinstance(name, str) else ""


class LazyTypes(LazyList):
    """The program's type list: a slot holds a type, its encoded tuple (from the cache), or
    the offset of the DIE it is built from on first access (an int).

    Every id is reserved by the index pass, so the list does not grow as types are built
    (derived-type overlays such as the expression compiler's number theirs after it).
    """

    __slots__ = ("_materialize",)

    def __init__(self, raw: list[Any], decode: Callable[[Any], Any], materialize: Any) -> None:
        super().__init__(raw, decode)
        self._materialize = materialize

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        v = list.__getitem__(self, i)
        tv = type(v)
        if tv is int:
            return self._materialize(i if i >= 0 else i + len(self))
        if tv is tuple:
            v = self._decode(v)
            list.__setitem__(self, i, v)
        return v

    def lazy_state(self) -> dict[str, Any] | None:
        """What a later process needs to build the remaining types from the ELF (cache)."""
        m = self._materialize
        b = m.__self__ if isinstance(m, type(self.lazy_state)) else getattr(m, "builder", None)
        if isinstance(b, _Builder):
            return b.state()
        if isinstance(m, WarmMaterializer):
            return m.state
        return None


class WarmMaterializer:
    """Builds types of a cache-loaded program from the ELF's DWARF, opened on first need."""

    def __init__(self, path: str, state: dict[str, Any], identity: tuple[int, int] | None = None) -> None:
        self.path = path
        self.state = state
        self.identity = identity  # (size, mtime_ns) of the ELF the cache was made from
        self.builder: _Builder | None = None
        self.failed: str | None = None
        self.types: LazyTypes | None = None
        self.by_name: dict[str, TypeId] | None = None

    def __call__(self, tid: TypeId) -> Type:
        b = self.builder
        if b is None and self.failed is None:
            try:
                b = self.builder = self._open()
            except Exception as e:  # noqa: BLE001 - the ELF changed or vanished since indexing
                self.failed = f"the ELF's DWARF could not be read again ({e}); load the ELF again"
        if b is None:
            assert self.types is not None
            t = UnsupportedType("?", None, self.failed or "DWARF unavailable")
            list.__setitem__(self.types, tid, t)
            return t
        return b.materialize(tid)

    def _open(self) -> _Builder:
        from .elf import open_elf  # noqa: PLC0415 - elf imports this module

        if self.identity is not None:
            st = os.stat(self.path)
            if (st.st_size, st.st_mtime_ns) != self.identity:
                # DIE offsets of a rebuilt ELF mean nothing to this index
                raise DwarfFormatError("the file changed on disk since it was loaded")
        elf, f = open_elf(self.path)
        try:
            got = _read_sections(elf)
        finally:
            f.close()
        if got is None:
            raise DwarfFormatError("no DWARF")
        st = self.state
        reader = _Reader(got[1], st["little"])
        units = []
        for off, ver, asz, osz, abbr, first, end, lang, str_base, addr_base in st["units"]:
            u = Unit(off, ver, asz, osz, language=lang, abbr_off=abbr, first=first, end=end)
            u.str_base = str_base
            u.addr_base = addr_base
            units.append(u)
        reader.abbrev_bounds = sorted({u.abbr_off for u in units})
        assert self.types is not None and self.by_name is not None
        b = _Builder({}, st["word_size"], st["little"], reader, units, None)
        b.table = TypeTable(types=self.types, by_name=self.by_name)
        b.memo = st["memo"]
        b.decl = st["decl"]
        b.definitions = st["definitions"]
        b.scope_of = st["scope_of"]
        return b


_LNCT_path = 1
_LNCT_directory_index = 2


def _line_header_files(d: bytes, p: int, reader: _Reader, unit: Unit) -> tuple[list[str], int]:
    """The file table of the line-program header at ``p`` (DWARF 2-5), names joined to dirs."""
    uint = reader._uint
    osz = 4
    length = uint(d, p, 4)
    p += 4
    if length == 0xFFFFFFFF:
        osz = 8
        p += 8
    ver = uint(d, p, 2)
    p += 2
    if ver >= 5:
        p += 2  # address_size, segment_selector_size
    p += osz  # header_length
    p += 1  # minimum_instruction_length
    if ver >= 4:
        p += 1  # maximum_operations_per_instruction
    p += 3  # default_is_stmt, line_base, line_range
    opcode_base = d[p]
    p += 1 + max(opcode_base - 1, 0)
    if ver < 5:
        dirs: list[str] = []
        while d[p]:
            e = d.index(b"\0", p)
            dirs.append(d[p:e].decode("utf-8", "replace"))
            p = e + 1
        p += 1
        files: list[str] = []
        while d[p]:
            e = d.index(b"\0", p)
            name = d[p:e].decode("utf-8", "replace")
            p = e + 1
            di, p = _uleb(d, p)
            _, p = _uleb(d, p)  # mtime
            _, p = _uleb(d, p)  # length
            dname = dirs[di - 1] if 0 < di <= len(dirs) else ""
            files.append(os.path.join(dname, name) if dname else name)
        return files, 1

    def entries(p: int) -> tuple[list[dict[int, Any]], int]:
        nfmt = d[p]
        p += 1
        fmts = []
        for _ in range(nfmt):
            ct, p = _uleb(d, p)
            form, p = _uleb(d, p)
            fmts.append((ct, form))
        count, p = _uleb(d, p)
        out = []
        for _ in range(count):
            ent: dict[int, Any] = {}
            for ct, form in fmts:
                ent[ct], p = _line_form(d, p, form, osz, uint, reader)
            out.append(ent)
        return out, p

    dir_entries, p = entries(p)
    file_entries, p = entries(p)
    dirs5 = [str(e.get(_LNCT_path, "")) for e in dir_entries]
    files5: list[str] = []
    for e in file_entries:
        name = str(e.get(_LNCT_path, "?"))
        di = e.get(_LNCT_directory_index, 0)
        dname = dirs5[di] if isinstance(di, int) and 0 < di < len(dirs5) else ""
        files5.append(os.path.join(dname, name) if dname else name)
    return files5, 0


def _line_form(d: bytes, p: int, form: int, osz: int, uint: Any, reader: _Reader) -> tuple[Any, int]:
    if form == 0x08:  # string
        e = d.index(b"\0", p)
        return d[p:e].decode("utf-8", "replace"), e + 1
    if form == 0x1F:  # line_strp
        return _cstr(reader.s.line_str, uint(d, p, osz)), p + osz
    if form == 0x0E:  # strp
        return _cstr(reader.s.str, uint(d, p, osz)), p + osz
    if form == 0x0F:  # udata
        return _uleb(d, p)
    if form in _DATA_FORMS:
        n = _DATA_FORMS[form]
        return uint(d, p, n), p + n
    if form == 0x1E:  # data16 (MD5)
        return d[p : p + 16], p + 16
    if form == 0x09:  # block
        n, p = _uleb(d, p)
        return d[p : p + n], p + n
    raise DwarfFormatError(f"line table uses form 0x{form:x}")


def _s(x: Any) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


# -- DIE -> type model -------------------------------------------------------------------------
_ENCODINGS = {
    ATE_address: Encoding.UNSIGNED,
    ATE_boolean: Encoding.BOOL,
    ATE_complex_float: Encoding.COMPLEX,
    ATE_float: Encoding.FLOAT,
    ATE_signed: Encoding.SIGNED,
    ATE_signed_char: Encoding.SIGNED_CHAR,
    ATE_unsigned: Encoding.UNSIGNED,
    ATE_unsigned_char: Encoding.UNSIGNED_CHAR,
    ATE_UTF: Encoding.UTF,
}

_QUALIFIERS = {
    TAG_const_type: "const",
    TAG_volatile_type: "volatile",
    TAG_atomic_type: "_Atomic",
    TAG_restrict_type: "restrict",
}

_STRUCT_KINDS = {TAG_structure_type: "struct", TAG_union_type: "union", TAG_class_type: "class"}

_TYPE_TAGS = {
    TAG_array_type,
    TAG_class_type,
    TAG_enumeration_type,
    TAG_pointer_type,
    TAG_reference_type,
    TAG_structure_type,
    TAG_subroutine_type,
    TAG_typedef,
    TAG_union_type,
    TAG_ptr_to_member_type,
    TAG_base_type,
    TAG_const_type,
    TAG_volatile_type,
    TAG_restrict_type,
    TAG_unspecified_type,
    TAG_rvalue_reference_type,
    TAG_atomic_type,
}


def _const(v: Any, signed: bool) -> int | None:
    """A DW_AT_const_value / DW_AT_discr_value as an int, sign-extended when the type is signed."""
    if isinstance(v, tuple):
        raw, n = v
        if signed and raw >= 1 << (8 * n - 1):
            raw -= 1 << (8 * n)
        return raw
    if isinstance(v, int):
        return v
    return None


def _member_offset(v: Any) -> int | None:
    """DW_AT_data_member_location: a constant, or DW_OP_plus_uconst / constu expressions."""
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, (bytes, bytearray)):
        if not v:
            return 0
        op = v[0]
        if op in (OP_plus_uconst, OP_constu) and len(v) > 1:
            n, p = _uleb(v, 1)
            return n if p == len(v) else None
        if op == OP_consts and len(v) > 1:
            n, p = _sleb(v, 1)
            return n if p == len(v) else None
        if 0x30 <= op <= 0x4F and len(v) == 1:  # DW_OP_lit0..31
            return op - 0x30
    return None


_IN_CONSTRUCTION = UnsupportedType("?", None, "in construction")


class _Builder:
    def __init__(
        self,
        die_map: dict[int, Die],
        word_size: int,
        little: bool,
        reader: _Reader,
        units: list[Unit],
        reserve: list[int] | None,
        memo: dict[int, TypeId] | None = None,
    ) -> None:
        self.dies = die_map
        self.word_size = word_size
        self.little = little
        self.reader = reader
        self.units = sorted(units, key=lambda u: u.offset)
        self.unit_starts = [u.offset for u in self.units]
        reserve = reserve or []
        self.table = TypeTable(types=LazyTypes(reserve, decode_type, self.materialize))
        self.memo: dict[int, TypeId] = memo if memo is not None else {off: i for i, off in enumerate(reserve)}
        self.intern: dict[Type, TypeId] = {}
        self.scope_of: dict[int, tuple[tuple[str, ...], str]] = {}
        self.notes: list[str] = []
        self.definitions: dict[tuple[str, str], TypeId] = {}  # (kind, name) -> complete struct
        self.decl: dict[TypeId, bool] = {}  # struct type id -> is a declaration only
        self.sizes: dict[int, int | None] = {}
        self.addrx: Callable[[int, int, int], int] | None = reader._addrx if reader.s.addr else None

    def state(self) -> dict[str, Any]:
        return {
            "word_size": self.word_size,
            "little": self.little,
            "memo": self.memo,
            "decl": self.decl,
            "definitions": self.definitions,
            "scope_of": self.scope_of,
            "units": [
                (
                    u.offset, u.version, u.address_size, u.offset_size, u.abbr_off, u.first, u.end,
                    u.language, u.str_base, u.addr_base,
                )
                for u in self.units
            ],
        }

    # ---- DIEs read on demand
    def _die(self, off: int) -> Die | None:
        die = self.dies.get(off)
        if die is None:
            die = self._parse(off)
        return die

    def _full(self, off: int) -> Die | None:
        die = self.dies.get(off)
        if die is None or not die.full:
            die = self._parse(off)
        return die

    def _parse(self, off: int) -> Die | None:
        i = bisect.bisect_right(self.unit_starts, off) - 1
        if i < 0 or not isinstance(off, int):
            return None
        unit = self.units[i]
        if not unit.first <= off < unit.end:
            return None
        try:
            return self.reader.parse_subtree(unit, off, self.dies)
        except (DwarfFormatError, IndexError, struct.error, ValueError):
            return None

    # ---- lazy types
    def materialize(self, tid: TypeId) -> Type:
        types = self.table.types
        off = list.__getitem__(types, tid)
        if type(off) is not int:
            return types[tid]  # type: ignore[no-any-return]
        list.__setitem__(types, tid, _IN_CONSTRUCTION)
        die = self._full(off)
        if die is None:
            t: Type = UnsupportedType("?", None, f"type reference 0x{off:x} outside the indexed DWARF")
            list.__setitem__(types, tid, t)
            return t
        try:
            self._convert(die)
        except RecursionError:
            raise
        except Exception as e:  # noqa: BLE001 - degrade the one type, keep the program
            t = UnsupportedType(self._name(die) or "?", _int(die.attrs.get(AT_byte_size)), f"unreadable DWARF: {e}")
            list.__setitem__(types, tid, t)
            return t
        t = list.__getitem__(types, tid)
        if isinstance(t, StructType) and t.declaration and t.name:
            # a CU that only sees ``struct foo;`` describes a declaration; gdb resolves it to
            # the definition from another CU, and so do we (ids stay valid everywhere)
            full = self.definitions.get((t.kind, t.name))
            if full is None and t.kind in ("struct", "class"):
                full = self.definitions.get(("class" if t.kind == "struct" else "struct", t.name))
            if full is not None and full != tid:
                t = types[full]
                list.__setitem__(types, tid, t)
        return t  # type: ignore[no-any-return]

    def _slot(self, off: int) -> TypeId:
        """The id for the type DIE at ``off`` (reserved by the index pass), marked in construction."""
        tid = self.memo.get(off)
        if tid is None:
            tid = self.table.add(_IN_CONSTRUCTION)
            self.memo[off] = tid
        else:
            list.__setitem__(self.table.types, tid, _IN_CONSTRUCTION)
        return tid

    def sizeof(self, tid: TypeId | None) -> int | None:
        """``table.sizeof(tid)`` from the DIEs where the type is not built yet (no members read)."""
        if tid is None:
            return None
        raw = list.__getitem__(self.table.types, tid)
        if type(raw) is not int:
            return self.table.sizeof(tid)
        if raw in self.sizes:
            return self.sizes[raw]
        self.sizes[raw] = None  # a cycle through typedefs only: no size
        size = self._die_size(tid, raw)
        self.sizes[raw] = size
        return size

    def _die_size(self, tid: TypeId, off: int) -> int | None:
        die = self._die(off)
        if die is None:
            return self.table.sizeof(tid)
        tag = die.tag
        a = die.attrs
        if tag == TAG_typedef or tag in _QUALIFIERS:
            ref = a.get(AT_type)
            if ref is None:
                return None
            return self.sizeof(self.type_of(ref))
        if tag in _STRUCT_KINDS:
            size = _int(a.get(AT_byte_size))
            if size is not None and not die.full:
                pass  # a C aggregate: no variant part
            elif size is not None and any(c.tag == TAG_variant_part for c in die.children):
                return size
            n = a.get(AT_name)
            if (a.get(AT_declaration) or size is None) and isinstance(n, str):
                kind = _STRUCT_KINDS[tag]
                name = self._qual(die, n)
                full = self.definitions.get((kind, name))
                if full is None and kind in ("struct", "class"):
                    full = self.definitions.get(("class" if kind == "struct" else "struct", name))
                if full is not None and full != tid:
                    return self.sizeof(full)
            return size
        if tag == TAG_base_type:
            return _int(a.get(AT_byte_size)) or 0
        if tag == TAG_enumeration_type:
            return _int(a.get(AT_byte_size)) or 4
        if tag in (TAG_pointer_type, TAG_reference_type, TAG_rvalue_reference_type):
            return _int(a.get(AT_byte_size)) or self.word_size
        if tag == TAG_array_type:
            if not die.full:
                die = self._full(off)
                if die is None:
                    return None
            ref = a.get(AT_type)
            if ref is None:
                return None
            total = 1
            for _off, count in _array_dims(die):
                if count is None:
                    return None
                total *= count
            es = self.sizeof(self.type_of(ref))
            return None if es is None else es * total
        if tag == TAG_subroutine_type:
            return None
        return self.table.sizeof(tid)

    def _declare(self, die: Die) -> None:
        """Register a type's names without building it (what ``_convert`` would register)."""
        tid = self.memo.get(die.offset)
        if tid is None:
            return
        tag = die.tag
        a = die.attrs
        n = a.get(AT_name)
        if tag in _STRUCT_KINDS:
            if not isinstance(n, str):
                return
            kind = _STRUCT_KINDS[tag]
            name = self._qual(die, n)
            size = _int(a.get(AT_byte_size))
            variant = size is not None and die.full and any(c.tag == TAG_variant_part for c in die.children)
            if not variant:
                decl = bool(a.get(AT_declaration)) or size is None
                self.decl[tid] = decl
                self._register(f"{kind} {name}", tid)
                if kind == "class":
                    self._register(f"struct {name}", tid)
                if not decl:
                    self.definitions.setdefault((kind, name), tid)
            if die.cu.language not in _LANG_C:
                self._register(name, tid)
        elif tag == TAG_base_type:
            self._register(n or "?", tid)
        elif tag == TAG_typedef:
            self._register(self._qual(die, n or "?"), tid)
        elif tag == TAG_enumeration_type and isinstance(n, str):
            q = self._qual(die, n)
            self._register(f"enum {q}", tid)
            if die.cu.language not in _LANG_C:
                self._register(q, tid)

    # ---- naming helpers
    def _name(self, die: Die) -> str | None:
        n = die.attrs.get(AT_name)
        if isinstance(n, str):
            return n
        for ref_at in (AT_specification, AT_abstract_origin):
            r = die.attrs.get(ref_at)
            if isinstance(r, int):
                o = self._die(r)
                if o is not None and o is not die:
                    n = o.attrs.get(AT_name)
                    if isinstance(n, str):
                        return n
        return None

    def _qual(self, die: Die, name: str) -> str:
        sc = self.scope_of.get(die.offset)
        return "::".join((*sc[0], name)) if sc and sc[0] else name

    def _register(self, key: str, tid: TypeId) -> None:
        old = self.table.by_name.get(key)
        if old is None:
            self.table.by_name[key] = tid
            return
        if self.decl.get(old) and self.decl.get(tid) is False:
            self.table.by_name[key] = tid

    def _add(self, t: Type) -> TypeId:
        tid = self.intern.get(t)
        if tid is None:
            tid = self.table.add(t)
            self.intern[t] = tid
        return tid

    # ---- walk
    def walk_unit(self, unit: Unit, out: list[RawVariable]) -> None:
        top = unit.top
        assert top is not None
        if unit.language not in _LANG_C:  # C has no namespaces or nested scopes
            self._scan_scopes(top, (), "cu")
        self._walk_children(top, (), "cu", None, unit, out)

    def _scan_scopes(self, parent: Die, scope: tuple[str, ...], kind: str) -> None:
        """Record the namespace/class path of every DIE before any type is named from it."""
        for die in parent.children:
            if scope:
                self.scope_of[die.offset] = (scope, kind)
            if die.tag == TAG_namespace:
                n = die.attrs.get(AT_name)
                self._scan_scopes(die, (*scope, n if isinstance(n, str) else "(anonymous namespace)"), "namespace")
            elif die.tag in _STRUCT_KINDS and die.children:
                n = die.attrs.get(AT_name)
                if isinstance(n, str):
                    self._scan_scopes(die, (*scope, n), "class")

    def _walk_children(
        self,
        parent: Die,
        scope: tuple[str, ...],
        kind: str,
        func: str | None,
        unit: Unit,
        out: list[RawVariable],
    ) -> None:
        for die in parent.children:
            if type(die) is RawVariable:  # a plain C global, read by the index pass
                t = die.type
                if t is not None and t < 0:
                    die.type = self.type_of(-1 - t)  # type: ignore[attr-defined]
                out.append(die)  # type: ignore[arg-type]
                continue
            tag = die.tag
            try:
                if tag == TAG_variable:
                    self._variable(die, scope, kind, func, unit, out)
                elif tag == TAG_namespace:
                    n = die.attrs.get(AT_name)
                    ns = n if isinstance(n, str) else "(anonymous namespace)"
                    self._walk_children(die, (*scope, ns), "namespace", None, unit, out)
                elif tag in (TAG_subprogram, TAG_lexical_block, TAG_inlined_subroutine):
                    if tag == TAG_subprogram:
                        f = self._name(die) or func
                    else:
                        f = func
                    if die.children:
                        # statics of functions: scope names stay those of the enclosing namespace
                        self._walk_children(die, scope, kind if tag != TAG_subprogram else kind, f, unit, out)
                elif tag in _STRUCT_KINDS:
                    if func is None:
                        self._declare(die)
                    n = die.attrs.get(AT_name)
                    if isinstance(n, str) and die.children:
                        self._walk_children(die, (*scope, n), "class", func, unit, out)
                elif tag in _TYPE_TAGS:
                    if func is None and AT_name in die.attrs:
                        self._declare(die)
                elif tag == TAG_member and die.attrs.get(AT_declaration) and kind == "class":
                    pass  # static data member declaration: its scope was recorded above
            except RecursionError:
                self.notes.append(f"DIE 0x{die.offset:x}: type nesting too deep")
            except Exception as e:  # noqa: BLE001 - one odd DIE must not lose the rest
                self.notes.append(f"DIE 0x{die.offset:x}: {type(e).__name__}: {e}")

    def _variable(
        self,
        die: Die,
        scope: tuple[str, ...],
        kind: str,
        func: str | None,
        unit: Unit,
        out: list[RawVariable],
    ) -> None:
        a = die.attrs
        if func is None and not scope and AT_specification not in a and AT_abstract_origin not in a:
            # the common case (a C global or file static at a fixed address), without detours
            loc = a.get(AT_location)
            name = a.get(AT_name)
            if type(loc) is bytes and loc[:1] == b"\x03" and len(loc) == 1 + unit.address_size and type(name) is str:
                tref = a.get(AT_type)
                tid = self.memo.get(tref) if tref is not None else None
                if tid is None and isinstance(tref, int):
                    tid = self.type_of(tref)
                fi = a.get(AT_decl_file)
                file = None
                if isinstance(fi, int):
                    i = fi - unit.file_base
                    files = unit.files
                    if 0 <= i < len(files):
                        file = files[i]
                line = a.get(AT_decl_line)
                linkage = a.get(AT_linkage_name, a.get(AT_MIPS_linkage_name))
                out.append(
                    RawVariable(
                        name,
                        (),
                        "global" if a.get(AT_external) else "file",
                        None,
                        int.from_bytes(loc[1:], "little" if self.little else "big"),
                        tid,
                        file,
                        line if isinstance(line, int) else None,
                        unit.name,
                        linkage if isinstance(linkage, str) else None,
                    )
                )
                return
        origin: Die | None = None
        if AT_specification in a or AT_abstract_origin in a:
            for ref_at in (AT_specification, AT_abstract_origin):
                r = a.get(ref_at)
                if isinstance(r, int):
                    origin = self._die(r)
                    if origin is not None:
                        break
        loc = a.get(AT_location)
        address: int | None = None
        if isinstance(loc, (bytes, bytearray)) and loc:
            op = loc[0]
            if op == OP_addr and len(loc) == 1 + unit.address_size:
                address = int.from_bytes(loc[1:], "little" if self.little else "big")
            elif op in (OP_addrx, OP_GNU_addr_index) and len(loc) > 1:
                # DWARF 5 as LLVM (clang, rustc) writes it: an index into .debug_addr
                idx, end = _uleb(loc, 1)
                if end != len(loc) or self.addrx is None:
                    return
                address = self.addrx(unit.addr_base, idx, unit.address_size)
            else:
                return  # a local on the stack / in a register, or TLS: not a static
        elif loc is not None:
            return  # location list: a local variable
        elif not a.get(AT_declaration) or func is not None:
            return  # optimized out, or a block-scope extern declaration
        if address is None and origin is not None:
            return  # a definition without location: optimized out
        name = a.get(AT_name)
        if not isinstance(name, str) and origin is not None:
            name = origin.attrs.get(AT_name)
        if not isinstance(name, str):
            return
        tref = a.get(AT_type)
        if tref is None and origin is not None:
            tref = origin.attrs.get(AT_type)
        tid = self.type_of(tref) if isinstance(tref, int) else None
        src = die if AT_decl_file in a else (origin or die)
        file = self._file(src, unit)
        line = src.attrs.get(AT_decl_line) if isinstance(src.attrs.get(AT_decl_line), int) else None
        external = bool(a.get(AT_external) or (origin is not None and origin.attrs.get(AT_external)))
        if origin is not None and origin.offset in self.scope_of:
            scope_parts, skind = self.scope_of[origin.offset]
            vscope = "class" if skind == "class" else "namespace"
        elif scope:
            scope_parts, vscope = scope, ("class" if kind == "class" else "namespace")
        else:
            scope_parts = ()
            vscope = "global" if external else "file"
        if func is not None:
            vscope = "function"
        linkage = a.get(AT_linkage_name, a.get(AT_MIPS_linkage_name))
        if linkage is None and origin is not None:
            linkage = origin.attrs.get(AT_linkage_name, origin.attrs.get(AT_MIPS_linkage_name))
        out.append(
            RawVariable(
                name=name,
                scope_parts=scope_parts if func is None else (),
                scope=vscope,
                function=func,
                address=address,
                type=tid,
                file=file,
                line=line,
                cu_name=unit.name,
                linkage_name=linkage if isinstance(linkage, str) else None,
            )
        )

    def _file(self, die: Die, unit: Unit) -> str | None:
        idx = die.attrs.get(AT_decl_file)
        if not isinstance(idx, int):
            return None
        files = die.cu.files if die.cu is not None else unit.files
        base = die.cu.file_base if die.cu is not None else unit.file_base
        i = idx - base
        if 0 <= i < len(files):
            return files[i]
        return None

    # ---- types
    def type_of(self, ref: Any) -> TypeId | None:
        """TypeId for the type DIE at ``ref`` (built when first used); None means void."""
        tid = self.memo.get(ref)
        if tid is not None:
            return tid
        if not isinstance(ref, int):
            if isinstance(ref, tuple) and ref and ref[0] == "sig8":
                return self._add(UnsupportedType("?", None, "type in a DWARF type unit (-fdebug-types-section)"))
            return None
        die = self._die(ref)
        if die is None:
            return self._add(UnsupportedType("?", None, f"type reference 0x{ref:x} outside the indexed DWARF"))
        # a DIE the index pass reserved no id for (not a type tag): built like any other
        tid = self.table.add(ref)  # type: ignore[arg-type]
        self.memo[ref] = tid
        return tid

    def _target(self, die: Die) -> TypeId | None:
        return self.type_of(die.attrs.get(AT_type))

    def _convert(self, die: Die) -> TypeId | None:
        tag = die.tag
        off = die.offset
        if tag in _STRUCT_KINDS:
            return self._struct(die)
        if tag == TAG_base_type:
            name = die.attrs.get(AT_name) or "?"
            size = _int(die.attrs.get(AT_byte_size)) or 0
            enc = _ENCODINGS.get(die.attrs.get(AT_encoding, 0))
            if enc is None:
                t: Type = UnsupportedType(name, size, f"base type encoding 0x{die.attrs.get(AT_encoding, 0):x}")
            else:
                t = BaseType(name, size, enc)
            tid = self._slot(off)
            self.table.types[tid] = t
            self._register(name, tid)
            return tid
        if tag == TAG_typedef:
            # reserve first: a typedef can sit in a cycle through a pointer
            tid = self._slot(off)
            name = self._qual(die, die.attrs.get(AT_name) or "?")
            self.table.types[tid] = Typedef(name, self._target(die))
            self._register(name, tid)
            return tid
        if tag in _QUALIFIERS:
            tid = self._slot(off)
            self.table.types[tid] = Qualified(_QUALIFIERS[tag], self._target(die))
            return tid
        if tag in (TAG_pointer_type, TAG_reference_type, TAG_rvalue_reference_type):
            tid = self._slot(off)
            size = _int(die.attrs.get(AT_byte_size)) or self.word_size
            ref = {TAG_pointer_type: "", TAG_reference_type: "&", TAG_rvalue_reference_type: "&&"}[tag]
            self.table.types[tid] = PointerType(self._target(die), size, ref)
            return tid
        if tag == TAG_array_type:
            return self._array(die)
        if tag == TAG_enumeration_type:
            return self._enum(die)
        if tag == TAG_subroutine_type:
            tid = self._slot(off)
            params: list[TypeId] = []
            variadic = False
            for c in die.children:
                if c.tag == TAG_formal_parameter:
                    p = self.type_of(c.attrs.get(AT_type))
                    if p is not None:
                        params.append(p)
                elif c.tag == TAG_unspecified_parameters:
                    variadic = True
            self.table.types[tid] = FunctionType(self._target(die), tuple(params), variadic)
            return tid
        if tag == TAG_unspecified_type:
            tid = self._slot(off)
            self.table.types[tid] = VoidType(die.attrs.get(AT_name) or "void", _int(die.attrs.get(AT_byte_size)))
            return tid
        name = self._name(die) or "?"
        note = {TAG_ptr_to_member_type: "C++ pointer to member"}.get(tag, f"DWARF tag 0x{tag:x}")
        tid = self._slot(off)
        self.table.types[tid] = UnsupportedType(name, _int(die.attrs.get(AT_byte_size)), f"{note} is not supported")
        return tid

    def _array(self, die: Die) -> TypeId | None:
        tid = self._slot(die.offset)
        elem = self._target(die)
        dims = _array_dims(die)
        if not dims:
            dims = [(None, None)]
        if elem is None:
            self.table.types[tid] = UnsupportedType("void[]", None, "array of void")
            return tid
        inner = elem
        for sub_off, count in reversed(dims[1:]):
            t = ArrayType(inner, count)
            if sub_off is None:
                inner = self._add(t)
            else:
                # the subrange's own reserved id: no new ids once the index is built
                inner = self._slot(sub_off)
                self.table.types[inner] = t
        self.table.types[tid] = ArrayType(inner, dims[0][1])
        return tid

    def _enum(self, die: Die) -> TypeId:
        tid = self._slot(die.offset)
        underlying = self._target(die)
        signed: bool | None = None
        if underlying is not None:
            u = self.table.resolved(underlying)
            if isinstance(u, BaseType):
                signed = u.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)
        raw = [(c.attrs.get(AT_name) or "?", c.attrs.get(AT_const_value)) for c in die.children if c.tag == TAG_enumerator]
        if signed is None:
            # without an underlying type gdb calls an enum signed iff a value is negative
            signed = any(isinstance(v, int) and v < 0 for _, v in raw)
        values = tuple((n, _const(v, signed) or 0) for n, v in raw)
        n = die.attrs.get(AT_name)
        name = self._qual(die, n) if isinstance(n, str) else None
        size = _int(die.attrs.get(AT_byte_size)) or 4
        self.table.types[tid] = EnumType(name, size, signed, values, underlying)
        if name:
            self._register(f"enum {name}", tid)
            if die.cu.language not in _LANG_C:
                self._register(name, tid)
        return tid

    def _struct(self, die: Die) -> TypeId:
        tid = self._slot(die.offset)
        kind = _STRUCT_KINDS[die.tag]
        n = die.attrs.get(AT_name)
        name = self._qual(die, n) if isinstance(n, str) else None
        size = _int(die.attrs.get(AT_byte_size))
        decl = bool(die.attrs.get(AT_declaration))
        members: list[Member] = []
        bases: list[Member] = []
        variant_part: Die | None = None
        for c in die.children:
            ct = c.tag
            if ct == TAG_member:
                if c.attrs.get(AT_declaration) or c.attrs.get(AT_external):
                    continue  # static data member: a variable, not a field
                m = self._member(c)
                if m is not None:
                    members.append(m)
            elif ct == TAG_inheritance:
                off = _member_offset(c.attrs.get(AT_data_member_location))
                btid = self._target(c)
                if btid is None:
                    continue
                if off is None:
                    self.notes.append(f"{name}: virtual base class layout is not supported")
                    continue
                bt = self.table.resolved(btid)
                bname = bt.name if isinstance(bt, StructType) and bt.name else self.table.name(btid)
                bases.append(Member(bname, off, btid))
            elif ct == TAG_variant_part:
                variant_part = c
        if variant_part is not None and size is not None:
            t: Type = self._variant_type(name or "?", size, variant_part)
        else:
            t = StructType(kind, name, size, tuple(members), tuple(bases), decl or size is None)
        self.table.types[tid] = t
        if isinstance(t, StructType):
            self.decl[tid] = t.declaration
        if name:
            is_c = die.cu.language in _LANG_C
            if isinstance(t, StructType):
                self._register(f"{kind} {name}", tid)
                if kind == "class":
                    self._register(f"struct {name}", tid)
                if not t.declaration:
                    self.definitions.setdefault((kind, name), tid)
            if not is_c:
                self._register(name, tid)
        return tid

    def _member(self, c: Die) -> Member | None:
        mtid = self._target(c)
        if mtid is None:
            return None
        name = c.attrs.get(AT_name)
        loc = c.attrs.get(AT_data_member_location)
        bit_size = _int(c.attrs.get(AT_bit_size))
        if bit_size is None:
            off = _member_offset(loc)
            if off is None:
                off = 0
                self.notes.append(f"member {name}: location expression not supported, assumed offset 0")
            return Member(name if isinstance(name, str) else None, off, mtid)
        dbo = c.attrs.get(AT_data_bit_offset)
        base = _member_offset(loc) if loc is not None else 0
        base = base or 0
        if isinstance(dbo, int):
            bit = dbo
        else:
            bo = c.attrs.get(AT_bit_offset)
            if isinstance(bo, tuple):
                bo = _const(bo, True)
            if isinstance(bo, int):
                # DWARF 2/3: bit_offset counts from the MSB of the storage unit
                storage = _int(c.attrs.get(AT_byte_size)) or self.table.sizeof(mtid) or 0
                if self.little:
                    bit = base * 8 + storage * 8 - bo - bit_size
                else:
                    bit = base * 8 + bo
            else:
                bit = base * 8
        return Member(name if isinstance(name, str) else None, bit // 8, mtid, bit_size, bit)

    def _variant_type(self, name: str, size: int, part: Die) -> Type:
        discr_ref = part.attrs.get(AT_discr)
        discr_offset: int | None = None
        discr_size = 0
        discr_signed = False
        discr_die = self._die(discr_ref) if isinstance(discr_ref, int) else None
        if discr_die is not None:
            discr_offset = _member_offset(discr_die.attrs.get(AT_data_member_location))
            dt = self.type_of(discr_die.attrs.get(AT_type))
            discr_size = self.table.sizeof(dt) or 0
            r = self.table.resolved(dt)
            discr_signed = isinstance(r, BaseType) and r.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)
        variants: list[Variant] = []
        for v in part.children:
            if v.tag != TAG_variant:
                continue
            dv = v.attrs.get(AT_discr_value)
            disc = _const(dv, discr_signed) if dv is not None else None
            for m in v.children:
                if m.tag != TAG_member:
                    continue
                mt = self._target(m)
                if mt is None:
                    continue
                off = _member_offset(m.attrs.get(AT_data_member_location)) or 0
                variants.append(Variant(disc, m.attrs.get(AT_name) or "?", mt, off))
                break
        return VariantType(name, size, discr_offset, discr_size, discr_signed, tuple(variants))



def _array_dims(die: Die) -> list[tuple[int | None, int | None]]:
    """(subrange DIE offset, element count or None) per dimension, outermost first."""
    dims: list[tuple[int | None, int | None]] = []
    for c in die.children:
        if c.tag != TAG_subrange_type:
            continue
        count = c.attrs.get(AT_count)
        if isinstance(count, int):
            dims.append((c.offset, count))
            continue
        ub = c.attrs.get(AT_upper_bound)
        lb = c.attrs.get(AT_lower_bound, 0)
        if isinstance(ub, tuple):
            ub = _const(ub, True)
        if isinstance(ub, int) and isinstance(lb, int):
            # gcc writes -1 (or all ones) as the upper bound of a zero-length array
            if ub in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                ub = -1
            dims.append((c.offset, max(ub - lb + 1, 0)))
        else:
            dims.append((c.offset, None))
    return dims


def _int(v: Any) -> int | None:
    if isinstance(v, tuple):
        v = v[0]
    return v if isinstance(v, int) and not isinstance(v, bool) else None
