"""DIE -> type model: types built from their DIEs when first used.

Robustness rule: a DIE we cannot make sense of becomes an :class:`UnsupportedType`;
weird DWARF never aborts the index.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from typing import Any

from ..cache import decode_type
from ..types import (
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
from .constants import (
    ATE_UTF,
    LANG_C,
    QUALIFIERS,
    STRUCT_KINDS,
    AT_abstract_origin,
    AT_bit_offset,
    AT_bit_size,
    AT_byte_size,
    AT_const_value,
    AT_count,
    AT_data_bit_offset,
    AT_data_member_location,
    AT_declaration,
    AT_discr,
    AT_discr_value,
    AT_encoding,
    AT_external,
    AT_lower_bound,
    AT_name,
    AT_specification,
    AT_type,
    AT_upper_bound,
    ATE_address,
    ATE_boolean,
    ATE_complex_float,
    ATE_float,
    ATE_signed,
    ATE_signed_char,
    ATE_unsigned,
    ATE_unsigned_char,
    OP_consts,
    OP_constu,
    OP_plus_uconst,
    TAG_array_type,
    TAG_base_type,
    TAG_enumeration_type,
    TAG_enumerator,
    TAG_formal_parameter,
    TAG_inheritance,
    TAG_member,
    TAG_pointer_type,
    TAG_ptr_to_member_type,
    TAG_reference_type,
    TAG_rvalue_reference_type,
    TAG_subrange_type,
    TAG_subroutine_type,
    TAG_typedef,
    TAG_unspecified_parameters,
    TAG_unspecified_type,
    TAG_variant,
    TAG_variant_part,
)
from .die import Die
from .encoding import DwarfFormatError, sleb, uleb
from .lazy import LazyTypes
from .reader import Reader
from .units import Unit

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
            n, p = uleb(v, 1)
            return n if p == len(v) else None
        if op == OP_consts and len(v) > 1:
            n, p = sleb(v, 1)
            return n if p == len(v) else None
        if 0x30 <= op <= 0x4F and len(v) == 1:  # DW_OP_lit0..31
            return op - 0x30
    return None


_IN_CONSTRUCTION = UnsupportedType("?", None, "in construction")


class Builder:
    def __init__(
        self,
        die_map: dict[int, Die],
        word_size: int,
        little: bool,
        reader: Reader,
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
        self.table = TypeTable(types=LazyTypes(reserve, decode_type, self))
        self.memo: dict[int, TypeId] = memo if memo is not None else {off: i for i, off in enumerate(reserve)}
        self.intern: dict[Type, TypeId] = {}
        self.scope_of: dict[int, tuple[tuple[str, ...], str]] = {}
        self.notes: list[str] = []
        self.definitions: dict[tuple[str, str], TypeId] = {}  # (kind, name) -> complete struct
        self.decl: dict[TypeId, bool] = {}  # struct type id -> is a declaration only
        self.sizes: dict[int, int | None] = {}
        self.addrx: Callable[[int, int, int], int] | None = reader.addrx if reader.s.addr else None

    def lazy_state(self) -> dict[str, Any]:
        """What a later process needs to build the remaining types from the ELF (cache)."""
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
    def die_at(self, off: int) -> Die | None:
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
            t = UnsupportedType(self.name_of(die) or "?", _int(die.attrs.get(AT_byte_size)), f"unreadable DWARF: {e}")
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
        die = self.die_at(off)
        if die is None:
            return self.table.sizeof(tid)
        tag = die.tag
        a = die.attrs
        if tag == TAG_typedef or tag in QUALIFIERS:
            ref = a.get(AT_type)
            if ref is None:
                return None
            return self.sizeof(self.type_of(ref))
        if tag in STRUCT_KINDS:
            size = _int(a.get(AT_byte_size))
            if size is not None and not die.full:
                pass  # a C aggregate: no variant part
            elif size is not None and any(c.tag == TAG_variant_part for c in die.children):
                return size
            n = a.get(AT_name)
            if (a.get(AT_declaration) or size is None) and isinstance(n, str):
                kind = STRUCT_KINDS[tag]
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

    def declare(self, die: Die) -> None:
        """Register a type's names without building it (what ``_convert`` would register)."""
        tid = self.memo.get(die.offset)
        if tid is None:
            return
        tag = die.tag
        a = die.attrs
        n = a.get(AT_name)
        if tag in STRUCT_KINDS:
            if not isinstance(n, str):
                return
            kind = STRUCT_KINDS[tag]
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
            if die.cu.language not in LANG_C:
                self._register(name, tid)
        elif tag == TAG_base_type:
            self._register(n or "?", tid)
        elif tag == TAG_typedef:
            self._register(self._qual(die, n or "?"), tid)
        elif tag == TAG_enumeration_type and isinstance(n, str):
            q = self._qual(die, n)
            self._register(f"enum {q}", tid)
            if die.cu.language not in LANG_C:
                self._register(q, tid)

    # ---- naming helpers
    def name_of(self, die: Die) -> str | None:
        n = die.attrs.get(AT_name)
        if isinstance(n, str):
            return n
        for ref_at in (AT_specification, AT_abstract_origin):
            r = die.attrs.get(ref_at)
            if isinstance(r, int):
                o = self.die_at(r)
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
    def type_of(self, ref: Any) -> TypeId | None:
        """TypeId for the type DIE at ``ref`` (built when first used); None means void."""
        tid = self.memo.get(ref)
        if tid is not None:
            return tid
        if not isinstance(ref, int):
            if isinstance(ref, tuple) and ref and ref[0] == "sig8":
                return self._add(UnsupportedType("?", None, "type in a DWARF type unit (-fdebug-types-section)"))
            return None
        die = self.die_at(ref)
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
        if tag in STRUCT_KINDS:
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
        if tag in QUALIFIERS:
            tid = self._slot(off)
            self.table.types[tid] = Qualified(QUALIFIERS[tag], self._target(die))
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
        name = self.name_of(die) or "?"
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
            if die.cu.language not in LANG_C:
                self._register(name, tid)
        return tid

    def _struct(self, die: Die) -> TypeId:
        tid = self._slot(die.offset)
        kind = STRUCT_KINDS[die.tag]
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
            is_c = die.cu.language in LANG_C
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
        discr_die = self.die_at(discr_ref) if isinstance(discr_ref, int) else None
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
