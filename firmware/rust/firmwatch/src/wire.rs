//! Wire constants of `docs/protocol.md` and the frame CRC.

/// `proto_version` in IDENT and `proto=` in INFO.
pub const PROTO_VERSION: u8 = 2;

/// First two bytes of every binary frame.
pub const SYNC: [u8; 2] = [0xAA, 0x55];
/// Last byte of every binary frame.
pub const TRAILER: u8 = 0x0A;
/// Bytes a binary frame adds to its payload: sync, type, length, CRC, trailer.
pub const FRAME_OVERHEAD: usize = 8;

/// Message types (section 5 and 6).
#[allow(missing_docs)]
pub mod msg {
    pub const IDENTIFY: u8 = 0x01;
    pub const READ: u8 = 0x02;
    pub const WRITE: u8 = 0x03;
    pub const STREAM_START: u8 = 0x04;
    pub const STREAM_STOP: u8 = 0x05;
    pub const LIST: u8 = 0x06;
    pub const STATUS: u8 = 0x07;
    pub const MODE: u8 = 0x08;
    pub const ACK: u8 = 0x80;
    pub const IDENT: u8 = 0x81;
    pub const READ_DATA: u8 = 0x82;
    pub const WRITE_DATA: u8 = 0x83;
    pub const LIST_DATA: u8 = 0x86;
    pub const STATUS_DATA: u8 = 0x87;
    pub const SAMPLES: u8 = 0x90;
    pub const ERROR: u8 = 0xEE;
}

/// Error codes (section 9).
#[allow(missing_docs)]
pub mod err {
    pub const BAD_COMMAND: u8 = 1;
    pub const BAD_LENGTH: u8 = 2;
    pub const NOT_READABLE: u8 = 3;
    pub const NOT_WRITABLE: u8 = 4;
    pub const NO_STREAM: u8 = 5;
    pub const TOO_MANY_REGIONS: u8 = 6;
    pub const STREAM_TOO_BIG: u8 = 7;
    pub const BAD_RATE: u8 = 8;
    pub const TOO_BIG: u8 = 9;
    pub const BAD_MODE: u8 = 10;
    pub const READBACK: u8 = 11;
}

// A nibble table (32 bytes): about 4x faster than bitwise, as in the C core.
const CRC_NIBBLES: [u16; 16] = [
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7, 0x8108, 0x9129, 0xA14A,
    0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
];

/// One byte of CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
#[inline]
pub fn crc16(crc: u16, byte: u8) -> u16 {
    let crc = (crc << 4) ^ CRC_NIBBLES[usize::from(((crc >> 12) as u8 ^ (byte >> 4)) & 15)];
    (crc << 4) ^ CRC_NIBBLES[usize::from(((crc >> 12) as u8 ^ byte) & 15)]
}

/// CRC-16/CCITT-FALSE of `data` (`"123456789"` gives `0x29B1`).
pub fn crc16_of(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF, |c, &b| crc16(c, b))
}
