"""Wire protocol v2 on the host side: frames, CRC, resync, messages, SAMPLES split, checked text lines."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmwatch.targets import protocol as P
from firmwatch.targets import textmode as T

VECTORS = Path(__file__).resolve().parent.parent / "docs" / "protocol-vectors.json"

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
regions = st.lists(st.tuples(u32, u16), max_size=8).map(tuple)
small_bytes = st.binary(max_size=64)

messages = st.one_of(
    st.builds(P.Identify, u8),
    st.builds(P.Read, u8, u32, u16),
    st.builds(P.Write, u8, u32, small_bytes),
    st.builds(P.StreamStart, u8, u8, u32, regions),
    st.builds(P.StreamStop, u8, u8),
    st.builds(P.ListStreams, u8),
    st.builds(P.Status, u8),
    st.builds(P.Mode, u8, st.integers(0, 1)),
    st.builds(P.Ack, u8),
    st.builds(
        P.Ident,
        u8,
        u8,
        u8,
        u8,
        u8,
        u32,
        u8,
        u8,
        u16,
        u16,
        u16,
        st.binary(max_size=20),
        st.lists(st.builds(P.IdentRegion, u32, u32, u8), max_size=6),
    ),  # fmt: skip
    st.builds(P.ReadData, u8, u32, small_bytes),
    st.builds(P.WriteData, u8, u32, small_bytes),
    st.builds(P.ListData, u8, st.lists(st.builds(P.StreamDef, u8, u32, regions), max_size=4)),
    st.builds(P.StatusData, u8, u32, u32, u32, u16, u16, u16, u32, st.dictionaries(u8, u32, max_size=16), u16),
    st.builds(P.Error, u8, u8, u32),
    st.builds(P.Samples, u16, u32, u16, small_bytes),
)


def test_crc_is_ccitt_false():
    # the catalogued check value of CRC-16/CCITT-FALSE
    assert P.crc16(b"123456789") == 0x29B1


def test_identify_frame_bytes_by_hand():
    # AA 55 | 01 | 01 00 | 05 | crc LE | 0A, crc computed over 01 01 00 05
    frame = P.Identify(5).encode()
    assert frame[:6] == bytes.fromhex("aa5501010005")
    assert frame[6:8] == P.crc16(bytes.fromhex("01010005")).to_bytes(2, "little")
    assert frame[-1] == 0x0A
    assert len(frame) == 1 + P.FRAME_OVERHEAD


@given(messages)
def test_every_message_round_trips(msg):
    frame = msg.encode()
    (decoded,) = P.FrameDecoder().feed(frame)
    assert decoded[0] == msg.TYPE
    assert P.decode_message(decoded[0], decoded[1]) == msg


def test_truncated_and_overlong_payloads_are_protocol_errors():
    payload = P.Ident(1, 1, 0, 4, 4, 1000, 16, 8, 64, 255, 1024, b"ab", [P.IdentRegion(0, 16, 3)]).pack()
    with pytest.raises(P.ProtocolError, match="truncated IDENT"):
        P.Ident.unpack(payload[:-1])
    with pytest.raises(P.ProtocolError, match="unexpected bytes"):
        P.Ident.unpack(payload + b"\0")
    with pytest.raises(P.ProtocolError, match="unknown message type 0x42"):
        P.decode_message(0x42, b"")


@settings(max_examples=60, deadline=None)  # timing varies with machine load; the property does not
@given(st.lists(messages, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_decoder_gives_same_frames_for_any_chunking(msgs, rnd):
    stream = b"".join(m.encode() for m in msgs)
    whole = P.FrameDecoder().feed(stream)
    dec = P.FrameDecoder()
    one_by_one = [f for i in range(len(stream)) for f in dec.feed(stream[i : i + 1])]
    dec = P.FrameDecoder()
    chunked = []
    pos = 0
    while pos < len(stream):
        n = rnd.randint(1, 40)
        chunked += dec.feed(stream[pos : pos + n])
        pos += n
    assert whole == one_by_one == chunked == [(m.TYPE, m.pack()) for m in msgs]
    assert dec.pending == 0 and dec.corrupt_frames == 0 and dec.skipped_bytes == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(messages, min_size=1, max_size=16),
    st.data(),
)
def test_corruption_never_yields_a_wrong_frame_and_is_counted(msgs, data):
    frames = [m.encode() for m in msgs]
    # corrupt some frames with a burst of at most 8 bits (CRC-16 detects every such burst),
    # and put junk (without a sync) between some frames
    bad = data.draw(st.sets(st.integers(0, len(frames) - 1)))
    wire = bytearray()
    counted = 0  # corrupted frames whose sync survived: each must show up in corrupt_frames
    for i, f in enumerate(frames):
        junk = data.draw(st.binary(max_size=6)).replace(b"\xaa", b"\x00")
        wire += junk
        f = bytearray(f)
        if i in bad:
            pos = data.draw(st.integers(0, len(f) - 1))
            f[pos] ^= data.draw(st.integers(1, 0xFF))
            counted += pos >= 2
        wire += f
    dec = P.FrameDecoder()
    got = []
    pos = 0
    while pos < len(wire):
        n = data.draw(st.integers(1, 50))
        got += dec.feed(bytes(wire[pos : pos + n]))
        pos += n
    while dec.pending:  # the link went quiet: give up partial frames as a reader would
        got += dec.flush_stale()
    expected = [(m.TYPE, m.pack()) for i, m in enumerate(msgs) if i not in bad]
    assert got == expected
    # a corrupted sync byte turns a frame into plain junk; every other corruption is a counted frame
    assert dec.corrupt_frames >= counted
    if not bad:
        assert dec.corrupt_frames == 0


def test_resync_finds_a_real_frame_behind_a_false_sync():
    real = P.Ack(7).encode()
    # a false sync whose length field swallows the real frame: the decoder must rescan inside it
    false_start = b"\xaa\x55\x80\x20\x00"
    dec = P.FrameDecoder()
    out = dec.feed(false_start + real + b"\x00" * 40)
    assert out == [(P.ACK, b"\x07")]
    assert dec.corrupt_frames == 1


def test_absurd_length_is_rejected_without_waiting():
    dec = P.FrameDecoder(max_payload=255)
    out = dec.feed(b"\xaa\x55\x90\xff\xff" + P.Ack(1).encode())
    assert out == [(P.ACK, b"\x01")] and dec.corrupt_frames == 1


def test_stale_partial_frame_is_flushed():
    dec = P.FrameDecoder()
    real = P.Ack(3).encode()
    assert dec.feed(b"\xaa\x55\x81\x40\x00" + real) == []  # waits for 64 bytes that never come
    assert dec.flush_stale() == [(P.ACK, b"\x03")]
    assert dec.corrupt_frames == 1 and dec.pending == 0


def test_samples_unpacker_matches_split_and_checks_layout():
    sizes = {0: (4,), 3: (2, 8), 9: (1,)}
    body = bytes(range(4)) + bytes(range(10, 20)) + b"\x77"
    msg = P.Samples(513, 0xFFFFFFF0, (1 << 0) | (1 << 3) | (1 << 9), body)
    payload = msg.pack()
    u = P.SamplesUnpacker(2, sizes)
    seq, ticks, per = u.unpack(payload)
    assert (seq, ticks) == (513, 0xFFFFFFF0)
    assert dict(per) == P.Samples.unpack(payload).split(sizes)
    assert dict(per) == {0: (b"\0\1\2\3",), 3: (b"\x0a\x0b", bytes(range(12, 20))), 9: (b"\x77",)}
    with pytest.raises(P.UnknownStream, match="stream 5"):
        u.unpack(P.Samples(1, 1, 1 << 5, b"\0").pack())
    with pytest.raises(P.ProtocolError, match="stream table expects"):
        u.unpack(payload + b"\0")


def test_mask_bit_order_is_byte_then_lsb_first():
    # stream 9 = mask byte 1, bit 1
    payload = P.Samples(0, 0, 1 << 9, b"\x01").pack()
    assert payload[6:8] == b"\x00\x02"
    assert P.mask_streams(0b1000000101) == [0, 2, 9]


# ---------------------------------------------------------------- text mode


def test_seed_data_line_round_trips():
    line = T.format_data(0x20000010, bytes.fromhex("AB12CD34"))
    body = b"DATA|addr=0x20000010|hex=AB12CD34"
    assert line == body + b"|crc=%04X\n" % P.crc16(body)
    d = T.parse_data(T.parse_line(line))
    assert (d.addr, d.data, d.ticks, d.seq, d.stream) == (
        0x20000010,
        bytes.fromhex("ab12cd34"),
        None,
        None,
        None,
    )
    d = T.parse_data(T.parse_line(T.with_check(b"DATA|addr=0x20000010|hex=01|t=1234|seq=17|stream=2|future=x")))
    assert (d.ticks, d.seq, d.stream) == (1234, 17, 2)


def test_unchecked_or_damaged_lines_are_never_believed():
    """Issue 9.1: a text line that still parses after a flip was a wrong value. Every line
    the device sends is checked; any single damaged byte (flip, drop, insert) is refused."""
    line = T.format_data(0x20000010, bytes.fromhex("AB12CD34"), 1234, 17, 2)
    assert T.parse_line(line) is not None
    assert T.parse_line(b"DATA|addr=0x20000010|hex=AB12CD34\n") is None  # v1 line: no check
    rnd = random.Random(9)
    body = line[:-1]
    good = T.parse_line(line)

    def refused_or_same(raw: bytes) -> bool:
        reply = T.parse_line(raw)
        return reply is None or reply == good  # e.g. the check's hex digits in lower case

    for i in range(len(body)):
        for bit in range(8):
            flipped = bytearray(body)
            flipped[i] ^= 1 << bit
            assert refused_or_same(bytes(flipped)), (i, bit, flipped)
        assert refused_or_same(body[:i] + body[i + 1 :])  # a drop
        for _ in range(8):
            ins = bytes([rnd.randrange(256)])
            assert refused_or_same(body[:i] + ins + body[i:])  # an insert


def test_host_commands_carry_their_check():
    for cmd in (T.cmd_info(), T.cmd_read(0x20000010, 4), T.cmd_write(0x20000010, b"\x01"), T.cmd_stop(None),
                T.cmd_stream(0x20000010, 4, 333.333), T.cmd_status()):  # fmt: skip
        assert cmd.endswith(b"\n") and T.checked_body(cmd[:-1]) is not None, cmd
    assert T.cmd_stream(0x20000010, 2, 100) == T.with_check(b"STREAM 0x20000010 2 100")
    assert T.cmd_stream(0x20000010, 2, 0.5) == T.with_check(b"STREAM 0x20000010 2 0.5")


def test_info_line_parses_to_ident():
    ident = P.Ident(
        0, 2, 1, 2, 4, 1000, 16, 8, 64, 255, 512, b"\xde\xad",
        [P.IdentRegion(0x800100, 0x800, 3), P.IdentRegion(0x68, 0x10, 1)],
    )  # fmt: skip
    parsed = T.parse_info(T.parse_line(T.format_info(ident)))
    assert parsed == ident
    assert parsed.big_endian


def test_error_and_noise_lines():
    err = T.parse_error(T.parse_line(T.format_error(4, 0x08000100)))
    assert (err.code, err.name, err.detail) == (4, "NOT_WRITABLE", 0x08000100)
    assert T.parse_line(b"\xaa\x55garbage") is None
    assert T.parse_line(b"DATA|addr") is None
    assert T.parse_line(b"") is None
    with pytest.raises(P.ProtocolError, match="not hexadecimal"):
        T.parse_data(T.parse_line(T.with_check(b"DATA|addr=0x1|hex=zz")))


def test_line_decoder_chunking():
    text = b"OK\nDATA|addr=0x1|hex=00\r\nSTATUS|dropped=3\n"
    rnd = random.Random(1)
    for _ in range(20):
        dec = T.LineDecoder()
        got: list[bytes] = []
        pos = 0
        while pos < len(text):
            n = rnd.randint(1, 7)
            got += dec.feed(text[pos : pos + n])
            pos += n
        assert got == [b"OK", b"DATA|addr=0x1|hex=00", b"STATUS|dropped=3"]


# ---------------------------------------------------------------- shared vectors (docs/protocol-vectors.json)


@pytest.fixture(scope="module")
def vectors() -> dict:
    # the file is part of the protocol contract: its absence is a failure, not a skip
    return json.loads(VECTORS.read_text())


def _expected_fields(msg: P.Message) -> dict:
    """The message in the vocabulary of the vectors file."""
    if isinstance(msg, P.Samples):
        return {"seq": msg.seq, "ticks": msg.ticks, "mask_hex": msg.mask.to_bytes(2, "little").hex()}
    out: dict = {}
    for f in dataclasses.fields(msg):
        name = f.name
        v = getattr(msg, name)
        if name == "data":
            out["data_hex"] = v.hex()
        elif name == "build_id":
            out[name] = v.hex()
        elif name == "regions" and isinstance(msg, P.Ident):
            out[name] = [{"start": r.start, "size": r.size, "access": r.access} for r in v]
        elif name == "regions":
            out["n"] = len(v)
            out[name] = [{"addr": a, "size": z} for a, z in v]
        elif name == "streams":
            out[name] = [
                {
                    "stream": d.stream,
                    "rate_mhz": d.rate_mhz,
                    "regions": [{"addr": a, "size": z} for a, z in d.regions],
                }
                for d in v
            ]
        elif name in ("channels",):
            out[name] = [{"addr": a, "size": z} for a, z in v]
        elif name == "filters":
            out[name] = [{"kind": k, "deadband": b} for k, b in v]
        elif name == "stream_dropped":
            out["streams"] = [{"stream": k, "dropped": d} for k, d in v.items()]
        else:
            out[name] = v
    if isinstance(msg, P.Error):
        out["name"] = msg.name
    return out


def test_vector_crcs(vectors):
    assert vectors["crc"]
    for c in vectors["crc"]:
        assert P.crc16(bytes.fromhex(c["hex"])) == int(c["crc"], 16), c["note"]


def test_vector_frames_encode_and_decode(vectors):
    checked = 0
    for v in vectors["vectors"]:
        raw = bytes.fromhex(v["hex"])
        dec = P.FrameDecoder()
        frames = dec.feed(raw)
        if not v["valid"]:
            assert frames == [] and dec.corrupt_frames == 1, v["name"]
            continue
        payload = bytes.fromhex(v["payload_hex"])
        assert P.encode_frame(v["type"], payload) == raw, v["name"]
        assert frames == [(v["type"], payload)], v["name"]
        try:
            msg = P.decode_message(v["type"], payload)
        except P.ProtocolError:
            # malformed commands the device must answer with an error (unknown type, bad length):
            # the host's strict parser refuses them too; nothing the device sends may be refused
            assert v["dir"] == "host_to_device", v["name"]
            continue
        fields = dict(v["fields"])
        if isinstance(msg, P.Samples):
            sizes = {d["stream"]: (len(bytes.fromhex(d["data_hex"])),) for d in fields.pop("streams")}
            split = msg.split(sizes)
            assert {s: d[0].hex() for s, d in split.items()} == {
                d["stream"]: d["data_hex"] for d in v["fields"]["streams"]
            }, v["name"]
        assert _expected_fields(msg) == fields, v["name"]
        assert msg.encode() == raw, v["name"]
        checked += 1
    assert checked >= 15


def test_vector_sessions_decode_cleanly(vectors):
    """Every byte the reference device sends in the sessions decodes into messages the host knows."""
    for session in vectors["sessions"]:
        layouts: dict[int, tuple[int, ...]] = {}
        dec = P.FrameDecoder()
        lines = T.LineDecoder()
        for step in session["steps"]:
            for t, payload in P.FrameDecoder().feed(bytes.fromhex(step.get("send_hex", ""))):
                if t == P.STREAM_START:
                    try:
                        m = P.StreamStart.unpack(payload)
                    except P.ProtocolError:
                        continue  # the sessions also send malformed commands on purpose
                    layouts[m.stream] = tuple(z for _, z in m.regions)
            for t, payload in dec.feed(bytes.fromhex(step.get("expect_hex", ""))):
                msg = P.decode_message(t, payload)
                if isinstance(msg, P.Samples):
                    seq, ticks, per = P.SamplesUnpacker(2, layouts).unpack(payload)
                    assert (seq, ticks) == (msg.seq, msg.ticks)
                    assert [s for s, _ in per] == msg.streams
            sent = step.get("send_text", "").split()
            for line in lines.feed(step.get("expect_text", "").encode()):
                reply = T.parse_line(line)
                assert reply is not None, line
                if sent[:1] == ["STREAM"] and reply.kind == "OK":
                    layouts[reply.get_int("stream")] = (T.parse_number(sent[2]),)
                if reply.kind == "INFO":
                    ident = T.parse_info(reply)
                    assert ident.max_payload == vectors["device"]["max_payload"]
                    assert ident.build_id.hex() == vectors["device"]["build_id"]
                    assert [(r.start, r.size, r.access) for r in ident.regions] == [
                        (r["start"], r["size"], r["access"]) for r in vectors["device"]["regions"]
                    ]
                elif reply.kind == "DATA":
                    T.parse_data(reply)
                elif reply.kind == "ERR":
                    err = T.parse_error(reply)
                    assert P.ERROR_NAMES[err.code] == reply.fields["name"]
                elif reply.kind == "STATUS":
                    T.parse_status(reply)
        assert dec.corrupt_frames == 0 and dec.pending == 0, session["name"]


def test_vector_corruption_device_to_host(vectors):
    cases = [c for c in vectors["corrupt"] if c["dir"] == "device_to_host"]
    assert cases
    for c in cases:
        raw = bytes.fromhex(c["hex"])
        want = [bytes.fromhex(f) for f in c["frames"]]
        for chunk in (len(raw), 1, 3):
            dec = P.FrameDecoder(max_payload=128)
            got = []
            for i in range(0, len(raw), chunk):
                got += dec.feed(raw[i : i + chunk])
            assert [P.encode_frame(t, p) for t, p in got] == want, c["name"]
            assert dec.corrupt_frames == c["corrupt_frames"], c["name"]


def test_vector_corruption_host_to_device_replies_parse(vectors):
    for c in (c for c in vectors["corrupt"] if c["dir"] == "host_to_device"):
        # what the host would find in its own input stream: the good IDENTIFY, nothing else
        frames = P.FrameDecoder(max_payload=128).feed(bytes.fromhex(c["hex"]))
        assert [t for t, _ in frames] == [P.IDENTIFY], c["name"]
        reply = P.FrameDecoder().feed(bytes.fromhex(c["reply_hex"]))
        assert [P.decode_message(t, p).tag for t, p in reply] == [frames[0][1][0]], c["name"]
