//! The circuit-breaker state machine behind `breaker`: states, configuration, sliding windows
//! and permits. No async runtime, no I/O, no allocation per call.
//!
//! Most users want `breaker-runtime`, which wraps this crate with a registry of named breakers,
//! async execution, fallbacks, metrics and the `#[circuit_breaker]` attribute. Use this crate
//! directly to embed a breaker in your own runtime or to test breaker behaviour with a
//! [`testing::ManualClock`].
//!
//! # How a breaker behaves
//!
//! - **Closed**: calls flow. Outcomes go into a sliding window (the last N calls, or the last N
//!   seconds). The breaker opens when `consecutive_failures` fail in a row, or when the failure
//!   rate or slow-call rate over the window reaches its threshold once the window holds at
//!   least `minimum_calls` outcomes.
//! - **Open**: calls are rejected with [`Rejected`], which carries the name, state and
//!   `retry_after`. After the wait (fixed, or exponential backoff with jitter) the first call
//!   moves the breaker to half-open; there is no background task.
//! - **HalfOpen**: at most `half_open_permits` probes run at once; `success_threshold`
//!   successes close the breaker, any failure reopens it, and `max_half_open` reopens a
//!   breaker whose probes never report back.
//! - **ForcedOpen**, **Disabled**, **MetricsOnly**: sticky manual states.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use breaker_core::{CircuitBreaker, Config, Outcome, State};
//! use breaker_core::testing::ManualClock;
//!
//! let clock = ManualClock::new();
//! let config = Config::builder()
//!     .failure_rate(0.5)
//!     .count_window(10)
//!     .minimum_calls(4)
//!     .wait(Duration::from_secs(5))
//!     .build()?;
//! let breaker = CircuitBreaker::new("inventory", config).with_clock(clock.clone());
//!
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Failure] {
//!     breaker.try_acquire().expect("closed").record(outcome);
//! }
//! assert_eq!(breaker.state(), State::Open);
//! assert!(breaker.try_acquire().is_err());
//!
//! clock.advance(Duration::from_secs(5));
//! let a = breaker.try_acquire().expect("probe");
//! let b = breaker.try_acquire().expect("probe");
//! assert!(breaker.try_acquire().is_err(), "only two probes at once");
//! a.success();
//! b.success();
//! assert_eq!(breaker.state(), State::Closed);
//! # Ok::<(), breaker_core::ConfigError>(())
//! ```
// `unsafe` only to read clocks where a benchmark shows it pays: the coarse monotonic clock
// (`clock.rs`) and the CPU's time-stamp counter (`stopwatch.rs`); everything else is safe.
#![deny(unsafe_code)]
// On docs.rs, mark each feature-gated item with the feature that enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod clock;
mod config;
mod event;
pub mod parse;
mod state;
mod stopwatch;
mod sync;
pub mod testing;
mod window;

pub use breaker::{CircuitBreaker, DetachedPermit, Outcome, OwnedPermit, Permit, RejectReason, Rejected};
pub use clock::{Clock, ClockSource, SystemClock};
#[cfg(not(loom))]
pub use clock::{Ticker, TickerError};
pub use config::{
    check_timeout, Config, ConfigBuilder, ConfigError, FieldError, SlowCalls, WindowKind, KEYS, MAX_COUNT_WINDOW,
    MAX_DURATION, MAX_HALF_OPEN_PERMITS, MAX_TIME_WINDOW, MIN_WAIT,
};
pub use event::{FleetCause, InstanceId, Listener, ManualOp, Name, Reason, Snapshot, ThresholdExceeded, Transition};
pub use state::State;
pub use stopwatch::Stopwatch;
