"""The pytest plugin (entry point pytest11) through pytester: a real inner pytest run, in its own
process, against the host device over a real pty and against the Cortex-M3 demo under QEMU over
its gdb stub. A deliberately failing assertion must fail its test with the observed trace in the
report, and its recording must land as a CSV next to the junit report, named in the junit XML."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import pytest

from firmwatch.session.recorder import COLUMNS
from tools import require_board, sim_command

pytest_plugins = ["pytester"]

SUITE = '''
def test_passes(firmwatch_device):
    firmwatch_device.assert_stays("accel_z", within=(900, 1100), for_s=0.5)
    firmwatch_device.assert_reaches("fsm_state", "FSM_SLEEP", within_s=2)

def test_leaves_the_range(firmwatch_device):
    firmwatch_device.assert_stays("accel_x", within=(-500, 500), for_s=3)

def test_never_reaches(firmwatch_device):
    firmwatch_device.assert_reaches("g_config.magic", 0, within_s=0.3)
'''


@pytest.fixture(scope="module")
def host():
    yield from sim_command("host", 180)


def check_failing_report(result: pytest.RunResult, junit, expect_names: dict[str, set[str]]) -> None:
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # the verdict, then the trace around the sample that broke the range
    assert "AssertionError: accel_x left [-500, 500]" in out, out
    assert "<-- here" in out and "t=" in out
    assert "g_config.magic did not reach == 0 within 0.3 s" in out
    assert "last 3237998081" in out
    assert out.count("firmwatch recording") >= 2
    tree = ET.parse(junit)
    props = {}
    for case in tree.iter("testcase"):
        for p in case.iter("property"):
            props[case.get("name")] = p.get("value")
    assert set(props) == {"test_leaves_the_range", "test_never_reaches"}, props
    for name, path in props.items():
        assert path.startswith(str(junit.parent)), "next to the junit report"
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and list(rows[0]) == list(COLUMNS), path
        assert {r["name"] for r in rows} == expect_names[name], path
        times = [float(r["target_time_s"]) for r in rows]
        assert times == sorted(times)
    with open(props["test_leaves_the_range"], newline="") as f:
        leaves = list(csv.DictReader(f))
    assert any(abs(int(r["value"])) > 500 for r in leaves), "the sample that failed is in the recording"
    assert all(-500 <= int(r["value"]) <= 500 for r in leaves[:-1]), "it stopped at the first one"


def test_plugin_on_the_host_device(pytester: pytest.Pytester, host):
    port, elf = host
    pytester.makepyfile(test_demo=SUITE)
    junit = pytester.path / "out" / "junit.xml"
    result = pytester.runpytest_subprocess("--firmwatch-elf", elf, "--firmwatch-port", port, f"--junitxml={junit}",
                                           "-p", "no:cacheprovider", timeout=240)
    check_failing_report(result, junit, {"test_leaves_the_range": {"accel_x"},
                                         "test_never_reaches": {"g_config.magic"}})


def test_ini_keys_and_function_scope(pytester: pytest.Pytester, host):
    port, elf = host
    pytester.makeini(f"[pytest]\nfirmwatch_elf = {elf}\nfirmwatch_port = {port}\nfirmwatch_scope = function\n"
                     "firmwatch_options =\n    rate=50\n    strict=True\n")
    pytester.makepyfile(test_scope='''
seen = []

def test_one(firmwatch_device):
    seen.append(id(firmwatch_device))
    with firmwatch_device.watch("loop_count", count=2) as w:
        assert w.watches[0].rate_hz == 50
        assert len(list(w)) == 2

def test_two(firmwatch_device):
    seen.append(id(firmwatch_device))
    assert firmwatch_device.build_id_status == "match"

def test_closed_between(firmwatch_device, request):
    import gc
    devices = [o for o in gc.get_objects() if type(o).__name__ == "Device"]
    assert sum(not d.closed for d in devices) == 1, "one device per test"
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=3)


def test_no_device_configured_says_what_to_give(pytester: pytest.Pytester):
    pytester.makepyfile(test_none="def test_x(firmwatch_device):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no firmwatch device is configured: give --firmwatch-port*"])
    pytester.makepyfile(test_bad="def test_x(firmwatch_device):\n    pass\n")
    result = pytester.runpytest_subprocess("test_bad.py", "--firmwatch-port", "/nonexistent/tty", "--firmwatch-elf",
                                           "/nonexistent.elf", "-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*firmwatch could not connect: *nonexistent*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_on_an_emulated_board(pytester: pytest.Pytester):
    require_board("cortex-m3")
    pytester.makepyfile(test_board=SUITE)
    junit = pytester.path / "junit.xml"
    # the board's UART streamer: samples scheduled by the device's tick (over RSP a late round is a
    # sample missing, which assert_stays rightly refuses to overlook; tests/test_api.py covers RSP)
    result = pytester.runpytest_subprocess("--firmwatch-sim", "cortex-m3", f"--junitxml={junit}",
                                           "-p", "no:cacheprovider", timeout=300)
    check_failing_report(result, junit, {"test_leaves_the_range": {"accel_x"},
                                         "test_never_reaches": {"g_config.magic"}})
