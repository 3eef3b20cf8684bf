"""``load(path)``: ELF + DWARF -> :class:`Program`, through the on-disk index cache."""

from __future__ import annotations

import bisect
import gc
import os
import re
from collections.abc import Callable
from typing import Any

from . import cache
from .dwarf import LazyTypes, RawVariable
from .elf import (
    _build_id,
    check_regular,
    decode_symbol_table,
    deferred_symbols,
    open_elf,
    read_elf_info,
    symbol_table,
)
from .program import ElfInfo, Program, Symbol, SymbolsError, Variable
from .types import TypeTable


def _log() -> Any:
    import logging  # notes for a log nobody may be keeping: not worth its import on every start

    return logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def load(
    path: str | os.PathLike[str], *, use_cache: bool = True, progress: Progress | None = None
) -> Program:
    """Read ``path`` (an ELF) into a :class:`Program`.

    ``progress(done, total)`` is called while DWARF is indexed (bytes of ``.debug_info``).
    Raises :class:`SymbolsError` (one sentence) for a missing, non-ELF or truncated file.
    An ELF without DWARF still loads: variables then come from the symbol table with no
    type (``Program.elf.has_dwarf`` is False).
    """
    p = os.fspath(path)
    abspath = os.path.abspath(p)
    try:
        st = os.stat(abspath)
    except FileNotFoundError:
        raise SymbolsError(f"no such file: {p}; check the path to the firmware ELF") from None
    except OSError as e:
        raise SymbolsError(f"cannot read {p}: {e.strerror}") from None
    check_regular(p, st.st_mode)
    ident = cache.identity(abspath, st)
    # Indexing allocates hundreds of thousands of small objects and no cycles worth
    # collecting; the cyclic GC rescanning them all every few thousand allocations cost
    # about a third of a cold index.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if use_cache:
            payload = cache.read(abspath, ident)
            if payload is not None:
                prog = _from_payload(payload, (st.st_size, st.st_mtime_ns))
                if prog is not None and _same_build(abspath, prog.elf):
                    return prog
        prog = _index(p, progress)
        assert prog is not None
        if use_cache:
            cache.write(abspath, ident, _to_payload(prog))
        return prog
    finally:
        if gc_was_enabled:
            gc.enable()


def _same_build(abspath: str, info: ElfInfo) -> bool:
    """The build id still matches (guards against a same-size rewrite within mtime granularity)."""
    if info.build_id_source != "gnu":
        return True  # a CRC over all loadable sections costs as much as we want to save
    try:
        elf, f = open_elf(abspath)
    except SymbolsError:
        return False
    try:
        return _build_id(elf)[0] == info.build_id
    finally:
        f.close()


# -- cold path ------------------------------------------------------------------------------------
_C_WORDS = frozenset(
    ["struct", "union", "enum", "class", "const", "volatile", "unsigned", "signed", "int", "char", "short", "long", "float", "double", "void", "bool", "_Bool", "sizeof", "anonymous", "namespace", "operator", "true", "false", "NULL", "nullptr"]
)


def _lookup_words(expression: str) -> list[str]:
    """The words whose units must be read: the variable's own name when the expression starts
    with one (a scope's words, like std's 'app', are in far more units than the variable's)."""
    from .parser import name_ends  # noqa: PLC0415 - the parser is needed for this lookup only

    text = expression.strip().lstrip("(*&! ")
    if text.startswith("'") and "'::" in text:
        text = text[text.index("'::") + 3 :]  # 'file.c'::x
    text = text.strip("'")
    ends = name_ends(text, 0)
    if ends:
        last = text[: ends[-1]].rsplit("::", 1)[-1]
        if re.fullmatch(r"[A-Za-z_$][\w$]*", last) and last not in _C_WORDS:
            return [last]
    return [w for w in re.findall(r"[A-Za-z_$][\w$]*", expression) if w not in _C_WORDS]


def load_partial(path: str | os.PathLike[str], expression: str) -> Program | None:
    """A Program of only the compile units that name a word of ``expression`` — the first
    answer to one lookup in an ELF nobody has indexed, without indexing it all. Its variable
    list is partial: use it for that lookup only (``load`` is the whole program). None when
    the units cannot be told apart this way; the caller then loads the whole program."""
    words = _lookup_words(expression)
    p = os.fspath(path)
    st = os.stat(p)
    check_regular(p, st.st_mode)
    if not words:
        return None
    return _index(p, None, naming=words)


def _index(path: str, progress: Progress | None, naming: list[str] | None = None) -> Program | None:
    elf, f = open_elf(path)
    try:
        try:
            info = read_elf_info(elf, path)
            # one lookup needs no demangled table: the few names it spells are demangled alone
            symbols = deferred_symbols(symbol_table(elf), demangle_now=naming is None)
        except SymbolsError:
            raise
        except Exception as e:  # noqa: BLE001 - pyelftools raises many types on damaged files
            raise SymbolsError(f"{path} is a truncated or corrupt ELF file ({e}); rebuild it") from None
        problem: str | None = None
        try:
            from .dwarf import index as dwarf_index

            dw = dwarf_index.read_dwarf(elf, info.word_size, info.byteorder == "little", progress, naming)
        except Exception as e:  # noqa: BLE001 - keep the symbol table usable on broken DWARF
            problem = str(e) or type(e).__name__
            dw = None
    finally:
        f.close()
    if naming is not None and dw is None:
        return None
    if dw is None:
        info.has_dwarf = False
        # one sentence for every front end, whether the DWARF is absent or unreadable
        if problem is None:
            info.debug_note = (f"{path} has no DWARF debug info; names come from the symbol table and values "
                               "show as raw bytes (rebuild with -g for types)")
        else:
            info.debug_note = (f"the DWARF debug info of {path} could not be read: {problem}; names come from "
                               "the symbol table and values show as raw bytes")
        _log().info("%s", info.debug_note)
        return _program(info, TypeTable(), _symbol_variables(info, symbols), symbols, "c")
    info.has_dwarf = True
    info.dwarf_version = dw.version
    for n in dw.notes[:20]:
        _log().debug("%s: %s", path, n)
    indexes: tuple[dict[str, list[int]], dict[str, int]] = ({}, {})
    variables, aliases = _resolve_variables(info, dw.variables, symbols, dw.sizeof or dw.types.sizeof, indexes)
    prog = _program(info, dw.types, variables, symbols, dw.language, indexes)
    prog.aliases = aliases
    return prog


def _program(
    info: ElfInfo,
    types: TypeTable,
    variables: list[Variable],
    symbols: list[Symbol],
    lang: str,
    indexes: tuple[dict[str, list[int]], dict[str, int]] | None = None,
) -> Program:
    prog = Program(elf=info, types=types, variables=variables, symbols=symbols, language=lang)
    if indexes is not None:
        by_name, by_qualified = indexes
    else:
        # Build the name indexes from the tuple form: Program._ensure_indexes would turn
        # every variable into an object just to read two fields.
        by_name = {}
        by_qualified = {}
        for i, t in enumerate(cache.encoded(variables, cache.encode_variable)):
            by_name.setdefault(t[0], []).append(i)
            by_qualified[t[1]] = i
    prog._by_name = by_name
    prog._by_qualified = by_qualified
    return prog


class _SectionFinder:
    def __init__(self, info: ElfInfo) -> None:
        secs = sorted(
            (s for s in info.sections if s.address and s.size and s.kind != "other"), key=lambda s: s.address
        )
        self.starts = [s.address for s in secs]
        self.ends = [s.address + s.size for s in secs]
        self.names = [s.name for s in secs]

    def __call__(self, address: int) -> str | None:
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address < self.ends[i]:
            return self.names[i]
        return None


def _resolve_variables(
    info: ElfInfo,
    raws: list[RawVariable],
    symbols: list[Symbol],
    sizeof: Callable[[int | None], int | None],
    indexes: tuple[dict[str, list[int]], dict[str, int]],
) -> tuple[list[Variable], list[tuple[int, str]]]:
    """Variables as tuples (see ``cache.encode_variable``); ``indexes`` gets the name indexes."""
    section_of = _SectionFinder(info)
    # symbol-table lookups are needed only by variables DWARF leaves incomplete: built on demand
    sym_maps: list[tuple[dict[str, tuple[Any, ...]], dict[int, int]]] = []

    def sym_lookup() -> tuple[dict[str, tuple[Any, ...]], dict[int, int]]:
        if not sym_maps:
            by_name: dict[str, tuple[Any, ...]] = {}
            size_at: dict[int, int] = {}
            for s in cache.encoded(symbols, cache.encode_symbol):  # (name, raw, address, size, kind, ...)
                if s[4] == "object":
                    by_name.setdefault(s[1], s)
                    by_name.setdefault(s[0], s)
                    if s[3]:
                        size_at.setdefault(s[2], s[3])
            sym_maps.append((by_name, size_at))
        return sym_maps[0]

    defined: list[RawVariable] = []
    at_address: dict[int, Any] = {}  # address -> the variable (or list of them) defined there
    undefined = False
    seen_consts: set[tuple[Any, ...]] = set()
    consts: list[RawVariable] = []
    zero_mapped = any(s.address == 0 and s.size and s.kind != "other" for s in info.sections)
    for r in raws:
        a = r.address
        if a is None:
            if r.value is not None:
                # a constant: no storage. Units compiled from one source repeat a file's
                # constants; every unit including a header repeats a namespace's or class's.
                key = (r.scope_parts, r.name, r.function, r.value, None if r.scope_parts else r.cu_name)
                if key not in seen_consts:
                    seen_consts.add(key)
                    consts.append(r)
            else:
                undefined = True
            continue
        if a == 0 and not zero_mapped:
            continue  # the linker dropped it (--gc-sections): gdb does not list it either
        prev = at_address.get(a)
        if prev is None:
            at_address[a] = r
        else:
            # the same object described by several units (C++ inline / COMDAT, C commons)
            key = (r.scope_parts, r.name, r.function)
            same = prev if type(prev) is list else [prev]
            if any((o.scope_parts, o.name, o.function) == key for o in same):
                continue
            same.append(r)
            at_address[a] = same
        defined.append(r)
    defined_names: set[tuple[tuple[str, ...], str]] = set()
    if undefined or consts:
        defined_names = {(r.scope_parts, r.name) for r in defined if r.scope in ("global", "namespace", "class")}

    # Declarations whose definition has no DWARF (assembly, a library built without -g):
    # the symbol table knows the address, the declaration knows the type.
    for r in raws if (undefined or consts) else ():
        if r.address is not None or (r.scope_parts, r.name) in defined_names:
            continue
        if r.value is not None:
            continue  # a constant: its value is in the DWARF (gdb shows it as such, too)
        sym_by_name = sym_lookup()[0]
        s = sym_by_name.get(r.linkage_name or "") or sym_by_name.get(r.name)
        if s is None or s[2] in at_address:
            continue  # no symbol, or a variable DWARF describes at that address already
        defined_names.add((r.scope_parts, r.name))
        r.address = s[2]
        r.scope = r.scope if r.scope_parts else "global"
        defined.append(r)

    # a constant of a namespace or class stands for itself only where no unit gives it storage
    defined += [r for r in consts
                if not ((r.declared or r.scope_parts) and (r.scope_parts, r.name) in defined_names)]
    aliases = _gdb_spellings(defined, symbols)
    quals = _qualify(defined)
    out: list[tuple[Any, ...]] = []
    append = out.append
    starts = section_of.starts
    ends = section_of.ends
    sec_names = section_of.names
    bisect_right = bisect.bisect_right
    sizes: dict[int | None, int | None] = {None: None}
    by_name, by_qualified = indexes
    for i, (r, q) in enumerate(zip(defined, quals)):
        tid = r.type
        try:
            size = sizes[tid]
        except KeyError:
            size = sizes[tid] = sizeof(tid)
        address = r.address
        if address is None:  # a constant
            section = None
            if size is None and r.value is not None:
                size = len(r.value)
        else:
            if size is None:
                size = sym_lookup()[1].get(address)
            k = bisect_right(starts, address) - 1
            section = sec_names[k] if k >= 0 and address < ends[k] else None
        # the tuple layout of cache.encode_variable; objects are made when first used
        name = r.name
        append((name, q, address, size, tid, section, r.file, r.line, r.scope, r.function, r.value))
        same = by_name.get(name)
        if same is None:
            by_name[name] = [i]
        else:
            same.append(i)
        by_qualified[q] = i
    return cache.LazyList(out, cache.decode_variable), aliases


_ABI_TAG = re.compile(r"\[abi:[^\]]*\]")


def _gdb_spellings(vs: list[RawVariable], symbols: list[Symbol]) -> list[tuple[int, str]]:
    """Scoped C++ names spelled as gdb and c++filt spell them: from the demangled linkage
    name (``drivers::Filter<long, 8u>::last``), not the DWARF's class names
    (``Filter<long int, 8>``). Returns the DWARF spellings replaced, as (index, alias)."""
    todo = [i for i, r in enumerate(vs) if r.scope_parts and r.linkage_name and r.linkage_name.startswith("_Z")]
    # a table left undecoded has no mangled names (elf.deferred_symbols): no C++ function statics
    unmangled = isinstance(symbols, cache.DeferredList) and symbols.pending
    statics = [] if unmangled else [i for i, r in enumerate(vs) if r.scope == "function" and r.address is not None]
    if not todo and not statics:
        return []
    demangled: dict[str, str] = {}
    local_at: dict[int, str] = {}  # address -> raw name of a C++ function's static
    for t in cache.encoded(symbols, cache.encode_symbol):  # (name, raw, address, ...)
        if t[0] != t[1]:
            demangled[t[1]] = t[0]  # the table was demangled already
        if t[1].startswith("_ZZ"):
            local_at[t[2]] = t[1]
    wanted = {vs[i].linkage_name for i in todo} | {local_at[vs[i].address] for i in statics  # type: ignore[index]
                                                    if vs[i].address in local_at}
    missing = sorted(wanted - demangled.keys())  # type: ignore[operator]
    if missing:
        from .demangle import demangle_all

        demangled.update(zip(missing, demangle_all(missing)))  # type: ignore[arg-type]
    for i in statics:
        r = vs[i]
        raw = local_at.get(r.address)  # type: ignore[arg-type]
        if raw is not None and demangled.get(raw, "").endswith("::" + r.name):
            r.linkage_name = raw
            todo.append(i)
    aliases: list[tuple[int, str]] = []
    for i in todo:
        r = vs[i]
        d = demangled.get(r.linkage_name)  # type: ignore[arg-type]
        if d and "[abi:" in d:
            d = _ABI_TAG.sub("", d)  # gdb leaves ABI tags out of names: app::names, not names[abi:cxx11]
        if d and d != r.linkage_name and (r.scope == "function" or "(" not in d.replace("(anonymous namespace)", "")):
            dwarf = "::".join((*r.scope_parts, r.name)) if r.scope != "function" else f"{r.function}::{r.name}"
            if d != dwarf:
                r.spelled = d
                aliases.append((i, dwarf))
    return aliases


def _qualify(vs: list[RawVariable]) -> list[str]:
    """gdb-style unique spellings: plain when unique, else 'file.c'::x / func::x; ns::x always."""
    first: dict[str, int] = {}  # plain name -> index of its first variable
    by_plain: dict[str, list[int]] = {}  # plain names shared by several variables
    quals: list[str] = []
    append = quals.append
    scoped = False
    for i, v in enumerate(vs):
        name = v.name
        if v.spelled and not v.scope_parts:  # a C++ function's static: app::Controller::run(int)::runs
            scoped = True
            append(v.spelled)
            continue
        if v.scope_parts:
            scoped = True
            append(v.spelled or "::".join((*v.scope_parts, name)))
            continue
        append(name)  # unique so far (the common case)
        j = first.get(name)
        if j is None:
            first[name] = i
        else:
            lst = by_plain.get(name)
            if lst is None:
                by_plain[name] = [j, i]
            else:
                lst.append(i)
    if not scoped and not by_plain:
        return quals  # every plain name unique: nothing to spell out
    for name, idx in by_plain.items():
        n_global = sum(1 for i in idx if vs[i].scope == "global")
        for i in idx:
            v = vs[i]
            base = os.path.basename(v.cu_name) or "?"
            if v.scope == "global" and n_global == 1:
                quals[i] = name
            elif v.scope == "function" and v.function:
                quals[i] = f"{v.function}::{name}"
            else:
                quals[i] = f"'{base}'::{name}"
    if len(set(quals)) == len(quals):
        return quals
    # Collisions left (same file basename in two directories, same static function name in
    # two files): spell them out further, as far as gdb's syntax allows.
    counts: dict[str, list[int]] = {}
    for i, q in enumerate(quals):
        counts.setdefault(q, []).append(i)
    for q, idx in counts.items():
        if len(idx) < 2:
            continue
        for i in idx:
            v = vs[i]
            cu = v.cu_name or "?"
            if v.scope_parts:
                quals[i] = f"'{os.path.basename(cu)}'::{q}"
            elif v.scope == "function" and v.function:
                quals[i] = f"'{cu}'::{v.function}::{v.name}"
            else:
                quals[i] = f"'{cu}'::{v.name}"
    final: dict[str, int] = {}
    for i, q in enumerate(quals):
        n = final.get(q, 0)
        final[q] = n + 1
        if n:
            quals[i] = f"{q}@0x{vs[i].address or 0:x}"  # last resort: unique, if not gdb syntax
    return quals


def _symbol_variables(info: ElfInfo, symbols: list[Symbol]) -> list[Variable]:
    """Without DWARF: every data object of the symbol table, typeless (shown as raw bytes)."""
    section_of = _SectionFinder(info)
    objs = [s for s in symbols if s.kind == "object"]
    counts: dict[str, int] = {}
    for s in objs:
        counts[s.name] = counts.get(s.name, 0) + 1
    out = []
    for s in objs:
        q = s.name if counts[s.name] == 1 else f"{s.name}@0x{s.address:x}"
        out.append(
            Variable(
                name=s.name,
                qualified=q,
                address=s.address,
                size=s.size or None,
                type=None,
                section=s.section or section_of(s.address),
                file=None,
                line=None,
                scope="global" if s.binding != "local" else "file",
            )
        )
    return out


# -- cache payload --------------------------------------------------------------------------------
def _to_payload(prog: Program) -> dict[str, Any]:
    types = prog.types.types
    lazy = types.lazy_state() if isinstance(types, LazyTypes) else None
    enc_types = cache.encoded(types, cache.encode_type)
    deferred = isinstance(prog.symbols, cache.DeferredList) and prog.symbols.pending
    prog._ensure_indexes()
    return {
        "lazy": lazy,
        "elf": cache.encode_elf(prog.elf),
        "types": enc_types,
        "by_name": dict(prog.types.by_name),
        "variables": cache.encoded(prog.variables, cache.encode_variable),
        # a symbol table nobody looked at yet is stored raw (decoded on first use)
        "symbols": None if deferred else cache.encoded(prog.symbols, cache.encode_symbol),
        "symtab": prog.symbols.source if deferred else None,  # type: ignore[attr-defined]
        "language": prog.language,
        "idx_name": prog._by_name,
        "idx_qualified": prog._by_qualified,
        "aliases": prog.aliases,
    }


_LAZY_KEYS = {"word_size", "little", "memo", "decl", "definitions", "scope_of", "units"}


def _from_payload(p: dict[str, Any], identity: tuple[int, int] | None = None) -> Program | None:
    try:
        elf = cache.decode_elf(p["elf"])
        lazy = p["lazy"]
        if lazy is None:
            types = cache.lazy_types(p["types"], p["by_name"])
        else:
            if not isinstance(lazy, dict) or not lazy.keys() >= _LAZY_KEYS:
                return None  # not the state this version builds types from: index again
            # types not built by the run that wrote the cache are built from the ELF's DWARF
            from .dwarf.warm import WarmMaterializer

            mat = WarmMaterializer(elf.path, lazy, identity)
            mat.types = LazyTypes(p["types"], cache.decode_type, mat)
            mat.by_name = p["by_name"]
            types = TypeTable(types=mat.types, by_name=mat.by_name)
        prog = Program(
            elf=elf,
            types=types,
            variables=cache.LazyList(p["variables"], cache.decode_variable),
            symbols=(
                cache.DeferredList(p["symtab"], decode_symbol_table, cache.decode_symbol)
                if p["symbols"] is None
                else cache.LazyList(p["symbols"], cache.decode_symbol)
            ),
            language=p["language"],
        )
        prog._by_name = p["idx_name"]
        prog._by_qualified = p["idx_qualified"]
        prog.aliases = [tuple(a) for a in p["aliases"]]  # type: ignore[misc]
        return prog
    except (KeyError, TypeError, ValueError, IndexError):
        return None
