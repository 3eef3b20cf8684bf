/* firmwatch extra: stack painting (see fw_stack.h). */
#include "fw_stack.h"

volatile fw_stack_info_t fw_stack;

/* Inlined into both callers: fw_stack_paint() must not call a deeper frame, which would lie in
 * the bytes it paints. */
static inline __attribute__((always_inline)) void paint(void *low, uintptr_t high, uintptr_t sp, void *top)
{
    /* volatile stores: the compiler must neither turn the loop into a memset call (whose frame
     * would lie in the bytes being painted) nor drop the stores to memory nobody reads */
    volatile uint8_t *p = (volatile uint8_t *)low;
    while ((uintptr_t)p < high) {
        *p++ = (uint8_t)FW_STACK_PATTERN;
    }
    fw_stack.low = (uintptr_t)low;
    fw_stack.high = high > (uintptr_t)low ? high : (uintptr_t)low;
    fw_stack.top = (uintptr_t)top;
    fw_stack.sp = sp;
    fw_stack.sp_min = sp;
    fw_stack.pattern = (uint8_t)FW_STACK_PATTERN;
    fw_stack.magic = FW_STACK_MAGIC;
}

void fw_stack_paint(void *low, void *top)
{
    uintptr_t sp = fw_stack_pointer();
    paint(low, sp > FW_STACK_GUARD ? sp - FW_STACK_GUARD : 0u, sp, top);
}

void fw_stack_paint_area(void *low, void *high, void *top)
{
    /* nothing runs there yet: no stack pointer to record until fw_stack_sample() */
    paint(low, (uintptr_t)high, 0u, top);
}

void fw_stack_sample(void)
{
    uintptr_t sp = fw_stack_pointer();
    fw_stack.sp = sp;
    if (sp < fw_stack.sp_min || fw_stack.sp_min == 0u) {
        fw_stack.sp_min = sp;
    }
}

size_t fw_stack_unused(const void *floor)
{
    const volatile uint8_t *start, *p, *end;
    if (fw_stack.magic != FW_STACK_MAGIC) {
        return 0;
    }
    start = (const volatile uint8_t *)fw_stack.low;
    if (floor != NULL && (uintptr_t)floor > fw_stack.low) {
        start = (const volatile uint8_t *)floor;
    }
    end = (const volatile uint8_t *)fw_stack.high;
    p = start;
    while (p < end && *p == fw_stack.pattern) {
        p++;
    }
    return (size_t)(p - start);
}
