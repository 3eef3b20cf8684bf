"""Debug Console completion: symbol names, and struct members after ``.`` and ``->``."""

from __future__ import annotations

import re
from typing import Any

MAX_TARGETS = 200
_IDENT_TAIL = re.compile(r"[A-Za-z_$][\w$]*$|$")
_MEMBER = re.compile(r"(\.|->)\s*([A-Za-z_$][\w$]*)?$")


def _operand_before(text: str) -> str:
    """The postfix expression that ends ``text`` (``a.b[i]`` in ``x + a.b[i]``), brackets balanced."""
    depth = 0
    i = len(text)
    while i > 0:
        c = text[i - 1]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and not (c.isalnum() or c in "_$.'>:" or (c == "-" and text[i:i + 1] == ">")):
            break
        i -= 1
    return text[i:].strip()


def _peripheral_members(session: Any, base: str) -> list[str] | None:
    """Registers of ``UART0``, fields of ``UART0.DATA`` (even one a watch refuses); None: not an SVD name."""
    pv = session.peripherals
    head = base.split(".", 1)[0]
    if pv is None or pv.device.peripheral(head) is None:
        return None
    try:
        session.program.find_variable(head)
        return None  # the ELF's symbol wins
    except Exception:  # noqa: BLE001 - not an ELF name
        pass
    try:
        p, r, f = pv.device.resolve(base)
    except Exception:  # noqa: BLE001 - not an SVD path: the ELF may know it
        return None
    if r is None:
        return [x.path for x in p.registers]
    return [x.name for x in r.fields] if f is None else []


def complete(session: Any, text: str, column: int) -> list[dict[str, Any]]:
    """``column``: 0-based cursor position in ``text``."""
    before = text[: max(0, column)] if column >= 0 else text
    if before.lstrip().startswith(":"):
        before = re.sub(r"^\s*:(rate|read)\s+", "", before)
    m = _MEMBER.search(before)
    if m:
        base = _operand_before(before[: m.start()])
        prefix = m.group(2) or ""
        try:
            names = _peripheral_members(session, base) if base else []
            if names is None:
                names = session.compile(base).member_names(arrow=m.group(1) == "->")
        except Exception:  # noqa: BLE001 - an incomplete expression simply has no completions
            names = []
        return [{"label": n, "text": n, "type": "field", "start": len(before) - len(prefix), "length": len(prefix)}
                for n in names if n.startswith(prefix)][:MAX_TARGETS]
    word = _IDENT_TAIL.search(before)
    prefix = word.group(0) if word else ""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    start = len(before) - len(prefix)
    for v in session.program.variables:
        for name in (v.name, v.qualified):
            if name.startswith(prefix) and name not in seen:
                seen.add(name)
                out.append({"label": name, "text": name, "type": "variable", "start": start, "length": len(prefix)})
    pv = session.peripherals
    if pv is not None:  # after the ELF's names: an ELF symbol wins a name both have
        for p in pv.device.peripherals:
            if p.name.startswith(prefix) and p.name not in seen:
                seen.add(p.name)
                out.append({"label": p.name, "text": p.name, "type": "module", "start": start, "length": len(prefix),
                            "detail": f"peripheral at 0x{p.base:08x}"})
    if prefix:
        for sym in session.program.symbols:
            if sym.kind == "function" and sym.name.startswith(prefix) and sym.name not in seen:
                seen.add(sym.name)
                out.append({"label": sym.name, "text": sym.name, "type": "function", "start": start,
                            "length": len(prefix)})
    out.sort(key=lambda t: (t["label"].startswith("'"), t["label"]))
    return out[:MAX_TARGETS]
