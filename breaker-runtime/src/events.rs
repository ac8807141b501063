//! Subscribing to what breakers do: transitions, rejections, threshold crossings.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use breaker_core::{Listener, Rejected, State, ThresholdExceeded, Transition};
use tokio::sync::broadcast;

use crate::metrics::BreakerMetrics;
use crate::sync::{read, write};

/// Something a breaker or its registry did that users may want to alert on.
///
/// New kinds of events may be added: match with a wildcard arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A state change.
    Transition(Transition),
    /// A call was rejected.
    Rejected(Rejected),
    /// In metrics-only mode, a threshold was crossed.
    ThresholdExceeded(ThresholdExceeded),
    /// The registry's configuration was reloaded: the breakers whose configuration changed
    /// ([`Registry::reload`](crate::Registry::reload)).
    ConfigReloaded(Vec<breaker_core::Name>),
    /// A reload was refused, with every error; nothing changed.
    ConfigReloadFailed(crate::sources::SourceErrors),
}

type Callback = Arc<dyn Fn(&Event) + Send + Sync>;
type TransitionCallback = Arc<dyn Fn(&Transition) + Send + Sync>;

/// Fans events out to callbacks and channel subscribers of one registry.
pub(crate) struct Hub {
    /// Replaced whole on registration, so publishing takes a snapshot without allocating.
    callbacks: RwLock<Arc<[Callback]>>,
    /// Transitions only ([`Registry::on_transition`](crate::Registry::on_transition)): they do
    /// not turn on per-call rejection events.
    transitions: RwLock<Arc<[TransitionCallback]>>,
    sender: broadcast::Sender<Event>,
    /// Rejections are per call: only build and send them when someone listens.
    listening: AtomicBool,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("listening", &self.listening.load(Ordering::Relaxed)).finish()
    }
}

impl Hub {
    pub(crate) fn new() -> Self {
        Hub {
            callbacks: RwLock::new(Arc::from([])),
            transitions: RwLock::new(Arc::from([])),
            sender: broadcast::channel(1024).0,
            listening: AtomicBool::new(false),
        }
    }

    pub(crate) fn on_event(&self, f: Callback) {
        let mut callbacks = write(&self.callbacks);
        *callbacks = callbacks.iter().cloned().chain(std::iter::once(f)).collect();
        drop(callbacks);
        self.listening.store(true, Ordering::Release);
    }

    pub(crate) fn on_transition(&self, f: TransitionCallback) {
        let mut transitions = write(&self.transitions);
        *transitions = transitions.iter().cloned().chain(std::iter::once(f)).collect();
    }

    fn publish_transition(&self, t: &Transition) {
        let transitions = Arc::clone(&read(&self.transitions));
        for callback in transitions.iter() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(t)));
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.listening.store(true, Ordering::Release);
        self.sender.subscribe()
    }

    #[inline]
    pub(crate) fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub(crate) fn publish(&self, event: Event) {
        if !self.listening() {
            return;
        }
        let callbacks = Arc::clone(&read(&self.callbacks));
        for callback in callbacks.iter() {
            // A panicking subscriber must not take the breaker or the caller down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&event)));
        }
        let _ = self.sender.send(event);
    }
}

/// The listener the runtime plugs into every core breaker: metrics, logs, subscribers.
pub(crate) struct RuntimeListener {
    pub(crate) metrics: BreakerMetrics,
    pub(crate) hub: Arc<Hub>,
}

impl Listener for RuntimeListener {
    fn on_transition(&self, t: &Transition) {
        self.metrics.transition(t.from, t.to, &t.reason);
        log_transition(t);
        self.hub.publish_transition(t);
        self.hub.publish(Event::Transition(t.clone()));
    }

    fn on_threshold_exceeded(&self, e: &ThresholdExceeded) {
        let (value, threshold) = e.reason.measurement().unwrap_or((f64::NAN, f64::NAN));
        tracing::warn!(
            breaker = %e.name,
            reason = e.reason.as_str(),
            value,
            threshold,
            "circuit breaker threshold exceeded in metrics-only mode (not opening)"
        );
        self.hub.publish(Event::ThresholdExceeded(e.clone()));
    }
}

fn log_transition(t: &Transition) {
    let (value, threshold) = t.reason.measurement().unwrap_or((f64::NAN, f64::NAN));
    // Only trips open a breaker into `Open`; forcing it open is a manual step, logged at info.
    if t.to == State::Open {
        tracing::warn!(
            breaker = %t.name,
            from_state = t.from.as_str(),
            to_state = t.to.as_str(),
            reason = t.reason.as_str(),
            value,
            threshold,
            "circuit breaker opened: {}",
            t.reason
        );
    } else {
        tracing::info!(
            breaker = %t.name,
            from_state = t.from.as_str(),
            to_state = t.to.as_str(),
            reason = t.reason.as_str(),
            value,
            threshold,
            "circuit breaker state changed"
        );
    }
}

impl crate::Registry {
    /// Calls `f` with every state change of every breaker in this registry, and nothing else:
    /// unlike [`on_event`](Self::on_event), it does not turn on the per-call
    /// [`Event::Rejected`], so it costs calls nothing. Made for crates above the runtime that
    /// follow breakers (a fleet link, say). Runs like `on_event`'s callbacks: outside every
    /// lock, one breaker's transitions in order, on the thread that caused them; a panic is
    /// caught.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use breaker_runtime::{Registry, State};
    ///
    /// let registry = Registry::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// registry.on_transition(move |t| sink.lock().unwrap().push(t.to));
    /// registry.breaker("db").force_open();
    /// assert_eq!(*seen.lock().unwrap(), [State::ForcedOpen]);
    /// ```
    pub fn on_transition(&self, f: impl Fn(&Transition) + Send + Sync + 'static) {
        self.inner.hub.on_transition(Arc::new(f));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn transition_callbacks_do_not_switch_on_rejection_events() {
        let registry = crate::Registry::new();
        let heard = Arc::new(AtomicUsize::new(0));
        let count = heard.clone();
        registry.on_transition(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        let breaker = registry.breaker("db");
        breaker.force_open();
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        assert_eq!(heard.load(Ordering::Relaxed), 1);
        assert!(!registry.inner.hub.listening(), "rejections are not built for a transition callback");
    }
}
