//! A handle to one named breaker, and the ways to run calls through it.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(feature = "tower")]
use breaker_core::DetachedPermit;
use breaker_core::{CircuitBreaker, Name, Outcome, Permit, Rejected, Snapshot, State};
use pin_project_lite::pin_project;
use tracing::Instrument;

use crate::classify::{Classify, ErrorsAreFailures};
use crate::error::{CallError, TimedOut};
use crate::events::{Event, Hub};
use crate::metrics::{BreakerMetrics, Started};
use crate::retry::Retry;

/// Per-call options: a timeout, a fallback's timeout and how results are classified.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{Outcome, Policy};
///
/// let policy = Policy::new()
///     .timeout(Duration::from_secs(2))
///     .classify(|r: &Result<u16, std::io::Error>| match r {
///         Ok(status) if *status >= 500 => Outcome::Failure,
///         Ok(_) => Outcome::Success,
///         Err(_) => Outcome::Failure,
///     });
/// assert_eq!(policy.timeout_duration(), Some(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy<C = ErrorsAreFailures> {
    timeout: Option<Duration>,
    fallback_timeout: Option<Duration>,
    classify: C,
}

impl Policy {
    /// No timeout; `Ok` is a success and every `Err` a failure.
    pub const fn new() -> Self {
        Policy { timeout: None, fallback_timeout: None, classify: ErrorsAreFailures }
    }
}

impl<C> Policy<C> {
    /// Drop the call and record a failure if it runs longer than `timeout` (async calls only;
    /// needs a tokio runtime with time enabled).
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the timeout, or clears it with `None`.
    pub const fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bound the fallback of [`Breaker::call_or_else`] by `timeout` (it defaults to the call's
    /// own [`timeout`](Self::timeout)). A fallback still running when it elapses is dropped and
    /// the caller gets [`CallError::Timeout`] carrying this limit; a warning is logged. A call
    /// and its fallback together take at most `timeout` plus `fallback_timeout`. Needs a tokio
    /// runtime with time enabled.
    ///
    /// # Example
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use breaker_runtime::{CallError, FallbackOn, Policy, Registry};
    ///
    /// let registry = Registry::new();
    /// let feed = registry.breaker("feed");
    /// feed.force_open();
    /// let policy = Policy::new().timeout(Duration::from_secs(2)).fallback_timeout(Duration::from_millis(500));
    /// let result = feed
    ///     .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, std::io::Error>("fresh") }, |_| async {
    ///         tokio::time::sleep(Duration::from_secs(60)).await; // a cache that hangs
    ///         Ok("cached")
    ///     })
    ///     .await;
    /// let Err(CallError::Timeout(t)) = result else { panic!() };
    /// assert_eq!(t.after(), Duration::from_millis(500));
    /// # });
    /// ```
    pub const fn fallback_timeout(mut self, timeout: Duration) -> Self {
        self.fallback_timeout = Some(timeout);
        self
    }

    /// Classify results with `classify` (a [`Classifier`](crate::Classifier) or a closure).
    pub fn classify<D>(self, classify: D) -> Policy<D> {
        Policy { timeout: self.timeout, fallback_timeout: self.fallback_timeout, classify }
    }

    /// The timeout, if any.
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.timeout
    }

    /// The limit on a fallback: [`fallback_timeout`](Self::fallback_timeout) if set, otherwise
    /// the call's timeout, otherwise none.
    pub fn fallback_timeout_duration(&self) -> Option<Duration> {
        self.fallback_timeout.or(self.timeout)
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classify
    }
}

/// Which errors a fallback covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FallbackOn {
    /// Only calls the breaker rejected (it is open): failures and timeouts propagate.
    Rejected,
    /// Rejections, timeouts and failures alike.
    #[default]
    Any,
}

impl FallbackOn {
    /// True when a fallback with this scope handles `error`.
    pub fn covers<E>(self, error: &CallError<E>) -> bool {
        self == FallbackOn::Any || error.is_rejected()
    }
}

static DEFAULT_POLICY: Policy = Policy::new();

pin_project! {
    /// The future of [`Breaker::call`] and [`Breaker::call_with`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, F, C> {
        shared: &'a Shared,
        policy: &'a Policy<C>,
        #[pin]
        fut: F,
        // Settled by `poll` or, when the call is dropped mid-way, by `drop`: never dropped
        // implicitly, so the drop glue is one check.
        phase: ManuallyDrop<Phase<'a>>,
        // Set when polling `fut` unwound: a caller that catches the panic around this future
        // (as panic-catching middleware does) drops it later, when the thread no longer panics.
        panicked: bool,
    }

    impl<F, C> PinnedDrop for CallFuture<'_, F, C> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Phase::Running(_) = **this.phase {
                abandon(this.shared, this.phase, *this.panicked);
            }
        }
    }
}

/// Where a call is: not yet admitted, running with its permit, or finished.
enum Phase<'a> {
    Start,
    Running(Running<'a>),
    Done,
}

/// An admitted call in progress.
struct Running<'a> {
    permit: Permit<'a>,
    /// Raw clock reading at admission, when metrics time calls.
    started: Started,
    /// What only some calls need; `None` on the common path.
    extras: Option<Extras>,
}

/// The parts of a call that only some calls need.
struct Extras {
    /// `primary_request` or `probe_attempt`, when a subscriber enables it.
    span: Option<tracing::Span>,
    /// With a timeout: when it expires.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<'a> Phase<'a> {
    /// Ends the call: its permit and extras, if it was running.
    fn finish(&mut self) -> Option<Running<'a>> {
        match std::mem::replace(self, Phase::Done) {
            Phase::Running(running) => Some(running),
            Phase::Start | Phase::Done => None,
        }
    }
}

/// The call ended without an outcome: dropped mid-call, or after its poll unwound.
#[cold]
#[inline(never)]
fn abandon(shared: &Shared, phase: &mut Phase<'_>, panicked: bool) {
    if let Some(Running { permit, started, extras }) = phase.finish() {
        shared.abandoned(permit, started, panicked || std::thread::panicking());
        drop(extras);
    }
}

/// Sets its flag when dropped, which only happens if the code it guards unwinds.
struct OnUnwind<'a>(&'a mut bool);

impl Drop for OnUnwind<'_> {
    fn drop(&mut self) {
        *self.0 = true;
    }
}

impl<F, C> fmt::Debug for CallFuture<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match *self.phase {
            Phase::Start => "start",
            Phase::Running(_) => "running",
            Phase::Done => "done",
        };
        f.debug_struct("CallFuture").field("breaker", self.shared.core.name()).field("state", &state).finish()
    }
}

/// Admission for a call that needs [`Extras`]: a subscriber may want its spans (the
/// `circuit_breaker_check` span around admission, and the one its polls run in), or it has a
/// timeout.
#[cold]
#[inline(never)]
fn admit_with_extras<'a>(shared: &'a Shared, timeout: Option<Duration>) -> Result<Running<'a>, Rejected> {
    let admitted = if tracing::level_enabled!(tracing::Level::TRACE) {
        let _check = tracing::trace_span!("circuit_breaker_check", breaker = %shared.core.name()).entered();
        shared.core.try_acquire()
    } else {
        shared.core.try_acquire()
    };
    let permit = admitted?;
    let span = if permit.is_probe() {
        tracing::level_enabled!(tracing::Level::INFO)
            .then(|| tracing::info_span!("probe_attempt", breaker = %shared.core.name()))
    } else {
        tracing::level_enabled!(tracing::Level::DEBUG)
            .then(|| tracing::debug_span!("primary_request", breaker = %shared.core.name()))
    };
    let deadline = timeout.map(|after| Box::pin(tokio::time::sleep(after)));
    let extras = (span.is_some() || deadline.is_some()).then_some(Extras { span, deadline });
    Ok(Running { permit, started: shared.metrics.start(), extras })
}

/// Polls `fut` inside the call's span, then its timer: `None` when the timeout expired first.
#[inline(never)]
fn poll_with_extras<F: Future>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
    panicked: &mut bool,
    extras: &mut Extras,
) -> Option<Poll<F::Output>> {
    let polled = match &extras.span {
        None => poll_guarded(fut, cx, panicked),
        Some(span) => {
            let _entered = span.enter();
            poll_guarded(fut, cx, panicked)
        }
    };
    if polled.is_pending() && extras.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready()) {
        return None;
    }
    Some(polled)
}

/// Polls `fut`, setting `panicked` if it unwinds.
#[inline(always)]
fn poll_guarded<F: Future>(fut: Pin<&mut F>, cx: &mut Context<'_>, panicked: &mut bool) -> Poll<F::Output> {
    let unwinding = OnUnwind(panicked);
    let polled = fut.poll(cx);
    std::mem::forget(unwinding); // it returned: no unwinding
    polled
}

impl<'a, T, E, F, C> Future for CallFuture<'a, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    // Always inlined: called out of line, the result travels back through memory, written in
    // words and read in wider loads, which stalls store forwarding (about 5 ns a call).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every span a call may open needs at least `INFO`: one check skips them all.
        if !matches!(*self.phase, Phase::Start)
            || self.policy.timeout.is_some()
            || tracing::level_enabled!(tracing::Level::INFO)
        {
            return poll_slow(self, cx);
        }
        let this = self.project();
        // The first poll of a call without a timeout or span: admission, the poll and, when
        // `fut` is ready at once, the outcome, with the permit in a local rather than in the
        // future.
        let shared: &'a Shared = this.shared;
        let permit = match shared.core.try_acquire_closed() {
            Some(permit) => permit,
            None => match shared.core.try_acquire() {
                Ok(permit) => permit,
                Err(rejected) => {
                    **this.phase = Phase::Done;
                    return Poll::Ready(Err(CallError::Rejected(shared.on_rejected(rejected))));
                }
            },
        };
        let started = shared.metrics.start();
        // If the poll unwinds, the permit (a local) records the failure as it drops, and this
        // counts it.
        // The classifier too: a panic in it is a failure like one in `fut`.
        let unwinding = CountOnUnwind { shared, probe: permit.is_probe(), started };
        // Done until shown otherwise: a poll after this one unwound is a poll after completion.
        **this.phase = Phase::Done;
        match this.fut.poll(cx) {
            Poll::Ready(result) => {
                let outcome = this.policy.classify.classify(&result);
                std::mem::forget(unwinding); // they returned: no unwinding
                shared.finish(permit, started, outcome);
                Poll::Ready(result.map_err(CallError::Failed))
            }
            Poll::Pending => {
                std::mem::forget(unwinding); // it returned: no unwinding
                **this.phase = Phase::Running(Running { permit, started, extras: None });
                Poll::Pending
            }
        }
    }
}

/// Counts the failure of a call whose first poll unwinds (its permit, a local, records it in the
/// breaker as it drops).
struct CountOnUnwind<'a> {
    shared: &'a Shared,
    probe: bool,
    started: Started,
}

impl Drop for CountOnUnwind<'_> {
    fn drop(&mut self) {
        self.shared.count_abandoned(self.probe, self.started, true);
    }
}

/// Every poll but the fast first one: admission with [`Extras`] (a span or a timeout), and the
/// later polls of a pending call.
#[inline(never)]
fn poll_slow<'a, T, E, F, C>(fut: Pin<&mut CallFuture<'a, F, C>>, cx: &mut Context<'_>) -> Poll<Result<T, CallError<E>>>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    let this = fut.project();
    let shared: &'a Shared = this.shared;
    if *this.panicked {
        // An earlier poll unwound and the caller caught it: the call failed, and `fut` must not
        // run again.
        abandon(shared, this.phase, true);
        panic!("`CallFuture` polled after completion");
    }
    let running = match &mut **this.phase {
        Phase::Running(running) => running,
        Phase::Done => panic!("`CallFuture` polled after completion"),
        phase @ Phase::Start => match admit_with_extras(shared, this.policy.timeout) {
            Ok(running) => {
                *phase = Phase::Running(running);
                let Phase::Running(running) = phase else { unreachable!("just set") };
                running
            }
            Err(rejected) => {
                *phase = Phase::Done;
                return Poll::Ready(Err(CallError::Rejected(shared.on_rejected(rejected))));
            }
        },
    };
    let polled = match &mut running.extras {
        None => poll_guarded(this.fut, cx, this.panicked),
        Some(extras) => match poll_with_extras(this.fut, cx, this.panicked, extras) {
            Some(polled) => polled,
            None => {
                let Some(Running { permit, started, .. }) = this.phase.finish() else { unreachable!("running") };
                shared.timed_out(permit, started);
                let after = this.policy.timeout.unwrap_or_default();
                return Poll::Ready(Err(CallError::Timeout(TimedOut { name: shared.core.name().clone(), after })));
            }
        },
    };
    let Poll::Ready(result) = polled else {
        return Poll::Pending;
    };
    // Classified while the call still holds its permit: if the classifier panics, the call is
    // settled as a failure (by `drop`) like a panic in `fut`.
    let unwinding = OnUnwind(this.panicked);
    let outcome = this.policy.classify.classify(&result);
    std::mem::forget(unwinding); // it returned: no unwinding
    let Some(Running { permit, started, .. }) = this.phase.finish() else { unreachable!("running") };
    shared.finish(permit, started, outcome);
    Poll::Ready(result.map_err(CallError::Failed))
}

pub(crate) struct Shared {
    pub(crate) core: CircuitBreaker,
    pub(crate) metrics: BreakerMetrics,
    pub(crate) hub: Arc<Hub>,
    pub(crate) critical: AtomicBool,
    /// Clock reading of the last registry lookup, for idle eviction.
    pub(crate) last_used: std::sync::atomic::AtomicU64,
    /// A fallback answers this breaker's failed or rejected calls (see [`Breaker::has_fallback`]).
    pub(crate) fallback: AtomicBool,
}

impl Shared {
    /// Notes that a fallback answered a call: a read, and a write only the first time, so the
    /// cache line stays shared.
    #[inline]
    fn mark_fallback(&self) {
        if !self.fallback.load(Ordering::Relaxed) {
            self.fallback.store(true, Ordering::Relaxed);
        }
    }

    /// The call ran to completion with `outcome`.
    #[inline]
    fn finish(&self, permit: Permit<'_>, started: Started, outcome: Outcome) {
        let probe = permit.is_probe();
        permit.record(outcome);
        self.metrics.call(probe, outcome, started);
    }

    #[cfg(feature = "tower")]
    /// [`finish`](Self::finish) for a permit held apart from its breaker (the tower layer's).
    #[inline]
    pub(crate) fn finish_detached(&self, permit: DetachedPermit, started: Started, outcome: Outcome) {
        let probe = permit.is_probe();
        self.core.finish_detached(permit, Some(outcome));
        self.metrics.call(probe, outcome, started);
    }

    #[cfg(feature = "tower")]
    /// [`abandoned`](Self::abandoned) for a permit held apart from its breaker.
    #[cold]
    #[inline(never)]
    pub(crate) fn abandoned_detached(&self, permit: DetachedPermit, started: Started, panicked: bool) {
        let probe = permit.is_probe();
        self.core.finish_detached(permit, panicked.then_some(Outcome::Failure));
        self.count_abandoned(probe, started, panicked);
    }

    /// Counts a call that ended without an outcome: a failure if it panicked, otherwise a
    /// cancellation (only a cancelled probe is counted).
    #[cold]
    pub(crate) fn count_abandoned(&self, probe: bool, started: Started, panicked: bool) {
        if panicked {
            self.metrics.call(probe, Outcome::Failure, started);
        } else if probe {
            self.metrics.probe(None);
        }
    }

    /// The call exceeded its timeout: a failure, counted as `timeout`.
    #[cold]
    fn timed_out(&self, permit: Permit<'_>, started: Started) {
        let probe = permit.is_probe();
        permit.failure();
        self.metrics.measure(started);
        self.metrics.timeout();
        if probe {
            self.metrics.probe(Some(Outcome::Failure));
        }
    }

    /// The call ended without an outcome: it panicked (a failure) or was dropped mid-call
    /// (cancelled: its slot is freed and nothing is recorded).
    #[cold]
    fn abandoned(&self, permit: Permit<'_>, started: Started, panicked: bool) {
        let probe = permit.is_probe();
        if panicked {
            permit.failure();
        } else {
            drop(permit);
        }
        self.count_abandoned(probe, started, panicked);
    }

    /// Counts, logs and publishes a rejection.
    #[cold]
    pub(crate) fn on_rejected(&self, rejected: Rejected) -> Rejected {
        self.metrics.rejected();
        tracing::debug!(
            breaker = %rejected.name(),
            state = rejected.state().as_str(),
            retry_after = ?rejected.retry_after(),
            "call rejected by circuit breaker"
        );
        if self.hub.listening() {
            self.hub.publish(Event::Rejected(rejected.clone()));
        }
        rejected
    }

    /// The span a fallback runs in.
    fn fallback_span(&self, kind: &'static str) -> tracing::Span {
        tracing::info_span!("fallback_execution", breaker = %self.core.name(), reason = kind)
    }
}

/// The data source of a fallback given as a function (the attribute's `fallback`, `call_or_else`).
const FALLBACK_FN: &str = "fallback_fn";

/// The log line operators grep for when a fallback answered a call: which breaker, why
/// (`rejected`, `timeout`, `failure`) and where the data came from (`fallback_fn`,
/// `stale_cache`, `value`).
fn log_fallback_served(breaker: &breaker_core::Name, reason: &'static str, source: &'static str) {
    tracing::info!(target: "breaker_runtime::fallback", breaker = %breaker, reason, source, "circuit breaker fallback served");
}

/// A blocking call in progress; settles its permit if the closure unwinds.
struct BlockingCall<'a> {
    shared: &'a Shared,
    permit: Option<Permit<'a>>,
    started: Started,
}

impl Drop for BlockingCall<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.shared.abandoned(permit, self.started, std::thread::panicking());
        }
    }
}

/// A cheap, cloneable handle to one named breaker in a [`Registry`](crate::Registry).
///
/// Every handle for a name shares one breaker. Run calls with [`call`](Self::call) (async),
/// [`call_blocking`](Self::call_blocking), or their `_with` forms for a timeout and custom
/// classification; add fallbacks with [`call_or_else`](Self::call_or_else) and retries with
/// [`call_retrying`](Self::call_retrying).
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use breaker_runtime::{CallError, Registry};
///
/// let registry = Registry::new();
/// let users = registry.breaker("user-service");
/// let name: Result<String, CallError<std::io::Error>> = users.call(async { Ok("ada".to_owned()) }).await;
/// assert_eq!(name.unwrap(), "ada");
/// # });
/// ```
#[derive(Clone)]
pub struct Breaker {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker").field("name", self.name()).field("state", &self.state()).finish()
    }
}

impl Breaker {
    pub(crate) fn new(core: CircuitBreaker, metrics: BreakerMetrics, hub: Arc<Hub>) -> Self {
        Breaker {
            shared: Arc::new(Shared {
                core,
                metrics,
                hub,
                critical: AtomicBool::new(false),
                fallback: AtomicBool::new(false),
                last_used: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &Name {
        self.shared.core.name()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.core.state()
    }

    /// A point-in-time view: state, rates, counts, retry_after.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.core.snapshot()
    }

    /// The core state machine, for permits and manual control.
    pub fn core(&self) -> &CircuitBreaker {
        &self.shared.core
    }

    /// Marks this breaker critical for [`health`](crate::Registry::health): while it is open
    /// the report is critical.
    pub fn set_critical(&self, critical: bool) {
        self.shared.critical.store(critical, Ordering::Relaxed);
    }

    /// True when marked critical.
    pub fn is_critical(&self) -> bool {
        self.shared.critical.load(Ordering::Relaxed)
    }

    /// Declares that a fallback answers this breaker's calls when it rejects or they fail, so
    /// the default [`Readiness`](crate::Readiness) rule does not fail readiness while it is
    /// open. Running a fallback through this breaker (the attribute's `fallback = ...`,
    /// [`call_or_else`](Self::call_or_else), [`run_fallback`](Self::run_fallback)) sets it too.
    ///
    /// ```
    /// let registry = breaker_runtime::Registry::new();
    /// let search = registry.breaker("search");
    /// assert!(!search.has_fallback());
    /// search.set_has_fallback(true);
    /// assert!(search.has_fallback());
    /// ```
    pub fn set_has_fallback(&self, has_fallback: bool) {
        self.shared.fallback.store(has_fallback, Ordering::Relaxed);
    }

    /// True when a fallback answers this breaker's calls: declared with
    /// [`set_has_fallback`](Self::set_has_fallback) or seen running.
    pub fn has_fallback(&self) -> bool {
        self.shared.fallback.load(Ordering::Relaxed)
    }

    /// When the breaker entered its current state (wall clock), or was created.
    pub fn state_since(&self) -> std::time::SystemTime {
        self.shared.metrics.state_since()
    }

    /// Rejects every call until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.shared.core.force_open();
    }
    /// Admits every call and records nothing.
    pub fn disable(&self) {
        self.shared.core.disable();
    }
    /// Admits and records every call, never opens.
    pub fn metrics_only(&self) {
        self.shared.core.metrics_only();
    }
    /// Back to closed with an empty window.
    pub fn reset(&self) {
        self.shared.core.reset();
    }

    /// Runs `fut` through the breaker: `Ok` is a success, every `Err` a failure.
    ///
    /// Dropping the returned future mid-call frees the permit and records nothing; a panic
    /// inside `fut` (or in the classifier) is recorded as a failure and then keeps unwinding,
    /// also when the caller catches it and drops the future afterwards.
    #[inline]
    pub fn call<T, E, F>(&self, fut: F) -> CallFuture<'_, F, ErrorsAreFailures>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_with(&DEFAULT_POLICY, fut)
    }

    /// Runs `fut` through the breaker with `policy`'s timeout and classification.
    ///
    /// Admission happens on the first poll. A call with a timeout allocates its timer; a call
    /// without one allocates nothing.
    #[inline]
    pub fn call_with<'a, T, E, F, C>(&'a self, policy: &'a Policy<C>, fut: F) -> CallFuture<'a, F, C>
    where
        F: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        CallFuture { shared: &self.shared, policy, fut, phase: ManuallyDrop::new(Phase::Start), panicked: false }
    }

    /// Runs a blocking closure through the breaker: `Ok` is a success, every `Err` a failure.
    /// A panic inside `f` (or in the classifier) is recorded as a failure and keeps unwinding.
    pub fn call_blocking<T, E, F>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_blocking_with(&Policy::new(), f)
    }

    /// [`call_blocking`](Self::call_blocking) with `policy`'s classification. A blocking call
    /// cannot be interrupted, so a timeout is enforced after the fact: a call that ran longer,
    /// by the breaker's clock (the one slow-call detection reads), is recorded as a failure and
    /// its result replaced by [`CallError::Timeout`].
    pub fn call_blocking_with<T, E, F, C>(&self, policy: &Policy<C>, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: Classify<T, E>,
    {
        let shared = &*self.shared;
        let admitted = {
            let _check = tracing::trace_span!("circuit_breaker_check", breaker = %shared.core.name()).entered();
            shared.core.try_acquire()
        };
        let permit = match admitted {
            Ok(permit) => permit,
            Err(rejected) => return Err(CallError::Rejected(shared.on_rejected(rejected))),
        };
        let span = if permit.is_probe() {
            tracing::info_span!("probe_attempt", breaker = %shared.core.name())
        } else {
            tracing::debug_span!("primary_request", breaker = %shared.core.name())
        };
        let clock = shared.core.clock();
        let since = policy.timeout.map(|_| clock.now_nanos());
        let mut call = BlockingCall { shared, permit: Some(permit), started: shared.metrics.start() };
        let result = span.in_scope(f);
        let timed_out = match (policy.timeout, since) {
            (Some(after), Some(since)) => {
                (Duration::from_nanos(clock.now_nanos().saturating_sub(since)) > after).then_some(after)
            }
            _ => None,
        };
        // Classified while `call` holds the permit: a panicking classifier fails the call.
        let outcome = timed_out.is_none().then(|| policy.classify.classify(&result));
        let (Some(permit), started) = (call.permit.take(), call.started) else {
            unreachable!("the permit is taken here, or when `f` or the classifier unwinds")
        };
        match (outcome, timed_out) {
            (Some(outcome), _) => {
                shared.finish(permit, started, outcome);
                result.map_err(CallError::Failed)
            }
            (None, after) => {
                shared.timed_out(permit, started);
                Err(CallError::Timeout(TimedOut { name: shared.core.name().clone(), after: after.unwrap_or_default() }))
            }
        }
    }

    /// Runs `fallback` for `error`, recording the fallback's metrics and span. Nothing bounds
    /// it: [`call_or_else`](Self::call_or_else) bounds its fallback by the policy's
    /// [`fallback_timeout`](Policy::fallback_timeout).
    pub async fn run_fallback<T, E, G, GF>(&self, error: CallError<E>, fallback: G) -> T
    where
        G: FnOnce(CallError<E>) -> GF,
        GF: Future<Output = T>,
    {
        self.serve_fallback(FALLBACK_FN, error, fallback).await
    }

    /// [`run_fallback`](Self::run_fallback), logging `source` (`fallback_fn`, `stale_cache` or
    /// `value`) as where the served data came from.
    pub(crate) async fn serve_fallback<T, E, G, GF>(&self, source: &'static str, error: CallError<E>, fallback: G) -> T
    where
        G: FnOnce(CallError<E>) -> GF,
        GF: Future<Output = T>,
    {
        self.shared.mark_fallback();
        let (kind, metrics) = (error.kind(), &self.shared.metrics);
        let started = metrics.start();
        let out = fallback(error).instrument(self.shared.fallback_span(kind)).await;
        metrics.fallback(kind, started);
        log_fallback_served(self.name(), kind, source);
        out
    }

    /// Runs a blocking `fallback` for `error`, recording the fallback's metrics and span.
    pub fn run_fallback_blocking<T, E, G>(&self, error: CallError<E>, fallback: G) -> T
    where
        G: FnOnce(CallError<E>) -> T,
    {
        self.shared.mark_fallback();
        let (kind, metrics) = (error.kind(), &self.shared.metrics);
        let started = metrics.start();
        let out = self.shared.fallback_span(kind).in_scope(|| fallback(error));
        metrics.fallback(kind, started);
        log_fallback_served(self.name(), kind, FALLBACK_FN);
        out
    }

    /// Runs `fut`; when it fails in a way `on` covers, returns what `fallback` makes of the
    /// error instead.
    ///
    /// The fallback runs under the policy's [`fallback_timeout`](Policy::fallback_timeout),
    /// which defaults to the call's timeout: a fallback still running then is dropped and the
    /// result is [`CallError::Timeout`] with that limit. Without either timeout the fallback
    /// is not bounded.
    ///
    /// # Example
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use breaker_runtime::{FallbackOn, Policy, Registry};
    ///
    /// let registry = Registry::new();
    /// let feed = registry.breaker("content-service");
    /// feed.force_open();
    /// let posts = feed
    ///     .call_or_else(&Policy::new(), FallbackOn::Rejected, async { Ok::<_, std::io::Error>(vec!["fresh"]) }, |_err| async {
    ///         Ok(vec!["cached"])
    ///     })
    ///     .await;
    /// assert_eq!(posts.unwrap(), ["cached"]);
    /// # });
    /// ```
    pub async fn call_or_else<T, E, F, C, G, GF>(
        &self,
        policy: &Policy<C>,
        on: FallbackOn,
        fut: F,
        fallback: G,
    ) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        G: FnOnce(CallError<E>) -> GF,
        GF: Future<Output = Result<T, E>>,
    {
        self.call_or_else_from(FALLBACK_FN, policy, on, fut, fallback).await
    }

    /// [`call_or_else`](Self::call_or_else) naming where the fallback's data comes from.
    async fn call_or_else_from<T, E, F, C, G, GF>(
        &self,
        source: &'static str,
        policy: &Policy<C>,
        on: FallbackOn,
        fut: F,
        fallback: G,
    ) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        G: FnOnce(CallError<E>) -> GF,
        GF: Future<Output = Result<T, E>>,
    {
        match self.call_with(policy, fut).await {
            Ok(value) => Ok(value),
            Err(error) if on.covers(&error) => match policy.fallback_timeout_duration() {
                None => self.serve_fallback(source, error, fallback).await.map_err(CallError::Failed),
                Some(limit) => self.run_fallback_within(source, limit, error, fallback).await,
            },
            Err(error) => Err(error),
        }
    }

    /// [`run_fallback`](Self::run_fallback) cut off after `limit`: then a timeout, logged.
    async fn run_fallback_within<T, E, G, GF>(
        &self,
        source: &'static str,
        limit: Duration,
        error: CallError<E>,
        fallback: G,
    ) -> Result<T, CallError<E>>
    where
        G: FnOnce(CallError<E>) -> GF,
        GF: Future<Output = Result<T, E>>,
    {
        let (kind, metrics) = (error.kind(), &self.shared.metrics);
        let started = metrics.start();
        let bounded = tokio::time::timeout(limit, fallback(error).instrument(self.shared.fallback_span(kind)));
        let out = bounded.await;
        metrics.fallback(kind, started);
        match out {
            Ok(result) => {
                log_fallback_served(self.name(), kind, source);
                result.map_err(CallError::Failed)
            }
            Err(_elapsed) => {
                tracing::warn!(breaker = %self.name(), reason = kind, after = ?limit, "fallback timed out");
                Err(CallError::Timeout(TimedOut { name: self.name().clone(), after: limit }))
            }
        }
    }

    /// Runs `fut`; when it fails in a way `on` covers, returns `value` instead.
    pub async fn call_or<T, E, F>(&self, on: FallbackOn, fut: F, value: T) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_or_else_from("value", &Policy::new(), on, fut, |_| async { Ok(value) }).await
    }

    /// Runs the future `make` returns, retrying failures and timeouts with `retry`'s backoff.
    /// Stops at once when the breaker rejects: it never retries into an open circuit. Retries
    /// are counted in `circuit_breaker_retry_attempts_total`.
    ///
    /// # Example
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use breaker_runtime::{Policy, Registry, Retry};
    ///
    /// let registry = Registry::new();
    /// let orders = registry.breaker("orders");
    /// let tries = AtomicU32::new(0);
    /// let retry = Retry::new(3, Duration::from_millis(100));
    /// let result = orders
    ///     .call_retrying(&Policy::new(), &retry, || async {
    ///         if tries.fetch_add(1, Ordering::SeqCst) < 2 { Err("flaky") } else { Ok("done") }
    ///     })
    ///     .await;
    /// assert_eq!(result.unwrap(), "done");
    /// assert_eq!(tries.load(Ordering::SeqCst), 3);
    /// # });
    /// ```
    pub async fn call_retrying<T, E, F, Fut, C>(
        &self,
        policy: &Policy<C>,
        retry: &Retry,
        mut make: F,
    ) -> Result<T, CallError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        let mut attempt = 1;
        loop {
            let error = match self.call_with(policy, make()).await {
                Ok(value) => return Ok(value),
                Err(CallError::Failed(e)) => {
                    // Only failures are worth retrying; an error classified as a success or
                    // ignored (a 404, a bad request) would fail the same way again.
                    let result = Err(e);
                    let outcome = policy.classify.classify(&result);
                    let Err(e) = result else { unreachable!("constructed as Err") };
                    if outcome != Outcome::Failure {
                        return Err(CallError::Failed(e));
                    }
                    CallError::Failed(e)
                }
                Err(e @ CallError::Timeout(_)) => e,
                Err(rejected @ CallError::Rejected(_)) => return Err(rejected),
            };
            if attempt >= retry.attempts() {
                return Err(error);
            }
            self.shared.metrics.retry();
            tracing::debug!(breaker = %self.name(), attempt, error = error.kind(), "retrying call");
            tokio::time::sleep(retry.delay(attempt)).await;
            attempt += 1;
        }
    }
}
