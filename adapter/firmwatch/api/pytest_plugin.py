"""The pytest plugin (entry point ``pytest11``, so it loads wherever firmwatch is installed): a
``firmwatch_device`` fixture connected to the device the command line or the ini file names, and
the trace of every failing test written as a CSV next to the junit report.

    pytest --firmwatch-elf build/app.elf --firmwatch-port /dev/ttyACM0 --junitxml=out/junit.xml

    def test_loop_stays_in_range(firmwatch_device):
        firmwatch_device.write("setpoint", 1500)
        firmwatch_device.assert_reaches("speed", lambda v: v > 1400, within_s=2)
        firmwatch_device.assert_stays("speed", within=(1400, 1600), for_s=10)

Options (each also an ini key, ``--firmwatch-elf`` is ``firmwatch_elf``): ``--firmwatch-elf``,
``--firmwatch-port``, ``--firmwatch-gdb``, ``--firmwatch-sim``, ``--firmwatch-option KEY=VALUE``
(any other option of :func:`firmwatch.connect`, repeatable; ini: one per line),
``--firmwatch-scope session|function`` (one connection for the run, the default, or one per test)
and ``--firmwatch-recordings DIR`` (where failing tests' CSVs go; default: beside the junit report,
else ``firmwatch-recordings/`` under the rootdir).

The plugin imports nothing of firmwatch until a test asks for the fixture: loading it costs a
pytest run that does not use it nothing.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from firmwatch.api.assertions import Trace
    from firmwatch.api.device import Device

OPTIONS = ("elf", "port", "gdb", "sim")
SCOPES = ("session", "function")


@dataclass
class _State:
    devices: list[Device] = field(default_factory=list)
    trace: Trace | None = None


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("firmwatch", "firmwatch: the device under test")
    helps = {
        "elf": "the ELF the device runs (symbols and types come from it)",
        "port": "the firmware's streamer: a serial device or socket://HOST:PORT",
        "gdb": "a GDB server's HOST:PORT",
        "sim": "start a simulated device: host, cortex-m3, riscv32, avr, host-rust",
    }
    for name in OPTIONS:
        group.addoption(f"--firmwatch-{name}", dest=f"firmwatch_{name}", default=None, help=helps[name])
        parser.addini(f"firmwatch_{name}", helps[name], default=None)
    group.addoption("--firmwatch-option", dest="firmwatch_option", action="append", default=[], metavar="KEY=VALUE",
                    help="another option of firmwatch.connect (transport, baud, budget, rate, strict, ...); repeatable")
    parser.addini("firmwatch_options", "options of firmwatch.connect, KEY=VALUE, one per line", type="linelist",
                  default=[])
    group.addoption("--firmwatch-scope", dest="firmwatch_scope", default=None, choices=SCOPES,
                    help="one connection for the whole run (session, the default) or one per test (function)")
    parser.addini("firmwatch_scope", "session (default) or function", default=None)
    group.addoption("--firmwatch-recordings", dest="firmwatch_recordings", default=None, metavar="DIR",
                    help="where a failing test's recording (CSV) goes (default: beside --junitxml's file)")
    parser.addini("firmwatch_recordings", "where a failing test's recording (CSV) goes", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = _State()
    scope = _setting(config, "scope")
    if scope is not None and scope not in SCOPES:
        raise pytest.UsageError(f"firmwatch_scope = {scope!r} is not known; use session or function.")


def _setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"firmwatch_{name}")
    if value in (None, [], ""):
        value = config.getini(f"firmwatch_{name}")
    return value or None


def _value(text: str) -> Any:
    """An option's value as Python: numbers, True/False/None, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def connect_kwargs(config: pytest.Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name in OPTIONS:
        value = _setting(config, name)
        if value:
            kwargs[name] = str(value)
    for item in [*config.getini("firmwatch_options"), *config.getoption("firmwatch_option")]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"firmwatch option '{item}' is not KEY=VALUE (e.g. transport=rsp).")
        kwargs[key.strip()] = _value(value.strip())
    return kwargs


def _scope(fixture_name: str, config: pytest.Config) -> Literal["session", "function"]:
    return "function" if _setting(config, "scope") == "function" else "session"


@pytest.fixture(scope=_scope)
def firmwatch_device(request: pytest.FixtureRequest) -> Iterator[Device]:
    """The device the run's --firmwatch-* options (or ini keys) name, connected; closed at the end of
    its scope. Its assert_stays/assert_reaches report the observed trace when they fail."""
    config = request.config
    kwargs = connect_kwargs(config)
    if not any(kwargs.get(k) for k in ("port", "gdb", "sim", "server")):
        pytest.fail("no firmwatch device is configured: give --firmwatch-port, --firmwatch-gdb or --firmwatch-sim "
                    "(or the ini keys firmwatch_port, firmwatch_gdb, firmwatch_sim).", pytrace=False)
    from firmwatch.api.device import connect
    from firmwatch.errors import is_user_error, sentence

    try:
        dev = connect(kwargs.pop("elf", None), **kwargs)
    except Exception as e:
        if is_user_error(e):
            pytest.fail(f"firmwatch could not connect: {sentence(e)}", pytrace=False)
        raise
    state = config.stash[_STATE]
    dev.trace = state.trace
    state.devices.append(dev)
    try:
        yield dev
    finally:
        state.devices.remove(dev)
        dev.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(_STATE, None)
    if state is None:
        return
    from firmwatch.api.assertions import Trace  # light: no device, no transport

    state.trace = Trace()
    for dev in state.devices:
        dev.trace = state.trace


def recording_path(config: pytest.Config, nodeid: str) -> str:
    where = _setting(config, "recordings")
    if where is None:
        xml = getattr(config.option, "xmlpath", None)
        where = os.path.dirname(os.path.abspath(xml)) if xml else os.path.join(str(config.rootpath),
                                                                               "firmwatch-recordings")
    os.makedirs(where, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")[:150]
    return os.path.join(where, f"firmwatch-{name}.csv")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    state = item.config.stash.get(_STATE, None)
    if state is None or report.when != "call" or not report.failed or state.trace is None or not len(state.trace):
        return
    trace = state.trace
    path = recording_path(item.config, item.nodeid)
    rows = trace.write_csv(path)
    names = sorted({r[3] for r in trace.rows})
    text = f"{rows} samples of {', '.join(names)} observed by this test's firmwatch checks, written to {path}"
    if trace.overflow:
        text += f" ({trace.overflow} more were not kept: the trace holds {trace.limit})"
    report.sections.append(("firmwatch recording", text))
    # the junit writer reads the properties of the test's last (teardown) report, made from the item's
    item.user_properties.append(("firmwatch_recording", path))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        for dev in list(state.devices):
            dev.close()
