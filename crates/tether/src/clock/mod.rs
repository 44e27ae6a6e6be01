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
    queue: Mutex<Queue>,
    changed: Condvar,
    #[cfg_attr(loom, allow(dead_code))] // no timer thread under loom
    started: AtomicBool,
    seq: AtomicU64,
}

/// The scheduled timers, plus what the timer thread is doing, so that
/// adding a timer wakes the thread only when it must: a new timer later
/// than the thread's own wake-up (the common `with_timeout` + cancel
/// pattern) costs no futex wake at all.
#[derive(Default)]
struct Queue {
    map: BTreeMap<TimerId, Callback>,
    thread: ThreadState,
}

#[derive(Default, Clone, Copy, PartialEq)]
#[cfg_attr(loom, allow(dead_code))] // set only by the timer thread
enum ThreadState {
    /// Running: it will look at the queue again before it sleeps.
    #[default]
    Running,
    /// Sleeping until notified (empty queue, or virtual time).
    Idle,
    /// Sleeping until this instant, or until notified.
    Until(Instant),
}

impl std::ops::Deref for Queue {
    type Target = BTreeMap<TimerId, Callback>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::ops::DerefMut for Queue {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
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
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            started: AtomicBool::new(false),
            seq: AtomicU64::new(0),
        }
    }
}

/// The current instant on tether's clock (real time unless a virtual clock
/// drives this process).
///
/// Real time costs one relaxed atomic load plus `Instant::now()`; under a
/// virtual clock the read also counts as clock activity (see [`virt`]).
#[inline]
pub(crate) fn now() -> Instant {
    if virt::is_active() { virt::now() } else { Instant::now() }
}

/// Runs `f` on the timer thread once the clock reaches `at`.
pub(crate) fn add_timer(at: Instant, f: impl FnOnce() + Send + 'static) -> TimerId {
    let t = timers();
    let id = TimerId { at, seq: t.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) };
    let mut q = lock(&t.queue);
    q.insert(id, Box::new(f));
    let wake = match q.thread {
        ThreadState::Running => false,
        ThreadState::Idle => true,
        ThreadState::Until(wakes_at) => at < wakes_at,
    };
    drop(q);
    virt::touch();
    ensure_thread(t);
    if wake {
        t.changed.notify_one();
    }
    id
}

/// Cancels a timer; true if it had not fired yet (and now never will).
pub(crate) fn cancel_timer(id: TimerId) -> bool {
    let removed = lock(&timers().queue).remove(&id).is_some();
    virt::touch();
    removed
}

/// The deadline of the earliest scheduled timer (for the virtual clock).
pub(crate) fn next_timer() -> Option<Instant> {
    lock(&timers().queue).keys().next().map(|id| id.at)
}

/// The number of timers scheduled (for tests and leak reports).
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
            q.thread = ThreadState::Idle;
            q = t.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            q.thread = ThreadState::Running;
            continue;
        };
        let now = now();
        if first.at > now {
            q = if virt::is_active() {
                // Virtual time moves only when the virtual clock advances,
                // which notifies `changed`.
                q.thread = ThreadState::Idle;
                t.changed.wait(q).unwrap_or_else(|e| e.into_inner())
            } else {
                q.thread = ThreadState::Until(first.at);
                t.changed.wait_timeout(q, first.at - now).unwrap_or_else(|e| e.into_inner()).0
            };
            q.thread = ThreadState::Running;
            continue;
        }
        // Fire everything due, outside the lock, in deadline order.
        let later = q.map.split_off(&TimerId { at: now, seq: u64::MAX });
        let due = std::mem::replace(&mut q.map, later);
        drop(q);
        for (_, f) in due {
            f();
        }
        virt::touch();
        q = lock(&t.queue);
    }
}

/// Tells the timer thread that "now" jumped (virtual clock advanced).
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
        // The timer's wake-up counts as "in flight" until this thread runs
        // again, so that auto-advance does not move time past a thread
        // that was woken but has not been scheduled yet.
        let me = thread::current();
        let id = add_timer(at, move || {
            virt::wake_started();
            me.unpark();
        });
        thread::park();
        if !cancel_timer(id) {
            // The timer fired (or is firing): its wake-up is ours.
            virt::wake_finished();
        }
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

/// Virtual time: the switch behind `tether::time::VirtualClock`.
///
/// While a virtual clock is installed, [`now`] returns
/// `base + offset` (`offset` only moves when the clock is advanced) and the
/// timer thread fires timers when virtual time reaches them instead of
/// sleeping in real time.
///
/// Auto-advance needs to know when the program is *idle*. tether cannot see
/// every thread's state, so idle means: (1) no clock activity — no read of
/// [`now`], no timer added, cancelled or fired, no advance — for a real-time
/// quiet period, (2) no wake-up in flight — every thread that a virtual
/// timer unparked (`park_until`) has run again, and every future that a
/// virtual timer woke (`time::sleep`, tickers, limiter waits) has been
/// polled, dropped or has stopped waiting; a task's wake-up is waited for
/// at most a grace period (a task may keep a fired future and never poll
/// it again), and (3) at least one timer is pending, later than the current
/// virtual instant. Then time jumps to the earliest timer.
pub(crate) mod virt {
    use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
    use std::time::{Duration, Instant};

    // Plain std atomics even under loom: loom models never install a
    // virtual clock, so these never race in a model.
    static ACTIVE: AtomicBool = AtomicBool::new(false);
    /// Virtual nanoseconds elapsed since `BASE`.
    static OFFSET: AtomicU64 = AtomicU64::new(0);
    /// Bumped on every clock event; the auto-advance driver watches it.
    static ACTIVITY: AtomicU64 = AtomicU64::new(0);
    /// Wake-ups issued by virtual timers to parked threads that have not
    /// run again yet (`park_until` settles its own, always).
    static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
    /// Wake-ups issued by virtual timers to async tasks whose future has
    /// not been polled (or dropped) since. Kept apart from the threads'
    /// count: a task can be woken and then never poll that future again
    /// (a fired `Sleep` held but no longer awaited), so the driver gives
    /// these a bounded grace instead of waiting for them forever.
    static TASK_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
    /// The real instant virtual time started from (behind a lock: an
    /// `Instant` is not atomic; each thread caches it per `GENERATION`).
    static BASE: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    /// Bumped on each install so that cached bases are refreshed.
    static GENERATION: AtomicU64 = AtomicU64::new(0);

    #[inline]
    pub(crate) fn is_active() -> bool {
        ACTIVE.load(Relaxed)
    }

    /// The current virtual instant (only meaningful while active).
    pub(crate) fn now() -> Instant {
        ACTIVITY.fetch_add(1, Relaxed);
        base() + Duration::from_nanos(OFFSET.load(Acquire))
    }

    /// The virtual instant without counting as activity.
    pub(crate) fn peek() -> Instant {
        base() + Duration::from_nanos(OFFSET.load(Acquire))
    }

    fn base() -> Instant {
        thread_local! {
            static CACHED: std::cell::Cell<Option<(u64, Instant)>> = const { std::cell::Cell::new(None) };
        }
        let generation = GENERATION.load(Acquire);
        CACHED.with(|c| match c.get() {
            Some((g, b)) if g == generation => b,
            _ => {
                let b = lock_base().unwrap_or_else(Instant::now);
                c.set(Some((generation, b)));
                b
            }
        })
    }

    /// Counts a clock event (only while virtual time is active).
    #[inline]
    pub(crate) fn touch() {
        if is_active() {
            ACTIVITY.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn activity() -> u64 {
        ACTIVITY.load(SeqCst)
    }

    /// Wake-ups in flight to parked threads.
    pub(crate) fn in_flight() -> i64 {
        IN_FLIGHT.load(SeqCst)
    }

    /// Wake-ups in flight to async tasks.
    pub(crate) fn task_in_flight() -> i64 {
        TASK_IN_FLIGHT.load(SeqCst)
    }

    /// A virtual timer is about to unpark a thread.
    pub(crate) fn wake_started() {
        if is_active() {
            IN_FLIGHT.fetch_add(1, SeqCst);
        }
    }

    /// The unparked thread runs again.
    pub(crate) fn wake_finished() {
        if is_active() {
            IN_FLIGHT.fetch_sub(1, SeqCst);
        }
    }

    /// A virtual timer is about to wake an async task's future.
    pub(crate) fn task_wake_started() {
        if is_active() {
            TASK_IN_FLIGHT.fetch_add(1, SeqCst);
        }
    }

    /// The woken future was polled, or dropped, or stopped waiting.
    pub(crate) fn task_wake_finished() {
        if is_active() {
            TASK_IN_FLIGHT.fetch_sub(1, SeqCst);
        }
    }

    /// Switches to virtual time starting at `start`.
    pub(crate) fn activate(start: Instant) {
        *lock_base() = Some(start);
        OFFSET.store(0, Release);
        IN_FLIGHT.store(0, SeqCst);
        TASK_IN_FLIGHT.store(0, SeqCst);
        GENERATION.fetch_add(1, SeqCst);
        ACTIVE.store(true, SeqCst);
        super::notify_time_changed();
    }

    /// Back to real time.
    pub(crate) fn deactivate() {
        ACTIVE.store(false, SeqCst);
        *lock_base() = None;
        IN_FLIGHT.store(0, SeqCst);
        TASK_IN_FLIGHT.store(0, SeqCst);
        super::notify_time_changed();
    }

    fn lock_base() -> std::sync::MutexGuard<'static, Option<Instant>> {
        BASE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves virtual time forward to `to` (never backwards) and lets the
    /// timer thread fire what is due.
    pub(crate) fn advance_to(to: Instant) {
        let base = base();
        let target = to.saturating_duration_since(base).as_nanos().min(u64::MAX as u128) as u64;
        OFFSET.fetch_max(target, SeqCst);
        ACTIVITY.fetch_add(1, Relaxed);
        super::notify_time_changed();
    }
}
