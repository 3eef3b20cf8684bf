"""The MCP server: the Python API's device as tools an agent calls over stdio.

    python -m firmwatch.mcp build/app.elf --port /dev/ttyACM0            # read-only
    python -m firmwatch.mcp --sim host --allow-write                      # the demo, writable

The device is connected on the first tool that needs it (with only an ELF, the symbol tools work
without a device) and stays connected until the server ends. Every tool runs in a worker thread,
so a ten-second watch does not stall the protocol. A user error (a bad expression, an unreadable
address, a lost link) is the tool's error result, one sentence; the session keeps working.

Values are JSON: numbers, enumerators by name, structs as objects, arrays as lists, a char array
as a string, raw bytes as hex; beside each value its display text as gdb prints it.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from firmwatch import __version__
from firmwatch.api.device import Device, connect, symbol_list, symbol_search, type_info
from firmwatch.api.errors import ApiError, MissingExtra, require_extra
from firmwatch.api.values import EnumValue, to_python
from firmwatch.errors import internal_error_text, is_user_error, sentence
from firmwatch.session.columns import COLUMNS
from firmwatch.symbols.program import Program

T = TypeVar("T")
MAX_SECONDS = 600.0  # the longest watch or recording one call may take
MAX_SYMBOLS = 2000

INSTRUCTIONS = (
    "firmwatch reads a running embedded firmware's variables by name, with types from its ELF, without halting "
    "it (over the firmware's serial streamer, or a GDB server). Find names with search_symbols or list_symbols, "
    "see a type's layout with ptype, read a value with read, observe how values move with watch (a summary over "
    "N seconds), keep every sample with record (a CSV file), and check stack/heap headroom with memory_health. "
    "Expressions are C: g_config.calib.gain_q8, buf[3], p->x, *(uint32_t *)0x20000010, 'file.c'::count."
)


def jsonable(v: Any) -> Any:
    """A Python value of the API as JSON (non-finite floats as text: JSON has no NaN)."""
    if isinstance(v, EnumValue):
        return str(v)
    if isinstance(v, bool | int | str) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, complex):
        return [jsonable(v.real), jsonable(v.imag)]
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    return str(v)


def number(v: Any) -> float | None:
    if isinstance(v, EnumValue):
        return float(v.value)
    if isinstance(v, bool | int | float) and not isinstance(v, str):
        f = float(v)
        return f if math.isfinite(f) else None
    return None


class Summary:
    """Running figures of one watched expression."""

    def __init__(self) -> None:
        self.samples = 0
        self.numeric = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.total = 0.0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.last: Any = None

    def add(self, t: float, value: Any) -> None:
        self.samples += 1
        if self.first_t is None:
            self.first_t = t
        self.last_t, self.last = t, value
        n = number(value)
        if n is not None:
            self.numeric += 1
            self.lo, self.hi = min(self.lo, n), max(self.hi, n)
            self.total += n

    def as_dict(self) -> dict[str, Any]:
        numeric = self.numeric == self.samples and self.samples > 0
        return {
            "samples": self.samples,
            "min": self.lo if numeric else None,
            "max": self.hi if numeric else None,
            "mean": self.total / self.numeric if numeric else None,
            "last": jsonable(self.last),
            "first_device_time_s": self.first_t,
            "last_device_time_s": self.last_t,
        }


class Backend:
    """What the tools work on: the ELF's symbols, and the device connected on first use."""

    def __init__(self, elf: str | None, connect_kwargs: dict[str, Any], *, allow_write: bool = False,
                 record_dir: str | None = None):
        self.elf = elf
        self.connect_kwargs = connect_kwargs
        self.allow_write = allow_write
        self.record_dir = record_dir or os.getcwd()
        self._device: Device | None = None
        self._program: Program | None = None
        self._lock = threading.Lock()

    @property
    def has_device(self) -> bool:
        return any(self.connect_kwargs.get(k) for k in ("port", "gdb", "sim", "server"))

    def device(self) -> Device:
        with self._lock:
            if self._device is None or self._device.closed:
                if not self.has_device:
                    raise ApiError("this server was started with an ELF only, so there is no device to read; start it "
                                   "with --port, --gdb or --sim.")
                self._device = connect(self.elf, **self.connect_kwargs)
            return self._device

    def program(self) -> Program:
        if self.has_device:
            return self.device().program
        with self._lock:
            if self._program is None:
                if self.elf is None:
                    raise ApiError("no ELF given; start the server with the firmware's ELF.")
                from firmwatch.symbols import load

                self._program = load(self.elf)
            return self._program

    def close(self) -> None:
        with self._lock:
            if self._device is not None:
                self._device.close()
                self._device = None

    # -- the tools' bodies (blocking; the server runs them in worker threads) -----------------------
    def list_symbols(self, pattern: str | None, limit: int) -> dict[str, Any]:
        found = symbol_list(self.program(), pattern or None)
        limit = max(1, min(limit, MAX_SYMBOLS))
        return {"total": len(found), "shown": min(limit, len(found)), "symbols": [asdict(s) for s in found[:limit]]}

    def search_symbols(self, text: str, limit: int) -> dict[str, Any]:
        found = symbol_search(self.program(), text, max(1, min(limit, MAX_SYMBOLS)))
        return {"symbols": [asdict(s) for s in found]}

    def ptype(self, expression: str) -> dict[str, Any]:
        return asdict(type_info(self.program(), expression))

    def read(self, expression: str) -> dict[str, Any]:
        decoded = self.device().evaluate(expression)
        return {"expression": expression, "type": decoded.type_name, "value": jsonable(to_python(decoded)),
                "display": decoded.display(), "address": decoded.address}

    def write(self, expression: str, value: str) -> dict[str, Any]:
        if not self.allow_write:  # the tool is not even listed then; a second lock on the door
            raise ApiError("writing is off: restart the server with --allow-write to let it change memory.")
        parsed: Any = value
        text = value.strip()
        if text[:1] in "[{":
            try:
                parsed = json.loads(text)  # a struct's members or an array's elements
            except ValueError:
                raise ApiError(f"'{value}' is not valid JSON for a struct or an array; write e.g. "
                               '{"offset": 3} or [1, 2].') from None
        back = self.device().write(expression, parsed)
        return {"expression": expression, "read_back": jsonable(back),
                "display": self.device().display(expression)}

    def _check_seconds(self, seconds: float) -> None:
        if not 0 < seconds <= MAX_SECONDS:
            raise ApiError(f"seconds={seconds:g} is out of range; give more than 0 and at most {MAX_SECONDS:g}.")

    def watch(self, expressions: list[str], seconds: float, rate_hz: float) -> dict[str, Any]:
        self._check_seconds(seconds)
        names = [e.strip() for e in expressions]
        per = {n: Summary() for n in names}
        dev = self.device()
        with dev.watch(names, rate_hz, duration=seconds) as w:
            for s in w:
                per[s.name].add(s.target_time, s.value)
            loss = w.loss()
            rates = w.rates()
        out = {}
        for n, summ in per.items():
            d = summ.as_dict()
            d["achieved_hz"] = round(rates.get(n, 0.0), 3)
            d["missing"] = loss.missing.get(n, 0)
            out[n] = d
        return {"seconds": seconds, "rate_hz": rate_hz, "expressions": out, "loss": _loss(loss),
                "lost_total": loss.total + loss.link_lost + loss.device_dropped}

    def record(self, expressions: list[str], seconds: float, rate_hz: float, path: str | None) -> dict[str, Any]:
        self._check_seconds(seconds)
        if path is None:
            path = os.path.join(self.record_dir, time.strftime("firmwatch-%Y%m%d-%H%M%S.csv"))
        path = os.path.abspath(path)
        rec = self.device().record([e.strip() for e in expressions], seconds, rate=rate_hz, path=path, table="rows")
        per: dict[str, Summary] = {}
        for r in rec.rows():
            per.setdefault(r["name"], Summary()).add(r["target_time_s"], r["value"])
        return {"path": rec.path, "rows": rec.samples, "session_id": rec.session_id,
                "columns": list(COLUMNS),
                "duration_s": round(rec.duration_s, 3), "expressions": {n: s.as_dict() for n, s in per.items()},
                "achieved_hz": {n: round(r, 3) for n, r in rec.rates.items()}, "loss": _loss(rec.loss),
                "halted_fraction": rec.halted_fraction}

    def memory_health(self, threshold: int | None) -> dict[str, Any]:
        h = self.device().memory_health(threshold)
        return {
            "figures": {k: {"label": f.label, "value": f.value, "unit": f.unit, "text": f.text(), "source": f.source}
                        for k, f in h.figures.items()},
            "warnings": h.warnings, "notes": h.notes, "threshold_bytes": h.threshold,
            "segments": [{"name": s.name, "start": s.start, "end": s.end} for s in h.segments],
            "cost": {"bytes_read": h.bytes_read, "reads": h.reads, "ms": round(h.elapsed_ms, 3)},
        }

    def device_info(self) -> dict[str, Any]:
        dev = self.device()
        i = dev.info
        return {"elf": dev.elf, "transport": dev.transport, "description": dev.connection.description,
                "build_id_status": dev.build_id_status, "byteorder": i.byteorder, "word_size": i.word_size,
                "tick_hz": i.tick_hz, "max_streams": i.max_streams, "write_allowed": self.allow_write,
                "link": {k: v for k, v in asdict(dev.stats()).items() if not isinstance(v, dict)}}


def _loss(loss: Any) -> dict[str, Any]:
    return {"missing": dict(loss.missing), "link_lost": loss.link_lost, "corrupt_frames": loss.corrupt_frames,
            "device_dropped": loss.device_dropped, "text": loss.describe()}


def build_server(backend: Backend) -> Any:
    """The MCPServer with firmwatch's tools (``write`` only when the backend allows writes)."""
    require_extra("mcp", "mcp", "the MCP server")
    import anyio.to_thread
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("firmwatch", instructions=INSTRUCTIONS, version=__version__)

    async def run(fn: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args))
        except Exception as e:
            if is_user_error(e):
                raise ToolError(sentence(e)) from None
            raise ToolError(internal_error_text(f"in {getattr(fn, '__name__', 'a tool')}", e)) from e

    @server.tool()
    async def list_symbols(pattern: str | None = None, limit: int = 200) -> dict[str, Any]:
        """List the firmware's global and static variables (name, address, size, C type, section, source
        file and line), ordered by address. pattern: a shell glob on the name, e.g. 'sensor*' or '*count*'."""
        return await run(backend.list_symbols, pattern, limit)

    @server.tool()
    async def search_symbols(text: str, limit: int = 50) -> dict[str, Any]:
        """Find variables whose name contains text (case-insensitive), exact and prefix matches first."""
        return await run(backend.search_symbols, text, limit)

    @server.tool()
    async def ptype(expression: str) -> dict[str, Any]:
        """The C type of an expression with its size, address and member layout (offsets, sizes, bitfields),
        as gdb's ptype/o."""
        return await run(backend.ptype, expression)

    @server.tool()
    async def read(expression: str) -> dict[str, Any]:
        """Read a C expression once from the running firmware (it is not halted): its value as JSON
        (enumerators by name, structs as objects, arrays as lists), its display text and its type."""
        return await run(backend.read, expression)

    if backend.allow_write:
        @server.tool()
        async def write(expression: str, value: str) -> dict[str, Any]:
            """Write a value into the variable an expression names, checked as the firmwatch CLI checks it (the
            value fits the type; const data and flash are refused; the value is read back). value: a C literal
            (42, 0x2A, 1.5, an enumerator's name, "text" for a char array) or JSON for a struct's members
            ({"offset": 3}) or an array's elements ([1, 2])."""
            return await run(backend.write, expression, value)

    @server.tool()
    async def watch(expressions: list[str], seconds: float = 2.0, rate_hz: float = 50.0) -> dict[str, Any]:
        """Sample expressions at rate_hz for some seconds and summarise each: samples, min, max, mean, last value,
        device time of the first and last sample, the rate achieved, and every sample lost (by where)."""
        return await run(backend.watch, expressions, seconds, rate_hz)

    @server.tool()
    async def record(expressions: list[str], seconds: float = 5.0, rate_hz: float = 100.0,
                     path: str | None = None) -> dict[str, Any]:
        """Record every sample of expressions for some seconds to a CSV file (the columns of `firmwatch record`:
        session_id, device, seq, target_time_s, host_time_s, name, value). Returns the file's path, the row count, a
        summary per expression and what was lost. path: where to write (default: a new file in the server's
        recording directory)."""
        return await run(backend.record, expressions, seconds, rate_hz, path)

    @server.tool()
    async def memory_health(threshold: int | None = None) -> dict[str, Any]:
        """Stack and heap health of the running firmware: stack pointer, stack high-water mark, heap extent,
        the free gap and the stack-heap collision margin, each with where the number came from, and warnings
        when the margin is under threshold bytes (default 128)."""
        return await run(backend.memory_health, threshold)

    @server.tool()
    async def device_info() -> dict[str, Any]:
        """What the device is: transport, whether its build matches the ELF, byte order, word size, tick rate,
        stream limits, the link's counters, and whether writing is allowed."""
        return await run(backend.device_info)

    return server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m firmwatch.mcp",
                                description="An MCP server (stdio) that lets an agent read a running firmware's "
                                            "variables by name. Read-only unless --allow-write.")
    p.add_argument("elf", nargs="?", help="the ELF the device runs (optional with --sim)")
    p.add_argument("--port", help="the firmware's streamer: a serial device or socket://HOST:PORT")
    p.add_argument("--gdb", metavar="HOST:PORT", help="a GDB server instead of the streamer")
    p.add_argument("--sim", metavar="TARGET", help="start a simulated device: host, cortex-m3, riscv32, avr, host-rust")
    p.add_argument("--server", metavar="COMMAND", help="start this GDB server command line ({port}: a free port)")
    p.add_argument("--transport", choices=("serial", "tcp", "rsp", "gdb"))
    p.add_argument("--baud", type=int)
    p.add_argument("--streamer-mode", choices=("binary", "text"), help="the streamer's link: binary (default) or text")
    p.add_argument("--via-gdb", action="store_true", help="through a gdb process instead of direct RSP")
    p.add_argument("--gdb-path")
    p.add_argument("--budget", type=float, metavar="PERCENT", help="max %% of time sampling may halt the CPU (default 1)")
    p.add_argument("--gdb-mode", choices=("auto", "live", "halt"))
    p.add_argument("--lock-symbol", metavar="NAME")
    p.add_argument("--svd", help="a CMSIS-SVD file: peripheral registers become readable as PERIPH.REG.FIELD")
    p.add_argument("--strict", action="store_true", help="refuse a device whose build id differs from the ELF's")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="another option of firmwatch.connect (repeatable)")
    p.add_argument("--allow-write", action="store_true", help="offer the write tool (off by default)")
    p.add_argument("--record-dir", metavar="DIR", help="where recordings go when no path is given (default: here)")
    return p.parse_args(argv)


def connect_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for name, key in (("port", "port"), ("gdb", "gdb"), ("sim", "sim"), ("server", "server"),
                      ("transport", "transport"), ("baud", "baud"), ("streamer_mode", "streamer_mode"),
                      ("gdb_path", "gdb_path"), ("budget", "budget"),
                      ("gdb_mode", "sampling_mode"), ("lock_symbol", "lock_symbol"), ("svd", "svd")):
        value = getattr(args, name)
        if value is not None:
            kw[key] = value
    if args.via_gdb:
        kw["via_gdb"] = True
    if args.strict:
        kw["strict"] = True
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ApiError(f"--option {item}: write KEY=VALUE, e.g. --option rate=50.")
        try:
            kw[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kw[key.strip()] = value.strip()
    return kw


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        kw = connect_kwargs(args)
        backend = Backend(args.elf, kw, allow_write=args.allow_write, record_dir=args.record_dir)
        if not backend.has_device and args.elf is None:
            raise ApiError("give the firmware's ELF, a device (--port, --gdb, --sim), or both.")
        server = build_server(backend)
    except (ApiError, MissingExtra) as e:
        print(f"firmwatch: {e}", file=sys.stderr)
        return 2
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        backend.close()
    return 0
