/*
 * firmwatch core, optional: values as numbers (shared by the capture trigger) and change-only
 * streams (FW_CHANGE_ONLY, docs/protocol.md section 15).
 *
 * A filtered stream is still scheduled at its rate; at each instant it is due, it is sent only
 * when one of its filtered regions moved by more than its deadband from the value the host last
 * received from the device — or when `heartbeat` instants passed without a send, so that
 * silence on the link means "unchanged", never "lost". "Last received" is the value the device
 * put into the TX buffer: a sample dropped for want of room leaves it unchanged, so the change
 * is sent at the next instant instead of being forgotten. Sequence numbers count produced
 * frames as before: a frame that is not produced costs no number, so the host's gap count stays
 * exact.
 */
#include "fw_internal.h"

#if FW_CHANGE_ONLY || FW_CAPTURE
uint32_t fw_value_raw(const volatile uint8_t *p, uint8_t size)
{
    union {
        uint8_t b[4];
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
    } u;
    uint8_t i;
    if (fw_word_access((volatile uint8_t *)p, size)) {
        return *(const volatile uint32_t *)(uintptr_t)p; /* a register: one whole-word access */
    }
    u.u32 = 0;
    for (i = 0; i < size && i < 4u; i++) {
        u.b[i] = p[i];
    }
    return size == 1 ? u.u8 : size == 2 ? u.u16 : u.u32;
}

/* Signed values are offset by 2^31 and floats mapped so that their order is the order of the
 * keys (negative floats reversed): comparisons need no float arithmetic. */
uint32_t fw_value_key(uint32_t raw, uint8_t size, uint8_t kind)
{
    if (kind == FW_K_SIGNED) {
        if (size == 1) {
            raw = (uint32_t)(int32_t)(int8_t)raw;
        } else if (size == 2) {
            raw = (uint32_t)(int32_t)(int16_t)raw;
        }
        return raw ^ 0x80000000u;
    }
    if (kind == FW_K_FLOAT) {
        return (raw & 0x80000000u) ? ~raw : raw | 0x80000000u;
    }
    return raw;
}
#endif

#if FW_CHANGE_ONLY
static int moved(fw_idx_t i, uint8_t size, uint32_t cur)
{
    uint8_t kind = fw.fkind[i];
    uint32_t last = fw.flast[i], a, b;
    if (kind == FW_K_NONE || cur == last) {
        return 0;
    }
    if (kind == FW_K_FLOAT) {
        union {
            uint32_t u;
            float f;
        } x, y, band;
        float d;
        x.u = cur;
        y.u = last;
        band.u = fw.fband[i];
        d = x.f - y.f;
        if (d < 0) {
            d = -d;
        }
        return !(d <= band.f); /* a NaN on either side moved */
    }
    a = fw_value_key(cur, size, kind);
    b = fw_value_key(last, size, kind);
    return (a > b ? a - b : b - a) > fw.fband[i];
}

uint32_t fw_filter_due(uint32_t due)
{
    fw_idx_t s, off = 0, i;
    for (s = 0; s < FW_MAX_STREAMS; s++) {
        fw_idx_t n = fw.nreg[s];
        uint32_t bit = (uint32_t)1 << s;
        if ((due & bit) && fw.hbeat[s] && fw.hleft[s]) {
            int send = 0;
            fw_port_critical_enter(); /* the same snapshot rule as the copy */
            for (i = 0; i < n && !send; i++) {
                uint8_t z = (uint8_t)fw.rsize[off + i];
                if (fw.fkind[off + i] != FW_K_NONE) {
                    send = moved((fw_idx_t)(off + i), z, fw_value_raw(fw_mem(fw.raddr[off + i]), z));
                }
            }
            fw_port_critical_exit();
            if (!send) {
                fw.hleft[s]--;
                due &= ~bit;
            }
        }
        off = (fw_idx_t)(off + n);
    }
    return due;
}

void fw_filter_note_tx(fw_idx_t i, uint16_t pos)
{
    uint8_t b[4], k, z;
    if (fw.fkind[i] == FW_K_NONE) {
        return;
    }
    z = (uint8_t)fw.rsize[i];
    for (k = 0; k < z; k++) {
        b[k] = fw_txbuf[(uint16_t)(pos + k) & (FW_TX_SIZE - 1u)];
    }
    fw.flast[i] = fw_value_raw(b, z);
}

void fw_filter_note_mem(fw_idx_t i)
{
    if (fw.fkind[i] != FW_K_NONE) {
        fw.flast[i] = fw_value_raw(fw_mem(fw.raddr[i]), (uint8_t)fw.rsize[i]);
    }
}

void fw_filter_sent(fw_idx_t s)
{
    if (fw.hbeat[s]) {
        fw.hleft[s] = (uint16_t)(fw.hbeat[s] - 1u);
    }
}

/* STREAM_FILTER: tag, stream, heartbeat:u16, n, n x (kind, deadband:u32) */
static uint8_t f_stream;
static uint16_t f_heartbeat;

static void filter_apply(void)
{
    fw_idx_t s = f_stream, off = fw_pool_offset(s), i;
    fw_port_critical_enter();
    for (i = 0; i < fw.nreg[s]; i++) {
        fw.fkind[off + i] = f_heartbeat ? fw_rx_peek((fw_idx_t)(10u + 5u * i)) : FW_K_NONE;
        fw.fband[off + i] = fw_rx_le((fw_idx_t)(11u + 5u * i), 4);
    }
    fw.hbeat[s] = f_heartbeat;
    fw.hleft[s] = 0; /* the first instant due sends the current values */
    fw_port_critical_exit();
}

int fw_filter_command(fw_idx_t len)
{
    uint8_t tag = len ? fw_rx_peek(5) : 0, err = FW_E_OK;
    fw_idx_t n = fw_rx_peek(9), s = fw_rx_peek(6), i, off;
    uint32_t detail = 0;
    f_stream = (uint8_t)s;
    f_heartbeat = (uint16_t)fw_rx_le(7, 2);
    if (len < 5 || len != 5u + 5u * n) {
        err = FW_E_BAD_LENGTH;
        detail = len;
    } else if (s >= FW_MAX_STREAMS || fw.nreg[s] == 0) {
        err = FW_E_NO_STREAM;
        detail = s;
    } else if (n != fw.nreg[s]) {
        err = FW_E_BAD_LENGTH;
        detail = fw.nreg[s];
    } else {
        off = fw_pool_offset(s);
        for (i = 0; i < n; i++) {
            uint8_t kind = fw_rx_peek((fw_idx_t)(10u + 5u * i)), z = (uint8_t)fw.rsize[off + i];
            if (kind > FW_K_FLOAT || (kind != FW_K_NONE && z > 4) || (kind == FW_K_FLOAT && z != 4) ||
                ((kind == FW_K_SIGNED || kind == FW_K_UNSIGNED) && z == 3)) {
                err = FW_E_BAD_CONDITION;
                detail = i;
                break;
            }
        }
    }
    return fw_reply_simple(tag, err, detail, filter_apply);
}
#endif
