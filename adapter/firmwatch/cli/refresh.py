"""The refreshing views of ``firmwatch memory`` and ``firmwatch rtos``: writes asked with ``--set``
first, then one snapshot every ``--interval`` seconds until ``--count`` refreshes or Ctrl-C —
redrawn in place on a terminal, printed as blocks when piped, one JSON object a line with
``--json``. One loop, so both commands stop, pipe and redraw alike."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from firmwatch.cli.cmd_live import _stop_on_signals

T = TypeVar("T")


def add_refresh_args(p: argparse.ArgumentParser, *, view: str, set_example: str) -> None:
    """--interval, --count, --set and --json; ``view`` names what --json replaces."""
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between refreshes (default 1)")
    p.add_argument("--count", type=int, metavar="N", help="stop after N refreshes (default: until Ctrl-C)")
    p.add_argument("--set", action="append", default=[], metavar="EXPR=VALUE",
                   help=f"write a variable before the first refresh (repeatable), e.g. {set_example}")
    p.add_argument("--json", action="store_true", help=f"one JSON object per refresh instead of the {view}")


def checked_sets(args: argparse.Namespace, set_example: str) -> list[tuple[str, str]] | None:
    """The ``--set`` writes as (expression, value), checked with ``--interval`` before anything is
    opened; None after one sentence on stderr (the command exits with status 2)."""
    if args.interval <= 0:
        print("firmwatch: --interval is a number of seconds above 0, e.g. 0.5.", file=sys.stderr)
        return None
    sets = []
    for item in args.set:
        expr, sep, value = item.partition("=")
        if not sep:
            print(f"firmwatch: --set takes EXPR=VALUE (got '{item}'), e.g. --set {set_example}.", file=sys.stderr)
            return None
        sets.append((expr.strip(), value.strip()))
    return sets


def run_refreshes(refresh: Callable[[], T], args: argparse.Namespace, *, lines: Callable[[T], list[str]],
                  as_json: Callable[[T], str], each: Callable[[int, T], None] | None = None) -> int:
    """Show ``refresh()`` every ``args.interval`` seconds; ``each(n, snapshot)`` also gets every
    one (a recording). Returns how many were taken."""
    n = 0
    live = None
    if not args.json and sys.stdout.isatty():
        from rich.live import Live
        from rich.text import Text

        live = Live(Text(""), refresh_per_second=4)
        live.start()
    try:
        with _stop_on_signals() as stop:
            while not stop.is_set():
                snapshot = refresh()
                n += 1
                if each is not None:
                    each(n, snapshot)
                if args.json:
                    print(as_json(snapshot), flush=True)
                elif live is not None:
                    from rich.text import Text

                    live.update(Text("\n".join(lines(snapshot))))
                else:
                    print("\n".join(lines(snapshot)), flush=True)
                    print(flush=True)
                if args.count is not None and n >= args.count:
                    break
                stop.wait(args.interval)
    finally:
        if live is not None:
            live.stop()
    return n
