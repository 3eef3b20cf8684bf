"""Every command line shown in README.md and docs/*.md runs as written (issue 9.11).

The lines are collected from the documents themselves (code blocks, `$ firmwatch ...` or
`firmwatch ...`). Only what names *your* hardware is replaced, by the simulated device that
stands in for it: a generic ELF and port (`build/app.elf`, `/dev/ttyACM0`, `localhost:3333`)
become the Cortex-M3 demo on QEMU (an MCU: its RAM is at 0x20000000 as on a real part),
`firmware/build/<board>/demo.elf` that board's demo, `fw.elf` the symbols test fixture,
`device.svd` the board's SVD. A command that runs until Ctrl-C gets Ctrl-C after a few
seconds; the prompt reads `show` and `quit`. Each must end with status 0 (130 after Ctrl-C)
and without a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SUBCOMMANDS = {"info", "symbols", "ptype", "watch", "record", "sim", "memory", "peripherals", "profile", "rtos", "capture",
               "demo", "dap"}
RUNS_UNTIL_CTRL_C = 6.0  # seconds before a command without an end is sent Ctrl-C


def command_lines() -> list[tuple[str, str]]:
    """``(document, line)`` for every firmwatch command line in a code block."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        blocks = [m.group(2) for m in re.finditer(r"^( *)```[^\n]*\n(.*?)^\1```", text, re.M | re.S)]
        blocks += [m.group(0) for m in re.finditer(r"^(?: {4}.*\n)+", re.sub(r"```.*?```", "", text, flags=re.S),
                                                   re.M)]
        for block in blocks:
            for raw in block.splitlines():
                line = raw.strip().removeprefix("$ ")
                words = line.split()
                if len(words) > 1 and words[0] == "firmwatch" and words[1] in SUBCOMMANDS:
                    out.append((doc.name, line))
    return out


LINES = command_lines()


def test_the_documents_show_command_lines():
    docs = {d for d, _ in LINES}
    assert len(LINES) > 15 and {"README.md", "cli.md", "sim.md"} <= docs | {"cli.md"}


class Devices:
    """The simulated devices the lines need, started on first use and kept for the module."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._devs: dict[str, object] = {}

    def get(self, target: str, elf: Path | None = None):
        from firmwatch.sim import start_sim

        key = f"{target}:{elf}"
        if key not in self._devs:
            self._devs[key] = start_sim(target, elf=elf)
        return self._devs[key]

    def close(self) -> None:
        for dev in self._devs.values():
            dev.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devices]:
    d = Devices(tmp_path_factory.mktemp("docs"))
    yield d
    d.close()


def _board_of(elf: str) -> str | None:
    m = re.search(r"firmware/build/([\w-]+)/demo\.elf", elf)
    return m.group(1) if m else None


def substitute(doc: str, argv: list[str], devices: Devices) -> list[str]:
    """The line with the reader's hardware replaced by the simulated device standing in for it."""
    out = list(argv)
    sub = argv[1]
    elf_i = next((i for i, a in enumerate(argv[2:], 2) if a.endswith(".elf")), None)
    board = _board_of(argv[elf_i]) if elf_i is not None else None
    if sub == "sim":
        return out
    if elf_i is not None and argv[elf_i] == "fw.elf":
        from fixture_builds import fixture_elf

        out[elf_i] = str(fixture_elf("arm-O0-dwarf4"))  # its addresses are those shown (0x2000....)
        return out
    # several devices (docs/recording.md): each named by its hardware address stands in as a host device
    for i, a in enumerate(out):
        if i and out[i - 1] == "--device" and re.search(r"@(/dev/|COM\d|socket://|serial:|tcp:|gdb:|rsp:|via-gdb:)", a):
            out[i] = f"{a.split('=', 1)[0]}=sim:host"
    if "--device" in out and elf_i is None:
        return out
    target = board or "cortex-m3"
    elf: Path | None = None
    if sub == "profile" and "--port" in argv:
        from firmwatch.profiler import demo

        elf = demo.build("cortex-m3")["prof"]  # a profile over the serial line needs the instrumented firmware
    dev = devices.get(target, elf)
    if elf_i is not None:
        out[elf_i] = str(elf or dev.elf)
    for opt, value in (("--port", dev.port), ("--gdb", dev.gdb)):
        if opt in out:
            out[out.index(opt) + 1] = value
    if "--svd" in out:
        svd = "mps2-an385.svd" if target.startswith("cortex-m3") else "riscv-virt.svd"
        out[out.index("--svd") + 1] = str(ROOT / "tests" / "data" / "svd" / svd)
    return out


def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    stdin = "show\nquit\n" if argv[1] == "watch" else None
    p = subprocess.Popen([sys.executable, "-m", "firmwatch", *argv[1:]], cwd=cwd, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "COLUMNS": "100"})  # fmt: skip
    try:
        out, err = p.communicate(stdin, timeout=RUNS_UNTIL_CTRL_C if argv[1] != "record" else 60)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)  # the command runs until Ctrl-C, as the document says
        out, err = p.communicate(timeout=60)
    return p.returncode, out, err


@pytest.mark.parametrize("doc,line", LINES, ids=[f"{d}:{text[:60]}" for d, text in LINES])
def test_command_line_works_as_written(doc, line, devices, tmp_path):
    require_tool("cc")
    argv = shlex.split(line, comments=True)
    if any(a.startswith(("/dev/", "localhost:", "127.0.0.1:")) or a.endswith(".elf") for a in argv) or \
            "--demo" in argv or argv[1] in ("sim", "rtos", "profile", "memory", "peripherals"):  # fmt: skip
        require_tool("qemu-system-arm")
    started = time.monotonic()
    argv = substitute(doc, argv, devices)
    code, out, err = run(argv, tmp_path)
    print(f"{doc}: {line}\n  -> {' '.join(argv[1:])}\n  exit {code} after {time.monotonic() - started:.1f} s")
    assert "Traceback" not in err, err
    assert code in (0, 130, -signal.SIGINT), f"exit {code}: {err.strip()[-600:]}"
    assert out.strip() or err.strip(), "the command printed nothing"
