"""Live RTOS snapshots of a running target: every task with its state, priorities, stack figures
and CPU share; the registered queues and the active timers — and, when the CPU stands still,
each task's call stack unwound from the context its port saved.

One refresh plans the regions it expects to need (the kernel's variables, every TCB, queue and
timer it knows, each task's stack-scanner window) and fetches them together: over a halting
transport in one halt (``ExecutionControl.snapshot``, within the transport's intrusion budget),
over the streamer as a batch of reads while the CPU runs. The reader
(:mod:`firmwatch.rtos.freertos`) then checks the image; a read it could not serve (a task it had
not seen) is added to the plan and fetched again, and an image that is not one state of the
kernel (a list changed between two reads) is read again, up to :data:`ATTEMPTS` times. When no
attempt gives a consistent image the snapshot says so (``complete`` False, with the reasons) and
keeps the last complete task table, marked with its age: a wrong table is never shown.

The first refresh reads the whole FreeRTOS heap (``ucHeap``) when there is one, so every TCB and
stack is found in one round; later refreshes read only what changed place.

This engine knows symbols and the Target / execution-control protocols only; the CLI, the debug
adapter and VS Code present what it returns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from firmwatch.rtos.context import Context, context_size, saved_context
from firmwatch.rtos.frame_vars import FrameVar, FrameVars
from firmwatch.rtos.freertos import (
    Image,
    Inconsistent,
    KernelState,
    Miss,
    Queue,
    Task,
    Timer,
    find_dormant_timers,
    kernel_regions,
    read_kernel,
    timer_region,
)
from firmwatch.rtos.layout import KernelLayout, PortContext, RtosError, analyse, detect_port
from firmwatch.rtos.unwind import RawFrame, Unwinder
from firmwatch.session.stack_scan import StackMark, StackScanner
from firmwatch.symbols.program import Program
from firmwatch.targets.base import Region, Target, TargetError
from firmwatch.targets.control import Capability, ExecutionControl, Frame

ATTEMPTS = 6
FILL = 0xA5  # tskSTACK_FILL_BYTE: the kernel paints every new stack with it
MERGE_GAP = 48  # regions closer than this are read as one
HEAP_COLD_MAX = 64 * 1024  # read the whole heap on the first refresh when it is at most this big
SEEN_MAX = 256
# In one halt, the TCBs of this many tasks gone since are read too: tasks created and deleted all
# the time often reuse the same few blocks of the heap, and a task the plan missed costs a halt.
RECENT_TCBS = 16
# Read region by region (the streamer), a stack's high-water edge is re-scanned every this many
# refreshes: it moves rarely, and its two reads per task are most of a snapshot's round trips.
STACK_EVERY = 4
# A stack-scanner probe must be wider than the unwritten holes a frame leaves (RISC-V's 16-byte
# alignment leaves 16 untouched bytes at the bottom of a frame: a 16-byte probe there takes them
# for paint and stops above the real edge); the audit re-reads this much of the paint per scan.
STACK_WINDOW = 32
STACK_AUDIT = 128
# Timers that are not running are in no kernel list: they are looked for in the heap this often
# (one read of the whole heap; over a halting server one longer halt), and re-read every refresh
# once found.
HEAP_SCAN_S = 30.0


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task with the figures the monitor adds to what the kernel holds."""

    task: Task
    stack_size: int | None  # bytes (None without pxEndOfStack)
    stack_peak: int | None  # bytes used at the deepest (from the top down to the high-water edge)
    stack_free_min: int | None  # bytes never written: what uxTaskGetStackHighWaterMark reports, in bytes
    cpu: float | None  # share of run time since the previous refresh (0..1)
    cpu_total: float | None  # share of all run time since start

    @property
    def high_water_words(self) -> int | None:
        return None if self.stack_free_min is None else self.stack_free_min // 4


@dataclass
class RtosSnapshot:
    tasks: list[TaskRow]
    queues: list[Queue]
    timers: list[Timer]
    current: int
    tick: int | None
    scheduler: str
    complete: bool  # False: no consistent image this time; tasks are the last complete ones
    age_s: float  # how old the tasks are (0 for a complete snapshot)
    problems: list[str]  # why the image was read again / why it is incomplete
    attempts: int
    bytes_read: int
    reads: int  # fetches (one halt each over a halting transport)
    halted_s: float  # time this refresh kept a running CPU halted
    elapsed_ms: float
    host_time: float
    notes: list[str] = field(default_factory=list)
    stacks_scanned: bool = True  # the stack figures were re-scanned this refresh (else carried over)

    def task(self, name: str) -> TaskRow | None:
        return next((r for r in self.tasks if r.task.name == name), None)

    @property
    def running(self) -> TaskRow | None:
        return next((r for r in self.tasks if r.task.tcb == self.current), None)


class _StackMiss(Miss):
    """Stack bytes to read (before the TCBs) and scan again."""


TaskKey = tuple[int, int | None, str]


def task_key(t: Task) -> TaskKey:
    """A task's identity across snapshots. Not its TCB address alone: the kernel often gives a new
    task the TCB and stack of one just deleted, and what is kept per task (its stack scanner, whose
    edge only moves down, and its run time) must start again for it. The task number
    (configUSE_TRACE_FACILITY) is unique per task created; without it the name tells most apart."""
    return (t.tcb, t.number, t.name)


_CLONE = re.compile(r"\.(isra|constprop|part|cold|lto_priv|localalias)(\.\d+)*")


def _plain(name: str | None) -> str | None:
    """A function's source name: gcc's clones (recurse.isra.0, f.constprop.1, f.part.0) are the function."""
    return None if name is None else _CLONE.sub("", name)


def _merge(regions: Sequence[tuple[int, int]]) -> list[Region]:
    out: list[list[int]] = []
    for a, n in sorted((a, n) for a, n in regions if n > 0):
        if out and a <= out[-1][1] + MERGE_GAP:
            out[-1][1] = max(out[-1][1], a + n)
        else:
            out.append([a, a + n])
    return [Region(a, b - a) for a, b in out]


class RtosMonitor:
    """Refreshes the RTOS view of one target. Call ``refresh`` from one thread at a time."""

    def __init__(self, program: Program, target: Target):
        self.program = program
        self.target = target
        self.layout: KernelLayout = analyse(program)
        self.port: PortContext | None = detect_port(program)
        self._unwinder: Unwinder | None = None
        self._scanners: dict[TaskKey, StackScanner] = {}
        self._seen_tcbs: dict[int, None] = {}  # every TCB address seen (insertion-ordered, bounded)
        self._objects: set[tuple[int, int]] = set()  # queues and timers: (address, size)
        self._strings: list[tuple[int, bytes]] = []  # constant names (queue, timer), read once
        self._const_wanted: set[tuple[int, int]] = set()
        self._flash: list[tuple[int, bytes]] | None = None
        self._last: KernelState | None = None
        self._last_rows: list[TaskRow] = []
        self._last_time = 0.0
        self._last_complete = 0.0
        self._prev_runtime: tuple[int, dict[TaskKey, int]] | None = None
        self._cold = True
        self._marks: dict[TaskKey, StackMark] = {}
        self._coherent_now = True
        self._dormant: dict[int, None] = {}  # timers found in the heap that were not running
        self._heap_scanned = float("-inf")  # when the heap was last searched for them (monotonic)
        self._functions: set[int] | None = None
        self.halts = 0
        self.halted_s = 0.0  # total, over this monitor's life
        self.refreshes = 0
        self.incomplete = 0

    # -- fetching ---------------------------------------------------------------------------------
    def _control(self) -> ExecutionControl | None:
        try:
            ctl = self.target.control()
        except NotImplementedError:
            return None
        return ctl if Capability.HALT in ctl.capabilities else None

    def _coherent(self) -> bool:
        """Whether one fetch is one instant of the target: a halting transport's snapshot, or a
        stopped CPU."""
        if self._control() is not None:
            return True
        try:
            from firmwatch.targets.control import RunState

            return self.target.control().state == RunState.STOPPED
        except (NotImplementedError, TargetError):
            return False

    def _scan_now(self, coherent: bool) -> bool:
        return coherent or self.refreshes % STACK_EVERY == 0

    def _in_ram(self, address: int) -> bool:
        lay = self.layout
        if lay.heap is not None and lay.heap.address <= address < lay.heap.address + lay.heap.size:
            return True
        sec = self.program.section_at(address)
        return sec is not None and "W" in sec.flags

    def _fetch(self, regions: list[Region]) -> tuple[list[tuple[int, bytes]], int, float, int]:
        """(chunks, bytes, seconds halted, fetches) for ``regions``, coherently where the transport can."""
        ctl = self._control()
        if ctl is not None:
            snap = ctl.snapshot((), regions)
            chunks = [(r.address, d) for r, d in zip(regions, snap.memory, strict=True)]
            return chunks, sum(len(d) for d in snap.memory), snap.halted_s, 1
        if "read-batch" in self.target.capabilities:
            data = list(self.target.read_batch(regions))
            return [(r.address, d) for r, d in zip(regions, data, strict=True)], sum(len(d) for d in data), 0.0, 1
        chunks = [(r.address, self.target.read(r.address, r.size)) for r in regions]
        return chunks, sum(len(d) for _, d in chunks), 0.0, len(regions)

    def _is_function(self, address: int) -> bool:
        """Whether ``address`` is a function's entry (a callback pointer; Thumb's bit 0 aside)."""
        if self._functions is None:
            self._functions = {s.address & ~1 for s in self.program.symbols if s.kind == "function"}
        return address != 0 and address & ~1 in self._functions

    def _heap_scan_due(self) -> bool:
        lay = self.layout
        return (lay.timer is not None and lay.heap is not None and lay.heap.size <= HEAP_COLD_MAX
                and time.monotonic() - self._heap_scanned >= HEAP_SCAN_S)

    def _plan(self, extra: list[tuple[int, int]], stacks: list[tuple[int, int]], coherent: bool,
              whole_heap: bool = False) -> list[Region]:
        """What to fetch. Read region by region (not ``coherent``), each TCB, queue and timer is a
        region of its own, so that it is copied in one piece (the streamer copies each region
        atomically): the reader then trusts each of them as of its own instant. The stacks are read
        before the TCBs (see :meth:`_rows`)."""
        lay = self.layout
        want = list(kernel_regions(lay)) + list(self._const_wanted) + list(stacks)
        whole = [(tcb, lay.tcb.size) for tcb in self._seen_tcbs] + list(self._objects) + list(extra)
        whole += [timer_region(lay, h) for h in self._dormant]
        heap = lay.heap is not None and lay.heap.size <= HEAP_COLD_MAX
        if coherent:
            want += whole
            if (self._cold or whole_heap or self._heap_scan_due()) and heap:
                want.append((lay.heap.address, lay.heap.size))
        elif self._heap_scan_due() and heap:
            assert lay.heap is not None
            want.append((lay.heap.address, lay.heap.size))
        if self._last is not None:
            for t in self._last.tasks:
                sc = self._scanners.get(task_key(t))
                if sc is None or sc.edge is None:
                    hi = (t.stack_end + 4) if t.stack_end is not None else t.top_of_stack + 64
                    want.append((t.stack_base, hi - t.stack_base))
                elif self._scan_now(coherent) or task_key(t) not in self._marks:
                    want += sc.planned()
        if coherent:
            return _merge(want)
        return _merge(want) + [Region(a, n) for a, n in dict.fromkeys(whole)]

    # -- refreshing -------------------------------------------------------------------------------
    def refresh(self) -> RtosSnapshot:
        t0 = time.perf_counter()
        extra: list[tuple[int, int]] = []
        stacks: list[tuple[int, int]] = []
        # tasks whose TCB was read before this attempt's stack reads (see _rows)
        before = {task_key(t) for t in self._last.tasks} if self._last is not None else set()
        problems: list[str] = []
        nbytes = reads = 0
        halted = 0.0
        state: KernelState | None = None
        rows: list[TaskRow] | None = None
        attempts = 0
        coherent = self._coherent_now = self._coherent()
        limit = ATTEMPTS + (8 if self._last is None else 0)  # the first refresh discovers the tasks
        while attempts < limit:
            attempts += 1
            # one halt is one instant: a task the last halt missed may be gone by the next, and
            # another new in its place; from the third halt on, read the whole heap (every TCB
            # and stack is in it)
            chunks, n, h, r = self._fetch(self._plan(extra, stacks, coherent, whole_heap=attempts > 2))
            nbytes, halted, reads = nbytes + n, halted + h, reads + r
            img = Image(chunks + self._strings, self.layout.byteorder, self.layout.pointer_size, self._constant)
            for a, size in list(self._const_wanted):  # constants read once stay cached
                if img.has(a, size):
                    self._strings.append((a, img.read(a, size)))
                    self._const_wanted.discard((a, size))
            try:
                while len(self._seen_tcbs) > SEEN_MAX:
                    self._seen_tcbs.pop(next(iter(self._seen_tcbs)))
                timers = [*self._dormant, *(t.handle for t in self._last.timers)] if self._last else list(self._dormant)
                state = read_kernel(self.layout, img, coherent, self._seen_tcbs, self._in_ram, timers,
                                    self._is_function)
                rows = self._rows(state, img, None if coherent else before)
            except _StackMiss as m:
                stacks += m.regions
                if state is not None:
                    before |= {task_key(t) for t in state.tasks}
                state = None
                continue
            except Miss as m:
                self._missed(m, extra)
                state = None
                continue
            except Inconsistent as e:
                problems.append(str(e))
                state = None
                continue
            break
        now = time.time()
        self.refreshes += 1
        self.halts += reads if self._control() is not None else 0
        self.halted_s += halted
        self._cold = False
        if state is None or rows is None:
            self.incomplete += 1
            last = self._last
            why = problems or ["the tasks it found kept changing place"]
            return RtosSnapshot(self._last_rows, last.queues if last else [], last.timers if last else [],
                                last.current if last else 0, last.tick if last else None,
                                last.scheduler if last else "unknown", False,
                                (now - self._last_complete) if last else 0.0, why, attempts, nbytes, reads, halted,
                                1000 * (time.perf_counter() - t0), now, list(self.layout.notes), False)
        self._remember(state, coherent)
        self._find_timers(img, state)
        self._last, self._last_rows, self._last_complete = state, rows, now
        return RtosSnapshot(rows, state.queues, state.timers, state.current, state.tick, state.scheduler, True, 0.0,
                            problems, attempts, nbytes, reads, halted, 1000 * (time.perf_counter() - t0), now,
                            list(self.layout.notes), self._scan_now(coherent))

    def _constant(self, address: int, size: int) -> bytes | None:
        """Bytes of a read-only section (a queue's or timer's name in flash), from the ELF file: the
        target need not be asked for what cannot change. Clipped at the section's end."""
        if self._flash is None:
            from elftools.elf.elffile import ELFFile

            self._flash = []
            try:
                with open(self.program.elf.path, "rb") as f:
                    for sec in ELFFile(f).iter_sections():
                        a, flags = sec["sh_addr"], sec["sh_flags"]
                        if sec["sh_type"] != "SHT_NOBITS" and a and flags & 0x2 and not flags & 0x1:  # ALLOC, not WRITE
                            self._flash.append((a, sec.data()))
            except OSError:
                pass
        for a, data in self._flash:
            if a <= address < a + len(data):
                return data[address - a:address - a + size]
        return None

    def _missed(self, m: Miss, extra: list[tuple[int, int]]) -> None:
        """Plan what the reader missed: a constant (a name in flash) once for good; in RAM the
        structure around it (an item inside a TCB, a queue or a timer: the TCB when the item is
        its state item, the usual case)."""
        lay = self.layout
        for address, size in m.regions:
            sec = self.program.section_at(address)
            if sec is not None and "W" not in sec.flags:
                data = self._constant(address, min(size, sec.address + sec.size - address))
                if data is not None:
                    self._strings.append((address, data))
                else:
                    self._const_wanted.add((address, min(size, sec.address + sec.size - address)))
            elif size >= lay.tcb.size:
                extra.append((address, size))
            else:
                start = address - lay.tcb.off("xStateListItem") - lay.item.off("pvOwner")
                extra.append((start, lay.tcb.size) if start <= address and address + size <= start + lay.tcb.size
                             else (address, size))

    def _find_timers(self, img: Image, state: KernelState) -> None:
        """With the whole heap in this image: the timers in it that are not running."""
        lay = self.layout
        # the ones not running now are read every refresh (a timer that stops or expires is read
        # through the last refresh's timers)
        self._dormant = dict.fromkeys(t.handle for t in state.timers if not t.active)
        if lay.timer is None or lay.heap is None or not img.has(lay.heap.address, lay.heap.size):
            return
        exclude = {t.tcb for t in state.tasks} | {q.handle for q in state.queues} | {t.handle for t in state.timers}
        try:
            found = find_dormant_timers(lay, img, lay.heap.address, lay.heap.size, exclude, self._is_function)
        except (Miss, Inconsistent):
            return  # a name outside the image: the next scan
        self._dormant.update(dict.fromkeys(t.handle for t in found))
        state.timers += found  # read from this image like the rest
        self._heap_scanned = time.monotonic()

    def _remember(self, state: KernelState, coherent: bool) -> None:
        # a complete read names every live TCB: the plan follows them (deleted tasks drop out; in
        # one halt a few recent ones stay, where the next task is likely to be created)
        recent = [a for a in self._seen_tcbs if a not in {t.tcb for t in state.tasks}][-RECENT_TCBS:] if coherent else []
        self._seen_tcbs = dict.fromkeys([*recent, *(t.tcb for t in state.tasks)])
        objects = set()
        if self.layout.queue is not None:
            objects |= {(q.handle, self.layout.queue.size) for q in state.queues}
        if self.layout.timer is not None:
            objects |= {timer_region(self.layout, t.handle) for t in state.timers}
        self._objects = objects
        keys = {task_key(t) for t in state.tasks}
        for k in list(self._scanners):
            if k not in keys:
                del self._scanners[k]

    def _rows(self, state: KernelState, img: Image, trusted: set[TaskKey] | None) -> list[TaskRow]:
        """The table, with each task's stack figures. Read region by region, a stack's bytes are a
        task's only if that task lived when they were read: the stacks are fetched before the TCBs,
        and a task's are used only when its TCB was also read before them (``trusted``: an earlier
        refresh or attempt saw it), so the same task (by its number) held that stack all the while.
        Otherwise a task deleted meanwhile and another created on its memory would lend the new
        task the old one's stack. A task new since the last refresh is listed without stack figures
        until the next one reads its stack (the first refresh reads again instead: every task is
        new then). None: one coherent image, all trusted."""
        total = state.total_runtime
        prev = self._prev_runtime
        rows = []
        marks = {}
        missing: list[tuple[int, int]] = []
        for t in state.tasks:
            key = task_key(t)
            sc = self._scanners.get(key)
            high = (t.stack_end + 4) if t.stack_end is not None else None
            if sc is None or sc.low != t.stack_base or (high is not None and sc.high != high):
                sc = StackScanner(t.stack_base, high if high is not None else max(t.top_of_stack, t.stack_base + 4),
                                  pattern=FILL, window=STACK_WINDOW, audit=STACK_AUDIT)
                self._scanners[key] = sc
            if not self._scan_now(self._coherent_now) and key in self._marks and sc.edge is not None:
                marks[key] = self._marks[key]  # scanned a refresh or two ago: the edge moves rarely
                continue
            # a first scan, or one that must gallop past its window, reads the rest of the stack at once
            whole = (sc.low, (sc.edge if sc.edge is not None else sc.high) - sc.low)
            if trusted is not None and key not in trusted:
                if self._last is None:
                    missing.append(whole)  # read again, now that this task is known to exist
                continue
            if sc.edge is None and not img.has(*whole):
                missing.append(whole)
                continue
            try:
                marks[key] = sc.scan(img.read, sp=t.top_of_stack)
            except Miss:
                missing.append(whole)
        if missing:
            raise _StackMiss(missing[0][0], missing[0][1], tuple(missing[1:]))
        self._marks = marks
        for t in state.tasks:
            mark = marks.get(task_key(t))  # None: a new task whose stack the next refresh reads
            edge = mark.edge if mark is not None else None
            high = (t.stack_end + 4) if t.stack_end is not None else None
            free = None if edge is None else edge - t.stack_base
            peak = None if edge is None or high is None else high - edge
            cpu = cpu_total = None
            if t.run_time is not None and total:
                cpu_total = min(1.0, t.run_time / total)
                if prev is not None and task_key(t) in prev[1] and total > prev[0]:
                    cpu = max(0.0, min(1.0, (t.run_time - prev[1][task_key(t)]) / (total - prev[0])))
            rows.append(TaskRow(t, t.stack_size, peak, free, cpu, cpu_total))
        if total is not None:
            self._prev_runtime = (total, {task_key(t): t.run_time or 0 for t in state.tasks})
        return rows

    # -- when the CPU stands still: each task's call stack ---------------------------------------
    def unwinder(self) -> Unwinder:
        if self.port is None:
            raise RtosError("firmwatch does not know this kernel port's saved context (it knows GCC/ARM_CM3, "
                            "GCC/ARM_CM4F and GCC/RISC-V), so tasks other than the running one show no call stack.")
        if self._unwinder is None:
            self._unwinder = Unwinder(self.program.elf.path, self.layout.arch, self.layout.byteorder)
        return self._unwinder

    def context(self, task: Task, read: Callable[[int, int], bytes] | None = None) -> Context:
        """The registers ``task`` resumes with (not for the running task: its are the CPU's)."""
        if self.port is None:
            self.unwinder()  # raises the sentence
        assert self.port is not None
        rd = read or self.target.read
        try:
            return saved_context(self.port, rd, task.top_of_stack, self.layout.byteorder)
        except TargetError as e:
            raise RtosError(f"the saved context of task '{task.name}' could not be read: {e}") from None

    def raw_frames(self, registers: dict[int, int], task: Task | None,
                   read: Callable[[int, int], bytes] | None = None) -> list[RawFrame]:
        rd = read or self.target.read
        if task is not None:
            low = task.stack_base
            high = (task.stack_end + 4) if task.stack_end is not None else task.stack_base + (1 << 16)
        else:
            low, high = 0, 1 << 32
        return self.unwinder().unwind(registers, rd, low, high)

    def frames(self, registers: dict[int, int], task: Task | None, thread_id: int | None = None,
               read: Callable[[int, int], bytes] | None = None) -> list[Frame]:
        """The call stack from ``registers`` (a task's saved context, or a stopped CPU's), each frame
        named from the ELF and placed on its source line."""
        from firmwatch.profiler.symbolize import Symbolizer

        sym = getattr(self, "_symbolizer", None)
        if sym is None:
            sym = self._symbolizer = Symbolizer(self.program)
        out = []
        for level, f in enumerate(self.raw_frames(registers, task, read)):
            entry = level > 0 and self.program.symbolize(f.pc) == sym.containing(f.pc)
            # a caller's pc is a return address: its call is the instruction before it. One at a
            # function's very entry was planted, not called from (the port's task-exit trap)
            if entry:
                break
            at = f.pc if level == 0 else f.pc - 1
            line = sym.line(at)
            out.append(Frame(level, _plain(sym.containing(at)), line.file if line else None, line.line if line else None,
                             f.pc, thread_id))
        return out

    def variables(self, frame: RawFrame, level: int, read: Callable[[int, int], bytes] | None = None) -> list[FrameVar]:
        """The arguments and locals of one unwound frame (level 0: the innermost, all its registers
        known), typed and read from the target."""
        fv = getattr(self, "_frame_vars", None)
        if fv is None:
            fv = self._frame_vars = FrameVars(self.program, self.layout.arch)
        rd = read or self.target.read
        return fv.variables(frame.pc if level == 0 else frame.pc - 1, frame.registers, frame.cfa, rd, level > 0)

    def context_regions(self, state_tasks: Sequence[Task]) -> list[Region]:
        if self.port is None:
            return []
        n = context_size(self.port)
        return _merge([(t.top_of_stack, n) for t in state_tasks])
