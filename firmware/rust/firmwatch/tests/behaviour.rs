//! The streamer's behaviour beyond the shared vectors, ported from the C core's unit tests
//! (firmware/tests/test_core.c): exact scheduling, frame splitting, the stream table and its
//! pool, TX overflow accounting, resynchronisation in garbage, RX overflow, and a fuzz run
//! that must never panic (debug builds check every arithmetic overflow), write outside the
//! regions, emit a damaged frame or leave a critical section unbalanced.

mod common;

use common::{le, parse_frames, Vdev, BASE};

const READ: u8 = 2;
const STREAM_STOP: u8 = 5;
const LIST: u8 = 6;
const STATUS: u8 = 7;
const SAMPLES: u8 = 0x90;

#[test]
fn scheduler_is_exact_for_every_rate() {
    let rates = [1000u32, 10_000, 100_000, 1_000_000, 333_333, 500];
    let mut d = Vdev::new();
    for (s, &r) in rates.iter().enumerate() {
        d.start_stream(s as u8, r, &[(BASE, 4)]).unwrap();
    }
    let (n, t_mod) = (100_000u32, 1_000_000u64);
    let mut count = [0u64; 6];
    let mut worst = 0u64;
    for t in 1..=n {
        d.fw.tick();
        let out = d.take();
        let (frames, corrupt) = parse_frames(&out);
        assert!(corrupt == 0 && frames.len() == 1, "tick {t}: {} frames", frames.len());
        let (ty, p) = &frames[0];
        assert_eq!(*ty, SAMPLES);
        assert_eq!(le(p, 2), (t - 1) & 0xFFFF, "seq");
        assert_eq!(le(&p[2..], 4), t, "ticks");
        let mask = le(&p[6..], 2);
        for (s, &r) in rates.iter().enumerate() {
            if mask & (1 << s) != 0 {
                // the k-th sample of a stream is due at tick ceil(k*T/rate - (T-rate)/rate)
                let ideal = (count[s] * t_mod + u64::from(r) - 1) / u64::from(r) + 1;
                worst = worst.max(ideal.abs_diff(u64::from(t)));
                count[s] += 1;
            }
        }
        assert_eq!(p.len(), 8 + 4 * mask.count_ones() as usize);
    }
    for (s, &r) in rates.iter().enumerate() {
        assert_eq!(count[s], (u64::from(n) * u64::from(r) + (t_mod - u64::from(r))) / t_mod, "rate {r}");
    }
    assert_eq!(&count[..4], &[100, 1000, 10_000, 100_000]);
    assert!(worst <= 1);
}

#[test]
fn samples_split_over_frames_one_critical_section_per_stream() {
    let mut d = Vdev::new();
    d.start_stream(2, 1_000_000, &[(BASE + 0x10, 48)]).unwrap();
    d.start_stream(5, 1_000_000, &[(BASE + 0x80, 48)]).unwrap();
    d.start_stream(9, 1_000_000, &[(BASE, 16), (BASE + 0x40, 16), (BASE + 0x100, 16)]).unwrap();
    let before = d.fw.port().sections.get();
    d.fw.tick();
    let (f, corrupt) = parse_frames(&d.take());
    // 8 + 48 + 48 + 48 > 128: two frames, same ticks, consecutive seq
    assert!(f.len() == 2 && corrupt == 0);
    assert_eq!((le(&f[0].1[6..], 2), f[0].1.len()), ((1 << 2) | (1 << 5), 8 + 96));
    assert_eq!((le(&f[1].1[6..], 2), f[1].1.len()), (1 << 9, 8 + 48));
    assert_eq!((le(&f[0].1, 2), le(&f[1].1, 2)), (0, 1));
    assert_eq!((le(&f[0].1[2..], 4), le(&f[1].1[2..], 4)), (1, 1));
    assert_eq!((f[0].1[8], f[0].1[8 + 48]), (0x10, 0x80));
    assert_eq!((f[1].1[8], f[1].1[8 + 16], f[1].1[8 + 32]), (0x00, 0x40, 0x00));
    assert_eq!(d.fw.port().sections.get() - before, 3, "one critical section per stream");
    assert_eq!((d.fw.port().max.get(), d.fw.port().depth.get()), (1, 0));
}

/// (stream, rate, regions) of LIST_DATA.
type Listed = Vec<(u8, u32, Vec<(u32, u16)>)>;

fn list(d: &mut Vdev) -> Listed {
    let (ty, p) = d.command(LIST, &[1]);
    assert_eq!(ty, 0x86);
    let mut out = Vec::new();
    let mut i = 2;
    for _ in 0..p[1] {
        let (s, rate, n) = (p[i], le(&p[i + 1..], 4), p[i + 5] as usize);
        i += 6;
        let regs = (0..n).map(|k| (le(&p[i + 6 * k..], 4), le(&p[i + 6 * k + 4..], 2) as u16)).collect();
        i += 6 * n;
        out.push((s, rate, regs));
    }
    assert_eq!(i, p.len());
    out
}

#[test]
fn stream_table_and_region_pool() {
    let mut d = Vdev::new();
    let a: Vec<(u32, u16)> = (0..9).map(|i| (BASE + 8 * i, 1)).collect();
    d.start_stream(0, 1000, &a[..2]).unwrap();
    d.start_stream(1, 2000, &a[2..5]).unwrap();
    d.start_stream(2, 3000, &a[5..6]).unwrap();
    d.start_stream(1, 4000, &a[7..8]).unwrap(); // replace with fewer regions
    d.start_stream(0, 5000, &a[..4]).unwrap(); // replace with more
    let l = list(&mut d);
    assert_eq!(l, vec![(0, 5000, a[..4].to_vec()), (1, 4000, a[7..8].to_vec()), (2, 3000, a[5..6].to_vec())]);
    assert_eq!(d.command(STREAM_STOP, &[1, 1]).0, 0x80);
    assert_eq!(list(&mut d).iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 2]);
    let (ty, p) = d.command(STREAM_STOP, &[1, 1]);
    assert_eq!((ty, p[1]), (0xEE, 5), "NO_STREAM");
    // pool exhaustion: 5 used, + 3 x 6 = 23 of 24
    for s in 3..6 {
        d.start_stream(s, 1000, &a[..6]).unwrap();
    }
    assert_eq!(d.start_stream(7, 1000, &a[..2]), Err(6));
    d.start_stream(7, 1000, &a[..1]).unwrap();
    assert_eq!(d.start_stream(8, 1000, &a[..9]), Err(6));
    assert_eq!(d.start_stream(16, 1000, &a[..1]), Err(5));
    assert_eq!(d.start_stream(9, 0, &a[..1]), Err(8));
    assert_eq!(d.start_stream(9, 1_000_001, &a[..1]), Err(8));
    assert_eq!(d.command(STREAM_STOP, &[1, 0xFF]).0, 0x80);
    assert!(list(&mut d).is_empty());
    assert_eq!(d.start_stream(9, 1000, &[(BASE, 65)]), Err(7));
    assert_eq!(d.start_stream(9, 1000, &[(BASE, 40), (BASE, 40)]), Err(7));
    assert_eq!(d.start_stream(9, 1000, &[(BASE, 0)]), Err(2));
    assert_eq!(d.start_stream(9, 1000, &[(0x10, 4)]), Err(3));
    assert_eq!(d.fw.status().streams, 0);
}

#[test]
fn tx_overflow_is_counted_and_replies_get_through() {
    let mut d = Vdev::new();
    d.start_stream(3, 1_000_000, &[(BASE, 64)]).unwrap();
    let per_frame = 8 + 64 + 8;
    let fit = 1024 / per_frame;
    for _ in 0..100 {
        d.fw.tick(); // nobody drains the UART
    }
    let st = d.fw.status();
    assert_eq!(st.ticks, 100);
    assert_eq!(st.dropped as usize, 100 - fit);
    assert_eq!(st.tx_used as usize, fit * per_frame);
    // a command while TX is full: its reply waits, samples yield to it
    for b in common::frame(READ, &[6, 0, 0, 0, 0x20, 120, 0]) {
        d.fw.rx_byte(b);
    }
    d.fw.poll();
    d.fw.tick();
    assert_eq!(d.fw.status().dropped as usize, 101 - fit);
    let (f, corrupt) = parse_frames(&d.take());
    assert!(f.len() == fit && corrupt == 0);
    assert!(f.iter().enumerate().all(|(i, (t, p))| *t == SAMPLES && le(p, 2) == i as u32));
    d.fw.poll(); // now the reply fits
    let (f, _) = parse_frames(&d.take());
    assert!(f.len() == 1 && f[0].0 == 0x82 && f[0].1.len() == 125);
    let (ty, r) = d.command(STATUS, &[5]);
    assert_eq!(ty, 0x87);
    assert_eq!(le(&r[1..], 4) as usize, 101 - fit);
    assert_eq!(le(&r[23..], 2), 101); // the next seq: every frame before it was sent or counted dropped
    assert_eq!((r[25], r[26]), (1, 3));
    assert_eq!(le(&r[27..], 4) as usize, 101 - fit);
    assert_eq!(le(&r[17..], 2) as usize, fit * per_frame);
    assert_eq!(r.len(), 31);
    // seq counted every produced frame: the next one tells the host how many it missed
    d.fw.tick();
    let (f, _) = parse_frames(&d.take());
    assert!(f.len() == 1 && le(&f[0].1, 2) == 101);
}

struct Lcg(u32);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0 >> 8
    }
}

#[test]
fn every_frame_in_garbage_is_answered_in_order() {
    for bursts in [false, true] {
        let mut d = Vdev::new();
        let mut rng = Lcg(12345);
        let mut input = Vec::new();
        let mut frames = 0u32;
        while input.len() < 40_000 {
            for _ in 0..rng.next() % 40 {
                input.push(rng.next() as u8);
                if rng.next() % 13 == 0 {
                    input.extend_from_slice(&[0xAA, 0x55]); // false frame starts
                }
            }
            input.extend(common::frame(1, &[frames as u8]));
            frames += 1;
        }
        input.extend([0u8; 200]); // completes any false frame still waiting for bytes
        if bursts {
            // chunks as a hosted port reads them, taking only what the RX ring can hold
            for chunk in input.chunks(37) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let n = d.fw.receive(rest);
                    rest = &rest[n..];
                    d.fw.poll();
                    d.drain();
                }
            }
        } else {
            for &b in &input {
                d.fw.rx_byte(b);
                d.fw.poll();
                d.drain();
            }
        }
        let (f, corrupt) = parse_frames(&d.take());
        assert_eq!(corrupt, 0);
        let idents: Vec<u8> = f.iter().filter(|x| x.0 == 0x81).map(|x| x.1[0]).collect();
        assert_eq!(idents.len() as u32, frames, "bursts={bursts}");
        assert!(idents.iter().enumerate().all(|(i, &t)| t == i as u8));
        let st = d.fw.status();
        assert!(st.rx_errors > 0 && st.overflows == 0);
    }
}

#[test]
fn rx_overflow_is_counted() {
    let mut d = Vdev::new();
    for _ in 0..137 + 10 {
        d.fw.rx_byte(b'x');
    }
    assert_eq!(d.fw.status().overflows, 11);
    d.feed(b"\nINFO\n");
    let rx_errors = if cfg!(feature = "text") { 1 } else { 0 }; // the too-long line of x
    assert_eq!(d.fw.status().rx_errors, rx_errors);
}

#[test]
fn fuzz_never_panics_never_writes_outside_and_keeps_answering() {
    let mut d = Vdev::new();
    let mut rng = Lcg(99);
    let mut bad_out = 0;
    let mut total_out = 0;
    let verbs = ["INFO", "READ", "WRITE", "STREAM", "STOP", "LIST", "STATUS", "BINARY", "TEXT", "HELP", "x"];
    let rounds = if cfg!(debug_assertions) { 60_000 } else { 200_000 };
    for _ in 0..rounds {
        let kind = rng.next() % 10;
        let mut input: Vec<u8>;
        if kind < 5 {
            let mut plen = (rng.next() % 40) as usize;
            let ty = (rng.next() % 10) as u8;
            let mut p: Vec<u8> = (0..plen).map(|_| rng.next() as u8).collect();
            if plen >= 5 && rng.next() % 2 == 1 {
                p[1..5].copy_from_slice(&(BASE - 8 + rng.next() % 0x160).to_le_bytes());
                if plen >= 7 {
                    p[5] = (rng.next() % 80) as u8;
                    p[6] = 0;
                }
            }
            if ty == 4 && plen >= 7 {
                p[1] = (rng.next() % 18) as u8;
                p[2..6].copy_from_slice(&(rng.next() % 1_200_000).to_le_bytes());
                let n = (plen - 7) / 6;
                p[6] = n as u8;
                plen = 7 + 6 * n;
                p.truncate(plen);
                for i in 0..n {
                    p[7 + 6 * i..11 + 6 * i].copy_from_slice(&(BASE - 4 + rng.next() % 0x150).to_le_bytes());
                    p[11 + 6 * i] = (rng.next() % 20) as u8;
                    p[12 + 6 * i] = 0;
                }
            }
            input = common::frame(ty, &p);
            if kind == 4 {
                let at = rng.next() as usize % input.len();
                input[at] ^= 1 << (rng.next() % 8);
            }
        } else if kind < 8 {
            let verb = verbs[(rng.next() % 11) as usize];
            let (a, z) = (BASE - 8 + rng.next() % 0x160, rng.next() % 70);
            let (hz, milli) = (rng.next() % 1100, rng.next() % 1000);
            input = format!("{verb} 0x{a:08X} {z} {hz}.{milli}\n").into_bytes();
        } else {
            input = (0..rng.next() % 60).map(|_| if rng.next() % 5 == 0 { 0xAA } else { rng.next() as u8 }).collect();
        }
        for &b in &input {
            d.fw.rx_byte(b);
            if rng.next() % 16 == 0 {
                d.fw.poll();
            }
        }
        d.fw.poll();
        if rng.next() % 3 == 0 {
            d.fw.tick();
        }
        if rng.next() % 4 == 0 {
            d.drain();
        }
        if d.out.len() > 1 << 19 {
            let out = std::mem::take(&mut d.out);
            // text lines between frames are fine; a damaged frame is not
            bad_out += parse_frames(&out).1;
            total_out += out.len();
        }
        assert!(d.guards_intact(), "wrote outside the device memory");
        assert_eq!(d.fw.port().depth.get(), 0);
    }
    let out = d.take();
    bad_out += parse_frames(&out).1;
    total_out += out.len();
    assert_eq!(bad_out, 0);
    assert!(total_out > 100_000, "only {total_out} bytes of output");
    assert_eq!(d.fw.port().max.get(), 1, "critical sections never nest");
    // and it still answers
    d.fw.poll();
    d.take();
    let (ty, p) = d.command(1, &[0x42]);
    assert_eq!((ty, p[0]), (0x81, 0x42));
}

#[cfg(feature = "word-access")]
#[test]
fn word_access_moves_the_same_bytes() {
    // aligned and unaligned READ, WRITE (binary and text) and streams: word access changes how
    // memory is touched, never what the host sees
    let mut bytes = Vdev::new();
    let mut words = Vdev::with_word_access(true);
    let mut script: Vec<Vec<u8>> = Vec::new();
    for (addr, size) in [(BASE, 8u16), (BASE + 2, 8), (BASE + 4, 6), (BASE + 0x100, 16), (BASE + 0xFC, 8)] {
        let mut p = vec![7];
        p.extend_from_slice(&addr.to_le_bytes());
        p.extend_from_slice(&size.to_le_bytes());
        script.push(common::frame(READ, &p));
        let mut w = vec![8];
        w.extend_from_slice(&addr.to_le_bytes());
        w.extend((0..size).map(|i| 0xC0 ^ i as u8));
        script.push(common::frame(3, &w));
        script.push(format!("WRITE 0x{:08X} A1B2C3D4\nREAD 0x{:08X} {}\nBINARY\n", addr, addr, size).into_bytes());
    }
    for d in [&mut bytes, &mut words] {
        d.start_stream(1, 1_000_000, &[(BASE, 4), (BASE + 8, 8), (BASE + 0x101, 3)]).unwrap();
        for s in &script {
            d.feed(s);
            d.tick(1);
        }
    }
    let (a, b) = (bytes.take(), words.take());
    assert!(a.len() > 500);
    assert_eq!(common::to_hex(&a), common::to_hex(&b));
    assert!((0..common::MEM_SIZE).all(|i| bytes.mem(i) == words.mem(i)));
    assert!(words.guards_intact());
}

/// Each text line's `|crc=XXXX` matches the line before it; returns the lines without it.
#[cfg(feature = "text")]
fn checked_lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    text.lines()
        .map(|l| {
            let (body, crc) = l.rsplit_once("|crc=").unwrap_or_else(|| panic!("no check: {l:?}"));
            assert_eq!(u16::from_str_radix(crc, 16).unwrap(), common::crc_ref(body.as_bytes()), "{l:?}");
            body.to_string()
        })
        .collect()
}

#[cfg(feature = "text")]
#[test]
fn a_text_list_longer_than_the_tx_ring_goes_out_a_line_at_a_time() {
    use firmwatch::{Config, NoPort, Region, Streamer};
    // 256-byte TX ring: 12 LIST lines of ~90 bytes do not fit at once
    type Small = Streamer<'static, NoPort, 16, 2, 24, 32, 64, 256, 73, 1000>;
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let regions: &'static [Region] = Box::leak(Box::new([Region::read_write(0x1000, 64)]));
    // SAFETY: the region maps onto the leaked buffer
    let cfg = unsafe { Config::new(regions).with_addr_offset((mem.as_mut_ptr() as usize).wrapping_sub(0x1000)) };
    let mut fw = Small::new(cfg, NoPort);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    let mut run = |fw: &mut Small, input: &[u8], out: &mut Vec<u8>| {
        for &b in input {
            fw.rx_byte(b);
        }
        for _ in 0..100 {
            fw.poll();
            let n = fw.tx_pop(&mut buf);
            out.extend_from_slice(&buf[..n]);
        }
    };
    for s in 0..12 {
        run(&mut fw, format!("STREAM 0x{:X} 2 1 {s}\n", 0x1000 + 4 * s).as_bytes(), &mut out);
    }
    out.clear();
    run(&mut fw, b"LIST\n", &mut out);
    let lines = checked_lines(&out);
    assert_eq!(lines.len(), 13, "{lines:?}");
    for (s, l) in lines.iter().take(12).enumerate() {
        assert_eq!(l, &format!("STREAM|stream={s}|rate_mhz=1000|regions=0x{:08X}+2", 0x1000 + 4 * s));
    }
    assert_eq!(lines[12], "OK|streams=12");
    assert!(fw.status().tx_high_water <= 256);
}

#[cfg(feature = "text")]
#[test]
fn text_samples_are_one_checked_unit_per_stream() {
    let mut d = Vdev::new();
    d.feed(b"TEXT\n");
    d.feed(b"STREAM 0x20000000 4 1000 3\nSTREAM 0x20000010 2 1000 7\n");
    d.take();
    d.tick(2);
    let lines = checked_lines(&d.take());
    assert_eq!(lines.len(), 4);
    // per tick: stream 3 then stream 7, each with a seq of its own
    let seqs: Vec<&str> = lines.iter().map(|l| l.split("|seq=").nth(1).unwrap().split('|').next().unwrap()).collect();
    assert_eq!(seqs, ["0", "1", "2", "3"]);
    assert!(lines[0].ends_with("|stream=3") && lines[1].ends_with("|stream=7"));
}
