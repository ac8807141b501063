//! Synchronisation primitives, swapped for loom's under `--cfg loom` so the model checker can
//! explore every interleaving of the permit and state logic.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: the breaker's invariants are restored before any code
/// that could panic runs under the lock, and listeners never run under it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // loom's `lock` returns std's `LockResult` too.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
