"""Bytes <-> typed values: :func:`decode` for reads, :func:`encode_literal` / :func:`plan_write` for writes.

The write side accepts everything the display prints (``65 'A'``, ``0x20000010 <buf>``,
``nan(0x400000)``, ``(A | B)``, ``"hi", '\\000' <repeats 12 times>``) so a user can copy a
shown value, edit it and write it back; integers are range-checked against the exact C type.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from firmwatch.errors import UserError

from .addrspace import pointer_target, pointer_value
from .literals import (
    LiteralError,
    parse_char_body,
    parse_float_text,
    parse_int,
    parse_string_body,
)
from .scalars import bit_span, from_float, from_int, insert_bits, int_range, nan_with_payload, to_float
from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    PointerType,
    TypeId,
    TypeTable,
)
from .values import Context, Value, is_char_type, is_signed_type

if TYPE_CHECKING:
    from .program import Program

Reader = Callable[[int, int], bytes]


class CodecError(UserError, ValueError):
    """A value that cannot be written as given; ``str()`` is one sentence."""


def make_context(
    program_or_types: Program | TypeTable,
    *,
    byteorder: str | None = None,
    word_size: int | None = None,
    read: Reader | None = None,
) -> Context:
    if isinstance(program_or_types, TypeTable):
        if byteorder is None or word_size is None:
            raise TypeError("decoding with a bare TypeTable needs byteorder= and word_size=")
        return Context(program_or_types, byteorder, word_size, read=read)
    p = program_or_types
    return Context(
        p.types,
        byteorder or p.elf.byteorder,
        word_size or p.elf.word_size,
        machine=p.elf.machine,
        symbolize=p.symbolize,
        read=read,
        language=p.language,
    )


def decode(
    program_or_types: Program | TypeTable,
    tid: TypeId | None,
    raw: bytes,
    *,
    address: int | None = None,
    byteorder: str | None = None,
    word_size: int | None = None,
    format: str | None = None,
    expression: str | None = None,
    read: Reader | None = None,
) -> Value:
    """The value of ``raw`` read as type ``tid``. Never raises for odd types: they become raw bytes with a note."""
    ctx = make_context(program_or_types, byteorder=byteorder, word_size=word_size, read=read)
    return Value(ctx, tid, raw, address=address, format=format, expression=expression)


# -- python value -> bytes -----------------------------------------------------------------------------
# -- user literal -> bytes ---------------------------------------------------------------------------
def encode_literal(
    program: Program | TypeTable,
    tid: TypeId,
    text: str,
    *,
    byteorder: str | None = None,
    word_size: int | None = None,
) -> bytes:
    """Parse ``text`` as a value of type ``tid`` and return its bytes in target byte order."""
    ctx = make_context(program, byteorder=byteorder, word_size=word_size)
    prog = None if isinstance(program, TypeTable) else program
    return _Encoder(ctx, prog).encode(tid, text.strip())


def encode_bitfield(
    program: Program | TypeTable,
    tid: TypeId,
    container: bytes,
    bit_offset: int,
    bit_size: int,
    text: str,
    *,
    byteorder: str | None = None,
    word_size: int | None = None,
) -> bytes:
    """``container`` (the bytes holding the field) with the field set to ``text``, neighbours untouched."""
    ctx = make_context(program, byteorder=byteorder, word_size=word_size)
    prog = None if isinstance(program, TypeTable) else program
    value = _Encoder(ctx, prog).integer(tid, text.strip(), bits=bit_size)
    return insert_bits(container, bit_offset, bit_size, value, ctx.byteorder)


class WriteTarget(Protocol):
    def write_target(self, read: Reader) -> tuple[int, TypeId, tuple[int, int] | None]: ...


def plan_write(program: Program, compiled: Any, text: str, read: Reader) -> list[tuple[int, bytes]]:
    """The (address, bytes) writes that store ``text`` into the object ``compiled`` names.

    A bitfield is a read-modify-write of just the bytes that hold it, so neighbouring fields
    keep their values (the firmware could change a neighbour between our read and write;
    a single-byte field span makes that window one byte wide).
    """
    address, tid, bits = compiled.write_target(read)
    if bits is None:
        return [(address, encode_literal(program, tid, text))]
    bit_offset, bit_size = bits
    first, n = bit_span(bit_offset, bit_size)
    old = read(address + first, n)
    new = encode_bitfield(program, tid, old, bit_offset % 8, bit_size, text)
    return [(address + first, new)]


_DISPLAY_CHAR_RE = re.compile(r"^(-?\d+)\s+(?:u8|u|U|L)?'(.*)'$", re.S)
_POINTER_RE = re.compile(r"^(?:\([^()]*\)\s*)?(0[xX][0-9a-fA-F]+|\d+)(?:\s*<[^<>]*>)?$")
_REPEAT_RE = re.compile(r"'((?:[^'\\]|\\.)+)'\s*<repeats (\d+) times>")


class _Encoder:
    def __init__(self, ctx: Context, program: Program | None):
        self.ctx = ctx
        self.types = ctx.types
        self.program = program

    def encode(self, tid: TypeId, text: str) -> bytes:
        if not text:
            raise CodecError("the value is empty: type a number, a name or a literal")
        t = self.types.resolved(tid)
        size = self.types.sizeof(tid)
        if isinstance(t, BaseType):
            if t.encoding == Encoding.FLOAT:
                return self.floating(tid, t.size, text)
            if t.encoding == Encoding.COMPLEX:
                raise CodecError(
                    f"writing a {self.types.name(tid)} is not supported; write the bytes with a cast"
                )
            return from_int(self.integer(tid, text), t.size, self.ctx.byteorder)
        if isinstance(t, EnumType):
            return from_int(self.integer(tid, text), t.size, self.ctx.byteorder)
        if isinstance(t, PointerType):
            return from_int(self.pointer(tid, t, text), t.size, self.ctx.byteorder)
        if isinstance(t, ArrayType) and is_char_type(self.types.resolved(t.element)) and t.count:
            return self.char_array(tid, t.count, text)
        what = self.types.name(tid)
        if size is None:
            raise CodecError(f"'{what}' has no known size, so it cannot be written")
        raise CodecError(f"cannot write a whole {what}: write its members or elements one at a time")

    # -- integers ---------------------------------------------------------------------------------
    def integer(self, tid: TypeId, text: str, bits: int | None = None) -> int:
        t = self.types.resolved(tid)
        size = self.types.sizeof(tid) or 0
        nbits = bits or size * 8
        signed = is_signed_type(self.types, tid)
        name = self.types.name(tid)
        what = f"a {nbits}-bit {'signed' if signed else 'unsigned'} bitfield" if bits else name
        lo, hi = int_range(nbits, signed)
        if isinstance(t, BaseType) and t.encoding == Encoding.BOOL:
            low = text.lower()
            if low in ("true", "false"):
                value = int(low == "true")
                return value
        if isinstance(t, EnumType):
            value = self.enum_value(t, name, text)
            if value is not None:
                return self._check(value, lo, hi, what, text, pattern=False, nbits=nbits)
        try:
            value, pattern = self.parse_integer(text)
        except CodecError:
            folded = self.constant_expression(text)
            if folded is None or isinstance(folded, float):
                raise
            value, pattern = int(folded), False
        return self._check(value, lo, hi, what, text, pattern=pattern, nbits=nbits)

    def constant_expression(self, text: str) -> int | float | None:
        """The value of a C expression that needs no memory (``1 << 4``, ``&buf[2]``, ``MODE_ON``)."""
        if self.program is None:
            return None
        from .expr import ExpressionError, compile_expression

        try:
            compiled = compile_expression(self.program, text)
            if compiled.static_regions() != []:
                return None
            value = compiled.evaluate(_no_memory).scalar
        except (ExpressionError, OSError):
            return None
        return value if isinstance(value, int | float) else None

    @staticmethod
    def _check(value: int, lo: int, hi: int, what: str, text: str, *, pattern: bool, nbits: int) -> int:
        if lo <= value <= hi:
            return value
        # 0xFF into an int8_t means the bit pattern, as firmware engineers write register values.
        if pattern and lo < 0 and 0 <= value < (1 << nbits):
            return value
        raise CodecError(f"{text} does not fit in {what} ({lo}..{hi})")

    def parse_integer(self, text: str) -> tuple[int, bool]:
        """(value, written-as-bit-pattern) from decimal/hex/binary/octal/char/bool text."""
        low = text.lower()
        if low in ("true", "false"):
            return int(low == "true"), False
        m = _DISPLAY_CHAR_RE.match(text)
        if m:  # the display form "65 'A'": the number is authoritative
            return int(m.group(1)), False
        if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
            try:
                return parse_char_body(text[1:-1]), False
            except LiteralError as e:
                raise CodecError(f"{e}.") from None
        neg = text.startswith("-")
        body = text[1:].strip() if text[:1] in "+-" else text
        try:
            v, _ = parse_int(body)
        except LiteralError:
            try:
                f, _, _ = parse_float_text(text)
            except LiteralError:
                raise CodecError(
                    f"'{text}' is not an integer: use decimal, 0x hex, 0b binary, 0 octal or 'c'"
                ) from None
            raise CodecError(f"{text} is not a whole number; the target type holds integers only") from None
        pattern = body[:2].lower() in ("0x", "0b") or (len(body) > 1 and body[0] == "0")
        return (-v if neg else v), pattern and not neg

    def enum_value(self, t: EnumType, name: str, text: str) -> int | None:
        names = dict(t.enumerators)
        if t.name and text.startswith(t.name + "::"):  # Rust and C++ spell enumerators qualified
            text = text[len(t.name) + 2 :]
        if text in names:
            return names[text]
        if text.startswith("(") and text.endswith(")"):  # gdb's flag form "(A | B | unknown: 0x8)"
            total = 0
            for part in text[1:-1].split("|"):
                part = part.strip()
                if part.startswith("unknown:"):
                    total |= self.parse_integer(part[len("unknown:") :].strip())[0]
                elif part in names:
                    total |= names[part]
                else:
                    raise CodecError(f"'{part}' is not a value of {name} (values: {', '.join(names)})")
            return total
        if re.fullmatch(r"[A-Za-z_]\w*", text) and text.lower() not in ("true", "false"):
            raise CodecError(f"'{text}' is not a value of {name} (values: {', '.join(names) or 'none'})")
        return None

    # -- floats -----------------------------------------------------------------------------------
    def floating(self, tid: TypeId, size: int, text: str) -> bytes:
        body = text[:-1] if text[-1:] in "fFlL" and not text.lower().endswith(("inf", "nan")) else text
        try:
            v, payload, negative = parse_float_text(body)
        except LiteralError:
            folded = self.constant_expression(text)
            if folded is None:
                raise CodecError(f"'{text}' is not a number; write e.g. 1.5, -2e-3, inf or nan") from None
            v, payload, negative = float(folded), None, folded < 0
        if math.isnan(v):
            try:
                return nan_with_payload(size, payload, negative, self.ctx.byteorder)
            except ValueError as e:
                raise CodecError(f"{e}.") from None
        try:
            data = from_float(v, size, self.ctx.byteorder, self.ctx.machine)
        except (OverflowError, struct.error):
            data = b""
        if not data or (math.isfinite(v) and math.isinf(_reread(data, size, self.ctx))):
            largest = {2: "65504", 4: "3.4028235e+38", 8: "1.7976931348623157e+308"}.get(size, "its range")
            raise CodecError(f"{text} does not fit in {self.types.name(tid)} (largest {largest})")
        return data

    # -- pointers ---------------------------------------------------------------------------------
    def pointer(self, tid: TypeId, t: PointerType, text: str) -> int:
        """The value to store in a pointer: the address as the target's pointers encode it."""
        to_code = isinstance(self.types.resolved(t.target), FunctionType)
        value = pointer_value(self.ctx.machine, self._address(tid, t, text), to_code)
        hi = (1 << (8 * t.size)) - 1
        if value > hi:
            raise CodecError(f"{text} does not fit in {self.types.name(tid)} (0..0x{hi:x})")
        return value

    def _address(self, tid: TypeId, t: PointerType, text: str) -> int:
        if text in ("NULL", "nullptr", "0"):
            return 0
        name = text[1:].strip() if text.startswith("&") else text
        if re.fullmatch(r"(?:'[^']+'::)?[A-Za-z_$][\w$]*(?:::[A-Za-z_$][\w$]*)*", name):
            address = self._symbol_address(name, explicit=text.startswith("&"))
            if address is not None:
                return address
        m = _POINTER_RE.match(text)
        if not m:
            value = self.constant_expression(text)
            if value is None:
                raise CodecError(
                    f"'{text}' is not an address: write 0x20000010, &variable or a function name"
                )
            # the expression's value is already a pointer value: turn it back into an address
            to_code = isinstance(self.types.resolved(t.target), FunctionType)
            return pointer_target(self.ctx.machine, int(value), to_code)
        return parse_int(m.group(1))[0]

    def _symbol_address(self, name: str, explicit: bool) -> int | None:
        if self.program is None:
            raise CodecError(f"cannot look up '{name}' without the program; write the address as a number")
        from .program import SymbolsError

        try:
            return self.program.find_variable(name).address
        except SymbolsError:
            pass
        sym = self.program.find_symbol(name)
        if sym is not None:
            return sym.address
        raise CodecError(f"no symbol '{name}' in the ELF; write the address as a number")

    # -- strings ----------------------------------------------------------------------------------
    def char_array(self, tid: TypeId, count: int, text: str) -> bytes:
        data = bytearray()
        rest = text.strip()
        if not rest.startswith(('"', "'")):
            raise CodecError(f'write a {self.types.name(tid)} as a string in double quotes, e.g. "hello"')
        while rest:
            if rest.startswith('"'):
                end = _closing_quote(rest)
                try:
                    data += parse_string_body(rest[1:end])
                except LiteralError as e:
                    raise CodecError(f"{e}.") from None
                rest = rest[end + 1 :].lstrip()
            else:
                m = _REPEAT_RE.match(rest)
                if not m:
                    raise CodecError(f"cannot read '{rest}' as part of a string")
                data += bytes([parse_char_body(m.group(1)) & 0xFF]) * int(m.group(2))
                rest = rest[m.end() :].lstrip()
            if rest.startswith(","):
                rest = rest[1:].lstrip()
        if len(data) > count:
            raise CodecError(f"the text is {len(data)} bytes but {self.types.name(tid)} holds {count}")
        return bytes(data) + b"\0" * (count - len(data))


def _no_memory(address: int, size: int) -> bytes:
    raise OSError("a literal cannot read memory")


def _reread(data: bytes, size: int, ctx: Context) -> float:
    return to_float(data, ctx.byteorder, ctx.machine)


def _closing_quote(text: str) -> int:
    j = 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j
        j += 1
    raise CodecError("the string has no closing '\"'")
