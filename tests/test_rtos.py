"""RTOS awareness (issue 15) through the real parts: the FreeRTOS demo (firmware/rtos) built in the
run from the unmodified kernel, on QEMU Cortex-M3 (port GCC/ARM_CM3) and QEMU RISC-V (port
GCC/RISC-V), read over the streamer and over QEMU's gdb stub.

The oracle is the kernel itself: the demo's report task fills ``rtos_report`` from
``uxTaskGetSystemState`` when the test asks (a write), and the test compares names, states,
priorities and stack high-water marks with the live table. A deeper-driven task must show a lower
high-water mark; at a breakpoint inside one task every other task's call stack, unwound from its
saved context, must end in the function that task runs; and hundreds of snapshots (thousands on a
quiet machine) while tasks are created and deleted every 2 ms must hold no wrong record.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

import rtos_builds
from firmwatch import sim
from firmwatch.rtos.monitor import STACK_AUDIT, RtosMonitor, RtosSnapshot
from firmwatch.session.connect import open_target
from firmwatch.symbols import load
from firmwatch.symbols.expr import compile_expression
from firmwatch.targets.control import BreakpointSpec, Location, RunState
from tools import require_board, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

BOARDS = ("cortex-m3-freertos", "riscv32-freertos")
# the demo's tasks: entry function, priority, stack words (rtos_demo.c; the kernel's own two from FreeRTOSConfig.h)
TASKS = {"stream": ("stream_task", 4, 256), "consumer": ("consumer_task", 3, 192), "producer": ("producer_task", 2, 256),
         "depth": ("depth_task", 1, 600), "report": ("report_task", 1, 256), "parked": ("parked_task", 1, 192),
         "IDLE": ("prvIdleTask", 0, 192), "Tmr Svc": ("prvTimerTask", 5, 256), "temp": ("temp_task", 1, 192),
         "temp deep": ("temp_task", 1, 192)}
TEMPS = ("temp", "temp deep")  # short-lived (churn); "temp deep" writes 400 bytes more of its stack
TEMP_DEEP_BYTES = 400
STATES = {0: "running", 1: "ready", 2: "blocked", 3: "suspended", 4: "deleted"}
# a task whose state is the same whenever the kernel or the reader looks
STEADY = {"parked": "suspended"}


@pytest.fixture
def device():
    started: list[sim.SimDevice] = []

    def start(board: str) -> sim.SimDevice:
        require_board(board)
        started.append(sim.start_sim(board, build_dir=rtos_builds.build_dir(board), tcp=True))
        return started[-1]

    yield start
    for dev in started:
        dev.stop()


@dataclass
class Reported:
    name: str
    tcb: int
    state: str
    priority: int
    base_priority: int
    high_water_words: int


class Kernel:
    """The demo's rtos_report: the kernel's uxTaskGetSystemState, asked for with a write."""

    def __init__(self, program, target):
        self.p, self.t = program, target
        f = lambda e: compile_expression(program, e)  # noqa: E731
        self.request, self.done, self.count = f("rtos_report.request"), f("rtos_report.done"), f("rtos_report.count")
        self.t0, t1 = f("rtos_report.tasks[0]"), f("rtos_report.tasks[1]")
        self.stride = t1.address - self.t0.address
        self.fields = {n: f(f"rtos_report.tasks[0].{n}") for n in
                       ("xHandle", "eCurrentState", "uxCurrentPriority", "uxBasePriority", "usStackHighWaterMark")}
        self.n = 0

    def _u(self, c) -> int:
        return int.from_bytes(self.t.read(c.address, c.size), "little")

    def report(self) -> dict[int, Reported]:
        self.n = self._u(self.request) + 1
        self.t.write(self.request.address, self.n.to_bytes(4, "little"))
        wait_for(lambda: self._u(self.done) == self.n, 10, "the demo's report task to answer")
        count = self._u(self.count)
        raw = self.t.read(self.t0.address, self.stride * count)
        out = {}
        for i in range(count):
            def fld(name, i=i):
                c = self.fields[name]
                off = i * self.stride + c.address - self.t0.address
                return int.from_bytes(raw[off:off + c.size], "little")
            tcb = fld("xHandle")
            name = self.t.read(tcb + self._name_offset(), 12).split(b"\0")[0].decode()
            out[tcb] = Reported(name, tcb, STATES[fld("eCurrentState")], fld("uxCurrentPriority"),
                                fld("uxBasePriority"), fld("usStackHighWaterMark"))
        return out

    def _name_offset(self) -> int:
        from firmwatch.rtos.layout import analyse

        return analyse(self.p).tcb.off("pcTaskName")


def _open(dev, via: str, budget: float | None = 0.01):
    program = load(str(dev.elf))
    if via == "port":
        return program, open_target(port=dev.port, program=program)
    return program, open_target(gdb=dev.gdb, program=program, budget=budget)


def _complete(m: RtosMonitor, tries: int = 20) -> RtosSnapshot:
    for _ in range(tries):
        s = m.refresh()
        if s.complete:
            return s
    raise AssertionError(f"no complete snapshot in {tries} refreshes: {s.problems}")


def _agreed(m: RtosMonitor, k: Kernel, names: set[str], need: int) -> tuple[RtosSnapshot, dict[int, Reported]]:
    """Refresh until the live table's stack high-water mark equals the kernel's own for every named
    task whose kernel figure held still across the refresh, and for at least ``need`` of them. The
    scanner may trail a change by one sweep of its audit over the paint below the edge (a write its
    descent stepped over): that many refreshes that re-scan the stacks are allowed after the
    kernel's figures last moved, no more."""
    before, scans, budget = k.report(), 0, None
    deadline = time.monotonic() + 120
    while True:
        s = _complete(m)
        if not s.stacks_scanned:  # over the streamer the figures are re-scanned every STACK_EVERY refreshes
            continue
        after = k.report()
        ours = {r.task.tcb: r for r in s.tasks}
        named = [tcb for tcb, rep in after.items() if rep.name in names and tcb in ours]
        steady = [tcb for tcb in named if tcb in before and before[tcb].high_water_words == after[tcb].high_water_words]
        wrong = {after[t].name: (ours[t].high_water_words, after[t].high_water_words) for t in steady
                 if ours[t].high_water_words != after[t].high_water_words}
        if len(steady) >= need and not wrong:
            return s, after
        if budget is None or len(steady) < len(named):  # (again) from the last change of the kernel's figures
            scans = 0
            budget = 2 + max(math.ceil((ours[t].stack_free_min or 0) / STACK_AUDIT) for t in named)
        scans += 1
        assert scans <= budget, f"the live stack figures (ours, the kernel's) in words: {wrong}"
        assert time.monotonic() < deadline, "the kernel's stack figures kept moving"
        before = after


@pytest.mark.parametrize("via", ["port", "gdb"])
@pytest.mark.parametrize("board", BOARDS)
def test_table_matches_the_kernel(device, board, via):
    dev = device(board)
    program, t = _open(dev, via, budget=None)
    with t:
        m = RtosMonitor(program, t)
        k = Kernel(program, t)
        wait_for(lambda: k._u(compile_expression(program, "rtos_demo.depth_runs")) > 20, 20, "the demo to run")
        s, after = _agreed(m, k, set(TASKS), 6)
        ours = {r.task.tcb: r for r in s.tasks}
        assert set(ours) == set(after), "the live table and the kernel list different tasks"
        assert len(ours) == 8
        for tcb, rep in after.items():
            row = ours[tcb]
            assert row.task.name == rep.name
            assert row.task.priority == rep.priority, rep.name
            assert row.task.base_priority == rep.base_priority, rep.name
            assert rep.priority == TASKS[rep.name][1], rep.name
            # the usable stack: the words asked for, less the kernel's alignment of the top (8 or 16 bytes)
            assert 4 * TASKS[rep.name][2] - 16 < row.stack_size <= 4 * TASKS[rep.name][2], rep.name
            if rep.name in STEADY:
                assert rep.state == row.task.state == STEADY[rep.name], rep.name
        consumer = next(r for r in s.tasks if r.task.name == "consumer")  # woken for a moment every 20 ms
        if consumer.task.state == "blocked":
            assert consumer.task.blocked_on == "queue 'rx queue' (receive)"
        queues = {q.name: q for q in s.queues}
        assert set(queues) >= {"rx queue", "demo mutex", "tick sem"}
        assert queues["rx queue"].length == 8 and queues["rx queue"].item_size == 4
        assert queues["demo mutex"].kind == "mutex" and queues["tick sem"].kind == "binary semaphore"
        timers = {tm.name: tm for tm in s.timers}
        assert set(timers) == {"blink", "oneshot"}, timers
        assert timers["blink"].active and timers["blink"].period == 50 and timers["blink"].auto_reload
        assert not timers["oneshot"].active and timers["oneshot"].period == 200 and timers["oneshot"].expiry is None
        if via == "gdb":  # one instant: the tasks' run-time counters add up to the kernel's total
            assert sum(r.cpu_total or 0 for r in s.tasks) == pytest.approx(1.0, abs=0.02)
            assert s.reads == 1, "a snapshot over a halting server takes one halt"


@pytest.mark.parametrize(("board", "via"), [("cortex-m3-freertos", "port"), ("cortex-m3-freertos", "gdb"),
                                           ("riscv32-freertos", "gdb")])
def test_timer_not_running_then_running(device, board, via):
    """A timer in no kernel list (created, not started; a one-shot after it fired) is listed as
    not running; started, it is running with its expiry; fired, it is not running again."""
    dev = device(board)
    program, t = _open(dev, via, budget=None)
    with t:
        m = RtosMonitor(program, t)
        start, fires = (compile_expression(program, f"rtos_demo.{n}") for n in ("oneshot_start", "oneshot_fires"))
        u = lambda c: int.from_bytes(t.read(c.address, 4), "little")  # noqa: E731

        def oneshot():
            s = _complete(m)
            return s, next((tm for tm in s.timers if tm.name == "oneshot"), None)

        s, tm = oneshot()
        assert tm is not None and not tm.active and tm.expiry is None and tm.auto_reload is False
        handle = tm.handle
        t.write(start.address, (1).to_bytes(4, "little"))
        seen = []

        def running():
            s, tm = oneshot()
            seen.append(tm)
            return tm is not None and tm.active and (s, tm)

        s, tm = wait_for(running, 20, "the oneshot timer running")
        # due within its period; over the streamer the tick count is read a few ms from the timer (1 ms ticks)
        skew = 0 if via == "gdb" else math.ceil(s.elapsed_ms) + 1
        due = ((tm.expiry - s.tick + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        assert tm.handle == handle and -skew < due <= 200 + skew, (tm, s.tick)
        assert u(fires) == 0, "it fired before it was seen running"
        wait_for(lambda: u(fires) == 1, 20, "the oneshot timer to fire")
        s, tm = wait_for(lambda: (r := oneshot())[1] is not None and not r[1].active and r, 20,
                         "the oneshot timer not running again")
        assert tm.handle == handle and tm.expiry is None
        assert all(x is not None for x in seen), "the timer went missing from a complete snapshot"


@pytest.mark.parametrize("board", BOARDS)
def test_deeper_task_shows_lower_high_water(device, board):
    dev = device(board)
    program, t = _open(dev, "port")
    with t:
        m = RtosMonitor(program, t)
        depth = compile_expression(program, "rtos_demo.stack_depth")
        deepest = compile_expression(program, "rtos_demo.deepest")
        k = Kernel(program, t)
        shallow = _agreed(m, k, {"depth"}, 1)[0].task("depth")
        t.write(depth.address, (20).to_bytes(4, "little"))
        wait_for(lambda: int.from_bytes(t.read(deepest.address, 4), "little") == 20, 20, "the depth task to recurse 20 deep")
        deep = _agreed(m, k, {"depth"}, 1)[0].task("depth")  # equal to the kernel's figure, as above
        assert shallow is not None and deep is not None
        assert deep.stack_free_min < shallow.stack_free_min - 16 * 48, (shallow, deep)
        assert deep.stack_peak > shallow.stack_peak


# where a task that blocks gives up the CPU inside the call it blocked in: the kernel's yield in
# xTaskResumeAll, or the pended switch taken as a critical section ends
YIELD_POINTS = {"xTaskResumeAll", "vPortExitCritical", "vPortYield"}


def _blocked_in(stack: list[str | None], call: str, entry: str) -> bool:
    """``stack`` is ``entry`` calling ``call``, switched out there or in one of the yield points."""
    return stack[-2:] == [call, entry] and set(stack[:-2]) <= YIELD_POINTS


@pytest.mark.parametrize("board", BOARDS)
def test_every_task_stack_at_a_breakpoint(device, board):
    dev = device(board)
    program, t = _open(dev, "gdb")
    with t:
        m = RtosMonitor(program, t)
        ctl = t.control()
        # gcc may clone it (recurse.isra.0): the symbol whose name starts so
        addr = next(sym.address for sym in program.symbols if sym.kind == "function"
                    and sym.name.split(".")[0] == "recurse") & ~1
        # the demo recurses rtos_demo.stack_depth (4) deep: stop in the innermost call, recurse(0)
        stopped = threading.Event()  # the reported stop (the hits passed stop the CPU for a moment too)
        ctl.on_stop(lambda stop: stopped.set())
        bp = ctl.add_breakpoint(BreakpointSpec(Location.at(addr), ignore_count=4))
        wait_for(stopped.is_set, 20, "the breakpoint in the depth task")
        assert ctl.state == RunState.STOPPED
        ctl.remove_breakpoint(bp.id)
        s = m.refresh()
        assert s.complete and s.halted_s == 0
        running = s.running
        assert running is not None and running.task.name == "depth"
        # the CPU's registers by DWARF number (gdb's numbering is DWARF's for r0-r15 and x0-x31, pc)
        regs = {r.number: r.value for r in ctl.registers() if r.value is not None and 0 <= r.number <= 32}
        frames = [f.function for f in m.frames(regs, running.task)]
        # the fifth hit is recurse(0), called by recurse(1) … recurse(4) (tests/test_rsp_hit_count.py holds the
        # rsp transport's count to each call once)
        k = len(frames) - 1
        assert frames == ["recurse"] * 5 + ["depth_task"], frames
        # locals: the innermost frame has all the CPU's registers, so its argument is known; each
        # outer recurse(level) filled its frame[] with level + i
        raw = m.raw_frames(regs, running.task)
        innermost = {v.name: v for v in m.variables(raw[0], 0)}
        assert innermost["level"].value is not None, innermost["level"].why
        assert innermost["level"].value.scalar == 4 - (k - 1)  # the outermost call is recurse(4)
        for j in range(1, k):
            level = innermost["level"].value.scalar + j
            got = {v.name: v for v in m.variables(raw[j], j)}
            assert got["frame"].value is not None, got["frame"].why
            assert got["frame"].value.raw == bytes((level + i) & 0xFF for i in range(48)), (level, got["frame"].value.raw)
            if got["level"].value is not None:
                assert got["level"].value.scalar == level
            else:
                assert got["level"].why in ("optimized out", "not saved in this frame")
        for r in s.tasks:
            if r.task.tcb == s.current:
                continue
            names = [f.function for f in m.frames(m.context(r.task).registers, r.task)]
            assert names[-1] == TASKS[r.task.name][0], (r.task.name, names)
            assert all(n for n in names), (r.task.name, names)
        stack = {r.task.name: [f.function for f in m.frames(m.context(r.task).registers, r.task)]
                 for r in s.tasks if r.task.tcb != s.current}
        assert _blocked_in(stack["consumer"], "xQueueReceive", "consumer_task")
        # a task's frames have their arguments and locals: consumer waits in xQueueReceive(rx_queue, &item, …)
        consumer = next(r.task for r in s.tasks if r.task.name == "consumer")
        craw = m.raw_frames(m.context(consumer).registers, consumer)
        at = stack["consumer"].index("xQueueReceive")  # (a yield inside xTaskResumeAll adds a frame inside it)
        inner = {v.name: v for v in m.variables(craw[at], at)}
        outer = {v.name: v for v in m.variables(craw[at + 1], at + 1)}
        rx = compile_expression(program, "rx_queue")
        assert inner["xQueue"].value.scalar == int.from_bytes(t.read(rx.address, rx.size), "little")
        assert outer["item"].value is not None and outer["item"].value.address is not None
        assert inner["pvBuffer"].value.scalar == outer["item"].value.address
        assert outer["item"].type_name == "uint32_t" and inner["xQueue"].type_name == "QueueHandle_t"
        assert _blocked_in(stack["parked"], "vTaskSuspend", "parked_task")
        assert _blocked_in(stack["report"], "xQueueSemaphoreTake", "report_task") \
            or _blocked_in(stack["report"], "xQueueReceive", "report_task"), stack["report"]
        ctl.resume()


def _wrong(s: RtosSnapshot, heap: tuple[int, int], peaks: dict[tuple[int, int | None], int]) -> list[str]:
    """What is wrong in one snapshot; ``peaks`` (each task's deepest stack so far, by TCB and task
    number) carries over between snapshots: a task's stack peak never shrinks."""
    bad = []
    for r in s.tasks:
        t = r.task
        expect = TASKS.get(t.name)
        if expect is None:
            bad.append(f"unknown task name {t.name!r}")
            continue
        if t.priority != expect[1] or not 4 * expect[2] - 16 < (r.stack_size or 0) <= 4 * expect[2]:
            bad.append(f"{t.name}: priority {t.priority}, stack {r.stack_size}")
        if not heap[0] <= t.stack_base < heap[1] or not heap[0] <= t.tcb < heap[1]:
            bad.append(f"{t.name}: TCB or stack outside the heap")
        if t.state not in ("running", "ready", "blocked", "suspended", "deleted"):
            bad.append(f"{t.name}: state {t.state}")
        # a task that just deleted itself is still the running one until the kernel switches away
        if (t.state == "deleted") != (t.list == "deleted-waiting") and t.state != "running":
            bad.append(f"{t.name}: state {t.state} in list {t.list}")
        if t.name in STEADY and t.state != STEADY[t.name]:
            bad.append(f"{t.name}: {t.state}")
        # a "temp" task taken for the "temp deep" one that had its TCB and stack before shows its peak;
        # a task new since the last refresh may come without stack figures (read region by region)
        if r.stack_peak is None and r.stack_free_min is None and t.name in TEMPS:
            pass
        elif r.stack_peak is None or r.stack_size is None or not 0 < r.stack_peak <= r.stack_size \
                or r.stack_peak + (r.stack_free_min or 0) != r.stack_size:
            bad.append(f"{t.name}: stack peak {r.stack_peak}, free {r.stack_free_min} of {r.stack_size}")
        elif t.name == "temp" and r.stack_peak >= TEMP_DEEP_BYTES:
            bad.append(f"temp at 0x{t.tcb:x} (#{t.number}): stack peak {r.stack_peak} bytes, a 'temp deep' task's")
        key = (t.tcb, t.number)
        if r.stack_peak is not None and r.stack_peak < peaks.get(key, 0):
            bad.append(f"{t.name}: stack peak {r.stack_peak} after {peaks[key]}")
        peaks[key] = max(peaks.get(key, 0), r.stack_peak or 0)
    names = [r.task.name for r in s.tasks if r.task.name not in TEMPS]
    if sorted(names) != sorted(n for n in TASKS if n not in TEMPS):
        bad.append(f"tasks {sorted(names)}")
    return bad


@pytest.mark.parametrize("board", BOARDS)
def test_deleted_task_waiting_for_cleanup(device, board):
    """A task that deleted itself waits in xTasksWaitingTermination until the idle task frees it:
    stopped where the idle task is about to, with one waiting, the table shows it deleted, in the
    deleted-waiting list — the kernel's own count agreeing."""
    dev = device(board)
    program, t = _open(dev, "gdb")
    with t:
        m = RtosMonitor(program, t)
        ctl = t.control()
        waiting = compile_expression(program, "uxDeletedTasksWaitingCleanUp")
        t.write(compile_expression(program, "rtos_demo.churn").address, (1).to_bytes(4, "little"))
        stops = threading.Event()
        ctl.on_stop(lambda stop: stops.set())
        addr = next(sym.address for sym in program.symbols if sym.kind == "function"
                    and sym.name.split(".")[0] == "prvCheckTasksWaitingTermination") & ~1
        bp = ctl.add_breakpoint(BreakpointSpec(Location.at(addr)))
        found = None
        deadline = time.monotonic() + 30
        try:
            while found is None:
                assert time.monotonic() < deadline, "no stop with a task waiting for clean-up in 30 s"
                wait_for(stops.is_set, 20, "the idle task's clean-up")
                stops.clear()
                count = int.from_bytes(t.read(waiting.address, waiting.size), "little")
                if count:
                    s = m.refresh()
                    assert s.complete, s.problems
                    deleted = [r.task for r in s.tasks if r.task.state == "deleted"]
                    assert len(deleted) == count, (count, [(x.name, x.list) for x in deleted])
                    assert all(x.list == "deleted-waiting" and x.name in TEMPS for x in deleted), deleted
                    found = deleted
                ctl.resume()
        finally:
            ctl.remove_breakpoint(bp.id)
        assert found


# The churn runs for a time, not a count: each snapshot over a loaded machine's QEMU stub can take
# ten times as long as on a quiet one. It stops once it has checked MIN_COMPLETE complete snapshots
# and seen what it must see (short-lived tasks, a "temp deep" one past its deep call) and
# CHURN_MIN_S has passed, and fails at CHURN_MAX_S if it has not.
CHURN_MIN_S = 8.0
CHURN_MAX_S = 40.0


@pytest.mark.parametrize(("board", "via", "min_complete"),
                         [("cortex-m3-freertos", "gdb", 300), ("riscv32-freertos", "gdb", 300),
                          ("cortex-m3-freertos", "port", 8)])
def test_snapshots_while_tasks_churn(device, board, via, min_complete):
    dev = device(board)
    program, t = _open(dev, via, budget=None)
    with t:
        m = RtosMonitor(program, t)
        churn = compile_expression(program, "rtos_demo.churn")
        spawned = compile_expression(program, "rtos_demo.spawned")
        heap = (m.layout.heap.address, m.layout.heap.address + m.layout.heap.size)
        _complete(m)
        t.write(churn.address, (1).to_bytes(4, "little"))
        start = int.from_bytes(t.read(spawned.address, 4), "little")
        snapshots = complete = temps = deleted = deep = 0
        wrong: list[str] = []
        peaks: dict[tuple[int, int | None], int] = {}
        t0 = time.monotonic()
        while True:
            took = time.monotonic() - t0
            if took >= CHURN_MAX_S or (took >= CHURN_MIN_S and complete >= min_complete and temps and deep):
                break
            s = m.refresh()
            snapshots += 1
            if not s.complete:
                continue
            complete += 1
            wrong += _wrong(s, heap, peaks)
            temps += sum(r.task.name in TEMPS for r in s.tasks)
            deep += sum(r.task.name == "temp deep" and (r.stack_peak or 0) > TEMP_DEEP_BYTES for r in s.tasks)
            deleted += sum(r.task.state == "deleted" for r in s.tasks)
        churned = int.from_bytes(t.read(spawned.address, 4), "little") - start
        print(f"{complete}/{snapshots} complete in {took:.1f} s, {temps} short-lived task records, {deep} deep ones, "
              f"{deleted} deleted-waiting, {churned} created")
        assert wrong == [], wrong[:5]
        assert churned > 50, "the demo did not create and delete tasks meanwhile"
        assert temps > 0, "no snapshot caught a short-lived task (or one waiting for deletion)"
        assert deep > 0, "no snapshot caught a 'temp deep' task past its deep call: the stack check saw nothing"
        assert complete >= min_complete, f"only {complete} complete snapshots in {took:.0f} s"
        assert complete >= snapshots // 2, f"only {complete} of {snapshots} snapshots were complete"


def test_cli_stacks_with_arguments_and_locals(device):
    """``firmwatch rtos --stacks --locals``: one halt, each task's frames with their arguments
    inline and their locals below (gdb's ``bt full``), the running task's from the CPU."""
    dev = device("cortex-m3-freertos")
    r = subprocess.run([sys.executable, "-m", "firmwatch", "rtos", str(dev.elf), "--gdb", dev.gdb, "--stacks", "--locals"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    heads = list(re.finditer(r"^task (.+) \((\w+)\):$", out, re.M))
    tasks = {m.group(1): m.group(2) + ")" + out[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(out)]
             for i, m in enumerate(heads)}
    assert set(tasks) == {n for n in TASKS if n not in TEMPS}, out
    consumer = tasks["consumer"]
    assert "xQueueReceive (xQueue=0x" in consumer and "pvBuffer=0x" in consumer, consumer
    assert "consumer_task (arg=" in consumer and "\n        item = " in consumer, consumer
    assert "parked_task (arg=" in tasks["parked"]
    running = next(n for n, b in tasks.items() if b.startswith("running)"))
    # halted in the task, its stack ends in its entry; halted in an interrupt (the tick's, a UART's),
    # it is the handler's, which ran on the other stack (docs/rtos.md)
    frames = re.findall(r"^  #\d+ (\S+) ", tasks[running], re.M)
    assert frames and (frames[-1] == TASKS[running][0] or re.search("handler|trap", frames[0], re.I)), \
        (running, tasks[running])
