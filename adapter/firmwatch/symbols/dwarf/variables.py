"""Which DIEs are global or static variables, and under which scope names.

Walks the DIE trees the index pass kept: namespaces and classes give C++ names their
scope, functions give statics theirs; a variable's type is reserved (not built).
"""

from __future__ import annotations

from .builder import Builder
from .constants import (
    LANG_C,
    STRUCT_KINDS,
    TYPE_TAGS,
    AT_abstract_origin,
    AT_const_value,
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
    OP_addrx,
    OP_GNU_addr_index,
    TAG_inlined_subroutine,
    TAG_lexical_block,
    TAG_member,
    TAG_namespace,
    TAG_subprogram,
    TAG_variable,
)
from .die import Die
from .encoding import uleb
from .results import RawVariable
from .units import Unit


class VariableWalk:
    def __init__(self, builder: Builder) -> None:
        self.b = builder

    def walk_unit(self, unit: Unit, out: list[RawVariable]) -> None:
        top = unit.top
        assert top is not None
        if unit.language not in LANG_C:  # C has no namespaces or nested scopes
            self._scan_scopes(top, (), "cu")
        self._walk_children(top, (), "cu", None, unit, out)

    def _scan_scopes(self, parent: Die, scope: tuple[str, ...], kind: str) -> None:
        """Record the namespace/class path of every DIE before any type is named from it."""
        for die in parent.children:
            if scope:
                self.b.scope_of[die.offset] = (scope, kind)
            if die.tag == TAG_namespace:
                n = die.attrs.get(AT_name)
                self._scan_scopes(die, (*scope, n if isinstance(n, str) else "(anonymous namespace)"), "namespace")
            elif die.tag in STRUCT_KINDS and die.children:
                n = die.attrs.get(AT_name)
                if isinstance(n, str):
                    self._scan_scopes(die, (*scope, n), "class")

    def _walk_children(
        self,
        parent: Die,
        scope: tuple[str, ...],
        kind: str,
        func: str | Die | None,
        unit: Unit,
        out: list[RawVariable],
    ) -> None:
        for die in parent.children:
            if type(die) is RawVariable:  # a plain C global, read by the index pass
                t = die.type
                if t is not None and t < 0:
                    die.type = self.b.type_of(-1 - t)  # type: ignore[attr-defined]
                out.append(die)  # type: ignore[arg-type]
                continue
            tag = die.tag
            try:
                if tag == TAG_variable:
                    self._variable(die, scope, kind, func, unit, out)
                elif tag == TAG_namespace:
                    n = die.attrs.get(AT_name)
                    ns = n if isinstance(n, str) else "(anonymous namespace)"
                    self._walk_children(die, (*scope, ns), "namespace", None, unit, out)
                elif tag in (TAG_subprogram, TAG_lexical_block, TAG_inlined_subroutine):
                    # the function is named when a static is found in it: most have none, and
                    # a definition's name may sit in a declaration not read yet
                    f = die if tag == TAG_subprogram else func
                    if die.children:
                        # statics of functions: scope names stay those of the enclosing namespace
                        self._walk_children(die, scope, kind if tag != TAG_subprogram else kind, f, unit, out)
                elif tag in STRUCT_KINDS:
                    if func is None:
                        self.b.declare(die)
                    n = die.attrs.get(AT_name)
                    if isinstance(n, str) and die.children:
                        self._walk_children(die, (*scope, n), "class", func, unit, out)
                elif tag in TYPE_TAGS:
                    if func is None and AT_name in die.attrs:
                        self.b.declare(die)
                elif tag == TAG_member and die.attrs.get(AT_declaration) and kind == "class":
                    pass  # static data member declaration: its scope was recorded above
            except RecursionError:
                self.b.notes.append(f"DIE 0x{die.offset:x}: type nesting too deep")
            except Exception as e:  # noqa: BLE001 - one odd DIE must not lose the rest
                self.b.notes.append(f"DIE 0x{die.offset:x}: {type(e).__name__}: {e}")

    def _variable(
        self,
        die: Die,
        scope: tuple[str, ...],
        kind: str,
        func: str | Die | None,
        unit: Unit,
        out: list[RawVariable],
    ) -> None:
        if isinstance(func, Die):
            func = self.b.name_of(func) or "?"  # its locals are never file-scope
        a = die.attrs
        if func is None and not scope and AT_specification not in a and AT_abstract_origin not in a:
            # the common case (a C global or file static at a fixed address), without detours
            loc = a.get(AT_location)
            name = a.get(AT_name)
            if type(loc) is bytes and loc[:1] == b"\x03" and len(loc) == 1 + unit.address_size and type(name) is str:
                tref = a.get(AT_type)
                tid = self.b.memo.get(tref) if tref is not None else None
                if tid is None and isinstance(tref, int):
                    tid = self.b.type_of(tref)
                fi = a.get(AT_decl_file)
                file = None
                if isinstance(fi, int):
                    i = fi - unit.file_base
                    files = unit.files
                    if 0 <= i < len(files):
                        file = files[i]
                line = a.get(AT_decl_line)
                linkage = a.get(AT_linkage_name, a.get(AT_MIPS_linkage_name))
                out.append(
                    RawVariable(
                        name,
                        (),
                        "global" if a.get(AT_external) else "file",
                        None,
                        int.from_bytes(loc[1:], "little" if self.b.little else "big"),
                        tid,
                        file,
                        line if isinstance(line, int) else None,
                        unit.name,
                        linkage if isinstance(linkage, str) else None,
                    )
                )
                return
        origin: Die | None = None
        if AT_specification in a or AT_abstract_origin in a:
            for ref_at in (AT_specification, AT_abstract_origin):
                r = a.get(ref_at)
                if isinstance(r, int):
                    origin = self.b.die_at(r)
                    if origin is not None:
                        break
        loc = a.get(AT_location)
        address: int | None = None
        if isinstance(loc, (bytes, bytearray)) and loc:
            op = loc[0]
            if op == OP_addr and len(loc) == 1 + unit.address_size:
                address = int.from_bytes(loc[1:], "little" if self.b.little else "big")
            elif op in (OP_addrx, OP_GNU_addr_index) and len(loc) > 1:
                # DWARF 5 as LLVM (clang, rustc) writes it: an index into .debug_addr
                idx, end = uleb(loc, 1)
                if end != len(loc) or self.b.addrx is None:
                    return
                address = self.b.addrx(unit.addr_base, idx, unit.address_size)
            else:
                return  # a local on the stack / in a register, or TLS: not a static
        const = None
        declared = bool(a.get(AT_declaration))
        if loc is None and func is None and (not declared or kind == "class"):  # (in a function: a local)
            # no storage: the compiler folded the value into the DWARF (static T *const regs = ...),
            # or a class's 'static const int N = 3;' that no unit defines
            const = a.get(AT_const_value)
            if const is None and origin is not None:
                const = origin.attrs.get(AT_const_value)
        if address is not None or const is not None:
            pass
        elif loc is not None:
            return  # location list: a local variable
        elif not a.get(AT_declaration) or func is not None:
            return  # optimized out, or a block-scope extern declaration
        if address is None and origin is not None and const is None:
            return  # a definition without location: optimized out
        name = a.get(AT_name)
        if not isinstance(name, str) and origin is not None:
            name = origin.attrs.get(AT_name)
        if not isinstance(name, str):
            return
        tref = a.get(AT_type)
        if tref is None and origin is not None:
            tref = origin.attrs.get(AT_type)
        tid = self.b.type_of(tref) if isinstance(tref, int) else None
        src = die if AT_decl_file in a else (origin or die)
        file = self._file(src, unit)
        line = src.attrs.get(AT_decl_line) if isinstance(src.attrs.get(AT_decl_line), int) else None
        external = bool(a.get(AT_external) or (origin is not None and origin.attrs.get(AT_external)))
        if origin is not None and origin.offset in self.b.scope_of:
            scope_parts, skind = self.b.scope_of[origin.offset]
            vscope = "class" if skind == "class" else "namespace"
        elif scope:
            scope_parts, vscope = scope, ("class" if kind == "class" else "namespace")
        else:
            scope_parts = ()
            vscope = "global" if external else "file"
        if func is not None:
            vscope = "function"
        linkage = a.get(AT_linkage_name, a.get(AT_MIPS_linkage_name))
        if linkage is None and origin is not None:
            linkage = origin.attrs.get(AT_linkage_name, origin.attrs.get(AT_MIPS_linkage_name))
        out.append(
            RawVariable(
                name=name,
                scope_parts=scope_parts if func is None else (),
                scope=vscope,
                function=func,
                address=address,
                type=tid,
                file=file,
                line=line,
                cu_name=unit.name,
                linkage_name=linkage if isinstance(linkage, str) else None,
                value=None if const is None else self._const_bytes(const, tid),
                declared=declared,
            )
        )

    def _const_bytes(self, v: object, tid: int | None) -> bytes | None:
        """A DW_AT_const_value as the bytes the object would hold in the target."""
        size = self.b.sizeof(tid)
        order = "little" if self.b.little else "big"
        if isinstance(v, tuple):  # data1..8: (raw, bytes in the form)
            raw, n = v
            size = size or n
            return (raw & ((1 << (8 * size)) - 1)).to_bytes(size, order)
        if isinstance(v, bool) or not isinstance(v, (int, bytes)):
            return None
        if isinstance(v, bytes):
            return v
        if not size:
            return None
        return (v & ((1 << (8 * size)) - 1)).to_bytes(size, order)  # sdata/udata, two's complement

    def _file(self, die: Die, unit: Unit) -> str | None:
        idx = die.attrs.get(AT_decl_file)
        if not isinstance(idx, int):
            return None
        files = die.cu.files if die.cu is not None else unit.files
        base = die.cu.file_base if die.cu is not None else unit.file_base
        i = idx - base
        if 0 <= i < len(files):
            return files[i]
        return None

    # ---- types
