"""The "Live" pseudo-thread: always stopped, one frame, a virtual document, paced refreshes.

VS Code evaluates Watch expressions only against a stopped thread's frame (../DESIGN.md, "The
live view"). The Live thread is reported stopped with ``allThreadsStopped: false``; its one frame
has a ``source`` with a ``sourceReference`` (a frame without a source is not focused and the trick
fails), whose content is a plain-text description of the session. While watches exist, an
``invalidated {areas: ['variables']}`` event makes VS Code re-evaluate every watch — answered from
the session's value cache.

Pacing (why not a plain timer): an event is sent when a watched value *changed* (its sampled
bytes differ from those of the previous event), at most ``uiRefreshHz`` times a second, and sent
as soon as a change arrives when the previous event is older than one period — so the delay from
a change to the UI is the sampling delay plus at most one period, and a target whose values sit
still costs VS Code no refresh at all. A client that has not asked anything since the previous
event (the views are hidden, or it is still busy) gets at most one event a second.

Watches VS Code no longer evaluates (the user removed them from the Watch view; DAP has no
request for that) are dropped from sampling after ``EXPIRE_S`` of silence while refreshes were
sent; watches from launch.json, ``:rate``, ``firmwatch.setRate`` and ``firmwatch.plot`` stay.

Holding refresh (why): VS Code re-renders every visible Watch and Variables row at each refresh,
and an open context menu, an inline edit box or the target of VS Code's own menu items lives in
those rows (docs/vscode.md, "Why a right-click could do nothing"). ``hold(id, reason, seconds)``
stops ``invalidated`` until ``resume(id)`` or until the lease runs out (so a client that vanishes
cannot freeze the views); samples, recordings and status keep flowing, the status event lists the
reasons, and the last resume refreshes at once if anything changed or a write happened. A
``dataBreakpointInfo`` request is VS Code's sign that it is about to open a Variables context menu:
the adapter holds for ``MENU_HOLD_S`` then (the menu's own command takes over or resumes it).

The same thread sends the extension's ``firmwatch.samples`` (every full-rate sample since the
previous one, at most ``SAMPLES_HZ`` events a second) and ``firmwatch.status`` (once a second).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

THREAD_ID = 1
FRAME_ID = 1
SOURCE_REF = 1
SAMPLES_HZ = 30.0
STATUS_PERIOD_S = 1.0
EXPIRE_S = float(os.environ.get("FIRMWATCH_DAP_WATCH_EXPIRY_S", "10"))  # the variable is for tests
IDLE_CLIENT_PERIOD_S = 1.0
MENU_HOLD_S = 5.0  # a context menu's hold: long enough to pick an item, short when dismissed
MAX_HOLD_S = 600.0


@dataclass
class ViewWatch:
    """Why a watch is sampled, for expiry: pinned ones never expire."""

    watch_id: int
    pinned: bool
    last_asked: float
    refreshes_since: int = 0


@dataclass
class Hold:
    reason: str
    until: float


class LiveView:
    def __init__(self, session: Any, send_event: Callable[[str, dict[str, Any]], None], *, ui_hz: float,
                 transport: str, target_name: str, link_state: Callable[[], str],
                 post: Callable[[Callable[[], None]], None] | None = None):
        self.session = session
        self.send = send_event
        self.ui_period = 1.0 / ui_hz
        self.ui_hz = ui_hz
        self.transport = transport
        self.target_name = target_name
        self.link_state = link_state
        # removing a watch runs where requests run (the adapter's worker), not on this thread
        self.post = post or (lambda fn: fn())
        self.view: dict[int, ViewWatch] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_sig: dict[int, Any] = {}
        self._last_invalidated = 0.0
        self._client_asked = True  # a request arrived since the last invalidated event
        self.invalidated_sent = 0
        self._armed = False  # a refresh is allowed now and waits for a changed sample
        self._force = False  # after a write: the next changed sample refreshes at once
        self._force_until = 0.0
        self._force_chunks: dict[int, Any] = {}  # watch id -> its sample when the write happened
        self.enabled = False  # set at configurationDone: VS Code wants no refresh before
        self._holds: dict[str, Hold] = {}
        self._owed = False  # a refresh that was due (a write) while refresh was held
        self._status_now = False  # the holds changed: tell the client at once
        self._samples: list[tuple[int, str, float, Any]] = []
        # views whose rows change without any watch (the RTOS scope): (period, shown now?)
        self._tickers: list[tuple[float, Callable[[], bool]]] = []
        self._scalar: dict[int, bool] = {}
        self._thread = threading.Thread(target=self._run, name="firmwatch-live", daemon=True)
        session.add_listener(self._on_samples)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self.session.remove_listener(self._on_samples)
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    # -- DAP shapes ---------------------------------------------------------------------------------
    def thread(self) -> dict[str, Any]:
        return {"id": THREAD_ID, "name": "Live"}

    def stopped_event(self) -> dict[str, Any]:
        return {"reason": "entry", "threadId": THREAD_ID, "allThreadsStopped": False, "preserveFocusHint": False,
                "description": "live values (the target keeps running)"}

    def frame(self) -> dict[str, Any]:
        return {"id": FRAME_ID, "name": f"live: {self.target_name}", "line": 1, "column": 1,
                "source": {"name": "firmwatch live session", "sourceReference": SOURCE_REF,
                           "presentationHint": "emphasize", "origin": "firmwatch"},
                "presentationHint": "normal"}

    def document(self) -> str:
        s = self.session
        lines = [
            "firmwatch live session",
            "======================",
            "",
            f"target:     {self.target_name}",
            f"transport:  {self.transport}",
            f"link:       {self.link_state()}",
            f"ELF:        {s.program.elf.path}",
            f"build id:   {s.build_id_status}",
            f"UI refresh: {self.ui_hz:g} Hz (invalidated events sent: {self.invalidated_sent})",
            "",
        ]
        watches = list(s.watches.values())
        if not watches:
            lines.append("No watches yet: add expressions in the Watch view, or type them in the Debug Console.")
        else:
            lines.append(f"{'watch':<40} {'asked':>9} {'achieved':>9} {'missing':>8}  how")
            for w in watches:
                reason = s.polled_reason(w)
                how = f"polled ({reason})" if reason else "streamed"
                if w.error:
                    how += f"; {w.error}"
                lines.append(f"{w.text[:40]:<40} {w.rate_hz:>7g}Hz {w.stats.rate():>7.1f}Hz {w.stats.missing:>8}  {how}")
        try:
            st = s.target.stats()
            lines += ["", f"link samples: {st.samples}, lost: {st.lost}, corrupt frames: {st.corrupt_frames}"]
        except Exception:  # noqa: BLE001 - a lost link must not break the document
            pass
        lines += ["", "Debug Console: ':rate EXPR HZ' sets a watch's sample rate; any other text is read once."]
        return "\n".join(lines) + "\n"

    # -- watches seen from the views ---------------------------------------------------------------
    def asked(self, watch_id: int, pinned: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            vw = self.view.get(watch_id)
            if vw is None:
                self.view[watch_id] = ViewWatch(watch_id, pinned, now)
            else:
                vw.last_asked = now
                vw.refreshes_since = 0
                vw.pinned = vw.pinned or pinned
        self._wake.set()

    def tick_while(self, period_s: float, shown: Callable[[], bool]) -> None:
        """Refresh the views every ``period_s`` while ``shown()``, watches or not: VS Code re-reads
        a view only when told it changed, and a view such as the RTOS scope changes on its own."""
        self._tickers.append((period_s, shown))

    def _tick_due(self, now: float) -> bool:
        return any(now - self._last_invalidated >= period and shown() for period, shown in self._tickers)

    def client_activity(self) -> None:
        self._client_asked = True

    # -- holding refresh -----------------------------------------------------------------------------
    def hold(self, hold_id: str, reason: str, seconds: float) -> list[str]:
        """No ``invalidated`` until ``resume(hold_id)`` or for ``seconds`` (at most MAX_HOLD_S);
        holding again under the same id renews it."""
        seconds = min(max(float(seconds), 0.05), MAX_HOLD_S)
        with self._lock:
            self._holds[hold_id] = Hold(reason, time.monotonic() + seconds)
            self._status_now = True
        self._wake.set()
        return self.held()

    def resume(self, hold_id: str | None = None) -> list[str]:
        """Ends one hold (all without an id); the views refresh at once if anything changed."""
        with self._lock:
            if hold_id is None:
                self._holds.clear()
            else:
                self._holds.pop(hold_id, None)
            self._status_now = True
        self._wake.set()
        return self.held()

    def held(self) -> list[str]:
        """The reasons refresh is held now, oldest first (empty: refreshing)."""
        now = time.monotonic()
        with self._lock:
            reasons = [h.reason for h in self._holds.values() if h.until > now]
        return list(dict.fromkeys(reasons))

    def _held(self, now: float) -> float | None:
        """Drops expired holds; the time the next one expires, None when nothing holds."""
        with self._lock:
            expired = [k for k, h in self._holds.items() if h.until <= now]
            for k in expired:
                del self._holds[k]
            if expired:
                self._status_now = True
            return min((h.until for h in self._holds.values()), default=None)

    def refresh_now(self, address: int | None = None, size: int = 0) -> None:
        """A write just changed ``size`` bytes at ``address``: refresh now (memory views, Globals)
        and again as soon as a sample of a watch over those bytes arrives, without pacing."""
        if not self.enabled:
            return
        if address is not None and size > 0:
            hit = {}
            for w in list(self.session.watches.values()):
                regions = w.regions
                if any(r.address < address + size and address < r.address + r.size for r in regions):
                    hit[w.id] = w.sample
            if hit:
                self._force_chunks = hit
                self._force = True
                self._force_until = time.monotonic() + 1.0  # a write of the same value changes nothing
        if self._held(time.monotonic()) is not None:
            self._owed = True  # sent when the last hold ends
            return
        self._send_invalidated(time.monotonic())

    def _forced_sample_arrived(self) -> bool:
        ws = self.session.watches
        return any((w := ws.get(i)) is not None and w.sample is not c for i, c in self._force_chunks.items())

    # -- sample listener (target reader thread: keep it short) -------------------------------------
    def _on_samples(self, events: list[Any]) -> None:
        with self._lock:
            first = not self._samples  # the loop then schedules the next firmwatch.samples flush
            for ev in events:
                self._samples.append((ev.watch.id, ev.watch.text, ev.target_time, ev))
            if len(self._samples) > 200_000:  # nobody drains (the loop is stuck): keep memory bounded
                del self._samples[:100_000]
        if first or self._armed or self._force:  # otherwise the loop's own timer is soon enough
            self._wake.set()

    # -- the loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        next_samples = 0.0
        next_status = 0.0
        next_expire = time.monotonic() + 1.0
        was_held = False
        while not self._stop.is_set():
            now = time.monotonic()
            wait = 1.0
            hold_ends = self._held(now)
            if hold_ends is not None:
                was_held = True
                wait = max(0.0, hold_ends - now)  # samples and status go on; the views wait
            elif self._owed and self.enabled:  # a write happened while held (memory views, Globals)
                was_held = self._owed = False
                self._changed()
                self._send_invalidated(now)
                wait = self.ui_period
            elif self.enabled and (self.session.watches or self._tickers):
                if was_held:  # released: the views show what changed meanwhile, now
                    was_held = False
                    self._last_invalidated = 0.0
                due = self._last_invalidated + (self.ui_period if self._client_asked else IDLE_CLIENT_PERIOD_S)
                if self._force and now > self._force_until:
                    self._force = False
                forced = self._force and self._forced_sample_arrived()
                if now >= due or forced:
                    if self._changed() or forced or self._tick_due(now):
                        self._force = False
                        self._send_invalidated(now)
                        wait = self.ui_period
                    else:
                        self._armed = True  # the next sample wakes the loop
                        wait = 1.0
                        if self._tickers:  # or the next tick
                            tick = self._last_invalidated + min(p for p, _ in self._tickers)
                            wait = min(wait, max(0.01, tick - now))
                else:
                    wait = due - now
            else:
                was_held = False
            if now >= next_samples:
                self._flush_samples()
                next_samples = now + 1.0 / SAMPLES_HZ
            wait = min(wait, max(0.0, next_samples - now) if self._samples else wait)
            if now >= next_status or self._status_now:
                self._status_now = False
                self._status()
                next_status = now + STATUS_PERIOD_S
            if now >= next_expire:
                self._expire(now)
                next_expire = now + 1.0
            wait = min(wait, max(0.0, next_status - now), 1.0)
            self._wake.wait(max(wait, 0.001))
            self._wake.clear()
        self._flush_samples()

    def _changed(self) -> bool:
        """Did any watch get bytes different from those at the previous refresh?"""
        changed = False
        for w in list(self.session.watches.values()):
            sig = (w.sample, w.error)  # the raw bytes: comparing them is cheaper than decoding
            if self._last_sig.get(w.id) != sig:
                self._last_sig[w.id] = sig
                changed = True
        return changed

    def _send_invalidated(self, now: float) -> None:
        self._armed = False
        self._last_invalidated = now
        self._client_asked = False
        self.invalidated_sent += 1
        with self._lock:
            for vw in self.view.values():
                vw.refreshes_since += 1
        self.send("invalidated", {"areas": ["variables"], "threadId": THREAD_ID, "stackFrameId": FRAME_ID})

    def _expire(self, now: float) -> None:
        with self._lock:
            gone = [vw.watch_id for vw in self.view.values()
                    if not vw.pinned and now - vw.last_asked > EXPIRE_S and vw.refreshes_since >= 2]
            for i in gone:
                self.view.pop(i, None)
                self._last_sig.pop(i, None)
        def remove() -> None:
            for i in gone:
                with self._lock:
                    if i in self.view:  # asked for again meanwhile
                        continue
                try:
                    self.session.remove_watch(i)
                except Exception:  # noqa: BLE001 - already removed by another request
                    pass

        if gone:
            self.post(remove)

    def _flush_samples(self) -> None:
        with self._lock:
            batch, self._samples = self._samples, []
        if not batch:
            return
        series: dict[int, dict[str, Any]] = {}
        for wid, text, t, ev in batch:
            s = series.get(wid)
            if s is None:
                s = series[wid] = {"watchId": wid, "expression": text, "t": [], "h": [], "v": []}
            s["t"].append(round(t, 6))
            s["h"].append(ev.host_time)  # the device time on the host clock: one axis across devices
            s["v"].append(self._number(wid, ev))
        self.send("firmwatch.samples", {"series": list(series.values())})

    def _number(self, wid: int, ev: Any) -> float | int | None:
        if self._scalar.get(wid) is False:
            return None
        try:
            v = ev.value()
        except Exception:  # noqa: BLE001 - an undecodable sample plots as a gap
            return None
        x = v.scalar
        if isinstance(x, bool):
            x = int(x)
        ok = isinstance(x, (int, float))
        if wid not in self._scalar:
            self._scalar[wid] = ok or x is None and not v.is_aggregate
        if not ok:
            return None
        if isinstance(x, float) and not math.isfinite(x):
            return None  # JSON has no inf/nan
        return x

    def status(self) -> dict[str, Any]:
        s = self.session
        try:
            st = s.target.stats()
            samples, lost = st.samples, st.lost
        except Exception:  # noqa: BLE001
            samples, lost = 0, 0
        watches = list(s.watches.values())
        return {"link": self.link_state(), "target": self.target_name, "transport": self.transport,
                "samples": samples, "lost": lost,
                "rateHz": round(sum(w.stats.rate() for w in watches), 3), "watches": len(watches),
                "buildId": s.build_id_status, "held": self.held()}

    def _status(self) -> None:
        self.send("firmwatch.status", self.status())
