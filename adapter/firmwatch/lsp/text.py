"""Finding the C expression around a cursor: the chain before a ``.``/``->`` for member
completion, and the ``a.b``/``p->c`` chain under the cursor for hover.

Plain string scanning, no C parser: an editor buffer is usually mid-edit and never parses.
"""

from __future__ import annotations

_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
_PAIRS = {"]": "[", ")": "("}


def is_ident_char(c: str) -> bool:
    return c in _IDENT


def ident_start(text: str, end: int) -> int:
    """Start of the identifier that ends at ``end`` (``end`` itself when there is none)."""
    i = end
    while i > 0 and text[i - 1] in _IDENT:
        i -= 1
    return i


def ident_end(text: str, start: int) -> int:
    i = start
    n = len(text)
    while i < n and text[i] in _IDENT:
        i += 1
    return i


def chain_start(text: str, end: int) -> int | None:
    """Start of the postfix chain (``a.b[2]->c``, ``'f.c'::x``, ``ns::y``) ending at ``end``.

    None when the text before ``end`` is not such a chain (a call, a literal, nothing).
    """
    i = end
    while True:
        if i > 0 and text[i - 1] in _PAIRS:
            j = _match_back(text, i - 1)
            if j is None:
                return None
            closer = text[i - 1]
            i = j
            if closer == ")":
                # "(*p)" is an atom; "f(x)" is a call, whose value we cannot know
                return None if i > 0 and text[i - 1] in _IDENT else i
            continue  # an index: the atom it applies to comes next
        s = ident_start(text, i)
        if s == i or text[s].isdigit():
            return None
        i = s
        nxt = _after_operator(text, i)
        if nxt is None:
            return i
        if text[nxt] in "'\"":
            return nxt  # 'file.c'::x starts at the quote
        i = nxt


def _after_operator(text: str, i: int) -> int | None:
    """When ``text[:i]`` ends with ``.``, ``->`` or ``::`` that joins it to more chain, the
    position before that operator (and before a quoted file name for ``'f.c'::``)."""
    if text.endswith(".", 0, i) and not text.endswith("..", 0, i):
        j = i - 1
    elif text.endswith("->", 0, i):
        j = i - 2
    elif text.endswith("::", 0, i):
        j = i - 2
        if j > 0 and text[j - 1] in "'\"":
            q = text.rfind(text[j - 1], 0, j - 1)
            return q if q >= 0 else None
        if j > 0 and text[j - 1] == ">":  # a template's arguments: Filter<float, 16>::last
            k = _template_open(text, j - 1)
            return k if k is not None and k > 0 and text[k - 1] in _IDENT else None
    else:
        return None
    if j <= 0 or (text[j - 1] not in _IDENT and text[j - 1] not in _PAIRS):
        return None
    return j


def _template_open(text: str, close: int) -> int | None:
    """The '<' matching the '>' at ``close`` (template arguments hold no ';', '{' or '}')."""
    depth = 0
    for i in range(close, max(close - 2000, -1), -1):
        c = text[i]
        if c == ">":
            depth += 1
        elif c == "<":
            depth -= 1
            if depth == 0:
                return i
        elif c in ";{}\n=":
            return None
    return None


def _match_back(text: str, close: int) -> int | None:
    depth = 0
    opener = _PAIRS[text[close]]
    closer = text[close]
    i = close
    while i >= 0:
        c = text[i]
        if c == closer:
            depth += 1
        elif c == opener:
            depth -= 1
            if depth == 0:
                return i
        elif c in ";{}\n" and depth:
            return None
        i -= 1
    return None


def member_context(text: str, offset: int) -> tuple[str, bool, int] | None:
    """``(expression, arrow, member_start)`` when the cursor at ``offset`` is typing a member
    name after ``expr.`` or ``expr->``; None otherwise."""
    start = ident_start(text, offset)
    if text.endswith("->", 0, start):
        op_at, arrow = start - 2, True
    elif text.endswith(".", 0, start):
        op_at, arrow = start - 1, False
    else:
        return None
    s = chain_start(text, op_at)
    if s is None or s == op_at:
        return None
    expr = text[s:op_at]
    if expr[0].isdigit():
        return None
    return expr, arrow, start


def expression_at(text: str, offset: int) -> tuple[str, int, int] | None:
    """``(expression, start, end)`` for the identifier under the cursor and the chain leading
    to it: hovering ``calib`` in ``g_config.calib.gain`` gives ``g_config.calib``."""
    s = ident_start(text, offset)
    e = ident_end(text, offset)
    if s == e or text[s].isdigit():
        return None
    start = chain_start(text, e)
    if start is None:
        start = s
    return text[start:e], start, e


def word_at(text: str, offset: int) -> tuple[str, int, int] | None:
    s = ident_start(text, offset)
    e = ident_end(text, offset)
    if s == e or text[s].isdigit():
        return None
    return text[s:e], s, e
