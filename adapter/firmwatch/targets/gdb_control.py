"""Execution control through gdb (:class:`GdbTarget`): everything the protocol declares.

Values in a frame are gdb's variable objects, made once per expression and stop and brought up
to date on each look (a front end re-evaluates its watches at every refresh); they are deleted
when the CPU runs again, so a stale handle gets a sentence, never a value. gdb's events arrive
on its reader thread, which only records state and passes events on: no gdb command is issued
from it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from firmwatch.targets.base import Region, TargetError
from firmwatch.targets.control import (
    Breakpoint,
    BreakpointSpec,
    Capability,
    ExecutionControl,
    Frame,
    FrameValue,
    Register,
    RunState,
    Snapshot,
    StepKind,
    Stop,
    StopReason,
    Thread,
    WatchSpec,
)
from firmwatch.targets.gdb_mi import mi_quote

if TYPE_CHECKING:
    from firmwatch.targets.gdb import GdbTarget
    from firmwatch.targets.gdb_types import StopEvent

MAX_CHILDREN = 10_000
_SIMPLE_EXPR = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|->)[A-Za-z_]\w*|\[\d+\])*$")
_NUMBER = re.compile(r"-?0x[0-9a-fA-F]+|-?\d+")
_WATCH_TRIGGERS = ("watchpoint-trigger", "read-watchpoint-trigger", "access-watchpoint-trigger")


def _int(text: Any, default: int | None = None) -> int | None:
    try:
        return int(str(text), 0)
    except (TypeError, ValueError):
        return default


def child_expression(parent: str, parent_type: str, exp: str) -> str:
    """``g_config.calib`` + ``gain_q8`` → ``g_config.calib.gain_q8`` (``p->x``, ``a[3]``, ``*p``)."""
    base = parent if _SIMPLE_EXPR.match(parent) else f"({parent})"
    t = parent_type.strip()
    if t.endswith("*"):
        return f"*{base}" if exp.startswith("*") else f"{base}->{exp}"
    if t.endswith("]"):
        return f"{base}[{exp}]"
    return f"{base}.{exp}"


class GdbControl(ExecutionControl):
    """:class:`ExecutionControl` on a :class:`GdbTarget`; see the module docstring."""

    capabilities = frozenset(Capability)

    def __init__(self, target: GdbTarget):
        super().__init__(target)
        self.t = target
        self._lock = threading.RLock()
        self._last: Stop | None = None
        self._pending: StopReason | None = None  # what was asked for: a step or a pause
        self._varobjs: list[str] = []  # every variable object of this stop, to delete at the next resume
        self._vo_by_key: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._locals: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self._console_busy = False
        target.on_stop(self._on_gdb_stop)
        target.on_running(self._on_gdb_running)
        target.on_exit(self._emit_exit)
        target.on_output(self._on_gdb_output)
        if not target.running and target.last_stop is not None:
            self._last = self._classify(target.last_stop, StopReason.ENTRY)

    # -- state and gdb's events (its reader thread: no gdb commands here) --------------------
    @property
    def state(self) -> RunState:
        if self.t.exited is not None:
            return RunState.EXITED
        return RunState.RUNNING if self.t.running else RunState.STOPPED

    @property
    def last_stop(self) -> Stop | None:
        return self._last

    def _on_gdb_running(self) -> None:
        with self._lock:
            self._drop_stop_state()
        self._emit_running()

    def _on_gdb_output(self, kind: str, text: str) -> None:
        if kind == "log" or (kind == "console" and self._console_busy):
            return  # "log" is gdb's echo of our own commands; a console command's text is its result
        self._emit_output(kind, text)

    def _on_gdb_stop(self, ev: StopEvent) -> None:
        with self._lock:
            self._drop_stop_state()
            pending, self._pending = self._pending, None
        stop = self._classify(ev, pending)
        self._last = stop
        self._emit_stop(stop)

    @staticmethod
    def _classify(ev: StopEvent, pending: StopReason | None) -> Stop:
        r = ev.reason
        hits = tuple(ev.hit_breakpoints)
        if r == "breakpoint-hit":
            return Stop(StopReason.BREAKPOINT, ev.thread_id, hits)
        if r in _WATCH_TRIGGERS:
            d = ev.details
            old, new = d.get("value.old"), d.get("value.new") or d.get("value.value")
            expr = d.get("wpt.exp") or d.get("hw-rwpt.exp") or d.get("hw-awpt.exp") or ""
            text = f"{expr}: {old} → {new}" if old is not None and new is not None else (
                f"{expr} = {new}" if new is not None else expr)
            number = _int(d.get("wpt.number") or d.get("hw-rwpt.number") or d.get("hw-awpt.number"))
            return Stop(StopReason.DATA_BREAKPOINT, ev.thread_id, (number,) if number is not None else hits,
                        text or None)
        if r in ("end-stepping-range", "function-finished", "location-reached"):
            return Stop(StopReason.STEP, ev.thread_id)
        if r == "signal-received":
            if pending is not None and ev.signal in ("SIGINT", "SIGTRAP", "0", None):
                return Stop(pending, ev.thread_id)  # our interrupt (SIGTRAP on simavr) or the end of a step
            if ev.signal == "SIGINT":
                return Stop(StopReason.PAUSE, ev.thread_id)
            if ev.signal == "SIGTRAP":
                return Stop(StopReason.EXCEPTION, ev.thread_id, (), "a breakpoint instruction in the firmware")
            return Stop(StopReason.EXCEPTION, ev.thread_id, (), f"signal {ev.signal}")
        if r.startswith("exited"):
            return Stop(StopReason.EXITED, ev.thread_id, (), "the program exited")
        return Stop(pending or StopReason.PAUSE, ev.thread_id, (), r)

    # -- per-stop state ---------------------------------------------------------------------
    def _drop_stop_state(self) -> None:
        """The frame-bound state of the last stop is void now (called under the lock)."""
        self._locals.clear()
        self._vo_by_key.clear()  # their names stay in _varobjs until the next resume deletes them

    def _forget_stop(self) -> None:
        """Delete gdb's variable objects of the last stop (a gdb command: never on gdb's reader thread)."""
        with self._lock:
            names, self._varobjs = self._varobjs, []
            self._drop_stop_state()
        for name in names:
            try:
                self._mi(f"-var-delete {name}", what="cleaning up")
            except TargetError:
                break  # gdb or the link is gone: nothing left to clean

    def _mi(self, command: str, what: str) -> dict[str, Any]:
        return self.t.mi_command(command, what=what).get("payload") or {}

    # -- run control ------------------------------------------------------------------------
    def halt(self, wait: float | None = 5.0) -> Stop | None:
        if not self.t.running:
            return self._last
        self._pending = StopReason.PAUSE
        try:
            self.t.pause(wait=wait)  # the stop arrives through on_stop
        except TargetError:
            self._pending = None
            raise
        return self._last if wait is not None else None

    def resume(self) -> None:
        if self.t.running:
            return
        self._forget_stop()
        self.t.cont()

    def step(self, kind: StepKind, thread: int | None = None, wait: float | None = 5.0) -> Stop | None:
        if self.t.running:
            raise TargetError("the CPU is running: pause it before stepping.")
        self._forget_stop()
        self._pending = StopReason.STEP
        try:
            if kind == StepKind.INSTRUCTION:
                self.t.step_instruction(thread, wait=wait)
            elif kind == StepKind.INSTRUCTION_OVER:
                self.t.step_instruction(thread, wait=wait, over_calls=True)
            elif kind == StepKind.OVER:
                self.t.step_over(thread, wait=wait)
            elif kind == StepKind.INTO:
                self.t.step_in(thread, wait=wait)
            else:
                self.t.step_out(thread, wait=wait)
        except TargetError:
            self._pending = None
            raise
        return self._last if wait is not None else None

    # -- breakpoints ------------------------------------------------------------------------
    def add_breakpoint(self, spec: BreakpointSpec) -> Breakpoint:
        loc = spec.location
        if loc.address is not None:
            return self._insert(f"*0x{loc.address:x}", spec)
        if loc.file is not None:
            bp = self._insert(f"{loc.file}:{loc.line}", spec)
            if not bp.verified and "source file named" in (bp.message or "").lower() and os.path.dirname(loc.file):
                # DWARF may name the file by another absolute path (a build tree elsewhere)
                bp = self._insert(f"{os.path.basename(loc.file)}:{loc.line}", spec)
            return bp
        return self._insert(str(loc.function), spec)

    def _insert(self, location: str, spec: BreakpointSpec) -> Breakpoint:
        if spec.log_message is not None:
            return self.t.add_logpoint(location, spec.log_message, condition=spec.condition)
        return self.t.add_breakpoint(location, condition=spec.condition, ignore_count=spec.ignore_count,
                                     hardware=spec.hardware)

    def add_watchpoint(self, spec: WatchSpec) -> Breakpoint:
        expression = spec.expression
        if expression is None:
            assert spec.address is not None
            expression = f"*(unsigned char (*)[{max(1, spec.size)}])0x{spec.address:x}"
        b = self.t.add_watchpoint(expression, spec.access.value)
        if b.verified and b.id is not None:
            if spec.condition:
                self.t.mi_command_stopped(f"-break-condition {b.id} {spec.condition}", what="setting a condition")
            if spec.ignore_count:
                self.t.mi_command_stopped(f"-break-after {b.id} {int(spec.ignore_count)}", what="setting a hit count")
        return b

    def remove_breakpoint(self, breakpoint_id: int) -> None:
        self.t.remove_breakpoint(breakpoint_id)

    # -- inspection -----------------------------------------------------------------------
    def threads(self) -> list[Thread]:
        return self.t.threads()

    def stack(self, thread: int | None = None, levels: int | None = None) -> list[Frame]:
        return self.t.stack(thread, levels)

    def registers(self, thread: int | None = None, frame: int = 0) -> list[Register]:
        return [Register(r.name, r.value, _int(r.value), r.number) for r in self.t.registers(frame, thread)]

    def register(self, name: str) -> int:
        # gdb prints a pointer register as the address it points to ("0x2a9e <demo_loop+150>"),
        # in the ELF's address space even where the raw register counts words (the AVR's PC)
        m = _NUMBER.search(self.t.evaluate(f"${name}"))
        if m is None:
            raise TargetError(f"gdb has no integer register '{name}' for this target.")
        return int(m.group(0), 0)

    def _thread(self, thread: int | None) -> int:
        if thread is not None:
            return thread
        last = self.t.last_stop
        return last.thread_id if last is not None and last.thread_id is not None else 1

    def _frame_rows(self, thread: int, level: int) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._locals.get((thread, level))
        if cached is not None:
            return cached
        p = self._mi(f"-stack-list-variables --thread {thread} --frame {level} --simple-values",
                     what="reading local variables")
        rows = [v for v in p.get("variables", []) if isinstance(v, dict)]
        with self._lock:
            self._locals[(thread, level)] = rows
        return rows

    def _varobj(self, expression: str, thread: int, level: int) -> dict[str, Any]:
        """A gdb variable object for ``expression`` in a frame: value, type, child count;
        one per expression and stop, brought up to date at each look."""
        key = (expression, thread, level)
        with self._lock:
            known = self._vo_by_key.get(key)
        if known is not None:
            name = str(known.get("name"))
            self._mi(f"-var-update --all-values {name}", what=f"evaluating {expression}")
            value = self._mi(f"-var-evaluate-expression {name}", what=f"evaluating {expression}").get("value")
            return {**known, "value": value}
        p = self._mi(f"-var-create --thread {thread} --frame {level} - * {mi_quote(expression)}",
                     what=f"evaluating {expression}")
        with self._lock:
            self._varobjs.append(str(p.get("name")))
            self._vo_by_key[key] = p
        return p

    @staticmethod
    def _from_varobj(name: str, expression: str, p: dict[str, Any], argument: bool = False) -> FrameValue:
        children = _int(p.get("numchild"), 0) or 0
        return FrameValue(name, expression, str(p.get("value", "")), str(p.get("type") or ""), children,
                          str(p.get("name")) if children else None, argument)

    def locals(self, thread: int | None = None, frame: int = 0) -> list[FrameValue]:
        thread = self._thread(thread)
        out = []
        for row in self._frame_rows(thread, frame):
            name = str(row.get("name"))
            type_ = str(row.get("type") or "")
            value = row.get("value")
            argument = row.get("arg") == "1"
            if value is not None and not type_.rstrip().endswith("*"):
                out.append(FrameValue(name, name, str(value), type_, 0, None, argument))
                continue
            # a struct, array or pointer: a variable object, so it can be expanded
            try:
                p = self._varobj(name, thread, frame)
            except TargetError as e:
                out.append(FrameValue(name, name, str(value) if value is not None else f"<{e}>", type_, 0, None,
                                      argument))
                continue
            v = self._from_varobj(name, name, p, argument)
            out.append(FrameValue(v.name, v.expression, v.value or str(value or ""), v.type or type_, v.children,
                                  v.handle, argument))
        return out

    def evaluate(self, expression: str, thread: int | None = None, frame: int = 0) -> FrameValue:
        thread = self._thread(thread)
        try:
            p = self._varobj(expression, thread, frame)
        except TargetError:
            # -var-create only says "unable to create variable object": gdb's evaluator says why
            text = self.t.evaluate(expression, frame, thread)
            return FrameValue(expression, expression, text, "")
        return self._from_varobj(expression, expression, p)

    def children(self, value: FrameValue, start: int = 0, count: int = 0) -> list[FrameValue]:
        if value.handle is None:
            return []
        varobj = value.handle
        try:  # values may have changed since the object was made (a write while stopped); gdb
            # updates from the root object ("var3" of "var3.calib.gain_q8")
            self._mi(f"-var-update --all-values {varobj.split('.')[0]}", what="expanding a variable")
        except TargetError:
            pass
        end = (start or 0) + count if count else MAX_CHILDREN
        p = self._mi(f"-var-list-children --all-values {varobj} {start or 0} {end}", what="expanding a variable")
        out: list[FrameValue] = []
        for child in p.get("children", []) or []:
            c = child.get("child", child) if isinstance(child, dict) else {}
            name = str(c.get("name", ""))
            exp = str(c.get("exp", name))
            type_ = str(c.get("type") or "")
            if not type_ and _int(c.get("numchild"), 0) and exp in ("public", "private", "protected"):
                # a C++ access group: its members directly
                out.extend(self.children(FrameValue(exp, value.expression, "", value.type, 1, name)))
                continue
            path = child_expression(value.expression, value.type, exp)
            shown = f"[{exp}]" if exp.isdigit() else exp
            out.append(self._from_varobj(shown, path, c))
        return out

    def assign(self, expression: str, value: str, thread: int | None = None, frame: int = 0) -> FrameValue:
        if not value.strip():
            raise TargetError(f"give a value for {expression}.")
        thread = self._thread(thread)
        self.t.evaluate(f"{expression} = ({value})", frame, thread)
        with self._lock:
            self._locals.clear()  # other views of the frame show the new value on their next read
        return self.evaluate(expression, thread, frame)

    def console(self, command: str) -> str:
        with self._lock:  # the command may change anything the view shows
            self._locals.clear()
        self._console_busy = True
        try:
            return self.t.console(command)
        finally:
            self._console_busy = False

    # -- memory and engines -----------------------------------------------------------------
    def snapshot(self, registers: Sequence[str] = (), regions: Sequence[Region] = ()) -> Snapshot:
        if self.t.running:
            # the shared link halts and resumes unseen by gdb, within the intrusion budget
            values, memory, halted = self.t.rsp_link().snapshot(registers, regions)
            return Snapshot(values, memory, halted)
        values = {name: self.register(name) for name in registers}
        return Snapshot(values, [self.t.read(r.address, r.size) for r in regions], 0.0)

