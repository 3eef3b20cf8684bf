"""The FreeRTOS demo (firmware/rtos) built once per board per test run, for every RTOS test module:
compiling the kernel is the slowest step of those tests."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_root: Path | None = None


def build_dir(board: str) -> Path:
    """A build directory of ``board``'s demo for this run (built by the first test that starts it)."""
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="firmwatch-rtos-"))
        atexit.register(shutil.rmtree, _root, True)
    return _root / board
