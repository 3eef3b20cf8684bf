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
* ``lines``      file names of the line-program headers
* ``sections``   the debug sections' bytes (decompressed)
* ``builder``    types built from DIEs on first use
* ``variables``  which DIEs are global/static variables, and their scope names
* ``lazy``/``warm``  the lazily built type list, also after a load from the index cache
* ``index``      ``read_dwarf``: all of the above in order

Robustness rule: a DIE we cannot make sense of becomes an ``UnsupportedType`` (for a
type) or is skipped (for a variable); weird DWARF never aborts the index.
"""

from .encoding import DwarfFormatError
from .index import read_dwarf
from .lazy import LazyTypes
from .results import DwarfResult, RawVariable
from .warm import WarmMaterializer

__all__ = ["DwarfFormatError", "DwarfResult", "LazyTypes", "RawVariable", "WarmMaterializer", "read_dwarf"]
