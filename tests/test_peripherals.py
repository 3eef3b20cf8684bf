"""The peripherals engine against an in-process register file that counts every read and write.

The emulated boards (QEMU mps2-an385, riscv virt) run the same engine in test_peripherals_emulated.py.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from firmwatch.peripherals.model import PeripheralError
from firmwatch.peripherals.plan import plan_reads
from firmwatch.peripherals.svd import SvdError, load_svd
from firmwatch.peripherals.view import PeripheralView
from firmwatch.session.session import Session
from firmwatch.symbols.program import ElfInfo, Program
from firmwatch.symbols.types import TypeTable
from firmwatch.targets.base import Target, TargetInfo

SVD = Path(__file__).parent / "data" / "svd"


class RegisterFile(Target):
    """Word-addressed memory with hooks: a read of ``clear_on_read`` zeroes it, writes obey ``w1c``."""

    capabilities = frozenset({"read", "write"})

    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.reads: list[tuple[int, int]] = []
        self.writes: list[tuple[int, bytes]] = []
        self.clear_on_read: set[int] = set()
        self.w1c: dict[int, int] = {}  # address -> mask of write-1-to-clear bits

    def info(self) -> TargetInfo:
        return TargetInfo("register file", "little", 4, None)

    def read(self, address: int, size: int) -> bytes:
        self.reads.append((address, size))
        out = bytearray()
        for a in range(address, address + size):
            w = a & ~3
            out.append((self.words.get(w, 0) >> (8 * (a & 3))) & 0xFF)
            if w in self.clear_on_read and (a & 3) == 3:
                self.words[w] = 0
        return bytes(out)

    def write(self, address: int, data: bytes) -> bytes:
        self.writes.append((address, bytes(data)))
        assert address % 4 == 0 and len(data) == 4
        new = int.from_bytes(data, "little")
        mask = self.w1c.get(address, 0)
        old = self.words.get(address, 0)
        self.words[address] = (new & ~mask) | (old & mask & ~new)
        return self.read(address, 4)

    def touched(self, address: int) -> bool:
        return any(a <= address < a + n for a, n in self.reads)


@pytest.fixture(scope="module")
def arm():
    return load_svd(SVD / "mps2-an385.svd")


def test_svd_features_derived_clusters_arrays_enums():
    d = load_svd(SVD / "features.svd")
    u0, u1 = d.peripheral("UART0"), d.peripheral("UART1")
    assert [r.path for r in u1.registers] == [r.path for r in u0.registers]  # derived peripheral
    assert u1.register("STATE").address == 0x40005004
    assert [r.path for r in u0.registers if r.path.startswith("CH")] == ["CH0", "CH1", "CH2", "CH3"]
    assert u0.register("CH3").address == 0x4000401C
    # nested clusters: the inner register has both offsets (cmsis-svd alone gets 0x4000400c)
    assert u0.register("OUT[1].SUB.B").address == 0x40004000 + 0x40 + 0x20 + 0x8 + 4
    assert u0.register("OUT[0].A").address == 0x40004040
    # enumeratedValues derivedFrom and a derived register without its own description
    rx = u0.register("STATE").field("RXFULL")
    assert rx.enum_name(1) == "FULL" and rx.access == "read-only"
    assert [f.name for f in u0.register("STATE2").fields] == ["TXOVR", "RXFULL", "TXFULL"]
    assert u0.register("STATE").field("TXOVR").modified_write_values == "oneToClear"
    assert u0.register("DATA").read_action == "clear"


def test_svd_errors_are_one_sentence(tmp_path, monkeypatch):
    bad = tmp_path / "bad.svd"
    bad.write_text("<device><peripherals>")
    with pytest.raises(SvdError, match="not well-formed XML"):
        load_svd(bad)
    other = tmp_path / "other.svd"
    other.write_text("<project/>")
    with pytest.raises(SvdError, match="not a CMSIS-SVD file"):
        load_svd(other)
    with pytest.raises(SvdError, match="cannot read the SVD file"):
        load_svd(tmp_path / "missing.svd")
    real_import = builtins.__import__

    def no_cmsis(name, *a, **k):
        if name.startswith("cmsis_svd"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_cmsis)
    with pytest.raises(SvdError, match=r"pip install 'firmwatch\[svd\]'"):
        load_svd(SVD / "features.svd", cache=False)


def test_plan_never_reads_side_effect_registers_and_batches(arm):
    plan = plan_reads(arm.peripherals)
    read_regs = {r.qualified for s in plan.spans for r in s.registers}
    assert len(read_regs) == 64
    for name in ("UART0.DATA", "SysTick.CTRL", "DUALTIMER.TIMER1INTCLR"):
        assert name in plan.skipped and name not in read_regs
        _, reg, _ = arm.resolve(name)
        assert not any(s.address <= reg.address < s.address + s.size for s in plan.spans), name
    uart = plan_reads([arm.peripheral("UART0")])
    assert [(s.address, s.size) for s in uart.spans] == [(0x40004004, 16)]  # 4 registers, one read
    assert "pops a FIFO" in uart.skipped["UART0.DATA"]
    manual = plan_reads([arm.peripheral("UART0")], frozenset({"UART0"}))
    assert not manual.spans and "marked manual" in manual.skipped["UART0.STATE"]


def test_refresh_counts_reads_marks_changes_and_never_touches_read_action(arm):
    t = RegisterFile()
    t.words[0x40004000] = 0x41  # UART0.DATA: a byte waiting
    t.clear_on_read.add(0x40004000)
    t.words[0x40004004] = 0x2  # RXFULL
    v = PeripheralView(arm, t.read, t.write)
    first = v.refresh(["UART0", "TIMER0"])
    assert len(t.reads) == 2 and v.stats.reads == 2
    assert not t.touched(0x40004000) and t.words[0x40004000] == 0x41
    data = first["UART0.DATA"]
    assert data.value is None and "pops a FIFO" in (data.note or "")
    st = first["UART0.STATE"]
    assert st.value == 2 and not st.changed
    assert v.field_text(st.register.field("RXFULL"), st.value) == "FULL (1)"
    t.words[0x40000004] = 1234  # TIMER0.VALUE moves
    second = v.refresh(["UART0", "TIMER0"])
    assert second["TIMER0.VALUE"].changed and not second["UART0.STATE"].changed
    # the explicit action reads it, with its consequence stated beforehand
    assert "pops a FIFO" in (v.consequence("UART0.DATA") or "")
    assert v.read_now("UART0.DATA").value == 0x41 and t.words[0x40004000] == 0
    third = v.refresh(["UART0"])
    assert third["UART0.DATA"].value == 0x41 and "explicit read" in (third["UART0.DATA"].note or "")


def test_field_writes_respect_modified_write_values(arm):
    t = RegisterFile()
    st = 0x40004004
    t.words[st] = 0b1110  # RXFULL, TXOVR, RXOVR set
    t.w1c[st] = 0b1100
    t.words[0x40004008] = 0b11  # CTRL: TXEN, RXEN
    v = PeripheralView(arm, t.read, t.write)
    back, notes = v.write("UART0.STATE.TXOVR", "1")
    # TXOVR cleared, RXOVR (also w1c) written as 0 so it stays set, read-only RXFULL as read
    assert t.writes[-1] == (st, (0b0110).to_bytes(4, "little"))
    assert back.value == 0b1010 and any("write 1 to clear" in n for n in notes)
    # a plain field: read-modify-write keeps the other fields
    back, _ = v.write("UART0.CTRL.RXINTEN", "1")
    assert back.value == 0b1011
    back, _ = v.write("UART0.CTRL.TXEN", "DISABLED")
    assert back.value == 0b1010
    with pytest.raises(PeripheralError, match="read-only"):
        v.write("UART0.STATE.RXFULL", "0")
    with pytest.raises(PeripheralError, match="read-only"):
        v.write("SCB.CPUID", "0")
    with pytest.raises(PeripheralError, match="does not fit"):
        v.write("UART0.CTRL.TXEN", "2")
    with pytest.raises(PeripheralError, match="not a value of"):
        v.write("UART0.CTRL.TXEN", "MAYBE")
    with pytest.raises(PeripheralError, match="did you mean STATE"):
        v.write("UART0.state", "0")
    # a whole-register write says which write-1-to-clear fields it hit
    _, notes = v.write("UART0.INTSTATUS", "0x3")
    assert any("TX is write 1 to clear" in n for n in notes)


def test_field_write_of_unreadable_register_needs_neutral_fields(arm):
    t = RegisterFile()
    v = PeripheralView(arm, t.read, t.write)
    with pytest.raises(PeripheralError, match="cannot be read without a side effect"):
        v.write("SysTick.CTRL.ENABLE", "1")
    assert not t.reads and not t.writes


def _session(target: Target) -> Session:
    elf = ElfInfo("fake.elf", "ARM", 32, "little", 4, 0, "00", "gnu")
    prog = Program(elf=elf, types=TypeTable(), variables=[], symbols=[])
    return Session(prog, target)


def test_session_watches_and_writes_peripheral_expressions(arm):
    t = RegisterFile()
    t.words[0x40004008] = 0b11
    s = _session(t)
    try:
        s.attach_svd(arm, manual=["UART1"])
        assert s.evaluate("UART0.CTRL.TXEN").display() == "ENABLED (1)"
        assert s.evaluate("UART0.CTRL").display().startswith("0x00000003 {")
        assert "TXEN" in s.compile("UART0.CTRL").member_names() and "STATE" in s.compile("UART0").member_names()
        with pytest.raises(PeripheralError, match="pops a FIFO"):
            s.add_watch("UART0.DATA")
        with pytest.raises(PeripheralError, match="marked manual"):
            s.add_watch("UART1.STATE")
        with pytest.raises(PeripheralError, match="is a peripheral"):
            s.add_watch("UART0")
        w = s.add_watch("UART0.CTRL.RXEN", 50)
        assert w.compiled.static_regions()[0].address == 0x40004008
        assert s.write("UART0.CTRL.RXEN", "0").display() == "DISABLED (0)"
        s.write("UART0.DATA", "0x55")  # writing the TX register is fine; reading it is what is refused
        assert (0x40004000, b"\x55\0\0\0") in t.writes
    finally:
        s.close()


def test_a_lost_link_during_a_refresh_is_said_per_register_and_the_view_recovers(arm):
    from firmwatch.targets.base import TargetLost

    t = RegisterFile()
    v = PeripheralView(arm, lambda a, n: t.read(a, n), t.write)
    real = t.read
    t.read = lambda a, n: (_ for _ in ()).throw(TargetLost("the link to the device is gone; check the cable."))
    got = v.refresh(["TIMER0"])
    assert all(r.value is None and "link to the device is gone" in (r.note or "") for r in got.values())
    t.read = real
    assert v.refresh(["TIMER0"])["TIMER0.CTRL"].value == 0


def test_the_resolved_model_is_cached_and_a_changed_file_is_parsed_again(tmp_path, monkeypatch):
    from firmwatch.peripherals import svd as svd_mod

    monkeypatch.setenv("FIRMWATCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "dev.svd"
    f.write_text((SVD / "features.svd").read_text())
    first = load_svd(f)
    parsed = []
    monkeypatch.setattr(svd_mod, "_parse", lambda p: parsed.append(p) or first)
    assert load_svd(f) == first and not parsed  # from the cache
    f.write_text(f.read_text().replace("<name>UART0</name>", "<name>UARTX</name>"))
    assert load_svd(f) is first and parsed == [str(f)]  # the file changed: parsed again
