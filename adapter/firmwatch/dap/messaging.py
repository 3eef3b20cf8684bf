"""DAP's wire layer: Content-Length framing, sequence numbers, handlers by command, events, cancel.

In the style of debugpy's ``messaging`` module, smaller. DAP is not JSON-RPC: every message is a
JSON object with ``seq`` and ``type`` (``request`` / ``response`` / ``event``) behind an HTTP-like
``Content-Length`` header. One reader thread parses the stream; requests go to one worker thread
in arrival order (DAP clients expect that: ``setBreakpoints`` before ``configurationDone``), except
``cancel``, which the reader answers at once so it can reach a request still waiting in the queue.

Robustness rules: a message that is not JSON, not an object, nested too deep, or a request whose
arguments do not validate gets an error response (``request_seq`` 0 when it had no usable
``seq``) and the adapter carries on; a wrong ``Content-Length`` costs at most that message
(framing.py resynchronises on the next header). Nothing a client sends can end the process
except closing the stream, or ``disconnect``, after which the adapter shuts down as the DAP
specification says.
"""

from __future__ import annotations

import collections
import io
import json
import logging
import queue
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from firmwatch.dap.framing import Frame, Framer
from firmwatch.errors import internal_error_text, is_user_error, sentence

log = logging.getLogger(__name__)



def _WAKE() -> None:
    """Queued to wake the worker for urgent work (Connection.post)."""


class RequestError(Exception):
    """A request failed; ``str()`` is one sentence. ``show_user``: VS Code shows it in a notification."""

    def __init__(self, message: str, *, show_user: bool = True, error_id: int = 1):
        super().__init__(message)
        self.show_user = show_user
        self.error_id = error_id


class Cancelled(RequestError):
    def __init__(self) -> None:
        super().__init__("cancelled", show_user=False, error_id=2)


@dataclass
class Request:
    seq: int
    command: str
    arguments: dict[str, Any]
    cancelled: bool = False  # set by the reader thread on `cancel`; a plain flag is enough to poll
    responded: bool = False

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


Handler = Callable[[Request], "dict[str, Any] | None"]


class RequestTable:
    """Request handlers declared where they are written, in the style of debugpy's decorator::

        request = RequestTable()

        class Adapter:
            @request("next", "stepIn", "stepOut")
            def step(self, req): ...

        request.install(conn, adapter)
    """

    def __init__(self) -> None:
        self._entries: list[tuple[tuple[str, ...], Callable[..., Any], bool, bool]] = []

    def __call__(self, *commands: str, concurrent: bool = False,
                 show_user: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._entries.append((commands, fn, concurrent, show_user))
            return fn

        return mark

    def install(self, conn: Connection, owner: object) -> None:
        for commands, fn, concurrent, show_user in self._entries:
            for command in commands:
                conn.handle(command, types.MethodType(fn, owner), concurrent=concurrent, show_user=show_user)

    def commands(self) -> list[str]:
        return [c for commands, *_ in self._entries for c in commands]


class Tracer:
    """``"trace": true``: every message in both directions, one JSON line each, with a timestamp."""

    def __init__(self, path: str):
        self.path = path
        self._f = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._lock = threading.Lock()

    def log(self, direction: str, body: Any) -> None:
        line = json.dumps({"t": round(time.time(), 6), "dir": direction, "msg": body}, default=str)
        with self._lock:
            if not self._f.closed:
                self._f.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._f.close()


class Connection:
    """One DAP conversation over a pair of binary streams."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes]):
        self._in = reader
        self._out = writer
        self._wlock = threading.Lock()
        self._seq = 0
        self._handlers: dict[str, Handler] = {}
        self._concurrent: set[str] = set()
        self._quiet: set[str] = set()
        self._queue: queue.Queue[Request | Callable[[], None] | None] = queue.Queue()
        self._urgent: collections.deque[Callable[[], None]] = collections.deque()
        self._pending: dict[int, Request] = {}
        self._plock = threading.Lock()
        self.on_cancel_progress: Callable[[str], None] | None = None
        self.tracer: Tracer | None = None
        self.closed = threading.Event()

    # -- registration ---------------------------------------------------------------------------
    def handle(self, command: str, handler: Handler, *, concurrent: bool = False, show_user: bool = True) -> None:
        """``concurrent``: run on its own thread, not behind slower requests in the queue (hover).
        ``show_user``: whether a :class:`~firmwatch.errors.UserError` the handler raises is shown as
        a notification (False where VS Code shows the text in place: a watch, a hover)."""
        self._handlers[command] = handler
        if concurrent:
            self._concurrent.add(command)
        else:
            self._concurrent.discard(command)
        if show_user:
            self._quiet.discard(command)
        else:
            self._quiet.add(command)

    # -- sending ----------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        with self._wlock:
            self._seq += 1
            message["seq"] = self._seq
            data = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
            if self.tracer is not None:
                self.tracer.log("out", message)
            try:
                self._out.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
                self._out.flush()
            except (OSError, ValueError):  # the client went away: the reader will see EOF too
                self.closed.set()

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        if self.closed.is_set():
            return
        msg: dict[str, Any] = {"type": "event", "event": name}
        if body is not None:
            msg["body"] = body
        self._send(msg)

    def respond(self, req: Request, body: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"type": "response", "request_seq": req.seq, "success": True, "command": req.command}
        if body is not None:
            msg["body"] = body
        req.responded = True
        self._send(msg)

    def fail(self, request_seq: int, command: str, error: RequestError | str) -> None:
        if isinstance(error, str):
            error = RequestError(error)
        msg: dict[str, Any] = {
            "type": "response",
            "request_seq": request_seq,
            "success": False,
            "command": command,
            "message": "cancelled" if isinstance(error, Cancelled) else str(error),
        }
        if not isinstance(error, Cancelled):
            msg["body"] = {"error": {"id": error.error_id, "format": str(error), "showUser": error.show_user}}
        self._send(msg)

    # -- receiving --------------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until the stream ends or :meth:`stop` (after ``disconnect``); requests are handled
        on a worker thread, the stream is read on its own thread (daemon: a client that keeps its
        end open cannot hold the adapter once it was told to stop)."""
        worker = threading.Thread(target=self._work, name="dap-worker", daemon=True)
        worker.start()
        reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        reader.start()
        try:
            self.closed.wait()
        finally:
            self.closed.set()
            self._queue.put(None)
            if threading.current_thread() is not worker:
                worker.join(timeout=5)

    def stop(self) -> None:
        """End :meth:`run` (the response to ``disconnect`` is sent first)."""
        self.closed.set()

    def _read_chunk(self) -> bytes:
        """What the stream has (blocking only while it has nothing). A raw stream (stdin's file
        descriptor, a socket) is read without a buffer's lock, so a reader still waiting when the
        adapter exits after ``disconnect`` cannot abort the interpreter's shutdown."""
        try:
            if isinstance(self._in, io.BufferedIOBase):
                return self._in.read1(65536)
            return self._in.read(65536) or b""
        except (OSError, ValueError):  # the client reset the connection: same as end of stream
            return b""

    def _read_loop(self) -> None:
        framer = Framer(self._read_chunk)
        try:
            while not self.closed.is_set():
                frame = framer.next()
                if frame is None:
                    break
                try:
                    self._accept(frame)
                except Exception:  # noqa: BLE001 - nothing a client sends may end the reader
                    log.exception("a message could not be handled")
                    self.fail(0, "", RequestError("a message could not be handled; it was ignored (please report "
                                                  "this with the log).", show_user=False, error_id=99))
        finally:
            self.closed.set()

    def _accept(self, frame: Frame) -> None:
        if frame.error is not None:
            self.fail(frame.seq, "", RequestError(frame.error, show_user=False))
            return
        msg = frame.message
        if self.tracer is not None:
            self.tracer.log("in", msg)
        if not isinstance(msg, dict):
            self.fail(0, "", RequestError("a message was not a JSON object; it was ignored.", show_user=False))
            return
        seq = msg.get("seq")
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
        kind = msg.get("type")
        command = msg.get("command")
        if kind == "response" or kind == "event":
            return  # reverse requests are not used; client events do not exist in DAP
        if kind != "request" or not isinstance(command, str) or not command:
            self.fail(seq, command if isinstance(command, str) else "",
                      RequestError("a message was not a request with a command; it was ignored.", show_user=False))
            return
        args = msg.get("arguments", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            self.fail(seq, command, RequestError(f"the arguments of '{command}' must be an object.", show_user=False))
            return
        req = Request(seq, command, args)
        if command == "cancel":
            self._cancel(req)
            return
        if command in self._concurrent:
            threading.Thread(target=self.dispatch, args=(req,), name=f"dap-{command}", daemon=True).start()
            return
        with self._plock:
            self._pending[seq] = req
        self._queue.put(req)

    def _cancel(self, req: Request) -> None:
        rid = req.arguments.get("requestId")
        pid = req.arguments.get("progressId")
        if isinstance(rid, int):
            with self._plock:
                target = self._pending.get(rid)
            if target is not None:
                target.cancelled = True
        if isinstance(pid, str) and self.on_cancel_progress is not None:
            self.on_cancel_progress(pid)
        self.respond(req)

    def post(self, fn: Callable[[], None], *, urgent: bool = False) -> None:
        """Run ``fn`` on the worker thread, between requests (state the handlers share is only
        changed there, so they need no locks). ``urgent``: before the requests already waiting
        (the end of a session must not wait behind a queue of requests it makes pointless)."""
        if urgent:
            with self._plock:
                self._urgent.append(fn)
        self._queue.put(fn if not urgent else _WAKE)

    def _work(self) -> None:
        while True:
            req = self._queue.get()
            while True:
                with self._plock:
                    first = self._urgent.popleft() if self._urgent else None
                if first is None:
                    break
                try:
                    first()
                except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
                    log.exception("posted work failed")
            if req is None:
                return
            if req is _WAKE:
                continue
            if not isinstance(req, Request):
                try:
                    req()
                except Exception:  # noqa: BLE001 - housekeeping must not stop the worker
                    log.exception("posted work failed")
                continue
            try:
                self.dispatch(req)
            finally:
                with self._plock:
                    self._pending.pop(req.seq, None)

    def dispatch(self, req: Request) -> None:
        handler = self._handlers.get(req.command)
        try:
            req.check_cancelled()
            if handler is None:
                raise RequestError(f"'{req.command}' is not a request firmwatch knows.", show_user=False)
            body = handler(req)
            if not req.responded:
                self.respond(req, body)
        except RequestError as e:
            self.fail(req.seq, req.command, e)
        except Exception as e:
            self.fail(req.seq, req.command, self.translate(req.command, e))

    def translate(self, command: str, e: Exception) -> RequestError:
        """The one place an exception becomes an error response: a user error's sentence as it
        is; anything else is a bug of ours, answered with "please report" and logged with its trace."""
        if isinstance(e, RequestError):
            return e
        if is_user_error(e):
            return RequestError(sentence(e), show_user=command not in self._quiet)
        log.exception("request %s failed", command)
        if self.tracer is not None:
            self.tracer.log("error", {"command": command, "trace": traceback.format_exc()})
        return RequestError(internal_error_text(f"on '{command}'", e), show_user=True, error_id=99)
