"""`firmwatch record/watch --gdb` as real subprocesses against the demo firmware's gdb stub."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter

import pytest

from tools import require_tool

FW = [sys.executable, "-m", "firmwatch"]
TOOLS = {"cortex-m3": ("arm-none-eabi-gcc", "qemu-system-arm"), "avr": ("avr-gcc", "simavr")}


@pytest.fixture(scope="module", params=sorted(TOOLS))
def device(request):
    for tool in TOOLS[request.param]:
        require_tool(tool)
    from firmwatch.sim import start_sim

    dev = start_sim(request.param)
    try:
        yield request.param, dev
    finally:
        dev.stop()


def test_record_through_a_gdb_server(device, tmp_path):
    target, dev = device
    out = tmp_path / "gdb.csv"
    r = subprocess.run(
        FW + ["record", str(dev.elf), "--gdb", dev.gdb, "--duration", "2", "--interval", "50",
              "--session-id", "g1", "-o", str(out), "loop_count", "timestamp_ms", "g_config.calib.gain_q8"],
        capture_output=True, text=True, timeout=90,
    )
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    per = Counter(row["name"] for row in rows)
    assert set(per) == {"loop_count", "timestamp_ms", "g_config.calib.gain_q8"}
    ts = [int(row["value"]) for row in rows if row["name"] == "timestamp_ms"]
    assert ts == sorted(ts) and ts[-1] > ts[0]  # the firmware kept running between samples
    assert {row["session_id"] for row in rows} == {"g1"}
    assert "halted" in r.stdout
    if target == "avr":  # simavr answers reads while running: sampling never halts it
        assert "halted 0.00 %" in r.stdout


def test_lock_symbol_skips_rounds_while_the_flag_is_set(device, tmp_path):
    target, dev = device
    # button_state is 1 for 300 ms of every 3 s: rounds in that window must be skipped
    r = subprocess.run(
        FW + ["record", str(dev.elf), "--gdb", dev.gdb, "--duration", "3.5", "--interval", "20",
              "--lock-symbol", "button_state", "-o", str(tmp_path / "lock.csv"), "button_state"],
        capture_output=True, text=True, timeout=90,
    )
    assert r.returncode == 0, r.stderr
    values = {row["value"] for row in csv.DictReader((tmp_path / "lock.csv").open())}
    assert values == {"0"}, "a sample was taken while the lock flag was set"
    assert "rounds skipped while button_state was set" in r.stdout
    skipped = int(r.stdout.split("; ")[-1].split()[0])
    assert skipped > 0


@pytest.mark.parametrize("via", [[], ["--via-gdb"]], ids=["rsp", "via-gdb"])
def test_watch_repl_writes_through_gdb(device, via):
    target, dev = device
    script = "print g_config.calib.gain_q8\nwrite g_config.calib.gain_q8 300\nprint g_config.calib.gain_q8\n" \
             "write g_config.calib.gain_q8 256\nquit\n"
    r = subprocess.run(FW + ["watch", str(dev.elf), "--gdb", dev.gdb, *via], input=script,
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("g_config.calib.gain_q8 = 300") == 2


def test_closed_gdb_port_is_one_sentence(tmp_path):
    from firmwatch.sim import build, free_tcp_port

    elf = str(build("host").elf)
    r = subprocess.run(FW + ["record", elf, "--gdb", f"127.0.0.1:{free_tcp_port()}", "--duration", "1",
                             "-o", str(tmp_path / "x.csv"), "loop_count"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "listening" in r.stderr
