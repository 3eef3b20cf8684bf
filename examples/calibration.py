#!/usr/bin/env python3
"""A production-test calibration with firmwatch's Python API: measure, correct, verify.

The demo firmware scales its accelerometer channel by a calibration it reads from RAM
(accel_x = raw * g_config.calib.gain_q8 / 256 + g_config.calib.offset). This script measures the
channel as it runs, computes the gain and offset that give the wanted amplitude around zero,
writes them (checked and read back, as `firmwatch watch`'s write), waits for the firmware to use
them, and verifies the result stays in its band — exit status 0 when the unit passes.

    python examples/calibration.py                      # the simulated host device
    python examples/calibration.py --sim cortex-m3      # the demo under QEMU
    python examples/calibration.py build/app.elf --port /dev/ttyACM0
"""

from __future__ import annotations

import argparse
import statistics
import sys

import firmwatch

GAIN = "g_config.calib.gain_q8"
OFFSET = "g_config.calib.offset"


def measure(dev: firmwatch.Device, seconds: float) -> tuple[float, float]:
    """(amplitude, mean) of accel_x over whole periods of its 1 s sine."""
    rec = dev.record("accel_x", duration=seconds, rate=200, table="rows")
    _, values = rec.series("accel_x")
    if rec.loss:
        print(f"  note: {rec.loss.describe()}")
    return (max(values) - min(values)) / 2, statistics.fmean(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("elf", nargs="?")
    ap.add_argument("--port")
    ap.add_argument("--gdb")
    ap.add_argument("--sim")
    ap.add_argument("--amplitude", type=float, default=1500.0, help="wanted peak value of accel_x")
    ap.add_argument("--tolerance", type=float, default=0.02, help="allowed relative error (default 2 %%)")
    args = ap.parse_args()
    where = {k: v for k, v in (("port", args.port), ("gdb", args.gdb), ("sim", args.sim)) if v}
    if not where:
        where = {"sim": "host"}
    try:
        with firmwatch.connect(args.elf, **where) as dev:
            print(f"connected: {dev!r} (build id {dev.build_id_status})")
            # a unit as it comes from the line: an arbitrary calibration in flash-backed RAM
            dev.write("g_config.calib", {"gain_q8": 200, "offset": 120})
            dev.wait_until(GAIN, 200, timeout=2)
            amplitude, mean = measure(dev, 2.0)
            gain = dev.read(GAIN)
            print(f"measured: amplitude {amplitude:.1f}, mean {mean:.1f} with gain {gain}/256, offset "
                  f"{dev.read(OFFSET)}")
            raw = amplitude * 256 / gain  # the channel before calibration
            new_gain = round(256 * args.amplitude / raw)
            new_offset = round(dev.read(OFFSET) - mean)
            back = dev.write("g_config.calib", {"gain_q8": new_gain, "offset": new_offset})
            print(f"written:  gain {back.gain_q8}/256, offset {back.offset}")
            dev.wait_until("accel_x", lambda v: v > 0.9 * args.amplitude, timeout=3)
            amplitude, mean = measure(dev, 2.0)
            error = abs(amplitude - args.amplitude) / args.amplitude
            print(f"verified: amplitude {amplitude:.1f} (error {100 * error:.2f} %), mean {mean:.1f}")
            limit = args.amplitude * (1 + args.tolerance) + 2
            dev.assert_stays("accel_x", within=(-limit, limit), for_s=1.0)
            if error > args.tolerance or abs(mean) > args.amplitude * args.tolerance:
                print("FAIL: the calibrated channel is outside its tolerance")
                return 1
            print("PASS")
            return 0
    except firmwatch.UserError as e:
        print(f"calibration: {e}", file=sys.stderr)
        return 2
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
