"""Abbreviation tables (.debug_abbrev): code -> (tag, has children, attribute specs)."""

from __future__ import annotations

import bisect

from .encoding import sleb, uleb
from .forms import FORM_implicit_const

Abbrev = tuple[int, bool, tuple[tuple[int, int, int], ...]]  # tag, has children, (attr, form, implicit)
AbbrevTable = dict[int, Abbrev]


class AbbrevTables:
    """Every table of one ``.debug_abbrev``, each parsed once.

    Units compiled alike have byte-identical tables: the bytes up to the next table in use
    (or the section end) identify one, so each distinct table is parsed once and shared,
    which also lets the decoders generated for it be shared (they are keyed by its id).
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.bounds: list[int] = []  # sorted offsets of the tables in use
        self._by_offset: dict[int, AbbrevTable] = {}
        self._by_bytes: dict[bytes, AbbrevTable] = {}

    def table(self, off: int) -> AbbrevTable:
        cached = self._by_offset.get(off)
        if cached is not None:
            return cached
        d = self.data
        i = bisect.bisect_right(self.bounds, off)
        span = d[off : self.bounds[i] if i < len(self.bounds) else len(d)]
        same = self._by_bytes.get(span)
        if same is not None:
            self._by_offset[off] = same
            return same
        table = parse_table(d, off)
        self._by_offset[off] = table
        self._by_bytes[span] = table
        return table


def parse_table(d: bytes, p: int) -> AbbrevTable:
    # nearly every number here fits one LEB128 byte: read inline, uleb() for the rest
    table: AbbrevTable = {}
    n = len(d)
    while p < n:
        code = d[p]
        if code < 0x80:
            p += 1
        else:
            code, p = uleb(d, p)
        if code == 0:
            break
        tag = d[p]
        if tag < 0x80:
            p += 1
        else:
            tag, p = uleb(d, p)
        children = d[p] != 0
        p += 1
        specs: list[tuple[int, int, int]] = []
        while True:
            at = d[p]
            if at < 0x80:
                p += 1
            else:
                at, p = uleb(d, p)
            form = d[p]
            if form < 0x80:
                p += 1
            else:
                form, p = uleb(d, p)
            if form == FORM_implicit_const:  # carries its value here
                implicit, p = sleb(d, p)
                specs.append((at, form, implicit))
                continue
            if at == 0 and form == 0:
                break
            specs.append((at, form, 0))
        table[code] = (tag, children, tuple(specs))
    return table
