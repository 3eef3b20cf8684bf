//! The demo application's variables and behaviour, as in firmware/examples/demo/demo.c, written
//! the way a Rust firmware would declare values it wants to watch: `#[no_mangle]` statics, so
//! they keep their plain names in the symbol table and in the DWARF (inside this crate's
//! namespace), which is how firmwatch finds them.
//!
//! Every access happens with the device lock held (see main.rs): the tick thread holds it for
//! `tick_1khz` as an interrupt would, the main loop for `run_loop`, and the streamer for its
//! reads and writes. The host may write any byte of these (the region is `.data`..`.bss`), so
//! values the demo *reads back* are read as plain integers: a `bool` the host set to 2 is
//! read as a byte, never as an invalid `bool`.
#![allow(non_upper_case_globals)]

use core::ptr::{addr_of, addr_of_mut};

#[repr(C)]
#[derive(Clone, Copy)]
pub enum FsmState {
    Idle = 0,
    Sampling = 1,
    Filtering = 2,
    Transmit = 3,
    Sleep = 4,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Calibration {
    pub offset: i16,
    pub gain_q8: u16, // 256 = 1.0
}

/// The configuration the host steers the demo with (C: `config_t`; bitfields become fields).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DemoConfig {
    pub magic: u32,
    pub calib: Calibration,
    pub channel_map: [u8; 4],
    pub enabled: bool,
    pub mode: u8,
    pub log_level: u8,
    pub alarm_threshold: f32, // degrees Celsius
    pub sample_period_ms: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pair {
    pub a: u32,
    pub b: u32, // always !a
}

/// A Rust enum with data (DWARF variant parts): what the link to a peer is doing. Only the
/// host reads the fields.
#[allow(dead_code)]
#[derive(Clone, Copy)]
pub enum LinkState {
    Down,
    Up { since_ms: u32 },
    Error(u16),
}

pub const CONFIG_MAGIC: u32 = 0xC0FF_EE01;
pub const SINE_STEPS: usize = 64;

// Written by the tick interrupt.
#[no_mangle]
pub static mut timestamp_ms: u64 = 0;
#[no_mangle]
pub static mut event_counter64: u64 = 0; // both halves always equal: a torn read shows
#[no_mangle]
pub static mut uptime_s: f64 = 0.0;
#[no_mangle]
pub static mut g_pair: Pair = Pair { a: 0, b: 0xFFFF_FFFF };

// Written by the main loop.
#[no_mangle]
pub static mut heartbeat_counter: u32 = 0;
#[no_mangle]
pub static mut loop_count: u32 = 0;
#[no_mangle]
pub static mut sensor_temp: u16 = 0; // raw 12-bit ADC reading
#[no_mangle]
pub static mut temp_celsius: f32 = 0.0;
#[no_mangle]
pub static mut accel_x: i16 = 0; // sine, 1 s period
#[no_mangle]
pub static mut accel_y: i16 = 0; // triangle, 2 s period
#[no_mangle]
pub static mut accel_z: i16 = 0; // noise around 1 g (1000)
#[no_mangle]
pub static mut fsm_state: FsmState = FsmState::Idle; // cycles every 250 ms
#[no_mangle]
pub static mut button_state: u8 = 0; // pressed for 300 ms every 3 s
#[no_mangle]
pub static mut link_state: LinkState = LinkState::Down; // up 2 s, error 0.5 s, down 0.5 s

// Written by the host (the debugger) to steer the demo.
#[no_mangle]
pub static mut g_config: DemoConfig = DemoConfig {
    magic: CONFIG_MAGIC,
    calib: Calibration { offset: 0, gain_q8: 256 },
    channel_map: [0, 1, 2, 3],
    enabled: true,
    mode: 2,
    log_level: 3,
    alarm_threshold: 30.0,
    sample_period_ms: 10,
};
#[no_mangle]
pub static mut g_active_config: *mut DemoConfig = core::ptr::null_mut(); // points at g_config

/// Read-only lookup table (`.rodata`): one full sine period, amplitude 1000.
#[no_mangle]
pub static sine_table: [i16; SINE_STEPS] = [
    0, 98, 195, 290, 383, 471, 556, 634, 707, 773, 831, 882, 924, 957, 981, 995, 1000, 995, 981,
    957, 924, 882, 831, 773, 707, 634, 556, 471, 383, 290, 195, 98, 0, -98, -195, -290, -383,
    -471, -556, -634, -707, -773, -831, -882, -924, -957, -981, -995, -1000, -995, -981, -957,
    -924, -882, -831, -773, -707, -634, -556, -471, -383, -290, -195, -98,
];

static mut RNG_STATE: u32 = 0x1234_5678;
static mut LAST_MS: u32 = 0xFFFF_FFFF;

macro_rules! get {
    ($place:expr) => {
        // SAFETY: accessed only under the device lock (module docs)
        unsafe { addr_of!($place).read_volatile() }
    };
}
macro_rules! set {
    ($place:expr, $value:expr) => {{
        let v = $value;
        // SAFETY: accessed only under the device lock (module docs)
        unsafe { addr_of_mut!($place).write_volatile(v) }
    }};
}

pub fn init() {
    // SAFETY: only the address is taken (`unsafe` is needed before Rust 1.82)
    #[allow(unused_unsafe)]
    let config = unsafe { addr_of_mut!(g_config) };
    set!(g_active_config, config);
    set!(fsm_state, FsmState::Idle);
}

/// From the 1 kHz tick.
pub fn tick_1khz() {
    let t = get!(timestamp_ms).wrapping_add(1);
    set!(timestamp_ms, t);
    set!(event_counter64, get!(event_counter64).wrapping_add(0x0000_0001_0000_0001));
    set!(uptime_s, t as f64 / 1000.0);
    set!(g_pair.a, t as u32);
    set!(g_pair.b, !(t as u32));
}

fn xorshift32() -> u32 {
    let mut x = get!(RNG_STATE);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    set!(RNG_STATE, x);
    x
}

/// sin(2*pi*phase/1000) * 1000 for phase in [0, 1000), linear between table entries.
fn sine_milli(phase: u32) -> i16 {
    let pos = phase * SINE_STEPS as u32;
    let (i, frac) = ((pos / 1000) as usize, (pos % 1000) as i32);
    let a = i32::from(sine_table[i % SINE_STEPS]);
    let b = i32::from(sine_table[(i + 1) % SINE_STEPS]);
    (a + (b - a) * frac / 1000) as i16
}

fn triangle(t: u32, period: u32, amplitude: i16) -> i16 {
    let (half, p) = (period / 2, t % period);
    let v = if p < half { p as i32 } else { (period - p) as i32 }; // 0..half..0
    (v * 2 * i32::from(amplitude) / half as i32 - i32::from(amplitude)) as i16
}

/// One main-loop iteration.
pub fn run_loop() {
    set!(loop_count, get!(loop_count).wrapping_add(1));
    let now = get!(timestamp_ms) as u32;
    if now == get!(LAST_MS) {
        return;
    }
    set!(LAST_MS, now);
    if now % 500 == 0 {
        set!(heartbeat_counter, get!(heartbeat_counter).wrapping_add(1));
    }
    let cfg = get!(g_active_config);
    let mut x = i32::from(sine_milli(now % 1000));
    if !cfg.is_null() {
        // SAFETY: g_active_config points at g_config unless the host re-pointed it, and the
        // host may only point it into its writable region; read as plain integers.
        let (enabled, gain, offset) = unsafe {
            (
                (addr_of!((*cfg).enabled) as *const u8).read_volatile() & 1 != 0,
                addr_of!((*cfg).calib.gain_q8).read_volatile(),
                addr_of!((*cfg).calib.offset).read_volatile(),
            )
        };
        if enabled {
            x = x * i32::from(gain) / 256 + i32::from(offset);
        }
    }
    set!(accel_x, x.clamp(-32768, 32767) as i16);
    set!(accel_y, triangle(now, 2000, 1000));
    set!(accel_z, (1000 + (xorshift32() % 101) as i32 - 50) as i16);
    if now % 100 == 0 {
        // a slowly drifting 12-bit reading around 25 degC: 20 s triangle plus a little noise
        let raw = 930 + i32::from(triangle(now, 20_000, 60)) + (xorshift32() % 5) as i32;
        set!(sensor_temp, raw as u16);
        // 10 mV/degC sensor, 3.3 V reference, 0.5 V at 0 degC
        set!(temp_celsius, f32::from(raw as u16) * (3300.0 / 4096.0) / 10.0 - 50.0);
    }
    let state = match (now / 250) % 5 {
        0 => FsmState::Idle,
        1 => FsmState::Sampling,
        2 => FsmState::Filtering,
        3 => FsmState::Transmit,
        _ => FsmState::Sleep,
    };
    set!(fsm_state, state);
    set!(button_state, u8::from(now % 3000 < 300));
    let link = match now % 3000 {
        p if p < 2000 => LinkState::Up { since_ms: now - p },
        p if p < 2500 => LinkState::Error(0x0E00 | (now / 3000 % 16) as u16),
        _ => LinkState::Down,
    };
    set!(link_state, link);
}
