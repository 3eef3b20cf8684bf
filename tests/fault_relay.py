"""A corrupting serial relay and an oracle of what the demo firmware can produce.

The relay sits between firmwatch and a real device (the host build on its pty, an emulator's
UART pty): firmwatch opens the relay's port, the relay forwards every byte in both directions
and, with probability ``rate`` per byte, damages it — flips one bit, drops it, or inserts a
random byte after it (one of the three, chosen evenly). Its port is a symlink to a fresh pty,
like ``/dev/serial/by-id/...``, so ``unplug()``/``replug()`` make the port vanish and come back
under the same name, the way a USB device re-enumerates.

``DemoOracle`` says, for a recorded row, whether the value is one the demo firmware
(firmware/examples/demo/demo.c) can have produced at that moment: counters that equal the tick
count, halves that must agree, constant tables, ranges. It never needs the value sent.

Used by tests/test_faults*.py and bench/faults.py.
"""

from __future__ import annotations

import csv
import math
import os
import random
import select
import tempfile
import threading
import time
import tty
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("flip", "drop", "insert")


@dataclass
class Damage:
    flips: int = 0
    drops: int = 0
    inserts: int = 0
    bytes: int = 0

    @property
    def total(self) -> int:
        return self.flips + self.drops + self.inserts


class CorruptingRelay:
    def __init__(self, device_port: str, rate: float = 0.0, seed: int = 1, both_ways: bool = True,
                 throttle_bps: float | None = None):
        self.device_port = device_port
        self.rate = rate
        # a slow link: the device's bytes are taken at most this fast (its TX buffer fills, it drops)
        self.throttle_bps = throttle_bps
        self._next_read = 0.0
        self.both_ways = both_ways
        self._rng = random.Random(seed)
        self._dir = Path(tempfile.mkdtemp(prefix="firmwatch-relay-"))
        self.port = str(self._dir / "port")  # stable name, like /dev/serial/by-id/...
        self.to_host = Damage()
        self.to_device = Damage()
        self.unheard = 0  # device bytes nobody read (no host connected)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dev = os.open(device_port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._dev)
        self._master: int | None = None
        self._slave: int | None = None
        self._plug()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="corrupting-relay", daemon=True)
        self._thread.start()

    # -- plugging
    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        tmp = self._dir / "port.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.port)
        self._master, self._slave = master, slave

    def unplug(self) -> None:
        """The port disappears: reads on it fail and its name no longer opens."""
        with self._lock:
            Path(self.port).unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
        os.write(self._wake_w, b"x")

    def replug(self) -> None:
        with self._lock:
            self._plug()
        os.write(self._wake_w, b"x")

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self.rate = rate

    # -- forwarding
    def _damage(self, data: bytes, account: Damage) -> bytes:
        account.bytes += len(data)
        rate = self.rate
        if rate <= 0:
            return data
        out = bytearray()
        rnd = self._rng.random
        for b in data:
            if rnd() >= rate:
                out.append(b)
                continue
            kind = self._rng.randrange(3)
            if kind == 0:
                out.append(b ^ (1 << self._rng.randrange(8)))
                account.flips += 1
            elif kind == 1:
                account.drops += 1
            else:
                out.append(b)
                out.append(self._rng.randrange(256))
                account.inserts += 1
        return bytes(out)

    def _run(self) -> None:
        # The two directions never wait for each other, as on a real cable: bytes for the device
        # queue here until it takes them (an emulator's UART takes one at a time), while what it
        # sends is forwarded (or lost, when nobody has the port open) at once.
        to_dev = bytearray()
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            wait_dev = self.throttle_bps is not None and time.monotonic() < self._next_read
            rfds = ([] if wait_dev else [self._dev]) + [self._wake_r] + ([master] if master is not None else [])
            wfds = [self._dev] if to_dev else []
            timeout = max(0.0, self._next_read - time.monotonic()) if wait_dev else 0.2
            try:
                ready, writable, _ = select.select(rfds, wfds, [], timeout)
            except (OSError, ValueError):
                continue
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._dev in writable and to_dev:
                try:
                    n = os.write(self._dev, to_dev)
                    del to_dev[:n]
                except (BlockingIOError, OSError):
                    pass
            if self._dev in ready:
                chunk = 65536 if self.throttle_bps is None else max(1, int(self.throttle_bps * 0.01))
                try:
                    data = os.read(self._dev, chunk)
                except (BlockingIOError, OSError):
                    data = b""
                if self.throttle_bps is not None:
                    self._next_read = time.monotonic() + len(data) / self.throttle_bps
                with self._lock:
                    out = self._damage(data, self.to_host) if data and self._master is not None else b""
                    master = self._master
                if out and master is not None:
                    self._write(master, out, block=False)
            if master is not None and master in ready:
                try:
                    data = os.read(master, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    with self._lock:
                        to_dev += self._damage(data, self.to_device) if self.both_ways else data

    def _write(self, fd: int, data: bytes, block: bool = True) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                if not block:
                    self.unheard += len(view)
                    return
                select.select([], [fd], [], 0.2)
                continue
            except OSError:
                return
            view = view[n:]

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        with self._lock:
            for fd in (self._master, self._slave, self._dev, self._wake_r, self._wake_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None
        Path(self.port).unlink(missing_ok=True)
        try:
            self._dir.rmdir()
        except OSError:
            pass

    def __enter__(self) -> CorruptingRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# what the demo firmware can produce

# (expression, rate in Hz) recorded by the fault tests: every one has a property the oracle
# can check without knowing the value that was sent.
WATCHES = (
    ("timestamp_ms", 1000),  # == the tick that stamped the sample
    ("event_counter64", 500),  # both 32-bit halves equal the tick
    ("g_pair.b", 500),  # == ~tick (low 32 bits)
    ("uptime_s", 200),  # == tick / 1000
    ("sine_table[5]", 100),  # const table entry: 556
    ("sine_table[16]", 100),  # 1000
    ("g_config.magic", 50),  # 0xC0FFEE01 unless written
    ("accel_y", 500),  # triangle in [-1000, 1000]
    ("accel_z", 200),  # 950..1050
    ("fsm_state", 100),  # an enum 0..4
    ("button_state", 100),  # 0 or 1
    ("heartbeat_counter", 100),  # never decreases, never ahead of tick / 500
)

SINE = (0, 98, 195, 290, 383, 471, 556, 634, 707, 773, 831, 882, 924, 957, 981, 995, 1000)
FSM = {"FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP", "0", "1", "2", "3", "4"}


@dataclass
class Verdict:
    rows: int = 0
    wrong: list[str] = field(default_factory=list)
    # per watch: samples received and sample slots the device clock says were skipped
    received: dict[str, int] = field(default_factory=dict)
    ticks: dict[str, list[int]] = field(default_factory=dict)


class DemoOracle:
    """Checks recorded rows: ``check(name, value, target_time_s)``."""

    def __init__(self) -> None:
        self._heartbeat_last: dict[str, int] = {}

    def problem(self, name: str, value: str, t: float) -> str | None:
        tick = round(t * 1000)
        try:
            if name == "timestamp_ms":
                return None if int(value) == tick else f"timestamp_ms {value} at tick {tick}"
            if name == "event_counter64":
                v = int(value)
                ok = v >> 32 == v & 0xFFFFFFFF == tick & 0xFFFFFFFF
                return None if ok else f"event_counter64 0x{v:x} at tick {tick}"
            if name == "g_pair.b":
                return None if int(value) == ~tick & 0xFFFFFFFF else f"g_pair.b {value} at tick {tick}"
            if name == "uptime_s":
                return None if math.isclose(float(value), tick / 1000.0, abs_tol=1e-9) else f"uptime_s {value} at {tick}"
            if name.startswith("sine_table["):
                i = int(name[len("sine_table[") : -1])
                return None if int(value) == SINE[i] else f"{name} = {value}, the table holds {SINE[i]}"
            if name == "g_config.magic":
                return None if int(value) == 0xC0FFEE01 else f"g_config.magic = {value}"
            if name == "accel_y":
                return None if -1000 <= int(value) <= 1000 else f"accel_y {value} out of [-1000, 1000]"
            if name == "accel_z":
                return None if 950 <= int(value) <= 1050 else f"accel_z {value} out of [950, 1050]"
            if name == "fsm_state":
                return None if str(value) in FSM else f"fsm_state {value}"
            if name == "button_state":
                return None if int(value) in (0, 1) else f"button_state {value}"
            if name == "heartbeat_counter":
                # the main loop counts it when it sees a tick that is a multiple of 500, so it
                # never runs ahead of tick / 500 (it falls behind when the loop misses one) and
                # never goes back
                v, last = int(value), self._heartbeat_last.get(name, 0)
                self._heartbeat_last[name] = v
                ok = last <= v <= tick // 500 + 1
                return None if ok else f"heartbeat_counter {v} at tick {tick} (was {last})"
        except (TypeError, ValueError):
            return f"{name} = {value!r} is not a number"
        return None


def check_rows(rows: Iterable[dict[str, str]], oracle: DemoOracle | None = None) -> Verdict:
    """Checks CSV rows (``firmwatch record`` format): every value, per watch the tick list."""
    oracle = oracle or DemoOracle()
    oracle._heartbeat_last.clear()  # one recording: the counter restarts with a device restart
    v = Verdict()
    for row in rows:
        v.rows += 1
        name, t = row["name"], float(row["target_time_s"])
        why = oracle.problem(name, row["value"], t)
        if why:
            v.wrong.append(f"seq {row['seq']}: {why}")
        v.received[name] = v.received.get(name, 0) + 1
        v.ticks.setdefault(name, []).append(round(t * 1000))
    return v


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def missing_by_clock(ticks: list[int], rate_hz: float, tick_hz: int = 1000) -> int:
    """Samples the device's schedule put between the first and last received one that did not
    arrive (exact for rates that divide the tick rate)."""
    if len(ticks) < 2:
        return 0
    period = tick_hz / rate_hz
    expected = round((max(ticks) - min(ticks)) / period) + 1
    return max(0, expected - len(set(ticks)))
