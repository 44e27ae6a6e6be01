//! [`WaitGroup`]: wait for a collection of tasks to finish (Go's
//! `sync.WaitGroup`), for threads and async tasks alike.
//!
//! Invariants (under one lock, except `draining`'s decrements):
//! - `counter` is the number of outstanding `done` calls.
//! - When `counter` drops to zero, `round` advances and every linked
//!   waiter is released: its claim token is completed, and it is woken
//!   after the lock is released. A waiter's node (in the [`Wait`] future,
//!   or on the blocked thread's stack) records the round it joined, so a
//!   waiter that gives up knows whether it had been released.
//! - `draining` counts released waiters that have not yet returned (or
//!   given up); an `add` that restarts the counter while some remain is
//!   the reuse Go forbids ("WaitGroup is reused before previous Wait has
//!   returned"). A released waiter decrements it without the lock: it
//!   returns without touching the lock again.

/// What a `WaitGroup` wait waits for, in leak reports.
const WAITING_WG: &str = "waiting on a WaitGroup";

use std::future::Future;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context as TaskCx, Poll};

use super::node::{ListLock, Node, Owner, WakeBatch, node};
use crate::sync_impl::{Arc, AtomicUsize, MutexGuard};
use crate::waiter::{List, Outcome, Waited};

/// The outcome of a released waiter.
const RELEASED: Outcome = Outcome::Notified(0);

/// Waits for a collection of tasks to finish (Go's `sync.WaitGroup`).
///
/// [`add`](WaitGroup::add) the number of tasks before starting them, call
/// [`done`](WaitGroup::done) when each finishes, and
/// [`wait`](WaitGroup::wait) (or [`wait_blocking`](WaitGroup::wait_blocking))
/// until the count is back to zero. Cloning shares the counter, so each
/// task can own a handle. [`go`](WaitGroup::go) does all three for one
/// task, and calls `done` even if the task panics or is aborted.
///
/// ```
/// use tether::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// for _ in 0..3 {
///     wg.add(1);
///     let wg = wg.clone();
///     std::thread::spawn(move || {
///         // ... work ...
///         wg.done();
///     });
/// }
/// wg.wait_blocking();
/// ```
///
/// # Misuse
///
/// Go's rules, enforced with panics that name them: calling `done` more
/// often than `add` panics with "WaitGroup counter went negative"; calling
/// `add` on a zero counter while waiters released by the previous round
/// have not all returned from `wait` panics with "WaitGroup is reused
/// before previous Wait has returned".
///
/// For structured work with errors and cancellation, prefer a
/// [`Group`](crate::group::Group).
#[derive(Clone)]
pub struct WaitGroup {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    state: ListLock<State>,
    pub(super) draining: AtomicUsize,
}

#[derive(Default)]
pub(super) struct State {
    counter: usize,
    round: u64,
    /// Oldest first; each node's data is the round it joined.
    pub(super) waiters: List<Node<u64>>,
}

impl Inner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl WaitGroup {
    /// A wait group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup { inner: Arc::new(Inner { state: ListLock::new(State::default()), draining: AtomicUsize::new(0) }) }
    }

    /// Adds `n` to the counter (Go's `Add(n)`). Call it before starting
    /// the tasks it counts, so that `wait` cannot miss them.
    ///
    /// # Panics
    ///
    /// "WaitGroup is reused before previous Wait has returned" if the
    /// counter is zero and waiters of the previous round are still
    /// returning; "WaitGroup counter overflowed" past `usize::MAX`.
    pub fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = self.inner.lock();
        if s.counter == 0 && self.inner.draining.load(Acquire) > 0 {
            drop(s);
            panic!("WaitGroup is reused before previous Wait has returned");
        }
        s.counter = s.counter.checked_add(n).expect("WaitGroup counter overflowed");
    }

    /// Decrements the counter by one (Go's `Done`); at zero, releases
    /// every waiter.
    ///
    /// # Panics
    ///
    /// "WaitGroup counter went negative" if the counter is already zero.
    pub fn done(&self) {
        let mut s = self.inner.lock();
        if s.counter == 0 {
            drop(s);
            panic!("WaitGroup counter went negative: done() called more times than add()");
        }
        s.counter -= 1;
        if s.counter != 0 || s.waiters.is_empty() {
            return;
        }
        // Everyone linked now is released, including those a later batch
        // will complete: they count as draining from this moment on.
        s.round += 1;
        self.inner.draining.fetch_add(s.waiters.len(), AcqRel);
        let round = s.round;
        let mut batch = WakeBatch::new();
        loop {
            while !batch.is_full() {
                let Some(p) = s.waiters.pop_front() else { break };
                // SAFETY: just popped under the lock we hold.
                let w = unsafe { node(p) };
                debug_assert!(unsafe { w.data() } < round, "a waiter joined a round that is still draining");
                if w.token().try_claim() {
                    // The last touch of the node: its owner may free it.
                    batch.push(w.token().finish(RELEASED));
                }
                // Else its owner gave up: it sees the round is over when it
                // takes the lock to unlink, and stops draining itself.
            }
            let more = !s.waiters.is_empty();
            drop(s);
            batch.wake_all();
            if !more {
                return;
            }
            s = self.inner.lock();
        }
    }

    /// The current counter (for diagnostics; it may change at once).
    pub fn count(&self) -> usize {
        self.inner.lock().counter
    }

    /// Completes once the counter is zero (Go's `Wait`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future removes its registration (a waiter
    /// released and then dropped counts as having returned).
    pub fn wait(&self) -> Wait<'_> {
        Wait { waiter: WgWaiter::new(self) }
    }

    /// Parks the calling thread until the counter is zero. Allocates
    /// nothing: the waiter's node lives on this thread's stack.
    pub fn wait_blocking(&self) {
        let mut w = pin!(WgWaiter::new(self));
        if w.as_mut().join(Owner::Thread) {
            return;
        }
        let _note = crate::leak::note(WAITING_WG);
        w.block();
    }

    /// Go's `wg.Go(f)`: adds one, spawns `task` (on the ambient tokio
    /// runtime, or its own thread without one), and calls `done` when it
    /// ends — including by panic or abort. The task is registered with the
    /// [`leak`](crate::leak) checker.
    ///
    /// ```
    /// # let rt = tokio::runtime::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let wg = tether::sync::WaitGroup::new();
    /// for i in 0..4 {
    ///     wg.go(async move { let _ = i * 2; });
    /// }
    /// wg.wait().await;
    /// # });
    /// ```
    #[track_caller]
    pub fn go<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.add(1);
        let done = DoneGuard(self.clone());
        let reg = crate::task::Registration::lazy("wait group task", None, Location::caller());
        crate::task::spawn_async(
            "wait group task",
            // `done` is called once the task is dropped and deregistered.
            crate::task::Tracked::with_after(task, reg, done),
        );
    }

    /// [`go`](WaitGroup::go) for a blocking closure (tokio's blocking pool
    /// when a runtime is present, else a new thread).
    ///
    /// ```
    /// let wg = tether::sync::WaitGroup::new();
    /// wg.go_blocking(|| std::thread::yield_now());
    /// wg.wait_blocking();
    /// ```
    #[track_caller]
    pub fn go_blocking<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.add(1);
        let done = DoneGuard(self.clone());
        let reg = crate::task::Registration::new("wait group task", None, Location::caller());
        crate::task::spawn_blocking("wait group task", reg, move |reg| {
            f();
            drop(reg);
            drop(done);
        });
    }
}

/// Calls `done` when dropped: on return, unwind or abort alike. If the
/// task panicked the panic is reported by the panic hook; `done` still
/// runs so waiters are never stranded.
struct DoneGuard(WaitGroup);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup").field("count", &self.count()).finish()
    }
}

/// Future returned by [`WaitGroup::wait`].
///
/// It is `!Unpin`: while waiting, its node (inside the future) is linked
/// into the wait group's list, so waiting allocates nothing. Pin it
/// (`.await` does) to poll it.
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future unlinks its node (a waiter released
/// and then dropped counts as having returned).
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    waiter: WgWaiter<'a>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        // SAFETY: structural pinning of the only field: never moved out,
        // dropped in place (its `Drop` unlinks the node).
        let mut w = unsafe { self.map_unchecked_mut(|s| &mut s.waiter) };
        let ready = if w.linked { w.as_mut().poll_released(cx) } else { w.as_mut().join(Owner::Task(cx.waker())) };
        if ready {
            Poll::Ready(())
        } else {
            crate::leak::pending(crate::leak::Blocked::new(WAITING_WG, None));
            Poll::Pending
        }
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait").field("registered", &self.waiter.linked).finish()
    }
}

/// One waiter: a node pinned in a [`Wait`] future or on a blocked thread's
/// stack, unlinked by `Drop` if the wait is given up.
pub(super) struct WgWaiter<'a> {
    wg: &'a WaitGroup,
    pub(super) node: Node<u64>,
    /// Linked, or released and not yet collected.
    linked: bool,
}

impl<'a> WgWaiter<'a> {
    pub(super) fn new(wg: &'a WaitGroup) -> Self {
        WgWaiter { wg, node: Node::new(0), linked: false }
    }

    fn project(self: Pin<&mut Self>) -> (&'a WaitGroup, &Node<u64>, &mut bool) {
        // SAFETY: nothing is moved out of the pinned waiter; the node is
        // only used through a shared reference, in place.
        let this = unsafe { self.get_unchecked_mut() };
        (this.wg, &this.node, &mut this.linked)
    }

    /// True if the counter is zero already; else links the waiter.
    pub(super) fn join(self: Pin<&mut Self>, owner: Owner<'_>) -> bool {
        let (wg, node, linked) = self.project();
        let mut s = wg.inner.lock();
        if s.counter == 0 {
            return true;
        }
        // Arming under the lock is fine: the node is not reachable yet.
        owner.arm(node.token());
        // SAFETY: the node is unlinked, armed and pinned, and `Drop`
        // unlinks it before it goes; we hold the list's lock.
        unsafe {
            node.set_data(s.round);
            s.waiters.push_back(node.ptr());
        }
        *linked = true;
        false
    }

    /// The task: true once released (and then counted as returned).
    fn poll_released(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> bool {
        if self.node.token().poll(cx.waker()).is_none() {
            return false;
        }
        self.returned();
        true
    }

    /// The blocked thread: returns once released.
    pub(super) fn block(self: Pin<&mut Self>) {
        let waited = self.node.token().wait_blocking(None, || false);
        debug_assert!(matches!(waited, Waited::Outcome(_)), "an untimed wait ends with a release");
        self.returned();
    }

    /// A released waiter returns: it no longer holds back the next round.
    fn returned(self: Pin<&mut Self>) {
        let (wg, _, linked) = self.project();
        wg.inner.draining.fetch_sub(1, AcqRel);
        *linked = false;
    }
}

impl Drop for WgWaiter<'_> {
    fn drop(&mut self) {
        if !self.linked {
            return;
        }
        let token = self.node.token();
        if token.try_abort() {
            let mut s = self.wg.inner.lock();
            // SAFETY: the node is linked in this list, or was popped by a
            // `done` that found it aborted; we hold the list's lock.
            unsafe { s.waiters.remove(self.node.ptr()) };
            // SAFETY: as above (and the node is ours).
            if unsafe { self.node.data() } == s.round {
                return; // given up before its round ended
            }
        } else {
            // Released just now: the outcome is instructions away.
            token.wait_outcome();
        }
        // Released, and dropped instead of polled: it counts as returned.
        self.wg.inner.draining.fetch_sub(1, AcqRel);
    }
}
