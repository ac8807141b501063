//! Listeners hear one breaker's transitions in the order they happened, under concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use breaker_core::{CircuitBreaker, Config, Listener, State, Transition};

/// Checks, as events arrive, that each transition starts where the previous one ended.
struct Chain {
    last: Mutex<State>,
    heard: AtomicUsize,
    inversions: AtomicUsize,
}

impl Listener for Chain {
    fn on_transition(&self, t: &Transition) {
        let mut last = self.last.lock().unwrap();
        if t.from != *last {
            self.inversions.fetch_add(1, Ordering::SeqCst);
        }
        *last = t.to;
        self.heard.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn concurrent_transitions_reach_the_listener_as_one_chain() {
    let chain = Arc::new(Chain {
        last: Mutex::new(State::Closed),
        heard: AtomicUsize::new(0),
        inversions: AtomicUsize::new(0),
    });
    let config = Config::builder().consecutive_failures(1).build().unwrap();
    let breaker = Arc::new(CircuitBreaker::new("stress", config).with_listener(chain.clone()));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let breaker = Arc::clone(&breaker);
            thread::spawn(move || {
                for round in 0..5_000u32 {
                    match (i + round) % 5 {
                        0 => breaker.force_open(),
                        1 => breaker.reset(),
                        2 => breaker.disable(),
                        3 => breaker.metrics_only(),
                        _ => {
                            if let Ok(permit) = breaker.try_acquire() {
                                permit.failure();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(chain.heard.load(Ordering::SeqCst) > 1_000, "the race made transitions");
    assert_eq!(chain.inversions.load(Ordering::SeqCst), 0, "transitions heard out of order");
    assert_eq!(*chain.last.lock().unwrap(), breaker.state(), "the last transition heard is the final state");
}
