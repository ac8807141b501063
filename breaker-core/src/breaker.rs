//! The circuit breaker: admission, outcomes, transitions.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{nanos, ClockSource};
use crate::config::{Config, WindowKind};
use crate::event::{FleetCause, InstanceId, Listener, ManualOp, Name, Reason, Snapshot, ThresholdExceeded, Transition};
use crate::state::{State, Word};
use crate::sync::{lock, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::window::Window;

/// How a protected call ended, as the caller classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call worked.
    Success,
    /// The call failed in a way that says the dependency is unhealthy.
    Failure,
    /// Neither: counts for nothing and frees a half-open slot (a caller's own mistake, say).
    Ignored,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The breaker is open and its wait has not passed.
    Open,
    /// The breaker is half-open and every probe slot is taken.
    HalfOpenFull,
    /// The breaker was forced open.
    ForcedOpen,
}

/// A call the breaker did not admit. Carries the breaker's name, its state and how long until
/// a probe will be admitted.
#[derive(Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Name,
    reason: RejectReason,
    /// Nanoseconds until a probe will be admitted when `reason` is [`RejectReason::Open`] (the
    /// only reason with a `retry_after`), 0 otherwise: a plain integer is cheaper to build on
    /// the open rejection path than an `Option<Duration>`, which [`retry_after`](Self::retry_after) makes.
    retry_after_nanos: u64,
}

impl Rejected {
    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The breaker's name, shareable.
    pub fn breaker_name(&self) -> &Name {
        &self.name
    }
    /// Why the call was rejected.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
    /// The breaker's state at the rejection.
    pub fn state(&self) -> State {
        match self.reason {
            RejectReason::Open => State::Open,
            RejectReason::HalfOpenFull => State::HalfOpen,
            RejectReason::ForcedOpen => State::ForcedOpen,
        }
    }
    /// Time until a probe will be admitted: `None` when forced open (until released) or when
    /// half-open with every slot taken (until a probe reports).
    #[inline]
    pub fn retry_after(&self) -> Option<Duration> {
        (self.reason == RejectReason::Open).then(|| Duration::from_nanos(self.retry_after_nanos))
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            RejectReason::Open => write!(f, "circuit breaker `{}` is open", self.name)?,
            RejectReason::HalfOpenFull => {
                write!(f, "circuit breaker `{}` is half-open and all probe slots are taken", self.name)?
            }
            RejectReason::ForcedOpen => write!(f, "circuit breaker `{}` is forced open", self.name)?,
        }
        if let Some(after) = self.retry_after() {
            write!(f, "; retry after {:.3}s", after.as_secs_f64())?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

// `u32`, so a `Ticket` (and a `Permit`) has no padding: moving one is a few whole-word copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Kind {
    /// Admitted while closed or metrics-only: outcomes feed the window.
    Normal,
    /// A half-open probe holding one of the slots.
    Probe,
    /// Admitted while disabled: nothing is recorded.
    Passthrough,
}

/// `started` of a call admitted while slow-call detection was off: it never counts as slow,
/// even if detection is switched on before it reports (`now - UNTIMED` saturates to 0).
const UNTIMED: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Ticket {
    generation: u32,
    kind: Kind,
    /// Clock reading at admission, or [`UNTIMED`] when no one needed the call's duration.
    started: u64,
}

/// Events waiting for the listener before the threads that make more wait for it to catch
/// up (the thread delivering never waits, so a listener may change the state itself).
const OUTBOX_CAPACITY: usize = 1024;

/// Events made under the state lock, in transition order, waiting for delivery.
#[derive(Debug, Default)]
struct Outbox {
    queue: VecDeque<Event>,
    /// The thread delivering, if one is.
    delivering: Option<std::thread::ThreadId>,
    /// Delivery waits until the breaker is published ([`CircuitBreaker::hold_events`]).
    held: bool,
}

/// Mutable state that changes only on failures, transitions and unclean windows.
#[derive(Debug)]
struct Inner {
    config: Config,
    window: Window,
    consecutive_failures: u32,
    probe_successes: u32,
    /// Reopens from half-open since the last close: the backoff exponent.
    reopens: u32,
    rng: u64,
    /// Metrics-only mode: a threshold is currently exceeded (report once per crossing).
    exceeded: bool,
    /// Closed and told by the fleet that the breaker is open elsewhere: until when, and by
    /// whom. The next failure opens, the next success clears it ([`CircuitBreaker::sensitise`]).
    sensitised: Option<(u64, InstanceId)>,
    /// The wait of the next opening when the fleet chose it ([`CircuitBreaker::adopt_open`]).
    wait_override: Option<u64>,
}

/// A circuit breaker: admits calls, records their outcomes, and opens when the dependency
/// behind it is failing.
///
/// Admission and the healthy success path are lock-free: an atomic load of a packed state word,
/// and nothing more when the window holds only successes. Failures, transitions and windows
/// that hold failures take a short internal lock that never covers user code or listeners.
///
/// # Example
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, State};
///
/// let breaker = CircuitBreaker::new("payments", Config::builder().consecutive_failures(3).build().unwrap());
/// for _ in 0..3 {
///     let permit = breaker.try_acquire().unwrap();
///     permit.failure();
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.name(), "payments");
/// assert!(rejected.retry_after().is_some());
/// ```
pub struct CircuitBreaker {
    name: Name,
    word: AtomicU64,
    /// Open: when probes may start. Half-open: when the breaker gives up and reopens.
    deadline: AtomicU64,
    /// 1 when a fast success must still take the lock (the window is not clean or failures
    /// are counting up).
    dirty: AtomicU32,
    /// Slow-call duration in nanoseconds, 0 when slow-call detection is off.
    slow_nanos: AtomicU64,
    half_open_permits: AtomicU32,
    /// While open with the wait passed: no probe before this clock reading, the fleet probes
    /// elsewhere ([`CircuitBreaker::hold_probes`]). 0: probe locally as usual.
    probe_gate: AtomicU64,
    /// 1 when outcomes need the clock (time window).
    timed_window: AtomicU32,
    inner: Mutex<Inner>,
    clock: ClockSource,
    listener: Option<Arc<dyn Listener>>,
    /// Lock order: `inner`, then `outbox`; neither is held while the listener runs.
    outbox: Mutex<Outbox>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker").field("name", &self.name).field("state", &self.state()).finish()
    }
}

fn seed(name: &str) -> u64 {
    // FNV-1a: a fixed, name-derived seed keeps jitter reproducible under a manual clock.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) | 1
}

impl CircuitBreaker {
    /// A closed breaker reading the system clock.
    pub fn new(name: impl Into<Name>, config: Config) -> Self {
        let name = name.into();
        let rng = seed(&name);
        let breaker = CircuitBreaker {
            word: AtomicU64::new(Word::new(State::Closed, 0, 0).0),
            deadline: AtomicU64::new(0),
            dirty: AtomicU32::new(1),
            slow_nanos: AtomicU64::new(0),
            half_open_permits: AtomicU32::new(0),
            probe_gate: AtomicU64::new(0),
            timed_window: AtomicU32::new(0),
            inner: Mutex::new(Inner {
                window: Window::new(config.window()),
                config,
                consecutive_failures: 0,
                probe_successes: 0,
                reopens: 0,
                rng,
                exceeded: false,
                sensitised: None,
                wait_override: None,
            }),
            name,
            clock: ClockSource::System,
            listener: None,
            outbox: Mutex::new(Outbox::default()),
        };
        breaker.mirror_config(&lock(&breaker.inner));
        breaker
    }

    /// Reads time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Reports transitions and threshold crossings to `listener`.
    ///
    /// The listener hears one breaker's events one at a time, in the order they happened,
    /// and never while a lock of the breaker is held: it may call back into the breaker. It
    /// runs on a thread that caused one of them, after that thread's state change is done:
    /// usually the caller's own, so a slow listener delays the call that caused the
    /// transition. When another thread is already delivering this breaker's events, that
    /// thread delivers the new one too, after its own, and the caller goes on at once.
    pub fn with_listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Holds events for the listener until [`release_events`](Self::release_events): a
    /// registry uses it to finish publishing a new breaker before anyone hears of it. Events
    /// keep their order while held.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use breaker_core::{CircuitBreaker, Config, Listener, State, Transition};
    ///
    /// #[derive(Default)]
    /// struct Seen(Mutex<Vec<State>>);
    /// impl Listener for Seen {
    ///     fn on_transition(&self, t: &Transition) {
    ///         self.0.lock().unwrap().push(t.to);
    ///     }
    /// }
    ///
    /// let seen = Arc::new(Seen::default());
    /// let breaker = CircuitBreaker::new("db", Config::default()).with_listener(seen.clone()).hold_events();
    /// breaker.metrics_only();
    /// assert!(seen.0.lock().unwrap().is_empty(), "held");
    /// breaker.release_events();
    /// assert_eq!(*seen.0.lock().unwrap(), [State::MetricsOnly]);
    /// ```
    pub fn hold_events(self) -> Self {
        lock(&self.outbox).held = true;
        self
    }

    /// Delivers the events held since [`hold_events`](Self::hold_events), and every later one
    /// as it happens.
    pub fn release_events(&self) {
        lock(&self.outbox).held = false;
        self.deliver(true);
    }

    /// The breaker's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The current state. An open breaker whose wait has passed still reads `Open` until the
    /// next call moves it to half-open.
    pub fn state(&self) -> State {
        Word(self.word.load(Ordering::Acquire)).state()
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        lock(&self.inner).config.clone()
    }

    /// The clock this breaker reads.
    pub fn clock(&self) -> &ClockSource {
        &self.clock
    }

    /// Asks to run one call. On success the returned [`Permit`] must be given the call's
    /// [`Outcome`]; dropping it unused frees its slot and records nothing (the call was
    /// cancelled), unless the thread is panicking, which records a failure.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.admit(|breaker, ticket| Permit { breaker, ticket })
    }

    /// The healthy half of [`try_acquire`](Self::try_acquire): a permit when the breaker is
    /// closed, metrics-only or disabled, `None` otherwise (then call `try_acquire`, which
    /// decides between a probe and a rejection). Small enough to inline on a hot path.
    ///
    /// ```
    /// use breaker_core::{CircuitBreaker, Config};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// breaker.try_acquire_closed().expect("closed").success();
    /// breaker.force_open();
    /// assert!(breaker.try_acquire_closed().is_none());
    /// assert!(breaker.try_acquire().is_err());
    /// ```
    #[inline]
    pub fn try_acquire_closed(&self) -> Option<Permit<'_>> {
        self.admit_closed().map(|ticket| Permit { breaker: self, ticket })
    }

    /// The healthy half of [`try_acquire_detached`](Self::try_acquire_detached), as
    /// [`try_acquire_closed`](Self::try_acquire_closed) is of `try_acquire`.
    ///
    /// ```
    /// use breaker_core::{CircuitBreaker, Config, Outcome};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// let permit = breaker.try_acquire_detached_closed().expect("closed");
    /// breaker.finish_detached(permit, Some(Outcome::Success));
    /// breaker.force_open();
    /// assert!(breaker.try_acquire_detached_closed().is_none());
    /// ```
    #[inline]
    pub fn try_acquire_detached_closed(&self) -> Option<DetachedPermit> {
        self.admit_closed().map(DetachedPermit)
    }

    /// The commonest case of [`try_acquire_detached_closed`](Self::try_acquire_detached_closed),
    /// for a caller's hot path: the same permit when the breaker is closed and slow-call
    /// detection is off (nothing to time), `None` otherwise, including metrics-only, disabled,
    /// and closed with slow-call detection on (then call `try_acquire_detached_closed` or
    /// `try_acquire_detached`). It never reads the clock, so it calls nothing: inlined, it
    /// costs its caller no saved registers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::{CircuitBreaker, Config, Outcome};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// let permit = breaker.try_acquire_detached_untimed().expect("closed, untimed");
    /// breaker.finish_detached(permit, Some(Outcome::Success));
    /// let timed = CircuitBreaker::new("db", Config::builder().slow_call(Duration::from_secs(1)).build().unwrap());
    /// assert!(timed.try_acquire_detached_untimed().is_none());
    /// assert!(timed.try_acquire_detached_closed().is_some());
    /// breaker.metrics_only();
    /// assert!(breaker.try_acquire_detached_untimed().is_none());
    /// assert!(breaker.try_acquire_detached_closed().is_some());
    /// breaker.force_open();
    /// assert!(breaker.try_acquire_detached_untimed().is_none());
    /// ```
    #[inline]
    pub fn try_acquire_detached_untimed(&self) -> Option<DetachedPermit> {
        let word = Word(self.word.load(Ordering::Acquire));
        if word.state() == State::Closed && self.slow_nanos.load(Ordering::Relaxed) == 0 {
            Some(DetachedPermit(Ticket { generation: word.generation(), kind: Kind::Normal, started: UNTIMED }))
        } else {
            None
        }
    }

    /// [`try_acquire`](Self::try_acquire) for a shared breaker: the permit owns a reference,
    /// so it can move into a `'static` future.
    #[inline]
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        self.admit(|_, ticket| OwnedPermit { breaker: Arc::clone(self), ticket, done: false })
    }

    /// [`try_acquire`](Self::try_acquire) without a guard: the permit holds no reference to
    /// the breaker, for runtimes that already keep one (a tower response future, say).
    ///
    /// Hand it back to **this** breaker with [`finish_detached`](Self::finish_detached): with
    /// the outcome, or `None` when the call was cancelled. A detached permit that is never
    /// handed back holds its half-open slot until `max_half_open` reopens the breaker.
    ///
    /// ```
    /// use breaker_core::{CircuitBreaker, Config, Outcome};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// let permit = breaker.try_acquire_detached().unwrap();
    /// assert!(!permit.is_probe());
    /// breaker.finish_detached(permit, Some(Outcome::Success));
    /// ```
    #[inline]
    pub fn try_acquire_detached(&self) -> Result<DetachedPermit, Rejected> {
        self.admit(|_, ticket| DetachedPermit(ticket))
    }

    /// Records the outcome of a [`DetachedPermit`] from this breaker, or releases it when
    /// `outcome` is `None` (the call was cancelled).
    #[inline]
    pub fn finish_detached(&self, permit: DetachedPermit, outcome: Option<Outcome>) {
        self.finish(&permit.0, outcome);
    }

    #[inline]
    fn started(&self) -> u64 {
        if self.slow_nanos.load(Ordering::Relaxed) != 0 {
            self.clock.now_nanos()
        } else {
            UNTIMED
        }
    }

    /// Admission, the ticket wrapped by `wrap` into the permit the caller returns: the slow
    /// path then builds the caller's own result, which the caller takes as it is (a
    /// `Result<Ticket, _>` mapped afterwards is moved into the other layout on every rejection).
    /// `wrap` is given the breaker, so the borrowed permits' closures capture nothing.
    #[inline]
    fn admit<'a, P>(&'a self, wrap: impl FnOnce(&'a Self, Ticket) -> P) -> Result<P, Rejected> {
        let word = Word(self.word.load(Ordering::Acquire));
        match self.ticket_in(word) {
            Some(ticket) => Ok(wrap(self, ticket)),
            None => self.admit_slow(word, wrap),
        }
    }

    /// Admission in the states that admit without a decision: closed, metrics-only, disabled.
    #[inline]
    fn admit_closed(&self) -> Option<Ticket> {
        self.ticket_in(Word(self.word.load(Ordering::Acquire)))
    }

    /// The ticket for a call seen in `word`'s state, if that state admits without a decision.
    #[inline]
    fn ticket_in(&self, word: Word) -> Option<Ticket> {
        let (kind, started) = match word.state() {
            State::Closed | State::MetricsOnly => (Kind::Normal, self.started()),
            State::Disabled => (Kind::Passthrough, UNTIMED),
            _ => return None,
        };
        Some(Ticket { generation: word.generation(), kind, started })
    }

    /// Admission in the states that decide: open, forced open, half-open. The open rejection,
    /// when the wait has certainly not passed, is decided here by one cheap coarse clock read
    /// (or, while a [`Ticker`](crate::Ticker) runs, one load of its stored bound) and nothing
    /// else. Otherwise (another state; the wait may have passed; a clock with no
    /// cheap reading) [`admit_other`](Self::admit_other) decides: while open, from a fresh look
    /// at the state, as a call made a moment later would, which keeps the state word out of the
    /// registers saved across the clock read.
    // Cold, as the whole slow path was before: the callers' closed-state admission stays the
    // fall-through path (without it, the call here was laid out inline and the closed path
    // jumped over it, slower in `closed_call/breaker_core`: BENCHMARKS.md has the runs).
    #[cold]
    #[inline(never)]
    fn admit_slow<'a, P>(&'a self, word: Word, wrap: impl FnOnce(&'a Self, Ticket) -> P) -> Result<P, Rejected> {
        if word.state() != State::Open {
            return self.admit_other(word, wrap);
        }
        if let Some(upper) = self.clock.cheap_upper_bound() {
            // Loaded after the clock read: nothing of ours is then kept across it but `self`.
            let until = self.deadline.load(Ordering::Acquire);
            if upper < until {
                // Never promise more than the configured wait: the precise time is at most `upper`.
                return Err(self.rejected(RejectReason::Open, until - upper));
            }
        }
        self.admit_other(Word(self.word.load(Ordering::Acquire)), wrap)
    }

    /// Admission in the states that decide (open, forced open, half-open) but for the open
    /// rejection [`admit_slow`](Self::admit_slow) settles: [`admit_deciding`](Self::admit_deciding),
    /// the ticket wrapped. `word` is the state the caller saw.
    #[cold]
    #[inline(never)]
    fn admit_other<'a, P>(&'a self, word: Word, wrap: impl FnOnce(&'a Self, Ticket) -> P) -> Result<P, Rejected> {
        self.admit_deciding(word).map(|ticket| wrap(self, ticket))
    }

    /// The deciding states' admission. `word` is the state the caller saw; it is
    /// reloaded only when the breaker moved on.
    #[cold]
    #[inline(never)]
    fn admit_deciding(&self, mut word: Word) -> Result<Ticket, Rejected> {
        loop {
            if let Some(ticket) = self.ticket_in(word) {
                return Ok(ticket);
            }
            match word.state() {
                State::ForcedOpen => return Err(self.rejected(RejectReason::ForcedOpen, 0)),
                State::Open => match self.until_passed(self.deadline.load(Ordering::Acquire)) {
                    // Never promise more than the configured wait.
                    Err(left) => return Err(self.rejected(RejectReason::Open, left)),
                    // The wait has passed: the first caller moves the breaker to half-open, unless
                    // another replica of the fleet holds the probe budget.
                    Ok(now) => match self.probe_gate.load(Ordering::Acquire) {
                        gate if now < gate => return Err(self.rejected(RejectReason::Open, gate - now)),
                        _ => self.transition_from(word, State::HalfOpen, Reason::WaitElapsed, now),
                    },
                },
                State::HalfOpen => {
                    let permits = self.half_open_permits.load(Ordering::Relaxed);
                    if word.in_flight() < permits {
                        let next = Word::new(State::HalfOpen, word.in_flight() + 1, word.generation());
                        match self.word.compare_exchange(word.0, next.0, Ordering::AcqRel, Ordering::Acquire) {
                            Ok(_) => {
                                let started = self.clock.now_nanos();
                                return Ok(Ticket { generation: word.generation(), kind: Kind::Probe, started });
                            }
                            Err(actual) => {
                                word = Word(actual);
                                continue;
                            }
                        }
                    }
                    match self.until_passed(self.deadline.load(Ordering::Acquire)) {
                        Err(_) => return Err(self.rejected(RejectReason::HalfOpenFull, 0)),
                        // Probes never reported back: reopen rather than wedge.
                        Ok(now) => self.transition_from(word, State::Open, Reason::HalfOpenTimeout, now),
                    }
                }
                State::Closed | State::MetricsOnly | State::Disabled => {} // admitted above
            }
            word = Word(self.word.load(Ordering::Acquire));
        }
    }

    /// `Ok(now)` once `until` has passed, else `Err(nanoseconds left)`, at most the true
    /// remainder. Most calls are decided by the cheap coarse clock alone: the precise time lies
    /// in `[coarse, coarse + lag]`.
    #[inline]
    fn until_passed(&self, until: u64) -> Result<u64, u64> {
        let (coarse, lag) = self.clock.now_coarse();
        if coarse.saturating_add(lag) < until {
            return Err(until - (coarse + lag));
        }
        let now = self.clock.now_nanos();
        if now < until {
            Err(until - now)
        } else {
            Ok(now)
        }
    }

    /// Moves to `to` if the breaker is still in the state and generation of `seen` (another
    /// caller may have moved it first), and reports the transition.
    fn transition_from(&self, seen: Word, to: State, reason: Reason, now: u64) {
        let posted = {
            let mut inner = lock(&self.inner);
            let current = Word(self.word.load(Ordering::Acquire));
            let event = (current.generation() == seen.generation() && current.state() == seen.state())
                .then(|| self.transition(&mut inner, current, to, reason, now));
            self.post(event)
        };
        self.deliver(posted);
    }

    /// A rejection; `retry_after_nanos` counts only for [`RejectReason::Open`].
    #[inline]
    fn rejected(&self, reason: RejectReason, retry_after_nanos: u64) -> Rejected {
        Rejected { name: self.name.clone(), reason, retry_after_nanos }
    }

    /// Records `outcome` for `ticket`, or releases it when `outcome` is `None`.
    #[inline]
    fn finish(&self, ticket: &Ticket, outcome: Option<Outcome>) {
        // The healthy hot path, small enough to inline: a success that is not timed, in a
        // window holding only successes, changes nothing.
        // An untimed ticket cannot be slow, even if detection was switched on since (`now -
        // UNTIMED` saturates to 0); `finish_other` settles a timed one.
        if ticket.kind == Kind::Normal
            && outcome == Some(Outcome::Success)
            && ticket.started == UNTIMED
            && self.dirty.load(Ordering::Acquire) == 0
        {
            return;
        }
        self.finish_other(*ticket, outcome);
    }

    /// Takes the ticket by value: it stays in registers on the hot path that only checks it.
    #[inline(never)]
    fn finish_other(&self, ticket: Ticket, outcome: Option<Outcome>) {
        match (ticket.kind, outcome) {
            (Kind::Passthrough, _) | (Kind::Normal, None | Some(Outcome::Ignored)) => {}
            (Kind::Normal, Some(outcome)) => {
                let slow_nanos = self.slow_nanos.load(Ordering::Relaxed);
                let needs_clock = slow_nanos != 0 || self.timed_window.load(Ordering::Relaxed) != 0;
                let now = if needs_clock { self.clock.now_nanos() } else { 0 };
                let slow = is_slow(slow_nanos, ticket.started, now);
                let failed = outcome == Outcome::Failure;
                if !failed && !slow && self.dirty.load(Ordering::Acquire) == 0 {
                    return; // a fast success in a clean window changes nothing
                }
                self.record_slow(&ticket, failed, slow, now);
            }
            (Kind::Probe, outcome) => self.finish_probe(&ticket, outcome),
        }
    }

    #[cold]
    fn record_slow(&self, ticket: &Ticket, failed: bool, slow: bool, now: u64) {
        let posted = {
            let mut inner = lock(&self.inner);
            let word = Word(self.word.load(Ordering::Acquire));
            if word.generation() != ticket.generation {
                return; // admitted before the last state change: stale
            }
            inner.window.record(now, failed, slow);
            if failed {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
            } else {
                inner.consecutive_failures = 0;
            }
            let event = match self.sensitised_verdict(&mut inner, word, failed) {
                Some(event) => Some(event),
                None => self.evaluate(&mut inner, word, now),
            };
            self.update_dirty(&inner);
            self.post(event)
        };
        self.deliver(posted);
    }

    /// A sensitised closed breaker: the first failure opens it until the fleet's open ends, the
    /// first success (or the end of the fleet's open) clears the sensitisation.
    fn sensitised_verdict(&self, inner: &mut Inner, word: Word, failed: bool) -> Option<Event> {
        let (until, instance) = inner.sensitised.take()?;
        if word.state() != State::Closed || !failed {
            return None;
        }
        let now = self.clock.now_nanos();
        if now >= until {
            return None;
        }
        inner.wait_override = Some(until - now);
        let reason = Reason::Fleet { cause: FleetCause::Sensitised, instance };
        Some(Event::Transition(self.transition(inner, word, State::Open, reason, now)))
    }

    /// After recording in closed or metrics-only: opens the breaker, or reports the crossing.
    fn evaluate(&self, inner: &mut Inner, word: Word, now: u64) -> Option<Event> {
        let reason = trip_reason(inner, now);
        match word.state() {
            State::Closed => reason.map(|r| {
                // `now` is 0 when the window did not need the time (count window, no slow-call
                // detection), but the open deadline is `now + wait`: read the clock for it.
                let now = self.clock.now_nanos();
                Event::Transition(self.transition(inner, word, State::Open, r, now))
            }),
            State::MetricsOnly => match reason {
                Some(reason) if !inner.exceeded => {
                    inner.exceeded = true;
                    let snapshot = self.snapshot_locked(inner, word, now);
                    Some(Event::Exceeded(ThresholdExceeded { name: self.name.clone(), reason, snapshot }))
                }
                Some(_) => None,
                None => {
                    inner.exceeded = false;
                    None
                }
            },
            _ => None,
        }
    }

    #[cold]
    fn finish_probe(&self, ticket: &Ticket, outcome: Option<Outcome>) {
        if outcome.is_none() || outcome == Some(Outcome::Ignored) {
            self.release_probe(ticket);
            return;
        }
        let now = self.clock.now_nanos();
        let posted = {
            let mut inner = lock(&self.inner);
            let Some(word) = self.release_probe(ticket) else {
                return;
            };
            let slow = is_slow(self.slow_nanos.load(Ordering::Relaxed), ticket.started, now);
            let event = if outcome == Some(Outcome::Failure) || slow {
                Some(self.transition(&mut inner, word, State::Open, Reason::ProbeFailed, now))
            } else {
                inner.probe_successes += 1;
                let successes = inner.probe_successes;
                (successes >= inner.config.success_threshold()).then(|| {
                    self.transition(&mut inner, word, State::Closed, Reason::ProbesSucceeded { successes }, now)
                })
            };
            self.post(event)
        };
        self.deliver(posted);
    }

    /// Gives a probe slot back if the ticket's generation is current. Returns the new word.
    fn release_probe(&self, ticket: &Ticket) -> Option<Word> {
        let mut word = Word(self.word.load(Ordering::Acquire));
        loop {
            if word.generation() != ticket.generation || word.state() != State::HalfOpen || word.in_flight() == 0 {
                return None;
            }
            let next = Word::new(State::HalfOpen, word.in_flight() - 1, word.generation());
            match self.word.compare_exchange(word.0, next.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(actual) => word = Word(actual),
            }
        }
    }

    /// Moves to `to`, bumping the generation so outcomes of earlier admissions are discarded.
    /// Must be called with the lock held; the returned event is delivered after unlocking.
    fn transition(&self, inner: &mut Inner, from_word: Word, to: State, reason: Reason, now: u64) -> Transition {
        let from = from_word.state();
        let generation = from_word.generation().wrapping_add(1);
        match to {
            State::Closed => {
                inner.window.clear();
                inner.reopens = 0;
            }
            State::Open => {
                // Every reopen from half-open backs off further, whether a probe failed or the
                // probes never reported back.
                if from == State::HalfOpen {
                    inner.reopens = inner.reopens.saturating_add(1);
                }
                let wait = match inner.wait_override.take() {
                    Some(wait) => wait.max(1),
                    None => self.jittered_wait(inner),
                };
                self.deadline.store(now.saturating_add(wait), Ordering::Release);
            }
            State::HalfOpen => {
                self.deadline.store(now.saturating_add(nanos(inner.config.max_half_open())), Ordering::Release);
            }
            State::MetricsOnly => inner.exceeded = false,
            State::ForcedOpen | State::Disabled => {}
        }
        inner.probe_successes = 0;
        inner.sensitised = None;
        inner.wait_override = None;
        // A gate belongs to one open period: whoever holds probes sets it again after an opening.
        self.probe_gate.store(0, Ordering::Release);
        if matches!(to, State::Closed | State::MetricsOnly) {
            inner.consecutive_failures = 0;
        }
        let word = Word::new(to, 0, generation);
        // A swap rather than a store: the result is the same (probe admissions and releases
        // racing without the lock only change the in-flight count of the old generation, which
        // this discards), but an RMW keeps loom from exploring the store landing inside a racing
        // compare-exchange, which real atomics never do (loom issue #254).
        self.word.swap(word.0, Ordering::AcqRel);
        self.update_dirty(inner);
        Transition { name: self.name.clone(), from, to, reason, snapshot: self.snapshot_locked(inner, word, now) }
    }

    fn jittered_wait(&self, inner: &mut Inner) -> u64 {
        let base = nanos(inner.config.wait_for(inner.reopens));
        let jitter = inner.config.jitter();
        if jitter == 0.0 {
            return base;
        }
        // SplitMix64 step: a uniform in [0, 1).
        inner.rng = inner.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = inner.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss)] // 53 bits of randomness are plenty
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + jitter * (2.0 * unit - 1.0);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut waited = (base as f64 * factor) as u64;
        if inner.config.backoff_multiplier() > 1.0 {
            // `max_wait` is a ceiling: jitter may shorten a capped wait, never lengthen it.
            waited = waited.min(nanos(inner.config.max_wait()));
        }
        waited.max(1)
    }

    fn update_dirty(&self, inner: &Inner) {
        // Sensitised: the next success must take the lock to clear it.
        let clean = inner.consecutive_failures == 0 && inner.window.is_clean() && inner.sensitised.is_none();
        self.dirty.store(u32::from(!clean), Ordering::Release);
    }

    fn mirror_config(&self, inner: &Inner) {
        let config = &inner.config;
        self.slow_nanos.store(config.slow_calls().map_or(0, |s| nanos(s.duration).max(1)), Ordering::Relaxed);
        self.half_open_permits.store(config.half_open_permits(), Ordering::Relaxed);
        self.timed_window.store(u32::from(matches!(config.window(), WindowKind::Time(_))), Ordering::Relaxed);
        self.update_dirty(inner);
    }

    /// Queues `event` for the listener. Called with the state lock held, so events enter the
    /// outbox in the order the transitions happened. True when something was queued.
    fn post(&self, event: Option<impl Into<Event>>) -> bool {
        let (Some(event), Some(_)) = (event, &self.listener) else {
            return false;
        };
        lock(&self.outbox).queue.push_back(event.into());
        true
    }

    /// Delivers queued events to the listener, one at a time and in order, with no lock held
    /// while the listener runs. If another thread is delivering, it delivers ours too (after
    /// its own), and this returns at once.
    fn deliver(&self, posted: bool) {
        let Some(listener) = self.listener.as_ref().filter(|_| posted) else {
            return;
        };
        let me = std::thread::current().id();
        {
            let mut outbox = lock(&self.outbox);
            loop {
                if outbox.held || outbox.delivering == Some(me) {
                    return; // delivered on release, or by this thread's own loop below
                }
                if outbox.delivering.is_none() {
                    break;
                }
                if outbox.queue.len() <= OUTBOX_CAPACITY {
                    return; // the thread delivering delivers ours too
                }
                // The listener is far behind: wait for it rather than queue without bound.
                drop(outbox);
                std::thread::yield_now();
                outbox = lock(&self.outbox);
            }
            outbox.delivering = Some(me);
        }
        loop {
            let next = {
                let mut outbox = lock(&self.outbox);
                let next = outbox.queue.pop_front();
                if next.is_none() {
                    // Cleared under the same lock a poster takes: nothing is left behind.
                    outbox.delivering = None;
                }
                next
            };
            let Some(event) = next else {
                return;
            };
            // A panicking listener must not break the breaker or its caller.
            let _ = catch_unwind(AssertUnwindSafe(|| match event {
                Event::Transition(t) => listener.on_transition(&t),
                Event::Exceeded(e) => listener.on_threshold_exceeded(&e),
            }));
        }
    }

    fn manual(&self, to: State, op: ManualOp) {
        let now = self.clock.now_nanos();
        let posted = {
            let mut inner = lock(&self.inner);
            let word = Word(self.word.load(Ordering::Acquire));
            // Reset always runs: entering Closed empties the window even when already closed.
            if op != ManualOp::Reset && word.state() == to {
                return;
            }
            let event = self.transition(&mut inner, word, to, Reason::Manual(op), now);
            self.post(Some(event))
        };
        self.deliver(posted);
    }

    /// Rejects every call until [`reset`](Self::reset) (or another manual state).
    pub fn force_open(&self) {
        self.manual(State::ForcedOpen, ManualOp::ForceOpen);
    }

    /// Admits every call and records nothing until another manual state is chosen.
    pub fn disable(&self) {
        self.manual(State::Disabled, ManualOp::Disable);
    }

    /// Admits and records every call; reports threshold crossings to the listener but never
    /// opens, until another manual state is chosen.
    pub fn metrics_only(&self) {
        self.manual(State::MetricsOnly, ManualOp::MetricsOnly);
    }

    /// Back to closed with an empty window and the backoff reset, from any state.
    pub fn reset(&self) {
        self.manual(State::Closed, ManualOp::Reset);
    }

    /// Replaces the configuration. The state is kept; the window is kept when its kind and
    /// size are unchanged and emptied otherwise; thresholds apply from the next outcome and a
    /// new wait from the next opening.
    pub fn reconfigure(&self, config: Config) {
        let mut inner = lock(&self.inner);
        if inner.config.window() != config.window() {
            inner.window = Window::new(config.window());
        }
        inner.config = config;
        self.mirror_config(&inner);
    }

    /// Sensitises a closed breaker for `remaining`, because another replica of the fleet
    /// (`instance`) reports it open. Until then the next failure opens this breaker at once,
    /// for what is left of `remaining` (reason [`Reason::Fleet`], [`FleetCause::Sensitised`]),
    /// and the next success clears the sensitisation: a replica whose own network is broken
    /// cannot open the breaker of a healthy fleet. Returns false, changing nothing, unless the
    /// breaker is closed. A later call keeps whichever sensitisation ends last.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::{CircuitBreaker, Config, FleetCause, InstanceId, Reason, State};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::builder().minimum_calls(20).build().unwrap());
    /// assert!(breaker.sensitise(Duration::from_secs(30), InstanceId::new("replica-2")));
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.state(), State::Open, "one failure was enough");
    /// ```
    pub fn sensitise(&self, remaining: Duration, instance: InstanceId) -> bool {
        let now = self.clock.now_nanos();
        let mut inner = lock(&self.inner);
        if self.state() != State::Closed {
            return false;
        }
        let until = now.saturating_add(nanos(remaining));
        inner.sensitised = match inner.sensitised {
            Some((later, by)) if later >= until => Some((later, by)),
            _ => Some((until, instance)),
        };
        self.update_dirty(&inner);
        true
    }

    /// How much longer this breaker stays [`sensitise`](Self::sensitise)d, `None` when it is
    /// not.
    pub fn sensitised_for(&self) -> Option<Duration> {
        let now = self.clock.now_nanos();
        let inner = lock(&self.inner);
        inner.sensitised.and_then(|(until, _)| (until > now).then(|| Duration::from_nanos(until - now)))
    }

    /// Opens the breaker because the fleet did: `instance` opened it ([`FleetCause::Opened`])
    /// or its probe failed ([`FleetCause::ProbeFailed`]), and its wait has `remaining` left.
    /// A duration, not a wall-clock time, so hosts' clocks need not agree.
    ///
    /// From closed or half-open this is a transition like a local opening, with reason
    /// [`Reason::Fleet`] and a wait of `remaining`; the backoff grows as for a local reopen.
    /// Already open, the wait is extended to `remaining` if that ends later, and nothing is
    /// reported. Manual states are kept. True when the breaker moved to open.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::{CircuitBreaker, Config, FleetCause, InstanceId, State};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// assert!(breaker.adopt_open(Duration::from_secs(20), InstanceId::new("replica-2"), FleetCause::Opened));
    /// assert_eq!(breaker.state(), State::Open);
    /// assert!(breaker.try_acquire().unwrap_err().retry_after().unwrap() <= Duration::from_secs(20));
    /// ```
    pub fn adopt_open(&self, remaining: Duration, instance: InstanceId, cause: FleetCause) -> bool {
        let now = self.clock.now_nanos();
        let wait = nanos(remaining).max(1);
        let posted = {
            let mut inner = lock(&self.inner);
            let word = Word(self.word.load(Ordering::Acquire));
            match word.state() {
                State::Closed | State::HalfOpen => {
                    inner.wait_override = Some(wait);
                    let event = self.transition(&mut inner, word, State::Open, Reason::Fleet { cause, instance }, now);
                    self.post(Some(event))
                }
                State::Open => {
                    self.deadline.fetch_max(now.saturating_add(wait), Ordering::AcqRel);
                    return false;
                }
                State::ForcedOpen | State::Disabled | State::MetricsOnly => return false,
            }
        };
        self.deliver(posted);
        true
    }

    /// Closes an open or half-open breaker because the fleet's probes, on `instance`,
    /// succeeded ([`FleetCause::ProbesSucceeded`]): the window is emptied and the backoff
    /// reset, as for a local close. True when the breaker closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::{CircuitBreaker, Config, FleetCause, InstanceId, State};
    ///
    /// let breaker = CircuitBreaker::new("db", Config::default());
    /// breaker.adopt_open(Duration::from_secs(20), InstanceId::new("a"), FleetCause::Opened);
    /// assert!(breaker.adopt_close(InstanceId::new("a")));
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn adopt_close(&self, instance: InstanceId) -> bool {
        let now = self.clock.now_nanos();
        let posted = {
            let mut inner = lock(&self.inner);
            let word = Word(self.word.load(Ordering::Acquire));
            if !matches!(word.state(), State::Open | State::HalfOpen) {
                return false;
            }
            let reason = Reason::Fleet { cause: FleetCause::ProbesSucceeded, instance };
            let event = self.transition(&mut inner, word, State::Closed, reason, now);
            self.post(Some(event))
        };
        self.deliver(posted);
        true
    }

    /// Holds this replica's probes for up to `verdict_within`, because another replica holds
    /// the fleet's probe budget: while the breaker is open and its wait has passed, calls are
    /// rejected with a `retry_after` of the time left on the hold, instead of probing.
    ///
    /// The hold ends at the next transition (the fleet's verdict, applied with
    /// [`adopt_close`](Self::adopt_close) or [`adopt_open`](Self::adopt_open)), at
    /// [`release_probes`](Self::release_probes), or when `verdict_within` has passed: then
    /// this replica probes itself, so a fleet link that died cannot wedge the breaker open.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::testing::ManualClock;
    /// use breaker_core::{CircuitBreaker, Config, FleetCause, InstanceId, State};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::new("db", Config::default()).with_clock(clock.clone());
    /// breaker.adopt_open(Duration::from_secs(5), InstanceId::new("a"), FleetCause::Opened);
    /// breaker.hold_probes(Duration::from_secs(7));
    /// clock.advance(Duration::from_secs(5));
    /// let rejected = breaker.try_acquire().unwrap_err();
    /// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(2)), "until the verdict is due");
    /// breaker.release_probes();
    /// assert!(breaker.try_acquire().unwrap().is_probe());
    /// ```
    pub fn hold_probes(&self, verdict_within: Duration) {
        let until = self.clock.now_nanos().saturating_add(nanos(verdict_within));
        self.probe_gate.store(until, Ordering::Release);
    }

    /// Ends a [`hold_probes`](Self::hold_probes): this replica holds the fleet's probe budget
    /// (or the fleet link is down), so its next call after the wait probes.
    pub fn release_probes(&self) {
        self.probe_gate.store(0, Ordering::Release);
    }

    /// How much longer probes are held ([`hold_probes`](Self::hold_probes)), `None` when they
    /// are not.
    pub fn probes_held_for(&self) -> Option<Duration> {
        let gate = self.probe_gate.load(Ordering::Acquire);
        let now = self.clock.now_nanos();
        (gate > now).then(|| Duration::from_nanos(gate - now))
    }

    /// A consistent view of the breaker now.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.clock.now_nanos();
        let mut inner = lock(&self.inner);
        let word = Word(self.word.load(Ordering::Acquire));
        self.snapshot_locked(&mut inner, word, now)
    }

    fn snapshot_locked(&self, inner: &mut Inner, word: Word, now: u64) -> Snapshot {
        let stats = inner.window.stats(now);
        let retry_after = (word.state() == State::Open)
            .then(|| Duration::from_nanos(self.deadline.load(Ordering::Acquire).saturating_sub(now)));
        Snapshot {
            state: word.state(),
            failure_rate: stats.failure_rate(),
            slow_call_rate: stats.slow_rate(),
            calls_in_window: stats.calls,
            failed_calls: stats.failures,
            slow_calls: stats.slow,
            consecutive_failures: inner.consecutive_failures,
            permits_in_use: if word.state() == State::HalfOpen { word.in_flight() } else { 0 },
            retry_after,
        }
    }

    /// Bytes this breaker occupies, its window included (not its name or listener).
    pub fn memory_footprint(&self) -> usize {
        std::mem::size_of::<Self>() + lock(&self.inner).window.heap_bytes()
    }
}

/// True when a call admitted at `started` and finished at `now` counts as slow (`slow_nanos` 0:
/// detection off).
fn is_slow(slow_nanos: u64, started: u64, now: u64) -> bool {
    slow_nanos != 0 && now.saturating_sub(started) >= slow_nanos
}

fn trip_reason(inner: &mut Inner, now: u64) -> Option<Reason> {
    let config = &inner.config;
    if let Some(threshold) = config.consecutive_failures() {
        if inner.consecutive_failures >= threshold {
            return Some(Reason::ConsecutiveFailures { count: inner.consecutive_failures, threshold });
        }
    }
    let (failure_rate, slow_calls, minimum) = (config.failure_rate(), config.slow_calls(), config.minimum_calls());
    let stats = inner.window.stats(now);
    if stats.calls < minimum || stats.calls == 0 {
        return None;
    }
    if let Some(threshold) = failure_rate {
        let rate = stats.failure_rate();
        if rate >= threshold {
            return Some(Reason::FailureRate { rate, threshold });
        }
    }
    if let Some(slow) = slow_calls {
        let rate = stats.slow_rate();
        if rate >= slow.rate_threshold {
            return Some(Reason::SlowCallRate { rate, threshold: slow.rate_threshold });
        }
    }
    None
}

#[derive(Debug)]
enum Event {
    Transition(Transition),
    Exceeded(ThresholdExceeded),
}

impl From<Transition> for Event {
    fn from(t: Transition) -> Self {
        Event::Transition(t)
    }
}

/// Permission to run one call, borrowed from a [`CircuitBreaker`].
///
/// Report the call's outcome with [`success`](Self::success), [`failure`](Self::failure),
/// [`ignore`](Self::ignore) or [`record`](Self::record). Dropped unused, it frees its slot and
/// records nothing (a cancelled call) — unless the thread is panicking, in which case it
/// records a failure.
#[must_use = "report the call's outcome, or drop the permit to cancel"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
}

/// Like [`Permit`], but owning a reference to the breaker so it can be held by `'static`
/// futures.
#[must_use = "report the call's outcome, or drop the permit to cancel"]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    ticket: Ticket,
    done: bool,
}

impl Permit<'_> {
    /// Records how the call ended.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        // Nothing to free but the slot `finish` settles: skip `Drop` rather than flag it.
        let this = std::mem::ManuallyDrop::new(self);
        this.breaker.finish(&this.ticket, Some(outcome));
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        let outcome = std::thread::panicking().then_some(Outcome::Failure);
        self.breaker.finish(&self.ticket, outcome);
    }
}

impl OwnedPermit {
    /// Records how the call ended.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.breaker.finish(&self.ticket, Some(outcome));
    }
}

/// A permit with no reference to its breaker; see
/// [`CircuitBreaker::try_acquire_detached`].
#[derive(Debug)]
#[must_use = "hand the permit back with `finish_detached`"]
pub struct DetachedPermit(Ticket);

impl DetachedPermit {
    /// True when this permit is one of the half-open probes.
    #[inline]
    pub fn is_probe(&self) -> bool {
        self.0.kind == Kind::Probe
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            let outcome = std::thread::panicking().then_some(Outcome::Failure);
            self.breaker.finish(&self.ticket, outcome);
        }
    }
}

macro_rules! permit_api {
    ($ty:ty) => {
        impl $ty {
            /// The call succeeded.
            #[inline]
            pub fn success(self) {
                self.record(Outcome::Success);
            }
            /// The call failed.
            #[inline]
            pub fn failure(self) {
                self.record(Outcome::Failure);
            }
            /// The call's outcome says nothing about the dependency's health.
            #[inline]
            pub fn ignore(self) {
                self.record(Outcome::Ignored);
            }
            /// True when this permit is one of the half-open probes.
            #[inline]
            pub fn is_probe(&self) -> bool {
                self.ticket.kind == Kind::Probe
            }
            /// The name of the breaker that issued this permit.
            pub fn breaker_name(&self) -> &Name {
                self.breaker.name()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("breaker", self.breaker.name())
                    .field("probe", &self.is_probe())
                    .finish()
            }
        }
    };
}

permit_api!(Permit<'_>);
permit_api!(OwnedPermit);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ManualClock;

    #[test]
    fn a_count_window_trip_waits_the_full_wait_whatever_the_time() {
        let clock = ManualClock::new();
        let config = Config::builder().consecutive_failures(1).wait(Duration::from_secs(10)).build().unwrap();
        let breaker = CircuitBreaker::new("late", config).with_clock(clock.clone());
        clock.advance(Duration::from_secs(100));
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open);
        let rejected = breaker.try_acquire().expect_err("just opened: no probe yet");
        assert_eq!(rejected.retry_after(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn calls_admitted_before_slow_detection_was_switched_on_are_not_slow() {
        let clock = ManualClock::new();
        let quiet = || Config::builder().consecutive_failures(0).without_failure_rate().count_window(10);
        let breaker = CircuitBreaker::new("late", quiet().build().unwrap()).with_clock(clock.clone());
        clock.advance(Duration::from_secs(100));
        let running = breaker.try_acquire().unwrap();
        breaker.reconfigure(quiet().slow_call(Duration::from_secs(1)).minimum_calls(1).build().unwrap());
        running.success();
        let snapshot = breaker.snapshot();
        assert_eq!((snapshot.state, snapshot.calls_in_window, snapshot.slow_calls), (State::Closed, 1, 0));
    }
}
