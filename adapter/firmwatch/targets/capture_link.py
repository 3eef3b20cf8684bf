"""The device's capture module over a streamer link (docs/protocol.md section 16).

A target that declares the ``"capture"`` capability returns a :class:`CaptureLink` from
``capture_link()``: arm, status, force, stop, release, and the upload of a completed capture.

The upload is pushed by the device as CAPTURE_DATA frames, each CRC-checked and carrying its
offset; this side keeps a map of the bytes it has and asks again for what it misses — after a
frame destroyed on the link, a stall, or the link going away and coming back (the device holds
the capture until it is released, however long that takes). Data frames arrive on the link's
reader thread; everything else runs on the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from firmwatch.targets import protocol as P
from firmwatch.targets.base import TargetError, TargetLost

Progress = Callable[[int, int], None]  # (bytes received, bytes in all)


class CaptureRefused(TargetError):
    """The device refused a capture request; ``str()`` says why and what to do."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class Link(Protocol):
    """What a capture link needs from its transport (StreamerTarget provides it)."""

    url: str
    baud: int

    def request(self, make: Callable[[int], P.Message], what: str) -> P.Message: ...
    def on_message(self, callback: Callable[[P.Message], None]) -> None: ...
    @property
    def connected(self) -> bool: ...
    @property
    def ident(self) -> P.Ident: ...


@dataclass(frozen=True, slots=True)
class ArmRequest:
    channels: tuple[tuple[int, int], ...]  # (address, size), copied together each sample
    samples: int
    pre: int
    source: int  # P.SOURCE_TICK or P.SOURCE_TIMER
    divider: int
    trig_channel: int = 0
    trig_op: int = 0  # index in P.TRIGGER_OPS (0: only a forced trigger)
    trig_kind: int = P.KIND_UNSIGNED
    level: int = 0  # the raw 32-bit value
    mask: int = 0
    normal: bool = False  # re-arm when a capture is released


class CaptureLink:
    def __init__(self, link: Link):
        self._link = link
        self._cond = threading.Condition()
        self._want: int | None = None  # the capture id being uploaded
        self._buf = bytearray()
        self._have = bytearray()  # 1 per byte received
        self._received = 0
        self._last_data = 0.0
        self.frames = 0  # CAPTURE_DATA frames taken
        self.rerequests = 0  # CAPTURE_READs sent again for missing ranges
        link.on_message(self._on_message)

    # -- requests -------------------------------------------------------------------------------
    def status(self) -> P.CaptureStatusData:
        reply = self._link.request(lambda tag: P.CaptureStatus(tag), "read the capture status")
        if isinstance(reply, P.Error):
            raise CaptureRefused(f"the device refused to report its capture status (error {reply.name}).", reply.code)
        if not isinstance(reply, P.CaptureStatusData):
            raise P.ProtocolError(f"the device answered a capture status request with {type(reply).__name__}.")
        return reply

    def arm(self, r: ArmRequest) -> None:
        reply = self._link.request(
            lambda tag: P.CaptureArm(
                tag, int(r.normal), r.source, r.divider, r.samples, r.pre, r.trig_channel, r.trig_op, r.trig_kind,
                r.level & 0xFFFFFFFF, r.mask & 0xFFFFFFFF, tuple(r.channels),
            ),
            "arm a capture",
        )  # fmt: skip
        if isinstance(reply, P.Error):
            raise self._arm_refused(reply, r)
        self._expect_ack(reply, "arm a capture")

    def force(self) -> None:
        reply = self._link.request(lambda tag: P.CaptureControl(tag, P.ACTION_FORCE), "force the trigger")
        if isinstance(reply, P.Error) and reply.code == P.ERROR_CODES["NO_CAPTURE"]:
            return  # nothing armed any more: it triggered (or stopped) meanwhile
        self._expect_ack(reply, "force the trigger")

    def stop(self) -> None:
        self._expect_ack(self._link.request(lambda tag: P.CaptureControl(tag, P.ACTION_STOP), "stop the capture"),
                         "stop the capture")

    def release(self, capture_id: int) -> None:
        """The host has capture ``capture_id``: single mode goes idle, normal mode arms again."""
        self._expect_ack(
            self._link.request(lambda tag: P.CaptureControl(tag, P.ACTION_RELEASE, capture_id), "release the capture"),
            "release the capture",
        )

    # -- upload ---------------------------------------------------------------------------------
    def upload(self, st: P.CaptureStatusData, timeout: float = 60.0, progress: Progress | None = None,
               cancelled: Callable[[], bool] = lambda: False) -> bytes:
        """All ``samples x sample_bytes`` bytes of the completed capture ``st`` describes.

        Asks for everything still missing, collects the frames, and when they stop coming
        (a destroyed frame, a stall, a lost link) asks again for the gaps, until the capture is
        whole or ``timeout`` seconds passed without progress.
        """
        total = st.samples * st.sample_bytes
        cid = st.capture_id
        with self._cond:
            self._want = cid
            self._buf = bytearray(total)
            self._have = bytearray(total)
            self._received = 0
            self._last_data = time.monotonic()
        # how long the device needs for what is asked, at the line's speed, plus its main loop
        baud = max(self._link.baud or 115200, 1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._cond:
                    missing = _missing(self._have)
                    got = self._received
                if progress is not None:
                    progress(got, total)
                if not missing:
                    return bytes(self._buf)
                if cancelled():
                    raise TargetError("the capture upload was cancelled.")
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"the capture upload stopped at {got} of {total} bytes: the device stopped sending its data "
                        f"(check the link; the capture is still held on the device until it is released)."
                    )
                start, end = missing[0][0], missing[-1][1]
                try:
                    self._read(cid, start, end - start)
                except TargetLost:
                    self._await_link(deadline)
                    continue
                # wait while data flows; give up on this request when it stalls
                expect = (end - start) * 1.1 * 10 / baud + 0.3
                stall = max(0.3, 40 * 10 * 256 / baud)  # a few frames' time without anything new
                asked = time.monotonic()
                with self._cond:
                    while True:
                        now = time.monotonic()
                        if not _missing_in(self._have, start, end):
                            break
                        if now - max(self._last_data, asked) > stall or now - asked > expect + stall * 4:
                            break
                        if not self._link.connected:
                            break
                        self._cond.wait(0.05)
                    progressed = self._received > got
                if progressed:
                    deadline = time.monotonic() + timeout  # the timeout counts time without progress
                if _missing(self._have):
                    self.rerequests += 1
        finally:
            with self._cond:
                self._want = None

    def _read(self, cid: int, offset: int, length: int) -> None:
        reply = self._link.request(lambda tag: P.CaptureRead(tag, cid, offset, length), "upload the capture")
        if isinstance(reply, P.Error):
            if reply.code == P.ERROR_CODES["NO_CAPTURE"]:
                raise CaptureRefused(
                    f"the device no longer holds capture {cid} (it holds capture {reply.detail}): it was restarted, "
                    "re-armed or stopped meanwhile; arm the capture again.", reply.code)
            raise CaptureRefused(f"the device refused to upload the capture (error {reply.name}).", reply.code)
        self._expect_ack(reply, "upload the capture")

    def _await_link(self, deadline: float) -> None:
        while not self._link.connected:
            if time.monotonic() > deadline:
                raise TargetLost(f"the link to {self._link.url} is still down; the capture could not be uploaded.")
            time.sleep(0.05)

    def _on_message(self, msg: P.Message) -> None:
        if not isinstance(msg, P.CaptureData):
            return
        with self._cond:
            if msg.capture_id != self._want:
                return  # a late frame of an earlier capture
            end = msg.offset + len(msg.data)
            if end > len(self._buf) or not msg.data:
                return
            self._buf[msg.offset : end] = msg.data
            new = len(msg.data) - sum(self._have[msg.offset : end])
            self._have[msg.offset : end] = b"\x01" * len(msg.data)
            self._received += new
            self._last_data = time.monotonic()
            self.frames += 1
            self._cond.notify_all()

    # -- sentences ------------------------------------------------------------------------------
    @staticmethod
    def _expect_ack(reply: P.Message, what: str) -> None:
        if isinstance(reply, P.Error):
            raise CaptureRefused(f"the device could not {what}: error {reply.name} (detail {reply.detail}).", reply.code)
        if not isinstance(reply, P.Ack):
            raise P.ProtocolError(f"the device answered a request to {what} with {type(reply).__name__}.")

    @staticmethod
    def _arm_refused(err: P.Error, r: ArmRequest) -> CaptureRefused:
        codes = P.ERROR_CODES
        sample = sum(z for _, z in r.channels)
        if err.code == codes["CAPTURE_TOO_BIG"]:
            text = (f"the device's capture buffer holds {err.detail} samples of these {sample} bytes, not {r.samples}: "
                    f"ask for {err.detail} samples or fewer, or capture fewer channels.")
        elif err.code == codes["BAD_RATE"]:
            text = (f"the device cannot sample a capture with divider {r.divider} of its "
                    f"{'capture timer' if r.source == P.SOURCE_TIMER else 'tick'} ({err.detail} Hz); choose another rate.")
        elif err.code == codes["NOT_READABLE"]:
            text = f"the device refused to capture 0x{err.detail:08X}: it is not inside a readable region."
        elif err.code == codes["TOO_MANY_REGIONS"]:
            text = f"the device captures at most {err.detail} channels (regions) together; capture fewer."
        elif err.code == codes["STREAM_TOO_BIG"]:
            text = f"a capture sample of {sample} bytes exceeds the device's limit of {err.detail} bytes; capture fewer channels."
        elif err.code == codes["BAD_CONDITION"]:
            text = "the device refused the trigger condition (its channel must be a 1, 2 or 4-byte number)."
        else:
            text = f"the device refused to arm the capture: error {err.name} (detail {err.detail})."
        return CaptureRefused(text, err.code)


def _missing(have: bytearray) -> list[tuple[int, int]]:
    return _missing_ranges(have, 0, len(have))


def _missing_in(have: bytearray, start: int, end: int) -> bool:
    return have.find(0, start, end) >= 0


def _missing_ranges(have: bytearray, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    i = have.find(0, start, end)
    while i >= 0:
        j = have.find(1, i, end)
        j = end if j < 0 else j
        out.append((i, j))
        i = have.find(0, j, end)
    return out


def split_samples(data: bytes, sample_bytes: int, sizes: Sequence[int]) -> list[tuple[bytes, ...]]:
    """Per sample, the channels' bytes (``sizes`` in the order they were armed)."""
    out = []
    for off in range(0, len(data) - sample_bytes + 1, sample_bytes):
        chunks, pos = [], off
        for z in sizes:
            chunks.append(data[pos : pos + z])
            pos += z
        out.append(tuple(chunks))
    return out
