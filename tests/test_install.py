"""Installing from the repository (issue 9.15) and documents that point only inside it (9.16)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tools import require_tool

ROOT = Path(__file__).resolve().parents[1]


def test_make_vsix_needs_only_the_extensions_own_dependencies():
    """Packaging used to install code-server and Chromium (the end-to-end setup) first."""
    require_tool("make")
    plan = subprocess.run(["make", "-n", "-B", "vsix"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "install-vscode-e2e" not in plan and "code-server" not in plan and "chromium" not in plan
    assert "npm ci" in plan and "--prefix vscode-extension" in plan and "npm run package" in plan
    import json

    dev = json.loads((ROOT / "vscode-extension" / "package.json").read_text())["devDependencies"]
    assert "@vscode/vsce" in dev  # vsce comes with the extension's own devDependencies


def test_make_wheel_builds_a_wheel_into_dist():
    require_tool("make")
    plan = subprocess.run(["make", "-n", "-B", "wheel"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "pip wheel" in plan and "-w dist" in plan


def test_every_relative_link_in_the_documents_stays_inside_the_repository():
    docs = [ROOT / "README.md", ROOT / "firmware" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    bad = []
    for doc in docs:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a URL or an anchor
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                bad.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not bad, bad


def test_install_docs_name_the_ways_firmwatch_gets_on_path():
    text = (ROOT / "docs" / "install.md").read_text()
    for needle in ("make venv", ".venv/bin/firmwatch", "source .venv/bin/activate", "make wheel", "make vsix",
                   "firmwatch[lsp]" if "firmwatch[lsp]" in text else "[lsp]"):
        assert needle in text
    readme = (ROOT / "README.md").read_text()
    assert "docs/install.md" in readme and "docs/troubleshooting.md" in readme and "docs/support.md" in readme
