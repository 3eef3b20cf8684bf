"""firmwatch: live-watch debugger for embedded firmware.

The public Python API (``firmwatch.connect`` and friends, docs/api.md) is re-exported here and
imported on first use, so ``firmwatch`` on the command line does not pay for it.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# the stable names of firmwatch.api (its __all__), importable as firmwatch.NAME
PUBLIC_API = (
    "AccessRefused", "ApiError", "ConnectError", "Device", "EnumValue", "LinkStats", "Loss", "MissingExtra",
    "PyValue", "Recording", "Sample", "SessionError", "Struct", "SymbolInfo", "TargetError", "TargetLost", "Trace",
    "TraceAssertionError", "TypeInfo", "UserError", "WaitTimeout", "Watcher", "connect", "connect_async",
)

if TYPE_CHECKING:
    from firmwatch.api import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name in PUBLIC_API:
        import firmwatch.api

        return getattr(firmwatch.api, name)
    raise AttributeError(f"module 'firmwatch' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *PUBLIC_API])
