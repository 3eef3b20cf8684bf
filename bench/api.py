#!/usr/bin/env python3
"""Python API benchmark (issue 16): what the public face costs over the command line's own path.

* ``read`` round trip, p50/p95: ``Device.read(expr)`` (a typed Python value) against what the
  CLI's ``print`` does on the same connection (``Session.evaluate(expr).display()``), over the
  streamer (the host device on a pty) and over RSP (QEMU Cortex-M3's gdb stub), for a scalar and a
  24-byte struct. The two are interleaved so the machine's load falls on both alike.
* ``watch`` delivering 16 expressions x 1 kHz to Python on the host device: samples received,
  lost (every place: the device's schedule, the link, this process) and CPU time as a share of one
  core, against the CLI's ``record`` path on the same session (the session's recorder writing every
  sample to CSV). Goal: no loss at < 30 % of a core.

CPU is process CPU time (``time.process_time``: every thread of this process, the reader thread
included; the simulated device is another process) over the measured window, divided by its wall
time, so the share is of one core whatever else runs on the machine.

Usage: ``python bench/api.py [--reads 300] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "adapter"))

import firmwatch  # noqa: E402

WATCHED = ("timestamp_ms", "event_counter64", "uptime_s", "heartbeat_counter", "loop_count", "sensor_temp",
           "temp_celsius", "accel_x", "accel_y", "accel_z", "fsm_state", "button_state", "g_pair.a", "g_pair.b",
           "demo_stack_reached", "g_config.calib.gain_q8")
GOAL_CPU = 0.30


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def read_round_trip(dev: firmwatch.Device, expr: str, n: int) -> tuple[list[float], list[float]]:
    api: list[float] = []
    cli: list[float] = []
    session = dev.session
    for _ in range(5):  # warm: compile caches, the link's first exchanges
        dev.read(expr)
        session.evaluate(expr).display()
    for _ in range(n):
        t0 = time.perf_counter()
        session.evaluate(expr).display()
        t1 = time.perf_counter()
        dev.read(expr)
        t2 = time.perf_counter()
        cli.append((t1 - t0) * 1000)
        api.append((t2 - t1) * 1000)
    return api, cli


def reads(n: int) -> None:
    print("read round trip (ms): Device.read(expr) vs the CLI's print (Session.evaluate().display())")
    print(f"  {'transport':<22} {'expression':<24} {'API p50':>8} {'p95':>7} {'CLI p50':>8} {'p95':>7} "
          f"{'p50 ratio':>10} {'p95 ratio':>10}")
    for label, kw in (("streamer (host, pty)", {"sim": "host"}),
                      ("RSP (QEMU Cortex-M3)", {"sim": "cortex-m3", "transport": "rsp"})):
        try:
            dev = firmwatch.connect(**kw)
        except firmwatch.UserError as e:
            print(f"  {label:<22} not measured: {e}")
            continue
        with dev:
            for expr in ("g_config.calib.gain_q8", "g_config"):
                api, cli = read_round_trip(dev, expr, n)
                a50, a95, c50, c95 = pct(api, 0.5), pct(api, 0.95), pct(cli, 0.5), pct(cli, 0.95)
                print(f"  {label:<22} {expr:<24} {a50:>8.3f} {a95:>7.3f} {c50:>8.3f} {c95:>7.3f} "
                      f"{a50 / c50:>9.2f}x {a95 / c95:>9.2f}x")


def watch_16_by_1khz(seconds: float) -> None:
    print(f"\nwatch {len(WATCHED)} expressions x 1 kHz for {seconds:g} s on the host device (streamer, pty)")
    with firmwatch.connect(sim="host") as dev:
        session = dev.session
        rate = 1000.0
        # the CLI's record path: the session's recorder writes every sample to CSV
        fd, path = tempfile.mkstemp(suffix=".csv")
        os.close(fd)
        try:
            watches = session.add_watches([(e, rate) for e in WATCHED])
            time.sleep(0.5)  # streams running
            miss0 = {w.id: w.stats.missing for w in watches}
            recv0 = {w.id: w.stats.received for w in watches}
            link0 = dev.target.stats(refresh_device=True)
            c0, w0 = time.process_time(), time.perf_counter()
            rec = session.start_recording(path)
            time.sleep(seconds)
            session.stop_recording()
            cli_cpu, cli_wall = time.process_time() - c0, time.perf_counter() - w0
            link1 = dev.target.stats(refresh_device=True)
            assert rec.rows >= 1, "the recorder wrote the samples"
            cli_missing = sum(w.stats.missing - miss0[w.id] for w in watches)
            cli_recv = sum(w.stats.received - recv0[w.id] for w in watches)
            cli_link = (link1.lost - link0.lost) + (link1.device_dropped - link0.device_dropped)
            session.remove_watch("all")
        finally:
            os.unlink(path)

        # the API: every sample delivered to a Python loop that reads its value and timestamp
        received = 0
        checksum = 0.0
        last_t: dict[str, float] = {}
        backwards = 0
        with dev.watch(list(WATCHED), rate=rate) as w:
            warm = time.perf_counter() + 0.5
            for _ in w:  # the streams start; the loop keeps up from here on
                if time.perf_counter() >= warm:
                    break
            loss0 = w.loss()
            c0, w0 = time.process_time(), time.perf_counter()
            end = w0 + seconds
            for s in w:
                received += 1
                v = s.value
                checksum += float(v.value if isinstance(v, firmwatch.EnumValue) else v)
                if s.target_time < last_t.get(s.name, -1.0):
                    backwards += 1
                last_t[s.name] = s.target_time
                if (received & 1023) == 0 and time.perf_counter() >= end:
                    break
            api_cpu, api_wall = time.process_time() - c0, time.perf_counter() - w0
            loss1 = w.loss()
        api_missing = loss1.total - loss0.total
        api_link = (loss1.link_lost - loss0.link_lost) + (loss1.device_dropped - loss0.device_dropped)
        expected = len(WATCHED) * rate
        print(f"  {'path':<44} {'samples/s':>10} {'lost':>6} {'CPU % of a core':>16}")
        cli_share, api_share = cli_cpu / cli_wall, api_cpu / api_wall
        print(f"  {'CLI record path (session recorder -> CSV)':<44} {cli_recv / cli_wall:>10.0f} "
              f"{cli_missing + cli_link:>6} {100 * cli_share:>15.1f}%")
        print(f"  {'API watch -> Python loop (value + time)':<44} {received / api_wall:>10.0f} "
              f"{api_missing + api_link:>6} {100 * api_share:>15.1f}%")
        print(f"  where the API's were lost: {loss1.describe()} (at start: {loss0.describe()})")
        print(f"  where the CLI path's were lost: {cli_missing} missing from the schedules, {cli_link} on the link or "
              "dropped by the device")
        print(f"  asked {expected:.0f} samples/s; API/CLI CPU ratio {api_share / cli_share:.2f}x; samples out of order "
              f"{backwards}; goal: no loss at < {100 * GOAL_CPU:.0f} % of a core -> "
              f"{'met' if api_missing + api_link == 0 and api_share < GOAL_CPU else 'NOT met'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(f"firmwatch {firmwatch.__version__} Python API benchmark; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores\n")
    reads(args.reads)
    watch_16_by_1khz(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
