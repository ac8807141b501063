//! The clock that times admitted calls for `circuit_breaker_call_duration_seconds`.
//!
//! Two readings per metered call, so its cost shows: with the `quanta` feature it is the
//! CPU's time-stamp counter, calibrated once (about 10 ns a reading on our benchmark VM);
//! without it, [`std::time::Instant`] (`CLOCK_MONOTONIC`, about 25 ns) through
//! breaker-core's `SystemClock`, the clock the breakers read. The Prometheus exporter
//! compiles quanta already, so a metered service turns the feature on for nothing; a service
//! without a recorder never reads this clock at all.

#[cfg(feature = "quanta")]
use std::sync::OnceLock;

/// The clock metered calls are timed with: see the module's documentation.
#[cfg(feature = "quanta")]
pub(crate) type CallClock = QuantaClock;
/// The clock metered calls are timed with: see the module's documentation.
#[cfg(not(feature = "quanta"))]
pub(crate) type CallClock = InstantClock;

/// [`SystemClock`](breaker_core::SystemClock) readings (`Instant`, as nanoseconds since the
/// breakers' common origin).
#[derive(Clone, Copy)]
#[cfg_attr(feature = "quanta", allow(dead_code))]
pub(crate) struct InstantClock;

#[cfg_attr(feature = "quanta", allow(dead_code))]
impl InstantClock {
    /// The process-wide clock.
    pub(crate) fn shared() -> Self {
        InstantClock
    }

    /// A stand-in for a breaker that never times its calls: building it costs nothing extra.
    pub(crate) fn unread() -> Self {
        InstantClock
    }

    /// Nanoseconds since the origin; only differences between readings mean anything.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        breaker_core::Clock::now_nanos(&breaker_core::SystemClock)
    }

    /// The nanoseconds from the reading `start` to the later reading `end`.
    #[inline]
    pub(crate) fn nanos_between(&self, start: u64, end: u64) -> u64 {
        end.saturating_sub(start)
    }
}

/// The time-stamp counter through quanta, calibrated once.
#[cfg(feature = "quanta")]
#[derive(Clone)]
pub(crate) struct QuantaClock {
    inner: quanta::Clock,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// The process-wide clock, calibrated once (quanta takes up to 200 ms for it).
    pub(crate) fn shared() -> Self {
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        QuantaClock { inner: CLOCK.get_or_init(quanta::Clock::new).clone() }
    }

    /// A stand-in for a breaker that never times its calls: never read, and built without
    /// the calibration a real one needs.
    pub(crate) fn unread() -> Self {
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        QuantaClock { inner: CLOCK.get_or_init(|| quanta::Clock::mock().0).clone() }
    }

    /// A raw counter reading: only differences between readings mean anything.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        self.inner.raw()
    }

    /// The nanoseconds from the reading `start` to the later reading `end`.
    #[inline]
    pub(crate) fn nanos_between(&self, start: u64, end: u64) -> u64 {
        self.inner.delta_as_nanos(start, end)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A 5 ms sleep measures at least 5 ms and not absurdly more, and a reading is 0 from itself.
    macro_rules! measures_a_sleep {
        ($clock:expr) => {{
            let clock = $clock;
            let a = clock.raw();
            std::thread::sleep(Duration::from_millis(5));
            let b = clock.raw();
            let nanos = clock.nanos_between(a, b);
            assert!((5_000_000..5_000_000_000).contains(&nanos), "a 5 ms sleep measured {nanos} ns");
            assert_eq!(clock.nanos_between(b, b), 0);
        }};
    }

    #[test]
    fn the_instant_clock_measures_a_sleep() {
        measures_a_sleep!(super::InstantClock::shared());
    }

    #[cfg(feature = "quanta")]
    #[test]
    fn the_quanta_clock_measures_a_sleep() {
        measures_a_sleep!(super::QuantaClock::shared());
    }
}
