//! [`Mutex`]: the lock [`Cond`](super::Cond) waits with, for threads and
//! tasks alike.
//!
//! Why tether has its own: a `Cond` wait must give the lock back after
//! waking, and neither `std::sync::MutexGuard` (no way back to its mutex,
//! not `Send`) nor a runtime-specific async mutex serves both threads and
//! tasks. Its guard is `Send`, so an async wait keeps the future `Send`.
//!
//! Design: one atomic byte (`LOCKED`, `WAITERS`) for the uncontended path,
//! and the crate's intrusive waiter list behind a lock for the contended
//! one. A queued locker's node lives in its [`Lock`] future or on
//! its thread's stack; an unlock pops the oldest one and wakes it, and the
//! woken locker competes for the lock again (at the front of the queue if
//! it loses).

/// What a lock waits for, in leak reports.
const LOCKING: crate::leak::Blocked = crate::leak::Blocked::new("locking a Mutex", None);

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::task::{Context as TaskCx, Poll};

use super::node::{ListLock, Node, Owner, complete_front};
use crate::sync_impl::AtomicU8;
use crate::waiter::{Backoff, List, Outcome, Waited};

const LOCKED: u8 = 1;
/// The queue is not empty: unlocking must take the slow path and wake one.
/// Only ever set or cleared under the queue lock.
const WAITERS: u8 = 2;

/// The lock itself, without the value (so that waiters need not be
/// generic over `T`).
pub(super) struct RawLock {
    pub(super) state: AtomicU8,
    pub(super) queue: ListLock<List<Node<()>>>,
}

/// A mutual-exclusion lock that both threads (`lock_blocking`) and async
/// tasks (`lock().await`) can take, and that [`Cond`](super::Cond) waits
/// with.
///
/// Unlike `std::sync::Mutex`, its guard is `Send` (an async task may hold
/// it across `.await` and still be spawned on a multi-threaded runtime),
/// and there is no poisoning: a panic while holding the lock just unlocks
/// it. Unlike `tokio::sync::Mutex`, it needs no runtime.
///
/// Uncontended lock and unlock are one atomic compare-and-swap each.
/// Under contention a locker spins briefly, then queues and parks (or
/// returns `Pending`) without allocating; an unlock wakes the oldest
/// queued locker, which then competes for the lock again (a newcomer may
/// take it first: the lock favours throughput over strict fairness, like
/// `std`'s, but the loser keeps its place at the head of the queue).
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         std::thread::spawn(move || *c.lock_blocking() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock_blocking(), 4);
/// ```
pub struct Mutex<T: ?Sized> {
    pub(super) raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the lock protocol hands `&mut T` to one guard at a time, so the
// mutex may be shared between threads whenever `T` may be sent between them
// (the same bound as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            raw: RawLock { state: AtomicU8::new(0), queue: ListLock::new(List::new()) },
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock if it is free right now.
    ///
    /// ```
    /// let m = tether::sync::Mutex::new(1);
    /// let g = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(g);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_acquire().then(|| MutexGuard::new(self))
    }

    /// Parks the calling thread until the lock is free, then takes it.
    /// Needs no runtime. Do not call it from async code that might wait on
    /// a task holding the lock: use [`lock`](Mutex::lock) there.
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        if !self.raw.try_acquire() {
            self.raw.lock_slow_blocking();
        }
        MutexGuard::new(self)
    }

    /// Waits (asynchronously) until the lock is free, then takes it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let m = tether::sync::Mutex::new(vec![1]);
    /// m.lock().await.push(2);
    /// assert_eq!(*m.lock().await, [1, 2]);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it completes leaves the lock
    /// untouched, and if an unlock had already picked this waiter to wake,
    /// the wakeup is passed on to the next queued locker.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock { mutex: self, waiter: LockWaiter::new(&self.raw) }
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl RawLock {
    #[inline]
    fn try_acquire(&self) -> bool {
        let mut s = self.state.load(Relaxed);
        while s & LOCKED == 0 {
            match self.state.compare_exchange_weak(s, s | LOCKED, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Under the queue lock: takes the lock if free (true), else flags
    /// WAITERS (so that the holder's unlock wakes someone) and links
    /// `node`, at the front if it lost a race after being woken.
    ///
    /// # Safety
    ///
    /// `node` is unlinked, its token armed, and it stays pinned until it is
    /// unlinked again (the owning [`LockWaiter`]'s contract).
    unsafe fn acquire_or_enqueue(&self, node: &Node<()>, front: bool) -> bool {
        let mut q = self.queue.lock();
        let mut s = self.state.load(Relaxed);
        loop {
            let want = if s & LOCKED == 0 {
                s | LOCKED
            } else if s & WAITERS == 0 {
                s | WAITERS
            } else {
                break;
            };
            match self.state.compare_exchange(s, want, Acquire, Relaxed) {
                Ok(_) if s & LOCKED == 0 => return true,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: caller's contract; we hold the queue lock.
        unsafe { if front { q.push_front(node.ptr()) } else { q.push_back(node.ptr()) } }
        false
    }

    fn lock_slow_blocking(&self) {
        // A holder on the other core usually unlocks within a few hundred
        // nanoseconds; queueing and parking cost microseconds. Under loom,
        // spinning only hides interleavings behind the preemption bound.
        if !cfg!(loom) {
            let mut backoff = Backoff::new();
            while !backoff.is_completed() {
                if self.try_acquire() {
                    return;
                }
                backoff.snooze();
            }
        }
        let mut waiter = pin!(LockWaiter::new(self));
        waiter.as_mut().block();
    }

    #[inline]
    fn unlock(&self) {
        if self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_err() {
            self.unlock_slow();
        }
    }

    fn unlock_slow(&self) {
        let mut q = self.queue.lock();
        let next = complete_front(&mut q, Outcome::Notified(0));
        // We hold both the mutex and the queue lock: no one else can change
        // `state` now (lockers only CAS a free lock, queuers need the queue
        // lock), so a plain store is exact.
        self.state.store(if q.is_empty() { 0 } else { WAITERS }, Release);
        drop(q);
        if let Some(Some(w)) = next {
            w.wake();
        }
    }

    /// The second half of a queued locker giving up, once its token is
    /// aborted: unlink it (if an unlock has not popped it already).
    pub(super) fn unlink(&self, node: &Node<()>) {
        let mut q = self.queue.lock();
        // SAFETY: the node is linked in this queue or was popped by an
        // unlock that found it aborted; we hold the queue lock.
        unsafe { q.remove(node.ptr()) };
        if q.is_empty() {
            self.state.fetch_and(!WAITERS, Relaxed);
        }
    }

    /// A woken locker gave up before it retried: wake the next one in its
    /// place, unless the lock is held (then the holder's unlock will, as
    /// WAITERS is set while anyone is queued), so that no locker sleeps
    /// while the lock is free and none is woken for nothing.
    fn pass_on(&self) {
        let mut q = self.queue.lock();
        if self.state.load(Relaxed) & LOCKED != 0 {
            return;
        }
        let next = complete_front(&mut q, Outcome::Notified(0));
        if q.is_empty() {
            self.state.fetch_and(!WAITERS, Relaxed);
        }
        drop(q);
        if let Some(Some(w)) = next {
            w.wake();
        }
    }
}

/// One queued locker: a node pinned in a [`Lock`] future or on a blocked
/// thread's stack, unlinked by `Drop` if it is still queued.
pub(super) struct LockWaiter<'a> {
    raw: &'a RawLock,
    pub(super) node: Node<()>,
    /// Linked, or completed by an unlock and not yet collected.
    pub(super) queued: bool,
}

impl<'a> LockWaiter<'a> {
    pub(super) fn new(raw: &'a RawLock) -> Self {
        LockWaiter { raw, node: Node::new(()), queued: false }
    }

    fn project(self: Pin<&mut Self>) -> (&'a RawLock, &Node<()>, &mut bool) {
        // SAFETY: nothing is moved out of the pinned waiter; the node is
        // only used through a shared reference, in place.
        let this = unsafe { self.get_unchecked_mut() };
        (this.raw, &this.node, &mut this.queued)
    }

    /// Takes the lock (true) or queues (false). `woken`: retrying after an
    /// unlock picked us, so keep the head of the queue.
    pub(super) fn acquire_or_queue(self: Pin<&mut Self>, owner: Owner<'_>, woken: bool) -> bool {
        let (raw, node, queued) = self.project();
        if raw.try_acquire() {
            return true;
        }
        owner.arm(node.token());
        // SAFETY: the node is unlinked (`queued` is false), armed, and
        // pinned; `Drop` unlinks it before it goes.
        if unsafe { raw.acquire_or_enqueue(node, woken) } {
            return true;
        }
        *queued = true;
        false
    }

    /// The async locker: `Ready` once the lock is taken.
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let mut woken = false;
        if self.queued {
            let (_, node, queued) = self.as_mut().project();
            if node.token().poll(cx.waker()).is_none() {
                crate::leak::pending(LOCKING);
                return Poll::Pending;
            }
            *queued = false;
            woken = true;
        }
        if self.acquire_or_queue(Owner::Task(cx.waker()), woken) {
            Poll::Ready(())
        } else {
            crate::leak::pending(LOCKING);
            Poll::Pending
        }
    }

    /// The blocked thread: returns with the lock taken.
    fn block(mut self: Pin<&mut Self>) {
        let mut woken = false;
        while !self.as_mut().acquire_or_queue(Owner::Thread, woken) {
            let (_, node, queued) = self.as_mut().project();
            let _note = crate::leak::note_at(LOCKING);
            let waited = node.token().wait_blocking(None, || false);
            debug_assert!(matches!(waited, Waited::Outcome(_)), "an untimed lock wait ends with an unlock");
            *queued = false;
            woken = true;
        }
    }
}

impl Drop for LockWaiter<'_> {
    fn drop(&mut self) {
        if !self.queued {
            return;
        }
        let token = self.node.token();
        if token.try_abort() {
            self.raw.unlink(&self.node);
        } else {
            // An unlock picked us: its wake-up is ours to pass on.
            token.wait_outcome();
            self.raw.pass_on();
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    #[inline]
    fn unlock(&self) {
        self.raw.unlock();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Future returned by [`Mutex::lock`].
///
/// It is `!Unpin`: while queued, its waiter node (inside the future) is
/// linked into the mutex's queue, so waiting allocates nothing. Pin it
/// (`.await` does) to poll it.
///
/// # Cancel safety
///
/// Cancel-safe: see [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    waiter: LockWaiter<'a>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<MutexGuard<'a, T>> {
        // SAFETY: structural pinning of `waiter`: it is never moved out of
        // the future, and it is dropped in place (its `Drop` unlinks it).
        let (mutex, waiter) = unsafe {
            let this = self.get_unchecked_mut();
            (this.mutex, Pin::new_unchecked(&mut this.waiter))
        };
        waiter.poll(cx).map(|()| MutexGuard::new(mutex))
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("queued", &self.waiter.queued).finish()
    }
}

/// Proof of holding a [`Mutex`]: dereferences to the value, unlocks on
/// drop. `Send` when `T: Send`, so it may be held across `.await` in a
/// spawned task.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) mutex: &'a Mutex<T>,
    // Makes the guard `Sync` only for `T: Sync` (it hands out `&T`).
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard { mutex, _marker: PhantomData }
    }

    /// The mutex this guard locks.
    pub fn mutex(guard: &Self) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a guard exists only while its holder owns the lock, so no
        // other reference to the value is live.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
