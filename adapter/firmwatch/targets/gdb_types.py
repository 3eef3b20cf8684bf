"""Plain data the gdb transport hands to front ends (the DAP adapter maps them 1:1)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Frame:
    id: int  # the frame's level in its thread's stack (0 = innermost)
    function: str | None
    file: str | None  # the path gdb knows (absolute when the DWARF has the compilation dir)
    line: int | None
    address: int
    thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    value: str  # as gdb prints it
    type: str | None
    argument: bool = False  # a function argument rather than a local


@dataclass(frozen=True, slots=True)
class Breakpoint:
    id: int | None  # gdb's number; None when it could not be set
    verified: bool
    line: int | None = None
    message: str | None = None  # why it is not verified, one sentence
    file: str | None = None
    address: int | None = None
    function: str | None = None
    kind: str = "breakpoint"  # "breakpoint", "logpoint", "watchpoint", "read watchpoint", "access watchpoint"


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    value: str  # gdb's natural format (hex for integers)
    number: int = -1


@dataclass(frozen=True, slots=True)
class Thread:
    id: int
    name: str  # the server's description, e.g. "Thread 1.1" or an RTOS task name
    state: str  # "stopped" / "running"
    frame: Frame | None = None


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
