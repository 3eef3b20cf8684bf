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
    # per-unit record types in many libstdc++ containers: every instantiation brings its own
    # classes, member functions and nested types into the DWARF, as real C++ firmware does
    return f"""#include <array>
#include <deque>
#include <functional>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace unit{i} {{
template <typename T, unsigned N> struct Ring {{ std::array<T, N> items{{}}; unsigned head = 0; static T peak; }};
template <typename T, unsigned N> T Ring<T, N>::peak{{}};
struct Key {{ int id; std::string tag; bool operator<(const Key &o) const {{ return id < o.id; }} }};
struct Record {{ std::string name; std::vector<int> samples; std::map<std::string, double> tags; }};
struct Event {{ std::variant<int, float, std::string> payload; std::optional<Record> origin; }};
std::map<Key, Record> records;
std::unordered_map<std::string, std::vector<Event>> series;
std::deque<std::function<void(const Event &)>> jobs;
std::set<std::tuple<int, std::string, double>> labels;
std::list<std::shared_ptr<Record>> history;
std::unique_ptr<std::map<int, std::list<Key>>> index;
Ring<float, {i % 7 + 2}> ring;
static std::ostringstream log;
int touch() {{
    records[Key{{1, "k"}}].samples.push_back({i});
    series["x"].push_back(Event{{3.5f, std::nullopt}});
    jobs.emplace_back([](const Event &e) {{ log << e.payload.index(); }});
    labels.insert({{1, "l{i}", 2.0}});
    history.push_back(std::make_shared<Record>());
    index = std::make_unique<std::map<int, std::list<Key>>>();
    (*index)[1].push_back(Key{{2, "t"}});
    ring.items[0] = Ring<float, {i % 7 + 2}>::peak;
    for (auto &j : jobs) j(series["x"].front());
    return static_cast<int>(records.size() + labels.size() + history.size());
}}
}}  // namespace unit{i}
"""


def big_image(out: Path, units: int = 60, compress: str | None = None) -> Path:
    """``units`` libstdc++-heavy translation units at -O0 (about 1.3 MB of DWARF each)."""
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
    # the same memory map with room for -O0 code of many units (a part with 16 MiB of flash)
    script = gen / "big.ld"
    text = (SRC / "common" / "cortex-m3.ld").read_text().replace("LENGTH = 512K", "LENGTH = 16M").replace(
        "LENGTH = 128K", "LENGTH = 1M")
    if not script.exists() or script.read_text() != text:
        script.write_text(text)
    flags = [*ARCH, "-O0", "-g", "-std=gnu++17", "-fno-rtti"]
    link = [f for f in LINK if f != str(SRC / "common" / "cortex-m3.ld")]
    link[link.index("-T") + 1:link.index("-T") + 1] = [str(script)]
    return _build(f"big-cpp-{units}", out, "arm-none-eabi-g++", sources, flags, link, compress)
