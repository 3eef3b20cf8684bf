"""``StreamerTarget``: the firmware memory streamer over a serial port, a pty or TCP.

One object owns one link. A reader thread parses everything the device sends; commands are
sent by the caller's thread and wait for the reply carrying their tag. Samples and link
events are delivered through callbacks **on the reader thread**: keep them short and never
call blocking methods of the same target from them (hand work to another thread instead).

When the port disappears (USB re-enumeration, the simulator or TCP server restarting) the
reader reports ``on_link("lost", ...)``, reopens the same port with backoff until ``close()``,
identifies the device again, restarts the running streams under the same ids and reports
``on_link("restored", ...)``. Commands issued meanwhile raise ``TargetLost``.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, fields
from types import MemberDescriptorType
from typing import Any, TypeVar

import serial

from firmwatch.targets import protocol as P
from firmwatch.targets import textmode as T
from firmwatch.targets.base import (
    AccessRefused,
    LinkStats,
    MemoryRegion,
    Region,
    Sample,
    SampleCallback,
    Target,
    TargetError,
    TargetInfo,
    TargetLost,
)
from firmwatch.targets.capture_link import CaptureLink
from firmwatch.targets.control import ExecutionControl, MemoryOnlyControl

log = logging.getLogger(__name__)

LinkCallback = Callable[[str, str], None]
_M = TypeVar("_M", bound=P.Message)

_POLL = 0.05  # reader wake-up period: bounds how long close() and stale-frame flushing wait
_WRITE_TIMEOUT = 2.0  # a link that takes no bytes for this long is gone
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)
_STALE_AFTER = 0.2  # a partial frame this long overdue on a quiet link is given up
_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)
_NOISE_ERRORS = (P.ERROR_CODES["BAD_COMMAND"], P.ERROR_CODES["BAD_LENGTH"])


@dataclass(slots=True)
class _Stream:
    regions: tuple[Region, ...]
    rate_hz: float
    device_id: int  # the device's id (equal to ours in binary mode; assigned by the device in text mode)
    # change-only sending (STREAM_FILTER, protocol section 15): heartbeat 0 = every sample
    heartbeat: int = 0
    filters: tuple[tuple[int, int], ...] = ()  # (kind, deadband) per region


class _Port:
    """The open port plus the fastest way to read whatever has arrived from it.

    pyserial's ``read(n)`` waits for ``n`` bytes and its socket ``in_waiting`` is 0 or 1, so the
    reader selects on the underlying descriptor itself and takes everything pending at once.
    """

    def __init__(self, url: str, baud: int):
        # a device path is locked so that a second program gets "port busy" instead of
        # silently stealing half of the bytes; URLs (TCP, RFC 2217) have no such lock
        extra = {} if "://" in url else {"exclusive": True}
        self.ser = serial.serial_for_url(url, baudrate=baud, timeout=_POLL, write_timeout=_WRITE_TIMEOUT, **extra)
        self._sock: socket.socket | None = getattr(self.ser, "_socket", None)
        self._fd: int | None = None
        if self._sock is not None:
            # request/reply round trips must not wait for Nagle
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            fd = getattr(self.ser, "fd", None)
            self._fd = fd if isinstance(fd, int) else None

    def read(self, timeout: float) -> bytes:
        """Whatever is pending (waiting up to ``timeout``); raises OSError/SerialException when the link is gone."""
        if self._sock is not None:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return b""
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return b""
            if not data:
                raise serial.SerialException("the peer closed the connection")
            return data
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return b""
            data = os.read(self._fd, 65536)
            if not data:
                raise serial.SerialException(
                    "the device returned no data although it was ready (disconnected)"
                )
            return data
        try:
            self.ser.timeout = timeout
            return bytes(self.ser.read(max(1, self.ser.in_waiting)))
        except (TypeError, ValueError, AttributeError) as e:
            raise self._closed_meanwhile(e) from None

    def write(self, data: bytes) -> None:
        if self._sock is not None:
            self._send(self._sock, data)
            return
        try:
            self.ser.write(data)
        except (TypeError, ValueError, AttributeError) as e:
            raise self._closed_meanwhile(e) from None

    def _send(self, sock: socket.socket, data: bytes) -> None:
        """pyserial's socket write, but a peer that has gone is an error, never SIGPIPE: a program
        embedding firmwatch may have SIGPIPE at its default action (some libraries reset it on
        import), and pyserial's plain ``send`` would then end that program without a word."""
        if not self.ser.is_open:
            raise serial.PortNotOpenError()
        deadline = time.monotonic() + _WRITE_TIMEOUT
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view, _NO_SIGPIPE)
            except BlockingIOError:
                n = 0
            except OSError as e:
                raise serial.SerialException(f"write failed (socket error): {e}") from None
            view = view[n:]
            if view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise serial.SerialTimeoutException("Write timeout")
                select.select([], [sock], [], left)

    def discard_input(self) -> None:
        try:
            self.ser.reset_input_buffer()
        except (TypeError, ValueError, AttributeError) as e:
            raise self._closed_meanwhile(e) from None

    def _closed_meanwhile(self, e: Exception) -> Exception:
        """pyserial checks that the port is open, then uses its descriptor: when the reader thread
        closes a vanished port in between, that is a TypeError on None. It is the lost link."""
        if self.ser.is_open:
            return e  # not a closed port: a real bug, raised as it is
        return serial.SerialException("the port was closed while it was in use (the device went away)")

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # closing a port that already vanished may fail in many ways
            pass


def _sample_setters() -> tuple[Callable[..., Any], ...] | None:
    """Slot setters of the frozen ``Sample`` dataclass, or None if it is not built that way.

    A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` per field, which costs
    twice as much as the whole decode of a frame per sample; setting the slots directly gives
    the same immutable object at half the cost, and this is the one place that makes millions.
    """
    names = [f.name for f in fields(Sample)]
    if names != ["stream", "seq", "target_time", "host_time", "data"]:
        return None
    setters = [vars(Sample).get(n) for n in names]
    if not all(isinstance(d, MemberDescriptorType) for d in setters):
        return None
    return (object.__new__, *(d.__set__ for d in setters))  # type: ignore[union-attr]


_fast_sample = _sample_setters()


class SampleIngest:
    """The sample path of one link: bytes in, ``Sample`` objects out, at C speed where it counts.

    Frames come from a ``FrameDecoder``; SAMPLES are split with one precompiled struct per
    stream mask (``SamplesUnpacker``), sequence gaps (mod 2^16) are counted as lost frames and
    the 32-bit tick counter is unwrapped. Other frames are handed back for the command layer.
    Only streams in ``active`` are delivered; layouts of stopped streams are kept so frames
    still in flight after a STOP split correctly.
    """

    def __init__(self, mask_bytes: int = 2, tick_hz: int = 1000, max_payload: int = P.MAX_LEN):
        self.decoder = P.FrameDecoder(max_payload)
        self.active: Container[int] = set()
        self.samples = 0
        self.lost = 0
        self.undecodable = 0  # SAMPLES frames of streams this host does not know
        self._corrupt_before = 0
        self._layouts: dict[int, tuple[int, ...]] = {}
        self._mask_bytes = mask_bytes
        self._unpacker = P.SamplesUnpacker(mask_bytes)
        self.tick_hz = tick_hz
        self._last_seq: int | None = None
        self._last_ticks: int | None = None
        self._epoch = 0

    @property
    def corrupt_frames(self) -> int:
        return self._corrupt_before + self.decoder.corrupt_frames

    def define(self, stream: int, sizes: Sequence[int]) -> None:
        """Declare the region sizes of ``stream`` (before starting it: samples may follow the ACK at once)."""
        self._layouts[stream] = tuple(sizes)
        self._unpacker = P.SamplesUnpacker(self._mask_bytes, self._layouts)

    def new_link(self, mask_bytes: int, tick_hz: int, max_payload: int) -> None:
        """A fresh connection: new decoder, sequence and clock tracking restart (counters accumulate)."""
        self._corrupt_before += self.decoder.corrupt_frames
        self.decoder = P.FrameDecoder(max_payload)
        self._mask_bytes = mask_bytes
        self._unpacker = P.SamplesUnpacker(mask_bytes, self._layouts)
        self.tick_hz = tick_hz or 1000
        self._last_seq = None
        self._last_ticks = None
        self._epoch = 0

    def track_seq(self, seq: int) -> None:
        last = self._last_seq
        if last is not None:
            gap = (seq - last - 1) & 0xFFFF
            if gap >= 0x8000:  # a duplicate or reordering, not loss
                return
            self.lost += gap
        self._last_seq = seq

    def target_time(self, ticks: int) -> float:
        last = self._last_ticks
        if last is not None:
            if ticks < last and last - ticks > 0x80000000:
                self._epoch += 1 << 32
            elif ticks > last and ticks - last > 0x80000000:
                return (self._epoch - (1 << 32) + ticks) / self.tick_hz  # a straggler from before the wrap
        self._last_ticks = ticks
        return (self._epoch + ticks) / self.tick_hz

    def feed(self, data: bytes, host_time: float) -> tuple[list[Sample], list[tuple[int, bytes]]]:
        return self.frames(self.decoder.feed(data), host_time)

    def flush_stale(self, host_time: float) -> tuple[list[Sample], list[tuple[int, bytes]]]:
        return self.frames(self.decoder.flush_stale(), host_time)

    def frames(
        self, frames: list[tuple[int, bytes]], host_time: float
    ) -> tuple[list[Sample], list[tuple[int, bytes]]]:
        out: list[Sample] = []
        other: list[tuple[int, bytes]] = []
        unpack = self._unpacker.unpack
        active = self.active
        for msg_type, payload in frames:
            if msg_type != P.SAMPLES:
                other.append((msg_type, payload))
                continue
            if len(payload) < 6:
                self.undecodable += 1
                continue
            seq = payload[0] | (payload[1] << 8)
            self.track_seq(seq)
            try:
                _, ticks, per_stream = unpack(payload)
            except P.ProtocolError as e:
                # streams left running by an earlier session, or a stream redefined while frames
                # were in flight: they cannot be split, so they are counted, not delivered
                self.undecodable += 1
                log.debug("undecodable SAMPLES frame: %s", e)
                continue
            t = self.target_time(ticks)
            if _fast_sample is None:
                out += [
                    Sample(sid, seq, t, host_time, regions) for sid, regions in per_stream if sid in active
                ]
                continue
            new, set_stream, set_seq, set_time, set_host, set_data = _fast_sample
            for sid, regions in per_stream:
                if sid in active:
                    smp = new(Sample)
                    set_stream(smp, sid)
                    set_seq(smp, seq)
                    set_time(smp, t)
                    set_host(smp, host_time)
                    set_data(smp, regions)
                    out.append(smp)
        self.samples += len(out)
        return out, other


STREAMER_CANNOT_HALT = ("the streamer transport reads and writes memory while the firmware runs but cannot stop the "
                        "CPU: use the gdb transport for breakpoints and stepping.")


class StreamerTarget(Target):
    """A device running the firmwatch streamer core (docs/protocol.md), reached through pyserial.

    ``port`` is a device path (``/dev/ttyACM0``, ``/dev/pts/3``) or any pyserial URL
    (``socket://127.0.0.1:5000``, ``rfc2217://...``). ``mode`` is ``"binary"`` (CRC-checked
    frames, the default) or ``"text"`` (checked lines, one region per stream, several times
    more bytes per value): text mode is used only when asked for, never as a silent fallback
    when binary frames do not get through (noise at connect must not change how values are
    read). The constructor connects and identifies the device, or raises ``TargetError``.
    """

    capabilities = frozenset({"read", "write", "stream"})  # + "capture", "change-only" (optional modules)

    def __init__(
        self,
        port: str,
        baud: int = 921600,
        *,
        mode: str = "binary",
        timeout: float = 0.5,
        retries: int = 3,
        reconnect: bool = True,
        on_link: LinkCallback | None = None,
    ):
        if mode == "auto":  # the old name of the default
            mode = "binary"
        if mode not in ("binary", "text"):
            raise ValueError(f"mode must be binary or text, not {mode!r}")
        self.url = port
        self.baud = baud
        self.timeout = timeout
        self.retries = retries
        self._want_mode = mode
        self._reconnect = reconnect
        self._link_callbacks: list[LinkCallback] = [on_link] if on_link else []
        self._sample_callbacks: list[SampleCallback] = []
        self._raw_callbacks: list[Callable[[bytes], None]] = []
        self._message_callbacks: list[Callable[[P.Message], None]] = []
        self.last_status: P.StatusData | None = None  # the device's last STATUS reply
        self._capture: CaptureLink | None = None
        self.capabilities = StreamerTarget.capabilities

        self._cond = threading.Condition()
        self._cmd_lock = threading.RLock()
        self._wlock = threading.Lock()
        self._control: MemoryOnlyControl | None = None
        self._closed = threading.Event()
        self._up = False
        self._reader: threading.Thread | None = None
        self._port: _Port | None = None

        self.mode = "binary"
        self._ident: P.Ident | None = None
        self._lines = T.LineDecoder()
        self._streams: dict[int, _Stream] = {}
        self._in = SampleIngest()
        self._active: set[int] = set()  # streams whose samples are delivered
        self._in.active = self._active
        self._any_ident = False  # connecting: an IDENT answering an earlier attempt is welcome
        self._reply_latency = 0.0  # how long replies took lately (a busy link queues them behind samples)
        self._closing_account = False  # final_stats(): the STATUS reply ends the delivery of samples
        self._cut: tuple[int, int] | None = None  # (frames lost, device ticks) at the final STATUS
        self._by_device_id: dict[int, int] = {}  # text mode: device stream id -> our id
        self._tag = 0
        self._want_tags: set[int] = set()  # the tags of the command in flight (one per attempt)
        self._batch: dict[int, P.Message] | None = None  # read_batch(): replies by tag, while its reads are in flight
        self._reply: P.Message | None = None
        self._text_replies: deque[T.TextReply] = deque()
        self._want_text = False

        # the device's STATUS counters count since it booted: report what happened since we connected
        self._dropped_base = 0  # its `dropped` when this link came up
        self._dropped_last = 0  # its `dropped` at the last STATUS
        self._dropped_before = 0  # dropped during earlier links (before reconnects)
        self._stream_dropped: dict[int, int] = {}
        self._reconnects = 0
        self._text_corrupt = 0
        self.rx_bytes = 0  # every byte received, for wire-efficiency measurements
        self.tx_bytes = 0  # every byte sent
        self._last_data = time.monotonic()  # when bytes last arrived (stale partial frames)
        # on a slow UART a whole frame legitimately takes a while: never give up before that
        self._stale_after = _STALE_AFTER + 2 * (P.MAX_LEN + P.FRAME_OVERHEAD) * 10 / max(baud, 1)

        try:
            self._port = self._open_port()
            with self._cmd_lock:
                self._handshake()
                self._command_ok(
                    lambda tag: P.StreamStop(tag, P.STOP_ALL), "stop all streams", T.cmd_stop(None)
                )
                self._baseline()
        except BaseException:
            if self._port is not None:
                self._port.close()
            raise
        self._up = True
        self._reader = threading.Thread(
            target=self._read_loop, name=f"firmwatch-streamer {port}", daemon=True
        )
        self._reader.start()

    # ------------------------------------------------------------------ public API

    def on_sample(self, callback: SampleCallback) -> None:
        """Add a sample callback (called on the reader thread, once per stream per SAMPLES frame)."""
        self._sample_callbacks.append(callback)

    def on_raw(self, callback: Callable[[bytes], None]) -> None:
        """Add a callback receiving every chunk of bytes as it arrives, before parsing (link captures)."""
        self._raw_callbacks.append(callback)

    def on_message(self, callback: Callable[[P.Message], None]) -> None:
        """Add a callback for messages the device sends unasked (CAPTURE_DATA), on the reader thread."""
        self._message_callbacks.append(callback)

    def request(self, make: Callable[[int], P.Message], what: str) -> P.Message:
        """One binary command with this link's retries; its reply (an ``Error`` is returned, not raised)."""
        if self.mode != "binary":
            raise TargetError(f"to {what} the device must be reached in binary mode; leave the streamer mode at "
                              "binary (drop --streamer-mode text, or \"streamerMode\": \"text\" in launch.json).")
        return self._command(make, what, b"", ())

    def capture_link(self) -> CaptureLink:
        """The device's capture module (the "capture" capability): arm, trigger, upload."""
        if "capture" not in self.capabilities:
            raise TargetError("this firmware has no capture module (build it with FW_CAPTURE=1).")
        if self._capture is None:
            self._capture = CaptureLink(self)
        return self._capture

    def send_raw(self, data: bytes) -> None:
        """Bytes of another protocol sharing this line (firmware/profiler's command packets),
        written whole between this target's own frames; its replies reach ``on_raw``."""
        self._send_frame(data)

    def on_link(self, callback: LinkCallback) -> None:
        """Add a link callback: ``callback("lost" | "restored", one-sentence message)`` on the reader thread."""
        self._link_callbacks.append(callback)

    @property
    def ident(self) -> P.Ident:
        assert self._ident is not None
        return self._ident

    @property
    def connected(self) -> bool:
        return self._up

    def info(self) -> TargetInfo:
        ident = self.ident
        suffix = " (text mode)" if self.mode == "text" else ""
        return TargetInfo(
            name=f"firmwatch streamer v{ident.proto_version} on {self.url}{suffix}",
            byteorder="big" if ident.big_endian else "little",
            word_size=ident.word_size,
            build_id=ident.build_id.hex() if ident.build_id else None,
            tick_hz=ident.tick_hz,
            max_streams=ident.max_streams,
            max_stream_bytes=ident.max_stream_bytes,
            regions=[MemoryRegion(r.start, r.size, r.readable, r.writable) for r in ident.regions],
            protocol_version=ident.proto_version,
            # text mode streams one region per stream (the STREAM line takes one)
            max_regions=1 if self.mode == "text" else ident.max_regions,
            max_rate_hz=float(ident.tick_hz),
            min_rate_hz=0.001,
            link_mode=self.mode,
        )

    def read(self, address: int, size: int) -> bytes:
        self._check_range(address, size)
        chunk = self._chunk_size()
        out = bytearray()
        pos = 0
        while pos < size:
            n = min(chunk, size - pos)
            a = address + pos
            reply = self._command(
                lambda tag, a=a, n=n: P.Read(tag, a, n), f"read 0x{a:08X}", T.cmd_read(a, n), ("DATA",),
                text_match=_addressed(a),
            )
            data = self._reply_data(reply, a, n, "read", address, size)
            out += data
            pos += n
        return bytes(out)

    def read_batch(self, regions: Sequence[Region]) -> list[bytes]:
        """Several regions with their READ requests in flight together (binary mode only, where
        replies carry the request's tag): one round trip through the device's main loop for as
        many requests as its receive ring is sure to hold, instead of one round trip each.

        The ring holds at least one whole command frame (firmwatch.h), so a window of requests
        never exceeds ``max_payload`` + 8 bytes and nothing is lost to an overrun however late the
        device polls; a device short of TX room leaves a request in the ring until it has room.
        Each region that fits one READ is still copied in one piece; regions are not coherent with
        each other (the CPU runs between them). A reply lost on the link (or damaged) is asked
        again alone, with the usual retries; a refused region raises as :meth:`read` does."""
        if self.mode != "binary" or self._reader is None or threading.current_thread() is self._reader:
            return [self.read(r.address, r.size) for r in regions]
        chunk = self._chunk_size()
        parts: list[tuple[int, int, int]] = []  # (region index, address, size)
        for i, r in enumerate(regions):
            self._check_range(r.address, r.size)
            parts += [(i, r.address + pos, min(chunk, r.size - pos)) for pos in range(0, r.size, chunk)]
        # a READ frame has the same length whatever it asks for
        per_window = max(1, (self.ident.max_payload + 8) // len(P.Read(0, 0, 0).encode()))
        got: list[bytes] = []
        for k in range(0, len(parts), per_window):
            got += self._read_window([(a, n) for _, a, n in parts[k : k + per_window]])
        out = [bytearray() for _ in regions]
        for (i, _, _), data in zip(parts, got, strict=True):
            out[i] += data
        return [bytes(b) for b in out]

    def _read_window(self, reads: list[tuple[int, int]]) -> list[bytes]:
        """READ requests sent back to back, replies collected by tag; any missing one read alone."""
        replies: dict[int, P.Message] = {}
        with self._cmd_lock:
            self._check_link()
            with self._cond:
                self._reply = None
                tags = [self._next_tag() for _ in reads]
                self._want_tags = set(tags)
                self._batch = replies
            try:
                data = b"".join(P.Read(t, a, n).encode() for t, (a, n) in zip(tags, reads, strict=True))
                wire = (len(data) + sum(n + 16 for _, n in reads)) * 10 / max(self.baud, 1)
                start = time.monotonic()
                deadline = start + self.timeout + wire
                # as in _command: damaged input after the requests most likely destroyed a reply, so
                # stop waiting early and ask the missing ones alone
                early = max(0.02 + wire, 2 * self._reply_latency)
                damage = self._damage_seen()
                try:
                    self._send_frame(data)
                except (OSError, serial.SerialException) as e:
                    raise TargetLost(f"the link to {self.url} failed while reading memory ({e}).") from None
                with self._cond:
                    while len(replies) < len(tags):
                        if not self._up:
                            raise TargetLost(f"lost the link to {self.url} while waiting for the device's answer.")
                        now = time.monotonic()
                        if now >= deadline or (now - start >= early and self._damage_seen() != damage):
                            break
                        self._cond.wait(min(deadline - now, 0.01))
            finally:
                with self._cond:
                    self._batch = None
                    self._want_tags = set()
        out = []
        for t, (a, n) in zip(tags, reads, strict=True):
            reply = replies.get(t)
            if reply is None:
                log.debug("no reply to the batched read of 0x%08X; reading it alone", a)
                out.append(self.read(a, n))
            else:
                out.append(self._reply_data(reply, a, n, "read", a, n))
        return out

    def write(self, address: int, data: bytes) -> bytes:
        """Write ``data``, return the bytes read back; retried writes are safe (same bytes, same place)."""
        data = bytes(data)
        self._check_range(address, len(data))
        chunk = self._chunk_size()
        out = bytearray()
        for pos in range(0, len(data), chunk):
            part = data[pos : pos + chunk]
            a = address + pos
            reply = self._command(
                lambda tag, a=a, part=part: P.Write(tag, a, part),
                f"write 0x{a:08X}",
                T.cmd_write(a, part),
                ("DATA",),
                text_match=_addressed(a),
            )
            if isinstance(reply, P.Error) and reply.code == P.ERROR_CODES["READBACK"]:
                # the write happened but a register or the firmware changed the value at once:
                # what the caller wants to see is what is there now
                out += self.read(a, len(part))
                continue
            out += self._reply_data(reply, a, len(part), "write", address, len(data))
        return bytes(out)

    def start_stream(self, regions: Sequence[Region], rate_hz: float, *, heartbeat: int = 0,
                     filters: Sequence[tuple[int, int]] = ()) -> int:
        """``heartbeat`` > 0 (a device with change-only streams): send a sample only when a region moved by
        more than its ``filters`` entry's deadband (kind, deadband; P.KIND_*), or after ``heartbeat``
        instants without one. The filter is part of the stream: it is set again after a reconnect."""
        regions = tuple(Region(r.address, r.size) for r in regions)
        ident = self.ident
        self._validate_stream(regions, rate_hz)
        if heartbeat:
            if "change-only" not in self.capabilities:
                raise TargetError("this firmware sends every sample (it has no change-only streams: build it with "
                                  "FW_CHANGE_ONLY=1); watch without a deadband.")
            if len(filters) != len(regions) or not 0 < heartbeat < 0x10000:
                raise ValueError("a filtered stream needs one (kind, deadband) per region and a heartbeat of 1..65535")
        with self._cmd_lock:
            free = [s for s in range(ident.max_streams) if s not in self._streams]
            if not free:
                raise TargetError(
                    f"all {ident.max_streams} streams of the device are in use; stop one before starting another."
                )
            sid = free[0]
            self._start_on_device(sid, _Stream(regions, rate_hz, sid, heartbeat, tuple(filters)))
            return sid

    def stop_stream(self, stream: int | None = None) -> None:
        with self._cmd_lock:
            if stream is None:
                self._command_ok(
                    lambda tag: P.StreamStop(tag, P.STOP_ALL), "stop all streams", T.cmd_stop(None)
                )
                self._streams.clear()
                self._active.clear()
                self._by_device_id.clear()
                return
            st = self._streams.get(stream)
            if st is None:
                raise TargetError(f"stream {stream} is not running; nothing to stop.")
            dev = st.device_id
            reply = self._command(
                lambda tag: P.StreamStop(tag, dev), f"stop stream {stream}", T.cmd_stop(dev), ("OK",),
                text_match=_plain_ok,
            )
            err = T.parse_error(reply) if isinstance(reply, T.TextReply) and reply.kind == "ERR" else reply
            # NO_STREAM means stopped already: the answer to a retried STOP whose first reply was lost
            if not (isinstance(err, P.Error) and err.code == P.ERROR_CODES["NO_STREAM"]):
                self._raise_for_error(reply, f"stop stream {stream}")
            self._streams.pop(stream, None)
            self._active.discard(stream)
            self._by_device_id.pop(dev, None)

    def streams(self) -> dict[int, tuple[tuple[Region, ...], float]]:
        """The streams this host runs: id -> (regions, rate_hz)."""
        return {sid: (st.regions, st.rate_hz) for sid, st in self._streams.items()}

    def list_streams(self) -> list[P.StreamDef]:
        """The streams the device says it runs (binary mode only)."""
        if self.mode != "binary":
            raise TargetError(
                "listing the device's streams needs binary mode; this device answers in text mode."
            )
        reply = self._command(lambda tag: P.ListStreams(tag), "list streams", b"", ())
        self._raise_for_error(reply, "list streams")
        return _expect(reply, P.ListData, "list streams").streams

    def status(self) -> P.StatusData:
        """The device's STATUS: drops, overflows, rx errors, TX buffer use, per-stream drops."""
        reply = self._command(
            lambda tag: P.Status(tag), "read the device status", T.cmd_status(), ("STATUS",)
        )
        self._raise_for_error(reply, "read the device status")
        st = (
            T.parse_status(reply)
            if isinstance(reply, T.TextReply)
            else _expect(reply, P.StatusData, "status")
        )
        self._dropped_last = st.dropped
        self._stream_dropped = {s: n for s, n in st.stream_dropped.items() if s in self._streams}
        self.last_status = st
        return st

    def _baseline(self) -> None:
        """The device's counters as this link comes up (protocol.md §13, step 3)."""
        self._dropped_before += max(0, self._dropped_last - self._dropped_base)
        st = self.status()
        self._dropped_base = self._dropped_last = st.dropped
        if st.seq is not None and self._in._last_seq is None:
            # the next frame is this seq: one lost before the first that arrives is counted too (a
            # change-only stream's first sample may be its only one for a heartbeat)
            self._in._last_seq = (st.seq - 1) & 0xFFFF

    @property
    def _version(self) -> int:
        return self._ident.proto_version if self._ident is not None else P.PROTOCOL_VERSION

    def final_stats(self) -> LinkStats:
        """Close the account of this session exactly: STATUS while the streams still run, and no
        sample delivered after its reply. Every frame before the reply was either received,
        destroyed on the link or counted by the device (version 2 STATUS carries the next seq),
        so ``lost`` includes frames lost after the last one received, and ``device_ticks`` is
        the tick up to which each stream's samples are accounted for."""
        self._closing_account = True
        try:
            return self.stats(refresh_device=True)
        finally:
            self._closing_account = False

    def _close_account(self, st: P.StatusData) -> None:
        """Reader thread, at the final STATUS reply: stop delivering, count the tail."""
        if self._cut is not None:
            return  # a late reply to another attempt: the first one closed the account
        self._active.clear()
        lost = self._in.lost
        last = self._in._last_seq
        if st.seq is not None and last is not None:
            tail = (st.seq - 1 - last) & 0xFFFF
            if tail < 0x8000:
                lost += tail
        self._cut = (lost, st.ticks)

    def stats(self, refresh_device: bool = False) -> LinkStats:
        """Host-side counters; with ``refresh_device`` the device's own drop count is fetched first.

        ``lost`` counts SAMPLES frames missing from the sequence (each may have carried samples
        of several streams); ``corrupt_frames`` counts frames rejected by CRC/terminator/length.
        """
        known = True  # the baseline STATUS at connect was read
        if refresh_device:
            try:
                # the last word of a recording: worth more patience than one command
                with self._cmd_lock:
                    saved, self.retries = self.retries, max(self.retries, 9)
                    try:
                        self.status()
                    finally:
                        self.retries = saved
            except TargetError:
                known = False
        return LinkStats(
            samples=self._in.samples,
            lost=self._in.lost if self._cut is None else self._cut[0],
            corrupt_frames=self._in.corrupt_frames + self._text_corrupt,
            device_dropped=self._dropped_before + max(0, self._dropped_last - self._dropped_base),
            reconnects=self._reconnects,
            stream_dropped=dict(self._stream_dropped),
            status_known=known,
            device_ticks=None if self._cut is None else self._cut[1],
        )

    def control(self) -> ExecutionControl:
        """Memory only: the firmware streams while it runs, and nothing on this link can stop it."""
        if self._control is None:
            self._control = MemoryOnlyControl(self, STREAMER_CANNOT_HALT)
        return self._control

    def close(self) -> None:
        if self._closed.is_set():
            return
        if self._up and self._streams:
            try:  # leave the device quiet for the next user; best effort, never retried
                self._send_frame(P.StreamStop(self._next_tag(), P.STOP_ALL).encode())
            except Exception:
                pass
        self._closed.set()
        with self._cond:
            self._up = False
            self._cond.notify_all()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        if self._port is not None:
            self._port.close()

    # ------------------------------------------------------------------ validation and helpers

    def _chunk_size(self) -> int:
        # READ_DATA/WRITE/WRITE_DATA carry tag + addr before the bytes
        # text lines must fit the device's small RX line buffer ("WRITE 0x20000000 " + 2 hex digits a byte)
        return max(1, self.ident.max_payload - 5) if self.mode == "binary" else 48

    def _check_range(self, address: int, size: int) -> None:
        if size < 0 or address < 0 or address + size > 1 << 32:
            raise TargetError(f"0x{address:X}+{size} is not a valid 32-bit address range.")

    def _validate_stream(self, regions: tuple[Region, ...], rate_hz: float) -> None:
        ident = self.ident
        if not regions:
            raise TargetError("a stream needs at least one region to sample.")
        for r in regions:
            if r.size <= 0:
                raise TargetError(f"the region at 0x{r.address:08X} has size {r.size}; give a positive size.")
            self._check_range(r.address, r.size)
        if not (rate_hz > 0) or rate_hz > ident.tick_hz:
            raise TargetError(
                f"the rate {rate_hz:g} Hz is outside what the device can sample (above 0, at most its tick rate "
                f"{ident.tick_hz} Hz)."
            )
        if round(rate_hz * 1000) < 1:
            raise TargetError(f"the rate {rate_hz:g} Hz is below the protocol's resolution of 0.001 Hz.")
        if self.mode == "text" and len(regions) != 1:
            raise TargetError(
                "this device answers only in text mode, which streams one region per stream; "
                "start one stream per region or use firmware that speaks binary mode."
            )
        if len(regions) > ident.max_regions:
            raise TargetError(
                f"a stream of {len(regions)} regions exceeds the device's limit of {ident.max_regions} regions per "
                "stream; split it into several streams."
            )
        total = sum(r.size for r in regions)
        if total > ident.max_stream_bytes:
            raise TargetError(
                f"a stream of {total} bytes exceeds the device's limit of {ident.max_stream_bytes} bytes per sample; "
                "split it into several streams."
            )

    def _refuse(self, err: P.Error, verb: str, address: int, size: int) -> TargetError:
        span = f"0x{address:08X}..0x{address + max(size, 1) - 1:08X}"
        if err.code == P.ERROR_CODES["NOT_READABLE"]:
            return AccessRefused(
                f"the device refused to {verb} {span}: 0x{err.detail:08X} is not inside a readable region "
                "(see the region table in the device info).",
                err.code,
                err.detail,
            )
        if err.code == P.ERROR_CODES["NOT_WRITABLE"]:
            return AccessRefused(
                f"the device refused to {verb} {span}: 0x{err.detail:08X} is not inside a writable region "
                "(const data or flash).",
                err.code,
                err.detail,
            )
        return AccessRefused(
            f"the device refused to {verb} {span} with error {err.name} (detail 0x{err.detail:X}).",
            err.code,
            err.detail,
        )

    def _stream_refused(self, err: P.Error, st: _Stream) -> AccessRefused:
        codes = P.ERROR_CODES
        if err.code == codes["NOT_READABLE"]:
            bad = next((r for r in st.regions if r.address <= err.detail < r.address + r.size), st.regions[0])
            return self._refuse(err, "stream", bad.address, bad.size)
        if err.code == codes["TOO_MANY_REGIONS"]:
            text = (
                f"the device has no room for a stream of {len(st.regions)} region(s) (its region table is full); "
                "stop a stream or watch fewer variables."
            )
        elif err.code == codes["STREAM_TOO_BIG"]:
            text = (
                f"the device refused a stream of {sum(r.size for r in st.regions)} bytes: its limit is "
                f"{err.detail} bytes per sample, so split the stream."
            )
        elif err.code == codes["BAD_RATE"]:
            text = f"the device refused the rate {st.rate_hz:g} Hz: it samples above 0 and at most {err.detail} Hz."
        elif err.code == codes["NO_STREAM"]:
            text = f"the device has no free stream (it runs at most {self.ident.max_streams}); stop a watch first."
        else:
            text = f"the device refused to start the stream: error {err.name} (detail 0x{err.detail:X})."
        return AccessRefused(text, err.code, None)

    def _reply_data(
        self, reply: P.Message | T.TextReply, a: int, n: int, verb: str, address: int, size: int
    ) -> bytes:
        if isinstance(reply, P.Error):
            raise self._refuse(reply, verb, address, size)
        if isinstance(reply, T.TextReply):
            if reply.kind == "ERR":
                raise self._refuse(T.parse_error(reply), verb, address, size)
            d = T.parse_data(reply)
            addr, data = d.addr, d.data
        else:
            answer = _expect(reply, P.WriteData if verb == "write" else P.ReadData, verb)
            addr, data = answer.addr, answer.data
        if addr != a or len(data) != n:
            raise P.ProtocolError(
                f"the device answered a {verb} of {n} bytes at 0x{a:08X} with {len(data)} bytes at 0x{addr:08X}; "
                "check that no other program is using the port."
            )
        return data

    def _raise_for_error(self, reply: P.Message | T.TextReply, what: str) -> None:
        if isinstance(reply, T.TextReply) and reply.kind == "ERR":
            reply = T.parse_error(reply)
        if isinstance(reply, P.Error):
            if reply.code == P.ERROR_CODES["NO_STREAM"]:
                raise TargetError(f"the device could not {what}: no such stream is running.")
            raise TargetError(f"the device could not {what}: error {reply.name} (detail 0x{reply.detail:X}).")

    # ------------------------------------------------------------------ commands

    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) & 0xFF
        return self._tag

    def _send_frame(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise TargetLost(f"the link to {self.url} is closed.")
        with self._wlock:
            port.write(data)
            self.tx_bytes += len(data)

    def _command(
        self,
        make: Callable[[int], P.Message],
        what: str,
        text: bytes,
        text_kinds: tuple[str, ...],
        timeout: float | None = None,
        retries: int | None = None,
        preamble: bytes = b"",
        early_retry: bool = True,
        text_match: Callable[[T.TextReply], bool] | None = None,
    ) -> P.Message | T.TextReply:
        """Send a command and return its reply (an ``Error`` reply is returned, not raised).

        A reply lost to corruption or noise is recovered by sending again with a fresh tag (after
        RESYNC): every command of the protocol is idempotent, so a reply to *any* attempt of this
        command answers it, and replies to other commands are ignored (by tag; in text mode by
        kind and ``text_match``). ``preamble`` goes out before the first attempt.

        An attempt is abandoned early when damaged input arrives after its request: on a noisy
        link the reply was most likely destroyed, and waiting out the timeout would only cost
        time. So the budget is time, ``timeout`` x (``retries`` + 1), with at least
        ``retries`` + 1 attempts: a quiet link gets exactly those, a noisy one as many as fit.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        with self._cmd_lock:
            with self._cond:
                self._reply = None
                self._text_replies.clear()
                self._want_tags = set()
                self._want_text = self.mode == "text"
            deadline = time.monotonic() + timeout * (retries + 1)
            attempt = 0
            try:
                while attempt <= retries or time.monotonic() < deadline:
                    self._check_link()
                    # A request that went unanswered may have been damaged into the start of a
                    # long frame (one flipped length bit): the device then waits for up to 254
                    # bytes that would swallow every retry, so retries resynchronise its parser.
                    lead = P.RESYNC if attempt else preamble
                    with self._cond:
                        if self.mode == "binary":
                            tag = self._next_tag()
                            self._want_tags.add(tag)
                            data = lead + make(tag).encode()
                        else:
                            data = lead + text
                    try:
                        sent = time.monotonic()
                        self._send_frame(data)
                        # a slow UART needs time to carry the request and a long reply; a reply
                        # queued behind samples takes what replies took lately: give up early
                        # (damage seen) only after twice that
                        wire = (len(data) + 300) * 10 / max(self.baud, 1)
                        early = max(0.02 + wire, 2 * self._reply_latency)
                        reply = self._await_reply(timeout + wire, text_kinds, early_retry and early, text_match)
                    except (OSError, serial.SerialException) as e:
                        raise TargetLost(f"the link to {self.url} failed while trying to {what} ({e}).") from None
                    if reply is not None:
                        took = time.monotonic() - sent
                        self._reply_latency = min(timeout / 2, 0.8 * self._reply_latency + 0.2 * took)
                        return reply
                    attempt += 1
                    log.debug("no reply to %s (attempt %d); retrying", what, attempt)
            finally:
                with self._cond:
                    self._want_tags = set()
                    self._want_text = False
        self._check_link()
        raise TargetError(
            f"the device on {self.url} did not answer when asked to {what} ({attempt} attempts); "
            "check that the firmware is running and nothing else uses the port."
        )

    def _command_ok(self, make: Callable[[int], P.Message], what: str, text: bytes) -> None:
        reply = self._command(make, what, text, ("OK",), text_match=_plain_ok)
        self._raise_for_error(reply, what)

    def _check_link(self) -> None:
        if self._closed.is_set():
            raise TargetLost(f"the link to {self.url} is closed.")
        if not self._up and self._reader is not None and threading.current_thread() is not self._reader:
            raise TargetLost(
                f"the link to {self.url} is down; firmwatch is reconnecting, try again when it is restored."
            )

    def _take_reply(
        self, text_kinds: tuple[str, ...], text_match: Callable[[T.TextReply], bool] | None = None
    ) -> P.Message | T.TextReply | None:
        if self.mode == "binary":
            return self._reply
        while self._text_replies:
            r = self._text_replies.popleft()
            if r.kind in text_kinds:
                if text_match is None or text_match(r):
                    return r
                continue  # a late answer to an earlier command
            # Text replies carry no tag. BAD_COMMAND and BAD_LENGTH never answer a checked command
            # this host sent (its verbs and arguments are always right): they answer line noise the
            # device took for a command. INFO cannot fail at all.
            if r.kind == "ERR" and "INFO" not in text_kinds and r.get_int("code", 0) not in _NOISE_ERRORS:
                return r
        return None

    def _damage_seen(self) -> int:
        return self._in.decoder.corrupt_frames + self._text_corrupt

    def _await_reply(
        self,
        timeout: float,
        text_kinds: tuple[str, ...],
        early: float | bool = False,
        text_match: Callable[[T.TextReply], bool] | None = None,
    ) -> P.Message | T.TextReply | None:
        """The reply, or None after ``timeout`` — or once ``early`` seconds have passed and damaged
        input arrived meanwhile (the reply was probably destroyed: better to ask again now)."""
        start = time.monotonic()
        deadline = start + timeout
        damage = self._damage_seen()

        def give_up_early(now: float) -> bool:
            return bool(early) and now - start >= early and self._damage_seen() != damage

        if self._reader is None or threading.current_thread() is self._reader:
            # nobody else reads the port (handshake, reconnect): pump it here
            assert self._port is not None
            while True:
                reply = self._take_reply(text_kinds, text_match)
                if reply is not None:
                    return reply
                now = time.monotonic()
                if now >= deadline or give_up_early(now):
                    return None
                self._pump(min(deadline - now, _POLL))
        with self._cond:
            while True:
                reply = self._take_reply(text_kinds, text_match)
                if reply is not None:
                    return reply
                if not self._up:
                    raise TargetLost(f"lost the link to {self.url} while waiting for the device's answer.")
                now = time.monotonic()
                if now >= deadline or give_up_early(now):
                    return None
                # wake now and then to notice damage (the reader does not signal it)
                self._cond.wait(min(deadline - now, 0.01 if early else deadline - now))

    def _start_on_device(self, sid: int, st: _Stream) -> None:
        """Define ``sid`` on the device. Its samples are delivered from the moment the request goes
        out: the first ones may arrive right behind the ACK, and — should the ACK be destroyed and
        the request sent again — before it. Nothing else can be behind that id: the host reuses
        an id only after the device acknowledged its STOP (or STOP ALL at connect), so every frame
        of an older definition arrived before."""
        rate_mhz = round(st.rate_hz * 1000)
        st.device_id = sid  # text STREAM lines carry the id too
        self._streams[sid] = st
        self._by_device_id[sid] = sid
        if self.mode == "binary":
            self._in.define(sid, [r.size for r in st.regions])
        self._active.add(sid)
        try:
            if self.mode == "binary":
                regions = tuple((r.address, r.size) for r in st.regions)
                reply = self._command(
                    lambda tag: P.StreamStart(tag, sid, rate_mhz, regions), f"start stream {sid}", b"", ()
                )
                if isinstance(reply, P.Error):
                    raise self._stream_refused(reply, st)
                _expect(reply, P.Ack, "stream start")
                if st.heartbeat:
                    reply = self._command(
                        lambda tag: P.StreamFilter(tag, sid, st.heartbeat, st.filters), f"filter stream {sid}", b"", ()
                    )
                    if isinstance(reply, P.Error):
                        self._command(lambda tag: P.StreamStop(tag, sid), f"stop stream {sid}", b"", ())
                        raise AccessRefused(
                            f"the device refused the deadband of stream {sid} (error {reply.name}): a deadband applies "
                            "to numbers of 1, 2 or 4 bytes (4 for a float).", reply.code, None)
                    _expect(reply, P.Ack, "stream filter")
            else:
                r = st.regions[0]
                reply = self._command(
                    lambda tag: P.Identify(tag),  # unused: text mode sends the line below
                    f"start stream {sid}",
                    T.cmd_stream(r.address, r.size, st.rate_hz, sid),
                    ("OK",),
                    text_match=lambda reply: reply.fields.get("stream") == str(sid),
                )
                if isinstance(reply, T.TextReply) and reply.kind == "ERR":
                    raise self._stream_refused(T.parse_error(reply), st)
        except BaseException:
            self._streams.pop(sid, None)
            self._active.discard(sid)
            self._by_device_id.pop(sid, None)
            raise

    # ------------------------------------------------------------------ connection

    def _open_port(self) -> _Port:
        try:
            return _Port(self.url, self.baud)
        except (serial.SerialException, OSError, ValueError) as e:
            raise TargetError(
                f"cannot open {self.url} ({_short(e)}); check the port name and that nothing else uses it."
            ) from None

    def _handshake(self) -> None:
        """Resynchronise the device's parser and identify it in the chosen mode; resets the link state.

        Every attempt starts with ``P.RESYNC``: bytes a previous user left in the device's
        receive buffer (half a frame, half a line) would otherwise swallow the IDENTIFY.
        Attempts continue for about three seconds, so line noise that destroys a few
        IDENTIFY/IDENT exchanges costs time, never the mode: a binary link never turns into a
        text one because a reply was lost.
        """
        assert self._port is not None
        try:
            self._port.discard_input()
        except (serial.SerialException, OSError):
            pass
        self._in.new_link(2, 1000, 4096)  # the bound before IDENT tells the real one (protocol.md §4)
        self._lines.reset()
        self.mode = self._want_mode
        ident: P.Ident | None = None
        reply = self._identify(max(3.0, (self.retries + 1) * self.timeout))
        if isinstance(reply, P.Ident):
            ident = reply
        elif isinstance(reply, T.TextReply) and reply.kind == "INFO":
            ident = T.parse_info(reply)
        if ident is None:
            raise TargetError(self._no_answer())
        if ident.proto_version not in P.BINARY_COMPATIBLE_VERSIONS or (
            self.mode == "text" and ident.proto_version not in P.TEXT_COMPATIBLE_VERSIONS
        ):
            raise TargetError(
                f"the device speaks streamer protocol v{ident.proto_version} but this firmwatch speaks "
                f"v{P.PROTOCOL_VERSION}; update firmwatch or the firmware so they match."
            )
        self._ident = ident
        extra = set()
        if self.mode == "binary" and ident.capture:
            extra.add("capture")
        if self.mode == "binary" and ident.change_only:
            extra.add("change-only")
        if self.mode == "binary":
            extra.add("read-batch")  # tagged replies: several READs in flight (text replies carry no tag)
        self.capabilities = StreamerTarget.capabilities | extra
        # replies such as LIST_DATA may exceed max_payload, up to the device's TX buffer (protocol.md)
        longest = max(ident.max_payload, ident.tx_size - P.FRAME_OVERHEAD, 256)
        self._in.new_link(ident.mask_bytes, ident.tick_hz, longest)
        frame_time = (longest + P.FRAME_OVERHEAD) * 10 / max(self.baud, 1)
        self._stale_after = _STALE_AFTER + 2 * frame_time

    def _identify(self, seconds: float) -> P.Message | T.TextReply | None:
        """RESYNC + IDENTIFY (or INFO) again and again for ``seconds``: the first reply wins.

        Attempts are short; a slow device's IDENT that arrives after its attempt gave up is
        still taken (any IDENT answers the question, whatever its tag).
        """
        start = time.monotonic()
        damage = self._damage_seen()
        self._any_ident = True
        try:
            while True:
                try:
                    return self._command(
                        lambda tag: P.Identify(tag), "identify", T.cmd_info(), ("INFO",),
                        timeout=min(self.timeout, 0.2), retries=0, preamble=P.RESYNC, early_retry=True,
                    )  # fmt: skip
                except TargetLost:
                    raise
                except TargetError:
                    # something that answers with damaged replies is worth more patience than silence
                    limit = seconds if self._damage_seen() == damage else max(seconds, 10.0)
                    if time.monotonic() - start >= limit:
                        return None
        finally:
            self._any_ident = False

    def _no_answer(self) -> str:
        """Why nothing identified itself: a device that answers the other mode is worth naming."""
        other = "text" if self.mode == "binary" else "binary"
        self.mode = other
        answered = self._identify(2 * self.timeout)
        self.mode = self._want_mode
        if isinstance(answered, P.Ident) or (isinstance(answered, T.TextReply) and answered.kind == "INFO"):
            if other == "text":
                return (
                    f"the device on {self.url} answers text lines but no binary frame: either the link destroys "
                    "frames (check the cable and the baud rate) or its firmware speaks only text; firmwatch "
                    "uses text mode only when asked (--streamer-mode text, or \"streamerMode\": \"text\" in "
                    "launch.json)."
                )
            return f"the device on {self.url} answers in binary mode but not in text mode; use the default binary mode."
        return (
            f"no firmwatch streamer answered on {self.url}; check the port, the baud rate ({self.baud}) and that "
            "the firmware runs the streamer."
        )

    def _emit_link(self, state: str, message: str) -> None:
        for cb in list(self._link_callbacks):
            try:
                cb(state, message)
            except Exception:
                log.exception("link callback failed")

    def _reconnect_loop(self, reason: str) -> None:
        with self._cond:
            self._up = False
            self._cond.notify_all()
        if self._port is not None:
            self._port.close()
        self._emit_link("lost", f"lost the link to {self.url} ({reason}); reconnecting.")
        if not self._reconnect:
            self._closed.set()
            return
        old_build = self._ident.build_id if self._ident else b""
        wanted = sorted(self._streams.items())
        refused: list[str] = []
        attempt = 0
        while not self._closed.is_set():
            try:
                self._port = _Port(self.url, self.baud)
                with self._cmd_lock:
                    self._active.clear()
                    self._handshake()
                    self._command_ok(
                        lambda tag: P.StreamStop(tag, P.STOP_ALL), "stop all streams", T.cmd_stop(None)
                    )
                    self._by_device_id.clear()
                    self._baseline()
                    refused = []
                    for sid, st in wanted:
                        try:
                            self._start_on_device(sid, st)
                        except AccessRefused as e:  # e.g. reflashed: the address is gone
                            refused.append(f"stream {sid} could not be restarted ({e})")
                break
            except (serial.SerialException, OSError, ValueError, TargetError) as e:
                log.debug("reconnect to %s failed: %s", self.url, e)
                if self._port is not None:
                    self._port.close()
                self._closed.wait(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
                attempt += 1
        if self._closed.is_set():
            return
        self._reconnects += 1
        with self._cond:
            self._up = True
            self._cond.notify_all()
        msg = f"link to {self.url} restored, {len(self._streams)} stream(s) running again."
        if refused:
            msg += " " + "; ".join(refused)
        new_build = self.ident.build_id
        if old_build and new_build != old_build:
            msg = (
                f"link to {self.url} restored, but the device's build id changed from {old_build.hex()} to "
                f"{new_build.hex()}: it was reflashed, so reload the matching ELF."
            )
            log.warning(msg)
        self._emit_link("restored", msg)

    # ------------------------------------------------------------------ reader thread

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            port = self._port
            try:
                assert port is not None
                data = port.read(_POLL)
            except (OSError, serial.SerialException, ValueError, TypeError) as e:
                if self._closed.is_set():
                    break
                self._reconnect_loop(_short(e))
                self._last_data = time.monotonic()
                continue
            self._handle(data)

    def _pump(self, timeout: float) -> None:
        assert self._port is not None
        self._handle(self._port.read(timeout))

    def _handle(self, data: bytes) -> None:
        """Handle what arrived; give up a partial frame that a quiet link will never complete (a
        damaged length field claims bytes that never come, and would otherwise hold back every
        frame behind it)."""
        now = time.monotonic()
        if data:
            self._last_data = now
            self._ingest(data)
        elif self._in.decoder.pending and now - self._last_data > self._stale_after:
            self._dispatch_in_order(self._in.decoder.flush_stale())

    def _ingest(self, data: bytes) -> None:
        if not data:
            return
        self.rx_bytes += len(data)
        for cb in self._raw_callbacks:
            cb(data)
        if self.mode == "binary":
            self._dispatch_in_order(self._in.decoder.feed(data))
        else:
            self._dispatch_lines(self._lines.feed(data))

    def _dispatch_in_order(self, frames: list[tuple[int, bytes]]) -> None:
        """Samples and replies as they came: a reply that changes what is delivered (the final
        STATUS, a STOP's ACK) must take effect before the samples that followed it."""
        host_time = time.time()
        start = 0
        for i, (msg_type, _) in enumerate(frames):
            if msg_type != P.SAMPLES:
                self._dispatch(*self._in.frames(frames[start : i + 1], host_time))
                start = i + 1
        if start < len(frames):
            self._dispatch(*self._in.frames(frames[start:], host_time))

    def _dispatch(self, samples: list[Sample], frames: list[tuple[int, bytes]]) -> None:
        if samples:
            for cb in self._sample_callbacks:
                for sample in samples:
                    try:
                        cb(sample)
                    except Exception:
                        log.exception("sample callback failed")
        for msg_type, payload in frames:
            try:
                msg = P.decode_message(msg_type, payload, version=self._version)
            except P.ProtocolError as e:
                log.debug("ignored frame 0x%02X: %s", msg_type, e)
                continue
            if isinstance(msg, P.CaptureData):  # pushed by the device, no tag: the capture link takes it
                for mcb in self._message_callbacks:
                    try:
                        mcb(msg)
                    except Exception:
                        log.exception("message callback failed")
                continue
            tag = getattr(msg, "tag", None)
            if tag is not None and (tag in self._want_tags or (self._any_ident and isinstance(msg, P.Ident))):
                with self._cond:
                    if self._batch is not None and tag in self._want_tags:
                        self._batch.setdefault(tag, msg)
                        self._cond.notify_all()
                    elif self._want_tags:
                        if self._closing_account and isinstance(msg, P.StatusData):
                            self._close_account(msg)
                        self._reply = msg
                        self._cond.notify_all()

    def _dispatch_lines(self, lines: list[bytes]) -> None:
        host_time = time.time()
        for raw in lines:
            reply = T.parse_line(raw)
            if reply is None:
                if raw.strip():
                    self._text_corrupt += 1  # a damaged line (its check failed): never believed
                continue
            if reply.kind == "DATA" and "stream" in reply.fields:
                self._on_text_sample(reply, host_time)
                continue
            with self._cond:
                if self._want_text:
                    if self._closing_account and reply.kind == "STATUS":
                        try:
                            self._close_account(T.parse_status(reply))
                        except P.ProtocolError:
                            continue
                    self._text_replies.append(reply)
                    self._cond.notify_all()

    def _on_text_sample(self, reply: T.TextReply, host_time: float) -> None:
        try:
            d = T.parse_data(reply)
        except P.ProtocolError:
            self._text_corrupt += 1
            return
        sid = self._by_device_id.get(d.stream if d.stream is not None else -1)
        st = self._streams.get(sid) if sid is not None else None
        if (
            sid is None
            or st is None
            or sid not in self._active
            or d.addr != st.regions[0].address
            or len(d.data) != st.regions[0].size
        ):
            self._in.undecodable += 1
            return
        # each stream's lines of one tick are one unit with its own seq (like a frame)
        if d.seq is not None:
            self._in.track_seq(d.seq)
        self._in.samples += 1
        sample = Sample(sid, d.seq or 0, self._in.target_time(d.ticks or 0), host_time, (d.data,))
        for cb in self._sample_callbacks:
            try:
                cb(sample)
            except Exception:
                log.exception("sample callback failed")


def _plain_ok(reply: T.TextReply) -> bool:
    """STOP/BINARY answer a bare OK; an OK with a stream id answers a STREAM."""
    return "stream" not in reply.fields and "streams" not in reply.fields


def _addressed(addr: int) -> Callable[[T.TextReply], bool]:
    """Text DATA replies carry no tag: the one answering a READ/WRITE of ``addr`` names it."""
    want = f"0x{addr:08X}"
    return lambda reply: reply.fields.get("addr", "").upper().replace("0X", "0x") == want


def _expect(reply: P.Message | T.TextReply, cls: type[_M], what: str) -> _M:
    if not isinstance(reply, cls):
        raise P.ProtocolError(
            f"the device answered a {what} request with {type(reply).__name__}; "
            "check that no other program is using the port."
        )
    return reply


def _short(e: BaseException) -> str:
    text = str(e).strip().rstrip(".") or type(e).__name__
    return text.splitlines()[0][:200]
