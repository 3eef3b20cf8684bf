"""Streamer wire efficiency and host ingest, binary frames vs text lines, measured in one run.

    python bench/streamer.py [--seconds S] [--port URL]

Without ``--port`` it builds and starts the host device (``make -C firmware host``, a real
pty). It streams 16 regions of 4 bytes at 1 kHz in binary mode, then the same in text mode,
counting the bytes that actually arrive; then it replays the captured binary bytes through
the host's decoder on one core. The seed's line format (``DATA|addr=0x20000010|hex=AB12CD34``)
is shown next to our text mode, whose lines also carry ``t``, ``seq`` and ``stream``.
"""

from __future__ import annotations

import argparse
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from firmwatch.targets import protocol as P
from firmwatch.targets.base import Region, Sample
from firmwatch.targets.streamer import SampleIngest, StreamerTarget

ROOT = Path(__file__).resolve().parent.parent
BAUD = 921600
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
STREAMS = 16
VALUE_BYTES = 4
RATE_HZ = 1000


@contextmanager
def host_device() -> Iterator[str]:
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "firmware"), "host"], check=True, stdout=subprocess.DEVNULL
    )
    elf = ROOT / "firmware" / "build" / "host" / "demo.elf"
    proc = subprocess.Popen([str(elf)], stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        m = re.match(r"port:\s*(\S+)", line)
        if not m:
            raise SystemExit(f"the host device did not print its port (got {line!r})")
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(5)


def stream_addresses(t: StreamerTarget) -> list[int]:
    ram = next(r for r in t.info().regions if r.readable and r.size >= STREAMS * VALUE_BYTES)
    return [ram.start + VALUE_BYTES * i for i in range(STREAMS)]


def run_link(port: str, mode: str, seconds: float) -> dict[str, float | bytes]:
    """Stream 16 x 4 bytes at 1 kHz for ``seconds``; count samples and the bytes that carried them."""
    capture: list[bytes] = []
    counted = threading.Event()
    n = [0]

    def on_sample(_: Sample) -> None:
        n[0] += 1

    with StreamerTarget(port, mode=mode) as t:
        if t.mode != mode:
            raise SystemExit(f"the device answered in {t.mode} mode, not {mode}")
        t.on_sample(on_sample)
        for a in stream_addresses(t):
            t.start_stream([Region(a, VALUE_BYTES)], RATE_HZ)
        time.sleep(0.3)  # let all streams run before measuring: start-up is not steady state
        if mode == "binary":
            t.on_raw(capture.append)
        b0, s0 = t.rx_bytes, n[0]
        counted.wait(seconds)
        b1, s1 = t.rx_bytes, n[0]
        t.stop_stream(None)
        st = t.stats(refresh_device=True)
    return {
        "bytes": b1 - b0,
        "samples": s1 - s0,
        "lost": st.lost,
        "corrupt": st.corrupt_frames,
        "device_dropped": st.device_dropped,
        "capture": b"".join(capture),
    }


def ingest_rate(capture: bytes, min_samples: int = 2_000_000) -> tuple[float, float]:
    """Samples/s decoded from the captured bytes: to region bytes, and to ``Sample`` objects."""
    # start at a frame boundary so replaying the capture back to back stays frame-aligned
    start = capture.find(P.SYNC)
    end = capture.rfind(b"\n" + P.SYNC) + 1 or len(capture)
    cap = capture[start:end]
    layouts = {s: (VALUE_BYTES,) for s in range(STREAMS)}
    frames = P.FrameDecoder().feed(cap)
    per_pass = sum(len(P.mask_streams(int.from_bytes(p[6:8], "little"))) for t, p in frames if t == P.SAMPLES)
    reps = max(1, min_samples // max(per_pass, 1))
    blob = cap * reps
    chunks = [blob[i : i + 4096] for i in range(0, len(blob), 4096)]  # what a reader gets per wake-up

    best_bytes = 0.0
    for _ in range(3):
        dec = P.FrameDecoder()
        unpack = P.SamplesUnpacker(2, layouts).unpack
        got = 0
        t0 = time.perf_counter()
        for c in chunks:
            for t, p in dec.feed(c):
                if t == P.SAMPLES:
                    got += len(unpack(p)[2])
        best_bytes = max(best_bytes, got / (time.perf_counter() - t0))

    best_samples = 0.0
    for _ in range(3):
        ing = SampleIngest(2, 1000, 256)
        ing.active = set(layouts)
        for s, sizes in layouts.items():
            ing.define(s, sizes)
        got = 0
        t0 = time.perf_counter()
        for c in chunks:
            got += len(ing.feed(c, 0.0)[0])
        best_samples = max(best_samples, got / (time.perf_counter() - t0))
    return best_bytes, best_samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--port", help="a running device (default: build and start the host device)")
    args = ap.parse_args(argv)

    with host_device() if args.port is None else _given(args.port) as port:
        binary = run_link(port, "binary", args.seconds)
        text = run_link(port, "text", args.seconds)

    seed_line = len(b"DATA|addr=0x20000010|hex=AB12CD34\n")  # the seed tool's line: no check, no time
    bin_bps = binary["bytes"] / binary["samples"]
    txt_bps = text["bytes"] / text["samples"]
    col = [("binary frames", bin_bps), ("text lines", txt_bps), ("seed DATA line", float(seed_line))]
    max_rate = [BAUD / BITS_PER_BYTE / b for _, b in col]
    by_bytes, by_samples = ingest_rate(binary["capture"])  # type: ignore[arg-type]

    print(
        f"firmwatch streamer bench: host device on {port}, {STREAMS} streams x {VALUE_BYTES} bytes at {RATE_HZ} Hz,"
    )
    print(f"{args.seconds:g} s per mode, wire bytes counted as received by the host")
    print()
    print(f"{'':38}" + "".join(f"{name:>17}" for name, _ in col))
    print(f"{'wire bytes per sample':38}" + "".join(f"{b:17.2f}" for _, b in col))
    print(f"{'payload share of wire bytes':38}" + "".join(f"{100 * VALUE_BYTES / b:16.1f}%" for _, b in col))
    print(f"{f'max samples/s at {BAUD} baud (8N1)':38}" + "".join(f"{r:17,.0f}" for r in max_rate))
    print(f"{'binary advantage (x)':38}" + "".join(f"{max_rate[0] / r:17.2f}" for r in max_rate))
    print(f"{'samples received in the window':38}{binary['samples']:17,}{text['samples']:17,}{'-':>17}")
    counts = ["{lost} / {corrupt} / {device_dropped}".format(**d) for d in (binary, text)]
    print(f"{'lost / corrupt / device-dropped':38}" + "".join(f"{c:>17}" for c in counts) + f"{'-':>17}")
    print()
    print("host ingest on one core, captured binary bytes replayed through the decoder:")
    print(f"  frames -> per-stream region bytes   {by_bytes:14,.0f} samples/s")
    print(f"  frames -> Sample objects (target)   {by_samples:14,.0f} samples/s")
    print()
    share = 100 * VALUE_BYTES / bin_bps
    ok_share = "met" if share >= 75 else "NOT met"
    ok_ingest = "met" if by_bytes >= 1_000_000 else "NOT met"
    print(f"goal payload >= 75% of wire bytes (binary): {share:.1f}% -> {ok_share}")
    print(f"goal host ingest >= 1,000,000 samples/s: {by_bytes:,.0f} -> {ok_ingest}")
    return 0


@contextmanager
def _given(port: str) -> Iterator[str]:
    yield port


if __name__ == "__main__":
    sys.exit(main())
