//! The timers behind [`add_timer`](super::add_timer): a few shards, each a
//! [`Wheel`] under its own lock, served by one background thread
//! (`tether-timer`) that works with or without an async runtime.
//!
//! A thread adds its timers to its own shard, so threads creating
//! deadlines at once do not queue on one lock, and the timer thread holds
//! a shard's lock only to move a batch of due timers out; callbacks run
//! outside every lock. Adding a timer wakes the thread only when the new
//! deadline is earlier than its planned wake-up, so the common
//! `with_timeout` + cancel pattern costs no futex wake.
//!
//! The thread fires a timer once both std's clock and tether's fast clock
//! have reached its deadline (the fast clock tracks std's within
//! nanoseconds; requiring both means a deadline computed from a
//! user's `Instant::now()` never fires early by either).

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

#[cfg(not(loom))]
use super::wheel::Due;
use super::wheel::{Callback, Wheel};
use super::{nanos_at, virt};
#[cfg(not(loom))]
use crate::sync_impl::thread;
use crate::sync_impl::{AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, lock};

/// Shards: a power of two, a few per core.
const SHARDS: usize = 8;
/// Timers moved out of a shard per lock hold.
#[cfg(not(loom))]
const BATCH: usize = 1024;
/// `wake_at` while the thread is awake (it looks at every shard again
/// before sleeping, so adders need not wake it).
#[cfg(not(loom))]
const AWAKE: u64 = 0;

/// Identifies a scheduled timer so it can be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerId {
    shard: u32,
    key: u32,
    generation: u32,
}

#[repr(align(128))]
struct Shard(Mutex<Wheel>);

pub(super) struct Timers {
    shards: [Shard; SHARDS],
    /// The thread's sleep: the lock and condition it waits on.
    sleep: Mutex<()>,
    changed: Condvar,
    /// The instant (ns) the thread will wake at by itself, `u64::MAX` if
    /// never, [`AWAKE`] while it runs.
    wake_at: AtomicU64,
    #[cfg_attr(loom, allow(dead_code))] // no timer thread under loom
    started: AtomicBool,
    next_shard: AtomicUsize,
}

pub(super) fn timers() -> &'static Timers {
    #[cfg(not(loom))]
    {
        static TIMERS: std::sync::OnceLock<Timers> = std::sync::OnceLock::new();
        TIMERS.get_or_init(Timers::new)
    }
    #[cfg(loom)]
    {
        // Loom models never run real timers; each model gets fresh state.
        loom::lazy_static! { static ref TIMERS: Timers = Timers::new(); }
        &TIMERS
    }
}

impl Timers {
    fn new() -> Timers {
        Timers {
            shards: std::array::from_fn(|_| Shard(Mutex::new(Wheel::default()))),
            sleep: Mutex::new(()),
            changed: Condvar::new(),
            wake_at: AtomicU64::new(u64::MAX),
            started: AtomicBool::new(false),
            next_shard: AtomicUsize::new(0),
        }
    }

    /// This thread's shard (assigned round-robin on first use).
    fn my_shard(&self) -> usize {
        thread_local! {
            static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
        }
        SHARD
            .try_with(|s| {
                if s.get() == usize::MAX {
                    s.set(self.next_shard.fetch_add(1, Relaxed) % SHARDS);
                }
                s.get()
            })
            .unwrap_or(0)
    }

    pub(super) fn add(&'static self, at: Instant, f: Callback) -> TimerId {
        let ns = nanos_at(at);
        let shard = self.my_shard();
        let (key, generation) = lock(&self.shards[shard].0).insert(ns, f);
        virt::touch();
        self.ensure_thread();
        if ns < self.wake_at.load(SeqCst) {
            // Earlier than the thread's plan: tell it (under its lock, so
            // that the notice cannot fall between its last look and its
            // sleep).
            let _g = lock(&self.sleep);
            self.changed.notify_one();
        }
        TimerId { shard: shard as u32, key, generation }
    }

    pub(super) fn cancel(&self, id: TimerId) -> bool {
        let f = lock(&self.shards[id.shard as usize].0).cancel(id.key, id.generation);
        virt::touch();
        // The callback (and whatever it holds) is dropped outside the lock.
        f.is_some()
    }

    /// The earliest deadline (ns), exactly.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.shards.iter().filter_map(|s| lock(&s.0).next_deadline()).min()
    }

    #[cfg(not(loom))]
    fn next_wake(&self) -> Option<u64> {
        self.shards.iter().filter_map(|s| lock(&s.0).next_wake()).min()
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).len()).sum()
    }

    /// Wakes the thread to look again (virtual time moved).
    pub(super) fn notify(&self) {
        let _g = lock(&self.sleep);
        self.changed.notify_all();
    }

    fn ensure_thread(&'static self) {
        #[cfg(not(loom))]
        if !self.started.load(std::sync::atomic::Ordering::Acquire)
            && !self.started.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            thread::Builder::new()
                .name("tether-timer".into())
                .spawn(move || self.run())
                .expect("tether: could not start the timer thread");
        }
    }

    /// What "now" is for firing: virtual time, or the earlier of std's
    /// clock and the fast one.
    #[cfg_attr(loom, allow(dead_code))]
    fn due_now(&self) -> u64 {
        if virt::is_active() { virt::peek_nanos() } else { nanos_at(Instant::now()).min(super::tsc::nanos()) }
    }

    #[cfg(not(loom))]
    fn run(&self) {
        let mut due: Vec<Due> = Vec::with_capacity(BATCH);
        loop {
            self.wake_at.store(AWAKE, SeqCst);
            // Fire everything due, a batch per shard at a time, outside
            // the locks, in deadline order within a batch.
            loop {
                let now = self.due_now();
                let mut more = false;
                for s in &self.shards {
                    more |= lock(&s.0).poll(now, BATCH, &mut due);
                }
                if due.is_empty() && !more {
                    break;
                }
                due.sort_unstable_by_key(|d| (d.at, d.seq));
                for d in due.drain(..) {
                    (d.f)();
                }
                virt::touch();
            }
            let g = lock(&self.sleep);
            let virtual_time = virt::is_active();
            // Virtual time moves only when the virtual clock advances
            // (which notifies); until then only timers already due need
            // the thread.
            let next = if virtual_time { Some(virt::peek_nanos()) } else { self.next_wake() };
            self.wake_at.store(next.map_or(u64::MAX, |n| n.saturating_add(virtual_time as u64)), SeqCst);
            // An adder that saw AWAKE did not notify: look once more.
            let again = self.next_wake();
            let now = self.due_now();
            if again.is_some_and(|a| a <= now || next.is_none_or(|n| a < n && !virtual_time)) {
                continue;
            }
            drop(match next {
                Some(n) if !virtual_time => {
                    let wait = std::time::Duration::from_nanos(n.saturating_sub(now).max(1));
                    self.changed.wait_timeout(g, wait).unwrap_or_else(|e| e.into_inner()).0
                }
                _ => self.changed.wait(g).unwrap_or_else(|e| e.into_inner()),
            });
        }
    }
}
