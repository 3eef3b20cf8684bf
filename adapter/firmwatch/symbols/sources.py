"""Where the program's code lives in its sources: each unit's compilation directory and the
line each function starts at.

Read through the symbol engine's own section reader (``dwarf.sections``), so compressed debug
sections (zlib, zstd, ``.zdebug``) give the same answers as plain ones: pyelftools knows no
zstd and would find no units at all.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from .dwarf.constants import AT_comp_dir, AT_stmt_list
from .dwarf.encoding import DwarfFormatError
from .dwarf.lines import read_header, rows
from .dwarf.reader import Reader
from .dwarf.sections import read_sections
from .elf import open_elf


@dataclass
class SourceInfo:
    comp_dirs: tuple[str, ...] = ()
    # {function name: (file, line)}: the first line-table row at its entry address
    function_lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    # what could not be read, one sentence each (a unit's broken line program, ...)
    notes: list[str] = field(default_factory=list)


def read_sources(path: str | os.PathLike[str], functions: dict[int, str] | None = None,
                 thumb: bool = False) -> SourceInfo:
    """The compilation directories of ``path``'s units and, for ``functions`` ({entry address:
    name}; Thumb addresses with their low bit set when ``thumb``), where each one starts.

    Raises :class:`~firmwatch.symbols.SymbolsError` for an unreadable file and
    :class:`~firmwatch.symbols.dwarf.DwarfFormatError` for debug sections that cannot be read;
    an ELF without DWARF has no sources to tell (an empty :class:`SourceInfo`).
    """
    elf, f = open_elf(os.fspath(path))
    try:
        try:
            sections = read_sections(elf)
        except (struct.error, IndexError, ValueError) as e:
            raise DwarfFormatError(f"a debug section is corrupt ({e})") from None
        little = elf.little_endian
    finally:
        f.close()
    out = SourceInfo()
    if sections is None:
        return out
    reader = Reader(sections, little)
    wanted = {(a & ~1 if thumb else a): n for a, n in (functions or {}).items()}
    dirs: list[str] = []
    for unit in reader.units():
        try:
            attrs = reader.top_attributes(unit)
        except (DwarfFormatError, IndexError, struct.error, ValueError) as e:
            out.notes.append(f"compile unit at 0x{unit.offset:x}: {e}")
            continue
        comp = attrs.get(AT_comp_dir)
        comp = comp if isinstance(comp, str) else ""
        if comp and comp not in dirs:
            dirs.append(comp)
        stmt = attrs.get(AT_stmt_list)
        if not wanted or not isinstance(stmt, int) or not sections.line:
            continue
        try:
            _first_lines(sections.line, stmt, reader, comp, wanted, out.function_lines)
        except (DwarfFormatError, IndexError, struct.error, ValueError) as e:
            out.notes.append(f"line program at 0x{stmt:x} of unit {unit.name or hex(unit.offset)}: {e}")
    out.comp_dirs = tuple(dirs)
    return out


def _first_lines(line: bytes, off: int, reader: Reader, comp: str, wanted: dict[int, str],
                 out: dict[str, tuple[str, int]]) -> None:
    head = read_header(line, off, reader.uint, reader.strp, reader.s.line_str)
    files, base = head.files, head.file_base
    for address, file, ln in rows(line, head, reader.uint):
        name = wanted.get(address)
        if name is None or name in out:
            continue
        fi = file - base
        if not 0 <= fi < len(files):
            continue
        fname = files[fi]
        if head.dir_indexes[fi] == 0:  # directory 0 is the unit's own, written since DWARF 5
            fname = os.path.join(head.dir0 or comp, fname)
        out[name] = (fname, ln)
