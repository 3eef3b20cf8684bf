"""What the ELF itself says: machine, byte order, sections, segments, build id, symbol table.

pyelftools parses the headers; the symbol table is decoded here with :mod:`struct`
because a firmware image can hold tens of thousands of symbols and pyelftools' per-symbol
parsing dominates a cold load otherwise.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from typing import Any

from .cache import DeferredList, LazyList, decode_symbol
from .elffile import ElfImage
from .program import ElfInfo, Section, Segment, Symbol, SymbolsError

_MACHINES = {
    "EM_ARM": "ARM",
    "EM_AVR": "AVR",
    "EM_RISCV": "RISC-V",
    "EM_X86_64": "x86-64",
    "EM_386": "i386",
    "EM_AARCH64": "AArch64",
    "EM_XTENSA": "Xtensa",
    "EM_MSP430": "MSP430",
    "EM_MIPS": "MIPS",
    "EM_PPC": "PowerPC",
    "EM_PPC64": "PowerPC64",
}

# Targets whose data addresses are narrower than the ELF class suggests.
_WORD_SIZE_OVERRIDE = {"AVR": 2, "MSP430": 2}

_SHF_WRITE = 0x1
_SHF_ALLOC = 0x2
_SHF_EXECINSTR = 0x4

_STT = {1: "object", 2: "function", 6: "object"}  # 6 = STT_TLS, addressable like data
_STB = {0: "local", 1: "global", 2: "weak", 10: "global"}  # 10 = STB_GNU_UNIQUE


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def check_regular(path: str, mode: int) -> None:
    """Refuse anything but a regular file: reading a FIFO or a device as an ELF never ends."""
    if stat.S_ISREG(mode):
        return
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    raise SymbolsError(f"{path} is {what}, not an ELF file; pass the path of the firmware's .elf file")


def refuse_non_regular(path: str) -> None:
    """Raise :class:`SymbolsError` when ``path`` exists but is not a regular file (a missing
    file is left to :func:`open_elf`, which says so in its own words)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    check_regular(path, mode)


def open_elf(path: str) -> tuple[ElfImage, Any]:
    """Open ``path`` as an ELF; raise :class:`SymbolsError` with a useful sentence otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SymbolsError(f"no such file: {path}; check the path to the firmware ELF") from None
    except IsADirectoryError:
        raise SymbolsError(f"{path} is a directory, not an ELF file; pass the firmware's .elf") from None
    except OSError as e:
        raise SymbolsError(f"cannot open {path}: {e.strerror}") from None
    try:
        check_regular(path, os.fstat(fd).st_mode)
    except SymbolsError:
        os.close(fd)
        raise
    f = os.fdopen(fd, "rb")  # the ElfImage reads lazily from it; the caller closes it
    head = f.read(4)
    if head != b"\x7fELF":
        f.close()
        raise SymbolsError(
            f"{path} is not an ELF file; pass the linker's .elf output, not a .bin/.hex image"
        )
    f.seek(0)
    try:
        elf = ElfImage(f)
        _check_not_truncated(elf, os.fstat(f.fileno()).st_size, path)
    except SymbolsError:
        f.close()
        raise
    except Exception as e:  # noqa: BLE001 - pyelftools' ELFError, struct.error, ValueError, AssertionError...
        f.close()
        raise SymbolsError(f"{path} is a truncated or corrupt ELF file ({_short(e)}); rebuild it") from None
    return elf, f


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s[:120]


def _check_not_truncated(elf: ElfImage, file_size: int, path: str) -> None:
    h = elf.header
    shend = h["e_shoff"] + h["e_shnum"] * h["e_shentsize"]
    phend = h["e_phoff"] + h["e_phnum"] * h["e_phentsize"]
    if shend > file_size or phend > file_size:
        raise SymbolsError(f"{path} is a truncated ELF file (headers point past its end); rebuild it")
    for sec in elf.iter_sections():
        if sec["sh_type"] != "SHT_NOBITS" and sec["sh_offset"] + sec["sh_size"] > file_size:
            raise SymbolsError(
                f"{path} is a truncated ELF file (section {sec.name} ends past the file); rebuild it"
            )


def _flags(f: int) -> str:
    return ("W" if f & _SHF_WRITE else "") + ("A" if f & _SHF_ALLOC else "") + ("X" if f & _SHF_EXECINSTR else "")


def _kind(flags: int) -> str:
    if not flags & _SHF_ALLOC:
        return "other"
    return "ram" if flags & _SHF_WRITE else "flash"


def _by_region(sections: list[Section], segments: list[Segment]) -> list[Section]:
    """Sections classified by the memory they live in, not by the write flag alone.

    The write flag says what the program may do, not where the bytes are: ``.init_array``
    placed in flash by a Cortex-M linker script is writable yet sits in flash. What the ELF
    does record is the load address: a section whose load address differs from its run
    address is copied to RAM at start-up, and a NOBITS one is cleared there; read-only and
    executable ones are flash. A writable section loaded where it runs belongs to the region
    of its nearest such neighbour (RAM when there is none, as on a hosted program).
    """
    loads = [g for g in segments if g.type == "PT_LOAD" and g.memsz]

    def lma(sec: Section) -> int:
        for g in loads:
            if g.vaddr <= sec.address < g.vaddr + g.memsz:
                return g.paddr + (sec.address - g.vaddr)
        return sec.address

    known: list[tuple[int, int, str]] = []  # (start, end, kind) of sections whose region is certain
    unsure: list[int] = []
    for i, sec in enumerate(sections):
        if sec.kind == "other" or not sec.size:
            continue
        if "W" not in sec.flags:
            known.append((sec.address, sec.address + sec.size, "flash"))
        elif sec.nobits or lma(sec) != sec.address:
            known.append((sec.address, sec.address + sec.size, "ram"))
        else:
            unsure.append(i)
    out = list(sections)
    for i in unsure:
        sec = sections[i]
        start, end = sec.address, sec.address + sec.size
        best = min(known, key=lambda k: max(k[0] - end, start - k[1], 0), default=None)
        kind = best[2] if best is not None else "ram"
        if kind != sec.kind:
            out[i] = Section(sec.name, sec.address, sec.size, sec.flags, kind, sec.nobits)
    return out


def read_elf_info(elf: ElfImage, path: str) -> ElfInfo:
    h = elf.header
    machine = _MACHINES.get(h["e_machine"], str(h["e_machine"]).removeprefix("EM_"))
    elf_class = elf.elfclass
    sections: list[Section] = []
    for sec in elf.iter_sections():
        if not sec.name or sec["sh_type"] == "SHT_NULL":
            continue
        fl = sec["sh_flags"]
        sections.append(
            Section(
                name=sec.name,
                address=sec["sh_addr"],
                size=sec["sh_size"],
                flags=_flags(fl),
                kind=_kind(fl),
                nobits=sec["sh_type"] == "SHT_NOBITS",
            )
        )
    segments: list[Segment] = []
    for seg in elf.iter_segments():
        pf = seg["p_flags"]
        segments.append(
            Segment(
                type=str(seg["p_type"]),
                vaddr=seg["p_vaddr"],
                paddr=seg["p_paddr"],
                memsz=seg["p_memsz"],
                filesz=seg["p_filesz"],
                flags=("R" if pf & 4 else "") + ("W" if pf & 2 else "") + ("X" if pf & 1 else ""),
            )
        )
    sections = _by_region(sections, segments)
    build_id, source = _build_id(elf)
    return ElfInfo(
        path=os.path.abspath(path),
        machine=machine,
        elf_class=elf_class,
        byteorder="little" if elf.little_endian else "big",
        word_size=_WORD_SIZE_OVERRIDE.get(machine, elf_class // 8),
        entry=h["e_entry"],
        build_id=build_id,
        build_id_source=source,
        sections=sections,
        segments=segments,
    )


def _build_id(elf: ElfImage) -> tuple[str, str]:
    for sec in elf.iter_sections():
        if sec["sh_type"] != "SHT_NOTE":
            continue
        try:
            for note in sec.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                    return str(note["n_desc"]), "gnu"
        except Exception:  # noqa: BLE001 - a malformed note must not hide the rest of the ELF
            continue
    # No build-id note (the common case for bare-metal links): identify the image by what
    # gets loaded into the device, which is also what the firmware could checksum itself.
    crc = 0
    for sec in elf.iter_sections():
        if sec["sh_flags"] & _SHF_ALLOC and sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"]:
            crc = zlib.crc32(sec.data(), crc)
    return f"crc32:{crc:08x}", "crc32"


SymbolTable = tuple[bytes, bytes, int, bool, list[str]]  # symtab, strtab, class, little, section names


def symbol_table(elf: ElfImage) -> SymbolTable | None:
    """The raw symbol and string tables (decoded by :func:`decode_symbol_table`)."""
    tab = elf.get_section_by_name(".symtab") or elf.get_section_by_name(".dynsym")
    if tab is None:
        return None
    strtab = elf.get_section(tab["sh_link"]).data()
    return (tab.data(), strtab, elf.elfclass, elf.little_endian, [s.name for s in elf.iter_sections()])


def has_mangled_names(raw: SymbolTable) -> bool:
    strtab = raw[1]
    return b"\0_Z" in strtab or b"\0_R" in strtab or b"\0__Z" in strtab


def deferred_symbols(raw: SymbolTable | None, demangle_now: bool = True) -> list[Symbol]:
    """The symbol list, decoded from ``raw`` on first use.

    Without mangled names (C firmware) decoding is all the work, and many sessions never
    look at a symbol: it is done on first access (and the cache keeps the raw tables).
    Demangling needs ``c++filt`` once per ELF, so such tables are decoded now and cached
    decoded.
    """
    if raw is None:
        return []
    if not demangle_now:
        return LazyList(decode_symbol_table(raw, demangle=False), decode_symbol)
    if has_mangled_names(raw):
        return LazyList(decode_symbol_table(raw), decode_symbol)
    return DeferredList(raw, decode_symbol_table, decode_symbol)


def decode_symbol_table(raw: SymbolTable, demangle: bool = True) -> list[tuple[Any, ...]]:
    """Objects and functions as tuples in :func:`cache.encode_symbol` layout."""
    data, strtab, elfclass, little, secnames = raw
    bo = "<" if little else ">"
    if elfclass == 32:
        fmt = struct.Struct(bo + "IIIBBH")
    else:
        fmt = struct.Struct(bo + "IBBHQQ")
    nsec = len(secnames)
    is32 = elfclass == 32
    # ASCII string tables (the rule for C symbols) are decoded once and sliced by offset
    text = strtab.decode("ascii") if strtab.isascii() else None
    find = strtab.find
    stt = _STT
    stb = _STB
    out: list[tuple[Any, ...]] = []
    append = out.append
    for rec in fmt.iter_unpack(data[: len(data) - len(data) % fmt.size]):
        if is32:
            name_off, value, size, info, _other, shndx = rec
        else:
            name_off, info, _other, shndx, value, size = rec
        typ = info & 0xF
        if typ == 3 or typ == 4 or shndx == 0:  # STT_SECTION, STT_FILE, undefined
            continue
        end = find(b"\0", name_off)
        if text is not None:
            name = text[name_off:end]
        else:
            name = strtab[name_off:end].decode("utf-8", "replace")
        if not name or name[0] == "$":  # ARM/RISC-V mapping symbols ($t, $d, $x)
            continue
        if shndx < nsec and shndx < 0xFF00:
            section: str | None = secnames[shndx]
        else:
            section = None  # SHN_ABS / SHN_COMMON
        # the tuple layout of cache.encode_symbol, demangled below
        append((name, name, value, size, stt.get(typ, "other"), stb.get(info >> 4, "other"), section))
    if demangle:
        from .demangle import demangle_all  # a C symbol table needs no demangler (nor its subprocess)

        prefixes = ("_Z", "_R", "__Z")
        idx = [i for i, r in enumerate(out) if r[0][:1] == "_" and r[0].startswith(prefixes)]
        if idx:
            for i, dn in zip(idx, demangle_all([out[i][0] for i in idx])):
                out[i] = (dn, *out[i][1:])
    # Symbols stay tuples until touched: most of a big symbol table is never looked at.
    return out
