"""Triggered capture and change-only watches through the real debug adapter: the requests the
plot view's scope mode sends (``firmwatch.captureArm`` / ``captureForce`` / ``captureStop``,
``firmwatch.setDeadband``) and the ``firmwatch.captureState`` / ``firmwatch.capture`` events it draws."""

from __future__ import annotations

import pytest

from dap_client import DapClient, DapError
from tools import require_tool

pytestmark = pytest.mark.slow


def test_scope_mode_requests_on_the_host_device() -> None:
    require_tool("cc")
    with DapClient() as c:
        c.start("launch", {"sim": "host", "watch": ["accel_y"]})
        mark = c.mark()
        plan = c.request("firmwatch.captureArm", {"channels": ["accel_y", "fsm_state"], "trigger": "accel_y rising 0",
                                                  "samples": 500, "pre": "20%", "rateHz": 1000}, timeout=60)
        assert plan["where"] == "device" and plan["pre"] == 100 and plan["rateHz"] == 1000 and plan["level"] == 0
        assert plan["triggerChannel"] == 0 and plan["trigger"] == "accel_y rising 0"
        c.wait_event("firmwatch.captureState", lambda e: e["body"]["state"] == "armed", timeout=30, after=mark)
        ev = c.wait_event("firmwatch.capture", timeout=60, after=mark)["body"]
        assert ev["channels"] == ["accel_y", "fsm_state"] and ev["triggerIndex"] == 100 and len(ev["times"]) == 500
        y = ev["values"][0]
        assert y[99] < 0 <= y[100] and ev["times"][100] == 0 and ev["rateHz"] == 1000 and ev["where"] == "device"
        assert "trigger accel_y rising 0 at sample 100" in ev["summary"]
        # normal mode with a forced trigger: captures keep coming until stopped
        mark = c.mark()
        c.request("firmwatch.captureArm", {"channels": ["timestamp_ms"], "samples": 50, "pre": 0, "mode": "normal"},
                  timeout=60)
        first = c.wait_event("firmwatch.capture", timeout=60, after=mark)["body"]
        second = c.wait_event("firmwatch.capture", lambda e: e["body"]["captureId"] == first["captureId"] + 1,
                              timeout=60, after=mark)["body"]
        assert second["values"][0][0] > first["values"][0][-1]
        c.request("firmwatch.captureStop", {})
        with pytest.raises(DapError, match="no capture is armed"):
            c.request("firmwatch.captureForce", {})
        with pytest.raises(DapError, match="names no condition"):
            c.request("firmwatch.captureArm", {"channels": ["accel_y"], "trigger": "accel_y whenever 3"})
        # a deadband: the watch keeps its live value, the device sends it only when it moved
        r = c.request("firmwatch.setDeadband", {"expression": "accel_y", "deadband": 25})
        assert r["filtered"] is True and r["deadband"] == 25
        v = c.request("evaluate", {"expression": "accel_y", "context": "watch", "frameId": 1})["result"]
        assert v.lstrip("-").isdigit()
        r = c.request("firmwatch.setDeadband", {"expression": "accel_y", "deadband": None})
        assert r["filtered"] is False
