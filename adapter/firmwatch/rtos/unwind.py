"""Call stacks from saved registers and stack memory, with the ELF's call-frame information
(``.debug_frame``, or ``.eh_frame``), the way a debugger unwinds, but over any transport that
reads memory: an RTOS task's stack while the CPU stands elsewhere.

Each step finds the frame description (FDE) covering the pc, evaluates its row for that pc (the
canonical frame address, CFA, as a register plus an offset; saved registers at offsets from
it), restores the caller's registers and takes the return address as the caller's pc. The walk
stops at an address no FDE covers, a CFA outside the task's stack, a CFA that does not grow
(a corrupt or unwound-to-the-end stack), an ARM exception return value, or ``max_frames``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from firmwatch.rtos.context import PC, RA, SP

Reader = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class RawFrame:
    pc: int  # the frame's pc (the return address for callers: look up pc - 1 for its line)
    cfa: int | None
    registers: dict[int, int]


class Unwinder:
    """One ELF's call-frame information, decoded on first need for each function."""

    def __init__(self, path: str, arch: str, byteorder: str = "little"):
        self.arch = arch
        self.byteorder = byteorder
        self._path = path
        self._starts: list[int] | None = None
        self._fdes: list[tuple[int, int, object]] = []
        self._rows: dict[int, list[dict]] = {}

    def _load(self) -> None:
        from elftools.elf.elffile import ELFFile

        with open(self._path, "rb") as f:
            dw = ELFFile(f).get_dwarf_info()
            entries = dw.CFI_entries() if dw.has_CFI() else (dw.EH_CFI_entries() if dw.has_EH_CFI() else [])
            fdes = []
            for e in entries:
                h = e.header
                if "initial_location" in h and "address_range" in h:
                    rows = e.get_decoded().table
                    fdes.append((h["initial_location"], h["initial_location"] + h["address_range"], rows))
        fdes.sort(key=lambda x: x[0])
        self._fdes = fdes
        self._starts = [f[0] for f in fdes]

    def _row(self, pc: int) -> dict | None:
        if self._starts is None:
            self._load()
        assert self._starts is not None
        i = bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        start, end, rows = self._fdes[i]
        if not start <= pc < end:
            return None
        best = None
        for r in rows:  # type: ignore[attr-defined]
            if r["pc"] <= pc:
                best = r
            else:
                break
        return best

    def unwind(self, registers: dict[int, int], read: Reader, low: int, high: int, max_frames: int = 48) -> list[RawFrame]:
        """Frames from the innermost (``registers`` as the task resumes) outwards; ``low``/``high``
        bound the stack the CFA must stay in."""
        pc_reg, sp_reg, ra_reg = PC[self.arch], SP[self.arch], RA[self.arch]
        regs = dict(registers)
        out: list[RawFrame] = []
        pc = regs.get(pc_reg, 0)
        for level in range(max_frames):
            if not pc:
                break
            row = self._row(pc if level == 0 else pc - 1)
            if row is None:
                out.append(RawFrame(pc, None, regs))
                break
            rule = row["cfa"]
            if getattr(rule, "expr", None) is not None or rule.reg not in regs:
                out.append(RawFrame(pc, None, regs))
                break
            cfa = regs[rule.reg] + rule.offset
            out.append(RawFrame(pc, cfa, regs))
            if not low <= cfa <= high or cfa < regs.get(sp_reg, 0):
                break
            caller = dict(regs)
            try:
                for reg, r in row.items():
                    if not isinstance(reg, int):
                        continue
                    kind = getattr(r, "type", None)
                    if kind == "OFFSET":
                        caller[reg] = int.from_bytes(read(cfa + r.arg, 4), self.byteorder)
                    elif kind == "UNDEFINED":
                        caller.pop(reg, None)
            except Exception:  # noqa: BLE001 - a saved slot that cannot be read ends the stack
                break
            caller[sp_reg] = cfa
            ra = caller.get(ra_reg)
            if ra is None or ra == 0:
                break
            if self.arch == "ARM":
                if ra & 0xFFFFFF00 == 0xFFFFFF00:  # an exception return: the task's first frame
                    break
                ra &= ~1
            if cfa == regs.get(sp_reg) and ra == pc:
                break  # no progress
            caller[pc_reg] = ra
            regs, pc = caller, ra
        return out
