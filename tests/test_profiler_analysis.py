"""The call tree, the flat statistics and the exports, on records whose truth is known."""

from __future__ import annotations

import json

from firmwatch.profiler import export
from firmwatch.profiler.calltree import LOST, UNKNOWN_CALLER, CallTreeBuilder
from firmwatch.profiler.report import FunctionRow, Profile

NAMES = {0x100: "main_loop", 0x200: "filter", 0x300: "tap", 0x400: "isr", 0x500: "recurse"}


def name_of(addr: int) -> str:
    return NAMES.get(addr, f"0x{addr:x}")


def frame_records(t0: int) -> list[tuple[int, int, int, int]]:
    """main_loop [t0, t0+100] calls filter [t0+10, t0+60], which calls tap twice; exit order."""
    return [
        (0x300, t0 + 20, 10, 2),
        (0x300, t0 + 40, 10, 2),
        (0x200, t0 + 10, 50, 1),
        (0x100, t0, 100, 0),
    ]


def build(records: list[tuple[int, int, int, int]]) -> CallTreeBuilder:
    b = CallTreeBuilder(name_of, keep_intervals=True)
    b.add(records)
    b.finish()
    return b


def test_tree_and_flat_statistics() -> None:
    b = build(frame_records(1000) + frame_records(2000))
    f = b.functions
    assert (f["main_loop"].calls, f["main_loop"].self_time, f["main_loop"].total_time) == (2, 100, 200)
    assert (f["filter"].calls, f["filter"].self_time, f["filter"].total_time) == (2, 60, 100)
    assert (f["tap"].calls, f["tap"].self_time, f["tap"].min_time, f["tap"].max_time) == (4, 40, 10, 10)
    ml = b.root.children["main_loop"]
    assert ml.calls == 2 and ml.children["filter"].children["tap"].calls == 4
    assert b.span == 1100 and b.orphans == 0


def test_the_32bit_wrap_is_crossed_forward() -> None:
    t0 = (1 << 32) - 50  # main_loop begins 50 us before the wrap and ends after it
    recs = [(a, e & 0xFFFFFFFF, d, dep) for a, e, d, dep in frame_records(t0)]
    b = build(recs + [(a, e & 0xFFFFFFFF, d, dep) for a, e, d, dep in frame_records(t0 + 1000)])
    assert b.functions["main_loop"].total_time == 200
    assert set(b.root.children) == {"main_loop"}  # nothing orphaned across the wrap
    assert b.span == 1100
    starts = [iv.start for iv in b.intervals if iv.func == "main_loop"]
    assert starts[1] - starts[0] == 1000


def test_the_seed_dumps_second_record_has_no_caller_it_could_be_given_to() -> None:
    # the seed's PROFILE_DATA: a depth-0 call [1000, 3000] and then a depth-1 call [500, 800]
    b = build([(0x08000100, 1000, 2000, 0), (0x08000220, 500, 300, 1)])
    assert b.root.children["0x8000100"].children == {}
    orphan = b.root.children[UNKNOWN_CALLER].children["0x8000220"]
    assert orphan.calls == 1 and orphan.total_time == 300
    assert b.orphans == 1


def test_a_lost_frame_takes_no_time_from_the_callees_to_the_caller() -> None:
    recs = frame_records(1000)
    b = CallTreeBuilder(name_of)
    b.gap()  # the first tap's record was in a frame destroyed on the link
    b.add(recs[1:])
    b.finish()
    f = b.functions
    # filter saw one tap (10) of its 50: the other 40 are not known to be its own
    assert f["filter"].self_time == 0
    fil = b.root.children["main_loop"].children["filter"]
    assert fil.children[LOST].total_time == 40
    # main_loop ran across the gap too: what its callees do not explain is lost, not its own
    assert f["main_loop"].self_time == 0
    # and the first call after the gap may have lost callees in it as well
    assert f["tap"].self_time == 0
    assert b.lost_time == 10 + 40 + 50
    # calls after the gap are whole again
    b.add(frame_records(2000))
    assert b.functions["filter"].self_time == 30


def test_recursion_counts_inclusive_time_once() -> None:
    # recurse [0,100] -> recurse [10,60] -> recurse [20,30]
    b = build([(0x500, 20, 10, 2), (0x500, 10, 50, 1), (0x500, 0, 100, 0)])
    st = b.functions["recurse"]
    assert st.calls == 3 and st.total_time == 100 and st.self_time == 100


def _profile(b: CallTreeBuilder) -> Profile:
    rows = [FunctionRow(s.name, s.self_time * 1e-6, s.total_time * 1e-6, 0.0, calls=s.calls,
                        file="/src/app.c", line=10 + i) for i, s in enumerate(b.functions.values())]
    t0 = min(iv.start for iv in b.intervals)
    return Profile("instrumented", "/x/fw.elf", b.span * 1e-6, rows, b.root, 1e-6,
                   intervals=[(iv.func, (iv.start - t0) * 1e-6, (iv.end - t0) * 1e-6, iv.depth) for iv in b.intervals])


def test_speedscope_events_nest_and_match() -> None:
    b = build(frame_records(1000) + frame_records(2000))
    doc = json.loads(json.dumps(export.speedscope(_profile(b))))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert {f["name"] for f in frames} == {"main_loop", "filter", "tap"}
    assert all(f["file"] == "/src/app.c" for f in frames)
    prof = doc["profiles"][0]
    assert prof["type"] == "evented" and prof["unit"] == "seconds"
    stack: list[int] = []
    last = 0.0
    opened = 0
    for ev in prof["events"]:
        assert ev["at"] >= last
        last = ev["at"]
        if ev["type"] == "O":
            stack.append(ev["frame"])
            opened += 1
        else:
            assert stack.pop() == ev["frame"]
    assert stack == [] and opened == 8
    assert abs(prof["endValue"] - 1100e-6) < 1e-12


def test_chrome_trace_and_collapsed() -> None:
    b = build(frame_records(1000))
    prof = _profile(b)
    tr = export.chrome_trace(prof)
    calls = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in calls] == [
        ("main_loop", 0.0, 100.0), ("filter", 10.0, 50.0), ("tap", 20.0, 10.0), ("tap", 40.0, 10.0)]
    folded = export.collapsed(prof).splitlines()
    assert sorted(folded) == ["main_loop 50", "main_loop;filter 30", "main_loop;filter;tap 20"]


def test_sampled_exports() -> None:
    from firmwatch.profiler.calltree import CallNode

    tree = CallNode("")
    for name, k in (("busy", 3), ("idle", 1)):
        n = tree.child(name)
        n.self_time = n.total_time = k
    samples = [(0.0, ("busy",)), (0.001, ("busy",)), (0.002, ("idle",)), (0.003, ("busy",))]
    prof = Profile("sampled", "/x/fw.elf", 0.004, [FunctionRow("busy", 0.003, 0.003, 0.75, samples=3)], tree,
                   0.001, samples=samples)
    doc = export.speedscope(prof)
    p = doc["profiles"][0]
    assert p["type"] == "sampled" and len(p["samples"]) == 4 and sum(p["weights"]) == 0.004
    names = [doc["shared"]["frames"][s[0]]["name"] for s in p["samples"]]
    assert names == ["busy", "busy", "idle", "busy"]
    slices = [(e["name"], e["ts"], e["dur"]) for e in export.chrome_trace(prof)["traceEvents"] if e["ph"] == "X"]
    assert slices == [("busy", 0.0, 2000.0), ("idle", 2000.0, 1000.0), ("busy", 3000.0, 1000.0)]
    assert sorted(export.collapsed(prof).splitlines()) == ["busy 3", "idle 1"]
