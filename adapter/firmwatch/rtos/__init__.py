"""RTOS awareness (issue 15): FreeRTOS tasks, queues and timers read from a running target through
the ELF's DWARF and plain memory reads, and each task's call stack when the CPU stops.

``layout`` finds the kernel's variables and structure layouts in the DWARF; ``freertos`` reads
them from a memory image and checks it is one state of the kernel; ``monitor`` plans and fetches
the image (one halt on halting transports) and adds stack high-water and CPU figures;
``context`` and ``unwind`` give a switched-out task's registers and call stack.
"""

from firmwatch.rtos.layout import RtosError
from firmwatch.rtos.monitor import RtosMonitor, RtosSnapshot, TaskRow

__all__ = ["RtosError", "RtosMonitor", "RtosSnapshot", "TaskRow"]
