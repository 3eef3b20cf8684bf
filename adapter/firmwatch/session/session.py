"""The session: joins a Program (symbols) and a Target (bytes) into live watches.

Front ends (CLI, DAP, LSP) talk only to this class. It owns the watch registry, turns watches
into device streams (or polled reads when the target cannot stream), keeps the latest value of
every watch for instant UI reads, fans full-rate samples out to listeners (plot, recorder), and
keeps an honest account of what was lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmwatch.errors import UserError
from firmwatch.session.access import AccessPlan, CompiledAccess, Decoded
from firmwatch.session.clock import HostClock
from firmwatch.session.planner import Limits, PlanEntry, PlannedRegion, StreamPlan, plan_streams
from firmwatch.session.raw import RawExpression, parse_raw
from firmwatch.session.recorder import Recorder, signal_of
from firmwatch.session.watch import Watch
from firmwatch.symbols.program import Program
from firmwatch.targets.base import AccessRefused, Region, Sample, Target, TargetError, TargetInfo


class SessionError(UserError):
    """A user-facing problem with a session request; ``str()`` is one sentence."""


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """One full-rate sample of one watch, for plots and recorders."""

    watch: Watch
    seq: int
    target_time: float
    host_time: float  # the device's time on the host's clock (session.clock), aligned across devices
    chunks: tuple[bytes, ...]
    bound: AccessPlan

    def value(self) -> Decoded:
        return self.bound.decode(self.chunks)


SampleListener = Callable[[list[SampleEvent]], None]


@dataclass
class _Stream:
    plan: StreamPlan
    target_id: int
    # (watch, first region index, region count, bound plan) per entry
    slots: list[tuple[Watch, int, int, AccessPlan]]


class Session:
    DEFAULT_RATE_HZ = 10.0
    REBIND_INTERVAL_S = 1.0  # how often pointer-dependent watches re-follow their pointers

    def __init__(
        self,
        program: Program,
        target: Target,
        *,
        default_rate: float | None = None,
        verify_build_id: str = "warn",
        on_message: Callable[[str, str], None] | None = None,
        device: str | None = None,
    ):
        self.program = program
        # the name its samples carry in a recording (the column ``device``); one device: the ELF's
        self.device = device if device is not None else _short_name(program)
        self.clock = HostClock()  # device time -> host time, for recordings and plots across devices
        self.target = target
        self.default_rate = default_rate or self.DEFAULT_RATE_HZ
        self.on_message = on_message or (lambda level, text: None)
        self.watches: dict[int, Watch] = {}
        self._next_id = 1
        self._lock = threading.RLock()
        self._streams: dict[int, _Stream] = {}  # target stream id -> stream
        self._polled: dict[int, str] = {}  # watch id -> reason
        self._listeners: list[SampleListener] = []
        self._recorder: Recorder | None = None
        self._closed = threading.Event()
        self._bound: dict[int, AccessPlan] = {}  # watch id -> the plan currently sampled
        self.peripherals: Any = None  # a peripherals.view.PeripheralView once an SVD is attached
        self._deadband_noted: set[tuple[int, str]] = set()
        self._last_seq: int | None = None  # the link's frame sequence: gaps make change-only watches stale
        self._ambiguous_noted: set[str] = set()
        self._sampling = True  # until stop_sampling()
        self.info: TargetInfo = target.info()
        if self.info.link_mode == "text":
            self.on_message(
                "info",
                "the link runs in text mode, as asked: checked lines, one region per stream, about ten "
                "times the bytes of binary frames per value.",
            )
        self.build_id_status = self._check_build_id(verify_build_id)
        self._streaming = "stream" in target.capabilities
        if self._streaming:
            target.on_sample(self._on_sample)
        self._worker = threading.Thread(target=self._maintain, name="firmwatch-session", daemon=True)
        self._worker.start()

    # -- build id ---------------------------------------------------------------------------
    def _check_build_id(self, mode: str) -> str:
        elf_id = self.program.elf.build_id
        dev_id = self.info.build_id
        if mode == "off":
            return "not checked"
        if not dev_id:
            return "unknown (the device does not report a build id)"
        if self.program.elf.build_id_source != "gnu":
            return "unknown (the ELF has no GNU build-id note; link with -Wl,--build-id)"
        if dev_id.lower() == elf_id.lower():
            return "match"
        text = (
            f"the device runs a different build (device build id {dev_id[:16]}…, ELF {elf_id[:16]}…): "
            "flash this ELF or open the ELF the device was built from."
        )
        if mode == "error":
            raise SessionError(text)
        self.on_message("warning", text)
        return "MISMATCH"

    # -- watches ----------------------------------------------------------------------------
    def attach_svd(self, device: Any, manual: Any = ()) -> Any:
        """Peripheral registers from a CMSIS-SVD device (peripherals.svd.load_svd): the
        Peripherals views and ``PERIPH.REG.FIELD`` watches."""
        from firmwatch.peripherals.view import PeripheralView

        self.peripherals = PeripheralView(device, self.target.read, self.target.write,
                                          byteorder=self.info.byteorder, manual=manual)
        return self.peripherals

    def compile(self, text: str) -> CompiledAccess:
        raw = parse_raw(text)
        if raw is not None:
            return RawExpression(text, raw[0], raw[1], self.program.elf.byteorder)
        svd = self._compile_peripheral(text)
        if svd is not None:
            return svd
        from firmwatch.symbols.expr import compile_expression

        return compile_expression(self.program, text)

    def _names_peripheral(self, text: str) -> bool:
        """Does ``text`` start with an SVD peripheral the ELF does not also name? ELF symbols win;
        a name both know is reported once."""
        pv = self.peripherals
        if pv is None:
            return False
        head = text.strip().split(".", 1)[0].strip()
        if pv.device.peripheral(head) is None:
            return False
        try:
            self.program.find_variable(head)
        except UserError:
            return True
        if head not in self._ambiguous_noted:
            self._ambiguous_noted.add(head)
            self.on_message("info", f"'{head}' is both an ELF symbol and an SVD peripheral: expressions use the "
                                    "ELF symbol (the Peripherals scope shows the peripheral).")
        return False

    def _compile_peripheral(self, text: str) -> CompiledAccess | None:
        if not self._names_peripheral(text):
            return None
        from firmwatch.peripherals.expression import compile_peripheral

        pv = self.peripherals
        return compile_peripheral(pv.device, text, self.info.byteorder, pv.manual)

    def _write_peripheral(self, text: str, value_text: str) -> Decoded:
        from firmwatch.peripherals.expression import RegisterValue

        pv = self.peripherals
        _, reg, fld = pv.device.resolve(text)
        reading, notes = pv.write(text, value_text)
        if notes:
            self.on_message("info", f"{text.strip()}: {'; '.join(notes)}.")
        if reading.value is None:
            raise SessionError(f"{text.strip()} was written but the transport returned no read-back.")
        return RegisterValue(reg, fld, reg.address, reading.value.to_bytes(reg.nbytes, self.info.byteorder),
                             self.info.byteorder)

    def add_watch(self, text: str, rate_hz: float | None = None, deadband: float | None = None) -> Watch:
        """``deadband``: change-only — the device sends the value only when it moved by more than
        this (session/deadband.py); None sends every sample."""
        # one plan: a stream started unfiltered and restarted filtered would send its first
        # sample twice
        return self.add_watches([(text, rate_hz)], None if deadband is None else {text.strip(): deadband})[0]

    def set_deadband(self, key: str | int, deadband: float | None) -> Watch:
        """Change-only streaming of one watch (None: every sample again). A watch the device cannot
        filter (not one number, or firmware without change-only streams) keeps every sample, and the
        session says why."""
        with self._lock:
            w = self.find_watch(key)
            if w is None:
                raise SessionError(f"'{key}' is not being watched; add it first.")
            if deadband is not None and (not isinstance(deadband, int | float) or deadband < 0 or deadband != deadband):
                raise SessionError(f"a deadband of {deadband!r} is not a distance; give 0 or more.")
            w.deadband = None if deadband is None else float(deadband)
            self._replan()
            return w

    def _filters(self, w: Watch) -> tuple[tuple[int, int], ...] | None:
        """The device filter of a watch with a deadband, or None (every sample), saying why once."""
        if w.deadband is None:
            return None
        if "change-only" not in self.target.capabilities:
            why = ("a GDB server reads every sample: a deadband saves nothing there" if not self.info.link_mode else
                   "the firmware sends every sample (it has no change-only streams: build it with FW_CHANGE_ONLY=1)")
        else:
            from firmwatch.session.deadband import device_filter

            got = device_filter(w.compiled, self._bound[w.id].regions, w.deadband)
            if not isinstance(got, str):
                return got
            why = got
        key = (w.id, why)
        if key not in self._deadband_noted:
            self._deadband_noted.add(key)
            self.on_message("info", f"'{w.text}' is sent in full, without its deadband: {why}.")
        return None

    def add_watches(self, items: list[tuple[str, float | None]],
                    deadbands: dict[str, float] | None = None) -> list[Watch]:
        """Add several watches and plan the device's streams once for all of them (so no stream
        is started and replaced again as the next watch at its rate joins). ``deadbands``: by
        expression, change-only from the first sample (a recording holds no unfiltered start)."""
        out = []
        with self._lock:
            try:
                for text, rate_hz in items:
                    w = self._add_one(text.strip(), rate_hz)
                    band = (deadbands or {}).get(text.strip())
                    if band is not None:
                        if not isinstance(band, int | float) or band < 0 or band != band:
                            raise SessionError(f"a deadband of {band!r} is not a distance; give 0 or more.")
                        w.deadband = float(band)
                    out.append(w)
            finally:
                self._replan()
        return out

    def _add_one(self, text: str, rate_hz: float | None) -> Watch:
        rate = self._check_rate(rate_hz if rate_hz is not None else self.default_rate)
        existing = self.find_watch(text)
        if existing is not None:
            # one watch per expression (its samples, its rate): a second one is said, not merged unseen
            if rate_hz is not None and existing.rate_hz != rate:
                self.on_message("warning", f"'{text}' is already watched at {existing.rate_hz:g} Hz; it is "
                                           f"sampled at {rate:g} Hz from now on.")
                existing.rate_hz = rate
                existing.stats.reset_window()
            else:
                self.on_message("info", f"'{text}' is already watched at {existing.rate_hz:g} Hz.")
            return existing
        compiled = self.compile(text)
        bound = compiled.bind(self.target.read)
        w = Watch(self._next_id, text, compiled, rate)
        self._next_id += 1
        self.watches[w.id] = w
        self._bound[w.id] = bound
        return w

    def find_watch(self, key: str | int) -> Watch | None:
        if isinstance(key, int):
            return self.watches.get(key)
        key = key.strip()
        for w in self.watches.values():
            if w.text == key:
                return w
        return None

    def remove_watch(self, key: str | int) -> int:
        """Remove one watch, or every watch for ``"all"``; returns how many were removed."""
        with self._lock:
            if key == "all":
                ids = list(self.watches)
            else:
                w = self.find_watch(key)
                if w is None:
                    raise SessionError(f"'{key}' is not being watched; 'show' lists the watches.")
                ids = [w.id]
            for i in ids:
                self.watches.pop(i, None)
                self._bound.pop(i, None)
                self._polled.pop(i, None)
            self._replan()
            return len(ids)

    def set_rate(self, key: str | int, rate_hz: float) -> Watch:
        rate = self._check_rate(rate_hz)
        with self._lock:
            w = self.find_watch(key)
            if w is None:
                raise SessionError(f"'{key}' is not being watched; add it first.")
            w.rate_hz = rate
            w.stats.reset_window()
            self._replan()
            return w

    def _check_rate(self, rate: float) -> float:
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise SessionError(f"'{rate}' is not a rate; give a number of samples per second, e.g. 100.") from None
        limit = float(self.info.tick_hz or 1000)
        if not rate > 0:
            raise SessionError(f"a rate must be above 0 Hz (got {rate:g}).")
        if rate > limit:
            raise SessionError(f"{rate:g} Hz is above what the target can sample ({limit:g} Hz); choose {limit:g} or less.")
        return rate

    def polled_reason(self, watch: Watch) -> str | None:
        return self._polled.get(watch.id)

    # -- one-shot reads and writes ----------------------------------------------------------
    def evaluate(self, text: str) -> Decoded:
        """Read an expression once (not sampled)."""
        return self.compile(text).evaluate(self.target.read)

    def write(self, text: str, value_text: str) -> Decoded:
        """Write ``value_text`` into the object ``text`` names; returns the value read back."""
        from firmwatch.symbols.codec import plan_write

        if self._names_peripheral(text):
            return self._write_peripheral(text, value_text)
        compiled = self.compile(text)
        if compiled.read_only:
            raise SessionError(f"'{text}' is const data (in flash or a read-only region) and cannot be written.")
        if isinstance(compiled, RawExpression):
            writes = [(compiled.address, compiled.encode(value_text))]
        else:
            writes = plan_write(self.program, compiled, value_text, self.target.read)
        for address, data in writes:
            back = self.target.write(address, data)
            if back != data:
                raise SessionError(
                    f"wrote {data.hex()} to 0x{address:x} but read back {back.hex()}: the target did not "
                    "keep the value (a register, or firmware overwriting it)."
                )
        return compiled.evaluate(self.target.read)

    # -- listeners and recording ------------------------------------------------------------
    def add_listener(self, listener: SampleListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: SampleListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def start_recording(self, path: str, session_id: str | None = None, format: str | None = None) -> Recorder:
        """Record every sample to ``path``, in the format its extension (or ``format``) names."""
        with self._lock:
            if self._recorder is not None:
                raise SessionError(f"already recording to {self._recorder.path}; stop that recording first.")
            self._recorder = Recorder(path, session_id, format=format, device=self.device)
            return self._recorder

    def attach_recorder(self, recorder: Recorder | None) -> None:
        """Write into a recorder shared with other devices' sessions (None: stop writing; the
        owner closes it)."""
        with self._lock:
            if recorder is not None and self._recorder is not None and self._recorder is not recorder:
                raise SessionError(f"already recording to {self._recorder.path}; stop that recording first.")
            self._recorder = recorder

    def stop_recording(self) -> Recorder | None:
        with self._lock:
            rec, self._recorder = self._recorder, None
        if rec is not None:
            rec.close()
        return rec

    # -- planning ---------------------------------------------------------------------------
    def _limits(self) -> Limits:
        """The device's own limits (IDENTIFY); a target without one (a GDB server) gets the
        streamer core's defaults, which its sampler batches comfortably."""
        i = self.info
        d = Limits()
        return Limits(
            max_streams=i.max_streams or d.max_streams,
            max_regions=i.max_regions or d.max_regions,
            max_stream_bytes=i.max_stream_bytes or d.max_stream_bytes,
            max_rate_hz=float(i.max_rate_hz or i.tick_hz or d.max_rate_hz),
        )

    def _replan(self) -> None:
        """Bring the device's streams in line with the watches (call with the lock held)."""
        if not self._sampling:
            return
        entries = []
        for w in self.watches.values():
            regions = tuple(PlannedRegion(r.address, r.size) for r in self._bound[w.id].regions)
            filters = self._filters(w)
            w.filtered = filters is not None
            entries.append((PlanEntry(w.id, regions, filters), w.rate_hz))
        if not self._streaming:
            self._polled = {w.id: "the target cannot stream" for w in self.watches.values()}
            return
        plan = plan_streams(entries, self._limits())
        wanted = {sp: None for sp in plan.streams}
        # stop streams no longer wanted; keep the unchanged ones running (no gap in their data)
        for sid, st in list(self._streams.items()):
            if st.plan in wanted:
                wanted.pop(st.plan)
                continue
            try:
                self.target.stop_stream(sid)
            except TargetError as e:
                self.on_message("warning", str(e))
            del self._streams[sid]
        polled = dict(plan.polled)
        unsampled: dict[int, str] = {}
        for sp in wanted:
            self._start_planned(sp, polled, unsampled)
        self._polled = polled
        for w in self.watches.values():
            w.unsampled = unsampled.get(w.id)
            if w.unsampled:
                w.error = w.unsampled

    def _start_planned(self, sp: StreamPlan, polled: dict[int, str], unsampled: dict[int, str]) -> None:
        """Start one planned stream. When the device refuses it, every watch in it is tried in a
        stream of its own, so one watch the device will not sample (an address outside its
        region table) does not take the others at its rate down with it. A watch refused on its
        own is unsampled — with the device's reason — when its memory cannot be read, and polled
        when only the device's stream resources are short."""
        regions = [Region(r.address, r.size) for r in sp.regions]
        try:
            if sp.filtered:
                from firmwatch.session.deadband import heartbeat_instants

                sid = self.target.start_stream(regions, sp.rate_hz, heartbeat=heartbeat_instants(sp.rate_hz),  # type: ignore[call-arg]
                                               filters=sp.filters)
            else:
                sid = self.target.start_stream(regions, sp.rate_hz)
        except TargetError as e:
            if len(sp.entries) > 1:
                for entry in sp.entries:
                    self._start_planned(StreamPlan(sp.rate_hz, (entry,)), polled, unsampled)
                return
            wid = sp.entries[0].watch_id
            unreadable = isinstance(e, AccessRefused) and e.address is not None
            if unreadable or not isinstance(e, AccessRefused):
                # unreadable memory cannot be polled either; a lost link is said as it is
                unsampled[wid] = str(e)
            else:
                polled[wid] = str(e)
            return
        slots = []
        idx = 0
        for entry in sp.entries:
            w = self.watches[entry.watch_id]
            slots.append((w, idx, len(entry.regions), self._bound[w.id]))
            idx += len(entry.regions)
            w.stats.restart()  # a new device stream: a new schedule phase
        self._streams[sid] = _Stream(sp, sid, slots)

    # -- link events and loss accounting --------------------------------------------------------
    def link_event(self, state: str, message: str) -> None:
        """What the transport said about its link (``on_link``). A lost link interrupts every
        streamed watch's schedule: what the device samples while it is down never arrives, and
        the watch counts it as missing once samples flow again (the restored link restarts the
        device streams, with new phases)."""
        if state == "restored":
            self.clock.reset()  # the device may have restarted with its clock
        if state == "lost":
            with self._lock:
                for st in self._streams.values():
                    for w, *_ in st.slots:
                        w.stats.restart(after_outage=True)

    # -- sample path (reader thread of the target) ----------------------------------------------
    def _on_sample(self, sample: Sample) -> None:
        # a frame lost on the link (a seq gap) may have carried a change of a change-only watch:
        # those are stale until their next sample (at the latest one heartbeat later)
        last, self._last_seq = self._last_seq, sample.seq
        if last is not None and 1 < ((sample.seq - last) & 0xFFFF) < 0x8000:
            for w in self.watches.values():
                if w.filtered and not w.stale:
                    w.stale = True
                    w.stats.stale_spans += 1
        st = self._streams.get(sample.stream)
        if st is None:
            return
        events: list[SampleEvent] = []
        tick_hz = self.info.tick_hz  # the device's schedule: missing samples are counted exactly
        host = self.clock.observe(sample.target_time, sample.host_time)
        for w, first, n, bound in st.slots:
            chunks = sample.data[first : first + n]
            w.update(bound, chunks, sample.target_time, sample.host_time, tick_hz)
            if self._listeners or self._recorder is not None:
                events.append(SampleEvent(w, sample.seq, sample.target_time, host, chunks, bound))
        if events:
            self._dispatch(events)

    def _dispatch(self, events: list[SampleEvent]) -> None:
        rec = self._recorder
        if rec is not None:
            rows = []
            dev = self.device
            for ev in events:
                v = ev.value()
                scalar = v.scalar
                if not rec.described(ev.watch.text, dev):
                    rec.describe(ev.watch.text, signal_of(v), dev)
                rows.append((ev.seq, ev.target_time, ev.host_time, ev.watch.text,
                             (int(scalar) if isinstance(scalar, bool) else scalar) if scalar is not None
                             else v.display()))
            rec.write_many(rows, dev)
        for listener in list(self._listeners):
            try:
                listener(events)
            except Exception as e:  # a broken listener must not stop sampling
                self.on_message("error", f"a sample listener failed: {e}")

    # -- maintenance thread: polling fallback and pointer re-binding ---------------------------
    def _maintain(self) -> None:
        next_due: dict[int, float] = {}
        last_rebind = time.monotonic()
        seq = 0
        t0 = time.monotonic()
        poll_clock = HostClock()
        while not self._closed.is_set():
            now = time.monotonic()
            with self._lock:
                polled = [(self.watches[i], self._bound[i]) for i in self._polled if i in self.watches]
            sleep_until = now + 0.05
            for w, bound in polled:
                due = next_due.get(w.id, now)
                if now >= due:
                    try:
                        chunks = tuple(self.target.read(r.address, r.size) for r in bound.regions)
                    except TargetError as e:
                        w.error = str(e)
                    else:
                        seq += 1
                        tt = time.monotonic() - t0
                        w.update(bound, chunks, tt)
                        host = poll_clock.observe(tt, time.time())  # the host's own clock: not the device's
                        if self._listeners or self._recorder is not None:
                            self._dispatch([SampleEvent(w, seq, tt, host, chunks, bound)])
                    due = max(due + 1.0 / w.rate_hz, now)
                    next_due[w.id] = due
                sleep_until = min(sleep_until, due)
            if now - last_rebind >= self.REBIND_INTERVAL_S:
                last_rebind = now
                self._rebind_pointers()
            self._closed.wait(max(0.0, sleep_until - time.monotonic()))

    def _rebind_pointers(self) -> None:
        """Re-follow pointers of watches like ``p->x``: the firmware may have moved ``p``."""
        with self._lock:
            changed = False
            for w in list(self.watches.values()):
                if w.compiled.static_regions() is not None:
                    continue
                try:
                    bound = w.compiled.bind(self.target.read)
                except Exception as e:  # a pointer that now points nowhere: report, keep old plan
                    w.error = str(e)
                    continue
                if [(r.address, r.size) for r in bound.regions] != [
                    (r.address, r.size) for r in self._bound[w.id].regions
                ]:
                    self._bound[w.id] = bound
                    changed = True
            if changed:
                self._replan()

    def finish(self) -> Any:
        """End sampling with an exact account, and return the link's counters (``LinkStats``).

        The target closes its account first (the streamer: a STATUS while its streams run, after
        which no sample is delivered), each streamed watch counts what its schedule owed it up
        to that device tick, and then everything stops. The watches' samples and missing, the
        link's lost frames and the device's own drop count then describe the same samples."""
        st = self.target.final_stats()
        tick_hz = self.info.tick_hz
        with self._lock:
            for sid, stream in self._streams.items():
                for w, *_ in stream.slots:
                    if st.device_ticks is not None and tick_hz:
                        w.stats.finish(st.device_ticks, w.rate_hz, tick_hz)
                    if sid in st.stream_dropped:
                        # the device counts its drops since the stream started, the first ones
                        # included, which no schedule seen from the host can place
                        w.stats.device_dropped = st.stream_dropped[sid]
                        w.stats.missing = max(w.stats.missing, w.stats.banked + st.stream_dropped[sid])
        self.stop_sampling()
        return st

    def stop_sampling(self) -> None:
        """Stop every stream and poll, and wait until the device acknowledged: every sample it
        produced before has arrived (replies and samples travel in order), so counters read
        afterwards — the watches', the link's, the device's own — describe the same samples."""
        with self._lock:
            self._sampling = False
            self._polled = {}
            if self._streaming and self._streams:
                try:
                    self.target.stop_stream(None)
                except TargetError as e:
                    self.on_message("warning", str(e))
            self._streams = {}

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.stop_recording()
        if self._streaming and self._sampling:  # (stop_sampling() already stopped the device)
            try:
                self.target.stop_stream(None)
            except TargetError:
                pass
        self._worker.join(timeout=2)


def _short_name(program: Program) -> str:
    """A device's name when the user gave none: its ELF's file name without the extension."""
    import os

    return os.path.splitext(os.path.basename(program.elf.path))[0] or "device"
