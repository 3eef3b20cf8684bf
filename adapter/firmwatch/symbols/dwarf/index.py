"""``read_dwarf``: the index pass over every unit, then the variable walk."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

from .builder import Builder
from .constants import LANG_C, LANG_CXX, LANG_RUST
from .die import Die
from .encoding import DwarfFormatError
from .reader import Reader
from .results import DwarfResult, RawVariable
from .sections import read_sections
from .units import Unit
from .variables import VariableWalk


def read_dwarf(
    elf: ELFFile,
    word_size: int,
    little: bool,
    progress: Callable[[int, int], None] | None = None,
) -> DwarfResult | None:
    """Index every global/static variable and every named type; None when there is no DWARF.

    Like gdb's partial symbol tables, the index pass reads what the variable list and the
    type names need; a type itself is built from its DIEs when first used (``LazyTypes``).
    """
    sections = read_sections(elf)
    if sections is None:
        return None
    reader = Reader(sections, little)
    die_map: dict[int, Die] = {}
    units: list[Unit] = []
    notes: list[str] = []
    reserve: list[int] = []
    memo: dict[int, int] = {}
    total = len(sections.info) or 1
    for unit in reader.units():
        try:
            reader.parse_unit(unit, die_map, reserve, memo)
        except (DwarfFormatError, IndexError, struct.error, ValueError) as e:
            notes.append(f"compile unit at 0x{unit.offset:x}: {e}")
        if unit.top is not None:
            units.append(unit)
        if progress is not None:
            progress(unit.end, total)
    builder = Builder(die_map, word_size, little, reader, units, reserve, memo)
    walk = VariableWalk(builder)
    variables: list[RawVariable] = []
    langs: set[str] = set()
    version: int | None = None
    for unit in units:
        version = max(version or 0, unit.version)
        lang = unit.language
        if lang == LANG_RUST:
            langs.add("rust")
        elif lang in LANG_CXX:
            langs.add("c++")
        elif lang in LANG_C:
            langs.add("c")
        walk.walk_unit(unit, variables)
    notes.extend(builder.notes)
    language = langs.pop() if len(langs) == 1 else ("mixed" if langs else "c")
    return DwarfResult(builder.table, variables, version, language, notes, builder.sizeof)
