"""Value codec: display of every kind of type, and parsing user literals for writes."""

from __future__ import annotations

import math
import struct

import pytest

from firmwatch.symbols.codec import CodecError, decode, encode_bitfield, encode_literal
from firmwatch.symbols.types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    Member,
    PointerType,
    StructType,
    Typedef,
    TypeTable,
    UnsupportedType,
    Variant,
    VariantType,
)
from test_expr import RAM, build_program


def table() -> tuple[TypeTable, dict[str, int]]:
    t = TypeTable()
    ids: dict[str, int] = {}

    def add(key: str, ty: object) -> int:
        ids[key] = t.add(ty)  # type: ignore[arg-type]
        return ids[key]

    add("u8", Typedef("uint8_t", add("uchar", BaseType("unsigned char", 1, Encoding.UNSIGNED_CHAR))))
    add("i8", Typedef("int8_t", add("schar", BaseType("signed char", 1, Encoding.SIGNED_CHAR))))
    add("i16", BaseType("short int", 2, Encoding.SIGNED))
    add("u16", BaseType("short unsigned int", 2, Encoding.UNSIGNED))
    add("i32", BaseType("int", 4, Encoding.SIGNED))
    add("u32", BaseType("unsigned int", 4, Encoding.UNSIGNED))
    add("i64", BaseType("long long int", 8, Encoding.SIGNED))
    add("u64", BaseType("long long unsigned int", 8, Encoding.UNSIGNED))
    add("f32", BaseType("float", 4, Encoding.FLOAT))
    add("f64", BaseType("double", 8, Encoding.FLOAT))
    add("f80", BaseType("long double", 16, Encoding.FLOAT))
    add("bool", BaseType("_Bool", 1, Encoding.BOOL))
    add("char", BaseType("char", 1, Encoding.SIGNED_CHAR))
    add("c16", BaseType("char16_t", 2, Encoding.UTF))
    add("cplx", BaseType("complex float", 8, Encoding.COMPLEX))
    add("mode", EnumType("mode", 1, False, (("OFF", 0), ("ON", 1), ("AUTO", 5))))
    add("flags", EnumType("flags", 4, False, (("F_A", 1), ("F_B", 2), ("F_C", 4))))
    add("senum", EnumType("dir", 1, True, (("LEFT", -1), ("RIGHT", 1))))
    add("str", ArrayType(ids["char"], 8))
    add("str32", ArrayType(ids["char"], 32))
    add("ints", ArrayType(ids["i32"], 12))
    add("matrix", ArrayType(add("row", ArrayType(ids["i16"], 2)), 2))
    add("ptr", PointerType(ids["i32"], 4))
    add("ptr16", PointerType(ids["i32"], 2))
    add("raw", UnsupportedType("weird", 3, "unsupported DWARF tag DW_TAG_foo"))
    add(
        "bits",
        StructType(
            "struct",
            "bits",
            4,
            (
                Member("a", 0, ids["u32"], bit_size=3, bit_offset=0),
                Member("b", 0, ids["i32"], bit_size=5, bit_offset=3),
                Member("c", 1, ids["u32"], bit_size=12, bit_offset=8),
            ),
        ),
    )
    add("vstruct", StructType("struct", "Some", 8, (Member("__0", 4, ids["i32"]),)))
    add("nonestruct", StructType("struct", "None", 8, ()))
    add(
        "option",
        VariantType(
            "Option<i32>",
            8,
            0,
            4,
            False,
            (Variant(0, "None", ids["nonestruct"]), Variant(1, "Some", ids["vstruct"])),
        ),
    )
    return t, ids


T, IDS = table()


def show(key: str, raw: bytes, byteorder: str = "little", **kw: object) -> str:
    return decode(T, IDS[key], raw, byteorder=byteorder, word_size=4).display(**kw)  # type: ignore[arg-type]


def enc(key: str, text: str, byteorder: str = "little") -> bytes:
    return encode_literal(T, IDS[key], text, byteorder=byteorder, word_size=4)


# -- display ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "raw", "shown"),
    [
        ("u8", b"\xff", "255 '\\377'"),
        ("i8", b"\xff", "-1 '\\377'"),
        ("char", b"A", "65 'A'"),
        ("char", b"'", "39 '\\''"),
        ("char", b"\0", "0 '\\000'"),
        ("i16", b"\x00\x80", "-32768"),
        ("u16", b"\x00\x80", "32768"),
        ("i32", b"\xff\xff\xff\xff", "-1"),
        ("u64", b"\xff" * 8, "18446744073709551615"),
        ("i64", b"\x00" * 7 + b"\x80", "-9223372036854775808"),
        ("f32", struct.pack("<f", 0.1), "0.1"),
        ("f32", struct.pack("<f", 3.14159274), "3.1415927"),
        ("f64", struct.pack("<d", 1e300), "1e+300"),
        ("f64", struct.pack("<d", -0.0), "-0"),
        ("f64", struct.pack("<d", math.inf), "inf"),
        ("f32", struct.pack("<I", 0x7FC00001), "nan(0x400001)"),
        ("f32", struct.pack("<I", 0xFFC00000), "-nan(0x400000)"),
        ("bool", b"\x01", "true"),
        ("bool", b"\x00", "false"),
        ("bool", b"\x02", "2"),
        ("mode", b"\x05", "AUTO"),
        ("mode", b"\x03", "3"),
        ("flags", b"\x05\0\0\0", "(F_A | F_C)"),
        ("flags", b"\x0a\0\0\0", "(F_B | unknown: 0x8)"),
        ("flags", b"\0\0\0\0", "0"),
        ("senum", b"\xff", "LEFT"),
        ("c16", b"A\0", "65 u'A'"),
        ("str", b"ab\0\0\0\0\0\0", '"ab\\000\\000\\000\\000\\000"'),
        ("str", b"abcdefgh", '"abcdefgh"'),
        ("str", b"\0" * 8, '"\\000\\000\\000\\000\\000\\000\\000"'),
        ("str32", b"hello" + b"\0" * 27, "\"hello\", '\\000' <repeats 26 times>"),
        (
            "str32",
            b"\x01" * 12 + b"x" + b"\0" * 19,
            "'\\001' <repeats 12 times>, \"x\", '\\000' <repeats 18 times>",
        ),
        ("ints", struct.pack("<12i", *([0] * 12)), "{0 <repeats 12 times>}"),
        ("ints", struct.pack("<12i", 1, 2, *([7] * 10)), "{1, 2, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}"),
        ("ints", struct.pack("<12i", 1, *([7] * 11)), "{1, 7 <repeats 11 times>}"),
        ("matrix", struct.pack("<4h", 1, 2, 3, 4), "{{1, 2}, {3, 4}}"),
        ("ptr", struct.pack("<I", 0x20000010), "0x20000010"),
        ("ptr", b"\0\0\0\0", "0x0"),
        ("ptr16", b"\x34\x12", "0x1234"),
        ("raw", b"\x01\x02\x03", "<01 02 03>"),
        ("cplx", struct.pack("<ff", 1.5, -2), "1.5 + -2i"),
        ("bits", bytes([0b11111_101, 0x34, 0x12, 0xFF]), "{a = 5, b = -1, c = 564}"),
        ("option", struct.pack("<Ii", 1, 42), "Option<i32>::Some(42)"),
        ("option", struct.pack("<Ii", 0, 42), "Option<i32>::None"),
    ],
)
def test_display(key, raw, shown):
    assert show(key, raw) == shown


def test_display_big_endian():
    assert show("i32", b"\xff\xff\xff\xfe", "big") == "-2"
    assert show("f64", struct.pack(">d", 2.5), "big") == "2.5"
    assert show("ptr", struct.pack(">I", 0x20000010), "big") == "0x20000010"
    # big-endian bit numbering: a = top 3 bits of byte 0
    assert show("bits", bytes([0b101_11111, 0x12, 0x34, 0xFF]), "big") == "{a = 5, b = -1, c = 291}"


def test_long_double_x87():
    raw = (0x3FFF << 64 | 0xC000000000000000).to_bytes(16, "little")  # 1.5
    assert show("f80", raw) == "1.5"
    assert enc("f80", "1.5")[:10] == raw[:10]


def test_print_elements_limit():
    t = TypeTable()
    i32 = t.add(BaseType("int", 4, Encoding.SIGNED))
    arr = t.add(ArrayType(i32, 300))
    text = decode(t, arr, struct.pack("<300i", *range(300)), byteorder="little", word_size=4).display()
    assert text.startswith("{0, 1, 2") and text.endswith("198, 199...}")


def test_hex_format_everywhere():
    assert (
        show("bits", bytes([0b11111_101, 0x34, 0x12, 0xFF]), hex=True)
        == "{a = 0x5, b = 0xffffffff, c = 0x234}"
    )
    assert show("ints", struct.pack("<12i", *([255] * 12)), hex=True) == "{0xff <repeats 12 times>}"
    assert show("i8", b"\xfe", format="x") == "0xfe"
    assert show("f32", struct.pack("<f", 1.5), format="x") == "0x3fc00000"  # gdb's /x: the bits
    assert show("f32", struct.pack("<f", 1.5), hex=True) == "1.5"  # the UI toggle leaves floats alone
    assert show("i8", b"\xfe", hex=True) == "0xfe"
    assert show("i8", b"\xfe", format="u") == "254"
    assert show("u8", b"\xfe", format="d") == "-2"
    assert show("i32", struct.pack("<i", 5), format="b") == "0b101"
    assert show("i32", struct.pack("<i", 8), format="o") == "010"
    assert show("i32", struct.pack("<i", 0), format="o") == "0"


def test_scalars_and_children():
    v = decode(
        T,
        IDS["bits"],
        bytes([0b11111_101, 0x34, 0x12, 0xFF]),
        byteorder="little",
        word_size=4,
        address=RAM,
        expression="s",
    )
    assert [(c.name, c.value.scalar, c.evaluate_name) for c in v.children()] == [
        ("a", 5, "s.a"),
        ("b", -1, "s.b"),
        ("c", 0x234, "s.c"),
    ]
    assert v.scalar is None and v.is_aggregate
    assert decode(T, IDS["f32"], struct.pack("<f", 1.5), byteorder="little", word_size=4).scalar == 1.5
    assert decode(T, IDS["bool"], b"\x01", byteorder="little", word_size=4).scalar is True
    assert decode(T, IDS["str"], b"ok\0zzzzz", byteorder="little", word_size=4).scalar == "ok"
    short = decode(T, IDS["i32"], b"\x01", byteorder="little", word_size=4)
    assert short.note == "only 1 of 4 bytes available" and short.scalar is None
    raw = decode(T, IDS["raw"], b"\x01\x02\x03", byteorder="little", word_size=4)
    assert raw.note == "unsupported DWARF tag DW_TAG_foo: raw bytes"


def test_program_symbolizes_pointers():
    program, mem, ids = build_program()
    v = decode(program, ids.int_ptr, struct.pack("<I", RAM + 0x4C))
    assert v.display() == f"0x{RAM + 0x4C:x} <pcount>"


# -- encode_literal -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "text", "raw"),
    [
        ("u8", "255", b"\xff"),
        ("u8", "0xff", b"\xff"),
        ("u8", "0b101", b"\x05"),
        ("u8", "017", b"\x0f"),
        ("u8", "'A'", b"A"),
        ("u8", "'\\n'", b"\n"),
        ("u8", "'\\x7f'", b"\x7f"),
        ("u8", "65 'A'", b"A"),
        ("i8", "-128", b"\x80"),
        ("i8", "0xff", b"\xff"),  # a bit pattern, as register values are written
        ("i16", "-2", b"\xfe\xff"),
        ("u32", "4294967295", b"\xff\xff\xff\xff"),
        ("u32", "42u", b"\x2a\0\0\0"),
        ("i64", "-9223372036854775808", b"\0" * 7 + b"\x80"),
        ("u64", "0xFFFF'FFFF'FFFF'FFFF", b"\xff" * 8),
        ("f32", "1.5", struct.pack("<f", 1.5)),
        ("f32", "1.5f", struct.pack("<f", 1.5)),
        ("f32", "-2", struct.pack("<f", -2)),
        ("f32", "1e-3", struct.pack("<f", 1e-3)),
        ("f64", "inf", struct.pack("<d", math.inf)),
        ("f64", "-inf", struct.pack("<d", -math.inf)),
        ("f32", "nan(0x400001)", struct.pack("<I", 0x7FC00001)),
        ("f32", "-nan(0x400000)", struct.pack("<I", 0xFFC00000)),
        ("bool", "true", b"\x01"),
        ("bool", "false", b"\x00"),
        ("bool", "1", b"\x01"),
        ("mode", "AUTO", b"\x05"),
        ("mode", "3", b"\x03"),
        ("flags", "(F_A | F_C)", b"\x05\0\0\0"),
        ("flags", "(F_B | unknown: 0x8)", b"\x0a\0\0\0"),
        ("senum", "LEFT", b"\xff"),
        ("ptr", "0x20000010", struct.pack("<I", 0x20000010)),
        ("ptr", "0x20000010 <counter>", struct.pack("<I", 0x20000010)),
        ("ptr", "(int *) 0x20000010 <counter>", struct.pack("<I", 0x20000010)),
        ("ptr", "NULL", b"\0\0\0\0"),
        ("ptr16", "0xffff", b"\xff\xff"),
        ("str", '"hi"', b"hi\0\0\0\0\0\0"),
        ("str", '"a\\tb\\000c"', b"a\tb\0c\0\0\0"),
        ("str32", "\"hello\", '\\000' <repeats 26 times>", b"hello" + b"\0" * 27),
        ("c16", "'A'", b"A\0"),
    ],
)
def test_encode_literal(key, text, raw):
    assert enc(key, text) == raw


def test_encode_big_endian():
    assert enc("i32", "-2", "big") == b"\xff\xff\xff\xfe"
    assert enc("f64", "2.5", "big") == struct.pack(">d", 2.5)
    assert enc("ptr16", "0x1234", "big") == b"\x12\x34"


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("u8", "300", "300 does not fit in uint8_t (0..255)"),
        ("u8", "-1", "-1 does not fit in uint8_t (0..255)"),
        ("i8", "128", "128 does not fit in int8_t (-128..127)"),
        ("i8", "0x100", "0x100 does not fit in int8_t (-128..127)"),
        (
            "u64",
            "18446744073709551616",
            "18446744073709551616 does not fit in long long unsigned int (0..18446744073709551615)",
        ),
        ("u8", "1.5", "1.5 is not a whole number; the target type holds integers only"),
        ("u8", "abc", "'abc' is not an integer: use decimal, 0x hex, 0b binary, 0 octal or 'c'"),
        ("u8", "", "the value is empty: type a number, a name or a literal"),
        ("f32", "1e39", "1e39 does not fit in float (largest 3.4028235e+38)"),
        ("f32", "fast", "'fast' is not a number; write e.g. 1.5, -2e-3, inf or nan"),
        ("mode", "BOOST", "'BOOST' is not a value of enum mode (values: OFF, ON, AUTO)"),
        ("mode", "256", "256 does not fit in enum mode (0..255)"),
        ("ptr", "0x100000000", "0x100000000 does not fit in int * (0..0xffffffff)"),
        ("ptr", "&counter", "cannot look up 'counter' without the program; write the address as a number"),
        ("str", '"too long text"', "the text is 13 bytes but char [8] holds 8"),
        ("str", "hi", 'write a char [8] as a string in double quotes, e.g. "hello"'),
        ("bits", "{a = 1}", "cannot write a whole struct bits: write its members or elements one at a time"),
        ("u8", "'ab'", "'ab' holds more than one character; use a string for text."),
    ],
)
def test_encode_errors(key, text, message):
    with pytest.raises(CodecError) as info:
        enc(key, text)
    assert str(info.value) == message


def test_encode_symbols_with_program():
    program, _, ids = build_program()
    assert encode_literal(program, ids.int_ptr, "&counter") == struct.pack("<I", RAM + 0x48)
    assert encode_literal(program, ids.int_ptr, "main") == struct.pack("<I", 0x08000201)
    assert encode_literal(program, ids.int_ptr, "&'b.c'::dup") == struct.pack("<I", RAM + 0x54)
    with pytest.raises(CodecError, match="no symbol 'nothere' in the ELF"):
        encode_literal(program, ids.int_ptr, "&nothere")


def test_encode_bitfield_keeps_neighbours():
    container = bytes([0b11111_101, 0x34, 0x12, 0xFF])
    out = encode_bitfield(T, IDS["i32"], container, 3, 5, "-16", byteorder="little", word_size=4)
    assert out == bytes([0b10000_101, 0x34, 0x12, 0xFF])
    with pytest.raises(CodecError, match=r"16 does not fit in a 5-bit signed bitfield \(-16\.\.15\)"):
        encode_bitfield(T, IDS["i32"], container, 3, 5, "16", byteorder="little", word_size=4)
    out = encode_bitfield(T, IDS["u32"], container, 8, 12, "0xabc", byteorder="big", word_size=4)
    assert out == bytes([0b11111_101, 0xAB, 0xC2, 0xFF])


def test_constant_expressions_as_literals():
    program, _, ids = build_program()
    assert encode_literal(program, ids.int, "1 << 4") == struct.pack("<i", 16)
    assert encode_literal(program, ids.mode, "MODE_ON") == struct.pack("<I", 1)
    assert encode_literal(program, ids.int_ptr, "&accels[1]") == struct.pack("<I", RAM + 0x16)
    assert encode_literal(program, ids.float, "1.0 / 4") == struct.pack("<f", 0.25)
    assert encode_literal(program, ids.u8, "sizeof(sensor)") == b"\x06"
    with pytest.raises(CodecError, match="300 does not fit in uint8_t"):
        encode_literal(program, ids.u8, "300")
    with pytest.raises(CodecError, match="is not an integer"):
        encode_literal(program, ids.u8, "counter + 1")  # reads memory: not a literal


def test_avr_pointers_live_in_two_address_spaces():
    from firmwatch.symbols.program import ElfInfo, Program, Symbol
    from firmwatch.symbols.types import FunctionType

    t = TypeTable()
    i16 = t.add(BaseType("int", 2, Encoding.SIGNED))
    data_ptr = t.add(PointerType(i16, 2))
    code_ptr = t.add(PointerType(t.add(FunctionType(None)), 2))
    elf = ElfInfo("avr.elf", "AVR", 32, "little", 2, 0, "00", "gnu")
    symbols = [
        Symbol("counter", "counter", 0x800100, 2, "object", "global", ".data"),
        Symbol("on_tick", "on_tick", 0xA6, 8, "function", "global", ".text"),
    ]
    program = Program(elf=elf, types=t, variables=[], symbols=symbols)
    assert decode(program, data_ptr, b"\x00\x01").display() == "0x800100 <counter>"
    assert decode(program, code_ptr, b"\x53\x00").display() == "0xa6 <on_tick>"
    assert decode(program, data_ptr, b"\x00\x00").display() == "0x0"
    assert encode_literal(program, data_ptr, "0x800100 <counter>") == b"\x00\x01"
    assert encode_literal(program, data_ptr, "&counter") == b"\x00\x01"
    assert encode_literal(program, code_ptr, "on_tick") == b"\x53\x00"
    assert encode_literal(program, code_ptr, "0xa6 <on_tick>") == b"\x53\x00"
