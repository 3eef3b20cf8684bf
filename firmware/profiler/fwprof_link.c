/*
 * One serial line for the memory streamer (firmware/core) and the profiler.
 *
 * Input.  The streamer's binary frames start AA 55, its text lines start with a letter of a
 * verb (none starts with 'U'); a profiler command packet starts 55. So at a message boundary
 * a 55 can only be a profiler packet: the link holds it and the bytes after it while they can
 * still be one (fwp_cmd_prefix_ok: length <= 8, zero padding, then the 8-bit sum), hands a
 * complete packet to the profiler, and gives every byte of a failed candidate to the streamer
 * in order (the bytes after its first are examined again, so a packet behind a false start is
 * still found). Inside a streamer frame (tracked by its length field) or a text line, a 55 is
 * the streamer's.
 *
 * Output.  Both halves emit whole frames (the streamer also text lines); the link switches
 * between them only at a frame or line boundary, alternating when both have output. Device ->
 * host frames never confuse a host: the profiler's types are 0x01-0x05 with a CRC over the AA 55
 * header, the streamer's 0x80 and above with a CRC that leaves the header out, so a frame taken
 * for the other kind also fails that kind's CRC.
 *
 * A port that already drives the streamer shares its line without a change: link with
 *   -Wl,--wrap=fw_rx_byte,--wrap=fw_rx_free,--wrap=fw_tx_byte,--wrap=fw_tx_pop,--wrap=fw_tx_pending,--wrap=fw_poll
 * and compile this file with -DFWP_LINK_WRAP: the port's calls then come here. A port written
 * for both calls the fwp_link_* functions itself.
 */
#include "firmwatch.h"
#include "fwprof.h"

#define NOINST __attribute__((no_instrument_function))

#ifdef FWP_LINK_WRAP
#define CORE(name) __real_##name
void __real_fw_rx_byte(uint8_t b);
size_t __real_fw_rx_free(void);
int __real_fw_tx_byte(void);
size_t __real_fw_tx_pending(void);
void __real_fw_poll(void);
#else
#define CORE(name) name
#endif

/* The profiler's port hooks, on a shared line, are the streamer's. */
void NOINST fwp_port_critical_enter(void)
{
    fw_port_critical_enter();
}

void NOINST fwp_port_critical_exit(void)
{
    fw_port_critical_exit();
}

void NOINST fwp_port_tx_ready(void)
{
    fw_port_tx_ready();
}

/* ---- input ---- */

enum { IN_IDLE, IN_LINE, IN_HEADER, IN_BODY };

static struct {
    uint8_t state;
    uint8_t header_n; /* bytes of a streamer frame header seen (AA 55 type len len) */
    uint16_t len;
    uint16_t left; /* bytes of the streamer frame still to come */
    uint8_t cand[FWP_CMD_SIZE];
    uint8_t cand_n;
} in;

/* A byte for the streamer: follow its framing so that a 55 inside a frame stays its. */
static void NOINST to_streamer(uint8_t b)
{
    CORE(fw_rx_byte)(b);
    switch (in.state) {
    case IN_IDLE:
    case IN_LINE:
        if (b == 0xAA) {
            in.state = IN_HEADER;
            in.header_n = 1;
        } else if (in.state == IN_IDLE) {
            if (b >= 0x20 && b <= 0x7E)
                in.state = IN_LINE;
        } else if (b == 0x0A || ((b < 0x20 || b > 0x7E) && b != '\r' && b != '\t')) {
            in.state = IN_IDLE; /* the line ended (or the streamer drops it as bad) */
        }
        break;
    case IN_HEADER:
        in.header_n++;
        if (in.header_n == 2 && b != 0x55) {
            in.state = b == 0xAA ? IN_HEADER : IN_IDLE; /* the streamer rescans too */
            in.header_n = 1;
        } else if (in.header_n == 4) {
            in.len = b;
        } else if (in.header_n == 5) {
            in.len = (uint16_t)(in.len | (uint16_t)b << 8);
            if (in.len > FW_MAX_PAYLOAD) {
                in.state = IN_IDLE; /* a bad frame to the streamer: it resynchronises */
            } else {
                in.left = (uint16_t)(in.len + 3u);
                in.state = IN_BODY;
            }
        }
        break;
    default: /* IN_BODY */
        if (--in.left == 0)
            in.state = IN_IDLE;
        break;
    }
}

void NOINST fwp_link_rx_byte(uint8_t b)
{
    /* bytes to examine: this one, then those of a failed candidate after its first byte */
    uint8_t q[FWP_CMD_SIZE], qn = 1, qi = 0;
    q[0] = b;
    while (qi < qn) {
        b = q[qi++];
        if (in.cand_n) {
            in.cand[in.cand_n++] = b;
            if (!fwp_cmd_prefix_ok(in.cand, in.cand_n)) {
                uint8_t i, n = 0, t[FWP_CMD_SIZE];
                to_streamer(in.cand[0]);
                for (i = 1; i < in.cand_n; i++)
                    t[n++] = in.cand[i];
                while (qi < qn)
                    t[n++] = q[qi++];
                for (i = 0; i < n; i++)
                    q[i] = t[i];
                qi = 0;
                qn = n;
                in.cand_n = 0;
            } else if (in.cand_n == FWP_CMD_SIZE) {
                fwp_cmd_packet(in.cand);
                in.cand_n = 0;
            }
        } else if (in.state == IN_IDLE && b == 0x55) {
            in.cand[0] = b;
            in.cand_n = 1;
        } else {
            to_streamer(b);
        }
    }
}

size_t NOINST fwp_link_rx_free(void)
{
    /* a failed candidate hands the streamer up to a whole packet at once */
    size_t n = CORE(fw_rx_free)();
    return n > FWP_CMD_SIZE ? n - FWP_CMD_SIZE : 0;
}

void NOINST fwp_link_poll(void)
{
    fwp_poll();
    CORE(fw_poll)();
}

/* ---- output ---- */

enum { NONE, STREAMER, PROFILER };
enum { S_START, S_HEADER, S_BODY, S_LINE };

static struct {
    uint8_t owner; /* who is in the middle of a frame */
    uint8_t turn;  /* who goes first at the next boundary */
    uint8_t s_state, s_n;
    uint16_t s_left;
} out;

/* A byte of the streamer's output, following its frames and lines to know their ends. */
static int NOINST streamer_byte(void)
{
    int b = CORE(fw_tx_byte)();
    if (b < 0)
        return b;
    switch (out.s_state) {
    case S_START:
        if (b == 0xAA) {
            out.s_state = S_HEADER;
            out.s_n = 1;
        } else if (b != 0x0A) {
            out.s_state = S_LINE;
        }
        break;
    case S_HEADER:
        if (++out.s_n == 4) {
            out.s_left = (uint16_t)b;
        } else if (out.s_n == 5) {
            out.s_left = (uint16_t)((out.s_left | (uint16_t)b << 8) + 3u);
            out.s_state = S_BODY;
        }
        break;
    case S_BODY:
        if (--out.s_left == 0)
            out.s_state = S_START;
        break;
    default: /* S_LINE */
        if (b == 0x0A)
            out.s_state = S_START;
        break;
    }
    return b;
}

static int NOINST from(uint8_t who)
{
    int b;
    if (who == PROFILER) {
        b = fwp_tx_byte();
        if (b >= 0)
            out.owner = fwp_tx_in_frame() ? PROFILER : NONE;
    } else {
        b = streamer_byte();
        if (b >= 0)
            out.owner = out.s_state != S_START ? STREAMER : NONE;
    }
    if (b >= 0 && out.owner == NONE)
        out.turn = who == PROFILER ? STREAMER : PROFILER;
    return b;
}

int NOINST fwp_link_tx_byte(void)
{
    int b;
    if (out.owner != NONE)
        return from(out.owner);
    b = from(out.turn);
    if (b < 0)
        b = from(out.turn == PROFILER ? STREAMER : PROFILER);
    return b;
}

size_t NOINST fwp_link_tx_pop(uint8_t *buf, size_t max)
{
    size_t n = 0;
    int b;
    while (n < max && (b = fwp_link_tx_byte()) >= 0)
        buf[n++] = (uint8_t)b;
    return n;
}

size_t NOINST fwp_link_tx_pending(void)
{
    return CORE(fw_tx_pending)() + (fwp_tx_has_data() ? 1u : 0u);
}

#ifdef FWP_LINK_WRAP
void __wrap_fw_rx_byte(uint8_t b) __attribute__((alias("fwp_link_rx_byte")));
size_t __wrap_fw_rx_free(void) __attribute__((alias("fwp_link_rx_free")));
int __wrap_fw_tx_byte(void) __attribute__((alias("fwp_link_tx_byte")));
size_t __wrap_fw_tx_pop(uint8_t *buf, size_t max) __attribute__((alias("fwp_link_tx_pop")));
size_t __wrap_fw_tx_pending(void) __attribute__((alias("fwp_link_tx_pending")));
void __wrap_fw_poll(void) __attribute__((alias("fwp_link_poll")));
#endif
