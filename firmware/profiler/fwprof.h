/*
 * firmwatch profiler — the device half of the MiniProfiler protocol (docs/profiler.md).
 * Portable C99, no malloc, no printf, no libc.
 *
 * Build the code you want to profile with -finstrument-functions (and
 * -finstrument-functions-exclude-file-list=... for code that must stay out: interrupt
 * handlers you want counted toward whatever they interrupt, the port, this module). Every
 * instrumented call then costs two hook calls; when a call returns, one 14-byte record —
 * function, entry time, duration including callees, call depth — goes into a power-of-two
 * ring, and the output generator streams the ring as PROFILE_DATA frames.
 *
 * A port:
 *   1. calls fwp_init() once, before interrupts are enabled,
 *   2. feeds received bytes to fwp_rx_byte() (or, sharing a line with the memory streamer,
 *      links fwprof_link.c, which splits the input between the two; see docs/profiler.md),
 *   3. calls fwp_poll() from its main loop (executes commands, starts the transmission of
 *      records: call it often, the ring holds FWP_RING_RECORDS calls in between),
 *   4. drains fwp_tx_byte() (main loop or TX-empty interrupt),
 * and implements the four hooks at the bottom.
 *
 * Execution model: the hooks may run in any context (main, interrupts, nested interrupts);
 * each one does its work inside fwp_port_critical_enter/exit. fwp_poll() runs in main
 * context, fwp_rx_byte() in one producer context, fwp_tx_byte() in one consumer context.
 */
#ifndef FWPROF_H
#define FWPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time limits (override with -D) ---- */
#ifndef FWP_RING_RECORDS /* records between the hooks and the link: a power of two */
#define FWP_RING_RECORDS 128
#endif
#ifndef FWP_MAX_DEPTH /* call depth timed; deeper calls are counted as lost, never misattributed */
#define FWP_MAX_DEPTH 32
#endif
#ifndef FWP_RECORDS_PER_FRAME /* most records in one PROFILE_DATA frame (the seed's "typical": 20) */
#define FWP_RECORDS_PER_FRAME 20
#endif

#ifndef FWP_COMPENSATE /* 1: record times leave out the profiler's own transmit time */
#define FWP_COMPENSATE 1
#endif

#define FWP_PROTO_VERSION 1u

/* The function address in a record is the ELF symbol value of the function (on Thumb with bit
 * 0 set, as in the symbol table; on AVR the byte address, i.e. the word pointer times two). */
#if defined(__AVR__)
#define FWP_CODE_ADDR(fn) ((uint32_t)(uintptr_t)(fn) << 1)
#else
#define FWP_CODE_ADDR(fn) ((uint32_t)(uintptr_t)(fn))
#endif

typedef struct {
    uint32_t mcu_clock_hz;
    uint32_t timer_hz;      /* units of fwp_port_now(), entry_time and duration: 1000000 = us.
                             * With FWP_COMPENSATE the records' clock stops while the profiler
                             * sends (fwp_tx_byte), so entry times are that clock, not the timer. */
    const char *fw_version; /* at most 15 characters are sent */
    /* The code whose CRC32 is the build id METADATA reports: the .text section, as the host
     * reads it from the ELF. Link with -Wl,--defsym=fwp_text_start=ADDR(.text)
     * -Wl,--defsym=fwp_text_end=ADDR(.text)+SIZEOF(.text) when the linker script has no
     * symbols for it. On AVR these are flash addresses (read with pgm_read_byte). */
    const uint8_t *text_start;
    const uint8_t *text_end;
    uint8_t announce; /* 1: send METADATA once at start-up (a line of its own; 0 when shared) */
} fwp_config_t;

typedef struct {
    uint8_t profiling;
    uint32_t overflows; /* records not kept: ring full, deeper than FWP_MAX_DEPTH, or the
                         * caller of a lost record (so no time is ever credited to the wrong
                         * function) */
    uint32_t captured;  /* records kept in the ring */
    uint8_t usage;      /* ring use, percent */
    uint32_t rx_errors; /* bytes of input that were not a valid command packet */
} fwp_status_t;

void fwp_init(const fwp_config_t *cfg);
void fwp_rx_byte(uint8_t b); /* a standalone link: every received byte */
void fwp_poll(void);         /* main loop: executes a received command */
int fwp_tx_byte(void);       /* the next output byte, or -1 when there is none */
int fwp_tx_in_frame(void);   /* 1 while a frame is partly sent (a shared link must not cut in) */
int fwp_tx_has_data(void);   /* 1 when fwp_tx_byte() would return a byte */
void fwp_get_status(fwp_status_t *out);
void fwp_start(void); /* local control, e.g. from a button: the same as START_PROFILING */
void fwp_stop(void);  /* stops capturing; the ring still drains */
uint32_t fwp_build_id(void);

/* Command packets (12 bytes, see docs/profiler.md). A shared link validates candidates with
 * fwp_cmd_prefix_ok() as they arrive and hands complete ones to fwp_cmd_packet(). */
#define FWP_CMD_SIZE 12u
int fwp_cmd_prefix_ok(const uint8_t *p, uint8_t n); /* the first n bytes can start a packet */
void fwp_cmd_packet(const uint8_t *p);              /* a complete, valid packet */

/* Hooks the compiler calls (never instrumented themselves). */
void __cyg_profile_func_enter(void *this_fn, void *call_site) __attribute__((no_instrument_function));
void __cyg_profile_func_exit(void *this_fn, void *call_site) __attribute__((no_instrument_function));

/* ---- hooks every port implements ---- */
uint32_t fwp_port_now(void);         /* the timer, in timer_hz units; called with interrupts masked */
void fwp_port_critical_enter(void);  /* mask interrupts that may run instrumented code; nestable */
void fwp_port_critical_exit(void);   /* restore what enter saved */
void fwp_port_tx_ready(void);        /* output is pending: enable the TX interrupt or wake the loop */

#ifdef __cplusplus
}
#endif
#endif
