"""The debug session's profile: ``firmwatch.startProfile`` / ``stopProfile`` / ``profile``.

One profile at a time, over the session's own link (docs/profiler.md):

* a streamer session (serial, tcp) talks to firmware that may run firmware/profiler on the same
  line: an *instrumented* profile (every call), the streamer carrying on meanwhile;
* a GDB session (rsp, gdb) samples the program counter: a *sampled* profile.

While it runs, a ``firmwatch.profile`` event carries the summary every ``intervalS`` seconds
(functions with where they are defined — the extension's code lenses —, the call tree for the
flame graph, counters and notes); the stop request answers with the final one and writes the
exports asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from firmwatch.errors import UserError
from firmwatch.profiler.report import Profile
from firmwatch.profiler.run import ProfileRun

EVENT = "firmwatch.profile"
MAX_FUNCTIONS = 300  # in an event: the code lenses need no more
TREE_DEPTH = 24


class ProfileError(UserError):
    pass


def summary(profile: Profile) -> dict[str, Any]:
    body = profile.to_json(tree_depth=TREE_DEPTH)
    body["functions"] = body["functions"][:MAX_FUNCTIONS]
    body["lines"] = body["lines"][:MAX_FUNCTIONS]
    return body


class ProfileView:
    def __init__(self, program: Any, target: Any, transport: str, emit: Callable[[str, dict[str, Any]], None]):
        self.program = program
        self.target = target
        self.transport = transport
        self.emit = emit
        self._run: ProfileRun | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last: Profile | None = None

    @property
    def running(self) -> bool:
        return self._run is not None

    def start(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._run is not None:
                raise ProfileError("a profile is already running: stop it first (firmwatch: Stop Profile).")
            from firmwatch.profiler.instrumented import InstrumentedRun
            from firmwatch.profiler.run import profile_run

            run = profile_run(self.program, self.target, self.transport, mode=args.get("mode", "auto"),
                              strict=not args.get("allowMismatch", False), rate_hz=float(args.get("rateHz", 1000.0)),
                              method=args.get("method", "auto"))
            info: dict[str, Any]
            if isinstance(run, InstrumentedRun):
                md = run.start()
                info = {"mode": "instrumented", "device": md.fw_version, "timerHz": md.timer_hz}
            else:
                info = {"mode": "sampled", "method": run.start()}
            self._run = run
            self._stop.clear()
            interval = max(0.2, float(args.get("intervalS", 1.0)))
            self._thread = threading.Thread(target=self._pump, args=(run, interval), name="firmwatch-profile",
                                            daemon=True)
            self._thread.start()
            return info

    def _pump(self, run: ProfileRun, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                run.poll_status()  # the device's overflow count, for the live view
                self.emit(EVENT, summary(run.snapshot()))
            except UserError as e:
                self.emit(EVENT, {"running": True, "notes": [str(e)], "functions": [], "lines": [],
                                  "tree": {"name": "", "total": 0, "self": 0}, "counters": {}})

    def snapshot(self, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """The running profile (or the last one); ``exports`` writes it too, as at a stop."""
        run = self._run
        if run is not None:
            profile = run.snapshot()
        elif self.last is not None:
            profile = self.last
        else:
            raise ProfileError("no profile yet: start one (firmwatch: Start Profile).")
        body = summary(profile)
        body["written"] = self._export(profile, (args or {}).get("exports") or {})
        return body

    @staticmethod
    def _export(profile: Profile, exports: dict[str, str]) -> dict[str, str]:
        from firmwatch.profiler import export

        return {fmt: str(export.write(profile, fmt, exports[fmt])) for fmt in export.FORMATS if exports.get(fmt)}

    def stop(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            run = self._run
            if run is None:
                raise ProfileError("no profile is running.")
            self._stop.set()
            if self._thread is not None:
                self._thread.join(5.0)
            self._run = None
            profile = run.stop()
            self.last = profile
        body = summary(profile)
        body["written"] = self._export(profile, args.get("exports") or {})
        self.emit(EVENT, body)
        return body

    def close(self) -> None:
        self._stop.set()
        run, self._run = self._run, None
        if run is not None:
            try:
                run.stop()
            except UserError:
                pass
