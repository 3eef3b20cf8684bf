"""The request handlers: DAP requests in, session calls out.

Front-end rules (docs/architecture.md): this module talks to ``firmwatch.session`` and
``firmwatch.symbols``, and to targets only through their declared protocols; devices and
transports are opened by the one factory (session/connect.py, from launch.json through
config.py), execution control is the CPU view's (cpu.py), the Live thread's refresh logic is in
live.py and variable references in variables.py.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from firmwatch.dap import models as M
from firmwatch.dap.completions import complete
from firmwatch.dap.config import LaunchConfig, parse_config
from firmwatch.dap.cpu import CpuEvents, CpuView
from firmwatch.dap.live import FRAME_ID, MENU_HOLD_S, SOURCE_REF, THREAD_ID, LiveView
from firmwatch.dap.messaging import Connection, Request, RequestError, RequestTable, Tracer
from firmwatch.dap.peripherals import FieldsNode, PeripheralNode, peripherals_scope, set_register
from firmwatch.dap.scopes import globals_scope, memory_scope
from firmwatch.dap.variables import ValueBuilder, ValueNode, VariableRegistry, find_watch
from firmwatch.errors import UserError
from firmwatch.session.access import Decoded
from firmwatch.session.connect import Connection as DeviceConnection
from firmwatch.session.connect import connect
from firmwatch.targets.base import TargetError

READ_CMD = re.compile(r"^:read\s+(\S+)\s*$", re.IGNORECASE)
RATE_CMD = re.compile(r"^:rate\s+(.+?)\s+(\d+(?:\.\d*)?|\.\d+)\s*(?:hz)?\s*$", re.IGNORECASE)
HOVER_BUDGET_S = 0.25  # firmwatch.evaluateLive answers within this, read or not
RECONNECT_GRACE_S = 10.0  # a lost serial/tcp link that does not come back by then ends the session
MAX_MEMORY_READ = 1 << 20
STALE_AFTER_S = 1.0  # plus three sample periods: a watch value older than that is marked as such

CAPABILITIES: dict[str, Any] = {
    "supportsConfigurationDoneRequest": True,
    "supportsEvaluateForHovers": True,
    "supportsSetVariable": True,
    "supportsSetExpression": True,
    "supportsValueFormattingOptions": True,
    "supportsReadMemoryRequest": True,
    "supportsWriteMemoryRequest": True,
    "supportsCompletionsRequest": True,
    "completionTriggerCharacters": [".", ">"],
    "supportsCancelRequest": True,
    "supportsTerminateRequest": True,
    "supportsClipboardContext": True,
    "supportsDelayedStackTraceLoading": False,
    "supportTerminateDebuggee": True,
    "supportsLoadedSourcesRequest": False,
    "supportsFunctionBreakpoints": False,
    "supportsConditionalBreakpoints": False,
    # also without gdb: VS Code then asks dataBreakpointInfo right before it opens a Variables
    # context menu, the adapter's cue to hold refresh while the menu is open (live.py)
    "supportsDataBreakpoints": True,
    "exceptionBreakpointFilters": [],
}
# The firmwatch VS Code extension sets FIRMWATCH_DAP_UI=vscode-extension: its own Set Value
# replaces VS Code's inline editor, whose target and edit box a live refresh replaces
# (docs/vscode.md); writes still arrive as setExpression requests.
UI_OWNS_EDITS = {"supportsSetVariable": False, "supportsSetExpression": False}


class _IndexCancelled(BaseException):
    """Raised from the loader's progress callback: a BaseException so that the loader's
    "DWARF unreadable, carry on with the symbol table" fallback cannot swallow it."""


# Every handler is declared here; a UserError it raises becomes the error response in one place
# (messaging.Connection.translate), shown as a notification unless ``show_user=False`` (VS Code
# shows a watch's or a hover's error in place).
request = RequestTable()


class Adapter:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.client: M.InitializeArgs = M.InitializeArgs()
        self.cfg: LaunchConfig | None = None
        self.launched: DeviceConnection | None = None
        self.session: Any = None
        self.live: LiveView | None = None
        self.cpu = CpuView(None)
        self.memory: Any = None  # dap.memory_view.MemoryLive of the running session
        self.rtos: Any = None  # dap.rtos_view.RtosLive when the ELF has a FreeRTOS kernel
        self.profile: Any = None  # dap.profile_view.ProfileView of the running session
        self.capture: Any = None  # dap.capture_view.CaptureView of the running session
        self.registry = VariableRegistry()
        self._eval_memo: dict[tuple[int, bool], tuple[Any, dict[str, Any]]] = {}
        self.builder: ValueBuilder | None = None
        self.link = "up"
        self._lost_at: float | None = None
        self._cancelled_progress: set[str] = set()
        self._monitor_stop = threading.Event()
        conn.on_cancel_progress = self._cancelled_progress.add
        request.install(conn, self)

    # -- helpers --------------------------------------------------------------------------------------
    def output(self, category: str, text: str) -> None:
        self.conn.event("output", {"category": category, "output": text})

    def _need_session(self) -> Any:
        if self.session is None:
            raise RequestError("no firmwatch session is running yet: start one with a launch or attach "
                               "configuration.", show_user=False)
        return self.session

    def _hex(self, fmt: M.ValueFormat | None) -> bool:
        return bool(fmt and fmt.hex)

    # -- lifecycle -------------------------------------------------------------------------------------
    @request("initialize")
    def initialize(self, req: Request) -> dict[str, Any] | None:
        self.client = M.parse(M.InitializeArgs, req.arguments)
        caps = dict(CAPABILITIES)
        if os.environ.get("FIRMWATCH_DAP_UI") == "vscode-extension":
            caps.update(UI_OWNS_EDITS)
        self.conn.respond(req, caps)
        self.conn.event("initialized")
        return None

    @request("launch", "attach")
    def start(self, req: Request) -> dict[str, Any] | None:
        kind = req.command
        if self.session is not None:
            raise RequestError("this debug session is already running; start a new one for another device.")
        cfg = parse_config(req.arguments, kind)
        if cfg.trace:
            self.conn.tracer = Tracer(cfg.trace)
            self.conn.tracer.log("in", {"type": "request", "command": kind, "arguments": req.arguments})
            self.output("console", f"firmwatch: logging every DAP message to {cfg.trace}\n")
        # launch runs on the adapter's one long-lived worker thread, so the kernel may end a simulated
        # device with it: a killed adapter (VS Code gone, SIGKILL) leaves no emulator behind
        options = cfg.connect_options(die_with_parent=threading.current_thread().name == "dap-worker")
        launched = connect(options, load=lambda elf: self._load_program(elf, req), on_output=self.output,
                           on_link=self._on_link)
        program = launched.program
        try:
            from firmwatch.session.session import Session

            session = Session(program, launched.target, default_rate=cfg.sample_rate or max(10.0, 2 * cfg.ui_refresh_hz),
                              verify_build_id=cfg.verify_build_id, on_message=self._on_message,
                              device=cfg.name or None)  # a recording's device column: the launch configuration's name
        except BaseException:
            launched.close()
            raise
        self.cfg, self.launched, self.session = cfg, launched, session
        self.builder = ValueBuilder(self.registry, program, paging=self.client.supportsVariablePaging)
        self.live = LiveView(session, self.conn.event, ui_hz=cfg.ui_refresh_hz, transport=launched.transport,
                             target_name=launched.description, link_state=lambda: self.link,
                             post=self.conn.post)
        self.cpu = CpuView(launched.target.control(), program, session.evaluate)
        from firmwatch.dap.rtos_view import RtosLive, TaskThreads, has_rtos

        self.rtos = RtosLive(session) if has_rtos(program) else None  # the RTOS scope and task threads
        if self.rtos is not None:
            self.live.tick_while(self.rtos.interval, self.rtos.shown)
        if self.rtos is not None and self.cpu.active:  # before attach: a halted target shows its tasks at once
            self.cpu.tasks = TaskThreads(self.rtos)
        self.cpu.attach(CpuEvents(self._cpu_stopped, self._cpu_continued, self.output, self._cpu_thread_exited))
        if self.cpu.capabilities:  # known only now that the transport is: DAP lets us add them late
            self.conn.event("capabilities", {"capabilities": dict(self.cpu.capabilities)})
        if cfg.svd_file:
            self._attach_svd(session, cfg)
        for spec in cfg.watch:
            try:
                w = session.add_watch(spec.expression, spec.rate_hz)
                self.live.asked(w.id, pinned=True)
            except Exception as e:  # noqa: BLE001 - one bad watch must not stop the session
                self.output("console", f"firmwatch: watch '{spec.expression}' not added: {e}\n")
        from firmwatch.dap.memory_view import MemoryLive

        self.memory = MemoryLive(session, cfg.memory_threshold,
                                 on_warning=lambda text: self.output("important", f"firmwatch: memory: {text}\n"))
        self.live.start()
        threading.Thread(target=self._monitor, name="firmwatch-monitor", daemon=True).start()
        self.output("console", f"firmwatch: connected to {launched.description} over {launched.transport}; "
                               f"ELF {launched.elf} (build id: {session.build_id_status}).\n")
        return None

    def _attach_svd(self, session: Any, cfg: LaunchConfig) -> None:
        """A bad SVD costs the Peripherals scope, not the session: the sentence goes to the console."""
        from firmwatch.peripherals.svd import load_svd

        try:
            device = load_svd(cfg.svd_file or "")
            session.attach_svd(device, cfg.peripherals_manual)
        except UserError as e:
            self.output("important", f"firmwatch: no Peripherals scope: {e}\n")
            return
        for w in device.warnings:
            self.output("console", f"firmwatch: {cfg.svd_file}: {w}\n")

    def _load_program(self, elf: str, req: Request) -> Any:
        from firmwatch.symbols import load

        progress_id = f"firmwatch-index-{req.seq}"
        state = {"started": False, "last": 0.0}
        want = self.client.supportsProgressReporting

        def progress(done: int, total: int) -> None:
            if progress_id in self._cancelled_progress or req.cancelled:
                raise _IndexCancelled()
            if not want:
                return
            now = time.monotonic()
            if not state["started"]:
                state["started"] = True
                self.conn.event("progressStart", {"progressId": progress_id, "title": "firmwatch: indexing ELF",
                                                  "message": elf, "cancellable": True, "requestId": req.seq,
                                                  "percentage": 0})
            if now - state["last"] >= 0.1 or done >= total:
                state["last"] = now
                pct = round(100.0 * done / total, 1) if total else None
                self.conn.event("progressUpdate", {"progressId": progress_id, "percentage": pct,
                                                   "message": f"{done // 1024} of {total // 1024} KiB of DWARF"})

        try:
            return load(elf, progress=progress)
        except _IndexCancelled:
            raise RequestError("indexing the ELF was cancelled.", show_user=False) from None
        finally:
            if state["started"]:
                self.conn.event("progressEnd", {"progressId": progress_id})

    @request("configurationDone")
    def configuration_done(self, req: Request) -> dict[str, Any] | None:
        self.conn.respond(req)
        if self.live is not None:
            self.live.enabled = True
            self.conn.event("stopped", self.live.stopped_event())
        return None

    def _on_message(self, level: str, text: str) -> None:
        self.output("important" if level in ("warning", "error") else "console", f"firmwatch: {text}\n")

    def _on_link(self, state: str, message: str) -> None:
        if self.session is not None:  # an outage counts as missing samples (Session.link_event)
            self.session.link_event(state, message)
        if state == "lost":
            self.link = "reconnecting" if self._transport() in ("serial", "tcp") else "lost"
            self._lost_at = time.monotonic()
            self.output("important", f"firmwatch: {message}\n")
        elif state == "restored":
            self.link = "up"
            self._lost_at = None
            self.output("important", f"firmwatch: {message}\n")
        else:
            self.output("console", f"firmwatch: {message}\n")
        if self.live is not None:
            self.conn.event("firmwatch.status", self.live.status())

    def _transport(self) -> str:
        return self.launched.transport if self.launched else ""

    def _monitor(self) -> None:
        """Ends the session when what we started died, or a lost link does not come back."""
        while not self._monitor_stop.wait(0.2):
            launched = self.launched
            if launched is None:
                continue
            why = launched.device_gone()
            if why is None and self.link == "lost":
                why = "the link to the target is gone"
            elif why is None and self._lost_at is not None and time.monotonic() - self._lost_at > RECONNECT_GRACE_S:
                why = f"the device did not come back within {RECONNECT_GRACE_S:g} s"
            if why is not None:
                # the end runs on the worker thread, between requests: a request never sees the
                # session half torn down
                self.conn.post(lambda why=why, launched=launched: self._session_lost(why, launched), urgent=True)
                return

    def _session_lost(self, why: str, launched: DeviceConnection) -> None:
        if self.launched is not launched:
            return  # ended meanwhile (terminate, disconnect)
        self.link = "lost"
        self.output("important", f"firmwatch: {why}; the debug session ends.\n")
        self._end_session()
        self.conn.event("terminated")

    def _end_session(self) -> None:
        self._monitor_stop.set()
        if self.profile is not None:
            self.profile.close()
            self.profile = None
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        if self.rtos is not None:
            self.rtos.close()
            self.rtos = None
        if self.live is not None:
            self.live.close()
        if self.session is not None:
            try:
                self.session.close()
            except Exception:  # noqa: BLE001 - closing over a dead link
                pass
        self.cpu.close()
        if self.launched is not None:
            launched, self.launched = self.launched, None
            launched.close()  # an attach started nothing: only its transport closes
        self.session = None
        self.live = None

    @request("terminate")
    def terminate(self, req: Request) -> dict[str, Any] | None:
        self.conn.respond(req)
        self._end_session()
        self.conn.event("terminated")
        return None

    @request("disconnect")
    def disconnect(self, req: Request) -> dict[str, Any] | None:
        self._end_session()
        self.conn.respond(req)
        if self.conn.tracer is not None:
            self.conn.tracer.close()
            self.conn.tracer = None
        self.conn.stop()  # DAP: the adapter shuts down after disconnect
        return None

    # -- threads, frames, scopes -------------------------------------------------------------------------
    @request("threads")
    def threads(self, req: Request) -> dict[str, Any]:
        threads = [self.live.thread()] if self.live else []
        return {"threads": threads + self.cpu.threads()}

    @request("stackTrace", show_user=False)
    def stack_trace(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.StackTraceArgs, req.arguments)
        if a.threadId == THREAD_ID and self.live is not None:
            frames = [self.live.frame()] if a.startFrame == 0 else []
            return {"stackFrames": frames, "totalFrames": 1}
        return self.cpu.stack_trace(a.threadId, a.startFrame, a.levels)

    @request("scopes", show_user=False)
    def scopes(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.ScopesArgs, req.arguments)
        if a.frameId == FRAME_ID and self.live is not None:
            self.live.client_activity()
            s = self._need_session()
            assert self.builder is not None
            scopes = [globals_scope(self.registry, self.builder, s), memory_scope(self.registry, s, self.memory)]
            if s.peripherals is not None:
                scopes.append(peripherals_scope(self.registry, s.peripherals))
            if self.rtos is not None:
                from firmwatch.dap.rtos_view import rtos_scope

                scopes.append(rtos_scope(self.registry, self.rtos))
            return {"scopes": scopes}
        return {"scopes": self.cpu.scopes(a.frameId)}

    @request("variables", show_user=False)
    def variables(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.VariablesArgs, req.arguments)
        if self.live is not None:
            self.live.client_activity()
        node = self.registry.get(a.variablesReference)
        hex_ = self._hex(a.format)
        if node is None:
            got = self.cpu.variables(a.variablesReference, a.start, a.count, hex_)
            return {"variables": got or []}
        try:
            return {"variables": node.variables(a.start, a.count, hex_, self.client.supportsVariablePaging)}
        except UserError as e:  # shown in the view, where the children would be
            return {"variables": [{"name": "<error>", "value": str(e), "variablesReference": 0}]}

    @request("source")
    def source(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.SourceArgs, req.arguments)
        ref = a.sourceReference or (a.source or {}).get("sourceReference", 0)
        if ref == SOURCE_REF and self.live is not None:
            return {"content": self.live.document(), "mimeType": "text/plain"}
        raise RequestError(f"there is no source {ref}: the session that showed it has ended.", show_user=False)

    # -- evaluate -------------------------------------------------------------------------------------------
    def _root_getter(self, text: str) -> Callable[[], Any]:
        def get() -> Any:
            s = self._need_session()
            w = find_watch(s, text)
            if w is not None:
                v = w.value()
                if v is not None:
                    return v
            return s.evaluate(text)

        return get

    def _evaluate_body(self, text: str, value: Decoded, hex_: bool, read_only: bool) -> dict[str, Any]:
        assert self.builder is not None
        body = self.builder.body(value, ("expr", text), self._root_getter(text), (), hex_, text, read_only)
        body["result"] = body.pop("value")
        body.pop("evaluateName", None)
        return body

    @request("evaluate", show_user=False)
    def evaluate(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.EvaluateArgs, req.arguments)
        s = self._need_session()
        hex_ = self._hex(a.format)
        text = a.expression.strip()
        if a.frameId is not None and a.frameId != FRAME_ID and self.cpu.evaluates_in(a.frameId):
            return self.cpu.evaluate(text, a.frameId, hex_)
        if not text:
            raise RequestError("type an expression to evaluate, e.g. sensor.accel[2].", show_user=False)
        if a.context == "repl" and text.startswith(":"):
            return self._console_command(text)
        if a.context == "watch":
            self.live and self.live.client_activity()
            w = s.add_watch(text)
            assert self.live is not None
            self.live.asked(w.id)
            if w.error:
                raise RequestError(w.error, show_user=False)
            # VS Code re-evaluates every watch at every refresh; most have the same sample as
            # at the previous one (slow watches, still values): answer those from a memo
            memo_key = (w.id, hex_)
            chunks = w.sample
            memo = self._eval_memo.get(memo_key)
            if memo is not None and chunks is not None and memo[0] is chunks:
                body = dict(memo[1])
            else:
                value = w.value()
                if value is None:
                    value = s.evaluate(text)
                body = self._evaluate_body(text, value, hex_, w.compiled.read_only)
                if chunks is not None and w.sample is chunks:
                    if len(self._eval_memo) > 4096:  # watches come and go: keep it bounded
                        self._eval_memo.clear()
                    self._eval_memo[memo_key] = (chunks, dict(body))
            age = time.time() - w.host_time if w.host_time else None
            if age is not None and age > STALE_AFTER_S + 3.0 / w.rate_hz:
                # the link is down or the device stopped answering: say the value is old
                body["result"] += f"  (no new sample for {age:.0f} s)"
            return body
        w = find_watch(s, text)
        value = w.value() if w is not None else None
        if value is None:
            value = s.evaluate(text)
        assert self.builder is not None
        read_only = w.compiled.read_only if w is not None else self.builder.flash.read_only(value)
        return self._evaluate_body(text, value, hex_, read_only)

    def _console_command(self, text: str) -> dict[str, Any]:
        s = self._need_session()
        m = RATE_CMD.match(text)
        if m:
            w = s.add_watch(m.group(1), float(m.group(2)))
            assert self.live is not None
            self.live.asked(w.id, pinned=True)
            return {"result": f"{w.text} is sampled at {w.rate_hz:g} Hz", "variablesReference": 0}
        m = READ_CMD.match(text)
        if m:
            return self._read_register_now(s, m.group(1))
        if text.strip() in (":help", ":?"):
            return {"result": ":rate EXPR HZ  sample a watch at HZ (adds it if needed); :read PERIPH.REG  read a "
                              "register the Peripherals scope skips (its read side effect happens); any other text "
                              "is read once from the target", "variablesReference": 0}
        raise RequestError(f"'{text.split()[0]}' is not a console command; the commands are :rate EXPR HZ, "
                           ":read PERIPH.REG and :help.", show_user=False)

    def _read_register_now(self, s: Any, name: str) -> dict[str, Any]:
        from firmwatch.peripherals.expression import RegisterValue

        if s.peripherals is None:
            raise RequestError("there are no peripherals: add \"svdFile\" to the launch configuration.",
                               show_user=False)
        why = s.peripherals.consequence(name)
        got = s.peripherals.read_now(name)
        r = got.register
        value = RegisterValue(r, None, r.address, (got.value or 0).to_bytes(r.nbytes, s.info.byteorder),
                              s.info.byteorder)
        return {"result": value.display() + (f"  (read on request: {why})" if why else ""), "variablesReference": 0}

    # -- writes ---------------------------------------------------------------------------------------------
    def _write(self, expression: str, value_text: str, hex_: bool) -> dict[str, Any]:
        s = self._need_session()
        back = s.write(expression, value_text)
        body = self._evaluate_body(expression, back, hex_, False)
        body["value"] = body.pop("result")
        address, size = back.address, len(back.raw)
        if address is not None and size:
            self.conn.event("memory", {"memoryReference": f"0x{address:x}", "offset": 0, "count": size})
        if self.live is not None:
            self.live.refresh_now(address, size)
        return body

    @request("setVariable")
    def set_variable(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.SetVariableArgs, req.arguments)
        node = self.registry.get(a.variablesReference)
        if node is None and self.cpu.owns_reference(a.variablesReference):  # a CPU frame's local, register, member
            return self.cpu.set_variable(a.variablesReference, a.name, a.value, self._hex(a.format))
        if isinstance(node, (PeripheralNode, FieldsNode)):
            return set_register(self._need_session().peripherals, node, a.name, a.value, self._hex(a.format))
        name = None
        if isinstance(node, ValueNode):
            child = node.child_by_name(a.name)
            if child is None:
                raise RequestError(f"'{a.name}' is no longer there to set; refresh the view.")
            if node.read_only:
                raise RequestError(f"'{child.evaluate_name or a.name}' is const data (in flash or a read-only region) "
                                   "and cannot be written.")
            name = child.evaluate_name
        elif node is not None:
            name = node.evaluate_name_of(a.name)
            node.invalidate()  # the next look at it shows the new value, not a cached one
        if not name:
            raise RequestError(f"'{a.name}' cannot be set from here; add it to the Watch view and set it there.")
        return self._write(name, a.value, self._hex(a.format))

    @request("setExpression")
    def set_expression(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.SetExpressionArgs, req.arguments)
        if a.frameId is not None and a.frameId != FRAME_ID and self.cpu.evaluates_in(a.frameId):
            return self.cpu.set_expression(a.expression, a.value, a.frameId, self._hex(a.format))
        return self._write(a.expression.strip(), a.value, self._hex(a.format))

    # -- memory ---------------------------------------------------------------------------------------------
    @staticmethod
    def _address(reference: str, offset: int) -> int:
        try:
            return int(reference.strip(), 0) + offset
        except ValueError:
            raise RequestError(f"'{reference}' is not a memory reference; give an address such as 0x20000000.",
                               show_user=False) from None

    @request("readMemory")
    def read_memory(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.ReadMemoryArgs, req.arguments)
        s = self._need_session()
        address = self._address(a.memoryReference, a.offset)
        count = max(0, min(a.count, MAX_MEMORY_READ))
        if address < 0:
            return {"address": f"0x{0:x}", "unreadableBytes": count}
        data = bytearray()
        step = 256
        pos = 0
        while pos < count:
            n = min(step, count - pos)
            try:
                data += s.target.read(address + pos, n)
            except TargetError:
                if n > 1 and step > 1:
                    step = max(1, step // 16)  # find where the readable part ends, then stop there
                    continue
                break
            pos += n
            req.check_cancelled()
        body: dict[str, Any] = {"address": f"0x{address:x}", "data": base64.b64encode(bytes(data)).decode("ascii")}
        if len(data) < count:
            body["unreadableBytes"] = count - len(data)
        return body

    @request("writeMemory")
    def write_memory(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.WriteMemoryArgs, req.arguments)
        s = self._need_session()
        address = self._address(a.memoryReference, a.offset)
        try:
            data = base64.b64decode(a.data, validate=True)
        except ValueError:
            raise RequestError("'data' is not base64.", show_user=False) from None
        back = s.target.write(address, data)
        self.conn.event("memory", {"memoryReference": f"0x{address:x}", "offset": 0, "count": len(data)})
        if self.live is not None:
            self.live.refresh_now(address, len(data))
        if back != data:
            raise RequestError(f"wrote {len(data)} bytes at 0x{address:x} but read back different bytes: the target "
                               "did not keep them (a register, or the firmware overwriting them).")
        return {"bytesWritten": len(data)}

    # -- completions ------------------------------------------------------------------------------------------
    @request("completions")
    def completions(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.CompletionsArgs, req.arguments)
        s = self._need_session()
        col = a.column - (1 if self.client.columnsStartAt1 else 0)
        return {"targets": complete(s, a.text, col)}

    # -- execution: the Live thread stays stopped, the CPU thread (when there is one) does the work --------------
    @request("continue")
    def continue_(self, req: Request) -> dict[str, Any] | None:
        a = M.parse(M.ThreadArgs, req.arguments)
        if self.cpu.owns_thread(a.threadId):
            self.cpu.continue_(a.threadId)
            return {"allThreadsContinued": False}
        self.conn.respond(req, {"allThreadsContinued": False})
        self._restop()
        return None

    @request("pause")
    def pause(self, req: Request) -> dict[str, Any] | None:
        a = M.parse(M.ThreadArgs, req.arguments)
        if self.cpu.owns_thread(a.threadId):
            self.cpu.pause(a.threadId)
            return None
        self.conn.respond(req)
        self._restop()
        return None

    @request("next", "stepIn", "stepOut")
    def step(self, req: Request) -> dict[str, Any] | None:
        a = M.parse(M.ThreadArgs, req.arguments)
        if self.cpu.owns_thread(a.threadId):
            self.cpu.step(a.threadId, req.command, str(req.arguments.get("granularity", "statement")))
            return None
        self.conn.respond(req)
        self._restop()
        return None

    def _restop(self) -> None:
        """The Live thread never runs: after a continue/step VS Code sees it stopped again at once."""
        if self.live is not None:
            self.conn.event("stopped", self.live.stopped_event())

    @request("setExceptionBreakpoints")
    def set_exception_breakpoints(self, req: Request) -> dict[str, Any]:
        return {"breakpoints": []}

    @request("setBreakpoints")
    def set_breakpoints(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.SetBreakpointsArgs, req.arguments)
        return {"breakpoints": self.cpu.set_breakpoints(a.source, a.breakpoints)}

    @request("setFunctionBreakpoints")
    def set_function_breakpoints(self, req: Request) -> dict[str, Any]:
        return {"breakpoints": self.cpu.set_function_breakpoints(list(req.arguments.get("breakpoints") or []))}

    @request("dataBreakpointInfo")
    def data_breakpoint_info(self, req: Request) -> dict[str, Any]:
        if self.live is not None:  # VS Code opens a Variables context menu next
            self.live.hold("menu", "context menu open", MENU_HOLD_S)
        a = req.arguments
        name = str(a.get("name") or "")
        ref = a.get("variablesReference")
        node = self.registry.get(ref) if isinstance(ref, int) and ref else None
        if node is not None:  # a Live node: its child's evaluateName is the expression to watch
            name, ref = node.evaluate_name_of(name) or name, None
        return self.cpu.data_breakpoint_info(name, ref, a.get("frameId"))

    @request("setDataBreakpoints")
    def set_data_breakpoints(self, req: Request) -> dict[str, Any]:
        return {"breakpoints": self.cpu.set_data_breakpoints(list(req.arguments.get("breakpoints") or []))}

    def _cpu_stopped(self, thread_id: int, reason: str, description: str | None = None,
                     hit_breakpoint_ids: list[int] | None = None, all_threads: bool = False) -> None:
        # all_threads: the RTOS task threads stopped with the CPU (the Live thread is always stopped)
        body: dict[str, Any] = {"reason": reason, "threadId": thread_id, "allThreadsStopped": all_threads}
        if description:
            body["description"] = description
        if hit_breakpoint_ids:
            body["hitBreakpointIds"] = hit_breakpoint_ids
        # after the response of the request being handled: VS Code takes a step's or continue's
        # response as "running", so a stop sent before it would be undone
        self.conn.post(lambda: self.conn.event("stopped", body))

    def _cpu_continued(self, thread_id: int) -> None:
        self.conn.event("continued", {"threadId": thread_id, "allThreadsContinued": False})

    def _cpu_thread_exited(self, thread_id: int) -> None:
        self.conn.event("thread", {"reason": "exited", "threadId": thread_id})

    # -- the extension's requests ------------------------------------------------------------------------------
    @request("firmwatch.setRate")
    def fw_set_rate(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.SetRateArgs, req.arguments)
        s = self._need_session()
        w = s.add_watch(a.expression, a.rateHz)
        assert self.live is not None
        self.live.asked(w.id, pinned=True)
        return {"watchId": w.id, "rateHz": w.rate_hz}

    @request("firmwatch.plot")
    def fw_plot(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.ExpressionArgs, req.arguments)
        s = self._need_session()
        w = s.add_watch(a.expression)
        assert self.live is not None
        self.live.asked(w.id, pinned=True)
        return {"watchId": w.id, "expression": w.text, "rateHz": w.rate_hz}

    @request("firmwatch.startRecording")
    def fw_start_recording(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.StartRecordingArgs, req.arguments)
        s = self._need_session()
        path = self.cfg.resolve(a.path) if self.cfg else a.path
        rec = s.start_recording(path, a.sessionId, a.format)
        if self.memory is not None:  # the memory figures are recorded like any watch
            self.memory.record_to(rec)
        return {"path": rec.path, "sessionId": rec.session_id}

    @request("firmwatch.stopRecording")
    def fw_stop_recording(self, req: Request) -> dict[str, Any]:
        s = self._need_session()
        if self.memory is not None:
            self.memory.record_to(None)
        rec = s.stop_recording()
        if rec is None:
            raise RequestError("nothing is being recorded; start a recording first.")
        return {"path": rec.path, "rows": rec.rows, **({"error": rec.error} if rec.error else {})}

    @request("firmwatch.memoryUsage")
    def fw_memory_usage(self, req: Request) -> dict[str, Any]:
        from firmwatch.session.memory_usage import memory_usage

        s = self._need_session()
        u = memory_usage(s.program, s.info.regions)
        return {"sections": [{"name": x.name, "address": x.address, "size": x.size, "kind": x.kind}
                             for x in u.sections],
                "ram": {"used": u.ram.used, "total": u.ram.total},
                "flash": {"used": u.flash.used, "total": u.flash.total}}

    # profiles (docs/profiler.md, dap/profile_view.py); start/stop wait for the device, so they
    # run beside the refresh
    def _profile_view(self) -> Any:
        s = self._need_session()
        if self.profile is None:
            from firmwatch.dap.profile_view import ProfileView

            self.profile = ProfileView(s.program, self.launched.target, self._transport(), self.conn.event)
        return self.profile

    @request("firmwatch.startProfile", concurrent=True)
    def fw_start_profile(self, req: Request) -> dict[str, Any]:
        return self._profile_view().start(req.arguments or {})

    @request("firmwatch.stopProfile", concurrent=True)
    def fw_stop_profile(self, req: Request) -> dict[str, Any]:
        return self._profile_view().stop(req.arguments or {})

    @request("firmwatch.profile", concurrent=True, show_user=False)
    def fw_profile(self, req: Request) -> dict[str, Any]:
        return self._profile_view().snapshot(req.arguments or {})

    # triggered capture (docs/capture.md, dap/capture_view.py): arming waits for the device, so
    # these run beside the refresh
    def _capture_view(self) -> Any:
        s = self._need_session()
        if self.capture is None:
            from firmwatch.dap.capture_view import CaptureView

            self.capture = CaptureView(s, self.conn.event)
        return self.capture

    @request("firmwatch.captureArm", concurrent=True)
    def fw_capture_arm(self, req: Request) -> dict[str, Any]:
        return self._capture_view().arm(req.arguments or {})

    @request("firmwatch.captureForce", concurrent=True)
    def fw_capture_force(self, req: Request) -> dict[str, Any]:
        return self._capture_view().force()

    @request("firmwatch.captureStop", concurrent=True)
    def fw_capture_stop(self, req: Request) -> dict[str, Any]:
        return self._capture_view().stop()

    @request("firmwatch.captureStatus", concurrent=True, show_user=False)
    def fw_capture_status(self, req: Request) -> dict[str, Any]:
        return self._capture_view().status()

    @request("firmwatch.setDeadband")
    def fw_set_deadband(self, req: Request) -> dict[str, Any]:
        """Change-only streaming of a watch: ``deadband`` a number (0 = any change) or null (every sample)."""
        args = req.arguments or {}
        a = M.parse(M.ExpressionArgs, args)
        deadband = args.get("deadband")
        if deadband is not None and (isinstance(deadband, bool) or not isinstance(deadband, int | float)):
            raise RequestError(f"the deadband is a number (or null for every sample), not {deadband!r}.")
        s = self._need_session()
        w = s.add_watch(a.expression)
        s.set_deadband(w.id, deadband)
        assert self.live is not None
        self.live.asked(w.id, pinned=True)
        return {"watchId": w.id, "deadband": w.deadband, "filtered": w.filtered, "rateHz": w.rate_hz}

    @request("firmwatch.holdRefresh", concurrent=True)
    def fw_hold_refresh(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.HoldRefreshArgs, req.arguments)
        if self.live is None:
            return {"held": []}
        return {"held": self.live.hold(a.id, a.reason, a.seconds)}

    @request("firmwatch.resumeRefresh", concurrent=True)
    def fw_resume_refresh(self, req: Request) -> dict[str, Any]:
        a = M.parse(M.ResumeRefreshArgs, req.arguments)
        if self.live is None:
            return {"held": []}
        return {"held": self.live.resume(a.id)}

    @request("firmwatch.memoryHealth", show_user=False)
    def fw_memory_health(self, req: Request) -> dict[str, Any]:
        """Live memory health for the VS Code memory view; ``threshold`` (bytes) changes the warning's."""
        from firmwatch.dap.memory_view import health_body

        self._need_session()
        args = req.arguments or {}
        threshold = args.get("threshold")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
                raise RequestError(f"the memory threshold is a number of bytes, 0 or more (got {threshold!r}).")
            if threshold != self.memory.threshold:
                self.memory.set_threshold(threshold)
        try:
            h = self.memory.latest()
        except TargetError as e:
            raise RequestError(f"memory health could not be read: {e}") from None
        return health_body(h, self.memory.threshold)

    @request("firmwatch.evaluateLive", concurrent=True, show_user=False)
    def fw_evaluate_live(self, req: Request) -> dict[str, Any]:
        """For hovers: the cached value when watched, else one read given HOVER_BUDGET_S at most."""
        a = M.parse(M.ExpressionArgs, req.arguments)
        s = self._need_session()
        text = a.expression.strip()
        try:
            compiled = s.compile(text)
        except UserError as e:  # the hover shows the sentence in place of the value
            return {"value": None, "type": None, "address": None, "error": str(e)}
        out: dict[str, Any] = {"value": None, "type": compiled.type_name, "address": compiled.address}
        w = find_watch(s, text)
        value = w.value() if w is not None else None
        if value is None:
            box: dict[str, Any] = {}

            def read() -> None:
                try:
                    box["v"] = compiled.evaluate(s.target.read)
                except Exception as e:  # noqa: BLE001 - reported as the error field
                    box["e"] = e

            t = threading.Thread(target=read, name="firmwatch-hover", daemon=True)
            t.start()
            t.join(HOVER_BUDGET_S)
            value = box.get("v")
            if "e" in box:
                out["error"] = str(box["e"])
            elif value is None:
                out["error"] = "the target did not answer in time"
        if value is not None:
            out["value"] = value.display()
            out["type"] = value.type_name
            if value.address is not None:
                out["address"] = value.address
        return out
