"""Simulated devices: build the demo firmware for a target and run it where no board is needed.

Targets: ``host`` (the firmware as a POSIX process), ``host-rust`` (the demo in Rust on the
``firmwatch`` crate, firmware/rust, as a POSIX process), ``cortex-m3`` (QEMU ``mps2-an385``),
``riscv32`` (QEMU ``virt``) and ``avr`` (ATmega328P under simavr through our harness).

    with start_sim("cortex-m3") as dev:
        dev.port   # "/dev/pts/7" or "socket://127.0.0.1:40123": open it with pyserial
        dev.elf    # Path of the ELF the device runs
        dev.gdb    # "127.0.0.1:1234" on emulated targets, else None

Everything waits on conditions (a line printed, a port listening) with timeouts, never on
fixed sleeps. The emulator runs in its own process group and ``stop()`` ends the whole group.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from firmwatch import __version__
from firmwatch.errors import UserError

TARGETS = ("host", "cortex-m3", "riscv32", "avr", "host-rust", "cortex-m3-freertos", "riscv32-freertos")
EMULATED = ("cortex-m3", "riscv32", "avr", "cortex-m3-freertos", "riscv32-freertos")
# the FreeRTOS demo (firmware/rtos) runs on the same emulated boards as the plain demo
BOARD = {"cortex-m3-freertos": "cortex-m3", "riscv32-freertos": "riscv32"}
PACES = ("realtime", "fast")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class SimError(UserError):
    """A simulated device could not be built or started; ``str()`` says what to do."""


@dataclass(frozen=True, slots=True)
class Tool:
    command: str  # executable looked up on PATH, or an absolute path that must exist
    package: str  # the Debian package that provides it

    def present(self) -> bool:
        if os.path.isabs(self.command):
            return os.path.exists(self.command)
        return shutil.which(self.command) is not None


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    description: str
    build_tools: tuple[Tool, ...]
    run_tools: tuple[Tool, ...] = ()
    make_goals: tuple[str, ...] = ()  # empty: the port's default goal
    port_dir: str = ""  # the Makefile's directory under firmware/ (default: ports/<name>)


_MAKE = Tool("make", "make")
# rustup installs cargo in ~/.cargo/bin, which a non-login shell may not have on PATH
_CARGO = Tool(shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo"), "cargo")
SPECS: dict[str, TargetSpec] = {
    "host": TargetSpec("host", "the demo firmware as a host process", (_MAKE, Tool("gcc", "gcc"))),
    "host-rust": TargetSpec(
        "host-rust", "the demo firmware in Rust as a host process", (_MAKE, _CARGO, Tool("gcc", "gcc")), port_dir="rust"
    ),
    "cortex-m3": TargetSpec(
        "cortex-m3",
        "ARM Cortex-M3 on QEMU mps2-an385",
        (_MAKE, Tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")),
        (Tool("qemu-system-arm", "qemu-system-arm"),),
    ),
    "riscv32": TargetSpec(
        "riscv32",
        "RISC-V rv32imac on QEMU virt",
        (_MAKE, Tool("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf")),
        (Tool("qemu-system-riscv32", "qemu-system-misc"),),
    ),
    "cortex-m3-freertos": TargetSpec(
        "cortex-m3-freertos",
        "the FreeRTOS demo on ARM Cortex-M3, QEMU mps2-an385",
        (_MAKE, Tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")),
        (Tool("qemu-system-arm", "qemu-system-arm"),),
        ("BOARD=cortex-m3",),
        "rtos",
    ),
    "riscv32-freertos": TargetSpec(
        "riscv32-freertos",
        "the FreeRTOS demo on RISC-V rv32imac, QEMU virt",
        (_MAKE, Tool("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf")),
        (Tool("qemu-system-riscv32", "qemu-system-misc"),),
        ("BOARD=riscv32",),
        "rtos",
    ),
    "avr": TargetSpec(
        "avr",
        "ATmega328P on simavr",
        (
            _MAKE,
            Tool("avr-gcc", "gcc-avr"),
            Tool("/usr/lib/avr/include/avr/io.h", "avr-libc"),
            Tool("gcc", "gcc"),
            Tool("/usr/include/simavr/sim_avr.h", "libsimavr-dev"),
        ),
    ),
}


def _spec(target: str) -> TargetSpec:
    try:
        return SPECS[target]
    except KeyError:
        raise SimError(f"unknown simulated target '{target}': choose one of {', '.join(TARGETS)}.") from None


def _require(tools: Sequence[Tool], what: str) -> None:
    for tool in tools:
        if not tool.present():
            raise SimError(
                f"{what} needs {os.path.basename(tool.command)}, which is not installed: "
                f"install the Debian package {tool.package} (apt-get install {tool.package})."
            )


# ---------------------------------------------------------------- firmware sources and builds


def _is_firmware_tree(path: Path) -> bool:
    return (path / "core" / "firmwatch.h").is_file() and (path / "ports").is_dir()


def firmware_source_dir() -> Path:
    """The firmware tree: the repository checkout (``firmware/`` next to ``adapter/``) when
    running from one, else the copy shipped as package data (``firmwatch/firmware``)."""
    checkout = Path(__file__).resolve().parents[2] / "firmware"
    if _is_firmware_tree(checkout):
        return checkout
    with contextlib.suppress(ModuleNotFoundError, TypeError):
        shipped = Path(str(resources.files("firmwatch") / "firmware"))
        if _is_firmware_tree(shipped):
            return shipped
    raise SimError(
        "the firmware sources are neither in this checkout nor in the installed package: "
        "reinstall firmwatch from a complete source tree or wheel."
    )


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "firmwatch"


def default_build_dir(target: str, source: Path | None = None) -> Path:
    """``firmware/build/<target>`` in a writable checkout (where the top-level firmware
    Makefile puts it), else a per-version directory in the user cache."""
    source = source or firmware_source_dir()
    in_checkout = source == Path(__file__).resolve().parents[2] / "firmware"
    if in_checkout and os.access(source, os.W_OK):
        return source / "build" / target
    return user_cache_dir() / f"firmware-{__version__}" / target


def elf_path(target: str, build_dir: Path) -> Path:
    return build_dir / "demo.elf"


def harness_path(build_dir: Path) -> Path:
    return build_dir / "simavr-harness"


@dataclass
class BuildResult:
    target: str
    elf: Path
    build_dir: Path
    output: str  # everything make printed (its last `size` table is the footprint)

    @property
    def footprint(self) -> str:
        """The `size` table make printed when it (re)linked the ELF, or '' when up to date."""
        lines = self.output.splitlines()
        for i, line in enumerate(lines):
            if line.split()[:3] == ["text", "data", "bss"] and i + 1 < len(lines):
                return f"{line}\n{lines[i + 1]}"
        return ""


@contextlib.contextmanager
def _build_lock(build_dir: Path) -> Iterator[None]:
    # Two `firmwatch sim` (or two test workers) building one directory must take turns.
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(
    target: str,
    build_dir: Path | str | None = None,
    *,
    goals: Sequence[str] = (),
    timeout: float = 600.0,
) -> BuildResult:
    """Build (incrementally) the demo firmware for ``target`` and, for ``avr``, the simavr
    harness (``goals`` picks make goals, e.g. ``("harness",)``). Without the toolchain an
    existing build is used as it is."""
    spec = _spec(target)
    source = firmware_source_dir()
    out = Path(build_dir) if build_dir is not None else default_build_dir(target, source)
    out = out.resolve()
    elf = elf_path(target, out)
    wanted = [harness_path(out)] if tuple(goals) == ("harness",) else [elf]
    if target == "avr" and not goals:
        wanted.append(harness_path(out))
    missing = [t for t in spec.build_tools if not t.present()]
    if missing:
        if all(p.exists() for p in wanted):
            return BuildResult(target, elf, out, "")
        _require(spec.build_tools, f"building the {target} firmware")
    port_dir = source / (spec.port_dir or f"ports/{target}")
    if not (port_dir / "Makefile").is_file():
        raise SimError(f"this firmwatch has no {target} port ({port_dir} is missing): reinstall firmwatch.")
    cmd = ["make", "--no-print-directory", "-C", str(port_dir), f"BUILD={out}", *(goals or spec.make_goals)]
    with _build_lock(out):
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SimError(f"building the {target} firmware took over {timeout:.0f} s: run `{' '.join(cmd)}` to see why.") from None
    if proc.returncode != 0 or not all(p.exists() for p in wanted):
        first_error = next((ln for ln in proc.stdout.splitlines() if re.search(r"\berror\b:", ln)), "")
        hint = f" ({first_error.strip()})" if first_error else ""
        raise SimError(f"building the {target} firmware failed{hint}: run `{' '.join(cmd)}` to see the full output.")
    return BuildResult(target, elf, out, proc.stdout)


# ---------------------------------------------------------------- ports and readiness


def free_tcp_port() -> int:
    """A TCP port nobody listens on right now (the emulator binds it a moment later; a lost
    race is detected at start-up and retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP ``port``, from /proc/net (Linux); None if unknown."""
    inodes: set[str] = set()
    seen_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                seen_table = True
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            continue
    return inodes if seen_table else None


def is_listening(port: int, pid: int | None = None) -> bool | None:
    """Whether something (process ``pid``, when given) listens on TCP ``port``, found without
    connecting: QEMU's gdb stub halts the guest when a client connects. None if unknown."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    if not inodes or pid is None:
        return bool(inodes)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def _wait_until(cond, timeout: float, proc: subprocess.Popen[str] | None = None, interval: float = 0.02) -> bool:
    """Poll ``cond`` until true, the deadline passes, or ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ---------------------------------------------------------------- the running device


class _OutputPump:
    """Reads the emulator's merged stdout/stderr on a thread: start-up lines go to a queue the
    starter waits on, everything is kept in a short log for error messages, and the pipe never
    fills up (a full pipe would freeze the emulator)."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self.starting = True  # queue lines only while the starter reads them
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True, name="sim-output")
        self._thread.start()

    def _run(self, stream) -> None:
        try:
            for line in stream:
                line = line.rstrip("\r\n")
                self.log.append(line)
                if self.starting:
                    self.lines.put(line)
        except (OSError, ValueError):
            pass
        finally:
            self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                return None
            m = pattern.search(line)
            if m:
                return m

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


# Strong references: a device the caller dropped without stop() is still stopped at exit.
_running: set[SimDevice] = set()


@dataclass(eq=False)
class SimDevice:
    """A running simulated device. Use as a context manager, or call ``stop()``."""

    target: str
    port: str  # pty path or pyserial URL of the firmware's UART
    elf: Path
    gdb: str | None  # "host:port" of the gdb stub (emulated targets)
    process: subprocess.Popen[str]
    command: list[str]
    _pump: _OutputPump = field(repr=False)
    build: BuildResult | None = None  # the build that produced the ELF (None for a given ELF)
    _pty_hold: int | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def gdb_address(self) -> tuple[str, int] | None:
        if not self.gdb:
            return None
        host, port = self.gdb.rsplit(":", 1)
        return host, int(port)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def log(self) -> list[str]:
        """The emulator's recent output lines (diagnostics)."""
        return list(self._pump.log)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the device process to end; its exit status, or None on timeout."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """End the emulator and everything it started (SIGTERM to the process group, then
        SIGKILL after ``timeout``). Safe to call twice."""
        proc = self.process
        if proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # A child that outlived the leader (e.g. socat) still belongs to the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._pump.join(1.0)
        if proc.stdout:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        if self._pty_hold is not None:
            with contextlib.suppress(OSError):
                os.close(self._pty_hold)
            self._pty_hold = None
        _running.discard(self)
        return proc.returncode

    def __enter__(self) -> SimDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for dev in list(_running):
        with contextlib.suppress(Exception):
            dev.stop(timeout=2.0)


# ---------------------------------------------------------------- launching


_PTY_QEMU = re.compile(r"char device redirected to (/dev/\S+)")
_HARNESS_UART = re.compile(r"^uart0: (?:tcp (\S+):(\d+)|(/dev/\S+))$")
_HARNESS_READY = re.compile(r"^ready$")
_HOST_PORT = re.compile(r"^port: (\S+)")


def _qemu_command(target: str, elf: Path, gdb_port: int, tcp_port: int | None, pace: str) -> list[str]:
    if BOARD.get(target, target) == "cortex-m3":
        cmd = ["qemu-system-arm", "-M", "mps2-an385"]
    else:
        cmd = ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]
    cmd += ["-nographic", "-monitor", "none", "-kernel", str(elf)]
    if tcp_port is None:
        cmd += ["-serial", "pty"]
    else:
        # nodelay: without it Nagle makes every request/reply round trip ~25x slower.
        cmd += [
            "-chardev",
            f"socket,id=uart0,host=127.0.0.1,port={tcp_port},server=on,wait=off,nodelay=on",
            "-serial",
            "chardev:uart0",
        ]
    cmd += ["-gdb", f"tcp:127.0.0.1:{gdb_port}"]
    if pace == "fast":
        # Guest time from the instruction count and no sleeping when idle: ticks run as fast
        # as the host allows, independent of host load (reproducible, not real time).
        cmd += ["-icount", "shift=4,sleep=off"]
    return cmd


def _host_command(elf: Path, tcp_port: int | None) -> list[str]:
    cmd = [str(elf)]
    if tcp_port is not None:
        cmd += ["--tcp", str(tcp_port)]
    return cmd


def start_sim(
    target: str = "host",
    *,
    gdb_port: int | None = None,
    tcp: bool = False,
    build_dir: Path | str | None = None,
    elf: Path | str | None = None,
    pace: str = "realtime",
    timeout: float = START_TIMEOUT,
    die_with_parent: bool = False,
    gdb_poll: int | None = None,
) -> SimDevice:
    """Build what is missing and start the simulated device; returns once its UART can be
    opened (and its gdb stub listens).

    ``gdb_port``: the gdb stub's port on emulated targets (default: a free port).
    ``tcp``: serve the UART on a TCP port (``socket://127.0.0.1:N``) instead of a pty.
    ``elf``: run this firmware instead of building the demo (it must be built for ``target``;
    on avr the harness is still built). ``pace``: ``realtime`` (a 1 kHz tick is 1 kHz of wall
    clock) or ``fast`` (emulated time runs as fast as the host allows).
    ``gdb_poll`` (avr): poll the gdb socket every N simulated cycles (default 2000 for speed;
    1 makes breakpoints exact, at about 40x the cost).
    ``die_with_parent``: the kernel ends the device if this process dies without stopping it
    (even by SIGKILL). Linux ties this to the *thread* that starts the device, so only ask for
    it from a thread that lives as long as the device (the main thread of a command).
    """
    spec = _spec(target)
    if pace not in PACES:
        raise SimError(f"unknown pace '{pace}': choose realtime or fast.")
    if gdb_poll is not None and gdb_poll < 1:
        raise SimError(f"gdb poll interval {gdb_poll} is not a number of cycles: use 1 or more.")
    if gdb_port is not None and target not in EMULATED:
        raise SimError(f"the {target} target has no gdb stub: attach gdb to its process (gdb -p PID) instead of --gdb-port.")
    if gdb_port is not None and not 0 < gdb_port < 65536:
        raise SimError(f"gdb port {gdb_port} is not a TCP port number: choose one between 1 and 65535.")
    _require(spec.run_tools, f"running the {target} simulation")
    if elf is None:
        built = build(target, build_dir)
        firmware = built.elf
    else:
        firmware = Path(elf).resolve()
        if not firmware.exists():
            raise SimError(f"the firmware {firmware} does not exist: build it first or drop the elf argument.")
        # Only the simavr harness is ours to build; the firmware is the caller's.
        built = build(target, build_dir, goals=("harness",)) if target == "avr" else BuildResult(
            target, firmware, firmware.parent, "")

    attempts = 1 if gdb_port is not None else 3  # an auto-picked port may be taken meanwhile
    last: SimError | None = None
    for _ in range(attempts):
        try:
            return _launch(target, firmware, built, gdb_port, tcp, pace, timeout, die_with_parent, gdb_poll)
        except _PortRace as e:
            last = SimError(str(e))
    assert last is not None
    raise last


class _PortRace(Exception):
    pass


def _parent_death_signal_setter():
    """A function for ``preexec_fn`` that asks Linux to SIGTERM the child when its parent
    thread dies. Resolved here, before the fork: the child may only call, not import."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def setter() -> None:
        prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)

    return setter


def _launch(
    target: str,
    firmware: Path,
    built: BuildResult,
    gdb_port: int | None,
    tcp: bool,
    pace: str,
    timeout: float,
    die_with_parent: bool,
    gdb_poll: int | None,
) -> SimDevice:
    emulated = target in EMULATED
    gport = (gdb_port or free_tcp_port()) if emulated else None
    tport = free_tcp_port() if tcp else None
    if BOARD.get(target, target) in ("cortex-m3", "riscv32"):
        assert gport is not None
        cmd = _qemu_command(target, firmware, gport, tport, pace)
    elif target == "avr":
        cmd = [str(harness_path(built.build_dir))]
        if gport is not None:
            cmd += ["--gdb-port", str(gport)]
        if gdb_poll is not None:
            cmd += ["--gdb-poll", str(gdb_poll)]
        if tport is not None:
            cmd += ["--tcp", str(tport)]
        if pace == "fast":
            cmd += ["--no-realtime"]
        if die_with_parent:
            cmd += ["--die-with-parent"]
        cmd.append(str(firmware))
    else:
        cmd = _host_command(firmware, tport)

    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # our own process group: Ctrl-C reaches us, we stop it
        preexec_fn=_parent_death_signal_setter() if die_with_parent else None,
    )
    pump = _OutputPump(proc.stdout)
    dev = SimDevice(target, "", firmware, None, proc, cmd, pump, built if built.elf == firmware else None)
    _running.add(dev)
    try:
        dev.port = _await_port(target, proc, pump, tport, timeout)
        if BOARD.get(target, target) in ("cortex-m3", "riscv32") and dev.port.startswith("/dev/"):
            dev._pty_hold = _hold_pty(dev.port)
        if gport is not None:
            dev.gdb = f"127.0.0.1:{gport}"
        if target == "avr":
            # The harness says "ready" only once its gdb stub listens.
            if not pump.wait_for(_HARNESS_READY, timeout):
                _fail(dev, "the simavr harness did not report ready")
        elif gport is not None and not _wait_until(lambda: is_listening(gport, proc.pid) is not False, timeout, proc):
            _fail(dev, f"its gdb stub did not listen on port {gport}")
        pump.starting = False
        return dev
    except BaseException:
        dev.stop()
        raise


def _hold_pty(path: str) -> int | None:
    """Keep the emulator's pty open from our side for the device's lifetime. QEMU treats a pty
    nobody has open as disconnected and looks for a client only once a second, so without this
    a host's first bytes after opening (or reopening) the port wait up to a second. Raw mode,
    like QEMU sets it: an echoing line discipline would feed the firmware its own output."""
    import termios
    import tty

    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    with contextlib.suppress(termios.error):
        tty.setraw(fd)
    return fd


def _await_port(target: str, proc: subprocess.Popen[str], pump: _OutputPump, tport: int | None, timeout: float) -> str:
    if BOARD.get(target, target) in ("cortex-m3", "riscv32"):
        if tport is None:
            m = pump.wait_for(_PTY_QEMU, timeout)
            if not m:
                _fail_proc(target, proc, pump, "QEMU did not report its UART pty")
            return m.group(1)
        if not _wait_until(lambda: is_listening(tport, proc.pid) is not False, timeout, proc):
            _fail_proc(target, proc, pump, f"QEMU did not listen on UART port {tport}")
        return f"socket://127.0.0.1:{tport}"
    if target == "avr":
        m = pump.wait_for(_HARNESS_UART, timeout)
        if not m:
            _fail_proc(target, proc, pump, "the simavr harness did not report its UART")
        return m.group(3) if m.group(3) else f"socket://{m.group(1)}:{m.group(2)}"
    m = pump.wait_for(_HOST_PORT, timeout)
    if not m:
        _fail_proc(target, proc, pump, "the host device did not report its port")
    return m.group(1)


def _fail(dev: SimDevice, what: str) -> None:
    _fail_proc(dev.target, dev.process, dev._pump, what)


_PORT_TAKEN = ("Address already in use", "Failed to find an available port", "cannot listen")


def _fail_proc(target: str, proc: subprocess.Popen[str], pump: _OutputPump, what: str) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1.0)  # a process that closed its output is about to exit: take its status
    if proc.poll() is not None:
        pump.join(1.0)  # and its last words
    log = [line for line in pump.log if line.strip()]
    taken = next((line for line in log if any(s in line for s in _PORT_TAKEN)), None)
    if taken:
        raise _PortRace(
            f"the {target} simulation could not listen on a TCP port it needs ({taken.strip()}): "
            "free that port or choose another one (--gdb-port)."
        )
    status = f"exited with status {proc.returncode}" if proc.poll() is not None else "is stuck"
    tail = " | ".join(log[-3:])
    detail = f": {tail}" if tail else ""
    raise SimError(f"the {target} simulation {status} before it was ready ({what}){detail}.")
