"""What a new user hits (issue 9.14): help that helps, messages that point at the right
command, nothing merged or started behind their back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from firmwatch.cli.repl import Repl  # noqa: E402
from firmwatch.session.planner import Limits, PlanEntry, PlannedRegion, plan_streams  # noqa: E402
from firmwatch.session.session import Session  # noqa: E402
from test_session_unit import FakeStreamer, program  # noqa: E402


def test_the_language_server_answers_help_instead_of_waiting_for_lsp():
    r = subprocess.run([sys.executable, "-m", "firmwatch.lsp", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "usage: python -m firmwatch.lsp" in r.stdout


def test_the_language_server_without_its_extra_says_what_to_install(tmp_path):
    # a pygls that cannot be imported, as in an environment without firmwatch[lsp]
    (tmp_path / "pygls").mkdir()
    (tmp_path / "pygls" / "__init__.py").write_text("raise ModuleNotFoundError('no pygls', name='pygls')\n")
    r = subprocess.run([sys.executable, "-m", "firmwatch.lsp"], capture_output=True, text=True, timeout=30,
                       env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "pip install 'firmwatch[lsp]'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_watch_given_twice_is_said_not_merged_silently():
    said: list[tuple[str, str]] = []
    s = Session(program(), FakeStreamer(), on_message=lambda level, text: said.append((level, text)))
    try:
        s.add_watches([("0x1000:4", 10), ("0x1000:4", 100)])
        assert len(s.watches) == 1 and s.find_watch("0x1000:4").rate_hz == 100
        assert any("already watched at 10 Hz" in text for _, text in said)
    finally:
        s.close()


def test_stop_of_an_unknown_watch_points_at_show():
    out: list[str] = []
    s = Session(program(), FakeStreamer())
    try:
        Repl(s, out=out.append).execute("stop nosuch")
        assert out and "'show' lists the watches" in out[-1]
    finally:
        s.close()


def test_counts_in_sentences_are_singular_when_one():
    plan = plan_streams([(PlanEntry(1, (PlannedRegion(0x1000, 100),)), 10.0)], Limits())
    reason = dict(plan.polled)[1]
    assert "100 bytes in 1 region exceed" in reason and "1 regions" not in reason


def test_every_ptype_and_info_option_has_help():
    from firmwatch.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"firmwatch {name} {'/'.join(action.option_strings) or action.dest} has no help text"
