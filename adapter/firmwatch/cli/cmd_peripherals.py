"""``firmwatch peripherals``: peripheral registers from a CMSIS-SVD file, decoded to fields, live."""

from __future__ import annotations

import argparse
import sys
import time

from firmwatch.cli.cmd_live import add_target_args, open_session


class _Intermixed(argparse.ArgumentParser):
    """Names may follow the options (``ELF --svd F --gdb H:P UART0``): argparse alone would take the
    names' empty list at the ELF and then reject them."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("peripherals", help="show (and write) peripheral registers described by a CMSIS-SVD file",
                       description="Reads the registers of the peripherals an SVD file describes, decoded to fields. "
                                   "Registers whose read has a side effect (readAction), write-only registers and "
                                   "--manual peripherals are never read unless named with --read-now.")
    p.__class__ = _Intermixed
    add_target_args(p)
    p.add_argument("--svd", required=True, metavar="FILE", help="the device's CMSIS-SVD file")
    p.add_argument("name", nargs="*", metavar="PERIPHERAL[.REGISTER]", help="what to show (default: every peripheral)")
    p.add_argument("--manual", action="append", default=[], metavar="PERIPH[,PERIPH]",
                   help="peripherals never read automatically (reading them disturbs the device)")
    p.add_argument("--read-now", action="append", default=[], metavar="PERIPH.REG",
                   help="read this register even though a refresh skips it (its side effect happens)")
    p.add_argument("--write", action="append", default=[], metavar="PERIPH.REG[.FIELD]=VALUE",
                   help="write a register or one field (read-modify-write), then show the read-back")
    p.add_argument("--live", action="store_true", help="refresh until Ctrl-C (or --duration), marking changes with *")
    p.add_argument("--interval", type=float, default=0.5, metavar="S", help="seconds between live refreshes (default 0.5)")
    p.add_argument("--duration", type=float, metavar="S", help="stop a --live view after this many seconds")
    p.add_argument("--hex", action="store_true", help="field numbers in hex")
    p.add_argument("--stats", action="store_true", help="print the memory reads, bytes and time of each refresh")
    p.set_defaults(func=run_peripherals)


def run_peripherals(args: argparse.Namespace) -> int:
    from firmwatch.peripherals.svd import load_svd

    device = load_svd(args.svd)
    for w in device.warnings:
        print(f"firmwatch: warning: {args.svd}: {w}", file=sys.stderr)
    manual = [m.strip() for item in args.manual for m in item.split(",") if m.strip()]
    # names are checked before connecting: a typo costs no connection
    wanted = [device.resolve(n) for n in args.name]
    for n in args.read_now:
        device.resolve(n)
    writes = []
    for w in args.write:
        target, sep, value = w.partition("=")
        if not sep or not value.strip():
            print(f"firmwatch: --write needs PERIPH.REG[.FIELD]=VALUE, not '{w}'.", file=sys.stderr)
            return 2
        device.resolve(target)
        writes.append((target.strip(), value.strip()))
    with open_session(args, 10.0) as session:
        view = session.attach_svd(device, manual)
        for target, value in writes:
            reading, notes = view.write(target, value)
            shown = "no read-back" if reading.value is None else f"0x{reading.value:0{reading.register.nbytes * 2}X}"
            print(f"{target} = {value}: read back {shown}" + (f" ({'; '.join(notes)})" if notes else ""))
        for n in args.read_now:
            why = view.consequence(n)
            if why:
                print(f"firmwatch: reading {n} now: {why}.", file=sys.stderr)
            r = view.read_now(n)
            print(f"{n} = 0x{r.value:0{r.register.nbytes * 2}X}")
            _fields(r.register, r.value, view, args.hex, "  ")
        if (writes or args.read_now) and not args.name and not args.live:
            return 0
        peripherals = sorted({p.name for p, _, _ in wanted}) if wanted else device.names()
        only = {r.qualified for _, r, _ in wanted if r is not None}
        deadline = time.monotonic() + args.duration if args.duration else None
        while True:
            t0 = time.perf_counter()
            before = view.stats.reads, view.stats.bytes
            readings = view.refresh(peripherals)
            ms = (time.perf_counter() - t0) * 1000
            if args.live:
                print(f"\n--- {time.strftime('%H:%M:%S')}")
            _print(device, peripherals, readings, only, view, args.hex)
            if args.stats:
                print(f"refresh: {view.stats.reads - before[0]} memory reads, {view.stats.bytes - before[1]} bytes, "
                      f"{ms:.1f} ms")
            if not args.live or (deadline is not None and time.monotonic() >= deadline):
                return 0
            try:
                time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0


def _print(device, peripherals, readings, only, view, hex_: bool) -> None:  # noqa: ANN001
    for name in peripherals:
        p = device.peripheral(name)
        regs = [r for r in p.registers if not only or r.qualified in only or not any(
            o.startswith(p.name + ".") for o in only)]
        if not regs:
            continue
        print(f"{p.name}  0x{p.base:08X}  {p.description}".rstrip())
        for r in regs:
            got = readings[r.qualified]
            mark = "*" if got.changed else " "
            if got.value is None:
                print(f"  {r.path:<16} 0x{r.address:08X}   {got.note}")
                continue
            value = f"0x{got.value:0{r.nbytes * 2}X}"
            note = f"   ({got.note})" if got.note else ""
            print(f"  {r.path:<16} 0x{r.address:08X} {mark}{value}{note}")
            _fields(r, got.value, view, hex_, "      ")


def _fields(r, value: int, view, hex_: bool, indent: str) -> None:  # noqa: ANN001
    for f in r.fields:
        shown = view.field_text(f, value, hex_) if f.readable else "(write-only)"
        print(f"{indent}{f.bits:<8} {f.name:<14} {shown}")
