"""DAP's ``Content-Length`` framing, read so that one bad frame costs at most that frame.

A client that gets a length wrong by a few bytes must not make every later message unreadable
(issue 9.8). So the reader decodes each body as JSON and checks the boundary it implies:

* too long: the object ends before the stated length and what follows is the start of the next
  header; the object is taken and the rest is left for the next header;
* too short: the object is cut off; it is read on to the next header already received;
* anything between a body and the next ``Content-Length`` header is skipped, and said once;
* JSON nested deeper than ``MAX_DEPTH`` is refused with a sentence (Python's own parser would
  raise RecursionError and end the reader).

:meth:`Framer.next` returns :class:`Frame` items: a decoded message or one sentence for the
error response; None at the end of the stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_CONTENT = 64 * 1024 * 1024  # a request larger than this is a broken header, not a request
MAX_DEPTH = 64  # DAP messages nest a handful of levels; more is an attack or a bug
MAX_GARBAGE = 1 << 20  # bytes kept while looking for a header

_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*)\r?\n", re.IGNORECASE)
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*[ \t]*:[^\r\n]*\r?\n)*$")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Frame:
    message: Any = None  # the decoded JSON (any type), when ``error`` is None
    error: str | None = None  # one sentence for an error response
    seq: int = 0  # the request's seq when the error concerns a message whose seq could be read


def nesting_depth(value: Any) -> int:
    """How deep lists and objects nest (iterative: a deep value cannot exhaust the stack)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, depth)
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, depth)
            stack.extend((x, depth + 1) for x in v)
    return deepest


def _decode(body: bytes) -> tuple[Any, int] | str:
    """(value, bytes used) for the JSON value at the start of ``body``, or why it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        text = body[: e.start].decode("utf-8")  # a body cut inside a character: decode what is whole
    stripped = len(text) - len(text.lstrip())
    try:
        value, end = _DECODER.raw_decode(text, stripped)
    except RecursionError:
        return f"a message was nested deeper than {MAX_DEPTH} levels; it was ignored."
    except ValueError:
        return "a message was not valid JSON; it was ignored."
    return value, len(text[:end].encode("utf-8"))


class Framer:
    """Messages from a byte stream; ``read_chunk()`` returns what is available (b"" at the end)."""

    def __init__(self, read_chunk: Callable[[], bytes]):
        self._read = read_chunk
        self._buf = bytearray()
        self._eof = False
        self._quiet_skip = False  # the bytes after a refused frame are its rest, not news

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._read()
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take(self, n: int) -> None:
        del self._buf[:n]

    def next(self) -> Frame | None:
        while True:
            m = _HEADER.search(self._buf)
            if m is None:
                if len(self._buf) > MAX_GARBAGE:
                    del self._buf[: len(self._buf) - 64]  # keep a tail that may begin a header
                if not self._fill():
                    return None
                continue
            ends = _END_OF_HEADERS.search(self._buf, m.start())
            if ends is None or ends.start() < m.end() - 2:
                if not self._fill():
                    return None
                continue
            skipped = bytes(self._buf[: m.start()])
            body_at = ends.end()
            value = m.group(1).strip()
            length = int(value) if value.isdigit() else None
            quiet, self._quiet_skip = self._quiet_skip, False
            if skipped.strip() and not _HEADER_LINE.match(skipped) and not quiet:
                # a stray byte or a fragment before a header: said once, then the header is read
                del self._buf[: m.start()]
                return Frame(error=f"{len(skipped)} bytes that were not part of a DAP message were skipped.")
            if length is None or length > MAX_CONTENT:
                self._take(body_at)
                return Frame(error="a message had no valid Content-Length header; it was skipped.")
            while len(self._buf) < body_at + length:
                if not self._fill():
                    return None
            return self._frame(body_at, length)

    def _frame(self, at: int, length: int) -> Frame:
        got = _decode(bytes(self._buf[at : at + length]))
        if isinstance(got, str):
            # cut short? read on to the next header already received
            nxt = _HEADER.search(self._buf, at + 1)
            stop = nxt.start() if nxt is not None else len(self._buf)
            if stop > at + length:
                longer = _decode(bytes(self._buf[at:stop]))
                if not isinstance(longer, str) and not self._buf[at + longer[1] : stop].strip():
                    self._take(at + longer[1])
                    return self._checked(longer[0])
            self._take(at + length)
            self._quiet_skip = True
            return Frame(error=got)
        value, used = got
        rest = self._buf[at + used : at + length]
        # the stated length reaches into the next header: leave that for the next frame
        self._take(at + (length if not rest.strip() else used))
        return self._checked(value)

    @staticmethod
    def _checked(value: Any) -> Frame:
        if nesting_depth(value) > MAX_DEPTH:
            seq = value.get("seq") if isinstance(value, dict) else None
            return Frame(error=f"a message was nested deeper than {MAX_DEPTH} levels; it was ignored.",
                         seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else 0)
        return Frame(message=value)
