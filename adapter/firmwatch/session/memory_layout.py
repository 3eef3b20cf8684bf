"""Where a firmware's RAM lies, from the ELF alone: the stack's top and reserve, the heap's start,
the allocator in use and the firmware helpers linked in — everything a live memory-health refresh
needs to know before it reads a byte.

Addresses are the ELF's. On AVR the ELF puts data space at 0x800000 while C pointers hold
data-space offsets (0x0100…), so pointer values read from the target are lifted by
``data_offset`` before they are compared with ELF addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmwatch.symbols.program import Program

AVR_DATA_OFFSET = 0x800000
AVR_SP_IO = 0x5D  # SPL; SPH follows (data-space address of the I/O register pair)

# (register number in gdb's numbering, width) of the stack pointer per architecture
SP_REGISTER = {"ARM": (13, 4), "RISC-V": (2, 4), "AVR": (33, 2)}

_STACK_TOP = ("__stack_top", "_estack", "__StackTop", "__stack", "_stack_top", "__freertos_irq_stack_top")
_STACK_SIZE = ("__stack_size", "_Min_Stack_Size", "_stack_size", "__STACK_SIZE")
_STACK_LIMIT = ("__StackLimit", "_sstack", "__stack_limit")
_HEAP_START = ("__heap_start", "__HeapBase", "_heap_start", "__end__", "end", "_end", "__bss_end", "__bss_end__")


@dataclass(frozen=True, slots=True)
class Field:
    """One scalar the refresh reads: where it is and how wide."""

    name: str  # the C expression, e.g. "fw_heap.in_use"
    address: int
    size: int


@dataclass
class Allocator:
    """The allocator's own state, when the ELF shows which one is linked."""

    kind: str  # "avr-libc", "newlib-nano", "freertos-heap_4"
    fields: dict[str, Field] = field(default_factory=dict)  # role -> field
    node_next: int = 0  # free-list node: offset of the next pointer
    node_size: int = 0  # free-list node: offset of the size
    header: int = 0  # bytes of allocator header in each block
    size_in_node_includes_header: bool = False


@dataclass
class Layout:
    arch: str
    byteorder: str
    pointer_size: int
    data_offset: int  # added to pointer values read from the target (AVR)
    stack_top: int | None  # one past the highest stack byte (initial SP on a full-descending stack)
    stack_top_source: str
    stack_reserve: int | None  # the stack size the linker script reserves, when it says
    heap_start: int | None
    heap_start_source: str
    ram_start: int | None
    ram_end: int | None
    static_end: int  # end of .data/.bss/.noinit and any static heap below the stack
    sp_register: tuple[int, int] | None
    sp_io: int | None  # an address the stack pointer can be read from as memory (AVR SPL/SPH)
    stack_helper: dict[str, Field] = field(default_factory=dict)  # firmware/extras/stack_paint
    heap_helper: dict[str, Field] = field(default_factory=dict)  # firmware/extras/heap_wrap
    heap_table: Field | None = None  # the helper's fixed allocation table (array)
    heap_table_entry: tuple[int, int, int, int, int] | None = None  # (entry size, ptr off, ptr size, size off, size size)
    sbrk_end: Field | None = None  # the _sbrk state (newlib ports): the heap's current end
    allocator: Allocator | None = None

    def pointer(self, value: int) -> int:
        """A pointer value read from the target, as an ELF address (0 stays 0: NULL)."""
        return value + self.data_offset if value else 0


def _symbol(program: Program, names: tuple[str, ...]) -> tuple[int, str] | None:
    for n in names:
        s = program.find_symbol(n)
        if s is not None:
            return s.address, n
    return None


def _field(program: Program, expr: str) -> Field | None:
    """The address and size of a C expression naming a scalar, or None when the ELF lacks it."""
    from firmwatch.symbols.expr import compile_expression

    try:
        c = compile_expression(program, expr)
    except Exception:  # noqa: BLE001 - absent symbol or member: the figure is simply not offered
        return None
    if c.address is None or not c.size:
        return None
    return Field(expr, c.address, c.size)


def _symbol_field(program: Program, names: tuple[str, ...], size: int) -> Field | None:
    """A variable known only from the symbol table (libc statics have no DWARF)."""
    for n in names:
        s = program.find_symbol(n)
        if s is not None and s.kind != "function":
            return Field(n, s.address, s.size or size)
    # gcc spells a function-local static "name.N" in the symbol table
    for s in program.symbols:
        base, dot, suffix = s.raw_name.partition(".")
        if dot and suffix.isdigit() and base in names and s.kind != "function":
            return Field(s.raw_name, s.address, s.size or size)
    return None


def _table_entry(program: Program, table: Field) -> tuple[int, int, int, int, int] | None:
    """(entry size, ptr offset, ptr size, size offset, size size) of the helper's table entries."""
    a, b = _field(program, "fw_heap_table[0].ptr"), _field(program, "fw_heap_table[0].size")
    second = _field(program, "fw_heap_table[1].ptr")
    if a is None or b is None or second is None:
        return None
    return second.address - a.address, a.address - table.address, a.size, b.address - table.address, b.size


def analyse(program: Program) -> Layout:
    """Everything the refresh needs from the ELF, looked up once."""
    elf = program.elf
    arch = elf.machine
    offset = AVR_DATA_OFFSET if arch == "AVR" else 0
    ptr = elf.word_size
    top = _symbol(program, _STACK_TOP)
    stack_top, top_src = (None, "")
    if top is not None:
        stack_top, top_src = top[0], f"ELF symbol {top[1]}"
        if arch == "AVR" and top[1] == "__stack":
            # avr-libc's __stack is RAMEND as a data-space offset (0x8ff), the first byte pushed
            # (a post-decrementing stack)
            stack_top = AVR_DATA_OFFSET + (top[0] & 0xFFFF) + 1
    reserve = _symbol(program, _STACK_SIZE)
    limit = _symbol(program, _STACK_LIMIT)
    if reserve is None and limit is not None and stack_top is not None and stack_top > limit[0]:
        reserve = (stack_top - limit[0], limit[1])
    heap = _symbol(program, _HEAP_START)
    ram = [s for s in elf.sections if s.kind == "ram" and s.size]
    static_end = max((s.address + s.size for s in ram if stack_top is None or s.address + s.size <= stack_top), default=0)
    ram_start = min((s.address for s in ram), default=None)
    if arch == "AVR":
        origin = program.find_symbol("__DATA_REGION_ORIGIN__")
        if origin is not None:
            ram_start = origin.address
    out = Layout(
        arch=arch,
        byteorder=elf.byteorder,
        pointer_size=ptr,
        data_offset=offset,
        stack_top=stack_top,
        stack_top_source=top_src,
        stack_reserve=reserve[0] if reserve else None,
        heap_start=heap[0] if heap else None,
        heap_start_source=f"ELF symbol {heap[1]}" if heap else "",
        ram_start=ram_start,
        ram_end=stack_top,
        static_end=static_end,
        sp_register=SP_REGISTER.get(arch),
        sp_io=(AVR_DATA_OFFSET + AVR_SP_IO) if arch == "AVR" else None,
    )
    # firmware helpers (firmware/extras): described by DWARF, so their layout may change freely
    for m in ("magic", "low", "high", "top", "sp", "sp_min", "pattern"):
        f = _field(program, f"fw_stack.{m}")
        if f is not None:
            out.stack_helper[m] = f
    if "magic" not in out.stack_helper:
        out.stack_helper = {}
    for m in ("magic", "generation", "allocs", "frees", "failures", "untracked", "live", "in_use", "peak",
              "heap_low", "heap_high"):
        f = _field(program, f"fw_heap.{m}")
        if f is not None:
            out.heap_helper[m] = f
    if "magic" not in out.heap_helper:
        out.heap_helper = {}
    else:
        out.heap_table = _field(program, "fw_heap_table")
        if out.heap_table is not None:
            out.heap_table_entry = _table_entry(program, out.heap_table)
    # the allocator's own state (libc statics carry no DWARF: sizes come from the pointer width)
    if program.find_symbol("__brkval") is not None:
        a = Allocator("avr-libc", node_next=ptr, node_size=0, header=2)
        for role, name in (("brk", "__brkval"), ("free_list", "__flp"), ("heap_end", "__malloc_heap_end"),
                           ("margin", "__malloc_margin")):
            f = _symbol_field(program, (name,), ptr)
            if f is not None:
                a.fields[role] = Field(f.name, f.address, ptr)
        out.allocator = a
    elif program.find_symbol("xFreeBytesRemaining") is not None or program.find_symbol("ucHeap") is not None:
        a = Allocator("freertos-heap_4", node_next=0, node_size=ptr, header=2 * ptr, size_in_node_includes_header=True)
        for role, name in (("free", "xFreeBytesRemaining"), ("min_free", "xMinimumEverFreeBytesRemaining"),
                           ("start", "xStart"), ("end", "pxEnd"), ("allocs", "xNumberOfSuccessfulAllocations"),
                           ("frees", "xNumberOfSuccessfulFrees"), ("heap", "ucHeap")):
            f = _symbol_field(program, (name,), ptr)
            if f is not None:
                size = f.size if role in ("heap", "start") else ptr
                a.fields[role] = Field(f.name, f.address, size)
        out.allocator = a
    elif program.find_symbol("__malloc_free_list") is not None:
        a = Allocator("newlib-nano", node_next=4 if ptr == 4 else ptr, node_size=0, header=ptr,
                      size_in_node_includes_header=True)
        for role, name in (("free_list", "__malloc_free_list"), ("sbrk_start", "__malloc_sbrk_start")):
            f = _symbol_field(program, (name,), ptr)
            if f is not None:
                a.fields[role] = Field(f.name, f.address, ptr)
        out.allocator = a
    out.sbrk_end = _symbol_field(program, ("__sbrk_heap_end", "heap_end", "__heap_ptr", "_heap_ptr"), ptr)
    if out.sbrk_end is not None:
        out.sbrk_end = Field(out.sbrk_end.name, out.sbrk_end.address, ptr)
    return out
