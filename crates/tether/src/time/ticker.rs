//! [`Ticker`]: ticks at a fixed period (Go's `time.Ticker`), with a choice
//! of what happens to ticks a slow consumer misses.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

use super::sleep::{Sleep, sleep_until_blocking};
use crate::clock;

/// What a [`Ticker`] does with ticks that come due while its consumer is
/// busy elsewhere.
///
/// Take a ticker with a period of 1 s whose consumer, after the tick at
/// 0 s, is busy until 3.7 s and then asks for the next tick:
///
/// | policy | ticks handed out from 3.7 s | then |
/// |---|---|---|
/// | [`Drop`](MissedTick::Drop) (Go) | the 1 s tick, at once | 4 s, 5 s, … |
/// | [`Burst`](MissedTick::Burst) | 1 s, 2 s, 3 s, back to back | 4 s, 5 s, … |
/// | [`Delay`](MissedTick::Delay) | the 1 s tick, at once | 4.7 s, 5.7 s, … |
/// | [`Skip`](MissedTick::Skip) | nothing: waits for the 4 s tick | 5 s, 6 s, … |
///
/// A tick counts as *missed* when it is asked for more than a small
/// tolerance after it came due: half a period, at most 5 ms (so that the
/// ordinary latency of waking a thread does not count as lateness).
///
/// The table, run on a manual [`VirtualClock`](super::VirtualClock):
///
/// ```
/// use std::time::Duration;
/// use tether::time::{MissedTick, Ticker, VirtualClock};
///
/// let clock = VirtualClock::install_manual();
/// let (t0, s) = (clock.now(), Duration::from_secs(1));
/// let mut tickers: Vec<_> = [MissedTick::Drop, MissedTick::Burst, MissedTick::Delay, MissedTick::Skip]
///     .into_iter()
///     .map(|policy| Ticker::with_policy(s, policy))
///     .collect();
/// clock.advance(Duration::from_millis(3700)); // the consumer was busy
/// // What each one hands out now, without waiting, and when it ticks next.
/// let report = |t: &mut Ticker| {
///     let now: Vec<_> = std::iter::from_fn(|| t.try_tick()).map(|at| at - t0).collect();
///     (now, t.next_tick().unwrap() - t0)
/// };
/// let got: Vec<_> = tickers.iter_mut().map(report).collect();
/// assert_eq!(got[0], (vec![s], 4 * s)); // Drop
/// assert_eq!(got[1], (vec![s, 2 * s, 3 * s], 4 * s)); // Burst
/// assert_eq!(got[2], (vec![s], Duration::from_millis(4700))); // Delay
/// assert_eq!(got[3], (vec![], 4 * s)); // Skip
/// drop(tickers); // before the clock
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTick {
    /// Go's ticker: at most one tick waits for a slow consumer (Go's
    /// one-slot channel); the ticks after it are dropped, and the schedule
    /// stays on the original grid (`start + k·period`).
    #[default]
    Drop,
    /// Every tick is delivered: a late consumer gets the missed ticks back
    /// to back until it has caught up (tokio's default).
    Burst,
    /// A late tick is delivered at once and the schedule restarts from
    /// there: the next tick is one period after the late one was taken.
    Delay,
    /// A missed tick is never delivered: a late consumer waits for the next
    /// tick on the original grid.
    Skip,
}

/// Ticks every `period` (Go's `time.Ticker`), for async tasks
/// ([`tick`](Ticker::tick), or as a [`Stream`](futures_core::Stream)) and
/// for plain threads ([`tick_blocking`](Ticker::tick_blocking)).
///
/// The first tick comes one period after creation; each tick returns the
/// instant it was scheduled for. A slow consumer misses ticks rather than
/// receiving a burst, as in Go ([`MissedTick::Drop`]); other policies are
/// chosen with [`with_policy`](Ticker::with_policy).
///
/// The ticker is driven by its consumer: nothing runs in the background
/// between ticks (no task, no timer while nobody waits), so an idle or
/// forgotten ticker costs nothing, and dropping it is all the cleanup
/// there is. All timing goes through tether's clock, so a
/// [`VirtualClock`](super::VirtualClock) runs an hour of ticks in
/// milliseconds.
///
/// ```
/// use std::time::Duration;
/// use tether::time::Ticker;
///
/// let mut ticker = Ticker::new(Duration::from_millis(1));
/// let first = ticker.tick_blocking();
/// let second = ticker.tick_blocking();
/// // On the grid: one period later, or a whole number of periods if this
/// // thread was late and a tick was dropped (Go's policy).
/// let gap = second - first;
/// assert!(gap >= Duration::from_millis(1) && gap.as_nanos() % 1_000_000 == 0);
/// ```
///
/// # In a `select!`
///
/// [`remaining`](Ticker::remaining) gives the time until the next tick is
/// due, for an `after(..)` arm; the arm then takes the tick with
/// [`try_tick`](Ticker::try_tick), which returns it at once. (Or use
/// [`time::tick`](super::tick), Go's ticker channel, as a `recv` arm.)
///
/// ```
/// use std::time::Duration;
/// use tether::time::Ticker;
///
/// let mut ticker = Ticker::new(Duration::from_millis(50));
/// tether::time::sleep_blocking(ticker.remaining());
/// assert!(ticker.try_tick().is_some());
/// assert!(ticker.try_tick().is_none()); // the next one is not due yet
/// ```
pub struct Ticker {
    period: Duration,
    policy: MissedTick,
    /// The next tick's scheduled instant.
    next: Instant,
    stopped: bool,
    /// The pending wait of an async consumer (kept across polls).
    sleep: Option<Sleep>,
}

impl Ticker {
    /// A ticker whose first tick is one `period` from now, with Go's
    /// missed-tick policy ([`MissedTick::Drop`]).
    ///
    /// # Panics
    ///
    /// If `period` is zero (Go panics too: a ticker must tick at a
    /// positive interval).
    #[track_caller]
    pub fn new(period: Duration) -> Ticker {
        Ticker::with_policy(period, MissedTick::Drop)
    }

    /// A ticker with the given missed-tick `policy`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::{MissedTick, Ticker};
    /// let t = Ticker::with_policy(Duration::from_secs(1), MissedTick::Burst);
    /// assert_eq!(t.policy(), MissedTick::Burst);
    /// ```
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    #[track_caller]
    pub fn with_policy(period: Duration, policy: MissedTick) -> Ticker {
        check_period(period, "Ticker::new");
        Ticker { period, policy, next: clock::deadline_after(period), stopped: false, sleep: None }
    }

    /// Waits for the next tick and returns the instant it was scheduled
    /// for. After [`stop`](Ticker::stop) it never completes (as Go's ticker
    /// channel never delivers again), which is harmless inside a `select!`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let mut ticker = tether::time::Ticker::new(Duration::from_millis(1));
    /// let a = ticker.tick().await;
    /// let b = ticker.tick().await;
    /// assert!(b > a);
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `tick()` takes no tick; the next call gets it.
    pub async fn tick(&mut self) -> Instant {
        // However this future ends — a tick, or dropped by a `select!` that
        // chose another branch — the ticker must not keep waiting on its
        // behalf: a timer firing for a future that is gone would wake
        // nobody, and under a virtual clock would owe a wake-up forever.
        struct ClearOnDrop<'a>(&'a mut Ticker);
        impl Drop for ClearOnDrop<'_> {
            fn drop(&mut self) {
                self.0.clear_waker();
            }
        }
        let guard = ClearOnDrop(self);
        std::future::poll_fn(|cx| guard.0.poll_tick(cx)).await
    }

    /// Forgets the waker registered by the last [`poll_tick`](Ticker::poll_tick)
    /// (or `Stream` poll): a tick that comes due wakes nobody until the
    /// ticker is polled again, which then returns it as usual. Call it when
    /// you stop polling a ticker for a while — for example when a
    /// `tokio::select!` loop polled it through `StreamExt::next` and another
    /// branch won — so that a [`VirtualClock`](super::VirtualClock) does not
    /// wait for a wake-up nobody consumes. [`tick`](Ticker::tick) does this
    /// by itself when its future is dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::time::Ticker;
    ///
    /// let mut ticker = Ticker::new(Duration::from_millis(1));
    /// let waker = std::task::Waker::noop();
    /// let _ = ticker.poll_tick(&mut std::task::Context::from_waker(waker)); // waits
    /// ticker.clear_waker(); // no longer
    /// assert!(ticker.tick_blocking() > tether::time::now() - Duration::from_secs(1));
    /// ```
    pub fn clear_waker(&mut self) {
        if let Some(s) = &mut self.sleep {
            s.forget_waker();
        }
    }

    /// Polls for the next tick (the building block of [`tick`](Ticker::tick)
    /// and of the `Stream` implementation).
    pub fn poll_tick(&mut self, cx: &mut TaskCx<'_>) -> Poll<Instant> {
        if self.stopped {
            return Poll::Pending;
        }
        if let Some(t) = self.try_tick() {
            return Poll::Ready(t);
        }
        let next = self.next;
        let sleep = match &mut self.sleep {
            Some(s) if s.deadline() == next => s,
            slot => slot.insert(Sleep::until(next)),
        };
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(self.take(clock::now())),
            Poll::Pending => {
                crate::leak::pending(crate::leak::Blocked::new("waiting for a tick", None));
                Poll::Pending
            }
        }
    }

    /// Parks the calling thread until the next tick and returns the instant
    /// it was scheduled for. Needs no runtime.
    ///
    /// # Panics
    ///
    /// If the ticker is stopped: the call would block forever (a Go
    /// goroutine receiving from a stopped ticker leaks).
    /// [`reset`](Ticker::reset) restarts a stopped ticker.
    #[track_caller]
    pub fn tick_blocking(&mut self) -> Instant {
        assert!(
            !self.stopped,
            "Ticker::tick_blocking on a stopped ticker would block forever; call reset() to restart it"
        );
        loop {
            if let Some(t) = self.try_tick() {
                return t;
            }
            sleep_until_blocking(self.next);
        }
    }

    /// Takes the next tick if it is due now, without waiting (applying the
    /// missed-tick policy). `None` if it is not due yet or the ticker is
    /// stopped.
    pub fn try_tick(&mut self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let now = clock::now();
        if !clock::reached_given(now, self.next) {
            return None;
        }
        let now = now.max(self.next);
        if self.policy == MissedTick::Skip && self.is_late(now) {
            // Missed: wait for the next grid point (which may be now).
            self.next = self.grid_at_or_after(now);
            self.sleep = None;
            if now < self.next {
                return None;
            }
        }
        Some(self.take(now))
    }

    /// Hands out `self.next` (due at `now`) and schedules the following
    /// tick according to the policy.
    fn take(&mut self, now: Instant) -> Instant {
        // The pending wait was for this tick: drop it, whether or not its
        // timer has fired, so that no wake-up of it stays owed (the next
        // poll waits on a fresh sleep for the next tick).
        self.sleep = None;
        let tick = self.next;
        let on_grid = self.grid_after(now.max(tick));
        self.next = match self.policy {
            MissedTick::Burst => tick + self.period,
            MissedTick::Delay if self.is_late(now) => now + self.period,
            MissedTick::Delay => tick + self.period,
            MissedTick::Drop | MissedTick::Skip => on_grid,
        };
        tick
    }

    fn is_late(&self, now: Instant) -> bool {
        let tolerance = (self.period / 2).min(Duration::from_millis(5));
        now.saturating_duration_since(self.next) > tolerance
    }

    /// The first grid point (`next + k·period`) strictly after `t`.
    fn grid_after(&self, t: Instant) -> Instant {
        if t < self.next {
            return self.next;
        }
        let behind = (t - self.next).as_nanos();
        let k = behind / self.period.as_nanos() + 1;
        self.next + mul(self.period, k)
    }

    /// The first grid point at or after `t`.
    fn grid_at_or_after(&self, t: Instant) -> Instant {
        if t <= self.next {
            return self.next;
        }
        let behind = (t - self.next).as_nanos();
        let p = self.period.as_nanos();
        self.next + mul(self.period, behind.div_ceil(p))
    }

    /// Time until the next tick is due (zero if one is due now or the
    /// ticker is late; `Duration::MAX` if stopped): the duration for a
    /// `select!` `after(..)` arm.
    pub fn remaining(&self) -> Duration {
        if self.stopped {
            return Duration::MAX;
        }
        self.next.saturating_duration_since(clock::now())
    }

    /// The instant of the next tick, or `None` if stopped.
    pub fn next_tick(&self) -> Option<Instant> {
        (!self.stopped).then_some(self.next)
    }

    /// Stops the ticker and restarts it with `period`: the next tick comes
    /// one new period from now (Go's `Ticker.Reset`). Also restarts a
    /// stopped ticker.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    #[track_caller]
    pub fn reset(&mut self, period: Duration) {
        check_period(period, "Ticker::reset");
        self.period = period;
        self.next = clock::deadline_after(period);
        self.stopped = false;
        self.sleep = None;
    }

    /// Stops the ticker: no more ticks until [`reset`](Ticker::reset)
    /// (Go's `Ticker.Stop`). A pending [`tick`](Ticker::tick) never
    /// completes.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.sleep = None;
    }

    /// True after [`stop`](Ticker::stop) (until a reset).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The missed-tick policy.
    pub fn policy(&self) -> MissedTick {
        self.policy
    }

    /// Changes the missed-tick policy from now on.
    pub fn set_policy(&mut self, policy: MissedTick) {
        self.policy = policy;
    }
}

fn mul(period: Duration, k: u128) -> Duration {
    let nanos = period.as_nanos().saturating_mul(k);
    Duration::new((nanos / 1_000_000_000).min(u64::MAX as u128) as u64, (nanos % 1_000_000_000) as u32)
}

#[track_caller]
fn check_period(period: Duration, what: &str) {
    assert!(!period.is_zero(), "{what}: the period must be positive (a ticker cannot tick every 0s)");
}

impl futures_core::Stream for Ticker {
    type Item = Instant;

    /// Never ends; pending forever once stopped.
    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker")
            .field("period", &self.period)
            .field("policy", &self.policy)
            .field("next", &self.next)
            .field("stopped", &self.stopped)
            .finish()
    }
}
