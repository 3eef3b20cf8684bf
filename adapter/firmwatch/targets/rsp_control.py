"""Execution control over the direct GDB remote protocol (:class:`RspTarget`, no gdb process).

Less than gdb gives, by design: halt, resume, single instructions, breakpoints and watchpoints
at addresses (hit counts are counted here), the core register file and :meth:`snapshot` under
the intrusion budget. Source lines, call stacks and locals need DWARF line tables and frame
unwinding, which is gdb's work; names are resolved to addresses by whoever holds the ELF.

Stops the target reports on its own (a breakpoint while running) are picked up by the link's
sampler between rounds and, while breakpoints exist and the CPU runs, by a poller here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmwatch.targets import rsp_registers
from firmwatch.targets.base import Region, TargetError, TargetLost
from firmwatch.targets.control import (
    Access,
    Breakpoint,
    BreakpointSpec,
    Capability,
    ExecutionControl,
    Register,
    RunState,
    Snapshot,
    StepKind,
    Stop,
    StopReason,
    Unsupported,
    WatchSpec,
)

if TYPE_CHECKING:
    from firmwatch.targets.rsp import RspTarget
    from firmwatch.targets.rsp_packets import StopReply

POLL_S = 0.02
# cores whose watchpoints trap before the access (gdb's "non-steppable watchpoints")
TRAP_BEFORE_ACCESS = frozenset({"ARM", "RISC-V"})
_WATCH_REASONS = ("watch", "rwatch", "awatch")
_GDB = "set \"transport\": \"gdb\" (or --via-gdb on the command line)"
_WHY = {
    Capability.BREAK_LINE: "source-line breakpoints need DWARF line tables, which the rsp transport does not use; set "
                           "\"transport\": \"gdb\", or use a function breakpoint.",
    Capability.BREAK_FUNCTION: "the rsp transport sets breakpoints at addresses; resolve the function's address in the "
                               f"ELF first, or {_GDB}.",
    Capability.STEP_LINE: "stepping by source line needs DWARF line tables, which the rsp transport does not use; step "
                          f"by instruction, or {_GDB}.",
    Capability.STEP_OUT: "stepping out needs the call stack, which the rsp transport does not unwind; use the gdb "
                         "transport.",
    Capability.STACK: f"call stacks need frame unwinding, which the rsp transport does not do; {_GDB}.",
    Capability.LOCALS: f"locals and expressions in the CPU's frames need gdb, which the rsp transport does not run; {_GDB}.",
    Capability.CONDITION: f"breakpoint conditions need an expression evaluator in the frame; {_GDB}.",
    Capability.LOGPOINT: f"log points need gdb's evaluator; {_GDB}.",
    Capability.WATCH_EXPRESSION: "the rsp transport watches addresses, not expressions: watch a variable with a fixed "
                                 f"address, or {_GDB}.",
    Capability.THREADS: f"the rsp transport shows the CPU as one thread; RTOS tasks need gdb: {_GDB}.",
    Capability.CONSOLE: f"there is no gdb console over the rsp transport; {_GDB}.",
}


@dataclass
class _Point:
    id: int
    watch: bool
    address: int
    size: int
    access: Access | None
    hardware: bool
    ignore_left: int


class RspControl(ExecutionControl):
    """:class:`ExecutionControl` on an :class:`RspTarget`; see the module docstring."""

    def __init__(self, target: RspTarget):
        super().__init__(target)
        self.t = target
        caps = {Capability.MEMORY, Capability.HALT, Capability.STEP_INSTRUCTION, Capability.HIT_COUNT}
        if target.arch and rsp_registers.layout(target.arch):
            caps.add(Capability.REGISTERS)
        if {"breakpoints", "hw-breakpoints"} & target.capabilities:
            caps.add(Capability.BREAK_ADDRESS)
        if {"watchpoints", "read-watchpoints", "access-watchpoints"} & target.capabilities:
            caps.add(Capability.WATCH_ADDRESS)
        self.capabilities = frozenset(caps)
        self._lock = threading.Lock()
        self._next_id = 1
        self._points: dict[int, _Point] = {}
        # addresses of breakpoints removed while their hits may still be on the way (see remove_breakpoint)
        self._moribund: set[int] = set()
        self._last: Stop | None = None
        self._reported: StopReply | None = None  # the target stop last passed to on_stop
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self._exited = False
        target.on_stop(self._on_target_stop)
        target.on_link(self._on_link)

    def why(self, capability: Capability) -> str:
        if capability == Capability.REGISTERS:
            return (f"the register layout of a {self.t.arch or 'target of unknown architecture'} is not known to "
                    f"firmwatch; {_GDB}.")
        return _WHY.get(capability) or f"the GDB server at {self.t.where} does not support that ({capability.value})."

    # -- state and events -------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return RunState(self.t.run_state)

    @property
    def last_stop(self) -> Stop | None:
        return self._last

    def _classify(self, reply: StopReply, default: StopReason | None) -> Stop:
        if reply.kind != "signal":
            return Stop(StopReason.EXITED, description=str(reply))
        with self._lock:
            points = list(self._points.values())
        if reply.reason in _WATCH_REASONS:
            da = reply.data_address
            ids = tuple(p.id for p in points if p.watch and (da is None or p.address <= da < p.address + max(1, p.size)))
            return Stop(StopReason.DATA_BREAKPOINT, breakpoints=ids, data_address=da, description=str(reply))
        pc: int | None = None
        if any(not p.watch for p in points):
            try:
                pc = self.t.pc()
            except TargetError:
                pc = None
        ids = tuple(p.id for p in points if not p.watch and p.address == pc)
        if ids or reply.reason in ("swbreak", "hwbreak"):
            return Stop(StopReason.BREAKPOINT, breakpoints=ids)
        if default is not None:
            return Stop(default)
        return Stop(StopReason.EXCEPTION, description=str(reply))

    def _report(self, stop: Stop) -> None:
        self._last = stop
        self._emit_stop(stop)
        if stop.reason == StopReason.EXITED:
            self._exit(stop.description or "the program on the target has ended.")

    def _exit(self, sentence: str) -> None:
        if self._exited:
            return
        self._exited = True
        self._emit_exit(sentence)

    def _complete_access(self, reply: StopReply) -> None:
        """A watchpoint that trapped before the access: let the access happen (see finish_access)."""
        if reply.reason in _WATCH_REASONS and self.t.arch in TRAP_BEFORE_ACCESS:
            try:
                self.t.finish_access()
            except TargetLost:
                pass

    def _on_target_stop(self, reply: StopReply) -> None:
        """The target stopped on its own (sampler, poller or caller thread, link released)."""
        if self._closing.is_set():
            return
        self._reported = reply
        self._complete_access(reply)
        stop = self._classify(reply, None)
        if (stop.breakpoints and self._pass_hit(stop.breakpoints)) or self._stale_hit(stop, reply):
            try:
                self.t.resume()  # not the hit asked for yet: on, unseen
            except TargetError:
                pass
            return
        self._report(stop)

    def _pass_hit(self, ids: tuple[int, ...]) -> bool:
        """Count a hit of these points; True when every one of them is still to be passed."""
        with self._lock:
            points = [self._points[i] for i in ids if i in self._points]
            if not points or any(p.ignore_left == 0 for p in points):
                return False
            for p in points:
                p.ignore_left -= 1
            return True

    def _stale_hit(self, stop: Stop, reply: StopReply) -> bool:
        """A trap at a breakpoint removed since it was hit: no stop for the user (gdb's moribund
        breakpoint locations: a delayed breakpoint trap is ignored)."""
        if reply.kind != "signal" or reply.signal != 5 or reply.reason in _WATCH_REASONS:
            return False
        with self._lock:  # (the ids were classified before a removal took them out: gone too)
            if not self._moribund or any(i in self._points for i in stop.breakpoints):
                return False
        try:
            pc = self.t.pc()
        except TargetError:
            return False
        with self._lock:
            if pc not in self._moribund:
                return False
            self._moribund.discard(pc)
            return True

    def _on_link(self, state: str, sentence: str) -> None:
        if state == "lost":
            self._exit(sentence)

    # -- the poller: stops while breakpoints exist and the CPU runs --------------------------
    def _poll(self) -> None:
        while not self._closing.is_set():
            if not self._points or not self.t.running:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self.t.poll()
            except TargetLost:
                return
            except TargetError:
                pass
            self._closing.wait(POLL_S)

    def _ensure_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="firmwatch-rsp-control", daemon=True)
            self._poller.start()
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()

    # -- run control ------------------------------------------------------------------------
    def halt(self, wait: float | None = 5.0) -> Stop | None:
        reply = self.t.halt()
        if reply is self._reported:  # a breakpoint won the race: already reported as such
            return self._last
        stop = self._classify(reply, StopReason.PAUSE)
        self._reported = reply
        self._report(stop)
        return stop

    def resume(self) -> None:
        self.t.resume()
        self._emit_running()
        self._ensure_poller()

    def step(self, kind: StepKind, thread: int | None = None, wait: float | None = 5.0) -> Stop | None:
        if kind not in (StepKind.INSTRUCTION, StepKind.INSTRUCTION_OVER):
            return super().step(kind, thread, wait)
        self._emit_running()
        reply = self.t.step()
        self._complete_access(reply)
        self._reported = reply
        stop = self._classify(reply, StopReason.STEP)
        self._report(stop)
        return stop

    # -- breakpoints ------------------------------------------------------------------------
    def _new_id(self) -> int:
        with self._lock:
            n, self._next_id = self._next_id, self._next_id + 1
            return n

    def add_breakpoint(self, spec: BreakpointSpec) -> Breakpoint:
        if spec.location.address is None:
            raise Unsupported(self.why(spec.location.needs))
        if spec.condition:
            raise Unsupported(self.why(Capability.CONDITION))
        if spec.log_message is not None:
            raise Unsupported(self.why(Capability.LOGPOINT))
        self.require(Capability.BREAK_ADDRESS)
        address = spec.location.address
        bid = self._new_id()
        # known before the target has it: a hit while the breakpoint goes in is counted as one
        with self._lock:
            self._points[bid] = _Point(bid, False, address, 0, None, spec.hardware, max(0, spec.ignore_count))
            self._moribund.discard(address)
        try:
            self.t.add_breakpoint(address, hardware=spec.hardware)
        except BaseException:
            with self._lock:
                self._points.pop(bid, None)
            raise
        self._ensure_poller()
        return Breakpoint(bid, True, address=address)

    def add_watchpoint(self, spec: WatchSpec) -> Breakpoint:
        if spec.address is None:
            raise Unsupported(self.why(Capability.WATCH_EXPRESSION))
        if spec.condition:
            raise Unsupported(self.why(Capability.CONDITION))
        self.require(Capability.WATCH_ADDRESS)
        self.t.add_watchpoint(spec.address, spec.size, spec.access.value)
        bid = self._new_id()
        with self._lock:
            self._points[bid] = _Point(bid, True, spec.address, spec.size, spec.access, False,
                                       max(0, spec.ignore_count))
        self._ensure_poller()
        kind = {Access.WRITE: "watchpoint", Access.READ: "read watchpoint", Access.ACCESS: "access watchpoint"}
        return Breakpoint(bid, True, address=spec.address, kind=kind[spec.access])

    def remove_breakpoint(self, breakpoint_id: int) -> None:
        with self._lock:
            p = self._points.pop(breakpoint_id, None)
            if p is None:
                return
            shared = any(q.address == p.address and q.watch == p.watch and q.access == p.access
                         for q in self._points.values())
            if not p.watch and not shared:
                # the CPU may have stopped on it just before it went (the trap not yet read, or
                # read and not yet classified): that trap is this breakpoint's, not a stop for the
                # user. Marked with the same lock that took it out of _points, so that a trap
                # classified in between finds one or the other
                self._moribund.add(p.address)
        if shared:  # another id at the same place still needs the target's point
            return
        if p.watch:
            assert p.access is not None
            self.t.remove_watchpoint(p.address, p.access.value)
        else:
            self.t.remove_breakpoint(p.address, hardware=p.hardware)

    # -- registers ----------------------------------------------------------------------------
    def registers(self, thread: int | None = None, frame: int = 0) -> list[Register]:
        if frame:
            raise Unsupported(self.why(Capability.STACK))
        layout = rsp_registers.layout(self.t.arch)
        if layout is None:
            raise Unsupported(self.why(Capability.REGISTERS))
        raw = self.t.read_registers()
        out = []
        for r in layout:
            if r.offset + r.size > len(raw):
                break
            value = int.from_bytes(raw[r.offset : r.offset + r.size], "little")
            out.append(Register(r.name, f"0x{value:x}", value, r.number))
        return out

    def register(self, name: str) -> int:
        return self.t.register_value(name)

    def live_registers(self, registers: Sequence[str]) -> dict[str, int] | None:
        return self.t.live_registers(registers)

    def snapshot(self, registers: Sequence[str] = (), regions: Sequence[Region] = ()) -> Snapshot:
        values, memory, halted = self.t.snapshot(registers, regions)
        return Snapshot(values, memory, halted)
