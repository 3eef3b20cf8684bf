#!/usr/bin/env python3
"""Real-world and large ELFs: firmwatch against gdb, whole processes, side by side (issue 19).

Builds (once, cached in bench/_build/realworld) the images of tests/realworld.py: a FreeRTOS +
newlib C firmware, a C++ firmware with templates and libstdc++ iostream/locale, and generated
C++ firmwares of 8 / 24 / 60 libstdc++-heavy units for the scaling curve (60 is 50 MB+). Then
prints, for each image, in one run:

* names: listed by ``firmwatch symbols``, accepted by the expression compiler, matching gdb's
  ``info variables`` (same names; gdb also lists variables with neither storage nor value);
* cold: ``firmwatch symbols --no-cache ELF`` vs ``gdb -batch -ex 'info variables' ELF``;
* warm: ``firmwatch symbols ELF`` with the index cache in place;
* first lookup: ``firmwatch ptype --no-cache ELF X`` vs ``gdb -batch -ex 'info address X' ELF``;
* peak memory (max RSS) of the cold firmwatch process and of gdb's ``info variables``;

every time the best of N runs of the whole process (interpreter start-up included), with the
load average printed beside the figures. Usage: ``python bench/large_elf.py [--runs N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "adapter"), str(ROOT / "tests")]

import realworld  # noqa: E402
from gdb_listing import gdb_variables  # noqa: E402

BUILD = HERE / "_build" / "realworld"
FW = [sys.executable, "-m", "firmwatch"]


class Measured:
    """Best wall time, best CPU time (user + system: steadier on a shared machine), max RSS in KiB."""

    def __init__(self) -> None:
        self.wall = self.cpu = float("inf")
        self.rss = 0


def run(cmd: list[str], env: dict[str, str], runs: int) -> Measured:
    m = Measured()
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *cmd], env=env, capture_output=True, text=True,
                           check=False)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
        rss, user, sys_ = r.stderr.strip().splitlines()[-1].split()
        m.wall = min(m.wall, dt)
        m.cpu = min(m.cpu, float(user) + float(sys_))
        m.rss = max(m.rss, int(rss))
    return m


def names(elf: Path, gdb: str) -> tuple[int, int, int, int]:
    from firmwatch.symbols import load
    from firmwatch.symbols.expr import ExpressionError, compile_expression

    p = load(elf, use_cache=False)
    accepted = 0
    for v in p.variables:
        try:
            compile_expression(p, v.qualified)
            accepted += 1
        except ExpressionError:
            pass
    theirs = {n for _f, n in gdb_variables(gdb, str(elf))}
    ours = {re.sub(r"^'[^']*'::", "", v.qualified) for v in p.variables if v.scope != "function"}
    return len(p.variables), accepted, len(theirs & ours), len(theirs)


def lookup_name(elf: Path) -> str:
    """A global with a struct type from the program's own sources (not the C library)."""
    from firmwatch.symbols import load

    p = load(elf, use_cache=False)
    for pref in ("g_config", "g_comm_stats", "app::telemetry::last_frame", "unit0::records"):
        try:
            return p.find_variable(pref).qualified
        except Exception:  # noqa: BLE001 - try the next
            continue
    return next(v.qualified for v in p.variables if v.address)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (best is kept)")
    ap.add_argument("--quick", action="store_true", help="the two real images only (no 24/60-unit builds)")
    args = ap.parse_args()
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        sys.exit("bench/large_elf.py needs gdb-multiarch")
    print("building the images (cached in bench/_build/realworld) ...", flush=True)
    images = [("FreeRTOS + newlib (C)", realworld.c_image(BUILD)), ("templates + iostream (C++)", realworld.cpp_image(BUILD))]
    for units in () if args.quick else (8, 24, 60):
        images.append((f"generated C++, {units} units", realworld.big_image(BUILD, units)))
    cache = tempfile.mkdtemp(prefix="firmwatch-bench-cache-")
    env = {**os.environ, "FIRMWATCH_CACHE_DIR": cache, "PYTHONPATH": str(ROOT / "adapter")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what a user runs: compiled modules cached
    subprocess.run([*FW, "--help"], env=env, capture_output=True, check=True)
    rows = []
    try:
        for title, elf in images:
            x = lookup_name(elf)
            gx = f"'{x}'" if any(c in x for c in "<( ") else x
            listed, accepted, common, theirs = names(elf, gdb)
            cold = run([*FW, "symbols", "--no-cache", str(elf)], env, args.runs)
            subprocess.run([*FW, "symbols", str(elf)], env=env, capture_output=True, check=True)
            warm = run([*FW, "symbols", str(elf)], env, args.runs)
            first = run([*FW, "ptype", "--no-cache", str(elf), x], env, args.runs)
            g_vars = run([gdb, "-nx", "-batch", "-ex", "info variables", str(elf)], env, args.runs)
            g_addr = run([gdb, "-nx", "-batch", "-ex", f"info address {gx}", str(elf)], env, args.runs)
            rows.append((title, elf.stat().st_size, listed, accepted, common, theirs, cold, warm, first, g_vars,
                         g_addr, x))
            print(f"  measured {title} (load average {os.getloadavg()[0]:.2f})", flush=True)
        version = subprocess.run([*FW, "--version"], env=env, capture_output=True, text=True).stdout.strip()
        start = run([*FW, "--version"], env, args.runs * 2)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    load = os.getloadavg()
    gdb_version = subprocess.run([gdb, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print()
    print(f"{version}; python {sys.version.split()[0]}; {gdb_version}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; best of {args.runs} "
          "whole-process runs; wall (CPU = user + system)")
    print()
    print("| image | ELF | names listed / accepted / matching gdb | cold: fw symbols / gdb info variables | warm "
          "| first lookup: fw ptype / gdb info address | peak RSS fw cold / gdb |")
    print("|---|---|---|---|---|---|---|")

    def pair(a: Measured, b: Measured) -> str:
        return (f"{a.wall * 1e3:.0f} / {b.wall * 1e3:.0f} ms = {a.wall / b.wall:.2f}x "
                f"(CPU {a.cpu * 1e3:.0f} / {b.cpu * 1e3:.0f} = {a.cpu / max(b.cpu, 1e-3):.2f}x)")

    for (title, size, listed, accepted, common, theirs, cold, warm, first, g_vars, g_addr, _x) in rows:
        print(f"| {title} | {size / 1e6:.1f} MB | {listed} / {accepted} / {common} of gdb's {theirs} | "
              f"{pair(cold, g_vars)} | {warm.wall * 1e3:.0f} ms | {pair(first, g_addr)} | "
              f"{cold.rss / 1024:.0f} / {g_vars.rss / 1024:.0f} MiB |")
    print()
    print(f"CLI start-up: firmwatch --version {start.wall * 1e3:.0f} ms wall, {start.cpu * 1e3:.0f} ms CPU "
          f"(goal < 80 ms: {'OK' if start.wall < 0.08 else 'not met'})")
    print("lookups: " + "; ".join(f"{r[0]}: {r[-1]}" for r in rows))
    big = [r for r in rows if r[0].startswith("generated")]
    if big:
        print()
        print("scaling curve (cold index, whole process, wall / CPU):")
        for r in big:
            print(f"  {r[1] / 1e6:6.1f} MB  firmwatch {r[6].wall:6.2f} / {r[6].cpu:6.2f} s   gdb info variables "
                  f"{r[9].wall:6.2f} / {r[9].cpu:6.2f} s   ratio {r[6].wall / r[9].wall:.2f} / "
                  f"{r[6].cpu / r[9].cpu:.2f}   peak RSS {r[6].rss / 1024:.0f} / {r[9].rss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
