/*
 * The FreeRTOS demo's board file for RISC-V rv32imac on QEMU `virt` (port GCC/RISC-V with the
 * RISCV_MTIME_CLINT_no_extensions chip extensions).
 *
 *   Traps: start.S points mtvec at the kernel's freertos_risc_v_trap_handler; the machine timer
 *     is the kernel's tick, and every other interrupt comes here through
 *     freertos_risc_v_application_interrupt_handler (the PLIC: UART0 is source 10).
 *   UART0 (NS16550A): RX by interrupt (masked while the streamer's ring is full, so the bytes wait
 *     in the UART and QEMU holds back the sender); TX drained by the streamer task.
 *   Run-time statistics: mtime (10 MHz) divided by 8.
 *   Critical sections for the streamer core: mstatus.MIE, nestable.
 */
#include <stdint.h>

#include "baremetal_config.h"
#include "firmwatch.h"
#include "rtos_demo.h"

#define REG8(addr) (*(volatile uint8_t *)(addr))
#define REG32(addr) (*(volatile uint32_t *)(addr))
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
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define IER_RDI 0x01u
#define UART_IRQ 10u
#define PLIC_BASE 0x0C000000u
#define PLIC_PRIORITY(irq) REG32(PLIC_BASE + 4u * (irq))
#define PLIC_ENABLE0 REG32(PLIC_BASE + 0x2000u)
#define PLIC_THRESHOLD REG32(PLIC_BASE + 0x200000u)
#define PLIC_CLAIM REG32(PLIC_BASE + 0x200004u)
#define CLINT_MTIME_LO REG32(0x0200BFF8u)

const fw_region_t port_peripherals[] = {
    {0x02000000u, 0x10000u, FW_ACCESS_READ | FW_ACCESS_WRITE},
};
const uint8_t port_nperipherals = 1;

/* ---- the streamer core's critical sections ---- */
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
    if (--crit_depth == 0 && (crit_saved_mstatus & 0x8u))
        __asm__ volatile("csrsi mstatus, 8" ::: "memory");
}

void fw_port_tx_ready(void) {}

/* ---- run-time statistics ---- */
void rtos_runtime_init(void) {}

uint32_t rtos_runtime_now(void)
{
    return CLINT_MTIME_LO >> 3;
}

/* ---- UART ---- */
static volatile uint32_t rx_throttled;

void freertos_risc_v_application_interrupt_handler(uint32_t mcause);
void freertos_risc_v_application_interrupt_handler(uint32_t mcause)
{
    (void)mcause;
    uint32_t irq = PLIC_CLAIM;
    if (irq == UART_IRQ) {
        while ((UART_LSR & LSR_DR) && fw_rx_free())
            fw_rx_byte(UART_RBR);
        if (UART_LSR & LSR_DR) {
            UART_IER &= (uint8_t)~IER_RDI; /* level-triggered: mask until there is room */
            rx_throttled = 1;
        }
    }
    if (irq)
        PLIC_CLAIM = irq;
    rtos_stream_wake_from_isr();
}

void board_uart_service(void)
{
    if (rx_throttled && fw_rx_free()) {
        fw_port_critical_enter();
        rx_throttled = 0;
        UART_IER |= IER_RDI;
        fw_port_critical_exit();
    }
    while (UART_LSR & LSR_THRE) {
        int b = fw_tx_byte();
        if (b < 0)
            return;
        UART_THR = (uint8_t)b;
    }
}

void board_init(void)
{
    UART_LCR = 0x80;
    UART_DLL = 1;
    UART_DLM = 0;
    UART_LCR = 0x03;
    UART_FCR = 0x07;
    UART_MCR = 0x08;
    UART_IER = IER_RDI;
    PLIC_PRIORITY(UART_IRQ) = 1;
    PLIC_THRESHOLD = 0;
    PLIC_ENABLE0 = 1u << UART_IRQ;
    /* the kernel enables mie.MTIE and mie.MEIE when it starts the scheduler */
}
