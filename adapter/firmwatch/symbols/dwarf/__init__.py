"""DWARF 2-5 -> variables and the :class:`~firmwatch.symbols.types.TypeTable`.

One concept per module:

* ``constants``  the DWARF numbers by name (tags, attributes, encodings, languages)
* ``encoding``   LEB128 and strings
* ``forms``      the DW_FORM table every decoder is driven by, and the generic decoder
* ``abbrev``     abbreviation tables
* ``units``      unit headers
* ``die``        the DIE record
* ``codegen``    straight-line decoders generated per abbreviation shape from the form table
* ``reader``     the index pass over a unit and subtrees re-read on demand
* ``lines``      line programs: the headers' file names and the rows
* ``sections``   the debug sections' bytes (decompressed)
* ``builder``    types built from DIEs on first use
* ``variables``  which DIEs are global/static variables, and their scope names
* ``lazy``/``warm``  the lazily built type list, also after a load from the index cache
* ``index``      ``read_dwarf``: all of the above in order

Robustness rule: a DIE we cannot make sense of becomes an ``UnsupportedType`` (for a
type) or is skipped (for a variable); weird DWARF never aborts the index.
"""

from typing import Any

from .encoding import DwarfFormatError
from .lazy import LazyTypes
from .results import DwarfResult, RawVariable


def __getattr__(name: str) -> Any:
    # the reader, generated decoders and type builder load with the first cold index or the
    # first type a cached index lacks: a warm start never needs them
    if name == "read_dwarf":
        from .index import read_dwarf

        return read_dwarf
    if name == "WarmMaterializer":
        from .warm import WarmMaterializer

        return WarmMaterializer
    raise AttributeError(name)

__all__ = ["DwarfFormatError", "DwarfResult", "LazyTypes", "RawVariable", "WarmMaterializer", "read_dwarf"]
