"""Packing watches into device streams.

A device stream samples up to ``max_regions`` regions (``max_stream_bytes`` in total) together
at one rate. Watches with equal rates share streams, which keeps the number of streams — a
scarce device resource, 16 by default — low and makes watches at the same rate coherent with
each other. What cannot be streamed (too big, or no stream left) is polled with one-shot reads.
This module is pure: it turns watches and limits into a plan, the session carries it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlannedRegion:
    address: int
    size: int


@dataclass(frozen=True, slots=True)
class PlanEntry:
    watch_id: int
    regions: tuple[PlannedRegion, ...]
    # change-only (a deadband the device applies): (kind, raw deadband) per region; None: every sample
    filters: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    rate_hz: float
    entries: tuple[PlanEntry, ...]

    @property
    def regions(self) -> list[PlannedRegion]:
        return [r for e in self.entries for r in e.regions]

    @property
    def nbytes(self) -> int:
        return sum(r.size for r in self.regions)

    @property
    def filtered(self) -> bool:
        """A change-only stream (its watches all have deadbands: a stream is filtered or not)."""
        return bool(self.entries) and self.entries[0].filters is not None

    @property
    def filters(self) -> tuple[tuple[int, int], ...]:
        return tuple(f for e in self.entries for f in e.filters or ())


@dataclass(frozen=True, slots=True)
class Limits:
    max_streams: int = 16
    max_regions: int = 8
    max_stream_bytes: int = 64
    max_rate_hz: float = 1000.0


@dataclass
class Plan:
    streams: list[StreamPlan]
    polled: list[tuple[int, str]]  # (watch id, why it is polled rather than streamed)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_streams(entries: Sequence[tuple[PlanEntry, float]], limits: Limits) -> Plan:
    """Group (entry, rate) pairs into streams: first-fit per rate, biggest watches first; watches
    with a deadband (change-only) and without never share a stream."""
    by_rate: dict[tuple[float, bool], list[PlanEntry]] = {}
    polled: list[tuple[int, str]] = []
    for entry, rate in entries:
        n = len(entry.regions)
        size = sum(r.size for r in entry.regions)
        if n == 0:
            polled.append((entry.watch_id, "it reads no memory"))
        elif n > limits.max_regions or size > limits.max_stream_bytes:
            polled.append(
                (entry.watch_id, f"{_count(size, 'byte')} in {_count(n, 'region')} exceed one device stream "
                 f"({_count(limits.max_stream_bytes, 'byte')}, {_count(limits.max_regions, 'region')})")
            )
        else:
            by_rate.setdefault((min(rate, limits.max_rate_hz), entry.filters is not None), []).append(entry)

    streams: list[StreamPlan] = []
    # fastest rates first: they matter most for a plot, so they get streams before polling
    for key in sorted(by_rate, reverse=True):
        rate = key[0]
        bins: list[list[PlanEntry]] = []
        for entry in sorted(by_rate[key], key=lambda e: -sum(r.size for r in e.regions)):
            esize = sum(r.size for r in entry.regions)
            for b in bins:
                bsize = sum(r.size for e in b for r in e.regions)
                bn = sum(len(e.regions) for e in b)
                if bsize + esize <= limits.max_stream_bytes and bn + len(entry.regions) <= limits.max_regions:
                    b.append(entry)
                    break
            else:
                bins.append([entry])
        for b in bins:
            if len(streams) < limits.max_streams:
                # keep watch order stable so an unchanged group maps to an unchanged stream
                streams.append(StreamPlan(rate, tuple(sorted(b, key=lambda e: e.watch_id))))
            else:
                for e in b:
                    polled.append((e.watch_id, f"all {limits.max_streams} device streams are in use"))
    return Plan(streams, polled)
