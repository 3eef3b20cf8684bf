"""``firmwatch.connect()`` and the :class:`Device` it returns: the session, faced for scripts.

A Device is the same thing the command line and the debug adapter run: the one transport factory
(:func:`firmwatch.session.connect.connect`) with the same options, and one
:class:`firmwatch.session.session.Session` over it. Reads and writes go through the session's
checked paths (the CLI's ``write`` checks: range, type, const data, read-back), watches through its
sampling plans and the device's streams, recordings through its recorder. Nothing here talks to a
transport directly.

Thread-safety: one Device may be used from several threads and from asyncio tasks (the ``*_async``
methods run the blocking call in a worker thread); samples are delivered from the session's reader
thread to iterators through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from firmwatch.api.assertions import Trace, assert_reaches, assert_stays
from firmwatch.api.assertions import describe_predicate as _describe
from firmwatch.api.assertions import predicate_of as _predicate
from firmwatch.api.errors import ApiError, WaitTimeout
from firmwatch.api.recording import Recording, TableKind, build_table, read_rows, table_kind
from firmwatch.api.samples import DEFAULT_BUFFER, Loss, Sample, Watcher, link_delta
from firmwatch.api.values import Decoder, EnumValue, PyValue, fast_decoder, literal, to_python
from firmwatch.errors import UserError
from firmwatch.session.access import Decoded
from firmwatch.session.connect import ConnectError, Connection, ConnectOptions
from firmwatch.session.connect import connect as open_connection
from firmwatch.session.session import Session
from firmwatch.session.watch import Watch
from firmwatch.symbols.program import Program
from firmwatch.targets.base import LinkStats, Target, TargetInfo

if TYPE_CHECKING:
    from firmwatch.profiler.report import Profile
    from firmwatch.rtos.monitor import RtosMonitor, RtosSnapshot
    from firmwatch.session.memory_health import MemoryHealth, MemoryMonitor

log = logging.getLogger("firmwatch")

Exprs = str | Sequence[str] | Mapping[str, float]
Predicate = Callable[[Any], bool]
MessageHandler = Callable[[str, str], None]  # (level: "info" | "warning" | "error", sentence)

# ConnectOptions' fields a script may pass (die_with_parent is the factory's own business)
CONNECT_FIELDS = frozenset(f.name for f in fields(ConnectOptions)) - {"elf", "port", "target", "sim",
                                                                      "die_with_parent"}
SESSION_OPTIONS = frozenset({"rate", "strict", "verify_build_id", "via_gdb", "on_message", "svd"})
DEFAULT_RECORD_RATE = 100.0  # as `firmwatch record`
DEFAULT_WAIT_RATE = 100.0  # wait_until and the assertions: fine enough to catch a 10 ms excursion


def _log_message(level: str, text: str) -> None:
    log.log({"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR), "%s", text)


def connect_options(elf: str | os.PathLike[str] | None, port: str | None, gdb: str | None, sim: str | None,
                    options: dict[str, Any]) -> ConnectOptions:
    """The transport factory's options from ``connect``'s arguments (the names of ConnectOptions,
    which are launch.json's; ``gdb`` is launch.json's ``target``). ``budget`` is a percentage, as on
    the command line and in launch.json."""
    unknown = set(options) - CONNECT_FIELDS - SESSION_OPTIONS
    if unknown:
        raise ConnectError(f"connect() does not take {', '.join(sorted(unknown))}; it takes elf, port, gdb, sim and "
                           f"{', '.join(sorted(CONNECT_FIELDS | SESSION_OPTIONS))}.")
    if port and gdb:
        raise ConnectError("give either port= (streamer firmware) or gdb= (a GDB server), not both.")
    if not (port or gdb or sim or options.get("server")):
        raise ConnectError("no target given: pass port= (a serial device or socket://HOST:PORT), gdb='HOST:PORT', "
                           "sim='host' (or another simulated board) or server=COMMAND.")
    kw = {k: v for k, v in options.items() if k in CONNECT_FIELDS}
    if options.get("via_gdb"):
        kw["transport"] = "gdb"
    budget = kw.pop("budget", 100 * 0.01)
    if budget is not None:
        try:
            budget = float(budget)
        except (TypeError, ValueError):
            raise ConnectError(f"budget={budget!r} is not a percentage; give a number from 0 to 100.") from None
        if not 0 <= budget <= 100:
            raise ConnectError(f"budget={budget:g} is not a percentage; give a number from 0 to 100 (0: no cap).")
    if kw.get("transport") == "tcp" and port and port.startswith("socket://"):  # launch.json's host and port as a URL
        host, _, p = port[len("socket://"):].rpartition(":")
        kw["host"], kw["tcp_port"], port = host, int(p), None
    return ConnectOptions(elf=os.fspath(elf) if elf is not None else None, port=port, target=gdb, sim=sim,
                          budget=budget / 100.0 if budget else None, **kw)


def connect(elf: str | os.PathLike[str] | None = None, *, port: str | None = None, gdb: str | None = None,
            sim: str | None = None, **options: Any) -> Device:
    """Connect to a running device and return a :class:`Device` (a context manager).

    ``elf`` is the firmware the device runs (with ``sim`` it may be omitted: the bundled demo).
    Exactly one way to reach it: ``port`` — the firmware's streamer on a serial device or
    ``socket://HOST:PORT``; ``gdb`` — a GDB server's ``HOST:PORT`` (direct RSP; ``via_gdb=True``
    through a gdb process); ``sim`` — start a simulated device (``host``, ``cortex-m3``,
    ``riscv32``, ``avr``, ...); or ``server`` — a command line that starts one.

    ``options`` are the command line's and launch.json's: ``transport``, ``baud``,
    ``streamer_mode`` (``binary``, or ``text`` for firmware that speaks only text), ``budget`` (the
    percentage of time sampling may halt the CPU), ``sampling_mode`` (auto | live | halt),
    ``lock_symbol``, ``gdb_path``, ``server``, ``cwd``, ``env``, ``host``, ``tcp_port``; and the
    session's: ``rate`` (default Hz of watches, 10), ``strict=True`` (refuse a device whose build id
    differs from the ELF's; else a warning), ``svd`` (a CMSIS-SVD file: peripheral registers become
    readable as ``PERIPH.REG.FIELD``), ``on_message(level, sentence)`` (default: the ``firmwatch``
    logger).

    Raises :class:`firmwatch.UserError` (``ConnectError``, ``TargetError``, ``SymbolsError``, ...)
    with one sentence when the device cannot be reached.
    """
    on_message: MessageHandler = options.get("on_message") or _log_message
    copts = connect_options(elf, port, gdb, sim, dict(options))
    # a simulated device dies with this process even when it is killed; the signal is tied to the
    # starting thread, so only a start from the main thread asks for it (connect_async starts in a worker)
    copts.die_with_parent = threading.current_thread() is threading.main_thread()
    verify = options.get("verify_build_id") or ("error" if options.get("strict") else "warn")
    if verify not in ("warn", "error", "off"):
        raise ConnectError(f"verify_build_id='{verify}' is not known; use warn, error or off.")

    holder: list[Device] = []

    def on_link(state: str, text: str) -> None:
        # as the CLI's LinkWatch: said, passed to the session (an outage interrupts its watches'
        # schedules), and for a GDB server a lost link is the end of the device
        on_message("info" if state == "restored" else "warning", text)
        if holder:
            holder[0]._link_event(state, text)

    conn = open_connection(copts, on_link=on_link)
    try:
        session = Session(conn.program, conn.target, default_rate=options.get("rate"), verify_build_id=verify,
                          on_message=on_message)
    except BaseException:
        conn.close()
        raise
    device = Device(conn, session)
    holder.append(device)
    if options.get("svd"):
        try:
            device.attach_svd(options["svd"])
        except BaseException:
            device.close()
            raise
    return device


async def connect_async(elf: str | os.PathLike[str] | None = None, **options: Any) -> Device:
    """:func:`connect` in a worker thread, for ``async with await firmwatch.connect_async(...)``."""
    return await asyncio.to_thread(lambda: connect(elf, **options))


@dataclass(frozen=True)
class SymbolInfo:
    """A global or static variable of the ELF."""

    name: str  # qualified as it is written in an expression ('file.c'::x, ns::x)
    address: int | None  # None: a constant with no storage
    size: int | None
    type: str
    section: str | None
    file: str | None
    line: int | None


@dataclass(frozen=True)
class TypeInfo:
    """What ``ptype`` says of an expression: its type, size, address and member layout."""

    expression: str
    type: str
    size: int | None
    address: int | None
    members: list[dict[str, Any]]  # name, offset, size, type (bit_offset, bit_size); nested under "members"
    text: str  # gdb's ptype/o layout, as `firmwatch ptype` prints it


class Device:
    """A connected device. Use it as a context manager (``with firmwatch.connect(...) as dev``) or
    call :meth:`close`. See docs/api.md for a tutorial."""

    def __init__(self, connection: Connection, session: Session):
        self.connection = connection
        self.session = session
        self._closed = False
        self._lock = threading.Lock()
        self._users: dict[int, int] = {}  # watch id -> watchers using it
        self._memory: MemoryMonitor | None = None
        self._rtos: RtosMonitor | None = None
        self.trace: Trace | None = None  # the pytest plugin's log of what assertions observed
        self._gone: str | None = None  # why the link is lost for good (a GDB server that died)

    def _link_event(self, state: str, text: str) -> None:
        self.session.link_event(state, text)
        if state == "lost" and self.transport not in ("serial", "tcp"):
            self._gone = text.rstrip(".")  # the streamer reconnects by itself; a dead GDB server does not

    # -- what it is ---------------------------------------------------------------------------------
    @property
    def program(self) -> Program:
        """The ELF's symbols and types."""
        return self.connection.program

    @property
    def target(self) -> Target:
        return self.connection.target

    @property
    def elf(self) -> str:
        return self.connection.elf

    @property
    def transport(self) -> str:
        """serial, tcp, rsp or gdb."""
        return self.connection.transport

    @property
    def info(self) -> TargetInfo:
        """What the device said about itself (byte order, limits, build id, tick rate)."""
        return self.session.info

    @property
    def build_id_status(self) -> str:
        """match, MISMATCH, or why it is unknown."""
        return self.session.build_id_status

    @property
    def port(self) -> str | None:
        """The simulated device's UART (a pty path or socket:// URL), when this connection started one."""
        return self.connection.sim.port if self.connection.sim is not None else None

    @property
    def gdb(self) -> str | None:
        """The simulated device's gdb stub (HOST:PORT), when it has one."""
        return self.connection.sim.gdb if self.connection.sim is not None else None

    def stats(self) -> LinkStats:
        """The link's counters since it opened (samples, lost, corrupt frames, device drops, halted share)."""
        return self.target.stats()

    def link_problem(self) -> str | None:
        """Why the device is unreachable now, or None."""
        return self.connection.device_gone() or self._gone

    def __repr__(self) -> str:
        return f"<firmwatch.Device {self.connection.description} ({self.elf})>"

    # -- life ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every watch, the session and the link, and whatever connect() started."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.session.close()
        finally:
            self.connection.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ApiError("the device is closed; connect again with firmwatch.connect().")
        gone = self.link_problem()
        if gone:
            raise ApiError(f"{gone}; connect again once the device runs.")

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    # -- one-shot reads and writes --------------------------------------------------------------------
    def evaluate(self, expr: str) -> Decoded:
        """The decoded value tree of one read (``display()``, ``children()``, ``type_name``, ``raw``)."""
        self._check_open()
        return self.session.evaluate(expr)

    def read(self, expr: str) -> PyValue:
        """Read an expression once, as a Python value: ints, floats, bools, enums by name
        (:class:`EnumValue`), structs as :class:`Struct` mappings, arrays as lists, char arrays as str."""
        return to_python(self.evaluate(expr))

    def display(self, expr: str, hex: bool = False) -> str:
        """The value as gdb's ``print`` (and the CLI and VS Code) show it."""
        return self.evaluate(expr).display(hex=hex)

    def write(self, expr: str, value: Any) -> PyValue:
        """Write ``value`` to the object ``expr`` names, with the CLI's checks (the value fits the
        type, the object is not const or in flash, the read-back matches); returns the value read
        back. A dict writes a struct's named members, a list an array's first elements, one member
        or element at a time (not atomic: the firmware may run in between)."""
        self._check_open()
        self._write(expr.strip(), value)
        return self.read(expr)

    def _write(self, expr: str, value: Any) -> None:
        from firmwatch.symbols.values import postfix_operand

        if isinstance(value, Mapping):
            for k, v in value.items():
                self._write(f"{postfix_operand(expr)}.{k}", v)
            return
        if isinstance(value, list | tuple):
            for i, v in enumerate(value):
                self._write(f"{postfix_operand(expr)}[{i}]", v)
            return
        text = literal(value, expr)
        if isinstance(value, str) and not isinstance(value, EnumValue) and self._is_char_array(expr) \
                and not text.startswith(('"', "'")):
            text = _c_string(value)
        self.session.write(expr, text)

    def _is_char_array(self, expr: str) -> bool:
        from firmwatch.symbols.expr import CompiledExpression
        from firmwatch.symbols.types import ArrayType
        from firmwatch.symbols.values import is_char_type

        c = self.session.compile(expr)
        if not isinstance(c, CompiledExpression) or c.type is None:
            return False
        t = c.types.resolved(c.type)
        return isinstance(t, ArrayType) and is_char_type(c.types.resolved(t.element))

    async def read_async(self, expr: str) -> PyValue:
        return await asyncio.to_thread(self.read, expr)

    async def write_async(self, expr: str, value: Any) -> PyValue:
        return await asyncio.to_thread(self.write, expr, value)

    # -- watches --------------------------------------------------------------------------------------
    def _acquire(self, exprs: Exprs, rate: float | None) -> list[Watch]:
        self._check_open()
        if isinstance(exprs, str):
            wanted = [(exprs, rate)]
        elif isinstance(exprs, Mapping):
            wanted = [(e, float(r)) for e, r in exprs.items()]
        else:
            wanted = [(e, rate) for e in exprs]
        if not wanted:
            raise ApiError("no expression given; name at least one variable or expression to watch.")
        for text, r in wanted:  # a bad expression or rate is refused before any watch is added
            if self.session.find_watch(text) is None:
                self.session.compile(text)
            if r is not None:
                self.session._check_rate(r)
        with self._lock:
            for text, r in wanted:
                existing = self.session.find_watch(text)
                if existing is not None and self._users.get(existing.id) and r is not None \
                        and existing.rate_hz != self.session._check_rate(r):
                    raise ApiError(f"{text.strip()} is already watched at {existing.rate_hz:g} Hz by another watch; "
                                   "close that one first or ask the same rate.")
            got = self.session.add_watches(wanted)  # one plan for all: no stream started and replaced
            for w in got:
                self._users[w.id] = self._users.get(w.id, 0) + 1
        refused = [w for w in got if w.unsampled]
        if refused:
            self._release(got)
            raise ApiError(f"{refused[0].text} cannot be sampled: {(refused[0].unsampled or '').rstrip('.')}.")
        return got

    def _release(self, watches: Sequence[Watch]) -> None:
        if self._closed:
            return
        for w in watches:
            with self._lock:
                n = self._users.get(w.id, 0) - 1
                if n > 0:
                    self._users[w.id] = n
                    continue
                self._users.pop(w.id, None)
            with contextlib.suppress(UserError):
                self.session.remove_watch(w.id)

    def _fast_decoder(self, w: Watch) -> Decoder | None:
        if w.compiled.static_regions() is None:
            return None  # a pointer hop: the plan may be re-bound, decode each sample by its own plan
        return fast_decoder(w.compiled, self.program.elf.byteorder)

    def watch(self, exprs: Exprs, rate: float | None = None, *, duration: float | None = None,
              count: int | None = None, callback: Callable[[Sample], None] | None = None,
              buffer: int = DEFAULT_BUFFER, stall_timeout: float | None = 5.0) -> Watcher:
        """Sample ``exprs`` (one expression, a list, or ``{expr: rate}``) at ``rate`` Hz (default: the
        connection's ``rate``) and deliver each :class:`Sample` — value with its device timestamp —
        to an iterator (``for s in dev.watch(...)``; ``async for`` works too) or, with ``callback``,
        to ``callback(sample)`` on the sampling thread (keep it quick; :meth:`Watcher.wait` blocks
        until it ends). Ends after ``duration`` seconds or ``count`` samples when given, or when
        closed. ``stall_timeout``: seconds without any sample before the iterator raises, saying why
        (None: wait for ever). ``Watcher.loss()`` counts what did not arrive."""
        if duration is not None and not duration > 0:
            raise ApiError(f"duration={duration!r} is not a number of seconds above 0.")
        if count is not None and count < 1:
            raise ApiError(f"count={count!r}: ask for 1 sample or more.")
        watches = self._acquire(exprs, rate)
        try:
            return Watcher(self, watches, duration=duration, count=count, callback=callback, buffer=buffer,
                           stall_timeout=stall_timeout)
        except BaseException:
            self._release(watches)
            raise

    def wait_until(self, expr: str, predicate: Predicate | object, timeout: float, *,
                   rate: float | None = None) -> Sample:
        """Watch ``expr`` until ``predicate(value)`` is true (or the value equals ``predicate`` when it
        is not callable) and return that sample; :class:`WaitTimeout` after ``timeout`` seconds."""
        check = _predicate(predicate)
        samples = 0
        last: Sample | None = None
        with self.watch(expr, self._check_rate(rate), duration=timeout, stall_timeout=None) as w:
            for s in w:
                samples += 1
                last = s
                if check(s.value):
                    return s
        self._check_open()
        seen = f"the last value was {last.value!r} at {last.target_time:.3f} s" if last is not None \
            else "no sample arrived"
        raise WaitTimeout(f"{expr} did not satisfy {_describe(predicate)} within {timeout:g} s ({samples} samples; "
                          f"{seen}).", last.value if last is not None else None, samples)

    async def wait_until_async(self, expr: str, predicate: Predicate | object, timeout: float, *,
                               rate: float | None = None) -> Sample:
        return await asyncio.to_thread(self.wait_until, expr, predicate, timeout, rate=rate)

    def _check_rate(self, rate: float | None) -> float:
        limit = float(self.info.tick_hz or 1000)
        return rate if rate is not None else min(DEFAULT_WAIT_RATE, limit)

    def record(self, exprs: Exprs, duration: float, *, rate: float | None = None, path: str | None = None,
               table: TableKind = "auto", session_id: str | None = None, format: str | None = None) -> Recording:
        """Record ``exprs`` at ``rate`` Hz (default 100, as ``firmwatch record``) for ``duration``
        seconds through the session's recorder, and return the :class:`Recording`: its ``table``
        (a pandas or polars DataFrame when installed, else a list of rows; ``table=`` chooses), the
        file (``path``, or a temporary file removed once read; its extension or ``format`` chooses
        CSV, Parquet or VCD, as ``firmwatch record -o``), and the ``loss`` figures."""
        if not duration > 0:
            raise ApiError(f"duration={duration!r} is not a number of seconds above 0.")
        kind = table_kind(table)  # a missing library fails before the recording, not after
        watches = self._acquire(exprs, rate if rate is not None else DEFAULT_RECORD_RATE)
        keep = path is not None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="firmwatch-", suffix=".csv")
            os.close(fd)
        try:
            missing0 = {w.id: w.stats.missing for w in watches}
            link0 = self.target.stats(refresh_device=True)  # the device's own drop count, before and after
            rec = self.session.start_recording(path, session_id, format)
            t0 = time.monotonic()
            try:
                end = t0 + duration
                while (left := end - time.monotonic()) > 0:
                    time.sleep(min(0.1, left))
                    self._check_open()
            finally:
                self.session.stop_recording()
            elapsed = time.monotonic() - t0
            st = self.target.stats(refresh_device=True)
            lost, corrupt, dropped = link_delta(st, link0)
            loss = Loss({w.text: w.stats.missing - missing0[w.id] for w in watches}, lost, corrupt, dropped, 0)
            rates = {w.text: w.stats.rate() for w in watches}
            rows = list(read_rows(path))
            return Recording(build_table(rows, kind), path if keep else "", rec.session_id, rec.rows, elapsed, loss,
                             rates, st.halted_fraction, rows)
        finally:
            self._release(watches)
            if not keep:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    # -- symbols ----------------------------------------------------------------------------------------
    def symbols(self, pattern: str | None = None) -> list[SymbolInfo]:
        """The ELF's globals and statics (``pattern``: a shell glob such as ``'accel*'``), by address."""
        return symbol_list(self.program, pattern)

    def search(self, text: str, limit: int = 50) -> list[SymbolInfo]:
        """Variables whose name contains ``text`` (case-insensitive), best matches first."""
        return symbol_search(self.program, text, limit)

    def ptype(self, expr: str) -> TypeInfo:
        """Type, size, address and member layout of an expression, as ``firmwatch ptype``."""
        return type_info(self.program, expr)

    # -- the engines ------------------------------------------------------------------------------------
    def memory_health(self, threshold: int | None = None) -> MemoryHealth:
        """One refresh of the memory health engine (``firmwatch memory``): stack pointer, painted
        high-water mark, heap, the free gap and the collision margin, each figure with its source,
        and warnings under ``threshold`` bytes of margin."""
        from firmwatch.session.memory_health import DEFAULT_THRESHOLD, MemoryMonitor

        self._check_open()
        want = DEFAULT_THRESHOLD if threshold is None else threshold
        if self._memory is None or self._memory.threshold != want:
            self._memory = MemoryMonitor(self.program, self.target, threshold=want, regions=self.info.regions)
        return self._memory.refresh()

    def capture(self, exprs: str | Sequence[str], trigger: str | None = None, *, samples: int | None = None,
                pre: str | int | float = "10%", rate: float | None = None, where: str = "auto",
                timeout: float | None = None) -> Any:
        """A triggered capture (``firmwatch capture``, docs/capture.md): the samples of ``exprs``
        around the moment ``trigger`` held (``"accel_x rising 500"``; None: at once), on the device
        when its firmware has the capture module, else on the host. Returns the
        :class:`firmwatch.capture.result.CaptureResult` (``channels``, ``times`` from the trigger,
        ``values``, ``trigger_index``, ``rate_hz`` achieved, ``write_csv(path)``)."""
        from firmwatch.capture.engine import CaptureEngine, CaptureRequest

        self._check_open()
        engine = CaptureEngine(self.program, self.target, compile=self.session.compile)
        engine.start(CaptureRequest([exprs] if isinstance(exprs, str) else list(exprs), trigger, samples, pre, rate,
                                    "single", where, timeout))
        try:
            result = engine.wait(None)
        finally:
            engine.stop()
        if result is None:
            raise ApiError(engine.error or "the capture ended without a result.")
        return result

    def set_deadband(self, expr: str, deadband: float | None) -> None:
        """Change-only streaming of ``expr`` (docs/capture.md): the device sends it only when it moved
        by more than ``deadband`` (None: every sample again)."""
        self._check_open()
        w = self.session.find_watch(expr) or self.session.add_watch(expr)
        self.session.set_deadband(w.id, deadband)

    def rtos(self) -> RtosSnapshot:
        """One snapshot of the FreeRTOS kernel (``firmwatch rtos``): tasks with state, priorities, stack
        figures and CPU shares, queues and timers."""
        from firmwatch.rtos.monitor import RtosMonitor

        self._check_open()
        if self._rtos is None:
            self._rtos = RtosMonitor(self.program, self.target)
        return self._rtos.refresh()

    def profile(self, duration: float, *, mode: str = "auto", rate_hz: float = 1000.0, method: str = "auto",
                allow_mismatch: bool = False) -> Profile:
        """Where the firmware's time goes over ``duration`` seconds (``firmwatch profile``, docs/profiler.md):
        ``sampled`` — the program counter sampled through a GDB server (transport rsp or gdb; ``method``
        auto | live | dwt | halt), ``instrumented`` — every call reported by firmware built with
        firmware/profiler over the streamer's line; ``auto`` picks by transport. Returns the
        :class:`firmwatch.profiler.report.Profile` (``top(n)``, ``functions``, ``lines``, ``tree``)."""
        from firmwatch.profiler.run import MODES, profile_run

        self._check_open()
        if not duration > 0:
            raise ApiError(f"duration={duration!r} is not a number of seconds above 0.")
        if mode not in MODES:
            raise ApiError(f"profile mode '{mode}' is unknown: use auto, instrumented or sampled.")
        # as the debug adapter's profile view: instrumented over the streamer's own line, else sampled
        run = profile_run(self.program, self.target, self.transport, mode=mode, strict=not allow_mismatch,
                          rate_hz=rate_hz, method=method)
        run.start()
        try:
            end = time.monotonic() + duration
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(0.1, left))
                self._check_open()
        except BaseException:
            with contextlib.suppress(Exception):
                run.stop()
            raise
        result: Profile = run.stop()
        return result

    def attach_svd(self, path: str | os.PathLike[str]) -> Any:
        """Peripheral registers from a CMSIS-SVD file (needs ``firmwatch[svd]``): afterwards
        ``read('GPIOA.ODR')`` and ``write('USART1.CR1.UE', 1)`` work; returns the peripheral view
        (``refresh(names)`` reads whole peripherals)."""
        from firmwatch.api.errors import require_extra

        require_extra("cmsis_svd", "svd", "reading an SVD file")
        from firmwatch.peripherals.svd import load_svd

        dev = load_svd(path)
        for w in dev.warnings:
            log.warning("%s: %s", path, w)
        return self.session.attach_svd(dev)

    # -- assertions for tests (firmwatch.testing and the pytest plugin) ---------------------------------
    def assert_stays(self, expr: str, within: tuple[float, float], for_s: float, *, rate: float | None = None,
                     allow_loss: int = 0) -> Trace:
        """Fail (AssertionError, with the observed trace) unless every sample of ``expr`` for ``for_s``
        seconds lies within ``(lo, hi)`` inclusive and no more than ``allow_loss`` samples were lost."""
        return assert_stays(self, expr, within, for_s, rate=rate, allow_loss=allow_loss)

    def assert_reaches(self, expr: str, predicate: Predicate | object, within_s: float, *,
                       rate: float | None = None) -> Trace:
        """Fail (AssertionError, with the observed trace) unless ``predicate(value)`` becomes true (or the
        value equals ``predicate``) within ``within_s`` seconds."""
        return assert_reaches(self, expr, predicate, within_s, rate=rate)


def _c_string(text: str) -> str:
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= o < 127:
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
    out.append('"')
    return "".join(out)


# -- symbols and types (also used by the MCP server without a device) ---------------------------------
def _symbol_info(program: Program, v: Any) -> SymbolInfo:
    return SymbolInfo(v.qualified, v.address, v.size,
                      program.types.name(v.type) if v.type is not None else f"<{v.size or '?'} raw bytes>",
                      v.section, v.file, v.line)


def symbol_list(program: Program, pattern: str | None = None) -> list[SymbolInfo]:
    vs = program.variables_matching(pattern) if pattern else list(program.variables)
    vs.sort(key=lambda v: (-1 if v.address is None else v.address, v.qualified))
    return [_symbol_info(program, v) for v in vs]


def symbol_search(program: Program, text: str, limit: int = 50) -> list[SymbolInfo]:
    needle = text.strip().lower()
    if not needle:
        raise ApiError("the search text is empty; give part of a variable's name.")
    hits = []
    for v in program.variables:
        name = v.qualified.lower()
        plain = v.name.lower()
        if needle in name:
            rank = 0 if plain == needle else 1 if plain.startswith(needle) else 2
            hits.append((rank, len(name), v.qualified, v))
    hits.sort(key=lambda h: h[:3])
    return [_symbol_info(program, h[3]) for h in hits[:max(1, limit)]]


def type_info(program: Program, expr: str) -> TypeInfo:
    from firmwatch.symbols.expr import compile_expression
    from firmwatch.symbols.layout import layout, render
    from firmwatch.symbols.types import UnsupportedType

    ce = compile_expression(program, expr)
    types, tid = ce.types, ce.type
    raw = tid is None or isinstance(types.resolved(tid), UnsupportedType)
    if raw:
        name = f"<{ce.size if ce.size is not None else '?'} raw bytes>"
        return TypeInfo(expr, name, ce.size, ce.address, [], f"type = {name}")
    expand = program.language != "rust"
    rows = layout(types, tid, expand_nested=expand)

    def nest(i: int, depth: int) -> tuple[list[dict[str, Any]], int]:
        out: list[dict[str, Any]] = []
        while i < len(rows) and rows[i].depth >= depth:
            r = rows[i]
            d: dict[str, Any] = dict(r.as_json())
            i += 1
            if r.expanded:
                d["members"], i = nest(i, depth + 1)
            out.append(d)
        return out, i

    members, _ = nest(0, 0)
    return TypeInfo(expr, types.name(tid), ce.size, ce.address, members,
                    render(types, tid, address=ce.address, expand_nested=expand))
