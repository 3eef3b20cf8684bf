/*
 * Unit tests of the firmwatch core on the host.
 *
 *   test_core [VECTORS.txt]
 *
 * The optional argument is the line format tests/test_firmware_core.py writes from
 * docs/protocol-vectors.json (no JSON parser in C):
 *   crc <data hex> <crc hex>
 *   session <name>        fresh device (the "vector device" below)
 *   send <hex>            bytes received by the device (then fw_poll())
 *   tick <n>              n calls of fw_tick()
 *   timer <n>             n calls of fw_capture_timer() (a build with FW_CAPTURE)
 *   expect <hex|->        everything the device sent since the previous expect
 *   errors <n>            the device's rx_errors counter
 *
 * The vector device: regions 0x20000000+0x100 rw and 0x20000100+0x40 r, byte at address
 * 0x20000000+i initially i & 0xFF, build id 01..08, word size 4, little endian, default limits.
 * Its ELF-style addresses map onto a static array through fw_config_t.addr_offset.
 * Built with the optional modules (-DFW_CAPTURE=1 -DFW_CHANGE_ONLY=1) it has a 256-byte capture
 * buffer and a 100 kHz capture timer, and runs the tests of firmware/tests/test_options.c too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_internal.h"

static int failures, checks;
#define CHECK(c) check_((c), #c, __FILE__, __LINE__)
static int check_(int ok, const char *what, const char *file, int line)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
    return ok;
}

/* ---- the test port ---- */

static int crit_depth, crit_max, tx_kicks;
void fw_port_critical_enter(void)
{
    crit_depth++;
    if (crit_depth > crit_max) {
        crit_max = crit_depth;
    }
}
void fw_port_critical_exit(void)
{
    crit_depth--;
}
void fw_port_tx_ready(void)
{
    tx_kicks++;
}

#define BASE 0x20000000u
/* The device's memory sits between guard bytes the core must never touch. */
#define GUARD 64
static uint8_t arena[GUARD + 0x140 + GUARD];
static uint8_t *const mem = arena + GUARD;
static const fw_region_t vregions[2] = {
    {BASE, 0x100, FW_ACCESS_READ | FW_ACCESS_WRITE},
    {BASE + 0x100, 0x40, FW_ACCESS_READ},
};
static const uint8_t vbuild_id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static fw_config_t vcfg;

#if FW_CAPTURE
static void reset_capture(void); /* test_options.c */
#endif

static void reset_device(void)
{
    size_t i;
    for (i = 0; i < sizeof arena; i++) {
        arena[i] = 0xA5;
    }
    for (i = 0; i < 0x140; i++) {
        mem[i] = (uint8_t)i;
    }
    vcfg.regions = vregions;
    vcfg.nregions = 2;
    vcfg.build_id = vbuild_id;
    vcfg.build_id_len = sizeof vbuild_id;
    vcfg.word_size = 4;
    vcfg.big_endian = 0;
    vcfg.addr_offset = BASE - (uint32_t)(uintptr_t)mem;
    fw_init(&vcfg);
#if FW_CAPTURE
    reset_capture();
#endif
}

/* ---- helpers ---- */

static uint16_t crc_ref(const uint8_t *p, size_t n) /* bitwise, independent of the core's */
{
    uint16_t c = 0xFFFF;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= (uint16_t)(p[i] << 8);
        for (k = 0; k < 8; k++) {
            c = (c & 0x8000) ? (uint16_t)((c << 1) ^ 0x1021) : (uint16_t)(c << 1);
        }
    }
    return c;
}

static size_t frame(uint8_t *out, uint8_t type, const uint8_t *payload, size_t len)
{
    uint16_t c;
    out[0] = 0xAA;
    out[1] = 0x55;
    out[2] = type;
    out[3] = (uint8_t)len;
    out[4] = (uint8_t)(len >> 8);
    memcpy(out + 5, payload, len);
    c = crc_ref(out + 2, len + 3);
    out[5 + len] = (uint8_t)c;
    out[6 + len] = (uint8_t)(c >> 8);
    out[7 + len] = 0x0A;
    return len + 8;
}

static void feed(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        fw_rx_byte(p[i]);
        if (((i + 1) % 64) == 0) {
            fw_poll(); /* the RX ring is smaller than some inputs */
        }
    }
    fw_poll();
}

static void feed_str(const char *s)
{
    feed((const uint8_t *)s, strlen(s));
}

static uint8_t outbuf[1 << 20];
static size_t outlen;

static void drain(void)
{
    size_t n;
    while ((n = fw_tx_pop(outbuf + outlen, sizeof outbuf - outlen)) > 0) {
        outlen += n;
    }
}

static void take(uint8_t *dst, size_t *n) /* everything sent so far, then forget it */
{
    drain();
    if (dst) {
        memcpy(dst, outbuf, outlen);
    }
    if (n) {
        *n = outlen;
    }
    outlen = 0;
}

static uint32_t le(const uint8_t *p, int n)
{
    uint32_t v = 0;
    while (n--) {
        v = (v << 8) | p[n];
    }
    return v;
}

/* Split a device output stream into frames with the protocol's resync rule. */
typedef struct {
    uint8_t type;
    const uint8_t *payload;
    uint16_t len;
} frm_t;

static int parse_frames(const uint8_t *p, size_t n, frm_t *f, int maxf, int *corrupt)
{
    size_t i = 0;
    int k = 0;
    *corrupt = 0;
    while (i + 1 < n) {
        size_t len;
        if (p[i] != 0xAA || p[i + 1] != 0x55) {
            i++;
            continue;
        }
        if (i + 5 > n) {
            break;
        }
        len = le(p + i + 3, 2);
        if (i + len + 8 > n) {
            break;
        }
        if (p[i + len + 7] != 0x0A || crc_ref(p + i + 2, len + 3) != le(p + i + len + 5, 2)) {
            (*corrupt)++;
            i++;
            continue;
        }
        if (k < maxf) {
            f[k].type = p[i + 2];
            f[k].payload = p + i + 5;
            f[k].len = (uint16_t)len;
        }
        k++;
        i += len + 8;
    }
    return k;
}

static uint8_t rbuf[1 << 20];

/* One binary command, one reply frame expected: returns its type, payload in rbuf. */
static int command(uint8_t type, const uint8_t *payload, size_t len, frm_t *reply)
{
    uint8_t fb[300];
    size_t n;
    frm_t f[4];
    int corrupt, k;
    feed(fb, frame(fb, type, payload, len));
    take(rbuf, &n);
    k = parse_frames(rbuf, n, f, 4, &corrupt);
    if (!CHECK(k == 1 && corrupt == 0)) {
        size_t i;
        fprintf(stderr, "  command %02x: %d frames, %d corrupt in", type, k, corrupt);
        for (i = 0; i < n; i++) {
            fprintf(stderr, " %02x", rbuf[i]);
        }
        fprintf(stderr, "\n");
    }
    if (k < 1) {
        return -1;
    }
    *reply = f[0];
    return f[0].type;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* STREAM_START payload for regions given as (addr, size) pairs. */
static size_t stream_start(uint8_t *p, uint8_t tag, uint8_t stream, uint32_t rate_mhz, int n,
                           const uint32_t *addr, const uint16_t *size)
{
    int i;
    p[0] = tag;
    p[1] = stream;
    put32(p + 2, rate_mhz);
    p[6] = (uint8_t)n;
    for (i = 0; i < n; i++) {
        put32(p + 7 + 6 * i, addr[i]);
        p[11 + 6 * i] = (uint8_t)size[i];
        p[12 + 6 * i] = (uint8_t)(size[i] >> 8);
    }
    return 7 + 6 * (size_t)n;
}

static int start_stream(uint8_t stream, uint32_t rate_mhz, int n, const uint32_t *addr,
                        const uint16_t *size)
{
    uint8_t p[64];
    frm_t r;
    size_t len = stream_start(p, 0x33, stream, rate_mhz, n, addr, size);
    int t = command(FW_T_STREAM_START, p, len, &r);
    return t == FW_T_ACK ? 0 : (t == FW_T_ERROR ? r.payload[1] : -1);
}

/* ---- tests ---- */

static void test_crc(void)
{
    const uint8_t check[] = "123456789";
    uint8_t b[256];
    uint16_t c = 0xFFFF;
    int i;
    for (i = 0; i < 9; i++) {
        c = fw_crc16(c, check[i]);
    }
    CHECK(c == 0x29B1);
    for (i = 0; i < 256; i++) {
        b[i] = (uint8_t)(i * 7 + 3);
    }
    c = 0xFFFF;
    for (i = 0; i < 256; i++) {
        c = fw_crc16(c, b[i]);
    }
    CHECK(c == crc_ref(b, 256));
}

static void test_identify_and_read_write(void)
{
    uint8_t p[32];
    frm_t r;
    reset_device();
    p[0] = 7;
    CHECK(command(FW_T_IDENTIFY, p, 1, &r) == FW_T_IDENT);
    CHECK(r.payload[0] == 7 && r.payload[1] == FW_PROTO_VERSION && r.payload[2] == FW_OPTION_FLAGS &&
          r.payload[3] == 4);
    CHECK(le(r.payload + 5, 4) == FW_TICK_HZ && r.payload[9] == FW_MAX_STREAMS);
    CHECK(r.payload[17] == 8 && memcmp(r.payload + 18, vbuild_id, 8) == 0);
    CHECK(r.payload[26] == 2 && le(r.payload + 27, 4) == BASE && r.payload[35] == 3);
    CHECK(r.len == 26 + 1 + 2 * 9);

    p[0] = 9;
    put32(p + 1, BASE + 0x10);
    p[5] = 4;
    p[6] = 0;
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_READ_DATA);
    CHECK(r.len == 9 && r.payload[0] == 9 && le(r.payload + 1, 4) == BASE + 0x10);
    CHECK(le(r.payload + 5, 4) == 0x13121110u);

    put32(p + 1, BASE + 0x20);
    memcpy(p + 5, "\xDE\xAD\xBE\xEF", 4);
    CHECK(command(FW_T_WRITE, p, 9, &r) == FW_T_WRITE_DATA);
    CHECK(r.len == 9 && memcmp(r.payload + 5, "\xDE\xAD\xBE\xEF", 4) == 0);
    CHECK(memcmp(mem + 0x20, "\xDE\xAD\xBE\xEF", 4) == 0);

    /* the const table: readable, not writable; nothing is written */
    put32(p + 1, BASE + 0x100);
    CHECK(command(FW_T_WRITE, p, 9, &r) == FW_T_ERROR);
    CHECK(r.payload[1] == FW_E_NOT_WRITABLE && le(r.payload + 2, 4) == BASE + 0x100);
    CHECK(mem[0x100] == 0x00 && mem[0x103] == 0x03);
    /* a write that starts writable and runs into the read-only table */
    put32(p + 1, BASE + 0xFE);
    CHECK(command(FW_T_WRITE, p, 9, &r) == FW_T_ERROR);
    CHECK(r.payload[1] == FW_E_NOT_WRITABLE && le(r.payload + 2, 4) == BASE + 0x100);
    CHECK(mem[0xFE] == 0xFE);

    /* reads across the two adjacent regions are fine, past the end are not */
    put32(p + 1, BASE + 0xFE);
    p[5] = 4;
    p[6] = 0;
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_READ_DATA);
    put32(p + 1, BASE + 0x13E);
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_ERROR);
    CHECK(r.payload[1] == FW_E_NOT_READABLE && le(r.payload + 2, 4) == BASE + 0x140);
    put32(p + 1, 0x00000010);
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_ERROR);
    CHECK(r.payload[1] == FW_E_NOT_READABLE && le(r.payload + 2, 4) == 0x10);
    /* too big for one frame */
    put32(p + 1, BASE);
    p[5] = (uint8_t)(FW_MAX_PAYLOAD - 4);
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_ERROR);
    CHECK(r.payload[1] == FW_E_TOO_BIG && le(r.payload + 2, 4) == FW_MAX_PAYLOAD - 5);
    p[5] = (uint8_t)(FW_MAX_PAYLOAD - 5);
    CHECK(command(FW_T_READ, p, 7, &r) == FW_T_READ_DATA && r.len == FW_MAX_PAYLOAD);
    CHECK(crit_depth == 0 && crit_max == 1);
}

static void test_region_wraparound(void)
{
    static const fw_region_t top[2] = {
        {0xFFFFFF00u, 0x100, FW_ACCESS_READ},
        {0x00000000u, 0x100, FW_ACCESS_READ},
    };
    static fw_config_t cfg;
    uint32_t bad = 1234;
    cfg.regions = top;
    cfg.nregions = 2;
    fw_init(&cfg);
    CHECK(fw_check_range(0xFFFFFF00u, 0x100, FW_ACCESS_READ, &bad) == 0);
    CHECK(fw_check_range(0xFFFFFFFFu, 1, FW_ACCESS_READ, &bad) == 0);
    /* would wrap from the top region into the one at 0: refused */
    CHECK(fw_check_range(0xFFFFFFF0u, 0x20, FW_ACCESS_READ, &bad) == 1 && bad == 0);
    CHECK(fw_check_range(0xFFFFFFFFu, 0xFFFFFFFFu, FW_ACCESS_READ, &bad) == 1);
    CHECK(fw_check_range(0x80u, 0x81u, FW_ACCESS_READ, &bad) == 1 && bad == 0x100);
    CHECK(fw_check_range(0x80u, 0xFFFFFFFFu, FW_ACCESS_READ, &bad) == 1 && bad == 0x100);
    CHECK(fw_check_range(0x10u, 4, FW_ACCESS_WRITE, &bad) == 1 && bad == 0x10);
    CHECK(fw_check_range(0x100u, 1, FW_ACCESS_READ, &bad) == 1 && bad == 0x100);
    CHECK(fw_check_range(0x50u, 0, FW_ACCESS_READ, &bad) == 0);
}

/* Count samples per stream over N ticks and compare with the exact long-run average. */
static void test_scheduler_exact(void)
{
    static const uint32_t rates[6] = {1000, 10000, 100000, 1000000, 333333, 500};
    uint32_t addr[1] = {BASE};
    uint16_t size[1] = {4};
    uint32_t count[6] = {0}, last[6] = {0}, worst_gap_err = 0;
    const uint32_t N = 100000, T = FW_TICK_HZ * 1000u;
    uint32_t t, frames = 0, ticks_with_due = 0;
    uint16_t seq = 0;
    int s;
    reset_device();
    for (s = 0; s < 6; s++) {
        CHECK(start_stream((uint8_t)s, rates[s], 1, addr, size) == 0);
    }
    for (t = 1; t <= N; t++) {
        uint8_t buf[1024];
        size_t n;
        frm_t f[4];
        int corrupt, k;
        fw_tick();
        take(buf, &n);
        k = parse_frames(buf, n, f, 4, &corrupt);
        CHECK(corrupt == 0 && k <= 1);
        if (k == 1) {
            uint32_t mask = le(f[0].payload + 6, 2);
            CHECK(f[0].type == FW_T_SAMPLES && le(f[0].payload, 2) == seq);
            CHECK(le(f[0].payload + 2, 4) == t);
            seq++;
            frames++;
            ticks_with_due++;
            for (s = 0; s < 6; s++) {
                if (mask & (1u << s)) {
                    /* the k-th sample of a stream is due at tick ceil(k*T/rate - (T-rate)/rate) */
                    uint64_t ideal = ((uint64_t)count[s] * T + rates[s] - 1) / rates[s] + 1;
                    uint32_t err = (uint32_t)(ideal > t ? ideal - t : t - ideal);
                    if (err > worst_gap_err) {
                        worst_gap_err = err;
                    }
                    count[s]++;
                    last[s] = t;
                }
            }
            CHECK(f[0].len == 8 + 4 * __builtin_popcount(mask));
        }
    }
    for (s = 0; s < 6; s++) {
        uint64_t expect = ((uint64_t)N * rates[s] + (T - rates[s])) / T;
        if (!CHECK(count[s] == expect)) {
            fprintf(stderr, "  rate %u mHz: %u samples, expected %llu\n", (unsigned)rates[s],
                    (unsigned)count[s], (unsigned long long)expect);
        }
    }
    CHECK(count[3] == N && count[0] == 100 && count[1] == 1000 && count[2] == 10000);
    CHECK(count[4] == 33334 || count[4] == 33333);
    CHECK(worst_gap_err <= 1);
    CHECK(frames == ticks_with_due && frames == N);
    (void)last;
}

static void test_samples_split_and_atomic_order(void)
{
    uint32_t a3[3] = {BASE, BASE + 0x40, BASE + 0x100};
    uint16_t z3[3] = {16, 16, 16};
    uint32_t a[1];
    uint16_t z[1] = {48};
    uint8_t buf[2048];
    size_t n;
    frm_t f[8];
    int corrupt, k;
    reset_device();
    a[0] = BASE + 0x10;
    CHECK(start_stream(2, 1000000, 1, a, z) == 0);
    a[0] = BASE + 0x80;
    CHECK(start_stream(5, 1000000, 1, a, z) == 0);
    CHECK(start_stream(9, 1000000, 3, a3, z3) == 0);
    fw_tick();
    take(buf, &n);
    k = parse_frames(buf, n, f, 8, &corrupt);
    /* 8 + 48 + 48 + 48 > FW_MAX_PAYLOAD: two frames, same ticks, consecutive seq */
    CHECK(k == 2 && corrupt == 0);
    CHECK(le(f[0].payload + 6, 2) == ((1u << 2) | (1u << 5)) && f[0].len == 8 + 96);
    CHECK(le(f[1].payload + 6, 2) == (1u << 9) && f[1].len == 8 + 48);
    CHECK(le(f[0].payload, 2) == 0 && le(f[1].payload, 2) == 1);
    CHECK(le(f[0].payload + 2, 4) == 1 && le(f[1].payload + 2, 4) == 1);
    CHECK(f[0].payload[8] == 0x10 && f[0].payload[8 + 48] == 0x80);
    CHECK(f[1].payload[8] == 0x00 && f[1].payload[8 + 16] == 0x40 && f[1].payload[8 + 32] == 0x00);
    /* one critical section per stream, never nested */
    CHECK(crit_max == 1 && crit_depth == 0);
}

static void test_stream_table(void)
{
    uint32_t a[9];
    uint16_t z[9];
    uint8_t p[8];
    frm_t r;
    int i;
    reset_device();
    for (i = 0; i < 9; i++) {
        a[i] = BASE + 8u * (uint32_t)i;
        z[i] = 1;
    }
    CHECK(start_stream(0, 1000, 2, a, z) == 0);
    CHECK(start_stream(1, 2000, 3, a + 2, z) == 0);
    CHECK(start_stream(2, 3000, 1, a + 5, z) == 0);
    CHECK(fw_pool_used() == 6);
    CHECK(start_stream(1, 4000, 1, a + 7, z) == 0); /* replace with fewer regions */
    CHECK(fw_pool_used() == 4 && fw.raddr[2] == BASE + 56 && fw.raddr[3] == BASE + 40);
    CHECK(start_stream(0, 5000, 4, a, z) == 0); /* replace with more */
    CHECK(fw_pool_used() == 6 && fw.raddr[4] == BASE + 56 && fw.raddr[5] == BASE + 40);
    p[0] = 1;
    CHECK(command(FW_T_LIST, p, 1, &r) == FW_T_LIST_DATA);
    CHECK(r.payload[1] == 3 && r.len == 2 + 3 * 6 + 6 * 6);
    CHECK(r.payload[2] == 0 && le(r.payload + 3, 4) == 5000 && r.payload[7] == 4);
    p[1] = 1;
    CHECK(command(FW_T_STREAM_STOP, p, 2, &r) == FW_T_ACK);
    CHECK(fw_pool_used() == 5 && fw.nreg[1] == 0 && fw.rate[1] == 0);
    CHECK(command(FW_T_STREAM_STOP, p, 2, &r) == FW_T_ERROR && r.payload[1] == FW_E_NO_STREAM);
    /* pool exhaustion */
    for (i = 3; i < 6; i++) {
        CHECK(start_stream((uint8_t)i, 1000, 6, a, z) == 0);
    }
    CHECK(fw_pool_used() == 23);
    CHECK(start_stream(7, 1000, 2, a, z) == FW_E_TOO_MANY_REGIONS);
    CHECK(start_stream(7, 1000, 1, a, z) == 0);
    CHECK(start_stream(8, 1000, 9, a, z) == FW_E_TOO_MANY_REGIONS);
    /* other refusals */
    CHECK(start_stream(16, 1000, 1, a, z) == FW_E_NO_STREAM);
    CHECK(start_stream(9, 0, 1, a, z) == FW_E_BAD_RATE);
    CHECK(start_stream(9, FW_TICK_HZ * 1000u + 1u, 1, a, z) == FW_E_BAD_RATE);
    p[1] = 0xFF;
    CHECK(command(FW_T_STREAM_STOP, p, 2, &r) == FW_T_ACK);
    CHECK(fw_pool_used() == 0 && fw_streams_running() == 0);
    z[0] = 65;
    CHECK(start_stream(9, 1000, 1, a, z) == FW_E_STREAM_TOO_BIG);
    z[0] = 40;
    z[1] = 40;
    CHECK(start_stream(9, 1000, 2, a, z) == FW_E_STREAM_TOO_BIG);
    z[0] = 0;
    CHECK(start_stream(9, 1000, 1, a, z) == FW_E_BAD_LENGTH);
    a[0] = 0x10;
    z[0] = 4;
    CHECK(start_stream(9, 1000, 1, a, z) == FW_E_NOT_READABLE);
    CHECK(fw_streams_running() == 0);
}

static void test_tx_overflow(void)
{
    uint32_t a[1] = {BASE};
    uint16_t z[1] = {64};
    uint8_t p[2] = {5, 0};
    fw_status_t st;
    size_t n;
    frm_t f[64], r;
    int corrupt, k, i, per_frame = 8 + 64 + 8;
    reset_device();
    CHECK(start_stream(3, 1000000, 1, a, z) == 0);
    for (i = 0; i < 100; i++) {
        fw_tick(); /* nobody drains the UART */
    }
    fw_get_status(&st);
    CHECK(st.ticks == 100);
    CHECK(st.dropped == (uint32_t)(100 - FW_TX_SIZE / per_frame));
    CHECK(st.tx_used == (uint32_t)((FW_TX_SIZE / per_frame) * per_frame));
    /* a command while TX is full: its reply waits, samples yield to it */
    {
        uint8_t fb[16], rd[7] = {6, 0, 0, 0, 0x20, 120, 0};
        feed(fb, frame(fb, FW_T_READ, rd, 7));
    }
    CHECK(fw.reply_waiting == 1);
    fw_tick();
    fw_get_status(&st);
    CHECK(st.dropped == (uint32_t)(101 - FW_TX_SIZE / per_frame));
    take(rbuf, &n);
    k = parse_frames(rbuf, n, f, 64, &corrupt);
    CHECK(k == FW_TX_SIZE / per_frame && corrupt == 0);
    for (i = 0; i < k; i++) {
        CHECK(f[i].type == FW_T_SAMPLES && le(f[i].payload, 2) == (uint32_t)i);
    }
    fw_poll(); /* now the reply fits */
    take(rbuf, &n);
    k = parse_frames(rbuf, n, f, 64, &corrupt);
    CHECK(k == 1 && f[0].type == FW_T_READ_DATA && f[0].len == 125);
    CHECK(fw.reply_waiting == 0);
    CHECK(command(FW_T_STATUS, p, 1, &r) == FW_T_STATUS_DATA);
    CHECK(le(r.payload + 1, 4) == (uint32_t)(101 - FW_TX_SIZE / per_frame));
    CHECK(le(r.payload + 23, 2) == 101); /* seq: 101 frames produced, sent or dropped */
    CHECK(r.payload[25] == 1 && r.payload[26] == 3);
    CHECK(le(r.payload + 27, 4) == (uint32_t)(101 - FW_TX_SIZE / per_frame));
    CHECK(le(r.payload + 17, 2) == (uint32_t)(FW_TX_SIZE / per_frame * per_frame));
    CHECK(r.len == 31);
    CHECK(fw.reply_waiting == 0);
    /* seq counted every produced frame: the next one tells the host how many it missed */
    fw_tick();
    take(rbuf, &n);
    k = parse_frames(rbuf, n, f, 64, &corrupt);
    CHECK(k == 1 && le(f[0].payload, 2) == 101);
}

static void test_garbage(void)
{
    uint32_t lcg = 12345;
    uint8_t in[40000], fb[32];
    size_t n = 0, outn;
    int frames = 0, i, k, corrupt, mode;
    frm_t *f = (frm_t *)malloc(sizeof(frm_t) * 2000);
    for (mode = 0; mode < 2; mode++) {
        reset_device();
        n = 0;
        frames = 0;
        while (n < sizeof in - 400) {
            int g = (int)((lcg = lcg * 1103515245u + 12345u) >> 16) % 40, j;
            for (j = 0; j < g; j++) {
                lcg = lcg * 1103515245u + 12345u;
                in[n++] = (uint8_t)(lcg >> 16);
                /* make false frame starts common */
                if ((lcg >> 8) % 13 == 0) {
                    in[n++] = 0xAA;
                    in[n++] = 0x55;
                }
            }
            fb[0] = (uint8_t)frames;
            n += frame(in + n, FW_T_IDENTIFY, fb, 1);
            frames++;
        }
        memset(in + n, 0, 200); /* completes any false frame still waiting for bytes */
        n += 200;
        if (mode == 0) {
            for (i = 0; i < (int)n; i++) { /* byte at a time */
                fw_rx_byte(in[i]);
                fw_poll();
                drain();
            }
        } else {
            for (i = 0; i < (int)n; i += 37) { /* bursts */
                int j;
                for (j = i; j < i + 37 && j < (int)n; j++) {
                    fw_rx_byte(in[j]);
                }
                fw_poll();
                drain();
            }
        }
        take(rbuf, &outn);
        k = parse_frames(rbuf, outn, f, 2000, &corrupt);
        /* every real frame is answered, in order, and nothing else is */
        CHECK(corrupt == 0);
        {
            int idents = 0, j;
            for (j = 0; j < k && j < 2000; j++) {
                if (f[j].type == FW_T_IDENT) {
                    CHECK(f[j].payload[0] == (uint8_t)idents);
                    idents++;
                }
            }
            if (!CHECK(idents == frames)) {
                fprintf(stderr, "  mode %d: %d replies for %d frames\n", mode, idents, frames);
            }
        }
        CHECK(fw.rx_errors > 0 && fw.overflows == 0);
    }
    free(f);
}

#if FW_TEXT_MODE
/* `text` with "|crc=XXXX" added before every '\n' (the check every device line carries). */
static const char *with_crc(const char *text)
{
    static char out[8192];
    size_t o = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        memcpy(out + o, line, n);
        o += n;
        if (!end) {
            break;
        }
        o += (size_t)sprintf(out + o, "|crc=%04X\n", crc_ref((const uint8_t *)line, n));
        line = end + 1;
    }
    out[o] = 0;
    return out;
}

static void text_expect(const char *line, const char *reply)
{
    size_t n;
    const char *want = with_crc(reply);
    feed_str(line);
    take(rbuf, &n);
    rbuf[n] = 0;
    if (!CHECK(strcmp((char *)rbuf, want) == 0)) {
        fprintf(stderr, "  sent %s  got      %s  expected %s", line, (char *)rbuf, want);
    }
}

/* A command line as a host sends it: "|crc=XXXX" before the newline. */
static const char *checked(const char *cmd)
{
    static char out[512];
    size_t n = strlen(cmd) - 1; /* without '\n' */
    memcpy(out, cmd, n);
    sprintf(out + n, "|crc=%04X\n", crc_ref((const uint8_t *)cmd, n));
    return out;
}

static void test_text_mode(void)
{
    reset_device();
    text_expect("INFO\n", "INFO|proto=3|endian=little|word=4|addr_size=4|tick_hz=1000|max_streams=16"
                          "|max_regions=8|max_stream_bytes=64|max_payload=128|tx_size=1024"
                          "|build_id=0102030405060708|region=0x20000000+256:rw"
                          "|region=0x20000100+64:r\n");
    text_expect("read 0x20000010 4\r\n", "DATA|addr=0x20000010|hex=10111213\n");
    text_expect("  READ   536870928\t2  \n", "DATA|addr=0x20000010|hex=1011\n");
    text_expect("WRITE 0x20000020 deadBEEF\n", "DATA|addr=0x20000020|hex=DEADBEEF\n");
    text_expect("WRITE 0x20000100 00\n", "ERR|code=4|name=NOT_WRITABLE|detail=0x20000100\n");
    text_expect("READ 0x10 4\n", "ERR|code=3|name=NOT_READABLE|detail=0x00000010\n");
    text_expect("WRITE 0x20000020 ABC\n", "ERR|code=2|name=BAD_LENGTH|detail=0x00000002\n");
    text_expect("READ 0x20000010\n", "ERR|code=2|name=BAD_LENGTH|detail=0x00000001\n");
    text_expect("READ 0x2000001G 4\n", "ERR|code=2|name=BAD_LENGTH|detail=0x00000002\n");
    text_expect("FROB\n", "ERR|code=1|name=BAD_COMMAND|detail=0x00000000\n");
    text_expect("\n", "");
    text_expect("HELP\n", "HELP|verbs=INFO,READ,WRITE,STREAM,STOP,LIST,STATUS,BINARY,TEXT,HELP\n");
    text_expect("STREAM 0x20000010 2 333.333\n", "OK|stream=0\n");
    text_expect("STREAM 0x20000000 4 0.5\n", "OK|stream=1\n");
    text_expect("STREAM 0x20000000 4 1000.001\n", "ERR|code=8|name=BAD_RATE|detail=0x000003E8\n");
    text_expect("STREAM 0x20000000 4 1.0001\n", "ERR|code=2|name=BAD_LENGTH|detail=0x00000003\n");
    text_expect("STREAM 0x20000000 4 1 3 9\n", "ERR|code=2|name=BAD_LENGTH|detail=0x00000005\n");
    text_expect("STREAM 0x20000000 4 1 16\n", "ERR|code=5|name=NO_STREAM|detail=0x00000010\n");
    /* with an id the line is idempotent: sent twice (a lost OK), it defines one stream */
    text_expect("STREAM 0x20000020 2 10 5\n", "OK|stream=5\n");
    text_expect("STREAM 0x20000020 2 10 5\n", "OK|stream=5\n");
    CHECK(fw_streams_running() == 3);
    text_expect("STOP 5\n", "OK\n");
    text_expect("LIST\n", "STREAM|stream=0|rate_mhz=333333|regions=0x20000010+2\n"
                          "STREAM|stream=1|rate_mhz=500|regions=0x20000000+4\nOK|streams=2\n");
    fw_tick();
    /* each stream's lines are a unit of their own: one seq each */
    text_expect("", "DATA|addr=0x20000010|hex=1011|t=1|seq=0|stream=0\n"
                    "DATA|addr=0x20000000|hex=00010203|t=1|seq=1|stream=1\n");
    fw_tick();
    fw_tick();
    fw_tick();
    text_expect("", ""); /* 333.333 Hz: due again only after 1000/333.333 = 3.000003 ticks */
    fw_tick();
    text_expect("", "DATA|addr=0x20000010|hex=1011|t=5|seq=2|stream=0\n");
    text_expect("STATUS\n", "STATUS|dropped=0|overflows=0|rx_errors=0|tx_used=0|tx_size=1024"
                            "|tx_high_water=220|ticks=5|seq=3|streams=2\n");
    text_expect("STOP 1\n", "OK\n");
    text_expect("STOP 1\n", "ERR|code=5|name=NO_STREAM|detail=0x00000001\n");
    text_expect("STOP all\n", "OK\n");
    /* BINARY: the OK is text, what follows is binary */
    text_expect("BINARY\n", "OK\n");
    CHECK(fw.text_out == 0);
    text_expect("TEXT\n", "OK\n");
    CHECK(fw.text_out == 1);
    /* garbage in a line: discarded and counted, the next line works */
    text_expect("READ \x01 0x20000010 4\nREAD 0x20000010 1\n", "DATA|addr=0x20000010|hex=10\n");
    CHECK(fw.rx_errors == 1);
    {
        char lng[400];
        memset(lng, 'x', sizeof lng - 2);
        lng[sizeof lng - 2] = '\n';
        lng[sizeof lng - 1] = 0;
        text_expect(lng, "");
        CHECK(fw.rx_errors == 2);
        text_expect("READ 0x20000011 1\n", "DATA|addr=0x20000011|hex=11\n");
    }
    /* a failed text command does not switch a binary link to text */
    text_expect("BINARY\n", "OK\n");
    text_expect("NOISE\n", "ERR|code=1|name=BAD_COMMAND|detail=0x00000000\n");
    CHECK(fw.text_out == 0);
    /* checked lines (what a host sends): executed when the CRC matches, dropped and counted
     * otherwise, whatever the damage */
    {
        uint32_t e = fw.rx_errors;
        char bad[64];
        text_expect(checked("READ 0x20000012 1\n"), "DATA|addr=0x20000012|hex=12\n");
        text_expect("READ 0x20000012 1|crc=0000\n", "");
        CHECK(fw.rx_errors == e + 1);
        strcpy(bad, checked("WRITE 0x20000030 77\n"));
        bad[18] = '6'; /* 77 -> 67: a flip the CRC must catch */
        text_expect(bad, "");
        CHECK(mem[0x30] == 0x30 && fw.rx_errors == e + 2);
        text_expect("READ 0x20000012 1|crc=12\n", "");           /* short check */
        text_expect("READ 0x20000012 1|CRC=1234\n", "");         /* not the key */
        text_expect("READ 0x20000012 1|crc=12G4\n", "");         /* not hex */
        text_expect("READ 0x20000012 1 |x\n", "");               /* a '|' that is no check */
        CHECK(fw.rx_errors == e + 6);
        strcpy(bad, checked("WRITE 0x20000030 77\n"));
        text_expect(bad, "DATA|addr=0x20000030|hex=77\n");
        CHECK(mem[0x30] == 0x77 && fw.rx_errors == e + 6);
        mem[0x30] = 0x30;
    }
}

/* A LIST larger than what is free in the TX buffer is sent a line at a time, each line
 * whole and checked; samples yield to it (counted as dropped) and resume afterwards. */
static void test_text_list_larger_than_tx(void)
{
    uint8_t s;
    size_t total = 0;
    char *all = (char *)rbuf;
    int lines = 0, polls = 0, i;
    reset_device();
    for (s = 0; s < FW_MAX_STREAMS && s < FW_MAX_TOTAL_REGIONS; s++) {
        uint32_t a = BASE + 0x10 * (s % 16);
        uint16_t z = 1;
        CHECK(start_stream(s, 1000000u, 1, &a, &z) == 0);
    }
    take(NULL, NULL);
    for (i = 0; i < 20; i++) { /* the TX buffer fills up with samples nobody drains */
        fw_tick();
    }
    CHECK(fw_tx_pending() > FW_TX_SIZE / 2);
    feed_str("LIST\n");
    while (polls++ < 10000 && total + 64 < sizeof rbuf) {
        uint8_t chunk[40];
        size_t k = fw_tx_pop(chunk, sizeof chunk); /* a slow link */
        memcpy(all + total, chunk, k);
        total += k;
        if (fw.list_next == 0 && !fw.reply_waiting && fw.rx_head == fw.rx_tail) {
            break; /* the listing is queued: stop here, then take what is left */
        }
        fw_tick();
        fw_poll();
    }
    CHECK(polls < 10000);
    fw_stream_stop(0xFF);
    while (total + 4096 < sizeof rbuf) {
        size_t k = fw_tx_pop((uint8_t *)all + total, 4096);
        if (k == 0) {
            break;
        }
        total += k;
    }
    CHECK(fw.dropped > 0); /* samples yielded to the listing */
    {
        /* the output mixes binary SAMPLES frames (with NULs) and text: scan bytes */
        size_t k;
        for (k = 0; k + 12 < total; k++) {
            int is_ok = memcmp(all + k, "OK|streams=", 11) == 0;
            if (memcmp(all + k, "STREAM|stream=", 14) == 0 || is_ok) {
                char *start = all + k, *end = memchr(start, '\n', total - k), *c;
                unsigned want = 0;
                if (!CHECK(end != NULL)) {
                    break;
                }
                *end = 0;
                c = strstr(start, "|crc=");
                if (CHECK(c != NULL) && sscanf(c, "|crc=%4X", &want) == 1) {
                    CHECK(want == crc_ref((const uint8_t *)start, (size_t)(c - start)));
                }
                if (is_ok) {
                    CHECK(atoi(start + 11) == s);
                }
                lines++;
                k = (size_t)(end - all);
            }
        }
    }
    if (!CHECK(lines == s + 1)) {
        fprintf(stderr, "  %d lines for %d streams\n", lines, s);
    }
}

#endif

static void test_rx_overflow(void)
{
    int i;
    reset_device();
    for (i = 0; i < FW_RX_SIZE + 10; i++) {
        fw_rx_byte('x');
    }
    CHECK(fw.overflows == 11);
    feed_str("\nINFO\n");
#if FW_TEXT_MODE
    CHECK(fw.rx_errors == 1); /* the too-long line of x */
#else
    CHECK(fw.rx_errors == 0); /* without text mode, printable bytes are just dropped */
#endif
}


static int guards_intact(void)
{
    int i;
    for (i = 0; i < GUARD; i++) {
        if (arena[i] != 0xA5 || arena[GUARD + 0x140 + i] != 0xA5) {
            return 0;
        }
    }
    return 1;
}

/* Random input biased towards things that look like commands: frames with random fields,
 * damaged frames, text lines, raw noise. The device must never write outside its regions,
 * never emit a damaged frame, keep its critical sections balanced, and keep answering. */
static void test_fuzz(void)
{
    uint32_t lcg = 99;
    uint8_t in[300], p[200];
    long round;
    size_t total_out = 0;
    frm_t *f = (frm_t *)malloc(sizeof(frm_t) * 4096);
    int corrupt, k, bad_out = 0;
#define RND() ((lcg = lcg * 1664525u + 1013904223u) >> 8)
    reset_device();
    for (round = 0; round < 200000; round++) {
        uint32_t kind = RND() % 10, len = 0, i;
        if (kind < 5) { /* a well-formed frame of a random type with random fields */
            uint32_t plen = RND() % 40;
            uint8_t type = (uint8_t)(RND() % 10);
            for (i = 0; i < plen; i++) {
                p[i] = (uint8_t)RND();
            }
            if (plen >= 5 && RND() % 2) { /* an address near the regions */
                put32(p + 1, BASE - 8 + RND() % 0x160);
                p[5] = (uint8_t)(RND() % 80);
                p[6] = 0;
            }
            if (type == FW_T_STREAM_START && plen >= 7) {
                p[1] = (uint8_t)(RND() % 18);
                put32(p + 2, RND() % 1200000);
                p[6] = (uint8_t)((plen - 7) / 6);
                plen = 7 + 6 * p[6];
                for (i = 0; i < p[6]; i++) {
                    put32(p + 7 + 6 * i, BASE - 4 + RND() % 0x150);
                    p[11 + 6 * i] = (uint8_t)(RND() % 20);
                    p[12 + 6 * i] = 0;
                }
            }
            len = frame(in, type, p, plen);
            if (kind == 4) { /* damage it */
                uint32_t at = RND() % len, bit = RND() % 8;
                in[at] ^= (uint8_t)(1u << bit);
            }
        } else if (kind < 8) { /* a text line */
            static const char *const verbs[] = {"INFO", "READ", "WRITE", "STREAM", "STOP", "LIST",
                                                "STATUS", "BINARY", "TEXT", "HELP", "x"};
            const char *verb = verbs[RND() % 11];
            unsigned a = (unsigned)(BASE - 8 + RND() % 0x160), z = (unsigned)(RND() % 70);
            unsigned hz = (unsigned)(RND() % 1100), milli = (unsigned)(RND() % 1000);
            len = (uint32_t)sprintf((char *)in, "%s 0x%08X %u %u.%u\n", verb, a, z, hz, milli);
        } else { /* noise */
            len = RND() % 60;
            for (i = 0; i < len; i++) {
                in[i] = (uint8_t)(RND() % 5 == 0 ? 0xAA : RND());
            }
        }
        for (i = 0; i < len; i++) {
            fw_rx_byte(in[i]);
            if (RND() % 16 == 0) {
                fw_poll();
            }
        }
        fw_poll();
        if (RND() % 3 == 0) {
            fw_tick();
        }
        if (RND() % 4 == 0) { /* the host drains the link now and then */
            drain();
        }
        if (outlen > (1u << 19)) {
            k = parse_frames(outbuf, outlen, f, 4096, &corrupt);
            bad_out += corrupt;
            total_out += outlen;
            outlen = 0;
        }
        if (!guards_intact() || crit_depth != 0) {
            break;
        }
    }
    drain();
    k = parse_frames(outbuf, outlen, f, 4096, &corrupt);
    bad_out += corrupt;
    total_out += outlen;
    outlen = 0;
    CHECK(guards_intact());
    CHECK(crit_depth == 0 && crit_max == 1);
    CHECK(bad_out == 0);
    CHECK(total_out > 1000000);
    /* and it still answers */
    fw_init(&vcfg);
    p[0] = 0x5A;
    {
        frm_t r;
        CHECK(command(FW_T_IDENTIFY, p, 1, &r) == FW_T_IDENT && r.payload[0] == 0x5A);
    }
    (void)k;
    free(f);
#undef RND
}

#if FW_CAPTURE || FW_CHANGE_ONLY
#include "test_options.c" /* the optional modules' tests share this file's device and helpers */
#endif

/* ---- shared vectors ---- */

static int hexbytes(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    if (strcmp(s, "-") == 0) {
        return 0;
    }
    while (s[0] && s[1] && n < max) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) {
            return -1;
        }
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return (int)n;
}

static void run_vectors(const char *path)
{
    static char line[70000];
    static uint8_t bytes[35000];
    char session[256] = "";
    FILE *fp = fopen(path, "r");
    int lineno = 0, nvec = 0;
    if (!CHECK(fp != NULL)) {
        return;
    }
    while (fgets(line, sizeof line, fp)) {
        char kw[16], arg1[35000], arg2[64];
        int n;
        lineno++;
        arg1[0] = arg2[0] = 0;
        if (sscanf(line, "%15s %34999s %63s", kw, arg1, arg2) < 1) {
            continue;
        }
        nvec++;
        if (strcmp(kw, "crc") == 0) {
            unsigned want;
            uint16_t c = 0xFFFF;
            int i;
            n = hexbytes(arg1, bytes, sizeof bytes);
            sscanf(arg2, "%x", &want);
            for (i = 0; i < n; i++) {
                c = fw_crc16(c, bytes[i]);
            }
            if (!CHECK(c == want)) {
                fprintf(stderr, "  %s:%d crc of %s is %04X\n", path, lineno, arg1, c);
            }
        } else if (strcmp(kw, "session") == 0) {
            strncpy(session, arg1, sizeof session - 1);
            reset_device();
            outlen = 0;
        } else if (strcmp(kw, "send") == 0) {
            n = hexbytes(arg1, bytes, sizeof bytes);
            feed(bytes, (size_t)n);
        } else if (strcmp(kw, "tick") == 0) {
            int k = atoi(arg1);
            while (k-- > 0) {
                fw_tick();
                drain();
            }
        } else if (strcmp(kw, "timer") == 0) {
#if FW_CAPTURE
            int k = atoi(arg1);
            while (k-- > 0) {
                fw_capture_timer();
                drain();
            }
#else
            CHECK(!"a capture timer step needs a build with FW_CAPTURE");
#endif
        } else if (strcmp(kw, "expect") == 0) {
            size_t got;
            n = hexbytes(arg1, bytes, sizeof bytes);
            take(rbuf, &got);
            if (!CHECK((size_t)n == got && memcmp(rbuf, bytes, got) == 0)) {
                size_t i;
                fprintf(stderr, "  %s:%d (session %s) expected %s\n  got ", path, lineno, session, arg1);
                for (i = 0; i < got; i++) {
                    fprintf(stderr, "%02x", rbuf[i]);
                }
                fprintf(stderr, "\n");
            }
        } else if (strcmp(kw, "errors") == 0) {
            if (!CHECK(fw.rx_errors == (uint32_t)atol(arg1))) {
                fprintf(stderr, "  %s:%d (session %s) rx_errors %u, expected %s\n", path, lineno,
                        session, (unsigned)fw.rx_errors, arg1);
            }
        } else {
            CHECK(!"unknown vector keyword");
        }
    }
    fclose(fp);
    printf("vectors: %d lines checked from %s\n", nvec, path);
}

int main(int argc, char **argv)
{
#if FW_TEXT_MODE
    if (argc > 1 && strcmp(argv[1], "--list-only") == 0) {
        /* the parts that hold for any compile-time limits (tests/test_firmware_core.py) */
        test_text_list_larger_than_tx();
        printf("%d checks, %d failed\n", checks, failures);
        return failures ? 1 : 0;
    }
#endif
    test_crc();
    test_identify_and_read_write();
    test_region_wraparound();
    test_scheduler_exact();
    test_samples_split_and_atomic_order();
    test_stream_table();
    test_tx_overflow();
    test_garbage();
#if FW_TEXT_MODE
    test_text_mode();
    test_text_list_larger_than_tx();
#endif
    test_rx_overflow();
    test_fuzz();
#if FW_CAPTURE || FW_CHANGE_ONLY
    test_options();
#endif
    if (argc > 1) {
        run_vectors(argv[1]);
    }
    CHECK(crit_depth == 0 && crit_max == 1);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
