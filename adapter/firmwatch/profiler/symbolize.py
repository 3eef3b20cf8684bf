"""Addresses to names and source lines, for records (function addresses) and samples (PCs).

Names come from the ELF's symbol table through ``Program``; lines from the DWARF line table
(``.debug_line``) and each function's ``DW_AT_decl_file``/``decl_line``, read once with
pyelftools the first time a line is asked for. A firmware without DWARF still profiles: its
functions have names and no lines.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass

from firmwatch.symbols.program import Program


@dataclass(frozen=True, slots=True)
class SourceLine:
    file: str  # as the compiler recorded it (absolute when it knew the directory)
    line: int


class Symbolizer:
    def __init__(self, program: Program):
        self.program = program
        self._thumb = program.elf.machine == "ARM"
        self._rows: list[int] | None = None  # sorted addresses of line-table rows
        self._row_lines: list[SourceLine | None] = []
        self._defs: dict[str, SourceLine] = {}
        self._func_cache: dict[int, str] = {}
        self._code: list[tuple[int, bytes]] | None = None  # executable sections, for return_site
        self._leaf: dict[str, bool] = {}

    # -- names --------------------------------------------------------------------------------
    def function(self, address: int) -> str:
        """The function whose entry ``address`` is (a record's func_addr), or its hex."""
        name = self._func_cache.get(address)
        if name is None:
            name = self.containing(address) or f"0x{address:08x}"
            self._func_cache[address] = name
        return name

    def containing(self, pc: int) -> str | None:
        """The function containing ``pc``, without the offset; None outside every symbol."""
        a = pc & ~1 if self._thumb else pc
        name = self.program.symbolize(a)
        if name is None:
            return None
        base, plus, off = name.rpartition("+")
        return base if plus and off.isdigit() else name

    # -- lines --------------------------------------------------------------------------------
    def line(self, pc: int) -> SourceLine | None:
        """The source line of the instruction at ``pc`` (the last line-table row at or before it)."""
        self._load_lines()
        assert self._rows is not None
        a = pc & ~1 if self._thumb else pc
        i = bisect_right(self._rows, a) - 1
        return self._row_lines[i] if i >= 0 else None

    def definition(self, function: str) -> SourceLine | None:
        """Where ``function`` is defined (DW_AT_decl_file / decl_line)."""
        self._load_lines()
        return self._defs.get(function)

    def definitions(self) -> dict[str, SourceLine]:
        self._load_lines()
        return dict(self._defs)

    # -- return addresses ---------------------------------------------------------------------
    def return_site(self, address: int) -> bool:
        """Whether ``address`` follows a call instruction in the ELF's code, i.e. can be a return
        address (a link register that still holds one, not a stale or scratch value).
        ARM (Thumb: BL, BLX register) and RISC-V (JAL, JALR, C.JAL, C.JALR with ra); False
        for anything else, and for other architectures."""
        machine = self.program.elf.machine
        if machine == "ARM":
            if not address & 1:
                return False  # a Cortex-M return address is always Thumb
            a = address & ~1
            h1, h2 = self._u16(a - 4), self._u16(a - 2)
            bl = h1 is not None and h2 is not None and (h1 & 0xF800) == 0xF000 and (h2 & 0xD000) == 0xD000
            blx = h2 is not None and (h2 & 0xFF87) == 0x4780
            return bl or blx
        if machine == "RISC-V":
            lo, hi = self._u16(address - 4), self._u16(address - 2)
            if lo is not None and hi is not None:
                insn = lo | hi << 16
                if (insn & 0xFFF) == 0x0EF or (insn & 0x7FFF) == 0x00E7:  # jal ra / jalr ra
                    return True
            if hi is not None:
                return (hi & 0xE003) == 0x2001 or ((hi & 0xF07F) == 0x9002 and hi & 0x0F80 != 0)  # c.jal / c.jalr
            return False
        return False

    def call_target(self, return_address: int) -> int | None:
        """The address the call right before ``return_address`` jumped to (BL, JAL, C.JAL with an
        immediate); None for a call through a register, or no call there."""
        machine = self.program.elf.machine
        if machine == "ARM":
            a = return_address & ~1
            h1, h2 = self._u16(a - 4), self._u16(a - 2)
            if h1 is None or h2 is None or (h1 & 0xF800) != 0xF000 or (h2 & 0xD000) != 0xD000:
                return None
            s = (h1 >> 10) & 1
            i1 = 1 - (((h2 >> 13) & 1) ^ s)
            i2 = 1 - (((h2 >> 11) & 1) ^ s)
            imm = (s << 24) | (i1 << 23) | (i2 << 22) | ((h1 & 0x3FF) << 12) | ((h2 & 0x7FF) << 1)
            if s:
                imm -= 1 << 25
            return a + imm
        if machine == "RISC-V":
            lo, hi = self._u16(return_address - 4), self._u16(return_address - 2)
            if lo is not None and hi is not None:
                insn = lo | hi << 16
                if (insn & 0xFFF) == 0x0EF:  # jal ra, imm
                    imm = (((insn >> 31) & 1) << 20) | (((insn >> 21) & 0x3FF) << 1) | (((insn >> 20) & 1) << 11) \
                        | (((insn >> 12) & 0xFF) << 12)
                    if imm & (1 << 20):
                        imm -= 1 << 21
                    return return_address - 4 + imm
            if hi is not None and (hi & 0xE003) == 0x2001:  # c.jal
                b = lambda n: (hi >> n) & 1  # noqa: E731
                imm = (b(12) << 11) | (b(11) << 4) | (((hi >> 9) & 3) << 8) | (b(8) << 10) | (b(7) << 6) \
                    | (b(6) << 7) | (((hi >> 3) & 7) << 1) | (b(2) << 5)
                if imm & (1 << 11):
                    imm -= 1 << 12
                return return_address - 2 + imm
        return None

    def is_leaf(self, function: str) -> bool:
        """Whether ``function`` makes no call (no BL/BLX, no JAL/JALR to ra in its code): only a
        leaf keeps its return address in the link register throughout. Data in the code (a literal
        pool) can only make a leaf look like a caller, never the other way round."""
        known = self._leaf.get(function)
        if known is not None:
            return known
        sym = self.program.find_symbol(function)
        leaf = False
        if sym is not None and sym.kind == "function" and sym.size:
            start = sym.address & ~1 if self.program.elf.machine == "ARM" else sym.address
            leaf = not self._has_call(start, start + sym.size)
        self._leaf[function] = leaf
        return leaf

    def _has_call(self, start: int, end: int) -> bool:
        machine = self.program.elf.machine
        a = start
        while a < end:
            h = self._u16(a)
            if h is None:
                return True  # cannot tell: not a leaf
            if machine == "ARM":
                if (h & 0xFF87) == 0x4780:  # blx rm
                    return True
                if (h & 0xE000) == 0xE000 and (h & 0x1800):  # a 32-bit Thumb-2 instruction
                    h2 = self._u16(a + 2)
                    if (h & 0xF800) == 0xF000 and h2 is not None and (h2 & 0xD000) == 0xD000:  # bl
                        return True
                    a += 4
                    continue
                a += 2
            elif machine == "RISC-V":
                if (h & 3) == 3:
                    h2 = self._u16(a + 2)
                    insn = h | (h2 or 0) << 16
                    if (insn & 0xFFF) == 0x0EF or (insn & 0x7FFF) == 0x00E7:
                        return True
                    a += 4
                    continue
                if (h & 0xE003) == 0x2001 or ((h & 0xF07F) == 0x9002 and h & 0x0F80):
                    return True
                a += 2
            else:
                return True
        return False

    def _u16(self, address: int) -> int | None:
        if self._code is None:
            self._code = self._read_code()
        for start, data in self._code:
            off = address - start
            if 0 <= off <= len(data) - 2:
                return data[off] | data[off + 1] << 8
        return None

    def _read_code(self) -> list[tuple[int, bytes]]:
        from elftools.elf.elffile import ELFFile

        out = []
        try:
            with open(self.program.elf.path, "rb") as f:
                for sec in ELFFile(f).iter_sections():
                    if sec["sh_flags"] & 0x4 and sec["sh_type"] != "SHT_NOBITS":  # SHF_EXECINSTR
                        out.append((sec["sh_addr"], sec.data()))
        except Exception:  # an unreadable ELF: no return address is trusted
            return []
        return out

    def _load_lines(self) -> None:
        if self._rows is not None:
            return
        rows: list[tuple[int, SourceLine | None]] = []
        try:
            rows = self._read_dwarf()
        except Exception:  # a broken or missing .debug_line: names still work, lines do not
            rows = []
        rows.sort(key=lambda r: r[0])
        self._rows = [r[0] for r in rows]
        self._row_lines = [r[1] for r in rows]

    def _read_dwarf(self) -> list[tuple[int, SourceLine | None]]:
        from elftools.elf.elffile import ELFFile

        rows: list[tuple[int, SourceLine | None]] = []
        with open(self.program.elf.path, "rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                return rows
            dwarf = elf.get_dwarf_info()
            # a sequence of a function the linker dropped (--gc-sections) keeps its unrelocated
            # addresses (from 0) and would shadow the code really there: keep only sequences that
            # start where a function of the symbol table starts
            starts = {s.address & ~1 if self._thumb else s.address for s in self.program.symbols if s.kind == "function"}
            for cu in dwarf.iter_CUs():
                lp = dwarf.line_program_for_CU(cu)
                if lp is None:
                    continue
                files = _file_names(lp, cu)
                seq: list[tuple[int, SourceLine | None]] = []
                for entry in lp.get_entries():
                    st = entry.state
                    if st is None:
                        continue
                    if st.end_sequence:
                        seq.append((st.address, None))
                        if not starts or (seq and seq[0][0] in starts):
                            rows.extend(seq)
                        seq = []
                    else:
                        seq.append((st.address, SourceLine(files.get(st.file, "?"), st.line)))
                top = cu.get_top_DIE()
                for die in top.iter_children():
                    if die.tag != "DW_TAG_subprogram":
                        continue
                    at = die.attributes
                    if "DW_AT_name" not in at or "DW_AT_decl_line" not in at or "DW_AT_low_pc" not in at:
                        continue
                    name = at["DW_AT_name"].value.decode("utf-8", "replace")
                    fidx = at["DW_AT_decl_file"].value if "DW_AT_decl_file" in at else None
                    file = files.get(fidx, "?") if fidx is not None else "?"
                    self._defs.setdefault(name, SourceLine(file, at["DW_AT_decl_line"].value))
        return rows


def _file_names(lp, cu) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """Line-program file index -> path (joined with its directory and the CU's comp_dir)."""
    header = lp.header
    version = header["version"]
    dirs = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d)
            for d in header.get("include_directory", [])]
    top = cu.get_top_DIE()
    comp_dir = top.attributes.get("DW_AT_comp_dir")
    base = comp_dir.value.decode("utf-8", "replace") if comp_dir is not None else ""
    out: dict[int, str] = {}
    first = 0 if version >= 5 else 1
    for i, fe in enumerate(header.get("file_entry", [])):
        name = fe.name.decode("utf-8", "replace") if isinstance(fe.name, bytes) else str(fe.name)
        di = fe.dir_index
        if version >= 5:
            d = dirs[di] if 0 <= di < len(dirs) else ""
        else:
            d = dirs[di - 1] if 0 < di <= len(dirs) else ""
        path = os.path.join(d, name) if d and not os.path.isabs(name) else name
        if base and not os.path.isabs(path):
            path = os.path.join(base, path)
        out[i + first] = os.path.normpath(path)
    return out
