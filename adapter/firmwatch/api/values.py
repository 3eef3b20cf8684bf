"""Decoded firmware values as plain Python values, and Python values as the literals a write takes.

A script wants numbers it can compare, not display strings: integers stay ``int`` (pointers
too: the address), floats ``float``, C ``bool`` a Python ``bool``, ``char`` arrays ``str``, enums an
:class:`EnumValue` (a ``str`` of the enumerator's name that also carries the number), structs and
unions a :class:`Struct` (a ``dict`` whose keys are also attributes), arrays a ``list``. What has
no faithful Python value (an unsupported DWARF type, a ``_Complex``) comes back as its raw
``bytes`` or display text; a value only partly read raises rather than pretend to be whole.

The other direction: :func:`literal` turns an ``int``/``float``/``bool``/``str``/:class:`EnumValue`
into the C literal text the session's checked write takes, so a script gets the CLI's checks
(range, type, const, read-back) and no second encoder.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from firmwatch.api.errors import ApiError
from firmwatch.session.access import CompiledAccess, Decoded
from firmwatch.symbols.types import ArrayType, BaseType, Encoding, EnumType, StructType, VariantType
from firmwatch.symbols.values import Value

PyValue: TypeAlias = "int | float | bool | str | bytes | complex | EnumValue | Struct | list[PyValue]"


class EnumValue(str):
    """An enumerator: compares equal to its name (``fsm_state == "FSM_IDLE"``); ``.value`` is the
    number. A number no enumerator has is its decimal text (gdb shows it so), ``.name`` None."""

    value: int
    type_name: str
    _known: bool

    def __new__(cls, text: str, value: int, type_name: str = "", known: bool = True) -> EnumValue:
        self = super().__new__(cls, text)
        self.value = value
        self.type_name = type_name
        self._known = known
        return self

    @property
    def name(self) -> str | None:
        return str(self) if self._known else None

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"EnumValue({str(self)!r}, {self.value})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EnumValue, (str(self), self.value, self.type_name, self._known))


class Struct(dict[str, Any]):
    """A struct or union: a mapping from member name to value whose members are also attributes
    (``cfg["calib"]["gain_q8"]`` or ``cfg.calib.gain_q8``). ``type_name`` is the C type."""

    type_name: str = ""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self.type_name or 'the struct'} has no member '{name}'") from None

    def __repr__(self) -> str:
        return f"Struct({self.type_name!r}, {dict.__repr__(self)})"


def to_python(value: Decoded) -> PyValue:
    """The Python value of one decoded firmware value (module docstring: the mapping)."""
    if isinstance(value, Value):
        return _from_value(value)
    s = value.scalar
    if isinstance(s, str) and not isinstance(s, EnumValue) and len(value.raw) not in (1, 2, 4, 8):
        return bytes(value.raw)  # a raw 0xADDR:SIZE watch of an odd size: its bytes, not their hex
    return s if s is not None else value.display()


def _from_value(v: Value) -> PyValue:
    if v.note and ("bytes available" in v.note or "outside the bytes read" in v.note or v.note.startswith("cannot read")):
        raise ApiError(f"{v.expression or v.type_name}: {v.note}; read it again, or read a smaller part of it.")
    t = v.ctx.types.resolved(v.type) if v.type is not None else None
    if isinstance(t, EnumType):
        n = int.from_bytes(v.raw[: t.size], v.ctx.byteorder, signed=t.signed)  # type: ignore[arg-type]
        return _enum(t, n, v.type_name)
    if isinstance(t, StructType | VariantType):
        out = Struct()
        out.type_name = v.type_name
        for child in v.children():
            if child.kind == "anonymous":  # members of an anonymous struct/union belong to the parent, as in C
                inner = _from_value(child.value)
                if isinstance(inner, dict):
                    out.update(inner)
                continue
            out[child.name] = _from_value(child.value)
        return out
    if isinstance(t, ArrayType):
        if _is_text(v, t):
            s = v.scalar
            if isinstance(s, str):
                return s  # a char array: its text up to the first NUL
        return [_from_value(c.value) for c in v.children()]
    if isinstance(t, BaseType) and t.encoding == Encoding.COMPLEX:
        half = t.size // 2
        from firmwatch.symbols.scalars import to_float

        return complex(to_float(v.raw[:half], v.ctx.byteorder, v.ctx.machine),
                       to_float(v.raw[half : 2 * half], v.ctx.byteorder, v.ctx.machine))
    s = v.scalar
    if s is None:
        return bytes(v.raw)  # no type we can decode (its display is "<xx xx ...>"): the bytes themselves
    return s


def _is_text(v: Value, t: ArrayType) -> bool:
    """A ``char`` array is text; ``uint8_t``/``unsigned char``/``signed char`` arrays are bytes of
    data, so numbers (gdb prints both as strings; a script wants ``[0, 1, 2, 3]``)."""
    et = v.ctx.types.resolved(t.element)
    return isinstance(et, BaseType) and et.name == "char"


def _enum(t: EnumType, n: int, type_name: str) -> EnumValue:
    for name, ev in t.enumerators:
        if ev == n:
            return EnumValue(name, n, type_name)
    return EnumValue(str(n), n, type_name, known=False)


# -- the fast path for a watch of one plain scalar -------------------------------------------------
Decoder = Callable[[Sequence[bytes]], PyValue]
_INT_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}


def fast_decoder(compiled: CompiledAccess, byteorder: str) -> Decoder | None:
    """A decoder straight from the sampled bytes for a watch of one integer, float, bool or enum
    (what a 1 kHz watch usually is), or None: then the full value tree decodes it. It gives the
    same value as :func:`to_python` (tests/test_api_values.py checks it on every demo scalar)."""
    from firmwatch.symbols.expr import CompiledExpression

    if not isinstance(compiled, CompiledExpression) or compiled.is_bitfield or not compiled.is_lvalue:
        return None
    regions = compiled.static_regions()
    if regions is None or len(regions) != 1 or compiled.type is None or compiled.size != regions[0].size:
        return None
    t = compiled.types.resolved(compiled.type)
    order = "<" if byteorder == "little" else ">"
    size = regions[0].size
    if isinstance(t, EnumType) and t.size == size and size in _INT_FMT:
        unpack = struct.Struct(order + (_INT_FMT[size] if t.signed else _INT_FMT[size].upper())).unpack
        names = {ev: name for name, ev in reversed(t.enumerators)}  # the first enumerator of a value wins
        type_name = compiled.type_name
        cache: dict[int, EnumValue] = {}

        def enum(chunks: Sequence[bytes]) -> PyValue:
            n: int = unpack(chunks[0])[0]
            ev = cache.get(n)
            if ev is None:
                name = names.get(n)
                ev = EnumValue(name, n, type_name) if name is not None else EnumValue(str(n), n, type_name, known=False)
                if len(cache) < 256:
                    cache[n] = ev
            return ev

        return enum
    if not isinstance(t, BaseType) or t.size != size:
        return None
    if t.encoding == Encoding.FLOAT and size in (4, 8):
        unpack = struct.Struct(order + ("f" if size == 4 else "d")).unpack
        return lambda chunks: unpack(chunks[0])[0]
    if t.encoding == Encoding.BOOL:
        return None  # C bools outside 0/1 keep their number: the tree decides
    if t.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR, Encoding.UNSIGNED, Encoding.UNSIGNED_CHAR) \
            and size in _INT_FMT:
        signed = t.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)
        unpack = struct.Struct(order + (_INT_FMT[size] if signed else _INT_FMT[size].upper())).unpack
        return lambda chunks: unpack(chunks[0])[0]
    return None


# -- Python value -> the literal text a write takes ------------------------------------------------
def literal(value: object, what: str) -> str:
    """The C literal the session's write takes for a Python scalar; ``what`` names the target in
    the one-sentence error for a value that has no literal."""
    if isinstance(value, EnumValue):
        return value.name if value.name is not None else str(value.value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return value  # an enumerator's name, a character literal, or any literal the CLI takes
    raise ApiError(f"cannot write a {type(value).__name__} to {what}; give a number, a bool, an enumerator's name, "
                   "a dict for a struct or a list for an array.")
