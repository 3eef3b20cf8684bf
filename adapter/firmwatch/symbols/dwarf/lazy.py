"""Types built on first use: the program's type list and who builds its missing entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..cache import LazyList
from ..types import Type, TypeId


class Materializer(Protocol):
    def materialize(self, tid: TypeId) -> Type: ...

    def lazy_state(self) -> dict[str, Any] | None: ...


class LazyTypes(LazyList):
    """The program's type list: a slot holds a type, its encoded tuple (from the cache), or
    the offset of the DIE it is built from on first access (an int).

    Every id is reserved by the index pass, so the list does not grow as types are built
    (derived-type overlays such as the expression compiler's number theirs after it).
    """

    __slots__ = ("source",)

    def __init__(self, raw: list[Any], decode: Callable[[Any], Any], source: Materializer) -> None:
        super().__init__(raw, decode)
        self.source = source

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        v = list.__getitem__(self, i)
        tv = type(v)
        if tv is int:
            return self.source.materialize(i if i >= 0 else i + len(self))
        if tv is tuple:
            v = self._decode(v)
            list.__setitem__(self, i, v)
        return v

    def lazy_state(self) -> dict[str, Any] | None:
        """What a later process needs to build the remaining types from the ELF (cache)."""
        return self.source.lazy_state()
