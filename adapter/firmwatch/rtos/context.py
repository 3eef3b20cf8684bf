"""A switched-out task's registers, from the context its kernel port saved on the task's stack.

The layouts are those of the ports' assembly (no DWARF describes them):

* GCC/ARM_CM3: PendSV pushes r4-r11 below the exception frame the CPU stacked (r0-r3, r12,
  lr, pc, xPSR); ``pxTopOfStack`` points at r4. The task's stack pointer is above the frame,
  plus the alignment word when xPSR bit 9 says the CPU inserted one.
* GCC/ARM_CM4F: as CM3 with EXC_RETURN after r11, and s16-s31 below it (and s0-s15, FPSCR in the
  hardware frame) when EXC_RETURN bit 4 is clear.
* GCC/RISC-V: 31 words from ``pxTopOfStack``: mepc, mstatus, x1, x5-x31, the critical nesting;
  the task's sp is the word above them (no chip-specific extra registers: the
  RISCV_MTIME_CLINT_no_extensions layout).

Registers are keyed by DWARF number (ARM r0-r15 = 0-15, RISC-V x0-x31 = 0-31) for the unwinder;
:data:`NAMES` gives the names a debugger shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmwatch.rtos.layout import PortContext

Reader = Callable[[int, int], bytes]

ARM_NAMES = {**{i: f"r{i}" for i in range(13)}, 13: "sp", 14: "lr", 15: "pc", 16: "xpsr"}
RISCV_NAMES = {0: "zero", 1: "ra", 2: "sp", 3: "gp", 4: "tp", 5: "t0", 6: "t1", 7: "t2", 8: "s0", 9: "s1",
               **{10 + i: f"a{i}" for i in range(8)}, **{18 + i: f"s{2 + i}" for i in range(10)},
               28: "t3", 29: "t4", 30: "t5", 31: "t6", 32: "pc", 33: "mstatus"}
PC = {"ARM": 15, "RISC-V": 32}
SP = {"ARM": 13, "RISC-V": 2}
RA = {"ARM": 14, "RISC-V": 1}


@dataclass(frozen=True, slots=True)
class Context:
    registers: dict[int, int]  # DWARF number -> value; pc under PC[arch]
    bytes_read: int

    def named(self, arch: str) -> list[tuple[str, int]]:
        names = ARM_NAMES if arch == "ARM" else RISCV_NAMES
        return [(names.get(n, f"r{n}"), v) for n, v in sorted(self.registers.items())]


def context_size(port: PortContext) -> int:
    """Bytes from pxTopOfStack a context spans at most (what a snapshot should prefetch)."""
    if port.name == "GCC/RISC-V":
        return 31 * 4
    if port.name == "GCC/ARM_CM4F":
        return (9 + 16 + 8 + 18) * 4
    return 16 * 4


def saved_context(port: PortContext, read: Reader, top: int, byteorder: str = "little") -> Context:
    """The registers a switched-out task resumes with, read from its stack at ``top``."""
    def words(address: int, n: int) -> list[int]:
        raw = read(address, 4 * n)
        return [int.from_bytes(raw[i:i + 4], byteorder) for i in range(0, 4 * n, 4)]

    if port.name == "GCC/RISC-V":
        w = words(top, 31)
        regs = {1: w[2], 2: top + 31 * 4, 32: w[0], 33: w[1]}
        regs.update({5 + i: w[3 + i] for i in range(27)})
        return Context(regs, 31 * 4)
    soft = words(top, port.words)
    regs = {4 + i: soft[i] for i in range(8)}
    at = top + 4 * port.words
    fp_frame = False
    if port.name == "GCC/ARM_CM4F":
        exc_return = soft[8]
        if not exc_return & 0x10:  # the task had used the FPU: s16-s31 were saved too
            at += 16 * 4
            fp_frame = True
    hw = words(at, 8)
    regs.update({0: hw[0], 1: hw[1], 2: hw[2], 3: hw[3], 12: hw[4], 14: hw[5], 15: hw[6] & ~1, 16: hw[7]})
    after = at + 8 * 4 + (18 * 4 if fp_frame else 0)
    if hw[7] & (1 << 9):  # the CPU aligned the frame with one word of padding
        after += 4
    regs[13] = after
    return Context(regs, after - top)
