"""The interactive watch REPL (the seed tool's ``list/watch/stop``, grown up).

On a terminal the live table sits under the prompt and refreshes while you type; piped input
(scripts, tests) gets plain line-by-line replies.
"""

from __future__ import annotations

import queue
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prompt_toolkit.completion import Completer, Completion

from firmwatch.cli.rates import RateError, split_rate
from firmwatch.cli.table import render, render_ansi
from firmwatch.errors import is_user_error, sentence
from firmwatch.session.session import Session

COMMANDS = {
    "list": "list [GLOB]          globals and statics matching GLOB, with address, size and type",
    "watch": "watch EXPR[@HZ]      add a live watch at HZ samples/s (default --rate): watch accel_x@500 (or accel_x 500)",
    "stop": "stop EXPR|all        remove a watch, or all of them",
    "write": "write EXPR VALUE     write VALUE into the object EXPR names and read it back",
    "rate": "rate EXPR HZ         change a watch's sample rate",
    "deadband": "deadband EXPR N|off  change-only: send EXPR when it moved by more than N (0: any change)",
    "print": "print EXPR           read EXPR once",
    "info": "info                 target, link and build-id status",
    "hex": "hex on|off           show values in hex",
    "show": "show                 print the table (useful when input is piped)",
    "help": "help                 this list",
    "quit": "quit                 end the session (also Ctrl-D, or Ctrl-C on an empty line)",
}

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class Repl:
    def __init__(self, session: Session, out: Callable[[str], None] | None = None,
                 gone: threading.Event | None = None):
        self.session = session
        self.hex = False
        self.out = out or (lambda s: print(s, flush=True))
        # set when the link is lost for good (a GDB server died): the prompt ends at once
        self.gone = gone or threading.Event()

    # -- commands ---------------------------------------------------------------------------
    def execute(self, line: str) -> bool:
        """Run one command line; returns False when the user asked to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        verb, _, rest = line.partition(" ")
        verb = verb.lower()
        rest = rest.strip()
        try:
            handler = getattr(self, f"cmd_{verb}", None)
            if handler is None:
                self.out(f"unknown command '{verb}'; type 'help' for the commands.")
                return True
            return handler(rest) is not False
        except Exception as e:
            if is_user_error(e):
                self.out(f"error: {sentence(e)}")
                return True
            raise

    def cmd_help(self, rest: str) -> None:
        self.out("\n".join(COMMANDS.values()))

    def cmd_quit(self, rest: str) -> bool:
        return False

    cmd_exit = cmd_quit

    def cmd_list(self, rest: str) -> None:
        pattern = rest or "*"
        if not any(c in pattern for c in "*?["):
            pattern = f"*{pattern}*"
        rows = self.session.program.variables_matching(pattern)
        types = self.session.program.types
        for v in rows[:500]:
            tname = types.name(v.type) if v.type is not None else f"<{v.size} bytes>"
            addr = "(constant)" if v.address is None else f"0x{v.address:08x}"
            self.out(f"{addr} {v.size if v.size is not None else '?':>6}  {v.qualified}  {tname}")
        if len(rows) > 500:
            self.out(f"… {len(rows) - 500} more; narrow the pattern.")
        if not rows:
            self.out(f"no symbol matches '{rest}'.")

    def cmd_watch(self, rest: str) -> None:
        if not rest:
            self.out("usage: " + COMMANDS["watch"])
            return
        expr, rate = split_rate(rest)  # the command line's rule: accel_x@500 is 500 Hz
        if rate is None:
            expr, rate = _split_rate(rest)  # `watch accel_x 500` too; a trailing -5 is a bad rate
            if rate is not None and rate <= 0:
                raise RateError(f"the rate {rate:g} in 'watch {rest}' must be above 0 Hz; to watch an expression "
                                "ending in a number, put it in parentheses.")
        w = self.session.add_watch(expr, rate)
        if w.unsampled:
            self.out(f"{w.text} cannot be sampled: {w.unsampled}")
            return
        note = self.session.polled_reason(w)
        self.out(f"watching {w.text} at {w.rate_hz:g} Hz" + (f" (polled: {note})" if note else ""))

    def cmd_stop(self, rest: str) -> None:
        if not rest:
            self.out("usage: " + COMMANDS["stop"])
            return
        n = self.session.remove_watch("all" if rest.lower() == "all" else rest)
        self.out(f"stopped {n} watch{'es' if n != 1 else ''}")

    def cmd_rate(self, rest: str) -> None:
        expr, rate = split_rate(rest)
        if rate is None:
            expr, rate = _split_rate(rest)
        if rate is None:
            self.out("usage: " + COMMANDS["rate"])
            return
        w = self.session.set_rate(expr, rate)
        self.out(f"{w.text} now at {w.rate_hz:g} Hz")

    def cmd_deadband(self, rest: str) -> None:
        expr, _, value = rest.rpartition(" ")
        if not expr.strip() or not value:
            self.out("usage: " + COMMANDS["deadband"])
            return
        if value.lower() in ("off", "none"):
            w = self.session.set_deadband(expr, None)
            self.out(f"{w.text}: every sample again")
            return
        try:
            band = float(value)
        except ValueError:
            self.out(f"error: '{value}' is not a deadband; give a number (0: any change) or off.")
            return
        w = self.session.set_deadband(expr, band)
        self.out(f"{w.text}: change-only, deadband {band:g}" if w.filtered else
                 f"{w.text}: every sample (it cannot be filtered; see the note above)")

    def cmd_write(self, rest: str) -> None:
        expr, value = _split_value(rest)
        if not expr or not value:
            self.out("usage: " + COMMANDS["write"])
            return
        v = self.session.write(expr, value)
        self.out(f"{expr} = {v.display(hex=self.hex)}")

    def cmd_print(self, rest: str) -> None:
        v = self.session.evaluate(rest)
        self.out(f"{rest} = {v.display(hex=self.hex)}")

    cmd_p = cmd_print

    def cmd_hex(self, rest: str) -> None:
        self.hex = rest.lower() not in ("off", "0", "no", "false")
        self.out(f"hex {'on' if self.hex else 'off'}")

    def cmd_info(self, rest: str) -> None:
        s = self.session
        i = s.info
        st = s.target.stats()
        self.out(f"target: {i.name}")
        self.out(f"byte order {i.byteorder}, word size {i.word_size}, tick {i.tick_hz} Hz, "
                 f"max streams {i.max_streams}, max bytes/stream {i.max_stream_bytes}")
        self.out(f"build id: {s.build_id_status} (ELF {s.program.elf.build_id})")
        self.out(f"samples {st.samples}, lost {st.lost}, corrupt frames {st.corrupt_frames}, "
                 f"device dropped {st.device_dropped}, reconnects {st.reconnects}")

    def cmd_show(self, rest: str) -> None:
        import shutil

        width = shutil.get_terminal_size((100, 24)).columns
        self.out(render(self.session, width, color=sys.stdout.isatty(), hex_values=self.hex))

    # -- loops ------------------------------------------------------------------------------
    def run_piped(self, lines: Iterable[str]) -> None:
        """Commands line by line (a script, a pipe); ends early when the link is gone for good."""
        q: queue.Queue[str | None] = queue.Queue()

        def feed() -> None:
            for line in lines:
                q.put(line)
            q.put(None)

        threading.Thread(target=feed, name="firmwatch-stdin", daemon=True).start()
        while not self.gone.is_set():
            try:
                line = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None or not self.execute(line):
                break

    def run_terminal(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.formatted_text import ANSI
        from prompt_toolkit.history import InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.patch_stdout import patch_stdout
        from prompt_toolkit.shortcuts import print_formatted_text

        def toolbar() -> Any:
            try:
                import shutil

                width = shutil.get_terminal_size((120, 24)).columns
                return ANSI(render_ansi(self.session, width=width, hex_values=self.hex))
            except Exception as e:  # never let a render problem kill the prompt
                return f"(table unavailable: {e})"

        keys = KeyBindings()

        @keys.add("c-c")
        def _(event: Any) -> None:
            # Ctrl-C clears what was typed, as in a shell; on an empty line it ends the session
            if event.app.current_buffer.text:
                event.app.current_buffer.reset()
            else:
                event.app.exit(exception=EOFError())

        self.out = lambda s: print_formatted_text(ANSI(s))
        ps: PromptSession[str] = PromptSession(
            history=InMemoryHistory(),
            completer=SymbolCompleter(self.session),
            complete_while_typing=False,
            bottom_toolbar=toolbar,
            refresh_interval=0.2,
            key_bindings=keys,
        )

        def end_when_gone() -> None:
            self.gone.wait()
            app = ps.app
            loop = getattr(app, "loop", None)
            if app.is_running and loop is not None:
                loop.call_soon_threadsafe(lambda: app.exit(exception=EOFError()) if app.is_running else None)

        threading.Thread(target=end_when_gone, name="firmwatch-link-watch", daemon=True).start()
        with patch_stdout():
            while not self.gone.is_set():
                try:
                    line = ps.prompt("firmwatch> ")
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                if not self.execute(line):
                    break

    def run(self) -> None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            self.run_terminal()
        else:
            self.run_piped(sys.stdin)


def _trailing_operand(text: str) -> str:
    """The postfix expression the cursor is in: ``x + g_cfg->calib.g`` → ``g_cfg->calib.g``."""
    i = len(text)
    depth = 0
    while i > 0:
        c = text[i - 1]
        if c == "]":
            depth += 1
        elif c == "[":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0:
            if c == ">" and i >= 2 and text[i - 2] == "-":
                i -= 2
                continue
            if not (c.isalnum() or c in "_.:'"):
                break
        i -= 1
    return text[i:]


def _split_rate(text: str) -> tuple[str, float | None]:
    """``rate EXPR HZ``: the rate as the last word (a negative or zero one is refused by the session)."""
    parts = text.rsplit(None, 1)
    if len(parts) == 2 and _NUMBER.match(parts[1]):
        return parts[0], float(parts[1])
    return text, None


def _split_value(text: str) -> tuple[str, str]:
    text = text.strip()
    if text.endswith(("'", '"')):
        q = text[-1]
        start = text.rfind(" " + q)
        if start > 0:
            return text[:start].strip(), text[start + 1 :]
    try:
        parts = shlex.split(text, posix=False)
    except ValueError:
        parts = text.split()
    if len(parts) < 2:
        return text, ""
    value = parts[-1]
    return text[: text.rfind(value)].strip(), value


class SymbolCompleter(Completer):
    """Completes commands, symbol names, and struct members after ``.`` and ``->``."""

    def __init__(self, session: Session):
        self.session = session
        self._names = sorted({v.qualified for v in session.program.variables}
                             | {v.name for v in session.program.variables})

    def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
        text = document.text_before_cursor
        if " " not in text:
            for c in COMMANDS:
                if c.startswith(text):
                    yield Completion(c, start_position=-len(text))
            return
        word = _trailing_operand(text)
        m = re.match(r"^(.*?)(\.|->)([A-Za-z_]\w*)?$", word)
        if m and m.group(1):
            prefix = m.group(3) or ""
            for name in self.members(m.group(1), m.group(2)):
                if name.startswith(prefix):
                    yield Completion(name, start_position=-len(prefix))
            return
        for name in self._names:
            if name.startswith(word):
                yield Completion(name, start_position=-len(word))

    def members(self, base: str, op: str) -> list[str]:
        try:
            compiled = self.session.compile(base)
            return list(compiled.member_names(arrow=(op == "->")))
        except Exception:  # an incomplete expression simply has no completions
            return []
