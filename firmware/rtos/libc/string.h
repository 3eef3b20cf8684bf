/* The part of <string.h> the FreeRTOS kernel calls; firmware/ports/common/freestanding.c
 * implements the memory functions. */
#ifndef RTOS_SHIM_STRING_H
#define RTOS_SHIM_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
char *strcpy(char *dst, const char *src);
#endif
