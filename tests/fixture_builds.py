"""Build the symbol fixtures (tests/fixtures/symbols) with real compilers, once per session.

Any test may import this module::

    from fixture_builds import fixture_elf, CONFIGS
    elf = fixture_elf("arm-O0-dwarf4")        # Path to a freshly built ELF

or compile its own sources with :func:`compile_elf`. Builds land in one temporary
directory per test session and are reused within the session (keyed by configuration).
A missing compiler skips the test (fails in CI) through ``tools.require_tool``.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tools import require_tool

FIXTURES = Path(__file__).parent / "fixtures" / "symbols"

C_SOURCES = ("types.c", "dup_a.c", "dup_b.c", "main.c")
C_NODEBUG = ("table.c",)  # compiled without -g: tests the symbol-table fallback

_ARM = ("-mcpu=cortex-m3", "-mthumb")
_BARE = ("-nostdlib", "-nostartfiles", "-ffreestanding", "-DFW_BARE", "-Wl,-e,_start")
_RV32 = ("-march=rv32imac_zicsr", "-mabi=ilp32")


@dataclass(frozen=True)
class Config:
    name: str
    compiler: str
    flags: tuple[str, ...]
    gdb: str = "gdb-multiarch"
    language: str = "c"  # "c", "c++", "rust"
    sources: tuple[str, ...] = C_SOURCES
    nodebug: tuple[str, ...] = C_NODEBUG
    notes: str = ""
    link_flags: tuple[str, ...] = field(default=())


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("host-gcc", "gcc", ("-g", "-O0"), notes="x86-64, DWARF 5 (gcc default)"),
        Config("host-gcc-dwarf3", "gcc", ("-gdwarf-3", "-O1"), notes="DW_AT_bit_offset bitfields"),
        Config("arm-O0-dwarf2", "arm-none-eabi-gcc", ("-gdwarf-2", "-gstrict-dwarf", "-O0", *_ARM, *_BARE)),
        Config("arm-O0-dwarf4", "arm-none-eabi-gcc", ("-gdwarf-4", "-O0", *_ARM, *_BARE)),
        Config("arm-Os-dwarf5", "arm-none-eabi-gcc", ("-gdwarf-5", "-Os", *_ARM, *_BARE)),
        Config("arm-O0-dwarf5-gz", "arm-none-eabi-gcc", ("-gdwarf-5", "-gz", "-O0", *_ARM, *_BARE)),
        Config(
            "arm-O0-dwarf4-zdebug",
            "arm-none-eabi-gcc",
            ("-gdwarf-4", "-gz=zlib-gnu", "-O0", *_ARM, *_BARE),
            notes="old-style .zdebug_* sections",
        ),
        Config(
            "arm-be-dwarf3",
            "arm-none-eabi-gcc",
            ("-gdwarf-3", "-O0", "-mbig-endian", "-mcpu=cortex-r4", "-marm", *_BARE),
            notes="big-endian, DWARF 3 bit offsets",
        ),
        Config(
            "arm-be-dwarf5",
            "arm-none-eabi-gcc",
            ("-gdwarf-5", "-O0", "-mbig-endian", "-mcpu=cortex-r4", "-marm", *_BARE),
            notes="big-endian, DW_AT_data_bit_offset",
        ),
        Config(
            "avr-Os-dwarf4",
            "avr-gcc",
            ("-gdwarf-4", "-Os", "-mmcu=atmega328p", "-DFW_AVR"),
            gdb="avr-gdb",
            notes="16-bit pointers",
        ),
        Config("riscv32-O0-dwarf4", "riscv64-unknown-elf-gcc", ("-gdwarf-4", "-O0", *_RV32, *_BARE)),
        Config("host-g++", "g++", ("-g", "-O0"), language="c++", sources=("classes.cpp",), nodebug=()),
        Config(
            "host-g++-dwarf4",
            "g++",
            ("-gdwarf-4", "-O1"),
            language="c++",
            sources=("classes.cpp",),
            nodebug=(),
            notes="static members as DW_TAG_member declarations",
        ),
        Config("host-rustc", "rustc", ("-g", "-C", "opt-level=0"), language="rust", sources=("statics.rs",), nodebug=()),
        Config(
            "host-rustc-dwarf5",
            "rustc",
            ("-g", "-C", "dwarf-version=5", "-C", "opt-level=0"),
            language="rust",
            sources=("statics.rs",),
            nodebug=(),
            notes="LLVM's DWARF 5: strx/addrx forms, DW_OP_addrx locations",
        ),
    )
}

_built: dict[str, Path] = {}
_workdir: Path | None = None


def build_dir() -> Path:
    global _workdir
    if _workdir is None:
        _workdir = Path(tempfile.mkdtemp(prefix="firmwatch-fixtures-"))
        atexit.register(shutil.rmtree, _workdir, True)
    return _workdir


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"fixture build failed: {' '.join(cmd)}\n{r.stderr[-4000:]}")


def compile_elf(
    name: str,
    compiler: str,
    sources: list[str | Path],
    flags: list[str],
    *,
    nodebug_sources: list[str | Path] = (),  # type: ignore[assignment]
    out_dir: Path | None = None,
) -> Path:
    """Compile and link ``sources`` (paths, or names under tests/fixtures/symbols) into an ELF.

    ``nodebug_sources`` are compiled with the same flags minus every ``-g*`` option.
    Returns the ELF path. Raises RuntimeError with the compiler's stderr on failure.
    """
    cc = require_tool(compiler)
    out = (out_dir or build_dir()) / name
    out.mkdir(parents=True, exist_ok=True)
    elf = out / f"{name}.elf"
    srcs = [str(s if Path(s).is_absolute() else FIXTURES / s) for s in sources]
    if compiler == "rustc":
        _run([cc, *flags, "-o", str(elf), *srcs], out)
        return elf
    objs: list[str] = []
    for s in nodebug_sources:
        src = str(s if Path(s).is_absolute() else FIXTURES / s)
        obj = out / (Path(src).stem + ".nodebug.o")
        _run([cc, *[f for f in flags if not f.startswith("-g")], "-c", "-o", str(obj), src], out)
        objs.append(str(obj))
    _run([cc, *flags, "-o", str(elf), *srcs, *objs], out)
    return elf


def fixture_elf(config: str) -> Path:
    """The fixture program built with the named configuration (see :data:`CONFIGS`)."""
    hit = _built.get(config)
    if hit is not None and hit.exists():
        return hit
    c = CONFIGS[config]
    elf = compile_elf(
        c.name, c.compiler, list(c.sources), list(c.flags) + list(c.link_flags), nodebug_sources=list(c.nodebug)
    )
    _built[config] = elf
    return elf
