/*
 * firmwatch host port: the demo firmware as a POSIX process, serving the streamer protocol
 * on a pseudo-terminal (default) or a TCP socket (--tcp PORT).
 *
 * It models a single-core MCU faithfully enough for the tests to mean something:
 *   - a tick thread runs demo_tick_1khz() and fw_tick() at 1 kHz on absolute deadlines,
 *     holding the critical-section lock for the whole tick, exactly as an ISR excludes the
 *     main loop;
 *   - a loop thread is the "main loop": UART input, fw_poll(), demo_loop(), UART output. It
 *     runs on a static stack inside .bss, painted before it starts, so the stack lies where an
 *     MCU's would: inside the region table, below 4 GB, its high-water mark readable by the
 *     host (firmware/extras/stack_paint) like on the bare-metal ports.
 * Built non-PIE, so the ELF's addresses are the running addresses.
 *
 * Prints on stdout, one per line, then serves until SIGINT/SIGTERM:
 *   port: /dev/pts/N            (or socket://127.0.0.1:PORT)
 *   elf: /absolute/path/of/this/executable
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "firmwatch.h"

/* Linker-provided bounds of the writable data (.data through .bss). */
extern char __data_start[];
extern char _end[];

static pthread_mutex_t lock;
/* the main loop's stack (see above); glibc keeps the thread's descriptor at its top */
#define LOOP_STACK_SIZE (256u * 1024u)
static uint8_t loop_stack[LOOP_STACK_SIZE] __attribute__((aligned(4096)));
static int conn = -1, listener = -1; /* the link: a pty master or a TCP client */
static int wake_fd = -1;
static volatile sig_atomic_t stopping;

void fw_port_critical_enter(void)
{
    pthread_mutex_lock(&lock);
}

void fw_port_critical_exit(void)
{
    pthread_mutex_unlock(&lock);
}

void fw_port_tx_ready(void)
{
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: the main loop is already due to wake */
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* ---- build id: the GNU build-id note of the main executable ---- */

static uint8_t build_id_len;
static const uint8_t *build_id;

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    int i;
    (void)size;
    (void)data;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const uint8_t *p, *end;
        if (ph->p_type != PT_NOTE) {
            continue;
        }
        p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        end = p + ph->p_memsz;
        while (p + 12 <= end) {
            uint32_t namesz, descsz;
            memcpy(&namesz, p, 4);
            memcpy(&descsz, p + 4, 4);
            build_id_len = fw_gnu_build_id(p, &build_id);
            if (build_id_len) {
                return 1;
            }
            p += 12 + ((namesz + 3u) & ~3u) + ((descsz + 3u) & ~3u);
        }
    }
    return 1; /* only the first object (the executable itself) matters */
}

/* ---- the serial link: a pty, or one TCP client at a time ---- */

static int set_nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int open_pty(char *name, size_t name_size, int *slave_keep)
{
    struct termios tio;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, name_size) != 0) {
        return -1;
    }
    /* Holding the slave open keeps the master readable and writable while no host is
     * attached, so a host can close the port and reconnect at any time. */
    *slave_keep = open(name, O_RDWR | O_NOCTTY);
    if (*slave_keep < 0 || tcgetattr(*slave_keep, &tio) != 0) {
        return -1;
    }
    cfmakeraw(&tio);
    tcsetattr(*slave_keep, TCSANOW, &tio);
    if (tcgetattr(m, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(m, TCSANOW, &tio);
    }
    set_nonblock(m);
    return m;
}

static int open_listener(int port, int *bound_port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        return -1;
    }
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 1) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
        close(s);
        return -1;
    }
    *bound_port = ntohs(a.sin_port);
    set_nonblock(s);
    return s;
}

/* ---- the tick "interrupt" ---- */

static void *tick_thread(void *arg)
{
    struct timespec next;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stopping) {
        struct timespec now;
        next.tv_nsec += 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
        }
        fw_port_critical_enter();
        demo_tick_1khz();
        fw_tick();
        fw_port_critical_exit();
        /* After a long stall (process stopped, machine suspended) restart the schedule
         * instead of replaying hundreds of ticks at once. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - next.tv_sec > 1) {
            next = now;
        }
    }
    return NULL;
}

/* ---- the capture timer (docs/protocol.md section 16) ----
 * A thread at a 1 MHz clock: while a capture runs on it, it wakes every `divider` microseconds
 * on absolute deadlines and takes one sample holding the critical section, as a timer interrupt
 * would. A wake-up later than a whole period (a busy machine) means samples never taken: it
 * tells the core (fw_capture_slip), and the capture reports it. Idle, it sleeps on a condition. */
#if FW_CAPTURE
#define CAPTURE_TIMER_HZ 1000000u
static uint8_t capture_ram[65536];
static pthread_mutex_t capture_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t capture_cv = PTHREAD_COND_INITIALIZER;
static uint32_t capture_divider, capture_gen;

static void capture_timer(uint32_t divider)
{
    pthread_mutex_lock(&capture_mx);
    capture_divider = divider;
    capture_gen++;
    pthread_cond_signal(&capture_cv);
    pthread_mutex_unlock(&capture_mx);
}

static const fw_capture_config_t capture_config = {capture_ram, sizeof capture_ram, CAPTURE_TIMER_HZ, 0,
                                                   capture_timer};

static void *capture_thread(void *arg)
{
    (void)arg;
    while (!stopping) {
        struct timespec next, now;
        uint32_t divider, gen;
        int64_t period;
        pthread_mutex_lock(&capture_mx);
        while (capture_divider == 0 && !stopping) {
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_nsec += 100000000L; /* wake now and then to notice `stopping` */
            if (t.tv_nsec >= 1000000000L) {
                t.tv_nsec -= 1000000000L;
                t.tv_sec++;
            }
            pthread_cond_timedwait(&capture_cv, &capture_mx, &t);
        }
        divider = capture_divider;
        gen = capture_gen;
        pthread_mutex_unlock(&capture_mx);
        if (divider == 0) {
            continue; /* stopping */
        }
        period = (int64_t)divider * (1000000000LL / CAPTURE_TIMER_HZ);
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (;;) {
            int64_t late;
            uint32_t missed = 0, current;
            next.tv_nsec += period % 1000000000LL;
            next.tv_sec += period / 1000000000LL;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            late = (now.tv_sec - next.tv_sec) * 1000000000LL + (now.tv_nsec - next.tv_nsec);
            if (late >= period) {
                missed = (uint32_t)(late / period);
                late = (int64_t)missed * period;
                next.tv_sec += late / 1000000000LL;
                next.tv_nsec += late % 1000000000LL;
                if (next.tv_nsec >= 1000000000L) {
                    next.tv_nsec -= 1000000000L;
                    next.tv_sec++;
                }
            }
            pthread_mutex_lock(&capture_mx);
            current = capture_gen;
            pthread_mutex_unlock(&capture_mx);
            if (current != gen || stopping) {
                break;
            }
            fw_port_critical_enter();
            if (missed) {
                fw_capture_slip(missed);
            }
            fw_capture_timer();
            fw_port_critical_exit();
        }
    }
    return NULL;
}
#endif

/* ---- the main loop (on loop_stack) ---- */

static void *loop_thread(void *arg)
{
    static uint8_t out[4096];
    size_t out_len = 0, out_off = 0;
    ssize_t n;
    int i;
    (void)arg;
    while (!stopping) {
        struct pollfd p[3];
        int np = 0, ilisten = -1;
        uint8_t in[512];
        p[np].fd = wake_fd;
        p[np++].events = POLLIN;
        if (conn >= 0) {
            p[np].fd = conn;
            /* no POLLIN while the RX buffer is full: the kernel holds the bytes meanwhile */
            p[np++].events = (short)((fw_rx_free() ? POLLIN : 0) |
                                     (out_len > out_off || fw_tx_pending() ? POLLOUT : 0));
        }
        if (listener >= 0 && conn < 0) {
            ilisten = np;
            p[np].fd = listener;
            p[np++].events = POLLIN;
        }
        if (poll(p, (nfds_t)np, 1) < 0 && errno != EINTR) {
            break;
        }
        if (p[0].revents & POLLIN) {
            uint64_t v;
            if (read(wake_fd, &v, sizeof v) < 0) {
                /* nothing to clear */
            }
        }
        if (ilisten >= 0 && (p[ilisten].revents & POLLIN)) {
            int one = 1;
            conn = accept(listener, NULL, NULL);
            if (conn >= 0) {
                setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                set_nonblock(conn);
                out_len = out_off = 0;
            }
        }
        if (conn >= 0) {
            /* Take only what the RX buffer can hold, parse, repeat: the kernel keeps the
             * rest, so a burst from the host is never lost (a UART would overrun). */
            for (;;) {
                size_t room = fw_rx_free();
                if (room == 0) {
                    break;
                }
                n = read(conn, in, room < sizeof in ? room : sizeof in);
                if (n > 0) {
                    for (i = 0; i < n; i++) {
                        fw_rx_byte(in[i]);
                    }
                    fw_poll();
                    continue;
                }
                if (listener >= 0 && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
                    close(conn); /* TCP client gone: wait for the next one */
                    conn = -1;
                }
                break;
            }
        }
        fw_poll();
        demo_loop();
        if (conn < 0) {
            /* No TCP client: output has nowhere to go; discard it like a UART with no cable. */
            while (fw_tx_pop(out, sizeof out) > 0) {
            }
            continue;
        }
        for (;;) {
            if (out_off == out_len) {
                out_off = 0;
                out_len = fw_tx_pop(out, sizeof out);
                if (out_len == 0) {
                    break;
                }
            }
            n = write(conn, out + out_off, out_len - out_off);
            if (n <= 0) {
                break; /* kernel buffer full (no reader yet): keep the rest for later */
            }
            out_off += (size_t)n;
        }
}
    return NULL;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--tcp PORT]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    static fw_region_t regions[2];
    static fw_config_t cfg;
    char name[128], exe[4096];
    int slave_keep = -1, tcp_port = -1, bound = 0, i;
    pthread_mutexattr_t ma;
    pthread_attr_t attr;
    pthread_t tick, loop;
#if FW_CAPTURE
    pthread_t capture;
#endif
    sigset_t block, old;
    struct sigaction sa;
    ssize_t n;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc) {
            tcp_port = atoi(argv[++i]);
        } else {
            usage(argv[0]);
        }
    }

    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lock, &ma);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    dl_iterate_phdr(find_build_id, NULL);
    regions[0].start = (uint32_t)(uintptr_t)__data_start;
    regions[0].size = (uint32_t)(_end - __data_start);
    regions[0].access = FW_ACCESS_READ | FW_ACCESS_WRITE;
    regions[1].start = (uint32_t)(uintptr_t)sine_table;
    regions[1].size = sizeof sine_table;
    regions[1].access = FW_ACCESS_READ;
    cfg.regions = regions;
    cfg.nregions = 2;
    cfg.build_id = build_id;
    cfg.build_id_len = build_id_len;
    cfg.word_size = (uint8_t)sizeof(void *);
    cfg.big_endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
    cfg.addr_offset = 0;

    demo_init();
    fw_init(&cfg);
#if FW_CAPTURE
    fw_capture_init(&capture_config);
#endif

    /* Before the port is announced: whoever reads it may signal us at once. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (tcp_port >= 0) {
        listener = open_listener(tcp_port, &bound);
        if (listener < 0) {
            fprintf(stderr, "error: cannot listen on 127.0.0.1:%d (%s); pick another port.\n",
                    tcp_port, strerror(errno));
            return 1;
        }
        printf("port: socket://127.0.0.1:%d\n", bound);
    } else {
        conn = open_pty(name, sizeof name, &slave_keep);
        if (conn < 0) {
            fprintf(stderr, "error: cannot create a pseudo-terminal (%s).\n", strerror(errno));
            return 1;
        }
        printf("port: %s\n", name);
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    printf("elf: %s\n", exe);
    fflush(stdout);

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_create(&tick, NULL, tick_thread, NULL);
#if FW_CAPTURE
    pthread_create(&capture, NULL, capture_thread, NULL);
#endif
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, loop_stack, sizeof loop_stack);
    demo_paint_stack(loop_stack, loop_stack + sizeof loop_stack);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (pthread_create(&loop, &attr, loop_thread, NULL) != 0) {
        fprintf(stderr, "error: cannot start the main-loop thread.\n");
        return 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* SIGINT/SIGTERM reach this thread only (the others block them); the loop thread sees
     * `stopping` within one poll period and returns */
    pthread_join(loop, NULL);
    stopping = 1;
    pthread_join(tick, NULL);
#if FW_CAPTURE
    pthread_join(capture, NULL);
#endif
    if (conn >= 0) {
        close(conn);
    }
    if (slave_keep >= 0) {
        close(slave_keep);
    }
    return 0;
}
