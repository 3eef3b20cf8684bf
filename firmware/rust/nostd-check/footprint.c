/*
 * The smallest hosted program that uses a whole streamer core, for the footprint on the host
 * target (x86-64 here): linked once with the C core (-DC_CORE), once with the Rust core's
 * no_std static library (-DRUST_CORE) and once with neither; the difference is what a core
 * adds. Same shape as firmware/tests/footprint_port.c (the Cortex-M3 measurement).
 */
#include <stdint.h>

volatile int sink;
static uint8_t ram[4096];

void fw_port_critical_enter(void) { sink++; }
void fw_port_critical_exit(void) { sink--; }
void fw_port_tx_ready(void) {}

#if defined(C_CORE)
#include "firmwatch.h"
#elif defined(RUST_CORE)
void fwrs_init(uint32_t start, uint32_t size);
void fwrs_rx_byte(uint8_t b);
void fwrs_tick(void);
void fwrs_poll(void);
int fwrs_tx_byte(void);
#if defined(RUST_OPTIONS) /* a library built with the features capture and change-only */
void fwrs_capture_init(uint8_t *buf, uintptr_t size);
void fwrs_capture_timer(void);
static uint8_t capture_ram[1024];
#endif
#endif

int main(void)
{
#if defined(C_CORE)
    static fw_region_t regions[1];
    static fw_config_t cfg;
    regions[0].start = (uint32_t)(uintptr_t)ram;
    regions[0].size = sizeof ram;
    regions[0].access = FW_ACCESS_READ | FW_ACCESS_WRITE;
    cfg.regions = regions;
    cfg.nregions = 1;
    cfg.word_size = 8;
    fw_init(&cfg);
#elif defined(RUST_CORE)
    fwrs_init((uint32_t)(uintptr_t)ram, sizeof ram);
#if defined(RUST_OPTIONS)
    fwrs_capture_init(capture_ram, sizeof capture_ram);
#endif
#endif
    for (;;) {
#if defined(C_CORE)
        fw_rx_byte((uint8_t)sink);
        fw_tick();
        fw_poll();
        sink = fw_tx_byte();
#elif defined(RUST_CORE)
        fwrs_rx_byte((uint8_t)sink);
        fwrs_tick();
        fwrs_poll();
#if defined(RUST_OPTIONS)
        fwrs_capture_timer();
#endif
        sink = fwrs_tx_byte();
#else
        ram[sink & 4095] = (uint8_t)sink; /* the buffer exists in every variant: only the core differs */
        sink++;
#endif
        if (sink == 12345) {
            return ram[0];
        }
    }
}
