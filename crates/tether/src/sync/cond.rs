//! [`Cond`], Go's `sync.Cond` for threads and tasks alike, and the
//! [`Mutex`] it pairs with.
//!
//! Design: a `Cond` is a FIFO queue of waiters behind a small internal lock.
//! A wait registers itself in that queue *while still holding the caller's
//! mutex*, and only then unlocks it; a notifier that changed the shared
//! state under the mutex therefore always finds the waiter (no lost
//! wakeups), exactly like Go's `notifyList`. `notify_one` pops the oldest
//! waiter (FIFO, as Go does), `notify_all` takes every waiter present.
//!
//! The mutex is tether's own because the wait must give the lock back
//! after waking, and neither `std::sync::MutexGuard` (no way back to its
//! mutex, not `Send`) nor a runtime-specific async mutex serves both
//! threads and tasks. Its guard is `Send`, so an async wait keeps the
//! future `Send`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use crate::ctx::{self, Context};
use crate::sync_impl::{AtomicU8, AtomicUsize, Mutex as RawMutex, lock};
use crate::waiter::{self, Wake};

// ---------------------------------------------------------------------------
// A FIFO of waiters with O(1) push/pop and O(log n) lookup by sequence
// number. Sequence numbers only grow, so the deque stays sorted and a
// waiter finds (or removes) itself by binary search. Shared with the
// semaphore.

pub(crate) struct Fifo<W> {
    next: u64,
    queue: VecDeque<(u64, W)>,
}

impl<W> Fifo<W> {
    pub(crate) const fn new() -> Self {
        Fifo { next: 0, queue: VecDeque::new() }
    }

    /// Appends `w`; returns its sequence number (its key).
    pub(crate) fn push(&mut self, w: W) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.queue.push_back((seq, w));
        seq
    }

    fn index(&self, seq: u64) -> Option<usize> {
        self.queue.binary_search_by_key(&seq, |e| e.0).ok()
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.index(seq).is_some()
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut W> {
        let i = self.index(seq)?;
        Some(&mut self.queue[i].1)
    }

    pub(crate) fn remove(&mut self, seq: u64) -> Option<W> {
        let i = self.index(seq)?;
        self.queue.remove(i).map(|e| e.1)
    }

    pub(crate) fn front(&self) -> Option<&W> {
        self.queue.front().map(|e| &e.1)
    }

    pub(crate) fn pop(&mut self) -> Option<W> {
        self.queue.pop_front().map(|e| e.1)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The sequence number the next push will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next
    }

    /// Takes every entry, oldest first.
    pub(crate) fn take_all(&mut self) -> VecDeque<(u64, W)> {
        std::mem::take(&mut self.queue)
    }
}

/// Parks until `ready()` (spinning briefly first, see `waiter::block_until`).
/// Under loom it parks at once: spinning only multiplies the interleavings
/// loom must explore, hiding the interesting ones behind the preemption
/// bound.
pub(crate) fn block_until(ready: impl FnMut() -> bool, deadline: Option<std::time::Instant>) -> bool {
    #[cfg(loom)]
    if deadline.is_none() {
        let mut ready = ready;
        loop {
            if ready() {
                return true;
            }
            crate::clock::park();
        }
    }
    waiter::block_until(ready, deadline)
}

// ---------------------------------------------------------------------------
// Mutex

const LOCKED: u8 = 1;
/// Some waiter is queued: unlocking must take the slow path and wake one.
/// Only ever set or cleared under the queue lock.
const WAITERS: u8 = 2;

/// A mutual-exclusion lock that both threads (`lock_blocking`) and async
/// tasks (`lock().await`) can take, and that [`Cond`] waits with.
///
/// Unlike `std::sync::Mutex`, its guard is `Send` (an async task may hold
/// it across `.await` and still be spawned on a multi-threaded runtime),
/// and there is no poisoning: a panic while holding the lock just unlocks
/// it. Unlike `tokio::sync::Mutex`, it needs no runtime.
///
/// Uncontended lock and unlock are one atomic compare-and-swap each.
/// Under contention a locker spins briefly, then queues and parks (or
/// returns `Pending`); an unlock wakes the oldest queued locker, which
/// then competes for the lock again (a newcomer may take it first: the
/// lock favours throughput over strict fairness, like `std`'s).
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
    state: AtomicU8,
    queue: RawMutex<Fifo<Wake>>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock protocol hands `&mut T` to one guard at a time, so the
// mutex may be shared between threads whenever `T` may be sent between them
// (the same bound as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex { state: AtomicU8::new(0), queue: RawMutex::new(Fifo::new()), value: UnsafeCell::new(value) }
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
        self.try_acquire().then(|| MutexGuard::new(self))
    }

    /// Parks the calling thread until the lock is free, then takes it.
    /// Needs no runtime. Do not call it from async code that might wait on
    /// a task holding the lock: use [`lock`](Mutex::lock) there.
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        if !self.try_acquire() {
            self.lock_slow_blocking();
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
        Lock { mutex: self, seq: None }
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

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

    /// Under the queue lock: takes the lock if free, else queues `wake`
    /// (after flagging WAITERS so that the holder's unlock wakes someone).
    /// `None` means the lock was taken.
    fn acquire_or_enqueue(&self, wake: impl FnOnce() -> Wake) -> Option<u64> {
        let mut q = lock(&self.queue);
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
                Ok(_) if s & LOCKED == 0 => return None,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        Some(q.push(wake()))
    }

    fn lock_slow_blocking(&self) {
        #[cfg(not(loom))] // see `block_until`
        for round in 0..waiter::SPIN_ROUNDS {
            if self.try_acquire() {
                return;
            }
            waiter::spin(round);
        }
        loop {
            let Some(seq) = self.acquire_or_enqueue(Wake::current_thread) else { return };
            block_until(|| !lock(&self.queue).contains(seq), None);
            if self.try_acquire() {
                return;
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        if self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_err() {
            self.unlock_slow();
        }
    }

    fn unlock_slow(&self) {
        let mut q = lock(&self.queue);
        // We hold both the mutex and the queue lock: no one else can change
        // `state` now, so a plain store is exact.
        let next = q.pop();
        self.state.store(if q.is_empty() { 0 } else { WAITERS }, Release);
        drop(q);
        if let Some(w) = next {
            w.wake();
        }
    }

    /// A queued locker gives up. If an unlock already picked it (it is no
    /// longer queued), it passes that wakeup on so that no locker sleeps
    /// while the lock is free.
    fn cancel_lock(&self, seq: u64) {
        let mut q = lock(&self.queue);
        if q.remove(seq).is_some() {
            if q.is_empty() {
                self.state.fetch_and(!WAITERS, Relaxed);
            }
            return;
        }
        let next = q.pop();
        if q.is_empty() {
            self.state.fetch_and(!WAITERS, Relaxed);
        }
        drop(q);
        if let Some(w) = next {
            w.wake();
        }
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
/// # Cancel safety
///
/// Cancel-safe: see [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    seq: Option<u64>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = &mut *self;
        if let Some(seq) = this.seq {
            let mut q = lock(&this.mutex.queue);
            if let Some(w) = q.get_mut(seq) {
                w.update_task(cx.waker());
                return Poll::Pending;
            }
            // An unlock picked us: compete for the lock again.
            this.seq = None;
        }
        if this.mutex.try_acquire() {
            return Poll::Ready(MutexGuard::new(this.mutex));
        }
        match this.mutex.acquire_or_enqueue(|| Wake::Task(cx.waker().clone())) {
            None => Poll::Ready(MutexGuard::new(this.mutex)),
            Some(seq) => {
                this.seq = Some(seq);
                Poll::Pending
            }
        }
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq.take() {
            self.mutex.cancel_lock(seq);
        }
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("queued", &self.seq.is_some()).finish()
    }
}

/// Proof of holding a [`Mutex`]: dereferences to the value, unlocks on
/// drop. `Send` when `T: Send`, so it may be held across `.await` in a
/// spawned task.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
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

// ---------------------------------------------------------------------------
// Cond

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
    state: RawMutex<CondState>,
    /// Waiters queued, for the notify fast path (no waiter: no locking).
    /// Written under `state`'s lock; see `notify_one` for why a notifier
    /// may read it without that lock.
    waiting: AtomicUsize,
}

struct CondState {
    queue: Fifo<Wake>,
    /// Every waiter with a sequence number below this was woken by a
    /// `notify_all`; one at or above it that is no longer queued was
    /// picked by a `notify_one`.
    broadcast_upto: u64,
}

impl Cond {
    /// A condition variable with no waiters.
    pub fn new() -> Cond {
        Cond { state: RawMutex::new(CondState { queue: Fifo::new(), broadcast_upto: 0 }), waiting: AtomicUsize::new(0) }
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
        let mut s = lock(&self.state);
        let next = s.queue.pop();
        self.waiting.store(s.queue.len(), SeqCst);
        drop(s);
        if let Some(w) = next {
            w.wake();
        }
    }

    /// Wakes every current waiter (Go's `Broadcast`).
    #[doc(alias = "broadcast")]
    pub fn notify_all(&self) {
        if self.waiting.load(SeqCst) == 0 {
            return;
        }
        let mut s = lock(&self.state);
        s.broadcast_upto = s.queue.next_seq();
        let all = s.queue.take_all();
        self.waiting.store(0, SeqCst);
        drop(s);
        for (_, w) in all {
            w.wake();
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
        let reg = self.register(Wake::current_thread());
        drop(guard); // only now: the waiter is already registered
        block_until(|| reg.is_notified(), None);
        let guard = mutex.lock_blocking();
        reg.finish();
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
        let mut reg = self.register(Wake::current_thread());
        drop(guard);
        let notified = block_until(|| reg.is_notified(), Some(deadline)) || reg.cancel();
        let guard = mutex.lock_blocking();
        reg.finish();
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
    pub fn wait_ctx_blocking<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ctx: &Context,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        ctx.check()?;
        let Some(scope) = ctx.scope() else { return Ok(self.wait_blocking(guard)) };
        let mutex = guard.mutex;
        let mut reg = self.register(Wake::current_thread());
        drop(guard);
        let key = scope.register(Wake::current_thread());
        if key.is_some() {
            block_until(|| reg.is_notified() || scope.is_done(), None);
        }
        if let Some(key) = key {
            scope.unregister(key);
        }
        if reg.is_notified() || reg.cancel() {
            let guard = mutex.lock_blocking();
            reg.finish();
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
    /// it only drops the guard (unlocking); while waiting it unregisters;
    /// if it had already been picked by a `notify_one` (and is dropped
    /// while relocking) it passes that notification on to the next waiter.
    /// The guard is not returned, so the lock is released either way.
    pub async fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        let reg = match self.sleep(guard, None).await {
            Ok(reg) => reg,
            Err(_) => unreachable!("a wait without a context cannot be cancelled"),
        };
        let guard = mutex.lock().await;
        reg.finish();
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
    /// # Cancel safety
    ///
    /// As [`wait`](Cond::wait).
    pub async fn wait_ctx<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ctx: &Context,
    ) -> Result<MutexGuard<'a, T>, ctx::Error> {
        let mutex = guard.mutex;
        let reg = self.sleep(guard, Some(ctx)).await?;
        let guard = mutex.lock().await;
        reg.finish();
        Ok(guard)
    }

    /// Waits while `condition` holds, until `ctx` is done; the lock is
    /// released on error.
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

    /// The async core: at the first poll, registers and then unlocks; then
    /// waits for a notification (or `ctx`). The returned registration is
    /// still armed: dropping it before `finish` passes a signal on.
    async fn sleep<T: ?Sized>(
        &self,
        guard: MutexGuard<'_, T>,
        ctx: Option<&Context>,
    ) -> Result<Registration<'_>, ctx::Error> {
        let mut guard = Some(guard);
        let mut reg: Option<Registration<'_>> = None;
        let mut done = ctx.map(Context::done);
        poll_fn(|cx| {
            let r = match &mut reg {
                Some(r) => r,
                None => {
                    if let Some(err) = ctx.and_then(Context::err) {
                        drop(guard.take());
                        return Poll::Ready(Err(err));
                    }
                    let r = reg.insert(self.register(Wake::Task(cx.waker().clone())));
                    drop(guard.take()); // only now: the waiter is already registered
                    r
                }
            };
            if r.poll_notified(cx.waker()) {
                return Poll::Ready(Ok(()));
            }
            let cancelled = done.as_mut().is_some_and(|d| Pin::new(d).poll(cx).is_ready());
            if !cancelled {
                return Poll::Pending;
            }
            if r.cancel() {
                return Poll::Ready(Ok(())); // the notification wins
            }
            Poll::Ready(Err(ctx.and_then(Context::err).unwrap_or(ctx::Error::Canceled)))
        })
        .await?;
        Ok(reg.expect("registered at the first poll"))
    }

    fn register(&self, wake: Wake) -> Registration<'_> {
        let mut s = lock(&self.state);
        let seq = s.queue.push(wake);
        self.waiting.store(s.queue.len(), SeqCst);
        drop(s);
        Registration { cond: self, seq, phase: Phase::Queued }
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
enum Phase {
    /// In the queue (or possibly just popped: check under the lock).
    Queued,
    /// Popped by a notify, but the wait has not returned yet.
    Notified,
    /// Returned, or gave up without having been notified.
    Finished,
}

/// One waiter's place in a `Cond`. Dropped before `finish`, it makes sure
/// no `notify_one` is swallowed.
struct Registration<'c> {
    cond: &'c Cond,
    seq: u64,
    phase: Phase,
}

impl Registration<'_> {
    fn is_notified(&self) -> bool {
        self.phase != Phase::Queued || !lock(&self.cond.state).queue.contains(self.seq)
    }

    /// True once notified; else refreshes the task's waker.
    fn poll_notified(&mut self, waker: &Waker) -> bool {
        if self.phase != Phase::Queued {
            return true;
        }
        let mut s = lock(&self.cond.state);
        match s.queue.get_mut(self.seq) {
            Some(w) => {
                w.update_task(waker);
                false
            }
            None => {
                self.phase = Phase::Notified;
                true
            }
        }
    }

    /// Gives up waiting. Returns true if a notification had already
    /// arrived (then the registration stays armed, to be `finish`ed or to
    /// pass the notification on).
    fn cancel(&mut self) -> bool {
        if self.phase != Phase::Queued {
            return self.phase == Phase::Notified;
        }
        let mut s = lock(&self.cond.state);
        if s.queue.remove(self.seq).is_some() {
            self.cond.waiting.store(s.queue.len(), SeqCst);
            self.phase = Phase::Finished;
            false
        } else {
            self.phase = Phase::Notified;
            true
        }
    }

    /// The wait returned to its caller with the lock: nothing to pass on.
    fn finish(mut self) {
        self.phase = Phase::Finished;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.phase == Phase::Finished || !self.cancel() {
            return;
        }
        // Notified but never returned. A broadcast woke everyone it had to;
        // a signal meant for "one waiter" goes to the next one instead.
        let by_signal = self.seq >= lock(&self.cond.state).broadcast_upto;
        if by_signal {
            self.cond.notify_one();
        }
    }
}
