//! Deferred delivery: accept fire-and-forget work while a dependency is down, replay it in
//! order when the breaker closes.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{counter, gauge, Counter, Gauge};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::breaker::Breaker;
use crate::error::CallError;
use crate::metrics::{LABEL_BREAKER, QUEUE_DEPTH, QUEUE_DROPPED};
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

impl<M> fmt::Display for QueueFull<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the retry queue is full")
    }
}

impl<M: fmt::Debug> std::error::Error for QueueFull<M> {}

/// How [`RetryQueue::shutdown`] treats work still waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Keep delivering for up to this long, then hand back what is left.
    Drain(Duration),
    /// Stop after the delivery in progress and hand back everything else.
    HandBack,
}

struct Shared<M, S> {
    store: Mutex<S>,
    wake: Notify,
    depth: Gauge,
    dropped: Counter,
    _message: std::marker::PhantomData<fn(M)>,
}

impl<M, S: QueueStore<M>> Shared<M, S> {
    fn store(&self) -> std::sync::MutexGuard<'_, S> {
        lock(&self.store)
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
/// Delivery is at least once: a delivery that failed after the dependency acted on it is
/// retried.
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
/// assert!(left.is_empty());
/// assert_eq!(*sent.lock().unwrap(), ["signup:1", "signup:2"]);
/// # });
/// ```
pub struct RetryQueue<M, S = MemoryStore<M>> {
    shared: Arc<Shared<M, S>>,
    stop: watch::Sender<Option<Shutdown>>,
    worker: Mutex<Option<JoinHandle<()>>>,
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
        let depth = gauge!(QUEUE_DEPTH, LABEL_BREAKER => name.clone());
        depth.set(store.len() as f64);
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            wake: Notify::new(),
            depth,
            dropped: counter!(QUEUE_DROPPED, LABEL_BREAKER => name),
            _message: std::marker::PhantomData,
        });
        let (stop, stopped) = watch::channel(None);
        let worker = tokio::spawn(run_worker(Arc::clone(&shared), breaker, deliver, stopped));
        RetryQueue { shared, stop, worker: Mutex::new(Some(worker)) }
    }

    /// Accepts `message` for delivery, or hands it back when the queue is full (or shut down).
    pub fn send(&self, message: M) -> Result<(), QueueFull<M>> {
        if self.stop.borrow().is_some() {
            self.shared.dropped.increment(1);
            return Err(QueueFull(message));
        }
        let mut store = self.shared.store();
        match store.push_back(message) {
            Ok(()) => {
                self.shared.depth.set(store.len() as f64);
                drop(store);
                self.shared.wake.notify_one();
                Ok(())
            }
            Err(message) => {
                self.shared.dropped.increment(1);
                Err(QueueFull(message))
            }
        }
    }

    /// Messages waiting, including one being delivered.
    pub fn depth(&self) -> usize {
        self.shared.store().len()
    }

    /// Stops the worker as `mode` says and returns the messages that were not delivered,
    /// oldest first. Later [`send`](Self::send)s are refused.
    pub async fn shutdown(&self, mode: Shutdown) -> Vec<M> {
        let _ = self.stop.send(Some(mode));
        self.shared.wake.notify_one();
        let worker = lock(&self.worker).take();
        if let Some(worker) = worker {
            match mode {
                Shutdown::Drain(limit) => {
                    if tokio::time::timeout(limit, &mut Box::pin(worker_done(worker))).await.is_err() {
                        // The drain window closed: the worker stops after its current attempt.
                    }
                }
                Shutdown::HandBack => {
                    let _ = worker.await;
                }
            }
        }
        let mut store = self.shared.store();
        let left = store.drain_all();
        self.shared.depth.set(0.0);
        left
    }
}

async fn worker_done(worker: JoinHandle<()>) {
    let _ = worker.await;
}

impl<M, S> Drop for RetryQueue<M, S> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            worker.abort();
        }
    }
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
        if mode == Some(Shutdown::HandBack) {
            return;
        }
        let next = shared.store().front().cloned();
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
        let pause = match breaker.call(deliver(message)).await {
            Ok(()) => {
                let mut store = shared.store();
                store.pop_front();
                shared.depth.set(store.len() as f64);
                continue;
            }
            Err(CallError::Rejected(rejected)) => {
                rejected.retry_after().unwrap_or(RETRY_PAUSE).max(Duration::from_millis(1))
            }
            Err(_) => RETRY_PAUSE,
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => {}
        }
    }
}
