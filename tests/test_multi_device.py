"""Several devices in one command: the host device, QEMU Cortex-M3 and QEMU RISC-V recorded
together by `firmwatch record --device ...`, one of them unplugged (its emulator killed) mid-run.

The devices are started here (firmwatch.sim) and named by their UART ports, as a user names
boards on /dev/ttyACM*, so the test can pull one out."""

from __future__ import annotations

import collections
import subprocess
import sys
import time

import pytest

from firmwatch.session.devices import DeviceError, parse_device, split_watch

FW = [sys.executable, "-m", "firmwatch"]
pytestmark = [pytest.mark.emulator, pytest.mark.slow]


# -- the device syntax (no device needed) ------------------------------------------------------------
def test_device_syntax():
    d = parse_device("gw=app_gw.elf@/dev/ttyACM0")
    assert (d.name, d.options.elf, d.options.transport, d.options.port) == ("gw", "app_gw.elf", "serial", "/dev/ttyACM0")
    d = parse_device("n1=node.elf@tcp:127.0.0.1:4001")
    assert (d.options.transport, d.options.host, d.options.tcp_port) == ("tcp", "127.0.0.1", 4001)
    d = parse_device("n2=node.elf@gdb:127.0.0.1:3333,mode=live,budget=2")
    assert (d.options.transport, d.options.target, d.options.sampling_mode, d.options.budget) == \
        ("rsp", "127.0.0.1:3333", "live", 0.02)
    d = parse_device("n3=sim:cortex-m3")
    assert (d.options.sim, d.options.elf, d.options.transport) == ("cortex-m3", None, "serial")
    assert parse_device("x=a@b.elf@socket://h:1").options.elf == "a@b.elf"
    for bad in ("gw", "gw=/dev/ttyACM0", "gw=a.elf@tcp:h:port", "gw=a.elf@/dev/x,speed=3", "9x=a.elf@/dev/x"):
        with pytest.raises(DeviceError):
            parse_device(bad)
    assert split_watch("n1:accel_x@500", ["n1", "gw"]) == ("n1", "accel_x@500")
    assert split_watch("accel_x@500", ["n1"]) == (None, "accel_x@500")
    assert split_watch("ns::x", ["ns"]) == (None, "ns::x")  # a C++ scope, not a device
    assert split_watch("0x20000000:4@10", ["n1"]) == (None, "0x20000000:4@10")
    with pytest.raises(DeviceError, match="not one of the devices"):
        split_watch("n9:accel_x", ["n1", "gw"])


# -- three emulated devices at once ---------------------------------------------------------------
@pytest.fixture
def three():
    from firmwatch.sim import start_sim

    started = {}
    try:
        for name, target in (("h", "host"), ("m3", "cortex-m3"), ("rv", "riscv32")):
            started[name] = start_sim(target, timeout=240)
        yield started
    finally:
        for s in started.values():
            s.stop()


def _block(stdout: str, dev: str) -> tuple[str, list[str]]:
    """The summary of one device: its head line and its indented lines."""
    lines = stdout.splitlines()
    i = next(i for i, x in enumerate(lines) if x.startswith(f"{dev}: "))
    body = []
    for x in lines[i + 1:]:
        if not x.startswith("  "):
            break
        body.append(x.strip())
    return lines[i], body


def _watch_line(stdout: str, dev: str, name: str) -> str:
    return next(x for x in _block(stdout, dev)[1] if x.startswith(f"{name}: "))


def test_three_devices_recorded_together_one_unplugged(three, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "three.parquet"
    h, m3, rv = three["h"], three["m3"], three["rv"]
    cmd = FW + ["record", "--device", f"h={h.elf}@{h.port}", "--device", f"m3={m3.elf}@{m3.port}",
                "--device", f"rv={rv.elf}@{rv.port}", "-o", str(out), "--duration", "9",
                "accel_x@100", "h:loop_count@50", "m3:fsm_state@10", "rv:timestamp_ms@20"]
    t_start = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # pull the RISC-V board out once the recording has data from every device
    parts = tmp_path / "three.parquet.parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.1)
    time.sleep(1.0)
    t_kill = time.time()
    rv.process.kill()
    stdout, stderr = p.communicate(timeout=120)
    t_end = time.time()
    assert p.returncode == 1, stdout + stderr  # incomplete: a device went away
    assert "rv" in stderr and "device lost" in stderr and "the other devices keep recording" in stderr
    assert "LOST" in _block(stdout, "rv")[0]

    table = pq.read_table(out).to_pydict()
    rows = list(zip(table["device"], table["name"], table["seq"], table["target_time_s"], table["host_time_s"]))
    counts = collections.Counter((d, n) for d, n, *_ in rows)
    # the summary's per-device, per-watch counts are the file's
    for dev in ("h", "m3", "rv"):
        for name in {n for d, n in counts if d == dev}:
            line = _watch_line(stdout, dev, name)
            assert int(line.split(": ", 1)[1].split()[0]) == counts[(dev, name)], (dev, line)
    assert set(counts) == {("h", "accel_x"), ("h", "loop_count"), ("m3", "accel_x"), ("m3", "fsm_state"),
                           ("rv", "accel_x"), ("rv", "timestamp_ms")}

    by_dev = collections.defaultdict(list)
    for d, n, seq, tt, ht in rows:
        by_dev[(d, n)].append((seq, tt, ht))
    for (d, n), samples in by_dev.items():
        samples.sort(key=lambda s: s[1])
        # each device's own clock: strictly increasing per watch; host times inside the run
        assert all(b[1] > a[1] for a, b in zip(samples, samples[1:])), (d, n)
        assert all(t_start - 1 <= s[2] <= t_end + 0.5 for s in samples), (d, n)
        # one offset maps device time onto host time for the whole run (drift and re-estimation
        # move it by far less than a sampling period)
        offsets = [s[2] - s[1] for s in samples]
        assert max(offsets) - min(offsets) < 0.05, (d, n, max(offsets) - min(offsets))

    # losses per device, as the device counted them: received + missing is what the schedule asked
    for dev, name, rate in (("h", "loop_count", 50), ("m3", "fsm_state", 10), ("h", "accel_x", 100)):
        s = by_dev[(dev, name)]
        line = _watch_line(stdout, dev, name)
        missing = int(line.split(" missing")[0].rsplit(" ", 1)[1])
        due = round((s[-1][1] - s[0][1]) * rate) + 1
        assert abs(len(s) + missing - due) <= 1, (dev, name, len(s), missing, due)

    # the unplugged board stops at the kill; the others record to the end, undisturbed
    rv_last = max(s[2] for s in by_dev[("rv", "accel_x")])
    assert rv_last <= t_kill + 0.5
    for dev in ("h", "m3"):
        after = [s for s in by_dev[(dev, "accel_x")] if s[2] > t_kill + 1.0]
        span = max(s[2] for s in after) - min(s[2] for s in after)
        assert span > 3.0, (dev, span)
        assert len(after) >= 0.5 * 100 * span, (dev, len(after), span)  # a loaded CI machine drops some
    for dev in ("h", "m3"):
        body = _block(stdout, dev)[1]
        link = next(x for x in body if x.startswith("link:"))
        assert "0 corrupt frames" in link and "reconnect" not in link, link
        assert any(x.startswith("clock: aligned to host time within") for x in body)
