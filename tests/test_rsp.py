"""The direct GDB remote protocol client: packet coding (property tests), the link against a
scripted peer, and the real thing against QEMU Cortex-M3, QEMU RISC-V and simavr AVR.

The emulator tests run the demo firmware through ``firmwatch.sim`` (built into a temporary
directory during the run); the lock-handshake test builds its own small firmware whose loop
holds a flag most of the time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmwatch.targets.base import AccessRefused, Region, Sample, TargetError, TargetLost
from firmwatch.targets.rsp_link import RspLink
from firmwatch.targets.rsp_packets import (
    PacketError,
    checksum,
    escape_binary,
    frame,
    is_stop_reply,
    parse_features,
    parse_frame,
    parse_stop_reply,
    rle_decode,
    rle_encode,
    unescape_binary,
)
from tools import require_tool, wait_for

# ------------------------------------------------------------------------------------------
# packet coding
# ------------------------------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_escape_round_trip_and_no_special_bytes_left(data: bytes) -> None:
    esc = escape_binary(data)
    assert unescape_binary(esc) == data
    # only the escape byte itself may precede an escaped value; '#', '$' and '*' never appear raw
    assert not set(esc) & set(b"#$*")
    assert len(esc) == len(data) + sum(b in b"#$}*" for b in data)


@given(st.binary(max_size=400) | st.lists(st.sampled_from([b"\0" * 9, b"0", b"**", b"}"]), max_size=40).map(b"".join))
def test_rle_round_trip(raw: bytes) -> None:
    data = escape_binary(raw)  # what a stub run-length encodes never holds a raw '*'
    enc = rle_encode(data)
    assert rle_decode(enc) == data
    assert unescape_binary(rle_decode(enc)) == raw
    # a count character is never '#' or '$' (they would end or start a packet)
    for i, b in enumerate(enc[:-1]):
        if b == ord("*") and i > 0:
            assert enc[i + 1] not in b"#$"


@given(st.binary(max_size=300))
def test_frame_round_trip_with_escaping(data: bytes) -> None:
    payload = b"X20000000,%x:" % len(data) + escape_binary(data)
    raw = frame(payload)
    assert raw.startswith(b"$") and raw[-3:-2] == b"#"
    assert int(raw[-2:], 16) == checksum(payload)
    assert unescape_binary(parse_frame(raw)) == b"X20000000,%x:" % len(data) + data


def test_rle_examples_from_the_manual() -> None:
    assert rle_decode(b"0* ") == b"0000"
    assert rle_decode(b"ab*\"c") == b"abbbbbbc"  # '"' = 34: 5 more
    with pytest.raises(PacketError):
        rle_decode(b"*")


def test_checksum_mismatch_is_rejected() -> None:
    good = frame(b"OK")
    assert parse_frame(good) == b"OK"
    bad = good[:-2] + b"%02x" % ((checksum(b"OK") + 1) & 0xFF)
    with pytest.raises(PacketError, match="checksum"):
        parse_frame(bad)


def test_parse_stop_replies() -> None:
    t = parse_stop_reply(b"T05thread:p01.01;watch:20000004;0f:34000000;core:1;")
    assert (t.kind, t.signal, t.thread, t.reason, t.data_address, t.core) == ("signal", 5, "p01.01", "watch", 0x20000004, 1)
    assert t.registers == {15: bytes.fromhex("34000000")}
    avr = parse_stop_reply(b"T0520:00;21:fb08;22:a6000000;")
    assert avr.registers[0x22] == bytes.fromhex("a6000000") and avr.reason is None
    assert parse_stop_reply(b"T05swbreak:;").reason == "swbreak"
    assert parse_stop_reply(b"S02").signal == 2
    w = parse_stop_reply(b"W00;process:1")
    assert (w.kind, w.exit_status, w.process) == ("exited", 0, 1)
    assert parse_stop_reply(b"X0b").kind == "terminated"
    assert not is_stop_reply(b"OK") and not is_stop_reply(b"E01") and not is_stop_reply(b"44332211")
    assert "watchpoint on 0x20000004" in str(t)


@given(st.binary(max_size=80))
def test_stop_reply_parser_never_crashes(data: bytes) -> None:
    for payload in (data, b"T05" + data, b"W" + data):
        if is_stop_reply(payload):
            parse_stop_reply(payload)  # whatever a server sends, a StopReply comes out
        else:
            with pytest.raises(PacketError):
                parse_stop_reply(payload)


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_link_survives_line_noise(chunks: list[bytes]) -> None:
    """Garbage before a good frame: the link never raises; bad frames are refused with '-'."""
    a, b = socket.socketpair()
    link = RspLink(a, "noise")
    try:
        for c in chunks:
            b.sendall(c.replace(b"$", b"").replace(b"%", b""))
        b.sendall(frame(b"OK"))
        got = link.recv(0.5)
        assert got == b"OK"
    finally:
        link.close()
        b.close()


def test_parse_features() -> None:
    f = parse_features(b"PacketSize=1000;qXfer:features:read+;QStartNoAckMode+;multiprocess-;hwbreak?")
    assert f == {"PacketSize": "1000", "qXfer:features:read": True, "QStartNoAckMode": True,
                 "multiprocess": False, "hwbreak": False}


# ------------------------------------------------------------------------------------------
# the link against a scripted peer (a socketpair: real sockets, no emulator)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def link_pair() -> Iterator[tuple[RspLink, socket.socket]]:
    a, b = socket.socketpair()
    link = RspLink(a, "test peer")
    b.settimeout(2)
    yield link, b
    link.close()
    b.close()


def test_link_asks_for_resend_on_corruption_and_acks_good_frames(link_pair) -> None:
    link, peer = link_pair
    corrupt = b"$" + rle_encode(b"0" * 20) + b"#00"
    peer.sendall(b"+" + corrupt + frame(rle_encode(b"0" * 20)))
    assert link.recv(2.0) == b"0" * 20
    assert link.bad_frames == 1
    assert peer.recv(10) == b"-"  # at once: the peer must resend
    link.flush_ack()  # the '+' rides on our next packet, or goes out when the operation ends
    assert peer.recv(10) == b"+"
    link.send(b"g")
    assert peer.recv(100) == frame(b"g")  # nothing owed any more


def test_link_resends_the_last_packet_when_the_peer_says_minus(link_pair) -> None:
    link, peer = link_pair
    link.send(b"m20000000,4")
    assert peer.recv(100) == frame(b"m20000000,4")
    peer.sendall(b"-")
    assert link.recv(0.2) is None
    assert peer.recv(100) == frame(b"m20000000,4")


def test_link_timeout_and_peer_gone(link_pair) -> None:
    link, peer = link_pair
    assert link.recv(0.05) is None
    peer.close()
    with pytest.raises(TargetLost, match="closed the connection"):
        link.recv(1.0)
    with pytest.raises(TargetLost):  # sticky: every later call fails at once, no hang
        link.send(b"?")


class FakeStub:
    """A small scripted GDB server on a real TCP socket, for the paths the emulators don't
    take: no-ack mode, a tiny PacketSize (chunking), X writes, RLE replies, error codes."""

    XML = '<?xml version="1.0"?><target><architecture>arm</architecture></target>'

    def __init__(self, packet_size: int = 0x40, binary_writes: bool = True):
        self.binary_writes = binary_writes
        self.mem = bytearray(range(256)) * 4 + bytes(64)  # 0x1000.. with a run of zeros at the end
        self.base = 0x1000
        self.packet_size = packet_size
        self.seen: list[bytes] = []
        self.raw = bytearray()
        self.no_ack = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, conn: socket.socket, payload: bytes) -> None:
        conn.sendall(frame(rle_encode(payload)))

    def _handle(self, conn: socket.socket, p: bytes) -> None:
        self.seen.append(p)
        if p.startswith(b"qSupported"):
            self._reply(conn, b"PacketSize=%x;QStartNoAckMode+;qXfer:features:read+" % self.packet_size)
        elif p == b"QStartNoAckMode":
            self._reply(conn, b"OK")
            self.no_ack = True
        elif p == b"?":
            self._reply(conn, b"S05")
        elif p.startswith(b"qXfer:features:read:target.xml:"):
            off, length = (int(x, 16) for x in p.rsplit(b":", 1)[1].split(b","))
            chunk = self.XML.encode()[off : off + length]
            more = off + length < len(self.XML)
            self._reply(conn, (b"m" if more else b"l") + escape_binary(chunk))
        elif p[:1] == b"m":
            addr, n = (int(x, 16) for x in p[1:].split(b","))
            if addr < self.base or addr + n > self.base + len(self.mem):
                self._reply(conn, b"E01")
            else:
                self._reply(conn, self.mem[addr - self.base : addr - self.base + n].hex().encode())
        elif p[:1] == b"M":
            head, _, data = p.partition(b":")
            addr, n = (int(x, 16) for x in head[1:].split(b","))
            self.mem[addr - self.base : addr - self.base + n] = bytes.fromhex(data.decode())
            self._reply(conn, b"OK")
        elif p[:1] == b"X" and self.binary_writes:
            head, _, data = p.partition(b":")
            addr, n = (int(x, 16) for x in head[1:].split(b","))
            data = unescape_binary(data)
            assert len(data) == n
            self.mem[addr - self.base : addr - self.base + n] = data
            self._reply(conn, b"OK")
        elif p == b"p" + b"f":
            self._reply(conn, b"00100000")
        elif p in (b"c", b"vCont;c"):
            pass  # running: this stub answers reads while running (live mode)
        elif p.startswith((b"Z", b"z")) or p == b"D":
            self._reply(conn, b"OK")
        else:
            self._reply(conn, b"")

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        buf = bytearray()
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                self.raw += data
                buf += data
                while True:
                    while buf[:1] in (b"+", b"-", b"\x03"):
                        if buf[:1] == b"\x03":
                            self._reply(conn, b"T02")
                        del buf[0]
                    end = buf.find(b"#")
                    if buf[:1] != b"$" or end < 0 or len(buf) < end + 3:
                        break
                    payload = parse_frame(bytes(buf[: end + 3]))
                    del buf[: end + 3]
                    if not self.no_ack:
                        conn.sendall(b"+")
                    self._handle(conn, payload)

    def close(self) -> None:
        self.sock.close()


def test_client_against_a_scripted_stub() -> None:
    from firmwatch.targets.rsp import RspTarget

    stub = FakeStub(packet_size=0x40)
    try:
        t = RspTarget(f"127.0.0.1:{stub.port}", expect_arch="ARM")
        assert t.arch == "ARM" and t.packet_size == 0x40 and not t.link.ack_mode
        assert t.live and t.sampling_mode == "live"
        # chunking: 200 bytes through 0x40-byte packets; RLE-coded replies decode
        data = t.read(0x1000, 200)
        assert data == bytes(range(200))
        reads = [p for p in stub.seen if p[:1] == b"m"]
        assert len(reads) >= 200 // ((0x40 - 16) // 2) and all(int(p.split(b",")[1], 16) <= 24 for p in reads)
        assert t.read(0x1000 + 1024, 64) == bytes(64)
        # binary writes: every byte that needs escaping, chunked, read back
        payload = b"#$}*" * 10 + bytes(range(40))
        assert t.write(0x1100, payload) == payload
        assert bytes(stub.mem[0x100 : 0x100 + len(payload)]) == payload
        assert any(p[:1] == b"X" for p in stub.seen)
        # an error code becomes AccessRefused naming the address
        with pytest.raises(AccessRefused, match="0x9000") as e:
            t.read(0x9000, 4)
        assert e.value.code == 1
        # no-ack mode: after the switch the only '+' is the one acknowledging its OK (as the
        # protocol requires); no packet after it is acknowledged
        after = bytes(stub.raw).split(frame(b"QStartNoAckMode"), 1)[1]
        assert after.count(b"+") == 1 and after.startswith(b"+")
        t.close()
        assert stub.seen[-1] == b"D"
    finally:
        stub.close()


def test_hex_writes_where_the_server_has_no_binary_writes() -> None:
    from firmwatch.targets.rsp import RspTarget

    stub = FakeStub(binary_writes=False)
    try:
        t = RspTarget(f"127.0.0.1:{stub.port}")
        payload = bytes(range(60))
        assert t.write(0x1200, payload) == payload
        assert t.write(0x1300, b"\x7d") == b"\x7d"
        kinds = [p[:1] for p in stub.seen if p[:1] in (b"X", b"M")]
        assert kinds[0] == b"X" and set(kinds[1:]) == {b"M"}, "one X probe, then M only"
        assert len([k for k in kinds if k == b"M"]) >= 3, "chunked to the packet size"
        t.close()
    finally:
        stub.close()


def test_a_refused_region_only_stops_its_own_stream() -> None:
    from firmwatch.targets.rsp import RspTarget

    stub = FakeStub()
    events: list[tuple[str, str]] = []
    try:
        t = RspTarget(f"127.0.0.1:{stub.port}", on_link=lambda state, text: events.append((state, text)))
        got: list[Sample] = []
        t.on_sample(got.append)
        good = t.start_stream([Region(0x1004, 4)], 200.0)
        bad = t.start_stream([Region(0x1008, 4), Region(0x9000, 4)], 200.0)
        wait_for(lambda: sum(s.stream == good for s in got) >= 50, 10, "samples of the good stream")
        assert not any(s.stream == bad for s in got)
        assert [state for state, _ in events] == ["error"], "a failing stream is reported once"
        assert "0x9000" in events[0][1]
        assert t.error is None
        t.close()
    finally:
        stub.close()


# ------------------------------------------------------------------------------------------
# real servers
# ------------------------------------------------------------------------------------------

ARCH = {"cortex-m3": "ARM", "riscv32": "RISC-V", "avr": "AVR"}
TOOLS = {
    "cortex-m3": ("arm-none-eabi-gcc", "qemu-system-arm"),
    "riscv32": ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"),
    "avr": ("avr-gcc", "simavr"),
}
DEMO_CONFIG_MAGIC = 0xC0FFEE01  # firmware/examples/demo/demo.h
WATCHED = ["loop_count", "timestamp_ms", "heartbeat_counter", "accel_x", "accel_y", "accel_z",
           "sensor_temp", "fsm_state"]


def elf_symbols(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) from the ELF symbol table (Thumb bit cleared on functions)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    out: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        arm = elf["e_machine"] == "EM_ARM"
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for s in sec.iter_symbols():
                    addr = s["st_value"]
                    if arm and s["st_info"]["type"] == "STT_FUNC":
                        addr &= ~1
                    out.setdefault(s.name, (addr, s["st_size"]))
    return out


@pytest.fixture(scope="module")
def build_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rsp-builds")


@pytest.fixture(params=["cortex-m3", "riscv32", "avr"])
def board(request) -> str:
    for tool in TOOLS[request.param]:
        require_tool(tool)
    require_tool("make")
    return str(request.param)


@pytest.fixture
def demo(board: str, build_root: Path):
    from firmwatch.sim import start_sim

    dev = start_sim(board, build_dir=build_root / board)
    try:
        yield dev
    finally:
        dev.stop()


def connect(dev, **kw):
    from firmwatch.targets.rsp import RspTarget

    return RspTarget(dev.gdb, expect_arch=ARCH[dev.target], **kw)


class _Exact:
    """The demo on simavr with the gdb socket polled after every instruction.

    sim.py's harness polls every 2000 cycles for speed, so a breakpoint is noticed late (or
    never, when the code runs in between polls); exact breakpoints need ``--gdb-poll 1``.
    """

    def __init__(self, dev, build_dir: Path):
        from firmwatch.sim import harness_path
        from firmwatch.targets.gdbserver import GdbServer, free_port

        dev.stop()
        port = free_port()
        cmd = [str(harness_path(build_dir)), "--gdb-port", str(port), "--gdb-poll", "1", str(dev.elf)]
        self.server = GdbServer(cmd, port, name="simavr-harness").start()
        self.target, self.elf, self.gdb, self.pid = dev.target, dev.elf, self.server.address, self.server.pid

    def stop(self) -> None:
        self.server.close()


@pytest.fixture
def exact_demo(demo, board: str, build_root: Path):
    if board != "avr":
        yield demo
        return
    dev = _Exact(demo, build_root / board)
    try:
        yield dev
    finally:
        dev.stop()


@pytest.mark.emulator
def test_connect_read_write(demo) -> None:
    syms = elf_symbols(demo.elf)
    t = connect(demo)
    try:
        assert t.arch == ARCH[demo.target]
        if demo.target == "avr":  # simavr sends a memory map: SRAM where the ELF puts .data
            ram = [r for r in t.info().regions if r.writable]
            assert ram and ram[0].contains(syms["loop_count"][0], 4)
        assert {"read", "write", "stream", "halt", "step", "breakpoints"} <= t.capabilities
        assert t.running
        cfg, _ = syms["g_config"]
        assert int.from_bytes(t.read(cfg, 4), "little") == DEMO_CONFIG_MAGIC
        loop_addr, _ = syms["loop_count"]
        first = int.from_bytes(t.read(loop_addr, 4), "little")
        wait_for(lambda: int.from_bytes(t.read(loop_addr, 4), "little") > first, 5, "loop_count to advance")
        # a write returns what reads back; the threshold is only read by the firmware
        thr = cfg
        off = 16  # alarm_threshold: magic(4) calib(4) channel_map(4) bitfields(4 on 32-bit)
        if demo.target == "avr":
            off = 14  # bitfields take 2 bytes on AVR
        old = t.read(thr + off, 4)
        assert t.write(thr + off, b"\x00\x00\x20\x42") == b"\x00\x00\x20\x42"  # 40.0f
        assert t.read(thr + off, 4) == b"\x00\x00\x20\x42"
        t.write(thr + off, old)
        assert t.running, "reads and writes must leave the target running"
    finally:
        t.close()


@pytest.mark.emulator
def test_live_sampling_of_eight_regions(demo) -> None:
    syms = elf_symbols(demo.elf)
    regions = [Region(*syms[name]) for name in WATCHED]
    t = connect(demo)
    got: list[Sample] = []
    try:
        t.on_sample(got.append)
        sid = t.start_stream(regions, 100.0)
        want = 20 if t.sampling_mode == "halt" else 150
        wait_for(lambda: len(got) >= want, 20, f"{want} samples")
        started = time.monotonic()
        wait_for(lambda: time.monotonic() - started > 1.0, 5, "a further second of sampling")
        t.stop_stream(sid)
        n = len(got)
        assert all(s.stream == sid and len(s.data) == 8 for s in got)
        assert [len(d) for d in got[0].data] == [r.size for r in regions]
        seqs = [s.seq for s in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == n
        times = [s.target_time for s in got]
        assert times == sorted(times)
        ts = [int.from_bytes(s.data[1], "little") for s in got]
        loops = [int.from_bytes(s.data[0], "little") for s in got]
        assert ts[-1] > ts[0] and loops[-1] > loops[0], "values must advance while sampling"
        rising = sum(b >= a for a, b in zip(ts, ts[1:]))
        assert rising >= 0.9 * (n - 1)
        frac = t.halted_fraction()
        assert t.stats().samples >= n and t.stats().halted_fraction == pytest.approx(frac, abs=0.002)
        if demo.target == "avr":
            assert t.sampling_mode == "live" and "live-read" in t.capabilities
            assert frac == 0.0, "simavr answers reads while running: no halting"
        else:
            assert t.sampling_mode == "halt"
            halted, elapsed, last = t.intrusion()
            assert frac > 0
            # the policy's invariant, exact whatever the machine load: every halt but the latest
            # one has been paid for by a wait of halt/budget
            assert halted - last <= t.budget * elapsed * 1.01 + 0.001, (
                f"halted {halted:.4f} s in {elapsed:.2f} s (latest round {last:.4f} s), budget {t.budget}")
        assert t.running
    finally:
        t.close()


@pytest.mark.emulator
def test_session_watches_through_rsp(demo) -> None:
    """The Target contract as the session uses it: named watches, one stream, live values."""
    from firmwatch.session.session import Session
    from firmwatch.symbols import load

    program = load(demo.elf)
    t = connect(demo)
    session = Session(program, t)
    try:
        loop = session.add_watch("loop_count", 20)
        gain = session.add_watch("g_config.calib.gain_q8", 20)
        wait_for(lambda: loop.has_value and gain.has_value, 10, "first values")
        first = loop.value().scalar
        assert gain.value().scalar == 256
        wait_for(lambda: loop.value().scalar > first, 10, "loop_count to advance in the session")
        assert session.polled_reason(loop) is None, "an RSP target streams: no polling fallback"
    finally:
        session.close()
        t.close()


@pytest.mark.emulator
def test_sampling_goes_on_while_the_user_holds_the_target_halted(demo) -> None:
    syms = elf_symbols(demo.elf)
    t = connect(demo, budget=None)
    got: list[Sample] = []
    try:
        t.on_sample(got.append)
        t.start_stream([Region(*syms["loop_count"])], 200.0)
        wait_for(lambda: len(got) >= 5, 10, "samples while running")
        stop = t.halt()
        assert stop.kind == "signal" and not t.running
        halted_before = t.halted_fraction() * 1.0
        n = len(got)
        wait_for(lambda: len(got) >= n + 20, 10, "samples while halted")
        frozen = {s.data[0] for s in got[n + 1 :]}
        assert len(frozen) == 1, "a halted target's values must not change"
        assert t.halted_fraction() <= halted_before + 1e-9 or t.sampling_mode == "live", \
            "reads of a halted target must not count as intrusion"
        t.resume()
        wait_for(lambda: got[-1].data[0] not in frozen, 10, "values to move after resume")
        assert t.running
    finally:
        t.close()


@pytest.mark.emulator
def test_forced_halt_mode_and_pipelining(demo) -> None:
    """mode="halt" gives coherent snapshots everywhere; reads ride behind the interrupt only
    where the server handles queued packets (QEMU, not simavr)."""
    syms = elf_symbols(demo.elf)
    t = connect(demo, mode="halt", budget=None)
    got: list[Sample] = []
    try:
        assert t.sampling_mode == "halt"
        assert t.pipelined == (demo.target != "avr")
        t.on_sample(got.append)
        t.start_stream([Region(*syms["loop_count"]), Region(*syms["g_config"])], 500.0)
        wait_for(lambda: len(got) >= 100, 20, "100 halt-mode samples")
        t.stop_stream()
        assert all(int.from_bytes(s.data[1][:4], "little") == DEMO_CONFIG_MAGIC for s in got)
        loops = [int.from_bytes(s.data[0], "little") for s in got]
        assert loops == sorted(loops) and loops[-1] > loops[0]
        assert t.halted_fraction() > 0 and t.running
    finally:
        t.close()


@pytest.mark.emulator
def test_breakpoint_step_and_stop_reply(exact_demo) -> None:
    demo = exact_demo
    syms = elf_symbols(demo.elf)
    fn, _ = syms["demo_loop"]
    t = connect(demo)
    stops = []
    try:
        t.on_stop(stops.append)
        t.add_breakpoint(fn)
        stop = t.wait_stop(10)
        assert stop is not None, "the breakpoint at demo_loop did not hit"
        assert stop.kind == "signal" and stop.signal == 5
        assert t.pc() == fn
        assert not t.running
        after = t.step()  # steps off the inserted breakpoint
        assert after.kind == "signal" and t.pc() != fn
        t.resume()
        again = t.wait_stop(10)  # the next loop iteration hits it again
        assert again is not None and t.pc() == fn
        loop_addr, _ = syms["loop_count"]
        count = t.read(loop_addr, 4)
        t.resume()  # resuming on top of the breakpoint must not stop at once
        assert t.wait_stop(10) is not None and t.pc() == fn
        assert t.read(loop_addr, 4) != count, "resume stopped again without running the loop"
        assert stops, "on_stop callbacks were not called"
        t.remove_breakpoint(fn)
        regs = t.read_registers()
        assert len(regs) >= {"ARM": 64, "RISC-V": 128, "AVR": 39}[t.arch]
        t.resume()
        assert t.running
        first = int.from_bytes(t.read(loop_addr, 4), "little")
        wait_for(lambda: int.from_bytes(t.read(loop_addr, 4), "little") > first, 5, "the firmware to run again")
    finally:
        t.close()


@pytest.mark.emulator
def test_breakpoint_hit_while_sampling_is_not_swallowed(exact_demo) -> None:
    """The sampler's halts must not resume past a breakpoint the firmware hit meanwhile."""
    demo = exact_demo
    syms = elf_symbols(demo.elf)
    t = connect(demo, budget=None)
    try:
        t.start_stream([Region(*syms["loop_count"])], 500.0)
        fn, _ = syms["demo_loop"]
        t.add_breakpoint(fn)
        stop = t.wait_stop(10)
        assert stop is not None and t.pc() == fn
    finally:
        t.close()


@pytest.mark.emulator
def test_watchpoint_on_a_config_write(exact_demo) -> None:
    demo = exact_demo
    syms = elf_symbols(demo.elf)
    hb, _ = syms["heartbeat_counter"]
    t = connect(demo)
    try:
        assert "watchpoints" in t.capabilities
        t.add_watchpoint(hb, 4)
        stop = t.wait_stop(10)
        # simavr names every hit "awatch", even for a write watchpoint
        assert stop is not None and stop.reason in ("watch", "awatch") and stop.data_address == hb
        t.remove_watchpoint(hb)
        t.resume()
    finally:
        t.close()


@pytest.mark.emulator
def test_server_killed_mid_session(demo) -> None:
    syms = elf_symbols(demo.elf)
    events: list[tuple[str, str]] = []
    t = connect(demo, on_link=lambda state, text: events.append((state, text)))
    got: list[Sample] = []
    t.on_sample(got.append)
    t.start_stream([Region(*syms["loop_count"])], 200.0)
    wait_for(lambda: len(got) >= 3, 10, "samples before the kill")
    os.killpg(demo.pid, signal.SIGKILL)
    demo.wait(5)
    wait_for(lambda: t.error is not None, 10, "the sampler to notice the lost server")
    assert isinstance(t.error, TargetLost)
    assert events and events[-1][0] == "lost" and demo.gdb in events[-1][1]
    with pytest.raises(TargetLost) as e:
        t.read(syms["loop_count"][0], 4)
    text = str(e.value)
    assert demo.gdb in text and text.count(". ") == 0 and text.endswith(".")
    t.close()  # must not hang or raise


@pytest.mark.emulator
def test_close_detaches_and_leaves_the_target_running(demo) -> None:
    syms = elf_symbols(demo.elf)
    ts_addr = syms["timestamp_ms"][0]
    t = connect(demo)
    t.add_breakpoint(syms["demo_loop"][0])  # hit every loop: one left behind would stop the firmware
    before = int.from_bytes(t.read(ts_addr, 4), "little")
    t.close()
    closed = time.monotonic()
    while time.monotonic() - closed < 0.2:  # let 200 ms of firmware time pass (1 kHz tick)
        time.sleep(0.01)
    again = connect(demo, run=False)
    try:
        assert not again.running, "run=False leaves the target halted"
        after = int.from_bytes(again.read(ts_addr, 4), "little")
        # a guest left paused would not have ticked at all while nobody was connected
        assert after - before >= 100, f"timestamp_ms went {before} -> {after}: the target was left halted"
    finally:
        again.close()


@pytest.mark.emulator
def test_hung_server_times_out_instead_of_hanging(demo) -> None:
    syms = elf_symbols(demo.elf)
    t = connect(demo, timeout=0.5)
    try:
        os.killpg(demo.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TargetLost, match="did not answer .* within 0.5 s"):
                t.read(syms["loop_count"][0], 4)
        finally:
            os.killpg(demo.pid, signal.SIGCONT)
        with pytest.raises(TargetLost):  # the link state is unknown after a timeout: stay lost
            t.read(syms["loop_count"][0], 4)
    finally:
        t.close()


@pytest.mark.emulator
def test_wrong_architecture_and_bad_address(demo) -> None:
    from firmwatch.targets.rsp import RspTarget

    wrong = "AVR" if demo.target != "avr" else "ARM"
    with pytest.raises(TargetError, match=f"debugs a {ARCH[demo.target]} target but the ELF is built for {wrong}"):
        RspTarget(demo.gdb, expect_arch=wrong)
    if demo.target == "avr":
        return  # simavr reads any address (it wraps), nothing to refuse
    t = connect(demo)
    try:
        with pytest.raises(AccessRefused, match="0xf0000000") as e:
            t.read(0xF0000000, 4)
        assert e.value.address == 0xF0000000
        assert t.running, "a refused read must not leave the target halted"
    finally:
        t.close()


def test_closed_port_is_one_sentence() -> None:
    from firmwatch.targets.gdbserver import free_port
    from firmwatch.targets.rsp import RspTarget

    port = free_port()
    with pytest.raises(TargetError) as e:
        RspTarget(f"127.0.0.1:{port}")
    assert str(e.value).startswith(f"nothing is listening on 127.0.0.1:{port}: start the GDB server")
    with pytest.raises(TargetError, match="not a GDB server address"):
        RspTarget("localhost:gdb")
    with pytest.raises(TargetError, match="budget is a fraction"):
        RspTarget(f"127.0.0.1:{port}", budget=5)


def test_a_port_that_is_not_a_gdb_server() -> None:
    """Something listens but never speaks RSP (or serves another client): a sentence, no hang."""
    from firmwatch.targets.rsp import RspTarget

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(TargetError) as e:
            RspTarget(f"127.0.0.1:{port}", timeout=0.3)
        assert "did not answer as a GDB server" in str(e.value)
        assert not isinstance(e.value, TargetLost)


# ------------------------------------------------------------------------------------------
# lock handshake: a firmware that holds a flag while it updates two copies of a value
# ------------------------------------------------------------------------------------------

LOCK_FW = r"""
#include <stdint.h>
volatile uint8_t busy_flag;
volatile uint32_t value_a, value_b, spin;
#ifdef FW_ARM
extern uint32_t __stack_top;
void reset_handler(void);
__attribute__((section(".vectors"), used)) static void *const vectors[2] = {&__stack_top, reset_handler};
void reset_handler(void)
#else
int main(void)
#endif
{
    for (;;) {
        busy_flag = 1;
        value_a++;
        for (uint32_t i = 0; i < 20; i++) spin++;
        value_b = value_a;            /* a and b differ only while the flag is set */
        busy_flag = 0;
        /* QEMU stops the CPU only between translation blocks: give the unlocked part a loop
         * of its own so that some block boundaries fall outside the locked section */
        for (uint32_t i = 0; i < 10; i++) spin++;
    }
}
"""
ARM_LD = """MEMORY { FLASH (rx) : ORIGIN = 0, LENGTH = 256K  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K }
ENTRY(reset_handler)
__stack_top = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS { .vectors : { KEEP(*(.vectors)) } > FLASH  .text : { *(.text*) *(.rodata*) } > FLASH
  .data : { *(.data*) } > RAM  .bss (NOLOAD) : { *(.bss* COMMON) } > RAM }
"""
RV_LD = """MEMORY { RAM (rwx) : ORIGIN = 0x80000000, LENGTH = 128K }
ENTRY(_start)
__stack_top = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS { .text : { *(.text.start) *(.text*) *(.rodata*) } > RAM
  .data : { *(.data* .sdata*) } > RAM  .bss : { *(.bss* .sbss* COMMON) } > RAM }
"""
RV_START = """    .section .text.start
    .globl _start
_start:
    la sp, __stack_top
    call main
1:  j 1b
"""


def build_lock_firmware(board: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "fw.c").write_text(LOCK_FW)
    elf = out / "fw.elf"
    bare = ["-nostartfiles", "-nostdlib", "-ffreestanding", "-T", "fw.ld"]
    if board == "cortex-m3":
        (out / "fw.ld").write_text(ARM_LD)
        cmd = ["arm-none-eabi-gcc", "-DFW_ARM", "-mcpu=cortex-m3", "-mthumb", *bare]
    elif board == "riscv32":
        (out / "fw.ld").write_text(RV_LD)
        (out / "start.S").write_text(RV_START)
        cmd = ["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", *bare, "start.S"]
    else:
        cmd = ["avr-gcc", "-mmcu=atmega328p", "-gdwarf-4"]
    cmd += ["-g", "-O1", "-o", str(elf), "fw.c"]
    subprocess.run(cmd, cwd=out, check=True, capture_output=True)
    return elf


@pytest.mark.emulator
def test_lock_handshake_skips_rounds_while_the_flag_is_set(board: str, build_root: Path, tmp_path: Path) -> None:
    from firmwatch.sim import start_sim

    elf = build_lock_firmware(board, tmp_path / "lockfw")
    syms = elf_symbols(elf)
    flag = syms["busy_flag"][0]
    with start_sim(board, build_dir=build_root / board, elf=elf) as dev:
        t = connect(dev, budget=None, lock=(flag, 1))
        got: list[Sample] = []
        try:
            assert t.sampling_mode == "halt", "a lock flag needs the target halted while it is checked"
            t.on_sample(got.append)
            a, b = syms["value_a"][0], syms["value_b"][0]
            t.start_stream([Region(a, 4), Region(b, 4), Region(flag, 1)], 1000.0)
            wait_for(lambda: len(got) >= 10 and t.stats().lock_skips >= 10, 30, "samples and skipped rounds")
            t.stop_stream()
            for s in got:
                assert s.data[2] == b"\0", "a sample was taken while the firmware held its lock"
                assert s.data[0] == s.data[1], "a and b differ: the round read half-updated data"
            assert t.running
        finally:
            t.close()


# ------------------------------------------------------------------------------------------
# launching servers
# ------------------------------------------------------------------------------------------


@pytest.mark.emulator
def test_gdbserver_launch_connect_and_stop(build_root: Path, tmp_path: Path) -> None:
    require_tool("qemu-system-arm")
    require_tool("arm-none-eabi-gcc")
    from firmwatch.targets.gdbserver import GdbServer, free_port, qemu_command
    from firmwatch.targets.rsp import RspTarget

    elf = build_lock_firmware("cortex-m3", tmp_path / "fw")
    port = free_port()
    server = GdbServer(qemu_command("cortex-m3", elf, port, halted=True), port).start()
    try:
        assert server.running()
        t = RspTarget(server.address, expect_arch="ARM")
        a = elf_symbols(elf)["value_a"][0]
        first = int.from_bytes(t.read(a, 4), "little")
        wait_for(lambda: int.from_bytes(t.read(a, 4), "little") > first, 5, "the firmware to run")
        t.close()
    finally:
        server.stop()
    assert not server.running()
    server.close()


@pytest.mark.emulator
def test_gdbserver_that_dies_says_why() -> None:
    require_tool("qemu-system-arm")
    from firmwatch.targets.gdbserver import GdbServer, free_port

    port = free_port()
    with pytest.raises(TargetError) as e:
        GdbServer(["qemu-system-arm", "-M", "no-such-board", "-gdb", f"tcp::{port}"], port).start()
    text = str(e.value)
    assert text.startswith(f"qemu-system-arm exited with status 1 before listening on port {port}")
    assert "unsupported machine type" in text
    with pytest.raises(TargetError, match="'openocd-not-here' is not installed"):
        GdbServer(["openocd-not-here"], port).start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        with pytest.raises(TargetError, match=f"port {busy} is already in use"):
            GdbServer(["qemu-system-arm", "-gdb", f"tcp::{busy}"], busy).start()


def test_gdbserver_stops_the_whole_process_group(tmp_path: Path) -> None:
    """A server that forks a helper: stop() ends both (the helper would hold the port)."""
    import sys

    from firmwatch.targets.gdbserver import GdbServer, free_port

    port = free_port()
    pidfile = tmp_path / "child.pid"
    script = (
        "import os, socket, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
        "time.sleep(60)\n"
    )
    server = GdbServer([sys.executable, "-c", script], port, name="fake-server").start()
    child = int(pidfile.read_text())
    server.stop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the forked helper outlived stop()")
    server.close()


def test_sampler_budget_caps_the_round_rate() -> None:
    """Policy check without an emulator: rounds that 'halt' 2 ms at a 10 % budget run ≤ 50/s."""
    from firmwatch.targets.rsp_sampler import RoundResult, Sampler

    calls: list[float] = []

    def round_fn(regions, lock):
        calls.append(time.monotonic())
        t = time.monotonic()
        while time.monotonic() - t < 0.002:
            pass
        return RoundResult([b"\1\2"] * len(regions), time.monotonic(), time.time(), halted=0.002)

    s = Sampler(round_fn, budget=0.1)
    got: list[Sample] = []
    done = threading.Event()

    def cb(sample: Sample) -> None:
        got.append(sample)
        if len(got) >= 40:
            done.set()

    s.callback = cb
    s.start()
    a = s.add([Region(0x100, 2)], 1000.0)
    b = s.add([Region(0x100, 2), Region(0x200, 2)], 1000.0)
    assert done.wait(10)
    s.stop()
    # both streams ride in the same rounds, and rounds are spaced by at least halted/budget
    assert {x.stream for x in got} == {a, b}
    # (measured where round_fn starts, a little after the sampler's own start of the round: a
    # preempted thread shortens one gap and lengthens the one before, never the span)
    gaps = [y - x for x, y in zip(calls, calls[1:])]
    assert calls[-1] - calls[0] >= len(gaps) * 0.02 - 0.005
    assert sorted(gaps)[len(gaps) // 10] >= 0.02 - 0.001
    assert s.halted_s / (calls[-1] + 0.002 - calls[0]) <= 0.1 * 1.05


def test_sampler_batches_streams_of_different_rates() -> None:
    """A 100 Hz and a 50 Hz stream share rounds: 100 rounds a second, not 150."""
    from firmwatch.targets.rsp_sampler import RoundResult, Sampler

    rounds: list[int] = []

    def round_fn(regions, lock):
        rounds.append(len(regions))
        return RoundResult([b"\0"] * len(regions), time.monotonic(), time.time())

    s = Sampler(round_fn, budget=None)
    got: list[Sample] = []
    s.callback = got.append
    s.start()
    fast = s.add([Region(0x10, 1)], 100.0)
    slow = s.add([Region(0x20, 1)], 50.0)
    wait_for(lambda: sum(x.stream == slow for x in got) >= 25, 10, "25 samples of the slow stream")
    s.stop()
    n_fast = sum(x.stream == fast for x in got)
    n_slow = sum(x.stream == slow for x in got)
    assert 1.6 <= n_fast / n_slow <= 2.4, "each stream keeps its own rate"
    assert len(rounds) <= n_fast + 2, "the slow stream rides in the fast stream's rounds"
    assert rounds.count(2) >= n_slow - 2


def test_a_watchpoint_stop_steps_again_when_the_step_ran_nothing() -> None:
    """On a core that traps before the access, the stop is completed by one step with the
    watchpoints lifted. QEMU (RISC-V) now and then answers that step with the PC where it was:
    nothing ran, and the stop showed the value before the write (a control-contract flake).
    Here the first step does nothing and the second writes: the write must be seen."""
    from firmwatch.targets.rsp import RspTarget

    class LazyStepStub(FakeStub):
        pc = 0x1000
        steps = 0

        def _handle(self, conn, p):  # type: ignore[no-untyped-def]
            if p == b"pf":
                self.seen.append(p)
                self._reply(conn, self.pc.to_bytes(4, "little").hex().encode())
            elif p in (b"s", b"vCont;s"):
                self.seen.append(p)
                self.steps += 1
                if self.steps > 1:  # the store at 0x1000 runs on the second try
                    self.mem[0x100:0x104] = (28).to_bytes(4, "little")
                    self.pc = 0x1002
                self._reply(conn, b"S05")
            else:
                super()._handle(conn, p)

    stub = LazyStepStub()
    stub.mem[0x100:0x104] = (27).to_bytes(4, "little")
    try:
        t = RspTarget(f"127.0.0.1:{stub.port}", expect_arch="ARM")
        t.add_watchpoint(0x1100, 4, "write")
        t.halt()
        t.finish_access()
        assert stub.steps == 2 and stub.pc == 0x1002
        assert int.from_bytes(t.read(0x1100, 4), "little") == 28
        lifted = stub.seen.index(b"z2,1100,4")
        assert stub.seen[lifted:].count(b"Z2,1100,4") == 1, "the watchpoint is put back"
        t.close()
    finally:
        stub.close()
