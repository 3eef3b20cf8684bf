"""Workspace symbols: globals, statics and functions whose name contains the query."""

from __future__ import annotations

from lsprotocol import types as lsp

from .definition import location
from .index import SymbolIndex
from .paths import SourceResolver

LIMIT = 500


def workspace_symbols(index: SymbolIndex, query: str, resolver: SourceResolver) -> list[lsp.WorkspaceSymbol]:
    out: list[lsp.WorkspaceSymbol] = []
    # ask for more than LIMIT: entries without a source location are dropped below
    for e in index.search(query, LIMIT * 2):
        if e.variable is not None:
            v = e.variable
            if not (v.file and v.line):
                continue
            loc = location(resolver, v.file, v.line, v.name)
            kind = lsp.SymbolKind.Variable
            container = v.function or (v.file.rsplit("/", 1)[-1] if v.scope == "file" else None)
        else:
            assert e.function is not None
            fl = index.function_lines.get(e.key)
            if fl is None:
                continue
            loc = location(resolver, fl[0], fl[1], e.key)
            kind = lsp.SymbolKind.Function
            container = None
        if loc is None:
            continue
        out.append(lsp.WorkspaceSymbol(name=e.label, kind=kind, location=loc, container_name=container))
        if len(out) >= LIMIT:
            break
    return out
