"""Calls rebuilt from MiniProfiler records: ``(function, entry, duration, depth)`` in exit order.

A device writes a record when a call *returns*, so children arrive before their parent, and
the exit times (entry + duration) of successive records never go backwards. Both facts drive
everything here:

* **Time.** Entry and duration are 32-bit counts of the device timer (microseconds: the count
  wraps every 71.6 minutes). Exit times are unwrapped one step at a time: a step of less than
  half the range is forward (across the wrap if need be), a larger one is a small step back
  (records the device did not write in exit order, as in the seed's own example dump).
* **Parents.** A record at depth *d* is a child of the next record at depth *d - 1* whose
  interval contains it. When a record at depth *d - 1* arrives, every record waiting at depth
  *d* is settled: adopted if inside it, otherwise its parent was lost (or is still running)
  and it hangs under a "caller not recorded" node instead of under somebody else.
* **Losses.** The device never sends a caller whose callee's record it had to drop (it counts
  both); a frame destroyed on the link is reported with :meth:`CallTreeBuilder.gap`, and the
  calls that were running across it keep their callees' unexplained time under a "records
  lost" node rather than as their own. So lost time is shown as lost, never credited to the
  wrong function.

Aggregates kept as records arrive: per-function statistics (``FunctionStats``) and the call
tree by call path (``CallNode``), both cheap to snapshot while a profile is running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

WRAP = 1 << 32
HALF = 1 << 31

UNKNOWN_CALLER = "(caller not recorded)"
LOST = "(records lost)"


@dataclass(slots=True)
class FunctionStats:
    name: str
    calls: int = 0
    self_time: int = 0  # timer units
    total_time: int = 0  # inclusive, each recursion counted once
    min_time: int = 0
    max_time: int = 0
    sum_time: int = 0  # of all calls' durations (for the average)

    @property
    def avg_time(self) -> float:
        return self.sum_time / self.calls if self.calls else 0.0


@dataclass(slots=True)
class CallNode:
    """One call path: the calls of ``name`` made from the path of its parent."""

    name: str
    calls: int = 0
    total_time: int = 0
    self_time: int = 0
    children: dict[str, CallNode] = field(default_factory=dict)

    def child(self, name: str) -> CallNode:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = CallNode(name)
        return node

    def copy(self) -> CallNode:
        return CallNode(self.name, self.calls, self.total_time, self.self_time,
                        {k: v.copy() for k, v in self.children.items()})

    def walk(self, path: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], CallNode]]:
        """Every node below this one with its path (names from the first level down)."""
        stack = [(path + (n.name,), n) for n in reversed(list(self.children.values()))]
        while stack:
            p, n = stack.pop()
            yield p, n
            stack.extend((p + (c.name,), c) for c in reversed(list(n.children.values())))


class _Call:
    """A record waiting for its parent, with the children it adopted."""

    __slots__ = ("func", "start", "end", "depth", "children", "self_time", "lost", "outer")

    def __init__(self, func: str, start: int, end: int, depth: int):
        self.func = func
        self.start = start
        self.end = end
        self.depth = depth
        self.children: list[_Call] | None = None
        self.self_time = end - start
        self.lost = 0  # time of callees lost on the link
        self.outer: dict[str, int] | None = None  # per function: outermost inclusive time inside


@dataclass(slots=True)
class Interval:
    """One call, for timeline exports: unwrapped device time in timer units."""

    func: str
    start: int
    end: int
    depth: int


class CallTreeBuilder:
    """Feed records in arrival order; read ``functions``, ``root`` and the counters at any time."""

    def __init__(self, name_of: Callable[[int], str], *, keep_intervals: bool = False,
                 max_intervals: int = 2_000_000):
        self._name_of = name_of
        self._names: dict[int, str] = {}
        self.functions: dict[str, FunctionStats] = {}
        self.root = CallNode("")
        self._pending: dict[int, list[_Call]] = {}  # depth -> calls waiting for a parent
        self._last_exit32: int | None = None
        self._last_exit = 0
        # Link gaps: [last exit before, first exit after] (None until the next record arrives).
        self._gaps: list[list[int | None]] = []
        self.records = 0
        self.orphans = 0  # calls whose caller was not recorded (lost, or still running)
        self.lost_time = 0  # callee time that went missing with frames lost on the link
        self.first_start: int | None = None
        self.last_end: int | None = None
        self.keep_intervals = keep_intervals
        self.max_intervals = max_intervals
        self.intervals: list[Interval] = []
        self.intervals_dropped = 0

    # -- input -------------------------------------------------------------------------------
    def _name(self, addr: int) -> str:
        name = self._names.get(addr)
        if name is None:
            name = self._names[addr] = self._name_of(addr)
        return name

    def gap(self) -> None:
        """Records were lost on the link here (a corrupt frame): calls running across it may
        miss callees."""
        if self._gaps and self._gaps[-1][1] is None:
            return  # the same gap, still open
        self._gaps.append([self._last_exit, None])
        if len(self._gaps) > 4096:
            del self._gaps[0]

    def add(self, records: Iterable[tuple[int, int, int, int]]) -> None:
        for addr, entry, duration, depth in records:
            exit32 = (entry + duration) & 0xFFFFFFFF
            if self._last_exit32 is None:
                end = exit32
            else:
                step = (exit32 - self._last_exit32) & 0xFFFFFFFF
                end = self._last_exit + (step if step < HALF else step - WRAP)
            self._last_exit32 = exit32
            self._last_exit = end
            call = _Call(self._name(addr), end - duration, end, depth)
            self._arrive(call)

    def _arrive(self, call: _Call) -> None:
        self.records += 1
        if self.first_start is None or call.start < self.first_start:
            self.first_start = call.start
        if self.last_end is None or call.end > self.last_end:
            self.last_end = call.end
        if self.keep_intervals:
            if len(self.intervals) < self.max_intervals:
                self.intervals.append(Interval(call.func, call.start, call.end, call.depth))
            else:
                self.intervals_dropped += 1
        d = call.depth
        # Settle everything waiting below: callees of this call, or orphans.
        deeper = [k for k in self._pending if k > d]
        for k in sorted(deeper, reverse=True):
            waiting = self._pending.pop(k)
            for c in waiting:
                if k == d + 1 and c.start >= call.start and c.end <= call.end:
                    if call.children is None:
                        call.children = []
                    call.children.append(c)
                    call.self_time -= c.end - c.start
                else:
                    self._orphan(c)
        if self._gaps and self._gaps[-1][1] is None:
            self._gaps[-1][1] = call.end
        if self._gaps and self._across_gap(call):
            # callees of this call may have gone with the lost frame: what its known callees do
            # not explain is not known to be its own
            call.lost = call.self_time
            call.self_time = 0
            self.lost_time += call.lost
        self._account(call)
        if d == 0:
            self._aggregate(self.root, call)
        else:
            self._pending.setdefault(d, []).append(call)

    def _across_gap(self, call: _Call) -> bool:
        for lo, hi in reversed(self._gaps):
            assert lo is not None and hi is not None
            if hi <= call.start:
                return False  # this one and every earlier gap ended before the call began
            if call.end > lo:
                return True
        return False

    def _account(self, call: _Call) -> None:
        st = self.functions.get(call.func)
        dur = call.end - call.start
        if st is None:
            st = self.functions[call.func] = FunctionStats(call.func, min_time=dur, max_time=dur)
        st.calls += 1
        st.self_time += call.self_time
        st.sum_time += dur
        if dur < st.min_time:
            st.min_time = dur
        if dur > st.max_time:
            st.max_time = dur
        # inclusive time counts a recursion once: subtract the outermost same-function callee
        outer: dict[str, int] | None = None
        if call.children:
            outer = {}
            for c in call.children:
                src = c.outer if c.outer is not None else {c.func: c.end - c.start}
                for f, t in src.items():
                    outer[f] = outer.get(f, 0) + t
        st.total_time += dur - (outer.get(call.func, 0) if outer else 0)
        if outer is not None:
            outer[call.func] = dur
            call.outer = outer

    def _orphan(self, call: _Call) -> None:
        self.orphans += 1
        self._aggregate(self.root.child(UNKNOWN_CALLER), call)

    def _aggregate(self, parent: CallNode, call: _Call) -> None:
        stack = [(parent, call)]
        while stack:
            p, c = stack.pop()
            node = p.child(c.func)
            node.calls += 1
            node.total_time += c.end - c.start
            node.self_time += c.self_time
            if c.lost:
                lost = node.child(LOST)
                lost.total_time += c.lost
                lost.self_time += c.lost
            if c.children:
                stack.extend((node, k) for k in c.children)

    # -- output ------------------------------------------------------------------------------
    def snapshot(self) -> CallNode:
        """The call tree so far, with the calls still waiting for a caller under
        "(caller not recorded)" (the running ones settle there or under their caller later)."""
        root = self.root.copy()
        for k in sorted(self._pending):
            for c in self._pending[k]:
                self._aggregate(root.child(UNKNOWN_CALLER), c)
        unk = root.children.get(UNKNOWN_CALLER)
        if unk is not None:
            unk.total_time = sum(c.total_time for c in unk.children.values())
            unk.calls = 0
        return root

    def finish(self) -> CallNode:
        """Settle every call still waiting (its caller never returned or was lost)."""
        for k in sorted(self._pending, reverse=True):
            for c in self._pending.pop(k):
                self._orphan(c)
        unk = self.root.children.get(UNKNOWN_CALLER)
        if unk is not None:
            unk.total_time = sum(c.total_time for c in unk.children.values())
        return self.root

    @property
    def span(self) -> int:
        """Device time from the first call's entry to the last call's return (timer units)."""
        if self.first_start is None or self.last_end is None:
            return 0
        return self.last_end - self.first_start
