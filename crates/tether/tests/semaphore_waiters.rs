//! `Semaphore` on the crate's intrusive waiter list: waiting allocates
//! nothing once warmed up (blocked threads and pending tasks alike,
//! counted by a counting allocator, not timed), and a release that grants
//! more waiters than one wake batch serves them all, in order.

mod alloc_counter;
mod common;

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use alloc_counter::{Counting, ROUNDS, WARM_UP, allocations, block_on as drive, counted, poll, rounds, thread_waker};
use common::*;
use tether::Context;
use tether::sync::Semaphore;

#[global_allocator]
static ALLOC: Counting = Counting;

/// A semaphore with all its `size` permits taken.
fn exhausted(size: usize) -> Arc<Semaphore> {
    let s = Arc::new(Semaphore::new(size));
    s.try_acquire(size).unwrap().forget();
    s
}

/// Two parties hand one permit back and forth through two empty
/// semaphores, so every acquire waits for the other side's release. `a` is
/// a thread or a task (on its own thread, parked between polls); `b` is a
/// thread. `ctx`: acquire with a cancellable context (never cancelled).
fn ping_pong(a_is_task: bool, ctx: bool) -> u64 {
    let (ping, pong) = (exhausted(1), exhausted(1));
    let (cancellable, _cancel) = Context::background().with_cancel();
    let cx = if ctx { cancellable } else { Context::background() };
    let before = allocations();
    let a = {
        let (ping, pong, cx) = (ping.clone(), pong.clone(), cx.clone());
        std::thread::spawn(move || {
            let waker = thread_waker();
            rounds(|| {
                let n = if a_is_task {
                    drive(&waker, ping.acquire(&cx, 1)).unwrap().forget()
                } else {
                    ping.acquire_blocking(&cx, 1).unwrap().forget()
                };
                pong.release(n);
            })
        })
    };
    rounds(|| {
        ping.release(1);
        pong.acquire_blocking(&cx, 1).unwrap().forget();
    });
    a.join().unwrap();
    allocations() - before
}

/// A pinned acquire future polled by hand: queued at the first poll,
/// granted by the release, collected at the second. Deterministic: every
/// round really queues.
fn pending_acquire_futures() -> u64 {
    let sem = exhausted(2);
    let ctx = Context::background();
    let before = allocations();
    rounds(|| {
        let mut a = pin!(sem.acquire(&ctx, 2));
        assert!(poll(a.as_mut()).is_pending());
        assert!(sem.try_acquire(0).is_none(), "queued");
        sem.release(2);
        let Poll::Ready(Ok(p)) = poll(a.as_mut()) else { panic!("not granted") };
        p.forget();
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
            ("threads, background context", ping_pong(false, false)),
            ("threads, cancellable context", ping_pong(false, true)),
            ("task and thread, background context", ping_pong(true, false)),
            ("task and thread, cancellable context", ping_pong(true, true)),
            ("pending acquire futures", pending_acquire_futures()),
        ];
        for (case, n) in counts {
            assert_eq!(n, 0, "{case}: {n} allocations in {} waits", ROUNDS - WARM_UP);
        }
    });
    assert_no_leaks();
}

#[test]
fn one_release_grants_more_waiters_than_one_batch_in_order() {
    watchdog(|| {
        let sem = exhausted(100);
        let ctx = Context::background();
        // 90 requests of 1, then one of 20 (which must wait for 10 more).
        let mut small: Vec<_> = (0..90)
            .map(|_| {
                let mut a = Box::pin(sem.acquire(&ctx, 1));
                assert!(poll(a.as_mut()).is_pending());
                a
            })
            .collect();
        let mut big = Box::pin(sem.acquire(&ctx, 20));
        assert!(poll(big.as_mut()).is_pending());
        sem.release(100);
        for a in &mut small {
            let Poll::Ready(Ok(p)) = poll(a.as_mut()) else { panic!("a small request was not granted") };
            p.forget();
        }
        assert_eq!(sem.available(), 10);
        assert!(poll(big.as_mut()).is_pending(), "20 do not fit in 10");
        sem.release(10);
        let Poll::Ready(Ok(p)) = poll(big.as_mut()) else { panic!("the big request was not granted") };
        assert_eq!(p.count(), 20);
        drop(p);
        sem.release(80);
        assert_eq!(sem.available(), 100);
    });
    assert_no_leaks();
}

#[test]
fn one_release_wakes_more_blocked_threads_than_one_batch() {
    watchdog(|| {
        let sem = exhausted(40);
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let sem = sem.clone();
                std::thread::spawn(move || sem.acquire_blocking(&Context::background(), 1).unwrap().forget())
            })
            .collect();
        sem.release(40);
        let n: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!((n, sem.available()), (40, 0));
        sem.release(40);
        assert!(sem.try_acquire(40).is_some(), "no one is left queued");
    });
    assert_no_leaks();
}
