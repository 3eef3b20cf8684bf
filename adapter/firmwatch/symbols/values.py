"""The typed value tree: target bytes plus a type, displayed the way gdb prints them.

A :class:`Value` holds the raw bytes of one object and decodes lazily: a watch sampled at
1 kHz but shown at 10 Hz only pays for the display it shows. Children (struct members,
array elements, the target of a pointer) are built on demand and carry an expression that
compiles back to them, so a UI can add any child as a watch of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .addrspace import pointer_target
from .literals import char_literal, escape_char, format_float
from .scalars import extract_bits, float_bits, from_int, to_float, to_int, wrap
from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    Member,
    PointerType,
    StructType,
    Type,
    TypeId,
    TypeTable,
    UnsupportedType,
    VariantType,
    VoidType,
)

PRINT_ELEMENTS = 200  # gdb's default `print elements`
REPEAT_THRESHOLD = 10  # gdb's default `print repeats`

Reader = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class Context:
    """What decoding needs besides the bytes: the type table and the target's conventions."""

    types: TypeTable
    byteorder: str
    word_size: int
    machine: str | None = None
    symbolize: Callable[[int], str | None] | None = None
    read: Reader | None = None  # lets a pointer expand to its target on demand
    language: str = "c"  # "rust" switches to Rust's spelling of structs, arrays and enums (as gdb does)


_CHAR_ENCODINGS = (Encoding.SIGNED_CHAR, Encoding.UNSIGNED_CHAR)
_SIGNED_ENCODINGS = (Encoding.SIGNED, Encoding.SIGNED_CHAR)
_POSTFIX_RE = re.compile(
    r"^(?:'[^']*'::)?[A-Za-z_$][\w$]*(?:::[A-Za-z_$][\w$]*)*(?:\.[A-Za-z_$][\w$]*|->[A-Za-z_$][\w$]*|\[[^\[\]]*\])*$"
)


def postfix_operand(expression: str) -> str:
    """``expression`` made safe to put ``.x`` or ``[i]`` after it."""
    return expression if _POSTFIX_RE.match(expression) else f"({expression})"


def is_signed_type(types: TypeTable, tid: TypeId | None) -> bool:
    t = types.resolved(tid)
    if isinstance(t, BaseType):
        return t.encoding in _SIGNED_ENCODINGS
    if isinstance(t, EnumType):
        return t.signed
    return False


def is_char_type(t: Type) -> bool:
    return isinstance(t, BaseType) and t.encoding in _CHAR_ENCODINGS and t.size == 1


class Value:
    """One decoded object. ``raw`` is exactly its bytes (a bitfield's value re-encoded at its type's size)."""

    __slots__ = (
        "ctx",
        "type",
        "raw",
        "address",
        "format",
        "expression",
        "note",
        "bit_size",
        "_deref_of",
        "_t",
    )

    def __init__(
        self,
        ctx: Context,
        tid: TypeId | None,
        raw: bytes,
        *,
        address: int | None = None,
        format: str | None = None,
        expression: str | None = None,
        note: str | None = None,
        bit_size: int | None = None,
        deref_of: str | None = None,
    ):
        self.ctx = ctx
        self.type = tid
        self.raw = bytes(raw)
        self.address = address
        self.format = format
        self.expression = expression
        self.bit_size = bit_size
        self._deref_of = deref_of  # set on "*p" so members read "p->x"
        t = ctx.types.resolved(tid) if tid is not None else UnsupportedType("?", len(raw), "no debug info")
        self._t: Type = t
        if note is None:
            if isinstance(t, UnsupportedType):
                note = f"{t.note}: raw bytes" if tid is not None else "no type information: raw bytes"
            else:
                size = ctx.types.sizeof(tid)
                if size is not None and len(self.raw) < size and not isinstance(t, FunctionType):
                    note = f"only {len(self.raw)} of {size} bytes available"
        self.note = note

    def __repr__(self) -> str:
        return f"Value({self.type_name}, {self.display()})"

    # -- description ------------------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        if self.type is None:
            return f"<{len(self.raw)} bytes>"
        return self.ctx.types.name(self.type)

    @property
    def is_aggregate(self) -> bool:
        t = self._t
        if isinstance(t, (StructType, VariantType)):
            return True
        if isinstance(t, ArrayType):
            return bool(t.count)
        if isinstance(t, PointerType):
            return self._pointee_expandable()
        return False

    @property
    def child_count(self) -> int:
        t = self._t
        if isinstance(t, ArrayType):
            return t.count or 0
        if isinstance(t, (StructType, VariantType, PointerType)):
            return len(self.children())
        return 0

    @property
    def scalar(self) -> int | float | bool | str | None:
        """The value as a Python number (bool for C bools, str for char arrays); None for aggregates."""
        t = self._t
        if self._short():
            return None
        if isinstance(t, BaseType):
            if t.encoding == Encoding.FLOAT:
                return to_float(self.raw, self.ctx.byteorder, self.ctx.machine)
            if t.encoding == Encoding.COMPLEX:
                return self.display()
            v = to_int(self.raw[: t.size], self.ctx.byteorder, t.encoding in _SIGNED_ENCODINGS)
            if t.encoding == Encoding.BOOL and v in (0, 1):
                return bool(v)
            return v
        if isinstance(t, EnumType):
            return to_int(self.raw[: t.size], self.ctx.byteorder, t.signed)
        if isinstance(t, PointerType):
            return to_int(self.raw[: t.size], self.ctx.byteorder, False)
        if isinstance(t, ArrayType) and is_char_type(self.ctx.types.resolved(t.element)):
            return self.raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return None

    def _short(self) -> bool:
        size = self.ctx.types.sizeof(self.type) if self.type is not None else None
        return size is not None and len(self.raw) < size

    # -- display ----------------------------------------------------------------------------------
    def display(self, hex: bool = False, format: str | None = None) -> str:
        """C-like text as gdb's ``print`` shows it; ``hex`` (or ``format``) overrides the expression's suffix."""
        # The expression's own suffix wins over the UI's hex toggle; "X" is that toggle: integers
        # in hex, floats still as numbers (gdb's /x shows a float's bits, which a toggle should not).
        fmt = format or self.format or ("X" if hex else None)
        return self._format(fmt)

    def _format(self, fmt: str | None) -> str:
        t = self._t
        if isinstance(t, UnsupportedType) or self.note and self._short():
            return "<" + (" ".join(f"{b:02x}" for b in self.raw) or "no bytes") + ">"
        if isinstance(t, BaseType):
            return self._format_base(t, fmt)
        if isinstance(t, EnumType):
            v = to_int(self.raw[: t.size], self.ctx.byteorder, t.signed)
            if fmt in (None, "s"):
                text = _enum_text(t, v)
                if self.ctx.language == "rust" and t.name and text[:1].isalpha():
                    return f"{t.name}::{text}"
                return text
            return _format_int(v, self._bits(t.size), t.signed, fmt)
        if isinstance(t, PointerType):
            v = to_int(self.raw[: t.size], self.ctx.byteorder, False)
            if fmt == "X":
                fmt = "x"
            if fmt in ("d", "u", "o", "b", "c"):
                return _format_int(v, t.size * 8, False, fmt)
            if t.reference:
                return f"@0x{v:x}"
            to_code = isinstance(self.ctx.types.resolved(t.target), FunctionType)
            shown = pointer_target(self.ctx.machine, v, to_code)
            code = shown
            if to_code and (self.ctx.machine or "").upper() == "ARM":
                code = shown & ~1  # the low bit of an ARM code pointer selects Thumb state
            sym = self.ctx.symbolize(code) if (self.ctx.symbolize and v and fmt != "x") else None
            text = f"0x{shown:x} <{sym}>" if sym else f"0x{shown:x}"
            if (
                v
                and fmt in (None, "s")
                and self.ctx.read is not None
                and is_char_type(self.ctx.types.resolved(t.target))
            ):
                text += " " + self._c_string(shown)
            return text
        if isinstance(t, ArrayType):
            return self._format_array(t, fmt)
        if isinstance(t, StructType) and self.ctx.language == "rust":
            fields = self.children()
            name = t.name or ""
            if fields and all(c.name.startswith("__") for c in fields):  # tuple struct
                return f"{name}(" + ", ".join(c.value._format(fmt) for c in fields) + ")"
            body = ", ".join(f"{c.name}: {c.value._format(fmt)}" for c in fields)
            return f"{name} {{{body}}}".lstrip()
        if isinstance(t, StructType):
            parts = []
            for child in self.children():
                text = child.value._format(fmt)
                if child.kind == "base":
                    parts.append(f"<{child.name}> = {text}")
                elif child.kind == "anonymous":
                    parts.append(text)
                else:
                    parts.append(f"{child.name} = {text}")
            return "{" + ", ".join(parts) + "}"
        if isinstance(t, VariantType):
            active = self._active_variant(t)
            if active is None:
                return "<" + " ".join(f"{b:02x}" for b in self.raw) + ">"
            fields = self.children()
            name = f"{t.name}::{active.name}" if t.name else active.name
            if not fields:
                return name
            if all(c.name.startswith("__") for c in fields):
                return f"{name}(" + ", ".join(c.value._format(fmt) for c in fields) + ")"
            return f"{name}{{" + ", ".join(f"{c.name}: {c.value._format(fmt)}" for c in fields) + "}"
        if isinstance(t, FunctionType):
            if self.address is None:
                return "{" + self.type_name + "}"
            sym = self.ctx.symbolize(self.address) if self.ctx.symbolize else None
            return "{" + self.type_name + "} " + f"0x{self.address:x}" + (f" <{sym}>" if sym else "")
        if isinstance(t, VoidType):
            return "void"
        return "<" + " ".join(f"{b:02x}" for b in self.raw) + ">"

    def _c_string(self, address: int) -> str:
        """The NUL-terminated string a ``char *`` points at, as gdb shows it after the address."""
        assert self.ctx.read is not None
        data = bytearray()
        chunk = 32
        while len(data) < PRINT_ELEMENTS:
            try:
                part = self.ctx.read(address + len(data), chunk)
            except Exception:  # unreadable memory ends the string; the target's error text is not needed
                if chunk > 1:
                    chunk = 1
                    continue
                if not data:
                    return f"<error: cannot access memory at 0x{address:x}>"
                break
            nul = part.find(0)
            if nul >= 0:
                data += part[:nul]
                return format_char_array(bytes(data[:PRINT_ELEMENTS])) + (
                    "..." if len(data) > PRINT_ELEMENTS else ""
                )
            data += part
        return format_char_array(bytes(data[:PRINT_ELEMENTS]) + b"\0") + "..."

    @staticmethod
    def _bits(size: int) -> int:
        return size * 8  # gdb formats a bitfield at its declared type's width

    def _format_base(self, t: BaseType, fmt: str | None) -> str:
        bo = self.ctx.byteorder
        if t.encoding == Encoding.FLOAT:
            raw = self.raw[: t.size]
            if fmt in ("x", "o", "b"):  # gdb shows the IEEE bit pattern
                return _format_int(float_bits(raw, bo), t.size * 8, False, fmt)
            return format_float(to_float(raw, bo, self.ctx.machine), t.size, float_bits(raw, bo))
        if t.encoding == Encoding.COMPLEX:
            half = t.size // 2
            re_, im = (to_float(self.raw[i : i + half], bo, self.ctx.machine) for i in (0, half))
            return f"{format_float(re_, half)} + {format_float(im, half)}i"
        signed = t.encoding in _SIGNED_ENCODINGS
        v = to_int(self.raw[: t.size], bo, signed)
        if t.encoding == Encoding.BOOL and fmt in (None, "s", "d", "u"):
            return "true" if v == 1 else "false" if v == 0 else str(v)
        if t.encoding in _CHAR_ENCODINGS and fmt in (None, "s"):
            return f"{v} {char_literal(v & 0xFF)}"
        if t.encoding == Encoding.UTF and fmt in (None, "s"):
            prefix = {1: "u8", 2: "u", 4: "U"}.get(t.size, "")
            return f"{v} {prefix}{char_literal(v)}"
        return _format_int(v, self._bits(t.size), signed, fmt)

    def _format_array(self, t: ArrayType, fmt: str | None) -> str:
        et = self.ctx.types.resolved(t.element)
        count = t.count or 0
        if is_char_type(et) and fmt in (None, "s"):
            return format_char_array(self.raw[:count])
        esize = self.ctx.types.sizeof(t.element) or 0
        if count == 0:
            return "{}"
        parts: list[str] = []
        printed = 0
        i = 0
        while i < count and printed < PRINT_ELEMENTS:
            chunk = self.raw[i * esize : (i + 1) * esize]
            reps = 1
            while i + reps < count and self.raw[(i + reps) * esize : (i + reps + 1) * esize] == chunk:
                reps += 1
            text = self._element(t, i)._format(fmt)
            if reps > REPEAT_THRESHOLD:
                parts.append(f"{text} <repeats {reps} times>")
                i += reps
                printed += REPEAT_THRESHOLD
            else:
                parts.append(text)
                i += 1
                printed += 1
        open_, close = ("[", "]") if self.ctx.language == "rust" else ("{", "}")
        return open_ + ", ".join(parts) + ("..." if i < count else "") + close

    # -- children ---------------------------------------------------------------------------------
    def children(self, start: int = 0, count: int | None = None) -> list[Child]:
        """Members, elements (paged by ``start``/``count``), or the target of a pointer."""
        t = self._t
        if isinstance(t, ArrayType):
            n = t.count or 0
            stop = n if count is None else min(n, start + count)
            return [
                Child(f"[{i}]", self._element(t, i), self._element_name(i), "element")
                for i in range(max(0, start), stop)
            ]
        if isinstance(t, StructType):
            kids = [self._base_child(b) for b in t.bases] + [self._member_child(m) for m in t.members]
        elif isinstance(t, VariantType):
            kids = self._variant_children(t)
        elif isinstance(t, PointerType):
            kids = self._pointer_children(t)
        else:
            return []
        return kids[start:] if count is None else kids[start : start + count]

    def _child_value(self, tid: TypeId, offset: int, **kw: object) -> Value:
        size = self.ctx.types.sizeof(tid)
        raw = self.raw[offset:] if size is None else self.raw[offset : offset + size]
        addr = None if self.address is None else self.address + offset
        return Value(self.ctx, tid, raw, address=addr, format=self.format, **kw)  # type: ignore[arg-type]

    def _element(self, t: ArrayType, i: int) -> Value:
        esize = self.ctx.types.sizeof(t.element) or 0
        return self._child_value(t.element, i * esize, expression=self._element_name(i))

    def _element_name(self, i: int) -> str | None:
        return None if self.expression is None else f"{postfix_operand(self.expression)}[{i}]"

    def _member_name(self, name: str) -> str | None:
        if self._deref_of is not None:
            return f"{self._deref_of}->{name}"
        return None if self.expression is None else f"{postfix_operand(self.expression)}.{name}"

    def _member_child(self, m: Member) -> Child:
        if m.name is None:
            # Members of an anonymous struct/union are named through the parent, as in C.
            v = self._child_value(m.type, m.offset, expression=self.expression, deref_of=self._deref_of)
            kind = self.ctx.types.resolved(m.type)
            label = f"<anonymous {kind.kind}>" if isinstance(kind, StructType) else "<anonymous>"
            return Child(label, v, None, "anonymous")
        name = self._member_name(m.name)
        if m.bit_size is not None and m.bit_offset is not None:
            signed = is_signed_type(self.ctx.types, m.type)
            try:
                v_int = extract_bits(self.raw, m.bit_offset, m.bit_size, self.ctx.byteorder, signed)
                note = None
            except (ValueError, IndexError):
                v_int, note = 0, "bitfield outside the bytes read"
            size = self.ctx.types.sizeof(m.type) or (m.bit_size + 7) // 8
            addr = None if self.address is None else self.address + m.bit_offset // 8
            v = Value(
                self.ctx,
                m.type,
                from_int(v_int, size, self.ctx.byteorder),
                address=addr,
                format=self.format,
                expression=name,
                bit_size=m.bit_size,
                note=note,
            )
            return Child(m.name, v, name, "member")
        return Child(m.name, self._child_value(m.type, m.offset, expression=name), name, "member")

    def _base_child(self, b: Member) -> Child:
        base_name = b.name or self.ctx.types.name(b.type)
        expr = None
        if self.expression is not None:
            expr = f"(*({self.ctx.types.name(b.type)} *)&{postfix_operand(self.expression)})"
        return Child(base_name, self._child_value(b.type, b.offset, expression=expr), expr, "base")

    def _active_variant(self, t: VariantType):  # noqa: ANN202 - Variant | None
        if t.discr_offset is None:
            return t.variants[0] if len(t.variants) == 1 else None
        d = to_int(
            self.raw[t.discr_offset : t.discr_offset + t.discr_size], self.ctx.byteorder, t.discr_signed
        )
        default = None
        for var in t.variants:
            if var.discriminant == d:
                return var
            if var.discriminant is None:
                default = var
        return default

    def _variant_children(self, t: VariantType) -> list[Child]:
        active = self._active_variant(t)
        if active is None:
            return []
        holder = self._child_value(active.type, active.offset, expression=None)
        out = []
        for c in holder.children():
            if c.name.startswith("<") or c.name.startswith("RUST$"):
                continue
            out.append(Child(c.name, c.value, None, c.kind))
        return out

    def _pointee_expandable(self) -> bool:
        t = self._t
        if not isinstance(t, PointerType) or self.ctx.read is None or self._short():
            return False
        if to_int(self.raw[: t.size], self.ctx.byteorder, False) == 0:
            return False
        target = self.ctx.types.resolved(t.target)
        size = self.ctx.types.sizeof(t.target)
        return bool(size) and not isinstance(target, (FunctionType, VoidType, UnsupportedType))

    def _pointer_children(self, t: PointerType) -> list[Child]:
        if not self._pointee_expandable():
            return []
        assert self.ctx.read is not None and t.target is not None
        address = pointer_target(
            self.ctx.machine, to_int(self.raw[: t.size], self.ctx.byteorder, False), False
        )
        size = self.ctx.types.sizeof(t.target) or 0
        base = None if self.expression is None else postfix_operand(self.expression)
        deref = None if base is None else f"*{base}"
        try:
            raw = self.ctx.read(address, size)
        except Exception as e:  # the target's error is shown to the user, not raised into the UI
            v = Value(self.ctx, t.target, b"", address=address, note=f"cannot read 0x{address:x}: {e}")
            return [Child(deref or "*", v, deref, "deref")]
        target = Value(
            self.ctx, t.target, raw, address=address, format=self.format, expression=deref, deref_of=base
        )
        if isinstance(self.ctx.types.resolved(t.target), StructType):
            return target.children()
        return [Child(deref or "*", target, deref, "deref")]


@dataclass(frozen=True, slots=True)
class Child:
    name: str  # member name, "[3]", a base class name, "<anonymous union>", "*p"
    value: Value
    evaluate_name: str | None  # compiles back to this child; None for anonymous members
    kind: str = "member"  # "member", "element", "base", "anonymous", "deref"

    @property
    def is_aggregate(self) -> bool:
        return self.value.is_aggregate

    @property
    def note(self) -> str | None:
        return self.value.note


# -- formatting helpers ------------------------------------------------------------------------------
def _format_int(v: int, bits: int, signed: bool, fmt: str | None) -> str:
    mask = (1 << bits) - 1
    if fmt == "X":
        fmt = "x"
    if fmt == "x":
        return f"0x{v & mask:x}"
    if fmt == "o":
        u = v & mask
        return f"0{u:o}" if u else "0"
    if fmt == "b":
        return f"0b{v & mask:b}"
    if fmt == "d":
        return str(wrap(v, bits, True))
    if fmt == "u":
        return str(v & mask)
    if fmt == "c":
        return f"{wrap(v, 8, signed)} {char_literal(v & 0xFF)}"
    return str(v)


def is_flag_enum(t: EnumType) -> bool:
    """gdb's rule: every enumerator non-negative and no two share a bit."""
    mask = 0
    for _, v in t.enumerators:
        if v < 0 or mask & v:
            return False
        mask |= v
    return bool(t.enumerators)


def _enum_text(t: EnumType, v: int) -> str:
    for name, ev in t.enumerators:
        if ev == v:
            return name
    if not is_flag_enum(t) or v < 0:
        return str(v)
    names = []
    rest = v
    for name, ev in t.enumerators:
        if ev and rest & ev:
            names.append(name)
            rest &= ~ev
    if rest:
        names.append(f"unknown: 0x{rest:x}")
    return "(" + " | ".join(names) + ")" if names else "0"


def format_char_array(data: bytes) -> str:
    """A char array as gdb prints it: quoted runs, long repeats folded, one trailing NUL dropped."""
    if data and data[-1] == 0:
        data = data[:-1]
    if not data:
        return '""'
    # Group into (char, run length), stopping once PRINT_ELEMENTS characters are counted.
    runs: list[tuple[int, int]] = []
    i = counted = 0
    while i < len(data) and counted < PRINT_ELEMENTS:
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        runs.append((data[i], j - i))
        counted += j - i
        i = j
    out: list[str] = []
    in_quotes = False
    for code, n in runs:
        if n > REPEAT_THRESHOLD:
            if in_quotes:
                out.append('"')
                in_quotes = False
            if out:
                out.append(", ")
            out.append(f"{char_literal(code)} <repeats {n} times>")
        else:
            if not in_quotes:
                if out:
                    out.append(", ")
                out.append('"')
                in_quotes = True
            out.append(escape_char(code, '"') * n)
    if in_quotes:
        out.append('"')
    if i < len(data):
        out.append("...")
    return "".join(out)
