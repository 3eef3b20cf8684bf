"""Which ELF the workspace is about, and noticing when it is rebuilt.

The path comes from, in order: the active firmwatch launch configuration the extension passes
(``initializationOptions.elf`` or ``workspace/didChangeConfiguration`` ``settings.elf``); the
``firmwatch.elf`` setting (``workspace/configuration``); the ``elf`` of the first
``"type": "firmwatch"`` configuration in ``.vscode/launch.json``. The file's modification
time and size are polled about once a second (and checked at once on didSave and
didChangeWatchedFiles); a change re-indexes it in a worker thread while the old index keeps
answering.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonc

_VAR = re.compile(r"\$\{([^}]+)\}")


def substitute(text: str, root: Path | None) -> str:
    """VS Code's ``${workspaceFolder}``-style variables that make sense outside VS Code."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ("workspaceFolder", "workspaceRoot") and root is not None:
            return str(root)
        if name == "workspaceFolderBasename" and root is not None:
            return root.name
        if name == "userHome":
            return str(Path.home())
        if name.startswith("env:"):
            return os.environ.get(name[4:], "")
        if name.startswith("workspaceFolder:") and root is not None:
            return str(root.parent / name.partition(":")[2])
        return m.group(0)

    return _VAR.sub(one, text)


def absolute(path: str, root: Path | None) -> Path:
    p = Path(os.path.expanduser(substitute(path, root)))
    if not p.is_absolute() and root is not None:
        p = root / p
    return p


def launch_json_path(root: Path | None) -> Path | None:
    return None if root is None else root / ".vscode" / "launch.json"


def elf_from_launch_json(text: str) -> str | None:
    """``elf`` of the first firmwatch configuration (``program`` accepted as an alias)."""
    try:
        data = jsonc.loads(text)
    except ValueError:
        return None
    configs = data.get("configurations") if isinstance(data, dict) else None
    if not isinstance(configs, list):
        return None
    for c in configs:
        if isinstance(c, dict) and c.get("type") == "firmwatch":
            elf = c.get("elf", c.get("program"))
            if isinstance(elf, str) and elf.strip():
                return elf
    return None


@dataclass
class ElfChoice:
    path: Path
    origin: str  # where the path came from, for messages: "launch configuration", "firmwatch.elf", ...


@dataclass
class ElfConfig:
    """Every place an ELF path can come from; :meth:`choose` applies the precedence."""

    root: Path | None = None
    active_launch: str | None = None  # from the extension: initializationOptions / didChangeConfiguration
    setting: str | None = None  # firmwatch.elf
    launch_json_mtime: int | None = None
    launch_json_elf: str | None = None

    def apply_client_settings(self, settings: Any) -> None:
        """``{"elf": ...}`` (active launch configuration) and/or ``{"firmwatch": {"elf": ...}}``."""
        if not isinstance(settings, dict):
            return
        if "elf" in settings:
            v = settings["elf"]
            self.active_launch = v if isinstance(v, str) and v.strip() else None
        fw = settings.get("firmwatch")
        if isinstance(fw, dict) and "elf" in fw:
            v = fw["elf"]
            self.setting = v if isinstance(v, str) and v.strip() else None

    def refresh_launch_json(self, text: str | None = None) -> bool:
        """Re-read launch.json when it changed (or from ``text``, an open editor's buffer)."""
        p = launch_json_path(self.root)
        if p is None:
            return False
        if text is None:
            try:
                st = os.stat(p)
            except OSError:
                changed = self.launch_json_elf is not None
                self.launch_json_elf, self.launch_json_mtime = None, None
                return changed
            if st.st_mtime_ns == self.launch_json_mtime:
                return False
            self.launch_json_mtime = st.st_mtime_ns
            try:
                text = p.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return False
        elf = elf_from_launch_json(text)
        changed = elf != self.launch_json_elf
        self.launch_json_elf = elf
        return changed

    def choose(self) -> ElfChoice | None:
        for value, origin in (
            (self.active_launch, "the launch configuration"),
            (self.setting, "setting firmwatch.elf"),
            (self.launch_json_elf, ".vscode/launch.json"),
        ):
            if value:
                return ElfChoice(absolute(value, self.root), origin)
        return None

    def display(self, path: Path) -> str:
        """The path as the user wrote it: relative to the workspace when inside it."""
        if self.root is not None:
            try:
                return str(path.relative_to(self.root))
            except ValueError:
                pass
        return str(path)


def file_state(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) or None when the file does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
