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
from pathlib import Path

from firmwatch.cli.rates import split_rate  # the one EXPR@HZ rule, shared with the prompt
from firmwatch.errors import UserError
from firmwatch.session.connect import (
    STREAMER_MODES,
    TRANSPORTS,
    ConnectError,
    Connection,
    ConnectOptions,
    connect,
)
from firmwatch.session.session import Session
from firmwatch.targets.base import LinkStats

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


def add_target_args(p: argparse.ArgumentParser, devices: bool = False) -> None:
    """ELF, --port/--gdb and the GDB sampling options: what every live command takes (``devices``:
    or several --device NAME=ELF@ADDRESS instead, see cli/devices.py)."""
    if devices:
        p.add_argument("elf", nargs="?", help="the ELF the device runs (symbols and types come from it); not "
                       "with --device")
        p.add_argument("--device", action="append", default=[], metavar="NAME=ELF@ADDRESS",
                       help="one of several devices, instead of ELF and --port/--gdb: ADDRESS is a serial port, "
                       "socket://HOST:PORT, tcp:HOST:PORT, gdb:HOST:PORT or sim:TARGET (docs/recording.md); watches "
                       "are then NAME:EXPR[@HZ], or EXPR[@HZ] for every device")
    else:
        p.add_argument("elf", help="the ELF the device runs (symbols and types come from it)")
    p.add_argument("--port", help="serial device or pyserial URL of the streamer (e.g. /dev/ttyACM0, socket://127.0.0.1:5555)")
    p.add_argument("--baud", type=int, default=921600, help="baud rate for a real UART (default 921600)")
    p.add_argument("--streamer-mode", choices=STREAMER_MODES, default="binary",
                   help="binary: CRC-checked frames (default); text: checked text lines, one region per stream, "
                   "about ten times the bytes per value")
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
    add_target_args(p, devices=True)
    p.add_argument("--rate", type=float, default=10.0, help="default sample rate of new watches in Hz (default 10)")
    p.add_argument("--duration", type=float, help="with --device: stop after this many seconds (default: Ctrl-C)")
    p.add_argument("expr", nargs="*", help="watches to start with, EXPR or EXPR@HZ")
    add_deadband_arg(p)
    p.set_defaults(func=run_watch)

    p = sub.add_parser("record", help="record samples of expressions or raw addresses (CSV, Parquet, VCD)")
    add_target_args(p, devices=True)
    p.add_argument("-o", "--output", required=True, help="file to write: .csv, .parquet or .vcd (or --format)")
    p.add_argument("--format", choices=("csv", "parquet", "vcd"), help="the recording's format (default: from the "
                   "output's extension, CSV otherwise)")
    p.add_argument("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--interval", type=float, metavar="MS", help="sample interval in ms for watches without @HZ")
    p.add_argument("--rate", type=float, default=100.0, help="sample rate in Hz for watches without @HZ (default 100)")
    p.add_argument("--session-id", help="session id written in every row (default: random)")
    p.add_argument("--quiet", action="store_true", help="no live table")
    p.add_argument("expr", nargs="*", help="EXPR[@HZ] or 0xADDR:SIZE[@HZ]")
    add_deadband_arg(p)
    p.set_defaults(func=run_record)

    p = sub.add_parser("demo", help="start the simulated demo device and watch its variables live")
    p.add_argument("--target", default="host", help="host (default), cortex-m3, riscv32, avr or host-rust")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=run_demo)


def add_deadband_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deadband", action="append", default=[], metavar="EXPR=N",
                   help="change-only: the device sends the watch EXPR only when it moved by more than N (0: any "
                        "change), and once a second when it did not (repeat for several watches)")


class DeadbandError(UserError):
    """A --deadband the command cannot apply."""


def parse_deadbands(items: list[str], watches: list[tuple[str, float | None]], multi: bool = False) -> dict[str, float]:
    """``EXPR=N`` for watches of this command line; refused before anything starts."""
    if items and multi:
        raise DeadbandError("--deadband applies to one device's watches; with --device, set deadbands from "
                            "VS Code or the Python API (docs/capture.md).")
    names = {text.strip() for text, _ in watches}
    out: dict[str, float] = {}
    for item in items:
        expr, eq, value = item.rpartition("=")
        expr = expr.strip()
        if not eq or not expr:
            raise DeadbandError(f"--deadband '{item}' is not EXPR=N; write e.g. --deadband accel_x=20.")
        try:
            band = float(value)
        except ValueError:
            band = -1.0
        if not band >= 0:
            raise DeadbandError(f"--deadband '{item}': '{value}' is not a distance; give 0 (any change) or more.")
        if expr not in names:
            raise DeadbandError(f"--deadband '{item}' names no watch of this command; add {expr} to the "
                                "expressions too.")
        out[expr] = band
    return out


def _messages(level: str, text: str) -> None:
    print(f"firmwatch: {level}: {text}", file=sys.stderr, flush=True)


def _link_messages(state: str, text: str) -> None:
    _messages("info" if state == "restored" else "warning", text)


_TARGET_DEFAULTS = {"port": None, "gdb": None, "sim": None, "server": None, "transport": None, "via_gdb": False,
                    "baud": 921600, "streamer_mode": "binary", "gdb_path": None, "budget": 1.0, "gdb_mode": "auto",
                    "lock_symbol": None}


def connect_options(args: argparse.Namespace) -> ConnectOptions:
    """The options of add_target_args as the transport factory's (the same as launch.json's).
    A command with fewer target options (only --port/--gdb) gets the defaults for the rest."""
    args = argparse.Namespace(**{**_TARGET_DEFAULTS, **vars(args)})
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
    return ConnectOptions(elf=args.elf, transport=transport, port=port, baud=args.baud,
                          streamer_mode=args.streamer_mode, host=host, tcp_port=tcp_port, target=args.gdb,
                          gdb_path=args.gdb_path, budget=args.budget / 100.0 if args.budget else None,
                          sampling_mode=args.gdb_mode, lock_symbol=args.lock_symbol, sim=args.sim, server=args.server)


class LinkWatch:
    """The link's events for a command: said on stderr, passed to the session (a lost link
    interrupts its watches' schedules), and ``gone`` set when the link is lost for good — a GDB
    server that died; the streamer reconnects by itself and says when it is back."""

    def __init__(self) -> None:
        self.gone = threading.Event()
        self.why = ""
        self.session: Session | None = None
        self.transport = ""

    def __call__(self, state: str, text: str) -> None:
        _link_messages(state, text)
        if self.session is not None:
            self.session.link_event(state, text)
        if state == "lost" and self.transport not in ("serial", "tcp"):
            self.why = text
            self.gone.set()


@contextmanager
def session_for(options: ConnectOptions, default_rate: float, verify_build_id: str = "warn",
                link: LinkWatch | None = None) -> Iterator[tuple[Session, Connection]]:
    link = link or LinkWatch()
    conn = connect(options, on_link=link)
    link.transport = conn.transport
    try:
        session = Session(conn.program, conn.target, default_rate=default_rate, verify_build_id=verify_build_id,
                          on_message=_messages)
    except BaseException:
        conn.close()
        raise
    link.session = session
    try:
        yield session, conn
    finally:
        session.close()
        conn.close()


@contextmanager
def open_session(args: argparse.Namespace, default_rate: float, link: LinkWatch | None = None) -> Iterator[Session]:
    with session_for(connect_options(args), default_rate, "error" if args.strict else "warn", link) as (session, _):
        yield session


def run_watch(args: argparse.Namespace) -> int:
    if args.device:
        from firmwatch.cli import devices

        parse_deadbands(args.deadband, [], multi=True)
        return devices.run_watch(args, stop_on_signals=_stop_on_signals)
    if args.elf is None:
        raise ConnectError("name the ELF the device runs (or several devices with --device NAME=ELF@ADDRESS).")
    from firmwatch.cli.repl import Repl

    watches = [split_rate(e) for e in args.expr]
    deadbands = parse_deadbands(args.deadband, watches)
    link = LinkWatch()
    with open_session(args, args.rate, link) as session:
        session.add_watches(watches, deadbands)
        for w in session.watches.values():
            if w.unsampled:
                _messages("warning", f"{w.text} cannot be sampled: {w.unsampled}")
        Repl(session, gone=link.gone).run()
    if link.gone.is_set():
        _messages("error", f"the session ended: {link.why.rstrip('.')}.")
        return 1
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
    if args.device:
        from firmwatch.cli import devices

        parse_deadbands(args.deadband, [], multi=True)
        return devices.run_record(args, summary_lines=summary_lines, stop_on_signals=_stop_on_signals)
    if args.elf is None or not args.expr:
        raise RecordError("name the ELF the device runs and at least one watch: record ELF --port PORT -o OUT "
                          "EXPR[@HZ] (or several devices with --device NAME=ELF@ADDRESS).")
    rate = 1000.0 / args.interval if args.interval else args.rate
    link = LinkWatch()
    watches = [split_rate(e) for e in args.expr]  # a bad rate is refused before anything starts
    deadbands = parse_deadbands(args.deadband, watches)
    with open_session(args, rate, link) as session:
        # recording first, then the watches: every sample they receive is in the file, so the
        # summary's counts are the file's
        rec = session.start_recording(args.output, args.session_id, args.format)
        session.add_watches(watches, deadbands)
        unsampled = [w for w in session.watches.values() if w.unsampled]
        for w in unsampled:
            _messages("warning", f"{w.text} cannot be sampled: {w.unsampled}")
        if len(unsampled) == len(session.watches):
            session.stop_recording()
            Path(args.output).unlink(missing_ok=True)
            raise RecordError("none of the watches can be sampled, so nothing was recorded; see the reasons above.")
        live = None
        if not args.quiet and sys.stdout.isatty():
            from rich.live import Live

            from firmwatch.cli.table import build_table

            live = Live(build_table(session), refresh_per_second=5)
            live.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        with _stop_on_signals() as stop:
            while not stop.is_set() and not link.gone.is_set() and not rec.error:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
                if live is not None:
                    from firmwatch.cli.table import build_table

                    live.update(build_table(session))
        if live is not None:
            live.stop()
        # the watches', the link's and the device's counts then describe the same samples
        st = session.target.stats() if link.gone.is_set() else session.finish()
        session.stop_recording()
        print(f"recorded {rec.rows} samples to {args.output} (session {rec.session_id})", flush=True)
        for line in summary_lines(session, st):
            print(f"  {line}", flush=True)
        if st.halted_fraction is not None:  # a GDB transport (--gdb, --server, or a simulated device's stub)
            print(f"  target halted {100 * st.halted_fraction:.2f} % of the time for sampling"
                  + (f"; {st.lock_skips} rounds skipped while {args.lock_symbol} was set" if args.lock_symbol else ""),
                  flush=True)
        if rec.error:
            _messages("error", f"{rec.error}.")
            return 1
        if link.gone.is_set():
            _messages("error", f"recording stopped: {link.why.rstrip('.')}; the {rec.rows} samples before it are in "
                               f"{args.output}.")
            return 1
        if all(w.stats.received == 0 for w in session.watches.values()):
            _messages("error", "no watch delivered a sample; see the reasons above.")
            return 1
    return 0


class RecordError(UserError):
    """Nothing could be recorded."""


def summary_lines(session: Session, st: LinkStats) -> list[str]:
    """Per watch what arrived and what is missing, then the link, in words that add up: a
    watch's missing samples are its schedule's gaps (exact on the streamer), of which the
    device's own STATUS says how many it dropped; the link's lost frames are its sequence gaps."""
    lines = []
    for w in session.watches.values():
        if w.unsampled:
            lines.append(f"{w.text}: not sampled: {w.unsampled}")
            continue
        if w.stats.received == 0 and w.error:
            lines.append(f"{w.text}: 0 samples: {w.error}")
            continue
        how = f"{w.stats.missing} missing"
        if w.stats.device_dropped is not None:
            how += f" ({w.stats.device_dropped} dropped by the device)"
        if w.filtered and w.deadband is not None:
            how += f"; change-only, deadband {w.deadband:g}: the samples are its changes and heartbeats"
        polled = session.polled_reason(w)
        lines.append(f"{w.text}: {w.stats.received} samples, {w.stats.rate():.1f} Hz achieved (asked {w.rate_hz:g}), "
                     f"{how}" + (f"; polled: {polled}" if polled else ""))
    if st.halted_fraction is not None:  # a GDB transport: no device counters, no frames
        link = f"link: {st.lost} samples lost"
    elif st.status_known:
        device = f"{st.device_dropped} dropped by the device (its STATUS)"
        if st.lost >= st.device_dropped:
            device += f", {st.lost - st.device_dropped} destroyed on the link"
        link = f"link: {st.lost} frames lost (sequence gaps): {device}; {st.corrupt_frames} corrupt frames"
    else:
        link = (f"link: {st.lost} frames lost (sequence gaps), {st.corrupt_frames} corrupt frames; the device's "
                "own drop count could not be read (the link was down)")
    if st.reconnects:
        link += f", {st.reconnects} reconnect{'s' if st.reconnects != 1 else ''}"
    lines.append(link)
    return lines


def run_demo(args: argparse.Namespace) -> int:
    print(f"firmwatch demo: starting the simulated '{args.target}' device…", flush=True)
    with session_for(ConnectOptions(sim=args.target), 10.0) as (session, conn):
        assert conn.sim is not None
        print(f"port: {conn.sim.port}\nelf: {conn.elf}", flush=True)
        for expr, rate in DEMO_WATCHES:
            session.add_watch(expr, rate)
        if sys.stdin.isatty() and sys.stdout.isatty() and args.duration is None:
            from firmwatch.cli.repl import Repl

            print("Live values below. Try: write g_config.calib.gain_q8 512 · watch accel_x@500 · help. "
                  "quit, Ctrl-D or Ctrl-C on an empty line ends.", flush=True)
            Repl(session).run()
        else:
            _print_periodically(session, args.duration)
    return 0


def _print_periodically(session: Session, duration: float | None) -> None:
    import shutil

    from firmwatch.cli.table import render

    color = sys.stdout.isatty()  # a pipe or a log gets plain text
    deadline = time.monotonic() + duration if duration else None
    with _stop_on_signals() as stop:
        while not stop.is_set():
            stop.wait(1.0)
            width = shutil.get_terminal_size((100, 24)).columns
            print(render(session, width, color=color), flush=True)
            if deadline is not None and time.monotonic() >= deadline:
                break
