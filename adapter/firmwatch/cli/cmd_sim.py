"""``firmwatch sim``: build and run a simulated device, print where to reach it, run until stopped.

The first lines on stdout are machine-readable and flushed at once:

    port: /dev/pts/7            (pty path or pyserial URL of the firmware's UART)
    elf: /path/to/demo.elf
    gdb: 127.0.0.1:1234         (emulated targets only)

then the command waits until SIGINT/SIGTERM and stops the emulator's whole process group.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from firmwatch.sim import PACES, TARGETS, SimError, start_sim


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="run the demo firmware on a simulated device (host process, QEMU or simavr)",
        description="Build what is missing and run the demo firmware on a simulated device; "
        "prints its port, ELF and gdb address, and runs until interrupted.",
    )
    p.add_argument("--target", choices=TARGETS, default="host", help="which device to simulate (default: host)")
    p.add_argument("--gdb-port", type=int, metavar="N", help="TCP port of the gdb stub on emulated targets (default: a free port)")
    p.add_argument("--gdb-poll", type=int, metavar="CYCLES",
                   help="avr: poll the gdb socket every CYCLES simulated cycles (default 2000; 1 makes breakpoints exact, ~40x slower)")
    p.add_argument("--tcp", action="store_true", help="serve the UART on a TCP port (socket://127.0.0.1:N) instead of a pty")
    p.add_argument("--build-dir", metavar="DIR", help="where to build the firmware (default: firmware/build/TARGET or the user cache)")
    p.add_argument("--pace", choices=PACES, default="realtime",
                   help="emulated targets: realtime (default) keeps the 1 kHz tick on the wall clock; fast runs emulated time as fast as the host allows")
    p.add_argument("--verbose", action="store_true", help="also print the build's footprint and the emulator's own output")
    p.set_defaults(func=run_sim)


def run_sim(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers first: a SIGTERM that arrives while the emulator starts must still stop it.
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # die_with_parent: even a `kill -9` of this command must not leave an emulator behind.
        dev = start_sim(args.target, gdb_port=args.gdb_port, tcp=args.tcp, build_dir=args.build_dir,
                        pace=args.pace, die_with_parent=True, gdb_poll=args.gdb_poll)
        with dev:
            lines = [f"port: {dev.port}", f"elf: {dev.elf}"]
            if dev.gdb:
                lines.append(f"gdb: {dev.gdb}")
            print("\n".join(lines), flush=True)
            if args.verbose:
                if dev.build and dev.build.footprint:
                    print(dev.build.footprint, file=sys.stderr)
                print(f"running: {' '.join(dev.command)}", file=sys.stderr, flush=True)
            while not stop.is_set():
                if dev.wait(timeout=0.2) is not None:
                    tail = " | ".join(line for line in dev.log()[-3:] if line.strip())
                    if args.verbose:
                        print("\n".join(dev.log()), file=sys.stderr)
                    raise SimError(
                        f"the {args.target} simulation exited with status {dev.returncode}"
                        + (f" ({tail})" if tail else "")
                        + ": run `firmwatch sim --verbose` to see its output."
                    )
        return 0
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
