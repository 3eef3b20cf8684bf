"""The debug sections' bytes, decompressed, as the DIE reader needs them.

Executables are read straight from the file: ``SHF_COMPRESSED`` sections with zlib or zstd
(binutils' ``--compress-debug-sections=zstd``, the default of newer toolchains) and the old
``.zdebug_*`` sections. pyelftools only knows zlib; relocatable objects still go through it
because their debug sections need relocating.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..elffile import ElfImage

from .encoding import DwarfFormatError

_SHF_COMPRESSED = 0x800
_ELFCOMPRESS_ZLIB = 1
_ELFCOMPRESS_ZSTD = 2

_NAMES = ("info", "abbrev", "str", "line_str", "str_offsets", "addr", "line")


@dataclass
class DebugSections:
    info: bytes
    abbrev: bytes
    str: bytes
    line_str: bytes
    str_offsets: bytes
    addr: bytes
    line: bytes = b""


def zstd_decompress(data: bytes) -> bytes:
    """zstd through the standard library (Python 3.14) or its backport (``backports.zstd``)."""
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found,no-redef]
        except ImportError:
            raise DwarfFormatError(
                "its debug sections are zstd-compressed and the zstd module is missing "
                "(pip install backports.zstd)"
            ) from None
    return zstd.decompress(data)  # type: ignore[no-any-return]


def _decompress(elf: ElfImage, sec: Any) -> bytes:
    stream = elf.stream
    stream.seek(sec["sh_offset"])
    raw = stream.read(sec["sh_size"])
    if sec["sh_flags"] & _SHF_COMPRESSED:
        little = elf.little_endian
        bo = "<" if little else ">"
        if elf.elfclass == 64:
            ch_type, _res, size, _align = struct.unpack_from(bo + "IIQQ", raw)
            body = raw[24:]
        else:
            ch_type, size, _align = struct.unpack_from(bo + "III", raw)
            body = raw[12:]
        if ch_type == _ELFCOMPRESS_ZLIB:
            out = zlib.decompress(body)
        elif ch_type == _ELFCOMPRESS_ZSTD:
            out = zstd_decompress(body)
        else:
            raise DwarfFormatError(f"its section {sec.name} uses unknown compression type {ch_type}")
        if len(out) != size:
            raise DwarfFormatError(f"its section {sec.name} decompressed to {len(out)} bytes, not {size}")
        return out
    if sec.name.startswith(".zdebug") and raw[:4] == b"ZLIB":
        return zlib.decompress(raw[12:])
    return raw


def has_debug_info(elf: ElfImage) -> bool:
    return any(elf.get_section_by_name(n) is not None for n in (".debug_info", ".zdebug_info"))


def read_sections(elf: ElfImage) -> DebugSections | None:
    """The sections, or None when the ELF has no .debug_info. Raises DwarfFormatError (whose
    text completes "the DWARF could not be read: ...") when they cannot be decompressed."""
    if not has_debug_info(elf):
        return None
    if elf.header["e_type"] == "ET_REL":
        return _via_pyelftools(elf)
    got: dict[str, bytes] = {}
    try:
        for n in _NAMES:
            sec = elf.get_section_by_name(f".debug_{n}") or elf.get_section_by_name(f".zdebug_{n}")
            got[n] = b"" if sec is None or sec["sh_type"] == "SHT_NOBITS" else _decompress(elf, sec)
    except (zlib.error, struct.error) as e:
        raise DwarfFormatError(f"a debug section is corrupt ({e})") from None
    except Exception as e:  # zstd's own error type depends on the module that provides it
        if isinstance(e, DwarfFormatError):
            raise
        raise DwarfFormatError(f"a debug section is corrupt ({e})") from None
    return DebugSections(**got)


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


def _via_pyelftools(elf: ElfImage) -> DebugSections | None:
    dw = elf.pyelftools().get_dwarf_info(relocate_dwarf_sections=True)
    if dw.debug_info_sec is None:
        return None
    return DebugSections(**{n: _section_bytes(dw, f"debug_{n}_sec") for n in _NAMES})
