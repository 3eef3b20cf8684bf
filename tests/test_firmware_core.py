"""The firmware core, built from source and run on the host: its C unit tests, the shared
protocol vectors checked from C, builds with other compile-time limits, and its footprint
for Cortex-M3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import require_tool

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
VECTORS = ROOT / "docs" / "protocol-vectors.json"
CORE_SOURCES = sorted((FIRMWARE / "core").glob("*.c"))
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wpedantic"]


OPTIONS = ["-DFW_CAPTURE=1", "-DFW_CHANGE_ONLY=1"]  # the optional modules (docs/protocol.md 15, 16)


def _vector_lines(doc: dict, options: tuple[str, ...] = ()) -> list[str]:
    """docs/protocol-vectors.json as the line format firmware/tests/test_core.c reads: the
    sessions of the build with ``options`` (the minimal core: none, and the corrupt inputs)."""
    lines = [f"crc {c['hex'] or '-'} {c['crc']}" for c in doc["crc"]]

    def steps(name: str, items: list[dict]) -> None:
        lines.append(f"session {re.sub(r'[^A-Za-z0-9_]+', '_', name)}")
        for s in items:
            send = s.get("send_hex") or s.get("send_text", "").encode().hex()
            if send:
                lines.append(f"send {send}")
            if s.get("ticks"):
                lines.append(f"tick {s['ticks']}")
            if s.get("capture_timer"):
                lines.append(f"timer {s['capture_timer']}")
            expect = s.get("expect_hex") if "expect_hex" in s else s["expect_text"].encode().hex()
            lines.append(f"expect {expect or '-'}")
            if "rx_errors" in s:
                lines.append(f"errors {s['rx_errors']}")

    for session in doc["sessions"]:
        if tuple(session["options"]) == options:
            steps(session["name"], session["steps"])
    for c in doc["corrupt"]:
        if c["dir"] == "host_to_device" and not options:
            steps(
                c["name"], [{"send_hex": c["hex"], "expect_hex": c["reply_hex"], "rx_errors": c["rx_errors"]}]
            )
    return lines


@pytest.fixture(scope="module")
def unit_test_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("make")
    require_tool("cc")
    build = tmp_path_factory.mktemp("fwbuild")
    subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}", f"{build}/tests/test_core"],
        check=True,
        capture_output=True,
        text=True,
    )
    return build / "tests" / "test_core"


def test_core_unit_tests_pass(unit_test_binary: Path) -> None:
    r = subprocess.run([str(unit_test_binary)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    checks = int(re.search(r"(\d+) checks, 0 failed", r.stdout).group(1))
    assert checks > 100_000  # the scheduler test alone checks every one of 100000 ticks


def test_core_unit_tests_pass_without_text_mode(tmp_path: Path) -> None:
    """-DFW_TEXT_MODE=0: binary behaviour unchanged, printable input is dropped silently."""
    cc = require_tool("cc")
    exe = tmp_path / "test_core_binary"
    subprocess.run(
        [
            cc,
            *WARN,
            "-O1",
            "-DFW_TEXT_MODE=0",
            "-fno-pie",
            "-no-pie",
            f"-I{FIRMWARE / 'core'}",
            "-o",
            str(exe),
            str(FIRMWARE / "tests" / "test_core.c"),
            *map(str, CORE_SOURCES),
        ],
        check=True,
    )
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert " 0 failed" in r.stdout


def test_core_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    """The unit tests again (fuzzing included) with ASan + UBSan: any out-of-bounds access,
    overflow or misaligned access in the parser or the rings aborts the run."""
    cc = require_tool("cc")
    exe = tmp_path / "test_core_asan"
    r = subprocess.run(
        [
            cc,
            *WARN,
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-pie",
            "-no-pie",
            f"-I{FIRMWARE / 'core'}",
            "-o",
            str(exe),
            str(FIRMWARE / "tests" / "test_core.c"),
            *map(str, CORE_SOURCES),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(VECTORS.read_text())
    vec = tmp_path / "vectors.txt"
    vec.write_text("\n".join(_vector_lines(doc)) + "\n")
    r = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:] + r.stdout[-2000:]
    assert " 0 failed" in r.stdout


def test_protocol_vectors_checked_from_c(unit_test_binary: Path, tmp_path: Path) -> None:
    doc = json.loads(VECTORS.read_text())
    lines = _vector_lines(doc)
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join(lines) + "\n")
    r = subprocess.run([str(unit_test_binary), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"vectors: {len(lines)} lines checked" in r.stdout
    assert sum(1 for line in lines if line.startswith("expect ")) > 60


def test_core_with_the_optional_modules(tmp_path: Path) -> None:
    """-DFW_CAPTURE=1 -DFW_CHANGE_ONLY=1 under ASan + UBSan: the core's own tests unchanged, the
    modules' tests (firmware/tests/test_options.c) and the vector sessions of that build."""
    cc = require_tool("cc")
    exe = tmp_path / "test_core_options"
    r = subprocess.run(
        [cc, *WARN, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", *OPTIONS,
         "-fno-pie", "-no-pie", f"-I{FIRMWARE / 'core'}", "-o", str(exe),
         str(FIRMWARE / "tests" / "test_core.c"), *map(str, CORE_SOURCES)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = _vector_lines(json.loads(VECTORS.read_text()), ("capture", "change_only"))
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join(lines) + "\n")
    assert sum(1 for line in lines if line.startswith("timer ")) >= 3
    r = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:] + r.stdout[-2000:]
    assert " 0 failed" in r.stdout
    assert f"vectors: {len(lines)} lines checked" in r.stdout


def test_vectors_json_is_generated_from_the_spec_script() -> None:
    r = subprocess.run([sys.executable, str(FIRMWARE / "tests" / "make_vectors.py"), "--check"])
    assert r.returncode == 0, "docs/protocol-vectors.json is stale: run firmware/tests/make_vectors.py"


def test_a_corrupted_vector_is_caught(unit_test_binary: Path, tmp_path: Path) -> None:
    """The C vector runner must be able to fail: flip one expected byte."""
    doc = json.loads(VECTORS.read_text())
    lines = _vector_lines(doc)
    i = next(i for i, line in enumerate(lines) if line.startswith("expect aa55"))
    hexs = lines[i].split()[1]
    lines[i] = "expect " + hexs[:-2] + ("0b" if hexs[-2:] != "0b" else "0c")
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n")
    r = subprocess.run([str(unit_test_binary), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "1 failed" in r.stdout


@pytest.mark.parametrize(
    "defines",
    [
        ["-DFW_TEXT_MODE=0"],
        ["-DFW_MAX_STREAMS=32", "-DFW_MAX_TOTAL_REGIONS=64", "-DFW_TX_SIZE=4096"],
        [
            "-DFW_MAX_STREAMS=1",
            "-DFW_MAX_REGIONS=1",
            "-DFW_MAX_TOTAL_REGIONS=1",
            "-DFW_MAX_PAYLOAD=64",
            "-DFW_MAX_STREAM_BYTES=32",
            "-DFW_TX_SIZE=256",
        ],
        ["-DFW_MAX_PAYLOAD=246", "-DFW_MAX_STREAM_BYTES=200", "-DFW_TICK_HZ=10000u"],
        [*OPTIONS, "-DFW_TEXT_MODE=0", "-DFW_CAPTURE_MAX_CHANNELS=16"],
        [*OPTIONS, "-DFW_MAX_STREAMS=1", "-DFW_MAX_REGIONS=1", "-DFW_MAX_TOTAL_REGIONS=1", "-DFW_MAX_PAYLOAD=64",
         "-DFW_MAX_STREAM_BYTES=32", "-DFW_TX_SIZE=256", "-DFW_CAPTURE_MAX_CHANNELS=4"],
    ],
    ids=["binary-only", "large", "tiny", "big-frames", "options-binary-only", "options-tiny"],
)
def test_core_builds_with_other_limits(defines: list[str], tmp_path: Path) -> None:
    cc = require_tool("cc")
    r = subprocess.run(
        [cc, *WARN, "-O2", *defines, "-c", *map(str, CORE_SOURCES)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_limits_whose_replies_cannot_fit_do_not_compile(tmp_path: Path) -> None:
    """Issue 9.10: 32 streams, 64 regions and a 512-byte TX buffer used to build, and LIST
    then never got an answer (its reply could not fit): now the build says why."""
    cc = require_tool("cc")
    r = subprocess.run(
        [cc, *WARN, "-O2", "-DFW_MAX_STREAMS=32", "-DFW_MAX_TOTAL_REGIONS=64", "-DFW_TX_SIZE=512",
         "-DFW_TEXT_MODE=0", "-c", *map(str, CORE_SOURCES)],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode != 0
    assert "LIST_reply_needs_a_larger_FW_TX_SIZE" in r.stderr


def test_large_limits_answer_list_in_both_modes(tmp_path: Path) -> None:
    """32 streams and 64 regions with a 1 KB TX buffer: the binary LIST fits; the text LIST
    (about 1.8 KB for 32 streams) goes out a line at a time, every line checked."""
    cc = require_tool("cc")
    exe = tmp_path / "test_core_large"
    subprocess.run(
        [cc, *WARN, "-O1", "-DFW_MAX_STREAMS=32", "-DFW_MAX_TOTAL_REGIONS=64", "-DFW_TX_SIZE=1024",
         "-fno-pie", "-no-pie", f"-I{FIRMWARE / 'core'}", "-o", str(exe),
         str(FIRMWARE / "tests" / "test_core.c"), *map(str, CORE_SOURCES)],
        check=True,
    )  # fmt: skip
    r = subprocess.run([str(exe), "--list-only"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    assert " 0 failed" in r.stdout


@pytest.mark.parametrize(
    "compiler,flags",
    [
        ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb"]),
        ("riscv64-unknown-elf-gcc", ["-march=rv32imac", "-mabi=ilp32", "-ffreestanding"]),
        ("avr-gcc", ["-mmcu=atmega328p"]),
    ],
)
def test_core_cross_compiles_without_warnings(compiler: str, flags: list[str], tmp_path: Path) -> None:
    cc = require_tool(compiler)
    r = subprocess.run(
        [cc, *WARN, "-Os", *flags, "-I", str(FIRMWARE / "extras/stack_paint"), "-I", str(FIRMWARE / "extras/heap_wrap"),
         "-c", *map(str, CORE_SOURCES), str(FIRMWARE / "examples/demo/demo.c"),
         *map(str, sorted((FIRMWARE / "extras").glob("*/*.c")))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_core_footprint_on_cortex_m3(tmp_path: Path) -> None:
    """The issue's goals for the core on Cortex-M3 with 16 streams: <= 512 B of RAM (TX buffer
    apart) and <= 3 KB of flash, met by the binary-only core linked with -Os -flto. Measured
    by `make footprint`: a minimal port linked with and without the core."""
    require_tool("arm-none-eabi-gcc")
    require_tool("arm-none-eabi-size")
    out = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE), f"BUILD={tmp_path}", "footprint"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out)
    sizes = {
        m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)))
        for m in re.finditer(
            r"core on Cortex-M3, (.+?):\s+flash\s+(\d+) B\s+RAM\s+(\d+) B \+ TX buffer (\d+) B", out
        )
    }
    assert set(sizes) == {"text+binary", "binary only", "text+binary, LTO", "binary only, LTO"}
    for flash, ram, tx in sizes.values():
        assert ram <= 512 and tx == 1024
        assert flash > 1000  # the measurement really linked the core
    assert sizes["binary only, LTO"][0] <= 3072
    assert sizes["binary only"][0] < sizes["text+binary"][0]
