"""Expression compiler against a hand-built Program (every syntax form and every error path).

The program models a little-endian 32-bit MCU: RAM at 0x20000000, flash at 0x08000000.
``build_program`` is shared with the codec tests.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmwatch.symbols.codec import plan_write
from firmwatch.symbols.expr import ExpressionError, Region, compile_expression
from firmwatch.symbols.program import ElfInfo, Program, Section, Symbol, Variable
from firmwatch.symbols.types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    Member,
    PointerType,
    Qualified,
    StructType,
    Typedef,
    TypeTable,
)

RAM = 0x20000000
FLASH = 0x08000000


class Memory:
    """Target memory as a dict of byte arrays; reads outside them fail like a bus fault."""

    def __init__(self, byteorder: str = "little"):
        self.byteorder = byteorder
        self.spans: dict[int, bytearray] = {RAM: bytearray(0x200), FLASH: bytearray(0x200)}
        self.reads: list[tuple[int, int]] = []

    def _span(self, address: int, size: int) -> tuple[bytearray, int]:
        for base, data in self.spans.items():
            if base <= address and address + size <= base + len(data):
                return data, address - base
        raise OSError(f"cannot read 0x{address:x}")

    def read(self, address: int, size: int) -> bytes:
        self.reads.append((address, size))
        data, off = self._span(address, size)
        return bytes(data[off : off + size])

    def write(self, address: int, data: bytes) -> None:
        buf, off = self._span(address, len(data))
        buf[off : off + len(data)] = data

    def put(self, address: int, fmt: str, *values: object) -> None:
        self.write(address, struct.pack(("<" if self.byteorder == "little" else ">") + fmt, *values))


class Ids:
    pass


def build_program(byteorder: str = "little") -> tuple[Program, Memory, Ids]:
    t = TypeTable()
    ids = Ids()

    def named(name: str, ty: object) -> int:
        tid = t.add(ty)  # type: ignore[arg-type]
        t.by_name[name] = tid
        return tid

    ids.int = named("int", BaseType("int", 4, Encoding.SIGNED))
    ids.uint = named("unsigned int", BaseType("unsigned int", 4, Encoding.UNSIGNED))
    ids.uchar = named("unsigned char", BaseType("unsigned char", 1, Encoding.UNSIGNED_CHAR))
    ids.u8 = named("uint8_t", Typedef("uint8_t", ids.uchar))
    ids.short = named("short int", BaseType("short int", 2, Encoding.SIGNED))
    ids.i16 = named("int16_t", Typedef("int16_t", ids.short))
    ids.ushort = named("short unsigned int", BaseType("short unsigned int", 2, Encoding.UNSIGNED))
    ids.u16 = named("uint16_t", Typedef("uint16_t", ids.ushort))
    ids.u32 = named("uint32_t", Typedef("uint32_t", ids.uint))
    ids.float = named("float", BaseType("float", 4, Encoding.FLOAT))
    ids.double = named("double", BaseType("double", 8, Encoding.FLOAT))
    ids.char = named("char", BaseType("char", 1, Encoding.UNSIGNED_CHAR))
    ids.bool = named("_Bool", BaseType("_Bool", 1, Encoding.BOOL))
    ids.accel = named(
        "struct accel_t",
        StructType(
            "struct",
            "accel_t",
            6,
            (Member("x", 0, ids.i16), Member("y", 2, ids.i16), Member("w", 4, ids.i16)),
        ),
    )
    ids.accel_arr = t.add(ArrayType(ids.accel, 3))
    ids.accel_ptr = t.add(PointerType(ids.accel, 4))
    ids.mode = named(
        "enum mode", EnumType("mode", 4, False, (("MODE_OFF", 0), ("MODE_ON", 1), ("MODE_AUTO", 5)), ids.uint)
    )
    ids.flags = named(
        "struct flags_t",
        StructType(
            "struct",
            "flags_t",
            8,
            (
                Member("en", 0, ids.uint, bit_size=1, bit_offset=0),
                Member("level", 0, ids.uint, bit_size=3, bit_offset=1),
                Member("delta", 0, ids.int, bit_size=4, bit_offset=4),
                Member("id", 1, ids.u8),
                Member("mode", 4, ids.mode),
            ),
        ),
    )
    ids.name_arr = t.add(ArrayType(ids.char, 8))
    ids.int_ptr = t.add(PointerType(ids.int, 4))
    ids.cint = t.add(Qualified("const", ids.int))
    ids.table_arr = t.add(ArrayType(ids.cint, 4))
    ids.anon_union = t.add(
        StructType("union", None, 4, (Member("word", 0, ids.u32), Member("half", 0, ids.u16)))
    )
    ids.holder = named(
        "struct holder",
        StructType("struct", "holder", 8, (Member("tag", 0, ids.u8), Member(None, 4, ids.anon_union))),
    )
    ids.void_ptr = t.add(PointerType(None, 4))
    ids.holder_ptr = t.add(PointerType(ids.holder, 4))

    variables = []
    symbols = []

    def var(
        name: str,
        address: int,
        tid: int,
        *,
        qualified: str | None = None,
        file: str = "main.c",
        scope: str = "global",
    ) -> None:
        size = t.sizeof(tid)
        variables.append(Variable(name, qualified or name, address, size, tid, ".data", file, 1, scope))
        symbols.append(Symbol(name, name, address, size or 0, "object", "global", ".data"))

    var("sensor", RAM + 0x00, ids.accel)
    var("accels", RAM + 0x10, ids.accel_arr)
    var("p_accel", RAM + 0x30, ids.accel_ptr)
    var("mode", RAM + 0x34, ids.mode)
    var("flags", RAM + 0x38, ids.flags)
    var("name", RAM + 0x40, ids.name_arr)
    var("counter", RAM + 0x48, ids.int)
    var("pcount", RAM + 0x4C, ids.int_ptr)
    var("table", FLASH + 0x100, ids.table_arr)
    var("dup", RAM + 0x50, ids.int, qualified="'a.c'::dup", file="a.c", scope="file")
    var("dup", RAM + 0x54, ids.int, qualified="'b.c'::dup", file="b.c", scope="file")
    var("gain", RAM + 0x58, ids.float)
    var("ratio", RAM + 0x60, ids.double)
    var("u16", RAM + 0x68, ids.u16)
    var("holder", RAM + 0x6C, ids.holder)
    var("vp", RAM + 0x74, ids.void_ptr)
    var("ph", RAM + 0x78, ids.holder_ptr)
    var("idx", RAM + 0x7C, ids.int)
    # an object from a library built without -g: symbol table only
    variables.append(Variable("blob", "blob", RAM + 0x80, 3, None, ".data", None, None, "global"))
    symbols.append(Symbol("main", "main", FLASH + 0x201, 16, "function", "global", ".text"))
    elf = ElfInfo(
        path="hand.elf",
        machine="ARM",
        elf_class=32,
        byteorder=byteorder,
        word_size=4,
        entry=FLASH,
        build_id="00",
        build_id_source="gnu",
        sections=[
            Section(".text", FLASH, 0x1000, "AX", "flash"),
            Section(".data", RAM, 0x1000, "WA", "ram"),
        ],
        has_dwarf=True,
    )
    program = Program(elf=elf, types=t, variables=variables, symbols=symbols)

    mem = Memory(byteorder)
    mem.put(RAM + 0x00, "hhh", 1, -2, 3)
    mem.put(RAM + 0x10, "hhhhhhhhh", 10, 11, 12, 20, 21, 22, 30, 31, 32)
    mem.put(RAM + 0x30, "I", RAM + 0x16)  # -> accels[1]
    mem.put(RAM + 0x34, "I", 5)
    # flags: en=1, level=5, delta=-3 (0b1101) -> byte 0 = 1 | 5<<1 | 0xD<<4 = 0xDB (little-endian bit order)
    mem.write(RAM + 0x38, bytes([0xDB if byteorder == "little" else 0b1_101_1101, 7, 0, 0]))
    mem.put(RAM + 0x3C, "I", 1)
    mem.write(RAM + 0x40, b"hi\n\0\0\0\0\0")
    mem.put(RAM + 0x48, "i", 42)
    mem.put(RAM + 0x4C, "I", RAM + 0x48)
    mem.put(FLASH + 0x100, "iiii", 10, 20, 30, 40)
    mem.put(RAM + 0x50, "ii", 111, 222)
    mem.put(RAM + 0x58, "f", 1.5)
    mem.put(RAM + 0x60, "d", 0.1)
    mem.put(RAM + 0x68, "H", 0xBEEF)
    mem.write(RAM + 0x6C, bytes([9, 0, 0, 0]))
    mem.put(RAM + 0x70, "I", 0x11223344)
    mem.put(RAM + 0x74, "I", RAM + 0x48)
    mem.put(RAM + 0x78, "I", RAM + 0x6C)
    mem.put(RAM + 0x7C, "i", 2)
    mem.write(RAM + 0x80, b"\x01\x02\x03")
    return program, mem, ids


@pytest.fixture
def env() -> tuple[Program, Memory, Ids]:
    return build_program()


def ev(env: tuple[Program, Memory, Ids], text: str, **kw: object) -> str:
    program, mem, _ = env
    return compile_expression(program, text).evaluate(mem.read).display(**kw)  # type: ignore[arg-type]


def err(env: tuple[Program, Memory, Ids], text: str) -> ExpressionError:
    program, mem, _ = env
    with pytest.raises(ExpressionError) as info:
        compile_expression(program, text).evaluate(mem.read)
    return info.value


# -- names, members, elements ----------------------------------------------------------------------
def test_plain_variable_static_plan(env):
    program, mem, _ = env
    c = compile_expression(program, "counter")
    assert (c.type_name, c.address, c.size, c.is_lvalue, c.read_only) == ("int", RAM + 0x48, 4, True, False)
    assert c.static_regions() == [Region(RAM + 0x48, 4)]
    v = c.evaluate(mem.read)
    assert (v.display(), v.scalar, v.address, v.raw) == ("42", 42, RAM + 0x48, struct.pack("<i", 42))


def test_struct_display_and_members(env):
    assert ev(env, "sensor") == "{x = 1, y = -2, w = 3}"
    assert ev(env, "sensor.y") == "-2"
    assert (
        ev(env, "accels") == "{{x = 10, y = 11, w = 12}, {x = 20, y = 21, w = 22}, {x = 30, y = 31, w = 32}}"
    )
    assert ev(env, "accels[2].w") == "32"
    c = compile_expression(env[0], "accels[2].w")
    assert c.address == RAM + 0x10 + 2 * 6 + 4 and c.type_name == "int16_t"


def test_no_member_error_lists_members(env):
    e = err(env, "sensor.z")
    assert e.position == 7
    assert str(e) == "at column 8: no member 'z' in struct accel_t (members: x, y, w)"


def test_anonymous_union_members_are_reachable(env):
    assert ev(env, "holder.word", hex=True) == "0x11223344"
    assert ev(env, "holder") == "{tag = 9 '\\t', {word = 287454020, half = 13124}}"


def test_bitfields_read(env):
    assert ev(env, "flags.en") == "1"
    assert ev(env, "flags.level") == "5"
    assert ev(env, "flags.delta") == "-3"
    assert ev(env, "flags") == "{en = 1, level = 5, delta = -3, id = 7 '\\a', mode = MODE_ON}"
    c = compile_expression(env[0], "flags.level")
    assert c.is_bitfield and c.bit_size == 3 and c.static_regions() == [Region(RAM + 0x38, 1)]


def test_bitfield_write_keeps_neighbours(env):
    program, mem, _ = env
    writes = plan_write(program, compile_expression(program, "flags.level"), "2", mem.read)
    assert writes == [(RAM + 0x38, bytes([0xD5]))]  # 1 | 2<<1 | 0xD<<4
    for address, data in writes:
        mem.write(address, data)
    assert ev(env, "flags") == "{en = 1, level = 2, delta = -3, id = 7 '\\a', mode = MODE_ON}"
    with pytest.raises(Exception, match=r"8 does not fit in a 3-bit unsigned bitfield \(0\.\.7\)"):
        plan_write(program, compile_expression(program, "flags.level"), "8", mem.read)
    writes = plan_write(program, compile_expression(program, "flags.delta"), "-8", mem.read)
    for address, data in writes:
        mem.write(address, data)
    assert ev(env, "flags.delta") == "-8" and ev(env, "flags.level") == "2" and ev(env, "flags.en") == "1"


def test_enum_values_and_constants(env):
    assert ev(env, "mode") == "MODE_AUTO"
    assert ev(env, "mode == MODE_AUTO") == "1"
    assert ev(env, "(enum mode)1") == "MODE_ON"
    assert ev(env, "(enum mode)3") == "3"
    assert ev(env, "mode,d") == "5"


def test_char_array_as_string(env):
    assert ev(env, "name") == '"hi\\n\\000\\000\\000\\000"'
    assert ev(env, "name[1]") == "105 'i'"
    assert ev(env, "name,x") == "{0x68, 0x69, 0xa, 0x0, 0x0, 0x0, 0x0, 0x0}"
    v = compile_expression(env[0], "name").evaluate(env[1].read)
    assert v.scalar == "hi\n"


def test_qualified_names(env):
    e = err(env, "dup")
    assert "ambiguous" in e.reason and "'a.c'::dup" in e.reason and "'b.c'::dup" in e.reason
    assert ev(env, "'a.c'::dup") == "111"
    assert ev(env, "'b.c'::dup") == "222"


def test_unknown_symbol_suggests(env):
    e = err(env, "sensr.x")
    assert e.position == 0
    assert e.reason == "no symbol 'sensr' in the ELF (did you mean sensor?)"


# -- pointers and hops -------------------------------------------------------------------------------
def test_pointer_hop_binds_regions(env):
    program, mem, _ = env
    c = compile_expression(program, "p_accel->y")
    assert c.address is None and c.static_regions() is None and c.type_name == "int16_t"
    plan = c.bind(mem.read)
    assert plan.regions == [Region(RAM + 0x16 + 2, 2)]
    assert plan.decode([struct.pack("<h", -77)]).display() == "-77"
    # Re-pointing the pointer changes the plan only on the next bind.
    mem.put(RAM + 0x30, "I", RAM + 0x1C)
    assert plan.regions == [Region(RAM + 0x18, 2)]
    assert c.bind(mem.read).regions == [Region(RAM + 0x1C + 2, 2)]
    assert c.evaluate(mem.read).display() == "31"


def test_pointer_display_and_deref(env):
    assert ev(env, "pcount") == f"0x{RAM + 0x48:x} <counter>"
    assert ev(env, "*pcount") == "42"
    assert ev(env, "pcount[0]") == "42"
    assert ev(env, "*p_accel") == "{x = 20, y = 21, w = 22}"
    assert ev(env, "(*p_accel).w") == "22"
    assert ev(env, "ph->word") == "287454020"


def test_pointer_children_follow_the_pointer(env):
    program, mem, _ = env
    v = compile_expression(program, "p_accel").evaluate(mem.read)
    assert v.is_aggregate
    kids = v.children()
    assert [(k.name, k.value.display(), k.evaluate_name) for k in kids] == [
        ("x", "20", "p_accel->x"),
        ("y", "21", "p_accel->y"),
        ("w", "22", "p_accel->w"),
    ]
    for k in kids:
        assert compile_expression(program, k.evaluate_name).evaluate(mem.read).display() == k.value.display()
    pc = compile_expression(program, "pcount").evaluate(mem.read).children()
    assert [(k.name, k.value.display(), k.evaluate_name) for k in pc] == [("*pcount", "42", "*pcount")]


def test_casts_to_pointer_types(env):
    assert ev(env, "*(uint32_t *)0x20000048") == "42"
    assert ev(env, "*(int16_t*)0x20000002") == "-2"
    assert ev(env, "((struct accel_t *)0x20000010)->w") == "12"
    assert ev(env, "(uint16_t)u16") == "48879"
    assert ev(env, "(unsigned char)300") == "44 ','"
    assert ev(env, "*(int *)vp") == "42"
    c = compile_expression(env[0], "*(uint32_t*)0x20000100")
    assert c.address == 0x20000100 and c.static_regions() == [Region(0x20000100, 4)]


def test_void_pointer_errors(env):
    assert err(env, "*vp").reason.startswith("cannot dereference a void *")
    assert err(env, "vp[1]").reason.startswith("cannot index a void *")


def test_address_of_and_pointer_arithmetic(env):
    program, mem, _ = env
    assert ev(env, "&counter") == f"0x{RAM + 0x48:x} <counter>"
    assert ev(env, "&accels[1]") == f"0x{RAM + 0x16:x} <accels+6>"
    assert ev(env, "&accels[2] - &accels[0]") == "2"
    assert ev(env, "*(&accels[0] + 2)") == "{x = 30, y = 31, w = 32}"
    assert ev(env, "(&accels[0] + 1)->x") == "20"
    assert ev(env, "accels + 1") == f"0x{RAM + 0x16:x} <accels+6>"
    assert ev(env, "(char *)&counter + 1") == f'0x{RAM + 0x49:x} <counter+1> ""'
    assert compile_expression(program, "&counter").type_name == "int *"


def test_function_symbols(env):
    assert ev(env, "main") == f"{{void (void)}} 0x{FLASH + 0x200:x} <main>"


# -- indexes -----------------------------------------------------------------------------------------
def test_expression_index_reads_memory(env):
    program, mem, _ = env
    c = compile_expression(program, "accels[idx].y")
    assert c.static_regions() is None
    assert c.evaluate(mem.read).display() == "31"
    mem.put(RAM + 0x7C, "i", 0)
    assert c.evaluate(mem.read).display() == "11"
    mem.put(RAM + 0x7C, "i", 7)
    with pytest.raises(ExpressionError, match="index 7 is outside"):
        c.evaluate(mem.read)


def test_constant_index_out_of_bounds_is_an_error(env):
    e = err(env, "accels[3]")
    assert e.position == 7 and "index 3 is outside struct accel_t [3] (valid 0..2)" in e.reason
    assert ev(env, "accels[1+1].x") == "30"
    assert ev(env, "*(&accels[0] + 2)") != ""  # the documented escape hatch


def test_artificial_arrays(env):
    program, mem, _ = env
    c = compile_expression(program, "accels[1]@2")
    assert c.type_name == "struct accel_t [2]" and c.address == RAM + 0x16 and c.size == 12
    assert c.evaluate(mem.read).display() == "{{x = 20, y = 21, w = 22}, {x = 30, y = 31, w = 32}}"
    assert ev(env, "sensor.x@3") == "{1, -2, 3}"
    assert ev(env, "(accels[1]@2)[1].w") == "32"
    assert ev(env, "*pcount@1") == "{42}"
    assert err(env, "sensor.x@idx").reason == "the count after '@' must be a constant integer"
    assert err(env, "sensor.x@0").reason == "the count after '@' must be positive, not 0"
    assert err(env, "counter+1@2").reason.startswith("the left side of '@' must be an object")


# -- arithmetic ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown", "type_name"),
    [
        ("counter + 1", "43", "int"),
        ("counter - 50", "-8", "int"),
        ("counter * 2", "84", "int"),
        ("counter / 5", "8", "int"),
        ("-7 / 2", "-3", "int"),
        ("-7 % 2", "-1", "int"),
        ("counter % 5", "2", "int"),
        ("counter << 2", "168", "int"),
        ("counter >> 1", "21", "int"),
        ("counter & 0xF", "10", "int"),
        ("counter | 0x100", "298", "int"),
        ("counter ^ 0b11", "41", "int"),
        ("~counter", "-43", "int"),
        ("!counter", "0", "int"),
        ("-counter", "-42", "int"),
        ("counter > 40 && gain < 2", "1", "int"),
        ("counter < 40 || 0", "0", "int"),
        ("counter == 42", "1", "int"),
        ("counter != 42", "0", "int"),
        ("counter >= 42", "1", "int"),
        ("counter <= 41", "0", "int"),
        ("gain * 2", "3", "float"),
        ("ratio + 1", "1.1", "double"),
        ("gain + ratio", "1.6", "double"),
        ("10 / 4.0", "2.5", "double"),
        ("1.5f", "1.5", "float"),
        ("0x7fffffff + 1", "-2147483648", "int"),
        ("0xffffffff", "4294967295", "unsigned int"),
        ("1u - 2", "4294967295", "unsigned int"),
        ("u16 + 1", "48880", "int"),
        ("'A'", "65 'A'", "char"),
        ("'\\n' + 0", "10", "int"),
        ("sizeof(sensor)", "6", "unsigned int"),
        ("sizeof sensor.x", "2", "unsigned int"),
        ("sizeof(struct accel_t) * 3", "18", "unsigned int"),
        ("sizeof(accels) / sizeof(accels[0])", "3", "unsigned int"),
        ("counter > 3 ? 10 : 20", "10", "int"),
        ("true", "true", "_Bool"),
        ("0b1010", "10", "int"),
        ("017", "15", "int"),
        ("100000000000", "100000000000", "long long int"),
    ],
)
def test_arithmetic(env, text, shown, type_name):
    program, mem, _ = env
    c = compile_expression(program, text)
    assert c.type_name == type_name
    assert c.evaluate(mem.read).display() == shown


def test_computed_value_plan_reads_its_operands(env):
    program, mem, _ = env
    c = compile_expression(program, "counter + 'a.c'::dup + counter")
    assert c.static_regions() == [Region(RAM + 0x48, 4), Region(RAM + 0x50, 4)]
    plan = c.bind(mem.read)
    assert plan.decode([struct.pack("<i", 1), struct.pack("<i", 2)]).display() == "4"
    assert compile_expression(program, "3 * 4").static_regions() == []


# -- format suffixes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("counter,x", "0x2a"),
        ("counter,h", "0x2a"),
        ("counter,o", "052"),
        ("counter,b", "0b101010"),
        ("counter,c", "42 '*'"),
        ("counter - 50,x", "0xfffffff8"),
        ("counter - 50,u", "4294967288"),
        ("u16,d", "-16657"),
        ("sensor,x", "{x = 0x1, y = 0xfffe, w = 0x3}"),
        ("flags.delta,x", "0xfffffffd"),
        ("name,s", '"hi\\n\\000\\000\\000\\000"'),
        ("gain,x", "0x3fc00000"),
        ("mode,x", "0x5"),
        ("pcount,x", f"0x{RAM + 0x48:x}"),
    ],
)
def test_format_suffixes(env, text, shown):
    assert ev(env, text) == shown


def test_hex_display_option_overrides(env):
    assert ev(env, "counter", hex=True) == "0x2a"
    c = compile_expression(env[0], "counter,o")
    assert c.format == "o" and c.body == "counter"


# -- writes -------------------------------------------------------------------------------------------
def test_lvalue_and_not_assignable(env):
    program, mem, _ = env
    assert compile_expression(program, "accels[1].w").lvalue(mem.read) == (RAM + 0x16 + 4, env[2].i16)
    assert compile_expression(program, "p_accel->x").lvalue(mem.read)[0] == RAM + 0x16
    c = compile_expression(program, "counter + 1")
    assert not c.is_lvalue
    with pytest.raises(ExpressionError, match="expression is not assignable"):
        c.lvalue(mem.read)


def test_plan_write_plain(env):
    program, mem, _ = env
    writes = plan_write(program, compile_expression(program, "sensor.y"), "-300", mem.read)
    assert writes == [(RAM + 2, struct.pack("<h", -300))]
    writes = plan_write(program, compile_expression(program, "mode"), "MODE_ON", mem.read)
    assert writes == [(RAM + 0x34, struct.pack("<I", 1))]


def test_read_only(env):
    program, _, _ = env
    assert compile_expression(program, "table").read_only  # in flash, const elements
    assert compile_expression(program, "table[1]").read_only
    assert not compile_expression(program, "counter").read_only


# -- children ----------------------------------------------------------------------------------------
def test_children_compile_back(env):
    program, mem, _ = env
    for text in ("sensor", "accels", "flags", "holder", "accels[1]@2", "name", "*p_accel"):
        v = compile_expression(program, text).evaluate(mem.read)
        stack = [v]
        while stack:
            cur = stack.pop()
            for child in cur.children():
                if child.evaluate_name is None:
                    assert child.kind == "anonymous"
                else:
                    again = compile_expression(program, child.evaluate_name).evaluate(mem.read)
                    assert again.display() == child.value.display(), child.evaluate_name
                    assert again.address == child.value.address
                if child.is_aggregate and child.kind != "deref":
                    stack.append(child.value)


def test_children_paging(env):
    program, mem, _ = env
    v = compile_expression(program, "accels").evaluate(mem.read)
    assert v.child_count == 3
    page = v.children(start=1, count=1)
    assert [(c.name, c.evaluate_name) for c in page] == [("[1]", "accels[1]")]
    assert [c.name for c in compile_expression(program, "(accels[1]@2)").evaluate(mem.read).children()] == [
        "[0]",
        "[1]",
    ]


# -- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("", 0, "the expression is empty"),
        ("counter +", 8, "'+' needs an operand after it"),
        ("counter)", 7, "unbalanced ')' with no matching opening bracket"),
        ("(counter + 1", 0, "unbalanced '(': no matching ')'"),
        ("accels[1", 6, "unbalanced '[': no matching ']'"),
        ("counter counter", 8, "unexpected 'counter' after a complete expression"),
        ("counter,q", 8, "a ',' must be followed by a format letter: x, h, d, u, o, b, c or s"),
        ("counter->x", 7, "'->' needs a pointer, but the operand is int"),
        (
            "*counter",
            0,
            "'*' needs a pointer, but the operand is int; cast it first, e.g. *(uint32_t *)0x20000000",
        ),
        ("counter[1]", 7, "cannot index int: it is not an array or a pointer"),
        ("counter.x", 7, "'x' cannot be a member of int: it is not a struct or union"),
        ("p_accel.x", 7, "the left side of '.' is a pointer (struct accel_t *); use '->'"),
        ("sensor->x", 6, "'->' needs a pointer, but the left side is a struct accel_t; use '.'"),
        ("(foo_t *)0x20000000", 1, "unknown type 'foo_t' in cast"),
        ("(foo_t)counter", 1, "unknown type 'foo_t' in cast"),
        ("counter / 0", 8, "division by zero in '/'"),
        ("counter % (2 - 2)", 8, "division by zero in '%'"),
        ("counter << 40", 11, "shift count 40 is outside 0..31 for int"),
        ("&(counter + 1)", 0, "'&' needs an object in memory, not a computed value"),
        ("&flags.en", 0, "cannot take the address of a bitfield"),
        ('"text"', 0, "a string literal has no address in the target; strings are only for writes"),
        ("main(1)", 4, "function calls are not supported: a watch only reads memory"),
        ("sensor + 1", 7, "the left operand of '+' is struct accel_t, not a number or pointer"),
        ("gain % 2", 5, "'%' needs integers, not floating-point values"),
        ("counter[gain]", 8, "an index must be an integer, not float"),
        ("0x", 0, "'0x' is not a valid number"),
        ("09", 0, "'09' is not a valid octal literal (a leading 0 means octal)"),
        ("'ab'", 0, "'ab' holds more than one character; use a string for text"),
        ("counter # 2", 8, "unexpected character '#'"),
        ("counter = 3", 8, "'=' would change the target: a watch only reads memory (use Set Value to write)"),
        ("--counter", 0, "'--' would change the target: a watch only reads memory (use Set Value to write)"),
        ("counter++", 7, "'++' would change the target: a watch only reads memory (use Set Value to write)"),
        ("counter <<= 1", 8, "'<<=' would change the target"),
        (
            "(struct accel_t)sensor",
            0,
            "cannot cast to struct accel_t; cast a pointer instead, e.g. *(struct accel_t *)&x",
        ),
        ("sensor.", 7, "'.' must be followed by a member name, not the end of the expression"),
    ],
)
def test_errors(env, text, position, reason):
    e = err(env, text)
    assert (e.position, e.reason) == (position, reason) or (
        e.position == position and e.reason.startswith(reason)
    )
    assert str(e) == f"at column {position + 1}: {e.reason}"


def test_unknown_type_suggests(env):
    e = err(env, "(uint32 *)0")
    assert e.position == 1 and e.reason.startswith("unknown type 'uint32' in cast (did you mean uint32_t")


def test_big_endian_program():
    program, mem, _ = build_program("big")
    assert compile_expression(program, "sensor").evaluate(mem.read).display() == "{x = 1, y = -2, w = 3}"
    assert compile_expression(program, "flags").evaluate(mem.read).display() == (
        "{en = 1, level = 5, delta = -3, id = 7 '\\a', mode = MODE_ON}"
    )
    writes = plan_write(program, compile_expression(program, "flags.level"), "2", mem.read)
    for address, data in writes:
        mem.write(address, data)
    assert compile_expression(program, "flags").evaluate(mem.read).display() == (
        "{en = 1, level = 2, delta = -3, id = 7 '\\a', mode = MODE_ON}"
    )
    assert compile_expression(program, "*(uint16_t *)&u16,x").evaluate(mem.read).display() == "0xbeef"


# -- robustness ----------------------------------------------------------------------------------------
_TOKENS = [
    "sensor", "accels", "p_accel", "pcount", "flags", "name", "counter", "gain", "vp", "holder", "idx",
    "x", "y", "level", "word", "mode", "MODE_ON", "main", "'a.c'::dup", "uint16_t", "struct accel_t", "int",
    "0", "1", "2", "0x20000048", "1.5", "'A'", '"s"', "(", ")", "[", "]", ".", "->", "*", "&", "+", "-", "/",
    "%", "<<", ">>", "~", "!", "==", "<", "&&", "||", "?", ":", "@", ",x", ",q", "sizeof", " ",
]  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=9))
def test_any_token_soup_compiles_or_fails_cleanly(tokens):
    """Whatever a user types: a value or one ExpressionError sentence, never a crash."""
    program, mem, _ = build_program()
    text = " ".join(tokens)
    try:
        compiled = compile_expression(program, text)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text) and e.reason and "\n" not in e.reason
        return
    try:
        value = compiled.evaluate(mem.read)
    except ExpressionError:
        return
    except OSError:  # the target refused the address (bus fault): the session reports it
        return
    value.display()
    value.display(hex=True)
    for child in value.children(count=5):
        child.value.display()


def test_null_pointer_hops_are_errors(env):
    program, mem, _ = env
    mem.put(RAM + 0x30, "I", 0)
    c = compile_expression(program, "p_accel->y")  # compiles: the pointer is only read when bound
    with pytest.raises(ExpressionError) as info:
        c.bind(mem.read)
    assert str(info.value) == "at column 8: '->' follows a NULL pointer: there is no object to read"
    with pytest.raises(ExpressionError, match=r"'\*' follows a NULL pointer"):
        compile_expression(program, "*p_accel").evaluate(mem.read)
    with pytest.raises(ExpressionError, match=r"'\[\]' follows a NULL pointer"):
        compile_expression(program, "p_accel[1]").evaluate(mem.read)
    # an explicit constant address is deliberate, even 0 (the initial stack pointer on a Cortex-M)
    assert compile_expression(program, "*(uint32_t *)0").static_regions() == [Region(0, 4)]
    assert compile_expression(program, "p_accel").evaluate(mem.read).display() == "0x0"


def test_member_names_for_completion(env):
    program, _, _ = env
    assert compile_expression(program, "sensor").member_names() == ["x", "y", "w"]
    assert compile_expression(program, "p_accel").member_names(arrow=True) == ["x", "y", "w"]
    assert compile_expression(program, "holder").member_names() == ["tag", "word", "half"]
    assert compile_expression(program, "(struct accel_t *)0x20000000").member_names(arrow=True) == [
        "x",
        "y",
        "w",
    ]
    assert compile_expression(program, "counter").member_names() == []


def test_symbol_without_debug_info_is_raw_bytes(env):
    program, mem, _ = env
    c = compile_expression(program, "blob")
    assert c.size == 3 and c.static_regions() == [Region(RAM + 0x80, 3)]
    v = c.evaluate(mem.read)
    assert v.display() == "<01 02 03>"
    assert v.note == "no debug information for this symbol: raw bytes"
    assert ev(env, "*(uint16_t *)&blob,x") == "0x201"
