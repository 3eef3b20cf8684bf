//! The region table and the device description (the C core's `fw_config_t`), and the only
//! `unsafe` code of the crate: volatile byte access to the memory the table names.

/// What the host may do with a region (`access` in IDENT: bit 0 readable, bit 1 writable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    /// Readable only (flash, `.rodata`, a status register block).
    pub const READ: Access = Access(1);
    /// Writable only (rare: write-only registers).
    pub const WRITE: Access = Access(2);
    /// Readable and writable (`.data`, `.bss`).
    pub const READ_WRITE: Access = Access(3);

    /// The wire bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is granted.
    pub const fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
}

/// One entry of the region table: `size` bytes from the ELF address `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// ELF address of the first byte.
    pub start: u32,
    /// Bytes in the region.
    pub size: u32,
    /// What the host may do there.
    pub access: Access,
}

impl Region {
    /// A region with the given access.
    pub const fn new(start: u32, size: u32, access: Access) -> Region {
        Region { start, size, access }
    }

    /// A readable region.
    pub const fn read_only(start: u32, size: u32) -> Region {
        Region::new(start, size, Access::READ)
    }

    /// A readable and writable region.
    pub const fn read_write(start: u32, size: u32) -> Region {
        Region::new(start, size, Access::READ_WRITE)
    }

    /// An empty placeholder (grants nothing), for tables filled in at start-up.
    pub const EMPTY: Region = Region::new(0, 0, Access(0));
}

/// The device as the host sees it: the region table (the only memory the streamer will touch),
/// the build id, and how to reach memory from an ELF address.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    regions: &'a [Region],
    build_id: &'a [u8],
    word_size: u8,
    big_endian: u8, // not `bool`: see Streamer's flags
    word_access: u8,
    addr_offset: usize,
}

impl Config<'static> {
    /// A device with no memory at all: every READ, WRITE and stream is refused. Useful as the
    /// initial value of a `static` streamer that is given its real table at start-up
    /// ([`crate::Streamer::init`]).
    pub const fn empty() -> Config<'static> {
        Config {
            regions: &[],
            build_id: &[],
            word_size: core::mem::size_of::<usize>() as u8,
            big_endian: cfg!(target_endian = "big") as u8,
            word_access: 0,
            addr_offset: 0,
        }
    }
}

impl<'a> Config<'a> {
    /// A device whose memory is described by `regions` (at most 255 are reported and used).
    /// The word size and byte order are the target's; no build id; ELF addresses are the
    /// running addresses.
    ///
    /// # Safety
    /// Every byte of every region, at the address the ELF address maps to (see
    /// [`Config::with_addr_offset`]), must be memory this program may access with volatile
    /// byte reads — and, for regions granting [`Access::WRITE`], byte writes — at any moment
    /// for as long as a [`crate::Streamer`] uses this configuration. The host decides what is
    /// written there: give write access only to memory where any byte value is acceptable
    /// (plain data: integers, floats, byte arrays — not `bool`, enums or references, whose
    /// invalid bit patterns the host could create).
    pub const unsafe fn new(regions: &'a [Region]) -> Config<'a> {
        let empty = Config::empty();
        Config { regions, build_id: &[], ..empty }
    }

    /// The firmware's GNU build id (the descriptor of `.note.gnu.build-id`; at most 255
    /// bytes are reported), which the host compares with the ELF it was given.
    pub const fn with_build_id(self, build_id: &'a [u8]) -> Config<'a> {
        Config { build_id, ..self }
    }

    /// The target's `sizeof(void *)` as reported in IDENT (default: the compiling target's).
    pub const fn with_word_size(self, word_size: u8) -> Config<'a> {
        Config { word_size, ..self }
    }

    /// The target's byte order as reported in IDENT (default: the compiling target's).
    pub const fn with_big_endian(self, big_endian: bool) -> Config<'a> {
        Config { big_endian: big_endian as u8, ..self }
    }

    /// Move aligned whole words as single 32-bit accesses (the C core's `FW_WORD_ACCESS`):
    /// when a READ, WRITE or stream region starts on a 4-byte boundary and is a multiple of 4
    /// bytes long, it is read and written word by word — as memory-mapped peripheral registers
    /// need (a byte load faults on many buses, or reads one lane of the register), and a word
    /// read in one access is coherent. Anything else still moves byte by byte. Off by default;
    /// needs the crate feature `word-access` (the C core's `FW_WORD_ACCESS`).
    #[cfg(feature = "word-access")]
    pub const fn with_word_access(self, on: bool) -> Config<'a> {
        Config { word_access: on as u8, ..self }
    }

    /// Memory of ELF address `a` is at `(a as usize).wrapping_add(offset)`: 0 (the default)
    /// where the ELF's addresses are the running ones, the load bias of a position-independent
    /// executable, or `0usize.wrapping_sub(0x800000)`-style offsets where the ELF numbers a
    /// separate data space (AVR; on a 16-bit target the `as usize` already drops it).
    ///
    /// # Safety
    /// As for [`Config::new`], for the translated addresses.
    pub const unsafe fn with_addr_offset(self, offset: usize) -> Config<'a> {
        Config { addr_offset: offset, ..self }
    }

    /// The region table as reported (at most 255 entries).
    pub fn regions(&self) -> &'a [Region] {
        let n = if self.regions.len() > 255 { 255 } else { self.regions.len() };
        self.regions.get(..n).unwrap_or(&[])
    }

    /// The build id as reported (at most 255 bytes).
    pub fn build_id(&self) -> &'a [u8] {
        let n = if self.build_id.len() > 255 { 255 } else { self.build_id.len() };
        self.build_id.get(..n).unwrap_or(&[])
    }

    /// Reported `word_size`.
    pub fn word_size(&self) -> u8 {
        self.word_size
    }

    /// Reported byte order.
    pub fn big_endian(&self) -> bool {
        self.big_endian != 0
    }

    /// `Ok(())` when `[addr, addr + size)` lies inside regions granting `access` (a range may
    /// span adjacent regions, e.g. `.data` then `.bss`); else the first address not covered
    /// (mod 2^32). All arithmetic is relative, so nothing overflows at the top of the space.
    pub fn check_range(&self, mut addr: u32, mut size: u32, access: Access) -> Result<(), u32> {
        let regions = self.regions();
        while size != 0 {
            let avail = regions
                .iter()
                .find(|r| r.access.contains(access) && addr.wrapping_sub(r.start) < r.size)
                .map_or(0, |r| r.size - addr.wrapping_sub(r.start));
            if avail == 0 {
                return Err(addr);
            }
            if avail >= size {
                return Ok(());
            }
            size -= avail;
            addr = addr.wrapping_add(avail);
            if addr == 0 {
                return Err(0); // the range would wrap past the top of the address space
            }
        }
        Ok(())
    }

    fn ptr(&self, addr: u32) -> *mut u8 {
        (addr as usize).wrapping_add(self.addr_offset) as *mut u8
    }

    /// One byte of target memory.
    ///
    /// Only called for addresses [`Config::check_range`] accepted as readable: a READ's
    /// range just checked, or a stream region checked when its STREAM_START was accepted
    /// under this same configuration ([`crate::Streamer::init`] clears the streams).
    #[inline]
    pub(crate) fn read(&self, addr: u32) -> u8 {
        // SAFETY: the address lies in a readable region (see above), which `Config::new`'s
        // caller promised is readable with volatile byte reads at any time.
        unsafe { core::ptr::read_volatile(self.ptr(addr)) }
    }

    /// Whether `[addr, addr + size)` moves as whole 32-bit words.
    #[inline]
    pub(crate) fn words(&self, addr: u32, size: u16) -> bool {
        cfg!(feature = "word-access")
            && self.word_access != 0
            && ((self.ptr(addr) as usize) | usize::from(size)) & 3 == 0
    }

    /// One aligned word of target memory, in memory order; same contract as [`Config::read`],
    /// for a word [`Config::words`] accepted.
    #[inline]
    pub(crate) fn read_word(&self, addr: u32) -> [u8; 4] {
        // SAFETY: as for `read`; the address is 4-byte aligned (checked by `words`)
        unsafe { core::ptr::read_volatile(self.ptr(addr) as *const u32) }.to_ne_bytes()
    }

    /// Store one aligned word (bytes in memory order); same contract as [`Config::write`].
    #[inline]
    pub(crate) fn write_word(&self, addr: u32, bytes: [u8; 4]) {
        // SAFETY: as for `write`; the address is 4-byte aligned (checked by `words`)
        unsafe { core::ptr::write_volatile(self.ptr(addr) as *mut u32, u32::from_ne_bytes(bytes)) }
    }

    /// Store one byte; only called for addresses accepted as writable just before.
    #[inline]
    pub(crate) fn write(&self, addr: u32, value: u8) {
        // SAFETY: the address lies in a writable region, which `Config::new`'s caller
        // promised may take volatile byte writes of any value at any time.
        unsafe { core::ptr::write_volatile(self.ptr(addr), value) }
    }
}
