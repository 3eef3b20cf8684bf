"""CSV recorder: every sample, as it arrives, so a crash loses nothing already received.

One row per watch per sample ("long" format), because watches run at different rates:

    session_id,seq,target_time_s,host_time_s,name,value

``seq`` is the link sequence number of the frame that carried the sample; ``target_time_s`` is
the device clock (unwrapped), ``host_time_s`` the host's Unix time when the sample was decoded.
Scalars are written as numbers, aggregates as their display string.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import uuid
from typing import Any

from firmwatch.errors import UserError

COLUMNS = ("session_id", "seq", "target_time_s", "host_time_s", "name", "value")


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class Recorder:
    def __init__(self, path: str, session_id: str | None = None):
        self.path = path
        self.session_id = session_id or new_session_id()
        self.rows = 0
        self._lock = threading.Lock()
        # newline="" as the csv module wants; line buffering is not enough for a crash test,
        # so every write() is flushed explicitly.
        try:
            self._file: io.TextIOWrapper | None = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise RecorderError(f"cannot write {path}: {e.strerror}; choose another output file.") from e
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self._file.flush()

    def write(self, seq: int, target_time: float, host_time: float, name: str, value: Any) -> None:
        with self._lock:
            if self._file is None:
                return
            self._csv.writerow(
                (self.session_id, seq, f"{target_time:.6f}", f"{host_time:.6f}", name, _cell(value))
            )
            self.rows += 1
            self._file.flush()

    def write_many(self, rows: list[tuple[int, float, float, str, Any]]) -> None:
        with self._lock:
            if self._file is None:
                return
            for seq, tt, ht, name, value in rows:
                self._csv.writerow((self.session_id, seq, f"{tt:.6f}", f"{ht:.6f}", name, _cell(value)))
            self.rows += len(rows)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                try:
                    os.fsync(self._file.fileno())
                except OSError:
                    pass
                self._file.close()
                self._file = None


class RecorderError(UserError):
    """A recording that cannot be started or written; ``str()`` is one sentence."""


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return int(value)
    return value
