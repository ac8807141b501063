//! A tower middleware that runs every request through a named breaker.
//!
//! [`CircuitBreakerLayer`] wraps any [`Service`]. Every service it builds, and every clone of
//! those services, shares the one breaker the layer was given: `layer()` never mints fresh
//! state. An open breaker is reported by [`call`](Service::call) returning a ready error
//! future, never by `poll_ready` failing (tower treats a `poll_ready` error as "discard this
//! service"). A half-open probe slot taken in `poll_ready` is given back if `call` never
//! happens. The response future is a named type and a call allocates nothing.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use tower::{service_fn, Layer, Service, ServiceExt};
//! use breaker_runtime::tower::CircuitBreakerLayer;
//! use breaker_runtime::{CallError, Registry};
//!
//! let registry = Registry::new();
//! let layer = CircuitBreakerLayer::new(registry.breaker("inventory"));
//! let mut svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
//! assert_eq!(svc.ready().await.unwrap().call(21).await.unwrap(), 42);
//!
//! registry.force_open("inventory");
//! let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
//! assert!(matches!(err, CallError::Rejected(_)));
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use breaker_core::{DetachedPermit, Outcome, Rejected};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::Breaker;
use crate::classify::{Classify, ErrorsAreFailures};
use crate::error::CallError;
use crate::metrics::Started;
use crate::registry::Registry;

#[cfg(feature = "http")]
pub use crate::http_classify::{grpc_code, GrpcClassifier, HttpClassifier};

/// Builds services that share one breaker. Cheap to clone.
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = ErrorsAreFailures> {
    breaker: Breaker,
    classify: C,
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer").field("breaker", self.breaker.name()).finish()
    }
}

impl CircuitBreakerLayer {
    /// A layer over `breaker`: `Ok` responses are successes, errors failures.
    pub fn new(breaker: Breaker) -> Self {
        CircuitBreakerLayer { breaker, classify: ErrorsAreFailures }
    }

    /// A layer over the breaker named `name` in `registry`.
    pub fn named(registry: &Registry, name: impl Into<breaker_core::Name>) -> Self {
        Self::new(registry.breaker(name))
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Classify responses with `classify` (`HttpClassifier` or `GrpcClassifier` with the `http`
    /// feature, a [`Classifier`](crate::Classifier) or a closure).
    pub fn classify<D>(self, classify: D) -> CircuitBreakerLayer<D> {
        CircuitBreakerLayer { breaker: self.breaker, classify }
    }

    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService { inner, breaker: self.breaker.clone(), classify: self.classify.clone(), permit: None }
    }
}

/// A service whose calls go through a breaker. Clones share the breaker.
pub struct CircuitBreakerService<S, C = ErrorsAreFailures> {
    inner: S,
    breaker: Breaker,
    classify: C,
    /// The permit `poll_ready` took, consumed by the next `call`.
    permit: Option<DetachedPermit>,
}

impl<S, C> Drop for CircuitBreakerService<S, C> {
    fn drop(&mut self) {
        // Readied but never called: give the slot back.
        if let Some(permit) = self.permit.take() {
            self.breaker.shared.abandoned_detached(permit, None, false);
        }
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        // A clone must be readied on its own: it never shares the original's permit.
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            permit: None,
        }
    }
}

impl<S, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("breaker", self.breaker.name())
            .field("ready", &self.permit.is_some())
            .finish()
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The shared breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// A permit, or why not: the closed-state check inline, the rest out of line.
    #[inline]
    fn admit(&self) -> Result<DetachedPermit, Rejected> {
        match self.breaker.core().try_acquire_detached_closed() {
            Some(permit) => Ok(permit),
            None => admit_deciding(&self.breaker),
        }
    }
}

/// Admission in the states that decide (open, half-open, forced open), out of line so that the
/// healthy path through `poll_ready` and `call` stays small enough to inline.
#[cold]
#[inline(never)]
fn admit_deciding(breaker: &Breaker) -> Result<DetachedPermit, Rejected> {
    breaker.core().try_acquire_detached()
}

/// Puts in `slot` a permit for `poll_ready` to keep, or `None`. Out of line, so that
/// `poll_ready` (and tower's `Ready` future around it) stays small enough to inline; the
/// untimed closed-state check first, which calls nothing, so this saves no registers and the
/// rest is a tail call.
#[inline(never)]
fn ready_permit(breaker: &Breaker, slot: &mut Option<DetachedPermit>) {
    match breaker.core().try_acquire_detached_untimed() {
        Some(permit) => *slot = Some(permit),
        None => permit_timed(breaker, slot),
    }
}

/// [`ready_permit`] when the breaker times its calls or must decide.
#[inline(never)]
fn permit_timed(breaker: &Breaker, slot: &mut Option<DetachedPermit>) {
    *slot = match breaker.core().try_acquire_detached_closed() {
        Some(permit) => Some(permit),
        None => permit_deciding(breaker),
    }
}

/// [`admit_deciding`] for `poll_ready`, which keeps a permit and forgets a rejection (building
/// the `Result` only to drop its `Rejected` costs ~15 instructions a call).
#[cold]
#[inline(never)]
fn permit_deciding(breaker: &Breaker) -> Option<DetachedPermit> {
    breaker.core().try_acquire_detached().ok()
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.inner.poll_ready(cx)).map_err(CallError::Failed)?;
        // A permit is kept until `call` (giving it up could lose a probe slot to another
        // caller). A rejection is not kept: `call` decides afresh, since the breaker may have
        // moved on by then and a stale rejection would turn away the first probe after the wait.
        if self.permit.is_none() {
            ready_permit(&self.breaker, &mut self.permit);
        }
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if self.permit.is_none() {
            match self.admit() {
                Ok(permit) => self.permit = Some(permit),
                Err(rejected) => return rejected_future(&self.breaker, rejected),
            }
        }
        let started = self.breaker.shared.metrics.start();
        // The permit stays in the service while the inner service's `call` runs: if that
        // panics, the admitted call failed, and the guard settles it from there (no copy of the
        // permit is made for the guard's sake).
        let unwinding = FailHeldOnUnwind { permit: &mut self.permit, breaker: &self.breaker, started };
        let inner = self.inner.call(req);
        std::mem::forget(unwinding); // it returned: no unwinding
                                     // The handle first: the permit then moves straight from the service into the future.
        let breaker = self.breaker.clone();
        let admitted = Admitted { permit: self.permit.take(), breaker, started };
        ResponseFuture { kind: Kind::Called { inner, classify: self.classify.clone(), admitted } }
    }
}

/// What an admitted call holds until it settles: its permit, the breaker to hand it back to,
/// and when it started. One struct, so that an unwinding guard holds one pointer.
struct Admitted {
    permit: Option<DetachedPermit>,
    breaker: Breaker,
    started: Started,
}

impl Admitted {
    /// Settles the call with `outcome`.
    #[inline]
    fn finish(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            self.breaker.shared.finish_detached(permit, self.started, outcome);
        }
    }

    /// Settles the call without an outcome: a failure if `panicked`, otherwise a cancellation.
    #[cold]
    fn abandon(&mut self, panicked: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker.shared.abandoned_detached(permit, self.started, panicked);
        }
    }
}

/// Fails the call admitted with the permit a service holds when dropped, which only happens if
/// the code it guards unwinds.
struct FailHeldOnUnwind<'a> {
    permit: &'a mut Option<DetachedPermit>,
    breaker: &'a Breaker,
    started: Started,
}

impl Drop for FailHeldOnUnwind<'_> {
    #[cold]
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.shared.abandoned_detached(permit, self.started, true);
        }
    }
}

/// Fails an admitted call when dropped, which only happens if the code it guards unwinds.
struct FailOnUnwind<'a>(&'a mut Admitted);

impl Drop for FailOnUnwind<'_> {
    #[cold]
    fn drop(&mut self) {
        self.0.abandon(true);
    }
}

/// The response future of a call the breaker turned away.
#[cold]
#[inline(never)]
fn rejected_future<F, C>(breaker: &Breaker, rejected: Rejected) -> ResponseFuture<F, C> {
    ResponseFuture { kind: Kind::Rejected { error: Some(breaker.shared.on_rejected(rejected)) } }
}

pin_project! {
    /// The response future of [`CircuitBreakerService`]. Dropped before it completes, it gives
    /// its permit back (or records a failure if the thread is panicking). A panic in the inner
    /// service or the classifier is a failure, recorded as it unwinds, even when a caller
    /// catches it and drops this future later.
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }

    impl<F, C> PinnedDrop for ResponseFuture<F, C> {
        #[inline]
        fn drop(this: Pin<&mut Self>) {
            if let KindProj::Called { admitted, .. } = this.project().kind.project() {
                if admitted.permit.is_some() {
                    // Cancelled, or dropped while unwinding.
                    admitted.abandon(std::thread::panicking());
                }
            }
        }
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Rejected { error: Option<Rejected> },
        Called {
            #[pin]
            inner: F,
            classify: C,
            // Settled by `poll`, or by `drop`.
            admitted: Admitted,
        },
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    // Always inlined: called out of line, the result travels back through memory, written in
    // words and read in wider loads, which stalls store forwarding.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { error } => match error.take() {
                Some(rejected) => Poll::Ready(Err(CallError::Rejected(rejected))),
                None => Poll::Pending, // polled after completion: stay pending, as futures may
            },
            KindProj::Called { inner, classify, admitted } => {
                // A panic in the inner future or the classifier fails the call here, as it
                // unwinds: a caller that catches it (tower-http's `CatchPanicLayer`) drops this
                // future later, when the thread no longer panics and a drop looks like a
                // cancellation.
                let unwinding = FailOnUnwind(admitted);
                let Poll::Ready(result) = inner.poll(cx) else {
                    std::mem::forget(unwinding); // it returned: no unwinding
                    return Poll::Pending;
                };
                let outcome = classify.classify(&result);
                std::mem::forget(unwinding); // they returned: no unwinding
                admitted.finish(outcome);
                Poll::Ready(result.map_err(CallError::Failed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::{service_fn, Layer, Service, ServiceExt};

    use super::CircuitBreakerLayer;
    use crate::testing::ManualClock;
    use crate::{metrics as names, Config, Outcome, Registry, State};

    type Snapshot = Vec<(metrics_util::CompositeKey, Option<metrics::Unit>, Option<metrics::SharedString>, DebugValue)>;

    /// The value of the metric `name` whose labels are exactly `labels`.
    fn value<'a>(snapshot: &'a Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let mut got: Vec<(String, String)> =
                key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            got.sort();
            let mut want: Vec<(String, String)> =
                labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            want.sort();
            (key.key().name() == name && got == want).then_some(value)
        })
    }

    fn poll_now<F: Future>(fut: F) -> Poll<F::Output> {
        std::pin::pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// The states `poll_ready` does not admit on its inline path (closed with slow-call
    /// detection on, metrics-only, disabled) behave through the layer as through `call`: slow
    /// calls are timed and open the breaker, a metrics-only breaker records but never rejects, a
    /// disabled one records nothing.
    #[test]
    fn timed_metrics_only_and_disabled_breakers_through_the_layer() {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build().unwrap();
        let rates = || Config::builder().consecutive_failures(0).count_window(4).minimum_calls(4);
        registry
            .configure("slow", rates().without_failure_rate().slow_call(Duration::from_secs(1)).slow_call_rate(0.5))
            .unwrap();
        registry.configure("failing", rates().failure_rate(0.5)).unwrap();
        // `Ok(true)` takes two seconds, `Ok(false)` none, `Err` fails at once.
        let inner = |clock: ManualClock| {
            service_fn(move |slow: Result<bool, ()>| {
                let clock = clock.clone();
                async move {
                    if slow == Ok(true) {
                        clock.advance(Duration::from_secs(2));
                    }
                    slow
                }
            })
        };
        let send = |svc: &mut _, req| match poll_now(async {
            let svc: &mut super::CircuitBreakerService<_, _> = svc;
            svc.ready().await.unwrap().call(req).await
        }) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a ready service_fn completes at once"),
        };

        let mut slow = CircuitBreakerLayer::new(registry.breaker("slow")).layer(inner(clock.clone()));
        for req in [false, true, false, true] {
            assert!(send(&mut slow, Ok(req)).is_ok());
        }
        assert_eq!(registry.breaker("slow").state(), State::Open, "two slow calls of four open it");
        assert!(matches!(send(&mut slow, Ok(false)), Err(crate::CallError::Rejected(_))));

        let mut failing = CircuitBreakerLayer::new(registry.breaker("failing")).layer(inner(clock.clone()));
        assert!(registry.metrics_only("failing"));
        for _ in 0..8 {
            assert!(matches!(send(&mut failing, Err(())), Err(crate::CallError::Failed(()))));
        }
        assert_eq!(registry.breaker("failing").state(), State::MetricsOnly);
        let snapshot = registry.breaker("failing").snapshot();
        assert_eq!(
            (snapshot.calls_in_window, snapshot.failed_calls),
            (4, 4),
            "recorded: the window holds the last four"
        );

        assert!(registry.disable("failing"));
        let before = registry.breaker("failing").snapshot();
        for _ in 0..8 {
            assert!(matches!(send(&mut failing, Err(())), Err(crate::CallError::Failed(()))));
        }
        let after = registry.breaker("failing").snapshot();
        assert_eq!(after.state, State::Disabled);
        assert_eq!(
            (after.calls_in_window, after.failed_calls, after.consecutive_failures),
            (before.calls_in_window, before.failed_calls, before.consecutive_failures),
            "nothing recorded"
        );
    }

    /// Through the layer, every admitted call is counted by its outcome and timed, a probe is
    /// counted by its result, and a rejection is counted but not timed: as through `call`.
    #[test]
    fn layer_calls_are_counted_by_outcome_and_timed() {
        let recorder = DebuggingRecorder::new();
        let clock = ManualClock::new();
        let registry = metrics::with_local_recorder(&recorder, || {
            let registry = Registry::builder().clock(clock.clone()).build().unwrap();
            let config = Config::builder()
                .consecutive_failures(1)
                .wait(Duration::from_secs(10))
                .half_open_permits(1)
                .success_threshold(1);
            registry.configure("api", config).unwrap();
            registry.breaker("api"); // created while the recorder is installed: metered
            registry
        });
        // 0 succeeds, 1 is ignored, anything else fails.
        let layer = CircuitBreakerLayer::new(registry.breaker("api")).classify(|r: &Result<u32, u32>| match r {
            Ok(_) => Outcome::Success,
            Err(1) => Outcome::Ignored,
            Err(_) => Outcome::Failure,
        });
        let mut svc = layer.layer(service_fn(|n: u32| async move {
            if n == 0 {
                Ok(n)
            } else {
                Err(n)
            }
        }));
        let mut send = |n: u32| match poll_now(async { svc.ready().await.unwrap().call(n).await }) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a ready service_fn completes at once"),
        };
        metrics::with_local_recorder(&recorder, || {
            assert!(send(0).is_ok());
            assert!(send(1).is_err());
            assert!(send(2).is_err()); // opens the breaker
            assert_eq!(registry.breaker("api").state(), State::Open);
            assert!(matches!(send(0), Err(crate::CallError::Rejected(_))));
            clock.advance(Duration::from_secs(10));
            assert!(send(0).is_ok()); // the probe closes it
            assert_eq!(registry.breaker("api").state(), State::Closed);
        });

        let snapshot = recorder.snapshotter().snapshot().into_vec(); // drains the histograms: once
        let counter = |name, labels: &[(&str, &str)]| match value(&snapshot, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name} {labels:?}: {other:?}"),
        };
        let calls = |outcome| counter(names::CALLS, &[("breaker", "api"), ("outcome", outcome)]);
        assert_eq!((calls("success"), calls("failure"), calls("ignored"), calls("rejected")), (2, 1, 1, 1));
        assert_eq!(counter(names::PROBE_ATTEMPTS, &[("breaker", "api"), ("result", "success")]), 1);
        let Some(DebugValue::Histogram(durations)) = value(&snapshot, names::CALL_DURATION, &[("breaker", "api")])
        else {
            panic!("no duration histogram")
        };
        assert_eq!(durations.len(), 4, "every admitted call is timed, the rejected one is not: {durations:?}");
        assert!(durations.iter().all(|d| d.into_inner() >= 0.0 && d.is_finite()), "{durations:?}");
    }
}
