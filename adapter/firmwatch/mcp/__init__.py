"""An MCP server (``python -m firmwatch.mcp``, stdio) so an agent can inspect a running board without
halting it: symbols, types, reads, timed watches with a summary, recordings and memory health — the
Python API (firmwatch.api) served through the official ``mcp`` SDK (``pip install 'firmwatch[mcp]'``).
Writing is off unless the server is started with ``--allow-write``. docs/api.md describes it."""
