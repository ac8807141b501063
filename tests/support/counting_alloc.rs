//! A counting global allocator for the zero-allocation tests of every crate, included with
//! `#[path = ".../tests/support/counting_alloc.rs"] mod counting_alloc;`.
//!
//! Counts are per thread, so tests running in parallel do not disturb each other (run async
//! code on a current-thread runtime so it polls on the test's own thread).
#![allow(unsafe_code)] // the allocator; each unsafe block says why it is sound
#![allow(dead_code, unreachable_pub)] // not every test uses every helper

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations (including reallocations) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread.
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn count(allocations: u64, bytes: i64) {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + allocations));
    let _ = LIVE_BYTES.try_with(|b| b.set(b.get() + bytes));
}

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches only
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(1, size(layout));
        // SAFETY: our caller upholds `alloc`'s contract, which we pass on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(1, size(layout));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(1, i64::try_from(new_size).unwrap_or(i64::MAX) - size(layout));
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, -size(layout));
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by this thread so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations and net bytes `f` made on this thread.
pub fn measure<T>(f: impl FnOnce() -> T) -> (u64, i64) {
    let (a0, b0) = (ALLOCATIONS.with(Cell::get), LIVE_BYTES.with(Cell::get));
    let out = f();
    let counts = (ALLOCATIONS.with(Cell::get) - a0, LIVE_BYTES.with(Cell::get) - b0);
    drop(out);
    counts
}
