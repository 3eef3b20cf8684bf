"""Live memory health of a running target: stack pointer, stack high-water, heap, the free gap
between them and the collision margin, each figure with the place it came from.

What a refresh reads (one batch; a halting GDB server halts once for it):

* the firmware helpers' records when they are linked (``fw_stack`` from
  ``firmware/extras/stack_paint``, ``fw_heap`` from ``firmware/extras/heap_wrap``; their layout
  comes from DWARF), and the allocation table only when the helper's generation moved;
* the allocator's own state: avr-libc's ``__brkval``/``__flp``, newlib's ``_sbrk`` end and
  nano-malloc's free list, FreeRTOS heap_4's free and minimum-ever-free bytes and free list;
* the stack pointer: a register over a GDB server, SPL/SPH as memory on AVR, else the value the
  stack helper last recorded;
* the stack scanner's window below the known high-water edge and one audit chunk
  (:mod:`firmwatch.session.stack_scan`), prefetched in the same batch.

The *free gap* is the current stack pointer minus the heap's end (what is free right now); the
*collision margin* is the deepest the stack has ever been (the painted high-water mark, or the
lowest stack pointer seen) minus the heap's end — the figure the warning threshold applies to.

This engine knows only symbols and the Target protocol; the CLI, the debug adapter and VS Code
present what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from firmwatch.errors import UserError
from firmwatch.session.memory_layout import Field, Layout, analyse
from firmwatch.session.memory_usage import memory_usage
from firmwatch.session.stack_scan import StackMark, StackScanner
from firmwatch.symbols.program import Program
from firmwatch.targets.base import Region, Target, TargetError, TargetLost
from firmwatch.targets.control import Capability, ExecutionControl, Unsupported

DEFAULT_THRESHOLD = 128  # bytes: the seed's COLLISION_SAFETY_MARGIN (a few nested ISR frames)
STACK_MAGIC = 0x46575350  # "FWSP": the stack helper has painted
HEAP_MAGIC = 0x46574850  # "FWHP": the heap helper is initialised
FREE_LIST_MAX = 32  # nodes followed per refresh at most (a corrupted list cannot loop us)
PAINT_CHUNK = 64


class MemoryHealthError(UserError):
    """A memory-health request that cannot be carried out; ``str()`` says why and what to do."""


@dataclass(frozen=True, slots=True)
class Figure:
    key: str  # stable name, e.g. "stack.peak" (also the recorded column's name after "memory.")
    label: str
    value: int | float | None  # None: unknown, and ``source`` says why
    unit: str  # "bytes", "address", "count", "ratio"
    source: str  # where the number came from, or why it is unknown

    def text(self, hex_: bool = False) -> str:
        if self.value is None:
            return "unknown"
        if self.unit == "address":
            return f"0x{int(self.value):x}"
        if self.unit == "ratio":
            return f"{100.0 * float(self.value):.1f} %"
        if self.unit == "bytes":
            return f"0x{int(self.value):x} bytes" if hex_ else f"{int(self.value)} bytes"
        return f"0x{int(self.value):x}" if hex_ else f"{self.value}"


@dataclass
class Segment:
    """One band of the RAM map for a bar view, low to high."""

    name: str  # ".data", ".bss", "heap", "free", "stack (unused peak)", "stack"
    start: int
    end: int


@dataclass
class MemoryHealth:
    figures: dict[str, Figure]
    warnings: list[str]
    segments: list[Segment]
    threshold: int
    bytes_read: int
    reads: int
    elapsed_ms: float
    host_time: float
    notes: list[str] = field(default_factory=list)  # why something is not shown

    def value(self, key: str) -> int | float | None:
        f = self.figures.get(key)
        return None if f is None else f.value

    def rows(self) -> list[tuple[str, int | float]]:
        """(name, value) of every known figure, for a recorder."""
        return [(f"memory.{k}", f.value) for k, f in self.figures.items() if f.value is not None]


class _Batch:
    """Reads planned regions in one round and answers reads inside them from what it got."""

    def __init__(self, target: Target):
        self.target = target
        self.cache: list[tuple[int, bytes]] = []
        self.bytes_read = 0
        self.reads = 0

    def fetch(self, regions: Sequence[Region]) -> list[bytes | None]:
        """Read every region (neighbours merged into one read); a refused one is None."""
        if not regions:
            return []
        merged = _coalesce(regions)
        if len(merged) < len(regions):
            got = dict(zip(merged, self._fetch(merged), strict=True))
            out: list[bytes | None] = []
            for r in regions:
                m = next(m for m in merged if m.address <= r.address and r.address + r.size <= m.address + m.size)
                data = got[m]
                out.append(None if data is None else data[r.address - m.address : r.address - m.address + r.size])
            if any(d is None for d in got.values()):  # a refused merged read: read its parts alone
                for i, r in enumerate(regions):
                    if out[i] is None:
                        out[i] = self._fetch([r])[0]
            return out
        return self._fetch(regions)

    def snapshot(self, control: ExecutionControl, registers: list[str],
                 regions: Sequence[Region]) -> tuple[dict[str, int], list[bytes | None], float]:
        """Registers and every region in one halt of a running CPU (ExecutionControl.snapshot)."""
        merged = _coalesce(regions) if regions else []
        snap = control.snapshot(registers, merged)
        self.reads += 1
        self.bytes_read += sum(len(d) for d in snap.memory) + 4 * len(registers)
        for m, data in zip(merged, snap.memory, strict=True):
            self.cache.append((m.address, data))
        out: list[bytes | None] = []
        for r in regions:
            m, data = next((m, d) for m, d in zip(merged, snap.memory, strict=True)
                           if m.address <= r.address and r.address + r.size <= m.address + m.size)
            out.append(data[r.address - m.address : r.address - m.address + r.size])
        return snap.registers, out, snap.halted_s

    def _fetch(self, regions: Sequence[Region]) -> list[bytes | None]:
        out: list[bytes | None]
        batch = "read-batch" in self.target.capabilities
        try:
            out = list(self.target.read_batch(list(regions))) if batch else [self.target.read(r.address, r.size)
                                                                              for r in regions]
            self.reads += 1 if batch else len(regions)
        except TargetError as e:
            if isinstance(e, TargetLost):
                raise
            out = []
            for r in regions:  # one refused region must not hide the others
                try:
                    out.append(self.target.read(r.address, r.size))
                except TargetError as e2:
                    if isinstance(e2, TargetLost):
                        raise
                    out.append(None)
                self.reads += 1
        for r, data in zip(regions, out, strict=True):
            if data is not None:
                self.cache.append((r.address, data))
                self.bytes_read += len(data)
        return out

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.cache:
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        data = self.target.read(address, size)
        self.reads += 1
        self.bytes_read += len(data)
        self.cache.append((address, data))
        return data


class MemoryMonitor:
    """Refreshes the memory health of one target. Thread-compatible: call ``refresh`` from one thread."""

    def __init__(self, program: Program, target: Target, *, threshold: int = DEFAULT_THRESHOLD,
                 regions: list[Any] | None = None):
        if threshold < 0:
            raise MemoryHealthError(f"a warning threshold is a number of bytes, 0 or more (got {threshold}).")
        self.program = program
        self.target = target
        self.threshold = threshold
        self.layout: Layout = analyse(program)
        self.static = memory_usage(program, regions)
        self._scanner: StackScanner | None = None
        self._scanner_source = ""
        self._host_paint: tuple[int, int] | None = None  # (low, high) the host painted
        self._table_gen: int | None = None
        self._table: list[tuple[int, int]] = []
        self._sp_min: int | None = None  # lowest stack pointer seen by this monitor
        self._sp_register_ok = True
        self.halted_s = 0.0  # seconds this monitor kept a running CPU halted (snapshots)
        self._floor: int | None = None
        self._fw_sp_min: int | None = None
        self._heap_high: int | None = None  # the highest heap end seen

    # -- reading ------------------------------------------------------------------------------------
    def _int(self, data: bytes | None, f: Field | None = None, offset: int = 0, size: int | None = None) -> int | None:
        if data is None:
            return None
        n = size if size is not None else (f.size if f is not None else len(data))
        return int.from_bytes(data[offset : offset + n], self.layout.byteorder)

    def _control(self) -> ExecutionControl | None:
        """The target's execution control when it can read the stack pointer, else None."""
        if not self._sp_register_ok or self.layout.sp_register is None:
            return None
        try:
            ctl = self.target.control()
        except NotImplementedError:
            return None
        return ctl if Capability.REGISTERS in ctl.capabilities else None

    def _sp_value(self, raw: int) -> int:
        lay = self.layout
        return lay.pointer(raw) if lay.arch == "AVR" and raw < lay.data_offset else raw

    def refresh(self) -> MemoryHealth:
        t0 = time.perf_counter()
        lay = self.layout
        batch = _Batch(self.target)
        figures: dict[str, Figure] = {}
        warnings: list[str] = []
        notes: list[str] = []

        def put(key: str, label: str, value: int | float | None, unit: str, source: str) -> None:
            figures[key] = Figure(key, label, value, unit, source)

        # one batch: helper records, allocator state, the stack pointer (a register read in the same
        # halt where the transport has registers, else SPL/SPH as memory on AVR), the scanner's reads
        control = self._control()
        sp: int | None = None
        sp_src = ""
        plan: list[tuple[str, Region]] = []

        def want(name: str, f: Field | None) -> None:
            if f is not None:
                plan.append((name, Region(f.address, f.size)))

        stack_rec = _span(lay.stack_helper)
        heap_rec = _span(lay.heap_helper)
        if stack_rec:
            plan.append(("fw_stack", Region(*stack_rec)))
        if heap_rec:
            plan.append(("fw_heap", Region(*heap_rec)))
        alloc = lay.allocator
        if alloc is not None:
            for role, f in alloc.fields.items():
                if not (alloc.kind == "freertos-heap_4" and role == "heap"):  # ucHeap itself is never read
                    want(f"alloc.{role}", f)
        want("sbrk_end", lay.sbrk_end)
        # SPL/SPH as memory only without the helper's record: over a streamer the read is served in the
        # main loop, where the helper's latest sample says as much for one round trip less
        if control is None and lay.sp_io is not None and not lay.stack_helper:
            plan.append(("sp_io", Region(lay.sp_io, 2)))
        if self._scanner is not None:
            for i, (a, n) in enumerate(self._scanner.planned(self._floor)):
                plan.append((f"scan{i}", Region(a, n)))
        regions = [r for _, r in plan]
        data: list[bytes | None] | None = None
        live_regs = None
        if control is not None and "live-read" in self.target.capabilities:
            # a server that reads registers and memory while the CPU runs (simavr): no halt at all
            try:
                live_regs = control.live_registers(["sp"])
            except TargetError as e:
                if isinstance(e, TargetLost):
                    raise
        if live_regs is not None:
            sp, sp_src = self._sp_value(live_regs["sp"]), "register sp, read while the CPU runs"
            batch.reads += 1
            batch.bytes_read += 4
        elif control is not None:
            try:
                regs, data, halted = batch.snapshot(control, ["sp"], regions)
                self.halted_s += halted
                sp, sp_src = self._sp_value(regs["sp"]), "register sp, read with the memory in one halt"
            except Unsupported as e:
                self._sp_register_ok = False
                notes.append(f"the stack pointer register could not be read ({e}).")
            except TargetError as e:
                if isinstance(e, TargetLost):
                    raise
                self._sp_register_ok = False
                notes.append(f"the stack pointer register could not be read ({e}).")
        if data is None:
            if control is not None and lay.sp_io is not None and not any(n == "sp_io" for n, _ in plan):
                plan.append(("sp_io", Region(lay.sp_io, 2)))  # the register was refused: SPL/SPH then
                regions = [r for _, r in plan]
            data = batch.fetch(regions)
        got = dict(zip([n for n, _ in plan], data, strict=True))

        def rec(name: str, fields: dict[str, Field], member: str) -> int | None:
            data = got.get(name)
            f = fields.get(member)
            if data is None or f is None:
                return None
            base = min(x.address for x in fields.values())
            return self._int(data, f, f.address - base, f.size)

        # -- stack pointer
        helper_painted = rec("fw_stack", lay.stack_helper, "magic") == STACK_MAGIC
        if sp is None and got.get("sp_io") is not None:
            sp, sp_src = lay.pointer(self._int(got["sp_io"]) or 0), "SPL/SPH read as memory (I/O 0x3D:0x3E)"
        if sp is None and helper_painted:
            v = rec("fw_stack", lay.stack_helper, "sp")
            if v:
                sp, sp_src = lay.pointer(v), "fw_stack.sp (recorded by the firmware's fw_stack_sample())"
        if sp is not None:
            self._sp_min = sp if self._sp_min is None else min(self._sp_min, sp)
        fw_sp_min = rec("fw_stack", lay.stack_helper, "sp_min") if helper_painted else None
        fw_sp_min = lay.pointer(fw_sp_min) if fw_sp_min else None
        self._fw_sp_min = fw_sp_min
        top = lay.stack_top
        top_src = lay.stack_top_source
        fw_top = rec("fw_stack", lay.stack_helper, "top") if helper_painted else None
        if fw_top:
            top, top_src = lay.pointer(fw_top), "fw_stack.top (given to fw_stack_paint())"
        put("stack.top", "stack top", top, "address", top_src or "the ELF names no stack top (__stack_top, _estack, __StackTop, __stack)")
        why_no_sp = ("fw_stack_sample() has not run yet (firmware/extras/stack_paint)" if helper_painted else
                     "no register access and no stack helper: link firmware/extras/stack_paint, or connect over GDB")
        put("stack.pointer", "stack pointer", sp, "address", sp_src or why_no_sp)
        if sp is not None and top is not None:
            put("stack.used", "stack in use now", top - sp, "bytes", f"stack top − stack pointer ({sp_src})")
        lowest_sp = min(x for x in (self._sp_min, fw_sp_min) if x is not None) if (self._sp_min or fw_sp_min) else None
        if fw_sp_min:
            put("stack.pointer_min", "lowest stack pointer", fw_sp_min, "address",
                "fw_stack.sp_min (the lowest fw_stack_sample() saw)")

        # -- heap end and allocator state
        heap_end, heap_src = self._heap_end(got, rec)
        heap_start = lay.heap_start
        heap_start_src = lay.heap_start_source
        if lay.allocator is not None and lay.allocator.kind == "freertos-heap_4" and "heap" in lay.allocator.fields:
            heap_start, heap_start_src = lay.allocator.fields["heap"].address, "ucHeap (FreeRTOS heap_4: a static array)"
        if heap_rec and rec("fw_heap", lay.heap_helper, "magic") == HEAP_MAGIC and heap_end is None:
            # no allocator state in the ELF (a hosted C library): the span of the blocks seen
            low, high = rec("fw_heap", lay.heap_helper, "heap_low"), rec("fw_heap", lay.heap_helper, "heap_high")
            if low and high:
                heap_start, heap_start_src = lay.pointer(low), "fw_heap.heap_low (the lowest block the helper saw)"
                heap_end, heap_src = lay.pointer(high), "fw_heap.heap_high (one past the highest block the helper saw)"
        put("heap.start", "heap start", heap_start, "address", heap_start_src or "the ELF names no heap start")
        put("heap.end", "heap end", heap_end, "address", heap_src or "no allocator state found in the ELF")
        if heap_end is not None and heap_start is not None and heap_end >= heap_start:
            put("heap.size", "heap size", heap_end - heap_start, "bytes", f"heap end − heap start ({heap_src})")
        self._heap_figures(got, rec, put, sp, batch, notes)

        # -- stack high-water by paint
        # the heap's bytes stay behind when it shrinks (free() lowers __brkval / the sbrk end): the
        # scan's floor is the highest the heap has reached, as this monitor saw it and as the malloc
        # helper recorded it, so old heap data is never taken for the stack's
        heap_top = heap_end
        if heap_end is not None:
            self._heap_high = heap_end if self._heap_high is None else max(self._heap_high, heap_end)
            heap_top = self._heap_high
            helper_high = rec("fw_heap", lay.heap_helper, "heap_high") if heap_rec else None
            if helper_high and lay.pointer(helper_high) <= (top or 0):
                heap_top = max(heap_top, lay.pointer(helper_high))
        mark = self._scan(got, rec, helper_painted, sp, heap_top, top, batch, notes)
        edge_src = self._scanner_source
        if mark is not None and mark.edge is not None and top is not None:
            put("stack.high_water", "stack high-water mark", mark.edge, "address", edge_src)
            put("stack.peak", "stack peak use", top - mark.edge, "bytes", f"stack top − high-water mark ({edge_src})")
            put("stack.unused", "painted, never used", mark.untouched, "bytes", edge_src)
            if mark.exhausted:
                warnings.append(f"the stack has used all of its painted area down to 0x{mark.low:x}: it has met the heap "
                                "or overflowed; enlarge the stack or reduce recursion and large locals.")
        if lay.stack_reserve and top is not None:
            put("stack.reserve", "stack reserved by the linker", lay.stack_reserve, "bytes", "linker script")
            deepest = mark.edge if mark is not None and mark.edge is not None else lowest_sp
            if deepest is not None and top - deepest > lay.stack_reserve:
                warnings.append(f"the stack reached {top - deepest} bytes, more than the {lay.stack_reserve} the linker "
                                "script reserves: it runs over memory the link did not set aside for it.")

        # -- gap and margin
        below = heap_end if heap_end is not None and (top is None or heap_end < top) else None
        below_src = heap_src
        if below is not None and lay.allocator is not None and lay.allocator.kind == "freertos-heap_4" \
                and lay.static_end > below:
            # a static heap array: the stack meets whatever static data lies above it
            below, below_src = lay.static_end, "the end of the static data (ucHeap lies below it)"
        if below is None and mark is not None and mark.edge is not None:
            below, below_src = mark.low, "the bottom of the painted stack"
        if sp is not None and below is not None:
            put("gap.free", "free gap (stack pointer − heap end)", sp - below, "bytes", f"{sp_src}; {below_src}")
        deepest, deep_src = None, ""
        if mark is not None and mark.edge is not None:
            deepest, deep_src = mark.edge, "painted high-water mark"
        elif lowest_sp is not None:
            deepest, deep_src = lowest_sp, "lowest stack pointer seen (no paint: deeper excursions between refreshes are missed)"
        if deepest is not None and below is not None:
            margin = deepest - below
            put("gap.margin", "collision margin", margin, "bytes", f"{deep_src} − {'heap end' if below == heap_end else below_src}")
            if margin < self.threshold:
                warnings.append(f"the stack–heap collision margin is {margin} bytes, under the {self.threshold}-byte "
                                "threshold: the stack has come that close to the heap.")
        put("gap.threshold", "warning threshold", self.threshold, "bytes", "configured")
        segments = self._segments(heap_start, heap_end, sp, mark, top)
        return MemoryHealth(figures, warnings, segments, self.threshold, batch.bytes_read, batch.reads,
                            (time.perf_counter() - t0) * 1000.0, time.time(), notes)

    # -- heap ------------------------------------------------------------------------------------------
    def _heap_end(self, got: dict[str, bytes | None], rec: Callable[..., int | None]) -> tuple[int | None, str]:
        lay = self.layout
        alloc = lay.allocator
        if alloc is not None and alloc.kind == "avr-libc" and got.get("alloc.brk") is not None:
            brk = self._int(got["alloc.brk"])
            if brk:
                return lay.pointer(brk), "__brkval (avr-libc malloc)"
            if lay.heap_start is not None:
                return lay.heap_start, "__heap_start (__brkval is 0: nothing allocated yet)"
        if got.get("sbrk_end") is not None and lay.sbrk_end is not None:
            v = self._int(got["sbrk_end"])
            if v:
                return lay.pointer(v), f"{lay.sbrk_end.name} (the _sbrk state)"
            if lay.heap_start is not None:
                return lay.heap_start, f"{lay.heap_start_source} ({lay.sbrk_end.name} is 0: _sbrk not called yet)"
        if alloc is not None and alloc.kind == "freertos-heap_4" and "heap" in alloc.fields:
            f = alloc.fields["heap"]
            return f.address + f.size, "end of ucHeap (FreeRTOS heap_4: a static array)"
        return None, ""

    def _heap_figures(self, got: dict[str, bytes | None], rec: Callable[..., int | None],
                      put: Callable[..., None], sp: int | None, batch: _Batch, notes: list[str]) -> None:
        lay = self.layout
        helper = bool(lay.heap_helper) and rec("fw_heap", lay.heap_helper, "magic") == HEAP_MAGIC
        src = "fw_heap (firmware/extras/heap_wrap, --wrap=malloc)"
        if helper:
            for key, member, label in (("heap.in_use", "in_use", "heap in use"), ("heap.peak", "peak", "heap peak"),
                                       ("heap.allocations", "live", "live allocations"),
                                       ("heap.failures", "failures", "failed allocations"),
                                       ("heap.calls", "allocs", "allocation calls"), ("heap.frees", "frees", "free calls"),
                                       ("heap.untracked", "untracked", "allocations beyond the table")):
                v = rec("fw_heap", lay.heap_helper, member)
                if v is not None:
                    put(key, label, v, "count" if member not in ("in_use", "peak") else "bytes", f"fw_heap.{member} ({src})")
        elif lay.heap_helper:
            notes.append("the heap helper is linked but not initialised yet (fw_heap.magic is not set).")
        alloc = lay.allocator
        free_blocks: list[int] | None = None
        free_src = ""
        if alloc is not None:
            free_blocks, free_src = self._walk_free_list(alloc, got, batch, notes)
        if alloc is not None and alloc.kind == "freertos-heap_4":
            counts = () if helper else (("heap.calls", "allocs", "allocation calls"), ("heap.frees", "frees", "free calls"))
            for key, role, label in (("heap.rtos_free", "free", "heap_4 free bytes"),
                                     ("heap.rtos_min_free", "min_free", "heap_4 minimum ever free"), *counts):
                if got.get(f"alloc.{role}") is not None:
                    put(key, label, self._int(got[f"alloc.{role}"]), "bytes", f"{alloc.fields[role].name} (FreeRTOS heap_4)")
        # the room above the heap's end that the allocator may still take (avr-libc and sbrk heaps grow up to the stack)
        top_free = None
        if alloc is not None and alloc.kind in ("avr-libc", "newlib-nano") and sp is not None:
            if alloc.kind == "avr-libc":
                brk = self._int(got.get("alloc.brk"))
                end = lay.pointer(brk) if brk else lay.heap_start
                margin = self._int(got.get("alloc.margin")) or 0
                limit = self._int(got.get("alloc.heap_end"))
                ceiling = lay.pointer(limit) if limit else sp - margin
            else:
                v = self._int(got.get("sbrk_end"))
                end = lay.pointer(v) if v else lay.heap_start
                ceiling = sp
            if end is not None:
                top_free = max(0, ceiling - end - alloc.header)
        if free_blocks is not None:
            largest = max(free_blocks + ([top_free] if top_free is not None else []), default=0)
            total = sum(free_blocks) + (top_free or 0)
            src = free_src + (" and the room between the heap end and the stack" if top_free is not None else "")
            put("heap.largest_free", "largest free block", largest, "bytes", src)
            put("heap.free", "heap free", total, "bytes", src)
            put("heap.fragmentation", "fragmentation (1 − largest free / free)", (1.0 - largest / total) if total else 0.0,
                "ratio", src)
            return
        if helper and lay.heap_table is not None and lay.heap_table_entry is not None:
            gen = rec("fw_heap", lay.heap_helper, "generation")
            if gen != self._table_gen:
                data = batch.fetch([Region(lay.heap_table.address, lay.heap_table.size)])[0]
                if data is not None:
                    self._table = self._parse_table(data)
                    self._table_gen = gen
            gaps = _gaps(self._table, lay.heap_table_entry)
            if gaps is not None:
                largest = max(gaps, default=0)
                total = sum(gaps)
                s = "gaps between the live blocks of fw_heap_table (allocator headers counted as free)"
                put("heap.largest_free", "largest free gap between blocks", largest, "bytes", s)
                put("heap.fragmentation", "fragmentation (1 − largest free / free)",
                    (1.0 - largest / total) if total else 0.0, "ratio", s)

    def _parse_table(self, data: bytes) -> list[tuple[int, int]]:
        lay = self.layout
        assert lay.heap_table_entry is not None
        size, poff, psz, soff, ssz = lay.heap_table_entry
        out = []
        for i in range(0, len(data) - size + 1, size):
            ptr = int.from_bytes(data[i + poff : i + poff + psz], lay.byteorder)
            n = int.from_bytes(data[i + soff : i + soff + ssz], lay.byteorder)
            if ptr:
                out.append((lay.pointer(ptr), n))
        return out

    def _walk_free_list(self, alloc: Any, got: dict[str, bytes | None], batch: _Batch,
                        notes: list[str]) -> tuple[list[int] | None, str]:
        lay = self.layout
        ptr = lay.pointer_size
        if alloc.kind == "freertos-heap_4":
            start, end = alloc.fields.get("start"), got.get("alloc.end")
            if start is None or got.get("alloc.start") is None or end is None:
                return None, ""
            node = lay.pointer(self._int(got["alloc.start"], size=ptr) or 0)
            stop = lay.pointer(self._int(end) or 0)
            src = "the heap_4 free list (xStart)"
        else:
            head = got.get("alloc.free_list")
            if head is None:
                return None, ""
            node = lay.pointer(self._int(head) or 0)
            stop = 0
            src = "the avr-libc free list (__flp)" if alloc.kind == "avr-libc" else "the nano-malloc free list (__malloc_free_list)"
        sizes = []
        width = ptr
        mask = (1 << (8 * width - 1)) if alloc.kind == "freertos-heap_4" else 0
        for _ in range(FREE_LIST_MAX):
            if not node or node == stop:
                return sizes, src
            try:
                raw = batch.read(node, 2 * ptr)
            except TargetError as e:
                if isinstance(e, TargetLost):
                    raise
                notes.append(f"the free list could not be followed at 0x{node:x} ({e}).")
                return None, ""
            size = int.from_bytes(raw[alloc.node_size : alloc.node_size + width], lay.byteorder) & ~mask
            nxt = int.from_bytes(raw[alloc.node_next : alloc.node_next + ptr], lay.byteorder)
            sizes.append(max(0, size - alloc.header) if alloc.size_in_node_includes_header else size)
            node = lay.pointer(nxt)
        notes.append(f"the free list is longer than {FREE_LIST_MAX} blocks; the largest free block counts the first {FREE_LIST_MAX}.")
        return sizes, src

    # -- stack ------------------------------------------------------------------------------------------
    def _scan(self, got: dict[str, bytes | None], rec: Callable[..., int | None], helper_painted: bool,
              sp: int | None, heap_end: int | None, top: int | None, batch: _Batch, notes: list[str]) -> StackMark | None:
        lay = self.layout
        if helper_painted:
            low = lay.pointer(rec("fw_stack", lay.stack_helper, "low") or 0)
            high = top if top is not None else lay.pointer(rec("fw_stack", lay.stack_helper, "high") or 0)
            pattern = rec("fw_stack", lay.stack_helper, "pattern") or 0xAA
            if self._scanner is None or (self._scanner.low, self._scanner.high, self._scanner.pattern) != (low, high, pattern):
                if not low or high <= low:
                    notes.append("fw_stack holds no usable painted area.")
                    return None
                self._scanner = StackScanner(low, high, pattern)
                self._scanner_source = f"stack paint 0x{pattern:02X} by the firmware (fw_stack_paint), scanned from the edge"
        elif self._host_paint is not None:
            if self._scanner is None:
                low, high = self._host_paint
                self._scanner = StackScanner(low, top if top is not None else high)
                self._scanner_source = "stack paint 0xAA by the host (firmwatch memory --paint), scanned from the edge"
        else:
            if lay.stack_helper:
                notes.append("the stack helper is linked but the stack is not painted (fw_stack.magic is not set): call fw_stack_paint() at boot, or paint from the host over GDB (--paint).")
            else:
                notes.append("no stack paint: link firmware/extras/stack_paint and call fw_stack_paint() at boot, or "
                             "let the host paint over GDB (--paint) for a high-water mark.")
            return None
        sc = self._scanner
        # a heap that grows into the painted area from below bounds the scan (its bytes are not the stack's)
        floor = heap_end if heap_end is not None and sc.low <= heap_end < sc.high else sc.low
        self._floor = floor
        try:
            reached = min((x for x in (sp, self._sp_min, self._fw_sp_min) if x), default=None)
            mark = sc.scan(batch.read, sp=reached, floor=floor)
        except TargetError as e:
            if isinstance(e, TargetLost):
                raise
            notes.append(f"the stack area could not be read ({e}); the transport's region table must cover it.")
            return None
        if not mark.painted:
            notes.append(f"no paint found in 0x{self._scanner.low:x}..0x{self._scanner.high:x}.")
        return mark

    def paint_from_host(self, announce: Callable[[str], None] | None = None) -> tuple[int, int]:
        """Paint the free stack with 0xAA over the debug link while the CPU is halted; returns (low, high).

        Opt-in only. Refused where another writer could race the paint: a transport that cannot
        halt the CPU (it would push into bytes being painted), and a firmware whose own helper
        paints (the two paints would disagree on the area).
        """
        t = self.target
        lay = self.layout
        try:
            ctl: ExecutionControl | None = t.control()
        except NotImplementedError:
            ctl = None
        if ctl is None or Capability.HALT not in ctl.capabilities or Capability.REGISTERS not in ctl.capabilities:
            raise MemoryHealthError("painting the stack from the host needs a GDB connection that can halt the CPU "
                                    "(the running CPU would push into bytes being painted); link "
                                    "firmware/extras/stack_paint to paint at boot instead.")
        if lay.stack_helper:
            raw = t.read(lay.stack_helper["magic"].address, lay.stack_helper["magic"].size)
            if int.from_bytes(raw, lay.byteorder) == STACK_MAGIC:
                raise MemoryHealthError("the firmware paints its own stack (fw_stack_paint); host painting is refused "
                                        "so the two cannot race or disagree.")
        if lay.stack_top is None:
            raise MemoryHealthError("the ELF names no stack top (__stack_top, _estack, __StackTop or __stack); "
                                    "host painting needs to know where the stack is.")
        from firmwatch.targets.control import RunState

        was_running = ctl.state == RunState.RUNNING
        ctl.halt()
        try:
            heap_fields = [("sbrk_end", lay.sbrk_end)]
            if lay.allocator is not None and "brk" in lay.allocator.fields:
                heap_fields.append(("alloc.brk", lay.allocator.fields["brk"]))
            present = [(n, f) for n, f in heap_fields if f is not None]
            snap = ctl.snapshot(["sp"], [Region(f.address, f.size) for _, f in present])
            sp = self._sp_value(snap.registers["sp"])
            got: dict[str, bytes | None] = {n: d for (n, _), d in zip(present, snap.memory, strict=True)}
            heap_end, _ = self._heap_end(got, lambda *a: None)
            low = heap_end if heap_end is not None else lay.static_end
            # on a post-decrementing stack (AVR) SP itself is free; elsewhere it holds the last push
            high = sp + 1 if lay.arch == "AVR" else sp
            if high - low < 16:
                raise MemoryHealthError(f"only {max(0, high - low)} bytes lie between the heap end and the stack "
                                        "pointer: nothing worth painting.")
            if announce is not None:
                announce(f"painting {high - low} bytes of free stack, 0x{low:x}..0x{high:x}, with 0xAA while the CPU "
                         "is halted")
            for a in range(low, high, PAINT_CHUNK):
                n = min(PAINT_CHUNK, high - a)
                t.write(a, b"\xaa" * n)
        finally:
            if was_running:
                ctl.resume()
        self._host_paint = (low, high)
        self._scanner = None
        return low, high

    # -- map ----------------------------------------------------------------------------------------------
    def _segments(self, heap_start: int | None, heap_end: int | None, sp: int | None, mark: StackMark | None,
                  top: int | None) -> list[Segment]:
        out: list[Segment] = []
        for kind, name in (("data", ".data"), ("bss", ".bss")):
            secs = [s for s in self.static.sections if s.kind == kind and (top is None or s.address < top)]
            if secs:
                out.append(Segment(name, min(s.address for s in secs), max(s.address + s.size for s in secs)))
        first = min((x.start for x in out), default=None)
        in_ram = (heap_start is not None and heap_end is not None and heap_end > heap_start
                  and (top is None or heap_end <= top) and (first is None or heap_start >= first))
        if in_ram:
            out.append(Segment("heap", heap_start, heap_end))  # type: ignore[arg-type]
        if top is not None:
            if in_ram:
                low = heap_end
            elif mark is not None:
                low = mark.low
            else:
                low = max((x.end for x in out if x.end <= top), default=None)
            edge = mark.edge if mark is not None and mark.edge is not None else None
            cur = sp if sp is not None else edge
            if low is not None:
                deep = edge if edge is not None else cur
                if deep is not None and deep > low:
                    out.append(Segment("free", low, deep))
                if edge is not None and cur is not None and cur > edge:
                    out.append(Segment("stack (used earlier)", edge, cur))
                if cur is not None and top > cur:
                    out.append(Segment("stack", cur, top))
        return out


BAR_CHARS = {".data": "D", ".bss": "B", "heap": "H", "free": ".", "stack (used earlier)": "s", "stack": "S"}
BAR_LEGEND = "D .data  B .bss  H heap  . free  s stack used earlier (high-water)  S stack now"


def ram_bar(segments: list[Segment], width: int) -> str:
    """One character per slice of RAM from the lowest segment to the stack top; each slice shows
    the band that covers most of it."""
    if not segments:
        return ""
    lo = min(s.start for s in segments)
    hi = max(s.end for s in segments)
    span = max(1, hi - lo)
    out = []
    for i in range(width):
        a = lo + span * i // width
        b = max(a + 1, lo + span * (i + 1) // width)
        best, cover = " ", 0
        for s in segments:
            c = min(b, s.end) - max(a, s.start)
            if c > 0 and c >= cover:  # ties go to the later, more specific band (the stack inside a host's .bss)
                best, cover = BAR_CHARS.get(s.name, "?"), c
        out.append(best)
    return f"0x{lo:x} [{''.join(out)}] 0x{hi:x}"


MERGE_GAP = 48  # bytes: regions closer than this are read together (a round trip costs more than the bytes)
MERGE_MAX = 120  # bytes: a merged read stays within one streamer READ reply


def _coalesce(regions: Sequence[Region]) -> list[Region]:
    out: list[Region] = []
    for r in sorted(set(regions), key=lambda r: r.address):
        if out:
            last = out[-1]
            end = max(last.address + last.size, r.address + r.size)
            if r.address <= last.address + last.size + MERGE_GAP and end - last.address <= MERGE_MAX:
                out[-1] = Region(last.address, end - last.address)
                continue
        out.append(r)
    return out


def _span(fields: dict[str, Field]) -> tuple[int, int] | None:
    if not fields:
        return None
    lo = min(f.address for f in fields.values())
    hi = max(f.address + f.size for f in fields.values())
    return lo, hi - lo


def _gaps(blocks: list[tuple[int, int]], entry: Any) -> list[int] | None:
    """The free gaps between live blocks, lowest to highest (None with fewer than two blocks)."""
    if len(blocks) < 2:
        return [] if blocks else None
    spans = sorted(blocks)
    return [max(0, b[0] - (a[0] + a[1])) for a, b in zip(spans, spans[1:], strict=False)]
