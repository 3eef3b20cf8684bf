"""The language server (``python -m firmwatch.lsp``) driven by pytest-lsp against the demo
firmware compiled for the host in the test run: completion, hover (with the live value),
definition, workspace symbols and code lenses."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tools import require_tool

pytestmark = pytest.mark.asyncio

DEMO = Path(__file__).resolve().parent.parent / "firmware" / "examples" / "demo"
MAIN_C = """#include "demo.h"
int main(void)
{
    demo_init();
    for (int i = 0; i < 3; i++)
        demo_tick_1khz();
    return (int)g_config.magic;
}
"""
LAUNCH_JSON = """{
    // firmwatch configurations (comments and trailing commas are fine here)
    "version": "0.2.0",
    "configurations": [
        {"type": "cppdbg", "name": "other", "request": "launch", "program": "${workspaceFolder}/wrong.elf"},
        {
            "type": "firmwatch",
            "name": "demo",
            "request": "launch",
            "elf": "${workspaceFolder}/build/app.elf",
            "watch": ["g_config.ca", "g_act", "g_active_config->"],
        },
    ],
}
"""


# -- workspace ---------------------------------------------------------------------------------
def make_workspace(root: Path, *, build: bool = True, extra_c: str = "", flags: tuple[str, ...] = ()) -> Path:
    """A firmware project: src/ (the demo + main.c), .vscode/launch.json, build/app.elf."""
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in ("demo.c", "demo.h"):
        shutil.copy(DEMO / f, src / f)
    (src / "main.c").write_text(MAIN_C + extra_c)
    (root / ".vscode").mkdir(exist_ok=True)
    (root / ".vscode" / "launch.json").write_text(LAUNCH_JSON)
    if build:
        build_elf(root, flags=flags)
    return root


def build_elf(root: Path, *, flags: tuple[str, ...] = (), out: str = "build/app.elf") -> Path:
    """gcc -g -O0 from the project root with relative paths, as a Makefile would."""
    gcc = require_tool("gcc")
    (root / out).parent.mkdir(parents=True, exist_ok=True)
    tmp = root / (out + ".tmp")
    extra = sorted(str(p.relative_to(root)) for p in (root / "src").glob("x_*.c"))
    # the demo paints its stack and wraps its heap, as the host port builds it
    extras = [DEMO.parent.parent / "extras" / d for d in ("stack_paint", "heap_wrap")]
    cmd = [gcc, "-g", "-O0", "-DDEMO_HOSTED", *(f"-I{d}" for d in extras), *flags, "-o", str(tmp),
           "src/demo.c", "src/main.c", *extra, *(str(c) for d in extras for c in sorted(d.glob("*.c"))),
           "-Wl,--wrap=malloc,--wrap=free,--wrap=realloc,--wrap=calloc"]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    tmp.replace(root / out)  # atomically, like a linker writing to a temp file
    return root / out


def nm_address(elf: Path, name: str) -> int:
    """The symbol's address according to binutils (an oracle independent of firmwatch)."""
    out = subprocess.run([require_tool("nm"), str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise AssertionError(f"{name} not in nm output")


def line_of(path: Path, needle: str) -> int:
    """0-based line holding ``needle``."""
    for i, text in enumerate(path.read_text().splitlines()):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def position_of(text: str, needle: str, delta: int = 0) -> lsp.Position:
    """Position just after ``needle`` (plus ``delta`` characters)."""
    off = text.index(needle) + len(needle) + delta
    line = text.count("\n", 0, off)
    return lsp.Position(line, off - (text.rfind("\n", 0, off) + 1))


# -- client ------------------------------------------------------------------------------------
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "firmwatch.lsp"])


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    install_live_values(lsp_client)
    yield
    await stop_server(lsp_client)


async def stop_server(client: LanguageClient) -> None:
    """shutdown + exit; pytest-lsp then waits for the process to end on its own, which a
    server never initialized (a test failing early) would not: terminate it then."""
    try:
        await asyncio.wait_for(client.shutdown_session(), 10)
    finally:
        proc = client._server
        if proc is not None and proc.returncode is None:
            proc.terminate()


def install_live_values(client: LanguageClient) -> None:
    """Answer ``firmwatch/liveValue`` as the extension does: the value of the expression in the
    running debug session (``client.live_values``), null when there is none."""
    client.live_values = {}  # type: ignore[attr-defined]
    client.live_asked = []  # type: ignore[attr-defined]

    @client.feature("firmwatch/liveValue")
    def live_value(params: Any) -> dict[str, Any]:
        expr = params["expression"] if isinstance(params, dict) else params.expression
        client.live_asked.append(expr)  # type: ignore[attr-defined]
        return {"value": client.live_values.get(expr)}  # type: ignore[attr-defined]


def capabilities(*, progress: bool = False, configuration: bool = True) -> lsp.ClientCapabilities:
    return lsp.ClientCapabilities(
        window=lsp.WindowClientCapabilities(work_done_progress=progress),
        workspace=lsp.WorkspaceClientCapabilities(
            configuration=configuration,
            code_lens=lsp.CodeLensWorkspaceClientCapabilities(refresh_support=False),
        ),
        text_document=lsp.TextDocumentClientCapabilities(
            completion=lsp.CompletionClientCapabilities(
                completion_item=lsp.ClientCompletionItemOptions(snippet_support=False)
            )
        ),
    )


async def start(
    client: LanguageClient, root: Path, *, options: Any = None, caps: lsp.ClientCapabilities | None = None
) -> dict[str, Any]:
    """Initialize with ``root`` as the workspace and wait until the ELF is indexed."""
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=caps or capabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=options,
        )
    )
    return await wait_indexed(client)


async def wait_indexed(client: LanguageClient) -> dict[str, Any]:
    params = await client.wait_for_notification("firmwatch/indexed")
    return params if isinstance(params, dict) else dict(params._asdict())


def open_doc(client: LanguageClient, path: Path, text: str | None = None, language: str = "c") -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=path.read_text() if text is None else text
            )
        )
    )
    return uri


async def complete(client: LanguageClient, uri: str, pos: lsp.Position) -> list[lsp.CompletionItem]:
    res = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos)
    )
    if res is None:
        return []
    return list(res.items if isinstance(res, lsp.CompletionList) else res)


async def hover_text(client: LanguageClient, uri: str, pos: lsp.Position) -> str | None:
    res = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos)
    )
    if res is None:
        return None
    assert isinstance(res.contents, lsp.MarkupContent)
    return res.contents.value


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws"))


# -- completion --------------------------------------------------------------------------------
async def test_completion_of_globals_and_functions(client: LanguageClient, project: Path):
    info = await start(client, project)
    assert info["elf"] == str(project / "build" / "app.elf")
    assert info["origin"] == ".vscode/launch.json"
    text = "void f(void) {\n    x = g_con\n    demo_ti\n}\n"
    uri = open_doc(client, project / "src" / "scratch.c", text)

    items = await complete(client, uri, position_of(text, "g_con"))
    labels = [i.label for i in items]
    assert labels[0] == "g_config", labels
    cfg = items[0]
    assert cfg.kind == lsp.CompletionItemKind.Variable
    assert cfg.detail == "volatile config_t"
    addr = nm_address(project / "build" / "app.elf", "g_config")
    assert cfg.documentation == f"0x{addr:x} · 24 B · .data"
    assert all(label.startswith("g_con") for label in labels)

    items = await complete(client, uri, position_of(text, "demo_ti"))
    fn = next(i for i in items if i.label == "demo_tick_1khz")
    assert fn.kind == lsp.CompletionItemKind.Function
    assert fn.text_edit is not None and fn.text_edit.range.start == lsp.Position(2, 4)


async def test_completion_at_the_very_end_of_a_file_edits_where_the_cursor_is(client: LanguageClient, project: Path):
    await start(client, project)
    text = "void f(void) {\n    x = temp_c"  # no final newline: the cursor is the last offset
    uri = open_doc(client, project / "src" / "eof.c", text)
    end = lsp.Position(1, len("    x = temp_c"))
    items = await complete(client, uri, end)
    item = next(i for i in items if i.label == "temp_celsius")
    assert item.text_edit.range == lsp.Range(lsp.Position(1, 8), end)


async def test_completion_of_members_after_dot_and_arrow(client: LanguageClient, project: Path):
    await start(client, project)
    text = "x = g_config.\ny = g_active_config->\nz = g_config.calib.ga\nw = g_active_config.\nv = nope.\n"
    uri = open_doc(client, project / "src" / "scratch.c", text)

    members = ["magic", "calib", "channel_map", "enabled", "mode", "log_level", "alarm_threshold", "sample_period_ms"]
    dot = await complete(client, uri, position_of(text, "g_config."))
    assert [i.label for i in dot] == members
    assert next(i for i in dot if i.label == "calib").detail == "calibration_t"
    arrow = await complete(client, uri, position_of(text, "g_active_config->"))
    assert [i.label for i in arrow] == members
    nested = await complete(client, uri, position_of(text, "g_config.calib.ga"))
    assert [i.label for i in nested] == ["offset", "gain_q8"]
    assert nested[1].sort_text < nested[0].sort_text  # what is typed ranks first

    # "." on a pointer offers the members and turns the "." into "->"
    fixed = await complete(client, uri, position_of(text, "w = g_active_config."))
    assert [i.label for i in fixed] == members
    edits = fixed[0].additional_text_edits
    assert edits and edits[0].new_text == "->" and edits[0].range.start == lsp.Position(3, 19)
    assert await complete(client, uri, position_of(text, "nope.")) == []


async def test_completion_inside_launch_json_watch_strings(client: LanguageClient, project: Path):
    await start(client, project)
    path = project / ".vscode" / "launch.json"
    text = path.read_text()
    uri = open_doc(client, path, text, language="jsonc")

    members = await complete(client, uri, position_of(text, '"g_config.ca'))
    assert min(members, key=lambda i: i.sort_text or "").label == "calib"
    edit = members[0].text_edit
    assert isinstance(edit, lsp.TextEdit)
    # replaces only "ca" inside the string, not the whole JSON word
    begin = position_of(text, '"g_config.')
    assert (edit.range.start, edit.range.end) == (begin, position_of(text, '"g_config.ca'))

    names = await complete(client, uri, position_of(text, '"g_act'))
    assert [i.label for i in names] == ["g_active_config"]
    arrow = await complete(client, uri, position_of(text, '"g_active_config->'))
    assert "magic" in [i.label for i in arrow]
    # other strings of launch.json are not watch expressions
    assert await complete(client, uri, position_of(text, '"name": "dem')) == []


# -- hover -------------------------------------------------------------------------------------
async def test_hover_shows_type_size_address_section_declaration_and_layout(client: LanguageClient, project: Path):
    await start(client, project, options={"liveValues": False})
    main = project / "src" / "main.c"
    uri = open_doc(client, main)
    md = await hover_text(client, uri, position_of(MAIN_C, "g_con"))
    assert md is not None
    addr = nm_address(project / "build" / "app.elf", "g_config")
    decl = line_of(project / "src" / "demo.c", "volatile config_t g_config") + 1
    assert "volatile config_t g_config" in md
    assert "**24 B** · `.data` · " + f"`0x{addr:x}`" in md
    assert f"declared at `src/demo.c:{decl}`" in md
    # the ptype/o layout of the struct, in a code block
    assert re.search(r"/\*\s+4\s+\|\s+4 \*/\s+calibration_t calib;", md), md
    assert "total size (bytes):   24" in md
    assert "live:" not in md

    # a member chain under the cursor: g_config.magic
    md = await hover_text(client, uri, position_of(MAIN_C, "g_config.mag"))
    assert md is not None and "uint32_t g_config.magic" in md and f"`0x{addr:x}`" in md
    # a function
    md = await hover_text(client, uri, position_of(MAIN_C, "demo_in"))
    assert md is not None and "demo_init()" in md and "`.text`" in md
    # not a symbol
    assert await hover_text(client, uri, position_of(MAIN_C, "return (in")) is None


async def test_hover_asks_the_client_for_the_live_value(client: LanguageClient, project: Path):
    client.live_values.update({"g_config.magic": "3237998081", "g_config": None})  # type: ignore[attr-defined]
    await start(client, project)
    uri = open_doc(client, project / "src" / "main.c")
    md = await hover_text(client, uri, position_of(MAIN_C, "g_config.mag"))
    assert md is not None and "live: `3237998081`" in md
    md = await hover_text(client, uri, position_of(MAIN_C, "g_con"))
    assert md is not None and "live:" not in md  # the client said null: no session
    assert client.live_asked == ["g_config.magic", "g_config"]  # type: ignore[attr-defined]


# -- definition, symbols, lenses ---------------------------------------------------------------
async def test_definition_goes_to_the_dwarf_declaration(client: LanguageClient, project: Path):
    await start(client, project)
    uri = open_doc(client, project / "src" / "main.c")
    res = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=position_of(MAIN_C, "g_con"))
    )
    assert isinstance(res, lsp.Location)
    demo_c = project / "src" / "demo.c"
    line = line_of(demo_c, "volatile config_t g_config")
    assert res.uri == demo_c.resolve().as_uri()
    col = demo_c.read_text().splitlines()[line].index("g_config")
    assert res.range == lsp.Range(lsp.Position(line, col), lsp.Position(line, col + len("g_config")))
    # a function, from the line table
    res = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=position_of(MAIN_C, "demo_in"))
    )
    assert isinstance(res, lsp.Location) and res.uri == demo_c.resolve().as_uri()
    assert res.range.start.line in (line_of(demo_c, "void demo_init(void)"), line_of(demo_c, "void demo_init(void)") + 1)


async def test_definition_with_paths_from_another_machine(client: LanguageClient, tmp_path: Path):
    # DWARF names /home/ci/fw/src/demo.c, which does not exist here: matched by basename
    root = make_workspace(tmp_path, flags=(f"-fdebug-prefix-map={tmp_path}=/home/ci/fw",))
    await start(client, root)
    uri = open_doc(client, root / "src" / "main.c")
    res = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=position_of(MAIN_C, "g_con"))
    )
    assert isinstance(res, lsp.Location)
    assert res.uri == (root / "src" / "demo.c").resolve().as_uri()
    assert res.range.start.line == line_of(root / "src" / "demo.c", "volatile config_t g_config")


async def test_workspace_symbols(client: LanguageClient, project: Path):
    await start(client, project)
    res = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="active_conf"))
    assert res is not None
    names = [s.name for s in res]
    assert names == ["g_active_config"]
    sym = res[0]
    assert sym.kind == lsp.SymbolKind.Variable
    assert isinstance(sym.location, lsp.Location)
    assert sym.location.uri == (project / "src" / "demo.c").resolve().as_uri()

    res = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="DEMO_"))
    assert res is not None
    kinds = {s.name: s.kind for s in res}
    assert kinds.get("demo_init") == lsp.SymbolKind.Function
    assert kinds.get("demo_loop") == lsp.SymbolKind.Function


async def test_code_lens_over_global_definitions(client: LanguageClient, project: Path):
    await start(client, project)
    demo_c = project / "src" / "demo.c"
    uri = open_doc(client, demo_c)
    lenses = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    by_line = {lens.range.start.line: lens.command.title for lens in lenses if lens.command}
    elf = project / "build" / "app.elf"
    assert by_line[line_of(demo_c, "volatile config_t g_config")] == f"24 B · .data · 0x{nm_address(elf, 'g_config'):x}"
    assert by_line[line_of(demo_c, "volatile uint32_t loop_count")] == f"4 B · .bss · 0x{nm_address(elf, 'loop_count'):x}"
    assert by_line[line_of(demo_c, "const int16_t sine_table")] == f"128 B · .rodata · 0x{nm_address(elf, 'sine_table'):x}"
    from firmwatch.symbols import load  # the oracle: every global and file static DWARF places in demo.c

    defined = {v.line for v in load(elf, use_cache=False).variables
               if v.file and v.file.endswith("demo.c") and v.scope in ("global", "file")}
    assert len(by_line) == len(defined) >= 18
    # no lenses in a file that defines no globals
    lenses = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=open_doc(client, project / "src" / "main.c")))
    )
    assert list(lenses or []) == []


async def test_statics_sharing_a_name_use_the_qualified_spelling(client: LanguageClient, tmp_path: Path):
    root = make_workspace(tmp_path, build=False)
    other = root / "src" / "x_other.c"
    other.write_text("static volatile int last_ms = 5;\nint *other_use(void) { return (int *)&last_ms; }\n")
    build_elf(root)
    await start(client, root)
    text = "x = last_m\n"
    uri = open_doc(client, root / "src" / "scratch.c", text)
    items = await complete(client, uri, position_of(text, "last_m"))
    assert sorted(i.label for i in items) == ["'demo.c'::last_ms", "'x_other.c'::last_ms"]
    assert {i.filter_text for i in items} == {"last_ms"}
    # hover and definition in x_other.c mean x_other.c's static
    other_uri = open_doc(client, other)
    md = await hover_text(client, other_uri, position_of(other.read_text(), "&last_m"))
    assert md is not None and "declared at `src/x_other.c:1`" in md and "volatile int" in md
    res = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=other_uri), position=position_of(other.read_text(), "&last_m")
        )
    )
    assert isinstance(res, lsp.Location) and res.uri == other.resolve().as_uri() and res.range.start.line == 0


async def test_hover_inside_a_launch_json_watch_string(client: LanguageClient, project: Path):
    await start(client, project)
    path = project / ".vscode" / "launch.json"
    text = path.read_text()
    uri = open_doc(client, path, text, language="jsonc")
    md = await hover_text(client, uri, position_of(text, '"g_active_con'))
    assert md is not None and "volatile config_t *volatile g_active_config" in md and "**8 B**" in md
    assert await hover_text(client, uri, position_of(text, '"g_config.c')) is None  # "g_config.ca": no such member
