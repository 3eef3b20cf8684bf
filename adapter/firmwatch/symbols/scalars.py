"""Raw target bytes <-> Python numbers: integers, IEEE floats of every width, bitfields.

Kept free of the type model so the hot decode path (one struct.unpack per sample) stays
obvious, and so both the value tree and the write path share one definition of bit order.
"""

from __future__ import annotations

import math
import struct

_FLOAT_FMT = {2: "e", 4: "f", 8: "d"}


def to_int(raw: bytes, byteorder: str, signed: bool) -> int:
    return int.from_bytes(raw, byteorder, signed=signed)  # type: ignore[arg-type]


def from_int(value: int, size: int, byteorder: str) -> bytes:
    """Two's complement of ``value`` wrapped to ``size`` bytes (C conversion semantics)."""
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, byteorder)  # type: ignore[arg-type]


def wrap(value: int, bits: int, signed: bool) -> int:
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


# -- floats ----------------------------------------------------------------------------------------
def is_x87(size: int, machine: str | None) -> bool:
    """Is a ``long double`` of this size the x87 80-bit format (vs IEEE binary128)?"""
    if size in (10, 12):
        return True
    return size == 16 and (machine or "").lower() in ("x86-64", "x86_64", "x86", "i386", "amd64", "")


def to_float(raw: bytes, byteorder: str, machine: str | None = None) -> float:
    size = len(raw)
    fmt = _FLOAT_FMT.get(size)
    if fmt:
        return struct.unpack(("<" if byteorder == "little" else ">") + fmt, raw)[0]
    bits = int.from_bytes(raw, byteorder)  # type: ignore[arg-type]
    if is_x87(size, machine):
        bits &= (1 << 80) - 1
        sign = bits >> 79
        exp = (bits >> 64) & 0x7FFF
        mant = bits & ((1 << 64) - 1)
        if exp == 0x7FFF:
            v = math.inf if (mant & ((1 << 63) - 1)) == 0 else math.nan
        else:
            v = math.ldexp(mant, (exp or 1) - 16383 - 63)
        return -v if sign else v
    if size == 16:  # IEEE binary128
        sign = bits >> 127
        exp = (bits >> 112) & 0x7FFF
        mant = bits & ((1 << 112) - 1)
        if exp == 0x7FFF:
            v = math.inf if mant == 0 else math.nan
        elif exp == 0:
            v = math.ldexp(mant, 1 - 16383 - 112)
        else:
            v = math.ldexp(mant | (1 << 112), exp - 16383 - 112)
        return -v if sign else v
    raise ValueError(f"no float format is {size} bytes wide")


def from_float(value: float, size: int, byteorder: str, machine: str | None = None) -> bytes:
    fmt = _FLOAT_FMT.get(size)
    if fmt:
        return struct.pack(("<" if byteorder == "little" else ">") + fmt, value)
    sign = 1 if math.copysign(1.0, value) < 0 else 0
    a = abs(value)
    if is_x87(size, machine):
        if math.isnan(a):
            exp, mant = 0x7FFF, 0xC000000000000000
        elif math.isinf(a):
            exp, mant = 0x7FFF, 1 << 63
        elif a == 0:
            exp, mant = 0, 0
        else:
            m, e = math.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
            exp = e - 1 + 16383
            mant = int(m * (1 << 64))
        bits = (sign << 79) | (exp << 64) | mant
    else:
        if math.isnan(a):
            exp, mant = 0x7FFF, 1 << 111
        elif math.isinf(a):
            exp, mant = 0x7FFF, 0
        elif a == 0:
            exp, mant = 0, 0
        else:
            m, e = math.frexp(a)
            exp = e - 1 + 16383
            mant = int(m * (1 << 113)) & ((1 << 112) - 1)
        bits = (sign << 127) | (exp << 112) | mant
    return bits.to_bytes(size, byteorder)  # type: ignore[arg-type]


def float_bits(raw: bytes, byteorder: str) -> int:
    return int.from_bytes(raw, byteorder)  # type: ignore[arg-type]


def nan_with_payload(size: int, payload: int | None, negative: bool, byteorder: str) -> bytes:
    """The bytes of a NaN with a given mantissa (gdb prints NaNs as ``nan(0x400000)``)."""
    layout = {2: (5, 10), 4: (8, 23), 8: (11, 52)}.get(size)
    if layout is None:
        return from_float(math.nan, size, byteorder)
    exp_bits, mant_bits = layout
    if payload is None:
        payload = 1 << (mant_bits - 1)
    if not 0 < payload < (1 << mant_bits):
        raise ValueError(f"a NaN payload must be between 0x1 and 0x{(1 << mant_bits) - 1:x}")
    bits = (int(negative) << (size * 8 - 1)) | (((1 << exp_bits) - 1) << mant_bits) | payload
    return bits.to_bytes(size, byteorder)  # type: ignore[arg-type]


# -- bitfields -------------------------------------------------------------------------------------
def bit_span(bit_offset: int, bit_size: int) -> tuple[int, int]:
    """The byte offset and byte count holding bits [bit_offset, bit_offset + bit_size)."""
    first = bit_offset // 8
    return first, (bit_offset % 8 + bit_size + 7) // 8


def extract_bits(raw: bytes, bit_offset: int, bit_size: int, byteorder: str, signed: bool) -> int:
    """Read a bitfield; ``bit_offset`` counts in the target's bit numbering (see types.py)."""
    first, n = bit_span(bit_offset, bit_size)
    word = int.from_bytes(raw[first : first + n], byteorder)  # type: ignore[arg-type]
    shift = bit_offset % 8 if byteorder == "little" else n * 8 - bit_offset % 8 - bit_size
    return wrap(word >> shift, bit_size, signed) if signed else (word >> shift) & ((1 << bit_size) - 1)


def insert_bits(raw: bytes, bit_offset: int, bit_size: int, value: int, byteorder: str) -> bytes:
    """``raw`` with the bitfield replaced by ``value``; every other bit kept."""
    first, n = bit_span(bit_offset, bit_size)
    word = int.from_bytes(raw[first : first + n], byteorder)  # type: ignore[arg-type]
    shift = bit_offset % 8 if byteorder == "little" else n * 8 - bit_offset % 8 - bit_size
    mask = ((1 << bit_size) - 1) << shift
    word = (word & ~mask) | ((value << shift) & mask)
    return raw[:first] + word.to_bytes(n, byteorder) + raw[first + n :]  # type: ignore[arg-type]
