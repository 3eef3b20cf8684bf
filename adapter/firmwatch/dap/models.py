"""Typed request arguments: each request's ``arguments`` object validated into a dataclass.

Our own dataclasses rather than the ``dap-types`` package (docs/architecture.md says why): the
adapter needs about twenty argument shapes, and what matters is the *error* when a client sends a
wrong one — one sentence naming the field and the type expected — which a generic model library
phrases for programmers, not for the user reading VS Code's notification.

``parse(Cls, arguments)`` checks required fields, types (int, float, str, bool, dict, list,
``X | None``, nested dataclasses) and ignores unknown fields (DAP clients add their own).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar, Union

from firmwatch.dap.messaging import RequestError

T = TypeVar("T")


class InvalidArguments(RequestError):
    def __init__(self, message: str):
        super().__init__(message, show_user=False, error_id=3)


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
          list: "an array"}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _check(value, opt, where)
            except InvalidArguments as e:
                errors.append(str(e))
        raise InvalidArguments(errors[0] if errors else f"'{where}' has the wrong type.")
    if origin is list:
        if not isinstance(value, list):
            raise InvalidArguments(f"'{where}' must be an array.")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidArguments(f"'{where}' must be an object.")
        return value
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InvalidArguments(f"'{where}' must be an object.")
        return _parse(tp, value, where + ".")  # type: ignore[arg-type]
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, tp):
        return value
    raise InvalidArguments(f"'{where}' must be {_NAMES.get(tp, tp.__name__)}, not {json_type(value)}.")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_SIMPLE = {str: str, bool: bool, dict: dict, int: int}  # type(True) is bool, so ints stay ints


@cache
def _plan(cls: type) -> tuple[tuple[str, str, Any, bool, type | None], ...]:
    """(field, JSON key, type, required, exact Python type when a plain isinstance check does) per field.

    Requests arrive hundreds of times a second (every watch at every refresh): the typing
    introspection happens once per class, and plain fields skip it entirely.
    """
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        simple = _SIMPLE.get(tp)
        if typing.get_origin(tp) in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1 and args[0] in _SIMPLE:
                simple = args[0]
        out.append((f.name, f.metadata.get("json", f.name), tp, required, simple))
    return tuple(out)


def _parse(cls: type[T], data: dict[str, Any], prefix: str) -> T:
    kwargs: dict[str, Any] = {}
    for name, key, tp, required, simple in _plan(cls):
        value = data.get(key)
        if value is None:
            if required:
                raise InvalidArguments(f"'{prefix}{key}' is required.")
            continue
        if simple is not None and type(value) is simple:
            kwargs[name] = value
        else:
            kwargs[name] = _check(value, tp, prefix + key)
    return cls(**kwargs)


def parse(cls: type[T], data: dict[str, Any] | None) -> T:
    return _parse(cls, data or {}, "")


def j(name: str) -> dict[str, str]:
    """Field metadata for a JSON key that is not a Python name."""
    return {"json": name}


# -- the requests' arguments -----------------------------------------------------------------------
@dataclass
class InitializeArgs:
    adapterID: str = ""
    clientID: str | None = None
    clientName: str | None = None
    linesStartAt1: bool = True
    columnsStartAt1: bool = True
    supportsVariablePaging: bool = False
    supportsVariableType: bool = False
    supportsMemoryReferences: bool = False
    supportsInvalidatedEvent: bool = False
    supportsMemoryEvent: bool = False
    supportsProgressReporting: bool = False


@dataclass
class ValueFormat:
    hex: bool = False


@dataclass
class EvaluateArgs:
    expression: str
    frameId: int | None = None
    context: str | None = None
    format: ValueFormat | None = None


@dataclass
class ThreadArgs:
    threadId: int


@dataclass
class StackTraceArgs:
    threadId: int
    startFrame: int = 0
    levels: int = 0
    format: dict[str, Any] | None = None


@dataclass
class ScopesArgs:
    frameId: int


@dataclass
class VariablesArgs:
    variablesReference: int
    filter: str | None = None
    start: int = 0
    count: int = 0
    format: ValueFormat | None = None


@dataclass
class SetVariableArgs:
    variablesReference: int
    name: str
    value: str
    format: ValueFormat | None = None


@dataclass
class SetExpressionArgs:
    expression: str
    value: str
    frameId: int | None = None
    format: ValueFormat | None = None


@dataclass
class SourceArgs:
    sourceReference: int
    source: dict[str, Any] | None = None


@dataclass
class ReadMemoryArgs:
    memoryReference: str
    count: int
    offset: int = 0


@dataclass
class WriteMemoryArgs:
    memoryReference: str
    data: str
    offset: int = 0
    allowPartial: bool = False


@dataclass
class CompletionsArgs:
    text: str
    column: int
    frameId: int | None = None
    line: int | None = None


@dataclass
class SetBreakpointsArgs:
    source: dict[str, Any] = field(default_factory=dict)
    breakpoints: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] | None = None


@dataclass
class SetRateArgs:
    expression: str
    rateHz: float


@dataclass
class ExpressionArgs:
    expression: str


@dataclass
class HoldRefreshArgs:
    id: str
    reason: str
    seconds: float = 120.0


@dataclass
class ResumeRefreshArgs:
    id: str | None = None


@dataclass
class StartRecordingArgs:
    path: str
    sessionId: str | None = None
    format: str | None = None  # csv | parquet | vcd; default from the path's extension
