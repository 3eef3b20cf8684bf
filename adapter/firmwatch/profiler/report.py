"""A profile as front ends and exports see it: plain data, times in seconds.

Both kinds of profile produce the same shape. An *instrumented* profile (MiniProfiler records)
knows calls, self and total time and their spread; a *sampled* one (PC samples) knows how many
samples fell in each function and line, and estimates time as samples x sampling period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmwatch.profiler.calltree import CallNode


@dataclass(frozen=True, slots=True)
class FunctionRow:
    name: str
    self_s: float
    total_s: float
    share: float  # self time / profiled time (0..1)
    calls: int | None = None  # instrumented only
    min_s: float | None = None
    avg_s: float | None = None
    max_s: float | None = None
    samples: int | None = None  # sampled only
    file: str | None = None  # where the function is defined
    line: int | None = None


@dataclass(frozen=True, slots=True)
class LineRow:
    file: str
    line: int
    function: str
    samples: int
    share: float  # of all samples


@dataclass
class Profile:
    mode: str  # "instrumented" or "sampled"
    elf: str
    duration_s: float  # the time the profile covers (device time when instrumented)
    functions: list[FunctionRow]  # by self time, largest first
    tree: CallNode  # call paths; node times in tree_unit_s
    tree_unit_s: float
    lines: list[LineRow] = field(default_factory=list)  # sampled: per-line hot spots
    counters: dict[str, Any] = field(default_factory=dict)  # losses and link figures
    notes: list[str] = field(default_factory=list)  # what the user should know (losses, ...)
    device: dict[str, Any] = field(default_factory=dict)  # METADATA, or the sampler's transport
    running: bool = False
    # timeline, for trace exports: (function, start_s, end_s, depth) when instrumented,
    # (time_s, stack tuple outermost first) when sampled
    intervals: list[tuple[str, float, float, int]] = field(default_factory=list)
    samples: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    def top(self, n: int = 10) -> list[FunctionRow]:
        return self.functions[:n]

    def function(self, name: str) -> FunctionRow | None:
        return next((f for f in self.functions if f.name == name), None)

    def to_json(self, *, tree_depth: int = 64) -> dict[str, Any]:
        """A JSON-ready summary (the debug adapter's event and ``--json`` use it)."""

        def node(n: CallNode, depth: int) -> dict[str, Any]:
            d: dict[str, Any] = {"name": n.name, "total": n.total_time * self.tree_unit_s,
                                 "self": n.self_time * self.tree_unit_s}
            if self.mode == "instrumented":
                d["calls"] = n.calls
            if depth < tree_depth and n.children:
                d["children"] = [node(c, depth + 1) for c in sorted(n.children.values(), key=lambda c: -c.total_time)]
            return d

        return {
            "mode": self.mode,
            "elf": self.elf,
            "duration": self.duration_s,
            "running": self.running,
            "functions": [
                {k: getattr(f, k) for k in FunctionRow.__slots__ if getattr(f, k) is not None}  # type: ignore[attr-defined]
                for f in self.functions
            ],
            "lines": [{"file": r.file, "line": r.line, "function": r.function, "samples": r.samples,
                       "share": r.share} for r in self.lines],
            "tree": node(self.tree, 0),
            "counters": self.counters,
            "notes": self.notes,
            "device": self.device,
        }
