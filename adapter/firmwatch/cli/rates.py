"""``EXPR@HZ``: how a watch and its rate are written, on the command line and in the prompt alike.

One rule: a trailing ``@NUMBER`` (optionally ``Hz``) is the sample rate. gdb's ``@`` array
syntax (``buf[0]@4``: four elements from buf[0]) stays available inside the expression —
parenthesise it, ``(buf[0]@4)``, or give the rate after it, ``buf[0]@4@100``. A trailing ``@``
followed by anything that is not a positive number is refused with a sentence, never read as
part of the expression.
"""

from __future__ import annotations

import re

from firmwatch.errors import UserError

_RATE = re.compile(r"^(?P<expr>.*?)\s*@\s*(?P<rate>[^@()\[\]]*?)\s*$", re.S)
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:\s*hz)?$", re.I)


class RateError(UserError):
    """A watch's rate that is not a positive number of hertz."""


def split_rate(text: str) -> tuple[str, float | None]:
    """``"accel_x@500"`` → ``("accel_x", 500.0)``; ``"accel_x"`` → ``("accel_x", None)``."""
    text = text.strip()
    m = _RATE.match(text)
    if m is None or "@" not in text:
        return text, None
    expr, rate = m.group("expr").strip(), m.group("rate").strip()
    if not expr:
        raise RateError(f"'{text}' names no expression before '@'; write EXPR@HZ, e.g. accel_x@100.")
    n = _NUMBER.match(rate)
    if n is None:
        raise RateError(
            f"'{rate}' after '@' in '{text}' is not a rate: write a number of hertz (accel_x@100, accel_x@0.5); "
            "for gdb's array syntax put it in parentheses, (buf[0]@4)."
        )
    hz = float(n.group(1))
    if hz <= 0:
        raise RateError(f"the rate in '{text}' must be above 0 Hz.")
    return expr, hz
