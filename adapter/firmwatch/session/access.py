"""What the session samples, declared: a compiled access, the plan it binds to, the value it decodes.

Three kinds of watch share these shapes, so the session, the planner, the recorder and every front
end handle them alike: C expressions compiled from the ELF's DWARF
(:class:`firmwatch.symbols.expr.CompiledExpression`, its ``BoundPlan`` and ``Value``), raw
address watches (:mod:`firmwatch.session.raw`) and SVD registers
(:mod:`firmwatch.peripherals.expression`). tests/test_access.py checks that each one has every
member declared here.

Only a :class:`firmwatch.symbols.values.Value` has a C type behind it (its members, its notes,
its ``ctx``): a front end that shows more than these members asks ``isinstance(v, Value)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from firmwatch.targets.base import Region

Reader = Callable[[int, int], bytes]


@runtime_checkable
class Decoded(Protocol):
    """One decoded value: what a watch shows, plots and records."""

    address: int | None  # where it was read, None for a computed value
    raw: bytes  # exactly its bytes

    @property
    def type_name(self) -> str: ...
    @property
    def scalar(self) -> int | float | bool | str | None: ...  # None for an aggregate
    @property
    def is_aggregate(self) -> bool: ...
    def display(self, hex: bool = False) -> str: ...
    def children(self, start: int = 0, count: int | None = None) -> list[Any]: ...


@runtime_checkable
class AccessPlan(Protocol):
    """Fixed memory regions (pointer hops already taken) and a decoder from their bytes: the same
    plan serves a one-shot read, a firmware stream and a GDB sampling batch."""

    regions: list[Region]

    def decode(self, chunks: Sequence[bytes]) -> Decoded: ...


@runtime_checkable
class CompiledAccess(Protocol):
    """A checked watch expression: what it reads and how it decodes."""

    text: str
    type_name: str
    address: int | None  # its fixed address when it has one
    size: int | None
    read_only: bool  # const data, flash, or a read-only register: writes are refused before they are tried
    is_lvalue: bool

    def static_regions(self) -> list[Region] | None: ...  # None: they depend on memory (a pointer hop)
    def bind(self, read: Reader) -> AccessPlan: ...
    def evaluate(self, read: Reader) -> Decoded: ...
