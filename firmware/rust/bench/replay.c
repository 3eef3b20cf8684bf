/*
 * `replay < script > output`: the C core as the "vector device" of docs/protocol.md (regions
 * 0x20000000+0x100 rw and 0x20000100+0x40 r, byte i & 0xFF at 0x20000000+i, build id 01..08),
 * driven by a script on stdin; everything it sends goes to stdout, then its STATUS counters
 * and memory. src/replay.rs is the same program on the Rust crate: tests/test_rust.py feeds
 * both the same random scripts and requires byte-identical output.
 *
 * Script: a sequence of operations
 *   01 len:u16 bytes   bytes received (fw_rx_byte each; overflow counts as the core counts it)
 *   02 n:u8            n ticks
 *   03                 fw_poll()
 *   04 max:u16         the host drains at most max output bytes
 *   05 n:u8            n capture timer interrupts (built with -DFW_CAPTURE=1)
 *   06 n:u8            the capture timer came n periods late (fw_capture_slip)
 * Built with -DFW_CAPTURE=1 -DFW_CHANGE_ONLY=1 it is the vector device with the optional
 * modules (a 256-byte capture buffer, a 100 kHz timer, dividers up to 1000), as replay.rs is
 * with the feature `options`.
 */
#include <stdio.h>
#include <stdlib.h>

#include "firmwatch.h"

static uint8_t mem[0x140];
static const fw_region_t regions[2] = {{0x20000000u, 0x100u, FW_ACCESS_READ | FW_ACCESS_WRITE},
                                       {0x20000100u, 0x40u, FW_ACCESS_READ}};
static const uint8_t build_id[8] = {1, 2, 3, 4, 5, 6, 7, 8};

#if FW_CAPTURE
static uint8_t capbuf[256];
static void capture_timer(uint32_t divider)
{
    (void)divider;
}
static const fw_capture_config_t capcfg = {capbuf, sizeof capbuf, 100000, 1000, capture_timer};
#endif

void fw_port_critical_enter(void) {}
void fw_port_critical_exit(void) {}
void fw_port_tx_ready(void) {}

static int next(void)
{
    int c = getchar();
    if (c == EOF) {
        exit(1);
    }
    return c;
}

int main(void)
{
    static fw_config_t cfg;
    static uint8_t out[65536];
    fw_status_t st;
    size_t i, n;
    int op;
    for (i = 0; i < sizeof mem; i++) {
        mem[i] = (uint8_t)i;
    }
    cfg.regions = regions;
    cfg.nregions = 2;
    cfg.build_id = build_id;
    cfg.build_id_len = 8;
    cfg.word_size = 4;
    cfg.addr_offset = 0x20000000u - (uint32_t)(uintptr_t)mem;
    fw_init(&cfg);
#if FW_CAPTURE
    fw_capture_init(&capcfg);
#endif
    while ((op = getchar()) != EOF) {
        if (op == 1) {
            n = (size_t)next();
            n |= (size_t)next() << 8;
            for (i = 0; i < n; i++) {
                fw_rx_byte((uint8_t)next());
            }
        } else if (op == 2) {
            n = (size_t)next();
            for (i = 0; i < n; i++) {
                fw_tick();
            }
        } else if (op == 3) {
            fw_poll();
        } else if (op == 4) {
            n = (size_t)next();
            n |= (size_t)next() << 8;
            fwrite(out, 1, fw_tx_pop(out, n < sizeof out ? n : sizeof out), stdout);
#if FW_CAPTURE
        } else if (op == 5) {
            n = (size_t)next();
            for (i = 0; i < n; i++) {
                fw_capture_timer();
            }
        } else if (op == 6) {
            fw_capture_slip((uint32_t)next());
#endif
        } else {
            return 2;
        }
    }
    while ((n = fw_tx_pop(out, sizeof out)) > 0) {
        fwrite(out, 1, n, stdout);
    }
    fw_get_status(&st);
    printf("\nstatus dropped=%u overflows=%u rx_errors=%u ticks=%u tx_high_water=%u streams=%u text=%u\nmemory ",
           (unsigned)st.dropped, (unsigned)st.overflows, (unsigned)st.rx_errors, (unsigned)st.ticks,
           (unsigned)st.tx_high_water, (unsigned)st.nstreams, (unsigned)(st.mode == 0));
    for (i = 0; i < sizeof mem; i++) {
        printf("%02x", mem[i]);
    }
    printf("\n");
    return 0;
}
