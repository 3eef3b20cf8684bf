"""Types of a program loaded from the index cache, built from the ELF's DWARF on first need."""

from __future__ import annotations

import os
from typing import Any

from ..types import Type, TypeId, TypeTable, UnsupportedType
from .builder import Builder
from .encoding import DwarfFormatError
from .lazy import LazyTypes
from .reader import Reader
from .sections import read_sections
from .units import Unit


class WarmMaterializer:
    """Opens the ELF the first time a type the cold run did not build is used."""

    def __init__(self, path: str, state: dict[str, Any], identity: tuple[int, int] | None = None) -> None:
        self.path = path
        self.state = state
        self.identity = identity  # (size, mtime_ns) of the ELF the cache was made from
        self.builder: Builder | None = None
        self.failed: str | None = None
        self.types: LazyTypes | None = None
        self.by_name: dict[str, TypeId] | None = None

    def lazy_state(self) -> dict[str, Any] | None:
        return self.builder.lazy_state() if self.builder is not None else self.state

    def materialize(self, tid: TypeId) -> Type:
        b = self.builder
        if b is None and self.failed is None:
            try:
                b = self.builder = self._open()
            except Exception as e:  # noqa: BLE001 - the ELF changed or vanished since indexing
                self.failed = f"the ELF's DWARF could not be read again ({e}); load the ELF again"
        if b is None:
            assert self.types is not None
            t = UnsupportedType("?", None, self.failed or "DWARF unavailable")
            list.__setitem__(self.types, tid, t)
            return t
        return b.materialize(tid)

    def _open(self) -> Builder:
        from ..elf import open_elf  # noqa: PLC0415 - the ELF is opened only when a type is missing

        if self.identity is not None:
            st = os.stat(self.path)
            if (st.st_size, st.st_mtime_ns) != self.identity:
                # DIE offsets of a rebuilt ELF mean nothing to this index
                raise DwarfFormatError("the file changed on disk since it was loaded")
        elf, f = open_elf(self.path)
        try:
            sections = read_sections(elf)
        finally:
            f.close()
        if sections is None:
            raise DwarfFormatError("no DWARF")
        st = self.state
        reader = Reader(sections, st["little"])
        units = []
        for off, ver, asz, osz, abbr, first, end, lang, str_base, addr_base in st["units"]:
            u = Unit(off, ver, asz, osz, language=lang, abbr_off=abbr, first=first, end=end)
            u.str_base = str_base
            u.addr_base = addr_base
            units.append(u)
        reader.abbrev_tables.bounds = sorted({u.abbr_off for u in units})
        assert self.types is not None and self.by_name is not None
        b = Builder({}, st["word_size"], st["little"], reader, units, None)
        b.table = TypeTable(types=self.types, by_name=self.by_name)
        b.memo = st["memo"]
        b.decl = st["decl"]
        b.definitions = st["definitions"]
        b.scope_of = st["scope_of"]
        return b
