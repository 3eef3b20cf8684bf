"""firmwatch's public Python API: scripts, hardware-in-the-loop tests and agents.

    import firmwatch

    with firmwatch.connect("build/app.elf", port="/dev/ttyACM0") as dev:
        dev.write("g_config.calib.gain_q8", 512)
        dev.wait_until("accel_x", lambda v: v > 1500, timeout=2)
        rec = dev.record(["accel_x", "fsm_state"], duration=5)

The names below are stable and re-exported from ``firmwatch`` itself; docs/api.md is the guide.
A front end like the command line and the debug adapter: it uses the session, the one transport
factory and the engines, and nothing else in firmwatch imports it (tests/test_layering.py).
"""

from firmwatch.api.assertions import Trace, TraceAssertionError
from firmwatch.api.device import Device, SymbolInfo, TypeInfo, connect, connect_async
from firmwatch.api.errors import ApiError, MissingExtra, WaitTimeout
from firmwatch.api.recording import Recording
from firmwatch.api.samples import Loss, Sample, Watcher
from firmwatch.api.values import EnumValue, PyValue, Struct
from firmwatch.errors import UserError
from firmwatch.session.connect import ConnectError
from firmwatch.session.session import SessionError
from firmwatch.targets.base import AccessRefused, LinkStats, TargetError, TargetLost

__all__ = [
    "AccessRefused",
    "ApiError",
    "ConnectError",
    "Device",
    "EnumValue",
    "LinkStats",
    "Loss",
    "MissingExtra",
    "PyValue",
    "Recording",
    "Sample",
    "SessionError",
    "Struct",
    "SymbolInfo",
    "TargetError",
    "TargetLost",
    "Trace",
    "TraceAssertionError",
    "TypeInfo",
    "UserError",
    "WaitTimeout",
    "Watcher",
    "connect",
    "connect_async",
]
