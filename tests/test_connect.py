"""The one transport factory (firmwatch.session.connect): the command line and the debug adapter
take the same options, and each reaches the transport.

Parity is checked from the declaration (``OPTION_NAMES``) against what each front end really
accepts: the launch.json validator, VS Code's launch schema, and the argument parser of every
live command. Then the options travel through the real parts: the debug adapter and the command
line each start a simulated AVR over its gdb stub with a sampling mode and an intrusion budget
that differ from the defaults, and the transport reports them; and the streamer's text mode,
asked for on the command line, in launch.json and through the API, runs on the host device over
a real pty.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from firmwatch.cli.main import build_parser
from firmwatch.dap.config import KEYS, parse_config
from firmwatch.session.connect import OPTION_NAMES, ConnectError, ConnectOptions, connect
from tools import require_board, wait_for

if TYPE_CHECKING:
    from firmwatch.sim import SimDevice

ROOT = Path(__file__).resolve().parents[1]
LIVE_COMMANDS = ("watch", "record", "memory", "peripherals")
LAUNCH_ONLY = {"sim", "server", "cwd", "env"}  # they start something: "launch" configurations only


def test_every_option_is_named_in_both_front_ends() -> None:
    assert {f.name for f in fields(ConnectOptions)} - {"die_with_parent"} == set(OPTION_NAMES)
    schema = json.loads((ROOT / "vscode-extension" / "package.json").read_text())
    debugger = next(d for d in schema["contributes"]["debuggers"] if d["type"] == "firmwatch")
    attrs = debugger["configurationAttributes"]
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, (key, flag) in OPTION_NAMES.items():
        assert key in KEYS, f"launch.json does not take '{key}' ({name})"
        assert key in attrs["launch"]["properties"], f"the launch schema lacks '{key}'"
        if name not in LAUNCH_ONLY:
            assert key in attrs["attach"]["properties"], f"the attach schema lacks '{key}'"
        if flag.startswith("--"):
            option = flag.split()[0]
            for command in LIVE_COMMANDS:
                p = subparsers.choices[command]
                assert option in p._option_string_actions, f"firmwatch {command} does not take {option} ({name})"


def cli_options(*argv: str) -> ConnectOptions:
    from firmwatch.cli.cmd_live import connect_options

    return connect_options(build_parser().parse_args(["watch", *argv]))


def test_the_same_device_from_launch_json_and_from_the_command_line() -> None:
    cfg = parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "fw.elf", "transport": "gdb",
                        "target": "localhost:3333", "gdbPath": "arm-none-eabi-gdb", "intrusionBudget": 2.5,
                        "samplingMode": "halt", "lockSymbol": "g_busy"}, "attach").connect_options()
    cli = cli_options("fw.elf", "--gdb", "localhost:3333", "--via-gdb", "--gdb-path", "arm-none-eabi-gdb",
                      "--budget", "2.5", "--gdb-mode", "halt", "--lock-symbol", "g_busy")
    assert cfg == cli and cfg.budget == 0.025 and cfg.sampling_mode == "halt" and cfg.lock_symbol == "g_busy"
    cfg = parse_config({"type": "firmwatch", "request": "launch", "name": "x", "sim": "avr", "transport": "tcp"},
                       "launch").connect_options()
    cli = cli_options("fw.elf", "--sim", "avr", "--transport", "tcp")
    assert (cfg.sim, cfg.resolved_transport()) == (cli.sim, cli.resolved_transport()) == ("avr", "tcp")
    cfg = parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "fw.elf", "transport": "tcp",
                        "host": "10.0.0.2", "port": 5000}, "attach").connect_options()
    cli = cli_options("fw.elf", "--transport", "tcp", "--port", "socket://10.0.0.2:5000")
    assert (cfg.host, cfg.tcp_port) == (cli.host, cli.tcp_port) == ("10.0.0.2", 5000)
    cfg = parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "fw.elf", "transport": "serial",
                        "port": "/dev/ttyUSB0", "baud": 115200, "streamerMode": "text"}, "attach").connect_options()
    cli = cli_options("fw.elf", "--transport", "serial", "--port", "/dev/ttyUSB0", "--baud", "115200",
                      "--streamer-mode", "text")
    assert cfg == cli and cfg.streamer_mode == "text"
    assert cli_options("fw.elf", "--port", "/dev/ttyUSB0").streamer_mode == "binary"
    no_cap = parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "f", "transport": "rsp",
                           "target": "h:1", "intrusionBudget": 0}, "attach").connect_options()
    assert no_cap.budget is None and cli_options("f", "--gdb", "h:1", "--budget", "0").budget is None


@pytest.mark.parametrize("data,needle", [
    ({"intrusionBudget": 150}, "'intrusionBudget' must be a percentage above 0 and at most 100"),
    ({"samplingMode": "fast"}, "'samplingMode' must be one of auto, live, halt"),
    ({"lockSymbol": 3}, "'lockSymbol' must be the name of a global flag"),
])
def test_sampling_keys_are_checked(data: dict, needle: str) -> None:
    from firmwatch.dap.config import ConfigError

    with pytest.raises(ConfigError, match=needle.replace("(", ".").replace(")", ".")):
        parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "f", "transport": "rsp",
                      "target": "h:1", **data}, "attach")
    with pytest.raises(ConfigError, match="'samplingMode' applies to transport rsp or gdb only, not serial"):
        parse_config({"type": "firmwatch", "request": "attach", "name": "x", "elf": "f", "transport": "serial",
                      "port": "/dev/x", "samplingMode": "halt"}, "attach")


def test_the_factory_refuses_with_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="either --port .* or --gdb"):
        cli_options("fw.elf", "--port", "/dev/x", "--gdb", "h:1")
    with pytest.raises(ConnectError, match="no target given"):
        cli_options("fw.elf")
    with pytest.raises(ConnectError, match="for GDB servers"):
        connect(ConnectOptions(elf="fw.elf", port="/dev/null", lock_symbol="x"), load=lambda path: None)  # type: ignore[arg-type,return-value]


def test_streamer_mode_is_checked_before_anything_starts(tmp_path: Path) -> None:
    from firmwatch.dap.config import ConfigError

    base = {"type": "firmwatch", "request": "attach", "name": "x", "elf": "f"}
    with pytest.raises(ConfigError, match="'streamerMode' must be one of binary, text"):
        parse_config({**base, "transport": "serial", "port": "/dev/x", "streamerMode": "ascii"}, "attach")
    with pytest.raises(ConfigError, match="'streamerMode' applies to transport serial or tcp only, not rsp"):
        parse_config({**base, "transport": "rsp", "target": "h:1", "streamerMode": "text"}, "attach")
    # the factory refuses before it starts a device or a server: neither is started here
    with pytest.raises(ConnectError, match="text mode is the firmware streamer's .* not rsp's"):
        connect(cli_options("fw.elf", "--sim", "cortex-m3", "--transport", "rsp", "--streamer-mode", "text"),
                load=lambda path: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConnectError, match="the streamer mode 'ascii' is not known"):
        connect(ConnectOptions(elf="fw.elf", port="/dev/null", streamer_mode="ascii"), load=lambda path: None)  # type: ignore[arg-type,return-value]
    proc = subprocess.run([sys.executable, "-m", "firmwatch", "watch", "--device", "a=fw.elf@/dev/x",
                           "--streamer-mode", "text", "--duration", "1", "loop_count"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--streamer-mode text is for one streamer device" in proc.stderr, proc.stderr


TEXT_MODE_SAID = "the link runs in text mode, as asked"


def test_text_mode_from_the_command_line_launch_json_and_the_api(host_device: SimDevice, tmp_path: Path) -> None:
    """Issue 9: the text protocol, forced from each front end, against the host device's real
    text parser: the session says so, values are right (the device's millisecond counter equals
    each sample's device time), and writes land."""
    import firmwatch
    from dap_client import DapClient

    elf, port = str(host_device.elf), host_device.port
    out = tmp_path / "text.csv"
    proc = subprocess.run([sys.executable, "-m", "firmwatch", "record", elf, "--port", port, "--streamer-mode",
                           "text", "--duration", "2", "-o", str(out), "timestamp_ms@50", "loop_count@20"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert TEXT_MODE_SAID in proc.stderr, proc.stderr
    rows = list(csv.DictReader(out.open()))
    stamps = [r for r in rows if r["name"] == "timestamp_ms"]
    assert len(stamps) >= 50 and any(r["name"] == "loop_count" for r in rows)
    assert all(abs(int(r["value"]) - 1000 * float(r["target_time_s"])) <= 1 for r in stamps), stamps[:5]
    # a loaded host may make the device drop a line: each missing sample is one the device counted
    missing = sum(int(m) for m in re.findall(r"(\d+) missing", proc.stdout))
    link = re.search(r"(\d+) dropped by the device .*, (\d+) destroyed on the link; 0 corrupt frames", proc.stdout)
    assert link and missing == int(link.group(1)) + int(link.group(2)), proc.stdout

    with DapClient() as c:
        c.start("attach", {"elf": elf, "transport": "serial", "port": port, "streamerMode": "text",
                           "uiRefreshHz": 20})
        wait_for(lambda: TEXT_MODE_SAID in c.outputs(), 20, "the Debug Console saying text mode")
        c.request("evaluate", {"expression": "loop_count", "context": "watch", "frameId": 1})
        seen: set[int] = set()

        def changed() -> bool:
            seen.add(int(c.request("evaluate", {"expression": "loop_count", "context": "watch",
                                                 "frameId": 1})["result"]))
            return len(seen) >= 3

        wait_for(changed, 20, "loop_count changing in the Watch view")

    with firmwatch.connect(elf, port=port, streamer_mode="text", on_message=lambda level, text: None) as dev:
        assert dev.info.link_mode == "text" and dev.info.name.endswith("(text mode)")
        before = dev.read("g_config.calib.gain_q8")
        try:
            dev.write("g_config.calib.gain_q8", 300)
            assert dev.read("g_config.calib.gain_q8") == 300
        finally:
            dev.write("g_config.calib.gain_q8", before)


@pytest.mark.emulator
def test_adapter_sampling_options_reach_the_transport(tmp_path: Path) -> None:
    """launch.json's samplingMode and intrusionBudget on a simulated AVR: simavr reads while the
    target runs, so 'auto' would sample live; 'halt' with a 0.5 % budget must be what runs."""
    require_board("avr")
    from dap_client import DapClient

    with DapClient() as c:
        c.start("launch", {"sim": "avr", "transport": "rsp", "samplingMode": "halt", "intrusionBudget": 0.5,
                           "watch": ["loop_count"]})
        status = c.wait_event("firmwatch.status", timeout=30)["body"]
        assert "halt sampling, budget 0.5 %" in status["target"], status
        wait_for(lambda: int(c.request("evaluate", {"expression": "loop_count", "frameId": 1,
                                                    "context": "watch"})["result"]) > 0, 20, "a sampled value")


@pytest.mark.emulator
def test_cli_sim_and_server_options_reach_the_transport(tmp_path: Path) -> None:
    """The command line starts the same simulated device with the same options, and a GDB server
    from a command line with {port}, as launch.json's 'server' does."""
    require_board("avr")
    require_board("cortex-m3")
    from firmwatch import sim

    elf = sim.build("avr", tmp_path / "avr").elf
    out = tmp_path / "rec.csv"
    proc = subprocess.run([sys.executable, "-m", "firmwatch", "record", str(elf), "--sim", "avr", "--transport",
                           "rsp", "--gdb-mode", "halt", "--budget", "0.5", "-o", str(out), "--duration", "2",
                           "--quiet", "loop_count@20"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "target halted" in proc.stdout and "% of the time for sampling" in proc.stdout, proc.stdout
    halted = float(proc.stdout.split("target halted ")[1].split(" %")[0])
    assert halted > 0, "halt mode halts the target to sample"
    # rows: the budget decides how many (a loaded machine halts slowly); at least one is sampled
    assert len(out.read_text().splitlines()) >= 2

    arm = sim.build("cortex-m3", tmp_path / "arm").elf
    qemu = f"qemu-system-arm -M mps2-an385 -nographic -monitor none -kernel {arm} -gdb tcp:127.0.0.1:{{port}}"
    proc = subprocess.run([sys.executable, "-m", "firmwatch", "record", str(arm), "--server", qemu, "--budget", "2",
                           "-o", str(out), "--duration", "2", "--quiet", "loop_count@20"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "target halted" in proc.stdout and len(out.read_text().splitlines()) >= 2, proc.stdout
