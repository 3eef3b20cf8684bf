"""``firmwatch symbols | ptype | info`` run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixture_builds import fixture_elf
from tools import require_tool


def run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FIRMWATCH_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, "-m", "firmwatch", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.fixture
def elf() -> str:
    return str(fixture_elf("arm-O0-dwarf4"))


def test_symbols_json_shape(elf: str, tmp_path: Path) -> None:
    r = run("symbols", elf, "--json", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and len(rows) > 40
    for row in rows:
        assert set(row) == {"name", "address", "size", "type", "section", "file", "line"}
        assert isinstance(row["address"], int)
    by = {row["name"]: row for row in rows}
    assert by["g_accel"]["type"] == "struct accel" and by["g_accel"]["size"] == 44
    assert by["g_accel"]["section"] == ".bss" and by["g_accel"]["file"].endswith("types.c")
    assert "'dup_a.c'::counter" in by and "tick_b::hits" in by


def test_symbols_filter_and_table(elf: str, tmp_path: Path) -> None:
    r = run("symbols", elf, "--filter", "g_acc*", cache=tmp_path)
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["address", "size", "name"]
    names = {ln.split()[2] for ln in lines[1:]}
    assert names == {"g_accel", "g_accels"}
    r = run("symbols", elf, "--filter", "*::counter", "--json", cache=tmp_path)
    assert {x["name"] for x in json.loads(r.stdout)} == {"'dup_a.c'::counter", "'dup_b.c'::counter"}
    r = run("symbols", elf, "--filter", "nothing_like_this*", cache=tmp_path)
    assert r.returncode == 1 and "no variables" in r.stderr


def test_ptype_json_members_and_bitfields(elf: str, tmp_path: Path) -> None:
    r = run("ptype", elf, "g_flags", "--json", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["type"] == "struct flags" and d["size"] == 8 and isinstance(d["address"], int)
    m = {x["name"]: x for x in d["members"]}
    assert m["error"] == {"name": "error", "offset": 0, "size": 4, "type": "unsigned int", "bit_offset": 1, "bit_size": 3}
    assert m["tail"] == {"name": "tail", "offset": 4, "size": 1, "type": "uint8_t"}
    r = run("ptype", elf, "g_accel", "--json", cache=tmp_path)
    d = json.loads(r.stdout)
    inner = next(x for x in d["members"] if x["name"] == "in")
    assert inner["offset"] == 6 and [x["offset"] for x in inner["members"]] == [6, 8]


def test_ptype_text_matches_gdb_style(elf: str, tmp_path: Path) -> None:
    r = run("ptype", elf, "g_accel", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "/* offset      |    size */  type = struct accel {" in r.stdout
    assert "/*     28      |       4 */    const char *label;" in r.stdout
    assert "total size (bytes):   44" in r.stdout
    r = run("ptype", elf, "g_int", cache=tmp_path)
    assert r.returncode == 0 and "type = int" in r.stdout


def test_ptype_expression_through_compiler(elf: str, tmp_path: Path) -> None:
    pytest.importorskip("firmwatch.symbols.expr")
    r = run("ptype", elf, "g_accels[1][0].pair[1]", "--json", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    base = json.loads(run("symbols", elf, "--filter", "g_accels", "--json", cache=tmp_path).stdout)[0]["address"]
    assert d["type"] == "struct inner" and d["address"] == base + 2 * 44 + 10 + 4
    r = run("ptype", elf, "g_accel.nope", cache=tmp_path)
    assert r.returncode == 1 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_info_text_and_json(elf: str, tmp_path: Path) -> None:
    r = run("info", elf, cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ARM (ELF32), little-endian, 4-byte words" in r.stdout
    assert ".bss" in r.stdout and "memory usage" in r.stdout
    d = json.loads(run("info", elf, "--json", cache=tmp_path).stdout)
    assert d["arch"] == "ARM" and d["word_size"] == 4 and d["byte_order"] == "little"
    assert d["build_id"].startswith("crc32:")
    kinds = {s["name"]: s["kind"] for s in d["sections"]}
    assert kinds[".text"] == "flash" and kinds[".bss"] == "ram"
    assert d["memory"]["bss"] == next(s["size"] for s in d["sections"] if s["name"] == ".bss")
    avr = json.loads(run("info", str(fixture_elf("avr-Os-dwarf4")), "--json", cache=tmp_path).stdout)
    assert avr["arch"] == "AVR" and avr["word_size"] == 2


@pytest.mark.parametrize("kind", ["missing", "not-elf", "truncated", "directory"])
def test_bad_inputs_give_one_line(kind: str, elf: str, tmp_path: Path) -> None:
    path = tmp_path / "x.elf"
    if kind == "not-elf":
        path.write_text(":020000040800F2\n")  # an Intel HEX file
    elif kind == "truncated":
        path.write_bytes(Path(elf).read_bytes()[:1000])
    elif kind == "directory":
        path = tmp_path
    for cmd in (["symbols", str(path)], ["ptype", str(path), "x"], ["info", str(path)]):
        r = run(*cmd, cache=tmp_path / "c")
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("firmwatch: "), r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_elf_without_dwarf_warns_and_lists(elf: str, tmp_path: Path) -> None:
    stripped = tmp_path / "nodebug.elf"
    subprocess.run([require_tool("arm-none-eabi-strip"), "-g", "-o", str(stripped), elf], check=True)
    r = run("symbols", str(stripped), "--json", cache=tmp_path)
    assert r.returncode == 0
    assert "no DWARF" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    by = {x["name"]: x for x in json.loads(r.stdout)}
    assert by["g_accel"]["size"] == 44 and by["g_accel"]["type"] == "<44 raw bytes>"


def test_ptype_cxx_bases_and_rust_enum(tmp_path: Path) -> None:
    d = json.loads(run("ptype", str(fixture_elf("host-g++")), "hw::multi", "--json", cache=tmp_path).stdout)
    assert d["type"] == "struct hw::Multi" and d["size"] == 24
    assert [(b["name"], b["offset"], b["size"]) for b in d["bases"]] == [("hw::A", 0, 4), ("hw::B", 8, 8)]
    assert [m["name"] for m in d["members"]] == ["c"]
    r = run("ptype", str(fixture_elf("host-rustc")), "statics::MODE", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "__0: u32;" in r.stdout and "count: u16;" in r.stdout


def test_ptype_without_dwarf_is_raw_bytes(elf: str, tmp_path: Path) -> None:
    stripped = tmp_path / "nodebug.elf"
    subprocess.run([require_tool("arm-none-eabi-strip"), "-g", "-o", str(stripped), elf], check=True)
    r = run("ptype", str(stripped), "g_accel", "--json", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["type"] == "<44 raw bytes>" and d["size"] == 44 and d["members"] == []
