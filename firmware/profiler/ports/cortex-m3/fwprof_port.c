/*
 * The profiler on Cortex-M3 (QEMU mps2-an385): microseconds from CMSDK TIMER1.
 *
 * TIMER1 counts down from 2^32 - 1 at the 25 MHz core clock; fwp_port_now() turns the cycles
 * elapsed since its last call into microseconds, carrying the remainder, so the clock never
 * drifts. It must run at least once per 171 s (2^32 cycles): the hooks call it on every
 * instrumented call while profiling, and fwp_start() right after a pause.
 */
#include <stdint.h>

#include "fwprof.h"

#define CPU_HZ 25000000u
#define CYCLES_PER_US (CPU_HZ / 1000000u)
#define REG(addr) (*(volatile uint32_t *)(addr))
#define TIMER1_CTRL REG(0x40001000u)
#define TIMER1_VALUE REG(0x40001004u)
#define TIMER1_RELOAD REG(0x40001008u)

#ifndef FWP_CLOCK_START /* tests start the clock just before its 32-bit wrap */
#define FWP_CLOCK_START 0u
#endif

extern const uint8_t fwp_text_start[], fwp_text_end[]; /* --defsym, see the Makefile */

static uint32_t last_raw, us = FWP_CLOCK_START, frac;

uint32_t __attribute__((no_instrument_function)) fwp_port_now(void)
{
    uint32_t raw = TIMER1_VALUE;
    frac += last_raw - raw; /* a down-counter: elapsed cycles, modulo 2^32 */
    last_raw = raw;
    us += frac / CYCLES_PER_US;
    frac %= CYCLES_PER_US;
    return us;
}

static const fwp_config_t config = {
    CPU_HZ, 1000000u, "demo cortex-m3", fwp_text_start, fwp_text_end, 0,
};

void __attribute__((no_instrument_function)) fwprof_board_init(void)
{
    TIMER1_RELOAD = 0xFFFFFFFFu;
    TIMER1_VALUE = 0xFFFFFFFFu;
    TIMER1_CTRL = 1u; /* enable, no interrupt */
    last_raw = TIMER1_VALUE;
    fwp_init(&config);
}
