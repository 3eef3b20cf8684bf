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


# -- interpreted decoders: what a shape uses before it has earned generated code ------------------
# Compiling a shape costs about as much as decoding a few dozen DIEs with it, and most shapes of
# a program are met only a few times: they are interpreted from the same table (reader.py
# switches a shape to generated code once it is used often).


def _step(at: int, code: int, implicit: int, asz: int, osz: int, ver: int, bo: str, sections: Any,
          strp: Callable[[int], str]) -> Callable[[bytes, int, int], tuple[Any, int]] | None:
    f = FORMS.get(code)
    if f is None:
        return None
    n = fixed_size(f, asz, osz, ver)
    kind = f.value
    if f.size == IMPLICIT:
        return lambda d, p, cu: (implicit, p)
    if kind == PRESENT:
        return lambda d, p, cu: (True, p)
    if n is not None and kind in _FIXED_POST:
        sc = _STRUCT_CODE.get(n)
        if sc is None:
            return None
        u = struct.Struct(bo + sc).unpack_from
        if sized_const(at, f):
            return lambda d, p, cu: ((u(d, p)[0], n), p + n)
        if kind == REF:
            return lambda d, p, cu: (u(d, p)[0] + cu, p + n)
        if kind == STRP:
            return lambda d, p, cu: (strp(u(d, p)[0]), p + n)
        if kind == LINE_STRP:
            return lambda d, p, cu: (cstr(sections.line_str, u(d, p)[0]), p + n)
        if kind == FLAG:
            return lambda d, p, cu: (u(d, p)[0] != 0, p + n)
        if kind in (SIG8, SUP):
            tag = "sig8" if kind == SIG8 else "alt"
            return lambda d, p, cu: ((tag, u(d, p)[0]), p + n)
        return lambda d, p, cu: (u(d, p)[0], p + n)
    if n is None and kind in (STRING, BYTES, SDATA, UDATA, REF, LISTX):
        size = f.size
        if size == CSTRING:
            def cs(d: bytes, p: int, cu: int) -> tuple[Any, int]:
                e = d.find(b"\0", p)
                return d[p:e].decode("utf-8", "replace"), e + 1
            return cs
        if size == BLOCK:
            def bl(d: bytes, p: int, cu: int) -> tuple[Any, int]:
                k, p = uleb(d, p)
                return d[p : p + k], p + k
            return bl
        if size == BLOCK1:
            return lambda d, p, cu: (d[p + 1 : p + 1 + d[p]], p + 1 + d[p])
        if size in (BLOCK2, BLOCK4):
            w = 2 if size == BLOCK2 else 4
            uw = struct.Struct(bo + ("H" if w == 2 else "I")).unpack_from

            def bw(d: bytes, p: int, cu: int) -> tuple[Any, int]:
                k = uw(d, p)[0]
                return d[p + w : p + w + k], p + w + k
            return bw
        if size == SLEB:
            return lambda d, p, cu: sleb(d, p)
        if kind == REF:
            def ru(d: bytes, p: int, cu: int) -> tuple[Any, int]:
                v, p = uleb(d, p)
                return v + cu, p
            return ru
        return lambda d, p, cu: uleb(d, p)
    return None


def interpreted_attrs(specs: Specs, asz: int, osz: int, ver: int, bo: str, sections: Any,
                      strp: Callable[[int], str]) -> Callable[[bytes, int, int], tuple[dict[int, Any], int]] | None:
    """What :func:`attrs_decoder` generates, as a loop over one step per attribute."""
    steps = []
    for at, code, implicit in specs:
        st = _step(at, code, implicit, asz, osz, ver, bo, sections, strp)
        if st is None:
            return None
        steps.append((at, st))

    def decode(d: bytes, p: int, cu: int) -> tuple[dict[int, Any], int]:
        a: dict[int, Any] = {}
        for at, st in steps:
            a[at], p = st(d, p, cu)
        return a, p

    return decode


def interpreted_variable(specs: Specs, asz: int, osz: int, ver: int, bo: str, sections: Any,
                         strp: Callable[[int], str]) -> Any:
    """What :func:`variable_decoder` generates, through :func:`interpreted_attrs`."""
    if asz not in _STRUCT_CODE or any(at in (AT_specification, AT_abstract_origin, AT_declaration)
                                      for at, _c, _i in specs):
        return None
    dec = interpreted_attrs(specs, asz, osz, ver, bo, sections, strp)
    if dec is None:
        return None
    addr_of = struct.Struct(bo + _STRUCT_CODE[asz]).unpack_from

    def vdec(d: bytes, p: int, cu: int) -> tuple[Any, ...]:
        a, p = dec(d, p, cu)
        loc = a.get(AT_location)
        addr = None
        if type(loc) is bytes and len(loc) == 1 + asz and loc[0] == OP_addr:
            addr = addr_of(loc, 1)[0]
        name = a.get(AT_name)
        linkage = a.get(AT_linkage_name, a.get(AT_MIPS_linkage_name))
        fi, line = a.get(AT_decl_file), a.get(AT_decl_line)
        return (name if type(name) is str else None, addr, a.get(AT_type), fi if type(fi) is int else None,
                line if type(line) is int else None, bool(a.get(AT_external)),
                linkage if type(linkage) is str else None, p)

    return vdec


def interpreted_skipper(specs: Specs, asz: int, osz: int, ver: int, bo: str = "<") -> Any:
    """What :func:`skipper` generates for a shape with variable-length forms, as a loop."""
    steps: list[Any] = []
    u2 = struct.Struct(bo + "H").unpack_from
    u4 = struct.Struct(bo + "I").unpack_from
    for _at, code, _imp in specs:
        f = FORMS.get(code)
        if f is None:
            return None
        k = fixed_size(f, asz, osz, ver)
        if k is not None:
            steps.append(k)
            continue
        size = f.size
        if size == CSTRING:
            steps.append(lambda d, p: d.index(0, p) + 1)
        elif size == BLOCK:
            steps.append(lambda d, p: (lambda kp: kp[0] + kp[1])(uleb(d, p)))
        elif size == BLOCK1:
            steps.append(lambda d, p: p + 1 + d[p])
        elif size == BLOCK2:
            steps.append(lambda d, p: p + 2 + u2(d, p)[0])
        elif size == BLOCK4:
            steps.append(lambda d, p: p + 4 + u4(d, p)[0])
        elif size in (ULEB, SLEB):
            steps.append(lambda d, p: uleb(d, p)[1])
        else:
            return None

    def skip(d: bytes, p: int) -> int:
        for st in steps:
            p = p + st if type(st) is int else st(d, p)
        return p

    return skip
