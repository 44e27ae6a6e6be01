//! Allocation counts per operation, flat memory under churn, and deep
//! trees. A counting allocator tracks each thread's own allocations, so
//! the tests in this file may run in parallel.
#![cfg(not(loom))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::{assert_no_leaks, watchdog};
use tether::Context;
use tether::ctx::Error;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only adds thread-local counts
// (const-initialised cells, which never allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + layout.size() as i64));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE_BYTES.try_with(|c| c.set(c.get() - layout.size() as i64));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs_per_run(runs: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm up lazily created state
    let before = ALLOCS.with(|c| c.get());
    for _ in 0..runs {
        f();
    }
    (ALLOCS.with(|c| c.get()) - before) as f64 / runs as f64
}

/// The documented allocation counts (README, "ctx" section). Go's own
/// limits for the same operations are 3, 5 and 8.
#[test]
fn allocations_per_operation() {
    let bg = Context::background();
    let (parent, _h) = bg.with_cancel();
    let background = allocs_per_run(100, || drop(Context::background()));
    let with_value = allocs_per_run(100, || {
        let c = bg.with_value(1u32);
        assert!(c.value::<u32>().is_some());
    });
    let with_cancel = allocs_per_run(100, || {
        let (c, h) = parent.with_cancel();
        h.cancel();
        assert!(c.is_done());
    });
    let with_timeout = allocs_per_run(100, || {
        let (c, h) = parent.with_timeout(Duration::from_secs(60));
        h.cancel();
        assert!(c.is_done());
    });
    let checks = allocs_per_run(100, || {
        assert!(!parent.is_done());
        assert_eq!(parent.err(), None);
    });
    println!(
        "allocations: background {background}, with_value+value {with_value}, with_cancel+cancel {with_cancel}, \
         with_timeout+cancel {with_timeout}, is_done+err {checks}"
    );
    assert!(background <= 1.0);
    assert!(with_value <= 2.0);
    assert!(with_cancel <= 2.0);
    assert!(with_timeout <= 4.0);
    assert_eq!(checks, 0.0);
    let (c, h) = parent.with_cancel();
    h.cancel();
    assert_eq!(allocs_per_run(100, || assert_eq!(c.err(), Some(Error::Canceled))), 0.0);
}

/// A million children created and dropped under one long-lived parent
/// leave memory flat: every registration goes with its context.
#[test]
fn million_children_leave_memory_flat() {
    let (parent, _h) = Context::background().with_cancel();
    let churn = |n: usize| {
        for i in 0..n {
            let (child, h) =
                if i % 2 == 0 { parent.with_cancel() } else { parent.with_timeout(Duration::from_secs(3600)) };
            let v = child.with_value(i);
            assert!(!v.is_done());
            drop(h);
            drop(v);
            drop(child);
        }
    };
    churn(1000);
    let before = LIVE_BYTES.with(|c| c.get());
    churn(1_000_000);
    let grown = LIVE_BYTES.with(|c| c.get()) - before;
    assert_eq!(parent.__registrations(), 0);
    assert!(grown <= 4096, "memory grew by {grown} bytes over a million children");
    assert_no_leaks();
}

/// Children kept alive and dropped later (without cancelling first) also
/// unregister, in any order.
#[test]
fn dropped_children_unregister_in_any_order() {
    let (parent, _h) = Context::background().with_cancel();
    let mut kids: Vec<_> = (0..1000).map(|_| parent.with_cancel()).collect();
    assert_eq!(parent.__registrations(), 1000);
    let mut seed = 12345u64;
    while !kids.is_empty() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = (seed >> 33) as usize % kids.len();
        kids.swap_remove(i);
    }
    assert_eq!(parent.__registrations(), 0);
}

/// A chain of 100,000 nested contexts cancels and drops without
/// overflowing the stack; a wide tree cancels every node.
#[test]
fn deep_and_wide_trees_cancel_completely() {
    watchdog(|| {
        let (root, cancel) = Context::background().with_cancel();
        let mut chain = Vec::with_capacity(100_000);
        let mut ctx = root.clone();
        for _ in 0..100_000 {
            let (c, h) = ctx.with_cancel();
            ctx = c.clone();
            chain.push((c, h));
        }
        cancel.cancel();
        assert_eq!(ctx.err(), Some(Error::Canceled));
        assert!(chain.iter().all(|(c, _)| c.is_done()));
        drop(chain);
        drop(ctx);

        let (root, cancel) = Context::background().with_cancel();
        let mut level = vec![root.clone()];
        let mut all = Vec::new();
        while all.len() < 100_000 {
            let mut next = Vec::new();
            for p in &level {
                for _ in 0..10 {
                    let (c, h) = p.with_cancel();
                    next.push(c.clone());
                    all.push((c, h));
                }
            }
            level = next;
        }
        cancel.cancel();
        assert!(all.iter().all(|(c, _)| c.err() == Some(Error::Canceled)));
    });
    assert_no_leaks();
}
