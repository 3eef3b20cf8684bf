"""Open the right Target for what the user named: a serial port / URL, or a GDB server."""

from __future__ import annotations

from collections.abc import Callable

from firmwatch.targets.base import Target, TargetError


def open_target(
    *,
    port: str | None = None,
    baud: int = 921600,
    gdb: str | None = None,
    on_message: Callable[[str, str], None] | None = None,
) -> Target:
    """``port`` is a device path (/dev/ttyACM0, /dev/pts/3) or a pyserial URL (socket://host:port)."""
    if port and gdb:
        raise TargetError("give either --port (streamer firmware) or --gdb (a GDB server), not both.")
    if port:
        from firmwatch.targets.streamer import StreamerTarget

        def on_link(state: str, message: str) -> None:
            if on_message is not None:
                on_message("warning" if state == "lost" else "info", message)

        return StreamerTarget(port, baud=baud, on_link=on_link)
    if gdb:
        try:
            from firmwatch.targets.rsp import RspTarget  # type: ignore[import-not-found]
        except ImportError:
            raise TargetError(
                "this firmwatch build has no GDB transport yet; use --port with the streamer firmware."
            ) from None
        return RspTarget(gdb)  # type: ignore[no-any-return]
    raise TargetError("no target given: use --port PORT (serial device or socket://HOST:PORT) or --gdb HOST:PORT.")
