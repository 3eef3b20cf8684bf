"""Triggered capture: an oscilloscope for firmware variables (issue 13).

Two ways to capture, one result:

* **On the device** (firmware built with the capture module, ``"capture"`` in the target's
  capabilities): the device samples the channels into its own RAM at its tick or its capture
  timer — faster than any link — evaluates the trigger itself, and the completed capture is
  uploaded afterwards beside the normal streams, resumable after a link error. Its sample
  clock is the device's: the samples are evenly spaced by construction.
* **On the host** (GDB servers, firmware without the module, a trigger the device cannot
  evaluate): the channels are streamed (or sampled over GDB) at the best rate the transport
  achieves, the trigger is evaluated on the sampled values with the same rules, and the
  pre-trigger part is kept in a ring. The rate is what was achieved, not what was asked, and
  samples the link lost are counted.

The engine uses symbols (through ``compile``) and the Target protocols only; front ends (the
CLI, the debug adapter) start it, force or stop it, and receive its state and results through
callbacks, which run on the engine's thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmwatch.capture.channels import CaptureError, Channel, TriggerPlan, make_channel, plan_trigger
from firmwatch.capture.result import CaptureResult
from firmwatch.capture.trigger import TriggerError, parse_trigger
from firmwatch.targets import protocol as P
from firmwatch.targets.base import Region, Sample, Target, TargetError, TargetLost

StateCallback = Callable[[dict[str, Any]], None]
ResultCallback = Callable[[CaptureResult], None]
POLL_S = 0.05  # how often an armed device is asked whether it triggered
QUIET_S = 10.0  # how long a device may leave status requests unanswered before the capture fails
DEFAULT_SAMPLES = 1000
DEFAULT_RATE = 1000.0


@dataclass
class CaptureRequest:
    channels: list[str]
    trigger: str | None = None  # "accel_x rising 500"; None: trigger at once (forced)
    samples: int | None = None  # None: 1000, or what the device's buffer holds if fewer
    pre: str | int | float = "10%"  # samples before the trigger: a count, or a share ("20%", 0.2)
    rate_hz: float | None = None  # None: the device's tick rate (host: 1000 Hz)
    mode: str = "single"  # "single" | "normal" (capture again after each result)
    where: str = "auto"  # "auto" | "device" | "host"
    timeout: float | None = None  # single mode: give up when nothing triggered in this time


@dataclass
class CapturePlan:
    where: str
    channels: list[Channel]
    trigger: TriggerPlan | None
    samples: int
    pre: int
    rate_asked: float | None
    rate_hz: float
    clock: str
    notes: list[str] = field(default_factory=list)
    # device
    source: int = P.SOURCE_TICK
    divider: int = 1
    regions: list[Region] = field(default_factory=list)

    def describe(self) -> str:
        trig = self.trigger.spec.describe() if self.trigger else "forced (no condition)"
        return (f"{self.samples} samples ({self.pre} before the trigger) of {', '.join(c.text for c in self.channels)} "
                f"at {self.rate_hz:.6g} Hz on the {self.where}, trigger {trig}")


def pre_count(pre: str | int | float, samples: int) -> int:
    if isinstance(pre, str):
        t = pre.strip()
        try:
            n = round(samples * float(t[:-1]) / 100) if t.endswith("%") else int(t, 0)
        except ValueError:
            raise CaptureError(f"'{pre}' is no pre-trigger share: write a count (200) or a share of the samples (20%).") from None
    elif isinstance(pre, float) and pre < 1:
        n = round(samples * pre)
    else:
        n = int(pre)
    if not 0 <= n < samples:
        raise CaptureError(f"the pre-trigger part ({pre}) must leave room for the trigger sample: 0 to {samples - 1} "
                           f"of {samples} samples.")
    return n


class CaptureEngine:
    """One capture at a time on one target."""

    def __init__(self, program: Any, target: Target, *, compile: Callable[[str], Any] | None = None,
                 on_state: StateCallback | None = None, on_result: ResultCallback | None = None):
        self.program = program
        self.target = target
        if compile is None:
            from firmwatch.symbols.expr import compile_expression

            def compile(text: str) -> Any:
                return compile_expression(program, text)
        self._compile = compile
        self.on_state = on_state or (lambda s: None)
        self.on_result = on_result or (lambda r: None)
        self._run: _Run | None = None
        self._lock = threading.Lock()
        self._results: deque[CaptureResult] = deque()
        self._done = threading.Condition()
        self.error: str | None = None
        self.state: dict[str, Any] = {"state": "idle"}

    # -- planning --------------------------------------------------------------------------------
    def plan(self, req: CaptureRequest) -> CapturePlan:
        if not req.channels and not req.trigger:
            raise CaptureError("name what to capture: one or more expressions (e.g. accel_x accel_y).")
        if req.mode not in ("single", "normal"):
            raise CaptureError(f"capture mode '{req.mode}' is unknown: use single or normal.")
        if req.where not in ("auto", "device", "host"):
            raise CaptureError(f"'{req.where}' is no place to capture: use auto, device or host.")
        if req.rate_hz is not None and not (req.rate_hz > 0 and math.isfinite(req.rate_hz)):
            raise CaptureError(f"the rate {req.rate_hz} Hz is not a sampling rate; give a number above 0.")
        if req.samples is not None and req.samples < 1:
            raise CaptureError(f"{req.samples} samples is not a capture; ask for at least 1.")
        info = self.target.info()
        order = info.byteorder
        read = self.target.read
        channels = [make_channel(t, self._compile, read, order) for t in req.channels]
        trig = None
        spec = parse_trigger(req.trigger)
        if spec is not None:
            trig, channels = plan_trigger(spec, channels, self._compile, read, order)
        device_ok, why = self._device_possible(channels, trig)
        if req.where == "device" and not device_ok:
            raise CaptureError(f"this capture cannot run on the device: {why}.")
        if req.where == "host" or not device_ok:
            plan = self._plan_host(req, channels, trig, info)
            if req.where == "auto" and why:
                plan.notes.append(f"captured on the host: {why}.")
            return plan
        return self._plan_device(req, channels, trig, info)

    def _device_possible(self, channels: list[Channel], trig: TriggerPlan | None) -> tuple[bool, str | None]:
        if "capture" not in self.target.capabilities:
            if not self.target.info().link_mode:
                return False, "a GDB server reads memory but has no capture module to arm"
            return False, "the firmware has no capture module (build it with FW_CAPTURE=1), or the link is not binary"
        if trig is not None and trig.device_kind is None:
            return False, trig.why_not_device
        for c in channels:
            if c.compiled.static_regions() is None:
                return False, f"'{c.text}' follows a pointer, which can move while the device captures"
        return True, None

    def _plan_device(self, req: CaptureRequest, channels: list[Channel], trig: TriggerPlan | None,
                     info: Any) -> CapturePlan:
        link = self._link()
        st = link.status()
        regions = [r for c in channels for r in c.regions]
        if not st.buffer_bytes:
            raise CaptureError("the firmware has the capture module but gave it no buffer (fw_capture_init): "
                               "give it RAM, or capture on the host (--where host).")
        if len(regions) > st.max_channels:
            raise CaptureError(f"these channels are {len(regions)} memory regions; the device captures at most "
                               f"{st.max_channels} together: capture fewer (or --where host).")
        sample_bytes = sum(r.size for r in regions)
        limit = info.max_stream_bytes or 64
        if sample_bytes > limit:
            raise CaptureError(f"one sample of these channels is {sample_bytes} bytes; the device copies at most "
                               f"{limit} bytes a sample: capture fewer or smaller channels.")
        capacity = st.buffer_bytes // sample_bytes
        samples = req.samples if req.samples is not None else min(DEFAULT_SAMPLES, capacity)
        if samples > capacity:
            raise CaptureError(f"the device's capture buffer ({st.buffer_bytes} bytes) holds {capacity} samples of these "
                               f"{sample_bytes} bytes: ask for --samples {capacity} or fewer, or fewer channels.")
        pre = pre_count(req.pre, samples)
        tick = info.tick_hz or 1000
        asked = req.rate_hz
        rate = asked if asked is not None else float(tick)
        source, divider, achieved, clock = _device_clock(rate, tick, st.timer_hz, st.timer_max_divider)
        notes = []
        if asked is not None and abs(achieved - asked) > 0.005 * asked:
            if rate > tick and not st.timer_hz:
                notes.append(f"the device has no capture timer: it samples at most at its tick, {tick} Hz.")
            else:
                notes.append(f"the device's clocks give {achieved:.6g} Hz, not {asked:.6g} Hz.")
        return CapturePlan("device", channels, trig, samples, pre, asked, achieved, clock, notes, source, divider, regions)

    def _plan_host(self, req: CaptureRequest, channels: list[Channel], trig: TriggerPlan | None,
                   info: Any) -> CapturePlan:
        if "stream" not in self.target.capabilities:
            raise CaptureError("this target can neither capture nor stream; connect through the streamer or a GDB server.")
        samples = req.samples if req.samples is not None else DEFAULT_SAMPLES
        pre = pre_count(req.pre, samples)
        limit = info.max_rate_hz
        asked = req.rate_hz
        rate = asked if asked is not None else DEFAULT_RATE
        notes = []
        if limit and rate > limit:
            notes.append(f"asked {rate:.6g} Hz; the target samples at most {limit:.6g} Hz on the host.")
            rate = float(limit)
        regions = [r for c in channels for r in c.regions]
        clock = ("the device's tick, streamed" if info.tick_hz and info.link_mode else
                 "the host's clock, sampled over GDB")
        return CapturePlan("host", channels, trig, samples, pre, asked, rate, clock, notes, regions=regions)

    def _link(self) -> Any:
        return self.target.capture_link()  # type: ignore[attr-defined]  # declared by the "capture" capability

    # -- running ---------------------------------------------------------------------------------
    def start(self, req: CaptureRequest) -> CapturePlan:
        """Plan and arm; results arrive through ``on_result`` (and :meth:`wait`)."""
        with self._lock:
            if self._run is not None and self._run.alive:
                raise CaptureError("a capture is already armed: stop it first.")
            plan = self.plan(req)
            self.error = None
            self._results.clear()
            run: _Run = _DeviceRun(self, plan, req) if plan.where == "device" else _HostRun(self, plan, req)
            self._run = run
            run.start()
            return plan

    def force(self) -> None:
        run = self._run
        if run is None or not run.alive:
            raise CaptureError("no capture is armed: arm one first.")
        run.force()

    def stop(self) -> None:
        run = self._run
        if run is not None:
            run.stop()
            run.join(5.0)

    def wait(self, timeout: float | None = None) -> CaptureResult | None:
        """The next result (None on timeout, or when the capture ended without one: see ``error``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while not self._results:
                run = self._run
                if run is None or not run.alive:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._done.wait(0.1 if left is None else min(left, 0.1))
            return self._results.popleft()

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.alive

    def close(self) -> None:
        self.stop()

    def _emit_state(self, state: dict[str, Any]) -> None:
        self.state = state
        try:
            self.on_state(state)
        except Exception:  # a front end's callback must not end the capture
            pass

    def _emit_result(self, result: CaptureResult) -> None:
        with self._done:
            self._results.append(result)
            self._done.notify_all()
        try:
            self.on_result(result)
        except Exception:
            pass

    def _ended(self, error: str | None) -> None:
        self.error = error
        self._emit_state({"state": "error" if error else "stopped", "message": error})
        with self._done:
            self._done.notify_all()


def _device_clock(rate: float, tick: int, timer_hz: int, max_div: int) -> tuple[int, int, float, str]:
    """(source, divider, achieved rate, clock phrase) closest to ``rate``; the tick wins ties."""
    options = []
    d = max(1, round(tick / rate))
    options.append((P.SOURCE_TICK, d, tick / d, f"the device's tick ({tick} Hz) / {d}"))
    if timer_hz:
        d = max(1, round(timer_hz / rate))
        if max_div:
            d = min(d, max_div)
        options.append((P.SOURCE_TIMER, d, timer_hz / d, f"the device's capture timer ({timer_hz} Hz) / {d}"))
    return min(options, key=lambda o: (abs(math.log(o[2] / rate)), o[0]))


class _Run(threading.Thread):
    def __init__(self, engine: CaptureEngine, plan: CapturePlan, req: CaptureRequest):
        super().__init__(name="firmwatch-capture", daemon=True)
        self.engine = engine
        self.plan = plan
        self.req = req
        self._halt = threading.Event()
        self._force = threading.Event()

    @property
    def alive(self) -> bool:
        return self.is_alive()

    def force(self) -> None:
        self._force.set()

    def stop(self) -> None:
        self._halt.set()

    def state(self, name: str, **extra: Any) -> None:
        self.engine._emit_state({"state": name, "where": self.plan.where, **extra})

    def trigger_text(self) -> str:
        t = self.plan.trigger
        return t.spec.describe() if t else "forced"

    def result(self, samples: list[tuple[bytes, ...]], times: list[float], trig_index: int, **kw: Any) -> CaptureResult:
        p = self.plan
        values: list[list[Any]] = [[] for _ in p.channels]
        spans = []
        pos = 0
        for c in p.channels:
            spans.append((pos, pos + len(c.regions)))
            pos += len(c.regions)
        for chunks in samples:
            for i, c in enumerate(p.channels):
                a, b = spans[i]
                try:
                    values[i].append(c.value(chunks[a:b]))
                except Exception as e:  # noqa: BLE001 - a value that does not decode is shown as why
                    values[i].append(f"<{e}>")
        t = p.trigger
        return CaptureResult(
            channels=[c.text for c in p.channels], types=[c.type_name for c in p.channels], times=times, values=values,
            trigger_index=trig_index, trigger=self.trigger_text(), where=p.where, clock=p.clock, rate_asked=p.rate_asked,
            rate_hz=kw.pop("rate_hz", p.rate_hz), notes=list(p.notes) + kw.pop("notes", []),
            trigger_channel=t.channel if t else None, level=t.condition.level if t and t.spec.level is not None else None,
            **kw,
        )  # fmt: skip

    def run(self) -> None:
        error = None
        try:
            self.body()
        except (TargetError, CaptureError, TriggerError) as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - the thread must say why it ended
            error = f"the capture failed: {e}"
        finally:
            self.cleanup()
            self.engine._ended(error)

    def body(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass


class _DeviceRun(_Run):
    def body(self) -> None:
        p = self.plan
        link = self.engine._link()
        trig = p.trigger
        sizes = [r.size for r in p.regions]
        tchan = 0
        if trig is not None:
            tchan = sum(len(c.regions) for c in p.channels[: trig.channel])
        from firmwatch.targets.capture_link import ArmRequest, split_samples

        arm = ArmRequest(
            channels=tuple((r.address, r.size) for r in p.regions), samples=p.samples, pre=p.pre, source=p.source,
            divider=p.divider, trig_channel=tchan, trig_op=P.TRIGGER_OPS.index(trig.spec.op) if trig else 0,
            trig_kind=trig.device_kind if trig and trig.device_kind is not None else P.KIND_UNSIGNED,
            level=trig.level_raw if trig else 0, mask=trig.mask_raw if trig else 0, normal=self.req.mode == "normal",
        )  # fmt: skip
        self.state("arming")
        link.arm(arm)
        if trig is None:
            link.force()
        started = time.monotonic()
        last_id = None
        quiet_since: float | None = None
        while not self._halt.is_set():
            if self._force.is_set():
                self._force.clear()
                link.force()
            try:
                st = link.status()
                quiet_since = None
            except TargetLost:
                self.state("link-lost", message="the link is down; the device keeps the capture armed.")
                self._halt.wait(0.2)
                continue
            except TargetError:
                # a device busy sampling may answer late; only a long silence ends the capture
                now = time.monotonic()
                quiet_since = quiet_since or now
                if now - quiet_since > QUIET_S:
                    raise
                continue
            if st.state == 3 and st.capture_id != last_id:
                self.state("uploading", captureId=st.capture_id, bytes=0, total=st.samples * st.sample_bytes)
                data = link.upload(st, progress=lambda got, total, cid=st.capture_id: self.state(
                    "uploading", captureId=cid, bytes=got, total=total), cancelled=self._halt.is_set)
                samples = split_samples(data, st.sample_bytes, sizes)
                rate = p.rate_hz
                times = [(i - st.trigger_index) / rate for i in range(len(samples))]
                tick = self.engine.target.info().tick_hz or 1000
                notes = []
                if link.rerequests:
                    notes.append(f"the upload recovered from a link error ({link.rerequests} parts asked for again).")
                result = self.result(samples, times, st.trigger_index, trigger_time=st.trigger_ticks / tick,
                                     capture_id=st.capture_id, slips=st.slips, notes=notes)
                last_id = st.capture_id
                link.release(st.capture_id)  # normal mode: the device arms again
                self.engine._emit_result(result)
                if self.req.mode != "normal":
                    return
                if trig is None:
                    link.force()
                started = time.monotonic()
                continue
            if st.state == 4:
                missed = f", {st.slips} sample{'s' if st.slips != 1 else ''} missed" if st.slips else ""
                raise CaptureError(f"the device stopped the capture: at {p.rate_hz:.6g} Hz sampling took its CPU (the "
                                   f"capture timer's interrupt came late, or left its main loop no time{missed}), so "
                                   "the CPU cannot sample this fast; lower the rate or capture fewer channels.")
            if st.state == 0:
                raise CaptureError("the device stopped the capture (another program, or it was restarted); arm it again.")
            self.state("triggered" if st.state == 2 else "armed", waited=st.waited, samples=st.samples)
            if self.req.timeout is not None and time.monotonic() - started > self.req.timeout:
                raise CaptureError(f"nothing triggered in {self.req.timeout:g} s ({self.trigger_text()}); "
                                   "check the condition, or force the trigger.")
            self._halt.wait(POLL_S)

    def cleanup(self) -> None:
        try:
            link = self.engine._link()
            if self._halt.is_set():
                link.stop()
        except (TargetError, AttributeError):
            pass


class _HostRun(_Run):
    """The trigger on the sampled stream; the pre-trigger part in a ring."""

    def __init__(self, engine: CaptureEngine, plan: CapturePlan, req: CaptureRequest):
        super().__init__(engine, plan, req)
        self._lock = threading.Lock()
        self._ring: deque[tuple[float, int, tuple[bytes, ...]]] = deque(maxlen=plan.pre + 1)
        self._post: list[tuple[float, int, tuple[bytes, ...]]] = []
        self._triggered = False
        self._ready = threading.Event()
        self._sid: int | None = None
        self._seen = 0

    def _on_sample(self, sample: Sample) -> None:
        if sample.stream != self._sid or self._ready.is_set():
            return
        p = self.plan
        item = (sample.target_time, sample.seq, sample.data)
        with self._lock:
            self._seen += 1
            if self._triggered:
                self._post.append(item)
                if len(self._ring) + len(self._post) >= p.samples:
                    self._ready.set()
                return
            fire = False
            if p.trigger is not None:
                ch = p.trigger.channel
                a = sum(len(c.regions) for c in p.channels[:ch])
                n = p.channels[ch].number(sample.data[a : a + len(p.channels[ch].regions)])
                fire = n is not None and p.trigger.condition.feed(n)
            self._ring.append(item)
            if self._force.is_set() or (fire and len(self._ring) > p.pre):
                self._force.clear()
                self._triggered = True
                if len(self._ring) >= p.samples:
                    self._ready.set()

    def body(self) -> None:
        p = self.plan
        target = self.engine.target
        _register(target, self)
        while not self._halt.is_set():
            self.state("arming")
            if p.trigger:
                p.trigger.condition.reset()
            with self._lock:
                self._ring.clear()
                self._post.clear()
                self._triggered = p.trigger is None
                self._ready.clear()
                self._seen = 0
            self._sid = target.start_stream(p.regions, p.rate_hz)
            started = time.monotonic()
            try:
                while not self._ready.wait(0.1):
                    if self._halt.is_set():
                        return
                    with self._lock:
                        waited, trig = self._seen, self._triggered
                    self.state("triggered" if trig else "armed", waited=waited, samples=p.samples)
                    if self.req.timeout is not None and time.monotonic() - started > self.req.timeout:
                        raise CaptureError(f"nothing triggered in {self.req.timeout:g} s ({self.trigger_text()}); "
                                           "check the condition, or force the trigger.")
            finally:
                sid, self._sid = self._sid, None
                try:
                    target.stop_stream(sid)
                except TargetError:
                    pass
            with self._lock:
                items = list(self._ring) + self._post
            items = items[: p.samples]
            trig_index = len(self._ring) - 1
            self.engine._emit_result(self._host_result(items, trig_index))
            if self.req.mode != "normal":
                return

    def _host_result(self, items: list[tuple[float, int, tuple[bytes, ...]]], trig_index: int) -> CaptureResult:
        p = self.plan
        t0 = items[trig_index][0]
        times = [t - t0 for t, _, _ in items]
        span = items[-1][0] - items[0][0]
        rate = (len(items) - 1) / span if span > 0 and len(items) > 1 else p.rate_hz
        lost = 0
        notes = []
        info = self.engine.target.info()
        if info.tick_hz and info.link_mode:  # the device's schedule: gaps are lost samples
            period = 1.0 / p.rate_hz
            for (a, _, _), (b, _, _) in zip(items, items[1:]):
                if b - a > 1.5 * period:
                    lost += round((b - a) / period) - 1
        if p.rate_asked and rate < 0.95 * p.rate_asked:
            notes.append(f"the host achieved {rate:.6g} samples/s of the {p.rate_asked:.6g} asked.")
        return self.result([d for _, _, d in items], times, trig_index, rate_hz=rate, lost=lost, notes=notes,
                           trigger_time=t0)


_registered: dict[int, list[_HostRun]] = {}
_reg_lock = threading.Lock()


def _register(target: Target, run: _HostRun) -> None:
    """One sample callback per target (targets cannot remove one): it hands samples to the run
    that owns the stream."""
    key = id(target)
    with _reg_lock:
        runs = _registered.get(key)
        if runs is None:
            runs = _registered[key] = []

            def deliver(sample: Sample, runs: list[_HostRun] = runs) -> None:
                for r in list(runs):
                    r._on_sample(sample)

            target.on_sample(deliver)
        runs[:] = [r for r in runs if r.alive]
        runs.append(run)
