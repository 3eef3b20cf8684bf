"""`firmwatch sim` works from an installed wheel: the firmware sources ship as package data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_firmware_and_sim_builds_from_it(tmp_path):
    wheel_dir = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (whl,) = wheel_dir.glob("firmwatch-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        z.extractall(site)
    assert "firmwatch/firmware/core/firmwatch.h" in names
    assert "firmwatch/firmware/examples/demo/demo.c" in names
    assert not any("/build/" in n or n.endswith((".o", ".elf")) for n in names)
    # installed packages are read-only for users: the build must go to the cache directory
    for dirpath, _, files in os.walk(site):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o444)
        os.chmod(dirpath, 0o555)
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "firmwatch", "sim", "--target", "host"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = proc.stdout.readline()
        elf = proc.stdout.readline()
        assert port.startswith("port: "), proc.stderr.read() if proc.poll() is not None else port
        assert elf.startswith("elf: ")
        assert Path(elf[5:].strip()).is_relative_to(tmp_path / "cache")
    finally:
        os.killpg(proc.pid, 2)
        proc.wait(timeout=15)
        for dirpath, _, _ in os.walk(site):
            os.chmod(dirpath, 0o755)
