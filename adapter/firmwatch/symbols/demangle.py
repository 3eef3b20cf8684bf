"""Demangling of C++ (Itanium) and Rust (legacy and v0) symbol names.

Choice: all mangled names of an ELF go through ONE ``c++filt`` process (binutils, already
a system dependency next to the cross toolchains). It implements the complete Itanium
grammar and Rust v0, which a pure-Python demangler would only approximate, and the cost is
paid once per cold index (the result is cached with the index). When ``c++filt`` is absent,
a small pure-Python fallback handles the forms firmware symbols mostly take: Rust legacy
paths and Itanium nested names without template or function arguments. Anything else stays
mangled rather than being guessed.

Rust names are shown as gdb shows them: without the legacy ``::h<hash>`` suffix and without
v0 crate disambiguators (``mycrate[1a2b]::x`` -> ``mycrate::x``).
"""

from __future__ import annotations

import re
import shutil
import subprocess

_RUST_LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E(\.llvm\.\d+)?$")
_V0_DISAMBIG = re.compile(r"\[[0-9a-f]+\]")
_HASH_SUFFIX = re.compile(r"::h[0-9a-f]{16}$")


def is_mangled(name: str) -> bool:
    return name.startswith(("_Z", "_R", "__Z"))


def demangle_all(names: list[str]) -> list[str]:
    """Demangle every name (unmangled names come back unchanged), in one subprocess."""
    # startswith inline: this runs over every symbol of the ELF on a cold index
    prefixes = ("_Z", "_R", "__Z")
    idx = [i for i, n in enumerate(names) if n[:1] == "_" and n.startswith(prefixes)]
    out = list(names)
    if not idx:
        return out
    demangled = _via_cxxfilt([names[i] for i in idx])
    for k, i in enumerate(idx):
        d = demangled[k] if demangled is not None else None
        if d is None or d == names[i]:
            d = demangle_fallback(names[i])
        out[i] = _tidy_rust(names[i], d)
    return out


def demangle(name: str) -> str:
    return demangle_all([name])[0]


def _via_cxxfilt(mangled: list[str]) -> list[str] | None:
    exe = shutil.which("c++filt")
    if exe is None:
        return None
    try:
        r = subprocess.run(
            [exe],
            input="\n".join(mangled) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = r.stdout.split("\n")
    if r.returncode != 0 or len(lines) < len(mangled):
        return None
    return lines[: len(mangled)]


def _tidy_rust(raw: str, d: str) -> str:
    if raw.startswith("_R"):
        return _V0_DISAMBIG.sub("", d)
    if _RUST_LEGACY_HASH.search(raw):
        return _HASH_SUFFIX.sub("", d)
    return d


_RUST_ESCAPES = {
    "$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">",
    "$LP$": "(", "$RP$": ")", "$C$": ",", "$u7e$": "~", "$u20$": " ",
    "$u27$": "'", "$u5b$": "[", "$u5d$": "]", "$u7b$": "{", "$u7d$": "}",
    "$u3b$": ";", "$u2b$": "+", "$u22$": '"',
}  # fmt: skip


def demangle_fallback(name: str) -> str:
    """Itanium nested/plain names (``_ZN2ns3varE``, ``_Z3foov``) and Rust legacy paths."""
    s = name[1:] if name.startswith("__Z") else name
    if not s.startswith("_Z"):
        return name
    pos = 2
    parts: list[str] = []
    try:
        if s[pos] == "N":
            pos += 1
            while s[pos] != "E":
                if not s[pos].isdigit():
                    return name  # template args, cv-qualifiers, substitutions: leave to c++filt
                n, pos = _read_len(s, pos)
                parts.append(s[pos : pos + n])
                pos += n
            pos += 1
        elif s[pos].isdigit():
            n, pos = _read_len(s, pos)
            parts.append(s[pos : pos + n])
            pos += n
        else:
            return name
    except IndexError:
        return name
    rest = s[pos:].split(".", 1)[0]
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):  # Rust legacy hash
        parts.pop()
        out = "::".join(_rust_unescape(p) for p in parts)
        return out
    out = "::".join(parts)
    if rest == "v":
        return out + "()"
    if rest:  # function with parameters we do not decode: keep the path only
        return out + "(...)"
    return out


def _read_len(s: str, pos: int) -> tuple[int, int]:
    start = pos
    while s[pos].isdigit():
        pos += 1
    return int(s[start:pos]), pos


def _rust_unescape(part: str) -> str:
    if part.startswith("_$"):
        part = part[1:]
    for k, v in _RUST_ESCAPES.items():
        part = part.replace(k, v)
    return part.replace("..", "::")
