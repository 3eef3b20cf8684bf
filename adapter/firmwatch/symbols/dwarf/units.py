"""Compile units: the headers of .debug_info and what the passes learn about each unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .encoding import DwarfFormatError

if TYPE_CHECKING:
    from .die import Die

_UT_compile = 1
_UT_partial = 3
_UT_skeleton_or_split = (4, 5)
_UT_type_or_split_type = (2, 6)


@dataclass
class Unit:
    offset: int
    version: int
    address_size: int
    offset_size: int
    top: Die | None = None
    language: int | None = None
    name: str = ""
    comp_dir: str = ""
    files: list[str] = field(default_factory=list)
    file_base: int = 1  # DWARF < 5 numbers files from 1, DWARF 5 from 0
    addr_base: int = 8  # DW_AT_addr_base: where this unit's entries in .debug_addr start
    str_base: int | None = None  # DW_AT_str_offsets_base
    abbr_off: int = 0
    first: int = 0  # offset of the top DIE
    end: int = 0


def read_units(d: bytes, uint: Callable[[bytes, int, int], int]) -> list[Unit]:
    """Every compile/partial unit of ``.debug_info`` (type units are not indexed)."""
    out = []
    p = 0
    while p + 11 <= len(d):
        start = p
        ulen = uint(d, p, 4)
        p += 4
        osz = 4
        if ulen == 0xFFFFFFFF:
            ulen = uint(d, p, 8)
            p += 8
            osz = 8
        end = p + ulen
        ver = uint(d, p, 2)
        p += 2
        ut = _UT_compile
        if ver >= 5:
            ut = d[p]
            asz = d[p + 1]
            p += 2
            abbr = uint(d, p, osz)
            p += osz
            if ut in _UT_type_or_split_type:
                p += 8 + osz
            elif ut in _UT_skeleton_or_split:
                p += 8
        elif 2 <= ver <= 4:
            abbr = uint(d, p, osz)
            p += osz
            asz = d[p]
            p += 1
        else:
            raise DwarfFormatError(f"unsupported DWARF version {ver}")
        if ut in (_UT_compile, _UT_partial) and end <= len(d):
            out.append(Unit(start, ver, asz, osz, abbr_off=abbr, first=p, end=end))
        p = end
    return out
