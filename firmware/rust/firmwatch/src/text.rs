//! Text mode: a line a person types becomes the same command the binary mode carries (so
//! validation and side effects are shared), and replies are `|key=value` lines.

use crate::out::{Out, TxRing};
use crate::port::Port;
use crate::streamer::{Cmd, Core, T_HELP};
use crate::wire::{err, msg};

/// Verbs with their request type and argument byte.
const VERBS: [(&[u8], u8, u8); 10] = [
    (b"INFO", msg::IDENTIFY, 0),
    (b"READ", msg::READ, 0),
    (b"WRITE", msg::WRITE, 0),
    (b"STREAM", msg::STREAM_START, 0),
    (b"STOP", msg::STREAM_STOP, 0),
    (b"LIST", msg::LIST, 0),
    (b"STATUS", msg::STATUS, 0),
    (b"BINARY", msg::MODE, 1),
    (b"TEXT", msg::MODE, 0),
    (b"HELP", T_HELP, 0),
];

const ERR_NAMES: [&[u8]; 12] = [
    b"?",
    b"BAD_COMMAND",
    b"BAD_LENGTH",
    b"NOT_READABLE",
    b"NOT_WRITABLE",
    b"NO_STREAM",
    b"TOO_MANY_REGIONS",
    b"STREAM_TOO_BIG",
    b"BAD_RATE",
    b"TOO_BIG",
    b"BAD_MODE",
    b"READBACK",
];

const INFO_KEYS: [&[u8]; 8] = [
    b"|word=",
    b"|addr_size=",
    b"|tick_hz=",
    b"|max_streams=",
    b"|max_regions=",
    b"|max_stream_bytes=",
    b"|max_payload=",
    b"|tx_size=",
];

const STATUS_KEYS: [&[u8]; 9] = [
    b"STATUS|dropped=",
    b"|overflows=",
    b"|rx_errors=",
    b"|tx_used=",
    b"|tx_size=",
    b"|tx_high_water=",
    b"|ticks=",
    b"|seq=",
    b"|streams=",
];

pub(crate) fn printable(b: u8) -> bool {
    (0x20..0x7F).contains(&b)
}

fn is_space(ch: u8) -> bool {
    ch == b' ' || ch == b'\t' || ch == b'\r'
}

/// A hex digit's value (0 for anything else: callers check digits first).
pub(crate) fn hexval(ch: u8) -> u8 {
    match ch {
        b'0'..=b'9' => ch - b'0',
        b'a'..=b'f' => ch - b'a' + 10,
        b'A'..=b'F' => ch - b'A' + 10,
        _ => 0,
    }
}

fn is_hex(ch: u8) -> bool {
    ch.is_ascii_hexdigit()
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
    /// Next token of the line at RX offsets `[*pos, end)`: (start, length).
    fn token(&self, pos: &mut usize, end: usize) -> (usize, usize) {
        let mut p = *pos;
        while p < end && is_space(self.peek(p)) {
            p = p.wrapping_add(1);
        }
        let start = p;
        while p < end && !is_space(self.peek(p)) {
            p = p.wrapping_add(1);
        }
        *pos = p;
        (start, p.wrapping_sub(start))
    }

    /// Decimal or 0x-hex (saturating at u32::MAX); with `milli`, decimal may have up to 3
    /// fraction digits and the result is in thousandths (rates in milli-hertz).
    fn number(&self, s: usize, n: usize, milli: bool) -> Option<u32> {
        let mut x: u32 = 0;
        let (mut i, mut frac, mut dot, mut base) = (0usize, 0u32, false, 10u32);
        if n > 2 && self.peek(s) == b'0' && (self.peek(s.wrapping_add(1)) | 0x20) == b'x' {
            base = 16;
            i = 2;
        }
        if i == n {
            return None;
        }
        while i < n {
            let ch = self.peek(s.wrapping_add(i));
            i = i.wrapping_add(1);
            if ch == b'.' && milli && base == 10 && !dot {
                dot = true;
                continue;
            }
            let d = if ch.is_ascii_digit() || (base == 16 && is_hex(ch)) {
                u32::from(hexval(ch))
            } else {
                return None;
            };
            if dot {
                frac = frac.wrapping_add(1);
                if frac > 3 {
                    return None;
                }
            }
            // saturate: reported as out of range, not misparsed
            x = x.checked_mul(base).and_then(|v| v.checked_add(d)).unwrap_or(u32::MAX);
        }
        if milli {
            while frac < 3 {
                x = x.saturating_mul(10);
                frac = frac.wrapping_add(1);
            }
        }
        Some(x)
    }

    fn lookup_verb(&self, s: usize, n: usize) -> Option<(u8, u8)> {
        VERBS.iter().find_map(|&(name, ty, arg)| {
            let same = name.len() == n
                && (0..n).all(|i| name.get(i) == Some(&self.peek(s.wrapping_add(i)).to_ascii_uppercase()));
            if same {
                Some((ty, arg))
            } else {
                None
            }
        })
    }

    /// Execute the line at RX offset 0, `len` bytes without its '\n'. False: the reply does
    /// not fit in TX yet.
    /// A line may end in `|crc=XXXX` (hosts always send it; a person typing need not): the CRC
    /// of the bytes before the `|`. The length of the command without it, or `None` when the
    /// line carries a `|` that is not a correct check (a damaged line: never executed).
    fn checked_length(&self, mut len: usize) -> Option<usize> {
        while len != 0 && is_space(self.peek(len.wrapping_sub(1))) {
            len = len.wrapping_sub(1);
        }
        let bar = match (0..len).find(|&i| self.peek(i) == b'|') {
            None => return Some(len),
            Some(bar) => bar,
        };
        if len.wrapping_sub(bar) != 9 || !(1..5).all(|i| self.peek(bar.wrapping_add(i)) == b"|crc="[i]) {
            return None;
        }
        let mut want = 0u16;
        for i in 5..9 {
            let ch = self.peek(bar.wrapping_add(i));
            if !is_hex(ch) {
                return None;
            }
            want = want << 4 | u16::from(hexval(ch));
        }
        let crc = (0..bar).fold(0xFFFF, |c, i| crate::wire::crc16(c, self.peek(i)));
        if crc == want {
            Some(bar)
        } else {
            None
        }
    }

    pub(crate) fn text_line<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, len: usize) -> bool {
        let len = match self.checked_length(len) {
            Some(len) => len,
            None => {
                // dropped like a frame with a bad CRC: the host retries
                self.rx_errors = self.rx_errors.wrapping_add(1);
                return true;
            }
        };
        let mut c = Cmd { text: true, ..Cmd::default() };
        let mut pos = 0;
        let (vs, vn) = self.token(&mut pos, len);
        if vn == 0 {
            return true; // blank line: nothing to answer
        }
        let mut st = [0usize; 5];
        let mut ln = [0usize; 5];
        let mut argc = 0usize;
        while argc < 5 {
            let (s, n) = self.token(&mut pos, len);
            if n == 0 {
                break;
            }
            st[argc] = s;
            ln[argc] = n;
            argc = argc.wrapping_add(1);
        }
        match self.lookup_verb(vs, vn) {
            Some((ty, arg)) => {
                c.ty = ty;
                c.arg = arg;
            }
            None => {
                c.err = err::BAD_COMMAND;
                return self.exec(port, tx, &mut c);
            }
        }
        let sat16 = |v: u32| if v > 0xFFFF { 0xFFFF } else { v as u16 };
        let ok = match c.ty {
            msg::READ => {
                let addr = self.number(st[0], ln[0], false);
                let size = self.number(st[1], ln[1], false);
                c.addr = addr.unwrap_or(0);
                c.size = sat16(size.unwrap_or(0));
                argc == 2 && addr.is_some() && size.is_some()
            }
            msg::WRITE => {
                let addr = self.number(st[0], ln[0], false);
                c.addr = addr.unwrap_or(0);
                c.off = st[1] as u8;
                c.size = (ln[1] / 2) as u16;
                argc == 2
                    && addr.is_some()
                    && ln[1] % 2 == 0
                    && (0..ln[1]).all(|i| is_hex(self.peek(st[1].wrapping_add(i))))
            }
            msg::STREAM_START => {
                let addr = self.number(st[0], ln[0], false);
                let size = self.number(st[1], ln[1], false);
                let rate = self.number(st[2], ln[2], true);
                c.addr = addr.unwrap_or(0);
                c.size = sat16(size.unwrap_or(0));
                c.rate = rate.unwrap_or(0);
                c.n = 1;
                let ok = (argc == 3 || argc == 4) && addr.is_some() && size.is_some() && rate.is_some();
                if argc == 4 {
                    // an id: define or replace that stream, like STREAM_START (idempotent)
                    let id = self.number(st[3], ln[3], false);
                    let v = id.unwrap_or(0) as usize;
                    c.arg = if v >= STREAMS { STREAMS as u8 } else { v as u8 };
                    ok && id.is_some()
                } else {
                    // the lowest free id; STREAMS when none is free -> NO_STREAM
                    c.arg = (0..STREAMS).find(|&s| self.nreg(s) == 0).unwrap_or(STREAMS) as u8;
                    ok
                }
            }
            msg::STREAM_STOP => {
                let all = argc == 1
                    && ln[0] == 3
                    && (0..3).all(|i| b"ALL".get(i) == Some(&self.peek(st[0].wrapping_add(i)).to_ascii_uppercase()));
                if all {
                    c.arg = 0xFF;
                    true
                } else {
                    let id = self.number(st[0], ln[0], false);
                    let v = id.unwrap_or(0);
                    c.arg = if v as usize >= STREAMS { STREAMS as u8 } else { v as u8 };
                    argc == 1 && id.is_some()
                }
            }
            _ => argc == 0,
        };
        if !ok {
            c.err = err::BAD_LENGTH;
            c.detail = argc as u32;
        } else if c.ty == msg::LIST {
            return self.text_list(port, tx);
        }
        self.exec(port, tx, &mut c)
    }

    fn key_dec(o: &mut Out<'_, TX>, key: &[u8], v: u32) {
        o.bytes(key);
        o.dec(v);
    }

    fn data_line(&self, o: &mut Out<'_, TX>, addr: u32, size: u16) {
        o.bytes(b"DATA|addr=");
        o.hex32(addr);
        o.bytes(b"|hex=");
        o.hexmem(&self.cfg, addr, size);
    }

    fn info(&self, o: &mut Out<'_, TX>) {
        let cfg = &self.cfg;
        let vals: [u32; 8] = [
            u32::from(cfg.word_size()),
            4,
            TICK_HZ,
            STREAMS as u32,
            REGIONS as u32,
            STREAM_BYTES as u32,
            PAYLOAD as u32,
            TX as u32,
        ];
        o.bytes(b"INFO|proto=3|endian=");
        o.bytes(if cfg.big_endian() { b"big" } else { b"little" });
        for (key, &v) in INFO_KEYS.iter().zip(vals.iter()) {
            Self::key_dec(o, key, v);
        }
        o.bytes(b"|build_id=");
        for &b in cfg.build_id() {
            o.hex8(b);
        }
        for r in cfg.regions() {
            o.bytes(b"|region=");
            o.hex32(r.start);
            o.byte(b'+');
            o.dec(r.size);
            o.byte(b':');
            if r.access.bits() & 1 != 0 {
                o.byte(b'r');
            }
            if r.access.bits() & 2 != 0 {
                o.byte(b'w');
            }
        }
    }

    pub(crate) fn text_reply<P: Port>(&self, port: &P, o: &mut Out<'_, TX>, c: &Cmd) {
        if c.err != 0 {
            Self::key_dec(o, b"ERR|code=", u32::from(c.err));
            o.bytes(b"|name=");
            o.bytes(ERR_NAMES.get(usize::from(c.err)).copied().unwrap_or(b"?"));
            o.bytes(b"|detail=");
            o.hex32(c.detail);
            o.end_line();
            return;
        }
        match c.ty {
            msg::IDENTIFY => self.info(o),
            msg::READ | msg::WRITE => {
                port.critical_section(|| self.data_line(o, c.addr, c.size));
            }
            msg::STREAM_START => {
                o.bytes(b"OK");
                Self::key_dec(o, b"|stream=", u32::from(c.arg));
            }
            msg::STATUS => {
                for (key, &v) in STATUS_KEYS.iter().zip(c.sv.iter()) {
                    Self::key_dec(o, key, v);
                }
            }
            T_HELP => o.bytes(b"HELP|verbs=INFO,READ,WRITE,STREAM,STOP,LIST,STATUS,BINARY,TEXT,HELP"),
            _ => o.bytes(b"OK"), // STOP, BINARY, TEXT
        }
        o.end_line();
    }

    /// One LIST line for stream `s`, or `OK|streams=n` when `s == STREAMS`.
    fn list_line(&self, o: &mut Out<'_, TX>, s: usize) {
        if s < STREAMS {
            Self::key_dec(o, b"STREAM|stream=", s as u32);
            Self::key_dec(o, b"|rate_mhz=", self.stream_rate(s));
            o.bytes(b"|regions=");
            let off = self.pool_offset(s);
            for i in 0..self.nreg(s) {
                if i != 0 {
                    o.byte(b',');
                }
                let (a, z) = self.pool(off.wrapping_add(i));
                o.hex32(a);
                o.byte(b'+');
                o.dec(u32::from(z));
            }
        } else {
            o.bytes(b"OK");
            Self::key_dec(o, b"|streams=", u32::from(self.streams_running()));
        }
        o.end_line();
    }

    /// A text LIST: a listing of many streams may be larger than the TX ring, so each line is
    /// queued on its own; a line that does not fit yet keeps the command in RX and resumes
    /// there on the next poll (the stream table cannot change meanwhile: commands run one at
    /// a time). False: retry later.
    fn text_list<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>) -> bool {
        self.text_out = 1; // a text command that succeeded: its mode is the output mode
        let mut s = usize::from(self.list_next);
        while s <= STREAMS {
            if s < STREAMS && self.nreg(s) == 0 {
                s = s.wrapping_add(1);
                continue;
            }
            let mut count = Out::counting();
            self.list_line(&mut count, s);
            match tx.reserve(count.len()) {
                Some(mut o) => {
                    self.list_line(&mut o, s);
                    port.tx_ready();
                }
                None => {
                    self.list_next = s as u8;
                    self.reply_waiting = 1; // samples yield until the listing is out
                    return false;
                }
            }
            s = s.wrapping_add(1);
        }
        self.list_next = 0;
        self.reply_waiting = 0;
        true
    }

    /// Stream `s`'s DATA lines (one per region, pool entries from `off`), into `o`.
    fn sample_lines(&self, o: &mut Out<'_, TX>, s: usize, off: usize, seq: u16) {
        for i in off..off.wrapping_add(self.nreg(s)) {
            let (a, z) = self.pool(i);
            self.data_line(o, a, z);
            Self::key_dec(o, b"|t=", self.ticks);
            Self::key_dec(o, b"|seq=", u32::from(seq));
            Self::key_dec(o, b"|stream=", s as u32);
            o.end_line();
        }
    }

    /// Each due stream's DATA lines are one unit with its own seq, copied in one critical
    /// section and queued or dropped whole, like a SAMPLES frame holding one stream.
    pub(crate) fn text_samples<P: Port>(&mut self, port: &P, tx: &mut TxRing<TX>, due: u32) {
        let mut off = 0usize;
        for s in 0..STREAMS {
            let n = self.nreg(s);
            let bit = 1u32.wrapping_shl(s as u32);
            if due & bit != 0 {
                let seq = self.next_seq();
                let mut count = Out::counting();
                self.sample_lines(&mut count, s, off, seq);
                let reserved = if self.reply_waiting != 0 { None } else { tx.reserve(count.len()) };
                match reserved {
                    Some(mut o) => {
                        // the stream's regions form one snapshot
                        #[cfg(not(feature = "change-only"))]
                        port.critical_section(|| self.sample_lines(&mut o, s, off, seq));
                        #[cfg(feature = "change-only")]
                        {
                            // a filtered stream's values, read in the same critical section,
                            // become the ones last sent
                            let filtered = self.stream_filtered(s);
                            let sent = port.critical_section(|| {
                                self.sample_lines(&mut o, s, off, seq);
                                let mut v = [0u32; REGIONS];
                                let mut i = off;
                                for x in v.iter_mut().take(n) {
                                    let (a, z) = self.pool(i);
                                    if filtered && self.filtered(i) {
                                        *x = self.region_value(a, z);
                                    }
                                    i = i.wrapping_add(1);
                                }
                                v
                            });
                            if filtered {
                                let mut i = off;
                                for &x in sent.iter().take(n) {
                                    if self.filtered(i) {
                                        self.filter_note(i, x);
                                    }
                                    i = i.wrapping_add(1);
                                }
                                self.filter_sent(s);
                            }
                        }
                        port.tx_ready();
                    }
                    None => self.drop_frame(bit),
                }
            }
            off = off.wrapping_add(n);
        }
    }
}
