"""Recording formats: CSV, Parquet and VCD hold the same samples.

Parquet is read back with pyarrow and DuckDB and must give exactly the CSV's values; VCD is read
back by independent parsers (vcdvcd for vectors and reals, pyvcd's tokenizer for strings) and
must hold exactly the CSV's transitions on the host time axis. A recording killed mid-run keeps
everything but the last second; `firmwatch convert` finishes it."""

from __future__ import annotations

import collections
import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmwatch.session.formats import convert, read
from firmwatch.session.recorder import Recorder, RecorderError, Signal

FW = [sys.executable, "-m", "firmwatch"]
T0 = 1_765_000_000.0


def _synthetic(path: Path) -> None:
    """Two devices; signed and unsigned integers, an enum, floats, text, an integer past 2**53,
    and a name that first appears after the header of a VCD was written."""
    rec = Recorder(str(path), "sid-1")
    rec.describe("temp", Signal("float"), "gw")
    rec.describe("state", Signal("enum", 8, False, {0: "IDLE", 1: "RUN", 2: "FAULT"}), "gw")
    rec.describe("delta", Signal("int", 16, True), "n1")
    rec.describe("count", Signal("int", 32, False), "n1")
    rec.describe("cfg", Signal("text"), "n1")
    for i in range(400):
        t = i / 1000
        rec.write_many([(i, t, round(T0 + t + 0.25, 6), "temp", 20.0 + math.sin(i / 7) / 3),
                        (i, t, round(T0 + t + 0.25, 6), "state", (i // 50) % 3)], "gw")
        rec.write_many([(i, round(5 + t, 6), round(T0 + t + 0.2504, 6), "delta", (i % 9) - 4),
                        (i, round(5 + t, 6), round(T0 + t + 0.2504, 6), "count", 4_000_000_000 + i // 3),
                        (i, round(5 + t, 6), round(T0 + t + 0.2504, 6), "cfg", f"{{gain = {i // 100}, name = \"n 1\"}}")], "n1")
        if i == 200:
            rec.flush(force=True)  # VCD: the header is out; the next name has to rewrite it
        if i >= 200:
            rec.write_many([(i, round(5 + t, 6), round(T0 + t + 0.2504, 6), "big", (1 << 60) + i)], "n1")
    rec.close()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cell(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.fixture
def recordings(tmp_path):
    out = {}
    for ext in ("csv", "parquet", "vcd"):
        out[ext] = tmp_path / f"rec.{ext}"
        _synthetic(out[ext])
    return out


def test_parquet_gives_exactly_the_csv_values_in_pyarrow_and_duckdb(recordings):
    import duckdb
    import pyarrow.parquet as pq

    rows = _csv_rows(recordings["csv"])
    assert len(rows) == 400 * 5 + 200
    pf = pq.ParquetFile(recordings["parquet"])
    schema = {f.name: str(f.type) for f in pf.schema_arrow}
    assert schema == {"session_id": "string", "device": "string", "seq": "int64", "target_time_s": "double",
                      "host_time_s": "double", "name": "string", "value": "double", "text": "string"}
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    t = pf.read().to_pydict()
    assert len(t["seq"]) == len(rows)
    # the rows of one device keep their order; devices interleave as they arrived
    key = lambda r: (r["device"], int(r["seq"]), r["name"])  # noqa: E731
    csv_by = {key(r): r for r in rows}
    for i in range(len(t["seq"])):
        r = csv_by[(t["device"][i], t["seq"][i], t["name"][i])]
        assert t["session_id"][i] == r["session_id"] == "sid-1"
        assert f"{t['target_time_s'][i]:.6f}" == r["target_time_s"]
        assert f"{t['host_time_s'][i]:.6f}" == r["host_time_s"]
        v = _cell(r["value"])
        if isinstance(v, str) or abs(v) > 1 << 53:
            assert t["text"][i] == r["value"]
        else:
            assert t["value"][i] == v and t["text"][i] is None
    # DuckDB, as an analyst would query it
    con = duckdb.connect()
    q = con.execute(
        "SELECT device, seq, name, coalesce(text, CASE WHEN value = floor(value) AND name <> 'temp' "
        "THEN CAST(CAST(value AS BIGINT) AS VARCHAR) ELSE CAST(value AS VARCHAR) END), target_time_s, host_time_s "
        f"FROM read_parquet('{recordings['parquet']}')").fetchall()
    assert len(q) == len(rows)
    for dev, seq, name, value, tt, ht in q:
        r = csv_by[(dev, seq, name)]
        assert _cell(value) == _cell(r["value"]), (dev, seq, name, value, r["value"])
        assert (f"{tt:.6f}", f"{ht:.6f}") == (r["target_time_s"], r["host_time_s"])
    agg = dict(con.execute(f"SELECT device, count(*) FROM '{recordings['parquet']}' GROUP BY device").fetchall())
    assert agg == {"gw": 800, "n1": 1400}
    # and firmwatch's own reader gives back the same rows, typed
    ours = sorted(read(str(recordings["parquet"])).rows(), key=lambda r: (r[1], r[2], r[5]))
    want = sorted(((r["session_id"], r["device"], int(r["seq"]), float(r["target_time_s"]), float(r["host_time_s"]),
                    r["name"], _cell(r["value"])) for r in rows), key=lambda r: (r[1], r[2], r[5]))
    assert ours == want


def _transitions(rows: list[dict[str, str]]) -> dict[tuple[str, str], list[tuple[int, object]]]:
    """Per signal, the CSV's value changes at host time in microseconds."""
    out: dict[tuple[str, str], list[tuple[int, object]]] = collections.defaultdict(list)
    for r in sorted(rows, key=lambda r: float(r["host_time_s"])):
        k = (r["device"], r["name"])
        v = _cell(r["value"])
        if not out[k] or out[k][-1][1] != v:
            out[k].append((round(float(r["host_time_s"]) * 1e6), v))
    return out


def test_vcd_holds_the_csv_transitions(recordings):
    from vcd.reader import TokenKind, tokenize

    # vcdvcd sets SIGPIPE to its default action when imported: keep Python's (conftest explains)
    pipe = signal.getsignal(signal.SIGPIPE)
    try:
        from vcdvcd import VCDVCD
    finally:
        signal.signal(signal.SIGPIPE, pipe)

    want = _transitions(_csv_rows(recordings["csv"]))
    path = str(recordings["vcd"])
    text = Path(path).read_text()
    assert "$timescale 1 us $end" in text
    epoch = int(text.split('"epoch_us":', 1)[1].split(",", 1)[0])
    parsed = VCDVCD(path)
    widths = {"gw.temp": None, "n1.delta": 16, "n1.count": 32, "n1.big": 64}
    for ref, bits in widths.items():
        dev, name = ref.split(".")
        sig = parsed[ref]
        got = []
        for t, v in sig.tv:
            if t == 0:
                continue  # $dumpvars: the initial state, before any sample
            if bits is None:
                got.append((epoch + t, float(v)))
            else:
                n = int(v, 2)
                if name == "delta" and n >= 1 << 15:
                    n -= 1 << 16  # two's complement, as declared
                got.append((epoch + t, n))
        exp = [(t, float(f"{v:.16g}") if isinstance(v, float) else v) for t, v in want[(dev, name)]]
        assert got == exp, ref
    # strings (enums by name, struct text), which vcdvcd does not parse: pyvcd's tokenizer
    ids, scope, t, strings = {}, [], 0, collections.defaultdict(list)
    with open(path, "rb") as f:
        for tok in tokenize(f):
            if tok.kind is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scope.pop()
            elif tok.kind is TokenKind.VAR:
                ids[tok.var.id_code] = (scope[-1], tok.var.reference)
            elif tok.kind is TokenKind.CHANGE_TIME:
                t = tok.time_change
            elif tok.kind is TokenKind.CHANGE_STRING and t > 0:
                strings[ids[tok.data.id_code]].append((epoch + t, tok.data.value.replace("\\x20", " ")))
    labels = {0: "IDLE", 1: "RUN", 2: "FAULT"}
    assert strings[("gw", "state")] == [(t, labels[v]) for t, v in want[("gw", "state")]]
    assert strings[("n1", "cfg")] == want[("n1", "cfg")]
    # converting the VCD back gives the same transitions
    back = collections.defaultdict(list)
    for _, dev, seq, tt, ht, name, value in read(path).rows():
        assert seq == -1 and math.isnan(tt)  # VCD keeps neither; said in docs/recording.md
        back[(dev, name)].append((round(ht * 1e6), value))
    assert back[("gw", "state")] == want[("gw", "state")]
    assert back[("n1", "delta")] == want[("n1", "delta")]


def test_convert_between_formats_keeps_the_rows(recordings, tmp_path):
    src = read(str(recordings["csv"]))
    rows = sorted(src.rows(), key=lambda r: (r[1], r[2], r[5]))
    for target in ("again.parquet", "again.csv"):
        c = convert(str(recordings["parquet"]), str(tmp_path / target))
        assert c.rows == len(rows)
        assert sorted(read(str(tmp_path / target)).rows(), key=lambda r: (r[1], r[2], r[5])) == rows
    r = subprocess.run(FW + ["convert", str(recordings["csv"]), str(tmp_path / "c.vcd")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "2200 rows" in r.stdout and "vcd" in r.stdout
    r = subprocess.run(FW + ["convert", str(recordings["csv"]), str(tmp_path / "x.out"), "--format", "parquet"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and read(str(tmp_path / "x.out"), "parquet").format == "parquet"
    r = subprocess.run(FW + ["convert", str(tmp_path / "nope.csv"), str(tmp_path / "y.csv")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_a_missing_extra_is_one_sentence(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(RecorderError, match=r"pip install 'firmwatch\[parquet\]'"):
        Recorder(str(tmp_path / "x.parquet"))
    assert not (tmp_path / "x.parquet").exists()
    with pytest.raises(RecorderError, match="not a recording format"):
        Recorder(str(tmp_path / "x.bin"), format="hdf5")


# -- from a real device -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host_device():
    from firmwatch.sim import start_sim

    dev = start_sim("host", timeout=240)
    yield dev
    dev.stop()


def test_device_recordings_in_every_format(host_device, tmp_path):
    """The same command in three formats: each file holds its run's samples with the watch's
    types (an enum by name in the VCD)."""
    for ext in ("csv", "parquet", "vcd"):
        out = tmp_path / f"dev.{ext}"
        r = subprocess.run(FW + ["record", str(host_device.elf), "--port", host_device.port, "-o", str(out),
                                 "--duration", "1.5", "accel_x@200", "fsm_state@50", "temp_celsius@20"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        n = int(r.stdout.split("recorded ", 1)[1].split()[0])
        rows = list(read(str(out)).rows())
        if ext == "vcd":
            assert 0 < len(rows) <= n  # changes only
            text = out.read_text()
            assert "$var wire 16" in text or "$var wire 32" in text  # accel_x: int16 or int32 on the host
            assert "$var real 64" in text and "$var string" in text
            assert any(isinstance(r[6], int) for r in rows if r[5] == "fsm_state")
        else:
            assert len(rows) == n > 200
            assert {r[1] for r in rows} == {"demo"}  # a single device is named after its ELF
            assert {r[5] for r in rows} == {"accel_x", "fsm_state", "temp_celsius"}


def test_a_killed_parquet_recording_loses_at_most_the_last_second(host_device, tmp_path):
    out = tmp_path / "crash.parquet"
    parts = tmp_path / "crash.parquet.parts"
    p = subprocess.Popen(FW + ["record", str(host_device.elf), "--port", host_device.port, "-o", str(out),
                               "accel_x@500", "loop_count@100"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
            time.sleep(0.05)
        assert len(list(parts.glob("part-*.parquet"))) >= 3, p.stderr.read1(4096) if p.poll() is not None else ""
        time.sleep(0.6)
        os.kill(p.pid, signal.SIGKILL)
        killed = time.time()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert out.exists() and out.stat().st_size == 0  # never finished: the rows are in the parts
    r = subprocess.run(FW + ["convert", str(out), str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "did not finish" in r.stderr and f"convert {out}.parts {out}" in r.stderr
    rows = list(read(str(parts)).rows())
    newest = max(r[4] for r in rows)
    assert killed - newest < 1.0 + 0.25 + 0.5  # a row group a second, checked every 0.25 s; delivery delay
    r = subprocess.run(FW + ["convert", str(parts), str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not parts.exists()
    assert sorted(read(str(out)).rows()) == sorted(rows)


def test_a_full_disk_ends_the_recording_not_the_session(tmp_path):
    """A disk that fills up mid-run: the recorder says so in one sentence, counts what was written,
    and takes no more rows — no exception in the device's reader thread, nothing buffered grows.
    A file that cannot be written at all is refused before recording (/dev/full: ENOSPC)."""
    import errno

    if os.path.exists("/dev/full"):
        with pytest.raises(RecorderError, match="cannot write /dev/full: No space left on device"):
            Recorder("/dev/full", "sid", format="csv")
    rec = Recorder(str(tmp_path / "r.csv"), "sid")
    rec.write_many([(1, 0.0, T0, "x", 1)])

    class Full:
        def write(self, _text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return lambda *a: None

    rec._writer._csv = csv.writer(Full())  # the disk fills up
    rec.write_many([(2, 0.001, T0, "x", 2)])
    assert rec.error and "No space left on device" in rec.error and "recording stopped" in rec.error
    rec.write_many([(3, 0.002, T0, "x", 3)])  # ignored
    assert rec.rows == 1
    rec.close()
    assert [r[2] for r in read(str(tmp_path / "r.csv")).rows()] == [1]
