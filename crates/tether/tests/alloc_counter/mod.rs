//! A counting global allocator for the "waiting allocates nothing" tests
//! of the sync primitives. It counts only on threads that asked to be
//! counted, so the test harness's own threads (and tests of the same
//! binary that count nothing) never disturb a measurement: the count is
//! exact and deterministic, whatever the timing.
//!
//! Use: `#[global_allocator] static A: Counting = Counting;`, then wrap
//! the measured part of every participating thread in [`counted`] and read
//! [`allocations`]. A binary should hold one measuring test, so that no
//! two measurements overlap.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: the allocator runs during thread teardown too.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; it only
// bumps a counter on the side (a const-initialised thread-local cell and a
// static atomic, neither of which allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with this thread's allocations counted.
pub fn counted<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            COUNTING.with(|c| c.set(false));
        }
    }
    COUNTING.with(|c| c.set(true));
    let _reset = Reset;
    f()
}

/// Allocations counted so far, on every thread.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Relaxed)
}

/// A waker that unparks the thread that made it: for a tiny executor that
/// polls a future on one thread while another thread completes it. Made
/// once (one allocation, outside the measurement); cloning it only bumps
/// a reference count.
pub fn thread_waker() -> std::task::Waker {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())))
}

/// Drives `fut` to completion on this thread with `waker` (from
/// [`thread_waker`]), parking between polls.
pub fn block_on<F: std::future::Future>(waker: &std::task::Waker, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Measured rounds per case; the first [`WARM_UP`] of them are not counted
/// (lazily created thread handles and the like).
pub const ROUNDS: u64 = 300;
pub const WARM_UP: u64 = 10;

/// Runs `round` [`ROUNDS`] times, counting all but the warm-up rounds.
pub fn rounds(mut round: impl FnMut()) {
    for i in 0..ROUNDS {
        if i < WARM_UP { round() } else { counted(&mut round) }
    }
}

/// Polls `f` once with a waker that does nothing.
pub fn poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}
