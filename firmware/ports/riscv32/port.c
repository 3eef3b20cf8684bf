/*
 * firmwatch on RISC-V rv32imac, QEMU `virt`.
 *
 *   UART0 (NS16550A at 0x10000000, PLIC source 10): the RX interrupt feeds fw_rx_byte() while
 *     the core has room, else it masks itself and the bytes stay in the UART FIFO, holding
 *     back the sender (under QEMU input is never lost); the
 *     THR-empty interrupt refills the 16-byte TX FIFO from fw_tx_byte() and switches itself off
 *     when the core has nothing to send; fw_port_tx_ready() switches it back on.  Output never
 *     waits for the main loop, and never blocks the application.
 *   CLINT machine timer (10 MHz mtime) at FW_TICK_HZ: demo_tick_1khz() + fw_tick().  mtimecmp
 *     advances by a fixed step, so the long-run rate is exact even when a tick is served late.
 *   Critical sections: mstatus.MIE, nestable.
 *   Idle: WFI when nothing is pending.
 */
#include <stdint.h>

#include "demo.h"
#include "baremetal_config.h"
#include "firmwatch.h"

#define MTIME_HZ 10000000u

#define REG8(addr) (*(volatile uint8_t *)(addr))
#define REG32(addr) (*(volatile uint32_t *)(addr))

/* NS16550A */
#define UART_BASE 0x10000000u
#define UART_RBR REG8(UART_BASE + 0)
#define UART_THR REG8(UART_BASE + 0)
#define UART_DLL REG8(UART_BASE + 0)
#define UART_IER REG8(UART_BASE + 1)
#define UART_DLM REG8(UART_BASE + 1)
#define UART_FCR REG8(UART_BASE + 2)
#define UART_LCR REG8(UART_BASE + 3)
#define UART_MCR REG8(UART_BASE + 4)
#define UART_LSR REG8(UART_BASE + 5)
#define UART_IIR REG8(UART_BASE + 2)
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define IER_RDI 0x01u  /* received data available */
#define IER_THRI 0x02u /* transmit holding register empty */
#define UART_FIFO_DEPTH 16
#define UART_IRQ 10u

/* PLIC, hart 0 machine-mode context */
#define PLIC_BASE 0x0C000000u
#define PLIC_PRIORITY(irq) REG32(PLIC_BASE + 4u * (irq))
#define PLIC_ENABLE0 REG32(PLIC_BASE + 0x2000u)
#define PLIC_THRESHOLD REG32(PLIC_BASE + 0x200000u)
#define PLIC_CLAIM REG32(PLIC_BASE + 0x200004u)

/* CLINT */
#define CLINT_MTIMECMP_LO REG32(0x02004000u)
#define CLINT_MTIMECMP_HI REG32(0x02004004u)
#define CLINT_MTIME_LO REG32(0x0200BFF8u)
#define CLINT_MTIME_HI REG32(0x0200BFFCu)

/* The CLINT: the host's peripheral view (SVD) reads mtime and mtimecmp as whole words. */
const fw_region_t port_peripherals[] = {
    {0x02000000u, 0x10000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
};
const uint8_t port_nperipherals = 1;

#define MSTATUS_MIE 0x8u
#define MIE_MTIE (1u << 7)
#define MIE_MEIE (1u << 11)
#define MCAUSE_INTERRUPT 0x80000000u
#define IRQ_M_TIMER 7u
#define IRQ_M_EXT 11u

/* ---- linker-script symbols ---- */

/* ---- critical section (nestable: only the outermost exit re-enables) ---- */
static uint32_t crit_saved_mstatus;
static uint32_t crit_depth;

void fw_port_critical_enter(void)
{
    uint32_t mstatus;
    __asm__ volatile("csrrci %0, mstatus, 8" : "=r"(mstatus)::"memory");
    if (crit_depth++ == 0)
        crit_saved_mstatus = mstatus;
}

void fw_port_critical_exit(void)
{
    if (--crit_depth == 0 && (crit_saved_mstatus & MSTATUS_MIE))
        __asm__ volatile("csrsi mstatus, 8" ::: "memory");
}

static void uart_fill_tx(void);

/* Output is pending: let the THR-empty interrupt pull it.  The 16550 raises that interrupt as
 * soon as it is enabled with an empty FIFO, so this is all the kick there is. */
void fw_port_tx_ready(void)
{
    fw_port_critical_enter();
    UART_IER |= IER_THRI;
    fw_port_critical_exit();
}

/* ---- timer ---- */
static uint64_t next_tick;

static uint64_t mtime_read(void)
{
    uint32_t hi, lo;
    do {
        hi = CLINT_MTIME_HI;
        lo = CLINT_MTIME_LO;
    } while (hi != CLINT_MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}

static void mtimecmp_write(uint64_t when)
{
    /* Raise the high word first so no intermediate value fires a spurious interrupt. */
    CLINT_MTIMECMP_HI = 0xFFFFFFFFu;
    CLINT_MTIMECMP_LO = (uint32_t)when;
    CLINT_MTIMECMP_HI = (uint32_t)(when >> 32);
}

/* ---- the capture timer (docs/protocol.md section 16) ----
 * The machine timer serves both clocks: the 1 kHz tick and, while a capture runs on it, the
 * capture's sample clock (every `divider` mtime counts at 10 MHz). mtimecmp is set to whichever
 * comes first. A sample served a whole period late or more means samples never taken: the
 * capture is told (fw_capture_slip) and reports it. */
#if FW_CAPTURE
#ifndef PORT_CAPTURE_BYTES
#define PORT_CAPTURE_BYTES 32768u
#endif
static uint8_t capture_ram[PORT_CAPTURE_BYTES];
static uint64_t next_capture;
static uint32_t capture_divider; /* 0: no capture on the timer */
#endif

static void timer_program(void)
{
    uint64_t when = next_tick;
#if FW_CAPTURE
    if (capture_divider && next_capture < when)
        when = next_capture;
#endif
    mtimecmp_write(when);
}

#if FW_CAPTURE
static void capture_timer(uint32_t divider)
{
    fw_port_critical_enter();
    capture_divider = divider;
    next_capture = mtime_read() + divider;
    timer_program();
    fw_port_critical_exit();
}

static const fw_capture_config_t capture_config = {capture_ram, sizeof capture_ram, MTIME_HZ, 0, capture_timer};

static void capture_due(uint64_t now)
{
    uint64_t late;
    uint32_t missed;
    if (!capture_divider || now < next_capture)
        return;
    late = now - next_capture;
    missed = late >= capture_divider ? (uint32_t)(late / capture_divider) : 0u;
    next_capture += (uint64_t)(missed + 1u) * capture_divider;
    if (missed)
        fw_capture_slip(missed);
    fw_capture_timer(); /* may stop the timer (capture_divider = 0) */
}
#endif

/* ---- interrupts ---- */
static volatile uint32_t rx_pending;
static volatile uint32_t rx_throttled; /* RX interrupt masked until the core has room */

void trap_handler(void) __attribute__((interrupt("machine"), aligned(4)));
void trap_handler(void)
{
    uint32_t mcause;
    __asm__ volatile("csrr %0, mcause" : "=r"(mcause));
    if (mcause == (MCAUSE_INTERRUPT | IRQ_M_TIMER)) {
        uint64_t now = mtime_read();
#if FW_CAPTURE
        capture_due(now);
#endif
        if (now >= next_tick) {
            next_tick += MTIME_HZ / FW_TICK_HZ;
            demo_tick_1khz(); /* first, so this tick's samples see this tick's values */
            fw_tick();
        }
        timer_program();
    } else if (mcause == (MCAUSE_INTERRUPT | IRQ_M_EXT)) {
        uint32_t irq = PLIC_CLAIM;
        if (irq == UART_IRQ) {
            if (UART_LSR & LSR_DR) {
                while ((UART_LSR & LSR_DR) && fw_rx_free())
                    fw_rx_byte(UART_RBR);
                if (UART_LSR & LSR_DR) {
                    UART_IER &= (uint8_t)~IER_RDI; /* level-triggered: mask until there is room */
                    rx_throttled = 1;
                }
                rx_pending = 1;
            }
            (void)UART_IIR; /* reading IIR acknowledges a THR-empty interrupt */
            if (UART_LSR & LSR_THRE)
                uart_fill_tx();
        }
        if (irq)
            PLIC_CLAIM = irq;
    } else {
        /* A synchronous exception is a firmware bug: park here for the debugger. */
        for (;;) {
        }
    }
}

/* fw_poll() made room: let the (level-triggered) RX interrupt take the waiting bytes. */
static void uart_rx_unthrottle(void)
{
    if (!rx_throttled || !fw_rx_free())
        return;
    fw_port_critical_enter();
    rx_throttled = 0;
    UART_IER |= IER_RDI;
    fw_port_critical_exit();
}


/* The only consumer of the core's TX ring: called from the UART interrupt with THR empty. */
static void uart_fill_tx(void)
{
    for (int i = 0; i < UART_FIFO_DEPTH; i++) {
        int b = fw_tx_byte();
        if (b < 0) {
            UART_IER &= (uint8_t)~IER_THRI; /* nothing left: stop the THR-empty interrupt */
            return;
        }
        UART_THR = (uint8_t)b;
    }
}

int main(void)
{
    UART_LCR = 0x80; /* divisor latch: QEMU has no baud limit, the divisor is for real parts */
    UART_DLL = 1;
    UART_DLM = 0;
    UART_LCR = 0x03; /* 8N1 */
    UART_FCR = 0x07; /* FIFOs on and cleared */
    UART_MCR = 0x08; /* OUT2 gates the interrupt line on PC-style wiring */
    UART_IER = IER_RDI;

    fw_init(baremetal_config());
#if FW_CAPTURE
    fw_capture_init(&capture_config);
#endif
    demo_init();

    PLIC_PRIORITY(UART_IRQ) = 1;
    PLIC_THRESHOLD = 0;
    PLIC_ENABLE0 = 1u << UART_IRQ;

    next_tick = mtime_read() + MTIME_HZ / FW_TICK_HZ;
    mtimecmp_write(next_tick);
    __asm__ volatile("csrs mie, %0" ::"r"(MIE_MTIE | MIE_MEIE));
    __asm__ volatile("csrsi mstatus, 8" ::: "memory");

    for (;;) {
        fw_poll();
        uart_rx_unthrottle();
        demo_loop();

        /* WFI wakes on a pending enabled interrupt even with mstatus.MIE clear, so input that
         * arrived after fw_poll() looked is never left waiting for the next tick. */
        __asm__ volatile("csrci mstatus, 8" ::: "memory");
        if (!rx_pending && !rx_throttled)
            __asm__ volatile("wfi");
        rx_pending = 0;
        __asm__ volatile("csrsi mstatus, 8" ::: "memory");
    }
}
