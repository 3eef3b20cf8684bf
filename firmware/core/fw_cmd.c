/*
 * firmwatch core: the input parser (text lines and binary frames, byte by byte over the
 * RX ring), command validation, side effects and binary replies.
 *
 * A frame's bytes stay in the RX ring until the frame is resolved, so when a frame turns
 * out bad the parser drops only its first byte and rescans the rest: resynchronisation
 * needs no second buffer, and a good frame hidden inside garbage is still found.
 */
#include "fw_internal.h"

static fw_idx_t rx_count(void)
{
    fw_idx_t h = fw.rx_head, t = fw.rx_tail;
    return (fw_idx_t)(h >= t ? h - t : FW_RX_SIZE - t + h);
}

static void rx_drop(fw_idx_t n)
{
    uint16_t t = (uint16_t)fw.rx_tail + n;
    if (t >= FW_RX_SIZE) {
        t -= FW_RX_SIZE;
    }
    fw.rx_tail = (uint8_t)t;
}

void fw_cmd_region(const fw_cmd_t *c, fw_idx_t i, uint32_t *addr, uint16_t *size)
{
#if FW_TEXT_MODE
    if (c->text) {
        *addr = c->addr; /* text STREAM: one region */
        *size = c->size;
        return;
    }
#endif
    *addr = fw_rx_le((fw_idx_t)(c->off + 6u * i), 4);
    *size = (uint16_t)fw_rx_le((fw_idx_t)(c->off + 6u * i + 4u), 2);
}

#if FW_TEXT_MODE
int fw_hexval(uint8_t ch)
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
        return (uint8_t)(fw_hexval(fw_rx_peek(k)) << 4 | fw_hexval(fw_rx_peek((uint8_t)(k + 1u))));
    }
#endif
    return fw_rx_peek((fw_idx_t)(c->off + i));
}

#if FW_TEXT_MODE
void fw_cmd_clear(fw_cmd_t *c)
{
    volatile uint8_t *p = (volatile uint8_t *)c; /* no memset: see fw_init() */
    uint8_t i;
    for (i = 0; i < sizeof *c; i++) {
        p[i] = 0;
    }
}
#endif

/* The first check a command fails, as its FW_E_* code (0: none), with c->detail set. The
 * order is part of the protocol (docs/protocol.md, "Error codes"). */
static uint8_t check(fw_cmd_t *c)
{
    uint32_t *d = &c->detail;
    fw_idx_t t = c->type, s = c->arg;
    if (t == FW_T_READ || t == FW_T_WRITE) {
        *d = 0;
        if (c->size == 0) {
            return FW_E_BAD_LENGTH;
        }
        *d = FW_MAX_PAYLOAD - 5;
        if (c->size > FW_MAX_PAYLOAD - 5) {
            return FW_E_TOO_BIG;
        }
        /* READ (2) needs FW_ACCESS_READ (1) else NOT_READABLE (3); WRITE (3): 2 else 4 */
        if (fw_check_range(c->addr, c->size, (uint8_t)(t - 1u), d)) {
            return (uint8_t)(t + 1u);
        }
    } else if (t == FW_T_STREAM_START) {
        fw_idx_t i, others;
        uint32_t total = 0;
        *d = s;
        if (s >= FW_MAX_STREAMS) {
            return FW_E_NO_STREAM;
        }
        *d = 0;
        if (c->n == 0) {
            return FW_E_BAD_LENGTH;
        }
        *d = FW_MAX_REGIONS;
        if (c->n > FW_MAX_REGIONS) {
            return FW_E_TOO_MANY_REGIONS;
        }
        *d = FW_TICK_HZ;
        if (c->rate - 1u >= FW_PERIOD_MHZ) { /* 0 wraps round to the top */
            return FW_E_BAD_RATE;
        }
        others = (fw_idx_t)(fw_pool_used() - fw.nreg[s]);
        *d = (uint32_t)(FW_MAX_TOTAL_REGIONS - others);
        if (others + c->n > FW_MAX_TOTAL_REGIONS) {
            return FW_E_TOO_MANY_REGIONS;
        }
        for (i = 0; i < c->n; i++) {
            uint32_t a;
            uint16_t z;
            fw_cmd_region(c, i, &a, &z);
            total += z;
            *d = 0;
            if (z == 0) {
                return FW_E_BAD_LENGTH;
            }
            *d = FW_MAX_STREAM_BYTES;
            if (total > FW_MAX_STREAM_BYTES) {
                return FW_E_STREAM_TOO_BIG;
            }
            if (fw_check_range(a, z, FW_ACCESS_READ, d)) {
                return FW_E_NOT_READABLE;
            }
        }
    } else if (t == FW_T_STREAM_STOP) {
        *d = s;
        if (s != 0xFF && (s >= FW_MAX_STREAMS || fw.nreg[s] == 0)) {
            return FW_E_NO_STREAM;
        }
    } else if (t == FW_T_MODE && s > 1) {
        *d = s;
        return FW_E_BAD_MODE;
    }
    return FW_E_OK;
}

static void apply(const fw_cmd_t *c)
{
    if (c->type == FW_T_WRITE) {
        volatile uint8_t *p = fw_mem(c->addr);
        uint16_t i;
        int words = fw_word_access(p, c->size); /* a register takes whole-word writes */
        uint32_t w = 0;
        fw_port_critical_enter(); /* a multi-byte value changes at once */
        for (i = 0; i < c->size; i++) {
            if (!words) {
                p[i] = fw_cmd_data(c, i);
                continue;
            }
            ((uint8_t *)&w)[i & 3u] = fw_cmd_data(c, i);
            if ((i & 3u) == 3u) {
                *(volatile uint32_t *)(uintptr_t)(p + i - 3u) = w;
            }
        }
        fw_port_critical_exit();
    } else if (c->type == FW_T_STREAM_START) {
        fw_stream_install(c);
    } else if (c->type == FW_T_STREAM_STOP) {
        fw_stream_stop(c->arg);
    }
}

static void out_regions(fw_out_t *o, fw_idx_t off, fw_idx_t n)
{
    fw_idx_t i;
    for (i = 0; i < n; i++) {
        fw_out_u32(o, fw.raddr[off + i]);
        fw_out_u16(o, fw.rsize[off + i]);
    }
}

static void bin_reply(fw_out_t *o, const fw_cmd_t *c)
{
    fw_idx_t s, i;
    fw_out_byte(o, c->tag);
    if (c->err) {
        fw_out_byte(o, c->err);
        fw_out_u32(o, c->detail);
        return;
    }
    switch (c->type) {
    case FW_T_IDENTIFY: {
        const fw_config_t *cfg = fw.cfg;
        static const uint8_t FW_ROM limits[13] = {
            4, /* addr_size */
            (uint8_t)FW_TICK_HZ, (uint8_t)(FW_TICK_HZ >> 8), (uint8_t)((uint32_t)FW_TICK_HZ >> 16),
            (uint8_t)((uint32_t)FW_TICK_HZ >> 24), FW_MAX_STREAMS, FW_MAX_REGIONS,
            (uint8_t)FW_MAX_STREAM_BYTES, (uint8_t)(FW_MAX_STREAM_BYTES >> 8),
            (uint8_t)FW_MAX_PAYLOAD, (uint8_t)(FW_MAX_PAYLOAD >> 8),
            (uint8_t)FW_TX_SIZE, (uint8_t)(FW_TX_SIZE >> 8)};
        fw_out_byte(o, FW_PROTO_VERSION);
        fw_out_byte(o, (uint8_t)(cfg->big_endian | FW_OPTION_FLAGS)); /* flags */
        fw_out_byte(o, cfg->word_size);
        for (i = 0; i < sizeof limits; i++) {
            fw_out_byte(o, FW_ROM_BYTE(&limits[i]));
        }
        fw_out_byte(o, cfg->build_id_len);
        for (i = 0; i < cfg->build_id_len; i++) {
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
        fw_idx_t off = 0;
        fw_out_byte(o, fw_streams_running());
        for (s = 0; s < FW_MAX_STREAMS; s++) {
            fw_idx_t n = fw.nreg[s];
            if (n) {
                fw_out_byte(o, (uint8_t)s);
                fw_out_u32(o, fw.rate[s]);
                fw_out_byte(o, n);
                out_regions(o, off, n);
            }
            off = (fw_idx_t)(off + n);
        }
        break;
    }
    case FW_T_STATUS: {
        static const uint8_t FW_ROM width[FW_STATUS_WORDS] = {4, 4, 4, 2, 2, 2, 4, 2, 1};
        for (i = 0; i < FW_STATUS_WORDS; i++) {
            fw_idx_t k;
            for (k = 0; k < FW_ROM_BYTE(&width[i]); k++) {
                fw_out_byte(o, (uint8_t)(c->sv[i] >> (8u * k)));
            }
        }
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
    /* IDENTIFY, READ, WRITE, LIST, STATUS (types 1, 2, 3, 6, 7) answer with type | 0x80 */
    if (c->err) {
        return FW_T_ERROR;
    }
    return (0xCEu >> c->type) & 1u ? (uint8_t)(c->type | 0x80u) : (uint8_t)FW_T_ACK;
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
    fw_out_t o = {0, 0, 0, 0};
    uint16_t total;
    if (c->err == 0) {
        c->err = check(c);
    }
    if (c->type == FW_T_STATUS) {
        fw_status_words(c->sv);
    }
    gen(&o, c); /* counting pass */
    total = o.n;
    if (total > FW_TX_ROOM) {
        total = 0; /* can never fit (only an IDENT/INFO of a huge region table): no reply */
    } else if (!(c->text ? fw_tx_reserve(total, &o.pos) : fw_frame_begin(&o, reply_type(c), total))) {
        fw.reply_waiting = 1; /* samples yield until this reply fits */
        return 0;
    }
    fw.reply_waiting = 0;
    if (c->err == 0) {
        /* The output mode follows the last command that succeeded (so line noise that looks
         * like a text line cannot switch a binary link to text), and changes before the
         * command acts: the first sample of a new stream already uses it. */
        fw.text_out = (uint8_t)(c->type == FW_T_MODE ? !c->arg : c->text);
        apply(c);
    }
    if (total) {
#if FW_TEXT_MODE
        if (c->text) {
            o.write = 1;
            o.start = o.pos; /* where the first line's check begins */
        }
#endif
        gen(&o, c);
        if (c->text) {
            fw_tx_commit();
        } else {
            fw_frame_end(&o);
        }
    }
    return 1;
}

#if FW_CAPTURE || FW_CHANGE_ONLY
int fw_reply_simple(uint8_t tag, uint8_t err, uint32_t detail, void (*apply)(void))
{
    fw_out_t o;
    if (!fw_frame_begin(&o, err ? FW_T_ERROR : FW_T_ACK, err ? 6u : 1u)) {
        fw.reply_waiting = 1;
        return 0;
    }
    fw.reply_waiting = 0;
    fw_out_byte(&o, tag);
    if (err) {
        fw_out_byte(&o, err);
        fw_out_u32(&o, detail);
    } else {
        fw.text_out = 0; /* a binary command succeeded */
        if (apply) {
            apply();
        }
    }
    fw_frame_end(&o);
    return 1;
}
#endif

/* Parse the binary command whose payload starts at RX offset 5. */
static int bin_command(fw_idx_t type, fw_idx_t len)
{
    /* payload length per request type (0: unknown type); WRITE and STREAM_START: minimum */
    static const uint8_t FW_ROM need_tab[9] = {0, 1, 7, 6, 7, 2, 1, 1, 2};
    fw_cmd_t c;
    uint16_t need = 0;
#if FW_CHANGE_ONLY
    if (type == FW_T_STREAM_FILTER) {
        return fw_filter_command(len);
    }
#endif
#if FW_CAPTURE
    if (type >= FW_T_CAPTURE_ARM && type <= FW_T_CAPTURE_READ) {
        return fw_capture_command(type, len);
    }
#endif
    c.text = 0; /* every other field is set below or by check() */
    c.err = 0;
    c.type = (uint8_t)type;
    c.tag = len ? fw_rx_peek(5) : 0;
    /* Every field is read whatever the type (bytes past a short payload are ignored): one
     * straight sequence is smaller than a parser per type. */
    c.arg = fw_rx_peek(6);
    c.addr = fw_rx_le(6, 4);
    c.size = (uint16_t)fw_rx_le(10, 2);
    c.rate = fw_rx_le(7, 4);
    c.n = fw_rx_peek(11);
    c.off = 12;
    if (type < sizeof need_tab) {
        need = FW_ROM_BYTE(&need_tab[type]);
    }
    if (type == FW_T_WRITE) {
        c.size = (uint16_t)(len - 5u);
        c.off = 10;
        if (len > 6) {
            need = len;
        }
    }
    if (type == FW_T_STREAM_START && len >= 7) {
        need = (uint16_t)(7u + 6u * c.n);
    }
    if (need == 0) {
        c.err = FW_E_BAD_COMMAND;
        c.detail = type;
    } else if (len != need) {
        c.err = FW_E_BAD_LENGTH;
        c.detail = len;
    }
    return fw_cmd_exec(&c);
}

static void bad_input(fw_idx_t drop, uint8_t state)
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

static void poll_input(void)
{
    for (;;) {
        fw_idx_t avail = rx_count();
        fw_idx_t b;
        if (avail == 0) {
            return;
        }
        b = fw_rx_peek(0);
        if (fw.rx_state == FW_RX_SKIP) {
            /* after bad input: discard up to the next frame start or end of line */
            if (b != 0xAA) {
                rx_drop(1);
            }
            if (b == 0xAA || b == '\n') {
                fw.rx_state = FW_RX_IDLE;
            }
            continue;
        }
#if FW_TEXT_MODE
        if (fw.rx_state == FW_RX_LINE) {
            fw_idx_t i = fw.rx_scan;
            for (; i < avail; i++) {
                fw_idx_t ch = fw_rx_peek(i);
                if (ch == '\n') {
                    if (!fw_text_line(i)) {
                        fw.rx_scan = i;
                        return;
                    }
                    rx_drop((fw_idx_t)(i + 1u));
                    fw.rx_state = FW_RX_IDLE;
                    break;
                }
                if (ch == 0xAA) { /* a frame interrupts the line: keep the frame */
                    bad_input(i, FW_RX_IDLE);
                    break;
                }
                if (!printable(ch) && ch != '\r' && ch != '\t') {
                    bad_input((fw_idx_t)(i + 1u), FW_RX_SKIP);
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
                crc = fw_crc16(crc, fw_rx_peek((fw_idx_t)i));
            }
            if (crc != (uint16_t)fw_rx_le((fw_idx_t)(len + 5u), 2) ||
                fw_rx_peek((fw_idx_t)(len + 7u)) != 0x0A) {
                bad_input(1, FW_RX_SKIP);
                continue;
            }
            if (!bin_command(fw_rx_peek(2), (fw_idx_t)len)) {
                return; /* no TX space yet: the frame stays, retried on the next poll */
            }
            rx_drop((fw_idx_t)(len + 8u));
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

void fw_poll(void)
{
#if FW_CAPTURE
    fw.cap.polls++; /* the main loop runs: a capture's late interrupts do not starve it */
#endif
    poll_input();
#if FW_CAPTURE
    fw_capture_pump(); /* an upload fills what TX room the replies and samples leave */
#endif
}
