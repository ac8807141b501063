//! A stopwatch for timing calls: the CPU's time-stamp counter where it can be trusted, the
//! system clock otherwise.

use std::fmt;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// Measures how long calls take, with two cheap readings a call.
///
/// [`Stopwatch::system`] reads [`SystemClock`] (`Instant`, `CLOCK_MONOTONIC`). On x86-64,
/// [`Stopwatch::tsc`] reads the time-stamp counter instead (`rdtsc`, no system call, no vDSO),
/// scaled to nanoseconds by a calibration against the system clock taken once: about a tenth
/// of the instructions of an `Instant` reading, for metered calls that read it twice.
///
/// Only differences between readings of the same stopwatch mean anything:
/// [`nanos_between`](Self::nanos_between) turns two [`raw`](Self::raw) readings into
/// nanoseconds.
///
/// # When the counter is trusted
///
/// [`Stopwatch::tsc`] answers `None`, and the caller keeps the system clock, unless the CPU
/// reports an *invariant* counter (CPUID leaf `0x8000_0007`, EDX bit 8: it ticks at a constant
/// rate in every power state) and the calibration is plausible (a rate between 10 MHz and
/// 100 GHz). A counter that is invariant may still differ between sockets; breaker-runtime
/// therefore also asks Linux, and uses the counter only when the kernel's own clock source is
/// `tsc` (the kernel checks that the counters agree before it picks it). A reading taken on one
/// core and compared with one from another core that is behind it gives 0, never a wrapped
/// duration.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::Stopwatch;
///
/// // The counter if this machine has a trustworthy one, else the system clock.
/// let watch = Stopwatch::tsc(Duration::from_millis(2)).unwrap_or_else(Stopwatch::system);
/// let start = watch.raw();
/// std::thread::sleep(Duration::from_millis(1));
/// let nanos = watch.nanos_between(start, watch.raw());
/// assert!(nanos >= 900_000, "{nanos}");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Stopwatch {
    source: Source,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// [`SystemClock`] nanoseconds.
    System,
    /// Counter ticks, and nanoseconds per tick as a 32.32 fixed-point number.
    Tsc { nanos_per_tick: u64 },
}

impl Stopwatch {
    /// A stopwatch that reads [`SystemClock`]: available everywhere, nothing to calibrate.
    pub const fn system() -> Self {
        Stopwatch { source: Source::System }
    }

    /// A stopwatch that reads the time-stamp counter, calibrated against [`SystemClock`] over
    /// `calibration` (the calling thread sleeps that long), or `None` where the counter is not
    /// trusted: not x86-64, no invariant counter, or a calibration that makes no sense (see
    /// [When the counter is trusted](Self#when-the-counter-is-trusted)). The longer the
    /// calibration, the smaller the rate's error: about 100 ns of reading jitter over the
    /// calibration, so under 0.01% for 2 ms.
    pub fn tsc(calibration: Duration) -> Option<Self> {
        if !counter::is_invariant() {
            return None;
        }
        let (ticks_before, nanos_before) = counter::paired_reading();
        std::thread::sleep(calibration);
        let (ticks_after, nanos_after) = counter::paired_reading();
        Self::from_calibration(ticks_after.checked_sub(ticks_before)?, nanos_after.checked_sub(nanos_before)?)
    }

    /// The stopwatch for a counter that ticked `ticks` while the system clock moved `nanos`,
    /// if that rate is plausible (10 MHz to 100 GHz) and measured over at least a microsecond.
    fn from_calibration(ticks: u64, nanos: u64) -> Option<Self> {
        if ticks == 0 || nanos < 1_000 {
            return None;
        }
        let nanos_per_tick = u64::try_from((u128::from(nanos) << 32) / u128::from(ticks)).ok()?;
        // 100 GHz is 0.01 ns a tick, 10 MHz is 100 ns a tick.
        ((1 << 32) / 100..=100 << 32)
            .contains(&nanos_per_tick)
            .then_some(Stopwatch { source: Source::Tsc { nanos_per_tick } })
    }

    /// Whether this stopwatch reads the time-stamp counter.
    pub fn is_tsc(&self) -> bool {
        matches!(self.source, Source::Tsc { .. })
    }

    /// The counter's rate in ticks a second, as calibrated; `None` for the system clock.
    pub fn ticks_per_second(&self) -> Option<u64> {
        match self.source {
            Source::System => None,
            Source::Tsc { nanos_per_tick } => {
                u64::try_from((1_000_000_000_u128 << 32) / u128::from(nanos_per_tick)).ok()
            }
        }
    }

    /// A reading: counter ticks or system-clock nanoseconds. Only differences mean anything.
    #[inline]
    pub fn raw(&self) -> u64 {
        match self.source {
            Source::System => system_nanos(),
            Source::Tsc { .. } => counter::read(),
        }
    }

    /// The nanoseconds from the reading `start` to the later reading `end` of this stopwatch;
    /// 0 if `end` is earlier (a reading from a core whose counter is behind).
    #[inline]
    pub fn nanos_between(&self, start: u64, end: u64) -> u64 {
        let elapsed = end.saturating_sub(start);
        match self.source {
            Source::System => elapsed,
            // Saturates after 2^32 ns a tick: centuries.
            Source::Tsc { nanos_per_tick } => {
                u64::try_from((u128::from(elapsed) * u128::from(nanos_per_tick)) >> 32).unwrap_or(u64::MAX)
            }
        }
    }
}

/// A [`SystemClock`] reading, out of line: inlined, the `Instant` arithmetic made every
/// reader of a counter stopwatch bigger (3 instructions more a metered call in
/// `scripts/callgrind call_prometheus`), for a branch such a stopwatch never takes.
#[inline(never)]
fn system_nanos() -> u64 {
    SystemClock.now_nanos()
}

impl fmt::Debug for Stopwatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ticks_per_second() {
            None => f.write_str("Stopwatch(System)"),
            Some(hz) => write!(f, "Stopwatch(Tsc {{ ticks_per_second: {hz} }})"),
        }
    }
}

impl Default for Stopwatch {
    /// [`Stopwatch::system`].
    fn default() -> Self {
        Stopwatch::system()
    }
}

#[cfg(target_arch = "x86_64")]
mod counter {
    use std::arch::x86_64::{__cpuid, _rdtsc};

    use crate::clock::{Clock, SystemClock};

    /// Whether CPUID reports an invariant time-stamp counter (leaf `0x8000_0007`, EDX bit 8).
    pub(super) fn is_invariant() -> bool {
        // SAFETY: `cpuid` exists on every x86-64 CPU and only writes registers; leaf
        // `0x8000_0007` is asked for only when leaf `0x8000_0000` says it exists. Safe
        // to call in recent Rust, unsafe in older releases such as our `rust-version` (1.85):
        // hence the block.
        #[allow(unsafe_code, unused_unsafe)]
        unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
        }
    }

    /// The time-stamp counter.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` exists on every x86-64 CPU, reads a register and touches no memory.
        // Unsafe only because it is an intrinsic; the benchmark in BENCHMARKS.md ("The metered
        // call's clock") shows what it pays: a metered call's two readings cost about a tenth of
        // `Instant`'s instructions.
        #[allow(unsafe_code)]
        unsafe {
            _rdtsc()
        }
    }

    /// A counter reading and a [`SystemClock`] reading taken together: the system reading
    /// bracketed by two counter readings, the tightest pair of a few tries, so that being
    /// preempted between them cannot skew a calibration.
    pub(super) fn paired_reading() -> (u64, u64) {
        let mut best = (u64::MAX, 0, 0);
        for _ in 0..8 {
            let before = read();
            let nanos = SystemClock.now_nanos();
            let after = read();
            let width = after.wrapping_sub(before);
            if after >= before && width < best.0 {
                best = (width, before + width / 2, nanos);
            }
        }
        (best.1, best.2)
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod counter {
    pub(super) fn is_invariant() -> bool {
        false
    }

    /// Never called: no counter stopwatch is built without [`is_invariant`].
    #[inline]
    pub(super) fn read() -> u64 {
        0
    }

    pub(super) fn paired_reading() -> (u64, u64) {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_stopwatch_measures_a_sleep() {
        let watch = Stopwatch::system();
        assert!(!watch.is_tsc());
        assert_eq!(watch.ticks_per_second(), None);
        let a = watch.raw();
        std::thread::sleep(Duration::from_millis(5));
        let nanos = watch.nanos_between(a, watch.raw());
        assert!((5_000_000..5_000_000_000).contains(&nanos), "a 5 ms sleep measured {nanos} ns");
    }

    #[test]
    fn the_counter_stopwatch_measures_a_sleep_where_the_cpu_has_one() {
        let Some(watch) = Stopwatch::tsc(Duration::from_millis(2)) else {
            assert!(
                !counter::is_invariant() || cfg!(not(target_arch = "x86_64")),
                "an invariant counter failed to calibrate"
            );
            return;
        };
        assert!(watch.is_tsc());
        let system = Stopwatch::system();
        let (a, sa) = (watch.raw(), system.raw());
        std::thread::sleep(Duration::from_millis(20));
        let (nanos, system_nanos) = (watch.nanos_between(a, watch.raw()), system.nanos_between(sa, system.raw()));
        assert!(nanos >= 20_000_000, "a 20 ms sleep measured {nanos} ns");
        // The two clocks agree to within 1% (plus 1 ms for the readings not being simultaneous).
        assert!(
            nanos.abs_diff(system_nanos) < system_nanos / 100 + 1_000_000,
            "counter {nanos} ns, system {system_nanos} ns"
        );
    }

    #[test]
    fn the_scale_is_exact_fixed_point() {
        // 2.5 GHz: 0.4 ns a tick.
        let watch = Stopwatch::from_calibration(2_500_000, 1_000_000).unwrap();
        assert_eq!(watch.ticks_per_second(), Some(2_500_000_000));
        assert_eq!(watch.nanos_between(0, 2_500_000_000), 999_999_999); // 0.4 rounds down in 32.32
        assert_eq!(watch.nanos_between(10, 10), 0);
        // A reading from a core that is behind: 0, not a wrapped duration.
        assert_eq!(watch.nanos_between(100, 40), 0);
        // No overflow on the largest span.
        assert!(watch.nanos_between(0, u64::MAX) > 7_000_000_000_000_000_000);
    }

    #[test]
    fn an_implausible_calibration_is_refused() {
        assert_eq!(Stopwatch::from_calibration(0, 1_000_000), None, "a counter that did not move");
        assert_eq!(Stopwatch::from_calibration(1_000, 500), None, "under a microsecond measured");
        assert_eq!(Stopwatch::from_calibration(1_000_000_000_000, 1_000_000), None, "a million GHz");
        assert_eq!(Stopwatch::from_calibration(10, 1_000_000), None, "10 kHz");
        assert!(Stopwatch::from_calibration(11_000, 1_000_000).is_some(), "11 MHz");
        assert!(Stopwatch::from_calibration(99_000_000, 1_000_000).is_some(), "99 GHz");
    }
}
