"""The public Python API (firmwatch.connect) against the real parts: the host device over a real pty
(started by `firmwatch sim`), and the Cortex-M3 demo under QEMU over its gdb stub (RSP) and its UART.

What could be wrong and is checked: a value of the wrong Python type or number (against the
firmware's known initial values and the session's own decode), a write that does not land or is
not refused, a watch that drops or duplicates samples (counts against rate x time, timestamps
against the device's period), a table with other columns than `firmwatch record` writes, an error
that is not one sentence of the project's own types.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import importlib.util
import math
from pathlib import Path

import pytest

import firmwatch
from firmwatch.api.values import fast_decoder, to_python
from firmwatch.session.connect import ConnectOptions
from firmwatch.session.recorder import COLUMNS
from tools import require_board, sim_command

SCALARS = ("timestamp_ms", "event_counter64", "uptime_s", "heartbeat_counter", "loop_count", "sensor_temp",
           "temp_celsius", "accel_x", "accel_y", "accel_z", "fsm_state", "button_state", "g_config.calib.offset",
           "g_config.alarm_threshold", "demo_stack_depth", "g_pair.a")


@pytest.fixture(scope="module")
def host():
    yield from sim_command("host", 180)


@pytest.fixture(scope="module")
def dev(host):
    port, elf = host
    with firmwatch.connect(elf, port=port) as d:
        yield d


def one_sentence(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text and text.strip(), text
    assert isinstance(e, firmwatch.UserError), type(e)
    return text


# -- reads ----------------------------------------------------------------------------------------------
def test_read_gives_typed_python_values(dev):
    cfg = dev.read("g_config")
    assert isinstance(cfg, firmwatch.Struct) and isinstance(cfg, dict)
    assert cfg.magic == 0xC0FFEE01 and cfg["magic"] == cfg.magic
    assert set(cfg) == {"magic", "calib", "channel_map", "enabled", "mode", "log_level", "alarm_threshold",
                        "sample_period_ms"}
    assert cfg.channel_map == [0, 1, 2, 3], "a uint8_t array is numbers, not text"
    assert (cfg.enabled, cfg.mode, cfg.log_level, cfg.sample_period_ms) == (1, 2, 3, 10)
    assert isinstance(cfg.alarm_threshold, float) and cfg.alarm_threshold == 30.0
    assert isinstance(cfg.calib, firmwatch.Struct) and set(cfg.calib) == {"offset", "gain_q8"}
    state = dev.read("fsm_state")
    assert isinstance(state, firmwatch.EnumValue)
    assert state in ("FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP")
    assert int(state) == ["FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP"].index(state)
    table = dev.read("sine_table")
    assert isinstance(table, list) and len(table) == 64 and table[16] == 1000 and table[48] == -1000
    assert dev.read("g_active_config") == dev.program.find_variable("g_config").address, "a pointer is its address"
    assert isinstance(dev.read("uptime_s"), float) and isinstance(dev.read("event_counter64"), int)
    pair = dev.read("g_pair")
    assert pair.b == (~pair.a) & 0xFFFFFFFF
    assert dev.read("sine_table[16]") == 1000 and dev.read("g_config.calib") == cfg.calib
    assert dev.display("g_config.magic", hex=True) == "0xc0ffee01"
    with pytest.raises(AttributeError):
        cfg.no_such_member  # noqa: B018


def test_the_scalar_fast_path_agrees_with_the_value_tree(dev):
    """Watches of plain scalars decode with a struct unpack; it must give what the full decode gives."""
    for expr in SCALARS:
        compiled = dev.session.compile(expr)
        dec = fast_decoder(compiled, dev.program.elf.byteorder)
        assert dec is not None, f"{expr} should take the fast path"
        bound = compiled.bind(dev.target.read)
        chunks = tuple(dev.target.read(r.address, r.size) for r in bound.regions)
        slow, fast = to_python(bound.decode(chunks)), dec(chunks)
        assert type(slow) is type(fast) and (slow == fast or (math.isnan(slow) and math.isnan(fast))), expr
        if isinstance(slow, firmwatch.EnumValue):
            assert slow.value == fast.value and slow.name == fast.name
    for expr in ("g_config", "g_config.enabled", "g_active_config->calib.gain_q8", "sine_table"):
        assert fast_decoder(dev.session.compile(expr), dev.program.elf.byteorder) is None, expr


def test_bad_reads_are_one_sentence_and_the_device_keeps_working(dev):
    with pytest.raises(firmwatch.UserError) as e:
        dev.read("no_such_variable")
    assert "no_such_variable" in one_sentence(e.value)
    with pytest.raises(firmwatch.UserError) as e:
        dev.read("g_config.")
    one_sentence(e.value)
    with pytest.raises(firmwatch.UserError) as e:
        dev.read("*(uint32_t *)0x4")
    one_sentence(e.value)
    assert dev.read("g_config.magic") == 0xC0FFEE01


# -- writes ---------------------------------------------------------------------------------------------
def test_write_lands_with_the_clis_checks(dev):
    try:
        assert dev.write("g_config.calib.gain_q8", 300) == 300
        assert dev.read("g_config.calib.gain_q8") == 300
        back = dev.write("g_config.calib", {"offset": -7, "gain_q8": 257})
        assert back == {"offset": -7, "gain_q8": 257}
        assert dev.write("g_config.alarm_threshold", 31.5) == 31.5
        assert dev.write("g_config.channel_map", [3, 2, 1, 0]) == [3, 2, 1, 0]
        assert dev.write("g_config.mode", 5) == 5 and dev.read("g_config.log_level") == 3, "a bitfield's neighbours keep"
        assert dev.write("g_config.enabled", False) == 0
        with pytest.raises(firmwatch.UserError) as e:
            dev.write("g_config.calib.gain_q8", 70000)
        assert "65535" in one_sentence(e.value)
        with pytest.raises(firmwatch.UserError) as e:
            dev.write("g_config.mode", 9)
        one_sentence(e.value)
        with pytest.raises(firmwatch.UserError) as e:
            dev.write("sine_table[0]", 5)
        assert "const" in one_sentence(e.value)
        with pytest.raises(firmwatch.UserError) as e:
            dev.write("g_config.calib.offset", object())
        one_sentence(e.value)
        with pytest.raises(firmwatch.UserError) as e:
            dev.write("g_config.calib.offset", 1.5)
        one_sentence(e.value)
        assert dev.read("g_config.calib") == {"offset": -7, "gain_q8": 257}, "a refused write changes nothing"
    finally:
        dev.write("g_config", {"calib": {"offset": 0, "gain_q8": 256}, "alarm_threshold": 30.0,
                               "channel_map": [0, 1, 2, 3], "mode": 2, "enabled": True})
    assert dev.read("g_config.calib") == {"offset": 0, "gain_q8": 256}


def test_write_then_the_firmware_uses_it(dev):
    """The calibration the demo applies to accel_x (x * gain / 256 + offset) follows a write."""
    try:
        dev.write("g_config.calib", {"gain_q8": 128, "offset": 2000})
        s = dev.wait_until("accel_x", lambda v: v > 2400, timeout=3)
        assert 2400 < s.value <= 2000 + 500
        dev.assert_stays("accel_x", within=(1490, 2510), for_s=0.5)
    finally:
        dev.write("g_config.calib", {"gain_q8": 256, "offset": 0})


# -- watches --------------------------------------------------------------------------------------------
def test_watch_delivers_every_sample_with_device_timestamps(dev):
    rate = 200.0
    got: dict[str, list[firmwatch.Sample]] = {"accel_x": [], "timestamp_ms": []}
    with dev.watch(["accel_x", "timestamp_ms"], rate=rate, duration=1.5) as w:
        for s in w:
            got[s.name].append(s)
        loss = w.loss()
    assert not loss, loss
    for name, samples in got.items():
        times = [s.target_time for s in samples]
        span = times[-1] - times[0]
        assert span > 1.0, name
        assert abs((len(times) - 1) - rate * span) <= 1, (name, len(times), span)
        steps = {round((b - a) * 1000) for a, b in zip(times, times[1:])}
        assert steps == {5}, (name, steps)
    ts = got["timestamp_ms"]
    assert all(isinstance(s.value, int) for s in ts)
    # the device's millisecond counter agrees with the sample's device timestamp, sample by sample
    offsets = {round(s.value - s.target_time * 1000) for s in ts}
    assert max(offsets) - min(offsets) <= 1, offsets
    assert not dev.session.watches, "the watches end with the watcher"


def test_watch_callback_and_count(dev):
    seen: list[firmwatch.Sample] = []
    w = dev.watch("loop_count", rate=500, count=120, callback=seen.append)
    w.wait(timeout=10)
    assert len(seen) == 120
    assert all(b.target_time > a.target_time for a, b in zip(seen, seen[1:]))
    assert all(b.value >= a.value for a, b in zip(seen, seen[1:])), "loop_count only grows"

    def boom(s: firmwatch.Sample) -> None:
        raise ValueError("callback failed")

    w = dev.watch("loop_count", rate=100, callback=boom)
    with pytest.raises(ValueError, match="callback failed"):
        w.wait(timeout=10)
    assert not dev.session.watches


def test_two_watches_at_once_with_asyncio(dev):
    async def collect(expr: str, rate: float) -> list[firmwatch.Sample]:
        out = []
        async with dev.watch(expr, rate=rate, duration=1.0) as w:
            async for s in w:
                out.append(s)
        return out

    async def main() -> tuple[list[firmwatch.Sample], list[firmwatch.Sample], object]:
        a, b, v = await asyncio.gather(collect("accel_y", 100), collect("fsm_state", 50),
                                       dev.read_async("g_config.magic"))
        return a, b, v

    a, b, magic = asyncio.run(main())
    assert magic == 0xC0FFEE01
    assert len(a) >= 50 and len(b) >= 25, (len(a), len(b))
    for samples, period_ms in ((a, 10), (b, 20)):  # every sample of each, none twice
        assert {round((y.target_time - x.target_time) * 1000) for x, y in zip(samples, samples[1:])} == {period_ms}
    # both ran at once: their device times overlap
    assert max(a[0].target_time, b[0].target_time) < min(a[-1].target_time, b[-1].target_time)
    assert all(isinstance(s.value, firmwatch.EnumValue) for s in b)


def test_a_watch_that_cannot_be_sampled_says_why(dev):
    with pytest.raises(firmwatch.UserError) as e:
        dev.watch(["accel_x", "no_such_variable"])
    assert "no_such_variable" in one_sentence(e.value)
    with pytest.raises(firmwatch.ApiError) as e:
        dev.watch(["accel_x", "*(uint32_t *)0x4"])
    assert "cannot be sampled" in one_sentence(e.value)
    with pytest.raises(firmwatch.UserError) as e:
        dev.watch("accel_x", rate=5000)
    assert "5000 Hz" in one_sentence(e.value)
    assert not dev.session.watches, "nothing is left behind"


def test_one_expression_two_rates_is_refused(dev):
    with dev.watch("accel_z", rate=100, duration=5):
        with pytest.raises(firmwatch.ApiError) as e:
            dev.watch("accel_z", rate=50)
        assert "100 Hz" in one_sentence(e.value)
        with dev.watch("accel_z", rate=100, count=5) as w2:
            assert len(list(w2)) == 5
        assert dev.session.find_watch("accel_z") is not None, "the first watcher still holds it"
    assert dev.session.find_watch("accel_z") is None


# -- wait_until -----------------------------------------------------------------------------------------
def test_wait_until(dev):
    s = dev.wait_until("fsm_state", "FSM_TRANSMIT", timeout=3)
    assert s.value == "FSM_TRANSMIT" and s.value.value == 3
    s = dev.wait_until("button_state", lambda v: v == 1, timeout=5)
    assert s.value == 1
    with pytest.raises(firmwatch.WaitTimeout) as e:
        dev.wait_until("g_config.magic", 0, timeout=0.3)
    text = one_sentence(e.value)
    assert "g_config.magic" in text and "0.3 s" in text and str(0xC0FFEE01) in text
    assert e.value.last == 0xC0FFEE01 and e.value.samples >= 10


# -- record ---------------------------------------------------------------------------------------------
def test_record_is_the_recorders_table(dev, tmp_path):
    path = tmp_path / "run.csv"
    rec = dev.record(["accel_x", "temp_celsius", "g_config.calib"], duration=1.0, rate=100, path=str(path),
                     session_id="api-1")
    df = rec.table
    assert type(df).__module__.startswith("pandas")
    assert list(df.columns) == list(COLUMNS)
    assert rec.samples == len(df) and rec.session_id == "api-1" and rec.path == str(path)
    with path.open() as f:
        assert len(list(csv.DictReader(f))) == len(df), "the table is the file"
    for name in ("accel_x", "temp_celsius", "g_config.calib"):
        times = df[df["name"] == name]["target_time_s"].tolist()
        span = times[-1] - times[0]
        assert abs((len(times) - 1) - 100 * span) <= 1, (name, len(times), span)
    assert not rec.loss and rec.loss.total == 0, rec.loss
    assert set(rec.rates) == {"accel_x", "temp_celsius", "g_config.calib"}
    t, v = rec.series("accel_x")
    assert len(t) == len(v) and all(isinstance(x, int) for x in v)
    assert not dev.session.watches


def test_record_in_the_recorders_other_formats(dev, tmp_path):
    """The path's extension picks the recorder's format, as `firmwatch record -o`; the table is read
    back from it with the same columns."""
    for name in ("run.parquet", "run.vcd"):
        path = tmp_path / name
        rec = dev.record(["accel_x", "fsm_state"], duration=0.5, rate=100, path=str(path), table="rows")
        assert path.stat().st_size > 0
        assert rec.table and set(rec.table[0]) == set(COLUMNS), name
        assert {r["name"] for r in rec.table} == {"accel_x", "fsm_state"}, name
        assert sum(r["name"] == "accel_x" for r in rec.table) >= 40, name


def test_record_tables_without_pandas(dev, monkeypatch):
    rec = dev.record("accel_y", duration=0.3, table="rows")
    assert isinstance(rec.table, list) and rec.table and set(rec.table[0]) == set(COLUMNS)
    assert rec.path == "", "a temporary file is removed once read"
    polars = dev.record("accel_y", duration=0.3, table="polars").table
    assert type(polars).__module__.startswith("polars") and polars.columns == list(COLUMNS)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pandas", "polars") else real(name, *a))
    assert isinstance(dev.record("accel_y", duration=0.2).table, list), "auto: rows when no DataFrame library"
    with pytest.raises(firmwatch.MissingExtra) as e:
        dev.record("accel_y", duration=0.2, table="pandas")
    assert "firmwatch[pandas]" in one_sentence(e.value)
    assert not dev.session.watches, "a refused recording starts nothing"


# -- symbols and engines --------------------------------------------------------------------------------
def test_symbols_search_ptype(dev):
    names = [s.name for s in dev.symbols("accel*")]
    assert sorted(names) == ["accel_x", "accel_y", "accel_z"]
    found = dev.search("CONFIG")
    # the closest name first; other *config* globals (the capture module's) follow in any order
    assert found[0].name == "g_config" and {"g_active_config", "capture_config"} <= {s.name for s in found}
    assert found[0].size == 24 and found[0].type == "volatile config_t"
    t = dev.ptype("g_config")
    assert t.size == 24 and t.address == found[0].address
    assert [m["name"] for m in t.members][:3] == ["magic", "calib", "channel_map"]
    assert t.members[1] == {"name": "calib", "offset": 4, "size": 4, "type": "calibration_t"}
    assert {"name": "mode", "offset": 12, "size": 4, "type": "unsigned int", "bit_offset": 97, "bit_size": 3} \
        in t.members
    assert "total size (bytes):   24" in t.text


def test_memory_health(dev):
    try:
        dev.write("demo_stack_depth", 20)
        dev.wait_until("demo_stack_reached", 20, timeout=3)
        h = dev.memory_health()
        used = h.value("stack.used")
        assert used is not None and used > 20 * 32, h.figures
        assert h.figures["stack.used"].source
    finally:
        dev.write("demo_stack_depth", 0)


# -- connecting -----------------------------------------------------------------------------------------
def test_connect_takes_every_option_of_the_transport_factory():
    """The API takes the factory's options by their own names (those of launch.json's keys), as the
    CLI and the adapter do: a new option cannot be forgotten here."""
    from firmwatch.api.device import CONNECT_FIELDS

    names = {f.name for f in dataclasses.fields(ConnectOptions)}
    assert names - {"die_with_parent"} == CONNECT_FIELDS | {"elf", "port", "target", "sim"}
    opts = firmwatch.api.device.connect_options("fw.elf", None, "localhost:3333", None,
                                                {"via_gdb": True, "budget": 2.5, "sampling_mode": "halt",
                                                 "lock_symbol": "g_busy", "gdb_path": "arm-none-eabi-gdb"})
    assert (opts.transport, opts.target, opts.budget, opts.sampling_mode, opts.lock_symbol, opts.gdb_path) == \
        ("gdb", "localhost:3333", 0.025, "halt", "g_busy", "arm-none-eabi-gdb")


@pytest.mark.parametrize("kwargs, words", [
    ({}, "no target given"),
    ({"port": "/dev/null", "gdb": "localhost:1"}, "not both"),
    ({"port": "/dev/null", "colour": "red"}, "colour"),
    ({"gdb": "localhost:1", "budget": 150}, "percentage"),
    ({"sim": "pdp11"}, "pdp11"),
    ({"port": "/nonexistent/tty"}, "/nonexistent/tty"),
])
def test_connect_errors_are_one_sentence(host, kwargs, words):
    _, elf = host
    with pytest.raises(firmwatch.UserError) as e:
        firmwatch.connect(elf, **kwargs)
    assert words in one_sentence(e.value)


def test_connect_starts_a_simulated_device_and_stops_it():
    with firmwatch.connect(sim="host", rate=50) as d:
        assert d.port and d.read("g_config.magic") == 0xC0FFEE01
        sim = d.connection.sim
        with d.watch("loop_count", count=3) as w:
            assert w.watches[0].rate_hz == 50, "rate= is the default rate of watches"
            assert len(list(w)) == 3
    assert sim is not None and not sim.alive
    with pytest.raises(firmwatch.ApiError) as e:
        d.read("g_config.magic")
    assert "closed" in one_sentence(e.value)


# -- an emulated board ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["rsp", "serial"])
def board(request):
    require_board("cortex-m3")
    # budget 0: no cap on the share of time halted for sampling, so 50 Hz is reachable over RSP;
    # the board's SVD makes its peripheral registers readable by name
    with firmwatch.connect(sim="cortex-m3", transport=request.param, budget=0,
                           svd=Path(__file__).parent / "data" / "svd" / "mps2-an385.svd") as d:
        yield d


def test_on_an_emulated_board(board):
    assert board.transport in ("rsp", "serial")
    assert board.read("g_config.magic") == 0xC0FFEE01
    assert board.read("g_config").channel_map == [0, 1, 2, 3]
    assert isinstance(board.read("fsm_state"), firmwatch.EnumValue)
    assert isinstance(board.read("uptime_s"), float)
    try:
        assert board.write("g_config.calib.gain_q8", 512) == 512
        s = board.wait_until("accel_x", lambda v: v > 1500, timeout=5)
        assert s.value <= 2000
    finally:
        board.write("g_config.calib.gain_q8", 256)
    with board.watch(["accel_x", "timestamp_ms"], rate=50, duration=1.0) as w:
        samples = list(w)
        loss = w.loss()
    for name in ("accel_x", "timestamp_ms"):
        times = [s.target_time for s in samples if s.name == name]
        assert len(times) >= 10 and all(b > a for a, b in zip(times, times[1:])), name
        # what arrived plus what is counted missing is what the schedule promised: exactly when the
        # device schedules the samples (the streamer), at least that over RSP, whose rounds the host
        # times (a late round counts as a gap there)
        span = times[-1] - times[0]
        accounted = len(times) - 1 + loss.missing[name]
        if board.transport == "serial":
            assert abs(accounted - 50 * span) <= 2, (name, len(times), loss)
        else:
            assert accounted >= 50 * span - 2, (name, len(times), loss)
    rec = board.record(["accel_y"], duration=0.5, rate=50, table="rows")
    assert rec.table and all(r["name"] == "accel_y" for r in rec.table)
    if board.transport == "rsp":
        assert rec.halted_fraction is not None, "a GDB transport reports its halted share"
    if board.transport == "rsp":  # the program counter sampled through the gdb stub
        prof = board.profile(1.0, rate_hz=200)
        names = [f.name for f in prof.top(10)]
        assert prof.mode == "sampled" and names, prof
        assert any(n.startswith(("demo_", "main", "fw_", "sine_", "triangle", "xorshift")) for n in names), names
    else:
        with pytest.raises(firmwatch.UserError) as e:
            board.profile(0.5, mode="sampled")
        assert "GDB server" in one_sentence(e.value)
    # peripheral registers through the same read: the port's 1 kHz SysTick reload at 25 MHz
    assert board.read("SysTick.LOAD") == 24999
    assert board.read("TIMER0.CTRL.EN") == 1


def test_rtos_snapshot_through_the_api():
    require_board("cortex-m3")
    with firmwatch.connect(sim="cortex-m3-freertos", transport="rsp") as d:
        snap = d.rtos()
        for _ in range(5):  # the first refresh discovers the lists; a later one is complete
            if snap.complete:
                break
            snap = d.rtos()
        assert snap.complete, snap.problems
        names = {r.task.name for r in snap.tasks}
        assert len(names) >= 8 and "IDLE" in names, names
        assert snap.running is not None
