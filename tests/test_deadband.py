"""Change-only streaming (issue 13): a per-watch deadband the device applies, a heartbeat so that
silence means "unchanged", a step signal on the host that stays within the deadband, and loss
counts that stay exact under a corrupting link — through the real host device and its pty.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.session.deadband import reconstruct
from firmwatch.session.session import Session, SessionError
from firmwatch.symbols import load
from firmwatch.targets.base import Region, Sample
from firmwatch.targets.streamer import StreamerTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_relay import CorruptingRelay  # noqa: E402
from tools import wait_for  # noqa: E402

pytestmark = pytest.mark.slow


def test_step_signal_stays_within_the_deadband(host: sim.SimDevice) -> None:
    """accel_x (a 1 Hz sine of amplitude 1000) with deadband 20 beside a plain stream of the same
    variable at the same 1 kHz: both are copied in the same tick, so at every reference sample
    the held value is within 20 of it, while far fewer samples cross the link."""
    program = load(str(host.elf))
    with StreamerTarget(host.port) as t:
        notes: list[str] = []
        s = Session(program, t, on_message=lambda level, text: notes.append(text))
        try:
            ref: list[tuple[float, int]] = []
            sid: list[int] = []
            lock = threading.Lock()

            def on_sample(smp: Sample) -> None:
                with lock:
                    if sid and smp.stream == sid[0]:
                        ref.append((smp.target_time, int.from_bytes(smp.data[0], "little", signed=True)))

            t.on_sample(on_sample)
            changes: list[tuple[float, int]] = []
            beats: list[float] = []

            def listener(events: list) -> None:
                for e in events:
                    if e.watch.text == "accel_x":
                        changes.append((e.target_time, e.value().scalar))
                    elif e.watch.text == "g_config.calib.gain_q8":
                        beats.append(e.target_time)

            s.add_listener(listener)
            w = s.add_watch("accel_x", 1000, deadband=20)
            still = s.add_watch("g_config.calib.gain_q8", 100, deadband=0)  # never changes: heartbeats only
            new = t.start_stream([Region(program.find_variable("accel_x").address, 2)], 1000)
            with lock:  # (not around start_stream: the callback runs on the thread that reads its reply)
                sid.append(new)
            wait_for(lambda: len(beats) >= 4, 15, "four heartbeats of a value that never changes")
            s.finish()
            assert w.filtered and still.filtered and not notes
            with lock:
                reference = list(ref)
            held = reconstruct(changes, [tt for tt, _ in reference])
            pairs = [(r, h) for (_, r), h in zip(reference, held) if h is not None]
            assert len(pairs) > 2000
            assert max(abs(r - h) for r, h in pairs) <= 20
            assert len(changes) < 0.5 * len(reference)  # the link carried less than half the samples
            # the heartbeat: a value that never moves is still sent once a second (100 instants at 100 Hz)
            gaps = [b - a for a, b in zip(beats, beats[1:])]
            assert all(abs(g - 1.0) < 0.002 for g in gaps), gaps
            assert still.stats.missing == 0 and w.stats.missing == 0
        finally:
            s.close()


def test_loss_counts_stay_exact_under_a_corrupting_link(host: sim.SimDevice) -> None:
    """The demo's variables as change-only watches through a relay that damages bytes: every frame
    the device produced is received or counted lost (the device's STATUS seq closes the account),
    and watches that may have missed a change say they are stale until their next sample."""
    program = load(str(host.elf))
    with CorruptingRelay(host.port, rate=3e-4, seed=13) as relay, StreamerTarget(relay.port) as t:
        s = Session(program, t)
        frames: set[int] = set()  # the frames that arrived (one may carry several streams' samples)
        t.on_sample(lambda smp: frames.add(smp.seq))
        try:
            seq0 = t.status().seq
            watches = [s.add_watch("accel_x", 1000, deadband=10), s.add_watch("accel_y", 1000, deadband=10),
                       s.add_watch("sensor_temp", 1000, deadband=2), s.add_watch("fsm_state", 1000, deadband=0),
                       s.add_watch("button_state", 1000, deadband=0), s.add_watch("heartbeat_counter", 1000, deadband=0)]
            assert all(w.filtered for w in watches)
            time.sleep(4.0)
            relay.set_rate(0)  # the account closes on a clean link (a frame after the final STATUS is not ours)
            time.sleep(1.0)
            st = s.finish()
            assert relay.to_host.total > 0 and st.corrupt_frames > 0
            produced = (t.last_status.seq - seq0) & 0xFFFF
            received = {f for f in frames if (f - seq0) & 0xFFFF < produced}  # up to the final STATUS
            assert len(received) + st.lost == produced, (len(received), st.lost, produced)
            assert st.lost > 0 and sum(w.stats.stale_spans for w in watches) > 0
        finally:
            s.close()


def test_what_cannot_be_filtered_is_said_and_sent_in_full(host: sim.SimDevice) -> None:
    program = load(str(host.elf))
    with StreamerTarget(host.port) as t:
        notes: list[str] = []
        s = Session(program, t, on_message=lambda level, text: notes.append(text))
        try:
            w = s.add_watch("g_config", 10, deadband=1)
            assert not w.filtered
            assert any("g_config" in n and "without its deadband" in n for n in notes)
            d = s.add_watch("uptime_s", 10, deadband=0.5)  # a double: 8 bytes
            assert not d.filtered and any("8 bytes wide" in n for n in notes)
            with pytest.raises(SessionError, match="not a distance"):
                s.set_deadband("accel_x" if s.find_watch("accel_x") else w.id, -1)
            wait_for(lambda: w.has_value and d.has_value, 10, "both watches' first samples")
        finally:
            s.close()


# ------------------------------------------------------------------------------------------ CLI


def _firmwatch(*argv: str, stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmwatch", *argv], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def test_cli_record_with_a_deadband(host: sim.SimDevice, tmp_path: Path) -> None:
    """``firmwatch record --deadband accel_x=20``: accel_x is change-only from its first row (the
    device filters it: every row moved by more than 20 from the one before), accel_y beside it
    has every sample, and the summary says which watch was change-only."""
    out = tmp_path / "rec.csv"
    r = _firmwatch("record", str(host.elf), "--port", host.port, "-o", str(out), "--duration", "3", "--quiet",
                   "--deadband", "accel_x=20", "accel_x@1000", "accel_y@1000")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    xs = [(float(row["target_time_s"]), int(row["value"])) for row in rows if row["name"] == "accel_x"]
    ys = [row for row in rows if row["name"] == "accel_y"]
    assert len(ys) > 2000 and 20 < len(xs) < 0.5 * len(ys)
    # the sine moves more than 20 within its heartbeat's second, so every row is a change
    assert all(abs(b - a) > 20 for (_, a), (_, b) in zip(xs, xs[1:])), "a row the deadband should have held back"
    # the summary's counts are the file's; the device may drop a sample on a busy machine, but says so
    lines = {line.split(":")[0].strip(): line for line in r.stdout.splitlines() if ": " in line}
    assert "change-only, deadband 20" in lines["accel_x"] and "change-only" not in lines["accel_y"], r.stdout
    assert lines["accel_x"].split(": ")[1].startswith(f"{len(xs)} samples"), r.stdout
    assert lines["accel_y"].split(": ")[1].startswith(f"{len(ys)} samples"), r.stdout


def test_cli_deadband_refusals_and_the_prompt(host: sim.SimDevice) -> None:
    for argv, said in [(["--deadband", "accel_x"], "is not EXPR=N"),
                       (["--deadband", "accel_x=-3"], "is not a distance"),
                       (["--deadband", "accel_z=5"], "names no watch of this command")]:
        r = _firmwatch("watch", str(host.elf), "--port", host.port, *argv, "accel_x", stdin="quit\n")
        assert r.returncode != 0 and said in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)
    # the prompt's deadband command: change-only, back to every sample, a watch it cannot filter
    r = _firmwatch("watch", str(host.elf), "--port", host.port, "accel_x", "g_config",
                   stdin="deadband accel_x 15\ndeadband accel_x off\ndeadband g_config 1\ndeadband nope 1\nquit\n")
    assert r.returncode == 0, r.stderr
    assert "accel_x: change-only, deadband 15" in r.stdout and "accel_x: every sample again" in r.stdout
    assert "g_config: every sample (it cannot be filtered" in r.stdout
    assert "'g_config' is sent in full, without its deadband" in r.stdout + r.stderr
    assert "'nope' is not being watched" in r.stdout
