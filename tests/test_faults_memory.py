"""Fault injection for memory health, against the real host device: a relay that damages the
link never makes a refresh report a wrong figure (a refresh that cannot read says so), and a
device that dies under ``firmwatch memory`` ends it with one sentence."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmwatch.session.memory_health import MemoryMonitor
from firmwatch.session.session import Session
from firmwatch.sim import start_sim
from firmwatch.symbols import load
from firmwatch.targets.base import TargetError
from firmwatch.targets.streamer import StreamerTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_relay import CorruptingRelay  # noqa: E402
from tools import require_tool  # noqa: E402

pytestmark = [pytest.mark.slow]


def test_a_corrupting_link_never_yields_a_wrong_figure(tmp_path: Path) -> None:
    require_tool("cc")
    with start_sim("host", build_dir=tmp_path / "b") as dev:
        program = load(str(dev.elf))
        with StreamerTarget(dev.port) as clean:  # set the pattern over a clean link
            s = Session(program, clean)
            s.write("demo_alloc_size", "40")
            s.write("demo_alloc_blocks", "3")
            s.write("demo_stack_depth", "300")
            deadline = time.monotonic() + 10
            while int(s.evaluate("demo_alloc_held").scalar) != 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            s.close()
        with CorruptingRelay(dev.port, rate=1e-2, seed=21) as relay, StreamerTarget(relay.port) as t:
            m = MemoryMonitor(program, t)
            good, failed, peaks = 0, 0, []
            for _ in range(30):
                try:
                    h = m.refresh()
                except TargetError:
                    failed += 1  # said, not guessed
                    continue
                good += 1
                assert h.value("heap.in_use") in (None, 120), h.figures.get("heap.in_use")
                assert h.value("heap.allocations") in (None, 3)
                assert h.value("stack.top") in (None, h.value("stack.top"))
                if h.value("stack.peak") is not None:
                    peaks.append(h.value("stack.peak"))
            assert relay.to_host.total > 100
        assert good >= 15, f"only {good} of 30 refreshes got through ({failed} failed)"
        assert peaks and peaks == sorted(peaks), "the high-water mark never moves back"
        assert min(peaks) >= 300 * 40


def test_cli_memory_says_one_sentence_when_the_device_dies(tmp_path: Path) -> None:
    require_tool("cc")
    dev = start_sim("host", build_dir=tmp_path / "b")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "firmwatch", "memory", str(dev.elf), "--port", dev.port,
                                 "--interval", "0.2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # one refresh made it: the device is up
        assert first.startswith("{")
        dev.stop()
        out, err = proc.communicate(timeout=60)
    finally:
        dev.stop()
    assert proc.returncode == 1, (out[-500:], err[-500:])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("firmwatch: ") and "Traceback" not in err, err[-1000:]
