"""Completion of globals, statics and functions by prefix, and of struct members after
``.``/``->`` — in C/C++/Rust/assembly sources and in the ``watch`` strings of launch.json."""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types as lsp

from ..symbols.expr import ExpressionError, compile_expression
from ..symbols.program import SymbolsError
from . import text as T
from .index import Entry, SymbolIndex
from .jsonc import watch_string_at

LIMIT = 200  # items per answer; more matches mark the list incomplete so typing re-asks
MEMBER_LIMIT = 300

PosFn = Callable[[int], lsp.Position]


def complete(index: SymbolIndex, source: str, offset: int, pos: PosFn, *, launch_json: bool) -> lsp.CompletionList | None:
    if launch_json:
        ws = watch_string_at(source, offset)
        if ws is None:
            return None
        # complete within the string's content as if it were a line of C
        return _complete_expr(index, ws.prefix, len(ws.prefix), lambda o: pos(ws.start + o))
    return _complete_expr(index, source, offset, pos)


def _complete_expr(index: SymbolIndex, source: str, offset: int, pos: PosFn) -> lsp.CompletionList | None:
    mc = T.member_context(source, offset)
    if mc is not None:
        expr, arrow, start = mc
        return _members(index, expr, arrow, source[start:offset], start, offset, pos)
    if source.endswith(("-", "->", "."), 0, offset) or (offset and source[offset - 1] == ">"):
        return None  # an operator that is not a member access (or "->" after something unknown)
    start = T.ident_start(source, offset)
    if start < offset and source[start].isdigit():
        return None
    # a quoted file scope ('motor.c'::x) is completed by the plain name; keep what precedes
    prefix = source[start:offset]
    entries, cut = index.complete(prefix, LIMIT)
    rng = lsp.Range(pos(start), pos(offset))
    items = [_item(index, e, prefix, rng) for e in entries]
    return lsp.CompletionList(is_incomplete=cut, items=items)


def _item(index: SymbolIndex, e: Entry, prefix: str, rng: lsp.Range) -> lsp.CompletionItem:
    rank = 0 if e.key == prefix else 1 if e.key.startswith(prefix) else 2
    sort = f"{rank}{len(e.key):04d}{e.key}"
    if e.variable is not None:
        v = e.variable
        size = "?" if v.size is None else str(v.size)
        detail = index.program.types.name(v.type) if v.type is not None else "(no type)"
        where = "constant (no storage)" if v.address is None else f"0x{v.address:x}"
        doc = f"{where} · {size} B · {v.section or 'no section'}"
        kind = lsp.CompletionItemKind.Variable
    else:
        f = e.function
        assert f is not None
        detail = "function"
        doc = f"0x{f.address:x} · {f.size} B · {f.section or 'no section'}"
        kind = lsp.CompletionItemKind.Function
    return lsp.CompletionItem(
        label=e.label,
        kind=kind,
        detail=detail,
        documentation=doc,
        sort_text=sort,
        filter_text=e.key,
        text_edit=lsp.TextEdit(range=rng, new_text=e.label),
    )


def _members(
    index: SymbolIndex, expr: str, arrow: bool, typed: str, start: int, offset: int, pos: PosFn
) -> lsp.CompletionList | None:
    try:
        ce = compile_expression(index.program, expr)
    except (ExpressionError, SymbolsError):
        return None
    names = ce.member_names(arrow=arrow)
    fix: list[lsp.TextEdit] | None = None
    op = "->" if arrow else "."
    if not names and not arrow:
        # "p." on a pointer to a struct: offer the members and turn the "." into "->"
        names = ce.member_names(arrow=True)
        if names:
            op = "->"
            fix = [lsp.TextEdit(range=lsp.Range(pos(start - 1), pos(start)), new_text="->")]
    if not names:
        return None
    rng = lsp.Range(pos(start), pos(offset))
    items = []
    for i, name in enumerate(names[:MEMBER_LIMIT]):
        detail = None
        try:
            m = compile_expression(index.program, f"{expr}{op}{name}")
            detail = m.type_name
        except (ExpressionError, SymbolsError):
            pass
        items.append(
            lsp.CompletionItem(
                label=name,
                kind=lsp.CompletionItemKind.Field,
                detail=detail,
                sort_text=f"{0 if name.startswith(typed) else 1}{i:04d}",
                text_edit=lsp.TextEdit(range=rng, new_text=name),
                additional_text_edits=fix,
            )
        )
    return lsp.CompletionList(is_incomplete=False, items=items)
