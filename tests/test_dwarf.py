"""DWARF -> type model details, the index cache, and robustness against damaged DWARF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from firmwatch.symbols import Program, load
from firmwatch.symbols import cache as cache_mod
from firmwatch.symbols.types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    PointerType,
    StructType,
    Typedef,
    VariantType,
)
from fixture_builds import compile_elf, fixture_elf


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("FIRMWATCH_CACHE_DIR", str(d))
    return d


def _t(prog: Program, name: str):  # type: ignore[no-untyped-def]
    return prog.types.resolved(prog.find_variable(name).type)


@pytest.mark.parametrize("config", ["arm-O0-dwarf4", "arm-Os-dwarf5", "avr-Os-dwarf4", "riscv32-O0-dwarf4"])
def test_c_types(config: str) -> None:
    p = load(fixture_elf(config), use_cache=False)
    tt = p.types
    assert _t(p, "g_bool") == BaseType("_Bool", 1, Encoding.BOOL)
    assert _t(p, "g_schar").encoding == Encoding.SIGNED_CHAR
    assert _t(p, "g_ullong") == BaseType("long long unsigned int", 8, Encoding.UNSIGNED)
    assert _t(p, "g_float").encoding == Encoding.FLOAT
    # typedef chain counter_t -> reg32_t -> uint32_t -> base
    t = tt[p.find_variable("g_counter").type]
    assert isinstance(t, Typedef) and t.name == "counter_t"
    assert tt.name(t.target) == "reg32_t" and tt.sizeof(t.target) == 4
    assert "volatile" in tt.qualifiers(p.find_variable("g_vcounter").type)
    assert tt.is_const(p.find_variable("g_const").type)
    if p.elf.dwarf_version == 5:  # DW_TAG_atomic_type is new in DWARF 5
        assert "_Atomic" in tt.qualifiers(p.find_variable("g_atomic").type)
    ptr = _t(p, "g_ptr")
    assert isinstance(ptr, PointerType) and ptr.size == p.elf.word_size
    fp = _t(p, "g_fnptr2")
    assert isinstance(fp, PointerType)
    fn = tt[fp.target]
    assert isinstance(fn, FunctionType) and fn.variadic and len(fn.params) == 2
    assert tt.name(p.find_variable("g_fnptr2").type) == "int (*)(int, const char *, ...)"
    m = _t(p, "g_matrix")
    assert isinstance(m, ArrayType) and m.count == 2
    inner = tt[m.element]
    assert isinstance(inner, ArrayType) and inner.count == 3 and tt.name(inner.element) == "int"
    assert tt.name(p.find_variable("g_matrix").type) == "int [2][3]"
    assert p.find_variable("g_matrix").size == 2 * 3 * tt.sizeof(p.find_type("int"))
    # flexible array member: unknown bound
    flex = _t(p, "g_flex")
    assert isinstance(flex, StructType)
    data = tt.resolved(flex.members[-1].type)
    assert isinstance(data, ArrayType) and data.count in (None, 0)
    # enums: unsigned and signed
    mode = _t(p, "g_mode")
    assert isinstance(mode, EnumType) and not mode.signed and ("MODE_RUN", 4) in mode.enumerators
    delta = _t(p, "g_delta")
    assert isinstance(delta, EnumType) and delta.signed and ("DELTA_DOWN", -2) in delta.enumerators
    # anonymous union member and self-referential struct
    acc = _t(p, "g_accel")
    assert any(mm.name is None for mm in acc.members)
    node = _t(p, "g_head")
    assert isinstance(node, PointerType)
    nstruct = tt.resolved(node.target)
    assert isinstance(nstruct, StructType) and tt.resolved(nstruct.members[1].type) == node
    # named types for casts
    for name in ("uint32_t", "struct accel", "enum mode", "union packet", "int", "unsigned int", "counter_t"):
        assert p.find_type(name) is not None, name
    assert p.find_type("unsigned") == p.find_type("unsigned int")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # (ready, error, level, wide) absolute bit positions in the target's bit numbering
        ("arm-O0-dwarf4", [0, 1, 4, 9]),
        ("host-gcc-dwarf3", [0, 1, 4, 9]),
        ("arm-be-dwarf3", [0, 1, 4, 9]),  # MSB-first numbering on big-endian: same positions
        ("arm-be-dwarf5", [0, 1, 4, 9]),
    ],
)
def test_bitfield_positions_normalized(config: str, expected: list[int]) -> None:
    p = load(fixture_elf(config), use_cache=False)
    f = _t(p, "g_flags")
    bits = [(m.name, m.bit_offset, m.bit_size) for m in f.members if m.bit_size]
    assert [b[1] for b in bits[:4]] == expected
    assert bits[-1] == ("nib", 40, 4)
    assert all(m.offset == m.bit_offset // 8 for m in f.members if m.bit_size)


def test_compressed_debug_sections() -> None:
    elf = fixture_elf("arm-O0-dwarf5-gz")
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as fh:
        info = ELFFile(fh).get_section_by_name(".debug_info")
        assert info is not None and info["sh_flags"] & 0x800  # SHF_COMPRESSED
    p = load(elf, use_cache=False)
    plain = load(fixture_elf("arm-O0-dwarf4"), use_cache=False)
    assert p.elf.dwarf_version == 5
    assert sorted(v.qualified for v in p.variables) == sorted(v.qualified for v in plain.variables)


def test_cxx_classes_namespaces_statics() -> None:
    p = load(fixture_elf("host-g++"), use_cache=False)
    tt = p.types
    assert p.language == "c++"
    s = _t(p, "hw::sensor")
    assert isinstance(s, StructType) and s.kind == "class" and s.name == "hw::Sensor"
    assert [b.name for b in s.bases] == ["hw::Base"]
    assert [m.name for m in s.members][-2:] == ["reading", "channel"]
    multi = _t(p, "hw::multi")
    assert [(b.name, b.offset) for b in multi.bases] == [("hw::A", 0), ("hw::B", 8)]
    assert p.find_variable("hw::Base::instances").scope == "class"
    assert p.find_variable("hw::Sensor::current").scope == "class"
    assert p.find_variable("hw::detail::depth").scope == "namespace"
    assert {p.find_variable("hw::counter").address, p.find_variable("app::counter").address} != {None}
    with pytest.raises(Exception, match="ambiguous"):
        p.find_variable("counter")
    ref = _t(p, "global_ref")
    assert isinstance(ref, PointerType) and ref.reference == "&"
    lvl = _t(p, "hw::level")
    assert isinstance(lvl, EnumType) and lvl.signed and ("Low", -1) in lvl.enumerators and lvl.size == 1
    assert p.find_type("hw::Sensor") == p.find_type("class hw::Sensor")
    assert p.find_variable("bump::calls").scope == "function"
    assert tt.sizeof(p.find_variable("app::dbl_box").type) == 16


def test_rust_statics_and_enums() -> None:
    p = load(fixture_elf("host-rustc"), use_cache=False)
    assert p.language in ("rust", "mixed")
    acc = p.find_variable("statics::sensors::ACCEL")
    assert acc.scope == "namespace" and acc.size == 8
    assert p.find_variable("COUNT").qualified == "statics::sensors::COUNT"
    color = _t(p, "statics::COLOR")
    assert isinstance(color, EnumType) and ("Green", 5) in color.enumerators
    mode = _t(p, "statics::MODE")
    assert isinstance(mode, VariantType) and mode.size == 8
    assert [v.name for v in mode.variants] == ["Idle", "Run", "Fault"]
    assert mode.discr_offset == 0 and mode.discr_size >= 1
    assert [v.discriminant for v in mode.variants] == [0, 1, 2]
    limits = _t(p, "statics::sensors::deep::LIMITS")
    assert isinstance(limits, ArrayType) and limits.count == 4


# -- cache -----------------------------------------------------------------------------------------
def test_cache_second_load_is_served_from_disk(
    tmp_path: Path, _private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firmwatch.symbols.dwarf import index as dwarf_index

    elf = tmp_path / "fw.elf"
    elf.write_bytes(fixture_elf("arm-O0-dwarf4").read_bytes())
    cold = load(elf)
    files = list(_private_cache.glob("*.idx"))
    assert len(files) == 1

    def no_dwarf(*a: object, **k: object) -> None:
        raise AssertionError("DWARF was parsed again although the cache is valid")

    monkeypatch.setattr(dwarf_index, "read_dwarf", no_dwarf)
    warm = load(elf)
    assert [v.qualified for v in warm.variables] == [v.qualified for v in cold.variables]
    for v in cold.variables:
        w = warm.find_variable(v.qualified)
        assert (w.address, w.size, warm.types.name(w.type)) == (v.address, v.size, cold.types.name(v.type))
    assert warm.types.resolved(warm.find_variable("g_accel").type) == cold.types.resolved(
        cold.find_variable("g_accel").type
    )
    assert warm.find_type("struct accel") == cold.find_type("struct accel")
    assert warm.elf == cold.elf
    assert warm.find_symbol("tick") == cold.find_symbol("tick")


def test_cache_invalidated_by_a_modified_elf(tmp_path: Path, _private_cache: Path) -> None:
    elf = tmp_path / "fw.elf"
    elf.write_bytes(fixture_elf("arm-O0-dwarf4").read_bytes())
    first = load(elf)
    assert "g_accel" in {v.name for v in first.variables}
    src = tmp_path / "other.c"
    src.write_text("int brand_new = 1;\nint main(void) { return brand_new; }\n")
    other = compile_elf("other", "gcc", [src], ["-g"], out_dir=tmp_path)
    elf.write_bytes(other.read_bytes())
    os.utime(elf, ns=(1, 1))  # even a different mtime alone must not serve the old index
    second = load(elf)
    assert {v.name for v in second.variables} >= {"brand_new"}
    assert "g_accel" not in {v.name for v in second.variables}


def test_corrupt_cache_is_rebuilt_silently(tmp_path: Path, _private_cache: Path) -> None:
    elf = tmp_path / "fw.elf"
    elf.write_bytes(fixture_elf("arm-O0-dwarf4").read_bytes())
    load(elf)
    (idx,) = list(_private_cache.glob("*.idx"))
    idx.write_bytes(idx.read_bytes()[:100])
    p = load(elf)
    assert p.find_variable("g_accel").size == 44
    idx.write_bytes(b"garbage")
    assert load(elf).find_variable("g_accel").size == 44
    assert load(elf).find_variable("g_accel").size == 44  # and the rewritten cache is good


def test_cache_keeps_the_most_recently_used(
    tmp_path: Path, _private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_mod, "MAX_ENTRIES", 3)
    elfs = []
    for i in range(5):
        elf = tmp_path / f"fw{i}.elf"
        elf.write_bytes(fixture_elf("arm-O0-dwarf4").read_bytes())
        elfs.append(elf)
    for i, elf in enumerate(elfs[:3]):
        load(elf)
        os.utime(cache_mod.cache_path(str(elf)), ns=(i * 10**9, i * 10**9))  # distinct ages
    load(elfs[0])  # a warm load counts as a use: fw0 becomes the newest
    load(elfs[3])
    load(elfs[4])
    kept = {p.name.split("-")[0] for p in _private_cache.glob("*.idx")}
    assert kept == {"fw0.elf", "fw3.elf", "fw4.elf"}, kept


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FIRMWATCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.cache_dir() == str(tmp_path / "xdg" / "firmwatch")


# -- robustness -----------------------------------------------------------------------------------
def test_damaged_debug_info_degrades_without_crashing(tmp_path: Path) -> None:
    from elftools.elf.elffile import ELFFile

    src = fixture_elf("arm-O0-dwarf4")
    data = bytearray(src.read_bytes())
    with open(src, "rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".debug_info")
        off, size = sec["sh_offset"], sec["sh_size"]
    # scribble over the second half of .debug_info (abbreviation codes, forms, references)
    for i in range(off + size // 2, off + size, 7):
        data[i] = 0xFF
    bad = tmp_path / "bad.elf"
    bad.write_bytes(bytes(data))
    p = load(bad, use_cache=False)
    assert p.elf.machine == "ARM" and p.symbols
    for v in p.variables:
        p.types.name(v.type)  # every type is printable


def test_progress_reports_debug_info_bytes() -> None:
    calls: list[tuple[int, int]] = []
    load(fixture_elf("arm-O0-dwarf4"), use_cache=False, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) >= 4  # one per compile unit
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[-1][0] == calls[-1][1] > 0
