"""A local GDB server that gdb talks to, forwarding over our one RSP connection to the real one.

Why a bridge: most servers (QEMU among them) serve one client, and QEMU cannot read memory
while the guest runs. Sampling through gdb itself would cost a full gdb stop (registers,
unwinding, ``*stopped``) per round and would show those halts to the user. Instead gdb
connects here; its packets travel over :class:`RspTarget`'s link, and the sampler of that
same link halts, reads and resumes between gdb's packets. gdb never sees those halts: while
it believes the target runs, a stop the sampler caused is resumed, and only real stops
(breakpoints, watchpoints, gdb's own interrupt, exit) are passed on. The sampling policy
and the intrusion budget are :mod:`rsp_sampler`'s, unchanged.

The server side of each exchange is :class:`SharedRsp`, an :class:`RspTarget` with a few
pass-through operations; its lock keeps gdb's packets and sampling rounds from interleaving.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time

from firmwatch.targets.base import TargetError, TargetLost
from firmwatch.targets.rsp import RspTarget
from firmwatch.targets.rsp_link import NO_SIGPIPE
from firmwatch.targets.rsp_packets import (
    PacketError,
    StopReply,
    frame,
    is_stop_reply,
    parse_frame,
    parse_stop_reply,
)

# features the bridge answers itself, or must not pass on (the link did not negotiate them)
_LOCAL_FEATURES = {"PacketSize", "QStartNoAckMode", "multiprocess", "QNonStop", "QAgent", "qXfer:exec-file:read"}
STEP_WAIT_S = 0.5  # a single step normally answers at once; longer ones are picked up by polling
POLL_S = 0.005
_TRACE = bool(os.environ.get("FIRMWATCH_TRACE_BRIDGE"))  # how often the bridge looks for a stop while gdb's target runs


def _resume_kind(payload: bytes) -> str | None:
    """"step", "continue" or None (not a resume packet)."""
    if payload[:1] in (b"s", b"S"):
        return "step"
    if payload[:1] in (b"c", b"C"):
        return "continue"
    if payload.startswith(b"vCont;"):
        actions = [a.split(b":")[0] for a in payload[6:].split(b";")]
        if any(a[:1] in (b"s", b"S", b"r") for a in actions):
            return "step"
        return "continue"
    return None


class SharedRsp(RspTarget):
    """An RspTarget whose link gdb shares through :class:`GdbBridge`."""

    def forward(self, payload: bytes) -> bytes:
        """Send one of gdb's request packets and return the server's reply."""
        with self._op():
            self.link.check()
            reply = self._cmd(payload)
            # gdb's breakpoints count as ours when a stop is classified (see _is_own_stop)
            if reply == b"OK" and payload[:1] in (b"Z", b"z") and payload[1:2] in b"01234":
                try:
                    ztype, addr, kind = payload[1:].split(b",")[:3]
                    key = (int(ztype), int(addr, 16))
                except ValueError:
                    return reply
                if payload[:1] == b"Z":
                    self._points[key] = int(kind.split(b";")[0], 16)
                else:
                    self._points.pop(key, None)
            return reply

    def forward_resume(self, payload: bytes, step: bool) -> StopReply | None:
        """Send gdb's resume packet; for a step, wait briefly for its stop reply."""
        with self._op():
            self._check_alive()
            before = self.link.acks
            self.link.send(payload)
            self._state = "running"
            self._unclaimed_stop = None
            self._last_resume = payload
            if not step:
                if not self._pipeline:
                    self.link.wait_ack(before, self.timeout)
                return None
            deadline = time.monotonic() + STEP_WAIT_S
            while (left := deadline - time.monotonic()) > 0:
                pkt = self.link.recv(left)
                if pkt is not None and is_stop_reply(pkt):
                    stop = parse_stop_reply(pkt)
                    self._state = "exited" if stop.kind != "signal" else "stopped"
                    self._last_stop = stop
                    return stop
            return None  # still stepping (a long instruction, a WFI): polling delivers the stop

    def _continue(self) -> float:
        # the sampler resumes the way gdb last did (vCont;c with its thread, or c)
        payload = getattr(self, "_last_resume", None)
        if payload is None or _resume_kind(payload) != "continue" or payload[:1] == b"C" or b";C" in payload:
            return super()._continue()
        before = self.link.acks
        self.link.send(payload)
        sent = time.monotonic()
        self._state = "running"
        self._unclaimed_stop = None
        if not self._pipeline:
            self.link.wait_ack(before, self.timeout)
        return sent

    def current_stop(self) -> StopReply | None:
        with self._op():
            return self._last_stop if self._state != "running" else None

    def feature_reply(self) -> bytes:
        """The qSupported answer for gdb: the server's features, with what we handle ourselves."""
        parts = [b"PacketSize=%x" % self.packet_size, b"QStartNoAckMode+"]
        for name, value in self.server_features.items():
            if name in _LOCAL_FEATURES:
                continue
            if value is True:
                parts.append(name.encode() + b"+")
            elif value is False:
                parts.append(name.encode() + b"-")
            else:
                parts.append(f"{name}={value}".encode())
        return b";".join(parts)


class GdbBridge:
    """Listens on 127.0.0.1 (an ephemeral port) for one gdb; serves it from ``rsp``."""

    def __init__(self, rsp: SharedRsp):
        self.rsp = rsp
        self._listen = socket.socket()
        self._listen.bind(("127.0.0.1", 0))
        self._listen.listen(1)
        self.port: int = self._listen.getsockname()[1]
        self._gdb: socket.socket | None = None
        self._wlock = threading.Lock()
        self._gdb_running = False  # gdb believes the target runs and waits for a stop reply
        self._ack_mode = True
        self._last_sent = b""
        self._closing = False
        self.error: TargetError | None = None
        rsp.on_stop(self._target_stopped)
        self._thread = threading.Thread(target=self._serve, name="firmwatch-gdb-bridge", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- to gdb ----------------------------------------------------------------------------------
    def _send(self, payload: bytes) -> None:
        sock = self._gdb
        if sock is None:
            return
        data = frame(payload)
        if _TRACE:
            print("gdb<", data[:120], flush=True)
        self._last_sent = data
        with contextlib.suppress(OSError):
            sock.sendall(data, NO_SIGPIPE)

    def _target_stopped(self, stop: StopReply) -> None:
        """A real stop (from the sampler's classification or our polling): tell gdb once."""
        with self._wlock:
            if not self._gdb_running:
                return
            self._gdb_running = False
            self._send(stop.raw)

    # -- from gdb --------------------------------------------------------------------------------
    def _serve(self) -> None:
        # one gdb at a time; a gdb that disconnected (a failed extended-remote) may come back
        while not self._closing and self.error is None:
            try:
                conn, _ = self._listen.accept()
            except OSError:
                return
            self._serve_one(conn)
        with contextlib.suppress(OSError):
            self._listen.close()

    def _serve_one(self, conn: socket.socket) -> None:
        self._ack_mode = True
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._gdb = conn
        buf = bytearray()
        try:
            while not self._closing:
                ready, _, _ = select.select([conn], [], [], POLL_S)
                if not ready:
                    if self._gdb_running and not self.rsp.sampler.has_streams():
                        # a breakpoint hit while nothing else talks to the server (sampling
                        # rounds notice stops themselves, and need not compete for the link)
                        self.rsp.poll()
                    self.rsp.link.check()
                    continue
                data = conn.recv(65536)
                if not data:
                    return  # gdb went away
                buf += data
                if _TRACE:
                    print("gdb>", bytes(data)[:120], flush=True)
                self._consume(buf)
        except TargetLost as e:
            self.error = e
        except OSError:
            pass
        except BaseException as e:
            if _TRACE:
                import traceback
                traceback.print_exc()
            self.error = e if isinstance(e, TargetError) else TargetError(f"the gdb bridge failed ({e}).")
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _consume(self, buf: bytearray) -> None:
        while buf:
            c = buf[0]
            if c == 0x2B:  # '+'
                del buf[0]
            elif c == 0x2D:  # '-': resend
                del buf[0]
                if self._last_sent and self._gdb is not None:
                    self._gdb.sendall(self._last_sent, NO_SIGPIPE)
            elif c == 0x03:
                del buf[0]
                self._interrupt()
            elif c == 0x24:  # '$'
                end = buf.find(b"#")
                if end < 0 or len(buf) < end + 3:
                    return
                raw = bytes(buf[: end + 3])
                del buf[: end + 3]
                try:
                    payload = parse_frame(raw)
                except PacketError:
                    if self._ack_mode and self._gdb is not None:
                        self._gdb.sendall(b"-", NO_SIGPIPE)
                    continue
                if self._ack_mode and self._gdb is not None:
                    self._gdb.sendall(b"+", NO_SIGPIPE)
                try:
                    self._handle(payload)
                except TargetLost:
                    raise
                except TargetError:
                    # e.g. the program has ended: gdb gets an error reply, the link stays
                    self._send(b"E01")
            else:
                del buf[0]

    def _interrupt(self) -> None:
        if not self._gdb_running:
            return
        try:
            stop = self.rsp.halt()
        except TargetLost:
            raise
        except TargetError:
            stop = self.rsp.last_stop  # it had ended: say so
            if stop is None:
                return
        self._target_stopped(stop)

    def _handle(self, p: bytes) -> None:
        rsp = self.rsp
        if p.startswith(b"qSupported"):
            self._send(rsp.feature_reply())
        elif p == b"QStartNoAckMode":
            self._send(b"OK")
            self._ack_mode = False
        elif p.startswith(b"QNonStop"):
            self._send(b"" if p.endswith(b"1") else b"OK")  # all-stop only (as the link runs)
        elif p == b"?":
            stop = rsp.current_stop()
            self._send(stop.raw if stop is not None else b"S05")
        elif p == b"D" or p.startswith(b"D;"):
            # the link stays: detaching the server is close()'s business, leaving it running
            self._send(b"OK")
        elif p == b"k" or p.startswith(b"vKill"):
            # never kill the emulator or the board on gdb's say-so; the session ends on close()
            if p != b"k":
                self._send(b"OK")
        elif (kind := _resume_kind(p)) is not None:
            with self._wlock:
                self._gdb_running = True
            stop = rsp.forward_resume(p, step=kind == "step")
            if stop is not None:
                self._target_stopped(stop)
        else:
            self._send(rsp.forward(p))

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listen.close()
        if self._gdb is not None:
            with contextlib.suppress(OSError):
                self._gdb.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)
