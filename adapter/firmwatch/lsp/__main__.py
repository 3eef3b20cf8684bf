"""``python -m firmwatch.lsp``: the firmwatch language server on stdin/stdout."""

from .server import main

main()
