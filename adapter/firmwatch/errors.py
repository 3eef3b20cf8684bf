"""The one root of the errors a user can cause and fix, and how a front end tells them from bugs.

A :class:`UserError` is a wrong path, a bad expression, an unplugged port, a refused address, a
stale ELF: ``str()`` is one sentence saying what happened and what to do, and every front end
shows it as it is (the CLI prints it, the debug adapter answers it with ``showUser``, the
language server puts it in a diagnostic). Anything else that escapes is a bug of ours: the front
end says "please report" and keeps the traceback in its log.

Every package raises its own subclass (``SymbolsError``, ``TargetError``, ``ExpressionError``,
``CodecError``, ``SessionError``, ...) so callers can still catch the narrow kind; this module
imports nothing from the rest of firmwatch, so every layer may import it.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str()`` is one sentence: what happened and what to do."""


# The operating system's answer to a path the user gave: as much the user's to fix as a UserError.
USER_OS_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError, IsADirectoryError,
                                             NotADirectoryError)


def is_user_error(e: BaseException) -> bool:
    return isinstance(e, (UserError, *USER_OS_ERRORS))


def sentence(e: BaseException) -> str:
    """The text to show for a user error: its own sentence, or one made from an OS error's parts."""
    if isinstance(e, OSError) and not isinstance(e, UserError) and e.strerror:
        where = f"{e.filename}: " if e.filename is not None else ""
        return f"{where}{e.strerror[:1].lower()}{e.strerror[1:]}; check the path and its permissions."
    return str(e).strip() or type(e).__name__


def internal_error_text(action: str, e: BaseException) -> str:
    """What a front end says about a bug of ours (the traceback goes to its log)."""
    return f"firmwatch failed {action} ({type(e).__name__}: {e}); please report this with the log."
