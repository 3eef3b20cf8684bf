/*
 * firmwatch extra: stack painting and the stack pointer, for a live stack high-water mark.
 *
 * Optional and independent of the streamer core: one .c and this header, usable in any C
 * firmware. Call fw_stack_paint() first thing in main(): it fills the free RAM between `low`
 * (usually the heap's start) and the current stack pointer with FW_STACK_PATTERN. Every byte a
 * stack push or a local ever writes there loses the pattern, so the lowest such byte is the
 * deepest the stack has been since boot — even after it unwound. The host (firmwatch memory,
 * the debug adapter's Memory scope) reads the `fw_stack` record below by name from the ELF and
 * scans from the painted edge; fw_stack_unused() does the same scan on the device.
 *
 * fw_stack_sample() records the current stack pointer (and the lowest one seen) for transports
 * that cannot read registers, such as a serial streamer; call it where the stack is deep, from
 * one context (main loop or one interrupt).
 */
#ifndef FW_STACK_H
#define FW_STACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FW_STACK_PATTERN
#define FW_STACK_PATTERN 0xAAu
#endif

/* Bytes under the stack pointer left unpainted: the x86-64 ABI lets a leaf function use 128 bytes
 * below its stack pointer (the red zone); the MCU ABIs have none. */
#ifndef FW_STACK_GUARD
#if defined(__x86_64__)
#define FW_STACK_GUARD 256u
#else
#define FW_STACK_GUARD 16u
#endif
#endif

#define FW_STACK_MAGIC 0x46575350ul /* "FWSP": the record is valid, the area is painted */

typedef struct {
    uint32_t magic;   /* FW_STACK_MAGIC once painted (written last) */
    uintptr_t low;    /* lowest painted byte */
    uintptr_t high;   /* one past the highest painted byte (stack pointer - guard at paint time) */
    uintptr_t top;    /* one past the stack's highest byte, or 0 when the caller did not say */
    uintptr_t sp;     /* the stack pointer at the latest fw_stack_sample() */
    uintptr_t sp_min; /* the lowest stack pointer fw_stack_sample() saw */
    uint8_t pattern;  /* FW_STACK_PATTERN */
} fw_stack_info_t;

extern volatile fw_stack_info_t fw_stack;

/* The current stack pointer (an address in the stack; exact on the MCU ports). */
static inline uintptr_t fw_stack_pointer(void)
{
    uintptr_t sp;
#if defined(__AVR__)
    sp = (uintptr_t)(*(volatile uint8_t *)0x5D) | ((uintptr_t)(*(volatile uint8_t *)0x5E) << 8);
#elif defined(__arm__) || defined(__thumb__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#elif defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#elif defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* Paint [low, stack pointer - FW_STACK_GUARD) and fill the record. `top` is one past the stack's
 * highest byte (the initial stack pointer of a full-descending stack), or NULL when the host
 * should take it from the ELF. Call it while nothing lives below the caller's frame (early in
 * main); interrupts may stay enabled: an interrupt's frame is gone before the loop goes on. */
void fw_stack_paint(void *low, void *top);

/* Paint [low, high) and fill the record: a stack nothing runs on yet (a thread's or an RTOS
 * task's, before it starts). */
void fw_stack_paint_area(void *low, void *high, void *top);

/* Record the current stack pointer in fw_stack.sp and the lowest in fw_stack.sp_min. */
void fw_stack_sample(void);

/* Painted bytes never written since fw_stack_paint(), counted upward from `floor` (NULL: from the
 * bottom of the paint; pass the heap's current end when a heap grows into the painted area).
 * 0 when the stack has reached the floor, or nothing was painted. */
size_t fw_stack_unused(const void *floor);

#ifdef __cplusplus
}
#endif
#endif
