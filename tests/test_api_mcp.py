"""The MCP server (python -m firmwatch.mcp) through the official SDK's own client over stdio, as an
agent runs it: a real server process against the host device over a real pty. Checked: the tools
offered (write only with --allow-write), values and summaries that agree with the firmware, a
recording that is the file it names, and errors that are one sentence after which the server
still answers."""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters  # the test extra installs the SDK: missing, this fails
from mcp.client.stdio import stdio_client

from tools import sim_command

READ_ONLY_TOOLS = {"list_symbols", "search_symbols", "ptype", "read", "watch", "record", "memory_health",
                   "device_info"}


@pytest.fixture(scope="module")
def host():
    yield from sim_command("host", 180)


def with_server(args: list[str], body: Callable[[ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "firmwatch.mcp", *args])
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            await asyncio.wait_for(body(session), timeout=180)

    asyncio.run(main())


async def call(s: ClientSession, tool: str, **args: Any) -> dict[str, Any]:
    res = await s.call_tool(tool, args)
    assert not res.is_error, res.content[0].text
    assert res.structured_content is not None
    return res.structured_content


async def error(s: ClientSession, tool: str, **args: Any) -> str:
    res = await s.call_tool(tool, args)
    assert res.is_error
    text = res.content[0].text
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_read_only_server(host, tmp_path):
    port, elf = host

    async def body(s: ClientSession) -> None:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert tools == READ_ONLY_TOOLS, "no write tool without --allow-write"
        syms = await call(s, "list_symbols", pattern="accel*")
        assert sorted(x["name"] for x in syms["symbols"]) == ["accel_x", "accel_y", "accel_z"]
        assert all(x["type"] == "volatile int16_t" and x["size"] == 2 for x in syms["symbols"])
        found = await call(s, "search_symbols", text="config")
        assert found["symbols"][0]["name"] == "g_config"
        t = await call(s, "ptype", expression="g_config")
        assert t["size"] == 24 and t["members"][0] == {"name": "magic", "offset": 0, "size": 4, "type": "uint32_t"}
        v = await call(s, "read", expression="g_config")
        assert v["value"]["magic"] == 0xC0FFEE01 and v["value"]["calib"] == {"offset": 0, "gain_q8": 256}
        assert v["value"]["channel_map"] == [0, 1, 2, 3] and v["type"] == "volatile config_t"
        state = await call(s, "read", expression="fsm_state")
        assert state["value"] in ("FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP")
        text = await error(s, "read", expression="no_such_variable")
        assert "no_such_variable" in text
        text = await error(s, "write", expression="g_config.calib.offset", value="3")
        assert "write" in text
        assert (await call(s, "read", expression="sine_table[16]"))["value"] == 1000, "still answering"

        w = await call(s, "watch", expressions=["accel_x", "fsm_state", "g_config.calib"], seconds=1.5, rate_hz=100)
        ax = w["expressions"]["accel_x"]
        span = ax["last_device_time_s"] - ax["first_device_time_s"]
        assert abs((ax["samples"] - 1) - 100 * span) <= 1, ax
        assert -1000 <= ax["min"] < -900 and 900 < ax["max"] <= 1000, "a whole sine period was seen"
        assert ax["min"] <= ax["mean"] <= ax["max"] and isinstance(ax["last"], int)
        fsm = w["expressions"]["fsm_state"]
        assert fsm["min"] == 0 and fsm["max"] == 4 and isinstance(fsm["last"], str)
        cal = w["expressions"]["g_config.calib"]
        assert cal["min"] is None and cal["last"] == {"offset": 0, "gain_q8": 256}, "an aggregate has no min"
        assert w["lost_total"] == 0 and w["loss"]["text"] == "nothing lost"

        out = tmp_path / "rec.csv"
        rec = await call(s, "record", expressions=["accel_y", "temp_celsius"], seconds=1.0, rate_hz=50,
                         path=str(out))
        assert rec["path"] == str(out)
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == rec["rows"] and list(rows[0]) == rec["columns"]
        assert rec["expressions"]["accel_y"]["samples"] == sum(r["name"] == "accel_y" for r in rows)
        assert rec["loss"]["text"] == "nothing lost"

        mem = await call(s, "memory_health")
        assert mem["figures"]["stack.used"]["value"] > 0 and mem["figures"]["stack.used"]["source"]
        info = await call(s, "device_info")
        assert info["transport"] == "serial" and info["build_id_status"] == "match" and not info["write_allowed"]

    with_server([elf, "--port", port], body)


def test_write_needs_the_flag_and_is_checked(host):
    port, elf = host

    async def body(s: ClientSession) -> None:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert tools == READ_ONLY_TOOLS | {"write"}
        try:
            r = await call(s, "write", expression="g_config.calib.gain_q8", value="300")
            assert r["read_back"] == 300 and r["display"] == "300"
            r = await call(s, "write", expression="g_config.calib", value='{"offset": -5, "gain_q8": 260}')
            assert r["read_back"] == {"offset": -5, "gain_q8": 260}
            assert "65535" in await error(s, "write", expression="g_config.calib.gain_q8", value="70000")
            assert "const" in await error(s, "write", expression="sine_table[0]", value="1")
            assert "JSON" in await error(s, "write", expression="g_config.calib", value="{offset: 1}")
            assert (await call(s, "read", expression="g_config.calib"))["value"] == {"offset": -5, "gain_q8": 260}
        finally:
            await call(s, "write", expression="g_config.calib", value='{"offset": 0, "gain_q8": 256}')

    with_server([elf, "--port", port, "--allow-write"], body)


def test_elf_only_server(host):
    _, elf = host

    async def body(s: ClientSession) -> None:
        found = await call(s, "search_symbols", text="heartbeat")
        assert found["symbols"][0]["name"] == "heartbeat_counter"
        assert "--port" in await error(s, "read", expression="heartbeat_counter")

    with_server([elf], body)
