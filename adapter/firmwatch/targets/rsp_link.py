"""One TCP connection to a GDB server: frames out, frames in, acknowledgements and timeouts.

Every socket operation is bounded by a deadline, so a dead or hung server surfaces as
:class:`TargetLost` instead of a hang. Acknowledgements (``+``) are skipped on read and never
waited for: QEMU does not acknowledge a packet it drops while the guest runs, and over TCP a
``-`` (retransmit request) is rare enough to answer by resending the last packet.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence

from firmwatch.targets.base import TargetLost
from firmwatch.targets.rsp_packets import PacketError, frame, parse_frame

# A write to a server that has gone must be an error here, not a signal: a program that embeds
# firmwatch may have SIGPIPE at its default action (some libraries reset it on import), and then
# the write would end that program without a word.
NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)


class RspLink:
    def __init__(self, sock: socket.socket, where: str):
        self.sock = sock
        self.where = where
        self.ack_mode = True
        self.bad_frames = 0  # checksum failures we asked the server to resend
        self.acks = 0  # '+' received
        self._ack_pending = False
        self._buf = bytearray()
        self._last_sent = b""
        self._lost: TargetLost | None = None
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # -- errors -------------------------------------------------------------------------------
    def lost(self, why: str) -> TargetLost:
        if self._lost is None:
            self._lost = TargetLost(why)
            try:
                self.sock.close()
            except OSError:
                pass
        return self._lost

    def _closed_by_peer(self) -> TargetLost:
        return self.lost(
            f"the GDB server at {self.where} closed the connection (it exited, crashed or another "
            "debugger took over): restart the server and reconnect."
        )

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    def check(self) -> None:
        if self._lost is not None:
            raise self._lost

    # -- output -------------------------------------------------------------------------------
    def _send_raw(self, data: bytes, timeout: float = 2.0) -> None:
        self.check()
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            try:
                n = self.sock.send(view, NO_SIGPIPE)
            except BlockingIOError:
                n = 0
            except OSError:
                raise self._closed_by_peer() from None
            view = view[n:]
            if view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.lost(
                        f"the GDB server at {self.where} stopped accepting data: restart the server and reconnect."
                    )
                select.select([], [self.sock], [], left)

    def send(self, payload: bytes) -> None:
        self._last_sent = frame(payload)
        self._send_raw(self._take_pending_ack() + self._last_sent)

    def interrupt(self, then: Sequence[bytes] = ()) -> None:
        """Send \\x03, and ``then`` packets in the same write (pipelined behind the halt)."""
        frames = [frame(p) for p in then]
        if frames:
            self._last_sent = frames[-1]
        self._send_raw(self._take_pending_ack() + b"\x03" + b"".join(frames))

    def _take_pending_ack(self) -> bytes:
        if self._ack_pending:
            self._ack_pending = False
            return b"+"
        return b""

    def flush_ack(self) -> None:
        """Send an acknowledgement still owed (see ``recv``)."""
        if self._ack_pending and self._lost is None:
            self._ack_pending = False
            self._send_raw(b"+")

    def ack(self) -> None:
        self._send_raw(b"+")

    # -- input --------------------------------------------------------------------------------
    def _take_frame(self) -> bytes | None:
        """Pop one complete packet payload from the buffer, or None when none is complete."""
        buf = self._buf
        while buf:
            c = buf[0]
            if c in (0x2B, 0x2D):
                self._take_ack()
                continue
            if c not in (0x24, 0x25):  # '$' packet, '%' notification; skip line noise
                del buf[0]
                continue
            end = buf.find(b"#")
            if end < 0 or len(buf) < end + 3:
                return None
            raw = bytes(buf[: end + 3])
            del buf[: end + 3]
            try:
                payload = parse_frame(b"$" + raw[1:])
            except PacketError:
                self.bad_frames += 1
                if self.ack_mode:
                    self._send_raw(b"-")
                continue
            if self.ack_mode:
                # owed, and sent in front of our next packet: one write (and one wake-up of the
                # server) instead of two; the client flushes it at the end of every operation
                self._ack_pending = True
            if c == 0x25:  # non-stop notifications: we run all-stop, nothing to do with them
                continue
            return payload
        return None

    def _take_ack(self) -> None:
        c = self._buf.pop(0)
        if c == 0x2B:  # '+'
            self.acks += 1
        elif self._last_sent:  # '-': the server got our last packet corrupted
            self._send_raw(self._last_sent)

    def wait_ack(self, before: int, timeout: float) -> bool:
        """Wait until the server has acknowledged a packet sent when ``acks`` was ``before``.

        Only needed after a packet with no reply (``c``): simavr reads the socket once per
        packet and silently drops whatever else that read returned, so the next packet (or
        \x03) must not be on the wire before the server has taken this one.
        """
        if not self.ack_mode:
            return True
        deadline = time.monotonic() + timeout
        while self.acks <= before:
            while self._buf and self._buf[0] in (0x2B, 0x2D) and self.acks <= before:
                self._take_ack()
            if self.acks > before:
                break
            if self._buf[:1] in (b"$", b"%"):
                return True  # a packet came first (its ack may precede it in a later read)
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return False
        return True

    def _fill(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for bytes; False on timeout."""
        self.check()
        try:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            raise self._closed_by_peer() from None
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            raise self._closed_by_peer() from None
        if not data:
            raise self._closed_by_peer()
        self._buf += data
        return True

    def recv(self, timeout: float) -> bytes | None:
        """The next packet's payload, or None when nothing complete arrived within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self._take_frame()
            if payload is not None:
                return payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._fill(left)

    def poll(self) -> bytes | None:
        """A packet that has already arrived, without waiting."""
        payload = self._take_frame()
        if payload is not None:
            return payload
        while self._fill(0.0):
            payload = self._take_frame()
            if payload is not None:
                return payload
        return None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self._lost is None:
            self._lost = TargetLost(f"the connection to the GDB server at {self.where} was closed.")
