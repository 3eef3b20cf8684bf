"""Live peripheral registers over any Target: batched refreshes, change marks, explicit reads, safe writes.

The engine knows the device (model.Device) and two callables, ``read(address, size)`` and
``write(address, data) -> read-back``: nothing of DAP, argparse or VS Code. Front ends ask for a
refresh of the peripherals they show, an explicit read of one register the refresh skipped (the
caller states the consequence first), or a write of a register or of one field.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firmwatch.peripherals.model import (
    NEUTRAL_BITS,
    WRITE_EFFECTS,
    Device,
    Field,
    Peripheral,
    PeripheralError,
    Register,
)
from firmwatch.peripherals.plan import MAX_SPAN, ReadPlan, plan_reads, skip_reason

ReadFn = Callable[[int, int], bytes]
WriteFn = Callable[[int, bytes], bytes]


@dataclass(frozen=True, slots=True)
class Reading:
    """One register as last seen: ``value`` is None when it was not read, ``note`` says why."""

    register: Register
    value: int | None
    note: str | None = None
    changed: bool = False  # differs from the previous refresh
    explicit: bool = False  # from an explicit read (a skipped register's last explicit value)
    at: float = 0.0  # time.time() of the read


@dataclass
class ReadStats:
    refreshes: int = 0
    reads: int = 0  # memory read requests handed to the transport
    bytes: int = 0


class PeripheralView:
    def __init__(self, device: Device, read: ReadFn, write: WriteFn | None = None, *, byteorder: str = "little",
                 manual: Iterable[str] = (), max_span: int = MAX_SPAN):
        self.device = device
        self._read = read
        self._write = write
        self.byteorder = byteorder
        self.manual = frozenset(manual)
        unknown = sorted(self.manual - set(device.names()))
        if unknown:
            raise PeripheralError(f"{', '.join(unknown)} marked manual but {device.name} has no such peripheral"
                                  f"{'s' if len(unknown) > 1 else ''}; check peripheralsManual / --manual.")
        self.max_span = max_span
        self.stats = ReadStats()
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, ...], ReadPlan] = {}
        self._last: dict[str, Reading] = {}
        self._prev: dict[str, int | None] = {}

    # -- reads --------------------------------------------------------------------------------------------
    def plan(self, names: Iterable[str]) -> ReadPlan:
        key = tuple(sorted(set(names)))
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_reads([self._peripheral(n) for n in key], self.manual, max_span=self.max_span)
            self._plans[key] = plan
        return plan

    def refresh(self, names: Iterable[str]) -> dict[str, Reading]:
        """Read every register of these peripherals that a refresh may read, in as few reads as the
        plan allows; the rest come back with their reason (and a past explicit value, if any)."""
        names = list(names)
        plan = self.plan(names)
        out: dict[str, Reading] = {}
        with self._lock:
            self.stats.refreshes += 1
            for span in plan.spans:
                try:
                    blob = self._counted_read(span.address, span.size)
                except Exception as e:  # noqa: BLE001 - one unreadable span: its registers say why
                    if not _is_user(e):
                        raise
                    for r in span.registers:
                        out[r.qualified] = Reading(r, None, f"unreadable: {e}", at=time.time())
                    continue
                now = time.time()
                for r in span.registers:
                    off = r.address - span.address
                    value = int.from_bytes(blob[off : off + r.nbytes], self.byteorder)  # type: ignore[arg-type]
                    out[r.qualified] = self._remember(r, value, now, explicit=False)
            for name in names:
                for r in self._peripheral(name).registers:
                    if r.qualified in out:
                        continue
                    why = plan.skipped.get(r.qualified, "not read")
                    old = self._last.get(r.qualified)
                    if old is not None and old.explicit:
                        ago = time.time() - old.at
                        out[r.qualified] = Reading(r, old.value, f"{why}; value from an explicit read {ago:.0f} s ago",
                                                   explicit=True, at=old.at)
                    else:
                        out[r.qualified] = Reading(r, None, why)
        return out

    def read_now(self, name: str) -> Reading:
        """The explicit action: read one register now, whatever its side effects (the caller said them)."""
        p, r, _ = self.device.resolve(name)
        if r is None:
            raise PeripheralError(f"'{name}' is a peripheral; read one of its registers, e.g. {p.name}."
                                  f"{p.registers[0].path if p.registers else 'REG'}.")
        with self._lock:
            value = int.from_bytes(self._counted_read(r.address, r.nbytes), self.byteorder)  # type: ignore[arg-type]
            return self._remember(r, value, time.time(), explicit=skip_reason(r, p.name in self.manual) is not None)

    def consequence(self, name: str) -> str | None:
        """What an explicit read of ``name`` does beyond reading (None: nothing)."""
        p, r, _ = self.device.resolve(name)
        if r is None:
            return None
        return r.read_effect() or (None if r.readable else "a write-only register reads as nothing meaningful")

    def _counted_read(self, address: int, size: int) -> bytes:
        self.stats.reads += 1
        self.stats.bytes += size
        data = self._read(address, size)
        if len(data) != size:
            raise PeripheralError(f"the target returned {len(data)} of {size} bytes at 0x{address:x}.")
        return data

    def _remember(self, r: Register, value: int, at: float, explicit: bool) -> Reading:
        old = self._last.get(r.qualified)
        changed = old is not None and old.value is not None and old.value != value
        self._prev[r.qualified] = old.value if old is not None else None
        reading = Reading(r, value, None, changed, explicit, at)
        self._last[r.qualified] = reading
        return reading

    def last(self, name: str) -> Reading | None:
        return self._last.get(name)

    def previous(self, name: str) -> int | None:
        """The value before the last one (what a "changed" mark compares with)."""
        return self._prev.get(name)

    def _peripheral(self, name: str) -> Peripheral:
        p = self.device.peripheral(name)
        if p is None:
            self.device.resolve(name)  # raises with a suggestion
            raise PeripheralError(f"'{name}' is not a peripheral.")
        return p

    # -- writes -------------------------------------------------------------------------------------------
    def write(self, name: str, value_text: str) -> tuple[Reading, list[str]]:
        """Write a register (``P.R``) or one field (``P.R.F``); returns the read-back and what else happened."""
        if self._write is None:
            raise PeripheralError("this transport cannot write memory.")
        p, r, f = self.device.resolve(name)
        if r is None:
            raise PeripheralError(f"'{name}' is a peripheral; write one of its registers or fields.")
        if not r.writable:
            raise PeripheralError(f"{r.qualified} is read-only (access={r.access}) and cannot be written.")
        if f is None:
            value = _parse_int(value_text, r.size, r.qualified)
            notes = self._register_write_notes(r, value)
        else:
            value, notes = self._compose_field_write(p, r, f, value_text)
        with self._lock:
            back = self._write(r.address, value.to_bytes(r.nbytes, self.byteorder))  # type: ignore[arg-type]
            got = int.from_bytes(back, self.byteorder) if len(back) == r.nbytes else None  # type: ignore[arg-type]
            if got is None:
                return Reading(r, None, "written; no read-back from the transport"), notes
            if r.read_effect():
                notes.append(f"the transport read it back after writing, and {r.read_effect()}")
            lost = _not_kept(r, f, value, got)
            if lost:
                notes.append(f"{lost} did not keep the written value (the hardware changed it at once, or the "
                             "transport dropped the write: QEMU's gdb stub ignores writes to device registers)")
            return self._remember(r, got, time.time(), explicit=False), notes

    def _register_write_notes(self, r: Register, value: int) -> list[str]:
        notes = []
        for g in r.fields:
            mwv = g.modified_write_values
            if mwv in ("oneToClear", "oneToSet", "oneToToggle") and g.extract(value):
                notes.append(f"{g.name} is {WRITE_EFFECTS[mwv]}: the 1s written to it acted")
            elif mwv in ("zeroToClear", "zeroToSet", "zeroToToggle") and g.extract(value) != (1 << g.width) - 1:
                notes.append(f"{g.name} is {WRITE_EFFECTS[mwv]}: the 0s written to it acted")
            elif mwv in ("clear", "set"):
                notes.append(f"{g.name}: {WRITE_EFFECTS[mwv]}")
        return notes

    def _compose_field_write(self, p: Peripheral, r: Register, f: Field, text: str) -> tuple[int, list[str]]:
        if not f.writable:
            raise PeripheralError(f"{r.qualified}.{f.name} is read-only (access={f.access}) and cannot be written.")
        value = _field_value(f, text, r.qualified)
        notes: list[str] = []
        others = [g for g in r.fields if g is not f]
        safe_read = skip_reason(r, False) is None
        if safe_read:
            with self._lock:
                base = int.from_bytes(self._counted_read(r.address, r.nbytes), self.byteorder)  # type: ignore[arg-type]
        else:
            keep = [g.name for g in others if g.writable and NEUTRAL_BITS.get(g.modified_write_values or "", "keep") == "keep"]
            if keep:
                raise PeripheralError(f"{r.qualified} cannot be read without a side effect, so its other fields "
                                      f"({', '.join(keep)}) cannot be kept: write the whole register instead.")
            base = r.reset_value
        new = base
        for g in others:
            neutral = NEUTRAL_BITS.get(g.modified_write_values or "", "keep")
            if neutral == 0:
                new &= ~g.mask
            elif neutral == 1:
                new |= g.mask
            elif neutral is None:
                notes.append(f"writing the register also acts on {g.name} ({WRITE_EFFECTS[g.modified_write_values or '']})")
        new = (new & ~f.mask) | (value << f.lsb)
        mwv = f.modified_write_values
        if mwv in WRITE_EFFECTS and WRITE_EFFECTS[mwv]:
            notes.append(f"{f.name} is {WRITE_EFFECTS[mwv]}")
        return new & ((1 << r.size) - 1), notes

    # -- presentation helpers shared by the front ends ------------------------------------------------------
    def field_text(self, f: Field, register_value: int, hex: bool = False) -> str:
        v = f.extract(register_value)
        name = f.enum_name(v)
        num = f"0x{v:x}" if hex and f.width > 1 else str(v)
        return f"{name} ({num})" if name else num


def _not_kept(r: Register, f: Field | None, written: int, got: int) -> str:
    """The plain read-write fields whose read-back differs from what was written (comma-separated)."""
    plain = [g for g in ([f] if f is not None else r.fields) if g.readable and g.writable
             and g.modified_write_values in (None, "modify") and not g.read_action]
    if not r.fields and f is None and r.readable and r.modified_write_values in (None, "modify") and not r.read_action:
        return r.qualified if written != got else ""
    return ", ".join(f"{r.qualified}.{g.name}" for g in plain if g.extract(written) != g.extract(got))


def register_text(r: Register, value: int) -> str:
    return f"0x{value:0{r.nbytes * 2}X}"


def _parse_int(text: str, bits: int, what: str) -> int:
    t = text.strip().replace("_", "")
    try:
        n = int(t, 0)
    except ValueError:
        raise PeripheralError(f"'{text.strip()}' is not a number for {what}; give e.g. 0x1F, 0b101 or 31.") from None
    if n < 0:
        n += 1 << bits
    if not 0 <= n < 1 << bits:
        raise PeripheralError(f"{text.strip()} does not fit in {what}'s {bits} bits.")
    return n


def _field_value(f: Field, text: str, reg_name: str) -> int:
    what = f"{reg_name}.{f.name}"
    t = text.strip()
    by_name = f.enum_value(t)
    if by_name is not None:
        return by_name
    if t and (t[0].isalpha() or t[0] == "_") and not t.lower().startswith(("0x", "0b", "0o")):
        names = [e.name for e in f.enums if e.value is not None]
        hint = f"; its values are {', '.join(names)}" if names else ""
        raise PeripheralError(f"'{t}' is not a value of {what}{hint}.")
    value = _parse_int(t, f.width, what)
    if f.write_range is not None and not f.write_range[0] <= value <= f.write_range[1]:
        raise PeripheralError(f"{what} accepts {f.write_range[0]}..{f.write_range[1]} only (writeConstraint).")
    return value


def _is_user(e: BaseException) -> bool:
    from firmwatch.errors import is_user_error

    return is_user_error(e)
