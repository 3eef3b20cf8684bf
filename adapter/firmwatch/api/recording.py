"""A recording as a table: the session's own recorder writes the file, and the table is read back
from it, so a script gets exactly the columns and rows ``firmwatch record`` writes (and follows
any format the recorder learns) — one row per watch per sample:

    session_id, device, seq, target_time_s, host_time_s, name, value

The table is a pandas DataFrame when pandas is installed, else a polars DataFrame when polars is,
else a list of dicts (``table="rows"`` asks for the list; ``"pandas"``/``"polars"`` insist on one).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from firmwatch.api.errors import ApiError, require_extra
from firmwatch.api.samples import Loss
from firmwatch.session.columns import COLUMNS

TableKind = Literal["auto", "pandas", "polars", "rows"]
Row = dict[str, Any]


@dataclass
class Recording:
    """What :meth:`Device.record` returns: the table, where it is on disk, and what was lost."""

    table: Any  # pandas.DataFrame | polars.DataFrame | list[Row]
    path: str  # the file the recorder wrote
    session_id: str
    samples: int  # rows written
    duration_s: float
    loss: Loss
    rates: dict[str, float]  # achieved samples per second of device time, per expression
    halted_fraction: float | None = None  # GDB transports: share of time the CPU was halted for sampling
    _rows: list[Row] = field(default_factory=list, repr=False)

    def rows(self) -> list[Row]:
        """The rows as dicts, whatever the table's kind."""
        return list(self._rows)

    def series(self, name: str) -> tuple[list[float], list[Any]]:
        """(device times, values) of one expression."""
        times: list[float] = []
        values: list[Any] = []
        for r in self._rows:
            if r["name"] == name:
                times.append(r["target_time_s"])
                values.append(r["value"])
        return times, values


def read_rows(path: str) -> Iterator[Row]:
    """The recorder's rows with its numbers as numbers (aggregates stay their display text), from a
    recording of any format (CSV, Parquet, VCD): the session layer's one reader."""
    from firmwatch.session.formats import read_rows as read_recording

    return read_recording(path)


def table_kind(kind: TableKind) -> TableKind:
    """The kind of table to build (``auto`` resolved); a missing library fails here, before any recording."""
    if kind not in ("auto", "pandas", "polars", "rows"):
        raise ApiError(f"table='{kind}' is not a table kind; use auto, pandas, polars or rows.")
    if kind == "auto":
        return "pandas" if importlib.util.find_spec("pandas") else "polars" if importlib.util.find_spec("polars") \
            else "rows"
    if kind in ("pandas", "polars"):
        require_extra(kind, kind, f"a {kind} table")
    return kind


def build_table(rows: list[Row], kind: TableKind) -> Any:
    kind = table_kind(kind)
    if kind == "rows":
        return list(rows)
    if kind == "pandas":
        import pandas as pd

        if not rows:
            return pd.DataFrame({c: [] for c in COLUMNS})
        return pd.DataFrame(rows, columns=list(COLUMNS))
    import polars as pl

    values = [r["value"] for r in rows]
    # one dtype per column: integers, numbers, or (when some watch is a struct's text) strings
    if all(isinstance(v, int) for v in values):
        vtype: Any = pl.Int64
    elif all(isinstance(v, int | float) for v in values):
        vtype, values = pl.Float64, [float(v) for v in values]
    else:
        vtype, values = pl.String, [str(v) for v in values]
    data: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in COLUMNS if c != "value"}
    data["value"] = values
    return pl.DataFrame(data, schema={"session_id": pl.String, "device": pl.String, "seq": pl.Int64, "target_time_s": pl.Float64,
                                      "host_time_s": pl.Float64, "name": pl.String, "value": vtype})
