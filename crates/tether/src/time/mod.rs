//! Time: [`Ticker`] (Go's `time.Ticker`, with a choice of
//! [missed-tick policy](MissedTick)), [`sleep`] and its blocking twin, and
//! a [`VirtualClock`] that runs tether's timers on virtual time in tests
//! (Go's `testing/synctest`).
//!
//! Everything here reads time through tether's one clock, the same one
//! that context deadlines, `select!` timeouts and rate limiters use — so
//! one [`VirtualClock`] moves them all together. Timers are served by
//! tether's own timer thread: they work on plain threads with no runtime
//! and under any async executor.
//!
//! | Go | tether |
//! |---|---|
//! | `time.NewTicker(d)` / `<-t.C` | [`Ticker::new(d)`](Ticker::new) / [`t.tick().await`](Ticker::tick), [`t.tick_blocking()`](Ticker::tick_blocking) |
//! | `t.Reset(d)`, `t.Stop()` | [`reset`](Ticker::reset), [`stop`](Ticker::stop) |
//! | `time.Sleep(d)` | [`sleep(d).await`](sleep), [`sleep_blocking(d)`](sleep_blocking) |
//! | `case <-time.After(d):` | the `after(d)` arm of [`select!`](crate::select) |
//! | `time.Tick(d)`, `case t := <-ticker.C:` | [`tick(d)`](tick), then a `recv(ticks) -> t =>` arm |
//! | `time.After(d)` | [`after(d)`](after) (a channel), or the `after(d)` arm |
//! | `testing/synctest` (`synctest.Test`) | [`synctest`], [`synctest_async`], [`SyncTest`]; underneath, [`VirtualClock`], [`virtual_time`] |
//!
//! ```
//! use std::time::Duration;
//! use tether::time::{self, MissedTick, Ticker};
//!
//! // An hour of per-minute ticks, in a few milliseconds of real time.
//! let ticks = time::virtual_time(|_clock| {
//!     let mut ticker = Ticker::with_policy(Duration::from_secs(60), MissedTick::Burst);
//!     (0..60).map(|_| ticker.tick_blocking()).count()
//! });
//! assert_eq!(ticks, 60);
//! ```

mod channel;
mod sleep;
mod synctest;
mod ticker;
mod virtual_clock;

pub use channel::{after, tick};
pub use sleep::{Sleep, sleep, sleep_blocking, sleep_until, sleep_until_blocking};
pub use synctest::*;
pub use ticker::{MissedTick, Ticker};
pub use virtual_clock::{VirtualClock, virtual_time};

/// The current instant on tether's clock: real time, or virtual time while
/// a [`VirtualClock`] is installed. Use it instead of `Instant::now()` in
/// code that should follow a virtual clock in tests.
pub fn now() -> std::time::Instant {
    crate::clock::now()
}

/// What drives tether's real-time clock: `"tsc"`, the CPU's time-stamp
/// counter (x86-64 with an invariant TSC and RDTSCP, which the OS uses as
/// its own clock source), scaled and kept within tens of nanoseconds of
/// std's `Instant` (see `examples/clock_drift.rs`); or `"std"`, std's
/// `Instant::now()` itself (elsewhere, or when the environment sets
/// `TETHER_CLOCK=std`).
///
/// Either way [`now`] returns ordinary `Instant`s that never go backwards,
/// on one thread or across threads, and that mix freely with
/// `Instant::now()`'s; deadlines computed from `Instant::now()` are never
/// reached early. An ordered read (what [`now`] does) costs about what
/// `Instant::now()` does — the ordering is most of either — while the rate
/// limiter's `allow` reads the counter unordered, at about half.
///
/// ```
/// assert!(["tsc", "std"].contains(&tether::time::clock_source()));
/// ```
pub fn clock_source() -> &'static str {
    crate::clock::source_name()
}
