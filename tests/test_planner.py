"""Packing watches into device streams (pure logic)."""

from firmwatch.session.planner import Limits, PlanEntry, PlannedRegion, plan_streams


def entry(wid: int, *sizes: int, base: int = 0x1000) -> PlanEntry:
    return PlanEntry(wid, tuple(PlannedRegion(base + 0x100 * wid + 8 * i, s) for i, s in enumerate(sizes)))


def test_equal_rates_share_a_stream_and_rates_never_mix():
    plan = plan_streams([(entry(1, 4), 10.0), (entry(2, 4), 10.0), (entry(3, 2), 100.0)], Limits())
    assert plan.polled == []
    by_rate = {s.rate_hz: [e.watch_id for e in s.entries] for s in plan.streams}
    assert by_rate == {10.0: [1, 2], 100.0: [3]}


def test_stream_limits_split_groups():
    limits = Limits(max_regions=2, max_stream_bytes=8)
    plan = plan_streams([(entry(i, 4), 50.0) for i in range(1, 6)], limits)
    assert len(plan.streams) == 3
    for s in plan.streams:
        assert s.nbytes <= 8 and len(s.regions) <= 2
    assert sorted(e.watch_id for s in plan.streams for e in s.entries) == [1, 2, 3, 4, 5]


def test_too_big_and_out_of_streams_are_polled_with_a_reason():
    limits = Limits(max_streams=1, max_stream_bytes=16)
    plan = plan_streams([(entry(1, 32), 10.0), (entry(2, 4), 1000.0), (entry(3, 4), 1.0)], limits)
    reasons = dict(plan.polled)
    assert "exceed one device stream" in reasons[1]
    assert "device streams are in use" in reasons[3]
    assert [e.watch_id for e in plan.streams[0].entries] == [2]  # the fastest got the stream


def test_plan_is_deterministic_so_unchanged_streams_survive_replanning():
    a = plan_streams([(entry(1, 4), 10.0), (entry(2, 4), 10.0)], Limits())
    b = plan_streams([(entry(2, 4), 10.0), (entry(1, 4), 10.0)], Limits())
    assert a.streams == b.streams
