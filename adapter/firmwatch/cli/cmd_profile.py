"""``firmwatch profile``: where the firmware's time goes, with a live top-functions table.

Two ways, one output:

* ``--port``: firmware built with ``-finstrument-functions`` and firmware/profiler streams a
  record of every call (MiniProfiler protocol) over its serial line;
* ``--gdb``: any firmware, not built for profiling, has its program counter sampled through a
  GDB server (without stopping the CPU where the server allows it).

``--demo BOARD`` builds and runs firmware/profiler's demo on an emulated board and profiles it
(with ``--sampled``, the build that is not instrumented, through the emulator's gdb stub). The
demo and GDB servers are reached through the one transport factory (session/connect.py), with
the live commands' spelling of its options; ``--port`` opens firmware/profiler's own line, which
need not run the streamer.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmwatch.profiler.protocol import Metadata
    from firmwatch.profiler.run import ProfileRun

EXPORTS = (("speedscope", "speedscope JSON (https://www.speedscope.app)"),
           ("chrome", "Chrome/Perfetto trace-event JSON (ui.perfetto.dev, chrome://tracing)"),
           ("collapsed", "collapsed stacks for flamegraph.pl (self time in microseconds, or samples)"),
           ("json", "firmwatch's own summary: functions, call tree, hot lines, counters"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="profile the firmware: instrumented (--port) or PC-sampled (--gdb), live top functions",
        description="Show where the firmware's time goes. --port: firmware built with -finstrument-functions and "
        "firmware/profiler sends a record of every call. --gdb: any firmware, its program counter sampled through a "
        "GDB server. The top functions update live; Ctrl-C (or --duration) ends the profile and writes the exports.")
    p.add_argument("elf", nargs="?", help="the ELF the device runs (not with --demo)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--port", help="serial device or pyserial URL of a firmware/profiler device")
    src.add_argument("--gdb", metavar="HOST:PORT", help="a GDB server: sample the program counter")
    src.add_argument("--demo", metavar="BOARD", choices=("cortex-m3", "riscv32", "avr"),
                     help="build and profile firmware/profiler's demo on an emulated board (cortex-m3, riscv32, avr)")
    p.add_argument("--sampled", action="store_true", help="with --demo: sample the PC of the uninstrumented build instead")
    p.add_argument("--baud", type=int, default=115200, help="baud rate of a real UART (default 115200, the seed's)")
    p.add_argument("--duration", type=float, help="seconds to profile (default: until Ctrl-C)")
    p.add_argument("--top", type=int, default=15, metavar="N", help="functions in the table (default 15)")
    p.add_argument("--lines", type=int, default=10, metavar="N", help="hot source lines shown for a sampled profile (default 10)")
    p.add_argument("--quiet", action="store_true", help="no live table, only the final one")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="profile even when the device's .text CRC32 differs from the ELF's (names may be wrong)")
    g = p.add_argument_group("PC sampling (with --gdb)")
    g.add_argument("--sample", choices=("auto", "live", "dwt", "halt"), default="auto",
                   help="live: the server reads registers while the CPU runs (simavr); dwt: Cortex-M DWT PCSR through a "
                        "server that reads memory while running; halt: halt-read-resume within --budget; auto: the "
                        "first that works")
    g.add_argument("--rate", type=float, default=1000.0, help="samples per second to aim for (default 1000)")
    g.add_argument("--budget", type=float, default=5.0, metavar="PERCENT",
                   help="halt sampling: max %% of time the CPU may be halted (default 5; 0 = no cap)")
    g.add_argument("--server", metavar="COMMAND", help="start this GDB server command line first; {port} in it "
                   "becomes a free port, and --gdb defaults to 127.0.0.1:{port}")
    g.add_argument("--via-gdb", action="store_true", help="go through a gdb process instead of direct RSP")
    g.add_argument("--gdb-path", help="gdb binary for --via-gdb (default: gdb-multiarch or avr-gdb)")
    e = p.add_argument_group("exports (written when the profile ends)")
    for name, what in EXPORTS:
        e.add_argument(f"--{name}", metavar="FILE", help=what)
    p.set_defaults(func=run_profile)


def _fmt_s(s: float | None) -> str:
    if s is None:
        return ""
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def table(profile, top: int):  # type: ignore[no-untyped-def]
    from rich.table import Table

    t = Table(expand=False, show_edge=False, pad_edge=False, header_style="bold")
    t.add_column("function", no_wrap=True)
    t.add_column("self %", justify="right")
    t.add_column("self", justify="right")
    if profile.mode == "instrumented":
        t.add_column("total", justify="right")
        t.add_column("calls", justify="right")
        t.add_column("avg", justify="right")
        t.add_column("min", justify="right")
        t.add_column("max", justify="right")
    else:
        t.add_column("samples", justify="right")
    t.add_column("where", style="dim", no_wrap=True)
    for f in profile.functions[:top]:
        where = f"{Path(f.file).name}:{f.line}" if f.file else ""
        row = [f.name, f"{100 * f.share:.1f}", _fmt_s(f.self_s)]
        if profile.mode == "instrumented":
            row += [_fmt_s(f.total_s), str(f.calls), _fmt_s(f.avg_s), _fmt_s(f.min_s), _fmt_s(f.max_s)]
        else:
            row += [str(f.samples)]
        t.add_row(*row, where)
    return t


def lines_table(profile, n: int):  # type: ignore[no-untyped-def]
    from rich.table import Table

    t = Table(expand=False, show_edge=False, pad_edge=False, header_style="bold", title="hot lines")
    t.add_column("line", no_wrap=True)
    t.add_column("function", no_wrap=True)
    t.add_column("samples %", justify="right")
    for r in profile.lines[:n]:
        t.add_row(f"{Path(r.file).name}:{r.line}", r.function, f"{100 * r.share:.1f}")
    return t


def status(profile) -> str:  # type: ignore[no-untyped-def]
    c = profile.counters
    if profile.mode == "instrumented":
        parts = [f"{profile.duration_s:.2f} s of device time", f"{c.get('records', 0)} calls"]
        if c.get("device_overflows"):
            parts.append(f"device could not keep {c['device_overflows']}")
        if c.get("link_lost"):
            parts.append(f"lost on the link {c['link_lost']}")
        if c.get("corrupt_frames"):
            parts.append(f"corrupt frames {c['corrupt_frames']}")
    else:
        parts = [f"{profile.duration_s:.2f} s", f"{c.get('samples', 0)} samples ({c.get('samples_per_s', 0):.0f}/s, "
                 f"{profile.device.get('method')})"]
        if profile.device.get("method") == "halt":
            parts.append(f"CPU halted {100 * c.get('halted_share', 0):.1f} % of the time")
        if c.get("failed"):
            parts.append(f"failed {c['failed']}")
    return " · ".join(parts)


def render(profile, args, width: int = 120) -> str:  # type: ignore[no-untyped-def]
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=width, color_system=None)
    console.print(table(profile, args.top))
    if profile.mode == "sampled" and profile.lines and args.lines:
        console.print(lines_table(profile, args.lines))
    console.print(status(profile))
    return buf.getvalue().rstrip("\n")


def _start(args: argparse.Namespace, stack: ExitStack) -> ProfileRun:
    from firmwatch.profiler.instrumented import InstrumentedRun
    from firmwatch.profiler.protocol import ProfilerError
    from firmwatch.profiler.run import profile_run
    from firmwatch.session.connect import ConnectOptions, connect

    elf, budget = args.elf, args.budget / 100.0 if args.budget else None
    pace = "realtime"
    if args.demo:
        if elf:
            raise ProfilerError("--demo builds its own ELF: drop the ELF argument.")
        if args.server:
            raise ProfilerError("--demo starts its own emulated board: drop --server.")
        from firmwatch.profiler import demo

        built = demo.build(args.demo)
        elf = str(built["plain" if args.sampled else "prof"])
        # the instrumented demo shares the streamer's line; the uninstrumented one is sampled through the gdb stub
        options = ConnectOptions(elf=elf, sim=args.demo, transport="rsp" if args.sampled else "serial",
                                 budget=budget, die_with_parent=True)
        pace = "fast"  # emulated time from the instruction count: a profile independent of the host's load
        print(f"profiling the {'uninstrumented' if args.sampled else 'instrumented'} demo on {args.demo} "
              f"({elf})", file=sys.stderr, flush=True)
    elif args.sampled:
        raise ProfilerError("--sampled goes with --demo; to sample your own firmware give --gdb HOST:PORT.")
    elif not elf:
        raise ProfilerError("give the ELF the device runs (firmwatch profile ELF --port PORT or --gdb HOST:PORT).")
    elif args.port:
        if args.server:
            raise ProfilerError("--server starts a GDB server, which --port does not use: give --gdb with it, or "
                                "drop it.")
        from firmwatch.symbols import load

        # firmware/profiler's own line: the device may run the profiler alone, without the streamer
        alone = InstrumentedRun(load(elf), args.port, baud=args.baud, strict=not args.allow_mismatch)
        _started(alone.start())
        stack.callback(alone.close)
        return alone
    elif not args.gdb and not args.server:
        raise ProfilerError("give --port PORT (firmware built with firmware/profiler) or --gdb HOST:PORT (any firmware).")
    else:
        options = ConnectOptions(elf=elf, transport="gdb" if args.via_gdb else "rsp", target=args.gdb,
                                 gdb_path=args.gdb_path, budget=budget, server=args.server, die_with_parent=True)
    conn = connect(options, pace=pace)
    stack.callback(conn.close)
    run = profile_run(conn.program, conn.target, conn.transport, strict=not args.allow_mismatch, rate_hz=args.rate,
                      method=args.sample)
    if isinstance(run, InstrumentedRun):
        _started(run.start())
        stack.callback(run.close)
    else:
        method = run.start()
        print(f"sampling the program counter ({method}) through the {conn.description}", file=sys.stderr, flush=True)
    return run


def _started(md: Metadata) -> None:
    print(f"device: {md.fw_version or '?'} · timer {md.timer_hz} Hz · build 0x{md.build_id:08X}",
          file=sys.stderr, flush=True)


def run_profile(args: argparse.Namespace) -> int:
    from firmwatch.profiler import export

    with ExitStack() as stack:
        run = _start(args, stack)
        live = not args.quiet and sys.stdout.isatty()
        deadline = time.monotonic() + args.duration if args.duration else None
        try:
            if live:
                from rich.console import Group
                from rich.live import Live

                polled = 0.0
                with Live(refresh_per_second=4, transient=True) as view:
                    while deadline is None or time.monotonic() < deadline:
                        if time.monotonic() - polled >= 1.0:  # the device's overflow count, for the live view
                            polled = time.monotonic()
                            run.poll_status()
                        prof = run.snapshot()
                        view.update(Group(table(prof, args.top), status(prof)))
                        time.sleep(0.25)
            else:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(min(0.25, max(0.0, deadline - time.monotonic())) if deadline else 0.25)
        except KeyboardInterrupt:
            pass
        prof = run.stop()
    print(render(prof, args))
    for note in prof.notes:
        print(f"note: {note}")
    for name, _ in EXPORTS:
        path = getattr(args, name)
        if path:
            export.write(prof, name, path)
            print(f"wrote {path} ({name})")
    return 0
