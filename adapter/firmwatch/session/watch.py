"""A watch: one expression sampled at one rate, with its latest value and honest statistics."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from firmwatch.session.access import AccessPlan, CompiledAccess, Decoded
from firmwatch.targets.base import Region


@dataclass
class WatchStats:
    """Achieved rate over a sliding window of target time, and samples known missing."""

    received: int = 0
    missing: int = 0  # samples the schedule promised but that never arrived
    window_s: float = 2.0
    _times: deque[float] = field(default_factory=lambda: deque(maxlen=4096), repr=False)
    _last_t: float | None = None

    def add(self, target_time: float, expected_period: float | None) -> None:
        self.received += 1
        if self._last_t is not None and expected_period:
            gap = target_time - self._last_t
            # Exact-rate scheduling on the device means a gap of k periods hides k-1 lost samples;
            # half a period of slack absorbs tick quantisation.
            if gap > 1.5 * expected_period:
                self.missing += int(round(gap / expected_period)) - 1
        self._last_t = target_time
        self._times.append(target_time)
        cutoff = target_time - self.window_s
        while self._times and self._times[0] < cutoff:
            self._times.popleft()

    def rate(self) -> float:
        """Samples per second of target time over the window (0 until two samples arrived)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset_window(self) -> None:
        self._times.clear()
        self._last_t = None


@dataclass
class Watch:
    id: int
    text: str
    compiled: CompiledAccess
    rate_hz: float
    stats: WatchStats = field(default_factory=WatchStats)
    # latest sample: raw region bytes plus times; decoded lazily (the UI asks far less often
    # than samples arrive at 1 kHz)
    _chunks: tuple[bytes, ...] | None = None
    _bound: AccessPlan | None = None  # the plan the chunks belong to
    target_time: float | None = None
    host_time: float | None = None
    error: str | None = None  # last sampling problem, one sentence
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _decoded: Decoded | None = None

    def update(self, bound: AccessPlan, chunks: tuple[bytes, ...], target_time: float, host_time: float | None = None) -> None:
        with self._lock:
            self._bound = bound
            self._chunks = chunks
            self.target_time = target_time
            self.host_time = host_time if host_time is not None else time.time()
            self._decoded = None
            self.error = None
        period = 1.0 / self.rate_hz if self.rate_hz > 0 else None
        self.stats.add(target_time, period)

    def value(self) -> Decoded | None:
        """The latest decoded value, or None before the first sample."""
        with self._lock:
            if self._decoded is None and self._chunks is not None and self._bound is not None:
                self._decoded = self._bound.decode(self._chunks)
            return self._decoded

    @property
    def has_value(self) -> bool:
        return self._chunks is not None

    @property
    def sample(self) -> tuple[bytes, ...] | None:
        """The latest raw sample (one bytes per region). A new sample is a new object, so
        ``is`` tells whether anything arrived since the last look without decoding."""
        return self._chunks

    @property
    def regions(self) -> list[Region]:
        """The memory regions the latest sample was read from."""
        return list(self._bound.regions) if self._bound is not None else []
