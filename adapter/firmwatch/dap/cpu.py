"""The real CPU as DAP threads, written against the execution-control protocol alone
(:mod:`firmwatch.targets.control`): what the transport declares decides what VS Code gets.

The adapter always shows the "Live" pseudo-thread (live.py). When the transport can stop the CPU
(gdb, rsp) this view adds the CPU — one thread, or the RTOS tasks a server reports — with its
stack, scopes, registers, breakpoints and steps; over the streamer it adds nothing, and
breakpoints are answered unverified with the transport's sentence. The Live thread keeps
sampling over the same link while the CPU runs or stands at a breakpoint.

What the transport leaves to the ELF is done here with it: a function breakpoint becomes an
address, a data breakpoint on a global becomes its address and size, the one frame of a
transport that does not unwind is named from the symbol table, and a breakpoint condition the
transport cannot evaluate is evaluated on each hit with the Live evaluator (the CPU stands
still, so memory reads are exact), resuming unseen while it is false.

Ids: the Live thread is 1 and its frame 1; a CPU thread is the transport's thread id + 1; a
frame id encodes (thread, level) from ``FRAME_BASE`` up; variablesReferences come from
``REF_BASE`` up, a range the Live registry never reaches. Everything about a stop is dropped
when the CPU runs again: a stale id gets a sentence, never a wrong value.

Threading: requests arrive on the adapter's worker thread; the control's events on its own
threads, where this view only records state and forwards events (``CpuEvents``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmwatch.dap.messaging import RequestError
from firmwatch.errors import UserError
from firmwatch.symbols.program import Program
from firmwatch.targets.base import TargetError
from firmwatch.targets.control import (
    Access,
    Breakpoint,
    BreakpointSpec,
    Capability,
    ExecutionControl,
    Frame,
    FrameValue,
    Location,
    RunState,
    StepKind,
    Stop,
    StopReason,
    WatchSpec,
)

FRAME_BASE = 1000
FRAME_STRIDE = 1 << 16  # levels per thread in a frame id
REF_BASE = 1_000_000  # above variables.MAX_REFS: the shared registry never hands these out
REF_MAX = (1 << 31) - 1
MAX_FRAMES = 256

_DATA_ACCESS = {"write": Access.WRITE, "read": Access.READ, "readWrite": Access.ACCESS}
_HIT = re.compile(r"^\s*(>=|==|=|>)?\s*(\d+)\s*$")
_ADDRESS_ID = re.compile(r"^(0x[0-9a-fA-F]+):(\d+)$")
_DAP_REASON = {StopReason.EXITED: "exception"}


def ignore_count(hit_condition: str | None) -> int:
    """DAP's hitCondition as an ignore count: "5" / ">=5" / "==5" stop at the 5th hit, ">5" after it."""
    if not hit_condition or not hit_condition.strip():
        return 0
    m = _HIT.match(hit_condition)
    if m is None:
        raise ValueError(f"hit count '{hit_condition}' is not understood; write a number such as 5 or >= 5.")
    n = int(m.group(2))
    return n if m.group(1) == ">" else max(0, n - 1)


@dataclass
class CpuEvents:
    """What the view tells the client (the adapter fills these in)."""

    stopped: Callable[..., None]  # (thread_id, reason, description=None, hit_breakpoint_ids=None, all_threads=False)
    continued: Callable[[int], None]  # (thread_id)
    output: Callable[[str, str], None]  # (category, text)
    # (thread_id): a thread the client was shown is gone. RTOS task threads exist only while the
    # CPU stands still; VS Code keeps a thread it was shown (and its old call stack) until told
    thread_exited: Callable[[int], None] | None = None


@dataclass
class _Bp:
    """One DAP breakpoint and the control's breakpoint behind it (None when it was refused)."""

    dap_id: int
    key: tuple[Any, ...]
    control_id: int | None
    body: dict[str, Any]


@dataclass
class _Condition:
    """A condition (and the hits still to pass) evaluated here for a transport that cannot."""

    text: str | None
    ignore_left: int


@dataclass(frozen=True)
class _Locals:
    thread: int | None
    level: int
    arguments: bool


@dataclass(frozen=True)
class _Registers:
    thread: int | None
    level: int


@dataclass(frozen=True)
class _Children:
    value: FrameValue
    thread: int | None
    level: int


@dataclass(frozen=True)
class _TaskRegisters:
    """An RTOS task's registers in one of its frames (dap/rtos_view.py unwinds them)."""

    frame_id: int


@dataclass(frozen=True)
class _FrameVars:
    """An RTOS task's frame's arguments or locals, read from DWARF here (dap/rtos_view.py);
    ``task`` is TaskThreads' key (its CPU key: the stopped CPU's frames unwound here)."""

    task: int
    level: int
    arguments: bool


@dataclass(frozen=True)
class _VarChildren:
    value: Any  # a firmwatch.symbols.values.Value
    key: tuple[Any, ...]  # (task, level, name, child names…): its reference for this stop


@dataclass(frozen=True)
class _UnwoundRegisters:
    """The registers of an outer frame of the CPU unwound here."""

    task: int
    level: int


_Container = _Locals | _Registers | _Children | _TaskRegisters | _FrameVars | _VarChildren | _UnwoundRegisters


def _page(rows: list[dict[str, Any]], start: int, count: int) -> list[dict[str, Any]]:
    start = max(0, start or 0)
    return rows[start:start + count] if count else rows[start:]


def _hexed(value: str, type_: str, hex: bool) -> str:
    if not hex:
        return value
    try:
        n = int(value, 0)
    except ValueError:
        return value
    if "float" in type_ or "double" in type_:
        return value
    return f"0x{n & 0xFFFFFFFFFFFFFFFF:x}" if n < 0 else f"0x{n:x}"


class CpuView:
    """The CPU threads of one session over one :class:`ExecutionControl` (None: no session yet)."""

    def __init__(self, control: ExecutionControl | None, program: Program | None = None,
                 evaluate: Callable[[str], Any] | None = None):
        self.control = control
        self.program = program
        self._evaluate_live = evaluate
        caps = control.capabilities if control is not None else frozenset()
        self.caps = caps
        self.active = Capability.HALT in caps
        self.events: CpuEvents | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._next_bp = 1
        self._source_bps: dict[str, list[_Bp]] = {}
        self._function_bps: list[_Bp] = []
        self._data_bps: list[_Bp] = []
        self._by_control: dict[int, int] = {}  # control breakpoint id → DAP id
        self._conditions: dict[int, _Condition] = {}  # control breakpoint id → evaluated here
        self._refs: dict[int, _Container] = {}
        self._ref_keys: dict[tuple[Any, ...], int] = {}
        self._next_ref = REF_BASE
        self._stacks: dict[int | None, list[Frame]] = {}
        self._threads: list[dict[str, Any]] = [{"id": 2, "name": "CPU"}]
        # the RTOS tasks that are not running, as threads of their own while the CPU is stopped
        # (dap/rtos_view.TaskThreads; None: no RTOS in the ELF, or the server reports the threads)
        self.tasks: Any = None

    # -- what VS Code is told it can do ------------------------------------------------------
    @property
    def capabilities(self) -> dict[str, Any]:
        if not self.active:
            return {}
        c = self.caps
        conditions = Capability.CONDITION in c or self._evaluate_live is not None
        return {
            "supportsFunctionBreakpoints": bool({Capability.BREAK_FUNCTION, Capability.BREAK_ADDRESS} & c),
            "supportsConditionalBreakpoints": conditions,
            "supportsHitConditionalBreakpoints": Capability.HIT_COUNT in c or self._evaluate_live is not None,
            "supportsLogPoints": Capability.LOGPOINT in c,
            "supportsDataBreakpoints": bool({Capability.WATCH_EXPRESSION, Capability.WATCH_ADDRESS} & c),
            "supportsSteppingGranularity": Capability.STEP_INSTRUCTION in c,
            "supportsInstructionBreakpoints": False,
        }

    def _why(self, capability: Capability) -> str:
        if self.control is None:
            return "no firmwatch session is running yet: start one with a launch or attach configuration."
        return self.control.why(capability)

    # -- wiring ------------------------------------------------------------------------------
    def attach(self, events: CpuEvents) -> None:
        self.events = events
        if not self.active or self.control is None:
            return
        self.control.on_stop(self._on_stop)
        self.control.on_running(self._on_running)
        self.control.on_exit(lambda sentence: events.output("important", f"firmwatch: {sentence}\n"))
        self.control.on_output(self._on_output)
        if self.control.state == RunState.STOPPED:  # attached to a halted target: show where it stands
            last = self.control.last_stop
            events.stopped(self._dap_thread(last.thread if last else None), "entry", all_threads=self._with_tasks())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_stop_state()

    def _on_output(self, kind: str, text: str) -> None:
        if self.events is not None and not self._closed:
            self.events.output("console" if kind == "console" else "stdout", text)

    def _on_running(self) -> None:
        with self._lock:
            gone = self.tasks.shown() if self.tasks is not None else []
            self._drop_stop_state()
            threads = list(self._threads)
        if self.events is not None and not self._closed:
            for thread in threads:  # all-stop: every CPU thread (RTOS task) runs again
                self.events.continued(thread["id"])
            if self.events.thread_exited is not None:
                for thread_id in gone:
                    self.events.thread_exited(thread_id)

    def _on_stop(self, stop: Stop) -> None:
        with self._lock:
            self._drop_stop_state()
            if self._closed:
                return
        if stop.reason in (StopReason.BREAKPOINT, StopReason.DATA_BREAKPOINT) and stop.breakpoints:
            verdict = self._conditions_say(stop.breakpoints)
            if verdict is False:
                try:
                    assert self.control is not None
                    self.control.resume()  # not the hit asked for: on, unseen
                    return
                except TargetError:
                    pass
            description = verdict if isinstance(verdict, str) else stop.description
        else:
            description = stop.description
        if self.events is None:
            return
        with self._lock:
            ids = [self._by_control[n] for n in stop.breakpoints if n in self._by_control]
        # task threads stop with the CPU: VS Code lets the user open a thread's call stack only when
        # it was told that thread stopped
        self.events.stopped(self._dap_thread(stop.thread), _DAP_REASON.get(stop.reason, stop.reason.value),
                            description, ids or None, all_threads=self._with_tasks())

    def _conditions_say(self, ids: tuple[int, ...]) -> bool | str:
        """True: stop. False: every breakpoint hit has a condition evaluated here that says go on.
        A sentence: a condition could not be evaluated (stop, and say why)."""
        with self._lock:
            conds = [self._conditions.get(n) for n in ids]
        if not conds or any(c is None for c in conds):
            return True
        for c in conds:
            assert c is not None
            if c.text:
                try:
                    v = self._evaluate_live(c.text) if self._evaluate_live is not None else None
                    scalar = v.scalar if v is not None else None
                except UserError as e:
                    return f"the condition '{c.text}' could not be evaluated: {e}"
                if scalar is None or isinstance(scalar, str):
                    return f"the condition '{c.text}' is not a number or a truth value."
                if not scalar:
                    continue
            if c.ignore_left > 0:
                c.ignore_left -= 1
                continue
            return True
        return False

    # -- per-stop state --------------------------------------------------------------------
    def _drop_stop_state(self) -> None:
        self._refs.clear()
        self._ref_keys.clear()
        self._stacks.clear()
        if self.tasks is not None:
            self.tasks.drop()

    def _ref(self, key: tuple[Any, ...], make: Callable[[], _Container]) -> int:
        with self._lock:
            r = self._ref_keys.get(key)
            if r is not None:
                return r
            r = self._next_ref
            self._next_ref = r + 1 if r < REF_MAX else REF_BASE
            self._ref_keys[key] = r
            self._refs[r] = make()
            return r

    def _ctl(self) -> ExecutionControl:
        if self.control is None or not self.active:
            raise RequestError(self._why(Capability.HALT))
        return self.control

    def _need_stopped(self, what: str) -> ExecutionControl:
        c = self._ctl()
        if c.state == RunState.RUNNING:
            raise RequestError(f"the CPU is running: pause it (or wait for a breakpoint) to see {what}.",
                               show_user=False)
        return c

    # -- threads and frames -----------------------------------------------------------------
    @staticmethod
    def _dap_thread(thread: int | None) -> int:
        return (thread or 1) + 1

    def _ctl_thread(self, dap_thread: int) -> int | None:
        return dap_thread - 1 if Capability.THREADS in self.caps else None

    def threads(self) -> list[dict[str, Any]]:
        if not self.active or self.control is None:
            return []
        if Capability.THREADS not in self.caps:
            if self.tasks is not None and self.control.state == RunState.STOPPED:
                running = self.tasks.current_name()
                cpu = [{"id": t["id"], "name": f"CPU (task {running})" if running else t["name"]} for t in self._threads]
                return cpu + self.tasks.threads()
            return list(self._threads)
        try:
            found = self.control.threads()
        except TargetError:
            return list(self._threads)
        if not found:
            return list(self._threads)
        if len(found) == 1:
            out = [{"id": self._dap_thread(found[0].id), "name": "CPU"}]
        else:  # RTOS tasks reported by the server
            out = [{"id": self._dap_thread(th.id), "name": th.name} for th in found]
        with self._lock:
            self._threads = out
        return list(out)

    def _with_tasks(self) -> bool:
        return self.tasks is not None and Capability.THREADS not in self.caps

    def owns_thread(self, thread_id: int) -> bool:
        return self.active and thread_id >= 2

    def _task_thread(self, thread_id: int) -> bool:
        return self.tasks is not None and Capability.THREADS not in self.caps and self.tasks.owns_thread(thread_id)

    def _task_frame(self, frame_id: int) -> bool:
        return self.tasks is not None and Capability.THREADS not in self.caps and self.tasks.owns_frame(frame_id)

    def owns_frame(self, frame_id: int) -> bool:
        return self.active and frame_id >= FRAME_BASE

    def owns_reference(self, reference: int) -> bool:
        return self.active and reference >= REF_BASE

    def evaluates_in(self, frame_id: int) -> bool:
        """Whether expressions in this frame are the CPU's (its scope) rather than the Live view's."""
        return self.owns_frame(frame_id) and Capability.LOCALS in self.caps and not self._task_frame(frame_id)

    def _frame_id(self, thread: int | None, level: int) -> int:
        return FRAME_BASE + (thread or 0) * FRAME_STRIDE + level

    def _frame_of(self, frame_id: int) -> tuple[int | None, int]:
        n = frame_id - FRAME_BASE
        thread = n // FRAME_STRIDE
        return (thread if Capability.THREADS in self.caps else None), n % FRAME_STRIDE

    def _stack(self, c: ExecutionControl, thread: int | None) -> list[Frame]:
        with self._lock:
            cached = self._stacks.get(thread)
        if cached is not None:
            return cached
        if Capability.STACK in self.caps:
            frames = c.stack(thread, MAX_FRAMES)
        elif self._unwinds_here() and (frames := self._unwound(c, thread)):
            pass  # the RTOS engine unwound the CPU's registers with the ELF's call-frame information
        else:  # one frame at the PC, named from the ELF's symbol table
            pc = c.register("pc")
            name = self.program.symbolize(pc) if self.program is not None else None
            frames = [Frame(0, name, None, None, pc, thread)]
        with self._lock:
            self._stacks[thread] = frames
        return frames

    def _unwinds_here(self) -> bool:
        """The CPU's frames come from the RTOS engine's unwinder: the transport does not unwind."""
        return self._with_tasks() and Capability.STACK not in self.caps and Capability.REGISTERS in self.caps

    def _unwound(self, c: ExecutionControl, thread: int | None) -> list[Frame]:
        try:
            regs = {r.name: r.value for r in c.registers(thread, 0) if r.value is not None}
            return self.tasks.cpu_frames(regs, thread)[:MAX_FRAMES]
        except (UserError, TargetError):
            return []

    def _frame_vars_scopes(self, task: int, level: int, key: tuple[Any, ...]) -> list[dict[str, Any]]:
        """Arguments and Locals of a frame whose variables are read here (a task's, or the CPU's
        unwound here)."""
        scopes = []
        try:
            found = self.tasks.variables(task, level)
        except UserError:
            found = []
        if any(v.argument for v in found):
            scopes.append({"name": "Arguments", "presentationHint": "arguments", "expensive": False,
                           "variablesReference": self._ref(("fv-args", *key), lambda: _FrameVars(task, level, True))})
        scopes.append({"name": "Locals", "presentationHint": "locals", "expensive": False,
                       "variablesReference": self._ref(("fv-locals", *key), lambda: _FrameVars(task, level, False))})
        return scopes

    def _var_row(self, name: str, value: Any, hex: bool, key: tuple[Any, ...]) -> dict[str, Any]:
        from firmwatch.dap.variables import shape

        kind, n = shape(value)
        row: dict[str, Any] = {"name": name, "value": value.display(hex=hex), "type": value.type_name,
                               "variablesReference": 0, "presentationHint": {"attributes": ["readOnly"]}}
        if value.note:
            row["value"] += f"  ({value.note})"
        if kind != "scalar":
            row["variablesReference"] = self._ref(("fv-value", *key), lambda: _VarChildren(value, key))
            row["presentationHint"]["kind"] = "data"
            if kind == "array":
                row["indexedVariables"] = n
            elif n >= 0:
                row["namedVariables"] = n
        if value.address is not None:
            row["memoryReference"] = f"0x{value.address:x}"
        return row

    def _frame_vars_rows(self, container: _FrameVars | _VarChildren, start: int, count: int,
                         hex: bool) -> list[dict[str, Any]]:
        if isinstance(container, _VarChildren):
            try:
                kids = container.value.children(max(0, start or 0), count or None)
            except (UserError, TargetError) as e:
                return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
            return [self._var_row(k.name, k.value, hex, (*container.key, k.name)) for k in kids]
        try:
            found = self.tasks.variables(container.task, container.level)
        except UserError as e:
            return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
        rows = []
        for v in found:
            if v.argument != container.arguments:
                continue
            if v.value is None:
                rows.append({"name": v.name, "value": f"<{v.why}>", "type": v.type_name or "",
                             "variablesReference": 0, "presentationHint": {"attributes": ["readOnly"]}})
            else:
                rows.append(self._var_row(v.name, v.value, hex, (container.task, container.level, v.name)))
        return _page(rows, start, count)

    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]:
        c = self._need_stopped("its call stack")
        if self._task_thread(thread_id):
            try:
                return self.tasks.stack_trace(thread_id, start, levels)
            except UserError as e:
                raise RequestError(str(e)) from None
        thread = self._ctl_thread(thread_id)
        frames = self._stack(c, thread)
        chosen = frames[start:start + levels] if levels else frames[start:]
        out = []
        for f in chosen:
            frame: dict[str, Any] = {"id": self._frame_id(thread, f.id), "name": f.function or f"0x{f.address:x}",
                                     "line": f.line or 0, "column": 0,
                                     "instructionPointerReference": f"0x{f.address:x}"}
            if f.file:
                frame["source"] = {"name": os.path.basename(f.file), "path": f.file}
            else:
                frame["presentationHint"] = "subtle"  # no line info: startup code, libgcc, or no unwinding
            out.append(frame)
        return {"stackFrames": out, "totalFrames": len(frames)}

    def scopes(self, frame_id: int) -> list[dict[str, Any]]:
        c = self._need_stopped("its frames")
        if self._task_frame(frame_id):  # a task's frame: its variables and registers, as saved and unwound
            task, level = self.tasks.frame_of(frame_id)
            return [*self._frame_vars_scopes(task, level, ("task", frame_id)),
                    {"name": "Registers", "presentationHint": "registers", "expensive": False,
                     "variablesReference": self._ref(("task-regs", frame_id), lambda: _TaskRegisters(frame_id))}]
        thread, level = self._frame_of(frame_id)
        scopes = []
        if self._unwinds_here() and Capability.LOCALS not in self.caps:
            from firmwatch.dap.rtos_view import CPU

            self._stack(c, thread)  # the unwound frames (and their registers) this stop
            scopes = self._frame_vars_scopes(CPU, level, ("cpu", thread, level))
            if level > 0:
                scopes.append({"name": "Registers", "presentationHint": "registers", "expensive": False,
                               "variablesReference": self._ref(("cpu-unwound-regs", level),
                                                               lambda: _UnwoundRegisters(CPU, level))})
        if Capability.LOCALS in self.caps:
            rows = c.locals(thread, level)
            if any(v.argument for v in rows):
                scopes.append({"name": "Arguments", "presentationHint": "arguments", "expensive": False,
                               "variablesReference": self._ref(("args", thread, level),
                                                               lambda: _Locals(thread, level, True))})
            scopes.append({"name": "Locals", "presentationHint": "locals", "expensive": False,
                           "variablesReference": self._ref(("locals", thread, level),
                                                           lambda: _Locals(thread, level, False))})
        if Capability.REGISTERS in self.caps and (level == 0 or Capability.STACK in self.caps):
            scopes.append({"name": "Registers", "presentationHint": "registers", "expensive": False,
                           "variablesReference": self._ref(("regs", thread, level),
                                                           lambda: _Registers(thread, level))})
        return scopes

    # -- values ------------------------------------------------------------------------------
    def _row(self, v: FrameValue, thread: int | None, level: int, hex: bool) -> dict[str, Any]:
        ref = 0
        if v.children and v.handle is not None:
            ref = self._ref(("value", v.handle), lambda: _Children(v, thread, level))
        return {"name": v.name, "type": v.type, "evaluateName": v.expression, "value": _hexed(v.value, v.type, hex),
                "variablesReference": ref}

    def variables(self, reference: int, start: int, count: int, hex: bool) -> list[dict[str, Any]] | None:
        """The rows of a CPU reference; None when the reference is not the CPU's."""
        with self._lock:
            container = self._refs.get(reference)
        if container is None:
            if reference >= REF_BASE and self.active:
                raise RequestError("these variables belong to an earlier stop of the CPU; the view refreshes at the "
                                   "next stop.", show_user=False)
            return None
        c = self._need_stopped("its variables")
        if isinstance(container, _TaskRegisters):
            try:
                return _page(self.tasks.registers(container.frame_id), start, count)
            except UserError as e:
                return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
        if isinstance(container, _UnwoundRegisters):
            try:
                return _page(self.tasks.registers_of(container.task, container.level), start, count)
            except UserError as e:
                return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
        if isinstance(container, (_FrameVars, _VarChildren)):
            return self._frame_vars_rows(container, start, count, hex)
        if isinstance(container, _Locals):
            rows = [self._row(v, container.thread, container.level, hex)
                    for v in c.locals(container.thread, container.level) if v.argument == container.arguments]
            return _page(rows, start, count)
        if isinstance(container, _Registers):
            return _page([{"name": r.name, "value": r.text, "variablesReference": 0, "evaluateName": f"${r.name}"}
                          for r in c.registers(container.thread, container.level)], start, count)
        try:
            kids = c.children(container.value, start, count)
        except TargetError as e:
            return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
        return [self._row(v, container.thread, container.level, hex) for v in kids]

    def _body(self, v: FrameValue, thread: int | None, level: int, hex: bool) -> dict[str, Any]:
        row = self._row(v, thread, level, hex)
        return {"result": row["value"], "type": v.type, "variablesReference": row["variablesReference"]}

    def evaluate(self, expression: str, frame_id: int, hex: bool) -> dict[str, Any]:
        """An expression in the CPU frame's scope (watch, hover, repl while stopped); ``-exec CMD``
        in the console is a command of the transport's debugger."""
        c = self._ctl()
        if expression.startswith("-exec "):
            with self._lock:
                self._stacks.clear()  # the command may change anything the view shows
            return {"result": c.console(expression[6:].strip()).rstrip("\n"), "variablesReference": 0}
        if not expression:
            raise RequestError("type an expression to evaluate, e.g. g_config.channel.", show_user=False)
        if expression.startswith(":"):
            raise RequestError("console commands such as :rate run in the Live frame: select the Live thread in the "
                               "Call Stack view (or type -exec CMD for a debugger command here).", show_user=False)
        self._need_stopped(f"'{expression}' in this frame (the Live frame shows it while running)")
        thread, level = self._frame_of(frame_id)
        return self._body(c.evaluate(expression, thread, level), thread, level, hex)

    # -- writes --------------------------------------------------------------------------------
    def _assign(self, expression: str, value: str, thread: int | None, level: int, hex: bool) -> dict[str, Any]:
        c = self._need_stopped(f"'{expression}' (writes to the CPU's frames need it stopped)")
        if not value.strip():
            raise RequestError(f"give a value for {expression}.")
        body = self._body(c.assign(expression, value, thread, level), thread, level, hex)
        body["value"] = body.pop("result")
        return body

    def set_variable(self, reference: int, name: str, value: str, hex: bool) -> dict[str, Any]:
        """A local, argument, register or member edited in the Variables view of a CPU frame."""
        with self._lock:
            container = self._refs.get(reference)
        if isinstance(container, _Locals):
            return self._assign(name, value, container.thread, container.level, hex)
        if isinstance(container, _Registers):
            return self._assign(f"${name}", value, container.thread, container.level, hex)
        if isinstance(container, _Children):
            c = self._need_stopped("its variables")
            for kid in c.children(container.value):
                if kid.name == name:
                    return self._assign(kid.expression, value, container.thread, container.level, hex)
        raise RequestError(f"'{name}' belongs to an earlier stop of the CPU; set it again in the refreshed view.")

    def set_expression(self, expression: str, value: str, frame_id: int, hex: bool) -> dict[str, Any]:
        """A watch edited while a CPU frame is focused: assigned in that frame's scope."""
        thread, level = self._frame_of(frame_id)
        return self._assign(expression.strip(), value, thread, level, hex)

    # -- breakpoints ------------------------------------------------------------------------
    def _new_id(self) -> int:
        with self._lock:
            n = self._next_bp
            self._next_bp += 1
            return n

    def _forget(self, bp: _Bp) -> None:
        if bp.control_id is None or self.control is None:
            return
        with self._lock:
            self._by_control.pop(bp.control_id, None)
            self._conditions.pop(bp.control_id, None)
        try:
            self.control.remove_breakpoint(bp.control_id)
        except TargetError:
            pass  # gone with the link; the next set reports the real problem

    @staticmethod
    def _unverified(dap_id: int, key: tuple[Any, ...], message: str, line: int | None = None) -> _Bp:
        body: dict[str, Any] = {"id": dap_id, "verified": False, "message": message}
        if line is not None:
            body["line"] = line
        return _Bp(dap_id, key, None, body)

    def _options(self, spec: dict[str, Any]) -> tuple[str | None, int, _Condition | None]:
        """(condition for the control, ignore count for the control, condition evaluated here);
        raises ValueError with the sentence when neither can honour them."""
        condition = (spec.get("condition") or "").strip() or None
        ignore = ignore_count(spec.get("hitCondition"))
        if condition is not None and Capability.CONDITION not in self.caps:
            if self._evaluate_live is None:
                raise ValueError(self._why(Capability.CONDITION))
            return None, 0, _Condition(condition, ignore)  # the hit count counts true conditions only
        if ignore and Capability.HIT_COUNT not in self.caps:
            if self._evaluate_live is None:
                raise ValueError(self._why(Capability.HIT_COUNT))
            return condition, 0, _Condition(None, ignore)
        return condition, ignore, None

    def _placed(self, dap_id: int, key: tuple[Any, ...], b: Breakpoint, local: _Condition | None,
                line: int | None = None) -> _Bp:
        body: dict[str, Any] = {"id": dap_id, "verified": bool(b.verified)}
        if b.verified:
            if b.line is not None:
                body["line"] = b.line
            if b.file:
                body["source"] = {"name": os.path.basename(b.file), "path": b.file}
            if b.address is not None:
                body["instructionReference"] = f"0x{b.address:x}"
        else:
            body["message"] = b.message or "the debugger could not set this breakpoint."
            if line is not None:
                body["line"] = line
        control_id = b.id if b.verified else None
        if control_id is not None:
            with self._lock:
                self._by_control[control_id] = dap_id
                if local is not None:
                    self._conditions[control_id] = local
        return _Bp(dap_id, key, control_id, body)

    def _insert(self, location: Location, spec: dict[str, Any], key: tuple[Any, ...], line: int | None) -> _Bp:
        dap_id = self._new_id()
        c = self._ctl()
        log = spec.get("logMessage")
        try:
            condition, ignore, local = self._options(spec)
            if log is not None and Capability.LOGPOINT not in self.caps:
                raise ValueError(self._why(Capability.LOGPOINT))
        except ValueError as e:
            return self._unverified(dap_id, key, str(e), line)
        try:
            b = c.add_breakpoint(BreakpointSpec(location, condition, ignore, str(log) if log is not None else None))
        except TargetError as e:
            return self._unverified(dap_id, key, str(e), line)
        return self._placed(dap_id, key, b, local, line)

    @staticmethod
    def _key(where: Any, spec: dict[str, Any]) -> tuple[Any, ...]:
        return (where, (spec.get("condition") or "").strip() or None, spec.get("hitCondition"), spec.get("logMessage"))

    def set_breakpoints(self, source: dict[str, Any], breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        path = str(source.get("path") or source.get("name") or "")
        if not self.active or Capability.BREAK_LINE not in self.caps:
            return [{"verified": False, "message": self._why(Capability.BREAK_LINE), "line": b.get("line")}
                    for b in breakpoints]
        if not path:
            return [{"verified": False, "message": "this source has no file path; open the C file itself.",
                     "line": b.get("line")} for b in breakpoints]
        old = {bp.key: bp for bp in self._source_bps.get(path, [])}
        kept: list[_Bp] = []
        for spec in breakpoints:
            try:
                line = int(spec.get("line"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                kept.append(self._unverified(self._new_id(), ("bad",), "a breakpoint needs a line number."))
                continue
            key = self._key(f"{path}:{line}", spec)
            if key in old:  # unchanged: keep the debugger's breakpoint (and its hit count)
                kept.append(old.pop(key))
                continue
            kept.append(self._insert(Location.source(path, line), spec, key, line))
        for bp in old.values():
            self._forget(bp)
        self._source_bps[path] = kept
        return [bp.body for bp in kept]

    def _function_location(self, name: str) -> Location:
        """By name where the transport resolves names; else the function's address in the ELF."""
        if Capability.BREAK_FUNCTION in self.caps:
            return Location.named(name)
        if Capability.BREAK_ADDRESS not in self.caps or self.program is None:
            raise ValueError(self._why(Capability.BREAK_FUNCTION))
        sym = self.program.find_symbol(name)
        if sym is None or sym.kind != "function":
            raise ValueError(f"'{name}' is not a function in the ELF's symbol table; check the name.")
        # the Thumb bit of an ARM function symbol is no part of its address
        return Location.at(sym.address & ~1 if self.program.elf.machine == "ARM" else sym.address)

    def set_function_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.active:
            return [{"verified": False, "message": self._why(Capability.BREAK_FUNCTION)} for _ in breakpoints]
        # VS Code sends the whole list whenever one of them changes: an unchanged breakpoint keeps
        # the debugger's breakpoint and the hits it has counted, as source breakpoints do (gdb keeps
        # an ignore count until it is set again); the others go first, freeing hardware units
        wanted = {self._key(str(spec.get("name") or "").strip(), spec) for spec in breakpoints}
        old: dict[tuple[Any, ...], _Bp] = {}
        for bp in self._function_bps:
            if bp.control_id is not None and bp.key in wanted and bp.key not in old:
                old[bp.key] = bp
            else:
                self._forget(bp)
        kept = []
        for spec in breakpoints:
            name = str(spec.get("name") or "").strip()
            if not name:
                continue
            key = self._key(name, spec)
            if key in old:
                kept.append(old.pop(key))
                continue
            try:
                location = self._function_location(name)
            except ValueError as e:
                kept.append(self._unverified(self._new_id(), key, str(e)))
                continue
            kept.append(self._insert(location, spec, key, None))
        self._function_bps = kept
        return [bp.body for bp in kept]

    def data_breakpoint_info(self, name: str, reference: int | None, frame_id: int | None) -> dict[str, Any]:
        """What a data breakpoint on ``name`` would watch: an lvalue expression where the transport
        takes one, else the address and size of a variable of the ELF."""
        if not self.active or not {Capability.WATCH_EXPRESSION, Capability.WATCH_ADDRESS} & self.caps:
            return {"dataId": None, "description": self._why(Capability.WATCH_ADDRESS)}
        expression = name.strip()
        if reference:
            with self._lock:
                container = self._refs.get(reference)
            if isinstance(container, _Children) and self.control is not None:
                for kid in self.control.children(container.value):
                    if kid.name == name:
                        expression = kid.expression
                        break
        if not expression:
            return {"dataId": None, "description": "give the variable or expression to watch."}
        if Capability.WATCH_EXPRESSION in self.caps:
            return {"dataId": expression, "description": f"{expression} (hardware watchpoint)",
                    "accessTypes": ["write", "read", "readWrite"], "canPersist": True}
        if self.program is None:
            return {"dataId": None, "description": self._why(Capability.WATCH_EXPRESSION)}
        try:
            v = self.program.find_variable(expression)
        except UserError as e:
            return {"dataId": None, "description": str(e)}
        if v.address is None or not v.size:
            return {"dataId": None, "description": f"{expression} has no fixed address to watch."}
        return {"dataId": f"{v.address:#x}:{v.size}", "description": f"{expression} ({v.size} bytes at {v.address:#x})",
                "accessTypes": ["write", "read", "readWrite"], "canPersist": False}

    def set_data_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        old = {bp.key: bp for bp in self._data_bps}
        kept: list[_Bp] = []
        for spec in breakpoints:
            data_id = str(spec.get("dataId") or "").strip()
            access = _DATA_ACCESS.get(str(spec.get("accessType") or "write"), Access.WRITE)
            key = (data_id, access, (spec.get("condition") or "").strip() or None, spec.get("hitCondition"))
            if key in old:
                kept.append(old.pop(key))
                continue
            dap_id = self._new_id()
            m = _ADDRESS_ID.match(data_id)
            if m is not None and Capability.WATCH_ADDRESS in self.caps:
                watch = WatchSpec(access, address=int(m.group(1), 16), size=int(m.group(2)))
            elif data_id and m is None and Capability.WATCH_EXPRESSION in self.caps:
                watch = WatchSpec(access, expression=data_id)
            else:
                kept.append(self._unverified(dap_id, key, "this data breakpoint came from another session; add it "
                                                          "again from the variable."))
                continue
            try:
                condition, ignore, local = self._options(spec)
                b = self._ctl().add_watchpoint(WatchSpec(watch.access, watch.expression, watch.address, watch.size,
                                                         condition, ignore))
            except ValueError as e:
                kept.append(self._unverified(dap_id, key, str(e)))
                continue
            except TargetError as e:
                kept.append(self._unverified(dap_id, key, str(e)))
                continue
            bp = self._placed(dap_id, key, b, local)
            if not b.verified:
                bp.body["message"] = b.message or f"the debugger cannot watch {data_id}."
            bp.body.pop("instructionReference", None)
            kept.append(bp)
        for bp in old.values():
            self._forget(bp)
        self._data_bps = kept
        return [bp.body for bp in kept]

    # -- execution ---------------------------------------------------------------------------
    def continue_(self, thread_id: int) -> None:
        c = self._ctl()
        if c.state == RunState.RUNNING:
            return
        c.resume()

    def pause(self, thread_id: int) -> None:
        c = self._ctl()
        if c.state != RunState.RUNNING:
            # already stopped (a breakpoint won the race): say so again so the UI focuses it
            if self.events is not None:
                last = c.last_stop
                self.events.stopped(self._dap_thread(last.thread if last else None), "pause",
                                    all_threads=self._with_tasks())
            return
        c.halt(wait=None)  # the stop arrives through on_stop

    def step(self, thread_id: int, kind: str, granularity: str) -> None:
        c = self._ctl()
        if c.state == RunState.RUNNING:
            raise RequestError("the CPU is running: pause it before stepping.")
        by_line = {"next": StepKind.OVER, "stepIn": StepKind.INTO, "stepOut": StepKind.OUT}
        if kind not in by_line:
            raise RequestError(f"'{kind}' is not a kind of step firmwatch knows.", show_user=False)
        step = by_line[kind]
        if step != StepKind.OUT and (granularity == "instruction" or Capability.STEP_LINE not in self.caps):
            # without line tables every step is one instruction
            step = StepKind.INSTRUCTION_OVER if kind == "next" else StepKind.INSTRUCTION
        c.step(step, self._ctl_thread(thread_id), wait=None)
