"""What the language server keeps per indexed ELF: the Program plus lookup tables built once,
so completion and workspace symbols answer by bisection instead of scanning 20,000 names."""

from __future__ import annotations

import heapq
import os
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..symbols import Program, Symbol, Variable

_HIGH = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Entry:
    """One completable name: a variable or a function."""

    key: str  # the plain name, as typed
    label: str  # the unique spelling inserted ('file.c'::x when the plain name is ambiguous)
    variable: Variable | None = None
    function: Symbol | None = None


@dataclass
class SymbolIndex:
    program: Program
    elf_path: Path
    elf_mtime_ns: int
    comp_dirs: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)
    _keys: list[str] = field(default_factory=list)  # lower-cased keys, sorted, parallel to _order
    _order: list[int] = field(default_factory=list)
    _shortest: list[int] = field(default_factory=list)  # entries by (length, name)
    _lower_labels: list[str] = field(default_factory=list)
    _lower_keys: list[str] = field(default_factory=list)  # parallel to entries
    by_name: dict[str, list[Variable]] = field(default_factory=dict)
    by_file: dict[str, list[Variable]] = field(default_factory=dict)  # DWARF decl file -> variables
    # filled in the background after indexing (the line tables take a moment on big ELFs)
    function_lines: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, program: Program, elf_path: Path, mtime_ns: int, comp_dirs: tuple[str, ...] = ()) -> SymbolIndex:
        idx = cls(program, elf_path, mtime_ns, comp_dirs)
        counts = Counter(v.name for v in program.variables)
        globals_ = Counter(v.name for v in program.variables if v.scope == "global")
        entries: list[Entry] = []
        for v in program.variables:
            unique = counts[v.name] == 1 or (globals_[v.name] == 1 and v.scope == "global")
            entries.append(Entry(v.name, v.name if unique else v.qualified, variable=v))
        seen = set(counts)
        for s in program.symbols:
            if s.kind != "function" or s.name in seen or not s.name:
                continue
            seen.add(s.name)
            entries.append(Entry(s.name, s.name, function=s))
        idx.entries = entries
        for v in program.variables:
            idx.by_name.setdefault(v.name, []).append(v)
            if v.file and v.line:
                idx.by_file.setdefault(v.file, []).append(v)
        order = sorted(range(len(entries)), key=lambda i: (entries[i].key.lower(), entries[i].label))
        idx._order = order
        idx._keys = [entries[i].key.lower() for i in order]
        idx._shortest = sorted(range(len(entries)), key=lambda i: (len(entries[i].key), entries[i].key))
        idx._lower_labels = [e.label.lower() for e in entries]
        idx._lower_keys = [e.key.lower() for e in entries]
        return idx

    # -- completion -----------------------------------------------------------------------------
    def complete(self, prefix: str, limit: int) -> tuple[list[Entry], bool]:
        """Entries whose name starts with ``prefix`` (case-insensitive), exact-case matches and
        shorter names first; the flag says the list was cut at ``limit``."""
        if not prefix:
            picked = self._shortest[: limit + 1]
            return [self.entries[i] for i in picked[:limit]], len(picked) > limit
        low = prefix.lower()
        lo = bisect_left(self._keys, low)
        hi = bisect_left(self._keys, low + _HIGH, lo)
        cands = self._order[lo:hi]
        entries = self.entries

        def rank(i: int) -> tuple[int, int, str]:
            k = entries[i].key
            return (0 if k == prefix else 1 if k.startswith(prefix) else 2, len(k), k)

        if len(cands) > limit and len(cands) * 8 > len(entries):
            # most names match (one typed letter): walking all names shortest first finds
            # ``limit`` matches after about limit * 8 steps, cheaper than ranking them all
            picked: list[int] = []
            lkeys = self._lower_keys
            for i in self._shortest:
                if lkeys[i].startswith(low):
                    picked.append(i)
                    if len(picked) > limit:
                        break
            picked.sort(key=rank)  # exact case first, within the shortest
            return [entries[i] for i in picked[:limit]], True
        if len(cands) > limit:
            best = heapq.nsmallest(limit, cands, key=rank)
            return [entries[i] for i in best], True
        cands.sort(key=rank)
        return [entries[i] for i in cands], False

    # -- workspace symbols ----------------------------------------------------------------------
    def search(self, query: str, limit: int) -> list[Entry]:
        """Entries containing ``query`` (case-insensitive); names starting with it first."""
        q = query.lower()
        if not q:
            return [self.entries[i] for i in self._shortest[:limit]]
        hits = [i for i, lab in enumerate(self._lower_labels) if q in lab]
        hits.sort(key=lambda i: (not self.entries[i].key.lower().startswith(q), len(self.entries[i].key)))
        return [self.entries[i] for i in hits[:limit]]

    # -- files ------------------------------------------------------------------------------
    def source_files(self) -> set[str]:
        """Every file DWARF names for a variable declaration or a function's first line."""
        return set(self.by_file) | {f for f, _ in self.function_lines.values()}


def elf_mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
