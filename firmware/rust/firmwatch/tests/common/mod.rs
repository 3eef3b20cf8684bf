//! Shared by the integration tests: the "vector device" of docs/protocol.md section 14, and
//! helpers to drive a streamer the way the C core's tests do.
#![allow(dead_code)]

pub mod json;

use firmwatch::{Config, Port, Region, Streamer};
use std::cell::Cell;

pub const BASE: u32 = 0x2000_0000;
pub const MEM_SIZE: usize = 0x140;
pub const BUILD_ID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
pub static REGIONS: [Region; 2] = [Region::read_write(BASE, 0x100), Region::read_only(BASE + 0x100, 0x40)];

/// Guard bytes around the device memory: the tests check nothing outside it is touched.
pub const GUARD: usize = 64;

/// A port that checks the streamer's use of critical sections (never nested, always left)
/// and counts TX kicks.
#[derive(Default)]
pub struct Counting {
    pub depth: Cell<u32>,
    pub max: Cell<u32>,
    pub sections: Cell<u64>,
    pub kicks: Cell<u64>,
    /// Calls of the capture timer hook, and the last divider it was given.
    pub timer_calls: Cell<u32>,
    pub timer_last: Cell<u32>,
}

impl Port for Counting {
    fn critical_section<R>(&self, f: impl FnOnce() -> R) -> R {
        self.depth.set(self.depth.get() + 1);
        self.max.set(self.max.get().max(self.depth.get()));
        self.sections.set(self.sections.get() + 1);
        let r = f();
        self.depth.set(self.depth.get() - 1);
        r
    }
    fn tx_ready(&self) {
        self.kicks.set(self.kicks.get() + 1);
    }
    #[cfg(feature = "capture")]
    fn capture_timer(&self, divider: u32) {
        self.timer_calls.set(self.timer_calls.get() + 1);
        self.timer_last.set(divider);
    }
}

/// The vector device's capture buffer and timer when built with the capture module (the
/// `device.options.capture` of the vectors).
pub const CAPTURE_BUFFER: usize = 256;
pub const CAPTURE_TIMER_HZ: u32 = 100_000;
pub const CAPTURE_TIMER_MAX_DIVIDER: u32 = 1000;

/// The optional modules this build has, as the vectors name them.
pub fn options() -> Vec<&'static str> {
    let mut o = Vec::new();
    if cfg!(feature = "capture") {
        o.push("capture");
    }
    if cfg!(feature = "change-only") {
        o.push("change_only");
    }
    o
}

pub type Device = Streamer<'static, Counting>;

/// A fresh vector device over its own memory (leaked: tests are short-lived processes).
pub struct Vdev {
    pub fw: Device,
    pub arena: *mut u8, // GUARD + MEM_SIZE + GUARD bytes
    pub out: Vec<u8>,
}

impl Vdev {
    pub fn new() -> Vdev {
        Vdev::with_word_access(false)
    }

    /// The vector device, moving aligned words as 32-bit accesses when `words`.
    pub fn with_word_access(words: bool) -> Vdev {
        let arena: &'static mut [u8] = Box::leak(vec![0xA5u8; GUARD + MEM_SIZE + GUARD].into_boxed_slice());
        for i in 0..MEM_SIZE {
            arena[GUARD + i] = i as u8;
        }
        let arena = arena.as_mut_ptr();
        let mem = arena as usize + GUARD;
        // SAFETY: the regions map onto the leaked arena, which nothing else uses.
        let cfg = unsafe { Config::new(&REGIONS).with_addr_offset(mem.wrapping_sub(BASE as usize)) }
            .with_build_id(&BUILD_ID)
            .with_word_size(4)
            .with_big_endian(false);
        #[cfg(feature = "word-access")]
        let cfg = cfg.with_word_access(words);
        #[cfg(not(feature = "word-access"))]
        assert!(!words, "word access needs the word-access feature");
        #[allow(unused_mut)]
        let mut fw = Streamer::new(cfg, Counting::default());
        #[cfg(feature = "capture")]
        fw.capture_init(Box::leak(vec![0x5Au8; CAPTURE_BUFFER].into_boxed_slice()), CAPTURE_TIMER_HZ, CAPTURE_TIMER_MAX_DIVIDER);
        Vdev { fw, arena, out: Vec::new() }
    }

    pub fn mem(&self, i: usize) -> u8 {
        // SAFETY: inside the arena
        unsafe { self.arena.add(GUARD + i).read_volatile() }
    }

    pub fn set_mem(&mut self, i: usize, v: u8) {
        // SAFETY: inside the arena
        unsafe { self.arena.add(GUARD + i).write_volatile(v) }
    }

    pub fn guards_intact(&self) -> bool {
        (0..GUARD).all(|i| unsafe { self.arena.add(i).read() == 0xA5 && self.arena.add(GUARD + MEM_SIZE + i).read() == 0xA5 })
    }

    /// Bytes received (then poll), as the C tests feed them: poll every 64 bytes.
    pub fn feed(&mut self, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.fw.rx_byte(b);
            if (i + 1) % 64 == 0 {
                self.fw.poll();
            }
        }
        self.fw.poll();
    }

    pub fn drain(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            let n = self.fw.tx_pop(&mut buf);
            if n == 0 {
                break;
            }
            self.out.extend_from_slice(&buf[..n]);
        }
    }

    pub fn tick(&mut self, n: usize) {
        for _ in 0..n {
            self.fw.tick();
            self.drain();
        }
    }

    /// `n` capture timer interrupts (a build with the capture module).
    pub fn capture_timer(&mut self, n: usize) {
        for _ in 0..n {
            #[cfg(feature = "capture")]
            self.fw.capture_timer();
            #[cfg(not(feature = "capture"))]
            panic!("a capture timer step needs the capture feature");
            #[allow(unreachable_code)]
            self.drain();
        }
    }

    /// Everything sent since the last take.
    pub fn take(&mut self) -> Vec<u8> {
        self.drain();
        std::mem::take(&mut self.out)
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex string");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn crc_ref(data: &[u8]) -> u16 {
    // bitwise, independent of the crate's nibble table
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

pub fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![ty];
    body.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    body.extend_from_slice(payload);
    let mut f = vec![0xAA, 0x55];
    f.extend_from_slice(&body);
    f.extend_from_slice(&crc_ref(&body).to_le_bytes());
    f.push(0x0A);
    f
}

/// Split device output into (type, payload) frames with the protocol's resync rule; also
/// returns the number of corrupt frames.
pub fn parse_frames(p: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let (mut i, mut out, mut corrupt) = (0usize, Vec::new(), 0);
    while i + 1 < p.len() {
        if p[i] != 0xAA || p[i + 1] != 0x55 {
            i += 1;
            continue;
        }
        if i + 5 > p.len() {
            break;
        }
        let len = usize::from(p[i + 3]) | usize::from(p[i + 4]) << 8;
        if i + len + 8 > p.len() {
            break;
        }
        let crc = u16::from(p[i + len + 5]) | u16::from(p[i + len + 6]) << 8;
        if p[i + len + 7] != 0x0A || crc_ref(&p[i + 2..i + len + 5]) != crc {
            corrupt += 1;
            i += 1;
            continue;
        }
        out.push((p[i + 2], p[i + 5..i + 5 + len].to_vec()));
        i += len + 8;
    }
    (out, corrupt)
}

impl Vdev {
    /// One binary command; the single reply frame (type, payload).
    pub fn command(&mut self, ty: u8, payload: &[u8]) -> (u8, Vec<u8>) {
        self.feed(&frame(ty, payload));
        let out = self.take();
        let (frames, corrupt) = parse_frames(&out);
        assert!(frames.len() == 1 && corrupt == 0, "command {ty:#x}: {} frames, {corrupt} corrupt: {}", frames.len(), to_hex(&out));
        frames.into_iter().next().unwrap()
    }

    /// STREAM_START; Ok or the error code.
    pub fn start_stream(&mut self, stream: u8, rate_mhz: u32, regions: &[(u32, u16)]) -> Result<(), u8> {
        let mut p = vec![0x33, stream];
        p.extend_from_slice(&rate_mhz.to_le_bytes());
        p.push(regions.len() as u8);
        for &(a, z) in regions {
            p.extend_from_slice(&a.to_le_bytes());
            p.extend_from_slice(&z.to_le_bytes());
        }
        match self.command(0x04, &p) {
            (0x80, _) => Ok(()),
            (0xEE, r) => Err(r[1]),
            (t, _) => panic!("unexpected reply {t:#x}"),
        }
    }
}

pub fn le(p: &[u8], n: usize) -> u32 {
    p[..n].iter().rev().fold(0, |v, &b| v << 8 | u32::from(b))
}
