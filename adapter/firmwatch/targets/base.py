"""The one interface every transport implements (DESIGN.md, "Target").

Targets move bytes at addresses; they know nothing of DWARF. Addresses are always the
ELF's addresses (a port whose bus addresses differ, such as AVR data space at 0x800000
in the ELF, translates on the device side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firmwatch.errors import UserError

if TYPE_CHECKING:
    from firmwatch.targets.control import ExecutionControl


class TargetError(UserError):
    """A user-facing transport problem; ``str()`` is one sentence saying what happened and what to do."""


class TargetLost(TargetError):
    """The link to the device or server is gone (port unplugged, server died)."""


class AccessRefused(TargetError):
    """The device refused a read or write (outside its region table, read-only, ...)."""

    def __init__(self, message: str, code: int = 0, address: int | None = None):
        super().__init__(message)
        self.code = code
        self.address = address


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    start: int
    size: int
    readable: bool = True
    writable: bool = False

    def contains(self, address: int, size: int) -> bool:
        return self.start <= address and address + size <= self.start + self.size


@dataclass
class TargetInfo:
    """What the target is and what it can do. The limits are the device's own (IDENTIFY), and
    the session plans within them: None means the target has no such limit (GDB servers)."""

    name: str  # e.g. "firmwatch streamer v3 on /dev/pts/3"
    byteorder: str  # "little" / "big"
    word_size: int
    build_id: str | None  # hex, None when the device does not report one
    tick_hz: int | None = None
    max_streams: int | None = None  # streams the device runs at once
    max_stream_bytes: int | None = None  # bytes one stream samples together
    regions: list[MemoryRegion] = field(default_factory=list)
    protocol_version: int | None = None
    max_regions: int | None = None  # regions one stream samples together
    max_rate_hz: float | None = None  # fastest sampling rate (the device tick)
    min_rate_hz: float | None = None  # slowest (the protocol's resolution)
    link_mode: str | None = None  # "binary" / "text" for the streamer


@dataclass(frozen=True, slots=True)
class Region:
    address: int
    size: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One coherent snapshot of a stream's regions, copied atomically on the target."""

    stream: int
    seq: int  # per-link sequence number (for loss accounting)
    target_time: float  # seconds, target clock (unwrapped)
    host_time: float  # seconds, time.time() when the host decoded it
    data: tuple[bytes, ...]  # one bytes object per region, in the order the stream was defined


@dataclass
class LinkStats:
    samples: int = 0
    lost: int = 0  # frames known to be lost (sequence gaps: damaged on the link or dropped by the device)
    corrupt_frames: int = 0  # CRC failures and resyncs seen by the host
    device_dropped: int = 0  # frames the device says it dropped since this host connected (its STATUS)
    reconnects: int = 0
    stream_dropped: dict[int, int] = field(default_factory=dict)  # stream id -> samples the device dropped
    status_known: bool = False  # the device's own counters were read (the streamer's STATUS)
    device_ticks: int | None = None  # final_stats(): the device tick up to which samples are accounted
    halted_fraction: float | None = None  # GDB transports: share of time the target was halted by sampling
    lock_skips: int = 0  # rounds skipped because the firmware's lock flag was set


SampleCallback = Callable[[Sample], None]


class Target:
    """Base class of every transport: the data side (memory, streams, link statistics) here,
    execution control behind :meth:`control`."""

    # "read", "write", "stream", "live-read", "read-batch" (read_batch below), "capture", ...
    capabilities: frozenset[str] = frozenset()

    def info(self) -> TargetInfo:
        raise NotImplementedError

    def read(self, address: int, size: int) -> bytes:
        raise NotImplementedError

    def write(self, address: int, data: bytes) -> bytes:
        """Write, then return the bytes read back from the same place."""
        raise NotImplementedError

    if TYPE_CHECKING:
        # Declared for the transports whose capabilities include "read-batch" (rsp, gdb, the
        # streamer in binary mode) and only there: a caller asks the capability, never hasattr.
        # Not defined at run time, so the other transports are not given a batch that is one read
        # per region in disguise.
        def read_batch(self, regions: Sequence[Region]) -> list[bytes]:
            """Several regions in one round trip: over a GDB server coherent (one halt) unless the
            server reads live; over the streamer the requests in flight together, each region
            copied in one piece by the device."""
            ...

    def start_stream(self, regions: Sequence[Region], rate_hz: float) -> int:
        """Sample ``regions`` together at ``rate_hz``; samples go to the registered callback."""
        raise NotImplementedError

    def stop_stream(self, stream: int | None = None) -> None:
        """Stop one stream, or all of them when ``stream`` is None."""
        raise NotImplementedError

    def on_sample(self, callback: SampleCallback) -> None:
        raise NotImplementedError

    def stats(self, refresh_device: bool = False) -> LinkStats:
        """The link's counters; ``refresh_device`` first fetches the device's own (the streamer's
        STATUS), for a summary that must agree with the device."""
        return LinkStats()

    def control(self) -> ExecutionControl:
        """This transport's execution control (targets/control.py): halt, step, breakpoints,
        registers, ... as far as it can, each capability declared; the same object every call."""
        raise NotImplementedError

    def final_stats(self) -> LinkStats:
        """The counters at the end of a session, with sampling stopped at a point where the
        transport's and the device's counts describe the same samples (the streamer: a final
        STATUS); no sample is delivered afterwards. A transport without device counters:
        ``stats()``."""
        return self.stats(refresh_device=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
