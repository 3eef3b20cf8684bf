"""pytest configuration for the whole suite: the markers and the rules that apply them.

Markers are declared in pyproject.toml and checked (``--strict-markers``: a typo is an error):

* ``emulator`` — runs firmware under QEMU or simavr. A test parametrized by an emulated board
  (``cortex-m3``, ``riscv32``, ``avr``, directly or through a fixture) gets it here, so a new
  board test cannot forget it; other emulator tests carry it explicitly.
* ``vscode`` — drives real VS Code (code-server in headless Chromium); every test in
  ``test_vscode_e2e.py`` gets it here.
* ``slow`` — takes more than a few seconds.

``make test-fast`` runs ``-m "not emulator and not vscode"`` for quick local loops, and with
``FIRMWATCH_TEST_FAST=1`` a test that asks tools.py for an emulator (``require_board``,
``require_tool("qemu-system-arm")``) is skipped even if nobody marked it; ``make test`` (and CI)
runs everything. Shared helpers (``wait_for``, ``require_tool``, ``require_board``) are in
tools.py; the fixtures several modules share are here: ``host_build``, ``host`` and ``host_device``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tools import EMULATED_BOARDS, require_board

# Property tests judge results, not speed: on a loaded 2-core machine input generation can be
# "too slow" for Hypothesis' health check, which says nothing about the code under test.
settings.register_profile("firmwatch", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("firmwatch")

if TYPE_CHECKING:
    from firmwatch.sim import SimDevice

VSCODE_MODULES = {"test_vscode_e2e.py"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test that leaves SIGPIPE at its default action, and put Python's back.

    Python ignores SIGPIPE so that a write to a closed socket raises BrokenPipeError. A library
    that restores the default on import (vcdvcd does) makes the next such write — a test writing
    to a gdb server it just killed — end the whole pytest run without a word ("Broken pipe" from
    make, 84 % through CI). The test that changed it is named here instead.
    """
    try:
        result = yield
    except BaseException:
        _restore_sigpipe()
        raise
    if _restore_sigpipe():
        pytest.fail("this test left SIGPIPE at its default action (an import that resets it?): "
                    "a later write to a closed socket would kill the whole run", pytrace=False)
    return result


def _restore_sigpipe() -> bool:
    """Put Python's SIGPIPE handling back; True if something had changed it."""
    if signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN:
        return False
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    return True


def _emulated(value: object) -> bool:
    if isinstance(value, str):
        return value in EMULATED_BOARDS
    if isinstance(value, tuple):
        return any(_emulated(v) for v in value)
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in VSCODE_MODULES:
            item.add_marker(pytest.mark.vscode)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(_emulated(v) for v in callspec.params.values()):
            item.add_marker(pytest.mark.emulator)


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo firmware built for the host device, once per run (``demo.elf`` and its binary)."""
    from firmwatch import sim

    require_board("host")
    out = tmp_path_factory.mktemp("host-build")
    sim.build("host", out)
    return out


@pytest.fixture(scope="module")
def host(host_build: Path) -> Iterator[SimDevice]:
    """One host device for a whole module whose tests leave it as they found it (a module that
    needs another kind of host defines its own ``host``)."""
    from firmwatch import sim

    with sim.start_sim("host", build_dir=host_build) as dev:
        yield dev


@pytest.fixture
def host_device(host_build: Path) -> Iterator[SimDevice]:
    """A host device of this test's own (a process on a pty, the demo firmware), stopped after it."""
    from firmwatch import sim

    dev = sim.start_sim("host", build_dir=host_build)
    try:
        yield dev
    finally:
        dev.stop()
