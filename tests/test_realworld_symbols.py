"""The symbol engine on real firmware (issue 19): FreeRTOS + newlib in C, and C++ with
templates, namespaces and libstdc++'s iostream/locale — built here, checked against gdb
with no name skipped."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import realworld
from firmwatch.symbols import Program, load
from firmwatch.symbols.expr import ExpressionError, compile_expression
from gdb_listing import gdb_variables
from test_gdb_oracle import ask_gdb, our_rows
from tools import require_tool

BUILD = Path(__file__).parent / "_build" / "realworld"
IMAGES = {"c": realworld.c_image, "cpp": realworld.cpp_image}
_cache: dict[str, Program] = {}


def image(kind: str, compress: str | None = None) -> Path:
    require_tool("arm-none-eabi-gcc")
    return IMAGES[kind](BUILD, compress)


def program(kind: str) -> Program:
    if kind not in _cache:
        _cache[kind] = load(image(kind), use_cache=False)
    return _cache[kind]


def gdb_spelling(v) -> str:  # type: ignore[no-untyped-def]
    if v.scope == "function" and v.function:
        return f"{v.function}::{v.name}"
    q = v.qualified
    if q.startswith("'"):
        return q  # 'file.c'::x
    return f"'{q}'" if any(c in q for c in "<( ") else q


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_every_listed_name_is_accepted(kind: str) -> None:
    p = program(kind)
    assert len(p.variables) > 300
    refused = []
    for v in p.variables:
        for spelling in {v.qualified, f"'{v.qualified}'" if not v.qualified.startswith("'") else v.qualified}:
            try:
                c = compile_expression(p, spelling)
            except ExpressionError as e:
                refused.append(f"{spelling}: {e}")
                continue
            if v.address is not None and c.address != v.address:
                refused.append(f"{spelling}: compiled to 0x{c.address or 0:x}, listed at 0x{v.address:x}")
    assert not refused, f"{len(refused)} of {len(p.variables)} listed names refused:\n" + "\n".join(refused[:40])


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_names_match_gdb_info_variables(kind: str) -> None:
    """gdb's list and ours: the same names, except variables with neither storage nor value
    (gdb lists them as optimized out) and constants gdb leaves out."""
    gdb = require_tool("gdb-multiarch")
    p = program(kind)
    theirs = {n for _f, n in gdb_variables(gdb, str(image(kind)))}
    ours = {re.sub(r"^'[^']*'::", "", v.qualified): v for v in p.variables if v.scope != "function"}
    missing = sorted(theirs - ours.keys())
    if missing:  # each must be something gdb itself cannot locate
        answers = ask_gdb(gdb, str(image(kind)), [f"'{n}'" if "<" in n or "(" in n else n for n in missing], "c")
        located = [n for n, a in zip(missing, answers) if a.address is not None]
        assert not located, f"gdb locates these, firmwatch does not list them: {located}"
    extra = [n for n, v in ours.items() if n not in theirs and v.address is not None]
    assert not extra, f"listed by firmwatch with an address, not by gdb: {extra}"
    assert len(theirs & ours.keys()) >= 0.97 * len(theirs)


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_every_variable_matches_gdb(kind: str) -> None:
    """Address, size and layout of every variable with storage, value of every constant."""
    gdb = require_tool("gdb-multiarch")
    p = program(kind)
    # a function's statics: gdb names them only from inside the function (and not at all in
    # an inlined one), so its symbol table is the oracle: 'xLastTime.0' at that address
    statics = [v for v in p.variables if v.scope == "function"]
    args = [gdb, "-nx", "-batch"]
    for i, v in enumerate(statics):
        args += ["-ex", f"echo @@@{i}\\n", "-ex", f"info symbol 0x{v.address:x}"]
    out = subprocess.run([*args, str(image(kind))], capture_output=True, text=True, timeout=300, check=False).stdout
    chunks = dict(zip(*[iter(re.split(r"^@@@(\d+)$", out, flags=re.M)[1:])] * 2))
    wrong = [f"{v.qualified} at 0x{v.address:x}: gdb says {chunks.get(str(i), '').strip()}"
             for i, v in enumerate(statics)
             if not re.match(rf"({re.escape(v.name)}(\.\d+)?|{re.escape(v.qualified)}) in section",
                             chunks.get(str(i), "").strip())]
    assert not wrong, "function statics gdb places elsewhere:\n" + "\n".join(wrong)
    vs = [v for v in p.variables if v.scope != "function"]
    names = [gdb_spelling(v) for v in vs]
    answers = ask_gdb(gdb, str(image(kind)), names, "c++" if kind == "cpp" else "c")
    problems = []
    for v, n, g in zip(vs, names, answers):
        if v.address is None:
            if "isn't an lvalue" not in g.text and "Can't take address" not in g.text:
                problems.append(f"{n}: a constant for firmwatch, gdb says:\n{g.text.strip()[:300]}")
            continue
        if g.address != v.address:
            problems.append(f"{n}: address firmwatch 0x{v.address:x}, gdb {g.address and hex(g.address)}:"
                            f"\n{g.text.strip()[:300]}")
            continue
        ref = getattr(p.types.resolved(v.type), "reference", "")
        if g.size is not None and v.size != g.size and not ref:
            problems.append(f"{n}: size firmwatch {v.size}, gdb {g.size}")
        if v.type is not None and g.rows and our_rows(p, v) != g.rows:
            problems.append(f"{n}: layout differs from gdb's ptype/o")
    assert not problems, f"{len(problems)} of {len(vs)} differ from gdb:\n" + "\n".join(problems[:30])


def test_constants_resolve_like_gdb() -> None:
    """static GpioRegs *const led_port = (GpioRegs *)0x40010800 keeps no storage at -O2."""
    gdb = require_tool("gdb-multiarch")
    p = program("c")
    c = compile_expression(p, "led_port->odr")
    out = subprocess.run([gdb, "-nx", "-batch", "-ex", "print &led_port->odr", str(image("c"))],
                         capture_output=True, text=True, check=False).stdout
    assert c.address == int(re.search(r"0x[0-9a-f]+", out).group(0), 16) == 0x40010814  # type: ignore[union-attr]
    with pytest.raises(ExpressionError, match="needs an object in memory"):
        compile_expression(p, "&led_port")


@pytest.mark.parametrize(
    "spelling",
    [
        "drivers::Filter<float, 16>::last", "'drivers::Filter<float, 16>::last'", "drivers::Filter<float, 16u>::last",
        "drivers::Filter<long, 8u>::last", "drivers::Filter<long int, 8>::count", "drivers::Filter<long int,8>::count",
        "'(anonymous namespace)::hidden_counter'", "(anonymous namespace)::hidden_counter",
        "'std::ctype<char>::id'", "std::collate<char>::id", "app::Controller::instance", "app::Controller::kLoops + 1",
        "drivers::Filter<float, 16>::count + 1", "app::telemetry::last_frame.values[3]",
    ],
)
def test_cpp_spellings_are_accepted(spelling: str) -> None:
    compile_expression(program("cpp"), spelling)


def test_cli_ptype_takes_gdb_spellings() -> None:
    elf = image("cpp")
    for name in ("'drivers::Filter<long, 8u>::last'", "drivers::Filter<long int, 8>::last"):
        r = subprocess.run([sys.executable, "-m", "firmwatch", "ptype", "--no-cache", str(elf), name],
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0 and "long" in r.stdout, (name, r.stdout, r.stderr)


def test_listing_has_no_declaration_duplicates() -> None:
    names = [v.qualified for v in program("cpp").variables]
    assert not [n for n in names if n.startswith("_Z")], "mangled names listed"
    assert len(names) == len(set(names))
    assert "std::collate<char>::id" in names and "drivers::Filter<long, 8u>::last" in names


def test_init_array_in_flash_is_flash() -> None:
    sec = {s.name: s for s in program("cpp").elf.sections}
    assert "W" in sec[".init_array"].flags and sec[".init_array"].kind == "flash"
    assert sec[".data"].kind == "ram" and sec[".bss"].kind == "ram"


@pytest.mark.parametrize("how", ["zstd", "zlib"])
def test_compressed_real_image_reads_the_same(how: str) -> None:
    require_tool("arm-none-eabi-objcopy")
    plain = program("c")
    packed = load(image("c", how), use_cache=False)
    assert [(v.qualified, v.address, v.size) for v in packed.variables] == [
        (v.qualified, v.address, v.size) for v in plain.variables
    ]


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_language_server_hovers_every_listed_name(kind: str) -> None:
    from firmwatch.lsp.hover import subject
    from firmwatch.lsp.index import SymbolIndex

    p = program(kind)
    index = SymbolIndex.build(p, image(kind), 0)
    missed = [v.qualified for v in p.variables if subject(index, v.qualified, None, None) is None]
    assert not missed, f"{len(missed)} listed names get no hover: {missed[:20]}"
    # the name under the cursor in C++ source, template arguments and all
    from firmwatch.lsp.text import expression_at

    text = "x = drivers::Filter<long, 8u>::last;"
    expr = expression_at(text, text.index("last") + 1)
    assert expr is not None and expr[0] == "drivers::Filter<long, 8u>::last"
    if kind == "cpp":
        s = subject(index, expr[0], None, None)
        assert s is not None and s.type_name == "long int" and s.address is not None


@pytest.mark.parametrize(
    ("kind", "expr"),
    [("c", "g_config"), ("c", "g_config.loops[1].flags"), ("c", "'comm.c'::counter"), ("c", "led_port"),
     ("cpp", "'drivers::Filter<long, 8u>::last'"), ("cpp", "app::telemetry::last_frame"), ("cpp", "g_log")],
)
def test_first_lookup_reads_only_the_units_naming_it(kind: str, expr: str, tmp_path: Path) -> None:
    """ptype --no-cache answers from the units that name the expression's words (load_partial),
    exactly as after a whole index."""
    from firmwatch.symbols.loader import load_partial

    part = load_partial(image(kind), expr)
    assert part is not None and len(part.variables) < len(program(kind).variables)
    cmd = [sys.executable, "-m", "firmwatch", "ptype"]
    env_cache = {"FIRMWATCH_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([*cmd, "--no-cache", str(image(kind)), expr], capture_output=True, text=True, check=True)
    whole = subprocess.run([*cmd, str(image(kind)), expr], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, **env_cache})
    assert first.stdout == whole.stdout and first.stdout


def _function_starts(path: Path, p: Program):  # type: ignore[no-untyped-def]
    from firmwatch.symbols.sources import read_sources

    fns = {s.address: s.name for s in p.symbols if s.kind == "function"}
    return fns, read_sources(path, fns, p.elf.machine == "ARM")


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_function_starts_are_in_the_file_gdb_names(kind: str) -> None:
    """Where each function starts (the language server's definition and hover) is in the file
    gdb's ``info line *ADDR`` names — also for a function placed right after another unit's
    code, whose last row sits at that address and covers nothing."""
    p = program(kind)
    fns, info = _function_starts(image(kind), p)
    assert not info.notes and info.comp_dirs
    assert len(info.function_lines) > 0.8 * len(fns)
    at = {n: a & ~1 for a, n in fns.items()}
    twice = {n for n, k in Counter(fns.values()).items() if k > 1}  # e.g. in two anonymous namespaces
    names = sorted(set(info.function_lines) - twice)
    args = [require_tool("gdb-multiarch"), "-nx", "-batch", "-ex", "set width 0"]
    for n in names:
        args += ["-ex", f"info line *0x{at[n]:x}"]
    out = subprocess.run([*args, str(image(kind))], capture_output=True, text=True, timeout=600,
                         check=True).stdout.splitlines()
    answers = [ln for ln in out if ln.startswith(("Line ", "No line number"))]
    assert len(answers) == len(names), out[:5]
    wrong = []
    for n, ans in zip(names, answers):
        m = re.match(r'Line \d+ of "([^"]+)"', ans)
        assert m, ans
        theirs = m.group(1)
        if theirs.endswith((".h", ".tcc")) or "/include/" in theirs or "/bits/" in theirs:
            continue  # gdb names the last row at the address: often code inlined from a header
        ours = info.function_lines[n][0]
        if ours.rsplit("/", 1)[-1] != theirs.rsplit("/", 1)[-1]:
            wrong.append(f"{n}: {ours} (gdb: {theirs})")
    assert not wrong, "\n".join(wrong[:30])
    if kind == "c":
        lines = info.function_lines
        assert lines["vListInitialise"][0].endswith("/list.c")  # follows queue.c's last row
        assert lines["strcmp"][0].endswith("strcmp-armv7m.S")
        assert lines["malloc"][0].endswith("/malloc.c")


@pytest.mark.parametrize("how", ["zstd", "zlib"])
def test_compressed_real_image_gives_the_same_sources(how: str) -> None:
    """Compilation directories and function starts through compressed debug sections: the
    language server once read them with pyelftools, which knows no zstd, and got nothing."""
    require_tool("arm-none-eabi-objcopy")
    fns, plain = _function_starts(image("c"), program("c"))
    _, packed = _function_starts(image("c", how), program("c"))
    assert packed.comp_dirs == plain.comp_dirs and len(plain.comp_dirs) > 3
    assert packed.function_lines == plain.function_lines and len(plain.function_lines) > 300
