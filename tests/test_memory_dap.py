"""Memory health in the debug adapter (the real ``python -m firmwatch.dap`` process): the live
Memory scope, ``firmwatch.memoryHealth`` with its threshold and warning, the figures recorded
with the watches, and the ``firmwatch memory`` command line against the same devices."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dap_client import DapClient, DapError
from firmwatch import sim
from tools import wait_for

pytestmark = [pytest.mark.slow]


def figures(body: dict) -> dict[str, dict]:
    return {f["key"]: f for f in body["figures"]}


def test_memory_scope_and_request_are_live(host_device: sim.SimDevice, tmp_path: Path) -> None:
    with DapClient() as c:
        c.start("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port,
                           "memoryThreshold": 64})
        scope = c.request("scopes", {"frameId": 1})["scopes"][1]
        assert scope["name"] == "Memory"
        rows = {v["name"]: v for v in c.request("variables", {"variablesReference": scope["variablesReference"]})["variables"]}
        assert "fw_stack_paint" in rows["stack high-water mark"]["type"]
        assert rows["RAM map"]["value"].startswith("0x")
        assert "static (from the ELF)" in rows
        body = c.request("firmwatch.memoryHealth")
        assert body["threshold"] == 64 and not body["warnings"]
        peak0 = figures(body)["stack.peak"]["value"]
        c.request("setExpression", {"expression": "demo_stack_depth", "value": "400"})

        def deeper() -> dict | None:
            b = c.request("firmwatch.memoryHealth")
            return b if figures(b)["stack.peak"]["value"] > peak0 + 300 * 40 else None

        body = wait_for(deeper, 15, "the stack peak to follow the recursion")
        # the scope shows the same live figure
        rows = {v["name"]: v for v in c.request("variables", {"variablesReference": scope["variablesReference"]})["variables"]}
        assert int(rows["stack peak use"]["value"].split()[0]) >= figures(body)["stack.peak"]["value"]
        # a threshold above the margin raises the warning, in the response and once in the console
        margin = body["margin"]
        mark = c.mark()
        warned = c.request("firmwatch.memoryHealth", {"threshold": margin + 1000})
        assert warned["threshold"] == margin + 1000
        assert any("collision margin" in w for w in warned["warnings"])
        c.wait_event("output", lambda e: "memory:" in e["body"]["output"] and "collision margin" in e["body"]["output"],
                     timeout=5, after=mark)
        with pytest.raises(DapError, match="number of bytes"):
            c.request("firmwatch.memoryHealth", {"threshold": -5})
        # recording: the memory figures land in the CSV beside the watches
        out = tmp_path / "rec.csv"
        c.request("firmwatch.startRecording", {"path": str(out)})
        wait_for(lambda: out.exists() and "memory.stack.peak" in out.read_text(), 10, "memory rows in the recording")
        c.request("firmwatch.stopRecording")
        rows_csv = list(csv.DictReader(out.open()))
        peaks = [int(r["value"]) for r in rows_csv if r["name"] == "memory.stack.peak"]
        assert peaks and min(peaks) >= figures(body)["stack.peak"]["value"]
        assert any(r["name"] == "memory.heap.in_use" for r in rows_csv)


def test_cli_memory_json_and_bar(host_device: sim.SimDevice, tmp_path: Path) -> None:
    rec = tmp_path / "mem.csv"
    r = subprocess.run([sys.executable, "-m", "firmwatch", "memory", str(host_device.elf), "--port", host_device.port,
                        "--set", "demo_stack_depth=350", "--set", "demo_alloc_size=32", "--set", "demo_alloc_blocks=4",
                        "--count", "3", "--interval", "0.3", "--json", "--record", str(rec)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    f = last["figures"]
    assert f["heap.in_use"]["value"] == 4 * 32 and "fw_heap" in f["heap.in_use"]["source"]
    assert f["stack.peak"]["value"] >= 350 * 40
    assert last["bytes_read"] < 256
    assert "recorded" in r.stderr and "memory.stack.peak" in rec.read_text()
    r = subprocess.run([sys.executable, "-m", "firmwatch", "memory", str(host_device.elf), "--port", host_device.port,
                        "--count", "1", "--threshold", "100000000"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "[" in r.stdout.splitlines()[0] and "S" in r.stdout.splitlines()[0]
    assert "WARNING: the stack–heap collision margin" in r.stdout
    r = subprocess.run([sys.executable, "-m", "firmwatch", "memory", str(host_device.elf), "--port", host_device.port,
                        "--paint", "--count", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "halt the CPU" in r.stderr
