"""Live sub-commands: ``watch`` (REPL), ``record`` (CSV collector) and ``demo``."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from firmwatch.session.connect import TRANSPORTS, ConnectError, Connection, ConnectOptions, connect
from firmwatch.session.session import Session

DEMO_WATCHES = [
    ("timestamp_ms", 10),
    ("heartbeat_counter", 10),
    ("loop_count", 10),
    ("temp_celsius", 10),
    ("accel_x", 100),
    ("accel_y", 100),
    ("accel_z", 100),
    ("fsm_state", 10),
    ("button_state", 10),
    ("g_config", 2),
]


def add_target_args(p: argparse.ArgumentParser) -> None:
    """ELF, --port/--gdb and the GDB sampling options: what every live command takes."""
    p.add_argument("elf", help="the ELF the device runs (symbols and types come from it)")
    p.add_argument("--port", help="serial device or pyserial URL of the streamer (e.g. /dev/ttyACM0, socket://127.0.0.1:5555)")
    p.add_argument("--baud", type=int, default=921600, help="baud rate for a real UART (default 921600)")
    p.add_argument("--gdb", metavar="HOST:PORT", help="a GDB server instead of the streamer")
    p.add_argument("--transport", choices=TRANSPORTS, help="how to reach the target (default: serial with --port, "
                   "rsp with --gdb or --server, gdb with --via-gdb; with --sim: serial, or rsp/gdb for its gdb stub)")
    p.add_argument("--sim", metavar="TARGET", help="start the simulated device (host, cortex-m3, riscv32, avr, "
                   "host-rust) running ELF, as launch.json's 'sim' does")
    p.add_argument("--server", metavar="COMMAND", help="start this GDB server (or device bridge) command line first; "
                   "{port} in it becomes a free port, and --gdb defaults to 127.0.0.1:{port}")
    p.add_argument("--strict", action="store_true", help="refuse to run when the device's build id differs from the ELF's")
    g = p.add_argument_group("GDB server sampling (with --gdb, --server, or --sim over its gdb stub)")
    g.add_argument("--budget", type=float, default=1.0, metavar="PERCENT",
                   help="max %% of time the target may be halted for sampling (default 1; 0 = no cap)")
    g.add_argument("--gdb-mode", choices=("auto", "live", "halt"), default="auto",
                   help="live: the server reads memory while the target runs; halt: halt-read-resume; auto: probe")
    g.add_argument("--lock-symbol", metavar="NAME",
                   help="a flag the firmware sets while updating the data: rounds that find it set are skipped")
    g.add_argument("--via-gdb", action="store_true", help="go through a gdb process instead of direct RSP")
    g.add_argument("--gdb-path", help="gdb binary for --via-gdb (default: gdb-multiarch or avr-gdb)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="interactive live watch (list, watch, stop, write, rate, info)")
    add_target_args(p)
    p.add_argument("--rate", type=float, default=10.0, help="default sample rate of new watches in Hz (default 10)")
    p.add_argument("expr", nargs="*", help="watches to start with, EXPR or EXPR@HZ")
    p.set_defaults(func=run_watch)

    p = sub.add_parser("record", help="record samples of expressions or raw addresses to CSV")
    add_target_args(p)
    p.add_argument("-o", "--output", required=True, help="CSV file to write")
    p.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--interval", type=float, metavar="MS", help="sample interval in ms for watches without @HZ")
    p.add_argument("--rate", type=float, default=100.0, help="sample rate in Hz for watches without @HZ (default 100)")
    p.add_argument("--session-id", help="session id written in every row (default: random)")
    p.add_argument("--quiet", action="store_true", help="no live table")
    p.add_argument("expr", nargs="+", help="EXPR[@HZ] or 0xADDR:SIZE[@HZ]")
    p.set_defaults(func=run_record)

    p = sub.add_parser("demo", help="start the simulated demo device and watch its variables live")
    p.add_argument("--target", default="host", help="host (default), cortex-m3, riscv32, avr or host-rust")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=run_demo)


def split_rate(text: str) -> tuple[str, float | None]:
    """``EXPR@HZ`` → (EXPR, HZ).

    gdb's ``arr[i]@n`` also uses ``@``: after ``]`` a single ``@N`` is gdb's, unless written
    with a unit (``buf[2]@100Hz``); ``arr[0]@4@100`` is gdb's ``@4`` at 100 Hz.
    """
    m = re.match(r"^(.*?)@\s*(\d+(?:\.\d+)?)\s*(hz)?\s*$", text, re.IGNORECASE)
    if m and (m.group(3) or "@" in m.group(1) or not re.search(r"\]\s*$", m.group(1))):
        return m.group(1).strip(), float(m.group(2))
    return text.strip(), None


def _messages(level: str, text: str) -> None:
    print(f"firmwatch: {level}: {text}", file=sys.stderr, flush=True)


def _link_messages(state: str, text: str) -> None:
    _messages("info" if state == "restored" else "warning", text)


def connect_options(args: argparse.Namespace) -> ConnectOptions:
    """The options of add_target_args as the transport factory's (the same as launch.json's)."""
    if args.port and args.gdb:
        raise ConnectError("give either --port (streamer firmware) or --gdb (a GDB server), not both.")
    if not (args.port or args.gdb or args.sim or args.server):
        raise ConnectError("no target given: use --port PORT (serial device or socket://HOST:PORT), --gdb HOST:PORT, "
                           "--sim TARGET or --server COMMAND.")
    transport = args.transport or ("gdb" if args.via_gdb else None)
    port, host, tcp_port = args.port, "127.0.0.1", None
    if transport == "tcp" and port:  # launch.json's host and port, written as the URL the CLI takes
        m = re.fullmatch(r"socket://([^:/]+):(\d+)", port)
        if m is None:
            raise ConnectError(f"with --transport tcp give --port socket://HOST:PORT, not '{port}'.")
        port, host, tcp_port = None, m.group(1), int(m.group(2))
    return ConnectOptions(elf=args.elf, transport=transport, port=port, baud=args.baud, host=host, tcp_port=tcp_port,
                          target=args.gdb, gdb_path=args.gdb_path, budget=args.budget / 100.0 if args.budget else None,
                          sampling_mode=args.gdb_mode, lock_symbol=args.lock_symbol, sim=args.sim, server=args.server)


@contextmanager
def session_for(options: ConnectOptions, default_rate: float, verify_build_id: str = "warn"
                ) -> Iterator[tuple[Session, Connection]]:
    conn = connect(options, on_link=_link_messages)
    try:
        session = Session(conn.program, conn.target, default_rate=default_rate, verify_build_id=verify_build_id,
                          on_message=_messages)
    except BaseException:
        conn.close()
        raise
    try:
        yield session, conn
    finally:
        session.close()
        conn.close()


@contextmanager
def open_session(args: argparse.Namespace, default_rate: float) -> Iterator[Session]:
    with session_for(connect_options(args), default_rate, "error" if args.strict else "warn") as (session, _):
        yield session


def run_watch(args: argparse.Namespace) -> int:
    from firmwatch.cli.repl import Repl

    with open_session(args, args.rate) as session:
        for e in args.expr:
            expr, rate = split_rate(e)
            session.add_watch(expr, rate)
        Repl(session).run()
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for s in old:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_record(args: argparse.Namespace) -> int:
    rate = 1000.0 / args.interval if args.interval else args.rate
    with open_session(args, rate) as session:
        for e in args.expr:
            expr, r = split_rate(e)
            session.add_watch(expr, r)
        rec = session.start_recording(args.output, args.session_id)
        live = None
        if not args.quiet and sys.stdout.isatty():
            from rich.live import Live

            from firmwatch.cli.table import build_table

            live = Live(build_table(session), refresh_per_second=5)
            live.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        with _stop_on_signals() as stop:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
                if live is not None:
                    from firmwatch.cli.table import build_table

                    live.update(build_table(session))
        if live is not None:
            live.stop()
        session.stop_recording()
        st = session.target.stats()
        print(f"recorded {rec.rows} samples to {args.output} (session {rec.session_id})", flush=True)
        for w in session.watches.values():
            print(f"  {w.text}: {w.stats.received} samples, {w.stats.rate():.1f} Hz achieved "
                  f"(asked {w.rate_hz:g}), {w.stats.missing} missing", flush=True)
        print(f"  link: {st.lost} lost, {st.corrupt_frames} corrupt frames, "
              f"{st.device_dropped} dropped by the device", flush=True)
        if st.halted_fraction is not None:  # a GDB transport (--gdb, --server, or a simulated device's stub)
            print(f"  target halted {100 * st.halted_fraction:.2f} % of the time for sampling"
                  + (f"; {st.lock_skips} rounds skipped while {args.lock_symbol} was set" if args.lock_symbol else ""),
                  flush=True)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    print(f"firmwatch demo: starting the simulated '{args.target}' device…", flush=True)
    with session_for(ConnectOptions(sim=args.target), 10.0) as (session, conn):
        assert conn.sim is not None
        print(f"port: {conn.sim.port}\nelf: {conn.elf}", flush=True)
        for expr, rate in DEMO_WATCHES:
            session.add_watch(expr, rate)
        if sys.stdin.isatty() and sys.stdout.isatty() and args.duration is None:
            from firmwatch.cli.repl import Repl

            print("Live values below. Try: write g_config.calib.gain_q8 512 · watch accel_x 500 · help · quit", flush=True)
            Repl(session).run()
        else:
            _print_periodically(session, args.duration)
    return 0


def _print_periodically(session: Session, duration: float | None) -> None:
    from rich.console import Console

    from firmwatch.cli.table import build_table, status_line

    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not squeeze the table into 80 columns
        console = Console(width=140)
    deadline = time.monotonic() + duration if duration else None
    with _stop_on_signals() as stop:
        while not stop.is_set():
            stop.wait(1.0)
            console.print(build_table(session))
            console.print(status_line(session), style="dim")
            if deadline is not None and time.monotonic() >= deadline:
                break
