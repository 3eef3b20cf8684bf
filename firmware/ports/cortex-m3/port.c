/*
 * firmwatch on ARM Cortex-M3, QEMU `mps2-an385`.
 *
 *   UART0 (CMSDK APB UART at 0x40004000): RX interrupt feeds fw_rx_byte(); TX is drained from
 *     the main loop with fw_tx_byte() while the UART accepts bytes, so output never blocks the
 *     application (the core drops and counts what does not fit its ring).  When the core's RX
 *     ring is full the byte stays in the UART (RXFULL), which holds back the sender: under
 *     QEMU input is never lost, however fast the host writes.
 *   SysTick at FW_TICK_HZ from the 25 MHz core clock: demo_tick_1khz() + fw_tick().  The
 *     handler measures the time since its last run on the free-running CMSDK TIMER0 and runs
 *     one tick per period that really elapsed: an interrupt served late (a busy emulator
 *     host, a long critical section) delays ticks but never loses them, so the long-run rate
 *     is exactly FW_TICK_HZ, as on the RISC-V port's mtimecmp.
 *   Critical sections: PRIMASK (cpsid i), nestable.
 *   Idle: WFI when nothing is pending, so an emulator does not burn a host core.
 */
#include <stdint.h>

#include "demo.h"
#include "baremetal_config.h"
#include "firmwatch.h"

#define CPU_HZ 25000000u

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART */
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
#define UART0_RX_IRQ 0u

/* CMSDK APB timer 0: free-running down-counter at the core clock */
#define TIMER0_CTRL REG(0x40000000u)
#define TIMER0_VALUE REG(0x40000004u)
#define TIMER0_RELOAD REG(0x40000008u)

/* CMSDK APB timer 1: the capture timer (IRQ 9), at the core clock */
#define TIMER1_CTRL REG(0x40001000u)
#define TIMER1_VALUE REG(0x40001004u)
#define TIMER1_RELOAD REG(0x40001008u)
#define TIMER1_INTCLEAR REG(0x4000100Cu)
#define TIMER1_IRQ 9u
#define TIMER_CTRL_EN (1u << 0)
#define TIMER_CTRL_IRQ_EN (1u << 3)

/* SysTick and NVIC */
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICER0 REG(0xE000E180u)

/* The CMSDK APB peripherals (timers, dual timer, UARTs) and the System Control Space (SysTick,
 * NVIC, SCB): the host's peripheral view (SVD) reads and writes their registers. */
const fw_region_t port_peripherals[] = {
    {0x40000000u, 0x10000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
    {0xE000E000u, 0x1000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
};
const uint8_t port_nperipherals = 2;

/* ---- linker-script symbols ---- */

/* ---- critical section (nestable: only the outermost exit re-enables) ---- */
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

/* The main loop drains TX on every pass; waking it is all a kick has to do, and any
 * interrupt (the one that produced the output included) already does. */
void fw_port_tx_ready(void) {}

/* ---- interrupts ---- */
static volatile uint32_t rx_pending;
static volatile uint32_t rx_throttled; /* a byte waits in UART_DATA for room in the core */

#define TICK_CYCLES (CPU_HZ / FW_TICK_HZ)
static uint32_t tick_last_count;
static uint32_t tick_acc = TICK_CYCLES / 2; /* half a period of phase: jitter never rounds to 0 or 2 */

void systick_handler(void)
{
    uint32_t now = TIMER0_VALUE;
    tick_acc += tick_last_count - now; /* a down-counter: elapsed cycles, modulo 2^32 */
    tick_last_count = now;
    while (tick_acc >= TICK_CYCLES) {
        tick_acc -= TICK_CYCLES;
        demo_tick_1khz(); /* first, so this tick's samples see this tick's values */
        fw_tick();
    }
}

#if FW_CAPTURE
/* Triggered capture (docs/protocol.md section 16): a 32 KB buffer, and TIMER1 as the capture
 * timer at the 25 MHz core clock — an interrupt every `divider` cycles, each one a sample. The
 * handler measures the time since its last run on TIMER0: an interrupt served late (a long
 * critical section, a busy emulator host) means samples never taken, which the capture reports
 * (fw_capture_slip) instead of pretending its spacing is even. */
#ifndef PORT_CAPTURE_BYTES
#define PORT_CAPTURE_BYTES 32768u
#endif
static uint8_t capture_ram[PORT_CAPTURE_BYTES];
static uint32_t capture_period, capture_last;

static void capture_timer(uint32_t divider)
{
    TIMER1_CTRL = 0;
    TIMER1_INTCLEAR = 1u;
    if (divider == 0) {
        NVIC_ICER0 = 1u << TIMER1_IRQ;
        return;
    }
    capture_period = divider;
    TIMER1_RELOAD = divider - 1u; /* the counter runs reload..0: `divider` cycles a period */
    TIMER1_VALUE = divider - 1u;
    capture_last = TIMER0_VALUE;
    NVIC_ISER0 = 1u << TIMER1_IRQ;
    TIMER1_CTRL = TIMER_CTRL_EN | TIMER_CTRL_IRQ_EN;
}

static const fw_capture_config_t capture_config = {capture_ram, sizeof capture_ram, CPU_HZ, 0, capture_timer};

void capture_timer_handler(void)
{
    /* the periods since the last boundary served (TIMER0 counts down); the schedule advances by
     * whole periods, so an interrupt a little longer than its period, whose every gap rounds to
     * one period, still shows the interrupts it lost */
    uint32_t periods = (capture_last - TIMER0_VALUE) / capture_period;
    capture_last -= periods * capture_period;
    TIMER1_INTCLEAR = 1u;
    if (periods > 1u)
        fw_capture_slip(periods - 1u);
    fw_capture_timer();
}
#else
void capture_timer_handler(void) {}
#endif

void uart0_rx_handler(void)
{
    UART_INTCLEAR = UART_INT_RX;
    while (UART_STATE & UART_STATE_RXFULL) {
        if (!fw_rx_free()) {
            rx_throttled = 1; /* the main loop takes it once fw_poll() made room */
            break;
        }
        fw_rx_byte((uint8_t)UART_DATA);
    }
    rx_pending = 1;
}

/* Take the byte the interrupt had to leave in the UART.  Reading DATA lets the next byte in,
 * and that one raises the interrupt again. */
static void uart_rx_unthrottle(void)
{
    if (!rx_throttled || !fw_rx_free())
        return;
    fw_port_critical_enter();
    rx_throttled = 0;
    if (UART_STATE & UART_STATE_RXFULL)
        fw_rx_byte((uint8_t)UART_DATA);
    fw_port_critical_exit();
}


static void uart_drain_tx(void)
{
    while (!(UART_STATE & UART_STATE_TXFULL)) {
        int b = fw_tx_byte();
        if (b < 0)
            return;
        UART_DATA = (uint32_t)b;
    }
}

int main(void)
{
    UART_BAUDDIV = 16; /* the smallest divider the CMSDK UART accepts; QEMU has no baud limit */
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INT_EN;

    fw_init(baremetal_config());
#if FW_CAPTURE
    fw_capture_init(&capture_config);
#endif
    demo_init();

    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u; /* enable, no interrupt */
    tick_last_count = TIMER0_VALUE;
    SYST_RVR = TICK_CYCLES - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* core clock, interrupt, enable */

    for (;;) {
        fw_poll();
        uart_rx_unthrottle();
        uart_drain_tx();
        demo_loop();

        /* Sleep until the next interrupt unless input arrived since fw_poll() looked.  WFI
         * wakes on a pending interrupt even with PRIMASK set, so nothing is missed.  Not while
         * the capture timer runs: QEMU (7.2) wakes a WFI late for TIMER1's interrupt, and a
         * capture would lose every other sample. */
        __asm__ volatile("cpsid i" ::: "memory");
        if (!rx_pending && !rx_throttled && !(TIMER1_CTRL & TIMER_CTRL_EN))
            __asm__ volatile("wfi");
        rx_pending = 0;
        __asm__ volatile("cpsie i" ::: "memory");
    }
}
