/*
 * firmwatch demo application: variables that move in recognisable ways so a live plot
 * shows at a glance that the streamer works. No libm and no libc: it runs on every port.
 */
#include "demo.h"
#include "fw_stack.h"

#if DEMO_HEAP
#include <stddef.h>
/* the C library's allocator (declared here: a freestanding build has no stdlib.h to lean on) */
void *malloc(size_t size);
void free(void *ptr);
#endif

volatile uint64_t timestamp_ms;
volatile uint64_t event_counter64;
volatile double uptime_s;
volatile pair_t g_pair = {0u, 0xFFFFFFFFu};

volatile uint32_t heartbeat_counter;
volatile uint32_t loop_count;
volatile uint16_t sensor_temp;
volatile float temp_celsius;
volatile int16_t accel_x;
volatile int16_t accel_y;
volatile int16_t accel_z;
volatile fsm_state_t fsm_state;
volatile uint8_t button_state;

volatile config_t g_config = {
    DEMO_CONFIG_MAGIC,
    {0, 256},
    {0, 1, 2, 3},
    1u, 2u, 3u,
    30.0f,
    10u,
};
volatile config_t *volatile g_active_config = &g_config;

const int16_t sine_table[DEMO_SINE_STEPS] = {
        0,    98,   195,   290,   383,   471,   556,   634,
      707,   773,   831,   882,   924,   957,   981,   995,
     1000,   995,   981,   957,   924,   882,   831,   773,
      707,   634,   556,   471,   383,   290,   195,    98,
        0,   -98,  -195,  -290,  -383,  -471,  -556,  -634,
     -707,  -773,  -831,  -882,  -924,  -957,  -981,  -995,
    -1000,  -995,  -981,  -957,  -924,  -882,  -831,  -773,
     -707,  -634,  -556,  -471,  -383,  -290,  -195,   -98
};

volatile uint16_t demo_stack_depth;
volatile uint16_t demo_stack_reached;
volatile uint16_t demo_alloc_blocks;
volatile uint16_t demo_alloc_size;
volatile uint8_t demo_alloc_holes;
volatile uint16_t demo_alloc_held;
volatile uint32_t demo_alloc_failed;

static uint32_t rng_state = 0x12345678u;
static uint32_t last_ms = 0xFFFFFFFFu;

/* Where the free RAM between the heap and the stack starts and where the stack starts, from the
 * linker scripts of the bare-metal ports (avr-libc's names on AVR). */
#if defined(__AVR__)
extern uint8_t __heap_start[];
#define DEMO_PAINT_LOW ((void *)__heap_start)
#define DEMO_STACK_TOP ((void *)(RAMEND + 1))
#include <avr/io.h>
#elif !defined(DEMO_HOSTED)
extern uint8_t __heap_start[], __stack_top[];
#define DEMO_PAINT_LOW ((void *)__heap_start)
#define DEMO_STACK_TOP ((void *)__stack_top)
#endif

void demo_paint_stack(void *low, void *top)
{
#ifdef DEMO_HOSTED
    /* a hosted port paints its main-loop thread's stack before the thread starts */
    fw_stack_paint_area(low, top, top);
#else
    fw_stack_paint(low, top);
#endif
}

void demo_init(void)
{
    g_active_config = &g_config;
    fsm_state = FSM_IDLE;
#if defined(DEMO_PAINT_LOW) && !defined(DEMO_NO_STACK_PAINT)
    demo_paint_stack(DEMO_PAINT_LOW, DEMO_STACK_TOP);
#endif
}

/* One level of the recursion the host asks for: a frame of DEMO_FRAME_PAD bytes of locals, all
 * written so the frame's every byte shows in the stack paint. noinline, and a volatile read of
 * the frame after the call, keep each level a real frame (no inlining, and no turning the
 * recursion into a loop, which gcc does to `return f(n - 1) + 1`). */
__attribute__((noinline)) static uint16_t demo_recurse(uint16_t n)
{
    volatile uint8_t pad[DEMO_FRAME_PAD];
    uint16_t i;
    for (i = 0; i < DEMO_FRAME_PAD; i++) {
        pad[i] = (uint8_t)(n + i);
    }
    if (n <= 1u) {
        fw_stack_sample(); /* the deepest point of this pass: the lowest stack pointer */
        return 1u;
    }
    i = demo_recurse((uint16_t)(n - 1u));
    return (uint16_t)(i + (pad[0] == (uint8_t)n ? 1u : 0u));
}

#if DEMO_HEAP
static void *demo_blocks[DEMO_ALLOC_MAX];
static uint16_t applied_blocks, applied_size;
static uint8_t applied_holes;

/* Make the heap hold what the host asked for (only when the request changed). */
static void demo_heap_pattern(void)
{
    uint16_t blocks = demo_alloc_blocks, size = demo_alloc_size, i;
    uint8_t holes = demo_alloc_holes;
    if (blocks > DEMO_ALLOC_MAX) {
        blocks = DEMO_ALLOC_MAX;
    }
    if (blocks == applied_blocks && size == applied_size && holes == applied_holes) {
        return;
    }
    for (i = 0; i < DEMO_ALLOC_MAX; i++) {
        free(demo_blocks[i]);
        demo_blocks[i] = NULL;
    }
    demo_alloc_held = 0;
    for (i = 0; i < blocks && size; i++) {
        demo_blocks[i] = malloc(size);
        if (demo_blocks[i] == NULL) {
            demo_alloc_failed++;
            continue;
        }
        ((volatile uint8_t *)demo_blocks[i])[0] = (uint8_t)i;
        demo_alloc_held++;
    }
    if (holes) {
        for (i = 1; i < blocks; i += 2) {
            if (demo_blocks[i] != NULL) {
                free(demo_blocks[i]);
                demo_blocks[i] = NULL;
                demo_alloc_held--;
            }
        }
    }
    applied_blocks = blocks;
    applied_size = size;
    applied_holes = holes;
}
#endif

void demo_tick_1khz(void)
{
    uint64_t t = timestamp_ms + 1u;
    timestamp_ms = t;
    event_counter64 += 0x0000000100000001ull;
    uptime_s = (double)t / 1000.0;
    g_pair.a = (uint32_t)t;
    g_pair.b = ~(uint32_t)t;
}

/* The low word of timestamp_ms, read so that a tick in the middle cannot tear it even on
 * an 8-bit CPU: read until two reads agree. */
static uint32_t now_ms(void)
{
    uint32_t a, b;
    do {
        a = (uint32_t)timestamp_ms;
        b = (uint32_t)timestamp_ms;
    } while (a != b);
    return a;
}

static uint32_t xorshift32(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

/* sin(2*pi*phase/1000) * 1000 for phase in [0, 1000), linear between table entries. */
static int16_t sine_milli(uint32_t phase)
{
    uint32_t pos = phase * DEMO_SINE_STEPS;
    uint32_t i = pos / 1000u, frac = pos % 1000u;
    int32_t a = sine_table[i], b = sine_table[(i + 1u) % DEMO_SINE_STEPS];
    return (int16_t)(a + (b - a) * (int32_t)frac / 1000);
}

static int16_t triangle(uint32_t t, uint32_t period, int16_t amplitude)
{
    uint32_t half = period / 2u, p = t % period;
    int32_t v = p < half ? (int32_t)p : (int32_t)(period - p); /* 0..half..0 */
    return (int16_t)(v * 2 * amplitude / (int32_t)half - amplitude);
}

void demo_loop(void)
{
    uint32_t now;
    loop_count++;
    now = now_ms();
    if (now == last_ms) {
        return;
    }
    last_ms = now;

    if (now % 500u == 0u) {
        heartbeat_counter++;
    }
    {
        volatile config_t *cfg = g_active_config;
        int32_t x = sine_milli(now % 1000u);
        if (cfg->enabled) {
            x = x * (int32_t)cfg->calib.gain_q8 / 256 + cfg->calib.offset;
        }
        accel_x = (int16_t)(x > 32767 ? 32767 : (x < -32768 ? -32768 : x));
    }
    accel_y = triangle(now, 2000u, 1000);
    accel_z = (int16_t)(1000 + (int32_t)(xorshift32() % 101u) - 50);

    if (now % 100u == 0u) {
        /* a slowly drifting 12-bit reading around 25 degC: 20 s triangle plus a little noise */
        sensor_temp = (uint16_t)(930 + triangle(now, 20000u, 60) + (int32_t)(xorshift32() % 5u));
        /* 10 mV/degC sensor, 3.3 V reference, 0.5 V at 0 degC */
        temp_celsius = (float)sensor_temp * (3300.0f / 4096.0f) / 10.0f - 50.0f;
    }
    fsm_state = (fsm_state_t)((now / 250u) % 5u);
    button_state = (uint8_t)((now % 3000u) < 300u);

    if (demo_stack_depth) {
        demo_stack_reached = demo_recurse(demo_stack_depth);
    } else {
        demo_stack_reached = 0;
        fw_stack_sample();
    }
#if DEMO_HEAP
    demo_heap_pattern();
#endif
}
