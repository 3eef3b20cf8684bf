"""The type model shared by the DWARF reader, the expression compiler and the codec.

Types live in a :class:`TypeTable` and refer to each other by integer id, never by
object reference: the table is what the on-disk index cache stores, and ids let a
type graph with cycles (``struct node { struct node *next; }``) be serialized as
plain tuples and materialized lazily.

Conventions every producer and consumer relies on:

* ``size`` is in bytes; ``None`` when unknown (incomplete struct, ``void``).
* Multi-dimensional arrays are nested :class:`ArrayType` (outermost dimension first),
  as C spells them: ``int m[2][3]`` is ``ArrayType(count=2, element=ArrayType(count=3, int))``.
* Bitfield positions are normalized to DWARF 4's ``DW_AT_data_bit_offset`` meaning:
  :attr:`Member.bit_offset` counts bits from the start of the containing struct in the
  target's bit numbering (LSB-first on little-endian targets, MSB-first on big-endian),
  whatever the compiler emitted (DWARF 2/3 ``DW_AT_bit_offset`` is converted on read).
* Base classes of C++ classes are :class:`Member` entries in ``bases`` with
  ``name`` = the base type's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

TypeId = int


class Encoding(StrEnum):
    SIGNED = "signed"
    UNSIGNED = "unsigned"
    SIGNED_CHAR = "signed_char"
    UNSIGNED_CHAR = "unsigned_char"
    FLOAT = "float"
    BOOL = "bool"
    UTF = "utf"  # char16_t, char32_t, Rust char
    COMPLEX = "complex"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class BaseType:
    name: str
    size: int
    encoding: Encoding


@dataclass(frozen=True, slots=True)
class VoidType:
    name: str = "void"
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Typedef:
    name: str
    target: TypeId | None  # None: typedef of void


@dataclass(frozen=True, slots=True)
class Qualified:
    qualifier: str  # "const", "volatile", "_Atomic", "restrict"
    target: TypeId | None  # None: qualified void (``const void``)


@dataclass(frozen=True, slots=True)
class PointerType:
    target: TypeId | None  # None: void *
    size: int
    reference: str = ""  # "" for a pointer, "&" / "&&" for C++ references


@dataclass(frozen=True, slots=True)
class ArrayType:
    element: TypeId
    count: int | None  # None: unknown bound (``extern int table[];``)


@dataclass(frozen=True, slots=True)
class Member:
    name: str | None  # None: anonymous struct/union member
    offset: int  # byte offset of the member (for bitfields: bit_offset // 8)
    type: TypeId
    bit_size: int | None = None
    bit_offset: int | None = None  # see module docstring


@dataclass(frozen=True, slots=True)
class StructType:
    kind: str  # "struct", "union", "class"
    name: str | None  # None: anonymous
    size: int | None  # None: declaration only
    members: tuple[Member, ...] = ()
    bases: tuple[Member, ...] = ()
    declaration: bool = False


@dataclass(frozen=True, slots=True)
class EnumType:
    name: str | None
    size: int
    signed: bool
    enumerators: tuple[tuple[str, int], ...] = ()
    underlying: TypeId | None = None


@dataclass(frozen=True, slots=True)
class FunctionType:
    returns: TypeId | None
    params: tuple[TypeId, ...] = ()
    variadic: bool = False


@dataclass(frozen=True, slots=True)
class Variant:
    discriminant: int | None  # None: the default variant
    name: str
    type: TypeId  # a StructType holding the variant's fields
    offset: int = 0


@dataclass(frozen=True, slots=True)
class VariantType:
    """A Rust enum (DW_TAG_variant_part): a discriminant selects the active variant."""

    name: str
    size: int
    discr_offset: int | None  # None: niche/univariant layout we cannot select from
    discr_size: int
    discr_signed: bool
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True, slots=True)
class UnsupportedType:
    """Anything we cannot model: shown as raw bytes with ``note`` explaining why."""

    name: str
    size: int | None
    note: str


Type = (
    BaseType
    | VoidType
    | Typedef
    | Qualified
    | PointerType
    | ArrayType
    | StructType
    | EnumType
    | FunctionType
    | VariantType
    | UnsupportedType
)


@dataclass
class TypeTable:
    """All types of a program, addressed by :data:`TypeId` (index into ``types``)."""

    types: list[Type] = field(default_factory=list)
    # name -> id for named types (typedef names, "struct foo", "enum bar", base type names)
    by_name: dict[str, TypeId] = field(default_factory=dict)

    def add(self, t: Type) -> TypeId:
        self.types.append(t)
        return len(self.types) - 1

    def __getitem__(self, tid: TypeId) -> Type:
        return self.types[tid]

    def __len__(self) -> int:
        return len(self.types)

    # -- navigation -------------------------------------------------------------------
    def strip(self, tid: TypeId | None) -> TypeId | None:
        """Follow typedefs and qualifiers down to the underlying type."""
        seen = 0
        while tid is not None:
            t = self.types[tid]
            if isinstance(t, (Typedef, Qualified)):
                tid = t.target
                seen += 1
                if seen > 64:  # defensive: malformed DWARF with a typedef cycle
                    break
                continue
            break
        return tid

    def resolved(self, tid: TypeId | None) -> Type:
        s = self.strip(tid)
        return VoidType() if s is None else self.types[s]

    def qualifiers(self, tid: TypeId | None) -> set[str]:
        out: set[str] = set()
        while tid is not None:
            t = self.types[tid]
            if isinstance(t, Qualified):
                out.add(t.qualifier)
                tid = t.target
            elif isinstance(t, Typedef):
                tid = t.target
            else:
                break
        return out

    def is_const(self, tid: TypeId | None) -> bool:
        """True when the object itself is const (or an array of const elements)."""
        if "const" in self.qualifiers(tid):
            return True
        t = self.resolved(tid)
        if isinstance(t, ArrayType):
            return self.is_const(t.element)
        return False

    def sizeof(self, tid: TypeId | None) -> int | None:
        t = self.resolved(tid)
        if isinstance(t, ArrayType):
            if t.count is None:
                return None
            es = self.sizeof(t.element)
            return None if es is None else es * t.count
        if isinstance(t, FunctionType):
            return None
        return getattr(t, "size", None)

    # -- names --------------------------------------------------------------------------
    def name(self, tid: TypeId | None) -> str:
        """The C spelling of a type, as gdb's ``whatis`` prints it."""
        return self._declare(tid, "").strip()

    def _declare(self, tid: TypeId | None, inner: str) -> str:
        """C declarator syntax: wrap ``inner`` (what is being declared) in ``tid``."""
        if tid is None:
            return _join("void", inner)
        t = self.types[tid]
        if isinstance(t, (BaseType, VoidType, Typedef, UnsupportedType)):
            return _join(t.name, inner)
        if isinstance(t, StructType):
            return _join(f"{t.kind} {t.name}" if t.name else f"{t.kind} {{...}}", inner)
        if isinstance(t, EnumType):
            return _join(f"enum {t.name}" if t.name else "enum {...}", inner)
        if isinstance(t, VariantType):
            return _join(t.name, inner)
        if isinstance(t, Qualified):
            target = self.types[t.target] if t.target is not None else None
            if isinstance(target, ArrayType):
                # C has no qualified arrays: the qualifier belongs to the elements ("const int [4]")
                body = self._declare(t.target, inner)
                return body if body.startswith(t.qualifier + " ") else f"{t.qualifier} {body}"
            if target is None or not isinstance(target, (PointerType, FunctionType)):
                # "const int x": qualifier goes in front of the base
                return t.qualifier + " " + self._declare(t.target, inner).lstrip()
            return self._declare(t.target, f"{t.qualifier} {inner}".rstrip() if inner else t.qualifier)
        if isinstance(t, PointerType):
            star = t.reference or "*"
            pointee = self.types[t.target] if t.target is not None else None
            while isinstance(pointee, Qualified) and pointee.target is not None:
                pointee = self.types[pointee.target]
            wrapped = star + inner
            if isinstance(pointee, (ArrayType, FunctionType)):
                wrapped = f"({wrapped})"
            return self._declare(t.target, wrapped)
        if isinstance(t, ArrayType):
            dim = "" if t.count is None else str(t.count)
            return self._declare(t.element, f"{inner}[{dim}]" if inner else f"[{dim}]")
        if isinstance(t, FunctionType):
            params = ", ".join(self.name(p) for p in t.params)
            if t.variadic:
                params = params + ", ..." if params else "..."
            return self._declare(t.returns, f"{inner}({params or 'void'})")
        return _join("?", inner)


def _join(base: str, inner: str) -> str:
    if not inner:
        return base
    if inner[0] in "[(":
        return base + " " + inner if inner[0] == "(" else base + " " + inner
    return base + " " + inner
