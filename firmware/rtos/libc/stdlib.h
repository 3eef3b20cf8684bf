/* The part of <stdlib.h> the FreeRTOS kernel includes, for toolchains without a C library
 * (Debian's gcc-riscv64-unknown-elf ships none); the demo links no libc either. */
#ifndef RTOS_SHIM_STDLIB_H
#define RTOS_SHIM_STDLIB_H
#include <stddef.h>
#endif
