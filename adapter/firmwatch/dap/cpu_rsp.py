"""The real CPU as a DAP thread over the direct GDB remote protocol (no gdb process).

Less than the gdb transport gives, by design: pause, continue, single instructions, breakpoints
on functions (their ELF symbol address), data breakpoints on variables (their address and
size), and one frame at the program counter named by the ELF's symbol table with the core
registers. Source lines, locals and call stacks need DWARF line and frame unwinding, which gdb
does; a source-line breakpoint therefore says to use the gdb transport.

Stops the target reports on its own (a breakpoint while running) are picked up by a poller
thread that runs only while breakpoints exist and the CPU runs; the Live sampler keeps the
link otherwise.
"""

from __future__ import annotations

import threading
from typing import Any

from firmwatch.dap.cpu import CpuEvents
from firmwatch.dap.messaging import RequestError
from firmwatch.targets.base import TargetError

THREAD = 2
FRAME = 1000
POLL_S = 0.02
_ACCESS = {"write": "write", "read": "read", "readWrite": "access"}

# the core registers at the start of each architecture's `g` reply: (name, size in bytes)
_REGISTERS: dict[str, list[tuple[str, int]]] = {
    "ARM": [(f"r{i}", 4) for i in range(13)] + [("sp", 4), ("lr", 4), ("pc", 4)],
    "RISC-V": [(n, 4) for n in ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
                               *(f"a{i}" for i in range(8)), *(f"s{i}" for i in range(2, 12)),
                               "t3", "t4", "t5", "t6")] + [("pc", 4)],
    "AVR": [(f"r{i}", 1) for i in range(32)] + [("sreg", 1), ("sp", 2), ("pc", 4)],
}
RSP_LINE_MESSAGE = ("source-line breakpoints need DWARF line tables, which the rsp transport does not use; set "
                    "\"transport\": \"gdb\", or use a function breakpoint.")


class RspCpu:
    """:class:`firmwatch.dap.cpu.CpuThread` on a :class:`firmwatch.targets.rsp.RspTarget`."""

    capabilities: dict[str, Any] = {
        "supportsFunctionBreakpoints": True,
        "supportsDataBreakpoints": True,
        "supportsSteppingGranularity": True,
    }

    def __init__(self, target: Any, program: Any):
        self.t, self.program = target, program
        self.events: CpuEvents | None = None
        self._next_id = 1
        self._functions: list[tuple[int, int]] = []  # (DAP id, address)
        self._data: list[tuple[int, int, str]] = []  # (DAP id, address, access)
        self._regs_ref = 0
        self._stopped_reason: str | None = None
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None

    # -- wiring ------------------------------------------------------------------------------------
    def attach(self, events: CpuEvents) -> None:
        self.events = events
        self.t.on_stop(self._on_stop)

    def close(self) -> None:
        self._closing.set()
        self._wake.set()

    def _on_stop(self, stop: Any) -> None:
        """The target stopped on its own: one of our breakpoints or watchpoints (sampler or poller thread)."""
        if self.events is None or self._closing.is_set():
            return
        if getattr(stop, "kind", "signal") != "signal":
            self.events.output("important", f"firmwatch: {stop}.\n")
            return
        reason, ids = "breakpoint", []
        if stop.reason in ("watch", "rwatch", "awatch"):
            reason = "data breakpoint"
            ids = [i for i, addr, _ in self._data if stop.data_address is None or addr == stop.data_address]
        else:
            try:
                pc = self.t.pc()
            except TargetError:
                pc = None
            ids = [i for i, addr in self._functions if addr == pc]
            if not ids and stop.reason not in ("swbreak", "hwbreak"):
                reason = "exception"
        self.events.stopped(THREAD, reason, None, ids or None)

    def _poll(self) -> None:
        while not self._closing.is_set():
            if not (self._functions or self._data) or not self.t.running:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self.t.poll()
            except TargetError:
                return
            self._closing.wait(POLL_S)

    def _ensure_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="firmwatch-rsp-cpu", daemon=True)
            self._poller.start()
        self._wake.set()

    # -- threads and the one frame --------------------------------------------------------------------
    def threads(self) -> list[dict[str, Any]]:
        return [{"id": THREAD, "name": "CPU"}]

    def owns_thread(self, thread_id: int) -> bool:
        return thread_id == THREAD

    def owns_frame(self, frame_id: int) -> bool:
        return frame_id == FRAME

    def _need_stopped(self) -> None:
        if self.t.running:
            raise RequestError("the CPU is running: pause it (or wait for a breakpoint) to see where it is.",
                               show_user=False)

    def stack_trace(self, thread_id: int, start: int, levels: int) -> dict[str, Any]:
        self._need_stopped()
        try:
            pc = self.t.pc()
        except TargetError as e:
            raise RequestError(str(e), show_user=False) from None
        name = self.program.symbolize(pc) or f"0x{pc:x}"
        frame = {"id": FRAME, "name": name, "line": 0, "column": 0, "instructionPointerReference": f"0x{pc:x}",
                 "presentationHint": "subtle"}
        return {"stackFrames": [frame] if start == 0 else [], "totalFrames": 1}

    def scopes(self, frame_id: int) -> list[dict[str, Any]]:
        self._need_stopped()
        self._regs_ref = 1_500_000 + (self._regs_ref + 1) % 1000  # outside the shared registry's range
        return [{"name": "Registers", "presentationHint": "registers", "expensive": False,
                 "variablesReference": self._regs_ref}]

    def variables(self, reference: int, start: int, count: int, hex: bool) -> list[dict[str, Any]] | None:
        if reference != self._regs_ref or not reference:
            return None
        self._need_stopped()
        layout = _REGISTERS.get(self.t.arch or "")
        if layout is None:
            return [{"name": "<registers>", "value": f"the {self.t.arch} register layout is not known to firmwatch",
                     "variablesReference": 0}]
        raw = self.t.read_registers()
        out, pos = [], 0
        for name, size in layout:
            if pos + size > len(raw):
                break
            out.append({"name": name, "value": f"0x{int.from_bytes(raw[pos:pos + size], 'little'):x}",
                        "variablesReference": 0})
            pos += size
        return out[start:start + count] if count else out[start:]

    def evaluate(self, expression: str, frame_id: int, hex: bool) -> dict[str, Any]:
        raise RequestError("the rsp transport evaluates in the Live frame only; select the Live thread (or use the "
                           "gdb transport for expressions in the CPU's frame).", show_user=False)

    # -- breakpoints ----------------------------------------------------------------------------------
    def _new_id(self) -> int:
        n, self._next_id = self._next_id, self._next_id + 1
        return n

    def set_breakpoints(self, source: dict[str, Any], breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"verified": False, "message": RSP_LINE_MESSAGE, "line": b.get("line")} for b in breakpoints]

    def set_function_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for _, addr in self._functions:
            try:
                self.t.remove_breakpoint(addr)
            except TargetError:
                pass
        self._functions = []
        out = []
        for spec in breakpoints:
            name = str(spec.get("name") or "").strip()
            bid = self._new_id()
            sym = self.program.find_symbol(name) if name else None
            if sym is None or sym.kind != "function":
                out.append({"id": bid, "verified": False,
                            "message": f"'{name}' is not a function in the ELF's symbol table; check the name."})
                continue
            addr = sym.address & ~1 if self.t.arch == "ARM" else sym.address  # the Thumb bit is no address
            try:
                self.t.add_breakpoint(addr)
            except TargetError as e:
                out.append({"id": bid, "verified": False, "message": str(e)})
                continue
            self._functions.append((bid, addr))
            out.append({"id": bid, "verified": True, "instructionReference": f"0x{addr:x}"})
        if self._functions:
            self._ensure_poller()
        return out

    def data_breakpoint_info(self, name: str, reference: int | None, frame_id: int | None) -> dict[str, Any]:
        try:
            v = self.program.find_variable(name.strip())
        except Exception as e:  # noqa: BLE001 - any lookup failure is the sentence shown
            return {"dataId": None, "description": str(e)}
        if v.address is None or not v.size:
            return {"dataId": None, "description": f"{name} has no fixed address to watch."}
        return {"dataId": f"{v.address:#x}:{v.size}", "description": f"{name} ({v.size} bytes at {v.address:#x})",
                "accessTypes": ["write", "read", "readWrite"], "canPersist": False}

    def set_data_breakpoints(self, breakpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for _, addr, access in self._data:
            try:
                self.t.remove_watchpoint(addr, access)
            except TargetError:
                pass
        self._data = []
        out = []
        for spec in breakpoints:
            bid = self._new_id()
            try:
                addr_text, size_text = str(spec.get("dataId") or "").split(":")
                addr, size = int(addr_text, 0), int(size_text)
            except ValueError:
                out.append({"id": bid, "verified": False, "message": "this data breakpoint came from another session; "
                                                                      "add it again from the variable."})
                continue
            access = _ACCESS.get(str(spec.get("accessType") or "write"), "write")
            try:
                self.t.add_watchpoint(addr, size, access)
            except TargetError as e:
                out.append({"id": bid, "verified": False, "message": str(e)})
                continue
            self._data.append((bid, addr, access))
            out.append({"id": bid, "verified": True})
        if self._data:
            self._ensure_poller()
        return out

    # -- execution -------------------------------------------------------------------------------------
    def continue_(self, thread_id: int) -> None:
        try:
            self.t.resume()
        except TargetError as e:
            raise RequestError(str(e)) from None
        self._wake.set()
        if self.events is not None:
            self.events.continued(THREAD)

    def pause(self, thread_id: int) -> None:
        try:
            self.t.halt()
        except TargetError as e:
            raise RequestError(str(e)) from None
        if self.events is not None:
            self.events.stopped(THREAD, "pause")

    def step(self, thread_id: int, kind: str, granularity: str) -> None:
        if kind == "stepOut":
            raise RequestError("stepping out needs the call stack, which the rsp transport does not unwind; use the "
                               "gdb transport.")
        # without line tables every step is one instruction
        try:
            self.t.step()
        except TargetError as e:
            raise RequestError(str(e)) from None
        if self.events is not None:
            self.events.stopped(THREAD, "step")
