//! How tether waits: one mechanism for threads and tasks.
//!
//! - [`Wake`]: whom to wake — a parked OS thread or an async task.
//! - [`List`] (`list.rs`): the crate's intrusive waiter list. A parked
//!   operation's node is linked into the list of the primitive it waits on
//!   and unlinked in O(1); waiting allocates nothing.
//! - [`Token`] (`token.rs`): the claim token of one parked operation (or of
//!   one whole `select`): peers complete it exactly once with a CAS, and
//!   its owner spins, then parks (thread) or returns `Pending` (task).
//! - [`Backoff`]: the spin → yield schedule every busy-wait follows.
//! - [`WaitList`]: a keyed set of wake targets for state that is waited on
//!   by "everyone, then wake all" (group and context internals).
//!
//! Every primitive takes its waiters out under its own lock and wakes them
//! *after* releasing it.

use std::task::Waker;
use std::time::Instant;

use crate::slab::Slab;
use crate::sync_impl::thread::{self, Thread};

mod list;
#[cfg(all(test, loom))]
mod loom_tests;
mod token;

pub(crate) use list::{Linked, Links, List};
pub(crate) use token::{Outcome, Owner, Token, Waited};

/// Whom to wake when the awaited state changes.
pub(crate) enum Wake {
    /// An OS thread parked in a `*_blocking` call.
    Thread(Thread),
    /// An async task.
    Task(Waker),
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
        }
    }

    pub(crate) fn wake_by_ref(&self) {
        match self {
            Wake::Thread(t) => t.unpark(),
            Wake::Task(w) => w.wake_by_ref(),
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

/// The spin → yield schedule of a busy-wait: exponentially longer busy
/// loops for the first rounds (a peer on the other core usually answers
/// within a few hundred nanoseconds, far below a park/unpark round trip),
/// then yields (so a peer preempted on this core can run).
#[derive(Debug)]
pub(crate) struct Backoff {
    round: u32,
    /// False on a thread that may run on one CPU only: busy-waiting there
    /// only delays the peer, which runs once we yield. Looked up at the
    /// first wait, not at `new`: every ring push and pop makes a backoff,
    /// and almost none of them waits.
    spin: Option<bool>,
}

/// Whether busy-waiting can help the current thread: false if it may run
/// on one CPU only (pinned, or the whole process confined to one), where
/// the peer it waits for cannot run until it yields. Read once per thread,
/// from the thread's affinity mask (no allocation: waiting must not
/// allocate).
#[cfg(not(loom))]
pub(crate) fn spinning_helps() -> bool {
    use std::cell::Cell;
    thread_local! {
        static HELPS: Cell<Option<bool>> = const { Cell::new(None) };
    }
    HELPS.with(|h| match h.get() {
        Some(v) => v,
        None => {
            let v = cpus_of_this_thread() != Some(1);
            h.set(Some(v));
            v
        }
    })
}

/// The number of CPUs the current thread may run on.
#[cfg(all(not(loom), target_os = "linux"))]
fn cpus_of_this_thread() -> Option<usize> {
    // SAFETY: `sched_getaffinity` writes at most `size_of::<cpu_set_t>()`
    // bytes into the zeroed set we own; `CPU_COUNT` only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        usize::try_from(libc::CPU_COUNT(&set)).ok()
    }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
fn cpus_of_this_thread() -> Option<usize> {
    None
}

#[cfg(loom)]
pub(crate) fn spinning_helps() -> bool {
    false
}

impl Backoff {
    /// The last round that busy-waits (2^round pause instructions each):
    /// 63 pauses in all, about as long as a rendezvous hand-off with a
    /// peer on the other core takes. With 15 (3 rounds) the thread
    /// rendezvous rows cost 10–25% more: the waiter often yielded, a
    /// system call, just before its peer answered. Longer only hurts when
    /// the peer shares our core (common on a loaded machine): it cannot
    /// run until we yield, which is why a thread that may run on one CPU
    /// only never spins.
    const SPIN_ROUNDS: u32 = 5;
    /// The longest busy loop of [`spin_light`](Backoff::spin_light): 2^6.
    const LIGHT_ROUNDS: u32 = 6;
    /// Rounds after which a waiter should stop waiting actively and park.
    #[cfg(not(loom))]
    const ACTIVE_ROUNDS: u32 = 6;
    #[cfg(loom)]
    const ACTIVE_ROUNDS: u32 = 1;

    pub(crate) fn new() -> Backoff {
        Backoff { round: 0, spin: None }
    }

    /// Whether busy-waiting helps this thread (see the field).
    #[inline]
    pub(crate) fn spins(&mut self) -> bool {
        *self.spin.get_or_insert_with(spinning_helps)
    }

    /// Waits one round.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if self.round > Self::SPIN_ROUNDS || !self.spins() {
            crate::sync_impl::thread::yield_now();
        } else {
            for _ in 0..(1u32 << self.round) {
                std::hint::spin_loop();
            }
        }
        self.round = self.round.saturating_add(1);
    }

    /// Backs off after a lost compare-and-swap: a busy loop that doubles
    /// each round up to 64 pause instructions, and never yields (the
    /// winner has already moved on, so there is nothing to wait for but
    /// the contention to thin out). Without it, two cores that retry at
    /// once keep stealing the line from each other: two threads draining
    /// one ring measured 125–145 ns per value before, against about 40
    /// after (crossbeam-channel backs off the same way).
    #[inline]
    pub(crate) fn spin_light(&mut self) {
        if self.spins() {
            for _ in 0..(1u32 << self.round.min(Self::LIGHT_ROUNDS)) {
                std::hint::spin_loop();
            }
        }
        self.round = self.round.saturating_add(1);
    }

    /// True once waiting actively is no longer worth it.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        self.round >= Self::ACTIVE_ROUNDS
    }
}

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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_pinned_to_one_cpu_does_not_spin() {
        assert!(cpus_of_this_thread().is_none_or(|n| n >= 1));
        #[cfg(target_os = "linux")]
        std::thread::spawn(|| {
            // SAFETY: a zeroed set with CPU 0 only, passed with its size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
            }
            assert_eq!(cpus_of_this_thread(), Some(1));
            assert!(!spinning_helps(), "a pinned thread yields instead of spinning");
            assert!(!Backoff::new().spins());
        })
        .join()
        .unwrap();
    }
}
