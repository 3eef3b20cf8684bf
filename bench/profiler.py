"""Profiler figures (issue 12), measured in one run, side by side with the seed's own estimates.

    python bench/profiler.py [--seconds S] [--skip-emulators]

1. host decode rate: PROFILE_DATA frames of 20 records through the decoder (frame scan, CRC,
   records), and the whole analysis (call tree and statistics) on the same records; goal
   >= 1 M records/s/core.
2. records/s delivered at 115200 and 921600 baud vs the seed's ~780/s at 115200: the profiler
   alone on an ATmega328P (simavr, cycle-exact, its UART modelled at the baud rate) at
   14.7456 MHz, where both rates are exact, with calls made back to back; counted in device
   time (the records' own clock), so host speed does not enter.
3. instrumentation overhead per call on Cortex-M3 (QEMU -icount: one instruction = 16 ns of
   emulated time, so the figure is in instructions; a Cortex-M3 takes about 1.2-1.5 cycles per
   instruction on such code) and on the AVR (simavr: cycles), from the demo's shortest frame
   with and without -finstrument-functions; vs the seed's target of < 5 % for typical code.
4. PC samples/s by transport and the share of time the CPU was halted for them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firmwatch import sim
from firmwatch.profiler import demo
from firmwatch.profiler import protocol as P
from firmwatch.profiler.calltree import CallTreeBuilder
from firmwatch.profiler.instrumented import InstrumentedRun
from firmwatch.symbols import load

SEED_RECORDS_PER_S_115200 = 780  # the seed's "Records per second: ~780"
SEED_OVERHEAD_PERCENT = 5.0  # "Target: <5% overhead for typical applications"
SEED_HOOK_US = (1.0, 2.0)  # "Total: ~1-2 us per function call" (168 MHz STM32F4 in its example)
DECODE_GOAL = 1_000_000


def row(name: str, value: str, base: str = "", ratio: str = "") -> None:
    print(f"  {name:<52} {value:>18} {base:>18} {ratio:>10}")


def header(title: str, base: str) -> None:
    print(f"\n{title}")
    row("", "measured", base, "ratio")


# ---------------------------------------------------------------------------------------------- 1
def bench_decode() -> None:
    header("1. host decode (one core)", "goal")
    frames = []
    t = 0
    for _ in range(5000):
        recs = []
        for k in range(20):
            recs.append((0x08000100 + 0x40 * (k % 7), t, 50 + k, k % 3))
            t += 60
        frames.append(P.encode_frame(P.PROFILE_DATA, P.encode_profile_data(recs)))
    stream = b"".join(frames)
    n = 5000 * 20
    best = 0.0
    for _ in range(5):
        dec = P.FrameDecoder()
        t0 = time.perf_counter()
        got = 0
        for pos in range(0, len(stream), 4096):
            for _t, body in dec.feed(stream[pos : pos + 4096]):
                got += len(P.decode_profile_data(body))
        dt = time.perf_counter() - t0
        assert got == n
        best = max(best, n / dt)
    row("frames -> records (scan, CRC-16, unpack)", f"{best / 1e6:.2f} M/s", f"{DECODE_GOAL / 1e6:.0f} M/s",
        f"{best / DECODE_GOAL:.2f}x")
    records = [r for f in frames for r in P.decode_profile_data(P.FrameDecoder().feed(f)[0][1])]
    names = {0x08000100 + 0x40 * k: f"f{k}" for k in range(7)}
    t0 = time.perf_counter()
    b = CallTreeBuilder(names.__getitem__)
    b.add(records)
    b.finish()
    dt = time.perf_counter() - t0
    row("records -> call tree + statistics", f"{n / dt / 1e6:.2f} M/s", "", "")


# ---------------------------------------------------------------------------------------------- 2
def start_harness(elf: Path, freq: int) -> tuple[subprocess.Popen[str], str]:
    built = sim.build("avr", goals=("harness",))
    proc = subprocess.Popen([str(sim.harness_path(built.build_dir)), "--freq", str(freq), "--no-realtime", str(elf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    port = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"uart0: (\S+)", line)
        if m:
            port = m.group(1)
        if line.strip() == "ready" or not line:
            break
    if not port:
        proc.kill()
        raise SystemExit("the simavr harness did not report its UART")
    return proc, port


def bench_links(seconds: float) -> None:
    header("2. records delivered, profiler alone on an AVR UART (device time)", "seed")
    with tempfile.TemporaryDirectory() as tmp:
        # the records' clock must be the timer itself here: with FWP_COMPENSATE it leaves out the
        # profiler's own transmit time, which is most of the time when the link is saturated
        elfs = demo.build("avr", Path(tmp), extra_defs="-DDEMO_FLOOD -DFWP_COMPENSATE=0")
        for baud in (115200, 921600):
            elf = elfs[f"alone-{baud}"]
            proc, port = start_harness(elf, demo.ALONE_FREQ)
            try:
                run = InstrumentedRun(load(str(elf)), port, baud=baud, timeout=1.0)
                run.start()
                time.sleep(seconds)
                prof = run.stop()
            finally:
                proc.terminate()
                proc.wait(5)
            c = prof.counters
            rate = c["received"] / prof.duration_s
            made = (c["device_captured"] + c["device_overflows"]) / prof.duration_s
            link_max = baud / 10 / (8 + 3 + 14 * 20) * 20
            seed = f"~{SEED_RECORDS_PER_S_115200}/s" if baud == 115200 else ""
            ratio = f"{rate / SEED_RECORDS_PER_S_115200:.2f}x" if baud == 115200 else ""
            row(f"{baud} baud: records/s delivered", f"{rate:,.0f}/s", seed, ratio)
            row(f"{baud} baud: line limit (8N1, 20 records a frame)", f"{link_max:,.0f}/s", "", "")
            row(f"{baud} baud: calls made / not kept (counted)", f"{made:,.0f}/s / {c['device_overflows']:,}", "", "")
            row(f"{baud} baud: lost on the link", f"{c['link_lost']}", "", "")


# ---------------------------------------------------------------------------------------------- 3
def frame_min(board: str, elf: Path, profile: bool) -> tuple[int, int]:
    """frame_time_min[0] and [1] of the demo after a while, read over the streamer."""
    from firmwatch.session.connect import open_target

    program = load(str(elf))
    var = program.find_variable("frame_time_min")
    with sim.start_sim(board, elf=elf, pace="fast") as dev:
        if profile:
            run = InstrumentedRun(program, dev.port)
            run.start()
            time.sleep(2.0)
            run.stop()
        else:
            time.sleep(2.0)
        t = open_target(port=dev.port, program=program)
        try:
            raw = t.read(var.address, 8)
        finally:
            t.close()
    return int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")


def bench_overhead() -> None:
    header("3. instrumentation cost per call (the demo: 12 instrumented calls per frame)", "seed")
    for board, unit, per_tick, name in (("cortex-m3", "instructions", 2.5, "Cortex-M3 (QEMU -icount)"),
                                        ("avr", "cycles", 64.0, "ATmega328P (simavr)")):
        elfs = demo.build(board)
        plain, _ = frame_min(board, elfs["plain"], False)
        off, on = frame_min(board, elfs["prof"], True)
        calls = 12
        cost_on = (on - plain) * per_tick / calls
        cost_off = (off - plain) * per_tick / calls
        frame = plain * per_tick
        row(f"{name}: frame without instrumentation", f"{frame:,.0f} {unit}", "", "")
        seed_mid = sum(SEED_HOOK_US) / 2 * 168  # the seed's 1-2 us at 168 MHz, in cycles
        row(f"{name}: per call, profiling", f"{cost_on:,.0f} {unit}", f"{seed_mid:.0f} cycles",
            f"{cost_on / seed_mid:.2f}x")
        row(f"{name}: per call, built in but stopped", f"{cost_off:,.0f} {unit}", "", "")
        pct = 100 * (on - plain) / plain
        row(f"{name}: demo frame slower by", f"{pct:.2f} %", f"< {SEED_OVERHEAD_PERCENT:.0f} %",
            f"{pct / SEED_OVERHEAD_PERCENT:.2f}x")
        row(f"{name}: calls this far apart stay under 5 %", f"{cost_on * 100 / SEED_OVERHEAD_PERCENT:,.0f} {unit}",
            "", "")


# ---------------------------------------------------------------------------------------------- 4
def bench_sampling(seconds: float) -> None:
    from firmwatch.profiler.sampler import PcSampler
    from firmwatch.profiler.symbolize import Symbolizer
    from firmwatch.session.connect import open_target

    header("4. PC samples/s by transport (uninstrumented demo)", "halted")
    for board, budget in (("avr", None), ("cortex-m3", None), ("cortex-m3", 0.05), ("riscv32", None), ("riscv32", 0.05)):
        elf = demo.build(board)["plain"]
        program = load(str(elf))
        with sim.start_sim(board, elf=elf, pace="fast") as dev:
            t = open_target(gdb=dev.gdb, program=program, budget=budget)
            try:
                s = PcSampler(t.control(), Symbolizer(program), rate_hz=5000)
                method = s.start()
                time.sleep(seconds)
                prof = s.stop()
            finally:
                t.close()
        c = prof.counters
        cap = "no cap" if budget is None else f"budget {budget * 100:.0f} %"
        row(f"{board}: {method} ({cap})", f"{c['samples_per_s']:,.0f}/s", f"{100 * c['halted_share']:.1f} %", "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--skip-emulators", action="store_true", help="only the host decode figures")
    args = ap.parse_args()
    print("firmwatch profiler bench")
    bench_decode()
    if not args.skip_emulators:
        bench_links(args.seconds)
        bench_overhead()
        bench_sampling(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
