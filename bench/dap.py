"""Debug adapter cost and latency with the host device and 20 watches, measured in one run.

    python bench/dap.py [--seconds S]

For uiRefreshHz 10 and 30 it starts ``python -m firmwatch.dap`` (attached over the host
device's pty) and a client that behaves like VS Code's Watch view: on every ``invalidated``
event it sends ``scopes`` and re-evaluates all 20 watches. Measured:

* adapter CPU: utime+stime of the adapter process from /proc over a fixed window, as % of one core;
* watch ``evaluate`` latency (request sent → response read), p50/p95;
* change → invalidated: a value the firmware never changes (``g_config.sample_period_ms``) is
  changed behind the adapter's back through a second link — /proc/PID/mem of the host device —
  and the time to the first ``invalidated`` event after which the watch shows the new value is
  taken; also the same through the adapter itself (``setExpression``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dap_client import DapClient  # noqa: E402
from firmwatch import sim  # noqa: E402

WATCHES = [
    "timestamp_ms", "event_counter64", "uptime_s", "heartbeat_counter", "loop_count", "sensor_temp",
    "temp_celsius", "accel_x", "accel_y", "accel_z", "fsm_state", "button_state", "g_pair.a", "g_pair.b",
    "g_config.magic", "g_config.calib.offset", "g_config.calib.gain_q8", "g_config.alarm_threshold",
    "g_config.mode", "g_config.sample_period_ms",
]
PROBE = "g_config.sample_period_ms"
GOAL_CPU_PCT = 10.0
GOAL_EVAL_P95_MS = 2.0
GOAL_CHANGE_MS = 120.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class ViewClient:
    """Answers every invalidated event the way VS Code does, timing each evaluate."""

    def __init__(self, c: DapClient):
        self.c = c
        self.latencies: list[float] = []
        self.rounds = 0
        self.expect: tuple[str, float] | None = None  # (value text, t0)
        self.change_latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen = self.c.mark()
        while not self._stop.is_set():
            try:
                ev = self.c.wait_event("invalidated", timeout=1.0, after=seen)
            except TimeoutError:
                continue
            seen = self.c.events.index(ev) + 1
            t_inv = ev["_t"]
            # take only the newest pending event: VS Code coalesces too
            self.c.request("scopes", {"frameId": 1})
            probe_value = None
            for expr in WATCHES:
                t0 = time.perf_counter()
                r = self.c.request("evaluate", {"expression": expr, "context": "watch", "frameId": 1})
                self.latencies.append((time.perf_counter() - t0) * 1000.0)
                if expr == PROBE:
                    probe_value = r["result"]
            self.rounds += 1
            exp = self.expect
            if exp is not None and probe_value == exp[0] and t_inv >= exp[1]:
                self.change_latencies.append((t_inv - exp[1]) * 1000.0)
                self.expect = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def poke(pid: int, address: int, value: int) -> None:
    """The second link: write the device's memory without the adapter (a Linux process: /proc/PID/mem)."""
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
        f.seek(address)
        f.write(value.to_bytes(2, "little"))


def run(ui_hz: float, seconds: float, dev: sim.SimDevice, trials: int) -> dict[str, Any]:
    with DapClient() as c:
        c.start("attach", {"elf": str(dev.elf), "transport": "serial", "port": dev.port, "watch": WATCHES,
                           "uiRefreshHz": ui_hz})
        view = ViewClient(c)
        c.wait_event("invalidated", timeout=10)
        time.sleep(1.0)  # settle: every watch streaming, caches warm (a measurement window, not a sync)
        view.latencies.clear()
        pid = c.proc.pid
        cpu0, t0, r0 = cpu_seconds(pid), time.monotonic(), view.rounds
        time.sleep(seconds)
        cpu1, t1, r1 = cpu_seconds(pid), time.monotonic(), view.rounds
        lat = list(view.latencies)
        address = int(c.request("evaluate", {"expression": f"&{PROBE}", "context": "repl"})["result"].split()[0], 16)
        # changes behind the adapter's back
        for i in range(trials):
            value = 1000 + i
            view.expect = (str(value), time.monotonic())
            poke(dev.pid, address, value)
            deadline = time.monotonic() + 3
            while view.expect is not None and time.monotonic() < deadline:
                time.sleep(0.005)
            view.expect = None
            time.sleep(0.05 + (i % 7) * 0.013)  # spread the change across the refresh phase
        second_link = list(view.change_latencies)
        view.change_latencies.clear()
        # changes through the adapter (Set Value in the Watch view)
        for i in range(trials):
            value = 2000 + i
            view.expect = (str(value), time.monotonic())
            c.request("setExpression", {"expression": PROBE, "value": str(value)})
            deadline = time.monotonic() + 3
            while view.expect is not None and time.monotonic() < deadline:
                time.sleep(0.005)
            view.expect = None
            time.sleep(0.05 + (i % 7) * 0.013)
        via_adapter = list(view.change_latencies)
        view.stop()
    return {"ui_hz": ui_hz, "cpu_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0), "rounds_per_s": (r1 - r0) / (t1 - t0),
            "eval_p50": pct(lat, 0.5), "eval_p95": pct(lat, 0.95), "evals": len(lat),
            "change_p50": pct(second_link, 0.5), "change_p95": pct(second_link, 0.95), "changes": len(second_link),
            "write_p50": pct(via_adapter, 0.5), "write_p95": pct(via_adapter, 0.95), "trials": trials}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="CPU measurement window per rate (default 10)")
    ap.add_argument("--trials", type=int, default=30, help="value changes per method (default 30)")
    args = ap.parse_args()
    with sim.start_sim("host") as dev:
        results = [run(hz, args.seconds, dev, args.trials) for hz in (10.0, 30.0)]
    print(f"firmwatch DAP adapter, host device, {len(WATCHES)} watches, client re-evaluating every watch on each "
          f"invalidated event ({args.seconds:g} s window, {args.trials} value changes per method)")
    print()
    print(f"{'metric':<46} {'measured':>10} {'goal':>8} {'ratio':>7}")
    for r in results:
        hz = r["ui_hz"]
        rows = [
            (f"adapter CPU at uiRefreshHz {hz:g} (% of one core)", r["cpu_pct"], GOAL_CPU_PCT if hz == 10 else None),
            (f"refresh rounds/s at uiRefreshHz {hz:g}", r["rounds_per_s"], None),
            (f"watch evaluate p50 (ms) at {hz:g} Hz", r["eval_p50"], None),
            (f"watch evaluate p95 (ms) at {hz:g} Hz", r["eval_p95"], GOAL_EVAL_P95_MS),
            (f"change→invalidated p50 (ms), 2nd link, {hz:g} Hz", r["change_p50"], GOAL_CHANGE_MS if hz == 10 else None),
            (f"change→invalidated p95 (ms), 2nd link, {hz:g} Hz", r["change_p95"], None),
            (f"setExpression→invalidated p50 (ms) at {hz:g} Hz", r["write_p50"], None),
        ]
        for name, value, goal in rows:
            ratio = f"{value / goal:6.2f}x" if goal else ""
            goal_s = f"< {goal:g}" if goal else ""
            print(f"{name:<46} {value:>10.2f} {goal_s:>8} {ratio:>7}")
        print(f"{'  (evaluates measured / changes seen)':<46} {r['evals']:>10} {r['changes']:>5}/{r['trials']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
