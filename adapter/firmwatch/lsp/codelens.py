"""A code lens over each global/static defined in the open file: size, section, address."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from ..symbols.program import Variable
from .index import SymbolIndex
from .paths import SourceResolver


def variables_in(index: SymbolIndex, doc_path: Path, resolver: SourceResolver) -> list[Variable]:
    out: list[Variable] = []
    for dwarf_file, vs in index.by_file.items():
        if dwarf_file.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] != doc_path.name:
            continue  # cheap filter before resolving paths on disk
        if resolver.resolve(dwarf_file) == doc_path:
            out += vs
    return out


def title(v: Variable) -> str:
    size = "?" if v.size is None else str(v.size)
    if v.address is None:
        return f"{size} B · constant (no storage)"
    return f"{size} B · {v.section or 'no section'} · 0x{v.address:x}"


def code_lenses(index: SymbolIndex, doc_path: Path, resolver: SourceResolver) -> list[lsp.CodeLens]:
    lenses = []
    for v in sorted(variables_in(index, doc_path, resolver), key=lambda v: (v.line or 0, v.name)):
        assert v.line is not None
        rng = lsp.Range(lsp.Position(v.line - 1, 0), lsp.Position(v.line - 1, 0))
        # an empty command id makes the lens a plain label (nothing to run when clicked)
        lenses.append(lsp.CodeLens(range=rng, command=lsp.Command(title=title(v), command=""), data=v.qualified))
    return lenses
