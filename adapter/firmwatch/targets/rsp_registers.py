"""The core registers of each architecture as GDB servers send them: names, ``p`` numbers, and
where each sits in the ``g`` reply (for servers without ``p``).

Only the registers every server of the architecture sends in this order at the start of ``g``;
a target.xml may describe more, which the gdb transport shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RegisterDef:
    name: str
    number: int  # the `p`/`P` packet's register number
    offset: int  # byte offset in the `g` reply
    size: int  # bytes, target byte order (little-endian on every architecture here)
    space: int = 0  # added to make it an ELF address (the AVR's SP points into data space at 0x800000)


def _layout(regs: list[tuple[str, int, int]], spaces: dict[str, int] | None = None) -> list[RegisterDef]:
    out, offset = [], 0
    for name, number, size in regs:
        out.append(RegisterDef(name, number, offset, size, (spaces or {}).get(name, 0)))
        offset += size
    return out


_RISCV_ABI = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", *(f"a{i}" for i in range(8)),
              *(f"s{i}" for i in range(2, 12)), "t3", "t4", "t5", "t6")

LAYOUTS: dict[str, list[RegisterDef]] = {
    "ARM": _layout([*((f"r{i}", i, 4) for i in range(13)), ("sp", 13, 4), ("lr", 14, 4), ("pc", 15, 4)]),
    "RISC-V": _layout([*((name, i, 4) for i, name in enumerate(_RISCV_ABI)), ("pc", 32, 4)]),
    "AVR": _layout([*((f"r{i}", i, 1) for i in range(32)), ("sreg", 32, 1), ("sp", 33, 2), ("pc", 34, 4)],
                   {"sp": 0x800000}),
}


def layout(arch: str | None) -> list[RegisterDef] | None:
    return LAYOUTS.get(arch or "")


def find(arch: str | None, name: str) -> RegisterDef | None:
    for r in LAYOUTS.get(arch or "", ()):
        if r.name == name:
            return r
    return None
