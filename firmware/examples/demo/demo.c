/*
 * firmwatch demo application: variables that move in recognisable ways so a live plot
 * shows at a glance that the streamer works. No libm and no libc: it runs on every port.
 */
#include "demo.h"

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

static uint32_t rng_state = 0x12345678u;
static uint32_t last_ms = 0xFFFFFFFFu;

void demo_init(void)
{
    g_active_config = &g_config;
    fsm_state = FSM_IDLE;
}

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
}
