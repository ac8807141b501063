//! Subscribing to what breakers do: transitions, rejections, threshold crossings.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

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
    /// Someone changed a breaker's state by hand through
    /// [`Registry::manual_change`](crate::Registry::manual_change): who (`origin`, such as an
    /// admin route) and what. The transition itself follows as an [`Event::Transition`].
    ManualChange {
        /// The breaker.
        name: breaker_core::Name,
        /// What was done.
        op: breaker_core::ManualOp,
        /// Who or what asked: an admin route, an operator's tool.
        origin: String,
    },
    /// The registry's [degradation level](crate::Registry::degradation_level) changed. A
    /// notification: when two breakers change at once these may arrive out of order, so read
    /// the current level from the registry.
    DegradationChanged {
        /// The level before.
        from: crate::DegradationLevel,
        /// The level now.
        to: crate::DegradationLevel,
    },
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
    /// Rejections are per call: only build and send them when someone listens. Set by a
    /// callback or a subscriber; cleared when a send finds no subscriber and no callback.
    listening: AtomicBool,
    /// Serialises subscribing and adding a callback with clearing `listening`.
    subscribing: Mutex<()>,
    /// The registry, for recomputing its degradation level after a transition.
    pub(crate) registry: OnceLock<Weak<crate::registry::Inner>>,
    /// The last degradation level published.
    pub(crate) level: Mutex<crate::DegradationLevel>,
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
            subscribing: Mutex::new(()),
            registry: OnceLock::new(),
            level: Mutex::new(crate::DegradationLevel::Normal),
        }
    }

    pub(crate) fn on_event(&self, f: Callback) {
        let _guard = self.subscribing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut callbacks = write(&self.callbacks);
        *callbacks = callbacks.iter().cloned().chain(std::iter::once(f)).collect();
        drop(callbacks);
        self.listening.store(true, Ordering::SeqCst);
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
        let _guard = self.subscribing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let receiver = self.sender.subscribe();
        self.listening.store(true, Ordering::SeqCst);
        receiver
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
        if self.sender.send(event).is_err() && callbacks.is_empty() {
            self.stop_listening();
        }
    }

    /// Nobody listens any more (the last subscriber was dropped and there are no callbacks):
    /// stop building per-call rejection events. Under the same lock as [`subscribe`](Self::subscribe),
    /// so a subscriber that has returned is always heard.
    #[cold]
    fn stop_listening(&self) {
        let _guard = self.subscribing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.sender.receiver_count() == 0 && read(&self.callbacks).is_empty() {
            self.listening.store(false, Ordering::SeqCst);
        }
    }
}

/// The listener the runtime plugs into every core breaker: metrics, logs, subscribers.
pub(crate) struct RuntimeListener {
    pub(crate) metrics: BreakerMetrics,
    pub(crate) hub: Arc<Hub>,
    /// The registry's clock, to time open periods for the half-open log line.
    pub(crate) clock: breaker_core::ClockSource,
    /// When the breaker last opened (clock nanoseconds); events arrive in order, one at a time.
    pub(crate) opened_at: std::sync::atomic::AtomicU64,
    /// The level of the "circuit breaker opened" line.
    pub(crate) open_level: tracing::Level,
}

impl Listener for RuntimeListener {
    fn on_transition(&self, t: &Transition) {
        self.metrics.transition(t.from, t.to, &t.reason);
        let now = self.clock.now_nanos();
        let open_for = match t.to {
            State::Open => {
                self.opened_at.store(now, Ordering::Relaxed);
                None
            }
            #[allow(clippy::cast_precision_loss)] // 2^53 ns is 104 days
            State::HalfOpen => Some(now.saturating_sub(self.opened_at.load(Ordering::Relaxed)) as f64 * 1e-9),
            _ => None,
        };
        log_transition(t, self.open_level, open_for);
        self.hub.publish_transition(t);
        self.hub.publish(Event::Transition(t.clone()));
        if let Some(inner) = self.hub.registry.get().and_then(Weak::upgrade) {
            crate::Registry { inner }.update_degradation();
        }
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

/// Emits one opening log line at `level` (a `tracing` level must be a constant at the call).
macro_rules! opened_at_level {
    ($level:expr, $($rest:tt)*) => {
        match $level {
            tracing::Level::ERROR => tracing::error!($($rest)*),
            tracing::Level::WARN => tracing::warn!($($rest)*),
            tracing::Level::INFO => tracing::info!($($rest)*),
            tracing::Level::DEBUG => tracing::debug!($($rest)*),
            _ => tracing::trace!($($rest)*),
        }
    };
}

/// The log line of a transition: an opening at the registry's opening level (`warn` unless
/// [`RegistryBuilder::open_log_level`](crate::RegistryBuilder::open_log_level) says
/// otherwise), a half-open after the wait with the seconds it was open, anything else at `info`.
fn log_transition(t: &Transition, open_level: tracing::Level, open_for: Option<f64>) {
    let (value, threshold) = t.reason.measurement().unwrap_or((f64::NAN, f64::NAN));
    // Only trips open a breaker into `Open`; forcing it open is a manual step, logged at info.
    if t.to == State::Open {
        opened_at_level!(
            open_level,
            breaker = %t.name,
            from_state = t.from.as_str(),
            to_state = t.to.as_str(),
            reason = t.reason.as_str(),
            value,
            threshold,
            "circuit breaker opened: {}",
            t.reason
        );
    } else if let (State::HalfOpen, Some(elapsed_seconds)) = (t.to, open_for) {
        tracing::info!(
            breaker = %t.name,
            from_state = t.from.as_str(),
            to_state = t.to.as_str(),
            reason = t.reason.as_str(),
            value,
            threshold,
            elapsed_seconds,
            "circuit breaker half-open after {elapsed_seconds:.1}s open: probing"
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

// ---- Display: one readable log line per event ------------------------------------------

/// One log line: the inner event's for a [`Transition`], a [`Rejected`] or a
/// [`ThresholdExceeded`]; for a reload, the breakers it changed or the errors that refused it.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use breaker_runtime::Registry;
///
/// let registry = Registry::new();
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&lines);
/// registry.on_event(move |event| sink.lock().unwrap().push(event.to_string()));
/// registry.breaker("payments").force_open();
/// assert_eq!(lines.lock().unwrap()[0], "circuit breaker `payments`: closed -> forced_open (force_open)");
/// ```
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Transition(t) => t.fmt(f),
            Event::Rejected(r) => r.fmt(f),
            Event::ThresholdExceeded(t) => t.fmt(f),
            Event::ConfigReloaded(changed) if changed.is_empty() => {
                f.write_str("circuit breaker configuration reloaded; no breaker changed")
            }
            Event::ConfigReloaded(changed) => {
                f.write_str("circuit breaker configuration reloaded; changed: ")?;
                for (i, name) in changed.iter().enumerate() {
                    write!(f, "{}`{name}`", if i == 0 { "" } else { ", " })?;
                }
                Ok(())
            }
            Event::ConfigReloadFailed(errors) => write!(f, "circuit breaker configuration reload refused: {errors}"),
            Event::DegradationChanged { from, to } => write!(f, "circuit breaker degradation level {from} -> {to}"),
            Event::ManualChange { name, op, origin } => {
                write!(f, "circuit breaker `{name}`: {op:?} by {origin}")
            }
        }
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
mod display_tests {
    use super::Event;

    #[test]
    fn reload_events_are_one_line() {
        let changed = Event::ConfigReloaded(vec!["db".into(), "search".into()]);
        assert_eq!(changed.to_string(), "circuit breaker configuration reloaded; changed: `db`, `search`");
        let none = Event::ConfigReloaded(Vec::new());
        assert_eq!(none.to_string(), "circuit breaker configuration reloaded; no breaker changed");
        #[cfg(feature = "toml")]
        let refused = crate::sources::from_toml_str("[db]\nwait = \"10 sec\"\n", "breakers.toml").unwrap_err();
        #[cfg(feature = "toml")]
        {
            let line = Event::ConfigReloadFailed(refused).to_string();
            assert!(line.starts_with("circuit breaker configuration reload refused: "), "{line}");
            assert!(line.contains("db.wait"), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
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

    #[test]
    fn rejection_events_stop_when_the_last_subscriber_is_gone() {
        let registry = crate::Registry::new();
        let breaker = registry.breaker("db");
        breaker.force_open();
        let mut events = registry.subscribe();
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        assert!(matches!(events.try_recv(), Ok(Event::Rejected(_))), "a subscriber hears rejections");
        drop(events);
        // The first rejection after the last subscriber left notices it; later ones build nothing.
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        assert!(!registry.inner.hub.listening(), "no subscriber: rejections are no longer built");
        let mut again = registry.subscribe();
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        assert!(matches!(again.try_recv(), Ok(Event::Rejected(_))), "a new subscriber hears them again");
    }

    #[test]
    fn a_callback_keeps_rejection_events_on() {
        let registry = crate::Registry::new();
        let heard = Arc::new(AtomicUsize::new(0));
        let count = heard.clone();
        registry.on_event(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        drop(registry.subscribe());
        let breaker = registry.breaker("db");
        breaker.force_open();
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
        assert!(registry.inner.hub.listening());
        assert!(heard.load(Ordering::Relaxed) >= 3, "the forced open and both rejections");
    }

    #[test]
    fn a_subscriber_arriving_as_the_last_one_leaves_still_hears_its_rejections() {
        // One thread keeps the "last subscriber left" path busy; the other subscribes, is
        // rejected, and must hear its own rejection every time.
        let registry = crate::Registry::new();
        let breaker = registry.breaker("db");
        breaker.force_open();
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (registry, breaker, stop) = (registry.clone(), breaker.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    drop(registry.subscribe());
                    let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
                }
            })
        };
        for round in 0..20_000 {
            let mut events = registry.subscribe();
            let _ = breaker.call_blocking(|| Ok::<(), ()>(()));
            let heard = loop {
                match events.try_recv() {
                    Ok(Event::Rejected(_)) => break true,
                    Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break false,
                }
            };
            assert!(heard, "round {round}: a subscriber missed a rejection that happened after it subscribed");
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().expect("churn thread");
    }
}
