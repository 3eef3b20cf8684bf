"""The debug session's triggered capture: ``firmwatch.captureArm`` / ``captureForce`` / ``captureStop``.

One capture at a time, on the session's own target (capture/engine.py: on the device when its
firmware has the capture module, else on the host). While it waits, ``firmwatch.captureState``
events say what it is doing (armed, triggered, uploading with progress); each completed capture
arrives as a ``firmwatch.capture`` event: channels, times relative to the trigger, values, the
trigger's index and level, the achieved rate and the clock — what the plot view's scope mode
draws. Normal mode keeps capturing until stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from firmwatch.capture.engine import CaptureEngine, CaptureRequest
from firmwatch.capture.result import CaptureResult
from firmwatch.errors import UserError

STATE_EVENT = "firmwatch.captureState"
RESULT_EVENT = "firmwatch.capture"
MAX_POINTS = 20000  # per channel in an event: more samples than a plot can show is a bigger capture than VS Code needs


class CaptureViewError(UserError):
    pass


class CaptureView:
    def __init__(self, session: Any, emit: Callable[[str, dict[str, Any]], None]):
        self.session = session
        self.emit = emit
        self._lock = threading.Lock()
        self.engine = CaptureEngine(session.program, session.target, compile=session.compile,
                                    on_state=self._on_state, on_result=self._on_result)
        self.last: CaptureResult | None = None
        self._last_state: str | None = None

    def arm(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = args.get("channels")
        if not isinstance(channels, list) or not all(isinstance(c, str) and c.strip() for c in channels):
            raise CaptureViewError("name the channels to capture: a list of watch expressions, e.g. [\"accel_x\"].")
        trigger = args.get("trigger")
        if trigger is not None and not isinstance(trigger, str):
            raise CaptureViewError("the trigger is a condition written as text, e.g. 'accel_x rising 500'.")
        samples = args.get("samples")
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)):
            raise CaptureViewError(f"samples must be a whole number, not {samples!r}.")
        rate = args.get("rateHz")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)):
            raise CaptureViewError(f"rateHz must be a number of samples per second, not {rate!r}.")
        pre = args.get("pre", "10%")
        if isinstance(pre, bool) or not isinstance(pre, str | int | float):
            raise CaptureViewError(f"pre must be a count or a share such as '20%', not {pre!r}.")
        req = CaptureRequest([c.strip() for c in channels], trigger or None, samples, pre, rate,
                             args.get("mode", "single"), args.get("where", "auto"), args.get("timeoutS"))
        with self._lock:
            if self.engine.running:
                self.engine.stop()
            plan = self.engine.start(req)
        return {"where": plan.where, "samples": plan.samples, "pre": plan.pre, "rateHz": plan.rate_hz,
                "rateAsked": plan.rate_asked, "clock": plan.clock, "notes": plan.notes, "description": plan.describe(),
                "channels": [c.text for c in plan.channels],
                "trigger": plan.trigger.spec.describe() if plan.trigger else None,
                "level": plan.trigger.condition.level if plan.trigger and plan.trigger.spec.level is not None else None,
                "triggerChannel": plan.trigger.channel if plan.trigger else None}

    def force(self) -> dict[str, Any]:
        self.engine.force()
        return {"forced": True}

    def stop(self) -> dict[str, Any]:
        self.engine.stop()
        return {"stopped": True}

    def status(self) -> dict[str, Any]:
        """What the capture does now, its last result, and the session's watches (the channels the
        extension offers)."""
        return {**self.engine.state, "running": self.engine.running,
                "last": self.last.to_json() if self.last is not None else None,
                "watches": [w.text for w in self.session.watches.values()]}

    def close(self) -> None:
        self.engine.close()

    # -- engine callbacks (its thread) -------------------------------------------------------------
    def _on_state(self, st: dict[str, Any]) -> None:
        name = st.get("state")
        if name == self._last_state and name not in ("uploading",):
            return  # the waiting states repeat every poll: say each once
        self._last_state = name
        self.emit(STATE_EVENT, {k: v for k, v in st.items() if isinstance(v, str | int | float | bool | None)})

    def _on_result(self, r: CaptureResult) -> None:
        self.last = r
        body = r.to_json()
        if r.samples > MAX_POINTS:
            body["notes"] = [*body["notes"], f"{r.samples} samples: the view shows the first {MAX_POINTS}; "
                             "export the CSV from the command line for all of them."]
            body["times"] = body["times"][:MAX_POINTS]
            body["values"] = [v[:MAX_POINTS] for v in body["values"]]
        self.emit(RESULT_EVENT, body)
