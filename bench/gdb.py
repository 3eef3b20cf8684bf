#!/usr/bin/env python3
"""GDB transports benchmark: batches of 8 watches per second, side by side in one run.

Runs the demo firmware on QEMU Cortex-M3 (``firmwatch.sim``) and measures, one after the
other against the same emulator:

* (a) our RSP client (``firmwatch.targets.rsp``) at full rate, intrusion budget disabled:
  every batch halts, reads the 8 regions (coherent), resumes;
* (b) our gdb path (``firmwatch.targets.gdb``): gdb connected through firmwatch's bridge,
  the batch sampled on the shared server link with the RSP policy, unseen by gdb;
* (c) a naive baseline: pygdbmi driving gdb in MI async mode, interrupt → read a watch with
  ``-data-read-memory-bytes`` → continue, for each watch in a loop (what a simple tool does),
  and the same with one interrupt per batch of 8 reads (a stronger baseline);

then the share of time the target spends halted when each samples at 100 Hz (and, for RSP,
what the default 1 % budget makes of a 100 Hz request). Prints a table with ratios.

Usage: ``python bench/gdb.py [--seconds 3] [--board cortex-m3|riscv32|avr]``
"""

from __future__ import annotations

import argparse
import select
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "adapter"))

from firmwatch.sim import start_sim  # noqa: E402
from firmwatch.targets.base import Region  # noqa: E402
from firmwatch.targets.rsp import RspTarget  # noqa: E402

WATCHED = ["loop_count", "timestamp_ms", "heartbeat_counter", "accel_x", "accel_y", "accel_z",
           "sensor_temp", "fsm_state"]
GDB_FOR = {"cortex-m3": "gdb-multiarch", "riscv32": "gdb-multiarch", "avr": "avr-gdb"}
ARCH = {"cortex-m3": "ARM", "riscv32": "RISC-V", "avr": "AVR"}
GOAL_GDB_HZ = 50.0  # issue 4: >= 50 batches/s through gdb ...
GOAL_HALTED = 0.02  # ... with under 2 % of the time halted


@dataclass
class Result:
    rate: float | None  # batches per second
    halted: float | None  # fraction of time halted


def elf_regions(elf: Path) -> list[Region]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    syms: dict[str, tuple[int, int]] = {}
    with open(elf, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for s in sec.iter_symbols():
                    syms.setdefault(s.name, (s["st_value"], s["st_size"]))
    return [Region(*syms[name]) for name in WATCHED]


# -- (a) our RSP client --------------------------------------------------------------------
def rsp_run(gdb: str, arch: str, regions: list[Region], rate: float, seconds: float,
            budget: float | None) -> Result:
    t = RspTarget(gdb, expect_arch=arch, budget=budget)
    count = 0

    def on_sample(_s: object) -> None:
        nonlocal count
        count += 1

    try:
        t.on_sample(on_sample)
        t.start_stream(regions, rate)
        start = time.monotonic()
        time.sleep(seconds)  # measuring a rate over a fixed window: the sleep is the window
        n, elapsed = count, time.monotonic() - start
        frac = t.halted_fraction()
        t.stop_stream()
        return Result(n / elapsed, frac)
    finally:
        t.close()


# -- (b) our gdb path ------------------------------------------------------------------------
def gdb_path_run(gdb: str, elf: Path, regions: list[Region], rate: float, seconds: float,
                 budget: float | None = None) -> Result:
    """firmwatch.targets.gdb: gdb-multiarch attached through our bridge, the watches sampled
    on the shared link while gdb believes the target runs (gdb is connected the whole time)."""
    from firmwatch.targets.gdb import GdbTarget

    t = GdbTarget(elf, gdb, budget=budget)
    count = 0

    def on_sample(_s: object) -> None:
        nonlocal count
        count += 1

    try:
        assert t.running, "gdb must see the target running while it is sampled"
        t.on_sample(on_sample)
        t.start_stream(regions, rate)
        start = time.monotonic()
        time.sleep(seconds)  # measuring a rate over a fixed window: the sleep is the window
        n, elapsed = count, time.monotonic() - start
        frac = t.halted_fraction()
        t.stop_stream()
        return Result(n / elapsed, frac)
    finally:
        t.close()


# -- (c) naive pygdbmi baseline --------------------------------------------------------------
class Mi:
    """pygdbmi with a select-based wait for one token's result (mi-async on)."""

    def __init__(self, gdb_exe: str, elf: Path):
        from pygdbmi.gdbcontroller import GdbController

        self.ctl = GdbController(
            command=[gdb_exe, "--nx", "--quiet", "--interpreter=mi3", str(elf)],
            time_to_check_for_additional_output_sec=0,  # the default 0.2 s caps us at ~5 reads/s
        )
        self.token = 100
        self.pending: list[dict] = []

    def _records(self, timeout: float) -> None:
        out = self.ctl.gdb_process.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        if ready:
            self.pending += self.ctl.io_manager.get_gdb_response(timeout_sec=0, raise_error_on_timeout=False)

    def wait(self, match: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, r in enumerate(self.pending):
                if match(r):
                    del self.pending[: i + 1]
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"gdb did not answer in time; last records: {self.pending[-3:]}")
            self._records(left)

    def cmd(self, text: str, want: str = "done", timeout: float = 5.0) -> dict:
        self.token += 1
        tok = self.token
        self.ctl.write(f"{tok}{text}", read_response=False)
        r = self.wait(lambda r: r.get("token") == tok and r.get("type") == "result", timeout)
        if r.get("message") not in (want, "done"):
            raise RuntimeError(f"gdb: {text} -> {r.get('message')} {r.get('payload')}")
        return r

    def stopped(self) -> None:
        self.wait(lambda r: r.get("type") == "notify" and r.get("message") == "stopped")

    def close(self) -> None:
        try:
            self.cmd("-target-detach", timeout=2)
        except Exception:
            pass
        self.ctl.exit()


def naive_run(gdb_exe: str, gdb: str, elf: Path, regions: list[Region], rate: float | None,
              seconds: float, per_watch: bool = True) -> Result:
    """``per_watch``: interrupt/read/continue around each watch (what the naive loop does);
    otherwise one interrupt per batch of 8 reads (a stronger baseline, printed as well)."""
    mi = Mi(gdb_exe, elf)
    try:
        mi.cmd("-gdb-set mi-async on")
        mi.cmd(f"-target-select extended-remote {gdb}", want="connected")
        mi.cmd("-exec-continue", want="running")
        halted = 0.0
        batches = 0
        start = time.monotonic()
        next_due = start
        while time.monotonic() - start < seconds:
            if rate is not None:
                now = time.monotonic()
                if now < next_due:
                    time.sleep(next_due - now)  # the loop's own pacing at the requested rate
                next_due += 1.0 / rate
            for group in ([[r] for r in regions] if per_watch else [regions]):
                t0 = time.monotonic()
                mi.cmd("-exec-interrupt")
                mi.stopped()
                for r in group:
                    mi.cmd(f"-data-read-memory-bytes 0x{r.address:x} {r.size}")
                mi.cmd("-exec-continue", want="running")
                halted += time.monotonic() - t0
            batches += 1
        elapsed = time.monotonic() - start
        mi.cmd("-exec-interrupt")
        mi.stopped()
        return Result(batches / elapsed, halted / elapsed)
    finally:
        mi.close()


# -- the table ---------------------------------------------------------------------------------
def fmt_rate(r: Result | None) -> str:
    return "n/a (not yet)" if r is None or r.rate is None else f"{r.rate:,.0f}/s"


def fmt_frac(r: Result | None) -> str:
    return "n/a (not yet)" if r is None or r.halted is None else f"{100 * r.halted:.2f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="measurement window per column")
    ap.add_argument("--board", default="cortex-m3", choices=sorted(GDB_FOR))
    args = ap.parse_args()
    gdb_exe = shutil.which(GDB_FOR[args.board])

    with start_sim(args.board) as dev:
        assert dev.gdb is not None
        regions = elf_regions(dev.elf)
        arch = ARCH[args.board]
        print(f"board {args.board}, demo firmware {dev.elf}, {len(regions)} watches, {args.seconds:g} s per column")
        full = 1e6  # "as fast as it goes": the sampler runs back-to-back rounds
        a_full = rsp_run(dev.gdb, arch, regions, full, args.seconds, budget=None)
        a_100 = rsp_run(dev.gdb, arch, regions, 100.0, args.seconds, budget=None)
        a_budget = rsp_run(dev.gdb, arch, regions, 100.0, args.seconds, budget=RspTarget.DEFAULT_BUDGET)
        b_full = gdb_path_run(dev.gdb, dev.elf, regions, full, args.seconds)
        b_100 = gdb_path_run(dev.gdb, dev.elf, regions, 100.0, args.seconds)
        b_budget = gdb_path_run(dev.gdb, dev.elf, regions, 100.0, args.seconds, budget=GOAL_HALTED)
        c_full = c_100 = d_full = d_100 = None
        if gdb_exe:
            c_full = naive_run(gdb_exe, dev.gdb, dev.elf, regions, None, args.seconds)
            c_100 = naive_run(gdb_exe, dev.gdb, dev.elf, regions, 100.0, args.seconds)
            d_full = naive_run(gdb_exe, dev.gdb, dev.elf, regions, None, args.seconds, per_watch=False)
            d_100 = naive_run(gdb_exe, dev.gdb, dev.elf, regions, 100.0, args.seconds, per_watch=False)
        else:
            print(f"{GDB_FOR[args.board]} is not installed: no naive baseline")

    rows = [
        ("(a) firmwatch RSP", fmt_rate(a_full), f"{fmt_frac(a_100)} ({a_100.rate:.0f}/s)"),
        ("(b) firmwatch gdb", fmt_rate(b_full), f"{fmt_frac(b_100)} ({b_100.rate:.0f}/s)"),
        ("(c) naive pygdbmi interrupt/read/continue per watch", fmt_rate(c_full),
         f"{fmt_frac(c_100)} ({c_100.rate:.0f}/s)" if c_100 else "n/a"),
        ("    same, one interrupt per batch of 8", fmt_rate(d_full),
         f"{fmt_frac(d_100)} ({d_100.rate:.0f}/s)" if d_100 else "n/a"),
    ]
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'path':<{w}}  {'batches/s, full rate':>22}  {'halted at 100 Hz (achieved)':>30}")
    for name, rate, frac in rows:
        print(f"{name:<{w}}  {rate:>22}  {frac:>30}")
    print()
    print(f"(a) with the default {100 * RspTarget.DEFAULT_BUDGET:g} % budget, asked for 100 Hz: "
          f"{a_budget.rate:.1f} batches/s, halted {fmt_frac(a_budget)}")
    for label, full_r, at100 in (("(c)", c_full, c_100), ("(c, per batch)", d_full, d_100)):
        if full_r and full_r.rate and a_full.rate:
            print(f"ratio (a)/{label} full rate: {a_full.rate / full_r.rate:.1f}x")
        if at100 and at100.halted and a_100.halted:
            print(f"ratio {label}/(a) halted fraction at 100 Hz: {at100.halted / a_100.halted:.1f}x less intrusion")
    print(f"(b) with a {100 * GOAL_HALTED:g} % budget, asked for 100 Hz: {b_budget.rate:.1f} batches/s, "
          f"halted {fmt_frac(b_budget)} (goal: >= {GOAL_GDB_HZ:g}/s under {100 * GOAL_HALTED:g} %)")
    if a_full.rate and b_full.rate:
        print(f"ratio (a)/(b) full rate: {a_full.rate / b_full.rate:.2f}x")
    for label, full_r in (("(c)", c_full), ("(c, per batch)", d_full)):
        if full_r and full_r.rate and b_full.rate:
            print(f"ratio (b)/{label} full rate: {b_full.rate / full_r.rate:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
