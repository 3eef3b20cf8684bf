"""Expression parser robustness (issue 9.7): whatever the text, the compiler answers with a
result or a positioned ExpressionError — never a Python exception (RecursionError,
ValueError from a 4,300-digit literal, ...)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmwatch.symbols.expr import ExpressionError, compile_expression
from test_expr import build_program

PROG, MEM, IDS = build_program()


def answer(text: str) -> object:
    """The compiled expression, or the ExpressionError (checked to point inside the text)."""
    try:
        return compile_expression(PROG, text)
    except ExpressionError as e:
        assert 0 <= e.position <= len(text), (e.position, len(text))
        assert e.reason and len(e.reason) < 400, e.reason  # one sentence, not the input echoed back
        return e


def test_250_nested_parentheses_give_the_value() -> None:
    MEM.put(0x20000048, "i", 77)
    c = answer("(" * 250 + "counter" + ")" * 250)
    assert not isinstance(c, ExpressionError), c
    assert c.evaluate(MEM.read).display() == "77"
    c = answer("(" * 250 + "1" + "+1)" * 250)
    assert not isinstance(c, ExpressionError), c
    assert c.evaluate(MEM.read).display() == "251"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "counter" + ")" * 5000,
        "(" * 100_000,
        "- " * 5000 + "counter",
        "~" * 5000 + "counter",
        "!" * 5000 + "counter",
        "*" * 5000 + "pcount",
        "&" * 5000 + "counter",
        "(int)" * 5000 + "counter",
        "(unsigned char)" * 3000 + "counter",
        "sizeof " * 5000 + "counter",
        "accels" + "[0]" * 5000,
        "sensor" + ".x" * 5000,
        "counter" + "[counter" * 3000 + "]" * 3000,
        "counter" + " + counter" * 5000,
        "1" + " ? 1" * 3000 + " : 0" * 3000,
        "counter@" * 3000 + "1",
    ],
)
def test_deep_nesting_gets_a_positioned_error(text: str) -> None:
    r = answer(text)
    assert isinstance(r, ExpressionError), r
    if not text.startswith("&"):  # '&&' lexes as one operator: a syntax error comes first
        assert "nests more than 256 levels deep" in r.reason, r.reason


@pytest.mark.parametrize(
    "text",
    ["1" * 4301, "9" * 100_000, "0x" + "f" * 5000, "0b" + "1" * 5000, "0" + "7" * 5000, "1" * 5000 + "u",
     "counter + " + "1" * 5000, "1" * 5000 + ".5", "1e" + "9" * 5000, "counter[" + "1" * 5000 + "]"],
)
def test_huge_number_literals_are_refused_with_a_position(text: str) -> None:
    r = answer(text)
    if "." in text or "e" in text:
        return  # a float literal: inf or a value, both answers
    assert isinstance(r, ExpressionError), r
    assert "too large" in r.reason or "digits" in r.reason, r.reason


_ATOMS = st.sampled_from(
    ["counter", "sensor", "accels", "pcount", "p_accel", "1", "0x10", "'a'", "1.5", "gain", "mode", "idx",
     "9" * 50, "table", "name", "holder", "ph", "vp", "nosuch", "NULL", "true"]
)
_PREFIX = st.sampled_from(["-", "+", "~", "!", "*", "&", "(int)", "(unsigned char *)", "(float)", "sizeof ",
                           "(struct accel *)", "(", "["])
_SUFFIX = st.sampled_from(["[0]", "[idx]", ".x", "->x", "@2", ")", "]", " + 1", " * counter", " ? 1 : 2",
                           ",x", " << 3", " / 0", " == counter", "::x", "[", "("])


@st.composite
def expressions(draw: st.DrawFn) -> str:
    depth = draw(st.integers(0, 400))
    parts = [draw(_PREFIX) for _ in range(depth)]
    text = "".join(parts) + draw(_ATOMS) + "".join(draw(_SUFFIX) for _ in range(draw(st.integers(0, 400))))
    if draw(st.booleans()):  # balance what was opened, sometimes
        text += ")" * text.count("(")
    return text


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_any_built_expression_gets_a_result_or_a_positioned_error(text: str) -> None:
    answer(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("()[]-+~!*&<>=?:.,@'\"x01ef9 ") + ["counter", "::", "->", "(int)"]),
               max_size=3000))
def test_any_text_gets_a_result_or_a_positioned_error(tokens: list[str]) -> None:
    answer("".join(tokens))
