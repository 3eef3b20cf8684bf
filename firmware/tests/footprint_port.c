/*
 * The smallest Cortex-M port that uses the whole core: `make footprint` links it with and
 * without the core (-DNO_CORE) and reports the difference, which is what the core costs in a
 * real firmware image (unused helpers are garbage-collected as they would be there).
 */
#include "firmwatch.h"

volatile int sink;

void fw_port_critical_enter(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
}

void fw_port_critical_exit(void)
{
    __asm__ volatile("cpsie i" ::: "memory");
}

void fw_port_tx_ready(void)
{
}

void _start(void);
void _start(void)
{
#ifndef NO_CORE
    static const fw_region_t regions[1] = {{0x20000000u, 0x1000u, FW_ACCESS_READ | FW_ACCESS_WRITE}};
    static const fw_config_t cfg = {regions, 1, 0, 0, 4, 0, 0};
    fw_init(&cfg);
#endif
    for (;;) {
#ifndef NO_CORE
        fw_rx_byte((uint8_t)sink);
        fw_tick();
        fw_poll();
        sink = fw_tx_byte();
#else
        sink++;
#endif
    }
}
