#!/usr/bin/env python3
"""RTOS snapshot cost (issue 15): one FreeRTOS snapshot of the demo's 8 tasks (firmware/rtos on
QEMU Cortex-M3), bytes read and time per transport; snapshots per second over the streamer;
halted share over a halting GDB server (QEMU's gdb stub, direct RSP) refreshing at 1 Hz, with the
search of the whole heap for timers that are not running (every HEAP_SCAN_S) counted in — side by
side with the issue's baseline, mcu-debug rtos-views (over a second per refresh, halted-only).

    python bench/rtos.py [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from firmwatch.rtos.monitor import HEAP_SCAN_S, RtosMonitor
from firmwatch.session.connect import open_target
from firmwatch.sim import start_sim
from firmwatch.symbols import load

BASELINE_S = 1.0  # mcu-debug rtos-views: "over a second per refresh" (issue 15), with the CPU halted


def steady(m: RtosMonitor, n: int) -> list:
    for _ in range(3):  # discover the tasks, fill the stack scanners
        m.refresh()
    return [m.refresh() for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the 1 Hz halting run (default 10)")
    ap.add_argument("--snapshots", type=int, default=30, help="snapshots per transport (default 30)")
    args = ap.parse_args()
    rows = []
    with start_sim("cortex-m3-freertos", tcp=True) as dev:
        program = load(str(dev.elf))
        with open_target(port=dev.port, program=program) as t:
            m = RtosMonitor(program, t)
            snaps = steady(m, args.snapshots)
            t0 = time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < 3.0:
                n += m.refresh().complete
            rate = n / (time.perf_counter() - t0)
            rows.append(("streamer (QEMU UART, TCP)", snaps, rate, None))
        with open_target(gdb=dev.gdb, program=program, budget=None) as t:
            m = RtosMonitor(program, t)
            snaps = steady(m, args.snapshots)
            rate = len(snaps) / (sum(s.elapsed_ms for s in snaps) / 1000)
            # 1 Hz with the default 1 % budget: the share of time the CPU stood halted
            mb = RtosMonitor(program, t)
            steady(mb, 1)
            halted0, t0 = mb.halted_s, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                tick = time.perf_counter()
                mb.refresh()
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
            share = (mb.halted_s - halted0) / (time.perf_counter() - t0)
            # the heap search for timers that are not running: one longer halt every HEAP_SCAN_S
            scans = []
            for _ in range(5):
                mb._heap_scanned = float("-inf")
                scans.append(mb.refresh())
            scan_ms = statistics.median(1000 * x.halted_s for x in scans)
            share += scan_ms / 1000 / HEAP_SCAN_S
            rows.append(("GDB server (QEMU stub, RSP), halting", snaps, rate, share))
    tasks = len(rows[0][1][-1].tasks)
    timers = rows[0][1][-1].timers
    print(f"one RTOS snapshot of {tasks} tasks, {len(timers)} timers ({sum(not x.active for x in timers)} not running) "
          f"(FreeRTOS demo, QEMU Cortex-M3), median of {args.snapshots}; load average {os.getloadavg()[0]:.1f} "
          "on this machine:")
    print(f"{'transport':<38} {'bytes':>7} {'reads':>6} {'ms':>8} {'snap/s':>8} {'halted @1Hz':>12} "
          f"{'vs rtos-views':>14}")
    for name, snaps, rate, share in rows:
        ms = statistics.median(s.elapsed_ms for s in snaps)
        b = statistics.median(s.bytes_read for s in snaps)
        r = statistics.median(s.reads for s in snaps)
        complete = sum(s.complete for s in snaps)
        halted = "" if share is None else f"{100 * share:.3f} %"
        print(f"{name:<38} {b:>7.0f} {r:>6.0f} {ms:>8.1f} {rate:>8.1f} {halted:>12} "
              f"{BASELINE_S * 1000 / ms:>12.0f} x   ({complete}/{len(snaps)} complete)")
    print(f"heap search for timers that are not running (every {HEAP_SCAN_S:.0f} s, in the halted share above): "
          f"{statistics.median(x.bytes_read for x in scans):.0f} bytes, halted {scan_ms:.1f} ms (median of {len(scans)})")
    print(f"goals: >= 5 snapshots/s over the streamer ({'met' if rows[0][2] >= 5 else 'NOT met'}); "
          f"< 1 % halted at 1 Hz over a halting server ({'met' if (rows[1][3] or 0) < 0.01 else 'NOT met'}); "
          f"baseline: mcu-debug rtos-views > {BASELINE_S:.0f} s per refresh, CPU halted throughout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
