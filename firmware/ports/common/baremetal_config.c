/* The streamer configuration every 32-bit bare-metal port derives from its linker script:
 * .data+.bss as one read/write region, .rodata read-only, the GNU build-id note's descriptor.
 * The linker scripts of the ports define the symbols below. */
#include "baremetal_config.h"

extern const uint8_t __build_id_start[], __build_id_end[];
extern uint8_t __data_start[], __bss_end[];
extern const uint8_t __rodata_start[], __rodata_end[];
extern const uint8_t __stack_top[];

static fw_region_t regions[3 + BAREMETAL_MAX_PERIPHERALS];
static fw_config_t config;

const fw_config_t *baremetal_config(void)
{
    /* .data and .bss are contiguous in RAM: one read/write region; constants read-only. */
    regions[0] = (fw_region_t){(uint32_t)(uintptr_t)__data_start,
                               (uint32_t)(__bss_end - __data_start), FW_ACCESS_READ | FW_ACCESS_WRITE};
    regions[1] = (fw_region_t){(uint32_t)(uintptr_t)__rodata_start,
                               (uint32_t)(__rodata_end - __rodata_start), FW_ACCESS_READ};
    /* The free RAM and the stack above .bss, read-only: the host's memory-health view reads the
     * heap and the stack's painted edge there (firmwatch memory, docs/memory.md). */
    regions[2] = (fw_region_t){(uint32_t)(uintptr_t)__bss_end, (uint32_t)(__stack_top - __bss_end), FW_ACCESS_READ};
    config.regions = regions;
    config.nregions = 3;
    /* The port's memory-mapped peripherals: the host's SVD view reads and writes registers there. */
    for (uint8_t i = 0; i < port_nperipherals && i < BAREMETAL_MAX_PERIPHERALS; i++)
        regions[config.nregions++] = port_peripherals[i];
    /* The GNU note's descriptor (the core's helper checks the note is a build id). */
    if (__build_id_end - __build_id_start >= 16)
        config.build_id_len = fw_gnu_build_id(__build_id_start, &config.build_id);
    config.word_size = 4;
    config.big_endian = 0;
    config.addr_offset = 0;
    return &config;
}
