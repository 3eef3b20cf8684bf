"""From a validated launch.json to a connected target: simulator, server process, transport.

Everything started here is stopped by :meth:`Launched.close` (the simulated device, the server
process group), in reverse order, also when connecting fails half-way.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmwatch.dap.config import ConfigError, LaunchConfig
from firmwatch.symbols.elf import refuse_non_regular
from firmwatch.targets.base import Target, TargetError

Output = Callable[[str, str], None]  # (category, text)
LinkEvent = Callable[[str, str], None]  # (state, sentence)


@dataclass
class Launched:
    target: Target
    transport: str
    elf: str
    description: str  # what the status document calls the target
    sim: Any = None
    server: Any = None
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.target.close()
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stop()


class _FileTail:
    """Forwards what a server writes to its log file as output events (its stderr and stdout)."""

    def __init__(self, path: str, emit: Output, stop: threading.Event):
        self.path, self.emit, self.stop = path, emit, stop
        threading.Thread(target=self._run, name="firmwatch-server-log", daemon=True).start()

    def _run(self) -> None:
        pos = 0
        while not self.stop.wait(0.2):
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read(65536)
            except OSError:
                return
            if data:
                pos += len(data)
                self.emit("stderr", data.decode("utf-8", "replace"))


def _server_argv(cfg: LaunchConfig, port: int | None) -> list[str]:
    argv = shlex.split(cfg.server) if isinstance(cfg.server, str) else list(cfg.server or [])
    if port is not None:
        argv = [a.replace("{port}", str(port)) for a in argv]
    return argv


def open_launch(cfg: LaunchConfig, *, on_output: Output, on_link: LinkEvent) -> Launched:
    transport = cfg.transport
    stoppers: list[Callable[[], None]] = []
    sim = server = None
    elf = cfg.resolve(cfg.elf) if cfg.elf else None
    if elf is not None:
        refuse_non_regular(elf)  # before any device is started or opened
    try:
        if cfg.sim is not None:
            from firmwatch.sim import start_sim

            transport = transport or "serial"
            # launch runs on the adapter's one long-lived worker thread, so the kernel may end the
            # device with it: a killed adapter (VS Code gone, SIGKILL) leaves no emulator behind
            sim = start_sim(cfg.sim, elf=elf, tcp=transport == "tcp",
                            die_with_parent=threading.current_thread().name == "dap-worker")
            stoppers.append(sim.stop)
            elf = str(sim.elf)
            on_output("console", f"firmwatch: simulated {cfg.sim} device started (pid {sim.pid}), UART {sim.port}"
                      + (f", gdb stub {sim.gdb}" if sim.gdb else "") + ".\n")
            _pump_sim_log(sim, on_output, stoppers)
            if transport in ("serial", "tcp"):
                address = sim.port
            else:
                address = sim.gdb
        elif cfg.server is not None:
            from firmwatch.targets.gdbserver import GdbServer, free_port

            argv = _server_argv(cfg, None)
            port: int | None = None
            if any("{port}" in a for a in argv):
                port = free_port()
                argv = _server_argv(cfg, port)
            target_text = (cfg.target or "127.0.0.1:{port}").replace("{port}", str(port)) if port else cfg.target
            if transport == "tcp":
                host, tport = cfg.host, cfg.tcp_port or port
            else:
                assert target_text is not None
                host, _, p = target_text.rpartition(":")
                host, tport = host or "127.0.0.1", int(p)
            if tport is None:
                raise ConfigError("'port' is required with 'server' and transport tcp (or use {port} in 'server').")
            env = {**cfg.env} if cfg.env else None
            server = GdbServer(argv, tport, host if host not in ("localhost",) else "127.0.0.1", cwd=cfg.cwd, env=env)
            stop_tail = threading.Event()
            stoppers.append(server.close)
            stoppers.append(stop_tail.set)
            server.start()
            _FileTail(server.log_path, on_output, stop_tail)
            on_output("console", f"firmwatch: started {server.name} (pid {server.pid}) on port {tport}.\n")
            address = f"socket://{host}:{tport}" if transport == "tcp" else f"{host}:{tport}"
        else:
            if transport == "serial":
                address = cfg.port
            elif transport == "tcp":
                address = f"socket://{cfg.host}:{cfg.tcp_port}"
            else:
                address = cfg.target
        if elf is None:
            raise ConfigError("'elf' is required: the path of the firmware ELF the device runs.")
        assert transport is not None and address is not None
        target = _connect(cfg, transport, address, elf, on_link, on_output)
    except BaseException:
        for stop in reversed(stoppers):
            with contextlib.suppress(Exception):
                stop()
        raise
    return Launched(target, transport, elf, target.info().name, sim, server, stoppers)


def _pump_sim_log(sim: Any, on_output: Output, stoppers: list[Callable[[], None]]) -> None:
    """The simulator's own output (QEMU, simavr messages) as stderr output events."""
    stop = threading.Event()
    stoppers.append(stop.set)

    def run() -> None:
        seen = len(sim.log())
        while not stop.wait(0.3):
            lines = sim.log()
            # the pump keeps a bounded deque: when it rolled over, only the tail is new
            new = lines[seen:] if len(lines) >= seen else lines
            seen = len(lines)
            if new:
                on_output("stderr", "".join(line if line.endswith("\n") else line + "\n" for line in new))

    threading.Thread(target=run, name="firmwatch-sim-log", daemon=True).start()


def _connect(cfg: LaunchConfig, transport: str, address: str, elf: str, on_link: LinkEvent,
             on_output: Output) -> Target:
    if transport in ("serial", "tcp"):
        from firmwatch.dap.device_text import DeviceText
        from firmwatch.targets.streamer import StreamerTarget

        try:
            target = StreamerTarget(address, baud=cfg.baud, on_link=on_link)
        except (OSError, ValueError) as e:
            raise TargetError(f"cannot open {address} ({e}); check the port and that no other program uses it.") from None
        if target.mode == "binary":
            text = DeviceText()

            def raw(data: bytes) -> None:
                for line in text.feed(data):
                    on_output("stdout", line + "\n")

            target.on_raw(raw)
        return target
    if transport == "rsp":
        from firmwatch.targets.rsp import RspTarget

        return RspTarget(address, expect_arch=_elf_machine(elf), on_link=on_link)
    if transport == "gdb":
        try:
            from firmwatch.targets import gdb as gdb_mod  # type: ignore[attr-defined]
        except ImportError:
            raise ConfigError("the gdb transport is not available in this build; use rsp.") from None
        factory = getattr(gdb_mod, "GdbTarget", None)
        if factory is None:
            raise ConfigError("the gdb transport is not available in this build; use rsp.")
        kwargs: dict[str, Any] = {}
        if cfg.gdb_path:
            kwargs["gdb_path"] = cfg.gdb_path
        return factory(elf, address, **kwargs)  # type: ignore[no-any-return]
    raise ConfigError(f"'transport' {transport} is not known.")


def _elf_machine(elf: str) -> str | None:
    try:
        from firmwatch.symbols.elf import open_elf

        elf_file, f = open_elf(elf)  # refuses a FIFO or a device instead of waiting on it
        with f:
            m = elf_file.header["e_machine"]
        return {"EM_ARM": "ARM", "EM_RISCV": "RISC-V", "EM_AVR": "AVR"}.get(m)
    except Exception:  # noqa: BLE001 - the loader reports a bad ELF with a better sentence
        return None

