//! Go's channel-shaped timers: [`tick`] (`time.Tick`) and [`after`]
//! (`time.After`), as [`chan::Receiver`]s for `select!` arms.

use std::time::{Duration, Instant};

use crate::chan::{self, Receiver, Sender, TrySendError};
use crate::clock;

/// A channel that receives the scheduled instant of each tick, every
/// `period` (Go's `time.Tick`, and `ticker.C`): usable as a
/// `recv(ticks) -> t =>` arm of [`select!`](crate::select).
///
/// Go's semantics exactly: the channel holds at most one tick; ticks that
/// come due while one is waiting are dropped; the schedule stays on the
/// grid `start + k·period`. The ticks are sent by tether's timer thread, so
/// this works on plain threads (`recv_blocking`) and in async code alike.
/// Dropping every receiver stops the ticks (the last pending timer
/// notices at the next tick and ends).
///
/// ```
/// use std::time::Duration;
/// use tether::{chan::RecvError, time};
///
/// let ticks = time::tick(Duration::from_millis(1));
/// let (_tx, work) = tether::chan::bounded::<u32>(1);
/// let mut seen = 0;
/// while seen < 3 {
///     tether::select_blocking! {
///         recv(ticks) -> t => { t.unwrap(); seen += 1; },
///         recv(work) -> job => { let _: Result<u32, RecvError> = job; },
///     }
/// }
/// ```
///
/// For a ticker you can stop, reset, or give another missed-tick policy,
/// use [`Ticker`](super::Ticker).
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(!period.is_zero(), "time::tick: the period must be positive (a ticker cannot tick every 0s)");
    let (tx, rx) = chan::bounded(1);
    arm(tx, clock::deadline_after(period), period);
    rx
}

fn arm(tx: Sender<Instant>, at: Instant, period: Duration) {
    clock::add_timer(at, move || {
        match tx.try_send(at) {
            Err(TrySendError::Closed(_)) => return,   // nobody listens: stop
            Ok(()) | Err(TrySendError::Full(_)) => {} // Full: Go drops the tick
        }
        // The next grid point after now (skipping any the timer thread was
        // too late for).
        let now = clock::now();
        let mut next = at + period;
        if next <= now {
            let behind = (now - next).as_nanos() / period.as_nanos() + 1;
            next += Duration::from_nanos((period.as_nanos() * behind).min(u64::MAX as u128) as u64);
        }
        arm(tx, next, period);
    });
}

/// A channel that receives one instant once `d` has passed (Go's
/// `time.After`); usually the `after(d)` arm of [`select!`](crate::select)
/// is simpler. The timer holds nothing but the channel's sender: if the
/// receiver is dropped early, the send fails quietly when the timer fires.
///
/// ```
/// use std::time::Duration;
/// let timeout = tether::time::after(Duration::from_millis(1));
/// let at = timeout.recv_blocking().unwrap();
/// assert!(tether::time::now() >= at);
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::bounded(1);
    let at = clock::deadline_after(d);
    clock::add_timer(at, move || {
        let _ = tx.try_send(at);
    });
    rx
}
