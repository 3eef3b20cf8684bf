"""Helpers shared by the test suite (conftest.py holds the pytest configuration: markers and the
rules that apply them)."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

T = TypeVar("T")

# the boards the emulators run (QEMU, simavr); "host" is a plain process
EMULATED_BOARDS = ("cortex-m3", "riscv32", "avr")
GDB_FOR_BOARD = {"cortex-m3": "gdb-multiarch", "riscv32": "gdb-multiarch", "avr": "avr-gdb"}
EMULATORS = ("qemu-system-arm", "qemu-system-riscv32", "simavr")


def _fast_loop_skips(what: str) -> None:
    """`make test-fast` (FIRMWATCH_TEST_FAST=1) leaves out emulator tests: those marked `emulator`
    are deselected, and any other that asks for an emulator here is skipped, so a test nobody
    marked still stays out of the quick loop. CI never sets it."""
    if os.environ.get("FIRMWATCH_TEST_FAST") == "1":
        pytest.skip(f"needs {what}, an emulator: make test-fast leaves those out (make test runs them)")


def require_tool(name: str) -> str:
    """Path of the external tool ``name``; skip the test when missing (fail in CI)."""
    if name in EMULATORS:
        _fast_loop_skips(name)
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"required tool '{name}' is not installed (run .ci/install-system-deps)")
    pytest.skip(f"'{name}' is not installed")
    raise AssertionError("unreachable")


def require_board(board: str, *, gdb: bool = False) -> str:
    """Skip (fail in CI) unless everything ``firmwatch.sim`` needs to build and run ``board`` is
    installed, and its gdb when ``gdb``; returns ``board``."""
    from firmwatch import sim

    if board in EMULATED_BOARDS:
        _fast_loop_skips(board)
    spec = sim.SPECS[board]
    for tool in (*spec.build_tools, *spec.run_tools):
        if os.path.isabs(tool.command):
            if not tool.present():
                if os.environ.get("CI") == "true":
                    pytest.fail(f"{tool.command} is missing: install the Debian package {tool.package}")
                pytest.skip(f"{tool.command} is missing (Debian package {tool.package})")
        else:
            require_tool(tool.command)
    if gdb:
        require_tool(GDB_FOR_BOARD[board])
    return board


def wait_for(cond: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``cond`` until it returns something true, and return that; fail the test after
    ``timeout`` seconds naming ``what`` was awaited. The way to synchronise with a device, a
    server or the adapter: never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def sim_command(target: str, timeout: float) -> Iterator[tuple[str, str]]:
    """`firmwatch sim --target TARGET` as a subprocess, for a fixture to ``yield from``: yields
    (port, elf) once it printed them (``timeout`` covers building the firmware), and stops it
    with SIGINT afterwards, failing the test if it does not stop."""
    proc = subprocess.Popen([sys.executable, "-m", "firmwatch", "sim", "--target", target], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    info: dict[str, str] = {}
    lines: queue.Queue[str] = queue.Queue()
    # readline in a thread: select() on a buffered pipe misses lines already in Python's buffer
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not {"port", "elf"} <= info.keys():
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        key, _, val = line.partition(":")
        if key in ("port", "elf"):
            info[key] = val.strip()
    if not {"port", "elf"} <= info.keys():
        proc.kill()
        pytest.fail(f"firmwatch sim --target {target} did not print port/elf: {proc.stderr.read()}")
    yield info["port"], info["elf"]
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("firmwatch sim did not stop on SIGINT")
