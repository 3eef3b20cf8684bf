"""``firmwatch memory``: live memory health — a bar view of the RAM map with the stack pointer,
the painted high-water mark, the heap, the free gap and the collision margin, and warnings."""

from __future__ import annotations

import argparse
import json
import sys

from firmwatch.cli.cmd_live import add_target_args
from firmwatch.cli.refresh import add_refresh_args, checked_sets, run_refreshes
from firmwatch.session.memory_health import (
    BAR_LEGEND,
    DEFAULT_THRESHOLD,
    MemoryHealth,
    MemoryMonitor,
    ram_bar,
)

SET_EXAMPLE = "demo_stack_depth=12"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("memory", help="live memory health: stack, heap, free gap and collision margin")
    add_target_args(p)
    p.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD, metavar="BYTES",
                   help=f"warn when the stack–heap collision margin falls under this (default {DEFAULT_THRESHOLD})")
    add_refresh_args(p, view="bar view", set_example=SET_EXAMPLE)
    p.add_argument("--paint", action="store_true",
                   help="paint the free stack from the host (GDB only: halts the CPU while it paints; refused when "
                        "the firmware paints its own)")
    p.add_argument("--record", metavar="CSV", help="record every figure of every refresh to this CSV file")
    p.add_argument("--width", type=int, default=64, help="characters of the RAM bar (default 64)")
    p.set_defaults(func=run_memory)


def render(h: MemoryHealth, width: int = 64) -> list[str]:
    lines = [ram_bar(h.segments, width), "         " + BAR_LEGEND] if h.segments else []
    for f in h.figures.values():
        lines.append(f"  {f.label:<40} {f.text():>14}   {f.source}")
    for n in h.notes:
        lines.append(f"  note: {n}")
    for w in h.warnings:
        lines.append(f"WARNING: {w}")
    lines.append(f"  (refresh: {h.bytes_read} bytes in {h.reads} reads, {h.elapsed_ms:.1f} ms)")
    return lines


def as_json(h: MemoryHealth) -> str:
    return json.dumps({
        "time": h.host_time,
        "figures": {k: {"value": f.value, "unit": f.unit, "source": f.source, "label": f.label}
                    for k, f in h.figures.items()},
        "warnings": h.warnings,
        "notes": h.notes,
        "segments": [{"name": s.name, "start": s.start, "end": s.end} for s in h.segments],
        "bytes_read": h.bytes_read,
        "reads": h.reads,
        "ms": round(h.elapsed_ms, 3),
    })


def run_memory(args: argparse.Namespace) -> int:
    from firmwatch.cli.cmd_live import _messages, open_session
    from firmwatch.session.recorder import Recorder

    sets = checked_sets(args, SET_EXAMPLE)
    if sets is None:
        return 2
    with open_session(args, 1.0) as session:
        for expr, value in sets:
            session.write(expr, value)
        monitor = MemoryMonitor(session.program, session.target, threshold=args.threshold, regions=session.info.regions)
        if args.paint:
            monitor.paint_from_host(announce=lambda text: _messages("info", text))
        rec = Recorder(args.record) if args.record else None

        def record(n: int, h: MemoryHealth) -> None:
            if rec is not None:
                rec.write_many([(n, h.host_time, h.host_time, name, value) for name, value in h.rows()])

        try:
            run_refreshes(monitor.refresh, args, lines=lambda h: render(h, args.width), as_json=as_json, each=record)
        finally:
            if rec is not None:
                rec.close()
                print(f"recorded {rec.rows} figures to {args.record} (session {rec.session_id})", file=sys.stderr)
    return 0
