"""The MiniProfiler wire protocol (seed document 004), as its example dumps show it.

Host -> device, a command packet of 12 bytes::

    55 | command | payload length (0-8) | payload padded to 8 bytes with 00 | checksum

``checksum`` is the sum of the 11 bytes before it, modulo 256.

Device -> host, a response frame of 8 + N bytes::

    AA 55 | type | length:u16 | payload[length] | crc:u16 | 0A

``crc`` is CRC-16/CCITT (poly 0x1021, init 0xFFFF, no reflection, no final xor) over the
header, type, length and payload -- everything before it. Multi-byte integers are
little-endian. Where the seed contradicts itself this module follows its example dumps; each
case is listed in docs/profiler.md ("What the seed says twice").

Everything here is pure (no I/O). ``FrameDecoder`` also recognises the frames of the firmwatch
streamer (docs/protocol.md), which share the ``AA 55`` header on a shared serial line but put
their types at 0x80 and above and leave the header out of their CRC: such a frame is skipped and
counted as foreign, never as corrupt, and never mistaken for a profiler frame.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from dataclasses import dataclass

from firmwatch.errors import UserError
from firmwatch.targets import protocol as _streamer

PROTOCOL_VERSION = 1

# host -> device
COMMAND_HEADER = 0x55
COMMAND_SIZE = 12
COMMAND_PAYLOAD = 8
START_PROFILING = 0x01
STOP_PROFILING = 0x02
GET_STATUS = 0x03
RESET_BUFFERS = 0x04
GET_METADATA = 0x05
SET_CONFIG = 0x06
COMMAND_NAMES = {
    START_PROFILING: "START_PROFILING",
    STOP_PROFILING: "STOP_PROFILING",
    GET_STATUS: "GET_STATUS",
    RESET_BUFFERS: "RESET_BUFFERS",
    GET_METADATA: "GET_METADATA",
    SET_CONFIG: "SET_CONFIG",
}

# device -> host
SYNC = b"\xaa\x55"
END = 0x0A
FRAME_OVERHEAD = 8  # AA 55, type, length:u16, crc:u16, 0A
ACK = 0x01
NACK = 0x02
METADATA = 0x03
STATUS = 0x04
PROFILE_DATA = 0x05
TYPE_NAMES = {ACK: "ACK", NACK: "NACK", METADATA: "METADATA", STATUS: "STATUS", PROFILE_DATA: "PROFILE_DATA"}

# The streamer's device -> host types start here (docs/protocol.md, section 6).
STREAMER_TYPES = 0x80
GAP = _streamer.GAP  # FrameDecoder(mark_gaps=True) puts (GAP, b"") where bytes were lost

RECORD_SIZE = 14
PROFILE_HEADER_SIZE = 3  # version:u8, record_count:u16
METADATA_SIZE = 28
STATUS_SIZE = 10
# A host bounds the length it waits for: a corrupted length must not stall the stream for long.
# 4096 bytes hold 292 records, far more than a device puts in one frame (the seed: 20).
MAX_FRAME_PAYLOAD = 4096

_RECORD = struct.Struct("<IIIH")
_PROFILE_HEAD = struct.Struct("<BH")
_METADATA = struct.Struct("<III16s")
_STATUS = struct.Struct("<BIIB")


class ProfilerError(UserError):
    """A user-facing profiling problem; ``str()`` says what happened and what to do."""


class ProtocolError(ProfilerError):
    """A frame that arrived intact but whose content does not follow the protocol."""


class UnsupportedVersion(ProtocolError):
    def __init__(self, version: int):
        super().__init__(
            f"the device sends profile data in protocol version {version}, and this firmwatch reads "
            f"version {PROTOCOL_VERSION} only: build the firmware with firmware/profiler from this "
            "firmwatch, or use a firmwatch that knows that version."
        )
        self.version = version


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE, the seed's "CRC16-CCITT: polynomial 0x1021, initial value 0xFFFF"."""
    return crc_hqx(data, 0xFFFF)


# ------------------------------------------------------------------------------ commands


def checksum(data: bytes | bytearray) -> int:
    return sum(data) & 0xFF


def encode_command(command: int, payload: bytes = b"") -> bytes:
    if not 0 <= command <= 0xFF:
        raise ValueError(f"command {command} is not a byte")
    if len(payload) > COMMAND_PAYLOAD:
        raise ValueError(f"a command carries at most {COMMAND_PAYLOAD} payload bytes, not {len(payload)}")
    body = bytes((COMMAND_HEADER, command, len(payload))) + payload.ljust(COMMAND_PAYLOAD, b"\0")
    return body + bytes((checksum(body),))


def decode_command(packet: bytes) -> tuple[int, bytes]:
    """``(command, payload)`` of one 12-byte packet; ProtocolError says what is wrong with it."""
    if len(packet) != COMMAND_SIZE:
        raise ProtocolError(f"a command packet has {COMMAND_SIZE} bytes, not {len(packet)}.")
    if packet[0] != COMMAND_HEADER:
        raise ProtocolError(f"a command packet starts with 0x55, not 0x{packet[0]:02X}.")
    if checksum(packet[:11]) != packet[11]:
        raise ProtocolError(
            f"command checksum 0x{packet[11]:02X} does not match its bytes (0x{checksum(packet[:11]):02X})."
        )
    n = packet[2]
    if n > COMMAND_PAYLOAD:
        raise ProtocolError(f"a command payload has at most {COMMAND_PAYLOAD} bytes, not {n}.")
    if any(packet[3 + n : 11]):
        raise ProtocolError("a command's padding after its payload must be 00 bytes.")
    return packet[1], bytes(packet[3 : 3 + n])


# ------------------------------------------------------------------------------ frames


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    if n > 0xFFFF:
        raise ValueError(f"a payload of {n} bytes does not fit a frame")
    head = SYNC + bytes((frame_type, n & 0xFF, n >> 8)) + payload
    crc = crc_hqx(head, 0xFFFF)
    return head + bytes((crc & 0xFF, crc >> 8, END))


class FrameDecoder(_streamer.FrameDecoder):
    """Streaming frame parser for profiler frames: feed any chunks, get complete ``(type,
    payload)``. The streamer's decoder with the profiler's CRC (over AA 55 too) and length bound;
    intact streamer frames (types from 0x80) count in ``foreign_frames`` and are skipped whole.
    ``mark_gaps`` leaves ``(GAP, b"")`` in the output where bytes were lost."""

    CRC_FROM = 0
    FOREIGN_TYPES = range(STREAMER_TYPES, 0x100)

    __slots__ = ()

    def __init__(self, max_payload: int = MAX_FRAME_PAYLOAD, *, mark_gaps: bool = False):
        super().__init__(max_payload, mark_gaps=mark_gaps)


# ------------------------------------------------------------------------------ payloads


@dataclass(frozen=True, slots=True)
class Metadata:
    mcu_clock_hz: int
    timer_hz: int  # units of entry_time and duration_us: 1 MHz means microseconds
    build_id: int  # CRC32 of the firmware's .text section
    fw_version: str

    def pack(self) -> bytes:
        v = self.fw_version.encode("utf-8")[:15]
        return _METADATA.pack(self.mcu_clock_hz, self.timer_hz, self.build_id, v.ljust(16, b"\0"))


def decode_metadata(payload: bytes) -> Metadata:
    if len(payload) != METADATA_SIZE:
        raise ProtocolError(
            f"a METADATA payload has {METADATA_SIZE} bytes, this one {len(payload)}: the firmware does not "
            "follow the MiniProfiler protocol version 1."
        )
    clock, timer, build, raw = _METADATA.unpack(payload)
    version = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    return Metadata(clock, timer, build, version)


@dataclass(frozen=True, slots=True)
class Status:
    profiling: bool
    overflows: int  # records the device could not keep (its ring was full), a running total
    records_captured: int  # records the device kept in its ring, a running total
    buffer_usage: int  # percent of the ring in use

    def pack(self) -> bytes:
        return _STATUS.pack(int(self.profiling), self.overflows, self.records_captured, self.buffer_usage)


def decode_status(payload: bytes) -> Status:
    if len(payload) != STATUS_SIZE:
        raise ProtocolError(
            f"a STATUS payload has {STATUS_SIZE} bytes, this one {len(payload)}: the firmware does not "
            "follow the MiniProfiler protocol version 1."
        )
    flag, overflows, captured, usage = _STATUS.unpack(payload)
    return Status(bool(flag), overflows, captured, usage)


# A record: (func_addr, entry_time, duration, depth), in the device's timer units. Plain tuples:
# the decoder's whole cost is one C call per frame (struct.iter_unpack).
Record = tuple[int, int, int, int]


def decode_profile_data(payload: bytes) -> list[Record]:
    if len(payload) < PROFILE_HEADER_SIZE:
        raise ProtocolError(f"a PROFILE_DATA payload of {len(payload)} bytes is shorter than its 3-byte header.")
    version, count = _PROFILE_HEAD.unpack_from(payload)
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersion(version)
    if len(payload) != PROFILE_HEADER_SIZE + RECORD_SIZE * count:
        raise ProtocolError(
            f"a PROFILE_DATA frame announces {count} records but carries {len(payload) - PROFILE_HEADER_SIZE} "
            f"bytes of them ({RECORD_SIZE} per record)."
        )
    return list(_RECORD.iter_unpack(memoryview(payload)[PROFILE_HEADER_SIZE:]))


def encode_profile_data(records: list[Record] | tuple[Record, ...], version: int = PROTOCOL_VERSION) -> bytes:
    return _PROFILE_HEAD.pack(version, len(records)) + b"".join(_RECORD.pack(*r) for r in records)
