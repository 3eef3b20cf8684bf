"""C++ names as people and tools spell them: one canonical form to match them all.

gdb (and c++filt) spell a template instance ``drivers::Filter<long, 8u>::last``; GCC's DWARF
names the same class ``Filter<long int, 8>``; a user may type either, with or without
spaces after the commas. :func:`canonical` maps every such spelling to one key: type words
in one order (``long unsigned int`` = ``unsigned long``), integer suffixes dropped from
template arguments, no insignificant spaces.
"""

from __future__ import annotations

import re

# longest first: each sequence of C type words -> one spelling
_TYPE_WORDS = [
    (r"long long unsigned int|unsigned long long int|long long unsigned|unsigned long long", "ull"),
    (r"long long int|signed long long int|long long signed int|long long signed|signed long long|long long", "ll"),
    (r"long unsigned int|unsigned long int|long unsigned|unsigned long", "ul"),
    (r"long int|signed long int|long signed int|signed long|long signed|long", "l"),
    (r"short unsigned int|unsigned short int|short unsigned|unsigned short", "us"),
    (r"short int|signed short int|short signed int|signed short|short signed|short", "s"),
    (r"unsigned int|unsigned", "u"),
    (r"signed int|signed", "int"),
]
_WORDS_RE = re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p, _ in _TYPE_WORDS) + r")\b")
_WORDS_MAP: dict[str, str] = {}
for _pat, _key in _TYPE_WORDS:
    for _alt in _pat.split("|"):
        _WORDS_MAP[_alt] = _key
_INT_SUFFIX = re.compile(r"(?<![\w.])(-?\d+)(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)(?![\w.])")
_SPACE_AROUND = re.compile(r"\s*([<>,:*&()\[\]])\s*")
_SPACES = re.compile(r"\s+")


def canonical(name: str) -> str:
    """The matching key of a (possibly qualified, possibly templated) C/C++ name."""
    s = name.strip()
    if s.startswith("::"):
        s = s[2:]
    if "<" not in s and " " not in s:
        return s  # the common case: nothing to normalize
    s = _SPACES.sub(" ", s)
    s = _WORDS_RE.sub(lambda m: _WORDS_MAP.get(m.group(0), m.group(0)), s)
    s = _INT_SUFFIX.sub(r"\1", s)
    return _SPACE_AROUND.sub(r"\1", s)


def needs_spelling_help(name: str) -> bool:
    """Whether a name holds anything the plain C expression grammar cannot read."""
    return "<" in name or "(" in name or "operator" in name or " " in name
