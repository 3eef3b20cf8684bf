"""A direct GDB Remote Serial Protocol client (no gdb process) with live sampling.

``RspTarget("127.0.0.1:3333")`` talks to any GDB server — OpenOCD, J-Link GDB Server, pyOCD,
``probe-rs gdb``, QEMU's ``-gdb``, simavr — and implements the :class:`Target` interface plus
execution control (halt, resume, step, breakpoints, watchpoints, registers).

Sampling policy (chosen at connect time, overridable with ``mode=``):

* ``"live"`` — the server answers memory reads while the target runs (simavr; OpenOCD, pyOCD
  and J-Link on Cortex-M read through the debug port's AHB-AP): every round is plain reads.
* ``"halt"`` — it does not (QEMU halts the guest to serve ``m`` and never answers): every round
  halts, reads every due region in one batch, and resumes. An intrusion budget (the maximum
  fraction of time the target may spend halted, 1 % by default) caps the round rate; the
  measured fraction is :meth:`RspTarget.halted_fraction` and ``stats().halted_fraction``.

``Sample.target_time`` is host ``time.monotonic()`` seconds at the end of the round's reads:
a GDB server has no target clock to report. In halt mode the regions of one round are
coherent (read while the CPU is stopped); in live mode each region is read separately, so a
value can change between regions (and a multi-byte value wider than the bus can tear).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from firmwatch.targets import avr_sp, rsp_registers
from firmwatch.targets.base import (
    AccessRefused,
    LinkStats,
    MemoryRegion,
    Region,
    SampleCallback,
    Target,
    TargetError,
    TargetInfo,
    TargetLost,
)
from firmwatch.targets.control import ExecutionControl
from firmwatch.targets.rsp_control import RspControl
from firmwatch.targets.rsp_link import RspLink
from firmwatch.targets.rsp_packets import (
    StopReply,
    escape_binary,
    is_console_output,
    is_stop_reply,
    parse_features,
    parse_stop_reply,
    unescape_binary,
)
from firmwatch.targets.rsp_sampler import RoundResult, Sampler

SERVERS_HINT = "QEMU -gdb tcp::PORT, openocd, JLinkGDBServer, pyocd gdbserver, probe-rs gdb, simavr -g"

# gdb's architecture names (target.xml) -> the ELF machine names of firmwatch.symbols.elf
_XML_ARCH = (
    ("aarch64", "AArch64"),
    ("arm", "ARM"),
    ("riscv", "RISC-V"),
    ("avr", "AVR"),
    ("i386:x86-64", "x86-64"),
    ("i386", "x86"),
    ("xtensa", "Xtensa"),
    ("msp430", "MSP430"),
)
# When a server sends no target.xml, the size of the `g` reply is the best evidence we have.
_G_SIZE_ARCH = {39: "AVR", 168: "ARM", 132: "RISC-V", 264: "RISC-V"}
_ARCH_INFO = {"ARM": ("little", 4), "RISC-V": ("little", 4), "AVR": ("little", 2), "AArch64": ("little", 8)}

# Z packet types and the capability each one gives when the server accepts it.
Z_SW_BREAK, Z_HW_BREAK, Z_WRITE_WATCH, Z_READ_WATCH, Z_ACCESS_WATCH = range(5)
# single steps tried to leave a breakpoint the CPU stands on (see _step_off_breakpoint)
STEP_OFF_TRIES = 4
_Z_CAPS = {0: "breakpoints", 1: "hw-breakpoints", 2: "watchpoints", 3: "read-watchpoints", 4: "access-watchpoints"}
_Z_NAMES = {0: "software breakpoints", 1: "hardware breakpoints", 2: "write watchpoints",
            3: "read watchpoints", 4: "access watchpoints"}
_WATCH_TYPES = {"write": Z_WRITE_WATCH, "read": Z_READ_WATCH, "access": Z_ACCESS_WATCH}


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """``"host:port"``, ``":port"``, ``"port"`` or ``(host, port)`` → (host, port)."""
    if isinstance(address, tuple):
        return address[0] or "127.0.0.1", int(address[1])
    text = address.strip()
    if text.startswith("tcp:"):
        text = text[4:]
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise TargetError(f"'{address}' is not a GDB server address; write HOST:PORT, e.g. localhost:3333.") from None
    if not 0 < number < 65536:
        raise TargetError(f"port {number} is out of range; GDB servers listen on ports 1-65535 (often 3333 or 1234).")
    return host, number


def parse_memory_map(xml: str) -> list[MemoryRegion]:
    """``qXfer:memory-map`` XML → regions (RAM writable; flash and ROM read-only to us)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    out = []
    for m in root.iter("memory"):
        try:
            start, length = int(m.get("start", ""), 0), int(m.get("length", ""), 0)
        except ValueError:
            continue
        out.append(MemoryRegion(start, length, readable=True, writable=m.get("type") == "ram"))
    return out


def _check_budget(budget: float | None) -> None:
    if budget is not None and not 0 < budget <= 1:
        raise TargetError(f"an intrusion budget is a fraction of time above 0 and at most 1 (got {budget:g}); 0.01 is 1 %.")


class RspTarget(Target):
    """A GDB server reached over TCP. Thread-safe: one lock serialises the link."""

    DEFAULT_BUDGET = 0.01
    MERGE_GAP = 32  # bytes: regions closer than this are read with one packet
    PIPELINE_MAX = 16  # packets queued behind an interrupt at most

    def __init__(
        self,
        address: str | tuple[str, int],
        *,
        expect_arch: str | None = None,
        mode: str = "auto",
        budget: float | None = DEFAULT_BUDGET,
        lock: tuple[int, int] | None = None,
        run: bool = True,
        timeout: float = 2.0,
        connect_timeout: float = 3.0,
        probe_timeout: float = 0.3,
        probe_breakpoints: bool = True,
        on_link: Callable[[str, str], None] | None = None,
    ):
        """Connect and negotiate; leave the target running when ``run`` (the default).

        ``mode``: "auto" (probe whether memory reads are answered while running), "live" or
        "halt". ``budget``: maximum fraction of time halted by sampling (None: no cap).
        ``lock``: (address, size) of a flag the firmware sets while it updates the data;
        sampling rounds then halt, and skip the round while the flag is non-zero.
        ``expect_arch``: the ELF's machine ("ARM", "RISC-V", "AVR"); a server debugging
        another architecture is refused with a sentence. ``on_link(state, sentence)`` is
        called from the sampler thread as the streamer's is: "lost" when the server is gone,
        "error" when a sampling round failed (a refused address) and sampling carries on.
        """
        if mode not in ("auto", "live", "halt"):
            raise TargetError(f"sampling mode '{mode}' is unknown; use auto, live or halt.")
        _check_budget(budget)
        self.host, self.port = parse_address(address)
        self.where = f"{self.host}:{self.port}"
        self.timeout = timeout
        self._io = threading.RLock()
        self._state = "stopped"  # "running" | "stopped" | "exited"
        self._last_stop: StopReply | None = None
        self._unclaimed_stop: StopReply | None = None  # a real stop nobody has waited for yet
        self._stop_callbacks: list[Callable[[StopReply], None]] = []
        self._pending_callbacks: list[StopReply] = []
        self._points: dict[tuple[int, int], int] = {}  # (type, address) -> kind
        self._interrupt_signal: int | None = None  # learned: what the server answers to \x03
        self._own_stop: StopReply | None = None  # the reply to our latest \x03
        self._halted_s = 0.0
        self._acct_t0 = time.monotonic()
        self._use_x: bool | None = None
        self._vcont: set[str] = set()  # actions the server's vCont supports
        self._pipeline = False  # the server takes packets queued behind \x03 (see _batch)
        self._pid: int | None = None
        self.server_features: dict[str, str | bool] = {}
        self.target_xml: str | None = None
        self.memory_map: list[MemoryRegion] = []  # from qXfer:memory-map, when the server has one
        self.arch: str | None = None
        self.live: bool = False
        self._live_regs: bool | None = None  # does the server answer `p` while running (None: not tried)
        self.packet_size = 400
        self._control: RspControl | None = None

        self.link = self._connect(connect_timeout)
        try:
            self._negotiate()
            self._check_arch(expect_arch)
            caps = {"read", "read-batch", "write", "stream", "halt", "resume", "step", "registers", "detach"}
            if probe_breakpoints:
                caps |= self._probe_points()
            else:
                caps |= {"breakpoints", "watchpoints"}
            if mode == "auto":
                self.live = self._probe_live(probe_timeout)
            else:
                self.live = mode == "live"
            if self.live:
                caps.add("live-read")
            else:
                self._pipeline = self._probe_pipeline(probe_timeout)
            self.capabilities = frozenset(caps)
            if run and self._state == "stopped":
                self._continue()
            elif not run and self._state == "running":  # the live-read probe resumed it
                self._halt_transient()
            self.link.flush_ack()
        except BaseException:
            self.link.close()
            raise
        self._link_callbacks: list[Callable[[str, str], None]] = [on_link] if on_link else []
        self._sampler = Sampler(self._round, budget=budget, lock=lock, idle=self.poll)
        self._sampler.on_error = self._sampling_error
        self._sampler.start()

    def on_link(self, callback: Callable[[str, str], None]) -> None:
        """Add a link callback: ``callback("lost" | "error", one-sentence message)``."""
        self._link_callbacks.append(callback)

    def _sampling_error(self, e: TargetError) -> None:
        state = "lost" if isinstance(e, TargetLost) else "error"
        for cb in list(self._link_callbacks):
            try:
                cb(state, str(e))
            except Exception:  # a front end's callback must not stop sampling
                pass

    @property
    def error(self) -> TargetError | None:
        """Why sampling stopped (the server was lost), or None."""
        return self._sampler.error

    # -- connection and negotiation -----------------------------------------------------------
    def _connect(self, timeout: float) -> RspLink:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except ConnectionRefusedError:
            raise TargetError(
                f"nothing is listening on {self.where}: start the GDB server ({SERVERS_HINT}) or check the port."
            ) from None
        except TimeoutError:
            raise TargetError(
                f"{self.where} did not accept a connection within {timeout:g} s: check the host, the port "
                "and any firewall in between."
            ) from None
        except socket.gaierror:
            raise TargetError(f"the host '{self.host}' is unknown; check the GDB server address.") from None
        except OSError as e:
            raise TargetError(f"cannot connect to the GDB server at {self.where} ({e.strerror or e}); check the address.") from None
        return RspLink(sock, self.where)

    def _negotiate(self) -> None:
        link = self.link
        link.ack()
        try:
            reply = self._cmd(b"qSupported:swbreak+;hwbreak+;vContSupported+")
        except TargetLost:
            raise TargetError(
                f"{self.where} accepted the connection but did not answer as a GDB server: check the port, "
                "and close any other debugger connected to it (most servers serve one client at a time)."
            ) from None
        self.server_features = parse_features(reply)
        size = self.server_features.get("PacketSize")
        if isinstance(size, str):
            with contextlib.suppress(ValueError):
                self.packet_size = max(64, int(size, 16))
        if self.server_features.get("QStartNoAckMode") is True and self._cmd(b"QStartNoAckMode") == b"OK":
            link.ack_mode = False
        vcont = self._cmd(b"vCont?")
        if vcont.startswith(b"vCont"):
            self._vcont = {a for a in vcont.decode("ascii", "replace").split(";")[1:] if a}
        stop = self._query_stop()
        if stop.kind != "signal":
            raise TargetError(f"the target is not running a program ({stop}); load and start the firmware first.")
        self._last_stop = stop
        if stop.thread and stop.thread.startswith("p"):
            with contextlib.suppress(ValueError):
                self._pid = int(stop.thread[1:].split(".")[0], 16)
        if self.server_features.get("qXfer:features:read") is True:
            with contextlib.suppress(TargetError):
                self.target_xml = self._read_xfer("features", "target.xml").decode("utf-8", "replace")
        self.arch = self._detect_arch()
        if self.server_features.get("qXfer:memory-map:read") is True:
            with contextlib.suppress(TargetError):
                self.memory_map = parse_memory_map(self._read_xfer("memory-map", "").decode("utf-8", "replace"))

    def _query_stop(self) -> StopReply:
        self.link.send(b"?")
        # an unsolicited stop reply may precede ours (QEMU on connect); both say "halted"
        stop = self._wait_stop_packet(self.timeout, what="the initial status query")
        while True:
            extra = self.link.recv(0.02)
            if extra is None:
                return stop
            if is_stop_reply(extra):
                stop = parse_stop_reply(extra)

    def _read_xfer(self, obj: str, annex: str) -> bytes:
        out = bytearray()
        chunk = max(64, self.packet_size - 32)
        while True:
            reply = self._cmd(f"qXfer:{obj}:read:{annex}:{len(out):x},{chunk:x}".encode())
            if not reply or reply[:1] == b"E":
                raise TargetError(f"the GDB server did not send {annex}.")
            out += unescape_binary(reply[1:])
            if reply[:1] == b"l":
                return bytes(out)

    def _detect_arch(self) -> str | None:
        if self.target_xml:
            m = re.search(r"<architecture>\s*([^<\s]+)\s*</architecture>", self.target_xml)
            if m:
                name = m.group(1).lower()
                for prefix, arch in _XML_ARCH:
                    if name.startswith(prefix):
                        return arch
                return name
        try:
            return _G_SIZE_ARCH.get(len(self._raw_registers()))
        except TargetError:
            return None

    def _check_arch(self, expect: str | None) -> None:
        if not expect or not self.arch:
            return
        norm = {"RISCV": "RISC-V", "EM_ARM": "ARM", "EM_AVR": "AVR", "EM_RISCV": "RISC-V"}
        want = norm.get(expect.upper(), expect)
        if want.upper() != self.arch.upper():
            raise TargetError(
                f"the GDB server at {self.where} debugs a {self.arch} target but the ELF is built for {want}: "
                "connect to the server of the board that runs this firmware, or open the ELF built for it."
            )

    def _probe_points(self) -> set[str]:
        """Which Z packets the server accepts: insert and remove each at the current PC."""
        caps: set[str] = set()
        try:
            pc = self.pc()
        except TargetError:
            return {"breakpoints", "watchpoints"}
        for ztype, cap in _Z_CAPS.items():
            kind = self._bp_kind(pc) if ztype < 2 else 1
            reply = self._cmd(b"Z%d,%x,%x" % (ztype, pc, kind))
            if reply == b"OK":
                self._cmd(b"z%d,%x,%x" % (ztype, pc, kind))
                caps.add(cap)
            elif reply[:1] == b"E":  # understood, but not possible right here
                caps.add(cap)
        return caps

    def _probe_live(self, probe_timeout: float) -> bool:
        """Resume, send one ``m``: an answer means memory is readable while the target runs.

        QEMU instead halts the guest, drops the packet and sends a stop reply; a server that
        says nothing is interrupted, and a late answer is drained so the link stays in step.
        """
        try:
            address = self.pc()
        except TargetError:
            address = 0
        link = self.link
        self._continue()
        link.send(b"m%x,1" % address)
        deadline = time.monotonic() + probe_timeout
        while True:
            pkt = link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                break
            if is_console_output(pkt):
                continue
            if is_stop_reply(pkt):  # the server stopped the target to serve the read
                self._state = "stopped"
                self._drain(0.05)
                return False
            return True  # data or an error code: either way it answered while running
        # no answer yet: stop the target, and see whether the answer was only slow
        link.interrupt()
        answered_late = False
        deadline = time.monotonic() + self.timeout
        while True:
            pkt = link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                raise self._timeout_lost("an interrupt after the live-read probe")
            if is_stop_reply(pkt):
                break
            answered_late = answered_late or not is_console_output(pkt)
        self._state = "stopped"
        return self._drain(0.2) or answered_late

    def _probe_pipeline(self, probe_timeout: float) -> bool:
        """Does a read queued in the same write as \\x03 get answered once the target stops?

        QEMU handles the bytes of one write in order (stop, then each read); simavr reads one
        packet per socket read and drops the rest, so two reads are queued. Leaves the target
        halted.
        """
        try:
            address = self.pc()
        except TargetError:
            address = 0
        self._continue()
        self.link.interrupt(then=[b"m%x,1" % address] * 2)
        stop: StopReply | None = None
        answered = 0
        deadline = time.monotonic() + probe_timeout
        while stop is None or answered < 2:
            pkt = self.link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                break
            if is_stop_reply(pkt):
                stop = stop or parse_stop_reply(pkt)
            elif not is_console_output(pkt):
                answered += 1
        if stop is None:
            self._wait_stop_packet(self.timeout, what="an interrupt after the pipelining probe")
        self._state = "stopped"
        if answered < 2:
            self._drain(0.2)
        return answered == 2

    def _drain(self, seconds: float) -> bool:
        """Discard what arrives within ``seconds``; True if that included a non-stop reply."""
        data = False
        while (pkt := self.link.recv(seconds)) is not None:
            data = data or not (is_stop_reply(pkt) or is_console_output(pkt))
        return data

    # -- packet exchange ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _op(self) -> Iterator[None]:
        """Hold the link; run stop callbacks after releasing it (they may call back in)."""
        with self._io:
            try:
                yield
            finally:
                with contextlib.suppress(TargetLost):
                    self.link.flush_ack()
            pending, self._pending_callbacks = self._pending_callbacks, []
        for stop in pending:
            for cb in list(self._stop_callbacks):
                try:
                    cb(stop)
                except Exception:  # a front end's callback must not break the link
                    pass

    def _timeout_lost(self, what: str) -> TargetLost:
        return self.link.lost(
            f"the GDB server at {self.where} did not answer {what} within {self.timeout:g} s: it is hung or "
            "lost the target; restart the server and reconnect."
        )

    def _cmd(self, payload: bytes, timeout: float | None = None) -> bytes:
        """Send a packet and return its reply (stop replies that arrive meanwhile are handled)."""
        link = self.link
        link.send(payload)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            pkt = link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                name = payload.split(b",")[0][:20].decode("ascii", "replace")
                raise self._timeout_lost(f"the '{name}' request")
            if is_console_output(pkt):
                continue
            if is_stop_reply(pkt):
                if self._state == "running":
                    self._record_stop(parse_stop_reply(pkt))
                # else a stray stop reply (simavr also answers \x03 while halted): not ours
                continue
            return pkt

    def _wait_stop_packet(self, timeout: float, what: str) -> StopReply:
        deadline = time.monotonic() + timeout
        while True:
            pkt = self.link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                raise self._timeout_lost(what)
            if is_stop_reply(pkt):
                return parse_stop_reply(pkt)
            # console output, or a late reply to something abandoned: not ours to return

    def _record_stop(self, stop: StopReply) -> None:
        self._state = "exited" if stop.kind != "signal" else "stopped"
        self._last_stop = stop
        self._unclaimed_stop = stop
        self._pending_callbacks.append(stop)

    def _continue(self) -> float:
        """Resume; returns the moment the packet left (the end of a halt, for accounting)."""
        before = self.link.acks
        self.link.send(b"vCont;c" if "c" in self._vcont else b"c")
        sent = time.monotonic()
        self._state = "running"
        self._unclaimed_stop = None
        if not self._pipeline:  # a server that takes queued packets needs no pause here
            self.link.wait_ack(before, self.timeout)
        return sent

    def _check_alive(self) -> None:
        self.link.check()
        if self._state == "exited":
            raise TargetError(f"the program on the target has ended ({self._last_stop}); restart it and reconnect.")

    def poll(self) -> None:
        """Pick up a stop the target reported on its own (breakpoint hit while running)."""
        with self._op(), contextlib.suppress(TargetLost):
            self._poll_locked()

    def _poll_locked(self) -> None:
        if self._state != "running":
            return
        while (pkt := self.link.poll()) is not None:
            if is_stop_reply(pkt):
                self._record_stop(parse_stop_reply(pkt))

    def _is_own_stop(self, stop: StopReply) -> bool:
        """Did the target stop because of our \\x03 rather than a breakpoint or watchpoint?"""
        if stop.kind != "signal" or stop.reason in ("watch", "rwatch", "awatch", "swbreak", "hwbreak"):
            return False
        if stop.signal == 2:
            return True
        if self._interrupt_signal is not None and stop.signal != self._interrupt_signal:
            return False
        if not self._points:
            return True
        # servers that answer \x03 with SIGTRAP (simavr): a stop at one of our breakpoints is real
        pc_reg = rsp_registers.find(self.arch, "pc")
        pc_bytes = stop.registers.get(pc_reg.number) if pc_reg is not None else None
        pc = int.from_bytes(pc_bytes, "little") if pc_bytes else self.pc()
        if any(addr == pc and t in (0, 1) for (t, addr) in self._points):
            return False
        return not any(t >= 2 for (t, _) in self._points)

    def _halt_transient(self) -> bool:
        """Stop a running target for an access. True: it was us, resume afterwards."""
        self._poll_locked()
        if self._state != "running":
            return False
        self.link.interrupt()
        stop = self._wait_stop_packet(self.timeout, what="an interrupt (\\x03)")
        self._state = "stopped"  # before classifying: that may read the PC, which must not halt again
        if self._interrupt_signal is None and not self._points and stop.kind == "signal":
            self._interrupt_signal = stop.signal
        if self._is_own_stop(stop):
            self._own_stop = stop
            return True
        self._record_stop(stop)
        return False

    @contextlib.contextmanager
    def _halted(self, need: bool = True) -> Iterator[None]:
        """Run the body with the target halted (briefly, if it was running); accounts the time."""
        self._check_alive()
        if not need or self._state != "running":
            yield
            return
        t0 = time.monotonic()
        ours = self._halt_transient()
        try:
            yield
        finally:
            if ours and not self.link.is_lost:
                self._halted_s += self._continue() - t0

    # -- memory -------------------------------------------------------------------------------
    @property
    def _max_read(self) -> int:
        return max(16, (self.packet_size - 16) // 2)

    def _read_mem(self, address: int, size: int) -> bytes:
        return self._read_spans([(address, size)], None)[0]

    def _chunks(self, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The ``m`` packets (address, length) that read ``spans``, at most one packet each."""
        step = self._max_read
        return [(a + off, min(step, n - off)) for a, n in spans for off in range(0, n, step)]

    def _read_spans(self, spans: Sequence[tuple[int, int]], replies: Sequence[bytes] | None) -> list[bytes]:
        """Read each (address, size); ``replies``: answers already received for ``_chunks(spans)``."""
        it = iter(replies) if replies is not None else None
        out = []
        for start, size in spans:
            buf = bytearray()
            for addr, n in self._chunks([(start, size)]):
                reply = next(it) if it is not None else self._cmd(b"m%x,%x" % (addr, n))
                if not reply or reply[:1] == b"E":
                    raise self._refused("read", size, start, reply)
                try:
                    data = bytes.fromhex(reply.decode("ascii"))
                except ValueError:
                    raise TargetError(
                        f"the GDB server sent a malformed memory reply at 0x{addr:x}; report this server's version."
                    ) from None
                if not data:
                    raise self._refused("read", size, start, reply)
                if len(data) < n:  # a server may answer part of a read: ask for the rest
                    data += self._read_spans([(addr + len(data), n - len(data))], None)[0]
                buf += data[:n]
            out.append(bytes(buf))
        return out

    def _merge(self, regions: Sequence[Region]) -> list[tuple[int, int]]:
        """Neighbouring regions merged into spans: each packet is a round trip (and, in halt
        mode, halted time), so reading a small gap between two variables is cheaper."""
        spans: list[list[int]] = []
        for r in sorted(regions, key=lambda r: r.address):
            end = r.address + r.size
            if spans and r.address <= spans[-1][1] + self.MERGE_GAP and end - spans[-1][0] <= self._max_read:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([r.address, end])
        return [(a, e - a) for a, e in spans]

    def _read_regions(self, regions: Sequence[Region], replies: Sequence[bytes] | None = None) -> list[bytes]:
        """Read regions with as few packets as possible (``replies``: see ``_batch``)."""
        spans = self._merge(regions)
        try:
            blobs = list(zip([a for a, _ in spans], self._read_spans(spans, replies)))
        except AccessRefused:
            if len(spans) == len(regions):
                raise
            # a gap between two regions may be unreadable: exact reads say which region fails
            return [self._read_mem(r.address, r.size) for r in regions]
        out = []
        for r in regions:
            for a, blob in blobs:
                if a <= r.address and r.address + r.size <= a + len(blob):
                    out.append(blob[r.address - a : r.address - a + r.size])
                    break
        return out

    def _batch(self, regions: Sequence[Region], need_halt: bool) -> tuple[list[bytes], float]:
        """Read ``regions`` in one round, halting first when ``need_halt`` and running.

        Where the server takes packets queued behind an interrupt (checked at connect), the
        reads go out in the same write as the \\x03: the halt costs no extra round trip.
        """
        self._check_alive()
        chunks = self._chunks(self._merge(regions))
        if not (need_halt and self._pipeline and self._state == "running" and len(chunks) <= self.PIPELINE_MAX):
            with self._halted(need=need_halt):
                return self._read_regions(regions), time.monotonic()
        t0 = time.monotonic()
        ours, replies = self._halt_pipelined([b"m%x,%x" % c for c in chunks])
        try:
            return self._read_regions(regions, replies), time.monotonic()
        finally:
            if ours and not self.link.is_lost:
                self._halted_s += self._continue() - t0

    def _halt_pipelined(self, packets: list[bytes]) -> tuple[bool, list[bytes] | None]:
        """\\x03 with ``packets`` behind it; (was the stop ours, their replies or None)."""
        self._poll_locked()
        if self._state != "running":
            return False, None
        self.link.interrupt(then=packets)
        stop: StopReply | None = None
        replies: list[bytes] = []
        deadline = time.monotonic() + self.timeout
        while stop is None or len(replies) < len(packets):
            pkt = self.link.recv(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                raise self._timeout_lost("an interrupt (\\x03) and the reads queued behind it")
            if is_console_output(pkt):
                continue
            if is_stop_reply(pkt):
                if stop is None:
                    stop = parse_stop_reply(pkt)
                continue  # a second stop reply to one interrupt
            replies.append(pkt)
        self._state = "stopped"
        if self._is_own_stop(stop):
            self._own_stop = stop
            return True, replies
        self._record_stop(stop)
        return False, replies

    def _refused(self, verb: str, size: int, address: int, reply: bytes) -> AccessRefused:
        code = 0
        if reply[:1] == b"E":
            with contextlib.suppress(ValueError):
                code = int(reply[1:3], 16)
        why = f"error {reply.decode('ascii', 'replace')}" if reply else "no data"
        return AccessRefused(
            f"the GDB server refused to {verb} {size} byte{'s' if size != 1 else ''} at 0x{address:x} ({why}): "
            "the address is not mapped or not accessible on this target; check it against the ELF's memory map.",
            code,
            address,
        )

    def _write_mem(self, address: int, data: bytes) -> None:
        chunk = max(8, (self.packet_size - 32) // 2)
        for off in range(0, len(data), chunk):
            part = data[off : off + chunk]
            addr = address + off
            reply = b""
            if self._use_x is not False:
                reply = self._cmd(b"X%x,%x:" % (addr, len(part)) + escape_binary(part))
                if reply == b"" and self._use_x is None:
                    self._use_x = False
                elif reply == b"OK":
                    self._use_x = True
            if self._use_x is False:
                reply = self._cmd(b"M%x,%x:" % (addr, len(part)) + part.hex().encode())
            if reply != b"OK":
                raise self._refused("write", len(data), address, reply)

    def read(self, address: int, size: int) -> bytes:
        with self._op():
            return self._batch([Region(address, size)], need_halt=not self.live)[0][0]

    def read_batch(self, regions: Sequence[Region]) -> list[bytes]:
        """Read several regions in one round; coherent (one halt) unless the mode is live."""
        with self._op():
            return self._batch(regions, need_halt=not self.live)[0]

    def write(self, address: int, data: bytes) -> bytes:
        with self._op(), self._halted(need=not self.live):
            self._write_mem(address, bytes(data))
            return self._read_mem(address, len(data))

    # -- sampling -----------------------------------------------------------------------------
    def _round(self, regions: Sequence[Region], lock: tuple[int, int] | None) -> RoundResult:
        """One sampling round (called by the sampler thread).

        With a lock flag the flag is read in the same halt as the regions: the CPU cannot
        take the lock between the two, so a clear flag vouches for the data beside it.
        """
        with self._op():
            halted0 = self._halted_s
            reads = list(regions) + ([Region(lock[0], lock[1])] if lock is not None else [])
            blobs, t_read = self._batch(reads, need_halt=not self.live or lock is not None)
            busy = lock is not None and any(blobs[-1])
            data = None if busy else blobs[: len(regions)]
            return RoundResult(data, t_read, time.time(), halted=self._halted_s - halted0)

    def start_stream(self, regions: Sequence[Region], rate_hz: float) -> int:
        self.link.check()
        if not regions:
            raise TargetError("a stream needs at least one memory region.")
        if not self._sampler.has_streams():
            self.reset_intrusion()
        return self._sampler.add(list(regions), rate_hz)

    def stop_stream(self, stream: int | None = None) -> None:
        self._sampler.remove(stream)

    def on_sample(self, callback: SampleCallback) -> None:
        self._sampler.callback = callback

    def set_budget(self, budget: float | None) -> None:
        """Maximum fraction of time the sampler may keep the target halted (None: no cap)."""
        _check_budget(budget)
        self._sampler.set_budget(budget)

    @property
    def budget(self) -> float | None:
        return self._sampler.budget

    def set_lock(self, address: int | None, size: int = 1) -> None:
        """Sample only while the firmware's flag at ``address`` is zero (rounds then halt)."""
        self._sampler.set_lock(None if address is None else (address, size))

    @property
    def sampling_mode(self) -> str:
        return "live" if self.live and self._sampler.lock is None else "halt"

    @property
    def sampling_policy(self) -> str:
        """In words, for status lines: "halt sampling, budget 1 %", "live sampling"."""
        if self.sampling_mode == "live":
            return "live sampling"
        budget = self._sampler.budget
        return f"halt sampling, budget {100 * budget:g} %" if budget else "halt sampling, no budget cap"

    @property
    def pipelined(self) -> bool:
        """Halt-mode reads travel in the same write as the interrupt (probed at connect)."""
        return self._pipeline

    def halted_fraction(self) -> float:
        """Fraction of wall time the target spent halted by us since sampling (re)started."""
        elapsed = time.monotonic() - self._acct_t0
        return self._halted_s / elapsed if elapsed > 0 else 0.0

    def intrusion(self) -> tuple[float, float, float]:
        """(seconds halted by us, seconds since accounting started, the latest round's halt).

        The budget delays the round after a halt, so at any instant the halted time minus the
        latest round's halt is at most ``budget`` times the elapsed time; a load spike inside
        that last round can lift the instantaneous fraction above the budget until its gate passes.
        """
        with self._io:
            return self._halted_s, time.monotonic() - self._acct_t0, self._sampler.last_halted_s

    def reset_intrusion(self) -> None:
        with self._io:
            self._halted_s = 0.0
            self._acct_t0 = time.monotonic()

    def stats(self, refresh_device: bool = False) -> LinkStats:
        s = self._sampler
        return LinkStats(
            samples=s.samples,
            lost=0,
            corrupt_frames=self.link.bad_frames,
            halted_fraction=self.halted_fraction(),
            lock_skips=s.lock_skips,
        )

    @property
    def sampler(self) -> Sampler:
        return self._sampler

    # -- execution control --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the target runs (a sampling round's brief halt in progress is waited out)."""
        with self._io:
            return self._state == "running"

    @property
    def last_stop(self) -> StopReply | None:
        return self._last_stop

    def on_stop(self, callback: Callable[[StopReply], None]) -> None:
        """Called (from the sampler or the caller's thread) whenever the target stops on its own."""
        self._stop_callbacks.append(callback)

    def halt(self) -> StopReply:
        with self._op():
            self._check_alive()
            if self._state == "running" and self._halt_transient():
                self._last_stop = self._own_stop
            self._unclaimed_stop = None
            assert self._last_stop is not None
            return self._last_stop

    def resume(self) -> None:
        with self._op():
            self._check_alive()
            if self._state != "running":
                self._step_off_breakpoint()
                if self._state == "stopped":
                    self._continue()

    def step(self) -> StopReply:
        """Execute one instruction and return why the target stopped."""
        with self._op():
            self._check_alive()
            if self._state == "running":
                self._halt_transient()
            return self._step_off_breakpoint() or self._step_raw()

    def _step_raw(self) -> StopReply:
        self.link.send(b"vCont;s" if "s" in self._vcont else b"s")
        self._state = "running"
        stop = self._wait_stop_packet(self.timeout, what="a single step")
        self._state = "exited" if stop.kind != "signal" else "stopped"
        self._last_stop = stop
        self._unclaimed_stop = None
        return stop

    def _step_from(self, pc: int) -> StopReply:
        """One instruction from ``pc``, asked again while the server answers with a trap and the
        PC still at ``pc`` (nothing ran: see _step_off_breakpoint), at most STEP_OFF_TRIES times."""
        for _ in range(STEP_OFF_TRIES - 1):
            stop = self._step_raw()
            if stop.kind != "signal" or stop.signal != 5 or stop.reason is not None or self.pc() != pc:
                return stop  # it moved, or stopped for another reason (a watchpoint, the end)
        return self._step_raw()

    def _step_off_breakpoint(self) -> StopReply | None:
        """At one of our breakpoints: lift it, step one instruction, put it back.

        Resuming on top of an inserted breakpoint would stop again at once on most servers;
        gdb steps over it the same way.

        QEMU (7.2, Cortex-M3) now and then answers the single step with a trap and the PC where it
        was: nothing ran. Continuing from there trips the breakpoint just put back, and the same
        call is counted twice (a hit count stopped a call early). gdb steps over again while the
        thread still stands on the breakpoint (infrun.c, thread_still_needs_step_over_bp); so do
        we, a few times: an instruction that branches to itself never leaves, and then the next
        hit is a real one.
        """
        here = [key for key in self._points if key[0] in (Z_SW_BREAK, Z_HW_BREAK)]
        if not here:
            return None
        pc = self.pc()
        here = [key for key in here if key[1] == pc]
        if not here:
            return None
        for ztype, addr in here:
            self._cmd(b"z%d,%x,%x" % (ztype, addr, self._points[(ztype, addr)]))
        try:
            return self._step_from(pc)
        finally:
            for ztype, addr in here:
                self._cmd(b"Z%d,%x,%x" % (ztype, addr, self._points[(ztype, addr)]))

    def finish_access(self) -> StopReply:
        """After a watchpoint stop on a core that traps *before* the access (ARM and RISC-V on
        QEMU): lift the watchpoints, execute that one instruction, put them back, so the stop
        shows the value written, as gdb does for these architectures. QEMU (RISC-V) now and then
        answers that step with nothing run, as it does when stepping off a breakpoint: the stop
        then showed the old value (1 run in 8 of the control contract); it is stepped again."""
        with self._op():
            self._check_alive()
            watches = [key for key in self._points if key[0] >= Z_WRITE_WATCH]
            for ztype, addr in watches:
                self._cmd(b"z%d,%x,%x" % (ztype, addr, self._points[(ztype, addr)]))
            try:
                return self._step_off_breakpoint() or self._step_from(self.pc())
            finally:
                for ztype, addr in watches:
                    self._cmd(b"Z%d,%x,%x" % (ztype, addr, self._points[(ztype, addr)]))

    def wait_stop(self, timeout: float) -> StopReply | None:
        """Wait until the running target stops (breakpoint, watchpoint, exit); None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._op():
                self.link.check()
                if self._unclaimed_stop is not None:
                    stop, self._unclaimed_stop = self._unclaimed_stop, None
                    return stop
                if self._state != "running":
                    return self._last_stop
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                pkt = self.link.recv(min(left, 0.05))
                if pkt is not None and is_stop_reply(pkt):
                    self._record_stop(parse_stop_reply(pkt))

    def _bp_kind(self, address: int) -> int:
        if self.arch == "RISC-V":
            try:
                half = self._read_mem(address, 2)
            except TargetError:
                return 4
            return 4 if half[0] & 3 == 3 else 2
        return 2 if self.arch in ("ARM", "AVR") else 1

    def insert_point(self, ztype: int, address: int, kind: int | None = None) -> None:
        """Z0 (software breakpoint) … Z4 (access watchpoint); ``kind`` is the length/mode."""
        with self._op(), self._halted():
            if kind is None:
                kind = self._bp_kind(address) if ztype < 2 else 4
            reply = self._cmd(b"Z%d,%x,%x" % (ztype, address, kind))
            if reply == b"":
                raise TargetError(f"the GDB server at {self.where} does not support {_Z_NAMES[ztype]}; use another kind.")
            if reply != b"OK":
                raise TargetError(
                    f"the GDB server could not set {_Z_NAMES[ztype][:-1]} at 0x{address:x} ({reply.decode('ascii', 'replace')}): "
                    "the hardware units may all be in use, or the address is not valid; remove one or pick another address."
                )
            self._points[(ztype, address)] = kind

    def remove_point(self, ztype: int, address: int) -> None:
        with self._op(), self._halted():
            kind = self._points.pop((ztype, address), None)
            if kind is None:
                return
            self._cmd(b"z%d,%x,%x" % (ztype, address, kind))

    def add_breakpoint(self, address: int, hardware: bool = False) -> None:
        self.insert_point(Z_HW_BREAK if hardware else Z_SW_BREAK, address)

    def remove_breakpoint(self, address: int, hardware: bool = False) -> None:
        self.remove_point(Z_HW_BREAK if hardware else Z_SW_BREAK, address)

    def add_watchpoint(self, address: int, size: int, access: str = "write") -> None:
        if access not in _WATCH_TYPES:
            raise TargetError(f"watchpoint access '{access}' is unknown; use write, read or access.")
        self.insert_point(_WATCH_TYPES[access], address, size)

    def remove_watchpoint(self, address: int, access: str = "write") -> None:
        self.remove_point(_WATCH_TYPES[access], address)

    # -- registers ----------------------------------------------------------------------------
    def _raw_registers(self) -> bytes:
        reply = self._cmd(b"g")
        if not reply or reply[:1] == b"E":
            raise TargetError(f"the GDB server would not read the registers ({reply.decode('ascii', 'replace') or 'no reply'}).")
        # 'xx' marks a register the server cannot read; report it as zero bytes
        return bytes.fromhex(reply.decode("ascii").replace("x", "0"))

    def read_registers(self) -> bytes:
        """The whole register file (``g``), in the server's order and the target's byte order."""
        with self._op(), self._halted():
            return self._raw_registers()

    def write_registers(self, data: bytes) -> None:
        with self._op(), self._halted():
            if self._cmd(b"G" + data.hex().encode()) != b"OK":
                raise TargetError("the GDB server refused to write the register file.")

    def read_register(self, number: int) -> bytes:
        with self._op(), self._halted():
            reply = self._cmd(b"p%x" % number)
            if not reply or reply[:1] == b"E":
                raise TargetError(f"the GDB server has no register number {number} ({reply.decode('ascii', 'replace') or 'not supported'}).")
            return bytes.fromhex(reply.decode("ascii").replace("x", "0"))

    def write_register(self, number: int, value: bytes) -> None:
        with self._op(), self._halted():
            if self._cmd(b"P%x=" % number + value.hex().encode()) != b"OK":
                raise TargetError(f"the GDB server refused to write register number {number}.")

    def pc(self) -> int:
        """The program counter (needs a known architecture)."""
        reg = rsp_registers.find(self.arch, "pc")
        if reg is None:
            raise TargetError(f"the program counter of a {self.arch or 'unknown'} target is not known to firmwatch.")
        with self._op(), self._halted():
            return self._register_locked(reg)

    def register_value(self, name: str) -> int:
        """One core register by name ("pc", "sp", "r0", ...; rsp_registers.py lists them); a
        pointer register as an ELF address (the AVR's SP in data space)."""
        reg = rsp_registers.find(self.arch, name)
        if reg is None:
            raise TargetError(f"a {self.arch or 'target of unknown architecture'} has no core register '{name}' "
                              "that firmwatch knows.")
        with self._op(), self._halted():
            return self._register_locked(reg) + reg.space

    def _register_locked(self, reg: rsp_registers.RegisterDef) -> int:
        """`p`, or the `g` reply where the server has no `p` (held link, target halted)."""
        reply = self._cmd(b"p%x" % reg.number)
        if reply and reply[:1] != b"E":
            return int.from_bytes(bytes.fromhex(reply.decode("ascii").replace("x", "0")), "little")
        return int.from_bytes(self._raw_registers()[reg.offset : reg.offset + reg.size], "little")

    def _avr_sp_locked(self, raw: bytes | None = None) -> int:
        """The AVR's SP with a write to it under way completed (avr_sp.py says why): SP, PC and the
        registers from one `g` reply, and the program bytes at PC."""
        if raw is None:
            raw = self._raw_registers()
        sp_def, pc_def = rsp_registers.find("AVR", "sp"), rsp_registers.find("AVR", "pc")
        assert sp_def is not None and pc_def is not None
        if len(raw) < pc_def.offset + pc_def.size:
            raise TargetError(f"the GDB server's register file is {len(raw)} bytes, too short for an AVR's SP and PC.")
        sp = int.from_bytes(raw[sp_def.offset : sp_def.offset + sp_def.size], "little")
        pc = int.from_bytes(raw[pc_def.offset : pc_def.offset + pc_def.size], "little")
        code = self._cmd(b"m%x,%x" % (pc, avr_sp.CODE_BYTES))
        if not code or code[:1] == b"E" or len(code) != 2 * avr_sp.CODE_BYTES:
            # no program memory to decode: SP as read (a server that cannot read flash is rare)
            return sp
        return avr_sp.settled_sp(sp, raw[:32], bytes.fromhex(code.decode("ascii")))

    def live_registers(self, names: Sequence[str]) -> dict[str, int] | None:
        """Core registers read while the target runs, without halting it: only from a server
        that reads memory while running (live mode) and answers ``p`` then too (simavr); None
        otherwise, or once the server has refused (it is not asked again). An AVR's SP as
        ``snapshot`` gives it."""
        if not self.live or self._live_regs is False or not self.running:
            return None
        regs = [rsp_registers.find(self.arch, n) for n in names]
        if any(r is None for r in regs):
            return None
        with self._op():
            if self._state != "running":
                return None
            out: dict[str, int] = {}
            if self.arch == "AVR" and "sp" in names:
                # one `g`: SP with the registers and PC of the same instant, to settle a torn SP
                try:
                    raw = self._raw_registers()
                    for reg in regs:
                        assert reg is not None
                        out[reg.name] = (self._avr_sp_locked(raw) if reg.name == "sp" else
                                         int.from_bytes(raw[reg.offset : reg.offset + reg.size], "little")) + reg.space
                except TargetError as e:
                    if isinstance(e, TargetLost):
                        raise
                    self._live_regs = False
                    return None
                self._live_regs = True
                return out
            for reg in regs:
                assert reg is not None
                reply = self._cmd(b"p%x" % reg.number)
                if not reply or reply[:1] == b"E" or b"x" in reply:
                    self._live_regs = False
                    return None
                out[reg.name] = int.from_bytes(bytes.fromhex(reply.decode("ascii")), "little") + reg.space
        self._live_regs = True
        return out

    def snapshot(self, names: Sequence[str], regions: Sequence[Region]) -> tuple[dict[str, int], list[bytes], float]:
        """Core registers (by name; pointers as ELF addresses) and memory read in one halt, as soon
        as the intrusion budget allows; a stopped target is read as it stands. Returns
        (registers, memory, seconds halted). A sample, not a view of the halted CPU: an AVR's SP is
        given as it stands once a write to it under way completes (avr_sp.py); ``register_value``
        gives the hardware's."""
        regs = []
        for name in names:
            reg = rsp_registers.find(self.arch, name)
            if reg is None:
                raise TargetError(f"a {self.arch or 'target of unknown architecture'} has no core register "
                                  f"'{name}' that firmwatch knows.")
            regs.append(reg)

        def work() -> tuple[tuple[dict[str, int], list[bytes], float], float]:
            with self._op():
                halted0 = self._halted_s
                with self._halted():
                    values = {r.name: (self._avr_sp_locked() if r.name == "sp" and self.arch == "AVR" else
                                       self._register_locked(r)) + r.space for r in regs}
                    memory = self._read_regions(regions) if regions else []
                halted = self._halted_s - halted0
            return (values, memory, halted), halted

        if not self.running:
            return work()[0]
        return self._sampler.intrude(work)

    @property
    def run_state(self) -> str:
        """"running", "stopped" or "exited" (the program ended, or the link is gone)."""
        with self._io:
            if self.link.is_lost:
                return "exited"
            return self._state

    def control(self) -> ExecutionControl:
        if self._control is None:
            self._control = RspControl(self)
        return self._control

    # -- info, detach, close ------------------------------------------------------------------
    def info(self) -> TargetInfo:
        order, word = _ARCH_INFO.get(self.arch or "", ("little", 4))
        return TargetInfo(
            name=f"GDB server at {self.where} ({self.arch or 'unknown architecture'}, {self.sampling_policy})",
            byteorder=order,
            word_size=word,
            build_id=None,
            max_streams=64,
            max_stream_bytes=max(64, self._max_read * 16),
            regions=list(self.memory_map),
        )

    def detach(self) -> None:
        """Detach (``D``, or ``D;pid``), leaving the target running; the connection closes."""
        self._sampler.stop()
        with self._op():
            if self.link.is_lost:
                return
            with contextlib.suppress(TargetError):
                if self._state == "running":
                    # QEMU answers nothing to D while running: stop it first, D resumes it
                    self._halt_transient()
                for z in list(self._points):
                    self._cmd(b"z%d,%x,%x" % (z[0], z[1], self._points.pop(z)))
                reply = self._cmd(b"D")
                if reply[:1] == b"E":
                    reply = self._cmd(b"D;%x" % (self._pid or 1))
                if reply != b"OK" and self._state != "exited":
                    self._continue()  # no detach packet (simavr): at least leave it running
            self.link.close()

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
        self.detach()
