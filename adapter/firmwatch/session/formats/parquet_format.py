"""Parquet through pyarrow: typed columns, zstd-compressed, for pandas, polars and DuckDB.

While recording, every second's rows become one row group in a file of its own under
``NAME.parquet.parts/`` — a complete Parquet file each, so a crash loses at most the last second
and what is there opens as it is (``read_parquet('NAME.parquet.parts/*.parquet')`` in DuckDB,
``firmwatch convert NAME.parquet.parts NAME.parquet`` to finish it). Closing the recording joins
the parts into ``NAME.parquet`` (row groups of up to a million rows) and removes them.

Columns: the recorder's, with ``value`` a double and ``text`` beside it for what a double cannot
hold exactly (aggregates and strings as text; an integer beyond 2**53 as its decimal digits). The
file's metadata ``firmwatch.signals`` says which names are integers, enums (with their names),
floats or text, so reading back gives every value as it was recorded.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from firmwatch.session.columns import RecorderError, RowIn, Signal
from firmwatch.session.formats import Reading, Row

SCHEMA = pa.schema([
    ("session_id", pa.string()), ("device", pa.string()), ("seq", pa.int64()), ("target_time_s", pa.float64()),
    ("host_time_s", pa.float64()), ("name", pa.string()), ("value", pa.float64()), ("text", pa.string()),
])
_ROW_TYPES = (pa.int64(), pa.float64(), pa.float64(), pa.string(), pa.float64())
_ROW = pa.struct([(n, t) for n, t in zip(("seq", "target_time_s", "host_time_s", "name", "value"), _ROW_TYPES)])
FLUSH_S = 1.0  # a crash loses at most this much
MERGED_ROW_GROUP = 1 << 20
COMPRESSION = "zstd"
_INT_KINDS = ("int", "enum", "bool")


def signals_json(signals: dict[tuple[str, str], Signal]) -> bytes:
    return json.dumps([{"device": d, "name": n, "kind": s.kind, "bits": s.bits, "signed": s.signed,
                        "labels": {str(k): v for k, v in s.labels.items()}} for (d, n), s in signals.items()]).encode()


def signals_from(meta: dict[bytes, bytes] | None) -> dict[tuple[str, str], Signal]:
    raw = (meta or {}).get(b"firmwatch.signals")
    if not raw:
        return {}
    return {(s["device"], s["name"]): Signal(s["kind"], s["bits"], s["signed"], {int(k): v for k, v in s["labels"].items()})
            for s in json.loads(raw)}


def _values(vals: tuple[Any, ...]) -> tuple[pa.Array, pa.Array]:
    """The value and text columns: one vectorised conversion when every value is a number a
    double holds exactly (the usual case), else value by value."""
    n = len(vals)
    try:
        return pa.array(vals, type=pa.float64()), pa.nulls(n, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    nums: list[float | None] = []
    texts: list[str | None] = []
    for v in vals:
        if isinstance(v, bool | float) or (isinstance(v, int) and abs(v) <= 1 << 53):
            nums.append(float(v))
            texts.append(None)
        elif isinstance(v, int):  # beyond a double's integers: its digits are the value
            nums.append(float(v))
            texts.append(str(v))
        else:
            nums.append(None)
            texts.append(str(v))
    return pa.array(nums, type=pa.float64()), pa.array(texts, type=pa.string())


def table_of(rows: list[RowIn], runs: list, metadata: dict[bytes, bytes] | None = None) -> pa.Table:
    """The rows (seq, target time, host time, name, value) with their session ids and devices
    given as runs (session id, device, count): one C-level transposition, one conversion a column."""
    sids: list[str] = []
    devs: list[str] = []
    for sid, dev, n in runs:
        sids += [sid] * n
        devs += [dev] * n
    try:  # the usual case, every value a number a double holds: one conversion in C++
        seq, tt, ht, name, value = pa.array(rows, type=_ROW).flatten()
        text = pa.nulls(len(rows), pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        seq, tt, ht, name = (pa.array([r[i] for r in rows], t) for i, t in enumerate(_ROW_TYPES[:4]))
        value, text = _values(tuple(r[4] for r in rows))
    arrays = [pa.array(sids, pa.string()), pa.array(devs, pa.string()), seq, tt, ht, name, value, text]
    return pa.Table.from_arrays(arrays, schema=SCHEMA.with_metadata(metadata or {}))


class ParquetWriter:
    format = "parquet"
    late = 0  # rows are kept in arrival order, none is too late

    def __init__(self, path: str, session_id: str):
        self.path = path
        self.parts = path.rstrip("/") + ".parts"
        self.session_id = session_id
        self.signals: dict[tuple[str, str], Signal] = {}
        self._rows: list[RowIn] = []
        self._runs: list[list] = []  # [session id, device, rows] in order
        self._run: list | None = None  # the last of them, while rows of its device keep coming
        self._n_parts = 0
        self._last = time.monotonic()
        if os.path.isdir(self.parts):
            raise RecorderError(f"{self.parts} holds an unfinished recording; finish it with 'firmwatch convert "
                                f"{self.parts} {path}' or remove it.")
        os.makedirs(self.parts)
        with open(path, "wb"):  # the name is ours now (and a wrong directory fails here, not at the end)
            pass
        # pyarrow loads pandas on its first conversion when pandas is installed: seconds on a busy
        # machine, so here, before the first sample, not in the middle of the recording
        pa.array([0.0], type=pa.float64())

    def set_session_id(self, session_id: str) -> None:
        self.session_id = session_id

    def describe(self, device: str, name: str, signal: Signal) -> None:
        self.signals[(device, name)] = signal

    def write(self, device: str, rows: list[RowIn]) -> None:
        self._rows += rows
        last = self._run
        if last is not None and last[1] is device and last[0] is self.session_id:
            last[2] += len(rows)
        else:
            self._run = [self.session_id, device, len(rows)]
            self._runs.append(self._run)

    def take(self, force: bool = False) -> Callable[[], None] | None:
        if not self._rows or not (force or time.monotonic() - self._last >= FLUSH_S):
            return None
        self._last = time.monotonic()
        rows, runs, self._rows, self._runs, self._run = self._rows, self._runs, [], [], None
        meta = {b"firmwatch.signals": signals_json(self.signals)}
        self._n_parts += 1
        n = self._n_parts
        return lambda: self._write_part(n, table_of(rows, runs, meta))

    def _write_part(self, n: int, table: pa.Table) -> None:
        tmp = os.path.join(self.parts, f".part-{n:06d}.tmp")
        pq.write_table(table, tmp, compression=COMPRESSION)
        os.replace(tmp, os.path.join(self.parts, f"part-{n:06d}.parquet"))  # whole, or not there

    def close(self) -> None:
        job = self.take(force=True)
        if job is not None:
            job()
        finish(self.parts, self.path, self.signals)


def _part_files(parts: str) -> list[str]:
    return sorted(glob.glob(os.path.join(parts, "part-*.parquet")))


def finish(parts: str, path: str, signals: dict[tuple[str, str], Signal] | None = None) -> int:
    """Join the parts of a recording into one Parquet file; returns its rows."""
    files = _part_files(parts)
    if signals is None:
        signals = {}
        for f in files:
            signals.update(signals_from(pq.read_schema(f).metadata))
    schema = SCHEMA.with_metadata({b"firmwatch.signals": signals_json(signals)})
    tmp = path + ".tmp"
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression=COMPRESSION) as w:
        pending: list[pa.Table] = []
        n = 0
        for f in files:
            t = pq.read_table(f).cast(schema)
            pending.append(t)
            n += t.num_rows
            if n >= MERGED_ROW_GROUP:
                w.write_table(pa.concat_tables(pending), row_group_size=MERGED_ROW_GROUP)
                rows += n
                pending, n = [], 0
        if pending:
            w.write_table(pa.concat_tables(pending), row_group_size=MERGED_ROW_GROUP)
            rows += n
    os.replace(tmp, path)
    shutil.rmtree(parts, ignore_errors=True)
    return rows


def _restore(value: float | None, text: str | None, sig: Signal | None) -> Any:
    if text is not None:
        if sig is not None and sig.kind in _INT_KINDS:
            try:
                return int(text)
            except ValueError:
                return text
        return text
    if value is None:
        return None
    if sig is not None and sig.kind in _INT_KINDS:
        return int(value)
    if sig is None and value.is_integer():  # written without a description: as CSV reads it
        return int(value)
    return value


def _rows(files: list[str], signals: dict[tuple[str, str], Signal]) -> Iterator[Row]:
    for f in files:
        pf = pq.ParquetFile(f)
        for g in range(pf.num_row_groups):
            d = pf.read_row_group(g).to_pydict()
            for sid, dev, seq, tt, ht, name, value, text in zip(d["session_id"], d["device"], d["seq"],
                                                                 d["target_time_s"], d["host_time_s"], d["name"],
                                                                 d["value"], d["text"]):
                yield sid, dev, seq, tt, ht, name, _restore(value, text, signals.get((dev, name)))


def read_parquet(path: str) -> Reading:
    if os.path.isdir(path):
        files = _part_files(path)
        signals: dict[tuple[str, str], Signal] = {}
        for f in files:
            signals.update(signals_from(pq.read_schema(f).metadata))
    else:
        if os.path.getsize(path) == 0 and os.path.isdir(path + ".parts"):
            raise RecorderError(f"the recording {path} did not finish; its rows are in {path}.parts: "
                                f"firmwatch convert {path}.parts {path}")
        try:
            signals = signals_from(pq.read_schema(path).metadata)
        except pa.ArrowInvalid as e:
            raise RecorderError(f"{path} is not a readable Parquet file ({e}).") from None
        files = [path]
    return Reading("parquet", signals, lambda: _rows(files, signals))
