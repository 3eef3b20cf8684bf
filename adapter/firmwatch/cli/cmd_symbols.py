"""``firmwatch symbols | ptype | info``: what firmwatch reads from an ELF, without a target."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from firmwatch.symbols import Program, SymbolsError, load
from firmwatch.symbols.layout import LayoutRow, layout, layout_target, render
from firmwatch.symbols.types import StructType, TypeId, TypeTable, UnsupportedType


def register(sub: Any) -> None:
    p = sub.add_parser("symbols", help="list the globals and statics of an ELF")
    p.add_argument("elf", help="firmware ELF built with -g")
    p.add_argument("--filter", metavar="GLOB", help="only names matching GLOB (e.g. 'sensor*', '*::count')")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the index cache")
    p.set_defaults(func=cmd_symbols)

    p = sub.add_parser("ptype", help="type and memory layout of an expression (like gdb's ptype/o)")
    p.add_argument("elf", help="firmware ELF built with -g")
    p.add_argument("expr", help="a variable or expression: sensor, 'file.c'::x, ns::x, buf[2].hdr")
    p.add_argument("--json", action="store_true", help="print the layout as one JSON object")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the index cache")
    p.set_defaults(func=cmd_ptype)

    p = sub.add_parser("info", help="architecture, build id, sections and memory usage of an ELF")
    p.add_argument("elf", help="firmware ELF")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the index cache")
    p.set_defaults(func=cmd_info)


def _load(args: argparse.Namespace) -> Program:
    prog = load(args.elf, use_cache=not args.no_cache)
    if prog.elf.debug_note:
        print(f"firmwatch: warning: {prog.elf.debug_note}", file=sys.stderr)
    return prog


# -- symbols ----------------------------------------------------------------------------------
def cmd_symbols(args: argparse.Namespace) -> int:
    prog = _load(args)
    vs = prog.variables_matching(args.filter) if args.filter else list(prog.variables)
    vs.sort(key=lambda v: (-1 if v.address is None else v.address, v.qualified))  # constants first
    rows = [
        {
            "name": v.qualified,
            "address": v.address,
            "size": v.size,
            "type": prog.types.name(v.type) if v.type is not None else f"<{v.size or '?'} raw bytes>",
            "section": v.section,
            "file": v.file,
            "line": v.line,
        }
        for v in vs
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no variables" + (f" match '{args.filter}'" if args.filter else ""), file=sys.stderr)
        return 1 if args.filter else 0
    width = max(len(r["name"]) for r in rows)
    tw = min(max(len(r["type"]) for r in rows), 40)
    aw = max(8, prog.elf.word_size * 2)
    print(f"{'address':<{aw + 2}}  {'size':>6}  {'name':<{width}}  {'type':<{tw}}  {'section':<10} location")
    for r in rows:
        loc = f"{r['file']}:{r['line']}" if r["file"] else ""
        size = "?" if r["size"] is None else str(r["size"])
        addr = "(constant)" if r["address"] is None else f"0x{r['address']:0{aw}x}"
        print(
            f"{addr:<{aw + 2}}  {size:>6}  {r['name']:<{width}}  {r['type']:<{tw}}  "
            f"{r['section'] or '-':<10} {loc}"
        )
    return 0


# -- ptype ------------------------------------------------------------------------------------
def _partial(args: argparse.Namespace) -> tuple[Program | None, Any]:
    """Without a cache to start from, index only the units that name the expression's words
    (symbols.loader.load_partial); anything it cannot answer completely goes the full way."""
    from firmwatch.symbols.loader import load_partial

    try:
        prog = load_partial(args.elf, args.expr)
        if prog is None:
            return None, None
        resolved = _resolve(prog, args.expr)
    except Exception:  # noqa: BLE001 - the full index gives the error, or the answer
        return None, None
    t = resolved[0].resolved(resolved[1])
    if isinstance(t, StructType) and t.declaration:
        return None, None  # its definition may be in a unit not read
    return prog, resolved


def _resolve(prog: Program, text: str) -> tuple[TypeTable, TypeId | None, int | None, int | None]:
    """(types, type id, static address, size) of an expression."""
    from firmwatch.symbols.expr import compile_expression

    ce = compile_expression(prog, text)
    return ce.types, ce.type, ce.address, ce.size


def _member_json(rows: list[LayoutRow], i: int, depth: int) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    while i < len(rows) and rows[i].depth >= depth:
        r = rows[i]
        d = r.as_json()
        i += 1
        if r.expanded:
            d["members"], i = _member_json(rows, i, depth + 1)
        out.append(d)
    return out, i


def cmd_ptype(args: argparse.Namespace) -> int:
    prog, resolved = _partial(args) if args.no_cache else (None, None)
    if prog is None or resolved is None:
        prog = _load(args)
        resolved = _resolve(prog, args.expr)
    types, tid, address, size = resolved
    expand = prog.language != "rust"
    raw = tid is None or isinstance(types.resolved(tid), UnsupportedType)
    note = types.resolved(tid).note if tid is not None and raw else "no DWARF type"  # type: ignore[union-attr]
    type_name = f"<{size if size is not None else '?'} raw bytes>" if raw else types.name(tid)
    if args.json:
        rows = layout(types, tid, expand_nested=expand)
        members, _ = _member_json(rows, 0, 0)
        out: dict[str, Any] = {"type": type_name, "size": size, "address": address, "members": members}
        target = layout_target(types, tid)
        t = types[target] if target is not None else None
        if isinstance(t, StructType) and t.bases:
            out["bases"] = [
                {"name": b.name, "offset": b.offset, "size": types.sizeof(b.type), "type": types.name(b.type)}
                for b in t.bases
            ]
        if raw:
            out["note"] = note
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if raw:
        print(f"type = {type_name} ({note})")
        if address is not None:
            print(f"/* address: 0x{address:x} */")
        return 0
    print(render(types, tid, address=address, expand_nested=expand))
    return 0


# -- info -------------------------------------------------------------------------------------
_USAGE_NAMES = {
    "text": (".text",),
    "rodata": (".rodata", ".srodata"),
    "data": (".data", ".sdata"),
    "bss": (".bss", ".sbss", ".noinit"),
}


def _usage(prog: Program) -> dict[str, int]:
    u = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "flash": 0, "ram": 0}
    for s in prog.elf.sections:
        if s.kind == "other":
            continue
        for key, names in _USAGE_NAMES.items():
            if any(s.name == n or s.name.startswith(n + ".") for n in names):
                u[key] += s.size
                break
        if s.kind == "ram":
            u["ram"] += s.size
            if not s.nobits:
                u["flash"] += s.size  # initialised data has its load image in flash
        else:
            u["flash"] += s.size
    return u


def cmd_info(args: argparse.Namespace) -> int:
    prog = _load(args)
    e = prog.elf
    usage = _usage(prog)
    secs = [
        {"name": s.name, "address": s.address, "size": s.size, "flags": s.flags, "kind": s.kind, "nobits": s.nobits}
        for s in e.sections
        if s.kind != "other"
    ]
    if args.json:
        out = {
            "path": e.path,
            "arch": e.machine,
            "elf_class": e.elf_class,
            "byte_order": e.byteorder,
            "word_size": e.word_size,
            "entry": e.entry,
            "build_id": e.build_id,
            "build_id_source": e.build_id_source,
            "has_dwarf": e.has_dwarf,
            "dwarf_version": e.dwarf_version,
            "language": prog.language,
            "variables": len(prog.variables),
            "sections": secs,
            "memory": usage,
        }
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"file:        {e.path}")
    print(f"arch:        {e.machine} (ELF{e.elf_class}), {e.byteorder}-endian, {e.word_size}-byte words")
    print(f"entry:       0x{e.entry:x}")
    print(f"build id:    {e.build_id}" + (" (no GNU build-id note)" if e.build_id_source != "gnu" else ""))
    dw = f"DWARF {e.dwarf_version}, {prog.language}" if e.has_dwarf else "none (symbols only)"
    print(f"debug info:  {dw}; {len(prog.variables)} globals/statics")
    print()
    print(f"{'section':<20} {'kind':<6} {'address':>12} {'size':>10}")
    for s in secs:
        print(f"{s['name']:<20} {s['kind']:<6} {s['address']:>#12x} {s['size']:>10}")
    print()
    print("memory usage (bytes):")
    for k in ("text", "rodata", "data", "bss"):
        print(f"  .{k:<8} {usage[k]:>10}")
    print(f"  flash     {usage['flash']:>10}   (text + read-only + initialised data image)")
    print(f"  RAM       {usage['ram']:>10}   (writable allocated sections)")
    return 0


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience for debugging
    parser = argparse.ArgumentParser(prog="firmwatch")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SymbolsError as e:
        print(f"firmwatch: {e}", file=sys.stderr)
        return 1
