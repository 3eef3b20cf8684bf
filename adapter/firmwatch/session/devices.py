"""Several devices at once: a gateway and its nodes, a controller and its supervisor.

Each device is named on the command line as ``NAME=ELF@ADDRESS`` (or ``NAME=sim:TARGET`` for a
simulated one) and gets what a single device gets: its own connection through the one transport
factory (:func:`firmwatch.session.connect.connect`), its own :class:`Session` with its own
watches, streams, loss accounting and clock. What they share is the recording — one file, the
``device`` column telling the rows apart and ``host_time_s`` (each device's clock mapped onto the
host's, :mod:`firmwatch.session.clock`) lining them up.

A device that goes away (unplugged, its server or simulator dead) is marked lost with the time
and the reason; the others keep sampling and recording, since each has its own reader thread.

Addresses:

    /dev/ttyACM0  COM3  socket://HOST:PORT   the streamer over a serial port (or its TCP bridge)
    tcp:HOST:PORT                            the streamer over TCP (launch.json's transport tcp)
    gdb:HOST:PORT   (rsp:HOST:PORT)          a GDB server, read directly over its remote protocol
    via-gdb:HOST:PORT                        a GDB server through a gdb process
    sim:TARGET                               start the simulated device (host, cortex-m3, riscv32, avr, ...)

followed by options, comma-separated: ``baud=115200``, ``budget=2`` (percent), ``mode=live``,
``lock=NAME``, ``gdb-path=PATH``, ``transport=rsp`` (a simulated device over its gdb stub).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmwatch.errors import UserError, sentence
from firmwatch.session.connect import Connection, ConnectOptions, connect
from firmwatch.session.recorder import Recorder
from firmwatch.session.session import Session

NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_DEVICE = re.compile(rf"^(?P<name>{NAME})=(?P<rest>.+)$")
_WATCH = re.compile(rf"^(?P<name>{NAME}):(?!:)(?P<expr>.+)$", re.S)
_OPTIONS = {"baud", "budget", "mode", "lock", "gdb-path", "transport"}


class DeviceError(UserError):
    """A device named wrongly, or one that could not be opened; ``str()`` is one sentence."""


@dataclass
class DeviceSpec:
    name: str
    options: ConnectOptions
    text: str  # as the user wrote it


def parse_device(text: str) -> DeviceSpec:
    """``NAME=ELF@ADDRESS[,OPTION=VALUE...]`` or ``NAME=[ELF@]sim:TARGET[,...]``."""
    m = _DEVICE.match(text.strip())
    if m is None:
        raise DeviceError(f"'{text}' does not name a device: write NAME=ELF@ADDRESS (gw=app.elf@/dev/ttyACM0, "
                          "n1=node.elf@gdb:127.0.0.1:3333) or NAME=sim:TARGET.")
    name, rest = m.group("name"), m.group("rest")
    rest, *opts = rest.split(",")
    elf: str | None = None
    if rest.startswith("sim:"):
        address = rest
    else:
        elf, at, address = rest.rpartition("@")
        if not at or not elf or not address:
            raise DeviceError(f"'{text}': give the device's ELF and address as {name}=ELF@ADDRESS "
                              f"(e.g. {name}=node.elf@/dev/ttyACM0), or {name}=sim:TARGET.")
    o = ConnectOptions(elf=elf)
    kind, _, where = address.partition(":")
    if address.startswith("sim:"):
        o.sim = where or "host"
        if elf is None:
            o.elf = None
    elif kind == "tcp":
        host, _, port = where.rpartition(":")
        o.transport, o.host, o.tcp_port = "tcp", host or "127.0.0.1", _port(text, port)
    elif kind in ("gdb", "rsp", "via-gdb"):
        o.transport, o.target = ("gdb" if kind == "via-gdb" else "rsp"), where
        _port(text, where.rpartition(":")[2])
    elif kind == "serial":
        o.transport, o.port = "serial", where
    else:
        o.transport, o.port = "serial", address
    for opt in opts:
        key, eq, value = opt.partition("=")
        key = key.strip()
        if not eq or key not in _OPTIONS:
            raise DeviceError(f"'{opt}' in '{text}' is not a device option; use {', '.join(sorted(_OPTIONS))} "
                              "as KEY=VALUE.")
        try:
            if key == "baud":
                o.baud = int(value)
            elif key == "budget":
                o.budget = float(value) / 100.0 if float(value) else None
            elif key == "mode":
                o.sampling_mode = value
            elif key == "lock":
                o.lock_symbol = value
            elif key == "gdb-path":
                o.gdb_path = value
            else:
                o.transport = value
        except ValueError:
            raise DeviceError(f"'{opt}' in '{text}': {value} is not a number.") from None
    if o.sim is not None and o.transport is None:
        o.transport = "serial"
    return DeviceSpec(name, o, text)


def _port(text: str, port: str) -> int:
    try:
        return int(port)
    except ValueError:
        raise DeviceError(f"'{text}': '{port}' is not a TCP port; write HOST:PORT.") from None


def split_watch(text: str, names: list[str]) -> tuple[str | None, str]:
    """``n1:accel_x@500`` -> (``n1``, ``accel_x@500``); without a device prefix the watch is for
    every device (None). ``ns::x`` and ``'file.c'::x`` are C++/gdb scopes, not devices."""
    m = _WATCH.match(text.strip())
    if m is None:
        return None, text.strip()
    if m.group("name") not in names:
        raise DeviceError(f"'{m.group('name')}' in '{text}' is not one of the devices ({', '.join(names)}); "
                          "write DEVICE:EXPR, or EXPR alone for every device.")
    return m.group("name"), m.group("expr").strip()


@dataclass
class Device:
    """One device of the group: its connection, session, and whether it is still there."""

    name: str
    spec: DeviceSpec
    conn: Connection | None = None
    session: Session | None = None
    lost_at: float | None = None  # host time its link went down (None: up)
    why: str = ""
    gone: bool = False  # for good: its simulator or GDB server exited (a serial link may come back)
    outages: list[tuple[float, float]] = field(default_factory=list)  # (down, back) host times
    _announced: float | None = None

    @property
    def lost(self) -> bool:
        return self.lost_at is not None

    def mark_lost(self, why: str, for_good: bool = False) -> None:
        if self.lost_at is None:
            self.lost_at = time.time()
            self.why = why.rstrip(".")
        self.gone = self.gone or for_good

    def mark_back(self) -> None:
        if self.lost_at is not None and not self.gone:
            self.outages.append((self.lost_at, time.time()))
            self.lost_at, self.why = None, ""


Message = Callable[[str, str, str], None]  # (device, level, sentence)


class DeviceGroup:
    """The devices of one command; use as a context manager (every device closed at the end)."""

    def __init__(self, specs: list[DeviceSpec], *, default_rate: float, verify_build_id: str = "warn",
                 on_message: Message | None = None):
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DeviceError(f"the device name {dup[0]} is given twice; give each device its own name.")
        if not specs:
            raise DeviceError("no device given: name each one with --device NAME=ELF@ADDRESS.")
        self.devices = [Device(s.name, s) for s in specs]
        self.default_rate = default_rate
        self.verify_build_id = verify_build_id
        self.say = on_message or (lambda device, level, text: None)
        self.recorder: Recorder | None = None

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.devices]

    def device(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise DeviceError(f"'{name}' is not one of the devices ({', '.join(self.names)}).")

    # -- opening and closing ---------------------------------------------------------------------
    def open(self) -> DeviceGroup:
        """Connect every device at once (simulators and servers start in parallel); when one
        cannot be opened, the others are closed again and its sentence is raised."""
        errors: dict[str, BaseException] = {}

        def one(d: Device) -> None:
            try:
                self._open(d)
            except BaseException as e:  # noqa: BLE001  (reported below, in the caller's thread)
                errors[d.name] = e

        threads = [threading.Thread(target=one, args=(d,), name=f"firmwatch-open-{d.name}") for d in self.devices]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException:  # Ctrl-C while devices start: let them finish starting, then stop them all
            for t in threads:
                t.join()
            self.close()
            raise
        if errors:
            self.close()
            name, e = next(iter(errors.items()))
            if isinstance(e, UserError | OSError):
                raise DeviceError(f"device {name}: {sentence(e)}") from e
            raise e
        return self

    def _open(self, d: Device) -> None:
        def on_link(state: str, text: str) -> None:
            self.say(d.name, "info" if state == "restored" else "warning", text)
            if d.session is not None:
                d.session.link_event(state, text)
            if state == "lost":
                # the streamer reconnects by itself (a board plugged back in); a GDB server that
                # died does not come back
                d.mark_lost(text, for_good=d.conn is not None and d.conn.transport not in ("serial", "tcp"))
            elif state == "restored":
                d.mark_back()

        d.conn = connect(d.spec.options, on_link=on_link)
        self.say(d.name, "info", f"connected to {d.conn.description}")
        d.session = Session(d.conn.program, d.conn.target, default_rate=self.default_rate,
                            verify_build_id=self.verify_build_id,
                            on_message=lambda level, text: self.say(d.name, level, text), device=d.name)

    def __enter__(self) -> DeviceGroup:
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.stop_recording()
        for d in self.devices:
            if d.session is not None:
                d.session.close()
            if d.conn is not None:
                d.conn.close()

    # -- watching --------------------------------------------------------------------------------
    def add_watches(self, items: list[tuple[str | None, str, float | None]]) -> None:
        """(device or None for every device, expression, rate) — planned once per device."""
        for d in self.devices:
            mine = [(expr, rate) for dev, expr, rate in items if dev in (None, d.name)]
            if mine and d.session is not None:
                d.session.add_watches(mine)

    def check_gone(self) -> list[Device]:
        """Devices whose link went down since the last call (unplugged, their simulator or server
        exited); the others are not touched."""
        newly = []
        for d in self.devices:
            if d.conn is None:
                continue
            if not d.gone:
                why = d.conn.device_gone()
                if why is not None:
                    d.mark_lost(why, for_good=True)
            if d.lost_at is not None and d._announced != d.lost_at:
                d._announced = d.lost_at
                newly.append(d)
        return newly

    # -- recording -------------------------------------------------------------------------------
    def start_recording(self, path: str, session_id: str | None = None, format: str | None = None) -> Recorder:
        if self.recorder is not None:
            raise DeviceError(f"already recording to {self.recorder.path}; stop that recording first.")
        rec = Recorder(path, session_id, format=format)
        for d in self.devices:
            if d.session is not None:
                d.session.attach_recorder(rec)
        self.recorder = rec
        return rec

    def stop_recording(self) -> Recorder | None:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        for d in self.devices:
            if d.session is not None:
                d.session.attach_recorder(None)
        rec.close()
        return rec

    def finish(self) -> dict[str, Any]:
        """Close every device's account (see Session.finish); a lost device gives the counters
        it had. Returns each device's LinkStats."""
        out: dict[str, Any] = {}
        lock = threading.Lock()

        def one(d: Device) -> None:
            assert d.session is not None
            if d.lost:
                st = d.session.target.stats()
                d.session.stop_sampling() if d.conn is not None and d.conn.transport in ("serial", "tcp") else None
            else:
                try:
                    st = d.session.finish()
                except UserError as e:
                    d.mark_lost(str(e))
                    st = d.session.target.stats()
            with lock:
                out[d.name] = st

        threads = [threading.Thread(target=one, args=(d,)) for d in self.devices if d.session is not None]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out
