/*
 * firmwatch core: the stream table, the scheduler and the SAMPLES frames.
 *
 * Scheduling is a phase accumulator per stream: every tick adds the stream's rate in
 * milli-hertz; when the sum reaches FW_TICK_HZ*1000 the stream is due and the modulus is
 * subtracted. Over N ticks a stream is sampled floor((N*rate + phase0) / modulus) times,
 * so the long-run average is exact for any rate up to the tick rate, with no drift.
 */
#include "fw_internal.h"

fw_idx_t fw_pool_offset(fw_idx_t stream)
{
    fw_idx_t s, off = 0;
    for (s = 0; s < stream; s++) {
        off = (fw_idx_t)(off + fw.nreg[s]);
    }
    return off;
}

fw_idx_t fw_pool_used(void)
{
    return fw_pool_offset(FW_MAX_STREAMS);
}

fw_idx_t fw_streams_running(void)
{
    fw_idx_t s, n = 0;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        n = (fw_idx_t)(n + (fw.nreg[s] != 0));
    }
    return n;
}

/* Make room for `want` entries for `stream` in the pool (shifting later streams' entries);
 * called inside the critical section. */
static fw_idx_t pool_resize(fw_idx_t stream, fw_idx_t want)
{
    fw_idx_t off = fw_pool_offset(stream);
    fw_idx_t have = fw.nreg[stream];
    fw_idx_t used = fw_pool_used();
    fw_idx_t from = (fw_idx_t)(off + have), to = (fw_idx_t)(off + want);
#if FW_MAX_TOTAL_REGIONS > 1 /* with one entry nothing ever moves */
    fw_idx_t tail = (fw_idx_t)(used - from), k;
    for (k = 0; k < tail; k++) {
        /* moving down: first to last; moving up: last to first */
        fw_idx_t i = to < from ? k : (fw_idx_t)(tail - 1u - k);
        fw.raddr[to + i] = fw.raddr[from + i];
        fw.rsize[to + i] = fw.rsize[from + i];
#if FW_CHANGE_ONLY
        fw.fkind[to + i] = fw.fkind[from + i];
        fw.fband[to + i] = fw.fband[from + i];
        fw.flast[to + i] = fw.flast[from + i];
#endif
    }
#else
    (void)used;
    (void)from;
    (void)to;
#endif
    fw.nreg[stream] = want;
    return off;
}

void fw_stream_install(const fw_cmd_t *c)
{
    fw_idx_t s = c->arg, n = c->n, i, off;
    fw_port_critical_enter();
    off = pool_resize(s, n);
    for (i = 0; i < n; i++) {
        uint32_t a;
        uint16_t z;
        fw_cmd_region(c, i, &a, &z);
        fw.raddr[off + i] = a;
        fw.rsize[off + i] = (fw_rsize_t)z;
#if FW_CHANGE_ONLY
        fw.fkind[off + i] = FW_K_NONE;
#endif
    }
#if FW_CHANGE_ONLY
    fw.hbeat[s] = 0; /* a (re)defined stream is not filtered until STREAM_FILTER says so */
#endif
    fw.rate[s] = c->rate;
    /* Due on the very next tick: a slow stream shows its first value at once. */
    fw.acc[s] = FW_PERIOD_MHZ - c->rate;
    fw.sdropped[s] = 0;
    fw_port_critical_exit();
}

void fw_stream_stop(uint8_t stream)
{
    fw_idx_t s;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        if (stream == 0xFF || stream == s) {
            fw_port_critical_enter();
            pool_resize(s, 0);
            fw.rate[s] = 0;
            fw_port_critical_exit();
        }
    }
}

static uint16_t stream_bytes(fw_idx_t s, fw_idx_t off)
{
    uint16_t n = 0;
    fw_idx_t i;
    for (i = 0; i < fw.nreg[s]; i++) {
        n = (uint16_t)(n + fw.rsize[off + i]);
    }
    return n;
}

void fw_drop(uint32_t mask)
{
    fw_idx_t s;
    fw.dropped++;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        if (mask & ((uint32_t)1 << s)) {
            fw.sdropped[s]++;
        }
    }
}

/* One SAMPLES frame for the streams in `mask` (payload `len` bytes). */
static void samples_frame(uint32_t mask, uint16_t len)
{
    fw_out_t o;
    fw_idx_t s, off = 0, i;
    uint16_t seq = fw.seq++; /* counts produced frames, sent or not */
    if (fw.reply_waiting || !fw_frame_begin(&o, FW_T_SAMPLES, len)) {
        fw_drop(mask);
        return;
    }
    fw_out_u16(&o, seq);
    fw_out_u32(&o, fw.ticks);
    for (i = 0; i < FW_MASK_BYTES; i++) {
        fw_out_byte(&o, (uint8_t)(mask >> (8u * i)));
    }
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        fw_idx_t k = fw.nreg[s];
        if (mask & ((uint32_t)1 << s)) {
            /* One critical section per stream: its regions form one coherent snapshot. */
            fw_port_critical_enter();
            for (i = 0; i < k; i++) {
#if FW_CHANGE_ONLY
                uint16_t at = o.pos;
#endif
                fw_out_mem(&o, fw.raddr[off + i], fw.rsize[off + i]);
#if FW_CHANGE_ONLY
                if (fw.hbeat[s]) {
                    fw_filter_note_tx((fw_idx_t)(off + i), at);
                }
#endif
            }
            fw_port_critical_exit();
#if FW_CHANGE_ONLY
            fw_filter_sent(s);
#endif
        }
        off = (fw_idx_t)(off + k);
    }
    fw_frame_end(&o);
}

/* Pack due streams into as few frames as fit in FW_MAX_PAYLOAD, in ascending order. */
static void binary_samples(uint32_t due)
{
    uint32_t mask = 0;
    uint16_t len = FW_SAMPLES_HDR;
    fw_idx_t s, off = 0;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        uint32_t bit = (uint32_t)1 << s;
        if (due & bit) {
            uint16_t b = stream_bytes(s, off);
            if (len + b > FW_MAX_PAYLOAD) {
                samples_frame(mask, len);
                mask = 0;
                len = FW_SAMPLES_HDR;
            }
            mask |= bit;
            len = (uint16_t)(len + b);
        }
        off = (fw_idx_t)(off + fw.nreg[s]);
    }
    samples_frame(mask, len);
}

void fw_tick(void)
{
    uint32_t due = 0;
    fw_idx_t s;
    fw.ticks++;
    /* A stopped stream has rate 0 and an accumulator below the period: never due. */
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        uint32_t a = fw.acc[s] + fw.rate[s];
        if (a >= FW_PERIOD_MHZ) {
            a -= FW_PERIOD_MHZ;
            due |= (uint32_t)1 << s;
        }
        fw.acc[s] = a;
    }
#if FW_CAPTURE
    fw_capture_tick();
#endif
#if FW_CHANGE_ONLY
    if (due) {
        due = fw_filter_due(due);
    }
#endif
    if (due == 0) {
        return;
    }
#if FW_TEXT_MODE
    if (fw.text_out) {
        fw_text_samples(due);
        return;
    }
#endif
    binary_samples(due);
}
