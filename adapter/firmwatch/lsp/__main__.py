"""``python -m firmwatch.lsp``: the firmwatch language server on stdin/stdout.

Editors start it with no arguments and speak LSP on stdio; ``--help`` and ``--version``
answer a person instead of starting a server that waits for LSP on the terminal. Without the
``lsp`` extra (pygls) it says which package to install, in one sentence.
"""

from __future__ import annotations

import argparse
import sys

from firmwatch import __version__


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m firmwatch.lsp",
        description="The firmwatch language server: ELF symbols, types and live values in the editor. "
        "An editor starts it and speaks LSP on its standard input and output (docs/lsp.md); "
        "FIRMWATCH_LSP_LOG=DEBUG logs to stderr.",
    )
    p.add_argument("--version", action="version", version=f"firmwatch {__version__}")
    p.add_argument("--stdio", action="store_true", help="speak LSP on stdin/stdout (the default)")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    _args(sys.argv[1:] if argv is None else argv)
    try:
        from .server import main
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in ("pygls", "lsprotocol"):
            print(f"firmwatch: the language server needs the lsp extra ({e.name} is not installed): "
                  "pip install 'firmwatch[lsp]' in the environment firmwatch runs in, or 'make venv' in a "
                  "checkout (docs/install.md).", file=sys.stderr)
            return 1
        raise
    main()
    return 0


if __name__ == "__main__":
    sys.exit(run())
