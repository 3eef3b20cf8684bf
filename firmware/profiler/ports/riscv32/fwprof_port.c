/*
 * The profiler on RISC-V (QEMU virt): microseconds from the CLINT's 10 MHz mtime.
 *
 * fwp_port_now() turns the mtime ticks elapsed since its last call into microseconds, carrying
 * the remainder; only the low word of mtime is read (one load, no torn 64-bit read), so it must
 * run at least once per 429 s: the hooks call it on every instrumented call while profiling.
 * QEMU's virt board has no CPU clock to report: METADATA says 0 Hz (unknown).
 */
#include <stdint.h>

#include "fwprof.h"

#define MTIME_HZ 10000000u
#define TICKS_PER_US (MTIME_HZ / 1000000u)
#define CLINT_MTIME_LO (*(volatile uint32_t *)0x0200BFF8u)

#ifndef FWP_CLOCK_START
#define FWP_CLOCK_START 0u
#endif

extern const uint8_t fwp_text_start[], fwp_text_end[];

static uint32_t last_raw, us = FWP_CLOCK_START, frac;

uint32_t __attribute__((no_instrument_function)) fwp_port_now(void)
{
    uint32_t raw = CLINT_MTIME_LO;
    frac += raw - last_raw;
    last_raw = raw;
    us += frac / TICKS_PER_US;
    frac %= TICKS_PER_US;
    return us;
}

static const fwp_config_t config = {
    0u, 1000000u, "demo riscv32", fwp_text_start, fwp_text_end, 0,
};

void __attribute__((no_instrument_function)) fwprof_board_init(void)
{
    last_raw = CLINT_MTIME_LO;
    fwp_init(&config);
}
