//! [`sleep`], [`sleep_until`] and their blocking twins, on tether's clock.

/// What a sleep waits for, in leak reports.
const SLEEPING: crate::leak::Blocked = crate::leak::Blocked::new("sleeping", None);

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::{Duration, Instant};

use crate::clock::{self, TimerId};
use crate::sync_impl::{Arc, Mutex, lock};

/// Waits until `d` has passed on tether's clock (Go's `time.Sleep`, as a
/// future).
///
/// No runtime timer is involved: the wake-up comes from tether's timer
/// thread, so the future works under any executor, and under a
/// [`VirtualClock`](super::VirtualClock) it completes when virtual time
/// reaches its deadline. In a [`select!`](crate::select) use the `after(d)`
/// arm instead.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// tether::time::sleep(Duration::from_millis(2)).await;
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # });
/// ```
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future cancels its timer; nothing else
/// happened.
pub fn sleep(d: Duration) -> Sleep {
    Sleep::until(clock::deadline_after(d))
}

/// Waits until the clock reaches `at` (ready at once if it already has).
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future cancels its timer.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep::until(at)
}

/// Parks the calling thread for `d` on tether's clock (works on plain
/// threads, and follows a [`VirtualClock`](super::VirtualClock)).
pub fn sleep_blocking(d: Duration) {
    sleep_until_blocking(clock::deadline_after(d));
}

/// Parks the calling thread until the clock reaches `at`.
pub fn sleep_until_blocking(at: Instant) {
    let _note = (!clock::reached(at)).then(|| crate::leak::note("sleeping"));
    while !clock::reached(at) {
        clock::park_until(at);
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It is `Unpin`: keep it in a variable, await it by `&mut`, and
/// [`reset`](Sleep::reset) it to move its deadline — an idle timeout that
/// starts over on activity, say.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tether::time::{self, VirtualClock};
///
/// let clock = VirtualClock::install();
/// let mut idle = time::sleep(Duration::from_secs(10));
/// assert!(!idle.is_elapsed());
/// // Activity: the idle timeout starts over, 10 s from now.
/// idle.reset(time::now() + Duration::from_secs(10));
/// (&mut idle).await;
/// assert!(idle.is_elapsed());
/// assert_eq!(clock.elapsed(), Duration::from_secs(10));
/// # drop(idle);
/// # });
/// ```
///
/// # Cancel safety
///
/// Cancel-safe: dropping it cancels its timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    armed: Option<Armed>,
    done: bool,
}

struct Armed {
    id: TimerId,
    shared: Arc<Mutex<Shared>>,
}

/// What the timer and the future know about one armed sleep. Both sides
/// change it under its lock, so "the timer woke somebody" and "the wake-up
/// was consumed" cannot cross.
struct Shared {
    state: State,
    /// Whom the timer wakes. `None` once the future stopped waiting
    /// ([`Sleep::forget_waker`]): then a firing timer wakes nobody, and so
    /// puts no wake-up in flight that nobody would ever consume.
    waker: Option<Waker>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// The timer has not fired.
    Armed,
    /// Fired and woke the waker: its wake-up counts as in flight for the
    /// virtual clock until the future sees it (is polled) or goes away.
    Woke,
    /// Fired, and no wake-up is owed (none was issued, or it was consumed).
    Fired,
}

impl Sleep {
    pub(crate) fn until(deadline: Instant) -> Sleep {
        Sleep { deadline, armed: None, done: false }
    }

    /// When the sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has been reached (by a poll that returned
    /// ready, or on the clock now).
    pub fn is_elapsed(&self) -> bool {
        self.done || clock::reached(self.deadline)
    }

    /// Moves the deadline (like tokio's `Sleep::reset`); the next poll waits
    /// for the new one.
    pub fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
        self.done = false;
    }

    /// Stops waiting without giving up the timer: the waker of the last
    /// poll is forgotten (and a wake-up it was already sent no longer
    /// counts as in flight), so a timer that fires meanwhile wakes nobody;
    /// the next poll registers again and sees that it fired. For owners
    /// that keep a `Sleep` across the lifetime of the futures polling it
    /// (a [`Ticker`](super::Ticker)).
    pub(crate) fn forget_waker(&mut self) {
        if let Some(a) = &self.armed {
            let mut s = lock(&a.shared);
            s.waker = None;
            if s.state == State::Woke {
                s.state = State::Fired;
                clock::virt::task_wake_finished();
            }
        }
    }

    fn disarm(&mut self) {
        if let Some(a) = self.armed.take() {
            clock::cancel_timer(a.id);
            let mut s = lock(&a.shared);
            s.waker = None;
            if s.state == State::Woke {
                clock::virt::task_wake_finished();
            }
            // Whatever the timer does from now on finds nobody to wake.
            s.state = State::Fired;
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        if let Some(a) = &this.armed {
            let mut s = lock(&a.shared);
            match s.state {
                State::Armed => {
                    match &mut s.waker {
                        Some(old) if old.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    crate::leak::pending(SLEEPING);
                    return Poll::Pending;
                }
                State::Woke => clock::virt::task_wake_finished(),
                State::Fired => {}
            }
            s.state = State::Fired;
            s.waker = None;
            drop(s);
            this.done = true;
            return Poll::Ready(());
        }
        if clock::reached(this.deadline) {
            this.done = true;
            return Poll::Ready(());
        }
        let shared = Arc::new(Mutex::new(Shared { state: State::Armed, waker: Some(cx.waker().clone()) }));
        let s = shared.clone();
        let id = clock::add_timer(this.deadline, move || {
            let mut g = lock(&s);
            if g.state != State::Armed {
                return; // disarmed: the future is gone or moved on
            }
            let Some(w) = g.waker.take() else {
                g.state = State::Fired; // nobody waits: nothing in flight
                return;
            };
            // Counted under the lock, before the future can see the state
            // and consume it.
            clock::virt::task_wake_started();
            g.state = State::Woke;
            drop(g);
            w.wake();
        });
        this.armed = Some(Armed { id, shared });
        crate::leak::pending(SLEEPING);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).field("done", &self.done).finish()
    }
}
