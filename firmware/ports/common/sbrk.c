/* _sbrk (newlib) and sbrk (picolibc) for a C library's malloc on the bare-metal ports: the heap grows up from __heap_start
 * (the end of .bss, from the linker script) and is refused within SBRK_STACK_GAP bytes of the
 * stack pointer, so malloc fails (and says so) instead of handing out the live stack.
 * The heap's current end is __sbrk_heap_end, which firmwatch's memory view reads. */
#include <stddef.h>
#include <stdint.h>

#ifndef SBRK_STACK_GAP
#define SBRK_STACK_GAP 256u
#endif

extern uint8_t __heap_start[];
uint8_t *__sbrk_heap_end;

void *_sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr);

void *_sbrk(ptrdiff_t incr)
{
    uint8_t *prev;
    uintptr_t sp;
    if (__sbrk_heap_end == NULL) {
        __sbrk_heap_end = __heap_start;
    }
    prev = __sbrk_heap_end;
#if defined(__arm__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#endif
    if ((uintptr_t)(prev + incr) + SBRK_STACK_GAP > sp) {
        return (void *)-1;
    }
    __sbrk_heap_end = prev + incr;
    return prev;
}

/* picolibc's malloc calls sbrk(), newlib's _sbrk(): one heap either way */
void *sbrk(ptrdiff_t incr)
{
    return _sbrk(incr);
}
