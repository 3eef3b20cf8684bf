"""The stack scanner on simulated memory: exact edges, bounded reads, the audit, the floor."""

from __future__ import annotations

import random

from firmwatch.session.stack_scan import StackScanner

LOW, HIGH = 0x1000, 0x2000


class Ram:
    def __init__(self, pattern: int = 0xAA):
        self.mem = bytearray(b"\x00" * 0x3000)
        self.mem[LOW:HIGH] = bytes([pattern]) * (HIGH - LOW)
        self.reads: list[tuple[int, int]] = []

    def read(self, address: int, size: int) -> bytes:
        assert size > 0
        self.reads.append((address, size))
        return bytes(self.mem[address : address + size])

    def use_stack(self, down_to: int, rng: random.Random, skip: tuple[int, int] | None = None) -> None:
        """The stack wrote [down_to, HIGH), with sentinel-valued bytes here and there, except ``skip``."""
        for a in range(down_to, HIGH):
            if skip and skip[0] <= a < skip[1]:
                continue
            self.mem[a] = rng.choice((0x00, 0x12, 0xAA, 0x55, 0xFF, 0x34))
        self.mem[down_to] = 0x01  # the deepest write is no sentinel

    def cost(self) -> int:
        n = sum(s for _, s in self.reads)
        self.reads.clear()
        return n


def test_edge_exact_and_refresh_reads_little():
    rng = random.Random(1)
    ram = Ram()
    ram.use_stack(0x1F00, rng)
    sc = StackScanner(LOW, HIGH)
    m = sc.scan(ram.read, sp=0x1F80)
    assert m.painted and m.edge == 0x1F00 and m.depth == 0x100 and m.untouched == 0x1F00 - LOW
    ram.cost()
    for _ in range(5):  # nothing moved: one window and one audit chunk per refresh
        m = sc.scan(ram.read)
        assert m.edge == 0x1F00
        assert ram.cost() <= sc.window + sc.audit
    ram.use_stack(0x1C37, rng)
    m = sc.scan(ram.read)
    assert m.edge == 0x1C37
    assert ram.cost() < 400  # a gallop and a bisection, not the 3 KB below


def test_first_scan_without_stack_pointer_is_logarithmic():
    ram = Ram()
    ram.use_stack(0x1A00, random.Random(2))
    sc = StackScanner(LOW, HIGH)
    m = sc.scan(ram.read)
    assert m.edge == 0x1A00
    assert ram.cost() < 600


def test_audit_finds_a_write_below_an_untouched_buffer():
    """A deep frame whose local buffer was never written leaves paint just below the old edge."""
    rng = random.Random(3)
    ram = Ram()
    ram.use_stack(0x1F00, rng)
    sc = StackScanner(LOW, HIGH, audit=64)
    assert sc.scan(ram.read, sp=0x1F00).edge == 0x1F00
    ram.use_stack(0x1D00, rng, skip=(0x1D40, 0x1F00))  # 448 painted bytes right under the edge
    edges = [sc.scan(ram.read).edge for _ in range(20)]
    assert edges[-1] == 0x1D00, "the audit sweeps the painted area and finds the deeper write"
    # a known stack pointer below the edge moves it at once, whatever the paint above says
    ram.use_stack(0x1B00, rng, skip=(0x1B40, 0x1D00))
    assert sc.scan(ram.read, sp=0x1B20).edge == 0x1B00


def test_floor_keeps_heap_bytes_out():
    rng = random.Random(4)
    ram = Ram()
    ram.use_stack(0x1E00, rng)
    for a in range(LOW, 0x1400):  # a heap grew into the bottom of the paint
        ram.mem[a] = 0x11
    sc = StackScanner(LOW, HIGH)
    m = sc.scan(ram.read, floor=0x1400)
    assert m.edge == 0x1E00 and m.untouched == 0x1E00 - 0x1400 and not m.exhausted
    assert all(a >= 0x1400 for a, _ in ram.reads)


def test_unpainted_and_exhausted():
    ram = Ram()
    ram.mem[LOW:HIGH] = bytes(range(256)) * ((HIGH - LOW) // 256)
    m = StackScanner(LOW, HIGH).scan(ram.read, sp=0x1F00)
    assert not m.painted and m.edge is None
    ram = Ram()
    ram.use_stack(0x1F00, random.Random(5))
    sc = StackScanner(LOW, HIGH)
    assert sc.scan(ram.read).edge == 0x1F00
    ram.use_stack(LOW, random.Random(6))
    m = sc.scan(ram.read)
    assert m.exhausted and m.edge == LOW and m.untouched == 0


def test_planned_reads_cover_an_unchanged_scan():
    ram = Ram()
    ram.use_stack(0x1E80, random.Random(7))
    sc = StackScanner(LOW, HIGH)
    sc.scan(ram.read, sp=0x1F00)
    plan = sc.planned()
    ram.reads.clear()
    sc.scan(ram.read)
    assert all(any(p[0] <= a and a + n <= p[0] + p[1] for p in plan) for a, n in ram.reads)
