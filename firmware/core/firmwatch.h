/*
 * firmwatch streamer core — public API (portable C99, no malloc, no printf).
 *
 * A port does four things:
 *   1. calls fw_init() once with its region table and build id,
 *   2. feeds every received byte to fw_rx_byte() (from the UART ISR or a poll loop),
 *   3. calls fw_tick() at FW_TICK_HZ (SysTick / timer ISR, or a host timer thread),
 *   4. calls fw_poll() from its main loop; fw_poll() parses commands and hands
 *      pending output to the port through fw_port_tx_ready() / fw_tx_pop().
 * and implements the hooks declared at the bottom (critical section, TX kick).
 * The wire protocol is docs/protocol.md.
 */
#ifndef FIRMWATCH_H
#define FIRMWATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time limits (override with -D) ---- */
#ifndef FW_MAX_STREAMS
#define FW_MAX_STREAMS 16
#endif
#ifndef FW_MAX_REGIONS /* regions per stream */
#define FW_MAX_REGIONS 8
#endif
#ifndef FW_MAX_STREAM_BYTES /* bytes per stream sample */
#define FW_MAX_STREAM_BYTES 64
#endif
#ifndef FW_MAX_PAYLOAD /* largest frame payload, both directions */
#define FW_MAX_PAYLOAD 255
#endif
#ifndef FW_TX_SIZE /* TX ring buffer bytes */
#define FW_TX_SIZE 1024
#endif
#ifndef FW_RX_SIZE /* RX ring bytes between fw_rx_byte() and fw_poll() */
#define FW_RX_SIZE 128
#endif
#ifndef FW_TICK_HZ
#define FW_TICK_HZ 1000u
#endif

#define FW_PROTO_VERSION 1u

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
    const uint8_t *build_id; /* may be NULL */
    uint8_t build_id_len;
    uint8_t word_size;  /* sizeof(void *) on the target */
    uint8_t big_endian; /* 1 on big-endian targets */
    /* Memory is accessed as (uint8_t *)(uintptr_t)(elf_address - addr_offset): 0 on most
     * ports, 0x800000 on AVR where the ELF puts data space at 0x800000. */
    uint32_t addr_offset;
} fw_config_t;

void fw_init(const fw_config_t *cfg);
void fw_rx_byte(uint8_t b);    /* ISR-safe (single producer) */
void fw_tick(void);            /* ISR-safe: advances time, samples due streams */
void fw_poll(void);            /* main loop: parses commands */
size_t fw_tx_pop(uint8_t *buf, size_t max); /* port drains output; ISR-safe (single consumer) */
int fw_tx_byte(void);          /* one byte of output, or -1 when empty */
uint32_t fw_ticks(void);

/* ---- hooks every port implements ---- */
void fw_port_critical_enter(void); /* e.g. save PRIMASK and cpsid i */
void fw_port_critical_exit(void);
void fw_port_tx_ready(void);       /* output is pending: enable the TX interrupt or wake the writer */

#ifdef __cplusplus
}
#endif
#endif
