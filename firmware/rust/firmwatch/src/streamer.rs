//! The streamer: input parser, commands, the stream table and scheduler, SAMPLES frames.
//! It follows the C core (`firmware/core`) function by function, so that both answer every
//! input with the same bytes (the shared vectors check it).
//!
//! A frame's bytes stay in the RX ring until the frame is resolved, so when a frame turns out
//! bad the parser drops only its first byte and rescans the rest: resynchronisation needs no
//! second buffer, and a good frame hidden inside garbage is still found.

use crate::config::{Access, Config};
use crate::out::{Out, TxRing};
use crate::port::Port;
use crate::wire::{err, flag, msg, PROTO_VERSION};

pub(crate) const RX_IDLE: u8 = 0;
#[cfg(feature = "text")]
pub(crate) const RX_LINE: u8 = 1;
pub(crate) const RX_SKIP: u8 = 2;

/// A text-only verb (HELP) in the command's type field.
#[cfg(feature = "text")]
pub(crate) const T_HELP: u8 = 0x7E;

/// The counters STATUS reports (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// SAMPLES frames produced but not sent (TX full, or a reply waiting for space).
    pub dropped: u32,
    /// Received bytes lost because the RX ring was full.
    pub overflows: u32,
    /// Discarded input: bad frames and bad lines.
    pub rx_errors: u32,
    /// Ticks since the streamer was created or re-initialised.
    pub ticks: u32,
    /// The next SAMPLES sequence number: every frame before it was sent or counted dropped.
    pub seq: u16,
    /// TX bytes queued now.
    pub tx_used: u16,
    /// The most TX bytes ever queued.
    pub tx_high_water: u16,
    /// Streams running.
    pub streams: u8,
    /// Samples go out as text lines (else binary frames, the state after reset).
    pub text_output: bool,
}

/// A parsed command (binary frame or text line), validated by `check` and answered by `exec`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cmd {
    pub(crate) text: bool,
    pub(crate) ty: u8,
    pub(crate) tag: u8,
    pub(crate) err: u8,
    /// Stream id or mode.
    pub(crate) arg: u8,
    /// STREAM_START: region count.
    pub(crate) n: u8,
    /// RX offset (from the tail) of the data or the regions.
    pub(crate) off: u8,
    /// READ/WRITE bytes; text STREAM region size.
    pub(crate) size: u16,
    /// READ/WRITE address; text STREAM region address.
    pub(crate) addr: u32,
    /// STREAM_START, milli-hertz.
    pub(crate) rate: u32,
    pub(crate) detail: u32,
    /// STATUS: one snapshot for both output passes, in wire order: dropped, overflows,
    /// rx_errors, tx_used, tx_size, tx_high_water, ticks, seq, nstreams.
    pub(crate) sv: [u32; 9],
}

/// The firmwatch streamer.
///
/// Const parameters (the C core's `FW_*` limits, same defaults and checks):
/// * `STREAMS` (`FW_MAX_STREAMS`, 1..=32): streams defined at once;
/// * `REGIONS` (`FW_MAX_REGIONS`): regions per stream;
/// * `POOL` (`FW_MAX_TOTAL_REGIONS`, <= 255): regions of all streams together;
/// * `STREAM_BYTES` (`FW_MAX_STREAM_BYTES`): bytes of one stream's sample;
/// * `PAYLOAD` (`FW_MAX_PAYLOAD`, 64..=246): largest command payload; bounds READ, WRITE and
///   SAMPLES too;
/// * `TX` (`FW_TX_SIZE`): TX ring bytes, a power of two from 64 to 32768, >= `PAYLOAD + 8`;
/// * `RX` (`FW_RX_SIZE`, `PAYLOAD + 9`..=255): RX ring bytes, one whole command frame;
/// * `TICK_HZ` (`FW_TICK_HZ`): how often the firmware calls [`Streamer::tick`].
///
/// ```
/// // 4 streams, 2 regions each, 8 in all, 32 bytes a sample, 64-byte payloads,
/// // a 256-byte TX ring, a 73-byte RX ring, ticked at 100 Hz:
/// type Small<'a> = firmwatch::Streamer<'a, firmwatch::NoPort, 4, 2, 8, 32, 64, 256, 73, 100>;
/// let fw = Small::new(firmwatch::Config::empty(), firmwatch::NoPort);
/// assert_eq!(fw.status().streams, 0);
/// ```
pub struct Streamer<
    'a,
    P: Port,
    const STREAMS: usize = 16,
    const REGIONS: usize = 8,
    const POOL: usize = 24,
    const STREAM_BYTES: usize = 64,
    const PAYLOAD: usize = 128,
    const TX: usize = 1024,
    const RX: usize = 137,
    const TICK_HZ: u32 = 1000,
> {
    port: P,
    tx: TxRing<TX>,
    pub(crate) core: Core<'a, STREAMS, REGIONS, POOL, STREAM_BYTES, PAYLOAD, TX, RX, TICK_HZ>,
}

/// Everything but the TX ring and the port, so that output can be generated from `&Core`
/// into `&mut TxRing`.
pub(crate) struct Core<
    'a,
    const STREAMS: usize,
    const REGIONS: usize,
    const POOL: usize,
    const STREAM_BYTES: usize,
    const PAYLOAD: usize,
    const TX: usize,
    const RX: usize,
    const TICK_HZ: u32,
> {
    pub(crate) cfg: Config<'a>,
    // streams: a stream runs when nreg != 0 (and then rate != 0)
    rate: [u32; STREAMS], // milli-hertz
    acc: [u32; STREAMS],  // phase accumulator, < PERIOD
    sdropped: [u32; STREAMS],
    nreg: [u8; STREAMS],
    // region pool ordered by stream id: stream s owns nreg[s] entries after those of 0..s
    raddr: [u32; POOL],
    rsize: [u8; POOL], // <= STREAM_BYTES < PAYLOAD <= 246
    pub(crate) ticks: u32,
    dropped: u32,
    overflows: u32,
    pub(crate) rx_errors: u32,
    seq: u16,
    // Flags are bytes (0/1), not `bool`: then the only niche of the whole struct is a null
    // reference, and `None::<Streamer>` is all zero bytes, so the usual
    // `static FW: Mutex<RefCell<Option<Streamer>>>` lands in .bss instead of costing its
    // initial image in flash.
    pub(crate) reply_waiting: u8,
    pub(crate) text_out: u8,
    /// A text LIST in progress: the next stream id to list (its lines go out one at a time).
    #[cfg_attr(not(feature = "text"), allow(dead_code))]
    pub(crate) list_next: u8,
    rx: [u8; RX],
    rx_head: u8,
    rx_tail: u8,
    rx_state: u8,
    #[cfg_attr(not(feature = "text"), allow(dead_code))]
    rx_scan: u8, // LINE state: bytes of the line already scanned
    // change-only streams: per pool entry (moved with it) the kind, deadband and value last
    // sent; per stream the heartbeat (0: not filtered) and the instants that may still pass
    #[cfg(feature = "change-only")]
    pub(crate) fkind: [u8; POOL],
    #[cfg(feature = "change-only")]
    pub(crate) fband: [u32; POOL],
    #[cfg(feature = "change-only")]
    pub(crate) flast: [u32; POOL],
    #[cfg(feature = "change-only")]
    pub(crate) hbeat: [u16; STREAMS],
    #[cfg(feature = "change-only")]
    pub(crate) hleft: [u16; STREAMS],
    #[cfg(feature = "capture")]
    pub(crate) cap: crate::capture::Capture<'a>,
}

// ---------------------------------------------------------------- public API

impl<
        'a,
        P: Port,
        const STREAMS: usize,
        const REGIONS: usize,
        const POOL: usize,
        const STREAM_BYTES: usize,
        const PAYLOAD: usize,
        const TX: usize,
        const RX: usize,
        const TICK_HZ: u32,
    > Streamer<'a, P, STREAMS, REGIONS, POOL, STREAM_BYTES, PAYLOAD, TX, RX, TICK_HZ>
{
    /// A streamer for the device `config`, in its reset state (no streams, binary output).
    /// `const`, so it can initialise a `static`.
    pub const fn new(config: Config<'a>, port: P) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Core::<'a, STREAMS, REGIONS, POOL, STREAM_BYTES, PAYLOAD, TX, RX, TICK_HZ>::LIMITS_OK;
        Streamer { port, tx: TxRing::new(), core: Core::new(config) }
    }

    /// Back to the reset state with a new device description (the C core's `fw_init`): streams,
    /// counters, both rings and the output mode are cleared.
    pub fn init(&mut self, config: Config<'a>) {
        self.core = Core::new(config);
        self.tx.clear();
    }

    /// The port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The port, mutably.
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// The device description.
    pub fn config(&self) -> &Config<'a> {
        &self.core.cfg
    }

    /// One received byte (from a UART interrupt). A byte that does not fit in the RX ring is
    /// lost and counted (`overflows`); returns whether it was stored.
    pub fn rx_byte(&mut self, b: u8) -> bool {
        let c = &mut self.core;
        let h = c.rx_head;
        let n = if usize::from(h).wrapping_add(1) >= RX { 0 } else { h.wrapping_add(1) };
        if n == c.rx_tail {
            c.overflows = c.overflows.wrapping_add(1);
            return false;
        }
        if let Some(slot) = c.rx.get_mut(usize::from(h)) {
            *slot = b;
        }
        c.rx_head = n;
        true
    }

    /// Received bytes from a poll loop or a DMA buffer: stores as many as the RX ring can take
    /// and returns how many; the caller keeps the rest for after [`Streamer::poll`]. Nothing
    /// is counted as lost (that is flow control, not an overrun).
    pub fn receive(&mut self, data: &[u8]) -> usize {
        let room = self.rx_free();
        for &b in data.iter().take(room) {
            self.rx_byte(b);
        }
        room.min(data.len())
    }

    /// Bytes [`Streamer::rx_byte`] can store now.
    pub fn rx_free(&self) -> usize {
        let (h, t) = (usize::from(self.core.rx_head), usize::from(self.core.rx_tail));
        if h >= t {
            (RX - 1).saturating_sub(h - t)
        } else {
            (t - h).saturating_sub(1)
        }
    }

    /// Advance time by one tick and sample the streams that are due (from the tick interrupt).
    pub fn tick(&mut self) {
        let Streamer { port, tx, core } = self;
        core.tick(port, tx);
    }

    /// Parse the received bytes and answer every complete command (from the main loop). A
    /// reply that does not fit in the TX ring yet stays pending: its command is executed on a
    /// later call, once [`Streamer::tx_pop`] made room.
    pub fn poll(&mut self) {
        let Streamer { port, tx, core } = self;
        #[cfg(feature = "capture")]
        {
            core.cap.polls = core.cap.polls.wrapping_add(1); // the main loop runs (see capture.rs)
        }
        core.poll(port, tx);
        #[cfg(feature = "capture")]
        core.capture_pump(port, tx); // an upload fills what TX room the replies and samples leave
    }

    /// Give the capture module (feature `capture`) its buffer and, when the firmware has one,
    /// a timer for sampling faster than the tick: `timer_hz` is its clock (0: none, captures
    /// sample on the tick), `timer_max_divider` the largest divider it realises exactly (0:
    /// any). The timer is driven through [`Port::capture_timer`]; its interrupt calls
    /// [`Streamer::capture_timer`]. (The C core's `fw_capture_init`.)
    #[cfg(feature = "capture")]
    pub fn capture_init(&mut self, buffer: &'a mut [u8], timer_hz: u32, timer_max_divider: u32) {
        self.core.cap.init(Some(buffer), timer_hz, timer_max_divider);
    }

    /// The capture timer's interrupt: one sample (`fw_capture_timer`).
    #[cfg(feature = "capture")]
    pub fn capture_timer(&mut self) {
        let Streamer { port, core, .. } = self;
        core.cap_timer(port);
    }

    /// The capture timer's interrupt came `n` periods late: `n` samples were never taken
    /// (`fw_capture_slip`); the capture reports it.
    #[cfg(feature = "capture")]
    pub fn capture_slip(&mut self, n: u32) {
        let Streamer { port, core, .. } = self;
        core.cap_slip(port, n);
    }

    /// Copy output bytes into `buf`; how many (0 when nothing is pending).
    pub fn tx_pop(&mut self, buf: &mut [u8]) -> usize {
        self.tx.pop(buf)
    }

    /// One output byte (from a TX-empty interrupt).
    pub fn tx_byte(&mut self) -> Option<u8> {
        self.tx.pop_byte()
    }

    /// Output bytes pending.
    pub fn tx_pending(&self) -> usize {
        usize::from(self.tx.used())
    }

    /// The tick counter.
    pub fn ticks(&self) -> u32 {
        self.core.ticks
    }

    /// The counters STATUS reports.
    pub fn status(&self) -> Status {
        let c = &self.core;
        Status {
            dropped: c.dropped,
            overflows: c.overflows,
            rx_errors: c.rx_errors,
            ticks: c.ticks,
            seq: c.seq,
            tx_used: self.tx.used(),
            tx_high_water: self.tx.high_water(),
            streams: c.streams_running(),
            text_output: c.text_out != 0,
        }
    }
}

// ---------------------------------------------------------------- the core

#[inline]
fn bit(s: usize) -> u32 {
    1u32.wrapping_shl(s as u32)
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
    pub(crate) const MASK_BYTES: usize = (STREAMS + 7) / 8;
    const SAMPLES_HDR: usize = 6 + Self::MASK_BYTES; // seq, ticks, mask
    const PERIOD: u32 = TICK_HZ.wrapping_mul(1000); // phase accumulator modulus

    /// The C core's static asserts: evaluated when a configuration is instantiated.
    pub(crate) const LIMITS_OK: () = {
        assert!(STREAMS >= 1 && STREAMS <= 32, "STREAMS must be 1..=32");
        assert!(REGIONS >= 1 && REGIONS <= POOL, "REGIONS must be 1..=POOL");
        assert!(POOL <= 255, "POOL must be <= 255");
        assert!(
            TX & (TX - 1) == 0 && TX >= 64 && TX <= 32768,
            "TX must be a power of two from 64 to 32768"
        );
        assert!(TX >= PAYLOAD + 8, "TX must hold the largest frame (PAYLOAD + 8)");
        assert!(RX >= PAYLOAD + 9 && RX <= 255, "RX must be PAYLOAD + 9 ..= 255");
        assert!(PAYLOAD >= 64 && PAYLOAD <= 246, "PAYLOAD must be 64..=246");
        assert!(STREAM_BYTES >= 1, "STREAM_BYTES must be at least 1");
        assert!(
            STREAM_BYTES + 6 + (STREAMS + 7) / 8 <= PAYLOAD,
            "one stream's sample must fit a SAMPLES frame"
        );
        assert!(
            TICK_HZ >= 1 && TICK_HZ as u64 * 1000 <= 0x7FFF_FFFF,
            "TICK_HZ * 1000 must fit the phase accumulator"
        );
        // Every reply must fit the TX ring in one piece, or it could never be sent: the worst
        // cases for these limits (as the C core checks them). The region table in IDENT/INFO
        // depends on the Config: 35 + build id + 9 bytes per region must fit as well.
        let room = TX - 8;
        assert!(2 + 6 * STREAMS + 6 * POOL <= room, "LIST_DATA needs a larger TX");
        assert!(30 + 5 * STREAMS <= room, "STATUS_DATA needs a larger TX");
        if cfg!(feature = "text") {
            // DATA|addr=0x12345678|hex=<2 per byte>|t=<10>|seq=<5>|stream=<2>|crc=XXXX\n
            assert!(68 + 2 * (PAYLOAD - 5) <= room, "a text READ reply needs a larger TX");
            // one stream's sample lines are queued together (one coherent snapshot)
            assert!(REGIONS * 68 + 2 * STREAM_BYTES <= room, "text samples need a larger TX or fewer REGIONS");
            // STREAM|stream=NN|rate_mhz=<10>|regions=0x12345678+65535,...|crc=XXXX\n
            assert!(56 + 17 * REGIONS <= room, "a text LIST line needs a larger TX");
        }
    };

    const fn new(cfg: Config<'a>) -> Self {
        Core {
            cfg,
            rate: [0; STREAMS],
            acc: [0; STREAMS],
            sdropped: [0; STREAMS],
            nreg: [0; STREAMS],
            raddr: [0; POOL],
            rsize: [0; POOL],
            ticks: 0,
            dropped: 0,
            overflows: 0,
            rx_errors: 0,
            seq: 0,
            reply_waiting: 0,
            text_out: 0,
            list_next: 0,
            rx: [0; RX],
            rx_head: 0,
            rx_tail: 0,
            rx_state: RX_IDLE,
            rx_scan: 0,
            #[cfg(feature = "change-only")]
            fkind: [0; POOL],
            #[cfg(feature = "change-only")]
            fband: [0; POOL],
            #[cfg(feature = "change-only")]
            flast: [0; POOL],
            #[cfg(feature = "change-only")]
            hbeat: [0; STREAMS],
            #[cfg(feature = "change-only")]
            hleft: [0; STREAMS],
            #[cfg(feature = "capture")]
            cap: crate::capture::Capture::new(),
        }
    }

    // ---- RX ring

    fn rx_count(&self) -> usize {
        let (h, t) = (usize::from(self.rx_head), usize::from(self.rx_tail));
        if h >= t {
            h - t
        } else {
            RX.wrapping_add(h).wrapping_sub(t)
        }
    }

    fn rx_drop(&mut self, n: usize) {
        let mut t = usize::from(self.rx_tail).wrapping_add(n);
        if t >= RX {
            t -= RX;
        }
        self.rx_tail = t as u8;
    }

    /// The byte `i` places after the RX tail.
    #[inline]
    pub(crate) fn peek(&self, i: usize) -> u8 {
        let mut k = usize::from(self.rx_tail).wrapping_add(i);
        if k >= RX {
            k -= RX;
        }
        self.rx.get(k).copied().unwrap_or(0)
    }

    /// `n` (<= 4) bytes at RX offset `i`, little-endian.
    pub(crate) fn rx_le(&self, i: usize, n: usize) -> u32 {
        (0..n).rev().fold(0u32, |v, k| v.wrapping_shl(8) | u32::from(self.peek(i.wrapping_add(k))))
    }

    // ---- streams

    /// First pool entry of `stream`.
    pub(crate) fn pool_offset(&self, stream: usize) -> usize {
        self.nreg.iter().take(stream).fold(0usize, |off, &n| off.wrapping_add(usize::from(n)))
    }

    fn pool_used(&self) -> usize {
        self.pool_offset(STREAMS)
    }

    pub(crate) fn streams_running(&self) -> u8 {
        self.nreg.iter().fold(0u8, |k, &n| k.wrapping_add(u8::from(n != 0)))
    }

    pub(crate) fn nreg(&self, s: usize) -> usize {
        usize::from(self.nreg.get(s).copied().unwrap_or(0))
    }

    pub(crate) fn stream_rate(&self, s: usize) -> u32 {
        self.rate.get(s).copied().unwrap_or(0)
    }

    /// Pool entry `i`: (address, size).
    pub(crate) fn pool(&self, i: usize) -> (u32, u16) {
        (
            self.raddr.get(i).copied().unwrap_or(0),
            u16::from(self.rsize.get(i).copied().unwrap_or(0)),
        )
    }

    /// Make room for `want` entries for `stream` (moving later streams' entries).
    fn pool_resize(&mut self, stream: usize, want: usize) -> usize {
        let off = self.pool_offset(stream);
        let used = self.pool_used();
        let from = off.wrapping_add(self.nreg(stream));
        let to = off.wrapping_add(want);
        let tail = used.saturating_sub(from);
        for k in 0..tail {
            // moving down: first to last; moving up: last to first
            let i = if to < from { k } else { tail.wrapping_sub(1).wrapping_sub(k) };
            let (a, z) = (self.raddr.get(from.wrapping_add(i)).copied(), self.rsize.get(from.wrapping_add(i)).copied());
            if let (Some(a), Some(z), Some(da), Some(dz)) =
                (a, z, self.raddr.get_mut(to.wrapping_add(i)), self.rsize.get_mut(to.wrapping_add(i)))
            {
                *da = a;
                *dz = z;
            }
            #[cfg(feature = "change-only")]
            {
                let (f, t) = (from.wrapping_add(i), to.wrapping_add(i));
                let (k, b, l) = (self.fkind.get(f).copied(), self.fband.get(f).copied(), self.flast.get(f).copied());
                if let (Some(k), Some(b), Some(l), Some(dk), Some(db), Some(dl)) =
                    (k, b, l, self.fkind.get_mut(t), self.fband.get_mut(t), self.flast.get_mut(t))
                {
                    *dk = k;
                    *db = b;
                    *dl = l;
                }
            }
        }
        if let Some(n) = self.nreg.get_mut(stream) {
            *n = want as u8;
        }
        off
    }

    fn stream_install(&mut self, c: &Cmd) {
        let s = usize::from(c.arg);
        let n = usize::from(c.n);
        let off = self.pool_resize(s, n);
        for i in 0..n {
            let (a, z) = self.cmd_region(c, i);
            if let (Some(da), Some(dz)) = (self.raddr.get_mut(off.wrapping_add(i)), self.rsize.get_mut(off.wrapping_add(i))) {
                *da = a;
                *dz = z as u8;
            }
            #[cfg(feature = "change-only")]
            if let Some(k) = self.fkind.get_mut(off.wrapping_add(i)) {
                *k = crate::wire::kind::NONE;
            }
        }
        #[cfg(feature = "change-only")]
        if let Some(h) = self.hbeat.get_mut(s) {
            *h = 0; // a (re)defined stream is not filtered until STREAM_FILTER says so
        }
        if let (Some(r), Some(acc), Some(d)) =
            (self.rate.get_mut(s), self.acc.get_mut(s), self.sdropped.get_mut(s))
        {
            *r = c.rate;
            // Due on the very next tick: a slow stream shows its first value at once.
            *acc = Self::PERIOD.wrapping_sub(c.rate);
            *d = 0;
        }
    }

    fn stream_stop(&mut self, stream: u8) {
        for s in 0..STREAMS {
            if stream == 0xFF || usize::from(stream) == s {
                self.pool_resize(s, 0);
                if let Some(r) = self.rate.get_mut(s) {
                    *r = 0;
                }
            }
        }
    }

    fn stream_bytes(&self, s: usize, off: usize) -> usize {
        (0..self.nreg(s)).fold(0usize, |n, i| n.wrapping_add(usize::from(self.pool(off.wrapping_add(i)).1)))
    }

    /// The `seq` of the next frame produced (sent or not).
    pub(crate) fn next_seq(&mut self) -> u16 {
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        seq
    }

    /// Count a SAMPLES frame (and its streams' samples) as dropped.
    pub(crate) fn drop_frame(&mut self, mask: u32) {
        self.dropped = self.dropped.wrapping_add(1);
        for s in 0..STREAMS {
            if let (true, Some(d)) = (mask & bit(s) != 0, self.sdropped.get_mut(s)) {
                *d = d.wrapping_add(1);
            }
        }
    }

    fn tick<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>) {
        self.ticks = self.ticks.wrapping_add(1);
        let mut due = 0u32;
        // A stopped stream has rate 0 and an accumulator below the period: never due.
        for s in 0..STREAMS {
            if let (Some(acc), Some(&rate)) = (self.acc.get_mut(s), self.rate.get(s)) {
                let mut a = acc.wrapping_add(rate);
                if a >= Self::PERIOD {
                    a = a.wrapping_sub(Self::PERIOD);
                    due |= bit(s);
                }
                *acc = a;
            }
        }
        #[cfg(feature = "capture")]
        self.cap_tick(port);
        #[cfg(feature = "change-only")]
        if due != 0 {
            due = self.filter_due(port, due);
        }
        if due == 0 {
            return;
        }
        #[cfg(feature = "text")]
        if self.text_out != 0 {
            self.text_samples(port, tx, due);
            return;
        }
        self.binary_samples(port, tx, due);
    }

    /// Pack the due streams into as few frames as fit in PAYLOAD, in ascending order.
    fn binary_samples<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, due: u32) {
        let mut mask = 0u32;
        let mut len = Self::SAMPLES_HDR;
        let mut off = 0usize;
        for s in 0..STREAMS {
            if due & bit(s) != 0 {
                let b = self.stream_bytes(s, off);
                if len.wrapping_add(b) > PAYLOAD {
                    self.samples_frame(port, tx, mask, len as u16);
                    mask = 0;
                    len = Self::SAMPLES_HDR;
                }
                mask |= bit(s);
                len = len.wrapping_add(b);
            }
            off = off.wrapping_add(self.nreg(s));
        }
        self.samples_frame(port, tx, mask, len as u16);
    }

    /// One SAMPLES frame for the streams in `mask` (payload `len` bytes).
    fn samples_frame<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, mask: u32, len: u16) {
        let seq = self.next_seq();
        let reserved = if self.reply_waiting != 0 { None } else { tx.reserve(len.wrapping_add(8)) };
        let mut o = match reserved {
            Some(o) => o,
            None => {
                self.drop_frame(mask);
                return;
            }
        };
        o.frame_header(msg::SAMPLES, len);
        o.u16(seq);
        o.u32(self.ticks);
        for i in 0..Self::MASK_BYTES {
            o.byte((mask >> (8 * i)) as u8);
        }
        let mut off = 0usize;
        for s in 0..STREAMS {
            let k = self.nreg(s);
            if mask & bit(s) != 0 {
                // One critical section per stream: its regions form one coherent snapshot.
                #[cfg(not(feature = "change-only"))]
                port.critical_section(|| {
                    for i in off..off.wrapping_add(k) {
                        let (a, z) = self.pool(i);
                        o.mem(&self.cfg, a, z);
                    }
                });
                #[cfg(feature = "change-only")]
                {
                    // the values a filtered stream carried become the ones last sent
                    let filtered = self.stream_filtered(s);
                    let sent = port.critical_section(|| {
                        let mut sent = [0u32; REGIONS];
                        let mut i = off;
                        for b in sent.iter_mut().take(k) {
                            let (a, z) = self.pool(i);
                            o.mem(&self.cfg, a, z);
                            if filtered && z <= 4 {
                                *b = crate::wire::value_raw(o.last4(z), usize::from(z));
                            }
                            i = i.wrapping_add(1);
                        }
                        sent
                    });
                    if filtered {
                        let mut i = off;
                        for &b in sent.iter().take(k) {
                            if self.filtered(i) {
                                self.filter_note(i, b);
                            }
                            i = i.wrapping_add(1);
                        }
                        self.filter_sent(s);
                    }
                }
            }
            off = off.wrapping_add(k);
        }
        o.frame_end();
        port.tx_ready();
    }

    // ---- commands

    /// Region `i` of a STREAM_START (binary: from the RX ring; text: the one region).
    pub(crate) fn cmd_region(&self, c: &Cmd, i: usize) -> (u32, u16) {
        #[cfg(feature = "text")]
        if c.text {
            return (c.addr, c.size);
        }
        let at = usize::from(c.off).wrapping_add(i.wrapping_mul(6));
        (self.rx_le(at, 4), self.rx_le(at.wrapping_add(4), 2) as u16)
    }

    /// Data byte `i` of a WRITE (binary: raw; text: two hex digits).
    fn cmd_data(&self, c: &Cmd, i: usize) -> u8 {
        #[cfg(feature = "text")]
        if c.text {
            let k = usize::from(c.off).wrapping_add(i.wrapping_mul(2));
            return crate::text::hexval(self.peek(k)) << 4 | crate::text::hexval(self.peek(k.wrapping_add(1)));
        }
        self.peek(usize::from(c.off).wrapping_add(i))
    }

    /// The first check a command fails, as its error code (0: none), with `c.detail` set. The
    /// order is part of the protocol (docs/protocol.md, "Error codes").
    fn check(&self, c: &mut Cmd) -> u8 {
        let t = c.ty;
        let s = usize::from(c.arg);
        if t == msg::READ || t == msg::WRITE {
            c.detail = 0;
            if c.size == 0 {
                return err::BAD_LENGTH;
            }
            c.detail = (PAYLOAD - 5) as u32;
            if usize::from(c.size) > PAYLOAD - 5 {
                return err::TOO_BIG;
            }
            let (access, code) = if t == msg::READ {
                (Access::READ, err::NOT_READABLE)
            } else {
                (Access::WRITE, err::NOT_WRITABLE)
            };
            if let Err(bad) = self.cfg.check_range(c.addr, u32::from(c.size), access) {
                c.detail = bad;
                return code;
            }
        } else if t == msg::STREAM_START {
            c.detail = s as u32;
            if s >= STREAMS {
                return err::NO_STREAM;
            }
            c.detail = 0;
            if c.n == 0 {
                return err::BAD_LENGTH;
            }
            c.detail = REGIONS as u32;
            if usize::from(c.n) > REGIONS {
                return err::TOO_MANY_REGIONS;
            }
            c.detail = TICK_HZ;
            if c.rate.wrapping_sub(1) >= Self::PERIOD {
                return err::BAD_RATE; // 0 wraps round to the top
            }
            let others = self.pool_used().saturating_sub(self.nreg(s));
            c.detail = POOL.saturating_sub(others) as u32;
            if others.wrapping_add(usize::from(c.n)) > POOL {
                return err::TOO_MANY_REGIONS;
            }
            let mut total = 0usize;
            for i in 0..usize::from(c.n) {
                let (a, z) = self.cmd_region(c, i);
                total = total.wrapping_add(usize::from(z));
                c.detail = 0;
                if z == 0 {
                    return err::BAD_LENGTH;
                }
                c.detail = STREAM_BYTES as u32;
                if total > STREAM_BYTES {
                    return err::STREAM_TOO_BIG;
                }
                if let Err(bad) = self.cfg.check_range(a, u32::from(z), Access::READ) {
                    c.detail = bad;
                    return err::NOT_READABLE;
                }
            }
        } else if t == msg::STREAM_STOP {
            c.detail = s as u32;
            if c.arg != 0xFF && (s >= STREAMS || self.nreg(s) == 0) {
                return err::NO_STREAM;
            }
        } else if t == msg::MODE && c.arg > 1 {
            c.detail = s as u32;
            return err::BAD_MODE;
        }
        0
    }

    fn apply<P: Port>(&mut self, port: &P, c: &Cmd) {
        if c.ty == msg::WRITE {
            // a register takes whole-word writes
            let words = self.cfg.words(c.addr, c.size);
            port.critical_section(|| {
                // a multi-byte value changes at once
                if words {
                    for i in (0..c.size).step_by(4) {
                        let k = usize::from(i);
                        let w = [0, 1, 2, 3].map(|j| self.cmd_data(c, k.wrapping_add(j)));
                        self.cfg.write_word(c.addr.wrapping_add(u32::from(i)), w);
                    }
                } else {
                    for i in 0..c.size {
                        self.cfg.write(c.addr.wrapping_add(u32::from(i)), self.cmd_data(c, usize::from(i)));
                    }
                }
            });
        } else if c.ty == msg::STREAM_START {
            self.stream_install(c);
        } else if c.ty == msg::STREAM_STOP {
            self.stream_stop(c.arg);
        }
    }

    fn out_regions(&self, o: &mut Out<'_, TX>, off: usize, n: usize) {
        for i in off..off.wrapping_add(n) {
            let (a, z) = self.pool(i);
            o.u32(a);
            o.u16(z);
        }
    }

    fn bin_reply<P: Port>(&self, port: &P, o: &mut Out<'_, TX>, c: &Cmd) {
        o.byte(c.tag);
        if c.err != 0 {
            o.byte(c.err);
            o.u32(c.detail);
            return;
        }
        match c.ty {
            msg::IDENTIFY => {
                let cfg = &self.cfg;
                o.byte(PROTO_VERSION);
                o.byte(u8::from(cfg.big_endian()) | flag::OPTIONS); // flags
                o.byte(cfg.word_size());
                o.byte(4); // addr_size
                o.u32(TICK_HZ);
                o.byte(STREAMS as u8);
                o.byte(REGIONS as u8);
                o.u16(STREAM_BYTES as u16);
                o.u16(PAYLOAD as u16);
                o.u16(TX as u16);
                let id = cfg.build_id();
                o.byte(id.len() as u8);
                o.bytes(id);
                let regions = cfg.regions();
                o.byte(regions.len() as u8);
                for r in regions {
                    o.u32(r.start);
                    o.u32(r.size);
                    o.byte(r.access.bits());
                }
            }
            msg::READ | msg::WRITE => {
                o.u32(c.addr);
                port.critical_section(|| o.mem(&self.cfg, c.addr, c.size));
            }
            msg::LIST => {
                o.byte(self.streams_running());
                let mut off = 0usize;
                for s in 0..STREAMS {
                    let n = self.nreg(s);
                    if n != 0 {
                        o.byte(s as u8);
                        o.u32(self.stream_rate(s));
                        o.byte(n as u8);
                        self.out_regions(o, off, n);
                    }
                    off = off.wrapping_add(n);
                }
            }
            msg::STATUS => {
                const WIDTH: [u8; 9] = [4, 4, 4, 2, 2, 2, 4, 2, 1];
                for (&v, &w) in c.sv.iter().zip(WIDTH.iter()) {
                    o.bytes(v.to_le_bytes().get(..usize::from(w)).unwrap_or(&[]));
                }
                for s in 0..STREAMS {
                    if self.nreg(s) != 0 {
                        o.byte(s as u8);
                        o.u32(self.sdropped.get(s).copied().unwrap_or(0));
                    }
                }
            }
            _ => {} // ACK: tag only
        }
    }

    fn reply_type(c: &Cmd) -> u8 {
        // IDENTIFY, READ, WRITE, LIST, STATUS (types 1, 2, 3, 6, 7) answer with type | 0x80
        if c.err != 0 {
            msg::ERROR
        } else if 0xCEu32.checked_shr(u32::from(c.ty)).unwrap_or(0) & 1 != 0 {
            c.ty | 0x80
        } else {
            msg::ACK
        }
    }

    fn gen<P: Port>(&self, port: &P, o: &mut Out<'_, TX>, c: &Cmd) {
        #[cfg(feature = "text")]
        if c.text {
            self.text_reply(port, o, c);
            return;
        }
        self.bin_reply(port, o, c);
    }

    pub(crate) fn status_words(&self, tx: &TxRing<TX>) -> [u32; 9] {
        [
            self.dropped,
            self.overflows,
            self.rx_errors,
            u32::from(tx.used()),
            TX as u32,
            u32::from(tx.high_water()),
            self.ticks,
            u32::from(self.seq), // the next SAMPLES seq: every frame before it was sent or counted dropped
            u32::from(self.streams_running()),
        ]
    }

    /// Execute and answer; false when the reply does not fit in TX yet (retry later).
    pub(crate) fn exec<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, c: &mut Cmd) -> bool {
        if c.err == 0 {
            c.err = self.check(c);
        }
        if c.ty == msg::STATUS {
            c.sv = self.status_words(tx);
        }
        let mut count = Out::counting();
        self.gen(port, &mut count, c); // counting pass
        let payload = count.len();
        let total = if c.text { payload } else { payload.wrapping_add(8) };
        let fits = usize::from(payload) <= TX - 8;
        if fits && usize::from(total) > TX.saturating_sub(usize::from(tx.used())) {
            self.reply_waiting = 1; // samples yield until this reply fits
            return false;
        }
        self.reply_waiting = 0;
        if c.err == 0 {
            // The output mode follows the last command that succeeded (so line noise that
            // looks like a text line cannot switch a binary link to text), and changes before
            // the command acts: the first sample of a new stream already uses it.
            self.text_out = u8::from(if c.ty == msg::MODE { c.arg == 0 } else { c.text });
            self.apply(port, c);
        }
        if fits {
            // can never fit otherwise: executed without a reply
            if let Some(mut o) = tx.reserve(total) {
                if !c.text {
                    o.frame_header(Self::reply_type(c), payload);
                }
                self.gen(port, &mut o, c);
                if !c.text {
                    o.frame_end();
                }
                port.tx_ready();
            }
        }
        true
    }

    /// The binary command whose payload starts at RX offset 5.
    fn bin_command<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, ty: u8, len: usize) -> bool {
        // payload length per request type (0: unknown type); WRITE and STREAM_START: minimum
        const NEED: [u8; 9] = [0, 1, 7, 6, 7, 2, 1, 1, 2];
        #[cfg(feature = "change-only")]
        if ty == msg::STREAM_FILTER {
            return self.filter_command(port, tx, len);
        }
        #[cfg(feature = "capture")]
        if (msg::CAPTURE_ARM..=msg::CAPTURE_READ).contains(&ty) {
            return self.capture_command(port, tx, ty, len);
        }
        // Every field is read whatever the type (bytes past a short payload are ignored).
        let mut c = Cmd {
            ty,
            tag: if len != 0 { self.peek(5) } else { 0 },
            arg: self.peek(6),
            addr: self.rx_le(6, 4),
            size: self.rx_le(10, 2) as u16,
            rate: self.rx_le(7, 4),
            n: self.peek(11),
            off: 12,
            ..Cmd::default()
        };
        let mut need = usize::from(NEED.get(usize::from(ty)).copied().unwrap_or(0));
        if ty == msg::WRITE {
            c.size = (len as u16).wrapping_sub(5);
            c.off = 10;
            if len > 6 {
                need = len;
            }
        }
        if ty == msg::STREAM_START && len >= 7 {
            need = 7 + 6 * usize::from(c.n); // <= 7 + 6 * 255
        }
        if need == 0 {
            c.err = err::BAD_COMMAND;
            c.detail = u32::from(ty);
        } else if len != need {
            c.err = err::BAD_LENGTH;
            c.detail = len as u32;
        }
        self.exec(port, tx, &mut c)
    }

    /// ACK or ERROR for a command of the optional modules; false when it does not fit in TX
    /// yet (the caller applies the command only once its reply is queued).
    #[cfg(any(feature = "capture", feature = "change-only"))]
    pub(crate) fn reply_simple<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, tag: u8, code: u8, detail: u32) -> bool {
        let len: u16 = if code != 0 { 6 } else { 1 };
        let mut o = match tx.reserve(len.wrapping_add(8)) {
            Some(o) => o,
            None => {
                self.reply_waiting = 1;
                return false;
            }
        };
        self.reply_waiting = 0;
        o.frame_header(if code != 0 { msg::ERROR } else { msg::ACK }, len);
        o.byte(tag);
        if code != 0 {
            o.byte(code);
            o.u32(detail);
        } else {
            self.text_out = 0; // a binary command succeeded
        }
        o.frame_end();
        port.tx_ready();
        true
    }

    fn bad_input(&mut self, drop: usize, state: u8) {
        self.rx_errors = self.rx_errors.wrapping_add(1);
        self.rx_drop(drop);
        self.rx_state = state;
    }

    fn poll<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>) {
        loop {
            let avail = self.rx_count();
            if avail == 0 {
                return;
            }
            let b = self.peek(0);
            if self.rx_state == RX_SKIP {
                // after bad input: discard up to the next frame start or end of line
                if b != 0xAA {
                    self.rx_drop(1);
                }
                if b == 0xAA || b == b'\n' {
                    self.rx_state = RX_IDLE;
                }
                continue;
            }
            #[cfg(feature = "text")]
            if self.rx_state == RX_LINE {
                if !self.poll_line(port, tx, avail) {
                    return;
                }
                continue;
            }
            if b == 0xAA {
                if avail < 2 {
                    return;
                }
                if self.peek(1) != 0x55 {
                    self.bad_input(1, RX_SKIP);
                    continue;
                }
                if avail < 5 {
                    return;
                }
                let len = self.rx_le(3, 2) as usize;
                if len > PAYLOAD {
                    self.bad_input(1, RX_SKIP);
                    continue;
                }
                if avail < len + 8 {
                    return;
                }
                let crc = (2..len + 5).fold(0xFFFF, |c, i| crate::wire::crc16(c, self.peek(i)));
                if u32::from(crc) != self.rx_le(len + 5, 2) || self.peek(len + 7) != 0x0A {
                    self.bad_input(1, RX_SKIP);
                    continue;
                }
                if !self.bin_command(port, tx, self.peek(2), len) {
                    return; // no TX space yet: the frame stays, retried on the next poll
                }
                self.rx_drop(len + 8);
                continue;
            }
            #[cfg(feature = "text")]
            if crate::text::printable(b) {
                self.rx_state = RX_LINE;
                self.rx_scan = 0;
                continue;
            }
            self.rx_drop(1); // stray control byte (or text when text mode is compiled out)
        }
    }

    /// LINE state: scan on for the end of the line. False: wait for more input.
    #[cfg(feature = "text")]
    fn poll_line<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, avail: usize) -> bool {
        let mut i = usize::from(self.rx_scan);
        while i < avail {
            let ch = self.peek(i);
            if ch == b'\n' {
                if !self.text_line(port, tx, i) {
                    self.rx_scan = i as u8;
                    return false;
                }
                self.rx_drop(i.wrapping_add(1));
                self.rx_state = RX_IDLE;
                return true;
            }
            if ch == 0xAA {
                // a frame interrupts the line: keep the frame
                self.bad_input(i, RX_IDLE);
                return true;
            }
            if !crate::text::printable(ch) && ch != b'\r' && ch != b'\t' {
                self.bad_input(i.wrapping_add(1), RX_SKIP);
                return true;
            }
            i = i.wrapping_add(1);
        }
        self.rx_scan = i as u8;
        if avail >= RX - 1 {
            // line longer than the ring
            self.bad_input(avail, RX_SKIP);
            return true;
        }
        false
    }
}
