//! `tick-bench N`: N ticks of 16 streams x 4 bytes (all due every tick), output drained after
//! every tick; prints `ns_per_sample <x> bytes <n>`. Mirrors tick_bench.c line for line.

use firmwatch::{Config, NoPort, Region, Streamer};
use std::time::Instant;

fn crc(data: &[u8]) -> u16 {
    firmwatch::wire::crc16_of(data)
}

fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![ty, payload.len() as u8, (payload.len() >> 8) as u8];
    body.extend_from_slice(payload);
    let c = crc(&body);
    let mut f = vec![0xAA, 0x55];
    f.extend_from_slice(&body);
    f.extend_from_slice(&[c as u8, (c >> 8) as u8, 0x0A]);
    f
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let ram: &'static mut [u8; 256] = Box::leak(Box::new([0u8; 256]));
    let base = ram.as_mut_ptr() as usize;
    let regions: &'static [Region] = Box::leak(Box::new([Region::read_write(0x2000_0000, 256)]));
    // SAFETY: the region maps onto the leaked buffer, used by nothing else
    let cfg = unsafe { Config::new(regions).with_addr_offset(base.wrapping_sub(0x2000_0000)) };
    let mut fw: Streamer<NoPort> = Streamer::new(cfg, NoPort);
    let mut out = [0u8; 2048];
    for s in 0..16u8 {
        let mut p = vec![s, s];
        p.extend_from_slice(&1_000_000u32.to_le_bytes());
        p.push(1);
        p.extend_from_slice(&(0x2000_0000u32 + 4 * u32::from(s)).to_le_bytes());
        p.extend_from_slice(&4u16.to_le_bytes());
        for b in frame(4, &p) {
            fw.rx_byte(b);
        }
        fw.poll();
        while fw.tx_pop(&mut out) > 0 {}
    }
    let mut bytes = 0u64;
    let t0 = Instant::now();
    for i in 0..n {
        ram[(i % 64) as usize] = i as u8; // the values change, as a firmware's would
        fw.tick();
        loop {
            let k = fw.tx_pop(&mut out);
            if k == 0 {
                break;
            }
            bytes += k as u64;
        }
    }
    let ns = t0.elapsed().as_nanos() as f64;
    println!("ns_per_sample {:.2} bytes {} dropped {}", ns / (n as f64 * 16.0), bytes, fw.status().dropped);
}
