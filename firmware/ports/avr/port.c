/*
 * firmwatch on the ATmega328P at 16 MHz (runs under simavr with harness/simavr_harness.c).
 *
 *   USART0 at 2 Mbit/s (U2X, UBRR0 = 0: the fastest exact rate at 16 MHz): the RX interrupt
 *     feeds fw_rx_byte() while the core has room, else it masks itself and the bytes wait in
 *     the USART (simavr's model queues them and holds back the host: no input is lost); the
 *     UDRE interrupt drains fw_tx_byte() and switches itself off when
 *     the core has nothing to send; fw_port_tx_ready() switches it back on.
 *   Timer0 in CTC mode at FW_TICK_HZ raises the tick interrupt; the handler measures the time
 *     that really passed on free-running Timer1 and runs demo_tick_1khz() + fw_tick() once per
 *     elapsed period, so a late or long tick (the CPU saturated by a heavy stream set) delays
 *     ticks instead of losing them: the device clock stays true and the overload shows up as
 *     counted drops.  The handler lets the UART interrupts in while it runs (a long sampling
 *     pass must not overrun the receiver).
 *   Critical sections: SREG's I bit, nestable.
 *   Startup (vectors, .data copy, .bss clear) is avr-libc's crt for the device.
 *   Addresses: the ELF puts data space at 0x800000, so regions are reported with that offset
 *     and the core subtracts it (fw_config_t.addr_offset).
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>

#include "demo.h"
#include "firmwatch.h"

#define DATA_SPACE_OFFSET 0x800000ul
#define BUILD_ID_MAX 32u

/* ---- linker-script symbols (data space addresses as seen by C, flash addresses for the note) ---- */
extern uint8_t __data_start[], __rodata_start[], __rodata_end[], __data_end[], __bss_start[], __bss_end[];
extern const uint8_t __build_id_start[] PROGMEM, __build_id_end[] PROGMEM;

/* ---- critical section (nestable: only the outermost exit restores SREG) ---- */
static uint8_t crit_sreg;
static uint8_t crit_depth;

void fw_port_critical_enter(void)
{
    uint8_t sreg = SREG;
    cli();
    if (crit_depth++ == 0)
        crit_sreg = sreg;
}

void fw_port_critical_exit(void)
{
    if (--crit_depth == 0)
        SREG = crit_sreg;
}

void fw_port_tx_ready(void)
{
    uint8_t sreg = SREG;
    cli();
    UCSR0B |= _BV(UDRIE0);
    SREG = sreg;
}

/* ---- interrupts ---- */
static volatile uint8_t rx_pending;
static volatile uint8_t rx_throttled; /* RX interrupt masked until the core has room */

ISR(USART_RX_vect)
{
    rx_pending = 1;
    if (!fw_rx_free()) {
        UCSR0B &= (uint8_t)~_BV(RXCIE0); /* RXC is a level: it fires again once unmasked */
        rx_throttled = 1;
        return;
    }
    fw_rx_byte(UDR0);
}

static void uart_rx_unthrottle(void)
{
    if (!rx_throttled || !fw_rx_free())
        return;
    uint8_t sreg = SREG;
    cli();
    rx_throttled = 0;
    UCSR0B |= _BV(RXCIE0);
    SREG = sreg;
}

ISR(USART_UDRE_vect)
{
    int b = fw_tx_byte();
    if (b < 0)
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
    else
        UDR0 = (uint8_t)b;
}

#define T1_PER_TICK (uint16_t)(F_CPU / 64u / FW_TICK_HZ) /* Timer1 counts per tick */
#define CATCH_UP_MAX 16u /* beyond this backlog the clock slips rather than starve main */
static uint16_t t1_last;
static uint16_t t1_acc = T1_PER_TICK / 2; /* half a period of phase absorbs jitter */

ISR(TIMER0_COMPA_vect)
{
    /* Mask only this source, then let the UART in; a compare that happens meanwhile stays
     * pending in OCF0A and the elapsed-time count below makes up for any that merged. */
    TIMSK0 &= (uint8_t)~_BV(OCIE0A);
    uint16_t now = TCNT1; /* only this handler touches Timer1 (16-bit TEMP register) */
    t1_acc += (uint16_t)(now - t1_last);
    t1_last = now;
    sei();
    for (uint8_t n = 0; t1_acc >= T1_PER_TICK; n++) {
        if (n == CATCH_UP_MAX) {
            t1_acc = T1_PER_TICK / 2;
            break;
        }
        t1_acc -= T1_PER_TICK;
        demo_tick_1khz(); /* first, so this tick's samples see this tick's values */
        fw_tick();
    }
    cli();
    TIMSK0 |= _BV(OCIE0A);
}

/* ---- build id: copy the GNU note's descriptor out of flash ---- */
#if FW_CAPTURE
/* Triggered capture (docs/protocol.md section 16): Timer2 in CTC mode at clk / 32 (500 kHz) is the
 * capture timer, an interrupt every `divider` (1..256) counts: 1953 Hz to 500 kHz (the tick covers
 * slower rates). Timer1's count tells when an interrupt came late: samples never taken, which the
 * capture reports (fw_capture_slip). */
#define CAPTURE_TIMER_HZ (F_CPU / 32u)
static uint8_t capture_ram[PORT_CAPTURE_BYTES];
static uint16_t capture_divider; /* the period in Timer2 counts */
static uint16_t capture_last2;   /* the last period boundary served, in Timer2 counts (Timer1 x 2) */

static void capture_timer(uint32_t divider)
{
    uint8_t sreg = SREG;
    cli();
    TCCR2B = 0;
    TIMSK2 = 0;
    if (divider) {
        capture_divider = (uint16_t)divider;
        TCNT2 = 0;
        OCR2A = (uint8_t)(divider - 1u);
        TCCR2A = _BV(WGM21);            /* CTC */
        TIFR2 = _BV(OCF2A);
        TIMSK2 = _BV(OCIE2A);
        capture_last2 = (uint16_t)(TCNT1 * 2u);
        TCCR2B = _BV(CS21) | _BV(CS20); /* clk / 32 */
    }
    SREG = sreg;
}

static const fw_capture_config_t capture_config = {capture_ram, sizeof capture_ram, CAPTURE_TIMER_HZ, 256,
                                                   capture_timer};

ISR(TIMER2_COMPA_vect)
{
    /* The periods since the last boundary served, on Timer1 (two Timer2 counts per count): the
     * schedule advances by whole periods, so an interrupt a little longer than its period, whose
     * every gap rounds to one period, still shows the interrupts it lost. The 2 counts allow for
     * Timer1's resolution. */
    uint16_t elapsed2 = (uint16_t)((uint16_t)(TCNT1 * 2u) - capture_last2);
    uint16_t periods = (uint16_t)((uint16_t)(elapsed2 + 2u) / capture_divider);
    capture_last2 = (uint16_t)(capture_last2 + periods * capture_divider);
    if (periods > 1u)
        fw_capture_slip(periods - 1u);
    fw_capture_timer();
}
#endif

static uint8_t build_id_buf[BUILD_ID_MAX];

static uint8_t build_id_load(void)
{
    uint16_t start = (uint16_t)(uintptr_t)__build_id_start, end = (uint16_t)(uintptr_t)__build_id_end;
    if (end - start < 12u)
        return 0;
    uint32_t namesz = pgm_read_dword(start), descsz = pgm_read_dword(start + 4u);
    uint16_t desc = (uint16_t)(start + 12u + ((namesz + 3u) & ~3ul));
    if (descsz > BUILD_ID_MAX || desc + descsz > end)
        return 0;
    for (uint8_t i = 0; i < (uint8_t)descsz; i++)
        build_id_buf[i] = pgm_read_byte(desc + i);
    return (uint8_t)descsz;
}

static fw_region_t regions[5];
static fw_config_t config;

static void region_add(const volatile uint8_t *start, const volatile uint8_t *end, uint8_t access)
{
    if (end > start)
        regions[config.nregions++] = (fw_region_t){(uint32_t)(uintptr_t)start + DATA_SPACE_OFFSET,
                                                   (uint32_t)(end - start), access};
}

int main(void)
{
    config.regions = regions;
    region_add(__data_start, __rodata_start, FW_ACCESS_READ | FW_ACCESS_WRITE);
    region_add(__rodata_start, __rodata_end, FW_ACCESS_READ); /* const data, copied to RAM */
    region_add(__bss_start, __bss_end, FW_ACCESS_READ | FW_ACCESS_WRITE);
    /* Read-only for the host's memory-health view: the heap, the free gap and the stack above
     * .bss, and the stack pointer (SPL/SPH, reading them has no side effect). */
    region_add(__bss_end, (const uint8_t *)(RAMEND + 1), FW_ACCESS_READ);
    region_add((const uint8_t *)0x5D, (const uint8_t *)0x5F, FW_ACCESS_READ);
    config.build_id = build_id_buf;
    config.build_id_len = build_id_load();
    config.word_size = 2;
    config.big_endian = 0;
    config.addr_offset = DATA_SPACE_OFFSET;

    UCSR0A = _BV(U2X0);
    UBRR0 = 0; /* 16 MHz / (8 * (0 + 1)) = 2 Mbit/s */
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
    UCSR0B = _BV(RXCIE0) | _BV(RXEN0) | _BV(TXEN0);

    fw_init(&config);
#if FW_CAPTURE
    fw_capture_init(&capture_config);
#endif
    demo_init();

    TCCR1A = 0;
    TCCR1B = _BV(CS11) | _BV(CS10); /* Timer1 free-running at clk / 64 */
    t1_last = TCNT1;
    TCCR0A = _BV(WGM01);                      /* CTC */
    OCR0A = (uint8_t)(F_CPU / 64u / FW_TICK_HZ - 1u); /* 16 MHz / 64 / 250 = 1 kHz */
    TCCR0B = _BV(CS01) | _BV(CS00);           /* clk / 64 */
    TIMSK0 = _BV(OCIE0A);
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();

    for (;;) {
        fw_poll();
        uart_rx_unthrottle();
        demo_loop();

        /* Sleep until the next interrupt unless input arrived since fw_poll() looked: `sei`
         * delays interrupts by one instruction, so no wake-up slips between it and `sleep`. */
        cli();
        if (!rx_pending && !rx_throttled) {
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        rx_pending = 0;
        sei();
    }
}
