"""Profiles through the real debug adapter: ``firmwatch.startProfile`` / ``stopProfile`` and the
``firmwatch.profile`` events the extension's flame graph and code lenses show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dap_client import DapClient, DapError
from firmwatch.profiler import demo
from tools import require_board

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def live_profile(c: DapClient, mode: str, want: str, tmp: Path) -> dict:
    mark = c.mark()
    info = c.request("firmwatch.startProfile", {"intervalS": 0.3}, timeout=60)
    assert info["mode"] == mode
    # live: events whose functions keep growing, each with where it is defined
    ev = c.wait_event("firmwatch.profile", lambda e: any(f["name"] == want for f in e["body"]["functions"]),
                      timeout=60, after=mark)["body"]
    assert ev["running"] is True
    f = next(f for f in ev["functions"] if f["name"] == want)
    assert f["file"].endswith("prof_demo.c") and f["line"] > 0 and 0 < f["share"] < 1
    out = tmp / "p.speedscope.json"
    final = c.request("firmwatch.stopProfile", {"exports": {"speedscope": str(out)}}, timeout=60)
    assert final["running"] is False and final["written"]["speedscope"] == str(out)
    assert json.loads(out.read_text())["profiles"][0]["type"] == ("evented" if mode == "instrumented" else "sampled")
    with pytest.raises(DapError, match="no profile is running"):
        c.request("firmwatch.stopProfile", {})
    return final


def test_instrumented_profile_over_the_sessions_serial_line(tmp_path: Path) -> None:
    require_board("cortex-m3")
    elf = demo.build("cortex-m3")["prof"]
    with DapClient() as c:
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": "serial", "watch": ["frames_done"]})
        final = live_profile(c, "instrumented", "telemetry_pack", tmp_path)
        top = final["tree"]["children"][0]
        assert top["name"] == "app_frame" and {k["name"] for k in top["children"]} == demo.CALL_GRAPH["app_frame"]
        fir = next(f for f in final["functions"] if f["name"] == "fir_tap")
        assert fir["calls"] == 6 * next(f for f in final["functions"] if f["name"] == "app_frame")["calls"]
        # the watch kept streaming on the same line meanwhile
        assert c.request("evaluate", {"expression": "frames_done", "context": "watch", "frameId": 1})["result"] != "0"
        with pytest.raises(DapError, match="needs a GDB server"):
            c.request("firmwatch.startProfile", {"mode": "sampled"})


def test_sampled_profile_over_the_sessions_gdb_server(tmp_path: Path) -> None:
    require_board("avr")
    elf = demo.build("avr")["plain"]
    with DapClient() as c:
        c.start("launch", {"sim": "avr", "elf": str(elf), "transport": "rsp"})
        final = live_profile(c, "sampled", "telemetry_pack", tmp_path)
        assert final["device"]["method"] == "live"
        hot = next(r for r in final["lines"] if r["function"] == "telemetry_pack")
        assert hot["file"].endswith("prof_demo.c")
