"""The debug adapter as VS Code runs it: ``python -m firmwatch.dap`` over stdio, against the host
simulated device (the demo firmware as a process on a pty), driven by tests/dap_client.py.

Scenarios from issue 5: the Live thread stops and its watches change across ``invalidated``
cycles; struct expansion with an evaluateName round trip; setExpression / setVariable writes with
read-back and one-sentence refusals; readMemory/writeMemory while running with the ``memory``
event; Globals and Memory scopes; completions; the extension's custom requests and events; a
malformed message gets an error response and the adapter still answers; a killed device ends the
session with a message and ``terminated``; an invalid launch.json key gives one error naming it.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dap_client import DapClient, DapError
from firmwatch import sim
from tools import require_tool, wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture
def client(host_device: sim.SimDevice) -> Iterator[DapClient]:
    """Attached over serial to a host device this test owns."""
    with DapClient() as c:
        c.start("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port,
                           "uiRefreshHz": 20})
        yield c


def watch(c: DapClient, expr: str, **kw) -> dict:
    return c.request("evaluate", {"expression": expr, "context": "watch", "frameId": 1, **kw})


def refresh_values(c: DapClient, expr: str, cycles: int) -> list[str]:
    """What VS Code does: after each invalidated event, re-evaluate the watch."""
    values = []
    for _ in range(cycles):
        mark = c.mark()
        c.wait_event("invalidated", timeout=10, after=mark)
        values.append(watch(c, expr)["result"])
    return values


# -- the live view ---------------------------------------------------------------------------------------
def test_live_thread_stops_and_watch_values_change_across_invalidated_cycles(client: DapClient) -> None:
    threads = client.request("threads")["threads"]
    assert threads == [{"id": 1, "name": "Live"}]
    stopped = [e for e in client.events if e["event"] == "stopped"][0]["body"]
    assert stopped["threadId"] == 1 and stopped["allThreadsStopped"] is False
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    assert len(frames) == 1 and frames[0]["source"]["sourceReference"] > 0
    first = watch(client, "loop_count")
    assert first["variablesReference"] == 0 and first["type"].endswith("uint32_t")
    values = refresh_values(client, "loop_count", 4)
    assert len({int(v) for v in values}) >= 3, values
    assert int(values[-1]) > int(first["result"])
    # the virtual document describes the session, with the watch and its achieved rate
    doc = client.request("source", {"sourceReference": frames[0]["source"]["sourceReference"]})["content"]
    assert "transport:  serial" in doc and "loop_count" in doc and "build id:   match" in doc
    rate = re.search(r"loop_count\s+(\S+)Hz\s+(\S+)Hz", doc)
    assert rate and float(rate.group(2)) > 0


def test_no_invalidated_before_configuration_done_nor_without_watches(host_device: sim.SimDevice) -> None:
    with DapClient() as c:
        c.request("initialize", {"adapterID": "firmwatch"})
        c.request("attach", {"type": "firmwatch", "request": "attach", "elf": str(host_device.elf), "transport": "serial",
                             "port": host_device.port, "watch": ["loop_count"], "uiRefreshHz": 30})
        status = c.wait_event("firmwatch.status", lambda e: e["body"]["rateHz"] > 0, timeout=10)
        assert not [e for e in c.events if e["event"] == "invalidated"]
        assert status["body"]["watches"] == 1 and status["body"]["link"] == "up"
        c.request("configurationDone")
        c.wait_event("invalidated", timeout=5)


def test_struct_expansion_and_evaluate_name_round_trip(client: DapClient) -> None:
    top = watch(client, "g_config")
    assert top["variablesReference"] > 0 and top["namedVariables"] == 8
    assert top["memoryReference"].startswith("0x")
    kids = client.request("variables", {"variablesReference": top["variablesReference"]})["variables"]
    by_name = {k["name"]: k for k in kids}
    assert set(by_name) >= {"magic", "calib", "channel_map", "alarm_threshold"}
    for k in kids:
        # every child names an expression that compiles back to the same value
        again = watch(client, k["evaluateName"])
        assert again["result"] == k["value"], k
        assert again["type"] == k["type"]
    calib = by_name["calib"]
    assert calib["evaluateName"] == "g_config.calib" and calib["variablesReference"] > 0
    inner = client.request("variables", {"variablesReference": calib["variablesReference"]})["variables"]
    assert [v["evaluateName"] for v in inner] == ["g_config.calib.offset", "g_config.calib.gain_q8"]
    # arrays are paged: indexedVariables plus start/count
    cmap = by_name["channel_map"]
    assert cmap["indexedVariables"] == 4
    page = client.request("variables", {"variablesReference": cmap["variablesReference"], "filter": "indexed",
                                        "start": 1, "count": 2})["variables"]
    assert [p["name"] for p in page] == ["[1]", "[2]"]
    assert [p["evaluateName"] for p in page] == ["g_config.channel_map[1]", "g_config.channel_map[2]"]
    # the same node keeps its reference across refreshes (expanded nodes stay expanded)
    assert watch(client, "g_config")["variablesReference"] == top["variablesReference"]
    # a pointer expands to what it points to, named through '->'
    ptr = watch(client, "g_active_config")
    assert ptr["result"].endswith("<g_config>") and ptr["variablesReference"] > 0
    through = client.request("variables", {"variablesReference": ptr["variablesReference"]})["variables"]
    assert [v["evaluateName"] for v in through][:2] == ["g_active_config->magic", "g_active_config->calib"]
    assert watch(client, "g_active_config->calib.gain_q8")["result"] == inner[1]["value"]
    # hex formatting
    hexed = client.request("variables", {"variablesReference": top["variablesReference"], "format": {"hex": True}})
    magic = {v["name"]: v for v in hexed["variables"]}["magic"]
    assert magic["value"] == hex(int(by_name["magic"]["value"]))


def test_large_arrays_split_into_ranges_for_clients_without_paging(host_device: sim.SimDevice) -> None:
    with DapClient() as c:
        c.start("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port}, paging=False)
        top = watch(c, "sine_table")
        assert top["indexedVariables"] == 64
        big = watch(c, "fw_txbuf")  # the streamer's TX buffer: hundreds of bytes
        n = big["indexedVariables"]
        assert n > 100
        ranges = c.request("variables", {"variablesReference": big["variablesReference"]})["variables"]
        assert ranges[0]["name"] == "[0..99]" and ranges[0]["indexedVariables"] == 100
        assert sum(r["indexedVariables"] for r in ranges) == n
        inside = c.request("variables", {"variablesReference": ranges[1]["variablesReference"]})["variables"]
        assert inside[0]["name"] == "[100]" and inside[0]["evaluateName"] == "fw_txbuf[100]"
        # a const table in flash is read-only
        assert top["presentationHint"]["attributes"] == ["readOnly"]


def test_set_expression_and_set_variable_write_and_read_back(client: DapClient) -> None:
    mark = client.mark()
    body = client.request("setExpression", {"expression": "g_config.alarm_threshold", "value": "42.5"})
    assert body["value"] == "42.5"
    mem = client.wait_event("memory", timeout=5, after=mark)["body"]
    assert mem["count"] == 4 and mem["memoryReference"].startswith("0x")
    assert watch(client, "g_config.alarm_threshold")["result"] in ("42.5", "30")  # cache until the next sample
    wait_for(lambda: watch(client, "g_config.alarm_threshold")["result"] == "42.5", 5, "the sampled value")
    top = watch(client, "g_config")
    kids = client.request("variables", {"variablesReference": top["variablesReference"]})["variables"]
    calib = {k["name"]: k for k in kids}["calib"]
    got = client.request("setVariable", {"variablesReference": calib["variablesReference"], "name": "gain_q8",
                                         "value": "0x200"})
    assert got["value"] == "512"
    assert watch(client, "g_config.calib.gain_q8")["result"] in ("512", "256")
    # refusals: one sentence each
    with pytest.raises(DapError) as e:
        client.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "70000"})
    assert "does not fit" in str(e.value) and str(e.value).count(". ") == 0
    with pytest.raises(DapError) as e:
        client.request("setExpression", {"expression": "sine_table[3]", "value": "1"})
    assert "const" in str(e.value)
    with pytest.raises(DapError) as e:
        client.request("setExpression", {"expression": "loop_count + 1", "value": "1"})
    assert "not assignable" in str(e.value)
    # the response carries showUser for VS Code's notification
    r = client.request_raw("setExpression", {"expression": "sine_table[3]", "value": "1"})
    assert r["body"]["error"]["showUser"] is True


def test_read_and_write_memory_while_running(client: DapClient) -> None:
    ref = watch(client, "loop_count")["memoryReference"]
    first = base64.b64decode(client.request("readMemory", {"memoryReference": ref, "count": 4})["data"])
    assert len(first) == 4

    def changed() -> bool:
        data = client.request("readMemory", {"memoryReference": ref, "count": 4})["data"]
        return base64.b64decode(data) != first

    wait_for(changed, 5, "loop_count to move between two readMemory requests")
    # offset and a region the device refuses
    cfg = watch(client, "g_config")["memoryReference"]
    r = client.request("readMemory", {"memoryReference": cfg, "offset": 4, "count": 4})
    assert int(r["address"], 16) == int(cfg, 16) + 4
    far = client.request("readMemory", {"memoryReference": "0x10", "count": 8})
    assert far.get("unreadableBytes") == 8
    # writeMemory: threshold as raw float bytes, then the memory event and the read-back
    addr = watch(client, "&g_config.alarm_threshold")["result"].split()[0]
    import struct

    mark = client.mark()
    client.request("writeMemory", {"memoryReference": addr, "data": base64.b64encode(struct.pack("<f", 12.25)).decode()})
    ev = client.wait_event("memory", timeout=5, after=mark)["body"]
    assert int(ev["memoryReference"], 16) == int(addr, 16) and ev["count"] == 4
    assert client.request("evaluate", {"expression": "g_config.alarm_threshold", "context": "repl"})["result"] == "12.25"


def test_globals_and_memory_scopes(client: DapClient) -> None:
    scopes = client.request("scopes", {"frameId": 1})["scopes"]
    g, m = scopes
    assert g["name"].startswith("Globals") and g["expensive"] is True
    files = client.request("variables", {"variablesReference": g["variablesReference"]})["variables"]
    demo = [f for f in files if f["name"].endswith("demo.c")][0]
    vs = client.request("variables", {"variablesReference": demo["variablesReference"]})["variables"]
    names = [v["name"] for v in vs]
    assert names == sorted(names) and {"accel_x", "g_config", "rng_state"} <= set(names)
    rng = {v["name"]: v for v in vs}["rng_state"]
    assert rng["evaluateName"] == "rng_state"  # a file static, unique here
    page = client.request("variables", {"variablesReference": demo["variablesReference"], "start": 2, "count": 3})
    assert [v["name"] for v in page["variables"]] == names[2:5]
    # set a global from the Globals scope
    client.request("setVariable", {"variablesReference": demo["variablesReference"], "name": "button_state",
                                   "value": "1"})
    live = {v["name"]: v for v in client.request("variables", {"variablesReference": m["variablesReference"]})["variables"]}
    assert "stack peak use" in live  # the live figures (tests/test_memory_dap.py), then the ELF's static part
    static = live["static (from the ELF)"]["variablesReference"]
    mem = {v["name"]: v["value"] for v in client.request("variables", {"variablesReference": static})["variables"]}
    assert ".bss" in mem and re.match(r"\d+ bytes", mem[".bss"])
    usage = client.request("firmwatch.memoryUsage")
    bss = [s for s in usage["sections"] if s["name"] == ".bss"][0]
    assert bss["kind"] == "bss" and str(bss["size"]) in mem[".bss"]
    assert usage["ram"]["used"] >= bss["size"] and usage["flash"]["used"] > 0


def test_completions_symbols_and_members(client: DapClient) -> None:
    got = client.request("completions", {"text": "accel_", "column": 7})["targets"]
    assert {"accel_x", "accel_y", "accel_z"} <= {t["label"] for t in got}
    got = client.request("completions", {"text": "g_config.ca", "column": 12})["targets"]
    assert [t["label"] for t in got] == ["calib"] and got[0]["start"] == 9 and got[0]["length"] == 2
    got = client.request("completions", {"text": "1 + g_active_config->", "column": 22})["targets"]
    assert "alarm_threshold" in {t["label"] for t in got}
    got = client.request("completions", {"text": ":rate g_config.cal", "column": 19})["targets"]
    assert [t["label"] for t in got] == ["calib"]


def test_debug_console_rate_command_and_one_shot_evaluate(client: DapClient) -> None:
    r = client.request("evaluate", {"expression": ":rate accel_x 200", "context": "repl"})
    assert "200 Hz" in r["result"]
    doc = client.request("source", {"sourceReference": 1})["content"]
    assert re.search(r"accel_x\s+200Hz", doc)
    with pytest.raises(DapError, match="above what the target can sample"):
        client.request("evaluate", {"expression": ":rate accel_x 1000000", "context": "repl"})
    once = client.request("evaluate", {"expression": "sizeof(g_config)", "context": "repl"})
    assert int(once["result"]) > 0
    with pytest.raises(DapError, match="no symbol 'nosuch'"):
        client.request("evaluate", {"expression": "nosuch", "context": "hover", "frameId": 1})


def test_custom_requests_and_events(client: DapClient, tmp_path: Path) -> None:
    r = client.request("firmwatch.setRate", {"expression": "accel_y", "rateHz": 100})
    assert r["rateHz"] == 100 and isinstance(r["watchId"], int)
    p = client.request("firmwatch.plot", {"expression": "accel_z"})
    assert p["expression"] == "accel_z" and p["rateHz"] > 0
    samples = client.wait_event("firmwatch.samples",
                                lambda e: any(s["watchId"] == r["watchId"] and len(s["t"]) >= 2 for s in e["body"]["series"]),
                                timeout=5)
    s = [x for x in samples["body"]["series"] if x["watchId"] == r["watchId"]][0]
    assert s["expression"] == "accel_y" and len(s["t"]) == len(s["v"])
    assert all(isinstance(v, int) for v in s["v"]) and s["t"] == sorted(s["t"])
    # events at most about 30 per second
    mark = client.mark()
    time.sleep(1.0)  # a measurement window, not synchronisation
    n = len([e for e in client.events[mark:] if e["event"] == "firmwatch.samples"])
    assert 5 <= n <= 35
    status = client.wait_event("firmwatch.status", lambda e: e["body"]["watches"] >= 2, timeout=5)["body"]
    assert status["link"] == "up" and status["transport"] == "serial" and status["rateHz"] > 100
    assert set(status) == {"link", "target", "transport", "samples", "lost", "rateHz", "watches", "buildId", "held"}
    out = tmp_path / "rec.csv"
    started = client.request("firmwatch.startRecording", {"path": str(out), "sessionId": "abc"})
    assert started == {"path": str(out), "sessionId": "abc"}
    wait_for(lambda: out.exists() and out.stat().st_size > 200, 5, "rows in the recording")
    stopped = client.request("firmwatch.stopRecording")
    assert stopped["path"] == str(out) and stopped["rows"] > 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == stopped["rows"] and {r["name"] for r in rows} >= {"accel_y", "accel_z"}
    with pytest.raises(DapError, match="nothing is being recorded"):
        client.request("firmwatch.stopRecording")
    live = client.request("firmwatch.evaluateLive", {"expression": "g_config.calib"})
    assert live["type"] == "calibration_t" and live["value"].startswith("{offset") and live["address"] > 0
    bad = client.request("firmwatch.evaluateLive", {"expression": "g_config.nope"})
    assert bad["value"] is None and "no member 'nope'" in bad["error"]


def test_malformed_messages_get_error_responses_and_the_adapter_keeps_answering(client: DapClient) -> None:
    def next_error() -> dict:
        return wait_for(lambda: client._responses.pop(0, None), 5, "an error response")  # type: ignore[return-value]

    client.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    assert next_error()["success"] is False
    client.send_raw(b"Content-Length: 2\r\n\r\n[]")
    assert "not a JSON object" in next_error()["message"]
    client.send_raw(b"Content-Length: banana\r\n\r\n")
    assert "Content-Length" in next_error()["message"]
    r = client.request_raw("evaluate", {"expression": 42})
    assert r["success"] is False and "'expression' must be a string" in r["message"]
    r = client.request_raw("variables", {"variablesReference": "x"})
    assert r["success"] is False and "variablesReference" in r["message"]
    r = client.request_raw("noSuchCommand")
    assert r["success"] is False and "noSuchCommand" in r["message"]
    r = client.request_raw("stackTrace", {})
    assert r["success"] is False and "'threadId' is required" in r["message"]
    assert client.request("threads")["threads"][0]["name"] == "Live"
    assert int(watch(client, "loop_count")["result"]) > 0


def test_killed_device_ends_the_session_with_a_message(host_build: Path) -> None:
    with DapClient() as c:
        c.start("launch", {"sim": "host", "watch": ["loop_count"]})
        pid = int(re.search(r"pid (\d+)", c.outputs()).group(1))
        os.kill(pid, 9)
        c.wait_event("terminated", timeout=15)
        out = c.outputs()
        assert "simulated device exited" in out and "session ends" in out
        assert c.request("threads")["threads"] == []


def test_lost_serial_link_reconnects_when_the_device_returns(host_build: Path) -> None:
    require_tool("socat")
    dev = sim.start_sim("host", build_dir=host_build, tcp=True)
    try:
        # a pty in front of the device's TCP port, as a USB-serial adapter would be
        link = Path(dev.elf).parent / f"dap-pty-{os.getpid()}"
        host, port = dev.port.removeprefix("socket://").rsplit(":", 1)

        def bridge() -> subprocess.Popen:
            p = subprocess.Popen(["socat", f"pty,raw,echo=0,link={link}", f"tcp:{host}:{port}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            wait_for(link.exists, 5, "the socat pty")
            return p

        b = bridge()
        with DapClient() as c:
            c.start("attach", {"elf": str(dev.elf), "transport": "serial", "port": str(link), "watch": ["loop_count"]})
            b.kill()
            b.wait()
            c.wait_event("firmwatch.status", lambda e: e["body"]["link"] == "reconnecting", timeout=10)
            assert "lost the link" in c.outputs()
            b = bridge()
            c.wait_event("firmwatch.status", lambda e: e["body"]["link"] == "up" and c.outputs().count("restored"),
                         timeout=15)
            assert "restored" in c.outputs()
            before = int(watch(c, "loop_count")["result"])
            wait_for(lambda: int(watch(c, "loop_count")["result"]) > before, 5, "live values after reconnecting")
            assert not [e for e in c.events if e["event"] == "terminated"]
        b.kill()
        b.wait()
    finally:
        dev.stop()


def test_invalid_launch_key_gives_one_error_naming_it(host_device: sim.SimDevice) -> None:
    with DapClient() as c:
        c.request("initialize", {"adapterID": "firmwatch"})
        r = c.request_raw("attach", {"type": "firmwatch", "request": "attach", "elf": str(host_device.elf),
                                     "transport": "serial", "port": host_device.port, "buad": 115200})
        assert r["success"] is False
        assert "unknown key 'buad'; did you mean 'baud'?" in r["message"]
        assert r["body"]["error"]["showUser"] is True
        r = c.request_raw("attach", {"type": "firmwatch", "request": "attach", "elf": str(host_device.elf),
                                     "transport": "usb", "port": host_device.port})
        assert "'transport' must be one of serial, tcp, gdb, rsp" in r["message"]
        r = c.request_raw("attach", {"elf": str(host_device.elf), "transport": "tcp", "port": "COM3"})
        assert r["message"].startswith("launch.json: 'port' must be a TCP port number")
        r = c.request_raw("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port,
                                     "watch": [{"expression": "x", "rate": 5}]})
        assert "'watch[0]' has unknown key 'rate'" in r["message"]
        # still answers, and a correct attach then works
        c.request("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port})
        c.request("configurationDone")
        c.wait_event("stopped")


def test_trace_logs_every_message(host_device: sim.SimDevice, tmp_path: Path) -> None:
    log = tmp_path / "trace.jsonl"
    with DapClient() as c:
        c.start("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port, "trace": str(log)})
        watch(c, "loop_count")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    commands = [x["msg"].get("command") for x in lines if x["dir"] == "in"]
    assert "configurationDone" in commands and "evaluate" in commands and "disconnect" in commands
    assert any(x["dir"] == "out" and x["msg"].get("event") == "stopped" for x in lines)


def test_progress_events_while_indexing_and_launch_with_tcp(host_build: Path, tmp_path: Path) -> None:
    # a fresh copy of the ELF is not in the index cache, so it is indexed with progress
    with DapClient(env={"FIRMWATCH_CACHE_DIR": str(tmp_path / "cache")}) as c:
        c.start("launch", {"sim": "host", "transport": "tcp", "watch": ["loop_count"]})
        assert [e for e in c.events if e["event"] == "progressStart"]
        assert [e for e in c.events if e["event"] == "progressEnd"]
        assert c.request("firmwatch.evaluateLive", {"expression": "loop_count"})["value"] is not None
        status = c.wait_event("firmwatch.status", timeout=5)["body"]
        assert status["transport"] == "tcp" and "socket://" in status["target"]


def test_port_option_serves_dap_over_tcp_on_localhost(host_device: sim.SimDevice) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "firmwatch.dap", "--port", str(port)],
                            stderr=subprocess.PIPE, env={**os.environ, "FIRMWATCH_DAP_ONCE": "1"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert f"127.0.0.1:{port}" in line
        with socket.create_connection(("127.0.0.1", port)) as conn:
            f = conn.makefile("rwb")
            msg = json.dumps({"seq": 1, "type": "request", "command": "initialize", "arguments": {"adapterID": "x"}})
            f.write(b"Content-Length: %d\r\n\r\n%s" % (len(msg), msg.encode()))
            f.flush()
            header = f.readline()
            n = int(header.split(b":")[1])
            f.readline()
            body = json.loads(f.read(n))
            assert body["command"] == "initialize" and body["body"]["supportsReadMemoryRequest"] is True
            f.close()  # the socket only closes once its file is closed too
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_device_text_between_frames_becomes_output(host_build: Path) -> None:
    from streamer_fake import FakeDevice

    dev = FakeDevice()
    dev.junk_between = b"fw: sampling\r\n"  # the firmware's own printf between the streamer's frames
    try:
        with DapClient() as c:
            c.start("attach", {"elf": str(host_build / "demo.elf"), "transport": "serial", "port": dev.port,
                               "verifyBuildId": "off", "watch": ["0x20000000:4"]})
            ev = c.wait_event("output", lambda e: e["body"]["category"] == "stdout", timeout=10)
            assert ev["body"]["output"] == "fw: sampling\n"
            dev.poke(0x20000000, (1234).to_bytes(4, "little"))
            wait_for(lambda: watch(c, "0x20000000:4")["result"] == "1234", 5, "the raw watch")
    finally:
        dev.close()


def test_watches_no_longer_evaluated_stop_being_sampled(host_device: sim.SimDevice) -> None:
    """DAP cannot say "watch removed": one VS Code stops evaluating is dropped; pinned ones stay."""
    with DapClient(env={"FIRMWATCH_DAP_WATCH_EXPIRY_S": "1"}) as c:
        c.start("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port,
                           "watch": ["heartbeat_counter"], "uiRefreshHz": 20})
        watch(c, "loop_count")
        watch(c, "accel_x")

        def sampled() -> set[str]:
            doc = c.request("source", {"sourceReference": 1})["content"]
            return {w for w in ("loop_count", "accel_x", "heartbeat_counter") if re.search(rf"^{w}\s", doc, re.M)}

        assert sampled() == {"loop_count", "accel_x", "heartbeat_counter"}
        deadline = time.monotonic() + 15
        while "accel_x" in sampled():  # keep evaluating loop_count only, as the Watch view would
            assert time.monotonic() < deadline, "accel_x was never dropped"
            mark = c.mark()
            c.wait_event("invalidated", timeout=5, after=mark)
            watch(c, "loop_count")
        assert sampled() == {"loop_count", "heartbeat_counter"}
        # evaluating it again brings it back
        watch(c, "accel_x")
        assert "accel_x" in sampled()


def test_a_watch_whose_samples_stopped_says_so(host_build: Path) -> None:
    dev = sim.start_sim("host", build_dir=host_build)
    try:
        with DapClient() as c:
            c.start("attach", {"elf": str(dev.elf), "transport": "serial", "port": dev.port, "watch": ["loop_count"]})
            assert "no new sample" not in watch(c, "loop_count")["result"]
            c.wait_event("firmwatch.status", lambda e: e["body"]["rateHz"] > 0, timeout=10)  # samples flow
            dev.stop()
            c.wait_event("firmwatch.status", lambda e: e["body"]["link"] == "reconnecting", timeout=10)
            got = wait_for(lambda: "no new sample" in (r := watch(c, "loop_count")["result"]) and r, 10,
                           "the stale marker")
            assert re.match(r"^\d+  \(no new sample for \d+ s\)$", got)
    finally:
        dev.stop()


def test_live_thread_stays_stopped_and_breakpoints_say_why_they_do_not_bind(client: DapClient) -> None:
    bps = client.request("setBreakpoints", {"source": {"path": "demo.c"}, "breakpoints": [{"line": 100}]})
    assert bps["breakpoints"][0]["verified"] is False and "gdb" in bps["breakpoints"][0]["message"]
    for command in ("continue", "next", "pause"):
        mark = client.mark()
        body = client.request(command, {"threadId": 1})
        if command == "continue":
            assert body["allThreadsContinued"] is False
        ev = client.wait_event("stopped", timeout=5, after=mark)
        assert ev["body"]["threadId"] == 1 and ev["body"]["allThreadsStopped"] is False
    assert client.request("threads")["threads"] == [{"id": 1, "name": "Live"}]


def test_cancel_reaches_a_queued_request(host_device: sim.SimDevice) -> None:
    with DapClient() as c:
        c.request("initialize", {"adapterID": "firmwatch"})
        # the attach and its cancel in one write: the cancel is read while the attach still waits
        attach = {"seq": 100, "type": "request", "command": "attach",
                  "arguments": {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port}}
        # requests queued in front keep the worker busy while the reader reads on to the cancel
        ahead = [{"seq": 50 + i, "type": "request", "command": "completions", "arguments": {"text": "x", "column": 1}}
                 for i in range(40)]
        cancel = {"seq": 101, "type": "request", "command": "cancel", "arguments": {"requestId": 100}}
        c.send_raw(b"".join(b"Content-Length: %d\r\n\r\n%s" % (len(json.dumps(m)), json.dumps(m).encode())
                            for m in (*ahead, attach, cancel)))
        r = c.response(100, timeout=10)
        assert r["success"] is False and r["message"] == "cancelled"
        assert c.response(101, timeout=10)["success"] is True
        # not attached, and still serving: a second attach works
        c.request("attach", {"elf": str(host_device.elf), "transport": "serial", "port": host_device.port})
        c.request("configurationDone")
        c.wait_event("stopped", timeout=10)


def test_build_id_mismatch_refused_or_warned(host_build: Path) -> None:
    from streamer_fake import FakeDevice

    dev = FakeDevice()  # reports build id 01020304, not the ELF's
    try:
        with DapClient() as c:
            c.request("initialize", {"adapterID": "firmwatch"})
            base = {"elf": str(host_build / "demo.elf"), "transport": "serial", "port": dev.port}
            r = c.request_raw("attach", {**base, "verifyBuildId": "error"})
            assert r["success"] is False and "different build" in r["message"]
            assert r["body"]["error"]["showUser"] is True
            c.request("attach", {**base, "verifyBuildId": "warn"})
            c.request("configurationDone")
            ev = c.wait_event("output", lambda e: "different build" in e["body"]["output"], timeout=5)
            assert ev["body"]["category"] == "important"
            assert c.wait_event("firmwatch.status", timeout=5)["body"]["buildId"] == "MISMATCH"
    finally:
        dev.close()


def test_a_killed_adapter_leaves_no_simulated_device_behind():
    import signal

    client = DapClient()
    try:
        client.start("launch", {"sim": "host"})
        text = client.outputs()
        deadline = time.monotonic() + 20
        while "device started (pid" not in text and time.monotonic() < deadline:
            time.sleep(0.05)
            text = client.outputs()
        pid = int(re.search(r"device started \(pid (\d+)\)", text).group(1))
        os.kill(pid, 0)  # running
        client.proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the simulated device outlived the killed adapter")
    finally:
        client.close()
