/*
 * The profiler on the ATmega328P (simavr): timestamps in Timer1 counts.
 *
 * Timer1 runs free at clk/64 (the streamer port starts it for its tick; alone.c the same way),
 * so timer_hz = F_CPU / 64: 250 kHz, 4 us a count, at 16 MHz. METADATA reports that rate and
 * the host converts; counting in timer units keeps each hook to a 16-bit subtraction. The
 * overflow interrupt calls fwp_port_now() too, so it runs at least once per 65536 counts even
 * when no instrumented function returns for longer. TCNT1 goes through the shared TEMP
 * register: it is only read with interrupts masked.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#include "fwprof.h"

#ifndef FWP_ANNOUNCE /* 1 on a line of its own (alone.c): METADATA at start-up */
#define FWP_ANNOUNCE 0
#endif

#ifndef FWP_CLOCK_START
#define FWP_CLOCK_START 0u
#endif

extern const uint8_t fwp_text_start[] PROGMEM, fwp_text_end[] PROGMEM;

static uint16_t last_raw;
static uint32_t now = FWP_CLOCK_START;

uint32_t __attribute__((no_instrument_function)) fwp_port_now(void)
{
    uint16_t raw = TCNT1;
    now += (uint16_t)(raw - last_raw);
    last_raw = raw;
    return now;
}

ISR(TIMER1_OVF_vect)
{
    fwp_port_critical_enter();
    (void)fwp_port_now();
    fwp_port_critical_exit();
}

#ifndef FWP_VERSION
#define FWP_VERSION "demo avr"
#endif

static const fwp_config_t config = {
    F_CPU, F_CPU / 64u, FWP_VERSION, fwp_text_start, fwp_text_end, FWP_ANNOUNCE,
};

void __attribute__((no_instrument_function)) fwprof_board_init(void)
{
    last_raw = TCNT1;
    TIMSK1 |= _BV(TOIE1);
    fwp_init(&config);
}
