"""Open the right Target for what the user named: a serial port / URL, or a GDB server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmwatch.symbols.program import Program
from firmwatch.targets.base import Target, TargetError


@dataclass
class GdbOptions:
    """How to sample through a GDB server (see docs/gdb.md)."""

    budget: float | None = 0.01  # max fraction of time the target may be halted; None: no cap
    mode: str = "auto"  # "auto" (probe), "live" (server reads while running), "halt"
    lock_symbol: str | None = None  # flag the firmware sets while it updates the data
    via_gdb: bool = False  # go through a gdb process instead of our direct RSP client
    gdb_path: str | None = None


def open_target(
    *,
    port: str | None = None,
    baud: int = 921600,
    mode: str = "binary",
    gdb: str | None = None,
    program: Program | None = None,
    gdb_options: GdbOptions | None = None,
    on_message: Callable[[str, str], None] | None = None,
) -> Target:
    """``port`` is a device path (/dev/ttyACM0, /dev/pts/3) or a pyserial URL (socket://host:port);
    ``mode`` is the streamer's link mode (``binary``, or ``text`` on request); ``gdb`` is a GDB
    server's ``host:port``."""
    if port and gdb:
        raise TargetError("give either --port (streamer firmware) or --gdb (a GDB server), not both.")

    def on_link(state: str, message: str) -> None:
        if on_message is not None:
            on_message("info" if state == "restored" else "warning", message)

    if port:
        from firmwatch.targets.streamer import StreamerTarget

        return StreamerTarget(port, baud=baud, mode=mode, on_link=on_link)
    if gdb:
        opts = gdb_options or GdbOptions()
        lock = None
        if opts.lock_symbol:
            if program is None:
                raise TargetError("--lock-symbol needs the ELF to find the flag's address.")
            v = program.find_variable(opts.lock_symbol)
            lock = (v.address, v.size or 1)
        arch = program.elf.machine if program is not None else None
        if opts.via_gdb:
            try:
                from firmwatch.targets.gdb import GdbTarget
            except ImportError:
                raise TargetError("this firmwatch build has no gdb transport; drop --via-gdb to use direct RSP.") from None
            if program is None:
                raise TargetError("sampling through gdb needs the ELF.")
            return GdbTarget(program.elf.path, server=gdb, gdb_path=opts.gdb_path, mode=opts.mode,
                             budget=opts.budget, lock=lock, on_link=on_link)
        from firmwatch.targets.rsp import RspTarget

        return RspTarget(gdb, expect_arch=arch, mode=opts.mode, budget=opts.budget, lock=lock, on_link=on_link)
    raise TargetError("no target given: use --port PORT (serial device or socket://HOST:PORT) or --gdb HOST:PORT.")
