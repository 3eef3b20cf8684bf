"""A frame's arguments and locals from the ELF's DWARF, evaluated against the registers the
unwinder recovered for that frame and the target's memory: what gdb shows in a frame, for an RTOS
task's frames while the CPU stands in another task (and for a stopped CPU over a transport that
has no debugger of its own to ask).

Where each variable lives at a pc is the DWARF's location (an expression, or a location list for
optimised code): in memory at the frame base (``DW_OP_fbreg``, the frame's CFA here), at a
register plus an offset, in a register, a constant the compiler computed (``DW_OP_stack_value``),
or in pieces of those. A value is shown only when it can be known right:

* in an outer frame only callee-saved registers (and sp) hold the frame's own values — the
  unwinder restores those; a variable that lives in a caller-saved register there is "not saved";
* ``DW_OP_entry_value`` (the value a register had on entry, which the caller no longer holds)
  and pcs a location list does not cover are "optimized out", as gdb says.

Types come from the program's own type table (the DIE offsets the index pass reserved), so values
display and expand like every other value firmwatch shows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmwatch.symbols.program import Program
from firmwatch.symbols.values import Context, Value

Reader = Callable[[int, int], bytes]

# DWARF register numbers whose values an unwound (outer) frame still has: the callee-saved ones and sp
CALLEE_SAVED = {"ARM": frozenset({4, 5, 6, 7, 8, 9, 10, 11, 13}),
                "RISC-V": frozenset({2, 8, 9, *range(18, 28)})}
MAX_BYTES = 4096  # a local bigger than this is shown as its first MAX_BYTES bytes
_VAR_TAGS = ("DW_TAG_formal_parameter", "DW_TAG_variable")


@dataclass(frozen=True, slots=True)
class FrameVar:
    name: str
    argument: bool
    value: Value | None  # None: not available (``why`` says so)
    why: str | None = None
    type_name: str | None = None


class _Unavailable(Exception):
    pass


class FrameVars:
    """One ELF's function scopes, read with pyelftools on first need (one compilation unit at a time)."""

    def __init__(self, program: Program, arch: str):
        self.program = program
        self.arch = arch
        self._dw: Any = None
        self._file: Any = None
        self._cus: dict[int, list[tuple[int, int, Any]]] = {}  # CU offset -> [(low, high, subprogram DIE)]
        self._aranges: Any = None
        self._ctx: Context | None = None

    # -- DWARF lookups ----------------------------------------------------------------------------
    def _open(self) -> Any:
        if self._dw is None:
            from elftools.dwarf.dwarf_expr import DWARFExprParser
            from elftools.dwarf.locationlists import LocationParser
            from elftools.elf.elffile import ELFFile

            self._file = open(self.program.elf.path, "rb")  # noqa: SIM115 - kept open: pyelftools reads lazily
            elf = ELFFile(self._file)
            if not elf.has_dwarf_info():
                self._dw = False
                return self._dw
            self._dw = elf.get_dwarf_info()
            self._loc = LocationParser(self._dw.location_lists())
            self._expr = DWARFExprParser(self._dw.structs)
            self._aranges = self._dw.get_aranges()
        return self._dw

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._dw = None

    def _ranges(self, die: Any) -> list[tuple[int, int]]:
        a = die.attributes
        if "DW_AT_low_pc" in a and "DW_AT_high_pc" in a:
            low = a["DW_AT_low_pc"].value
            high = a["DW_AT_high_pc"].value
            if a["DW_AT_high_pc"].form != "DW_FORM_addr":
                high += low
            return [(low, high)]
        if "DW_AT_ranges" in a:
            rl = self._dw.range_lists()
            if rl is None:
                return []
            try:
                entries = rl.get_range_list_at_offset(a["DW_AT_ranges"].value, cu=die.cu) \
                    if die.cu.header.version >= 5 else rl.get_range_list_at_offset(a["DW_AT_ranges"].value)
            except Exception:  # noqa: BLE001 - an unreadable range list: the scope is not known
                return []
            base = die.cu.get_top_DIE().attributes.get("DW_AT_low_pc")
            base_v = base.value if base is not None else 0
            out = []
            for e in entries:
                if hasattr(e, "base_address"):
                    base_v = e.base_address
                elif hasattr(e, "begin_offset"):
                    absolute = getattr(e, "is_absolute", False)
                    b, n = (e.begin_offset, e.end_offset) if absolute else (base_v + e.begin_offset, base_v + e.end_offset)
                    out.append((b, n))
            return out
        return []

    def _functions(self, cu_offset: int) -> list[tuple[int, int, Any]]:
        fns = self._cus.get(cu_offset)
        if fns is None:
            cu = self._dw.get_CU_at(cu_offset)
            fns = []
            for d in cu.get_top_DIE().iter_children():
                if d.tag == "DW_TAG_subprogram":
                    fns += [(lo, hi, d) for lo, hi in self._ranges(d)]
            fns.sort(key=lambda f: f[0])
            self._cus[cu_offset] = fns
        return fns

    def function_at(self, pc: int) -> Any:
        """The subprogram DIE whose code holds ``pc`` (None: no DWARF for it)."""
        dw = self._open()
        if not dw:
            return None
        cu_offset = self._aranges.cu_offset_at_addr(pc) if self._aranges is not None else None
        cus = [cu_offset] if cu_offset is not None else [cu.cu_offset for cu in dw.iter_CUs()]
        for off in cus:
            fns = self._functions(off)
            i = bisect_right([f[0] for f in fns], pc) - 1
            while i >= 0:
                lo, hi, d = fns[i]
                if lo <= pc < hi:
                    return d
                i -= 1
                if hi <= fns[0][0]:
                    break
        return None

    @staticmethod
    def _origin(die: Any) -> Any:
        """The DIE with the name and type (an abstract origin's, for an inlined or cloned function)."""
        seen = 0
        while seen < 8:
            a = die.attributes
            if "DW_AT_name" in a and ("DW_AT_type" in a or die.tag == "DW_TAG_subprogram"):
                return die
            ref = "DW_AT_abstract_origin" if "DW_AT_abstract_origin" in a else (
                "DW_AT_specification" if "DW_AT_specification" in a else None)
            if ref is None:
                return die
            die = die.get_DIE_from_attribute(ref)
            seen += 1
        return die

    def _scope_vars(self, scope: Any, pc: int, out: list[Any]) -> None:
        for c in scope.iter_children():
            if c.tag in _VAR_TAGS:
                out.append(c)
            elif c.tag == "DW_TAG_lexical_block" and any(lo <= pc < hi for lo, hi in self._ranges(c)):
                self._scope_vars(c, pc, out)
            # an inlined call's variables belong to the inlined function: a frame of its own in gdb,
            # not shown here

    # -- evaluation -------------------------------------------------------------------------------
    def _context(self, read: Reader) -> Context:
        e = self.program.elf
        return Context(self.program.types, e.byteorder, e.word_size, e.machine, self.program.symbolize, read,
                       self.program.language)

    def _type(self, die: Any) -> int | None:
        attr = die.attributes.get("DW_AT_type")
        if attr is None:
            return None
        memo = getattr(getattr(self.program.types.types, "source", None), "memo", None)
        if memo is None:
            return None
        off = attr.value if attr.form == "DW_FORM_ref_addr" else attr.value + die.cu.cu_offset
        return memo.get(off)

    def _location(self, die: Any, pc: int, attr: Any = None) -> list[Any] | None:
        """The location expression's operations at ``pc`` (DW_AT_location, or ``attr``); None: not
        there at that pc."""
        attr = attr if attr is not None else die.attributes.get("DW_AT_location")
        if attr is None:
            return None
        loc = self._loc.parse_from_attribute(attr, die.cu.header.version, die)
        if not isinstance(loc, list):
            return self._expr.parse_expr(loc.loc_expr)
        base_attr = die.cu.get_top_DIE().attributes.get("DW_AT_low_pc")
        base = base_attr.value if base_attr is not None else 0
        for e in loc:
            if hasattr(e, "base_address"):
                base = e.base_address
                continue
            if not hasattr(e, "loc_expr"):
                continue
            absolute = getattr(e, "is_absolute", False)
            lo, hi = (e.begin_offset, e.end_offset) if absolute else (base + e.begin_offset, base + e.end_offset)
            if lo <= pc < hi:
                return self._expr.parse_expr(e.loc_expr)
        return None

    def _eval(self, ops: list[Any], regs: dict[int, int], trusted: frozenset[int] | None, frame_base: Callable[[], int],
              cfa: int | None, read: Reader, size: int) -> bytes:
        """The variable's bytes (``size`` of them) from its location."""
        order = self.program.elf.byteorder
        word = self.program.elf.word_size
        mask = (1 << (8 * word)) - 1

        def reg(n: int) -> int:
            if n not in regs or (trusted is not None and n not in trusted):
                raise _Unavailable("not saved in this frame")
            return regs[n]

        out = b""
        stack: list[int] = []
        where: tuple[str, int] | None = None  # ("reg", n) / ("mem", addr) / ("value", v) for the piece being built
        implicit: bytes | None = None

        def piece(n: int) -> bytes:
            nonlocal where, implicit
            if implicit is not None:
                data = implicit[:n]
            elif where is not None and where[0] == "reg":
                data = reg(where[1]).to_bytes(word, order)[:n] if n <= word else b""
            elif where is not None and where[0] == "value":
                data = (where[1] & mask).to_bytes(max(word, n), order)[:n]
            elif stack:
                data = read(stack[-1], n)
            else:
                raise _Unavailable("optimized out")
            if len(data) < n:
                raise _Unavailable("optimized out")
            stack.clear()
            where, implicit = None, None
            return data

        for op in ops:
            name, args = op.op_name, op.args
            if name.startswith("DW_OP_lit"):
                stack.append(int(name[9:]))
            elif name == "DW_OP_addr":
                stack.append(args[0])
            elif name in ("DW_OP_const1u", "DW_OP_const2u", "DW_OP_const4u", "DW_OP_const8u", "DW_OP_constu",
                          "DW_OP_const1s", "DW_OP_const2s", "DW_OP_const4s", "DW_OP_const8s", "DW_OP_consts"):
                stack.append(args[0] & mask)
            elif name == "DW_OP_fbreg":
                stack.append((frame_base() + args[0]) & mask)
            elif name.startswith("DW_OP_breg") and name != "DW_OP_bregx":
                stack.append((reg(int(name[10:])) + args[0]) & mask)
            elif name == "DW_OP_bregx":
                stack.append((reg(args[0]) + args[1]) & mask)
            elif name.startswith("DW_OP_reg") and name != "DW_OP_regx":
                where = ("reg", int(name[9:]))
            elif name == "DW_OP_regx":
                where = ("reg", args[0])
            elif name == "DW_OP_call_frame_cfa":
                if cfa is None:
                    raise _Unavailable("the frame's CFA is not known")
                stack.append(cfa)
            elif name == "DW_OP_stack_value":
                if not stack:
                    raise _Unavailable("optimized out")
                where = ("value", stack.pop())
            elif name == "DW_OP_implicit_value":
                implicit = bytes(args[1]) if len(args) > 1 else bytes(args[0])
            elif name == "DW_OP_deref":
                stack.append(int.from_bytes(read(stack.pop(), word), order))
            elif name == "DW_OP_plus_uconst":
                stack.append((stack.pop() + args[0]) & mask)
            elif name in _BINARY:
                b, a = stack.pop(), stack.pop()
                stack.append(_BINARY[name](a, b, 8 * word) & mask)
            elif name == "DW_OP_neg":
                stack.append(-stack.pop() & mask)
            elif name == "DW_OP_not":
                stack.append(~stack.pop() & mask)
            elif name == "DW_OP_dup":
                stack.append(stack[-1])
            elif name == "DW_OP_drop":
                stack.pop()
            elif name == "DW_OP_piece":
                out += piece(args[0])
            elif name in ("DW_OP_entry_value", "DW_OP_GNU_entry_value"):
                raise _Unavailable("optimized out")  # its value on entry: the caller no longer holds it
            else:
                raise _Unavailable(f"its location ({name}) is not one firmwatch evaluates")
        if out:
            return out[:size]
        return piece(size)

    def variables(self, pc: int, registers: dict[int, int], cfa: int | None, read: Reader,
                  outer: bool) -> list[FrameVar]:
        """The arguments and locals of the function holding ``pc`` (for an outer frame, its return
        address less one), in declaration order. ``outer``: registers other than the callee-saved
        ones belong to the frames it called."""
        fn = self.function_at(pc)
        if fn is None:
            return []
        dies: list[Any] = []
        self._scope_vars(fn, pc, dies)
        trusted = CALLEE_SAVED.get(self.arch) if outer else None
        base_ops: list[Any] | None = None

        def frame_base() -> int:
            nonlocal base_ops
            if base_ops is None:
                base_ops = self._frame_base_ops(fn, pc)
            if not base_ops:
                raise _Unavailable("the frame base is not known")
            ops = base_ops
            if len(ops) == 1 and ops[0].op_name.startswith("DW_OP_reg") and ops[0].op_name != "DW_OP_regx":
                n = int(ops[0].op_name[9:])
                if n not in registers or (trusted is not None and n not in trusted):
                    raise _Unavailable("the frame base is not saved in this frame")
                return registers[n]
            value = self._eval([*ops, _STACK_VALUE], registers, trusted, lambda: 0, cfa, read, self.program.elf.word_size)
            return int.from_bytes(value, self.program.elf.byteorder)

        ctx = self._context(read)
        out = []
        for d in dies:
            origin = self._origin(d)
            name_attr = origin.attributes.get("DW_AT_name")
            if name_attr is None:
                continue
            name = name_attr.value.decode("utf-8", "replace")
            argument = d.tag == "DW_TAG_formal_parameter"
            tid = self._type(origin)
            type_name = self.program.types.name(tid) if tid is not None else None
            size = self.program.types.sizeof(tid) if tid is not None else None
            if "DW_AT_const_value" in d.attributes and "DW_AT_location" not in d.attributes:
                cv = d.attributes["DW_AT_const_value"].value
                raw = bytes(cv) if isinstance(cv, list) else int(cv).to_bytes(size or 4, self.program.elf.byteorder,
                                                                            signed=int(cv) < 0)
                out.append(FrameVar(name, argument, Value(ctx, tid, raw), None, type_name))
                continue
            if tid is None or not size:
                out.append(FrameVar(name, argument, None, "no type information", type_name))
                continue
            try:
                ops = self._location(d, pc)
                if ops is None:
                    raise _Unavailable("optimized out")
                raw = self._eval(ops, registers, trusted, frame_base, cfa, read, min(size, MAX_BYTES))
                address = None
                if ops and ops[-1].op_name not in ("DW_OP_stack_value", "DW_OP_implicit_value", "DW_OP_piece") \
                        and not ops[-1].op_name.startswith("DW_OP_reg"):
                    address = self._address(ops, registers, trusted, frame_base, cfa, read)
                out.append(FrameVar(name, argument, Value(ctx, tid, raw, address=address, expression=name), None,
                                    type_name))
            except _Unavailable as e:
                out.append(FrameVar(name, argument, None, str(e), type_name))
            except Exception as e:  # noqa: BLE001 - an unreadable local says so; the others still show
                out.append(FrameVar(name, argument, None, f"unreadable: {e}", type_name))
        return out

    def _address(self, ops: list[Any], regs: dict[int, int], trusted: frozenset[int] | None,
                 frame_base: Callable[[], int], cfa: int | None, read: Reader) -> int | None:
        """A memory local's address (for its members' addresses and the targets of pointers): what
        its expression leaves on the stack."""
        try:
            value = self._eval([*ops, _STACK_VALUE], regs, trusted, frame_base, cfa, read, self.program.elf.word_size)
        except Exception:  # noqa: BLE001 - no address: the value still shows
            return None
        return int.from_bytes(value, self.program.elf.byteorder)

    def _frame_base_ops(self, fn: Any, pc: int) -> list[Any] | None:
        attr = fn.attributes.get("DW_AT_frame_base")
        return None if attr is None else self._location(fn, pc, attr)


@dataclass(frozen=True)
class _Op:
    op_name: str
    args: list[Any]


_STACK_VALUE = _Op("DW_OP_stack_value", [])


def _shra(a: int, b: int, bits: int) -> int:
    if a >> (bits - 1):
        a -= 1 << bits
    return a >> b


_BINARY: dict[str, Callable[[int, int, int], int]] = {
    "DW_OP_plus": lambda a, b, _: a + b,
    "DW_OP_minus": lambda a, b, _: a - b,
    "DW_OP_mul": lambda a, b, _: a * b,
    "DW_OP_and": lambda a, b, _: a & b,
    "DW_OP_or": lambda a, b, _: a | b,
    "DW_OP_xor": lambda a, b, _: a ^ b,
    "DW_OP_shl": lambda a, b, _: a << b,
    "DW_OP_shr": lambda a, b, _: a >> b,
    "DW_OP_shra": _shra,
}
