"""Device time to host time: the one axis on which several devices' samples line up.

Each sample carries the device's own clock (``target_time``) and the host's Unix time when it
was decoded (its arrival). Arrival = sampling instant + delivery delay, and the delay varies
(UART frames queue, the host batches reads, the scheduler is late), so arrival times are a
jittery, late copy of the truth. The device clock is exact but has an unknown origin and
drifts from the host's by its crystal's error (tens of ppm).

The mapping used is the lower envelope: ``host = target + offset`` with ``offset`` the smallest
``arrival - target`` seen over the last ``WINDOW_S`` seconds — the sample that was delivered
fastest pins the clock — carried along the drift (the slope of the per-second minima in that
window: a crystal's tens of ppm, or a CPU whose timer stops while a GDB server halts it). It is
causal (a sample's host time is fixed when it arrives, so a recorder can write it at once), and a
device whose clock jumps back (it restarted) starts a new estimate.

What remains is the error: the envelope sits above the true offset by the fastest delivery's
own delay (a UART frame's time on the wire, ~0.2 ms at 921600 baud; a pty's copy, µs), and
wanders with how fast the fastest delivery of each window was. :meth:`report` measures that
wander — the spread of the per-second minima around their drift line — and states it as the
alignment error; two devices line up within the sum of their errors.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BUCKET_S = 1.0
WINDOW_S = 30.0
HISTORY = 3600  # per-second minima kept for the report (an hour; older ones roll off)


@dataclass(frozen=True)
class ClockReport:
    offset_s: float | None  # host = device + offset (latest)
    drift_ppm: float | None  # device clock rate against the host's
    error_s: float | None  # alignment error: spread of the per-second delivery minima around the drift line
    delay_p50_s: float | None  # how late arrival stamps are after the aligned time (what alignment removes)
    delay_max_s: float | None
    resets: int  # device clock restarts seen

    def sentence(self) -> str:
        if self.offset_s is None:
            return "clock: no samples"
        parts = [f"aligned to host time within {1e3 * (self.error_s or 0.0):.2f} ms"]
        if self.drift_ppm is not None:
            parts.append(f"drift {self.drift_ppm:+.0f} ppm")
        if self.delay_p50_s is not None and self.delay_max_s is not None:
            parts.append(f"arrival delay {1e3 * self.delay_p50_s:.1f} ms median, {1e3 * self.delay_max_s:.1f} ms max")
        if self.resets:
            parts.append(f"{self.resets} clock restart{'s' if self.resets != 1 else ''}")
        return "clock: " + ", ".join(parts)


class HostClock:
    """The device-to-host mapping of one device; ``observe`` every sample, ``to_host`` its time.
    Called from the device's reader thread only."""

    def __init__(self, window_s: float = WINDOW_S):
        self.window = max(1, int(window_s / BUCKET_S))
        self.offset: float | None = None  # in use: host = device + offset
        self._target: float | None = None  # the estimate at device time _target_t
        self._target_t = 0.0
        self._slope = 0.0  # how fast the offset moves: the clocks' rate difference (drift)
        self.resets = 0
        self._bucket: int | None = None
        self._cur = float("inf")  # smallest arrival - target in the current second
        self._mins: deque[tuple[float, float]] = deque(maxlen=self.window)  # (device time, min d)
        self._history: deque[tuple[float, float, float]] = deque(maxlen=HISTORY)  # (target, min d, max d)
        self._cur_t = 0.0
        self._cur_max = float("-inf")
        self._last_t: float | None = None

    def observe(self, target_time: float, arrival: float) -> float:
        """Take one sample's times; returns its aligned host time."""
        if self._last_t is not None and target_time < self._last_t - 1e-3:
            self.reset()
            self.resets += 1
        d = arrival - target_time
        b = int(target_time // BUCKET_S)  # device seconds: in order, whatever the delivery
        if b != self._bucket:
            self._roll(b)
        if d < self._cur:
            self._cur = d
            self._cur_t = target_time
        if self._target is None or d < self._predicted(target_time):
            self._target, self._target_t = d, target_time  # delivered faster than the estimate says
        if d > self._cur_max:
            self._cur_max = d
        self._slew(target_time)
        self._last_t = target_time
        # to the microsecond, as every format writes it: a CSV's text, a Parquet double and a VCD
        # timestamp then name the same instant
        return round(target_time + self.offset, 6)  # type: ignore[operator]

    def _slew(self, target_time: float) -> None:
        """Move the offset in use towards the estimate. Up at once; down (a faster delivery was
        seen) by at most half the device time elapsed, so a device's host times never go back —
        a plot or a VCD needs them in order — while the estimate still settles within about
        twice the error it corrects."""
        if self._target is None:
            return
        want = self._predicted(target_time)
        if self.offset is None or want >= self.offset:
            self.offset = want
            return
        dt = target_time - self._last_t if self._last_t is not None else 0.0
        self.offset = max(want, self.offset - 0.5 * max(0.0, dt))

    def _predicted(self, target_time: float) -> float:
        assert self._target is not None
        return self._target + self._slope * (target_time - self._target_t)

    def to_host(self, target_time: float) -> float | None:
        return None if self.offset is None else target_time + self.offset

    def _roll(self, bucket: int) -> None:
        if self._bucket is not None and self._cur != float("inf"):
            self._mins.append((self._cur_t, self._cur))
            self._history.append((self._cur_t, self._cur, self._cur_max))
            # the window moved on: the drift is the slope of its per-second minima, and the
            # estimate the fastest delivery in it, carried to now along that slope
            pts = list(self._mins)
            if len(pts) >= 3 and pts[-1][0] - pts[0][0] >= 2.0:
                n = len(pts)
                mx = sum(p[0] for p in pts) / n
                my = sum(p[1] for p in pts) / n
                sxx = sum((p[0] - mx) ** 2 for p in pts)
                if sxx > 0:
                    self._slope = max(-0.2, min(0.2, sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx))
            now = pts[-1][0]
            self._target = min(m + self._slope * (now - t) for t, m in pts)
            self._target_t = now
        self._bucket = bucket
        self._cur = float("inf")
        self._cur_max = float("-inf")

    def reset(self) -> None:
        """The device clock restarted (or the link came back to a rebooted device): estimate anew."""
        self.offset = None
        self._target = None
        self._slope = 0.0
        self._bucket = None
        self._cur = float("inf")
        self._cur_max = float("-inf")
        self._mins.clear()
        self._last_t = None

    def report(self) -> ClockReport:
        pts = list(self._history)
        if self._cur != float("inf"):
            pts.append((self._cur_t, self._cur, self._cur_max))
        if not pts:
            return ClockReport(self.offset, None, None, None, None, self.resets)
        drift = None
        a, b = pts[0][1], 0.0
        if len(pts) >= 3 and pts[-1][0] - pts[0][0] > 0:
            n = len(pts)
            mx = sum(p[0] for p in pts) / n
            my = sum(p[1] for p in pts) / n
            sxx = sum((p[0] - mx) ** 2 for p in pts)
            if sxx > 0:
                b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
                a = my - b * mx
                drift = -b * 1e6  # offset falling: the device clock runs fast
        resid = [p[1] - (a + b * p[0]) for p in pts]
        error = max(resid) - min(resid)
        delays = sorted(p[2] - p[1] for p in pts)
        return ClockReport(self.offset, drift, error, delays[len(delays) // 2], delays[-1], self.resets)
