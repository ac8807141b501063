//! Metric names and the per-breaker handles, registered once when a breaker is created.
//!
//! Every metric carries the label `breaker` (the breaker's name). Metrics go to whatever
//! [`metrics`] recorder is installed (for example `metrics-exporter-prometheus`); install it
//! before the first call so the handles bind to it. A breaker created while no recorder is
//! installed skips its metrics, and the timing of calls, altogether.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `circuit_breaker_state` | gauge | | 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled, 5 metrics-only |
//! | `circuit_breaker_state_transitions_total` | counter | `from`, `to` | state changes |
//! | `circuit_breaker_calls_total` | counter | `outcome` = success, failure, ignored, rejected, timeout | calls by outcome |
//! | `circuit_breaker_opened_total` | counter | `reason` = consecutive_failures, failure_rate, slow_call_rate, probe_failed, half_open_timeout | openings by trigger |
//! | `circuit_breaker_call_duration_seconds` | histogram | | duration of admitted calls |
//! | `circuit_breaker_fallback_total` | counter | `reason` = rejected, timeout, failure | fallbacks served |
//! | `circuit_breaker_fallback_duration_seconds` | histogram | | duration of fallbacks |
//! | `circuit_breaker_probe_attempts_total` | counter | `result` = success, failure, ignored, cancelled | half-open probes |
//! | `circuit_breaker_retry_attempts_total` | counter | | retries after a failed attempt |
//! | `circuit_breaker_queue_depth` | gauge | | deferred work waiting in a [`RetryQueue`](crate::RetryQueue) |
//! | `circuit_breaker_queue_dropped_total` | counter | | work refused because the queue was full |
//! | `circuit_breaker_failure_rate` | gauge | | failed share of the calls in the window (0 to 1), set by [`refresh_rates`] |
//! | `circuit_breaker_slow_call_rate` | gauge | | slow share of the calls in the window (0 to 1), set by [`refresh_rates`] |
//! | `circuit_breaker_state_since_seconds` | gauge | | unix time (seconds) of the last transition, or of creation |
//! | `circuit_breaker_open_duration_seconds` | histogram | `state` = open, forced_open | how long each open period lasted, recorded when it ends |
//! | `circuit_breaker_degradation_level` | gauge | (no `breaker` label) | the registry's [degradation level](crate::Registry::degradation_level): 0 normal, 1 degraded, 2 critical |
//! | `circuit_breaker_config_reloads_total` | counter | `result` = success, failure (no `breaker` label) | [reloads](crate::Registry::reload) of a registry's configuration |
//! | `circuit_breaker_registry_overflow_total` | counter | (no `breaker` label) | lookups of a new name refused because the registry was full; served by the shared overflow breaker |
//!
//! Call [`describe`] once after installing the recorder so the exposition carries `# HELP`
//! lines. The rate gauges are not touched on the call path: [`refresh_rates`] sets them from
//! fresh snapshots; call it before rendering each scrape.
//!
//! A breaker created before any recorder was installed is not metered (its handles are the
//! no-op ones). When that breaker next changes state, or [`refresh_rates`] runs, while a
//! recorder is installed, a warning names it and says why, once per breaker.
//!
//! A registry built with [`metrics(false)`](crate::RegistryBuilder::metrics) registers and
//! records none of these.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use breaker_core::{Name, Outcome, Reason, State, Stopwatch};
use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram, Unit};

/// `circuit_breaker_state`
pub const STATE: &str = "circuit_breaker_state";
/// `circuit_breaker_state_transitions_total`
pub const STATE_TRANSITIONS: &str = "circuit_breaker_state_transitions_total";
/// `circuit_breaker_calls_total`
pub const CALLS: &str = "circuit_breaker_calls_total";
/// `circuit_breaker_opened_total`
pub const OPENED: &str = "circuit_breaker_opened_total";
/// `circuit_breaker_call_duration_seconds`
pub const CALL_DURATION: &str = "circuit_breaker_call_duration_seconds";
/// `circuit_breaker_fallback_total`
pub const FALLBACKS: &str = "circuit_breaker_fallback_total";
/// `circuit_breaker_fallback_duration_seconds`
pub const FALLBACK_DURATION: &str = "circuit_breaker_fallback_duration_seconds";
/// `circuit_breaker_probe_attempts_total`
pub const PROBE_ATTEMPTS: &str = "circuit_breaker_probe_attempts_total";
/// `circuit_breaker_retry_attempts_total`
pub const RETRY_ATTEMPTS: &str = "circuit_breaker_retry_attempts_total";
/// `circuit_breaker_queue_depth`
pub const QUEUE_DEPTH: &str = "circuit_breaker_queue_depth";
/// `circuit_breaker_queue_dropped_total`
pub const QUEUE_DROPPED: &str = "circuit_breaker_queue_dropped_total";
/// `circuit_breaker_registry_overflow_total`
pub const REGISTRY_OVERFLOW: &str = "circuit_breaker_registry_overflow_total";
/// `circuit_breaker_config_reloads_total`
pub const CONFIG_RELOADS: &str = "circuit_breaker_config_reloads_total";
/// `circuit_breaker_degradation_level`
pub const DEGRADATION_LEVEL: &str = "circuit_breaker_degradation_level";

/// `circuit_breaker_failure_rate`
pub const FAILURE_RATE: &str = "circuit_breaker_failure_rate";
/// `circuit_breaker_slow_call_rate`
pub const SLOW_CALL_RATE: &str = "circuit_breaker_slow_call_rate";
/// `circuit_breaker_state_since_seconds`
pub const STATE_SINCE: &str = "circuit_breaker_state_since_seconds";
/// `circuit_breaker_open_duration_seconds`
pub const OPEN_DURATION: &str = "circuit_breaker_open_duration_seconds";

/// The label every metric carries.
pub const LABEL_BREAKER: &str = "breaker";

/// Handles for one breaker. Registering happens here, once; the hot path only touches handles.
#[derive(Clone)]
pub(crate) struct BreakerMetrics {
    name: Name,
    pub(crate) enabled: bool,
    /// A recorder was installed when the breaker was created. Without one every handle is a
    /// no-op, so the hot path skips them (and the clock) altogether.
    live: bool,
    /// Times calls when `live`: a raw counter read at each end, scaled once. Not metered, it is
    /// a stand-in that is never read, so the hot path checks `live` (or a call's `Started`)
    /// alone.
    clock: Stopwatch,
    state: Gauge,
    /// `circuit_breaker_calls_total` for success, failure and ignored, in [`outcome_index`]
    /// order: the hot path indexes rather than branches.
    calls: [Counter; 3],
    rejected: Counter,
    timeout: Counter,
    duration: Histogram,
    fallback_rejected: Counter,
    fallback_timeout: Counter,
    fallback_failure: Counter,
    fallback_duration: Histogram,
    probe_success: Counter,
    probe_failure: Counter,
    probe_ignored: Counter,
    probe_cancelled: Counter,
    retries: Counter,
    /// `circuit_breaker_state_since_seconds`, and the two rate gauges that
    /// [`refresh_rates`] sets on every scrape: registered once, here.
    state_since: Gauge,
    failure_rate: Gauge,
    slow_call_rate: Gauge,
    /// When the state last changed, and since when it has been open: for alerting metrics.
    alerting: Arc<Alerting>,
}

impl std::fmt::Debug for BreakerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerMetrics").field("name", &self.name).field("enabled", &self.enabled).finish()
    }
}

/// A breaker's counter `name`, labelled with the breaker and, when given, one more label.
/// Registrations go through these three functions, so the `metrics` macros (each a closure
/// over the recorder: generic code compiled once per use) are instantiated a few times only.
pub(crate) fn breaker_counter(
    name: &'static str,
    breaker: &str,
    label: Option<(&'static str, &'static str)>,
) -> Counter {
    match label {
        Some((key, value)) => counter!(name, LABEL_BREAKER => breaker.to_owned(), key => value),
        None => counter!(name, LABEL_BREAKER => breaker.to_owned()),
    }
}

/// A breaker's gauge `name` (see [`breaker_counter`]).
pub(crate) fn breaker_gauge(name: &'static str, breaker: &str) -> Gauge {
    gauge!(name, LABEL_BREAKER => breaker.to_owned())
}

/// A breaker's histogram `name`, with one more label when given (see [`breaker_counter`]).
fn breaker_histogram(name: &'static str, breaker: &str, label: Option<(&'static str, &'static str)>) -> Histogram {
    match label {
        Some((key, value)) => histogram!(name, LABEL_BREAKER => breaker.to_owned(), key => value),
        None => histogram!(name, LABEL_BREAKER => breaker.to_owned()),
    }
}

/// True when a recorder is installed (globally or for this thread). The facade hands out
/// no-op handles otherwise, and has no other way to say so: its no-op recorder is the only
/// zero-sized one, while real recorders hold their storage. A zero-sized recorder of your own
/// is treated as none.
fn recorder_installed() -> bool {
    metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
}

/// A raw clock reading taken when a call was admitted, or `None` when calls are not timed.
///
/// Non-zero so that the `Option` costs nothing: one register, and 8 bytes in every call
/// future rather than 16. A reading is made odd to be non-zero, which moves it by at most one
/// clock tick.
pub(crate) type Started = Option<NonZeroU64>;

/// The seconds from the raw reading `started` to the raw reading `now`.
#[inline]
fn seconds_between(clock: &Stopwatch, started: NonZeroU64, now: u64) -> f64 {
    // Through `i64`, which x86-64 converts in one instruction (`u64` takes six); 2^63 ns is
    // 292 years.
    let nanos = i64::try_from(clock.nanos_between(started.get(), now)).unwrap_or(i64::MAX);
    #[allow(clippy::cast_precision_loss)] // 2^53 ns is 104 days
    let seconds = nanos as f64 * 1e-9; // a multiply, not a divide
    seconds
}

/// The index of `outcome`'s counter in [`BreakerMetrics::calls`].
#[inline]
fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Ignored => 2,
    }
}

impl BreakerMetrics {
    pub(crate) fn new(name: &Name, enabled: bool) -> Self {
        // Switched off, or nothing to record into: register nothing, so no series exists.
        let live = enabled && recorder_installed();
        if !live {
            return BreakerMetrics::unregistered(name, enabled);
        }
        let n: &str = name;
        let calls = |outcome: &'static str| breaker_counter(CALLS, n, Some(("outcome", outcome)));
        let fallback = |reason: &'static str| breaker_counter(FALLBACKS, n, Some(("reason", reason)));
        let probe = |result: &'static str| breaker_counter(PROBE_ATTEMPTS, n, Some(("result", result)));
        let m = BreakerMetrics {
            name: name.clone(),
            enabled,
            live,
            clock: crate::call_clock::shared(),
            state: breaker_gauge(STATE, n),
            calls: [calls("success"), calls("failure"), calls("ignored")],
            rejected: calls("rejected"),
            timeout: calls("timeout"),
            duration: breaker_histogram(CALL_DURATION, n, None),
            fallback_rejected: fallback("rejected"),
            fallback_timeout: fallback("timeout"),
            fallback_failure: fallback("failure"),
            fallback_duration: breaker_histogram(FALLBACK_DURATION, n, None),
            probe_success: probe("success"),
            probe_failure: probe("failure"),
            probe_ignored: probe("ignored"),
            probe_cancelled: probe("cancelled"),
            retries: breaker_counter(RETRY_ATTEMPTS, n, None),
            state_since: breaker_gauge(STATE_SINCE, n),
            failure_rate: breaker_gauge(FAILURE_RATE, n),
            slow_call_rate: breaker_gauge(SLOW_CALL_RATE, n),
            alerting: Arc::new(Alerting::new()),
        };
        m.alerting_created();
        m.state.set(f64::from(State::Closed.code()));
        m
    }

    /// Handles that record nothing and were never registered with a recorder.
    fn unregistered(name: &Name, enabled: bool) -> Self {
        BreakerMetrics {
            name: name.clone(),
            enabled,
            live: false,
            clock: Stopwatch::system(),
            state: Gauge::noop(),
            calls: [Counter::noop(), Counter::noop(), Counter::noop()],
            rejected: Counter::noop(),
            timeout: Counter::noop(),
            duration: Histogram::noop(),
            fallback_rejected: Counter::noop(),
            fallback_timeout: Counter::noop(),
            fallback_failure: Counter::noop(),
            fallback_duration: Histogram::noop(),
            probe_success: Counter::noop(),
            probe_failure: Counter::noop(),
            probe_ignored: Counter::noop(),
            probe_cancelled: Counter::noop(),
            retries: Counter::noop(),
            state_since: Gauge::noop(),
            failure_rate: Gauge::noop(),
            slow_call_rate: Gauge::noop(),
            alerting: Arc::new(Alerting::new()),
        }
    }

    /// Counts a finished call: by outcome, its duration since `started`, and the probe's
    /// result when it was one. Without a recorder, one check.
    #[inline]
    pub(crate) fn call(&self, probe: bool, outcome: Outcome, started: Started) {
        if self.live {
            self.call_live(probe, outcome, started);
        }
    }

    /// [`call`](Self::call) with a recorder: the duration, then the outcome's counter. One
    /// out-of-line function with the clock read, the scaling and both handles inlined; what is
    /// left beyond the exporter's own work is the two `Option` checks and an index.
    #[inline(never)]
    fn call_live(&self, probe: bool, outcome: Outcome, started: Started) {
        if probe {
            return self.probe_call(outcome, started);
        }
        // Ordered so that little is live across the calls into the clock and the exporter
        // (fewer registers to save): the counter's address, then the duration, then the count.
        let calls = &self.calls[outcome_index(outcome)];
        // A call is `Started` only by a live breaker's `start`.
        if let Some(started) = started {
            self.duration.record(seconds_between(&self.clock, started, self.clock.raw()));
        }
        calls.increment(1);
    }

    /// [`call_live`](Self::call_live) for a half-open probe, which is also counted by result.
    #[cold]
    #[inline(never)]
    fn probe_call(&self, outcome: Outcome, started: Started) {
        self.measure(started);
        self.calls[outcome_index(outcome)].increment(1);
        self.probe(Some(outcome));
    }

    #[cold]
    pub(crate) fn probe(&self, outcome: Option<Outcome>) {
        if !self.live {
            return;
        }
        match outcome {
            Some(Outcome::Success) => self.probe_success.increment(1),
            Some(Outcome::Failure) => self.probe_failure.increment(1),
            Some(Outcome::Ignored) => self.probe_ignored.increment(1),
            None => self.probe_cancelled.increment(1),
        }
    }

    /// True when this breaker's metrics go to a recorder (metrics on, a recorder installed).
    pub(crate) fn records(&self) -> bool {
        self.live
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        if self.live {
            self.rejected.increment(1);
        }
    }

    #[inline]
    pub(crate) fn timeout(&self) {
        if self.live {
            self.timeout.increment(1);
        }
    }

    /// A raw clock reading for [`measure`](Self::measure), or `None` when calls are not timed.
    #[inline]
    pub(crate) fn start(&self) -> Started {
        if self.live {
            self.start_live()
        } else {
            None
        }
    }

    /// [`start`](Self::start)'s reading, out of line so that the unmetered path carries
    /// none of the clock's code.
    #[inline(never)]
    fn start_live(&self) -> Started {
        NonZeroU64::new(self.clock.raw() | 1)
    }

    /// Records the duration of a call that [`start`](Self::start)ed at `started`.
    #[inline]
    pub(crate) fn measure(&self, started: Started) {
        self.record_duration(&self.duration, started);
    }

    /// Records into `histogram` the time since `started`, when calls are timed.
    #[inline]
    fn record_duration(&self, histogram: &Histogram, started: Started) {
        if let (true, Some(started)) = (self.live, started) {
            histogram.record(seconds_between(&self.clock, started, self.clock.raw()));
        }
    }

    /// Counts a fallback run for `kind` (`rejected`, `timeout` or `failure`) and its duration
    /// since `started` (from [`start`](Self::start)).
    pub(crate) fn fallback(&self, kind: &str, started: Started) {
        if !self.live {
            return;
        }
        match kind {
            "rejected" => self.fallback_rejected.increment(1),
            "timeout" => self.fallback_timeout.increment(1),
            _ => self.fallback_failure.increment(1),
        }
        self.record_duration(&self.fallback_duration, started);
    }

    pub(crate) fn retry(&self) {
        if self.live {
            self.retries.increment(1);
        }
    }

    /// Transitions are rare: their labelled counters are looked up when they happen.
    pub(crate) fn transition(&self, from: State, to: State, reason: &Reason) {
        let open_for = self.alerting.transition(to);
        if !self.live {
            self.warn_unmetered();
            return; // as every other metric of this breaker: nothing was recording at creation
        }
        self.alerting_transition(open_for);
        self.state.set(f64::from(to.code()));
        let n = self.name.to_string();
        counter!(STATE_TRANSITIONS, LABEL_BREAKER => n, "from" => from.as_str(), "to" => to.as_str()).increment(1);
        if to == State::Open {
            breaker_counter(OPENED, &self.name, Some(("reason", reason.as_str()))).increment(1);
        }
    }
}

/// Registers help text and units for every metric with the installed recorder, so the
/// Prometheus exposition has `# HELP` lines. Call it once, after installing the recorder.
///
/// ```
/// breaker_runtime::metrics::describe(); // without a recorder: does nothing
/// ```
pub fn describe() {
    enum Kind {
        Counter,
        Gauge,
        Histogram,
    }
    let all = [
        (
            Kind::Gauge,
            STATE,
            None,
            "Breaker state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled, 5 metrics-only.",
        ),
        (Kind::Counter, STATE_TRANSITIONS, None, "State changes, by from and to state."),
        (Kind::Counter, CALLS, None, "Calls by outcome: success, failure, ignored, rejected, timeout."),
        (Kind::Counter, OPENED, None, "Openings by trigger."),
        (Kind::Histogram, CALL_DURATION, Some(Unit::Seconds), "Duration of admitted calls."),
        (Kind::Counter, FALLBACKS, None, "Fallbacks served, by reason: rejected, timeout, failure."),
        (Kind::Histogram, FALLBACK_DURATION, Some(Unit::Seconds), "Duration of fallbacks."),
        (Kind::Counter, PROBE_ATTEMPTS, None, "Half-open probes by result."),
        (Kind::Counter, RETRY_ATTEMPTS, None, "Retries after a failed attempt."),
        (Kind::Gauge, QUEUE_DEPTH, None, "Deferred work waiting in a retry queue."),
        (Kind::Counter, QUEUE_DROPPED, None, "Work refused because the retry queue was full."),
        (
            Kind::Counter,
            REGISTRY_OVERFLOW,
            None,
            "Lookups of a new breaker name refused because the registry was full (served by the overflow breaker).",
        ),
        (Kind::Counter, CONFIG_RELOADS, None, "Reloads of a registry's configuration, by result."),
        (Kind::Gauge, DEGRADATION_LEVEL, None, "The registry's degradation level: 0 normal, 1 degraded, 2 critical."),
        (Kind::Gauge, FAILURE_RATE, None, "Failed share of the calls in the breaker's window (0 to 1)."),
        (Kind::Gauge, SLOW_CALL_RATE, None, "Slow share of the calls in the breaker's window (0 to 1)."),
        (Kind::Gauge, STATE_SINCE, Some(Unit::Seconds), "Unix time of the breaker's last state change (or creation)."),
        (
            Kind::Histogram,
            OPEN_DURATION,
            Some(Unit::Seconds),
            "How long each open period lasted, recorded when it ends.",
        ),
    ];
    metrics::with_recorder(|recorder| {
        for (kind, name, unit, text) in all {
            let (name, text) = (metrics::KeyName::from_const_str(name), metrics::SharedString::const_str(text));
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, text),
                Kind::Gauge => recorder.describe_gauge(name, unit, text),
                Kind::Histogram => recorder.describe_histogram(name, unit, text),
            }
        }
    });
}

/// Sets the `circuit_breaker_failure_rate` and `circuit_breaker_slow_call_rate` gauges of every
/// metered breaker in `registry` from a fresh snapshot. Call it before rendering an
/// exposition (a scrape), so the rates are current without touching the call path. A breaker
/// that is not metered because it was created before the recorder is named in a warning (once).
///
/// ```
/// let registry = breaker_runtime::Registry::new();
/// registry.breaker("search");
/// breaker_runtime::metrics::refresh_rates(&registry);
/// ```
pub fn refresh_rates(registry: &crate::Registry) {
    for breaker in registry.breakers() {
        let m = &breaker.shared.metrics;
        if m.live {
            let snapshot = breaker.snapshot();
            m.set_rates(snapshot.failure_rate, snapshot.slow_call_rate);
        } else {
            m.warn_unmetered(); // created before the recorder: say so on the first scrape
        }
    }
}

/// Since when a breaker is in its state, and (while open) since when it has been open.
#[derive(Debug)]
struct Alerting {
    /// Unix time in nanoseconds of the last transition, or of creation.
    since: AtomicU64,
    /// Unix time in nanoseconds of entering open or forced-open; 0 when not open.
    opened: AtomicU64,
    /// The open state's code while open (its label on the open-period histogram).
    open_state: AtomicU64,
    /// The "created before the recorder" warning was given.
    warned: AtomicBool,
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Alerting {
    fn new() -> Self {
        Alerting {
            since: AtomicU64::new(unix_nanos()),
            opened: AtomicU64::new(0),
            open_state: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Records a transition into `to`; when it ends an open (or forced-open) period, returns
    /// which one and how long it lasted.
    fn transition(&self, to: State) -> Option<(State, Duration)> {
        let now = unix_nanos();
        self.since.store(now, Ordering::Relaxed);
        let (opened, state) = if to.is_open() { (now, u64::from(to.code())) } else { (0, 0) };
        let was_opened = self.opened.swap(opened, Ordering::Relaxed);
        let was_state = self.open_state.swap(state, Ordering::Relaxed);
        (was_opened != 0).then(|| {
            let state = if was_state == u64::from(State::ForcedOpen.code()) { State::ForcedOpen } else { State::Open };
            (state, Duration::from_nanos(now.saturating_sub(was_opened)))
        })
    }
}

#[allow(clippy::cast_precision_loss)] // unix seconds with nanoseconds: the f64 keeps microseconds
fn unix_seconds(nanos: u64) -> f64 {
    nanos as f64 * 1e-9
}

impl BreakerMetrics {
    /// When the state last changed, or the breaker was created.
    pub(crate) fn state_since(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.alerting.since.load(Ordering::Relaxed))
    }

    /// At creation: the state-since gauge and zero rates.
    fn alerting_created(&self) {
        if self.live {
            self.state_since.set(unix_seconds(self.alerting.since.load(Ordering::Relaxed)));
            self.set_rates(0.0, 0.0);
        }
    }

    /// On a transition: the state-since gauge and the open-period histogram.
    fn alerting_transition(&self, open_for: Option<(State, Duration)>) {
        self.state_since.set(unix_seconds(self.alerting.since.load(Ordering::Relaxed)));
        if let Some((state, lasted)) = open_for {
            breaker_histogram(OPEN_DURATION, &self.name, Some(("state", state.as_str()))).record(lasted.as_secs_f64());
        }
    }

    /// Sets the rate gauges.
    fn set_rates(&self, failure_rate: f64, slow_call_rate: f64) {
        self.failure_rate.set(failure_rate);
        self.slow_call_rate.set(slow_call_rate);
    }

    /// A breaker created without a recorder changed state while one is installed: say once
    /// why it is not metered.
    #[cold]
    fn warn_unmetered(&self) {
        if self.enabled && recorder_installed() && !self.alerting.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                breaker = %self.name,
                "circuit breaker is not metered: it was created before a metrics recorder was installed; \
                 install the recorder before creating breakers (before the first call of an annotated function)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorder_is_seen_only_when_installed() {
        assert!(!recorder_installed(), "no recorder in unit tests");
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        assert!(metrics::with_local_recorder(&recorder, recorder_installed));
        let without = BreakerMetrics::new(&Name::from("m"), true);
        assert!(!without.live && without.start().is_none(), "nothing to record into: no timing");
        let with = metrics::with_local_recorder(&recorder, || BreakerMetrics::new(&Name::from("m"), true));
        assert!(with.live && with.start().is_some());
    }
}
