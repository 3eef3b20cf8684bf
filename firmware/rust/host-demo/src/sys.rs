//! The few C library calls std does not wrap (the crate has no dependencies, not even `libc`):
//! poll(2), raw terminal mode, the pty ioctls, and the executable's program headers (for its
//! build id and load address). Linux, 64-bit.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::raw::{c_int, c_short, c_ulong, c_void};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};

const O_NOCTTY: i32 = 0o400;
const O_NONBLOCK: i32 = 0o4000;
const TIOCGPTN: c_ulong = 0x8004_5430;
const TIOCSPTLCK: c_ulong = 0x4004_5431;
const TCSANOW: c_int = 0;
pub const POLLIN: c_short = 1;
pub const POLLOUT: c_short = 4;
const PT_NOTE: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PollFd {
    pub fd: c_int,
    pub events: c_short,
    pub revents: c_short,
}

#[repr(C)]
struct Phdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_paddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
}

#[repr(C)]
struct DlPhdrInfo {
    addr: usize,
    name: *const u8,
    phdr: *const Phdr,
    phnum: u16,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn tcgetattr(fd: c_int, termios: *mut c_void) -> c_int;
    fn tcsetattr(fd: c_int, action: c_int, termios: *const c_void) -> c_int;
    fn cfmakeraw(termios: *mut c_void);
    fn dl_iterate_phdr(
        callback: extern "C" fn(info: *const DlPhdrInfo, size: usize, data: *mut c_void) -> c_int,
        data: *mut c_void,
    ) -> c_int;
}

/// poll(2) with a timeout in milliseconds; EINTR counts as "nothing ready".
pub fn poll_fds(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<()> {
    // SAFETY: the pointer and length describe a valid, exclusively borrowed array
    let r = unsafe { poll(fds.as_mut_ptr(), fds.len() as c_ulong, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Raw mode (no echo, no line discipline, 8-bit clean), as a UART is.
fn make_raw(fd: RawFd) -> io::Result<()> {
    let mut t = [0u64; 32]; // struct termios is 60 bytes on Linux
    // SAFETY: `t` is larger than struct termios and suitably aligned
    unsafe {
        if tcgetattr(fd, t.as_mut_ptr().cast()) != 0 {
            return Err(io::Error::last_os_error());
        }
        cfmakeraw(t.as_mut_ptr().cast());
        if tcsetattr(fd, TCSANOW, t.as_ptr().cast()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A new pseudo-terminal: (master, non-blocking; slave, held open; slave path).
/// Holding the slave open keeps the master usable while no host is attached, so a host can
/// close the port and reconnect at any time.
pub fn open_pty() -> io::Result<(File, File, String)> {
    let master = OpenOptions::new().read(true).write(true).custom_flags(O_NOCTTY | O_NONBLOCK).open("/dev/ptmx")?;
    let fd = master.as_raw_fd();
    let unlock: c_int = 0;
    let mut n: u32 = 0;
    // SAFETY: the ioctls take a pointer to an int, which outlives the calls
    unsafe {
        if ioctl(fd, TIOCSPTLCK, &unlock as *const c_int) != 0 || ioctl(fd, TIOCGPTN, &mut n as *mut u32) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let path = format!("/dev/pts/{n}");
    let slave = OpenOptions::new().read(true).write(true).custom_flags(O_NOCTTY).open(&path)?;
    make_raw(slave.as_raw_fd())?;
    make_raw(fd)?;
    Ok((master, slave, path))
}

/// What the executable's program headers say: its load bias (0 when not position-independent)
/// and the descriptor of its GNU build-id note.
pub struct Image {
    pub bias: usize,
    pub build_id: Vec<u8>,
}

extern "C" fn first_object(info: *const DlPhdrInfo, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: the dynamic loader hands a valid info for the executable (the first object),
    // whose note segments are mapped; `data` is the `Image` passed below
    unsafe {
        let info = &*info;
        let image = &mut *data.cast::<Image>();
        image.bias = info.addr;
        for i in 0..usize::from(info.phnum) {
            let ph = &*info.phdr.add(i);
            if ph.p_type != PT_NOTE {
                continue;
            }
            let note = std::slice::from_raw_parts((info.addr + ph.p_vaddr as usize) as *const u8, ph.p_memsz as usize);
            if let Some(id) = firmwatch::gnu_build_id(note) {
                image.build_id = id.to_vec();
            }
        }
    }
    1 // only the first object (the executable itself) matters
}

pub fn image() -> Image {
    let mut image = Image { bias: 0, build_id: Vec::new() };
    // SAFETY: the callback only writes into `image`, which outlives the call
    unsafe { dl_iterate_phdr(first_object, (&mut image as *mut Image).cast()) };
    image
}
