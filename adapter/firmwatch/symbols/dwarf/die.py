"""The debugging information entry as the passes keep it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .units import Unit


class Die:
    # full: children are all here. The index pass leaves the children of C aggregate types
    # unread (a "stub"); the type builder re-reads the subtree when the type is first used.
    __slots__ = ("offset", "tag", "attrs", "children", "cu", "full")

    def __init__(self, offset: int, tag: int, attrs: dict[int, Any], cu: Unit) -> None:
        self.offset = offset
        self.tag = tag
        self.attrs = attrs
        self.children: list[Any] = []  # Die, or RawVariable for plain C globals
        self.cu = cu
        self.full = True

    def get(self, at: int, default: Any = None) -> Any:
        return self.attrs.get(at, default)

    def __repr__(self) -> str:
        return f"Die(0x{self.offset:x}, tag=0x{self.tag:x}, {self.attrs})"


class Deferred:
    """A string/address index whose base attribute comes later in the same (top) DIE."""

    __slots__ = ("index", "kind")

    def __init__(self, index: int, kind: str) -> None:
        self.index = index
        self.kind = kind
