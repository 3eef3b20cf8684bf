#!/usr/bin/env python3
"""Peripherals benchmark: one refresh of a 64-register set, reads, bytes and ms per transport.

Runs the demo firmware on QEMU mps2-an385 and refreshes, over the streamer (the firmware's
UART, a pty) and over QEMU's gdb stub (our RSP client, halt mode):

* "64 in one block": a peripheral of 64 consecutive 32-bit registers (an SVD made here over the
  firmware's RAM, so every transport serves it the same way) — the issue's case;
* "64 in 9 peripherals": every register a refresh may read in tests/data/svd/mps2-an385.svd
  (SysTick, NVIC, SCB, CMSDK timers, dual timer, UARTs: real device registers);

each by the engine's batched plan and by the baseline a simple viewer uses, one read per
register, with the ratio. Goal (issue 14): <= 5 memory reads and < 20 ms over the streamer.

Usage: ``python bench/peripherals.py [--refreshes 30]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "adapter"))

from firmwatch.peripherals.svd import load_svd  # noqa: E402
from firmwatch.peripherals.view import PeripheralView  # noqa: E402
from firmwatch.session.connect import open_target  # noqa: E402
from firmwatch.sim import start_sim  # noqa: E402
from firmwatch.symbols import load  # noqa: E402

SVD = HERE.parent / "tests" / "data" / "svd" / "mps2-an385.svd"
GOAL_READS, GOAL_MS = 5, 20.0


def block_svd(base: int, path: Path) -> Path:
    regs = "".join(f"<register><name>R{i}</name><description>r</description><addressOffset>{4 * i}</addressOffset>"
                   "</register>" for i in range(64))
    path.write_text(f"""<?xml version="1.0"?><device schemaVersion="1.3"><name>BENCH</name><version>1</version>
<description>64 registers</description><addressUnitBits>8</addressUnitBits><width>32</width><size>32</size>
<access>read-write</access><peripherals><peripheral><name>BLOCK</name><baseAddress>{base}</baseAddress>
<addressBlock><offset>0</offset><size>256</size><usage>registers</usage></addressBlock><registers>{regs}</registers>
</peripheral></peripherals></device>""")
    return path


class Requests:
    """Counts the streamer's request frames (a read longer than the device's payload is several)."""

    def __init__(self, target) -> None:  # noqa: ANN001
        self.n = 0
        real = getattr(target, "_command", None)
        if real is not None:
            def counted(*a, **k):  # noqa: ANN002, ANN003
                self.n += 1
                return real(*a, **k)

            target._command = counted
        self.counting = real is not None


def measure(view: PeripheralView, names: list[str], n: int, req: Requests) -> tuple[float, float, float, float]:
    view.refresh(names)  # plan built, link warm
    r0, b0, q0 = view.stats.reads, view.stats.bytes, req.n
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        got = view.refresh(names)
        times.append((time.perf_counter() - t0) * 1000)
        assert sum(1 for x in got.values() if x.value is not None) == 64, "a register was not read"
    return (view.stats.reads - r0) / n, (view.stats.bytes - b0) / n, statistics.median(times), (req.n - q0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refreshes", type=int, default=30)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_sim("cortex-m3") as dev:
        program = load(str(dev.elf))
        ram = min(s.address for s in program.elf.sections if s.name in (".data", ".bss") and s.size)
        sets = [("64 in one block", load_svd(block_svd(ram, Path(tmp) / "block.svd")), ["BLOCK"]),
                ("64 in 9 peripherals", load_svd(SVD), None)]
        print(f"one refresh of 64 registers on QEMU mps2-an385, median of {a.refreshes} "
              "(baseline: one read per register)")
        print(f"{'set':<22}{'transport':<11}{'reads':>7}{'frames':>8}{'bytes':>7}{'ms':>8}   {'baseline reads':>14}"
              f"{'ms':>8}{'ms ratio':>10}")
        verdicts = []
        for label, device, names in sets:
            names = names or device.names()
            for transport in ("streamer", "rsp"):
                target = open_target(port=dev.port if transport == "streamer" else None,
                                     gdb=dev.gdb if transport == "rsp" else None, program=program)
                req = Requests(target)
                try:
                    bo = target.info().byteorder
                    ours = measure(PeripheralView(device, target.read, byteorder=bo), names, a.refreshes, req)
                    base = measure(PeripheralView(device, target.read, byteorder=bo, max_span=4), names, a.refreshes, req)
                finally:
                    target.close()
                frames = f"{ours[3]:.0f}" if req.counting else "-"
                print(f"{label:<22}{transport:<11}{ours[0]:>7.0f}{frames:>8}{ours[1]:>7.0f}{ours[2]:>8.1f}   "
                      f"{base[0]:>14.0f}{base[2]:>8.1f}{base[2] / ours[2]:>9.1f}x")
                if label == "64 in one block" and transport == "streamer":
                    met = ours[3] <= GOAL_READS and ours[2] < GOAL_MS
                    verdicts.append(f"goal over the streamer: <= {GOAL_READS} reads and < {GOAL_MS:g} ms: "
                                    f"{ours[0]:.0f} read ({ours[3]:.0f} request frames), {ours[2]:.1f} ms -> "
                                    f"{'met' if met else 'NOT met'}")
        for v in verdicts:
            print(v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
