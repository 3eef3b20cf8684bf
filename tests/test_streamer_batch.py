"""The streamer's read_batch: several READ requests in flight, replies taken by tag.

Through the real parts: the host build of the demo on its pty, the ELF built in the run as the
oracle (the demo's const sine table: the bytes the device must return). On a clean link the batch
gives exactly what one read at a time gives, in fewer round trips; through a relay that flips,
drops and inserts bytes it gives the right bytes or says it could not — never wrong ones; a
refused region is refused as a single read refuses it; text mode has no tags and no batch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from firmwatch.session.connect import open_target
from firmwatch.sim import SimDevice
from firmwatch.symbols import load
from firmwatch.symbols.expr import compile_expression
from firmwatch.targets.base import Region, TargetError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_relay import CorruptingRelay  # noqa: E402


def sine_table(dev: SimDevice) -> tuple[int, bytes]:
    """The table's address and its bytes as the ELF holds them (const: the device has the same)."""
    from elftools.elf.elffile import ELFFile

    table = compile_expression(load(str(dev.elf)), "sine_table")
    with open(dev.elf, "rb") as f:
        e = ELFFile(f)
        for sec in e.iter_sections():
            a = sec["sh_addr"]
            if sec["sh_type"] == "SHT_PROGBITS" and a <= table.address < a + sec["sh_size"]:
                off = table.address - a
                return table.address, sec.data()[off : off + table.size]
    raise AssertionError("sine_table is in no section with contents")


def regions(base: int, truth: bytes) -> list[tuple[Region, bytes]]:
    """Small pieces with gaps, one piece split over two READs (larger than a chunk), and an empty one."""
    out = [(Region(base + off, n), truth[off : off + n]) for off, n in ((0, 2), (6, 4), (20, 8), (40, 1), (64, 16))]
    out.append((Region(base + 2, len(truth) - 2), truth[2:]))
    out.append((Region(base + 3, 0), b""))
    return out


def test_batch_equals_single_reads_in_fewer_round_trips(host) -> None:
    base, truth = sine_table(host)
    with open_target(port=host.port) as t:
        assert "read-batch" in t.capabilities
        want = regions(base, truth)
        rs = [r for r, _ in want]
        assert t.read_batch(rs) == [b for _, b in want]
        assert t.read_batch(rs * 8) == [b for _, b in want] * 8  # many windows

        def timed(fn) -> float:  # type: ignore[no-untyped-def]
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            return best

        small = [Region(base + 2 * i, 2) for i in range(8)]
        batched = timed(lambda: t.read_batch(small))
        single = timed(lambda: [t.read(r.address, r.size) for r in small])
        # eight requests in one window: one round trip through the device's loop instead of eight
        assert batched < single, (batched, single)


def test_a_refused_region_is_refused_as_a_read_is(host) -> None:
    base, truth = sine_table(host)
    with open_target(port=host.port) as t:
        with pytest.raises(TargetError) as single:
            t.read(0x10, 4)
        with pytest.raises(TargetError) as batch:
            t.read_batch([Region(base, 4), Region(0x10, 4)])
        assert str(batch.value) == str(single.value)
        assert t.read_batch([Region(base, 4)]) == [truth[:4]]  # the link is fine afterwards


def test_no_wrong_bytes_through_a_corrupting_link(host) -> None:
    base, truth = sine_table(host)
    want = regions(base, truth)
    good = failed = 0
    with CorruptingRelay(host.port, rate=1e-2, seed=7) as relay:
        with open_target(port=relay.port) as t:
            for _ in range(25):
                try:
                    got = t.read_batch([r for r, _ in want])
                except TargetError as e:
                    assert str(e).endswith(".") and "did not answer" in str(e), e
                    failed += 1
                    continue
                assert got == [b for _, b in want]  # the point: never a wrong byte
                good += 1
        assert relay.to_host.total + relay.to_device.total > 0
    assert good >= 18, (good, failed)  # about 1 set in 20 loses every attempt its time allows at 1e-2


def test_text_mode_has_no_batch(host) -> None:
    with open_target(port=host.port, streamer_mode="text") as t:
        assert "read-batch" not in t.capabilities
