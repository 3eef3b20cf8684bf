"""How a firmware uses its memory, from the ELF: .data, .bss, heap and stack, RAM and flash totals.

Sizes come from the sections; heap and stack from the sections the usual linker scripts make
(``.heap``, ``.stack``, ``._user_heap_stack``) or, failing that, from the usual linker symbols
(``__HeapBase``/``__HeapLimit``, ``_Min_Heap_Size``/``_Min_Stack_Size``, ``__StackLimit``/
``__StackTop``, ``_estack``). Totals use the device's region table when the target reports one,
else the linker symbols; a total that cannot be known is None rather than a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from firmwatch.symbols.program import Program
from firmwatch.targets.base import MemoryRegion

_HEAP_SECTIONS = (".heap", "._user_heap")
_STACK_SECTIONS = (".stack", "._stack", ".stack_dummy")


@dataclass(frozen=True, slots=True)
class SectionUse:
    name: str
    address: int
    size: int
    kind: str  # "data", "bss", "heap", "stack", "text", "rodata", "other-ram", "other-flash"


@dataclass
class Usage:
    used: int
    total: int | None


@dataclass
class MemoryUsage:
    sections: list[SectionUse] = field(default_factory=list)
    ram: Usage = field(default_factory=lambda: Usage(0, None))
    flash: Usage = field(default_factory=lambda: Usage(0, None))

    def by_kind(self, kind: str) -> int:
        return sum(s.size for s in self.sections if s.kind == kind)


def _kind(name: str, ram: bool, nobits: bool, flags: str) -> str:
    if name in _HEAP_SECTIONS or name.startswith("._user_heap"):
        return "heap"
    if name in _STACK_SECTIONS:
        return "stack"
    if name == ".data" or name.startswith(".data.") or (ram and not nobits):
        return "data" if ram else "rodata"
    if name == ".bss" or name.startswith(".bss.") or (ram and nobits):
        return "bss"
    if "X" in flags:
        return "text"
    return "rodata"


def _sym(program: Program, *names: str) -> int | None:
    for n in names:
        s = program.find_symbol(n)
        if s is not None:
            return s.address
    return None


def memory_usage(program: Program, regions: Sequence[MemoryRegion] | None = None) -> MemoryUsage:
    """``regions``: the target's MemoryRegion list (writable ones are RAM), when it reports one."""
    out = MemoryUsage()
    for s in program.elf.sections:
        # flash may start at 0 (AVR, Cortex-M vector table): only the kind says a section is loaded
        if s.kind not in ("ram", "flash") or not s.size:
            continue
        out.sections.append(SectionUse(s.name, s.address, s.size, _kind(s.name, s.kind == "ram", s.nobits, s.flags)))
    # heap and stack from linker symbols when no section holds them
    if not any(s.kind == "heap" for s in out.sections):
        base, limit = _sym(program, "__HeapBase", "__heap_start", "_heap_start"), _sym(program, "__HeapLimit", "__heap_end", "_heap_end")
        size = _sym(program, "_Min_Heap_Size", "__heap_size", "_heap_size")
        if base is not None and limit is not None and limit > base:
            out.sections.append(SectionUse("heap", base, limit - base, "heap"))
        elif base is not None and size:
            out.sections.append(SectionUse("heap", base, size, "heap"))
    if not any(s.kind == "stack" for s in out.sections):
        top = _sym(program, "__StackTop", "_estack", "__stack_top", "__stack")
        low = _sym(program, "__StackLimit", "_sstack")
        size = _sym(program, "_Min_Stack_Size", "__stack_size", "_stack_size")
        if top is not None and low is not None and top > low:
            out.sections.append(SectionUse("stack", low, top - low, "stack"))
        elif top is not None and size:
            out.sections.append(SectionUse("stack", top - size, size, "stack"))
    ram_kinds = ("data", "bss", "heap", "stack")
    out.ram.used = sum(s.size for s in out.sections if s.kind in ram_kinds)
    # flash holds code, constants and the initial values of .data
    out.flash.used = sum(s.size for s in out.sections if s.kind in ("text", "rodata", "data"))
    # Totals: the linker script knows the chip's memories; a device's region table only lists what
    # it lets the host read and write (often just .data and .bss), so it comes last.
    ram_len = _sym(program, "__DATA_REGION_LENGTH__")
    top = _sym(program, "_estack", "__StackTop", "__stack_top", "__stack")
    ram_secs = [s for s in out.sections if s.kind in ram_kinds]
    writable = [r for r in (regions or []) if r.writable]
    if ram_len:
        out.ram.total = ram_len
    elif top is not None and ram_secs and top > min(s.address for s in ram_secs):
        out.ram.total = top - min(s.address for s in ram_secs)
    elif writable and sum(r.size for r in writable) >= out.ram.used:
        # the region table can only be a total when it covers what the ELF places in RAM (a host
        # build's region table lists .data and .bss of a process whose memory is much larger)
        out.ram.total = sum(r.size for r in writable)
    flash_len = _sym(program, "__TEXT_REGION_LENGTH__")
    ro = [r for r in (regions or []) if r.readable and not r.writable]
    flash_secs = [s for s in out.sections if s.kind in ("text", "rodata")]
    if flash_len:
        out.flash.total = flash_len
    elif ro and flash_secs:
        covering = [r for r in ro if any(r.contains(s.address, 1) for s in flash_secs)]
        if covering:
            out.flash.total = sum(r.size for r in covering)
    return out
