//! Sliding windows of outcomes: the last N calls, or the last N seconds.
//!
//! Both are O(1) per recorded outcome however many calls they hold: the count window is a ring
//! of one-byte outcomes with running totals, and the time window is a ring of one-second
//! buckets with running totals that subtracts a bucket as it falls out of the window.

use crate::config::WindowKind;

const FAILED: u8 = 1;
const SLOW: u8 = 2;
const OCCUPIED: u8 = 4;

/// Aggregate counts over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Stats {
    /// Failed calls over all calls, 0 for an empty window.
    pub(crate) fn failure_rate(&self) -> f64 {
        self.rate(self.failures)
    }

    /// Slow calls over all calls, 0 for an empty window.
    pub(crate) fn slow_rate(&self) -> f64 {
        self.rate(self.slow)
    }

    fn rate(&self, n: u32) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            f64::from(n) / f64::from(self.calls)
        }
    }

    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failed);
        self.slow += u32::from(slow);
    }
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[u8]>,
    next: u32,
    stats: Stats,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self { slots: vec![0; size as usize].into_boxed_slice(), next: 0, stats: Stats::default() }
    }

    fn record(&mut self, failed: bool, slow: bool) {
        let slot = &mut self.slots[self.next as usize];
        let old = *slot;
        if old & OCCUPIED != 0 {
            self.stats.calls -= 1;
            self.stats.failures -= u32::from(old & FAILED != 0);
            self.stats.slow -= u32::from(old & SLOW != 0);
        }
        *slot = OCCUPIED | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        self.stats.add(failed, slow);
        self.next += 1;
        if self.next as usize == self.slots.len() {
            self.next = 0;
        }
    }

    /// Full of successes that were not slow: recording another such outcome changes nothing.
    fn is_clean(&self) -> bool {
        self.stats.calls as usize == self.slots.len() && self.stats.failures == 0 && self.stats.slow == 0
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    stats: Stats,
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    /// The newest second recorded so far; buckets older than `head - len` are already evicted.
    head: u64,
    stats: Stats,
}

impl TimeWindow {
    fn new(seconds: u64) -> Self {
        Self { buckets: vec![Bucket::default(); seconds as usize].into_boxed_slice(), head: 0, stats: Stats::default() }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Evicts every bucket that is older than the window ending at `second`. Amortised O(1):
    /// each bucket is evicted at most once per second that passes.
    fn advance(&mut self, second: u64) {
        if second <= self.head {
            return;
        }
        let len = self.len();
        let first_stale = self.head + 1;
        let from = first_stale.max(second.saturating_sub(len - 1));
        for s in from..=second {
            let bucket = &mut self.buckets[(s % len) as usize];
            if bucket.second != s {
                self.stats.calls -= bucket.stats.calls;
                self.stats.failures -= bucket.stats.failures;
                self.stats.slow -= bucket.stats.slow;
                *bucket = Bucket { second: s, stats: Stats::default() };
            }
        }
        self.head = second;
    }

    fn record(&mut self, now_nanos: u64, failed: bool, slow: bool) {
        let second = now_nanos / 1_000_000_000;
        self.advance(second);
        if second + self.len() <= self.head {
            return; // older than the window: a late report from a slow clock reader
        }
        let len = self.len();
        let bucket = &mut self.buckets[(second % len) as usize];
        if bucket.second != second {
            return;
        }
        bucket.stats.add(failed, slow);
        self.stats.add(failed, slow);
    }
}

/// A window of either kind.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: WindowKind) -> Self {
        match kind {
            WindowKind::Count(n) => Window::Count(CountWindow::new(n)),
            WindowKind::Time(d) => Window::Time(TimeWindow::new(d.as_secs())),
        }
    }

    /// Records one outcome at `now_nanos` (only read by the time window).
    pub(crate) fn record(&mut self, now_nanos: u64, failed: bool, slow: bool) {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => w.record(now_nanos, failed, slow),
        }
    }

    /// The counts over the window as of `now_nanos`.
    pub(crate) fn stats(&mut self, now_nanos: u64) -> Stats {
        match self {
            Window::Count(w) => w.stats,
            Window::Time(w) => {
                w.advance(now_nanos / 1_000_000_000);
                w.stats
            }
        }
    }

    /// Empties the window in place, as [`Window::new`] would build it, without allocating.
    pub(crate) fn clear(&mut self) {
        match self {
            Window::Count(w) => {
                w.slots.fill(0);
                w.next = 0;
                w.stats = Stats::default();
            }
            Window::Time(w) => {
                w.buckets.fill(Bucket::default());
                w.head = 0;
                w.stats = Stats::default();
            }
        }
    }

    /// True when recording a fast success would change nothing.
    pub(crate) fn is_clean(&self) -> bool {
        match self {
            Window::Count(w) => w.is_clean(),
            Window::Time(_) => false,
        }
    }

    /// Heap bytes held by the window.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Window::Count(w) => w.slots.len(),
            Window::Time(w) => w.buckets.len() * std::mem::size_of::<Bucket>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: u64 = 1_000_000_000;

    #[test]
    fn count_window_truly_slides() {
        let mut w = Window::new(WindowKind::Count(10));
        for _ in 0..1000 {
            w.record(0, false, false);
        }
        assert!(w.is_clean());
        for i in 1..=10 {
            w.record(0, true, false);
            assert_eq!(w.stats(0), Stats { calls: 10, failures: i, slow: 0 });
        }
        for i in (0..10).rev() {
            w.record(0, false, true);
            assert_eq!(w.stats(0), Stats { calls: 10, failures: i, slow: 10 - i });
        }
    }

    #[test]
    fn time_window_evicts_old_seconds() {
        let mut w = Window::new(WindowKind::Time(Duration::from_secs(3)));
        w.record(0, true, false);
        w.record(S, false, false);
        w.record(2 * S, false, true);
        assert_eq!(w.stats(2 * S), Stats { calls: 3, failures: 1, slow: 1 });
        assert_eq!(w.stats(3 * S), Stats { calls: 2, failures: 0, slow: 1 });
        assert_eq!(w.stats(5 * S), Stats { calls: 0, failures: 0, slow: 0 });
        w.record(100 * S, true, false);
        assert_eq!(w.stats(100 * S), Stats { calls: 1, failures: 1, slow: 0 });
        assert_eq!(w.stats(1000 * S), Stats::default());
    }

    #[test]
    fn time_window_drops_reports_older_than_the_window() {
        let mut w = Window::new(WindowKind::Time(Duration::from_secs(2)));
        w.record(10 * S, false, false);
        w.record(5 * S, true, false);
        assert_eq!(w.stats(10 * S), Stats { calls: 1, failures: 0, slow: 0 });
        w.record(9 * S, true, false);
        assert_eq!(w.stats(10 * S), Stats { calls: 2, failures: 1, slow: 0 });
    }

    #[test]
    fn clear_empties_either_window_in_place() {
        for kind in [WindowKind::Count(3), WindowKind::Time(Duration::from_secs(3))] {
            let mut w = Window::new(kind);
            for i in 0..10 {
                w.record(i * S, i % 2 == 0, i % 3 == 0);
            }
            w.clear();
            assert_eq!(w.stats(0), Stats::default(), "{kind:?}");
            w.record(0, true, false);
            assert_eq!(w.stats(0), Stats { calls: 1, failures: 1, slow: 0 }, "{kind:?}");
            w.clear();
            for i in 0..4 {
                w.record(i * S, false, false);
            }
            assert_eq!(w.stats(3 * S).calls, 3, "{kind:?} slides after a clear");
        }
    }

    #[test]
    fn a_million_calls_in_one_time_window() {
        let mut w = Window::new(WindowKind::Time(Duration::from_secs(60)));
        for i in 0..1_000_000u64 {
            w.record(i * 50_000, i % 4 == 0, false);
        }
        let s = w.stats(1_000_000 * 50_000 - 1);
        assert_eq!(s.calls, 1_000_000);
        assert_eq!(s.failures, 250_000);
    }
}
