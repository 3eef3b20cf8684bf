"""``firmwatch profile`` as a user runs it: the real command, real emulators, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.profiler import demo
from tools import require_board

FIRMWATCH = [sys.executable, "-m", "firmwatch"]


def firmwatch(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIRMWATCH, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.emulator
def test_profile_demo_instrumented_with_every_export(tmp_path: Path) -> None:
    require_board("cortex-m3")
    out = {k: tmp_path / f"p.{k}" for k in ("speedscope", "chrome", "collapsed", "json")}
    r = firmwatch("profile", "--demo", "cortex-m3", "--duration", "2",
                  *[a for k, p in out.items() for a in (f"--{k}", str(p))])
    assert r.returncode == 0, r.stderr
    rows = [ln.split()[0] for ln in r.stdout.splitlines() if "prof_demo.c:" in ln]
    assert rows[:3] == ["telemetry_pack", "fir_tap", "control_update"], r.stdout
    assert "calls" in r.stdout and "note:" not in r.stdout
    doc = json.loads(out["speedscope"].read_text())
    assert doc["profiles"][0]["type"] == "evented" and doc["profiles"][0]["events"]
    trace = json.loads(out["chrome"].read_text())
    assert any(e.get("name") == "pid_step" and e["ph"] == "X" for e in trace["traceEvents"])
    folded = out["collapsed"].read_text().splitlines()
    assert any(ln.startswith("app_frame;control_update;pid_step ") for ln in folded)
    summary = json.loads(out["json"].read_text())
    assert summary["mode"] == "instrumented" and summary["tree"]["children"][0]["name"] == "app_frame"


@pytest.mark.emulator
def test_profile_sampled_through_a_gdb_server(tmp_path: Path) -> None:
    """The uninstrumented demo, its PC sampled through simavr's gdb stub without stopping it."""
    require_board("avr")
    elf = demo.build("avr")["plain"]
    with sim.start_sim("avr", elf=elf, pace="fast") as dev:
        r = firmwatch("profile", str(elf), "--gdb", dev.gdb, "--duration", "2", "--collapsed", str(tmp_path / "s.folded"))
    assert r.returncode == 0, r.stderr
    assert "(live)" in r.stderr and "samples" in r.stdout and "hot lines" in r.stdout
    work = [ln.split()[0] for ln in r.stdout.splitlines() if "prof_demo.c:" in ln and ln.split()[0] in demo.COSTS]
    assert work[0] == "telemetry_pack", r.stdout
    assert "halted" not in r.stdout  # live sampling never stops the CPU


@pytest.mark.emulator
def test_profile_starts_its_gdb_server_through_the_transport_factory() -> None:
    """--server as the live commands take it: the factory starts QEMU on a free port, the PC is
    sampled through it (QEMU's stub answers nothing while the CPU runs: halt sampling). QEMU
    runs as the demo's 'fast' pace does (-icount, no sleep): in real time the demo's CPU waits in
    WFI almost always, and every sample lands there."""
    require_board("cortex-m3")
    elf = demo.build("cortex-m3")["plain"]
    qemu = (f"qemu-system-arm -M mps2-an385 -nographic -monitor none -kernel {elf} -icount shift=4,sleep=off "
            f"-gdb tcp:127.0.0.1:{{port}}")
    r = firmwatch("profile", str(elf), "--server", qemu, "--duration", "2")
    assert r.returncode == 0, r.stderr
    assert "(halt)" in r.stderr and "samples" in r.stdout and "CPU halted" in r.stdout, (r.stderr, r.stdout)
    assert {ln.split()[0] for ln in r.stdout.splitlines() if "prof_demo.c:" in ln} & set(demo.COSTS), r.stdout


@pytest.mark.emulator
def test_a_device_running_other_code_gets_one_sentence() -> None:
    require_board("cortex-m3")
    built = demo.build("cortex-m3")
    with sim.start_sim("cortex-m3", elf=built["prof"], pace="fast") as dev:
        r = firmwatch("profile", str(built["plain"]), "--port", dev.port, "--duration", "1")
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("firmwatch: the device runs other code than") and err[0].endswith(".")


def test_usage_errors_are_sentences(tmp_path: Path) -> None:
    for args, want in (
        (["profile", "x.elf"], "give --port PORT"),
        (["profile", "--sampled", "x.elf", "--port", "/dev/null"], "--sampled goes with --demo"),
        (["profile", "/nonexistent.elf", "--port", "/dev/null"], "/nonexistent.elf"),
        (["profile", "x.elf", "--port", "/dev/null", "--server", "openocd"], "--server starts a GDB server"),
    ):
        r = firmwatch(*args, timeout=60)
        assert r.returncode == 1, (args, r.stderr)
        assert want in r.stderr and r.stderr.count("\n") == 1, r.stderr


def doc_commands() -> list[list[str]]:
    import shlex

    text = (Path(__file__).resolve().parents[1] / "docs" / "profiler.md").read_text()
    return [shlex.split(ln[2:]) for ln in text.splitlines() if ln.startswith("$ firmwatch ")]


@pytest.mark.emulator
def test_the_command_lines_in_docs_profiler_md_work(tmp_path: Path) -> None:
    """--demo lines run as written; the others (a real device or probe) parse as written."""
    from firmwatch.cli.main import build_parser

    cmds = doc_commands()
    assert len(cmds) >= 4
    for argv in cmds:
        args = argv[1:]
        if "--demo" in args:
            require_board(args[args.index("--demo") + 1])
            r = subprocess.run([*FIRMWATCH, *args], capture_output=True, text=True, timeout=180, cwd=tmp_path)
            assert r.returncode == 0, (argv, r.stderr)
            assert "telemetry_pack" in r.stdout
        else:
            ns = build_parser(args).parse_args(args)
            assert ns.func and ns.elf
    assert (tmp_path / "demo.speedscope.json").exists() and (tmp_path / "demo.folded").exists()
