//! The clock seam: every read of "now" and every timed wait in tether goes
//! through this module, so that one switch can put deadlines, tickers,
//! sleeps and limiters on virtual time in tests.
//!
//! Timers are served by one lazily started background thread
//! (`tether-timer`) that works with or without an async runtime: a context
//! deadline fires on a plain thread program just as under tokio. Timers are
//! kept in an ordered map keyed by `(deadline, id)`, so adding and
//! cancelling are O(log n) and a cancelled timer leaves nothing behind.
//!
//! Callbacks run on the timer thread and must be short: they flip state and
//! wake waiters; anything long (an `after_func`) is launched elsewhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::sync_impl::{AtomicBool, AtomicU64, Condvar, Mutex, lock, thread};

/// Identifies a scheduled timer so it can be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerId {
    at: Instant,
    seq: u64,
}

type Callback = Box<dyn FnOnce() + Send + 'static>;

struct Timers {
    queue: Mutex<BTreeMap<TimerId, Callback>>,
    changed: Condvar,
    started: AtomicBool,
    seq: AtomicU64,
}

fn timers() -> &'static Timers {
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
            queue: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
            started: AtomicBool::new(false),
            seq: AtomicU64::new(0),
        }
    }
}

/// The current instant on tether's clock (real time unless a virtual clock
/// drives this process).
#[inline]
pub(crate) fn now() -> Instant {
    virt::now().unwrap_or_else(Instant::now)
}

/// Runs `f` on the timer thread once the clock reaches `at`.
pub(crate) fn add_timer(at: Instant, f: impl FnOnce() + Send + 'static) -> TimerId {
    let t = timers();
    let id = TimerId { at, seq: t.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
    let mut q = lock(&t.queue);
    let earliest = q.keys().next().is_none_or(|first| id < *first);
    q.insert(id, Box::new(f));
    drop(q);
    ensure_thread(t);
    if earliest {
        t.changed.notify_one();
    }
    id
}

/// Cancels a timer; true if it had not fired yet (and now never will).
pub(crate) fn cancel_timer(id: TimerId) -> bool {
    lock(&timers().queue).remove(&id).is_some()
}

/// The number of timers scheduled (for tests and leak reports).
#[allow(dead_code)]
pub(crate) fn pending_timers() -> usize {
    lock(&timers().queue).len()
}

fn ensure_thread(t: &'static Timers) {
    #[cfg(not(loom))]
    if !t.started.load(std::sync::atomic::Ordering::Acquire)
        && !t.started.swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        thread::Builder::new()
            .name("tether-timer".into())
            .spawn(move || timer_loop(t))
            .expect("tether: could not start the timer thread");
    }
    #[cfg(loom)]
    let _ = t;
}

#[cfg(not(loom))]
fn timer_loop(t: &'static Timers) {
    let mut q = lock(&t.queue);
    loop {
        let Some(&first) = q.keys().next() else {
            q = t.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let now = now();
        if first.at > now {
            q = if virt::is_active() {
                // Virtual time moves only when the virtual clock advances,
                // which notifies `changed`.
                t.changed.wait(q).unwrap_or_else(|e| e.into_inner())
            } else {
                t.changed.wait_timeout(q, first.at - now).unwrap_or_else(|e| e.into_inner()).0
            };
            continue;
        }
        // Fire everything due, outside the lock, in deadline order.
        let later = q.split_off(&TimerId { at: now, seq: u64::MAX });
        let due = std::mem::replace(&mut *q, later);
        drop(q);
        for (_, f) in due {
            f();
        }
        q = lock(&t.queue);
    }
}

/// Tells the timer thread that "now" jumped (virtual clock advanced).
#[allow(dead_code)]
pub(crate) fn notify_time_changed() {
    let t = timers();
    let _q = lock(&t.queue);
    t.changed.notify_all();
}

/// Parks the current thread until unparked (may return spuriously).
#[inline]
pub(crate) fn park() {
    thread::park();
}

/// Parks the current thread until unparked or until the clock reaches `at`
/// (may return spuriously; callers re-check their condition).
pub(crate) fn park_until(at: Instant) {
    if virt::is_active() {
        let me = thread::current();
        let id = add_timer(at, move || me.unpark());
        thread::park();
        cancel_timer(id);
        return;
    }
    let now = Instant::now();
    if at > now {
        #[cfg(not(loom))]
        thread::park_timeout(at - now);
        #[cfg(loom)]
        thread::yield_now();
    }
}

/// `now() + d`, saturating far in the future instead of overflowing.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 100))
}

/// Virtual-time hooks. Real time until a virtual clock is installed.
pub(crate) mod virt {
    use std::time::Instant;

    #[inline]
    pub(crate) fn is_active() -> bool {
        false
    }

    #[inline]
    pub(crate) fn now() -> Option<Instant> {
        None
    }
}
