"""A completed capture: its samples, their clock, where the trigger is, and what was lost.

Times are seconds relative to the trigger sample (negative before it). Their source is said
plainly: the device's own sample clock (its tick or its capture timer: exactly evenly spaced),
or the target times of a host-side capture (what the link achieved, spacing as it came).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaptureResult:
    channels: list[str]  # expressions, in the order asked (the trigger's last when it was added)
    types: list[str]
    times: list[float]  # per sample, seconds from the trigger sample
    values: list[list[Any]]  # per channel, per sample: a number, or the decoded text
    trigger_index: int  # the trigger sample (= samples before it)
    trigger: str  # the condition as written, or "forced"
    where: str  # "device" | "host"
    clock: str  # one phrase: what the sample clock is
    rate_asked: float | None
    rate_hz: float  # achieved: the device's sample clock, or samples per second of target time
    trigger_time: float | None = None  # target time of the trigger sample (s), when known
    capture_id: int | None = None  # the device's count of completed captures
    lost: int = 0  # samples known missing (host-side: link losses)
    slips: int = 0  # device: capture timer periods without a sample (late interrupts)
    notes: list[str] = field(default_factory=list)
    trigger_channel: int | None = None
    level: float | int | None = None  # the trigger level as a number, for drawing it

    @property
    def samples(self) -> int:
        return len(self.times)

    @property
    def pre(self) -> int:
        return self.trigger_index

    @property
    def post(self) -> int:
        return self.samples - self.trigger_index - 1

    def numeric(self, i: int) -> list[float | None]:
        """Channel ``i`` as floats for a plot (None where a value is no number)."""
        return [float(v) if isinstance(v, int | float) else None for v in self.values[i]]

    def summary(self) -> str:
        rate = f"{self.rate_hz:.6g} Hz"
        if self.rate_asked and abs(self.rate_asked - self.rate_hz) > 1e-6 * self.rate_asked:
            rate += f" (asked {self.rate_asked:.6g} Hz)"
        lines = [
            f"captured {self.samples} samples of {', '.join(self.channels)} on the {self.where} at {rate}, {self.clock}",
            f"trigger {self.trigger} at sample {self.trigger_index}: {self.pre} before, {self.post} after"
            + (f", target time {self.trigger_time:.3f} s" if self.trigger_time is not None else ""),
        ]
        if self.lost:
            lines.append(f"{self.lost} samples were lost on the link: the times show where")
        if self.slips:
            lines.append(f"the device's capture timer came late {self.slips} times: samples around those points are "
                         "not evenly spaced; lower the rate")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["sample", "time_s", *self.channels])
        for k, t in enumerate(self.times):
            w.writerow([k - self.trigger_index, f"{t:.9g}", *(_cell(v[k]) for v in self.values)])
        return out.getvalue()

    def write_csv(self, path: str) -> None:
        with open(path, "w", newline="") as f:
            f.write(self.to_csv())

    def to_json(self) -> dict[str, Any]:
        return {
            "channels": self.channels, "types": self.types, "times": self.times,
            "values": [[_json_value(x) for x in v] for v in self.values],
            "triggerIndex": self.trigger_index, "trigger": self.trigger, "where": self.where, "clock": self.clock,
            "rateAsked": self.rate_asked, "rateHz": self.rate_hz, "triggerTime": self.trigger_time,
            "captureId": self.capture_id, "lost": self.lost, "slips": self.slips, "notes": self.notes,
            "triggerChannel": self.trigger_channel, "level": self.level, "summary": self.summary(),
        }  # fmt: skip


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.9g}"
    if isinstance(v, bool):
        return int(v)
    return v


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    return v

