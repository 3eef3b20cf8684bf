"""The one transport factory: from what the user named to a connected Target.

Every front end reaches a device through :func:`connect` (or :func:`open_target`, its short form
for an already started device): the command line, the debug adapter, and the public Python API.
:class:`ConnectOptions` is the one list of options; ``OPTION_NAMES`` says how each is spelled in
launch.json and on the command line, and a test keeps both front ends accepting every one.

``connect`` starts what it is asked to start (a simulated device, a GDB server command line),
loads the ELF through the caller's loader (the adapter reports indexing progress), opens the
transport with every sampling option, and hands back a :class:`Connection` whose ``close``
stops all of it in reverse order — also when connecting fails half-way.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firmwatch.errors import UserError
from firmwatch.session.device_text import DeviceText
from firmwatch.symbols.program import Program
from firmwatch.targets.base import Target, TargetError

if TYPE_CHECKING:
    from firmwatch.sim import SimDevice
    from firmwatch.targets.gdbserver import GdbServer

TRANSPORTS = ("serial", "tcp", "rsp", "gdb")
SAMPLING_MODES = ("auto", "live", "halt")
STREAMER_MODES = ("binary", "text")
DEFAULT_BUDGET = 0.01

Output = Callable[[str, str], None]  # (category: "console" | "stdout" | "stderr", text)
LinkEvent = Callable[[str, str], None]  # (state: "lost" | "restored" | "error" | ..., sentence)
Loader = Callable[[str], Program]


class ConnectError(UserError):
    """The options do not name a device firmwatch can reach; ``str()`` says which option to fix."""


@dataclass
class ConnectOptions:
    """How to reach the device. Every field is a launch.json key and a command-line option
    (``OPTION_NAMES``); defaults are the same in both."""

    elf: str | None = None  # the firmware the device runs; from ``sim`` when not given
    transport: str | None = None  # serial | tcp | rsp | gdb; None: serial with port, rsp with target
    port: str | None = None  # serial: a device path or a pyserial URL (socket://HOST:PORT)
    baud: int = 921600  # serial
    streamer_mode: str = "binary"  # serial, tcp: binary (checked frames) | text (checked lines, one region per stream)
    host: str = "127.0.0.1"  # tcp
    tcp_port: int | None = None  # tcp
    target: str | None = None  # rsp, gdb: the GDB server's HOST:PORT ({port}: the free port given to ``server``)
    gdb_path: str | None = None  # gdb: the gdb executable (default: avr-gdb for AVR, else gdb-multiarch)
    budget: float | None = DEFAULT_BUDGET  # rsp, gdb: max fraction of time halted by sampling; None: no cap
    sampling_mode: str = "auto"  # rsp, gdb: auto (probe) | live (reads while running) | halt
    lock_symbol: str | None = None  # rsp, gdb: a flag the firmware sets while it updates the data
    sim: str | None = None  # start the bundled simulated device (host, cortex-m3, riscv32, avr, host-rust)
    server: list[str] | str | None = None  # start this GDB server or device command line ({port}: a free port)
    cwd: str | None = None  # the server's working directory
    env: dict[str, str] = field(default_factory=dict)  # extra environment of the server
    die_with_parent: bool = False  # end the simulated device if this thread's process dies (see sim.start_sim)

    def resolved_transport(self) -> str:
        if self.transport is not None:
            return self.transport
        if self.target is not None or (self.server is not None and self.port is None):
            return "rsp"
        return "serial"


# field -> (launch.json key, command-line option): the parity of the two front ends
OPTION_NAMES: dict[str, tuple[str, str]] = {
    "elf": ("elf", "ELF"),
    "transport": ("transport", "--transport (implied by --port, --gdb, --via-gdb)"),
    "port": ("port", "--port"),
    "baud": ("baud", "--baud"),
    "streamer_mode": ("streamerMode", "--streamer-mode"),
    "host": ("host", "--port socket://HOST:PORT"),
    "tcp_port": ("port", "--port socket://HOST:PORT"),
    "target": ("target", "--gdb"),
    "gdb_path": ("gdbPath", "--gdb-path"),
    "budget": ("intrusionBudget", "--budget"),
    "sampling_mode": ("samplingMode", "--gdb-mode"),
    "lock_symbol": ("lockSymbol", "--lock-symbol"),
    "sim": ("sim", "--sim"),
    "server": ("server", "--server"),
    "cwd": ("cwd", "(the shell's working directory)"),
    "env": ("env", "(the shell's environment)"),
}


@dataclass
class Connection:
    """A connected device and everything started for it."""

    target: Target
    program: Program
    transport: str
    elf: str
    description: str  # what the status line calls the target
    sim: SimDevice | None = None
    server: GdbServer | None = None
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def device_gone(self) -> str | None:
        """Why what we started is gone (the simulated device or the server exited), or None."""
        if self.sim is not None and not self.sim.alive:
            return f"the simulated device exited (status {self.sim.returncode})"
        if self.server is not None and not self.server.running():
            return f"{self.server.name} exited ({self.server.output_tail() or 'no output'})"
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.target.close()
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stop()
        self._stoppers.clear()


def _load(path: str) -> Program:
    from firmwatch.symbols import load

    return load(path)


def connect(options: ConnectOptions, *, load: Loader = _load, on_output: Output | None = None,
            on_link: LinkEvent | None = None, pace: str = "realtime") -> Connection:
    """Start what ``options`` ask for, load the ELF with ``load``, open the transport.

    ``on_output(category, text)`` gets what the started device or server prints and, over the
    streamer in binary mode, the firmware's own text between frames. ``on_link(state, sentence)``
    gets the link's events (lost, restored, a failed sampling round). ``pace`` is a started
    simulated device's (sim.start_sim): ``fast`` for a demo whose figures must not depend on the
    host's load (``firmwatch profile --demo``), not a property of the user's device.
    """
    emit: Output = on_output or (lambda category, text: None)
    transport = options.resolved_transport()
    if transport not in TRANSPORTS:
        raise ConnectError(f"the transport '{transport}' is not known; use one of {', '.join(TRANSPORTS)}.")
    _check_modes(options, transport)
    elf = options.elf
    if elf is not None:
        from firmwatch.symbols.elf import refuse_non_regular

        refuse_non_regular(elf)  # before any device is started or opened
    stoppers: list[Callable[[], None]] = []
    sim = server = None
    try:
        if options.sim is not None:
            sim, address = _start_sim(options, transport, elf, emit, stoppers, pace)
            elf = str(sim.elf)
        elif options.server is not None:
            server, address = _start_server(options, transport, emit, stoppers)
        else:
            address = _address(options, transport)
        if elf is None:
            raise ConnectError("no ELF given: name the firmware ELF the device runs (launch.json 'elf', or the "
                               "command's ELF argument).")
        program = load(elf)
        target = _open(options, transport, address, program, emit, on_link)
    except BaseException:
        for stop in reversed(stoppers):
            with contextlib.suppress(Exception):
                stop()
        raise
    return Connection(target, program, transport, elf, target.info().name, sim, server, stoppers)


def open_target(*, port: str | None = None, baud: int = 921600, gdb: str | None = None,
                program: Program | None = None, via_gdb: bool = False, gdb_path: str | None = None,
                budget: float | None = DEFAULT_BUDGET, mode: str = "auto", lock_symbol: str | None = None,
                streamer_mode: str = "binary", on_message: Callable[[str, str], None] | None = None) -> Target:
    """The transport alone, for a device that already runs: ``port`` (the streamer: a device
    path or socket://HOST:PORT) or ``gdb`` (a GDB server's HOST:PORT, direct RSP or ``via_gdb``).
    ``mode`` is the GDB server's sampling mode, ``streamer_mode`` the streamer's (binary, text).
    ``on_message(level, sentence)`` gets the link's events."""
    if port and gdb:
        raise ConnectError("give either --port (streamer firmware) or --gdb (a GDB server), not both.")
    if not port and not gdb:
        raise ConnectError("no target given: use --port PORT (serial device or socket://HOST:PORT) or --gdb HOST:PORT.")
    transport = ("gdb" if via_gdb else "rsp") if gdb else "serial"
    options = ConnectOptions(elf=program.elf.path if program is not None else None, transport=transport,
                             port=port, baud=baud, streamer_mode=streamer_mode, target=gdb, gdb_path=gdb_path,
                             budget=budget, sampling_mode=mode, lock_symbol=lock_symbol)
    _check_modes(options, transport)

    def on_link(state: str, message: str) -> None:
        if on_message is not None:
            on_message("info" if state == "restored" else "warning", message)

    return _open(options, transport, port or gdb or "", program, None, on_link)


def _check_modes(options: ConnectOptions, transport: str) -> None:
    """The modes' values and that each applies to the transport, before anything is started."""
    if options.sampling_mode not in SAMPLING_MODES:
        raise ConnectError(f"the sampling mode '{options.sampling_mode}' is not known; use auto, live or halt.")
    if options.streamer_mode not in STREAMER_MODES:
        raise ConnectError(f"the streamer mode '{options.streamer_mode}' is not known; use binary or text.")
    if options.streamer_mode != "binary" and transport not in ("serial", "tcp"):
        raise ConnectError(f"{options.streamer_mode} mode is the firmware streamer's (transport serial or tcp), not "
                           f"{transport}'s: a GDB server reads memory itself; leave the streamer mode at binary.")


# -- starting devices -------------------------------------------------------------------------
def _start_sim(options: ConnectOptions, transport: str, elf: str | None, emit: Output,
               stoppers: list[Callable[[], None]], pace: str) -> tuple[SimDevice, str]:
    from firmwatch.sim import start_sim

    sim = start_sim(options.sim or "host", elf=elf, tcp=transport == "tcp", pace=pace,
                    die_with_parent=options.die_with_parent)
    stoppers.append(sim.stop)
    emit("console", f"firmwatch: simulated {options.sim} device started (pid {sim.pid}), UART {sim.port}"
         + (f", gdb stub {sim.gdb}" if sim.gdb else "") + ".\n")
    _pump_sim_log(sim, emit, stoppers)
    if transport in ("serial", "tcp"):
        return sim, sim.port
    if sim.gdb is None:
        raise ConnectError(f"the {options.sim} simulation has no gdb stub for transport {transport}; use serial "
                           "or tcp with it, or sim cortex-m3, riscv32 or avr.")
    return sim, sim.gdb


def _server_argv(server: list[str] | str, port: int | None) -> list[str]:
    argv = shlex.split(server) if isinstance(server, str) else list(server)
    if port is not None:
        argv = [a.replace("{port}", str(port)) for a in argv]
    return argv


def _start_server(options: ConnectOptions, transport: str, emit: Output,
                  stoppers: list[Callable[[], None]]) -> tuple[GdbServer, str]:
    from firmwatch.targets.gdbserver import GdbServer, free_port

    assert options.server is not None
    argv = _server_argv(options.server, None)
    port: int | None = None
    if any("{port}" in a for a in argv):
        port = free_port()
        argv = _server_argv(options.server, port)
    if transport == "serial":
        raise ConnectError("a server needs a transport that connects over TCP (tcp, rsp or gdb) so firmwatch can "
                           "tell when it is ready; use transport tcp or rsp.")
    if transport == "tcp":
        host, tport = options.host, options.tcp_port or port
    else:
        text = (options.target or "127.0.0.1:{port}").replace("{port}", str(port)) if port else options.target
        if text is None:
            raise ConnectError("give the server's address as HOST:PORT, or put {port} in the server's command line.")
        host, _, p = text.rpartition(":")
        try:
            host, tport = host or "127.0.0.1", int(p)
        except ValueError:
            raise ConnectError(f"'{text}' is not a GDB server address; write HOST:PORT.") from None
    if tport is None:
        raise ConnectError("give the TCP port of the server's device (or use {port} in its command line).")
    host = "127.0.0.1" if host == "localhost" else host
    server = GdbServer(argv, tport, host, cwd=options.cwd, env=dict(options.env) if options.env else None)
    stop_tail = threading.Event()
    stoppers.append(server.close)
    stoppers.append(stop_tail.set)
    server.start()
    _FileTail(server.log_path, emit, stop_tail)
    emit("console", f"firmwatch: started {server.name} (pid {server.pid}) on port {tport}.\n")
    return server, (f"socket://{host}:{tport}" if transport == "tcp" else f"{host}:{tport}")


def _address(options: ConnectOptions, transport: str) -> str:
    if transport == "serial":
        if not options.port:
            raise ConnectError("transport serial needs the port: a device such as /dev/ttyACM0 or a pyserial URL.")
        return options.port
    if transport == "tcp":
        if options.tcp_port is None:
            raise ConnectError("transport tcp needs the TCP port number of the device's UART bridge.")
        return f"socket://{options.host}:{options.tcp_port}"
    if not options.target:
        raise ConnectError(f"transport {transport} needs the GDB server as HOST:PORT, e.g. localhost:3333.")
    return options.target


class _FileTail:
    """Forwards what a server writes to its log file as output (its stderr and stdout)."""

    def __init__(self, path: str, emit: Output, stop: threading.Event):
        self.path, self.emit, self.stop = path, emit, stop
        threading.Thread(target=self._run, name="firmwatch-server-log", daemon=True).start()

    def _run(self) -> None:
        pos = 0
        while not self.stop.wait(0.2):
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read(65536)
            except OSError:
                return
            if data:
                pos += len(data)
                self.emit("stderr", data.decode("utf-8", "replace"))


def _pump_sim_log(sim: SimDevice, emit: Output, stoppers: list[Callable[[], None]]) -> None:
    """The simulator's own output (QEMU, simavr messages) as stderr output."""
    stop = threading.Event()
    stoppers.append(stop.set)

    def run() -> None:
        seen = len(sim.log())
        while not stop.wait(0.3):
            lines = sim.log()
            # the pump keeps a bounded deque: when it rolled over, only the tail is new
            new = lines[seen:] if len(lines) >= seen else lines
            seen = len(lines)
            if new:
                emit("stderr", "".join(line if line.endswith("\n") else line + "\n" for line in new))

    threading.Thread(target=run, name="firmwatch-sim-log", daemon=True).start()


# -- opening the transport --------------------------------------------------------------------
def _lock(options: ConnectOptions, program: Program | None) -> tuple[int, int] | None:
    if not options.lock_symbol:
        return None
    if program is None:
        raise ConnectError("a lock symbol needs the ELF to find the flag's address.")
    v = program.find_variable(options.lock_symbol)
    return v.address, v.size or 1


def _open(options: ConnectOptions, transport: str, address: str, program: Program | None, emit: Output | None,
          on_link: LinkEvent | None) -> Target:
    if transport in ("serial", "tcp"):
        if options.lock_symbol or options.sampling_mode != "auto":
            raise ConnectError("the lock symbol and the sampling mode are for GDB servers (transport rsp or gdb): the "
                               "streamer copies each stream atomically on the device.")
        from firmwatch.targets.streamer import StreamerTarget

        try:
            target = StreamerTarget(address, baud=options.baud, mode=options.streamer_mode, on_link=on_link)
        except (OSError, ValueError) as e:
            raise TargetError(f"cannot open {address} ({e}); check the port and that no other program uses it.") from None
        if emit is not None and target.mode == "binary":
            text = DeviceText()

            def raw(data: bytes) -> None:
                for line in text.feed(data):
                    emit("stdout", line + "\n")

            target.on_raw(raw)
        return target
    lock = _lock(options, program)
    arch = program.elf.machine if program is not None else None
    if transport == "gdb":
        from firmwatch.targets.gdb import GdbTarget

        if program is None:
            raise ConnectError("the gdb transport needs the ELF.")
        return GdbTarget(program.elf.path, server=address, gdb_path=options.gdb_path, mode=options.sampling_mode,
                         budget=options.budget, lock=lock, on_link=on_link)
    from firmwatch.targets.rsp import RspTarget

    return RspTarget(address, expect_arch=arch, mode=options.sampling_mode, budget=options.budget, lock=lock,
                     on_link=on_link)
