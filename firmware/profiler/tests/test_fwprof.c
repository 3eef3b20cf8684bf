/*
 * The profiler module on the host, driven line by line from stdin (tests/test_profiler_device.py
 * writes the scripts and checks the output with the host's own decoder):
 *
 *   t N        the clock reads N (timer units) from now on
 *   e ADDR     an instrumented function at ADDR is entered
 *   x          the innermost one returns
 *   r HEX      bytes arrive on the link (fwp_rx_byte)
 *   p          the main loop runs once (fwp_poll)
 *   o [MAX]    the link takes up to MAX output bytes (default: all); prints "o HEX"
 *   s          prints "s PROFILING OVERFLOWS CAPTURED USAGE RX_ERRORS"
 *   start|stop local control (fwp_start / fwp_stop)
 *   b          prints "b BUILD_ID" (hex)
 *
 * The "text" whose CRC32 is the build id is the 9 bytes "123456789" (CRC32 0xCBF43926).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwprof.h"

static uint32_t clock_now;
static int crit_depth;
static const uint8_t text[] = "123456789";

uint32_t fwp_port_now(void)
{
    if (crit_depth <= 0) {
        fprintf(stderr, "fwp_port_now() outside a critical section\n");
        exit(3);
    }
    return clock_now;
}

void fwp_port_critical_enter(void)
{
    crit_depth++;
}

void fwp_port_critical_exit(void)
{
    if (--crit_depth < 0) {
        fprintf(stderr, "unbalanced critical section\n");
        exit(3);
    }
}

void fwp_port_tx_ready(void)
{
}

static const fwp_config_t config = {168000000u, 1000000u, "unit test v1", text, text + 9, 0};

int main(void)
{
    char line[4096];
    uintptr_t stack[256];
    int depth = 0;
    fwp_init(&config);
    while (fgets(line, sizeof line, stdin)) {
        char *arg = line + 1;
        while (*arg == ' ')
            arg++;
        if (strncmp(line, "start", 5) == 0) {
            fwp_start();
        } else if (strncmp(line, "stop", 4) == 0) {
            fwp_stop();
        } else if (line[0] == 't') {
            clock_now = (uint32_t)strtoul(arg, NULL, 0);
        } else if (line[0] == 'e') {
            stack[depth] = (uintptr_t)strtoul(arg, NULL, 0);
            __cyg_profile_func_enter((void *)stack[depth], NULL);
            depth++;
        } else if (line[0] == 'x') {
            depth--;
            __cyg_profile_func_exit((void *)stack[depth], NULL);
        } else if (line[0] == 'r') {
            for (char *p = arg; p[0] && p[1] && p[0] != '\n'; p += 2) {
                char h[3] = {p[0], p[1], 0};
                fwp_rx_byte((uint8_t)strtoul(h, NULL, 16));
            }
        } else if (line[0] == 'p') {
            fwp_poll();
        } else if (line[0] == 'o') {
            long max = *arg && *arg != '\n' ? strtol(arg, NULL, 0) : -1;
            int b;
            printf("o ");
            while (max-- != 0 && (b = fwp_tx_byte()) >= 0)
                printf("%02X", b);
            printf("\n");
        } else if (line[0] == 's') {
            fwp_status_t s;
            fwp_get_status(&s);
            printf("s %u %lu %lu %u %lu\n", s.profiling, (unsigned long)s.overflows,
                   (unsigned long)s.captured, s.usage, (unsigned long)s.rx_errors);
        } else if (line[0] == 'b') {
            printf("b %08lX\n", (unsigned long)fwp_build_id());
        }
        if (crit_depth != 0) {
            fprintf(stderr, "critical section left open\n");
            return 3;
        }
        fflush(stdout);
    }
    return 0;
}
