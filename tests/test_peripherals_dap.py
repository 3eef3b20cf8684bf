"""The Peripherals scope of the real adapter process on QEMU mps2-an385 over the streamer."""

from __future__ import annotations

from pathlib import Path

import pytest

from dap_client import DapClient
from firmwatch import sim
from tools import require_tool, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]
SVD = Path(__file__).parent / "data" / "svd" / "mps2-an385.svd"



def _rows(c: DapClient, ref: int) -> dict[str, dict]:
    return {v["name"]: v for v in c.request("variables", {"variablesReference": ref})["variables"]}


@pytest.mark.parametrize("transport", ["serial", "rsp"])
def test_peripherals_scope_live_decoded_writable(transport, tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    elf = sim.build("cortex-m3", tmp_path / "build").elf
    with DapClient() as c:
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": transport, "svdFile": str(SVD),
                           "peripheralsManual": ["UART2"], "watch": ["UART0.CTRL.TXEN"]})
        scopes = c.request("scopes", {"frameId": 1})["scopes"]
        scope = next(s for s in scopes if s["name"].startswith("Peripherals"))
        assert scope["name"] == "Peripherals (MPS2_AN385)"
        top = _rows(c, scope["variablesReference"])
        assert {"SysTick", "NVIC", "SCB", "UART0", "TIMER0"} <= set(top)
        assert "manual" in top["UART2"]["value"]
        timer = top["TIMER0"]["variablesReference"]
        first = _rows(c, timer)["VALUE"]["value"]
        later = wait_for(lambda: (v := _rows(c, timer)["VALUE"]["value"]) != first and v, 10, "TIMER0.VALUE to move")
        assert later.endswith("(changed)")
        ctrl = _rows(c, timer)["CTRL"]
        fields = _rows(c, ctrl["variablesReference"])
        assert fields["EN [0]"]["value"] == "ENABLED (1)"
        uart = _rows(c, top["UART0"]["variablesReference"])
        assert "pops a FIFO" in uart["DATA"]["value"] and "read" in uart["DATA"]["value"]
        assert "hasSideEffects" in uart["DATA"]["presentationHint"]["attributes"]
        assert "marked manual" in _rows(c, top["UART2"]["variablesReference"])["STATE"]["value"]
        # the explicit action, from the view and from the Debug Console
        got = c.request("setVariable", {"variablesReference": top["UART2"]["variablesReference"], "name": "STATE",
                                        "value": "read"})
        assert got["value"].startswith("0x")
        out = c.request("evaluate", {"expression": ":read UART0.DATA", "context": "repl"})["result"]
        assert "read on request" in out and "pops a FIFO" in out
        # a field write through the view: read-modify-write, read back
        scb = _rows(c, top["SCB"]["variablesReference"])
        with pytest.raises(Exception, match="read-only"):
            c.request("setVariable", {"variablesReference": top["SCB"]["variablesReference"], "name": "CPUID",
                                      "value": "0"})
        assert "CORTEX_M3" in _rows(c, scb["CPUID"]["variablesReference"])["PARTNO [15:4]"]["value"]
        if transport == "serial":  # QEMU's gdb stub drops writes to device registers (see the emulated tests)
            t1 = _rows(c, top["TIMER1"]["variablesReference"])
            set_irq = c.request("setVariable", {"variablesReference": t1["CTRL"]["variablesReference"],
                                                "name": "IRQEN [3]", "value": "ENABLED"})
            assert set_irq["value"] == "ENABLED (1)"
            c.request("setVariable", {"variablesReference": t1["CTRL"]["variablesReference"], "name": "IRQEN [3]",
                                      "value": "0"})
        # watches and completion know the peripheral names
        w = c.request("evaluate", {"expression": "UART0.CTRL.TXEN", "context": "watch", "frameId": 1})
        assert w["result"] == "ENABLED (1)"
        names = [t["label"] for t in c.request("completions", {"text": "UAR", "column": 4})["targets"]]
        assert "UART0" in names
        regs = [t["label"] for t in c.request("completions", {"text": "UART0.", "column": 7})["targets"]]
        assert "STATE" in regs and "DATA" in regs
        fields = [t["label"] for t in c.request("completions", {"text": "UART0.DATA.", "column": 12})["targets"]]
        assert fields == ["DATA"]


def test_a_bad_svd_file_costs_only_the_scope(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    elf = sim.build("cortex-m3", tmp_path / "build").elf
    bad = tmp_path / "bad.svd"
    bad.write_text("<device>")
    with DapClient() as c:
        mark = c.mark()
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": "serial", "svdFile": str(bad)})
        ev = c.wait_event("output", lambda e: "no Peripherals scope" in e["body"]["output"], timeout=10, after=mark)
        assert "not well-formed XML" in ev["body"]["output"]
        names = [s["name"] for s in c.request("scopes", {"frameId": 1})["scopes"]]
        assert not any(n.startswith("Peripherals") for n in names)
