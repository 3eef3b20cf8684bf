/*
 * firmwatch core internals shared by the core's .c files (not for ports).
 */
#ifndef FW_INTERNAL_H
#define FW_INTERNAL_H

#include "firmwatch.h"

/* ---- checks of the compile-time limits ---- */
#define FW_MASK_BYTES ((FW_MAX_STREAMS + 7) / 8)
#define FW_SAMPLES_HDR (6 + FW_MASK_BYTES) /* seq, ticks, mask */
#define FW_PERIOD_MHZ ((uint32_t)FW_TICK_HZ * 1000u) /* phase accumulator modulus */

#define FW_STATIC_ASSERT(c, name) typedef char fw_assert_##name[(c) ? 1 : -1]
FW_STATIC_ASSERT(FW_MAX_STREAMS >= 1 && FW_MAX_STREAMS <= 32, max_streams_1_to_32);
FW_STATIC_ASSERT(FW_MAX_REGIONS >= 1 && FW_MAX_REGIONS <= FW_MAX_TOTAL_REGIONS, max_regions);
FW_STATIC_ASSERT(FW_MAX_TOTAL_REGIONS <= 255, total_regions_fit_u8);
FW_STATIC_ASSERT((FW_TX_SIZE & (FW_TX_SIZE - 1)) == 0 && FW_TX_SIZE >= 64 && FW_TX_SIZE <= 32768,
                 tx_size_power_of_two);
FW_STATIC_ASSERT(FW_TX_SIZE >= FW_MAX_PAYLOAD + 8, tx_holds_the_largest_frame);
FW_STATIC_ASSERT(FW_RX_SIZE >= FW_MAX_PAYLOAD + 9 && FW_RX_SIZE <= 255, rx_holds_one_frame);
/* 246: a frame is at most 254 bytes, which the connect-time resync (docs/protocol.md) relies on */
FW_STATIC_ASSERT(FW_MAX_PAYLOAD >= 64 && FW_MAX_PAYLOAD <= 246, max_payload_range);
FW_STATIC_ASSERT(FW_MAX_STREAM_BYTES + FW_SAMPLES_HDR <= FW_MAX_PAYLOAD, stream_fits_frame);
FW_STATIC_ASSERT(FW_PERIOD_MHZ <= 0x7FFFFFFFu, tick_hz_fits_accumulator);

/* Every reply must fit the TX buffer in one piece, or it could never be sent (a command
 * would be executed without an answer): the worst cases for these limits, checked here so a
 * configuration that cannot answer fails to compile instead. The region table in IDENT/INFO
 * depends on the port's fw_config_t: 35 + build id + 9 bytes per region must fit as well. */
#define FW_TX_ROOM (FW_TX_SIZE - 8)
#define FW_LIST_DATA_MAX (2 + 6 * FW_MAX_STREAMS + 6 * FW_MAX_TOTAL_REGIONS)
#define FW_STATUS_DATA_MAX (30 + 5 * FW_MAX_STREAMS)
FW_STATIC_ASSERT(FW_LIST_DATA_MAX <= FW_TX_ROOM, LIST_reply_needs_a_larger_FW_TX_SIZE);
FW_STATIC_ASSERT(FW_STATUS_DATA_MAX <= FW_TX_ROOM, STATUS_reply_needs_a_larger_FW_TX_SIZE);
#if FW_TEXT_MODE
/* DATA|addr=0x12345678|hex=<2 per byte>|t=<10 digits>|seq=<5>|stream=<2>|crc=XXXX\n */
#define FW_TEXT_DATA_LINE(bytes) (68 + 2 * (bytes))
/* STREAM|stream=NN|rate_mhz=<10>|regions=0x12345678+65535,...|crc=XXXX\n */
#define FW_TEXT_LIST_LINE (56 + 17 * FW_MAX_REGIONS)
FW_STATIC_ASSERT(FW_TEXT_DATA_LINE(FW_MAX_PAYLOAD - 5) <= FW_TX_ROOM, text_READ_reply_needs_a_larger_FW_TX_SIZE);
/* one stream's sample lines are queued together (one coherent snapshot) */
FW_STATIC_ASSERT(FW_MAX_REGIONS * FW_TEXT_DATA_LINE(0) + 2 * FW_MAX_STREAM_BYTES <= FW_TX_ROOM,
                 text_samples_need_a_larger_FW_TX_SIZE_or_fewer_FW_MAX_REGIONS);
FW_STATIC_ASSERT(FW_TEXT_LIST_LINE <= FW_TX_ROOM, text_LIST_line_needs_a_larger_FW_TX_SIZE);
#endif

#if FW_MAX_STREAM_BYTES <= 255
typedef uint8_t fw_rsize_t;
#else
typedef uint16_t fw_rsize_t;
#endif

#if defined(__AVR__)
/* AVR keeps const data in RAM unless told otherwise: put tables and strings in flash. */
#include <avr/pgmspace.h>
#define FW_ROM PROGMEM
#define FW_ROM_BYTE(p) pgm_read_byte(p)
#else
#define FW_ROM
#define FW_ROM_BYTE(p) (*(const uint8_t *)(p))
#endif

/* ---- wire constants (docs/protocol.md) ---- */
enum {
    FW_T_IDENTIFY = 0x01, FW_T_READ = 0x02, FW_T_WRITE = 0x03, FW_T_STREAM_START = 0x04,
    FW_T_STREAM_STOP = 0x05, FW_T_LIST = 0x06, FW_T_STATUS = 0x07, FW_T_MODE = 0x08,
    FW_T_STREAM_FILTER = 0x09, FW_T_CAPTURE_ARM = 0x0A, FW_T_CAPTURE_CONTROL = 0x0B,
    FW_T_CAPTURE_STATUS = 0x0C, FW_T_CAPTURE_READ = 0x0D,
    FW_T_ACK = 0x80, FW_T_IDENT = 0x81, FW_T_READ_DATA = 0x82, FW_T_WRITE_DATA = 0x83,
    FW_T_LIST_DATA = 0x86, FW_T_STATUS_DATA = 0x87, FW_T_CAPTURE_STATUS_DATA = 0x88,
    FW_T_SAMPLES = 0x90, FW_T_CAPTURE_DATA = 0x91, FW_T_ERROR = 0xEE
};
enum {
    FW_E_OK = 0, FW_E_BAD_COMMAND = 1, FW_E_BAD_LENGTH = 2, FW_E_NOT_READABLE = 3,
    FW_E_NOT_WRITABLE = 4, FW_E_NO_STREAM = 5, FW_E_TOO_MANY_REGIONS = 6,
    FW_E_STREAM_TOO_BIG = 7, FW_E_BAD_RATE = 8, FW_E_TOO_BIG = 9, FW_E_BAD_MODE = 10,
    FW_E_READBACK = 11, FW_E_NO_CAPTURE = 12, FW_E_CAPTURE_TOO_BIG = 13, FW_E_BAD_CONDITION = 14
};
/* IDENT flags: bit 0 big-endian, then the optional modules compiled in */
#define FW_FLAG_CAPTURE 0x02u
#define FW_FLAG_CHANGE_ONLY 0x04u
#define FW_OPTION_FLAGS ((FW_CAPTURE ? FW_FLAG_CAPTURE : 0u) | (FW_CHANGE_ONLY ? FW_FLAG_CHANGE_ONLY : 0u))
/* value kinds of STREAM_FILTER regions and of a capture's trigger channel */
enum { FW_K_NONE = 0, FW_K_ANY = 1, FW_K_UNSIGNED = 2, FW_K_SIGNED = 3, FW_K_FLOAT = 4 };
enum { FW_MODE_TEXT = 0, FW_MODE_BINARY = 1 };
/* check() derives the access and the error of READ/WRITE from the request type */
FW_STATIC_ASSERT(FW_T_READ - 1 == FW_ACCESS_READ && FW_T_WRITE - 1 == FW_ACCESS_WRITE, rw_access);
FW_STATIC_ASSERT(FW_T_READ + 1 == FW_E_NOT_READABLE && FW_T_WRITE + 1 == FW_E_NOT_WRITABLE, rw_errors);
enum { FW_RX_IDLE = 0, FW_RX_LINE = 1, FW_RX_SKIP = 2 };

#if FW_CAPTURE
FW_STATIC_ASSERT(FW_CAPTURE_MAX_CHANNELS >= 1 && FW_CAPTURE_MAX_CHANNELS <= 32, capture_channels);
/* CAPTURE_ARM with every channel fits a command; CAPTURE_STATUS_DATA fits TX */
FW_STATIC_ASSERT(27 + 6 * FW_CAPTURE_MAX_CHANNELS <= FW_MAX_PAYLOAD, capture_arm_fits_a_command);
FW_STATIC_ASSERT(65 + 6 * FW_CAPTURE_MAX_CHANNELS <= FW_TX_ROOM, capture_status_needs_a_larger_FW_TX_SIZE);
#define FW_CAPTURE_CHUNK (FW_MAX_PAYLOAD - 6) /* data bytes per CAPTURE_DATA frame */
#ifndef FW_CAPTURE_TX_RESERVE /* TX bytes an upload leaves free for samples and replies */
#define FW_CAPTURE_TX_RESERVE (FW_TX_SIZE / 4)
#endif
enum { FW_CAP_IDLE = 0, FW_CAP_ARMED = 1, FW_CAP_TRIGGERED = 2, FW_CAP_DONE = 3, FW_CAP_OVERRUN = 4 };
#ifndef FW_CAPTURE_OVERRUN /* late capture timer interrupts with no main loop run between them that stop a capture */
#define FW_CAPTURE_OVERRUN 16
#endif
/* A timer capture stops when the main loop has not run for 1/FW_CAPTURE_STARVE_PER_S s (0: never):
 * the sampling interrupt takes all the CPU, even when it is never late enough to count a slip,
 * and a capture waiting for a trigger (or a Force the main loop cannot read) would hold the
 * device forever. A port whose capture timer does not share the CPU (a host thread) sets 0. */
#ifndef FW_CAPTURE_STARVE_PER_S
#define FW_CAPTURE_STARVE_PER_S 4
#endif

typedef struct {
    const fw_capture_config_t *cfg; /* NULL: no buffer */
    /* the configuration of CAPTURE_ARM */
    uint32_t caddr[FW_CAPTURE_MAX_CHANNELS];
    uint8_t csize[FW_CAPTURE_MAX_CHANNELS];
    uint8_t nch, mode, source, trig_ch, trig_op, trig_kind, trig_off, trig_size;
    uint16_t sample_bytes;
    uint32_t divider, samples, pre, level, mask, level_key;
    /* the run: written by the sampling interrupt once armed */
    volatile uint8_t state;
    uint8_t force, have_prev;
    uint16_t id;            /* increments when a capture completes */
    uint32_t div_left, wpos, count, trig_slot, held_pre, post_left, trig_ticks, slips, prev_key;
    uint32_t since_slip; /* samples taken since the last slip */
    uint8_t late_run;    /* slips since the main loop last ran */
    volatile uint8_t polls; /* fw_poll() runs (modulo 256): is the main loop starving? */
    uint8_t polls_at;    /* polls when the run of slips began */
    uint8_t starve_polls; /* polls at the last sample */
    uint32_t starve_limit, starve_left; /* samples without a poll that stop a timer capture (0: never) */
    /* the upload in progress (main context) */
    uint32_t up_off, up_end;
} fw_cap_t;
#endif

/* ---- state (one struct so its footprint is one symbol) ---- */
/* Small counts and indices (always < 256): a byte on AVR, a full register on 32-bit CPUs,
 * where a uint8_t local costs a zero-extension after every operation. */
typedef uint_fast8_t fw_idx_t;

typedef struct {
    const fw_config_t *cfg;
    /* streams: struct of arrays, no padding; a stream runs when rate != 0 */
    uint32_t rate[FW_MAX_STREAMS]; /* milli-hertz */
    uint32_t acc[FW_MAX_STREAMS];  /* phase accumulator, < FW_PERIOD_MHZ */
    uint32_t sdropped[FW_MAX_STREAMS];
    uint8_t nreg[FW_MAX_STREAMS];
    /* region pool, ordered by stream id: stream s owns nreg[s] entries after those of 0..s-1 */
    uint32_t raddr[FW_MAX_TOTAL_REGIONS];
    fw_rsize_t rsize[FW_MAX_TOTAL_REGIONS];
    /* counters */
    uint32_t ticks, dropped, overflows, rx_errors;
    uint16_t seq;
    /* TX ring: free-running indices; bytes in [tail, commit) are ready */
    uint16_t tx_head, tx_commit, tx_tail, tx_high;
    uint8_t tx_pending;     /* reservations being filled */
    uint8_t reply_waiting;  /* a reply waits for TX space: samples yield to it */
    uint8_t text_out;      /* output mode: 1 text, 0 binary (the reset state) */
#if FW_TEXT_MODE
    uint8_t list_next;     /* text LIST in progress: the next stream id to list */
#endif
#if FW_CHANGE_ONLY
    /* change-only streams: per pool entry (moved with it) the kind, deadband and value last sent */
    uint8_t fkind[FW_MAX_TOTAL_REGIONS];
    uint32_t fband[FW_MAX_TOTAL_REGIONS];
    uint32_t flast[FW_MAX_TOTAL_REGIONS];
    uint16_t hbeat[FW_MAX_STREAMS]; /* 0: the stream is not filtered */
    uint16_t hleft[FW_MAX_STREAMS]; /* due instants that may still pass silently */
#endif
#if FW_CAPTURE
    fw_cap_t cap;
#endif
    /* RX ring (indices are bytes so ISR and main exchange them atomically on 8-bit CPUs) */
    volatile uint8_t rx_head, rx_tail;
    uint8_t rx_state, rx_scan;
    uint8_t rx[FW_RX_SIZE];
} fw_state_t;

extern fw_state_t fw;
extern uint8_t fw_txbuf[FW_TX_SIZE];

/* ---- output: the same generator runs twice, once counting, once writing ---- */
typedef struct {
    uint16_t pos; /* ring index of the next byte (write pass) */
    uint16_t start; /* ring index of the frame's (or the text line's) first byte */
    uint16_t n;   /* bytes emitted so far */
    uint8_t write;
} fw_out_t;

void fw_out_byte(fw_out_t *o, uint_fast8_t b); /* the low 8 bits of b */
void fw_out_u16(fw_out_t *o, uint16_t v);
void fw_out_u32(fw_out_t *o, uint32_t v);
void fw_out_mem(fw_out_t *o, uint32_t addr, uint16_t size); /* raw copy, caller holds critical */
#if FW_TEXT_MODE
void fw_out_rom(fw_out_t *o, const char *s); /* NUL-terminated string in FW_ROM */
void fw_out_hex8(fw_out_t *o, uint8_t v);
void fw_out_hex32(fw_out_t *o, uint32_t v); /* 0xXXXXXXXX */
void fw_out_dec(fw_out_t *o, uint32_t v);
void fw_out_hexmem(fw_out_t *o, uint32_t addr, uint16_t size); /* caller holds critical */
#endif

uint16_t fw_crc16(uint16_t crc, uint8_t b);
uint16_t fw_tx_crc(uint16_t from, uint16_t to); /* CRC of TX ring bytes [from, to) */
int fw_tx_reserve(uint16_t n, uint16_t *start);
uint16_t fw_tx_free(void);
void fw_tx_commit(void);
/* A binary frame in the TX ring: begin reserves it and writes the header (0: no room),
 * the caller writes the payload, end adds CRC and trailer and makes it visible. */
int fw_frame_begin(fw_out_t *o, uint8_t type, uint16_t len);
void fw_frame_end(fw_out_t *o);

uint32_t fw_read32_atomic(const uint32_t *p);
/* STATUS counters in wire order (fw_cmd_t.sv). */
#define FW_STATUS_WORDS 9
void fw_status_words(uint32_t sv[FW_STATUS_WORDS]);
/* 0 when [addr, addr+size) lies inside regions granting `access`; else 1, with the first
 * address not covered (mod 2^32) in *bad. */
int fw_check_range(uint32_t addr, uint32_t size, uint8_t access, uint32_t *bad);
volatile uint8_t *fw_mem(uint32_t addr);
/* With FW_WORD_ACCESS, aligned whole words move as 32-bit accesses: peripheral registers answer
 * only whole-word accesses on many buses (a byte load faults, or reads one lane of the register),
 * and a word read in one access is coherent. Anything else moves byte by byte. */
static inline int fw_word_access(volatile uint8_t *p, uint16_t size)
{
    return FW_WORD_ACCESS && ((((uintptr_t)p) | size) & 3u) == 0;
}

/* ---- streams (fw_stream.c) ---- */
fw_idx_t fw_pool_offset(fw_idx_t stream);
fw_idx_t fw_pool_used(void);
fw_idx_t fw_streams_running(void);
void fw_drop(uint32_t mask); /* count a SAMPLES frame (and its streams) as dropped */

/* ---- commands (fw_cmd.c / fw_text.c) ---- */
typedef struct {
    uint8_t text;   /* request came as a text line */
    uint8_t type;   /* request type (FW_T_*) */
    uint8_t tag;
    uint8_t err;    /* FW_E_*: the reply is an error */
    uint8_t arg;    /* stream id / mode */
    uint8_t n;      /* STREAM_START: region count */
    uint8_t off;    /* RX offset (from tail) of the data / regions */
    uint16_t size;  /* READ/WRITE bytes; text STREAM region size */
    uint32_t addr;  /* READ/WRITE address; text STREAM region address */
    uint32_t rate;  /* STREAM_START, milli-hertz */
    uint32_t detail;
    /* STATUS: one snapshot for both output passes (text widths vary), in wire order:
     * dropped, overflows, rx_errors, tx_used, tx_size, tx_high_water, ticks, seq, nstreams */
    uint32_t sv[9];
} fw_cmd_t;

uint8_t fw_rx_peek(fw_idx_t i);
uint32_t fw_rx_le(fw_idx_t i, fw_idx_t n);
void fw_cmd_clear(fw_cmd_t *c);
void fw_cmd_region(const fw_cmd_t *c, fw_idx_t i, uint32_t *addr, uint16_t *size);
uint8_t fw_cmd_data(const fw_cmd_t *c, uint16_t i);
void fw_stream_install(const fw_cmd_t *c);
void fw_stream_stop(uint8_t stream);
/* Execute and answer; returns 0 when the reply does not fit in TX yet (retry later). */
int fw_cmd_exec(fw_cmd_t *c);
#if FW_TEXT_MODE
int fw_hexval(uint8_t ch); /* 0..15, or -1 when ch is not a hex digit */
int fw_text_line(uint8_t len); /* the line is at RX offset 0, `len` bytes without '\n' */
void fw_text_reply(fw_out_t *o, const fw_cmd_t *c);
int fw_text_list(void); /* a text LIST, one line per TX reservation; 0: retry later */
void fw_text_samples(uint32_t due);
#endif

/* ---- optional modules ---- */
/* A region's value (1, 2 or 4 bytes, native order) zero-extended, and the same read as `kind`
 * into an unsigned key whose order is the value's order (fw_change.c). */
uint32_t fw_value_raw(const volatile uint8_t *p, uint8_t size);
uint32_t fw_value_key(uint32_t raw, uint8_t size, uint8_t kind);
/* A command the optional modules answer themselves; returns as fw_cmd_exec() does. */
int fw_reply_simple(uint8_t tag, uint8_t err, uint32_t detail, void (*apply)(void));
#if FW_CHANGE_ONLY
int fw_filter_command(fw_idx_t len);
uint32_t fw_filter_due(uint32_t due); /* clears the filtered streams whose values did not move */
/* The value a queued sample carried becomes the one last sent: pool entry i, from its bytes in
 * the TX ring at `pos` (binary) or from memory inside the copy's critical section (text). */
void fw_filter_note_tx(fw_idx_t i, uint16_t pos);
void fw_filter_note_mem(fw_idx_t i);
void fw_filter_sent(fw_idx_t s); /* stream s was queued: its heartbeat starts over */
#endif
#if FW_CAPTURE
int fw_capture_command(fw_idx_t type, fw_idx_t len);
void fw_capture_tick(void);
void fw_capture_pump(void);
#endif

#endif
