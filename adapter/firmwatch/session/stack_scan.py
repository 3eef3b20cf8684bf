"""Stack high-water by painting: find the deepest byte a stack ever wrote, reading little.

A stack area ``[low, high)`` is painted with a sentinel byte while nothing lives there (at boot by
the firmware helper ``firmware/extras/stack_paint``, by an RTOS when it creates a task, or by the
host while the CPU is halted). A stack grows down from ``high``, so every byte it ever wrote lies
at or above its deepest write, the *edge*; everything below the edge still holds the sentinel.

Reading the whole area at every refresh would cost kilobytes; instead the scanner keeps the edge
between refreshes (it can only move down) and per refresh reads:

* one *window* just below the known edge: untouched means the stack did not grow past it
  (the common case: ``window`` bytes);
* otherwise it gallops down in doubling steps until a window is still painted, then bisects
  between that window and the last written byte, ``window`` bytes per probe;
* one *audit* chunk of the supposedly painted area, moving down a little each refresh and
  wrapping around. A frame can skip bytes (an uninitialised local buffer below a deeper call),
  so the bytes just under the edge may be painted while a deeper frame wrote further down; the
  audit finds such a write within one sweep of the area, and a sweep is bounded in bytes per
  refresh rather than done at once.

``floor`` bounds the scan from below when something else grows into the painted area from
there (a heap under a single stack): the scanner never reads under it and never takes the
heap's bytes for the stack's. The same class serves any stack with a sentinel — an RTOS task's
stack (FreeRTOS paints with 0xA5) is one scanner per task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Reader = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class StackMark:
    """The result of one scan. Addresses are the ELF's."""

    low: int  # bottom of the painted area (or the floor, when higher)
    high: int  # top of the painted area
    edge: int | None  # lowest address the stack wrote (the high-water mark); None when unpainted
    untouched: int  # painted bytes still holding the sentinel below the edge (the reserve left)
    painted: bool  # a sentinel was found where paint should be
    exhausted: bool  # the stack wrote down to the floor: the paint is used up (an overflow, or a collision)
    bytes_read: int  # this scan's cost
    reads: int

    @property
    def depth(self) -> int | None:
        """Bytes from the top of the painted area down to the edge."""
        return None if self.edge is None else self.high - self.edge


def _first_written(data: bytes, pattern: int) -> int | None:
    """Index of the first byte that is not the sentinel, or None (every byte is painted)."""
    stripped = data.lstrip(bytes((pattern,)))
    return None if not stripped else len(data) - len(stripped)


class StackScanner:
    """One painted stack: keeps the edge between scans, reads a window and an audit chunk each time.

    ``read(address, size) -> bytes`` is any memory reader (a Target's ``read``). ``window``:
    bytes per probe; a run of that many sentinel bytes is taken as paint, so a larger window
    makes a sentinel value inside live data less likely to be mistaken for it. ``audit``: bytes of
    the painted area re-checked per scan (0 disables the audit).
    """

    def __init__(self, low: int, high: int, pattern: int = 0xAA, window: int = 16, audit: int = 64):
        if high <= low:
            raise ValueError(f"an empty stack area 0x{low:x}..0x{high:x}")
        self.low, self.high = low, high
        self.pattern = pattern & 0xFF
        self.window = max(1, window)
        self.audit = max(0, audit)
        self._edge: int | None = None
        self._cursor: int | None = None
        self._painted = False

    def reset(self) -> None:
        """Forget the edge (after the area was painted again)."""
        self._edge = None
        self._cursor = None
        self._painted = False

    @property
    def edge(self) -> int | None:
        return self._edge

    def planned(self, floor: int | None = None) -> list[tuple[int, int]]:
        """The (address, size) reads the next scan starts with when the edge has not moved: a caller
        may fetch them in its own batch and serve them from there."""
        if self._edge is None:
            return []
        bottom = max(self.low, floor if floor is not None else self.low)
        out = []
        w = min(self.window, self._edge - bottom)
        if w > 0:
            out.append((self._edge - w, w))
        cur = self._cursor
        if cur is None or cur > self._edge or cur <= bottom:
            cur = self._edge
        if self.audit and cur > bottom:
            a = max(bottom, cur - self.audit)
            out.append((a, cur - a))
        return out

    def scan(self, read: Reader, sp: int | None = None, floor: int | None = None) -> StackMark:
        """Update the edge. ``sp``: a stack pointer the stack is known to have reached (the current one,
        or the lowest seen): the edge is at or below it, whatever the paint above it says (a frame's
        unwritten local buffer keeps its paint); ``floor``: the lowest address that may still hold
        paint (e.g. the heap's end)."""
        cost = [0, 0]

        def rd(address: int, size: int) -> bytes:
            data = read(address, size)
            cost[0] += len(data)
            cost[1] += 1
            return data

        bottom = max(self.low, floor if floor is not None else self.low)
        if bottom >= self.high:
            return StackMark(bottom, self.high, self._edge, 0, self._painted, True, 0, 0)
        edge = self._edge
        if edge is None:
            # nothing known yet: the stack pointer (or the top) bounds the edge from above
            edge = self.high if sp is None else min(self.high, max(bottom, sp))
        elif sp is not None and bottom <= sp < edge:
            edge = sp
        edge = max(edge, bottom)
        edge = self._descend(rd, edge, bottom)
        if self.audit and edge > bottom:
            edge = self._audit(rd, edge, bottom)
        if not self._painted:
            # the first time, and while no paint has been seen: is the bottom painted at all?
            if edge > bottom:
                self._painted = True
            else:
                self._edge = None
                return StackMark(bottom, self.high, None, 0, False, False, cost[0], cost[1])
        self._edge = edge
        return StackMark(bottom, self.high, edge, edge - bottom, True, edge <= bottom, cost[0], cost[1])

    def _descend(self, rd: Reader, edge: int, floor: int) -> int:
        """The lowest written address at or below ``edge`` (one window when the stack did not grow)."""
        w = self.window
        step = w
        while True:
            a = max(floor, edge - step)
            if a >= edge:
                return edge
            n = min(w, edge - a)
            data = rd(a, n)
            i = _first_written(data, self.pattern)
            if i is None:
                break  # [a, a + n) is painted: the edge lies above it
            edge = a + i
            if a == floor:
                return edge
            step *= 2
        lo, hi = a + n, edge  # painted below lo; hi written
        while hi - lo > w:
            mid = lo + (hi - lo) // 2
            data = rd(mid, min(w, hi - mid))
            i = _first_written(data, self.pattern)
            if i is None:
                lo = mid + len(data)
            else:
                hi = mid + i
        if hi > lo:
            i = _first_written(rd(lo, hi - lo), self.pattern)
            if i is not None:
                hi = lo + i
        return hi

    def _audit(self, rd: Reader, edge: int, floor: int) -> int:
        """Re-check one chunk of the painted area below the edge; a write found there moves the edge."""
        cur = self._cursor
        if cur is None or cur > edge or cur <= floor:
            cur = edge
        a = max(floor, cur - self.audit)
        data = rd(a, cur - a)
        self._cursor = a
        i = _first_written(data, self.pattern)
        if i is None:
            return edge
        self._cursor = None
        return self._descend(rd, a + i, floor)
