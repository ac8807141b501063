//! Deferred delivery through `RetryQueue`: order, exactly-once replay, refusals, shutdown and
//! repeated outages. Time is tokio's paused clock, which also drives the breakers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{Clock, Config, HandedBack, QueueFull, Registry, RetryQueue, Shutdown};

/// Breaker time that follows tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap()
    }
}

#[derive(Default)]
struct Broker {
    up: bool,
    delivered: Vec<u64>,
    attempts: u64,
}

type Shared = Arc<Mutex<Broker>>;

fn setup(capacity: usize) -> (Registry, Shared, RetryQueue<u64>) {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
    let registry = Registry::builder()
        .clock(clock)
        .default_config(
            Config::builder()
                .consecutive_failures(3)
                .wait(Duration::from_secs(1))
                .half_open_permits(1)
                .success_threshold(1),
        )
        .build()
        .unwrap();
    let broker: Shared = Arc::new(Mutex::new(Broker { up: true, ..Broker::default() }));
    let b = broker.clone();
    let queue = RetryQueue::new(registry.breaker("broker"), capacity, move |m: u64| {
        let b = b.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let mut b = b.lock().unwrap();
            b.attempts += 1;
            if b.up {
                b.delivered.push(m);
                Ok(())
            } else {
                Err("broker unreachable")
            }
        }
    });
    (registry, broker, queue)
}

fn set_up(broker: &Shared, up: bool) {
    broker.lock().unwrap().up = up;
}

#[tokio::test(start_paused = true)]
async fn an_outage_delays_delivery_and_replays_every_message_once_in_order() {
    let (registry, broker, queue) = setup(1000);
    set_up(&broker, false);
    for m in 0..100 {
        queue.send(m).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(broker.lock().unwrap().delivered.is_empty());
    assert!(registry.get("broker").unwrap().state().is_open(), "the breaker opened");
    let attempts_while_down = broker.lock().unwrap().attempts;
    assert!(attempts_while_down <= 3 + 10, "shielded: {attempts_while_down} attempts in 10 s");

    set_up(&broker, true);
    let left = queue.shutdown(Shutdown::Drain(Duration::from_secs(30))).await;
    assert!(left.is_empty());
    assert_eq!(broker.lock().unwrap().delivered, (0..100).collect::<Vec<_>>());
    assert_eq!(queue.depth(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_hands_the_message_back() {
    let (registry, _broker, queue) = setup(3);
    registry.force_open("broker");
    for m in 0..3 {
        queue.send(m).unwrap();
    }
    assert_eq!(queue.send(3), Err(QueueFull(3)));
    assert_eq!(queue.depth(), 3);
    let left = queue.shutdown(Shutdown::HandBack(Duration::ZERO)).await;
    assert_eq!(left, HandedBack { possibly_delivered: None, not_delivered: vec![0, 1, 2] }, "rejected, never sent");
    assert_eq!(queue.send(4), Err(QueueFull(4)), "refused after shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_when_it_can_and_hands_back_what_is_left() {
    let (_registry, broker, queue) = setup(100);
    for m in 0..10 {
        queue.send(m).unwrap();
    }
    assert!(queue.shutdown(Shutdown::Drain(Duration::from_secs(5))).await.is_empty());
    assert_eq!(broker.lock().unwrap().delivered, (0..10).collect::<Vec<_>>());

    let (_registry, broker, queue) = setup(100);
    set_up(&broker, false);
    for m in 0..10 {
        queue.send(m).unwrap();
    }
    let left = queue.shutdown(Shutdown::Drain(Duration::from_secs(2))).await;
    // Message 0's deliveries ran and failed: whether the broker acted on them is unknown.
    assert_eq!(left.possibly_delivered, Some(0));
    assert_eq!(left.not_delivered, (1..10).collect::<Vec<_>>(), "nothing delivered, nothing lost");
    assert!(broker.lock().unwrap().delivered.is_empty());
}

#[tokio::test(start_paused = true)]
async fn repeated_outages_lose_and_duplicate_nothing() {
    let (_registry, broker, queue) = setup(10_000);
    let mut next = 0;
    for round in 0..3 {
        set_up(&broker, false);
        for _ in 0..50 {
            queue.send(next).unwrap();
            next += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        set_up(&broker, true);
        for _ in 0..50 {
            queue.send(next).unwrap();
            next += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = round;
    }
    assert!(queue.shutdown(Shutdown::Drain(Duration::from_secs(60))).await.is_empty());
    let delivered = broker.lock().unwrap().delivered.clone();
    assert_eq!(delivered, (0..next).collect::<Vec<_>>(), "in order, each exactly once");
}

/// A queue whose every delivery takes `delay` (forever when `None`) and then records the
/// message as delivered.
fn slow_queue(delay: Option<Duration>) -> (Registry, Arc<Mutex<Vec<u64>>>, RetryQueue<u64>) {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
    let registry = Registry::builder().clock(clock).build().unwrap();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let log = delivered.clone();
    let queue = RetryQueue::new(registry.breaker("broker"), 100, move |m: u64| {
        let log = log.clone();
        async move {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            log.lock().unwrap().push(m);
            Ok::<_, std::io::Error>(())
        }
    });
    (registry, delivered, queue)
}

#[tokio::test(start_paused = true)]
async fn a_delivery_cut_off_by_the_drain_deadline_is_handed_back_as_possibly_delivered_and_never_delivered_later() {
    let (_registry, delivered, queue) = slow_queue(Some(Duration::from_millis(300)));
    queue.send(1).unwrap();
    queue.send(2).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await; // delivery of 1 is under way
    let started = tokio::time::Instant::now();
    let left = queue.shutdown(Shutdown::Drain(Duration::from_millis(100))).await;
    assert!(started.elapsed() <= Duration::from_millis(100), "returned within the deadline");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = delivered.lock().unwrap().clone();
    assert!(delivered.is_empty(), "nothing is delivered after shutdown returned: {delivered:?}");
    assert_eq!(left, HandedBack { possibly_delivered: Some(1), not_delivered: vec![2] });
}

#[tokio::test(start_paused = true)]
async fn hand_back_returns_within_its_bound_when_a_delivery_never_completes() {
    let (_registry, delivered, queue) = slow_queue(None);
    queue.send(1).unwrap();
    queue.send(2).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await; // delivery of 1 hangs
    let started = tokio::time::Instant::now();
    let left =
        tokio::time::timeout(Duration::from_secs(60), queue.shutdown(Shutdown::HandBack(Duration::from_millis(200))))
            .await
            .expect("shutdown(HandBack) returned");
    assert!(started.elapsed() <= Duration::from_millis(200), "returned within its bound");
    assert_eq!(left, HandedBack { possibly_delivered: Some(1), not_delivered: vec![2] });
    assert!(delivered.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn hand_back_lets_the_delivery_in_progress_finish_within_its_bound_and_starts_no_other() {
    let (_registry, delivered, queue) = slow_queue(Some(Duration::from_millis(300)));
    for m in 1..=3 {
        queue.send(m).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await; // delivery of 1 is under way
    let left = queue.shutdown(Shutdown::HandBack(Duration::from_secs(1))).await;
    assert_eq!(left, HandedBack { possibly_delivered: None, not_delivered: vec![2, 3] });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(*delivered.lock().unwrap(), [1]);
    assert_eq!(queue.depth(), 0);
}

#[tokio::test(start_paused = true)]
async fn whenever_shutdown_cuts_in_every_message_is_delivered_or_handed_back_never_both() {
    // Deliveries take 30 ms; deadlines from 0 to 400 ms land before, during and between them.
    for deadline_ms in (0..=400).step_by(7) {
        for hand_back in [false, true] {
            let (_registry, delivered, queue) = slow_queue(Some(Duration::from_millis(30)));
            for m in 0..10 {
                queue.send(m).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(deadline_ms / 2)).await;
            let deadline = Duration::from_millis(deadline_ms);
            let mode = if hand_back { Shutdown::HandBack(deadline) } else { Shutdown::Drain(deadline) };
            let started = tokio::time::Instant::now();
            let left = queue.shutdown(mode).await;
            assert!(started.elapsed() <= deadline, "{mode:?} took {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let delivered = delivered.lock().unwrap().clone();
            let handed_back = left.clone().into_vec();
            let mut all = delivered.clone();
            all.extend(&handed_back);
            assert_eq!(all, (0..10).collect::<Vec<_>>(), "{mode:?}: delivered {delivered:?}, handed back {left:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_acknowledgement_duplicates_the_message_and_shutdown_says_it_may_have_arrived() {
    // The broker stores every message but its acknowledgement is lost for message 1's first
    // attempt: delivery is at least once, so message 1 arrives twice.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock(tokio::time::Instant::now()));
    let registry = Registry::builder().clock(clock).build().unwrap();
    let stored = Arc::new(Mutex::new(Vec::new()));
    let log = stored.clone();
    let queue = RetryQueue::new(registry.breaker("broker"), 100, move |m: u64| {
        let log = log.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let mut log = log.lock().unwrap();
            log.push(m);
            if m == 1 && log.len() == 2 {
                return Err("acknowledgement lost");
            }
            Ok(())
        }
    });
    for m in 0..3 {
        queue.send(m).unwrap();
    }
    assert!(queue.shutdown(Shutdown::Drain(Duration::from_secs(5))).await.is_empty());
    assert_eq!(*stored.lock().unwrap(), [0, 1, 1, 2], "at least once: the retry duplicated message 1");

    // The same lost acknowledgement at shutdown: handed back, marked as possibly delivered.
    let stored = Arc::new(Mutex::new(Vec::new()));
    let log = stored.clone();
    let queue = RetryQueue::new(registry.breaker("broker-2"), 100, move |m: u64| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(m);
            Err::<(), _>("acknowledgement lost")
        }
    });
    queue.send(7).unwrap();
    queue.send(8).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let left = queue.shutdown(Shutdown::HandBack(Duration::ZERO)).await;
    assert_eq!(left, HandedBack { possibly_delivered: Some(7), not_delivered: vec![8] });
    assert_eq!(stored.lock().unwrap().first(), Some(&7), "the broker did see it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_threaded_runtime_a_cut_off_delivery_is_never_also_delivered() {
    // Real time: deliveries of 50 ms, shutdown after 120 ms (in the middle of the third).
    let registry = Registry::new();
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let log = delivered.clone();
    let queue = RetryQueue::new(registry.breaker("broker"), 100, move |m: u64| {
        let log = log.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            log.lock().unwrap().push(m);
            Ok::<_, std::io::Error>(())
        }
    });
    for m in 0..10 {
        queue.send(m).unwrap();
    }
    let started = std::time::Instant::now();
    let left = queue.shutdown(Shutdown::Drain(Duration::from_millis(120))).await;
    assert!(started.elapsed() < Duration::from_secs(2), "returned near its deadline: {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut all = delivered.lock().unwrap().clone();
    let report = format!("delivered {all:?}, handed back {left:?}");
    all.extend(left.into_vec());
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "{report}");
}
