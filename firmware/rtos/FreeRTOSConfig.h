/*
 * The kernel configuration of the FreeRTOS demo (firmware/rtos): one file for both boards, the
 * board's few differences chosen by the compiler's own target macros.
 *
 * What the host's RTOS view relies on is switched on here the way a firmware engineer debugging a
 * real product would have it: the trace facility (uxTaskGetSystemState, TCB numbers), run-time
 * statistics, the stack's high address in the TCB (the stack size follows from it), the queue
 * registry. None of it is needed to *read* tasks — the view finds the lists and the TCB layout in
 * the ELF's DWARF whatever the configuration; each option only adds a column.
 */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

#include <stdint.h>

#define configUSE_PREEMPTION 1
#define configUSE_IDLE_HOOK 0
#define configUSE_TICK_HOOK 1 /* the streamer's 1 kHz fw_tick() */
#define configTICK_RATE_HZ 1000
#define configMAX_PRIORITIES 6
#define configMINIMAL_STACK_SIZE 192 /* words */
#define configTOTAL_HEAP_SIZE (22 * 1024)
#define configMAX_TASK_NAME_LEN 12
#define configTICK_TYPE_WIDTH_IN_BITS TICK_TYPE_WIDTH_32_BITS
#define configIDLE_SHOULD_YIELD 1
#define configUSE_MUTEXES 1
#define configUSE_COUNTING_SEMAPHORES 1
#define configQUEUE_REGISTRY_SIZE 8
#define configUSE_TRACE_FACILITY 1
#define configRECORD_STACK_HIGH_ADDRESS 1
#define configCHECK_FOR_STACK_OVERFLOW 0
#define configSUPPORT_DYNAMIC_ALLOCATION 1
#define configSUPPORT_STATIC_ALLOCATION 0
#define configUSE_TASK_NOTIFICATIONS 1

#define configUSE_TIMERS 1
#define configTIMER_TASK_PRIORITY 5
#define configTIMER_QUEUE_LENGTH 8
#define configTIMER_TASK_STACK_DEPTH 256

/* run-time statistics from a free-running hardware counter (the board's rtos_runtime_now) */
#define configGENERATE_RUN_TIME_STATS 1
void rtos_runtime_init(void);
uint32_t rtos_runtime_now(void);
#define portCONFIGURE_TIMER_FOR_RUN_TIME_STATS() rtos_runtime_init()
#define portGET_RUN_TIME_COUNTER_VALUE() rtos_runtime_now()

#define INCLUDE_vTaskPrioritySet 1
#define INCLUDE_uxTaskPriorityGet 1
#define INCLUDE_vTaskDelete 1
#define INCLUDE_vTaskSuspend 1
#define INCLUDE_vTaskDelay 1
#define INCLUDE_xTaskDelayUntil 1
#define INCLUDE_uxTaskGetStackHighWaterMark 1
#define INCLUDE_xTaskGetIdleTaskHandle 1
#define INCLUDE_eTaskGetState 1

/* A failed assertion parks the CPU with interrupts off: a debugger sees where. */
#define configASSERT(x)                                                                                               \
    do {                                                                                                               \
        if (!(x)) {                                                                                                    \
            taskDISABLE_INTERRUPTS();                                                                                  \
            for (;;) {                                                                                                 \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

#if defined(__riscv)
/* QEMU virt: the CLINT's mtime runs at 10 MHz, and the RISC-V port counts the tick in mtime units */
#define configCPU_CLOCK_HZ 10000000u
#define configMTIME_BASE_ADDRESS 0x0200BFF8u
#define configMTIMECMP_BASE_ADDRESS 0x02004000u
#define configISR_STACK_SIZE_WORDS 256
#else
/* QEMU mps2-an385: a 25 MHz Cortex-M3 whose NVIC implements 3 priority bits */
#define configCPU_CLOCK_HZ 25000000u
#define configPRIO_BITS 3
#define configKERNEL_INTERRUPT_PRIORITY (7 << (8 - configPRIO_BITS))
#define configMAX_SYSCALL_INTERRUPT_PRIORITY (5 << (8 - configPRIO_BITS))
#endif

#endif
