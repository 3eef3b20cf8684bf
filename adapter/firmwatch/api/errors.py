"""The errors a script sees: the project's own (:class:`firmwatch.errors.UserError` and the narrow
kinds below it), plus the few only the API raises. ``str()`` of each is one sentence saying what
happened and what to do, as on the command line."""

from __future__ import annotations

from firmwatch.errors import UserError


class ApiError(UserError):
    """A request to the Python API that cannot be carried out (a closed device, a value that has
    no C literal, an unknown option); ``str()`` is one sentence."""


class WaitTimeout(ApiError):
    """:meth:`Device.wait_until` ran out of time; ``last`` is the last value seen (None when no
    sample arrived) and ``samples`` how many were checked."""

    def __init__(self, message: str, last: object = None, samples: int = 0):
        super().__init__(message)
        self.last = last
        self.samples = samples


class MissingExtra(ApiError):
    """An optional library is not installed; ``str()`` names the extra that brings it."""


def require_extra(module: str, extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` imports (its import is the caller's to do)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{what} needs {module}, which is not installed: pip install 'firmwatch[{extra}]'.")
