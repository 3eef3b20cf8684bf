/*
 * The profiler alone on the ATmega328P's USART0, no memory streamer: the seed's set-up.
 *
 *   USART0 at FWP_BAUD (U2X; exact at F_CPU = 14.7456 MHz for 115200 and 921600): the RX
 *     interrupt feeds fwp_rx_byte(); the UDRE interrupt drains fwp_tx_byte() and switches
 *     itself off when there is nothing to send; fwp_port_tx_ready() switches it back on.
 *   Timer1 free at clk/64: the profiler's clock (fwprof_port.c).
 *   Critical sections: SREG's I bit, nestable.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <stdint.h>

#include "demo.h"
#include "fwprof.h"

#ifndef FWP_BAUD
#define FWP_BAUD 115200UL
#endif
#define UBRR_VALUE ((F_CPU + 4UL * FWP_BAUD) / (8UL * FWP_BAUD) - 1UL)

static uint8_t crit_sreg, crit_depth;

void __attribute__((no_instrument_function)) fwp_port_critical_enter(void)
{
    uint8_t sreg = SREG;
    cli();
    if (crit_depth++ == 0)
        crit_sreg = sreg;
}

void __attribute__((no_instrument_function)) fwp_port_critical_exit(void)
{
    if (--crit_depth == 0)
        SREG = crit_sreg;
}

void __attribute__((no_instrument_function)) fwp_port_tx_ready(void)
{
    uint8_t sreg = SREG;
    cli();
    UCSR0B |= _BV(UDRIE0);
    SREG = sreg;
}

ISR(USART_RX_vect)
{
    fwp_rx_byte(UDR0);
}

ISR(USART_UDRE_vect)
{
    int b = fwp_tx_byte();
    if (b < 0)
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
    else
        UDR0 = (uint8_t)b;
}

int main(void)
{
    UCSR0A = _BV(U2X0);
    UBRR0 = (uint16_t)UBRR_VALUE;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
    UCSR0B = _BV(RXCIE0) | _BV(RXEN0) | _BV(TXEN0);
    TCCR1A = 0;
    TCCR1B = _BV(CS11) | _BV(CS10); /* Timer1 free at clk / 64 */
    demo_init();                    /* fwprof_board_init(): the clock, then fwp_init() */
    sei();
    for (;;) {
        fwp_poll();
        demo_loop();
    }
}
