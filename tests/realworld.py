"""Real-world firmware images for the symbol engine's oracle tests and benchmarks (issue 19).

Built by the project itself from sources in tests/fixtures/realworld, with the Debian
cross toolchain and its full-DWARF libraries (libnewlib-arm-none-eabi,
libstdc++-arm-none-eabi-newlib):

* ``c_image``: a Cortex-M3 firmware linking the FreeRTOS kernel (../shared/third_party)
  and newlib (stdio, math, malloc), peripherals named through ``static T *const``;
* ``cpp_image``: a C++ firmware with templates, namespaces, anonymous namespaces, class
  statics and libstdc++'s iostream/locale;
* ``big_image``: a generated C++ firmware of many translation units with libstdc++-heavy
  types, for the scaling curve (50 MB+ at the default size).

Each build is cached under the given directory, keyed by its sources and flags.
``compress="zstd"``/``"zlib"`` gives the same image with compressed debug sections.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "fixtures" / "realworld"
FREERTOS = Path(os.environ.get("FIRMWATCH_FREERTOS", HERE.parent.parent / "shared" / "third_party" / "FreeRTOS-Kernel"))
if not FREERTOS.is_dir():  # a worktree sits two levels below the shared folder's parent
    for up in HERE.parents:
        cand = up / "shared" / "third_party" / "FreeRTOS-Kernel"
        if cand.is_dir():
            FREERTOS = cand
            break

ARCH = ["-mcpu=cortex-m3", "-mthumb"]
COMMON = [*ARCH, "-O2", "-g", "-ffunction-sections", "-fdata-sections", "-Wall"]
LINK = [*ARCH, "-nostartfiles", "--specs=nosys.specs", "-Wl,--gc-sections", "-T", str(SRC / "common" / "cortex-m3.ld")]
FREERTOS_SOURCES = ["tasks.c", "queue.c", "list.c", "timers.c", "event_groups.c", "stream_buffer.c"]


_CXX_ONLY = {"-std=gnu++17", "-fno-rtti"}


class BuildError(RuntimeError):
    pass


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if r.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:3])} ... failed:\n{r.stderr[-3000:]}")


def _key(*parts: object) -> str:
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, Path) and p.is_file():
            h.update(p.read_bytes())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:12]


def _build(name: str, out: Path, compiler: str, sources: list[Path], cflags: list[str], lflags: list[str],
           compress: str | None, jobs: int = 2) -> Path:
    for tool in (compiler, "arm-none-eabi-objcopy"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed (run .ci/install-system-deps)")
    key = _key(name, compiler, cflags, lflags, *sources, SRC / "common" / "cortex-m3.ld", *sorted(SRC.rglob("*.h*")))
    d = out / f"{name}-{key}"
    elf = d / f"{name}.elf"
    if not elf.exists():
        d.mkdir(parents=True, exist_ok=True)
        objs = [d / f"{i:03d}-{s.stem}.o" for i, s in enumerate(sources)]

        def cc(pair: tuple[Path, Path]) -> None:
            s, o = pair
            if s.suffix == ".c":  # startup code stays C in a C++ image
                cmd = ["arm-none-eabi-gcc", *(f for f in cflags if f not in _CXX_ONLY)]
            else:
                cmd = [compiler, *cflags]
            _run([*cmd, "-c", "-o", str(o), str(s)], d)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(cc, zip(sources, objs)))
        tmp = d / f"{name}.tmp.elf"
        libs = [f for f in lflags if f.startswith("-l")]
        _run([compiler, *(f for f in lflags if not f.startswith("-l")), "-o", str(tmp), *map(str, objs), *libs], d)
        tmp.rename(elf)
        for o in objs:
            o.unlink()
    if compress is None:
        return elf
    packed = d / f"{name}-{compress}.elf"
    if not packed.exists():
        tmp = d / f"{name}-{compress}.tmp.elf"
        _run(["arm-none-eabi-objcopy", f"--compress-debug-sections={compress}", str(elf), str(tmp)], d)
        tmp.rename(packed)
    return packed


def c_image(out: Path, compress: str | None = None) -> Path:
    """FreeRTOS + newlib on a Cortex-M3 (C, DWARF 5)."""
    sources = [*sorted((SRC / "c").glob("*.c")), SRC / "common" / "startup.c",
               *(FREERTOS / s for s in FREERTOS_SOURCES),
               FREERTOS / "portable" / "GCC" / "ARM_CM3" / "port.c", FREERTOS / "portable" / "MemMang" / "heap_4.c"]
    inc = ["-I", str(SRC / "c"), "-I", str(FREERTOS / "include"), "-I", str(FREERTOS / "portable" / "GCC" / "ARM_CM3")]
    return _build("rtos-c", out, "arm-none-eabi-gcc", sources, [*COMMON, *inc], [*LINK, "-lm"], compress)


def cpp_image(out: Path, compress: str | None = None) -> Path:
    """Templates, namespaces, class statics and libstdc++ iostream/locale (C++17, DWARF 5)."""
    sources = [*sorted((SRC / "cpp").glob("*.cpp")), SRC / "common" / "startup.c"]
    flags = [*COMMON, "-std=gnu++17", "-fno-rtti"]
    return _build("stl-cpp", out, "arm-none-eabi-g++", sources, flags, LINK, compress)


def _big_unit(i: int) -> str:
    return f"""#include <array>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace unit{i} {{
template <typename T, unsigned N> struct Ring {{ std::array<T, N> items{{}}; unsigned head = 0; static T peak; }};
template <typename T, unsigned N> T Ring<T, N>::peak{{}};
struct Record {{ std::string name; std::vector<int> samples; std::map<std::string, double> tags; }};
std::map<int, Record> records;
std::unordered_map<std::string, std::vector<float>> series;
std::deque<std::function<void(int)>> jobs;
std::set<std::string> labels;
std::shared_ptr<Record> current;
Ring<float, {i % 7 + 2}> ring;
static std::ostringstream log;
int touch() {{
    records[1].samples.push_back({i});
    series["x"].push_back(1.0f);
    jobs.emplace_back([](int v) {{ log << v; }});
    labels.insert("l{i}");
    current = std::make_shared<Record>();
    ring.items[0] = Ring<float, {i % 7 + 2}>::peak;
    return static_cast<int>(records.size() + labels.size());
}}
}}  // namespace unit{i}
"""


def big_image(out: Path, units: int = 60, compress: str | None = None) -> Path:
    """``units`` libstdc++-heavy translation units (about 1 MB of DWARF each)."""
    gen = out / f"big-src-{units}"
    gen.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(units):
        p = gen / f"unit{i:03d}.cpp"
        text = _big_unit(i)
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
        sources.append(p)
    main = gen / "main.cpp"
    decls = "".join(f"namespace unit{i} {{ int touch(); }}\n" for i in range(units))
    calls = "".join(f"    n += unit{i}::touch();\n" for i in range(units))
    text = f"{decls}int main() {{\n    int n = 0;\n{calls}    return n;\n}}\n"
    if not main.exists() or main.read_text() != text:
        main.write_text(text)
    sources += [main, SRC / "common" / "startup.c"]
    flags = [*ARCH, "-O1", "-g", "-std=gnu++17", "-fno-rtti"]
    return _build(f"big-cpp-{units}", out, "arm-none-eabi-g++", sources, flags, LINK, compress)
