"""The on-disk index cache: a second load of the same ELF skips DWARF entirely.

Location: ``$FIRMWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/firmwatch``, else
``~/.cache/firmwatch``; one file per ELF path. The file starts with a small header
(format version, path, size, mtime_ns, build id) so a stale entry is detected before the
payload is read. Everything is stored as plain tuples with :mod:`marshal`, which loads
several times faster than pickle of the equivalent objects; types, variables and symbols
are turned back into objects only when first touched (:class:`LazyList`), which is what
keeps a warm load of a 20,000-global ELF well under 0.2 s.

A cache file that is unreadable, truncated or of another format version is ignored and
rewritten: the cache is never a reason for a load to fail.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from collections.abc import Callable, Iterator
from typing import Any, SupportsIndex

from .program import ElfInfo, Section, Segment, Symbol, Variable
from .types import (
    ArrayType,
    BaseType,
    Encoding,
    EnumType,
    FunctionType,
    Member,
    PointerType,
    Qualified,
    StructType,
    Type,
    Typedef,
    TypeTable,
    UnsupportedType,
    Variant,
    VariantType,
    VoidType,
)

FORMAT_VERSION = 8
_MAGIC = "firmwatch-index"
# One file per ELF path, so every scratch build directory leaves one behind; past this many the
# least recently used go (a test run or a CI cache would otherwise grow without end).
MAX_ENTRIES = 200


def cache_dir() -> str:
    d = os.environ.get("FIRMWATCH_CACHE_DIR")
    if d:
        return d
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "firmwatch")


def cache_path(abspath: str) -> str:
    import hashlib  # here, not at import: a command that never caches should not pay for it

    h = hashlib.sha1(abspath.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return os.path.join(cache_dir(), f"{os.path.basename(abspath)[:40]}-{h}.idx")


def identity(abspath: str, st: os.stat_result) -> tuple[Any, ...]:
    return (_MAGIC, FORMAT_VERSION, abspath, st.st_size, st.st_mtime_ns)


# -- lazy lists ----------------------------------------------------------------------------------
class LazyList(list):  # type: ignore[type-arg]
    """A list of encoded tuples that decodes each element on first access.

    It is a real ``list`` so every consumer (``len``, indexing, iteration, ``append``) works
    unchanged; decoded objects replace their tuples in place.
    """

    __slots__ = ("_decode",)

    def __init__(self, raw: list[Any], decode: Callable[[Any], Any]) -> None:
        super().__init__(raw)
        self._decode = decode

    def __getitem__(self, i: SupportsIndex | slice) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        v = list.__getitem__(self, i)
        if type(v) is tuple:
            v = self._decode(v)
            list.__setitem__(self, i, v)
        return v

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def raw(self, i: int) -> Any:
        return list.__getitem__(self, i)

    def raw_items(self) -> Iterator[Any]:
        """Elements as stored: encoded tuples, or objects already decoded."""
        return list.__iter__(self)


class DeferredList(LazyList):
    """A :class:`LazyList` whose elements are produced by ``produce(source)`` on first use.

    ``source`` is plain data (bytes, numbers), so an index cache can store it as is.
    """

    __slots__ = ("source", "_produce")

    def __init__(self, source: Any, produce: Callable[[Any], list[Any]], decode: Callable[[Any], Any]) -> None:
        super().__init__([], decode)
        self.source = source
        self._produce: Callable[[Any], list[Any]] | None = produce

    @property
    def pending(self) -> bool:
        return self._produce is not None

    def _fill(self) -> None:
        produce = self._produce
        if produce is not None:
            self._produce = None
            list.extend(self, produce(self.source))
            self.source = None

    def __len__(self) -> int:
        self._fill()
        return list.__len__(self)

    def __getitem__(self, i: SupportsIndex | slice) -> Any:  # type: ignore[override]
        self._fill()
        return super().__getitem__(i)

    def __iter__(self) -> Iterator[Any]:
        self._fill()
        return super().__iter__()

    def __contains__(self, x: object) -> bool:
        self._fill()
        return any(v == x for v in self)

    def __eq__(self, other: object) -> bool:
        self._fill()
        return list(self) == (list(other) if isinstance(other, list) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        self._fill()
        return repr(list(self))

    def raw(self, i: int) -> Any:
        self._fill()
        return super().raw(i)

    def raw_items(self) -> Iterator[Any]:
        self._fill()
        return super().raw_items()

    def append(self, x: Any) -> None:
        self._fill()
        list.append(self, x)

    def extend(self, xs: Any) -> None:
        self._fill()
        list.extend(self, xs)


def encoded(items: list[Any], encode: Callable[[Any], tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The tuple form of every element of a list or :class:`LazyList`."""
    it = items.raw_items() if isinstance(items, LazyList) else iter(items)
    # an int is a type not built yet (the offset of its DIE, see dwarf.LazyTypes)
    return [x if type(x) is tuple or type(x) is int else encode(x) for x in it]


# -- encoding ------------------------------------------------------------------------------------
def _enc_member(m: Member) -> tuple[Any, ...]:
    return (m.name, m.offset, m.type, m.bit_size, m.bit_offset)


def _dec_member(t: tuple[Any, ...]) -> Member:
    return Member(*t)


def encode_type(t: Type) -> tuple[Any, ...]:
    if isinstance(t, BaseType):
        return (0, t.name, t.size, t.encoding.value)
    if isinstance(t, Typedef):
        return (1, t.name, t.target)
    if isinstance(t, Qualified):
        return (2, t.qualifier, t.target)
    if isinstance(t, PointerType):
        return (3, t.target, t.size, t.reference)
    if isinstance(t, ArrayType):
        return (4, t.element, t.count)
    if isinstance(t, StructType):
        return (
            5,
            t.kind,
            t.name,
            t.size,
            tuple(_enc_member(m) for m in t.members),
            tuple(_enc_member(m) for m in t.bases),
            t.declaration,
        )
    if isinstance(t, EnumType):
        return (6, t.name, t.size, t.signed, t.enumerators, t.underlying)
    if isinstance(t, FunctionType):
        return (7, t.returns, t.params, t.variadic)
    if isinstance(t, VariantType):
        return (
            8,
            t.name,
            t.size,
            t.discr_offset,
            t.discr_size,
            t.discr_signed,
            tuple((v.discriminant, v.name, v.type, v.offset) for v in t.variants),
        )
    if isinstance(t, VoidType):
        return (9, t.name, t.size)
    if isinstance(t, UnsupportedType):
        return (10, t.name, t.size, t.note)
    return (10, "?", None, f"unknown type object {type(t).__name__}")


def decode_type(t: tuple[Any, ...]) -> Type:
    k = t[0]
    if k == 0:
        return BaseType(t[1], t[2], Encoding(t[3]))
    if k == 1:
        return Typedef(t[1], t[2])
    if k == 2:
        return Qualified(t[1], t[2])
    if k == 3:
        return PointerType(t[1], t[2], t[3])
    if k == 4:
        return ArrayType(t[1], t[2])
    if k == 5:
        return StructType(
            t[1], t[2], t[3], tuple(_dec_member(m) for m in t[4]), tuple(_dec_member(m) for m in t[5]), t[6]
        )
    if k == 6:
        return EnumType(t[1], t[2], t[3], tuple(tuple(e) for e in t[4]), t[5])  # type: ignore[misc]
    if k == 7:
        return FunctionType(t[1], tuple(t[2]), t[3])
    if k == 8:
        return VariantType(t[1], t[2], t[3], t[4], t[5], tuple(Variant(*v) for v in t[6]))
    if k == 9:
        return VoidType(t[1], t[2])
    return UnsupportedType(t[1], t[2], t[3])


def encode_variable(v: Variable) -> tuple[Any, ...]:
    return (v.name, v.qualified, v.address, v.size, v.type, v.section, v.file, v.line, v.scope, v.function, v.value)


def decode_variable(t: tuple[Any, ...]) -> Variable:
    return Variable(*t)


def encode_symbol(s: Symbol) -> tuple[Any, ...]:
    return (s.name, s.raw_name, s.address, s.size, s.kind, s.binding, s.section)


def decode_symbol(t: tuple[Any, ...]) -> Symbol:
    return Symbol(*t)


def encode_elf(e: ElfInfo) -> tuple[Any, ...]:
    return (
        e.path,
        e.machine,
        e.elf_class,
        e.byteorder,
        e.word_size,
        e.entry,
        e.build_id,
        e.build_id_source,
        tuple((s.name, s.address, s.size, s.flags, s.kind, s.nobits) for s in e.sections),
        tuple((s.type, s.vaddr, s.paddr, s.memsz, s.filesz, s.flags) for s in e.segments),
        e.has_dwarf,
        e.dwarf_version,
        e.debug_note,
    )


def decode_elf(t: tuple[Any, ...]) -> ElfInfo:
    return ElfInfo(
        path=t[0],
        machine=t[1],
        elf_class=t[2],
        byteorder=t[3],
        word_size=t[4],
        entry=t[5],
        build_id=t[6],
        build_id_source=t[7],
        sections=[Section(*s) for s in t[8]],
        segments=[Segment(*s) for s in t[9]],
        has_dwarf=t[10],
        dwarf_version=t[11],
        debug_note=t[12],
    )


# -- file I/O ------------------------------------------------------------------------------------
def read(abspath: str, ident: tuple[Any, ...]) -> dict[str, Any] | None:
    """The cached payload for this ELF identity, or None (missing, stale or corrupt)."""
    # marshal.load() on a file reads object by object (slow); loads() on bytes is ~10x faster
    try:
        with open(cache_path(abspath), "rb") as f:
            n = int.from_bytes(f.read(4), "little")
            if not 0 < n < 1 << 16 or marshal.loads(f.read(n)) != ident:
                return None
            payload = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or "types" not in payload:
        return None
    with contextlib.suppress(OSError):  # the modification time is the entry's last use (prune)
        os.utime(cache_path(abspath))
    return payload


def prune(directory: str, keep: int | None = None) -> None:
    """Delete all but the ``keep`` (default MAX_ENTRIES) most recently used index files."""
    keep = MAX_ENTRIES if keep is None else keep
    entries = []
    with contextlib.suppress(OSError), os.scandir(directory) as it:
        for e in it:
            if e.name.endswith(".idx"):
                with contextlib.suppress(OSError):
                    entries.append((e.stat().st_mtime_ns, e.path))
    if len(entries) <= keep:
        return
    entries.sort(reverse=True)
    for _, path in entries[keep:]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def write(abspath: str, ident: tuple[Any, ...], payload: dict[str, Any]) -> None:
    """Persist atomically (write to a temp file, then rename); failures are silent."""
    path = cache_path(abspath)
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            head = marshal.dumps(ident)
            f.write(len(head).to_bytes(4, "little"))
            f.write(head)
            f.write(marshal.dumps(payload))
        os.replace(tmp, path)
        tmp = None
        prune(os.path.dirname(path))
    except (OSError, ValueError):
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def lazy_types(raw: list[Any], by_name: dict[str, int]) -> TypeTable:
    return TypeTable(types=LazyList(raw, decode_type), by_name=by_name)
