"""C++ spellings: one canonical key for every way tools and people write a name, and the
extent of a qualified name in expression text (issue 19.1)."""

from __future__ import annotations

import pytest

from firmwatch.symbols.names import canonical
from firmwatch.symbols.parser import name_ends


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("drivers::Filter<long int, 8>::last", "drivers::Filter<long, 8u>::last"),
        ("F<long unsigned int, short int>", "F<unsigned long,short>"),
        ("m<unsigned int, 32, 624>::x", "m<unsigned int, 32u, 624u>::x"),
        ("a::b<c<int> >::d", "a::b<c<int>>::d"),
        ("::g_x", "g_x"),
    ],
)
def test_spellings_meet_in_one_key(a: str, b: str) -> None:
    assert canonical(a) == canonical(b)


def test_different_names_stay_apart() -> None:
    assert canonical("F<long>") != canonical("F<long long>")
    assert canonical("F<unsigned char>") != canonical("F<char>")
    assert canonical("F<8>") != canonical("F<80>")


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        ("drivers::Filter<float, 16>::last + 1", "drivers::Filter<float, 16>::last"),
        ("(anonymous namespace)::x.y", "(anonymous namespace)::x"),
        ("std::__detail::_Prime_rehash_policy::_M_next_bkt(unsigned int) const::__fast_bkt[0]",
         "std::__detail::_Prime_rehash_policy::_M_next_bkt(unsigned int) const::__fast_bkt"),
        ("app::Controller::run(int)::runs", "app::Controller::run(int)::runs"),
        ("a < b", "a"),  # not closed: a comparison
        ("x::operator<<::count", "x::operator<<::count"),
    ],
)
def test_the_longest_name_at_the_start(text: str, longest: str) -> None:
    assert text[: name_ends(text, 0)[-1]] == longest
