//! The shared protocol vectors (docs/protocol-vectors.json), the same ones the C core and the
//! Python host check: CRCs, whole device sessions, and corrupted input with the device's exact
//! reply bytes and error count.

mod common;

use common::json::{self, Json};
use common::{hex, to_hex, Vdev};
use std::path::PathBuf;

/// docs/protocol-vectors.json, or the file FIRMWATCH_VECTORS names (the pytest suite passes a
/// deliberately corrupted copy to show these tests can fail).
fn vectors() -> Json {
    let path = std::env::var_os("FIRMWATCH_VECTORS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../docs/protocol-vectors.json")
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    json::parse(&text)
}

fn expected(step: &Json) -> Vec<u8> {
    match (step.get("expect_hex"), step.get("expect_text")) {
        (Some(h), _) => hex(h.str()),
        (None, Some(t)) => t.str().as_bytes().to_vec(),
        _ => panic!("step without an expectation: {step:?}"),
    }
}

/// Runs one session; returns the number of expectations checked.
fn run_session(name: &str, steps: &[Json]) -> usize {
    let mut dev = Vdev::new();
    let mut checked = 0;
    for (k, step) in steps.iter().enumerate() {
        if let Some(h) = step.get("send_hex") {
            dev.feed(&hex(h.str()));
        }
        if let Some(t) = step.get("send_text") {
            dev.feed(t.str().as_bytes());
        }
        if let Some(n) = step.get("ticks") {
            dev.tick(n.num() as usize);
        }
        if let Some(n) = step.get("capture_timer") {
            dev.capture_timer(n.num() as usize);
        }
        let got = dev.take();
        let want = expected(step);
        assert!(
            got == want,
            "session {name:?} step {k} ({}):\n  expected {}\n  got      {}\n  as text: {:?}",
            step.get("note").map_or("", |n| n.str()),
            to_hex(&want),
            to_hex(&got),
            String::from_utf8_lossy(&got)
        );
        if let Some(e) = step.get("rx_errors") {
            assert_eq!(u64::from(dev.fw.status().rx_errors), e.num() as u64, "session {name:?} step {k}: rx_errors");
        }
        assert!(dev.guards_intact(), "session {name:?} step {k} wrote outside the device memory");
        checked += 1;
    }
    checked
}

/// Whether `bytes` hold printable bytes outside good binary frames (i.e. text).
fn has_text(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let (frames, _) = common::parse_frames(&bytes[i..]);
        if bytes[i] == 0xAA && !frames.is_empty() && bytes[i..].starts_with(&common::frame(frames[0].0, &frames[0].1)) {
            i += frames[0].1.len() + 8;
            continue;
        }
        if (0x20..0x7F).contains(&bytes[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether a session uses the text mode: text sent or expected back.
fn text_session(steps: &[Json]) -> bool {
    steps.iter().any(|s| {
        s.get("send_text").is_some()
            || s.get("expect_text").is_some()
            || s.get("send_hex").map_or(false, |h| has_text(&hex(h.str())))
            || has_text(&expected(s))
    })
}

#[test]
fn crc_vectors() {
    let v = vectors();
    let crcs = v.get("crc").unwrap().arr();
    assert!(crcs.len() >= 3);
    for c in crcs {
        let want = u16::from_str_radix(c.get("crc").unwrap().str(), 16).unwrap();
        assert_eq!(firmwatch::wire::crc16_of(&hex(c.get("hex").unwrap().str())), want, "{c:?}");
    }
}

#[test]
fn frame_vectors_carry_the_crc_the_crate_computes() {
    let v = vectors();
    let mut n = 0;
    for f in v.get("vectors").unwrap().arr() {
        if f.get("valid") != Some(&Json::Bool(true)) {
            continue;
        }
        let b = hex(f.get("hex").unwrap().str());
        let len = b.len();
        let crc = u16::from_le_bytes([b[len - 3], b[len - 2]]);
        assert_eq!(firmwatch::wire::crc16_of(&b[2..len - 3]), crc, "{}", f.get("name").unwrap().str());
        n += 1;
    }
    assert!(n > 40, "only {n} valid frame vectors");
}

#[test]
fn device_sessions() {
    let v = vectors();
    let d = v.get("device").unwrap();
    // the vector device this test builds must be the one the vectors describe
    assert_eq!(d.get("build_id").unwrap().str(), to_hex(&common::BUILD_ID));
    assert_eq!(d.get("max_streams").unwrap().num() as usize, 16);
    assert_eq!(d.get("max_total_regions").unwrap().num() as usize, 24);
    assert_eq!(d.get("tx_size").unwrap().num() as usize, 1024);
    let opts = d.get("options").unwrap().get("capture").unwrap();
    assert_eq!(opts.get("buffer_bytes").unwrap().num() as usize, common::CAPTURE_BUFFER);
    assert_eq!(opts.get("timer_hz").unwrap().num() as u32, common::CAPTURE_TIMER_HZ);
    assert_eq!(opts.get("timer_max_divider").unwrap().num() as u32, common::CAPTURE_TIMER_MAX_DIVIDER);
    let mut checked = 0;
    // a session applies to the build with exactly its optional modules
    let mine = common::options();
    for s in v.get("sessions").unwrap().arr() {
        let steps = s.get("steps").unwrap().arr();
        let wants: Vec<&str> = s.get("options").unwrap().arr().iter().map(|o| o.str()).collect();
        if wants != mine || (cfg!(not(feature = "text")) && text_session(steps)) {
            continue;
        }
        checked += run_session(s.get("name").unwrap().str(), steps);
    }
    let floor = match (mine.len(), cfg!(feature = "text")) {
        (0, true) => 60,
        (0, false) => 3,
        (2, _) => 60, // the change-only and the capture sessions
        _ => 0,       // one module alone: no session is written for that build
    };
    assert!(checked >= floor, "only {checked} steps checked");
}

#[test]
fn corrupt_input_vectors() {
    if !common::options().is_empty() {
        return; // written for the minimal core (an IDENT reply shows its flags)
    }
    let v = vectors();
    let mut checked = 0;
    for c in v.get("corrupt").unwrap().arr() {
        if c.get("dir").unwrap().str() != "host_to_device" {
            continue; // host decoder vectors
        }
        let step = Json::Obj(
            [
                ("send_hex".to_string(), c.get("hex").unwrap().clone()),
                ("expect_hex".to_string(), c.get("reply_hex").unwrap().clone()),
                ("rx_errors".to_string(), c.get("rx_errors").unwrap().clone()),
            ]
            .into_iter()
            .collect(),
        );
        let name = c.get("name").unwrap().str();
        if cfg!(not(feature = "text")) && text_session(std::slice::from_ref(&step)) {
            continue;
        }
        checked += run_session(name, std::slice::from_ref(&step));
    }
    assert!(checked >= if cfg!(feature = "text") { 10 } else { 3 }, "only {checked} corrupt vectors checked");
}
