"""`firmwatch sim` and the firmwatch.sim launcher, with the real toolchains and emulators.

The command must print its endpoints on its first lines, serve a live device there, and on
SIGINT take its emulator down with it (pty gone, gdb port closed). The library must say in one
sentence which Debian package is missing, refuse a taken gdb port cleanly, and build from a
read-only firmware tree (an installed wheel) into the user cache.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from firmwatch import sim
from tools import require_board, require_tool

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

FW = [sys.executable, "-m", "firmwatch"]
START_TIMEOUT = 120.0  # includes building the firmware on a loaded 2-core machine


@pytest.fixture(scope="module")
def build_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sim-builds")


def read_lines(stream, n: int, timeout: float) -> list[str]:
    """The first ``n`` lines of a pipe, or fewer if the deadline passes (read on a thread so a
    silent process cannot hang the test)."""
    lines: list[str] = []
    done = threading.Event()

    def pump() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if len(lines) == n:
                break
        done.set()

    threading.Thread(target=pump, daemon=True).start()
    done.wait(timeout)
    return list(lines)


def info_line(port: str) -> bytes:
    """Ask the device for INFO in text mode; the reply line."""
    with serial.serial_for_url(port, timeout=0.2) as s:
        deadline = time.monotonic() + 10
        buf = b""
        while time.monotonic() < deadline:
            s.write(b"INFO\n")
            t_line = time.monotonic() + 1
            while time.monotonic() < t_line:
                buf += s.read(256)
                if b"\n" in buf and b"INFO|" in buf:
                    return buf[buf.index(b"INFO|") :].split(b"\n", 1)[0]
        return buf


def wait_gone(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("target", ["host", "cortex-m3", "riscv32", "avr"])
def test_sim_command_prints_endpoints_serves_the_device_and_stops_on_sigint(target, build_root):
    require_board(target)
    emulated = target != "host"
    proc = subprocess.Popen(
        FW + ["sim", "--target", target, "--build-dir", str(build_root / target)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = read_lines(proc.stdout, 3 if emulated else 2, START_TIMEOUT)
        assert len(lines) == (3 if emulated else 2), f"got {lines!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        port = re.fullmatch(r"port: (/dev/pts/\d+)", lines[0])
        elf = re.fullmatch(r"elf: (/\S+\.elf)", lines[1])
        assert port and elf, lines
        assert Path(elf.group(1)).is_file()
        assert Path(elf.group(1)).is_relative_to(build_root / target)
        gdb_port = None
        if emulated:
            gdb = re.fullmatch(r"gdb: 127\.0\.0\.1:(\d+)", lines[2])
            assert gdb, lines
            gdb_port = int(gdb.group(1))
            assert sim.is_listening(gdb_port) is not False

        assert info_line(port.group(1)).startswith(b"INFO|proto=3|"), "the device did not answer on its port"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0, proc.stderr.read()
        # The emulator went down with the command: its pty and its gdb socket are gone.
        assert wait_gone(lambda: not os.path.exists(port.group(1))), f"{port.group(1)} still exists"
        if gdb_port is not None:
            assert wait_gone(lambda: not sim.is_listening(gdb_port)), "the gdb port still listens"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """End a `firmwatch sim` the way a user would, so it takes its emulator down."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("target", ["cortex-m3", "avr"])
def test_sim_command_killed_hard_takes_its_emulator_along(target, build_root):
    """`kill -9` of the command leaves no emulator behind (the kernel's parent-death signal)."""
    require_board(target)
    proc = subprocess.Popen(
        FW + ["sim", "--target", target, "--build-dir", str(build_root / target)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = read_lines(proc.stdout, 3, START_TIMEOUT)
        assert len(lines) == 3, lines
        gdb_port = int(lines[2].rsplit(":", 1)[1])
        assert sim.is_listening(gdb_port)
        proc.kill()
        proc.wait()
        assert wait_gone(lambda: not sim.is_listening(gdb_port)), "the emulator outlived `firmwatch sim`"
    finally:
        stop(proc)


@pytest.mark.parametrize("target", ["cortex-m3", "avr"])
def test_sim_tcp_serves_the_uart_on_a_socket_url(target, build_root):
    require_board(target)
    with sim.start_sim(target, tcp=True, build_dir=build_root / target) as dev:
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", dev.port)
        assert info_line(dev.port).startswith(b"INFO|proto=3|")
        # A second client after the first hung up is served too (one at a time, as a UART).
        assert info_line(dev.port).startswith(b"INFO|proto=3|")


def test_sim_command_stops_on_sigterm(build_root):
    require_board("riscv32")
    proc = subprocess.Popen(
        FW + ["sim", "--target", "riscv32", "--build-dir", str(build_root / "riscv32")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = read_lines(proc.stdout, 3, START_TIMEOUT)
        assert len(lines) == 3, lines
        pty = lines[0].split(": ", 1)[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert wait_gone(lambda: not os.path.exists(pty))
    finally:
        stop(proc)


def test_missing_emulator_names_the_debian_package(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # nothing on PATH; python runs by absolute path
    proc = subprocess.run(FW + ["sim", "--target", "riscv32"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "qemu-system-riscv32" in err and "apt-get install qemu-system-misc" in err, err


def test_missing_cross_compiler_names_the_debian_package(tmp_path, monkeypatch):
    qemu = require_tool("qemu-system-arm")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qemu-system-arm").symlink_to(qemu)
    (bin_dir / "make").symlink_to(require_tool("make"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(sim.SimError) as e:
        sim.start_sim("cortex-m3", build_dir=tmp_path / "empty-build")
    assert "arm-none-eabi-gcc" in str(e.value) and "gcc-arm-none-eabi" in str(e.value)


def test_unknown_target_is_one_sentence():
    with pytest.raises(sim.SimError, match=r"unknown simulated target 'msp430': choose one of host, cortex-m3"):
        sim.start_sim("msp430")


def test_host_target_has_no_gdb_port():
    with pytest.raises(sim.SimError, match=r"the host target has no gdb stub"):
        sim.start_sim("host", gdb_port=3333)


@pytest.mark.parametrize("target", ["cortex-m3", "avr"])
def test_taken_gdb_port_is_refused_cleanly(target, build_root):
    require_board(target)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(sim.SimError, match=rf"could not listen on a TCP port.*{port}.*choose another one \(--gdb-port\)\.$"):
            sim.start_sim(target, gdb_port=port, build_dir=build_root / target)


def test_explicit_gdb_port_is_used(build_root):
    require_board("riscv32")
    port = sim.free_tcp_port()
    with sim.start_sim("riscv32", gdb_port=port, build_dir=build_root / "riscv32") as dev:
        assert dev.gdb == f"127.0.0.1:{port}"
        assert dev.gdb_address == ("127.0.0.1", port)
        assert sim.is_listening(port, dev.pid)


def test_avr_exact_breakpoints_poll_gdb_every_cycle(build_root):
    require_board("avr")
    gdb = require_tool("avr-gdb")
    with sim.start_sim("avr", gdb_poll=1, build_dir=build_root / "avr") as dev:
        assert dev.command[dev.command.index("--gdb-poll") + 1] == "1"
        out = subprocess.run(
            [gdb, "-nx", "-batch", "-ex", f"target remote {dev.gdb}", "-ex", "break demo_tick_1khz",
             "-ex", "continue", "-ex", "print $pc == demo_tick_1khz", "-ex", "kill", str(dev.elf)],
            capture_output=True, text=True, timeout=60,
        )
        assert "Breakpoint 1, demo_tick_1khz" in out.stdout, out.stdout + out.stderr


def test_stop_ends_the_process_group_and_is_idempotent(build_root):
    require_board("cortex-m3")
    dev = sim.start_sim("cortex-m3", build_dir=build_root / "cortex-m3")
    pgid = dev.pid
    assert dev.alive
    dev.stop()
    assert not dev.alive and dev.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    dev.stop()  # a second stop is harmless


@pytest.mark.parametrize("target,flag", [("cortex-m3", "-icount"), ("avr", "--no-realtime")])
def test_fast_pace_runs_unpaced(target, flag, build_root):
    require_board(target)
    with sim.start_sim(target, pace="fast", build_dir=build_root / target) as dev:
        assert flag in dev.command
        assert info_line(dev.port).startswith(b"INFO|proto=3|")


def test_run_a_given_elf(build_root):
    require_board("riscv32")
    elf = sim.build("riscv32", build_root / "riscv32").elf
    with sim.start_sim("riscv32", elf=elf) as dev:
        assert dev.elf == elf
        assert info_line(dev.port).startswith(b"INFO|proto=3|")


def test_read_only_firmware_tree_builds_into_the_user_cache(tmp_path, monkeypatch):
    """As from an installed wheel: the sources are package data, the build goes to the cache."""
    require_board("cortex-m3")
    shipped = tmp_path / "site-packages" / "firmwatch" / "firmware"
    shutil.copytree(sim.firmware_source_dir(), shipped, ignore=shutil.ignore_patterns("build"))
    monkeypatch.setattr(sim, "firmware_source_dir", lambda: shipped)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = sim.build("cortex-m3")
    assert result.elf.is_relative_to(tmp_path / "cache" / "firmwatch")
    assert result.elf.is_file()
    assert not (shipped / "build").exists()
    assert "text" in result.footprint
    # Up to date: the second build relinks nothing and prints no footprint.
    assert sim.build("cortex-m3").footprint == ""
