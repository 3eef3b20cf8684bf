"""Entry point of the ``firmwatch`` command: one sub-command per module in this package.

Each ``cmd_*`` module exposes ``register(subparsers)`` which adds its sub-commands and
sets ``func`` on them; ``func(args) -> int`` is the exit status. User-facing errors are
raised as exceptions whose ``str()`` is one sentence; they are printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from firmwatch import __version__

COMMAND_MODULES = ("cmd_symbols", "cmd_sim", "cmd_live", "cmd_peripherals", "cmd_memory", "cmd_profile", "cmd_rtos",
                   "cmd_convert", "cmd_capture")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only the modules up to the one that registers its
    command are imported (start-up time: importing them all costs more than most commands)."""
    parser = argparse.ArgumentParser(
        prog="firmwatch",
        description="Watch, plot, record and change firmware variables while the MCU runs.",
    )
    parser.add_argument("--version", action="version", version=f"firmwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name in COMMAND_MODULES if argv is None or argv[:1] != ["--version"] else ():
        if command is not None and command in sub.choices:
            break
        importlib.import_module(f"firmwatch.cli.{name}").register(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The command's own parser reads its arguments, options and positionals in any order
    (``watch ELF 'x' --port P`` as well as ``watch ELF --port P 'x'``), and a mistake is shown
    with that command's usage, not the top-level one."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    command = next((a for a in argv if not a.startswith("-")), None)
    if sub is None or command not in sub.choices:
        return parser.parse_args(argv)
    sp = sub.choices[command]
    rest = argv[argv.index(command) + 1 :]
    # the plain order first; positionals after options (which plain argparse leaves over) through
    # the intermixed mode, which on its own mishandles a required positional before an nargs='*' one
    args, extra = sp.parse_known_args(rest)
    if extra:
        try:
            args, extra = sp.parse_known_intermixed_args(rest)
        except TypeError:  # a mutually exclusive group argparse cannot intermix
            pass
    if extra:
        sp.error(f"unrecognized arguments: {' '.join(extra)}")
    args.command = command
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # user-facing errors carry a sentence; anything else is a bug
        from firmwatch.errors import is_user_error, sentence

        if is_user_error(e):
            print(f"firmwatch: {sentence(e)}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
