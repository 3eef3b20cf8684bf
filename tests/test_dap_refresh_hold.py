"""Holding the live refresh (issue 20), through the real ``python -m firmwatch.dap`` process
attached to the host simulated device.

VS Code re-renders every Watch and Variables row at each ``invalidated`` event; an open context
menu, an inline edit box and the extension's input boxes need the rows to stay put. The adapter
therefore holds ``invalidated`` on ``firmwatch.holdRefresh`` (until ``firmwatch.resumeRefresh`` or
a lease), and on ``dataBreakpointInfo`` (VS Code asks it right before it opens a Variables context
menu) for ``MENU_HOLD_S``. Samples and status keep flowing while refresh is held.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dap_client import DapClient
from firmwatch import sim
from firmwatch.dap.live import MENU_HOLD_S

pytestmark = [pytest.mark.slow]

WINDOW_S = 1.5  # how long "no refresh" is observed: several refresh periods at 20 Hz


def attach(c: DapClient, device: sim.SimDevice) -> None:
    c.start("attach", {"elf": str(device.elf), "transport": "serial", "port": device.port, "uiRefreshHz": 20})


@pytest.fixture
def client(host_device: sim.SimDevice) -> Iterator[DapClient]:
    with DapClient() as c:
        attach(c, host_device)
        # a watch that changes all the time, answered after every refresh as VS Code does
        c.request("evaluate", {"expression": "loop_count", "context": "watch", "frameId": 1})
        c.on_event = lambda e: e["event"] == "invalidated" and c.send(
            {"type": "request", "command": "evaluate",
             "arguments": {"expression": "loop_count", "context": "watch", "frameId": 1}})
        yield c


def invalidated_between(c: DapClient, start: int, end: int | None = None) -> list[dict]:
    return [e for e in c.events[start:end] if e["event"] == "invalidated"]


def events_in_window(c: DapClient, seconds: float) -> tuple[int, int]:
    """(first, last) event indexes of a measurement window (not synchronisation)."""
    first = c.mark()
    time.sleep(seconds)
    return first, c.mark()


def test_hold_stops_refresh_samples_go_on_and_resume_refreshes_at_once(client: DapClient) -> None:
    start, end = events_in_window(client, WINDOW_S)
    assert len(invalidated_between(client, start, end)) >= 5  # refreshing at up to 20 Hz

    plot = client.request("firmwatch.plot", {"expression": "accel_x"})
    r = client.request("firmwatch.holdRefresh", {"id": "t1", "reason": "editing accel_x", "seconds": 60})
    assert r == {"held": ["editing accel_x"]}
    status = client.wait_event("firmwatch.status", lambda e: e["body"]["held"] == ["editing accel_x"], timeout=2)
    assert status["body"]["link"] == "up"
    start, end = events_in_window(client, WINDOW_S)
    assert invalidated_between(client, start, end) == []
    # the plot's full-rate samples and the status keep coming while the views wait
    got = [e for e in client.events[start:end] if e["event"] == "firmwatch.samples"
           and any(s["watchId"] == plot["watchId"] for s in e["body"]["series"])]
    assert len(got) >= 10
    assert any(e["event"] == "firmwatch.status" for e in client.events[start:end])

    mark = client.mark()
    t0 = time.monotonic()
    assert client.request("firmwatch.resumeRefresh", {"id": "t1"}) == {"held": []}
    client.wait_event("invalidated", timeout=2, after=mark)
    assert time.monotonic() - t0 < 0.5  # at once, not after a pacing period
    client.wait_event("firmwatch.status", lambda e: e["body"]["held"] == [], timeout=2, after=mark)


def test_holds_stack_expire_by_lease_and_resume_without_id_ends_all(client: DapClient) -> None:
    client.request("firmwatch.holdRefresh", {"id": "a", "reason": "first", "seconds": 60})
    r = client.request("firmwatch.holdRefresh", {"id": "b", "reason": "second", "seconds": 0.8})
    assert r["held"] == ["first", "second"]
    assert client.request("firmwatch.resumeRefresh", {"id": "a"}) == {"held": ["second"]}
    mark = client.mark()
    t0 = time.monotonic()
    client.wait_event("invalidated", timeout=5, after=mark)  # "second" runs out by itself
    assert time.monotonic() - t0 >= 0.6
    client.request("firmwatch.holdRefresh", {"id": "c", "reason": "third", "seconds": 60})
    client.request("firmwatch.holdRefresh", {"id": "d", "reason": "fourth", "seconds": 60})
    assert client.request("firmwatch.resumeRefresh", {}) == {"held": []}
    client.wait_event("invalidated", timeout=2, after=client.mark())


def test_a_context_menu_holds_refresh_until_its_command_resumes_or_the_lease_ends(client: DapClient) -> None:
    globals_ref = client.request("scopes", {"frameId": 1})["scopes"][0]["variablesReference"]
    files = client.request("variables", {"variablesReference": globals_ref})["variables"]
    demo = next(v for v in files if v["name"].endswith("demo.c"))
    names = client.request("variables", {"variablesReference": demo["variablesReference"]})["variables"]
    accel = next(v for v in names if v["name"] == "accel_x")
    # what VS Code sends right before it shows the context menu of a Variables row
    info = client.request("dataBreakpointInfo", {"name": accel["name"], "variablesReference": demo["variablesReference"]})
    assert info["dataId"] is None  # no data breakpoints without gdb: the menu offers none
    client.wait_event("firmwatch.status", lambda e: e["body"]["held"] == ["context menu open"], timeout=2)
    start, end = events_in_window(client, WINDOW_S)
    assert invalidated_between(client, start, end) == []
    mark = client.mark()
    client.request("firmwatch.resumeRefresh", {"id": "menu"})  # the menu's command took over
    client.wait_event("invalidated", timeout=2, after=mark)

    # a menu dismissed with Escape: the lease ends the hold by itself
    client.request("dataBreakpointInfo", {"name": accel["name"], "variablesReference": demo["variablesReference"]})
    mark = client.mark()
    t0 = time.monotonic()
    client.wait_event("invalidated", timeout=MENU_HOLD_S + 3, after=mark)
    assert MENU_HOLD_S - 0.5 <= time.monotonic() - t0 <= MENU_HOLD_S + 2


def test_a_write_while_held_is_shown_when_the_hold_ends(client: DapClient) -> None:
    client.request("firmwatch.holdRefresh", {"id": "w", "reason": "set value", "seconds": 60})
    mark = client.mark()
    r = client.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "300"})
    assert r["value"] == "300"
    start, end = events_in_window(client, 1.0)
    assert invalidated_between(client, mark) == []
    mark = client.mark()
    client.request("firmwatch.resumeRefresh", {"id": "w"})
    client.wait_event("invalidated", timeout=2, after=mark)
    back = client.request("evaluate", {"expression": "g_config.calib.gain_q8", "context": "watch", "frameId": 1})
    assert back["result"] == "300"
    client.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "256"})


def test_the_extension_owns_edits_and_every_client_gets_the_menu_cue(host_device: sim.SimDevice) -> None:
    with DapClient() as plain:
        attach(plain, host_device)
        caps = plain.capabilities
        assert caps["supportsSetVariable"] and caps["supportsSetExpression"] and caps["supportsDataBreakpoints"]
    with DapClient(env={"FIRMWATCH_DAP_UI": "vscode-extension"}) as ours:
        attach(ours, host_device)
        caps = ours.capabilities
        # VS Code's own Set Value disappears; the extension's writes still go through
        assert not caps["supportsSetVariable"] and not caps["supportsSetExpression"]
        assert caps["supportsDataBreakpoints"]
        assert ours.request("setExpression", {"expression": "g_config.calib.gain_q8", "value": "256"})["value"] == "256"
