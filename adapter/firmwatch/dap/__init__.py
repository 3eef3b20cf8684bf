"""The debug adapter: ``python -m firmwatch.dap`` speaks DAP on stdio (``--port N`` for TCP)."""
