/*
 * Unit tests of the core's optional modules: change-only streams (FW_CHANGE_ONLY) and triggered
 * capture (FW_CAPTURE). Not compiled on its own: test_core.c includes it in a build with the
 * options, so these tests run on the same vector device with the same helpers, after the
 * core's own tests (which must pass unchanged with the options compiled in).
 */

#if FW_CAPTURE
static uint8_t capbuf[GUARD + 256 + GUARD];
static uint32_t timer_calls, timer_last = 0xFFFFFFFFu;

static void capture_timer_hook(uint32_t divider)
{
    timer_calls++;
    timer_last = divider;
}

static fw_capture_config_t capcfg;

static void reset_capture(void)
{
    size_t i;
    for (i = 0; i < sizeof capbuf; i++) {
        capbuf[i] = 0x5A;
    }
    timer_calls = 0;
    timer_last = 0xFFFFFFFFu;
    capcfg.buffer = capbuf + GUARD;
    capcfg.size = 256;
    capcfg.timer_hz = 100000;
    capcfg.timer_max_divider = 1000;
    capcfg.timer = capture_timer_hook;
    fw_capture_init(&capcfg);
}
#endif

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void poke16(uint32_t off, uint16_t v)
{
    mem[off] = (uint8_t)v;
    mem[off + 1] = (uint8_t)(v >> 8);
}

/* All frames the device sent since the last take(). */
static int frames_out(frm_t *f, int maxf)
{
    size_t n;
    int corrupt, k;
    take(rbuf, &n);
    k = parse_frames(rbuf, n, f, maxf, &corrupt);
    CHECK(corrupt == 0);
    return k;
}

#if FW_CHANGE_ONLY
static int stream_filter(uint8_t stream, uint16_t heartbeat, int n, const uint8_t *kind, const uint32_t *band)
{
    uint8_t p[64];
    frm_t r;
    int i, t;
    p[0] = 0x44;
    p[1] = stream;
    put16(p + 2, heartbeat);
    p[4] = (uint8_t)n;
    for (i = 0; i < n; i++) {
        p[5 + 5 * i] = kind[i];
        put32(p + 6 + 5 * i, band[i]);
    }
    t = command(FW_T_STREAM_FILTER, p, 5 + 5 * (size_t)n, &r);
    return t == FW_T_ACK ? 0 : (t == FW_T_ERROR ? r.payload[1] : -1);
}

/* A dropped sample (TX full) keeps the value last *sent*: the change goes out at the next
 * instant instead of being lost, and seq still counts the dropped frame. */
static void test_change_only_drop_keeps_last_sent(void)
{
    uint32_t a[2] = {BASE + 0x30, BASE + 0x80};
    uint16_t z[2] = {2, 60};
    uint8_t kind[2] = {FW_K_UNSIGNED, FW_K_NONE};
    uint32_t band[2] = {0, 0};
    frm_t f[64];
    int k, i, per = 8 + 8 + 62;
    reset_device();
    CHECK(start_stream(0, 1000000, 2, a, z) == 0);
    CHECK(stream_filter(0, 1000, 2, kind, band) == 0);
    fw_tick(); /* the first instant sends */
    CHECK(frames_out(f, 64) == 1);
    /* fill TX with changes nobody drains */
    for (i = 0; i < 40; i++) {
        poke16(0x30, (uint16_t)(100 + i));
        fw_tick();
    }
    CHECK(fw.dropped == (uint32_t)(40 - FW_TX_SIZE / per));
    CHECK(fw.sdropped[0] == fw.dropped);
    k = frames_out(f, 64);
    CHECK(k == FW_TX_SIZE / per);
    CHECK(le(f[k - 1].payload + 8, 2) == (uint32_t)(100 + k - 1));
    /* the value did not move since, yet the last one sent is older: it goes out now */
    fw_tick();
    k = frames_out(f, 64);
    CHECK(k == 1 && le(f[0].payload + 8, 2) == 139 && le(f[0].payload, 2) == 41);
    fw_tick();
    CHECK(frames_out(f, 64) == 0);
}

static void test_change_only_kinds(void)
{
    uint32_t a[4] = {BASE + 0x30, BASE + 0x34, BASE + 0x38, BASE + 0x3C};
    uint16_t z[4] = {4, 1, 2, 1};
    uint8_t kind[4] = {FW_K_FLOAT, FW_K_ANY, FW_K_SIGNED, FW_K_NONE};
    union {
        float f;
        uint32_t u;
    } v, db;
    uint32_t band[4];
    frm_t f[8];
    db.f = 0.5f;
    band[0] = db.u;
    band[1] = 0;
    band[2] = 0;
    band[3] = 0;
    reset_device();
    v.f = 1.0f;
    put32(mem + 0x30, v.u);
    CHECK(start_stream(2, 1000000, 4, a, z) == 0);
    CHECK(stream_filter(2, 60000, 4, kind, band) == 0);
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    v.f = 1.4f; /* within 0.5 */
    put32(mem + 0x30, v.u);
    fw_tick();
    CHECK(frames_out(f, 8) == 0);
    v.f = 1.6f;
    put32(mem + 0x30, v.u);
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    mem[0x34] ^= 1; /* any change */
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    poke16(0x38, (uint16_t)(le(mem + 0x38, 2) + 1)); /* deadband 0: any change of the number */
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    mem[0x3C] ^= 0xFF; /* kind none */
    fw_tick();
    CHECK(frames_out(f, 8) == 0);
    v.u = 0x7FC00000u; /* NaN moved */
    put32(mem + 0x30, v.u);
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    /* regions bigger than 4 bytes can ride along but not be compared */
    {
        uint32_t a2[1] = {BASE};
        uint16_t z2[1] = {8};
        uint8_t k2[1] = {FW_K_ANY};
        CHECK(start_stream(3, 1000000, 1, a2, z2) == 0);
        CHECK(stream_filter(3, 5, 1, k2, band + 1) == FW_E_BAD_CONDITION);
        k2[0] = FW_K_NONE;
        CHECK(stream_filter(3, 5, 1, k2, band + 1) == 0);
    }
}

/* Another stream changing size moves the pool entries of later streams: their filters move along. */
static void test_change_only_filters_move_with_the_pool(void)
{
    uint32_t a[2] = {BASE + 0x30, BASE + 0x32};
    uint16_t z[2] = {2, 2};
    uint8_t kind[2] = {FW_K_UNSIGNED, FW_K_UNSIGNED};
    uint32_t band[2] = {10, 1000};
    frm_t f[8];
    reset_device();
    CHECK(start_stream(1, 1000000, 1, a, z) == 0);
    CHECK(start_stream(5, 1000000, 2, a, z) == 0);
    CHECK(stream_filter(5, 60000, 2, kind, band) == 0);
    fw_tick();
    CHECK(frames_out(f, 8) == 1);
    CHECK(start_stream(1, 1000000, 2, a, z) == 0); /* stream 5's entries move up by one */
    fw_tick();
    CHECK(frames_out(f, 8) == 1); /* stream 1 only (new: due at once) */
    CHECK(le(f[0].payload + 6, 2) == 0x0002);
    poke16(0x32, (uint16_t)(le(mem + 0x32, 2) + 500)); /* inside region 1's band of 1000 */
    fw_tick();
    CHECK(frames_out(f, 8) == 1 && le(f[0].payload + 6, 2) == 0x0002);
    poke16(0x30, (uint16_t)(le(mem + 0x30, 2) + 11)); /* beyond region 0's band of 10 */
    fw_tick();
    CHECK(frames_out(f, 8) == 1 && le(f[0].payload + 6, 2) == 0x0022);
}

#if FW_TEXT_MODE
static void test_change_only_in_text_mode(void)
{
    uint32_t a[1] = {BASE + 0x30};
    uint16_t z[1] = {1};
    uint8_t kind[1] = {FW_K_UNSIGNED};
    uint32_t band[1] = {0};
    size_t n;
    reset_device();
    CHECK(start_stream(0, 1000000, 1, a, z) == 0);
    CHECK(stream_filter(0, 100, 1, kind, band) == 0);
    feed_str("TEXT\n");
    take(NULL, NULL);
    fw_tick();
    take(rbuf, &n);
    CHECK(n > 0 && memcmp(rbuf, "DATA|addr=0x20000030|hex=30|t=1|seq=0|stream=0", 46) == 0);
    fw_tick();
    take(rbuf, &n);
    CHECK(n == 0);
    mem[0x30] = 0x31;
    fw_tick();
    take(rbuf, &n);
    CHECK(n > 0 && memcmp(rbuf, "DATA|addr=0x20000030|hex=31|t=3|seq=1|stream=0", 46) == 0);
}
#endif
#endif

#if FW_CAPTURE
typedef struct {
    uint8_t mode, source, ch, op, kind;
    uint32_t divider, samples, pre, level, mask;
    int n;
    uint32_t addr[9];
    uint16_t size[9];
} arm_t;

static int capture_arm(const arm_t *c, frm_t *r)
{
    uint8_t p[96];
    int i, t;
    p[0] = 0x61;
    p[1] = c->mode;
    p[2] = c->source;
    put32(p + 3, c->divider);
    put32(p + 7, c->samples);
    put32(p + 11, c->pre);
    p[15] = c->ch;
    p[16] = c->op;
    p[17] = c->kind;
    put32(p + 18, c->level);
    put32(p + 22, c->mask);
    p[26] = (uint8_t)c->n;
    for (i = 0; i < c->n; i++) {
        put32(p + 27 + 6 * i, c->addr[i]);
        put16(p + 31 + 6 * i, c->size[i]);
    }
    t = command(FW_T_CAPTURE_ARM, p, 27 + 6 * (size_t)c->n, r);
    return t == FW_T_ACK ? 0 : (t == FW_T_ERROR ? r->payload[1] : -1);
}

static int capture_control(uint8_t action, uint16_t id)
{
    uint8_t p[4] = {0x62, action, (uint8_t)id, (uint8_t)(id >> 8)};
    frm_t r;
    int t = command(FW_T_CAPTURE_CONTROL, p, 4, &r);
    return t == FW_T_ACK ? 0 : (t == FW_T_ERROR ? r.payload[1] : -1);
}

typedef struct {
    uint8_t state;
    uint16_t id;
    uint32_t waited, trig_index, trig_ticks, slips, samples;
    uint16_t sample_bytes;
} cstat_t;

static cstat_t capture_status(void)
{
    uint8_t p[1] = {0x63};
    frm_t r;
    cstat_t s;
    memset(&s, 0, sizeof s);
    if (CHECK(command(FW_T_CAPTURE_STATUS, p, 1, &r) == FW_T_CAPTURE_STATUS_DATA)) {
        s.state = r.payload[1];
        s.id = (uint16_t)le(r.payload + 2, 2);
        s.samples = le(r.payload + 23, 4);
        s.waited = le(r.payload + 31, 4);
        s.trig_index = le(r.payload + 35, 4);
        s.trig_ticks = le(r.payload + 39, 4);
        s.slips = le(r.payload + 43, 4);
        s.sample_bytes = (uint16_t)le(r.payload + 47, 2);
        CHECK(r.len == 65 + 6 * r.payload[64]);
    }
    return s;
}

/* Upload the whole capture: CAPTURE_READ, then poll until every chunk arrived, in order. */
static size_t capture_upload(uint16_t id, uint32_t offset, uint32_t length, uint8_t *out)
{
    uint8_t p[11] = {0x64};
    uint8_t fb[32];
    frm_t f[64];
    size_t got = 0;
    int k, i, rounds = 0;
    put16(p + 1, id);
    put32(p + 3, offset);
    put32(p + 7, length);
    feed(fb, frame(fb, FW_T_CAPTURE_READ, p, 11));
    while (got < length && rounds++ < 1000) {
        k = frames_out(f, 64);
        for (i = 0; i < k; i++) {
            if (f[i].type == FW_T_ACK) {
                continue;
            }
            if (!CHECK(f[i].type == FW_T_CAPTURE_DATA && le(f[i].payload, 2) == id &&
                       le(f[i].payload + 2, 4) == offset + got)) {
                return got;
            }
            CHECK(f[i].len <= FW_MAX_PAYLOAD);
            memcpy(out + got, f[i].payload + 6, f[i].len - 6u);
            got += f[i].len - 6u;
        }
        fw_poll();
    }
    return got;
}

static arm_t base_arm(void)
{
    arm_t c;
    memset(&c, 0, sizeof c);
    c.divider = 1;
    c.kind = FW_K_UNSIGNED;
    c.n = 1;
    c.addr[0] = BASE + 0x50;
    c.size[0] = 1;
    return c;
}

/* Every condition fires at the sample it should, after exactly `pre` samples. */
static void test_capture_conditions(void)
{
    static const struct {
        uint8_t op, kind;
        uint32_t level, mask;
        int16_t before, at; /* the value before the trigger sample and at it */
        int16_t quiet;      /* a value that must not fire (held for the pre samples) */
    } cases[] = {
        {1, FW_K_UNSIGNED, 100, 0, 99, 100, 50},    /* rising through 100 */
        {2, FW_K_SIGNED, 0xFFFFFFF6u, 0, -9, -10, 5},   /* falling through -10 */
        {3, FW_K_SIGNED, 0, 0, 5, -1, 5},           /* either edge through 0 */
        {4, FW_K_SIGNED, 0xFFFFFF9Cu, 0, -101, -99, -200}, /* above -100 */
        {5, FW_K_UNSIGNED, 10, 0, 11, 9, 20},       /* below 10 */
        {6, FW_K_UNSIGNED, 0x1234, 0, 0x1233, 0x1234, 7}, /* equal */
        {7, FW_K_UNSIGNED, 7, 0, 7, 8, 7},          /* not equal */
        {8, FW_K_ANY, 0, 0, 3, 4, 3},               /* any change */
        {9, FW_K_ANY, 0x0100, 0x0300, 0x0200, 0x0100, 0x0300}, /* bits 8..9 == 01 */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arm_t c = base_arm();
        frm_t r;
        cstat_t s;
        int t;
        uint8_t data[64];
        reset_device();
        c.op = cases[i].op;
        c.kind = cases[i].kind;
        c.level = cases[i].level;
        c.mask = cases[i].mask;
        c.samples = 8;
        c.pre = 3;
        c.addr[0] = BASE + 0x40;
        c.size[0] = 2;
        poke16(0x40, (uint16_t)cases[i].quiet);
        CHECK(capture_arm(&c, &r) == 0);
        for (t = 0; t < 5; t++) {
            fw_tick();
        }
        s = capture_status();
        if (!CHECK(s.state == FW_CAP_ARMED && s.waited == 5)) {
            fprintf(stderr, "  case %u fired on its quiet value\n", (unsigned)i);
        }
        poke16(0x40, (uint16_t)cases[i].before);
        fw_tick();
        s = capture_status();
        if (!CHECK(s.state == FW_CAP_ARMED)) {
            fprintf(stderr, "  case %u fired before\n", (unsigned)i);
        }
        poke16(0x40, (uint16_t)cases[i].at);
        fw_tick(); /* tick 7: the trigger */
        for (t = 0; t < 3; t++) {
            fw_tick();
        }
        s = capture_status();
        CHECK(s.state == FW_CAP_TRIGGERED && s.trig_ticks == 7);
        fw_tick();
        s = capture_status();
        if (!CHECK(s.state == FW_CAP_DONE && s.id == 1 && s.trig_index == 3 && s.trig_ticks == 7)) {
            fprintf(stderr, "  case %u: state %u trig at %u\n", (unsigned)i, s.state, (unsigned)s.trig_ticks);
        }
        CHECK(capture_upload(1, 0, 16, data) == 16);
        CHECK(le(data + 4, 2) == (uint16_t)cases[i].before && le(data + 6, 2) == (uint16_t)cases[i].at);
        CHECK(le(data, 2) == (uint16_t)cases[i].quiet);
    }
}

/* A long wait wraps the ring many times: still exactly `pre` samples before, in order. */
static void test_capture_ring_wraps_and_order(void)
{
    arm_t c = base_arm();
    frm_t r;
    cstat_t s;
    uint8_t data[256];
    uint32_t i;
    reset_device();
    c.op = 4; /* above */
    c.level = 200;
    c.samples = 40;
    c.pre = 30;
    c.n = 2;
    c.addr[0] = BASE + 0x40; /* a counter the test writes before every tick */
    c.size[0] = 1;
    c.addr[1] = BASE + 0x48;
    c.size[1] = 4;
    mem[0x40] = 0;
    CHECK(capture_arm(&c, &r) == 0);
    for (i = 1; i <= 300; i++) {
        mem[0x40] = (uint8_t)(i > 200 ? 201 : i % 200);
        put32(mem + 0x48, i);
        fw_tick();
    }
    s = capture_status();
    CHECK(s.state == FW_CAP_DONE && s.trig_index == 30 && s.sample_bytes == 5);
    CHECK(capture_upload(s.id, 0, 200, data) == 200);
    for (i = 0; i < 40; i++) {
        CHECK(le(data + 5 * i + 1, 4) == 201 - 30 + i); /* tick 201 is the trigger */
    }
    CHECK(memcmp(capbuf, "\x5A\x5A\x5A\x5A", 4) == 0 && capbuf[GUARD + 256] == 0x5A);
}

/* The tick divider: samples exactly every `divider` ticks, the first on the next tick. */
static void test_capture_divider(void)
{
    arm_t c = base_arm();
    frm_t r;
    cstat_t s;
    uint8_t data[200];
    uint32_t i;
    reset_device();
    c.divider = 7;
    c.samples = 50;
    c.pre = 0;
    c.op = 0; /* forced */
    c.addr[0] = BASE + 0x48;
    c.size[0] = 4;
    CHECK(capture_arm(&c, &r) == 0);
    CHECK(capture_control(1, 0) == 0);
    for (i = 1; i <= 400; i++) {
        put32(mem + 0x48, fw.ticks + 1);
        fw_tick();
    }
    s = capture_status();
    CHECK(s.state == FW_CAP_DONE && s.trig_index == 0 && s.trig_ticks == 1);
    CHECK(capture_upload(s.id, 0, 200, data) == 200);
    for (i = 0; i < 50; i++) {
        CHECK(le(data + 4 * i, 4) == 1 + 7 * i);
    }
}

/* The capture timer: the port is told the divider, samples come from its interrupt, slips are
 * counted while running, and the timer is stopped when the capture completes or stops. */
static void test_capture_timer_source(void)
{
    arm_t c = base_arm();
    frm_t r;
    cstat_t s;
    int i;
    reset_device();
    c.source = 1;
    c.divider = 5; /* 20 kHz of the 100 kHz timer */
    c.samples = 10;
    c.pre = 4;
    c.op = 1;
    c.level = 0x80;
    fw_capture_slip(3); /* not running: not counted */
    CHECK(capture_arm(&c, &r) == 0);
    CHECK(timer_calls == 1 && timer_last == 5);
    for (i = 0; i < 20; i++) {
        fw_tick(); /* the tick takes no sample from a timer capture */
    }
    CHECK(capture_status().waited == 0);
    for (i = 0; i < 6; i++) {
        fw_capture_timer();
    }
    fw_capture_slip(2);
    mem[0x50] = 0x81;
    fw_capture_timer();
    s = capture_status();
    CHECK(s.state == FW_CAP_TRIGGERED && s.waited == 7 && s.slips == 2 && s.trig_ticks == 20);
    for (i = 0; i < 5; i++) {
        fw_capture_timer();
    }
    s = capture_status();
    CHECK(s.state == FW_CAP_DONE && s.trig_index == 4);
    CHECK(timer_calls == 2 && timer_last == 0);
    /* slips while waiting that older than the `pre` samples kept are forgotten */
    CHECK(capture_control(2, s.id) == 0);
    CHECK(capture_arm(&c, &r) == 0);
    mem[0x50] = 0x50;
    fw_capture_slip(5);
    for (i = 0; i < 5; i++) {
        fw_capture_timer(); /* 5 samples since the slip: more than pre (4) */
    }
    fw_capture_slip(1);
    fw_capture_timer();
    CHECK(capture_status().slips == 1);
    mem[0x50] = 0x81;
    fw_capture_timer(); /* the trigger */
    fw_capture_slip(2);   /* after it: every slip counts */
    for (i = 0; i < 10; i++) {
        fw_capture_timer();
    }
    s = capture_status();
    CHECK(s.state == FW_CAP_DONE && s.slips == 3);
    timer_calls = 2;
    CHECK(capture_control(2, s.id) == 0); /* single mode: idle, no timer */
    /* an interrupt late again and again: the device stops the capture (and its timer) itself */
    CHECK(capture_arm(&c, &r) == 0 && timer_calls == 3);
    mem[0x50] = 0x50;
    for (i = 0; i < FW_CAPTURE_OVERRUN - 1; i++) {
        fw_capture_slip(1);
        fw_capture_timer();
    }
    CHECK(capture_status().state == FW_CAP_ARMED); /* (the main loop ran: the count starts over) */
    for (i = 0; i < FW_CAPTURE_OVERRUN - 1; i++) {
        fw_capture_slip(1);
        fw_capture_timer();
    }
    CHECK(fw.cap.state == FW_CAP_ARMED);
    fw_capture_slip(1);
    fw_capture_timer();
    s = capture_status();
    CHECK(s.state == FW_CAP_OVERRUN && timer_calls == 4 && timer_last == 0);
    CHECK(capture_control(1, 0) == FW_E_NO_CAPTURE); /* nothing to force */
    timer_calls = 2;
    CHECK(timer_calls == 2);
    c.mode = 1;
    CHECK(capture_arm(&c, &r) == 0);
    CHECK(timer_calls == 3 && timer_last == 5);
    CHECK(capture_control(0, 0) == 0);
    CHECK(timer_calls == 4 && timer_last == 0);
    CHECK(capture_status().state == FW_CAP_IDLE);
}

/* An upload of several frames runs beside a 1 kHz stream: no sample is dropped for it, it
 * leaves TX its reserve, and it waits (never drops) when the link is slow. */
static void test_capture_upload_beside_streams(void)
{
    arm_t c = base_arm();
    frm_t r, f[64];
    cstat_t s;
    uint32_t a[1] = {BASE};
    uint16_t z[1] = {32};
    uint8_t p[11] = {0x65};
    uint8_t fb[32], data[256];
    size_t got = 0;
    int i, k, samples = 0, rounds;
    reset_device();
    c.samples = 50;
    c.pre = 10;
    c.op = 0;
    c.n = 2;
    c.size[0] = 1;
    c.addr[1] = BASE + 0x60;
    c.size[1] = 4;
    CHECK(capture_arm(&c, &r) == 0);
    CHECK(capture_control(1, 0) == 0);
    for (i = 0; i < 60; i++) {
        fw_tick();
    }
    s = capture_status();
    CHECK(s.state == FW_CAP_DONE && s.trig_index == 0);
    CHECK(start_stream(0, 1000000, 1, a, z) == 0);
    put16(p + 1, s.id);
    put32(p + 3, 0);
    put32(p + 7, 250);
    feed(fb, frame(fb, FW_T_CAPTURE_READ, p, 11));
    /* nobody drains TX: the upload stops at its reserve, the ticks' samples still fit */
    CHECK(fw_tx_free() >= FW_CAPTURE_TX_RESERVE);
    for (i = 0; i < 4; i++) {
        fw_tick();
        fw_poll();
    }
    CHECK(fw.dropped == 0);
    for (rounds = 0; rounds < 100 && got < 250; rounds++) {
        k = frames_out(f, 64);
        for (i = 0; i < k; i++) {
            if (f[i].type == FW_T_SAMPLES) {
                samples++;
            } else if (f[i].type == FW_T_CAPTURE_DATA) {
                CHECK(le(f[i].payload + 2, 4) == got);
                memcpy(data + got, f[i].payload + 6, f[i].len - 6u);
                got += f[i].len - 6u;
            }
        }
        fw_tick();
        fw_poll();
    }
    CHECK(got == 250 && fw.dropped == 0 && samples >= 4);
    CHECK(fw.cap.up_off == fw.cap.up_end);
    /* ARM replaces a held capture and cancels its upload */
    take(NULL, NULL);
    CHECK(capture_arm(&c, &r) == 0);
    CHECK(capture_status().state == FW_CAP_ARMED);
    {
        uint8_t rd[11] = {0x66};
        put16(rd + 1, s.id);
        put32(rd + 7, 5);
        CHECK(command(FW_T_CAPTURE_READ, rd, 11, &r) == FW_T_ERROR && r.payload[1] == FW_E_NO_CAPTURE);
    }
}

static void test_capture_refusals(void)
{
    arm_t c = base_arm();
    frm_t r;
    reset_device();
    c.samples = 4;
    c.kind = FW_K_SIGNED;
    c.op = 1;
    c.size[0] = 3; /* a 3-byte trigger channel is no number */
    c.addr[0] = BASE + 0x40;
    CHECK(capture_arm(&c, &r) == FW_E_BAD_CONDITION && le(r.payload + 2, 4) == 2);
    c.op = 0; /* no condition: the trigger channel may be anything (only a forced trigger) */
    CHECK(capture_arm(&c, &r) == 0);
    c.op = 1;
    c.size[0] = 2;
    c.samples = 129; /* 2 bytes a sample: 128 fit */
    CHECK(capture_arm(&c, &r) == FW_E_CAPTURE_TOO_BIG && le(r.payload + 2, 4) == 128);
    c.samples = 128;
    c.pre = 127;
    CHECK(capture_arm(&c, &r) == 0);
    c.mode = 2;
    CHECK(capture_arm(&c, &r) == FW_E_BAD_CONDITION && le(r.payload + 2, 4) == 0);
    CHECK(capture_status().state == FW_CAP_ARMED); /* a refused ARM changed nothing */
    CHECK(capture_control(3, 0) == FW_E_BAD_MODE);
    c.mode = 0;
    c.source = 1;
    c.divider = 1001; /* beyond what the port's timer can do */
    CHECK(capture_arm(&c, &r) == FW_E_BAD_RATE && le(r.payload + 2, 4) == 100000);
    fw_capture_init(NULL); /* a port without a buffer */
    c.source = 0;
    CHECK(capture_arm(&c, &r) == FW_E_CAPTURE_TOO_BIG && le(r.payload + 2, 4) == 0);
    c.source = 1;
    CHECK(capture_arm(&c, &r) == FW_E_BAD_RATE && le(r.payload + 2, 4) == 0);
}
#endif

static void test_options(void)
{
#if FW_CHANGE_ONLY
    test_change_only_drop_keeps_last_sent();
    test_change_only_kinds();
    test_change_only_filters_move_with_the_pool();
#if FW_TEXT_MODE
    test_change_only_in_text_mode();
#endif
#endif
#if FW_CAPTURE
    test_capture_conditions();
    test_capture_ring_wraps_and_order();
    test_capture_divider();
    test_capture_timer_source();
    test_capture_upload_beside_streams();
    test_capture_refusals();
#endif
}
