"""The FORM table drives every DIE decoder: generated decoders, skippers and the generic
decoder must agree on every form, for every unit layout."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from firmwatch.symbols.dwarf import codegen
from firmwatch.symbols.dwarf.encoding import DwarfFormatError
from firmwatch.symbols.dwarf.forms import (
    BLOCK,
    BLOCK1,
    BLOCK2,
    BLOCK4,
    CSTRING,
    FORMS,
    IMPLICIT,
    SLEB,
    ULEB,
    UnitForms,
    fixed_size,
    read_value,
)
from firmwatch.symbols.dwarf.sections import DebugSections

STR = b"\0alpha\0beta\0"
LINE_STR = b"\0dir/file.c\0"


def _uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        done = (v == 0 and not b & 0x40) or (v == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def _encode(code: int, value: int, asz: int, osz: int, ver: int, bo: str) -> bytes:
    f = FORMS[code]
    n = fixed_size(f, asz, osz, ver)
    if f.value in ("strp",):
        value = (1, 7)[value % 2]
    if f.value == "line_strp":
        value = 1
    if n is not None:
        if f.size == IMPLICIT or n == 0:
            return b""
        return (value % (1 << (8 * n))).to_bytes(n, "little" if bo == "<" else "big")
    if f.size == ULEB:
        return _uleb(value)
    if f.size == SLEB:
        return _sleb(value - 1000)
    if f.size == CSTRING:
        return b"s%d\0" % value
    body = bytes(range(value % 40))
    if f.size == BLOCK:
        return _uleb(len(body)) + body
    if f.size == BLOCK1:
        return bytes([len(body)]) + body
    if f.size == BLOCK2:
        return struct.pack(bo + "H", len(body)) + body
    if f.size == BLOCK4:
        return struct.pack(bo + "I", len(body)) + body
    raise AssertionError(code)


# string/address index forms need a unit base; indirect nests another form
_PLAIN = sorted(c for c, f in FORMS.items() if f.value not in ("strx", "addrx", "nested"))


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.integers(1, 0x80), st.sampled_from(_PLAIN), st.integers(-50, 50), st.integers(0, 1 << 40)),
        max_size=12,
    ),
    asz=st.sampled_from([2, 4, 8]),
    osz=st.sampled_from([4, 8]),
    ver=st.sampled_from([2, 3, 4, 5]),
    bo=st.sampled_from(["<", ">"]),
)
def test_generated_decoders_agree_with_the_generic_one(specs, asz, osz, ver, bo) -> None:  # type: ignore[no-untyped-def]
    abbrev = [(at, code, imp) for at, code, imp, _v in specs]
    data = b"".join(_encode(code, v, asz, osz, ver, bo) for _at, code, _imp, v in specs) + b"\xff" * 4
    sections = DebugSections(b"", b"", STR, LINE_STR, b"", b"")
    strp = lambda off: STR[off : STR.index(b"\0", off)].decode()  # noqa: E731
    uint = lambda d, p, n: int.from_bytes(d[p : p + n], "little" if bo == "<" else "big")  # noqa: E731
    u = UnitForms(asz, osz, ver, 0x100, uint, strp, LINE_STR, lambda i: i, lambda i: i)
    generic: dict[int, object] = {}
    p = 0
    for at, code, imp in abbrev:
        generic[at], p = read_value(data, p, at, code, imp, u, 0)
    end = p
    dec = codegen.attrs_decoder(abbrev, asz, osz, ver, bo, sections, strp)
    if dec is not None:
        got, q = dec(data, 0, 0x100)
        assert (got, q) == (generic, end)
    interp = codegen.interpreted_attrs(abbrev, asz, osz, ver, bo, sections, strp)
    assert (interp is None) == (dec is None)  # the interpreter covers what the generator covers
    if interp is not None:
        assert interp(data, 0, 0x100) == (generic, end)
    sk = codegen.skipper(abbrev, asz, osz, ver, bo)
    assert sk is not None  # every plain form can be stepped over without decoding it
    assert (sk if type(sk) is int else sk(data, 0)) == end
    isk = codegen.interpreted_skipper(abbrev, asz, osz, ver, bo)
    assert isk is not None and isk(data, 0) == end


def test_an_unknown_form_is_named_in_the_error() -> None:
    u = UnitForms(4, 4, 4, 0, lambda d, p, n: 0, lambda o: "", b"", lambda i: i, lambda i: i)
    try:
        read_value(b"\0" * 8, 0, 3, 0x7E, 0, u, 0x42)
    except DwarfFormatError as e:
        assert "0x7e" in str(e) and "0x42" in str(e)
    else:
        raise AssertionError("no error")
    assert codegen.attrs_decoder([(3, 0x7E, 0)], 4, 4, 4, "<", None, str) is None
    assert codegen.skipper([(3, 0x7E, 0)], 4, 4, 4) is None
