"""Line programs (.debug_line): the header's file table, for DW_AT_decl_file, and the rows
of the program, for where a function starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .encoding import DwarfFormatError, sleb, uleb
from .forms import UnitForms, read_value

_LNCT_path = 1
_LNCT_directory_index = 2

# standard opcodes
_copy, _advance_pc, _advance_line, _set_file, _set_column, _negate_stmt, _set_basic_block = 1, 2, 3, 4, 5, 6, 7
_const_add_pc, _fixed_advance_pc, _set_prologue_end, _set_epilogue_begin, _set_isa = 8, 9, 10, 11, 12
# extended opcodes
_end_sequence, _set_address, _define_file = 1, 2, 3


@dataclass
class LineHeader:
    version: int
    files: list[str]  # names joined to their directories (relative ones stay relative)
    file_base: int  # the number of the first file: 1 before DWARF 5, 0 since
    dir_indexes: list[int] = field(default_factory=list)  # each file's directory number as written
    dir0: str = ""  # DWARF 5's directory 0, the unit's compilation directory (before 5: not written)
    min_inst: int = 1
    line_base: int = 0
    line_range: int = 1
    opcode_base: int = 1
    std_lengths: tuple[int, ...] = ()
    program: int = 0  # offset of the first opcode
    end: int = 0  # offset after the last


def read_header(
    d: bytes, p: int, uint: Callable[[bytes, int, int], int], strp: Callable[[int], str], line_str: bytes
) -> LineHeader:
    """The header of the line program at ``p`` (DWARF 2-5)."""
    osz = 4
    length = uint(d, p, 4)
    p += 4
    if length == 0xFFFFFFFF:
        osz = 8
        length = uint(d, p, 8)
        p += 8
    end = p + length
    if end > len(d):
        raise DwarfFormatError(f"line program at 0x{p:x} runs past the end of .debug_line")
    ver = uint(d, p, 2)
    p += 2
    if not 2 <= ver <= 5:
        raise DwarfFormatError(f"unsupported line program version {ver}")
    asz = 4
    if ver >= 5:
        asz = d[p]
        p += 2  # address_size, segment_selector_size
    header_length = uint(d, p, osz)
    p += osz
    program = p + header_length
    min_inst = d[p]
    p += 1
    if ver >= 4:
        p += 1  # maximum_operations_per_instruction (VLIW only)
    p += 1  # default_is_stmt
    line_base = d[p] - 256 if d[p] > 127 else d[p]
    line_range = d[p + 1]
    opcode_base = d[p + 2]
    p += 3
    std_lengths = tuple(d[p : p + max(opcode_base - 1, 0)])
    p += max(opcode_base - 1, 0)
    head = LineHeader(ver, [], 1, min_inst=min_inst, line_base=line_base, line_range=line_range or 1,
                      opcode_base=opcode_base, std_lengths=std_lengths, program=program, end=end)
    if ver < 5:
        dirs: list[str] = []
        while d[p]:
            e = d.index(b"\0", p)
            dirs.append(d[p:e].decode("utf-8", "replace"))
            p = e + 1
        p += 1
        while d[p]:
            e = d.index(b"\0", p)
            name = d[p:e].decode("utf-8", "replace")
            p = e + 1
            di, p = uleb(d, p)
            _, p = uleb(d, p)  # mtime
            _, p = uleb(d, p)  # length
            dname = dirs[di - 1] if 0 < di <= len(dirs) else ""
            head.files.append(os.path.join(dname, name) if dname else name)
            head.dir_indexes.append(di)
        return head

    def no_index(_i: int) -> Any:
        return None  # string/address indexes mean nothing without a unit

    forms = UnitForms(asz, osz, ver, 0, uint, strp, line_str, no_index, no_index)

    def entries(p: int) -> tuple[list[dict[int, Any]], int]:
        nfmt = d[p]
        p += 1
        fmts = []
        for _ in range(nfmt):
            ct, p = uleb(d, p)
            form, p = uleb(d, p)
            fmts.append((ct, form))
        count, p = uleb(d, p)
        out = []
        for _ in range(count):
            ent: dict[int, Any] = {}
            for ct, form in fmts:
                ent[ct], p = read_value(d, p, 0, form, 0, forms, p)
            out.append(ent)
        return out, p

    dir_entries, p = entries(p)
    file_entries, p = entries(p)
    dirs5 = [str(de.get(_LNCT_path, "")) for de in dir_entries]
    head.dir0 = dirs5[0] if dirs5 else ""
    for fe in file_entries:
        name = str(fe.get(_LNCT_path, "?"))
        di = fe.get(_LNCT_directory_index, 0)
        di = di if isinstance(di, int) else 0
        dname = dirs5[di] if 0 < di < len(dirs5) else ""
        head.files.append(os.path.join(dname, name) if dname else name)
        head.dir_indexes.append(di)
    head.file_base = 0
    return head


def line_header_files(
    d: bytes, p: int, uint: Callable[[bytes, int, int], int], strp: Callable[[int], str], line_str: bytes
) -> tuple[list[str], int]:
    """The file table of the header at ``p`` and the number of its first file."""
    head = read_header(d, p, uint, strp, line_str)
    return head.files, head.file_base


def rows(d: bytes, head: LineHeader, uint: Callable[[bytes, int, int], int]) -> Iterator[tuple[int, int, int]]:
    """(address, file number, line) of every row that covers code, sequence by sequence.

    A sequence's end-of-sequence row names the address after it, and rows at that same
    address cover nothing: a function placed right after the sequence (often from another
    unit) would otherwise seem to start on that unit's last line."""
    p, end = head.program, head.end
    min_inst, line_base, line_range, opcode_base = head.min_inst, head.line_base, head.line_range, head.opcode_base
    std = head.std_lengths
    const_add = ((255 - opcode_base) // line_range) * min_inst
    address, file, line = 0, 1, 1
    seq: list[tuple[int, int, int]] = []
    emit = seq.append
    while p < end:
        op = d[p]
        p += 1
        if op >= opcode_base:
            adj = op - opcode_base
            address += (adj // line_range) * min_inst
            line += line_base + adj % line_range
            emit((address, file, line))
        elif op == 0:
            n, p = uleb(d, p)
            if n == 0:
                continue
            sub = d[p]
            nxt = p + n
            if sub == _end_sequence:
                for row in seq:
                    if row[0] < address:
                        yield row
                seq.clear()
                address, file, line = 0, 1, 1
            elif sub == _set_address:
                address = uint(d, p + 1, n - 1)
            p = nxt
        elif op == _copy:
            emit((address, file, line))
        elif op == _advance_pc:
            v, p = uleb(d, p)
            address += v * min_inst
        elif op == _advance_line:
            v, p = sleb(d, p)
            line += v
        elif op == _set_file:
            file, p = uleb(d, p)
        elif op == _const_add_pc:
            address += const_add
        elif op == _fixed_advance_pc:
            address += uint(d, p, 2)
            p += 2
        elif op in (_negate_stmt, _set_basic_block, _set_prologue_end, _set_epilogue_begin):
            continue
        else:  # set_column, set_isa, and opcodes of later versions: step over their operands
            for _ in range(std[op - 1] if op - 1 < len(std) else 0):
                _, p = uleb(d, p)
    yield from seq  # a program cut short of its end-of-sequence: its rows as far as they go
