"""Session logic against an in-process fake target (the real-device tests are in test_session_device.py)."""

from __future__ import annotations

import csv
import time

import pytest

from firmwatch.session.session import Session, SessionError
from firmwatch.symbols.program import ElfInfo, Program
from firmwatch.symbols.types import TypeTable
from firmwatch.targets.base import LinkStats, Sample, Target, TargetInfo


class FakeStreamer(Target):
    """Streams on demand: ``tick()`` advances the device clock by 1 ms and emits due samples."""

    capabilities = frozenset({"read", "write", "stream"})

    def __init__(self, base: int = 0x1000, size: int = 256, max_streams: int = 4):
        self.base = base
        self.mem = bytearray(size)
        self.streams: dict[int, tuple[list, float, float]] = {}
        self.cb = None
        self.ticks = 0
        self.seq = 0
        self.max_streams = max_streams
        self.started = 0

    def info(self) -> TargetInfo:
        return TargetInfo("fake", "little", 4, None, tick_hz=1000, max_streams=self.max_streams, max_stream_bytes=64)

    def read(self, address: int, size: int) -> bytes:
        off = address - self.base
        return bytes(self.mem[off : off + size])

    def write(self, address: int, data: bytes) -> bytes:
        off = address - self.base
        self.mem[off : off + len(data)] = data
        return self.read(address, len(data))

    def start_stream(self, regions, rate_hz: float) -> int:
        sid = next(i for i in range(self.max_streams) if i not in self.streams)
        self.streams[sid] = (list(regions), rate_hz, 0.0)
        self.started += 1
        return sid

    def stop_stream(self, stream=None) -> None:
        if stream is None:
            self.streams.clear()
        else:
            self.streams.pop(stream, None)

    def on_sample(self, callback) -> None:
        self.cb = callback

    def stats(self) -> LinkStats:
        return LinkStats(samples=self.seq)

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.ticks += 1
            for sid, (regions, rate, phase) in list(self.streams.items()):
                phase += rate
                if phase >= 1000:
                    phase -= 1000
                    self.seq += 1
                    data = tuple(self.read(r.address, r.size) for r in regions)
                    self.cb(Sample(sid, self.seq, self.ticks / 1000, time.time(), data))
                self.streams[sid] = (regions, rate, phase)


def program() -> Program:
    elf = ElfInfo("fake.elf", "ARM", 32, "little", 4, 0, "00", "gnu")
    return Program(elf=elf, types=TypeTable(), variables=[], symbols=[])


def test_watches_receive_samples_at_their_rates():
    t = FakeStreamer()
    s = Session(program(), t)
    try:
        fast = s.add_watch("0x1000:4", 100)
        slow = s.add_watch("0x1004:2", 10)
        t.mem[0:4] = (1234).to_bytes(4, "little")
        t.tick(1000)
        assert fast.stats.received == 100
        assert slow.stats.received == 10
        assert fast.value().scalar == 1234
        assert fast.stats.rate() == pytest.approx(100, rel=0.02)
        assert fast.stats.missing == 0
    finally:
        s.close()


def test_rate_change_restarts_only_the_affected_stream():
    t = FakeStreamer()
    s = Session(program(), t)
    try:
        s.add_watch("0x1000:4", 100)
        s.add_watch("0x1010:4", 10)
        started = t.started
        s.set_rate("0x1010:4", 50)
        assert t.started == started + 1  # the 100 Hz stream kept running
        assert len(t.streams) == 2
    finally:
        s.close()


def test_more_watches_than_streams_fall_back_to_polling():
    t = FakeStreamer(max_streams=1)
    s = Session(program(), t)
    try:
        s.add_watch("0x1000:4", 100)
        w = s.add_watch("0x1010:4", 5)
        assert "device streams are in use" in s.polled_reason(w)
        t.mem[0x10:0x14] = (77).to_bytes(4, "little")
        deadline = time.monotonic() + 5
        while not w.has_value and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.value().scalar == 77
    finally:
        s.close()


def test_bad_rates_are_refused_with_a_sentence():
    s = Session(program(), FakeStreamer())
    try:
        with pytest.raises(SessionError, match="above what the target can sample"):
            s.add_watch("0x1000:4", 5000)
        with pytest.raises(SessionError, match="above 0 Hz"):
            s.add_watch("0x1000:4", 0)
        with pytest.raises(SessionError, match="not being watched"):
            s.set_rate("nothing", 10)
    finally:
        s.close()


def test_recorder_writes_every_sample_as_it_arrives(tmp_path):
    t = FakeStreamer()
    s = Session(program(), t)
    out = tmp_path / "rec.csv"
    try:
        s.add_watch("0x1000:4", 100)
        s.start_recording(str(out), "sess1")
        t.tick(500)
        # readable before the recording is stopped: a crash would lose nothing already received
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 50
        assert rows[0].keys() == {"session_id", "seq", "target_time_s", "host_time_s", "name", "value"}
        assert {r["session_id"] for r in rows} == {"sess1"}
        seqs = [int(r["seq"]) for r in rows]
        assert seqs == sorted(seqs)
    finally:
        s.close()


def test_missing_samples_are_counted_from_target_time_gaps():
    t = FakeStreamer()
    s = Session(program(), t)
    try:
        w = s.add_watch("0x1000:4", 100)
        t.tick(100)
        (sid,) = t.streams
        regions, rate, phase = t.streams[sid]
        t.streams.pop(sid)
        t.ticks += 50  # 50 ms pass with the stream silenced: 5 samples lost
        t.streams[sid] = (regions, rate, phase)
        t.tick(100)
        assert w.stats.missing == 5
    finally:
        s.close()
