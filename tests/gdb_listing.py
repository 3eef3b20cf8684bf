"""gdb's own list of a program's variables (``info variables``), parsed into names.

Used by the real-world oracle test and the large-ELF benchmark to compare the names
firmwatch lists with the names gdb lists, spelled as gdb spells them.
"""

from __future__ import annotations

import re
import subprocess

_DECL = re.compile(r"^(\d+):\s+(.*);$")


def declared_name(decl: str) -> str | None:
    """The name a gdb declaration line declares: ``static const double one`` -> ``one``,
    ``std::locale::id std::collate<char>::id`` -> ``std::collate<char>::id``."""
    d = decl.strip()
    m = re.search(r"\(\*+\s*(?:const\s+)?([^()]+?)\)\s*\(", d)  # pointer to function
    if m:
        return re.sub(r"\[.*$", "", m.group(1)).strip()  # an array of function pointers: f[16]
    m = re.search(r"\(\*+\s*(?:const\s+)?([^()]+?)\)\s*\[", d)  # pointer to array
    if m:
        return m.group(1).strip()
    while d.endswith("]"):  # array dimensions
        depth = 0
        for i in range(len(d) - 1, -1, -1):
            depth += {"]": 1, "[": -1}.get(d[i], 0)
            if depth == 0:
                d = d[:i].rstrip()
                break
        else:
            return None
    depth = 0
    for i in range(len(d) - 1, -1, -1):
        c = d[i]
        if c in ">)":
            depth += 1
        elif c in "<(":
            depth -= 1
        elif depth == 0 and c in " *&":
            return d[i + 1 :] or None
    return d or None


def gdb_variables(gdb: str, elf: str, timeout: float = 600) -> list[tuple[str, str]]:
    """(file, name) of every variable ``info variables`` lists with debug information."""
    r = subprocess.run([gdb, "-nx", "-batch", "-ex", "set width 0", "-ex", "set height 0", "-ex", "info variables",
                        elf], capture_output=True, text=True, timeout=timeout, check=False)
    out: list[tuple[str, str]] = []
    file = ""
    for line in r.stdout.splitlines():
        if line.startswith("Non-debugging symbols:"):
            break
        if line.startswith("File ") and line.endswith(":"):
            file = line[5:-1]
            continue
        m = _DECL.match(line)
        if m:
            name = declared_name(m.group(2))
            if name:
                out.append((file, name))
    return out
