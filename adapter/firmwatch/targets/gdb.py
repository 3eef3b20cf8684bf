"""Full debugging through gdb (pygdbmi, MI async) plus live sampling at RSP speed.

    with GdbTarget("demo.elf", server="localhost:1234") as t:
        t.on_stop(lambda ev: print(ev.reason, ev.frame))
        bp = t.add_line_breakpoint("demo.c", 120)
        t.wait_stop(5)                       # or react in on_stop
        print(t.stack(), t.variables(0))
        t.step_over(wait=5)
        t.cont()
        t.on_sample(print); t.start_stream([Region(addr, 4)], 50)   # live watches while running

How it fits together: firmwatch holds the one connection to the GDB server
(:class:`~firmwatch.targets.gdb_bridge.SharedRsp`, an :class:`RspTarget`) and gdb connects
to a local bridge in front of it (:mod:`gdb_bridge`). gdb gets breakpoints, stepping,
stack, locals and registers as usual; live sampling uses the RSP sampler and its policy on
the same link — reads while running where the server allows (simavr; OpenOCD and friends on
Cortex-M), otherwise halt → read the batch → resume under the intrusion budget — and gdb
never sees those halts, so the user-visible stop state is only ever gdb's own. That works
with servers that take a single client (QEMU) and costs no gdb stop per sample.

Log points are breakpoints whose command list prints (``echo`` for text, ``output`` for each
``{expression}``) and continues; their stops are not reported as user stops.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from firmwatch.targets.base import (
    LinkStats,
    Region,
    SampleCallback,
    Target,
    TargetError,
    TargetInfo,
    TargetLost,
)
from firmwatch.targets.gdb_bridge import GdbBridge, SharedRsp
from firmwatch.targets.gdb_control import GdbControl
from firmwatch.targets.gdb_mi import GDB_FOR_MACHINE, MiError, MiSession, Record, find_gdb, mi_quote
from firmwatch.targets.gdb_types import Breakpoint, Frame, Register, StopEvent, Thread, Variable
from firmwatch.targets.gdbserver import GdbServer, free_port
from firmwatch.targets.rsp import parse_address

__all__ = ["GdbTarget", "Breakpoint", "Frame", "Register", "StopEvent", "Thread", "Variable", "elf_machine"]

_EM = {40: "ARM", 83: "AVR", 243: "RISC-V", 183: "AArch64", 94: "Xtensa", 3: "x86", 62: "x86-64", 105: "MSP430"}
CAPABILITIES = frozenset(
    {"read", "read-batch", "write", "stream", "halt", "step", "breakpoints", "watchpoints", "registers", "stack",
     "threads"}
)
_WATCH_FLAGS = {"write": "", "read": "-r ", "access": "-a "}
_WATCH_KINDS = {"write": "watchpoint", "read": "read watchpoint", "access": "access watchpoint"}
_LOG_EXPR = re.compile(r"\{([^{}]+)\}")


def elf_machine(elf: str | os.PathLike[str]) -> str:
    """The ELF's machine ("ARM", "AVR", "RISC-V", ...) from its header alone."""
    try:
        with open(elf, "rb") as f:
            head = f.read(20)
    except FileNotFoundError:
        raise TargetError(f"the ELF {elf} does not exist: build the firmware or check the path.") from None
    except OSError as e:
        raise TargetError(f"the ELF {elf} cannot be read ({e.strerror}); check its permissions.") from None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise TargetError(f"{elf} is not an ELF file: give the firmware's .elf (with debug information).")
    order = "little" if head[5] == 1 else "big"
    number = int.from_bytes(head[18:20], order)
    return _EM.get(number, f"machine {number}")


def _int(text: Any, default: int | None = None) -> int | None:
    try:
        return int(str(text), 0)
    except (TypeError, ValueError):
        return default


def _frame(rec: dict[str, Any] | None, thread_id: int | None = None) -> Frame | None:
    if not rec:
        return None
    return Frame(
        id=_int(rec.get("level"), 0) or 0,
        function=rec.get("func"),
        file=rec.get("fullname") or rec.get("file"),
        line=_int(rec.get("line")),
        address=_int(rec.get("addr"), 0) or 0,
        thread_id=thread_id,
    )


class GdbTarget(Target):
    """A GDB server debugged through gdb, with live sampling; see the module docstring."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        elf: str | os.PathLike[str],
        server: str | tuple[str, int] | None = None,
        *,
        gdb_path: str | None = None,
        server_command: Sequence[str] | str | None = None,
        budget: float | None = 0.01,
        mode: str = "auto",
        lock: tuple[int, int] | None = None,
        run: bool = True,
        timeout: float = 10.0,
        server_timeout: float = 2.0,
        on_link: Callable[[str, str], None] | None = None,
    ):
        """Start gdb on ``elf`` and connect it to ``server`` ("host:port").

        ``gdb_path``: the gdb to use (default: avr-gdb for AVR ELFs, gdb-multiarch otherwise).
        ``server_command``: start the server first (``targets.gdbserver``), e.g. a QEMU
        command line listening on ``server``'s port; it is stopped by :meth:`close`.
        ``budget``, ``mode``, ``lock``: the live sampling policy (see :class:`RspTarget`).
        ``run``: leave the target running after connecting (else halted, as gdb found it).
        ``timeout``: the longest wait for gdb; ``server_timeout`` for the server's replies.
        ``on_link``: see :meth:`on_link`.
        """
        self.elf = Path(elf).resolve()
        self.machine = elf_machine(self.elf)
        self.gdb_exe = find_gdb(self.machine, gdb_path)
        self.timeout = timeout
        self._server_proc: GdbServer | None = None
        self._stop_cbs: list[Callable[[StopEvent], None]] = []
        self._running_cbs: list[Callable[[], None]] = []
        self._exit_cbs: list[Callable[[str], None]] = []
        self._output_cbs: list[Callable[[str, str], None]] = []
        self._cond = threading.Condition()
        self._running = False
        self._stops = 0  # count of user-visible stops (waiters compare against it)
        self._last_stop: StopEvent | None = None
        self._exited: str | None = None
        self._logpoints: set[int] = set()
        self._closing = False
        # internal pauses (gdb refuses breakpoint changes while the target runs): their
        # *stopped and *running records are not the user's
        self._pause_lock = threading.Lock()
        self._hide_stop = False
        self._hidden_stop = threading.Event()
        self._hide_running = 0
        self._void_interrupts = 0  # interrupts re-sent by an internal pause that may still stop
        self._user_pause = False
        self._register_names: list[str] | None = None
        self._threads: list[Thread] = []
        self.rsp: SharedRsp | None = None
        self.bridge: GdbBridge | None = None
        self.mi: MiSession | None = None
        self._control: GdbControl | None = None

        if server_command is not None:
            if server is None:
                server = f"127.0.0.1:{free_port()}"
            host, port = parse_address(server)
            self._server_proc = GdbServer(server_command, port, host).start()
        if server is None:
            raise TargetError("no GDB server given: pass server='host:port' (or a server_command to start one).")
        host, port = parse_address(server)
        self.where = f"{host}:{port}"
        try:
            self.rsp = SharedRsp(server, expect_arch=self.machine, mode=mode, budget=budget, lock=lock,
                                 run=False, timeout=server_timeout, on_link=on_link)
            self.bridge = GdbBridge(self.rsp)
            self.mi = MiSession(self.gdb_exe, timeout=timeout)
            self.mi.add_listener(self._on_record)
            self._mi("-file-exec-and-symbols " + mi_quote(str(self.elf)), what="loading the ELF")
            self._connect_gdb(self.bridge.address)
            if run:
                self.cont()
        except BaseException:
            self.close()
            raise

    def _connect_gdb(self, address: str) -> None:
        assert self.mi is not None
        try:
            try:
                self.mi.cmd(f"-target-select extended-remote {address}", timeout=self.timeout)
            except MiError:
                # a server without extended mode: the plain remote protocol does everything we use
                self.mi.cmd(f"-target-select remote {address}", timeout=self.timeout)
        except MiError as e:
            # the server already passed the architecture check, so this gdb is the wrong one
            name, package = GDB_FOR_MACHINE.get(self.machine, ("gdb-multiarch", "gdb-multiarch"))
            raise TargetError(
                f"{os.path.basename(self.gdb_exe)} could not debug this {self.machine} target "
                f"({e.gdb_message.strip().rstrip('.')}): use {name} (Debian package {package}) or a gdb "
                f"built for {self.machine}."
            ) from None
        self._running = False

    # -- events ----------------------------------------------------------------------------------
    def on_stop(self, callback: Callable[[StopEvent], None]) -> None:
        """``callback(StopEvent)`` when the target stops for the user (never for sampling).

        All event callbacks run on gdb's reader thread: they must not wait for a gdb command
        (its answer would arrive on that very thread); hand such work to another thread.
        """
        self._stop_cbs.append(callback)

    def on_running(self, callback: Callable[[], None]) -> None:
        self._running_cbs.append(callback)

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """``callback(sentence)`` when the program ends or the server or gdb is lost."""
        self._exit_cbs.append(callback)

    def on_output(self, callback: Callable[[str, str], None]) -> None:
        """``callback(kind, text)``: kind "console" (gdb's CLI output, log points), "target", "log"."""
        self._output_cbs.append(callback)

    def _emit(self, cbs: list[Callable[..., None]], *args: Any) -> None:
        for cb in list(cbs):
            with contextlib.suppress(Exception):  # a front end's bug must not stop the reader
                cb(*args)

    def _on_record(self, rec: Record) -> None:
        kind, msg = rec.get("type"), rec.get("message")
        payload = rec.get("payload") or {}
        if kind == "notify" and msg == "running":
            with self._cond:
                if self._hide_running:
                    self._hide_running -= 1
                    return
            self._set_running()
        elif kind == "notify" and msg == "stopped":
            self._stopped(payload)
        elif kind == "notify" and msg == "thread-group-exited":
            code = payload.get("exit-code")
            self._ended(self._lost_sentence()
                        or f"the program exited{' with status ' + str(_int(code, 0)) if code else ''}.")
        elif kind in ("console", "target", "log") and isinstance(payload, str):
            # gdb's report of an internal pause ("Program received signal SIGINT") is not news
            if not (self._hide_stop or self._closing):
                self._emit(self._output_cbs, kind, payload)
        elif kind == "gdb-exit":
            self._ended(self._lost_sentence() or "gdb exited: restart the debug session.")

    def _set_running(self) -> None:
        with self._cond:
            was, self._running = self._running, True
            self._cond.notify_all()
        if not was:
            self._emit(self._running_cbs)

    def _stopped(self, p: dict[str, Any]) -> None:
        lost = self._lost_sentence()
        if lost:  # gdb's view of a vanished connection is not a stop: the session has ended
            with self._cond:
                self._running = False
                self._cond.notify_all()
            self._hidden_stop.set()
            self._ended(lost)
            return
        thread = _int(p.get("thread-id"))
        bkpt = _int(p.get("bkptno"))
        reason = str(p.get("reason") or "signal-received")
        if (bkpt is not None and bkpt in self._logpoints) or (not p and self._logpoints):
            # a log point: its commands print and continue. (Its `silent` makes gdb report the
            # stop with no details at all; only log points use `silent`.) Not a user stop, and
            # the resume that follows is not news either.
            with self._cond:
                self._hide_running += 1
            return
        if self._hide_stop and reason == "signal-received":
            self._hide_stop = False
            self._hidden_stop.set()
            return
        if reason == "signal-received" and self._void_interrupts and not self._user_pause:
            # the late stop of an internal pause we had given up on: resume, unseen
            self._void_interrupts -= 1
            with self._cond:
                self._hide_running += 1
            with contextlib.suppress(TargetError):
                if self.mi is not None:
                    self.mi.send("-exec-continue", track=False)
            return
        self._user_pause = False
        self._void_interrupts = 0
        details = {k: str(v) for k, v in p.items() if isinstance(v, str) and k not in ("reason", "thread-id")}
        for key in ("wpt", "hw-awpt", "hw-rwpt", "value"):
            if isinstance(p.get(key), dict):
                details.update({f"{key}.{k}": str(v) for k, v in p[key].items()})
        event = StopEvent(
            reason=reason,
            thread_id=thread,
            frame=_frame(p.get("frame"), thread),
            hit_breakpoints=(bkpt,) if bkpt is not None else (),
            signal=p.get("signal-name"),
            details=details,
        )
        with self._cond:
            self._running = False
            self._stops += 1
            self._last_stop = event
            self._cond.notify_all()
        if self._hide_stop:  # a real stop won the race with our internal pause
            self._hide_stop = False
            self._hidden_stop.set()
        self._emit(self._stop_cbs, event)
        if reason.startswith("exited"):
            self._ended(f"the program exited{' with status ' + details['exit-code'] if 'exit-code' in details else ''}.")

    def _ended(self, sentence: str) -> None:
        with self._cond:
            if self._exited is not None or self._closing:
                return
            self._exited = sentence
            self._running = False
            self._cond.notify_all()
        self._emit(self._exit_cbs, sentence)

    def _lost_sentence(self) -> str | None:
        if self.rsp is not None and self.rsp.link.is_lost:
            try:
                self.rsp.link.check()
            except TargetLost as e:
                return str(e)
        return None

    # -- MI with our error policy ------------------------------------------------------------------
    def _mi(self, command: str, timeout: float | None = None, what: str = "doing that") -> Record:
        if self.mi is None:
            raise TargetError("the gdb session is closed; connect again.")
        lost = self._lost_sentence()
        if lost:
            raise TargetLost(lost)
        try:
            return self.mi.cmd(command, timeout=timeout, what=what)
        except TargetError as e:
            # after the server is gone gdb says odd things ("The program is not being run"): the
            # link's sentence says what really happened
            lost = self._lost_sentence()
            if lost:
                raise TargetLost(lost) from None
            raise e from None

    def mi_command(self, command: str, what: str = "doing that") -> Record:
        """Any MI command (``-var-create ...``), with this target's error policy: gdb's errors as
        sentences (``what`` names the action in them), a lost server as :class:`TargetLost`."""
        return self._mi(command, what=what)

    def mi_command_stopped(self, command: str, what: str = "doing that") -> Record:
        """An MI command that needs the target stopped (breakpoint changes): when it runs, it is
        paused and resumed around the command without the front end seeing a stop."""
        return self._stopped_mi(command, what)

    def on_link(self, callback: Callable[[str, str], None]) -> None:
        """``callback("lost" | "error", sentence)`` from the sampler, as RspTarget's."""
        self._link().on_link(callback)

    @property
    def server(self) -> GdbServer | None:
        """The server process this target started (``server_command``), else None."""
        return self._server_proc

    @property
    def running(self) -> bool:
        """True while gdb (and so the user) sees the target running."""
        return self._running

    @property
    def last_stop(self) -> StopEvent | None:
        return self._last_stop

    @property
    def exited(self) -> str | None:
        """Why the session ended (the program exited, the server or gdb is gone), or None."""
        return self._exited

    def control(self) -> GdbControl:
        if self._control is None:
            self._control = GdbControl(self)
        return self._control

    def wait_stop(self, timeout: float) -> StopEvent | None:
        """Wait until the target is stopped for the user; its latest StopEvent, or None on
        timeout. Raises :class:`TargetLost` when the server or gdb is gone."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running and self._exited is None and not self._lost_sentence():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))
        lost = self._lost_sentence()
        if lost:
            raise TargetLost(lost)
        return self._last_stop

    def _await_next_stop(self, seen: int, timeout: float | None) -> StopEvent | None:
        if timeout is None:
            return None
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._stops == seen and self._exited is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self._lost_sentence():
                    break
                self._cond.wait(min(left, 0.1))
        lost = self._lost_sentence()
        if lost:
            raise TargetLost(lost)
        return self._last_stop

    def _resume(self, command: str, thread_id: int | None, wait: float | None, what: str) -> StopEvent | None:
        seen = self._stops
        opt = f" --thread {thread_id}" if thread_id is not None else ""
        self._mi(command + opt, what=what)
        self._set_running()  # ^running: gdb's *running record may come a moment later
        return self._await_next_stop(seen, wait)

    @contextlib.contextmanager
    def _stopped_for(self, what: str) -> Iterator[None]:
        """Run the body with gdb's target stopped: paused and resumed unseen if it was running.

        gdb (all-stop) refuses breakpoint changes while the target runs; a front end sets
        them whenever the user clicks. A real stop that races the pause stays a user stop.
        """
        with self._pause_lock:
            if not self._running:
                yield
                return
            self._hidden_stop.clear()
            self._hide_stop = True
            seen = self._stops
            try:
                deadline = time.monotonic() + self.timeout
                sent = False
                while self._running and not self._hidden_stop.is_set() and time.monotonic() < deadline:
                    # an interrupt that lands while a log point has gdb stopped for its commands
                    # is void (gdb then continues): ask again until the stop is ours
                    if sent:
                        self._void_interrupts += 1  # if it was not void after all: see _stopped
                    with contextlib.suppress(MiError):
                        self._mi("-exec-interrupt", what=what)
                    sent = True
                    retry = min(deadline, time.monotonic() + 1.0)
                    while not self._hidden_stop.wait(0.02) and self._running:
                        if time.monotonic() > retry or self._lost_sentence():
                            break
                    if self._lost_sentence():
                        break
                if self._running and not self._hidden_stop.is_set():
                    raise TargetLost(self._lost_sentence() or
                                     f"the target did not stop within {self.timeout:g} s for {what}: "
                                     "the GDB server may be hung; restart it and reconnect.")
            finally:
                self._hide_stop = False
            real_stop = self._stops != seen
            try:
                yield
            finally:
                if not real_stop:
                    with self._cond:
                        self._hide_running += 1
                    try:
                        self._mi("-exec-continue", what=what)
                    except TargetError as e:
                        with self._cond:
                            self._hide_running = max(0, self._hide_running - 1)
                        if not _says_running(e):  # else a log point's continue resumed it already
                            raise

    def _stopped_mi(self, command: str, what: str) -> Record:
        """An MI command that needs gdb's target stopped, run from any state."""
        for attempt in range(3):
            with self._stopped_for(what):
                try:
                    return self._mi(command, what=what)
                except MiError as e:
                    # a log point hit raced the pause and its `continue` resumed the target
                    if attempt == 2 or not _says_running(e):
                        raise
        raise AssertionError("unreachable")

    # -- execution control -----------------------------------------------------------------------
    def cont(self, thread_id: int | None = None) -> None:
        """Continue (all threads: the server runs all-stop)."""
        if self._running:
            return
        self._resume("-exec-continue", thread_id, None, "continuing")

    def pause(self, wait: float | None = 5.0) -> StopEvent | None:
        """Interrupt the target; with ``wait``, return the resulting stop."""
        if not self._running:
            return self._last_stop
        seen = self._stops
        self._user_pause = True
        self._mi("-exec-interrupt", what="pausing")
        return self._await_next_stop(seen, wait)

    def step_in(self, thread_id: int | None = None, wait: float | None = None) -> StopEvent | None:
        """Step one source line, into calls (gdb ``step``)."""
        return self._resume("-exec-step", thread_id, wait, "stepping")

    def step_over(self, thread_id: int | None = None, wait: float | None = None) -> StopEvent | None:
        """Step one source line, over calls (gdb ``next``)."""
        return self._resume("-exec-next", thread_id, wait, "stepping")

    def step_out(self, thread_id: int | None = None, wait: float | None = None) -> StopEvent | None:
        """Run until the current function returns (gdb ``finish``)."""
        return self._resume("-exec-finish", thread_id, wait, "stepping out")

    def step_instruction(self, thread_id: int | None = None, wait: float | None = None,
                         over_calls: bool = False) -> StopEvent | None:
        """One machine instruction (``stepi``; ``nexti`` with ``over_calls``)."""
        cmd = "-exec-next-instruction" if over_calls else "-exec-step-instruction"
        return self._resume(cmd, thread_id, wait, "stepping")

    # Target-style names, so code written against RspTarget reads the same
    def halt(self) -> StopEvent | None:
        return self.pause()

    def resume(self) -> None:
        self.cont()

    def step(self) -> StopEvent | None:
        return self.step_instruction(wait=self.timeout)

    # -- breakpoints -----------------------------------------------------------------------------
    def _insert(self, location: str, condition: str | None, ignore_count: int, hardware: bool,
                temporary: bool, enabled: bool = True) -> Record:
        opts = "" if enabled else "-d "
        if condition:
            opts += f"-c {mi_quote(condition)} "
        if ignore_count:
            opts += f"-i {int(ignore_count)} "
        if hardware:
            opts += "-h "
        if temporary:
            opts += "-t "
        rec = self._stopped_mi(f"-break-insert {opts}{mi_quote(location)}", what="setting a breakpoint")
        return rec["payload"]["bkpt"]

    @staticmethod
    def _bp(b: dict[str, Any], kind: str = "breakpoint") -> Breakpoint:
        loc = b
        if isinstance(b.get("locations"), list) and b["locations"]:
            loc = b["locations"][0]  # a location with several addresses (inlined): the first
        return Breakpoint(
            id=_int(b.get("number")),
            verified=True,
            line=_int(loc.get("line")),
            file=loc.get("fullname") or loc.get("file"),
            address=_int(loc.get("addr")),
            function=loc.get("func"),
            kind=kind,
        )

    def add_breakpoint(self, location: str, *, condition: str | None = None, ignore_count: int = 0,
                       hardware: bool = False, temporary: bool = False, enabled: bool = True) -> Breakpoint:
        """A breakpoint at any gdb location: ``file.c:42``, ``function``, ``*0x8000120``.

        ``condition``: a C expression; the target stops only when it is true.
        ``ignore_count``: pass the first N hits (DAP's hit count N is ``ignore_count=N-1``).
        ``enabled=False``: inserted disabled (``-break-enable`` arms it).
        A line with no code gives an unverified Breakpoint whose ``message`` says so.
        """
        m = re.fullmatch(r"(.+):(\d+)", location)
        if m and not location.startswith("*"):
            # asked before inserting: a breakpoint that gdb moved to the next line with code
            # could be hit (and stop the target) before we took it out again
            try:
                where = self.console(f"info line {location}")
            except MiError as e:
                return Breakpoint(None, False, int(m.group(2)), str(e))
            if "contains no code" in where or "out of range" in where:
                return Breakpoint(None, False, int(m.group(2)),
                                  f"no code at {m.group(1)}:{m.group(2)}; choose a line with a statement.",
                                  file=m.group(1))
        try:
            b = self._insert(location, condition, ignore_count, hardware, temporary, enabled)
        except MiError as e:
            return Breakpoint(None, False, int(m.group(2)) if m else None, str(e))
        bp = self._bp(b)
        if m and not location.startswith("*") and bp.line is not None and bp.line != int(m.group(2)):
            # gdb moved it to the next line with code; a front end would show it somewhere else
            self._stopped_mi(f"-break-delete {bp.id}", what="removing a breakpoint")
            return Breakpoint(None, False, int(m.group(2)),
                              f"no code at {m.group(1)}:{m.group(2)}; choose a line with a statement.",
                              file=m.group(1))
        return bp

    def add_line_breakpoint(self, file: str, line: int, **kw: Any) -> Breakpoint:
        return self.add_breakpoint(f"{file}:{line}", **kw)

    def add_function_breakpoint(self, function: str, **kw: Any) -> Breakpoint:
        return self.add_breakpoint(function, **kw)

    def add_logpoint(self, location: str, message: str, *, condition: str | None = None) -> Breakpoint:
        """Print ``message`` (``{expression}`` parts evaluated) when reached, and carry on.

        Implemented as a breakpoint whose commands ``echo`` the text, ``output`` each
        expression and ``continue``; its stops are not reported. The text arrives through
        :meth:`on_output` as "console" output.
        """
        # inserted disabled and armed once its commands are attached: a hit in between (the
        # target runs between our pauses) would be a plain stop gdb holds, while we took it for a
        # log point about to continue — and every later pause then waited for a stop in vain
        b = self.add_breakpoint(location, condition=condition, enabled=False)
        if not b.verified or b.id is None:
            return b
        cmds = ["silent"]
        pos = 0
        for m in _LOG_EXPR.finditer(message):
            if m.start() > pos:
                cmds.append("echo " + _echo_escape(message[pos : m.start()]))
            cmds.append("output " + m.group(1).strip())
            pos = m.end()
        cmds.append("echo " + _echo_escape(message[pos:]) + "\\n")
        cmds.append("continue")
        self._logpoints.add(b.id)
        self._stopped_mi(f"-break-commands {b.id} " + " ".join(mi_quote(c) for c in cmds), what="setting a log point")
        self._stopped_mi(f"-break-enable {b.id}", what="setting a log point")
        return Breakpoint(b.id, True, b.line, None, b.file, b.address, b.function, kind="logpoint")

    def add_watchpoint(self, expression: str, access: str = "write") -> Breakpoint:
        """A data breakpoint: stop when ``expression`` (e.g. ``g_config.calib.gain_q8``) is
        written ("write"), read ("read") or either ("access")."""
        if access not in _WATCH_FLAGS:
            raise TargetError(f"watchpoint access '{access}' is unknown; use write, read or access.")
        try:
            rec = self._stopped_mi(f"-break-watch {_WATCH_FLAGS[access]}{mi_quote(expression)}",
                                   what="setting a watchpoint")
        except MiError as e:
            return Breakpoint(None, False, None, str(e), kind=_WATCH_KINDS[access])
        p = rec["payload"]
        w = p.get("wpt") or p.get("hw-rwpt") or p.get("hw-awpt") or {}
        return Breakpoint(_int(w.get("number")), True, None, None, kind=_WATCH_KINDS[access], function=expression)

    def remove_breakpoint(self, number: int) -> None:
        """Remove a breakpoint, log point or watchpoint by its id."""
        self._logpoints.discard(number)
        self._stopped_mi(f"-break-delete {number}", what="removing a breakpoint")

    # -- inspection -------------------------------------------------------------------------------
    def threads(self) -> list[Thread]:
        """The threads gdb knows: one per core, or the RTOS tasks when the server reports them."""
        try:
            rec = self._mi("-thread-info", what="listing threads")
        except MiError:
            if not self._running:
                raise
            # all-stop gdb cannot ask the server while the target runs: the list from the
            # latest stop (threads come and go only at stops gdb sees anyway)
            return [Thread(t.id, t.name, "running") for t in self._threads] or [Thread(1, "CPU", "running")]
        out = []
        for t in rec["payload"].get("threads", []):
            tid = _int(t.get("id"), 0) or 0
            name = t.get("details") or t.get("name") or t.get("target-id") or f"Thread {tid}"
            out.append(Thread(tid, str(name), str(t.get("state", "stopped")), _frame(t.get("frame"), tid)))
        self._threads = out
        return out

    def stack(self, thread_id: int | None = None, levels: int | None = None) -> list[Frame]:
        """The call stack of a stopped thread, innermost first."""
        opt = f" --thread {thread_id}" if thread_id is not None else ""
        limit = f" 0 {levels - 1}" if levels else ""
        rec = self._mi(f"-stack-list-frames{opt}{limit}", what="reading the call stack")
        tid = thread_id if thread_id is not None else self._current_thread()
        return [f for f in (_frame(x, tid) for x in rec["payload"].get("stack", [])) if f is not None]

    def variables(self, frame: int = 0, thread_id: int | None = None) -> list[Variable]:
        """Arguments and locals of one frame, with values and types."""
        opt = f"--thread {thread_id or self._current_thread()} --frame {frame}"
        typed = self._mi(f"-stack-list-variables {opt} --simple-values", what="reading local variables")
        full = self._mi(f"-stack-list-variables {opt} --all-values", what="reading local variables")
        types = {v["name"]: v.get("type") for v in typed["payload"].get("variables", [])}
        return [
            Variable(v["name"], str(v.get("value", "")), types.get(v["name"]), argument=v.get("arg") == "1")
            for v in full["payload"].get("variables", [])
        ]

    def _current_thread(self) -> int:
        if self._last_stop is not None and self._last_stop.thread_id is not None:
            return self._last_stop.thread_id
        return 1

    def evaluate(self, expression: str, frame: int = 0, thread_id: int | None = None) -> str:
        """An expression in a frame's scope, as gdb prints it."""
        opt = f"--thread {thread_id or self._current_thread()} --frame {frame} "
        rec = self._mi(f"-data-evaluate-expression {opt}{mi_quote(expression)}", what=f"evaluating {expression}")
        return str(rec["payload"].get("value", ""))

    def registers(self, frame: int = 0, thread_id: int | None = None) -> list[Register]:
        """Every register gdb can read, in its natural format."""
        if self._register_names is None:
            rec = self._mi("-data-list-register-names", what="reading registers")
            self._register_names = [str(n) for n in rec["payload"].get("register-names", [])]
        opt = f"--thread {thread_id or self._current_thread()} --frame {frame}"
        rec = self._mi(f"-data-list-register-values {opt} --skip-unavailable x", what="reading registers")
        out = []
        for r in rec["payload"].get("register-values", []):
            n = _int(r.get("number"), -1)
            assert n is not None
            name = self._register_names[n] if 0 <= n < len(self._register_names) else f"r{n}"
            if name:
                out.append(Register(name, str(r.get("value", "")), n))
        return out

    def console(self, command: str) -> str:
        """A gdb CLI command (the debug console); returns what it printed."""
        if self.mi is None:
            raise TargetError("the gdb session is closed; connect again.")
        try:
            return self.mi.console(command, timeout=self.timeout)
        except TargetError:
            lost = self._lost_sentence()
            if lost:
                raise TargetLost(lost) from None
            raise

    # -- Target: memory and sampling ---------------------------------------------------------------
    def _link(self) -> SharedRsp:
        if self.rsp is None:
            raise TargetError("the gdb session is closed; connect again.")
        return self.rsp

    def rsp_link(self) -> SharedRsp:
        """The one connection to the server that gdb and the sampler share (its halts are unseen by gdb)."""
        return self._link()

    def info(self) -> TargetInfo:
        inner = self._link().info()
        inner.name = f"{os.path.basename(self.gdb_exe)} on {self.where} ({self.machine}, {self._link().sampling_policy})"
        return inner

    def read(self, address: int, size: int) -> bytes:
        return self._link().read(address, size)

    def read_batch(self, regions: Sequence[Region]) -> list[bytes]:
        return self._link().read_batch(regions)

    def write(self, address: int, data: bytes) -> bytes:
        """Write and read back. While stopped the write goes through gdb, so gdb's own cache
        and the values it shows agree with the target."""
        if not self._running:
            self._mi(f"-data-write-memory-bytes 0x{address:x} {bytes(data).hex() or '00'}", what="writing memory")
            rec = self._mi(f"-data-read-memory-bytes 0x{address:x} {len(data)}", what="reading memory")
            blocks = rec["payload"].get("memory", [])
            return bytes.fromhex("".join(b.get("contents", "") for b in blocks))
        return self._link().write(address, data)

    def start_stream(self, regions: Sequence[Region], rate_hz: float) -> int:
        return self._link().start_stream(regions, rate_hz)

    def stop_stream(self, stream: int | None = None) -> None:
        if self.rsp is not None:
            self.rsp.stop_stream(stream)

    def on_sample(self, callback: SampleCallback) -> None:
        self._link().on_sample(callback)

    def stats(self, refresh_device: bool = False) -> LinkStats:
        return self._link().stats()

    def halted_fraction(self) -> float:
        """Share of time the sampler kept the target halted (user stops are not counted)."""
        return self._link().halted_fraction()

    def set_budget(self, budget: float | None) -> None:
        self._link().set_budget(budget)

    def set_lock(self, address: int | None, size: int = 1) -> None:
        self._link().set_lock(address, size)

    @property
    def sampling_mode(self) -> str:
        return self._link().sampling_mode

    @property
    def error(self) -> TargetError | None:
        """Why the session broke (the server or gdb was lost), or None."""
        lost = self._lost_sentence()
        if lost:
            return TargetLost(lost)
        if self.mi is not None and not self.mi.alive:
            try:
                self.mi.check()
            except TargetError as e:
                return e
        return None

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        """Detach (the target keeps running, breakpoints removed), end gdb, stop a launched server."""
        self._closing = True
        if self.rsp is not None:
            self.rsp.stop_stream()
        if self.mi is not None:
            # gdb's exit sends nothing harmful (the bridge answers D and k itself); the link's
            # own detach below removes every breakpoint and leaves the target running
            self.mi.close()
            self.mi = None
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None
        if self.rsp is not None:
            self.rsp.close()
            self.rsp = None
        if self._server_proc is not None:
            self._server_proc.close()
            self._server_proc: GdbServer | None = None


def _says_running(e: TargetError) -> bool:
    return isinstance(e, MiError) and "is running" in e.gdb_message


def _echo_escape(text: str) -> str:
    """Text for gdb's ``echo`` (backslash escapes; leading/trailing spaces kept)."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n")
    if out.startswith(" "):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out
