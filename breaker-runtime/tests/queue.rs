//! Deferred delivery through `RetryQueue`: order, exactly-once replay, refusals, shutdown and
//! repeated outages. Time is tokio's paused clock, which also drives the breakers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{Clock, Config, QueueFull, Registry, RetryQueue, Shutdown};

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
    let left = queue.shutdown(Shutdown::HandBack).await;
    assert_eq!(left, [0, 1, 2]);
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
    assert_eq!(left, (0..10).collect::<Vec<_>>(), "nothing delivered, nothing lost");
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
