"""firmware/rust: the no_std streamer crate and the Rust host device.

The crate's own tests (`cargo test`: the shared protocol vectors, behaviour ported from the C
core's tests, a fuzz run) with and without the text mode; proof that the crate needs neither
std nor a panic path (a no_std static library whose panic handler links to nothing, linked
into a C program); then firmwatch itself against `firmwatch sim --target host-rust` over its
real pty: identify with the build id, record at exact rates with untorn values, the watch
prompt on a real terminal writing a value the demo then uses, a build-id mismatch, text mode,
and the TCP link.
"""

from __future__ import annotations

import binascii
import csv
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from elftools.elf.elffile import ELFFile

from firmwatch import sim
from test_cli_live import PtyProc, watch_prompt_scenario
from tools import require_board, require_tool, sim_command

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
RUST = ROOT / "firmware" / "rust"
FW = [sys.executable, "-m", "firmwatch"]
START_TIMEOUT = 300.0  # the first run compiles the crate and the host device


def target_dir() -> Path:
    return sim.default_build_dir("host-rust") / "target"


def cargo(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    require_board("host-rust")
    cmd = [sim.SPECS["host-rust"].build_tools[1].command, *args, "--offline",
           "--manifest-path", str(RUST / "Cargo.toml"), "--target-dir", str(target_dir())]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def passed(output: str) -> int:
    results = re.findall(r"test result: (\w+)\. (\d+) passed; (\d+) failed", output)
    assert results and all(r[0] == "ok" and r[2] == "0" for r in results), output[-3000:]
    return sum(int(r[1]) for r in results)


# ---------------------------------------------------------------- the crate


def test_cargo_test_passes_with_every_feature_set() -> None:
    r = cargo("test")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    for name in ("device_sessions", "corrupt_input_vectors", "crc_vectors", "scheduler_is_exact_for_every_rate",
                 "fuzz_never_panics_never_writes_outside_and_keeps_answering"):
        assert re.search(rf"test {name} \.\.\. ok", out), name
    assert passed(out) >= 13
    r = cargo("test", "-p", "firmwatch", "--no-default-features")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert re.search(r"test device_sessions \.\.\. ok", out)
    assert passed(out) >= 11
    r = cargo("test", "-p", "firmwatch", "--all-features")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert re.search(r"test word_access_moves_the_same_bytes \.\.\. ok", out)


def test_cargo_vector_tests_catch_a_corrupted_vector(tmp_path: Path) -> None:
    """The Rust vector runner must be able to fail: one expected byte flipped."""
    doc = json.loads((ROOT / "docs" / "protocol-vectors.json").read_text())
    step = next(s for s in doc["sessions"][0]["steps"] if s.get("expect_hex", "").startswith("aa55"))
    b = bytearray.fromhex(step["expect_hex"])
    b[6] ^= 0x01
    step["expect_hex"] = b.hex()
    bad = tmp_path / "vectors.json"
    bad.write_text(json.dumps(doc))
    r = cargo("test", "-p", "firmwatch", "--test", "vectors", env={"FIRMWATCH_VECTORS": str(bad)})
    assert r.returncode != 0
    assert re.search(r"test device_sessions \.\.\. FAILED", r.stdout), r.stdout[-2000:]


def test_crate_is_no_std_and_has_no_panic_path(tmp_path: Path) -> None:
    cc = require_tool("cc")
    lib_rs = (RUST / "firmwatch" / "src" / "lib.rs").read_text()
    assert "#![no_std]" in lib_rs and "extern crate std" not in lib_rs
    for features in ((), ("--no-default-features",), ("--features", "word-access"),
                     ("--features", "capture,change-only,word-access")):
        options = ["-DRUST_OPTIONS"] if "capture,change-only,word-access" in features else []
        r = cargo("build", "--profile", "size", "-p", "firmwatch-nostd-check", *features)
        assert r.returncode == 0, r.stderr[-3000:]
        lib = target_dir() / "size" / "libfirmwatch_nostd_check.a"
        # The panic handler calls firmwatch_streamer_has_a_panic_path, defined nowhere: with
        # --gc-sections the link succeeds only if no panic (index, slice, overflow check) is
        # reachable from the streamer.
        exe = tmp_path / "footprint"
        link = subprocess.run(
            [cc, "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-DRUST_CORE", *options,
             "-o", str(exe), str(RUST / "nostd-check" / "footprint.c"), str(lib)],
            capture_output=True, text=True)
        assert link.returncode == 0, link.stderr[-3000:]
        assert "firmwatch_streamer_has_a_panic_path" not in subprocess.run(
            ["nm", str(exe)], capture_output=True, text=True).stdout


def _frame(type_: int, payload: bytes) -> bytes:
    body = bytes([type_]) + len(payload).to_bytes(2, "little") + payload
    return b"\xaa\x55" + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "little") + b"\n"


def _option_frame(rng: random.Random) -> bytes:
    """A STREAM_FILTER or capture command near valid (docs/protocol.md sections 15, 16)."""
    base = 0x20000000
    t = rng.choice([9, 9, 0x0A, 0x0A, 0x0A, 0x0B, 0x0B, 0x0C, 0x0D, 0x0D])
    tag = bytes([rng.randrange(256)])
    if t == 9:
        n = rng.randrange(0, 4)
        p = tag + bytes([rng.randrange(4)]) + rng.choice([0, 1, 3, 60000]).to_bytes(2, "little") + bytes([n])
        p += b"".join(bytes([rng.randrange(6)]) + rng.choice([0, 1, 5, 0x3F000000]).to_bytes(4, "little")
                      for _ in range(n))
    elif t == 0x0A and rng.random() < 0.6:  # one that arms: sampled, triggered, completed
        n = rng.randrange(1, 4)
        p = tag + bytes([rng.randrange(2), rng.randrange(2)]) + rng.choice([1, 2, 7]).to_bytes(4, "little")
        samples = rng.choice([1, 4, 20])
        p += samples.to_bytes(4, "little") + rng.randrange(samples).to_bytes(4, "little")
        p += bytes([0, rng.randrange(10), rng.choice([1, 2, 3])])
        p += rng.choice([0, 0x40, 0x80]).to_bytes(4, "little") + rng.choice([0, 0xFF]).to_bytes(4, "little")
        p += bytes([n]) + b"".join((base + rng.randrange(0x100) // 4 * 4).to_bytes(4, "little")
                                   + rng.choice([1, 2, 4]).to_bytes(2, "little") for _ in range(n))
    elif t == 0x0A:
        n = rng.randrange(0, 4)
        p = tag + bytes([rng.randrange(3), rng.randrange(3)]) + rng.choice([0, 1, 2, 7, 1001]).to_bytes(4, "little")
        p += rng.choice([0, 1, 4, 20, 200]).to_bytes(4, "little") + rng.choice([0, 1, 3, 19]).to_bytes(4, "little")
        p += bytes([rng.randrange(3), rng.randrange(11), rng.randrange(6)])
        p += rng.choice([0, 0x40, 0x80, 0xFFFFFFF0]).to_bytes(4, "little") + rng.choice([0, 0xFF]).to_bytes(4, "little")
        p += bytes([n]) + b"".join((base - 4 + rng.randrange(0x150)).to_bytes(4, "little")
                                   + rng.choice([0, 1, 2, 3, 4, 8]).to_bytes(2, "little") for _ in range(n))
    elif t == 0x0B:
        p = tag + bytes([rng.randrange(4)]) + rng.choice([0, 1, 1, 2, 3]).to_bytes(2, "little")
    elif t == 0x0C:
        p = tag
    else:
        p = tag + rng.choice([1, 1, 2, 3, 0]).to_bytes(2, "little") + rng.choice([0, 0, 3, 100]).to_bytes(4, "little")
        p += rng.choice([1, 4, 30, 400, 1000]).to_bytes(4, "little")
    if rng.random() < 0.1:
        p = p[: rng.randrange(len(p) + 1)]  # a wrong length
    return _frame(t, p)


def _random_script(rng: random.Random, options: bool = False) -> bytes:
    """Operations for replay.c / replay.rs: commands near the device's regions (valid, malformed
    and damaged frames, text lines), noise, ticks, polls, and a host that drains slowly; with
    ``options`` also the optional modules' commands and capture timer interrupts."""
    base = 0x20000000
    ops = bytearray()

    def feed(data: bytes) -> None:
        ops.extend(b"\x01" + len(data).to_bytes(2, "little") + data)

    for _ in range(rng.randrange(100, 400)):
        kind = rng.random()
        if options and kind < 0.05:  # arm, force, sample to the end, read some of it back
            arm = _option_frame(rng)
            while arm[2] != 0x0A or len(arm) < 35:
                arm = _option_frame(rng)
            feed(arm)
            feed(_frame(0x0B, bytes([1, 1, 0, 0])))
            ops.extend(b"\x02\x1e\x05\x1e\x02\x1e")
            for cid in range(1, 5):
                feed(_frame(0x0D, bytes([2]) + cid.to_bytes(2, "little") + bytes(4) + rng.choice([3, 20, 60]).to_bytes(4, "little")))
            ops.extend(b"\x03\x04\x00\x04\x03")
        elif options and kind < 0.25:
            feed(_option_frame(rng))
            if rng.random() < 0.5:
                ops.extend(b"\x05" + bytes([rng.randrange(1, 40)]))
            if rng.random() < 0.05:
                ops.extend(b"\x06" + bytes([rng.randrange(1, 4)]))
            kind = rng.random()
        if kind < 0.35:
            t = rng.choice([1, 2, 3, 4, 4, 4, 5, 6, 7, 8, 9, 0x42])
            addr = (base - 8 + rng.randrange(0x160)).to_bytes(4, "little")
            if t == 4:
                n = rng.randrange(0, 10)
                p = bytes([rng.randrange(256), rng.randrange(18)]) + rng.randrange(1_200_000).to_bytes(4, "little")
                p += bytes([n]) + b"".join((base - 4 + rng.randrange(0x150)).to_bytes(4, "little")
                                           + rng.randrange(24).to_bytes(2, "little") for _ in range(n))
            elif t in (2, 3):
                size = rng.randrange(0, 130)
                p = bytes([rng.randrange(256)]) + addr + (size.to_bytes(2, "little") if t == 2 else
                                                          bytes(rng.randrange(256) for _ in range(size)))
            else:
                p = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 2, 3, 7])))
            f = bytearray(_frame(t, p))
            if rng.random() < 0.15:
                f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
            feed(bytes(f))
        elif kind < 0.6:
            verb = rng.choice(["INFO", "READ", "WRITE", "STREAM", "STOP", "LIST", "STATUS", "BINARY", "TEXT",
                               "HELP", "read", "x"])
            args = rng.choice([f"0x{base - 8 + rng.randrange(0x160):08X} {rng.randrange(70)}",
                               f"0x{base + rng.randrange(0x100):X} {rng.randrange(70)} {rng.randrange(1100)}.{rng.randrange(1000)}",
                               f"{base + rng.randrange(0x100)} {rng.randrange(9)} 0x{rng.randrange(2000):x}",
                               f"0x{base + rng.randrange(0x100):08X} " + "".join(rng.choice("0123456789abcdefAB") for _ in range(rng.randrange(12))),
                               "ALL", str(rng.randrange(20)), "", "1 2 3 4 5"])
            line = f"{verb} {args}{rng.choice(['', '  ', chr(13)])}".encode()
            if rng.random() < 0.5:  # the line check a host adds (sometimes damaged)
                line += b"|crc=%04X" % (binascii.crc_hqx(line, 0xFFFF) ^ (rng.random() < 0.2))
            feed(line + b"\n")
        elif kind < 0.7:
            feed(bytes(rng.choice([0xAA, 0x55, 0x0A, rng.randrange(256)]) for _ in range(rng.randrange(1, 80))))
        elif kind < 0.85:
            ops.extend(b"\x02" + bytes([rng.randrange(1, 30)]))
        elif kind < 0.95:
            ops.extend(b"\x04" + rng.choice([0, 16, 100, 2000, 65535]).to_bytes(2, "little"))
        ops.extend(b"\x03" if rng.random() < 0.8 else b"")
    return bytes(ops)


@pytest.mark.parametrize("options", [False, True], ids=["minimal", "with-options"])
def test_the_crate_and_the_c_core_answer_random_sessions_byte_for_byte(tmp_path: Path, options: bool) -> None:
    """Differential: the same random sessions (commands, noise, damaged frames, ticks, a slow
    host) on both cores, which must send identical bytes and end with identical counters and
    memory. The vectors pin chosen cases; this covers what nobody thought to write down. Again
    with the optional modules (C: -DFW_CAPTURE=1 -DFW_CHANGE_ONLY=1, Rust: their features)."""
    cc = require_tool("cc")
    c_replay = tmp_path / "replay_c"
    core = sorted(str(p) for p in (ROOT / "firmware" / "core").glob("*.c"))
    defs = ["-DFW_CAPTURE=1", "-DFW_CHANGE_ONLY=1"] if options else []
    subprocess.run([cc, "-O1", "-std=c99", *defs, "-fno-pie", "-no-pie", f"-I{ROOT / 'firmware' / 'core'}", "-o",
                    str(c_replay), str(RUST / "bench" / "replay.c"), *core], check=True)
    r = cargo("build", "--release", "-p", "firmwatch-bench", "--bin", "replay", *(["--features", "options"] if options else []))
    assert r.returncode == 0, r.stderr[-3000:]
    rust_replay = tmp_path / "replay_rust"  # the build with the other features lands in the same place
    rust_replay.write_bytes((target_dir() / "release" / "replay").read_bytes())
    rust_replay.chmod(0o755)
    total = 0
    for seed in range(40):
        script = _random_script(random.Random(seed), options)
        c_out = subprocess.run([str(c_replay)], input=script, capture_output=True, timeout=60)
        rust_out = subprocess.run([str(rust_replay)], input=script, capture_output=True, timeout=60)
        assert c_out.returncode == 0 and rust_out.returncode == 0
        if rust_out.stdout != c_out.stdout:
            i = next(k for k, (a, b) in enumerate(zip(c_out.stdout, rust_out.stdout)) if a != b)
            raise AssertionError(f"seed {seed}: the cores differ at output byte {i}:\n"
                                 f"  C:    {c_out.stdout[max(0, i - 60):i + 60]!r}\n"
                                 f"  Rust: {rust_out.stdout[max(0, i - 60):i + 60]!r}")
        total += len(c_out.stdout)
    assert total > 100_000, total  # the sessions did produce traffic


# ---------------------------------------------------------------- the host device


@pytest.fixture(scope="module")
def rust_sim():
    """`firmwatch sim --target host-rust` as a subprocess; yields (port, elf)."""
    require_board("host-rust")
    yield from sim_command("host-rust", START_TIMEOUT)


def elf_build_id(elf: str) -> str:
    with open(elf, "rb") as f:
        for note in ELFFile(f).get_section_by_name(".note.gnu.build-id").iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return note["n_desc"]
    raise AssertionError("no build id")


def address(elf: str, name: str) -> int:
    from firmwatch.symbols import load

    return load(elf).find_variable(name).address


def test_identify_reports_the_build_id_limits_and_regions(rust_sim) -> None:
    from firmwatch.targets.streamer import StreamerTarget

    port, elf = rust_sim
    with StreamerTarget(port) as t:
        info = t.info()
    assert info.protocol_version == 3
    assert info.build_id == elf_build_id(elf) and len(info.build_id) == 40
    assert (info.tick_hz, info.max_streams, info.max_stream_bytes, info.word_size) == (1000, 16, 64, 8)
    loop_count, table = address(elf, "loop_count"), address(elf, "sine_table")
    rw = [r for r in info.regions if r.readable and r.writable]
    ro = [r for r in info.regions if r.readable and not r.writable]
    assert any(r.start <= loop_count < r.start + r.size for r in rw)
    assert [(r.start, r.size) for r in ro] == [(table, 128)]


def record(port: str, elf: str, out: Path, *exprs: str, seconds: float = 2.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(FW + ["record", elf, "--port", port, "--duration", str(seconds), "-o", str(out), *exprs],
                          capture_output=True, text=True, timeout=90)


def test_record_every_sample_at_exact_rates_untorn(rust_sim, tmp_path: Path) -> None:
    port, elf = rust_sim
    out = tmp_path / "rec.csv"
    r = record(port, elf, out, "loop_count@100", "timestamp_ms@10", "event_counter64@50", "link_state@20",
               "firmwatch_host_demo::demo::RNG_STATE@10")
    assert r.returncode == 0, r.stderr
    assert "different build" not in r.stderr
    rows = list(csv.DictReader(out.open()))
    for name, rate in (("loop_count", 100), ("timestamp_ms", 10), ("event_counter64", 50), ("link_state", 20)):
        times = [float(row["target_time_s"]) for row in rows if row["name"] == name]
        assert len(times) >= 2, name
        # every sample the device produced in the span is in the file (exact-rate scheduler)
        assert abs((len(times) - 1) - rate * (times[-1] - times[0])) <= 1, (name, len(times))
    stamps = [int(row["value"]) for row in rows if row["name"] == "timestamp_ms"]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
    # written by the tick in one go: both 32-bit halves always equal unless torn
    counters = [int(row["value"]) for row in rows if row["name"] == "event_counter64"]
    assert counters and all(v >> 32 == v & 0xFFFFFFFF for v in counters)
    # a Rust enum with data, decoded from the Rust DWARF's variant parts
    links = {row["value"] for row in rows if row["name"] == "link_state"}
    assert any(re.search(r"LinkState::Up\{since_ms: \d+\}", v) for v in links), links
    assert all(re.search(r"LinkState::(Up\{since_ms: \d+\}|Down|Error\(\d+\))$", v) for v in links), links
    # a mangled (not #[no_mangle]) static, by its Rust path: the xorshift state keeps changing
    rng = [int(row["value"]) for row in rows if row["name"] == "firmwatch_host_demo::demo::RNG_STATE"]
    assert len(rng) >= 10 and len(set(rng)) > len(rng) // 2


def test_watch_prompt_writes_a_value_the_demo_then_uses(rust_sim, tmp_path: Path) -> None:
    port, elf = rust_sim
    watch_prompt_scenario(port, elf, 512)
    try:
        # the demo scales its sine by the gain it reads through g_active_config: twice as high
        out = tmp_path / "accel.csv"
        r = record(port, elf, out, "accel_x@250", seconds=1.2)
        assert r.returncode == 0, r.stderr
        values = [int(row["value"]) for row in csv.DictReader(out.open())]
        assert max(values) > 1500 and min(values) < -1500, (min(values), max(values))
    finally:
        p = PtyProc(FW + ["watch", elf, "--port", port])
        p.expect("firmwatch>")
        p.send("write g_config.calib.gain_q8 256")
        p.expect(r"g_config.calib.gain_q8 = 256")
        p.send("quit")
        p.wait()


def test_build_id_mismatch_warns_and_strict_refuses(rust_sim, tmp_path: Path) -> None:
    port, _ = rust_sim
    require_board("host")
    other = str(sim.build("host").elf)  # the C demo: same variable names, another build
    args = ["record", other, "--port", port, "--duration", "0.5", "-o", str(tmp_path / "x.csv"), "loop_count"]
    strict = subprocess.run(FW + args + ["--strict"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 1
    assert "different build" in strict.stderr and "Traceback" not in strict.stderr


def test_text_mode_over_the_pty(rust_sim) -> None:
    """What a person types at a terminal (no check on the lines), answered with checked lines."""
    port, elf = rust_sim

    def line_after(s, buf: bytes, prefix: bytes) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + 10
        while prefix not in buf or b"\n" not in buf.split(prefix, 1)[1]:
            assert time.monotonic() < deadline, buf[-400:]
            buf += s.read(4096)
        rest = prefix + buf.split(prefix, 1)[1]
        line, rest = rest.split(b"\n", 1)
        body, crc = line.rsplit(b"|crc=", 1)
        assert int(crc, 16) == binascii.crc_hqx(body, 0xFFFF), line
        return body, rest

    with serial.serial_for_url(port, timeout=0.2) as s:
        s.reset_input_buffer()
        s.write(b"STOP ALL\nINFO\n")
        info, rest = line_after(s, b"", b"INFO|")
        assert info.startswith(b"INFO|proto=3|endian=little|word=8|addr_size=4|tick_hz=1000|max_streams=16")
        assert f"|build_id={elf_build_id(elf).upper()}|".encode() in info
        s.write(b"BINARY\n")  # back to binary samples for the other tests
        ok, _ = line_after(s, rest, b"OK")
        assert ok == b"OK"


def test_tcp_link_and_sixteen_streams_at_1khz_accounted(tmp_path: Path) -> None:
    from firmwatch.targets.base import Region
    from firmwatch.targets.streamer import StreamerTarget

    require_board("host-rust")
    with sim.start_sim("host-rust", tcp=True, timeout=START_TIMEOUT) as dev:
        assert dev.port.startswith("socket://127.0.0.1:")
        counter = address(str(dev.elf), "g_pair")
        with StreamerTarget(dev.port) as t:
            assert t.info().build_id == elf_build_id(str(dev.elf))
            got: list[int] = []
            t.on_sample(lambda s: got.append(s.stream))
            for i in range(16):
                t.start_stream([Region(counter + 4 * (i % 2), 4)], 1000)
            deadline = time.monotonic() + 30
            while len(got) < 16 * 500 and time.monotonic() < deadline:
                time.sleep(0.05)
            t.stop_stream(None)
            st = t.stats(refresh_device=True)
        assert len(got) >= 16 * 500
        # TCP loses nothing: every sequence gap is a frame the device itself counted as dropped
        assert st.corrupt_frames == 0
        assert st.lost <= st.device_dropped


def test_debug_adapter_launches_the_rust_device_and_writes_a_value() -> None:
    """The adapter as VS Code runs it, `"sim": "host-rust"` in launch.json: the Live thread's
    watch of a Rust static changes across invalidated cycles, a Rust enum with data is shown
    with its variant, and setExpression writes a field with read-back."""
    from dap_client import DapClient

    require_board("host-rust")
    with DapClient() as c:
        c.start("launch", {"sim": "host-rust", "uiRefreshHz": 20})
        values = [c.request("evaluate", {"expression": "loop_count", "context": "watch", "frameId": 1})["result"]]
        for _ in range(4):
            mark = c.mark()
            c.wait_event("invalidated", timeout=10, after=mark)
            values.append(c.request("evaluate", {"expression": "loop_count", "context": "watch", "frameId": 1})["result"])
        assert len(set(values)) > 1, values
        link = c.request("evaluate", {"expression": "link_state", "context": "watch", "frameId": 1})["result"]
        assert re.search(r"LinkState::(Up|Down|Error)", link), link
        r = c.request("setExpression", {"expression": "g_config.sample_period_ms", "value": "25", "frameId": 1})
        assert r["value"] == "25"
        assert c.request("evaluate", {"expression": "g_config.sample_period_ms", "context": "watch",
                                      "frameId": 1})["result"] == "25"
