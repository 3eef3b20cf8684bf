"""Trigger conditions: the text a user writes (``accel_x rising 500``) and their evaluation.

The conditions are the device's (docs/protocol.md section 16) — rising/falling through a level,
either crossing, above/below, equal/not equal, any change, a bit mask — so a capture triggers on
the same sample whether the device or the host evaluates it. Values are compared as numbers of
the channel's type (signed, unsigned or float), exactly as the device compares its keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmwatch.errors import UserError

OPS = ("none", "rising", "falling", "cross", "above", "below", "equal", "not_equal", "change", "mask")
ALIASES = {
    ">": "above", "<": "below", "==": "equal", "=": "equal", "!=": "not_equal", "not-equal": "not_equal",
    "ne": "not_equal", "eq": "equal", "gt": "above", "lt": "below", "changed": "change", "changes": "change",
    "crossing": "cross", "crosses": "cross", "either": "cross", "rise": "rising", "fall": "falling",
    "rises": "rising", "falls": "falling",
}  # fmt: skip
NEEDS_LEVEL = {"rising", "falling", "cross", "above", "below", "equal", "not_equal", "mask"}
EXAMPLE = "'accel_x rising 500', 'fsm_state equal FSM_SAMPLING', 'button_state change' or 'flags mask 0x0C 0x04'"


class TriggerError(UserError):
    """A trigger the user wrote that cannot be used; ``str()`` says why and what to write."""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    expression: str
    op: str  # one of OPS
    level: str | None = None  # as written: a number, an enumerator name, true/false
    mask: str | None = None  # op "mask": (value XOR level) AND mask == 0

    def describe(self) -> str:
        if self.op == "mask":
            return f"{self.expression} & {self.mask} == {self.level}"
        if self.op == "change":
            return f"{self.expression} changes"
        return f"{self.expression} {self.op.replace('_', ' ')} {self.level}"


def parse_trigger(text: str | None) -> TriggerSpec | None:
    """``EXPR OP [LEVEL]`` or ``EXPR mask MASK VALUE``; None (or "none", "force") for no condition."""
    if text is None or not text.strip() or text.strip().lower() in ("none", "force", "forced"):
        return None
    tokens = text.split()
    for i in range(len(tokens) - 1, 0, -1):
        word = tokens[i].lower()
        op = ALIASES.get(word, word)
        if op not in OPS or op == "none":
            continue
        expr = " ".join(tokens[:i]).strip()
        args = tokens[i + 1 :]
        if op == "mask":
            if len(args) != 2:
                raise TriggerError(f"a mask trigger needs the mask and the value: '{expr} mask 0x0C 0x04' fires when "
                                   "the bits of 0x0C equal those of 0x04.")
            return TriggerSpec(expr, op, args[1], args[0])
        if op == "change":
            if args:
                raise TriggerError(f"'{text.strip()}': 'change' takes no level; write '{expr} change'.")
            return TriggerSpec(expr, op)
        if len(args) != 1:
            raise TriggerError(f"'{text.strip()}': '{op}' needs one level after it, e.g. '{expr} {op} 500'.")
        return TriggerSpec(expr, op, args[0])
    raise TriggerError(f"'{text.strip()}' names no condition; write EXPRESSION CONDITION LEVEL, e.g. {EXAMPLE} "
                       f"(conditions: {', '.join(o for o in OPS if o != 'none')}).")


def parse_number(text: str) -> int | float:
    """A level as written: decimal, 0x hex, 0b binary, a float, true/false."""
    t = text.strip().lower().replace("_", "")
    if t in ("true", "false"):
        return int(t == "true")
    try:
        return int(t, 0)
    except ValueError:
        pass
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?|[-+]?(inf|nan)", t):
        return float(t)
    raise TriggerError(f"'{text}' is not a number; write a level such as 500, -12, 0x1F or 2.5.")


@dataclass
class Condition:
    """A trigger condition on numbers: the device's rules, for the host-side trigger."""

    op: str
    level: int | float = 0
    mask: int = 0

    def __post_init__(self) -> None:
        self._prev: int | float | None = None

    def reset(self) -> None:
        self._prev = None

    def feed(self, value: int | float) -> bool:
        """Whether the condition fires at this sample (the previous one was fed before)."""
        p, self._prev = self._prev, value
        lv, op = self.level, self.op
        if op == "rising":
            return p is not None and p < lv <= value
        if op == "falling":
            return p is not None and p > lv >= value
        if op == "cross":
            return p is not None and (p < lv <= value or p > lv >= value)
        if op == "above":
            return value > lv
        if op == "below":
            return value < lv
        if op == "equal":
            return value == lv
        if op == "not_equal":
            return value != lv
        if op == "change":
            return p is not None and value != p
        if op == "mask":
            return ((int(value) ^ int(lv)) & self.mask) == 0
        return False
