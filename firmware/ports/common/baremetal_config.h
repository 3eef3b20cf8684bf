#ifndef BAREMETAL_CONFIG_H
#define BAREMETAL_CONFIG_H

#include "firmwatch.h"

/* The streamer configuration of a 32-bit little-endian bare-metal port, from its linker symbols. */
const fw_config_t *baremetal_config(void);

#endif
