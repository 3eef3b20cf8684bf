//! The TX ring and the output writer. Every reply and every frame of samples is generated
//! twice by the same code: once counting (to reserve exactly its size, or to drop it whole),
//! once writing into the reserved space.

use crate::config::Config;
use crate::wire::{crc16, TRAILER};

/// Output bytes waiting to be sent: free-running `u16` indices, bytes in `[tail, head)`.
pub(crate) struct TxRing<const TX: usize> {
    buf: [u8; TX],
    head: u16,
    tail: u16,
    high: u16,
}

impl<const TX: usize> TxRing<TX> {
    pub(crate) const fn new() -> Self {
        TxRing { buf: [0; TX], head: 0, tail: 0, high: 0 }
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.high = 0;
    }

    /// Bytes queued.
    pub(crate) fn used(&self) -> u16 {
        self.head.wrapping_sub(self.tail)
    }

    /// The most ever queued.
    pub(crate) fn high_water(&self) -> u16 {
        self.high
    }

    /// A writer over `n` free bytes, or `None` when they are not free.
    pub(crate) fn reserve(&mut self, n: u16) -> Option<Out<'_, TX>> {
        let used = self.used();
        if usize::from(n) > TX.saturating_sub(usize::from(used)) {
            return None;
        }
        let start = self.head;
        self.head = self.head.wrapping_add(n);
        let now = used.wrapping_add(n);
        if now > self.high {
            self.high = now;
        }
        Some(Out { ring: Some(&mut self.buf), pos: start, start, n: 0 })
    }

    /// Copy queued bytes into `dst`; the number copied.
    pub(crate) fn pop(&mut self, dst: &mut [u8]) -> usize {
        let n = usize::from(self.used()).min(dst.len());
        for (k, d) in dst.iter_mut().take(n).enumerate() {
            *d = self.at(self.tail.wrapping_add(k as u16));
        }
        self.tail = self.tail.wrapping_add(n as u16);
        n
    }

    /// One queued byte.
    pub(crate) fn pop_byte(&mut self) -> Option<u8> {
        if self.head == self.tail {
            return None;
        }
        let b = self.at(self.tail);
        self.tail = self.tail.wrapping_add(1);
        Some(b)
    }

    fn at(&self, i: u16) -> u8 {
        self.buf.get(usize::from(i) & (TX - 1)).copied().unwrap_or(0)
    }
}

/// The output generator's sink: counts bytes, and writes them when it holds the ring.
pub(crate) struct Out<'t, const TX: usize> {
    ring: Option<&'t mut [u8; TX]>,
    pos: u16,
    start: u16,
    n: u16,
}

impl<'t, const TX: usize> Out<'t, TX> {
    /// The counting pass.
    pub(crate) fn counting() -> Self {
        Out { ring: None, pos: 0, start: 0, n: 0 }
    }

    /// Bytes emitted so far.
    pub(crate) fn len(&self) -> u16 {
        self.n
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        if let Some(ring) = self.ring.as_deref_mut() {
            if let Some(slot) = ring.get_mut(usize::from(self.pos) & (TX - 1)) {
                *slot = b;
            }
            self.pos = self.pos.wrapping_add(1);
        }
        self.n = self.n.wrapping_add(1);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.byte(v as u8);
        self.byte((v >> 8) as u8);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.u16(v as u16);
        self.u16((v >> 16) as u16);
    }

    pub(crate) fn bytes(&mut self, s: &[u8]) {
        for &b in s {
            self.byte(b);
        }
    }

    /// `size` bytes of target memory (raw); the caller holds the critical section and has
    /// checked the range.
    pub(crate) fn mem(&mut self, cfg: &Config<'_>, addr: u32, size: u16) {
        if self.ring.is_none() {
            self.n = self.n.wrapping_add(size);
        } else if cfg.words(addr, size) {
            for i in (0..size).step_by(4) {
                self.bytes(&cfg.read_word(addr.wrapping_add(u32::from(i))));
            }
        } else {
            for i in 0..size {
                self.byte(cfg.read(addr.wrapping_add(u32::from(i))));
            }
        }
    }

    /// The last `n` (<= 4) bytes written, in order (zeros when counting).
    #[cfg(feature = "change-only")]
    pub(crate) fn last4(&self, n: u16) -> [u8; 4] {
        let mut b = [0u8; 4];
        if let Some(ring) = self.ring.as_deref() {
            let mut i = self.pos.wrapping_sub(n);
            for d in b.iter_mut().take(usize::from(n)) {
                *d = ring.get(usize::from(i) & (TX - 1)).copied().unwrap_or(0);
                i = i.wrapping_add(1);
            }
        }
        b
    }

    /// The header of a binary frame whose payload is `len` bytes.
    pub(crate) fn frame_header(&mut self, ty: u8, len: u16) {
        self.bytes(&crate::wire::SYNC);
        self.byte(ty);
        self.u16(len);
    }

    /// CRC of the ring bytes written from `from` up to here (0 when counting).
    fn crc_since(&self, from: u16) -> u16 {
        let mut crc = 0xFFFF;
        if let Some(ring) = self.ring.as_deref() {
            let mut i = from;
            while i != self.pos {
                crc = crc16(crc, ring.get(usize::from(i) & (TX - 1)).copied().unwrap_or(0));
                i = i.wrapping_add(1);
            }
        } else {
            crc = 0;
        }
        crc
    }

    /// CRC (of type, len and payload) and trailer of the frame begun at this writer's start.
    pub(crate) fn frame_end(&mut self) {
        let crc = self.crc_since(self.start.wrapping_add(2));
        self.u16(crc);
        self.byte(TRAILER);
    }
}

#[cfg(feature = "text")]
impl<'t, const TX: usize> Out<'t, TX> {
    /// End a text line: `|crc=XXXX` (the CRC of the line's bytes before it) and `\n`; the next
    /// line starts here. Every line the device sends carries it, so a host never acts on a
    /// damaged line.
    pub(crate) fn end_line(&mut self) {
        let crc = self.crc_since(self.start);
        self.bytes(b"|crc=");
        for b in crc.to_be_bytes() {
            self.hex8(b);
        }
        self.byte(b'\n');
        self.start = self.pos;
    }

    pub(crate) fn hex8(&mut self, v: u8) {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        self.byte(DIGITS[usize::from(v >> 4)]);
        self.byte(DIGITS[usize::from(v & 15)]);
    }

    /// `0x` and 8 upper-case hex digits.
    pub(crate) fn hex32(&mut self, v: u32) {
        self.bytes(b"0x");
        for b in v.to_be_bytes() {
            self.hex8(b);
        }
    }

    pub(crate) fn dec(&mut self, mut v: u32) {
        let mut d = [0u8; 10];
        let mut n = 0;
        loop {
            if let Some(slot) = d.get_mut(n) {
                *slot = b'0' + (v % 10) as u8;
            }
            n += 1;
            v /= 10;
            if v == 0 || n == d.len() {
                break;
            }
        }
        while n > 0 {
            n -= 1;
            self.byte(d.get(n).copied().unwrap_or(b'0'));
        }
    }

    /// `size` bytes of target memory as hex; the caller holds the critical section.
    pub(crate) fn hexmem(&mut self, cfg: &Config<'_>, addr: u32, size: u16) {
        if self.ring.is_none() {
            self.n = self.n.wrapping_add(size.wrapping_mul(2));
        } else if cfg.words(addr, size) {
            for i in (0..size).step_by(4) {
                for b in cfg.read_word(addr.wrapping_add(u32::from(i))) {
                    self.hex8(b);
                }
            }
        } else {
            for i in 0..size {
                self.hex8(cfg.read(addr.wrapping_add(u32::from(i))));
            }
        }
    }
}
