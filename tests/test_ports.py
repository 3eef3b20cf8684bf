"""The emulated ports through their real UART: the demo firmware built during the test run,
started with firmwatch.sim (QEMU Cortex-M3, QEMU RISC-V, simavr AVR), spoken to in raw
protocol frames (docs/protocol.md) over the emulator's pty.

What each port must get right, and these tests check: the build id it reports is the ELF's,
its region table covers RAM (read/write) and the constants (read-only) and nothing else,
its tick runs (so streams have a clock), its UART moves bytes both ways, and its gdb stub
answers on the port it was given.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial
from elftools.elf.elffile import ELFFile

from firmwatch import sim
from firmwatch.targets import protocol as P
from tools import require_board, require_tool

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

EMULATED = ["cortex-m3", "riscv32", "avr"]
WORD_SIZE = {"cortex-m3": 4, "riscv32": 4, "avr": 2}
GDB = {"cortex-m3": "gdb-multiarch", "riscv32": "gdb-multiarch", "avr": "avr-gdb"}
REPLY_TIMEOUT = 5.0


@dataclass
class ElfFacts:
    symbols: dict[str, tuple[int, int]]  # name -> (address, size)
    build_id: str

    def addr(self, name: str) -> int:
        return self.symbols[name][0]


def elf_facts(path: Path) -> ElfFacts:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        symbols = {s.name: (s["st_value"], s["st_size"]) for s in symtab.iter_symbols() if s.name}
        note = elf.get_section_by_name(".note.gnu.build-id")
        build_id = next(n["n_desc"] for n in note.iter_notes() if n["n_type"] == "NT_GNU_BUILD_ID")
    return ElfFacts(symbols, build_id)


class Link:
    """Raw frames over the device's pty: send a request, wait for the reply with its tag."""

    def __init__(self, port: str):
        self.port = serial.serial_for_url(port, baudrate=115200, timeout=0.05)
        self.decoder = P.FrameDecoder()
        self.pending: list[tuple[int, bytes]] = []
        self.tag = 0

    def close(self) -> None:
        self.port.close()

    def frames(self, timeout: float) -> Iterator[tuple[int, bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                yield self.pending.pop(0)
            if time.monotonic() >= deadline:
                return
            self.pending.extend(self.decoder.feed(self.port.read(4096)))

    def request(self, make) -> P.Message:
        self.tag = (self.tag + 1) & 0xFF
        msg = make(self.tag)
        self.port.write(msg.encode())
        for msg_type, payload in self.frames(REPLY_TIMEOUT):
            if msg_type == P.SAMPLES:
                continue
            reply = P.decode_message(msg_type, payload)
            if getattr(reply, "tag", None) == self.tag:
                return reply
        raise AssertionError(f"no reply to {msg!r} within {REPLY_TIMEOUT} s")

    def read(self, addr: int, size: int) -> P.Message:
        return self.request(lambda tag: P.Read(tag, addr, size))


@dataclass
class Device:
    target: str
    dev: sim.SimDevice
    link: Link
    facts: ElfFacts


@pytest.fixture(scope="module", params=EMULATED)
def device(request, tmp_path_factory) -> Iterator[Device]:
    target = request.param
    require_board(target)
    build_dir = tmp_path_factory.mktemp(f"build-{target}")
    result = sim.build(target, build_dir)
    assert "text" in result.footprint, f"the {target} build did not print its size:\n{result.output}"
    with sim.start_sim(target, build_dir=build_dir) as dev:
        link = Link(dev.port)
        try:
            yield Device(target, dev, link, elf_facts(dev.elf))
        finally:
            link.close()


def identify(d: Device) -> P.Ident:
    reply = d.link.request(lambda tag: P.Identify(tag))
    assert isinstance(reply, P.Ident), reply
    return reply


def test_identify_reports_the_elf_build_id_and_the_port_layout(device):
    ident = identify(device)
    assert ident.proto_version == P.PROTOCOL_VERSION
    assert ident.build_id.hex() == device.facts.build_id
    assert ident.word_size == WORD_SIZE[device.target]
    assert not ident.big_endian
    assert ident.tick_hz == 1000

    def region_of(name: str) -> P.IdentRegion:
        addr, size = device.facts.symbols[name]
        hits = [r for r in ident.regions if r.start <= addr and addr + size <= r.start + r.size]
        assert len(hits) == 1, f"{name} at {addr:#x} is in {len(hits)} regions: {ident.regions}"
        return hits[0]

    for ram_var in ("heartbeat_counter", "g_config", "timestamp_ms", "loop_count"):
        r = region_of(ram_var)
        assert r.readable and r.writable, ram_var
    const = region_of("sine_table")
    assert const.readable and not const.writable
    # Nothing beyond RAM and the constants: the vector table / code are not exported.
    assert all(not (r.start <= device.facts.addr("main") < r.start + r.size) for r in ident.regions)


def test_read_sees_the_heartbeat_advance(device):
    addr = device.facts.addr("heartbeat_counter")
    order = "little"
    first = device.link.read(addr, 4)
    assert isinstance(first, P.ReadData), first
    assert first.addr == addr and len(first.data) == 4
    start = int.from_bytes(first.data, order)
    deadline = time.monotonic() + 10
    value = start
    while value == start and time.monotonic() < deadline:
        value = int.from_bytes(device.link.read(addr, 4).data, order)
    assert value != start, "heartbeat_counter never changed: the demo tick does not run"


def test_const_table_reads_back_its_initial_values(device):
    reply = device.link.read(device.facts.addr("sine_table"), 8)
    assert isinstance(reply, P.ReadData), reply
    values = [int.from_bytes(reply.data[i : i + 2], "little", signed=True) for i in range(0, 8, 2)]
    assert values == [0, 98, 195, 290]


def test_write_then_read_back(device):
    # g_config.channel_map: offset 8 on every port (u32 magic, then a 4-byte struct); the demo
    # only ever reads it.
    addr = device.facts.addr("g_config") + 8
    new = bytes([7, 6, 5, 4])
    reply = device.link.request(lambda tag: P.Write(tag, addr, new))
    assert isinstance(reply, P.WriteData), reply
    assert reply.addr == addr and reply.data == new
    assert device.link.read(addr, 4).data == new
    device.link.request(lambda tag: P.Write(tag, addr, bytes([0, 1, 2, 3])))


def test_read_outside_ram_is_refused_with_not_readable(device):
    ident = identify(device)
    beyond = max(r.start + r.size for r in ident.regions) + 0x100
    for addr in (beyond, device.facts.addr("main")):
        reply = device.link.read(addr, 4)
        assert isinstance(reply, P.Error), reply
        assert reply.code == P.ERROR_CODES["NOT_READABLE"]
        assert reply.detail == addr


def test_write_to_const_table_is_refused_with_not_writable(device):
    addr = device.facts.addr("sine_table")
    reply = device.link.request(lambda tag: P.Write(tag, addr, b"\x01\x02"))
    assert isinstance(reply, P.Error), reply
    assert reply.code == P.ERROR_CODES["NOT_WRITABLE"]
    assert device.link.read(addr, 2).data == b"\x00\x00"


def test_stream_samples_are_paced_by_the_tick(device):
    """A 100 Hz stream: SAMPLES frames arrive in sequence, ten device ticks apart."""
    addr = device.facts.addr("timestamp_ms")
    mask_bytes = identify(device).mask_bytes
    start = device.link.request(lambda tag: P.StreamStart(tag, 0, 100_000, ((addr, 8),)))
    assert isinstance(start, P.Ack), start
    samples: list[P.Samples] = []
    try:
        for msg_type, payload in device.link.frames(10.0):
            if msg_type == P.SAMPLES:
                samples.append(P.Samples.unpack(payload, mask_bytes))
                if len(samples) >= 20:
                    break
    finally:
        device.link.request(lambda tag: P.StreamStop(tag, P.STOP_ALL))
    assert len(samples) >= 20
    seqs = [s.seq for s in samples]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    ticks = [s.ticks for s in samples]
    assert all(b - a == 10 for a, b in zip(ticks, ticks[1:])), ticks
    stamps = [int.from_bytes(s.body, "little") for s in samples]
    assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps


def test_a_burst_of_commands_is_flow_controlled_not_lost(device):
    """Far more request bytes than the core's RX ring holds, written at once: the UART holds
    the sender back (the port masks RX while the ring is full), so every request is answered
    and nothing overflows."""
    addr = device.facts.addr("heartbeat_counter")
    before = device.link.request(lambda tag: P.Status(tag))
    assert isinstance(before, P.StatusData), before
    tags = [(i % 200) + 10 for i in range(100)]
    device.link.port.write(b"".join(P.Read(t, addr, 4).encode() for t in tags))
    answered = []
    for msg_type, payload in device.link.frames(20.0):
        if msg_type == P.READ_DATA:
            answered.append(P.decode_message(msg_type, payload).tag)
            if len(answered) == len(tags):
                break
    assert answered == tags
    after = device.link.request(lambda tag: P.Status(tag))
    assert (after.overflows, after.rx_errors) == (before.overflows, before.rx_errors)


def test_port_reopened_by_a_new_client_still_answers(device):
    """A host that closes the port and opens it again (a reconnect) talks to the same device.
    (Ask until it answers: by hand QEMU notices a returning pty client only within a second.)"""
    device.link.close()
    link = Link(device.dev.port)
    try:
        deadline = time.monotonic() + 15
        reply = None
        while reply is None and time.monotonic() < deadline:
            link.tag = (link.tag + 1) & 0xFF
            tag = link.tag
            link.port.write(P.Identify(tag).encode())
            reply = next((P.decode_message(t, p) for t, p in link.frames(0.5) if t == P.IDENT), None)
        assert reply is not None and reply.build_id.hex() == device.facts.build_id
    finally:
        link.close()
        device.link = Link(device.dev.port)


def test_gdb_stub_reads_the_running_firmware(device):
    gdb = require_tool(GDB[device.target])
    out = subprocess.run(
        [gdb, "-nx", "-batch", "-ex", "set confirm off", "-ex", f"target remote {device.dev.gdb}",
         "-ex", "print/x g_config.magic", "-ex", "detach", str(device.dev.elf)],
        capture_output=True, text=True, timeout=60,
    )
    assert "0xc0ffee01" in out.stdout, out.stdout + out.stderr
    # Detached, the firmware runs on and still answers on its UART.
    assert identify(device).build_id.hex() == device.facts.build_id
