"""Memory health on every emulated board, through the real parts: the demo firmware built in the
run, QEMU (Cortex-M3, RISC-V), simavr (ATmega328P) and the host device, over the streamer and
over their GDB stubs. The demo's recursion depth and allocation pattern are driven by writes;
the figures are checked against the frame size the ELF's call-frame information gives, against
the allocation pattern, and the collision warning against a threshold crossed on purpose.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.session.connect import open_target
from firmwatch.session.memory_health import MemoryHealth, MemoryHealthError, MemoryMonitor
from firmwatch.session.session import Session
from firmwatch.symbols import load
from tools import require_board, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

HEAP = {"host": True, "cortex-m3": True, "avr": True, "riscv32": True}
# recursion depths whose stack use dominates every other path of the demo (the host's loop thread
# starts deep in glibc and its poll path)
DEPTHS = {"host": (300, 400), "cortex-m3": (12, 24), "riscv32": (12, 24), "avr": (9, 13)}
CASES = [("host", "port"), ("cortex-m3", "port"), ("cortex-m3", "gdb"), ("riscv32", "gdb"), ("avr", "gdb"),
         ("avr", "port")]


def frame_size(elf: Path, function: str) -> int:
    """Bytes one call of ``function`` takes off the stack, return address included: the largest
    CFA offset of its call-frame information (the CFA is the stack pointer before the call)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        sym = e.get_section_by_name(".symtab").get_symbol_by_name(function)[0]
        addr = sym["st_value"] & ~1
        dw = e.get_dwarf_info()
        entries = dw.CFI_entries() if dw.has_CFI() else dw.EH_CFI_entries()
        for entry in entries:
            h = entry.header
            if "initial_location" in h and h["initial_location"] <= addr < h["initial_location"] + h["address_range"]:
                return max(r["cfa"].offset for r in entry.get_decoded().table if r["cfa"].offset is not None)
    raise AssertionError(f"no call-frame information for {function} in {elf}")


# the interrupt handlers that can land in the main loop's recursion, and what the CPU pushes itself
ISRS = {"cortex-m3": (("systick_handler", "uart0_rx_handler"), 32), "riscv32": (("trap_handler",), 0),
        "avr": (("__vector_14", "__vector_18", "__vector_19"), 0), "host": ((), 0)}


def isr_allowance(board: str, elf: Path) -> int:
    """Interrupt frames the high-water mark may hold on top of the recursion.

    The demo recurses right after a tick, but an emulator runs the CPU in bursts and the UART
    interrupts come whenever the host talks, so an interrupt may land on the deepest frame; its
    frame is then part of the true high-water mark, at one depth and not the other. The bound is
    the handlers' call-frame sizes from the ELF (the tick's with its two callees, nested with a
    UART's on AVR, whose tick handler lets them in) plus what the hardware stacks. The host port
    has no interrupts on the main loop's stack.
    """
    handlers, hw = ISRS[board]
    if not handlers:
        return 0
    tick = frame_size(elf, handlers[0]) + max(frame_size(elf, "fw_tick"), frame_size(elf, "demo_tick_1khz"))
    others = [frame_size(elf, h) for h in handlers[1:]]
    nested = max(others, default=0) if board == "avr" else 0
    return hw + max([tick, *others]) + nested


def settle(m: MemoryMonitor, key: str = "stack.high_water", still: float = 1.0, timeout: float = 30.0) -> MemoryHealth:
    """Refresh until ``key`` has held still for ``still`` seconds: the audit has swept the paint, and
    the interrupts (which push their frames wherever they land) have landed on the deepest frame."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        h = m.refresh()
        v = h.value(key)
        if v is None or v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= still:
            return h
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} did not settle: {h.figures.get(key)}; notes {h.notes}")
        time.sleep(0.05)


def value(s: Session, expr: str) -> int:
    return int(s.evaluate(expr).scalar)


@pytest.fixture(scope="module")
def build_dirs(tmp_path_factory):
    dirs: dict[str, Path] = {}
    return lambda board: dirs.setdefault(board, tmp_path_factory.mktemp(f"mem-{board}"))


@pytest.fixture
def devices(build_dirs):
    """A fresh device per test (the paint's high-water mark is per boot), built once per board."""
    started: list[sim.SimDevice] = []

    def start(board: str) -> sim.SimDevice:
        started.append(sim.start_sim(board, build_dir=build_dirs(board)))
        return started[-1]

    yield start
    for dev in started:
        dev.stop()


@pytest.mark.parametrize(("board", "via"), CASES, ids=[f"{b}-{v}" for b, v in CASES])
def test_memory_health_follows_the_demo(board: str, via: str, devices) -> None:
    require_board(board)
    dev = devices(board)
    program = load(str(dev.elf))
    target = open_target(port=dev.port) if via == "port" else open_target(gdb=dev.gdb, program=program)
    session = Session(program, target)
    try:
        _check_board(board, via, dev, program, session)
    finally:
        session.write("demo_stack_depth", "0")
        session.close()
        target.close()


def _check_board(board: str, via: str, dev: sim.SimDevice, program, session: Session) -> None:
    frame = frame_size(dev.elf, "demo_recurse")
    m = MemoryMonitor(program, session.target, regions=session.info.regions)
    loops0, t0 = value(session, "loop_count"), value(session, "timestamp_ms")
    h = m.refresh()
    assert h.value("stack.pointer") is not None, h.figures["stack.pointer"].source
    assert h.value("stack.top") is not None
    if via == "gdb" and board != "host":
        assert "register" in h.figures["stack.pointer"].source
    # stack high-water vs depth x frame size
    peaks = []
    for depth in DEPTHS[board]:
        session.write("demo_stack_depth", str(depth))
        wait_for(lambda d=depth: value(session, "demo_stack_reached") == d, 10, f"the demo to recurse {depth} levels")
        h = settle(m)
        assert "fw_stack_paint" in h.figures["stack.high_water"].source
        peaks.append(h.value("stack.peak"))
    d1, d2 = DEPTHS[board]
    grew = peaks[1] - peaks[0]
    assert abs(grew - (d2 - d1) * frame) <= 8 + isr_allowance(board, dev.elf), (peaks, frame)
    assert h.value("stack.peak") >= d2 * frame
    assert h.bytes_read < 256, f"a settled refresh read {h.bytes_read} bytes"
    # heap in use and peak vs the allocation pattern
    if HEAP[board]:
        session.write("demo_alloc_size", "24")
        session.write("demo_alloc_holes", "0")
        session.write("demo_alloc_blocks", "5")
        wait_for(lambda: value(session, "demo_alloc_held") == 5, 10, "five blocks held")
        h = m.refresh()
        assert h.value("heap.in_use") == 5 * 24 and h.value("heap.allocations") == 5
        assert h.value("heap.peak") >= 5 * 24
        assert h.value("heap.failures") == value(session, "demo_alloc_failed") == 0
        session.write("demo_alloc_holes", "1")
        wait_for(lambda: value(session, "demo_alloc_held") == 3, 10, "every other block freed")
        h = m.refresh()
        assert h.value("heap.in_use") == 3 * 24 and h.value("heap.allocations") == 3
        assert h.value("heap.peak") >= 5 * 24
        frag = h.value("heap.fragmentation")
        assert frag is not None and 0.0 < frag < 1.0, h.figures.get("heap.fragmentation")
        assert h.value("heap.largest_free") is not None and h.value("heap.largest_free") >= 24
        if board != "host":
            assert h.value("heap.end") > h.value("heap.start")
        assert "fw_heap" in h.figures["heap.in_use"].source
        if board != "host":
            # more than the RAM holds: malloc fails (the C library sets errno), counted on both sides
            session.write("demo_alloc_blocks", "0")
            wait_for(lambda: value(session, "demo_alloc_held") == 0, 10, "the blocks freed")
            session.write("demo_alloc_size", "65000")
            session.write("demo_alloc_blocks", "2")
            wait_for(lambda: value(session, "demo_alloc_failed") == 2, 10, "two failed allocations")
            h = m.refresh()
            assert h.value("heap.failures") == 2 and h.value("heap.in_use") == 0 and h.value("heap.allocations") == 0
            session.write("demo_alloc_holes", "0")
            session.write("demo_alloc_size", "24")
            session.write("demo_alloc_blocks", "3")
            wait_for(lambda: value(session, "demo_alloc_held") == 3, 10, "the heap usable again")
            assert m.refresh().value("heap.in_use") == 3 * 24
    # the collision warning: a threshold under today's margin, then the stack pushed past it. A
    # settled mark can still deepen by an interrupt frame that lands on the deepest frame later
    # (38 bytes once on AVR, a second after settling): the threshold leaves room for that, and
    # the push goes past the threshold by more than an interrupt frame, however they landed
    isr = isr_allowance(board, dev.elf)
    h = settle(m)
    margin = h.value("gap.margin")
    more = max(3, (2 * isr + 16) // frame + 1)  # past two interrupt frames and 8 bytes of slack each way
    assert margin is not None and margin > (more + 1) * frame, (h.figures.get("gap.margin"), more, frame)
    m.threshold = margin - isr - 8
    assert not [w for w in m.refresh().warnings if "collision margin" in w]
    session.write("demo_stack_depth", str(d2 + more))
    wait_for(lambda: value(session, "demo_stack_reached") == d2 + more, 10, "the deeper recursion")
    h = settle(m)
    assert h.value("gap.margin") <= margin - more * frame + 8 + isr
    assert [w for w in h.warnings if "collision margin" in w and f"{m.threshold}-byte" in w], h.warnings
    # the demo kept running through all of it
    assert value(session, "loop_count") > loops0 and value(session, "timestamp_ms") > t0


def _build_without_paint(board: str, out: Path) -> Path:
    port = sim.firmware_source_dir() / "ports" / board
    goal = ["firmware"] if board == "avr" else []
    subprocess.run(["make", "--no-print-directory", "-C", str(port), f"BUILD={out}",
                    "EXTRA_CFLAGS=-DDEMO_NO_STACK_PAINT", *goal], check=True, capture_output=True, timeout=300)
    return out / "demo.elf"


@pytest.mark.parametrize("board", ["cortex-m3", "avr"])
def test_host_paint_over_gdb_keeps_the_demo_running(board: str, tmp_path: Path) -> None:
    require_board(board)
    elf = _build_without_paint(board, tmp_path / "fw")
    program = load(str(elf))
    frame = frame_size(elf, "demo_recurse")
    with sim.start_sim(board, elf=elf, build_dir=tmp_path / "harness") as dev:
        target = open_target(gdb=dev.gdb, program=program)
        session = Session(program, target)
        try:
            m = MemoryMonitor(program, target)
            h = m.refresh()
            assert h.value("stack.high_water") is None and any("not painted" in n for n in h.notes)
            depth = DEPTHS[board][0]
            session.write("demo_stack_depth", str(depth))
            wait_for(lambda: value(session, "demo_stack_reached") == depth, 10, "the recursion")
            said: list[str] = []
            low, high = m.paint_from_host(announce=said.append)
            assert said and "halted" in said[0] and high - low > 64
            # the live stack was left alone: the demo runs on, its recursion still right
            t0, loops0 = value(session, "timestamp_ms"), value(session, "loop_count")
            wait_for(lambda: value(session, "timestamp_ms") > t0 + 200, 10, "the clock to advance after painting")
            assert value(session, "loop_count") > loops0 and value(session, "demo_stack_reached") == depth
            h1 = settle(m)
            assert "by the host" in h1.figures["stack.high_water"].source
            deeper = DEPTHS[board][1]
            session.write("demo_stack_depth", str(deeper))
            wait_for(lambda: value(session, "demo_stack_reached") == deeper, 10, "the deeper recursion")
            h2 = settle(m)
            grew = h2.value("stack.peak") - h1.value("stack.peak")
            assert abs(grew - (deeper - depth) * frame) <= 8 + isr_allowance(board, elf), (grew, frame)
        finally:
            session.write("demo_stack_depth", "0")
            session.close()
            target.close()


def test_host_paint_refused_where_a_writer_could_race(devices) -> None:
    require_board("cortex-m3")
    dev = devices("cortex-m3")
    program = load(str(dev.elf))
    # the streamer cannot halt the CPU; over GDB the firmware paints its own stack
    with open_target(port=dev.port) as t, pytest.raises(MemoryHealthError, match="halt the CPU"):
        MemoryMonitor(program, t).paint_from_host()
    with open_target(gdb=dev.gdb, program=program) as t, pytest.raises(MemoryHealthError, match="paints its own stack"):
        MemoryMonitor(program, t).paint_from_host()


def test_freertos_heap4_figures_match_its_own_statistics(tmp_path: Path) -> None:
    """A firmware whose heap is FreeRTOS heap_4 (the kernel under /work/shared/third_party, built
    here for QEMU Cortex-M3): free and minimum-ever-free bytes from its statics, the largest free
    block and the free total from walking its free list, against vPortGetHeapStats() run on the
    device (whose block sizes include heap_4's 8-byte header)."""
    require_board("cortex-m3")
    kernel = Path(os.environ.get("FIRMWATCH_FREERTOS", "/work/shared/third_party/FreeRTOS-Kernel"))
    if not (kernel / "portable" / "MemMang" / "heap_4.c").exists():
        kernel = Path(__file__).resolve().parents[1].parent / "shared" / "third_party" / "FreeRTOS-Kernel"
    if not (kernel / "portable" / "MemMang" / "heap_4.c").exists():
        msg = "the FreeRTOS kernel (shared/third_party/FreeRTOS-Kernel) is not beside this checkout"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    fixtures = Path(__file__).resolve().parent / "fixtures" / "memory"
    ports = sim.firmware_source_dir() / "ports"
    elf = tmp_path / "heap4.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-std=c99", "-g", "-Os", "-ffreestanding",
                    "-nostdlib", "-nostartfiles", "-fno-tree-loop-distribute-patterns", "-Wl,--build-id=sha1",
                    "-T", str(ports / "cortex-m3" / "link.ld"), f"-I{fixtures}", f"-I{kernel / 'include'}",
                    f"-I{kernel / 'portable' / 'GCC' / 'ARM_CM3'}", str(fixtures / "heap4_main.c"),
                    str(kernel / "portable" / "MemMang" / "heap_4.c"), str(ports / "cortex-m3" / "startup.c"),
                    str(ports / "common" / "freestanding.c"), "-lgcc", "-o", str(elf)], check=True, capture_output=True)
    program = load(str(elf))
    with sim.start_sim("cortex-m3", elf=elf, build_dir=tmp_path / "b") as dev:
        target = open_target(gdb=dev.gdb, program=program)
        session = Session(program, target)
        try:
            wait_for(lambda: value(session, "stats.xNumberOfSuccessfulFrees") == 2, 10, "the firmware's heap statistics")
            st = {k: value(session, f"stats.{k}") for k in ("xAvailableHeapSpaceInBytes", "xSizeOfLargestFreeBlockInBytes",
                                                            "xNumberOfFreeBlocks", "xMinimumEverFreeBytesRemaining")}
            h = MemoryMonitor(program, target).refresh()
            assert h.value("heap.rtos_free") == st["xAvailableHeapSpaceInBytes"]
            assert h.value("heap.rtos_min_free") == st["xMinimumEverFreeBytesRemaining"]
            assert h.value("heap.largest_free") + 8 == st["xSizeOfLargestFreeBlockInBytes"]
            assert h.value("heap.free") + 8 * st["xNumberOfFreeBlocks"] == st["xAvailableHeapSpaceInBytes"]
            assert 0 < h.value("heap.fragmentation") < 1
            assert h.value("heap.calls") == 6 and h.value("heap.frees") == 2
            assert "xStart" in h.figures["heap.largest_free"].source
            assert h.value("heap.end") - h.value("heap.start") == 4096  # configTOTAL_HEAP_SIZE
        finally:
            session.close()
            target.close()
