"""GDB Remote Serial Protocol framing: checksums, binary escaping, run-length coding, stop replies.

Pure functions, no I/O, so they can be tested exhaustively. The wire format is
``$payload#cc`` where ``cc`` is the modulo-256 sum of the payload bytes *as transmitted*
(after escaping and run-length encoding), in two lowercase hex digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Bytes that cannot appear raw inside a packet: they are sent as 0x7d followed by byte ^ 0x20.
ESCAPED = frozenset(b"#$}*")
ESCAPE = 0x7D


class PacketError(ValueError):
    """A frame that is not valid RSP (bad checksum, bad run length, truncated escape)."""


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """``$payload#cc``; the caller escapes binary data first (only ``X`` and ``vFile`` carry any)."""
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape_binary(data: bytes) -> bytes:
    if not any(b in ESCAPED for b in data):
        return data
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    if ESCAPE not in data:
        return data
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESCAPE:
            try:
                out.append(next(it) ^ 0x20)
            except StopIteration:
                raise PacketError("binary data ends in the middle of an escape") from None
        else:
            out.append(b)
    return bytes(out)


def rle_decode(data: bytes) -> bytes:
    """Expand ``X*n``: the byte before ``*`` is repeated ``ord(n) - 29`` more times."""
    if b"*" not in data:
        return data
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == 0x2A:  # '*'
            if not out or i + 1 >= n:
                raise PacketError("run-length marker without a character to repeat")
            repeat = data[i + 1] - 29
            if repeat < 0:
                raise PacketError(f"bad run length {data[i + 1]!r}")
            out += bytes((out[-1],)) * repeat
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def rle_encode(data: bytes) -> bytes:
    """Run-length encode as stubs do (used by the test stub; gdb never sends RLE)."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        run = 1
        while i + run < n and data[i + run] == b and run < 98:  # 97 extra = '~' (126)
            run += 1
        extra = run - 1
        # '#' (6 extra) and '$' (7 extra) cannot be count characters; neither can '*' itself
        # be repeated (a '*' after '*' would read as a marker), and short runs are not worth it.
        if extra >= 3 and b != 0x2A:
            if extra in (6, 7):
                extra = 5
            out.append(b)
            out += b"*" + bytes((extra + 29,))
            i += extra + 1
        else:
            out.append(b)
            i += 1
    return bytes(out)


def parse_frame(raw: bytes) -> bytes:
    """Validate ``$...#cc`` (whole frame) and return the decoded payload (RLE expanded)."""
    if len(raw) < 4 or raw[:1] != b"$" or raw[-3:-2] != b"#":
        raise PacketError("not an RSP frame")
    body = raw[1:-3]
    try:
        want = int(raw[-2:], 16)
    except ValueError:
        raise PacketError("checksum is not hex") from None
    if checksum(body) != want:
        raise PacketError(f"checksum mismatch (got {want:02x}, computed {checksum(body):02x})")
    return rle_decode(body)


def _is_hex(b: bytes) -> bool:
    return bool(b) and all(c in b"0123456789abcdefABCDEF" for c in b)


def is_stop_reply(payload: bytes) -> bool:
    """True for ``Txx...``, ``Sxx``, ``Wxx``, ``Xxx`` (never a valid reply to m/g/q packets)."""
    return len(payload) >= 3 and payload[:1] in (b"T", b"S", b"W", b"X") and _is_hex(payload[1:3])


def is_console_output(payload: bytes) -> bool:
    return len(payload) > 1 and payload[:1] == b"O" and _is_hex(payload[1:])


BREAK_REASONS = ("watch", "rwatch", "awatch", "swbreak", "hwbreak")


@dataclass
class StopReply:
    """A parsed stop reply: why the target stopped, with the expedited registers it sent."""

    kind: str  # "signal" (T/S), "exited" (W), "terminated" (X)
    signal: int = 0  # T/S/X: signal number; W: exit status
    thread: str | None = None
    core: int | None = None
    reason: str | None = None  # one of BREAK_REASONS, or "fork"/"exec"/... as sent
    data_address: int | None = None  # for watch/rwatch/awatch
    registers: dict[int, bytes] = field(default_factory=dict)
    process: int | None = None  # W/X with ";process:pid"
    raw: bytes = b""

    @property
    def exit_status(self) -> int | None:
        return self.signal if self.kind == "exited" else None

    def __str__(self) -> str:
        if self.kind == "exited":
            return f"the program exited with status {self.signal}"
        if self.kind == "terminated":
            return f"the program was terminated by signal {self.signal}"
        what = {2: "interrupted", 5: "trapped", 11: "segmentation fault"}.get(self.signal, f"signal {self.signal}")
        if self.reason in ("watch", "rwatch", "awatch") and self.data_address is not None:
            return f"stopped by a {self.reason}point on 0x{self.data_address:x}"
        if self.reason:
            return f"stopped ({self.reason})"
        return f"stopped ({what})"


def parse_stop_reply(payload: bytes) -> StopReply:
    if not is_stop_reply(payload):
        raise PacketError(f"not a stop reply: {payload[:40]!r}")
    kind_char = payload[:1]
    value = int(payload[1:3], 16)
    if kind_char in (b"W", b"X"):
        reply = StopReply("exited" if kind_char == b"W" else "terminated", value, raw=payload)
        rest = payload[3:]
        if rest.startswith(b";process:"):
            try:
                reply.process = int(rest[len(b";process:") :], 16)
            except ValueError:
                pass
        return reply
    reply = StopReply("signal", value, raw=payload)
    if kind_char == b"S":
        return reply
    for item in payload[3:].split(b";"):
        if not item:
            continue
        name, _, val = item.partition(b":")
        key = name.decode("ascii", "replace")
        if _is_hex(name):  # no keyword is all hex digits, so this is a register number
            try:
                reply.registers[int(name, 16)] = bytes.fromhex(val.decode("ascii").replace("x", "0"))
            except ValueError:
                pass
            continue
        if key == "thread":
            reply.thread = val.decode("ascii", "replace")
        elif key == "core":
            try:
                reply.core = int(val, 16)
            except ValueError:
                pass
        elif key in ("watch", "rwatch", "awatch"):
            reply.reason = key
            try:
                reply.data_address = int(val, 16)
            except ValueError:
                pass
        elif key in BREAK_REASONS or key in ("fork", "vfork", "vforkdone", "exec", "library",
                                              "replaylog", "create", "syscall_entry", "syscall_return"):
            reply.reason = key
    return reply


def parse_features(reply: bytes) -> dict[str, str | bool]:
    """``qSupported`` reply → {"PacketSize": "1000", "qXfer:features:read": True, "x": False}."""
    out: dict[str, str | bool] = {}
    for item in reply.decode("ascii", "replace").split(";"):
        if not item:
            continue
        if "=" in item:
            k, _, v = item.partition("=")
            out[k] = v
        elif item[-1] in "+-?":
            out[item[:-1]] = item[-1] == "+"
        else:
            out[item] = True
    return out
