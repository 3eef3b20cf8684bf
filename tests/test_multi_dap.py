"""Two debug adapters at once, as a VS Code compound launch runs them: two host devices, each its
own adapter process and session. Their ``firmwatch.samples`` carry host times on one axis, and
their recordings (Parquet here) name the device by the launch configuration's name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dap_client import DapClient
from firmwatch import sim
from firmwatch.session.formats import read
from tools import require_tool, wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture
def two() -> Iterator[list[sim.SimDevice]]:
    require_tool("gcc")
    devs = []
    try:
        for _ in range(2):
            devs.append(sim.start_sim("host"))
        yield devs
    finally:
        for d in devs:
            d.stop()


def test_two_adapters_share_the_host_axis_and_name_their_devices(two, tmp_path: Path) -> None:
    with DapClient() as gw, DapClient() as n1:
        for c, name, dev in ((gw, "gw", two[0]), (n1, "n1", two[1])):
            c.start("attach", {"name": name, "elf": str(dev.elf), "transport": "serial", "port": dev.port,
                               "uiRefreshHz": 20})
        outs = {}
        for c, name in ((gw, "gw"), (n1, "n1")):
            p = c.request("firmwatch.plot", {"expression": "accel_x"})
            outs[name] = tmp_path / f"{name}.parquet"
            c.request("firmwatch.startRecording", {"path": str(outs[name])})
            c.watch_id = p["watchId"]  # type: ignore[attr-defined]
        newest = {}
        marks = {name: c.mark() for c, name in ((gw, "gw"), (n1, "n1"))}
        now = time.time()
        for c, name in ((gw, "gw"), (n1, "n1")):
            ev = c.wait_event("firmwatch.samples", lambda e, c=c: any(s["watchId"] == c.watch_id and len(s["h"]) >= 2
                                                                         for s in e["body"]["series"]), timeout=10,
                              after=marks[name])
            s = next(x for x in ev["body"]["series"] if x["watchId"] == c.watch_id)
            assert len(s["h"]) == len(s["t"]) == len(s["v"])
            # Unix time: samples sent after the mark were taken about then (a busy machine delays them)
            assert s["h"] == sorted(s["h"]) and -5.0 < s["h"][-1] - now < 10.0
            newest[name] = s["h"][-1]
        # the two devices' clocks started at different moments; on the host axis they are together
        assert abs(newest["gw"] - newest["n1"]) < 5.0
        wait_for(lambda: all(len(list(Path(str(o) + ".parts").glob("part-*.parquet"))) >= 1 for o in outs.values()),
                 15, "a row group of each recording")
        for c, name in ((gw, "gw"), (n1, "n1")):
            stopped = c.request("firmwatch.stopRecording")
            rows = list(read(str(outs[name])).rows())
            assert len(rows) == stopped["rows"] > 0
            assert {r[1] for r in rows} == {name}
            # the accel_x samples, and the memory figures the adapter records beside them
            assert sum(r[5] == "accel_x" for r in rows) > 0
            assert {r[5] for r in rows} - {"accel_x"} == {r[5] for r in rows if r[5].startswith("memory.")}
