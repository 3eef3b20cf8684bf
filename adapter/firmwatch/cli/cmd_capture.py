"""``firmwatch capture``: a triggered capture of firmware variables to CSV, a terminal plot or a PNG."""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
from pathlib import Path

from firmwatch.cli.cmd_live import _messages, _stop_on_signals, add_target_args, open_session


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="triggered capture: an oscilloscope for variables (on the device when its firmware has the capture "
             "module, else on the host)",
        description="Capture variables around the moment a condition holds. With firmware built with the capture "
                    "module (FW_CAPTURE=1) the device samples into its own RAM, faster than the link, and uploads "
                    "the capture afterwards; otherwise (GDB servers, other firmware) the host samples and triggers.",
    )
    add_target_args(p)
    p.add_argument("--trigger", metavar="CONDITION",
                   help="e.g. 'accel_x rising 500', 'fsm_state equal FSM_SAMPLING', 'button_state change', "
                        "'flags mask 0x0C 0x04' (conditions: rising falling cross above below equal not_equal change "
                        "mask); without it the capture starts at once")
    p.add_argument("--samples", type=int, help="samples to capture (default 1000, or what the device's buffer holds)")
    p.add_argument("--pre", default="10%", help="samples before the trigger: a count or a share, e.g. 20%% (default 10%%)")
    p.add_argument("--rate", type=float, help="samples per second (default: the device's tick, 1000 Hz)")
    p.add_argument("--mode", choices=("single", "normal"), default="single",
                   help="single: one capture; normal: capture again after each (see --count)")
    p.add_argument("--count", type=int, default=1, help="normal mode: how many captures (default 1; 0 = until Ctrl-C)")
    p.add_argument("--where", choices=("auto", "device", "host"), default="auto",
                   help="where the trigger is evaluated and the samples taken (default: the device when it can)")
    p.add_argument("--timeout", type=float, help="give up when nothing triggered within this many seconds")
    p.add_argument("-o", "--output", metavar="CSV", help="write the samples to this CSV file (normal mode: NAME-N.csv)")
    p.add_argument("--png", metavar="FILE", help="draw the capture into this PNG image")
    p.add_argument("--plot", action="store_true", help="draw the capture in the terminal (the default on a terminal "
                                                      "without -o or --png)")
    p.add_argument("expr", nargs="*", help="what to capture: expressions, 0xADDR:SIZE or SVD registers")
    p.set_defaults(func=run_capture)


def _numbered(path: str, n: int, many: bool) -> str:
    if not many:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{n}{p.suffix}"))


def run_capture(args: argparse.Namespace) -> int:
    from firmwatch.capture.engine import CaptureEngine, CaptureRequest
    from firmwatch.capture.plot import terminal_plot, write_png

    if not args.expr and not args.trigger:
        raise SystemExit("firmwatch capture: name what to capture, e.g. firmwatch capture ELF --port PORT accel_x accel_y")
    many = args.mode == "normal" and args.count != 1
    plot = args.plot or (sys.stdout.isatty() and not args.output and not args.png)
    with open_session(args, 10.0) as session:
        states: list[str] = []

        def on_state(st: dict) -> None:
            name = st.get("state")
            if name in ("armed", "triggered", "uploading") and (not states or states[-1] != name):
                states.append(name)
                if sys.stderr.isatty():
                    print(f"firmwatch: {name}…", file=sys.stderr, flush=True)

        engine = CaptureEngine(session.program, session.target, compile=session.compile, on_state=on_state)
        req = CaptureRequest(list(args.expr), args.trigger, args.samples, args.pre, args.rate, args.mode, args.where,
                             args.timeout)
        plan = engine.start(req)
        print(f"capture: {plan.describe()}", file=sys.stderr, flush=True)
        for note in plan.notes:
            _messages("info", note)
        got = 0
        with _stop_on_signals() as stop:
            done = threading.Event()
            while not stop.is_set() and not done.is_set():
                result = engine.wait(0.2)
                if result is None:
                    if not engine.running:
                        break
                    continue
                got += 1
                print(result.summary(), file=sys.stderr, flush=True)
                if args.output:
                    path = _numbered(args.output, got, many)
                    result.write_csv(path)
                    print(f"wrote {result.samples} samples to {path}", file=sys.stderr, flush=True)
                if args.png:
                    path = _numbered(args.png, got, many)
                    write_png(result, path)
                    print(f"drew the capture into {path}", file=sys.stderr, flush=True)
                if plot:
                    print(terminal_plot(result, shutil.get_terminal_size((100, 24)).columns, color=sys.stdout.isatty()),
                          flush=True)
                elif not args.output and not args.png:
                    sys.stdout.write(result.to_csv())
                    sys.stdout.flush()
                if args.mode != "normal" or (args.count and got >= args.count):
                    done.set()
        engine.stop()
        if engine.error and not got:
            _messages("error", engine.error)
            return 1
        if engine.error and got:
            _messages("warning", engine.error)
    return 0 if got else 1
