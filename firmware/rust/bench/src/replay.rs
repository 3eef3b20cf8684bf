//! `replay < script > output`: replay.c on the Rust crate (see there): the same vector device,
//! the same script operations, the same output, so the two cores can be compared byte for byte.

use firmwatch::{Config, NoPort, Region, Streamer};
use std::io::{Read, Write};

static REGIONS: [Region; 2] = [Region::read_write(0x2000_0000, 0x100), Region::read_only(0x2000_0100, 0x40)];
static BUILD_ID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

struct Script {
    bytes: Vec<u8>,
    at: usize,
}

impl Script {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
    fn u8(&mut self) -> u8 {
        let b = *self.bytes.get(self.at).unwrap_or_else(|| std::process::exit(1));
        self.at += 1;
        b
    }
    fn u16(&mut self) -> usize {
        usize::from(self.u8()) | usize::from(self.u8()) << 8
    }
}

fn main() {
    let mut script = Script { bytes: Vec::new(), at: 0 };
    std::io::stdin().read_to_end(&mut script.bytes).expect("stdin");
    let mem: *mut [u8] = Box::into_raw((0..0x140).map(|i| i as u8).collect::<Vec<u8>>().into_boxed_slice());
    let base = mem as *mut u8 as usize;
    // SAFETY: the regions map onto the leaked buffer, which nothing else touches meanwhile
    let cfg = unsafe { Config::new(&REGIONS).with_addr_offset(base.wrapping_sub(0x2000_0000)) }
        .with_build_id(&BUILD_ID)
        .with_word_size(4);
    let mut fw: Streamer<NoPort> = Streamer::new(cfg, NoPort);
    #[cfg(feature = "options")]
    fw.capture_init(Box::leak(vec![0u8; 256].into_boxed_slice()), 100_000, 1000);
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut buf = vec![0u8; 65536];
    while !script.done() {
        match script.u8() {
            1 => {
                for _ in 0..script.u16() {
                    fw.rx_byte(script.u8());
                }
            }
            2 => {
                for _ in 0..script.u8() {
                    fw.tick();
                }
            }
            3 => fw.poll(),
            4 => {
                let n = script.u16();
                let k = fw.tx_pop(&mut buf[..n]);
                out.write_all(&buf[..k]).unwrap();
            }
            #[cfg(feature = "options")]
            5 => {
                for _ in 0..script.u8() {
                    fw.capture_timer();
                }
            }
            #[cfg(feature = "options")]
            6 => fw.capture_slip(u32::from(script.u8())),
            _ => std::process::exit(2),
        }
    }
    loop {
        let k = fw.tx_pop(&mut buf);
        if k == 0 {
            break;
        }
        out.write_all(&buf[..k]).unwrap();
    }
    let st = fw.status();
    write!(
        out,
        "\nstatus dropped={} overflows={} rx_errors={} ticks={} tx_high_water={} streams={} text={}\nmemory ",
        st.dropped, st.overflows, st.rx_errors, st.ticks, st.tx_high_water, st.streams, u8::from(st.text_output)
    )
    .unwrap();
    // SAFETY: the streamer is done with the buffer; read the device memory back
    for b in unsafe { &*mem } {
        write!(out, "{b:02x}").unwrap();
    }
    writeln!(out).unwrap();
}
