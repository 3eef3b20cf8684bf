/*
 * firmwatch demo application, shared by every port (host, Cortex-M3, RISC-V, AVR).
 *
 * A port calls:
 *   demo_init()        once at start-up,
 *   demo_tick_1khz()   from its 1 kHz tick interrupt (next to fw_tick()),
 *   demo_loop()        once per main-loop iteration.
 * The globals below are what a firmware engineer would watch; their names are part of the
 * tests, so keep them.
 *
 * Invariants the tests check for torn reads (all written together inside the tick):
 *   - event_counter64 advances by 0x0000000100000001 per tick, so its high and low 32-bit
 *     halves are always equal; a torn read shows different halves.
 *   - g_pair.b == ~g_pair.a and g_pair.a == (uint32_t)timestamp_ms.
 *   - uptime_s == timestamp_ms / 1000.0 (a double; 4 bytes on AVR).
 */
#ifndef DEMO_H
#define DEMO_H

#include <stdint.h>

typedef enum {
    FSM_IDLE = 0,
    FSM_SAMPLING = 1,
    FSM_FILTERING = 2,
    FSM_TRANSMIT = 3,
    FSM_SLEEP = 4
} fsm_state_t;

typedef struct {
    int16_t offset;
    uint16_t gain_q8; /* 256 = 1.0 */
} calibration_t;

typedef struct {
    uint32_t magic;            /* DEMO_CONFIG_MAGIC */
    calibration_t calib;       /* nested struct */
    uint8_t channel_map[4];    /* array */
    unsigned enabled : 1;      /* bitfields */
    unsigned mode : 3;
    unsigned log_level : 4;
    float alarm_threshold;     /* degrees Celsius */
    uint16_t sample_period_ms;
} config_t;

typedef struct {
    uint32_t a;
    uint32_t b; /* always ~a */
} pair_t;

#define DEMO_CONFIG_MAGIC 0xC0FFEE01u
#define DEMO_SINE_STEPS 64

/* Written by the tick interrupt. */
extern volatile uint64_t timestamp_ms;
extern volatile uint64_t event_counter64;
extern volatile double uptime_s;
extern volatile pair_t g_pair;

/* Written by the main loop. */
extern volatile uint32_t heartbeat_counter;
extern volatile uint32_t loop_count;
extern volatile uint16_t sensor_temp;   /* raw 12-bit ADC reading */
extern volatile float temp_celsius;
extern volatile int16_t accel_x;        /* sine, 1 s period */
extern volatile int16_t accel_y;        /* triangle, 2 s period */
extern volatile int16_t accel_z;        /* noise around 1 g (1000) */
extern volatile fsm_state_t fsm_state;  /* cycles every 250 ms */
extern volatile uint8_t button_state;   /* pressed for 300 ms every 3 s */

/* Written by the host (the debugger) to steer the demo. */
extern volatile config_t g_config;
extern volatile config_t *volatile g_active_config; /* points at g_config */

/* Memory health (firmwatch memory): write these to make the stack and the heap move.
 * Each main-loop pass (once a millisecond) recurses demo_stack_depth levels of demo_recurse(),
 * a frame of DEMO_FRAME_PAD bytes of locals plus what the ABI adds; demo_stack_reached says how
 * deep the last pass went. When demo_alloc_blocks, demo_alloc_size or demo_alloc_holes change,
 * the loop frees what it holds, allocates demo_alloc_blocks blocks of demo_alloc_size bytes with
 * malloc and, with demo_alloc_holes = 1, frees every other one (a fragmented heap). A port
 * without a C library allocator builds with DEMO_HEAP=0 and leaves the heap alone. */
#ifndef DEMO_FRAME_PAD
#if defined(__AVR__)
#define DEMO_FRAME_PAD 16
#else
#define DEMO_FRAME_PAD 32
#endif
#endif
#ifndef DEMO_ALLOC_MAX
#if defined(__AVR__)
#define DEMO_ALLOC_MAX 8
#else
#define DEMO_ALLOC_MAX 16
#endif
#endif
#ifndef DEMO_HEAP
#define DEMO_HEAP 1
#endif
extern volatile uint16_t demo_stack_depth;    /* written by the host */
extern volatile uint16_t demo_stack_reached;
extern volatile uint16_t demo_alloc_blocks;   /* written by the host, at most DEMO_ALLOC_MAX */
extern volatile uint16_t demo_alloc_size;     /* written by the host */
extern volatile uint8_t demo_alloc_holes;     /* written by the host */
extern volatile uint16_t demo_alloc_held;     /* blocks held now */
extern volatile uint32_t demo_alloc_failed;   /* allocations that returned NULL */

/* Read-only lookup table (flash / .rodata): one full sine period, amplitude 1000. */
extern const int16_t sine_table[DEMO_SINE_STEPS];

void demo_init(void);
/* Paint the free stack for a high-water mark (firmware/extras/stack_paint): low, top as for
 * fw_stack_paint(). demo_init() does it on the bare-metal ports; a hosted port paints the stack
 * of its main-loop thread itself. */
void demo_paint_stack(void *low, void *top);
void demo_tick_1khz(void);
void demo_loop(void);

#endif
