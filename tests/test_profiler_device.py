"""firmware/profiler (the device half) on the host, checked with the host's own decoder.

``firmware/profiler/tests/test_fwprof.c`` wraps fwprof.c in a scripted device (its header lists
the script lines): calls are entered and left at set clock values, bytes arrive, the main loop
runs, output is drained. Built with a ring of 8 records, a depth of 4 and at most 5 records per
frame, so the limits are easy to reach.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from firmwatch.profiler import protocol as p
from firmwatch.profiler.calltree import UNKNOWN_CALLER, CallTreeBuilder

ROOT = Path(__file__).resolve().parents[1]
RING = 8


@pytest.fixture(scope="module")
def device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("fwprof")
    subprocess.run(["make", "-s", "-C", str(ROOT / "firmware" / "profiler"), f"BUILD={build}", "test"],
                   check=True, capture_output=True, text=True)
    return build / "test" / "test_fwprof"


class Device:
    def __init__(self, exe: Path):
        self.exe = exe
        self.script: list[str] = []

    def __call__(self, *lines: str) -> Device:
        self.script.extend(lines)
        return self

    def cmd(self, command: int, payload: bytes = b"") -> Device:
        return self(f"r {p.encode_command(command, payload).hex()}", "p")

    def call(self, addr: int, t_in: int, t_out: int, body: tuple[str, ...] = ()) -> Device:
        return self(f"t {t_in}", f"e {addr:#x}", *body, f"t {t_out}", "x")

    def run(self) -> list[str]:
        r = subprocess.run([str(self.exe)], input="\n".join(self.script) + "\n", capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.script = []
        return r.stdout.splitlines()


def frames_of(lines: list[str]) -> tuple[list[tuple[int, bytes]], p.FrameDecoder]:
    dec = p.FrameDecoder()
    out: list[tuple[int, bytes]] = []
    for line in lines:
        if line.startswith("o "):
            out += dec.feed(bytes.fromhex(line[2:]))
    return out, dec


def records_of(frames: list[tuple[int, bytes]]) -> list[p.Record]:
    return [r for t, body in frames if t == p.PROFILE_DATA for r in p.decode_profile_data(body)]


def status_of(lines: list[str]) -> list[int]:
    return [int(x) for x in [ln for ln in lines if ln.startswith("s ")][-1].split()[1:]]


def test_metadata_and_build_id(device_exe: Path) -> None:
    lines = Device(device_exe)("b").cmd(p.GET_METADATA)("o").run()
    assert lines[0] == "b CBF43926"  # CRC32 of "123456789", the standard check value
    [(t, body)], dec = frames_of(lines)
    md = p.decode_metadata(body)
    assert (t, md) == (p.METADATA, p.Metadata(168_000_000, 1_000_000, 0xCBF43926, "unit test v1"))
    assert dec.corrupt_frames == 0


def test_nested_calls_become_records_in_exit_order(device_exe: Path) -> None:
    d = Device(device_exe).cmd(p.START_PROFILING)("o")
    d.call(0x1000, 100, 400, ("t 150", "e 0x2000", "t 170", "x", "t 200", "e 0x3000", "t 300", "x"))
    lines = d("p", "o").run()
    frames, dec = frames_of(lines)
    assert frames[0] == (p.ACK, b"")
    assert records_of(frames) == [(0x2000, 150, 20, 1), (0x3000, 200, 100, 1), (0x1000, 100, 300, 0)]
    tree = CallTreeBuilder(lambda a: f"f{a:x}")
    tree.add(records_of(frames))
    root = tree.finish()
    assert set(root.children) == {"f1000"}
    assert set(root.children["f1000"].children) == {"f2000", "f3000"}
    assert root.children["f1000"].self_time == 300 - 20 - 100


def test_stop_acks_after_the_last_record(device_exe: Path) -> None:
    d = Device(device_exe).cmd(p.START_PROFILING)("o 8")  # the ACK
    for i in range(7):
        d.call(0x100 + i, 10 * i, 10 * i + 5)
    lines = d.cmd(p.STOP_PROFILING)("o").cmd(p.GET_STATUS)("o", "s").run()
    frames, _ = frames_of(lines)
    types = [t for t, _ in frames]
    # 7 records in frames of at most 5, then STOP's ACK, then the status
    assert types == [p.ACK, p.PROFILE_DATA, p.PROFILE_DATA, p.ACK, p.STATUS]
    assert len(records_of(frames)) == 7
    st = p.decode_status(frames[-1][1])
    assert st == p.Status(False, 0, 7, 0)


def test_ring_overflow_is_counted_and_the_caller_is_dropped_too(device_exe: Path) -> None:
    """10 callees of one caller, nothing drained: 8 fit the ring, 2 do not; the caller (whose
    self time would include the 2 lost callees) is dropped and counted as well."""
    d = Device(device_exe).cmd(p.START_PROFILING)("o")
    body = []
    for i in range(10):
        body += [f"t {100 + 10 * i}", "e 0x2000", f"t {105 + 10 * i}", "x"]
    d.call(0x1000, 90, 300, tuple(body))
    d.call(0x3000, 400, 450)  # after the poisoned caller, calls are recorded again once there is room
    lines = d("s")("o").call(0x3000, 500, 560)("p", "o", "s").run()
    frames, _ = frames_of(lines)
    recs = records_of(frames)
    s1, s2 = [[int(x) for x in ln.split()[1:]] for ln in lines if ln.startswith("s ")]
    assert s1[1:3] == [3 + 1, RING]  # 2 callees + the caller + the call at 400 (ring still full)
    assert [r[0] for r in recs] == [0x2000] * 8 + [0x3000]
    assert s2[1:3] == [4, RING + 1]
    assert len(recs) == s2[2]  # every record the device kept arrived
    tree = CallTreeBuilder(lambda a: f"f{a:x}")
    tree.add(recs)
    root = tree.finish()
    assert "f1000" not in root.children and "f1000" not in tree.functions
    assert root.children[UNKNOWN_CALLER].children["f2000"].calls == 8


def test_too_deep_calls_are_counted_never_credited_to_callers(device_exe: Path) -> None:
    # depth 0..4, the device times 4 levels: the 5th level's call is lost, its 4 callers too
    d = Device(device_exe).cmd(p.START_PROFILING)("o")
    d("t 0", "e 0x10", "t 1", "e 0x20", "t 2", "e 0x30", "t 3", "e 0x40", "t 4", "e 0x50",
      "t 5", "x", "t 6", "x", "t 7", "x", "t 8", "x", "t 9", "x")
    d.call(0x60, 20, 30)
    frames, _ = frames_of(d("p", "o", "s").run())
    assert records_of(frames) == [(0x60, 20, 10, 0)]


def test_start_in_the_middle_of_a_call_times_only_calls_it_saw_begin(device_exe: Path) -> None:
    d = Device(device_exe)("t 0", "e 0x10", "t 5", "e 0x20")  # two frames open, profiling off
    d.cmd(p.START_PROFILING)("o")
    d.call(0x30, 10, 20)
    d("t 30", "x", "t 40", "x")  # the two frames open at START return
    d.call(0x40, 50, 60)
    frames, _ = frames_of(d("p", "o").run())
    assert records_of(frames) == [(0x30, 10, 10, 2), (0x40, 50, 10, 0)]


def test_reset_clears_the_ring_and_the_counters(device_exe: Path) -> None:
    d = Device(device_exe).cmd(p.START_PROFILING)("o")
    for i in range(5):
        d.call(0x100, i * 10, i * 10 + 2)
    d.cmd(p.RESET_BUFFERS)("o", "s")
    d.call(0x200, 100, 110)
    lines = d("p", "o", "s").run()
    frames, _ = frames_of(lines)
    assert [t for t, _ in frames] == [p.ACK, p.ACK, p.PROFILE_DATA]
    assert records_of(frames) == [(0x200, 100, 10, 0)]
    assert status_of(lines)[:3] == [1, 0, 1]


def test_refused_commands_get_nack(device_exe: Path) -> None:
    d = Device(device_exe)
    d.cmd(p.START_PROFILING, b"\x01")("o")  # START takes no payload
    d.cmd(p.SET_CONFIG, b"\x00\x00")("o")  # the reserved config, all zero: accepted
    d.cmd(p.SET_CONFIG, b"\x01")("o")
    d.cmd(0x07)("o")  # no such command
    frames, _ = frames_of(d.run())
    assert [t for t, _ in frames] == [p.NACK, p.ACK, p.NACK, p.NACK]


def test_noise_before_a_command_is_skipped_and_counted(device_exe: Path) -> None:
    rng = random.Random(4)
    noise = bytes(rng.choice([b for b in range(256) if b != 0x55]) for _ in range(30))
    bad = bytearray(p.encode_command(p.GET_STATUS))
    bad[11] ^= 0xFF  # a damaged packet: its checksum fails
    lines = Device(device_exe)(f"r {noise.hex()}{bytes(bad).hex()}").cmd(p.GET_STATUS)("o", "s").run()
    frames, _ = frames_of(lines)
    assert [t for t, _ in frames] == [p.STATUS]
    assert status_of(lines)[4] == 30 + 12  # every byte that was not a packet
