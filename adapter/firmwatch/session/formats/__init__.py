"""Recording formats: CSV (text, every row flushed), Parquet (typed, compressed, for pandas,
polars and DuckDB) and VCD (value changes, for waveform viewers). Chosen by the file's extension
or by name; every format holds the recorder's columns (:data:`firmwatch.session.recorder.COLUMNS`)
and reads back through :func:`read` into the same rows, which is what ``firmwatch convert`` does.

A writer implements :class:`Writer`; readers yield rows as tuples in ``COLUMNS`` order with numbers
as numbers. Parquet and VCD need optional libraries (the ``parquet`` and ``vcd`` extras): asking for
them without the library is one sentence that names the extra, before anything is recorded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from firmwatch.session.columns import COLUMNS, RecorderError, RowIn, Signal

FORMATS = ("csv", "parquet", "vcd")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".vcd": "vcd"}
# what each format needs beyond the base install: (module, extra)
NEEDS = {"parquet": ("pyarrow", "parquet"), "vcd": ("vcd", "vcd")}
Row = tuple[str, str, int, float, float, str, Any]  # in COLUMNS order


class Writer(Protocol):
    """``describe`` and ``write`` are called under the recorder's row lock and only keep rows;
    ``take`` (also under it, about four times a second) hands over what is due as a job that the
    recorder runs outside that lock — encoding and disk never hold up a device's reader thread."""

    format: str
    late: int  # rows a time-ordered format (VCD) could not place; always 0 for the others

    def set_session_id(self, session_id: str) -> None: ...  # the session of the rows written next
    def describe(self, device: str, name: str, signal: Signal) -> None: ...
    def write(self, device: str, rows: list[RowIn]) -> None: ...
    def take(self, force: bool = False) -> Callable[[], None] | None: ...
    def close(self) -> None: ...


def sync_close(f: Any) -> None:
    """Close a recording's file with its data on the disk (a power cut after the summary loses nothing)."""
    f.flush()
    try:
        os.fsync(f.fileno())
    except OSError:  # a pipe or a file system without fsync
        pass
    f.close()


def flush(writer: Writer, force: bool = False) -> None:
    """Write what is due now (a writer used without a recorder: convert, tests)."""
    job = writer.take(force)
    if job is not None:
        job()


def format_for(path: str, format: str | None = None) -> str:
    """The format asked for, else the one the file's extension names (CSV for anything else)."""
    if format:
        f = format.lower().lstrip(".")
        if f not in FORMATS:
            raise RecorderError(f"'{format}' is not a recording format; use csv, parquet or vcd.")
        return f
    p = path.rstrip("/\\")
    if p.endswith(".parquet.parts"):  # what a Parquet recording left when it did not finish
        return "parquet"
    return EXTENSIONS.get(os.path.splitext(p)[1].lower(), "csv")


def require(fmt: str) -> None:
    """Refuse a format whose library is missing, naming the extra that brings it."""
    need = NEEDS.get(fmt)
    if need is not None and importlib.util.find_spec(need[0]) is None:
        raise RecorderError(f"{fmt} recordings need the {need[0]} package: pip install 'firmwatch[{need[1]}]' "
                            "(or record to .csv).")


def open_writer(path: str, format: str | None, session_id: str) -> Writer:
    fmt = format_for(path, format)
    require(fmt)
    try:
        if fmt == "parquet":
            from firmwatch.session.formats.parquet_format import ParquetWriter

            return ParquetWriter(path, session_id)
        if fmt == "vcd":
            from firmwatch.session.formats.vcd_format import VcdWriter

            return VcdWriter(path, session_id)
        from firmwatch.session.formats.csv_format import CsvWriter

        return CsvWriter(path, session_id)
    except OSError as e:
        raise RecorderError(f"cannot write {path}: {e.strerror or e}; choose another output file.") from e


class Reading:
    """A recording read back: its rows (in COLUMNS order) and what each signal holds (worked out
    on first use where the format does not store it)."""

    def __init__(self, format: str, signals: dict[tuple[str, str], Signal] | Callable[[], dict[tuple[str, str], Signal]],
                 rows: Callable[[], Iterator[Row]]):
        self.format = format
        self._signals = signals
        self._rows = rows

    @property
    def signals(self) -> dict[tuple[str, str], Signal]:
        if callable(self._signals):
            self._signals = self._signals()
        return self._signals

    def rows(self) -> Iterator[Row]:
        return self._rows()


def read(path: str, format: str | None = None) -> Reading:
    """Open a recording of any format; a Parquet recording that did not finish (its
    ``.parquet.parts`` folder) reads as the rows it holds."""
    fmt = format_for(path, format)
    require(fmt)
    if not os.path.exists(path):
        raise RecorderError(f"{path} does not exist; give the recording's path.")
    if fmt == "parquet":
        from firmwatch.session.formats.parquet_format import read_parquet

        return read_parquet(path)
    if fmt == "vcd":
        from firmwatch.session.formats.vcd_format import read_vcd

        return read_vcd(path)
    from firmwatch.session.formats.csv_format import read_csv

    return read_csv(path)


def read_rows(path: str, format: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a recording as dicts keyed by COLUMNS (what the Python API's tables are built from)."""
    for r in read(path, format).rows():
        yield dict(zip(COLUMNS, r))


@dataclass
class Converted:
    rows: int
    source_format: str
    format: str
    late: int = 0


def convert(src: str, dst: str, *, source_format: str | None = None, format: str | None = None,
            batch: int = 65536) -> Converted:
    """Write the rows of recording ``src`` into ``dst`` (formats from the names or given)."""
    out_fmt = format_for(dst, format)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise RecorderError(f"{dst} is the file being converted; write to another file.")
    if os.path.isdir(src) and format_for(src, source_format) == "parquet" and out_fmt == "parquet":
        # an unfinished Parquet recording: join its parts as closing it would have
        from firmwatch.session.formats.parquet_format import finish

        require("parquet")
        return Converted(finish(src, dst), "parquet", "parquet")
    reading = read(src, source_format)
    writer = open_writer(dst, out_fmt, "")
    described: set[tuple[str, str]] = set()
    n = 0
    try:
        for (dev, name), sig in reading.signals.items():
            writer.describe(dev, name, sig)
            described.add((dev, name))
        # rows keep their own session id: the writers take it per row when given one
        pending: list[RowIn] = []
        cur: tuple[str, str] | None = None
        for sid, dev, seq, tt, ht, name, value in reading.rows():
            if (sid, dev) != cur:
                if pending and cur is not None:
                    _write(writer, cur, pending)
                    pending = []
                cur = (sid, dev)
            if (dev, name) not in described:
                described.add((dev, name))
                writer.describe(dev, name, Signal.of_value(value))
            pending.append((seq, tt, ht, name, value))
            n += 1
            if len(pending) >= batch:
                _write(writer, cur, pending)
                pending = []
                flush(writer)
        if pending and cur is not None:
            _write(writer, cur, pending)
    finally:
        writer.close()
    return Converted(n, reading.format, out_fmt, writer.late)


def _write(writer: Writer, key: tuple[str, str], rows: list[RowIn]) -> None:
    sid, dev = key
    writer.set_session_id(sid)
    writer.write(dev, rows)
