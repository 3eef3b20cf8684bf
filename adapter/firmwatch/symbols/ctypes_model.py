"""C's arithmetic type rules over a program's type table, plus the types expressions derive.

An expression needs types the DWARF may not hold: ``&x`` is a pointer to x's type,
``arr[2]@4`` an array of 4, ``1`` an int. They go into an *overlay* on top of the
program's table, so compiling never mutates the shared :class:`Program` and ids of the
program's own types stay valid in both tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    PointerType,
    Qualified,
    Type,
    TypeId,
    TypeTable,
    UnsupportedType,
)


class _Chain:
    """A list view: the program's types followed by the overlay's own."""

    __slots__ = ("base", "extra")

    def __init__(self, base: list[Type]):
        self.base = base
        self.extra: list[Type] = []

    def __getitem__(self, i: int) -> Type:
        n = len(self.base)
        return self.base[i] if i < n else self.extra[i - n]

    def __len__(self) -> int:
        return len(self.base) + len(self.extra)

    def append(self, t: Type) -> None:
        self.extra.append(t)

    def __iter__(self) -> Iterator[Type]:
        yield from self.base
        yield from self.extra


# Standard C spellings a cast may use even when the program's DWARF never mentions them.
_STANDARD = {
    "char": (1, Encoding.SIGNED_CHAR),
    "signed char": (1, Encoding.SIGNED_CHAR),
    "unsigned char": (1, Encoding.UNSIGNED_CHAR),
    "short int": (2, Encoding.SIGNED),
    "short unsigned int": (2, Encoding.UNSIGNED),
    "int": (None, Encoding.SIGNED),
    "unsigned int": (None, Encoding.UNSIGNED),
    "long int": ("long", Encoding.SIGNED),
    "long unsigned int": ("long", Encoding.UNSIGNED),
    "long long int": (8, Encoding.SIGNED),
    "long long unsigned int": (8, Encoding.UNSIGNED),
    "float": (4, Encoding.FLOAT),
    "double": ("double", Encoding.FLOAT),
    "_Bool": (1, Encoding.BOOL),
    "bool": (1, Encoding.BOOL),
    "int8_t": (1, Encoding.SIGNED_CHAR),
    "uint8_t": (1, Encoding.UNSIGNED_CHAR),
    "int16_t": (2, Encoding.SIGNED),
    "uint16_t": (2, Encoding.UNSIGNED),
    "int32_t": (4, Encoding.SIGNED),
    "uint32_t": (4, Encoding.UNSIGNED),
    "int64_t": (8, Encoding.SIGNED),
    "uint64_t": (8, Encoding.UNSIGNED),
}
_SPELLINGS = {
    "unsigned": "unsigned int",
    "signed": "int",
    "signed int": "int",
    "short": "short int",
    "signed short": "short int",
    "signed short int": "short int",
    "short signed int": "short int",
    "unsigned short": "short unsigned int",
    "unsigned short int": "short unsigned int",
    "long": "long int",
    "signed long": "long int",
    "signed long int": "long int",
    "unsigned long": "long unsigned int",
    "unsigned long int": "long unsigned int",
    "long long": "long long int",
    "signed long long": "long long int",
    "signed long long int": "long long int",
    "unsigned long long": "long long unsigned int",
    "unsigned long long int": "long long unsigned int",
    "long unsigned": "long unsigned int",
    "char signed": "signed char",
    "char unsigned": "unsigned char",
}


class TypeModel:
    """The program's types plus derived ones, and C's conversion rules."""

    def __init__(self, base: TypeTable, word_size: int, machine: str = ""):
        self.base = base
        self.table = TypeTable(types=_Chain(base.types), by_name=base.by_name)  # type: ignore[arg-type]
        self.word_size = word_size
        self.machine = machine
        self._memo: dict[tuple, TypeId] = {}

    def _add(self, key: tuple, t: Type) -> TypeId:
        tid = self._memo.get(key)
        if tid is None:
            tid = self.table.add(t)
            self._memo[key] = tid
        return tid

    # -- derived types ------------------------------------------------------------------------
    def pointer_to(self, tid: TypeId | None) -> TypeId:
        return self._add(("ptr", tid), PointerType(tid, self.word_size))

    def array_of(self, tid: TypeId, count: int) -> TypeId:
        return self._add(("arr", tid, count), ArrayType(tid, count))

    def qualified(self, tid: TypeId | None, qualifier: str) -> TypeId:
        return self._add(("q", tid, qualifier), Qualified(qualifier, tid))

    def function(self) -> TypeId:
        return self._add(("fn",), FunctionType(None))

    def raw(self, name: str, size: int | None, note: str) -> TypeId:
        return self._add(("raw", name, size), UnsupportedType(name, size, note))

    # -- named types --------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        norm = " ".join(name.split())
        return _SPELLINGS.get(norm, norm)

    def named(self, name: str) -> TypeId | None:
        """A type by the name a cast uses; standard C names work even when the DWARF lacks them."""
        canon = self.canonical(name)
        for cand in (name, canon):
            tid = self.base.by_name.get(cand)
            if tid is not None:
                return tid
        spec = _STANDARD.get(canon)
        if spec is None:
            return None
        size, enc = spec
        return self._add(("std", canon), BaseType(canon, self._size(size), enc))

    def _size(self, size: int | str | None) -> int:
        if size is None:  # int
            return 2 if self.word_size == 2 else 4
        if size == "long":
            return 8 if self.word_size == 8 else 4
        if size == "double":
            return 4 if self.machine.upper() == "AVR" else 8
        assert isinstance(size, int)
        return size

    def int_type(self, size: int, signed: bool) -> TypeId:
        """The standard integer type of a given width (int preferred, then long, long long)."""
        for name in ("int", "long int", "long long int", "short int", "signed char"):
            canon = (
                name
                if signed
                else {"int": "unsigned int", "signed char": "unsigned char"}.get(
                    name, name.replace(" int", " unsigned int")
                )
            )
            tid = self.named(canon)
            if tid is not None and self.table.sizeof(tid) == size:
                return tid
        return self._add(
            ("int", size, signed),
            BaseType(
                f"{'' if signed else 'u'}int{size * 8}_t",
                size,
                Encoding.SIGNED if signed else Encoding.UNSIGNED,
            ),
        )

    def int_t(self) -> TypeId:
        return self.named("int")  # type: ignore[return-value]

    def size_t(self) -> TypeId:
        return self.int_type(self.word_size, False)

    def ptrdiff_t(self) -> TypeId:
        return self.int_type(self.word_size, True)

    # -- classification -----------------------------------------------------------------------
    def kind(self, tid: TypeId | None) -> str:
        """'int', 'float', 'pointer', 'array', 'struct', 'function', 'void' or 'other'."""
        t = self.table.resolved(tid)
        if isinstance(t, BaseType):
            if t.encoding == Encoding.FLOAT:
                return "float"
            if t.encoding in (Encoding.COMPLEX, Encoding.OTHER):
                return "other"
            return "int"
        if isinstance(t, EnumType):
            return "int"
        if isinstance(t, PointerType):
            return "pointer"
        if isinstance(t, ArrayType):
            return "array"
        if isinstance(t, FunctionType):
            return "function"
        if t.__class__.__name__ == "VoidType":
            return "void"
        if t.__class__.__name__ in ("StructType", "VariantType"):
            return "struct"
        return "other"

    def int_info(self, tid: TypeId | None) -> tuple[int, bool]:
        """(bits, signed) of an integer-like type."""
        t = self.table.resolved(tid)
        if isinstance(t, BaseType):
            return t.size * 8, t.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)
        if isinstance(t, EnumType):
            return t.size * 8, t.signed
        if isinstance(t, PointerType):
            return t.size * 8, False
        return self.word_size * 8, False

    def promote(self, tid: TypeId) -> TypeId:
        """C integer promotion: anything narrower than int (and enums, bools) becomes int."""
        if self.kind(tid) != "int":
            return tid
        bits, signed = self.int_info(tid)
        t = self.table.resolved(tid)
        int_bits = self.table.sizeof(self.int_t()) * 8  # type: ignore[operator]
        if (
            bits < int_bits
            or isinstance(t, EnumType)
            or (isinstance(t, BaseType) and t.encoding == Encoding.BOOL)
        ):
            return self.int_t() if bits <= int_bits else self.int_type(bits // 8, signed)
        if bits == int_bits and not signed:
            return self.int_type(bits // 8, False)
        return self.int_type(bits // 8, signed)

    def common(self, a: TypeId, b: TypeId) -> TypeId:
        """C's usual arithmetic conversions."""
        ka, kb = self.kind(a), self.kind(b)
        if ka == "float" or kb == "float":
            if ka == kb:
                return a if (self.table.sizeof(a) or 0) >= (self.table.sizeof(b) or 0) else b
            return a if ka == "float" else b
        a, b = self.promote(a), self.promote(b)
        (ba, sa), (bb, sb) = self.int_info(a), self.int_info(b)
        if sa == sb:
            return a if ba >= bb else b
        signed_t, signed_bits, uns_t, uns_bits = (a, ba, b, bb) if sa else (b, bb, a, ba)
        if uns_bits >= signed_bits:
            return uns_t
        return signed_t

    def normalize(self, tid: TypeId, value: int | float) -> int | float:
        """``value`` converted to ``tid`` as C would store it (wrapping, float rounding)."""
        k = self.kind(tid)
        if k == "float":
            size = self.table.sizeof(tid)
            v = float(value)
            if size == 4:
                import struct

                try:
                    v = struct.unpack("<f", struct.pack("<f", v))[0]
                except OverflowError:
                    v = float("inf") if v > 0 else float("-inf")
            return v
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return 0
            value = int(value)
        t = self.table.resolved(tid)
        if isinstance(t, BaseType) and t.encoding == Encoding.BOOL:
            return int(bool(value))
        bits, signed = self.int_info(tid)
        value &= (1 << bits) - 1
        if signed and value >> (bits - 1):
            value -= 1 << bits
        return value
