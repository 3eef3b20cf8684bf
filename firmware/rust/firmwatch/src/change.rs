//! Change-only streams (feature `change-only`, `docs/protocol.md` section 15): the C core's
//! `fw_change.c`. A filtered stream keeps its schedule; at each instant it is due it is sent
//! only when a filtered region moved by more than its deadband from the value last put into
//! the TX ring, or when `heartbeat` instants passed without a send. A frame not produced costs
//! no `seq`, so the host's gap count stays exact; a sample dropped for want of room leaves the
//! value last sent unchanged, so the change goes out at the next instant.

use crate::out::TxRing;
use crate::port::Port;
use crate::streamer::Core;
use crate::wire::{err, kind, value_key, value_raw};

impl<
        'a,
        const STREAMS: usize,
        const REGIONS: usize,
        const POOL: usize,
        const STREAM_BYTES: usize,
        const PAYLOAD: usize,
        const TX: usize,
        const RX: usize,
        const TICK_HZ: u32,
    > Core<'a, STREAMS, REGIONS, POOL, STREAM_BYTES, PAYLOAD, TX, RX, TICK_HZ>
{
    fn moved(&self, i: usize, size: usize, cur: u32) -> bool {
        let k = self.fkind.get(i).copied().unwrap_or(kind::NONE);
        let last = self.flast.get(i).copied().unwrap_or(0);
        let band = self.fband.get(i).copied().unwrap_or(0);
        if k == kind::NONE || cur == last {
            return false;
        }
        if k == kind::FLOAT {
            let d = f32::from_bits(cur) - f32::from_bits(last);
            let d = if d < 0.0 { -d } else { d };
            return !(d <= f32::from_bits(band)); // a NaN on either side moved
        }
        let (a, b) = (value_key(cur, size, k), value_key(last, size, k));
        (if a > b { a.wrapping_sub(b) } else { b.wrapping_sub(a) }) > band
    }

    /// Clears the filtered streams whose values did not move (and counts their heartbeat).
    pub(crate) fn filter_due<P: Port>(&mut self, port: &P, mut due: u32) -> u32 {
        let mut off = 0usize;
        for s in 0..STREAMS {
            let n = self.nreg(s);
            let bit = 1u32.wrapping_shl(s as u32);
            let hb = self.hbeat.get(s).copied().unwrap_or(0);
            let left = self.hleft.get(s).copied().unwrap_or(0);
            if due & bit != 0 && hb != 0 && left != 0 {
                // the same snapshot rule as the copy
                let send = port.critical_section(|| {
                    (off..off.wrapping_add(n)).any(|i| {
                        let (a, z) = self.pool(i);
                        self.fkind.get(i).copied().unwrap_or(kind::NONE) != kind::NONE
                            && self.moved(i, usize::from(z), self.region_value(a, z))
                    })
                });
                if !send {
                    if let Some(h) = self.hleft.get_mut(s) {
                        *h = left.wrapping_sub(1);
                    }
                    due &= !bit;
                }
            }
            off = off.wrapping_add(n);
        }
        due
    }

    /// A region's current value (1..=4 bytes), as the C core's `fw_value_raw(fw_mem(a), z)`.
    pub(crate) fn region_value(&self, a: u32, z: u16) -> u32 {
        if self.cfg.words(a, z) {
            return u32::from_ne_bytes(self.cfg.read_word(a));
        }
        let mut b = [0u8; 4];
        let mut k = 0u32;
        for d in b.iter_mut().take(usize::from(z)) {
            *d = self.cfg.read(a.wrapping_add(k));
            k = k.wrapping_add(1);
        }
        value_raw(b, usize::from(z))
    }

    /// Whether pool entry `i` is compared (its value then has to be noted when sent).
    pub(crate) fn filtered(&self, i: usize) -> bool {
        self.fkind.get(i).copied().unwrap_or(kind::NONE) != kind::NONE
    }

    /// Pool entry `i`'s value, as a queued sample carried it, becomes the one last sent.
    pub(crate) fn filter_note(&mut self, i: usize, raw: u32) {
        if let Some(l) = self.flast.get_mut(i) {
            *l = raw;
        }
    }

    /// Stream `s` was queued: its heartbeat starts over.
    pub(crate) fn filter_sent(&mut self, s: usize) {
        let hb = self.hbeat.get(s).copied().unwrap_or(0);
        if let (true, Some(h)) = (hb != 0, self.hleft.get_mut(s)) {
            *h = hb.wrapping_sub(1);
        }
    }

    pub(crate) fn stream_filtered(&self, s: usize) -> bool {
        self.hbeat.get(s).copied().unwrap_or(0) != 0
    }

    /// STREAM_FILTER: tag, stream, heartbeat:u16, n, n x (kind, deadband:u32).
    pub(crate) fn filter_command<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, len: usize) -> bool {
        let tag = if len != 0 { self.peek(5) } else { 0 };
        let n = usize::from(self.peek(9));
        let s = usize::from(self.peek(6));
        let heartbeat = self.rx_le(7, 2) as u16;
        let (mut code, mut detail) = (0u8, 0u32);
        if len < 5 || len != 5usize.wrapping_add(n.wrapping_mul(5)) {
            code = err::BAD_LENGTH;
            detail = len as u32;
        } else if s >= STREAMS || self.nreg(s) == 0 {
            code = err::NO_STREAM;
            detail = s as u32;
        } else if n != self.nreg(s) {
            code = err::BAD_LENGTH;
            detail = self.nreg(s) as u32;
        } else {
            let off = self.pool_offset(s);
            for i in 0..n {
                let k = self.peek(10usize.wrapping_add(i.wrapping_mul(5)));
                let z = self.pool(off.wrapping_add(i)).1;
                if k > kind::FLOAT
                    || (k != kind::NONE && z > 4)
                    || (k == kind::FLOAT && z != 4)
                    || ((k == kind::SIGNED || k == kind::UNSIGNED) && z == 3)
                {
                    code = err::BAD_CONDITION;
                    detail = i as u32;
                    break;
                }
            }
        }
        if !self.reply_simple(port, tx, tag, code, detail) {
            return false;
        }
        if code == 0 {
            let off = self.pool_offset(s);
            let mut kinds = [kind::NONE; REGIONS];
            let mut bands = [0u32; REGIONS];
            let mut at = 10usize;
            for (k, b) in kinds.iter_mut().zip(bands.iter_mut()).take(n) {
                *k = if heartbeat != 0 { self.peek(at) } else { kind::NONE };
                *b = self.rx_le(at.wrapping_add(1), 4);
                at = at.wrapping_add(5);
            }
            let (fkind, fband, hbeat, hleft) = (&mut self.fkind, &mut self.fband, &mut self.hbeat, &mut self.hleft);
            port.critical_section(|| {
                let mut j = off;
                for (&k, &b) in kinds.iter().zip(bands.iter()).take(n) {
                    if let (Some(fk), Some(fb)) = (fkind.get_mut(j), fband.get_mut(j)) {
                        *fk = k;
                        *fb = b;
                    }
                    j = j.wrapping_add(1);
                }
                if let (Some(h), Some(l)) = (hbeat.get_mut(s), hleft.get_mut(s)) {
                    *h = heartbeat;
                    *l = 0; // the first instant due sends the current values
                }
            });
        }
        true
    }
}
