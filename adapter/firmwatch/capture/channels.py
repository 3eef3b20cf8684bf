"""What a capture samples: its channels (watch expressions bound to memory) and its trigger.

A channel is any watch expression (a C expression from the ELF, a raw ``0xADDR:SIZE``, an SVD
register): its access plan says which memory regions to copy each sample and how to decode them.
The trigger names one expression (a channel, or one more that is sampled with them); to be
evaluated on the device it must be one plain number of 1, 2 or 4 bytes in one region, whose
level the type's own encoder turns into the raw value the device compares.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from firmwatch.capture.trigger import Condition, TriggerError, TriggerSpec, parse_number
from firmwatch.errors import UserError
from firmwatch.session.deadband import numeric_kind
from firmwatch.targets import protocol as P
from firmwatch.targets.base import Region

Compile = Callable[[str], Any]
Reader = Callable[[int, int], bytes]


class CaptureError(UserError):
    """A capture request that cannot be carried out; ``str()`` says why and what to do."""


@dataclass
class Channel:
    text: str
    compiled: Any
    plan: Any  # AccessPlan: regions + decode
    regions: list[Region]
    type_name: str
    kind: str | None  # "unsigned" | "signed" | "float": a number the trigger can compare; None otherwise
    size: int  # bytes of the number (kind not None)
    plain: bool  # one region holding exactly the number: the device can trigger on it
    byteorder: str
    enumerators: dict[str, int] | None = None

    def number(self, chunks: Sequence[bytes]) -> int | float | None:
        """The channel's value as a number (None when it is none)."""
        if self.plain and self.kind is not None:
            raw = chunks[0]
            if self.kind == "float":
                return struct.unpack(("<" if self.byteorder == "little" else ">") + ("f" if self.size == 4 else "d"), raw)[0]
            return int.from_bytes(raw, self.byteorder, signed=self.kind == "signed")
        v = self.plan.decode(chunks).scalar
        if isinstance(v, bool):
            return int(v)
        return v if isinstance(v, int | float) else None

    def value(self, chunks: Sequence[bytes]) -> int | float | str:
        """What a plot draws and a CSV holds: the number, else the decoded text."""
        n = self.number(chunks)
        if n is not None:
            return n
        return self.plan.decode(chunks).display()


def make_channel(text: str, compile: Compile, read: Reader, byteorder: str) -> Channel:
    compiled = compile(text)
    plan = compiled.bind(read)
    regions = list(plan.regions)
    if not regions:
        raise CaptureError(f"'{text}' reads no memory (a constant): capture a variable instead.")
    kind, size, enums = numeric_kind(compiled)
    bitfield = bool(getattr(compiled, "is_bitfield", False))
    plain = (kind is not None and not bitfield and len(regions) == 1 and regions[0].size == size
             and compiled.static_regions() is not None)  # fmt: skip
    return Channel(text, compiled, plan, regions, compiled.type_name, kind, size, plain, byteorder, enums)


@dataclass
class TriggerPlan:
    spec: TriggerSpec
    channel: int  # index in the capture's channels
    condition: Condition  # for the host-side trigger
    level_raw: int  # the 32-bit raw level the device compares (device trigger)
    mask_raw: int
    device_kind: int | None  # P.KIND_* when the device can evaluate it; None: host-side only
    why_not_device: str | None  # one sentence when device_kind is None


def plan_trigger(spec: TriggerSpec, channels: list[Channel], compile: Compile, read: Reader,
                 byteorder: str) -> tuple[TriggerPlan, list[Channel]]:
    """The trigger's channel (added to ``channels`` when it is not one of them) and its level."""
    idx = next((i for i, c in enumerate(channels) if c.text.strip() == spec.expression.strip()), None)
    if idx is None:
        channels = [*channels, make_channel(spec.expression, compile, read, byteorder)]
        idx = len(channels) - 1
    ch = channels[idx]
    if ch.kind is None:
        raise TriggerError(f"the trigger '{spec.expression}' is a {ch.type_name}, not a number: trigger on a number "
                           "(an integer, float, enum or bool variable or member).")
    level = _level_number(spec.level, ch) if spec.level is not None else 0
    mask = int(parse_number(spec.mask)) if spec.mask is not None else 0
    if spec.op == "mask" and (not isinstance(level, int) or ch.kind == "float"):
        raise TriggerError(f"a mask trigger compares bits: '{spec.expression}' must be an integer and the value too.")
    cond = Condition(spec.op, level, mask)
    why = None
    device_kind = None
    if not ch.plain:
        why = f"the trigger '{spec.expression}' is not one plain variable in memory (a bitfield, a pointer hop or a computed value)"
    elif ch.size not in (1, 2, 4):
        why = f"the trigger '{spec.expression}' is {ch.size} bytes wide; the device compares 1, 2 or 4-byte numbers"
    else:
        device_kind = {"unsigned": P.KIND_UNSIGNED, "signed": P.KIND_SIGNED, "float": P.KIND_FLOAT}[ch.kind]
    raw = _raw_level(level, ch) if device_kind is not None else 0
    return TriggerPlan(spec, idx, cond, raw, mask & 0xFFFFFFFF, device_kind, why), channels


def _level_number(text: str, ch: Channel) -> int | float:
    if ch.enumerators and text in ch.enumerators:
        return ch.enumerators[text]
    try:
        v = parse_number(text)
    except TriggerError:
        if ch.enumerators:
            names = ", ".join(list(ch.enumerators)[:8])
            raise TriggerError(f"'{text}' is not a value of {ch.type_name} ({names}) nor a number.") from None
        raise
    if ch.kind == "float":
        return float(v)
    if isinstance(v, float):
        if not v.is_integer():
            raise TriggerError(f"'{ch.text}' is an integer ({ch.type_name}): give an integer level, not {text}.")
        v = int(v)
    bits = 8 * ch.size
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if ch.kind == "signed" else (0, (1 << bits) - 1)
    if not lo <= v <= hi:
        raise TriggerError(f"the level {text} does not fit '{ch.text}' ({ch.type_name}: {lo}..{hi}).")
    return v


def _raw_level(level: int | float, ch: Channel) -> int:
    if ch.kind == "float":
        return int.from_bytes(struct.pack("<f", float(level)), "little")
    return int(level) & 0xFFFFFFFF  # a signed level in two's complement, as the device reads it
