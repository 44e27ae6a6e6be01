//! The cancellation tree. A `Scope` is one cancellable node (Go's
//! `cancelCtx`/`timerCtx`); value and `without_cancel` contexts share their
//! nearest scope instead of making one.
//!
//! Invariants:
//! - `state` and `cause` change together, once, under `inner`'s lock; so
//!   `err()` (one atomic load) and `cause()` agree. A cause of `None` means
//!   the error itself (`Canceled` or `DeadlineExceeded`), so a plain cancel
//!   touches no shared `Arc`.
//! - A scope is registered in its parent's `children` from creation until
//!   it is cancelled (by itself: it detaches; by the parent: the parent
//!   drains its children). Dropping a `CancelHandle` cancels, so no
//!   registration outlives its context, and the strong parent↔child cycle
//!   is always broken.
//! - Waiters and after-funcs are woken after the lock is released, and a
//!   parent's cancel walks its subtree with an explicit stack (a chain of
//!   100,000 descendants must not overflow the thread's stack).

use std::time::Instant;

use super::Values;
use super::after_func::AfterFuncState;
use super::error::{Cause, Error};
use crate::clock::{self, TimerId};
use crate::slab::Slab;
use crate::spin::SpinLock;
use crate::sync_impl::{Arc, AtomicU8, AtomicUsize};
use crate::waiter::Wake;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

pub(super) const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE: u8 = 2;
const NO_KEY: usize = usize::MAX;

pub(crate) struct Scope {
    state: AtomicU8,
    /// The effective deadline (own or inherited); never later than the parent's.
    pub(super) deadline: Option<Instant>,
    /// Recorded as the cause when *this scope's own* deadline fires.
    deadline_cause: Option<Cause>,
    parent: Option<Arc<Scope>>,
    /// The values a context of this scope sees (a cancellable context *is*
    /// its scope: see `Repr`).
    pub(super) values: Values,
    /// Our key in `parent.inner.registrations`; read and written under the
    /// parent's lock.
    key_in_parent: AtomicUsize,
    /// A short-section lock (a handful of moves per hold; never held
    /// across a wake-up or user code).
    inner: SpinLock<Inner>,
}

impl Drop for Scope {
    /// Drops the ancestor chain iteratively: a chain of 100,000 nested
    /// contexts must not overflow the stack when its last handle goes.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(parent) = next {
            next = match Arc::try_unwrap(parent) {
                Ok(mut scope) => scope.parent.take(),
                Err(_) => None,
            };
        }
    }
}

enum Registration {
    Child(Arc<Scope>),
    Waiter(Wake),
    AfterFunc(Arc<AfterFuncState>),
}

#[derive(Default)]
struct Inner {
    /// The recorded cause; `None` while live, and once done when the cause
    /// is the error itself.
    cause: Option<Cause>,
    /// Children, waiters and after-funcs in one slab: a scope stays small
    /// (a cancel walks 100,000 of them, so cache lines matter) and a
    /// cancel drains them all in one pass.
    registrations: Slab<Registration>,
    timer: Option<TimerId>,
}

impl Scope {
    /// A new scope below `parent` (None: below a never-done context).
    /// If the parent is already done, the child is born done with the
    /// parent's error and cause.
    pub(super) fn new_child(
        parent: Option<&Arc<Scope>>,
        deadline: Option<Instant>,
        deadline_cause: Option<Cause>,
        values: Values,
    ) -> Arc<Scope> {
        let child = Arc::new(Scope {
            state: AtomicU8::new(LIVE),
            deadline,
            deadline_cause,
            parent: parent.cloned(),
            values,
            key_in_parent: AtomicUsize::new(NO_KEY),
            inner: SpinLock::new(Inner::default()),
        });
        if let Some(parent) = parent {
            let mut p = parent.inner.lock();
            match parent.state.load(Relaxed) {
                LIVE => {
                    let key = p.registrations.insert(Registration::Child(child.clone()));
                    child.key_in_parent.store(key, Relaxed);
                }
                state => {
                    // Born done: copy the parent's outcome. No one else can
                    // see the child yet, so this cannot race.
                    let cause = p.cause.clone();
                    drop(p);
                    let mut c = child.inner.lock();
                    c.cause = cause;
                    child.state.store(state, Release);
                }
            }
        }
        child
    }

    /// Arms this scope's own deadline timer (or fires it at once).
    pub(super) fn arm_deadline(this: &Arc<Self>, at: Instant) {
        if clock::reached(at) {
            Scope::fire_deadline(this);
            return;
        }
        let me = this.clone();
        let id = clock::add_timer(at, move || Scope::fire_deadline(&me));
        let mut g = this.inner.lock();
        if this.state.load(Relaxed) == LIVE {
            g.timer = Some(id);
        } else {
            drop(g);
            // Already done (parent cancelled meanwhile, or the timer raced
            // us): don't keep the scope alive until the deadline.
            clock::cancel_timer(id);
        }
    }

    /// The deadline timer fired (on the timer thread).
    fn fire_deadline(this: &Arc<Self>) {
        // The timer is spent: forget it, so that the cancel does not look
        // it up again (a lock of the timers' shard, on every firing).
        this.inner.lock().timer = None;
        Scope::cancel(this, Error::DeadlineExceeded, this.deadline_cause.clone(), true);
    }

    #[inline]
    pub(crate) fn err(&self) -> Option<Error> {
        match self.state.load(Acquire) {
            LIVE => None,
            CANCELED => Some(Error::Canceled),
            _ => Some(Error::DeadlineExceeded),
        }
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Acquire) != LIVE
    }

    pub(super) fn cause(&self) -> Option<Cause> {
        let err = self.err()?;
        Some(self.inner.lock().cause.clone().unwrap_or_else(|| err.as_cause()))
    }

    /// Cancels this scope and its whole subtree, first cancel wins, with
    /// `cause` (`None`: the error itself). `detach` removes this scope from
    /// its parent (not needed when the parent is the one cancelling: it
    /// has drained its children).
    pub(crate) fn cancel(this: &Arc<Self>, err: Error, cause: Option<Cause>, detach: bool) {
        let mut stack = Vec::new();
        if !this.cancel_one(err, &cause, &mut stack, true) {
            return;
        }
        if detach {
            Scope::detach(this);
        }
        while let Some(child) = stack.pop() {
            child.cancel_one(err, &cause, &mut stack, false);
        }
    }

    /// Marks this one scope done, wakes its waiters, launches its
    /// after-funcs and pushes its children onto `stack` (to be cancelled
    /// next). False if it was already done. `root`: the scope the cancel
    /// is for (not a descendant it takes along), whose `tracing` event is
    /// emitted once the lock is released and before anyone is woken.
    fn cancel_one(&self, err: Error, cause: &Option<Cause>, stack: &mut Vec<Arc<Scope>>, root: bool) -> bool {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return false;
        }
        g.cause = cause.clone();
        self.state.store(if err == Error::Canceled { CANCELED } else { DEADLINE }, Release);
        let registrations = g.registrations.drain(); // no allocation: takes the storage
        let timer = g.timer.take();
        drop(g);
        if root {
            crate::trace::ctx_done(err, cause);
        }
        if let Some(id) = timer {
            clock::cancel_timer(id);
        }
        for r in registrations {
            match r {
                Registration::Child(c) => stack.push(c),
                Registration::Waiter(w) => w.wake(),
                Registration::AfterFunc(f) => f.launch(),
            }
        }
        true
    }

    fn detach(this: &Arc<Self>) {
        if let Some(parent) = &this.parent {
            let mut p = parent.inner.lock();
            // Under the parent's lock, like every access to the key.
            let key = this.key_in_parent.load(Relaxed);
            this.key_in_parent.store(NO_KEY, Relaxed);
            if key != NO_KEY {
                p.registrations.remove_if(key, |r| matches!(r, Registration::Child(c) if Arc::ptr_eq(c, this)));
            }
        }
    }

    /// Registers a waiter unless already done (then returns None).
    pub(crate) fn register(&self, w: Wake) -> Option<usize> {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return None;
        }
        Some(g.registrations.insert(Registration::Waiter(w)))
    }

    /// Registers or refreshes a task waiter; false if already done.
    pub(crate) fn register_task(&self, key: &mut Option<usize>, waker: &std::task::Waker) -> bool {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            return false;
        }
        match key.and_then(|k| g.registrations.get_mut(k)) {
            Some(Registration::Waiter(w)) => w.update_task(waker),
            _ => *key = Some(g.registrations.insert(Registration::Waiter(Wake::Task(waker.clone())))),
        }
        true
    }

    /// Removes a waiter that gave up. After cancellation the list was
    /// drained and never refilled, so a stale key is simply ignored.
    pub(crate) fn unregister(&self, key: usize) {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) == LIVE {
            g.registrations.remove_if(key, |r| matches!(r, Registration::Waiter(_)));
        }
    }

    /// Registers an after-func; if already done, launches it at once.
    pub(super) fn add_after_func(&self, f: &Arc<AfterFuncState>) -> Option<usize> {
        let mut g = self.inner.lock();
        if self.state.load(Relaxed) != LIVE {
            drop(g);
            f.launch();
            return None;
        }
        Some(g.registrations.insert(Registration::AfterFunc(f.clone())))
    }

    pub(super) fn remove_after_func(&self, key: usize, f: &Arc<AfterFuncState>) {
        let mut g = self.inner.lock();
        g.registrations.remove_if(key, |r| matches!(r, Registration::AfterFunc(x) if Arc::ptr_eq(x, f)));
    }

    /// Live registrations (children, waiters, after-funcs): for tests.
    pub(super) fn registrations(&self) -> usize {
        let g = self.inner.lock();
        g.registrations.len()
    }
}
