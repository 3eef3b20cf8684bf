"""The recorder: every sample, as it arrives, in the format the file's name (or ``format``) asks for.

One row per watch per sample ("long" format), because watches run at different rates. These
columns are THE definition of a recording — ``firmwatch record``, the debug adapter's recording
command and the Python API's ``record`` all get them, in every format:

    session_id,device,seq,target_time_s,host_time_s,name,value

``device`` names the device the sample came from (``--device NAME=...``; a single-device
recording uses the device's short name). ``seq`` is the link sequence number of the frame that
carried the sample; ``target_time_s`` is that device's own clock (unwrapped); ``host_time_s`` is
the device clock mapped onto the host's Unix time (:mod:`firmwatch.session.clock`), the one axis
on which samples of several devices line up. Scalars are numbers, aggregates their display text.

The formats (CSV, Parquet, VCD) live in :mod:`firmwatch.session.formats`; each keeps what a crash
can lose to the last second at most.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from firmwatch.session.columns import (  # noqa: F401  (COLUMNS and the rest: this module's public names)
    COLUMN_TYPES,
    COLUMNS,
    RecorderError,
    RowIn,
    Signal,
    cell,
    new_session_id,
    signal_of,
)
from firmwatch.session.formats import Writer, open_writer


class Recorder:
    """Writes rows to one file in one format; shared by the sessions of several devices (each
    passes its device name), safe to call from their reader threads."""

    def __init__(self, path: str, session_id: str | None = None, *, format: str | None = None, device: str = ""):
        self.path = path
        self.session_id = session_id or new_session_id()
        self.device = device  # the device of rows written without one
        self.rows = 0
        self._lock = threading.Lock()  # rows in (reader threads)
        self._io = threading.Lock()  # the file (the flusher, close)
        self._described: set[tuple[str, str]] = set()
        self._names: dict[str, set[str]] = {}  # device -> names described
        self._writer: Writer | None = open_writer(path, format, self.session_id)
        self.format: str = self._writer.format
        self._flusher = threading.Thread(target=self._tick, name="firmwatch-recorder", daemon=True)
        self._stop = threading.Event()
        self._flusher.start()

    def describe(self, name: str, signal: Signal, device: str | None = None) -> None:
        """Declare what ``name`` holds before its first row (formats without declarations ignore it)."""
        key = (device if device is not None else self.device, name)
        with self._lock:
            if key in self._described or self._writer is None:
                return
            self._describe(key, signal)

    def _describe(self, key: tuple[str, str], signal: Signal) -> None:
        self._described.add(key)
        self._names.setdefault(key[0], set()).add(key[1])
        assert self._writer is not None
        self._writer.describe(key[0], key[1], signal)

    def described(self, name: str, device: str | None = None) -> bool:
        return ((device if device is not None else self.device), name) in self._described

    def write(self, seq: int, target_time: float, host_time: float, name: str, value: Any,
              device: str | None = None) -> None:
        self.write_many([(seq, target_time, host_time, name, value)], device)

    def write_many(self, rows: Iterable[RowIn], device: str | None = None) -> None:
        """Rows of one device: (seq, target_time, host_time, name, value)."""
        dev = device if device is not None else self.device
        if type(rows) is not list:
            rows = list(rows)
        with self._lock:
            if self._writer is None:
                return
            known = self._names.get(dev)
            # the usual call: every name already described
            if known is None or not known.issuperset([r[3] for r in rows]):
                for r in rows:  # a name nobody described: from its value
                    if (dev, r[3]) not in self._described:
                        self._describe((dev, r[3]), Signal.of_value(r[4]))
            try:
                self._writer.write(dev, rows)
            except OSError as e:  # CSV writes here: a full disk ends the recording, not the session
                self._fail(e)
                return
            self.rows += len(rows)

    @property
    def late_rows(self) -> int:
        """Rows a time-ordered format (VCD) could not place (they came later than its reorder window)."""
        w = self._writer
        return w.late if w is not None else 0

    def _tick(self) -> None:
        # row groups and VCD's ordered changes reach the disk at least every second
        while not self._stop.wait(0.25):
            if not self.flush():
                return

    def flush(self, force: bool = False) -> bool:
        """Write what is due (``force``: everything buffered); False once closed or failed. The
        encoding runs outside the row lock, so the devices' reader threads never wait on it."""
        with self._io:
            with self._lock:
                w = self._writer
                if w is None:
                    return False
                job = w.take(force)
            if job is None:
                return True
            try:
                job()
            except Exception as e:  # a full disk: the recording ends, the session keeps running
                with self._lock:
                    self._fail(e)
                return False
            return True

    def _fail(self, e: BaseException) -> None:
        """Stop taking rows (call with the row lock held): ``error`` says why, ``rows`` counts those
        written before."""
        self.error = f"writing {self.path} failed ({getattr(e, 'strerror', None) or e}); the recording stopped " \
                     f"there: free space or choose another file"
        w, self._writer = self._writer, None
        if w is not None:
            try:
                w.close()
            except Exception:  # noqa: BLE001 - the file is what it is; the error above says so
                pass

    error: str | None = None

    def close(self) -> None:
        self._stop.set()
        with self._io:
            with self._lock:
                w, self._writer = self._writer, None
            if w is not None:
                w.close()
