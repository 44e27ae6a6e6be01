//! [`Semaphore`]: a weighted, FIFO semaphore with context-aware acquire
//! (Go's `golang.org/x/sync/semaphore`), for threads and tasks alike.
//!
//! State: one atomic word holds the free permits (shifted left by one) and
//! a QUEUED bit. While no one is queued, `try_acquire` and `release` are a
//! single compare-and-swap. Once someone queues, the QUEUED bit routes
//! every acquire and release through the waiter lock, where permits are
//! granted strictly in arrival order; the word is then only written under
//! that lock, so the grant loop reads it without racing.
//!
//! Queued requests are nodes of the crate's intrusive waiter list, pinned
//! in the [`Acquire`] future or on the blocked thread's stack. A grant
//! moves the permits to the waiter under the lock and completes its claim
//! token; a waiter that gives up either aborts its token first (it was not
//! granted: it unlinks itself, letting the ones behind it through) or
//! finds it claimed (it was: it gives the permits back).
//!
//! tokio's semaphore was not wrapped: it needs a runtime to block a thread
//! and knows nothing of contexts.

/// What an acquire waits for, in leak reports.
const ACQUIRING: crate::leak::Blocked = crate::leak::Blocked::new("acquiring a Semaphore", None);

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire as Acq, Relaxed, Release};
use std::task::{Context as TaskCx, Poll, Waker};

use super::node::{ListLock, Node, Owner, WakeBatch, node};
use super::permit::{OwnedPermit, Permit};
use crate::ctx::{self, Context, Done};
use crate::sync_impl::{AtomicUsize, MutexGuard};
use crate::waiter::{List, Outcome, Waited, Wake};

const QUEUED: usize = 1;
const ONE: usize = 2; // one permit, in the state word

/// The outcome of a waiter whose permits were granted.
const GRANTED: Outcome = Outcome::Done(0);

/// A weighted semaphore: bounds how much of a resource concurrent users
/// hold, each taking as many permits as it needs (Go's
/// `semaphore.Weighted`).
///
/// - **Weighted**: `acquire(&ctx, n)` takes `n` permits at once.
/// - **FIFO**: waiters are served in arrival order, and a large request at
///   the head of the queue holds back smaller ones behind it even when they
///   would fit: a big request cannot be starved by a stream of small ones
///   (Go's semantics; think of a writer taking all `N` permits of a
///   readers/writer lock).
/// - **Context-aware**: a wait ends when the [`Context`] is done, with the
///   context's error; a context already done fails at once even if permits
///   are free (Go's "done happened before acquiring").
/// - **Threads and tasks**: [`acquire`](Semaphore::acquire) is a future,
///   [`acquire_blocking`](Semaphore::acquire_blocking) parks a thread with
///   no runtime; both queue in the same line.
///
/// Permits come back when the [`Permit`] is dropped, or explicitly with
/// [`release`](Semaphore::release) after [`Permit::forget`] (Go's style).
/// Releasing more than is held panics with "semaphore: released more than
/// held".
///
/// A request for more than the semaphore's size can never be granted: as
/// in Go it waits until the context is done without blocking anyone
/// else, and with a context that can never be done it panics instead of
/// hanging forever.
///
/// Uncontended `try_acquire` + `release` are one atomic compare-and-swap
/// each; see the README's benchmark table.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use tether::{Context, sync::Semaphore};
///
/// // At most 3 "units of memory" in use by the workers together.
/// let budget = Arc::new(Semaphore::new(3));
/// let ctx = Context::background();
/// let mut tasks = Vec::new();
/// for cost in [1, 2, 3, 1] {
///     let permit = budget.acquire_owned(&ctx, cost).await?;
///     tasks.push(tokio::spawn(async move {
///         // ... work that needs `cost` units ...
///         drop(permit); // gives the units back
///     }));
/// }
/// for t in tasks {
///     t.await.unwrap();
/// }
/// assert_eq!(budget.available(), 3);
/// # Ok::<(), tether::ctx::Error>(()) }).unwrap();
/// ```
pub struct Semaphore {
    size: usize,
    /// Free permits × 2, plus the QUEUED bit.
    word: AtomicUsize,
    /// Queued requests, oldest first; each node's data is its weight.
    waiters: ListLock<List<Node<usize>>>,
}

type Queue<'a> = MutexGuard<'a, List<Node<usize>>>;

pub(super) enum Enqueued {
    Acquired,
    Queued,
    /// More than the size: can never be granted.
    TooBig,
}

impl Semaphore {
    /// A semaphore with `size` permits, all free (Go's `NewWeighted`).
    ///
    /// # Panics
    ///
    /// If `size` exceeds `usize::MAX / 2` (one bit of the state word is a
    /// flag).
    pub fn new(size: usize) -> Semaphore {
        assert!(size <= usize::MAX / ONE, "semaphore: size {size} is too large (at most usize::MAX / 2)");
        Semaphore { size, word: AtomicUsize::new(size * ONE), waiters: ListLock::new(List::new()) }
    }

    /// The total number of permits.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Permits free right now (a snapshot).
    pub fn available(&self) -> usize {
        self.word.load(Relaxed) / ONE
    }

    /// Takes `n` permits if they are free now *and* no one is queued
    /// (queued waiters come first); never waits (Go's `TryAcquire`).
    ///
    /// ```
    /// let sem = tether::sync::Semaphore::new(2);
    /// let a = sem.try_acquire(1).unwrap();
    /// assert!(sem.try_acquire(2).is_none());
    /// drop(a);
    /// assert!(sem.try_acquire(2).is_some());
    /// ```
    pub fn try_acquire(&self, n: usize) -> Option<Permit<'_>> {
        self.try_take(n).then(|| Permit { sem: self, n })
    }

    /// Waits until `n` permits are granted (in FIFO order) or `ctx` is
    /// done (Go's `Acquire`). On success the [`Permit`] holds them; on
    /// failure the context's error is returned and the semaphore is left
    /// as it was.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use tether::{Context, ctx::Error, sync::Semaphore};
    ///
    /// let sem = Semaphore::new(2);
    /// let held = sem.acquire(&Context::background(), 2).await.unwrap();
    /// let (ctx, _c) = Context::background().with_timeout(Duration::from_millis(5));
    /// assert_eq!(sem.acquire(&ctx, 1).await.unwrap_err(), Error::DeadlineExceeded);
    /// drop(held);
    /// assert_eq!(sem.available(), 2);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it completes leaves the
    /// semaphore as if it had never been called: a queued request leaves
    /// the queue (letting the ones behind it through if it was blocking
    /// them), and permits granted to it but not yet returned as a `Permit`
    /// are given back and passed to the next waiters.
    ///
    /// # Panics
    ///
    /// When polled with `n > size()` and a context that can never be done
    /// (it would wait forever).
    pub fn acquire<'s, 'c>(&'s self, ctx: &'c Context, n: usize) -> Acquire<'s, 'c> {
        Acquire { ctx, done: ctx.done(), state: State::Init, waiter: SemWaiter::new(self, n) }
    }

    /// [`acquire`](Semaphore::acquire) for an `Arc`-shared semaphore: the
    /// permit owns a reference, so it can move into a spawned task.
    ///
    /// # Errors
    ///
    /// `ctx`'s error if `ctx` is done at the call, before the permits are
    /// granted (with `n > size()`: always, once it is done), or by the time
    /// they are (as in Go: permits granted to a wait that is already done
    /// are given back). The semaphore is left as it was.
    ///
    /// # Panics
    ///
    /// As [`acquire`](Semaphore::acquire): if `n > size()` and `ctx` can
    /// never be done.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Semaphore::acquire).
    pub async fn acquire_owned(self: &Arc<Self>, ctx: &Context, n: usize) -> Result<OwnedPermit, ctx::Error> {
        let n = self.acquire(ctx, n).await?.forget();
        Ok(OwnedPermit { sem: self.clone(), n })
    }

    /// Parks the calling thread until `n` permits are granted or `ctx` is
    /// done; the blocking form of [`acquire`](Semaphore::acquire). Needs no
    /// runtime, and allocates nothing while it waits.
    ///
    /// ```
    /// use tether::{Context, sync::Semaphore};
    /// let sem = Semaphore::new(4);
    /// let p = sem.acquire_blocking(&Context::background(), 3).unwrap();
    /// assert_eq!((p.count(), sem.available()), (3, 1));
    /// ```
    ///
    /// # Errors
    ///
    /// `ctx`'s error if `ctx` is done at the call, before the permits are
    /// granted (with `n > size()`: always, once it is done), or by the time
    /// they are (as in Go: permits granted to a wait that is already done
    /// are given back). The semaphore is left as it was.
    ///
    /// # Panics
    ///
    /// If `n > size()` and `ctx` can never be done (it would wait forever).
    pub fn acquire_blocking(&self, ctx: &Context, n: usize) -> Result<Permit<'_>, ctx::Error> {
        ctx.check()?;
        if self.try_take(n) {
            return Ok(Permit { sem: self, n });
        }
        let mut w = pin!(SemWaiter::new(self, n));
        match w.as_mut().enqueue(Owner::Thread) {
            Enqueued::Acquired => return Ok(Permit { sem: self, n }),
            Enqueued::TooBig => {
                self.check_can_end(ctx, n);
                ctx.wait_blocking();
                return Err(ctx.err().unwrap_or(ctx::Error::Canceled));
            }
            Enqueued::Queued => {}
        }
        let granted = match ctx.scope() {
            None => w.as_mut().block(|| false),
            // The context unparks this thread when it is done.
            Some(scope) => match scope.register(Wake::current_thread()) {
                None => false, // done meanwhile
                Some(key) => {
                    let granted = w.as_mut().block(|| scope.is_done());
                    scope.unregister(key);
                    granted
                }
            },
        };
        // Go: done before we return means failure, even if the permits
        // arrived meanwhile (dropping the waiter gives them back, or leaves
        // the queue if they did not).
        match ctx.err() {
            None if granted => Ok(w.as_mut().into_permit()),
            err => Err(err.unwrap_or(ctx::Error::Canceled)),
        }
    }

    /// [`acquire_blocking`](Semaphore::acquire_blocking) for an
    /// `Arc`-shared semaphore.
    ///
    /// # Errors
    ///
    /// As [`acquire_blocking`](Semaphore::acquire_blocking): `ctx`'s error
    /// if it is done first.
    ///
    /// # Panics
    ///
    /// If `n > size()` and `ctx` can never be done.
    pub fn acquire_owned_blocking(self: &Arc<Self>, ctx: &Context, n: usize) -> Result<OwnedPermit, ctx::Error> {
        let n = self.acquire_blocking(ctx, n)?.forget();
        Ok(OwnedPermit { sem: self.clone(), n })
    }

    /// Returns `n` permits (Go's `Release`), waking queued waiters in
    /// order as far as the free permits reach. Pair it with
    /// [`Permit::forget`]; dropping a `Permit` calls it for you.
    ///
    /// # Panics
    ///
    /// "semaphore: released more than held", if this would make more
    /// permits free than the semaphore's size.
    pub fn release(&self, n: usize) {
        let mut s = self.word.load(Relaxed);
        while s & QUEUED == 0 {
            let free = self.add_free(s, n);
            match self.word.compare_exchange_weak(s, free * ONE, AcqRel, Relaxed) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        self.grant(self.waiters.lock(), n);
    }

    /// Free permits after returning `n` to word `s`; panics on over-release.
    fn add_free(&self, s: usize, n: usize) -> usize {
        match (s / ONE).checked_add(n) {
            Some(free) if free <= self.size => free,
            _ => panic!("semaphore: released more than held"),
        }
    }

    /// The lock-free path: only while no one is queued.
    #[inline]
    fn try_take(&self, n: usize) -> bool {
        let mut s = self.word.load(Relaxed);
        while s & QUEUED == 0 && s / ONE >= n {
            match self.word.compare_exchange_weak(s, s - n * ONE, Acq, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Returns `n` permits under the waiter lock `q` and grants queued
    /// requests in order while they fit; wakes the granted after releasing
    /// the lock (in batches, retaking it, if there are many).
    fn grant<'a>(&'a self, mut q: Queue<'a>, mut n: usize) {
        let mut batch = WakeBatch::new();
        loop {
            let more = self.grant_locked(&mut q, n, &mut batch);
            drop(q);
            batch.wake_all();
            if !more {
                return;
            }
            n = 0;
            q = self.waiters.lock();
        }
    }

    /// One lock hold of [`grant`](Semaphore::grant): true if the batch
    /// filled up while the head of the queue might still fit.
    fn grant_locked(&self, q: &mut List<Node<usize>>, n: usize, batch: &mut WakeBatch) -> bool {
        let mut s = self.word.load(Relaxed);
        if s & QUEUED == 0 {
            // No one queued (the flag can only be set under this lock, so
            // it stays clear), but lock-free users may race: add with CAS.
            loop {
                let free = self.add_free(s, n);
                match self.word.compare_exchange_weak(s, free * ONE, AcqRel, Relaxed) {
                    Ok(_) => return false,
                    Err(now) => s = now,
                }
            }
        }
        // QUEUED is set: every other change goes through this lock, so the
        // word is ours until we store it back.
        let mut free = self.add_free(s, n);
        let mut more = false;
        while let Some(p) = q.front() {
            // SAFETY: linked in the list whose lock we hold.
            let w = unsafe { node(p) };
            if !w.token().is_waiting() {
                // Its owner gave up (it takes this lock next to unlink
                // itself, and finds the node out): it must not hold back
                // the ones behind it.
                q.pop_front();
                continue;
            }
            // SAFETY: as above.
            let need = unsafe { w.data() };
            if need > free {
                // The head doesn't fit: everyone behind it waits too (FIFO,
                // no starvation of large requests).
                break;
            }
            if batch.is_full() {
                more = true;
                break;
            }
            q.pop_front();
            if w.token().try_claim() {
                free -= need;
                // The last touch of the node: its owner may free it at once.
                batch.push(w.token().finish(GRANTED));
            }
        }
        s = (free * ONE) | if q.is_empty() { 0 } else { QUEUED };
        self.word.store(s, Release);
        more
    }

    /// The second half of a queued request giving up, once its token is
    /// aborted: unlink it (if a grant has not popped it already).
    pub(super) fn unlink(&self, node: &Node<usize>) {
        let mut q = self.waiters.lock();
        // SAFETY: the node is linked in this list, or was popped by a
        // granter that found it aborted; we hold the list's lock.
        unsafe { q.remove(node.ptr()) };
        // If it was the head, the ones behind it may fit now (and if the
        // queue emptied, the QUEUED flag goes).
        self.grant(q, 0);
    }

    fn check_can_end(&self, ctx: &Context, n: usize) {
        if ctx.scope().is_none() {
            panic!(
                "semaphore: acquire of {n} permits exceeds the size {} with a context that is never done \
                 (it would wait forever)",
                self.size
            );
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("available", &self.available())
            .field("queued", &(self.word.load(Relaxed) & QUEUED != 0))
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    /// Not linked.
    Idle,
    /// Linked (or just granted: the token tells).
    Queued,
    /// Granted: the permits are the waiter's until it hands them out as a
    /// `Permit` or gives them back.
    Granted,
}

/// One request's place in the queue: a node pinned in the [`Acquire`]
/// future or on the blocked thread's stack. Dropped while queued it leaves
/// the queue; dropped holding a grant it gives the permits back.
pub(super) struct SemWaiter<'s> {
    sem: &'s Semaphore,
    n: usize,
    pub(super) node: Node<usize>,
    pub(super) phase: Phase,
}

impl<'s> SemWaiter<'s> {
    pub(super) fn new(sem: &'s Semaphore, n: usize) -> Self {
        SemWaiter { sem, n, node: Node::new(n), phase: Phase::Idle }
    }

    fn project(self: Pin<&mut Self>) -> (&'s Semaphore, usize, &Node<usize>, &mut Phase) {
        // SAFETY: nothing is moved out of the pinned waiter; the node is
        // only used through a shared reference, in place.
        let this = unsafe { self.get_unchecked_mut() };
        (this.sem, this.n, &this.node, &mut this.phase)
    }

    /// Under the waiter lock: takes the permits if no one is queued and
    /// they are free, else queues (unless the request can never fit).
    pub(super) fn enqueue(self: Pin<&mut Self>, owner: Owner<'_>) -> Enqueued {
        let (sem, n, node, phase) = self.project();
        debug_assert_eq!(*phase, Phase::Idle);
        owner.arm(node.token());
        let mut q = sem.waiters.lock();
        let mut s = sem.word.load(Relaxed);
        loop {
            if s & QUEUED == 0 && s / ONE >= n {
                match sem.word.compare_exchange(s, s - n * ONE, Acq, Relaxed) {
                    Ok(_) => return Enqueued::Acquired,
                    Err(now) => s = now,
                }
                continue;
            }
            if n > sem.size {
                // Don't queue it: it would block everyone behind it forever.
                return Enqueued::TooBig;
            }
            if s & QUEUED != 0 {
                break;
            }
            match sem.word.compare_exchange(s, s | QUEUED, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the node is unlinked, armed and pinned, and `Drop`
        // unlinks it before it goes; we hold the list's lock.
        unsafe { q.push_back(node.ptr()) };
        *phase = Phase::Queued;
        Enqueued::Queued
    }

    /// True once granted; else makes sure the granter wakes `waker`.
    fn poll_granted(self: Pin<&mut Self>, waker: &Waker) -> bool {
        let (_, _, node, phase) = self.project();
        if *phase == Phase::Queued && node.token().poll(waker).is_some() {
            *phase = Phase::Granted;
        }
        *phase == Phase::Granted
    }

    /// The blocked thread waits for a grant (true) or for `ready()`.
    pub(super) fn block(self: Pin<&mut Self>, ready: impl FnMut() -> bool) -> bool {
        let (_, _, node, phase) = self.project();
        let _note = crate::leak::note_at(ACQUIRING);
        if *phase == Phase::Queued && matches!(node.token().wait_blocking(None, ready), Waited::Outcome(_)) {
            *phase = Phase::Granted;
        }
        *phase == Phase::Granted
    }

    /// Hands the granted permits out.
    pub(super) fn into_permit(self: Pin<&mut Self>) -> Permit<'s> {
        let (sem, n, _, phase) = self.project();
        debug_assert_eq!(*phase, Phase::Granted);
        *phase = Phase::Idle;
        Permit { sem, n }
    }

    /// Gives up: leaves the queue, or gives back permits granted meanwhile.
    /// Either may let the next waiters through.
    fn abandon(self: Pin<&mut Self>) {
        let (sem, n, node, phase) = self.project();
        match std::mem::replace(phase, Phase::Idle) {
            Phase::Idle => {}
            Phase::Granted => sem.release(n),
            Phase::Queued if node.token().try_abort() => sem.unlink(node),
            Phase::Queued => {
                // Granted just now: the outcome is instructions away.
                node.token().wait_outcome();
                sem.release(n);
            }
        }
    }
}

impl Drop for SemWaiter<'_> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs in place on the pinned waiter, and this is
        // its last use.
        unsafe { Pin::new_unchecked(self) }.abandon();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Queued,
    TooBig,
    Finished,
}

/// Future returned by [`Semaphore::acquire`].
///
/// It is `!Unpin`: while queued, its waiter node (inside the future) is
/// linked into the semaphore's queue, so waiting allocates nothing. Pin it
/// (`.await` does) to poll it.
///
/// # Cancel safety
///
/// Cancel-safe: see [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'s, 'c> {
    ctx: &'c Context,
    done: Done<'c>,
    state: State,
    waiter: SemWaiter<'s>,
}

impl<'s> Future for Acquire<'s, '_> {
    type Output = Result<Permit<'s>, ctx::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `waiter` only: it is never moved
        // out, and is dropped in place (its `Drop` unlinks it). The other
        // fields are not pinned.
        let (ctx, done, state, mut waiter) = unsafe {
            let this = self.get_unchecked_mut();
            (this.ctx, &mut this.done, &mut this.state, Pin::new_unchecked(&mut this.waiter))
        };
        match *state {
            State::Init => {
                let (sem, n) = (waiter.sem, waiter.n);
                if let Some(err) = ctx.err() {
                    *state = State::Finished;
                    return Poll::Ready(Err(err));
                }
                if sem.try_take(n) {
                    *state = State::Finished;
                    return Poll::Ready(Ok(Permit { sem, n }));
                }
                *state = match waiter.as_mut().enqueue(Owner::Task(cx.waker())) {
                    Enqueued::Acquired => {
                        *state = State::Finished;
                        return Poll::Ready(Ok(Permit { sem, n }));
                    }
                    Enqueued::TooBig => {
                        sem.check_can_end(ctx, n);
                        State::TooBig
                    }
                    Enqueued::Queued => State::Queued,
                };
            }
            State::Queued => {
                if waiter.as_mut().poll_granted(cx.waker()) {
                    *state = State::Finished;
                    // Go: a context done by now still fails (dropping the
                    // grant gives the permits back).
                    if let Some(err) = ctx.err() {
                        waiter.abandon();
                        return Poll::Ready(Err(err));
                    }
                    return Poll::Ready(Ok(waiter.into_permit()));
                }
            }
            State::TooBig => {}
            State::Finished => panic!("semaphore: `Acquire` polled after completion"),
        }
        if Pin::new(done).poll(cx).is_pending() {
            crate::leak::pending(ACQUIRING);
            return Poll::Pending;
        }
        waiter.abandon();
        *state = State::Finished;
        Poll::Ready(Err(ctx.err().unwrap_or(ctx::Error::Canceled)))
    }
}

impl fmt::Debug for Acquire<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("n", &self.waiter.n).field("state", &self.state).finish()
    }
}
