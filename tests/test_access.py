"""The session's declared shapes (firmwatch.session.access) hold for every kind of watch: C
expressions compiled from DWARF, raw address watches and SVD registers. A member missing from one
kind would otherwise surface as an AttributeError in a front end, on that kind only."""

from __future__ import annotations

from pathlib import Path

from firmwatch.session.access import AccessPlan, CompiledAccess, Decoded
from firmwatch.session.raw import RawExpression
from fixture_builds import fixture_elf

SVD = Path(__file__).parent / "data" / "svd" / "mps2-an385.svd"


def memory(size: int = 1 << 20):
    data = bytes(range(256)) * (size // 256)

    def read(address: int, n: int) -> bytes:
        off = address % (len(data) - n)
        return data[off:off + n]

    return read


def check(compiled: object) -> None:
    assert isinstance(compiled, CompiledAccess), f"{type(compiled).__name__} lacks a CompiledAccess member"
    read = memory()
    plan = compiled.bind(read)
    assert isinstance(plan, AccessPlan), f"{type(plan).__name__} lacks an AccessPlan member"
    value = plan.decode([read(r.address, r.size) for r in plan.regions])
    assert isinstance(value, Decoded), f"{type(value).__name__} lacks a Decoded member"
    assert isinstance(value.display(), str) and isinstance(value.type_name, str)
    assert isinstance(compiled.evaluate(read), Decoded)


def test_compiled_c_expressions_are_accesses() -> None:
    from firmwatch.symbols import load
    from firmwatch.symbols.expr import compile_expression

    program = load(str(fixture_elf("host-gcc")))
    for text in ("g_int", "g_accel", "g_flags", "g_nodes[1]", "g_int + 1"):
        check(compile_expression(program, text))


def test_raw_watches_are_accesses() -> None:
    check(RawExpression("0x1000:4", 0x1000, 4, "little"))
    check(RawExpression("0x1000:3", 0x1000, 3, "little"))


def test_svd_registers_are_accesses() -> None:
    from firmwatch.peripherals.expression import compile_peripheral
    from firmwatch.peripherals.svd import load_svd

    device = load_svd(SVD, cache=False)
    p = device.peripherals[0]
    reg = next(r for r in p.registers if r.readable and not r.read_effect())
    check(compile_peripheral(device, f"{p.name}.{reg.path}", "little"))
    assert isinstance(compile_peripheral(device, p.name, "little"), CompiledAccess)
