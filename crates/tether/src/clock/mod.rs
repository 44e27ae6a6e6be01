//! The clock seam: every read of "now" and every timed wait in tether goes
//! through this module, so that one switch can put deadlines, tickers,
//! sleeps and limiters on virtual time in tests.
//!
//! - **Reading the time** ([`now`], [`now_nanos`]): real time comes from a
//!   fast monotonic source ([`tsc`]: the CPU's time-stamp counter, scaled
//!   and kept in step with std's `Instant`, or std's clock itself where the
//!   counter is not trustworthy); virtual time from [`virt`]. Instants are
//!   ordinary `std::time::Instant`s, interchangeable with the caller's.
//! - **Timers** ([`add_timer`], [`cancel_timer`]): sharded timing wheels
//!   served by one background thread ([`timers`]); O(1) to add and cancel.
//! - **Timed parking** ([`park_until`]).
//!
//! Internally, times are nanoseconds since one base instant
//! ([`nanos_at`], [`instant_at`]): u64 arithmetic instead of `Instant`'s.

mod timers;
mod tsc;
pub(crate) mod virt;
mod wheel;

#[cfg(all(test, loom))]
mod loom_tests;

use std::time::{Duration, Instant};

pub(crate) use timers::TimerId;

use crate::sync_impl::thread;

/// The instant that [`now_nanos`] counts from (fixed at the first use of
/// the clock).
#[inline]
pub(crate) fn base() -> Instant {
    tsc::base()
}

/// `at` as nanoseconds since [`base`] (0 for instants before it).
#[inline]
pub(crate) fn nanos_at(at: Instant) -> u64 {
    let d = at.saturating_duration_since(base());
    d.as_secs().saturating_mul(1_000_000_000).saturating_add(d.subsec_nanos() as u64)
}

/// The instant `ns` nanoseconds after [`base`].
#[inline]
pub(crate) fn instant_at(ns: u64) -> Instant {
    base() + Duration::from_nanos(ns)
}

/// The current instant on tether's clock (real time unless a virtual clock
/// drives this process).
///
/// Real time costs one relaxed load (the virtual switch), a few loads of a
/// read-mostly cache line and one ordered counter read: about half of
/// `Instant::now()`. Under a virtual clock the read also counts as clock
/// activity (see [`virt`]).
#[inline]
pub(crate) fn now() -> Instant {
    instant_at(now_nanos())
}

/// [`now`] as nanoseconds since [`base`].
#[inline(always)]
pub(crate) fn now_nanos() -> u64 {
    if virt::is_active() { virt_now_nanos() } else { tsc::nanos() }
}

/// [`now_nanos`] whose counter read is not ordered after this thread's
/// earlier loads: it may read a few nanoseconds earlier than a value
/// another thread has just published. For the rate limiter, which treats a
/// reading below its last update as that update anyway.
#[inline(always)]
pub(crate) fn now_nanos_relaxed() -> u64 {
    if virt::is_active() { virt_now_nanos() } else { tsc::nanos_relaxed() }
}

#[cold]
#[inline(never)]
fn virt_now_nanos() -> u64 {
    virt::now_nanos()
}

/// Real time, whatever the virtual clock says.
pub(crate) fn real_now() -> Instant {
    instant_at(tsc::nanos())
}

/// Real time as nanoseconds since [`base`], unordered (for diagnostics
/// such as task ages), whatever the virtual clock says.
#[inline]
pub(crate) fn real_nanos_relaxed() -> u64 {
    tsc::nanos_relaxed()
}

/// What drives real time: `"tsc"` or `"std"`.
pub(crate) fn source_name() -> &'static str {
    tsc::source_name()
}

/// How near a deadline the fast clock defers to std's: far more than the
/// fast clock ever strays from it (tens of ns measured; see `tsc`), so a
/// decision made on the fast clock alone outside this band is the one
/// std's clock would make.
const DEFER_NS: u64 = 100_000;

/// True once `at` has been reached — as std's `Instant::now()` judges it,
/// so that a deadline a caller computed from `Instant::now()` is never
/// reported reached early, nor late: far from `at`, one fast clock read
/// decides; within 100 µs of it, std's clock does. Under a virtual clock,
/// virtual time decides.
#[inline]
pub(crate) fn reached(at: Instant) -> bool {
    reached_nanos(now_nanos(), nanos_at(at))
}

/// [`reached`] given a reading `now` of [`now`] just taken.
#[inline]
pub(crate) fn reached_given(now: Instant, at: Instant) -> bool {
    const DEFER: Duration = Duration::from_nanos(DEFER_NS);
    let decided = virt::is_active() || if now >= at { now - at >= DEFER } else { at - now > DEFER };
    if decided { now >= at } else { reached_by_std(nanos_at(at)) }
}

#[inline]
fn reached_nanos(now: u64, at: u64) -> bool {
    if virt::is_active() || now >= at.saturating_add(DEFER_NS) {
        return now >= at;
    }
    now.saturating_add(DEFER_NS) >= at && reached_by_std(at)
}

#[cold]
fn reached_by_std(at: u64) -> bool {
    nanos_at(Instant::now()) >= at
}

/// Runs `f` on the timer thread once the clock reaches `at` (std's clock
/// and tether's both, under real time).
pub(crate) fn add_timer(at: Instant, f: impl FnOnce() + Send + 'static) -> TimerId {
    timers::timers().add(at, Box::new(f))
}

/// Cancels a timer; true if it had not fired yet (and now never will).
pub(crate) fn cancel_timer(id: TimerId) -> bool {
    timers::timers().cancel(id)
}

/// The deadline of the earliest scheduled timer (for the virtual clock).
pub(crate) fn next_timer() -> Option<Instant> {
    timers::timers().next_deadline().map(instant_at)
}

/// The number of timers scheduled (for tests and leak reports).
pub(crate) fn pending_timers() -> usize {
    timers::timers().len()
}

/// Tells the timer thread that "now" jumped (virtual clock advanced).
pub(crate) fn notify_time_changed() {
    timers::timers().notify();
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
