"""The language server and the ELF behind it: where the path comes from, diagnostics when the
ELF is missing or stale, re-indexing when it is rebuilt, progress, and errors as messages."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from test_lsp_features import (
    SERVER,
    build_elf,
    capabilities,
    complete,
    hover_text,
    install_live_values,
    make_workspace,
    open_doc,
    position_of,
    start,
    stop_server,
    wait_indexed,
)

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    install_live_values(lsp_client)
    yield
    await stop_server(lsp_client)

MISSING = "firmwatch: ELF build/app.elf not found — build the firmware or set firmwatch.elf"
STALE = "firmwatch: the ELF is older than this file: rebuild so addresses and types are current"


async def until(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for ``cond`` (fed by notifications the client records) or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def messages(client: LanguageClient, uri: str) -> list[str]:
    return [d.message for d in client.diagnostics.get(uri, [])]


async def test_missing_elf_then_built_then_stale(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path, build=False)
    await client.initialize_session(
        lsp.InitializeParams(capabilities=capabilities(), root_uri=root.as_uri())
    )
    main = open_doc(client, root / "src" / "main.c")
    await until(lambda: messages(client, main) == [MISSING], "the missing-ELF diagnostic")
    diag = client.diagnostics[main][0]
    assert diag.range.start.line == 0 and diag.severity == lsp.DiagnosticSeverity.Warning
    launch = open_doc(client, root / ".vscode" / "launch.json", language="jsonc")

    # the firmware gets built: the poll notices, indexes it and clears the diagnostic
    elf = build_elf(root)
    await wait_indexed(client)
    await until(lambda: messages(client, main) == [], "the diagnostic to clear")
    assert launch not in client.diagnostics  # launch.json is not a source file

    # demo.c edited after the build: the ELF no longer describes it
    demo = root / "src" / "demo.c"
    newer = os.stat(elf).st_mtime + 5
    os.utime(demo, (newer, newer))
    demo_uri = open_doc(client, demo)
    await until(lambda: messages(client, demo_uri) == [STALE], "the stale-ELF diagnostic")
    assert messages(client, main) == []  # main.c is still older than the ELF

    # rebuilt: current again
    build_elf(root)
    os.utime(elf, (newer + 1, newer + 1))
    await wait_indexed(client)
    await until(lambda: messages(client, demo_uri) == [], "the stale diagnostic to clear")


async def test_reindex_when_the_elf_is_rebuilt_with_a_new_global(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path)
    first = await start(client, root, caps=capabilities(progress=True))
    # indexing reported progress: begin ... end
    kinds = [type(p).__name__ for reports in client.progress_reports.values() for p in reports]
    assert kinds and kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"

    text = "x = g_added_la\n"
    uri = open_doc(client, root / "src" / "scratch.c", text)
    assert await complete(client, uri, position_of(text, "g_added_la")) == []

    (root / "src" / "main.c").write_text((root / "src" / "main.c").read_text() + "volatile int g_added_later[3];\n")
    build_elf(root)
    second = await wait_indexed(client)
    assert second["variables"] == first["variables"] + 1
    items = await complete(client, uri, position_of(text, "g_added_la"))
    assert [i.label for i in items] == ["g_added_later"]
    assert items[0].detail == "volatile int [3]"


async def test_elf_from_initialization_options_wins_over_launch_json(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path)
    shutil.copy(root / "build" / "app.elf", root / "build" / "active.elf")
    info = await start(client, root, options={"elf": "${workspaceFolder}/build/active.elf"})
    assert info["elf"] == str(root / "build" / "active.elf")
    assert info["origin"] == "the launch configuration"

    # the extension switches the active configuration off and sets firmwatch.elf instead
    shutil.copy(root / "build" / "app.elf", root / "build" / "setting.elf")
    client.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"elf": None, "firmwatch": {"elf": "build/setting.elf"}})
    )
    info = await wait_indexed(client)
    assert info["elf"] == str(root / "build" / "setting.elf")
    assert info["origin"] == "setting firmwatch.elf"


async def test_elf_from_the_firmwatch_elf_setting(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path)
    shutil.copy(root / "build" / "app.elf", root / "build" / "from-setting.elf")
    client.set_configuration({"elf": "build/from-setting.elf"}, section="firmwatch")
    info = await start(client, root)
    assert info["elf"] == str(root / "build" / "from-setting.elf")
    assert info["origin"] == "setting firmwatch.elf"


async def test_a_bad_elf_is_one_message_not_a_crash(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path, build=False)
    (root / "build").mkdir()
    (root / "build" / "app.elf").write_text(":10000000FFFFFFFF\n")  # an Intel HEX image, not an ELF
    await client.initialize_session(lsp.InitializeParams(capabilities=capabilities(), root_uri=root.as_uri()))
    await until(lambda: bool(client.messages), "window/showMessage")
    msg = client.messages[0]
    assert msg.type == lsp.MessageType.Error
    assert msg.message.startswith("firmwatch: ") and "app.elf" in msg.message
    assert "\n" not in msg.message and "Traceback" not in msg.message
    # the server keeps answering
    uri = open_doc(client, root / "src" / "main.c")
    assert await hover_text(client, uri, lsp.Position(6, 18)) is None
    # and picks up the real ELF once it is built
    build_elf(root)
    await wait_indexed(client)
    assert await hover_text(client, uri, lsp.Position(6, 18)) is not None
    assert len(client.messages) == 1  # the bad file was reported once, not every poll


async def test_cortex_m_elf_thumb_functions_and_statics_from_two_files(client: LanguageClient, tmp_path: Path):
    """An arm-none-eabi-gcc build of the symbol fixtures: Thumb function addresses (bit 0 set
    in the symbol table) still find their line, and same-named statics stay apart."""
    from fixture_builds import FIXTURES, fixture_elf

    elf = fixture_elf("arm-O0-dwarf4")
    root = tmp_path
    info = await start(client, root, options={"elf": str(elf)})
    assert info["elf"] == str(elf)

    res = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="tick_a"))
    assert res is not None
    fn = next(s for s in res if s.name == "tick_a")
    assert fn.kind == lsp.SymbolKind.Function
    assert isinstance(fn.location, lsp.Location)
    assert fn.location.uri == (FIXTURES / "dup_a.c").resolve().as_uri()

    text = "x = g_acc\n"
    uri = open_doc(client, root / "scratch.c", text)
    items = await complete(client, uri, position_of(text, "g_acc"))
    assert [i.label for i in items][:2] == ["g_accel", "g_accels"]
    assert items[0].detail == "struct accel"
    assert items[0].documentation is not None and items[0].documentation.endswith(" · 44 B · .bss")
