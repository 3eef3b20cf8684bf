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
