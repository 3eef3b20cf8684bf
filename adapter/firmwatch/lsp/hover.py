"""Hover: what the ELF says about the identifier or ``a.b``/``p->c`` chain under the cursor —
type, size, address, section, declaration, struct layout — plus its live value when a
debug session runs (asked of the client; see docs/lsp.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..symbols.expr import ExpressionError, compile_expression
from ..symbols.layout import layout_target, render
from ..symbols.program import Symbol, SymbolsError, Variable
from .index import SymbolIndex
from .paths import SourceResolver


@dataclass
class Subject:
    """What a hover is about, before the live value is known."""

    expression: str
    type_name: str
    size: int | None
    address: int | None
    section: str | None
    decl: str | None  # "src/demo.c:22"
    layout: str | None  # ptype/o text
    is_function: bool = False
    constant: bool = False  # DW_AT_const_value: a value with no storage


def pick_variable(index: SymbolIndex, name: str, doc_path: Path | None, resolver: SourceResolver | None) -> Variable | None:
    """The variable ``name`` means here: the one declared in this document when several
    statics share the name, else the program-wide resolution (a true global wins)."""
    prog = index.program
    same = index.by_name.get(name, [])
    if len(same) > 1 and resolver is not None and doc_path is not None:
        for v in same:
            if v.file and resolver.resolve(v.file) == doc_path:
                return v
    try:
        return prog.find_variable(name)
    except SymbolsError as e:
        return same[0] if same and "ambiguous" in str(e) else None


def subject(
    index: SymbolIndex, expr: str, doc_path: Path | None, resolver: SourceResolver | None
) -> Subject | None:
    prog = index.program
    types = prog.types
    simple = expr.isidentifier()
    v = pick_variable(index, expr, doc_path, resolver) if simple else None
    if v is not None:
        expr_text = v.qualified
        tid = v.type
        addr: int | None = v.address
        size = v.size
        decl = f"{v.file}:{v.line}" if v.file and v.line else (v.file or None)
        type_name = types.name(tid) if tid is not None else "(no debug type: raw bytes)"
    elif simple and (sym := prog.find_symbol(expr)) is not None and sym.kind == "function":
        return _function(index, sym)
    else:
        try:
            ce = compile_expression(prog, expr)
        except (ExpressionError, SymbolsError):
            return None
        expr_text, tid, addr, size, decl, type_name = expr, ce.type, ce.address, ce.size, None, ce.type_name
        types = ce.types
    section = None
    if addr is not None:
        sec = prog.section_at(addr)
        section = sec.name if sec is not None else None
    lay = None
    if tid is not None and layout_target(types, tid) is not None:
        try:
            lay = render(types, tid, address=None, expand_nested=prog.language != "rust")
        except Exception:  # noqa: BLE001 - a layout is optional; never lose the hover for it
            lay = None
    constant = v is not None and v.address is None
    return Subject(expr_text, type_name, size, addr, section, decl, lay, constant=constant)


def _function(index: SymbolIndex, sym: Symbol) -> Subject:
    loc = index.function_lines.get(sym.name)
    decl = f"{loc[0]}:{loc[1]}" if loc else None
    return Subject(sym.name, "function", sym.size, sym.address, sym.section, decl, None, is_function=True)


def markdown(s: Subject, live: str | None) -> str:
    size = "?" if s.size is None else str(s.size)
    head = f"```c\n{s.type_name} {s.expression}\n```" if not s.is_function else f"```c\n{s.expression}()\n```"
    facts = [f"**{size} B**"]
    if s.section:
        facts.append(f"`{s.section}`")
    if s.constant:
        facts.append("a constant the compiler kept no storage for")
    else:
        facts.append(f"`0x{s.address:x}`" if s.address is not None else "address known only at run time")
    lines = [head, " · ".join(facts)]
    if s.decl:
        lines.append(f"declared at `{s.decl}`")
    if live is not None:
        lines.append(f"live: `{live}`")
    if s.layout:
        lines.append(f"```c\n{s.layout}\n```")
    return "\n\n".join(lines)
