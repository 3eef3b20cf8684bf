"""Launch a GDB server from a command line, wait until it listens, stop it at the end.

    with GdbServer(qemu_command("cortex-m3", "demo.elf", port), port) as server:
        target = RspTarget(server.address)

The server runs in its own process group (QEMU, openocd and friends may fork helpers), its
output goes to a log file rather than a pipe (openocd logs a lot; a full pipe would block
it), and readiness is decided by the kernel's socket table — a LISTEN entry on the port — so
no probe connection disturbs a server that halts the target when a client connects.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from firmwatch.targets.base import TargetError

# which Debian package (or project) provides each server, for "not installed" sentences
_PROVIDERS = {
    "qemu-system-arm": "apt-get install qemu-system-arm",
    "qemu-system-riscv32": "apt-get install qemu-system-misc",
    "simavr": "apt-get install simavr",
    "openocd": "apt-get install openocd",
    "pyocd": "pip install pyocd",
    "probe-rs": "see https://probe.rs to install probe-rs",
    "JLinkGDBServer": "install the SEGGER J-Link software pack",
    "JLinkGDBServerCLExe": "install the SEGGER J-Link software pack",
}


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_ports() -> set[int] | None:
    """Local TCP ports in LISTEN state, from /proc/net; None where that is unavailable."""
    ports: set[int] = set()
    found = False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports if found else None


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class GdbServer:
    """A GDB server process: ``start()`` returns once the port listens; ``stop()`` ends it."""

    def __init__(
        self,
        argv: Sequence[str] | str,
        port: int,
        host: str = "127.0.0.1",
        *,
        name: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 15.0,
    ):
        self.argv = shlex.split(argv) if isinstance(argv, str) else [str(a) for a in argv]
        if not self.argv:
            raise TargetError("the GDB server command line is empty; give the command that starts the server.")
        self.port = port
        self.host = host
        self.name = name or Path(self.argv[0]).name
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        # the process writes here for its whole life; closed in stop()
        self._log = tempfile.NamedTemporaryFile(prefix=f"firmwatch-{self.name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = self._log.name

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            text = Path(self.log_path).read_bytes()[-8192:].decode("utf-8", "replace")
            return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
        return ""

    def start(self) -> GdbServer:
        ports = _listening_ports()
        if ports is not None and self.port in ports:
            # otherwise that program's socket would look like our server being ready
            raise TargetError(
                f"port {self.port} is already in use by another program: choose another port for {self.name} "
                "or stop what listens there."
            )
        env = None if self.env is None else {**os.environ, **self.env}
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        except FileNotFoundError:
            hint = _PROVIDERS.get(Path(self.argv[0]).name)
            raise TargetError(
                f"'{self.argv[0]}' is not installed or not on PATH: "
                + (f"install it ({hint}) or give its full path." if hint else "install it or give its full path.")
            ) from None
        except PermissionError:
            raise TargetError(f"'{self.argv[0]}' is not executable; check the server command.") from None
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        use_proc = _listening_ports() is not None
        while True:
            if self.proc.poll() is not None:
                tail = self.output_tail()
                raise TargetError(
                    f"{self.name} exited with status {self.proc.returncode} before listening on port {self.port}"
                    + (f" (it said: {tail})" if tail else "")
                    + "; fix its command line or free the port."
                )
            ports = _listening_ports() if use_proc else None
            if (ports is not None and self.port in ports) or (ports is None and _accepts(self.host, self.port)):
                return
            if time.monotonic() >= deadline:
                tail = self.output_tail()
                self.stop()
                raise TargetError(
                    f"{self.name} did not listen on port {self.port} within {self.ready_timeout:g} s"
                    + (f" (it said: {tail})" if tail else "")
                    + "; check that the command line uses that port."
                )
            # waits on the process itself: returns at once if it dies
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.02)

    def stop(self, timeout: float = 3.0) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``timeout``; returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with contextlib.suppress(OSError):
            self._log.close()
        return proc.returncode

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)

    def __enter__(self) -> GdbServer:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- command lines for the usual servers ----------------------------------------------------
_QEMU_MACHINES = {
    "cortex-m3": ("qemu-system-arm", ["-M", "mps2-an385"]),
    "riscv32": ("qemu-system-riscv32", ["-M", "virt", "-bios", "none"]),
}


def qemu_command(board: str, elf: str | os.PathLike[str], port: int, *, halted: bool = False,
                 extra: Sequence[str] = ()) -> list[str]:
    """QEMU running ``elf`` with its gdb stub on ``port`` (``halted``: wait for the debugger)."""
    if board not in _QEMU_MACHINES:
        raise TargetError(f"no QEMU board '{board}' is known; use one of {', '.join(_QEMU_MACHINES)}.")
    exe, machine = _QEMU_MACHINES[board]
    cmd = [exe, *machine, "-nographic", "-monitor", "none", "-serial", "null", "-kernel", str(elf),
           "-gdb", f"tcp:127.0.0.1:{port}"]
    if halted:
        cmd.append("-S")
    return cmd + list(extra)


def openocd_command(configs: Sequence[str], port: int = 3333) -> list[str]:
    cmd = ["openocd"]
    for cfg in configs:
        cmd += ["-f", cfg]
    return cmd + ["-c", f"gdb_port {port}", "-c", "tcl_port disabled", "-c", "telnet_port disabled"]


def jlink_command(device: str, port: int = 2331, interface: str = "SWD", speed_khz: int = 4000) -> list[str]:
    return ["JLinkGDBServer", "-device", device, "-if", interface, "-speed", str(speed_khz),
            "-port", str(port), "-nogui", "-singlerun"]


def pyocd_command(target: str, port: int = 3333) -> list[str]:
    return ["pyocd", "gdbserver", "--target", target, "--port", str(port), "--persist"]


def probe_rs_command(chip: str, port: int = 1337) -> list[str]:
    return ["probe-rs", "gdb", "--chip", chip, "--gdb-connection-string", f"127.0.0.1:{port}"]
