/*
 * firmwatch core: text mode — a line a person types becomes the same command the binary
 * mode carries (so validation and side effects are shared), and replies are `|key=value`
 * lines. Strings live in FW_ROM so an AVR keeps them in flash.
 */
#include "fw_internal.h"

#if FW_TEXT_MODE

#define FW_T_HELP 0x7E /* text-only verb */

/* Verbs, each followed by its request type and argument byte. */
static const char FW_ROM verbs[] =
    "INFO\0\x01\0READ\0\x02\0WRITE\0\x03\0STREAM\0\x04\0STOP\0\x05\0LIST\0\x06\0"
    "STATUS\0\x07\0BINARY\0\x08\x01TEXT\0\x08\0HELP\0\x7E\0";
#define VERBS_END (sizeof verbs - 1u)

static const char FW_ROM s_ok[] = "OK";
static const char FW_ROM s_stream_eq[] = "|stream=";
static const char FW_ROM s_data[] = "DATA|addr=";
static const char FW_ROM s_hex[] = "|hex=";
static const char FW_ROM s_t[] = "|t=";
static const char FW_ROM s_seq[] = "|seq=";
static const char FW_ROM s_err[] = "ERR|code=";
static const char FW_ROM s_name[] = "|name=";
static const char FW_ROM s_detail[] = "|detail=";
static const char FW_ROM s_crc[] = "|crc=";
static const char FW_ROM s_info[] = "INFO|proto=3|endian=";
static const char FW_ROM s_little[] = "little";
static const char FW_ROM s_big[] = "big";
static const char FW_ROM s_info_keys[] =
    "|word=\0|addr_size=\0|tick_hz=\0|max_streams=\0|max_regions=\0|max_stream_bytes=\0"
    "|max_payload=\0|tx_size=\0";
static const char FW_ROM s_build_id[] = "|build_id=";
static const char FW_ROM s_region[] = "|region=";
static const char FW_ROM s_list[] = "STREAM|stream=";
static const char FW_ROM s_rate[] = "|rate_mhz=";
static const char FW_ROM s_regions[] = "|regions=";
static const char FW_ROM s_streams[] = "|streams=";
static const char FW_ROM s_status_keys[] =
    "STATUS|dropped=\0|overflows=\0|rx_errors=\0|tx_used=\0|tx_size=\0|tx_high_water=\0"
    "|ticks=\0|seq=\0|streams=";
static const char FW_ROM s_help[] =
    "HELP|verbs=INFO,READ,WRITE,STREAM,STOP,LIST,STATUS,BINARY,TEXT,HELP";
static const char FW_ROM s_errnames[] =
    "?\0BAD_COMMAND\0BAD_LENGTH\0NOT_READABLE\0NOT_WRITABLE\0NO_STREAM\0TOO_MANY_REGIONS\0"
    "STREAM_TOO_BIG\0BAD_RATE\0TOO_BIG\0BAD_MODE\0READBACK";

/* The k-th NUL-separated string of a ROM list. */
static const char *nth(const char *list, uint8_t k)
{
    while (k--) {
        while (FW_ROM_BYTE(list) != 0) {
            list++;
        }
        list++;
    }
    return list;
}

/* Ends a line: every line the device sends carries the CRC of the bytes before its "|crc=",
 * so a host never acts on a damaged line (docs/protocol.md, text mode). */
static void nl(fw_out_t *o)
{
    uint16_t c = o->write ? fw_tx_crc(o->start, o->pos) : 0;
    fw_out_rom(o, s_crc);
    fw_out_hex8(o, (uint8_t)(c >> 8));
    fw_out_hex8(o, (uint8_t)c);
    fw_out_byte(o, '\n');
    o->start = o->pos;
}

static void key_dec(fw_out_t *o, const char *key, uint32_t v)
{
    fw_out_rom(o, key);
    fw_out_dec(o, v);
}

/* ---- parsing ---- */

static int is_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Next token of the line at RX offsets [*pos, end): returns its length, start in *start. */
static uint8_t token(uint8_t *pos, uint8_t end, uint8_t *start)
{
    uint8_t p = *pos;
    while (p < end && is_space(fw_rx_peek(p))) {
        p++;
    }
    *start = p;
    while (p < end && !is_space(fw_rx_peek(p))) {
        p++;
    }
    *pos = p;
    return (uint8_t)(p - *start);
}

static uint8_t upper(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') ? (uint8_t)(ch - 32) : ch;
}

/* Decimal or 0x-hex; with `milli`, decimal may have up to 3 fraction digits and the
 * result is scaled by 1000 (rates in milli-hertz). Returns 0 when malformed. */
static int number(uint8_t s, uint8_t n, uint32_t *v, uint8_t milli)
{
    uint32_t x = 0;
    uint8_t i = 0, frac = 0, dot = 0, base = 10;
    if (n > 2 && fw_rx_peek(s) == '0' && (fw_rx_peek((uint8_t)(s + 1u)) | 0x20) == 'x') {
        base = 16;
        i = 2;
    }
    if (i == n) {
        return 0;
    }
    for (; i < n; i++) {
        uint8_t ch = fw_rx_peek((uint8_t)(s + i));
        uint8_t d;
        if (ch == '.' && milli && base == 10 && !dot) {
            dot = 1;
            continue;
        }
        if (ch >= '0' && ch <= '9') {
            d = (uint8_t)(ch - '0');
        } else if (base == 16 && (ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
            d = (uint8_t)((ch | 0x20) - 'a' + 10);
        } else {
            return 0;
        }
        if (dot && ++frac > 3) {
            return 0;
        }
        if (x > (0xFFFFFFFFu - d) / base) {
            x = 0xFFFFFFFFu; /* saturate: reported as out of range, not misparsed */
            continue;
        }
        x = x * base + d;
    }
    if (milli) {
        while (frac++ < 3) {
            x = x > 0xFFFFFFFFu / 10u ? 0xFFFFFFFFu : x * 10u;
        }
    }
    *v = x;
    return 1;
}

static int lookup_verb(uint8_t s, uint8_t n, fw_cmd_t *c)
{
    const char *v = verbs;
    while ((size_t)(v - verbs) < VERBS_END) {
        uint8_t i = 0;
        while (i < n && FW_ROM_BYTE(v + i) != 0 && FW_ROM_BYTE(v + i) == upper(fw_rx_peek((uint8_t)(s + i)))) {
            i++;
        }
        if (i == n && FW_ROM_BYTE(v + i) == 0) {
            c->type = FW_ROM_BYTE(v + i + 1);
            c->arg = FW_ROM_BYTE(v + i + 2);
            return 1;
        }
        v = nth(v, 1) + 2;
    }
    return 0;
}

/* A line may end in "|crc=XXXX" (hosts always send it; a person typing need not): the CRC of
 * the bytes before the '|'. Returns the length of the command without it, or -1 when the line
 * carries a '|' that is not a correct check (a damaged line: never executed). */
static int16_t checked_length(uint8_t len)
{
    uint8_t i, bar;
    uint16_t crc = 0xFFFF, want = 0;
    while (len != 0 && is_space(fw_rx_peek((uint8_t)(len - 1u)))) {
        len--;
    }
    for (bar = 0; bar < len && fw_rx_peek(bar) != '|'; bar++) {
    }
    if (bar == len) {
        return len;
    }
    if (len - bar != 9) {
        return -1;
    }
    for (i = 1; i < 5; i++) {
        if (fw_rx_peek((uint8_t)(bar + i)) != FW_ROM_BYTE(&s_crc[i])) {
            return -1;
        }
    }
    for (i = 0; i < 4; i++) {
        int d = fw_hexval(fw_rx_peek((uint8_t)(bar + 5u + i)));
        if (d < 0) {
            return -1;
        }
        want = (uint16_t)(want << 4 | (uint16_t)d);
    }
    for (i = 0; i < bar; i++) {
        crc = fw_crc16(crc, fw_rx_peek(i));
    }
    return crc == want ? bar : -1;
}

int fw_text_line(uint8_t len)
{
    fw_cmd_t c;
    uint8_t pos = 0, st[5], ln[5], argc = 0, vs, vn;
    uint32_t a[3] = {0, 0, 0};
    int ok = 1;
    int16_t checked = checked_length(len);
    if (checked < 0) {
        fw.rx_errors++; /* dropped like a frame with a bad CRC: the host retries */
        return 1;
    }
    len = (uint8_t)checked;
    fw_cmd_clear(&c);
    c.text = 1;
    vn = token(&pos, len, &vs);
    if (vn == 0) {
        return 1; /* blank line: nothing to answer */
    }
    while (argc < 5 && (ln[argc] = token(&pos, len, &st[argc])) != 0) {
        argc++;
    }
    if (!lookup_verb(vs, vn, &c)) {
        c.err = FW_E_BAD_COMMAND;
        return fw_cmd_exec(&c);
    }
    switch (c.type) {
    case FW_T_READ:
        ok = argc == 2 && number(st[0], ln[0], &c.addr, 0) && number(st[1], ln[1], &a[0], 0);
        c.size = a[0] > 0xFFFFu ? 0xFFFFu : (uint16_t)a[0];
        break;
    case FW_T_WRITE: {
        uint8_t i;
        ok = argc == 2 && number(st[0], ln[0], &c.addr, 0) && (ln[1] & 1u) == 0;
        for (i = 0; ok && i < ln[1]; i++) {
            uint8_t ch = fw_rx_peek((uint8_t)(st[1] + i));
            ok = (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
        }
        c.off = st[1];
        c.size = (uint16_t)(ln[1] / 2u);
        break;
    }
    case FW_T_STREAM_START: {
        uint8_t s;
        ok = (argc == 3 || argc == 4) && number(st[0], ln[0], &c.addr, 0) &&
             number(st[1], ln[1], &a[0], 0) && number(st[2], ln[2], &c.rate, 1);
        c.size = a[0] > 0xFFFFu ? 0xFFFFu : (uint16_t)a[0];
        c.n = 1;
        if (argc == 4) { /* an id: define or replace that stream, like STREAM_START (idempotent) */
            ok = ok && number(st[3], ln[3], &a[1], 0);
            s = a[1] >= FW_MAX_STREAMS ? FW_MAX_STREAMS : (uint8_t)a[1];
        } else {
            for (s = 0; s < FW_MAX_STREAMS && fw.nreg[s] != 0; s++) {
            }
        }
        c.arg = s; /* FW_MAX_STREAMS (out of range, or no free id) -> NO_STREAM */
        break;
    }
    case FW_T_STREAM_STOP:
        if (argc == 1 && ln[0] == 3 && upper(fw_rx_peek(st[0])) == 'A' &&
            upper(fw_rx_peek((uint8_t)(st[0] + 1u))) == 'L' &&
            upper(fw_rx_peek((uint8_t)(st[0] + 2u))) == 'L') {
            c.arg = 0xFF;
        } else {
            ok = argc == 1 && number(st[0], ln[0], &a[0], 0);
            c.arg = a[0] >= FW_MAX_STREAMS ? FW_MAX_STREAMS : (uint8_t)a[0];
        }
        break;
    default:
        ok = argc == 0;
        break;
    }
    if (!ok) {
        c.err = FW_E_BAD_LENGTH;
        c.detail = argc;
    } else if (c.type == FW_T_LIST) {
        return fw_text_list();
    }
    return fw_cmd_exec(&c);
}

/* ---- replies ---- */

static void data_line(fw_out_t *o, uint32_t addr, uint16_t size)
{
    fw_out_rom(o, s_data);
    fw_out_hex32(o, addr);
    fw_out_rom(o, s_hex);
    fw_out_hexmem(o, addr, size);
}

static void region_list(fw_out_t *o, uint8_t off, uint8_t n)
{
    uint8_t i;
    fw_out_rom(o, s_regions);
    for (i = 0; i < n; i++) {
        if (i) {
            fw_out_byte(o, ',');
        }
        fw_out_hex32(o, fw.raddr[off + i]);
        fw_out_byte(o, '+');
        fw_out_dec(o, fw.rsize[off + i]);
    }
}

static void info(fw_out_t *o)
{
    const fw_config_t *cfg = fw.cfg;
    const uint32_t vals[8] = {cfg->word_size, 4, FW_TICK_HZ, FW_MAX_STREAMS, FW_MAX_REGIONS,
                              FW_MAX_STREAM_BYTES, FW_MAX_PAYLOAD, FW_TX_SIZE};
    uint8_t i;
    fw_out_rom(o, s_info);
    fw_out_rom(o, cfg->big_endian ? s_big : s_little);
    for (i = 0; i < 8; i++) {
        key_dec(o, nth(s_info_keys, i), vals[i]);
    }
    fw_out_rom(o, s_build_id);
    for (i = 0; i < cfg->build_id_len; i++) {
        fw_out_hex8(o, cfg->build_id[i]);
    }
    for (i = 0; i < cfg->nregions; i++) {
        const fw_region_t *r = &cfg->regions[i];
        fw_out_rom(o, s_region);
        fw_out_hex32(o, r->start);
        fw_out_byte(o, '+');
        fw_out_dec(o, r->size);
        fw_out_byte(o, ':');
        if (r->access & FW_ACCESS_READ) {
            fw_out_byte(o, 'r');
        }
        if (r->access & FW_ACCESS_WRITE) {
            fw_out_byte(o, 'w');
        }
    }
}

void fw_text_reply(fw_out_t *o, const fw_cmd_t *c)
{
    if (c->err) {
        key_dec(o, s_err, c->err);
        fw_out_rom(o, s_name);
        fw_out_rom(o, nth(s_errnames, c->err <= FW_E_READBACK ? c->err : 0));
        fw_out_rom(o, s_detail);
        fw_out_hex32(o, c->detail);
        nl(o);
        return;
    }
    switch (c->type) {
    case FW_T_IDENTIFY:
        info(o);
        break;
    case FW_T_READ:
    case FW_T_WRITE:
        fw_port_critical_enter();
        data_line(o, c->addr, c->size);
        fw_port_critical_exit();
        break;
    case FW_T_STREAM_START:
        fw_out_rom(o, s_ok);
        key_dec(o, s_stream_eq, c->arg);
        break;
    case FW_T_STATUS: {
        uint8_t i;
        for (i = 0; i < FW_STATUS_WORDS; i++) {
            key_dec(o, nth(s_status_keys, i), c->sv[i]);
        }
        break;
    }
    case FW_T_HELP:
        fw_out_rom(o, s_help);
        break;
    default: /* STOP, BINARY, TEXT */
        fw_out_rom(o, s_ok);
        break;
    }
    nl(o);
}

/* One LIST line per stream, then OK|streams=n (s == FW_MAX_STREAMS). */
static void list_line(fw_out_t *o, uint8_t s)
{
    if (s < FW_MAX_STREAMS) {
        key_dec(o, s_list, s);
        key_dec(o, s_rate, fw.rate[s]);
        region_list(o, (uint8_t)fw_pool_offset(s), fw.nreg[s]);
    } else {
        fw_out_rom(o, s_ok);
        key_dec(o, s_streams, fw_streams_running());
    }
    nl(o);
}

/* A listing of many streams may be larger than the TX buffer, so each line is queued on its
 * own; a line that does not fit yet keeps the command in RX and resumes there on the next
 * poll (the stream table cannot change meanwhile: commands run one at a time). */
int fw_text_list(void)
{
    uint8_t s;
    fw.text_out = 1; /* a text command that succeeded: its mode is the output mode */
    for (s = fw.list_next; s <= FW_MAX_STREAMS; s++) {
        fw_out_t o = {0, 0, 0, 0};
        if (s < FW_MAX_STREAMS && fw.nreg[s] == 0) {
            continue;
        }
        list_line(&o, s);
        if (!fw_tx_reserve(o.n, &o.pos)) {
            fw.list_next = s;
            fw.reply_waiting = 1; /* samples yield until the listing is out */
            return 0;
        }
        o.write = 1;
        o.start = o.pos;
        list_line(&o, s);
        fw_tx_commit();
    }
    fw.list_next = 0;
    fw.reply_waiting = 0;
    return 1;
}

/* Each due stream's DATA lines (one per region) are one unit with its own seq, copied in one
 * critical section and queued or dropped whole, like a SAMPLES frame holding one stream. */
void fw_text_samples(uint32_t due)
{
    uint8_t s, off = 0;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        uint8_t n = fw.nreg[s], pass, i;
        uint32_t bit = (uint32_t)1 << s;
        fw_out_t o = {0, 0, 0, 0};
        uint16_t seq;
        if (!(due & bit)) {
            off = (uint8_t)(off + n);
            continue;
        }
        seq = fw.seq++;
        for (pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                if (fw.reply_waiting || !fw_tx_reserve(o.n, &o.pos)) {
                    fw_drop(bit);
                    break;
                }
                o.write = 1;
                o.start = o.pos;
                fw_port_critical_enter(); /* the stream's regions form one snapshot */
            }
            for (i = 0; i < n; i++) {
                data_line(&o, fw.raddr[off + i], fw.rsize[off + i]);
                key_dec(&o, s_t, fw.ticks);
                key_dec(&o, s_seq, seq);
                key_dec(&o, s_stream_eq, s);
                nl(&o);
#if FW_CHANGE_ONLY
                if (pass == 1 && fw.hbeat[s]) {
                    fw_filter_note_mem((fw_idx_t)(off + i));
                }
#endif
            }
            if (pass == 1) {
                fw_port_critical_exit();
                fw_tx_commit();
#if FW_CHANGE_ONLY
                fw_filter_sent(s);
#endif
            }
        }
        off = (uint8_t)(off + n);
    }
}

#endif
