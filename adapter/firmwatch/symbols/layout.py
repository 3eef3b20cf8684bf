"""Memory layout of a type as gdb's ``ptype/o`` shows it: one row per member, nested
structs expanded in place, offsets counted from the start of the outermost object.

Used by ``firmwatch ptype`` and by the gdb-oracle tests (which compare these rows with
gdb's own ``ptype/o`` output line by line).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import (
    ArrayType,
    PointerType,
    Qualified,
    StructType,
    Typedef,
    TypeId,
    TypeTable,
    VariantType,
)


@dataclass(frozen=True, slots=True)
class LayoutRow:
    depth: int  # 0: a member of the type itself; 1: a member of that member; ...
    name: str | None  # None: anonymous struct/union member
    offset: int  # bytes from the start of the outermost object
    size: int | None
    type: str  # as C spells the member's type
    bit_offset: int | None = None  # bitfields: bits from the start of the outermost object
    bit_size: int | None = None
    in_union: bool = False  # gdb prints no offset for direct members of a union
    expanded: bool = False  # the member's own members follow at depth + 1
    decl: str = ""  # the C declaration of the member (``uint8_t bytes[4]``)

    def as_json(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "offset": self.offset, "size": self.size, "type": self.type}
        if self.bit_size is not None:
            d["bit_offset"] = self.bit_offset
            d["bit_size"] = self.bit_size
        return d


def layout_target(types: TypeTable, tid: TypeId | None) -> TypeId | None:
    """The struct/union ptype would describe for ``tid``: through typedefs, qualifiers,
    arrays and pointers (``ptype`` of ``struct node *head`` shows ``struct node``)."""
    seen = 0
    while tid is not None and seen < 64:
        seen += 1
        t = types[tid]
        if isinstance(t, (Typedef, Qualified)):
            tid = t.target
        elif isinstance(t, ArrayType):
            tid = t.element
        elif isinstance(t, PointerType):
            tid = t.target
        elif isinstance(t, (StructType, VariantType)):
            return tid
        else:
            return None
    return None


def layout(types: TypeTable, tid: TypeId | None, *, expand_nested: bool = True) -> list[LayoutRow]:
    """Rows for the struct/union/Rust enum behind ``tid``; empty for scalars.

    ``expand_nested``: expand members whose type is itself a struct/union, as gdb does for
    C and C++ (not for Rust, where gdb only expands enum variants).
    """
    target = layout_target(types, tid)
    if target is None:
        return []
    rows: list[LayoutRow] = []
    _rows(types, target, 0, 0, rows, expand_nested, set())
    return rows


def _direct_struct(types: TypeTable, tid: TypeId) -> TypeId | None:
    """gdb expands a member when its type IS a struct/union (qualifiers allowed, not typedefs)."""
    seen = 0
    while seen < 16:
        seen += 1
        t = types[tid]
        if isinstance(t, Qualified) and t.target is not None:
            tid = t.target
            continue
        if isinstance(t, StructType) and not t.declaration:
            return tid
        return None
    return None


def _rows(
    types: TypeTable,
    tid: TypeId,
    base: int,
    depth: int,
    out: list[LayoutRow],
    expand: bool,
    active: set[TypeId],
) -> None:
    if tid in active or depth > 32:
        return  # a struct cannot contain itself by value; guard against malformed DWARF
    active = active | {tid}
    t = types[tid]
    if isinstance(t, VariantType):
        for v in t.variants:
            off = base + v.offset
            vname = types.name(v.type)
            out.append(LayoutRow(depth, v.name, off, types.sizeof(v.type), vname, expanded=True, decl=vname))
            vt = types[v.type]
            if isinstance(vt, StructType):
                for m in vt.members:
                    mname = types.name(m.type)
                    decl = f"{m.name}: {mname}" if m.name else mname  # Rust field syntax
                    out.append(LayoutRow(depth + 1, m.name, off + m.offset, types.sizeof(m.type), mname, decl=decl))
        return
    if not isinstance(t, StructType):
        return
    union = t.kind == "union"
    for m in t.members:
        size = types.sizeof(m.type)
        name = types.name(m.type)
        decl = types._declare(m.type, m.name or "").strip()
        if m.bit_size is not None:
            bit = (m.bit_offset if m.bit_offset is not None else m.offset * 8) + base * 8
            out.append(LayoutRow(depth, m.name, bit // 8, size, name, bit, m.bit_size, union, decl=decl))
            continue
        nested = _direct_struct(types, m.type) if expand else None
        out.append(
            LayoutRow(
                depth, m.name, base + m.offset, size, name, in_union=union, expanded=nested is not None, decl=decl
            )
        )
        if nested is not None:
            _rows(types, nested, base + m.offset, depth + 1, out, expand, active)


def render(types: TypeTable, tid: TypeId | None, *, address: int | None = None, expand_nested: bool = True) -> str:
    """Text like gdb's ``ptype/o``: ``/* offset | size */`` columns and the member declarations."""
    target = layout_target(types, tid)
    head = types.name(tid)
    lines: list[str] = []
    if target is None:
        size = types.sizeof(tid)
        lines.append(f"type = {head}")
        lines.append(f"/* size (bytes): {size if size is not None else '?'} */")
        return "\n".join(lines)
    t = types[target]
    tsize = types.sizeof(target)
    title = types.name(target)
    if isinstance(t, StructType) and t.bases:
        title += " : " + ", ".join(f"public {b.name}" for b in t.bases)
    lines.append(f"/* offset      |    size */  type = {title} {{")
    rows = layout(types, tid, expand_nested=expand_nested)
    closers: list[tuple[int, str]] = []
    for r in rows:
        while closers and closers[-1][0] >= r.depth:
            d, text = closers.pop()
            lines.append(" " * 31 + "    " * d + text)
        indent = "    " * (r.depth + 1)
        size = "?" if r.size is None else str(r.size)
        if r.in_union:
            col = f"/*              {size:>8} */"
        elif r.bit_size is not None:
            col = f"/* {r.offset:>6}:{(r.bit_offset or 0) % 8:>2}   | {size:>7} */"
        else:
            col = f"/* {r.offset:>6}      | {size:>7} */"
        label = r.name if r.name is not None else ""
        if r.expanded:
            lines.append(f"{col}{indent}{r.type.removesuffix(' {...}')} {{")
            closers.append((r.depth, f"}}{' ' + label if label else ''};"))
        else:
            decl = r.decl or r.type
            if r.bit_size is not None:
                decl += f" : {r.bit_size}"
            lines.append(f"{col}{indent}{decl};")
    while closers:
        d, text = closers.pop()
        lines.append(" " * 31 + "    " * d + text)
    lines.append("")
    lines.append(" " * 31 + f"/* total size (bytes): {tsize if tsize is not None else '?':>4} */")
    lines.append(" " * 29 + "}" + ("" if target == types.strip(tid) else f"  /* in {head} */"))
    if address is not None:
        lines.append(f"/* address: 0x{address:x} */")
    return "\n".join(lines)
