"""``read_dwarf``: the index pass over every unit, then the variable walk."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..elffile import ElfImage

from .builder import Builder
from .constants import LANG_C, LANG_CXX, LANG_RUST
from .die import Die
from .encoding import DwarfFormatError
from .reader import Reader
from .results import DwarfResult, RawVariable
from .sections import DebugSections, read_sections
from .units import Unit
from .variables import VariableWalk


def read_dwarf(
    elf: ElfImage,
    word_size: int,
    little: bool,
    progress: Callable[[int, int], None] | None = None,
    naming: list[str] | None = None,
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
    all_units = reader.units()
    if naming is not None:
        some = units_naming(sections, all_units, naming, little)
        if some is None:
            return None
        all_units = some
    for unit in all_units:
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


def units_naming(sections: DebugSections, units: list[Unit], names: list[str], little: bool) -> list[Unit] | None:
    """The units whose DIEs can name one of ``names`` (DW_FORM_string or DW_FORM_strp), found by
    searching the sections' bytes — what a lookup in a program indexed by nobody yet reads.
    None when names are given another way (string indexes) or none is found."""
    if sections.str_offsets or not names:
        return None
    info, strs = sections.info, sections.str
    starts = [u.offset for u in units]
    hits: set[int] = set()

    def mark(at: int) -> None:
        i = bisect.bisect_right(starts, at) - 1
        if i >= 0 and at < units[i].end:
            hits.add(i)

    for name in names:
        needle = name.encode() + b"\0"
        k = info.find(needle)
        while k >= 0:
            mark(k)
            k = info.find(needle, k + 1)
        j = strs.find(needle)  # also as the tail of a longer string: the linker merges them
        while j >= 0:
            for osz in (4, 8) if len(strs) > 0xFFFFFFFF else (4,):
                ref = j.to_bytes(osz, "little" if little else "big")
                k = info.find(ref)
                while k >= 0:
                    mark(k)
                    k = info.find(ref, k + 1)
            j = strs.find(needle, j + 1)
    return [units[i] for i in sorted(hits)] or None
