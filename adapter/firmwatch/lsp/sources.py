"""What the server learns from the ELF about its sources: the units' compilation directories
(to resolve relative declaration files) and where each function starts (definition, hover,
workspace symbols). Both come from the symbol engine's reader, which decompresses zstd and
zlib debug sections; a part it cannot read is logged, and the rest is still used."""

from __future__ import annotations

import logging
from pathlib import Path

from ..symbols import SymbolsError
from ..symbols.dwarf import DwarfFormatError

log = logging.getLogger("firmwatch.lsp")


def comp_dirs(path: Path) -> tuple[str, ...]:
    """``DW_AT_comp_dir`` of every unit; () when the DWARF cannot be read (resolution then
    falls back to the workspace folders and a search by basename)."""
    from ..symbols.sources import read_sources

    try:
        info = read_sources(path)
    except (SymbolsError, DwarfFormatError) as e:
        log.warning("compilation directories of %s not read: %s", path, e)
        return ()
    for note in info.notes:
        log.warning("%s: %s", path, note)
    return info.comp_dirs


def function_lines(path: Path, addresses: dict[int, str], thumb: bool) -> dict[str, tuple[str, int]]:
    """``{function name: (file, line)}`` for the functions at ``addresses``, from the first
    line-table row at each entry address (the line gdb's ``info line *ADDR`` reports)."""
    from ..symbols.sources import read_sources

    try:
        info = read_sources(path, addresses, thumb)
    except (SymbolsError, DwarfFormatError) as e:
        log.warning("function locations of %s not read: %s", path, e)
        return {}
    for note in info.notes:
        log.warning("%s: %s", path, note)
    return info.function_lines
