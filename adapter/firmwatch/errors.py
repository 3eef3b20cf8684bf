"""Which exceptions are the user's problem (printed as one sentence) rather than our bug."""

from __future__ import annotations


def is_user_error(e: BaseException) -> bool:
    from firmwatch.symbols.program import SymbolsError
    from firmwatch.targets.base import TargetError

    user_types: tuple[type[BaseException], ...] = (SymbolsError, TargetError, FileNotFoundError, PermissionError)
    try:
        from firmwatch.symbols.expr import ExpressionError

        user_types += (ExpressionError,)
    except ImportError:
        pass
    try:
        from firmwatch.symbols.codec import CodecError

        user_types += (CodecError,)
    except ImportError:
        pass
    return isinstance(e, user_types) or getattr(e, "user_facing", False)
