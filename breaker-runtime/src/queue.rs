//! Deferred delivery: accept fire-and-forget work while a dependency is down, replay it in
//! order when the breaker closes.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::breaker::Breaker;
use crate::error::CallError;
use crate::metrics::{QUEUE_DEPTH, QUEUE_DROPPED};
use crate::sync::lock;

/// Where queued work waits. The in-memory [`MemoryStore`] is the default; implement this to
/// persist work across restarts.
pub trait QueueStore<M>: Send + 'static {
    /// Appends `message`; returns it when the store is full.
    fn push_back(&mut self, message: M) -> Result<(), M>;
    /// The oldest message, without removing it.
    fn front(&self) -> Option<&M>;
    /// Removes the oldest message (after it was delivered).
    fn pop_front(&mut self) -> Option<M>;
    /// Messages waiting.
    fn len(&self) -> usize;
    /// True when nothing waits.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Removes and returns everything, oldest first.
    fn drain_all(&mut self) -> Vec<M>;
}

/// A bounded in-memory [`QueueStore`].
#[derive(Debug)]
pub struct MemoryStore<M> {
    items: VecDeque<M>,
    capacity: usize,
}

impl<M> MemoryStore<M> {
    /// A store holding at most `capacity` messages.
    pub fn new(capacity: usize) -> Self {
        MemoryStore { items: VecDeque::with_capacity(capacity.min(1024)), capacity }
    }
}

impl<M: Send + 'static> QueueStore<M> for MemoryStore<M> {
    fn push_back(&mut self, message: M) -> Result<(), M> {
        if self.items.len() >= self.capacity {
            return Err(message);
        }
        self.items.push_back(message);
        Ok(())
    }
    fn front(&self) -> Option<&M> {
        self.items.front()
    }
    fn pop_front(&mut self) -> Option<M> {
        self.items.pop_front()
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn drain_all(&mut self) -> Vec<M> {
        self.items.drain(..).collect()
    }
}

/// The queue was full: the message is handed back, never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFull<M>(pub M);

/// A named queue's settings, as [`Registry::queue_settings`](crate::Registry::queue_settings)
/// resolves them from code defaults, the file and the environment.
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{sources, QueueSettings, Registry};
///
/// let file = sources::from_toml_str("[queues.orders]\ncapacity = 5000\n", "breakers.toml").unwrap();
/// let env = sources::from_env_vars([("CIRCUIT_BREAKER_QUEUE__ORDERS__SHUTDOWN_DEADLINE", "10s")]).unwrap();
/// let registry = Registry::builder().file_config(file).env_config(env).build().unwrap();
/// let defaults = QueueSettings { capacity: 100, shutdown_deadline: Duration::from_secs(1) };
/// let settings = registry.queue_settings("orders", defaults);
/// assert_eq!(settings, QueueSettings { capacity: 5000, shutdown_deadline: Duration::from_secs(10) });
/// // Then: RetryQueue::new(breaker, settings.capacity, deliver) and, at the end,
/// // queue.shutdown(Shutdown::Drain(settings.shutdown_deadline)).
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Messages the queue holds before [`send`](RetryQueue::send) refuses more.
    pub capacity: usize,
    /// How long shutting the queue down may take.
    pub shutdown_deadline: Duration,
}

impl<M> fmt::Display for QueueFull<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the retry queue is full")
    }
}

impl<M: fmt::Debug> std::error::Error for QueueFull<M> {}

/// How [`RetryQueue::shutdown`] treats work still waiting. Each mode carries the longest
/// shutdown may take: when it runs out, a delivery still in progress is cut off (its future
/// dropped) and its message handed back as
/// [`possibly_delivered`](HandedBack::possibly_delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Keep delivering for up to this long, then hand back what is left.
    Drain(Duration),
    /// Start no new delivery; give the one in progress (if any) up to this long to finish,
    /// then hand back everything left. `HandBack(Duration::ZERO)` cuts it off at once.
    HandBack(Duration),
}

impl Shutdown {
    /// The longest shutdown waits for deliveries in this mode.
    pub fn deadline(self) -> Duration {
        match self {
            Shutdown::Drain(limit) | Shutdown::HandBack(limit) => limit,
        }
    }
}

/// The messages [`RetryQueue::shutdown`] did not deliver, oldest first, split by what is
/// known about them. A message is either delivered or handed back here, never both; the one
/// message whose fate is unknown says so.
///
/// # Example
///
/// ```
/// use breaker_runtime::HandedBack;
///
/// let left = HandedBack { possibly_delivered: Some(7), not_delivered: vec![8, 9] };
/// assert_eq!(left.len(), 3);
/// // Resend 7 only if the dependency has not seen it (an idempotency key), 8 and 9 as usual.
/// assert_eq!(left.into_vec(), [7, 8, 9]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "these messages were not delivered: dropping them loses them"]
pub struct HandedBack<M> {
    /// The oldest message, when an attempt to deliver it ran and did not report success: it
    /// was cut off by the shutdown deadline, or it returned an error. The dependency may have
    /// acted on it all the same (a lost acknowledgement, a timeout after the request
    /// arrived), so sending it again can duplicate it; deduplicate downstream or check first.
    pub possibly_delivered: Option<M>,
    /// Messages no attempt ran for (never started, or only rejected by the open breaker): they
    /// did not reach the dependency through this queue.
    pub not_delivered: Vec<M>,
}

impl<M> HandedBack<M> {
    /// Messages handed back in all.
    pub fn len(&self) -> usize {
        usize::from(self.possibly_delivered.is_some()) + self.not_delivered.len()
    }

    /// True when every accepted message was delivered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message handed back, oldest first (the possibly delivered one, if any, first).
    pub fn into_vec(self) -> Vec<M> {
        self.possibly_delivered.into_iter().chain(self.not_delivered).collect()
    }
}

/// The store and what the worker knows about its oldest message, under one lock.
struct Inner<S> {
    store: S,
    /// A delivery of the oldest message is running now.
    delivering: bool,
    /// An earlier delivery of the oldest message ran and failed (or timed out).
    failed_before: bool,
    /// Shutdown has taken every message: the worker must leave the store alone.
    closed: bool,
}

struct Shared<M, S> {
    inner: Mutex<Inner<S>>,
    wake: Notify,
    depth: Gauge,
    dropped: Counter,
    _message: std::marker::PhantomData<fn(M)>,
}

impl<M, S: QueueStore<M>> Shared<M, S> {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner<S>> {
        lock(&self.inner)
    }
}

/// A bounded queue in front of a breaker for fire-and-forget work (publishing an event,
/// sending a message).
///
/// [`send`](Self::send) accepts a message at once, or hands it back with [`QueueFull`]. One
/// worker task delivers messages strictly in order through the breaker: a message leaves the
/// queue only once delivered, so while the dependency is down (the breaker rejecting or
/// calls failing) work waits, and it is replayed in order once probes succeed. The worker
/// waits out the breaker's `retry_after` instead of hammering it. Depth and refusals are the
/// metrics `circuit_breaker_queue_depth` and `circuit_breaker_queue_dropped_total`.
///
/// # What is promised
///
/// - **In order, at least once.** A message leaves the queue only when `deliver` returned
///   `Ok`. A delivery that returned an error (or timed out) is retried, so if the dependency
///   acted on it before the error (the acknowledgement was lost, the timeout fired after the
///   request arrived), it arrives twice. Make deliveries idempotent (a message id the
///   dependency deduplicates on) when duplicates matter.
/// - **Shutdown hands back, never both.** [`shutdown`](Self::shutdown) returns within the
///   deadline its [`Shutdown`] mode carries, whatever a delivery does: a delivery still
///   running then is cut off (its future dropped; nothing is delivered by the queue after
///   `shutdown` returns). Every accepted message is either delivered or in the returned
///   [`HandedBack`], never both, and the one whose fate is unknown (cut off, or its last
///   attempt failed) is handed back as
///   [`possibly_delivered`](HandedBack::possibly_delivered).
/// - **Dropping the queue** without `shutdown` stops the worker (cutting off any delivery)
///   and drops what is still waiting in a [`MemoryStore`].
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use breaker_runtime::{Registry, RetryQueue, Shutdown};
///
/// let registry = Registry::new();
/// let broker = registry.breaker("kafka");
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let log = sent.clone();
/// let queue = RetryQueue::new(broker.clone(), 100, move |event: String| {
///     let log = log.clone();
///     async move {
///         log.lock().unwrap().push(event);
///         Ok::<_, std::io::Error>(())
///     }
/// });
/// broker.force_open(); // the broker is down: work waits
/// queue.send("signup:1".to_owned()).unwrap();
/// queue.send("signup:2".to_owned()).unwrap();
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// assert!(sent.lock().unwrap().is_empty());
///
/// broker.reset(); // back up: replayed in order
/// let left = queue.shutdown(Shutdown::Drain(Duration::from_secs(5))).await;
/// assert!(left.is_empty(), "nothing handed back");
/// assert_eq!(*sent.lock().unwrap(), ["signup:1", "signup:2"]);
/// # });
/// ```
pub struct RetryQueue<M, S = MemoryStore<M>> {
    shared: Arc<Shared<M, S>>,
    stop: watch::Sender<Option<Shutdown>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// For the log lines of `send`: is the dependency down?
    breaker: Breaker,
}

impl<M, S> fmt::Debug for RetryQueue<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryQueue").finish_non_exhaustive()
    }
}

/// How long the worker waits before retrying after a failed delivery, or when the breaker
/// gives no `retry_after`.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

impl<M: Clone + Send + 'static> RetryQueue<M> {
    /// A queue of at most `capacity` messages delivered by `deliver` through `breaker`. Spawns
    /// its worker on the current tokio runtime.
    pub fn new<D, Fut, E>(breaker: Breaker, capacity: usize, deliver: D) -> Self
    where
        D: Fn(M) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        Self::with_store(breaker, MemoryStore::new(capacity), deliver)
    }
}

impl<M: Clone + Send + 'static, S: QueueStore<M>> RetryQueue<M, S> {
    /// A queue over your own `store` (for persistence).
    pub fn with_store<D, Fut, E>(breaker: Breaker, store: S, deliver: D) -> Self
    where
        D: Fn(M) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let name = breaker.name().to_string();
        // As the breaker's own metrics: nothing registered for a registry with metrics off.
        let (depth, dropped) = if breaker.shared.metrics.records() {
            (
                crate::metrics::breaker_gauge(QUEUE_DEPTH, &name),
                crate::metrics::breaker_counter(QUEUE_DROPPED, &name, None),
            )
        } else {
            (metrics::Gauge::noop(), metrics::Counter::noop())
        };
        depth.set(store.len() as f64);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner { store, delivering: false, failed_before: false, closed: false }),
            wake: Notify::new(),
            depth,
            dropped,
            _message: std::marker::PhantomData,
        });
        let (stop, stopped) = watch::channel(None);
        let worker = tokio::spawn(run_worker(Arc::clone(&shared), breaker.clone(), deliver, stopped));
        RetryQueue { shared, stop, worker: Mutex::new(Some(worker)), breaker }
    }

    /// Accepts `message` for delivery, or hands it back when the queue is full (or shut down).
    pub fn send(&self, message: M) -> Result<(), QueueFull<M>> {
        if self.stop.borrow().is_some() {
            self.shared.dropped.increment(1);
            return Err(QueueFull(message));
        }
        let mut inner = self.shared.inner();
        if inner.closed {
            drop(inner);
            self.shared.dropped.increment(1);
            return Err(QueueFull(message));
        }
        match inner.store.push_back(message) {
            Ok(()) => {
                let depth = inner.store.len();
                self.shared.depth.set(depth as f64);
                drop(inner);
                self.shared.wake.notify_one();
                let state = self.breaker.state();
                if matches!(
                    state,
                    breaker_core::State::Open | breaker_core::State::HalfOpen | breaker_core::State::ForcedOpen
                ) {
                    tracing::info!(
                        breaker = %self.breaker.name(),
                        queue_depth = depth,
                        state = state.as_str(),
                        "message queued while the dependency is down"
                    );
                }
                Ok(())
            }
            Err(message) => {
                let depth = inner.store.len();
                drop(inner);
                self.shared.dropped.increment(1);
                tracing::error!(breaker = %self.breaker.name(), queue_depth = depth, "retry queue full: message refused");
                Err(QueueFull(message))
            }
        }
    }

    /// Messages waiting, including one being delivered.
    pub fn depth(&self) -> usize {
        self.shared.inner().store.len()
    }

    /// Stops the worker as `mode` says and hands back every message not delivered, oldest
    /// first. Later [`send`](Self::send)s are refused.
    ///
    /// Returns within `mode`'s [`deadline`](Shutdown::deadline): when it passes, a delivery
    /// still running is cut off (its future dropped) and its message handed back as
    /// [`possibly_delivered`](HandedBack::possibly_delivered). The only wait past the
    /// deadline is for the worker task to drop that future, which is immediate unless the
    /// future blocks its thread. Calling it again returns at once, with whatever is still
    /// waiting (nothing, once an earlier call has returned).
    ///
    /// # Example
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use breaker_runtime::{HandedBack, Registry, RetryQueue, Shutdown};
    ///
    /// let registry = Registry::new();
    /// // A broker that never answers.
    /// let queue = RetryQueue::new(registry.breaker("broker"), 10, |_: u32| {
    ///     std::future::pending::<Result<(), std::io::Error>>()
    /// });
    /// queue.send(1).unwrap();
    /// queue.send(2).unwrap();
    /// tokio::time::sleep(Duration::from_millis(10)).await; // 1 is being delivered
    ///
    /// let left = queue.shutdown(Shutdown::HandBack(Duration::from_millis(100))).await;
    /// assert_eq!(left, HandedBack { possibly_delivered: Some(1), not_delivered: vec![2] });
    /// assert!(queue.send(3).is_err(), "refused after shutdown");
    /// # });
    /// ```
    pub async fn shutdown(&self, mode: Shutdown) -> HandedBack<M> {
        let _ = self.stop.send(Some(mode));
        self.shared.wake.notify_one();
        let worker = lock(&self.worker).take();
        let mut worker = match worker {
            Some(mut worker) => {
                // Drain: the worker ends once the store is empty. HandBack: once the delivery
                // in progress (if any) ends.
                match tokio::time::timeout(mode.deadline(), &mut worker).await {
                    Ok(_) => None,
                    Err(_) => Some(worker),
                }
            }
            None => None,
        };
        // Take everything under the lock and close the store to the worker: from here on a
        // delivery that completes changes nothing, so nothing is both delivered and handed back.
        let left = {
            let mut inner = self.shared.inner();
            inner.closed = true;
            let uncertain = inner.delivering || inner.failed_before;
            inner.delivering = false;
            inner.failed_before = false;
            let mut messages = inner.store.drain_all().into_iter();
            let possibly_delivered = if uncertain { messages.next() } else { None };
            HandedBack { possibly_delivered, not_delivered: messages.collect() }
        };
        self.shared.depth.set(0.0);
        if let Some(worker) = worker.take() {
            // Cut off the delivery still running: dropping its future frees its permit.
            worker.abort();
            let _ = worker.await;
        }
        left
    }
}

impl<M, S> Drop for RetryQueue<M, S> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            worker.abort();
        }
    }
}

/// What one delivery attempt came to.
enum Attempt {
    Delivered,
    Rejected(Duration),
    Failed,
}

async fn run_worker<M, S, D, Fut, E>(
    shared: Arc<Shared<M, S>>,
    breaker: Breaker,
    deliver: D,
    mut stopped: watch::Receiver<Option<Shutdown>>,
) where
    M: Clone + Send + 'static,
    S: QueueStore<M>,
    D: Fn(M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
{
    loop {
        let mode = *stopped.borrow();
        if matches!(mode, Some(Shutdown::HandBack(_))) {
            return;
        }
        let next = {
            let mut inner = shared.inner();
            if inner.closed {
                return;
            }
            let next = inner.store.front().cloned();
            inner.delivering = next.is_some();
            next
        };
        let Some(message) = next else {
            if mode.is_some() {
                return; // drained
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                _ = stopped.changed() => {}
            }
            continue;
        };
        let attempt = match breaker.call(deliver(message)).await {
            Ok(()) => Attempt::Delivered,
            Err(CallError::Rejected(rejected)) => {
                Attempt::Rejected(rejected.retry_after().unwrap_or(RETRY_PAUSE).max(Duration::from_millis(1)))
            }
            Err(_) => Attempt::Failed,
        };
        let pause = {
            let mut inner = shared.inner();
            if inner.closed {
                return; // shutdown handed the message back as possibly delivered
            }
            inner.delivering = false;
            match attempt {
                Attempt::Delivered => {
                    inner.store.pop_front();
                    inner.failed_before = false;
                    shared.depth.set(inner.store.len() as f64);
                    continue;
                }
                // A rejected call never ran: it tells nothing about the message.
                Attempt::Rejected(pause) => pause,
                Attempt::Failed => {
                    inner.failed_before = true;
                    RETRY_PAUSE
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => {}
        }
    }
}
