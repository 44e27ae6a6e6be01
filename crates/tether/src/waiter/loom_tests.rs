//! White-box loom models of the waiting mechanism: the claim token's
//! claim/abort/park protocol and the intrusive list under a lock. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p tether
//! --no-default-features --release --lib -- loom`.

use std::ptr::NonNull;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use super::{Linked, Links, List, Outcome, Token, Waited};
use crate::spin::SpinLock;

/// A peer's claim and the owner's abort race: exactly one wins, and a
/// claim's outcome always reaches the owner (no lost wake-up: loom fails a
/// model whose owner parks forever).
#[test]
fn loom_token_claim_races_abort_and_park() {
    loom::model(|| {
        let t = Arc::new(Token::new());
        t.arm_thread();
        let peer = {
            let t = t.clone();
            thread::spawn(move || {
                if t.try_claim() {
                    if let Some(w) = t.finish(Outcome::Done(1)) {
                        w.wake();
                    }
                    true
                } else {
                    false
                }
            })
        };
        // The owner waits a bounded time (one park under loom), then gives
        // up; its give-up and the peer's claim decide between them.
        let got = match t.wait_blocking(None, || false) {
            Waited::Outcome(o) => Some(o),
            _ => unreachable!("no deadline, no condition"),
        };
        let claimed = peer.join().unwrap();
        assert!(claimed, "only the peer ends an unconditioned wait");
        assert_eq!(got, Some(Outcome::Done(1)));
    });
}

/// An owner that gives up (abort) never also gets an outcome, and a peer
/// that loses the race never publishes one.
#[test]
fn loom_token_abort_excludes_claim() {
    loom::model(|| {
        let t = Arc::new(Token::new());
        t.arm_thread();
        let peer = {
            let t = t.clone();
            thread::spawn(move || {
                if t.try_claim() {
                    drop(t.finish(Outcome::Notified(0)));
                    true
                } else {
                    false
                }
            })
        };
        let aborted = t.try_abort();
        let claimed = peer.join().unwrap();
        assert!(aborted != claimed, "exactly one of abort and claim wins");
        if claimed {
            assert_eq!(t.wait_outcome(), Outcome::Notified(0));
        } else {
            assert_eq!(t.outcome(), None);
        }
    });
}

/// A task owner re-polling with a new waker while a peer finishes: the
/// finisher wakes the waker in the slot at its finish, and the owner sees
/// the outcome either at once or on that wake (never both missed).
#[test]
fn loom_token_task_repoll_races_finish() {
    loom::model(|| {
        let woken = Arc::new(AtomicUsize::new(0));
        let waker = counting_waker(woken.clone());
        let t = Arc::new(Token::new());
        t.arm_task(&waker);
        let peer = {
            let t = t.clone();
            thread::spawn(move || {
                assert!(t.try_claim());
                if let Some(w) = t.finish(Outcome::Done(0)) {
                    w.wake();
                }
            })
        };
        let first = t.poll(&waker);
        peer.join().unwrap();
        if first.is_none() {
            assert_eq!(woken.load(SeqCst), 1, "pending, so the finisher must have woken us");
        }
        assert_eq!(t.poll(&waker), Some(Outcome::Done(0)));
    });
}

fn counting_waker(count: Arc<AtomicUsize>) -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable};
    // The vtable points at a leaked `Arc` per clone; loom's Arc tracks
    // them, so every clone is dropped by the waker protocol.
    unsafe fn clone(p: *const ()) -> RawWaker {
        // SAFETY: `p` came from `Arc::into_raw` below.
        let a = unsafe { Arc::from_raw(p as *const AtomicUsize) };
        let b = a.clone();
        std::mem::forget(a);
        RawWaker::new(Arc::into_raw(b) as *const (), &VTABLE)
    }
    unsafe fn wake(p: *const ()) {
        // SAFETY: as above; consumes this clone.
        let a = unsafe { Arc::from_raw(p as *const AtomicUsize) };
        a.fetch_add(1, SeqCst);
    }
    unsafe fn wake_by_ref(p: *const ()) {
        // SAFETY: as above; borrows this clone.
        let a = unsafe { Arc::from_raw(p as *const AtomicUsize) };
        a.fetch_add(1, SeqCst);
        std::mem::forget(a);
    }
    unsafe fn drop_waker(p: *const ()) {
        // SAFETY: as above; releases this clone.
        drop(unsafe { Arc::from_raw(p as *const AtomicUsize) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
    // SAFETY: the vtable functions uphold the `RawWaker` contract.
    unsafe { std::task::Waker::from_raw(RawWaker::new(Arc::into_raw(count) as *const (), &VTABLE)) }
}

struct Node {
    links: Links<Node>,
    id: usize,
}
// SAFETY: `links` always returns the same field.
unsafe impl Linked for Node {
    fn links(&self) -> &Links<Node> {
        &self.links
    }
}

struct Shared {
    list: SpinLock<List<Node>>,
}
// SAFETY: the list (and the nodes it points at) is only touched under the
// spin lock; the nodes outlive the model's threads.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// An owner unlinks its node (giving up) while a waker pops from the
/// front, both under the primitive's lock, with a second node behind it:
/// every node leaves the list exactly once, the second keeps its place,
/// and loom checks that links are never touched without the lock.
#[test]
fn loom_list_unlink_races_pop() {
    loom::model(|| {
        let nodes: &'static [Node; 2] =
            Box::leak(Box::new([Node { links: Links::new(), id: 0 }, Node { links: Links::new(), id: 1 }]));
        let shared = Arc::new(Shared { list: SpinLock::new(List::new()) });
        let first = NonNull::from(&nodes[0]);
        // SAFETY: the nodes are 'static and linked once each.
        unsafe {
            shared.list.lock().push_back(first);
            shared.list.lock().push_back(NonNull::from(&nodes[1]));
        }
        let owner = {
            let shared = shared.clone();
            // SAFETY: linked in this list or in none.
            thread::spawn(move || unsafe { shared.list.lock().remove(NonNull::from(&nodes[0])) })
        };
        // SAFETY: nodes are 'static.
        let popped = shared.list.lock().pop_front().map(|n| unsafe { n.as_ref().id });
        let removed = owner.join().unwrap();
        match popped {
            Some(0) => assert!(!removed, "the waker took it first"),
            Some(1) => assert!(removed, "the owner left first; the next in line was served"),
            other => panic!("popped {other:?}"),
        }
        let rest = shared.list.lock().pop_front().map(|n| unsafe { n.as_ref().id });
        assert_eq!(rest, if popped == Some(0) { Some(1) } else { None });
        assert!(shared.list.lock().is_empty());
        let _ = first;
    });
}
