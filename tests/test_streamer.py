"""StreamerTarget over real ptys and TCP sockets.

The first half drives a Python model of the firmware (tests/streamer_fake.py) to produce
situations on demand: lost replies, dropped and corrupted frames, a text-only device, a clock
about to wrap. The second half runs the real host build of the firmware
(firmware/build/host/demo.elf) exactly as users do.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmwatch.targets.base import AccessRefused, Region, Sample, TargetError, TargetLost
from firmwatch.targets.streamer import StreamerTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streamer_fake import CONST, RAM, FakeDevice  # noqa: E402
from tools import require_tool, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[int, list[Sample]] = defaultdict(list)
        self.links: list[tuple[str, str]] = []

    def __call__(self, s: Sample) -> None:
        with self.lock:
            self.samples[s.stream].append(s)

    def link(self, state: str, message: str) -> None:
        with self.lock:
            self.links.append((state, message))

    def count(self, sid: int) -> int:
        with self.lock:
            return len(self.samples[sid])


@pytest.fixture
def fake() -> Iterator[FakeDevice]:
    dev = FakeDevice()
    yield dev
    dev.close()


@pytest.fixture
def target(fake: FakeDevice) -> Iterator[StreamerTarget]:
    t = StreamerTarget(fake.port)
    yield t
    t.close()


# ============================================================== against the Python model


def test_identify_over_a_pty(fake, target):
    info = target.info()
    assert target.mode == "binary"
    assert info.byteorder == "little" and info.word_size == 4 and info.tick_hz == 1000
    assert info.build_id == "01020304" and info.protocol_version == 3
    assert info.max_streams == 16 and info.max_stream_bytes == 64
    ram = next(r for r in info.regions if r.start == RAM)
    const = next(r for r in info.regions if r.start == CONST)
    assert ram.writable and ram.readable and const.readable and not const.writable
    assert info.name == f"firmwatch streamer v3 on {fake.port}"


def test_read_write_and_chunking(fake, target):
    blob = bytes((i * 7) & 0xFF for i in range(1000))  # four frames' worth at max_payload 255
    assert target.write(RAM + 100, blob) == blob
    assert target.read(RAM + 100, 1000) == blob
    assert target.read(CONST + 3, 4) == bytes([3, 4, 5, 6])
    reads = sum(1 for t in fake.commands if t == 0x02)
    assert reads == 5  # 1000 bytes in 250-byte chunks, plus the CONST read


def test_refusals_are_one_sentence(target):
    with pytest.raises(AccessRefused) as e:
        target.write(CONST + 0x10, b"\0\0\0\0")
    assert str(e.value) == (
        "the device refused to write 0x08000010..0x08000013: 0x08000010 is not inside a writable region "
        "(const data or flash)."
    )
    assert e.value.code == 4 and e.value.address == CONST + 0x10
    with pytest.raises(
        AccessRefused, match=r"^the device refused to read 0x00000000\.\.0x00000003: .*readable"
    ):
        target.read(0, 4)


def test_lost_replies_are_retried_and_exhaustion_is_reported(fake, target):
    target.timeout = 0.1
    target.write(RAM, b"\x11\x22")
    fake.drop_replies = 2
    assert target.read(RAM, 2) == b"\x11\x22"
    fake.drop_replies = 2
    assert target.write(RAM, b"\x33\x44") == b"\x33\x44"  # the re-sent WRITE writes the same bytes
    fake.drop_replies = 10
    with pytest.raises(TargetError, match=r"did not answer when asked to read 0x20000000 \(4 attempts\)"):
        target.read(RAM, 2)
    fake.drop_replies = 0
    assert target.read(RAM, 2) == b"\x33\x44"
    sid = target.start_stream([Region(RAM, 2)], 10)
    fake.drop_replies = 1  # the STOP happens, its ACK is lost; the retry hears NO_STREAM
    target.stop_stream(sid)
    assert target.streams() == {} and fake.streams == {}


def test_a_false_sync_that_swallows_a_reply_is_given_up(fake, target):
    fake.poke(RAM, b"\x42")
    fake.junk_before_reply = b"\xaa\x55\x82\xf0\x00"  # claims 240 bytes: the reply hides inside
    n = len(fake.commands)
    assert target.read(RAM, 1) == b"\x42"
    assert len(fake.commands) == n + 1  # recovered by the quiet-link flush, not by a retry
    assert target.stats().corrupt_frames == 1


def test_stream_validation(target):
    r = Region(RAM, 4)
    with pytest.raises(TargetError, match="at most its tick rate 1000 Hz"):
        target.start_stream([r], 2000)
    with pytest.raises(TargetError, match="at most its tick rate"):
        target.start_stream([r], 0)
    with pytest.raises(TargetError, match="9 regions exceeds the device's limit of 8"):
        target.start_stream([Region(RAM + 4 * i, 4) for i in range(9)], 10)
    with pytest.raises(TargetError, match="65 bytes exceeds the device's limit of 64"):
        target.start_stream([Region(RAM, 65)], 10)
    with pytest.raises(AccessRefused, match="refused to stream 0x08000100"):
        target.start_stream([Region(CONST + 0x100, 4)], 10)
    assert target.streams() == {}


def test_stream_ids_and_samples(fake, target):
    c = Collector()
    target.on_sample(c)
    fake.poke(RAM, b"\x01\x00\x00\x00")
    fake.poke(RAM + 8, b"\xaa\xbb")
    a = target.start_stream([Region(RAM, 4), Region(RAM + 8, 2)], 100)
    b = target.start_stream([Region(RAM + 16, 1)], 50)
    assert (a, b) == (0, 1)
    wait_for(lambda: c.count(a) >= 20 and c.count(b) >= 10, what="samples")
    s = c.samples[a][0]
    assert s.data == (b"\x01\x00\x00\x00", b"\xaa\xbb")
    target.stop_stream(a)
    assert target.start_stream([Region(RAM, 2)], 10) == 0  # the lowest free id is reused
    with pytest.raises(TargetError, match="stream 5 is not running"):
        target.stop_stream(5)
    target.stop_stream(None)
    assert target.streams() == {}
    st = target.stats()
    assert st.lost == 0 and st.corrupt_frames == 0 and st.samples >= 30


def test_loss_and_corruption_are_counted(fake, target):
    c = Collector()
    target.on_sample(c)
    seq0 = fake.seq
    fake.skip_samples = {seq0 + 20, seq0 + 21, seq0 + 40}
    fake.corrupt_samples = {seq0 + 60, seq0 + 61}
    fake.junk_between = b"\x00junk\xaa\x55\x90\xff"  # a false sync with an absurd length, between frames
    sid = target.start_stream([Region(RAM, 4)], 1000)
    wait_for(lambda: c.count(sid) >= 150, what="150 samples")
    target.stop_stream(sid)
    st = target.stats()
    seqs = [s.seq for s in c.samples[sid]]
    missing = {q for q in range(seqs[0], seqs[-1] + 1)} - set(seqs)
    assert missing == {seq0 + 20, seq0 + 21, seq0 + 40, seq0 + 60, seq0 + 61}
    assert st.lost == len(missing)
    assert st.corrupt_frames >= 2
    assert st.samples == len(seqs)


def test_target_time_unwraps_across_2_pow_32():
    dev = FakeDevice(tick_offset=(1 << 32) - 150)
    try:
        with StreamerTarget(dev.port) as t:
            c = Collector()
            t.on_sample(c)
            sid = t.start_stream([Region(RAM, 4)], 1000)
            wait_for(lambda: c.count(sid) >= 400, what="400 samples")
            times = [s.target_time for s in c.samples[sid]]
            assert all(b > a for a, b in zip(times, times[1:]))
            assert times[-1] > (1 << 32) / 1000  # past the wrap, still counting up
    finally:
        dev.close()


def test_text_mode_is_never_a_silent_fallback():
    """Issue 9.1: a device that does not answer IDENTIFY (noise, a text-only device) used to
    put the host in text mode without a word. Now binary is the mode unless text is asked for,
    and the failure names what the device did answer."""
    dev = FakeDevice(binary=False)
    try:
        with pytest.raises(TargetError, match=r"answers text lines but no binary frame.*only when asked"):
            StreamerTarget(dev.port, timeout=0.1)
    finally:
        dev.close()


def test_text_mode_on_request():
    dev = FakeDevice(binary=False)
    try:
        with StreamerTarget(dev.port, timeout=0.2, mode="text") as t:
            assert t.mode == "text"
            assert "(text mode)" in t.info().name
            assert t.write(RAM + 4, b"\xde\xad") == b"\xde\xad"
            assert t.read(RAM + 4, 2) == b"\xde\xad"
            with pytest.raises(AccessRefused, match="not inside a writable region"):
                t.write(CONST, b"\0")
            with pytest.raises(TargetError, match="one region per stream"):
                t.start_stream([Region(RAM, 4), Region(RAM + 4, 4)], 10)
            c = Collector()
            t.on_sample(c)
            sid = t.start_stream([Region(RAM + 4, 2)], 100)
            wait_for(lambda: c.count(sid) >= 10, what="text samples")
            assert c.samples[sid][-1].data == (b"\xde\xad",)
            t.stop_stream(sid)
    finally:
        dev.close()


def test_nothing_answers():
    master, slave = os.openpty()
    try:
        with pytest.raises(
            TargetError, match=r"^no firmwatch streamer answered on /dev/pts/\d+; check the port"
        ):
            StreamerTarget(os.ttyname(slave), timeout=0.1, retries=1)
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(TargetError, match=r"^cannot open /nonexistent/tty \("):
        StreamerTarget("/nonexistent/tty")


def test_a_port_in_use_is_refused(fake, target):
    with pytest.raises(
        TargetError,
        match=rf"^cannot open {fake.port} \(.*lock.*\); check the port name and that nothing else uses it\.$",
    ):
        StreamerTarget(fake.port)
    assert target.read(RAM, 1) == b"\0"  # the first user is undisturbed


def test_reconnect_over_tcp_restores_streams():
    dev = FakeDevice(tcp_port=0)
    port = dev.tcp_port
    c = Collector()
    t = StreamerTarget(dev.port, on_link=c.link)
    try:
        t.on_sample(c)
        t.start_stream([Region(RAM, 4)], 10)
        sid = t.start_stream([Region(RAM + 4, 4)], 200)
        assert sid == 1
        wait_for(lambda: c.count(sid) >= 10, what="samples before the restart")
        dev.close()  # the server goes away ...
        wait_for(lambda: c.links[-1:] and c.links[-1][0] == "lost", what="lost")
        with pytest.raises(TargetLost, match="reconnecting"):
            t.read(RAM, 4)
        dev = FakeDevice(tcp_port=port, build_id=b"\x09\x09")  # ... and comes back reflashed
        dev.poke(RAM + 4, b"\x05\x06\x07\x08")
        wait_for(lambda: c.links[-1][0] == "restored", what="restored")
        assert "build id changed from 01020304 to 0909" in c.links[-1][1]
        n = c.count(sid)
        wait_for(lambda: c.count(sid) >= n + 10, what="samples after the restart")
        assert c.samples[sid][-1].data == (b"\x05\x06\x07\x08",)
        assert sorted(dev.streams) == [0, 1]  # both streams running again, same ids
        assert t.read(RAM + 4, 4) == b"\x05\x06\x07\x08"
        assert t.stats().reconnects == 1
    finally:
        t.close()
        dev.close()


def test_pty_vanishing_is_reported_and_close_is_clean():
    dev = FakeDevice()
    c = Collector()
    t = StreamerTarget(dev.port, on_link=c.link, reconnect=False)
    dev.close()
    wait_for(lambda: c.links, what="lost")
    assert c.links[0][0] == "lost" and dev.port in c.links[0][1]
    with pytest.raises(TargetLost):
        t.read(RAM, 1)
    t.close()


# ============================================================== against the real host build

HOST_ELF = ROOT / "firmware" / "build" / "host" / "demo.elf"


def _build_host() -> Path:
    given = os.environ.get("FIRMWATCH_HOST_ELF")  # a prebuilt host device (CI artifact, patched build)
    if given:
        return Path(given)
    make = require_tool("make")
    require_tool("cc")
    r = subprocess.run([make, "-C", str(ROOT / "firmware"), "host"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert HOST_ELF.exists()
    return HOST_ELF


@pytest.fixture(scope="module")
def host_elf() -> Path:
    return _build_host()


def _symbols(elf: Path) -> dict[str, tuple[int, int]]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    out = {}
    with open(elf, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for s in sec.iter_symbols():
                    if s["st_info"]["type"] == "STT_OBJECT" and s["st_size"]:
                        out[s.name] = (s["st_value"], s["st_size"])
    return out


def _elf_bytes(elf: Path, addr: int, size: int) -> bytes:
    """Initial contents of [addr, addr+size) from the ELF's loadable segments."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if (
                seg["p_type"] == "PT_LOAD"
                and seg["p_vaddr"] <= addr
                and addr + size <= seg["p_vaddr"] + seg["p_filesz"]
            ):
                off = addr - seg["p_vaddr"]
                return seg.data()[off : off + size]
    raise AssertionError(f"0x{addr:x} is not initialised data in {elf}")


class HostDevice:
    """The real host build, started as a user would: first stdout line ``port: ...``."""

    def __init__(self, elf: Path, *args: str):
        self.proc = subprocess.Popen(
            [str(elf), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert ready, "the host device printed nothing"
        line = self.proc.stdout.readline()
        m = re.match(r"port:\s*(\S+)", line)
        assert m, f"unexpected first line from the host device: {line!r}"
        self.port = m.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def host(host_elf: Path) -> Iterator[HostDevice]:
    dev = HostDevice(host_elf)
    yield dev
    dev.stop()


def test_host_identify_read_write(host, host_elf):
    syms = _symbols(host_elf)
    with StreamerTarget(host.port) as t:
        info = t.info()
        assert t.mode == "binary"
        assert info.byteorder == sys.byteorder and info.word_size == 8
        assert info.build_id  # the ELF's GNU build id
        assert info.regions and any(r.writable for r in info.regions)
        addr, size = syms["g_config"]
        before = t.read(addr, size)
        assert len(before) == size
        patched = bytes([before[0] ^ 0xFF]) + before[1:]
        assert t.write(addr, patched) == patched
        assert t.read(addr, size) == patched
        t.write(addr, before)
        const = syms["sine_table"]
        assert t.read(*const) == _elf_bytes(host_elf, *const)
        with pytest.raises(AccessRefused, match="not inside a writable region"):
            t.write(const[0], b"\0")
        with pytest.raises(AccessRefused, match="not inside a readable region"):
            t.read(0x10, 4)


def test_host_connects_while_device_streams_to_nobody(host, host_elf):
    """A previous user left text and binary streams running and a half-typed command behind."""
    import serial

    ts = _symbols(host_elf)["timestamp_ms"]
    with serial.Serial(host.port, timeout=0.2) as raw:
        raw.write(f"STREAM 0x{ts[0]:X} 8 1000\n".encode())
        raw.write(b"READ 0x2")  # no newline: the device holds a partial line
        deadline = time.monotonic() + 5
        while b"DATA|" not in raw.read(4096):
            assert time.monotonic() < deadline, "the device did not start streaming"
    # the pty now holds a backlog of DATA lines nobody read
    c = Collector()
    with StreamerTarget(host.port) as t:
        assert t.mode == "binary"
        t.on_sample(c)
        sid = t.start_stream([Region(ts[0], 8)], 10)
        wait_for(lambda: c.count(sid) >= 5, what="samples")
        assert [d.stream for d in t.list_streams()] == [sid]  # the stream left behind was stopped
        t.stop_stream(sid)
    assert all(
        int.from_bytes(s.data[0], sys.byteorder) == round(s.target_time * 1000) for s in c.samples[sid]
    )


def test_host_text_mode(host, host_elf):
    """The fallback path against the real text parser of the core."""
    syms = _symbols(host_elf)
    ts = syms["timestamp_ms"]
    addr, size = syms["g_config"]
    with StreamerTarget(host.port, mode="text") as t:
        assert t.mode == "text"
        info = t.info()
        assert info.tick_hz == 1000 and info.max_streams == 16 and info.build_id
        before = t.read(addr, size)  # more than one text chunk when the struct is large
        patched = bytes([before[0] ^ 0x5A]) + before[1:]
        assert t.write(addr, patched) == patched
        assert t.read(addr, size) == patched
        t.write(addr, before)
        const = syms["sine_table"]  # 128 bytes: three text-mode chunks
        assert t.read(*const) == _elf_bytes(host_elf, *const)
        with pytest.raises(AccessRefused, match="not inside a readable region"):
            t.read(0x10, 4)
        c = Collector()
        t.on_sample(c)
        sid = t.start_stream([Region(ts[0], 8)], 100)
        wait_for(lambda: c.count(sid) >= 50, what="text samples")
        t.stop_stream(sid)
        st = t.stats()
    for s in c.samples[sid]:
        assert int.from_bytes(s.data[0], sys.byteorder) == round(s.target_time * 1000)
    achieved, missing = _rates_ok(c.samples[sid], 100)
    assert abs(achieved - 100) <= 5 and abs(missing) <= 1 and st.lost == 0


def _rates_ok(samples: list[Sample], rate: float, dropped: int = 0) -> tuple[float, int]:
    """Rate achieved by the device (by target timestamps, counting samples it reported dropped),
    and how many samples the schedule says are missing beyond those."""
    t0, t1 = samples[0].target_time, samples[-1].target_time
    produced = len(samples) + dropped
    achieved = (produced - 1) / (t1 - t0)
    expected = (t1 - t0) * rate + 1
    return achieved, round(expected - produced)


def test_host_streams_at_mixed_rates(host, host_elf):
    syms = _symbols(host_elf)
    names = [
        n
        for n in ("heartbeat_counter", "loop_count", "accel_x", "accel_y", "accel_z", "sensor_temp")
        if n in syms
    ]
    assert names
    rates = [1, 10, 100, 1000]
    c = Collector()
    with StreamerTarget(host.port) as t:
        t.on_sample(c)
        started = {}
        for i in range(16):
            addr, size = syms[names[i % len(names)]]
            rate = rates[i % 4]
            started[t.start_stream([Region(addr, min(size, 4))], rate)] = rate
        wait_for(lambda: c.count(0) >= 4, timeout=15, what="4 samples of the 1 Hz streams")
        per_stream = t.status().stream_dropped  # reported only while the streams run
        t.stop_stream(None)
        st = t.stats(refresh_device=True)
    # a pty damages nothing, so every missing frame must be one the device itself dropped
    # (its TX buffer full while this machine was too busy to read); normally there are none
    assert st.corrupt_frames == 0
    assert st.lost == st.device_dropped
    for sid, rate in started.items():
        dropped = per_stream.get(sid, 0)
        achieved, missing = _rates_ok(c.samples[sid], rate, dropped)
        assert abs(achieved - rate) <= 0.05 * rate, (sid, rate, achieved)
        assert abs(missing) <= 1, (sid, rate, missing)


class FaultyLink:
    """A TCP proxy in front of a pty that damages the device's output as a noisy cable would.

    Every ``junk_every``-th chunk from the device is followed by junk holding a false sync,
    every ``flip_every``-th chunk has one byte flipped (inside a frame, usually), and
    ``to_device`` pushes junk towards the device between commands.
    """

    def __init__(self, upstream: str, junk_every: int = 37, flip_every: int = 53):
        import serial

        self.ser = serial.Serial(upstream, timeout=0.05)
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.junk = self.flips = 0
        self.junk_every, self.flip_every = junk_every, flip_every
        self._pending_to_device = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def to_device(self, junk: bytes) -> None:
        self._pending_to_device += junk

    def _run(self) -> None:
        conn, _ = self.srv.accept()
        n = 0
        while not self._stop.is_set():
            if self._pending_to_device:
                self.ser.write(self._pending_to_device)
                self._pending_to_device = b""
            r, _, _ = select.select([conn, self.ser.fd], [], [], 0.05)
            if conn in r:
                data = conn.recv(4096)
                if not data:
                    break
                self.ser.write(data)
            if self.ser.fd in r:
                data = bytearray(os.read(self.ser.fd, 4096))
                n += 1
                if n % self.flip_every == 0 and len(data) > 8:
                    data[len(data) // 2] ^= 0x10
                    self.flips += 1
                if n % self.junk_every == 0:
                    data += b"\x00\xaa\x55\x90\x10\x00junk\n"
                    self.junk += 1
                conn.sendall(data)
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.srv.close()
        self.ser.close()


def test_host_survives_garbage_and_corruption(host, host_elf):
    """No damaged value reaches the caller, every missing frame is counted, streaming goes on."""
    syms = _symbols(host_elf)
    ts, pair, c64 = syms["timestamp_ms"], syms["g_pair"], syms["event_counter64"]
    c = Collector()
    link = FaultyLink(host.port)
    try:
        with StreamerTarget(link.url) as t:
            t.on_sample(c)
            sid = t.start_stream([Region(ts[0], 8), Region(pair[0], 8), Region(c64[0], 8)], 1000)
            wait_for(
                lambda: c.count(sid) >= 3000 and link.junk >= 5 and link.flips >= 5, 30, "damaged traffic"
            )
            link.to_device(b"\xaa\x55\x02\xff\x00garbage\n\x00\x01")  # junk the device must survive too
            assert t.read(ts[0], 8)  # commands still work after it (retried if a reply was damaged)
            t.stop_stream(sid)
            st = t.stats(refresh_device=True)
    finally:
        link.close()
    samples = c.samples[sid]
    order = "little" if sys.byteorder == "little" else "big"
    for s in samples:
        stamp, ab, cnt = (int.from_bytes(d, order) for d in s.data)
        # timestamp_ms advances with the device tick that stamped the frame
        assert stamp == round(s.target_time * 1000), s
        a, b = ab & 0xFFFFFFFF, ab >> 32
        assert b == a ^ 0xFFFFFFFF, s  # g_pair written together: never seen half-updated
        assert cnt >> 32 == cnt & 0xFFFFFFFF, s  # the 64-bit counter is never torn
    seqs = [s.seq for s in samples]
    span = (seqs[-1] - seqs[0]) % 65536 + 1
    assert len(seqs) + st.lost == span  # received + counted as lost = what the device produced
    assert st.lost >= 1 and st.corrupt_frames >= link.junk  # flips cost frames; every false sync counted
    assert st.lost <= link.flips + link.junk + st.device_dropped  # junk may land inside a frame too


def test_host_reconnects_after_restart_on_the_same_tcp_port(host_elf):
    syms = _symbols(host_elf)
    ts = syms["timestamp_ms"]
    dev = HostDevice(host_elf, "--tcp", "0")
    port = dev.port.rsplit(":", 1)[1]
    c = Collector()
    try:
        t = StreamerTarget(dev.port, on_link=c.link)
        t.on_sample(c)
        sid = t.start_stream([Region(ts[0], 8)], 100)
        wait_for(lambda: c.count(sid) >= 10, what="samples before the restart")
        dev.stop()
        wait_for(lambda: c.links and c.links[-1][0] == "lost", what="lost")
        dev = HostDevice(host_elf, "--tcp", port)
        wait_for(lambda: c.links[-1][0] == "restored", timeout=15, what="restored")
        assert "build id" not in c.links[-1][1]  # same firmware: no warning
        n = c.count(sid)
        wait_for(lambda: c.count(sid) >= n + 10, what="samples after the restart")
        last = c.samples[sid][-1]
        # the restarted device's clock started again from zero, and so did timestamp_ms
        assert int.from_bytes(last.data[0], sys.byteorder) == round(last.target_time * 1000)
        assert t.stats().reconnects == 1 and t.streams() == {sid: ((Region(ts[0], 8),), 100)}
        t.close()
    finally:
        dev.stop()


def test_sample_ingest_counts_and_builds_ordinary_samples():
    import dataclasses

    from firmwatch.targets import protocol as P
    from firmwatch.targets.streamer import SampleIngest

    ing = SampleIngest(2, 1000, 255)
    ing.define(0, (4,))
    ing.define(2, (1, 2))
    ing.active = {0, 2}
    wire = b"".join(
        P.Samples(seq, 1000 + seq, 0b101, bytes([seq & 0xFF, 0, 0, 0, 7, 8, 9])).encode()
        for seq in (65534, 65535, 1)
    )
    samples, other = ing.feed(wire + P.Ack(3).encode(), host_time=5.0)
    assert other == [(P.ACK, b"\x03")]
    assert samples[0] == Sample(0, 65534, 66.534, 5.0, (b"\xfe\0\0\0",))
    assert samples[1] == Sample(2, 65534, 66.534, 5.0, (b"\x07", b"\x08\x09"))
    assert [s.seq for s in samples] == [65534, 65534, 65535, 65535, 1, 1]
    assert ing.lost == 1 and ing.samples == 6  # seq 0 is missing across the 2^16 wrap
    hash(samples[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        samples[0].seq = 3  # type: ignore[misc]
