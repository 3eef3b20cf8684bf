"""The language server's text scanning: expression chains around the cursor and the cursor's
place in a launch.json with comments (pure functions; the server tests cover the wiring)."""

from __future__ import annotations

import pytest

from firmwatch.lsp import jsonc
from firmwatch.lsp.elf_watch import elf_from_launch_json, substitute
from firmwatch.lsp.text import chain_start, expression_at, member_context


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        ("x = g_config.calib.gain", "g_config.calib.gain"),
        ("a[i + 1].b->c", "a[i + 1].b->c"),
        ("y='motor.c'::state", "'motor.c'::state"),
        ("hw::Sensor::count", "hw::Sensor::count"),
        ("x = drivers::Filter<float, 16>::last", "drivers::Filter<float, 16>::last"),
        ("f(ns::Map<int, std::pair<int, int>>::size", "ns::Map<int, std::pair<int, int>>::size"),
        ("if (a < b && c > d::e", "d::e"),
        ("(*p)->q", "(*p)->q"),
        ("return tick_fn(x).y", None),  # a call: its value is unknown
        ("3.5", None),
    ],
)
def test_chain_before_the_cursor(text: str, chain: str | None):
    s = chain_start(text, len(text))
    assert (text[s:] if s is not None else None) == chain


def test_member_context_after_dot_and_arrow():
    assert member_context("v = g_config.ca", 15) == ("g_config", False, 13)
    assert member_context("v = p->", 7) == ("p", True, 7)
    assert member_context("v = arr[2].", 11) == ("arr[2]", False, 11)
    assert member_context("v = 1.", 6) is None
    assert member_context("v = x", 5) is None


def test_expression_under_the_cursor_stops_at_the_hovered_member():
    text = "n = g_config.calib.gain_q8;"
    at_calib = text.index("calib") + 2
    assert expression_at(text, at_calib) == ("g_config.calib", 4, 18)
    # the cursor just after a name (as editors report a hover at a word's end) still finds it
    assert expression_at(text, text.index(";")) == ("g_config.calib.gain_q8", 4, 26)
    assert expression_at(text, text.index("=") + 1) is None


LAUNCH = """{
  // a comment with "quotes" and a [bracket
  "configurations": [
    {"type": "cppdbg", "watch": ["not_ours"]},  /* block
       comment */
    {"type": "firmwatch", "name": "demo", "elf": "${workspaceFolder}/build/fw.elf",
     "watch": ["g_config.ca", {"expression": "p->x", "rate": 10}, "esc\\"aped"],},
  ],
}"""


def test_launch_json_with_comments_and_trailing_commas():
    data = jsonc.loads(LAUNCH)
    assert data["configurations"][1]["watch"][0] == "g_config.ca"
    assert elf_from_launch_json(LAUNCH) == "${workspaceFolder}/build/fw.elf"
    assert substitute("${workspaceFolder}/build/fw.elf", None) == "${workspaceFolder}/build/fw.elf"
    assert elf_from_launch_json("{ not json") is None


def test_watch_string_context():
    def at(needle: str, delta: int = 0) -> jsonc.WatchString | None:
        return jsonc.watch_string_at(LAUNCH, LAUNCH.index(needle) + len(needle) + delta)

    assert at('"g_config.ca') == jsonc.WatchString("g_config.ca", LAUNCH.index('"g_config.ca') + 1)
    assert at('"p->') == jsonc.WatchString("p->", LAUNCH.index('"p->') + 1)
    assert at('"esc\\"ap') == jsonc.WatchString('esc"ap', LAUNCH.index('"esc\\"ap') + 1)
    assert at('"not_ou') is not None  # a watch array, whatever the debugger type
    assert at('"g_config.ca"') is None  # after the closing quote
    assert at('"name": "de') is None
    assert at('"rate": 1') is None
    assert at("with \"quo") is None  # inside a comment
