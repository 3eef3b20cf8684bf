"""A small DAP client for tests and benchmarks: drives the real ``python -m firmwatch.dap`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CACHE: str | None = None


def private_cache() -> str:
    """One ELF index cache for this test process: results never depend on what ~/.cache holds."""
    global _CACHE
    if _CACHE is None:
        import atexit
        import shutil
        import tempfile

        _CACHE = tempfile.mkdtemp(prefix="firmwatch-dap-cache-")
        atexit.register(shutil.rmtree, _CACHE, True)
    return _CACHE


class DapError(Exception):
    def __init__(self, response: dict[str, Any]):
        super().__init__(response.get("message", "request failed"))
        self.response = response


class DapClient:
    def __init__(self, argv: list[str] | None = None, *, env: dict[str, str] | None = None):
        argv = argv or [sys.executable, "-m", "firmwatch.dap"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "FIRMWATCH_CACHE_DIR": private_cache(), **(env or {})},
                                     cwd=ROOT)
        self._seq = 0
        self._cond = threading.Condition()
        self._responses: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.event_times: list[float] = []
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self.stderr: list[str] = []
        self._wlock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # -- wire ---------------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        with self._wlock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> int:
        with self._wlock:
            self._seq += 1
            message = {"seq": self._seq, **message}
            data = json.dumps(message).encode()
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.proc.stdin.flush()
            return self._seq

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.partition(b":")
                if k.lower() == b"content-length":
                    length = int(v)
            assert length is not None
            msg = json.loads(out.read(length))
            now = time.monotonic()
            with self._cond:
                if msg["type"] == "response":
                    self._responses[msg["request_seq"]] = msg
                elif msg["type"] == "event":
                    msg["_t"] = now
                    self.events.append(msg)
                self._cond.notify_all()
            if msg["type"] == "event" and self.on_event is not None:
                self.on_event(msg)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    # -- requests and events --------------------------------------------------------------------------
    def response(self, seq: int, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while seq not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no response to request {seq}; adapter stderr: {''.join(self.stderr[-20:])}")
                self._cond.wait(min(left, 0.5))
            return self._responses.pop(seq)

    def request_raw(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        return self.response(self.send(msg), timeout)

    def request(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        r = self.request_raw(command, arguments, timeout)
        if not r["success"]:
            raise DapError(r)
        return r.get("body") or {}

    def wait_event(self, name: str, predicate: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = 30.0, after: int = 0) -> dict[str, Any]:
        """The first event called ``name`` at index >= ``after`` that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = after
            while True:
                while i < len(self.events):
                    ev = self.events[i]
                    i += 1
                    if ev["event"] == name and (predicate is None or predicate(ev)):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [e["event"] for e in self.events[-15:]]
                    raise TimeoutError(f"no '{name}' event within {timeout} s; last events: {names}; "
                                       f"stderr: {''.join(self.stderr[-20:])}")
                self._cond.wait(min(left, 0.5))

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def outputs(self) -> str:
        return "".join(e["body"].get("output", "") for e in list(self.events) if e["event"] == "output")

    # -- the usual start -------------------------------------------------------------------------------
    def start(self, request: str, config: dict[str, Any], *, paging: bool = True) -> dict[str, Any]:
        """initialize → launch/attach → configurationDone; returns the stopped event of the Live thread."""
        caps = self.request("initialize", {"adapterID": "firmwatch", "clientID": "pytest", "linesStartAt1": True,
                                           "columnsStartAt1": True, "supportsVariablePaging": paging,
                                           "supportsVariableType": True, "supportsMemoryReferences": True,
                                           "supportsInvalidatedEvent": True, "supportsMemoryEvent": True,
                                           "supportsProgressReporting": True})
        self.capabilities = caps
        self.wait_event("initialized", timeout=10)
        self.request(request, {"type": "firmwatch", "request": request, "name": "test", **config}, timeout=180)
        self.request("configurationDone")
        return self.wait_event("stopped", timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("disconnect", {"terminateDebuggee": True}, timeout=10)
            except Exception:  # noqa: BLE001 - the adapter may be gone already
                pass
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
