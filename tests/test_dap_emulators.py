"""The debug adapter against emulated MCUs: QEMU Cortex-M3 over serial and over rsp (QEMU's gdb
stub, halt-mode sampling), simavr AVR over rsp (live reads), and a GDB server started from a
launch.json ``server`` command line. The real ``python -m firmwatch.dap`` process each time.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from dap_client import DapClient
from firmwatch import sim
from tools import require_board, require_tool, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]



@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    return {}


def elf_for(board: str, builds: dict[str, Path], tmp_path_factory) -> Path:
    if board not in builds:
        builds[board] = sim.build(board, tmp_path_factory.mktemp(f"dap-{board}")).elf
    return builds[board]


def watch(c: DapClient, expr: str) -> dict:
    return c.request("evaluate", {"expression": expr, "context": "watch", "frameId": 1})


def live_scenarios(c: DapClient) -> None:
    """The issue's scenarios, identical on every transport."""
    first = int(watch(c, "loop_count")["result"])
    seen = set()
    for _ in range(3):
        mark = c.mark()
        c.wait_event("invalidated", timeout=10, after=mark)
        seen.add(int(watch(c, "loop_count")["result"]))
    assert len(seen) >= 2 and max(seen) > first
    # struct expansion, evaluateName round trip
    top = watch(c, "g_config")
    kids = c.request("variables", {"variablesReference": top["variablesReference"]})["variables"]
    calib = {k["name"]: k for k in kids}["calib"]
    inner = c.request("variables", {"variablesReference": calib["variablesReference"]})["variables"]
    gain = {k["name"]: k for k in inner}["gain_q8"]
    assert gain["evaluateName"] == "g_config.calib.gain_q8"
    assert watch(c, gain["evaluateName"])["result"] == gain["value"]
    # setExpression writes and reads back; the sampled value follows
    assert c.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "300"})["value"] == "300"
    wait_for(lambda: watch(c, "g_config.calib.gain_q8")["result"] == "300", 10, "the written value in the cache")
    # readMemory while running: the counter moves between two reads
    ref = watch(c, "loop_count")["memoryReference"]
    a = c.request("readMemory", {"memoryReference": ref, "count": 4})["data"]
    wait_for(lambda: c.request("readMemory", {"memoryReference": ref, "count": 4})["data"] != a, 10,
             "loop_count to change between readMemory requests")
    assert len(base64.b64decode(a)) == 4


@pytest.mark.parametrize("board,transport", [("cortex-m3", "serial"), ("cortex-m3", "rsp"), ("avr", "rsp"),
                                             ("riscv32", "tcp")])
def test_live_session_on_emulated_boards(board: str, transport: str, builds, tmp_path_factory) -> None:
    require_board(board)
    elf = elf_for(board, builds, tmp_path_factory)
    with DapClient() as c:
        c.start("launch", {"sim": board, "elf": str(elf), "transport": transport, "watch": ["loop_count"]})
        status = c.wait_event("firmwatch.status", timeout=10)["body"]
        assert status["transport"] == transport
        assert ("GDB server" in status["target"]) == (transport == "rsp")
        live_scenarios(c)


def test_gdb_server_from_a_command_line_and_its_death_ends_the_session(builds, tmp_path_factory) -> None:
    require_board("cortex-m3")
    elf = elf_for("cortex-m3", builds, tmp_path_factory)
    # through a shell that says something on stderr first: the server's output reaches the Debug Console
    server = ["sh", "-c", "echo qemu-wrapper: starting >&2; exec qemu-system-arm -M mps2-an385 -nographic "
              "-monitor none -serial null -kernel \"$0\" -gdb tcp:127.0.0.1:{port}", str(elf)]
    with DapClient() as c:
        c.start("launch", {"server": server, "transport": "rsp", "elf": str(elf), "watch": ["loop_count"]})
        assert "started sh (pid" in c.outputs()
        c.wait_event("output", lambda e: e["body"]["category"] == "stderr"
                     and "qemu-wrapper: starting" in e["body"]["output"], timeout=10)
        live_scenarios(c)
        pid = int(c.outputs().split("started sh (pid ")[1].split(")")[0])
        os.kill(pid, 9)  # exec'd: this is QEMU itself
        c.wait_event("terminated", timeout=15)
        assert "sh exited" in c.outputs() and "session ends" in c.outputs()


def test_gdb_transport_keeps_the_live_view(builds, tmp_path_factory) -> None:
    """gdb in the middle (firmwatch.targets.gdb): watches stay live; the CPU thread plugs in later."""
    pytest.importorskip("firmwatch.targets.gdb")
    require_board("cortex-m3")
    require_tool("gdb-multiarch")
    elf = elf_for("cortex-m3", builds, tmp_path_factory)
    with DapClient() as c:
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": "gdb", "watch": ["loop_count"]})
        assert c.wait_event("firmwatch.status", timeout=10)["body"]["transport"] == "gdb"
        live_scenarios(c)


def test_memory_usage_from_the_linker_script(builds, tmp_path_factory) -> None:
    """The Memory scope and firmwatch.memoryUsage agree with the toolchain's size tool."""
    import subprocess

    require_board("avr")
    require_tool("avr-size")
    elf = elf_for("avr", builds, tmp_path_factory)
    text, data, bss = (int(x) for x in subprocess.run(["avr-size", str(elf)], capture_output=True, text=True,
                                                         check=True).stdout.splitlines()[1].split()[:3])
    with DapClient() as c:
        c.start("launch", {"sim": "avr", "elf": str(elf), "transport": "rsp"})
        u = c.request("firmwatch.memoryUsage")
        assert u["ram"] == {"used": data + bss, "total": 2048}  # ATmega328P: 2 KiB SRAM
        assert u["flash"]["total"] == 32768 and u["flash"]["used"] == text + data
        scope = c.request("scopes", {"frameId": 1})["scopes"][1]
        live = {v["name"]: v for v in c.request("variables", {"variablesReference": scope["variablesReference"]})["variables"]}
        static = live["static (from the ELF)"]["variablesReference"]
        rows = {v["name"]: v["value"] for v in c.request("variables", {"variablesReference": static})["variables"]}
        assert rows["RAM"].startswith(f"{data + bss} of 2048 bytes used")
