"""The parts of an ELF file the symbol engine reads: header, sections, segments, notes.

A cold start spent a good share of its time importing pyelftools and building its
``construct`` parsers before reading a single section; these few fixed-layout headers are
read here with :mod:`struct`. The interface is the subset of pyelftools' ``ELFFile`` that
``elf.py`` and ``dwarf/sections.py`` use, so relocatable objects (whose debug sections need
relocating) can still be handed to pyelftools (:meth:`ElfImage.pyelftools`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Any

_ET = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
_EM = {3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 40: "EM_ARM", 62: "EM_X86_64", 83: "EM_AVR",
       94: "EM_XTENSA", 105: "EM_MSP430", 183: "EM_AARCH64", 243: "EM_RISCV"}
_SHT = {0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA", 5: "SHT_HASH",
        6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL", 11: "SHT_DYNSYM", 14: "SHT_INIT_ARRAY",
        15: "SHT_FINI_ARRAY", 16: "SHT_PREINIT_ARRAY", 17: "SHT_GROUP", 18: "SHT_SYMTAB_SHNDX"}
_PT = {0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE", 5: "PT_SHLIB", 6: "PT_PHDR",
       7: "PT_TLS", 0x6474E550: "PT_GNU_EH_FRAME", 0x6474E551: "PT_GNU_STACK", 0x6474E552: "PT_GNU_RELRO",
       0x6474E553: "PT_GNU_PROPERTY", 0x70000001: "PT_ARM_EXIDX"}
_NT_GNU_BUILD_ID = 3


class ElfFormatError(ValueError):
    pass


class ElfSection:
    __slots__ = ("name", "_h", "_image")

    def __init__(self, image: ElfImage, header: dict[str, Any], name: str) -> None:
        self._image = image
        self._h = header
        self.name = name

    def __getitem__(self, key: str) -> Any:
        return self._h[key]

    def data(self) -> bytes:
        """The section's bytes as stored (compressed sections are decompressed by dwarf.sections)."""
        if self._h["sh_type"] == "SHT_NOBITS":
            return b"\0" * self._h["sh_size"]
        s = self._image.stream
        s.seek(self._h["sh_offset"])
        return s.read(self._h["sh_size"])  # type: ignore[no-any-return]

    def iter_notes(self) -> Iterator[dict[str, Any]]:
        d = self.data()
        bo = self._image.byteorder
        p = 0
        while p + 12 <= len(d):
            namesz, descsz, ntype = struct.unpack_from(bo + "III", d, p)
            p += 12
            name = d[p : p + namesz].rstrip(b"\0").decode("ascii", "replace")
            p += (namesz + 3) & ~3
            desc = d[p : p + descsz]
            p += (descsz + 3) & ~3
            yield {"n_type": "NT_GNU_BUILD_ID" if ntype == _NT_GNU_BUILD_ID and name == "GNU" else ntype,
                   "n_name": name, "n_desc": desc.hex() if ntype == _NT_GNU_BUILD_ID else desc}


class ElfImage:
    """An ELF file open for reading (``stream`` stays the caller's to close)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        stream.seek(0)
        ident = stream.read(64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ElfFormatError("not an ELF header")
        self.elfclass = 32 if ident[4] == 1 else 64
        self.little_endian = ident[5] == 1
        self.byteorder = bo = "<" if self.little_endian else ">"
        if self.elfclass == 32:
            f = struct.unpack_from(bo + "HHIIIIIHHHHHH", ident, 16)
        else:
            if len(ident) < 64:
                raise ElfFormatError("truncated ELF header")
            f = struct.unpack_from(bo + "HHIQQQIHHHHHH", ident, 16)
        (e_type, e_machine, _v, entry, phoff, shoff, _fl, _eh, phentsize, phnum, shentsize, shnum, shstrndx) = f
        self.header = {
            "e_type": _ET.get(e_type, f"ET_{e_type}"), "e_machine": _EM.get(e_machine, f"EM_{e_machine}"),
            "e_entry": entry, "e_phoff": phoff, "e_shoff": shoff, "e_phentsize": phentsize, "e_phnum": phnum,
            "e_shentsize": shentsize, "e_shnum": shnum, "e_shstrndx": shstrndx,
        }
        self._sections: list[ElfSection] | None = None
        self._by_name: dict[str, ElfSection] | None = None

    # -- sections --------------------------------------------------------------------------------
    def _load_sections(self) -> list[ElfSection]:
        if self._sections is not None:
            return self._sections
        h = self.header
        n, size, off = h["e_shnum"], h["e_shentsize"], h["e_shoff"]
        bo = self.byteorder
        fmt = struct.Struct(bo + ("IIIIIIIIII" if self.elfclass == 32 else "IIQQQQIIQQ"))
        if n and size < fmt.size:
            raise ElfFormatError("section headers too small")
        self.stream.seek(off)
        raw = self.stream.read(n * size)
        if len(raw) < n * size:
            raise ElfFormatError("section headers past the end of the file")
        heads = []
        for i in range(n):
            (name, typ, flags, addr, offset, sz, link, info, align, entsize) = fmt.unpack_from(raw, i * size)
            heads.append({"sh_name": name, "sh_type": _SHT.get(typ, f"SHT_{typ}"), "sh_flags": flags,
                          "sh_addr": addr, "sh_offset": offset, "sh_size": sz, "sh_link": link, "sh_info": info,
                          "sh_addralign": align, "sh_entsize": entsize})
        strtab = b""
        k = h["e_shstrndx"]
        if 0 < k < n:
            self.stream.seek(heads[k]["sh_offset"])
            strtab = self.stream.read(heads[k]["sh_size"])
        secs = []
        for hd in heads:
            o = hd["sh_name"]
            e = strtab.find(b"\0", o)
            name = strtab[o : e if e >= 0 else len(strtab)].decode("utf-8", "replace") if o < len(strtab) else ""
            secs.append(ElfSection(self, hd, name))
        self._sections = secs
        return secs

    def num_sections(self) -> int:
        return len(self._load_sections())

    def iter_sections(self) -> Iterator[ElfSection]:
        return iter(self._load_sections())

    def get_section(self, i: int) -> ElfSection:
        return self._load_sections()[i]

    def get_section_by_name(self, name: str) -> ElfSection | None:
        if self._by_name is None:
            self._by_name = {}
            for s in self._load_sections():
                self._by_name.setdefault(s.name, s)
        return self._by_name.get(name)

    def has_dwarf_info(self) -> bool:
        return any(self.get_section_by_name(n) is not None for n in (".debug_info", ".zdebug_info"))

    # -- segments --------------------------------------------------------------------------------
    def iter_segments(self) -> Iterator[dict[str, Any]]:
        h = self.header
        n, size, off = h["e_phnum"], h["e_phentsize"], h["e_phoff"]
        bo = self.byteorder
        if self.elfclass == 32:
            fmt, keys = struct.Struct(bo + "IIIIIIII"), ("p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz",
                                                         "p_memsz", "p_flags", "p_align")
        else:
            fmt, keys = struct.Struct(bo + "IIQQQQQQ"), ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr",
                                                         "p_filesz", "p_memsz", "p_align")
        if n and size < fmt.size:
            raise ElfFormatError("program headers too small")
        self.stream.seek(off)
        raw = self.stream.read(n * size)
        if len(raw) < n * size:
            raise ElfFormatError("program headers past the end of the file")
        for i in range(n):
            seg = dict(zip(keys, fmt.unpack_from(raw, i * size)))
            seg["p_type"] = _PT.get(seg["p_type"], f"PT_{seg['p_type']:#x}")
            yield seg

    # -- what only pyelftools does ---------------------------------------------------------------------
    def pyelftools(self) -> Any:
        """pyelftools' ELFFile over the same stream (relocating a relocatable object's DWARF)."""
        from elftools.elf.elffile import ELFFile

        return ELFFile(self.stream)
