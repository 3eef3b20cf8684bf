#!/usr/bin/env python3
"""Writes docs/protocol-vectors.json, the test vectors of the streamer wire protocol v3.

The expected bytes are built here from field values with a small encoder of its own (not
from the C core and not from firmwatch.targets.protocol), so the vectors are an independent
statement of docs/protocol.md that the C tests (tests/test_firmware_core.py) and the Python
tests (tests/test_protocol.py) both check.

    python3 firmware/tests/make_vectors.py            # rewrite the JSON
    python3 firmware/tests/make_vectors.py --check    # exit 1 if the JSON is stale
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "protocol-vectors.json"

# ---- the vector device (firmware/tests/test_core.c builds the same one) ----
BASE = 0x20000000
REGIONS = [(BASE, 0x100, 3), (BASE + 0x100, 0x40, 1)]
BUILD_ID = bytes(range(1, 9))
LIMITS = {
    "tick_hz": 1000,
    "max_streams": 16,
    "max_regions": 8,
    "max_total_regions": 24,
    "max_stream_bytes": 64,
    "max_payload": 128,
    "tx_size": 1024,
}
MASK_BYTES = (LIMITS["max_streams"] + 7) // 8

TYPE_NAMES = {
    0x01: "IDENTIFY",
    0x02: "READ",
    0x03: "WRITE",
    0x04: "STREAM_START",
    0x05: "STREAM_STOP",
    0x06: "LIST",
    0x07: "STATUS",
    0x08: "MODE",
    0x09: "STREAM_FILTER",
    0x0A: "CAPTURE_ARM",
    0x0B: "CAPTURE_CONTROL",
    0x0C: "CAPTURE_STATUS",
    0x0D: "CAPTURE_READ",
    0x80: "ACK",
    0x81: "IDENT",
    0x82: "READ_DATA",
    0x83: "WRITE_DATA",
    0x86: "LIST_DATA",
    0x87: "STATUS_DATA",
    0x88: "CAPTURE_STATUS_DATA",
    0x90: "SAMPLES",
    0x91: "CAPTURE_DATA",
    0xEE: "ERROR",
}
TYPES = {v: k for k, v in TYPE_NAMES.items()}
ERRORS = {
    "BAD_COMMAND": 1,
    "BAD_LENGTH": 2,
    "NOT_READABLE": 3,
    "NOT_WRITABLE": 4,
    "NO_STREAM": 5,
    "TOO_MANY_REGIONS": 6,
    "STREAM_TOO_BIG": 7,
    "BAD_RATE": 8,
    "TOO_BIG": 9,
    "BAD_MODE": 10,
    "READBACK": 11,
    "NO_CAPTURE": 12,
    "CAPTURE_TOO_BIG": 13,
    "BAD_CONDITION": 14,
}
# the optional modules (docs/protocol.md sections 15, 16): the IDENT flags that announce them,
# and the vector device's capture buffer and capture timer when built with them
OPTIONS = ["capture", "change_only"]
OPTION_FLAGS = 0x02 | 0x04
CAPTURE_BUFFER = 256
CAPTURE_TIMER_HZ = 100_000
CAPTURE_TIMER_MAX_DIVIDER = 1000
KINDS = {"none": 0, "any": 1, "unsigned": 2, "signed": 3, "float": 4}
OPS = {"none": 0, "rising": 1, "falling": 2, "cross": 3, "above": 4, "below": 5, "equal": 6,
       "not_equal": 7, "change": 8, "mask": 9}
ACTIONS = {"stop": 0, "force": 1, "release": 2}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bit by bit (deliberately not binascii.crc_hqx)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


PROTO = 3
# what a host sends at connect before IDENTIFY (docs/protocol.md, "Resynchronisation")
RESYNC = bytes(256) + b"\n"


def text_line(line: str) -> str:
    """A device line: ``line`` plus ``|crc=XXXX`` (the CRC of the bytes before it) and LF."""
    return f"{line}|crc={crc16(line.encode()):04X}\n"


def text_lines(*lines: str) -> str:
    return "".join(text_line(x) for x in lines)


def checked(command: str) -> str:
    """A command line as a host sends it: the same check before the newline."""
    return text_line(command)


def frame(type_: int, payload: bytes) -> bytes:
    body = bytes([type_]) + struct.pack("<H", len(payload)) + payload
    return b"\xaa\x55" + body + struct.pack("<H", crc16(body)) + b"\n"


def u8(v: int) -> bytes:
    return bytes([v])


def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def mem_init() -> bytearray:
    return bytearray(i & 0xFF for i in range(0x140))


# ---- message builders: (type, payload, fields) ----
Msg = tuple[int, bytes, dict[str, Any]]


def identify(tag: int) -> Msg:
    return TYPES["IDENTIFY"], u8(tag), {"tag": tag}


def read(tag: int, addr: int, size: int) -> Msg:
    return TYPES["READ"], u8(tag) + u32(addr) + u16(size), {"tag": tag, "addr": addr, "size": size}


def write(tag: int, addr: int, data: bytes) -> Msg:
    return TYPES["WRITE"], u8(tag) + u32(addr) + data, {"tag": tag, "addr": addr, "data_hex": data.hex()}


def stream_start(
    tag: int, stream: int, rate_mhz: int, regions: list[tuple[int, int]], n: int | None = None
) -> Msg:
    n = len(regions) if n is None else n
    p = u8(tag) + u8(stream) + u32(rate_mhz) + u8(n) + b"".join(u32(a) + u16(s) for a, s in regions)
    fields = {
        "tag": tag,
        "stream": stream,
        "rate_mhz": rate_mhz,
        "n": n,
        "regions": [{"addr": a, "size": s} for a, s in regions],
    }
    return TYPES["STREAM_START"], p, fields


def stream_stop(tag: int, stream: int) -> Msg:
    return TYPES["STREAM_STOP"], u8(tag) + u8(stream), {"tag": tag, "stream": stream}


def tag_only(name: str, tag: int) -> Msg:
    return TYPES[name], u8(tag), {"tag": tag}


def mode(tag: int, m: int) -> Msg:
    return TYPES["MODE"], u8(tag) + u8(m), {"tag": tag, "mode": m}


def ack(tag: int) -> Msg:
    return TYPES["ACK"], u8(tag), {"tag": tag}


def error(tag: int, name: str, detail: int) -> Msg:
    code = ERRORS[name]
    return (
        TYPES["ERROR"],
        u8(tag) + u8(code) + u32(detail),
        {"tag": tag, "code": code, "name": name, "detail": detail},
    )


def ident(tag: int, flags: int = 0) -> Msg:
    p = (
        u8(tag)
        + u8(PROTO)
        + u8(flags)
        + u8(4)
        + u8(4)
        + u32(LIMITS["tick_hz"])
        + u8(LIMITS["max_streams"])
        + u8(LIMITS["max_regions"])
        + u16(LIMITS["max_stream_bytes"])
        + u16(LIMITS["max_payload"])
        + u16(LIMITS["tx_size"])
        + u8(len(BUILD_ID))
        + BUILD_ID
        + u8(len(REGIONS))
        + b"".join(u32(s) + u32(z) + u8(a) for s, z, a in REGIONS)
    )
    fields = {
        "tag": tag,
        "proto_version": PROTO,
        "flags": flags,
        "word_size": 4,
        "addr_size": 4,
        "tick_hz": LIMITS["tick_hz"],
        "max_streams": LIMITS["max_streams"],
        "max_regions": LIMITS["max_regions"],
        "max_stream_bytes": LIMITS["max_stream_bytes"],
        "max_payload": LIMITS["max_payload"],
        "tx_size": LIMITS["tx_size"],
        "build_id": BUILD_ID.hex(),
        "regions": [{"start": s, "size": z, "access": a} for s, z, a in REGIONS],
    }
    return TYPES["IDENT"], p, fields


def data_reply(name: str, tag: int, addr: int, data: bytes) -> Msg:
    return TYPES[name], u8(tag) + u32(addr) + data, {"tag": tag, "addr": addr, "data_hex": data.hex()}


def list_data(tag: int, streams: list[tuple[int, int, list[tuple[int, int]]]]) -> Msg:
    p = u8(tag) + u8(len(streams))
    for s, rate, regs in streams:
        p += u8(s) + u32(rate) + u8(len(regs)) + b"".join(u32(a) + u16(z) for a, z in regs)
    fields = {
        "tag": tag,
        "streams": [
            {"stream": s, "rate_mhz": r, "regions": [{"addr": a, "size": z} for a, z in g]}
            for s, r, g in streams
        ],
    }
    return TYPES["LIST_DATA"], p, fields


def status_data(
    tag: int,
    *,
    dropped: int,
    overflows: int,
    rx_errors: int,
    tx_used: int,
    tx_high_water: int,
    ticks: int,
    seq: int,
    streams: list[tuple[int, int]],
) -> Msg:
    p = (
        u8(tag)
        + u32(dropped)
        + u32(overflows)
        + u32(rx_errors)
        + u16(tx_used)
        + u16(LIMITS["tx_size"])
        + u16(tx_high_water)
        + u32(ticks)
        + u16(seq)
        + u8(len(streams))
        + b"".join(u8(s) + u32(d) for s, d in streams)
    )
    fields = {
        "tag": tag,
        "dropped": dropped,
        "overflows": overflows,
        "rx_errors": rx_errors,
        "tx_used": tx_used,
        "tx_size": LIMITS["tx_size"],
        "tx_high_water": tx_high_water,
        "ticks": ticks,
        "seq": seq,
        "streams": [{"stream": s, "dropped": d} for s, d in streams],
    }
    return TYPES["STATUS_DATA"], p, fields


def samples(seq: int, ticks: int, data: dict[int, bytes]) -> Msg:
    mask = 0
    for s in data:
        mask |= 1 << s
    p = u16(seq) + u32(ticks) + mask.to_bytes(MASK_BYTES, "little") + b"".join(data[s] for s in sorted(data))
    fields = {
        "seq": seq,
        "ticks": ticks,
        "mask_hex": mask.to_bytes(MASK_BYTES, "little").hex(),
        "streams": [{"stream": s, "data_hex": data[s].hex()} for s in sorted(data)],
    }
    return TYPES["SAMPLES"], p, fields


def stream_filter(tag: int, stream: int, heartbeat: int, filters: list[tuple[str, int]], n: int | None = None) -> Msg:
    n = len(filters) if n is None else n
    p = u8(tag) + u8(stream) + u16(heartbeat) + u8(n) + b"".join(u8(KINDS[k]) + u32(b) for k, b in filters)
    fields = {
        "tag": tag,
        "stream": stream,
        "heartbeat": heartbeat,
        "filters": [{"kind": KINDS[k], "deadband": b} for k, b in filters],
    }
    return TYPES["STREAM_FILTER"], p, fields


def capture_arm(
    tag: int,
    *,
    mode: int = 0,
    source: int = 0,
    divider: int = 1,
    samples: int,
    pre: int,
    channel: int = 0,
    op: str = "none",
    kind: str = "unsigned",
    level: int = 0,
    mask: int = 0,
    channels: list[tuple[int, int]],
    op_code: int | None = None,
) -> Msg:
    opc = OPS[op] if op_code is None else op_code
    p = (
        u8(tag) + u8(mode) + u8(source) + u32(divider) + u32(samples) + u32(pre) + u8(channel) + u8(opc)
        + u8(KINDS[kind]) + u32(level) + u32(mask) + u8(len(channels))
        + b"".join(u32(a) + u16(z) for a, z in channels)
    )  # fmt: skip
    fields = {
        "tag": tag, "mode": mode, "source": source, "divider": divider, "samples": samples, "pre": pre,
        "trig_channel": channel, "trig_op": opc, "trig_kind": KINDS[kind], "level": level & 0xFFFFFFFF,
        "mask": mask, "channels": [{"addr": a, "size": z} for a, z in channels],
    }  # fmt: skip
    return TYPES["CAPTURE_ARM"], p, fields


def capture_control(tag: int, action: str, capture_id: int = 0) -> Msg:
    p = u8(tag) + u8(ACTIONS[action]) + u16(capture_id)
    return TYPES["CAPTURE_CONTROL"], p, {"tag": tag, "action": ACTIONS[action], "capture_id": capture_id}


def capture_read(tag: int, capture_id: int, offset: int, length: int) -> Msg:
    p = u8(tag) + u16(capture_id) + u32(offset) + u32(length)
    return TYPES["CAPTURE_READ"], p, {"tag": tag, "capture_id": capture_id, "offset": offset, "length": length}


def capture_status_data(tag: int, **f: Any) -> Msg:
    """CAPTURE_STATUS_DATA; fields not given are 0 (an idle device that never armed)."""
    v = {
        "state": 0, "capture_id": 0, "buffer_bytes": CAPTURE_BUFFER, "max_channels": 8,
        "timer_hz": CAPTURE_TIMER_HZ, "timer_max_divider": CAPTURE_TIMER_MAX_DIVIDER, "mode": 0, "source": 0, "divider": 0, "samples": 0, "pre": 0,
        "waited": 0, "trigger_index": 0, "trigger_ticks": 0, "slips": 0, "sample_bytes": 0,
        "trig_channel": 0, "trig_op": 0, "trig_kind": 0, "level": 0, "mask": 0, "ticks": 0, "channels": [],
    }  # fmt: skip
    v.update(f)
    p = (
        u8(tag) + u8(v["state"]) + u16(v["capture_id"]) + u32(v["buffer_bytes"]) + u8(v["max_channels"])
        + u32(v["timer_hz"]) + u32(v["timer_max_divider"]) + u8(v["mode"]) + u8(v["source"]) + u32(v["divider"]) + u32(v["samples"])
        + u32(v["pre"]) + u32(v["waited"]) + u32(v["trigger_index"]) + u32(v["trigger_ticks"])
        + u32(v["slips"]) + u16(v["sample_bytes"]) + u8(v["trig_channel"]) + u8(v["trig_op"])
        + u8(v["trig_kind"]) + u32(v["level"]) + u32(v["mask"]) + u32(v["ticks"]) + u8(len(v["channels"]))
        + b"".join(u32(a) + u16(z) for a, z in v["channels"])
    )  # fmt: skip
    fields = {"tag": tag, **{k: x for k, x in v.items() if k != "channels"},
              "channels": [{"addr": a, "size": z} for a, z in v["channels"]]}
    return TYPES["CAPTURE_STATUS_DATA"], p, fields


def capture_data(capture_id: int, offset: int, data: bytes) -> Msg:
    p = u16(capture_id) + u32(offset) + data
    return TYPES["CAPTURE_DATA"], p, {"capture_id": capture_id, "offset": offset, "data_hex": data.hex()}


# ---- the document ----
frames: list[dict[str, Any]] = []


def vec(name: str, direction: str, msg: Msg) -> bytes:
    """Record a frame vector (once per name) and return its bytes."""
    t, p, f = msg
    raw = frame(t, p)
    if not any(v["name"] == name for v in frames):
        frames.append(
            {
                "name": name,
                "dir": direction,
                "type": t,
                "type_name": TYPE_NAMES.get(t, "UNKNOWN"),
                "payload_hex": p.hex(),
                "hex": raw.hex(),
                "fields": f,
                "valid": True,
            }
        )
    return raw


def step(
    send: bytes | str | None = None,
    expect: bytes | str = b"",
    ticks: int = 0,
    rx_errors: int | None = None,
    note: str = "",
    capture_timer: int = 0,
) -> dict[str, Any]:
    s: dict[str, Any] = {}
    if note:
        s["note"] = note
    if isinstance(send, str):
        s["send_text"] = send
    elif send is not None:
        s["send_hex"] = send.hex()
    if ticks:
        s["ticks"] = ticks
    if capture_timer:
        s["capture_timer"] = capture_timer
    if isinstance(expect, str):
        s["expect_text"] = expect
    else:
        s["expect_hex"] = expect.hex()
    if rx_errors is not None:
        s["rx_errors"] = rx_errors
    return s


def binary_session() -> dict[str, Any]:
    h, d = "host_to_device", "device_to_host"
    mem = mem_init()
    st: list[dict[str, Any]] = []

    def ex(req_name: str, req: Msg, rep_name: str, rep: Msg, note: str = "") -> None:
        st.append(step(vec(req_name, h, req), vec(rep_name, d, rep), note=note))

    ex("IDENTIFY", identify(1), "IDENT", ident(1))
    ex(
        "READ",
        read(2, BASE + 0x10, 4),
        "READ_DATA",
        data_reply("READ_DATA", 2, BASE + 0x10, bytes(mem[0x10:0x14])),
    )
    ex(
        "WRITE",
        write(3, BASE + 0x20, bytes.fromhex("deadbeef")),
        "WRITE_DATA",
        data_reply("WRITE_DATA", 3, BASE + 0x20, bytes.fromhex("deadbeef")),
        "the reply carries the bytes read back",
    )
    mem[0x20:0x24] = bytes.fromhex("deadbeef")
    ex(
        "READ after WRITE",
        read(4, BASE + 0x20, 4),
        "READ_DATA after WRITE",
        data_reply("READ_DATA", 4, BASE + 0x20, bytes(mem[0x20:0x24])),
    )
    ex("READ outside every region", read(5, 0x10, 4), "ERROR NOT_READABLE", error(5, "NOT_READABLE", 0x10))
    ex(
        "READ past the end of the last region",
        read(6, BASE + 0x13E, 4),
        "ERROR NOT_READABLE at the end",
        error(6, "NOT_READABLE", BASE + 0x140),
        "detail is the first address not covered",
    )
    ex(
        "READ that would wrap past 2^32",
        read(7, 0xFFFFFFFE, 4),
        "ERROR NOT_READABLE wrap",
        error(7, "NOT_READABLE", 0xFFFFFFFE),
    )
    ex(
        "WRITE to the read-only table",
        write(8, BASE + 0x100, b"\x00"),
        "ERROR NOT_WRITABLE",
        error(8, "NOT_WRITABLE", BASE + 0x100),
    )
    ex(
        "WRITE running into the read-only table",
        write(9, BASE + 0xFE, bytes([1, 2, 3, 4])),
        "ERROR NOT_WRITABLE straddling",
        error(9, "NOT_WRITABLE", BASE + 0x100),
        "nothing is written",
    )
    ex("READ of 0 bytes", read(10, BASE, 0), "ERROR BAD_LENGTH size 0", error(10, "BAD_LENGTH", 0))
    ex(
        "READ larger than a frame",
        read(11, BASE, 124),
        "ERROR TOO_BIG",
        error(11, "TOO_BIG", LIMITS["max_payload"] - 5),
        "detail is the largest size allowed",
    )
    ex("unknown type 0x42", (0x42, b"\x0c", {"tag": 12}), "ERROR BAD_COMMAND", error(12, "BAD_COMMAND", 0x42))
    ex(
        "IDENTIFY with a payload too long",
        (TYPES["IDENTIFY"], b"\x0d\x00", {"tag": 13}),
        "ERROR BAD_LENGTH",
        error(13, "BAD_LENGTH", 2),
        "detail is the received length",
    )
    ex(
        "STATUS with an empty payload",
        (TYPES["STATUS"], b"", {}),
        "ERROR BAD_LENGTH tag 0",
        error(0, "BAD_LENGTH", 0),
        "no tag was sent: the reply uses tag 0",
    )
    ex("STREAM_START one region", stream_start(16, 0, 1_000_000, [(BASE, 4)]), "ACK", ack(16))
    st.append(step(ticks=1, expect=vec("SAMPLES one stream", d, samples(0, 1, {0: bytes(mem[0:4])}))))
    ex(
        "STREAM_START two regions",
        stream_start(18, 3, 500_000, [(BASE + 0x10, 2), (BASE + 0x100, 1)]),
        "ACK 18",
        ack(18),
    )
    s3 = bytes(mem[0x10:0x12]) + bytes(mem[0x100:0x101])
    st.append(
        step(
            ticks=1,
            expect=vec("SAMPLES two streams", d, samples(1, 2, {0: bytes(mem[0:4]), 3: s3})),
            note="a new stream is due on the next tick",
        )
    )
    st.append(step(ticks=1, expect=frame(*samples(2, 3, {0: bytes(mem[0:4])})[:2])))
    st.append(step(ticks=1, expect=frame(*samples(3, 4, {0: bytes(mem[0:4]), 3: s3})[:2])))
    sync = bytes.fromhex("aa550a0d")
    ex(
        "WRITE sync bytes",
        write(22, BASE, sync),
        "WRITE_DATA sync bytes",
        data_reply("WRITE_DATA", 22, BASE, sync),
    )
    mem[0:4] = sync
    st.append(step(ticks=1, expect=vec("SAMPLES carrying AA 55 in its data", d, samples(4, 5, {0: sync}))))
    ex(
        "LIST",
        tag_only("LIST", 24),
        "LIST_DATA",
        list_data(24, [(0, 1_000_000, [(BASE, 4)]), (3, 500_000, [(BASE + 0x10, 2), (BASE + 0x100, 1)])]),
    )
    ident_len = len(frame(*ident(1)[:2]))
    ex(
        "STATUS",
        tag_only("STATUS", 25),
        "STATUS_DATA",
        status_data(
            25,
            dropped=0,
            overflows=0,
            rx_errors=0,
            tx_used=0,
            tx_high_water=ident_len,
            ticks=5,
            seq=5,
            streams=[(0, 0), (3, 0)],
        ),
        "taken before the reply is queued; the high-water mark is the IDENT reply (output drained after each step)",
    )
    refusals = [
        (
            "STREAM_START stream id out of range",
            stream_start(26, 16, 1000, [(BASE, 4)]),
            error(26, "NO_STREAM", 16),
        ),
        ("STREAM_START rate 0", stream_start(27, 1, 0, [(BASE, 4)]), error(27, "BAD_RATE", 1000)),
        (
            "STREAM_START above the tick rate",
            stream_start(28, 1, 1_000_001, [(BASE, 4)]),
            error(28, "BAD_RATE", 1000),
        ),
        (
            "STREAM_START 9 regions",
            stream_start(29, 1, 1000, [(BASE + i, 1) for i in range(9)]),
            error(29, "TOO_MANY_REGIONS", 8),
        ),
        (
            "STREAM_START over max_stream_bytes",
            stream_start(30, 1, 1000, [(BASE, 40), (BASE + 0x40, 40)]),
            error(30, "STREAM_TOO_BIG", 64),
        ),
        (
            "STREAM_START unreadable region",
            stream_start(31, 1, 1000, [(0x10, 4)]),
            error(31, "NOT_READABLE", 0x10),
        ),
        ("STREAM_START empty region", stream_start(32, 1, 1000, [(BASE, 0)]), error(32, "BAD_LENGTH", 0)),
        ("STREAM_START no region", stream_start(33, 1, 1000, []), error(33, "BAD_LENGTH", 0)),
        (
            "STREAM_START count disagrees with length",
            stream_start(34, 1, 1000, [(BASE, 4)], n=2),
            error(34, "BAD_LENGTH", 13),
        ),
    ]
    for name, req, rep in refusals:
        ex(name, req, "ERROR " + name, rep)
    ex("STREAM_STOP", stream_stop(35, 3), "ACK 35", ack(35))
    ex("STREAM_STOP of a stopped stream", stream_stop(36, 3), "ERROR NO_STREAM", error(36, "NO_STREAM", 3))
    ex("STREAM_STOP all", stream_stop(37, 0xFF), "ACK 37", ack(37))
    st.append(step(ticks=3, expect=b"", note="no stream runs: no output"))
    ex("MODE 2", mode(38, 2), "ERROR BAD_MODE", error(38, "BAD_MODE", 2))
    ex("MODE text", mode(39, 0), "ACK 39", ack(39), "the ACK is binary; output after it is text")
    st.append(step(send="READ 0x20000010 2\n", expect=text_line("DATA|addr=0x20000010|hex=1011")))
    st.append(
        step(
            send=frame(*identify(40)[:2]),
            expect=frame(*ident(40)[:2]),
            note="a binary request gets a binary reply in any mode",
            rx_errors=0,
        )
    )
    return {"name": "binary commands", "options": [], "steps": st}


def split_session() -> dict[str, Any]:
    mem = mem_init()
    st = [
        step(frame(*stream_start(1, 2, 1_000_000, [(BASE + 0x10, 48)])[:2]), frame(*ack(1)[:2])),
        step(frame(*stream_start(2, 5, 1_000_000, [(BASE + 0x80, 48)])[:2]), frame(*ack(2)[:2])),
        step(
            frame(*stream_start(3, 9, 1_000_000, [(BASE, 16), (BASE + 0x40, 16), (BASE + 0x100, 16)])[:2]),
            frame(*ack(3)[:2]),
        ),
    ]
    s2, s5 = bytes(mem[0x10:0x40]), bytes(mem[0x80:0xB0])
    s9 = bytes(mem[0:16]) + bytes(mem[0x40:0x50]) + bytes(mem[0x100:0x110])
    first = vec("SAMPLES split, first frame", "device_to_host", samples(0, 1, {2: s2, 5: s5}))
    second = vec("SAMPLES split, second frame", "device_to_host", samples(1, 1, {9: s9}))
    st.append(
        step(
            ticks=1,
            expect=first + second,
            note="8 + 3 x 48 bytes exceed max_payload 128: two frames, same ticks, consecutive seq",
        )
    )
    return {"name": "SAMPLES split over frames", "options": [], "steps": st}


def change_only_session() -> dict[str, Any]:
    """STREAM_FILTER on the device built with the optional modules."""
    h, d = "host_to_device", "device_to_host"
    mem = mem_init()
    st: list[dict[str, Any]] = []

    def ex(req_name: str, req: Msg, rep_name: str, rep: Msg, note: str = "") -> None:
        st.append(step(vec(req_name, h, req), vec(rep_name, d, rep), note=note))

    def poke(tag: int, off: int, data: bytes) -> None:
        mem[off : off + len(data)] = data
        st.append(step(frame(*write(tag, BASE + off, data)[:2]), frame(*data_reply("WRITE_DATA", tag, BASE + off, data)[:2])))

    def sample(seq: int, ticks: int) -> bytes:
        return frame(*samples(seq, ticks, {0: bytes(mem[0x30:0x32]) + bytes(mem[0x40:0x41])})[:2])

    ex("IDENTIFY (options)", identify(1), "IDENT with the optional modules", ident(1, OPTION_FLAGS),
       "flags bit 1: capture, bit 2: change-only streams")
    regions = [(BASE + 0x30, 2), (BASE + 0x40, 1)]
    st.append(step(frame(*stream_start(2, 0, 1_000_000, regions)[:2]), frame(*ack(2)[:2])))
    ex("STREAM_FILTER", stream_filter(3, 0, 3, [("signed", 5), ("none", 0)]), "ACK 3", ack(3),
       "region 0 a signed 16-bit value with deadband 5; region 1 rides along; heartbeat every 3rd instant")
    st.append(step(ticks=1, expect=sample(0, 1), note="the first instant due sends the current values"))
    st.append(step(ticks=2, expect=b"", note="unchanged: nothing, and no seq spent"))
    st.append(step(ticks=1, expect=sample(1, 4), note="the heartbeat: 3 instants since the last send"))
    poke(4, 0x30, u16(0x3130 + 5))
    st.append(step(ticks=1, expect=b"", note="moved by 5: not more than the deadband"))
    poke(5, 0x30, u16(0x3130 + 6))
    st.append(step(ticks=1, expect=sample(2, 6), note="moved by 6 from the value last sent"))
    poke(6, 0x40, b"\x77")
    st.append(step(ticks=2, expect=b"", note="a region of kind none never causes a send"))
    st.append(step(ticks=1, expect=sample(3, 9), note="it rides along with the heartbeat"))
    poke(7, 0x30, u16(0x7FFF))
    st.append(step(ticks=1, expect=sample(4, 10)))
    poke(8, 0x30, u16(0x8000))
    st.append(step(ticks=1, expect=sample(5, 11), note="0x7FFF -> 0x8000 is -65535 as a signed value"))
    refusals = [
        ("STREAM_FILTER of a stream not running", stream_filter(9, 1, 3, [("any", 0)]), error(9, "NO_STREAM", 1)),
        ("STREAM_FILTER with a filter per region missing", stream_filter(10, 0, 3, [("any", 0)]),
         error(10, "BAD_LENGTH", 2)),
        ("STREAM_FILTER float on a 2-byte region", stream_filter(11, 0, 3, [("float", 0), ("none", 0)]),
         error(11, "BAD_CONDITION", 0)),
        ("STREAM_FILTER length disagrees with n", stream_filter(12, 0, 3, [("any", 0)], n=2),
         error(12, "BAD_LENGTH", 10)),
    ]  # fmt: skip
    for name, req, rep in refusals:
        ex(name, req, "ERROR " + name, rep)
    st.append(step(ticks=1, expect=b"", note="a refused STREAM_FILTER changed nothing"))
    ex("STREAM_FILTER heartbeat 0", stream_filter(13, 0, 0, [("none", 0), ("none", 0)]), "ACK 13", ack(13),
       "heartbeat 0 turns the filter off")
    st.append(step(ticks=2, expect=sample(6, 13) + sample(7, 14)))
    return {"name": "change-only streams", "options": OPTIONS, "steps": st}


def capture_session() -> dict[str, Any]:
    """Triggered capture on the device built with the optional modules (its buffer: 256 bytes)."""
    h, d = "host_to_device", "device_to_host"
    mem = mem_init()
    st: list[dict[str, Any]] = []

    def ex(req_name: str, req: Msg, rep_name: str, rep: Msg, note: str = "") -> None:
        st.append(step(vec(req_name, h, req), vec(rep_name, d, rep), note=note))

    def poke(tag: int, off: int, data: bytes) -> None:
        mem[off : off + len(data)] = data
        st.append(step(frame(*write(tag, BASE + off, data)[:2]), frame(*data_reply("WRITE_DATA", tag, BASE + off, data)[:2])))

    chans = [(BASE + 0x50, 1), (BASE + 0x60, 2)]

    def snap() -> bytes:
        return bytes(mem[0x50:0x51]) + bytes(mem[0x60:0x62])

    ex("CAPTURE_STATUS", tag_only("CAPTURE_STATUS", 2), "CAPTURE_STATUS_DATA idle", capture_status_data(2),
       "never armed: the buffer and the timer the port gave")
    arm = dict(mode=0, source=0, divider=2, samples=6, pre=2, channel=0, op="rising", kind="unsigned", level=0x80,
               channels=chans)  # fmt: skip
    ex("CAPTURE_ARM", capture_arm(3, **arm), "ACK 3 (arm)", ack(3),
       "every 2nd tick, 6 samples, 2 before the trigger: channel 0 rising through 0x80")
    held = []
    st.append(step(ticks=5, expect=b"", note="samples at ticks 1, 3, 5 (the first tick after arming)"))
    held += [snap(), snap()]  # ticks 3 and 5 are the two kept before the trigger
    poke(4, 0x50, b"\x90")
    st.append(step(ticks=2, expect=b"", note="tick 7: 0x50 -> 0x90 rises through 0x80"))
    held.append(snap())
    cfg = dict(mode=0, source=0, divider=2, samples=6, pre=2, trig_channel=0, trig_op=OPS["rising"],
               trig_kind=KINDS["unsigned"], level=0x80, sample_bytes=3, channels=chans)  # fmt: skip
    ex("CAPTURE_STATUS triggered", tag_only("CAPTURE_STATUS", 5), "CAPTURE_STATUS_DATA triggered",
       capture_status_data(5, state=2, waited=4, trigger_index=2, trigger_ticks=7, ticks=7, **cfg))
    st.append(step(ticks=2, expect=b"", note="tick 9"))
    held.append(snap())
    poke(6, 0x60, bytes.fromhex("abcd"))
    st.append(step(ticks=4, expect=b"", note="ticks 11 and 13 complete the capture"))
    held += [snap(), snap()]
    ex("CAPTURE_STATUS done", tag_only("CAPTURE_STATUS", 7), "CAPTURE_STATUS_DATA done",
       capture_status_data(7, state=3, capture_id=1, waited=4, trigger_index=2, trigger_ticks=7, ticks=13, **cfg))
    data = b"".join(held)
    st.append(step(vec("CAPTURE_READ", h, capture_read(8, 1, 0, len(data))),
                   frame(*ack(8)[:2]) + vec("CAPTURE_DATA", d, capture_data(1, 0, data)),
                   note="oldest sample first; the data follows the ACK"))
    st.append(step(frame(*capture_read(9, 1, 9, 6)[:2]), frame(*ack(9)[:2]) + frame(*capture_data(1, 9, data[9:15])[:2]),
                   note="any part again (an upload resumed after a link error)"))
    st.append(step(ticks=4, expect=b"", note="a completed capture holds its samples"))
    refusals = [
        ("CAPTURE_READ of another capture", capture_read(10, 2, 0, 3), error(10, "NO_CAPTURE", 1)),
        ("CAPTURE_READ past the end", capture_read(11, 1, 10, 9), error(11, "BAD_LENGTH", 18)),
    ]
    for name, req, rep in refusals:
        ex(name, req, "ERROR " + name, rep)
    ex("CAPTURE_CONTROL release", capture_control(12, "release", 1), "ACK 12", ack(12))
    ex("CAPTURE_CONTROL force when idle", capture_control(13, "force"), "ERROR NO_CAPTURE force", error(13, "NO_CAPTURE", 0))
    st.append(step(frame(*capture_control(14, "release", 1)[:2]), frame(*ack(14)[:2]), note="a retried release changes nothing"))
    st.append(step(frame(*capture_read(15, 1, 0, 3)[:2]), frame(*error(15, "NO_CAPTURE", 1)[:2]), note="released: gone"))
    bad = [
        ("CAPTURE_ARM larger than the buffer", capture_arm(16, **{**arm, "samples": 100}), error(16, "CAPTURE_TOO_BIG", 85)),
        ("CAPTURE_ARM timer divider 0", capture_arm(17, **{**arm, "source": 1, "divider": 0}),
         error(17, "BAD_RATE", CAPTURE_TIMER_HZ)),
        ("CAPTURE_ARM unknown condition", capture_arm(18, **{**arm, "op_code": 10}), error(18, "BAD_CONDITION", 3)),
        ("CAPTURE_ARM float trigger on one byte", capture_arm(19, **{**arm, "kind": "float"}), error(19, "BAD_CONDITION", 2)),
        ("CAPTURE_ARM pre not below samples", capture_arm(20, **{**arm, "pre": 6}), error(20, "BAD_LENGTH", 6)),
        ("CAPTURE_ARM unreadable channel", capture_arm(21, **{**arm, "channels": [(BASE, 1), (0x10, 2)]}),
         error(21, "NOT_READABLE", 0x10)),
        ("CAPTURE_ARM 9 channels", capture_arm(22, **{**arm, "channels": [(BASE + i, 1) for i in range(9)]}),
         error(22, "TOO_MANY_REGIONS", 8)),
    ]  # fmt: skip
    for name, req, rep in bad:
        ex(name, req, "ERROR " + name, rep)
    ex("CAPTURE_ARM normal, timer", capture_arm(23, mode=1, source=1, divider=250, samples=3, pre=1, op="none",
                                                  kind="any", channels=[(BASE + 0x50, 1)]),
       "ACK 23", ack(23), "normal mode on the capture timer; no condition: only a forced trigger")  # fmt: skip
    st.append(step(capture_timer=1, expect=b"", note="one capture timer interrupt: one sample"))
    ex("CAPTURE_CONTROL force", capture_control(24, "force"), "ACK 24", ack(24))
    st.append(step(capture_timer=3, expect=b"", note="the next sample is the trigger; one more completes it"))
    cfg2 = dict(mode=1, source=1, divider=250, samples=3, pre=1, trig_op=OPS["none"], trig_kind=KINDS["any"],
                sample_bytes=1, channels=[(BASE + 0x50, 1)])  # fmt: skip
    st.append(step(frame(*tag_only("CAPTURE_STATUS", 25)[:2]),
                   frame(*capture_status_data(25, state=3, capture_id=2, waited=2, trigger_index=1, trigger_ticks=17,
                                              ticks=17, **cfg2)[:2])))  # fmt: skip
    st.append(step(frame(*capture_read(26, 2, 0, 3)[:2]), frame(*ack(26)[:2]) + frame(*capture_data(2, 0, b"\x90" * 3)[:2])))
    st.append(step(frame(*capture_control(27, "release", 2)[:2]), frame(*ack(27)[:2]), note="normal mode: armed again"))
    st.append(step(frame(*tag_only("CAPTURE_STATUS", 28)[:2]),
                   frame(*capture_status_data(28, state=1, capture_id=2, ticks=17, **cfg2)[:2])))
    ex("CAPTURE_CONTROL stop", capture_control(29, "stop"), "ACK 29", ack(29))
    st.append(step(capture_timer=2, expect=b"", note="stopped: the timer takes no sample"))
    st.append(step(frame(*tag_only("CAPTURE_STATUS", 30)[:2]),
                   frame(*capture_status_data(30, capture_id=2, ticks=17, **cfg2)[:2])))
    return {"name": "triggered capture", "options": OPTIONS, "steps": st}


def without_options_session() -> dict[str, Any]:
    st = [
        step(frame(*stream_filter(1, 0, 3, [("any", 0)])[:2]), frame(*error(1, "BAD_COMMAND", 0x09)[:2]),
             note="a device without the optional modules does not know their messages"),
        step(frame(*tag_only("CAPTURE_STATUS", 2)[:2]), frame(*error(2, "BAD_COMMAND", 0x0C)[:2])),
    ]  # fmt: skip
    return {"name": "without the optional modules", "options": [], "steps": st}


def corrupt_h2d() -> list[dict[str, Any]]:
    good = frame(*identify(0x11)[:2])
    reply = frame(*ident(0x11)[:2])
    bad_crc = bytearray(good)
    bad_crc[6] ^= 0x01
    bad_end = bytearray(good)
    bad_end[-1] = 0x0B
    cases = [
        ("control bytes before a frame", bytes.fromhex("00ff137f80") + good, reply, 0),
        ("bad CRC, then a good frame", bytes(bad_crc) + good, reply, 1),
        ("bad trailer, then a good frame", bytes(bad_end) + good, reply, 1),
        ("truncated frame swallowing the next one", frame(*read(1, BASE, 4)[:2])[:6] + good, reply, 1),
        ("AA not followed by 55", b"\xaa" + good, reply, 1),
        ("length over max_payload", bytes.fromhex("aa5501ff00") + good, reply, 1),
        ("text without newline cut by a frame", b"hello" + good, reply, 1),
        ("a good frame inside a false frame", bytes.fromhex("aa55020c00") + good + bytes(8), reply, 1),
        ("binary noise with a newline", bytes.fromhex("01020a") + good, reply, 0),
        (
            "printable noise ending in a newline",
            b"xyz\n" + good,
            text_line("ERR|code=1|name=BAD_COMMAND|detail=0x00000000").encode() + reply,
            0,
        ),
        ("noise with a non-printable byte, then a newline", b"ab\x01cd\n" + good, reply, 1),
        (
            "partial frame left by someone else, then RESYNC and IDENTIFY",
            bytes.fromhex("aa55077f00") + RESYNC + good,
            reply,
            1,
        ),
        (
            "half-typed text line, then RESYNC and IDENTIFY",
            b"WRITE 0x20000010 0" + RESYNC + good,
            reply,
            1,
        ),
        ("RESYNC on an idle device", RESYNC + good, reply, 0),
        (
            "partial frame hiding another partial frame, then RESYNC",
            bytes.fromhex("aa55027f00") + bytes(10) + bytes.fromhex("aa55037000") + bytes(20) + RESYNC + good,
            reply,
            2,
        ),
        (
            "checked text line with a damaged check: dropped, not executed",
            b"WRITE 0x20000010 77|crc=0000\n" + good,
            reply,
            1,
        ),
    ]
    return [
        {"name": n, "dir": "host_to_device", "hex": i.hex(), "reply_hex": r.hex(), "rx_errors": e}
        for n, i, r, e in cases
    ]


def ref_decode(buf: bytes) -> tuple[list[bytes], int]:
    """The host's rule: scan for AA 55; a bad frame counts once and the scan resumes one byte
    after its first byte; a frame that has not arrived completely waits."""
    out, corrupt, i = [], 0, 0
    while True:
        i = buf.find(b"\xaa\x55", i)
        if i < 0 or i + 5 > len(buf):
            break
        ln = buf[i + 3] | buf[i + 4] << 8
        end = i + ln + 8
        if end > len(buf):
            break
        if buf[end - 1] != 0x0A or crc16(buf[i + 2 : end - 3]) != (buf[end - 3] | buf[end - 2] << 8):
            corrupt += 1
            i += 1
            continue
        out.append(buf[i:end])
        i = end
    return out, corrupt


def corrupt_d2h() -> list[dict[str, Any]]:
    a = frame(*samples(7, 100, {0: bytes.fromhex("01020304")})[:2])
    b = frame(*samples(8, 101, {0: bytes.fromhex("aa550a05"), 1: bytes.fromhex("aa55")})[:2])
    c = frame(*ack(9)[:2])
    flip = bytearray(a)
    flip[12] ^= 0x40
    cases = [
        ("noise before a frame", bytes.fromhex("000d0aff") + a),
        ("text line between frames", a + b"ERR|code=1|name=BAD_COMMAND|detail=0x00000000\n" + b),
        ("flipped data byte, then good frames", bytes(flip) + b + c),
        ("frame cut short, then good frames", a[:9] + b + c + a),
        ("sync bytes inside sample data", b + a),
        ("bad trailer", a[:-1] + b"\x00" + c),
        ("lone AA before a frame", b"\xaa" + c),
    ]
    out = []
    for name, raw in cases:
        got, corrupt = ref_decode(raw)
        out.append(
            {
                "name": name,
                "dir": "device_to_host",
                "hex": raw.hex(),
                "frames": [f.hex() for f in got],
                "corrupt_frames": corrupt,
            }
        )
    return out


def text_session() -> list[dict[str, Any]]:
    info = (
        f"INFO|proto={PROTO}|endian=little|word=4|addr_size=4|tick_hz=1000|max_streams=16|max_regions=8"
        "|max_stream_bytes=64|max_payload=128|tx_size=1024|build_id=0102030405060708"
        "|region=0x20000000+256:rw|region=0x20000100+64:r"
    )

    def err(code: int, name: str, detail: int) -> str:
        return text_line(f"ERR|code={code}|name={name}|detail=0x{detail:08X}")

    t: list[dict[str, Any]] = [
        {"line": "INFO\n", "reply": text_line(info)},
        {
            "line": "read 0x20000010 4\r\n",
            "reply": text_line("DATA|addr=0x20000010|hex=10111213"),
            "note": "verbs are case-insensitive, \\r is ignored",
        },
        {"line": "READ 536870928 2\n", "reply": text_line("DATA|addr=0x20000010|hex=1011")},
        {
            "line": checked("READ 0x20000012 2"),
            "reply": text_line("DATA|addr=0x20000012|hex=1213"),
            "note": "a host's line carries |crc= of the bytes before the '|'",
        },
        {
            "line": "READ 0x20000012 2|crc=0000\n",
            "reply": "",
            "note": "a wrong check: the line is dropped (rx_errors + 1), never executed",
        },
        {"line": "WRITE 0x20000020 deadBEEF\n", "reply": text_line("DATA|addr=0x20000020|hex=DEADBEEF")},
        {"line": "WRITE 0x20000100 00\n", "reply": err(4, "NOT_WRITABLE", 0x20000100)},
        {"line": "READ 0x10 4\n", "reply": err(3, "NOT_READABLE", 0x10)},
        {"line": "READ 0x20000000 124\n", "reply": err(9, "TOO_BIG", 123)},
        {
            "line": "WRITE 0x20000020 ABC\n",
            "reply": err(2, "BAD_LENGTH", 2),
            "note": "argument errors: BAD_LENGTH, detail = number of arguments",
        },
        {"line": "READ 0x20000010\n", "reply": err(2, "BAD_LENGTH", 1)},
        {"line": "FROB\n", "reply": err(1, "BAD_COMMAND", 0)},
        {"line": "\n", "reply": ""},
        {"line": "HELP\n", "reply": text_line("HELP|verbs=INFO,READ,WRITE,STREAM,STOP,LIST,STATUS,BINARY,TEXT,HELP")},
        {"line": "STREAM 0x20000010 2 333.333\n", "reply": text_line("OK|stream=0")},
        {"line": checked("STREAM 0x20000000 4 0.5"), "reply": text_line("OK|stream=1")},
        {"line": "STREAM 0x20000000 4 1000.001\n", "reply": err(8, "BAD_RATE", 1000)},
        {"line": "STREAM 0x20000000 4 0\n", "reply": err(8, "BAD_RATE", 1000)},
        {
            "line": "LIST\n",
            "reply": text_lines(
                "STREAM|stream=0|rate_mhz=333333|regions=0x20000010+2",
                "STREAM|stream=1|rate_mhz=500|regions=0x20000000+4",
                "OK|streams=2",
            ),
        },
        {
            "line": "",
            "ticks": 1,
            "reply": text_lines(
                "DATA|addr=0x20000010|hex=1011|t=1|seq=0|stream=0",
                "DATA|addr=0x20000000|hex=00010203|t=1|seq=1|stream=1",
            ),
            "note": "each stream's lines are one unit with a seq of its own",
        },
        {"line": "", "ticks": 3, "reply": "", "note": "333.333 Hz is due every 3.000003 ticks"},
        {"line": "", "ticks": 1, "reply": text_line("DATA|addr=0x20000010|hex=1011|t=5|seq=2|stream=0")},
        {
            "line": "STATUS\n",
            "reply": text_line(
                "STATUS|dropped=0|overflows=0|rx_errors=1|tx_used=0|tx_size=1024"
                f"|tx_high_water={len(text_line(info))}|ticks=5|seq=3|streams=2"
            ),
        },
        {"line": "STOP 1\n", "reply": text_line("OK")},
        {"line": "STOP 1\n", "reply": err(5, "NO_STREAM", 1)},
        {
            "line": checked("STREAM 0x20000020 2 10 5"),
            "reply": text_line("OK|stream=5"),
            "note": "with an id: defines (or replaces) that stream",
        },
        {
            "line": checked("STREAM 0x20000020 2 10 5"),
            "reply": text_line("OK|stream=5"),
            "note": "sent again (its reply was lost): still one stream",
        },
        {"line": "STREAM 0x20000020 2 10 16\n", "reply": err(5, "NO_STREAM", 16)},
        {"line": "STOP ALL\n", "reply": text_line("OK")},
        {"line": "STREAM 0x20000000 8 1000\n", "reply": text_line("OK|stream=0")},
        {"line": "BINARY\n", "reply": text_line("OK"), "note": "the OK is text; samples after it are binary"},
    ]
    st = [step(x["line"], x["reply"], ticks=x.get("ticks", 0), note=x.get("note", "")) for x in t]
    st.append(
        step(
            ticks=1, expect=frame(*samples(3, 6, {0: bytes(range(8))})[:2]), note="seq continues across modes"
        )
    )
    st.append(step(b"STOP all\n", text_line("OK"), rx_errors=1))
    return st


def invalid_frames() -> list[dict[str, Any]]:
    good = frame(*identify(1)[:2])
    bad_crc = bytearray(good)
    bad_crc[-3] ^= 0xFF
    bad_end = bytearray(good)
    bad_end[-1] = 0x00
    return [
        {"name": "IDENTIFY with a wrong CRC", "hex": bytes(bad_crc).hex(), "valid": False},
        {"name": "IDENTIFY with a wrong trailer", "hex": bytes(bad_end).hex(), "valid": False},
    ]


def build() -> dict[str, Any]:
    sessions = [
        binary_session(),
        split_session(),
        {"name": "text mode", "options": [], "steps": text_session()},
        without_options_session(),
        change_only_session(),
        capture_session(),
    ]
    crc = [
        {"hex": d.hex(), "crc": f"{crc16(d):04x}", "note": n}
        for d, n in [
            (b"123456789", "the CRC-16/CCITT-FALSE check value"),
            (b"", "empty input: the initial value"),
            (bytes([0x01, 0x01, 0x00, 0x07]), "type, len and payload of IDENTIFY tag 7"),
            (b"OK", "a text line's check: OK|crc=F952"),
            (bytes(range(256)), "0x00..0xFF"),
        ]
    ]
    return {
        "protocol_version": PROTO,
        "about": "Test vectors of docs/protocol.md, generated by firmware/tests/make_vectors.py. "
        "'vectors' are single frames (encode type+payload_hex -> hex; decode hex -> fields). "
        "'sessions' run in order against a fresh 'device' built with the optional modules the session's "
        "'options' name (none: the minimal core; a session applies to that build only); each step feeds "
        "send_hex/send_text, runs 'ticks' ticks and 'capture_timer' capture timer interrupts, then expects "
        "exactly expect_hex/expect_text as the device output. "
        "'corrupt' gives inputs with noise and damaged frames and the expected outcome (the minimal core).",
        "device": {
            "regions": [{"start": s, "size": z, "access": a} for s, z, a in REGIONS],
            "memory": "the byte at address 0x20000000+i is initially i & 0xFF (i < 0x140)",
            "build_id": BUILD_ID.hex(),
            "word_size": 4,
            "big_endian": False,
            **LIMITS,
            "options": {"capture": {"buffer_bytes": CAPTURE_BUFFER, "timer_hz": CAPTURE_TIMER_HZ,
                                    "timer_max_divider": CAPTURE_TIMER_MAX_DIVIDER, "max_channels": 8,
                                    "flag": 0x02},
                        "change_only": {"flag": 0x04}},
        },
        "crc": crc,
        "vectors": frames + invalid_frames(),
        "sessions": sessions,
        "corrupt": corrupt_h2d() + corrupt_d2h(),
    }


def main() -> int:
    text = json.dumps(build(), indent=1) + "\n"
    if "--check" in sys.argv:
        return 0 if OUT.exists() and OUT.read_text() == text else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
