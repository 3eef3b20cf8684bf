#!/usr/bin/env python3
"""Corruption sweep (issue 9.1): wrong values and loss accounting through a corrupting link.

A relay between firmwatch and the host device (tests/fault_relay.py) flips, drops and inserts
bytes in both directions at 1e-4, 1e-3 and 1e-2 per byte. For each rate and mode it connects
30 times, records the demo's watches (tests/fault_sweep.py: counters that equal the tick,
halves that agree, constant tables, ranges) and prints, side by side:

  * wrong values recorded — the goal is 0 in every cell;
  * the same through text mode read as a version 1 host read it (no line check): the
    baseline of the issue, which found about 2,900 wrong values in 446,000 rows at 1e-3;
  * loss: samples of timestamp_ms@1000 the session reported missing vs. missing in the file.

    .venv/bin/python bench/faults.py [--connects 30] [--seconds 1] [--board cortex-m3]
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fault_relay import WATCHES  # noqa: E402
from fault_sweep import Cell, run_cell, slower  # noqa: E402
from firmwatch.sim import start_sim  # noqa: E402
from firmwatch.symbols import load  # noqa: E402
from firmwatch.targets import textmode  # noqa: E402

RATES = (1e-4, 1e-3, 1e-2)


@contextmanager
def unchecked_text_lines():
    """Read text lines as a version 1 host did: whatever parses is believed."""
    saved = textmode.checked_body

    def believe(line: bytes) -> bytes | None:
        body, sep, _ = line.rpartition(b"|crc=")
        return body if sep else line

    textmode.checked_body = believe
    try:
        yield
    finally:
        textmode.checked_body = saved


def row(label: str, c: Cell) -> str:
    loss = f"{c.reported_missing}/{c.actual_missing}"
    return (f"{label:<26}{c.connects:>4}/{c.connects + len(c.connect_failures):<4}{c.rows:>9,}{len(c.wrong):>8}"
            f"{loss:>16}{c.lost_frames:>9,}{c.device_dropped:>9,}{c.corrupt:>9,}{c.seconds:>8.0f}s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connects", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=1.0, help="recording per connect")
    ap.add_argument("--board", default=None, help="also sweep an emulated board (cortex-m3, riscv32)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unchecked text-mode baseline")
    args = ap.parse_args(argv)

    print(f"firmwatch corruption sweep: {args.connects} connects per cell, {args.seconds:g} s recorded per connect,")
    print("flips/drops/inserts in both directions; 'wrong' = recorded values the demo firmware cannot have produced;")
    print("'missing rep/act' = timestamp_ms samples the session reported missing / missing in the recording.")
    print()
    head = (f"{'device, mode, rate':<26}{'connects':>9}{'rows':>9}{'wrong':>8}{'missing rep/act':>16}"
            f"{'lost':>9}{'dev.drop':>9}{'corrupt':>9}{'time':>9}")
    print(head)
    print("-" * len(head))
    devices = [("host", 1.0)] + ([(args.board, 0.2)] if args.board else [])
    started = time.monotonic()
    totals = {"wrong": 0, "baseline": 0, "disagree": 0}
    for target, factor in devices:
        with start_sim(target) as dev:
            program = load(str(dev.elf))
            watches = slower(WATCHES, factor)
            for mode in ("binary", "text"):
                if target != "host" and mode == "text":
                    watches = slower(WATCHES, 0.05)
                for rate in RATES:
                    c = run_cell(dev.port, program, mode, rate, args.connects, args.seconds,
                                 seed=int(rate * 1e6), watches=watches)
                    totals["wrong"] += len(c.wrong)
                    totals["disagree"] += not c.loss_agrees
                    print(row(f"{target}, {mode}, {rate:g}", c), flush=True)
            if not args.no_baseline and target == "host":
                with unchecked_text_lines():
                    for rate in RATES:
                        c = run_cell(dev.port, program, "text", rate, args.connects, args.seconds,
                                     seed=int(rate * 1e6), watches=watches)
                        totals["baseline"] += len(c.wrong)
                        print(row(f"{target}, text v1 (no check), {rate:g}", c), flush=True)
    print()
    print(f"wrong values recorded: {totals['wrong']} (goal 0); with unchecked text lines (the v1 baseline): "
          f"{totals['baseline']}; cells where reported and actual loss differ: {totals['disagree']}; "
          f"{time.monotonic() - started:.0f} s")
    return 0 if totals["wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
