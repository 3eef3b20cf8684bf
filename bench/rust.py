"""The Rust streamer crate (firmware/rust) against the C core, measured side by side in one run.

    python bench/rust.py [--seconds S] [--ticks N]

1. Per-sample cost on the host: 16 streams of 4 bytes, every stream due every tick, output
   drained after every tick (firmware/rust/bench: tick_bench.c on the C core, tick-bench on the
   crate), best of 5 runs; the C core built as the host port builds it (-O2) and with LTO.
2. The same 16 x 1 kHz stream set on the real host devices over their ptys (firmware/ports/host
   in C, `firmwatch sim --target host-rust` in Rust) for S seconds: samples delivered, loss as
   the host and the device count it, and the device process's CPU time.
3. Code size on the host target (x86-64; Cortex-M cannot be cross-compiled here): what each
   core adds to a minimal program (firmware/rust/nostd-check/footprint.c), -Os / opt-level s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from firmwatch import sim
from firmwatch.targets.base import Region
from firmwatch.targets.streamer import StreamerTarget

ROOT = Path(__file__).resolve().parent.parent
RUST = ROOT / "firmware" / "rust"
CORE = ROOT / "firmware" / "core"
OUT = ROOT / "bench" / "_build" / "rust"
STREAMS, VALUE_BYTES, RATE_HZ = 16, 4, 1000
CORE_SRC = [str(CORE / f) for f in ("fw_core.c", "fw_cmd.c", "fw_stream.c", "fw_text.c")]


def cargo() -> str:
    return sim.SPECS["host-rust"].build_tools[1].command


def run(cmd: list[str], **kw) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout


def cargo_build(*args: str, target_dir: Path, env: dict[str, str] | None = None) -> None:
    run([cargo(), "build", "--offline", "--manifest-path", str(RUST / "Cargo.toml"), "--target-dir", str(target_dir),
         *args], env={**os.environ, **(env or {})})


# ---------------------------------------------------------------- 1. per-sample cost


def per_sample(ticks: int) -> dict[str, float]:
    cc = shutil.which("cc") or "cc"
    drivers = {}
    for name, flags in (("C core (-O2)", ["-O2"]), ("C core (-O2 -flto)", ["-O2", "-flto"])):
        exe = OUT / ("tick_bench" + ("_lto" if "-flto" in flags else ""))
        run([cc, *flags, "-std=c99", "-fno-pie", "-no-pie", f"-I{CORE}", "-o", str(exe),
             str(RUST / "bench" / "tick_bench.c"), *CORE_SRC])
        drivers[name] = [str(exe)]
    target = OUT / "target"
    cargo_build("--release", "-p", "firmwatch-bench", target_dir=target)
    drivers["Rust crate (release)"] = [str(target / "release" / "tick-bench")]
    best: dict[str, float] = {}
    for _ in range(5):  # interleaved, so machine load hits every driver alike
        for name, cmd in drivers.items():
            out = run([*cmd, str(ticks)])
            m = re.search(r"ns_per_sample ([\d.]+) bytes (\d+) dropped (\d+)", out)
            assert m and int(m.group(2)) == ticks * (8 + 8 + STREAMS * VALUE_BYTES) and m.group(3) == "0", out
            best[name] = min(best.get(name, float("inf")), float(m.group(1)))
    return best


# ---------------------------------------------------------------- 2. the pty run


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pty_run(target: str, seconds: float) -> dict[str, float]:
    with sim.start_sim(target) as dev:
        n = [0]
        with StreamerTarget(dev.port) as t:
            ram = next(r for r in t.info().regions if r.readable and r.size >= STREAMS * VALUE_BYTES)
            t.on_sample(lambda _s: n.__setitem__(0, n[0] + 1))
            for i in range(STREAMS):
                t.start_stream([Region(ram.start + VALUE_BYTES * i, VALUE_BYTES)], RATE_HZ)
            time.sleep(0.3)  # steady state before measuring
            s0, c0, w0 = n[0], cpu_seconds(dev.pid), time.monotonic()
            time.sleep(seconds)
            s1, c1, w1 = n[0], cpu_seconds(dev.pid), time.monotonic()
            t.stop_stream(None)
            st = t.stats(refresh_device=True)
    return {"samples/s": (s1 - s0) / (w1 - w0), "lost": st.lost, "dropped": st.device_dropped,
            "corrupt": st.corrupt_frames, "cpu %": 100 * (c1 - c0) / (w1 - w0)}


# ---------------------------------------------------------------- 3. code size


FLASH = (".text", ".rodata", ".data.rel.ro", ".data")  # .data: its initial image lives in flash
RAM = (".data", ".bss")


def sections(exe: Path) -> dict[str, int]:
    out = {}
    for line in run(["size", "-A", str(exe)]).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            name = next((s for s in (".data.rel.ro", ".rodata", ".text", ".data", ".bss") if parts[0].startswith(s)), None)
            if name:
                out[name] = out.get(name, 0) + int(parts[1])
    return out


def footprint() -> dict[str, tuple[int, int]]:
    cc = shutil.which("cc") or "cc"
    src = str(RUST / "nostd-check" / "footprint.c")
    base = [cc, "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-fno-pie", "-no-pie"]
    empty = OUT / "fp_empty"
    run([*base, "-o", str(empty), src])
    e = sections(empty)
    result = {}
    for text in (True, False):
        label = "text + binary" if text else "binary only"
        exe = OUT / f"fp_c_{int(text)}"
        run([*base, "-DC_CORE", f"-DFW_TEXT_MODE={int(text)}", f"-I{CORE}", "-o", str(exe), src, *CORE_SRC])
        result[f"C core, {label}"] = exe
        target = OUT / f"size-{int(text)}"
        cargo_build("--profile", "size", "-p", "firmwatch-nostd-check", *(() if text else ("--no-default-features",)),
                    target_dir=target)
        exe = OUT / f"fp_rust_{int(text)}"
        run([*base, "-DRUST_CORE", "-o", str(exe), src, str(target / "size" / "libfirmwatch_nostd_check.a")])
        result[f"Rust crate, {label}"] = exe
    sizes = {}
    for name, exe in result.items():
        s = sections(exe)
        flash = sum(s.get(k, 0) - e.get(k, 0) for k in FLASH)
        ram = sum(s.get(k, 0) - e.get(k, 0) for k in RAM)
        sizes[name] = (flash, ram)
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each pty run")
    ap.add_argument("--ticks", type=int, default=200_000, help="ticks per per-sample run")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)

    cost = per_sample(args.ticks)
    c = cost["C core (-O2)"]
    print(f"Per-sample cost, {STREAMS} streams x {VALUE_BYTES} B all due every tick, best of 5 x {args.ticks} ticks")
    print("| core | ns per sample | vs C core (-O2) |\n|---|---|---|")
    for name, ns in cost.items():
        print(f"| {name} | {ns:.1f} | {ns / c:.2f}x |")

    runs = {name: pty_run(target, args.seconds) for name, target in (("C host device", "host"),
                                                                       ("Rust host device", "host-rust"))}
    print(f"\n{STREAMS} x {RATE_HZ} Hz over the pty, {args.seconds:g} s each")
    print("| device | samples/s | lost (host) | dropped (device) | corrupt | device CPU % |\n|---|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['samples/s']:,.0f} | {r['lost']:.0f} | {r['dropped']:.0f} | {r['corrupt']:.0f} "
              f"| {r['cpu %']:.1f} |")
    cr, rr = runs["C host device"], runs["Rust host device"]
    print(f"Rust / C: samples/s {rr['samples/s'] / cr['samples/s']:.3f}x, "
          f"device CPU {rr['cpu %'] / max(cr['cpu %'], 1e-9):.2f}x")

    sizes = footprint()
    print("\nCode size on x86-64 (what the core adds to a minimal program; TX buffer 1,024 B included in RAM)")
    print("| core | flash B | RAM B | flash vs C |\n|---|---|---|---|")
    for name, (flash, ram) in sizes.items():
        ref = sizes["C core, " + name.split(", ", 1)[1]][0]
        print(f"| {name} | {flash:,} | {ram:,} | {flash / ref:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
