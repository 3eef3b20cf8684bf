//! firmwatch host device in Rust: the demo's variables (demo.rs) served by the `firmwatch`
//! crate over a pseudo-terminal (default) or a TCP socket (`--tcp PORT`), the Rust twin of
//! firmware/ports/host. It models a single-core MCU as the C port does:
//!   - a tick thread runs the demo's 1 kHz tick and `Streamer::tick` on absolute deadlines,
//!     holding the device lock for the whole tick, as an interrupt excludes the main loop;
//!   - the main thread is the main loop: UART input, `Streamer::poll`, the demo loop, output.
//!
//! The streamer and the lock live on the heap, outside the `.data`..`.bss` region the host may
//! write.
//!
//! Prints on stdout, one per line, then serves until SIGINT/SIGTERM:
//!   port: /dev/pts/N            (or socket://127.0.0.1:PORT)
//!   elf: /absolute/path/of/this/executable

mod demo;
mod sys;

use firmwatch::{Config, Port, Region, Streamer};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The port: the device lock is held around every streamer call, so nothing needs masking;
/// output wakes the main loop through a socket pair (an eventfd in the C port).
struct HostPort {
    wake: UnixStream,
}

impl Port for HostPort {
    fn tx_ready(&self) {
        // full means the main loop is already due to wake
        let _ = (&self.wake).write(&[1]);
    }
}

type Device = Streamer<'static, HostPort>;

fn lock(dev: &Mutex<Device>) -> MutexGuard<'_, Device> {
    // a panicking thread ends the process (panic = abort); a poisoned lock cannot be seen
    dev.lock().unwrap_or_else(|e| e.into_inner())
}

extern "C" {
    // linker-provided bounds of the writable data (.data through .bss)
    static mut __data_start: u8;
    static mut _end: u8;
}

/// The region table: `.data`..`.bss` read-write, the sine table read-only, as ELF addresses.
fn regions(bias: usize) -> Vec<Region> {
    let elf = |p: usize| p.wrapping_sub(bias) as u32;
    // SAFETY: only the addresses of the linker symbols are taken (needs `unsafe` before 1.82)
    #[allow(unused_unsafe)]
    let (data, end) = unsafe {
        (core::ptr::addr_of!(__data_start) as usize, core::ptr::addr_of!(_end) as usize)
    };
    let table = demo::sine_table.as_ptr() as usize;
    vec![
        Region::read_write(elf(data), (end - data) as u32),
        Region::read_only(elf(table), core::mem::size_of_val(&demo::sine_table) as u32),
    ]
}

enum Link {
    Pty { master: std::fs::File, _slave: std::fs::File },
    Tcp { listener: TcpListener, client: Option<TcpStream> },
}

fn usage() -> ! {
    eprintln!("usage: firmwatch-host-demo [--tcp PORT]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut tcp_port: Option<u16> = None;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|p| p.parse().ok())) {
            ("--tcp", Some(p)) => tcp_port = Some(p),
            _ => usage(),
        }
    }

    let image = sys::image();
    let regions: &'static [Region] = Box::leak(regions(image.bias).into_boxed_slice());
    let build_id: &'static [u8] = Box::leak(image.build_id.into_boxed_slice());
    // SAFETY: .data..bss is this process's writable data and the sine table its read-only
    // data, mapped for the whole run; the load bias maps ELF addresses onto them.
    let config = unsafe { Config::new(regions).with_addr_offset(image.bias) }.with_build_id(build_id);
    let (wake_rx, wake_tx) = UnixStream::pair().expect("socket pair");
    wake_rx.set_nonblocking(true).expect("non-blocking wake socket");
    wake_tx.set_nonblocking(true).expect("non-blocking wake socket");
    demo::init();
    let dev = Arc::new(Mutex::new(Streamer::new(config, HostPort { wake: wake_tx })));

    let mut link = match tcp_port {
        Some(p) => match TcpListener::bind(("127.0.0.1", p)) {
            Ok(listener) => {
                listener.set_nonblocking(true).expect("non-blocking listener");
                println!("port: socket://127.0.0.1:{}", listener.local_addr().map(|a| a.port()).unwrap_or(p));
                Link::Tcp { listener, client: None }
            }
            Err(e) => {
                eprintln!("error: cannot listen on 127.0.0.1:{p} ({e}); pick another port.");
                std::process::exit(1);
            }
        },
        None => match sys::open_pty() {
            Ok((master, slave, path)) => {
                println!("port: {path}");
                Link::Pty { master, _slave: slave }
            }
            Err(e) => {
                eprintln!("error: cannot create a pseudo-terminal ({e}).");
                std::process::exit(1);
            }
        },
    };
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    println!("elf: {exe}");
    let _ = std::io::stdout().flush();

    let ticker = Arc::clone(&dev);
    std::thread::spawn(move || tick_thread(&ticker));
    main_loop(&dev, &mut link, &wake_rx);
}

/// The tick "interrupt": 1 kHz on absolute deadlines.
fn tick_thread(dev: &Mutex<Device>) {
    let period = Duration::from_millis(1);
    let mut next = Instant::now();
    loop {
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        {
            let mut fw = lock(dev);
            demo::tick_1khz();
            fw.tick();
        }
        // After a long stall (process stopped, machine suspended) restart the schedule
        // instead of replaying hundreds of ticks at once.
        let now = Instant::now();
        if now > next + Duration::from_secs(1) {
            next = now;
        }
    }
}

fn main_loop(dev: &Mutex<Device>, link: &mut Link, wake: &UnixStream) {
    let mut out = [0u8; 4096];
    let (mut out_len, mut out_off) = (0usize, 0usize);
    let mut input = [0u8; 512];
    loop {
        let (rx_room, tx_pending) = {
            let fw = lock(dev);
            (fw.rx_free(), fw.tx_pending())
        };
        let want_out = out_len > out_off || tx_pending > 0;
        let mut fds = [sys::PollFd { fd: wake.as_raw_fd(), events: sys::POLLIN, revents: 0 }; 2];
        // no POLLIN while the RX ring is full: the kernel holds the bytes meanwhile
        let events = (if rx_room > 0 { sys::POLLIN } else { 0 }) | (if want_out { sys::POLLOUT } else { 0 });
        fds[1] = match link {
            Link::Pty { master, .. } => sys::PollFd { fd: master.as_raw_fd(), events, revents: 0 },
            Link::Tcp { client: Some(c), .. } => sys::PollFd { fd: c.as_raw_fd(), events, revents: 0 },
            Link::Tcp { listener, client: None } => sys::PollFd { fd: listener.as_raw_fd(), events: sys::POLLIN, revents: 0 },
        };
        if let Err(e) = sys::poll_fds(&mut fds, 1) {
            eprintln!("error: poll failed ({e}).");
            std::process::exit(1);
        }
        if fds[0].revents != 0 {
            let mut drain = [0u8; 64];
            while let Ok(n) = (&*wake).read(&mut drain) {
                if n == 0 {
                    break;
                }
            }
        }
        let readable = fds[1].revents != 0;
        if let Link::Tcp { listener, client } = link {
            if client.is_none() && readable {
                if let Ok((c, _)) = listener.accept() {
                    let _ = c.set_nodelay(true);
                    let _ = c.set_nonblocking(true);
                    *client = Some(c);
                    out_len = 0;
                    out_off = 0;
                }
            }
        }
        // Take only what the RX ring can hold, parse, repeat: the kernel keeps the rest, so a
        // burst from the host is never lost (a UART would overrun).
        let mut gone = false;
        while readable && !gone {
            let room = lock(dev).rx_free().min(input.len());
            if room == 0 {
                break;
            }
            let r = match link {
                Link::Pty { master, .. } => master.read(&mut input[..room]),
                Link::Tcp { client: Some(c), .. } => c.read(&mut input[..room]),
                Link::Tcp { client: None, .. } => break,
            };
            match r {
                Ok(n) if n > 0 => {
                    let mut fw = lock(dev);
                    fw.receive(&input[..n]);
                    fw.poll();
                }
                Ok(_) => {
                    gone = matches!(link, Link::Tcp { .. }); // TCP client closed
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => break,
                Err(_) => {
                    gone = matches!(link, Link::Tcp { .. });
                    break;
                }
            }
        }
        if gone {
            if let Link::Tcp { client, .. } = link {
                *client = None; // wait for the next one
            }
        }
        {
            let mut fw = lock(dev);
            fw.poll();
            demo::run_loop();
            if let Link::Tcp { client: None, .. } = link {
                // No TCP client: output has nowhere to go; discard it like a UART with no cable.
                while fw.tx_pop(&mut out) > 0 {}
                continue;
            }
            if out_off == out_len {
                out_off = 0;
                out_len = fw.tx_pop(&mut out);
            }
        }
        while out_off < out_len {
            let w = match link {
                Link::Pty { master, .. } => master.write(&out[out_off..out_len]),
                Link::Tcp { client: Some(c), .. } => c.write(&out[out_off..out_len]),
                Link::Tcp { client: None, .. } => break,
            };
            match w {
                Ok(n) if n > 0 => out_off += n,
                _ => break, // kernel buffer full (no reader yet): keep the rest for later
            }
            if out_off == out_len {
                out_off = 0;
                out_len = lock(dev).tx_pop(&mut out);
            }
        }
    }
}
