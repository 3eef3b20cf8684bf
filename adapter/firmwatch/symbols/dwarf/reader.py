"""The DIE reader: the index pass over each unit, and subtrees re-read on demand.

pyelftools builds a ``construct`` object per attribute, which made a cold index of a
20,000-global firmware ELF take many seconds; a flat loop over generated per-abbreviation
decoders (``codegen``) is an order of magnitude faster and is all we need (we never
evaluate location lists or CFI).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from . import codegen
from .abbrev import AbbrevTable, AbbrevTables
from .constants import (
    CODE_ONLY_TAGS,
    CODE_TAGS,
    LANG_C,
    LAZY_CHILDREN_TAGS,
    NOT_TYPE_TAGS,
    STRUCT_KINDS,
    AT_addr_base,
    AT_declaration,
    AT_GNU_addr_base,
    AT_language,
    AT_name,
    AT_sibling,
    AT_stmt_list,
    AT_str_offsets_base,
    TAG_inlined_subroutine,
    TAG_member,
    TAG_subprogram,
    TAG_template_type_param,
    TAG_template_value_param,
    TAG_variable,
)
from .die import Deferred, Die
from .encoding import DwarfFormatError, cstr, string_table, uleb
from .forms import FORMS, UnitForms, fixed_size, read_value
from .lines import line_header_files
from .results import RawVariable
from .sections import DebugSections
from .units import Unit, read_units

_SKIP = object()  # parse stack marker: inside a subtree that is stepped over
STRUCT_TAGS = frozenset(STRUCT_KINDS)
_FLAG_PRESENT = 0x19
# DIEs whose subtree holds nothing the index pass needs (read again on demand if ever named)
_NOTHING_INSIDE = frozenset({
    0x08,  # imported_declaration (using ::printf;)
    0x3A,  # imported_module
    TAG_inlined_subroutine,
    TAG_template_type_param,
    TAG_template_value_param,
    0x4107,  # GNU_template_parameter_pack
    0x4108,  # GNU_formal_parameter_pack
})


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


HOT = 24  # uses of a shape after which its decoder is generated (see codegen's interpreted decoders)


class _Tier:
    """A shape's interpreted decoder that replaces itself with generated code after HOT uses
    (in the shape cache and in every table it was handed to)."""

    __slots__ = ("run", "installs")

    def __init__(self, reader: Reader, shape: tuple[Any, ...], interp: Any, generate: Callable[[], Any],
                 arity: int) -> None:
        self.installs: list[tuple[dict[int, Any], int]] = []
        count = 0

        def promote() -> None:
            fn = generate() or interp
            reader._by_shape[shape] = fn
            for table, code in self.installs:
                table[code] = fn

        if arity == 2:
            def run2(d: bytes, p: int) -> Any:
                nonlocal count
                count += 1
                if count == HOT:
                    promote()
                return interp(d, p)

            self.run = run2
        else:
            def run3(d: bytes, p: int, cu: int) -> Any:
                nonlocal count
                count += 1
                if count == HOT:
                    promote()
                return interp(d, p, cu)

            self.run = run3


def _has_variable(specs: list[tuple[int, int, int]], asz: int, osz: int, ver: int) -> bool:
    for _at, code, _imp in specs:
        f = FORMS.get(code)
        if f is None or fixed_size(f, asz, osz, ver) is None:
            return True
    return False


class Reader:
    def __init__(self, sec: DebugSections, little: bool) -> None:
        self.s = sec
        self.bo = "<" if little else ">"
        self.u16 = struct.Struct(self.bo + "H").unpack_from
        self.u32 = struct.Struct(self.bo + "I").unpack_from
        self.u64 = struct.Struct(self.bo + "Q").unpack_from
        self.abbrev_tables = AbbrevTables(sec.abbrev)
        self.strp = string_table(sec.str)
        # generated decoders: per (table, unit sizes) and, shared across tables, per shape
        self._by_table: dict[tuple[str, int, int, int, int], dict[int, Any]] = {}
        self._by_shape: dict[tuple[Any, ...], Any] = {}

    def uint(self, d: bytes, p: int, n: int) -> int:
        if n == 4:
            return self.u32(d, p)[0]  # type: ignore[no-any-return]
        if n == 8:
            return self.u64(d, p)[0]  # type: ignore[no-any-return]
        if n == 2:
            return self.u16(d, p)[0]  # type: ignore[no-any-return]
        if n == 1:
            return d[p]
        return int.from_bytes(d[p : p + n], "little" if self.bo == "<" else "big")

    def abbrevs(self, off: int) -> AbbrevTable:
        return self.abbrev_tables.table(off)

    def units(self) -> list[Unit]:
        out = read_units(self.s.info, self.uint)
        self.abbrev_tables.bounds = sorted({u.abbr_off for u in out})
        return out

    # -- generated decoders, made once per abbreviation shape -------------------------------------
    def _decoders(self, kind: str, table: AbbrevTable, unit: Unit) -> dict[int, Any]:
        asz, osz, ver = unit.address_size, unit.offset_size, unit.version
        key = (kind, id(table), asz, osz, ver)  # units with byte-identical tables share one
        hit = self._by_table.get(key)
        if hit is not None:
            return hit
        by_shape = self._by_shape

        def make(code: int) -> Any:
            ab = table.get(code)
            if ab is None:
                return None
            shape = (kind, ab[2], asz, osz, ver)
            if shape in by_shape:
                fn = by_shape[shape]
            else:
                fn = by_shape[shape] = self._first_decoder(kind, shape, ab[2], asz, osz, ver)
            if isinstance(fn, _Tier):
                fn.installs.append((out, code))
                return fn.run
            return fn

        if kind == "var":  # looked up with .get for every child of a C unit: made up front
            out: dict[int, Any] = {}
            for code, (tag, _ch, _specs) in table.items():
                if tag == TAG_variable:
                    fn = make(code)
                    if fn is not None:
                        out[code] = fn
        else:
            out = _OnDemand(make)
        self._by_table[key] = out
        return out

    def _first_decoder(self, kind: str, shape: tuple[Any, ...], specs: list[tuple[int, int, int]],
                       asz: int, osz: int, ver: int) -> Any:
        """The interpreted decoder of a shape, promoted to generated code when it turns hot."""
        bo, sec, strp = self.bo, self.s, self.strp
        if kind == "skip":
            if not _has_variable(specs, asz, osz, ver):
                return codegen.skipper(specs, asz, osz, ver, bo)  # the DIE's size: no code to generate
            interp = codegen.interpreted_skipper(specs, asz, osz, ver, bo)
            if interp is None:
                return None
            return _Tier(self, shape, interp, lambda: codegen.skipper(specs, asz, osz, ver, bo), 2)
        if kind == "attrs":
            interp = codegen.interpreted_attrs(specs, asz, osz, ver, bo, sec, strp)
            gen = lambda: codegen.attrs_decoder(specs, asz, osz, ver, bo, sec, strp)  # noqa: E731
        else:
            interp = codegen.interpreted_variable(specs, asz, osz, ver, bo, sec, strp)
            gen = lambda: codegen.variable_decoder(specs, asz, osz, ver, bo, sec, strp)  # noqa: E731
        if interp is None:
            return None
        return _Tier(self, shape, interp, gen, 3)

    def unit_forms(self, unit: Unit, str_base: int | None, addr_base: int | None) -> UnitForms:
        osz, asz = unit.offset_size, unit.address_size

        def strx(i: int) -> Any:
            return Deferred(i, "str") if str_base is None else self.strx(str_base, i, osz)

        def addrx(i: int) -> Any:
            return Deferred(i, "addr") if addr_base is None else self.addrx(addr_base, i, asz)

        return UnitForms(asz, osz, unit.version, unit.offset, self.uint, self.strp, self.s.line_str, strx, addrx)

    def decode_generic(
        self, d: bytes, p: int, specs: list[tuple[int, int, int]], u: UnitForms, off: int
    ) -> tuple[dict[int, Any], int]:
        """Any abbreviation, one attribute at a time through the FORM table."""
        attrs: dict[int, Any] = {}
        for at, form, implicit in specs:
            attrs[at], p = read_value(d, p, at, form, implicit, u, off)
        return attrs, p

    # -- the index pass -----------------------------------------------------------------------------
    def parse_unit(self, unit: Unit, die_map: dict[int, Die], reserve: list[int], memo: dict[int, int]) -> None:
        """The index pass over one unit: DIE objects for what the variable list and the type
        names need, and in ``reserve`` the offset of every DIE that may become a type.

        In C units the children of aggregate types (members, enumerators, parameters) are
        only stepped over: they are read again, on demand, when the type is first used.
        """
        d = self.s.info
        abbrevs = self.abbrevs(unit.abbr_off)
        p = unit.first
        end = unit.end
        cu_off = unit.offset
        fast = self._decoders("attrs", abbrevs, unit)
        skips = self._decoders("skip", abbrevs, unit)
        vdecs = self._decoders("var", abbrevs, unit)
        forms = self.unit_forms(unit, None, None)
        not_type = NOT_TYPE_TAGS
        lazy_tags = LAZY_CHILDREN_TAGS
        stack: list[Any] = []
        files: list[str] = []
        file_base = 1
        lazy = False
        skip = _SKIP
        # unnamed types (pointers, qualifiers, arrays, anonymous aggregates) need no name
        # registered: in C units they are only stepped over and read when used
        nameless = {
            c for c, (t, _ch, sp) in abbrevs.items() if t not in not_type and all(at != AT_name for at, _f, _i in sp)
        }
        declarations = {  # abbreviations of DIEs that say DW_AT_declaration (flag_present) by shape
            c for c, (_t, _ch, sp) in abbrevs.items() if (AT_declaration, _FLAG_PRESENT, 0) in sp
        }
        top: Die | None = None
        while p < end:
            off = p
            code = d[p]
            if code < 0x80:
                p += 1
            else:
                code, p = uleb(d, p)
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
                elif parent is skip or parent is None:
                    quiet = True
                else:
                    ptag = parent.tag
                    if code in nameless or tag in _NOTHING_INSIDE:
                        # a pointer, qualifier or array type (its id is reserved below), a
                        # using-declaration, an inlined copy of a function (its statics are
                        # described by the function itself): nothing the index needs
                        quiet = True
                    elif tag == TAG_subprogram and (ptag in STRUCT_TAGS or code in declarations):
                        # a function's declaration (and its parameters): no variable or type
                        # lives there; a definition naming it re-reads it on demand
                        quiet = True
                    elif tag == TAG_member and ptag in STRUCT_TAGS and code not in declarations:
                        parent.full = False  # data members are read when the type is used
                        quiet = True
                    elif tag == TAG_variable and ptag in CODE_TAGS:
                        # a function's variable: kept only when it is a static (DW_OP_addr)
                        vd = vdecs.get(code)
                        if vd is not None:
                            r = vd(d, p, cu_off)
                            if r[1] is None:
                                p = r[7]
                                if has_children:
                                    stack.append(None)
                                continue
                        quiet = False
                    else:
                        quiet = False
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
                        _, p = self.decode_generic(d, p, specs, forms, off)
                    if tag not in not_type:
                        memo[off] = len(reserve)
                        reserve.append(off)
                    if has_children:
                        stack.append(skip if parent is not None else None)
                    continue
                dec = fast[code]
                if dec is not None:
                    attrs, p = dec(d, p, cu_off)
                else:
                    attrs, p = self.decode_generic(d, p, specs, forms, off)
                if parent is None or (tag in CODE_ONLY_TAGS and parent.tag in CODE_TAGS):
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
                attrs, p = self.decode_generic(d, p, specs, forms, off)
                die = Die(off, tag, attrs, unit)
                die_map[off] = die
                unit.top = die
                self._unit_attributes(unit, attrs)
                forms = self.unit_forms(unit, unit.str_base, unit.addr_base)
                lazy = unit.language in LANG_C
                top = die
                files = unit.files
                file_base = unit.file_base
            else:
                break  # a second root: malformed unit, keep what we have
            if has_children:
                stack.append(die)

    def top_attributes(self, unit: Unit) -> dict[int, Any]:
        """The attributes of the unit's top DIE alone (name, language, directories, line
        program), its string and address indexes resolved."""
        d = self.s.info
        p = unit.first
        code, p = uleb(d, p)
        ab = self.abbrevs(unit.abbr_off).get(code)
        if ab is None:
            raise DwarfFormatError(f"DIE at 0x{unit.first:x} uses unknown abbreviation {code}")
        attrs, _ = self.decode_generic(d, p, ab[2], self.unit_forms(unit, None, None), unit.first)
        self._resolve_top(unit, attrs)
        return attrs

    def _unit_attributes(self, unit: Unit, attrs: dict[int, Any]) -> None:
        """What the top DIE says about its unit; indexes read before their base are resolved."""
        self._resolve_top(unit, attrs)
        self._line_table(unit, attrs)

    def _resolve_top(self, unit: Unit, attrs: dict[int, Any]) -> None:
        osz, asz = unit.offset_size, unit.address_size
        sb = attrs.get(AT_str_offsets_base)
        unit.str_base = str_base = sb if isinstance(sb, int) else (8 if osz == 4 else 16)
        ab = attrs.get(AT_addr_base, attrs.get(AT_GNU_addr_base))
        unit.addr_base = addr_base = ab if isinstance(ab, int) else 8
        for at, v in list(attrs.items()):
            if isinstance(v, Deferred):
                attrs[at] = (
                    self.strx(str_base, v.index, osz) if v.kind == "str" else self.addrx(addr_base, v.index, asz)
                )
        unit.language = attrs.get(AT_language)
        name = attrs.get(AT_name)
        unit.name = name if isinstance(name, str) else ""

    def _line_table(self, unit: Unit, attrs: dict[int, Any]) -> None:
        off = attrs.get(AT_stmt_list)
        if not isinstance(off, int) or not self.s.line:
            return
        try:
            files, base = line_header_files(self.s.line, off, self.uint, self.strp, self.s.line_str)
        except (IndexError, struct.error, DwarfFormatError, ValueError):
            return  # decl files are a nicety: never fail the index for them
        unit.files = files
        unit.file_base = base

    def parse_subtree(self, unit: Unit, off: int, die_map: dict[int, Die]) -> Die | None:
        """The DIE at ``off`` with all its descendants (for a type used after the index pass)."""
        d = self.s.info
        abbrevs = self.abbrevs(unit.abbr_off)
        fast = self._decoders("attrs", abbrevs, unit)
        forms = self.unit_forms(unit, unit.str_base, unit.addr_base)
        cu_off = unit.offset
        stack: list[Die] = []
        root: Die | None = None
        p = off
        end = unit.end
        while p < end:
            doff = p
            code, p = uleb(d, p)
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
                attrs, p = self.decode_generic(d, p, specs, forms, doff)
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

    def strx(self, base: int, idx: int, osz: int) -> str:
        try:
            return cstr(self.s.str, self.uint(self.s.str_offsets, base + idx * osz, osz))
        except (struct.error, IndexError):
            return "?"

    def addrx(self, base: int, idx: int, asz: int) -> int:
        try:
            return self.uint(self.s.addr, base + idx * asz, asz)
        except (struct.error, IndexError):
            return 0
