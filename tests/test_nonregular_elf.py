"""A FIFO (or any non-regular file) given as the ELF is refused with one sentence, at once:
reading one would wait for a writer forever (issue 9.9)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dap_client import DapClient
from firmwatch.symbols import SymbolsError, load
from firmwatch.symbols.elf import open_elf


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "firmware.elf"
    os.mkfifo(p)
    return p


def test_load_refuses_a_fifo_without_waiting(fifo: Path) -> None:
    t = time.monotonic()
    with pytest.raises(SymbolsError, match=r"firmware\.elf is a FIFO, not an ELF file; pass the path"):
        load(fifo)
    with pytest.raises(SymbolsError, match="is a FIFO"):
        open_elf(str(fifo))  # the index cache's warm path opens the ELF through here too
    with pytest.raises(SymbolsError, match="is a character device"):
        load("/dev/null")
    assert time.monotonic() - t < 5


def test_cli_refuses_a_fifo(fifo: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "firmwatch", "symbols", str(fifo)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().endswith("is a FIFO, not an ELF file; pass the path of the firmware's .elf file"), r.stderr
    assert "Traceback" not in r.stderr


def test_adapter_attach_refuses_a_fifo_and_keeps_answering(fifo: Path) -> None:
    with DapClient() as c:
        c.request("initialize", {"adapterID": "firmwatch"})
        r = c.request_raw("attach", {"elf": str(fifo), "transport": "serial", "port": "/nonexistent/tty"},
                          timeout=20)
        assert not r["success"]
        assert "is a FIFO, not an ELF file" in r["message"], r
        r = c.request_raw("attach", {"elf": "/dev/null", "transport": "serial", "port": "/nonexistent/tty"},
                          timeout=20)
        assert "is a character device" in r["message"], r
