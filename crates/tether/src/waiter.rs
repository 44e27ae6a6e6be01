//! The one waiting mechanism shared by every primitive: a [`Wake`] target
//! is either a parked OS thread or an async task (or a callback, which
//! `select` uses to claim its token before waking). A [`WaitList`] holds
//! the targets waiting on one piece of state; it lives under the owner's
//! lock, and is drained and woken *after* that lock is released.

use std::task::Waker;
use std::time::Instant;

use crate::slab::Slab;
use crate::sync_impl::Arc;
use crate::sync_impl::thread::{self, Thread};

/// Whom to wake when the awaited state changes.
pub(crate) enum Wake {
    /// An OS thread parked in a `*_blocking` call.
    Thread(Thread),
    /// An async task.
    Task(Waker),
    /// Anything else (select arms, after-func launchers).
    Call(Arc<dyn Fn() + Send + Sync>),
}

impl Wake {
    /// The current thread, to be unparked.
    pub(crate) fn current_thread() -> Wake {
        Wake::Thread(thread::current())
    }

    pub(crate) fn wake(self) {
        match self {
            Wake::Thread(t) => t.unpark(),
            Wake::Task(w) => w.wake(),
            Wake::Call(f) => f(),
        }
    }

    pub(crate) fn wake_by_ref(&self) {
        match self {
            Wake::Thread(t) => t.unpark(),
            Wake::Task(w) => w.wake_by_ref(),
            Wake::Call(f) => f(),
        }
    }

    /// Replaces a task's waker if the new one would wake a different task.
    pub(crate) fn update_task(&mut self, waker: &Waker) {
        match self {
            Wake::Task(w) if w.will_wake(waker) => {}
            _ => *self = Wake::Task(waker.clone()),
        }
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wake::Thread(t) => write!(f, "Wake::Thread({:?})", t.id()),
            Wake::Task(_) => f.write_str("Wake::Task"),
            Wake::Call(_) => f.write_str("Wake::Call"),
        }
    }
}

/// Waiters of one piece of state, each under a key so that a waiter that
/// gives up (a dropped future, a timed-out thread) removes itself in O(1).
#[derive(Default)]
pub(crate) struct WaitList {
    waiters: Slab<Wake>,
}

impl WaitList {
    pub(crate) fn register(&mut self, w: Wake) -> usize {
        self.waiters.insert(w)
    }

    /// Registers `waker` under `key`, or refreshes it if already there.
    pub(crate) fn register_task(&mut self, key: &mut Option<usize>, waker: &Waker) {
        match key.and_then(|k| self.waiters.get_mut(k)) {
            Some(w) => w.update_task(waker),
            None => *key = Some(self.waiters.insert(Wake::Task(waker.clone()))),
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<Wake> {
        self.waiters.remove(key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Takes every waiter; wake them once the owner's lock is released.
    pub(crate) fn take_all(&mut self) -> Woken {
        Woken(self.waiters.drain().collect())
    }
}

/// Waiters taken out of a list, to be woken after the lock is dropped.
#[must_use = "wake the waiters once the lock is released"]
pub(crate) struct Woken(Vec<Wake>);

impl Woken {
    pub(crate) fn wake(self) {
        for w in self.0 {
            w.wake();
        }
    }
}

/// Parks the current thread until `ready()` holds or `deadline` passes.
/// Spins briefly first: a hand-off from a peer on the other core arrives in
/// ~100 ns, while a park/unpark round trip costs microseconds. The caller
/// must have registered a [`Wake::Thread`] for this thread before calling,
/// so that the state change unparks it. Returns `ready()`.
pub(crate) fn block_until(mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
    for i in 0..SPIN_ROUNDS {
        if ready() {
            return true;
        }
        spin(i);
    }
    loop {
        if ready() {
            return true;
        }
        match deadline {
            None => crate::clock::park(),
            Some(at) => {
                if crate::clock::now() >= at {
                    return ready();
                }
                crate::clock::park_until(at);
            }
        }
    }
}

/// Spin rounds before parking (each round backs off exponentially, then
/// yields the core). None under loom: spinning only hides interleavings
/// behind the model's preemption bound.
#[cfg(not(loom))]
pub(crate) const SPIN_ROUNDS: u32 = 10;
#[cfg(loom)]
pub(crate) const SPIN_ROUNDS: u32 = 0;

/// One step of spin back-off: busy-wait for short rounds, yield for long.
#[inline]
pub(crate) fn spin(round: u32) {
    // Under loom a busy-wait must yield, or the model cannot schedule the
    // thread being waited for.
    #[cfg(loom)]
    if cfg!(loom) {
        crate::sync_impl::thread::yield_now();
        return;
    }
    if round < 6 {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
    } else {
        crate::sync_impl::thread::yield_now();
    }
}
