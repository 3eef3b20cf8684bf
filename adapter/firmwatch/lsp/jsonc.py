"""JSON with comments (VS Code's launch.json): parsing, and where a cursor sits in it.

launch.json allows ``//`` and ``/* */`` comments and trailing commas, which ``json`` refuses,
and the file is usually mid-edit while completion runs, so the cursor context comes from a
forgiving scanner rather than a parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def strip_comments(text: str) -> str:
    """``text`` with comments blanked out (strings untouched, offsets preserved)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = string_end(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def loads(text: str) -> Any:
    """Parse JSON with comments and trailing commas; raises ValueError when it is not JSON."""
    return json.loads(_TRAILING_COMMA.sub(r"\1", strip_comments(text)))


def string_end(text: str, start: int) -> int:
    """Offset after the string literal opening at ``start`` (end of line when unterminated)."""
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            return i
        i += 1
    return n


@dataclass(frozen=True, slots=True)
class WatchString:
    """The cursor is inside a watch expression string of launch.json."""

    prefix: str  # the string's content from its opening quote up to the cursor
    start: int  # offset of the first character after the opening quote


def watch_string_at(text: str, offset: int) -> WatchString | None:
    """A :class:`WatchString` when ``offset`` is inside an element of a ``"watch": [...]``
    array (or inside the ``"expression"`` of an object element), else None."""
    # Each frame: [kind, key_of_this_container, pending_key]
    stack: list[list[Any]] = []
    pending: str | None = None  # the last object key read, waiting for its value
    i, n = 0, min(offset, len(text))
    while i < n:
        c = text[i]
        if c == '"':
            j = string_end(text, i)
            terminated = j - 1 > i and text[j - 1] == '"'
            if offset <= (j - 1 if terminated else j):
                break  # the cursor is inside this string
            s = text[i + 1 : j - 1]
            after = _skip_ws(text, j)
            if stack and stack[-1][0] == "{" and after < len(text) and text[after] == ":":
                pending = s
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = len(text) if j < 0 else j + 2
            continue
        if c in "{[":
            stack.append([c, pending])
            pending = None
        elif c in "}]":
            if stack:
                stack.pop()
            pending = None
        elif c == ",":
            pending = None
        i += 1
    else:
        return None
    # text[i] is the opening quote of the string holding the cursor
    if not stack:
        return None
    top = stack[-1]
    in_watch_array = top[0] == "[" and top[1] == "watch"
    in_watch_object = (
        top[0] == "{" and pending == "expression" and len(stack) >= 2 and stack[-2][0] == "[" and stack[-2][1] == "watch"
    )
    if not (in_watch_array or in_watch_object):
        return None
    if top[0] == "{" and pending is None:
        return None
    raw = text[i + 1 : offset]
    try:
        prefix = json.loads('"' + raw + '"') if "\\" in raw else raw
    except ValueError:
        prefix = raw
    return WatchString(prefix, i + 1)


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i
