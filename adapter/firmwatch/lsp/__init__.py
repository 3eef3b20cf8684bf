"""firmwatch language server: what the linked ELF knows, brought into the editor.

Run it with ``python -m firmwatch.lsp`` (stdio). See docs/lsp.md for the features and the
custom messages the VS Code extension exchanges with it.
"""
