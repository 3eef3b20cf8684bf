"""Pointer values vs ELF addresses: the same on von-Neumann targets, not on AVR.

AVR is Harvard: a data pointer holds a 16-bit RAM offset that the toolchain (and gdb, and
our ELF addresses) place at 0x800000 + offset, and a function pointer holds a *word*
address into flash. Reading through a pointer, showing it, or writing an address into one
goes through these two functions so the rest of the code can think in ELF addresses.
"""

from __future__ import annotations

AVR_DATA_BASE = 0x800000


def _avr(machine: str | None) -> bool:
    return (machine or "").upper() == "AVR"


def pointer_target(machine: str | None, value: int, to_code: bool) -> int:
    """The ELF address a pointer holding ``value`` points at."""
    if _avr(machine) and value:  # NULL stays 0 in every space
        return value * 2 if to_code else AVR_DATA_BASE | value if value < 0x10000 else value
    return value


def pointer_value(machine: str | None, address: int, to_code: bool) -> int:
    """The value stored in a pointer that points at ELF address ``address``."""
    if _avr(machine):
        if to_code:
            return address // 2
        return address - AVR_DATA_BASE if AVR_DATA_BASE <= address < AVR_DATA_BASE + 0x10000 else address
    return address
