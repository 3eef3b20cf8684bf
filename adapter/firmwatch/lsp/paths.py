"""Mapping DWARF declaration files to files in the workspace.

DWARF names files relative to the compilation directory of their unit, or absolutely —
often on another machine (a CI build). Resolution tries, in order: the path as written when
absolute and present; the path under each compilation directory, workspace folder and the
ELF's own directory and its parents; then a file in the workspace with the same basename,
preferring the one sharing the longest path suffix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".cache", ".tox"}
_MAX_WALK = 50_000  # files; a workspace bigger than this is not searched by basename


def _parts(p: str) -> tuple[str, ...]:
    if "\\" in p and "/" not in p:
        return PureWindowsPath(p).parts
    return PurePosixPath(p).parts


class SourceResolver:
    def __init__(self, roots: Sequence[Path], comp_dirs: Iterable[str], elf_path: Path | None):
        self.roots = [r for r in roots if r]
        bases: list[Path] = [Path(d) for d in comp_dirs if d]
        bases += self.roots
        if elf_path is not None:
            bases += [elf_path.parent, *elf_path.parent.parents][:4]
        seen: set[Path] = set()
        self.bases = [b for b in bases if not (b in seen or seen.add(b))]  # type: ignore[func-returns-value]
        self._cache: dict[str, Path | None] = {}
        self._by_name: dict[str, list[Path]] | None = None

    def resolve(self, dwarf_file: str) -> Path | None:
        if dwarf_file in self._cache:
            return self._cache[dwarf_file]
        hit = self._resolve(dwarf_file)
        self._cache[dwarf_file] = hit
        return hit

    def _resolve(self, f: str) -> Path | None:
        p = Path(f)
        if p.is_absolute():
            if p.is_file():
                return p.resolve()
        else:
            for b in self.bases:
                c = b / p
                if c.is_file():
                    return c.resolve()
        parts = _parts(f)
        if not parts:
            return None
        cands = self._basename_index().get(parts[-1], [])
        if not cands:
            return None
        return max(cands, key=lambda c: (_common_suffix(c.parts, parts), -len(c.parts)))

    def _basename_index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            idx: dict[str, list[Path]] = {}
            count = 0
            for root in self.roots:
                for dirpath, dirnames, filenames in os.walk(root):
                    dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
                    for fn in filenames:
                        idx.setdefault(fn, []).append(Path(dirpath, fn).resolve())
                    count += len(filenames)
                    if count > _MAX_WALK:
                        break
            self._by_name = idx
        return self._by_name


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        n += 1
    return n


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
