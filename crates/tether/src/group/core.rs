//! The shared state of a [`Group`](super::Group) or a thread
//! [`Scope`](super::Scope): the count of live tasks (for `wait`), the limit
//! slots, the first error and first panic, and the group's context.
//!
//! Invariants:
//! - `pending` counts tasks spawned and not yet ended; it is incremented
//!   before a task is started and decremented by the task's end guard after
//!   its future/closure, registration and slot are gone, so `wait` returns
//!   only after every task is entirely over. The count shares one word
//!   with a `WAITED` bit (`pending = count × 2 | WAITED`): a waiter
//!   registers under `lists`, then sets the bit with one RMW whose result
//!   says whether the count was already 0; the task ending at count 1
//!   learns from its own RMW whether the bit was set, and only then takes
//!   `lists` to wake the waiters. Both RMWs are on one word, so one of the
//!   two sees the other and no wake-up is lost — and a task's end takes no
//!   lock when nobody waits (every time the count touches 0 before `wait`).
//! - With a limit, `active` (slots held) never exceeds `limit`: a slot is
//!   taken by CAS before the task starts. `release` decrements `active`
//!   then reads `slot_waiters`; a waiter increments `slot_waiters` (under
//!   `lists`) then retries the CAS — both SeqCst, so at least one of them
//!   sees the other and no freed slot goes unnoticed.

use std::any::Any;
use std::panic::Location;

use super::{TaskFailed, TaskPanicked};
use crate::ctx::{CancelHandle, Cause, Context};
use crate::slab::Slab;
use crate::sync_impl::{AtomicBool, AtomicUsize, Mutex, lock};
use crate::waiter::{WaitList, Wake};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};

pub(super) const NO_LIMIT: usize = usize::MAX;

/// `pending`'s bit saying that some waiter may be in `lists.idle`.
const WAITED: usize = 1;
/// One task in `pending` (the count sits above the `WAITED` bit).
const ONE_TASK: usize = 2;

pub(super) type Payload = Box<dyn Any + Send + 'static>;

pub(super) struct Core<E> {
    pub(super) ctx: Context,
    cancel: CancelHandle,
    /// For async groups: a scope independent of `ctx`, cancelled only when
    /// the group is dropped without `wait`, that aborts its async tasks.
    abort: Option<(Context, CancelHandle)>,
    to_cause: Option<fn(&E) -> Cause>,
    pending: AtomicUsize,
    active: AtomicUsize,
    pub(super) limit: AtomicUsize,
    slot_waiters: AtomicUsize,
    /// Set once an error or a panic is recorded (under `outcome`'s lock):
    /// from then on the outcome of `wait` is fixed, and spawns are dropped
    /// unstarted — nothing they could do would change it.
    decided: AtomicBool,
    outcome: Mutex<Outcome<E>>,
    lists: Mutex<Lists>,
}

struct Outcome<E> {
    err: Option<E>,
    panic: Option<Payload>,
}

#[derive(Default)]
struct Lists {
    idle: WaitList,
    slots: Slab<Wake>,
}

impl<E> Core<E> {
    pub(super) fn new(parent: &Context, to_cause: Option<fn(&E) -> Cause>, limit: usize, abortable: bool) -> Core<E> {
        let (ctx, cancel) = parent.with_cancel();
        Core {
            ctx,
            cancel,
            abort: abortable.then(|| Context::background().with_cancel()),
            to_cause,
            pending: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            slot_waiters: AtomicUsize::new(0),
            decided: AtomicBool::new(false),
            outcome: Mutex::new(Outcome { err: None, panic: None }),
            lists: Mutex::new(Lists::default()),
        }
    }

    pub(super) fn is_limited(&self) -> bool {
        self.limit.load(Relaxed) != NO_LIMIT
    }

    /// Takes a slot if one is free (always, without a limit).
    pub(super) fn try_acquire(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        if limit == NO_LIMIT {
            return true;
        }
        let mut cur = self.active.load(SeqCst);
        while cur < limit {
            match self.active.compare_exchange_weak(cur, cur + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// Gives a slot back and wakes the spawners waiting for one.
    pub(super) fn release(&self) {
        self.active.fetch_sub(1, SeqCst);
        // Pairs with a waiter's announce-then-retry (`wait_slot`).
        crate::sync_impl::handshake_fence();
        if self.slot_waiters.load(SeqCst) > 0 {
            let l = lock(&self.lists);
            for (_, w) in l.slots.iter() {
                w.wake_by_ref();
            }
        }
    }

    /// Registers (or refreshes) a slot waiter; the caller retries
    /// `try_acquire` afterwards.
    pub(super) fn wait_slot(
        &self,
        key: &mut Option<usize>,
        w: impl FnOnce() -> Wake,
        waker: Option<&std::task::Waker>,
    ) {
        let mut l = lock(&self.lists);
        match key.and_then(|k| l.slots.get_mut(k)) {
            Some(existing) => {
                if let Some(waker) = waker {
                    existing.update_task(waker);
                }
            }
            None => {
                *key = Some(l.slots.insert(w()));
                self.slot_waiters.store(l.slots.len(), SeqCst);
                // The caller's retry of `try_acquire` follows: see `release`.
                crate::sync_impl::handshake_fence();
            }
        }
    }

    pub(super) fn unwait_slot(&self, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            let mut l = lock(&self.lists);
            l.slots.remove(k);
            self.slot_waiters.store(l.slots.len(), SeqCst);
        }
    }

    /// Blocks the calling thread until a slot is taken (true) or the
    /// group's outcome is decided (false: the task must not start).
    pub(super) fn acquire_blocking(&self) -> bool {
        loop {
            if self.is_decided() {
                return false;
            }
            if self.try_acquire() {
                if self.is_decided() {
                    self.release();
                    return false;
                }
                return true;
            }
            let mut key = None;
            self.wait_slot(&mut key, Wake::current_thread, None);
            let ctx_key = self.ctx.scope().and_then(|s| s.register(Wake::current_thread()));
            let _note = crate::leak::note("waiting for a free slot of its group");
            let mut got = false;
            crate::waiter::block_until(
                || {
                    got = got || self.try_acquire();
                    got || self.is_decided()
                },
                None,
            );
            self.unwait_slot(&mut key);
            if let (Some(k), Some(s)) = (ctx_key, self.ctx.scope()) {
                s.unregister(k);
            }
            if got {
                if self.is_decided() {
                    self.release();
                    return false;
                }
                return true;
            }
        }
    }

    /// Tasks spawned and not yet entirely over.
    pub(super) fn pending(&self) -> usize {
        self.pending.load(Acquire) / ONE_TASK
    }

    pub(super) fn begin(&self) {
        self.pending.fetch_add(ONE_TASK, Relaxed);
    }

    /// One task is entirely over.
    pub(super) fn end(&self) {
        let before = self.pending.fetch_sub(ONE_TASK, AcqRel);
        if before / ONE_TASK == 1 && before & WAITED != 0 {
            self.wake_idle();
        }
    }

    /// After the count reached 0 with the `WAITED` bit set: wakes the idle
    /// waiters (clearing the bit under the lock they register under).
    fn wake_idle(&self) {
        let woken = {
            let mut l = lock(&self.lists);
            self.pending.fetch_and(!WAITED, Relaxed);
            l.idle.take_all()
        };
        woken.wake();
    }

    /// Sets `WAITED` (under `lists`, after registering); true if the count
    /// was 0 already: the caller must not wait (and unregisters).
    fn announce_waiter(&self) -> bool {
        self.pending.fetch_or(WAITED, AcqRel) / ONE_TASK == 0
    }

    /// True once no task is left; otherwise registers `w` (async waiters
    /// refresh their waker through `key`).
    pub(super) fn poll_idle(&self, key: &mut Option<usize>, waker: &std::task::Waker) -> bool {
        if self.pending() == 0 {
            return true;
        }
        let mut l = lock(&self.lists);
        l.idle.register_task(key, waker);
        if self.announce_waiter() {
            if let Some(k) = key.take() {
                l.idle.remove(k);
            }
            return true;
        }
        false
    }

    pub(super) fn unregister_idle(&self, key: Option<usize>) {
        if let Some(k) = key {
            if self.pending() != 0 {
                lock(&self.lists).idle.remove(k);
            }
        }
    }

    pub(super) fn wait_idle_blocking(&self) {
        if self.pending() == 0 {
            return;
        }
        {
            let mut l = lock(&self.lists);
            let k = l.idle.register(Wake::current_thread());
            if self.announce_waiter() {
                l.idle.remove(k);
                return;
            }
        }
        let _note = crate::leak::note("waiting for its group's tasks");
        crate::waiter::block_until(|| self.pending() == 0, None);
    }

    /// Records a task's error: the first one is kept and becomes the
    /// context's cause.
    ///
    /// Recording it and cancelling with it happen under one lock (Go's
    /// `errOnce`): were they apart, a second error could cancel the context
    /// between the first one's record and its cancel, and `wait` would
    /// return one error while the context's cause held another.
    ///
    /// The failing task is of `kind`, spawned at `site`, named `name()`
    /// (only called for the first error's `tracing` event, emitted once
    /// the lock is released).
    pub(super) fn fail(
        &self,
        e: E,
        kind: &'static str,
        site: &'static Location<'static>,
        name: impl FnOnce() -> Option<String>,
    ) {
        let mut o = lock(&self.outcome);
        if o.err.is_some() {
            return; // a later error: dropped, as in Go
        }
        let (cause, shows_error) = match self.to_cause {
            Some(f) => (f(&e), true),
            None => (std::sync::Arc::new(TaskFailed) as Cause, false),
        };
        let event = crate::trace::FirstError::new::<E>(shows_error.then_some(&cause));
        o.err = Some(e);
        self.decided.store(true, SeqCst);
        // A cancel only flips state and wakes waiters (it never calls back
        // into this group), so holding the lock across it cannot deadlock.
        self.cancel.cancel_with_cause(cause);
        drop(o);
        event.emit(kind, site, name);
    }

    /// Records a task's panic: the first payload is kept for `wait` to
    /// resume; the context is cancelled with a [`TaskPanicked`] cause.
    pub(super) fn panicked(
        &self,
        payload: Payload,
        kind: &'static str,
        name: Option<String>,
        site: &'static Location<'static>,
    ) {
        let cause = TaskPanicked { kind, name, spawned_at: site, message: panic_message(&*payload) };
        let mut o = lock(&self.outcome);
        if o.panic.is_none() {
            o.panic = Some(payload);
        }
        self.decided.store(true, SeqCst);
        self.cancel.cancel_with_cause(std::sync::Arc::new(cause));
    }

    /// True once a task failed or panicked: `wait`'s outcome is fixed.
    pub(super) fn is_decided(&self) -> bool {
        self.decided.load(SeqCst)
    }

    pub(super) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The abort scope of an async group.
    pub(super) fn abort_scope(&self) -> &crate::sync_impl::Arc<crate::ctx::Scope> {
        let (ctx, _) = self.abort.as_ref().expect("abort scope of an async group");
        ctx.scope().expect("a cancellable context has a scope")
    }

    /// Aborts the async tasks (they drop at their next poll).
    pub(super) fn abort(&self) {
        if let Some((_, h)) = &self.abort {
            h.cancel();
        }
    }

    pub(super) fn has_panic(&self) -> bool {
        lock(&self.outcome).panic.is_some()
    }

    /// The final outcome: the first panic wins over any error (a panic is
    /// never hidden), then the first error.
    pub(super) fn take_outcome(&self) -> Result<Result<(), E>, Payload> {
        let mut o = lock(&self.outcome);
        if let Some(p) = o.panic.take() {
            return Err(p);
        }
        Ok(match o.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }
}

/// Ends one task when dropped: whatever way the task finishes (returns,
/// panics, is aborted or is dropped unstarted), `pending` goes down exactly
/// once, after the slot is released.
///
/// It keeps the core alive without a reference count of its own: while
/// any task is pending, the tasks together hold *one* strong count of the
/// core's `Arc` (taken by the spawn that makes `pending` 0 → 1, given back
/// by the end that makes it 1 → 0). So a spawn and an end touch one shared
/// counter (`pending`) instead of two (`pending` and the `Arc`'s), which
/// the spawner and the workers would pass between their caches.
pub(super) struct EndGuard<E> {
    core: std::ptr::NonNull<Core<E>>,
    pub(super) slot: bool,
}

// SAFETY: an EndGuard stands for a shared reference to the core (which is
// Sync for `E: Send`, as `Arc<Core<E>>` is Send); it is moved to the task.
unsafe impl<E: Send> Send for EndGuard<E> {}
// SAFETY: as above.
unsafe impl<E: Send> Sync for EndGuard<E> {}

impl<E> EndGuard<E> {
    /// Counts one more task of `core` (whose `Arc` the caller holds).
    pub(super) fn begin(core: &std::sync::Arc<Core<E>>, slot: bool) -> EndGuard<E> {
        if core.pending.fetch_add(ONE_TASK, Relaxed) / ONE_TASK == 0 {
            // SAFETY: `core` comes from an Arc the caller holds: the count
            // is live. The matching decrement is in `drop`.
            unsafe { std::sync::Arc::increment_strong_count(std::sync::Arc::as_ptr(core)) };
        }
        EndGuard { core: std::ptr::NonNull::from(&**core), slot }
    }

    /// The core (alive while this guard is: see the type's docs).
    pub(super) fn core(&self) -> &Core<E> {
        // SAFETY: `pending` counts this guard, so the tasks' strong count
        // is held until it drops.
        unsafe { self.core.as_ref() }
    }
}

impl<E> Drop for EndGuard<E> {
    fn drop(&mut self) {
        let core = self.core();
        if self.slot {
            core.release();
        }
        let before = core.pending.fetch_sub(ONE_TASK, AcqRel);
        if before / ONE_TASK == 1 {
            if before & WAITED != 0 {
                core.wake_idle();
            }
            // Last use of `core` above; this may free it.
            // SAFETY: the strong count taken by the spawn that made
            // `pending` 0 -> 1 (the decrement to 0 pairs with it).
            unsafe { std::sync::Arc::decrement_strong_count(self.core.as_ptr()) };
        }
    }
}

pub(super) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
