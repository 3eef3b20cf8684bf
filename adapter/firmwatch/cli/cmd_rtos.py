"""``firmwatch rtos``: a live FreeRTOS task table — state, priorities, stack high-water, CPU share
and what each blocked task waits on — with the registered queues and the software timers; and,
with ``--stacks`` over a GDB server, every task's call stack at one halt, with each frame's
arguments (``--locals``: and locals)."""

from __future__ import annotations

import argparse
import json
import sys

from firmwatch.cli.refresh import add_refresh_args, checked_sets, run_refreshes
from firmwatch.rtos.frame_vars import FrameVar
from firmwatch.rtos.monitor import RtosMonitor, RtosSnapshot, TaskRow
from firmwatch.session.connect import STREAMER_MODES

SET_EXAMPLE = "rtos_demo.stack_depth=16"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rtos", help="live FreeRTOS tasks, queues and timers (and task call stacks)")
    p.add_argument("elf", help="the ELF the device runs (FreeRTOS built with -g)")
    p.add_argument("--port", help="serial device or pyserial URL of the streamer")
    p.add_argument("--baud", type=int, default=921600, help="baud rate for a real UART (default 921600)")
    p.add_argument("--streamer-mode", choices=STREAMER_MODES, default="binary",
                   help="binary (default) or text, for firmware that speaks only the text protocol")
    p.add_argument("--gdb", metavar="HOST:PORT", help="a GDB server instead of the streamer")
    p.add_argument("--strict", action="store_true", help="refuse to run when the device's build id differs from the ELF's")
    add_refresh_args(p, view="table", set_example=SET_EXAMPLE)
    p.add_argument("--stacks", action="store_true",
                   help="halt once, print every task's call stack unwound from its saved context with each "
                        "frame's arguments, resume (--gdb)")
    p.add_argument("--locals", action="store_true", help="with --stacks: each frame's locals too (as gdb's bt full)")
    p.add_argument("--budget", type=float, default=1.0, metavar="PERCENT",
                   help="with --gdb: max %% of time the target may be halted (default 1; 0 = no cap)")
    p.set_defaults(func=run_rtos, gdb_mode="auto", lock_symbol=None, via_gdb=False, gdb_path=None)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:5.1f} %"


def _stack(r: TaskRow) -> str:
    if r.stack_peak is not None and r.stack_size:
        return f"{r.stack_peak}/{r.stack_size}"
    return "" if r.stack_free_min is None else "?"


def render(s: RtosSnapshot) -> list[str]:
    head = f"{'TASK':<12} {'STATE':<10} {'LIST':<16} {'PRIO':>6} {'STACK PEAK':>11} {'FREE MIN':>9} {'CPU':>8}  WAITING ON"
    lines = [head]
    for r in s.tasks:
        t = r.task
        prio = f"{t.priority}" if t.base_priority in (None, t.priority) else f"{t.priority}/{t.base_priority}"
        wait = t.blocked_on or ""
        free = "" if r.stack_free_min is None else f"{r.stack_free_min} B"
        lines.append(f"{t.name:<12} {t.state:<10} {t.list:<16} {prio:>6} {_stack(r):>11} {free:>9} {_pct(r.cpu):>8}  {wait}")
    if s.queues:
        lines.append("")
        lines.append(f"{'QUEUE':<14} {'KIND':<18} {'FILL':>7}  {'WAITING':<22}")
        for q in s.queues:
            fill = f"{q.waiting}/{q.length}"
            waiting = ", ".join(x for x in (f"{q.receivers} to receive" if q.receivers else "",
                                             f"{q.senders} to send" if q.senders else "") if x)
            holder = ""
            if q.holder:
                owner = next((r.task.name for r in s.tasks if r.task.tcb == q.holder), f"0x{q.holder:x}")
                holder = f"  held by {owner}"
            lines.append(f"{q.name:<14} {q.kind:<18} {fill:>7}  {waiting:<22}{holder}")
    if s.timers:
        lines.append("")
        for tm in s.timers:
            if tm.expiry is None:
                due = ", not running"
            else:
                due = "" if s.tick is None else f", fires in {(tm.expiry - s.tick) & 0xFFFFFFFF} ticks"
            lines.append(f"timer {tm.name}: every {tm.period} ticks{' (auto-reload)' if tm.auto_reload else ''}{due}")
    lines.append("")
    state = "complete" if s.complete else f"INCOMPLETE (showing the table of {s.age_s:.1f} s ago): {s.problems[-1]}"
    lines.append(f"  tick {s.tick}, scheduler {s.scheduler}; snapshot {state}; {s.bytes_read} bytes in {s.reads} "
                 f"read(s), {s.attempts} attempt(s), halted {1000 * s.halted_s:.2f} ms, {s.elapsed_ms:.1f} ms")
    for n in s.notes:
        lines.append(f"  note: {n}")
    return lines


def as_json(s: RtosSnapshot) -> str:
    return json.dumps({
        "time": s.host_time, "complete": s.complete, "age_s": s.age_s, "problems": s.problems,
        "tick": s.tick, "scheduler": s.scheduler, "current": s.current,
        "tasks": [{"name": r.task.name, "tcb": r.task.tcb, "state": r.task.state, "list": r.task.list,
                   "priority": r.task.priority, "base_priority": r.task.base_priority, "number": r.task.number,
                   "stack_base": r.task.stack_base, "stack_size": r.stack_size, "stack_peak": r.stack_peak,
                   "stack_free_min": r.stack_free_min, "high_water_words": r.high_water_words,
                   "cpu": r.cpu, "cpu_total": r.cpu_total, "run_time": r.task.run_time,
                   "blocked_on": r.task.blocked_on, "wake_tick": r.task.wake_tick} for r in s.tasks],
        "queues": [{"name": q.name, "kind": q.kind, "waiting": q.waiting, "length": q.length,
                    "item_size": q.item_size, "senders": q.senders, "receivers": q.receivers, "holder": q.holder}
                   for q in s.queues],
        "timers": [{"name": t.name, "period": t.period, "expiry": t.expiry, "auto_reload": t.auto_reload,
                    "active": t.active}
                   for t in s.timers],
        "bytes_read": s.bytes_read, "reads": s.reads, "attempts": s.attempts,
        "halted_ms": round(1000 * s.halted_s, 3), "ms": round(s.elapsed_ms, 3),
    })


def _var(v: FrameVar) -> str:
    return f"<{v.why}>" if v.value is None else v.value.display()


def print_stacks(monitor: RtosMonitor, show_locals: bool = False) -> int:
    """Halt once, unwind every task, resume: the call stacks as gdb would show them per thread,
    each frame with its arguments (and with ``show_locals`` its locals, as gdb's ``bt full``)."""
    from firmwatch.rtos.context import SP
    from firmwatch.targets.control import Capability, RunState

    ctl = monitor.target.control()
    if Capability.HALT not in ctl.capabilities:
        print("firmwatch: --stacks needs a transport that can stop the CPU: use --gdb HOST:PORT.", file=sys.stderr)
        return 2
    was_running = ctl.state == RunState.RUNNING
    if was_running:
        ctl.halt()
    try:
        s = monitor.refresh()
        cpu = {r.number: r.value for r in ctl.registers() if r.value is not None and 0 <= r.number <= 32}
        for r in s.tasks:
            t = r.task
            bound = t
            if t.tcb == s.current:
                regs, label = cpu, "running"
                sp = cpu.get(SP[monitor.layout.arch])
                top = (t.stack_end + 4) if t.stack_end is not None else t.top_of_stack + (1 << 16)
                if sp is None or not t.stack_base <= sp <= top:
                    bound = None  # in an interrupt, on its own stack
            else:
                regs, label = monitor.context(t).registers, t.state
            raw = monitor.raw_frames(regs, bound)
            frames = monitor.frames(regs, bound)
            print(f"task {t.name} ({label}):")
            for f in frames:
                where = f"{f.file}:{f.line}" if f.file else f"0x{f.address:x}"
                found = monitor.variables(raw[f.id], f.id) if f.id < len(raw) else []
                args_ = ", ".join(f"{v.name}={_var(v)}" for v in found if v.argument)
                print(f"  #{f.id} {f.function or '??'} ({args_}) at {where}")
                if show_locals:
                    for v in found:
                        if not v.argument:
                            print(f"        {v.name} = {_var(v)}")
    finally:
        if was_running:
            ctl.resume()
    return 0


def run_rtos(args: argparse.Namespace) -> int:
    from firmwatch.cli.cmd_live import open_session

    sets = checked_sets(args, SET_EXAMPLE)
    if sets is None:
        return 2
    with open_session(args, 1.0) as session:
        for expr, value in sets:
            session.write(expr, value)
        monitor = RtosMonitor(session.program, session.target)
        if args.stacks:
            return print_stacks(monitor, args.locals)
        run_refreshes(monitor.refresh, args, lines=render, as_json=as_json)
    return 0
