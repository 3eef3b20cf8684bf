"""Fault injection on the serial link, against the real host device (firmware/ports/host on its
pty): what someone else left in the device's receive buffer, and a relay that damages bytes.

Issue 9.1 and 9.2. The corrupting relay is tests/fault_relay.py; the CLI-level corruption
suite (every recorded value checked, 30 connects per rate and mode) is test_faults_record.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from firmwatch.sim import SimDevice
from firmwatch.symbols import load
from firmwatch.targets.base import Region, Sample
from firmwatch.targets.streamer import StreamerTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_relay import CorruptingRelay  # noqa: E402


@pytest.fixture(scope="module")
def symbols(host: SimDevice) -> dict[str, int]:
    program = load(host.elf)
    names = ("timestamp_ms", "g_pair", "event_counter64", "g_config")
    return {n: program.find_variable(n).address for n in names}


def _write_raw(port: str, data: bytes) -> None:
    """What `printf '...' > PORT` does: bytes to the device, no protocol. (O_NOCTTY: a test
    process without a terminal must not make the device's pty its controlling terminal.)"""
    fd = os.open(port, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_a_partial_frame_left_in_the_device_does_not_fail_the_connect(host, symbols):
    """Issue 9.2: `printf '\\xaa\\x55\\x07\\x7f\\x00' > PORT` left a frame header waiting for 130
    more bytes, which swallowed the next two connects' commands ("no streamer answered")."""
    with StreamerTarget(host.port) as t:
        errors_before = t.status().rx_errors
    _write_raw(host.port, b"\xaa\x55\x07\x7f\x00")
    sent: list[bytes] = []

    class Counting(StreamerTarget):
        def _send_frame(self, data: bytes) -> None:
            sent.append(data)
            super()._send_frame(data)

    with Counting(host.port) as t:
        assert t.mode == "binary"
        # the first IDENTIFY of the first connect was answered: no second attempt went out
        identifies = [d for d in sent if d[-9:-6] == b"\xaa\x55\x01"]
        assert len(identifies) == 1 and identifies[0].startswith(bytes(256) + b"\n")
        assert t.read(symbols["g_config"], 4) == (0xC0FFEE01).to_bytes(4, "little")
        # the device discarded exactly the half frame, and said so
        assert t.status().rx_errors == errors_before + 1


def test_a_half_typed_command_is_discarded_not_executed(host, symbols):
    """A person typed `WRITE <magic> 00` in a terminal and closed it without Enter: the next
    connect must neither fail nor carry out the write with the host's bytes appended."""
    magic = symbols["g_config"]
    _write_raw(host.port, f"WRITE 0x{magic:08X} 00".encode())
    with StreamerTarget(host.port) as t:
        assert t.read(magic, 4) == (0xC0FFEE01).to_bytes(4, "little")


@pytest.mark.parametrize("mode", ["binary", "text"])
def test_a_corrupting_link_never_delivers_a_wrong_value(host, symbols, mode):
    """Issue 9.1 at the transport: 1e-2 of the bytes in both directions flipped, dropped or
    followed by a stray byte. Every delivered sample is checked against the firmware's own
    invariants; what is lost is counted (received + lost = what the sequence numbers span)."""
    ts, pair, ctr = symbols["timestamp_ms"], symbols["g_pair"], symbols["event_counter64"]
    wrong: list[str] = []
    delivered = 0
    with CorruptingRelay(host.port, rate=1e-2, seed=11 if mode == "binary" else 12) as relay:
        for _ in range(3):
            samples: list[Sample] = []
            # 1e-2 damages most of a 70-byte text line: commands get ten attempts' worth of time
            with StreamerTarget(relay.port, mode=mode, retries=9) as t:
                t.on_sample(samples.append)
                if mode == "binary":
                    sids = [t.start_stream([Region(ts, 8), Region(pair, 8), Region(ctr, 8)], 1000)]
                else:  # one region per stream in text mode
                    sids = [t.start_stream([Region(a, 8)], 500) for a in (ts, pair, ctr)]
                deadline = time.monotonic() + 20
                while len(samples) < 300 and time.monotonic() < deadline:
                    time.sleep(0.02)
                st = t.stats()
            assert len(samples) >= 300, "the link carried too little to judge"
            delivered += len(samples)
            for s in samples:
                tick = round(s.target_time * 1000)
                low = tick & 0xFFFFFFFF
                values = [int.from_bytes(d, "little") for d in s.data]
                # binary: one stream of the three regions; text: one stream each
                named = zip(("ts", "pair", "ctr"), values) if mode == "binary" else [
                    (("ts", "pair", "ctr")[sids.index(s.stream)], values[0])]
                for name, v in named:
                    ok = {
                        "ts": v == tick,
                        "pair": v & 0xFFFFFFFF == low and v >> 32 == low ^ 0xFFFFFFFF,
                        "ctr": v >> 32 == v & 0xFFFFFFFF == low,
                    }[name]
                    if not ok:
                        wrong.append(f"{name} 0x{v:x} at tick {tick} (seq {s.seq})")
            assert st.corrupt_frames > 0  # the relay really damaged the link
        assert relay.to_host.total > 100 and relay.to_device.total > 0
    assert not wrong, wrong[:5]
    assert delivered >= 900
