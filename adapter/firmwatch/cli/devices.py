"""``record`` and ``watch`` with several ``--device NAME=ELF@ADDRESS``: one recording with a device
column, one live table grouped by device. The devices themselves are session/devices.py's."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from firmwatch.cli.rates import split_rate
from firmwatch.session.devices import Device, DeviceError, DeviceGroup, parse_device, split_watch

_SINGLE = ("port", "gdb", "sim", "server", "lock_symbol", "via_gdb")


def _say(device: str, level: str, text: str) -> None:
    print(f"firmwatch: {device}: {level}: {text}", file=sys.stderr, flush=True)


def group_from(args: argparse.Namespace, rate: float) -> tuple[DeviceGroup, list[tuple[str | None, str, float | None]]]:
    given = [f"--{o.replace('_', '-')}" for o in _SINGLE if getattr(args, o, None)]
    if given:
        raise DeviceError(f"{given[0]} names one device; with --device give each device's address in its "
                          "--device NAME=ELF@ADDRESS instead.")
    if args.streamer_mode != "binary":
        raise DeviceError(f"--streamer-mode {args.streamer_mode} is for one streamer device (--port); the devices "
                          "named by --device are spoken to in binary mode.")
    specs = [parse_device(t) for t in args.device]
    names = [s.name for s in specs]
    texts = ([args.elf] if args.elf else []) + list(args.expr)
    items = []
    for text in texts:
        dev, rest = split_watch(text, names)
        expr, hz = split_rate(rest)
        items.append((dev, expr, hz))
    group = DeviceGroup(specs, default_rate=rate, verify_build_id="error" if args.strict else "warn",
                        on_message=_say)
    return group, items


def _warn_unsampled(group: DeviceGroup) -> int:
    """Say which watches cannot be sampled; returns how many can."""
    ok = 0
    for d in group.devices:
        assert d.session is not None
        for w in d.session.watches.values():
            if w.unsampled:
                _say(d.name, "warning", f"{w.text} cannot be sampled: {w.unsampled}")
            else:
                ok += 1
    return ok


def run_record(args: argparse.Namespace, *, summary_lines: Callable[[Any, Any], list[str]],
               stop_on_signals: Callable[[], AbstractContextManager[threading.Event]]) -> int:
    """``record`` over several devices; ``summary_lines`` and ``stop_on_signals`` are the
    single-device command's (cmd_live), so both say the same things the same way."""
    rate = 1000.0 / args.interval if args.interval else args.rate
    group, items = group_from(args, rate)
    if not items:
        raise DeviceError("name at least one watch to record: DEVICE:EXPR[@HZ], or EXPR[@HZ] for every device.")
    with group:
        rec = group.start_recording(args.output, args.session_id, args.format)
        group.add_watches(items)
        if _warn_unsampled(group) == 0:
            group.stop_recording()
            raise DeviceError("none of the watches can be sampled, so nothing was recorded; see the reasons above.")
        live = None
        if not args.quiet and sys.stdout.isatty():
            from rich.live import Live
            from rich.text import Text

            def frame() -> Text:
                return Text.from_ansi(render(group, shutil.get_terminal_size((100, 24)).columns, color=True))

            live = Live(frame(), refresh_per_second=5)
            live.start()
        t0 = time.time()
        deadline = time.monotonic() + args.duration if args.duration else None
        with stop_on_signals() as stop:
            while not stop.is_set():
                for d in group.check_gone():
                    _say(d.name, "error", f"device lost after {d.lost_at - t0:.1f} s: {d.why}; the other devices "
                                          "keep recording" + ("." if d.gone else ", and so does it when it comes back."))
                if all(d.gone for d in group.devices) or rec.error:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
                if live is not None:
                    live.update(frame())
        if live is not None:
            live.stop()
        stats = group.finish()
        group.stop_recording()
        print(f"recorded {rec.rows} samples from {len(group.devices)} devices to {args.output} ({rec.format}, "
              f"session {rec.session_id})", flush=True)
        for d in group.devices:
            assert d.session is not None
            received = sum(w.stats.received for w in d.session.watches.values())
            head = f"{d.name}: {received} samples"
            for down, back in d.outages:
                head += f", link down from {down - t0:.1f} s to {back - t0:.1f} s"
            if d.lost_at is not None:
                head += f", LOST {d.lost_at - t0:.1f} s into the recording: {d.why}"
            print(head, flush=True)
            for line in summary_lines(d.session, stats[d.name]):
                print(f"  {line}", flush=True)
            print(f"  {d.session.clock.report().sentence()}", flush=True)
        if rec.late_rows:
            print(f"  {rec.late_rows} samples arrived too late for the VCD's time order and are not in it", flush=True)
        if rec.error:
            print(f"firmwatch: error: {rec.error}.", file=sys.stderr, flush=True)
            return 1
        lost = [d.name for d in group.devices if d.lost]
        if lost:
            _say(", ".join(lost), "error", f"recording incomplete: {', '.join(lost)} went away; the rows before that "
                                           f"are in {args.output}.")
            return 1
        if all(w.stats.received == 0 for d in group.devices for w in d.session.watches.values()):  # type: ignore[union-attr]
            print("firmwatch: error: no watch delivered a sample; see the reasons above.", file=sys.stderr)
            return 1
    return 0


def run_watch(args: argparse.Namespace, *,
              stop_on_signals: Callable[[], AbstractContextManager[threading.Event]]) -> int:
    group, items = group_from(args, args.rate)
    with group:
        group.add_watches(items)
        _warn_unsampled(group)
        tty = sys.stdout.isatty()
        deadline = time.monotonic() + args.duration if args.duration else None
        live = None
        if tty:
            from rich.live import Live
            from rich.text import Text

            def frame() -> Text:
                return Text.from_ansi(render(group, shutil.get_terminal_size((100, 24)).columns, color=True))

            live = Live(frame(), refresh_per_second=5)
            live.start()
        with stop_on_signals() as stop:
            while not stop.is_set():
                for d in group.check_gone():
                    _say(d.name, "error", f"device lost: {d.why}; the other devices keep running.")
                if all(d.gone for d in group.devices):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.2 if live is not None else 1.0)
                if live is not None:
                    live.update(frame())
                else:
                    print(render(group, shutil.get_terminal_size((100, 24)).columns), flush=True)
        if live is not None:
            live.stop()
    return 1 if any(d.lost for d in group.devices) else 0


def _device_line(d: Device) -> str:
    from firmwatch.cli.table import status_line

    assert d.session is not None
    state = f"LOST: {d.why}" if d.lost else status_line(d.session)
    return f"▸ {d.name} · {state}"


def render(group: DeviceGroup, width: int = 80, color: bool = False) -> str:
    """One table for every device, the watches of each under a line naming the device and its
    link; the columns are shared so values line up across devices."""
    from firmwatch.cli.table import render_table, table_rows

    groups = [(d, table_rows(d.session) if d.session is not None else []) for d in group.devices]
    rows = [r for _, rs in groups for r in rs]
    lines = render_table(rows, width, color)
    out = [lines[0]]
    i = 1
    for d, rs in groups:
        head = textwrap.wrap(_device_line(d), width=width) or [d.name]
        out += [f"\x1b[1;36m{h}\x1b[0m" if color else h for h in head]
        out += lines[i : i + len(rs)]
        i += len(rs)
    out += lines[i:]  # notes that did not fit a column
    return "\n".join(out)
