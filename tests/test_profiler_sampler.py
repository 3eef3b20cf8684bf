"""The PC sampler's instants stay random when the transport is slower than the sampling rate.

Samples taken back to back would follow the transport's round trip, a fixed interval that
aliases with a periodic workload (a control loop) exactly as a fixed timer does: halting QEMU,
the profiler demo's longest function came out 0.06 under its share that way. A fake control
whose every read takes 3 ms is sampled at 1 kHz: the gaps between its reads must vary.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from types import SimpleNamespace

from elftools.elf.elffile import ELFFile

from firmwatch.profiler.sampler import PcSampler
from firmwatch.profiler.symbolize import Symbolizer
from firmwatch.symbols import load
from firmwatch.targets.control import RunState
from tools import wait_for

READ_S = 0.003


class SlowLiveControl:
    """Reads the PC (always ``pc``) while the CPU runs, each read one slow round trip long."""

    state = RunState.RUNNING
    target = SimpleNamespace(capabilities={"live-read"}, info=lambda: SimpleNamespace(name="slow fake"))

    def __init__(self, pc: int) -> None:
        self.pc = pc
        self.starts: list[float] = []

    def live_registers(self, names: list[str]) -> dict[str, int]:
        self.starts.append(time.monotonic())
        time.sleep(READ_S)
        return {"pc": self.pc}


def test_a_transport_slower_than_the_rate_still_samples_at_random_instants(host_build: Path) -> None:
    elf = host_build / "demo.elf"
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        main = symtab.get_symbol_by_name("main")[0]["st_value"]
    control = SlowLiveControl(main)
    sampler = PcSampler(control, Symbolizer(load(str(elf))), rate_hz=1000)  # type: ignore[arg-type]
    assert sampler.start() == "live"
    try:
        wait_for(lambda: len(control.starts) >= 150, timeout=30, what="150 samples")
    finally:
        sampler.stop()
    gaps = [b - a for a, b in zip(control.starts[2:], control.starts[3:])]
    # back to back the gaps are one read each (3 ms, scheduling noise aside); with a random
    # pause of a period's mean (1 ms, exponential) after each read their spread is about 1 ms
    assert min(gaps) >= READ_S
    assert statistics.pstdev(gaps) > 0.4e-3, (statistics.mean(gaps), statistics.pstdev(gaps))
    assert statistics.mean(gaps) < READ_S + 3e-3, "the pause is about a period, not more"
