"""Text mode of the streamer protocol: the lines a person types and the replies (docs/protocol.md).

Replies are ``KIND|key=value|key=value|crc=XXXX`` lines, e.g.
``DATA|addr=0x20000010|hex=AB12CD34|crc=6F1C``: since protocol v2 every line the device sends
ends with the CRC-16/CCITT-FALSE of the bytes before ``|crc=``, and a line whose check is
missing or wrong is never believed (a flipped hex digit in an unchecked line is a wrong value
that still parses). Commands the host sends carry the same check, so a damaged WRITE is never
executed. Unknown keys are kept but ignored by the typed parsers, as the spec requires; a key
may repeat (``region=`` in INFO). The host uses text mode only when asked to (``mode="text"``).
"""

from __future__ import annotations

import re
from binascii import crc_hqx
from dataclasses import dataclass, field

from firmwatch.targets.protocol import (
    ACCESS_READ,
    ACCESS_WRITE,
    ERROR_CODES,
    FLAG_BIG_ENDIAN,
    Error,
    Ident,
    IdentRegion,
    ProtocolError,
    StatusData,
)

MAX_LINE = 4096
_KIND = re.compile(r"[A-Z][A-Z_]*\Z")
_REGION = re.compile(r"(0x[0-9a-fA-F]+|\d+)\+(0x[0-9a-fA-F]+|\d+)(?::([rwRW-]*))?\Z")


@dataclass(slots=True)
class TextReply:
    kind: str
    fields: dict[str, str] = field(default_factory=dict)  # last value of each key
    repeated: dict[str, list[str]] = field(default_factory=dict)  # every value of each key

    def get_int(self, key: str, default: int | None = None) -> int:
        v = self.fields.get(key)
        if v is None:
            if default is None:
                raise ProtocolError(
                    f"the device's {self.kind} line lacks '{key}'; check the firmware version"
                )
            return default
        try:
            return parse_number(v)
        except ValueError:
            raise ProtocolError(f"the device's {self.kind} line has a bad number {key}={v!r}") from None


@dataclass(slots=True)
class TextData:
    addr: int
    data: bytes
    ticks: int | None = None
    seq: int | None = None
    stream: int | None = None


def parse_number(text: str) -> int:
    text = text.strip()
    return int(text, 16) if text[:2].lower() == "0x" else int(text, 10)


_CHECK = re.compile(rb"\|crc=([0-9A-Fa-f]{4})\r?\Z")


def with_check(line: bytes) -> bytes:
    """``line`` (without its newline) plus ``|crc=XXXX`` and the newline."""
    return line + b"|crc=%04X\n" % crc_hqx(line, 0xFFFF)


def checked_body(line: bytes) -> bytes | None:
    """The line without its ``|crc=XXXX`` when the check matches; None otherwise."""
    m = _CHECK.search(line)
    if m is None or int(m.group(1), 16) != crc_hqx(line[: m.start()], 0xFFFF):
        return None
    return line[: m.start()]


def parse_line(line: str | bytes) -> TextReply | None:
    """Split one checked reply line; None for a line that is not one (noise, damage, a binary frame)."""
    if isinstance(line, str):
        line = line.encode("latin-1")
    body = checked_body(bytes(line).rstrip(b"\n"))
    if not body:
        return None
    return parse_fields(body.decode("latin-1"))


def parse_fields(line: str) -> TextReply | None:
    """Split a ``KIND|key=value`` line whose check was already verified (or removed)."""
    line = line.strip("\r\n")
    if not line:
        return None
    kind, *parts = line.split("|")
    if not _KIND.match(kind):
        return None
    reply = TextReply(kind)
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not key:
            return None
        reply.fields[key] = value
        reply.repeated.setdefault(key, []).append(value)
    return reply


class LineDecoder:
    """Collects complete lines from arbitrary chunks; over-long junk is dropped and counted."""

    __slots__ = ("_buf", "dropped_bytes")

    def __init__(self) -> None:
        self._buf = b""
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else bytes(data)
        *lines, rest = buf.split(b"\n")
        if len(rest) > MAX_LINE:
            self.dropped_bytes += len(rest)
            rest = b""
        self._buf = rest
        return [ln.rstrip(b"\r") for ln in lines]

    def reset(self) -> None:
        self._buf = b""


# --- host -> device commands ---------------------------------------------------------------


# Every command carries its check: the device drops a line whose check does not match, so a
# damaged command times out and is sent again instead of doing the wrong thing.


def cmd_info() -> bytes:
    return with_check(b"INFO")


def cmd_read(addr: int, size: int) -> bytes:
    return with_check(f"READ 0x{addr:08X} {size}".encode())


def cmd_write(addr: int, data: bytes) -> bytes:
    return with_check(f"WRITE 0x{addr:08X} {data.hex().upper()}".encode())


def cmd_stream(addr: int, size: int, rate_hz: float, stream: int | None = None) -> bytes:
    """With ``stream`` the line defines (or replaces) that id, so sending it twice is harmless."""
    rate_mhz = round(rate_hz * 1000)
    rate = f"{rate_mhz // 1000}.{rate_mhz % 1000:03d}".rstrip("0").rstrip(".")
    sid = "" if stream is None else f" {stream}"
    return with_check(f"STREAM 0x{addr:08X} {size} {rate}{sid}".encode())


def cmd_stop(stream: int | None) -> bytes:
    return with_check(b"STOP ALL" if stream is None else f"STOP {stream}".encode())


def cmd_status() -> bytes:
    return with_check(b"STATUS")


def cmd_list() -> bytes:
    return with_check(b"LIST")


def cmd_binary() -> bytes:
    return with_check(b"BINARY")


# --- device -> host replies ----------------------------------------------------------------


def format_data(
    addr: int, data: bytes, ticks: int | None = None, seq: int | None = None, stream: int | None = None
) -> bytes:
    """A DATA line; without the optional fields this is exactly the seed tool's format."""
    line = f"DATA|addr=0x{addr:08X}|hex={data.hex().upper()}"
    if ticks is not None:
        line += f"|t={ticks}"
    if seq is not None:
        line += f"|seq={seq}"
    if stream is not None:
        line += f"|stream={stream}"
    return with_check(line.encode())


def format_line(line: str) -> bytes:
    return with_check(line.encode())


def format_error(code: int, detail: int) -> bytes:
    name = Error(0, code, detail).name
    return with_check(f"ERR|code={code}|name={name}|detail=0x{detail:08X}".encode())


def format_info(ident: Ident) -> bytes:
    parts = [
        "INFO",
        f"proto={ident.proto_version}",
        f"endian={'big' if ident.big_endian else 'little'}",
        f"word={ident.word_size}",
        f"tick_hz={ident.tick_hz}",
        f"max_streams={ident.max_streams}",
        f"max_regions={ident.max_regions}",
        f"max_stream_bytes={ident.max_stream_bytes}",
        f"max_payload={ident.max_payload}",
        f"tx_size={ident.tx_size}",
        f"build_id={ident.build_id.hex()}",
    ]
    for r in ident.regions:
        acc = ("r" if r.readable else "") + ("w" if r.writable else "")
        parts.append(f"region=0x{r.start:08X}+0x{r.size:X}:{acc or '-'}")
    return with_check("|".join(parts).encode())


def parse_data(reply: TextReply) -> TextData:
    if reply.kind != "DATA":
        raise ProtocolError(f"expected a DATA line from the device, got {reply.kind}")
    try:
        data = bytes.fromhex(reply.fields.get("hex", ""))
    except ValueError:
        raise ProtocolError("the device sent a DATA line whose hex field is not hexadecimal") from None
    opt = {k: reply.get_int(k) if k in reply.fields else None for k in ("t", "seq", "stream")}
    return TextData(reply.get_int("addr"), data, opt["t"], opt["seq"], opt["stream"])


def parse_error(reply: TextReply) -> Error:
    code = reply.get_int("code", 0)
    if not code and "name" in reply.fields:
        code = ERROR_CODES.get(reply.fields["name"], 0)
    return Error(0, code, reply.get_int("detail", 0))


def parse_info(reply: TextReply) -> Ident:
    """An INFO line as an ``Ident`` (fields the line lacks get the core's defaults)."""
    if reply.kind != "INFO":
        raise ProtocolError(f"expected an INFO line from the device, got {reply.kind}")
    regions = []
    for text in reply.repeated.get("region", []):
        m = _REGION.match(text)
        if not m:
            raise ProtocolError(f"the device's INFO line has a region {text!r} that is not START+SIZE:ACCESS")
        acc = (m.group(3) or "r").lower()
        access = (ACCESS_READ if "r" in acc else 0) | (ACCESS_WRITE if "w" in acc else 0)
        regions.append(IdentRegion(parse_number(m.group(1)), parse_number(m.group(2)), access))
    try:
        build_id = bytes.fromhex(reply.fields.get("build_id", ""))
    except ValueError:
        build_id = reply.fields["build_id"].encode()
    return Ident(
        tag=0,
        proto_version=reply.get_int("proto", 0),
        flags=FLAG_BIG_ENDIAN if reply.fields.get("endian") == "big" else 0,
        word_size=reply.get_int("word", 4),
        addr_size=4,
        tick_hz=reply.get_int("tick_hz", 1000),
        max_streams=reply.get_int("max_streams", 16),
        max_regions=reply.get_int("max_regions", 1),
        max_stream_bytes=reply.get_int("max_stream_bytes", 64),
        max_payload=reply.get_int("max_payload", 255),
        tx_size=reply.get_int("tx_size", 0),
        build_id=build_id,
        regions=regions,
    )


def parse_status(reply: TextReply) -> StatusData:
    if reply.kind != "STATUS":
        raise ProtocolError(f"expected a STATUS line from the device, got {reply.kind}")
    g = reply.get_int
    return StatusData(
        0,
        g("dropped", 0),
        g("overflows", 0),
        g("rx_errors", 0),
        g("tx_used", 0),
        g("tx_size", 0),
        g("tx_high_water", 0),
        g("ticks", 0),
        seq=g("seq") if "seq" in reply.fields else None,
    )
