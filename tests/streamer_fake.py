"""A small Python model of the streamer firmware, served over a real pty or a TCP socket.

It lets the host side be tested where the real host build cannot reproduce a situation on
demand: replies that get lost (retries), a device that only speaks text, a stream of frames
with corruption at chosen places. Tests of the real device live next to these in
test_streamer.py and use firmware/build/host/demo.elf.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty

from firmwatch.targets import protocol as P
from firmwatch.targets import textmode as T

RAM = 0x20000000
RAM_SIZE = 0x1000
CONST = 0x08000000
CONST_SIZE = 0x100


class FakeDevice:
    def __init__(
        self,
        *,
        tcp_port: int | None = None,
        binary: bool = True,
        tick_hz: int = 1000,
        max_streams: int = 16,
        max_payload: int = 255,
        build_id: bytes = b"\x01\x02\x03\x04",
        tick_offset: int = 0,
    ):
        self.tick_offset = tick_offset  # start the device clock here (to test 2^32 wrap-around)
        self.binary = binary
        self.ident = P.Ident(
            0, P.PROTOCOL_VERSION, 0, 4, 4, tick_hz, max_streams, 8, 64, max_payload, 1024, build_id,
            [P.IdentRegion(CONST, CONST_SIZE, P.ACCESS_READ), P.IdentRegion(RAM, RAM_SIZE, 3)],
        )  # fmt: skip
        self.mem = {CONST: bytearray(range(CONST_SIZE)), RAM: bytearray(RAM_SIZE)}
        self.streams: dict[int, tuple[int, list[tuple[int, int]], int]] = {}  # id -> (rate_mhz, regions, acc)
        self.text_out = False
        self.seq = 0
        self.ticks = 0
        self.drop_replies = 0  # the next N command replies are "lost on the wire"
        self.corrupt_samples: set[int] = set()  # seq numbers of SAMPLES frames to corrupt on the wire
        self.skip_samples: set[int] = set()  # seq numbers of SAMPLES frames "dropped" (TX full)
        self.junk_between = b""  # written before every SAMPLES frame
        self.junk_before_reply = b""  # written before every command reply
        self.commands: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tcp_port = tcp_port
        self._conn: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._master: int | None = None
        if tcp_port is None:
            self._master, slave = os.openpty()
            tty.setraw(slave)
            self.port = os.ttyname(slave)
            self._slave = slave
        else:
            self._listener = socket.create_server(("127.0.0.1", tcp_port), reuse_port=False)
            self.tcp_port = self._listener.getsockname()[1]
            self.port = f"socket://127.0.0.1:{self.tcp_port}"
        self._threads = [
            threading.Thread(target=self._rx_loop, daemon=True),
            threading.Thread(target=self._tick_loop, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- transport
    def _send(self, data: bytes) -> None:
        try:
            if self._master is not None:
                os.write(self._master, data)
            elif self._conn is not None:
                self._conn.sendall(data)
        except OSError:
            pass

    def _recv(self) -> bytes:
        if self._master is not None:
            r, _, _ = select.select([self._master], [], [], 0.05)
            return os.read(self._master, 4096) if r else b""
        if self._conn is None:
            assert self._listener is not None
            r, _, _ = select.select([self._listener], [], [], 0.05)
            if r:
                self._conn, _ = self._listener.accept()
                self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return b""
        r, _, _ = select.select([self._conn], [], [], 0.05)
        if not r:
            return b""
        data = self._conn.recv(4096)
        if not data:
            self._conn.close()
            self._conn = None
        return data

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        if self._master is not None:
            os.close(self._master)
            os.close(self._slave)
        if self._conn is not None:
            self._conn.close()
        if self._listener is not None:
            self._listener.close()

    # -- memory
    def _region(self, addr: int, size: int, access: int) -> tuple[bytearray, int] | None:
        for r in self.ident.regions:
            if r.access & access and r.start <= addr and addr + size <= r.start + r.size:
                return self.mem[r.start], addr - r.start
        return None

    def poke(self, addr: int, data: bytes) -> None:
        with self._lock:
            found = self._region(addr, len(data), P.ACCESS_READ)
            assert found
            mem, off = found
            mem[off : off + len(data)] = data

    # -- commands
    def _reply(self, msg: P.Message) -> None:
        if self.drop_replies:
            self.drop_replies -= 1
            return
        self._send(self.junk_before_reply + msg.encode())

    def _rx_loop(self) -> None:
        dec = P.FrameDecoder()
        lines = T.LineDecoder()
        while not self._stop.is_set():
            try:
                data = self._recv()
            except OSError:
                return
            if not data:
                continue
            if self.binary:
                for t, payload in dec.feed(data):
                    with self._lock:
                        self._binary_command(t, payload)
            # a text-only device (or a text line among binary frames)
            for line in lines.feed(data):
                line = line.lstrip(b"\x00")  # the connect-time resync
                if b"|" in line:
                    body = T.checked_body(line)
                    if body is None:
                        continue  # a damaged command is dropped, as the core does
                    line = body
                verb = line.split(b" ")[0].strip()
                if verb in (b"INFO", b"READ", b"WRITE", b"STREAM", b"STOP", b"STATUS") or (
                    not self.binary and line.strip()
                ):
                    with self._lock:
                        self._text_command(line.decode("latin-1").strip())

    def _binary_command(self, t: int, payload: bytes) -> None:
        self.commands.append(t)
        self.text_out = False
        msg = P.decode_message(t, payload)
        tag = getattr(msg, "tag", 0)
        if isinstance(msg, P.Identify):
            ident = self.ident
            ident.tag = tag
            self._reply(ident)
        elif isinstance(msg, P.Read):
            found = self._region(msg.addr, msg.size, P.ACCESS_READ)
            if not found:
                self._reply(P.Error(tag, 3, msg.addr))
                return
            mem, off = found
            self._reply(P.ReadData(tag, msg.addr, bytes(mem[off : off + msg.size])))
        elif isinstance(msg, P.Write):
            found = self._region(msg.addr, len(msg.data), P.ACCESS_WRITE)
            if not found:
                self._reply(P.Error(tag, 4, msg.addr))
                return
            mem, off = found
            mem[off : off + len(msg.data)] = msg.data
            self._reply(P.WriteData(tag, msg.addr, bytes(mem[off : off + len(msg.data)])))
        elif isinstance(msg, P.StreamStart):
            for a, s in msg.regions:
                if not self._region(a, s, P.ACCESS_READ):
                    self._reply(P.Error(tag, 3, a))
                    return
            self.streams[msg.stream] = (msg.rate_mhz, list(msg.regions), 0)
            self._reply(P.Ack(tag))
        elif isinstance(msg, P.StreamStop):
            if msg.stream == P.STOP_ALL:
                self.streams.clear()
            elif self.streams.pop(msg.stream, None) is None:
                self._reply(P.Error(tag, 5, msg.stream))
                return
            self._reply(P.Ack(tag))
        elif isinstance(msg, P.Status):
            self._reply(P.StatusData(tag, len(self.skip_samples), 0, 0, 0, 1024, 0, self.ticks, {}, self.seq))
        else:
            self._reply(P.Error(tag, 1, 0))

    def _text_command(self, line: str) -> None:
        if not line:
            return
        self.text_out = True
        verb, *args = line.split()
        if verb == "INFO":
            self._send(T.format_info(self.ident))
        elif verb == "READ":
            addr, size = T.parse_number(args[0]), T.parse_number(args[1])
            found = self._region(addr, size, P.ACCESS_READ)
            if not found:
                self._send(T.format_error(3, addr))
                return
            mem, off = found
            self._send(T.format_data(addr, bytes(mem[off : off + size])))
        elif verb == "WRITE":
            addr, data = T.parse_number(args[0]), bytes.fromhex(args[1])
            found = self._region(addr, len(data), P.ACCESS_WRITE)
            if not found:
                self._send(T.format_error(4, addr))
                return
            mem, off = found
            mem[off : off + len(data)] = data
            self._send(T.format_data(addr, bytes(mem[off : off + len(data)])))
        elif verb == "STREAM":
            addr, size, rate = T.parse_number(args[0]), T.parse_number(args[1]), float(args[2])
            sid = min(set(range(self.ident.max_streams)) - set(self.streams))
            self.streams[sid] = (round(rate * 1000), [(addr, size)], 0)
            self._send(T.format_line(f"OK|stream={sid}"))
        elif verb == "STATUS":
            self._send(
                T.format_line(f"STATUS|dropped={len(self.skip_samples)}|overflows=0|rx_errors=0|ticks={self.ticks}"
                              f"|seq={self.seq}")
            )
        elif verb == "STOP":
            if args[0] == "ALL":
                self.streams.clear()
            else:
                self.streams.pop(int(args[0]), None)
            self._send(T.format_line("OK"))
        else:
            self._send(T.format_error(1, 0))

    # -- sampling
    def _tick_loop(self) -> None:
        t0 = time.monotonic()
        hz = self.ident.tick_hz
        while not self._stop.wait(0.001):
            target = int((time.monotonic() - t0) * hz)
            with self._lock:
                while self.ticks < target:
                    self.ticks += 1
                    self._tick()

    def _tick(self) -> None:
        full = self.ident.tick_hz * 1000
        due = []
        for sid in sorted(self.streams):
            rate, regions, acc = self.streams[sid]
            acc += rate
            if acc >= full:
                acc -= full
                due.append((sid, regions))
            self.streams[sid] = (rate, regions, acc)
        if not due:
            return
        ticks = (self.ticks + self.tick_offset) & 0xFFFFFFFF
        if self.text_out:
            for sid, regions in due:  # one unit, one seq per stream
                a, s = regions[0]
                mem, off = self._region(a, s, P.ACCESS_READ) or (bytearray(s), 0)
                self._send(T.format_data(a, bytes(mem[off : off + s]), ticks, self.seq, sid))
                self.seq = (self.seq + 1) & 0xFFFF
            return
        mask = 0
        body = bytearray()
        for sid, regions in due:
            mask |= 1 << sid
            for a, s in regions:
                mem, off = self._region(a, s, P.ACCESS_READ) or (bytearray(s), 0)
                body += mem[off : off + s]
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFFFF
        if seq in self.skip_samples:
            return
        frame = bytearray(P.Samples(seq, ticks, mask, bytes(body), self.ident.mask_bytes).encode())
        if seq in self.corrupt_samples:
            frame[len(frame) // 2] ^= 0x5A
        if self.junk_between:
            self._send(self.junk_between)
        self._send(bytes(frame))
