"""The device half of the MiniProfiler protocol over a serial port, a pty or TCP.

A ``ProfilerLink`` owns its port, or shares the line of a memory streamer target that owns it
(``SharedLine``: the streamer hands every byte it reads to ``on_raw`` and writes our command
packets between its own frames). A reader thread (the streamer's, when shared) decodes everything the device sends:
PROFILE_DATA records go to the ``on_records`` callback (on the reader thread: keep it short),
every other frame is a reply to the command the caller's thread is waiting for. The seed's
protocol has no request ids, so a command is sent only once the previous one was answered (or
timed out), and a reply is matched by its type.

Loss accounting: the device counts the records it kept (``records_captured``) and the ones it
could not keep (``buffer_overflows``); the link counts the records it received, the frames it
found corrupt and the PROFILE_DATA payloads it could not use. After STOP (whose ACK the device
sends only once every record captured before it is out) the device's count minus the records
received is exactly what the link lost.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import serial

from firmwatch.errors import UserError
from firmwatch.profiler import protocol as P
from firmwatch.targets.streamer import _Port

RecordsCallback = Callable[[list[P.Record]], None]


class SharedLine(Protocol):
    """A transport that owns the serial line and lets the profiler use it too (StreamerTarget)."""

    url: str

    def on_raw(self, callback: Callable[[bytes], None]) -> None: ...

    def send_raw(self, data: bytes) -> None: ...

_POLL = 0.05
_STALE_AFTER = 0.2  # a partial frame this long overdue on a quiet link is given up


@dataclass
class LinkCounters:
    frames: int = 0  # intact profiler frames
    records: int = 0  # records received and decoded
    corrupt_frames: int = 0  # CRC, end marker or length wrong
    bad_frames: int = 0  # intact, but a payload that does not follow the protocol
    foreign_frames: int = 0  # the memory streamer's frames on a shared line (skipped)
    skipped_bytes: int = 0  # outside any frame (text lines of a shared line, noise)
    unexpected: int = 0  # replies nobody waited for (late answers to a timed-out command)
    discarded: int = 0  # records from before a RESET_BUFFERS (a previous session's)


class ProfilerLink:
    def __init__(self, port: str | SharedLine, baud: int = 115200, *, timeout: float = 0.5,
                 on_records: RecordsCallback | None = None, on_gap: Callable[[], None] | None = None):
        self.baud = baud
        self.timeout = timeout
        self._on_records = on_records
        self._on_gap = on_gap
        self._port: _Port | None = None
        self._shared: SharedLine | None = None
        if isinstance(port, str):
            self.url = port
            try:
                self._port = _Port(port, baud)
            except (serial.SerialException, OSError, ValueError) as e:
                raise P.ProfilerError(
                    f"cannot open {port} ({e}); check the port name and that nothing else uses it."
                ) from None
        else:
            self.url = port.url
            self._shared = port
        self._decoder = P.FrameDecoder(mark_gaps=True)
        self.counters = LinkCounters()
        self._replies: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self._waiting = threading.Lock()  # one command at a time
        self._error: P.ProfilerError | None = None  # what stopped the reader
        self._closed = threading.Event()
        self._discarding = False  # until RESET_BUFFERS is acknowledged: earlier records are stale
        # Whether a loss on the line can take records the profile counts: not before the reset's
        # ACK (or the START of a run without one). Until then a gap is the tail of frames sent
        # before we listened (a shared line is joined mid-stream) or stale records, and marking
        # it would show the first calls' time as "(records lost)" with nothing lost.
        self._counting = False
        self._reader: threading.Thread | None = None
        if self._shared is not None:
            self._shared.on_raw(self._tap)
        else:
            self._reader = threading.Thread(target=self._run, name="firmwatch-profiler-link", daemon=True)
            self._reader.start()

    # -- the reader ---------------------------------------------------------------------------
    def _tap(self, data: bytes) -> None:
        """Bytes the streamer read from the shared line (on its reader thread)."""
        if not self._closed.is_set():
            self._deliver(self._decoder.feed(data))

    def _run(self) -> None:
        assert self._port is not None
        last_data = time.monotonic()
        while not self._closed.is_set():
            try:
                data = self._port.read(_POLL)
            except (OSError, serial.SerialException) as e:
                if not self._closed.is_set():
                    self._error = P.ProfilerError(
                        f"the link to {self.url} went away ({e}); reconnect the device and profile again."
                    )
                    self._replies.put((-1, b""))
                return
            now = time.monotonic()
            if data:
                last_data = now
                frames = self._decoder.feed(data)
            elif self._decoder.pending and now - last_data > _STALE_AFTER:
                frames = self._decoder.flush_stale()
            else:
                continue
            self._deliver(frames)

    def _deliver(self, frames: list[tuple[int, bytes]]) -> None:
        c = self.counters
        d = self._decoder
        c.corrupt_frames = d.corrupt_frames
        c.foreign_frames = d.foreign_frames
        c.skipped_bytes = d.skipped_bytes
        for t, payload in frames:
            if t == P.GAP:
                # A corrupt frame, or bytes outside any frame (a frame whose AA 55 was hit), may
                # have taken records with it: the call tree must not credit them to callers.
                self._gap()
                continue
            c.frames += 1
            if t == P.PROFILE_DATA:
                try:
                    records = P.decode_profile_data(payload)
                except P.UnsupportedVersion as e:
                    c.bad_frames += 1
                    if self._error is None:
                        self._error = e
                    self._gap()
                    continue
                except P.ProtocolError:
                    c.bad_frames += 1
                    self._gap()
                    continue
                if self._discarding:
                    c.discarded += len(records)
                    continue
                c.records += len(records)
                if self._on_records is not None and records:
                    self._on_records(records)
            else:
                if t == P.ACK and self._discarding:
                    self._discarding = False  # the reset's: every record after it is new
                    self._counting = True
                self._replies.put((t, payload))

    def _gap(self) -> None:
        if self._on_gap is not None and self._counting and not self._discarding:
            self._on_gap()

    # -- commands -----------------------------------------------------------------------------
    def error(self) -> P.ProfilerError | None:
        """What went wrong on the reader side (the link went away, a refused version), if anything."""
        return self._error

    def command(self, command: int, payload: bytes = b"", *, expect: tuple[int, ...] = (P.ACK,),
                timeout: float | None = None, tries: int = 3) -> tuple[int, bytes]:
        """Send ``command`` and return the reply of an expected type; NACK raises."""
        name = P.COMMAND_NAMES.get(command, f"0x{command:02X}")
        packet = P.encode_command(command, payload)
        wait = self.timeout if timeout is None else timeout
        with self._waiting:
            while True:  # answers to an earlier, timed-out command are stale now
                try:
                    self._replies.get_nowait()
                    self.counters.unexpected += 1
                except queue.Empty:
                    break
            for _ in range(tries):
                self._check()
                try:
                    if self._shared is not None:
                        self._shared.send_raw(packet)
                    else:
                        assert self._port is not None
                        self._port.write(packet)
                except (OSError, serial.SerialException, UserError) as e:
                    raise P.ProfilerError(
                        f"cannot send {name} to {self.url} ({e}); reconnect the device and profile again."
                    ) from None
                deadline = time.monotonic() + wait
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        t, body = self._replies.get(timeout=left)
                    except queue.Empty:
                        break
                    self._check()
                    if t == P.NACK:
                        raise P.ProfilerError(f"the device refused {name} (NACK); check the firmware's profiler version.")
                    if t in expect:
                        return t, body
                    self.counters.unexpected += 1
        raise P.ProfilerError(
            f"the device at {self.url} did not answer {name} ({tries} tries, {wait:.1f} s each): check that the "
            "firmware runs firmware/profiler, the port and the baud rate."
        )

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def metadata(self) -> P.Metadata:
        _, body = self.command(P.GET_METADATA, expect=(P.METADATA,))
        return P.decode_metadata(body)

    def status(self) -> P.Status:
        _, body = self.command(P.GET_STATUS, expect=(P.STATUS,))
        return P.decode_status(body)

    def reset(self) -> None:
        """Clear the device's ring and counters; records sent before its ACK are dropped here."""
        self._discarding = True
        try:
            self.command(P.RESET_BUFFERS)
        finally:
            self._discarding = False

    def start(self) -> None:
        self._counting = True
        self.command(P.START_PROFILING)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capturing; returns once every record captured before the STOP has arrived
        (the device's ACK follows its last record), so the counts can be compared."""
        self.command(P.STOP_PROFILING, timeout=timeout, tries=1)

    def close(self) -> None:
        self._closed.set()
        if self._reader is not None:
            self._reader.join(1.0)
        if self._port is not None:
            self._port.close()

    def __enter__(self) -> ProfilerLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
