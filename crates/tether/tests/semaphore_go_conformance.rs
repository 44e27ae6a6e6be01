//! `Semaphore` against the behaviours golang.org/x/sync/semaphore's tests
//! check (hammering with mixed weights, release panics, TryAcquire and
//! Acquire outcomes, a too-big request not blocking others, a large
//! request not starving, a cancelled large request letting the queue
//! through), plus FIFO order, cancel safety of dropped futures, and
//! threads and tasks sharing one semaphore.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::*;
use tether::Context;
use tether::ctx::Error;
use tether::sync::Semaphore;

#[test]
fn weighted_hammer_threads_and_tasks() {
    block_on(async {
        // Weights 1..=4 on a semaphore of 4: in use never exceeds 4.
        let sem = Arc::new(Semaphore::new(4));
        let in_use = Arc::new(AtomicUsize::new(0));
        let check = |in_use: &AtomicUsize, n: usize| {
            let now = in_use.fetch_add(n, SeqCst) + n;
            assert!(now <= 4, "{now} permits in use");
            in_use.fetch_sub(n, SeqCst);
        };
        let mut threads = Vec::new();
        for n in 1..=2 {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            threads.push(std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let p = sem.acquire_blocking(&Context::background(), n).unwrap();
                    check(&in_use, n);
                    drop(p);
                }
            }));
        }
        let mut tasks = Vec::new();
        for n in 3..=4 {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..2_000 {
                    let p = sem.acquire(&Context::background(), n).await.unwrap();
                    check(&in_use, n);
                    drop(p);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 4);
    });
    assert_no_leaks();
}

#[test]
#[should_panic(expected = "semaphore: released more than held")]
fn weighted_release_of_unacquired_panics() {
    watchdog(move || {
        Semaphore::new(1).release(1);
    });
    assert_no_leaks();
}

#[test]
fn weighted_try_acquire_outcomes() {
    watchdog(move || {
        let sem = Semaphore::new(2);
        let ctx = Context::background();
        let a = sem.acquire_blocking(&ctx, 1).unwrap().forget();
        let t1 = sem.try_acquire(1).map(|p| p.forget());
        let t2 = sem.try_acquire(1).map(|p| p.forget());
        sem.release(a + t1.unwrap());
        let t3 = sem.try_acquire(1).map(|p| p.forget());
        let _b = sem.acquire_blocking(&ctx, 1).unwrap();
        let t4 = sem.try_acquire(1).map(|p| p.forget());
        assert_eq!([t1.is_some(), t2.is_some(), t3.is_some(), t4.is_some()], [true, false, true, false]);
    });
    assert_no_leaks();
}

#[test]
fn weighted_done_context_fails_even_when_permits_are_free() {
    block_on(async {
        let sem = Semaphore::new(3);
        let (ctx, cancel) = Context::background().with_cancel();
        cancel.cancel();
        assert_eq!(sem.acquire(&ctx, 1).await.unwrap_err(), Error::Canceled);
        assert_eq!(sem.acquire_blocking(&ctx, 1).unwrap_err(), Error::Canceled);
        assert_eq!(sem.available(), 3);
    });
    assert_no_leaks();
}

#[test]
fn weighted_doesnt_block_if_too_big() {
    block_on(async {
        let sem = Arc::new(Semaphore::new(2));
        let (big_ctx, cancel_big) = Context::background().with_cancel();
        let big = {
            let sem = sem.clone();
            tokio::spawn(async move { sem.acquire(&big_ctx, 3).await.map(|p| p.forget()) })
        };
        tokio::task::yield_now().await;
        let mut small = Vec::new();
        for _ in 0..6 {
            let sem = sem.clone();
            small.push(tokio::spawn(async move {
                let p = sem.acquire(&Context::background(), 1).await.unwrap();
                tokio::task::yield_now().await;
                drop(p);
            }));
        }
        for s in small {
            s.await.unwrap();
        }
        cancel_big.cancel();
        assert_eq!(big.await.unwrap(), Err(Error::Canceled));
        assert_eq!(sem.available(), 2);
    });
    assert_no_leaks();
}

#[test]
#[should_panic(expected = "exceeds the size 2 with a context that is never done")]
fn weighted_too_big_with_a_never_done_context_panics_instead_of_hanging() {
    watchdog(move || {
        let _ = Semaphore::new(2).acquire_blocking(&Context::background(), 3);
    });
    assert_no_leaks();
}

#[test]
fn weighted_large_acquire_doesnt_starve() {
    watchdog(|| {
        // Small holders keep releasing and re-acquiring; a request for all
        // permits must still get through (it blocks newcomers behind it).
        let n = 3;
        let sem = Arc::new(Semaphore::new(n));
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let ctx = Context::background();
        let mut workers = Vec::new();
        for _ in 0..n {
            sem.acquire_blocking(&ctx, 1).unwrap().forget();
            let (sem, running) = (sem.clone(), running.clone());
            workers.push(std::thread::spawn(move || {
                let ctx = Context::background();
                while running.load(SeqCst) {
                    std::thread::yield_now();
                    sem.release(1);
                    sem.acquire_blocking(&ctx, 1).unwrap().forget();
                }
                sem.release(1);
            }));
        }
        let all = sem.acquire_blocking(&ctx, n).unwrap();
        running.store(false, SeqCst);
        drop(all);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(sem.available(), n);
    });
    assert_no_leaks();
}

#[test]
fn weighted_cancelled_large_request_lets_the_queue_through() {
    block_on(async {
        // One reader holds 1 of 10; a writer queues for 10 (blocking the
        // readers behind it); when the writer gives up, a queued reader
        // must be let through at once.
        let sem = Arc::new(Semaphore::new(10));
        let reader = sem.acquire(&Context::background(), 1).await.unwrap();
        let (wctx, cancel_writer) = Context::background().with_cancel();
        let writer = {
            let sem = sem.clone();
            tokio::spawn(async move { sem.acquire(&wctx, 10).await.map(|p| p.forget()) })
        };
        while sem.try_acquire(0).is_some() {
            tokio::task::yield_now().await; // until the writer is queued
        }
        assert!(sem.try_acquire(1).is_none(), "a queued writer blocks new readers");
        let second_reader = {
            let sem = sem.clone();
            tokio::spawn(async move { sem.acquire(&Context::background(), 1).await.map(|p| p.forget()) })
        };
        tokio::task::yield_now().await;
        cancel_writer.cancel();
        assert_eq!(writer.await.unwrap(), Err(Error::Canceled));
        assert_eq!(second_reader.await.unwrap(), Ok(1));
        sem.release(1);
        drop(reader);
        assert_eq!(sem.available(), 10);
    });
    assert_no_leaks();
}

#[test]
fn weighted_waiters_are_served_in_fifo_order() {
    watchdog(|| {
        let sem = Semaphore::new(3);
        let ctx = Context::background();
        let all = sem.acquire_blocking(&ctx, 3).unwrap();
        let mut a = Box::pin(sem.acquire(&ctx, 2));
        let mut b = Box::pin(sem.acquire(&ctx, 3));
        let mut c = Box::pin(sem.acquire(&ctx, 1));
        assert!(poll_once(&mut a).is_none());
        assert!(poll_once(&mut b).is_none());
        assert!(poll_once(&mut c).is_none());
        drop(all);
        // a (2) fits; b (3) is the head now and doesn't: c (1) waits behind
        // it although one permit is free.
        let pa = poll_once(&mut a).unwrap().unwrap();
        assert!(poll_once(&mut c).is_none(), "a smaller request jumped the queue");
        assert_eq!(sem.available(), 1);
        drop(pa);
        let pb = poll_once(&mut b).unwrap().unwrap();
        assert!(poll_once(&mut c).is_none());
        drop(pb);
        assert_eq!(poll_once(&mut c).unwrap().unwrap().count(), 1);
    });
    assert_no_leaks();
}

#[test]
fn weighted_dropped_granted_future_returns_its_permits_to_the_next_waiter() {
    watchdog(move || {
        let sem = Semaphore::new(2);
        let ctx = Context::background();
        let all = sem.acquire_blocking(&ctx, 2).unwrap();
        let mut a = Box::pin(sem.acquire(&ctx, 2));
        let mut b = Box::pin(sem.acquire(&ctx, 2));
        assert!(poll_once(&mut a).is_none());
        assert!(poll_once(&mut b).is_none());
        drop(all); // grants `a` (its permits now belong to the future)
        assert_eq!(sem.available(), 0);
        drop(a); // dropped before returning a Permit: the permits go to `b`
        let pb = poll_once(&mut b).expect("b was granted the returned permits").unwrap();
        assert_eq!(pb.count(), 2);
        drop(pb);
        drop(b);
        assert_eq!(sem.available(), 2);
    });
    assert_no_leaks();
}

#[test]
fn weighted_dropped_queued_future_leaves_no_trace() {
    watchdog(move || {
        let sem = Semaphore::new(1);
        let ctx = Context::background();
        let held = sem.acquire_blocking(&ctx, 1).unwrap();
        let mut a = Box::pin(sem.acquire(&ctx, 1));
        assert!(poll_once(&mut a).is_none());
        drop(a);
        drop(held);
        assert!(sem.try_acquire(1).is_some(), "the queue is empty again: the fast path works");
    });
    assert_no_leaks();
}

#[test]
fn weighted_owned_permits_move_into_threads() {
    watchdog(|| {
        let sem = Arc::new(Semaphore::new(2));
        let ctx = Context::background();
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let permit = sem.acquire_owned_blocking(&ctx, 1).unwrap();
                std::thread::spawn(move || {
                    assert!(permit.semaphore().available() <= 1);
                    drop(permit);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(sem.available(), 2);
    });
    assert_no_leaks();
}

#[test]
fn weighted_is_send_sync_and_futures_are_send() {
    watchdog(move || {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Semaphore>();
        send_sync::<tether::sync::Permit<'static>>();
        send_sync::<tether::sync::OwnedPermit>();
        let (sem, ctx) = (Arc::new(Semaphore::new(1)), Context::background());
        send(&sem.acquire(&ctx, 1));
        send(&sem.acquire_owned(&ctx, 1));
        assert_eq!(format!("{:?}", Semaphore::new(3)), "Semaphore { size: 3, available: 3, queued: false }");
    });
    assert_no_leaks();
}
