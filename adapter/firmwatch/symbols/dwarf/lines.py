"""File names of a unit's line-program header (.debug_line), for DW_AT_decl_file."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .encoding import uleb
from .forms import UnitForms, read_value

_LNCT_path = 1
_LNCT_directory_index = 2


def line_header_files(
    d: bytes, p: int, uint: Callable[[bytes, int, int], int], strp: Callable[[int], str], line_str: bytes
) -> tuple[list[str], int]:
    """The file table of the header at ``p`` (DWARF 2-5), names joined to their directories,
    and the number of the first file (1 before DWARF 5, 0 since)."""
    osz = 4
    length = uint(d, p, 4)
    p += 4
    if length == 0xFFFFFFFF:
        osz = 8
        p += 8
    ver = uint(d, p, 2)
    p += 2
    asz = 4
    if ver >= 5:
        asz = d[p]
        p += 2  # address_size, segment_selector_size
    p += osz  # header_length
    p += 1  # minimum_instruction_length
    if ver >= 4:
        p += 1  # maximum_operations_per_instruction
    p += 3  # default_is_stmt, line_base, line_range
    opcode_base = d[p]
    p += 1 + max(opcode_base - 1, 0)
    if ver < 5:
        dirs: list[str] = []
        while d[p]:
            e = d.index(b"\0", p)
            dirs.append(d[p:e].decode("utf-8", "replace"))
            p = e + 1
        p += 1
        files: list[str] = []
        while d[p]:
            e = d.index(b"\0", p)
            name = d[p:e].decode("utf-8", "replace")
            p = e + 1
            di, p = uleb(d, p)
            _, p = uleb(d, p)  # mtime
            _, p = uleb(d, p)  # length
            dname = dirs[di - 1] if 0 < di <= len(dirs) else ""
            files.append(os.path.join(dname, name) if dname else name)
        return files, 1

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
    dirs5 = [str(e.get(_LNCT_path, "")) for e in dir_entries]
    files5: list[str] = []
    for e in file_entries:
        name = str(e.get(_LNCT_path, "?"))
        di = e.get(_LNCT_directory_index, 0)
        dname = dirs5[di] if isinstance(di, int) and 0 < di < len(dirs5) else ""
        files5.append(os.path.join(dname, name) if dname else name)
    return files5, 0
