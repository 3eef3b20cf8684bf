"""gdb is the oracle: for every global/static of every fixture ELF, firmwatch's address, size
and ptype/o layout (member offsets, sizes, bitfield positions) must equal gdb's.

One gdb process per ELF answers for all variables (many ``-ex`` in one batch run).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import pytest

from firmwatch.symbols import Program, Variable, load
from firmwatch.symbols.layout import layout
from fixture_builds import CONFIGS, fixture_elf
from tools import require_tool

_MEMBER = re.compile(r"^/\*\s+(?:(\d+)(?::\s*(\d+))?\s+)?\|?\s*(\d+)\s+\*/")
_TOTAL = re.compile(r"/\* total size \(bytes\):\s+(\d+) \*/")
_ADDR = re.compile(r"^\$\d+ = (?:\(.*?\) )?(0x[0-9a-f]+)", re.M)
_INFO_ADDR = re.compile(r"is static storage at address (0x[0-9a-f]+)")
_SIZE = re.compile(r"^\$\d+ = (\d+)$", re.M)


def gdb_name(prog: Program, v: Variable) -> str:
    """How gdb spells the variable in an expression."""
    if v.scope == "function" and v.function and "::" not in v.qualified.rsplit("::", 1)[0].strip("'"):
        return f"{v.function}::{v.name}"
    if "(anonymous namespace)" in v.qualified or "<" in v.qualified:
        return f"'{v.qualified}'" if not v.qualified.startswith("'") else v.qualified
    return v.qualified


def wanted(prog: Program, v: Variable, language: str) -> bool:
    if v.type is None or any(c in v.name for c in "{}$."):
        return False
    if language == "rust":
        return v.qualified.startswith("statics::")
    return not v.name.startswith("_")


@dataclass
class GdbAnswer:
    address: int | None
    size: int | None
    rows: list[tuple[int | None, int | None, int]]  # (offset or None in unions, bit, size)
    total: int | None
    text: str


def ask_gdb(gdb: str, elf: str, names: list[str], language: str) -> list[GdbAnswer]:
    cmds: list[str] = ["set width 0", "set height 0", "set print type hex off"]
    if language == "rust":
        cmds.append("set language rust")
    for i, n in enumerate(names):
        cmds += [f"echo \\n@@@{i}\\n", f"info address {n}", f"print &{n}"]
        if language == "rust":
            # gdb's Rust parser has no sizeof; its auto language is unreliable on LLVM DWARF 5
            cmds += ["set language c++", f"print sizeof({n})", "set language rust"]
        else:
            cmds.append(f"print sizeof({n})")
        cmds.append(f"ptype/o {n}")
    args = [gdb, "-nx", "-batch"]
    for c in cmds:
        args += ["-ex", c]
    args.append(elf)
    # stderr merged into stdout so each error lands in its variable's chunk
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240, check=False)
    out = r.stdout
    chunks = re.split(r"^@@@(\d+)$", r.stdout, flags=re.M)
    answers: dict[int, GdbAnswer] = {}
    for k in range(1, len(chunks) - 1, 2):
        answers[int(chunks[k])] = _parse(chunks[k + 1])
    assert answers, f"gdb produced nothing usable:\n{out[-3000:]}"
    return [answers.get(i, GdbAnswer(None, None, [], None, "")) for i in range(len(names))]


def _parse(text: str) -> GdbAnswer:
    # "info address" names the storage itself (a C++ reference's own slot, not its referent)
    a = _INFO_ADDR.search(text) or _ADDR.search(text)
    s = _SIZE.search(text)
    rows: list[tuple[int | None, int | None, int]] = []
    total: int | None = None
    for line in text.splitlines():
        m = _MEMBER.match(line.strip())
        if m and "hole" not in line and "padding" not in line:
            off = int(m.group(1)) if m.group(1) is not None else None
            bit = int(m.group(2)) if m.group(2) is not None else None
            rows.append((off, bit, int(m.group(3))))
        t = _TOTAL.search(line)
        if t and total is None:
            total = int(t.group(1))
    # the outermost total is the last one printed
    totals = _TOTAL.findall(text)
    total = int(totals[-1]) if totals else None
    return GdbAnswer(
        int(a.group(1), 16) if a else None,
        int(s.group(1)) if s else None,
        rows,
        total,
        text,
    )


def our_rows(prog: Program, v: Variable) -> list[tuple[int | None, int | None, int]]:
    rows = layout(prog.types, v.type, expand_nested=prog.language != "rust")
    out: list[tuple[int | None, int | None, int]] = []
    for r in rows:
        if r.in_union and r.bit_size is None:
            out.append((None, None, r.size or 0))
        elif r.bit_size is not None:
            bit = (r.bit_offset or 0) % 8
            out.append((None if r.in_union else r.offset, bit, r.size or 0))
        else:
            out.append((r.offset, None, r.size or 0))
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_global_matches_gdb(config: str) -> None:
    c = CONFIGS[config]
    gdb = require_tool(c.gdb)
    elf = fixture_elf(config)
    prog = load(elf, use_cache=False)
    vars_ = [v for v in prog.variables if wanted(prog, v, c.language)]
    assert len(vars_) >= 7, f"too few variables indexed: {[v.qualified for v in prog.variables]}"
    names = [gdb_name(prog, v) for v in vars_]
    answers = ask_gdb(gdb, str(elf), names, c.language)
    problems: list[str] = []
    compared = 0
    for v, n, g in zip(vars_, names, answers):
        if g.address is None:
            # gdb cannot take the address of a constant folded into DWARF (const_value)
            if "isn't an lvalue" in g.text or "optimized out" in g.text:
                continue
            problems.append(f"{n}: gdb gave no address:\n{g.text.strip()[:400]}")
            continue
        compared += 1
        if g.address != v.address:
            problems.append(f"{n}: address firmwatch 0x{v.address:x} != gdb 0x{g.address:x}")
        is_ref = getattr(prog.types.resolved(v.type), "reference", "")
        if g.size is not None and g.size != v.size and not is_ref:  # sizeof(ref) is the referent's
            problems.append(f"{n}: size firmwatch {v.size} != gdb {g.size}")
        ours = our_rows(prog, v)
        if ours != g.rows:
            diff = "\n".join(
                f"  {i:2}: firmwatch {a!s:22} gdb {b!s:22}{'' if a == b else '   <--'}"
                for i, (a, b) in enumerate(_pad(ours, g.rows))
            )
            problems.append(f"{n}: layout differs (offset, bit, size):\n{diff}\n gdb said:\n{g.text.strip()}")
    assert not problems, f"{config}: {len(problems)} disagreements with {c.gdb}:\n" + "\n".join(problems)
    assert compared >= len(vars_) * 0.8, f"only {compared} of {len(vars_)} variables could be compared"


def _pad(a: list, b: list) -> list[tuple[object, object]]:  # type: ignore[type-arg]
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else "-", b[i] if i < len(b) else "-") for i in range(n)]


def test_duplicate_statics_are_disambiguated_like_gdb() -> None:
    require_tool("gdb-multiarch")
    prog = load(fixture_elf("arm-O0-dwarf4"), use_cache=False)
    quals = {v.qualified for v in prog.variables}
    assert {"'dup_a.c'::counter", "'dup_b.c'::counter", "tick_a::hits", "tick_b::hits"} <= quals
    assert "s_counter_unique" in quals and "calls" in quals  # unique names stay plain
    assert prog.find_variable("'dup_b.c'::counter").size == 4
    with pytest.raises(Exception, match="ambiguous"):
        prog.find_variable("counter")
    # the declaration-only g_table (defined in a file without -g) comes from .symtab
    t = prog.find_variable("g_table")
    sym = prog.find_symbol("g_table")
    assert sym is not None and t.address == sym.address and t.size == 20
