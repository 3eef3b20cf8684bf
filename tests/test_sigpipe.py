"""A peer that has gone is an error, not a signal, even where SIGPIPE is at its default action.

Python ignores SIGPIPE, but a program embedding firmwatch (a user's pytest suite, a notebook) may
not: some libraries reset it on import (vcdvcd does). There a plain ``send`` to a GDB server or a
TCP streamer that has closed ends the whole program without a word. Each child below sets the
default action first, then writes to a peer that accepted and closed, and must come back with
firmwatch's own sentence and exit 0 — killed by the signal, its return code would be -13.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_PEER = """
import signal, socket, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
"""

RSP = _PEER + """
from firmwatch.targets.base import TargetLost
from firmwatch.targets.rsp_link import RspLink
link = RspLink(socket.create_connection(("127.0.0.1", port)), f"127.0.0.1:{port}")
server.accept()[0].close()
try:
    for _ in range(10_000):
        link.send(b"m20000000,4")
except TargetLost as e:
    print("said:", e)
    sys.exit(0)
sys.exit("10,000 writes to a closed connection all succeeded")
"""

STREAMER = _PEER + """
import serial
from firmwatch.targets.streamer import _Port
p = _Port(f"socket://127.0.0.1:{port}", 115200)
server.accept()[0].close()
try:
    for _ in range(10_000):
        p.write(b"\\x00" * 64)
except serial.SerialException as e:
    print("said:", e)
    sys.exit(0)
sys.exit("10,000 writes to a closed connection all succeeded")
"""


@pytest.mark.parametrize("script", [RSP, STREAMER], ids=["gdb-server", "tcp-streamer"])
def test_a_closed_peer_is_an_error_where_sigpipe_is_default(script: str) -> None:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"return code {r.returncode} (-13: killed by SIGPIPE); {r.stderr[-2000:]}"
    assert r.stdout.startswith("said: ")
