"""What indexing DWARF produces for the loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from ..types import TypeId, TypeTable
from .constants import TAG_variable


@dataclass(slots=True)
class RawVariable:
    """A variable as found in DWARF, before names are disambiguated across the program."""

    name: str
    scope_parts: tuple[str, ...]  # namespaces / classes
    scope: str  # "global", "file", "function", "namespace", "class"
    function: str | None
    address: int | None  # None: declaration only (resolve through the symbol table)
    type: TypeId | None
    file: str | None
    line: int | None
    cu_name: str
    linkage_name: str | None
    value: bytes | None = None  # DW_AT_const_value: the variable has no storage (address None)
    declared: bool = False  # a declaration (a class's static member), not a definition
    spelled: str | None = None  # the scoped name as gdb spells it (the demangled linkage name)
    tag: ClassVar[int] = TAG_variable  # walks over a unit's children treat it as that DIE


@dataclass
class DwarfResult:
    types: TypeTable
    variables: list[RawVariable]
    version: int | None
    language: str
    notes: list[str] = field(default_factory=list)
    sizeof: Callable[[TypeId | None], int | None] | None = None  # without building the type
