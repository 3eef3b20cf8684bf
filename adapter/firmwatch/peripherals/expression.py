"""``UART0.STATE`` and ``UART0.STATE.TXFULL`` as watch expressions.

They follow the compiled-expression interface the session samples (``static_regions``, ``bind``,
``evaluate``, ``member_names``) like raw address watches do, so a register is watched, streamed
and recorded as any variable is. A register a refresh must not read (readAction, write-only, a
manual peripheral) is refused as a watch with the reason: a watch reads continuously.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from firmwatch.peripherals.model import Device, Field, Peripheral, PeripheralError, Register
from firmwatch.peripherals.plan import skip_reason
from firmwatch.peripherals.view import register_text
from firmwatch.targets.base import Region


@dataclass(frozen=True)
class RegisterValue:
    register: Register
    field: Field | None
    address: int
    raw: bytes
    byteorder: str

    @property
    def register_value(self) -> int:
        return int.from_bytes(self.raw, self.byteorder)  # type: ignore[arg-type]

    @property
    def scalar(self) -> int:
        v = self.register_value
        return self.field.extract(v) if self.field is not None else v

    @property
    def type_name(self) -> str:
        if self.field is not None:
            return f"field {self.field.bits} of {self.register.qualified}"
        return f"{self.register.size}-bit register"

    @property
    def is_aggregate(self) -> bool:
        return False

    def display(self, hex: bool = False) -> str:
        v = self.register_value
        if self.field is not None:
            f = self.field
            n = f.extract(v)
            num = f"0x{n:x}" if hex and f.width > 1 else str(n)
            name = f.enum_name(n)
            return f"{name} ({num})" if name else num
        text = register_text(self.register, v)
        parts = []
        for f in self.register.fields:
            if not f.readable:
                continue
            n = f.extract(v)
            parts.append(f"{f.name}={f.enum_name(n) or (f'0x{n:x}' if hex and f.width > 1 else n)}")
        return f"{text} {{{', '.join(parts)}}}" if parts else text

    def children(self, start: int = 0, count: int | None = None) -> list:
        return []


@dataclass(frozen=True)
class _Bound:
    regions: list[Region]
    register: Register
    field: Field | None
    byteorder: str

    def decode(self, chunks: Sequence[bytes]) -> RegisterValue:
        return RegisterValue(self.register, self.field, self.register.address, chunks[0], self.byteorder)


class PeripheralExpression:
    """A bare peripheral name: completes its registers; it is not a value to sample."""

    def __init__(self, text: str, peripheral: Peripheral):
        self.text = text
        self.peripheral = peripheral
        self.address = peripheral.base
        self.size = 0
        self.type = None
        self.type_name = "peripheral"
        self.format = None
        self.read_only = True
        self.is_lvalue = False

    def _refuse(self) -> PeripheralError:
        return PeripheralError(f"{self.text} is a peripheral ({len(self.peripheral.registers)} registers at "
                               f"0x{self.peripheral.base:08x}): watch one of its registers, e.g. {self.text}."
                               f"{self.peripheral.registers[0].path if self.peripheral.registers else 'REG'}, "
                               "or open the Peripherals scope.")

    def static_regions(self) -> list[Region]:
        raise self._refuse()

    def bind(self, read: Callable[[int, int], bytes]) -> _Bound:
        raise self._refuse()

    def evaluate(self, read: Callable[[int, int], bytes]) -> RegisterValue:
        raise self._refuse()

    def member_names(self, arrow: bool = False) -> list[str]:
        return [r.path for r in self.peripheral.registers]


class RegisterExpression:
    def __init__(self, text: str, peripheral: Peripheral, register: Register, field: Field | None,
                 byteorder: str, manual: bool):
        why = skip_reason(register, manual)
        if why is not None:
            raise PeripheralError(f"{register.qualified} is not watched: {why.removeprefix('not read automatically: ')}; "
                                  f"read it once with ':read {register.qualified}' in the Debug Console.")
        self.text = text
        self.register = register
        self.field = field
        self.address = register.address
        self.size = register.nbytes
        self.type = None
        self.type_name = (f"field {field.bits}" if field is not None else f"{register.size}-bit register")
        self.format = None
        self.read_only = not (field.writable if field is not None else register.writable)
        self.is_lvalue = True
        self._bound = _Bound([Region(register.address, register.nbytes)], register, field, byteorder)

    def static_regions(self) -> list[Region]:
        return list(self._bound.regions)

    def bind(self, read: Callable[[int, int], bytes]) -> _Bound:
        return self._bound

    def evaluate(self, read: Callable[[int, int], bytes]) -> RegisterValue:
        return self._bound.decode([read(self.address, self.size)])

    def member_names(self, arrow: bool = False) -> list[str]:
        return [f.name for f in self.register.fields] if self.field is None else []


def compile_peripheral(device: Device, text: str, byteorder: str, manual: frozenset[str] = frozenset()
                       ) -> PeripheralExpression | RegisterExpression:
    p, r, f = device.resolve(text)
    if r is None:
        return PeripheralExpression(text.strip(), p)
    return RegisterExpression(text.strip(), p, r, f, byteorder, p.name in manual)
