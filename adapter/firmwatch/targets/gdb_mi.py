"""One gdb process driven over the machine interface (MI3), asynchronously.

pygdbmi starts gdb and parses MI records; everything else is ours: a reader thread takes
gdb's output as it arrives (a ``select`` on the pipes, not pygdbmi's polling wait, whose
default 0.2 s per command caps a client at a few commands a second), result records are
matched to their command by token, and asynchronous records (``*stopped``, ``*running``,
``=thread-group-exited``, console and target output) go to listeners. ``mi-async`` is on,
so gdb takes commands while the target runs. Every wait has a timeout: a gdb that hangs or
dies surfaces as :class:`TargetLost`, never as a hang.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmwatch.targets.base import TargetError, TargetLost

# Which gdb serves which ELF machine, and the Debian package that provides it.
GDB_FOR_MACHINE = {
    "AVR": ("avr-gdb", "gdb-avr"),
    "ARM": ("gdb-multiarch", "gdb-multiarch"),
    "RISC-V": ("gdb-multiarch", "gdb-multiarch"),
    "AArch64": ("gdb-multiarch", "gdb-multiarch"),
    "Xtensa": ("gdb-multiarch", "gdb-multiarch"),
}
_PACKAGE_FOR_GDB = {"avr-gdb": "gdb-avr", "gdb-multiarch": "gdb-multiarch", "gdb": "gdb"}

Record = dict[str, Any]
Listener = Callable[[Record], None]


class MiError(TargetError):
    """gdb answered a command with ``^error``; ``str()`` is a sentence, ``gdb_message`` gdb's own text."""

    def __init__(self, message: str, gdb_message: str, command: str):
        super().__init__(message)
        self.gdb_message = gdb_message
        self.command = command


# gdb's messages that a user can meet, as sentences saying what to do.
_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Cannot execute this command while the (target|selected thread) is running"),
     "the target is running: pause it (or wait for a breakpoint) before {what}."),
    (re.compile(r"The program is not being run"),
     "no program is being debugged: connect to the GDB server first."),
    (re.compile(r"\"finish\" not meaningful in the outermost frame"),
     "there is no caller to step out to (this is the outermost frame): step over or continue instead."),
    (re.compile(r"No symbol \"([^\"]+)\" in current context"),
     "'{1}' is not known here: check the spelling, or select a frame where it is in scope."),
    (re.compile(r"No line (\d+) in file \"([^\"]+)\""),
     "no code at {2}:{1}; choose a line with a statement."),
    (re.compile(r"No source file named (.+)\."),
     "the ELF has no source file named {1}: check the file name against the build (or rebuild with -g)."),
    (re.compile(r"Function \"([^\"]+)\" not defined"),
     "the ELF has no function '{1}': check the name (C++ needs the full signature or namespace)."),
    (re.compile(r"Cannot access memory at address (0x[0-9a-fA-F]+)"),
     "the target refused access to memory at {1}: check the address against the ELF's memory map."),
    (re.compile(r"Could not insert hardware (watch|break)point|Hardware watchpoint .* Could not insert"),
     "the target ran out of hardware {1}points: remove one and try again."),
    (re.compile(r"Expression cannot be implemented with read/access watchpoint"),
     "this target cannot watch that expression for reads: use a write watchpoint or a simpler expression."),
    (re.compile(r"Remote connection closed|Remote communication error"),
     "the connection to the GDB server was lost: restart the server and reconnect."),
]


def translate(gdb_message: str, what: str = "doing that") -> str:
    """gdb's error text → one sentence saying what happened and what to do."""
    msg = gdb_message.strip()
    for pattern, template in _TRANSLATIONS:
        m = pattern.search(msg)
        if m:
            groups = [m.group(0), *m.groups()]
            text = template.replace("{what}", what)
            for i, g in enumerate(groups):
                text = text.replace(f"{{{i}}}", g or "")
            return text
    msg = msg.rstrip(".")
    return f"gdb refused this ({msg[:1].lower() + msg[1:]}): check the request and the target's state."


def find_gdb(machine: str | None, gdb_path: str | None = None) -> str:
    """The gdb executable for an ELF machine (or the configured one), as an absolute path."""
    if gdb_path:
        found = shutil.which(gdb_path)
        if found:
            return found
        package = _PACKAGE_FOR_GDB.get(os.path.basename(gdb_path))
        hint = f"install the Debian package {package} or" if package else "install it or"
        raise TargetError(f"the gdb '{gdb_path}' is not installed or not on PATH: {hint} give the full path to a gdb.")
    name, package = GDB_FOR_MACHINE.get(machine or "", ("gdb-multiarch", "gdb-multiarch"))
    found = shutil.which(name)
    if found:
        return found
    raise TargetError(
        f"{name} is needed to debug {machine or 'this'} firmware and is not installed: "
        f"install the Debian package {package} (apt-get install {package}) or pass the path of a gdb."
    )


@dataclass
class _Pending:
    event: threading.Event
    record: Record | None = None


class MiSession:
    """A gdb process in MI3 async mode; thread-safe (commands from any thread)."""

    def __init__(self, gdb: str, *, timeout: float = 10.0, args: list[str] | None = None):
        from pygdbmi.gdbcontroller import GdbController

        self.gdb = gdb
        self.timeout = timeout
        self._token = 0
        self._lock = threading.Lock()  # tokens and the pending table
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._listeners: list[Listener] = []
        self._lost: TargetLost | None = None
        self.stderr_tail: list[str] = []
        try:
            self._ctl = GdbController(
                command=[gdb, "--nx", "--quiet", "--interpreter=mi3", *(args or [])],
                time_to_check_for_additional_output_sec=0,
            )
        except (ValueError, OSError) as e:
            raise TargetError(f"gdb could not be started ({gdb}: {e}); check the gdb path.") from None
        proc = self._ctl.gdb_process
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self._reader = threading.Thread(target=self._read_loop, name="firmwatch-gdb-mi", daemon=True)
        self._reader.start()
        # the records that follow are parsed by us: async mode so commands work while running
        self.cmd("-gdb-set mi-async on")
        self.cmd("-gdb-set confirm off")
        self.cmd("-gdb-set pagination off")
        self.cmd("-gdb-set print pretty off")

    # -- listeners -----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(record)`` for every record that is not a command's result (reader thread)."""
        self._listeners.append(listener)

    @property
    def alive(self) -> bool:
        return self._lost is None

    def check(self) -> None:
        if self._lost is not None:
            raise self._lost

    # -- commands ------------------------------------------------------------------------------
    def send(self, command: str, *, track: bool = True) -> int:
        """Write one command with a fresh token and return the token (no wait).

        ``track=False``: nobody will wait for the result (it goes to the listeners).
        """
        self.check()
        with self._lock:
            self._token += 1
            token = self._token
            if track:
                self._pending[token] = _Pending(threading.Event())
        line = f"{token}{command}\n".encode()
        try:
            with self._write_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            with self._lock:
                self._pending.pop(token, None)
            raise self._gone("gdb exited") from None
        return token

    def result(self, token: int, command: str, timeout: float | None = None, what: str = "doing that") -> Record:
        """Wait for the result record of ``token``; ``^error`` raises :class:`MiError`."""
        with self._lock:
            pending = self._pending.get(token)
        if pending is None:
            raise TargetError(f"no command with token {token} is waiting for a result.")
        wait = self.timeout if timeout is None else timeout
        if not pending.event.wait(wait):
            with self._lock:
                self._pending.pop(token, None)
            self.check()
            raise self._gone(f"gdb did not answer '{command.split()[0]}' within {wait:g} s", hung=True)
        with self._lock:
            self._pending.pop(token, None)
        record = pending.record
        if record is None:  # woken because gdb died
            self.check()
            raise TargetLost("gdb exited: restart the debug session.")
        if record.get("message") == "error":
            payload = record.get("payload") or {}
            gdb_msg = str(payload.get("msg", "error")) if isinstance(payload, dict) else str(payload)
            raise MiError(translate(gdb_msg, what), gdb_msg, command)
        return record

    def cmd(self, command: str, timeout: float | None = None, what: str = "doing that") -> Record:
        """Run an MI command and return its result record (``^done``, ``^running``, ``^connected``)."""
        return self.result(self.send(command), command, timeout, what)

    def console(self, command: str, timeout: float | None = None) -> str:
        """Run a CLI command and return what it printed on the console."""
        out: list[str] = []
        collecting = threading.Event()

        def grab(rec: Record) -> None:
            if collecting.is_set() and rec.get("type") == "console":
                out.append(str(rec.get("payload") or ""))

        self._listeners.append(grab)
        collecting.set()
        try:
            self.cmd(f"-interpreter-exec console {mi_quote(command)}", timeout)
        finally:
            collecting.clear()
            self._listeners.remove(grab)
        return "".join(out)

    # -- reading -------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        from pygdbmi.gdbmiparser import parse_response

        out = self._proc.stdout
        err = self._proc.stderr
        assert out is not None and err is not None
        fds = {out.fileno(): "out", err.fileno(): "err"}
        bufs = {"out": b"", "err": b""}
        try:
            while fds:
                ready, _, _ = select.select(list(fds), [], [], 1.0)
                for fd in ready:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    name = fds[fd]
                    if not data:
                        del fds[fd]
                        continue
                    bufs[name] += data
                    *lines, bufs[name] = bufs[name].split(b"\n")
                    for raw in lines:
                        line = raw.decode("utf-8", "replace").rstrip("\r")
                        if name == "err":
                            self.stderr_tail = (self.stderr_tail + [line])[-10:]
                            continue
                        if not line or line.startswith("(gdb)"):
                            continue
                        try:
                            record = parse_response(line)
                        except Exception:  # a line that is not MI (gdb's own noise)
                            continue
                        self._dispatch(record)
        finally:
            self._gone("gdb exited")

    def _dispatch(self, record: Record) -> None:
        token = record.get("token")
        if record.get("type") == "result" and token is not None:
            with self._lock:
                pending = self._pending.get(int(token))
            if pending is not None:
                pending.record = record
                pending.event.set()
                return
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:  # a listener's bug must not stop the reader
                pass

    def _gone(self, why: str, hung: bool = False) -> TargetLost:
        if self._lost is None:
            tail = " | ".join(line for line in self.stderr_tail if line.strip())[-200:]
            detail = f" (it said: {tail})" if tail and not hung else ""
            self._lost = TargetLost(f"{why}{detail}: restart the debug session.")
            with self._lock:
                waiting = list(self._pending.values())
            for p in waiting:
                p.event.set()
            for listener in list(self._listeners):
                with contextlib.suppress(Exception):
                    listener({"type": "gdb-exit", "message": why, "payload": None})
        return self._lost

    # -- shutdown ------------------------------------------------------------------------------
    def close(self, timeout: float = 2.0) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(TargetError):
                self.send("-gdb-exit")
            deadline = time.monotonic() + timeout
            while self._proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    self._proc.wait(timeout=0.05)
            if self._proc.poll() is None:
                self._proc.kill()
                with contextlib.suppress(Exception):
                    self._proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        if self._lost is None:
            self._lost = TargetLost("the gdb session was closed.")


def mi_quote(text: str) -> str:
    """A C string literal as MI expects for an argument with spaces or quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
