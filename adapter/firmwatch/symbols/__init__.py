"""ELF/DWARF symbols, types, the expression compiler and the value codec.

``load(path)`` is the entry point: it returns a :class:`Program` describing what the ELF
says about memory (sections, symbols, globals and statics with their DWARF types).
"""

from .loader import load
from .program import ElfInfo, Program, Section, Segment, Symbol, SymbolsError, Variable

__all__ = ["ElfInfo", "Program", "Section", "Segment", "Symbol", "SymbolsError", "Variable", "load"]
