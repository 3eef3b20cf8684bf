"""The streamer on the emulated targets, through their real UART ptys and the real Python host.

Cortex-M3 and RISC-V run our firmware under QEMU, the ATmega328P under simavr (our harness).
The host build has the same scenarios in test_streamer.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firmwatch.symbols import load
from firmwatch.targets.base import AccessRefused, Region
from firmwatch.targets.streamer import StreamerTarget
from test_streamer import Collector, FaultyLink, _rates_ok, wait_for
from tools import require_tool

TOOLS = {
    "cortex-m3": ("arm-none-eabi-gcc", "qemu-system-arm"),
    "riscv32": ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"),
    "avr": ("avr-gcc", "simavr"),
}


@pytest.fixture(scope="module", params=sorted(TOOLS))
def device(request) -> Iterator[tuple[str, object, object]]:
    for tool in TOOLS[request.param]:
        require_tool(tool)
    from firmwatch.sim import start_sim

    dev = start_sim(request.param)
    try:
        yield request.param, dev, load(str(dev.elf))
    finally:
        dev.stop()


def addr(program, name: str) -> tuple[int, int]:
    v = program.find_variable(name)
    return v.address, v.size


def test_identify_reports_the_elf_build_and_regions(device):
    target, dev, program = device
    with StreamerTarget(dev.port) as t:
        info = t.info()
    assert info.byteorder == program.elf.byteorder
    assert info.build_id and program.elf.build_id_source == "gnu"
    assert info.build_id == program.elf.build_id
    a, size = addr(program, "g_config")
    assert any(r.writable and r.contains(a, size) for r in info.regions)
    s, n = addr(program, "sine_table")
    assert any(r.readable and not r.writable and r.contains(s, n) for r in info.regions)


def test_sixteen_streams_at_mixed_rates_lose_nothing_unaccounted(device):
    target, dev, program = device
    names = ["heartbeat_counter", "loop_count", "accel_x", "accel_y", "accel_z", "sensor_temp",
             "button_state", "fsm_state"]
    rates = [1, 10, 100, 1000]
    c = Collector()
    with StreamerTarget(dev.port) as t:
        t.on_sample(c)
        started = {}
        for i in range(16):
            a, size = addr(program, names[i % len(names)])
            started[t.start_stream([Region(a, min(size, 4))], rates[i % 4])] = rates[i % 4]
        wait_for(lambda: min(c.count(s) for s, r in started.items() if r == 1) >= 4, 30, "4 samples at 1 Hz")
        per_stream = t.status().stream_dropped
        t.stop_stream(None)
        st = t.stats(refresh_device=True)
    assert st.corrupt_frames == 0
    assert st.lost == st.device_dropped  # every missing frame is one the device says it dropped
    for sid, rate in started.items():
        achieved, missing = _rates_ok(c.samples[sid], rate, per_stream.get(sid, 0))
        assert abs(achieved - rate) <= 0.05 * rate, (target, sid, rate, achieved)
        assert abs(missing) <= 1, (target, sid, rate, missing)


def test_values_updated_in_the_tick_interrupt_are_never_torn(device):
    target, dev, program = device
    order = program.elf.byteorder
    (c64, _), (pair, _), (ts, _) = (addr(program, n) for n in ("event_counter64", "g_pair", "timestamp_ms"))
    c = Collector()
    with StreamerTarget(dev.port) as t:
        t.on_sample(c)
        sid = t.start_stream([Region(c64, 8), Region(pair, 8), Region(ts, 8)], 1000)
        wait_for(lambda: c.count(sid) >= 1500, 30, "1500 samples")
        t.stop_stream(sid)
    last = -1
    for s in c.samples[sid]:
        cnt, ab, stamp = (int.from_bytes(d, order) for d in s.data)
        assert cnt >> 32 == cnt & 0xFFFFFFFF, s
        a, b = ab & 0xFFFFFFFF, ab >> 32
        assert b == a ^ 0xFFFFFFFF and a == stamp & 0xFFFFFFFF, s
        assert stamp > last
        assert stamp == round(s.target_time * 1000), s  # sampled in the tick that stamped it
        last = stamp


def test_write_reads_back_and_refusals_are_sentences(device):
    target, dev, program = device
    a, _ = addr(program, "g_config")
    off = a + 4  # calib.offset (int16) follows the 32-bit magic
    table, _ = addr(program, "sine_table")
    with StreamerTarget(dev.port) as t:
        old = t.read(off, 2)
        assert t.write(off, b"\x34\x12") == b"\x34\x12"
        assert t.read(off, 2) == b"\x34\x12"
        t.write(off, old)
        with pytest.raises(AccessRefused, match="not inside a writable region"):
            t.write(table, b"\x00\x00")
        with pytest.raises(AccessRefused, match="readable"):
            t.read(0xFFFFFF00 if target != "avr" else 0x80F000, 4)
        assert t.read(table, 2)  # the link is still fine


def test_garbage_and_corruption_never_reach_the_caller(device):
    target, dev, program = device
    order = program.elf.byteorder
    c64, _ = addr(program, "event_counter64")
    pair, _ = addr(program, "g_pair")
    c = Collector()
    link = FaultyLink(dev.port)
    try:
        with StreamerTarget(link.url) as t:
            t.on_sample(c)
            sid = t.start_stream([Region(c64, 8), Region(pair, 8)], 1000)
            wait_for(lambda: c.count(sid) >= 2000 and link.junk >= 3 and link.flips >= 3, 60, "damaged traffic")
            link.to_device(b"\xaa\x55\x02\xff\x00garbage\n\x00\x01")
            assert t.read(pair, 8)
            t.stop_stream(sid)
            st = t.stats(refresh_device=True)
    finally:
        link.close()
    samples = c.samples[sid]
    for s in samples:
        cnt, ab = (int.from_bytes(d, order) for d in s.data)
        assert cnt >> 32 == cnt & 0xFFFFFFFF, s
        assert ab >> 32 == (ab & 0xFFFFFFFF) ^ 0xFFFFFFFF, s
    seqs = [s.seq for s in samples]
    assert len(seqs) + st.lost == (seqs[-1] - seqs[0]) % 65536 + 1
    assert st.corrupt_frames >= link.junk
