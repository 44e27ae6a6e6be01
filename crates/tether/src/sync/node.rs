//! The waiter node that `Mutex`, `Cond`, `Semaphore` and `WaitGroup` link
//! into their lists, and the batch of wakes a notifier collects under its
//! lock.
//!
//! These primitives use the crate's one waiter list ([`List`]) and claim
//! token ([`Token`]) the same way:
//!
//! - **Where a node lives.** Inside the waiting future (which is `!Unpin`
//!   for that reason: the node's address must not change while it is
//!   linked) or on the blocked thread's stack (pinned there). Either way
//!   the owner's `Drop` unlinks it, so waiting allocates nothing and a
//!   waiter that gives up leaves in O(1).
//! - **Who touches what.** Links and [`data`](Node::data) only under the
//!   primitive's lock (or by the owner while the node is unlinked). A peer
//!   pops a node and claims its token under that lock, publishes the
//!   outcome with `finish` (its last touch of the node), and wakes the
//!   owner after releasing the lock. So a node that is still linked has a
//!   token that is either waiting or aborted, never claimed.
//! - **Giving up.** The owner aborts its token. If that works, no peer
//!   will complete it: it takes the lock and unlinks the node (a peer may
//!   have popped it already and skipped it). If it fails, a peer claimed
//!   it and the outcome is a few instructions away; the owner then passes
//!   on what it was given (a signal, a wake-up, permits).

use std::marker::PhantomPinned;
use std::ptr::NonNull;

use crate::sync_impl::{Mutex, MutexGuard, UnsafeCell, lock};
pub(crate) use crate::waiter::Owner;
use crate::waiter::{Linked, Links, List, Outcome, Token, Wake};

/// The lock that guards a primitive's waiter list (and what it decides
/// with it): `std`'s mutex, loom's under `--cfg loom`.
///
/// Why not the channels' spin lock: here the lock is off the fast paths
/// (taken only to queue, to complete someone queued, or to give up), so
/// spinning buys little; and under loom a spin lock that two threads wait
/// for at once lets the model schedule the two spinners against each other
/// forever (after a yield, switching threads costs no preemption), so a
/// model with three threads contending would never end.
pub(crate) struct ListLock<T>(Mutex<T>);

impl<T> ListLock<T> {
    pub(crate) fn new(value: T) -> Self {
        ListLock(Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.0)
    }
}

/// One parked operation of a sync primitive (see the module docs).
///
/// `D` is what peers read about the waiter: a `Semaphore` waiter's weight,
/// a `Cond` waiter's arrival number, a `WaitGroup` waiter's round.
pub(crate) struct Node<D> {
    links: Links<Node<D>>,
    token: Token,
    data: UnsafeCell<D>,
    /// Linked nodes are pointed at: the owner must pin them.
    _pinned: PhantomPinned,
}

// SAFETY: `links` always returns the same field.
unsafe impl<D> Linked for Node<D> {
    fn links(&self) -> &Links<Self> {
        &self.links
    }
}

// SAFETY: the links and `data` are only read or written under the owning
// primitive's lock, or by the node's owner while no peer can reach it (the
// node is unlinked); the token is built from atomics and a spin lock. So a
// node may be shared with, and moved to, other threads whenever `D` may.
unsafe impl<D: Send> Send for Node<D> {}
// SAFETY: as above.
unsafe impl<D: Send> Sync for Node<D> {}

impl<D: Copy> Node<D> {
    pub(crate) fn new(data: D) -> Node<D> {
        Node { links: Links::new(), token: Token::new(), data: UnsafeCell::new(data), _pinned: PhantomPinned }
    }

    /// The node's claim token.
    #[inline]
    pub(crate) fn token(&self) -> &Token {
        &self.token
    }

    /// The pointer a list holds.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<Node<D>> {
        NonNull::from(self)
    }

    /// What peers know about this waiter.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the list the node is (or may be)
    /// linked into, or is the owner of an unlinked node.
    #[inline]
    pub(crate) unsafe fn data(&self) -> D {
        // SAFETY: writes happen under the same lock or by the owner of the
        // unlinked node (caller's contract), so none runs concurrently.
        self.data.with(|d| unsafe { *d })
    }

    /// Sets what peers will read.
    ///
    /// # Safety
    ///
    /// As for [`data`](Node::data).
    #[inline]
    pub(crate) unsafe fn set_data(&self, value: D) {
        // SAFETY: as in `data`: this access is exclusive.
        self.data.with_mut(|d| unsafe { *d = value })
    }
}

impl<D> Drop for Node<D> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no list can reach the node any more (if one
        // could, that would be the bug this assertion reports).
        debug_assert!(!unsafe { List::is_linked(NonNull::from(&*self)) }, "a waiter node was freed while linked");
    }
}

/// A node a peer reaches through its list.
///
/// # Safety
///
/// `node` is linked in a list whose lock the caller holds (or was just
/// popped from it under that lock, which is still held).
#[inline]
pub(crate) unsafe fn node<'a, D>(node: NonNull<Node<D>>) -> &'a Node<D> {
    // SAFETY: a linked node is valid and does not move (the owner's
    // contract with the list), and it cannot be freed while we hold the
    // lock: an owner that gave up takes that lock before it lets go.
    unsafe { &*node.as_ptr() }
}

/// Pops the oldest waiter whose owner is still waiting, claims its token
/// and publishes `outcome`. Waiters whose owners gave up are dropped from
/// the list on the way (they unlink nothing then). Returns whom to wake
/// (after the lock is released), or `None` if no waiter was completed.
///
/// The caller holds `list`'s lock.
pub(crate) fn complete_front<D: Copy>(list: &mut List<Node<D>>, outcome: Outcome) -> Option<Option<Wake>> {
    while let Some(p) = list.pop_front() {
        // SAFETY: just popped under the lock the caller holds.
        let token = unsafe { node(p) }.token();
        if token.try_claim() {
            // The last touch of the node: its owner may free it at once.
            return Some(token.finish(outcome));
        }
        // Its owner gave up: it takes the lock to unlink itself and finds
        // the node already out.
    }
    None
}

/// How many owners a notifier wakes per lock hold. A broadcast to more
/// waiters releases the lock, wakes this many, and takes the lock again,
/// so waking never runs under the lock and never allocates. Tiny under
/// loom, so that the models cover the release-and-retake path.
#[cfg(not(loom))]
pub(crate) const BATCH: usize = 32;
#[cfg(loom)]
pub(crate) const BATCH: usize = 1;

/// Owners to wake once the lock is released (see [`BATCH`]).
#[must_use = "wake the owners once the lock is released"]
pub(crate) struct WakeBatch {
    wakes: [Option<Wake>; BATCH],
    len: usize,
}

impl WakeBatch {
    pub(crate) fn new() -> WakeBatch {
        WakeBatch { wakes: [const { None }; BATCH], len: 0 }
    }

    /// True when no more wakes fit: release the lock and wake them.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// Adds a wake (`None`: the owner was not asleep, nothing to do).
    #[inline]
    pub(crate) fn push(&mut self, wake: Option<Wake>) {
        if let Some(w) = wake {
            debug_assert!(!self.is_full(), "a full wake batch was not drained");
            self.wakes[self.len] = Some(w);
            self.len += 1;
        }
    }

    /// Wakes everyone collected; the batch is empty afterwards.
    pub(crate) fn wake_all(&mut self) {
        for w in &mut self.wakes[..self.len] {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        self.len = 0;
    }
}

impl Drop for WakeBatch {
    /// A batch abandoned by a panic still wakes its owners: they were
    /// completed and must not sleep on.
    fn drop(&mut self) {
        self.wake_all();
    }
}
