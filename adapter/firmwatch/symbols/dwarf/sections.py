"""The debug sections' bytes, as the DIE reader needs them.

pyelftools locates and decompresses the sections (``SHF_COMPRESSED`` and ``.zdebug``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elftools.elf.elffile import ELFFile


@dataclass
class DebugSections:
    info: bytes
    abbrev: bytes
    str: bytes
    line_str: bytes
    str_offsets: bytes
    addr: bytes
    line: bytes = b""


def _section_bytes(dw: Any, attr: str) -> bytes:
    sec = getattr(dw, attr, None)
    if sec is None:
        return b""
    stm = sec.stream
    if hasattr(stm, "getvalue"):
        data = stm.getvalue()
        if len(data) > sec.size and sec.global_offset == 0:
            return data[: sec.size]
        return data
    stm.seek(0)
    return stm.read()


def read_sections(elf: ELFFile) -> DebugSections | None:
    """The sections, or None when the ELF has no .debug_info."""
    if not elf.has_dwarf_info():
        return None
    dw = elf.get_dwarf_info(relocate_dwarf_sections=elf.header["e_type"] == "ET_REL")
    if dw.debug_info_sec is None:
        return None
    return DebugSections(
        info=_section_bytes(dw, "debug_info_sec"),
        abbrev=_section_bytes(dw, "debug_abbrev_sec"),
        str=_section_bytes(dw, "debug_str_sec"),
        line_str=_section_bytes(dw, "debug_line_str_sec"),
        str_offsets=_section_bytes(dw, "debug_str_offsets_sec"),
        addr=_section_bytes(dw, "debug_addr_sec"),
        line=_section_bytes(dw, "debug_line_sec"),
    )
