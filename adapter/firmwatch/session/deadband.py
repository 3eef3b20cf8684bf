"""Change-only watches: a deadband per watch, sent by the device only when the value moved.

A watch with a deadband is streamed with a device-side filter (docs/protocol.md section 15): at
each instant its stream is due, the device sends it only when the value moved by more than the
deadband from the value it last sent — or when ``HEARTBEAT_S`` passed without a send, so
silence on the link means "unchanged", never "lost". The host holds the last value (a step
signal): at any instant between two samples of the watch the true value was within the
deadband of the held one, unless a frame was lost in between (a ``seq`` gap), which marks the
watch stale until its next sample, at the latest one heartbeat later.

Which watches can be filtered: one plain number of 1, 2 or 4 bytes (4 for a float) in one
memory region. Anything else is streamed in full, and the session says so once.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from firmwatch.session.access import CompiledAccess
from firmwatch.targets import protocol as P

HEARTBEAT_S = 1.0  # a filtered watch is sent at least this often


def numeric_kind(compiled: CompiledAccess) -> tuple[str | None, int, dict[str, int] | None]:
    """(kind, size, enumerators) of an expression's value: "unsigned", "signed", "float" or None
    for something that is no number; a raw address or register (no C type behind it) counts as
    unsigned."""
    from firmwatch.symbols.expr import CompiledExpression
    from firmwatch.symbols.types import BaseType, Encoding, EnumType, PointerType

    size = compiled.size or 0
    if not isinstance(compiled, CompiledExpression) or compiled.type is None:
        return ("unsigned", size, None) if size in (1, 2, 4, 8) else (None, size, None)
    t = compiled.types.resolved(compiled.type)
    if isinstance(t, BaseType):
        if t.encoding == Encoding.FLOAT:
            return ("float", t.size, None) if t.size in (4, 8) else (None, t.size, None)
        if t.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR):
            return "signed", t.size, None
        if t.encoding in (Encoding.UNSIGNED, Encoding.UNSIGNED_CHAR, Encoding.BOOL, Encoding.UTF):
            return "unsigned", t.size, None
        return None, t.size, None
    if isinstance(t, EnumType):
        return ("signed" if t.signed else "unsigned"), t.size, dict(t.enumerators)
    if isinstance(t, PointerType):
        return "unsigned", t.size, None
    return None, size, None


def device_filter(compiled: CompiledAccess, regions: Sequence[Any],
                  deadband: float) -> tuple[tuple[int, int], ...] | str:
    """The STREAM_FILTER entries (kind, raw deadband) of a watch's regions, or why it cannot have one."""
    from firmwatch.symbols.expr import CompiledExpression

    if deadband < 0 or not math.isfinite(deadband):
        return f"a deadband of {deadband} is not a distance; give 0 or more"
    kind, size, _ = numeric_kind(compiled)
    bitfield = isinstance(compiled, CompiledExpression) and compiled.is_bitfield
    if len(regions) != 1 or bitfield or compiled.static_regions() is None:
        return "it is not one plain variable in memory (a bitfield, a pointer hop, several regions)"
    if kind is None:
        return f"it is a {compiled.type_name}, not a number"
    if regions[0].size != size or size not in (1, 2, 4):
        return f"it is {size} bytes wide; the device compares numbers of 1, 2 or 4 bytes"
    if kind == "float":
        return ((P.KIND_FLOAT, int.from_bytes(struct.pack("<f", float(deadband)), "little")),)
    return ((P.KIND_SIGNED if kind == "signed" else P.KIND_UNSIGNED, min(int(math.floor(deadband)), 0xFFFFFFFF)),)


def heartbeat_instants(rate_hz: float) -> int:
    """The device's heartbeat in instants of the stream's schedule."""
    return max(1, min(0xFFFF, round(rate_hz * HEARTBEAT_S)))


def reconstruct(changes: Iterable[tuple[float, Any]], times: Iterable[float]) -> list[Any]:
    """The step signal a change-only watch stands for: at each of ``times`` (ascending), the value
    of the latest change at or before it (None before the first)."""
    out: list[Any] = []
    it = iter(changes)
    held, nxt = None, next(it, None)
    for t in times:
        while nxt is not None and nxt[0] <= t:
            held = nxt[1]
            nxt = next(it, None)
        out.append(held)
    return out
