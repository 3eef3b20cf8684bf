#!/usr/bin/env python3
"""Symbol engine benchmark: a large generated firmware ELF, firmwatch vs gdb, side by side.

Generates a C program with >= 20,000 globals and >= 2,000 nested struct types, builds it
with ``arm-none-eabi-gcc -g`` (cached in bench/_build/), then measures in ONE run:

* firmwatch cold index (DWARF parsed, cache written),
* firmwatch warm load (from the index cache),
* one expression resolved warm (``compile_expression`` when available),
* ``gdb-multiarch -batch -ex 'info address <global>' ELF``,

and prints a table with ratios against gdb. Usage: ``python bench/symbols.py [--files N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "_build"
sys.path.insert(0, str(HERE.parent / "adapter"))

GLOBALS_PER_FILE = 500
STRUCTS_PER_FILE = 50
GROUP = 10  # structs nest within groups of 10: s_k holds s_(k-1) unless k starts a group


def generate(files: int, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    srcs = []
    for f in range(files):
        lines = ["#include <stdint.h>", ""]
        base = f * STRUCTS_PER_FILE
        for k in range(base, base + STRUCTS_PER_FILE):
            lines.append(f"struct s{k} {{")
            lines.append("    uint32_t id;")
            lines.append(f"    uint16_t samples[{k % 7 + 1}];")
            lines.append("    unsigned ready : 1, mode : 3, level : 12;")
            if k % GROUP:
                lines.append(f"    struct s{k - 1} inner;")
                lines.append(f"    struct s{k - 1} *prev;")
            lines.append("    union { float f; int32_t i; } u;")
            lines.append(f"    enum e{k} {{ E{k}_A, E{k}_B = {k % 5 + 1} }} state;")
            lines.append("};")
        lines.append("")
        for g in range(GLOBALS_PER_FILE):
            k = base + g % STRUCTS_PER_FILE
            name = f"g{f}_{g}"
            kind = g % 5
            if kind == 0:
                lines.append(f"struct s{k} {name};")
            elif kind == 1:
                lines.append(f"volatile uint32_t {name};")
            elif kind == 2:
                lines.append(f"int16_t {name}[{g % 9 + 1}];")
            elif kind == 3:
                lines.append(f"static __attribute__((used)) struct s{k} {name}_st[2];")
            else:
                lines.append(f"const struct s{k} *{name}_p;")
        lines.append(f"int fn{f}(void) {{ static __attribute__((used)) int calls; return ++calls; }}")
        p = out / f"m{f}.c"
        p.write_text("\n".join(lines) + "\n")
        srcs.append(p)
    main = out / "main.c"
    main.write_text("void _start(void) { for (;;) { } }\n")
    srcs.append(main)
    return srcs


def build(files: int) -> Path:
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        sys.exit("bench/symbols.py needs arm-none-eabi-gcc (apt-get install gcc-arm-none-eabi)")
    key = hashlib.sha1(f"{files}:{GLOBALS_PER_FILE}:{STRUCTS_PER_FILE}:{GROUP}:v2".encode()).hexdigest()[:10]
    d = BUILD / f"symbols-{key}"
    elf = d / "big.elf"
    if elf.exists():
        return elf
    srcs = generate(files, d / "src")
    objs = []
    flags = ["-g", "-O0", "-mcpu=cortex-m3", "-mthumb", "-ffreestanding"]
    print(f"building {len(srcs)} files with arm-none-eabi-gcc -g (once; cached in {d}) ...", flush=True)
    for s in srcs:
        o = d / (s.stem + ".o")
        subprocess.run([cc, *flags, "-c", "-o", str(o), str(s)], check=True)
        objs.append(str(o))
    subprocess.run(
        [cc, *flags, "-nostdlib", "-nostartfiles", "-Wl,-e,_start", "-o", str(elf), *objs], check=True
    )
    return elf


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return min(best)


def cpu_timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds (this process and its children): less disturbed by a busy machine."""
    best = []
    for _ in range(repeat):
        a = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        a2 = resource.getrusage(resource.RUSAGE_SELF)
        c2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        best.append(
            (a2.ru_utime - a.ru_utime)
            + (a2.ru_stime - a.ru_stime)
            + (c2.ru_utime - c.ru_utime)
            + (c2.ru_stime - c.ru_stime)
        )
    return min(best)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=40, help="source files (500 globals, 50 structs each)")
    args = ap.parse_args()
    elf = build(args.files)
    from firmwatch.symbols import load

    cache_dir = tempfile.mkdtemp(prefix="firmwatch-bench-cache-")
    os.environ["FIRMWATCH_CACHE_DIR"] = cache_dir
    try:
        t0 = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        cold_prog = load(elf)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cold = time.perf_counter() - t0
        cold_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        n_vars = len(cold_prog.variables)
        n_structs = sum(1 for t in cold_prog.types.types if type(t).__name__ == "StructType")
        del cold_prog
        warm = timed(lambda: load(elf), repeat=5)
        warm_cpu = cpu_timed(lambda: load(elf), repeat=5)
        prog = load(elf)
        target = f"g{args.files // 2}_{GLOBALS_PER_FILE // 2 + 5}"  # kind 0: a struct global
        expr_text = f"{target}.inner.inner.samples[0]"
        try:
            from firmwatch.symbols.expr import compile_expression

            def resolve() -> object:
                return compile_expression(prog, expr_text)

            how = f"compile_expression('{expr_text}')"
        except ImportError:

            def resolve() -> object:
                v = prog.find_variable(target)
                return prog.types.name(v.type)

            how = f"find_variable('{target}') + type name"
        first = timed(resolve)
        steady = statistics.median(timed(resolve) for _ in range(50))
        gdb = shutil.which("gdb-multiarch")
        gdb_t = None
        gdb_cpu = None
        if gdb:
            cmd = [gdb, "-nx", "-batch", "-ex", f"info address {target}", str(elf)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            assert "static storage" in out, out
            gdb_t = timed(lambda: subprocess.run(cmd, capture_output=True, check=False), repeat=3)
            gdb_cpu = cpu_timed(lambda: subprocess.run(cmd, capture_output=True, check=False), repeat=3)
        cache_size = sum(f.stat().st_size for f in Path(cache_dir).glob("*.idx"))
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)

    def ratio(x: float) -> str:
        if not gdb_t:
            return "n/a"
        r = x / gdb_t
        return f"{r:.2f}x gdb" if r >= 0.1 else f"1/{gdb_t / x:,.0f} of gdb"

    print()
    print(
        f"ELF: {elf} ({elf.stat().st_size / 1e6:.1f} MB), {n_vars} globals/statics, {n_structs} struct types,"
    )
    print(f"index cache {cache_size / 1e6:.1f} MB; python {sys.version.split()[0]}")
    print()

    def cratio(x: float) -> str:
        return f"{x / gdb_cpu:.2f}x" if gdb_cpu else "n/a"

    print(
        "| measurement                              | wall        | vs gdb          | CPU       | CPU vs gdb |"
    )
    print(
        "|------------------------------------------|-------------|-----------------|-----------|------------|"
    )
    print(
        f"| firmwatch cold index (parse + cache)     | {cold * 1e3:8.0f} ms | {ratio(cold):15} "
        f"| {cold_cpu * 1e3:6.0f} ms | {cratio(cold_cpu):10} |"
    )
    print(
        f"| firmwatch warm load (from cache, best/5) | {warm * 1e3:8.1f} ms | {ratio(warm):15} "
        f"| {warm_cpu * 1e3:6.0f} ms | {cratio(warm_cpu):10} |"
    )
    print(
        f"| one expression, warm, first call         | {first * 1e3:8.2f} ms | {ratio(first):15} |           |            |"
    )
    print(
        f"| one expression, warm, median of 50       | {steady * 1e3:8.3f} ms | {ratio(steady):15} |           |            |"
    )
    if gdb_t and gdb_cpu:
        print(
            f"| gdb-multiarch -batch 'info address X'    | {gdb_t * 1e3:8.0f} ms | 1.00x gdb       "
            f"| {gdb_cpu * 1e3:6.0f} ms | 1.00x      |"
        )
    print()
    print(f"expression: {how}")
    print(
        f"required: warm load < 200 ms -> {'OK' if warm < 0.2 else 'MISSED'}; "
        f"goal: cold <= gdb -> {'OK' if gdb_t and cold <= gdb_t else 'not met'}; "
        f"goal: expression < 1 ms -> {'OK' if steady < 0.001 else 'not met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
