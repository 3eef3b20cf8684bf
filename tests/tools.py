"""Helpers shared by the test suite."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of the external tool ``name``; skip the test when missing (fail in CI)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"required tool '{name}' is not installed (run .ci/install-system-deps)")
    pytest.skip(f"'{name}' is not installed")
    raise AssertionError("unreachable")
