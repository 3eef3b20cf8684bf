/*
 * firmwatch profiler: the instrumentation hooks, the record ring, the command parser and the
 * output generator of the MiniProfiler protocol. docs/profiler.md is the specification.
 *
 * Nothing in this file may be instrumented: the hooks would call themselves.  Build it without
 * -finstrument-functions (the attribute below also guards each function).
 */
#include "fwprof.h"

#if defined(__AVR__)
#include <avr/io.h>
#include <avr/pgmspace.h>
#define CODE_BYTE(p) pgm_read_byte(p)
#else
#define CODE_BYTE(p) (*(const volatile uint8_t *)(p))
#endif

/* The hooks' critical section, inline where the architecture is known (a call to the port's
 * hooks costs more than the rest of a hook on a small CPU). Saving and restoring the mask
 * nests with any critical section the port has open. -DFWP_PORT_CRITICAL=1 uses the port's
 * hooks instead (e.g. RISC-V firmware that does not run in machine mode). */
#ifndef FWP_PORT_CRITICAL
#define FWP_PORT_CRITICAL 0
#endif
#if !FWP_PORT_CRITICAL && defined(__AVR__)
#define CRIT_DECL uint8_t crit_saved_
#define CRIT_ENTER()                                                                               \
    do {                                                                                           \
        crit_saved_ = SREG;                                                                        \
        __asm__ volatile("cli" ::: "memory");                                                      \
    } while (0)
#define CRIT_EXIT()                                                                                \
    do {                                                                                           \
        __asm__ volatile("" ::: "memory");                                                         \
        SREG = crit_saved_;                                                                        \
    } while (0)
#elif !FWP_PORT_CRITICAL && defined(__arm__) && defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define CRIT_DECL uint32_t crit_saved_
#define CRIT_ENTER() __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(crit_saved_)::"memory")
#define CRIT_EXIT() __asm__ volatile("msr primask, %0" ::"r"(crit_saved_) : "memory")
#elif !FWP_PORT_CRITICAL && defined(__riscv)
#define CRIT_DECL uint32_t crit_saved_
#define CRIT_ENTER() __asm__ volatile("csrrci %0, mstatus, 8" : "=r"(crit_saved_)::"memory")
#define CRIT_EXIT() __asm__ volatile("csrs mstatus, %0" ::"r"(crit_saved_ & 8u) : "memory")
#else
#define CRIT_DECL int crit_unused_
#define CRIT_ENTER() ((void)crit_unused_, fwp_port_critical_enter())
#define CRIT_EXIT() fwp_port_critical_exit()
#endif

#define NOINST __attribute__((no_instrument_function))

/* Orders the stores before it ahead of the one after it (a reply is complete before it is
 * announced to the output generator, which may run in an interrupt). */
#define BARRIER() __asm__ volatile("" ::: "memory")

#define STATIC_ASSERT(c, name) typedef char fwp_assert_##name[(c) ? 1 : -1]
STATIC_ASSERT((FWP_RING_RECORDS & (FWP_RING_RECORDS - 1)) == 0 && FWP_RING_RECORDS >= 2 &&
                  FWP_RING_RECORDS <= 16384,
              ring_records_power_of_two);
STATIC_ASSERT(FWP_MAX_DEPTH >= 1 && FWP_MAX_DEPTH <= 0xFFFF, max_depth);
STATIC_ASSERT(FWP_RECORDS_PER_FRAME >= 1 && 3 + 14 * FWP_RECORDS_PER_FRAME <= 4096, frame_fits_host_bound);

/* ---- wire constants (docs/profiler.md) ---- */
enum { CMD_START = 1, CMD_STOP = 2, CMD_STATUS = 3, CMD_RESET = 4, CMD_METADATA = 5, CMD_CONFIG = 6 };
enum { T_ACK = 1, T_NACK = 2, T_METADATA = 3, T_STATUS = 4, T_PROFILE_DATA = 5 };
#define CMD_HEADER 0x55u
#define REC_SIZE 14u
#define METADATA_SIZE 28u
#define STATUS_SIZE 10u
#define REPLY_MAX (8u + METADATA_SIZE)

enum { OUT_IDLE, OUT_REPLY, OUT_HEAD, OUT_RECORD, OUT_CRC_LO, OUT_CRC_HI, OUT_END };

typedef struct {
    uint32_t fn, entry, duration;
    uint16_t depth;
} record_t;

typedef struct {
    uint32_t fn, entry;
} frame_t;

static record_t ring[FWP_RING_RECORDS];
static frame_t stack[FWP_MAX_DEPTH];

static struct {
    const fwp_config_t *cfg;
    uint32_t build_id;
    volatile uint8_t on;
    /* Instrumented frames open right now, counted even while profiling is off so that a START
     * in the middle of a call knows which frames it cannot time (those below open_base). */
    volatile uint16_t depth;
    uint16_t open_base;
    /* Frames at depth < poison have lost a descendant's record: their own records would
     * credit the lost time to them as self time, so they are dropped (and counted) too. */
    uint16_t poison;
    /* ring: hooks produce at head, the output generator consumes at tail (free-running) */
    volatile uint16_t head, tail;
    uint32_t overflows, captured, rx_errors;
#if FWP_COMPENSATE
    /* Time spent sending records while profiling: the hooks' clock leaves it out, so the
     * link's cost is not credited to whichever function it interrupted. */
    uint32_t stolen;
#endif
    /* STOP: its ACK goes out once the records captured before it have been sent */
    uint8_t stop_acks;
    uint16_t stop_head;
    /* command input: one packet waits for fwp_poll() */
    uint8_t rx[FWP_CMD_SIZE];
    uint8_t rx_n;
    uint8_t cmd[FWP_CMD_SIZE];
    volatile uint8_t cmd_ready;
    /* output */
    uint8_t out_state, out_pos, out_len;
    const uint8_t *out_src; /* the reply being sent */
    uint16_t out_records; /* records of the current PROFILE_DATA frame not started yet */
    uint16_t crc;
    uint8_t reply[REPLY_MAX];
    volatile uint8_t reply_len;
    uint8_t buf[REC_SIZE]; /* the frame header, then each record in wire order */
} fwp;

/* CRC-16/CCITT-FALSE, one byte at a time without a table (the xmodem shift form). */
static uint16_t NOINST crc16(uint16_t crc, uint8_t b)
{
    crc = (uint16_t)((crc >> 8) | (crc << 8));
    crc ^= b;
    crc ^= (uint16_t)((crc & 0xFFu) >> 4);
    crc ^= (uint16_t)(crc << 12);
    crc ^= (uint16_t)((crc & 0xFFu) << 5);
    return crc;
}

static uint32_t NOINST crc32_code(const uint8_t *p, const uint8_t *end)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (; p < end; p++) {
        uint8_t k;
        crc ^= CODE_BYTE(p);
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (uint32_t)-(int32_t)(crc & 1u));
    }
    return ~crc;
}

static void NOINST put_le(uint8_t *p, uint32_t v, uint8_t n)
{
    while (n--) {
        *p++ = (uint8_t)v;
        v >>= 8;
    }
}

/* The clock the records are in: the port's timer minus the profiler's own time (its hooks
 * after they read the timer, and the transmission of records). Called with interrupts masked. */
static uint32_t NOINST virtual_time(uint32_t timer)
{
#if FWP_COMPENSATE
    return timer - fwp.stolen;
#else
    return timer;
#endif
}

/* A hook that read the timer at `t` ends: the rest of its time is the profiler's. */
static void NOINST leave_hook(uint32_t t)
{
#if FWP_COMPENSATE
    fwp.stolen += fwp_port_now() - t;
#else
    (void)t;
#endif
}

/* ---- the hooks ---- */

void NOINST __cyg_profile_func_enter(void *this_fn, void *call_site)
{
    uint16_t d;
    uint32_t t;
    CRIT_DECL = 0;
    (void)call_site;
    if (!fwp.on) {
        /* An interrupt's hooks are balanced, so this read-modify-write needs no lock. */
        fwp.depth++;
        return;
    }
    CRIT_ENTER();
    t = fwp_port_now();
    d = fwp.depth++;
    if (d < FWP_MAX_DEPTH) {
        stack[d].fn = FWP_CODE_ADDR(this_fn);
        stack[d].entry = virtual_time(t);
    }
    leave_hook(t);
    CRIT_EXIT();
}

void NOINST __cyg_profile_func_exit(void *this_fn, void *call_site)
{
    uint32_t now, t;
    uint16_t d;
    CRIT_DECL = 0;
    (void)this_fn;
    (void)call_site;
    if (!fwp.on) {
        fwp.depth--;
        return;
    }
    CRIT_ENTER();
    t = fwp_port_now();
    now = virtual_time(t);
    d = --fwp.depth;
    if (d < fwp.open_base) {
        /* entered before START: its entry time is unknown */
        fwp.open_base = d;
        if (fwp.poison > d)
            fwp.poison = d;
    } else if (d >= FWP_MAX_DEPTH || d < fwp.poison || (uint16_t)(fwp.head - fwp.tail) >= FWP_RING_RECORDS) {
        fwp.overflows++;
        fwp.poison = d;
    } else {
        record_t *r = &ring[fwp.head & (FWP_RING_RECORDS - 1u)];
        r->fn = stack[d].fn;
        r->entry = stack[d].entry;
        r->duration = now - stack[d].entry;
        r->depth = d;
        fwp.head++;
        fwp.captured++;
    }
    leave_hook(t);
    CRIT_EXIT();
}

/* ---- control ---- */

void NOINST fwp_init(const fwp_config_t *cfg)
{
    volatile uint8_t *p = (volatile uint8_t *)&fwp;
    size_t i;
    fwp_port_critical_enter();
    for (i = 0; i < sizeof fwp; i++)
        p[i] = 0;
    fwp_port_critical_exit();
    fwp.cfg = cfg;
    fwp.build_id = crc32_code(cfg->text_start, cfg->text_end);
    if (cfg->announce) {
        fwp.cmd[1] = CMD_METADATA; /* as if asked: the reply path builds the frame */
        fwp.cmd_ready = 1;
        fwp_poll();
    }
}

uint32_t NOINST fwp_build_id(void)
{
    return fwp.build_id;
}

void NOINST fwp_start(void)
{
    fwp_port_critical_enter();
    if (!fwp.on) {
        fwp.open_base = fwp.depth;
        fwp.poison = 0;
        fwp.on = 1;
    }
    fwp_port_critical_exit();
}

void NOINST fwp_stop(void)
{
    fwp_port_critical_enter();
    fwp.on = 0;
    fwp_port_critical_exit();
}

/* RESET_BUFFERS: forget every record not yet on its way out, and the counters. Frames open
 * now are not timed (like a START), so no record after the reset misses a child. */
static void NOINST reset_buffers(void)
{
    fwp_port_critical_enter();
    fwp.head = (uint16_t)(fwp.tail + fwp.out_records);
    fwp.stop_head = fwp.head;
    fwp.open_base = fwp.depth;
    fwp.poison = 0;
    fwp.overflows = 0;
    fwp.captured = 0;
    fwp_port_critical_exit();
}

void NOINST fwp_get_status(fwp_status_t *out)
{
    uint16_t used;
    fwp_port_critical_enter();
    out->profiling = fwp.on;
    out->overflows = fwp.overflows;
    out->captured = fwp.captured;
    out->rx_errors = fwp.rx_errors;
    used = (uint16_t)(fwp.head - fwp.tail);
    fwp_port_critical_exit();
    out->usage = (uint8_t)((uint32_t)used * 100u / FWP_RING_RECORDS);
}

/* ---- commands ---- */

int NOINST fwp_cmd_prefix_ok(const uint8_t *p, uint8_t n)
{
    uint8_t i, sum = 0;
    if (n == 0)
        return 1;
    if (p[0] != CMD_HEADER)
        return 0;
    if (n > 2 && p[2] > 8u)
        return 0;
    for (i = 3; i < n && i < 11u; i++)
        if (i - 3u >= p[2] && p[i] != 0)
            return 0; /* the padding after the payload is zero */
    if (n < FWP_CMD_SIZE)
        return 1;
    for (i = 0; i < 11u; i++)
        sum = (uint8_t)(sum + p[i]);
    return sum == p[11];
}

void NOINST fwp_cmd_packet(const uint8_t *p)
{
    uint8_t i;
    if (fwp.cmd_ready) {
        fwp.rx_errors += FWP_CMD_SIZE; /* a host waits for each reply; this one did not */
        return;
    }
    for (i = 0; i < FWP_CMD_SIZE; i++)
        fwp.cmd[i] = p[i];
    fwp.cmd_ready = 1;
}

void NOINST fwp_rx_byte(uint8_t b)
{
    fwp.rx[fwp.rx_n++] = b;
    while (fwp.rx_n && !fwp_cmd_prefix_ok(fwp.rx, fwp.rx_n)) {
        /* not a packet: drop up to the next 55 and look again from there */
        uint8_t i = 1, j;
        while (i < fwp.rx_n && fwp.rx[i] != CMD_HEADER)
            i++;
        fwp.rx_errors += i;
        for (j = i; j < fwp.rx_n; j++)
            fwp.rx[j - i] = fwp.rx[j];
        fwp.rx_n = (uint8_t)(fwp.rx_n - i);
    }
    if (fwp.rx_n == FWP_CMD_SIZE) {
        fwp_cmd_packet(fwp.rx);
        fwp.rx_n = 0;
    }
}

static void NOINST reply(uint8_t type, const uint8_t *payload, uint8_t n)
{
    uint8_t *r = fwp.reply, i;
    uint16_t crc = 0xFFFF;
    r[0] = 0xAA;
    r[1] = 0x55;
    r[2] = type;
    r[3] = n;
    r[4] = 0;
    for (i = 0; i < n; i++)
        r[5 + i] = payload[i];
    for (i = 0; i < 5u + n; i++)
        crc = crc16(crc, r[i]);
    r[5 + n] = (uint8_t)crc;
    r[6 + n] = (uint8_t)(crc >> 8);
    r[7 + n] = 0x0A;
    BARRIER();
    fwp.reply_len = (uint8_t)(8u + n);
    fwp_port_tx_ready();
}

static void NOINST metadata(void)
{
    uint8_t m[METADATA_SIZE], i;
    const char *v = fwp.cfg->fw_version;
    put_le(m, fwp.cfg->mcu_clock_hz, 4);
    put_le(m + 4, fwp.cfg->timer_hz, 4);
    put_le(m + 8, fwp.build_id, 4);
    for (i = 0; i < 16u; i++) {
        m[12 + i] = (v && i < 15u) ? (uint8_t)*v : 0;
        if (v && *v)
            v++;
        else
            v = 0;
    }
    reply(T_METADATA, m, METADATA_SIZE);
}

static void NOINST status(void)
{
    fwp_status_t s;
    uint8_t m[STATUS_SIZE];
    fwp_get_status(&s);
    m[0] = s.profiling;
    put_le(m + 1, s.overflows, 4);
    put_le(m + 5, s.captured, 4);
    m[9] = s.usage;
    reply(T_STATUS, m, STATUS_SIZE);
}

void NOINST fwp_poll(void)
{
    uint8_t cmd, n, i, zero = 1;
    /* Records are sent from here on, not from the hooks: the link's work then happens
     * between the application's calls whenever the main loop has time. */
    if (fwp_tx_has_data())
        fwp_port_tx_ready();
    if (!fwp.cmd_ready || fwp.reply_len)
        return; /* nothing to do, or the previous reply is still going out */
    cmd = fwp.cmd[1];
    n = fwp.cmd[2];
    for (i = 0; i < n; i++)
        zero &= (uint8_t)(fwp.cmd[3 + i] == 0);
    if (n != 0 && cmd != CMD_CONFIG) {
        reply(T_NACK, 0, 0); /* these commands take no payload */
    } else if (cmd == CMD_START) {
        fwp_start();
        reply(T_ACK, 0, 0);
    } else if (cmd == CMD_STOP) {
        fwp_stop();
        fwp_port_critical_enter();
        fwp.stop_head = fwp.head;
        fwp.stop_acks++;
        fwp_port_critical_exit();
        fwp_port_tx_ready(); /* the ACK follows the last record */
    } else if (cmd == CMD_STATUS) {
        status();
    } else if (cmd == CMD_RESET) {
        reset_buffers();
        reply(T_ACK, 0, 0);
    } else if (cmd == CMD_METADATA) {
        metadata();
    } else if (cmd == CMD_CONFIG && zero) {
        reply(T_ACK, 0, 0); /* the seed reserves the config bytes: all zero is the only config */
    } else {
        reply(T_NACK, 0, 0);
    }
    fwp.cmd_ready = 0;
}

/* ---- output ---- */

static void NOINST start_record(void)
{
    const record_t *r = &ring[fwp.tail & (FWP_RING_RECORDS - 1u)];
    put_le(fwp.buf, r->fn, 4);
    put_le(fwp.buf + 4, r->entry, 4);
    put_le(fwp.buf + 8, r->duration, 4);
    put_le(fwp.buf + 12, r->depth, 2);
    fwp_port_critical_enter();
    fwp.tail++; /* copied out: the hooks may reuse the slot */
    fwp_port_critical_exit();
    fwp.out_records--;
    fwp.out_pos = 0;
    fwp.out_len = REC_SIZE;
}

/* STOP's ACK, sent by the output generator itself once the last record before the STOP is
 * out (the reply buffer belongs to fwp_poll()). */
static const uint8_t ack_frame[8] = {0xAA, 0x55, T_ACK, 0, 0, 0x88, 0x83, 0x0A}; /* CRC 0x8388 */

/* Decide what the next frame is, at a frame boundary. 0: nothing to send. */
static int NOINST next_frame(void)
{
    uint16_t used;
    if (fwp.reply_len) {
        fwp.out_state = OUT_REPLY;
        fwp.out_src = fwp.reply;
        fwp.out_len = fwp.reply_len;
        fwp.out_pos = 0;
        return 1;
    }
    fwp_port_critical_enter();
    used = (uint16_t)(fwp.head - fwp.tail);
    if (fwp.stop_acks && (int16_t)(fwp.tail - fwp.stop_head) >= 0) {
        fwp.stop_acks--;
        fwp_port_critical_exit();
        fwp.out_state = OUT_REPLY;
        fwp.out_src = ack_frame;
        fwp.out_len = sizeof ack_frame;
        fwp.out_pos = 0;
        return 1;
    }
    fwp_port_critical_exit();
    if (used == 0)
        return 0;
    if (used > FWP_RECORDS_PER_FRAME)
        used = FWP_RECORDS_PER_FRAME;
    {
        uint16_t len = (uint16_t)(3u + REC_SIZE * used);
        uint8_t *h = fwp.buf;
        h[0] = 0xAA;
        h[1] = 0x55;
        h[2] = T_PROFILE_DATA;
        h[3] = (uint8_t)len;
        h[4] = (uint8_t)(len >> 8);
        h[5] = FWP_PROTO_VERSION;
        h[6] = (uint8_t)used;
        h[7] = (uint8_t)(used >> 8);
    }
    fwp.out_records = used;
    fwp.crc = 0xFFFF;
    fwp.out_state = OUT_HEAD;
    fwp.out_pos = 0;
    fwp.out_len = 8;
    return 1;
}

static int NOINST tx_byte(void)
{
    uint8_t b;
    if (fwp.out_state == OUT_IDLE && !next_frame())
        return -1;
    switch (fwp.out_state) {
    case OUT_REPLY:
        b = fwp.out_src[fwp.out_pos++];
        if (fwp.out_pos == fwp.out_len) {
            if (fwp.out_src == fwp.reply)
                fwp.reply_len = 0;
            fwp.out_state = OUT_IDLE;
        }
        return b;
    case OUT_HEAD:
    case OUT_RECORD:
        b = fwp.buf[fwp.out_pos++];
        fwp.crc = crc16(fwp.crc, b);
        if (fwp.out_pos == fwp.out_len) {
            if (fwp.out_records) {
                start_record();
                fwp.out_state = OUT_RECORD;
            } else {
                fwp.out_state = OUT_CRC_LO;
            }
        }
        return b;
    case OUT_CRC_LO:
        fwp.out_state = OUT_CRC_HI;
        return (uint8_t)fwp.crc;
    case OUT_CRC_HI:
        fwp.out_state = OUT_END;
        return (uint8_t)(fwp.crc >> 8);
    default: /* OUT_END */
        fwp.out_state = OUT_IDLE;
        return 0x0A;
    }
}

int NOINST fwp_tx_byte(void)
{
#if FWP_COMPENSATE
    if (fwp.on) {
        uint32_t t0;
        int b;
        CRIT_DECL = 0;
        CRIT_ENTER();
        t0 = fwp_port_now();
        CRIT_EXIT();
        b = tx_byte();
        CRIT_ENTER();
        fwp.stolen += fwp_port_now() - t0;
        CRIT_EXIT();
        return b;
    }
#endif
    return tx_byte();
}

int NOINST fwp_tx_in_frame(void)
{
    return fwp.out_state != OUT_IDLE;
}

int NOINST fwp_tx_has_data(void)
{
    uint16_t used;
    if (fwp.out_state != OUT_IDLE || fwp.reply_len)
        return 1;
    fwp_port_critical_enter();
    used = (uint16_t)(fwp.head - fwp.tail);
    fwp_port_critical_exit();
    return used != 0 || fwp.stop_acks != 0;
}
