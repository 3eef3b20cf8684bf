"""The shape of the Python package, side by side with a baseline commit (issue 10's closing note).

    python bench/architecture.py                     # the working tree
    python bench/architecture.py --baseline 501bc39  # and a commit, with ratios

Prints lines per layer, the largest files, the import edges between layers, the layering
violations and the import cycles between modules (tests/layering.py defines the layers and the
rules; tests/test_layering.py keeps the working tree free of violations and cycles), and the
attribute probes per package: ``hasattr(x, "name")`` and ``getattr(x, "name", default)``, the
seams that ask an object what it is instead of declaring it in a protocol.
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import layering as L  # noqa: E402


def package_at(rev: str, into: Path) -> Path:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "adapter/firmwatch"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "adapter" / "firmwatch"


def figures(pkg: Path) -> dict[str, object]:
    edges = L.all_edges(pkg)
    return {
        "lines": L.lines_per_layer(pkg),
        "largest": L.largest_files(pkg, 12),
        "edges": L.layer_edges(edges),
        "violations": sorted(set(L.violations(edges))),
        "cycles": L.cycles(edges),
        "modules": len(L.module_files(pkg)),
        "probes": probes(pkg),
    }


def probes(pkg: Path) -> dict[str, int]:
    """``hasattr(x, "name")`` and ``getattr(x, "name", default)`` calls per package (a literal name:
    a dispatch on a computed name is not a probe)."""
    out: dict[str, int] = {}
    for path in sorted(pkg.rglob("*.py")):
        part = path.relative_to(pkg).parts
        where = part[0] if len(part) > 1 else "(top)"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            literal = len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
            if literal and (node.func.id == "hasattr" or (node.func.id == "getattr" and len(node.args) == 3)):
                out[where] = out.get(where, 0) + 1
    return out


def ratio(now: float, before: float) -> str:
    return f"{now / before:.2f}x" if before else "—"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", help="a git revision to compare with (e.g. the commit before issue 10)")
    args = p.parse_args()
    now = figures(ROOT / "adapter" / "firmwatch")
    before = None
    tmp = None
    if args.baseline:
        tmp = tempfile.TemporaryDirectory()
        before = figures(package_at(args.baseline, Path(tmp.name)))
    label = f"baseline {args.baseline}" if before else ""
    print(f"firmwatch package shape: working tree{' vs ' + label if label else ''}\n")

    print(f"{'layer':10} {'files':>6} {'lines':>7}" + (f" {'before':>7} {'ratio':>6}" if before else ""))
    for layer in L.LAYERS:
        files, lines = now["lines"][layer]  # type: ignore[index]
        row = f"{layer:10} {files:>6} {lines:>7}"
        if before:
            b = before["lines"][layer][1]  # type: ignore[index]
            row += f" {b:>7} {ratio(lines, b):>6}"
        print(row)
    total = sum(v[1] for v in now["lines"].values())  # type: ignore[union-attr]
    row = f"{'total':10} {now['modules']:>6} {total:>7}"
    if before:
        tb = sum(v[1] for v in before["lines"].values())  # type: ignore[union-attr]
        row += f" {tb:>7} {ratio(total, tb):>6}"
    print(row)

    print("\nlargest files (lines)")
    old_sizes = dict(before["largest"]) if before else {}  # type: ignore[arg-type]
    for path, n in now["largest"]:  # type: ignore[union-attr]
        extra = f"   (before {old_sizes[path]})" if path in old_sizes else ""
        print(f"  {n:>6}  {path}{extra}")
    if before:
        print("  baseline's largest:")
        for path, n in before["largest"][:6]:  # type: ignore[index]
            print(f"  {n:>6}  {path}")

    print("\nimport edges between layers (distinct module pairs)")
    keys = sorted(set(now["edges"]) | set(before["edges"] if before else ()),  # type: ignore[arg-type]
                  key=lambda k: (L.RANK[k[0]], L.RANK[k[1]]))
    for k in keys:
        n = now["edges"].get(k, 0)  # type: ignore[union-attr]
        row = f"  {k[0]:>8} -> {k[1]:<8} {n:>4}"
        if before:
            row += f"   before {before['edges'].get(k, 0):>4}"  # type: ignore[union-attr]
        print(row)

    print("\nattribute probes (hasattr / getattr with a default) per package")
    names = sorted(set(now["probes"]) | set(before["probes"] if before else ()))  # type: ignore[arg-type]
    for name in names:
        n = now["probes"].get(name, 0)  # type: ignore[union-attr]
        row = f"  {name:<12} {n:>4}"
        if before:
            row += f"   before {before['probes'].get(name, 0):>4}"  # type: ignore[union-attr]
        print(row)
    row = f"  {'total':<12} {sum(now['probes'].values()):>4}"  # type: ignore[union-attr]
    if before:
        row += f"   before {sum(before['probes'].values()):>4}"  # type: ignore[union-attr]
    print(row)

    for name, fig in (("working tree", now), (label, before)):
        if fig is None:
            continue
        print(f"\n{name}: {len(fig['violations'])} layering violations, {len(fig['cycles'])} import cycles")  # type: ignore[arg-type]
        for v in fig["violations"]:  # type: ignore[union-attr]
            print(f"  violation: {v}")
        for c in fig["cycles"]:  # type: ignore[union-attr]
            print(f"  cycle: {' <-> '.join(c)}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
