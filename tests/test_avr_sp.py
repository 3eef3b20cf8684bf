"""An AVR's stack pointer is never sampled torn (targets/avr_sp.py).

The CPU writes SPH and SPL with two instructions; a GDB server that stops it (or reads while it
runs) between them reports new high byte and old low byte. Memory health took such a read as the
lowest stack pointer: the high-water mark jumped ~200 bytes deeper than the stack ever went
(test_host_paint_over_gdb_keeps_the_demo_running[avr] under load), and the host's stack paint could
take a torn-high SP for its upper bound and paint over live frames.

Through the real parts: simavr stopped by a breakpoint exactly between the two writes of the demo's
recursion prologue; the engines' snapshot gives the SP the next instruction completes, the
hardware's register (what a debugger's Registers view shows) stays as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.session.connect import open_target
from firmwatch.symbols import load
from firmwatch.symbols.expr import compile_expression
from firmwatch.targets import avr_sp
from firmwatch.targets.control import BreakpointSpec, Location, StepKind, Stop
from tools import require_board, wait_for


def out(io: int, reg: int) -> bytes:
    word = 0xB800 | ((io & 0x30) << 5) | (reg << 4) | (io & 0x0F)
    return word.to_bytes(2, "little")


REGS = bytes(range(32))  # r_n holds n


def test_out_operands_decode_gcc_prologue_words() -> None:
    # words from avr-gcc's prologue: de bf = out 0x3e, r29; 0f be = out 0x3f, r0; cd bf = out 0x3d, r28
    assert avr_sp.out_operands(0xBFDE) == (0x3E, 29)
    assert avr_sp.out_operands(0xBE0F) == (0x3F, 0)
    assert avr_sp.out_operands(0xBFCD) == (0x3D, 28)
    assert avr_sp.out_operands(0xB7CD) is None  # in r28, 0x3d
    assert all(avr_sp.out_operands(int.from_bytes(out(a, r), "little")) == (a, r) for a in range(64) for r in range(32))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (out(0x3E, 29) + out(0x3F, 0) + out(0x3D, 28), (29 << 8) | 28),  # before SPH: both pending
        (out(0x3F, 0) + out(0x3D, 28) + b"\x00\x00", 0x0800 | 28),  # SPH written, SPL pending (torn)
        (out(0x3D, 28) + b"\x00\x00" * 2, 0x0800 | 28),  # SPL next (torn)
        (out(0x3E, 29) + out(0x3D, 28) + b"\x00\x00", (29 << 8) | 28),  # an ISR's prologue: no SREG dance
        (b"\x00\x00" + out(0x3D, 28) + b"\x00\x00", 0x0805),  # a nop first: nothing pending
        (out(0x3F, 0) + b"\x00\x00" * 2, 0x0805),  # a plain SREG restore
        (out(0x3F, 0) + out(0x3B, 28) + out(0x3D, 28), 0x0805),  # another I/O register ends the sequence
        (b"", 0x0805),
        (out(0x3D, 28)[:1], 0x0805),  # a half word decodes nothing
    ],
)
def test_settled_sp(code: bytes, expected: int) -> None:
    assert avr_sp.settled_sp(0x0805, REGS, code) == expected


def _between_sp_writes(elf: Path, function: str) -> int:
    """Address of the instruction after ``out SPH`` in ``function``'s prologue (SPL not yet written)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        sym = e.get_section_by_name(".symtab").get_symbol_by_name(function)[0]
        text = e.get_section_by_name(".text")
        start = sym["st_value"] - text["sh_addr"]
        code = text.data()[start : start + sym["st_size"]]
    for i in range(0, len(code) - 2, 2):
        if avr_sp.out_operands(int.from_bytes(code[i : i + 2], "little")) == (avr_sp.SPH, 29):
            return sym["st_value"] + i + 2
    raise AssertionError(f"no 'out SPH' in {function}")


@pytest.mark.slow
@pytest.mark.emulator
def test_snapshot_between_the_two_sp_writes_gives_the_completed_sp(tmp_path: Path) -> None:
    require_board("avr")
    with sim.start_sim("avr", build_dir=tmp_path) as dev:
        program = load(str(dev.elf))
        at = _between_sp_writes(dev.elf, "demo_recurse")
        depth = compile_expression(program, "demo_stack_depth")
        with open_target(gdb=dev.gdb, program=program) as t:
            ctl = t.control()
            stops: list[Stop] = []
            ctl.on_stop(stops.append)
            bp = ctl.add_breakpoint(BreakpointSpec(Location.at(at)))
            t.write(depth.address, (3).to_bytes(depth.size, "little"))
            wait_for(lambda: stops, 20, "the breakpoint between the two SP writes")
            ctl.remove_breakpoint(bp.id)
            assert t.pc() == at
            torn = ctl.register("sp")
            sampled = ctl.snapshot(["sp"]).registers["sp"]
            # out SREG, out SPL: the write completes
            for _ in range(2):
                assert ctl.step(StepKind.INSTRUCTION) is not None
            completed = ctl.register("sp")
            assert torn != completed, "the breakpoint did not land between the writes"
            assert sampled == completed, (hex(torn), hex(sampled), hex(completed))
            t.write(depth.address, (0).to_bytes(depth.size, "little"))
            ctl.resume()


def test_live_registers_settle_a_torn_sp_from_one_register_file() -> None:
    """simavr answers register reads while the CPU runs: SP, PC and r28 must come from one `g`
    reply (separate `p` reads would be instants apart) and the pending `out SPL, r28` applied."""
    from firmwatch.targets.rsp import RspTarget
    from test_rsp import FakeStub

    class AvrStub(FakeStub):
        XML = '<?xml version="1.0"?><target><architecture>avr</architecture></target>'

        def _handle(self, conn, p):  # type: ignore[no-untyped-def]
            if p == b"g":  # r28 = 0xa9, SREG, SP = 0x08b9 (SPH new, SPL old), PC = 0x1000
                regs = bytearray(32)
                regs[28], regs[29] = 0xA9, 0x08
                self.seen.append(p)
                self._reply(conn, (bytes(regs) + b"\x00" + (0x08B9).to_bytes(2, "little")
                                   + (0x1000).to_bytes(4, "little")).hex().encode())
            else:
                super()._handle(conn, p)

    stub = AvrStub()
    stub.mem[0:6] = out(0x3D, 28) + b"\x00\x00" * 2
    try:
        t = RspTarget(f"127.0.0.1:{stub.port}", expect_arch="AVR")
        assert t.live and t.running
        n = len(stub.seen)
        got = t.control().live_registers(["sp", "pc"])
        assert got == {"sp": 0x8008A9, "pc": 0x1000}
        assert not any(p[:1] == b"p" for p in stub.seen[n:])  # one register file, not separate reads
        t.close()
    finally:
        stub.close()
