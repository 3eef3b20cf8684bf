"""What the memory-health engine finds in an ELF before it reads a byte: the conventions of other
people's linker scripts and C libraries (libnosys's `_sbrk` static, `_estack`, `_Min_Stack_Size`),
and the firmware helpers' records described by DWARF."""

from __future__ import annotations

import subprocess
from pathlib import Path

from firmwatch import sim
from firmwatch.session.memory_layout import analyse
from firmwatch.symbols import load
from tools import require_tool

NOSYS = """
#include <stddef.h>
extern char end;
void *_sbrk(ptrdiff_t incr)
{
    static char *heap_end;   /* libnosys's spelling: a function-local static, "heap_end.0" in the symbol table */
    char *prev;
    if (heap_end == 0) heap_end = &end;
    prev = heap_end;
    heap_end += incr;
    return prev;
}
int main(void) { return _sbrk(16) != 0; }
"""


def test_libnosys_sbrk_and_cube_style_stack_symbols(tmp_path: Path) -> None:
    cc = require_tool("arm-none-eabi-gcc")
    src = tmp_path / "nosys.c"
    src.write_text(NOSYS)
    elf = tmp_path / "nosys.elf"
    subprocess.run([cc, "-mcpu=cortex-m3", "-mthumb", "-g", "-O1", "-nostdlib", "-Wl,-e,main",
                    "-Wl,--defsym=_estack=0x20005000", "-Wl,--defsym=_Min_Stack_Size=0x400", "-Wl,-Ttext=0x0",
                    "-Wl,-Tdata=0x20000000", str(src), "-o", str(elf)], check=True)
    lay = analyse(load(str(elf)))
    assert lay.stack_top == 0x20005000 and lay.stack_top_source == "ELF symbol _estack"
    assert lay.stack_reserve == 0x400
    assert lay.sbrk_end is not None and lay.sbrk_end.name.startswith("heap_end.") and lay.sbrk_end.size == 4
    assert lay.heap_start is not None and lay.sbrk_end.address < lay.heap_start
    assert lay.sp_register == (13, 4) and lay.allocator is None and not lay.stack_helper


def test_the_demo_helpers_and_avr_libc_state(tmp_path: Path) -> None:
    require_tool("avr-gcc")
    build = sim.build("avr", tmp_path, goals=("firmware",))
    lay = analyse(load(str(build.elf)))
    # avr-libc: __stack is RAMEND as a data-space offset; SP is pushed post-decrement
    assert lay.stack_top == 0x800900 and lay.data_offset == 0x800000 and lay.sp_io == 0x80005D
    assert lay.allocator is not None and lay.allocator.kind == "avr-libc"
    assert {"brk", "free_list", "margin", "heap_end"} <= set(lay.allocator.fields)
    assert lay.allocator.fields["brk"].size == 2
    # the helpers' records come from DWARF: every member, with its width on this target
    assert set(lay.stack_helper) == {"magic", "low", "high", "top", "sp", "sp_min", "pattern"}
    assert lay.stack_helper["sp"].size == 2 and lay.stack_helper["magic"].size == 4
    assert {"in_use", "peak", "generation", "failures", "live"} <= set(lay.heap_helper)
    assert lay.heap_table is not None and lay.heap_table_entry == (4, 0, 2, 2, 2)
