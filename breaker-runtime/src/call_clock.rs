//! The clock that times admitted calls for `circuit_breaker_call_duration_seconds`.
//!
//! Two readings per metered call, so its cost shows. It is breaker-core's
//! [`Stopwatch`]: the CPU's time-stamp counter, calibrated once against the breakers' clock,
//! where the counter is trusted (x86-64 with an invariant counter; on Linux, only when the
//! kernel's own clock source is `tsc`), else [`std::time::Instant`] (`CLOCK_MONOTONIC`)
//! through breaker-core's `SystemClock`, the clock the breakers read. A service without a
//! recorder never reads this clock at all.

use std::sync::OnceLock;
use std::time::Duration;

use breaker_core::Stopwatch;

/// How long the one calibration of the counter takes (the first metered breaker's creation
/// sleeps that long): enough for a rate within 0.01%.
const CALIBRATION: Duration = Duration::from_millis(2);

/// The process's clock for metered calls: the counter if it is trusted here, calibrated on
/// first use; chosen once. A breaker that never times its calls holds
/// [`Stopwatch::system`], which costs nothing to build.
pub(crate) fn shared() -> Stopwatch {
    static CLOCK: OnceLock<Stopwatch> = OnceLock::new();
    *CLOCK.get_or_init(|| {
        let counter = if kernel_trusts_the_counter() { Stopwatch::tsc(CALIBRATION) } else { None };
        counter.unwrap_or_else(Stopwatch::system)
    })
}

/// Whether the operating system vouches for the time-stamp counter: on Linux, when it is the
/// kernel's own clock source (the kernel checks the counters of all CPUs agree before picking
/// it, and drops it when its watchdog finds it drifting). Elsewhere the CPU's invariant flag,
/// which [`Stopwatch::tsc`] checks, is taken as enough, as the operating systems there time
/// themselves with the counter when it is set.
fn kernel_trusts_the_counter() -> bool {
    if cfg!(target_os = "linux") {
        clock_source_is_tsc(
            std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource").ok(),
        )
    } else {
        true
    }
}

/// Whether the contents of Linux's `current_clocksource` name the time-stamp counter.
fn clock_source_is_tsc(current: Option<String>) -> bool {
    current.is_some_and(|source| source.trim() == "tsc")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A 5 ms sleep measures at least 5 ms and not absurdly more, and a reading is 0 from itself.
    fn measures_a_sleep(clock: Stopwatch) {
        let a = clock.raw();
        std::thread::sleep(Duration::from_millis(5));
        let b = clock.raw();
        let nanos = clock.nanos_between(a, b);
        assert!((5_000_000..5_000_000_000).contains(&nanos), "a 5 ms sleep measured {nanos} ns");
        assert_eq!(clock.nanos_between(b, b), 0);
    }

    #[test]
    fn the_shared_clock_measures_a_sleep() {
        measures_a_sleep(shared());
    }

    #[test]
    fn the_stand_in_clock_measures_a_sleep() {
        measures_a_sleep(Stopwatch::system());
    }

    /// On a Linux x86-64 machine whose kernel clocks itself with the counter (this project's
    /// CI and benchmark machines), metered calls are timed with the counter.
    #[test]
    fn the_counter_is_used_where_the_kernel_uses_it() {
        let expected = cfg!(target_arch = "x86_64") && kernel_trusts_the_counter();
        assert_eq!(shared().is_tsc(), expected, "{:?}", shared());
    }

    #[test]
    fn only_the_tsc_clock_source_is_trusted() {
        assert!(clock_source_is_tsc(Some("tsc\n".into())));
        assert!(!clock_source_is_tsc(Some("kvm-clock\n".into())));
        assert!(!clock_source_is_tsc(Some("hpet\n".into())));
        assert!(!clock_source_is_tsc(None), "an unreadable file");
    }
}
