"""One profiling run over a connected device, whichever way it profiles.

A device reached over the streamer's line (transport serial or tcp) is profiled *instrumented*:
firmware/profiler shares that line and reports every call (``InstrumentedRun``). A device
reached over a GDB server (rsp, gdb) has its program counter *sampled* (``PcSampler``). The
front ends (the command line, the debug adapter's profile view, the Python API) choose through
:func:`profile_run` and drive the result through :class:`ProfileRun` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from firmwatch.profiler.protocol import ProfilerError
from firmwatch.profiler.report import Profile

if TYPE_CHECKING:
    from firmwatch.profiler.instrumented import InstrumentedRun
    from firmwatch.profiler.sampler import PcSampler
    from firmwatch.symbols.program import Program
    from firmwatch.targets.base import Target

MODES = ("auto", "instrumented", "sampled")
STREAMER_TRANSPORTS = ("serial", "tcp")


class ProfileRun(Protocol):
    """What a front end asks of a started run, from any thread."""

    def snapshot(self) -> Profile:
        """The profile so far."""
        ...

    def poll_status(self) -> object:
        """Fetch the device's own counters for a live view (its overflows); a run without device
        counters has nothing to fetch."""
        ...

    def stop(self) -> Profile:
        """End the run; the final profile."""
        ...


def profile_run(program: Program, target: Target, transport: str, *, mode: str = "auto", strict: bool = True,
                rate_hz: float = 1000.0, method: str = "auto") -> InstrumentedRun | PcSampler:
    """The run (not started) for a device reached over ``transport``: ``mode`` auto picks by
    transport; ``strict`` refuses a device running other code than the ELF (instrumented);
    ``rate_hz`` and ``method`` are the sampler's."""
    if mode not in MODES:
        raise ProfilerError(f"profile mode '{mode}' is unknown: use auto, instrumented or sampled.")
    streamer = transport in STREAMER_TRANSPORTS
    if mode == "sampled" and streamer:
        raise ProfilerError("a sampled profile needs a GDB server (transport rsp or gdb): the streamer cannot read "
                            "the program counter; use mode instrumented with firmware/profiler.")
    if mode == "instrumented" and not streamer:
        raise ProfilerError("an instrumented profile needs the firmware's serial line (transport serial or tcp); "
                            "over a GDB server, use mode sampled.")
    if streamer:
        from firmwatch.profiler.instrumented import InstrumentedRun

        line: Any = target  # the streamer's line carries firmware/profiler's frames too (a SharedLine)
        return InstrumentedRun(program, line, strict=strict)
    from firmwatch.profiler.sampler import PcSampler
    from firmwatch.profiler.symbolize import Symbolizer

    return PcSampler(target.control(), Symbolizer(program), rate_hz=rate_hz, method=method)
