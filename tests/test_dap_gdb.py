"""The CPU thread of the debug adapter over the gdb transport: the real ``python -m firmwatch.dap``
process, the demo firmware on QEMU Cortex-M3 and simavr AVR, the real gdb-multiarch / avr-gdb.

While the CPU stands at a breakpoint the Live thread keeps answering; after ``continue`` its
watches change again. Stepping is checked against gdb's own CLI on a fresh instance of the same
firmware (``frame`` after each of next, step, finish).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dap_client import DapClient
from firmwatch import sim
from tools import require_tool, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

DEMO_C = Path(__file__).resolve().parents[1] / "firmware" / "examples" / "demo" / "demo.c"
GDB = {"cortex-m3": "gdb-multiarch", "avr": "avr-gdb"}
TOOLS = {"cortex-m3": ("arm-none-eabi-gcc", "qemu-system-arm"), "avr": ("avr-gcc", "gcc")}
STEPS = (("next", "next"), ("stepIn", "step"), ("stepOut", "finish"))  # DAP request, gdb CLI command
CPU = 2  # the CPU thread's id (gdb's thread 1)


def demo_line(text: str) -> int:
    for number, line in enumerate(DEMO_C.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"demo.c no longer contains {text!r}")


def require_board(board: str) -> None:
    for tool in (*TOOLS[board], GDB[board]):
        require_tool(tool)
    if board == "avr" and not Path("/usr/include/simavr/sim_avr.h").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("libsimavr-dev is not installed (run .ci/install-system-deps)")
        pytest.skip("libsimavr-dev is not installed")


@pytest.fixture(scope="module")
def build_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dap-gdb")


_ELVES: dict[str, Path] = {}


def elf_for(board: str, build_root: Path) -> Path:
    if board not in _ELVES:
        _ELVES[board] = sim.build(board, build_root / board).elf
    return _ELVES[board]


def start(board: str, build_root: Path) -> sim.SimDevice:
    # simavr polls its gdb socket every 2000 cycles by default: exact breakpoints need 1
    extra: dict[str, Any] = {"gdb_poll": 1} if board == "avr" else {}
    return sim.start_sim(board, build_dir=build_root / board, elf=elf_for(board, build_root), **extra)


def cli_oracle(board: str, build_root: Path, location: str) -> list[tuple[str, int]]:
    """(file name, line) after each step, by gdb's CLI on a fresh instance."""
    dev = start(board, build_root)
    try:
        cmd = [require_tool(GDB[board]), "-batch", "-nx", "-ex", "set confirm off",
               "-ex", f"target remote {dev.gdb}", "-ex", f"break {location}", "-ex", "continue", "-ex", "delete"]
        for _, step in STEPS:
            cmd += ["-ex", step, "-ex", "frame"]
        cmd += ["-ex", "detach", str(dev.elf)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=90).stdout
    finally:
        dev.stop()
    found = re.findall(r"^#0 .* at (\S+):(\d+)$", out, re.M)
    assert len(found) == len(STEPS), f"gdb's CLI did not step as expected:\n{out}"
    return [(os.path.basename(f), int(n)) for f, n in found]


def cpu_stopped(c: DapClient, after: int, timeout: float = 30.0) -> dict[str, Any]:
    ev = c.wait_event("stopped", lambda e: e["body"]["threadId"] == CPU, timeout=timeout, after=after)
    return {**ev["body"], "seq": ev["seq"]}


def live(c: DapClient, expr: str) -> dict[str, Any]:
    return c.request("evaluate", {"expression": expr, "context": "watch", "frameId": 1})


def top_frame(c: DapClient) -> dict[str, Any]:
    return c.request("stackTrace", {"threadId": CPU, "startFrame": 0, "levels": 20})["stackFrames"][0]


def scope_vars(c: DapClient, frame_id: int) -> dict[str, dict[str, dict[str, Any]]]:
    out = {}
    for s in c.request("scopes", {"frameId": frame_id})["scopes"]:
        got = c.request("variables", {"variablesReference": s["variablesReference"]})["variables"]
        out[s["name"]] = {v["name"]: v for v in got}
    return out


def live_values_change(c: DapClient, expr: str) -> None:
    """The Live watch takes at least two values across invalidated events."""
    seen: set[int] = set()

    def two_values() -> bool:
        mark = c.mark()
        c.wait_event("invalidated", timeout=10, after=mark)
        r = live(c, expr)["result"]
        # under load a halting server's budget can space rounds seconds apart: the value then says
        # its age ("2458  (no new sample for 4 s)"), which is right; only fresh values count
        if "no new sample" not in r:
            seen.add(int(r))
        return len(seen) >= 2

    wait_for(two_values, 40, f"{expr} to take two fresh values across invalidated events")


def breakpoint_stack_locals_and_steps(c: DapClient, board: str, expected: list[tuple[str, int]]) -> None:
    line = demo_line("loop_count++;")
    caps = c.wait_event("capabilities", timeout=10)["body"]["capabilities"]
    for cap in ("supportsConditionalBreakpoints", "supportsHitConditionalBreakpoints", "supportsLogPoints",
                "supportsFunctionBreakpoints", "supportsDataBreakpoints"):
        assert caps.get(cap) is True, cap
    threads = c.request("threads")["threads"]
    assert [t["name"] for t in threads] == ["Live", "CPU"] and threads[1]["id"] == CPU
    mark = c.mark()
    bps = c.request("setBreakpoints", {"source": {"path": str(DEMO_C)}, "breakpoints": [{"line": line}]})
    bp = bps["breakpoints"][0]
    assert bp["verified"] and bp["line"] == line and bp["source"]["path"].endswith("demo.c")
    ev = cpu_stopped(c, mark)
    assert ev["reason"] == "breakpoint" and ev["hitBreakpointIds"] == [bp["id"]] and ev["allThreadsStopped"] is False
    frames = c.request("stackTrace", {"threadId": CPU, "startFrame": 0, "levels": 20})
    names = [f["name"] for f in frames["stackFrames"]]
    assert names[:2] == ["demo_loop", "main"], names
    f0, f1 = frames["stackFrames"][:2]
    assert f0["line"] == line and os.path.isabs(f0["source"]["path"]) and f0["source"]["path"].endswith("demo.c")
    assert f1["source"]["path"].endswith("port.c") and f1["line"] > 0
    scopes = scope_vars(c, f0["id"])
    assert "Locals" in scopes and "Registers" in scopes
    assert "pc" in scopes["Registers"] and scopes["Registers"]["pc"]["value"].startswith("0x")
    words = 2 if board == "avr" else 1  # the AVR's PC register counts 16-bit words
    assert int(scopes["Registers"]["pc"]["value"], 16) * words == int(f0["instructionPointerReference"], 16)
    # a global in the CPU frame: gdb's value, expandable, children named for "Add to Watch"
    g = c.request("evaluate", {"expression": "g_config", "frameId": f0["id"], "context": "watch"})
    assert g["variablesReference"] > 0 and "config_t" in g["type"]
    kids = {k["name"]: k for k in c.request("variables", {"variablesReference": g["variablesReference"]})["variables"]}
    assert int(kids["magic"]["value"]) == 0xC0FFEE01
    calib = {k["name"]: k for k in c.request("variables", {"variablesReference": kids["calib"]["variablesReference"]})["variables"]}
    assert calib["gain_q8"]["evaluateName"] == "g_config.calib.gain_q8" and calib["gain_q8"]["value"] == "256"
    hb = c.request("evaluate", {"expression": "heartbeat_counter", "frameId": f0["id"], "context": "hover"})
    # the Live frame still answers while the CPU is stopped, and agrees with gdb (the CPU stands still)
    assert live(c, "heartbeat_counter")["result"] == hb["result"]
    # a write while stopped shows at once in the CPU frame: in a re-evaluated watch and in an expansion
    gain = {"expression": "g_config.calib.gain_q8", "frameId": f0["id"], "context": "watch"}
    assert c.request("evaluate", gain)["result"] == "256"
    c.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "300", "frameId": 1})
    assert c.request("evaluate", gain)["result"] == "300"
    calib = {k["name"]: k for k in c.request("variables", {"variablesReference": kids["calib"]["variablesReference"]})["variables"]}
    assert calib["gain_q8"]["value"] == "300"
    c.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "256", "frameId": 1})
    # writes in the CPU frame go through gdb: a member from the Variables view, a watch by expression
    got = c.request("setVariable", {"variablesReference": kids["calib"]["variablesReference"], "name": "gain_q8",
                                    "value": "270"})
    assert got["value"] == "270" and c.request("evaluate", gain)["result"] == "270"
    wait_for(lambda: live(c, "g_config.calib.gain_q8")["result"] == "270", 10, "the Live view to see the write")
    assert c.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "256",
                                       "frameId": f0["id"]})["value"] == "256"
    bad = c.request_raw("setExpression", {"expression": "g_config.calib.gain_q8", "value": "no_such_symbol",
                                          "frameId": f0["id"]})
    assert not bad["success"] and "no_such_symbol" in bad["message"]
    # gdb's own commands from the Debug Console
    mark = c.mark()
    assert "demo_loop" in c.request("evaluate", {"expression": "-exec bt", "frameId": f0["id"], "context": "repl"})["result"]
    assert not [e for e in c.events[mark:] if e["event"] == "output" and "demo_loop" in e["body"]["output"]], \
        "a gdb command's text is its result, not also an output event"
    with pytest.raises(Exception, match="no_such_symbol"):
        c.request("evaluate", {"expression": "no_such_symbol", "frameId": f0["id"], "context": "watch"})
    # steps land where gdb's CLI lands
    c.request("setBreakpoints", {"source": {"path": str(DEMO_C)}, "breakpoints": []})
    landed = []
    for request, _ in STEPS:
        mark = c.mark()
        response = c.request_raw(request, {"threadId": CPU})
        assert response["success"], response
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "step", ev
        # VS Code marks the thread running when the response comes: the stop must come after it
        assert ev["seq"] > response["seq"], "the stopped event overtook the step's response"
        f = top_frame(c)
        landed.append((f["source"]["name"], f["line"]))
        if request == "next" and board != "avr":  # -Os on AVR folds `now` away entirely
            local = scope_vars(c, f["id"])["Locals"]
            assert local["now"]["type"] == "uint32_t" and local["now"]["value"]
            assert local["now"]["value"] == c.request("evaluate", {"expression": "now", "frameId": f["id"],
                                                                   "context": "hover"})["result"]
    assert landed == expected, f"the adapter landed at {landed}, gdb's CLI at {expected}"
    # continue: a continued event, and the Live watch moves again
    mark = c.mark()
    c.request("continue", {"threadId": CPU})
    c.wait_event("continued", lambda e: e["body"]["threadId"] == CPU, timeout=10, after=mark)
    live_values_change(c, "loop_count")
    # the sampler's own halts (QEMU answers no read while running) never show as stops
    assert not [e for e in c.events[mark:] if e["event"] == "stopped" and e["body"]["threadId"] == CPU]
    # pause → stopped (pause), its stack is readable; continue again
    mark = c.mark()
    c.request("pause", {"threadId": CPU})
    assert cpu_stopped(c, mark)["reason"] == "pause"
    assert top_frame(c)["name"]
    mark = c.mark()
    c.request("continue", {"threadId": CPU})
    c.wait_event("continued", timeout=10, after=mark)
    # a stale frame gets a sentence, not a value
    r = c.request_raw("scopes", {"frameId": f0["id"]})
    assert not r["success"] and "running" in r["message"]


@pytest.mark.parametrize("board", ["cortex-m3", "avr"])
def test_breakpoint_stack_locals_steps_and_disconnect_leaves_it_running(board: str, build_root: Path) -> None:
    require_board(board)
    expected = cli_oracle(board, build_root, f"demo.c:{demo_line('loop_count++;')}")
    dev = start(board, build_root)
    try:
        with DapClient() as c:
            c.start("attach", {"elf": str(dev.elf), "transport": "gdb", "target": dev.gdb, "watch": ["loop_count"]})
            breakpoint_stack_locals_and_steps(c, board, expected)
            ref = live(c, "loop_count")["memoryReference"]
            # leave it standing at a breakpoint: disconnecting removes the breakpoint and lets it run
            mark = c.mark()
            c.request("setBreakpoints", {"source": {"path": str(DEMO_C)},
                                         "breakpoints": [{"line": demo_line("loop_count++;")}]})
            assert cpu_stopped(c, mark)["reason"] == "breakpoint"
            c.request("disconnect", {"terminateDebuggee": False})
        # the device runs on without a debugger: the counter moves between two reads of a new client
        from firmwatch.targets.rsp import RspTarget

        with RspTarget(dev.gdb) as t:
            address = int(ref, 16)
            first = t.read(address, 4)
            wait_for(lambda: t.read(address, 4) != first, 10, "loop_count to move after disconnect")
        assert dev.alive
    finally:
        dev.stop()


def test_condition_hit_count_logpoint_function_and_data_breakpoints(build_root: Path) -> None:
    require_board("cortex-m3")
    elf = elf_for("cortex-m3", build_root)
    line = demo_line("heartbeat_counter++;")
    src = {"path": str(DEMO_C)}
    with DapClient() as c:
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": "gdb", "watch": ["heartbeat_counter"]})
        # a log point prints and carries on
        mark = c.mark()
        lp = c.request("setBreakpoints", {"source": src, "breakpoints": [
            {"line": line, "logMessage": "hb={heartbeat_counter}"}]})["breakpoints"][0]
        assert lp["verified"]
        logged = c.wait_event("output", lambda e: "hb=" in e["body"]["output"], timeout=20, after=mark)
        assert logged["body"]["category"] == "console"

        def log_lines() -> list[int]:
            return [int(x) for x in re.findall(r"hb=(\d+)\n", c.outputs())]

        wait_for(lambda: len(log_lines()) >= 2, 20, "two log lines")
        assert not [e for e in c.events[mark:] if e["event"] == "stopped" and e["body"]["threadId"] == CPU]
        def fresh_heartbeat() -> int | None:
            # a loaded machine may starve the live sampling between the logpoint's halts: the value
            # then carries its age ("1  (no new sample for 1 s)"), which is right but not fresh
            r = live(c, "heartbeat_counter")["result"]
            return None if "no new sample" in r else int(r)

        # the live value runs on past the first logged one (0 counts as a value: hence the tuple)
        (now,) = wait_for(lambda: (v := fresh_heartbeat()) is not None and v >= log_lines()[0] and (v,),
                          20, "a fresh live heartbeat_counter")
        # a condition and a hit count: heartbeat above now+1, and its second matching hit
        mark = c.mark()
        bp = c.request("setBreakpoints", {"source": src, "breakpoints": [
            {"line": line, "condition": f"heartbeat_counter >= {now + 1}", "hitCondition": "2"}]})["breakpoints"][0]
        assert bp["verified"] and bp["id"] != lp["id"]
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "breakpoint" and ev["hitBreakpointIds"] == [bp["id"]]
        f0 = top_frame(c)
        seen = int(c.request("evaluate", {"expression": "heartbeat_counter", "frameId": f0["id"],
                                          "context": "watch"})["result"])
        assert seen >= now + 2, f"the hit count passes the first matching hit ({now} -> {seen})"
        # a bad hit condition is refused with a sentence, a line without code is not verified
        bad = c.request("setBreakpoints", {"source": src, "breakpoints": [
            {"line": line, "hitCondition": "%3"}, {"line": 1}]})["breakpoints"]
        assert not bad[0]["verified"] and "hit count" in bad[0]["message"]
        assert not bad[1]["verified"] and bad[1]["message"]
        c.request("setBreakpoints", {"source": src, "breakpoints": []})
        # a function breakpoint
        mark = c.mark()
        c.request("continue", {"threadId": CPU})
        fb = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "demo_tick_1khz"}]})["breakpoints"][0]
        assert fb["verified"] and fb["source"]["path"].endswith("demo.c")
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "breakpoint" and ev["hitBreakpointIds"] == [fb["id"]]
        assert top_frame(c)["name"] == "demo_tick_1khz"
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        # from the Variables view of a Live watch: the child's expression is what gets watched
        top = live(c, "g_config")
        info = c.request("dataBreakpointInfo", {"name": "calib", "variablesReference": top["variablesReference"]})
        assert info["dataId"] == "g_config.calib"
        # one instruction at a time
        pc = int(top_frame(c)["instructionPointerReference"], 16)
        mark = c.mark()
        c.request("stepIn", {"threadId": CPU, "granularity": "instruction"})
        assert cpu_stopped(c, mark)["reason"] == "step"
        assert int(top_frame(c)["instructionPointerReference"], 16) != pc
        # a data breakpoint on a variable the firmware writes
        info = c.request("dataBreakpointInfo", {"name": "heartbeat_counter", "frameId": 1})
        assert info["dataId"] == "heartbeat_counter" and "write" in info["accessTypes"]
        before = int(c.request("evaluate", {"expression": "heartbeat_counter", "frameId": top_frame(c)["id"],
                                            "context": "watch"})["result"])
        mark = c.mark()
        # with a condition and a hit count: the second write stops
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"], "accessType": "write",
                                                                "condition": "heartbeat_counter > 0",
                                                                "hitCondition": "2"}]})
        assert db["breakpoints"][0]["verified"]
        c.request("continue", {"threadId": CPU})
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "data breakpoint" and ev["hitBreakpointIds"] == [db["breakpoints"][0]["id"]], ev
        assert "heartbeat_counter" in ev.get("description", "")
        f0 = top_frame(c)
        assert f0["name"] == "demo_loop"
        after = int(c.request("evaluate", {"expression": "heartbeat_counter", "frameId": f0["id"],
                                           "context": "watch"})["result"])
        assert after == before + 2
        c.request("setDataBreakpoints", {"breakpoints": []})
        mark = c.mark()
        c.request("continue", {"threadId": CPU})
        c.wait_event("continued", timeout=10, after=mark)
        live_values_change(c, "heartbeat_counter")


def test_rsp_transport_cpu_thread(build_root: Path) -> None:
    """Over the direct RSP client: function and data breakpoints by ELF address, one frame at the
    PC named from the symbol table, registers, instruction steps, pause and continue."""
    require_board("cortex-m3")
    elf = elf_for("cortex-m3", build_root)
    with DapClient() as c:
        c.start("launch", {"sim": "cortex-m3", "elf": str(elf), "transport": "rsp", "watch": ["loop_count"]})
        caps = c.wait_event("capabilities", timeout=10)["body"]["capabilities"]
        assert caps["supportsFunctionBreakpoints"] and caps["supportsDataBreakpoints"]
        line = c.request("setBreakpoints", {"source": {"path": str(DEMO_C)},
                                            "breakpoints": [{"line": demo_line("loop_count++;")}]})["breakpoints"][0]
        assert not line["verified"] and "gdb" in line["message"]
        mark = c.mark()
        fb = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "demo_tick_1khz"}, {"name": "nope"}]})
        assert fb["breakpoints"][0]["verified"] and not fb["breakpoints"][1]["verified"]
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "breakpoint" and ev["hitBreakpointIds"] == [fb["breakpoints"][0]["id"]]
        f0 = top_frame(c)
        assert f0["name"] == "demo_tick_1khz"
        regs = scope_vars(c, f0["id"])["Registers"]
        assert int(regs["pc"]["value"], 16) == int(f0["instructionPointerReference"], 16)
        assert live(c, "loop_count")["result"]  # the Live frame answers while the CPU stands
        mark = c.mark()
        response = c.request_raw("stepIn", {"threadId": CPU, "granularity": "instruction"})
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "step" and ev["seq"] > response["seq"]
        assert top_frame(c)["instructionPointerReference"] != f0["instructionPointerReference"]
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        mark = c.mark()
        c.request("continue", {"threadId": CPU})
        c.wait_event("continued", timeout=10, after=mark)
        live_values_change(c, "loop_count")
        mark = c.mark()
        c.request("pause", {"threadId": CPU})
        assert cpu_stopped(c, mark)["reason"] == "pause"
        info = c.request("dataBreakpointInfo", {"name": "heartbeat_counter", "frameId": 1})
        assert info["dataId"]
        mark = c.mark()
        # with a condition and a hit count: the second write stops
        db = c.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"], "accessType": "write",
                                                                "condition": "heartbeat_counter > 0",
                                                                "hitCondition": "2"}]})
        assert db["breakpoints"][0]["verified"]
        c.request("continue", {"threadId": CPU})
        ev = cpu_stopped(c, mark)
        assert ev["reason"] == "data breakpoint" and ev["hitBreakpointIds"] == [db["breakpoints"][0]["id"]]
        assert top_frame(c)["name"].startswith("demo_loop")
        c.request("setDataBreakpoints", {"breakpoints": []})
        c.request("continue", {"threadId": CPU})
        live_values_change(c, "loop_count")
