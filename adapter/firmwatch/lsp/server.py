"""The firmwatch language server (pygls 2): wiring LSP messages to the feature modules.

State lives in :class:`FirmwatchServer`; each feature is a pure function in its own module
(completion, hover, definition, symbols, codelens, diagnostics) over a :class:`SymbolIndex`.
ELF loading runs in a worker thread so requests keep being answered from the previous index.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from .. import __version__ as _fw_version
from ..symbols import SymbolsError, load
from . import codelens, completion, definition, diagnostics, hover, peripherals, symbols
from . import text as T
from .elf_watch import ElfChoice, ElfConfig, file_state
from .index import SymbolIndex
from .jsonc import string_end, watch_string_at
from .paths import SourceResolver
from .peripherals import SvdSource
from .sources import comp_dirs, function_lines

log = logging.getLogger("firmwatch.lsp")

LIVE_VALUE = "firmwatch/liveValue"  # server -> client request: {"expression"} -> {"value": str | null}
INDEXED = "firmwatch/indexed"  # server -> client notification after every (re-)index
LIVE_TIMEOUT = 0.3  # seconds a hover waits for the live value
POLL_INTERVAL = 1.0  # seconds between checks of the ELF's mtime


class FirmwatchServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("firmwatch-lsp", _fw_version)
        self.config = ElfConfig()
        self.index: SymbolIndex | None = None
        self.resolver: SourceResolver | None = None
        self.choice: ElfChoice | None = None
        self.loaded_state: tuple[int, int] | None = None  # (mtime, size) of the indexed ELF
        self.failed_state: tuple[Path, tuple[int, int]] | None = None  # do not retry an unchanged bad file
        self.live_values = True
        self._loading: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._check_lock = asyncio.Lock()
        self.svd = SvdSource()
        self._svd_error_shown: str | None = None

    def svd_device(self, launch_text: str) -> Any:
        """The SVD of ``firmwatch.svd`` or launch.json's ``svdFile``; a bad file is said once."""
        device = self.svd.device_for(self.root, launch_text)
        if self.svd.error and self.svd.error != self._svd_error_shown:
            self._svd_error_shown = self.svd.error
            self.window_log_message(lsp.LogMessageParams(type=lsp.MessageType.Warning, message=self.svd.error))
        return device

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        return self.config.root

    def roots(self) -> list[Path]:
        out: list[Path] = []
        for f in self.workspace.folders.values():
            p = to_fs_path(f.uri)
            if p:
                out.append(Path(p))
        if not out and self.root is not None:
            out.append(self.root)
        return out

    def show_error(self, message: str) -> None:
        self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Error, message=message))

    def show_warning(self, message: str) -> None:
        self.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message=message))

    def doc_path(self, doc: TextDocument) -> Path | None:
        p = doc.path if doc.uri.startswith("file:") else None
        return Path(p).resolve() if p else None

    def is_launch_json(self, doc: TextDocument) -> bool:
        p = self.doc_path(doc)
        return p is not None and p.name == "launch.json" and p.parent.name == ".vscode"

    # -- ELF discovery and indexing -----------------------------------------------------------
    async def check_elf(self) -> None:
        """Pick up a changed configuration or a rebuilt ELF; cheap when nothing changed."""
        async with self._check_lock:
            self.config.refresh_launch_json()
            choice = self.config.choose()
            if choice is None:
                if self.choice is not None:
                    self.choice, self.index, self.loaded_state = None, None, None
                    self.publish_all()
                return
            if self.choice is None or choice.path != self.choice.path:
                self.choice = choice
                self.loaded_state = None
                self.publish_all()
            else:
                self.choice = choice
            state = file_state(choice.path)
            if state is None:
                if self.loaded_state is not None:
                    self.loaded_state = None
                    self.publish_all()
                return
            if state == self.loaded_state or (self._loading is not None and not self._loading.done()):
                return
            if self.failed_state == (choice.path, state):
                return
            self._loading = asyncio.create_task(self._index(choice, state))

    async def _index(self, choice: ElfChoice, state: tuple[int, int]) -> None:
        loop = asyncio.get_running_loop()
        token = str(uuid.uuid4())
        progress = await self._begin_progress(token, f"firmwatch: indexing {self.config.display(choice.path)}")
        last = [0.0]

        def report(done: int, total: int) -> None:
            # called from the worker thread; throttled so a big ELF sends a few dozen updates
            now = time.monotonic()
            if not progress or not total or now - last[0] < 0.2:
                return
            last[0] = now
            pct = min(99, int(done * 100 / total))
            loop.call_soon_threadsafe(
                self.work_done_progress.report, token, lsp.WorkDoneProgressReport(percentage=pct)
            )

        t0 = time.perf_counter()
        try:
            idx = await loop.run_in_executor(None, _build_index, choice.path, state, report)
        except SymbolsError as e:
            if progress:
                self.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message="failed"))
            if file_state(choice.path) == state:
                self.failed_state = (choice.path, state)
                self.show_error(f"firmwatch: {e}")
            return  # else: rebuilt while we read it (a linker mid-write); the next poll retries
        except Exception as e:  # noqa: BLE001 - the server must survive any ELF
            log.exception("indexing %s failed", choice.path)
            if progress:
                self.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message="failed"))
            self.failed_state = (choice.path, state)
            self.show_error(f"firmwatch: could not index {choice.path.name} ({type(e).__name__}: {e}); see the server log")
            return
        if progress:
            self.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=f"{len(idx.entries)} symbols"))
        if file_state(choice.path) != state:
            return  # changed while indexing: the next poll indexes the new file
        if self.choice is None or self.choice.path != choice.path:
            return  # the configuration moved on meanwhile
        self.index = idx
        self.loaded_state = state
        self.failed_state = None
        self.resolver = SourceResolver(self.roots(), idx.comp_dirs, choice.path)
        if idx.program.elf.debug_note:  # no types, no declarations: say why rather than look empty
            self.show_warning(f"firmwatch: {idx.program.elf.debug_note}")
        self.publish_all()
        self._refresh_code_lenses()
        # function locations come from the line tables: answer from the index meanwhile
        fns = {s.address: s.name for s in idx.program.symbols if s.kind == "function"}
        thumb = idx.program.elf.machine == "ARM"
        lines = await loop.run_in_executor(None, function_lines, choice.path, fns, thumb)
        idx.function_lines.update(lines)
        if self.index is not idx:
            return
        self.publish_all()
        # "indexed" means complete: variables, functions and their locations
        self.protocol.notify(
            INDEXED,
            {
                "elf": str(choice.path),
                "origin": choice.origin,
                "variables": len(idx.program.variables),
                "functions": sum(1 for e in idx.entries if e.function is not None),
                "buildId": idx.program.elf.build_id,
                "seconds": round(time.perf_counter() - t0, 3),
            },
        )

    async def _begin_progress(self, token: str, title: str) -> bool:
        caps = self.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return False
        try:
            await asyncio.wait_for(self.work_done_progress.create_async(token), 5.0)
        except Exception:  # noqa: BLE001 - progress is optional; index without it
            return False
        self.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title, percentage=0))
        return True

    def _refresh_code_lenses(self) -> None:
        ws = self.client_capabilities.workspace
        if ws is not None and ws.code_lens is not None and ws.code_lens.refresh_support:
            fut = self.workspace_code_lens_refresh(None)
            _ignore_result(fut)

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                await self.check_elf()
            except Exception:  # noqa: BLE001 - keep polling whatever one round hit
                log.exception("ELF check failed")

    # -- diagnostics --------------------------------------------------------------------------
    def publish_all(self) -> None:
        for doc in list(self.workspace.text_documents.values()):
            self.publish(doc)

    def publish(self, doc: TextDocument) -> None:
        path = self.doc_path(doc)
        if not diagnostics.is_source(path, doc.language_id) or self.is_launch_json(doc):
            return
        choice = self.choice
        state = file_state(choice.path) if choice is not None else None
        built_from = False
        idx = self.index
        if idx is not None and path is not None and self.resolver is not None and self.loaded_state is not None:
            built_from = any(
                f.replace("\\", "/").rsplit("/", 1)[-1] == path.name and self.resolver.resolve(f) == path
                for f in idx.source_files()
            )
        diags = diagnostics.for_document(
            path,
            elf_display=self.config.display(choice.path) if choice is not None else None,
            elf_exists=state is not None,
            elf_mtime_ns=state[0] if state is not None else None,
            built_from_it=built_from,
        )
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=diags))


def _build_index(path: Path, state: tuple[int, int], progress: Any) -> SymbolIndex:
    program = load(path, progress=progress)
    return SymbolIndex.build(program, path, state[0], comp_dirs(path))


def _ignore_result(fut: Future[Any] | asyncio.Future[Any]) -> None:
    """Retrieve a request's outcome nobody waits for (no 'exception never retrieved')."""

    def done(f: Any) -> None:
        if not f.cancelled():
            f.exception()

    fut.add_done_callback(done)


server = FirmwatchServer()


# -- lifecycle ---------------------------------------------------------------------------------
@server.feature(lsp.INITIALIZE)
def on_initialize(ls: FirmwatchServer, params: lsp.InitializeParams) -> None:
    root = None
    if params.workspace_folders:
        root = to_fs_path(params.workspace_folders[0].uri)
    elif params.root_uri:
        root = to_fs_path(params.root_uri)
    elif params.root_path:
        root = params.root_path
    ls.config.root = Path(root).resolve() if root else None
    opts = params.initialization_options
    if isinstance(opts, dict):
        ls.config.apply_client_settings(opts)
        if opts.get("liveValues") is False:
            ls.live_values = False


@server.feature(lsp.INITIALIZED)
async def on_initialized(ls: FirmwatchServer, params: lsp.InitializedParams) -> None:
    await _pull_configuration(ls)
    await _watch_files(ls)
    await ls.check_elf()
    ls._poller = asyncio.create_task(ls.poll())


async def _pull_configuration(ls: FirmwatchServer) -> None:
    ws = ls.client_capabilities.workspace
    if ws is None or not ws.configuration:
        return
    scope = ls.root.as_uri() if ls.root is not None else None
    try:
        got = await asyncio.wait_for(
            ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(scope_uri=scope, section="firmwatch")])
            ),
            5.0,
        )
    except Exception:  # noqa: BLE001 - a client without settings still gets launch.json
        return
    if got and isinstance(got[0], dict):
        ls.config.apply_client_settings({"firmwatch": {"elf": got[0].get("elf")}})
        svd = got[0].get("svd")
        ls.svd.setting = svd if isinstance(svd, str) and svd.strip() else None


async def _watch_files(ls: FirmwatchServer) -> None:
    ws = ls.client_capabilities.workspace
    dyn = ws.did_change_watched_files if ws is not None else None
    if dyn is None or not dyn.dynamic_registration:
        return  # the 1 s poll still notices a rebuilt ELF
    opts = lsp.DidChangeWatchedFilesRegistrationOptions(
        watchers=[
            lsp.FileSystemWatcher(glob_pattern="**/*.elf"),
            lsp.FileSystemWatcher(glob_pattern="**/.vscode/launch.json"),
        ]
    )
    reg = lsp.Registration(id=str(uuid.uuid4()), method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=opts)
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(lsp.RegistrationParams(registrations=[reg])), 5.0
        )
    except Exception:  # noqa: BLE001
        log.info("client refused file watching; polling only")


@server.feature(lsp.SHUTDOWN)
def on_shutdown(ls: FirmwatchServer, params: None) -> None:
    if ls._poller is not None:
        ls._poller.cancel()


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def on_configuration(ls: FirmwatchServer, params: lsp.DidChangeConfigurationParams) -> None:
    ls.config.apply_client_settings(params.settings)
    fw = params.settings.get("firmwatch") if isinstance(params.settings, dict) else None
    if isinstance(fw, dict) and "svd" in fw:
        ls.svd.setting = fw["svd"] if isinstance(fw["svd"], str) and fw["svd"].strip() else None
    if not (isinstance(params.settings, dict) and isinstance(params.settings.get("firmwatch"), dict)):
        await _pull_configuration(ls)  # VS Code sends {"settings": null} and expects a pull
    await ls.check_elf()


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def on_watched(ls: FirmwatchServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    await ls.check_elf()


# -- documents ---------------------------------------------------------------------------------
@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: FirmwatchServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.publish(ls.workspace.get_text_document(params.text_document.uri))


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
async def on_save(ls: FirmwatchServer, params: lsp.DidSaveTextDocumentParams) -> None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    if ls.is_launch_json(doc):
        ls.config.refresh_launch_json(doc.source)
    await ls.check_elf()
    ls.publish(doc)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: FirmwatchServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


# -- features ----------------------------------------------------------------------------------
@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", ">", '"', ":"]))
def on_completion(ls: FirmwatchServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
    idx = ls.index
    doc = ls.workspace.get_text_document(params.text_document.uri)
    if ls.is_launch_json(doc):
        got = _complete_peripherals(ls, doc, params)
        if got is not None:
            return got
    if idx is None:
        return None
    offset = doc.offset_at_position(params.position)

    def pos(o: int) -> lsp.Position:
        # pygls maps the offset just past the last character of a file without a final newline to
        # the start of a line that does not exist, and VS Code then drops every item
        return params.position if o == offset else doc.client_position_at_offset(o)

    return completion.complete(idx, doc.source, offset, pos, launch_json=ls.is_launch_json(doc))


def _complete_peripherals(ls: FirmwatchServer, doc: Any, params: lsp.CompletionParams) -> lsp.CompletionList | None:
    """SVD names in a watch string, after the ELF's (an ELF symbol wins a name both have)."""
    device = ls.svd_device(doc.source)
    offset = doc.offset_at_position(params.position)
    ws = watch_string_at(doc.source, offset) if device is not None else None
    if ws is None:
        return None
    head = ws.prefix.strip().split(".", 1)[0]
    if "." in ws.prefix and device.peripheral(head) is None:
        return None
    items = peripherals.complete(device, ws.prefix, lambda o: doc.client_position_at_offset(ws.start + o))
    if "." in ws.prefix:
        return lsp.CompletionList(is_incomplete=False, items=items)
    elf = completion.complete(ls.index, doc.source, offset, lambda o: doc.client_position_at_offset(o),
                              launch_json=True) if ls.index is not None else None
    taken = {i.label for i in elf.items} if elf is not None else set()
    merged = (list(elf.items) if elf is not None else []) + [i for i in items if i.label not in taken]
    return lsp.CompletionList(is_incomplete=bool(elf and elf.is_incomplete), items=merged)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
async def on_hover(ls: FirmwatchServer, params: lsp.HoverParams) -> lsp.Hover | None:
    idx = ls.index
    doc = ls.workspace.get_text_document(params.text_document.uri)
    if ls.is_launch_json(doc):
        got = _hover_peripheral(ls, doc, params)
        if got is not None:
            return got
    if idx is None:
        return None
    source = doc.source
    offset = doc.offset_at_position(params.position)
    start_in_doc = 0
    if ls.is_launch_json(doc):
        # only inside a watch string, whose content is the expression
        ws = watch_string_at(source, offset)
        if ws is None:
            return None
        end = string_end(source, ws.start - 1)
        if source[end - 1 : end] == '"' and end - 1 >= ws.start:
            end -= 1
        source, offset, start_in_doc = source[ws.start : end], offset - ws.start, ws.start
    found = T.expression_at(source, offset)
    if found is None:
        return None
    expr, s, e = found
    subj = hover.subject(idx, expr, ls.doc_path(doc), ls.resolver)
    if subj is None:
        return None
    live = await _live_value(ls, subj.expression) if ls.live_values and not subj.is_function else None
    rng = lsp.Range(doc.client_position_at_offset(start_in_doc + s), doc.client_position_at_offset(start_in_doc + e))
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=hover.markdown(subj, live)), range=rng)


def _hover_peripheral(ls: FirmwatchServer, doc: Any, params: lsp.HoverParams) -> lsp.Hover | None:
    device = ls.svd_device(doc.source)
    if device is None:
        return None
    offset = doc.offset_at_position(params.position)
    ws = watch_string_at(doc.source, offset)
    if ws is None:
        return None
    end = string_end(doc.source, ws.start - 1)
    content = doc.source[ws.start : end - 1 if doc.source[end - 1 : end] == '"' else end]
    text = content.strip()
    head = text.split(".", 1)[0]
    if device.peripheral(head) is None:
        return None
    if ls.index is not None and any(e.key == head for e in ls.index.complete(head, 50)[0]):
        return None  # the ELF's symbol wins
    md = peripherals.hover_markdown(device, text)
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=md)) if md else None


async def _live_value(ls: FirmwatchServer, expression: str) -> str | None:
    """Ask the client for the live value; None when no session answers within LIVE_TIMEOUT."""
    fut = ls.protocol.send_request(LIVE_VALUE, {"expression": expression})
    _ignore_result(fut)
    # not asyncio.wait_for: cancelling would make pygls fail when the late answer arrives
    afut = asyncio.wrap_future(fut)
    done, _ = await asyncio.wait({afut}, timeout=LIVE_TIMEOUT)
    if not done or afut.cancelled() or afut.exception() is not None:
        return None
    result = afut.result()
    value = result.get("value") if isinstance(result, dict) else getattr(result, "value", None)
    return value if isinstance(value, str) else None


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: FirmwatchServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    idx, resolver = ls.index, ls.resolver
    if idx is None or resolver is None:
        return None
    doc = ls.workspace.get_text_document(params.text_document.uri)
    return definition.definition(idx, doc.source, doc.offset_at_position(params.position), ls.doc_path(doc), resolver)


@server.feature(lsp.WORKSPACE_SYMBOL)
def on_workspace_symbol(ls: FirmwatchServer, params: lsp.WorkspaceSymbolParams) -> list[lsp.WorkspaceSymbol]:
    idx, resolver = ls.index, ls.resolver
    if idx is None or resolver is None:
        return []
    return symbols.workspace_symbols(idx, params.query, resolver)


@server.feature(lsp.TEXT_DOCUMENT_CODE_LENS, lsp.CodeLensOptions(resolve_provider=False))
def on_code_lens(ls: FirmwatchServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
    idx, resolver = ls.index, ls.resolver
    if idx is None or resolver is None:
        return []
    doc = ls.workspace.get_text_document(params.text_document.uri)
    path = ls.doc_path(doc)
    if path is None or ls.is_launch_json(doc):
        return []
    return codelens.code_lenses(idx, path, resolver)


def main() -> None:
    logging.basicConfig(level=os.environ.get("FIRMWATCH_LSP_LOG", "WARNING"), format="%(name)s: %(message)s")
    server.start_io()
