"""A program as firmwatch sees it: what an ELF and its DWARF say about memory.

This is the contract between the ELF/DWARF reader (which builds a :class:`Program`)
and everything that consumes one (expression compiler, codec, session, front ends).
"""

from __future__ import annotations

import fnmatch
from bisect import bisect_right
from dataclasses import dataclass, field

from firmwatch.errors import UserError

from .literals import clip
from .names import canonical, needs_spelling_help
from .types import TypeId, TypeTable


class SymbolsError(UserError):
    """A user-facing problem with an ELF or a name in it; ``str()`` is one clear sentence."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    address: int
    size: int
    flags: str  # "A" alloc, "W" write, "X" exec, as readelf prints them
    kind: str  # "ram" or "flash": the memory region it lives in (see elf._by_region); "other": not allocated
    nobits: bool = False  # .bss-like: occupies no file space

    def contains(self, address: int, size: int = 1) -> bool:
        return self.address <= address and address + size <= self.address + self.size


@dataclass(frozen=True, slots=True)
class Segment:
    type: str  # "PT_LOAD", ...
    vaddr: int
    paddr: int
    memsz: int
    filesz: int
    flags: str  # "RWX" subset


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str  # demangled for C++ and Rust
    raw_name: str  # as in the symbol table
    address: int
    size: int
    kind: str  # "object", "function", "other"
    binding: str  # "global", "local", "weak"
    section: str | None


@dataclass(frozen=True, slots=True)
class Variable:
    """A global or static variable known from DWARF (or, without DWARF, from the symbol table)."""

    name: str  # the plain name, e.g. "counter"
    qualified: str  # the unique gdb-style spelling: "counter", "'file.c'::counter", "func::counter", "ns::counter"
    address: int | None  # None: a constant with no storage (see value)
    size: int | None
    type: TypeId | None  # None: no DWARF type known (raw bytes)
    section: str | None
    file: str | None
    line: int | None
    scope: str  # "global", "file", "function", "namespace", "class"
    function: str | None = None  # enclosing function for function-scope statics
    value: bytes | None = None  # DW_AT_const_value: the bytes of a variable the compiler folded away


@dataclass
class ElfInfo:
    path: str
    machine: str  # e.g. "ARM", "AVR", "RISC-V", "x86-64"
    elf_class: int  # 32 or 64
    byteorder: str  # "little" or "big"
    word_size: int  # bytes in an address (2 on AVR, even though ELF32)
    entry: int
    build_id: str  # hex; GNU build-id note, else "crc32:XXXXXXXX" of loadable sections
    build_id_source: str  # "gnu" or "crc32"
    sections: list[Section] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    has_dwarf: bool = False
    dwarf_version: int | None = None
    debug_note: str | None = None  # without usable DWARF: the one sentence saying why and what follows


@dataclass
class Program:
    """Everything known about one ELF. Build it with ``firmwatch.symbols.load(path)``."""

    elf: ElfInfo
    types: TypeTable
    variables: list[Variable]
    symbols: list[Symbol]
    language: str = "c"  # "c", "c++", "rust", "mixed"
    # Indexes built by the loader for O(1)/O(log n) lookups.
    _by_name: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _by_qualified: dict[str, int] = field(default_factory=dict, repr=False)
    _sym_index: dict[str, int] | None = field(default=None, repr=False)
    _sym_starts: list[int] | None = field(default=None, repr=False)
    _sym_spans: list[tuple[int, int, int, str]] = field(default_factory=list, repr=False)
    _by_canon: dict[str, int] | None = field(default=None, repr=False)
    # other spellings of listed names (the DWARF's own, e.g. Filter<long int, 8>): (index, spelling)
    aliases: list[tuple[int, str]] = field(default_factory=list, repr=False)

    # -- lookups (pure functions of the fields above, so hand-built Programs work in tests) ------
    def _ensure_indexes(self) -> None:
        if self._by_name or not self.variables:
            return
        for i, v in enumerate(self.variables):
            self._by_name.setdefault(v.name, []).append(i)
            self._by_qualified[v.qualified] = i

    def find_variable(self, name: str) -> Variable:
        """Resolve a plain or gdb-qualified name (``x``, ``'file.c'::x``, ``func::x``, ``ns::x``,
        ``'ns::T<int>::x'``, any spelling of template arguments).

        A plain name that several statics share resolves like gdb: a true global wins,
        otherwise the error lists the qualified spellings to choose from.
        """
        found = self._lookup(name)
        if isinstance(found, int):
            return self.variables[found]
        if found:
            choices = ", ".join(sorted(self.variables[j].qualified for j in found))
            raise SymbolsError(f"'{clip(name, 80)}' is ambiguous: use one of {choices}")
        raise SymbolsError(f"no symbol '{clip(name, 80)}' in the ELF{self._suggest(name)}")

    def has_variable(self, name: str) -> bool:
        """Whether ``name`` means a variable (or several, ambiguously): no error text is made."""
        return self._lookup(name) is not None

    def _lookup(self, name: str) -> int | list[int] | None:
        """The variable's index, the candidates when ambiguous, or None."""
        self._ensure_indexes()
        i = self._by_qualified.get(name)
        if i is not None:
            return i
        cands = self._by_name.get(name)
        if cands:
            if len(cands) == 1:
                return cands[0]
            globals_ = [j for j in cands if self.variables[j].scope == "global"]
            return globals_[0] if len(globals_) == 1 else list(cands)
        if name[:1] == "'" and name[-1:] == "'" and "'" not in name[1:-1]:
            return self._lookup(name[1:-1])  # gdb's quoting of a whole name: 'ns::T<int>::x'
        i = self._canonical_index().get(canonical(name))
        if i is not None:
            return i
        if "::" in name:
            # 'file.c'::x where file is given as a basename or a path suffix
            scope, _, base = name.rpartition("::")
            file_part, _, func_part = scope.partition("::")
            file_part = file_part.strip("'\"")
            if not func_part and not scope.startswith(("'", '"')):
                file_part, func_part = "", file_part  # func::x
            for j in self._by_name.get(base, []):
                v = self.variables[j]
                in_file = not file_part or bool(v.file and (v.file == file_part or v.file.endswith("/" + file_part)))
                if in_file and (not func_part or v.function == func_part):
                    return j
        return None

    def _canonical_index(self) -> dict[str, int]:
        """canonical spelling -> variable, for names written another way than listed (built on first need)."""
        if self._by_canon is None:
            idx: dict[str, int] = {}
            for q, i in self._by_qualified.items():
                if needs_spelling_help(q):
                    idx.setdefault(canonical(q), i)
            for i, alias in self.aliases:
                idx.setdefault(canonical(alias), i)
            self._by_canon = idx
        return self._by_canon

    def _suggest(self, name: str) -> str:
        """'; did you mean ...' for a misspelt name (error path only, so difflib is fine)."""
        import difflib

        base = name.rpartition("::")[2].strip("'")
        if len(base) > 200:
            return ""  # no name is that long; difflib would take a while to say so
        close = difflib.get_close_matches(base, list(self._by_name), n=3, cutoff=0.8)
        if not close:
            return ""
        spelled = [self.variables[self._by_name[c][0]].qualified if len(self._by_name[c]) == 1 else c for c in close]
        return "; did you mean " + " or ".join(spelled) + "?"

    def find_type(self, name: str) -> TypeId | None:
        """A named type as written in a cast: ``uint32_t``, ``struct foo``, ``unsigned int``, ``ns::T``."""
        tid = self.types.by_name.get(name)
        if tid is not None:
            return tid
        norm = " ".join(name.split())
        return self.types.by_name.get(_CANONICAL_BASE.get(norm, norm))

    def find_symbol(self, name: str) -> Symbol | None:
        """A symbol by demangled or raw name (functions and objects); globals win over locals."""
        if self._sym_index is None:
            idx: dict[str, int] = {}
            for i, s in enumerate(self.symbols):
                for key in (s.name, s.raw_name):
                    j = idx.get(key)
                    if j is None or (self.symbols[j].binding == "local" and s.binding != "local"):
                        idx[key] = i
            self._sym_index = idx
        i = self._sym_index.get(name)
        return None if i is None else self.symbols[i]

    def symbolize(self, address: int) -> str | None:
        """The function (or object) containing ``address``, as ``name`` or ``name+off``."""
        if self._sym_starts is None:
            thumb = self.elf.machine == "ARM"
            spans = []
            for s in self.symbols:
                if s.kind not in ("function", "object"):
                    continue
                a = s.address & ~1 if thumb and s.kind == "function" else s.address
                spans.append((a, max(s.size, 1), 0 if s.kind == "function" else 1, s.name))
            spans.sort()
            self._sym_spans = spans
            self._sym_starts = [sp[0] for sp in spans]
        best: tuple[int, int, int, str] | None = None
        # spans may nest or overlap (aliases); look back over the few that start before address
        i = bisect_right(self._sym_starts, address) - 1
        lo = max(i - 16, -1)
        while i > lo:
            sp = self._sym_spans[i]
            if sp[0] <= address < sp[0] + sp[1] and (best is None or sp[2] < best[2]):
                best = sp
            i -= 1
        if best is None:
            return None
        return best[3] if address == best[0] else f"{best[3]}+{address - best[0]}"

    def variables_matching(self, pattern: str) -> list[Variable]:
        """Variables whose plain or qualified name matches the shell-style glob ``pattern``."""
        return [v for v in self.variables
                if fnmatch.fnmatchcase(v.qualified, pattern) or fnmatch.fnmatchcase(v.name, pattern)]

    def section_at(self, address: int) -> Section | None:
        for s in self.elf.sections:
            if s.address and s.contains(address):
                return s
        return None


# gdb's spellings of C base types, so "unsigned" and "long unsigned int" find "unsigned int" etc.
_CANONICAL_BASE = {
    "unsigned": "unsigned int",
    "signed": "int",
    "signed int": "int",
    "short": "short int",
    "short int": "short int",
    "signed short": "short int",
    "unsigned short": "short unsigned int",
    "unsigned short int": "short unsigned int",
    "long": "long int",
    "signed long": "long int",
    "unsigned long": "long unsigned int",
    "unsigned long int": "long unsigned int",
    "long long": "long long int",
    "signed long long": "long long int",
    "unsigned long long": "long long unsigned int",
    "unsigned long long int": "long long unsigned int",
    "unsigned char": "unsigned char",
    "signed char": "signed char",
}
