"""The RTOS view in the debug adapter (issue 15), through the real ``python -m firmwatch.dap``
process and the FreeRTOS demo on QEMU: the live "RTOS" scope while the CPU runs, then, paused
over QEMU's gdb stub, one thread per task whose call stack ends in the task's function, with the
task's registers; running again, the task threads go away.
"""

from __future__ import annotations

import time

import pytest

import rtos_builds
from dap_client import DapClient
from firmwatch import sim
from firmwatch.symbols import load
from tools import require_board, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

ENTRY = {"stream": "stream_task", "consumer": "consumer_task", "producer": "producer_task", "depth": "depth_task",
         "report": "report_task", "parked": "parked_task", "IDLE": "prvIdleTask", "Tmr Svc": "prvTimerTask"}


@pytest.mark.parametrize("board", ["cortex-m3-freertos", "riscv32-freertos"])
def test_rtos_scope_and_task_threads(board):
    require_board(board)
    elf = sim.build(board, rtos_builds.build_dir(board)).elf
    with DapClient() as c:
        c.start("launch", {"sim": board, "elf": str(elf), "transport": "rsp", "intrusionBudget": 5})
        scopes = {s["name"]: s for s in c.request("scopes", {"frameId": 1})["scopes"]}
        assert "RTOS" in scopes

        def rtos_rows():
            return {v["name"].lstrip("\u25b6 "): v for v in
                    c.request("variables", {"variablesReference": scopes["RTOS"]["variablesReference"]})["variables"]}

        rows = wait_for(lambda: (r := rtos_rows()) and all(n in r for n in ENTRY) and r, 30, "every task in the RTOS scope")
        assert rows["parked"]["value"].startswith("suspended")
        assert "queue 'rx queue'" in " ".join(rows) and rows["timer 'blink'"]["value"].startswith("next at tick")
        assert rows["timer 'oneshot'"]["value"].startswith("not running, every 200 ticks"), rows["timer 'oneshot'"]
        assert "snapshot complete" in rows["kernel"]["type"]
        # no watch here: the open scope alone brings VS Code a refresh about every second
        # (each refresh waits for the intrusion budget: seconds after a long halt on a loaded machine)
        ticks = {rows["kernel"]["value"]}
        deadline = time.monotonic() + 30
        while len(ticks) < 3:
            mark = c.mark()
            c.wait_event("invalidated", timeout=5, after=mark)
            ticks.add(rtos_rows()["kernel"]["value"])
            assert time.monotonic() < deadline, f"the RTOS scope showed only {ticks} in 30 s"
        kids = {k["name"]: k["value"] for k in c.request("variables", {"variablesReference": rows["depth"]["variablesReference"]})["variables"]}
        assert kids["priority"] == "1" and kids["stack size"].endswith("bytes")

        mark = c.mark()
        c.request("pause", {"threadId": 2})
        stop = c.wait_event("stopped", lambda e: e["body"]["threadId"] == 2, timeout=20, after=mark)
        # VS Code opens a thread's call stack only when it was told that thread stopped
        assert stop["body"]["allThreadsStopped"] is True
        threads = c.request("threads")["threads"]
        cpu = next(t for t in threads if t["id"] == 2)
        assert cpu["name"].startswith("CPU (task ")
        tasks = [t for t in threads if t["id"] >= 1000]
        assert len(tasks) == 7, threads
        for t in tasks:
            name = t["name"].rsplit(" (", 1)[0]
            frames = c.request("stackTrace", {"threadId": t["id"]})["stackFrames"]
            assert frames and frames[-1]["name"] == ENTRY[name], (name, frames)
            scopes = c.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
            assert [s["name"] for s in scopes][-2:] == ["Locals", "Registers"], scopes
            values = {v["name"]: v["value"] for v in
                      c.request("variables", {"variablesReference": scopes[-1]["variablesReference"]})["variables"]}
            assert int(values["pc"], 16) != 0 and int(values["sp"], 16) != 0
        mark = c.mark()
        c.request("continue", {"threadId": 2})
        c.wait_event("continued", timeout=10, after=mark)
        assert [t for t in c.request("threads")["threads"] if t["id"] >= 1000] == []
        # and the client is told each task thread it was shown is gone (VS Code keeps it otherwise)
        for t in tasks:
            c.wait_event("thread", lambda e, t=t: e["body"] == {"reason": "exited", "threadId": t["id"]}, timeout=10,
                         after=mark)

        # a breakpoint in the depth task: over rsp (no unwinding in the transport) the CPU's call
        # stack is unwound here too, and every frame — the CPU's and each task's — has its arguments
        # and locals from DWARF
        mark = c.mark()
        # gcc may clone it (recurse.isra.0): the symbol's own name
        recurse = next(s.name for s in load(str(elf)).symbols if s.kind == "function" and s.name.split(".")[0] == "recurse")
        bps = c.request("setFunctionBreakpoints", {"breakpoints": [{"name": recurse}]})["breakpoints"]
        assert bps[0]["verified"], bps
        stop = c.wait_event("stopped", lambda e: e["body"]["reason"] == "breakpoint", timeout=20, after=mark)
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        cpu_frames = c.request("stackTrace", {"threadId": stop["body"]["threadId"]})["stackFrames"]
        names = [f["name"] for f in cpu_frames]
        assert names[0] == "recurse" and names[-1] == "depth_task" and set(names[:-1]) == {"recurse"}, names
        assert all(f.get("line") for f in cpu_frames), cpu_frames

        def frame_vars(frame_id):
            out = {}
            for s in c.request("scopes", {"frameId": frame_id})["scopes"]:
                out[s["name"]] = {v["name"]: v for v in
                                  c.request("variables", {"variablesReference": s["variablesReference"]})["variables"]}
            return out

        top = frame_vars(cpu_frames[0]["id"])
        # the first call from depth_task is recurse(stack_depth), the demo's 4; deeper frames are recurse(level - 1)
        assert top["Arguments"]["level"]["value"] == str(4 - (len(cpu_frames) - 2)), top["Arguments"]
        assert "frame" in top["Locals"] and top["Locals"]["frame"]["indexedVariables"] == 48
        assert "pc" in top["Registers"]

        threads = c.request("threads")["threads"]
        consumer = next(t for t in threads if t["name"].startswith("consumer ("))
        frames = c.request("stackTrace", {"threadId": consumer["id"]})["stackFrames"]
        at = [f["name"] for f in frames].index("xQueueReceive")
        receive, task = frame_vars(frames[at]["id"]), frame_vars(frames[at + 1]["id"])
        assert set(receive["Arguments"]) >= {"xQueue", "pvBuffer", "xTicksToWait"}, receive
        item = task["Locals"]["item"]
        assert item["type"] == "uint32_t" and "memoryReference" in item
        # xQueueReceive(rx_queue, &item, portMAX_DELAY): its buffer is consumer_task's item
        assert int(receive["Arguments"]["pvBuffer"]["value"].split()[0], 16) == int(item["memoryReference"], 16)
        live = c.request("evaluate", {"expression": "rx_queue", "frameId": 1, "context": "watch"})["result"]
        assert receive["Arguments"]["xQueue"]["value"].split()[0] == live.split()[0], (receive["Arguments"]["xQueue"], live)
        mark = c.mark()
        c.request("continue", {"threadId": 2})
        c.wait_event("continued", timeout=10, after=mark)
