"""Fault injection against the real debug adapter process (issue 9.8): a client that gets the
framing wrong, a message nested too deep, ``disconnect``, and a session that ends under a
stream of requests. In every case the adapter answers with a sentence or does what the DAP
specification says, and keeps serving: it never crashes, hangs or answers with a bug report.
"""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from dap_client import DapClient
from tools import wait_for


def frame(message: dict, *, delta: int = 0) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % (len(body) + delta) + body


def request(seq: int, command: str, arguments: dict | None = None) -> dict:
    msg: dict = {"seq": seq, "type": "request", "command": command}
    if arguments is not None:
        msg["arguments"] = arguments
    return msg


@pytest.fixture
def adapter():
    c = DapClient()
    try:
        yield c
    finally:
        c.close()


def responses_to(c: DapClient, seq: int, timeout: float = 10.0) -> dict:
    return c.response(seq, timeout)


@pytest.mark.parametrize("delta", [1, -1, 7, -5])
def test_a_wrong_content_length_costs_at_most_that_message(adapter: DapClient, delta: int) -> None:
    """One header off by a few bytes: the adapter finds the next header and answers everything after."""
    adapter.send_raw(frame(request(100, "threads"), delta=delta))
    adapter.send_raw(frame(request(101, "threads")))
    adapter.send_raw(frame(request(102, "initialize", {"adapterID": "firmwatch"})))
    assert responses_to(adapter, 101)["success"], "the request after a wrong Content-Length must be answered"
    assert responses_to(adapter, 102)["success"]
    r = adapter.request_raw("threads")
    assert r["success"] and r["body"] == {"threads": []}
    # the damaged message itself: answered when it could be read whole, else one error saying why
    got = adapter._responses.pop(100, None) or adapter._responses.pop(0, None)
    if got is not None and not got["success"]:
        assert "\n" not in got["message"] and got["message"].endswith(".")
    assert adapter.proc.poll() is None


def test_garbage_between_messages_is_skipped_and_said(adapter: DapClient) -> None:
    adapter.send_raw(b"}}} stray bytes \r\n" + frame(request(200, "threads")))
    assert responses_to(adapter, 200)["success"]
    errors = [r for r in [adapter._responses.pop(0, None)] if r is not None]
    assert errors and "skipped" in errors[0]["message"]


def test_a_deeply_nested_message_gets_an_error_not_a_crash(adapter: DapClient) -> None:
    adapter.send_raw(b"Content-Length: 2000\r\n\r\n" + b"[" * 1000 + b"]" * 1000)
    err = wait_for(lambda: adapter._responses.pop(0, None), 10, "an error response to the deep array")
    assert err["success"] is False and "nested" in err["message"]
    deep = {"expression": json.loads("[" * 500 + "]" * 500)}
    body = json.dumps(request(300, "evaluate", deep)).encode()
    adapter.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    got = responses_to(adapter, 300)
    assert got["success"] is False and "please report" not in got["message"]
    assert adapter.request_raw("threads")["success"], "the adapter keeps serving"
    assert adapter.proc.poll() is None


def test_disconnect_ends_the_adapter(adapter: DapClient) -> None:
    """DAP: the adapter shuts down after answering disconnect, even while its input stays open."""
    adapter.request("initialize", {"adapterID": "firmwatch"})
    r = adapter.request_raw("disconnect", {})
    assert r["success"]
    assert adapter.proc.wait(timeout=10) == 0, "the adapter still runs after disconnect"
    assert adapter.proc.stdin is not None and not adapter.proc.stdin.closed


@pytest.mark.slow
def test_session_end_under_a_stream_of_requests_is_never_a_bug_report() -> None:
    """The simulated device dies while evaluate requests stream in: the session ends between
    requests (on the worker thread), so every answer is a value or a sentence, never an internal
    error, and the adapter says the session ended."""
    with DapClient() as c:
        c.start("launch", {"sim": "host", "watch": ["loop_count"]})
        out = wait_for(lambda: [e for e in c.events if e["event"] == "output" and "device started (pid" in
                                e["body"]["output"]], 30, "the simulated device's pid")
        pid = int(out[0]["body"]["output"].split("(pid ")[1].split(")")[0])
        seqs: list[int] = []
        stop = threading.Event()

        def flood() -> None:
            # every expression a new watch: each one replans the device's streams, a round trip
            # that the dying device stretches while the session is being torn down
            i = 0
            while not stop.is_set() and i < 2000:
                seqs.append(c.send({"type": "request", "command": "evaluate",
                                    "arguments": {"expression": f"loop_count + {i}", "frameId": 1,
                                                  "context": "watch"}}))
                i += 1

        t = threading.Thread(target=flood)
        t.start()
        wait_for(lambda: len(seqs) > 200, 10, "requests in flight")
        os.kill(pid, signal.SIGKILL)
        c.wait_event("terminated", timeout=15)
        stop.set()
        t.join(10)
        answers = [c.response(s, 30) for s in list(seqs)]
        bugs = [a["message"] for a in answers if not a["success"] and
                ("please report" in a["message"] or a.get("body", {}).get("error", {}).get("id") == 99)]
        assert not bugs, f"{len(bugs)} requests got a bug report instead of a sentence: {bugs[:3]}"
        failed = [a["message"] for a in answers if not a["success"]]
        assert failed, "requests after the end of the session are answered with a sentence"
        assert all("\n" not in m and m.rstrip().endswith(".") for m in failed), failed[:3]
        assert c.request_raw("threads")["success"]
