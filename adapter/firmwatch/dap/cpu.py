"""The real CPU as a DAP thread: the plug-in point for execution control.

The adapter always shows the "Live" pseudo-thread (live.py). A transport that can stop the CPU
(gdb, rsp) adds a second thread — the CPU — with its real stack, locals, registers, breakpoints
and stepping. That part is written against this interface so it plugs in without touching the
request handlers: the adapter asks its :class:`CpuThread` for everything about CPU threads and
frames, and routes every request whose ``threadId`` / ``frameId`` / ``variablesReference`` the
Live view does not own to it.

Ids: the Live thread is id 1 and its frame id 1; a CPU implementation uses thread ids >= 2, frame
ids >= 1000 and allocates its variablesReferences from the shared registry
(:class:`firmwatch.dap.variables.VariableRegistry`) so they never collide with the Live ones.

To stop on a breakpoint an implementation calls ``events.stopped(thread_id, reason, ...)``; the
adapter then sends the ``stopped`` event (``allThreadsStopped: false``) so VS Code focuses the
CPU thread while the Live thread keeps updating. ``events.continued`` likewise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from firmwatch.dap.messaging import RequestError


@dataclass
class CpuEvents:
    """What a CPU implementation may tell the client (the adapter fills these in)."""

    stopped: Callable[..., None]  # (thread_id, reason, description=None, hit_breakpoint_ids=None)
    continued: Callable[[int], None]  # (thread_id)
    output: Callable[[str, str], None]  # (category, text)


class CpuThread(Protocol):
    """Execution control of the real CPU. Return values are DAP body fragments (plain dicts)."""

    capabilities: dict[str, Any]  # merged into the initialize response (supportsConditionalBreakpoints, ...)

    def attach(self, events: CpuEvents) -> None: ...
    def threads(self) -> list[dict[str, Any]]: ...  # [{"id": 2, "name": "CPU"}]
    def owns_thread(self, thread_id: int) -> bool: ...
    def owns_frame(self, frame_id: int) -> bool: ...
    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]: ...
    def scopes(self, frame_id: int) -> list[dict[str, Any]]: ...  # Locals, Registers
    def variables(self, reference: int, start: int, count: int, hex: bool) -> list[dict[str, Any]] | None: ...
    def evaluate(self, expression: str, frame_id: int, hex: bool) -> dict[str, Any]: ...
    def set_breakpoints(self, source: dict[str, Any], breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def set_function_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def continue_(self, thread_id: int) -> None: ...
    def pause(self, thread_id: int) -> None: ...
    def step(self, thread_id: int, kind: str, granularity: str) -> None: ...  # kind: next, stepIn, stepOut
    def close(self) -> None: ...


class NullCpu:
    """Streamer targets (serial, tcp) and the rsp transport until its CPU thread exists: no CPU thread.

    Breakpoints are answered as not verified, with the reason, so VS Code shows grey markers
    instead of silently ignoring them.
    """

    capabilities: dict[str, Any] = {}

    def __init__(self, reason: str = "this transport cannot stop the CPU; use the gdb transport for breakpoints"):
        self.reason = reason

    def attach(self, events: CpuEvents) -> None:
        pass

    def threads(self) -> list[dict[str, Any]]:
        return []

    def owns_thread(self, thread_id: int) -> bool:
        return False

    def owns_frame(self, frame_id: int) -> bool:
        return False

    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]:
        raise RequestError(f"there is no thread {thread_id}.", show_user=False)

    def scopes(self, frame_id: int) -> list[dict[str, Any]]:
        raise RequestError(f"there is no frame {frame_id}.", show_user=False)

    def variables(self, reference: int, start: int, count: int, hex: bool) -> list[dict[str, Any]] | None:
        return None

    def evaluate(self, expression: str, frame_id: int, hex: bool) -> dict[str, Any]:
        raise RequestError(f"there is no frame {frame_id}.", show_user=False)

    def set_breakpoints(self, source: dict[str, Any], breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"verified": False, "message": self.reason, "line": b.get("line")} for b in breakpoints]

    def set_function_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"verified": False, "message": self.reason} for _ in breakpoints]

    def continue_(self, thread_id: int) -> None:
        pass  # the Live thread "continues" into its next refresh: nothing to do

    def pause(self, thread_id: int) -> None:
        raise RequestError("the CPU cannot be paused over this transport; use the gdb transport to halt it.")

    def step(self, thread_id: int, kind: str, granularity: str) -> None:
        raise RequestError("stepping needs a transport that controls the CPU; use the gdb transport.")

    def close(self) -> None:
        pass


def cpu_for(target: Any, transport: str, program: Any = None) -> CpuThread:
    """The CPU-thread implementation for a connected target: gdb's view of the CPU over the gdb
    transport; pause, instruction steps and breakpoints by ELF symbol over rsp (``program``
    names the PC); none over the streamer transports."""
    if transport == "gdb" and "halt" in getattr(target, "capabilities", ()) and hasattr(target, "on_stop"):
        from firmwatch.dap.cpu_gdb import GdbCpu

        return GdbCpu(target)
    if transport == "rsp" and program is not None and hasattr(target, "halt") and hasattr(target, "on_stop"):
        from firmwatch.dap.cpu_rsp import RspCpu

        return RspCpu(target, program)
    if transport == "rsp":
        return NullCpu("breakpoints and stepping need the gdb transport (transport \"gdb\"); live watches work over rsp")
    return NullCpu()
