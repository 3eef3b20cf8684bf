/*
 * Cortex-M3 startup: vector table and reset handler (copy .data, zero .bss, run main).
 * Written in C so the port needs nothing but the compiler.
 */
#include <stdint.h>

extern uint32_t __stack_top;
extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end;

int main(void);
void reset_handler(void);
void default_handler(void);
void systick_handler(void);
void uart0_rx_handler(void);
/* Weak: images without port.c (tests that link startup.c alone) still link; port.c's
 * handler replaces it. */
void capture_timer_handler(void) __attribute__((weak, alias("default_handler")));

/* Faults and unused interrupts park here; a debugger attached over QEMU's gdb stub shows
 * where (the loop keeps the exception frame intact). */
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

/* 16 system exceptions, then the external interrupts of mps2-an385 up to TIMER1 (IRQ 9). */
__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 10] = {
    (vector_t)(uintptr_t)&__stack_top,
    reset_handler,
    default_handler, /* NMI */
    default_handler, /* HardFault */
    default_handler, /* MemManage */
    default_handler, /* BusFault */
    default_handler, /* UsageFault */
    0, 0, 0, 0,
    default_handler, /* SVCall */
    default_handler, /* DebugMonitor */
    0,
    default_handler, /* PendSV */
    systick_handler,
    uart0_rx_handler, /* IRQ 0: UART0 RX */
    default_handler, default_handler, default_handler, default_handler, /* IRQ 1-4 */
    default_handler, default_handler, default_handler, default_handler, /* IRQ 5-8 */
    capture_timer_handler, /* IRQ 9: TIMER1, the capture timer */
};
