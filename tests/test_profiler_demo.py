"""The instrumented demo on the emulated boards: a profile must show the costs the code has.

firmware/profiler/demo gives each function a busy loop of a known number of cycles (QEMU runs
with -icount: an instruction is a fixed slice of emulated time). The profile taken over the
serial line the streamer shares must rank the functions as their costs do, give each a share
within 2.5 points of its true one, rebuild the call graph exactly, and account for every record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.profiler import demo
from firmwatch.profiler.calltree import UNKNOWN_CALLER
from firmwatch.profiler.instrumented import InstrumentedRun
from firmwatch.profiler.report import Profile
from firmwatch.symbols import load
from tools import require_board, wait_for

BOARDS = ("cortex-m3", "riscv32", "avr")
TOLERANCE = 0.025


@pytest.fixture(scope="module", params=BOARDS)
def board(request: pytest.FixtureRequest) -> str:
    return require_board(request.param)


def frames(run: InstrumentedRun) -> int:
    row = run.snapshot().function("app_frame")
    return row.calls or 0 if row is not None else 0


def profile_demo(board: str, elf: Path, want: int = 150) -> Profile:
    with sim.start_sim(board, elf=elf, pace="fast") as dev:
        run = InstrumentedRun(load(str(elf)), dev.port)
        run.start()
        try:
            wait_for(lambda: frames(run) >= want, timeout=60, what=f"{want} frames of the demo")
        finally:
            prof = run.stop()
    return prof


def check_matches_the_costs(prof: Profile) -> None:
    want = demo.expected_shares()
    work = {f.name: f for f in prof.functions if f.name in want}
    assert set(work) == set(want)
    total = sum(f.self_s for f in work.values())
    got = {k: f.self_s / total for k, f in work.items()}
    ranking = sorted(want, key=lambda k: -want[k])
    assert sorted(got, key=lambda k: -got[k]) == ranking, got
    for name in want:
        assert abs(got[name] - want[name]) < TOLERANCE, (name, got[name], want[name])
    n = work["app_frame"].calls
    assert n
    for name, f in work.items():
        # the run stops wherever the device is: the last frame may be cut between its calls (the
        # frame counted or not yet), so a function has at most one frame's calls more or fewer
        k = demo.CALLS_PER_FRAME.get(name, 1)
        assert abs(f.calls - n * k) <= k, (name, f.calls, n, k)


def check_tree(prof: Profile) -> None:
    top = prof.tree.children
    assert set(top) == {"app_frame"}, set(top)
    root = top["app_frame"]

    def edges(node, parent):  # type: ignore[no-untyped-def]
        for c in node.children.values():
            yield parent, c.name
            yield from edges(c, c.name)

    got: dict[str, set[str]] = {}
    for a, b in edges(root, "app_frame"):
        got.setdefault(a, set()).add(b)
    assert got == demo.CALL_GRAPH


def check_accounting(prof: Profile) -> None:
    c = prof.counters
    assert c["corrupt_frames"] == 0 and c["bad_frames"] == 0
    assert c["device_overflows"] == 0
    assert c["received"] == c["device_captured"] == c["records"]
    assert c["link_lost"] == 0
    assert c["orphans"] == 0
    assert prof.notes == []


@pytest.fixture(scope="module")
def built(board: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return demo.build(board)


def test_instrumented_profile_matches_known_costs(board: str, built: dict[str, Path]) -> None:
    prof = profile_demo(board, built["prof"])
    check_matches_the_costs(prof)
    check_tree(prof)
    check_accounting(prof)
    # the functions are placed in the source for the editor's code lenses
    row = prof.function("telemetry_pack")
    assert row is not None and row.file and row.file.endswith("prof_demo.c") and row.line


def test_the_32bit_clock_wrap_changes_nothing(board: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The device clock starts 2^18 ticks before its 32-bit wrap (0.26 s at 1 MHz, 1 s on avr)."""
    elfs = demo.build(board, tmp_path_factory.mktemp("wrap"), extra_defs="-DFWP_CLOCK_START=0xFFFC0000")
    prof = profile_demo(board, elfs["prof"], want=400)
    assert prof.intervals, "the run keeps the calls' intervals"
    starts = [iv[1] for iv in prof.intervals if iv[0] == "app_frame"]
    hz = prof.device["timer_hz"]
    assert (max(starts) - min(starts)) * hz > 2**18, "the profile must span the wrap"
    assert all(b > a for a, b in zip(starts, starts[1:])), "time runs on across the wrap"
    check_matches_the_costs(prof)
    check_tree(prof)
    check_accounting(prof)
    assert UNKNOWN_CALLER not in prof.tree.children


def test_a_device_running_other_code_is_refused(board: str, built: dict[str, Path]) -> None:
    from firmwatch.profiler.protocol import ProfilerError

    with sim.start_sim(board, elf=built["prof"], pace="fast") as dev:
        run = InstrumentedRun(load(str(built["plain"])), dev.port)
        with pytest.raises(ProfilerError) as e:
            run.start()
        msg = str(e.value)
        assert "other code" in msg and "CRC32" in msg and msg.endswith(".")
        # the port is free again: a run with the right ELF works
        ok = InstrumentedRun(load(str(built["prof"])), dev.port)
        ok.start()
        ok.stop()


def work_shares(prof: Profile) -> dict[str, float]:
    weight = {f.name: (f.samples if prof.mode == "sampled" else f.self_s) or 0 for f in prof.functions
              if f.name in demo.COSTS}
    total = sum(weight.values())
    return {k: v / total for k, v in weight.items()}


def test_sampled_profile_of_the_uninstrumented_build_agrees(board: str, built: dict[str, Path]) -> None:
    """PC sampling through the emulator's gdb stub (simavr: without stopping the CPU; QEMU: halt,
    read, resume) must find the same top functions as the instrumented build, in the same order."""
    from firmwatch.profiler.sampler import PcSampler
    from firmwatch.profiler.symbolize import Symbolizer
    from firmwatch.session.connect import open_target

    inst = work_shares(profile_demo(board, built["prof"]))
    program = load(str(built["plain"]))
    with sim.start_sim(board, elf=built["plain"], pace="fast") as dev:
        target = open_target(gdb=dev.gdb, program=program, budget=None)
        try:
            sampler = PcSampler(target.control(), Symbolizer(program), rate_hz=2000)
            method = sampler.start()
            wait_for(lambda: sum(f.samples or 0 for f in sampler.snapshot().functions if f.name in demo.COSTS) >= 1500,
                     timeout=120, what="1500 samples in the demo's functions")
            prof = sampler.stop()
        finally:
            target.close()
    assert method == ("live" if board == "avr" else "halt")
    if method == "live":
        assert prof.counters["halted_s"] == 0
    samp = work_shares(prof)
    top = sorted(inst, key=lambda k: -inst[k])[:3]
    assert sorted(samp, key=lambda k: -samp[k])[:3] == top, (samp, inst)
    for name in demo.COSTS:
        assert abs(samp.get(name, 0) - inst[name]) < 0.05, (name, samp.get(name), inst[name])
    # a shallow stack where the transport reads the link register in the same halt: every caller
    # it names is the real one (fir_tap is reached by a tail call on its last iteration: still
    # filter_run), and the leaves' callers are named
    if method == "halt":
        from firmwatch.profiler.sampler import CALLER_UNKNOWN

        edges = {(p[0], p[1]) for p, _ in prof.tree.walk() if len(p) == 2 and p[0] != CALLER_UNKNOWN}
        for caller, callee in edges:
            if callee in demo.COSTS:
                assert callee in demo.CALL_GRAPH.get(caller, set()), (caller, callee)
        assert {("filter_run", "fir_tap"), ("app_frame", "telemetry_pack"), ("control_update", "pid_step")} <= edges
    else:
        assert prof.device["stack"] is False
    # the hot line of the hottest function is its busy loop
    line = next(r for r in prof.lines if r.function == "telemetry_pack")
    src = Path(line.file).read_text().splitlines()[line.line - 1]
    assert "SPIN(18 * HALF)" in src, src


def test_profile_and_live_watch_share_one_serial_line(board: str, built: dict[str, Path]) -> None:
    """The streamer target owns the port and streams a variable; the profile runs over the same
    line at the same time. Neither side loses or corrupts anything."""
    from firmwatch.session.connect import open_target
    from firmwatch.targets.base import Region

    program = load(str(built["prof"]))
    var = program.find_variable("frames_done")
    with sim.start_sim(board, elf=built["prof"], pace="fast") as dev:
        target = open_target(port=dev.port, program=program)
        try:
            samples: list[object] = []
            target.on_sample(samples.append)
            target.start_stream([Region(var.address, var.size or 4)], 100)
            run = InstrumentedRun(program, target)
            run.start()
            wait_for(lambda: len(samples) >= 100 and frames(run) >= 100, timeout=60,
                     what="100 samples and 100 profiled frames")
            prof = run.stop()
            stats = target.stats()
        finally:
            target.close()
    check_accounting(prof)
    check_tree(prof)
    assert prof.counters["foreign_frames"] > 0  # the streamer's SAMPLES, skipped by the profiler
    assert stats.corrupt_frames == 0 and stats.lost == 0
