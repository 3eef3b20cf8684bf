"""The Python API's examples (examples/) run as a user runs them, against the simulated host device:
the calibration script passes, the demo firmware's pytest suite passes through the plugin, and the
notebook-style recording prints its tables and writes its CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_calibration_script(tmp_path):
    r = run([str(EXAMPLES / "calibration.py")], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "PASS"
    verified = next(line for line in lines if line.startswith("verified:"))
    amplitude = float(verified.split("amplitude ")[1].split()[0])
    assert abs(amplitude - 1500) <= 30, verified


def test_the_demo_firmware_suite(tmp_path):
    junit = tmp_path / "junit.xml"
    r = run(["-m", "pytest", str(EXAMPLES / "test_demo_firmware.py"), "--firmwatch-sim", "host", f"--junitxml={junit}",
             "-p", "no:cacheprovider", "-q"], ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 passed" in r.stdout
    assert junit.exists()


def test_the_recording_notebook(tmp_path):
    r = run([str(EXAMPLES / "record_notebook.py")], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lost: nothing lost" in r.stdout
    dwell = {ln.split()[0]: float(ln.split()[1]) for ln in r.stdout.splitlines() if ln.startswith("FSM_")}
    assert set(dwell) == {"FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP"}, r.stdout
    assert all(abs(ms - 250) <= 10 for ms in dwell.values()), dwell
    with (tmp_path / "accel.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["target_time_s", "accel_x", "accel_y", "accel_z", "temp_celsius"]
    assert len(rows) >= 550  # 3 s at 200 Hz
    assert all(-1000 <= float(r["accel_x"]) <= 1000 for r in rows)
