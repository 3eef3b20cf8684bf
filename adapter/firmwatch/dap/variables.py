"""variablesReference registry: stable references to lazily expanded values.

VS Code re-evaluates every watch on each ``invalidated`` event and then asks ``variables`` again
for the nodes the user has expanded. References are therefore *stable*: the same node (the same
root, the same path of children, the same hex setting) always gets the same number, so expanded
nodes stay expanded and the registry does not grow by one entry per refresh.

A node never holds a value; it holds how to get it — the root (a watch's cached latest sample or
a one-shot read) and the path of child positions below it — so every ``variables`` request shows
the current value, and only the children asked for (``start``/``count`` paging) are decoded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from firmwatch.session.access import Decoded
from firmwatch.symbols.program import Program
from firmwatch.symbols.types import ArrayType, StructType, VariantType
from firmwatch.symbols.values import Value

CHUNK = 100  # elements per range node for clients that do not page
MAX_REFS = 200_000  # beyond this the registry starts again (a client that never stops expanding)


class Container:
    """What a variablesReference stands for: the Live view's nodes, scopes and peripheral groups."""

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    def evaluate_name_of(self, name: str) -> str | None:
        """How a user writes the child called ``name`` (for setVariable and data breakpoints)."""
        return None

    def invalidate(self) -> None:
        """Forget anything cached: a child was just written."""


class VariableRegistry:
    """Numbers for containers. Ids from 1; the Live view and a CPU implementation share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[Hashable, int] = {}
        self._by_ref: dict[int, Container] = {}
        self._next = 1

    def ref(self, key: Hashable, make: Callable[[], Container]) -> int:
        with self._lock:
            r = self._by_key.get(key)
            if r is not None:
                return r
            if self._next > MAX_REFS:
                self._by_key.clear()
                self._by_ref.clear()
                self._next = 1
            r = self._next
            self._next += 1
            self._by_key[key] = r
            self._by_ref[r] = make()
            return r

    def get(self, ref: int) -> Container | None:
        with self._lock:
            return self._by_ref.get(ref)


RootGetter = Callable[[], Decoded]  # the root value (raises a user error when unreadable)


def find_watch(session: Any, text: str) -> Any:
    """Session.find_watch over a snapshot: safe on threads other than the worker (hover)."""
    text = text.strip()
    for w in list(session.watches.values()):
        if w.text == text:
            return w
    return None


class FlashMap:
    """Is an address in flash? ``section_at`` scans every section and the same few addresses are
    asked at every refresh: the answers are kept here, per session (not on the Program)."""

    def __init__(self, program: Program):
        self.program = program
        self._memo: dict[int, bool] = {}

    def __call__(self, address: int) -> bool:
        hit = self._memo.get(address)
        if hit is None:
            sec = self.program.section_at(address)
            hit = self._memo[address] = sec is not None and sec.kind == "flash"
            if len(self._memo) > 100_000:
                self._memo.clear()
        return hit

    def read_only(self, value: Decoded) -> bool:
        """Const in its C type, or stored in flash."""
        if isinstance(value, Value):
            try:
                if value.ctx.types.is_const(value.type):
                    return True
            except IndexError:
                pass
        return value.address is not None and self(value.address)


def shape(value: Decoded) -> tuple[str, int]:
    """("array", n), ("named", n) or ("scalar", 0): what kind of children a value has."""
    if not value.is_aggregate or not isinstance(value, Value):
        return "scalar", 0
    t = value.ctx.types.resolved(value.type)
    if isinstance(t, ArrayType):
        return "array", t.count or 0
    if isinstance(t, (StructType, VariantType)):
        return "named", len(value.children())
    return "named", -1  # a pointer: counting what it points to would cost a read; leave the count out


class ValueBuilder:
    """Turns Values into DAP ``Variable`` / ``evaluate`` bodies with stable child references."""

    def __init__(self, registry: VariableRegistry, program: Program, paging: bool = True):
        self.registry = registry
        self.program = program
        self.paging = paging
        self.flash = FlashMap(program)

    def body(self, value: Decoded, root: Hashable, get_root: RootGetter, path: tuple[int, ...], hex: bool,
             evaluate_name: str | None, read_only: bool) -> dict[str, Any]:
        """Fields shared by ``evaluate`` results and ``variables`` entries."""
        out: dict[str, Any] = {"value": value.display(hex=hex), "type": value.type_name}
        kind, n = shape(value)
        ref = 0
        if kind != "scalar":
            ro = read_only

            def make() -> Container:
                return ValueNode(self, root, get_root, path, ro)

            ref = self.registry.ref(("value", root, path, hex), make)
            if kind == "array":
                out["indexedVariables"] = n
            elif n >= 0:
                out["namedVariables"] = n
        out["variablesReference"] = ref
        if value.address is not None:
            out["memoryReference"] = f"0x{value.address:x}"
        if evaluate_name is not None:
            out["evaluateName"] = evaluate_name
        hint: dict[str, Any] = {}
        if read_only or self.flash.read_only(value):
            hint["attributes"] = ["readOnly"]
        if kind != "scalar":
            hint["kind"] = "data"
        if hint:
            out["presentationHint"] = hint
        if isinstance(value, Value) and value.note:
            out["value"] += f"  ({value.note})"
        return out


class ValueNode(Container):
    """The children of the value at ``path`` below a root."""

    def __init__(self, builder: ValueBuilder, root: Hashable, get_root: RootGetter, path: tuple[int, ...],
                 read_only: bool, lo: int | None = None, hi: int | None = None):
        self.b = builder
        self.root = root
        self.get_root = get_root
        self.path = path
        self.read_only = read_only
        self.lo, self.hi = lo, hi  # an index range of an array (range node)

    def value(self) -> Decoded:
        v = self.get_root()
        for i in self.path:
            kids = v.children(i, 1)
            if not kids:
                from firmwatch.dap.messaging import RequestError

                raise RequestError("this value changed shape since it was expanded; collapse and expand it again.",
                                   show_user=False)
            v = kids[0].value
        return v

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        v = self.value()
        kind, n = shape(v)
        lo, hi = (self.lo or 0), (self.hi if self.hi is not None else n)
        if kind == "array" and not paging and hi - lo > CHUNK:
            return self._ranges(lo, hi, hex)
        first = lo + max(0, start)
        if kind == "array":
            last = hi if not count else min(hi, first + count)
            kids = v.children(first, max(0, last - first))
        else:
            kids = v.children(first, count or None)
        positions = range(first, first + len(kids))
        out = []
        for pos, child in zip(positions, kids):
            body = self.b.body(child.value, self.root, self.get_root, (*self.path, pos), hex,
                               child.evaluate_name, self.read_only)
            body["name"] = child.name
            out.append(body)
        return out

    def _ranges(self, lo: int, hi: int, hex: bool) -> list[dict[str, Any]]:
        size = CHUNK
        while (hi - lo) / size > CHUNK:
            size *= CHUNK
        out = []
        for a in range(lo, hi, size):
            b = min(hi, a + size)

            def make(a: int = a, b: int = b) -> Container:
                return ValueNode(self.b, self.root, self.get_root, self.path, self.read_only, a, b)

            ref = self.b.registry.ref(("range", self.root, self.path, a, b, hex), make)
            out.append({"name": f"[{a}..{b - 1}]", "value": "", "variablesReference": ref,
                        "indexedVariables": b - a, "presentationHint": {"kind": "virtual"}})
        return out

    def evaluate_name_of(self, name: str) -> str | None:
        child = self.child_by_name(name)
        return child.evaluate_name if child is not None else None

    def child_by_name(self, name: str) -> Any:
        """The Child called ``name`` (for setVariable)."""
        v = self.value()
        kind, n = shape(v)
        if kind == "array" and name.startswith("[") and name.endswith("]"):
            try:
                i = int(name[1:-1])
            except ValueError:
                i = -1
            kids = v.children(i, 1) if 0 <= i < n else []
            return kids[0] if kids else None
        for c in v.children():
            if c.name == name:
                return c
        return None


@dataclass
class StaticNode(Container):
    """A fixed list of variables computed on demand (Memory scope, Globals file groups)."""

    produce: Callable[[int, int, bool], list[dict[str, Any]]]

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        return self.produce(start, count, hex)
