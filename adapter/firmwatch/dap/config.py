"""launch.json for ``"type": "firmwatch"``: validated into a :class:`LaunchConfig`, or ONE error.

The error names the key and says what is allowed, e.g. ``launch.json: unknown key 'buad'; did you
mean 'baud'? (allowed: ...)``. docs/dap.md documents every key.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

from firmwatch.dap.messaging import RequestError
from firmwatch.session.connect import DEFAULT_BUDGET, SAMPLING_MODES, STREAMER_MODES, ConnectOptions

TRANSPORTS = ("serial", "tcp", "gdb", "rsp")
SIMS = ("host", "cortex-m3", "riscv32", "avr", "host-rust", "cortex-m3-freertos", "riscv32-freertos")
BUILD_ID_MODES = ("error", "warn", "off")

KEYS: dict[str, str] = {
    "elf": "the path of the firmware ELF (a string)",
    "transport": "one of " + ", ".join(TRANSPORTS),
    "port": "a serial device or pyserial URL for serial, a TCP port number for tcp",
    "baud": "a positive integer baud rate",
    "streamerMode": "one of " + ", ".join(STREAMER_MODES),
    "host": "a host name for tcp",
    "target": "HOST:PORT of the GDB server for rsp and gdb",
    "gdbPath": "the gdb executable for the gdb transport",
    "intrusionBudget": "a percentage above 0 and at most 100 (0: no cap)",
    "samplingMode": "one of " + ", ".join(SAMPLING_MODES),
    "lockSymbol": "the name of a global flag the firmware sets while it updates the data (a string)",
    "server": "a command line (string or array) that starts a GDB server or device; {port} is replaced by a free port",
    "sim": "one of " + ", ".join(SIMS),
    "watch": "an array of expressions or {\"expression\", \"rateHz\"} objects",
    "sampleRate": "a rate in Hz above 0",
    "uiRefreshHz": "a rate in Hz between 0.5 and 60",
    "verifyBuildId": "one of " + ", ".join(BUILD_ID_MODES),
    "cwd": "a directory (a string)",
    "env": "an object of string values",
    "trace": "true, false or a log file path",
    "svdFile": "the path of the device's CMSIS-SVD file (a string): the Peripherals scope and PERIPH.REG.FIELD watches",
    "peripheralsManual": "an array of peripheral names that are read only on request",
    "memoryThreshold": "a number of bytes, 0 or more (the stack-heap collision margin that raises a warning)",
}
# keys VS Code itself (or a task runner) adds to every configuration
_HOST_KEYS = {"type", "request", "name", "noDebug", "preLaunchTask", "postDebugTask", "internalConsoleOptions",
              "debugServer", "presentation", "suppressMultipleSessionWarning", "suppressDebugToolbar",
              "suppressDebugStatusbar", "suppressDebugView", "linux", "windows", "osx"}


class ConfigError(RequestError):
    def __init__(self, message: str):
        super().__init__("launch.json: " + message, show_user=True, error_id=10)


@dataclass
class WatchSpec:
    expression: str
    rate_hz: float | None = None


@dataclass
class LaunchConfig:
    request: str  # "launch" | "attach"
    elf: str | None = None
    transport: str | None = None
    port: str | None = None  # serial device / URL
    tcp_port: int | None = None
    baud: int = 921600
    streamer_mode: str = "binary"
    host: str = "127.0.0.1"
    target: str | None = None
    gdb_path: str | None = None
    budget_percent: float = 100 * DEFAULT_BUDGET  # intrusionBudget; 0: no cap
    sampling_mode: str = "auto"
    lock_symbol: str | None = None
    server: list[str] | str | None = None
    sim: str | None = None
    watch: list[WatchSpec] = field(default_factory=list)
    sample_rate: float | None = None
    ui_refresh_hz: float = 10.0
    memory_threshold: int | None = None  # bytes; None: the engine's default
    verify_build_id: str = "warn"
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    trace: str | None = None  # path of the trace log, None when off
    svd_file: str | None = None
    peripherals_manual: list[str] = field(default_factory=list)
    name: str = ""

    def connect_options(self, die_with_parent: bool = False) -> ConnectOptions:
        """This configuration as the transport factory's options (the command line's are the same)."""
        return ConnectOptions(
            elf=self.resolve(self.elf) if self.elf else None, transport=self.transport, port=self.port,
            baud=self.baud, streamer_mode=self.streamer_mode, host=self.host, tcp_port=self.tcp_port,
            target=self.target, gdb_path=self.gdb_path,
            budget=self.budget_percent / 100.0 if self.budget_percent else None, sampling_mode=self.sampling_mode,
            lock_symbol=self.lock_symbol, sim=self.sim, server=self.server, cwd=self.cwd, env=dict(self.env),
            die_with_parent=die_with_parent)

    def resolve(self, path: str) -> str:
        path = os.path.expanduser(path)
        if self.cwd and not os.path.isabs(path):
            return os.path.join(self.cwd, path)
        return path


def _allowed() -> str:
    return ", ".join(KEYS)


def _bad(key: str, value: Any = None) -> ConfigError:
    return ConfigError(f"'{key}' must be {KEYS[key]}" + (f", not {value!r}." if value is not None else "."))


def _num(data: dict[str, Any], key: str) -> float | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(key, v)
    return float(v)


def _str(data: dict[str, Any], key: str) -> str | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise _bad(key, v)
    return v


def parse_config(data: dict[str, Any], request: str) -> LaunchConfig:
    for key in data:
        if key in KEYS or key in _HOST_KEYS or key.startswith("__"):
            continue
        close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else "."
        raise ConfigError(f"unknown key '{key}'{hint} Allowed keys: {_allowed()}.")
    cfg = LaunchConfig(request=request, name=str(data.get("name", "")))
    cfg.cwd = _str(data, "cwd")
    cfg.elf = _str(data, "elf")
    sim = _str(data, "sim")
    if sim is not None and sim not in SIMS:
        raise _bad("sim", sim)
    cfg.sim = sim
    transport = _str(data, "transport")
    if transport is not None and transport not in TRANSPORTS:
        raise _bad("transport", transport)
    server = data.get("server")
    if server is not None:
        ok = (isinstance(server, str) and server.strip()) or (
            isinstance(server, list) and server and all(isinstance(a, str) for a in server))
        if not ok:
            raise _bad("server", server)
        cfg.server = server
    port = data.get("port")
    if port is not None:
        if transport == "tcp":
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ConfigError(f"'port' must be a TCP port number (1-65535) for transport tcp, not {port!r}.")
            cfg.tcp_port = port
        elif isinstance(port, str) and port.strip():
            cfg.port = port
        else:
            raise ConfigError(f"'port' must be a serial device path or pyserial URL (a string), not {port!r}.")
    baud = data.get("baud")
    if baud is not None:
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise _bad("baud", baud)
        cfg.baud = baud
    smode = _str(data, "streamerMode")
    if smode is not None:
        if smode not in STREAMER_MODES:
            raise _bad("streamerMode", smode)
        cfg.streamer_mode = smode
    host = _str(data, "host")
    if host is not None:
        cfg.host = host
    cfg.target = _str(data, "target")
    cfg.gdb_path = _str(data, "gdbPath")
    budget = _num(data, "intrusionBudget")
    if budget is not None:
        if not 0 <= budget <= 100:
            raise _bad("intrusionBudget", data.get("intrusionBudget"))
        cfg.budget_percent = budget
    mode = _str(data, "samplingMode")
    if mode is not None:
        if mode not in SAMPLING_MODES:
            raise _bad("samplingMode", mode)
        cfg.sampling_mode = mode
    cfg.lock_symbol = _str(data, "lockSymbol")
    rate = _num(data, "sampleRate")
    if rate is not None and not rate > 0:
        raise _bad("sampleRate", rate)
    cfg.sample_rate = rate
    mt = _num(data, "memoryThreshold")
    if mt is not None:
        if mt < 0 or mt != int(mt):
            raise _bad("memoryThreshold", data.get("memoryThreshold"))
        cfg.memory_threshold = int(mt)
    ui = _num(data, "uiRefreshHz")
    if ui is not None:
        if not 0.5 <= ui <= 60:
            raise _bad("uiRefreshHz", ui)
        cfg.ui_refresh_hz = ui
    vb = data.get("verifyBuildId")
    if vb is not None:
        if vb not in BUILD_ID_MODES:
            raise _bad("verifyBuildId", vb)
        cfg.verify_build_id = vb
    env = data.get("env")
    if env is not None:
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise _bad("env")
        cfg.env = dict(env)
    trace = data.get("trace")
    if trace is not None and trace is not False:
        if trace is True:
            import tempfile

            cfg.trace = os.path.join(tempfile.gettempdir(), f"firmwatch-dap-{os.getpid()}.log")
        elif isinstance(trace, str) and trace.strip():
            cfg.trace = cfg.resolve(trace)
        else:
            raise _bad("trace", trace)
    svd = _str(data, "svdFile")
    cfg.svd_file = cfg.resolve(svd) if svd else None
    manual = data.get("peripheralsManual")
    if manual is not None:
        if not isinstance(manual, list) or not all(isinstance(m, str) and m.strip() for m in manual):
            raise _bad("peripheralsManual", manual)
        cfg.peripherals_manual = [m.strip() for m in manual]
    watch = data.get("watch")
    if watch is not None:
        if not isinstance(watch, list):
            raise _bad("watch", watch)
        for i, w in enumerate(watch):
            if isinstance(w, str) and w.strip():
                cfg.watch.append(WatchSpec(w.strip()))
            elif isinstance(w, dict) and isinstance(w.get("expression"), str) and w["expression"].strip():
                extra = set(w) - {"expression", "rateHz"}
                if extra:
                    raise ConfigError(f"'watch[{i}]' has unknown key '{sorted(extra)[0]}'; allowed: expression, rateHz.")
                r = w.get("rateHz")
                if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or r <= 0):
                    raise ConfigError(f"'watch[{i}].rateHz' must be a rate in Hz above 0, not {r!r}.")
                cfg.watch.append(WatchSpec(w["expression"].strip(), float(r) if r is not None else None))
            else:
                raise ConfigError(f"'watch[{i}]' must be an expression string or {{\"expression\", \"rateHz\"}}, "
                                  f"not {w!r}.")
    _check_combination(cfg, transport, data)
    cfg.transport = transport
    return cfg


def _check_combination(cfg: LaunchConfig, transport: str | None, data: dict[str, Any]) -> None:
    if cfg.request == "launch" and cfg.sim is None and cfg.server is None:
        raise ConfigError("a \"launch\" configuration needs 'sim' (a simulated device) or 'server' (a command "
                          "line to start); to connect to a device that already runs use \"request\": \"attach\".")
    if cfg.request == "attach":
        for key in ("sim", "server"):
            if key in data:
                raise ConfigError(f"'{key}' starts something, so it belongs in a \"launch\" configuration, "
                                  "not \"attach\".")
    if cfg.sim is not None:
        if transport in ("tcp",) and cfg.tcp_port is not None:
            raise ConfigError("'port' is chosen by the simulator when 'sim' is given; remove 'port'.")
        if transport in ("rsp", "gdb") and cfg.sim in ("host", "host-rust"):
            raise ConfigError(f"'transport' {transport} needs a gdb stub, which the {cfg.sim} simulation has not; "
                              f"use serial or tcp with sim {cfg.sim}, or sim cortex-m3, riscv32 or avr.")
        if cfg.server is not None:
            raise ConfigError("'server' and 'sim' both start a device; keep one of them.")
        return
    if cfg.elf is None:
        raise ConfigError("'elf' is required: the path of the firmware ELF the device runs.")
    if transport is None:
        raise ConfigError(f"'transport' is required without 'sim': one of {', '.join(TRANSPORTS)}.")
    if transport == "serial" and cfg.port is None:
        raise ConfigError("'port' is required for transport serial: a device such as /dev/ttyACM0.")
    if transport == "tcp" and cfg.tcp_port is None:
        raise ConfigError("'port' is required for transport tcp: the TCP port number of the device's UART bridge.")
    if transport in ("rsp", "gdb") and cfg.target is None and not _has_port_placeholder(cfg.server):
        raise ConfigError(f"'target' is required for transport {transport}: the GDB server as HOST:PORT, "
                          "e.g. localhost:3333.")
    if cfg.server is not None and transport == "serial":
        raise ConfigError("'server' needs a transport that connects over TCP (tcp, rsp or gdb) so firmwatch "
                          "can tell when it is ready; use transport tcp or rsp.")
    for key, allowed in (("baud", ("serial",)), ("streamerMode", ("serial", "tcp")), ("gdbPath", ("gdb",)),
                         ("host", ("tcp",)), ("intrusionBudget", ("rsp", "gdb")), ("samplingMode", ("rsp", "gdb")),
                         ("lockSymbol", ("rsp", "gdb"))):
        if key in data and transport not in allowed:
            raise ConfigError(f"'{key}' applies to transport {' or '.join(allowed)} only, not {transport}.")


def _has_port_placeholder(server: list[str] | str | None) -> bool:
    if server is None:
        return False
    return "{port}" in (server if isinstance(server, str) else " ".join(server))
