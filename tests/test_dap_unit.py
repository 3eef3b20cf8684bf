"""Unit tests of the adapter's pieces that need no device: launch.json validation, typed request
arguments, and the message layer (framing, errors, cancel) over real pipes."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import pytest

from firmwatch.dap import models as M
from firmwatch.dap.completions import _operand_before
from firmwatch.dap.config import ConfigError, parse_config
from firmwatch.dap.messaging import Connection, Request, RequestError


# -- launch.json --------------------------------------------------------------------------------------
def cfg(request: str = "attach", **kw) -> dict:
    return {"type": "firmwatch", "request": request, "name": "x", **kw}


def test_config_accepts_every_transport() -> None:
    c = parse_config(cfg(elf="fw.elf", transport="serial", port="/dev/ttyACM0", baud=115200, uiRefreshHz=30,
                         watch=["a", {"expression": "b", "rateHz": 50}], verifyBuildId="error",
                         env={"A": "1"}, __sessionId="s"), "attach")
    assert (c.port, c.baud, c.ui_refresh_hz, c.verify_build_id) == ("/dev/ttyACM0", 115200, 30.0, "error")
    assert [(w.expression, w.rate_hz) for w in c.watch] == [("a", None), ("b", 50.0)]
    assert parse_config(cfg(elf="f", transport="tcp", host="10.0.0.2", port=5000), "attach").tcp_port == 5000
    assert parse_config(cfg(elf="f", transport="rsp", target="localhost:3333"), "attach").target == "localhost:3333"
    assert parse_config(cfg(elf="f", transport="gdb", target="localhost:3333", gdbPath="arm-none-eabi-gdb"),
                        "attach").gdb_path == "arm-none-eabi-gdb"
    assert parse_config(cfg("launch", sim="avr", transport="rsp"), "launch").sim == "avr"
    c = parse_config(cfg("launch", elf="f", transport="rsp", server="openocd -f board.cfg -c 'gdb_port {port}'"), "launch")
    assert c.target is None and "{port}" in c.server
    c = parse_config(cfg(elf="f", transport="serial", port="/dev/x", cwd="/proj", trace="t.log"), "attach")
    assert c.trace == "/proj/t.log" and c.resolve("build/fw.elf") == "/proj/build/fw.elf"


@pytest.mark.parametrize("extra,needle", [
    ({"buad": 1}, "unknown key 'buad'; did you mean 'baud'?"),
    ({"frobnicate": 1}, "unknown key 'frobnicate'. Allowed keys: elf, transport"),
    ({"baud": "fast"}, "'baud' must be a positive integer baud rate, not 'fast'."),
    ({"uiRefreshHz": 500}, "'uiRefreshHz' must be a rate in Hz between 0.5 and 60"),
    ({"sampleRate": 0}, "'sampleRate' must be a rate in Hz above 0"),
    ({"verifyBuildId": "maybe"}, "'verifyBuildId' must be one of error, warn, off"),
    ({"watch": "x"}, "'watch' must be an array"),
    ({"watch": [3]}, "'watch[0]' must be an expression string"),
    ({"watch": [{"expression": "x", "rateHz": -1}]}, "'watch[0].rateHz' must be a rate in Hz above 0"),
    ({"trace": 3}, "'trace' must be true, false or a log file path"),
    ({"env": {"A": 1}}, "'env' must be an object of string values"),
    ({"gdbPath": "gdb"}, "'gdbPath' applies to transport gdb only, not serial."),
    ({"sim": "host"}, "'sim' starts something, so it belongs in a \"launch\" configuration"),
])
def test_config_errors_are_one_sentence_naming_the_key(extra: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(cfg(elf="f", transport="serial", port="/dev/x", **extra), "attach")
    assert needle in str(e.value)
    assert str(e.value).startswith("launch.json: ") and "\n" not in str(e.value)


@pytest.mark.parametrize("data,needle", [
    (cfg("launch", elf="f", transport="serial", port="/dev/x"), "needs 'sim'"),
    (cfg(transport="serial", port="/dev/x"), "'elf' is required"),
    (cfg(elf="f"), "'transport' is required"),
    (cfg(elf="f", transport="serial"), "'port' is required for transport serial"),
    (cfg(elf="f", transport="tcp", port="x"), "'port' must be a TCP port number"),
    (cfg(elf="f", transport="rsp"), "'target' is required for transport rsp"),
    (cfg(elf="f", transport="usb"), "'transport' must be one of serial, tcp, gdb, rsp"),
    (cfg("launch", sim="host", transport="rsp"), "needs a gdb stub"),
    (cfg("launch", sim="stm32"), "'sim' must be one of host, cortex-m3, riscv32, avr"),
    (cfg("launch", elf="f", transport="serial", port="/dev/x", server="x"), "'server' needs a transport"),
])
def test_config_combinations(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("'", ".").replace("(", ".")):
        parse_config(data, data["request"])


# -- typed arguments ------------------------------------------------------------------------------------
def test_models_validate_types_and_required_fields() -> None:
    a = M.parse(M.EvaluateArgs, {"expression": "x", "frameId": 1, "format": {"hex": True}, "extra": 1})
    assert a.expression == "x" and a.frameId == 1 and a.format is not None and a.format.hex
    assert M.parse(M.SetRateArgs, {"expression": "x", "rateHz": 5}).rateHz == 5.0
    for bad, needle in [({}, "'expression' is required"), ({"expression": 1}, "'expression' must be a string"),
                        ({"expression": "x", "frameId": True}, "'frameId' must be an integer"),
                        ({"expression": "x", "format": {"hex": "yes"}}, "'format.hex' must be true or false")]:
        with pytest.raises(M.InvalidArguments, match=needle):
            M.parse(M.EvaluateArgs, bad)


# -- the message layer ------------------------------------------------------------------------------------
class Pipe:
    def __init__(self) -> None:
        r, w = os.pipe()
        self.r = os.fdopen(r, "rb")
        self.w = os.fdopen(w, "wb", buffering=0)


def frame(msg: dict | bytes) -> bytes:
    data = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def read_all(data: bytes) -> list[dict]:
    out, f = [], io.BytesIO(data)
    while True:
        line = f.readline()
        if not line:
            return out
        n = int(line.split(b":")[1])
        f.readline()
        out.append(json.loads(f.read(n)))


def test_connection_dispatches_fails_and_cancels() -> None:
    inp = Pipe()
    out = io.BytesIO()
    conn = Connection(inp.r, out)
    gate = threading.Event()

    def slow(req: Request) -> dict:
        gate.wait(5)
        req.check_cancelled()
        return {"done": True}

    conn.handle("echo", lambda req: {"args": req.arguments})
    conn.handle("boom", lambda req: (_ for _ in ()).throw(RuntimeError("kaput")))
    conn.handle("refuse", lambda req: (_ for _ in ()).throw(RequestError("no, because.")))
    conn.handle("slow", slow)
    t = threading.Thread(target=conn.run)
    t.start()
    inp.w.write(frame({"seq": 1, "type": "request", "command": "echo", "arguments": {"a": 1}}))
    inp.w.write(frame({"seq": 2, "type": "request", "command": "slow"}))
    inp.w.write(frame({"seq": 3, "type": "request", "command": "cancel", "arguments": {"requestId": 2}}))
    deadline = time.monotonic() + 5
    while b'"request_seq":3' not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    inp.w.write(frame({"seq": 4, "type": "request", "command": "boom"}))
    inp.w.write(frame({"seq": 5, "type": "request", "command": "refuse"}))
    inp.w.write(b"Content-Length: 3\r\n\r\n{x}")
    inp.w.write(frame({"seq": 6, "type": "request", "command": "echo", "arguments": []}))
    inp.w.write(frame({"seq": 7, "type": "request", "command": "echo"}))
    inp.w.close()
    t.join(5)
    msgs = {m["request_seq"]: m for m in read_all(out.getvalue()) if m["request_seq"] != 0}
    errors0 = [m for m in read_all(out.getvalue()) if m["request_seq"] == 0]
    assert msgs[1]["success"] and msgs[1]["body"] == {"args": {"a": 1}}
    assert msgs[3]["success"]
    assert not msgs[2]["success"] and msgs[2]["message"] == "cancelled"
    assert not msgs[4]["success"] and "kaput" in msgs[4]["message"] and msgs[4]["body"]["error"]["showUser"]
    assert msgs[5]["message"] == "no, because." and msgs[5]["body"]["error"]["format"] == "no, because."
    assert "must be an object" in msgs[6]["message"]
    assert msgs[7]["success"]
    assert errors0 and "not valid JSON" in errors0[0]["message"]
    seqs = [m["seq"] for m in read_all(out.getvalue())]
    assert seqs == list(range(1, len(seqs) + 1))


def test_one_error_path_user_errors_quiet_handlers_and_bugs(caplog: pytest.LogCaptureFixture) -> None:
    """A UserError of any layer is its sentence with showUser (or not, for a quiet handler); a
    missing file the OS names is a sentence too; anything else says "please report" and logs
    the trace."""
    from firmwatch.errors import UserError, is_user_error
    from firmwatch.session.session import SessionError
    from firmwatch.symbols.codec import CodecError
    from firmwatch.symbols.expr import ExpressionError
    from firmwatch.symbols.program import SymbolsError
    from firmwatch.targets.base import AccessRefused, TargetError

    for cls in (SymbolsError, TargetError, CodecError, SessionError):
        assert issubclass(cls, UserError), cls
    assert isinstance(AccessRefused("x"), UserError) and isinstance(ExpressionError(3, "why"), UserError)
    assert isinstance(CodecError("x"), ValueError), "callers that catch ValueError keep working"
    assert not is_user_error(KeyError("x"))

    conn = Connection(io.BytesIO(), io.BytesIO())
    conn.handle("loud", lambda r: None)
    conn.handle("quiet", lambda r: None, show_user=False)
    e = conn.translate("loud", TargetError("the port is gone; plug it in."))
    assert (str(e), e.show_user) == ("the port is gone; plug it in.", True)
    assert conn.translate("quiet", SymbolsError("no such variable 'x'.")).show_user is False
    missing = conn.translate("loud", FileNotFoundError(2, "No such file or directory", "/no/fw.elf"))
    assert str(missing) == "/no/fw.elf: no such file or directory; check the path and its permissions."
    with caplog.at_level("ERROR"):
        try:
            {}["k"]
        except KeyError as bug:
            internal = conn.translate("loud", bug)
    assert internal.error_id == 99 and "please report" in str(internal) and "KeyError" in str(internal)
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records), "the trace is in the log"


def test_every_dap_request_has_one_declared_handler() -> None:
    from firmwatch.dap.adapter import request

    commands = request.commands()
    assert len(commands) == len(set(commands)), "a command declared twice"
    for c in ("initialize", "launch", "attach", "configurationDone", "setBreakpoints", "setFunctionBreakpoints",
              "setExceptionBreakpoints", "dataBreakpointInfo", "setDataBreakpoints", "threads", "stackTrace",
              "scopes", "variables", "evaluate", "setVariable", "setExpression", "source", "readMemory",
              "writeMemory", "completions", "continue", "pause", "next", "stepIn", "stepOut", "terminate",
              "disconnect", "firmwatch.setRate", "firmwatch.plot", "firmwatch.startRecording",
              "firmwatch.stopRecording", "firmwatch.memoryUsage", "firmwatch.evaluateLive"):
        assert c in commands, c


def test_operand_before_the_cursor() -> None:
    assert _operand_before("x + a.b[i + 1]") == "a.b[i + 1]"
    assert _operand_before("f(p->q") == "p->q"
    assert _operand_before("'m.c'::s") == "'m.c'::s"


# -- device text between frames ------------------------------------------------------------------------
def test_device_text_between_frames_in_any_chunking() -> None:
    from firmwatch.session.device_text import DeviceText
    from firmwatch.targets import protocol as P

    frame_a = P.encode_frame(P.SAMPLES, bytes(range(40)) + b"\n\xaa\x55")  # payload with a newline and a sync
    stream = b"boot v1.2\r\n" + frame_a + b"temp=25" + P.encode_frame(P.ACK, b"\x01") + b" C\n\x01\x02\x03\x04\n"
    for size in (1, 2, 3, 7, len(stream)):
        dt = DeviceText()
        lines = []
        for i in range(0, len(stream), size):
            lines += dt.feed(stream[i : i + size])
        assert lines == ["boot v1.2", "temp=25 C"], size
