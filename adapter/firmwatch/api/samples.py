"""Watching from a script: samples with device timestamps, delivered to an iterator, an ``async for``
or a callback, and an honest count of what was lost on the way.

A :class:`Watcher` is one listener on the session's full-rate sample fan-out (the one the plot and
the recorder use), filtered to its own watches. The session's reader thread hands it a batch of
samples per frame; the watcher queues the batch as it is (one queue operation per frame, not per
value) and decodes a value only when the script asks for it — through a struct unpack for plain
scalars, the full value tree otherwise. That is what lets 16 watches at 1 kHz reach Python with
no loss on a small share of one core (bench/api.py).

Loss has three places to happen and each is counted: the device's schedule (a gap of k periods
in one watch's timestamps is k-1 samples missing, :class:`firmwatch.session.watch.WatchStats`),
the link (sequence gaps, corrupt frames, the device's own drops: ``Target.stats()``), and this
process (a script that stops reading while samples pile up beyond ``buffer``: dropped, counted).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firmwatch.api.errors import ApiError
from firmwatch.api.values import Decoder, PyValue, to_python
from firmwatch.session.access import AccessPlan
from firmwatch.session.session import SampleEvent
from firmwatch.session.watch import Watch
from firmwatch.targets.base import LinkStats

if TYPE_CHECKING:
    from firmwatch.api.device import Device

DEFAULT_BUFFER = 1_000_000  # samples a watcher holds for a script that reads slower than they come


class Sample:
    """One sample of one watched expression.

    ``target_time`` is the device's clock in seconds (unwrapped) when it sampled; ``host_time``
    the host's Unix time when it arrived; ``seq`` the link's sequence number of the frame that
    carried it (samples taken together share it). ``value`` is decoded on first access.
    """

    __slots__ = ("name", "target_time", "host_time", "seq", "_chunks", "_decode", "_value")

    def __init__(self, name: str, target_time: float, host_time: float, seq: int, chunks: tuple[bytes, ...],
                 decode: Decoder):
        self.name = name
        self.target_time = target_time
        self.host_time = host_time
        self.seq = seq
        self._chunks: tuple[bytes, ...] | None = chunks
        self._decode = decode
        self._value: PyValue = None  # type: ignore[assignment]

    @property
    def value(self) -> PyValue:
        if self._chunks is not None:
            self._value = self._decode(self._chunks)
            self._chunks = None
        return self._value

    @property
    def raw(self) -> bytes:
        """The sampled bytes (all regions joined) — before ``value`` is read."""
        return b"".join(self._chunks) if self._chunks is not None else b""

    def __repr__(self) -> str:
        return f"Sample({self.name!r}, t={self.target_time:.6f}, value={self.value!r})"


@dataclass(frozen=True)
class Loss:
    """What did not arrive, by where it was lost (each a count of samples, or of frames for
    ``corrupt_frames``). ``missing`` is per expression: gaps in its device timestamps."""

    missing: dict[str, int] = field(default_factory=dict)
    link_lost: int = 0  # sequence gaps on the link
    corrupt_frames: int = 0  # frames that failed their check and were dropped
    device_dropped: int = 0  # samples the device could not send (its output was full)
    dropped_here: int = 0  # samples this process dropped because the script did not keep up

    @property
    def total(self) -> int:
        """Samples lost anywhere (corrupt frames count through the gaps they leave)."""
        return sum(self.missing.values()) + self.dropped_here

    def __bool__(self) -> bool:
        return bool(self.total or self.link_lost or self.corrupt_frames or self.device_dropped)

    def describe(self) -> str:
        counts = set(self.missing.values())
        if len(self.missing) > 2 and len(counts) == 1 and 0 not in counts:  # whole frames: say it once
            parts = [f"{counts.pop()} missing from each of the {len(self.missing)} expressions"]
        else:
            parts = [f"{n} missing from {name}" for name, n in self.missing.items() if n]
        parts += [f"{n} {what}" for n, what in ((self.link_lost, "lost on the link"),
                                                (self.corrupt_frames, "corrupt frames"),
                                                (self.device_dropped, "dropped by the device"),
                                                (self.dropped_here, "dropped because the script fell behind")) if n]
        return ", ".join(parts) or "nothing lost"


def link_delta(now: LinkStats, start: LinkStats) -> tuple[int, int, int]:
    return now.lost - start.lost, now.corrupt_frames - start.corrupt_frames, now.device_dropped - start.device_dropped


def _tree_decoder(bound: AccessPlan) -> Decoder:
    return lambda chunks: to_python(bound.decode(chunks))


class Watcher:
    """Samples of some expressions as they arrive: iterate it (``for s in w``), ``async for`` it,
    or give :meth:`Device.watch` a ``callback``. Stops after ``duration`` seconds or ``count``
    samples when given, and when closed (``with`` closes it)."""

    def __init__(self, device: Device, watches: Sequence[Watch], *, duration: float | None, count: int | None,
                 callback: Callable[[Sample], None] | None, buffer: int, stall_timeout: float | None):
        self._device = device
        self.watches = list(watches)
        self.expressions = [w.text for w in self.watches]
        self._ids = {w.id: w for w in self.watches}
        self._fast: dict[int, Decoder | None] = {w.id: device._fast_decoder(w) for w in self.watches}
        self._missing0 = {w.id: w.stats.missing for w in self.watches}
        self._link0 = device.target.stats()
        self._deadline = time.monotonic() + duration if duration is not None else None
        self._remaining = count
        self._callback = callback
        self._buffer = buffer
        self._stall = stall_timeout
        self._queue: queue.SimpleQueue[list[Sample]] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._dropped = 0
        self._batch: list[Sample] = []
        self._pos = 0
        self._closed = False  # the watches are released (the script's thread did it)
        self._ended = False  # no more samples are taken in
        self._callback_error: BaseException | None = None
        self._async_wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.received = 0
        self._last_arrival = time.monotonic()
        device.session.add_listener(self._on_events)

    # -- the reader thread's side ---------------------------------------------------------------------
    def _on_events(self, events: list[SampleEvent]) -> None:
        if self._ended:
            return
        ids = self._ids
        fast = self._fast
        batch = []
        for ev in events:
            wid = ev.watch.id
            if wid in ids:
                dec = fast[wid] or _tree_decoder(ev.bound)
                batch.append(Sample(ev.watch.text, ev.target_time, ev.host_time, ev.seq, ev.chunks, dec))
        if not batch:
            return
        self._last_arrival = time.monotonic()
        if self._callback is not None:
            self._deliver(batch)
            return
        with self._pending_lock:
            if self._pending + len(batch) > self._buffer:
                self._dropped += len(batch)
                return
            self._pending += len(batch)
        self._queue.put(batch)
        wake = self._async_wake
        if wake is not None:
            wake[0].call_soon_threadsafe(wake[1].set)

    def _deliver(self, batch: list[Sample]) -> None:
        assert self._callback is not None
        # The reader thread only marks the end: releasing the watches stops device streams, which
        # waits for this very thread (close() does it from the script's thread).
        for s in batch:
            if self._ended or self._over():
                self._ended = True
                return
            try:
                self._callback(s)
            except BaseException as e:  # the script's error: stop calling it, re-raise from wait()/close()
                self._callback_error = e
                self._ended = True
                return
            self.received += 1
            if self._remaining is not None:
                self._remaining -= 1
            if self._device.trace is not None:
                self._device.trace.add(s)

    def _over(self) -> bool:
        if self._remaining is not None and self._remaining <= 0:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    # -- the script's side ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Sample]:
        return self

    def __next__(self) -> Sample:
        if self._callback is not None:
            raise ApiError("this watch delivers its samples to its callback; iterate a watch made without one.")
        while True:
            if self._pos < len(self._batch):
                if self._over():
                    self.close()
                    raise StopIteration
                s = self._batch[self._pos]
                self._pos += 1
                self.received += 1
                if self._remaining is not None:
                    self._remaining -= 1
                if self._device.trace is not None:  # under the pytest plugin: kept for a failing test's report
                    self._device.trace.add(s)
                return s
            if self._closed or self._over():
                self.close()
                raise StopIteration
            self._next_batch(self._wait_slice())

    def _wait_slice(self) -> float:
        t = 0.25
        if self._deadline is not None:
            t = max(0.0, min(t, self._deadline - time.monotonic()))
        return t

    def _next_batch(self, timeout: float) -> bool:
        try:
            batch = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            self._check_alive()
            return False
        with self._pending_lock:
            self._pending -= len(batch)
        self._batch, self._pos = batch, 0
        return True

    def _check_alive(self) -> None:
        """Raise, in one sentence, when samples stopped coming for a reason we know."""
        self._device._check_open()
        if self._stall is None or time.monotonic() - self._last_arrival < self._stall:
            return
        reasons = [f"{w.text}: {w.error}" for w in self.watches if w.error]
        why = "; ".join(reasons) or self._device.link_problem() or "the device sent none"
        self.close()
        raise ApiError(f"no sample of {', '.join(self.expressions)} for {self._stall:g} s ({why}); check the link and "
                       "that the firmware runs, or pass a longer stall_timeout.")

    def __aiter__(self) -> AsyncIterator[Sample]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Sample]:
        if self._callback is not None:
            raise ApiError("this watch delivers its samples to its callback; iterate a watch made without one.")
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self._async_wake = (loop, wake)
        try:
            while True:
                if self._pos < len(self._batch):
                    if self._over():
                        break
                    s = self._batch[self._pos]
                    self._pos += 1
                    self.received += 1
                    if self._remaining is not None:
                        self._remaining -= 1
                    if self._device.trace is not None:
                        self._device.trace.add(s)
                    yield s
                    continue
                if self._closed or self._over():
                    break
                if self._next_batch(0):
                    continue
                wake.clear()
                if self._next_batch(0):  # a batch that came between the look and the clear
                    continue
                slice_ = self._wait_slice()
                try:
                    await asyncio.wait_for(wake.wait(), slice_ if slice_ > 0 else 0.25)
                except TimeoutError:
                    pass
        finally:
            self._async_wake = None
            self.close()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a callback watch ends (its duration or count reached, or closed); re-raises
        what the callback raised."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._ended and not self._over():
            if end is not None and time.monotonic() >= end:
                break
            self._device._check_open()
            time.sleep(0.02)
        self.close()

    def loss(self) -> Loss:
        """What was lost since this watch started (see the module docstring)."""
        missing = {w.text: w.stats.missing - self._missing0.get(w.id, 0) for w in self.watches}
        lost, corrupt, dropped = link_delta(self._device.target.stats(), self._link0)
        return Loss(missing, lost, corrupt, dropped, self._dropped)

    def rates(self) -> dict[str, float]:
        """Achieved samples per second of device time, per expression (over the last 2 s)."""
        return {w.text: w.stats.rate() for w in self.watches}

    def close(self) -> None:
        self._ended = True
        if not self._closed:
            self._closed = True
            self._device.session.remove_listener(self._on_events)
            self._device._release(self.watches)
        err, self._callback_error = self._callback_error, None
        if err is not None:
            raise err

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Watcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
