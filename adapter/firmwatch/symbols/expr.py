"""Compile watch expressions into access plans: the memory to read, then how to decode it.

``compile_expression(program, "g_cfg.pid.kp")`` checks names and types once and knows the
static address; ``.bind(read)`` performs pointer hops (``p->x``, ``buf[i]``) against the
target *now* and yields a :class:`BoundPlan` whose fixed regions a stream can sample
coherently, decoding each sample without re-walking the expression.

Everything is evaluated by one walker over the syntax tree, run in three modes:

* compile: no memory; values that need a read are unknown, which is how we learn what is
  static (``static_regions``) and still type-check everything up front;
* bind: reads that locate the object (pointer values, indexes) happen; reads of the
  final value become the plan's regions;
* decode: the plan's computation is replayed over sampled bytes.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmwatch.errors import UserError

from . import parser as P
from .addrspace import pointer_target, pointer_value
from .ctypes_model import TypeModel
from .literals import clip
from .program import SymbolsError, Variable
from .scalars import extract_bits, from_float, from_int, to_float, to_int
from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    Member,
    PointerType,
    StructType,
    TypeId,
    TypeTable,
)
from .values import Context, Value

if TYPE_CHECKING:
    from .program import Program

Reader = Callable[[int, int], bytes]
Number = int | float


@dataclass(frozen=True, slots=True)
class Region:
    """A span of target memory an expression reads."""

    address: int
    size: int


class ExpressionError(UserError):
    """A bad watch expression. ``position`` is the 0-based column; ``str()`` says where (1-based) and why."""

    def __init__(self, position: int, reason: str):
        super().__init__(position, reason)
        self.position = position
        self.reason = reason

    def __str__(self) -> str:
        return f"at column {self.position + 1}: {self.reason}"


# -- computations: what a bound plan replays per sample ------------------------------------------------
class _Unknown:
    """A value that needs memory the compile pass may not read (it sits behind a pointer hop)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True, slots=True)
class Load:
    address: int
    size: int
    tid: TypeId
    bits: tuple[int, int] | None  # (bit offset within the bytes, bit size)


@dataclass(frozen=True, slots=True)
class Const:
    value: Number


@dataclass(frozen=True, slots=True)
class Apply:
    fn: Callable[..., Number]
    args: tuple[Comp, ...]


Comp = Load | Const | Apply | _Unknown


@dataclass(slots=True)
class Operand:
    tid: TypeId | None
    pos: int
    lvalue: bool = False
    address: int | None = None  # lvalues: None when it sits behind a hop not taken in this mode
    bits: tuple[int, int] | None = None
    comp: Comp | None = None  # rvalues
    const_bytes: bytes | None = None  # an aggregate constant with no storage (DW_AT_const_value)


# -- the public objects ---------------------------------------------------------------------------------
class BoundPlan:
    """Fixed regions to sample plus a decoder from their bytes (pointer hops already taken)."""

    __slots__ = ("regions", "_root", "_ctx", "_tid", "_loads", "_format", "_expression", "_model")

    def __init__(
        self,
        regions: list[Region],
        root: Operand,
        loads: dict[Load, int],
        ctx: Context,
        model: TypeModel,
        format: str | None,
        expression: str,
    ):
        self.regions = regions
        self._root = root
        self._loads = loads
        self._ctx = ctx
        self._tid = root.tid
        self._format = format
        self._expression = expression
        self._model = model

    def decode(self, chunks: Sequence[bytes]) -> Value:
        if len(chunks) != len(self.regions):
            raise ValueError(f"expected {len(self.regions)} chunks, got {len(chunks)}")
        root = self._root
        if root.const_bytes is not None:
            return Value(self._ctx, root.tid, root.const_bytes, format=self._format, expression=self._expression)
        if root.lvalue:
            raw = chunks[0] if chunks else b""
            if root.bits is not None:
                signed = self._model.int_info(root.tid)[1]
                v = extract_bits(raw, root.bits[0], root.bits[1], self._ctx.byteorder, signed)
                size = self._ctx.types.sizeof(root.tid) or len(raw)
                return Value(
                    self._ctx,
                    root.tid,
                    from_int(v, size, self._ctx.byteorder),
                    address=root.address,
                    format=self._format,
                    expression=self._expression,
                    bit_size=root.bits[1],
                )
            return Value(
                self._ctx,
                root.tid,
                raw,
                address=root.address,
                format=self._format,
                expression=self._expression,
            )
        assert root.comp is not None
        value = _run(root.comp, lambda ld: _load_value(self._ctx, self._model, ld, chunks[self._loads[ld]]))
        if value is UNKNOWN:  # cannot happen after bind; defensive
            raise ExpressionError(0, "the value could not be computed")
        raw = _encode(self._ctx, self._model, root.tid, value)  # type: ignore[arg-type]
        return Value(self._ctx, root.tid, raw, format=self._format, expression=self._expression)


class CompiledExpression:
    """A checked expression: its type, static location when known, and ways to read or write it."""

    def __init__(self, program: Program, text: str, parsed: P.Parsed, model: TypeModel, root: Operand):
        self.program = program
        self.text = text
        self.body = parsed.body
        self.format = parsed.format
        self._parsed = parsed
        self._model = model
        self._root = root
        self.types: TypeTable = model.table  # resolves every id below, derived ones included
        self.type: TypeId | None = root.tid
        self.type_name: str = model.table.name(root.tid)
        self.is_lvalue = root.lvalue
        self.address: int | None = root.address if root.lvalue else None
        self.is_bitfield = root.bits is not None
        self.bit_size = root.bits[1] if root.bits else None
        self.size: int | None = model.table.sizeof(root.tid)
        const = model.table.is_const(root.tid)
        if not const and self.address is not None:
            sec = program.section_at(self.address)
            const = sec is not None and sec.kind == "flash"
        self.read_only = const

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r}, type={self.type_name!r})"

    def static_regions(self) -> list[Region] | None:
        """The regions to read when they are known without reading memory; None after a pointer hop."""
        root = self._root
        if root.const_bytes is not None:
            return []
        if root.lvalue:
            if root.address is None:
                return None
            return _regions_of(self._model, root)
        loads: list[Load] = []
        assert root.comp is not None
        if not _collect(root.comp, loads):
            return None
        return _dedupe(loads)[0]

    def bind(self, read: Reader) -> BoundPlan:
        """Take the pointer hops now (through ``read``) and fix the regions to sample."""
        root = _Walker(self.program, self._model, read).run(self._parsed.tree)
        ctx = _context(self.program, self._model, read)
        if root.const_bytes is not None:
            return BoundPlan([], root, {}, ctx, self._model, self.format, self.body)
        if root.lvalue:
            if root.address is None:  # pragma: no cover - a real read always yields an address
                raise ExpressionError(root.pos, "the address could not be computed")
            return BoundPlan(
                _regions_of(self._model, root), root, {}, ctx, self._model, self.format, self.body
            )
        loads: list[Load] = []
        assert root.comp is not None
        _collect(root.comp, loads)
        regions, index = _dedupe(loads)
        return BoundPlan(regions, root, index, ctx, self._model, self.format, self.body)

    def evaluate(self, read: Reader) -> Value:
        plan = self.bind(read)
        return plan.decode([read(r.address, r.size) for r in plan.regions])

    def write_target(self, read: Reader) -> tuple[int, TypeId, tuple[int, int] | None]:
        """(address, type, (bit offset, bit size) or None) of the object a write stores into."""
        if not self._root.lvalue:
            raise ExpressionError(
                0, f"expression is not assignable: '{self.body}' is a computed value, not an object"
            )
        root = _Walker(self.program, self._model, read).run(self._parsed.tree)
        if root.const_bytes is not None:
            raise ExpressionError(0, f"'{self.body}' is a constant the compiler kept no storage for: it cannot be written")
        assert root.address is not None and root.tid is not None
        return root.address, root.tid, root.bits

    def member_names(self, arrow: bool = False) -> list[str]:
        """Names that may follow ``.`` (or ``->`` when ``arrow``): for completion in an editor or REPL."""
        t = self.types.resolved(self.type)
        if arrow:
            if not isinstance(t, PointerType):
                return []
            t = self.types.resolved(t.target)
        return _member_names(self.types, t) if isinstance(t, StructType) else []

    def lvalue(self, read: Reader) -> tuple[int, TypeId]:
        address, tid, _ = self.write_target(read)
        return address, tid


def compile_expression(program: Program, text: str) -> CompiledExpression:
    """Parse and type-check ``text`` against ``program``; raises :class:`ExpressionError`."""
    model = TypeModel(program.types, program.elf.word_size, program.elf.machine)

    def is_variable(name: str) -> bool:
        return program.has_variable(name)

    def is_type(name: str) -> bool:
        return model.named(name) is not None

    with P.deep_enough():
        try:
            parsed = P.parse(text, is_type, is_variable)
        except P.ParseError as e:
            raise ExpressionError(e.position, e.reason) from None
        root = _Walker(program, model, None).run(parsed.tree)
    if root.lvalue and model.kind(root.tid) == "void":
        raise ExpressionError(root.pos, "the expression has type void, which has no value to show")
    if root.lvalue and model.table.sizeof(root.tid) is None and model.kind(root.tid) != "function":
        raise ExpressionError(
            root.pos,
            f"'{parsed.body}' has no known size ({model.table.name(root.tid)}); index it or use '@' with a count",
        )
    return CompiledExpression(program, text, parsed, model, root)


# -- helpers --------------------------------------------------------------------------------------------
def _context(program: Program, model: TypeModel, read: Reader | None) -> Context:
    return Context(
        model.table,
        program.elf.byteorder,
        program.elf.word_size,
        program.elf.machine,
        program.symbolize,
        read,
        program.language,
    )


def _regions_of(model: TypeModel, op: Operand) -> list[Region]:
    """The bytes an lvalue occupies (none for a function: it is shown by address)."""
    assert op.address is not None
    if op.bits is not None:
        off, nbits = op.bits
        return [Region(op.address, (off + nbits + 7) // 8)]
    size = model.table.sizeof(op.tid)
    return [Region(op.address, size)] if size else []


def _collect(comp: Comp, out: list[Load]) -> bool:
    """Append the loads of ``comp``; False when some part is unknown (behind a hop)."""
    if isinstance(comp, Load):
        out.append(comp)
        return True
    if isinstance(comp, Apply):
        ok = True
        for a in comp.args:
            ok = _collect(a, out) and ok
        return ok
    return not isinstance(comp, _Unknown)


def _dedupe(loads: list[Load]) -> tuple[list[Region], dict[Load, int]]:
    regions: list[Region] = []
    by_span: dict[tuple[int, int], int] = {}
    index: dict[Load, int] = {}
    for ld in loads:
        key = (ld.address, ld.size)
        if key not in by_span:
            by_span[key] = len(regions)
            regions.append(Region(ld.address, ld.size))
        index[ld] = by_span[key]
    return regions, index


def _run(comp: Comp, load: Callable[[Load], Number | _Unknown]) -> Number | _Unknown:
    if isinstance(comp, Const):
        return comp.value
    if isinstance(comp, Load):
        return load(comp)
    if isinstance(comp, Apply):
        args = [_run(a, load) for a in comp.args]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        return comp.fn(*args)
    return UNKNOWN


def _load_value(ctx: Context, model: TypeModel, ld: Load, raw: bytes) -> Number:
    kind = model.kind(ld.tid)
    if ld.bits is not None:
        return extract_bits(raw, ld.bits[0], ld.bits[1], ctx.byteorder, model.int_info(ld.tid)[1])
    if kind == "float":
        return to_float(raw, ctx.byteorder, ctx.machine)
    bits, signed = model.int_info(ld.tid)
    return to_int(raw[: bits // 8], ctx.byteorder, signed)


def _encode(ctx: Context, model: TypeModel, tid: TypeId | None, value: Number) -> bytes:
    """C conversion of a computed number to ``tid``'s bytes (wraps, no range check)."""
    t = ctx.types.resolved(tid)
    size = ctx.types.sizeof(tid) or 0
    if isinstance(t, BaseType) and t.encoding == Encoding.FLOAT:
        return from_float(float(value), size, ctx.byteorder, ctx.machine)
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) else 0
    if isinstance(t, BaseType) and t.encoding == Encoding.BOOL:
        value = int(bool(value))
    return from_int(int(value), size, ctx.byteorder)


def _div(pos: int, op: str, signed_float: bool) -> Callable[[Number, Number], Number]:
    def fn(a: Number, b: Number) -> Number:
        if b == 0:
            raise ExpressionError(pos, f"division by zero in '{op}'")
        if signed_float:
            return a / b
        q = abs(int(a)) // abs(int(b))
        q = q if (a >= 0) == (b >= 0) else -q  # C truncates toward zero
        return q if op == "/" else int(a) - q * int(b)

    return fn


_COMPARE: dict[str, Callable[[Number, Number], Number]] = {
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    ">": lambda a, b: int(a > b),
    "<=": lambda a, b: int(a <= b),
    ">=": lambda a, b: int(a >= b),
}
_ARITH: dict[str, Callable[[Number, Number], Number]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "&": lambda a, b: int(a) & int(b),
    "|": lambda a, b: int(a) | int(b),
    "^": lambda a, b: int(a) ^ int(b),
}


# -- the walker -----------------------------------------------------------------------------------------
class _Walker:
    def __init__(self, program: Program, model: TypeModel, read: Reader | None):
        self.program = program
        self.model = model
        self.t = model.table
        self.read = read
        self.ctx = _context(program, model, read)

    def run(self, node: P.Node) -> Operand:
        return self.deref_reference(self.visit(node))

    def visit(self, node: P.Node) -> Operand:
        method = getattr(self, "v_" + type(node).__name__)
        return method(node)

    # -- values of operands -------------------------------------------------------------------
    def comp_of(self, op: Operand) -> Comp:
        if not op.lvalue:
            assert op.comp is not None
            return op.comp
        if op.address is None:
            return UNKNOWN
        k = self.model.kind(op.tid)
        if k in ("array", "function"):  # decays to a pointer to the first element / to the code
            return Const(self.pointer_to_address(op.tid, op.address))
        size = self.t.sizeof(op.tid) or 0
        if op.bits is not None:
            size = (op.bits[0] + op.bits[1] + 7) // 8
        assert op.tid is not None
        return Load(op.address, size, op.tid, op.bits)

    def value(self, op: Operand) -> Number | _Unknown:
        """The operand's value now: constant-folded in compile mode, read through ``read`` otherwise."""
        comp = self.comp_of(op)

        def load(ld: Load) -> Number | _Unknown:
            if self.read is None:
                return UNKNOWN
            return _load_value(self.ctx, self.model, ld, self.read(ld.address, ld.size))

        return _run(comp, load)

    def rvalue(self, tid: TypeId | None, pos: int, fn: Callable[..., Number], *args: Operand) -> Operand:
        """An operand computed by ``fn`` from ``args``, normalized to ``tid``; folded when constant."""
        assert tid is not None
        model = self.model

        def wrapped(*vals: Number) -> Number:
            return model.normalize(tid, fn(*vals))

        comp: Comp = Apply(wrapped, tuple(self.comp_of(a) for a in args))
        if all(isinstance(c, Const) for c in comp.args):  # type: ignore[union-attr]
            comp = Const(wrapped(*(c.value for c in comp.args)))  # type: ignore[union-attr]
        return Operand(tid, pos, comp=comp)

    def const(self, tid: TypeId, pos: int, value: Number) -> Operand:
        return Operand(tid, pos, comp=Const(self.model.normalize(tid, value)))

    def describe(self, op: Operand) -> str:
        return self.t.name(op.tid)

    def deref_reference(self, op: Operand) -> Operand:
        """C++ references read through to the object they refer to."""
        t = self.t.resolved(op.tid)
        if isinstance(t, PointerType) and t.reference:
            v = self.value(op)
            addr = None if v is UNKNOWN else self.target_of(t, int(v))  # type: ignore[arg-type]
            return Operand(t.target, op.pos, lvalue=True, address=addr)
        return op

    # -- leaves -------------------------------------------------------------------------------
    def v_IntLit(self, n: P.IntLit) -> Operand:
        unsigned = "u" in n.suffix
        rank = n.suffix.count("l")
        names = ["int", "long int", "long long int"][rank:]
        for name in names:
            canon = name if not unsigned else name.replace("int", "unsigned int")
            tid = self.model.named(canon)
            assert tid is not None
            bits, signed = self.model.int_info(tid)
            if n.value < (1 << (bits - 1 if signed else bits)):
                return self.const(tid, n.pos, n.value)
            if not unsigned:
                utid = self.model.named(name.replace("int", "unsigned int"))
                assert utid is not None
                if n.value < (1 << bits):
                    return self.const(utid, n.pos, n.value)
        raise ExpressionError(n.pos, f"{n.value} is too large for any integer type")

    def v_FloatLit(self, n: P.FloatLit) -> Operand:
        tid = self.model.named("float" if n.suffix == "f" else "double")
        assert tid is not None
        return self.const(tid, n.pos, n.value)

    def v_CharLit(self, n: P.CharLit) -> Operand:
        tid = self.model.named("char")
        assert tid is not None
        return self.const(tid, n.pos, n.value)

    def v_StringLit(self, n: P.StringLit) -> Operand:
        raise ExpressionError(
            n.pos, "a string literal has no address in the target; strings are only for writes"
        )

    def v_Name(self, n: P.Name) -> Operand:
        name = n.name
        try:
            var = self.program.find_variable(name)
        except SymbolsError as e:
            if "ambiguous" in str(e):
                raise ExpressionError(n.pos, str(e)) from None
            var = None
        if var is not None and var.address is None:
            return self.constant(var, n.pos)
        if var is not None:
            tid = var.type
            if tid is None:
                tid = self.model.raw(var.name, var.size, "no debug information for this symbol")
            t = self.t.resolved(tid)
            if isinstance(t, ArrayType) and t.count is None and var.size:
                # "extern int table[];" seen from another file: the symbol table knows the size
                esize = self.t.sizeof(t.element)
                if esize:
                    tid = self.model.array_of(t.element, var.size // esize)
            return Operand(tid, n.pos, lvalue=True, address=var.address)
        sym = self.program.find_symbol(name)
        if sym is not None:
            if sym.kind == "function":
                fn = self.model.function()
                thumb = self.program.elf.machine == "ARM"  # the symbol's low bit marks Thumb code
                return Operand(fn, n.pos, lvalue=True, address=sym.address & ~1 if thumb else sym.address)
            tid = self.model.raw(sym.name, sym.size or None, "no debug information for this symbol")
            return Operand(tid, n.pos, lvalue=True, address=sym.address)
        if name in ("true", "false"):
            tid = self.model.base.by_name.get(
                "bool", self.model.base.by_name.get("_Bool")
            ) or self.model.named("bool")
            assert tid is not None
            return self.const(tid, n.pos, int(name == "true"))
        if name in ("NULL", "nullptr"):
            return self.const(self.model.pointer_to(None), n.pos, 0)
        enum = self.find_enumerator(name)
        if enum is not None:
            return self.const(enum[0], n.pos, enum[1])
        raise ExpressionError(n.pos, f"no symbol '{clip(name, 80)}' in the ELF{self.suggest(name)}")

    def constant(self, var: Variable, pos: int) -> Operand:
        """A variable the compiler folded into the DWARF (DW_AT_const_value): a value, no address."""
        if var.value is None or var.type is None:
            raise ExpressionError(pos, f"'{var.qualified}' is a constant whose value the DWARF does not give")
        return self.const_object(var.type, pos, var.value)

    def const_object(self, tid: TypeId, pos: int, raw: bytes) -> Operand:
        """A constant's bytes as an operand: a number when scalar, else an object with no address."""
        if self.model.kind(tid) in ("int", "float", "pointer"):
            ld = Load(0, len(raw), tid, None)
            return self.const(tid, pos, _load_value(self.ctx, self.model, ld, raw))
        return Operand(tid, pos, lvalue=True, address=None, const_bytes=raw)

    def find_enumerator(self, name: str) -> tuple[TypeId, int] | None:
        return _program_index(self.program).enumerators.get(name)

    def suggest(self, name: str) -> str:
        # Only names of similar length can be close; filtering first keeps a typo in a
        # 20,000-symbol ELF from costing a noticeable pause.
        if len(name) > 200:
            return ""
        slack = max(2, len(name) // 3)
        pool = [p for p in _program_index(self.program).names if abs(len(p) - len(name)) <= slack]
        import difflib  # an error path only

        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
        if not close:
            return ""
        return " (did you mean " + " or ".join(close) + "?)"

    # -- postfix ------------------------------------------------------------------------------
    def v_Member(self, n: P.Member) -> Operand:
        obj = self.deref_reference(self.visit(n.obj))
        if n.arrow:
            k = self.model.kind(obj.tid)
            if k == "struct":
                raise ExpressionError(
                    n.pos, f"'->' needs a pointer, but the left side is a {self.describe(obj)}; use '.'"
                )
            obj = self.deref(obj, n.pos, "->")
        t = self.t.resolved(obj.tid)
        if not isinstance(t, StructType):
            if isinstance(t, PointerType) and not n.arrow:
                raise ExpressionError(
                    n.pos, f"the left side of '.' is a pointer ({self.describe(obj)}); use '->'"
                )
            raise ExpressionError(
                n.pos, f"'{clip(n.name, 80)}' cannot be a member of {self.describe(obj)}: it is not a struct or union"
            )
        found = _find_member(self.t, t, n.name)
        if found is None:
            if t.size is None or t.declaration:
                raise ExpressionError(
                    n.name_pos, f"{self.describe(obj)} is only declared here, its members are unknown"
                )
            names = ", ".join(_member_names(self.t, t)) or "none"
            raise ExpressionError(
                n.name_pos, f"no member '{clip(n.name, 80)}' in {self.describe(obj)} (members: {clip(names, 200)})"
            )
        offset, m = found
        if obj.const_bytes is not None:
            if m.bit_size is not None:
                raise ExpressionError(n.pos, "bitfields of a constant with no storage cannot be shown")
            size = self.t.sizeof(m.type) or 0
            start = offset + m.offset
            return self.const_object(m.type, n.pos, obj.const_bytes[start : start + size])
        if not obj.lvalue:  # pragma: no cover - struct rvalues do not exist in this language
            raise ExpressionError(n.pos, "member access needs an object in memory")
        if m.bit_size is not None and m.bit_offset is not None:
            bit_total = offset * 8 + m.bit_offset
            addr = None if obj.address is None else obj.address + bit_total // 8
            return Operand(m.type, n.pos, lvalue=True, address=addr, bits=(bit_total % 8, m.bit_size))
        addr = None if obj.address is None else obj.address + offset + m.offset
        return Operand(m.type, n.pos, lvalue=True, address=addr)

    def v_Index(self, n: P.Index) -> Operand:
        obj = self.deref_reference(self.visit(n.obj))
        idx = self.deref_reference(self.visit(n.index))
        if self.model.kind(idx.tid) != "int":
            raise ExpressionError(n.index.pos, f"an index must be an integer, not {self.describe(idx)}")
        t = self.t.resolved(obj.tid)
        i = self.value(idx)
        if isinstance(t, ArrayType):
            esize = self.t.sizeof(t.element)
            if i is not UNKNOWN and t.count and not 0 <= int(i) < t.count:  # type: ignore[arg-type]
                raise ExpressionError(
                    n.index.pos,
                    f"index {i} is outside {self.describe(obj)} (valid 0..{t.count - 1}); "
                    "use pointer arithmetic like *(&arr[0] + i) to read past the end on purpose",
                )
            base = obj.address
            tid = t.element
        elif isinstance(t, PointerType):
            if t.target is None or self.model.kind(t.target) == "void":
                raise ExpressionError(
                    n.pos, f"cannot index a {self.describe(obj)}: cast it to a typed pointer first"
                )
            esize = self.t.sizeof(t.target)
            pv = self.value(obj)
            self.check_null(obj, pv, n.pos, "[]")
            base = None if pv is UNKNOWN else self.target_of(t, int(pv))  # type: ignore[arg-type]
            tid = t.target
        else:
            raise ExpressionError(
                n.pos, f"cannot index {self.describe(obj)}: it is not an array or a pointer"
            )
        if esize is None:
            raise ExpressionError(n.pos, f"cannot index: {self.t.name(tid)} has no known size")
        if obj.const_bytes is not None and isinstance(t, ArrayType):
            if i is UNKNOWN:
                raise ExpressionError(n.index.pos, "a constant with no storage is indexed by constants only")
            start = int(i) * esize  # type: ignore[arg-type]
            return self.const_object(tid, n.pos, obj.const_bytes[start : start + esize])
        addr = None if (base is None or i is UNKNOWN) else base + int(i) * esize  # type: ignore[arg-type]
        return Operand(tid, n.pos, lvalue=True, address=addr)

    def deref(self, op: Operand, pos: int, what: str) -> Operand:
        t = self.t.resolved(op.tid)
        if isinstance(t, ArrayType):
            return Operand(t.element, pos, lvalue=True, address=op.address)
        if not isinstance(t, PointerType):
            hint = " cast it first, e.g. *(uint32_t *)0x20000000" if self.model.kind(op.tid) == "int" else ""
            raise ExpressionError(
                pos, f"'{what}' needs a pointer, but the operand is {self.describe(op)};{hint}".rstrip(";")
            )
        if t.target is None or self.model.kind(t.target) == "void":
            raise ExpressionError(
                pos, f"cannot dereference a {self.describe(op)}: cast it to a typed pointer first"
            )
        v = self.value(op)
        self.check_null(op, v, pos, what)
        addr = None if v is UNKNOWN else self.target_of(t, int(v))  # type: ignore[arg-type]
        return Operand(t.target, pos, lvalue=True, address=addr)

    def check_null(self, op: Operand, v: Number | _Unknown, pos: int, what: str) -> None:
        # Reading "through" a NULL pointer found in memory would show whatever sits at address 0
        # (the vector table on a Cortex-M) as if it were the object: say what happened instead.
        # A constant address is deliberate (*(uint32_t *)0 reads the initial stack pointer).
        if v is not UNKNOWN and v == 0 and not isinstance(self.comp_of(op), Const):
            raise ExpressionError(pos, f"'{what}' follows a NULL pointer: there is no object to read")

    def target_of(self, t: PointerType, value: int) -> int:
        """The address a pointer value points at (differs from the value on AVR)."""
        return pointer_target(self.program.elf.machine, value, self.model.kind(t.target) == "function")

    def pointer_to_address(self, tid: TypeId | None, address: int) -> int:
        """The value a pointer to the object of type ``tid`` at ``address`` holds."""
        return pointer_value(self.program.elf.machine, address, self.model.kind(tid) == "function")

    # -- unary --------------------------------------------------------------------------------
    def v_Unary(self, n: P.Unary) -> Operand:
        op = self.visit(n.operand)
        if n.op == "&":
            if op.const_bytes is not None:
                raise ExpressionError(n.pos, "'&' needs an object in memory; this constant has no storage")
            if not op.lvalue:
                raise ExpressionError(n.pos, "'&' needs an object in memory, not a computed value")
            if op.bits is not None:
                raise ExpressionError(n.pos, "cannot take the address of a bitfield")
            ptr = self.model.pointer_to(op.tid)
            if op.address is None:
                return Operand(ptr, n.pos, comp=UNKNOWN)
            return self.const(ptr, n.pos, self.pointer_to_address(op.tid, op.address))
        op = self.deref_reference(op)
        if n.op == "*":
            if self.model.kind(op.tid) == "function":
                return op
            return self.deref(op, n.pos, "*")
        k = self.model.kind(op.tid)
        if n.op == "!":
            if k not in ("int", "float", "pointer", "array"):
                raise ExpressionError(n.pos, f"'!' needs a number or pointer, not {self.describe(op)}")
            return self.rvalue(self.model.int_t(), n.pos, lambda a: int(not a), op)
        if k not in ("int", "float") or (n.op == "~" and k != "int"):
            need = "an integer" if n.op == "~" else "a number"
            raise ExpressionError(n.pos, f"'{n.op}' needs {need}, not {self.describe(op)}")
        assert op.tid is not None
        tid = self.model.promote(op.tid)
        if n.op == "-":
            return self.rvalue(tid, n.pos, lambda a: -a, op)
        if n.op == "~":
            return self.rvalue(tid, n.pos, lambda a: ~int(a), op)
        return self.rvalue(tid, n.pos, lambda a: a, op)

    def v_Cast(self, n: P.Cast) -> Operand:
        tid = self.type_of(n.type)
        op = self.deref_reference(self.visit(n.operand))
        target_kind = self.model.kind(tid)
        src_kind = self.model.kind(op.tid)
        if target_kind in ("struct", "array", "function", "other"):
            raise ExpressionError(
                n.pos,
                f"cannot cast to {self.t.name(tid)}; cast a pointer instead, e.g. *({self.t.name(tid)} *)&x",
            )
        if target_kind == "void":
            raise ExpressionError(n.pos, "a cast to void has no value to show")
        if src_kind not in ("int", "float", "pointer", "array", "function"):
            raise ExpressionError(n.pos, f"cannot cast {self.describe(op)} to {self.t.name(tid)}")
        if target_kind == "pointer" and src_kind == "float":
            raise ExpressionError(n.pos, "cannot cast a floating-point value to a pointer")
        if op.lvalue and op.bits is None and self.t.strip(op.tid) == self.t.strip(tid):
            return op  # a no-op cast keeps the object (and so stays writable)
        return self.rvalue(tid, n.pos, lambda a: a, op)

    def type_of(self, spec: P.TypeSpec) -> TypeId:
        tid = self.model.named(spec.base)
        if tid is None:
            raise ExpressionError(
                spec.pos, f"unknown type '{clip(spec.base, 80)}' in cast{self.suggest_type(spec.base)}"
            )
        for q in spec.qualifiers:
            tid = self.model.qualified(tid, q)
        for quals in spec.pointers:
            tid = self.model.pointer_to(tid)
            for q in quals:
                tid = self.model.qualified(tid, q)
        return tid

    def suggest_type(self, name: str) -> str:
        if len(name) > 200:
            return ""
        import difflib  # an error path only

        close = difflib.get_close_matches(name, sorted(self.model.base.by_name), n=3, cutoff=0.6)
        return " (did you mean " + " or ".join(close) + "?)" if close else ""

    def v_SizeofType(self, n: P.SizeofType) -> Operand:
        tid = self.type_of(n.type)
        size = self.t.sizeof(tid)
        if size is None:
            raise ExpressionError(n.pos, f"sizeof: {self.t.name(tid)} has no known size")
        return self.const(self.model.size_t(), n.pos, size)

    def v_SizeofExpr(self, n: P.SizeofExpr) -> Operand:
        saved = self.read
        self.read = None  # sizeof never evaluates its operand
        try:
            op = self.deref_reference(self.visit(n.operand))
        finally:
            self.read = saved
        size = (op.bits[1] + 7) // 8 if op.bits else self.t.sizeof(op.tid)
        if size is None:
            raise ExpressionError(n.pos, f"sizeof: {self.describe(op)} has no known size")
        return self.const(self.model.size_t(), n.pos, size)

    # -- binary -------------------------------------------------------------------------------
    def v_Binary(self, n: P.Binary) -> Operand:
        if n.op == "@":
            return self.at(n)
        a = self.deref_reference(self.visit(n.left))
        b = self.deref_reference(self.visit(n.right))
        ka, kb = self.model.kind(a.tid), self.model.kind(b.tid)
        op = n.op
        for side, o, k in (("left", a, ka), ("right", b, kb)):
            if k not in ("int", "float", "pointer", "array", "function"):
                raise ExpressionError(
                    n.pos, f"the {side} operand of '{op}' is {self.describe(o)}, not a number or pointer"
                )
        int_t = self.model.int_t()
        if op in ("&&", "||"):
            fn = (
                (lambda x, y: int(bool(x) and bool(y)))
                if op == "&&"
                else (lambda x, y: int(bool(x) or bool(y)))
            )
            return self.rvalue(int_t, n.pos, fn, a, b)
        ptr_a, ptr_b = ka in ("pointer", "array", "function"), kb in ("pointer", "array", "function")
        if ptr_a or ptr_b:
            return self.pointer_binary(n, a, b, ptr_a, ptr_b)
        assert a.tid is not None and b.tid is not None
        if op in _COMPARE:
            return self.rvalue(int_t, n.pos, _COMPARE[op], a, b)
        if op in ("<<", ">>"):
            if ka != "int" or kb != "int":
                raise ExpressionError(n.pos, f"'{op}' needs integers")
            tid = self.model.promote(a.tid)
            bits = self.model.int_info(tid)[0]
            bv = self.value(b)
            if bv is not UNKNOWN and not 0 <= int(bv) < bits:  # type: ignore[arg-type]
                raise ExpressionError(
                    n.right.pos, f"shift count {bv} is outside 0..{bits - 1} for {self.t.name(tid)}"
                )
            pos = n.pos

            def shift(x: Number, y: Number) -> Number:
                if not 0 <= int(y) < bits:
                    raise ExpressionError(pos, f"shift count {y} is outside 0..{bits - 1}")
                return int(x) << int(y) if op == "<<" else int(x) >> int(y)

            return self.rvalue(tid, n.pos, shift, a, b)
        tid = self.model.common(a.tid, b.tid)
        is_float = self.model.kind(tid) == "float"
        if op in ("%", "&", "|", "^") and is_float:
            raise ExpressionError(n.pos, f"'{op}' needs integers, not floating-point values")
        if op in ("/", "%"):
            bv = self.value(b)
            if bv is not UNKNOWN and bv == 0:
                raise ExpressionError(n.pos, f"division by zero in '{op}'")
            return self.rvalue(tid, n.pos, _div(n.pos, op, is_float), a, b)
        return self.rvalue(tid, n.pos, _ARITH[op], a, b)

    def pointer_binary(self, n: P.Binary, a: Operand, b: Operand, ptr_a: bool, ptr_b: bool) -> Operand:
        op = n.op
        int_t = self.model.int_t()
        if op in _COMPARE:
            return self.rvalue(int_t, n.pos, _COMPARE[op], a, b)
        if op == "-" and ptr_a and ptr_b:
            sa, sb = self.elem_size(a, n.pos), self.elem_size(b, n.pos)
            if sa != sb:
                raise ExpressionError(n.pos, f"cannot subtract {self.describe(b)} from {self.describe(a)}")
            return self.rvalue(self.model.ptrdiff_t(), n.pos, lambda x, y: (int(x) - int(y)) // sa, a, b)
        if op in ("+", "-") and ptr_a != ptr_b:
            ptr, num = (a, b) if ptr_a else (b, a)
            if op == "-" and ptr_b:
                raise ExpressionError(n.pos, "cannot subtract a pointer from a number")
            if self.model.kind(num.tid) != "int":
                raise ExpressionError(n.pos, f"pointer arithmetic needs an integer, not {self.describe(num)}")
            size = self.elem_size(ptr, n.pos)
            ptid = self.pointer_type(ptr)
            sign = 1 if op == "+" else -1
            if ptr_a:
                return self.rvalue(ptid, n.pos, lambda p, i: int(p) + sign * int(i) * size, ptr, num)
            return self.rvalue(ptid, n.pos, lambda i, p: int(p) + int(i) * size, num, ptr)
        raise ExpressionError(n.pos, f"'{op}' cannot combine {self.describe(a)} and {self.describe(b)}")

    def pointer_type(self, op: Operand) -> TypeId:
        t = self.t.resolved(op.tid)
        if isinstance(t, ArrayType):
            return self.model.pointer_to(t.element)
        if isinstance(t, FunctionType):
            return self.model.pointer_to(op.tid)
        assert op.tid is not None
        return op.tid

    def elem_size(self, op: Operand, pos: int) -> int:
        t = self.t.resolved(op.tid)
        if isinstance(t, ArrayType):
            target: TypeId | None = t.element
        elif isinstance(t, PointerType):
            target = t.target
        else:
            return 1
        if target is None or self.model.kind(target) in ("void", "function"):
            return 1  # gdb (and GNU C) treat void * arithmetic as byte arithmetic
        size = self.t.sizeof(target)
        if size is None:
            raise ExpressionError(
                pos, f"pointer arithmetic on {self.describe(op)}: the target has no known size"
            )
        return size

    def at(self, n: P.Binary) -> Operand:
        left = self.deref_reference(self.visit(n.left))
        if not left.lvalue or left.bits is not None:
            raise ExpressionError(n.pos, "the left side of '@' must be an object in memory, e.g. arr[2]@4")
        if self.model.kind(left.tid) == "function":
            raise ExpressionError(n.pos, "the left side of '@' cannot be a function")
        saved = self.read
        self.read = None  # the count fixes the type, so it must not depend on memory
        try:
            count_op = self.visit(n.right)
            count = self.value(count_op)
        finally:
            self.read = saved
        if count is UNKNOWN or self.model.kind(count_op.tid) != "int":
            raise ExpressionError(n.right.pos, "the count after '@' must be a constant integer")
        if int(count) <= 0:  # type: ignore[arg-type]
            raise ExpressionError(n.right.pos, f"the count after '@' must be positive, not {count}")
        if self.t.sizeof(left.tid) is None:
            raise ExpressionError(n.pos, f"'@' needs elements of known size, not {self.describe(left)}")
        assert left.tid is not None
        return Operand(self.model.array_of(left.tid, int(count)), n.pos, lvalue=True, address=left.address)  # type: ignore[arg-type]

    def v_Conditional(self, n: P.Conditional) -> Operand:
        cond = self.deref_reference(self.visit(n.cond))
        a = self.deref_reference(self.visit(n.then))
        b = self.deref_reference(self.visit(n.other))
        for o in (cond, a, b):
            if self.model.kind(o.tid) not in ("int", "float", "pointer", "array"):
                raise ExpressionError(o.pos, f"'?:' works on numbers and pointers, not {self.describe(o)}")
        assert a.tid is not None and b.tid is not None
        if self.model.kind(a.tid) in ("pointer", "array"):
            tid = self.pointer_type(a)
        else:
            tid = self.model.common(a.tid, b.tid)
        return self.rvalue(tid, n.pos, lambda c, x, y: x if c else y, cond, a, b)


@dataclass
class _ProgramIndex:
    names: list[str]  # every spelling a user may mean, for suggestions
    enumerators: dict[str, tuple[TypeId, int]]


_INDEXES: dict[int, _ProgramIndex] = {}


def _program_index(program: Program) -> _ProgramIndex:
    """Per-program lookups built on first need (only unknown names and enum constants need them)."""
    key = id(program)
    index = _INDEXES.get(key)
    if index is None:
        names = {v.name for v in program.variables} | {v.qualified for v in program.variables}
        names |= {s.name for s in program.symbols if s.kind in ("object", "function")}
        enumerators: dict[str, tuple[TypeId, int]] = {}
        for tid in range(len(program.types)):
            t = program.types[tid]
            if isinstance(t, EnumType):
                for ename, v in t.enumerators:
                    enumerators.setdefault(ename, (tid, v))
        index = _INDEXES[key] = _ProgramIndex(sorted(names), enumerators)
        weakref.finalize(program, _INDEXES.pop, key, None)
    return index


def _find_member(types: TypeTable, t: StructType, name: str) -> tuple[int, Member] | None:
    """The member called ``name`` with the extra offset of the anonymous members/bases holding it."""
    for m in t.members:
        if m.name == name:
            return 0, m
    for m in list(t.members) + list(t.bases):
        if m.name is None or m in t.bases:
            inner = types.resolved(m.type)
            if isinstance(inner, StructType):
                found = _find_member(types, inner, name)
                if found is not None:
                    return m.offset + found[0], found[1]
    return None


def _member_names(types: TypeTable, t: StructType) -> list[str]:
    out: list[str] = []
    for m in t.members:
        if m.name is None:
            inner = types.resolved(m.type)
            if isinstance(inner, StructType):
                out += _member_names(types, inner)
        else:
            out.append(m.name)
    for b in t.bases:
        inner = types.resolved(b.type)
        if isinstance(inner, StructType):
            out += _member_names(types, inner)
    return out


__all__ = ["BoundPlan", "CompiledExpression", "ExpressionError", "Region", "compile_expression"]
