"""The live sampling policy of GDB transports: one thread, batched rounds, an intrusion budget.

At each due time the sampler gathers the regions of *every* stream that is due and reads them
in one round (one halt/resume when the server cannot read while running), so N watches cost
one halt, not N. In halt mode a round that kept the target halted for ``h`` seconds is not
followed by another before ``h / budget`` seconds have passed since it started: over any run of
rounds the halted share of wall time therefore stays at or below the budget, whatever the
requested rates. Streams that ask for more get fewer samples, never more intrusion.

The round itself (how to halt, read, resume) is the transport's business: the sampler calls
``round_fn(regions, lock)`` and gets a :class:`RoundResult` back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from firmwatch.targets.base import Region, Sample, SampleCallback, TargetError, TargetLost

IDLE_POLL_S = 0.05  # how often an idle sampler lets the transport look for asynchronous stops
RETRY_FAILED_S = 1.0  # a stream whose region was refused tries again after this
LOCK_RETRY_S = 0.001
EARLY_S = 0.005  # a stream due within this (and half its period) joins the current round  # after a round skipped for the firmware's lock, retry no sooner than this


@dataclass
class RoundResult:
    data: list[bytes] | None  # one bytes per requested region; None when the round was skipped
    target_time: float  # host monotonic seconds at the end of the reads (no target clock over GDB)
    host_time: float  # time.time() of the same moment
    halted: float = 0.0  # seconds the round kept the target halted


@dataclass
class _Stream:
    id: int
    regions: list[Region]
    period: float
    next_due: float
    samples: int = 0
    behind: int = 0  # periods that passed without a sample (budget or a slow link)
    failing: bool = False  # its last round failed (reported once until it reads again)


T = TypeVar("T")
RoundFn = Callable[[Sequence[Region], "tuple[int, int] | None"], RoundResult]


class Sampler:
    def __init__(
        self,
        round_fn: RoundFn,
        *,
        budget: float | None = 0.01,
        lock: tuple[int, int] | None = None,
        idle: Callable[[], None] | None = None,
    ):
        self._round_fn = round_fn
        self._idle = idle or (lambda: None)
        self.budget = budget
        self.lock = lock
        self.callback: SampleCallback | None = None
        self.on_error: Callable[[TargetError], None] | None = None
        self.error: TargetError | None = None
        self.samples = 0
        self.rounds = 0
        self.lock_skips = 0
        self.halted_s = 0.0
        self.last_halted_s = 0.0  # the latest round's halt: the budget gates the round *after* it
        self._streams: dict[int, _Stream] = {}
        self._next_id = 1
        self._seq = 0
        self._gate = 0.0  # no round may start before this (budget)
        self._cond = threading.Condition()
        self._stopping = False
        self._in_round = False  # a round (and its callbacks) is in flight
        self._thread = threading.Thread(target=self._run, name="firmwatch-rsp-sampler", daemon=True)

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def add(self, regions: list[Region], rate_hz: float) -> int:
        if not rate_hz > 0:
            raise TargetError(f"a sampling rate must be above 0 Hz (got {rate_hz:g}).")
        if self.error is not None:
            raise self.error
        with self._cond:
            sid = self._next_id
            self._next_id += 1
            self._streams[sid] = _Stream(sid, list(regions), 1.0 / rate_hz, time.monotonic())
            self._cond.notify_all()
            return sid

    def remove(self, stream: int | None) -> None:
        """Stop one stream (or all); once this returns, no sample of it is delivered."""
        with self._cond:
            if stream is None:
                self._streams.clear()
            else:
                self._streams.pop(stream, None)
            self._cond.notify_all()
            if threading.current_thread() is not self._thread:
                self._cond.wait_for(lambda: not self._in_round, timeout=5)

    def has_streams(self) -> bool:
        return bool(self._streams)

    def set_budget(self, budget: float | None) -> None:
        with self._cond:
            self.budget = budget
            self._gate = 0.0
            self._cond.notify_all()

    def set_lock(self, lock: tuple[int, int] | None) -> None:
        with self._cond:
            self.lock = lock
            self._cond.notify_all()

    def intrude(self, work: Callable[[], tuple[T, float]]) -> T:
        """Run ``work`` (a halt outside the sampling rounds, e.g. an engine's register read) as
        soon as the intrusion budget allows; ``work`` returns (result, seconds it kept the target
        halted), which is accounted like a round's halt and gates the rounds after it."""
        with self._cond:
            while not self._stopping and (left := self._gate - time.monotonic()) > 0:
                self._cond.wait(left)
            started = time.monotonic()
        result, halted = work()
        with self._cond:
            self.halted_s += halted
            self.last_halted_s = halted
            if self.budget and halted > 0:
                self._gate = max(self._gate, started + halted / self.budget)
            self._cond.notify_all()
        return result

    # -- the thread ---------------------------------------------------------------------------
    def _next_round(self) -> tuple[list[_Stream], list[Region], tuple[int, int] | None, float] | None:
        """Wait for the next round; None when stopping."""
        with self._cond:
            last_idle = time.monotonic()
            while not self._stopping:
                now = time.monotonic()
                if self._streams:
                    start_at = max(min(s.next_due for s in self._streams.values()), self._gate)
                    if start_at <= now:
                        # everything due by now rides in this round, and so does what would be
                        # due very soon: one halt instead of two a few milliseconds apart
                        due = [s for s in self._streams.values()
                               if s.next_due <= now + min(EARLY_S, s.period / 2)]
                        regions: list[Region] = []
                        seen: set[tuple[int, int]] = set()
                        for s in due:
                            for r in s.regions:
                                if (r.address, r.size) not in seen:
                                    seen.add((r.address, r.size))
                                    regions.append(r)
                        self._in_round = True
                        return due, regions, self.lock, now
                    wait = min(start_at - now, IDLE_POLL_S)
                else:
                    wait = IDLE_POLL_S
                if now - last_idle >= IDLE_POLL_S:
                    last_idle = now
                    self._cond.release()
                    try:
                        self._idle()
                    except TargetError:
                        pass
                    finally:
                        self._cond.acquire()
                    continue
                self._cond.wait(wait)
            return None

    def _run(self) -> None:
        while True:
            job = self._next_round()
            if job is None:
                return
            try:
                self._one_round(*job)
            finally:
                with self._cond:
                    self._in_round = False
                    self._cond.notify_all()
            if self.error is not None:
                return

    def _one_round(self, due: list[_Stream], regions: list[Region], lock: tuple[int, int] | None,
                   started: float) -> None:
        try:
            result = self._round_fn(regions, lock)
        except TargetLost as e:
            self._fail(e)
            return
        except TargetError as e:
            # A refused region or an ended program. Only the streams holding the refused
            # address back off (and are reported once); the others go on next round.
            address = getattr(e, "address", None)
            culprits = [s for s in due if address is not None and any(
                r.address <= address < r.address + r.size for r in s.regions)] or due
            with self._cond:
                for s in culprits:
                    s.next_due = time.monotonic() + max(s.period, RETRY_FAILED_S)
                fresh = [s for s in culprits if not s.failing]
                for s in culprits:
                    s.failing = True
            if fresh:
                self._report(e)
            return
        self.rounds += 1
        self.halted_s += result.halted
        self.last_halted_s = result.halted
        budget = self.budget
        with self._cond:
            if budget and result.halted > 0:
                self._gate = started + result.halted / budget
            if result.data is None:
                self.lock_skips += 1
                self._gate = max(self._gate, time.monotonic() + LOCK_RETRY_S)
                return
            index = {(r.address, r.size): i for i, r in enumerate(regions)}
            samples = []
            for s in due:
                if self._streams.get(s.id) is not s:
                    continue  # removed while we were reading
                self._seq += 1
                data = tuple(result.data[index[(r.address, r.size)]] for r in s.regions)
                samples.append(Sample(s.id, self._seq, result.target_time, result.host_time, data))
                s.samples += 1
                nxt = s.next_due + s.period
                if nxt < started:
                    s.behind += int((started - nxt) / s.period)
                    nxt = started
                s.next_due = nxt
            self.samples += len(samples)
            cb = self.callback
        if cb is not None:
            for sample in samples:
                try:
                    cb(sample)
                except Exception as e:  # a consumer's bug must not stop sampling
                    self._report(TargetError(f"a sample consumer failed: {e}"))

    def _report(self, e: TargetError) -> None:
        if self.on_error is not None:
            try:
                self.on_error(e)
            except Exception:
                pass

    def _fail(self, e: TargetError) -> None:
        self.error = e
        with self._cond:
            self._streams.clear()
        self._report(e)
