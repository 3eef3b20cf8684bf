"""Microsoft's DebugClient (@vscode/debugadapter-testsupport, node) drives ``python -m firmwatch.dap``.

The node project lives in tests/dap-conformance; install it with
``npm ci --prefix tests/dap-conformance`` (CI does this in .ci).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import require_tool

pytestmark = [pytest.mark.slow]

HERE = Path(__file__).parent / "dap-conformance"


def test_debug_client_conformance() -> None:
    node = require_tool("node")
    require_tool("gcc")
    if not (HERE / "node_modules" / "@vscode" / "debugadapter-testsupport").is_dir():
        msg = "the node test support is not installed: run npm ci --prefix tests/dap-conformance"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    r = subprocess.run([node, "--test", "conformance.test.js"], cwd=HERE, capture_output=True, text=True,
                       timeout=280, env={**os.environ, "FIRMWATCH_PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# pass 1" in r.stdout
