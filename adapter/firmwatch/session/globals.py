"""Every global and static of a program, grouped by source file (the "Globals" scope of a UI).

Grouping is by the file DWARF names for the variable; variables known only from the symbol table
(no DWARF) go under ``NO_FILE``. Files are sorted by path, variables by name within a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from firmwatch.symbols.program import Program, Variable

NO_FILE = "(no source file)"


@dataclass(frozen=True, slots=True)
class FileGroup:
    path: str  # as DWARF spells it, or NO_FILE
    variables: tuple[Variable, ...]

    @property
    def label(self) -> str:
        """A short, still unique-enough name: the base name plus the parent directory."""
        if self.path == NO_FILE:
            return self.path
        parent = os.path.basename(os.path.dirname(self.path))
        return f"{parent}/{os.path.basename(self.path)}" if parent else os.path.basename(self.path)


def group_by_file(program: Program) -> list[FileGroup]:
    groups: dict[str, list[Variable]] = {}
    for v in program.variables:
        groups.setdefault(v.file or NO_FILE, []).append(v)
    out = [FileGroup(path, tuple(sorted(vs, key=lambda v: (v.name, v.qualified)))) for path, vs in groups.items()]
    out.sort(key=lambda g: (g.path == NO_FILE, g.path))
    return out
