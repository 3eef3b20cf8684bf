"""Fault injection for the profiler: a link that corrupts bytes, a device that dies mid-profile.

The rule under test: every loss is counted, the count agrees with the device, and no lost call's
time is ever credited to another function.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.profiler import demo
from firmwatch.profiler.calltree import LOST
from firmwatch.profiler.instrumented import InstrumentedRun
from firmwatch.symbols import load
from tools import require_board, wait_for

pytestmark = pytest.mark.emulator

HALF_US = 32.0  # Cortex-M3 under -icount shift=4: 2000 instructions of 16 ns
PER_CALL = {"app_frame": 1, "sensor_read": 6, "filter_run": 2, "fir_tap": 2, "control_update": 8, "pid_step": 4,
            "telemetry_pack": 18}


class CorruptingRelay:
    """TCP relay host <-> device UART that flips one bit in about one device byte in ``every``."""

    def __init__(self, device_url: str, every: int, seed: int = 7):
        host, port = device_url.removeprefix("socket://").rsplit(":", 1)
        self.device = (host, int(port))
        self.every = every
        self.rng = random.Random(seed)
        self.flipped = 0
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            host, _ = self.server.accept()
        except OSError:
            return
        dev = socket.create_connection(self.device)
        for src, dst, corrupt in ((host, dev, False), (dev, host, True)):
            t = threading.Thread(target=self._pump, args=(src, dst, corrupt), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, corrupt: bool) -> None:
        try:
            while data := src.recv(4096):
                if corrupt:
                    buf = bytearray(data)
                    for i in range(len(buf)):
                        if self.rng.randrange(self.every) == 0:
                            buf[i] ^= 1 << self.rng.randrange(8)
                            self.flipped += 1
                    data = bytes(buf)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def elf() -> Path:
    require_board("cortex-m3")
    return demo.build("cortex-m3")["prof"]


@pytest.fixture(scope="module")
def split_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames of at most 5 records: a frame lost on the link then splits callers from callees
    (with the default 20, one frame carries a whole app_frame() and losing it hides nothing)."""
    require_board("cortex-m3")
    return demo.build("cortex-m3", tmp_path_factory.mktemp("split"), extra_defs="-DFWP_RECORDS_PER_FRAME=5")["prof"]


def test_corrupted_frames_are_counted_and_their_calls_credited_to_nobody(split_elf: Path) -> None:
    elf = split_elf
    with sim.start_sim("cortex-m3", elf=elf, pace="fast", tcp=True) as dev:
        relay = CorruptingRelay(dev.port, every=500)
        try:
            run = InstrumentedRun(load(str(elf)), relay.url, timeout=1.0)
            run.start()  # commands' replies may be hit too: the link retries them
            wait_for(lambda: run.snapshot().counters.get("corrupt_frames", 0) >= 20, timeout=60,
                     what="twenty corrupted frames")
            prof = run.stop()
        finally:
            relay.close()
    c = prof.counters
    assert relay.flipped > 0 and c["corrupt_frames"] > 0
    # the device's own count of what it kept is what arrived plus what the link lost
    assert c["device_captured"] == c["received"] + c["link_lost"] and c["link_lost"] > 0
    assert c["device_overflows"] == 0
    assert any("lost on the link" in n for n in prof.notes)
    # no call's self time holds a lost callee: each function's self time per call stays its own
    for name, halves in PER_CALL.items():
        f = prof.function(name)
        assert f is not None and f.calls
        per_call_us = f.self_s / f.calls * 1e6
        # its own loop, and the instrumentation of its callees (about 2 us a call) at most
        callees = {"app_frame": 4, "filter_run": 6, "control_update": 1}.get(name, 0)
        assert per_call_us <= halves * HALF_US * 1.03 + 2.5 * callees + 4, (name, per_call_us)
    # what the lost callees took is shown as lost
    assert any(n.name == LOST for _, n in prof.tree.walk())


def test_a_device_that_dies_mid_profile_leaves_the_calls_that_arrived_and_a_sentence(elf: Path) -> None:
    dev = sim.start_sim("cortex-m3", elf=elf, pace="fast")
    try:
        run = InstrumentedRun(load(str(elf)), dev.port)
        run.start()
        wait_for(lambda: run.snapshot().counters["records"] > 500, timeout=60, what="500 calls")
    finally:
        dev.stop()
    prof = run.stop()
    assert prof.function("telemetry_pack") is not None
    assert any("went away" in n or "did not answer" in n for n in prof.notes), prof.notes
    assert all(n.endswith(".") for n in prof.notes)


class FakeDevice:
    """A MiniProfiler device on a pty, as scripted by the test: answers each command, and after
    START sends the PROFILE_DATA frames it is given."""

    def __init__(self, build_id: int, data_frames: list[bytes]):
        import os
        import tty

        from firmwatch.profiler import protocol as p

        self.p = p
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.build_id = build_id
        self.data = data_frames
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        import os
        import select

        p = self.p
        buf = b""
        while not self.stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                buf += os.read(self.master, 4096)
            except OSError:
                return
            while len(buf) >= 12:
                i = buf.find(b"\x55")
                if i < 0:
                    buf = b""
                    break
                pkt, buf = buf[i : i + 12], buf[i + 12 :]
                try:
                    cmd, _ = p.decode_command(pkt)
                except p.ProtocolError:
                    # not a command (what else the host sends at connect may hold 0x55): drop the
                    # byte and look again, as the firmware's parser does
                    buf = pkt[1:] + buf
                    continue
                if cmd == p.GET_METADATA:
                    out = p.encode_frame(p.METADATA, p.Metadata(16_000_000, 1_000_000, self.build_id, "fake").pack())
                elif cmd == p.GET_STATUS:
                    out = p.encode_frame(p.STATUS, p.Status(False, 0, 0, 0).pack())
                elif cmd == p.START_PROFILING:
                    out = p.encode_frame(p.ACK) + b"".join(self.data)
                else:
                    out = p.encode_frame(p.ACK)
                os.write(self.master, out)

    def close(self) -> None:
        import os

        self.stop.set()
        os.close(self.master)
        os.close(self._slave)


def test_a_device_speaking_another_protocol_version_is_refused_with_a_sentence(elf: Path) -> None:
    import subprocess
    import sys

    from firmwatch.profiler import protocol as p
    from firmwatch.profiler.instrumented import text_crc32

    v2 = p.encode_frame(p.PROFILE_DATA, p.encode_profile_data([(0x100, 1, 2, 0)], version=2))
    dev = FakeDevice(text_crc32(str(elf)) or 0, [v2, v2])
    try:
        run = InstrumentedRun(load(str(elf)), dev.port)
        with pytest.raises(p.UnsupportedVersion) as e:
            run.start()
        assert "version 2" in str(e.value) and "version 1" in str(e.value)
        # the command line: one sentence, exit status 1, no traceback
        r = subprocess.run([sys.executable, "-m", "firmwatch", "profile", str(elf), "--port", dev.port,
                            "--duration", "1"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and "protocol version 2" in err[0], r.stderr
    finally:
        dev.close()
