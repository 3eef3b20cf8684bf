/*
 * firmwatch streamer core — public API (portable C99, no malloc, no printf).
 *
 * A port does four things:
 *   1. calls fw_init() once with its region table and build id,
 *   2. feeds every received byte to fw_rx_byte() (from the UART ISR or a poll loop),
 *   3. calls fw_tick() at FW_TICK_HZ (SysTick / timer ISR, or a host timer thread),
 *   4. calls fw_poll() from its main loop; fw_poll() parses and answers commands,
 *      and drains output with fw_tx_pop() / fw_tx_byte() (main loop or TX-empty ISR).
 * and implements the three hooks declared at the bottom (critical section, TX kick).
 * The wire protocol is docs/protocol.md; the porting guide is firmware/README.md.
 *
 * Execution model the core relies on:
 *   - fw_tick() runs in an interrupt (or, on a hosted port, holds the port's critical
 *     section for its whole duration, which models an ISR): main-context code never runs
 *     in the middle of it.
 *   - fw_poll(), fw_init() run in main context; fw_rx_byte() has one producer context,
 *     fw_tx_pop()/fw_tx_byte() one consumer context (any of ISR or main).
 *   - The core never nests fw_port_critical_enter(); it calls it from fw_tick() too, so
 *     exit must restore the previous interrupt state rather than enable unconditionally.
 */
#ifndef FIRMWATCH_H
#define FIRMWATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time limits (override with -D) ---- */
#ifndef FW_MAX_STREAMS /* 1..32 */
#define FW_MAX_STREAMS 16
#endif
#ifndef FW_MAX_REGIONS /* regions per stream */
#define FW_MAX_REGIONS 8
#endif
#ifndef FW_MAX_TOTAL_REGIONS /* regions of all streams together (one shared pool) */
#define FW_MAX_TOTAL_REGIONS 24
#endif
#ifndef FW_MAX_STREAM_BYTES /* bytes per stream sample */
#define FW_MAX_STREAM_BYTES 64
#endif
#ifndef FW_MAX_PAYLOAD /* largest command payload accepted (64..246); also bounds READ/WRITE/SAMPLES */
#define FW_MAX_PAYLOAD 128
#endif
#ifndef FW_TX_SIZE /* TX ring bytes: a power of two <= 32768 that holds the largest reply (fw_internal.h checks) */
#define FW_TX_SIZE 1024
#endif
#ifndef FW_RX_SIZE /* RX ring bytes (<= 255); holds one whole command frame while it is parsed */
#define FW_RX_SIZE (FW_MAX_PAYLOAD + 9)
#endif
#ifndef FW_TICK_HZ
#define FW_TICK_HZ 1000u
#endif
#ifndef FW_TEXT_MODE /* 0 drops the text mode (binary only) to save flash */
#define FW_TEXT_MODE 1
#endif

#ifndef FW_WORD_ACCESS /* 1: READ/WRITE/streams move aligned whole words as 32-bit accesses, as
                         * memory-mapped peripheral registers need (the bare-metal ports set it) */
#define FW_WORD_ACCESS 0
#endif

/* ---- optional modules (off by default: the minimal core stays as small as it was) ---- */
#ifndef FW_CAPTURE /* 1: triggered capture into a RAM buffer the port provides (docs/protocol.md section 16) */
#define FW_CAPTURE 0
#endif
#ifndef FW_CAPTURE_MAX_CHANNELS /* channels (regions) one capture samples together */
#define FW_CAPTURE_MAX_CHANNELS 8
#endif
#ifndef FW_CHANGE_ONLY /* 1: change-only streams, a deadband per region and a heartbeat (section 15) */
#define FW_CHANGE_ONLY 0
#endif

#define FW_PROTO_VERSION 3u

#define FW_ACCESS_READ 0x01u
#define FW_ACCESS_WRITE 0x02u

typedef struct {
    uint32_t start; /* ELF address */
    uint32_t size;
    uint8_t access; /* FW_ACCESS_READ | FW_ACCESS_WRITE */
} fw_region_t;

typedef struct {
    const fw_region_t *regions;
    uint8_t nregions;
    const uint8_t *build_id; /* may be NULL when build_id_len is 0 */
    uint8_t build_id_len;
    uint8_t word_size;  /* sizeof(void *) on the target */
    uint8_t big_endian; /* 1 on big-endian targets */
    /* Memory is accessed as (uint8_t *)(uintptr_t)(elf_address - addr_offset): 0 on most
     * ports, 0x800000 on AVR where the ELF puts data space at 0x800000. */
    uint32_t addr_offset;
} fw_config_t;

/* Counters as reported by STATUS (a snapshot). */
typedef struct {
    uint32_t dropped;   /* SAMPLES frames produced but not sent (TX full) */
    uint32_t overflows; /* received bytes lost because the RX ring was full */
    uint32_t rx_errors; /* discarded frames / lines (bad CRC, trailer, length, garbage) */
    uint32_t ticks;
    uint16_t tx_used;
    uint16_t tx_high_water;
    uint16_t seq;       /* the next SAMPLES sequence number */
    uint8_t nstreams;   /* streams running */
    uint8_t mode;       /* output mode: 0 text, 1 binary */
} fw_status_t;

void fw_init(const fw_config_t *cfg); /* cfg, its regions and build id must stay valid */
void fw_rx_byte(uint8_t b);    /* ISR-safe (single producer) */
size_t fw_rx_free(void);      /* bytes fw_rx_byte() can take now (hosted ports: flow control) */
void fw_tick(void);            /* ISR: advances time, samples due streams */
void fw_poll(void);            /* main loop: parses and answers commands */
size_t fw_tx_pop(uint8_t *buf, size_t max); /* port drains output; single consumer */
int fw_tx_byte(void);          /* one byte of output, or -1 when empty */
size_t fw_tx_pending(void);    /* bytes ready for fw_tx_pop() */
uint32_t fw_ticks(void);
void fw_get_status(fw_status_t *out);

/* Helper for ports: the descriptor of a GNU build-id note (the bytes of section
 * .note.gnu.build-id). Returns its length (0 if the note is not a build id) and sets *id. */
uint8_t fw_gnu_build_id(const void *note, const uint8_t **id);

#if FW_CAPTURE
/* Triggered capture (docs/protocol.md section 16). The port describes, after fw_init(), the
 * buffer (static RAM it owns: a capture holds as many samples as fit) and, if it has one, a timer
 * for sampling faster than the tick. Samples come from fw_tick() (every `divider` ticks) or from
 * fw_capture_timer(): the core calls timer(divider) when a capture on the timer starts — the port
 * then makes its timer interrupt every `divider` periods of its `timer_hz` clock and calls
 * fw_capture_timer() from that interrupt — and timer(0) when it stops (from fw_poll(), or from
 * the sampling interrupt itself when the capture completes). */
typedef struct {
    void *buffer;
    uint32_t size;
    uint32_t timer_hz;          /* 0: no capture timer (captures sample on the tick) */
    uint32_t timer_max_divider; /* the largest divider timer() can realise exactly (0: any) */
    void (*timer)(uint32_t divider);
} fw_capture_config_t;
void fw_capture_init(const fw_capture_config_t *cfg); /* cfg must stay valid; NULL: no buffer */
void fw_capture_timer(void);      /* the port's capture timer interrupt: one sample */
void fw_capture_slip(uint32_t n); /* that interrupt came n periods late (n samples never taken) */
#endif

/* ---- hooks every port implements ---- */
void fw_port_critical_enter(void); /* e.g. save PRIMASK and cpsid i */
void fw_port_critical_exit(void);  /* restore the state saved by enter */
void fw_port_tx_ready(void);       /* output is pending: enable the TX interrupt or wake the writer */

#ifdef __cplusplus
}
#endif
#endif
