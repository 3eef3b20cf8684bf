"""The Live frame's "Peripherals" scope: peripherals -> registers -> fields, from the launch's svdFile.

An expanded peripheral is refreshed with one batched read (peripherals.view) each time VS Code
asks for its registers, at most every PERIPHERAL_TTL_S; registers and fields below it show that
refresh, so expanding a register costs no read. A register a refresh skips (read side effect,
write-only, manual peripheral) shows why instead of a value; setting its value to ``read`` is
the explicit action (the sentence says what the read does), as is ``:read P.R`` in the Debug
Console. Values that changed since the previous refresh end in "(changed)".
"""

from __future__ import annotations

import time
from typing import Any

from firmwatch.dap.variables import Container, VariableRegistry
from firmwatch.peripherals.view import PeripheralView, Reading, register_text

PERIPHERAL_TTL_S = 0.2  # an expanded peripheral is read at most this often, whatever the refresh rate
READ_WORD = "read"


class PeripheralNode(Container):
    def __init__(self, registry: VariableRegistry, view: PeripheralView, name: str):
        self.registry = registry
        self.view = view
        self.name = name
        self._at = 0.0
        self._readings: dict[str, Reading] = {}

    def readings(self) -> dict[str, Reading]:
        now = time.monotonic()
        if now - self._at >= PERIPHERAL_TTL_S:
            self._readings = self.view.refresh([self.name])
            self._at = now
        return self._readings

    def invalidate(self) -> None:
        self._at = 0.0

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        p = self.view.device.peripheral(self.name)
        assert p is not None
        got = self.readings()
        regs = p.registers[start : start + count] if count else p.registers[start:]
        return [register_entry(self.registry, self.view, got[r.qualified], hex) for r in regs]

    def evaluate_name_of(self, name: str) -> str | None:
        return f"{self.name}.{name}"


def register_entry(registry: VariableRegistry, view: PeripheralView, got: Reading, hex: bool) -> dict[str, Any]:
    r = got.register
    attrs: list[str] = []
    entry: dict[str, Any] = {"name": r.path, "type": f"{r.size}-bit register at 0x{r.address:08x}",
                             "memoryReference": f"0x{r.address:x}", "evaluateName": r.qualified}
    if got.value is None:
        entry["value"] = f"<{got.note}; set the value to '{READ_WORD}' to read it now>" if r.readable else f"<{got.note}>"
        entry["variablesReference"] = 0
        attrs.append("hasSideEffects")
    else:
        text = register_text(r, got.value)
        if got.note:
            text += f"  <{got.note}>"
        entry["value"] = text + ("  (changed)" if got.changed else "")
        if r.fields:
            entry["variablesReference"] = registry.ref(("periph-reg", r.qualified, hex), lambda: FieldsNode(view, r))
            entry["namedVariables"] = len(r.fields)
        else:
            entry["variablesReference"] = 0
    if not r.writable:
        attrs.append("readOnly")
    entry["presentationHint"] = {"kind": "property", "attributes": attrs}
    return entry


class FieldsNode(Container):
    """A register's fields, decoded from its peripheral's last refresh (no read of their own)."""

    def __init__(self, view: PeripheralView, register: Any):
        self.view = view
        self.register = register

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        return _fields(self.view, self.register, start, count, hex)

    def qualified_of(self, row: str) -> str:
        return f"{self.register.qualified}.{row.split(' ', 1)[0]}"


def _fields(view: PeripheralView, r: Any, start: int, count: int, hex: bool) -> list[dict[str, Any]]:
    got = view.last(r.qualified)
    fields = r.fields[start : start + count] if count else r.fields[start:]
    out = []
    for f in fields:
        if got is None or got.value is None:
            value = "<not read>"
        elif not f.readable:
            value = "<write-only>"
        else:
            value = view.field_text(f, got.value, hex)
            if got.changed and f.extract(got.value) != f.extract(_previous(view, r, got)):
                value += "  (changed)"
        attrs = [] if f.writable and r.writable else ["readOnly"]
        effect = f.modified_write_values or ""
        out.append({"name": f"{f.name} {f.bits}", "value": value, "variablesReference": 0,
                    "type": f"{f.access}{', ' + effect if effect else ''}", "evaluateName": f"{r.qualified}.{f.name}",
                    "presentationHint": {"kind": "property", "attributes": attrs}})
    return out


def _previous(view: PeripheralView, r: Any, got: Reading) -> int:
    prev = view.previous(r.qualified)
    return got.value if prev is None else prev  # type: ignore[return-value]


class PeripheralsRoot(Container):
    def __init__(self, registry: VariableRegistry, view: PeripheralView):
        self.registry = registry
        self.view = view

    def node(self, name: str) -> PeripheralNode:
        ref = self.registry.ref(("periph", name), lambda: PeripheralNode(self.registry, self.view, name))
        got = self.registry.get(ref)
        assert isinstance(got, PeripheralNode)
        return got

    def variables(self, start: int, count: int, hex: bool, paging: bool) -> list[dict[str, Any]]:
        ps = self.view.device.peripherals
        chosen = ps[start : start + count] if count else ps[start:]
        out = []
        for p in chosen:
            ref = self.registry.ref(("periph", p.name), lambda p=p: PeripheralNode(self.registry, self.view, p.name))
            manual = " — manual: registers read only on request" if p.name in self.view.manual else ""
            out.append({"name": p.name, "value": f"0x{p.base:08x}  {p.description}{manual}".rstrip(),
                        "variablesReference": ref, "namedVariables": len(p.registers),
                        "presentationHint": {"kind": "class", "attributes": ["readOnly"]}})
        return out


def peripherals_scope(registry: VariableRegistry, view: PeripheralView) -> dict[str, Any]:
    ref = registry.ref(("peripherals",), lambda: PeripheralsRoot(registry, view))
    n = len(view.device.peripherals)
    return {"name": f"Peripherals ({view.device.name})", "presentationHint": "registers", "variablesReference": ref,
            "namedVariables": n, "expensive": True}


def set_register(view: PeripheralView, node: Any, name: str, value: str, hex: bool) -> dict[str, Any]:
    """setVariable on a register or a field row: ``read`` is the explicit read, anything else a write."""
    qualified = f"{node.name}.{name}" if isinstance(node, PeripheralNode) else node.qualified_of(name)
    if value.strip().lower() == READ_WORD and isinstance(node, PeripheralNode):
        got = view.read_now(qualified)
        node.invalidate()
        return {"value": register_text(got.register, got.value or 0), "variablesReference": 0}
    got, notes = view.write(qualified, value)
    if isinstance(node, PeripheralNode):
        node.invalidate()
    text = register_text(got.register, got.value) if got.value is not None else "<written; no read-back>"
    if qualified.count(".") > got.register.qualified.count(".") and got.value is not None:
        f = got.register.field(qualified.rsplit(".", 1)[1])
        if f is not None:
            text = view.field_text(f, got.value, hex)
    if notes:
        text += f"  <{'; '.join(notes)}>"
    return {"value": text, "variablesReference": 0}
