"""Execution control: the one interface through which anything above ``targets/`` stops, steps,
inspects and resumes the CPU, in the manner of pyOCD's ``Target``.

Every transport hands out one :class:`ExecutionControl` (``Target.control()``) and *declares*
what it can do in :attr:`ExecutionControl.capabilities`; whatever it cannot do raises
:class:`Unsupported`, whose sentence names the transport that can. Nobody probes with
``hasattr`` or picks behaviour by transport name: the debug adapter's CPU thread, and the
session-level engines (a stack-usage monitor reading SP, an RTOS view unwinding saved task
contexts, a PC-sampling profiler) are written against this module alone.

What each transport gives (tests/test_control_contract.py checks the declarations):

* gdb (``gdb_control.py``): everything — source lines, functions, conditions, hit counts, log
  points, expression watchpoints, unwound stacks, locals, gdb's console.
* rsp (``rsp_control.py``): halt, resume, instruction steps, breakpoints and watchpoints at
  addresses (with hit counts), the register file, and :meth:`snapshot`. Names and source lines
  are the ELF's business: a caller that has the ELF resolves them to addresses first.
* the streamer (:class:`MemoryOnlyControl`): memory only; the firmware streams while it runs
  and nothing on that link can stop it.

Addresses are the ELF's; values and types from a frame (:class:`FrameValue`) are text as the
debugger prints them, because only a debugger that unwinds (gdb) can show a frame's locals.
Events (``on_stop``, ``on_running``, ``on_exit``, ``on_output``) may arrive on any thread; a
callback must not wait for the target (hand the work to another thread).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from firmwatch.targets.base import Region, TargetError

if TYPE_CHECKING:
    from firmwatch.targets.base import Target


class Capability(StrEnum):
    MEMORY = "memory"  # read and write bytes
    HALT = "halt"  # halt and resume
    STEP_INSTRUCTION = "step-instruction"
    STEP_LINE = "step-line"  # into / over one source line
    STEP_OUT = "step-out"  # run until the function returns
    BREAK_ADDRESS = "break-address"
    BREAK_LINE = "break-line"  # file:line
    BREAK_FUNCTION = "break-function"  # by name
    CONDITION = "condition"  # a C expression the breakpoint must meet
    HIT_COUNT = "hit-count"  # pass the first N hits
    LOGPOINT = "logpoint"  # print and carry on
    WATCH_ADDRESS = "watch-address"  # data breakpoints on address and size
    WATCH_EXPRESSION = "watch-expression"  # data breakpoints on any lvalue
    REGISTERS = "registers"
    STACK = "stack"  # unwound call stacks with source positions
    LOCALS = "locals"  # locals, arguments and expressions in a frame's scope
    THREADS = "threads"  # the server's threads (RTOS tasks)
    CONSOLE = "console"  # the debugger's own command line


class Unsupported(TargetError):
    """This transport cannot do that; ``str()`` says what can."""


class RunState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    EXITED = "exited"  # the program ended or the link is gone: nothing more will happen


class StepKind(StrEnum):
    INTO = "into"  # one source line, into calls
    OVER = "over"  # one source line, over calls
    OUT = "out"  # until the current function returns
    INSTRUCTION = "instruction"
    INSTRUCTION_OVER = "instruction-over"  # one instruction, over calls


class StopReason(StrEnum):
    BREAKPOINT = "breakpoint"
    DATA_BREAKPOINT = "data breakpoint"
    STEP = "step"
    PAUSE = "pause"
    ENTRY = "entry"  # found stopped when the session began
    EXCEPTION = "exception"  # a fault, a signal, a breakpoint instruction in the firmware
    EXITED = "exited"


class Access(StrEnum):
    WRITE = "write"
    READ = "read"
    ACCESS = "access"  # read or write


@dataclass(frozen=True, slots=True)
class Stop:
    """Why the CPU stopped. ``thread`` is the transport's thread id (None: the only core)."""

    reason: StopReason
    thread: int | None = None
    breakpoints: tuple[int, ...] = ()  # ids of this control's breakpoints that caused it
    description: str | None = None  # "g_x: 1 → 2", "signal SIGSEGV", "the program exited with status 0"
    data_address: int | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """Where a breakpoint goes: exactly one of an address, a source line or a function name."""

    address: int | None = None
    file: str | None = None
    line: int | None = None
    function: str | None = None

    @classmethod
    def at(cls, address: int) -> Location:
        return cls(address=address)

    @classmethod
    def source(cls, file: str, line: int) -> Location:
        return cls(file=file, line=line)

    @classmethod
    def named(cls, function: str) -> Location:
        return cls(function=function)

    @property
    def needs(self) -> Capability:
        if self.address is not None:
            return Capability.BREAK_ADDRESS
        return Capability.BREAK_LINE if self.file is not None else Capability.BREAK_FUNCTION

    def __str__(self) -> str:
        if self.address is not None:
            return f"0x{self.address:x}"
        if self.file is not None:
            return f"{self.file}:{self.line}"
        return self.function or "?"


@dataclass(frozen=True, slots=True)
class BreakpointSpec:
    location: Location
    condition: str | None = None  # a C expression: stop only when it is true
    ignore_count: int = 0  # pass the first N hits
    log_message: str | None = None  # print this ({expression} parts evaluated) and carry on
    hardware: bool = False


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """A data breakpoint on an lvalue ``expression``, or on ``size`` bytes at ``address``."""

    access: Access = Access.WRITE
    expression: str | None = None
    address: int | None = None
    size: int = 0
    condition: str | None = None
    ignore_count: int = 0

    @property
    def needs(self) -> Capability:
        return Capability.WATCH_EXPRESSION if self.expression is not None else Capability.WATCH_ADDRESS


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A breakpoint, log point or watchpoint as set. ``id`` None: not set, ``message`` says why."""

    id: int | None
    verified: bool
    line: int | None = None
    message: str | None = None
    file: str | None = None
    address: int | None = None
    function: str | None = None
    kind: str = "breakpoint"  # "breakpoint", "logpoint", "watchpoint", "read watchpoint", "access watchpoint"


@dataclass(frozen=True, slots=True)
class Frame:
    id: int  # the frame's level in its thread's stack (0 = innermost)
    function: str | None
    file: str | None  # the path the debugger knows (absolute when the DWARF has the compilation dir)
    line: int | None
    address: int
    thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    id: int
    name: str  # "CPU", the server's description, or an RTOS task name
    state: str  # "stopped" / "running"
    frame: Frame | None = None


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    text: str  # as the debugger shows it (hex for integers)
    value: int | None = None  # None when it is not an integer (a vector, an unavailable register)
    number: int = -1


@dataclass(frozen=True, slots=True)
class FrameValue:
    """A value in a frame's scope, as the debugger prints it. ``handle`` (when it has children)
    names it for :meth:`ExecutionControl.children` until the CPU runs again."""

    name: str  # a local's name, a member's name, "[3]" for an element
    expression: str  # how a user writes it in that frame
    value: str
    type: str
    children: int = 0
    handle: str | None = None
    argument: bool = False  # a function argument rather than a local


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Registers and memory read together, in one halt (or as the stopped CPU stands)."""

    registers: dict[str, int]
    memory: list[bytes]  # one per requested region
    halted_s: float  # how long it kept a running CPU halted (0 when it was stopped already)


StopCallback = Callable[[Stop], None]


class ExecutionControl:
    """The declared interface; see the module docstring. Subclasses override what their
    capabilities promise; every other call raises :class:`Unsupported` with ``why``'s sentence."""

    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, target: Target):
        self.target = target
        self._stop_cbs: list[StopCallback] = []
        self._running_cbs: list[Callable[[], None]] = []
        self._exit_cbs: list[Callable[[str], None]] = []
        self._output_cbs: list[Callable[[str, str], None]] = []

    # -- what it cannot do ------------------------------------------------------------------
    def why(self, capability: Capability) -> str:
        """The sentence for a capability this transport lacks."""
        return (f"this transport cannot do that ({capability.value}); use the gdb transport "
                "(\"transport\": \"gdb\") for full execution control.")

    def require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise Unsupported(self.why(capability))

    # -- state and events -------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return RunState.RUNNING

    @property
    def last_stop(self) -> Stop | None:
        return None

    def on_stop(self, callback: StopCallback) -> None:
        """Every stop the user may see: breakpoints, steps and halts asked for here included."""
        self._stop_cbs.append(callback)

    def on_running(self, callback: Callable[[], None]) -> None:
        self._running_cbs.append(callback)

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """``callback(sentence)``: the program ended or the link is gone for good."""
        self._exit_cbs.append(callback)

    def on_output(self, callback: Callable[[str, str], None]) -> None:
        """``callback(kind, text)``: kind "console" (the debugger, log points) or "target"."""
        self._output_cbs.append(callback)

    @staticmethod
    def _emit(callbacks: list[Callable[..., None]], *args: object) -> None:
        for cb in list(callbacks):
            try:
                cb(*args)
            except Exception:  # noqa: BLE001 - a front end's bug must not break the transport
                pass

    def _emit_stop(self, stop: Stop) -> None:
        self._emit(self._stop_cbs, stop)

    def _emit_running(self) -> None:
        self._emit(self._running_cbs)

    def _emit_exit(self, sentence: str) -> None:
        self._emit(self._exit_cbs, sentence)

    def _emit_output(self, kind: str, text: str) -> None:
        self._emit(self._output_cbs, kind, text)

    # -- run control ------------------------------------------------------------------------
    def halt(self, wait: float | None = 5.0) -> Stop | None:
        """Stop the CPU; with ``wait``, return the stop (it is also sent to ``on_stop``)."""
        raise Unsupported(self.why(Capability.HALT))

    def resume(self) -> None:
        raise Unsupported(self.why(Capability.HALT))

    def step(self, kind: StepKind, thread: int | None = None, wait: float | None = 5.0) -> Stop | None:
        raise Unsupported(self.why(_STEP_NEEDS[kind]))

    # -- breakpoints ------------------------------------------------------------------------
    def add_breakpoint(self, spec: BreakpointSpec) -> Breakpoint:
        """Set it; a location or option this transport cannot honour raises :class:`Unsupported`,
        a place the debugger refuses gives an unverified Breakpoint whose message says why."""
        raise Unsupported(self.why(spec.location.needs))

    def add_watchpoint(self, spec: WatchSpec) -> Breakpoint:
        raise Unsupported(self.why(spec.needs))

    def remove_breakpoint(self, breakpoint_id: int) -> None:
        """Remove a breakpoint, log point or watchpoint by id (an unknown id is ignored)."""

    # -- inspection: the CPU must be stopped ---------------------------------------------
    def threads(self) -> list[Thread]:
        raise Unsupported(self.why(Capability.THREADS))

    def stack(self, thread: int | None = None, levels: int | None = None) -> list[Frame]:
        raise Unsupported(self.why(Capability.STACK))

    def registers(self, thread: int | None = None, frame: int = 0) -> list[Register]:
        raise Unsupported(self.why(Capability.REGISTERS))

    def register(self, name: str) -> int:
        """One integer register of the current thread's innermost frame ("pc", "sp", "r0"); a
        pointer register (pc, sp) as an address in the ELF's address space, whatever the raw
        register holds (the AVR's PC counts words, its SP is a data-space offset)."""
        for r in self.registers():
            if r.name == name and r.value is not None:
                return r.value
        raise TargetError(f"this target has no register '{name}'.")

    def locals(self, thread: int | None = None, frame: int = 0) -> list[FrameValue]:
        raise Unsupported(self.why(Capability.LOCALS))

    def evaluate(self, expression: str, thread: int | None = None, frame: int = 0) -> FrameValue:
        raise Unsupported(self.why(Capability.LOCALS))

    def children(self, value: FrameValue, start: int = 0, count: int = 0) -> list[FrameValue]:
        raise Unsupported(self.why(Capability.LOCALS))

    def assign(self, expression: str, value: str, thread: int | None = None, frame: int = 0) -> FrameValue:
        """``expression = value`` in a frame's scope; the value as read back."""
        raise Unsupported(self.why(Capability.LOCALS))

    def console(self, command: str) -> str:
        raise Unsupported(self.why(Capability.CONSOLE))

    # -- memory and engines -----------------------------------------------------------------
    def read(self, address: int, size: int) -> bytes:
        return self.target.read(address, size)

    def write(self, address: int, data: bytes) -> bytes:
        """Write, then return the bytes read back."""
        return self.target.write(address, data)

    def live_registers(self, registers: Sequence[str]) -> dict[str, int] | None:
        """``registers`` read without stopping a running CPU, where the transport can (a GDB
        server that answers register reads while the target runs, as simavr's does); None where
        it cannot (then :meth:`snapshot` halts for them). For sampling engines such as the PC
        profiler: each value is the register at some instant during the call, pointers as ELF
        addresses as :meth:`register` gives them."""
        return None

    def snapshot(self, registers: Sequence[str] = (), regions: Sequence[Region] = ()) -> Snapshot:
        """Read ``registers`` and ``regions`` together: a running CPU is halted just for that,
        within the transport's intrusion budget (waiting for it when the budget is spent), and
        resumed unseen; a stopped CPU is read as it stands. For engines (SP for stack health,
        PC for a profiler, saved contexts for RTOS views). A stack pointer the CPU writes in two
        halves (the AVR's SPL/SPH) is given as it stands once a write under way completes, never
        torn (targets/avr_sp.py); :meth:`register` gives the hardware's value."""
        raise Unsupported(self.why(Capability.REGISTERS))

    def close(self) -> None:
        """Stop this control's own threads (the target is closed by its owner)."""


_STEP_NEEDS = {StepKind.INTO: Capability.STEP_LINE, StepKind.OVER: Capability.STEP_LINE,
               StepKind.OUT: Capability.STEP_OUT, StepKind.INSTRUCTION: Capability.STEP_INSTRUCTION,
               StepKind.INSTRUCTION_OVER: Capability.STEP_INSTRUCTION}


class MemoryOnlyControl(ExecutionControl):
    """A transport that moves bytes but cannot stop the CPU (the streamer): memory reads and
    writes, and a sentence for everything else."""

    capabilities = frozenset({Capability.MEMORY})

    def __init__(self, target: Target, reason: str):
        super().__init__(target)
        self.reason = reason

    def why(self, capability: Capability) -> str:
        return self.reason

    def snapshot(self, registers: Sequence[str] = (), regions: Sequence[Region] = ()) -> Snapshot:
        if registers:
            raise Unsupported(self.reason)
        return Snapshot({}, [self.target.read(r.address, r.size) for r in regions], 0.0)
