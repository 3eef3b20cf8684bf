"""Go to definition: the DWARF declaration of a global/static (or the first line of a
function) mapped to a file in the workspace."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from . import text as T
from .hover import pick_variable
from .index import SymbolIndex
from .paths import SourceResolver


def definition(
    index: SymbolIndex, source: str, offset: int, doc_path: Path | None, resolver: SourceResolver
) -> lsp.Location | None:
    w = T.word_at(source, offset)
    if w is None:
        return None
    name, start, _ = w
    if source.endswith((".", "->"), 0, start):
        return None  # a struct member: DWARF gives members no declaration line we keep
    v = pick_variable(index, name, doc_path, resolver)
    if v is not None and v.file and v.line:
        return location(resolver, v.file, v.line, v.name)
    loc = index.function_lines.get(name)
    if loc is not None:
        return location(resolver, loc[0], loc[1], name)
    return None


def location(resolver: SourceResolver, dwarf_file: str, line: int, name: str) -> lsp.Location | None:
    path = resolver.resolve(dwarf_file)
    if path is None:
        return None
    col, end = _find_name(path, line, name)
    rng = lsp.Range(lsp.Position(line - 1, col), lsp.Position(line - 1, end))
    return lsp.Location(uri=path.as_uri(), range=rng)


def _find_name(path: Path, line: int, name: str) -> tuple[int, int]:
    """Columns of ``name`` on the declaration line (DWARF keeps no column we read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, text in enumerate(f, 1):
                if i == line:
                    j = _find_word(text, name)
                    return (j, j + len(name)) if j >= 0 else (0, 0)
    except OSError:
        pass
    return 0, 0


def _find_word(text: str, name: str) -> int:
    j = text.find(name)
    while j >= 0:
        before = text[j - 1] if j else " "
        after = text[j + len(name)] if j + len(name) < len(text) else " "
        if not T.is_ident_char(before) and not T.is_ident_char(after):
            return j
        j = text.find(name, j + 1)
    return -1
