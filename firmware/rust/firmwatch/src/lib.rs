//! The device side of the firmwatch live-watch protocol (`docs/protocol.md`, version 3) for
//! Rust firmware: a `#![no_std]` memory streamer with no dependencies, no allocation and no
//! panic path, byte-for-byte compatible with the C core in `firmware/core`.
//!
//! The host (firmwatch) knows the ELF: it names addresses and sizes, the device copies bytes.
//! The firmware drives a [`Streamer`] exactly like the C core:
//!
//! 1. build it once with a [`Config`] naming the memory the host may touch (the region table)
//!    and the firmware's build id,
//! 2. hand it every received byte ([`Streamer::rx_byte`] from a UART interrupt, or
//!    [`Streamer::receive`] from a poll loop),
//! 3. call [`Streamer::tick`] at `TICK_HZ` (SysTick, a timer interrupt, an embassy ticker),
//! 4. call [`Streamer::poll`] from the main loop (it parses and answers commands) and send what
//!    [`Streamer::tx_pop`] / [`Streamer::tx_byte`] return.
//!
//! ```
//! use firmwatch::{Config, NoPort, Region, Streamer};
//!
//! static mut RAM: [u8; 64] = [0; 64];
//! // SAFETY: the region is RAM: every byte may be read and written at any time.
//! let regions = [Region::read_write(0x2000_0000, 64)];
//! let ram = unsafe { core::ptr::addr_of_mut!(RAM) } as usize;
//! let config = unsafe { Config::new(&regions).with_addr_offset(ram.wrapping_sub(0x2000_0000)) }
//!     .with_build_id(&[0xB1, 0x1D]);
//! let mut fw: Streamer<NoPort> = Streamer::new(config, NoPort);
//! for &b in b"READ 0x20000000 4\n" {
//!     fw.rx_byte(b);
//! }
//! fw.poll();
//! let mut out = [0u8; 64];
//! let n = fw.tx_pop(&mut out);
//! if cfg!(feature = "text") {
//!     assert_eq!(&out[..n], b"DATA|addr=0x20000000|hex=00000000|crc=8FFD\n");
//! }
//! ```
//!
//! # Concurrency
//! Every method takes `&mut self`: the streamer is one piece of state, and the firmware decides
//! how its contexts share it — a `critical_section::Mutex<RefCell<_>>`, an RTIC resource, an
//! embassy blocking mutex. What remains is what the C core does with its port hooks: the
//! copies that must be atomic with respect to *other* interrupts (one stream's regions, a READ,
//! a WRITE) run inside [`Port::critical_section`]. See `README.md` for Cortex-M.
//!
//! # Safety
//! The only `unsafe` code is the volatile byte access to the memory the region table names,
//! and the only `unsafe` API is the promise that makes it sound: [`Config::new`] (the regions
//! are memory this program may access) and [`Config::with_addr_offset`]. Every address the host
//! sends is checked against the table before a single byte is touched.
//!
//! # Limits
//! The const generic parameters of [`Streamer`] are the C core's compile-time limits, with the
//! same defaults and the same compile-time checks (a bad combination fails to build).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "capture")]
mod capture;
#[cfg(feature = "change-only")]
mod change;
mod config;
mod note;
mod out;
mod port;
mod streamer;
#[cfg(feature = "text")]
mod text;
pub mod wire;

pub use config::{Access, Config, Region};
pub use note::gnu_build_id;
pub use port::{NoPort, Port};
#[cfg(feature = "capture")]
pub use capture::MAX_CHANNELS as CAPTURE_MAX_CHANNELS;
pub use streamer::{Status, Streamer};
