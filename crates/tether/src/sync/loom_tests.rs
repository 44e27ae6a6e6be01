//! White-box loom models of the sync primitives' waiter protocol: the
//! races between a peer completing a linked node (notify, unlock, grant,
//! release) and its owner giving up (abort and unlink, or pass on what it
//! was given), and a notifier's batches (`BATCH` is 1 under loom, so every
//! multi-waiter wake releases and retakes the lock). The whole-API models
//! are in `tests/loom_{cond,semaphore,wait_group}.rs`. Run with:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether --no-default-features --release --lib -- loom`

use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;

use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::cond::CondWaiter;
use super::mutex::LockWaiter;
use super::node::Owner;
use super::semaphore::{Enqueued, SemWaiter};
use super::wait_group::WgWaiter;
use super::{Cond, Mutex, Semaphore, WaitGroup};

// A thread parked on a token may be unparked by its finisher a moment
// after it saw the outcome; loom aborts if that unpark finds the thread
// blocked on one of loom's own primitives (tokio-rs/loom#249), such as a
// `join`. So in these models the threads that park are spawned threads
// that end after their wait, and the main thread only ever owns tokens it
// does not park on.

/// A signalled waiter that gives up passes the signal on: whether the
/// signal reached it before or after it aborted, the waiter behind it is
/// woken (a lost signal deadlocks the model).
#[test]
fn loom_cond_signal_to_a_dropped_waiter_is_passed_on() {
    loom::model(|| {
        let cond = Arc::new(Cond::new());
        let mut first = Box::pin(CondWaiter::new(&cond));
        first.as_mut().register(Owner::Thread);
        let second = {
            let cond = cond.clone();
            thread::spawn(move || {
                let mut second = pin!(CondWaiter::new(&cond));
                second.as_mut().register(Owner::Thread);
                cond.notify_one(); // picks `first`, unless it gave up already
                assert!(second.as_mut().block(None, || false), "the signal reached the waiter behind");
                second.finish();
            })
        };
        drop(first); // gives up, racing the signal
        second.join().unwrap();
        assert_eq!(cond.waiters(), 0);
    });
}

/// A parked wait cancelled (as by its context: a flag, then an unpark)
/// while a signal races it: exactly one waiter takes the signal. Either
/// the cancelled one (the notification wins), or, if it aborted first,
/// the one behind it.
#[test]
fn loom_cond_signal_races_cancel_of_a_parked_waiter() {
    loom::model(|| {
        let cond = Arc::new(Cond::new());
        let cancelled = Arc::new(AtomicBool::new(false));
        let registered = Arc::new(AtomicBool::new(false));
        let a = {
            let (cond, cancelled, registered) = (cond.clone(), cancelled.clone(), registered.clone());
            thread::spawn(move || {
                let mut a = pin!(CondWaiter::new(&cond));
                a.as_mut().register(Owner::Thread);
                registered.store(true, SeqCst);
                let took_it = a.as_mut().block(None, || cancelled.load(SeqCst)) || a.as_mut().cancel();
                a.finish();
                took_it
            })
        };
        while !registered.load(SeqCst) {
            thread::yield_now();
        }
        let mut b = pin!(CondWaiter::new(&cond));
        b.as_mut().register(Owner::Thread);
        cancelled.store(true, SeqCst);
        a.thread().unpark(); // what a context's cancel does to its waiters
        cond.notify_one(); // `a`, unless it saw the cancel and gave up first
        let a_took_it = a.join().unwrap();
        let b_took_it = b.as_mut().cancel();
        assert_ne!(a_took_it, b_took_it, "one signal, exactly one waiter");
        b.finish();
        assert_eq!(cond.waiters(), 0);
    });
}

/// A broadcast to two waiters (two lock holds under loom) while a newcomer
/// arrives between the holds: both old waiters are woken, the newcomer is
/// not.
#[test]
fn loom_cond_broadcast_in_batches_spares_later_waiters() {
    loom::model(|| {
        let cond = Arc::new(Cond::new());
        let (registered, broadcast) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let w = {
            let (cond, registered, broadcast) = (cond.clone(), registered.clone(), broadcast.clone());
            thread::spawn(move || {
                let mut a = pin!(CondWaiter::new(&cond));
                a.as_mut().register(Owner::Thread);
                let mut b = pin!(CondWaiter::new(&cond));
                b.as_mut().register(Owner::Thread);
                registered.store(true, SeqCst);
                assert!(a.as_mut().block(None, || false));
                // The broadcast may still be between its two lock holds.
                let mut late = pin!(CondWaiter::new(&cond));
                late.as_mut().register(Owner::Thread);
                while !broadcast.load(SeqCst) {
                    thread::yield_now();
                }
                assert!(b.as_mut().cancel(), "every waiter present was woken");
                assert!(!late.as_mut().cancel(), "a later waiter waits for a later notify");
                a.finish();
                b.finish();
            })
        };
        while !registered.load(SeqCst) {
            thread::yield_now();
        }
        cond.notify_all();
        broadcast.store(true, SeqCst);
        w.join().unwrap();
        assert_eq!(cond.waiters(), 0);
    });
}

/// As above, but the second old waiter gives up while the broadcast is
/// between its lock holds: the broadcast skips it and still spares the
/// newcomer queued behind it. Reaching that window takes three
/// preemptions (into the waiter after the first hold, back into the
/// broadcast between the waiter's abort and its unlink, and the park), so
/// this model runs with a bound of at least 3; it stays small.
#[test]
fn loom_cond_broadcast_in_batches_skips_a_leaving_waiter() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.map_or(3, |b| b.max(3)));
    model.check(|| {
        let cond = Arc::new(Cond::new());
        let (registered, broadcast) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let w = {
            let (cond, registered, broadcast) = (cond.clone(), registered.clone(), broadcast.clone());
            thread::spawn(move || {
                let mut a = pin!(CondWaiter::new(&cond));
                a.as_mut().register(Owner::Thread);
                let mut b = pin!(CondWaiter::new(&cond));
                b.as_mut().register(Owner::Thread);
                registered.store(true, SeqCst);
                assert!(a.as_mut().block(None, || false));
                let mut late = pin!(CondWaiter::new(&cond));
                late.as_mut().register(Owner::Thread);
                let _ = b.as_mut().cancel(); // woken already, or gives up
                b.finish();
                while !broadcast.load(SeqCst) {
                    thread::yield_now();
                }
                assert!(!late.as_mut().cancel(), "a later waiter waits for a later notify");
                a.finish();
            })
        };
        while !registered.load(SeqCst) {
            thread::yield_now();
        }
        cond.notify_all();
        broadcast.store(true, SeqCst);
        w.join().unwrap();
        assert_eq!(cond.waiters(), 0);
    });
}

/// An unlock picks a queued locker that is being dropped: the wake-up
/// reaches the thread queued behind it, and no WAITERS flag or node is
/// left behind.
#[test]
fn loom_mutex_unlock_races_a_dropped_locker() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let held = m.lock_blocking();
        let mut a = Box::pin(LockWaiter::new(&m.raw));
        assert!(!a.as_mut().acquire_or_queue(Owner::Thread, false), "queued behind the holder");
        let b = {
            let m = m.clone();
            thread::spawn(move || *m.lock_blocking() += 1)
        };
        drop(held);
        drop(a);
        b.join().unwrap();
        assert_eq!(*m.try_lock().expect("free"), 1);
        assert_eq!(m.raw.state.load(SeqCst), 0, "no stale WAITERS flag");
        assert!(m.raw.queue.lock().is_empty());
    });
}

/// A release grants a queued request that is being dropped: the permit
/// comes back (or is never taken) and reaches the request behind it.
#[test]
fn loom_semaphore_release_races_cancel_of_a_granted_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire(1).unwrap().forget();
        let mut a = Box::pin(SemWaiter::new(&sem, 1));
        assert!(matches!(a.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
        let b = {
            let sem = sem.clone();
            thread::spawn(move || {
                let mut b = pin!(SemWaiter::new(&sem, 1));
                assert!(matches!(b.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
                sem.release(held); // grants `a`, unless it gave up already
                assert!(b.as_mut().block(|| false), "the permit reached the next waiter");
                b.into_permit().forget()
            })
        };
        drop(a); // gives up, racing the grant
        let n = b.join().unwrap();
        assert_eq!(sem.available(), 0);
        sem.release(n);
        assert!(sem.try_acquire(1).is_some(), "no one is left queued");
    });
}

/// The head of the queue is too big to be served and gives up while a
/// release races it: the smaller request behind it is let through.
#[test]
fn loom_semaphore_cancelled_head_lets_the_queue_through() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire(2).unwrap().forget();
        let mut big = Box::pin(SemWaiter::new(&sem, 2));
        assert!(matches!(big.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
        let small = {
            let sem = sem.clone();
            thread::spawn(move || {
                let mut small = pin!(SemWaiter::new(&sem, 1));
                assert!(matches!(small.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
                sem.release(1); // the head still doesn't fit
                assert!(small.as_mut().block(|| false), "the small request was let through");
                small.into_permit().forget()
            })
        };
        drop(big);
        let n = small.join().unwrap();
        assert_eq!(sem.available(), 0);
        sem.release(n + held - 1);
        assert!(sem.try_acquire(2).is_some(), "no one is left queued");
    });
}

/// `done` races a waiter joining and then giving up: whichever wins, the
/// waiter is not left counted as draining (a new round may start) and no
/// node is left linked.
#[test]
fn loom_wait_group_done_races_a_joining_then_dropped_waiter() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let doer = {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        };
        let mut w = Box::pin(WgWaiter::new(&wg));
        let _zero_already = w.as_mut().join(Owner::Thread);
        drop(w);
        doer.join().unwrap();
        {
            assert_eq!(wg.inner.draining.load(SeqCst), 0, "a dropped waiter counts as returned");
            assert!(wg.inner.lock().waiters.is_empty());
        }
        wg.add(1); // not a reuse: nobody is still returning from a wait
        wg.done();
    });
}

/// `done` releases two waiters (two lock holds under loom) while the
/// first one gives up: the blocked one returns, and the accounting ends at
/// zero.
#[test]
fn loom_wait_group_release_in_batches_races_a_dropped_waiter() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let mut dropped = Box::pin(WgWaiter::new(&wg));
        assert!(!dropped.as_mut().join(Owner::Thread));
        let kept = {
            let wg = wg.clone();
            thread::spawn(move || {
                let mut kept = pin!(WgWaiter::new(&wg));
                assert!(!kept.as_mut().join(Owner::Thread));
                wg.done(); // releases `dropped` (unless it gave up), then `kept`
                kept.as_mut().block();
            })
        };
        drop(dropped);
        kept.join().unwrap();
        assert_eq!(wg.inner.draining.load(SeqCst), 0);
        assert!(wg.inner.lock().waiters.is_empty());
    });
}
