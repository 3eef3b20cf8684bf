"""The package's layers and the import edges between them, read from the source (no imports run).

Shared by tests/test_layering.py (the rules) and bench/architecture.py (the figures). The layers,
lowest first (docs/architecture.md draws them):

    base       firmwatch/__init__.py, errors.py           imported by everyone, imports nothing
    symbols    firmwatch/symbols/                          ELF, DWARF, types, expressions, values
    targets    firmwatch/targets/, sim.py                  transports, execution control, devices
    session    firmwatch/session/, peripherals/, profiler/ watches, plans, engines: joins the two
    front      firmwatch/dap/, lsp/, cli/, api/, mcp/,     front ends: present, never reach past
               __main__

A layer imports only layers below it; symbols and targets know nothing of each other. Front ends
reach targets only through the declared protocols and the bundled simulated devices
(``FRONT_END_TARGET_API``), never a transport's module: a transport is opened by the one
factory, session/connect.py. Cycles between modules count lazy imports too.

The public Python API (api/) is a front end that nothing else imports, with two exceptions that
are faces of it: the MCP server (mcp/, built on the API) and the package root, whose lazy
``__getattr__`` re-exports the API's stable names as ``firmwatch.connect`` etc.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

LAYERS = ("base", "symbols", "targets", "session", "front")
RANK = {name: i for i, name in enumerate(LAYERS)}
# what each layer may import, besides itself
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "symbols": {"base"},
    "targets": {"base"},
    "session": {"base", "symbols", "targets"},
    "front": {"base", "symbols", "targets", "session"},
}
# the only targets-layer modules a front end may name: the seams (Target, execution control) and
# the simulated devices `firmwatch sim` and `demo` present; never a transport
FRONT_END_TARGET_API = frozenset({"firmwatch.targets.base", "firmwatch.targets.control", "firmwatch.sim"})
FRONT_ENDS = ("dap", "lsp", "cli", "api", "mcp")
# a front end built on another one's public face: mcp serves the Python API to agents
FACE_OF = {"mcp": "api"}
# the package root re-exports the public API, imported on first use (never at import time)
ROOT_REEXPORT = ("firmwatch", "firmwatch.api")
ENGINES = ("session", "peripherals", "profiler", "rtos", "capture")  # engines beside session/ (DESIGN.md, wave 2)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors",):
        return "base"
    top = parts[1]
    if top == "__main__" or top in FRONT_ENDS:
        return "front"
    if top == "symbols":
        return "symbols"
    if top in ("targets", "sim"):
        return "targets"
    if top in ENGINES:
        return "session"
    raise ValueError(f"{module} is in no layer: add it to tests/layering.py and docs/architecture.md")


def front_end_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"  # python -m firmwatch is the command line
    if len(parts) > 1 and parts[1] in FRONT_ENDS:
        return FACE_OF.get(parts[1], parts[1])
    return None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    lazy: bool  # inside a function: runs only when called


def module_files(package_dir: Path) -> dict[str, Path]:
    """``firmwatch.x.y`` -> its file, for every module of the package at ``package_dir``."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """The firmwatch modules ``module`` imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    out: list[Edge] = []

    def resolve(base: str, names: list[str], line: int, lazy: bool) -> None:
        for name in names:
            full = f"{base}.{name}" if name != "*" else base
            target = full if full in modules else base
            if target in modules and target != module:
                out.append(Edge(module, target, line, lazy))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub, lazy)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("firmwatch") and alias.name in modules and alias.name != module:
                        out.append(Edge(module, alias.name, child.lineno, lazy))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (child.level - 1)]
                    base = ".".join(pkg + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                if base.startswith("firmwatch"):
                    resolve(base, [a.name for a in child.names], child.lineno, lazy)
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, False)
    return out


def all_edges(package_dir: Path) -> list[Edge]:
    modules = module_files(package_dir)
    return [e for m, p in modules.items() for e in imports_of(m, p, modules)]


def violations(edges: list[Edge]) -> list[str]:
    """Every import that breaks the layering rules, as one line each (one per module pair)."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for e in edges:
        if (e.source, e.target) in seen:
            continue
        seen.add((e.source, e.target))
        src, dst = layer_of(e.source), layer_of(e.target)
        where = f"{e.source} imports {e.target} (line {e.line})"
        if (e.source, e.target) == ROOT_REEXPORT and e.lazy:
            continue
        if src != dst and dst not in ALLOWED[src]:
            out.append(f"{where}: {src} may not import {dst}")
        elif src == "front" and dst == "targets" and e.target not in FRONT_END_TARGET_API:
            out.append(f"{where}: a front end reaches targets only through {', '.join(sorted(FRONT_END_TARGET_API))}")
        elif src == dst == "front" and front_end_of(e.source) != front_end_of(e.target) \
                and front_end_of(e.target) is not None:
            out.append(f"{where}: one front end may not import another")
    return out


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Import cycles between modules (strongly connected components of more than one module),
    counting lazy imports too: a cycle hidden in a function is still a cycle of ideas.
    A package's ``__init__`` importing its own submodules is not counted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e.source.startswith(e.target + "."):
            continue  # a submodule importing its package: loading the package is not a dependency
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            strong(v)
    return found


def layer_edges(edges: list[Edge]) -> dict[tuple[str, str], int]:
    """How many module-to-module imports go from each layer to each other layer."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    seen = set()
    for e in edges:
        if (e.source, e.target) in seen:
            continue
        seen.add((e.source, e.target))
        src, dst = layer_of(e.source), layer_of(e.target)
        if src != dst:
            out[(src, dst)] += 1
    return dict(out)


def lines_per_layer(package_dir: Path) -> dict[str, tuple[int, int]]:
    """layer -> (files, lines)."""
    out: dict[str, list[int]] = {name: [0, 0] for name in LAYERS}
    for module, path in module_files(package_dir).items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        row = out[layer_of(module)]
        row[0] += 1
        row[1] += n
    return {k: (v[0], v[1]) for k, v in out.items()}


def largest_files(package_dir: Path, n: int = 10) -> list[tuple[str, int]]:
    sizes = [(str(p.relative_to(package_dir.parent)), len(p.read_text(encoding="utf-8").splitlines()))
             for p in module_files(package_dir).values()]
    return sorted(sizes, key=lambda x: -x[1])[:n]
