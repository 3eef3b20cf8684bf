"""Peripheral registers of the emulated boards, live, over the streamer and over QEMU's gdb stub.

QEMU mps2-an385: SysTick counts down, the CMSDK timers run, the UART that carries the streamer
link has a data register a refresh must never read. QEMU riscv virt: the CLINT's mtime. The
SVD files are tests/data/svd/*.svd, written from the boards' documented register maps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from firmwatch import sim
from firmwatch.peripherals.svd import load_svd
from firmwatch.session.connect import open_target
from firmwatch.session.session import Session
from firmwatch.symbols import load
from tools import require_tool, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]
SVD = Path(__file__).parent / "data" / "svd"
TOOLS = {"cortex-m3": ("arm-none-eabi-gcc", "qemu-system-arm"), "riscv32": ("riscv64-unknown-elf-gcc", "qemu-system-riscv32")}


@pytest.fixture(scope="module", params=["cortex-m3", "riscv32"])
def device(request, tmp_path_factory):
    for tool in TOOLS[request.param]:
        require_tool(tool)
    dev = sim.start_sim(request.param, build_dir=tmp_path_factory.mktemp(f"periph-{request.param}"))
    yield dev
    dev.stop()


def _session(dev, transport: str) -> tuple[Session, list[tuple[int, int]]]:
    program = load(str(dev.elf))
    target = open_target(port=dev.port if transport == "serial" else None,
                         gdb=dev.gdb if transport == "rsp" else None, program=program)
    reads: list[tuple[int, int]] = []
    real_read = target.read

    def counted(address: int, size: int) -> bytes:  # every read the transport is handed
        reads.append((address, size))
        return real_read(address, size)

    target.read = counted  # type: ignore[method-assign]
    session = Session(program, target)
    svd = "mps2-an385.svd" if dev.target == "cortex-m3" else "riscv-virt.svd"
    session.attach_svd(load_svd(SVD / svd))
    return session, reads



@pytest.mark.parametrize("transport", ["serial", "rsp"])
def test_live_registers_move_decode_and_side_effect_registers_are_never_read(device, transport):
    s, reads = _session(device, transport)
    try:
        v = s.peripherals
        if device.target == "riscv32":
            first = v.refresh(["CLINT"])
            assert len(reads) == 3  # msip, mtimecmp, mtime: three spans, not five registers
            wait_for(lambda: v.refresh(["CLINT"])["CLINT.MTIME_LO"].value != first["CLINT.MTIME_LO"].value, 5,
                     "mtime to move")
            assert s.evaluate("CLINT.MTIME_LO").scalar > first["CLINT.MTIME_LO"].value
            return
        names = ["SysTick", "TIMER0", "UART0", "SCB"]
        first = v.refresh(names)
        assert len(reads) == 4  # one read per peripheral
        assert first["SysTick.LOAD"].value == 24999  # the port's 1 kHz reload at 25 MHz
        cpuid = first["SCB.CPUID"].register
        assert v.field_text(cpuid.field("PARTNO"), first["SCB.CPUID"].value) == "CORTEX_M3 (3107)"
        assert v.field_text(cpuid.field("IMPLEMENTER"), first["SCB.CPUID"].value) == "ARM (65)"
        assert v.field_text(first["TIMER0.CTRL"].register.field("EN"), first["TIMER0.CTRL"].value) == "ENABLED (1)"
        # live: the timer counts down between refreshes, and the change is marked
        later = wait_for(lambda: (r := v.refresh(names)) and r["TIMER0.VALUE"].changed and r, 5, "TIMER0 to move")
        assert later["TIMER0.VALUE"].value != first["TIMER0.VALUE"].value
        vals = {v.refresh(["SysTick"])["SysTick.VAL"].value for _ in range(20)}
        assert len(vals) > 1 and all(x < 25000 for x in vals)
        # the UART data register (the streamer's own link) and SysTick.CTRL (COUNTFLAG) never read
        for _ in range(5):
            v.refresh(names)
        for name in ("UART0.DATA", "SysTick.CTRL"):
            reg = s.peripherals.device.resolve(name)[1]
            assert not any(a <= reg.address < a + n for a, n in reads), f"{name} was read by a refresh"
        # the watch path decodes the same way
        assert s.evaluate("UART0.CTRL.TXEN").display() == "ENABLED (1)"
    finally:
        s.close()
        s.target.close()


def test_write_one_to_clear_field_on_a_cmsdk_timer(device):
    if device.target != "cortex-m3":
        pytest.skip("the CMSDK timer is on mps2-an385")
    s, _ = _session(device, "serial")
    try:
        v = s.peripherals
        v.write("TIMER1.CTRL.EN", "DISABLED")
        v.write("TIMER1.RELOAD", "25000000")  # the next expiry is a second away
        v.write("TIMER1.VALUE", "100")  # the first is at once
        v.write("TIMER1.CTRL.IRQEN", "ENABLED")  # QEMU latches INT only with IRQEN (NVIC keeps IRQ 9 masked)
        v.write("TIMER1.CTRL.EN", "ENABLED")
        wait_for(lambda: v.read_now("TIMER1.INTSTATUS").value == 1, 5, "TIMER1 to raise INTSTATUS.INT")
        assert s.evaluate("TIMER1.INTSTATUS.INT").display() == "PENDING (1)"
        back, notes = v.write("TIMER1.INTSTATUS.INT", "1")  # write 1 to clear
        assert back.value == 0 and any("write 1 to clear" in n for n in notes)
        assert v.refresh(["TIMER1"])["TIMER1.CTRL"].value == 0b1001  # the read-modify-write kept EN, IRQEN
        with pytest.raises(Exception, match="read-only"):
            v.write("SCB.CPUID", "0")
        v.write("TIMER1.CTRL", "0")
    finally:
        s.close()
        s.target.close()


def test_a_write_the_transport_drops_is_reported(device):
    """QEMU's gdb stub writes RAM but ignores writes to device registers: the read-back says so."""
    if device.target != "cortex-m3":
        pytest.skip("the CMSDK timer is on mps2-an385")
    s, _ = _session(device, "rsp")
    try:
        back, notes = s.peripherals.write("TIMER1.RELOAD", "0x1234")
        assert back.value != 0x1234 and any("TIMER1.RELOAD did not keep the written value" in n for n in notes)
    finally:
        s.close()
        s.target.close()


def test_cli_peripherals_over_the_streamer(device):
    import subprocess
    import sys

    if device.target != "cortex-m3":
        pytest.skip("the CLI run uses the mps2-an385 SVD")
    cli = [sys.executable, "-m", "firmwatch.cli.main", "peripherals", str(device.elf), "--svd",
           str(SVD / "mps2-an385.svd"), "--port", device.port]
    out = subprocess.run([*cli, "--stats", "TIMER0", "UART0.STATE"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "EN             ENABLED (1)" in out.stdout and "TXFULL" in out.stdout
    assert "CTRL" not in out.stdout.split("UART0")[1]  # only the register asked for
    assert "refresh: 2 memory reads" in out.stdout
    out = subprocess.run([*cli, "--write", "TIMER1.RELOAD=0x1234", "--read-now", "UART0.DATA"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "TIMER1.RELOAD = 0x1234: read back 0x00001234" in out.stdout
    assert "reading UART0.DATA now: reading it triggers an action" in out.stderr
    bad = subprocess.run([*cli, "UART0.STAT"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "UART0 has no register 'STAT'" in bad.stderr and "Traceback" not in bad.stderr
