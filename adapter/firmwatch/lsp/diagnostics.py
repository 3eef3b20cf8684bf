"""Diagnostics on open sources when the ELF cannot describe them: missing, or older than them."""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types as lsp

SOURCE_SUFFIXES = frozenset(
    {".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".inc", ".rs", ".s", ".S", ".asm", ".sx"}
)
SOURCE_LANGUAGES = frozenset({"c", "cpp", "cuda-cpp", "rust", "asm", "arm", "arm64", "riscv", "avr", "nasm", "s"})

STALE = "firmwatch: the ELF is older than this file: rebuild so addresses and types are current"


def is_source(path: Path | None, language_id: str | None) -> bool:
    if language_id and language_id.lower() in SOURCE_LANGUAGES:
        return True
    return path is not None and path.suffix in SOURCE_SUFFIXES


def missing(display_path: str) -> str:
    return f"firmwatch: ELF {display_path} not found — build the firmware or set firmwatch.elf"


def _first_line(message: str, severity: lsp.DiagnosticSeverity, code: str) -> lsp.Diagnostic:
    return lsp.Diagnostic(
        range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
        message=message,
        severity=severity,
        source="firmwatch",
        code=code,
    )


def for_document(
    doc_path: Path | None,
    *,
    elf_display: str | None,
    elf_exists: bool,
    elf_mtime_ns: int | None,
    built_from_it: bool,
) -> list[lsp.Diagnostic]:
    """``elf_display`` None: no ELF configured (nothing to say). ``built_from_it``: DWARF names
    this file, so a newer file means the ELF no longer matches it."""
    if elf_display is None:
        return []
    if not elf_exists:
        return [_first_line(missing(elf_display), lsp.DiagnosticSeverity.Warning, "elf-missing")]
    if doc_path is None or elf_mtime_ns is None or not built_from_it:
        return []
    try:
        doc_mtime = os.stat(doc_path).st_mtime_ns
    except OSError:
        return []
    if doc_mtime > elf_mtime_ns:
        return [_first_line(STALE, lsp.DiagnosticSeverity.Information, "elf-stale")]
    return []
