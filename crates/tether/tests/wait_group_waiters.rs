//! `WaitGroup` on the crate's intrusive waiter list: waiting allocates
//! nothing once warmed up (blocked threads and pending tasks alike,
//! counted by a counting allocator, not timed), and a `done` that releases
//! more waiters than one wake batch releases them all.

mod alloc_counter;
mod common;

use std::pin::pin;
use std::sync::Arc;

use alloc_counter::{Counting, ROUNDS, WARM_UP, allocations, block_on as drive, counted, poll, rounds, thread_waker};
use common::*;
use tether::Context;
use tether::sync::{Semaphore, WaitGroup};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Each round, the waiter opens a round of the group and waits for it
/// (a thread, or a task on its own thread parked between polls), while a
/// worker thread, told to go through an (allocation-free) semaphore, calls
/// `done`. The worker has to wake up first, so the wait nearly always
/// blocks; either way nothing may allocate.
fn rounds_with_a_worker(waiter_is_task: bool) -> u64 {
    let wg = WaitGroup::new();
    let go = Arc::new(Semaphore::new(1));
    go.try_acquire(1).unwrap().forget();
    let before = allocations();
    let worker = {
        let (wg, go) = (wg.clone(), go.clone());
        std::thread::spawn(move || {
            let ctx = Context::background();
            rounds(|| {
                go.acquire_blocking(&ctx, 1).unwrap().forget();
                wg.done();
            })
        })
    };
    let waker = thread_waker();
    rounds(|| {
        wg.add(1);
        go.release(1);
        if waiter_is_task { drive(&waker, wg.wait()) } else { wg.wait_blocking() }
    });
    worker.join().unwrap();
    allocations() - before
}

/// A pinned wait future polled by hand: linked at the first poll, released
/// by `done`, collected at the second. Deterministic: every round queues.
fn pending_wait_futures() -> u64 {
    let wg = WaitGroup::new();
    let before = allocations();
    rounds(|| {
        wg.add(1);
        let mut w = pin!(wg.wait());
        assert!(poll(w.as_mut()).is_pending());
        wg.done();
        assert!(poll(w.as_mut()).is_ready());
    });
    allocations() - before
}

#[test]
fn waiting_allocates_nothing_in_steady_state() {
    watchdog(|| {
        let before = allocations();
        counted(|| drop(std::hint::black_box(Box::new(1u8))));
        assert_eq!(allocations() - before, 1, "the counter counts");
        let counts = [
            ("thread waits", rounds_with_a_worker(false)),
            ("task waits", rounds_with_a_worker(true)),
            ("pending wait futures", pending_wait_futures()),
        ];
        for (case, n) in counts {
            assert_eq!(n, 0, "{case}: {n} allocations in {} waits", ROUNDS - WARM_UP);
        }
    });
    assert_no_leaks();
}

#[test]
fn done_releases_more_waiters_than_one_batch() {
    watchdog(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let mut waits: Vec<_> = (0..100)
            .map(|_| {
                let mut w = Box::pin(wg.wait());
                assert!(poll(w.as_mut()).is_pending());
                w
            })
            .collect();
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let wg = wg.clone();
                std::thread::spawn(move || wg.wait_blocking())
            })
            .collect();
        wg.done();
        for t in threads {
            t.join().unwrap();
        }
        // Half return, half are dropped released: all count as returned.
        for w in waits.iter_mut().take(50) {
            assert!(poll(w.as_mut()).is_ready(), "a waiter was not released");
        }
        drop(waits);
        wg.add(1); // not a reuse: every released waiter has returned
        wg.done();
    });
    assert_no_leaks();
}
