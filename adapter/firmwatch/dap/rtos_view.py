"""The debug adapter's RTOS awareness (issue 15): a live "RTOS" scope under the Live frame — every
FreeRTOS task with its state, priorities, stack and CPU figures, the registered queues and the
software timers (running or not) — and, whenever the CPU stops, one DAP thread per task that is not running, whose
call stack is unwound from the context the kernel's port saved (the running task is the CPU
thread itself).

The engine is :mod:`firmwatch.rtos`; this module only presents it. A refresh is at most once per
``INTERVAL_S`` whatever the UI's refresh rate, so a halting GDB server's halted share stays small.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from firmwatch.rtos.layout import RtosError, analyse
from firmwatch.rtos.monitor import RtosMonitor, RtosSnapshot, TaskRow

INTERVAL_S = 1.0
SHOWN_S = 5.0  # the scope counts as open this long after VS Code last read its rows
TASK_THREAD_BASE = 1000  # DAP thread ids of task threads: above any CPU thread (transport id + 1)
TASK_FRAME_BASE = 1 << 28  # frame ids of task frames: above every CpuView frame id
FRAMES_PER_TASK = 256
CPU = -1  # TaskThreads' key for the stopped CPU's own frames (the running task)


def has_rtos(program: Any) -> bool:
    try:
        analyse(program)
    except RtosError:
        return False
    return True


class RtosLive:
    """One monitor per session. While the RTOS scope is open a thread of its own refreshes it every
    ``interval``: over a halting server a refresh waits for the intrusion budget (seconds, after a
    long halt), and the adapter's requests must not wait with it. VS Code reads the latest
    snapshot; a stop of the CPU takes one of its own (``latest(max_age=0)``)."""

    def __init__(self, session: Any, interval: float = INTERVAL_S):
        self.session = session
        self.interval = interval
        self._monitor: RtosMonitor | None = None
        self._latest: RtosSnapshot | None = None
        self._error: Exception | None = None  # the last refresh's failure (None after a success)
        self._lock = threading.Lock()  # one refresh at a time (the monitor's rule)
        self._read = 0.0  # when VS Code last read the scope's rows (monotonic)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> None:
        """VS Code read the scope's rows: keep refreshing it."""
        self._read = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="firmwatch-rtos", daemon=True)
            self._thread.start()
        self._wake.set()

    def shown(self) -> bool:
        """Whether the RTOS scope is open in VS Code: it then refreshes every ``interval`` even when no
        watch changes (dap/live.py's tick)."""
        return time.monotonic() - self._read < SHOWN_S

    def close(self) -> None:
        self._closed.set()
        self._wake.set()

    @property
    def monitor(self) -> RtosMonitor:
        if self._monitor is None:
            self._monitor = RtosMonitor(self.session.program, self.session.target)
        return self._monitor

    @property
    def error(self) -> Exception | None:
        return self._error

    def _due(self) -> float:
        """Seconds until the next refresh is due (0: now). A little under the interval: the live
        view's tick comes every interval and must find a new snapshot."""
        s = self._latest
        return 0.0 if s is None else max(0.0, 0.9 * self.interval - (time.time() - s.host_time))

    def _refresh(self, max_age: float = 0.0) -> RtosSnapshot:
        with self._lock:
            s = self._latest  # another thread may have refreshed while this one waited
            if s is not None and max_age > 0 and time.time() - s.host_time < max_age:
                return s
            try:
                s = self._latest = self.monitor.refresh()
            except Exception as e:
                self._error = e
                raise
            self._error = None
            return s

    def _run(self) -> None:
        while not self._closed.is_set():
            wait = self._due()
            if self.shown() and wait == 0.0:
                try:
                    self._refresh()
                except Exception:  # noqa: BLE001 - kept in self._error: the scope shows the sentence
                    pass
                wait = self.interval
            self._wake.wait(wait if self.shown() else SHOWN_S)
            self._wake.clear()

    def latest(self, max_age: float | None = None) -> RtosSnapshot:
        """The latest snapshot (the first one is taken now); ``max_age``: one at most this old,
        refreshed now if need be."""
        s = self._latest
        if s is not None and (max_age is None or time.time() - s.host_time < max_age):
            return s
        if s is not None or self._error is None:
            return self._refresh(self.interval if s is None else (max_age or 0.0))
        raise self._error


def _task_value(r: TaskRow) -> str:
    t = r.task
    parts = [t.state]
    if t.blocked_on:
        parts.append(f"on {t.blocked_on}")
    parts.append(f"prio {t.priority}" + (f" (base {t.base_priority})" if t.base_priority not in (None, t.priority) else ""))
    if r.stack_peak is not None and r.stack_size:
        parts.append(f"stack {r.stack_peak}/{r.stack_size} B")
    if r.stack_free_min is not None:
        parts.append(f"free min {r.stack_free_min} B")
    if r.cpu is not None:
        parts.append(f"CPU {100 * r.cpu:.1f} %")
    return ", ".join(parts)


def _task_rows(r: TaskRow, hex: bool) -> list[dict[str, Any]]:
    t = r.task
    h = (lambda v: f"0x{v:x}") if hex else str
    ro = {"kind": "property", "attributes": ["readOnly"]}
    items: list[tuple[str, str]] = [
        ("state", t.state), ("list", t.list), ("priority", str(t.priority)),
        ("base priority", "" if t.base_priority is None else str(t.base_priority)),
        ("waiting on", t.blocked_on or ""), ("TCB", f"0x{t.tcb:x}"), ("stack base", f"0x{t.stack_base:x}"),
        ("stack size", "" if r.stack_size is None else f"{h(r.stack_size)} bytes"),
        ("stack peak", "" if r.stack_peak is None else f"{h(r.stack_peak)} bytes"),
        ("stack free (minimum)", "" if r.stack_free_min is None else f"{h(r.stack_free_min)} bytes"),
        ("CPU now", "" if r.cpu is None else f"{100 * r.cpu:.1f} %"),
        ("CPU since start", "" if r.cpu_total is None else f"{100 * r.cpu_total:.1f} %"),
        ("run time", "" if t.run_time is None else h(t.run_time)),
        ("task number", "" if t.number is None else str(t.number)),
    ]
    return [{"name": k, "value": v, "variablesReference": 0, "presentationHint": ro} for k, v in items if v != ""]


def rtos_scope(registry: Any, live: RtosLive) -> dict[str, Any]:
    """The "RTOS" scope of the Live frame."""
    from firmwatch.dap.scopes import StaticNode

    ro = {"kind": "property", "attributes": ["readOnly"]}

    def page(rows: list[dict[str, Any]], start: int, count: int) -> list[dict[str, Any]]:
        return rows[start:start + count] if count else rows[start:]

    def rows(start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        live.read()
        try:
            s = live.latest()
        except Exception as e:  # noqa: BLE001 - the sentence shows where the table would
            return [{"name": "tasks", "value": f"<{e}>", "variablesReference": 0, "presentationHint": ro}]
        state = "complete" if s.complete else f"incomplete, showing {s.age_s:.1f} s old tasks: {s.problems[-1]}"
        if live.error is not None:
            state = f"{time.time() - s.host_time:.0f} s old, the last refresh failed: {live.error}"
        out = [{"name": "kernel", "value": f"tick {s.tick}, scheduler {s.scheduler}, {len(s.tasks)} tasks",
                "type": f"snapshot {state}: {s.bytes_read} bytes, {s.reads} read(s), "
                        f"halted {1000 * s.halted_s:.2f} ms", "variablesReference": 0, "presentationHint": ro}]
        for r in s.tasks:
            ref = registry.ref(("rtos-task", r.task.tcb), lambda tcb=r.task.tcb: StaticNode(
                lambda st, c, hx, tcb=tcb: page(next((_task_rows(x, hx) for x in live.latest().tasks
                                                      if x.task.tcb == tcb), []), st, c)))
            mark = "\u25b6 " if r.task.tcb == s.current else ""
            out.append({"name": f"{mark}{r.task.name}", "value": _task_value(r), "type": "task",
                        "variablesReference": ref, "presentationHint": ro})
        for q in s.queues:
            holder = ""
            if q.holder:
                holder = ", held by " + next((r.task.name for r in s.tasks if r.task.tcb == q.holder), f"0x{q.holder:x}")
            waiting = f", {q.receivers} waiting to receive" if q.receivers else ""
            waiting += f", {q.senders} waiting to send" if q.senders else ""
            out.append({"name": f"{q.kind} '{q.name}'", "value": f"{q.waiting}/{q.length}{waiting}{holder}",
                        "type": f"{q.kind}, {q.item_size}-byte items", "variablesReference": 0,
                        "presentationHint": ro})
        for tm in s.timers:
            when = f"next at tick {tm.expiry}" if tm.active else "not running"
            out.append({"name": f"timer '{tm.name}'", "value": f"{when}, every {tm.period} ticks"
                        + (" (auto-reload)" if tm.auto_reload else ""), "type": "software timer",
                        "variablesReference": 0, "presentationHint": ro})
        for n in s.notes:
            out.append({"name": "note", "value": n, "variablesReference": 0, "presentationHint": ro})
        return page(out, start, count)

    ref = registry.ref(("rtos",), lambda: StaticNode(rows))
    return {"name": "RTOS", "presentationHint": "registers", "variablesReference": ref, "expensive": False}


class TaskThreads:
    """The tasks that are not running, as DAP threads while the CPU stands still."""

    def __init__(self, live: RtosLive):
        self.live = live
        self._ids: dict[int, int] = {}  # TCB -> index (stable for the session)
        self._stop: RtosSnapshot | None = None
        self._frames: dict[int, list[Any]] = {}
        self._raws: dict[int, list[Any]] = {}  # unwound frames with their registers, per task (CPU: the CPU's)
        self._cpu_regs: dict[int, int] = {}
        self._shown: set[int] = set()  # thread ids the client was given this stop
        self._lock = threading.Lock()

    def shown(self) -> list[int]:
        """The task threads the client was shown since the CPU stopped (they go when it runs)."""
        with self._lock:
            out, self._shown = sorted(self._shown), set()
        return out

    def drop(self) -> None:
        with self._lock:
            self._stop = None
            self._frames.clear()
            self._raws.clear()
            self._cpu_regs = {}

    def _snapshot(self) -> RtosSnapshot:
        with self._lock:
            if self._stop is None:
                self._stop = self.live.latest(max_age=0)  # the CPU is stopped: one coherent read
            return self._stop

    def current_name(self) -> str | None:
        try:
            r = self._snapshot().running
        except Exception:  # noqa: BLE001
            return None
        return r.task.name if r is not None else None

    def threads(self) -> list[dict[str, Any]]:
        try:
            s = self._snapshot()
        except Exception:  # noqa: BLE001 - no task threads this stop; the RTOS scope says why
            return []
        out = []
        for r in s.tasks:
            if r.task.tcb == s.current:
                continue
            k = self._ids.setdefault(r.task.tcb, len(self._ids))
            out.append({"id": TASK_THREAD_BASE + k, "name": f"{r.task.name} ({r.task.state})"})
        with self._lock:
            self._shown.update(t["id"] for t in out)
        return out

    def owns_thread(self, thread_id: int) -> bool:
        return thread_id >= TASK_THREAD_BASE

    def owns_frame(self, frame_id: int) -> bool:
        return frame_id >= TASK_FRAME_BASE

    def _task(self, k: int) -> TaskRow:
        s = self._snapshot()
        tcb = next((t for t, i in self._ids.items() if i == k), None)
        row = next((r for r in s.tasks if r.task.tcb == tcb), None)
        if row is None:
            raise RtosError("that task is gone (it was deleted, or belongs to an earlier stop).")
        return row

    def frames(self, k: int) -> list[Any]:
        with self._lock:
            cached = self._frames.get(k)
        if cached is not None:
            return cached
        row = self._task(k)
        m = self.live.monitor
        frames = m.frames(m.context(row.task).registers, row.task, TASK_THREAD_BASE + k)
        with self._lock:
            self._frames[k] = frames
        return frames

    def _raw(self, k: int) -> list[Any]:
        with self._lock:
            cached = self._raws.get(k)
        if cached is not None:
            return cached
        m = self.live.monitor
        if k == CPU:
            regs = self._cpu_regs
            row = self._snapshot().running
            task = row.task if row is not None and self._on_stack(row.task, regs) else None
            raw = m.raw_frames(regs, task)
        else:
            row = self._task(k)
            raw = m.raw_frames(m.context(row.task).registers, row.task)
        with self._lock:
            self._raws[k] = raw
        return raw

    def _on_stack(self, task: Any, regs: dict[int, int]) -> bool:
        """Whether the CPU's stack pointer is in ``task``'s stack (not in an interrupt's)."""
        from firmwatch.rtos.context import SP

        sp = regs.get(SP[self.live.monitor.layout.arch])
        high = (task.stack_end + 4) if task.stack_end is not None else task.top_of_stack + (1 << 16)
        return sp is not None and task.stack_base <= sp <= high

    # -- the running task (the CPU thread) over a transport that does not unwind ----------------
    def cpu_frames(self, registers: dict[str, int], thread_id: int | None) -> list[Any]:
        """The stopped CPU's call stack, unwound here from its registers (by name) and the ELF's
        call-frame information, within the running task's stack when the CPU is on it."""
        from firmwatch.rtos.context import ARM_NAMES, RISCV_NAMES

        m = self.live.monitor
        names = ARM_NAMES if m.layout.arch == "ARM" else RISCV_NAMES
        number = {v: k for k, v in names.items()}
        regs = {number[n]: v for n, v in registers.items() if n in number}
        with self._lock:
            self._cpu_regs = regs
            self._raws.pop(CPU, None)
        row = self._snapshot().running
        task = row.task if row is not None and self._on_stack(row.task, regs) else None
        return m.frames(regs, task, thread_id)

    def variables(self, k: int, level: int) -> list[Any]:
        """The arguments and locals of frame ``level`` of task ``k`` (``CPU``: the stopped CPU's,
        after :meth:`cpu_frames`)."""
        raw = self._raw(k)
        if level >= len(raw):
            return []
        return self.live.monitor.variables(raw[level], level)

    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]:
        import os

        k = thread_id - TASK_THREAD_BASE
        frames = self.frames(k)
        chosen = frames[start:start + levels] if levels else frames[start:]
        out = []
        for f in chosen:
            frame: dict[str, Any] = {"id": TASK_FRAME_BASE + k * FRAMES_PER_TASK + f.id,
                                     "name": f.function or f"0x{f.address:x}", "line": f.line or 0, "column": 0,
                                     "instructionPointerReference": f"0x{f.address:x}"}
            if f.file:
                frame["source"] = {"name": os.path.basename(f.file), "path": f.file}
            else:
                frame["presentationHint"] = "subtle"
            out.append(frame)
        return {"stackFrames": out, "totalFrames": len(frames)}

    def frame_of(self, frame_id: int) -> tuple[int, int]:
        n = frame_id - TASK_FRAME_BASE
        return n // FRAMES_PER_TASK, n % FRAMES_PER_TASK

    def registers(self, frame_id: int) -> list[dict[str, Any]]:
        """The task's registers in that frame: the saved context for the innermost; beyond it the
        ones an unwound frame still has (callee-saved, sp, pc) — the others belong to the calls it made."""
        return self.registers_of(*self.frame_of(frame_id))

    def registers_of(self, k: int, level: int) -> list[dict[str, Any]]:
        raw = self._raw(k)
        if level >= len(raw):
            return []
        from firmwatch.rtos.context import ARM_NAMES, PC, RISCV_NAMES
        from firmwatch.rtos.frame_vars import CALLEE_SAVED

        arch = self.live.monitor.layout.arch
        names = ARM_NAMES if arch == "ARM" else RISCV_NAMES
        keep = None if level == 0 else CALLEE_SAVED.get(arch, frozenset()) | {PC[arch]}
        regs = {n: v for n, v in raw[level].registers.items() if keep is None or n in keep}
        return [{"name": names.get(n, f"r{n}"), "value": f"0x{v:08x}", "variablesReference": 0}
                for n, v in sorted(regs.items())]
