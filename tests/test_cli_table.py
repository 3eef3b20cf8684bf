"""The live table at the widths people have (issue 9.13): 80 columns, 120, a pipe."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from firmwatch.cli.table import render, render_table, table_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from firmwatch.session.session import Session  # noqa: E402
from test_session_unit import RefusingStreamer, program  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def session():
    t = RefusingStreamer(max_streams=2)
    s = Session(program(), t)
    s.add_watch("0x1000:4", 100)
    s.add_watch("0x1004:4", 1000)
    s.add_watch("0x1008:4", 10)  # no stream left: polled, with a long reason
    s.add_watch("0x9000:4", 1000)  # outside the device's memory: cannot be sampled
    t.mem[0:4] = (123456).to_bytes(4, "little")
    t.tick(200)
    yield s
    s.close()


@pytest.mark.parametrize("width", [80, 120, 60])
def test_every_line_fits_and_nothing_essential_is_dropped(session, width):
    text = render(session, width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    header = lines[0].split()
    assert header[:2] == ["watch", "value"] and "rate" in header and "missing" in header
    for w in session.watches.values():
        row = next(line for line in lines if line.startswith(w.text[:8]))
        assert re.search(r"\d+\.\d/\d+", row), row  # the rate column
    assert any("123456" in line for line in lines)
    # the notes are there, in a column or under the table
    assert "polled" in text and "not inside a readable region" in text
    assert not ANSI.search(text)


def test_colour_only_when_asked(session):
    assert ANSI.search(render(session, 100, color=True))
    assert not ANSI.search(render(session, 100, color=False))


def test_long_names_and_values_are_shortened_not_lost(session):
    rows = table_rows(session)
    rows[0].name = "g_some_very_long_structure_name.with.members[12]->and_more"
    rows[0].value = "{" + ", ".join(str(i) for i in range(100)) + "}"
    lines = render_table(rows, 80)
    assert all(len(line) <= 80 for line in lines)
    assert "…" in lines[1] and lines[1].startswith("g_some_very")


def test_piped_show_is_plain_and_keeps_the_name_column(tmp_path):
    """`show` through a pipe lost the name column and carried ANSI codes."""
    import subprocess

    from firmwatch.sim import start_sim
    from tools import require_tool

    require_tool("cc")
    with start_sim("host") as dev:
        r = subprocess.run([sys.executable, "-m", "firmwatch", "watch", str(dev.elf), "--port", dev.port,
                            "accel_x@100", "g_config@10"], input="show\nquit\n", capture_output=True,
                           text=True, timeout=60, env={**__import__("os").environ, "COLUMNS": "80"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert not ANSI.search(r.stdout)
    lines = r.stdout.splitlines()
    assert any(line.startswith("accel_x ") for line in lines) and any(line.startswith("g_config ") for line in lines)
    assert all(len(line) <= 80 for line in lines), r.stdout
