"""A profile in the formats people already open.

* **speedscope** (https://www.speedscope.app): an *evented* profile (open/close events of every
  call) from an instrumented run, a *sampled* one (stacks with weights) from PC sampling.
* **Chrome / Perfetto trace events** (chrome://tracing, https://ui.perfetto.dev): one complete
  ("X") event per call; for a sampled profile, one per run of consecutive samples in the same
  function.
* **collapsed stacks** (Brendan Gregg's flamegraph.pl, speedscope, inferno): ``a;b;c N`` lines;
  N is self time in microseconds (instrumented) or a sample count (sampled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from firmwatch import __version__
from firmwatch.profiler.report import Profile

FORMATS = ("speedscope", "chrome", "collapsed", "json")
SUFFIX = {"speedscope": ".speedscope.json", "chrome": ".trace.json", "collapsed": ".folded", "json": ".json"}


class _Frames:
    def __init__(self, profile: Profile):
        self.index: dict[str, int] = {}
        self.frames: list[dict[str, Any]] = []
        self._where = {f.name: (f.file, f.line) for f in profile.functions}

    def __call__(self, name: str) -> int:
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.frames)
            frame: dict[str, Any] = {"name": name}
            file, line = self._where.get(name, (None, None))
            if file:
                frame["file"] = file
            if line:
                frame["line"] = line
            self.frames.append(frame)
        return i


def speedscope(profile: Profile) -> dict[str, Any]:
    frames = _Frames(profile)
    name = f"{Path(profile.elf).name} ({profile.mode})"
    if profile.mode == "instrumented":
        events: list[dict[str, Any]] = []
        open_: list[tuple[float, int]] = []  # (end, frame) of the calls open at this point
        end = 0.0
        for func, start, stop in _nested(profile.intervals):
            while open_ and open_[-1][0] <= start:
                t, fr = open_.pop()
                events.append({"type": "C", "frame": fr, "at": t})
            fr = frames(func)
            events.append({"type": "O", "frame": fr, "at": start})
            open_.append((stop, fr))
            end = max(end, stop)
        while open_:
            t, fr = open_.pop()
            events.append({"type": "C", "frame": fr, "at": t})
        prof: dict[str, Any] = {"type": "evented", "name": name, "unit": "seconds", "startValue": 0.0,
                                "endValue": end, "events": events}
    else:
        samples, weights = [], []
        period = profile.duration_s / len(profile.samples) if profile.samples else 0.0
        for _, stack in profile.samples:
            samples.append([frames(f) for f in stack])
            weights.append(period)
        prof = {"type": "sampled", "name": name, "unit": "seconds", "startValue": 0.0,
                "endValue": profile.duration_s, "samples": samples, "weights": weights}
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames.frames},
        "profiles": [prof],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": f"firmwatch {__version__}",
    }


def _nested(intervals: list[tuple[str, float, float, int]]) -> list[tuple[str, float, float]]:
    """Calls as properly nested intervals in start order (outer first at equal starts). A call
    that would outlast the one around it (which exact clocks never produce, but rounding could)
    is cut at its end."""
    ivs = sorted(intervals, key=lambda iv: (iv[1], -iv[2], iv[3]))
    out: list[tuple[str, float, float]] = []
    stack: list[float] = []
    for func, start, stop, _ in ivs:
        while stack and stack[-1] <= start:
            stack.pop()
        if stack and stop > stack[-1]:
            stop = stack[-1]
        out.append((func, start, stop))
        stack.append(stop)
    return out


def chrome_trace(profile: Profile) -> dict[str, Any]:
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": Path(profile.elf).name}},
        {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": f"CPU ({profile.mode})"}},
    ]
    if profile.mode == "instrumented":
        for func, start, stop in _nested(profile.intervals):
            events.append({"name": func, "cat": "call", "ph": "X", "pid": 1, "tid": 1,
                           "ts": round(start * 1e6, 3), "dur": round((stop - start) * 1e6, 3)})
    else:
        period = profile.duration_s / len(profile.samples) if profile.samples else 0.0
        run: tuple[str, float, float] | None = None
        for t, stack in profile.samples:
            leaf = stack[-1] if stack else "?"
            if run is not None and run[0] == leaf:
                run = (leaf, run[1], t + period)
                continue
            if run is not None:
                events.append(_slice(*run))
            run = (leaf, t, t + period)
        if run is not None:
            events.append(_slice(*run))
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"exporter": f"firmwatch {__version__}", "mode": profile.mode, "elf": profile.elf}}


def _slice(name: str, start: float, stop: float) -> dict[str, Any]:
    return {"name": name, "cat": "sample", "ph": "X", "pid": 1, "tid": 1,
            "ts": round(start * 1e6, 3), "dur": round((stop - start) * 1e6, 3)}


def collapsed(profile: Profile) -> str:
    lines = []
    for path, node in profile.tree.walk():
        if profile.mode == "instrumented":
            n = round(node.self_time * profile.tree_unit_s * 1e6)
        else:
            n = node.self_time
        if n > 0:
            lines.append(f"{';'.join(p.replace(';', ':') for p in path)} {n}")
    return "\n".join(lines) + ("\n" if lines else "")


def write(profile: Profile, fmt: str, path: str | Path) -> Path:
    path = Path(path)
    if fmt == "speedscope":
        text = json.dumps(speedscope(profile))
    elif fmt == "chrome":
        text = json.dumps(chrome_trace(profile))
    elif fmt == "collapsed":
        text = collapsed(profile)
    elif fmt == "json":
        text = json.dumps(profile.to_json(), indent=1)
    else:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
