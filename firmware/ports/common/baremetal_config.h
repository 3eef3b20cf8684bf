#ifndef BAREMETAL_CONFIG_H
#define BAREMETAL_CONFIG_H

#include "firmwatch.h"

#define BAREMETAL_MAX_PERIPHERALS 4

/* Peripheral ranges each port opens to the host (registers read and written as whole words),
 * after .data+.bss and .rodata in the region table; a port may define none. */
extern const fw_region_t port_peripherals[];
extern const uint8_t port_nperipherals;

/* The streamer configuration of a 32-bit little-endian bare-metal port, from its linker symbols. */
const fw_config_t *baremetal_config(void);

#endif
