/*
 * firmwatch core: state, CRC, the RX and TX rings, region checks, output primitives.
 */
#include "fw_internal.h"

fw_state_t fw;
uint8_t fw_txbuf[FW_TX_SIZE];

void fw_init(const fw_config_t *cfg)
{
    /* volatile: a plain loop becomes a call to memset, which bare-metal ports may lack */
    volatile uint8_t *p = (volatile uint8_t *)&fw;
    size_t i;
    fw_port_critical_enter();
    for (i = 0; i < sizeof fw; i++) {
        p[i] = 0;
    }
    fw.cfg = cfg; /* and binary output: text_out is 0 */
    fw_port_critical_exit();
}

/* CRC-16/CCITT-FALSE. A nibble table (32 bytes) is ~4x faster than bitwise at -Os;
 * AVR would put the table in RAM, so it computes bitwise instead. */
uint16_t fw_crc16(uint16_t crc, uint8_t b)
{
#if defined(__AVR__)
    uint8_t i;
    crc ^= (uint16_t)b << 8;
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
#else
    static const uint16_t tab[16] = {0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5,
                                     0x60C6, 0x70E7, 0x8108, 0x9129, 0xA14A, 0xB16B,
                                     0xC18C, 0xD1AD, 0xE1CE, 0xF1EF};
    crc = (uint16_t)((crc << 4) ^ tab[(crc >> 12) ^ (b >> 4)]);
    crc = (uint16_t)((crc << 4) ^ tab[(crc >> 12) ^ (b & 15u)]);
    return crc;
#endif
}

uint32_t fw_read32_atomic(const uint32_t *p)
{
    uint32_t v;
    fw_port_critical_enter();
    v = *(const volatile uint32_t *)p;
    fw_port_critical_exit();
    return v;
}

uint32_t fw_ticks(void)
{
    return fw_read32_atomic(&fw.ticks);
}

volatile uint8_t *fw_mem(uint32_t addr)
{
    return (volatile uint8_t *)(uintptr_t)(addr - fw.cfg->addr_offset);
}

/* Walk the range through the region table so that adjacent regions (.data then .bss)
 * cover a range together; all arithmetic is relative so nothing overflows at 2^32. */
int fw_check_range(uint32_t addr, uint32_t size, uint8_t access, uint32_t *bad)
{
    const fw_config_t *cfg = fw.cfg;
    while (size != 0) {
        fw_idx_t i;
        uint32_t avail = 0;
        for (i = 0; i < cfg->nregions; i++) {
            const fw_region_t *r = &cfg->regions[i];
            if ((r->access & access) == access && addr - r->start < r->size) {
                avail = r->size - (addr - r->start);
                break;
            }
        }
        if (avail == 0) {
            *bad = addr;
            return 1;
        }
        if (avail >= size) {
            return 0;
        }
        size -= avail;
        addr += avail;
        if (addr == 0) { /* the range would wrap past the top of the address space */
            *bad = 0;
            return 1;
        }
    }
    return 0;
}

void fw_status_words(uint32_t sv[FW_STATUS_WORDS])
{
    fw_port_critical_enter();
    sv[0] = fw.dropped;
    sv[1] = fw.overflows;
    sv[2] = fw.rx_errors;
    sv[3] = (uint16_t)(fw.tx_head - fw.tx_tail);
    sv[4] = FW_TX_SIZE;
    sv[5] = fw.tx_high;
    sv[6] = fw.ticks;
    sv[7] = fw.seq; /* the next SAMPLES seq: every frame before it was sent or counted dropped */
    fw_port_critical_exit();
    sv[8] = fw_streams_running();
}

void fw_get_status(fw_status_t *out)
{
    uint32_t sv[FW_STATUS_WORDS];
    fw_status_words(sv);
    out->dropped = sv[0];
    out->overflows = sv[1];
    out->rx_errors = sv[2];
    out->tx_used = (uint16_t)sv[3];
    out->tx_high_water = (uint16_t)sv[5];
    out->ticks = sv[6];
    out->seq = (uint16_t)sv[7];
    out->nstreams = (uint8_t)sv[8];
    out->mode = fw.text_out ? FW_MODE_TEXT : FW_MODE_BINARY;
}

/* ---- RX ring: producer fw_rx_byte(), consumer fw_poll() ---- */

void fw_rx_byte(uint8_t b)
{
    uint8_t h = fw.rx_head;
    uint8_t n = (uint8_t)(h + 1u == FW_RX_SIZE ? 0u : h + 1u);
    if (n == fw.rx_tail) {
        fw.overflows++; /* only the producer writes it */
        return;
    }
    fw.rx[h] = b;
    fw.rx_head = n;
}

size_t fw_rx_free(void)
{
    uint8_t h = fw.rx_head, t = fw.rx_tail;
    return (size_t)(h >= t ? FW_RX_SIZE - 1 - (h - t) : t - h - 1);
}

uint8_t fw_rx_peek(fw_idx_t i)
{
    uint16_t k = (uint16_t)fw.rx_tail + i;
    if (k >= FW_RX_SIZE) {
        k -= FW_RX_SIZE;
    }
    return fw.rx[k];
}

uint32_t fw_rx_le(fw_idx_t i, fw_idx_t n)
{
    uint32_t v = 0;
    while (n--) {
        v = (v << 8) | fw_rx_peek((fw_idx_t)(i + n));
    }
    return v;
}

/* ---- TX ring: producers fw_tick() (ISR) and fw_poll() (main), one consumer ----
 * A producer reserves space under the critical section, fills it outside, then commits.
 * Bytes become visible only when no reservation is outstanding, so frames are never
 * interleaved or exposed half-written, and long copies never run with interrupts off. */

int fw_tx_reserve(uint16_t n, uint16_t *start)
{
    int ok = 0;
    fw_port_critical_enter();
    {
        uint16_t used = (uint16_t)(fw.tx_head - fw.tx_tail);
        if (n <= (uint16_t)(FW_TX_SIZE - used)) {
            *start = fw.tx_head;
            fw.tx_head = (uint16_t)(fw.tx_head + n);
            fw.tx_pending++;
            used = (uint16_t)(used + n);
            if (used > fw.tx_high) {
                fw.tx_high = used;
            }
            ok = 1;
        }
    }
    fw_port_critical_exit();
    return ok;
}

#if FW_CAPTURE
uint16_t fw_tx_free(void)
{
    uint16_t used;
    fw_port_critical_enter();
    used = (uint16_t)(fw.tx_head - fw.tx_tail);
    fw_port_critical_exit();
    return (uint16_t)(FW_TX_SIZE - used);
}
#endif

void fw_tx_commit(void)
{
    fw_port_critical_enter();
    if (--fw.tx_pending == 0) {
        fw.tx_commit = fw.tx_head;
    }
    fw_port_critical_exit();
    fw_port_tx_ready();
}

size_t fw_tx_pending(void)
{
    uint16_t n;
    fw_port_critical_enter();
    n = (uint16_t)(fw.tx_commit - fw.tx_tail);
    fw_port_critical_exit();
    return n;
}

size_t fw_tx_pop(uint8_t *buf, size_t max)
{
    uint16_t t = fw.tx_tail; /* only the consumer writes it */
    size_t n = fw_tx_pending();
    size_t i;
    if (n > max) {
        n = max;
    }
    for (i = 0; i < n; i++) {
        buf[i] = fw_txbuf[(uint16_t)(t + i) & (FW_TX_SIZE - 1u)];
    }
    fw_port_critical_enter();
    fw.tx_tail = (uint16_t)(t + n);
    fw_port_critical_exit();
    return n;
}

int fw_tx_byte(void)
{
    int b = -1;
    fw_port_critical_enter();
    if (fw.tx_commit != fw.tx_tail) {
        b = fw_txbuf[fw.tx_tail & (FW_TX_SIZE - 1u)];
        fw.tx_tail++;
    }
    fw_port_critical_exit();
    return b;
}

/* ---- output primitives ---- */

void fw_out_byte(fw_out_t *o, uint_fast8_t b)
{
    if (o->write) {
        fw_txbuf[o->pos & (FW_TX_SIZE - 1u)] = (uint8_t)b;
        o->pos++;
    }
    o->n++;
}

void fw_out_u16(fw_out_t *o, uint16_t v)
{
    fw_out_byte(o, v);
    fw_out_byte(o, (uint_fast8_t)(v >> 8));
}

void fw_out_u32(fw_out_t *o, uint32_t v)
{
    fw_out_u16(o, (uint16_t)v);
    fw_out_u16(o, (uint16_t)(v >> 16));
}

void fw_out_mem(fw_out_t *o, uint32_t addr, uint16_t size)
{
    if (o->write) {
        volatile uint8_t *p = fw_mem(addr);
        uint16_t i;
        int words = fw_word_access(p, size);
        uint32_t w = 0;
        for (i = 0; i < size; i++) {
            if (words && (i & 3u) == 0) {
                w = *(volatile uint32_t *)(uintptr_t)(p + i);
            }
            fw_out_byte(o, words ? ((const uint8_t *)&w)[i & 3u] : p[i]);
        }
    } else {
        o->n = (uint16_t)(o->n + size);
    }
}

int fw_frame_begin(fw_out_t *o, uint8_t type, uint16_t len)
{
    if (!fw_tx_reserve((uint16_t)(len + 8u), &o->pos)) {
        return 0;
    }
    o->start = o->pos;
    o->n = 0;
    o->write = 1;
    fw_out_u16(o, 0x55AAu); /* AA 55 */
    fw_out_byte(o, type);
    fw_out_u16(o, len);
    return 1;
}

uint16_t fw_tx_crc(uint16_t from, uint16_t to)
{
    uint16_t crc = 0xFFFF;
    for (; from != to; from++) {
        crc = fw_crc16(crc, fw_txbuf[from & (FW_TX_SIZE - 1u)]);
    }
    return crc;
}

void fw_frame_end(fw_out_t *o)
{
    fw_out_u16(o, fw_tx_crc((uint16_t)(o->start + 2u), o->pos)); /* type, len, payload */
    fw_out_byte(o, 0x0A);
    fw_tx_commit();
}

#if FW_TEXT_MODE
static const char FW_ROM hexdig[] = "0123456789ABCDEF";

void fw_out_rom(fw_out_t *o, const char *s)
{
    uint8_t c;
    while ((c = FW_ROM_BYTE(s)) != 0) {
        fw_out_byte(o, c);
        s++;
    }
}

void fw_out_hex8(fw_out_t *o, uint8_t v)
{
    fw_out_byte(o, FW_ROM_BYTE(&hexdig[v >> 4]));
    fw_out_byte(o, FW_ROM_BYTE(&hexdig[v & 15u]));
}

void fw_out_hex32(fw_out_t *o, uint32_t v)
{
    int8_t s;
    fw_out_byte(o, '0');
    fw_out_byte(o, 'x');
    for (s = 24; s >= 0; s -= 8) {
        fw_out_hex8(o, (uint8_t)(v >> s));
    }
}

void fw_out_dec(fw_out_t *o, uint32_t v)
{
    char d[10];
    uint8_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n) {
        fw_out_byte(o, (uint8_t)d[--n]);
    }
}

void fw_out_hexmem(fw_out_t *o, uint32_t addr, uint16_t size)
{
    if (o->write) {
        volatile uint8_t *p = fw_mem(addr);
        uint16_t i;
        int words = fw_word_access(p, size);
        uint32_t w = 0;
        for (i = 0; i < size; i++) {
            if (words && (i & 3u) == 0) {
                w = *(volatile uint32_t *)(uintptr_t)(p + i);
            }
            fw_out_hex8(o, words ? ((const uint8_t *)&w)[i & 3u] : p[i]);
        }
    } else {
        o->n = (uint16_t)(o->n + 2u * size);
    }
}
#endif
