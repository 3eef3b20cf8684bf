/*
 * firmwatch core: the input parser (text lines and binary frames, byte by byte over the
 * RX ring), command validation, side effects and binary replies.
 *
 * A frame's bytes stay in the RX ring until the frame is resolved, so when a frame turns
 * out bad the parser drops only its first byte and rescans the rest: resynchronisation
 * needs no second buffer, and a good frame hidden inside garbage is still found.
 */
#include "fw_internal.h"

static uint8_t rx_count(void)
{
    uint8_t h = fw.rx_head, t = fw.rx_tail;
    return (uint8_t)(h >= t ? h - t : FW_RX_SIZE - t + h);
}

static void rx_drop(uint8_t n)
{
    uint16_t t = (uint16_t)fw.rx_tail + n;
    if (t >= FW_RX_SIZE) {
        t -= FW_RX_SIZE;
    }
    fw.rx_tail = (uint8_t)t;
}

void fw_cmd_region(const fw_cmd_t *c, uint8_t i, uint32_t *addr, uint16_t *size)
{
#if FW_TEXT_MODE
    if (c->text) {
        *addr = c->addr; /* text STREAM: one region */
        *size = c->size;
        return;
    }
#endif
    *addr = fw_rx_le((uint8_t)(c->off + 6u * i), 4);
    *size = (uint16_t)fw_rx_le((uint8_t)(c->off + 6u * i + 4u), 2);
}

#if FW_TEXT_MODE
static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    return (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
}
#endif

uint8_t fw_cmd_data(const fw_cmd_t *c, uint16_t i)
{
#if FW_TEXT_MODE
    if (c->text) {
        uint8_t k = (uint8_t)(c->off + 2u * i);
        return (uint8_t)(hexval(fw_rx_peek(k)) << 4 | hexval(fw_rx_peek((uint8_t)(k + 1u))));
    }
#endif
    return fw_rx_peek((uint8_t)(c->off + i));
}

void fw_cmd_clear(fw_cmd_t *c)
{
    uint8_t *p = (uint8_t *)c;
    uint8_t i;
    for (i = 0; i < sizeof *c; i++) {
        p[i] = 0;
    }
}

static void fail(fw_cmd_t *c, uint8_t err, uint32_t detail)
{
    if (c->err == 0) {
        c->err = err;
        c->detail = detail;
    }
}

static void check(fw_cmd_t *c)
{
    uint32_t bad;
    switch (c->type) {
    case FW_T_READ:
    case FW_T_WRITE:
        if (c->size == 0) {
            fail(c, FW_E_BAD_LENGTH, 0);
        } else if (c->size > FW_MAX_PAYLOAD - 5) {
            fail(c, FW_E_TOO_BIG, FW_MAX_PAYLOAD - 5);
        } else if (fw_check_range(c->addr, c->size,
                                  c->type == FW_T_READ ? FW_ACCESS_READ : FW_ACCESS_WRITE, &bad)) {
            fail(c, c->type == FW_T_READ ? FW_E_NOT_READABLE : FW_E_NOT_WRITABLE, bad);
        }
        break;
    case FW_T_STREAM_START: {
        uint8_t s = c->arg, i;
        uint16_t total = 0;
        if (s >= FW_MAX_STREAMS) {
            fail(c, FW_E_NO_STREAM, s);
        } else if (c->n == 0) {
            fail(c, FW_E_BAD_LENGTH, 0);
        } else if (c->n > FW_MAX_REGIONS) {
            fail(c, FW_E_TOO_MANY_REGIONS, FW_MAX_REGIONS);
        } else if (c->rate == 0 || c->rate > FW_PERIOD_MHZ) {
            fail(c, FW_E_BAD_RATE, FW_TICK_HZ);
        } else if (fw_pool_used() - fw.nreg[s] + c->n > FW_MAX_TOTAL_REGIONS) {
            fail(c, FW_E_TOO_MANY_REGIONS, FW_MAX_TOTAL_REGIONS - (fw_pool_used() - fw.nreg[s]));
        }
        for (i = 0; c->err == 0 && i < c->n; i++) {
            uint32_t a;
            uint16_t z;
            fw_cmd_region(c, i, &a, &z);
            total = (uint16_t)(total + z);
            if (z == 0) {
                fail(c, FW_E_BAD_LENGTH, 0);
            } else if (z > FW_MAX_STREAM_BYTES || total > FW_MAX_STREAM_BYTES) {
                fail(c, FW_E_STREAM_TOO_BIG, FW_MAX_STREAM_BYTES);
            } else if (fw_check_range(a, z, FW_ACCESS_READ, &bad)) {
                fail(c, FW_E_NOT_READABLE, bad);
            }
        }
        break;
    }
    case FW_T_STREAM_STOP:
        if (c->arg != 0xFF && (c->arg >= FW_MAX_STREAMS || fw.nreg[c->arg] == 0)) {
            fail(c, FW_E_NO_STREAM, c->arg);
        }
        break;
    case FW_T_MODE:
        if (c->arg > 1) {
            fail(c, FW_E_BAD_MODE, c->arg);
        }
        break;
    default:
        break;
    }
}

static void apply(const fw_cmd_t *c)
{
    switch (c->type) {
    case FW_T_WRITE: {
        volatile uint8_t *p = fw_mem(c->addr);
        uint16_t i;
        fw_port_critical_enter(); /* a multi-byte value changes at once */
        for (i = 0; i < c->size; i++) {
            p[i] = fw_cmd_data(c, i);
        }
        fw_port_critical_exit();
        break;
    }
    case FW_T_STREAM_START:
        fw_stream_install(c);
        break;
    case FW_T_STREAM_STOP:
        fw_stream_stop(c->arg);
        break;
    default:
        break;
    }
}

static void out_regions(fw_out_t *o, uint8_t off, uint8_t n)
{
    uint8_t i;
    for (i = 0; i < n; i++) {
        fw_out_u32(o, fw.raddr[off + i]);
        fw_out_u16(o, fw.rsize[off + i]);
    }
}

static void bin_reply(fw_out_t *o, const fw_cmd_t *c)
{
    uint8_t s, i;
    fw_out_byte(o, c->tag);
    if (c->err) {
        fw_out_byte(o, c->err);
        fw_out_u32(o, c->detail);
        return;
    }
    switch (c->type) {
    case FW_T_IDENTIFY: {
        const fw_config_t *cfg = fw.cfg;
        fw_out_byte(o, FW_PROTO_VERSION);
        fw_out_byte(o, cfg->big_endian ? 1u : 0u);
        fw_out_byte(o, cfg->word_size);
        fw_out_byte(o, 4);
        fw_out_u32(o, FW_TICK_HZ);
        fw_out_byte(o, FW_MAX_STREAMS);
        fw_out_byte(o, FW_MAX_REGIONS);
        fw_out_u16(o, FW_MAX_STREAM_BYTES);
        fw_out_u16(o, FW_MAX_PAYLOAD);
        fw_out_u16(o, FW_TX_SIZE);
        fw_out_byte(o, cfg->build_id ? cfg->build_id_len : 0u);
        for (i = 0; cfg->build_id && i < cfg->build_id_len; i++) {
            fw_out_byte(o, cfg->build_id[i]);
        }
        fw_out_byte(o, cfg->nregions);
        for (i = 0; i < cfg->nregions; i++) {
            fw_out_u32(o, cfg->regions[i].start);
            fw_out_u32(o, cfg->regions[i].size);
            fw_out_byte(o, cfg->regions[i].access);
        }
        break;
    }
    case FW_T_READ:
    case FW_T_WRITE:
        fw_out_u32(o, c->addr);
        fw_port_critical_enter();
        fw_out_mem(o, c->addr, c->size);
        fw_port_critical_exit();
        break;
    case FW_T_LIST: {
        uint8_t off = 0;
        fw_out_byte(o, fw_streams_running());
        for (s = 0; s < FW_MAX_STREAMS; s++) {
            uint8_t n = fw.nreg[s];
            if (n) {
                fw_out_byte(o, s);
                fw_out_u32(o, fw.rate[s]);
                fw_out_byte(o, n);
                out_regions(o, off, n);
            }
            off = (uint8_t)(off + n);
        }
        break;
    }
    case FW_T_STATUS: {
        const fw_status_t *st = &c->st;
        fw_out_u32(o, st->dropped);
        fw_out_u32(o, st->overflows);
        fw_out_u32(o, st->rx_errors);
        fw_out_u16(o, st->tx_used);
        fw_out_u16(o, FW_TX_SIZE);
        fw_out_u16(o, st->tx_high_water);
        fw_out_u32(o, st->ticks);
        fw_out_byte(o, st->nstreams);
        for (s = 0; s < FW_MAX_STREAMS; s++) {
            if (fw.nreg[s]) {
                fw_out_byte(o, s);
                fw_out_u32(o, fw_read32_atomic(&fw.sdropped[s]));
            }
        }
        break;
    }
    default: /* ACK: tag only */
        break;
    }
}

static uint8_t reply_type(const fw_cmd_t *c)
{
    if (c->err) {
        return FW_T_ERROR;
    }
    switch (c->type) {
    case FW_T_IDENTIFY: case FW_T_READ: case FW_T_WRITE: case FW_T_LIST: case FW_T_STATUS:
        return (uint8_t)(c->type | 0x80u);
    default:
        return FW_T_ACK;
    }
}

static void gen(fw_out_t *o, const fw_cmd_t *c)
{
#if FW_TEXT_MODE
    if (c->text) {
        fw_text_reply(o, c);
        return;
    }
#endif
    bin_reply(o, c);
}

int fw_cmd_exec(fw_cmd_t *c)
{
    fw_out_t o = {0, 0, 0};
    uint16_t start, total;
    check(c);
    if (c->type == FW_T_STATUS) {
        fw_get_status(&c->st);
    }
    gen(&o, c); /* counting pass */
    total = (uint16_t)(c->text ? o.n : o.n + 8u);
    if (total <= FW_TX_SIZE) {
        if (!fw_tx_reserve(total, &start)) {
            fw.reply_waiting = 1; /* samples yield until this reply fits */
            return 0;
        }
        fw.reply_waiting = 0;
        if (c->err == 0) {
            apply(c);
        }
        o.pos = start;
        o.n = 0;
        o.write = 1;
        if (!c->text) {
            fw_frame_head(&o, reply_type(c), (uint16_t)(total - 8u));
        }
        gen(&o, c);
        if (!c->text) {
            fw_frame_tail(&o, start);
        }
        fw_tx_commit();
    }
    /* The output mode follows the last command that succeeded, so line noise that looks
     * like a text line cannot switch a binary link to text. */
    if (c->err == 0) {
        fw.mode = c->type == FW_T_MODE ? c->arg : (c->text ? FW_MODE_TEXT : FW_MODE_BINARY);
    }
    return 1;
}

/* Parse the binary command whose payload starts at RX offset 5. */
static int bin_command(uint8_t type, uint8_t len)
{
    fw_cmd_t c;
    uint8_t need = 1;
    fw_cmd_clear(&c);
    c.type = type;
    c.tag = len ? fw_rx_peek(5) : 0;
    switch (type) {
    case FW_T_IDENTIFY: case FW_T_LIST: case FW_T_STATUS:
        break;
    case FW_T_READ:
        need = 7;
        c.size = (uint16_t)fw_rx_le(10, 2);
        c.addr = fw_rx_le(6, 4);
        break;
    case FW_T_WRITE:
        need = len < 6 ? 6 : len;
        c.size = (uint16_t)(len - 5u);
        c.addr = fw_rx_le(6, 4);
        c.off = 10;
        break;
    case FW_T_STREAM_START:
        c.arg = fw_rx_peek(6);
        c.rate = fw_rx_le(7, 4);
        c.n = fw_rx_peek(11);
        c.off = 12;
        need = len < 7 ? 7 : (uint8_t)(7u + 6u * c.n);
        break;
    case FW_T_STREAM_STOP: case FW_T_MODE:
        need = 2;
        c.arg = fw_rx_peek(6);
        break;
    default:
        c.err = FW_E_BAD_COMMAND;
        c.detail = type;
        need = len;
        break;
    }
    if (len != need || (type == FW_T_STREAM_START && len >= 7 && 7u + 6u * c.n > 255u)) {
        c.err = FW_E_BAD_LENGTH;
        c.detail = len;
    }
    return fw_cmd_exec(&c);
}

static void bad_input(uint8_t drop, uint8_t state)
{
    fw.rx_errors++;
    rx_drop(drop);
    fw.rx_state = state;
}

#if FW_TEXT_MODE
static int printable(uint8_t b)
{
    return b >= 0x20 && b < 0x7F;
}
#endif

void fw_poll(void)
{
    for (;;) {
        uint8_t avail = rx_count();
        uint8_t b;
        if (avail == 0) {
            return;
        }
        b = fw_rx_peek(0);
        if (fw.rx_state == FW_RX_SKIP) {
            /* after bad input: discard up to the next frame start or end of line */
            if (b == 0xAA) {
                fw.rx_state = FW_RX_IDLE;
            } else {
                rx_drop(1);
                if (b == '\n') {
                    fw.rx_state = FW_RX_IDLE;
                }
            }
            continue;
        }
#if FW_TEXT_MODE
        if (fw.rx_state == FW_RX_LINE) {
            uint8_t i = fw.rx_scan;
            for (; i < avail; i++) {
                uint8_t ch = fw_rx_peek(i);
                if (ch == '\n') {
                    if (!fw_text_line(i)) {
                        fw.rx_scan = i;
                        return;
                    }
                    rx_drop((uint8_t)(i + 1u));
                    fw.rx_state = FW_RX_IDLE;
                    break;
                }
                if (ch == 0xAA) { /* a frame interrupts the line: keep the frame */
                    bad_input(i, FW_RX_IDLE);
                    break;
                }
                if (!printable(ch) && ch != '\r' && ch != '\t') {
                    bad_input((uint8_t)(i + 1u), FW_RX_SKIP);
                    break;
                }
            }
            if (i == avail) {
                fw.rx_scan = i;
                if (avail >= FW_RX_SIZE - 1) { /* line longer than the ring */
                    bad_input(avail, FW_RX_SKIP);
                    continue;
                }
                return;
            }
            continue;
        }
#endif
        if (b == 0xAA) {
            uint16_t len, crc = 0xFFFF, i;
            if (avail < 2) {
                return;
            }
            if (fw_rx_peek(1) != 0x55) {
                bad_input(1, FW_RX_SKIP);
                continue;
            }
            if (avail < 5) {
                return;
            }
            len = (uint16_t)fw_rx_le(3, 2);
            if (len > FW_MAX_PAYLOAD) {
                bad_input(1, FW_RX_SKIP);
                continue;
            }
            if (avail < len + 8u) {
                return;
            }
            for (i = 2; i < len + 5u; i++) {
                crc = fw_crc16(crc, fw_rx_peek((uint8_t)i));
            }
            if (crc != (uint16_t)fw_rx_le((uint8_t)(len + 5u), 2) ||
                fw_rx_peek((uint8_t)(len + 7u)) != 0x0A) {
                bad_input(1, FW_RX_SKIP);
                continue;
            }
            if (!bin_command(fw_rx_peek(2), (uint8_t)len)) {
                return; /* no TX space yet: the frame stays, retried on the next poll */
            }
            rx_drop((uint8_t)(len + 8u));
            continue;
        }
#if FW_TEXT_MODE
        if (printable(b)) {
            fw.rx_state = FW_RX_LINE;
            fw.rx_scan = 0;
            continue;
        }
#endif
        rx_drop(1); /* stray control byte (or text when text mode is compiled out) */
    }
}
