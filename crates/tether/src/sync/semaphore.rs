//! [`Semaphore`]: a weighted, FIFO semaphore with context-aware acquire
//! (Go's `golang.org/x/sync/semaphore`), for threads and tasks alike.
//!
//! State: one atomic word holds the free permits (shifted left by one) and
//! a QUEUED bit. While no one is queued, `try_acquire` and `release` are a
//! single compare-and-swap. Once someone queues, the QUEUED bit routes
//! every acquire and release through the waiter lock, where permits are
//! granted strictly in arrival order; the word is then only written under
//! that lock, so the grant loop reads it without racing. A waiter learns it
//! was granted by no longer being queued (its permits were already moved to
//! it).
//!
//! tokio's semaphore was not wrapped: it needs a runtime to block a thread
//! and knows nothing of contexts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::{self, AcqRel, Relaxed};
use std::task::{Context as TaskCx, Poll};

use super::cond::{Fifo, block_until};
use crate::ctx::{self, Context, Done};
use crate::sync_impl::{AtomicUsize, Mutex as RawMutex, MutexGuard as RawGuard, lock};
use crate::waiter::Wake;

const QUEUED: usize = 1;
const ONE: usize = 2; // one permit, in the state word

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
    waiters: RawMutex<Fifo<Waiter>>,
    /// Bumped (under the waiter lock) whenever the grant loop serves
    /// someone: a spinning blocked waiter watches it instead of taking the
    /// lock on every check, which would slow down the very release it is
    /// waiting for.
    grants: AtomicUsize,
}

struct Waiter {
    n: usize,
    wake: Wake,
}

enum Enqueued {
    Acquired,
    Queued(u64),
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
        Semaphore {
            size,
            word: AtomicUsize::new(size * ONE),
            waiters: RawMutex::new(Fifo::new()),
            grants: AtomicUsize::new(0),
        }
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
        Acquire { sem: self, ctx, n, state: State::Init, done: ctx.done() }
    }

    /// [`acquire`](Semaphore::acquire) for an `Arc`-shared semaphore: the
    /// permit owns a reference, so it can move into a spawned task.
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
    /// runtime.
    ///
    /// ```
    /// use tether::{Context, sync::Semaphore};
    /// let sem = Semaphore::new(4);
    /// let p = sem.acquire_blocking(&Context::background(), 3).unwrap();
    /// assert_eq!((p.count(), sem.available()), (3, 1));
    /// ```
    ///
    /// # Panics
    ///
    /// If `n > size()` and `ctx` can never be done (it would wait forever).
    pub fn acquire_blocking(&self, ctx: &Context, n: usize) -> Result<Permit<'_>, ctx::Error> {
        ctx.check()?;
        if self.try_take(n) {
            return Ok(Permit { sem: self, n });
        }
        // Read before queueing: a grant that lands in between only costs
        // one extra check under the lock.
        let mut seen = self.grants.load(Ordering::Acquire);
        match self.acquire_or_enqueue(n, Wake::current_thread) {
            Enqueued::Acquired => Ok(Permit { sem: self, n }),
            Enqueued::TooBig => {
                self.check_can_end(ctx, n);
                ctx.wait_blocking();
                Err(ctx.err().unwrap_or(ctx::Error::Canceled))
            }
            Enqueued::Queued(seq) => {
                let registration = ctx.scope().map(|s| (s, s.register(Wake::current_thread())));
                let done = || registration.as_ref().is_some_and(|(s, _)| s.is_done());
                if !matches!(registration, Some((_, None))) {
                    // Granted = no longer queued; only worth a look under
                    // the lock once some grant has happened since.
                    let mut granted = || {
                        let now = self.grants.load(Ordering::Acquire);
                        now != std::mem::replace(&mut seen, now) && !lock(&self.waiters).contains(seq)
                    };
                    block_until(|| granted() || done(), None);
                }
                if let Some((s, Some(key))) = registration {
                    s.unregister(key);
                }
                if let Some(err) = ctx.err() {
                    // Go: done before we return means failure, even if the
                    // permits arrived meanwhile (they go back).
                    self.cancel(seq, n);
                    return Err(err);
                }
                Ok(Permit { sem: self, n })
            }
        }
    }

    /// [`acquire_blocking`](Semaphore::acquire_blocking) for an
    /// `Arc`-shared semaphore.
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
        let mut q = lock(&self.waiters);
        let woken = self.release_locked(&mut q, n);
        drop(q);
        for w in woken {
            w.wake();
        }
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
            match self.word.compare_exchange_weak(s, s - n * ONE, Ordering::Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    fn acquire_or_enqueue(&self, n: usize, wake: impl FnOnce() -> Wake) -> Enqueued {
        let mut q = lock(&self.waiters);
        let mut s = self.word.load(Relaxed);
        loop {
            if s & QUEUED == 0 && s / ONE >= n {
                match self.word.compare_exchange(s, s - n * ONE, Ordering::Acquire, Relaxed) {
                    Ok(_) => return Enqueued::Acquired,
                    Err(now) => s = now,
                }
                continue;
            }
            if n > self.size {
                // Don't queue it: it would block everyone behind it forever.
                return Enqueued::TooBig;
            }
            if s & QUEUED != 0 {
                break;
            }
            match self.word.compare_exchange(s, s | QUEUED, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        Enqueued::Queued(q.push(Waiter { n, wake: wake() }))
    }

    /// Under the waiter lock: returns `n` permits and grants queued
    /// requests in order while they fit. Returns whom to wake (after the
    /// lock is dropped).
    fn release_locked(&self, q: &mut RawGuard<'_, Fifo<Waiter>>, n: usize) -> Vec<Wake> {
        let mut woken = Vec::new();
        let mut s = self.word.load(Relaxed);
        if s & QUEUED == 0 {
            // No one queued (the flag can only be set under this lock, so
            // it stays clear), but lock-free users may race: add with CAS.
            loop {
                let free = self.add_free(s, n);
                match self.word.compare_exchange_weak(s, free * ONE, AcqRel, Relaxed) {
                    Ok(_) => return woken,
                    Err(now) => s = now,
                }
            }
        }
        // QUEUED is set: every other change goes through this lock, so the
        // word is ours until we store it back.
        let mut free = self.add_free(s, n);
        while let Some(front) = q.front() {
            if front.n > free {
                // The head doesn't fit: everyone behind it waits too (FIFO,
                // no starvation of large requests).
                break;
            }
            free -= front.n;
            woken.push(q.pop().expect("front exists").wake);
        }
        if !woken.is_empty() {
            self.grants.fetch_add(1, Ordering::Release);
        }
        s = (free * ONE) | if q.is_empty() { 0 } else { QUEUED };
        self.word.store(s, Ordering::Release);
        woken
    }

    /// A queued request gives up: leave the queue, or, if already granted,
    /// give the permits back. Either may let the next waiters through.
    fn cancel(&self, seq: u64, n: usize) {
        let mut q = lock(&self.waiters);
        let returned = match q.remove(seq) {
            Some(_) => 0, // not granted: nothing of ours to give back
            None => n,    // granted meanwhile: give the permits back
        };
        // Re-run the grant loop: if we were the head, the ones behind us
        // may fit now. (If the queue just emptied, clear the flag.)
        let woken = self.release_locked(&mut q, returned);
        drop(q);
        for w in woken {
            w.wake();
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Queued(u64),
    TooBig,
    Finished,
}

/// Future returned by [`Semaphore::acquire`].
///
/// # Cancel safety
///
/// Cancel-safe: see [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'s, 'c> {
    sem: &'s Semaphore,
    ctx: &'c Context,
    n: usize,
    state: State,
    done: Done<'c>,
}

impl<'s> Future for Acquire<'s, '_> {
    type Output = Result<Permit<'s>, ctx::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (sem, n) = (this.sem, this.n);
        if this.state == State::Init {
            if let Some(err) = this.ctx.err() {
                this.state = State::Finished;
                return Poll::Ready(Err(err));
            }
            if sem.try_take(n) {
                this.state = State::Finished;
                return Poll::Ready(Ok(Permit { sem, n }));
            }
            this.state = match sem.acquire_or_enqueue(n, || Wake::Task(cx.waker().clone())) {
                Enqueued::Acquired => {
                    this.state = State::Finished;
                    return Poll::Ready(Ok(Permit { sem, n }));
                }
                Enqueued::TooBig => {
                    sem.check_can_end(this.ctx, n);
                    State::TooBig
                }
                Enqueued::Queued(seq) => State::Queued(seq),
            };
        } else if let State::Queued(seq) = this.state {
            let mut q = lock(&sem.waiters);
            match q.get_mut(seq) {
                Some(w) => w.wake.update_task(cx.waker()),
                None => {
                    drop(q);
                    // Granted. Go: a context done by now still fails.
                    this.state = State::Finished;
                    if let Some(err) = this.ctx.err() {
                        sem.release(n);
                        return Poll::Ready(Err(err));
                    }
                    return Poll::Ready(Ok(Permit { sem, n }));
                }
            }
        }
        match this.state {
            State::Queued(_) | State::TooBig => {}
            State::Init | State::Finished => panic!("semaphore: `Acquire` polled after completion"),
        }
        if Pin::new(&mut this.done).poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let State::Queued(seq) = this.state {
            sem.cancel(seq, n);
        }
        this.state = State::Finished;
        Poll::Ready(Err(this.ctx.err().unwrap_or(ctx::Error::Canceled)))
    }
}

impl Drop for Acquire<'_, '_> {
    fn drop(&mut self) {
        if let State::Queued(seq) = self.state {
            self.sem.cancel(seq, self.n);
        }
    }
}

impl fmt::Debug for Acquire<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("n", &self.n).field("state", &self.state).finish()
    }
}

/// Permits held from a [`Semaphore`]; dropping it releases them.
#[must_use = "dropping the permit releases it at once"]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl Permit<'_> {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits acquired without releasing them on drop (return
    /// them later with [`Semaphore::release`], Go's style); returns how
    /// many.
    pub fn forget(mut self) -> usize {
        std::mem::take(&mut self.n)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}

/// Permits held from an `Arc`-shared [`Semaphore`], movable into spawned
/// tasks and threads; dropping it releases them.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedPermit {
    sem: Arc<Semaphore>,
    n: usize,
}

impl OwnedPermit {
    /// How many permits this holds.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits acquired without releasing them on drop.
    pub fn forget(mut self) -> usize {
        std::mem::take(&mut self.n)
    }

    /// The semaphore these permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").field("n", &self.n).finish()
    }
}
