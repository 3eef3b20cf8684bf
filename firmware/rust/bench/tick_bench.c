/*
 * `tick_bench N`: N ticks of 16 streams x 4 bytes (all due every tick) on the C core, output
 * drained after every tick; prints `ns_per_sample <x> bytes <n>`. The same workload as the
 * Rust driver (src/main.rs), for bench/rust.py. The hooks are empty, as on a port whose tick
 * already excludes everything that changes the watched values.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "firmwatch.h"

static uint8_t ram[256];

void fw_port_critical_enter(void) {}
void fw_port_critical_exit(void) {}
void fw_port_tx_ready(void) {}

static uint16_t crc(const uint8_t *p, size_t n)
{
    uint16_t c = 0xFFFF;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= (uint16_t)(p[i] << 8);
        for (k = 0; k < 8; k++) {
            c = (c & 0x8000u) ? (uint16_t)((c << 1) ^ 0x1021u) : (uint16_t)(c << 1);
        }
    }
    return c;
}

static void send_frame(uint8_t type, const uint8_t *payload, size_t len)
{
    uint8_t f[300];
    size_t i;
    uint16_t c;
    f[0] = 0xAA;
    f[1] = 0x55;
    f[2] = type;
    f[3] = (uint8_t)len;
    f[4] = (uint8_t)(len >> 8);
    for (i = 0; i < len; i++) {
        f[5 + i] = payload[i];
    }
    c = crc(f + 2, len + 3);
    f[5 + len] = (uint8_t)c;
    f[6 + len] = (uint8_t)(c >> 8);
    f[7 + len] = 0x0A;
    for (i = 0; i < len + 8; i++) {
        fw_rx_byte(f[i]);
    }
    fw_poll();
}

int main(int argc, char **argv)
{
    static fw_region_t region;
    static fw_config_t cfg;
    static uint8_t out[2048];
    unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000ull, i, bytes = 0;
    struct timespec t0, t1;
    fw_status_t st;
    uint8_t s;
    double ns;
    size_t k;
    region.start = 0x20000000u;
    region.size = sizeof ram;
    region.access = FW_ACCESS_READ | FW_ACCESS_WRITE;
    cfg.regions = &region;
    cfg.nregions = 1;
    cfg.word_size = 4;
    cfg.addr_offset = 0x20000000u - (uint32_t)(uintptr_t)ram;
    fw_init(&cfg);
    for (s = 0; s < 16; s++) {
        uint32_t a = 0x20000000u + 4u * s;
        uint8_t p[13] = {s, s, 0x40, 0x42, 0x0F, 0x00, 1, (uint8_t)a, (uint8_t)(a >> 8), (uint8_t)(a >> 16),
                         (uint8_t)(a >> 24), 4, 0};
        send_frame(0x04, p, sizeof p);
        while (fw_tx_pop(out, sizeof out) > 0) {
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        ram[i % 64] = (uint8_t)i; /* the values change, as a firmware's would */
        fw_tick();
        while ((k = fw_tx_pop(out, sizeof out)) > 0) {
            bytes += k;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    fw_get_status(&st);
    printf("ns_per_sample %.2f bytes %llu dropped %u\n", ns / ((double)n * 16.0), bytes, (unsigned)st.dropped);
    return 0;
}
