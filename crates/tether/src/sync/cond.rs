//! [`Cond`], Go's `sync.Cond` for threads and tasks alike (it waits with
//! tether's [`Mutex`]).
//!
//! Design: a `Cond` is the crate's intrusive waiter list behind a lock. A wait links its node (pinned in the wait's future, or on the
//! blocked thread's stack) *while still holding the caller's mutex*, and
//! only then unlocks it; a notifier that changed the shared state under
//! the mutex therefore always finds the waiter (no lost wakeups), exactly
//! like Go's `notifyList`. `notify_one` completes the oldest waiter still
//! waiting (FIFO, as Go does); `notify_all` every waiter that arrived
//! before it. The outcome a waiter receives says which of the two woke it,
//! so a waiter that gives up after a `notify_one` passes it on, and one
//! woken by a broadcast does not.

/// What a `Cond` wait waits for, in leak reports.
const WAITING_COND: crate::leak::Blocked = crate::leak::Blocked::new("waiting on a Cond", None);

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

#[cfg(doc)]
use super::mutex::Mutex;
use super::mutex::MutexGuard;
use super::node::{ListLock, Node, Owner, WakeBatch, complete_front, node};
use crate::ctx::{self, Context};
use crate::sync_impl::AtomicUsize;
use crate::waiter::{List, Outcome, Waited};

/// The outcome of a waiter completed by [`Cond::notify_one`].
const SIGNAL: Outcome = Outcome::Notified(0);
/// The outcome of a waiter completed by [`Cond::notify_all`].
const BROADCAST: Outcome = Outcome::Notified(1);

/// A condition variable (Go's `sync.Cond`) for threads and async tasks
/// alike: goroutine-style "wait until the state I care about changes",
/// paired with tether's [`Mutex`].
///
/// | Go | tether, thread | tether, task |
/// |---|---|---|
/// | `c.Wait()` | [`wait_blocking(g)`](Cond::wait_blocking) | [`wait(g).await`](Cond::wait) |
/// | `for !ok() { c.Wait() }` | [`wait_while_blocking`](Cond::wait_while_blocking) | [`wait_while`](Cond::wait_while) |
/// | (select on `ctx.Done()`) | [`wait_ctx_blocking`](Cond::wait_ctx_blocking) | [`wait_ctx`](Cond::wait_ctx) |
/// | `c.Signal()` | [`notify_one`](Cond::notify_one) | same |
/// | `c.Broadcast()` | [`notify_all`](Cond::notify_all) | same |
///
/// A wait takes the [`MutexGuard`] (the caller must hold the lock, as in
/// Go), registers as a waiter, *then* unlocks, sleeps, and relocks before
/// returning the guard. Semantics, as Go's:
///
/// - **No lost wakeups.** The waiter is registered before the lock is
///   released, so a notify made after the state change (under the lock or
///   after it) always finds it.
/// - **`notify_one` wakes one waiter, the longest-waiting** (FIFO), if
///   there is any; with none it does nothing (it is not remembered).
/// - **`notify_all` wakes every waiter present at the call**; later
///   waiters wait for a later notify.
/// - One `Cond` can serve threads and tasks at the same time, and several
///   `Cond`s may share one mutex (e.g. "not empty" and "not full").
///
/// Always re-check the condition after waking (the `wait_while` helpers do
/// it for you): another waiter may have run first and changed the state
/// again, and a waiter that gives up (a dropped future) passes a
/// `notify_one` it received on to the next waiter, which may then wake
/// with nothing to do.
///
/// `Cond` is `Send + Sync`; share it by reference or in an `Arc`, usually
/// next to its mutex.
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::{Cond, Mutex};
///
/// let state = Arc::new((Mutex::new(Vec::new()), Cond::new()));
/// let consumer = {
///     let state = state.clone();
///     std::thread::spawn(move || {
///         let (queue, cond) = &*state;
///         let mut q = cond.wait_while_blocking(queue.lock_blocking(), |q| q.is_empty());
///         q.pop().unwrap()
///     })
/// };
/// let (queue, cond) = &*state;
/// queue.lock_blocking().push("job");
/// cond.notify_one();
/// assert_eq!(consumer.join().unwrap(), "job");
/// ```
///
/// A wait that a [`Context`] can cancel gives up the lock and reports why:
///
/// ```
/// use std::time::Duration;
/// use tether::{Context, sync::{Cond, Mutex}};
///
/// let (m, cond) = (Mutex::new(false), Cond::new());
/// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(5));
/// let err = cond.wait_ctx_blocking(m.lock_blocking(), &ctx).unwrap_err();
/// assert_eq!(err, tether::ctx::Error::DeadlineExceeded);
/// assert!(m.try_lock().is_some(), "the lock was released");
/// ```
pub struct Cond {
    state: ListLock<CondState>,
    /// Waiters linked, for the notify fast path (no waiter: no locking).
    /// Written under `state`'s lock; see `notify_one` for why a notifier
    /// may read it without that lock.
    waiting: AtomicUsize,
}

struct CondState {
    /// Oldest first; each node's data is its arrival number.
    list: List<Node<u64>>,
    /// The arrival number of the next waiter.
    next: u64,
}

impl Cond {
    /// A condition variable with no waiters.
    pub fn new() -> Cond {
        Cond { state: ListLock::new(CondState { list: List::new(), next: 0 }), waiting: AtomicUsize::new(0) }
    }

    /// Wakes the longest-waiting waiter, if any (Go's `Signal`). The caller
    /// may but need not hold the mutex; the state change it announces must
    /// have been made under the mutex.
    #[doc(alias = "signal")]
    pub fn notify_one(&self) {
        // Fast path: a waiter stores `waiting` before unlocking the mutex,
        // and the notifier changed the state under that mutex after, so it
        // sees the waiter's count (or a later one).
        if self.waiting.load(SeqCst) == 0 {
            return;
        }
        let mut s = self.state.lock();
        let woken = complete_front(&mut s.list, SIGNAL);
        self.waiting.store(s.list.len(), SeqCst);
        drop(s);
        if let Some(Some(w)) = woken {
            w.wake();
        }
    }

    /// Wakes every current waiter (Go's `Broadcast`).
    #[doc(alias = "broadcast")]
    pub fn notify_all(&self) {
        if self.waiting.load(SeqCst) == 0 {
            return;
        }
        let mut batch = WakeBatch::new();
        let mut s = self.state.lock();
        // Waiters that arrive from now on wait for a later notify.
        let upto = s.next;
        loop {
            while !batch.is_full() {
                // SAFETY: linked in the list whose lock we hold.
                let Some(w) = s.list.front().map(|p| unsafe { node(p) }) else { break };
                // SAFETY: as above.
                if unsafe { w.data() } >= upto {
                    break;
                }
                s.list.pop_front();
                if w.token().try_claim() {
                    // The last touch of the node: its owner may free it.
                    batch.push(w.token().finish(BROADCAST));
                }
                // Else its owner gave up: it finds the node already out.
            }
            // SAFETY: as above.
            let more = s.list.front().is_some_and(|p| unsafe { node(p).data() } < upto);
            self.waiting.store(s.list.len(), SeqCst);
            drop(s);
            batch.wake_all();
            if !more {
                return;
            }
            s = self.state.lock();
        }
    }

    /// Unlocks the mutex, parks the calling thread until notified, relocks
    /// and returns the guard (Go's `Wait`). Needs no runtime.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::sync::{Cond, Mutex};
    ///
    /// let pair = Arc::new((Mutex::new(false), Cond::new()));
    /// let p = pair.clone();
    /// std::thread::spawn(move || {
    ///     *p.0.lock_blocking() = true;
    ///     p.1.notify_all();
    /// });
    /// let (ready, cond) = &*pair;
    /// let mut g = ready.lock_blocking();
    /// while !*g {
    ///     g = cond.wait_blocking(g);
    /// }
    /// ```
    pub fn wait_blocking<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        let mut w = pin!(CondWaiter::new(self));
        w.as_mut().register(Owner::Thread);
        drop(guard); // only now: the waiter is already linked
        w.as_mut().block(None, || false);
        let guard = mutex.lock_blocking();
        w.finish();
        guard
    }

    /// Like [`wait_blocking`](Cond::wait_blocking), giving up after
    /// `timeout`. Returns the relocked guard and `true` if the wait timed
    /// out (as `std`'s `WaitTimeoutResult::timed_out`). The timeout runs on
    /// tether's clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::sync::{Cond, Mutex};
    /// let (m, c) = (Mutex::new(()), Cond::new());
    /// let (_g, timed_out) = c.wait_timeout_blocking(m.lock_blocking(), Duration::from_millis(1));
    /// assert!(timed_out);
    /// ```
    pub fn wait_timeout_blocking<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let deadline = crate::clock::deadline_after(timeout);
        let mutex = guard.mutex;
        let mut w = pin!(CondWaiter::new(self));
        w.as_mut().register(Owner::Thread);
        drop(guard);
        // A notification that races the timeout wins.
        let notified = w.as_mut().block(Some(deadline), || false) || w.as_mut().cancel();
        let guard = mutex.lock_blocking();
        w.finish();
        (guard, !notified)
    }

    /// Waits (parking the thread) while `condition` holds, re-checking it
    /// under the lock after every wakeup (Go's `for cond() { c.Wait() }`).
    /// Returns at once if the condition is already false.
    pub fn wait_while_blocking<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait_blocking(guard);
        }
        guard
    }

    /// Like [`wait_blocking`](Cond::wait_blocking), but `ctx` can end the
    /// wait: then the lock is left *released* and the context's error is
    /// returned. Fails at once (releasing the lock) if `ctx` is already
    /// done. If a notification and the cancellation race, the notification
    /// wins (it is not lost): the wait returns `Ok` and the next
    /// `ctx.check()` reports the cancellation.
    ///
    /// # Errors
    ///
    /// `ctx`'s error (`Canceled` or `DeadlineExceeded`) if `ctx` is done
    /// before a notification arrives, or already done at the call. The
    /// guard is consumed and the lock left released.
    pub fn wait_ctx_blocking<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ctx: &Context,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        ctx.check()?;
        let Some(scope) = ctx.scope() else { return Ok(self.wait_blocking(guard)) };
        let mutex = guard.mutex;
        let mut w = pin!(CondWaiter::new(self));
        w.as_mut().register(Owner::Thread);
        drop(guard);
        // The context unparks this thread when it is done.
        let key = scope.register(crate::waiter::Wake::current_thread());
        let notified = key.is_some() && w.as_mut().block(None, || scope.is_done());
        if let Some(key) = key {
            scope.unregister(key);
        }
        if notified || w.as_mut().cancel() {
            let guard = mutex.lock_blocking();
            w.finish();
            return Ok(guard);
        }
        Err(ctx.err().unwrap_or(ctx::Error::Canceled))
    }

    /// Unlocks the mutex, waits until notified, relocks and returns the
    /// guard: the async form of [`wait_blocking`](Cond::wait_blocking).
    /// Registration happens at the first poll, before the lock is released.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tether::sync::{Cond, Mutex};
    ///
    /// let pair = Arc::new((Mutex::new(0), Cond::new()));
    /// let p = pair.clone();
    /// let waiter = tokio::spawn(async move {
    ///     let (m, c) = &*p;
    ///     let mut g = m.lock().await;
    ///     while *g == 0 {
    ///         g = c.wait(g).await;
    ///     }
    ///     *g
    /// });
    /// *pair.0.lock().await = 7;
    /// pair.1.notify_one();
    /// assert_eq!(waiter.await.unwrap(), 7);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses no notification: before the first poll
    /// it only drops the guard (unlocking); while waiting it unlinks its
    /// waiter; if it had already been picked by a `notify_one` (and is
    /// dropped while relocking) it passes that notification on to the next
    /// waiter. The guard is not returned, so the lock is released either
    /// way. The future is `!Unpin` (its waiter node lives inside it), so
    /// waiting allocates nothing.
    pub async fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        let mut w = pin!(CondWaiter::new(self));
        if self.sleep(w.as_mut(), guard, None).await.is_err() {
            unreachable!("a wait without a context cannot be cancelled");
        }
        let guard = mutex.lock().await;
        w.finish();
        guard
    }

    /// Waits while `condition` holds, re-checking it under the lock after
    /// every wakeup; the async form of
    /// [`wait_while_blocking`](Cond::wait_while_blocking).
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Cond::wait): no notification is lost; the lock is
    /// released.
    pub async fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Like [`wait`](Cond::wait), but `ctx` can end the wait: then the lock
    /// is left released and the context's error is returned. Fails at once
    /// if `ctx` is already done. A notification that races the
    /// cancellation wins (see [`wait_ctx_blocking`](Cond::wait_ctx_blocking)).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tether::{Context, sync::{Cond, Mutex}};
    ///
    /// let (jobs, cond) = (Mutex::new(Vec::<u32>::new()), Cond::new());
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// cancel.cancel();
    /// let mut g = jobs.lock().await;
    /// let got = async {
    ///     while g.is_empty() {
    ///         g = cond.wait_ctx(g, &ctx).await?;
    ///     }
    ///     Ok(g.pop())
    /// };
    /// assert_eq!(got.await, Err(tether::ctx::Error::Canceled));
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// `ctx`'s error (`Canceled` or `DeadlineExceeded`) if `ctx` is done
    /// before a notification arrives, or already done at the call. The
    /// guard is consumed and the lock left released.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Cond::wait).
    pub async fn wait_ctx<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ctx: &Context,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        let mutex = guard.mutex;
        let mut w = pin!(CondWaiter::new(self));
        self.sleep(w.as_mut(), guard, Some(ctx)).await?;
        let guard = mutex.lock().await;
        w.finish();
        Ok(guard)
    }

    /// Waits while `condition` holds, until `ctx` is done; the lock is
    /// released on error.
    ///
    /// # Errors
    ///
    /// `ctx`'s error if `ctx` is done while `condition` still holds; the
    /// guard is consumed and the lock left released. A `condition` already
    /// false returns `Ok` without looking at `ctx`.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Cond::wait).
    pub async fn wait_while_ctx<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        ctx: &Context,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        while condition(&mut guard) {
            guard = self.wait_ctx(guard, ctx).await?;
        }
        Ok(guard)
    }

    /// Like [`wait_while`](Cond::wait_while) for threads, until `ctx` is
    /// done; the lock is released on error.
    ///
    /// # Errors
    ///
    /// `ctx`'s error if `ctx` is done while `condition` still holds; the
    /// guard is consumed and the lock left released. A `condition` already
    /// false returns `Ok` without looking at `ctx`.
    pub fn wait_while_ctx_blocking<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        ctx: &Context,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        while condition(&mut guard) {
            guard = self.wait_ctx_blocking(guard, ctx)?;
        }
        Ok(guard)
    }

    /// The async core: at the first poll, links the waiter and then
    /// unlocks; then waits for a notification (or `ctx`). On `Ok` the
    /// waiter is notified and still armed: dropping it before `finish`
    /// passes a signal on.
    async fn sleep<T: ?Sized>(
        &self,
        mut w: Pin<&mut CondWaiter<'_>>,
        guard: MutexGuard<'_, T>,
        ctx: Option<&Context>,
    ) -> Result<(), ctx::Error> {
        let mut guard = Some(guard);
        let mut done = ctx.map(Context::done);
        poll_fn(|cx| {
            if let Some(g) = guard.take() {
                if let Some(err) = ctx.and_then(Context::err) {
                    drop(g);
                    return Poll::Ready(Err(err));
                }
                w.as_mut().register(Owner::Task(cx.waker()));
                drop(g); // only now: the waiter is already linked
            }
            if w.as_mut().poll_notified(cx.waker()) {
                return Poll::Ready(Ok(()));
            }
            let cancelled = done.as_mut().is_some_and(|d| Pin::new(d).poll(cx).is_ready());
            if !cancelled {
                crate::leak::pending(WAITING_COND);
                return Poll::Pending;
            }
            if w.as_mut().cancel() {
                return Poll::Ready(Ok(())); // the notification wins
            }
            Poll::Ready(Err(ctx.and_then(Context::err).unwrap_or(ctx::Error::Canceled)))
        })
        .await
    }

    /// The number of waiters currently queued (for tests and diagnostics).
    pub fn waiters(&self) -> usize {
        self.waiting.load(SeqCst)
    }
}

impl Default for Cond {
    fn default() -> Self {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").field("waiters", &self.waiters()).finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    /// Not linked yet.
    Idle,
    /// Linked (or just completed by a notifier: the token tells).
    Linked,
    /// Completed by a notify, but the wait has not returned yet; `signal`:
    /// by `notify_one` (to be passed on if the wait gives up).
    Notified { signal: bool },
    /// Returned, or gave up without having been notified.
    Finished,
}

/// One wait's place in a `Cond`: a node pinned in the wait's future or on
/// the blocked thread's stack. Dropped before `finish`, it makes sure no
/// `notify_one` is swallowed, and that the node is unlinked.
pub(super) struct CondWaiter<'c> {
    cond: &'c Cond,
    pub(super) node: Node<u64>,
    phase: Phase,
}

impl<'c> CondWaiter<'c> {
    pub(super) fn new(cond: &'c Cond) -> Self {
        CondWaiter { cond, node: Node::new(0), phase: Phase::Idle }
    }

    pub(super) fn project(self: Pin<&mut Self>) -> (&'c Cond, &Node<u64>, &mut Phase) {
        // SAFETY: nothing is moved out of the pinned waiter; the node is
        // only used through a shared reference, in place.
        let this = unsafe { self.get_unchecked_mut() };
        (this.cond, &this.node, &mut this.phase)
    }

    /// Links the waiter (the caller still holds the mutex).
    pub(super) fn register(self: Pin<&mut Self>, owner: Owner<'_>) {
        let (cond, node, phase) = self.project();
        debug_assert_eq!(*phase, Phase::Idle, "a cond waiter registers once");
        owner.arm(node.token());
        let mut s = cond.state.lock();
        let arrival = s.next;
        s.next += 1;
        // SAFETY: the node is unlinked, armed and pinned, and `Drop`
        // unlinks it before it goes; we hold the list's lock.
        unsafe {
            node.set_data(arrival);
            s.list.push_back(node.ptr());
        }
        cond.waiting.store(s.list.len(), SeqCst);
        drop(s);
        *phase = Phase::Linked;
    }

    /// Records a notifier's outcome.
    fn notified(phase: &mut Phase, o: Outcome) {
        *phase = Phase::Notified { signal: o == SIGNAL };
    }

    /// The blocked thread waits for a notification (true), for `ready()`,
    /// or for the deadline (false: still linked, `cancel` next).
    pub(super) fn block(self: Pin<&mut Self>, deadline: Option<Instant>, ready: impl FnMut() -> bool) -> bool {
        let (_, node, phase) = self.project();
        if *phase != Phase::Linked {
            return matches!(phase, Phase::Notified { .. });
        }
        let _note = crate::leak::note_at(WAITING_COND);
        match node.token().wait_blocking(deadline, ready) {
            Waited::Outcome(o) => {
                Self::notified(phase, o);
                true
            }
            Waited::Ready | Waited::Timeout => false,
        }
    }

    /// True once notified; else makes sure the notifier wakes `waker`.
    fn poll_notified(self: Pin<&mut Self>, waker: &Waker) -> bool {
        let (_, node, phase) = self.project();
        match *phase {
            Phase::Linked => match node.token().poll(waker) {
                Some(o) => {
                    Self::notified(phase, o);
                    true
                }
                None => false,
            },
            Phase::Notified { .. } => true,
            Phase::Idle | Phase::Finished => false,
        }
    }

    /// Gives up waiting. Returns true if a notification had already
    /// arrived (then the waiter stays armed, to be `finish`ed or to pass
    /// the notification on).
    pub(super) fn cancel(self: Pin<&mut Self>) -> bool {
        let (cond, node, phase) = self.project();
        match *phase {
            Phase::Linked => {}
            Phase::Notified { .. } => return true,
            Phase::Idle | Phase::Finished => return false,
        }
        if node.token().try_abort() {
            Self::unlink(cond, node, phase);
            false
        } else {
            // A notifier claimed it first: its outcome is instructions away.
            Self::notified(phase, node.token().wait_outcome());
            true
        }
    }

    /// The second half of giving up, once the token is aborted: no
    /// notifier will complete the node, and unlinking it under the lock
    /// (if a notifier has not popped it already) is all there is to do.
    pub(super) fn unlink(cond: &Cond, node: &Node<u64>, phase: &mut Phase) {
        let mut s = cond.state.lock();
        // SAFETY: the node is linked in this list, or was popped by a
        // notifier that found it aborted; we hold the list's lock.
        unsafe { s.list.remove(node.ptr()) };
        cond.waiting.store(s.list.len(), SeqCst);
        drop(s);
        *phase = Phase::Finished;
    }

    /// The wait returned to its caller with the lock: nothing to pass on.
    pub(super) fn finish(self: Pin<&mut Self>) {
        let (_, _, phase) = self.project();
        *phase = Phase::Finished;
    }
}

impl Drop for CondWaiter<'_> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs in place on the pinned waiter, and this is
        // its last use.
        let mut this = unsafe { Pin::new_unchecked(self) };
        if this.as_mut().cancel() && this.phase == (Phase::Notified { signal: true }) {
            // Notified but never returned. A broadcast woke everyone it had
            // to; a signal meant for "one waiter" goes to the next one.
            this.cond.notify_one();
        }
    }
}
