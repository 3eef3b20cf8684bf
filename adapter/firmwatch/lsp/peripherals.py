"""Peripheral names (CMSIS-SVD) in launch.json watch strings: completion and hover.

The SVD comes from the ``firmwatch.svd`` setting, else the ``svdFile`` of the first firmwatch
configuration in launch.json. It is parsed on first use and again when the file changes; a file
that cannot be used is reported once (window/logMessage) and offers nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from . import jsonc
from .elf_watch import absolute

_PATH = re.compile(r"[A-Za-z_][\w\[\]]*(?:\.[A-Za-z_][\w\[\]]*)*\.?$|$")


def svd_from_launch_json(text: str) -> str | None:
    try:
        data = jsonc.loads(text)
    except ValueError:
        return None
    for c in (data.get("configurations") or []) if isinstance(data, dict) else []:
        if isinstance(c, dict) and c.get("type") == "firmwatch" and isinstance(c.get("svdFile"), str):
            return c["svdFile"]
    return None


class SvdSource:
    def __init__(self) -> None:
        self.setting: str | None = None
        self._state: tuple[str, int] | None = None
        self.device: Any = None
        self.error: str | None = None

    def device_for(self, root: Path | None, launch_text: str | None) -> Any:
        raw = self.setting or (svd_from_launch_json(launch_text) if launch_text else None)
        if not raw:
            self.device, self._state = None, None
            return None
        path = str(absolute(raw, root))
        try:
            state = (path, os.stat(path).st_mtime_ns)
        except OSError:
            state = (path, -1)
        if state != self._state:
            self._state = state
            from firmwatch.peripherals.svd import load_svd

            try:
                self.device, self.error = load_svd(path), None
            except Exception as e:  # noqa: BLE001 - a UserError sentence, shown once per file state
                self.device, self.error = None, f"firmwatch: no peripheral names: {e}"
        return self.device


def complete(device: Any, prefix: str, pos_of: Any) -> list[lsp.CompletionItem]:
    """``prefix``: the watch string up to the cursor; ``pos_of(i)``: its offset i as a Position."""
    m = _PATH.search(prefix)
    text = m.group(0) if m else ""
    start = len(prefix) - len(text)
    head, dot, rest = text.rpartition(".")
    if not dot:
        cands = [(p.name, f"peripheral at 0x{p.base:08x}", p.description, lsp.CompletionItemKind.Module)
                 for p in device.peripherals]
        typed = text
    else:
        try:
            p, r, f = device.resolve(head)
        except Exception:  # noqa: BLE001 - not a peripheral path: nothing to offer
            return []
        if f is not None:
            return []
        if r is None:
            cands = [(x.path, f"{x.size}-bit register at 0x{x.address:08x} ({x.access})", x.description,
                      lsp.CompletionItemKind.Field) for x in p.registers]
        else:
            cands = [(x.name, f"field {x.bits} ({x.access})", x.description, lsp.CompletionItemKind.EnumMember)
                     for x in r.fields]
        typed = rest
    begin = len(prefix) - len(typed)
    rng = lsp.Range(pos_of(begin), pos_of(len(prefix)))
    del start
    return [lsp.CompletionItem(label=name, kind=kind, detail=detail, documentation=doc or None,
                               text_edit=lsp.TextEdit(range=rng, new_text=name))
            for name, detail, doc, kind in cands if name.startswith(typed)]


def hover_markdown(device: Any, expr: str) -> str | None:
    try:
        p, r, f = device.resolve(expr)
    except Exception:  # noqa: BLE001 - not a peripheral path
        return None
    if r is None:
        return (f"**{p.name}** — peripheral at `0x{p.base:08x}`, {len(p.registers)} registers\n\n{p.description}").strip()
    lines = [f"**{r.qualified}** — {r.size}-bit register at `0x{r.address:08x}`, {r.access}"]
    effect = r.read_effect()
    if effect:
        lines.append(f"\n*Never read automatically: {effect}.*")
    if r.description:
        lines.append(f"\n{r.description}")
    if f is not None:
        lines = [f"**{r.qualified}.{f.name}** — field {f.bits} of `0x{r.address:08x}`, {f.access}"
                 + (f", {f.modified_write_values}" if f.modified_write_values else ""), f"\n{f.description}"]
        lines += [f"- `{e.name}` = {e.value if e.value is not None else 'other'}" for e in f.enums]
    else:
        lines += ["", *[f"- `{x.bits}` {x.name}" for x in r.fields]]
    return "\n".join(lines).strip()
