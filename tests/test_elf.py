"""ELF level: machine, byte order, word size, sections, build id, symbols, demangling, bad files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from firmwatch.symbols import SymbolsError, load
from firmwatch.symbols.demangle import demangle_all, demangle_fallback
from fixture_builds import compile_elf, fixture_elf
from tools import require_tool


@pytest.mark.parametrize(
    ("config", "machine", "byteorder", "word"),
    [
        ("arm-O0-dwarf4", "ARM", "little", 4),
        ("arm-be-dwarf5", "ARM", "big", 4),
        ("avr-Os-dwarf4", "AVR", "little", 2),
        ("riscv32-O0-dwarf4", "RISC-V", "little", 4),
        ("host-gcc", "x86-64", "little", 8),
    ],
)
def test_machine_byteorder_word_size(config: str, machine: str, byteorder: str, word: int) -> None:
    prog = load(fixture_elf(config), use_cache=False)
    assert (prog.elf.machine, prog.elf.byteorder, prog.elf.word_size) == (machine, byteorder, word)
    assert prog.elf.elf_class == (64 if machine == "x86-64" else 32)


def test_sections_are_classified() -> None:
    prog = load(fixture_elf("arm-O0-dwarf4"), use_cache=False)
    kinds = {s.name: s for s in prog.elf.sections}
    assert kinds[".text"].kind == "flash" and "X" in kinds[".text"].flags
    assert kinds[".data"].kind == "ram" and not kinds[".data"].nobits
    assert kinds[".bss"].kind == "ram" and kinds[".bss"].nobits
    assert kinds[".debug_info"].kind == "other"
    assert any(seg.type == "PT_LOAD" for seg in prog.elf.segments)
    g = prog.find_variable("g_accel")
    assert prog.section_at(g.address).name == ".bss" and g.section == ".bss"
    assert prog.find_variable("g_const").section == ".rodata"


def test_build_id_gnu_note_and_crc_fallback(tmp_path: Path) -> None:
    host = load(fixture_elf("host-gcc"), use_cache=False)
    assert host.elf.build_id_source == "gnu" and len(host.elf.build_id) == 40
    arm = load(fixture_elf("arm-O0-dwarf4"), use_cache=False)
    assert arm.elf.build_id_source == "crc32" and arm.elf.build_id.startswith("crc32:")
    # a different image gives a different fallback id; the same image the same
    other = load(fixture_elf("arm-Os-dwarf5"), use_cache=False)
    assert other.elf.build_id != arm.elf.build_id
    assert load(fixture_elf("arm-O0-dwarf4"), use_cache=False).elf.build_id == arm.elf.build_id


def test_symbol_table_kinds_and_symbolize() -> None:
    prog = load(fixture_elf("arm-O0-dwarf4"), use_cache=False)
    tick = prog.find_symbol("tick")
    assert tick is not None and tick.kind == "function" and tick.binding == "global" and tick.size > 0
    counter = [s for s in prog.symbols if s.name == "counter"]
    assert len(counter) == 2 and all(s.binding == "local" and s.kind == "object" for s in counter)
    # Thumb function addresses have bit 0 set in the symbol table; symbolize strips it
    assert tick.address & 1
    assert prog.symbolize(tick.address & ~1) == "tick"
    assert prog.symbolize((tick.address & ~1) + 2) == "tick+2"
    acc = prog.find_variable("g_accel")
    assert prog.symbolize(acc.address + 6) == "g_accel+6"


def test_cxx_and_rust_names_are_demangled() -> None:
    cxx = load(fixture_elf("host-g++"), use_cache=False)
    s = cxx.find_symbol("hw::Sensor::current")
    assert s is not None and s.raw_name.startswith("_ZN") and s.kind == "object"
    assert cxx.find_symbol("bump()") is not None
    rs = load(fixture_elf("host-rustc"), use_cache=False)
    count = rs.find_symbol("statics::sensors::COUNT")
    assert count is not None and count.raw_name.startswith(("_ZN", "_R"))
    assert count.address == rs.find_variable("statics::sensors::COUNT").address


def test_demangler_fallback_without_cxxfilt() -> None:
    assert demangle_fallback("_ZN2hw6Sensor7currentE") == "hw::Sensor::current"
    assert demangle_fallback("_ZN7statics7sensors5COUNT17h0123456789abcdefE") == "statics::sensors::COUNT"
    assert demangle_fallback("_Z4bumpv") == "bump()"
    assert demangle_fallback("_ZN3FooIiE3barE") == "_ZN3FooIiE3barE"  # templates: left mangled
    assert demangle_fallback("plain_c") == "plain_c"
    if shutil.which("c++filt"):
        out = demangle_all(["_ZN2hw6Sensor7currentE", "main", "_ZN3app7int_boxE"])
        assert out == ["hw::Sensor::current", "main", "app::int_box"]


def test_no_dwarf_gives_symbol_table_variables(tmp_path: Path) -> None:
    elf = fixture_elf("arm-O0-dwarf4")
    stripped = tmp_path / "stripped.elf"
    subprocess.run([require_tool("arm-none-eabi-strip"), "-g", "-o", str(stripped), str(elf)], check=True)
    prog = load(stripped, use_cache=False)
    assert not prog.elf.has_dwarf
    v = prog.find_variable("g_accel")
    assert v.type is None and v.size == 44
    assert prog.find_variable("s_counter_unique").scope == "file"


def test_bad_inputs_raise_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(SymbolsError, match="no such file"):
        load(tmp_path / "missing.elf")
    txt = tmp_path / "fw.bin"
    txt.write_bytes(b"\x00\x01binary image")
    with pytest.raises(SymbolsError, match="not an ELF"):
        load(txt)
    good = fixture_elf("arm-O0-dwarf4").read_bytes()
    for cut in (20, 200, len(good) // 2):
        t = tmp_path / f"trunc{cut}.elf"
        t.write_bytes(good[:cut])
        with pytest.raises(SymbolsError, match="truncated|corrupt") as ei:
            load(t, use_cache=False)
        assert "\n" not in str(ei.value)
    with pytest.raises(SymbolsError, match="directory"):
        load(tmp_path)


def test_compile_elf_helper_builds_custom_sources(tmp_path: Path) -> None:
    src = tmp_path / "one.c"
    src.write_text("int only_one = 5;\nint main(void) { return only_one; }\n")
    elf = compile_elf("one", "gcc", [src], ["-g"], out_dir=tmp_path)
    assert load(elf, use_cache=False).find_variable("only_one").size == 4
