//! Loom models of `Semaphore`: acquire/release races keep the count exact
//! and exclusive, a context cancel racing a grant leaves no permit lost or
//! duplicated, and a dropped acquire future that was granted hands its
//! permits to the next waiter. Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether --no-default-features --release --test loom_semaphore`
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use tether::Context;
use tether::sync::Semaphore;

fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    match Pin::new(f).poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn loom_acquire_release_race_is_exclusive_and_exact() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let in_use = Arc::new(AtomicUsize::new(0));
        let worker = |n: usize| {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || {
                let p = sem.acquire_blocking(&Context::background(), n).unwrap();
                assert!(in_use.fetch_add(n, SeqCst) + n <= 2, "more permits in use than the size");
                in_use.fetch_sub(n, SeqCst);
                drop(p);
            })
        };
        let a = worker(2);
        let b = worker(1);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(sem.available(), 2);
        assert!(sem.try_acquire(2).is_some(), "no one is left queued");
    });
}

#[test]
fn loom_cancel_races_grant() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire(1).unwrap().forget();
        let (ctx, cancel) = Context::background().with_cancel();
        let sem2 = sem.clone();
        // An async waiter: loom aborts a model when a thread blocked on a
        // loom Mutex is unparked (tokio-rs/loom#249), which a *blocking*
        // waiter registered with both the context and the semaphore can
        // legitimately see; a task waker has no such problem.
        let waiter = thread::spawn(move || loom::future::block_on(sem2.acquire(&ctx, 1)).map(|p| p.forget()));
        let canceller = thread::spawn(move || cancel.cancel());
        sem.release(held);
        canceller.join().unwrap();
        match waiter.join().unwrap() {
            Ok(n) => sem.release(n),
            Err(e) => assert_eq!(e, tether::ctx::Error::Canceled),
        }
        assert_eq!(sem.available(), 1, "a permit was lost or duplicated");
        assert!(sem.try_acquire(1).is_some(), "no one is left queued");
    });
}

#[test]
fn loom_dropped_granted_future_hands_permits_on() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire(1).unwrap().forget();
        let ctx = Context::background();
        let mut a = Box::pin(sem.acquire(&ctx, 1));
        assert!(poll_once(&mut a).is_none()); // queued first
        let sem2 = sem.clone();
        let b = thread::spawn(move || sem2.acquire_blocking(&Context::background(), 1).unwrap().forget());
        sem.release(held); // grants A
        drop(a); // A gives up: its permit must reach B
        let n = b.join().unwrap();
        sem.release(n);
        assert_eq!(sem.available(), 1);
    });
}
