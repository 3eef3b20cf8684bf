"""CSV: one text row per sample, flushed as it is written, so a crash loses nothing received.

Floats are written with ``repr`` (they read back bit-exact), times with six decimals (a
microsecond), bools as 0/1, aggregates as their display text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from firmwatch.session.columns import COLUMNS, RecorderError, RowIn, Signal
from firmwatch.session.formats import Reading, Row, sync_close


class CsvWriter:
    format = "csv"
    late = 0  # every row is written as it comes

    def __init__(self, path: str, session_id: str):
        self.path = path
        self.session_id = session_id
        # newline="" as the csv module wants; every write() is flushed explicitly (a crash test)
        self._file: io.TextIOWrapper = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self._file.flush()

    def set_session_id(self, session_id: str) -> None:
        self.session_id = session_id

    def describe(self, device: str, name: str, signal: Signal) -> None:
        pass  # CSV declares nothing: a reader infers each signal from its values

    def write(self, device: str, rows: list[RowIn]) -> None:
        sid = self.session_id
        self._csv.writerows([(sid, device, seq, f"{tt:.6f}", f"{ht:.6f}", name, _cell(v)) for seq, tt, ht, name, v in rows])
        self._file.flush()

    def take(self, force: bool = False) -> None:
        return None  # every write() is on disk already

    def close(self) -> None:
        sync_close(self._file)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return int(value)
    return value


def number(text: str) -> Any:
    """A CSV cell as the value it was: an int, a float, or its text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _rows(path: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        head = next(reader, None)
        if head is None:
            return
        if tuple(head) != COLUMNS:
            missing = [c for c in COLUMNS if c not in head]
            if missing and not (missing == ["device"] and "session_id" in head):
                raise RecorderError(f"{path} is not a firmwatch recording (its header lacks {', '.join(missing)}).")
        idx = [head.index(c) if c in head else None for c in COLUMNS]
        for line, r in enumerate(reader, start=2):
            if not r:
                continue
            try:
                sid, dev, seq, tt, ht, name, value = (r[i] if i is not None else "" for i in idx)
                yield sid, dev, int(seq), float(tt), float(ht), name, number(value)
            except (ValueError, IndexError):
                raise RecorderError(f"{path} line {line} is not a recording row ({','.join(r)[:60]}); the file "
                                    "was cut or edited.") from None


def infer_signals(rows: Iterator[Row]) -> dict[tuple[str, str], Signal]:
    """Each signal's kind from its values: integers (width from their range), floats or text."""
    seen: dict[tuple[str, str], list[Any]] = {}  # key -> [kind, lo, hi]
    for _, dev, _, _, _, name, v in rows:
        s = seen.get((dev, name))
        kind = "int" if isinstance(v, int) else "float" if isinstance(v, float) else "text"
        if s is None:
            seen[(dev, name)] = [kind, v if kind == "int" else 0, v if kind == "int" else 0]
            continue
        if s[0] != kind:
            s[0] = "text" if "text" in (s[0], kind) else "float"
        if kind == "int":
            s[1], s[2] = min(s[1], v), max(s[2], v)
    out = {}
    for key, (kind, lo, hi) in seen.items():
        if kind != "int":
            out[key] = Signal(kind)
            continue
        signed = lo < 0
        need = max(int(hi).bit_length(), (-int(lo) - 1).bit_length() if signed else 0) + (1 if signed else 0)
        out[key] = Signal("int", next((b for b in (8, 16, 32, 64) if need <= b), need), signed)
    return out


def read_csv(path: str) -> Reading:
    return Reading("csv", lambda: infer_signals(_rows(path)), lambda: _rows(path))
