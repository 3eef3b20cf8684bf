"""The AVR's stack pointer as one value, though the CPU writes it one byte at a time.

An AVR's SP is two 8-bit I/O registers, SPL (0x3D) and SPH (0x3E). A function that makes room for
its locals writes both with ``out``, interrupts off in between (gcc: ``in r0, SREG; cli;
out SPH, r29; out SREG, r0; out SPL, r28``: the AVR runs one more instruction after SREG turns
interrupts back on). Code on the CPU can never see the halves disagree; a debugger can. A GDB
server that stops the CPU (or, like simavr, reads registers while it runs) between the two writes
reports the new high byte with the old low byte: a frame that crosses a 256-byte boundary reads up
to 255 bytes too deep (or too shallow on the way back). Taken as the stack pointer, such a read
pushes the stack's high-water mark down for good, raises a false stack–heap collision warning, or
gives the host's stack paint an upper bound inside live frames.

The registers the write takes its bytes from are read in the same ``g`` reply as SP and PC, so the
value SP holds once the write in progress completes is known exactly: decode the instructions at
PC, and while they are ``out`` to SPL, SPH or SREG, apply the SP ones. At any other PC nothing is
pending and SP stands as read.
"""

from __future__ import annotations

SPL, SPH, SREG = 0x3D, 0x3E, 0x3F
# out SPH; out SREG; out SPL is the longest sequence a compiler emits: three 16-bit instructions
CODE_BYTES = 6


def out_operands(word: int) -> tuple[int, int] | None:
    """(I/O address, source register) of an ``out A, Rr`` instruction word (1011 1AAr rrrr AAAA), else None."""
    if word & 0xF800 != 0xB800:
        return None
    return ((word >> 5) & 0x30) | (word & 0x0F), (word >> 4) & 0x1F


def settled_sp(sp: int, registers: bytes, code: bytes) -> int:
    """SP (16 bits, as the server read it) as it stands once a write to it that is under way completes.

    ``registers``: r0..r31 read at the same instant; ``code``: the program bytes at PC (little-endian
    words)."""
    low, high = sp & 0xFF, (sp >> 8) & 0xFF
    for i in range(0, len(code) - 1, 2):
        op = out_operands(int.from_bytes(code[i : i + 2], "little"))
        if op is None:
            break
        address, reg = op
        if address == SPL:
            low = registers[reg]
        elif address == SPH:
            high = registers[reg]
        elif address != SREG:
            break
    return (high << 8) | low
