//! White-box unit tests of the waiter protocol's corner: a waiter whose
//! owner has given up (its token aborted) but has not unlinked itself yet.
//! Peers must skip it without serving anyone they should not.

use std::pin::pin;

use super::cond::CondWaiter;
use super::mutex::LockWaiter;
use super::node::Owner;
use super::semaphore::{self, Enqueued, SemWaiter};
use super::{Cond, Mutex, Semaphore};

/// The owner of `w` finishes giving up (its token is aborted already).
fn finish_giving_up(mut w: std::pin::Pin<&mut CondWaiter<'_>>) {
    let (cond, node, phase) = w.as_mut().project();
    CondWaiter::unlink(cond, node, phase);
}

#[test]
fn broadcast_skips_a_waiter_giving_up_and_spares_the_later_one_behind_it() {
    let cond = Cond::new();
    let mut leaving = pin!(CondWaiter::new(&cond));
    leaving.as_mut().register(Owner::Thread);
    // Gave up (as a timeout would), not unlinked yet.
    assert!(leaving.node.token().try_abort());
    let mut staying = pin!(CondWaiter::new(&cond));
    staying.as_mut().register(Owner::Thread);
    cond.notify_all();
    // `late` arrives after the broadcast.
    let mut late = pin!(CondWaiter::new(&cond));
    late.as_mut().register(Owner::Thread);
    assert_eq!(cond.waiters(), 1, "the broadcast took every earlier waiter out");
    finish_giving_up(leaving);
    assert!(staying.as_mut().cancel(), "woken by the broadcast");
    staying.finish();
    assert!(!late.as_mut().cancel(), "not woken by an earlier broadcast");
}

#[test]
fn a_signal_skips_a_waiter_giving_up() {
    let cond = Cond::new();
    let mut leaving = pin!(CondWaiter::new(&cond));
    leaving.as_mut().register(Owner::Thread);
    let mut next = pin!(CondWaiter::new(&cond));
    next.as_mut().register(Owner::Thread);
    assert!(leaving.node.token().try_abort(), "gave up, not unlinked yet");
    cond.notify_one();
    assert!(next.as_mut().cancel(), "the signal went past the one giving up");
    next.finish();
    assert_eq!(cond.waiters(), 0);
    finish_giving_up(leaving);
    assert_eq!(cond.waiters(), 0);
}

#[test]
fn a_big_head_giving_up_does_not_hold_back_the_queue() {
    let sem = Semaphore::new(2);
    sem.try_acquire(2).unwrap().forget();
    let mut big = pin!(SemWaiter::new(&sem, 2));
    assert!(matches!(big.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
    let mut small = pin!(SemWaiter::new(&sem, 1));
    assert!(matches!(small.as_mut().enqueue(Owner::Thread), Enqueued::Queued));
    assert!(big.node.token().try_abort(), "gave up, not unlinked yet");
    sem.release(1);
    assert!(small.as_mut().block(|| false), "granted past the head that gave up");
    assert_eq!(sem.available(), 0);
    sem.release(small.into_permit().forget());
    sem.unlink(&big.node); // it finishes giving up
    // SAFETY: test only: the waiter is unlinked, nothing to do on drop.
    unsafe { big.as_mut().get_unchecked_mut() }.phase = semaphore::Phase::Idle;
    sem.release(1);
    assert!(sem.try_acquire(2).is_some(), "no one is left queued");
}

#[test]
fn an_unlock_skips_a_locker_giving_up() {
    let m = Mutex::new(());
    let held = m.lock_blocking();
    let mut leaving = pin!(LockWaiter::new(&m.raw));
    assert!(!leaving.as_mut().acquire_or_queue(Owner::Thread, false));
    let mut staying = pin!(LockWaiter::new(&m.raw));
    assert!(!staying.as_mut().acquire_or_queue(Owner::Thread, false));
    assert!(leaving.node.token().try_abort(), "gave up, not unlinked yet");
    drop(held);
    assert!(staying.node.token().outcome().is_some(), "the unlock woke the one staying");
    m.raw.unlink(&leaving.node); // it finishes giving up
    // SAFETY: test only: the waiter is unlinked, nothing to do on drop.
    unsafe { leaving.as_mut().get_unchecked_mut() }.queued = false;
    assert!(m.raw.queue.lock().is_empty());
}
