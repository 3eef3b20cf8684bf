"""The language server on an ELF whose debug sections are zstd-compressed (binutils'
``--compress-debug-sections=zstd``): definitions of variables and functions, hovers and
workspace symbols answer as they do on a plain ELF. Function locations and compilation
directories were once read with pyelftools, which knows no zstd and quietly found nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from test_lsp_elf import until
from test_lsp_features import (
    LAUNCH_JSON,
    MAIN_C,
    SERVER,
    build_elf,
    capabilities,
    install_live_values,
    line_of,
    make_workspace,
    open_doc,
    position_of,
    start,
    stop_server,
)
from tools import require_tool

pytestmark = pytest.mark.asyncio


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    install_live_values(lsp_client)
    yield
    await stop_server(lsp_client)


def zstd_workspace(tmp: Path) -> tuple[Path, Path]:
    """(workspace, sources): the ELF, built with DWARF 4 from relative paths in ``sources``
    and zstd-compressed, sits in a workspace that holds no sources — only the units'
    compilation directory leads to them."""
    src_root = make_workspace(tmp / "project", build=False)
    elf = build_elf(src_root, flags=("-gdwarf-4",))
    ws = tmp / "ws"
    (ws / ".vscode").mkdir(parents=True)
    (ws / ".vscode" / "launch.json").write_text(LAUNCH_JSON)
    (ws / "build").mkdir()
    packed = ws / "build" / "app.elf"
    subprocess.run([require_tool("objcopy"), "--compress-debug-sections=zstd", str(elf), str(packed)], check=True)
    sections = subprocess.run([require_tool("readelf"), "-S", "-W", str(packed)], capture_output=True, text=True,
                              check=True).stdout
    info = next(ln for ln in sections.splitlines() if ".debug_info" in ln)
    line = next(ln for ln in sections.splitlines() if ".debug_line " in ln)
    assert " C " in info and " C " in line, sections  # really compressed
    return ws, src_root


async def test_zstd_elf_definitions_and_function_locations(client: LanguageClient, tmp_path: Path):
    ws, src = zstd_workspace(tmp_path)
    info = await start(client, ws)
    assert info["elf"] == str(ws / "build" / "app.elf") and info["functions"] > 5
    assert not client.messages  # the DWARF was read: nothing to warn about
    main_c, demo_c = src / "src" / "main.c", src / "src" / "demo.c"
    uri = open_doc(client, main_c)

    async def definition(needle: str) -> lsp.Location:
        res = await client.text_document_definition_async(
            lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=position_of(MAIN_C, needle))
        )
        assert isinstance(res, lsp.Location), needle
        return res

    # a variable: its DWARF 4 declaration file is relative to the unit's compilation directory
    res = await definition("g_con")
    assert res.uri == demo_c.resolve().as_uri()
    assert res.range.start.line == line_of(demo_c, "volatile config_t g_config")
    # a function: from the line table
    res = await definition("demo_in")
    head = line_of(demo_c, "void demo_init(void)")
    assert res.uri == demo_c.resolve().as_uri() and res.range.start.line in (head, head + 1)
    # hover says where the function is defined
    hov = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=position_of(MAIN_C, "demo_in"))
    )
    assert hov is not None and isinstance(hov.contents, lsp.MarkupContent)
    assert any(f"declared at `src/demo.c:{n}`" in hov.contents.value for n in (head + 1, head + 2)), hov.contents.value
    # workspace symbols carry the functions' locations too
    res_syms = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="demo_init"))
    fn = next(s for s in res_syms or [] if s.name == "demo_init")
    assert isinstance(fn.location, lsp.Location) and fn.location.uri == demo_c.resolve().as_uri()


NO_ZSTD = ClientServerConfig(server_command=[
    sys.executable, "-c",
    "import sys; sys.modules['backports.zstd'] = None; sys.modules['compression.zstd'] = None\n"
    "from firmwatch.lsp.__main__ import run; sys.exit(run([]))",
])


@pytest_lsp.fixture(config=NO_ZSTD)
async def client_without_zstd(lsp_client: LanguageClient):
    install_live_values(lsp_client)
    yield
    await stop_server(lsp_client)


async def test_zstd_elf_without_the_module_is_one_warning(client_without_zstd: LanguageClient, tmp_path: Path):
    client = client_without_zstd
    ws, _src = zstd_workspace(tmp_path)
    await start(client, ws, caps=capabilities())
    await until(lambda: bool(client.messages), "window/showMessage")
    assert len(client.messages) == 1
    msg = client.messages[0]
    assert msg.type == lsp.MessageType.Warning
    assert msg.message == (
        f"firmwatch: the DWARF debug info of {ws / 'build' / 'app.elf'} could not be read: its debug sections are "
        "zstd-compressed and the zstd module is missing (pip install backports.zstd); names come from the "
        "symbol table and values show as raw bytes"
    )
