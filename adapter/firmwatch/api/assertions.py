"""Assertions on a running firmware for hardware-in-the-loop tests: "stays within", "reaches".

Each watches the expression at a fixed rate, checks every sample as it arrives, and on failure
raises an :class:`AssertionError` whose message is the verdict in one sentence followed by the
observed trace (figures and the samples around the failure), so a CI log says what the firmware
did, not only that it was wrong. Every sample checked is also kept in the device's :class:`Trace`
when one is attached (the pytest plugin attaches one per test and writes it as a CSV next to the
junit report when the test fails).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firmwatch.api.errors import ApiError
from firmwatch.api.samples import Sample

if TYPE_CHECKING:
    from firmwatch.api.device import Device

SHOWN = 12  # samples of the trace printed around a failure


@dataclass
class Trace:
    """Samples observed by assertions and waits, in arrival order (one row per sample, the
    recorder's columns), capped at ``limit`` rows with the overflow counted."""

    limit: int = 1_000_000
    rows: list[tuple[int, float, float, str, Any]] = field(default_factory=list)  # seq, t, host t, name, value
    overflow: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, s: Sample) -> None:
        with self._lock:
            if len(self.rows) >= self.limit:
                self.overflow += 1
                return
            v = s.value
            self.rows.append((s.seq, s.target_time, s.host_time, s.name, v if isinstance(v, int | float) else str(v)))

    def __len__(self) -> int:
        return len(self.rows)

    def write_csv(self, path: str, session_id: str | None = None) -> int:
        """Write the rows as ``firmwatch record`` writes a recording; returns the rows written."""
        from firmwatch.session.recorder import Recorder

        rec = Recorder(path, session_id)
        try:
            with self._lock:
                rec.write_many(list(self.rows))
        finally:
            rec.close()
        return rec.rows


class TraceAssertionError(AssertionError):
    """A failed firmwatch assertion; ``samples`` are what was observed (``Sample`` objects)."""

    def __init__(self, message: str, samples: list[Sample]):
        super().__init__(message)
        self.samples = samples


def predicate_of(p: Callable[[Any], bool] | object) -> Callable[[Any], bool]:
    """A callable as it is; any other value becomes "equals that value"."""
    if callable(p):
        return p
    return lambda v: bool(v == p)


def describe_predicate(p: Callable[[Any], bool] | object) -> str:
    if callable(p):
        name = getattr(p, "__name__", "")
        return "the condition" if not name or name == "<lambda>" else f"{name}()"
    return f"== {p!r}"


def _num(v: Any, expr: str) -> float:
    if isinstance(v, bool | int | float) and not isinstance(v, str):
        return float(v)
    if hasattr(v, "value") and isinstance(getattr(v, "value", None), int):  # an enumerator: its number
        return float(v.value)
    raise ApiError(f"{expr} is a {type(v).__name__}, not a number; assert on one of its numeric members.")


def _figures(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"{len(values)} samples, min {min(values):g}, max {max(values):g}, "
            f"mean {math.fsum(values) / len(values):g}, last {values[-1]:g}")


def _trace_text(samples: list[Sample], mark: int | None) -> str:
    """The samples around ``mark`` (the failing one) or the last ones, one line each."""
    if not samples:
        return "  (no samples)"
    end = len(samples) if mark is None else min(len(samples), mark + 3)
    start = max(0, end - SHOWN)
    t0 = samples[0].target_time
    lines = []
    if start:
        lines.append(f"  ... {start} earlier samples")
    for i in range(start, end):
        s = samples[i]
        arrow = " <-- here" if i == mark else ""
        lines.append(f"  t={s.target_time:.4f} s (+{s.target_time - t0:.4f})  {s.name} = {s.value!r}{arrow}")
    if end < len(samples):
        lines.append(f"  ... {len(samples) - end} later samples")
    return "\n".join(lines)


def assert_stays(device: Device, expr: str, within: tuple[float, float], for_s: float, *, rate: float | None = None,
                 allow_loss: int = 0) -> Trace:
    lo, hi = within
    if not lo <= hi:
        raise ApiError(f"within=({lo!r}, {hi!r}) is empty; give (low, high) with low <= high.")
    if not for_s > 0:
        raise ApiError(f"for_s={for_s!r} is not a number of seconds above 0.")
    samples: list[Sample] = []
    values: list[float] = []
    trace = Trace()
    with device.watch(expr, device._check_rate(rate), duration=for_s, stall_timeout=None) as w:
        for s in w:
            samples.append(s)
            trace.add(s)
            v = _num(s.value, expr)
            values.append(v)
            if not lo <= v <= hi:
                t = s.target_time - samples[0].target_time
                raise TraceAssertionError(
                    f"{expr} left [{lo:g}, {hi:g}] after {t:.3f} s of the {for_s:g} s check: {s.value!r} at device "
                    f"time {s.target_time:.4f} s ({_figures(values)}).\n" + _trace_text(samples, len(samples) - 1),
                    samples)
        loss = w.loss()
    if not samples:
        raise TraceAssertionError(f"{expr} sent no sample in {for_s:g} s, so it cannot be said to stay in range; "
                                  f"{device.link_problem() or 'check that the firmware runs'}.", samples)
    lost = loss.total + loss.link_lost + loss.device_dropped
    if lost > allow_loss:
        raise TraceAssertionError(
            f"{expr} stayed within [{lo:g}, {hi:g}] in the {len(samples)} samples received, but {lost} samples were "
            f"lost ({loss.describe()}), so the check is incomplete; allow_loss={lost} accepts that.\n"
            + _trace_text(samples, None), samples)
    return trace


def assert_reaches(device: Device, expr: str, predicate: Callable[[Any], bool] | object, within_s: float, *,
                   rate: float | None = None) -> Trace:
    if not within_s > 0:
        raise ApiError(f"within_s={within_s!r} is not a number of seconds above 0.")
    check = predicate_of(predicate)
    samples: list[Sample] = []
    trace = Trace()
    with device.watch(expr, device._check_rate(rate), duration=within_s, stall_timeout=None) as w:
        for s in w:
            samples.append(s)
            trace.add(s)
            if check(s.value):
                return trace
    nums = [float(s.value) for s in samples if isinstance(s.value, int | float)]
    figures = f" ({_figures(nums)})" if nums and len(nums) == len(samples) else f" ({len(samples)} samples)"
    last = f"last {samples[-1].value!r} at device time {samples[-1].target_time:.4f} s" if samples else "no sample"
    raise TraceAssertionError(f"{expr} did not reach {describe_predicate(predicate)} within {within_s:g} s: {last}{figures}.\n"
                              + _trace_text(samples, None), samples)
