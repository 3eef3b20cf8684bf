"""``python -m firmwatch.dap [--port N]``: the debug adapter on stdio, or on a TCP port (127.0.0.1)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from firmwatch.dap.adapter import Adapter
from firmwatch.dap.messaging import Connection


def serve(reader, writer) -> Adapter:  # noqa: ANN001 - binary file objects
    conn = Connection(reader, writer)
    adapter = Adapter(conn)
    try:
        conn.run()
    finally:
        adapter._end_session()
    return adapter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m firmwatch.dap", description="firmwatch debug adapter (DAP)")
    p.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT instead of stdio (for debugging the adapter)")
    p.add_argument("--log", help="write the adapter's own log (not the DAP trace) to this file")
    args = p.parse_args(argv)
    # A watch evaluate answered from the cache takes ~0.2 ms, but waiting for the GIL behind the
    # sample reader thread took up to the default 5 ms switch interval: ask for a shorter one.
    sys.setswitchinterval(0.0005)
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.DEBUG)
    else:
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    if args.port is None:
        stdin = sys.stdin.buffer.raw  # unbuffered: see Connection._read_chunk
        # The DAP stream gets its own descriptor and fd 1 becomes stderr: nothing printed by
        # mistake, here or by a child process (compiler, emulator, GDB server), can corrupt it.
        sys.stdout.flush()
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        serve(stdin, stdout)
        return 0
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind(("127.0.0.1", args.port))
        except OSError as e:
            print(f"firmwatch.dap: cannot listen on 127.0.0.1:{args.port} ({e.strerror}); choose another port.",
                  file=sys.stderr)
            return 2
        srv.listen(1)
        print(f"firmwatch.dap: listening on 127.0.0.1:{srv.getsockname()[1]}", file=sys.stderr, flush=True)
        while True:
            conn, _ = srv.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                f = conn.makefile("rwb", buffering=0)
                serve(f, f)
            if os.environ.get("FIRMWATCH_DAP_ONCE"):
                return 0


if __name__ == "__main__":
    sys.exit(main())
