"""The real CPU as DAP threads, through gdb (:class:`firmwatch.targets.gdb.GdbTarget`).

What the user sees is gdb's view: stacks, locals, registers and values as gdb prints them, in
the frame the user selected; breakpoints, log points and data breakpoints are gdb's. The Live
thread (live.py) is not involved: it keeps sampling over the shared link while the CPU runs or
stands at a breakpoint.

Ids (cpu.py): DAP thread id = gdb thread id + 1 (the Live thread is 1); a frame id encodes
(thread, level) so it stays meaningful for the whole stop; variablesReferences come from a range
the shared registry never reaches (``REF_BASE`` and up), so the adapter routes them here.
Everything about a stop (frame ids, references, gdb variable objects) is dropped when the CPU
resumes: a stale id then gets a sentence, never a wrong value.

Threading: requests arrive on the adapter's worker thread; gdb's stop and running records
arrive on gdb's reader thread, which only records the state and sends events (no gdb command
may be issued from it). No request waits for the target to stop.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from firmwatch.dap.cpu import CpuEvents
from firmwatch.dap.messaging import RequestError
from firmwatch.targets.base import TargetError
from firmwatch.targets.gdb_mi import mi_quote

FRAME_BASE = 1000
FRAME_STRIDE = 1 << 16  # levels per thread in a frame id
REF_BASE = 1_000_000  # above variables.MAX_REFS: the shared registry never hands these out
REF_MAX = (1 << 31) - 1
MAX_FRAMES = 256
MAX_CHILDREN = 10_000

_DATA_ACCESS = {"write": "write", "read": "read", "readWrite": "access"}
_HIT = re.compile(r"^\s*(>=|==|=|>)?\s*(\d+)\s*$")


def _int(text: Any, default: int | None = None) -> int | None:
    try:
        return int(str(text), 0)
    except (TypeError, ValueError):
        return default


def _request_error(e: BaseException, show: bool = False) -> RequestError:
    return RequestError(str(e).strip() or type(e).__name__, show_user=show)


def ignore_count(hit_condition: str | None) -> int:
    """DAP's hitCondition as gdb's ignore count: "5" / ">=5" / "==5" stop at the 5th hit, ">5" after it."""
    if not hit_condition or not hit_condition.strip():
        return 0
    m = _HIT.match(hit_condition)
    if m is None:
        raise ValueError(f"hit count '{hit_condition}' is not understood; write a number such as 5 or >= 5.")
    n = int(m.group(2))
    return n if m.group(1) == ">" else max(0, n - 1)


@dataclass
class _Bp:
    """One DAP breakpoint and the gdb breakpoint behind it (None when gdb refused it)."""

    dap_id: int
    key: tuple[Any, ...]
    gdb_id: int | None
    body: dict[str, Any]


class _Locals:
    """The Locals (or Arguments) scope of one frame."""

    def __init__(self, cpu: GdbCpu, thread: int, level: int, arguments: bool):
        self.cpu, self.thread, self.level, self.arguments = cpu, thread, level, arguments

    def variables(self, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        rows = self.cpu._frame_variables(self.thread, self.level)
        out = []
        for v in rows:
            if bool(v.get("arg") == "1") != self.arguments:
                continue
            out.append(self.cpu._variable(str(v.get("name")), v, self.thread, self.level, hex))
        return _page(out, start, count)


class _Registers:
    def __init__(self, cpu: GdbCpu, thread: int, level: int):
        self.cpu, self.thread, self.level = cpu, thread, level

    def variables(self, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        regs = self.cpu.t.registers(self.level, self.thread)
        return _page([{"name": r.name, "value": r.value, "variablesReference": 0,
                       "evaluateName": f"${r.name}"} for r in regs], start, count)


class _VarObj:
    """The children of a gdb variable object (a struct, array or pointer); ``expression`` and
    ``type`` are the parent's, to name each child as a user would write it."""

    def __init__(self, cpu: GdbCpu, name: str, expression: str, type_: str, frame: tuple[int, int]):
        self.cpu, self.name, self.expression, self.type = cpu, name, expression, type_
        self.thread, self.level = frame

    def variables(self, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        return self.cpu._children(self, start, count, hex)


_SIMPLE_EXPR = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|->)[A-Za-z_]\w*|\[\d+\])*$")


def child_expression(parent: str, parent_type: str, exp: str) -> str:
    """``g_config.calib`` + ``gain_q8`` → ``g_config.calib.gain_q8`` (``p->x``, ``a[3]``, ``*p``)."""
    base = parent if _SIMPLE_EXPR.match(parent) else f"({parent})"
    t = parent_type.strip()
    if t.endswith("*"):
        return f"*{base}" if exp.startswith("*") else f"{base}->{exp}"
    if t.endswith("]"):
        return f"{base}[{exp}]"
    return f"{base}.{exp}"


def _page(rows: list[dict[str, Any]], start: int, count: int) -> list[dict[str, Any]]:
    start = max(0, start or 0)
    return rows[start:start + count] if count else rows[start:]


class GdbCpu:
    """:class:`firmwatch.dap.cpu.CpuThread` on a :class:`GdbTarget`."""

    capabilities: dict[str, Any] = {
        "supportsFunctionBreakpoints": True,
        "supportsConditionalBreakpoints": True,
        "supportsHitConditionalBreakpoints": True,
        "supportsLogPoints": True,
        "supportsDataBreakpoints": True,
        "supportsSteppingGranularity": True,
        "supportsInstructionBreakpoints": False,
    }

    def __init__(self, target: Any):
        self.t = target
        self.events: CpuEvents | None = None
        self._lock = threading.RLock()
        self._next_bp = 1
        self._source_bps: dict[str, list[_Bp]] = {}
        self._function_bps: list[_Bp] = []
        self._data_bps: list[_Bp] = []
        self._by_gdb: dict[int, int] = {}  # gdb breakpoint number → DAP id
        self._refs: dict[int, Any] = {}
        self._ref_keys: dict[tuple[Any, ...], int] = {}
        self._next_ref = REF_BASE
        self._varobjs: list[str] = []
        self._vo_by_key: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._locals: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self._threads: list[dict[str, Any]] = [{"id": 2, "name": "CPU"}]
        self._stacks: dict[int, list[Any]] = {}
        self._console_busy = False
        self._pending_reason: str | None = None  # what the user asked for: "step" / "pause"

    # -- wiring ------------------------------------------------------------------------------------
    def attach(self, events: CpuEvents) -> None:
        self.events = events
        self.t.on_stop(self._on_stop)
        self.t.on_running(self._on_running)
        self.t.on_output(self._on_output)
        self.t.on_exit(lambda sentence: events.output("important", f"firmwatch: {sentence}\n"))
        if not self.t.running:
            # attached to a halted target (run=False): show where it stands
            last = self.t.last_stop
            events.stopped(self._dap_thread(last.thread_id if last else None), "entry")

    def close(self) -> None:
        # gdb goes away with the target: its variable objects need no deleting
        with self._lock:
            self._varobjs = []
            self._drop_stop_state()

    def _mi(self, command: str, what: str) -> dict[str, Any]:
        return self.t.mi_command(command, what=what).get("payload") or {}

    # -- gdb's events (its reader thread: no gdb commands here) -------------------------------------
    def _on_running(self) -> None:
        with self._lock:
            self._drop_stop_state()
        if self.events is not None:
            for thread in self._threads:  # all-stop: every CPU thread (RTOS task) runs again
                self.events.continued(thread["id"])

    def _on_output(self, kind: str, text: str) -> None:
        if self.events is None or kind == "log" or (kind == "console" and self._console_busy):
            return  # "log" is gdb's echo of our own commands; a -exec command's text is its result
        self.events.output("console" if kind == "console" else "stdout", text)

    def _on_stop(self, ev: Any) -> None:
        with self._lock:
            self._drop_stop_state()
            pending, self._pending_reason = self._pending_reason, None
        if self.events is None:
            return
        reason, description, hits = self._reason(ev, pending)
        self.events.stopped(self._dap_thread(ev.thread_id), reason, description, hits or None)

    def _reason(self, ev: Any, pending: str | None) -> tuple[str, str | None, list[int]]:
        r = ev.reason
        hits = [self._by_gdb[n] for n in ev.hit_breakpoints if n in self._by_gdb]
        if r == "breakpoint-hit":
            return "breakpoint", None, hits
        if r in ("watchpoint-trigger", "read-watchpoint-trigger", "access-watchpoint-trigger"):
            d = ev.details
            old, new = d.get("value.old"), d.get("value.new") or d.get("value.value")
            expr = d.get("wpt.exp") or d.get("hw-rwpt.exp") or d.get("hw-awpt.exp") or ""
            text = f"{expr}: {old} → {new}" if old is not None and new is not None else (
                f"{expr} = {new}" if new is not None else expr)
            watch_no = _int(d.get("wpt.number") or d.get("hw-rwpt.number") or d.get("hw-awpt.number"))
            ids = [self._by_gdb[watch_no]] if watch_no in self._by_gdb else hits
            return "data breakpoint", text or None, ids
        if r in ("end-stepping-range", "function-finished", "location-reached"):
            return "step", None, []
        if r == "signal-received":
            if pending is not None and ev.signal in ("SIGINT", "SIGTRAP", "0", None):
                return pending, None, []  # our interrupt (SIGTRAP on simavr) or the end of a step
            if ev.signal == "SIGINT":
                return "pause", None, []
            if ev.signal == "SIGTRAP":
                return "breakpoint", "a breakpoint instruction in the firmware", []
            return "exception", f"signal {ev.signal}", []
        if r.startswith("exited"):
            return "exception", "the program exited", []
        return pending or "pause", r, []

    # -- per-stop state ---------------------------------------------------------------------------
    def _drop_stop_state(self) -> None:
        """The frame-bound state of the last stop is void now (called under the lock)."""
        self._refs.clear()
        self._ref_keys.clear()
        self._locals.clear()
        self._stacks.clear()
        self._vo_by_key.clear()  # their names stay in _varobjs until the next resume deletes them

    def _forget_stop(self) -> None:
        """Delete gdb's variable objects of the last stop (a gdb command: the worker thread only)."""
        with self._lock:
            names, self._varobjs = self._varobjs, []
            self._drop_stop_state()
        for name in names:
            try:
                self._mi(f"-var-delete {name}", what="cleaning up")
            except TargetError:
                break  # gdb or the link is gone: nothing left to clean

    def _ref(self, key: tuple[Any, ...], make: Any) -> int:
        with self._lock:
            r = self._ref_keys.get(key)
            if r is not None:
                return r
            r = self._next_ref
            self._next_ref = r + 1 if r < REF_MAX else REF_BASE
            self._ref_keys[key] = r
            self._refs[r] = make()
            return r

    def _need_stopped(self, what: str) -> None:
        if self.t.running:
            raise RequestError(f"the CPU is running: pause it (or wait for a breakpoint) to see {what}.",
                               show_user=False)

    # -- threads and frames -----------------------------------------------------------------------
    @staticmethod
    def _dap_thread(gdb_thread: int | None) -> int:
        return (gdb_thread or 1) + 1

    def threads(self) -> list[dict[str, Any]]:
        try:
            found = self.t.threads()
        except TargetError:
            return list(self._threads)
        if not found:
            return list(self._threads)
        if len(found) == 1:
            out = [{"id": self._dap_thread(found[0].id), "name": "CPU"}]
        else:  # RTOS tasks reported by the server
            out = [{"id": self._dap_thread(th.id), "name": th.name} for th in found]
        self._threads = out
        return list(out)

    def owns_thread(self, thread_id: int) -> bool:
        return thread_id >= 2

    def owns_frame(self, frame_id: int) -> bool:
        return frame_id >= FRAME_BASE

    @staticmethod
    def _frame_id(gdb_thread: int, level: int) -> int:
        return FRAME_BASE + gdb_thread * FRAME_STRIDE + level

    @staticmethod
    def _frame_of(frame_id: int) -> tuple[int, int]:
        n = frame_id - FRAME_BASE
        return n // FRAME_STRIDE, n % FRAME_STRIDE

    def _stack(self, gdb_thread: int) -> list[Any]:
        with self._lock:
            cached = self._stacks.get(gdb_thread)
        if cached is not None:
            return cached
        try:
            frames = self.t.stack(gdb_thread, MAX_FRAMES)
        except TargetError as e:
            raise _request_error(e) from None
        with self._lock:
            self._stacks[gdb_thread] = frames
        return frames

    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]:
        self._need_stopped("its call stack")
        gdb_thread = thread_id - 1
        frames = self._stack(gdb_thread)
        chosen = frames[start:start + levels] if levels else frames[start:]
        out = []
        for f in chosen:
            frame: dict[str, Any] = {"id": self._frame_id(gdb_thread, f.id), "name": f.function or f"0x{f.address:x}",
                                     "line": f.line or 0, "column": 0,
                                     "instructionPointerReference": f"0x{f.address:x}"}
            if f.file:
                frame["source"] = {"name": os.path.basename(f.file), "path": f.file}
            else:
                frame["presentationHint"] = "subtle"  # no line info: startup code, libgcc
            out.append(frame)
        return {"stackFrames": out, "totalFrames": len(frames)}

    def scopes(self, frame_id: int) -> list[dict[str, Any]]:
        self._need_stopped("its frames")
        thread, level = self._frame_of(frame_id)
        rows = self._frame_variables(thread, level)
        scopes = [{"name": "Locals", "presentationHint": "locals", "expensive": False,
                   "variablesReference": self._ref(("locals", thread, level), lambda: _Locals(self, thread, level, False))}]
        if any(v.get("arg") == "1" for v in rows):
            scopes.insert(0, {"name": "Arguments", "presentationHint": "arguments", "expensive": False,
                              "variablesReference": self._ref(("args", thread, level),
                                                              lambda: _Locals(self, thread, level, True))})
        scopes.append({"name": "Registers", "presentationHint": "registers", "expensive": False,
                       "variablesReference": self._ref(("regs", thread, level), lambda: _Registers(self, thread, level))})
        return scopes

    # -- values -------------------------------------------------------------------------------------
    def _frame_variables(self, thread: int, level: int) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._locals.get((thread, level))
        if cached is not None:
            return cached
        try:
            p = self._mi(f"-stack-list-variables --thread {thread} --frame {level} --simple-values",
                         what="reading local variables")
        except TargetError as e:
            raise _request_error(e) from None
        rows = [v for v in p.get("variables", []) if isinstance(v, dict)]
        with self._lock:
            self._locals[(thread, level)] = rows
        return rows

    def _varobj(self, expression: str, thread: int, level: int) -> dict[str, Any]:
        """A gdb variable object for ``expression`` in a frame: value, type, child count.

        VS Code re-evaluates the watches of the focused frame at every ``invalidated`` event
        (the Live view sends them at uiRefreshHz): one object per expression and stop, brought
        up to date, not a new one per refresh.
        """
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

    def _expandable(self, name: str, numchild: Any, key: tuple[Any, ...], expression: str, type_: str,
                    frame: tuple[int, int]) -> int:
        if not _int(numchild, 0):
            return 0
        return self._ref(key, lambda: _VarObj(self, name, expression, type_, frame))

    def _variable(self, name: str, row: dict[str, Any], thread: int, level: int, hex: bool) -> dict[str, Any]:
        """One local: gdb's simple value, or a variable object when it has children (struct,
        array, pointer) so the Variables view can expand it."""
        type_ = str(row.get("type") or "")
        value = row.get("value")
        out: dict[str, Any] = {"name": name, "type": type_, "evaluateName": name, "variablesReference": 0}
        if value is not None and not type_.rstrip().endswith("*"):
            out["value"] = self._hexed(str(value), type_, hex)
            return out
        try:
            p = self._varobj(name, thread, level)
        except TargetError as e:
            out["value"] = str(value) if value is not None else f"<{e}>"
            return out
        out["value"] = str(p.get("value", value if value is not None else ""))
        out["variablesReference"] = self._expandable(str(p.get("name")), p.get("numchild"),
                                                     ("local", thread, level, name), name,
                                                     str(p.get("type") or type_), (thread, level))
        return out

    @staticmethod
    def _hexed(value: str, type_: str, hex: bool) -> str:
        if not hex:
            return value
        n = _int(value)
        if n is None or "float" in type_ or "double" in type_:
            return value
        return f"0x{n & 0xFFFFFFFFFFFFFFFF:x}" if n < 0 else f"0x{n:x}"

    def _children(self, parent: _VarObj, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        self._need_stopped("its variables")
        varobj = parent.name
        try:  # values may have changed since the object was made (a write while stopped); gdb
            # updates from the root object ("var3" of "var3.calib.gain_q8")
            self._mi(f"-var-update --all-values {varobj.split('.')[0]}", what="expanding a variable")
        except TargetError:
            pass
        end = (start or 0) + count if count else MAX_CHILDREN
        try:
            p = self._mi(f"-var-list-children --all-values {varobj} {start or 0} {end}",
                         what="expanding a variable")
        except TargetError as e:
            return [{"name": "<error>", "value": str(e), "variablesReference": 0}]
        out = []
        for child in p.get("children", []) or []:
            c = child.get("child", child) if isinstance(child, dict) else {}
            name = str(c.get("name", ""))
            exp = str(c.get("exp", name))
            type_ = str(c.get("type") or "")
            if not type_ and _int(c.get("numchild"), 0) and exp in ("public", "private", "protected"):
                # a C++ access group: show its members directly
                out.extend(self._children(_VarObj(self, name, parent.expression, parent.type,
                                                          (parent.thread, parent.level)), 0, 0, hex))
                continue
            path = child_expression(parent.expression, parent.type, exp)
            out.append({"name": f"[{exp}]" if exp.isdigit() else exp, "type": type_, "evaluateName": path,
                        "value": self._hexed(str(c.get("value", "")), type_, hex),
                        "variablesReference": self._expandable(name, c.get("numchild"), ("child", name), path, type_,
                                                                   (parent.thread, parent.level))})
        return out

    def variables(self, reference: int, start: int, count: int, hex: bool) -> list[dict[str, Any]] | None:
        with self._lock:
            container = self._refs.get(reference)
        if container is None:
            if reference >= REF_BASE:
                raise RequestError("these variables belong to an earlier stop of the CPU; the view refreshes at the "
                                   "next stop.", show_user=False)
            return None
        self._need_stopped("its variables")
        try:
            return container.variables(start, count, hex)  # type: ignore[no-any-return]
        except TargetError as e:
            raise _request_error(e) from None

    def evaluate(self, expression: str, frame_id: int, hex: bool) -> dict[str, Any]:
        """gdb's evaluation in the CPU frame's scope (watch, hover, repl while stopped);
        ``-exec CMD`` in the console runs a gdb command."""
        if expression.startswith("-exec "):
            with self._lock:  # the command may change anything the view shows
                self._locals.clear()
            self._console_busy = True
            try:
                return {"result": self.t.console(expression[6:].strip()).rstrip("\n"), "variablesReference": 0}
            except TargetError as e:
                raise _request_error(e) from None
            finally:
                self._console_busy = False
        if not expression:
            raise RequestError("type an expression to evaluate, e.g. g_config.channel.", show_user=False)
        if expression.startswith(":"):
            raise RequestError("console commands such as :rate run in the Live frame: select the Live thread in the "
                               "Call Stack view (or type -exec CMD for a gdb command here).", show_user=False)
        self._need_stopped(f"'{expression}' in this frame (the Live frame shows it while running)")
        thread, level = self._frame_of(frame_id)
        try:
            p = self._varobj(expression, thread, level)
        except TargetError:
            # -var-create only says "unable to create variable object": gdb's evaluator says why
            try:
                return {"result": self.t.evaluate(expression, level, thread), "variablesReference": 0}
            except TargetError as e:
                raise _request_error(e) from None
        type_ = str(p.get("type") or "")
        body: dict[str, Any] = {"result": self._hexed(str(p.get("value", "")), type_, hex), "type": type_,
                                "variablesReference": self._expandable(str(p.get("name")), p.get("numchild"),
                                                                       ("eval", thread, level, expression),
                                                                       expression, type_, (thread, level))}
        return body

    # -- writes -----------------------------------------------------------------------------------------
    def _assign(self, expression: str, value: str, thread: int, level: int, hex: bool) -> dict[str, Any]:
        """``expression = value`` by gdb in a frame; the value as gdb reads it back."""
        self._need_stopped(f"'{expression}' (writes to the CPU's frames need it stopped)")
        if not value.strip():
            raise RequestError(f"give a value for {expression}.")
        try:
            self.t.evaluate(f"{expression} = ({value})", level, thread)
        except TargetError as e:
            raise _request_error(e, show=True) from None
        with self._lock:
            self._locals.clear()  # other views of the frame show the new value on their next read
        body = self.evaluate(expression, self._frame_id(thread, level), hex)
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
        if isinstance(container, _VarObj):
            exp = name[1:-1] if name.startswith("[") and name.endswith("]") else name
            return self._assign(child_expression(container.expression, container.type, exp), value,
                                container.thread, container.level, hex)
        raise RequestError(f"'{name}' belongs to an earlier stop of the CPU; set it again in the refreshed view.")

    def set_expression(self, expression: str, value: str, frame_id: int, hex: bool) -> dict[str, Any]:
        """A watch edited while a CPU frame is focused: gdb assigns in that frame's scope."""
        thread, level = self._frame_of(frame_id)
        return self._assign(expression.strip(), value, thread, level, hex)

    # -- breakpoints ----------------------------------------------------------------------------------
    def _new_id(self) -> int:
        with self._lock:
            n = self._next_bp
            self._next_bp += 1
            return n

    def _remember(self, bp: _Bp) -> _Bp:
        if bp.gdb_id is not None:
            self._by_gdb[bp.gdb_id] = bp.dap_id
        return bp

    def _drop(self, bp: _Bp) -> None:
        if bp.gdb_id is None:
            return
        self._by_gdb.pop(bp.gdb_id, None)
        try:
            self.t.remove_breakpoint(bp.gdb_id)
        except TargetError:
            pass  # gone with the link; the next set reports the real problem

    def _body(self, dap_id: int, b: Any, line: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"id": dap_id, "verified": bool(b.verified)}
        if b.verified:
            if b.line is not None:
                body["line"] = b.line
            if b.file:
                body["source"] = {"name": os.path.basename(b.file), "path": b.file}
            if b.address is not None:
                body["instructionReference"] = f"0x{b.address:x}"
        else:
            body["message"] = b.message or "gdb could not set this breakpoint."
            if line is not None:
                body["line"] = line
        return body

    def _insert(self, location: str, spec: dict[str, Any], line: int | None) -> _Bp:
        dap_id = self._new_id()
        condition = (spec.get("condition") or "").strip() or None
        log = spec.get("logMessage")
        key = (location, condition, spec.get("hitCondition"), log)
        try:
            ignore = ignore_count(spec.get("hitCondition"))
        except ValueError as e:
            return _Bp(dap_id, key, None, {"id": dap_id, "verified": False, "message": str(e), "line": line})
        try:
            if log:
                b = self.t.add_logpoint(location, str(log), condition=condition)
            else:
                b = self.t.add_breakpoint(location, condition=condition, ignore_count=ignore)
        except TargetError as e:
            return _Bp(dap_id, key, None, {"id": dap_id, "verified": False, "message": str(e), "line": line})
        return self._remember(_Bp(dap_id, key, b.id if b.verified else None, self._body(dap_id, b, line)))

    def set_breakpoints(self, source: dict[str, Any], breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        path = str(source.get("path") or source.get("name") or "")
        if not path:
            return [{"verified": False, "message": "this source has no file path; open the C file itself.",
                     "line": b.get("line")} for b in breakpoints]
        old = {bp.key: bp for bp in self._source_bps.get(path, [])}
        kept: list[_Bp] = []
        for spec in breakpoints:
            line = _int(spec.get("line"))
            location = f"{path}:{line}"
            key = (location, (spec.get("condition") or "").strip() or None, spec.get("hitCondition"),
                   spec.get("logMessage"))
            if key in old:  # unchanged: keep gdb's breakpoint (and its hit count)
                kept.append(old.pop(key))
                continue
            bp = self._insert(location, spec, line)
            if bp.gdb_id is None and "No source file" in str(bp.body.get("message", "")):
                # DWARF may name the file by another absolute path (a build tree elsewhere)
                bp = self._insert(f"{os.path.basename(path)}:{line}", spec, line)
                bp.key = key
            kept.append(bp)
        for bp in old.values():
            self._drop(bp)
        self._source_bps[path] = kept
        return [bp.body for bp in kept]

    def set_function_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for bp in self._function_bps:
            self._drop(bp)
        self._function_bps = [self._insert(str(spec.get("name", "")).strip(), spec, None) for spec in breakpoints
                              if str(spec.get("name", "")).strip()]
        return [bp.body for bp in self._function_bps]

    def data_breakpoint_info(self, name: str, reference: int | None, frame_id: int | None) -> dict[str, Any]:
        """What a data breakpoint on ``name`` would watch: gdb takes any lvalue expression."""
        expression = name.strip()
        if reference:
            with self._lock:
                container = self._refs.get(reference)
            if isinstance(container, _VarObj):
                for row in self._children(container, 0, 0, False):
                    if row["name"] == name and row.get("evaluateName"):
                        expression = row["evaluateName"]
                        break
        if not expression:
            return {"dataId": None, "description": "give the variable or expression to watch."}
        return {"dataId": expression, "description": f"{expression} (hardware watchpoint)",
                "accessTypes": ["write", "read", "readWrite"], "canPersist": True}

    def set_data_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        old = {bp.key: bp for bp in self._data_bps}
        kept: list[_Bp] = []
        for spec in breakpoints:
            expression = str(spec.get("dataId") or "").strip()
            access = _DATA_ACCESS.get(str(spec.get("accessType") or "write"), "write")
            condition = (spec.get("condition") or "").strip() or None
            key = (expression, access, condition, spec.get("hitCondition"))
            if key in old:
                kept.append(old.pop(key))
                continue
            dap_id = self._new_id()
            try:
                b = self.t.add_watchpoint(expression, access)
            except TargetError as e:
                kept.append(_Bp(dap_id, key, None, {"id": dap_id, "verified": False, "message": str(e)}))
                continue
            if b.verified and b.id is not None and (condition or spec.get("hitCondition")):
                self._condition(b.id, condition, spec.get("hitCondition"))
            body = {"id": dap_id, "verified": bool(b.verified)}
            if not b.verified:
                body["message"] = b.message or f"gdb cannot watch {expression}."
            kept.append(self._remember(_Bp(dap_id, key, b.id if b.verified else None, body)))
        for bp in old.values():
            self._drop(bp)
        self._data_bps = kept
        return [bp.body for bp in kept]

    def _condition(self, number: int, condition: str | None, hit: str | None) -> None:
        stopped_mi = self.t.mi_command_stopped
        if condition:
            stopped_mi(f"-break-condition {number} {condition}", what="setting a condition")
        n = ignore_count(hit) if hit else 0
        if n:
            stopped_mi(f"-break-after {number} {n}", what="setting a hit count")

    # -- execution -------------------------------------------------------------------------------------
    def continue_(self, thread_id: int) -> None:
        if self.t.running:
            return
        self._forget_stop()
        try:
            self.t.cont()
        except TargetError as e:
            raise _request_error(e, show=True) from None

    def pause(self, thread_id: int) -> None:
        if not self.t.running:
            # already stopped (a breakpoint won the race): say so again so the UI focuses it
            if self.events is not None:
                last = self.t.last_stop
                self.events.stopped(self._dap_thread(last.thread_id if last else None), "pause")
            return
        self._pending_reason = "pause"
        try:
            self.t.pause(wait=None)  # the stop arrives through on_stop
        except TargetError as e:
            self._pending_reason = None
            raise _request_error(e, show=True) from None

    def step(self, thread_id: int, kind: str, granularity: str) -> None:
        if self.t.running:
            raise RequestError("the CPU is running: pause it before stepping.")
        gdb_thread = thread_id - 1
        self._forget_stop()
        self._pending_reason = "step"
        try:
            if granularity == "instruction" and kind != "stepOut":
                self.t.step_instruction(gdb_thread, wait=None, over_calls=kind == "next")
            elif kind == "next":
                self.t.step_over(gdb_thread, wait=None)
            elif kind == "stepIn":
                self.t.step_in(gdb_thread, wait=None)
            elif kind == "stepOut":
                self.t.step_out(gdb_thread, wait=None)
            else:
                raise RequestError(f"'{kind}' is not a kind of step firmwatch knows.", show_user=False)
        except TargetError as e:
            self._pending_reason = None
            raise _request_error(e, show=True) from None
