//! [`VirtualClock`]: virtual time for tests, in the spirit of Go's
//! `testing/synctest`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::clock::{self, virt};

/// Puts every clock read and timed wait in tether on virtual time while it
/// is installed: context deadlines and timeouts, [`sleep`](super::sleep),
/// [`Ticker`](super::Ticker)s, rate-limiter waits, `after(..)` arms and
/// `*_timeout_blocking` calls. A test of an hour-long schedule runs in
/// milliseconds.
///
/// ```
/// use std::time::Duration;
/// use tether::time::{Ticker, VirtualClock};
///
/// let clock = VirtualClock::install(); // auto-advance on
/// let start = clock.now();
/// let mut ticker = Ticker::new(Duration::from_secs(60));
/// for _ in 0..60 {
///     ticker.tick_blocking(); // each minute passes in about a millisecond
/// }
/// assert_eq!(clock.now() - start, Duration::from_secs(3600));
/// ```
///
/// # How time moves
///
/// Virtual time starts at the real instant of [`install`](Self::install)
/// and then moves only when the clock is advanced:
///
/// - by hand: [`advance`](Self::advance) / [`advance_to`](Self::advance_to)
///   jump forward (as if the whole program had been frozen meanwhile);
///   every timer that comes due fires, in deadline order;
/// - automatically (the default; see [`install_manual`](Self::install_manual)
///   to turn it off): when the program is **idle**, time jumps to the
///   earliest pending timer, which fires.
///
/// tether cannot see every thread's and task's state the way Go's runtime
/// does for `synctest`, so *idle* is judged from what tether does see. The
/// program is idle when all of these hold:
///
/// 1. **no clock activity** for a real-time *quiet period* (2 ms by
///    default, [`set_quiet_period`](Self::set_quiet_period)): no read of
///    tether's clock, no timer added, cancelled or fired;
/// 2. **no wake-up in flight**: every thread or task that a virtual timer
///    woke through tether (a sleep, a ticker, a limiter wait, a
///    `*_blocking` call with a timeout) has run again — for a task: has
///    polled the woken future again, dropped it, or stopped waiting on it
///    (see [`wakes_in_flight`](Self::wakes_in_flight));
/// 3. **a timer is pending** later than the current virtual instant (with no
///    timer, nothing could ever wake the program; time stays put).
///
/// Limits of that rule, so you can write tests that do not flake:
///
/// - work that neither blocks in tether nor touches its clock (a long
///   computation, a `std::thread::sleep`, a wait on a non-tether lock or
///   channel) looks idle once the quiet period has passed, and time may
///   jump meanwhile — as if the work had taken that long;
/// - a loop that busy-polls the clock without blocking keeps time from
///   ever advancing;
/// - tokio's own timers (`tokio::time`) are not virtual (see below);
/// - a task that keeps a fired [`Sleep`](super::Sleep) (or a `Ticker`
///   polled as a `Stream`) alive without polling it again — say, a pinned
///   `sleep` in a `tokio::select!` loop while another branch's body awaits
///   something else — owes the clock a wake-up it never consumes. The
///   clock waits for it only a grace period (50 quiet periods, at least
///   100 ms of real time) before moving on, and says so once on stderr:
///   such a test runs slowly instead of hanging. Poll or drop what fired.
///   Everything tether itself holds ([`Ticker::tick`](super::Ticker::tick)
///   futures, limiter and `Cond` waits, `select!` arms) settles its
///   wake-ups, including when it is dropped or stopped.
///
/// # One at a time, in their own test binary
///
/// The switch is process-wide: while installed, *every* thread's tether
/// clock is virtual. [`install`](Self::install) therefore waits until any
/// other `VirtualClock` in the process is dropped, so virtual-clock tests in
/// one test binary run one after the other even under the parallel test
/// runner. Real-time tests must not share a binary with them: put
/// virtual-clock tests in their own `tests/*.rs` file.
///
/// Instants handed out under virtual time are ordinary `Instant`s, possibly
/// hours ahead of the real clock: drop whatever was created under the
/// virtual clock (contexts with deadlines, tickers, limiters) before the
/// clock, since after uninstalling, real time resumes from the real now.
///
/// # tokio's paused time
///
/// tether does not hook into tokio's `time::pause()`, and cannot: tokio's
/// paused clock belongs to one runtime and is read through
/// `tokio::time::Instant`, which tether's timer thread and OS threads
/// (outside any runtime) cannot see; tokio auto-advances only to *its own*
/// timers and only when *its* runtime has no work, so it would jump past
/// tether's deadlines without firing them, while tether's timers, served
/// outside tokio, do not hold tokio's clock back. Use this clock for tether
/// code; tether's futures (sleeps, tickers, limiter waits, context
/// deadlines) run fine on a tokio runtime under it, with tokio's clock left
/// unpaused ([`synctest_async`](super::synctest_async) sets that up).
///
/// Under tokio's pause (`#[tokio::test(start_paused = true)]`), exactly:
///
/// | works | does not |
/// |---|---|
/// | channels, `select!`, groups, `WaitGroup`, contexts cancelled by hand | tether deadlines, sleeps, tickers, limiter waits: they keep real time |
/// | `tokio::time::timeout(d, rx.recv())` and other tokio timers *around* tether futures | `tokio::time::advance` does not move [`now`](super::now) or fire a tether deadline |
/// | a tether sleep with no tokio timer pending ends on real time | with a tokio timer pending, tokio jumps to it past an unfired tether sleep |
///
/// Each cell is a test in `tests/tokio_paused_time.rs`.
pub struct VirtualClock {
    start: Instant,
    driver: Arc<Driver>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Driver {
    stop: AtomicBool,
    auto: AtomicBool,
    quiet_ns: AtomicU64,
}

/// One virtual clock per process at a time.
static INSTALLED: Mutex<bool> = Mutex::new(false);
static RELEASED: Condvar = Condvar::new();

const DEFAULT_QUIET: Duration = Duration::from_millis(2);

impl VirtualClock {
    /// Switches tether's clock to virtual time, with auto-advance, waiting
    /// first for any other virtual clock in the process to be dropped.
    pub fn install() -> VirtualClock {
        VirtualClock::start(true)
    }

    /// Like [`install`](Self::install), but time moves only through
    /// [`advance`](Self::advance) and [`advance_to`](Self::advance_to).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::{Context, time::VirtualClock};
    ///
    /// let clock = VirtualClock::install_manual();
    /// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(30));
    /// clock.advance(Duration::from_secs(29));
    /// assert!(!ctx.is_done());
    /// clock.advance(Duration::from_secs(1));
    /// ctx.wait_blocking(); // the deadline fires on the timer thread
    /// assert!(ctx.is_done());
    /// ```
    pub fn install_manual() -> VirtualClock {
        VirtualClock::start(false)
    }

    fn start(auto: bool) -> VirtualClock {
        {
            let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
            while *installed {
                installed = RELEASED.wait(installed).unwrap_or_else(|e| e.into_inner());
            }
            *installed = true;
        }
        let start = clock::real_now();
        virt::activate(start);
        let driver = Arc::new(Driver {
            stop: AtomicBool::new(false),
            auto: AtomicBool::new(auto),
            quiet_ns: AtomicU64::new(DEFAULT_QUIET.as_nanos() as u64),
        });
        let d = driver.clone();
        // A plain thread, not a tether task: it belongs to the test harness,
        // not to the code under test, and must not show up as a leak.
        let thread = std::thread::Builder::new()
            .name("tether-virtual-clock".into())
            .spawn(move || drive(&d))
            .expect("tether: could not start the virtual clock's driver thread");
        VirtualClock { start, driver, thread: Some(thread) }
    }

    /// The current virtual instant (what tether's clock reads now).
    pub fn now(&self) -> Instant {
        virt::peek()
    }

    /// Virtual time elapsed since the clock was installed.
    pub fn elapsed(&self) -> Duration {
        self.now() - self.start
    }

    /// Moves virtual time forward by `d`, at once; timers that come due
    /// fire in deadline order on tether's timer thread (shortly after this
    /// returns).
    pub fn advance(&self, d: Duration) {
        let to = self.now().checked_add(d).unwrap_or_else(|| self.now() + Duration::from_secs(100 * 365 * 86_400));
        virt::advance_to(to);
    }

    /// Moves virtual time forward to `at` (never backwards).
    pub fn advance_to(&self, at: Instant) {
        virt::advance_to(at);
    }

    /// The deadline of the earliest pending timer, if any.
    pub fn next_timer(&self) -> Option<Instant> {
        clock::next_timer()
    }

    /// The number of pending timers (all of tether's: deadlines, sleeps,
    /// waits). Handy for a test to wait until its threads have all gone to
    /// sleep before it turns auto-advance on.
    pub fn pending_timers(&self) -> usize {
        clock::pending_timers()
    }

    /// Wake-ups that virtual timers have sent and that their receivers
    /// have not consumed yet: threads not yet running again, and futures
    /// not yet polled again (or dropped). Auto-advance waits for this to
    /// be zero. A count that stays above zero while the program is idle
    /// means something holds a fired timer without polling it (see
    /// [How time moves](Self#how-time-moves)); tether's own tests check
    /// that none of its primitives ever do.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::{self, VirtualClock};
    ///
    /// let clock = VirtualClock::install();
    /// time::sleep_blocking(Duration::from_secs(5));
    /// assert_eq!(clock.wakes_in_flight(), 0); // the sleeper consumed its wake-up
    /// ```
    pub fn wakes_in_flight(&self) -> usize {
        (virt::in_flight().max(0) + virt::task_in_flight().max(0)) as usize
    }

    /// Jumps to the earliest pending timer if it is in the future; false if
    /// there is none.
    pub fn advance_to_next_timer(&self) -> bool {
        match clock::next_timer() {
            Some(at) => {
                virt::advance_to(at);
                true
            }
            None => false,
        }
    }

    /// Turns auto-advance on or off.
    pub fn set_auto_advance(&self, on: bool) {
        self.driver.auto.store(on, Relaxed);
    }

    /// Sets how long (in real time) the program must show no clock activity
    /// before auto-advance jumps (2 ms by default). Longer is safer on a
    /// loaded machine, shorter is faster.
    pub fn set_quiet_period(&self, d: Duration) {
        self.driver.quiet_ns.store(d.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }
}

/// Runs `f` with a [`VirtualClock`] (auto-advance on) installed, then
/// uninstalls it.
///
/// ```
/// use std::time::Duration;
/// use tether::time;
///
/// let slept = time::virtual_time(|clock| {
///     time::sleep_blocking(Duration::from_secs(24 * 3600)); // a day, in ms
///     clock.elapsed()
/// });
/// assert_eq!(slept, Duration::from_secs(24 * 3600));
/// ```
pub fn virtual_time<R>(f: impl FnOnce(&VirtualClock) -> R) -> R {
    let clock = VirtualClock::install();
    f(&clock)
}

/// How long the driver waits for a task's wake-up that is not consumed
/// (see [`VirtualClock`]'s limits): long enough that a task merely slow to
/// be scheduled on a loaded machine is still waited for.
fn task_grace(quiet: Duration) -> Duration {
    (quiet * 50).max(Duration::from_millis(100))
}

fn drive(d: &Driver) {
    let mut seen = virt::activity();
    let mut quiet_since = Instant::now();
    let mut warned = false;
    while !d.stop.load(Relaxed) {
        let quiet = Duration::from_nanos(d.quiet_ns.load(Relaxed));
        std::thread::sleep((quiet / 4).clamp(Duration::from_micros(50), Duration::from_millis(1)));
        let now = virt::activity();
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
            continue;
        }
        // A thread's wake-up is always consumed (the thread runs again):
        // wait for it however long it takes.
        if !d.auto.load(Relaxed) || quiet_since.elapsed() < quiet || virt::in_flight() > 0 {
            continue;
        }
        let owed_by_tasks = virt::task_in_flight() > 0;
        if owed_by_tasks && quiet_since.elapsed() < task_grace(quiet) {
            continue;
        }
        if let Some(at) = clock::next_timer() {
            if at > virt::peek() {
                if owed_by_tasks && !warned {
                    warned = true;
                    eprintln!(
                        "tether: VirtualClock: a timer woke a future that has not been polled again for {:?}; \
                         time moves on without it (a fired Sleep or Ticker kept alive but no longer awaited?)",
                        task_grace(quiet)
                    );
                }
                virt::advance_to(at);
                seen = virt::activity();
                quiet_since = Instant::now();
            }
        }
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        self.driver.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        virt::deactivate();
        *INSTALLED.lock().unwrap_or_else(|e| e.into_inner()) = false;
        RELEASED.notify_one();
    }
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .field("auto_advance", &self.driver.auto.load(Relaxed))
            .finish()
    }
}
