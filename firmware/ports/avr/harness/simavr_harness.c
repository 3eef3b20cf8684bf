/*
 * simavr-harness: run an AVR firmware under libsimavr with UART0 on a pty (or a TCP socket)
 * and, optionally, simavr's gdb stub on any port.
 *
 *   simavr-harness [--mcu atmega328p] [--freq 16000000] [--gdb-port N] [--gdb-poll CYCLES]
 *                  [--tcp PORT] [--no-realtime] [--die-with-parent] firmware.elf
 *
 * On start it prints, flushed, one line per endpoint and then "ready":
 *   uart0: /dev/pts/7              (or "uart0: tcp 127.0.0.1:40123")
 *   gdb: 127.0.0.1:1234
 *   ready
 * and runs until SIGINT/SIGTERM (exit 0) or until the firmware stops for good (exit 2).
 *
 * Why not `simavr` itself or the stock uart_pty part:
 *   - simavr's gdb port is fixed and its UART only prints to stdout;
 *   - uart_pty feeds bytes into the AVR from its own thread (racing the core's cycle timers)
 *     and points a fixed symlink, /tmp/simavr-uart0, at whichever instance started last.
 *   Here every byte crosses into the AVR on the simulation thread, from a cycle timer, and
 *   the pty name is the one openpty() returned.
 * Speed: simavr's own gdb loop polls the socket after every instruction (about 40x slower);
 *   this one polls every --gdb-poll cycles (default 2000).  Memory reads, halt, continue and
 *   step work in that mode; a breakpoint is only noticed at the next poll, so pass
 *   --gdb-poll 1 when exact breakpoints matter more than speed.
 * --die-with-parent: exit when the launching process dies, even by SIGKILL (Linux).
 * Time: by default simulated time is paced to the wall clock (the AVR idles in `sleep` and
 *   the harness sleeps with it), so a 1 kHz tick is 1 kHz of real time and the CPU is not
 *   burnt.  --no-realtime runs as fast as the host allows.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_core.h"
#include "sim_elf.h"
#include "sim_gdb.h"
#include "sim_interrupts.h"
#include "sim_io.h"
#include "sim_regbit.h"
#include "sim_irq.h"
#include "sim_cycle_timers.h"
#include "sim_time.h"

#define IO_PERIOD_USEC 100      /* how often UART bytes cross between host and AVR */
#define OUT_RING_SIZE 4096u /* AVR -> host bytes not yet written (~20 ms at 2 Mbit/s): bounded, so
                                 * a host that reconnects is not fed a backlog of stale output */
#define IN_BUF_SIZE 4096         /* host -> AVR bytes not yet accepted by the UART */

static int quit; /* SIGINT or SIGTERM is pending, or the launcher is gone (see install_signals) */

static struct {
    const char *mcu;
    unsigned long freq;
    int gdb_port; /* -1: no gdb */
    unsigned long gdb_poll_cycles;
    int tcp_port; /* -1: pty */
    int realtime;
    int die_with_parent;
    const char *elf;
} opt = {"atmega328p", 16000000ul, -1, 2000ul, -1, 1, 0, NULL};

/* ---- the UART bridge ---- */
static avr_t *avr;
static avr_uart_t *uart0;
static avr_irq_t *uart_in_irq;
static int link_fd = -1;   /* pty master, or the connected TCP client */
static int listen_fd = -1; /* TCP mode */
static int pty_slave_fd = -1;

static uint8_t out_ring[OUT_RING_SIZE];
static size_t out_head, out_tail; /* head: next write, tail: next to send; free-running */
static uint8_t in_buf[IN_BUF_SIZE];
static size_t in_len, in_pos;
/* bytes_overrun: the host was connected but did not read fast enough (the ring was full);
 * bytes_dropped also counts those sent with no host connected. Tests tell the two apart. */
static unsigned long long bytes_to_host, bytes_to_avr, bytes_dropped, bytes_overrun;

static void die(const char *what)
{
    fprintf(stderr, "simavr-harness: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* SIGINT and SIGTERM stay blocked and are polled between simavr calls instead of caught.
 * simavr 1.6's gdb stub does not look at select()'s result: when a signal interrupts that
 * select(), it goes on to accept() on its listening socket and blocks there for good, so a
 * handler that only sets a flag left the harness hung until SIGKILL (3 stops in 25 under
 * load) and its exit line with the byte counts was never printed. */
static sigset_t quit_signals;

static void install_signals(void)
{
    sigemptyset(&quit_signals);
    sigaddset(&quit_signals, SIGINT);
    sigaddset(&quit_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &quit_signals, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    if (opt.die_with_parent) {
        /* The launcher died without stopping us (SIGKILL): do not linger as an orphan. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            quit = 1;
    }
}

static int quit_requested(void)
{
    sigset_t pending;
    if (!quit && sigpending(&pending) == 0 &&
        (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1))
        quit = 1;
    return quit;
}

static void uart_out_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (out_head - out_tail >= OUT_RING_SIZE) {
        bytes_dropped++; /* nobody is reading: a real UART would lose these too */
        bytes_overrun++;
        return;
    }
    out_ring[out_head++ % OUT_RING_SIZE] = (uint8_t)value;
}

static void link_close(void)
{
    if (link_fd >= 0 && listen_fd >= 0) {
        close(link_fd);
        link_fd = -1;
        in_len = in_pos = 0;
    }
}

static void link_accept(void)
{
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    link_fd = fd;
    out_tail = out_head; /* a new client starts with a clean line */
}

static void link_flush_out(void)
{
    while (link_fd >= 0 && out_tail != out_head) {
        size_t start = out_tail % OUT_RING_SIZE;
        size_t n = out_head - out_tail;
        if (n > OUT_RING_SIZE - start)
            n = OUT_RING_SIZE - start;
        ssize_t w = write(link_fd, out_ring + start, n);
        if (w > 0) {
            out_tail += (size_t)w;
            bytes_to_host += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        link_close();
        return;
    }
    if (link_fd < 0) { /* no client: the bytes go nowhere, as on an unconnected UART */
        bytes_dropped += out_head - out_tail;
        out_tail = out_head;
    }
}

static int uart_input_full(void)
{
    /* The model's FIFO accessors are only declared in its header, not exported. */
    const uart_fifo_t *f = &uart0->input;
    return ((f->write + 1u) & (uart_fifo_fifo_size - 1u)) == f->read;
}

static void link_feed_in(void)
{
    if (link_fd < 0)
        return;
    if (in_pos == in_len) {
        ssize_t r = read(link_fd, in_buf, sizeof in_buf);
        if (r > 0) {
            in_len = (size_t)r;
            in_pos = 0;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR && errno != EIO)) {
            link_close();
            return;
        }
    }
    /* The UART model drops input while the receiver is off (as hardware does): hold bytes
     * the host sent before the firmware enabled RX instead of losing them.  It queues input
     * in a 64-entry FIFO and delivers one byte per character time; never overfill it (it
     * would drop), the rest waits for the next period. */
    if (!avr_regbit_get(avr, uart0->rxen))
        return;
    while (in_pos < in_len && !uart_input_full()) {
        avr_raise_irq(uart_in_irq, in_buf[in_pos++]);
        bytes_to_avr++;
    }
}

static avr_cycle_count_t io_timer(avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a;
    (void)param;
    if (listen_fd >= 0 && link_fd < 0)
        link_accept();
    link_flush_out();
    link_feed_in();
    return when + avr_usec_to_cycles(avr, IO_PERIOD_USEC);
}

static void uart_setup(void)
{
    for (avr_io_t *io = avr->io_port; io; io = io->next)
        if (io->kind && strcmp(io->kind, "uart") == 0 && ((avr_uart_t *)io)->name == '0')
            uart0 = (avr_uart_t *)io;
    if (!uart0) {
        fprintf(stderr, "simavr-harness: %s has no UART0\n", opt.mcu);
        exit(1);
    }
    /* No console echo of the binary stream, and no usleep() when the firmware polls UCSR0A. */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_out_hook,
                            NULL);
    uart_in_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);

    if (opt.tcp_port >= 0) {
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        if (listen_fd < 0)
            die("socket");
        int one = 1;
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.tcp_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("bind UART TCP port");
        if (listen(listen_fd, 1) < 0)
            die("listen");
        socklen_t len = sizeof sa;
        getsockname(listen_fd, (struct sockaddr *)&sa, &len);
        fcntl(listen_fd, F_SETFL, O_NONBLOCK);
        printf("uart0: tcp 127.0.0.1:%u\n", ntohs(sa.sin_port));
    } else {
        char name[256];
        if (openpty(&link_fd, &pty_slave_fd, name, NULL, NULL) < 0)
            die("openpty");
        struct termios tio;
        tcgetattr(pty_slave_fd, &tio);
        cfmakeraw(&tio);
        tcsetattr(pty_slave_fd, TCSANOW, &tio);
        /* Keeping our own slave descriptor open means a host that closes and reopens the
         * pty never makes the master see a hang-up. */
        fcntl(link_fd, F_SETFL, O_NONBLOCK);
        printf("uart0: %s\n", name);
    }
    avr_cycle_timer_register_usec(avr, IO_PERIOD_USEC, io_timer, NULL);
}

/* ---- ELF: sections simavr's loader skips ---- */
/* elf_read_firmware() only takes .text and .data into flash; other loadable sections in
 * flash (the GNU build-id note) are loaded here, as a programmer flashing the ELF would. */
static void load_extra_flash_sections(void)
{
    FILE *f = fopen(opt.elf, "rb");
    if (!f)
        die(opt.elf);
    Elf32_Ehdr eh;
    if (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS32) {
        fclose(f);
        return;
    }
    Elf32_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);
    if (!sh || fseek(f, (long)eh.e_shoff, SEEK_SET) != 0 || fread(sh, sizeof *sh, eh.e_shnum, f) != eh.e_shnum) {
        free(sh);
        fclose(f);
        return;
    }
    char *names = NULL;
    if (eh.e_shstrndx < eh.e_shnum) {
        names = calloc(1, sh[eh.e_shstrndx].sh_size + 1);
        if (names && (fseek(f, (long)sh[eh.e_shstrndx].sh_offset, SEEK_SET) != 0 ||
                      fread(names, 1, sh[eh.e_shstrndx].sh_size, f) != sh[eh.e_shstrndx].sh_size)) {
            free(names);
            names = NULL;
        }
    }
    for (unsigned i = 0; names && i < eh.e_shnum; i++) {
        const char *name = names + sh[i].sh_name;
        if (!(sh[i].sh_flags & SHF_ALLOC) || sh[i].sh_type == SHT_NOBITS || sh[i].sh_addr >= 0x800000u ||
            strcmp(name, ".text") == 0 || strcmp(name, ".data") == 0)
            continue;
        if ((uint64_t)sh[i].sh_addr + sh[i].sh_size > (uint64_t)avr->flashend + 1u) {
            fprintf(stderr, "simavr-harness: section %s does not fit the flash\n", name);
            continue;
        }
        if (fseek(f, (long)sh[i].sh_offset, SEEK_SET) != 0 ||
            fread(avr->flash + sh[i].sh_addr, 1, sh[i].sh_size, f) != sh[i].sh_size)
            fprintf(stderr, "simavr-harness: cannot read section %s\n", name);
    }
    free(names);
    free(sh);
    fclose(f);
}

/* ---- real-time pacing ---- */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t pace_wall0, pace_slept_ns;
static unsigned long pace_sleeps;
static avr_cycle_count_t pace_cycle0;

static void pace_reset(void)
{
    pace_wall0 = now_ns();
    pace_cycle0 = avr->cycle;
}

#define PACE_AHEAD_NS 200000u  /* sleep once simulated time leads the wall clock by this */
#define PACE_MAX_LAG_NS 50000000u /* never owe the wall clock more than this */

static void pace(void)
{
    uint64_t sim = (uint64_t)((double)(avr->cycle - pace_cycle0) * 1e9 / (double)opt.freq);
    uint64_t wall = now_ns() - pace_wall0;
    if (sim > wall + PACE_AHEAD_NS) {
        uint64_t ahead = sim - wall;
        struct timespec ts = {(time_t)(ahead / 1000000000u), (long)(ahead % 1000000000u)};
        nanosleep(&ts, NULL);
        pace_sleeps++;
        pace_slept_ns += ahead;
    } else if (wall > sim + PACE_MAX_LAG_NS) {
        /* The host cannot keep up (or gdb held the CPU): forgive the debt beyond the cap
         * instead of racing to repay it, but keep the cap, so the idle stretches of a busy
         * simulation are not slept off while it is behind overall. */
        pace_wall0 += wall - sim - PACE_MAX_LAG_NS;
    }
}

/* ---- the run loop: simavr's gdb loop, polling the socket every N cycles ---- */
static int run(void)
{
    avr_cycle_count_t next_gdb = 0, next_pace = 0, next_quit_check = 0;
    const avr_cycle_count_t pace_every = avr_usec_to_cycles(avr, 100);
    const avr_cycle_count_t quit_check_every = avr_usec_to_cycles(avr, 1000);
    pace_reset();
    for (;;) {
        /* a stopped core does not advance the cycle count: look every pass then (each one
         * waits in the gdb stub's select) */
        if (avr->cycle >= next_quit_check || avr->state == cpu_Stopped || avr->state == cpu_StepDone) {
            if (quit_requested())
                break;
            next_quit_check = avr->cycle + quit_check_every;
        }
        if (opt.gdb_port >= 0 &&
            (avr->state == cpu_Stopped || avr->state == cpu_StepDone || avr->cycle >= next_gdb)) {
            int was_stopped = avr->state == cpu_Stopped;
            avr_gdb_processor(avr, avr->state == cpu_Stopped);
            next_gdb = avr->cycle + opt.gdb_poll_cycles;
            if (was_stopped && avr->state != cpu_Stopped)
                pace_reset();
        }
        if (avr->state == cpu_Stopped || avr->state == cpu_StepDone)
            continue;

        int step = avr->state == cpu_Step;
        if (step)
            avr->state = cpu_Running;
        avr_flashaddr_t new_pc = avr->pc;
        if (avr->state == cpu_Running)
            new_pc = avr_run_one(avr);
        avr_cycle_count_t sleep = avr_cycle_timer_process(avr);
        avr->pc = new_pc;
        if (avr->state == cpu_Sleeping) {
            if (!avr->sreg[S_I]) {
                fprintf(stderr, "simavr-harness: the firmware went to sleep with interrupts off\n");
                return 2;
            }
            avr->cycle += 1 + sleep; /* the pacer below turns this into wall-clock time */
        }
        if (avr->state == cpu_Running || avr->state == cpu_Sleeping)
            avr_service_interrupts(avr);
        if (step)
            avr->state = cpu_StepDone;
        if (avr->state == cpu_Done || avr->state == cpu_Crashed) {
            fprintf(stderr, "simavr-harness: the firmware stopped (%s)\n",
                    avr->state == cpu_Done ? "done" : "crashed");
            return 2;
        }
        if (opt.realtime && avr->cycle >= next_pace) {
            pace();
            next_pace = avr->cycle + pace_every;
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: simavr-harness [--mcu NAME] [--freq HZ] [--gdb-port N] [--gdb-poll CYCLES] "
                    "[--tcp PORT] [--no-realtime] [--die-with-parent] firmware.elf\n");
    exit(64);
}

int main(int argc, char **argv)
{
    /* Line-buffered even into a pipe: the launcher reads the endpoint lines as they come,
     * in order with the errors on stderr. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--mcu") == 0 && more)
            opt.mcu = argv[++i];
        else if (strcmp(a, "--freq") == 0 && more)
            opt.freq = strtoul(argv[++i], NULL, 0);
        else if (strcmp(a, "--gdb-port") == 0 && more)
            opt.gdb_port = atoi(argv[++i]);
        else if (strcmp(a, "--gdb-poll") == 0 && more)
            opt.gdb_poll_cycles = strtoul(argv[++i], NULL, 0);
        else if (strcmp(a, "--tcp") == 0 && more)
            opt.tcp_port = atoi(argv[++i]);
        else if (strcmp(a, "--no-realtime") == 0)
            opt.realtime = 0;
        else if (strcmp(a, "--die-with-parent") == 0)
            opt.die_with_parent = 1;
        else if (a[0] == '-' || opt.elf)
            usage();
        else
            opt.elf = a;
    }
    if (!opt.elf || opt.freq == 0 || opt.gdb_poll_cycles == 0)
        usage();

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(opt.elf, &fw) != 0) {
        fprintf(stderr, "simavr-harness: cannot load %s\n", opt.elf);
        return 1;
    }
    avr = avr_make_mcu_by_name(opt.mcu);
    if (!avr) {
        fprintf(stderr, "simavr-harness: simavr does not know the MCU %s\n", opt.mcu);
        return 1;
    }
    avr_init(avr);
    avr->frequency = (uint32_t)opt.freq;
    avr_load_firmware(avr, &fw);
    avr->frequency = (uint32_t)opt.freq; /* the ELF's .mmcu section, if any, must not win */
    load_extra_flash_sections();

    install_signals();

    uart_setup();
    if (opt.gdb_port >= 0) {
        avr->gdb_port = opt.gdb_port;
        if (avr_gdb_init(avr) != 0) {
            fprintf(stderr, "simavr-harness: cannot listen for gdb on port %d\n", opt.gdb_port);
            return 1;
        }
        /* simavr's gdb init halts the core until a debugger says continue; a live target
         * should run from the start, like QEMU without -S. */
        avr->state = cpu_Running;
        printf("gdb: 127.0.0.1:%d\n", opt.gdb_port);
    }
    printf("ready\n");
    fflush(stdout);

    int rc = run();
    if (link_fd >= 0)
        link_flush_out();
    fprintf(stderr, "simavr-harness: %llu bytes to host, %llu to AVR, %llu dropped (%llu overrun: the host read too "
                    "slowly), %.3f s simulated, %lu pacing sleeps (%.3f s)\n",
            bytes_to_host, bytes_to_avr, bytes_dropped, bytes_overrun, (double)avr->cycle / (double)opt.freq, pace_sleeps,
            (double)pace_slept_ns / 1e9);
    if (opt.gdb_port >= 0)
        avr_deinit_gdb(avr);
    return rc;
}
