"""One cell of the corruption sweep: connect N times through a corrupting relay, record the
demo's watches, and judge every recorded value and every loss count.

The recording goes through the same Session and Recorder as ``firmwatch record`` (a CSV on
disk, read back); the session ends with ``Session.finish()`` so the loss it reports covers
exactly the samples up to the device tick of its final STATUS, which is what the recording
is compared with. Used by tests/test_faults_corruption.py and bench/faults.py.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fault_relay import WATCHES, CorruptingRelay, DemoOracle, check_rows, read_csv
from firmwatch.session.session import Session
from firmwatch.symbols.program import Program
from firmwatch.targets.base import TargetError
from firmwatch.targets.streamer import StreamerTarget


@dataclass
class Cell:
    mode: str
    rate: float
    connects: int = 0
    connect_failures: list[str] = field(default_factory=list)
    rows: int = 0
    wrong: list[str] = field(default_factory=list)
    reported_missing: int = 0  # timestamp_ms@1000: what the session said was missing
    actual_missing: int = 0  # ... and what the recording shows (every tick is due at 1 kHz)
    lost_frames: int = 0
    corrupt: int = 0
    device_dropped: int = 0
    damaged_bytes: int = 0
    seconds: float = 0.0

    @property
    def loss_agrees(self) -> bool:
        return self.reported_missing == self.actual_missing


def slower(watches: tuple[tuple[str, float], ...], factor: float) -> tuple[tuple[str, float], ...]:
    """The same watches at ``factor`` of their rates (an emulated UART carries less)."""
    return tuple((name, rate * factor) for name, rate in watches)


def run_cell(device_port: str, program: Program, mode: str, rate: float, connects: int = 30,
             seconds: float = 0.3, seed: int = 1, watches: tuple[tuple[str, float], ...] = WATCHES) -> Cell:
    cell = Cell(mode, rate)
    oracle = DemoOracle()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="firmwatch-sweep-") as tmp, \
            CorruptingRelay(device_port, rate=rate, seed=seed) as relay:  # fmt: skip
        for i in range(connects):
            csv_path = Path(tmp) / f"run{i}.csv"
            try:
                target = StreamerTarget(relay.port, mode=mode)
            except TargetError as e:
                cell.connect_failures.append(str(e))
                continue
            cell.connects += 1
            session = Session(program, target, verify_build_id="warn")
            try:
                session.start_recording(str(csv_path))
                session.add_watches(list(watches))
                ts = session.find_watch("timestamp_ms")
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    time.sleep(0.02)
                st = session.finish()
                session.stop_recording()
            except TargetError as e:  # a command that failed 30 times over: said, not hidden
                cell.connect_failures.append(f"during the recording: {e}")
                session.close()
                target.close()
                continue
            session.close()
            target.close()
            rows = read_csv(csv_path)
            verdict = check_rows(rows, oracle)
            cell.rows += verdict.rows
            cell.wrong += verdict.wrong
            ticks = verdict.ticks.get("timestamp_ms", [])
            if ts is not None and ticks and st.device_ticks is not None:
                # timestamp_ms is the tick: at a rate dividing the tick rate every k-th tick from
                # the first one recorded is due, up to the final STATUS's tick
                due = (st.device_ticks - ticks[0]) * round(ts.rate_hz * 1000) // 1_000_000 + 1
                cell.reported_missing += ts.stats.missing
                cell.actual_missing += due - len(set(ticks))
            cell.lost_frames += st.lost
            cell.corrupt += st.corrupt_frames
            cell.device_dropped += st.device_dropped
        cell.damaged_bytes = relay.to_host.total + relay.to_device.total
    cell.seconds = time.monotonic() - started
    return cell
