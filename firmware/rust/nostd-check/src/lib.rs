//! A C-callable, `#![no_std]` streamer with default limits, for the no-std/no-panic proof and
//! the footprint measurement (see Cargo.toml). The hooks are the C core's port hooks, so the
//! same footprint program measures both cores.
#![no_std]

use core::ptr::{addr_of, addr_of_mut};
use firmwatch::{Config, Port, Region, Streamer};

extern "C" {
    fn fw_port_critical_enter();
    fn fw_port_critical_exit();
    fn fw_port_tx_ready();
    /// Defined nowhere: a reachable panic is a link error.
    fn firmwatch_streamer_has_a_panic_path() -> !;
}

struct Hooks;

impl Port for Hooks {
    fn critical_section<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: the C port's hooks, called in pairs as the C core does
        unsafe { fw_port_critical_enter() };
        let r = f();
        unsafe { fw_port_critical_exit() };
        r
    }
    fn tx_ready(&self) {
        // SAFETY: a C port hook without preconditions
        unsafe { fw_port_tx_ready() }
    }
}

static mut REGIONS: [Region; 1] = [Region::EMPTY];
// `None` is all zero bytes: the streamer lives in .bss, not in .data (which would cost its
// initial image in flash too).
static mut FW: Option<Streamer<'static, Hooks>> = None;

/// The streamer (after `fwrs_init`).
///
/// # Safety
/// Not concurrently with another `fwrs_*` function.
unsafe fn fw() -> Option<&'static mut Streamer<'static, Hooks>> {
    unsafe { (*addr_of_mut!(FW)).as_mut() }
}

/// One read-write region.
///
/// # Safety
/// `[start, start + size)` must be memory this program may read and write at any time, and the
/// `fwrs_*` functions must not run concurrently.
#[no_mangle]
pub unsafe extern "C" fn fwrs_init(start: u32, size: u32) {
    unsafe {
        let regions = &mut *addr_of_mut!(REGIONS);
        regions[0] = Region::read_write(start, size);
        let config = Config::new(&*addr_of!(REGIONS));
        match fw() {
            Some(fw) => fw.init(config),
            None => *addr_of_mut!(FW) = Some(Streamer::new(config, Hooks)),
        }
    }
}

/// # Safety
/// Not concurrently with the other `fwrs_*` functions.
#[no_mangle]
pub unsafe extern "C" fn fwrs_rx_byte(b: u8) {
    if let Some(fw) = unsafe { fw() } {
        fw.rx_byte(b);
    }
}

/// # Safety
/// Not concurrently with the other `fwrs_*` functions.
#[no_mangle]
pub unsafe extern "C" fn fwrs_tick() {
    if let Some(fw) = unsafe { fw() } {
        fw.tick();
    }
}

/// # Safety
/// Not concurrently with the other `fwrs_*` functions.
#[no_mangle]
pub unsafe extern "C" fn fwrs_poll() {
    if let Some(fw) = unsafe { fw() } {
        fw.poll();
    }
}

/// One output byte, or -1.
///
/// # Safety
/// Not concurrently with the other `fwrs_*` functions.
#[no_mangle]
pub unsafe extern "C" fn fwrs_tx_byte() -> i32 {
    unsafe { fw() }.and_then(|fw| fw.tx_byte()).map_or(-1, i32::from)
}

/// Give the capture module a buffer (feature `capture`); no capture timer.
///
/// # Safety
/// `[buf, buf + size)` is memory nothing else uses from now on; not concurrently with the other
/// `fwrs_*` functions.
#[cfg(feature = "capture")]
#[no_mangle]
pub unsafe extern "C" fn fwrs_capture_init(buf: *mut u8, size: usize) {
    if let Some(fw) = unsafe { fw() } {
        fw.capture_init(unsafe { core::slice::from_raw_parts_mut(buf, size) }, 0, 0);
    }
}

/// The capture timer's interrupt (feature `capture`).
///
/// # Safety
/// Not concurrently with the other `fwrs_*` functions.
#[cfg(feature = "capture")]
#[no_mangle]
pub unsafe extern "C" fn fwrs_capture_timer() {
    if let Some(fw) = unsafe { fw() } {
        fw.capture_timer();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: never linked; the program that would call it does not link
    unsafe { firmwatch_streamer_has_a_panic_path() }
}
