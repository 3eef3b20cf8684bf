"""Property tests: whatever bytes a target holds, the text we show writes back the same bytes.

For every base type in both byte orders: ``encode_literal(display(decode(raw))) == raw``,
in the default format and in hex; bitfields round-trip without touching their neighbours.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmwatch.symbols.codec import CodecError, decode, encode_bitfield, encode_literal
from firmwatch.symbols.program import ElfInfo, Program, Symbol
from firmwatch.symbols.types import (
    BaseType,
    Encoding,
    EnumType,
    Member,
    PointerType,
    StructType,
    Typedef,
    TypeTable,
)

BYTEORDERS = ("little", "big")

t = TypeTable()
BASE = {
    "int8_t": t.add(Typedef("int8_t", t.add(BaseType("signed char", 1, Encoding.SIGNED_CHAR)))),
    "uint8_t": t.add(Typedef("uint8_t", t.add(BaseType("unsigned char", 1, Encoding.UNSIGNED_CHAR)))),
    "char": t.add(BaseType("char", 1, Encoding.SIGNED_CHAR)),
    "int16_t": t.add(BaseType("short int", 2, Encoding.SIGNED)),
    "uint16_t": t.add(BaseType("short unsigned int", 2, Encoding.UNSIGNED)),
    "int32_t": t.add(BaseType("int", 4, Encoding.SIGNED)),
    "uint32_t": t.add(BaseType("unsigned int", 4, Encoding.UNSIGNED)),
    "int64_t": t.add(BaseType("long long int", 8, Encoding.SIGNED)),
    "uint64_t": t.add(BaseType("long long unsigned int", 8, Encoding.UNSIGNED)),
    "float": t.add(BaseType("float", 4, Encoding.FLOAT)),
    "double": t.add(BaseType("double", 8, Encoding.FLOAT)),
    "char16_t": t.add(BaseType("char16_t", 2, Encoding.UTF)),
    "char32_t": t.add(BaseType("char32_t", 4, Encoding.UTF)),
}
INTEGERS = [k for k in BASE if k not in ("float", "double")]
BOOL = t.add(BaseType("_Bool", 1, Encoding.BOOL))
ENUMS = {
    "plain": t.add(EnumType("state", 4, False, (("IDLE", 0), ("RUN", 1), ("STOP", 2), ("ERR", 3)))),
    "flags": t.add(EnumType("flags", 2, False, (("F_A", 1), ("F_B", 2), ("F_C", 0x40)))),
    "signed": t.add(EnumType("dir", 1, True, (("LEFT", -1), ("NONE", 0), ("RIGHT", 1)))),
}
POINTERS = {size: t.add(PointerType(BASE["int32_t"], size)) for size in (2, 4, 8)}


def sizeof(tid: int) -> int:
    size = t.sizeof(tid)
    assert size is not None
    return size


def round_trip(tid: int, raw: bytes, byteorder: str, word_size: int = 4, **display: object) -> None:
    text = decode(t, tid, raw, byteorder=byteorder, word_size=word_size).display(**display)  # type: ignore[arg-type]
    back = encode_literal(t, tid, text, byteorder=byteorder, word_size=word_size)
    assert back == raw, f"{t.name(tid)}: {raw.hex()} shown as {text!r} wrote back {back.hex()}"


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@pytest.mark.parametrize("name", list(BASE))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_base_types_round_trip(name, byteorder, data):
    tid = BASE[name]
    raw = data.draw(st.binary(min_size=sizeof(tid), max_size=sizeof(tid)))
    round_trip(tid, raw, byteorder)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@pytest.mark.parametrize("fmt", ["x", "o", "b", "d", "u"])
@pytest.mark.parametrize("name", INTEGERS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_integer_formats_round_trip(name, fmt, byteorder, data):
    tid = BASE[name]
    raw = data.draw(st.binary(min_size=sizeof(tid), max_size=sizeof(tid)))
    text = decode(t, tid, raw, byteorder=byteorder, word_size=4).display(format=fmt)
    signed = t.resolved(tid).encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)  # type: ignore[union-attr]
    top_bit = raw[0 if byteorder == "big" else -1] & 0x80
    if top_bit and ((fmt == "u" and signed) or (fmt == "d" and not signed)):
        # reading a value with the other signedness gives a number outside the type: refused, never wrapped
        with pytest.raises(CodecError, match="does not fit in"):
            encode_literal(t, tid, text, byteorder=byteorder, word_size=4)
        return
    back = encode_literal(t, tid, text, byteorder=byteorder, word_size=4)
    assert back == raw, f"{name} {fmt}: {raw.hex()} shown as {text!r}"


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@given(value=st.floats(width=32, allow_nan=False) | st.floats(width=32))
def test_float_values_round_trip(byteorder, value):
    raw = struct.pack(("<" if byteorder == "little" else ">") + "f", value)
    round_trip(BASE["float"], raw, byteorder)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@given(value=st.floats())
def test_double_values_round_trip(byteorder, value):
    raw = struct.pack(("<" if byteorder == "little" else ">") + "d", value)
    round_trip(BASE["double"], raw, byteorder)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@given(value=st.integers(0, 255))
def test_bool_round_trip(byteorder, value):
    round_trip(BOOL, bytes([value]), byteorder)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@pytest.mark.parametrize("kind", list(ENUMS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_enums_round_trip(kind, byteorder, data):
    tid = ENUMS[kind]
    raw = data.draw(st.binary(min_size=sizeof(tid), max_size=sizeof(tid)))
    round_trip(tid, raw, byteorder)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@pytest.mark.parametrize("size", [2, 4, 8])
@given(data=st.data())
def test_pointers_round_trip(size, byteorder, data):
    raw = data.draw(st.binary(min_size=size, max_size=size))
    round_trip(POINTERS[size], raw, byteorder, word_size=size)


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@given(data=st.data())
def test_symbolized_pointers_round_trip(byteorder, data):
    """'0x20000010 <buf+16>' as shown for a program writes back the address, not the symbol."""
    elf = ElfInfo("x.elf", "ARM", 32, byteorder, 4, 0, "00", "gnu")
    symbols = [Symbol("buf", "buf", 0x20000000, 64, "object", "global", ".bss")]
    program = Program(elf=elf, types=t, variables=[], symbols=symbols)
    address = data.draw(st.integers(0x1FFFFFF0, 0x20000050))
    raw = address.to_bytes(4, byteorder)
    text = decode(program, POINTERS[4], raw).display()
    if 0x20000000 <= address < 0x20000040:
        assert "<buf" in text
    assert encode_literal(program, POINTERS[4], text) == raw


@pytest.mark.parametrize("byteorder", BYTEORDERS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_bitfields_round_trip(byteorder, data):
    signed = data.draw(st.booleans())
    base = BASE["int32_t" if signed else "uint32_t"]
    bit_size = data.draw(st.integers(1, 32))
    bit_offset = data.draw(st.integers(0, 64 - bit_size))
    struct_tid = t.add(
        StructType("struct", "s", 8, (Member("f", bit_offset // 8, base, bit_size, bit_offset),))
    )
    container = data.draw(st.binary(min_size=8, max_size=8))
    field = decode(t, struct_tid, container, byteorder=byteorder, word_size=4).children()[0].value
    for fmt in (None, "x"):
        text = field.display(format=fmt)
        if fmt == "x" and signed:
            continue  # a hex pattern of a signed field is wider than the field
        # writing the shown value into any other container changes only the field's bits
        other = data.draw(st.binary(min_size=8, max_size=8))
        written = encode_bitfield(
            t, base, other, bit_offset, bit_size, text, byteorder=byteorder, word_size=4
        )
        mask = ((1 << bit_size) - 1) << (bit_offset if byteorder == "little" else 64 - bit_offset - bit_size)
        as_int = lambda b: int.from_bytes(b, byteorder)  # noqa: E731
        assert as_int(written) & ~mask == as_int(other) & ~mask
        assert as_int(written) & mask == as_int(container) & mask
        assert (
            encode_bitfield(t, base, container, bit_offset, bit_size, text, byteorder=byteorder, word_size=4)
            == container
        )
