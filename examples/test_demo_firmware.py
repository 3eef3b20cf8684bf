"""A hardware-in-the-loop test suite for the demo firmware, with firmwatch's pytest plugin.

    pytest examples/test_demo_firmware.py --firmwatch-sim host
    pytest examples/test_demo_firmware.py --firmwatch-elf build/app.elf --firmwatch-port /dev/ttyACM0 \\
        --junitxml=out/junit.xml

The `firmwatch_device` fixture is the connected device (one for the run); a failing
`assert_stays`/`assert_reaches` prints what the firmware did, and the samples it saw are written
as a CSV next to the junit report.
"""

from __future__ import annotations

import pytest

import firmwatch

STATES = ["FSM_IDLE", "FSM_SAMPLING", "FSM_FILTERING", "FSM_TRANSMIT", "FSM_SLEEP"]


@pytest.fixture
def dev(firmwatch_device: firmwatch.Device):
    """The device, with the calibration and the memory knobs put back after each test."""
    saved = firmwatch_device.read("g_config.calib")
    yield firmwatch_device
    firmwatch_device.write("g_config.calib", saved)
    firmwatch_device.write("demo_stack_depth", 0)


def test_the_firmware_is_the_elf(dev):
    assert dev.build_id_status == "match"
    assert dev.read("g_config.magic") == 0xC0FFEE01


def test_the_state_machine_visits_every_state_in_order(dev):
    seen = []
    for s in dev.watch("fsm_state", rate=100, duration=1.6):
        if not seen or seen[-1] != s.value:
            seen.append(s.value)
    start = STATES.index(seen[0])
    assert seen[:6] == [STATES[(start + i) % 5] for i in range(len(seen[:6]))]
    assert set(seen) == set(STATES)


def test_the_accelerometer_z_axis_reads_one_g(dev):
    dev.assert_stays("accel_z", within=(940, 1060), for_s=1.0)


def test_a_new_calibration_takes_effect(dev):
    dev.write("g_config.calib", {"gain_q8": 384, "offset": 100})
    dev.assert_reaches("accel_x", lambda v: v > 1500, within_s=2)
    dev.assert_stays("accel_x", within=(-1400 - 100, 1500 + 100), for_s=1.0)


def test_the_millisecond_clock_keeps_time(dev):
    """timestamp_ms, counted by the firmware's tick, against the time the device stamps its samples with."""
    rec = dev.record("timestamp_ms", duration=1.5, rate=50, table="rows")
    times, values = rec.series("timestamp_ms")
    assert not rec.loss, rec.loss.describe()
    assert len(values) >= 50
    assert abs((values[-1] - values[0]) - 1000 * (times[-1] - times[0])) <= 1


def test_deep_recursion_keeps_a_safe_stack_margin(dev):
    dev.write("demo_stack_depth", 40)
    dev.assert_reaches("demo_stack_reached", 40, within_s=2)
    health = dev.memory_health(threshold=1024)
    assert health.value("stack.used") > 40 * 32
    assert not health.warnings, health.warnings
