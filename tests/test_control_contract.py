"""One contract for execution control (firmwatch.targets.control), run against every transport on
the real parts: rsp and gdb on QEMU Cortex-M3, QEMU RISC-V and simavr AVR; the streamer on the
same three boards' UARTs and on the host device.

Each control is held to what it *declares*: a capability it lists must work as the protocol
says (checked against the demo firmware's own behaviour), and every call of a capability it
does not list must raise Unsupported with one sentence. The session-level engine primitive,
``snapshot``, is checked to read registers and memory together and to stay within the
intrusion budget while the CPU runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmwatch.symbols import load
from firmwatch.targets.base import Region, Target
from firmwatch.targets.control import (
    Access,
    BreakpointSpec,
    Capability,
    ExecutionControl,
    Location,
    RunState,
    StepKind,
    Stop,
    StopReason,
    Unsupported,
    WatchSpec,
)
from tools import require_board, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEMO_C = ROOT / "firmware" / "examples" / "demo" / "demo.c"
MAGIC = 0xC0FFEE01  # firmware/examples/demo/demo.h
ARCH = {"cortex-m3": "ARM", "riscv32": "RISC-V", "avr": "AVR"}
BUDGET = 0.01

CASES = [(t, b) for t in ("rsp", "gdb", "streamer") for b in ("cortex-m3", "riscv32", "avr")] + [("streamer", "host")]


class Recorder:
    """The control's events, as they arrive (any thread)."""

    def __init__(self, control: ExecutionControl):
        self.stops: list[Stop] = []
        self.running = 0
        self.lock = threading.Lock()
        control.on_stop(self._stop)
        control.on_running(self._running)

    def _stop(self, stop: Stop) -> None:
        with self.lock:
            self.stops.append(stop)

    def _running(self) -> None:
        with self.lock:
            self.running += 1

    def mark(self) -> int:
        with self.lock:
            return len(self.stops)

    def stop_after(self, mark: int, timeout: float = 15.0) -> Stop:
        def got() -> Stop | None:
            with self.lock:
                return self.stops[mark] if len(self.stops) > mark else None

        return wait_for(got, timeout, f"a stop event after #{mark}")


@pytest.fixture(scope="module")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-builds")


@pytest.fixture(params=CASES, ids=[f"{t}-{b}" for t, b in CASES])
def case(request: pytest.FixtureRequest, build_root: Path) -> Iterator[tuple[str, str, Target, object]]:
    transport, board = request.param
    require_board(board, gdb=transport == "gdb")
    from firmwatch.sim import start_sim

    # simavr polls its gdb socket every 2000 cycles by default: exact breakpoints need 1
    extra = {"gdb_poll": 1} if board == "avr" and transport != "streamer" else {}
    dev = start_sim(board, build_dir=build_root / board, **extra)
    target: Target | None = None
    try:
        program = load(str(dev.elf))
        if transport == "rsp":
            from firmwatch.targets.rsp import RspTarget

            target = RspTarget(dev.gdb, expect_arch=ARCH[board], budget=BUDGET)
        elif transport == "gdb":
            from firmwatch.targets.gdb import GdbTarget

            target = GdbTarget(dev.elf, dev.gdb, budget=BUDGET)
        else:
            from firmwatch.targets.streamer import StreamerTarget

            target = StreamerTarget(dev.port)
        yield transport, board, target, program
    finally:
        if target is not None:
            target.close()
        dev.stop()


def address_of(program, name: str) -> tuple[int, int]:  # noqa: ANN001
    v = program.find_variable(name)
    return v.address, v.size


def function_address(program, name: str) -> int:  # noqa: ANN001
    sym = program.find_symbol(name)
    assert sym is not None and sym.kind == "function", name
    return sym.address & ~1 if program.elf.machine == "ARM" else sym.address


def in_code(program, address: int) -> bool:  # noqa: ANN001
    return any("X" in sec.flags and sec.contains(address) for sec in program.elf.sections)


def u(data: bytes) -> int:
    return int.from_bytes(data, "little")


def one_sentence(text: str) -> None:
    assert text and "\n" not in text and text.rstrip().endswith("."), text


def test_declared_capabilities_hold(case) -> None:  # noqa: ANN001
    transport, board, target, program = case
    c = target.control()
    assert c is target.control(), "one control per target"
    caps = c.capabilities
    assert isinstance(caps, frozenset) and all(isinstance(x, Capability) for x in caps)
    expected = {
        "gdb": set(Capability),
        "rsp": {Capability.MEMORY, Capability.HALT, Capability.STEP_INSTRUCTION, Capability.HIT_COUNT,
                Capability.REGISTERS, Capability.BREAK_ADDRESS, Capability.WATCH_ADDRESS},
        "streamer": {Capability.MEMORY},
    }[transport]
    assert caps == expected, f"{transport} declares {sorted(caps)}"

    # what it does not declare says so, in one sentence, on every entry point
    fn = function_address(program, "demo_tick_1khz")
    loop, _ = address_of(program, "loop_count")
    refused = {
        Capability.HALT: lambda: c.halt(),
        Capability.STEP_INSTRUCTION: lambda: c.step(StepKind.INSTRUCTION),
        Capability.STEP_LINE: lambda: c.step(StepKind.OVER),
        Capability.STEP_OUT: lambda: c.step(StepKind.OUT),
        Capability.BREAK_ADDRESS: lambda: c.add_breakpoint(BreakpointSpec(Location.at(fn))),
        Capability.BREAK_LINE: lambda: c.add_breakpoint(BreakpointSpec(Location.source(str(DEMO_C), 103))),
        Capability.BREAK_FUNCTION: lambda: c.add_breakpoint(BreakpointSpec(Location.named("demo_tick_1khz"))),
        Capability.CONDITION: lambda: c.add_breakpoint(BreakpointSpec(Location.at(fn), condition="1")),
        Capability.LOGPOINT: lambda: c.add_breakpoint(BreakpointSpec(Location.at(fn), log_message="x")),
        Capability.WATCH_ADDRESS: lambda: c.add_watchpoint(WatchSpec(Access.WRITE, address=loop, size=1)),
        Capability.WATCH_EXPRESSION: lambda: c.add_watchpoint(WatchSpec(Access.WRITE, expression="loop_count")),
        Capability.REGISTERS: lambda: c.registers(),
        Capability.STACK: lambda: c.stack(),
        Capability.LOCALS: lambda: c.locals(),
        Capability.THREADS: lambda: c.threads(),
        Capability.CONSOLE: lambda: c.console("info registers"),
    }
    for cap, call in refused.items():
        if cap in caps:
            continue
        with pytest.raises(Unsupported) as e:
            call()
        one_sentence(str(e.value))
        if transport != "gdb":
            assert "gdb" in str(e.value), f"{cap}: the sentence should name the transport that can"

    # memory: the demo's constant and a write that reads back
    cfg, _ = address_of(program, "g_config")
    assert u(c.read(cfg, 4)) == MAGIC
    first = u(c.read(loop, 4))
    wait_for(lambda: u(c.read(loop, 4)) != first, 10, "loop_count to move (the firmware runs)")


def test_run_control_registers_and_snapshot(case) -> None:  # noqa: ANN001
    transport, board, target, program = case
    c = target.control()
    loop, _ = address_of(program, "loop_count")
    if Capability.HALT not in c.capabilities:
        # the engine primitive still reads memory; registers it cannot
        snap = c.snapshot((), [Region(loop, 4)])
        assert snap.registers == {} and len(snap.memory[0]) == 4 and snap.halted_s == 0.0
        with pytest.raises(Unsupported):
            c.snapshot(["pc"])
        assert c.state == RunState.RUNNING
        return
    events = Recorder(c)
    assert c.state == RunState.RUNNING

    # halt: a PAUSE stop, also to on_stop; registers readable and consistent
    mark = events.mark()
    stop = c.halt(wait=10)
    assert stop is not None and stop.reason == StopReason.PAUSE
    assert events.stop_after(mark).reason == StopReason.PAUSE
    assert c.state == RunState.STOPPED
    regs = c.registers()
    assert len(regs) >= 16 and all(r.name and r.text for r in regs)
    pc, sp = c.register("pc"), c.register("sp")
    ram = min(sec.address for sec in program.elf.sections if sec.kind == "ram" and sec.size)
    assert sp >= ram, f"sp 0x{sp:x} is not an address in the ELF's RAM (from 0x{ram:x})"
    assert in_code(program, pc), f"pc 0x{pc:x} is not in the ELF's code"
    held = u(c.read(loop, 4))
    snap = c.snapshot(["pc", "sp"], [Region(loop, 4)])
    assert snap.halted_s == 0.0, "a stopped CPU is read as it stands"
    assert snap.registers["pc"] == pc and u(snap.memory[0]) == held
    assert u(c.read(loop, 4)) == held, "a halted CPU does not run"

    # one instruction
    mark = events.mark()
    stop = c.step(StepKind.INSTRUCTION, wait=10)
    assert stop is not None and stop.reason == StopReason.STEP
    assert events.stop_after(mark).reason == StopReason.STEP
    assert c.register("pc") != pc

    # resume: on_running, the firmware moves
    running = events.running
    c.resume()
    wait_for(lambda: events.running > running, 5, "on_running")
    assert c.state == RunState.RUNNING
    wait_for(lambda: u(c.read(loop, 4)) != held, 10, "loop_count to move after resume")

    # snapshots of a running CPU: one halt each, together, within the intrusion budget
    halts = []
    t0 = time.monotonic()
    for _ in range(8):
        s = c.snapshot(["pc", "sp"], [Region(loop, 4)])
        assert s.halted_s > 0, "reading registers of a running CPU halts it briefly"
        assert in_code(program, s.registers["pc"]), f"snapshot pc 0x{s.registers['pc']:x} is not code"
        halts.append(s.halted_s)
    elapsed = time.monotonic() - t0
    assert sum(halts) - halts[-1] <= BUDGET * elapsed + 1e-4, (
        f"snapshots kept the CPU halted {sum(halts):.4f} s in {elapsed:.3f} s: over the {BUDGET:.0%} budget")
    assert c.state == RunState.RUNNING and not events.stops[mark + 1:], "snapshot halts are not user stops"

    # registers without a halt, where the server reads them while the CPU runs (simavr)
    live = c.live_registers(["pc", "sp"])
    if live is not None:
        assert in_code(program, live["pc"]) and live["sp"] >= ram, live
        assert c.state == RunState.RUNNING
    assert (live is not None) == (transport == "rsp" and board == "avr"), "only simavr reads registers while running"


def test_breakpoints_hit_counts_and_watchpoints(case) -> None:  # noqa: ANN001
    transport, board, target, program = case
    c = target.control()
    if Capability.BREAK_ADDRESS not in c.capabilities:
        with pytest.raises(Unsupported):
            c.add_breakpoint(BreakpointSpec(Location.at(function_address(program, "demo_tick_1khz"))))
        return
    events = Recorder(c)
    fn = function_address(program, "demo_tick_1khz")
    ts, _ = address_of(program, "timestamp_ms")

    # an address breakpoint: a BREAKPOINT stop naming it, at its address
    mark = events.mark()
    bp = c.add_breakpoint(BreakpointSpec(Location.at(fn)))
    assert bp.verified and bp.id is not None
    stop = events.stop_after(mark)
    assert stop.reason == StopReason.BREAKPOINT and bp.id in stop.breakpoints
    assert c.state == RunState.STOPPED
    assert c.register("pc") == fn, "pc is the breakpoint's address, in the ELF's address space"
    t1 = u(c.read(ts, 4))
    c.remove_breakpoint(bp.id)

    # the same place passing two hits: the third stops, two ticks later than the first
    bp = c.add_breakpoint(BreakpointSpec(Location.at(fn), ignore_count=2))
    mark = events.mark()
    c.resume()
    stop = events.stop_after(mark)
    assert stop.reason == StopReason.BREAKPOINT and bp.id in stop.breakpoints
    assert u(c.read(ts, 4)) == t1 + 3, "an ignore count of 2 stops at the third hit"
    assert len(events.stops) == mark + 1, "passed hits are not reported"
    c.remove_breakpoint(bp.id)

    if Capability.BREAK_FUNCTION in c.capabilities:
        mark = events.mark()
        b = c.add_breakpoint(BreakpointSpec(Location.named("demo_tick_1khz")))
        c.resume()
        stop = events.stop_after(mark)
        assert stop.reason == StopReason.BREAKPOINT and b.id in stop.breakpoints
        c.remove_breakpoint(b.id)  # type: ignore[arg-type]
    if Capability.BREAK_LINE in c.capabilities:
        line = next(n for n, text in enumerate(DEMO_C.read_text().splitlines(), 1) if "loop_count++;" in text)
        mark = events.mark()
        b = c.add_breakpoint(BreakpointSpec(Location.source(str(DEMO_C), line)))
        assert b.verified and b.line == line
        c.resume()
        stop = events.stop_after(mark)
        assert stop.reason == StopReason.BREAKPOINT and b.id in stop.breakpoints
        frames = c.stack()
        assert frames[0].function == "demo_loop" and frames[0].line == line
        c.remove_breakpoint(b.id)  # type: ignore[arg-type]

    # a data breakpoint: written, stops, the value changed
    loop, _ = address_of(program, "loop_count")
    before = u(c.read(loop, 4))
    spec = (WatchSpec(Access.WRITE, address=loop, size=1) if Capability.WATCH_ADDRESS in c.capabilities
            else WatchSpec(Access.WRITE, expression="loop_count"))
    w = c.add_watchpoint(spec)
    assert w.verified and w.id is not None
    mark = events.mark()
    c.resume()
    stop = events.stop_after(mark)
    assert stop.reason == StopReason.DATA_BREAKPOINT and w.id in stop.breakpoints, stop
    assert u(c.read(loop, 4)) != before
    c.remove_breakpoint(w.id)

    if Capability.LOCALS in c.capabilities:
        magic = c.evaluate("g_config.magic")
        assert int(magic.value, 0) == MAGIC
        whole = c.evaluate("g_config")
        assert whole.children and whole.handle is not None
        kids = {k.name: k for k in c.children(whole)}
        assert kids["magic"].expression == "g_config.magic"
        assert c.assign("g_config.calib.gain_q8", "300").value == "300"
        c.assign("g_config.calib.gain_q8", "256")
    if Capability.CONSOLE in c.capabilities:
        assert "pc" in c.console("info registers pc")

    # no breakpoint left: resumed, it runs freely
    mark = events.mark()
    c.resume()
    first = u(c.read(loop, 4))
    wait_for(lambda: u(c.read(loop, 4)) != first, 10, "the firmware to run freely")
    assert len(events.stops) == mark and c.state == RunState.RUNNING
