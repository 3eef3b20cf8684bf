/*
 * The profiler demo: a control loop whose functions cost known, different amounts of time.
 *
 * Every function's own work is SPIN(n): a busy loop of n iterations written in assembly, so its
 * cost is exact in target cycles (instructions under QEMU -icount) whatever the optimiser
 * does. One call of app_frame() costs, in units of HALF iterations of its own work (callees
 * excluded):
 *
 *   app_frame        1            callees: sensor_read, filter_run, control_update, telemetry_pack
 *   sensor_read      6
 *   filter_run       2            callees: fir_tap x 6
 *   fir_tap          2 per call   (12 per frame)
 *   control_update   8            callees: pid_step
 *   pid_step         4
 *   telemetry_pack  18
 *                   --
 *                   51 per frame
 *
 * tests/test_profiler_demo.py checks the measured shares against these numbers (the table is
 * PROFILE_COSTS there) and the call tree against the callee lists. Built with
 * -finstrument-functions it streams MiniProfiler records; built without, it is the
 * "firmware not built for profiling" the PC sampler profiles. The entry points the ports call
 * (demo_init, demo_tick_1khz, demo_loop) are not instrumented: app_frame is the root (depth 0).
 */
#include <stdint.h>

#include "demo.h"

#ifdef FWP_PROFILED
#include "fwprof.h"
#endif

#define NOINST __attribute__((no_instrument_function))
#define WORK __attribute__((noinline, used))

/* iterations per half unit; FRAME_MS: app_frame() runs once every FRAME_MS ticks, with idle
 * time after it in which the links send the records (and the sampler sees the idle loop) */
#if defined(__AVR__)
#define HALF 200u /* 6 cycles an iteration: 1200 cycles, 75 us at 16 MHz; a frame 3.8 ms */
#define FRAME_MS 16u /* the records of a frame take ~5 ms to send at 2 Mbit/s */
#define TICK_ITERATIONS 2666u /* 1 ms */
#define SPIN(n)                                                                                    \
    do {                                                                                           \
        uint32_t spin_n_ = (n);                                                                    \
        __asm__ volatile("1: subi %A0,1\n sbci %B0,0\n sbci %C0,0\n sbci %D0,0\n brne 1b"         \
                         : "+d"(spin_n_));                                                         \
    } while (0)
#elif defined(__riscv)
#define HALF 1000u /* 2 instructions an iteration: 2000 instructions, 32 us at -icount shift=4 */
#define FRAME_MS 4u
#define TICK_ITERATIONS 31250u
#define SPIN(n)                                                                                    \
    do {                                                                                           \
        uint32_t spin_n_ = (n);                                                                    \
        __asm__ volatile("1: addi %0, %0, -1\n bnez %0, 1b" : "+r"(spin_n_));                      \
    } while (0)
#elif defined(__arm__)
#define HALF 1000u /* 2 instructions an iteration */
#define FRAME_MS 4u
#define TICK_ITERATIONS 31250u
#define SPIN(n)                                                                                    \
    do {                                                                                           \
        uint32_t spin_n_ = (n);                                                                    \
        __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(spin_n_)::"cc");                     \
    } while (0)
#else
#define HALF 20000u
#define FRAME_MS 4u
#define TICK_ITERATIONS 400000u
#define SPIN(n)                                                                                    \
    do {                                                                                           \
        volatile uint32_t spin_n_ = (n);                                                           \
        while (spin_n_)                                                                            \
            spin_n_--;                                                                             \
    } while (0)
#endif

#ifdef DEMO_FLOOD /* bench/profiler.py: calls back to back, more than any link carries */
#undef HALF
#define HALF 4u
#undef FRAME_MS
#define FRAME_MS 0u
#endif

/* The board's free-running timer, for frame_time_min: the Cortex-M3 port runs CMSDK TIMER0 down
 * from 2^32 at 25 MHz, RISC-V has the CLINT's 10 MHz mtime, the AVR ports run Timer1 at clk/64. */
#if defined(__AVR__)
#include <avr/io.h>
#define BOARD_TIME() ((uint16_t)TCNT1)
typedef uint16_t board_time_t;
#elif defined(__riscv)
#define BOARD_TIME() (*(volatile uint32_t *)0x0200BFF8u)
typedef uint32_t board_time_t;
#elif defined(__arm__)
#define BOARD_TIME() (~*(volatile uint32_t *)0x40000004u)
typedef uint32_t board_time_t;
#else
#define BOARD_TIME() 0u
typedef uint32_t board_time_t;
#endif

/* The shortest app_frame() seen, in board timer units, while profiling is off [0] and on [1]:
 * bench/profiler.py compares builds with and without instrumentation to measure its cost. */
volatile uint32_t frame_time_min[2] = {0xFFFFFFFFu, 0xFFFFFFFFu};

/* What the functions compute is beside the point; that they run is not. */
volatile uint32_t frames_done;
volatile int32_t control_output;
volatile uint32_t telemetry_checksum;

WORK void sensor_read(void)
{
    SPIN(6 * HALF);
}

WORK void fir_tap(void)
{
    SPIN(2 * HALF);
}

WORK void filter_run(void)
{
    uint8_t i;
    SPIN(2 * HALF);
    for (i = 0; i < 6; i++)
        fir_tap();
}

WORK void pid_step(void)
{
    SPIN(4 * HALF);
    control_output++;
}

WORK void control_update(void)
{
    SPIN(8 * HALF);
    pid_step();
}

WORK void telemetry_pack(void)
{
    SPIN(18 * HALF);
    telemetry_checksum += frames_done;
}

WORK void app_frame(void)
{
    SPIN(1 * HALF);
    sensor_read();
    filter_run();
    control_update();
    telemetry_pack();
    frames_done++;
}

/* ---- what the port calls ---- */

#ifdef FWP_PROFILED
void fwprof_board_init(void); /* ports/<board>/fwprof_port.c: the timer, then fwp_init() */
#endif

void NOINST demo_init(void)
{
#ifdef FWP_PROFILED
    fwprof_board_init();
#endif
}

static volatile uint8_t ticks_since_frame;

void NOINST demo_tick_1khz(void)
{
    if (ticks_since_frame < 255u)
        ticks_since_frame++;
}

/* A frame starts a pseudo-random time (up to one tick) after the tick that made it due: the
 * tick interrupt then lands on every function in proportion to its time, as in a real
 * application, instead of always in the same ones. */
#ifndef DEMO_FLOOD
static uint16_t lfsr = 0xACE1u;
#endif

void NOINST demo_loop(void)
{
#if FRAME_MS
    if (ticks_since_frame >= FRAME_MS)
#endif
    {
        ticks_since_frame = 0;
#ifndef DEMO_FLOOD
        lfsr = (uint16_t)((lfsr >> 1) ^ (-(lfsr & 1u) & 0xB400u));
        SPIN(1u + (uint32_t)lfsr % TICK_ITERATIONS);
#endif
        {
            uint8_t on = 0;
            board_time_t t0 = BOARD_TIME(), dt;
#ifdef FWP_PROFILED
            fwp_status_t st;
            fwp_get_status(&st);
            on = st.profiling;
#endif
            app_frame();
            dt = (board_time_t)(BOARD_TIME() - t0);
            if (dt < frame_time_min[on])
                frame_time_min[on] = dt;
        }
    }
}
