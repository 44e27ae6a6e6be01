//! Virtual time: the switch behind `tether::time::VirtualClock`.
//!
//! While a virtual clock is installed, [`now`](super::now) returns the
//! virtual instant `start + offset` (`offset` only moves when the clock is
//! advanced) and the timer thread fires timers when virtual time reaches
//! them instead of sleeping in real time. Both are kept in the clock's
//! nanosecond domain (since its base instant), so a read is two atomic
//! loads.
//!
//! Auto-advance needs to know when the program is *idle*. tether cannot see
//! every thread's state, so idle means: (1) no clock activity — no read of
//! `now`, no timer added, cancelled or fired, no advance — for a real-time
//! quiet period, (2) no wake-up in flight — every thread that a virtual
//! timer unparked (`park_until`) has run again, and every future that a
//! virtual timer woke (`time::sleep`, tickers, limiter waits) has been
//! polled, dropped or has stopped waiting; a task's wake-up is waited for
//! at most a grace period (a task may keep a fired future and never poll
//! it again), and (3) at least one timer is pending, later than the current
//! virtual instant. Then time jumps to the earliest timer.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::time::Instant;

// Plain std atomics even under loom: loom models never install a virtual
// clock, so these never race in a model.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The virtual start, in nanoseconds since the clock's base.
static START: AtomicU64 = AtomicU64::new(0);
/// Virtual nanoseconds elapsed since `START`.
static OFFSET: AtomicU64 = AtomicU64::new(0);
/// Bumped on every clock event; the auto-advance driver watches it.
static ACTIVITY: AtomicU64 = AtomicU64::new(0);
/// Wake-ups issued by virtual timers to parked threads that have not run
/// again yet (`park_until` settles its own, always).
static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
/// Wake-ups issued by virtual timers to async tasks whose future has not
/// been polled (or dropped) since. Kept apart from the threads' count: a
/// task can be woken and then never poll that future again (a fired
/// `Sleep` held but no longer awaited), so the driver gives these a bounded
/// grace instead of waiting for them forever.
static TASK_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

#[inline]
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Relaxed)
}

/// The current virtual instant in nanoseconds (only meaningful while
/// active); counts as clock activity.
#[inline]
pub(crate) fn now_nanos() -> u64 {
    ACTIVITY.fetch_add(1, Relaxed);
    peek_nanos()
}

/// The virtual instant in nanoseconds without counting as activity.
#[inline]
pub(crate) fn peek_nanos() -> u64 {
    START.load(Acquire) + OFFSET.load(Acquire)
}

/// The virtual instant without counting as activity.
pub(crate) fn peek() -> Instant {
    super::instant_at(peek_nanos())
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
    START.store(super::nanos_at(start), Release);
    OFFSET.store(0, Release);
    IN_FLIGHT.store(0, SeqCst);
    TASK_IN_FLIGHT.store(0, SeqCst);
    ACTIVE.store(true, SeqCst);
    super::notify_time_changed();
}

/// Back to real time.
pub(crate) fn deactivate() {
    ACTIVE.store(false, SeqCst);
    IN_FLIGHT.store(0, SeqCst);
    TASK_IN_FLIGHT.store(0, SeqCst);
    super::notify_time_changed();
}

/// Moves virtual time forward to `to` (never backwards) and lets the timer
/// thread fire what is due.
pub(crate) fn advance_to(to: Instant) {
    let target = super::nanos_at(to).saturating_sub(START.load(Acquire));
    OFFSET.fetch_max(target, SeqCst);
    ACTIVITY.fetch_add(1, Relaxed);
    super::notify_time_changed();
}
