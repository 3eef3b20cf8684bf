"""The Live frame's scopes: "Globals" (every global and static by source file) and "Memory"."""

from __future__ import annotations

import time
from typing import Any

from firmwatch.dap.variables import Container, StaticNode, ValueBuilder, VariableRegistry, find_watch
from firmwatch.session.globals import group_by_file
from firmwatch.session.memory_usage import memory_usage

SUMMARY_ONLY_BYTES = 256  # bigger objects show their type until expanded (no read of kilobytes per refresh)
GLOBALS_TTL_S = 1.0  # an expanded file's values are read at most this often, whatever the refresh rate


class GlobalsFile(Container):
    """The variables of one source file, paged; each value read once per request."""

    def __init__(self, builder: ValueBuilder, session: Any, group: Any):
        self.b = builder
        self.session = session
        self.group = group
        self._by_name = {v.name: v.qualified for v in group.variables}
        # one-shot reads of dozens of variables at every refresh would starve the watches behind
        # them in the request queue: an expanded file is re-read at most once per GLOBALS_TTL_S
        self._cache: dict[tuple[int, int, bool], tuple[float, list[dict[str, Any]]]] = {}

    def evaluate_name_of(self, name: str) -> str | None:
        return self._by_name.get(name)

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        key = (start, count, hex)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < GLOBALS_TTL_S:
            return [dict(e) for e in hit[1]]
        out = self._read(start, count, hex)
        self._cache[key] = (now, out)
        return [dict(e) for e in out]

    def invalidate(self) -> None:
        self._cache.clear()

    def _read(self, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        vs = self.group.variables[start : start + count] if count else self.group.variables[start:]
        out = []
        for v in vs:
            text = v.qualified
            entry: dict[str, Any]
            try:
                compiled = self.session.compile(text)
                size = compiled.size or 0
                get = _getter(self.session, text)
                if size > SUMMARY_ONLY_BYTES:
                    entry = self._summary(compiled, text, get, hex)
                else:
                    entry = self.b.body(get(), ("expr", text), get, (), hex, text, bool(compiled.read_only))
            except Exception as e:  # noqa: BLE001 - one unreadable variable shows its reason, the rest still show
                entry = {"value": f"<{e}>", "variablesReference": 0, "evaluateName": text}
            entry["name"] = v.name
            out.append(entry)
        return out

    def _summary(self, compiled: Any, text: str, get: Any, hex: bool) -> dict[str, Any]:
        from firmwatch.dap.variables import ValueNode

        def make() -> ValueNode:
            return ValueNode(self.b, ("expr", text), get, (), bool(compiled.read_only))

        ref = self.b.registry.ref(("value", ("expr", text), (), hex), make)
        entry: dict[str, Any] = {"value": f"{compiled.type_name} ({compiled.size} bytes)", "type": compiled.type_name,
                                 "variablesReference": ref, "evaluateName": text,
                                 "presentationHint": {"kind": "data", "lazy": False}}
        if compiled.address is not None:
            entry["memoryReference"] = f"0x{compiled.address:x}"
        from firmwatch.symbols.types import ArrayType

        t = compiled.types.resolved(compiled.type)
        if isinstance(t, ArrayType):
            entry["indexedVariables"] = t.count or 0
        if compiled.read_only:
            entry["presentationHint"]["attributes"] = ["readOnly"]
        return entry


def _getter(session: Any, text: str) -> Any:
    def get() -> Any:
        w = find_watch(session, text)
        if w is not None and w.value() is not None:
            return w.value()
        return session.evaluate(text)

    return get


def globals_scope(registry: VariableRegistry, builder: ValueBuilder, session: Any) -> dict[str, Any]:
    groups = group_by_file(session.program)

    def files(start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        chosen = groups[start : start + count] if count else groups[start:]
        out = []
        for g in chosen:
            ref = registry.ref(("globals-file", g.path), lambda g=g: GlobalsFile(builder, session, g))
            out.append({"name": g.label, "value": f"{len(g.variables)} variables", "variablesReference": ref,
                        "namedVariables": len(g.variables), "presentationHint": {"kind": "virtual"}})
        return out

    ref = registry.ref(("globals",), lambda: StaticNode(files))
    total = sum(len(g.variables) for g in groups)
    return {"name": f"Globals ({total})", "presentationHint": "globals", "variablesReference": ref,
            "namedVariables": len(groups), "expensive": True}


def _static_rows(session: Any, hex: bool) -> list[dict[str, Any]]:
    u = memory_usage(session.program, session.info.regions)
    out: list[dict[str, Any]] = []

    def row(name: str, value: str) -> None:
        out.append({"name": name, "value": value, "variablesReference": 0,
                    "presentationHint": {"kind": "property", "attributes": ["readOnly"]}})

    def fmt(n: int) -> str:
        return f"0x{n:x}" if hex else f"{n}"

    for kind, label in (("data", ".data"), ("bss", ".bss"), ("heap", "heap"), ("stack", "stack")):
        secs = [x for x in u.sections if x.kind == kind]
        if secs:
            where = ", ".join(f"{x.name} at 0x{x.address:x}" for x in secs)
            row(label, f"{fmt(sum(x.size for x in secs))} bytes ({where})")
        else:
            row(label, "none in the ELF")
    for name, use in (("RAM", u.ram), ("flash", u.flash)):
        if use.total:
            row(name, f"{fmt(use.used)} of {fmt(use.total)} bytes used ({100.0 * use.used / use.total:.1f} %)")
        else:
            row(name, f"{fmt(use.used)} bytes used (total unknown)")
    return out


def memory_scope(registry: VariableRegistry, session: Any, live: Any = None) -> dict[str, Any]:
    """Live memory health (``live``: a :class:`firmwatch.dap.memory_view.MemoryLive`): warnings, the RAM
    map, every figure with its source as the row's type, and the ELF's static usage below."""

    def rows(start: int, count: int, hex: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ro = {"kind": "property", "attributes": ["readOnly"]}
        if live is not None:
            try:
                h = live.latest()
            except Exception as e:  # noqa: BLE001 - the reason shows where the figures would
                out.append({"name": "live", "value": f"<{e}>", "variablesReference": 0, "presentationHint": ro})
            else:
                from firmwatch.session.memory_health import ram_bar

                for w in h.warnings:
                    out.append({"name": "\u26a0 warning", "value": w, "variablesReference": 0, "presentationHint": ro})
                if h.segments:
                    out.append({"name": "RAM map", "value": ram_bar(h.segments, 40), "variablesReference": 0,
                                "type": "D .data B .bss H heap . free s stack used earlier S stack now",
                                "presentationHint": ro})
                for f in h.figures.values():
                    # no evaluateName: a figure is no C expression to add to the Watch view
                    out.append({"name": f.label, "value": f.text(hex), "type": f.source, "variablesReference": 0,
                                "presentationHint": ro})
                for n in h.notes:
                    out.append({"name": "note", "value": n, "variablesReference": 0, "presentationHint": ro})
        static_ref = registry.ref(("memory-static",), lambda: StaticNode(
            lambda s, c, hx: (lambda r: r[s : s + c] if c else r[s:])(_static_rows(session, hx))))
        out.append({"name": "static (from the ELF)", "value": "sections, RAM and flash totals",
                    "variablesReference": static_ref, "presentationHint": {"kind": "virtual"}})
        return out[start : start + count] if count else out[start:]

    ref = registry.ref(("memory",), lambda: StaticNode(rows))
    return {"name": "Memory", "presentationHint": "registers", "variablesReference": ref, "expensive": False}
