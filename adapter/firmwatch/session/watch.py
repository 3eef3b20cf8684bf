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
    """Achieved rate over a sliding window of target time, and samples known missing.

    For samples a device schedules (``tick_hz`` known) the count of missing samples is exact:
    the streamer core samples a stream at rate r with a phase accumulator, so the k-th sample
    after the stream's first is due exactly ``ceil(k·P/r)`` ticks after it (P = the tick rate)
    and the tick of a sample tells its index: ``floor(Δticks·r/P)``. Missing is the index of
    the latest sample minus the samples received since the anchor. A rate that does not
    divide the tick rate (900 Hz at a 1 kHz tick) alternates 1- and 2-tick gaps; none of that
    is loss. Anchored on a sample that was not the stream's first (its first frame was lost),
    the count can only be one too low, never too high. ``restart()`` begins a new schedule
    (the device stream was started again) and keeps what was counted before.
    """

    received: int = 0
    missing: int = 0  # samples the schedule promised but that never arrived
    device_dropped: int | None = None  # of the current device stream, as its STATUS said at finish()
    stale_spans: int = 0  # change-only: times a lost frame left its value unknown until the next sample
    window_s: float = 2.0
    _times: deque[float] = field(default_factory=lambda: deque(maxlen=4096), repr=False)
    _last_t: float | None = None
    _banked: int = 0  # missing counted under earlier schedules
    _anchor: int | None = None  # tick of the first sample of the current schedule
    _since: int = 0  # samples received after the anchor
    _gap_pending: bool = False  # an outage ended the last schedule: count it at the next sample
    _gap_from: float | None = None  # host time the outage began (device restarted: no common clock)
    _lo: int = 0  # the phase after the anchor sample lies in [_lo, _hi) (milli-hertz units)
    _hi: int = 0
    _r: int = 0  # rate and accumulator modulus of the current schedule (milli-hertz)
    _period: int = 1

    def add(self, target_time: float, rate_hz: float | None, tick_hz: int | None = None) -> None:
        self.received += 1
        if tick_hz and rate_hz:
            self._scheduled(round(target_time * tick_hz), rate_hz, tick_hz)
        elif self._last_t is not None and rate_hz:
            # no device schedule (polled reads): a gap of k periods hides k-1 samples
            period = 1.0 / rate_hz
            gap = target_time - self._last_t
            if gap > 1.5 * period:
                self._banked += int(round(gap / period)) - 1
            self.missing = self._banked
        self._last_t = target_time
        self._times.append(target_time)
        cutoff = target_time - self.window_s
        while self._times and self._times[0] < cutoff:
            self._times.popleft()

    def _scheduled(self, tick: int, rate_hz: float, tick_hz: int) -> None:
        r, period = round(rate_hz * 1000), tick_hz * 1000  # milli-hertz, as the device counts
        if self._anchor is not None and (tick < self._anchor or self._gap_pending):
            # a new schedule after an outage: what the old one would have produced before this
            # sample is missing (the device restarted and its clock with it: use the host's)
            if tick >= self._anchor:
                self._banked = self._banked + max(0, self._index(tick - 1) + 1 - self._since - 1)
            elif self._gap_from is not None:
                self._banked += max(0, int((time.time() - self._gap_from) * rate_hz) - 1)
            self._anchor = None
        self._gap_pending = False
        self._r, self._period = r, period
        if self._anchor is None:
            self._anchor, self._since = tick, 0
            self._lo, self._hi = 0, r  # the phase left in the accumulator after the anchor sample
        else:
            self._since += 1
            # The core samples at tick t exactly when (phase + Δ·r) mod P < r: every sample that
            # arrives narrows the phase down, until the schedule (and what is missing) is exact.
            start = (-(tick - self._anchor) * r) % period
            arcs = [(start, start + r)] if start + r <= period else [(start, period), (0, start + r - period)]
            fit = [(max(self._lo, a), min(self._hi, b)) for a, b in arcs if max(self._lo, a) < min(self._hi, b)]
            if fit:  # (none: not this schedule — a duplicate, a restart unseen — keep what is known)
                self._lo, self._hi = min(a for a, _ in fit), max(b for _, b in fit)
        self.missing = self._banked + max(0, self._index(tick) - self._since)

    def _index(self, tick: int) -> int:
        """Samples due after the anchor up to ``tick``; the smaller count while the phase is not yet
        pinned (so missing is never overstated)."""
        d = (tick - self._anchor) * self._r  # type: ignore[operator]
        return min((self._lo + d) // self._period, (self._hi - 1 + d) // self._period)

    @property
    def banked(self) -> int:
        """Missing counted under earlier schedules (before the current device stream started)."""
        return self._banked

    def finish(self, tick: int, rate_hz: float, tick_hz: int) -> None:
        """Close the account at device tick ``tick`` (a final STATUS): samples the schedule put
        up to and including it that did not arrive are missing too, not only those between the
        first and the last that did."""
        if self._anchor is None or tick < self._anchor or self._gap_pending:
            return
        self.missing = self._banked + max(0, self._index(tick) - self._since)

    def restart(self, after_outage: bool = False) -> None:
        """The device stream starts anew (a new phase). With ``after_outage`` the samples it did
        not deliver while the link was down count as missing once the next sample arrives."""
        if after_outage and self._anchor is not None:
            self._gap_pending = True
            self._gap_from = time.time()
            return
        self._banked = self.missing
        self._anchor = None
        self._since = 0
        self._gap_pending = False

    def rate(self) -> float:
        """Samples per second of target time over the window (0 until two samples arrived)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset_window(self) -> None:
        self._times.clear()
        self._last_t = None
        self.restart()


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
    unsampled: str | None = None  # why this watch cannot be sampled at all (one sentence), or None
    # change-only: the device sends it only when it moved by more than this (session/deadband.py)
    deadband: float | None = None
    filtered: bool = False  # the device applies the deadband (else every sample comes)
    stale: bool = False  # filtered, and a frame was lost since its last sample: its value may be old
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _decoded: Decoded | None = None

    def update(
        self,
        bound: AccessPlan,
        chunks: tuple[bytes, ...],
        target_time: float,
        host_time: float | None = None,
        tick_hz: int | None = None,
    ) -> None:
        """A new sample; ``tick_hz`` when the device's schedule produced it (exact loss counting)."""
        with self._lock:
            self._bound = bound
            self._chunks = chunks
            self.target_time = target_time
            self.host_time = host_time if host_time is not None else time.time()
            self._decoded = None
            self.error = None
            self.stale = False
        if self.filtered:  # silence is "unchanged": no schedule to count missing samples against
            self.stats.add(target_time, None)
            return
        self.stats.add(target_time, self.rate_hz if self.rate_hz > 0 else None, tick_hz)

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
