"""Plain data of the gdb transport: gdb's own view (its stop records, registers as text). Frames,
threads and breakpoints are the execution-control protocol's (targets/control.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmwatch.targets.control import Breakpoint, Frame, Thread

__all__ = ["Breakpoint", "Frame", "Register", "StopEvent", "Thread", "Variable"]


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    value: str  # as gdb prints it
    type: str | None
    argument: bool = False  # a function argument rather than a local


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    value: str  # gdb's natural format (hex for integers)
    number: int = -1


@dataclass(frozen=True, slots=True)
class StopEvent:
    """Why the target stopped. ``reason`` is gdb's: "breakpoint-hit", "watchpoint-trigger",
    "read-watchpoint-trigger", "access-watchpoint-trigger", "end-stepping-range",
    "function-finished", "signal-received" (a pause), "exited", ..."""

    reason: str
    thread_id: int | None
    frame: Frame | None
    hit_breakpoints: tuple[int, ...] = ()
    signal: str | None = None  # e.g. "SIGINT" for a pause
    details: dict[str, str] = field(default_factory=dict)  # watchpoint old/new values, exit code, ...
