"""The command line imports only what the command it runs needs (issue 19: start-up)."""

from __future__ import annotations

import subprocess
import sys

_CODE = ("import sys; from firmwatch.cli.main import build_parser; p = build_parser(sys.argv[1:]);"
         "print(sorted(m for m in sys.modules if m.startswith('firmwatch.')))")


def _imported(*argv: str) -> str:
    return subprocess.run([sys.executable, "-c", _CODE, *argv], capture_output=True, text=True, check=True).stdout


def test_version_imports_no_command() -> None:
    assert "firmwatch.cli.cmd_" not in _imported("--version")


def test_symbols_imports_no_session_or_transport() -> None:
    out = _imported("symbols", "x.elf")
    assert "firmwatch.cli.cmd_symbols" in out
    assert "firmwatch.session" not in out and "firmwatch.targets" not in out, out


def test_no_command_imports_every_module_for_the_full_help() -> None:
    out = _imported()
    assert "firmwatch.cli.cmd_live" in out and "firmwatch.cli.cmd_symbols" in out
    r = subprocess.run([sys.executable, "-m", "firmwatch", "--help"], capture_output=True, text=True, check=True)
    for command in ("symbols", "ptype", "watch", "record", "sim"):
        assert command in r.stdout
