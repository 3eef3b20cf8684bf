//! What the streamer needs from the firmware around it (the C core's `fw_port_*` hooks).

/// The two hooks of a port. Both have defaults, so a port implements only what it needs.
pub trait Port {
    /// Run `f` so that no interrupt handler (or thread) that changes watched variables runs in
    /// the middle of it: on a Cortex-M, with PRIMASK set (`cortex_m::interrupt::free`, or
    /// `critical_section::with`), restoring the previous state afterwards.
    ///
    /// The streamer calls it around each stream's copy (one coherent snapshot of all the
    /// stream's regions), around a READ's copy and around a WRITE's stores. It never nests
    /// calls. The default runs `f` directly: right when every context that changes watched
    /// values already holds the lock the streamer is called under (e.g. the tick handler has
    /// the highest priority and the application updates its values inside the same lock).
    #[inline]
    fn critical_section<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }

    /// Output became pending (a reply or a frame of samples was queued): enable the UART's
    /// TX-empty interrupt, pend a task or wake a writer thread. The default does nothing,
    /// for firmware that drains output from its main loop anyway.
    #[inline]
    fn tx_ready(&self) {}

    /// The capture timer (feature `capture`, a timer given to [`crate::Streamer::capture_init`]):
    /// `divider` != 0 — interrupt every `divider` periods of its clock and call
    /// [`crate::Streamer::capture_timer`] from that interrupt; 0 — stop. Called when a capture
    /// on the timer starts and stops (also from the sampling interrupt when it completes).
    #[cfg(feature = "capture")]
    #[inline]
    fn capture_timer(&self, divider: u32) {
        let _ = divider;
    }
}

/// A port with nothing to mask and nothing to wake.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPort;

impl Port for NoPort {}
