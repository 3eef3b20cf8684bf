"""The profiler demo firmware (firmware/profiler/demo): how to build it and what it should show.

``build(board)`` runs firmware/profiler's Makefile for one emulated board and returns the ELFs:
``prof`` (instrumented, the profiler sharing the streamer's line), ``plain`` (not instrumented,
for PC sampling) and, on avr, ``alone-115200`` / ``alone-921600`` (the profiler alone on the
UART at that baud rate, F_CPU 14.7456 MHz). The demo's functions have known costs, in half
units of their own busy loop per frame: ``COSTS`` (tests and the bench compare profiles with it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from firmwatch import __version__
from firmwatch.profiler.protocol import ProfilerError
from firmwatch.sim import firmware_source_dir, user_cache_dir

# own work per frame, callees excluded (firmware/profiler/demo/prof_demo.c)
COSTS = {
    "telemetry_pack": 18,
    "fir_tap": 12,  # 6 calls of 2
    "control_update": 8,
    "sensor_read": 6,
    "pid_step": 4,
    "filter_run": 2,
    "app_frame": 1,
}
CALLS_PER_FRAME = {"fir_tap": 6}
CALL_GRAPH = {
    "app_frame": {"sensor_read", "filter_run", "control_update", "telemetry_pack"},
    "filter_run": {"fir_tap"},
    "control_update": {"pid_step"},
}
ALONE_FREQ = 14_745_600  # the avr alone-*.elf builds: both baud rates are exact


def expected_shares() -> dict[str, float]:
    total = sum(COSTS.values())
    return {k: v / total for k, v in COSTS.items()}


def build(board: str, build_dir: Path | None = None, *, extra_defs: str = "", timeout: float = 600.0) -> dict[str, Path]:
    fw = firmware_source_dir()
    if build_dir is None:
        # the checkout's firmware/build, or the user cache when the sources are installed read-only
        build_dir = fw / "build" / "profiler" if os.access(fw, os.W_OK) else \
            user_cache_dir() / f"firmware-{__version__}" / "profiler"
    out = build_dir.resolve()
    cmd = ["make", "--no-print-directory", "-C", str(fw / "profiler"), f"BUILD={out}", board]
    if extra_defs:
        cmd.append(f"EXTRA_DEFS={extra_defs}")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if r.returncode != 0:
        first = next((ln for ln in r.stdout.splitlines() if "error" in ln), r.stdout[-300:])
        raise ProfilerError(f"building the profiler demo for {board} failed ({first.strip()}): run `{' '.join(cmd)}`.")
    names = ["prof", "plain"] + (["alone-115200", "alone-921600"] if board == "avr" else [])
    return {n: out / board / f"{n}.elf" for n in names}
