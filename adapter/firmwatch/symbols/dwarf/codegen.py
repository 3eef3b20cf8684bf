"""Straight-line decoders generated per abbreviation shape, from the FORM table.

A cold index decodes hundreds of thousands of DIEs; a loop that dispatches on each
attribute's form costs several times more than code that knows the abbreviation. So for
each distinct (attribute specs, address size, offset size, version) shape we generate,
once, Python source that reads the runs of fixed-size forms with one
``struct.unpack_from`` and the variable-length ones inline:

* :func:`skipper` steps over a DIE (an int when its size is fixed),
* :func:`attrs_decoder` reads every attribute into a dict,
* :func:`variable_decoder` reads a plain C global's DIE straight into a tuple.

Each returns None for a shape it does not cover (string/address indexes whose base is
not known yet, DW_FORM_indirect); the generic decoder in ``reader`` handles those.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from .constants import (
    AT_abstract_origin,
    AT_decl_file,
    AT_decl_line,
    AT_declaration,
    AT_external,
    AT_linkage_name,
    AT_location,
    AT_MIPS_linkage_name,
    AT_name,
    AT_specification,
    AT_type,
    OP_addr,
)
from .encoding import cstr, sleb, uleb
from .forms import (
    ADDRESS,
    BLOCK,
    BLOCK1,
    BLOCK2,
    BLOCK4,
    BYTES,
    CONST,
    CSTRING,
    DATA,
    FLAG,
    FORMS,
    IMPLICIT,
    LINE_STRP,
    LISTX,
    PRESENT,
    REF,
    REF_SECTION,
    SDATA,
    SEC_OFFSET,
    SIG8,
    SLEB,
    STRING,
    STRP,
    SUP,
    UDATA,
    ULEB,
    fixed_size,
    sized_const,
)

Specs = list[tuple[int, int, int]]  # (attribute, form, implicit const) per attribute
_STRUCT_CODE = {1: "B", 2: "H", 4: "I", 8: "Q", 16: "16s"}
# what a fixed-size value kind becomes once unpacked ({v}: the unpacked number)
_FIXED_POST = {
    DATA: "{v}",
    REF: "{v} + cu",
    ADDRESS: "{v}",
    SEC_OFFSET: "{v}",
    REF_SECTION: "{v}",
    STRP: "strp({v})",
    LINE_STRP: "cstr(S.line_str, {v})",
    FLAG: "{v} != 0",
    SIG8: "('sig8', {v})",
    SUP: "('alt', {v})",
    BYTES: "{v}",  # data16
}


def _skip_stmts(size: str) -> list[str] | None:
    """Statements that step ``p`` over a variable-length value."""
    if size == CSTRING:
        return [" p = d.index(0, p) + 1"]
    if size == BLOCK:
        return [" k, p = uleb(d, p)", " p += k"]
    if size == BLOCK1:
        return [" p += 1 + d[p]"]
    if size == BLOCK2:
        return [" p += 2 + U2(d, p)[0]"]
    if size == BLOCK4:
        return [" p += 4 + U4(d, p)[0]"]
    if size in (ULEB, SLEB):  # the same bytes end both
        return [" _, p = uleb(d, p)"]
    return None  # indirect


def _read_stmts(size: str, kind: str, target: str) -> list[str] | None:
    """Statements that read a variable-length value into ``target``."""
    if size == CSTRING:
        return [" e = d.find(b'\\0', p)", f" {target} = d[p:e].decode('utf-8', 'replace')", " p = e + 1"]
    if size == BLOCK:
        return [" n, p = uleb(d, p)", f" {target} = d[p:p + n]", " p += n"]
    if size == BLOCK1:
        return [" n = d[p]", f" {target} = d[p + 1:p + 1 + n]", " p += 1 + n"]
    if size == BLOCK2:
        return [" n = U2(d, p)[0]", f" {target} = d[p + 2:p + 2 + n]", " p += 2 + n"]
    if size == BLOCK4:
        return [" n = U4(d, p)[0]", f" {target} = d[p + 4:p + 4 + n]", " p += 4 + n"]
    if size == SLEB and kind == SDATA:
        return [f" {target}, p = sleb(d, p)"]
    if size == ULEB and kind in (UDATA, LISTX):
        return [f" {target}, p = uleb(d, p)"]
    if size == ULEB and kind == REF:
        return [" v, p = uleb(d, p)", f" {target} = v + cu"]
    return None  # string/address indexes, indirect


class _Source:
    """Generated source with runs of fixed-size fields folded into one unpack each."""

    def __init__(self, bo: str, header: list[str], env: dict[str, Any]) -> None:
        self.bo = bo
        self.lines = list(header)
        self.env = env
        self.env.setdefault("U2", struct.Struct(bo + "H").unpack_from)
        self.env.setdefault("U4", struct.Struct(bo + "I").unpack_from)
        self.run: list[tuple[str, str]] = []  # (struct code, statement using {v}; "" = padding)

    def fixed(self, n: int, stmt: str) -> bool:
        code = _STRUCT_CODE.get(n)
        if code is None:
            return False
        self.run.append((code, stmt))
        return True

    def pad(self, n: int) -> None:
        if n:
            self.run.append((f"{n}x", ""))

    def flush(self) -> None:
        run = self.run
        if not run:
            return
        fmt = self.bo + "".join(c for c, _ in run)
        valued = [stmt for _c, stmt in run if stmt]
        if valued:
            k = f"U{len(self.env)}"
            self.env[k] = struct.Struct(fmt).unpack_from
            vs = [f"v{i}" for i in range(len(valued))]
            self.lines.append(f" {', '.join(vs)}, = {k}(d, p)")
            self.lines += [" " + stmt.format(v=v) for stmt, v in zip(valued, vs)]
        self.lines.append(f" p += {struct.calcsize(fmt)}")
        run.clear()

    def add(self, stmts: list[str]) -> None:
        self.flush()
        self.lines += stmts

    def build(self, footer: str, name: str, filename: str) -> Any:
        self.flush()
        self.lines.append(footer)
        exec(compile("\n".join(self.lines), filename, "exec"), self.env)  # noqa: S102 - generated above
        return self.env[name]


def skipper(specs: Specs, asz: int, osz: int, ver: int, bo: str = "<") -> Any:
    """A DIE's size when all its forms are fixed (an int), else ``skip(d, p) -> p``; None
    when a form needs the generic decoder."""
    n = 0
    var = False
    lines = ["def skip(d, p):"]
    env: dict[str, Any] = {"uleb": uleb}
    for _at, code, _imp in specs:
        f = FORMS.get(code)
        if f is None:
            return None
        k = fixed_size(f, asz, osz, ver)
        if k is not None:
            n += k
            continue
        stmts = _skip_stmts(f.size)  # type: ignore[arg-type]
        if stmts is None:
            return None
        var = True
        if n:
            lines.append(f" p += {n}")
            n = 0
        lines += stmts
    if not var:
        return n
    if n:
        lines.append(f" p += {n}")
    lines.append(" return p")
    env["U2"] = struct.Struct(bo + "H").unpack_from
    env["U4"] = struct.Struct(bo + "I").unpack_from
    exec(compile("\n".join(lines), "<dwarf-skip>", "exec"), env)  # noqa: S102 - generated above
    return env["skip"]


def attrs_decoder(
    specs: Specs, asz: int, osz: int, ver: int, bo: str, sections: Any, strp: Callable[[int], str]
) -> Callable[[bytes, int, int], tuple[dict[int, Any], int]] | None:
    """``decode(d, p, unit_offset) -> (attrs, p)`` for one abbreviation shape."""
    env: dict[str, Any] = {"uleb": uleb, "sleb": sleb, "cstr": cstr, "S": sections, "strp": strp}
    src = _Source(bo, ["def decode(d, p, cu):", " a = {}"], env)
    for at, code, implicit in specs:
        f = FORMS.get(code)
        if f is None:
            return None
        n = fixed_size(f, asz, osz, ver)
        if f.size == IMPLICIT:
            src.add([f" a[{at}] = {implicit!r}"])
        elif f.value == PRESENT:
            src.add([f" a[{at}] = True"])
        elif n is not None and f.value in _FIXED_POST:
            post = f"({{v}}, {n})" if sized_const(at, f) else _FIXED_POST[f.value]
            if not src.fixed(n, f"a[{at}] = " + post):
                return None
        elif n is None and f.value in (STRING, BYTES, SDATA, UDATA, REF, LISTX):
            stmts = _read_stmts(f.size, f.value, f"a[{at}]")  # type: ignore[arg-type]
            if stmts is None:
                return None
            src.add(stmts)
        else:
            return None  # strx/addrx/indirect: the generic decoder handles them
    return src.build(" return a, p", "decode", "<dwarf-abbrev>")  # type: ignore[no-any-return]


_NAME_TARGETS = {AT_name: "name", AT_linkage_name: "linkage", AT_MIPS_linkage_name: "linkage"}


def variable_decoder(
    specs: Specs, asz: int, osz: int, ver: int, bo: str, sections: Any, strp: Callable[[int], str]
) -> Any:
    """``vdec(d, p, cu) -> (name, address, type ref, decl file, decl line, external, linkage, p)``
    for a DW_TAG_variable shape whose location is a plain DW_OP_addr (address None otherwise).

    Shapes with a specification, an abstract origin or a declaration are left to the
    generic path (None)."""
    if asz not in _STRUCT_CODE:
        return None
    env: dict[str, Any] = {
        "uleb": uleb,
        "cstr": cstr,
        "S": sections,
        "strp": strp,
        "A": struct.Struct(bo + _STRUCT_CODE[asz]).unpack_from,
    }
    header = ["def vdec(d, p, cu):", " name = addr = tref = fi = line = linkage = None", " ext = False"]
    src = _Source(bo, header, env)
    for at, code, implicit in specs:
        if at in (AT_specification, AT_abstract_origin, AT_declaration):
            return None
        f = FORMS.get(code)
        if f is None:
            return None
        n = fixed_size(f, asz, osz, ver)
        kind = f.value
        var = _NAME_TARGETS.get(at)
        if var is not None:
            if kind in (STRP, LINE_STRP) and n is not None:
                src.fixed(n, f"{var} = " + _FIXED_POST[kind])
            elif kind == STRING:
                src.add(_read_stmts(CSTRING, STRING, var))  # type: ignore[arg-type]
            else:
                return None
        elif at == AT_location:
            if f.size == BLOCK:
                src.add([" n = d[p]", " if n < 0x80:", "  p += 1", " else:", "  n, p = uleb(d, p)"])
            elif f.size == BLOCK1:
                src.add([" n = d[p]", " p += 1"])
            else:
                return None
            # DW_OP_addr <address>: a static; anything else is left to the generic path
            src.add([f" if n == {1 + asz} and d[p] == {OP_addr}:", "  addr = A(d, p + 1)[0]", " p += n"])
        elif at == AT_type:
            if kind != REF:
                return None
            if n is not None:
                src.fixed(n, "tref = {v} + cu")
            else:
                src.add([" tref, p = uleb(d, p)", " tref += cu"])
        elif at in (AT_decl_file, AT_decl_line):
            var = "fi" if at == AT_decl_file else "line"
            if kind == DATA and n is not None:
                src.fixed(n, f"{var} = {{v}}")
            elif kind == UDATA:
                src.add([f" {var}, p = uleb(d, p)"])
            elif kind == CONST:
                src.add([f" {var} = {implicit!r}"])
            else:
                return None
        elif at == AT_external:
            if kind == PRESENT:
                src.add([" ext = True"])
            elif kind == FLAG:
                src.fixed(1, "ext = {v} != 0")
            else:
                return None
        elif n is not None:
            src.pad(n)  # bytes stepped over
        else:
            stmts = _skip_stmts(f.size)  # type: ignore[arg-type]
            if stmts is None:
                return None
            src.add(stmts)
    return src.build(" return name, addr, tref, fi, line, ext, linkage, p", "vdec", "<dwarf-variable>")
