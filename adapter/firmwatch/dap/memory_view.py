"""The debug adapter's live memory health: one :class:`MemoryMonitor` per session, refreshed on
demand (the Memory scope, the VS Code memory view) at most once per ``interval``, and every
``interval`` while a recording runs so the figures land in the CSV like any watch.

A refresh reads a few hundred bytes at most; the interval keeps a halting GDB server's share of
halted time small whatever the UI refresh rate is. A warning (the collision margin under the
threshold, a stack past its reserve) is said once in the Debug Console when it first appears.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from firmwatch.session.memory_health import DEFAULT_THRESHOLD, MemoryHealth, MemoryMonitor

INTERVAL_S = 1.0


class MemoryLive:
    def __init__(self, session: Any, threshold: int | None = None, *, interval: float = INTERVAL_S,
                 on_warning: Callable[[str], None] | None = None):
        self.session = session
        self.interval = interval
        self.on_warning = on_warning or (lambda text: None)
        self._monitor: MemoryMonitor | None = None
        self._threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self._latest: MemoryHealth | None = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._said: set[str] = set()
        self._recorder: Any = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def threshold(self) -> int:
        return self._threshold

    def set_threshold(self, threshold: int) -> None:
        with self._lock:
            self._threshold = threshold
            if self._monitor is not None:
                self._monitor.threshold = threshold
            self._latest = None  # the next read recomputes the warnings

    def _refresh(self) -> MemoryHealth:
        if self._monitor is None:
            s = self.session
            self._monitor = MemoryMonitor(s.program, s.target, threshold=self._threshold, regions=s.info.regions)
        h = self._monitor.refresh()
        self._latest, self._error = h, None
        for w in h.warnings:
            if w not in self._said:
                self._said.add(w)
                self.on_warning(w)
        if not h.warnings:
            self._said.clear()
        if self._recorder is not None:
            self._seq += 1
            self._recorder.write_many([(self._seq, h.host_time, h.host_time, name, value) for name, value in h.rows()])
        return h

    def latest(self, max_age: float | None = None) -> MemoryHealth:
        """The latest figures, refreshed when older than ``max_age`` (default: the interval)."""
        age = self.interval if max_age is None else max_age
        with self._lock:
            h = self._latest
            if h is not None and time.time() - h.host_time < age:
                return h
            return self._refresh()

    def record_to(self, recorder: Any) -> None:
        """Write every refresh's figures to ``recorder`` (None stops), refreshing every interval meanwhile."""
        with self._lock:
            self._recorder = recorder
        if recorder is not None and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="firmwatch-memory", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._recorder is None:
                    return
                try:
                    self._refresh()
                except Exception as e:  # noqa: BLE001 - a failed refresh is reported, the next one retries
                    self._error = str(e)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._recorder = None


def health_body(h: MemoryHealth, threshold: int) -> dict[str, Any]:
    """The ``firmwatch.memoryHealth`` response body (the VS Code memory view draws it)."""
    return {
        "figures": [{"key": f.key, "label": f.label, "value": f.value, "unit": f.unit, "text": f.text(),
                     "source": f.source} for f in h.figures.values()],
        "warnings": list(h.warnings),
        "notes": list(h.notes),
        "segments": [{"name": s.name, "start": s.start, "end": s.end} for s in h.segments],
        "threshold": threshold,
        "margin": h.value("gap.margin"),
        "bytesRead": h.bytes_read,
        "reads": h.reads,
        "ms": round(h.elapsed_ms, 3),
        "time": h.host_time,
    }
