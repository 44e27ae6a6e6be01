//! [`synctest`] and [`synctest_async`]: a test body on virtual time, with a
//! leak check at the end — Go's `testing/synctest.Test`, as a one-liner.

use std::time::Duration;
#[cfg(feature = "tokio")]
use std::time::Instant;

use super::VirtualClock;
use crate::leak::{self, LeakError, Tracker};

/// Runs a test body on virtual time and fails the test if a task it
/// started outlives it (Go's `synctest.Test`).
///
/// While `body` runs, a [`VirtualClock`] with auto-advance is installed:
/// every deadline, sleep, ticker, limiter wait and timeout in tether runs
/// on virtual time, which jumps ahead whenever the program is idle — an
/// hour of schedule takes milliseconds. When `body` returns, every tether
/// task it started (directly, or through the tasks it started) must end:
/// they are given [`leak::DEFAULT_GRACE`] of real time to do so — virtual
/// time still runs meanwhile, so a task that just needs to sleep out a
/// virtual hour is fine — and any still alive then fail the test with a
/// panic that lists each one (kind, name, spawn site, what it waits on).
/// Returns what `body` returns.
///
/// ```
/// use std::time::Duration;
/// use tether::{Context, sync::WaitGroup, time};
///
/// let retries = time::synctest(|clock| {
///     // Idle means "no clock activity for a quiet period" (2 ms by
///     // default). A test that counts exact steps on a loaded machine,
///     // where a thread can be descheduled that long, wants a longer one.
///     clock.set_quiet_period(Duration::from_millis(20));
///     // Exponential back-off, 1 s to 32 s: a minute of waiting, in ms.
///     let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(60));
///     let mut delay = Duration::from_secs(1);
///     let mut tries = 0;
///     while !ctx.wait_timeout_blocking(delay) {
///         tries += 1;
///         delay *= 2;
///     }
///     assert_eq!(clock.elapsed(), Duration::from_secs(60));
///
///     // A task may still be running when the body returns, if it ends
///     // by itself: the check waits for it.
///     let wg = WaitGroup::new();
///     wg.go_blocking(|| time::sleep_blocking(Duration::from_secs(600)));
///     tries
/// });
/// assert_eq!(retries, 5); // 1 + 2 + 4 + 8 + 16 s, and the 32 s wait hit the deadline
/// ```
///
/// # What it checks, and what it cannot
///
/// - Tasks are tether's: group and scope tasks, pool workers, `WaitGroup::go`
///   tasks, after-funcs — tracked with a [`leak::Tracker`], so tests
///   running in parallel never blame each other. Threads started with
///   `std::thread::spawn` and tasks started with a plain `tokio::spawn`
///   are outside the check (and so is whatever *they* spawn).
/// - The virtual clock is process-wide: synctest bodies in one test binary
///   run one after the other (each waits for the clock), and tests on real
///   time must live in another binary (see [`VirtualClock`]). Do not nest
///   calls: the inner one would wait for the outer one's clock forever.
/// - A body that blocks forever hangs the test rather than failing it (Go
///   can tell that every goroutine of a bubble is blocked; tether cannot
///   see threads that well). Keep your watchdog.
/// - If `body` panics, the panic goes on as is (the clock is uninstalled on
///   the way) and no leak check is made.
///
/// For a shorter retry window, see [`SyncTest`]; for async test bodies,
/// [`synctest_async`].
#[track_caller]
pub fn synctest<R>(body: impl FnOnce(&VirtualClock) -> R) -> R {
    SyncTest::new().run(body)
}

/// [`synctest`] for an async body: runs it on a new current-thread tokio
/// runtime (feature `tokio`), under a [`VirtualClock`], then keeps running
/// that runtime while the tasks the body started end, and fails the test
/// if any is still alive after [`leak::DEFAULT_GRACE`].
///
/// The body is an async closure that receives the clock:
///
/// ```
/// use std::time::Duration;
/// use tether::{Context, group::Group, time};
///
/// time::synctest_async(async |clock| {
///     let (g, ctx) = Group::<tether::ctx::Error>::with_context(&Context::background());
///     for minutes in [1, 5, 30] {
///         let ctx = ctx.clone();
///         g.spawn(async move {
///             time::sleep(Duration::from_secs(60 * minutes)).await;
///             ctx.check()
///         })
///         .await;
///     }
///     g.wait().await.unwrap();
///     assert_eq!(clock.elapsed(), Duration::from_secs(30 * 60)); // in ms of real time
/// });
/// ```
///
/// tokio's own timers (`tokio::time`) stay on real time: use tether's
/// ([`sleep`](super::sleep), [`Ticker`](super::Ticker), `after(..)` arms,
/// context deadlines). A panic in a task started with `tokio::spawn` is
/// caught by tokio and does not fail the test; one in a tether
/// [`Group`](crate::group::Group) task is resumed by the group's `wait`.
///
/// # Panics
///
/// As [`SyncTest::run_async`]: on a leak, if called from inside a tokio
/// runtime (use a plain `#[test]`, not `#[tokio::test]`), or if the runtime
/// cannot be built.
#[cfg(feature = "tokio")]
#[track_caller]
pub fn synctest_async<R>(body: impl AsyncFnOnce(&VirtualClock) -> R) -> R {
    SyncTest::new().run_async(body)
}

/// [`synctest`] with settings: how long the leak check at the end waits for
/// tasks to end.
///
/// ```
/// use std::time::Duration;
/// use tether::time::SyncTest;
///
/// let out = SyncTest::new()
///     .leak_grace(Duration::from_millis(100)) // fail fast when a task leaks
///     .run(|clock| {
///         tether::time::sleep_blocking(Duration::from_secs(3600));
///         clock.elapsed()
///     });
/// assert_eq!(out, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct SyncTest {
    grace: Duration,
}

impl Default for SyncTest {
    fn default() -> Self {
        SyncTest::new()
    }
}

impl SyncTest {
    /// The settings [`synctest`] uses: a leak grace of
    /// [`leak::DEFAULT_GRACE`].
    pub fn new() -> SyncTest {
        SyncTest { grace: leak::DEFAULT_GRACE }
    }

    /// How long, in real time, tasks still running when the body returns
    /// get to end before they count as leaked. A test that expects a leak
    /// (of its own making) can use a short one.
    pub fn leak_grace(mut self, grace: Duration) -> SyncTest {
        self.grace = grace;
        self
    }

    /// Runs `body` as [`synctest`] does, with these settings.
    #[track_caller]
    pub fn run<R>(&self, body: impl FnOnce(&VirtualClock) -> R) -> R {
        let clock = VirtualClock::install();
        let tracker = Tracker::new();
        let out = tracker.in_scope(|| body(&clock));
        // The clock keeps running meanwhile: tasks that sleep out virtual
        // time before they end are not leaks.
        let leaked = tracker.verify_within(self.grace);
        drop(clock);
        if let Err(e) = leaked {
            fail(&e, self.grace);
        }
        out
    }

    /// Runs `body` as [`synctest_async`] does, with these settings.
    ///
    /// # Panics
    ///
    /// - If a task the body started is still alive after the grace: the
    ///   leak report (see [`synctest`]). A panic of `body` itself goes on as
    ///   is.
    /// - If called from inside a tokio runtime: the body's runtime would
    ///   block the outer one's thread, which tokio refuses.
    /// - If tokio cannot build the runtime (the OS refused it a resource,
    ///   such as a file descriptor for its I/O driver).
    #[cfg(feature = "tokio")]
    #[track_caller]
    pub fn run_async<R>(&self, body: impl AsyncFnOnce(&VirtualClock) -> R) -> R {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "tether::time::synctest_async runs its own runtime and cannot be called inside another \
             (use a plain #[test], not #[tokio::test])"
        );
        let clock = VirtualClock::install();
        let tracker = Tracker::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tether::time::synctest_async: could not build a tokio runtime");
        let (out, waited) = rt.block_on(tracker.wrap(async {
            let out = body(&clock).await;
            // Keep the runtime going while the body's tasks end: they run
            // only while this thread drives it.
            (out, settle(&tracker, self.grace).await)
        }));
        let leaked = tracker.verify_within(Duration::ZERO);
        // Drop what is left (before the clock: their timers were armed on
        // virtual time), then the clock.
        drop(rt);
        drop(clock);
        if let Err(e) = leaked {
            fail(&e, waited);
        }
        out
    }
}

/// Waits, driving the current-thread runtime, until the tracker's tasks
/// have ended or `grace` (real time) has passed; returns how long it
/// waited.
#[cfg(feature = "tokio")]
async fn settle(tracker: &Tracker, grace: Duration) -> Duration {
    let began = Instant::now();
    let mut pause = Duration::from_micros(50);
    while !tracker.live_tasks().is_empty() && began.elapsed() < grace {
        // Let every task that is ready run, then give other threads (the
        // timer thread, blocking tasks) a moment without spinning.
        tokio::task::yield_now().await;
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
    began.elapsed()
}

/// Fails the test: `e`'s tasks were still alive `waited` after the body
/// returned.
#[track_caller]
fn fail(e: &LeakError, waited: Duration) -> ! {
    use std::fmt::Write;
    let n = e.tasks().len();
    let mut msg = format!(
        "tether::time::synctest: {n} task{s} started by the test body {verb} still running {waited:.1?} after the \
         body returned: a leak (every task must end before its test does: cancel its context, close its \
         channel, wait its group or WaitGroup)",
        s = if n == 1 { "" } else { "s" },
        verb = if n == 1 { "is" } else { "are" },
    );
    for t in e.tasks() {
        let _ = write!(msg, "\n  - {t}");
    }
    panic!("{msg}")
}
