/*
 * firmwatch extra: heap tracking through the linker's --wrap, with a fixed allocation table.
 *
 * Optional and independent of the streamer core. Link with
 *     -Wl,--wrap=malloc,--wrap=free,--wrap=realloc,--wrap=calloc
 * and every call the firmware makes goes through the wrappers below to the C library's own
 * allocator (__real_malloc, ...). They keep the counts in `fw_heap` and each live block in
 * `fw_heap_table` (no allocation of their own), which the host reads by name from the ELF: bytes
 * in use, peak, live blocks, failed allocations, and from the table the largest gap between
 * live blocks and the fragmentation figure.
 *
 * Not reentrant: allocate from one context (the main loop), as most C libraries' allocators
 * require anyway. A nested call the C library makes itself (avr-libc's realloc calls malloc)
 * passes straight through.
 */
#ifndef FW_HEAP_H
#define FW_HEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FW_HEAP_TABLE_SIZE /* live blocks tracked; each costs two pointers of RAM */
#define FW_HEAP_TABLE_SIZE 16
#endif

#define FW_HEAP_MAGIC 0x46574850ul /* "FWHP" */

typedef struct {
    void *ptr; /* NULL: a free slot */
    size_t size;
} fw_heap_block_t;

typedef struct {
    uint32_t magic;      /* FW_HEAP_MAGIC */
    uint32_t generation; /* odd while the table changes, bumped by 2 per change */
    uint32_t allocs;     /* successful malloc/calloc/realloc calls that returned a new block */
    uint32_t frees;      /* free calls with a block */
    uint32_t failures;   /* calls that returned NULL for a non-zero size */
    uint32_t untracked;  /* live blocks the full table could not hold (not in in_use) */
    uint32_t live;       /* live blocks in the table */
    size_t in_use;       /* bytes requested by the live blocks in the table */
    size_t peak;         /* the most in_use has been */
    uintptr_t heap_low;  /* lowest block address seen */
    uintptr_t heap_high; /* one past the highest block byte seen */
} fw_heap_stats_t;

extern volatile fw_heap_stats_t fw_heap;
extern volatile fw_heap_block_t fw_heap_table[FW_HEAP_TABLE_SIZE];

void *__wrap_malloc(size_t size);
void __wrap_free(void *ptr);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_calloc(size_t n, size_t size);

/* The largest gap between two live blocks of the table (allocator headers count as free). */
size_t fw_heap_largest_gap(void);

#ifdef __cplusplus
}
#endif
#endif
