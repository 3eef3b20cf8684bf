"""The language server offers SVD peripheral names in launch.json watch strings (svdFile)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from test_lsp_features import (
    SERVER,
    complete,
    hover_text,
    install_live_values,
    make_workspace,
    open_doc,
    position_of,
    start,
    stop_server,
)

SVD = Path(__file__).parent / "data" / "svd" / "mps2-an385.svd"
LAUNCH = """{
    "version": "0.2.0",
    "configurations": [
        {
            "type": "firmwatch",
            "name": "board",
            "request": "attach",
            "elf": "${workspaceFolder}/build/app.elf",
            "svdFile": "${workspaceFolder}/board.svd",
            "watch": ["UAR", "UART0.ST", "UART0.STATE.TX", "UART0.DATA", "g_con"],
        },
    ],
}
"""


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    install_live_values(lsp_client)
    yield
    await stop_server(lsp_client)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("ws-svd"))
    shutil.copy(SVD, root / "board.svd")
    (root / ".vscode" / "launch.json").write_text(LAUNCH)
    return root


@pytest.mark.asyncio
async def test_peripheral_names_complete_and_hover_in_watch_strings(client: LanguageClient, project: Path):
    await start(client, project, options={"liveValues": False})
    path = project / ".vscode" / "launch.json"
    uri = open_doc(client, path, LAUNCH, language="jsonc")
    assert {"UART0", "UART1", "UART2"} <= {i.label for i in await complete(client, uri, position_of(LAUNCH, '"UAR'))}
    regs = await complete(client, uri, position_of(LAUNCH, '"UART0.ST'))
    assert [i.label for i in regs] == ["STATE"]
    edit = regs[0].text_edit
    assert isinstance(edit, lsp.TextEdit) and edit.range.start == position_of(LAUNCH, '"UART0.')
    fields = [i.label for i in await complete(client, uri, position_of(LAUNCH, '"UART0.STATE.TX'))]
    assert sorted(fields) == ["TXFULL", "TXOVR"]
    # ELF names still complete in the same strings
    assert "g_config" in [i.label for i in await complete(client, uri, position_of(LAUNCH, '"g_con'))]
    md = await hover_text(client, uri, position_of(LAUNCH, '"UART0.DA'))
    assert md is not None and "UART0.DATA" in md and "0x40004000" in md and "Never read automatically" in md
