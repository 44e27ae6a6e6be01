//! Loom models of `Cond` (and its `Mutex`): a signal racing a waiter's
//! registration loses no wakeup (signalling inside or outside the lock), a
//! dropped async waiter hands its signal on, a broadcast racing a new
//! waiter still wakes the old one, a context-cancelled wait racing a
//! signal never swallows it, and a dropped lock future hands its wakeup on.
//! Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether --no-default-features --release --test loom_cond`
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};

use loom::sync::Arc;
use loom::thread;
use tether::Context;
use tether::sync::{Cond, Mutex};

fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    match Pin::new(f).poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn signal_vs_wait(notify_under_lock: bool) {
    loom::model(move || {
        let p = Arc::new((Mutex::new(false), Cond::new()));
        let p2 = p.clone();
        let waiter = thread::spawn(move || {
            let (m, c) = &*p2;
            drop(c.wait_while_blocking(m.lock_blocking(), |ready| !*ready));
        });
        let (m, c) = &*p;
        let mut g = m.lock_blocking();
        *g = true;
        if notify_under_lock {
            c.notify_one();
            drop(g);
        } else {
            drop(g);
            c.notify_one();
        }
        waiter.join().unwrap(); // a lost wakeup deadlocks: loom reports it
        assert_eq!(c.waiters(), 0);
    });
}

#[test]
fn loom_signal_under_lock_races_wait() {
    signal_vs_wait(true);
}

#[test]
fn loom_signal_after_unlock_races_wait() {
    signal_vs_wait(false);
}

#[test]
fn loom_dropped_async_waiter_hands_its_signal_on() {
    loom::model(|| {
        let p = Arc::new((Mutex::new(0u32), Cond::new()));
        // Waiter A (async) queues first.
        let mut a = Box::pin(p.1.wait(p.0.lock_blocking()));
        assert!(poll_once(&mut a).is_none());
        // Consumer B (thread) waits for one item.
        let p2 = p.clone();
        let b = thread::spawn(move || {
            let (m, c) = &*p2;
            let mut g = c.wait_while_blocking(m.lock_blocking(), |items| *items == 0);
            *g -= 1;
        });
        // Producer adds one item and signals once; A is dropped meanwhile.
        let p3 = p.clone();
        let producer = thread::spawn(move || {
            *p3.0.lock_blocking() += 1;
            p3.1.notify_one();
        });
        drop(a);
        producer.join().unwrap();
        b.join().unwrap(); // B must get the item even if the signal went to A
        assert_eq!(*p.0.lock_blocking(), 0);
    });
}

#[test]
fn loom_broadcast_racing_a_new_waiter_wakes_the_old_one() {
    loom::model(|| {
        let p = Arc::new((Mutex::new(()), Cond::new()));
        let mut old = Box::pin(p.1.wait(p.0.lock_blocking()));
        assert!(poll_once(&mut old).is_none());
        let p2 = p.clone();
        let newcomer = thread::spawn(move || {
            let (m, c) = &*p2;
            let mut late = Box::pin(c.wait(m.lock_blocking()));
            let _ = poll_once(&mut late);
        });
        p.1.notify_all();
        // The old waiter was woken; it may still have to wait for the
        // newcomer to release the lock.
        while poll_once(&mut old).is_none() {
            thread::yield_now();
        }
        newcomer.join().unwrap();
        assert_eq!(p.1.waiters(), 0);
    });
}

#[test]
fn loom_mutex_dropped_lock_future_hands_the_wakeup_on() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let held = m.lock_blocking();
        let mut a = Box::pin(m.lock());
        assert!(poll_once(&mut a).is_none());
        let m2 = m.clone();
        let b = thread::spawn(move || *m2.lock_blocking() += 1);
        drop(held); // wakes A (queued first) or lets B in
        drop(a); // A gives up: if it was woken, the wakeup goes to B
        b.join().unwrap(); // B must not sleep while the lock is free
        assert_eq!(*m.lock_blocking(), 1);
    });
}

#[test]
fn loom_cancelled_wait_races_signal_without_swallowing_it() {
    loom::model(|| {
        // (items, taken by A)
        let p = Arc::new((Mutex::new((0u32, false)), Cond::new()));
        let (ctx, cancel) = Context::background().with_cancel();
        // A: an async wait a context can cancel (a task waker: see
        // loom_semaphore.rs for why not a blocking thread here).
        let pa = p.clone();
        let a = thread::spawn(move || {
            loom::future::block_on(async {
                let (m, c) = &*pa;
                if let Ok(mut g) = c.wait_while_ctx(m.lock().await, &ctx, |s| s.0 == 0).await {
                    g.0 -= 1;
                    g.1 = true;
                    drop(g);
                    c.notify_all(); // let B stop waiting
                }
            })
        });
        // B: a plain blocking wait for the item (or for A to have taken it).
        let pb = p.clone();
        let b = thread::spawn(move || {
            let (m, c) = &*pb;
            let mut g = c.wait_while_blocking(m.lock_blocking(), |s| s.0 == 0 && !s.1);
            if !g.1 {
                g.0 -= 1;
            }
        });
        p.0.lock_blocking().0 += 1;
        p.1.notify_one();
        cancel.cancel();
        a.join().unwrap();
        b.join().unwrap(); // if A was cancelled, the signal reached B
        assert_eq!(p.0.lock_blocking().0, 0);
    });
}
