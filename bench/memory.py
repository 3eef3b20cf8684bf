#!/usr/bin/env python3
"""Memory-health benchmark (issue 11): the cost of one refresh per transport, the halted share
of a halting GDB server at 1 Hz, and the flash/RAM cost of the optional firmware helpers.

* Refresh cost: the demo firmware (stack paint + malloc wrap linked, the demo recursing and
  holding blocks) on the host device (pty), QEMU Cortex-M3 (UART pty and gdb stub, halt mode),
  QEMU RISC-V (gdb stub) and simavr ATmega328P (UART pty and gdb stub, live reads). Bytes read
  and milliseconds per settled refresh (median), beside the baseline a naive monitor pays: reading
  the whole free-RAM-and-stack area every refresh. Over the streamer it also prints the time the
  bytes take on a 921600-baud UART (the ptys here have no baud rate): request and reply frames,
  10 bits a byte. Goal: < 256 bytes and < 10 ms a refresh over the streamer at 921600 baud.
* Halted share: one refresh a second for ``--seconds`` on QEMU's gdb stub, which halts the CPU
  to serve memory and registers; the share of wall time the CPU spent halted for it. Goal: < 0.5 %.
* Helper cost: fw_stack.c and fw_heap.c compiled at -Os for Cortex-M3 and the ATmega328P
  (the table of 16 and 8 blocks the ports use), flash = text + data, RAM = data + bss.

Usage: ``python bench/memory.py [--refreshes 20] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "adapter"))

from firmwatch.session.connect import open_target  # noqa: E402
from firmwatch.session.memory_health import MemoryMonitor  # noqa: E402
from firmwatch.session.session import Session  # noqa: E402
from firmwatch.sim import firmware_source_dir, start_sim  # noqa: E402
from firmwatch.symbols import load  # noqa: E402
from firmwatch.targets.streamer import StreamerTarget  # noqa: E402

GOAL_BYTES, GOAL_MS, GOAL_HALTED = 256, 10.0, 0.005
BAUD = 921600


def on_wire(target) -> int:  # type: ignore[no-untyped-def]
    """Bytes the streamer has sent and received (0 over a GDB server, which has no baud rate here)."""
    return target.rx_bytes + target.tx_bytes if isinstance(target, StreamerTarget) else 0
DEPTH = {"host": 300, "cortex-m3": 16, "riscv32": 16, "avr": 8}


def refresh_cost(board: str, via: str, refreshes: int, build: Path) -> dict:
    with start_sim(board, build_dir=build / board) as dev:
        program = load(str(dev.elf))
        target = open_target(port=dev.port) if via == "port" else open_target(gdb=dev.gdb, program=program)
        session = Session(program, target)
        try:
            session.write("demo_stack_depth", str(DEPTH[board]))
            session.write("demo_alloc_size", "24")
            session.write("demo_alloc_blocks", "4")
            time.sleep(0.5)
            m = MemoryMonitor(program, target, regions=session.info.regions)
            for _ in range(5):  # the first refreshes find the edge; what follows is the steady cost
                m.refresh()
            costs = []
            for _ in range(refreshes):
                before = on_wire(target)
                h = m.refresh()
                costs.append((h.bytes_read, h.reads, h.elapsed_ms, on_wire(target) - before))
                time.sleep(0.05)
            # a naive monitor reads the whole painted area (what is left and what was used) every time
            naive = (h.value("stack.peak") or 0) + (h.value("stack.unused") or 0) or None
        finally:
            session.write("demo_stack_depth", "0")
            session.close()
            target.close()
    nbytes = statistics.median(c[0] for c in costs)
    reads = statistics.median(c[1] for c in costs)
    ms = statistics.median(c[2] for c in costs)
    # the streamer's own count of the bytes it sent and received: request and reply frames, headers and CRCs
    wire = statistics.median(c[3] for c in costs) * 10 / BAUD * 1000 if via == "port" else None
    return {"board": board, "via": via, "bytes": nbytes, "reads": reads, "ms": ms, "wire_ms": wire, "naive": naive}


def halted_share(seconds: float, build: Path) -> tuple[float, float, float, int]:
    with start_sim("cortex-m3", build_dir=build / "cortex-m3") as dev:
        program = load(str(dev.elf))
        target = open_target(gdb=dev.gdb, program=program)
        try:
            m = MemoryMonitor(program, target)
            m.refresh()
            m.halted_s = 0.0
            t0 = time.monotonic()
            n = 0
            halts = []
            while time.monotonic() - t0 < seconds:
                before = m.halted_s
                m.refresh()
                halts.append(m.halted_s - before)
                n += 1
                time.sleep(max(0.0, t0 + n - time.monotonic()))
            elapsed = time.monotonic() - t0
            return m.halted_s / elapsed, 1000.0 * m.halted_s / n, 1000.0 * statistics.median(halts), n
        finally:
            target.close()


def helper_cost() -> list[tuple[str, str, int, int]]:
    fw = firmware_source_dir()
    out = []
    compilers = {
        "Cortex-M3": (["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb"], "arm-none-eabi-size", 16),
        "ATmega328P": (["avr-gcc", "-mmcu=atmega328p"], "avr-size", 8),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for arch, (cc, size, table) in compilers.items():
            for name, src in (("stack paint", "stack_paint/fw_stack.c"), ("malloc wrap", "heap_wrap/fw_heap.c")):
                obj = Path(tmp) / f"{arch}-{Path(src).stem}.o"
                subprocess.run([*cc, "-std=c99", "-Os", "-fno-common", f"-DFW_HEAP_TABLE_SIZE={table}", "-c", str(fw / "extras" / src),
                                "-o", str(obj)], check=True)
                text, data, bss = (int(x) for x in subprocess.run([size, str(obj)], capture_output=True, text=True,
                                                                  check=True).stdout.splitlines()[1].split()[:3])
                out.append((arch, name + (f" ({table}-block table)" if "wrap" in name else ""), text + data, data + bss))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refreshes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    build = Path(tempfile.mkdtemp(prefix="fw-bench-memory-"))
    print("== one memory-health refresh (settled: the edge known), median of", args.refreshes)
    print(f"{'board / transport':28} {'bytes':>6} {'reads':>5} {'ms':>7} {'921600-baud wire ms':>20} "
          f"{'naive full-area bytes':>22} {'bytes vs naive':>15} {'vs goal <256 B':>15} {'vs goal <10 ms':>15}")
    for board, via in (("host", "port"), ("cortex-m3", "port"), ("cortex-m3", "gdb"), ("riscv32", "gdb"),
                       ("avr", "port"), ("avr", "gdb")):
        r = refresh_cost(board, via, args.refreshes, build)
        label = f"{board} / {'streamer' if via == 'port' else 'GDB (' + ('halt' if board != 'avr' else 'live') + ')'}"
        wire = f"{r['wire_ms']:.2f}" if r["wire_ms"] is not None else "-"
        naive = r["naive"] or 0
        ms_goal = f"{(r['ms'] + r['wire_ms']) / GOAL_MS:>14.2f}x" if r["wire_ms"] is not None else f"{'-':>15}"
        print(f"{label:28} {r['bytes']:>6.0f} {r['reads']:>5.0f} {r['ms']:>7.2f} {wire:>20} {naive:>22} "
              f"{(r['bytes'] / naive if naive else float('nan')):>14.3f}x {r['bytes'] / GOAL_BYTES:>14.2f}x {ms_goal}")
    print("(streamer ms goal: measured on the pty plus the 921600-baud wire time; a GDB refresh waits for the "
          "intrusion budget before it halts, so its latency is no cost to the target: see the halted share)")
    load = os.getloadavg()[0]
    share, per_refresh_ms, median_ms, n = halted_share(args.seconds, build)
    print(f"\n== halted share at 1 Hz, QEMU Cortex-M3 gdb stub (halts to serve reads), {n} refreshes, "
          f"machine load average {load:.1f} on {os.cpu_count()} cores")
    print(f"halted {100 * share:.3f} % of the time ({per_refresh_ms:.2f} ms a refresh on average, median "
          f"{median_ms:.2f} ms: {median_ms / 10:.3f} % at 1 Hz); goal < {100 * GOAL_HALTED:.1f} %: "
          f"{share / GOAL_HALTED:.2f}x of the goal (median: {median_ms / 10 / (100 * GOAL_HALTED):.2f}x)")
    print("(one halt carries the stack pointer and every read; its length is QEMU's and the host's latency, "
          "which a loaded machine stretches)")
    print("\n== flash and RAM of the optional firmware helpers (-Os, object code)")
    print(f"{'target':12} {'helper':34} {'flash B':>8} {'RAM B':>6}")
    for arch, name, flash, ram in helper_cost():
        print(f"{arch:12} {name:34} {flash:>8} {ram:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
