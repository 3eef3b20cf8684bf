/* firmwatch extra: heap tracking through --wrap (see fw_heap.h). */
#include "fw_heap.h"

void *__real_malloc(size_t size);
void __real_free(void *ptr);
void *__real_realloc(void *ptr, size_t size);
void *__real_calloc(size_t n, size_t size);

volatile fw_heap_stats_t fw_heap = {FW_HEAP_MAGIC, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
volatile fw_heap_block_t fw_heap_table[FW_HEAP_TABLE_SIZE];

static uint8_t nested; /* inside a wrapper: the C library's own nested calls are not counted */

static void change_begin(void) { fw_heap.generation++; }
static void change_end(void) { fw_heap.generation++; }

static void track(void *ptr, size_t size)
{
    uintptr_t lo = (uintptr_t)ptr, hi = lo + size;
    uint8_t i;
    fw_heap.allocs++;
    if (fw_heap.heap_low == 0u || lo < fw_heap.heap_low) {
        fw_heap.heap_low = lo;
    }
    if (hi > fw_heap.heap_high) {
        fw_heap.heap_high = hi;
    }
    for (i = 0; i < FW_HEAP_TABLE_SIZE; i++) {
        if (fw_heap_table[i].ptr == NULL) {
            fw_heap_table[i].size = size;
            fw_heap_table[i].ptr = ptr;
            fw_heap.live++;
            fw_heap.in_use += size;
            if (fw_heap.in_use > fw_heap.peak) {
                fw_heap.peak = fw_heap.in_use;
            }
            return;
        }
    }
    fw_heap.untracked++;
}

static void untrack(void *ptr)
{
    uint8_t i;
    fw_heap.frees++;
    for (i = 0; i < FW_HEAP_TABLE_SIZE; i++) {
        if (fw_heap_table[i].ptr == ptr) {
            fw_heap.in_use -= fw_heap_table[i].size;
            fw_heap_table[i].ptr = NULL;
            fw_heap_table[i].size = 0u;
            fw_heap.live--;
            return;
        }
    }
    if (fw_heap.untracked) {
        fw_heap.untracked--;
    }
}

void *__wrap_malloc(size_t size)
{
    void *p;
    if (nested) {
        return __real_malloc(size);
    }
    nested = 1;
    p = __real_malloc(size);
    change_begin();
    if (p != NULL) {
        track(p, size);
    } else if (size) {
        fw_heap.failures++;
    }
    change_end();
    nested = 0;
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;
    if (nested) {
        return __real_calloc(n, size);
    }
    nested = 1;
    p = __real_calloc(n, size);
    change_begin();
    if (p != NULL) {
        track(p, n * size);
    } else if (n && size) {
        fw_heap.failures++;
    }
    change_end();
    nested = 0;
    return p;
}

void __wrap_free(void *ptr)
{
    if (nested || ptr == NULL) {
        __real_free(ptr);
        return;
    }
    nested = 1;
    __real_free(ptr);
    change_begin();
    untrack(ptr);
    change_end();
    nested = 0;
}

void *__wrap_realloc(void *ptr, size_t size)
{
    void *p;
    if (nested) {
        return __real_realloc(ptr, size);
    }
    nested = 1;
    p = __real_realloc(ptr, size);
    change_begin();
    if (ptr == NULL) {
        if (p != NULL) {
            track(p, size);
        } else if (size) {
            fw_heap.failures++;
        }
    } else if (size == 0u) {
        untrack(ptr); /* realloc(p, 0) freed it (the C library may return NULL or a tiny block) */
        if (p != NULL) {
            track(p, 0u);
        }
    } else if (p == NULL) {
        fw_heap.failures++; /* the old block is still live and still tracked */
    } else {
        untrack(ptr);
        fw_heap.frees--; /* a move is not a free call */
        fw_heap.allocs--;
        track(p, size);
    }
    change_end();
    nested = 0;
    return p;
}

size_t fw_heap_largest_gap(void)
{
    size_t best = 0u;
    uint8_t i, j;
    for (i = 0; i < FW_HEAP_TABLE_SIZE; i++) {
        uintptr_t end, next = 0u;
        if (fw_heap_table[i].ptr == NULL) {
            continue;
        }
        end = (uintptr_t)fw_heap_table[i].ptr + fw_heap_table[i].size;
        for (j = 0; j < FW_HEAP_TABLE_SIZE; j++) {
            uintptr_t a = (uintptr_t)fw_heap_table[j].ptr;
            if (a >= end && (next == 0u || a < next)) {
                next = a;
            }
        }
        if (next && next - end > best) {
            best = next - end;
        }
    }
    return best;
}
