"""The device as the engine sees it: peripherals -> registers -> fields, flattened and resolved.

Plain data, independent of the SVD parser that produced it (svd.py): derivedFrom, clusters and
dim arrays are already expanded, so every register has its absolute address, its own access and
the read/write side effects that decide whether a refresh may touch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmwatch.errors import UserError


class PeripheralError(UserError):
    """A user-facing problem with peripherals (unknown name, refused write, ...)."""


READ_ACTIONS = {  # SVD readAction -> what a read does, for the sentence shown instead of a value
    "clear": "reading it clears it",
    "set": "reading it sets it",
    "modify": "reading it modifies it",
    "modifyExternal": "reading it triggers an action in the peripheral (e.g. pops a FIFO)",
}

# modifiedWriteValues: the value of a field's bits that leaves it unchanged when the register is
# written for another field's sake (None: no neutral value exists, the write itself acts).
NEUTRAL_BITS = {
    "oneToClear": 0, "oneToSet": 0, "oneToToggle": 0,
    "zeroToClear": 1, "zeroToSet": 1, "zeroToToggle": 1,
    "clear": None, "set": None,
}

WRITE_EFFECTS = {
    "oneToClear": "write 1 to clear", "oneToSet": "write 1 to set", "oneToToggle": "write 1 to toggle",
    "zeroToClear": "write 0 to clear", "zeroToSet": "write 0 to set", "zeroToToggle": "write 0 to toggle",
    "clear": "any write clears it", "set": "any write sets it", "modify": "",
}


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int | None  # None: the isDefault entry (every value not listed)
    description: str = ""
    usage: str = "read-write"  # read / write / read-write


@dataclass(slots=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str = "read-write"  # read-only, write-only, read-write, writeOnce, read-writeOnce
    description: str = ""
    read_action: str | None = None
    modified_write_values: str | None = None
    enums: tuple[EnumValue, ...] = ()
    write_range: tuple[int, int] | None = None  # writeConstraint range

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    @property
    def readable(self) -> bool:
        return self.access != "write-only"

    @property
    def writable(self) -> bool:
        return self.access != "read-only"

    @property
    def bits(self) -> str:
        return f"[{self.lsb}]" if self.width == 1 else f"[{self.lsb + self.width - 1}:{self.lsb}]"

    def extract(self, register_value: int) -> int:
        return (register_value >> self.lsb) & ((1 << self.width) - 1)

    def enum_name(self, value: int, usage: str = "read") -> str | None:
        default = None
        for e in self.enums:
            if usage not in e.usage and e.usage != "read-write":
                continue
            if e.value is None:
                default = e.name
            elif e.value == value:
                return e.name
        return default

    def enum_value(self, name: str) -> int | None:
        for e in self.enums:
            if e.name == name and e.value is not None and e.usage in ("write", "read-write"):
                return e.value
        for e in self.enums:  # a read-only name still says which number the user means
            if e.name == name and e.value is not None:
                return e.value
        return None


@dataclass(slots=True)
class Register:
    peripheral: str
    path: str  # name inside the peripheral: "CTRL", "CH3", "OUT[1].A" (cluster members)
    address: int
    size: int  # bits
    access: str = "read-write"
    description: str = ""
    reset_value: int = 0
    read_action: str | None = None
    modified_write_values: str | None = None
    fields: list[Field] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.peripheral}.{self.path}"

    @property
    def nbytes(self) -> int:
        return max(1, (self.size + 7) // 8)

    @property
    def readable(self) -> bool:
        return self.access != "write-only"

    @property
    def writable(self) -> bool:
        return self.access != "read-only"

    def read_effect(self) -> str | None:
        """Why a read of this register changes the device, or None when a read is harmless."""
        if self.read_action:
            return f"{READ_ACTIONS.get(self.read_action, 'reading it has a side effect')} (readAction={self.read_action})"
        acting = [f for f in self.fields if f.read_action]
        if acting:
            f = acting[0]
            what = READ_ACTIONS.get(f.read_action or "", "reading it has a side effect")
            return f"{what.replace('it', 'field ' + f.name, 1)} (readAction={f.read_action})"
        return None

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(slots=True)
class Peripheral:
    name: str
    base: int
    description: str = ""
    group: str = ""
    registers: list[Register] = field(default_factory=list)
    blocks: list[tuple[int, int]] = field(default_factory=list)  # absolute (start, size) of "registers" blocks

    def register(self, path: str) -> Register | None:
        for r in self.registers:
            if r.path == path:
                return r
        return None

    def in_block(self, start: int, end: int) -> bool:
        return any(b <= start and end <= b + n for b, n in self.blocks)


@dataclass(slots=True)
class Device:
    name: str
    peripherals: list[Peripheral]
    path: str = ""
    byteorder: str = "little"
    warnings: list[str] = field(default_factory=list)

    def peripheral(self, name: str) -> Peripheral | None:
        for p in self.peripherals:
            if p.name == name:
                return p
        return None

    def names(self) -> list[str]:
        return [p.name for p in self.peripherals]

    def resolve(self, text: str) -> tuple[Peripheral, Register | None, Field | None]:
        """``PERIPH``, ``PERIPH.REG`` or ``PERIPH.REG.FIELD`` (cluster members: ``PERIPH.CL[1].REG``)."""
        text = text.strip()
        head, _, rest = text.partition(".")
        p = self.peripheral(head)
        if p is None:
            raise PeripheralError(f"'{head}' is not a peripheral of {self.name}{_suggest(head, self.names())}.")
        if not rest:
            return p, None, None
        r = p.register(rest)
        if r is not None:
            return p, r, None
        reg_path, _, fname = rest.rpartition(".")
        r = p.register(reg_path) if reg_path else None
        if r is None:
            raise PeripheralError(f"{head} has no register '{rest}'"
                                  f"{_suggest(rest, [x.path for x in p.registers])}.")
        f = r.field(fname)
        if f is None:
            raise PeripheralError(f"{r.qualified} has no field '{fname}'{_suggest(fname, [x.name for x in r.fields])}.")
        return p, r, f


def _suggest(name: str, choices: list[str]) -> str:
    low = name.lower()
    for c in choices:
        if c.lower() == low:
            return f" (did you mean {c}?)"
    near = [c for c in choices if c.lower().startswith(low[:2])][:5] if low else []
    if near:
        return f"; names starting alike: {', '.join(near)}"
    return ""
