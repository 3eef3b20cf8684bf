"""Where functions are defined: the first line-table row at each function's address.

The symbols layer knows functions only from the symbol table (name, address, size); the
DWARF line program maps their entry addresses back to ``file:line`` — the line gdb's
``info line *ADDR`` reports, the one holding the opening of the function.
"""

from __future__ import annotations

import os
from pathlib import Path


def function_lines(path: Path, addresses: dict[int, str], thumb: bool) -> dict[str, tuple[str, int]]:
    """``{function name: (file, line)}`` for the functions at ``addresses``; {} on any problem."""
    out: dict[str, tuple[str, int]] = {}
    wanted = {(a & ~1 if thumb else a): n for a, n in addresses.items()}
    try:
        from elftools.elf.elffile import ELFFile

        with open(path, "rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                return out
            dw = elf.get_dwarf_info()
            for cu in dw.iter_CUs():
                lp = dw.line_program_for_CU(cu)
                if lp is None:
                    continue
                v5 = lp.header.version >= 5
                files = lp["file_entry"]
                dirs = lp["include_directory"]
                top = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
                comp = _text(top.value) if top is not None else ""
                for entry in lp.get_entries():
                    st = entry.state
                    if st is None or st.end_sequence:
                        continue
                    name = wanted.get(st.address)
                    if name is None or name in out:
                        continue
                    fi = st.file if v5 else st.file - 1
                    if not 0 <= fi < len(files):
                        continue
                    fe = files[fi]
                    fname = _text(fe.name)
                    di = fe.dir_index if v5 else fe.dir_index - 1
                    d = comp if (not v5 and fe.dir_index == 0) else (_text(dirs[di]) if 0 <= di < len(dirs) else "")
                    out[name] = (os.path.join(d, fname) if d else fname, st.line)
    except Exception:  # noqa: BLE001 - locations are a nicety: never fail the server for them
        return out
    return out


def _text(v: object) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
