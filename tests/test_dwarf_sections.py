"""Compressed debug sections (zlib, zstd, .zdebug) read like plain ones; DWARF that is absent
or unreadable gets one sentence (issue 19.3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmwatch.symbols import load
from fixture_builds import fixture_elf
from tools import require_tool


def _compressed(src: Path, how: str, tmp: Path) -> Path:
    objcopy = require_tool("arm-none-eabi-objcopy")
    out = tmp / f"{src.stem}-{how}.elf"
    subprocess.run([objcopy, f"--compress-debug-sections={how}", str(src), str(out)], check=True)
    return out


def _summary(path: Path) -> list[tuple[str, int, int | None, str]]:
    p = load(path, use_cache=False)
    return sorted((v.qualified, v.address, v.size, p.types.name(v.type)) for v in p.variables)


@pytest.mark.parametrize("how", ["zstd", "zlib", "zlib-gnu"])
def test_compressed_debug_sections_read_like_plain_ones(how: str, tmp_path: Path) -> None:
    plain = fixture_elf("arm-Os-dwarf5")
    packed = _compressed(plain, how, tmp_path)
    header = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(packed)], capture_output=True, text=True,
                            check=True).stdout
    assert (".zdebug_info" in header) if how == "zlib-gnu" else (" C " in header or "C " in header), header
    p = load(packed, use_cache=False)
    assert p.elf.has_dwarf and p.elf.debug_note is None
    assert _summary(packed) == _summary(plain)


def test_zstd_without_the_module_says_so_once(tmp_path: Path) -> None:
    packed = _compressed(fixture_elf("arm-Os-dwarf5"), "zstd", tmp_path)
    code = (
        "import sys; sys.modules['backports.zstd'] = None; sys.modules['compression.zstd'] = None\n"
        "sys.argv = ['firmwatch', 'symbols', '--no-cache', sys.argv[1]]\n"
        "from firmwatch.cli.main import main; sys.exit(main())\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(packed)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert warnings == [
        f"firmwatch: warning: the DWARF debug info of {packed} could not be read: its debug sections are "
        "zstd-compressed and the zstd module is missing (pip install backports.zstd); names come from the "
        "symbol table and values show as raw bytes"
    ], r.stderr


def test_no_dwarf_is_one_sentence(tmp_path: Path) -> None:
    strip = require_tool("arm-none-eabi-strip")
    out = tmp_path / "nodebug.elf"
    subprocess.run([strip, "--strip-debug", "-o", str(out), str(fixture_elf("arm-O0-dwarf4"))], check=True)
    p = load(out, use_cache=False)
    assert not p.elf.has_dwarf
    assert p.elf.debug_note == (f"{out} has no DWARF debug info; names come from the symbol table and values "
                                "show as raw bytes (rebuild with -g for types)")
