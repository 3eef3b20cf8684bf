"""Reading a FreeRTOS kernel's tasks, queues and timers out of a memory image.

The reader is a pure function of a :class:`Image` (bytes fetched from the target, all at once
over a halting transport or region by region over the streamer) and the
:class:`~firmwatch.rtos.layout.KernelLayout`. It never trusts what it reads while the CPU runs:

* every list is walked with a bound (its own item count, and :data:`MAX_ITEMS`) and loop
  detection; each item must point back at its list (``pvContainer``) and at the item before it
  (``pxPrevious``), and the count walked must equal the count the list holds;
* each task's TCB must own the list item it was found through, hold a priority below
  configMAX_PRIORITIES, a NUL-terminated name and a stack pointer inside its stack;
* the tasks found in all lists together must be as many as ``uxCurrentNumberOfTasks`` says,
  with no TCB in two state lists.

Any failure raises :class:`Inconsistent` naming it, and the caller reads again (a list changed
under it); a read outside the image raises :class:`Miss` with the region wanted, and the caller
fetches it and reads again. So a record is either read from a consistent image or not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from firmwatch.rtos.layout import Global, KernelLayout

MAX_ITEMS = 256  # no list of a small MCU's kernel holds more; a bigger count is a torn read
STRING_MAX = 32
NOTIFY_WAITING = 1  # taskWAITING_NOTIFICATION

QUEUE_KINDS = {0: "queue", 1: "mutex", 2: "counting semaphore", 3: "binary semaphore", 4: "recursive mutex",
               5: "queue set"}


class Inconsistent(Exception):
    """The image is not one state of the kernel (a list changed while it was read)."""


class Miss(Exception):
    """The reader needs bytes the image does not hold (``more``: other regions it also needs)."""

    def __init__(self, address: int, size: int, more: tuple[tuple[int, int], ...] = ()):
        super().__init__(f"0x{address:x}+{size}")
        self.address = address
        self.size = size
        self.more = more

    @property
    def regions(self) -> list[tuple[int, int]]:
        return [(self.address, self.size), *self.more]


class Image:
    """Bytes fetched from the target: (address, data) chunks; reads outside them raise Miss."""

    def __init__(self, chunks: list[tuple[int, bytes]], byteorder: str, pointer_size: int = 4,
                 constants: Callable[[int, int], bytes | None] | None = None):
        self.chunks = sorted(chunks, key=lambda c: c[0])
        self.byteorder = byteorder
        self.pointer_size = pointer_size
        self.constants = constants  # bytes that never change (flash), e.g. from the ELF file

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.chunks:
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise Miss(address, size)

    def has(self, address: int, size: int) -> bool:
        return any(s <= address and address + size <= s + len(d) for s, d in self.chunks)

    def uint(self, address: int, size: int) -> int:
        return int.from_bytes(self.read(address, size), self.byteorder)

    def ptr(self, address: int) -> int:
        return self.uint(address, self.pointer_size)

    def string(self, address: int, limit: int = STRING_MAX) -> str:
        """A C string: read from the image where it is, else missed as ``limit`` bytes."""
        if address == 0:
            return ""
        for start, data in self.chunks:
            if start <= address < start + len(data):
                raw = data[address - start : address - start + limit]
                if b"\0" in raw or len(raw) == limit:
                    return raw.split(b"\0", 1)[0].decode("latin-1")
        if self.constants is not None:
            raw = self.constants(address, limit)
            if raw is not None:
                return raw.split(b"\0", 1)[0].decode("latin-1")
        raise Miss(address, limit)


@dataclass(frozen=True, slots=True)
class Task:
    """One task as the kernel holds it."""

    tcb: int  # the TCB's address: the task's handle
    name: str
    state: str  # "running", "ready", "blocked", "suspended", "deleted" (as eTaskGetState says)
    list: str  # where it was found: "ready", "delayed", "overflow-delayed", "suspended", "pending-ready", "deleted-waiting"
    priority: int
    base_priority: int | None
    number: int | None  # uxTCBNumber (configUSE_TRACE_FACILITY)
    top_of_stack: int  # the saved stack pointer (stale for the running task)
    stack_base: int  # pxStack: the lowest address of the stack area
    stack_end: int | None  # pxEndOfStack: its highest word (configRECORD_STACK_HIGH_ADDRESS)
    blocked_on: str | None  # "queue 'rx queue' (receive)", "notification", "delay" ...
    wake_tick: int | None  # the tick a delayed task wakes at
    run_time: int | None  # ulRunTimeCounter (configGENERATE_RUN_TIME_STATS)
    mutexes_held: int | None
    waiting_object: int | None = None  # the address of the queue/semaphore it waits on

    @property
    def stack_size(self) -> int | None:
        if self.stack_end is None:
            return None
        return self.stack_end + 4 - self.stack_base


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue, semaphore or mutex from the queue registry."""

    name: str
    handle: int
    kind: str
    waiting: int  # uxMessagesWaiting: items in a queue, the count of a semaphore, 1 for a free mutex
    length: int
    item_size: int
    senders: int  # tasks blocked sending (or giving)
    receivers: int  # tasks blocked receiving (or taking)
    holder: int | None = None  # a mutex's holder TCB


@dataclass(frozen=True, slots=True)
class Timer:
    name: str
    handle: int
    period: int  # ticks
    expiry: int | None  # the tick it fires at next (None: dormant)
    auto_reload: bool | None
    callback: int
    active: bool = True  # in a timer list; False: created (or expired, or stopped) and not running


@dataclass
class KernelState:
    tasks: list[Task]
    queues: list[Queue]
    timers: list[Timer]
    current: int  # pxCurrentTCB
    tick: int | None
    scheduler: str  # "running", "suspended", "not started"
    total_runtime: int | None
    count: int  # uxCurrentNumberOfTasks
    notes: list[str] = field(default_factory=list)

    def by_tcb(self, tcb: int) -> Task | None:
        return next((t for t in self.tasks if t.tcb == tcb), None)


def _container(lay: KernelLayout) -> int:
    return lay.item.off("pvContainer") if lay.item.has("pvContainer") else lay.item.off("pxContainer")


def walk_list(lay: KernelLayout, img: Image, address: int, what: str) -> list[tuple[int, int, int]]:
    """(item address, owner, item value) of every item of the List_t at ``address``, in list order."""
    n = img.uint(address + lay.list_.off("uxNumberOfItems"), lay.list_.sizes["uxNumberOfItems"])
    if n > MAX_ITEMS:
        raise Inconsistent(f"{what} claims {n} items")
    end = address + lay.list_.off("xListEnd")
    nxt, prv, cont = lay.mini.off("pxNext"), lay.mini.off("pxPrevious"), _container(lay)
    inxt, iprv = lay.item.off("pxNext"), lay.item.off("pxPrevious")
    owner, value = lay.item.off("pvOwner"), lay.item.off("xItemValue")
    vsize = lay.item.sizes["xItemValue"]
    out: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    node, prev = img.ptr(end + nxt), end
    while node != end:
        if node == 0 or node in seen or len(out) >= n:
            raise Inconsistent(f"{what} does not lead back to its end within its {n} items")
        seen.add(node)
        if img.ptr(node + iprv) != prev:
            raise Inconsistent(f"{what}: an item's back link disagrees")
        if img.ptr(node + cont) != address:
            raise Inconsistent(f"{what}: an item belongs to another list")
        out.append((node, img.ptr(node + owner), img.uint(node + value, vsize)))
        prev, node = node, img.ptr(node + inxt)
    if img.ptr(end + prv) != prev or len(out) != n:
        raise Inconsistent(f"{what} holds {len(out)} items, not {n}")
    return out


def _scalar(lay: KernelLayout, img: Image, key: str) -> int | None:
    g = lay.scalars.get(key)
    if g is None:
        return None
    return img.uint(g.address, min(g.size // max(g.count, 1), 8))


def kernel_regions(lay: KernelLayout) -> list[tuple[int, int]]:
    """The kernel's own variables every snapshot reads (the caller merges neighbours)."""
    out = [(lay.ready.address, lay.ready.size)]
    groups: list[dict[str, Global]] = [lay.lists, lay.pointers, lay.scalars, lay.timer_lists, lay.timer_pointers]
    for d in groups:
        out += [(g.address, g.size) for g in d.values()]
    if lay.registry is not None:
        out.append((lay.registry.address, lay.registry.size))
    return out


def _list_names(lay: KernelLayout) -> dict[int, str]:
    """Address of every task list -> the name a task in it is listed under."""
    names = {lay.ready.address + p * lay.list_.size: "ready" for p in range(lay.priorities)}
    names[lay.lists["delayed1"].address] = "delayed"
    names[lay.lists["delayed2"].address] = "delayed"
    if "suspended" in lay.lists:
        names[lay.lists["suspended"].address] = "suspended"
    if "terminating" in lay.lists:
        names[lay.lists["terminating"].address] = "deleted-waiting"
    return names


def walk_loosely(lay: KernelLayout, img: Image, address: int, inside: Callable[[int], bool],
                 missing: list[tuple[int, int]]) -> list[int]:
    """Owners found by following a list that may be changing: stops quietly at the first link that
    leaves RAM or loops; a link to memory not fetched yet raises Miss (the caller fetches it)."""
    end = address + lay.list_.off("xListEnd")
    node = img.ptr(end + lay.mini.off("pxNext"))
    owners: list[int] = []
    seen: set[int] = set()
    while node != end and node not in seen and len(owners) < MAX_ITEMS and inside(node):
        seen.add(node)
        try:
            owners.append(img.ptr(node + lay.item.off("pvOwner")))
            node = img.ptr(node + lay.item.off("pxNext"))
        except Miss as m:
            missing.append((m.address, m.size))
            break
    return owners


def read_kernel(lay: KernelLayout, img: Image, coherent: bool = True, candidates: dict[int, None] | None = None,
                inside: Callable[[int], bool] | None = None, dormant: Iterable[int] = (),
                is_function: Callable[[int], bool] | None = None) -> KernelState:
    """The kernel's state in ``img``; raises :class:`Inconsistent` or :class:`Miss`.

    ``coherent``: the image is one instant of the target (read in one halt, or of a stopped CPU):
    every list is walked strictly and all of them must agree. Otherwise (the streamer reads
    region by region while the CPU runs) each TCB must be its own atomic read: a task's record is
    what its TCB said when it was read — its state from the list its state item names — the lists
    only say which TCBs to read (with ``candidates``, the TCBs seen before), and the tasks found must
    be as many as the kernel counts. Owners the lists lead to are added to ``candidates``, which the
    caller keeps between reads: a task that a changing list hid this time was seen another time."""
    tcb = lay.tcb
    state_off, event_off = tcb.off("xStateListItem"), tcb.off("xEventListItem")
    cont = _container(lay)
    current = img.ptr(lay.pointers["current"].address)
    delayed = img.ptr(lay.pointers["delayed"].address)
    overflow = img.ptr(lay.pointers["overflow"].address)
    d1, d2 = lay.lists["delayed1"].address, lay.lists["delayed2"].address
    if {delayed, overflow} != {d1, d2}:
        raise Inconsistent("the delayed-list pointers do not name the two delayed lists")
    list_names = _list_names(lay)
    list_names[overflow] = "overflow-delayed"
    pending_list = lay.lists["pending"].address
    count = _scalar(lay, img, "tasks")
    running = _scalar(lay, img, "running")

    where: dict[int, str] = {}  # tcb -> list name (coherent: from the walks)
    pending: set[int] = set()
    if coherent:
        for addr, name in list_names.items():
            what = f"the {name} list" if name != "ready" else \
                f"the ready list of priority {(addr - lay.ready.address) // lay.list_.size}"
            for item, owner, _ in walk_list(lay, img, addr, what):
                _state_item(where, item, owner, state_off, name)
        for item, owner, _ in walk_list(lay, img, pending_list, "the pending-ready list"):
            if item != owner + event_off:
                raise Inconsistent("the pending-ready list holds an item that is no task's event item")
            pending.add(owner)
        if not pending <= set(where):
            raise Inconsistent("a pending-ready task is in no state list")
        if count is not None and count != len(where):
            raise Inconsistent(f"the lists hold {len(where)} tasks, uxCurrentNumberOfTasks says {count}")
        if current and current not in where and running:
            raise Inconsistent("pxCurrentTCB is in no task list")
        found: list[int] = list(where)
    else:
        ok = inside or (lambda a: a != 0)
        cands: dict[int, None] = candidates if candidates is not None else {}
        missing: list[tuple[int, int]] = []
        for addr in [*list_names, pending_list]:
            for owner in walk_loosely(lay, img, addr, ok, missing):
                if ok(owner):
                    cands.setdefault(owner)
        if current and ok(current):
            cands.setdefault(current)
        missing += [(c, tcb.size) for c in cands if ok(c) and not img.has(c, tcb.size)]
        if missing:
            raise Miss(missing[0][0], missing[0][1], tuple(missing[1:]))
        found = [c for c in cands if ok(c)]

    queues = _read_queues(lay, img)
    waits: dict[int, tuple[Queue, str]] = {}
    for q in queues:
        waits[q.handle + lay.queue.off("xTasksWaitingToReceive")] = (q, "receive")  # type: ignore[union-attr]
        waits[q.handle + lay.queue.off("xTasksWaitingToSend")] = (q, "send")  # type: ignore[union-attr]

    tasks: list[Task] = []
    psize = lay.pointer_size

    def ptr_at(raw: bytes, off: int) -> int:
        return int.from_bytes(raw[off:off + psize], lay.byteorder)

    for t in found:
        raw = img.read(t, tcb.size)
        u = lambda m, raw=raw: int.from_bytes(raw[tcb.off(m):tcb.off(m) + tcb.sizes[m]], lay.byteorder)  # noqa: E731
        owner = ptr_at(raw, state_off + lay.item.off("pvOwner"))
        container = ptr_at(raw, state_off + cont)
        lst = list_names.get(container)
        if not coherent:
            if owner != t or lst is None:
                continue  # not (or no longer) a live task: freed, or being moved right now
            if ptr_at(raw, event_off + cont) == pending_list:
                pending.add(t)
        elif owner != t or lst != where[t]:
            raise Inconsistent("a TCB does not own the state item it was found through")
        name_raw = raw[tcb.off("pcTaskName"):tcb.off("pcTaskName") + tcb.sizes["pcTaskName"]]
        if b"\0" not in name_raw:
            raise Inconsistent("a task name is not terminated")
        name = name_raw.split(b"\0", 1)[0].decode("latin-1")
        prio = u("uxPriority")
        if prio >= lay.priorities:
            raise Inconsistent(f"task '{name}' has priority {prio}")
        if lst == "ready" and prio != (container - lay.ready.address) // lay.list_.size:
            raise Inconsistent(f"task '{name}' is in another priority's ready list")
        base, top = u("pxStack"), u("pxTopOfStack")
        end = u("pxEndOfStack") if tcb.has("pxEndOfStack") else None
        if not base or top < base or (end is not None and not base <= top <= end + 4):
            raise Inconsistent(f"task '{name}' has its stack pointer outside its stack")
        event_container = ptr_at(raw, event_off + cont)
        waiting_note = _notify_waiting(lay, raw)
        blocked_on, obj = _blocked_on(event_container if event_container != pending_list else 0, waits, waiting_note)
        assert lst is not None
        if t == current:
            state = "running"
        elif lst == "ready" or t in pending:
            state = "ready"
        elif lst in ("delayed", "overflow-delayed"):
            state = "blocked"
        elif lst == "suspended":
            state = "blocked" if blocked_on is not None else "suspended"
        else:
            state = "deleted"
        if lst in ("delayed", "overflow-delayed") and blocked_on is None:
            blocked_on = "delay"
        value = int.from_bytes(raw[state_off + lay.item.off("xItemValue"):][:lay.item.sizes["xItemValue"]],
                               lay.byteorder)
        tasks.append(Task(
            t, name, state, "pending-ready" if t in pending else lst, prio,
            u("uxBasePriority") if tcb.has("uxBasePriority") else None,
            u("uxTCBNumber") if tcb.has("uxTCBNumber") else None,
            top, base, end, blocked_on if state == "blocked" else None,
            value if lst in ("delayed", "overflow-delayed") else None,
            u("ulRunTimeCounter") if tcb.has("ulRunTimeCounter") else None,
            u("uxMutexesHeld") if tcb.has("uxMutexesHeld") else None,
            obj if state == "blocked" else None))
    if not coherent and count is not None and count != len(tasks):
        raise Inconsistent(f"found {len(tasks)} tasks, uxCurrentNumberOfTasks says {count}")
    tasks.sort(key=lambda k: (-k.priority, k.number if k.number is not None else k.tcb))
    sched_suspended = _scalar(lay, img, "sched_suspended")
    scheduler = "not started" if not running else ("suspended" if sched_suspended else "running")
    timers = _read_timers(lay, img)
    if is_function is not None:
        timers += _read_dormant(lay, img, dormant, {t.handle for t in timers}, is_function)
    return KernelState(tasks, queues, timers, current, _scalar(lay, img, "tick"), scheduler,
                       _scalar(lay, img, "total_runtime"), count if count is not None else len(tasks))


def _state_item(where: dict[int, str], item: int, owner: int, state_off: int, lst: str) -> None:
    if item != owner + state_off:
        raise Inconsistent(f"the {lst} list holds an item that is no task's state item")
    if owner in where:
        raise Inconsistent("a task is in two state lists")
    where[owner] = lst


def _notify_waiting(lay: KernelLayout, raw: bytes) -> bool:
    if not lay.tcb.has("ucNotifyState"):
        return False
    off, size = lay.tcb.off("ucNotifyState"), lay.tcb.sizes["ucNotifyState"]
    return any(b == NOTIFY_WAITING for b in raw[off:off + size])


def _blocked_on(container: int, waits: dict[int, tuple[Queue, str]], notify: bool) -> tuple[str | None, int | None]:
    if container:
        hit = waits.get(container)
        if hit is not None:
            q, direction = hit
            if q.kind in ("mutex", "recursive mutex") or "semaphore" in q.kind:
                direction = "take" if direction == "receive" else "give"
            return f"{q.kind} '{q.name}' ({direction})", q.handle
        return f"an event list at 0x{container:x}", container
    if notify:
        return "a notification", None
    return None, None


def _read_queues(lay: KernelLayout, img: Image) -> list[Queue]:
    if lay.registry is None or lay.queue is None or lay.registry_item is None:
        return []
    q, ri = lay.queue, lay.registry_item
    out = []
    for i in range(lay.registry.count):
        entry = lay.registry.address + i * ri.size
        name_p, handle = img.ptr(entry + ri.off("pcQueueName")), img.ptr(entry + ri.off("xHandle"))
        if not name_p or not handle:
            continue
        raw = img.read(handle, q.size)
        u = lambda m, raw=raw: int.from_bytes(raw[q.off(m):q.off(m) + q.sizes[m]], lay.byteorder)  # noqa: E731
        waiting, length = u("uxMessagesWaiting"), u("uxLength")
        if waiting > length or length > 1 << 20:
            raise Inconsistent("a registered queue holds more items than its length")
        if q.has("ucQueueType"):
            kind = QUEUE_KINDS.get(u("ucQueueType"), "queue")
        elif q.has("pcHead") and u("pcHead") == 0:
            kind = "mutex"
        else:
            kind = "semaphore" if u("uxItemSize") == 0 else "queue"
        holder = None
        if "mutex" in kind and q.has("u"):
            holder = int.from_bytes(raw[q.off("u"):q.off("u") + lay.pointer_size], lay.byteorder) or None
        senders = img.uint(handle + q.off("xTasksWaitingToSend") + lay.list_.off("uxNumberOfItems"),
                           lay.list_.sizes["uxNumberOfItems"])
        receivers = img.uint(handle + q.off("xTasksWaitingToReceive") + lay.list_.off("uxNumberOfItems"),
                             lay.list_.sizes["uxNumberOfItems"])
        out.append(Queue(img.string(name_p), handle, kind, waiting, length, u("uxItemSize"), senders, receivers, holder))
    return out


def _read_timers(lay: KernelLayout, img: Image) -> list[Timer]:
    tm = lay.timer
    if tm is None:
        return []
    cur = img.ptr(lay.timer_pointers["current"].address)
    ovf = img.ptr(lay.timer_pointers["overflow"].address)
    a1, a2 = lay.timer_lists["active1"].address, lay.timer_lists["active2"].address
    if {cur, ovf} != {a1, a2}:
        raise Inconsistent("the timer-list pointers do not name the two timer lists")
    out = []
    item_off = tm.off("xTimerListItem")
    for lst in (cur, ovf):
        for item, owner, value in walk_list(lay, img, lst, "a software-timer list"):
            if item != owner + item_off:
                raise Inconsistent("a timer list holds an item that is no timer's")
            raw = img.read(owner, tm.size)
            u = lambda m, raw=raw: int.from_bytes(raw[tm.off(m):tm.off(m) + tm.sizes[m]], lay.byteorder)  # noqa: E731
            if tm.has("ucStatus"):
                auto: bool | None = bool(u("ucStatus") & 0x04)
            elif tm.has("uxAutoReload"):
                auto = bool(u("uxAutoReload"))
            else:
                auto = None
            out.append(Timer(img.string(u("pcTimerName")), owner, u("xTimerPeriodInTicks") if tm.has("xTimerPeriodInTicks")
                             else 0, value, auto, u("pxCallbackFunction") if tm.has("pxCallbackFunction") else 0))
    return out


# Timers that are not running are in no list of the kernel's: they are found by their shape in the
# heap. A Timer_t's list item is in no list, and names as its owner nothing (never started: the
# kernel sets the owner when it first inserts the timer) or the timer itself; its callback is a
# function's entry, its period is not zero, its status has only the kernel's three bits; and — with
# heap_2/4/5's block headers — the heap block it is in is allocated and just a timer's size, so a
# deleted timer's bytes left in a free block are not taken for one. Without block headers (heap_1,
# which never frees) only a timer that has run once (its owner set) is recognised.
TMR_ACTIVE = 0x01  # tmrSTATUS_IS_ACTIVE (ucStatus, FreeRTOS >= 10.2)
TMR_STATUS_BITS = 0x07  # active, statically allocated, auto-reload
HEAP_HEADER_OFFSETS = (8, 16)  # sizeof(BlockLink_t) rounded up to portBYTE_ALIGNMENT (8; 16 on RISC-V)


def timer_region(lay: KernelLayout, handle: int) -> tuple[int, int]:
    """The bytes to read for a timer found in the heap: the timer and its block header before it."""
    assert lay.timer is not None
    before = max(HEAP_HEADER_OFFSETS) if lay.heap_block is not None else 0
    return handle - before, lay.timer.size + before


def _dormant_timer(lay: KernelLayout, img: Image, a: int, is_function: Callable[[int], bool]) -> Timer | None:
    """The timer at ``a`` if ``img`` holds one there that is not running; None otherwise."""
    tm = lay.timer
    assert tm is not None
    if not img.has(a, tm.size):
        return None
    raw = img.read(a, tm.size)
    u = lambda m: int.from_bytes(raw[tm.off(m):tm.off(m) + tm.sizes[m]], lay.byteorder)  # noqa: E731
    item = tm.off("xTimerListItem")
    psize = lay.pointer_size
    at = lambda off: int.from_bytes(raw[off:off + psize], lay.byteorder)  # noqa: E731
    owner = at(item + lay.item.off("pvOwner"))
    if owner not in (0, a) or at(item + _container(lay)) or (owner == 0 and lay.heap_block is None):
        return None
    if not tm.has("pxCallbackFunction") or not is_function(u("pxCallbackFunction")):
        return None
    if tm.has("xTimerPeriodInTicks") and u("xTimerPeriodInTicks") == 0:
        return None
    auto: bool | None = None
    if tm.has("ucStatus"):
        status = u("ucStatus")
        if status & ~TMR_STATUS_BITS or status & TMR_ACTIVE:
            return None
        auto = bool(status & 0x04)
    elif tm.has("uxAutoReload"):
        auto = bool(u("uxAutoReload"))
    if lay.heap_block is not None and not _allocated(lay, img, a, tm.size):
        return None  # a deleted timer's bytes, left in a free block
    name_p = u("pcTimerName")
    name = img.string(name_p) if name_p else ""
    return Timer(name, a, u("xTimerPeriodInTicks") if tm.has("xTimerPeriodInTicks") else 0, None, auto,
                 u("pxCallbackFunction"), active=False)


def _allocated(lay: KernelLayout, img: Image, a: int, size: int) -> bool:
    """Whether heap_2/4/5's header before ``a`` marks an allocated block that holds ``size`` bytes."""
    hb = lay.heap_block
    assert hb is not None
    top = 1 << (8 * hb.sizes["xBlockSize"] - 1)  # heapBLOCK_ALLOCATED_BITMASK
    for before in HEAP_HEADER_OFFSETS:
        h = a - before
        if not img.has(h, hb.size):
            continue
        raw = img.read(h, hb.size)
        nxt = int.from_bytes(raw[hb.off("pxNextFreeBlock"):][:hb.sizes["pxNextFreeBlock"]], lay.byteorder)
        n = int.from_bytes(raw[hb.off("xBlockSize"):][:hb.sizes["xBlockSize"]], lay.byteorder)
        if nxt == 0 and n & top and before + size <= (n & ~top) <= before + size + 2 * max(HEAP_HEADER_OFFSETS):
            return True
    return False


def find_dormant_timers(lay: KernelLayout, img: Image, start: int, size: int, exclude: set[int],
                        is_function: Callable[[int], bool]) -> list[Timer]:
    """Every timer in ``img``'s ``size`` bytes from ``start`` (the heap) that is not running."""
    if lay.timer is None or not img.has(start, size):
        return []
    tm = lay.timer
    if not tm.has("pxCallbackFunction"):
        return []
    data = img.read(start, size)
    psize = lay.pointer_size
    callback = tm.off("pxCallbackFunction")
    out = []
    first = -start % psize
    for off in range(first, size - tm.size + 1, psize):
        a = start + off
        # the cheap test first: a function's entry where the callback would be
        if not is_function(int.from_bytes(data[off + callback:off + callback + psize], lay.byteorder)) or a in exclude:
            continue
        t = _dormant_timer(lay, img, a, is_function)
        if t is not None:
            out.append(t)
    return out


def _read_dormant(lay: KernelLayout, img: Image, handles: Iterable[int], active: set[int],
                  is_function: Callable[[int], bool]) -> list[Timer]:
    """The timers found in the heap before that are still there and still not running (one started
    meanwhile is in a list, and read from it)."""
    if lay.timer is None:
        return []
    out = []
    for h in dict.fromkeys(handles):
        if h in active:
            continue
        t = _dormant_timer(lay, img, h, is_function)
        if t is not None:
            out.append(t)
    return out
