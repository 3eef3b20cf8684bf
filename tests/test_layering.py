"""The package's layers hold (docs/architecture.md draws them; tests/layering.py states them):
every import, lazy ones included, goes down or sideways within a layer, front ends reach targets
only through the declared protocols, one front end never imports another, and no modules import
each other in a circle. bench/architecture.py prints the figures behind this."""

from __future__ import annotations

from pathlib import Path

import pytest

import layering as L

PACKAGE = Path(__file__).resolve().parents[1] / "adapter" / "firmwatch"


@pytest.fixture(scope="module")
def edges() -> list[L.Edge]:
    return L.all_edges(PACKAGE)


def test_every_module_is_in_a_layer() -> None:
    for module in L.module_files(PACKAGE):
        L.layer_of(module)  # raises for a package nobody placed


def test_no_import_breaks_the_layers(edges: list[L.Edge]) -> None:
    bad = L.violations(edges)
    assert not bad, "imports against the layering (docs/architecture.md):\n" + "\n".join(bad)


def test_no_import_cycles(edges: list[L.Edge]) -> None:
    found = L.cycles(edges)
    assert not found, "modules that import each other in a circle:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_check_sees_what_it_must_refuse(tmp_path: Path) -> None:
    """The checker on a small package with one of each fault: it finds all of them."""
    pkg = tmp_path / "firmwatch"
    for d in ("symbols", "targets", "session", "dap", "cli"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "symbols" / "a.py").write_text("from firmwatch.targets import b\n")  # sideways: symbols -> targets
    (pkg / "targets" / "b.py").write_text("def f():\n    from firmwatch.session import c\n")  # upward, lazy
    (pkg / "targets" / "rsp.py").write_text("")
    (pkg / "session" / "c.py").write_text("from firmwatch.symbols import d\n")
    (pkg / "symbols" / "d.py").write_text("def g():\n    from . import e\n")
    (pkg / "symbols" / "e.py").write_text("from firmwatch.symbols import d\n")  # a cycle through a lazy import
    (pkg / "dap" / "x.py").write_text("from firmwatch.targets.rsp import X\nfrom firmwatch.cli import y\n")
    (pkg / "cli" / "y.py").write_text("from firmwatch.session.c import Z\n")
    found = L.all_edges(pkg)
    bad = "\n".join(L.violations(found))
    assert "symbols.a imports firmwatch.targets.b" in bad
    assert "targets.b imports firmwatch.session.c" in bad
    assert "dap.x imports firmwatch.targets.rsp" in bad
    assert "one front end may not import another" in bad
    assert "firmwatch.cli.y imports" not in bad, "a front end may import the session"
    assert ["firmwatch.symbols.d", "firmwatch.symbols.e"] in L.cycles(found)


def test_the_public_api_is_imported_only_by_its_faces(tmp_path: Path) -> None:
    """Nothing imports firmwatch.api but the MCP server built on it and the package root's lazy
    re-export; an eager re-export (every `firmwatch` command would pay for it) and another front end
    reaching into the API are refused."""
    pkg = tmp_path / "firmwatch"
    for d in ("session", "api", "mcp", "cli"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "session" / "s.py").write_text("")
    (pkg / "api" / "device.py").write_text("from firmwatch.session import s\n")
    (pkg / "mcp" / "server.py").write_text("from firmwatch.api import device\n")
    (pkg / "cli" / "cmd.py").write_text("from firmwatch.api import device\n")
    (pkg / "__init__.py").write_text("from firmwatch.api import device\n")
    bad = "\n".join(L.violations(L.all_edges(pkg)))
    assert "firmwatch.cli.cmd imports firmwatch.api" in bad
    assert "firmwatch imports firmwatch.api" in bad, "an eager re-export from the root"
    assert "firmwatch.mcp.server" not in bad
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    import firmwatch.api\n")
    bad = "\n".join(L.violations(L.all_edges(pkg)))
    assert "firmwatch imports firmwatch.api" not in bad, "the lazy re-export is the allowed one"
    modules = L.module_files(PACKAGE)
    importers = {e.source for e in L.all_edges(PACKAGE) if e.target.startswith("firmwatch.api")
                 and not e.source.startswith("firmwatch.api")}
    assert importers <= {"firmwatch"} | {m for m in modules if m.startswith("firmwatch.mcp")}, importers
