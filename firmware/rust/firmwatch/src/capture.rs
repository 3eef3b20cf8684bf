//! Triggered capture (feature `capture`, `docs/protocol.md` section 16): the C core's
//! `fw_capture.c`, message for message and byte for byte.
//!
//! An armed capture writes every sample (its channels copied in one critical section) into a
//! ring of `samples` slots and tests the trigger channel as each sample lands; once at least
//! `pre` samples precede it, the condition may fire, and the capture takes the samples after the
//! trigger that complete the ring and stops. Nothing more is written until the host releases it,
//! so an upload never reads a sample that changes under it. The upload goes out as CAPTURE_DATA
//! frames from [`crate::Streamer::poll`], only while the TX ring keeps a quarter of itself free
//! for samples and replies.

use crate::out::TxRing;
use crate::port::Port;
use crate::streamer::Core;
use crate::wire::{err, kind, msg, value_key, value_raw};

/// Channels one capture samples together (the C core's `FW_CAPTURE_MAX_CHANNELS`).
pub const MAX_CHANNELS: usize = 8;

const IDLE: u8 = 0;
const ARMED: u8 = 1;
const TRIGGERED: u8 = 2;
const DONE: u8 = 3;
const OVERRUN: u8 = 4;
/// Late capture timer interrupts with no main loop run between them that stop a capture
/// (`FW_CAPTURE_OVERRUN`).
const OVERRUN_RUN: u8 = 16;
/// A timer capture stops when the main loop has not run for 1/STARVE_PER_S s
/// (`FW_CAPTURE_STARVE_PER_S`): the sampling interrupt takes all the CPU, even when it is never
/// late enough to count a slip, and a capture waiting for a trigger would hold the device forever.
const STARVE_PER_S: u32 = 4;
const SRC_TICK: u8 = 0;
const SRC_TIMER: u8 = 1;
const OP_LAST: u8 = 9;
const ARM_HEAD: usize = 27;

/// The capture module's state (part of the streamer's core).
pub(crate) struct Capture<'a> {
    buf: Option<&'a mut [u8]>,
    timer_hz: u32,
    timer_max: u32,
    // the configuration of CAPTURE_ARM
    caddr: [u32; MAX_CHANNELS],
    csize: [u8; MAX_CHANNELS],
    nch: u8,
    mode: u8,
    source: u8,
    trig_ch: u8,
    trig_op: u8,
    trig_kind: u8,
    trig_off: u8,
    trig_size: u8,
    sample_bytes: u16,
    divider: u32,
    samples: u32,
    pre: u32,
    level: u32,
    mask: u32,
    level_key: u32,
    // the run
    state: u8,
    force: u8,
    have_prev: u8,
    id: u16,
    div_left: u32,
    wpos: u32,
    count: u32,
    trig_slot: u32,
    held_pre: u32,
    post_left: u32,
    trig_ticks: u32,
    slips: u32,
    prev_key: u32,
    since_slip: u32, // samples taken since the last slip
    late_run: u8,    // slips since the main loop last ran
    pub(crate) polls: u8, // poll() runs (modulo 256): is the main loop starving?
    polls_at: u8,         // polls when the run of slips began
    starve_polls: u8,     // polls at the last sample
    starve_limit: u32,    // samples without a poll that stop a timer capture (0: never)
    starve_left: u32,
    // the upload in progress
    up_off: u32,
    up_end: u32,
}

impl<'a> Capture<'a> {
    pub(crate) const fn new() -> Self {
        Capture {
            buf: None,
            timer_hz: 0,
            timer_max: 0,
            caddr: [0; MAX_CHANNELS],
            csize: [0; MAX_CHANNELS],
            nch: 0,
            mode: 0,
            source: 0,
            trig_ch: 0,
            trig_op: 0,
            trig_kind: 0,
            trig_off: 0,
            trig_size: 0,
            sample_bytes: 0,
            divider: 0,
            samples: 0,
            pre: 0,
            level: 0,
            mask: 0,
            level_key: 0,
            state: IDLE,
            force: 0,
            have_prev: 0,
            id: 0,
            div_left: 0,
            wpos: 0,
            count: 0,
            trig_slot: 0,
            held_pre: 0,
            post_left: 0,
            trig_ticks: 0,
            slips: 0,
            prev_key: 0,
            since_slip: 0,
            late_run: 0,
            polls: 0,
            polls_at: 0,
            starve_polls: 0,
            starve_limit: 0,
            starve_left: 0,
            up_off: 0,
            up_end: 0,
        }
    }

    pub(crate) fn init(&mut self, buf: Option<&'a mut [u8]>, timer_hz: u32, timer_max_divider: u32) {
        *self = Capture::new();
        self.buf = buf;
        self.timer_hz = timer_hz;
        self.timer_max = timer_max_divider;
    }

    fn size(&self) -> u32 {
        self.buf.as_deref().map_or(0, |b| u32::try_from(b.len()).unwrap_or(u32::MAX))
    }

    fn running(&self) -> bool {
        self.state == ARMED || self.state == TRIGGERED
    }

    /// The port's timer drives this capture.
    fn on_timer(&self) -> bool {
        self.source == SRC_TIMER && self.timer_hz != 0
    }

    fn fires(&self, raw: u32, key: u32) -> bool {
        let (l, p) = (self.level_key, self.prev_key);
        let up = self.have_prev != 0 && p < l && key >= l;
        let down = self.have_prev != 0 && p > l && key <= l;
        match self.trig_op {
            1 => up,
            2 => down,
            3 => up || down,
            4 => key > l,
            5 => key < l,
            6 => key == l,
            7 => key != l,
            8 => self.have_prev != 0 && key != p,
            9 => (raw ^ self.level) & self.mask == 0,
            _ => false, // none: only a forced trigger
        }
    }

    /// The first slot of the held capture (oldest sample).
    fn first_slot(&self) -> u32 {
        let s = self.trig_slot.wrapping_add(self.samples).wrapping_sub(self.held_pre);
        if s >= self.samples {
            s.wrapping_sub(self.samples)
        } else {
            s
        }
    }
}

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
    const CHUNK: usize = PAYLOAD - 6; // data bytes per CAPTURE_DATA frame

    fn cap_done<P: Port>(&mut self, port: &P) {
        let c = &mut self.cap;
        c.state = DONE;
        c.id = c.id.wrapping_add(1);
        if c.on_timer() {
            port.capture_timer(0);
        }
    }

    /// One sample (interrupt context: the tick or the port's capture timer).
    pub(crate) fn cap_sample<P: Port>(&mut self, port: &P) {
        let st = self.cap.state;
        if st != ARMED && st != TRIGGERED {
            return;
        }
        if self.cap.starve_limit != 0 {
            let c = &mut self.cap;
            if c.polls != c.starve_polls {
                c.starve_polls = c.polls;
                c.starve_left = c.starve_limit;
            } else {
                c.starve_left = c.starve_left.saturating_sub(1);
                if c.starve_left == 0 {
                    // the main loop (and with it the link) has not run for a quarter of a second:
                    // the CPU cannot sample this fast; stop, and say why
                    c.state = OVERRUN;
                    if c.on_timer() {
                        port.capture_timer(0);
                    }
                    return;
                }
            }
        }
        let slot = self.cap.wpos;
        let sb = usize::from(self.cap.sample_bytes);
        let start = (slot as usize).wrapping_mul(sb);
        let ticks = self.ticks;
        let (raw, key) = {
            let Core { cap, cfg, .. } = self;
            let (caddr, csize, nch) = (&cap.caddr, &cap.csize, usize::from(cap.nch));
            let buf = match cap.buf.as_deref_mut() {
                Some(b) => b,
                None => return,
            };
            // the channels of one sample form one coherent snapshot
            port.critical_section(|| {
                let mut at = start;
                for (&a, &z) in caddr.iter().zip(csize.iter()).take(nch) {
                    let z = u16::from(z);
                    if cfg.words(a, z) {
                        for k in (0..z).step_by(4) {
                            for b in cfg.read_word(a.wrapping_add(u32::from(k))) {
                                if let Some(d) = buf.get_mut(at) {
                                    *d = b;
                                }
                                at = at.wrapping_add(1);
                            }
                        }
                    } else {
                        for k in 0..z {
                            if let Some(d) = buf.get_mut(at) {
                                *d = cfg.read(a.wrapping_add(u32::from(k)));
                            }
                            at = at.wrapping_add(1);
                        }
                    }
                }
            });
            let mut b = [0u8; 4];
            let t = start.wrapping_add(usize::from(cap.trig_off));
            // (index loops, not enumerate(): its counter would bring an overflow panic path)
            let mut k = 0usize;
            while k < usize::from(cap.trig_size) && k < 4 {
                if let Some(d) = b.get_mut(k) {
                    *d = buf.get(t.wrapping_add(k)).copied().unwrap_or(0);
                }
                k = k.wrapping_add(1);
            }
            let raw = value_raw(b, usize::from(cap.trig_size));
            (raw, value_key(raw, usize::from(cap.trig_size), cap.trig_kind))
        };
        let c = &mut self.cap;
        c.wpos = if slot.wrapping_add(1) == c.samples { 0 } else { slot.wrapping_add(1) };
        c.since_slip = c.since_slip.saturating_add(1);
        if st == TRIGGERED {
            c.post_left = c.post_left.wrapping_sub(1);
            if c.post_left == 0 {
                self.cap_done(port);
            }
            return;
        }
        if c.count < c.samples {
            c.count = c.count.wrapping_add(1);
        }
        if c.force != 0 || (c.count > c.pre && c.fires(raw, key)) {
            let before = c.count.wrapping_sub(1);
            c.held_pre = before.min(c.pre);
            c.trig_slot = slot;
            c.trig_ticks = ticks;
            c.force = 0;
            c.post_left = c.samples.wrapping_sub(1).wrapping_sub(c.held_pre);
            c.state = TRIGGERED;
            c.prev_key = key;
            c.have_prev = 1;
            if c.post_left == 0 {
                self.cap_done(port);
            }
            return;
        }
        c.prev_key = key;
        c.have_prev = 1;
    }

    /// From the tick: a tick-driven capture samples every `divider` ticks.
    pub(crate) fn cap_tick<P: Port>(&mut self, port: &P) {
        let c = &mut self.cap;
        if c.source == SRC_TICK && c.running() {
            c.div_left = c.div_left.wrapping_sub(1);
            if c.div_left == 0 {
                c.div_left = c.divider;
                self.cap_sample(port);
            }
        }
    }

    pub(crate) fn cap_timer<P: Port>(&mut self, port: &P) {
        if self.cap.source == SRC_TIMER {
            self.cap_sample(port);
        }
    }

    /// Slips count only while they may touch samples the capture keeps: while waiting for the
    /// trigger, those older than the last `pre` samples have left the ring.
    pub(crate) fn cap_slip<P: Port>(&mut self, port: &P, n: u32) {
        let c = &mut self.cap;
        if c.source == SRC_TIMER && c.running() {
            if c.state == ARMED && c.since_slip > c.pre {
                c.slips = 0;
            }
            c.slips = c.slips.wrapping_add(n);
            c.since_slip = 0;
            // late runs count the slips since the main loop last ran: an interrupt a little
            // longer than its period slips only every few samples, yet leaves the main loop nothing
            if c.polls != c.polls_at {
                c.late_run = 0; // the main loop ran meanwhile: late, but the CPU keeps up
                c.polls_at = c.polls;
            }
            c.late_run = c.late_run.saturating_add(1);
            if c.late_run >= OVERRUN_RUN {
                // the interrupts come late again and again and the main loop (and with it the
                // link) does not run: the CPU cannot sample this fast; stop, and say why
                c.state = OVERRUN;
                if c.on_timer() {
                    port.capture_timer(0);
                }
            }
        }
    }

    // ---- commands (main context)

    /// Stop sampling (and the port's timer); the caller sets the next state.
    fn cap_halt<P: Port>(&mut self, port: &P) {
        let c = &mut self.cap;
        let was = c.running();
        c.state = IDLE;
        c.up_off = 0;
        c.up_end = 0;
        if was && c.on_timer() {
            port.capture_timer(0);
        }
    }

    fn cap_arm<P: Port>(&mut self, port: &P) {
        let c = &mut self.cap;
        c.wpos = 0;
        c.count = 0;
        c.slips = 0;
        c.held_pre = 0;
        c.trig_ticks = 0;
        c.since_slip = u32::MAX;
        c.late_run = 0;
        c.polls_at = c.polls;
        c.starve_polls = c.polls;
        c.starve_limit = if c.on_timer() { c.timer_hz.checked_div(c.divider).unwrap_or(0) / STARVE_PER_S + 2 } else { 0 };
        c.starve_left = c.starve_limit;
        c.force = 0;
        c.have_prev = 0;
        c.div_left = 1; // the first tick after arming takes the first sample
        c.state = ARMED;
        if c.on_timer() {
            port.capture_timer(c.divider);
        }
    }

    fn arm_check(&self, len: usize) -> (u8, u32) {
        let n = usize::from(self.peek(31));
        let (mode, source, ch, op, k) = (self.peek(6), self.peek(7), self.peek(20), self.peek(21), self.peek(22));
        let (divider, samples, pre) = (self.rx_le(8, 4), self.rx_le(12, 4), self.rx_le(16, 4));
        if len < ARM_HEAD || len != ARM_HEAD.wrapping_add(n.wrapping_mul(6)) {
            return (err::BAD_LENGTH, len as u32);
        }
        if n == 0 {
            return (err::BAD_LENGTH, 0);
        }
        if n > MAX_CHANNELS {
            return (err::TOO_MANY_REGIONS, MAX_CHANNELS as u32);
        }
        if mode > 1 || source > SRC_TIMER {
            return (err::BAD_CONDITION, if mode > 1 { 0 } else { 1 });
        }
        let clock = if source == SRC_TIMER { self.cap.timer_hz } else { TICK_HZ };
        if divider == 0 || clock == 0 || (source == SRC_TIMER && self.cap.timer_max != 0 && divider > self.cap.timer_max) {
            return (err::BAD_RATE, clock);
        }
        if samples == 0 || pre >= samples {
            return (err::BAD_LENGTH, samples);
        }
        if usize::from(ch) >= n || op > OP_LAST || !(kind::ANY..=kind::FLOAT).contains(&k) {
            return (err::BAD_CONDITION, if usize::from(ch) >= n { 2 } else if op > OP_LAST { 3 } else { 4 });
        }
        let (mut total, mut tsize) = (0u32, 0u32);
        for i in 0..n {
            let at = 5usize.wrapping_add(ARM_HEAD).wrapping_add(i.wrapping_mul(6));
            let a = self.rx_le(at, 4);
            let z = self.rx_le(at.wrapping_add(4), 2);
            total = total.wrapping_add(z);
            if i == usize::from(ch) {
                tsize = z;
            }
            if z == 0 {
                return (err::BAD_LENGTH, 0);
            }
            if total as usize > STREAM_BYTES || z > 255 {
                return (err::STREAM_TOO_BIG, STREAM_BYTES as u32);
            }
            if let Err(bad) = self.cfg.check_range(a, z, crate::config::Access::READ) {
                return (err::NOT_READABLE, bad);
            }
        }
        if op != 0 && ((tsize != 1 && tsize != 2 && tsize != 4) || (k == kind::FLOAT && tsize != 4)) {
            return (err::BAD_CONDITION, 2);
        }
        let fit = self.cap.size().checked_div(total).unwrap_or(0);
        if samples > fit {
            return (err::CAPTURE_TOO_BIG, fit);
        }
        (0, 0)
    }

    fn arm_apply<P: Port>(&mut self, port: &P) {
        self.cap_halt(port);
        let mut caddr = [0u32; MAX_CHANNELS];
        let mut csize = [0u8; MAX_CHANNELS];
        let n = usize::from(self.peek(31)).min(MAX_CHANNELS);
        let trig_ch = self.peek(20);
        let (mut off, mut trig_off, mut trig_size) = (0u16, 0u8, 0u8);
        let mut i = 0usize;
        for (a, z) in caddr.iter_mut().zip(csize.iter_mut()).take(n) {
            let at = 5usize.wrapping_add(ARM_HEAD).wrapping_add(i.wrapping_mul(6));
            *a = self.rx_le(at, 4);
            *z = self.rx_le(at.wrapping_add(4), 2) as u8;
            if i == usize::from(trig_ch) {
                trig_off = off as u8;
                trig_size = *z;
            }
            off = off.wrapping_add(u16::from(*z));
            i = i.wrapping_add(1);
        }
        let (mode, source, divider) = (self.peek(6), self.peek(7), self.rx_le(8, 4));
        let (samples, pre) = (self.rx_le(12, 4), self.rx_le(16, 4));
        let (op, k, level, mask) = (self.peek(21), self.peek(22), self.rx_le(23, 4), self.rx_le(27, 4));
        let c = &mut self.cap;
        c.mode = mode;
        c.source = source;
        c.divider = divider;
        c.samples = samples;
        c.pre = pre;
        c.trig_ch = trig_ch;
        c.trig_op = op;
        c.trig_kind = k;
        c.level = level;
        c.mask = mask;
        c.nch = n as u8;
        c.caddr = caddr;
        c.csize = csize;
        c.trig_off = trig_off;
        c.trig_size = trig_size;
        c.sample_bytes = off;
        c.level_key = value_key(level, 4, k);
        self.cap_arm(port);
    }

    fn status_reply<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, tag: u8) -> bool {
        let c = &self.cap;
        let len = 65u16.wrapping_add(6u16.wrapping_mul(u16::from(c.nch)));
        let mut o = match tx.reserve(len.wrapping_add(8)) {
            Some(o) => o,
            None => {
                self.reply_waiting = 1;
                return false;
            }
        };
        o.frame_header(msg::CAPTURE_STATUS_DATA, len);
        o.byte(tag);
        o.byte(c.state);
        o.u16(c.id);
        o.u32(c.size());
        o.byte(MAX_CHANNELS as u8);
        o.u32(c.timer_hz);
        o.u32(c.timer_max);
        o.byte(c.mode);
        o.byte(c.source);
        o.u32(c.divider);
        o.u32(c.samples);
        o.u32(c.pre);
        o.u32(c.count);
        o.u32(c.held_pre);
        o.u32(c.trig_ticks);
        o.u32(c.slips);
        o.u16(c.sample_bytes);
        o.byte(c.trig_ch);
        o.byte(c.trig_op);
        o.byte(c.trig_kind);
        o.u32(c.level);
        o.u32(c.mask);
        o.u32(self.ticks);
        o.byte(c.nch);
        for (&a, &z) in c.caddr.iter().zip(c.csize.iter()).take(usize::from(c.nch)) {
            o.u32(a);
            o.u16(u16::from(z));
        }
        o.frame_end();
        port.tx_ready();
        self.reply_waiting = 0;
        self.text_out = 0;
        true
    }

    /// CAPTURE_ARM, CAPTURE_CONTROL, CAPTURE_STATUS, CAPTURE_READ (payload at RX offset 5).
    pub(crate) fn capture_command<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, ty: u8, len: usize) -> bool {
        let tag = if len != 0 { self.peek(5) } else { 0 };
        let (code, detail) = match ty {
            msg::CAPTURE_ARM => self.arm_check(len),
            msg::CAPTURE_CONTROL => {
                let action = self.peek(6);
                if len != 4 {
                    (err::BAD_LENGTH, len as u32)
                } else if action > 2 {
                    (err::BAD_MODE, u32::from(action))
                } else if action == 1 && !self.cap.running() {
                    (err::NO_CAPTURE, u32::from(self.cap.state))
                } else {
                    (0, 0)
                }
            }
            msg::CAPTURE_STATUS => {
                if len == 1 {
                    return self.status_reply(port, tx, tag);
                }
                (err::BAD_LENGTH, len as u32)
            }
            _ => {
                // CAPTURE_READ: tag, id:u16, offset:u32, length:u32
                let (off, n) = (self.rx_le(8, 4), self.rx_le(12, 4));
                let total = self.cap.samples.wrapping_mul(u32::from(self.cap.sample_bytes));
                if len != 11 {
                    (err::BAD_LENGTH, len as u32)
                } else if self.cap.state != DONE || u32::from(self.cap.id) != self.rx_le(6, 2) {
                    (err::NO_CAPTURE, u32::from(self.cap.id))
                } else if n == 0 || off > total || n > total.wrapping_sub(off) {
                    (err::BAD_LENGTH, total)
                } else {
                    (0, 0)
                }
            }
        };
        if !self.reply_simple(port, tx, tag, code, detail) {
            return false;
        }
        if code != 0 {
            return true;
        }
        match ty {
            msg::CAPTURE_ARM => self.arm_apply(port),
            msg::CAPTURE_CONTROL => match self.peek(6) {
                0 => self.cap_halt(port),
                1 => self.cap.force = 1, // the next sample is the trigger
                _ => {
                    let id = self.rx_le(7, 2) as u16;
                    // a capture no longer held (a retried release): nothing more to do
                    if self.cap.state == DONE && self.cap.id == id {
                        self.cap_halt(port);
                        if self.cap.mode == 1 {
                            self.cap_arm(port); // normal mode: the next capture
                        }
                    }
                }
            },
            msg::CAPTURE_READ => {
                let off = self.rx_le(8, 4);
                self.cap.up_off = off;
                self.cap.up_end = off.wrapping_add(self.rx_le(12, 4));
            }
            _ => {}
        }
        true
    }

    /// The upload: CAPTURE_DATA frames while TX keeps its reserve (main context).
    pub(crate) fn capture_pump<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>) {
        while self.cap.up_off < self.cap.up_end && self.reply_waiting == 0 {
            let c = &mut self.cap;
            let n = (c.up_end.wrapping_sub(c.up_off) as usize).min(Self::CHUNK);
            let free = TX.saturating_sub(usize::from(tx.used()));
            if free < n.wrapping_add(8).wrapping_add(TX / 4) {
                return;
            }
            let mut o = match tx.reserve((n as u16).wrapping_add(8 + 6)) {
                Some(o) => o,
                None => return,
            };
            o.frame_header(msg::CAPTURE_DATA, (n as u16).wrapping_add(6));
            o.u16(c.id);
            o.u32(c.up_off);
            // logical order: the oldest held sample first
            let sb = u32::from(c.sample_bytes);
            let mut slot = c.first_slot().wrapping_add(c.up_off.checked_div(sb).unwrap_or(0));
            while slot >= c.samples && c.samples != 0 {
                slot = slot.wrapping_sub(c.samples);
            }
            let mut k = c.up_off.checked_rem(sb).unwrap_or(0);
            c.up_off = c.up_off.wrapping_add(n as u32);
            let buf = c.buf.as_deref().unwrap_or(&[]);
            for _ in 0..n {
                let at = (slot as usize).wrapping_mul(sb as usize).wrapping_add(k as usize);
                o.byte(buf.get(at).copied().unwrap_or(0));
                k = k.wrapping_add(1);
                if k == sb {
                    k = 0;
                    slot = slot.wrapping_add(1);
                    if slot == c.samples {
                        slot = 0;
                    }
                }
            }
            o.frame_end();
            port.tx_ready();
        }
    }
}
