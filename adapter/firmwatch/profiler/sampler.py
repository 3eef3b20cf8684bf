"""Zero-instrumentation profiling: the program counter, sampled over a GDB server.

Works on any firmware the ELF describes, built for profiling or not. How a sample is taken
depends on what the transport allows (``method``):

* ``live`` -- the server answers register reads while the CPU runs (simavr's stub does): the
  CPU is never stopped.
* ``dwt`` -- Cortex-M's DWT program-counter sample register (PCSR, 0xE000101C), read as memory
  through a server that reads memory while the CPU runs (a probe's server: OpenOCD, pyOCD,
  J-Link): never stopped either. The sampler checks that it reads code addresses first.
* ``halt`` -- halt, read the PC, resume, within the transport's intrusion budget (QEMU's stub
  answers nothing while the CPU runs). The share of time the CPU spent halted is reported.

A shallow stack comes with ``halt`` samples on ARM and RISC-V: the link register (``lr``,
``ra``) is read in the same halt. In a leaf function (no call in its code, per the ELF) it still
holds the return address, so when the ELF has a call instruction right before it, in another
function, that function is the caller -- or, when that call went to a third function that jumped
on to this one (a tail call), the third one.
Elsewhere the link register may be stale or scratch: the caller is "(caller not known)" rather
than a guess.

Samples are taken on a thread of their own at up to ``rate_hz``, at randomly jittered instants
(a fixed interval would alias with a periodic workload and see the same phase over and over);
where the transport cannot keep up with the rate, each sample still waits a random (exponential)
pause, so the instants never fall into the transport's own fixed round trip. While the CPU is stopped for
another reason (a breakpoint) no sample is taken: a stopped PC would pile up samples in one
place. Each sample is symbolized to its function and source line.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from firmwatch.profiler.calltree import CallNode
from firmwatch.profiler.protocol import ProfilerError
from firmwatch.profiler.report import FunctionRow, LineRow, Profile
from firmwatch.profiler.symbolize import Symbolizer
from firmwatch.targets.base import TargetError, TargetLost
from firmwatch.targets.control import ExecutionControl, RunState, Unsupported

METHODS = ("auto", "live", "dwt", "halt")
CALLER_UNKNOWN = "(caller not known)"
LINK_REGISTER = {"ARM": "lr", "RISC-V": "ra"}
DWT_CTRL = 0xE0001000
DWT_PCSR = 0xE000101C
DEMCR = 0xE000EDFC
TRCENA = 1 << 24


class PcSampler:
    def __init__(self, control: ExecutionControl, symbolizer: Symbolizer, *, rate_hz: float = 1000.0,
                 method: str = "auto", keep_samples: int = 1_000_000, stacks: bool = True):
        if method not in METHODS:
            raise ProfilerError(f"sampling method '{method}' is unknown: choose one of {', '.join(METHODS)}.")
        if rate_hz <= 0:
            raise ProfilerError(f"a sampling rate of {rate_hz} Hz is not a rate: give a positive number.")
        self.control = control
        self.symbolizer = symbolizer
        self.rate_hz = rate_hz
        self.want = method
        self.method: str | None = None
        self.keep_samples = keep_samples
        self._lock = threading.Lock()
        self._pcs: Counter[tuple[int, int | None]] = Counter()  # (pc, link register or None)
        self._timeline: list[tuple[float, int, int | None]] = []
        self._stacks = stacks
        self._link: str | None = None  # the register read with the PC for a shallow stack
        self.samples = 0
        self.failed = 0  # sample attempts that got no PC (a timeout, a refused read)
        self.paused = 0  # attempts skipped because the CPU was stopped by someone else
        self.halted_s = 0.0
        self._t0 = 0.0
        self._t_end: float | None = None
        self._error: ProfilerError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notes: list[str] = []

    # -- choosing how ---------------------------------------------------------------------
    def _code(self, pc: int) -> bool:
        return self.symbolizer.containing(pc) is not None

    def _try_live(self) -> bool:
        try:
            regs = self.control.live_registers(["pc"])
        except TargetError:
            return False
        return bool(regs) and self._code(regs["pc"])

    def _try_dwt(self) -> bool:
        if self.symbolizer.program.elf.machine != "ARM" or "live-read" not in self.control.target.capabilities:
            return False
        try:
            if self._dwt_ok():
                return True
            demcr = int.from_bytes(self.control.read(DEMCR, 4), "little")
            if not demcr & TRCENA:  # the DWT is off until the debugger turns trace on
                self.control.write(DEMCR, (demcr | TRCENA).to_bytes(4, "little"))
            return self._dwt_ok()
        except TargetError:
            return False

    def _dwt_ok(self) -> bool:
        pcs = [int.from_bytes(self.control.read(DWT_PCSR, 4), "little") for _ in range(4)]
        return all(pc not in (0, 0xFFFFFFFF) and self._code(pc) for pc in pcs)

    def _choose(self) -> str:
        if self.control.state != RunState.RUNNING:
            raise ProfilerError("the CPU is stopped: resume it (continue) and sample again.")
        if self.want in ("auto", "live") and self._try_live():
            return "live"
        if self.want in ("auto", "dwt") and self._try_dwt():
            return "dwt"
        if self.want in ("live", "dwt"):
            raise ProfilerError(
                f"this GDB server cannot sample the PC without halting the CPU ({self.want} sampling needs "
                + ("a server that reads registers while the CPU runs" if self.want == "live" else
                   "a Cortex-M with a DWT and a server that reads memory while the CPU runs")
                + "): use --sample halt, which stops the CPU briefly within the intrusion budget.")
        return "halt"

    # -- sampling -----------------------------------------------------------------------------
    def _one(self) -> tuple[int, int | None] | None:
        m = self.method
        if m == "live":
            regs = self.control.live_registers(["pc"])
            return None if not regs else (regs["pc"], None)
        if m == "dwt":
            pc = int.from_bytes(self.control.read(DWT_PCSR, 4), "little")
            return None if pc in (0, 0xFFFFFFFF) else (pc, None)
        names = ["pc", self._link] if self._link else ["pc"]
        snap = self.control.snapshot(names)
        self.halted_s += snap.halted_s
        pc = snap.registers.get("pc")
        return None if pc is None else (pc, snap.registers.get(self._link) if self._link else None)

    def start(self) -> str:
        try:
            self.method = self._choose()
        except Unsupported as e:
            raise ProfilerError(f"this transport cannot sample the program counter ({e}).") from None
        if self.method == "halt" and self._stacks:
            self._link = LINK_REGISTER.get(self.symbolizer.program.elf.machine)
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="firmwatch-pc-sampler", daemon=True)
        self._thread.start()
        return self.method

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        rng = random.Random()
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                if self.control.state != RunState.RUNNING:
                    self.paused += 1
                    got = None
                else:
                    got = self._one()
                    if got is None:
                        self.failed += 1
            except TargetLost as e:
                self._error = ProfilerError(f"sampling stopped: {e}")
                return
            except TargetError:
                self.failed += 1
                got = None
            if got is not None:
                now = time.monotonic()
                with self._lock:
                    self.samples += 1
                    self._pcs[got] += 1
                    if len(self._timeline) < self.keep_samples:
                        self._timeline.append((now - self._t0, *got))
            due += period * (0.5 + rng.random())
            wait = due - time.monotonic()
            if wait <= 0:
                # The transport is at or below the rate. Sampling back to back would put the
                # instants one round trip apart: a fixed interval again, which aliases with a
                # periodic workload as surely as a fixed timer (halting QEMU at 100-200 samples/s,
                # telemetry_pack came out 0.06 under its share). A random pause, exponential
                # with a period's mean, keeps them random; the rate drops to about
                # 1 / (round trip + period).
                wait = rng.expovariate(self.rate_hz)
                due = time.monotonic() + wait
            self._stop.wait(wait)

    def stop(self) -> Profile:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._t_end = time.monotonic()
        return self.snapshot()

    def error(self) -> ProfilerError | None:
        return self._error

    def poll_status(self) -> None:
        """Nothing to fetch: a sampled run has no device counters (ProfileRun)."""

    # -- results ------------------------------------------------------------------------------
    def _caller(self, link: int | None, func: str) -> str | None:
        sym = self.symbolizer
        if link is None or not sym.is_leaf(func) or not sym.return_site(link):
            return None
        caller = sym.containing(link)
        target = sym.call_target(link)
        called = sym.containing(target) if target is not None else None
        if called is not None and called != func:
            # the call went to another function, which jumped on to this one (a tail call): that
            # one's frame is gone, but it is the function whose code reached this one
            caller = called
        return caller if caller is not None and caller != func else None

    def snapshot(self) -> Profile:
        with self._lock:
            pcs = dict(self._pcs)
            timeline = list(self._timeline)
            n = self.samples
        end = self._t_end if self._t_end is not None else time.monotonic()
        duration = max(end - self._t0, 0.0) if self._t0 else 0.0
        period = duration / n if n else 0.0
        sym = self.symbolizer
        per_func: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        per_line: Counter[tuple[str, int, str]] = Counter()
        stacks: Counter[tuple[str, ...]] = Counter()
        name_of: dict[tuple[int, int | None], tuple[str, ...]] = {}
        known = 0
        for (pc, link), k in pcs.items():
            f = sym.containing(pc) or f"(outside any function) 0x{pc:x}"
            caller = self._caller(link, f)
            stack: tuple[str, ...] = (f,)
            if self._link:
                stack = (caller, f) if caller else (CALLER_UNKNOWN, f)
            if caller:
                known += k
                inclusive[caller] += k
            name_of[(pc, link)] = stack
            per_func[f] += k
            inclusive[f] += k
            stacks[stack] += k
            where = sym.line(pc)
            if where is not None:
                per_line[(where.file, where.line, f)] += k
        defs = sym.definitions()
        rows = []
        for f in set(per_func) | set(inclusive):
            k = per_func.get(f, 0)
            where = defs.get(f)
            rows.append(FunctionRow(name=f, self_s=k * period, total_s=inclusive[f] * period,
                                    share=k / n if n else 0.0, samples=k, file=where.file if where else None,
                                    line=where.line if where else None))
        rows.sort(key=lambda r: (-(r.samples or 0), r.name))
        tree = CallNode("")
        for stack, k in stacks.items():
            node = tree
            for i, f in enumerate(stack):
                node = node.child(f)
                node.total_time += k
                if i == len(stack) - 1:
                    node.self_time += k
        lines = [LineRow(file, line, f, k, k / n if n else 0.0)
                 for (file, line, f), k in sorted(per_line.items(), key=lambda kv: -kv[1])]
        counters = {"samples": n, "failed": self.failed, "paused": self.paused, "rate_hz": self.rate_hz,
                    "samples_per_s": n / duration if duration else 0.0, "halted_s": self.halted_s,
                    "halted_share": self.halted_s / duration if duration else 0.0,
                    "callers_known": known}
        notes = list(self.notes)
        if self.failed:
            notes.append(f"{self.failed} sample attempts got no program counter (the server did not answer in "
                         "time or refused); they are left out, not guessed.")
        if self._error is not None:
            notes.append(str(self._error))
        return Profile(
            mode="sampled", elf=sym.program.elf.path, duration_s=duration, functions=rows, tree=tree,
            tree_unit_s=period, lines=lines, counters=counters, notes=notes,
            device={"method": self.method, "transport": self.control.target.info().name,
                    "stack": self._link is not None},
            running=self._t_end is None,
            samples=[(t, name_of.get((pc, link)) or (sym.containing(pc) or f"0x{pc:x}",))
                     for t, pc, link in timeline])
