"""Which bytes one refresh reads: as few spans as possible, and never a register it must not touch.

A refresh of a peripheral set is a handful of memory reads, not one per register: registers are
merged into spans across small gaps, but only inside the SVD's "registers" address blocks (a
gap outside them may not be decoded by the bus and fault) and never across a register that a
refresh must not read. Those are skipped with the reason shown instead of a value:
  - a read side effect (readAction): a UART data register pops its FIFO, a status register
    clears its flags;
  - write-only registers: a read returns nothing meaningful (and on some buses faults);
  - peripherals the user marked manual (launch.json ``peripheralsManual``, ``--manual``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from firmwatch.peripherals.model import Peripheral, Register

MAX_GAP = 64  # bytes of unused registers read to save a round trip (inside an address block only)
MAX_SPAN = 1024  # one read request at most; the transport splits it into its own packets


@dataclass(frozen=True, slots=True)
class Span:
    address: int
    size: int
    registers: tuple[Register, ...]


@dataclass
class ReadPlan:
    spans: list[Span] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # register qualified name -> why it is not read

    @property
    def nbytes(self) -> int:
        return sum(s.size for s in self.spans)


def skip_reason(reg: Register, manual: bool) -> str | None:
    """Why a refresh must not read ``reg`` (the consequence of an explicit read included), or None."""
    effect = reg.read_effect()
    if effect:
        return f"not read automatically: {effect}"
    if not reg.readable:
        return "write-only: a read would not show what was written"
    if manual:
        return "not read automatically: its peripheral is marked manual (reading may disturb it)"
    return None


def plan_reads(peripherals: Iterable[Peripheral], manual: frozenset[str] = frozenset(),
               max_gap: int = MAX_GAP, max_span: int = MAX_SPAN) -> ReadPlan:
    peripherals = list(peripherals)
    plan = ReadPlan()
    items: list[tuple[Register, Peripheral]] = []
    for p in peripherals:
        for r in p.registers:
            why = skip_reason(r, p.name in manual)
            if why:
                plan.skipped[r.qualified] = why
            else:
                items.append((r, p))
    unsafe = _fenced_registers(peripherals, plan)
    safe = []
    for r, p in items:  # an alternate register at the address of a fenced one reads it too
        hit = next((q for q in unsafe if q.address < r.address + r.nbytes
                    and r.address < q.address + q.nbytes), None)
        if hit is not None:
            plan.skipped[r.qualified] = f"shares its address with {hit.path}: {plan.skipped[hit.qualified]}"
        else:
            safe.append((r, p))
    items = sorted(safe, key=lambda it: (it[0].address, it[0].nbytes))
    # registers that must not be read bound the spans: nothing may be merged across them
    fences = sorted((r.address, r.address + r.nbytes) for r in _fenced_registers(peripherals, plan))
    cur: list[Register] = []
    cur_start = cur_end = 0
    cur_p: Peripheral | None = None
    for r, p in items:
        end = r.address + r.nbytes
        if cur and _joinable(cur_p, p, cur_start, cur_end, r.address, end, fences, max_gap, max_span):
            cur.append(r)
            cur_end = max(cur_end, end)
            continue
        if cur:
            plan.spans.append(Span(cur_start, cur_end - cur_start, tuple(cur)))
        cur, cur_start, cur_end, cur_p = [r], r.address, end, p
    if cur:
        plan.spans.append(Span(cur_start, cur_end - cur_start, tuple(cur)))
    return plan


def _joinable(cur_p: Peripheral | None, p: Peripheral, start: int, end: int, a: int, b: int,
              fences: list[tuple[int, int]], max_gap: int, max_span: int) -> bool:
    if b - start > max_span:
        return False
    if a <= end:  # overlapping or adjacent: no unread byte in between
        return True
    if a - end > max_gap:
        return False
    # the gap is read too: it must lie inside one address block of the same peripheral
    if cur_p is not p or not p.in_block(end, a):
        return False
    return not _fenced(end, a, fences)


def _fenced(lo: int, hi: int, fences: list[tuple[int, int]]) -> bool:
    return any(fa < hi and lo < fb for fa, fb in fences)


def _fenced_registers(peripherals: Iterable[Peripheral], plan: ReadPlan) -> list[Register]:
    return [r for p in peripherals for r in p.registers if r.qualified in plan.skipped]
