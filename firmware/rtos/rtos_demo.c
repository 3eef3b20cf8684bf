/*
 * The FreeRTOS demo's tasks (priorities in brackets):
 *
 *   stream   [4]  the firmwatch streamer: fw_poll() and the UART, woken by its RX interrupt
 *   consumer [3]  blocks on the "rx queue" forever, takes what producer sends
 *   producer [2]  every 20 ms: some busy work, an item on the queue, the mutex taken and given
 *   depth    [1]  every 10 ms: recursion rtos_demo.stack_depth deep (the user drives its stack)
 *   report   [1]  fills rtos_report from uxTaskGetSystemState when asked
 *   parked   [1]  suspends itself at once (the suspended list)
 *   IDLE     [0]  and Tmr Svc [5]: the kernel's own
 *
 * The "blink" software timer fires every 50 ms; the "oneshot" one (200 ms) exists from the start and
 * runs only when rtos_demo.oneshot_start changes. With rtos_demo.churn set, producer creates a
 * short-lived task every 2 ms, "temp" and "temp deep" (which uses 400 more bytes of stack) in turn,
 * that sleeps 3 ms (one in 512: 4 s) and deletes itself (the deleted-waiting list), so task lists
 * change under a reader all the time.
 */
#include "rtos_demo.h"

#include "firmwatch.h"
#include "queue.h"
#include "semphr.h"
#include "timers.h"

struct rtos_demo rtos_demo = {.stack_depth = 4};
struct rtos_report rtos_report;

static QueueHandle_t rx_queue;
static SemaphoreHandle_t demo_mutex;
static SemaphoreHandle_t tick_sem;
static TimerHandle_t blink;
static TimerHandle_t oneshot;
static TaskHandle_t stream_task_handle;

/* ---- the streamer task ---- */
void rtos_stream_wake_from_isr(void)
{
    BaseType_t woken = pdFALSE;
    if (stream_task_handle != NULL)
        vTaskNotifyGiveFromISR(stream_task_handle, &woken);
    portYIELD_FROM_ISR(woken);
}

static void stream_task(void *arg)
{
    (void)arg;
    for (;;) {
        fw_poll();
        board_uart_service();
        /* woken by input; otherwise every tick, which drains what fw_tick() produced */
        (void)ulTaskNotifyTake(pdTRUE, 1);
    }
}

void vApplicationTickHook(void)
{
    fw_tick();
}

/* ---- demo tasks ---- */
static void consumer_task(void *arg)
{
    (void)arg;
    uint32_t item;
    for (;;) {
        if (xQueueReceive(rx_queue, &item, portMAX_DELAY) == pdPASS)
            rtos_demo.consumed++;
        (void)item;
    }
}

/* A "temp deep" task writes a buffer deep into its stack, a "temp" one does not: the kernel often
 * gives a new task the TCB and stack of one just deleted, and a reader that took the new task for
 * the old one would show a shallow task with a deep one's stack figures. */
#define TEMP_DEEP_BYTES 400
static __attribute__((noinline)) uint32_t temp_deep(void)
{
    volatile uint8_t buf[TEMP_DEEP_BYTES];
    for (uint32_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)i;
    return buf[7];
}

/* arg: 0 a "temp" task, 1 a "temp deep" one, 2 a "temp deep" one that lives 4 s (a reader that
 * refreshes slowly sees it more than once) */
static void temp_task(void *arg)
{
    volatile uint32_t spin = 0;
    for (int i = 0; i < 50; i++)
        spin += (uint32_t)i;
    if (arg != NULL)
        spin += temp_deep();
    /* a few ticks in the delayed list, then gone */
    vTaskDelay(arg == (void *)2 ? pdMS_TO_TICKS(4000) : pdMS_TO_TICKS(3));
    vTaskDelete(NULL);
}

static __attribute__((noinline)) uint32_t busy_work(uint32_t n)
{
    volatile uint32_t acc = 0;
    for (uint32_t i = 0; i < n; i++)
        acc += i * 2654435761u;
    return acc;
}

static void producer_task(void *arg)
{
    (void)arg;
    TickType_t last = xTaskGetTickCount();
    uint32_t n = 0;
    for (;;) {
        if (rtos_demo.churn) {
            vTaskDelay(pdMS_TO_TICKS(2));
            void *deep = (n & 1) ? (n % 512 == 1 ? (void *)2 : (void *)1) : NULL;
            if (xTaskCreate(temp_task, deep ? "temp deep" : "temp", configMINIMAL_STACK_SIZE, deep, 1, NULL) == pdPASS)
                rtos_demo.spawned++;
            if (++n % 10 != 0)
                continue;
        } else {
            xTaskDelayUntil(&last, pdMS_TO_TICKS(20));
        }
        last = xTaskGetTickCount();
        uint32_t item = busy_work(2000);
        if (xSemaphoreTake(demo_mutex, pdMS_TO_TICKS(5)) == pdPASS) {
            if (xQueueSend(rx_queue, &item, 0) == pdPASS)
                rtos_demo.produced++;
            xSemaphoreGive(demo_mutex);
        }
    }
}

/* Each level keeps a buffer of its own on the stack and writes all of it, so the stack's
 * high-water mark follows the depth the user asks for. */
static __attribute__((noinline)) uint32_t recurse(uint32_t level)
{
    volatile uint8_t frame[48];
    for (uint32_t i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t)(level + i);
    if (level == 0)
        return frame[0];
    return recurse(level - 1) + frame[level % sizeof frame];
}

static void depth_task(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t depth = rtos_demo.stack_depth;
        if (depth > 24) /* a 2.4 KB stack holds 24 levels of about 70 bytes: stay inside it */
            depth = 24;
        (void)recurse(depth);
        if (depth > rtos_demo.deepest)
            rtos_demo.deepest = depth;
        rtos_demo.depth_runs++;
        vTaskDelay(pdMS_TO_TICKS(10));
    }
}

static void report_task(void *arg)
{
    (void)arg;
    uint32_t oneshot_started = 0;
    for (;;) {
        /* the tick semaphore is given by the blink timer: report blocks on it between looks */
        (void)xSemaphoreTake(tick_sem, pdMS_TO_TICKS(5));
        if (rtos_demo.oneshot_start != oneshot_started) {
            oneshot_started = rtos_demo.oneshot_start;
            xTimerStart(oneshot, 0);
        }
        uint32_t want = rtos_report.request;
        if (want != rtos_report.done) {
            configRUN_TIME_COUNTER_TYPE total = 0;
            rtos_report.count = uxTaskGetSystemState(rtos_report.tasks, RTOS_REPORT_MAX, &total);
            rtos_report.total_runtime = total;
            rtos_report.tick = xTaskGetTickCount();
            rtos_report.done = want;
        }
    }
}

static void parked_task(void *arg)
{
    (void)arg;
    for (;;)
        vTaskSuspend(NULL);
}

static void blink_callback(TimerHandle_t timer)
{
    (void)timer;
    rtos_demo.timer_fires++;
    xSemaphoreGive(tick_sem);
}

static void oneshot_callback(TimerHandle_t timer)
{
    (void)timer;
    rtos_demo.oneshot_fires++;
}

/* ---- start ---- */
const fw_config_t *baremetal_config(void);

int main(void)
{
    fw_init(baremetal_config());
    board_init();

    rx_queue = xQueueCreate(8, sizeof(uint32_t));
    demo_mutex = xSemaphoreCreateMutex();
    tick_sem = xSemaphoreCreateBinary();
    vQueueAddToRegistry(rx_queue, "rx queue");
    vQueueAddToRegistry(demo_mutex, "demo mutex");
    vQueueAddToRegistry(tick_sem, "tick sem");
    blink = xTimerCreate("blink", pdMS_TO_TICKS(50), pdTRUE, NULL, blink_callback);
    xTimerStart(blink, 0);
    /* created, not started: a timer in no kernel list until rtos_demo.oneshot_start changes */
    oneshot = xTimerCreate("oneshot", pdMS_TO_TICKS(200), pdFALSE, NULL, oneshot_callback);

    xTaskCreate(stream_task, "stream", 256, NULL, 4, &stream_task_handle);
    xTaskCreate(consumer_task, "consumer", configMINIMAL_STACK_SIZE, NULL, 3, NULL);
    xTaskCreate(producer_task, "producer", 256, NULL, 2, NULL);
    xTaskCreate(depth_task, "depth", 600, NULL, 1, NULL);
    xTaskCreate(report_task, "report", 256, NULL, 1, NULL);
    xTaskCreate(parked_task, "parked", configMINIMAL_STACK_SIZE, NULL, 1, NULL);
    vTaskStartScheduler();
    for (;;) {
    }
}
