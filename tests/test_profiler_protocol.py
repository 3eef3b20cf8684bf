"""The MiniProfiler codec against the seed document's own example dumps, byte for byte.

The dumps are copied from seed 004 ("Example Packet Dumps" and the command examples) as they are
written there. Response dumps print the CRC as ``XX XX``: those two bytes are the only ones the
test fills in (with the CRC the seed's own rule gives); every other byte must match exactly.
"""

from __future__ import annotations

import random
import struct
from binascii import crc_hqx

import pytest

from firmwatch.profiler import protocol as p

# -- the seed's dumps, verbatim (comments dropped) ------------------------------------------------
SEED_START = "55 01 00 00 00 00 00 00 00 00 00 56"
SEED_GET_METADATA = "55 05 00 00 00 00 00 00 00 00 00 5A"
SEED_METADATA = """
AA 55 03 1C 00
00 09 FB 0A
40 42 0F 00
EF BE AD DE
76 31 2E 30 2E 30 00 ...
XX XX
0A
"""
SEED_PROFILE_DATA = """
AA 55 05 1F 00
01
02 00
00 01 00 08
E8 03 00 00
D0 07 00 00
00 00
20 02 00 08
F4 01 00 00
2C 01 00 00
01 00
XX XX
0A
"""


def dump_bytes(dump: str) -> bytes:
    """The dump's bytes with ``...`` as NUL padding up to the declared length and the CRC filled in."""
    toks = dump.split()
    head = bytes(int(t, 16) for t in toks[:5])
    length = head[3] | head[4] << 8
    body: list[int] = []
    for t in toks[5:]:
        if t == "XX":
            break
        if t == "...":
            body += [0] * (length - len(body))
            continue
        body.append(int(t, 16))
    assert len(body) == length, "the dump's payload must have the length its header declares"
    crc = crc_hqx(head + bytes(body), 0xFFFF)
    assert toks[-3:] == ["XX", "XX", "0A"]
    return head + bytes(body) + bytes((crc & 0xFF, crc >> 8, 0x0A))


def test_command_dumps_encode_byte_for_byte() -> None:
    assert p.encode_command(p.START_PROFILING) == bytes.fromhex(SEED_START)
    assert p.encode_command(p.GET_METADATA) == bytes.fromhex(SEED_GET_METADATA)
    assert p.decode_command(bytes.fromhex(SEED_START)) == (p.START_PROFILING, b"")
    assert p.decode_command(bytes.fromhex(SEED_GET_METADATA)) == (p.GET_METADATA, b"")
    # every command the seed lists, with its code
    assert {c: p.encode_command(c)[1] for c in p.COMMAND_NAMES} == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6}


def test_metadata_dump_decodes_exactly() -> None:
    frame = dump_bytes(SEED_METADATA)
    dec = p.FrameDecoder()
    [(t, payload)] = dec.feed(frame)
    assert t == p.METADATA and len(payload) == 28
    md = p.decode_metadata(payload)
    # The dump's bytes 00 09 FB 0A are 184,224,000 Hz; its comment says 168,000,000 (00 7A 03 0A).
    # We follow the bytes (docs/profiler.md, "What the seed says twice").
    assert md.mcu_clock_hz == 0x0AFB0900 == 184_224_000
    assert md.timer_hz == 1_000_000
    assert md.build_id == 0xDEADBEEF
    assert md.fw_version == "v1.0.0"
    # and encoding those fields gives the dump back, byte for byte
    assert p.encode_frame(p.METADATA, md.pack()) == frame
    assert dec.corrupt_frames == 0 and dec.skipped_bytes == 0


def test_profile_data_dump_decodes_exactly() -> None:
    frame = dump_bytes(SEED_PROFILE_DATA)
    [(t, payload)] = p.FrameDecoder().feed(frame)
    assert t == p.PROFILE_DATA
    records = p.decode_profile_data(payload)
    assert records == [(0x08000100, 1000, 2000, 0), (0x08000220, 500, 300, 1)]
    assert p.encode_frame(p.PROFILE_DATA, p.encode_profile_data(records)) == frame


def test_header_is_aa_then_55_as_every_dump_shows() -> None:
    # The seed's table calls the header "0xAA55 (little-endian)", which would put 55 first. Every
    # dump starts AA 55, and so do our frames; a 55 AA start is not a frame.
    assert p.encode_frame(p.ACK)[:2] == b"\xaa\x55"
    swapped = b"\x55\xaa" + dump_bytes(SEED_PROFILE_DATA)[2:]
    dec = p.FrameDecoder()
    assert dec.feed(swapped) == []


def test_crc_covers_the_header_and_uses_ccitt_false() -> None:
    assert p.crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    frame = p.encode_frame(p.ACK)
    assert frame == bytes.fromhex("AA 55 01 00 00") + struct.pack("<H", crc_hqx(bytes.fromhex("AA5501 0000"), 0xFFFF)) + b"\n"


def test_status_and_ack_nack_payloads() -> None:
    st = p.Status(True, 3, 120, 42)
    assert len(st.pack()) == 10
    assert p.decode_status(st.pack()) == st
    dec = p.FrameDecoder()
    frames = dec.feed(p.encode_frame(p.ACK) + p.encode_frame(p.NACK) + p.encode_frame(p.STATUS, st.pack()))
    assert [t for t, _ in frames] == [p.ACK, p.NACK, p.STATUS]
    with pytest.raises(p.ProtocolError, match="STATUS payload has 10 bytes"):
        p.decode_status(b"\x01" * 9)


def test_other_versions_are_refused_with_a_sentence() -> None:
    payload = p.encode_profile_data([(0x100, 1, 2, 0)], version=2)
    with pytest.raises(p.UnsupportedVersion) as e:
        p.decode_profile_data(payload)
    msg = str(e.value)
    assert "version 2" in msg and "version 1" in msg and msg.endswith(".")
    assert e.value.version == 2


def test_record_count_must_match_the_length() -> None:
    payload = p.encode_profile_data([(1, 2, 3, 0), (4, 5, 6, 1)])
    with pytest.raises(p.ProtocolError, match="announces 3 records"):
        p.decode_profile_data(payload[:1] + b"\x03\x00" + payload[3:])


def test_bad_commands_are_refused() -> None:
    good = bytearray(p.encode_command(p.SET_CONFIG, b"\x01\x02"))
    assert p.decode_command(bytes(good)) == (p.SET_CONFIG, b"\x01\x02")
    bad = bytearray(good)
    bad[11] ^= 1
    with pytest.raises(p.ProtocolError, match="checksum"):
        p.decode_command(bytes(bad))
    bad = bytearray(good)
    bad[7] = 9  # padding not zero
    bad[11] = sum(bad[:11]) & 0xFF
    with pytest.raises(p.ProtocolError, match="padding"):
        p.decode_command(bytes(bad))
    with pytest.raises(ValueError):
        p.encode_command(p.SET_CONFIG, bytes(9))


def test_corrupt_frames_are_counted_and_skipped_never_misdelivered() -> None:
    rng = random.Random(12)
    frames = [p.encode_frame(p.PROFILE_DATA, p.encode_profile_data([(0x100 + i, i, 10, 0)])) for i in range(200)]
    damaged = set(rng.sample(range(200), 40))
    stream = bytearray()
    sync_hit = 0
    for i, f in enumerate(frames):
        f = bytearray(f)
        if i in damaged:
            at = rng.randrange(len(f))
            f[at] ^= 1 << rng.randrange(8)
            sync_hit += at < 2
        stream += f
    dec = p.FrameDecoder()
    got: list[p.Record] = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking
        step = rng.randrange(1, 64)
        for t, payload in dec.feed(stream[pos : pos + step]):
            assert t == p.PROFILE_DATA
            got += p.decode_profile_data(payload)
        pos += step
    for _t, payload in dec.flush_stale():
        got += p.decode_profile_data(payload)
    want = [(0x100 + i, i, 10, 0) for i in range(200) if i not in damaged]
    assert got == want
    # A frame whose AA 55 was hit is no frame at all: its bytes are skipped (the link's account of
    # records lost, device count minus records received, covers it). Every other one counts.
    assert dec.corrupt_frames == len(damaged) - sync_hit
    assert (dec.skipped_bytes > 0) == (sync_hit > 0)


def test_streamer_frames_on_a_shared_line_are_foreign_not_corrupt() -> None:
    from firmwatch.targets import protocol as streamer

    ident = streamer.encode_frame(streamer.ACK, b"\x07")
    samples = streamer.encode_frame(streamer.SAMPLES, bytes(range(20)))
    ours = p.encode_frame(p.PROFILE_DATA, p.encode_profile_data([(0x200, 5, 6, 0)]))
    dec = p.FrameDecoder()
    out = dec.feed(ident + b"DATA|addr=0x20000000|hex=00\n" + ours + samples + ours)
    assert [t for t, _ in out] == [p.PROFILE_DATA, p.PROFILE_DATA]
    assert dec.foreign_frames == 2 and dec.corrupt_frames == 0
    # and the streamer's own decoder skips a profiler frame whole: not its own, not corrupt
    sdec = streamer.FrameDecoder()
    assert sdec.feed(ours + samples) == [(streamer.SAMPLES, bytes(range(20)))]
    assert sdec.foreign_frames == 1 and sdec.corrupt_frames == 0


class _JoinedMidStream:
    """A shared line joined while another protocol's frame is half sent: the first bytes the
    profiler sees are that frame's tail. Answers each command with an ACK."""

    url = "fake://shared"

    def __init__(self) -> None:
        self.tap: list = []

    def on_raw(self, callback) -> None:  # type: ignore[no-untyped-def]
        self.tap.append(callback)
        callback(bytes.fromhex("3fb60a"))  # the tail of a streamer frame sent before we listened

    def send_raw(self, data: bytes) -> None:
        for cb in self.tap:
            cb(p.encode_frame(p.ACK))


def test_a_shared_line_joined_mid_frame_is_no_loss_but_later_damage_is() -> None:
    from firmwatch.profiler.link import ProfilerLink

    gaps: list[int] = []
    line = _JoinedMidStream()
    link = ProfilerLink(line, on_gap=lambda: gaps.append(1))
    try:
        assert link.counters.skipped_bytes == 3
        link.reset()
        link.start()
        assert gaps == []  # before the reset nothing counted could be lost
        bad = bytearray(p.encode_frame(p.PROFILE_DATA, bytes(17)))
        bad[9] ^= 0x40  # a PROFILE_DATA frame damaged on the line
        line.tap[0](bytes(bad))
        assert gaps == [1] and link.counters.corrupt_frames == 1
    finally:
        link.close()
