/*
 * The FreeRTOS demo: eight tasks of different priorities on the unmodified kernel, the firmwatch
 * streamer linked in as one of them. Board files (ports/<board>/board.c) provide the UART, the
 * run-time statistics counter and the interrupt plumbing.
 */
#ifndef RTOS_DEMO_H
#define RTOS_DEMO_H

#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

/* What a user (or a test) drives and watches. */
struct rtos_demo {
    volatile uint32_t stack_depth; /* recursion depth of the "depth" task: write it to use more stack */
    volatile uint32_t churn;       /* nonzero: "producer" spawns a short-lived task every 2 ms */
    volatile uint32_t produced;    /* items "producer" put on the queue */
    volatile uint32_t consumed;    /* items "consumer" took off it */
    volatile uint32_t depth_runs;  /* passes of the "depth" task */
    volatile uint32_t deepest;     /* the deepest recursion the "depth" task reached */
    volatile uint32_t spawned;     /* short-lived tasks created (churn) */
    volatile uint32_t timer_fires; /* the "blink" software timer's callbacks */
    volatile uint32_t oneshot_start; /* write a new value: "report" starts the "oneshot" timer (200 ms, one shot) */
    volatile uint32_t oneshot_fires; /* its callbacks; between them it is created and not running */
};
extern struct rtos_demo rtos_demo;

/* The kernel's own account of its tasks, for checking a debugger against: write request a new
 * value, wait for done to equal it, then read count entries of tasks (uxTaskGetSystemState). */
#define RTOS_REPORT_MAX 12
struct rtos_report {
    volatile uint32_t request;
    volatile uint32_t done;
    uint32_t count;
    uint32_t total_runtime;
    uint32_t tick;
    TaskStatus_t tasks[RTOS_REPORT_MAX];
};
extern struct rtos_report rtos_report;

/* ---- board interface ---- */
void board_init(void);          /* UART and interrupts, before the scheduler starts */
void board_uart_service(void);  /* the streamer task's turn: take throttled input, drain output */
void rtos_stream_wake_from_isr(void); /* the UART received bytes */

#endif
