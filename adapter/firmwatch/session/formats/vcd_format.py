"""VCD through pyvcd: value changes on the host time axis, for GTKWave, PulseView and Surfer.

One scope per device, one variable per watched name: integers as bit vectors of their C width
(two's complement when signed), enums and text as strings (GTKWave's string type: an enum shows
its enumerator), floats as reals. Timestamps are microseconds of aligned host time
(``host_time_s``) from the recording's first sample, so the devices of one recording line up.

VCD holds changes only — a repeated value writes nothing — and neither the link's sequence
numbers nor the device clocks; those are in CSV and Parquet. Rows are held for five seconds and
written in time order (devices deliver at different latencies); a row later than that cannot
be placed in a VCD and is counted (``late``), never written at a wrong time. The header's
comment carries what the variables are (device, expression, kind) so ``firmwatch convert``
reads the changes back as recorded. A name that appears after the header was written (a watch
added during the recording) rewrites the header with the body carried over.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

from vcd import VCDWriter
from vcd.reader import TokenKind, tokenize

from firmwatch.session.columns import RecorderError, RowIn, Signal
from firmwatch.session.formats import Reading, Row, sync_close

REORDER_S = 5.0
_FRESH: Any = type("_Fresh", (), {"__eq__": lambda self, other: False, "__ne__": lambda self, other: True})()
MARK = "firmwatch-signals "


def _ident(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name)).strip("_") or "value"


class VcdWriter:
    format = "vcd"

    def __init__(self, path: str, session_id: str):
        self.path = path
        self.session_id = session_id
        self.late = 0  # rows that came later than the reorder window (or do not fit their variable)
        self._f = open(path, "w", encoding="utf-8")  # noqa: SIM115
        self._signals: dict[tuple[str, str], Signal] = {}
        self._order: list[tuple[str, str]] = []  # registration order: identifier codes follow it
        self._refs: dict[tuple[str, str], str] = {}  # (device, name) -> variable name in its scope
        self._vars: dict[tuple[str, str], Any] = {}
        self._heap: list[tuple[int, int, str, str, Any]] = []
        self._tie = count()
        self._vcd: VCDWriter | None = None
        self._epoch_us: int | None = None
        self._newest = -1  # newest timestamp seen (µs from the epoch)
        self._written = -1  # newest timestamp written
        self._body_start = 0
        self._pending: list[tuple[str, list[RowIn]]] = []
        self._declared = 0  # names in the header written

    def set_session_id(self, session_id: str) -> None:
        self.session_id = session_id

    def describe(self, device: str, name: str, signal: Signal) -> None:
        key = (device, name)
        if key in self._signals:
            return
        self._signals[key] = signal
        self._order.append(key)
        taken = {r for (d, _), r in self._refs.items() if d == device}
        ref = _ident(name)
        base, n = ref, 1
        while ref in taken:
            n += 1
            ref = f"{base}_{n}"
        self._refs[key] = ref

    def write(self, device: str, rows: list[RowIn]) -> None:
        self._pending.append((device, rows))

    def take(self, force: bool = False) -> Callable[[], None] | None:
        pending, self._pending = self._pending, []
        declared = len(self._order)
        return lambda: self._job(pending, declared, force)

    def _job(self, pending: list[tuple[str, list[RowIn]]], declared: int, force: bool) -> None:
        """Off the row lock (one job at a time): order the rows, write what is older than the
        reorder window, declare names that came since the header was written."""
        if self._vcd is not None and declared > self._declared:
            self._rewrite_header(declared)
        if self._epoch_us is None:
            first = [r[2] for _, rows in pending for r in rows[:1]]
            if first:
                self._epoch_us = math.floor(min(first) * 1e6) - 1_000_000  # a second of head room
        epoch = self._epoch_us
        heap = self._heap
        for device, rows in pending:
            for _seq, _tt, ht, name, value in rows:
                ts = round(ht * 1e6) - epoch  # type: ignore[operator]
                if ts < self._written or ts < 0:
                    self.late += 1
                    continue
                heapq.heappush(heap, (ts, next(self._tie), device, name, value))
                if ts > self._newest:
                    self._newest = ts
        self._drain(1 << 62 if force else self._newest - int(REORDER_S * 1e6), declared)
        if self._vcd is not None:
            self._f.flush()

    # -- writing ------------------------------------------------------------------------------
    def _header_comment(self, declared: int) -> str:
        sig = [{"device": d, "name": n, "scope": _scope(d), "var": self._refs[(d, n)], "kind": s.kind, "bits": s.bits,
                "signed": s.signed, "labels": {str(k): v for k, v in s.labels.items()}}
               for (d, n), s in ((k, self._signals[k]) for k in self._order[:declared])]
        meta = {"session_id": self.session_id, "epoch_us": self._epoch_us, "signals": sig}
        return "firmwatch recording: timestamps are microseconds of host time after epoch_us (Unix time)\n" + \
            MARK + json.dumps(meta, separators=(",", ":"))

    def _open_vcd(self, f: Any, declared: int) -> tuple[VCDWriter, dict[tuple[str, str], Any]]:
        w = VCDWriter(f, timescale="1 us", date=time.strftime("%Y-%m-%d %H:%M:%S %z"),
                      comment=self._header_comment(declared), version="firmwatch")
        out = {}
        self._declared = declared
        for key in self._order[:declared]:
            d, _ = key
            s = self._signals[key]
            ref = self._refs[key]
            if s.kind == "float":
                out[key] = w.register_var(_scope(d), ref, "real", init=0.0)
            elif s.kind in ("int", "bool"):
                out[key] = w.register_var(_scope(d), ref, "wire", size=max(1, s.bits), init=None)
            else:
                out[key] = w.register_var(_scope(d), ref, "string", init="")
        w.flush()  # header and $dumpvars now: nothing may be declared after
        for var in out.values():  # the first sample is a change even when it equals the initial value
            var.value = _FRESH
        return w, out

    def _start(self, declared: int) -> None:
        self._vcd, self._vars = self._open_vcd(self._f, declared)
        self._f.flush()
        self._body_start = self._f.tell()

    def _rewrite_header(self, declared: int) -> None:
        """Names declared after the header was written: a new header, the old body after it."""
        assert self._vcd is not None
        self._f.flush()
        tmp = self.path + ".tmp"
        nf = open(tmp, "w", encoding="utf-8")  # noqa: SIM115
        w, new_vars = self._open_vcd(nf, declared)
        nf.flush()
        body_start = nf.tell()
        with open(self.path, encoding="utf-8") as old:
            old.seek(self._body_start)
            while chunk := old.read(1 << 20):
                nf.write(chunk)
        for key, var in self._vars.items():  # carry each variable's last value: no repeated change
            new_vars[key].value = var.value
        self._f.close()
        os.replace(tmp, self.path)
        self._f, self._vcd, self._vars, self._body_start = nf, w, new_vars, body_start

    def _drain(self, upto: int, declared: int) -> None:
        heap = self._heap
        if not heap or heap[0][0] > upto:
            return
        if self._vcd is None:
            self._start(declared)
        w, variables, signals = self._vcd, self._vars, self._signals
        assert w is not None
        while heap and heap[0][0] <= upto:
            ts, _, dev, name, value = heapq.heappop(heap)
            key = (dev, name)
            try:
                w.change(variables[key], ts, _vcd_value(signals[key], value))
            except (ValueError, KeyError):
                self.late += 1
                continue
            self._written = ts

    def close(self) -> None:
        self.take(force=True)()  # type: ignore[misc]
        if self._vcd is None:
            self._start(len(self._order))
        assert self._vcd is not None
        self._vcd.close()
        sync_close(self._f)


def _scope(device: str) -> str:
    return _ident(device) if device else "device"


def _vcd_value(s: Signal, value: Any) -> Any:
    if s.kind == "float":
        return float(value)
    if s.kind in ("int", "bool"):
        v = int(value)
        return v & ((1 << max(1, s.bits)) - 1)
    if s.kind == "enum" and isinstance(value, int):
        return s.labels.get(value, str(value))
    return str(value)


# -- reading ------------------------------------------------------------------------------------
def read_vcd(path: str) -> Reading:
    meta = _meta(path)
    signals = {(s["device"], s["name"]): Signal(s["kind"], s["bits"], s["signed"], {int(k): v for k, v in s["labels"].items()})
               for s in meta["signals"]}
    return Reading("vcd", signals, lambda: _rows(path, meta, signals))


def _meta(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.COMMENT and MARK in tok.comment:
                return json.loads(tok.comment.split(MARK, 1)[1].strip())
            if tok.kind is TokenKind.ENDDEFINITIONS:
                break
    raise RecorderError(f"{path} is a VCD file firmwatch did not write (it has no firmwatch signal table); "
                        "open it in a waveform viewer.")


def _unescape(s: str) -> str:
    return re.sub(r"\\(x20|t|n|r|\\)", lambda m: {"x20": " ", "t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[m.group(1)], s)


def _rows(path: str, meta: dict[str, Any], signals: dict[tuple[str, str], Signal]) -> Iterator[Row]:
    by_ref = {(s["scope"], s["var"]): (s["device"], s["name"]) for s in meta["signals"]}
    ids: dict[str, tuple[str, str]] = {}
    scope: list[str] = []
    epoch = meta["epoch_us"] or 0
    sid = meta["session_id"]
    t = 0
    in_dump = False
    with open(path, "rb") as f:
        for tok in tokenize(f):
            k = tok.kind
            if k is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif k is TokenKind.UPSCOPE:
                scope.pop()
            elif k is TokenKind.VAR:
                key = by_ref.get((".".join(scope), tok.var.reference))
                if key is not None:
                    ids[tok.var.id_code] = key
            elif k is TokenKind.DUMPVARS:
                in_dump = True  # the initial values: not samples
            elif k is TokenKind.END:
                in_dump = False
            elif k is TokenKind.CHANGE_TIME:
                t = tok.time_change
            elif not in_dump and k in (TokenKind.CHANGE_VECTOR, TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_REAL,
                                        TokenKind.CHANGE_STRING):
                ch = tok.data
                key = ids.get(ch.id_code)
                if key is None:
                    continue
                value = _value(signals[key], ch.value)
                if value is None:
                    continue
                yield sid, key[0], -1, math.nan, (epoch + t) / 1e6, key[1], value


def _value(s: Signal, v: Any) -> Any:
    if s.kind in ("int", "bool"):
        if isinstance(v, str):
            if v in "01":
                v = int(v)
            else:
                return None  # x / z: no sample
        if s.signed and s.bits and v >= 1 << (s.bits - 1):
            v -= 1 << s.bits
        return v
    if s.kind == "float":
        return float(v)
    text = _unescape(v)
    if s.kind == "enum":
        for value, label in s.labels.items():
            if label == text:
                return value
        try:
            return int(text)
        except ValueError:
            return text
    return text
