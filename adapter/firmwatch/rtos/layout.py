"""Where a FreeRTOS kernel keeps its state, and how its structures are laid out — from the ELF's
DWARF alone, so one reader serves every kernel version and configuration.

The kernel's task lists (``pxReadyTasksLists``, the two delayed lists and the pointers naming
which is which, ``xPendingReadyList``, ``xSuspendedTaskList``, ``xTasksWaitingTermination``) are
file-scope statics of tasks.c; their types lead to ``List_t``, ``ListItem_t`` and, through
``pxCurrentTCB``, to the TCB. Nothing here assumes an offset: a member that a configuration
leaves out (run-time counters without configGENERATE_RUN_TIME_STATS, ``pxEndOfStack`` without
configRECORD_STACK_HIGH_ADDRESS, ``uxBasePriority`` without mutexes) is simply absent and the
column it feeds is not offered. Member names that changed between versions are looked up under
each spelling (``pvContainer`` / ``pxContainer``, ``ucNotifyState`` scalar / array,
``ulTotalRunTime`` scalar / per-core array, ``pxCurrentTCB`` / ``pxCurrentTCBs[]``).

The saved-context layout of a task's stack belongs to the kernel's *port*, which DWARF does not
describe; :func:`detect_port` recognises the ports whose assembly is known (GCC/ARM_CM3,
GCC/ARM_CM4F, GCC/RISC-V) from the ELF's symbols.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmwatch.errors import UserError
from firmwatch.symbols.program import Program, Variable
from firmwatch.symbols.types import ArrayType, PointerType, StructType, TypeId, TypeTable


class RtosError(UserError):
    """An RTOS view that cannot be offered; ``str()`` says why and what to do."""


@dataclass(frozen=True, slots=True)
class Struct:
    """Byte offsets and sizes of the members a reader needs (absent members are missing)."""

    name: str
    size: int
    offsets: dict[str, int]
    sizes: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)  # array members: element count

    def has(self, member: str) -> bool:
        return member in self.offsets

    def off(self, member: str) -> int:
        return self.offsets[member]


@dataclass(frozen=True, slots=True)
class Global:
    name: str
    address: int
    size: int
    count: int = 1  # arrays: elements


@dataclass
class KernelLayout:
    byteorder: str
    pointer_size: int
    arch: str  # the ELF's machine: "ARM", "RISC-V"
    tcb: Struct
    list_: Struct
    item: Struct
    mini: Struct  # MiniListItem_t (a list's end marker)
    ready: Global  # pxReadyTasksLists[configMAX_PRIORITIES]
    lists: dict[str, Global]  # delayed1, delayed2, pending, suspended, terminating (those present)
    pointers: dict[str, Global]  # current, delayed, overflow: pointers to TCB / lists
    scalars: dict[str, Global]  # tasks, tick, running, suspended_sched, top_ready, total_runtime
    queue: Struct | None = None  # Queue_t, when the registry exists
    registry: Global | None = None  # xQueueRegistry[configQUEUE_REGISTRY_SIZE]
    registry_item: Struct | None = None
    timer: Struct | None = None
    timer_lists: dict[str, Global] = field(default_factory=dict)  # active1, active2
    timer_pointers: dict[str, Global] = field(default_factory=dict)  # current, overflow
    heap: Global | None = None  # heap_N's ucHeap: where TCBs and stacks of dynamic tasks live
    heap_block: Struct | None = None  # heap_2/4/5's BlockLink_t: the header before each allocated block
    notes: list[str] = field(default_factory=list)  # what the configuration leaves out

    @property
    def priorities(self) -> int:
        return self.ready.count

    @property
    def name_len(self) -> int:
        return self.tcb.counts.get("pcTaskName", self.tcb.sizes.get("pcTaskName", 16))

    def describe(self) -> str:
        have = [m for m in ("ulRunTimeCounter", "pxEndOfStack", "uxBasePriority", "uxTCBNumber", "ucNotifyState")
                if self.tcb.has(m)]
        return (f"FreeRTOS, TCB {self.tcb.size} bytes ({', '.join(have) or 'minimal'}), "
                f"{self.priorities} priorities, {len(self.lists) + self.priorities} task lists"
                + (f", queue registry of {self.registry.count}" if self.registry else "")
                + (", software timers" if self.timer else ""))


_TASK_LISTS = {
    "delayed1": "xDelayedTaskList1",
    "delayed2": "xDelayedTaskList2",
    "pending": "xPendingReadyList",
    "suspended": "xSuspendedTaskList",
    "terminating": "xTasksWaitingTermination",
}
_SCALARS = {
    "tasks": ("uxCurrentNumberOfTasks",),
    "tick": ("xTickCount",),
    "running": ("xSchedulerRunning",),
    "sched_suspended": ("uxSchedulerSuspended",),
    "top_ready": ("uxTopReadyPriority",),
    "total_runtime": ("ulTotalRunTime",),
    "deleted_waiting": ("uxDeletedTasksWaitingCleanUp",),
}
_TCB_MEMBERS = ("pxTopOfStack", "xStateListItem", "xEventListItem", "uxPriority", "pxStack", "pcTaskName",
                "pxEndOfStack", "uxTCBNumber", "uxBasePriority", "uxMutexesHeld", "ulRunTimeCounter",
                "ucNotifyState", "ulNotifiedValue", "xTaskRunState")
_LIST_MEMBERS = ("uxNumberOfItems", "pxIndex", "xListEnd")
_ITEM_MEMBERS = ("xItemValue", "pxNext", "pxPrevious", "pvOwner", "pvContainer", "pxContainer")
_QUEUE_MEMBERS = ("pcHead", "pcWriteTo", "u", "xTasksWaitingToSend", "xTasksWaitingToReceive", "uxMessagesWaiting",
                  "uxLength", "uxItemSize", "ucQueueType", "uxQueueNumber")
_TIMER_MEMBERS = ("pcTimerName", "xTimerListItem", "xTimerPeriodInTicks", "pvTimerID", "pxCallbackFunction",
                  "ucStatus", "uxAutoReload")


def _struct_of(types: TypeTable, tid: TypeId | None, what: str) -> tuple[StructType, TypeId]:
    s = types.strip(tid)
    t = types[s] if s is not None else None
    if isinstance(t, PointerType):
        return _struct_of(types, t.target, what)
    if isinstance(t, ArrayType):
        return _struct_of(types, t.element, what)
    if not isinstance(t, StructType) or t.size is None or t.declaration:
        raise RtosError(f"the ELF's DWARF does not describe {what}: build the kernel with -g.")
    assert s is not None
    return t, s


def _layout(types: TypeTable, tid: TypeId | None, what: str, members: tuple[str, ...]) -> tuple[Struct, StructType]:
    st, _ = _struct_of(types, tid, what)
    offsets: dict[str, int] = {}
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for m in st.members:
        if m.name in members:
            offsets[m.name] = m.offset
            sizes[m.name] = types.sizeof(m.type) or 0
            r = types.resolved(m.type)
            if isinstance(r, ArrayType) and r.count is not None:
                counts[m.name] = r.count
    return Struct(st.name or what, st.size or 0, offsets, sizes, counts), st


def _member_type(types: TypeTable, st: StructType, name: str) -> TypeId | None:
    for m in st.members:
        if m.name == name:
            return m.type
    return None


def _var(program: Program, name: str) -> Variable | None:
    try:
        v = program.find_variable(name)
    except UserError:
        return None
    return v if v.address is not None else None


def _global(program: Program, key: str, name: str) -> Global | None:
    v = _var(program, name)
    if v is None:
        return None
    count = 1
    t = program.types.resolved(v.type)
    if isinstance(t, ArrayType) and t.count:
        count = t.count
    return Global(key, v.address or 0, v.size or 0, count)


def _require(s: Struct, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if not s.has(n)]
    if missing:
        raise RtosError(f"{what} in this ELF has no {', '.join(missing)}: a FreeRTOS version firmwatch does not know.")


def analyse(program: Program) -> KernelLayout:
    """The kernel's layout in ``program``; raises :class:`RtosError` with the reason when the ELF has
    no FreeRTOS kernel or no DWARF for it."""
    types = program.types
    ready = _global(program, "ready", "pxReadyTasksLists")
    current = _var(program, "pxCurrentTCB") or _var(program, "pxCurrentTCBs")
    if ready is None or current is None:
        raise RtosError(f"{program.elf.path} has no FreeRTOS kernel firmwatch can read (no pxReadyTasksLists / "
                        "pxCurrentTCB with DWARF): link FreeRTOS's tasks.c built with -g.")
    notes: list[str] = []
    tcb, _ = _layout(types, current.type, "the task control block (TCB_t)", _TCB_MEMBERS)
    _require(tcb, ("pxTopOfStack", "xStateListItem", "xEventListItem", "uxPriority", "pxStack", "pcTaskName"), "TCB_t")
    list_, list_st = _layout(types, program.find_variable("pxReadyTasksLists").type, "List_t", _LIST_MEMBERS)
    _require(list_, _LIST_MEMBERS, "List_t")
    mini, _ = _layout(types, _member_type(types, list_st, "xListEnd"), "MiniListItem_t", _ITEM_MEMBERS)
    _require(mini, ("xItemValue", "pxNext", "pxPrevious"), "MiniListItem_t")
    tcb_st, _ = _struct_of(types, current.type, "TCB_t")
    item, _ = _layout(types, _member_type(types, tcb_st, "xStateListItem"), "ListItem_t", _ITEM_MEMBERS)
    _require(item, ("xItemValue", "pxNext", "pxPrevious", "pvOwner"), "ListItem_t")
    if not (item.has("pvContainer") or item.has("pxContainer")):
        raise RtosError("ListItem_t in this ELF names no container: a FreeRTOS version firmwatch does not know.")

    lists = {k: g for k, n in _TASK_LISTS.items() if (g := _global(program, k, n)) is not None}
    for k in ("delayed1", "delayed2", "pending"):
        if k not in lists:
            raise RtosError(f"the kernel's {_TASK_LISTS[k]} is not in the ELF's DWARF: build tasks.c with -g.")
    pointers = {"current": Global("current", current.address or 0, current.size or 0)}
    for k, n in (("delayed", "pxDelayedTaskList"), ("overflow", "pxOverflowDelayedTaskList")):
        g = _global(program, k, n)
        if g is None:
            raise RtosError(f"the kernel's {n} is not in the ELF's DWARF: build tasks.c with -g.")
        pointers[k] = g
    scalars = {k: g for k, names in _SCALARS.items() for n in names if (g := _global(program, k, n)) is not None}
    if "suspended" not in lists:
        notes.append("no suspended list (INCLUDE_vTaskSuspend is 0)")
    if "terminating" not in lists:
        notes.append("no deleted-task list (INCLUDE_vTaskDelete is 0)")
    if not tcb.has("ulRunTimeCounter"):
        notes.append("no run-time statistics (configGENERATE_RUN_TIME_STATS is 0)")
    if not tcb.has("pxEndOfStack"):
        notes.append("stack sizes unknown (configRECORD_STACK_HIGH_ADDRESS is 0): high-water marks only")

    lay = KernelLayout(program.elf.byteorder, tcb.sizes.get("pxStack", 4), program.elf.machine, tcb, list_, item,
                       mini, ready, lists, pointers, scalars, notes=notes)
    reg = _var(program, "xQueueRegistry")
    if reg is not None:
        ri, ri_st = _layout(types, reg.type, "QueueRegistryItem_t", ("pcQueueName", "xHandle"))
        if ri.has("pcQueueName") and ri.has("xHandle"):
            try:
                q, _ = _layout(types, _member_type(types, ri_st, "xHandle"), "Queue_t", _QUEUE_MEMBERS)
            except RtosError:
                q = None  # the handle is an opaque pointer in this unit: no fill levels
            if q is not None and all(q.has(m) for m in ("uxMessagesWaiting", "uxLength", "xTasksWaitingToReceive")):
                lay.queue, lay.registry_item = q, ri
                lay.registry = _global(program, "registry", "xQueueRegistry")
    else:
        notes.append("no queue registry (configQUEUE_REGISTRY_SIZE is 0)")
    t1, t2 = _global(program, "active1", "xActiveTimerList1"), _global(program, "active2", "xActiveTimerList2")
    cur = _global(program, "current", "pxCurrentTimerList")
    ovf = _global(program, "overflow", "pxOverflowTimerList")
    tid = program.find_type("Timer_t") or program.find_type("xTIMER") or program.find_type("struct tmrTimerControl")
    if t1 and t2 and cur and ovf and tid is not None:
        try:
            tm, _ = _layout(types, tid, "Timer_t", _TIMER_MEMBERS)
            if tm.has("xTimerListItem") and tm.has("pcTimerName"):
                lay.timer = tm
                lay.timer_lists = {"active1": t1, "active2": t2}
                lay.timer_pointers = {"current": cur, "overflow": ovf}
        except RtosError:
            pass
    lay.heap = _global(program, "heap", "ucHeap")
    block = program.find_type("BlockLink_t") or program.find_type("struct A_BLOCK_LINK")
    if block is not None:
        try:
            hb, _ = _layout(types, block, "BlockLink_t", ("pxNextFreeBlock", "xBlockSize"))
            if hb.has("pxNextFreeBlock") and hb.has("xBlockSize"):
                lay.heap_block = hb
        except RtosError:
            pass
    return lay


@dataclass(frozen=True, slots=True)
class PortContext:
    """How a port saves a switched-out task's registers on its stack (from pxTopOfStack up)."""

    name: str  # "GCC/ARM_CM3", "GCC/ARM_CM4F", "GCC/RISC-V"
    words: int  # words the software part saves (ARM: before the hardware frame)


def detect_port(program: Program) -> PortContext | None:
    """The kernel port this ELF links, from its symbols; None when firmwatch does not know it (the
    task table still works, only saved-context unwinding does not)."""
    has = program.find_symbol
    if program.elf.machine == "ARM" and has("xPortPendSVHandler") is not None:
        if has("vPortEnableVFP") is not None:
            return PortContext("GCC/ARM_CM4F", 9)  # r4-r11 and EXC_RETURN (+ s16-s31 when it says so)
        return PortContext("GCC/ARM_CM3", 8)  # r4-r11, then the exception frame r0-r3, r12, lr, pc, xPSR
    if program.elf.machine == "RISC-V" and (has("freertos_risc_v_trap_handler") or has("xPortStartFirstTask")):
        return PortContext("GCC/RISC-V", 31)  # mepc, mstatus, x1, x5-x31, critical nesting
    return None
