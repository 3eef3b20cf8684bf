"""The columns of a recording, defined once: every format, the CLI, the debug adapter and the
Python API use these (see :mod:`firmwatch.session.recorder` for what each column means), and
what a recorded name holds (:class:`Signal`) for formats that declare their signals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from firmwatch.errors import UserError

COLUMNS = ("session_id", "device", "seq", "target_time_s", "host_time_s", "name", "value")
# each column's type, as typed formats store it (value: int, float or text, per signal)
COLUMN_TYPES = {"session_id": "string", "device": "string", "seq": "int64", "target_time_s": "float64",
                "host_time_s": "float64", "name": "string", "value": "number or text"}

RowIn = tuple[int, float, float, str, Any]  # seq, target_time, host_time, name, value


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class RecorderError(UserError):
    """A recording that cannot be started or written; ``str()`` is one sentence."""


@dataclass(frozen=True)
class Signal:
    """What a recorded name holds, for formats that declare their signals (VCD): ``kind`` is
    int, bool, float, enum or text; ``bits`` the width of an int or enum; ``labels`` an enum's
    names by value."""

    kind: str = "text"
    bits: int = 0
    signed: bool = False
    labels: dict[int, str] = field(default_factory=dict)

    @staticmethod
    def of_value(value: Any) -> Signal:
        """The signal a plain Python value implies (memory figures, raw addresses)."""
        if isinstance(value, bool):
            return Signal("bool", 1)
        if isinstance(value, int):
            return Signal("int", 64, True)
        if isinstance(value, float):
            return Signal("float")
        return Signal("text")


def signal_of(decoded: Any) -> Signal:
    """The signal of a decoded watch value: its C type's width, signedness and enumerators."""
    s = decoded.scalar
    if isinstance(s, bool):
        return Signal("bool", 8 * len(decoded.raw) or 1)
    if isinstance(s, float):
        return Signal("float")
    if not isinstance(s, int):
        return Signal("text")
    bits = 8 * len(decoded.raw) or 64
    t = _c_type(decoded)
    from firmwatch.symbols.types import BaseType, EnumType

    if isinstance(t, EnumType):
        return Signal("enum", bits, t.signed, {v: n for n, v in t.enumerators})
    from firmwatch.symbols.types import Encoding

    signed = isinstance(t, BaseType) and t.encoding in (Encoding.SIGNED, Encoding.SIGNED_CHAR)
    return Signal("int", bits, signed)


def _c_type(decoded: Any) -> Any:
    try:
        return decoded.ctx.types.resolved(decoded.type)
    except AttributeError:  # a raw address or peripheral value: no C type
        return None


def cell(value: Any) -> Any:
    """A value as it is recorded: bools as 0/1, numbers as numbers, anything else its text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    return str(value)
