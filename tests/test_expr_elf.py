"""Expressions over real ELFs, with gdb as the oracle.

A C fixture with initialized globals of every kind is compiled during the run (host gcc,
and arm-none-eabi-gcc little- and big-endian, riscv32); each expression is evaluated by
firmwatch against the ELF's own .data/.rodata bytes and printed by ``gdb -batch -ex
'print EXPR' ELF`` (which also reads initialized data straight from the file). The two
texts must agree, apart from two documented differences: gdb prefixes a top-level pointer
with its type, and prints floats with 9/17 significant digits where we print the shortest
text that reads back the same.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from firmwatch.symbols import load
from firmwatch.symbols.codec import plan_write
from firmwatch.symbols.expr import ExpressionError, compile_expression
from fixture_builds import compile_elf
from tools import require_tool

SOURCE = r"""
#include <stdint.h>
#include <stdbool.h>

enum mode { MODE_OFF, MODE_ON, MODE_AUTO = 5 };
enum flags { F_A = 1, F_B = 2, F_C = 4 };
typedef enum { DIR_LEFT = -1, DIR_NONE = 0, DIR_RIGHT = 1 } dir_t;
typedef struct { int16_t x, y, w; } accel_t;
struct pid { float kp, ki, kd; double limit; };
struct node { int value; struct node *next; };
struct config {
    uint8_t id;
    struct pid pid;
    accel_t accel[3];
    enum mode mode;
    unsigned en : 1;
    unsigned level : 3;
    signed delta : 4;
    uint16_t wide : 12;
    char name[16];
    const char *label;
    int32_t *ptr;
    void (*handler)(int);
    union { uint32_t word; uint8_t bytes[4]; } u;
    struct { int32_t a, b; };
    int64_t big;
    uint64_t ubig;
    bool ok;
    dir_t dir;
};

int32_t counter = 42;
int32_t arr[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
int32_t zeros[16];
int16_t matrix[2][3] = {{1, 2, 3}, {-4, -5, -6}};
uint8_t raw[4] = {0xde, 0xad, 0xbe, 0xef};
char longname[32] = "hello";
char esc[8] = "a\n\t\"\\\x01";
double dbl = 3.14159;
long double ldbl = -2.75L;
float flt = -0.1f;
int8_t neg = -5;
uint16_t u16 = 65535;
int64_t i64 = -9000000000000000000LL;
uint64_t u64 = 18000000000000000000ULL;
enum mode gmode = MODE_AUTO;
enum mode badmode = (enum mode)3;
enum flags gflags = F_A | F_C;
enum flags gflags2 = F_B | 8;
dir_t gdir = DIR_LEFT;
bool yes = true;
char letter = 'Q';
void on_tick(int x) { (void)x; }
struct config g_config = {
    .id = 7, .pid = {1.5f, 0.25f, -2.0f, 100.0}, .accel = {{1, 2, 3}, {-4, 5, 6}, {7, 8, 9}},
    .mode = MODE_ON, .en = 1, .level = 5, .delta = -3, .wide = 0xabc, .name = "cfg",
    .label = "lbl", .ptr = &counter, .handler = on_tick, .u = {.word = 0x11223344},
    .a = 10, .b = 20, .big = -1234567890123LL, .ubig = 0xFFFFFFFFFFFFFFFFULL, .ok = true,
    .dir = DIR_RIGHT,
};
struct config *g_cfg_ptr = &g_config;
struct node n2 = {2, 0};
struct node n1 = {1, &n2};
struct node *head = &n1;
const int32_t table[4] = {10, 20, 30, 40};
int32_t *parr = &arr[2];
int32_t idx = 3;
static int32_t file_static = 9;

int main(void) {
    static int32_t fn_static = 3;
    return counter + file_static + fn_static + g_config.id;
}

#ifdef FW_BARE
void _start(void) { main(); for (;;) {} }
#endif
"""

EXPRESSIONS = [
    "counter",
    "g_config",
    "g_config.pid",
    "g_config.pid.kp",
    "g_config.accel",
    "g_config.accel[1]",
    "g_config.accel[1].y",
    "g_config.level",
    "g_config.delta",
    "g_config.wide",
    "g_config.en",
    "g_config.name",
    "g_config.ptr",
    "*g_config.ptr",
    "g_config.handler",
    "g_config.u",
    "g_config.u.bytes",
    "g_config.a",
    "g_config.big",
    "g_config.ubig",
    "g_config.ok",
    "g_config.dir",
    "*g_cfg_ptr",
    "g_cfg_ptr->accel[2]",
    "g_cfg_ptr->pid.limit",
    "head->next->value",
    "*head->next",
    "head->value + head->next->value",
    "arr",
    "arr[3]",
    "arr[2]@3",
    "arr[idx]",
    "zeros",
    "matrix",
    "matrix[1]",
    "matrix[1][2]",
    "raw",
    "longname",
    "esc",
    "dbl",
    "ldbl",
    "ldbl * 2",
    "flt",
    "neg",
    "u16",
    "i64",
    "u64",
    "gmode",
    "badmode",
    "gflags",
    "gflags2",
    "gdir",
    "yes",
    "letter",
    "table",
    "table[2]",
    "parr",
    "parr[1]",
    "*parr",
    "&counter",
    "&arr[3]",
    "&g_config.pid",
    "&arr[7] - &arr[2]",
    "parr + 1",
    "*(parr + 1)",
    "main::fn_static",
    "file_static",
    "-counter",
    "~counter",
    "counter / 5",
    "counter % 5",
    "counter << 2",
    "counter > 40 && dbl > 3",
    "counter == 42 || 0",
    "dbl * 2",
    "flt + 1",
    "arr[1] + arr[2]",
    "sizeof(g_config)",
    "sizeof(arr) / sizeof(arr[0])",
    "(char)65",
    "(uint8_t)300",
    "(int16_t)-70000",
    "gmode == MODE_AUTO",
    "MODE_AUTO",
    "(enum mode)1",
    "'A'",
    "0x7fffffff + 1",
    "10 / 4.0",
    "-7 / 2",
    "counter > 3 ? 10 : 20",
    "*(int32_t *)&arr[4]",
    "((struct pid *)&g_config.pid)->ki",
]
HEX_EXPRESSIONS = [
    "counter",
    "neg",
    "u16",
    "i64",
    "g_config.accel",
    "g_config.level",
    "g_config.delta",
    "raw",
    "gmode",
]

CONFIGS = {
    "host-gcc": ("gcc", ["-g", "-O0"], "gdb"),
    "arm-le": (
        "arm-none-eabi-gcc",
        [
            "-g",
            "-O0",
            "-mcpu=cortex-m3",
            "-mthumb",
            "-nostdlib",
            "-nostartfiles",
            "-ffreestanding",
            "-DFW_BARE",
            "-Wl,-e,_start",
        ],
        "gdb-multiarch",
    ),
    "arm-be": (
        "arm-none-eabi-gcc",
        [
            "-gdwarf-4",
            "-O0",
            "-mbig-endian",
            "-mcpu=cortex-r4",
            "-marm",
            "-nostdlib",
            "-nostartfiles",
            "-ffreestanding",
            "-DFW_BARE",
            "-Wl,-e,_start",
        ],
        "gdb-multiarch",
    ),
    "riscv32": (
        "riscv64-unknown-elf-gcc",
        [
            "-g",
            "-O0",
            "-march=rv32imac_zicsr",
            "-mabi=ilp32",
            "-nostdlib",
            "-nostartfiles",
            "-ffreestanding",
            "-DFW_BARE",
            "-Wl,-e,_start",
        ],
        "gdb-multiarch",
    ),
    # Harvard: 16-bit data pointers shown at 0x800000+, word-addressed function pointers, 16-bit int
    "avr": ("avr-gcc", ["-gdwarf-4", "-O0", "-mmcu=atmega328p"], "avr-gdb"),
}


class ElfMemory:
    """Reads initialized memory from the ELF's allocated sections (.bss reads as zeros)."""

    def __init__(self, path: Path):
        self.spans: list[tuple[int, bytearray]] = []
        with open(path, "rb") as f:
            for sec in ELFFile(f).iter_sections():
                if sec["sh_flags"] & 2 and sec["sh_size"]:  # SHF_ALLOC
                    data = bytes(sec["sh_size"]) if sec["sh_type"] == "SHT_NOBITS" else sec.data()
                    self.spans.append((sec["sh_addr"], bytearray(data)))

    def _find(self, address: int, size: int) -> tuple[bytearray, int]:
        for base, data in self.spans:
            if base <= address and address + size <= base + len(data):
                return data, address - base
        raise OSError(f"no section holds 0x{address:x}..0x{address + size:x}")

    def read(self, address: int, size: int) -> bytes:
        data, off = self._find(address, size)
        return bytes(data[off : off + size])

    def write(self, address: int, payload: bytes) -> None:
        data, off = self._find(address, len(payload))
        data[off : off + len(payload)] = payload


@pytest.fixture(scope="module", params=list(CONFIGS))
def built(request, tmp_path_factory):
    compiler, flags, gdb = CONFIGS[request.param]
    require_tool(gdb)
    src = tmp_path_factory.mktemp("src") / "values.c"
    src.write_text(SOURCE)
    elf = compile_elf(f"expr-{request.param}", compiler, [src], flags, out_dir=tmp_path_factory.mktemp("elf"))
    return request.param, elf, gdb, load(str(elf))


def gdb_print(gdb: str, elf: Path, commands: list[str]) -> list[str]:
    args = [gdb, "-nx", "-batch", "-ex", "set width 0", "-ex", "set height 0", "-ex", "set print pretty off"]
    for c in commands:
        args += ["-ex", c]
    out = subprocess.run(
        [*args, str(elf)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"LANG": "C", "PATH": "/usr/bin:/bin"},
    )
    values = [m.group(1) for m in re.finditer(r"^\$\d+ = (.*)$", out.stdout, re.M)]
    assert len(values) == len(commands), f"gdb printed {len(values)} of {len(commands)} values:\n{out.stderr}"
    return values


_TYPE_PREFIX = re.compile(r"^\((?:[^()]|\([^()]*\))*\) (?=0x)")
_FLOAT = re.compile(r"(?<![\w.])-?(?:\d+\.\d+(?:e[+-]?\d+)?|\d+e[+-]?\d+)(?![\w.])")


def normalize(text: str) -> str:
    """Drop gdb's top-level pointer type and compare floats at float precision."""
    text = _TYPE_PREFIX.sub("", text)
    text = text.replace("0x0 <__vectors>", "0x0")  # avr-gdb names NULL after the vector table

    def single(m: re.Match[str]) -> str:
        v = float(m.group(0))
        try:
            return repr(struct.unpack("<f", struct.pack("<f", v))[0])
        except OverflowError:
            return repr(v)

    return _FLOAT.sub(single, text)


def test_values_match_gdb(built):
    name, elf, gdb, program = built
    mem = ElfMemory(elf)
    expected = gdb_print(gdb, elf, [f"print {e}" for e in EXPRESSIONS])
    expected += gdb_print(gdb, elf, [f"print/x {e}" for e in HEX_EXPRESSIONS])
    ours = []
    for e in EXPRESSIONS + [f"{e},x" for e in HEX_EXPRESSIONS]:
        try:
            ours.append(compile_expression(program, e).evaluate(mem.read).display())
        except ExpressionError as ex:
            ours.append(f"error: {ex}")
    diffs = [
        f"  {e}\n    firmwatch: {o}\n    gdb:       {g}"
        for e, o, g in zip(EXPRESSIONS + [f"{e},x" for e in HEX_EXPRESSIONS], ours, expected)
        if normalize(o) != normalize(g)
    ]
    assert not diffs, f"{name}: {len(diffs)} expressions differ from gdb:\n" + "\n".join(diffs)


def test_static_plans_and_hops(built):
    _, elf, _, program = built
    mem = ElfMemory(elf)
    counter = program.find_variable("counter")
    c = compile_expression(program, "g_cfg_ptr->accel[2].w")
    assert c.static_regions() is None
    plan = c.bind(mem.read)
    g_config = program.find_variable("g_config")
    assert (
        len(plan.regions) == 1
        and g_config.address < plan.regions[0].address < g_config.address + g_config.size
    )
    assert compile_expression(program, "counter").static_regions()[0].address == counter.address  # type: ignore[index]
    assert compile_expression(program, "table").read_only
    assert not compile_expression(program, "counter").read_only


def test_children_compile_back_on_real_types(built):
    _, elf, _, program = built
    mem = ElfMemory(elf)
    for text in ("g_config", "matrix", "head"):
        stack = [compile_expression(program, text).evaluate(mem.read)]
        seen = 0
        while stack and seen < 200:
            for child in stack.pop().children():
                seen += 1
                if child.evaluate_name is not None:
                    again = compile_expression(program, child.evaluate_name).evaluate(mem.read)
                    assert again.display() == child.value.display(), child.evaluate_name
                if child.is_aggregate and child.kind != "deref" and child.value.type_name != "struct node *":
                    stack.append(child.value)
        assert seen >= 2


def test_writes_round_trip_through_memory(built):
    _, elf, _, program = built
    mem = ElfMemory(elf)
    cases = [
        ("g_config.level", "2", "2"),
        ("g_config.delta", "-8", "-8"),
        ("g_config.wide", "0x123", "291"),
        ("g_config.accel[1].y", "-300", "-300"),
        ("g_config.pid.kd", "0.5", "0.5"),
        ("g_config.mode", "MODE_AUTO", "MODE_AUTO"),
        ("dbl", "-1e-30", "-1e-30"),
        ("i64", "-9223372036854775808", "-9223372036854775808"),
        ("g_config.ptr", "&arr[1]", None),
        ("longname", '"bye"', "\"bye\", '\\000' <repeats 28 times>"),
    ]
    before = compile_expression(program, "g_config").evaluate(mem.read)
    for text, literal, shown in cases:
        compiled = compile_expression(program, text)
        for address, data in plan_write(program, compiled, literal, mem.read):
            mem.write(address, data)
        if shown is not None:
            assert compiled.evaluate(mem.read).display() == shown, text
    assert compile_expression(program, "*g_config.ptr").evaluate(mem.read).display() == "2"
    after = compile_expression(program, "g_config").evaluate(mem.read)
    # the bitfield writes left their neighbours alone
    for member in ("en", "id", "mode", "name"):
        b = next(c for c in before.children() if c.name == member).value.display()
        a = next(c for c in after.children() if c.name == member).value.display()
        assert a == b or member == "mode"


# -- C++ and Rust: the shared fixtures of the symbol tests -----------------------------------------------
CPP_EXPRESSIONS = [
    "hw::counter",
    "app::counter",
    "hw::sensor.id",
    "hw::sensor.reading",
    "hw::multi",
    "hw::multi.b",
    "hw::multi.c",
    "hw::detail::regs",
    "hw::detail::regs[1].kind",
    "hw::Base::instances",
    "hw::Sensor::max_channels",
    "hw::Sensor::current",
    "app::int_box",
    "app::dbl_box.item",
    "global_ref + 1",
    "bump::calls",
    "hw::detail::depth * 2",
    "sizeof(hw::Sensor)",
    "&hw::multi.c",
]
RUST_EXPRESSIONS = [
    "statics::sensors::ACCEL",
    "statics::sensors::ACCEL.y",
    "statics::sensors::COUNT",
    "statics::sensors::deep::LIMITS",
    "statics::sensors::deep::LIMITS[2]",
    "statics::COLOR",
    "statics::MODE",
    "statics::TICKS",
    "statics::RATIO",
]


@pytest.mark.parametrize(
    ("config", "expressions"), [("host-g++", CPP_EXPRESSIONS), ("host-rustc", RUST_EXPRESSIONS)]
)
def test_cpp_and_rust_match_gdb(config, expressions):
    from fixture_builds import fixture_elf

    require_tool("gdb")
    elf = fixture_elf(config)
    program = load(str(elf))
    mem = ElfMemory(elf)
    expected = gdb_print("gdb", elf, [f"print {e}" for e in expressions])
    diffs = []
    for e, g in zip(expressions, expected):
        o = compile_expression(program, e).evaluate(mem.read).display()
        if normalize(o) != normalize(g):
            diffs.append(f"  {e}\n    firmwatch: {o}\n    gdb:       {g}")
    assert not diffs, f"{config}: {len(diffs)} expressions differ from gdb:\n" + "\n".join(diffs)


def test_rust_enum_write_round_trip():
    from fixture_builds import fixture_elf

    elf = fixture_elf("host-rustc")
    program = load(str(elf))
    mem = ElfMemory(elf)
    compiled = compile_expression(program, "statics::COLOR")
    for address, data in plan_write(program, compiled, "statics::Color::Blue", mem.read):
        mem.write(address, data)
    assert compiled.evaluate(mem.read).display() == "statics::Color::Blue"


def test_unknown_bound_array_takes_its_size_from_the_symbol_table():
    """types.c declares ``extern const int g_table[];``; table.c (built without -g) defines it."""
    from fixture_builds import fixture_elf

    elf = fixture_elf("host-gcc")
    program = load(str(elf))
    mem = ElfMemory(elf)
    c = compile_expression(program, "g_table")
    assert c.size == 20 and c.static_regions()[0].size == 20  # type: ignore[index]
    assert c.evaluate(mem.read).display() == "{1, 2, 3, 4, 5}"
    assert compile_expression(program, "g_table[4]").evaluate(mem.read).display() == "5"
