/*
 * The FreeRTOS demo's board file for ARM Cortex-M3 on QEMU `mps2-an385` (port GCC/ARM_CM3).
 *
 *   Vectors: SVC, PendSV and SysTick go to the kernel's port; UART0 RX (IRQ 0) feeds the
 *     streamer and wakes its task. Its NVIC priority is below configMAX_SYSCALL_INTERRUPT_PRIORITY
 *     so it may call the kernel's FromISR API.
 *   UART0 (CMSDK APB UART): RX by interrupt, holding the byte in the UART while the streamer's
 *     ring is full (QEMU then holds back the sender); TX drained by the streamer task.
 *   Run-time statistics: the free-running CMSDK TIMER0 (25 MHz, counting down), divided by 16.
 *   Critical sections for the streamer core: PRIMASK, nestable (they also cover the kernel's
 *     BASEPRI-masked interrupts).
 */
#include <stdint.h>

#include "baremetal_config.h"
#include "firmwatch.h"
#include "rtos_demo.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART0_BASE 0x40004000u
#define UART_DATA REG(UART0_BASE + 0x00)
#define UART_STATE REG(UART0_BASE + 0x04)
#define UART_CTRL REG(UART0_BASE + 0x08)
#define UART_INTCLEAR REG(UART0_BASE + 0x0C)
#define UART_BAUDDIV REG(UART0_BASE + 0x10)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_TX_EN (1u << 0)
#define UART_CTRL_RX_EN (1u << 1)
#define UART_CTRL_RX_INT_EN (1u << 3)
#define UART_INT_RX (1u << 1)
#define TIMER0_CTRL REG(0x40000000u)
#define TIMER0_VALUE REG(0x40000004u)
#define TIMER0_RELOAD REG(0x40000008u)
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_IPR0 REG(0xE000E400u)

const fw_region_t port_peripherals[] = {
    {0x40000000u, 0x10000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
    {0xE000E000u, 0x1000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
};
const uint8_t port_nperipherals = 2;

/* ---- the streamer core's critical sections ---- */
static uint32_t crit_saved_primask;
static uint32_t crit_depth;

void fw_port_critical_enter(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    if (crit_depth++ == 0)
        crit_saved_primask = primask;
}

void fw_port_critical_exit(void)
{
    if (--crit_depth == 0 && !(crit_saved_primask & 1u))
        __asm__ volatile("cpsie i" ::: "memory");
}

/* The streamer task wakes at least every tick and drains the output then. */
void fw_port_tx_ready(void) {}

/* ---- run-time statistics ---- */
void rtos_runtime_init(void)
{
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;
}

uint32_t rtos_runtime_now(void)
{
    return (0xFFFFFFFFu - TIMER0_VALUE) >> 4;
}

/* ---- UART ---- */
static volatile uint32_t rx_throttled;

void uart0_rx_handler(void)
{
    UART_INTCLEAR = UART_INT_RX;
    while (UART_STATE & UART_STATE_RXFULL) {
        if (!fw_rx_free()) {
            rx_throttled = 1;
            break;
        }
        fw_rx_byte((uint8_t)UART_DATA);
    }
    rtos_stream_wake_from_isr();
}

void board_uart_service(void)
{
    if (rx_throttled && fw_rx_free()) {
        fw_port_critical_enter();
        rx_throttled = 0;
        if (UART_STATE & UART_STATE_RXFULL)
            fw_rx_byte((uint8_t)UART_DATA);
        fw_port_critical_exit();
    }
    while (!(UART_STATE & UART_STATE_TXFULL)) {
        int b = fw_tx_byte();
        if (b < 0)
            return;
        UART_DATA = (uint32_t)b;
    }
}

void board_init(void)
{
    UART_BAUDDIV = 16;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INT_EN;
    NVIC_IPR0 = (NVIC_IPR0 & ~0xFFu) | (6u << (8 - configPRIO_BITS)); /* IRQ 0, below the syscall mask */
    NVIC_ISER0 = 1u << 0;
}

/* ---- startup ---- */
extern uint32_t __stack_top;
extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end;
int main(void);
void reset_handler(void);
void default_handler(void);
void vPortSVCHandler(void);
void xPortPendSVHandler(void);
void xPortSysTickHandler(void);

void default_handler(void)
{
    for (;;) {
    }
}

void reset_handler(void)
{
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;)
        *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    main();
    for (;;) {
    }
}

typedef void (*vector_t)(void);
__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 1] = {
    (vector_t)(uintptr_t)&__stack_top,
    reset_handler,
    default_handler, /* NMI */
    default_handler, /* HardFault */
    default_handler, /* MemManage */
    default_handler, /* BusFault */
    default_handler, /* UsageFault */
    0, 0, 0, 0,
    vPortSVCHandler,
    default_handler, /* DebugMonitor */
    0,
    xPortPendSVHandler,
    xPortSysTickHandler,
    uart0_rx_handler, /* IRQ 0: UART0 RX */
};
