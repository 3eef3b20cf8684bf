"""Binary framing and messages of the streamer wire protocol v3 (docs/protocol.md).

A frame is ``AA 55 | type | len:u16 | payload | crc:u16 | 0A`` with CRC-16/CCITT-FALSE over
type, len and payload. ``binascii.crc_hqx(data, 0xFFFF)`` is exactly that CRC, computed in C,
which is what lets the host ingest millions of samples per second in pure Python.

Everything here is pure (no I/O): ``encode_frame``/``FrameDecoder`` move between bytes and
``(type, payload)``; the message dataclasses pack and unpack payloads; ``SamplesUnpacker``
splits SAMPLES payloads into per-stream region bytes with one precompiled ``struct`` per mask.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from firmwatch.targets.base import TargetError

PROTOCOL_VERSION = 3
# Version 1 and 2 devices are served in binary mode: their frames and payloads are exactly
# version 3's (v2 changed only text lines, which v1 sends without a check, and host-side rules;
# v3 only added the optional modules' messages, which IDENT's flags announce).
BINARY_COMPATIBLE_VERSIONS = (1, 2, 3)
TEXT_COMPATIBLE_VERSIONS = (2, 3)  # the same checked lines
SYNC = b"\xaa\x55"
# Sent before IDENTIFY at every connect: 256 zero bytes complete any partial frame a previous
# user left in the device's receive buffer (a frame is at most 254 bytes) and end any partial
# text line as damaged; the newline then returns the device's parser to idle. Harmless to an
# idle device (zero bytes outside a frame are dropped without counting). docs/protocol.md §10.
RESYNC = bytes(256) + b"\n"
TERMINATOR = 0x0A
FRAME_OVERHEAD = 8  # sync 2 + type 1 + len 2 + crc 2 + terminator 1
MAX_LEN = 0xFFFF
STOP_ALL = 0xFF

# message types
IDENTIFY = 0x01
READ = 0x02
WRITE = 0x03
STREAM_START = 0x04
STREAM_STOP = 0x05
LIST = 0x06
STATUS = 0x07
MODE = 0x08
STREAM_FILTER = 0x09
CAPTURE_ARM = 0x0A
CAPTURE_CONTROL = 0x0B
CAPTURE_STATUS = 0x0C
CAPTURE_READ = 0x0D
ACK = 0x80
IDENT = 0x81
READ_DATA = 0x82
WRITE_DATA = 0x83
LIST_DATA = 0x86
STATUS_DATA = 0x87
CAPTURE_STATUS_DATA = 0x88
SAMPLES = 0x90
CAPTURE_DATA = 0x91
ERROR = 0xEE

ACCESS_READ = 0x01
ACCESS_WRITE = 0x02
FLAG_BIG_ENDIAN = 0x01
FLAG_CAPTURE = 0x02  # the device has the capture module (section 16)
FLAG_CHANGE_ONLY = 0x04  # the device takes STREAM_FILTER (section 15)

# value kinds of STREAM_FILTER regions and of a capture's trigger channel
KIND_NONE, KIND_ANY, KIND_UNSIGNED, KIND_SIGNED, KIND_FLOAT = range(5)
# capture trigger conditions, sources, actions and states
TRIGGER_OPS = ("none", "rising", "falling", "cross", "above", "below", "equal", "not_equal", "change", "mask")
SOURCE_TICK, SOURCE_TIMER = 0, 1
ACTION_STOP, ACTION_FORCE, ACTION_RELEASE = 0, 1, 2
CAPTURE_STATES = ("idle", "armed", "triggered", "done", "overrun")

ERROR_NAMES: dict[int, str] = {
    1: "BAD_COMMAND",
    2: "BAD_LENGTH",
    3: "NOT_READABLE",
    4: "NOT_WRITABLE",
    5: "NO_STREAM",
    6: "TOO_MANY_REGIONS",
    7: "STREAM_TOO_BIG",
    8: "BAD_RATE",
    9: "TOO_BIG",
    10: "BAD_MODE",
    11: "READBACK",
    12: "NO_CAPTURE",
    13: "CAPTURE_TOO_BIG",
    14: "BAD_CONDITION",
}
ERROR_CODES = {name: code for code, name in ERROR_NAMES.items()}


class ProtocolError(TargetError):
    """A frame or line that is well delimited but whose content does not follow the protocol."""


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return crc_hqx(data, 0xFFFF)


def encode_frame(msg_type: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    if n > MAX_LEN:
        raise ValueError(f"payload of {n} bytes does not fit a frame")
    body = bytes((msg_type, n & 0xFF, n >> 8)) + payload
    crc = crc_hqx(body, 0xFFFF)
    return SYNC + body + bytes((crc & 0xFF, crc >> 8, TERMINATOR))


# FrameDecoder(mark_gaps=True) puts (GAP, b"") where bytes were lost: a corrupt frame, or bytes
# outside any frame (the profiler's link resynchronises its records there).
GAP = -1


class FrameDecoder:
    """Streaming frame parser: feed it arbitrary chunks, get back complete ``(type, payload)``.

    The streamer and firmware/profiler (which may share the line) frame alike — AA 55, type,
    length, CRC, 0A — and differ in what the CRC covers: the streamer's starts after AA 55
    (``CRC_FROM = 2``), the profiler's at AA 55 (``0``; profiler.protocol.FrameDecoder). Each
    decoder skips the other's intact frames whole (types in ``FOREIGN_TYPES``: the profiler's are
    below 0x80, docs/profiler.md) and counts them in ``foreign_frames``.

    Bytes outside frames (text, line noise) are skipped and counted in ``skipped_bytes``. A
    frame whose CRC or terminator is wrong, or whose length exceeds ``max_payload``, counts in
    ``corrupt_frames`` and the scan restarts at the byte after its first byte, so a real frame
    hidden behind a false sync is never lost. With ``mark_gaps``, ``(GAP, b"")`` stands in the
    output where bytes were lost.
    """

    CRC_FROM = 2
    FOREIGN_TYPES = range(0, 0x80)

    __slots__ = ("_buf", "max_payload", "mark_gaps", "frames", "corrupt_frames", "foreign_frames", "skipped_bytes")

    def __init__(self, max_payload: int = MAX_LEN, *, mark_gaps: bool = False):
        self._buf = b""
        self.max_payload = max_payload
        self.mark_gaps = mark_gaps
        self.frames = 0
        self.corrupt_frames = 0
        self.foreign_frames = 0
        self.skipped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else bytes(data)
        out: list[tuple[int, bytes]] = []
        n = len(buf)
        pos = 0
        find = buf.find
        max_payload = self.max_payload
        mv = memoryview(buf)
        own = self.CRC_FROM
        other = 2 - own
        foreign_types = self.FOREIGN_TYPES
        frames = corrupt = foreign = skipped = 0
        mark = self.mark_gaps
        while True:
            i = find(SYNC, pos)
            if i < 0:
                keep = n - 1 if n and buf[n - 1] == 0xAA else n  # maybe the first half of a sync
                skipped += keep - pos
                if mark and keep > pos and (not out or out[-1][0] != GAP):
                    out.append((GAP, b""))
                pos = keep
                break
            if i > pos:
                skipped += i - pos
                if mark and (not out or out[-1][0] != GAP):
                    out.append((GAP, b""))
            if i + 5 > n:
                pos = i
                break
            ln = buf[i + 3] | (buf[i + 4] << 8)
            if ln <= max_payload:
                end = i + ln + 8
                if end > n:
                    pos = i
                    break
                if buf[end - 1] == TERMINATOR:
                    crc = buf[end - 3] | (buf[end - 2] << 8)
                    if crc_hqx(mv[i + own : end - 3], 0xFFFF) == crc:
                        out.append((buf[i + 2], buf[i + 5 : end - 3]))
                        frames += 1
                        pos = end
                        continue
                    if buf[i + 2] in foreign_types and crc_hqx(mv[i + other : end - 3], 0xFFFF) == crc:
                        foreign += 1  # the other protocol's, on a shared line
                        pos = end
                        continue
            corrupt += 1
            if mark and (not out or out[-1][0] != GAP):
                out.append((GAP, b""))
            pos = i + 1
        mv.release()
        self._buf = buf[pos:] if pos < n else b""
        self.frames += frames
        self.corrupt_frames += corrupt
        self.foreign_frames += foreign
        self.skipped_bytes += skipped
        return out

    def flush_stale(self) -> list[tuple[int, bytes]]:
        """Give up on a partial frame that will not complete (called when the link went quiet).

        A corrupted length field can make the decoder wait for bytes that never come; counting
        the partial frame as corrupt and rescanning after its first byte releases any real
        frames behind it.
        """
        buf = self._buf
        if not buf:
            return []
        if len(buf) < 2 or not buf.startswith(SYNC):
            keep = buf[-1:] if buf[-1:] == b"\xaa" else b""
            self.skipped_bytes += len(buf) - len(keep)
            self._buf = keep
            return [(GAP, b"")] if self.mark_gaps and len(buf) > len(keep) else []
        self.corrupt_frames += 1
        self._buf = b""
        out = self.feed(buf[1:])
        return [(GAP, b"")] + out if self.mark_gaps and (not out or out[0][0] != GAP) else out

    def reset(self) -> None:
        self._buf = b""


# ---------------------------------------------------------------------------------------------
# messages


class _Reader:
    """Cursor over a payload that raises ProtocolError instead of struct.error on short input."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes, what: str):
        self.buf = buf
        self.pos = 0
        self.what = what

    def take(self, fmt: struct.Struct) -> tuple[int, ...]:
        try:
            vals = fmt.unpack_from(self.buf, self.pos)
        except struct.error:
            raise ProtocolError(
                f"the device sent a truncated {self.what} message; check the firmware version"
            ) from None
        self.pos += fmt.size
        return vals

    def bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ProtocolError(
                f"the device sent a truncated {self.what} message; check the firmware version"
            )
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def rest(self) -> bytes:
        b = self.buf[self.pos :]
        self.pos = len(self.buf)
        return b

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError(
                f"the device sent {len(self.buf) - self.pos} unexpected bytes after a {self.what} message; "
                "check the firmware version"
            )


_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_TAG_U32 = struct.Struct("<BI")
_TAG_U8 = struct.Struct("<BB")
_REGION = struct.Struct("<IH")
_IDENT_HEAD = struct.Struct("<BBBBBIBBHHH")
_IDENT_REGION = struct.Struct("<IIB")
_READ = struct.Struct("<BIH")
_STREAM_HEAD = struct.Struct("<BBIB")
_LIST_STREAM = struct.Struct("<BIB")
_STATUS_HEAD = struct.Struct("<BIIIHHHI")
_STATUS_STREAM = struct.Struct("<BI")
_ERROR = struct.Struct("<BBI")
_SAMPLES_HEAD = struct.Struct("<HI")


@dataclass(slots=True)
class Message:
    TYPE: ClassVar[int] = -1

    def pack(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def unpack(cls, payload: bytes) -> Message:
        raise NotImplementedError

    def encode(self) -> bytes:
        return encode_frame(self.TYPE, self.pack())


@dataclass(slots=True)
class _TagOnly(Message):
    tag: int = 0

    def pack(self) -> bytes:
        return bytes((self.tag,))

    @classmethod
    def unpack(cls, payload: bytes) -> Message:
        r = _Reader(payload, cls.__name__)
        (tag,) = r.take(_U8)
        r.end()
        return cls(tag)


@dataclass(slots=True)
class Identify(_TagOnly):
    TYPE: ClassVar[int] = IDENTIFY


@dataclass(slots=True)
class ListStreams(_TagOnly):
    TYPE: ClassVar[int] = LIST


@dataclass(slots=True)
class Status(_TagOnly):
    TYPE: ClassVar[int] = STATUS


@dataclass(slots=True)
class Ack(_TagOnly):
    TYPE: ClassVar[int] = ACK


@dataclass(slots=True)
class CaptureStatus(_TagOnly):
    TYPE: ClassVar[int] = CAPTURE_STATUS


@dataclass(slots=True)
class Read(Message):
    TYPE: ClassVar[int] = READ
    tag: int
    addr: int
    size: int

    def pack(self) -> bytes:
        return _READ.pack(self.tag, self.addr, self.size)

    @classmethod
    def unpack(cls, payload: bytes) -> Read:
        r = _Reader(payload, "READ")
        vals = r.take(_READ)
        r.end()
        return cls(*vals)


@dataclass(slots=True)
class _TagAddrData(Message):
    tag: int
    addr: int
    data: bytes

    def pack(self) -> bytes:
        return _TAG_U32.pack(self.tag, self.addr) + bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> Message:
        r = _Reader(payload, cls.__name__)
        tag, addr = r.take(_TAG_U32)
        return cls(tag, addr, r.rest())


@dataclass(slots=True)
class Write(_TagAddrData):
    TYPE: ClassVar[int] = WRITE


@dataclass(slots=True)
class ReadData(_TagAddrData):
    TYPE: ClassVar[int] = READ_DATA


@dataclass(slots=True)
class WriteData(_TagAddrData):
    TYPE: ClassVar[int] = WRITE_DATA


@dataclass(slots=True)
class StreamDef:
    stream: int
    rate_mhz: int
    regions: tuple[tuple[int, int], ...]  # (addr, size)


def _pack_regions(regions: Sequence[tuple[int, int]]) -> bytes:
    return b"".join(_REGION.pack(a, s) for a, s in regions)


def _take_regions(r: _Reader, n: int) -> tuple[tuple[int, int], ...]:
    return tuple(r.take(_REGION) for _ in range(n))  # type: ignore[misc]


@dataclass(slots=True)
class StreamStart(Message):
    TYPE: ClassVar[int] = STREAM_START
    tag: int
    stream: int
    rate_mhz: int
    regions: tuple[tuple[int, int], ...]

    def pack(self) -> bytes:
        return _STREAM_HEAD.pack(self.tag, self.stream, self.rate_mhz, len(self.regions)) + _pack_regions(
            self.regions
        )

    @classmethod
    def unpack(cls, payload: bytes) -> StreamStart:
        r = _Reader(payload, "STREAM_START")
        tag, stream, rate, n = r.take(_STREAM_HEAD)
        regions = _take_regions(r, n)
        r.end()
        return cls(tag, stream, rate, regions)


@dataclass(slots=True)
class StreamStop(Message):
    TYPE: ClassVar[int] = STREAM_STOP
    tag: int
    stream: int  # STOP_ALL = every stream

    def pack(self) -> bytes:
        return _TAG_U8.pack(self.tag, self.stream)

    @classmethod
    def unpack(cls, payload: bytes) -> StreamStop:
        r = _Reader(payload, "STREAM_STOP")
        vals = r.take(_TAG_U8)
        r.end()
        return cls(*vals)


@dataclass(slots=True)
class Mode(Message):
    TYPE: ClassVar[int] = MODE
    tag: int
    mode: int  # 0 text, 1 binary

    def pack(self) -> bytes:
        return _TAG_U8.pack(self.tag, self.mode)

    @classmethod
    def unpack(cls, payload: bytes) -> Mode:
        r = _Reader(payload, "MODE")
        vals = r.take(_TAG_U8)
        r.end()
        return cls(*vals)


_FILTER_HEAD = struct.Struct("<BBHB")
_FILTER = struct.Struct("<BI")
_ARM_HEAD = struct.Struct("<BBBIIIBBBIIB")
_CONTROL = struct.Struct("<BBH")
_CAPTURE_READ = struct.Struct("<BHII")
_CAPTURE_STATUS_HEAD = struct.Struct("<BBHIBIIBBIIIIIIIHBBBIIIB")
_CAPTURE_DATA_HEAD = struct.Struct("<HI")


@dataclass(slots=True)
class StreamFilter(Message):
    """Change-only sending of a running stream: per region (kind, deadband); heartbeat 0 = off."""

    TYPE: ClassVar[int] = STREAM_FILTER
    tag: int
    stream: int
    heartbeat: int
    filters: tuple[tuple[int, int], ...]  # (kind, deadband) per region of the stream

    def pack(self) -> bytes:
        return _FILTER_HEAD.pack(self.tag, self.stream, self.heartbeat, len(self.filters)) + b"".join(
            _FILTER.pack(k, b) for k, b in self.filters
        )

    @classmethod
    def unpack(cls, payload: bytes) -> StreamFilter:
        r = _Reader(payload, "STREAM_FILTER")
        tag, stream, heartbeat, n = r.take(_FILTER_HEAD)
        filters = tuple(r.take(_FILTER) for _ in range(n))
        r.end()
        return cls(tag, stream, heartbeat, filters)  # type: ignore[arg-type]


@dataclass(slots=True)
class CaptureArm(Message):
    TYPE: ClassVar[int] = CAPTURE_ARM
    tag: int
    mode: int  # 0 single, 1 normal (re-arms when the host releases a capture)
    source: int  # SOURCE_TICK (every `divider` ticks) or SOURCE_TIMER (the port's capture timer)
    divider: int
    samples: int
    pre: int
    trig_channel: int
    trig_op: int  # index in TRIGGER_OPS
    trig_kind: int  # KIND_*
    level: int  # raw 32-bit value (a signed level two's complement, a float its IEEE bits)
    mask: int
    channels: tuple[tuple[int, int], ...]  # (addr, size)

    def pack(self) -> bytes:
        return _ARM_HEAD.pack(
            self.tag, self.mode, self.source, self.divider, self.samples, self.pre, self.trig_channel,
            self.trig_op, self.trig_kind, self.level & 0xFFFFFFFF, self.mask, len(self.channels),
        ) + _pack_regions(self.channels)  # fmt: skip

    @classmethod
    def unpack(cls, payload: bytes) -> CaptureArm:
        r = _Reader(payload, "CAPTURE_ARM")
        *head, n = r.take(_ARM_HEAD)
        channels = _take_regions(r, n)
        r.end()
        return cls(*head, channels)  # type: ignore[arg-type]


@dataclass(slots=True)
class CaptureControl(Message):
    TYPE: ClassVar[int] = CAPTURE_CONTROL
    tag: int
    action: int  # ACTION_STOP, ACTION_FORCE, ACTION_RELEASE
    capture_id: int = 0  # RELEASE: the capture released (a retried release frees nothing more)

    def pack(self) -> bytes:
        return _CONTROL.pack(self.tag, self.action, self.capture_id)

    @classmethod
    def unpack(cls, payload: bytes) -> CaptureControl:
        r = _Reader(payload, "CAPTURE_CONTROL")
        vals = r.take(_CONTROL)
        r.end()
        return cls(*vals)


@dataclass(slots=True)
class CaptureRead(Message):
    TYPE: ClassVar[int] = CAPTURE_READ
    tag: int
    capture_id: int
    offset: int
    length: int

    def pack(self) -> bytes:
        return _CAPTURE_READ.pack(self.tag, self.capture_id, self.offset, self.length)

    @classmethod
    def unpack(cls, payload: bytes) -> CaptureRead:
        r = _Reader(payload, "CAPTURE_READ")
        vals = r.take(_CAPTURE_READ)
        r.end()
        return cls(*vals)


@dataclass(slots=True)
class CaptureStatusData(Message):
    TYPE: ClassVar[int] = CAPTURE_STATUS_DATA
    tag: int
    state: int  # index in CAPTURE_STATES
    capture_id: int  # of the capture completed last
    buffer_bytes: int
    max_channels: int
    timer_hz: int  # the capture timer's clock, 0 when the port has none
    timer_max_divider: int  # the largest divider that timer realises (0: any)
    mode: int
    source: int
    divider: int
    samples: int
    pre: int
    waited: int  # samples taken while waiting for the trigger (at most `samples`)
    trigger_index: int  # samples held before the trigger sample
    trigger_ticks: int  # the tick counter when the trigger sample was taken
    slips: int  # capture timer periods that passed without a sample (the interrupt came late)
    sample_bytes: int
    trig_channel: int
    trig_op: int
    trig_kind: int
    level: int
    mask: int
    ticks: int  # the tick counter now
    channels: tuple[tuple[int, int], ...] = ()

    @property
    def state_name(self) -> str:
        return CAPTURE_STATES[self.state] if self.state < len(CAPTURE_STATES) else f"state {self.state}"

    def pack(self) -> bytes:
        head = _CAPTURE_STATUS_HEAD.pack(
            self.tag, self.state, self.capture_id, self.buffer_bytes, self.max_channels, self.timer_hz,
            self.timer_max_divider, self.mode, self.source, self.divider, self.samples, self.pre, self.waited, self.trigger_index,
            self.trigger_ticks, self.slips, self.sample_bytes, self.trig_channel, self.trig_op,
            self.trig_kind, self.level, self.mask, self.ticks, len(self.channels),
        )  # fmt: skip
        return head + _pack_regions(self.channels)

    @classmethod
    def unpack(cls, payload: bytes) -> CaptureStatusData:
        r = _Reader(payload, "CAPTURE_STATUS_DATA")
        *head, n = r.take(_CAPTURE_STATUS_HEAD)
        channels = _take_regions(r, n)
        r.end()
        return cls(*head, channels)  # type: ignore[arg-type]


@dataclass(slots=True)
class CaptureData(Message):
    """A piece of a completed capture, pushed by the device after CAPTURE_READ (no tag)."""

    TYPE: ClassVar[int] = CAPTURE_DATA
    capture_id: int
    offset: int
    data: bytes

    def pack(self) -> bytes:
        return _CAPTURE_DATA_HEAD.pack(self.capture_id, self.offset) + bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> CaptureData:
        r = _Reader(payload, "CAPTURE_DATA")
        cid, off = r.take(_CAPTURE_DATA_HEAD)
        return cls(cid, off, r.rest())


@dataclass(slots=True, frozen=True)
class IdentRegion:
    start: int
    size: int
    access: int

    @property
    def readable(self) -> bool:
        return bool(self.access & ACCESS_READ)

    @property
    def writable(self) -> bool:
        return bool(self.access & ACCESS_WRITE)


@dataclass(slots=True)
class Ident(Message):
    TYPE: ClassVar[int] = IDENT
    tag: int
    proto_version: int
    flags: int
    word_size: int
    addr_size: int
    tick_hz: int
    max_streams: int
    max_regions: int
    max_stream_bytes: int
    max_payload: int
    tx_size: int
    build_id: bytes
    regions: list[IdentRegion] = field(default_factory=list)

    @property
    def big_endian(self) -> bool:
        return bool(self.flags & FLAG_BIG_ENDIAN)

    @property
    def mask_bytes(self) -> int:
        return (self.max_streams + 7) // 8

    @property
    def capture(self) -> bool:
        """The firmware has the capture module (it may still lack a buffer: CAPTURE_STATUS says)."""
        return self.proto_version >= 3 and bool(self.flags & FLAG_CAPTURE)

    @property
    def change_only(self) -> bool:
        return self.proto_version >= 3 and bool(self.flags & FLAG_CHANGE_ONLY)

    def pack(self) -> bytes:
        head = _IDENT_HEAD.pack(
            self.tag,
            self.proto_version,
            self.flags,
            self.word_size,
            self.addr_size,
            self.tick_hz,
            self.max_streams,
            self.max_regions,
            self.max_stream_bytes,
            self.max_payload,
            self.tx_size,
        )
        regions = b"".join(_IDENT_REGION.pack(r.start, r.size, r.access) for r in self.regions)
        return head + bytes((len(self.build_id),)) + self.build_id + bytes((len(self.regions),)) + regions

    @classmethod
    def unpack(cls, payload: bytes) -> Ident:
        r = _Reader(payload, "IDENT")
        head = r.take(_IDENT_HEAD)
        (n,) = r.take(_U8)
        build_id = r.bytes(n)
        (nreg,) = r.take(_U8)
        regions = [IdentRegion(*r.take(_IDENT_REGION)) for _ in range(nreg)]
        r.end()
        return cls(*head, build_id, regions)  # type: ignore[arg-type]


@dataclass(slots=True)
class ListData(Message):
    TYPE: ClassVar[int] = LIST_DATA
    tag: int
    streams: list[StreamDef] = field(default_factory=list)

    def pack(self) -> bytes:
        parts = [bytes((self.tag, len(self.streams)))]
        for s in self.streams:
            parts.append(_LIST_STREAM.pack(s.stream, s.rate_mhz, len(s.regions)))
            parts.append(_pack_regions(s.regions))
        return b"".join(parts)

    @classmethod
    def unpack(cls, payload: bytes) -> ListData:
        r = _Reader(payload, "LIST_DATA")
        tag, n = r.take(_TAG_U8)
        streams = []
        for _ in range(n):
            sid, rate, nreg = r.take(_LIST_STREAM)
            streams.append(StreamDef(sid, rate, _take_regions(r, nreg)))
        r.end()
        return cls(tag, streams)


@dataclass(slots=True)
class StatusData(Message):
    TYPE: ClassVar[int] = STATUS_DATA
    tag: int
    dropped: int
    overflows: int
    rx_errors: int
    tx_used: int
    tx_size: int
    tx_high_water: int
    ticks: int
    stream_dropped: dict[int, int] = field(default_factory=dict)  # stream id -> samples dropped
    seq: int | None = None  # the next SAMPLES seq (version 2; None from a version 1 device)

    def pack(self) -> bytes:
        head = _STATUS_HEAD.pack(
            self.tag,
            self.dropped,
            self.overflows,
            self.rx_errors,
            self.tx_used,
            self.tx_size,
            self.tx_high_water,
            self.ticks,
        )
        seq = b"" if self.seq is None else _U16.pack(self.seq)
        streams = bytes((len(self.stream_dropped),)) + b"".join(
            _STATUS_STREAM.pack(s, d) for s, d in self.stream_dropped.items()
        )
        return head + seq + streams

    @classmethod
    def unpack(cls, payload: bytes, version: int = PROTOCOL_VERSION) -> StatusData:  # type: ignore[override]
        r = _Reader(payload, "STATUS_DATA")
        head = r.take(_STATUS_HEAD)
        seq = r.take(_U16)[0] if version >= 2 else None
        (n,) = r.take(_U8)
        streams = dict(r.take(_STATUS_STREAM) for _ in range(n))  # type: ignore[misc]
        r.end()
        return cls(*head, stream_dropped=streams, seq=seq)  # type: ignore[arg-type]


@dataclass(slots=True)
class Error(Message):
    TYPE: ClassVar[int] = ERROR
    tag: int
    code: int
    detail: int

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, f"ERROR_{self.code}")

    def pack(self) -> bytes:
        return _ERROR.pack(self.tag, self.code, self.detail)

    @classmethod
    def unpack(cls, payload: bytes) -> Error:
        r = _Reader(payload, "ERROR")
        vals = r.take(_ERROR)
        r.end()
        return cls(*vals)


@dataclass(slots=True)
class Samples(Message):
    """A SAMPLES frame before it is split by stream (that needs the host's stream table)."""

    TYPE: ClassVar[int] = SAMPLES
    seq: int
    ticks: int
    mask: int  # bit s set <=> stream s present (mask byte s // 8, bit s % 8)
    body: bytes  # the present streams' region bytes, concatenated in ascending stream order
    mask_bytes: int = 2

    @property
    def streams(self) -> list[int]:
        return mask_streams(self.mask)

    def pack(self) -> bytes:
        return (
            _SAMPLES_HEAD.pack(self.seq, self.ticks)
            + self.mask.to_bytes(self.mask_bytes, "little")
            + self.body
        )

    @classmethod
    def unpack(cls, payload: bytes, mask_bytes: int = 2) -> Samples:  # type: ignore[override]
        r = _Reader(payload, "SAMPLES")
        seq, ticks = r.take(_SAMPLES_HEAD)
        mask = int.from_bytes(r.bytes(mask_bytes), "little")
        return cls(seq, ticks, mask, r.rest(), mask_bytes)

    def split(self, sizes: Mapping[int, Sequence[int]]) -> dict[int, tuple[bytes, ...]]:
        """Region bytes per stream, given each stream's region sizes."""
        out: dict[int, tuple[bytes, ...]] = {}
        pos = 0
        for s in self.streams:
            if s not in sizes:
                raise UnknownStream(s)
            regions = []
            for size in sizes[s]:
                regions.append(self.body[pos : pos + size])
                pos += size
            out[s] = tuple(regions)
        if pos != len(self.body):
            raise ProtocolError(
                f"a SAMPLES frame holds {len(self.body)} data bytes where the stream table expects {pos}"
            )
        return out


def mask_streams(mask: int) -> list[int]:
    out = []
    s = 0
    while mask:
        if mask & 1:
            out.append(s)
        mask >>= 1
        s += 1
    return out


class UnknownStream(ProtocolError):
    def __init__(self, stream: int):
        super().__init__(f"the device sent samples of stream {stream}, which this host did not start")
        self.stream = stream


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Identify,
        Read,
        Write,
        StreamStart,
        StreamStop,
        ListStreams,
        Status,
        Mode,
        Ack,
        Ident,
        ReadData,
        WriteData,
        ListData,
        StatusData,
        Samples,
        Error,
        StreamFilter,
        CaptureArm,
        CaptureControl,
        CaptureStatus,
        CaptureRead,
        CaptureStatusData,
        CaptureData,
    )
}


def decode_message(msg_type: int, payload: bytes, mask_bytes: int = 2, version: int = PROTOCOL_VERSION) -> Message:
    """Turn one frame's ``(type, payload)`` into its message dataclass (``version``: the device's)."""
    if msg_type == SAMPLES:
        return Samples.unpack(payload, mask_bytes)
    if msg_type == STATUS_DATA:
        return StatusData.unpack(payload, version)
    cls = MESSAGE_TYPES.get(msg_type)
    if cls is None:
        raise ProtocolError(
            f"the device sent an unknown message type 0x{msg_type:02X}; check the firmware version"
        )
    return cls.unpack(payload)


# ---------------------------------------------------------------------------------------------
# the sample fast path


class SamplesUnpacker:
    """Splits SAMPLES payloads into per-stream region bytes at C speed.

    For every distinct mask it compiles one ``struct.Struct`` (``<HI{m}s{size}s...``) so a
    whole frame is decoded in a single ``unpack`` call, plus the slice bounds of each stream
    in the resulting tuple. The cache is rebuilt whenever the stream table changes.
    """

    __slots__ = ("mask_bytes", "_sizes", "_plans")

    def __init__(self, mask_bytes: int, sizes: Mapping[int, Sequence[int]] | None = None):
        self.mask_bytes = mask_bytes
        self._sizes: dict[int, tuple[int, ...]] = {}
        self._plans: dict[bytes, tuple[struct.Struct, tuple[tuple[int, int, int], ...]]] = {}
        if sizes:
            self.set_streams(sizes)

    def set_streams(self, sizes: Mapping[int, Sequence[int]]) -> None:
        self._sizes = {s: tuple(v) for s, v in sizes.items()}
        self._plans = {}

    def _plan(self, mask_raw: bytes) -> tuple[struct.Struct, tuple[tuple[int, int, int], ...]]:
        streams = mask_streams(int.from_bytes(mask_raw, "little"))
        fmt = [f"<HI{self.mask_bytes}s"]
        spans = []
        idx = 3
        for s in streams:
            sizes = self._sizes.get(s)
            if sizes is None:
                raise UnknownStream(s)
            fmt.extend(f"{n}s" for n in sizes)
            spans.append((s, idx, idx + len(sizes)))
            idx += len(sizes)
        plan = (struct.Struct("".join(fmt)), tuple(spans))
        self._plans[mask_raw] = plan
        return plan

    def unpack(self, payload: bytes) -> tuple[int, int, list[tuple[int, tuple[bytes, ...]]]]:
        """``(seq, ticks, [(stream, (region bytes, ...)), ...])``."""
        mb = self.mask_bytes
        mask_raw = payload[6 : 6 + mb]
        plan = self._plans.get(mask_raw)
        if plan is None:
            if len(mask_raw) != mb:
                raise ProtocolError("the device sent a truncated SAMPLES message; check the firmware version")
            plan = self._plan(mask_raw)
        st, spans = plan
        if len(payload) != st.size:
            raise ProtocolError(
                f"a SAMPLES frame holds {len(payload)} bytes where the stream table expects {st.size}; "
                "check that no other program is talking to the device"
            )
        vals = st.unpack(payload)
        return vals[0], vals[1], [(s, vals[a:b]) for s, a, b in spans]
