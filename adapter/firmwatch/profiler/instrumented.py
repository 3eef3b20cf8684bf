"""An instrumented profiling run: firmware built with -finstrument-functions and
firmware/profiler, records streamed over a serial line, a profile rebuilt as they arrive.

    run = InstrumentedRun(program, "/dev/ttyACM0", baud=115200)
    run.start()             # METADATA checked against the ELF, buffers reset, START
    run.snapshot()          # a Profile at any time, from any thread
    profile = run.stop()    # STOP (every record in), final counts from the device

The device's build id is the CRC32 of its .text; a different one means the ELF does not
describe the code that runs (every name would be wrong), so the run refuses it unless told
to carry on (``strict=False``, which adds a note instead).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable

from firmwatch.profiler import protocol as P
from firmwatch.profiler.calltree import UNKNOWN_CALLER, CallTreeBuilder
from firmwatch.profiler.link import ProfilerLink, SharedLine
from firmwatch.profiler.report import FunctionRow, Profile
from firmwatch.profiler.symbolize import Symbolizer
from firmwatch.symbols.program import Program


def text_crc32(elf_path: str) -> int | None:
    """CRC32 of the ELF's .text section, as firmware/profiler computes it on the device."""
    from elftools.elf.elffile import ELFFile

    with open(elf_path, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".text")
        if sec is None or sec["sh_type"] == "SHT_NOBITS":
            return None
        return zlib.crc32(sec.data()) & 0xFFFFFFFF


class InstrumentedRun:
    def __init__(self, program: Program, port: str | SharedLine, baud: int = 115200, *, strict: bool = True,
                 keep_intervals: bool = True, timeout: float = 0.5,
                 link_factory: Callable[..., ProfilerLink] = ProfilerLink):
        self.program = program
        self.symbolizer = Symbolizer(program)
        self.port = port
        self.baud = baud
        self.strict = strict
        self._lock = threading.Lock()
        self._builder = CallTreeBuilder(self.symbolizer.function, keep_intervals=keep_intervals)
        self._link_factory = link_factory
        self._timeout = timeout
        self.link: ProfilerLink | None = None
        self.metadata: P.Metadata | None = None
        self.notes: list[str] = []
        self.status: P.Status | None = None  # the device's counts after STOP
        self._started = 0.0
        self._stopped: float | None = None
        self._last_status: P.Status | None = None

    # -- the run ------------------------------------------------------------------------------
    def start(self) -> P.Metadata:
        self.link = self._link_factory(self.port, self.baud, timeout=self._timeout,
                                       on_records=self._on_records, on_gap=self._on_gap)
        try:
            md = self.link.metadata()
            self._check_build(md)
            if md.timer_hz <= 0:
                raise P.ProfilerError("the device reports a profiling timer of 0 Hz; its firmware/profiler port is misconfigured.")
            self.metadata = md
            self.link.reset()
            self.link.start()
        except BaseException:
            self.link.close()
            self.link = None
            raise
        self._started = time.monotonic()
        return md

    def _check_build(self, md: P.Metadata) -> None:
        want = text_crc32(self.program.elf.path)
        if want is None:
            self.notes.append(f"{self.program.elf.path} has no .text section: the device's build id "
                              f"0x{md.build_id:08X} could not be checked.")
            return
        if want != md.build_id:
            msg = (f"the device runs other code than {self.program.elf.path} (.text CRC32 0x{md.build_id:08X} on the "
                   f"device, 0x{want:08X} in the ELF): flash this ELF, or give the ELF the device was built from")
            if self.strict:
                raise P.ProfilerError(msg + ".")
            self.notes.append(msg + "; names below may be wrong.")

    def _on_records(self, records: list[P.Record]) -> None:
        with self._lock:
            self._builder.add(records)

    def _on_gap(self) -> None:
        with self._lock:
            self._builder.gap()

    def poll_status(self) -> P.Status | None:
        """Ask the device for its counters (for a live view of its overflows); None if it did
        not answer in time. Never call it from the records callback."""
        if self.link is None:
            return None
        try:
            self._last_status = self.link.status()
        except P.ProfilerError:
            err = self.link.error()
            if err is not None:
                raise err from None
            return None
        return self._last_status

    def stop(self) -> Profile:
        if self.link is None:
            raise P.ProfilerError("the profile was not started.")
        try:
            self.link.stop()
            self.status = self.link.status()
        except P.ProfilerError as e:
            # the device went away (or stopped answering): keep what arrived, say what is missing
            self.notes.append(f"{e} The profile holds the calls that arrived before; the device's own counts "
                              "of what it kept and lost could not be read.")
        finally:
            self._stopped = time.monotonic()
            self.link.close()
        with self._lock:
            self._builder.finish()
        return self.snapshot()

    # -- results ------------------------------------------------------------------------------
    def snapshot(self) -> Profile:
        md = self.metadata
        hz = md.timer_hz if md is not None and md.timer_hz else 1_000_000
        unit = 1.0 / hz
        with self._lock:
            b = self._builder
            tree = b.snapshot() if self._stopped is None else b.root.copy()
            span = b.span
            stats = list(b.functions.values())
            counters = {
                "records": b.records,
                "orphans": b.orphans,
                "lost_time_s": b.lost_time * unit,
            }
            intervals = [(iv.func, iv.start * unit, iv.end * unit, iv.depth) for iv in b.intervals] \
                if b.keep_intervals else []
            counters["intervals_dropped"] = b.intervals_dropped
        if intervals:
            t0 = min(iv[1] for iv in intervals)
            intervals = [(f, s - t0, e - t0, d) for f, s, e, d in intervals]
        duration = span * unit
        defs = self.symbolizer.definitions()
        rows = []
        for st in stats:
            where = defs.get(st.name)
            rows.append(FunctionRow(
                name=st.name, self_s=st.self_time * unit, total_s=st.total_time * unit,
                share=st.self_time / span if span else 0.0, calls=st.calls,
                min_s=st.min_time * unit, avg_s=st.avg_time * unit, max_s=st.max_time * unit,
                file=where.file if where else None, line=where.line if where else None))
        rows.sort(key=lambda r: (-r.self_s, r.name))
        link = self.link
        if link is not None:
            c = link.counters
            counters.update(frames=c.frames, corrupt_frames=c.corrupt_frames, bad_frames=c.bad_frames,
                            foreign_frames=c.foreign_frames, skipped_bytes=c.skipped_bytes,
                            received=c.records)
        notes = list(self.notes)
        st = self.status or self._last_status
        if st is not None:
            counters.update(device_captured=st.records_captured, device_overflows=st.overflows,
                            device_buffer_usage=st.buffer_usage)
        if self.status is not None and link is not None:
            lost = self.status.records_captured - link.counters.records
            counters["link_lost"] = lost
            if lost > 0:
                notes.append(f"{lost} records sent by the device were lost on the link "
                             f"({link.counters.corrupt_frames} corrupt frames); the calls they describe are "
                             "missing, and their callers' unexplained time is shown as \"(records lost)\".")
        if st is not None and st.overflows:
            kept = st.records_captured
            notes.append(
                f"the device could not keep {st.overflows} of {st.overflows + kept} records (its ring was full or the "
                "calls nested too deep); those calls and their callers are missing, never credited to other "
                "functions: raise the baud rate, enlarge FWP_RING_RECORDS, or instrument fewer functions.")
        unk = tree.children.get(UNKNOWN_CALLER)
        if unk is not None and self._stopped is not None and counters["orphans"]:
            notes.append(f"{counters['orphans']} calls' callers were not recorded (still running when the profile "
                         f"stopped, or lost); they are listed under \"{UNKNOWN_CALLER}\".")
        err = link.error() if link is not None else None
        if err is not None and not any(str(err) in n for n in notes):
            notes.append(str(err))
        return Profile(
            mode="instrumented", elf=self.program.elf.path, duration_s=duration, functions=rows,
            tree=tree, tree_unit_s=unit, counters=counters, notes=notes,
            device={} if md is None else {"mcu_clock_hz": md.mcu_clock_hz, "timer_hz": md.timer_hz,
                                          "build_id": f"0x{md.build_id:08X}", "fw_version": md.fw_version},
            running=self._stopped is None, intervals=intervals)

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
