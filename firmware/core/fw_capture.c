/*
 * firmwatch core, optional (FW_CAPTURE): triggered capture into a RAM buffer the port provides,
 * docs/protocol.md section 16.
 *
 * An armed capture writes every sample (its channels copied in one critical section, like a
 * stream) into a ring of `samples` slots, and tests the trigger channel as each sample lands.
 * The trigger may fire once `pre` samples precede it (or at once when forced); the capture then
 * takes the samples after the trigger that complete the ring and stops, so the held samples are
 * exactly `pre` before the trigger, the trigger sample, and the rest after it. Nothing more is
 * written until the host releases the capture (normal mode then re-arms): an upload can never
 * read a sample that changes under it.
 *
 * The upload is pushed by fw_poll() as CAPTURE_DATA frames, each with the capture's id and its
 * offset, only while the TX ring keeps FW_CAPTURE_TX_RESERVE bytes free: streams keep running
 * beside it, and a host that lost a frame asks again for what it misses.
 */
#include "fw_internal.h"

#if FW_CAPTURE

enum {
    OP_NONE = 0, OP_RISING = 1, OP_FALLING = 2, OP_CROSS = 3, OP_ABOVE = 4, OP_BELOW = 5,
    OP_EQUAL = 6, OP_NOT_EQUAL = 7, OP_CHANGE = 8, OP_MASK = 9, OP_LAST = OP_MASK
};
enum { SRC_TICK = 0, SRC_TIMER = 1 };
enum { ACT_STOP = 0, ACT_FORCE = 1, ACT_RELEASE = 2 };

#define cap fw.cap

static const fw_capture_config_t no_capture; /* no buffer, no timer */

void fw_capture_init(const fw_capture_config_t *cfg)
{
    fw_port_critical_enter();
    cap.cfg = cfg && cfg->buffer ? cfg : &no_capture;
    cap.state = FW_CAP_IDLE;
    fw_port_critical_exit();
}

static const fw_capture_config_t *config(void)
{
    return cap.cfg ? cap.cfg : &no_capture; /* fw_init() zeroes it: fw_capture_init() not called yet */
}

/* the port's timer, or NULL when it has none (or captures sample on the tick) */
static void (*timer_fn(void))(uint32_t)
{
    const fw_capture_config_t *c = config();
    return cap.source == SRC_TIMER && c->timer_hz ? c->timer : 0;
}

static int running(uint8_t st)
{
    return st == FW_CAP_ARMED || st == FW_CAP_TRIGGERED;
}

static void done(void)
{
    void (*t)(uint32_t) = timer_fn();
    cap.state = FW_CAP_DONE;
    cap.id++;
    if (t) {
        t(0);
    }
}

static int fires(uint32_t raw, uint32_t key)
{
    uint32_t l = cap.level_key, p = cap.prev_key;
    int up = cap.have_prev && p < l && key >= l;
    int down = cap.have_prev && p > l && key <= l;
    switch (cap.trig_op) {
    case OP_RISING:
        return up;
    case OP_FALLING:
        return down;
    case OP_CROSS:
        return up || down;
    case OP_ABOVE:
        return key > l;
    case OP_BELOW:
        return key < l;
    case OP_EQUAL:
        return key == l;
    case OP_NOT_EQUAL:
        return key != l;
    case OP_CHANGE:
        return cap.have_prev && key != p;
    case OP_MASK:
        return ((raw ^ cap.level) & cap.mask) == 0;
    default:
        return 0; /* OP_NONE: only a forced trigger */
    }
}

/* One sample (interrupt context: the tick or the port's capture timer). */
static void sample(void)
{
    uint8_t st = cap.state, *dst, *first;
    uint32_t slot = cap.wpos, raw, key;
    fw_idx_t i;
    if (!running(st)) {
        return;
    }
    if (cap.starve_limit != 0) {
        uint8_t polls = cap.polls;
        if (polls != cap.starve_polls) {
            cap.starve_polls = polls;
            cap.starve_left = cap.starve_limit;
        } else if (--cap.starve_left == 0) {
            /* the main loop (and with it the link) has not run for a quarter of a second: the CPU
             * cannot sample this fast; stop, and say why */
            void (*t)(uint32_t) = timer_fn();
            cap.state = FW_CAP_OVERRUN;
            if (t) {
                t(0);
            }
            return;
        }
    }
    first = dst = (uint8_t *)config()->buffer + slot * cap.sample_bytes;
    fw_port_critical_enter(); /* the channels of one sample form one coherent snapshot */
    for (i = 0; i < cap.nch; i++) {
        volatile uint8_t *p = fw_mem(cap.caddr[i]);
        uint8_t k, z = cap.csize[i];
        int words = fw_word_access(p, z);
        uint32_t w = 0;
        for (k = 0; k < z; k++) {
            if (words && (k & 3u) == 0) {
                w = *(volatile uint32_t *)(uintptr_t)(p + k);
            }
            *dst++ = words ? ((const uint8_t *)&w)[k & 3u] : p[k];
        }
    }
    fw_port_critical_exit();
    cap.wpos = slot + 1u == cap.samples ? 0 : slot + 1u;
    if (cap.since_slip != 0xFFFFFFFFu) {
        cap.since_slip++;
    }
    if (st == FW_CAP_TRIGGERED) {
        if (--cap.post_left == 0) {
            done();
        }
        return;
    }
    if (cap.count < cap.samples) {
        cap.count++;
    }
    raw = fw_value_raw(first + cap.trig_off, cap.trig_size);
    key = fw_value_key(raw, cap.trig_size, cap.trig_kind);
    if (cap.force || (cap.count > cap.pre && fires(raw, key))) {
        uint32_t before = cap.count - 1u;
        cap.held_pre = before < cap.pre ? before : cap.pre;
        cap.trig_slot = slot;
        cap.trig_ticks = fw.ticks;
        cap.force = 0;
        cap.post_left = cap.samples - 1u - cap.held_pre;
        cap.state = FW_CAP_TRIGGERED;
        if (cap.post_left == 0) {
            done();
        }
    }
    cap.prev_key = key;
    cap.have_prev = 1;
}

void fw_capture_tick(void)
{
    if (cap.source == SRC_TICK && running(cap.state) && --cap.div_left == 0) {
        cap.div_left = cap.divider;
        sample();
    }
}

void fw_capture_timer(void)
{
    if (cap.source == SRC_TIMER) {
        sample();
    }
}

/* Slips count only while they may touch samples the capture keeps: while waiting for the
 * trigger, those older than the last `pre` samples have left the ring. */
void fw_capture_slip(uint32_t n)
{
    if (cap.source == SRC_TIMER && running(cap.state)) {
        void (*t)(uint32_t) = timer_fn();
        if (cap.state == FW_CAP_ARMED && cap.since_slip > cap.pre) {
            cap.slips = 0;
        }
        cap.slips += n;
        cap.since_slip = 0;
        /* late runs count the slips since the main loop last ran: an interrupt a little longer
         * than its period slips only every few samples, yet leaves the main loop nothing */
        if (cap.polls != cap.polls_at) {
            cap.late_run = 0; /* the main loop ran meanwhile: late, but the CPU keeps up */
            cap.polls_at = cap.polls;
        }
        if (cap.late_run < 255u) {
            cap.late_run++;
        }
        if (cap.late_run >= FW_CAPTURE_OVERRUN) {
            /* the interrupts come late again and again and the main loop (and with it the link)
             * does not run: the CPU cannot sample this fast; stop, and say why */
            cap.state = FW_CAP_OVERRUN;
            if (t) {
                t(0);
            }
        }
    }
}

/* ---- commands (main context) ---- */

/* Stop sampling (and the port's timer); the caller sets the next state. */
static void halt(void)
{
    uint8_t was;
    void (*t)(uint32_t) = timer_fn();
    fw_port_critical_enter();
    was = cap.state;
    cap.state = FW_CAP_IDLE;
    cap.up_off = cap.up_end = 0;
    fw_port_critical_exit();
    if (running(was) && t) {
        t(0);
    }
}

static void arm(void)
{
    fw_port_critical_enter();
    cap.wpos = cap.count = cap.slips = cap.held_pre = cap.trig_ticks = 0;
    cap.since_slip = 0xFFFFFFFFu;
    cap.late_run = 0;
    cap.polls_at = cap.starve_polls = cap.polls;
#if FW_CAPTURE_STARVE_PER_S
    cap.starve_limit = cap.source == SRC_TIMER && config()->timer_hz ?
        config()->timer_hz / cap.divider / FW_CAPTURE_STARVE_PER_S + 2u : 0;
#else
    cap.starve_limit = 0;
#endif
    cap.starve_left = cap.starve_limit;
    cap.force = cap.have_prev = 0;
    cap.div_left = 1; /* the first tick after arming takes the first sample */
    cap.state = FW_CAP_ARMED;
    fw_port_critical_exit();
    if (timer_fn()) {
        timer_fn()(cap.divider);
    }
}

/* CAPTURE_ARM: tag, mode, source, divider:u32, samples:u32, pre:u32, trig_channel, trig_op,
 * trig_kind, level:u32, mask:u32, n, n x (addr:u32, size:u16); payload at RX offset 5 */
#define ARM_HEAD 27u

static void arm_apply(void)
{
    fw_idx_t i;
    uint16_t off = 0;
    halt();
    cap.mode = fw_rx_peek(6);
    cap.source = fw_rx_peek(7);
    cap.divider = fw_rx_le(8, 4);
    cap.samples = fw_rx_le(12, 4);
    cap.pre = fw_rx_le(16, 4);
    cap.trig_ch = fw_rx_peek(20);
    cap.trig_op = fw_rx_peek(21);
    cap.trig_kind = fw_rx_peek(22);
    cap.level = fw_rx_le(23, 4);
    cap.mask = fw_rx_le(27, 4);
    cap.nch = fw_rx_peek(31);
    for (i = 0; i < cap.nch; i++) {
        cap.caddr[i] = fw_rx_le((fw_idx_t)(5u + ARM_HEAD + 6u * i), 4);
        cap.csize[i] = (uint8_t)fw_rx_le((fw_idx_t)(9u + ARM_HEAD + 6u * i), 2);
        if (i == cap.trig_ch) {
            cap.trig_off = (uint8_t)off;
            cap.trig_size = cap.csize[i];
        }
        off = (uint16_t)(off + cap.csize[i]);
    }
    cap.sample_bytes = off;
    cap.level_key = fw_value_key(cap.level, 4, cap.trig_kind);
    arm();
}

static uint8_t arm_check(fw_idx_t len, uint32_t *d)
{
    fw_idx_t n = fw_rx_peek(31), i;
    uint8_t mode = fw_rx_peek(6), source = fw_rx_peek(7), ch = fw_rx_peek(20), op = fw_rx_peek(21),
            kind = fw_rx_peek(22);
    uint32_t divider = fw_rx_le(8, 4), samples = fw_rx_le(12, 4), pre = fw_rx_le(16, 4), total = 0, tsize = 0;
    *d = len;
    if (len < ARM_HEAD || len != ARM_HEAD + 6u * n) {
        return FW_E_BAD_LENGTH;
    }
    *d = 0;
    if (n == 0) {
        return FW_E_BAD_LENGTH;
    }
    *d = FW_CAPTURE_MAX_CHANNELS;
    if (n > FW_CAPTURE_MAX_CHANNELS) {
        return FW_E_TOO_MANY_REGIONS;
    }
    *d = mode > 1 ? 0 : 1;
    if (mode > 1 || source > SRC_TIMER) {
        return FW_E_BAD_CONDITION;
    }
    *d = source == SRC_TIMER ? (config()->timer ? config()->timer_hz : 0) : FW_TICK_HZ;
    if (divider == 0 || *d == 0 ||
        (source == SRC_TIMER && config()->timer_max_divider && divider > config()->timer_max_divider)) {
        return FW_E_BAD_RATE;
    }
    *d = samples;
    if (samples == 0 || pre >= samples) {
        return FW_E_BAD_LENGTH;
    }
    *d = ch >= n ? 2 : op > OP_LAST ? 3 : 4;
    if (ch >= n || op > OP_LAST || kind < FW_K_ANY || kind > FW_K_FLOAT) {
        return FW_E_BAD_CONDITION;
    }
    for (i = 0; i < n; i++) {
        uint32_t a = fw_rx_le((fw_idx_t)(5u + ARM_HEAD + 6u * i), 4);
        uint32_t z = fw_rx_le((fw_idx_t)(9u + ARM_HEAD + 6u * i), 2);
        total += z;
        if (i == ch) {
            tsize = z;
        }
        *d = 0;
        if (z == 0) {
            return FW_E_BAD_LENGTH;
        }
        *d = FW_MAX_STREAM_BYTES;
        if (total > FW_MAX_STREAM_BYTES || z > 255) {
            return FW_E_STREAM_TOO_BIG;
        }
        if (fw_check_range(a, z, FW_ACCESS_READ, d)) {
            return FW_E_NOT_READABLE;
        }
    }
    *d = 2;
    if (op != OP_NONE && ((tsize != 1 && tsize != 2 && tsize != 4) || (kind == FW_K_FLOAT && tsize != 4))) {
        return FW_E_BAD_CONDITION;
    }
    *d = config()->size / total;
    if (samples > *d) {
        return FW_E_CAPTURE_TOO_BIG;
    }
    return FW_E_OK;
}

static void stop_apply(void)
{
    halt();
}

static void force_apply(void)
{
    cap.force = 1; /* the next sample is the trigger */
}

static uint16_t release_id;

static void release_apply(void)
{
    if (cap.state != FW_CAP_DONE || cap.id != release_id) {
        return; /* released already (a retried RELEASE): nothing more to do */
    }
    halt();
    if (cap.mode == 1) {
        arm(); /* normal mode: the next capture */
    }
}

static void read_apply(void)
{
    uint32_t off = fw_rx_le(8, 4);
    cap.up_off = off;
    cap.up_end = off + fw_rx_le(12, 4);
}

static int status_reply(uint8_t tag)
{
    fw_out_t o;
    fw_idx_t i;
    uint32_t v[8];
    uint8_t st;
    if (!fw_frame_begin(&o, FW_T_CAPTURE_STATUS_DATA, (uint16_t)(65u + 6u * cap.nch))) {
        fw.reply_waiting = 1;
        return 0;
    }
    fw.reply_waiting = 0;
    fw.text_out = 0;
    fw_port_critical_enter(); /* one snapshot of what the sampling interrupt writes */
    st = cap.state;
    v[0] = cap.id;
    v[1] = cap.count;
    v[2] = cap.held_pre;
    v[3] = cap.trig_ticks;
    v[4] = cap.slips;
    v[5] = fw.ticks;
    fw_port_critical_exit();
    fw_out_byte(&o, tag);
    fw_out_byte(&o, st);
    fw_out_u16(&o, (uint16_t)v[0]);
    fw_out_u32(&o, config()->size);
    fw_out_byte(&o, FW_CAPTURE_MAX_CHANNELS);
    fw_out_u32(&o, config()->timer ? config()->timer_hz : 0);
    fw_out_u32(&o, config()->timer_max_divider);
    fw_out_byte(&o, cap.mode);
    fw_out_byte(&o, cap.source);
    fw_out_u32(&o, cap.divider);
    fw_out_u32(&o, cap.samples);
    fw_out_u32(&o, cap.pre);
    for (i = 1; i < 5; i++) {
        fw_out_u32(&o, v[i]);
    }
    fw_out_u16(&o, cap.sample_bytes);
    fw_out_byte(&o, cap.trig_ch);
    fw_out_byte(&o, cap.trig_op);
    fw_out_byte(&o, cap.trig_kind);
    fw_out_u32(&o, cap.level);
    fw_out_u32(&o, cap.mask);
    fw_out_u32(&o, v[5]);
    fw_out_byte(&o, cap.nch);
    for (i = 0; i < cap.nch; i++) {
        fw_out_u32(&o, cap.caddr[i]);
        fw_out_u16(&o, cap.csize[i]);
    }
    fw_frame_end(&o);
    return 1;
}

int fw_capture_command(fw_idx_t type, fw_idx_t len)
{
    uint8_t tag = len ? fw_rx_peek(5) : 0, err = FW_E_OK;
    uint32_t d = 0;
    void (*apply)(void) = 0;
    if (type == FW_T_CAPTURE_ARM) {
        err = arm_check(len, &d);
        apply = arm_apply;
    } else if (type == FW_T_CAPTURE_CONTROL) {
        uint8_t action = fw_rx_peek(6);
        release_id = (uint16_t)fw_rx_le(7, 2);
        d = len;
        if (len != 4) {
            err = FW_E_BAD_LENGTH;
        } else if (action > ACT_RELEASE) {
            err = FW_E_BAD_MODE;
            d = action;
        } else if (action == ACT_FORCE && !running(cap.state)) {
            err = FW_E_NO_CAPTURE;
            d = cap.state;
        }
        apply = action == ACT_STOP ? stop_apply : action == ACT_FORCE ? force_apply : release_apply;
    } else if (type == FW_T_CAPTURE_STATUS) {
        if (len == 1) {
            return status_reply(tag);
        }
        err = FW_E_BAD_LENGTH;
        d = len;
    } else { /* FW_T_CAPTURE_READ: tag, id:u16, offset:u32, length:u32 */
        uint32_t off = fw_rx_le(8, 4), n = fw_rx_le(12, 4);
        uint32_t total = cap.samples * cap.sample_bytes;
        d = len;
        if (len != 11) {
            err = FW_E_BAD_LENGTH;
        } else if (cap.state != FW_CAP_DONE || cap.id != (uint16_t)fw_rx_le(6, 2)) {
            err = FW_E_NO_CAPTURE;
            d = cap.id;
        } else if (n == 0 || off > total || n > total - off) {
            err = FW_E_BAD_LENGTH;
            d = total;
        }
        apply = read_apply;
    }
    return fw_reply_simple(tag, err, d, apply);
}

/* The upload: CAPTURE_DATA frames while TX keeps its reserve (main context). */
void fw_capture_pump(void)
{
    while (cap.up_off < cap.up_end && !fw.reply_waiting) {
        fw_out_t o;
        uint32_t n = cap.up_end - cap.up_off, sb = cap.sample_bytes, slot, k;
        uint8_t *p, *buf = (uint8_t *)config()->buffer;
        if (n > FW_CAPTURE_CHUNK) {
            n = FW_CAPTURE_CHUNK;
        }
        if (fw_tx_free() < n + 8u + FW_CAPTURE_TX_RESERVE ||
            !fw_frame_begin(&o, FW_T_CAPTURE_DATA, (uint16_t)(n + 6u))) {
            return;
        }
        fw_out_u16(&o, cap.id);
        fw_out_u32(&o, cap.up_off);
        /* logical order: the oldest held sample first */
        slot = cap.trig_slot + cap.samples - cap.held_pre + cap.up_off / sb;
        while (slot >= cap.samples) {
            slot -= cap.samples;
        }
        k = cap.up_off % sb;
        p = buf + slot * sb + k;
        cap.up_off += n;
        while (n--) {
            fw_out_byte(&o, *p++);
            if (++k == sb) {
                k = 0;
                if (++slot == cap.samples) {
                    slot = 0;
                }
                p = buf + slot * sb;
            }
        }
        fw_frame_end(&o);
    }
}

#endif
