"""Recording formats, side by side: write throughput, bytes per sample and file size per hour
of 16 watches at 1 kHz, for CSV (the baseline) vs Parquet vs VCD.

    python bench/recording.py                 # the table (records 10 s of demo data first)
    python bench/recording.py --seconds 20    # more demo data to replay
    python bench/recording.py --soak 3600 --format parquet   # memory over a long recording
    python bench/recording.py --align 20      # host-time alignment of four devices at once

The data is the demo's own: 16 variables of the host device sampled at 1 kHz by
``firmwatch record`` (integers of 8 to 64 bits, a float, an enum). The replay writes those rows
through the recorder exactly as a session does — one call per device sample, eight watches a
call (one device stream) — and times it on the wall clock and in CPU seconds (the machine is
shared: CPU time says what the writer costs, wall time what it got). Parquet's figure includes
its row-group writes; closing it (joining the one-second parts into the final file) is timed on
its own. Sizes per hour are bytes per sample x 16 x 1000 x 3600.

``--soak`` runs ``firmwatch record`` against the host device for that long with the same 16
watches and samples its resident memory every ten seconds: flat memory is a slope near zero.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "adapter"))

WATCHES = ["timestamp_ms", "event_counter64", "uptime_s", "heartbeat_counter", "loop_count", "sensor_temp",
           "temp_celsius", "accel_x", "accel_y", "accel_z", "fsm_state", "button_state", "demo_stack_depth",
           "rng_state", "last_ms", "demo_alloc_blocks"]
RATE = 1000
PER_HOUR = len(WATCHES) * RATE * 3600
FW = [sys.executable, "-m", "firmwatch"]


def record_demo(seconds: float, out: Path) -> None:
    from firmwatch.sim import start_sim

    dev = start_sim("host")
    try:
        r = subprocess.run(FW + ["record", str(dev.elf), "--port", dev.port, "-o", str(out), "--duration",
                                 str(seconds), "--quiet", *[f"{w}@{RATE}" for w in WATCHES]],
                           capture_output=True, text=True, timeout=seconds + 120)
        if r.returncode != 0:
            sys.exit(f"recording the demo failed: {r.stderr.strip()}")
        print(r.stdout.splitlines()[0])
    finally:
        dev.stop()


def frames(path: Path) -> tuple[list[tuple[str, list]], dict, int]:
    """The recording as the session hands it to the recorder: one batch per device sample."""
    from firmwatch.session.formats import read

    reading = read(str(path))
    batches: list[tuple[str, list]] = []
    cur_key = None
    for _sid, dev, seq, tt, ht, name, value in reading.rows():
        key = (dev, seq)
        if key != cur_key or len(batches[-1][1]) >= 8:
            batches.append((dev, []))
            cur_key = key
        batches[-1][1].append((seq, tt, ht, name, value))
    n = sum(len(b) for _, b in batches)
    return batches, reading.signals, n


def replay(fmt: str, batches: list, signals: dict, n: int, out: Path) -> dict[str, float]:
    from firmwatch.session.recorder import Recorder

    rec = Recorder(str(out), "bench", format=fmt)
    for (dev, name), sig in signals.items():
        rec.describe(name, sig, dev)
    w0, c0 = time.perf_counter(), time.process_time()
    for dev, rows in batches:
        rec.write_many(rows, dev)
    rec.flush(force=True)  # the rows still buffered: what the recorder's one-second tick would write next
    w1, c1 = time.perf_counter(), time.process_time()
    rec.close()
    w2, c2 = time.perf_counter(), time.process_time()
    size = out.stat().st_size
    return {"rows": n, "wall": w1 - w0, "cpu": c1 - c0, "close_wall": w2 - w1, "close_cpu": c2 - c1, "bytes": size}


def table(seconds: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="firmwatch-bench-rec-"))
    src = work / "demo.csv"
    record_demo(seconds, src)
    batches, signals, n = frames(src)
    print(f"replaying {n} samples of {len(WATCHES)} watches at {RATE} Hz, {len(batches)} recorder calls; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    res = {}
    for fmt in ("csv", "parquet", "vcd"):
        res[fmt] = replay(fmt, batches, signals, n, work / f"out.{fmt}")
    # the same rows in calls of 4096 (as convert writes, or a recorder fed in bulk): the format's own cost
    bulk_batches = []
    for dev, rows in batches:
        if bulk_batches and bulk_batches[-1][0] == dev and len(bulk_batches[-1][1]) < 4096:
            bulk_batches[-1][1].extend(rows)
        else:
            bulk_batches.append((dev, list(rows)))
    bulk = {fmt: replay(fmt, bulk_batches, signals, n, work / f"bulk.{fmt}") for fmt in ("csv", "parquet", "vcd")}
    base = res["csv"]
    vcd_rows = sum(1 for _ in __import__("firmwatch.session.formats", fromlist=["read"]).read(str(work / "out.vcd")).rows())
    head = f"{'format':8} {'samples/s per CPU s':>20} {'in bulk':>11} {'wall':>9} {'close CPU s':>12} " \
           f"{'bytes/sample':>13} {'MB per hour':>12} {'size vs CSV':>12} {'speed vs CSV':>13}"
    print(head)
    print("-" * len(head))
    for fmt, r in res.items():
        bps = r["bytes"] / r["rows"]
        cpu_rate, wall_rate = r["rows"] / r["cpu"], r["rows"] / r["wall"]
        bulk_rate = bulk[fmt]["rows"] / bulk[fmt]["cpu"]
        print(f"{fmt:8} {cpu_rate:20,.0f} {bulk_rate:11,.0f} {wall_rate:9,.0f} {r['close_cpu']:12.2f} {bps:13.2f} "
              f"{bps * PER_HOUR / 1e6:12,.0f} {bps / (base['bytes'] / base['rows']):11.3f}x "
              f"{cpu_rate / (base['rows'] / base['cpu']):12.2f}x")
    print(f"(VCD writes value changes only: {vcd_rows} of {n} samples changed value; bytes per sample are per "
          "sample recorded, changed or not. Parquet's close joins the one-second parts into the final file.)")
    for what, r in (("eight a call, as a session writes", res["parquet"]), ("in bulk", bulk["parquet"])):
        goal = r["rows"] / r["cpu"]
        print(f"Parquet write, {what}: {goal / 1e6:.2f} M samples per CPU second (goal >= 1 M/s: "
              f"{'met' if goal >= 1e6 else 'NOT met'})")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def soak(seconds: float, fmt: str, every: float) -> None:
    from firmwatch.sim import start_sim

    work = Path(tempfile.mkdtemp(prefix="firmwatch-soak-"))
    out = work / f"soak.{fmt}"
    dev = start_sim("host")
    try:
        p = subprocess.Popen(FW + ["record", str(dev.elf), "--port", dev.port, "-o", str(out), "--duration",
                                   str(seconds), "--quiet", *[f"{w}@{RATE}" for w in WATCHES]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        samples = []
        while p.poll() is None:
            time.sleep(every)
            if p.poll() is None:
                samples.append((time.monotonic() - t0, rss_kb(p.pid)))
                print(f"t={samples[-1][0]:7.0f} s  RSS {samples[-1][1] / 1024:7.1f} MiB", flush=True)
        out_text, err = p.communicate()
        print(out_text.strip())
        if p.returncode != 0:
            print(err.strip())
    finally:
        dev.stop()
    if len(samples) >= 4:
        # after the first minute (imports, first row groups, caches filled): the steady slope
        steady = [s for s in samples if s[0] >= 60] or samples
        n = len(steady)
        mx = sum(s[0] for s in steady) / n
        my = sum(s[1] for s in steady) / n
        sxx = sum((s[0] - mx) ** 2 for s in steady) or 1.0
        slope = sum((s[0] - mx) * (s[1] - my) for s in steady) / sxx
        print(f"{fmt}: RSS {samples[0][1] / 1024:.1f} MiB at {samples[0][0]:.0f} s, {samples[-1][1] / 1024:.1f} MiB at "
              f"{samples[-1][0]:.0f} s, max {max(s[1] for s in samples) / 1024:.1f} MiB; steady slope "
              f"{slope * 3600 / 1024:+.1f} MiB per hour; file {out.stat().st_size / 1e6 if out.exists() else 0:.1f} MB")


def align(seconds: float) -> None:
    """How well host times line up, checked against the device's own millisecond counter.

    One emulated Cortex-M3 is recorded as two devices at once: ``uart`` over its serial
    streamer (device clock, frames through a pty) and ``gdb`` over QEMU's gdb stub (no device
    clock: each read is stamped on the host). Both watch ``timestamp_ms``. For every ``gdb``
    sample, the host time at which the ``uart`` path saw the same counter value is interpolated;
    the difference is the alignment error between the two devices' host times, plus the gdb
    read's own duration, with the counter's 1 ms step as resolution. The host simulation and
    QEMU RISC-V are recorded alongside and report their own figure."""
    import bisect
    import statistics

    from firmwatch.session.devices import DeviceGroup, parse_device
    from firmwatch.sim import start_sim

    work = Path(tempfile.mkdtemp(prefix="firmwatch-align-"))
    m3 = start_sim("cortex-m3")
    try:
        specs = [parse_device(f"uart={m3.elf}@{m3.port}"), parse_device(f"gdb={m3.elf}@gdb:{m3.gdb},budget=5"),
                 parse_device("host=sim:host"), parse_device("riscv=sim:riscv32")]
        group = DeviceGroup(specs, default_rate=100.0,
                            on_message=lambda d, level, text: print(f"  {d}: {level}: {text}", file=sys.stderr))
        with group:
            out = work / "align.csv"
            group.start_recording(str(out))
            group.add_watches([(None, "timestamp_ms", 100.0)])
            time.sleep(seconds)  # the measurement window
            group.finish()
            group.stop_recording()
            reports = {d.name: d.session.clock.report() for d in group.devices if d.session is not None}
            for d in group.devices:
                for w in d.session.watches.values() if d.session is not None else ():
                    print(f"  {d.name:6} {w.text}: {w.stats.received} samples, {w.stats.missing} missing"
                          + (f" ({w.error})" if w.error else ""))
    finally:
        m3.stop()
    from firmwatch.session.formats import read

    by: dict[str, list[tuple[int, float]]] = {}
    for _sid, dev, _seq, _tt, ht, _name, value in read(str(out)).rows():
        by.setdefault(dev, []).append((int(value), ht))
    uart = sorted(by.get("uart", []))
    values = [v for v, _ in uart]
    errs = []
    for v, h in by.get("gdb", []):
        i = bisect.bisect_left(values, v)
        if 0 < i < len(uart):
            (v0, h0), (v1, h1) = uart[i - 1], uart[i]
            if v1 != v0:
                errs.append(h - (h0 + (h1 - h0) * (v - v0) / (v1 - v0)))
    print(f"{seconds:.0f} s, 100 Hz, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, r in reports.items():
        print(f"  {name:6} {r.sentence()}")
    if errs:
        a = sorted(abs(e) for e in errs)
        print(f"uart vs gdb, the same counter on two paths ({len(errs)} samples): host times differ by "
              f"{1e3 * statistics.median(errs):+.2f} ms median, |error| p50 {1e3 * a[len(a) // 2]:.2f} ms, "
              f"p95 {1e3 * a[int(len(a) * 0.95)]:.2f} ms, max {1e3 * a[-1]:.2f} ms")
    else:
        print("uart vs gdb: no overlapping samples (see the device lines above)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of demo data to record and replay")
    ap.add_argument("--soak", type=float, metavar="SECONDS", help="record this long and sample the memory")
    ap.add_argument("--format", default="parquet", choices=("csv", "parquet", "vcd"))
    ap.add_argument("--every", type=float, default=10.0, help="soak: seconds between memory samples")
    ap.add_argument("--align", type=float, metavar="SECONDS", help="check the host-time alignment of devices")
    a = ap.parse_args()
    if a.align:
        align(a.align)
    elif a.soak:
        soak(a.soak, a.format, a.every)
    else:
        table(a.seconds)


if __name__ == "__main__":
    main()
